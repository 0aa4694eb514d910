//! Sleeping until a waiter's state changes: the futex eventcount protocol.
//!
//! The waiter's record was linked and committed under the lock; its futex word is read
//! while still holding the lock, then the lock is released and the caller sleeps on that
//! value. Wakers change the state under the lock and bump the word before unlocking (see
//! `guard`), so a wake-up between the unlock and the sleep is never lost.

use super::guard::{Guard, Shared};
use super::records::Waiter;
use super::recovery;
use super::waiters;
use crate::interrupt::Since;
#[cfg(not(loom))]
use crate::interrupt::Sleeping;
use crate::shm::layout::{state, W};
use crate::sys::futex::{self, Wake};
use crate::sys::process;
use msgq_core::ext::Deadline;
use msgq_core::Errno;
use std::time::Duration;

/// How long a waiter sleeps before it looks around (for a waker that died between its
/// unlock and its wake call, and for dead peers). Signals end the sleep at once.
const TICK: Duration = Duration::from_millis(500);
/// Minimum time between two sweeps for dead waiters.
const SWEEP_GAP_NS: u64 = 200_000_000;

/// How a wait ended without its state changing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// A signal handler ran: the call fails with `EINTR`.
    Signal,
    /// The deadline passed: the call fails with `ETIMEDOUT`.
    TimedOut,
    /// A plain wake-up: re-check everything.
    Woken,
}

/// How long a blocked call sleeps at most before it looks again: a tick, less when the
/// deadline is nearer (0 once it passed).
pub fn nap(d: Option<Deadline>) -> Duration {
    match d {
        None => TICK,
        Some(d) => TICK.min(Duration::from_nanos(d.left_ns(process::clock_ns(d.clock)))),
    }
}

/// Whether `d` has passed (a call without a deadline never times out).
pub fn passed(d: Option<Deadline>) -> bool {
    d.is_some_and(|d| d.left_ns(process::clock_ns(d.clock)) == 0)
}

/// Waits on waiter `w` after the guard was committed. Returns the guard (re-locked) and
/// what ended the wait: `Ok(state)` when the state changed, else [`Ended`].
///
/// `since` is when the call started: a signal handler that ran in this thread since then
/// (see [`crate::interrupt`]) ends the wait with [`Ended::Signal`], unless the state
/// changed first. A `deadline` that passes ends it with [`Ended::TimedOut`], also only if
/// the state did not change first: a message handed over at the same moment is taken.
pub fn wait<'a>(
    sh: &'a Shared,
    g: Guard<'a>,
    w: Waiter,
    since: Since,
    deadline: Option<Deadline>,
) -> Result<(Guard<'a>, Result<u64, Ended>), Errno> {
    let word = sh.arena.futex(w.at(W::FUTEX));
    let mut seen = g.futex_snapshot(w);
    // From here until the record is released (after this function returns, under the
    // lock), a handler advances the word, so the sleep below cannot swallow it.
    // SAFETY: the record stays this thread's, and mapped, until the caller releases it,
    // which it does after `_sleeping` is dropped (when this function returns).
    #[cfg(not(loom))]
    let _sleeping = unsafe { Sleeping::on(word.as_ptr()) };
    drop(g);
    // The deliberately broken variant the loom models must catch: the value read after
    // unlocking, so a wake-up in between is lost.
    #[cfg(loom)]
    if crate::model::bug(crate::model::Bug::SnapshotAfterUnlock) {
        seen = word.load();
    }
    loop {
        #[cfg(feature = "fault-injection")]
        crate::fault::phase(crate::fault::Phase::BeforeSleep);
        // The sleep lasts a tick at most, less when the deadline is nearer (a wall clock
        // set forward is noticed at the end of that sleep).
        let nap = nap(deadline);
        #[cfg(not(loom))]
        let r = if since.fired() {
            Wake::Interrupted
        } else if word.spin_while(seen) {
            Wake::Woken
        } else if nap.is_zero() {
            Wake::TimedOut
        } else {
            word.wait(seen, nap)
        };
        #[cfg(loom)]
        let r = if nap.is_zero() {
            Wake::TimedOut
        } else {
            word.wait(seen, nap)
        };
        #[cfg(feature = "fault-injection")]
        crate::fault::phase(crate::fault::Phase::Relock);
        let mut g = sh.lock()?;
        #[cfg(feature = "fault-injection")]
        crate::fault::phase(crate::fault::Phase::Locked);
        // The deliberately broken variant the timeout model must catch: a timed-out waiter
        // that leaves without looking at its state, losing a message handed to it.
        #[cfg(loom)]
        if crate::model::bug(crate::model::Bug::TimeoutFirst) && passed(deadline) {
            return Ok((g, Err(Ended::TimedOut)));
        }
        let st = g.get(w.at(W::STATE));
        if st != state::WAITING && st != state::WOKEN {
            return Ok((g, Ok(st)));
        }
        if r == Wake::Interrupted || since.fired() {
            return Ok((g, Err(Ended::Signal)));
        }
        if st == state::WOKEN || !futex::same(g.futex_snapshot(w), seen) {
            return Ok((g, Err(Ended::Woken)));
        }
        if passed(deadline) {
            return Ok((g, Err(Ended::TimedOut)));
        }
        // A tick (or a spurious wake-up): look for dead peers, then sleep again.
        let q = waiters::queue_of(&g, w);
        recovery::sweep_dead(&mut g, q, SWEEP_GAP_NS);
        #[cfg(feature = "fault-injection")]
        crate::fault::phase(crate::fault::Phase::Swept);
        seen = g.futex_snapshot(w);
        drop(g);
    }
}
