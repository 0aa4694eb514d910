//! Test-only fault points (feature `fault-injection`): [`arm`]`(n)` makes the process kill
//! itself with SIGKILL at the n-th fault point, which sit between the steps of every logged
//! write (after the log entry, after the length bump). Crash tests fork a child, arm it, run
//! one operation, and check what the next lock holder finds.

use std::sync::atomic::{AtomicU64, Ordering};

static COUNTDOWN: AtomicU64 = AtomicU64::new(0);

/// Kill this process at the `n`-th fault point from now (0 disarms).
pub fn arm(n: u64) {
    COUNTDOWN.store(n, Ordering::SeqCst);
}

pub(crate) fn point() {
    let c = COUNTDOWN.load(Ordering::Relaxed);
    if c == 0 {
        return;
    }
    if c == 1 {
        // SAFETY: raising SIGKILL on ourselves; it does not return.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
    COUNTDOWN.store(c - 1, Ordering::Relaxed);
}
