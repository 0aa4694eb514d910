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

/// Named moments of a blocked call, where a test can act (raise a signal, say) through
/// [`on_phase`]: the moments when no system call is in progress that a signal would end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The call has started (it may yet find what it needs and not block).
    Start,
    /// Unlocked, about to spin and then sleep on the futex word.
    BeforeSleep,
    /// Woken (or timed out at the tick), about to take the store lock again.
    Relock,
    /// Holding the store lock again, before looking at the waiter's state.
    Locked,
    /// At the tick, after the sweep for dead peers, still holding the lock.
    Swept,
}

static HOOK: AtomicU64 = AtomicU64::new(0);

/// Calls `f` with each phase a blocked call passes through (None removes the hook).
pub fn on_phase(f: Option<fn(Phase)>) {
    HOOK.store(f.map_or(0, |f| f as usize as u64), Ordering::SeqCst);
}

pub(crate) fn phase(p: Phase) {
    let h = HOOK.load(Ordering::SeqCst);
    if h != 0 {
        // SAFETY: HOOK only ever holds 0 or a `fn(Phase)` stored by `on_phase`.
        let f: fn(Phase) = unsafe { std::mem::transmute::<usize, fn(Phase)>(h as usize) };
        f(p);
    }
}
