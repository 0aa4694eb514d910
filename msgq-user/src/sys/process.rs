//! Identity of the calling process (pid, tid, start time), cached per process, and
//! liveness of other processes.
//!
//! The pid and start time are read once and re-read after `fork` (a `pthread_atfork`
//! child handler bumps a generation), so the send path does not make a system call to
//! learn its own pid.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(1);
static PID: AtomicU64 = AtomicU64::new(0);
static START: AtomicU64 = AtomicU64::new(0);
static ATFORK: Once = Once::new();

extern "C" fn after_fork_child() {
    PID.store(0, Ordering::Relaxed);
    START.store(0, Ordering::Relaxed);
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

/// The caller's thread id.
pub fn tid() -> u32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u32 }
}

/// The start time (in clock ticks since boot) of process `pid`, from `/proc/PID/stat`;
/// `None` if the process does not exist. Together with the pid it names a process for good.
pub fn start_time_of(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &s[s.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The caller's own start time (cached).
pub fn start_time() -> u64 {
    let s = START.load(Ordering::Relaxed);
    if s != 0 {
        return s;
    }
    let s = start_time_of(pid()).unwrap_or(1);
    START.store(s, Ordering::Relaxed);
    s
}

/// Whether the process `(pid, start)` is still alive (not a zombie).
pub fn alive(pid: u32, start: u64) -> bool {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = s.rfind(')') else {
        return false;
    };
    let mut f = s[close + 1..].split_whitespace();
    let state = f.next().unwrap_or("X");
    if state == "Z" || state == "X" {
        return false;
    }
    f.nth(18).and_then(|v| v.parse::<u64>().ok()) == Some(start)
}

/// Wall-clock seconds (CLOCK_REALTIME, truncated), through the vDSO.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive() {
        let st = start_time();
        assert!(st > 0);
        assert!(alive(pid(), st));
        assert!(!alive(pid(), st + 1));
        assert!(!alive(u32::MAX - 1, st));
    }
}
