//! Signal handlers and blocked calls: the kernel's rule, kept in userspace.
//!
//! In Linux, a `msgsnd` or `msgrcv` that blocks returns `EINTR` when a signal handler runs
//! at any moment of the call before it completes (even with `SA_RESTART`). The engine
//! blocks in a futex wait, but a blocked call is also, at moments, elsewhere: waiting for
//! the store lock, spinning, sweeping at its tick, between its unlock and its
//! `FUTEX_WAIT`. A handler that runs there does not interrupt any system call, so the
//! engine must be told: every handler calls [`handler_ran`] first (the shim wraps every
//! handler a program installs so that it does; a Rust program using [`crate::Store`]
//! directly calls it from its own handlers).
//!
//! [`handler_ran`] counts the handler in a per-thread counter and, if the thread is inside
//! a blocked call, advances the futex word it sleeps on (or is about to sleep on). So:
//! - before the call registers as a waiter, or at any time it runs on a CPU, the counter
//!   has changed and the call sees it at its next look (`Since::fired`): before it
//!   registers, before it sleeps, and after each wake-up;
//! - between its last look and `FUTEX_WAIT`, the word no longer holds the value the call
//!   sleeps on, so `FUTEX_WAIT` returns at once and the call looks again;
//! - inside `FUTEX_WAIT`, the kernel ends the wait with `EINTR`.
//!
//! A call whose message was handed over (or whose queue was removed) before it looked
//! again completes with that result, as in the kernel, where the hand-off wins.
//!
//! Everything here is async-signal-safe: two thread-local cells (const-initialised, no
//! destructor) and one atomic add.

use std::cell::Cell;
use std::sync::atomic::{compiler_fence, AtomicU32, Ordering};

thread_local! {
    /// Signal handlers run by this thread (wraps).
    static HANDLERS_RUN: Cell<u64> = const { Cell::new(0) };
    /// The futex word this thread's blocked call sleeps on, or null.
    static SLEEPS_ON: Cell<*const AtomicU32> = const { Cell::new(std::ptr::null()) };
}

/// Tells msgq that a signal handler is running in the calling thread, so that a `msgsnd`
/// or `msgrcv` this thread is blocked in returns `EINTR`. Call it first thing in every
/// signal handler. Async-signal-safe; costs a few instructions.
pub fn handler_ran() {
    HANDLERS_RUN.with(|c| c.set(c.get().wrapping_add(1)));
    // The count is written before the word is advanced: a call that wakes because of the
    // word finds the new count.
    compiler_fence(Ordering::SeqCst);
    let word = SLEEPS_ON.with(|c| c.get());
    if !word.is_null() {
        // SAFETY: SLEEPS_ON is set by `Sleeping::on` only while the word's record is owned by
        // this thread's blocked call and the store is mapped, and cleared (by this thread,
        // so in program order for a handler running on it) before the record is released.
        // Advancing it by 2 is an eventcount bump (bit 0 is the sleeping bit), which every
        // waiter tolerates as a spurious wake-up.
        unsafe { (*word).fetch_add(2, Ordering::SeqCst) };
    }
}

/// The number of handlers this thread has run, for [`Since`].
fn count() -> u64 {
    HANDLERS_RUN.with(|c| c.get())
}

/// A blocking call's view of the handlers: taken when the call starts. Public for the
/// other backends' blocking calls (`msgq-valkey`'s waits), which follow the same rule.
#[derive(Clone, Copy, Debug)]
pub struct Since(u64);

impl Since {
    /// Now: handlers that ran before this do not concern the call.
    #[inline]
    pub fn now() -> Since {
        Since(count())
    }

    /// Whether a handler ran in this thread since [`Since::now`].
    #[inline]
    pub fn fired(&self) -> bool {
        compiler_fence(Ordering::SeqCst);
        count() != self.0
    }
}

/// While alive, the calling thread's blocked call sleeps on `word`: a handler advances it.
/// Dropping restores what was there before (a handler may itself make a blocking call).
/// (The loom build has no futex sleeps.)
#[cfg_attr(loom, allow(dead_code))]
pub(crate) struct Sleeping {
    prev: *const AtomicU32,
}

#[cfg_attr(loom, allow(dead_code))]
impl Sleeping {
    /// # Safety
    /// `word` must stay valid (mapped, and not reused for anything else) until the returned
    /// value is dropped, which must happen on this thread.
    pub unsafe fn on(word: *const AtomicU32) -> Sleeping {
        let prev = SLEEPS_ON.with(|c| c.replace(word));
        compiler_fence(Ordering::SeqCst);
        Sleeping { prev }
    }
}

impl Drop for Sleeping {
    fn drop(&mut self) {
        compiler_fence(Ordering::SeqCst);
        SLEEPS_ON.with(|c| c.set(self.prev));
        compiler_fence(Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_advances_the_word() {
        let s = Since::now();
        assert!(!s.fired());
        let w = AtomicU32::new(4);
        {
            // SAFETY: `w` outlives the guard, dropped on this thread.
            let _g = unsafe { Sleeping::on(&w) };
            handler_ran();
            assert_eq!(w.load(Ordering::SeqCst), 6);
        }
        handler_ran();
        assert_eq!(
            w.load(Ordering::SeqCst),
            6,
            "no word once the call stopped sleeping"
        );
        assert!(s.fired());
    }
}
