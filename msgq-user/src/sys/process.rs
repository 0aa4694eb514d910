//! Identity of the calling process (pid, tid), cached per process, and clocks.
//!
//! The pid is read once and re-read after `fork` (a `pthread_atfork`
//! child handler bumps a generation), so the send path does not make a system call to
//! learn its own pid.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(1);
static PID: AtomicU64 = AtomicU64::new(0);
static ATFORK: Once = Once::new();

extern "C" fn after_fork_child() {
    PID.store(0, Ordering::Relaxed);
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Registers the fork handler (once per process).
pub fn init() {
    ATFORK.call_once(|| {
        // SAFETY: registering a handler that only touches atomics is async-signal-safe and
        // valid at any time.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_child));
        }
    });
}

/// A number that changes in the child of every fork; caches compare it.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

/// Forgets cached identity and credentials (call after changing credentials by hand).
pub fn invalidate() {
    after_fork_child();
}

/// The caller's process id (TGID).
pub fn pid() -> u32 {
    let p = PID.load(Ordering::Relaxed);
    if p != 0 {
        return p as u32;
    }
    // SAFETY: getpid has no preconditions.
    let p = unsafe { libc::getpid() } as u64;
    PID.store(p, Ordering::Relaxed);
    p as u32
}

thread_local! {
    /// The (pid, tid) this thread calls for ([`acting`]), if any.
    static ACTING: std::cell::Cell<Option<(u32, u32)>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with `(pid, tid)` as the caller's process and thread ids in the queues' records
/// (`msg_lspid`, `msg_lrpid`, a waiter's ids): a supervisor making a call for another
/// process (`msgq run`). Locks and liveness still use this thread's real ids.
pub fn acting<R>(pid: u32, tid: u32, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<(u32, u32)>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0;
            ACTING.with(|a| a.set(prev));
        }
    }
    let _restore = Restore(ACTING.with(|a| a.replace(Some((pid, tid)))));
    f()
}

/// The process id recorded for the caller: [`acting`]'s, else [`pid`].
pub fn caller_pid() -> u32 {
    ACTING.with(|a| a.get()).map_or_else(pid, |(p, _)| p)
}

/// The thread id recorded for the caller: [`acting`]'s, else [`tid`].
pub fn caller_tid() -> u32 {
    ACTING.with(|a| a.get()).map_or_else(tid, |(_, t)| t)
}

/// The caller's thread id.
pub fn tid() -> u32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u32 }
}

/// Wall-clock seconds (`CLOCK_REALTIME_COARSE` through the vDSO: the seconds the kernel
/// itself stores in `msg_stime`/`msg_rtime`/`msg_ctime` come from the same coarse clock).
pub fn now_secs() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    ts.tv_sec as u64
}

/// A coarse monotonic clock in nanoseconds (a few milliseconds of resolution, a few
/// nanoseconds to read): for "at most every N ms" checks on the fast path.
pub fn coarse_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A monotonic clock in nanoseconds, through the vDSO.
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Clock `c` in nanoseconds since its epoch (for deadlines). Under loom, the model's clock
/// (`crate::model::advance_clock`), which only moves when a model says so.
pub fn clock_ns(c: msgq_core::ext::Clock) -> i128 {
    #[cfg(loom)]
    {
        let _ = c;
        crate::model::clock_ns()
    }
    #[cfg(not(loom))]
    {
        let id = match c {
            msgq_core::ext::Clock::Realtime => libc::CLOCK_REALTIME,
            msgq_core::ext::Clock::Monotonic => libc::CLOCK_MONOTONIC,
        };
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid out-pointer.
        unsafe { libc::clock_gettime(id, &mut ts) };
        ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
    }
}
