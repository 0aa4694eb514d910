//! Sleeping until a waiter's state changes: the futex eventcount protocol.
//!
//! The waiter's record was linked and committed under the lock; its futex word is read
//! while still holding the lock, then the lock is released and the caller sleeps on that
//! value. Wakers change the state under the lock and bump the word before unlocking (see
//! `guard`), so a wake-up between the unlock and the sleep is never lost.

use super::guard::{Guard, Shared};
use super::waiters;
use crate::shm::layout::{state, W};
use crate::sys::futex::{self, Wake};
use msgq_core::Errno;
use std::time::Duration;

/// How long a waiter sleeps before it looks around (for a waker that died between its
/// unlock and its wake call, and for dead peers). Signals end the sleep at once.
const TICK: Duration = Duration::from_millis(500);
/// Minimum time between two sweeps for dead waiters.
const SWEEP_GAP_NS: u64 = 200_000_000;

/// Waits on waiter `w` after the guard was committed. Returns the guard (re-locked) and
/// what ended the wait: `Ok(state)` when the state changed, `Err(true)` on a signal,
/// `Err(false)` on a plain wake-up (re-check everything).
pub fn wait<'a>(
    sh: &'a Shared,
    g: Guard<'a>,
    w: u64,
) -> Result<(Guard<'a>, Result<u64, bool>), Errno> {
    let word = sh.arena.futex(w + W::FUTEX);
    let mut seen = g.futex_snapshot(w);
    drop(g);
    // The deliberately broken variant the loom models must catch: the value read after
    // unlocking, so a wake-up in between is lost.
    #[cfg(loom)]
    if crate::model::bug(crate::model::Bug::SnapshotAfterUnlock) {
        seen = word.load();
    }
    loop {
        #[cfg(not(loom))]
        let r = if word.spin_while(seen) {
            Wake::Woken
        } else {
            word.wait(seen, TICK)
        };
        #[cfg(loom)]
        let r = word.wait(seen, TICK);
        let mut g = sh.lock()?;
        let st = g.get(w + W::STATE);
        if st != state::WAITING && st != state::WOKEN {
            return Ok((g, Ok(st)));
        }
        if r == Wake::Interrupted {
            return Ok((g, Err(true)));
        }
        if st == state::WOKEN || !futex::same(g.futex_snapshot(w), seen) {
            return Ok((g, Err(false)));
        }
        // A tick (or a spurious wake-up): look for dead peers, then sleep again.
        let q = g.get(w + W::QUEUE);
        waiters::sweep_dead(&mut g, q, SWEEP_GAP_NS);
        seen = g.futex_snapshot(w);
        drop(g);
    }
}
