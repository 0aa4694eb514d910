//! Hooks for the loom models (`tests/loom.rs`; only built with `--cfg loom`, see
//! `docs/loom.md`).
//!
//! Under loom the engine runs unchanged except for its synchronisation primitives: the
//! store lock ([`crate::sync`]) and the futex words ([`crate::sys::futex`]) become loom
//! models. This module adds what a model needs to drive the engine into its corners:
//! * [`Signal`]: interrupting a thread's futex wait, as a signal handler does;
//! * [`die_at`]: a thread that dies at a chosen step of its update (after some logged
//!   writes), leaving the store lock in the owner-died state and the undo log unfinished;
//! * [`inject`]: deliberately broken variants of the protocol, to show the models fail.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};

pub use crate::sys::futex::Signal;

/// How many futex waits went to sleep in the models run on this OS thread since the last
/// call: a model checks it is non-zero to show its blocking paths were explored.
pub fn sleeps() -> u64 {
    crate::sys::futex::take_sleeps()
}

/// A deliberate bug, switched on for the current model execution by [`inject`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// A waiter reads its futex word after releasing the store lock instead of before:
    /// a wake-up that lands in between is lost.
    SnapshotAfterUnlock = 1,
    /// The next lock holder after a dead owner does not roll the undo log back.
    SkipRollback = 2,
    /// A waker skips `FUTEX_WAKE` even when the waiter announced it sleeps (the sleeping
    /// bit is ignored): the sleeping receiver is never woken.
    IgnoreSleepingBit = 4,
    /// A timed waiter whose deadline passed leaves without looking at its state first: a
    /// message handed to it at the same moment is lost.
    TimeoutFirst = 8,
    /// An abort ends the wait of a receiver a message was already handed to: the message
    /// is lost.
    AbortDelivered = 16,
    /// A broadcast hands its copies only to the receivers of the general list, missing the
    /// ones waiting for exactly the message's type.
    BroadcastGeneralOnly = 32,
}

loom::lazy_static! {
    /// The bugs switched on in this execution (a plain atomic: not a modelled access).
    static ref BUGS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
}

/// Switches `b` on until the end of the current model execution (call it inside
/// `loom::model`, before starting the threads).
pub fn inject(b: Bug) {
    BUGS.fetch_or(b as u32, std::sync::atomic::Ordering::Relaxed);
}

/// Whether `b` is switched on.
pub(crate) fn bug(b: Bug) -> bool {
    BUGS.load(std::sync::atomic::Ordering::Relaxed) & b as u32 != 0
}

/// The panic payload of a simulated death.
struct Died;

loom::thread_local! {
    /// Fault points left before this model thread dies (0: never).
    static COUNTDOWN: Cell<u64> = Cell::new(0);
}

/// A fault point: sits between the steps of every logged write (`shm::tx`), where the
/// `fault-injection` feature's crash tests kill a real process, and between the steps of
/// the lock guard's release (`engine::guard`).
pub(crate) fn fault_point() {
    let die = COUNTDOWN.with(|c| match c.get() {
        0 => false,
        1 => {
            c.set(0);
            true
        }
        n => {
            c.set(n - 1);
            false
        }
    });
    if die {
        panic::panic_any(Died);
    }
}

/// Runs `f` (one store operation) in the calling model thread, which dies at the
/// `point`-th fault point (1 = before the first logged write takes effect): the operation
/// stops there; nothing of it is rolled back, unlocked or woken by the dying thread, and a
/// store lock it holds is left in the owner-died state. Returns `None` if the thread died, else what `f` returned (it had fewer
/// fault points). The thread must do nothing more with the store afterwards.
pub fn die_at<R>(point: u64, f: impl FnOnce() -> R) -> Option<R> {
    quiet_deaths();
    COUNTDOWN.with(|c| c.set(point));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    COUNTDOWN.with(|c| c.set(0));
    match r {
        Ok(v) => Some(v),
        Err(p) if p.is::<Died>() => {
            crate::sync::robust_exit();
            None
        }
        Err(p) => panic::resume_unwind(p),
    }
}

/// Keeps the panic hook from printing a message for every simulated death.
fn quiet_deaths() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<Died>() {
                prev(info)
            }
        }));
    });
}

loom::lazy_static! {
    /// The model's clock, in nanoseconds: deadlines are read on it.
    static ref CLOCK: loom::sync::atomic::AtomicU64 = loom::sync::atomic::AtomicU64::new(0);
}

/// Moves the model's clock forward by `ns` (a modelled write: loom explores the orders of
/// it and the engine's reads).
pub fn advance_clock(ns: u64) {
    CLOCK.fetch_add(ns, loom::sync::atomic::Ordering::SeqCst);
}

/// The model's clock.
pub(crate) fn clock_ns() -> i128 {
    CLOCK.load(loom::sync::atomic::Ordering::SeqCst) as i128
}
