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
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod backend;
mod capi;
mod diag;
mod dl;
mod exports;
mod io;
pub mod kmod;
mod nsfollow;
pub mod procfs;
mod real;
mod signals;
mod watch;

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{compiler_fence, Ordering::SeqCst};

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

/// Whether this thread is inside an engine call (for the signal trampoline).
pub(crate) fn in_engine() -> bool {
    IN_ENGINE.with(|d| d.get()) > 0
}

/// Sets this thread's engine-call depth, ordered (for the compiler) with the signal
/// handlers that read it on this thread.
fn set_depth(v: u32) {
    compiler_fence(SeqCst);
    IN_ENGINE.with(|d| d.set(v));
    compiler_fence(SeqCst);
}

/// Runs `f`, a call into the userspace engine, as the kernel runs a system call: a handler
/// of a signal that arrives during it (through the shim's trampoline) is recorded, not run,
/// and runs when the call has finished, just before the result goes back to the program
/// (`errno` is set again afterwards, so a handler that changes it changes nothing); see
/// `signals::defer` and `signals::run_deferred`. A handler that makes its own engine call
/// thus finds the engine free.
///
/// A call made while the same thread is already inside one still fails at once with
/// `EDEADLK`: that takes a handler installed behind the shim's back (the raw `rt_sigaction`
/// system call), or one that ran at once because the thread's deferral queue was full. The
/// engine is not re-entrant (its store lock may be held by the interrupted call, and its
/// credential cache stays borrowed while a call blocks), so going on would hang or fail
/// midway. See docs/shim.md, "Engine notes".
pub(crate) fn engine_call<R>(fail: R, f: impl FnOnce() -> R) -> R {
    let depth = IN_ENGINE.with(|d| d.get());
    if depth > 0 {
        set_errno(libc::EDEADLK);
        return fail;
    }
    set_depth(1);
    // A panic (which `guard` turns into EIO) still leaves the engine and runs what was
    // deferred, then goes on unwinding.
    let r = catch_unwind(AssertUnwindSafe(f));
    let e = errno();
    leave_engine();
    set_errno(e);
    match r {
        Ok(v) => v,
        Err(p) => resume_unwind(p),
    }
}

/// Ends the outermost engine call: depth 0, then the deferred handlers, in order.
fn leave_engine() {
    if signals::deferred_is_empty() {
        set_depth(0);
        // A signal deferred between the test and the store is found here.
        if signals::deferred_is_empty() {
            return;
        }
        signals::run_deferred(|| {});
    } else {
        // With every signal blocked first, so none overtakes those already recorded.
        signals::run_deferred(|| set_depth(0));
    }
}

/// Whether `MSGQ_DEBUG` was set (non-empty) when the library was loaded.
static DEBUG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The shim's panic hook: silent. Every panic is caught at the C boundary (`guard`: the
/// call fails with `EIO`; an engine call on a store it finds corrupt also writes its own
/// one-line `msgq: STORE: corrupt store (...)`), so the default hook's "thread panicked
/// at" text and backtrace would only litter the host program's stderr. With `MSGQ_DEBUG`
/// set, one line says what and where. The hook is this library's: a cdylib has its own
/// copy of std, so a Rust host program keeps its own hook for its own panics.
fn quiet_panics() {
    let debug = std::env::var_os("MSGQ_DEBUG").is_some_and(|v| !v.is_empty());
    DEBUG.store(debug, SeqCst);
    std::panic::set_hook(Box::new(|info| {
        if !DEBUG.load(SeqCst) {
            return;
        }
        let p = info.payload();
        let what = if let Some(c) = p.downcast_ref::<msgq_user::shm::arena::Corrupt>() {
            format!("corrupt store (bad offset {:#x})", c.0)
        } else if let Some(s) = p.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = p.downcast_ref::<String>() {
            s.clone()
        } else {
            "unknown".to_owned()
        };
        let at = info
            .location()
            .map_or(String::new(), |l| format!(" at {}:{}", l.file(), l.line()));
        diag::line(&format!(
            "MSGQ_DEBUG: panic in the shim{at}: {what} (the call fails with EIO)"
        ));
    }));
}

extern "C" fn constructor() {
    let _ = catch_unwind(|| {
        quiet_panics();
        real::resolve_all();
        dl::init();
        signals::resolve_self();
        nsfollow::init();
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
