//! libmsg-shim: an `LD_PRELOAD` library that runs unmodified programs on msgq.
//!
//! It exports glibc's `msgget`, `msgsnd`, `msgrcv` and `msgctl` (and catches `syscall()` for
//! the same four system calls), and sends them to the backend this process chose (see
//! [`backend`]). While the userspace backend is active, the files tools read to list queues
//! and limits (`/proc/sysvipc/msg`, `/proc/sys/kernel/msg*`) show msgq's view, and writing a
//! limit file sets the store's limit (see [`procfs`]). `set*id` wrappers make permission
//! checks use the new credentials at once. `sigaction`, `signal` and their relatives wrap
//! every handler a program installs so that it tells the engine it ran (module `signals`),
//! which a blocked call needs to return `EINTR` as Linux's does. See `docs/shim.md`.
//!
//! Rules every exported function follows: no panic crosses the C boundary (each body runs
//! under `catch_unwind`; a panic becomes `EIO`), nothing is ever written to stdout, and the
//! paths that any program takes all the time (`open`, `close`, `write`, `dup2`, `syscall`)
//! cost one string test or one atomic load before the real function.

// In unit tests the C exports are ordinary (unexported) functions, unused by the tests.
#![cfg_attr(test, allow(dead_code))]

pub mod backend;
mod diag;
mod exports;
mod io;
pub mod kmod;
pub mod procfs;
mod real;
mod signals;

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Sets the calling thread's `errno`.
pub(crate) fn set_errno(e: i32) {
    // SAFETY: __errno_location returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() = e };
}

/// The calling thread's `errno`.
pub(crate) fn errno() -> i32 {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() }
}

/// Runs an exported function's body; a panic becomes `errno = EIO` and `fail`.
pub(crate) fn guard<R>(fail: R, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            set_errno(libc::EIO);
            fail
        }
    }
}

thread_local! {
    /// How many engine calls this thread is inside (const-initialised, no destructor: safe
    /// to touch from a signal handler).
    static IN_ENGINE: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Runs `f`, a call into the userspace engine. A call made while the same thread is already
/// inside one (from a signal handler that interrupted it) fails at once with `EDEADLK`
/// instead: the engine is not re-entrant (its store lock may be held by the interrupted
/// call, and its credential cache stays borrowed while a call blocks), so going on would
/// hang or fail midway. See docs/shim.md, "Engine notes".
pub(crate) fn engine_call<R>(fail: R, f: impl FnOnce() -> R) -> R {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            IN_ENGINE.with(|d| d.set(d.get().saturating_sub(1)));
        }
    }
    let depth = IN_ENGINE.with(|d| {
        let v = d.get();
        d.set(v + 1);
        v
    });
    let _leave = Leave;
    if depth > 0 {
        set_errno(libc::EDEADLK);
        return fail;
    }
    f()
}

extern "C" fn constructor() {
    let _ = catch_unwind(|| {
        real::resolve_all();
        signals::resolve_self();
    });
}

extern "C" fn destructor() {
    let _ = catch_unwind(|| {
        let _ = procfs::flush_pending(None);
    });
}

#[cfg(not(test))]
#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = constructor;

#[cfg(not(test))]
#[used]
#[link_section = ".fini_array"]
static FINI: extern "C" fn() = destructor;
