//! msgq's differential conformance suite.
