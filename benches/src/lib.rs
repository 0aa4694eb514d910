//! Benchmark helpers (in progress).
