//! Bounded spinning before sleeping.
//!
//! A peer that is running on another CPU usually answers (releases the store lock, hands a
//! message over) within a microsecond or two. Sleeping instead costs a system call on each
//! side and, on an idle virtual machine, tens of microseconds of wake-up latency (measured:
//! a native SysV ping-pong round trip takes about 47 µs on the project's idle 2-vCPU
//! machine). So a thread about to sleep first spins for at most [`spin_ns`] nanoseconds.
//! `MSGQ_SPIN_NS` sets the bound (default 10 000; 0 never spins; at most 1 ms).

use std::sync::atomic::{AtomicU64, Ordering};

const DEFAULT_NS: u64 = 10_000;

/// The spin bound in nanoseconds (read from the environment once per process).
pub fn spin_ns() -> u64 {
    static NS: AtomicU64 = AtomicU64::new(u64::MAX);
    let v = NS.load(Ordering::Relaxed);
    if v != u64::MAX {
        return v;
    }
    // getenv, not std::env: no lock (a child forked by a multithreaded parent may get here).
    // SAFETY: a NUL-terminated name; the result is read at once.
    let p = unsafe { libc::getenv(c"MSGQ_SPIN_NS".as_ptr()) };
    let v = if p.is_null() {
        None
    } else {
        // SAFETY: a non-null getenv result is a NUL-terminated string.
        let s = unsafe { std::ffi::CStr::from_ptr(p) };
        s.to_str().ok().and_then(|s| s.parse::<u64>().ok())
    };
    let v = v.unwrap_or(DEFAULT_NS).min(1_000_000);
    NS.store(v, Ordering::Relaxed);
    v
}

/// Spins until `done()` holds (true) or [`spin_ns`] has passed (false).
#[inline]
pub fn until(mut done: impl FnMut() -> bool) -> bool {
    // The first look costs no clock read: the uncontended case stays cheap.
    if done() {
        return true;
    }
    let max = spin_ns();
    if max == 0 {
        return false;
    }
    let start = super::process::mono_ns();
    loop {
        for _ in 0..32 {
            if done() {
                return true;
            }
            std::hint::spin_loop();
        }
        if super::process::mono_ns().wrapping_sub(start) >= max {
            return false;
        }
    }
}
