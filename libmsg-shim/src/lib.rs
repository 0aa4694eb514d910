//! LD_PRELOAD shim (in progress).
