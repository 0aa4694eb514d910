//! msgq's C API (`msgq.h`, `man 3 msgq`): the extensions real-time kernels' queues offer,
//! on whichever backend `MSGQ_BACKEND` picks. The rules are `msgq_core::ext`'s; every
//! function returns what its POSIX or SysV cousin would (-1 and `errno` on failure).
//!
//! Under `MSGQ_BACKEND=native` the kernel's own queues can do none of the extensions: a
//! call that asks for one fails with `EOPNOTSUPP` (a plain timed call, with no deadline
//! and no extension flag, is the plain system call). An extension is never silently
//! ignored.

use crate::backend::{self, Backend};
use crate::real::{self, call_real};
use crate::{engine_call, guard, set_errno};
use libc::{c_int, c_long, c_void, clockid_t, size_t, ssize_t, timespec};
use msgq_core::ext::{EOPNOTSUPP, EXT_BITS};
use msgq_user::raw;

fn fail<T: From<i8>>(e: i32) -> T {
    set_errno(e);
    T::from(-1)
}

/// The result of an engine or module call as C sees it.
fn ret<E: Into<i32>>(r: Result<u64, E>) -> ssize_t {
    match r {
        Ok(n) => n.min(ssize_t::MAX as u64) as ssize_t,
        Err(e) => fail(e.into()),
    }
}

struct E(msgq_user::Errno);

impl From<E> for i32 {
    fn from(e: E) -> i32 {
        e.0 .0
    }
}

/// Runs `f` on this thread's userspace store, as an engine call.
fn on_user(
    u: &backend::UserStore,
    f: impl FnOnce(&msgq_user::Store) -> Result<u64, msgq_user::Errno>,
) -> ssize_t {
    engine_call(-1, || u.with(|s| ret(f(s).map_err(E))).unwrap_or_else(fail))
}

/// `ssize_t msgq_timedsnd(int msqid, const void *msgp, size_t msgsz, int msgflg,
/// clockid_t clockid, const struct timespec *abstime)`
///
/// # Safety
/// Callable from C with any arguments (bad pointers give `EFAULT`).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn msgq_timedsnd(
    msqid: c_int,
    msgp: *const c_void,
    msgsz: size_t,
    msgflg: c_int,
    clockid: clockid_t,
    abstime: *const timespec,
) -> ssize_t {
    guard(-1, || match backend::get() {
        Backend::User(u) => on_user(u, |s| {
            // SAFETY: the C caller's `msgp`/`msgsz` and `abstime`, as msgsnd(2) and
            // mq_timedsend(3) take them: bad addresses are EFAULT, good ones are the
            // caller's to lend for the call (this function's C contract).
            unsafe { raw::timedsnd(s, msqid, msgp, msgsz, msgflg, clockid, abstime) }
        }),
        Backend::Kmod(k) => {
            let t = match kmod_timeout(clockid, abstime) {
                Ok(t) => t,
                Err(e) => return fail(e),
            };
            ret(k.timedsnd(msqid, msgp, msgsz, msgflg, t).map(|n| n as u64))
        }
        // SAFETY: as for the user backend: the C caller's pointers, bad ones are EFAULT.
        Backend::Valkey(v) => ret(unsafe {
            msgq_valkey::raw::timedsnd(v, msqid, msgp, msgsz, msgflg, clockid, abstime)
        }
        .map_err(E)),
        Backend::Unavailable(e) => fail(*e),
        Backend::Native => {
            if msgflg & EXT_BITS != 0 || !abstime.is_null() {
                return fail(EOPNOTSUPP.0);
            }
            call_real!(
                real::MSGSND,
                unsafe extern "C" fn(c_int, *const c_void, size_t, c_int) -> c_int,
                fail(libc::ENOSYS),
                (msqid, msgp, msgsz, msgflg)
            ) as ssize_t
        }
    })
}

/// `ssize_t msgq_timedrcv(int msqid, void *msgp, size_t msgsz, long msgtyp, int msgflg,
/// clockid_t clockid, const struct timespec *abstime)`
///
/// # Safety
/// Callable from C with any arguments (bad pointers give `EFAULT`).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn msgq_timedrcv(
    msqid: c_int,
    msgp: *mut c_void,
    msgsz: size_t,
    msgtyp: c_long,
    msgflg: c_int,
    clockid: clockid_t,
    abstime: *const timespec,
) -> ssize_t {
    guard(-1, || match backend::get() {
        Backend::User(u) => on_user(u, |s| {
            // SAFETY: the C caller's `msgp`/`msgsz` and `abstime`, as msgrcv(2) and
            // mq_timedreceive(3) take them: bad addresses are EFAULT, good ones are the
            // caller's to lend for the call (this function's C contract).
            unsafe { raw::timedrcv(s, msqid, msgp, msgsz, msgtyp, msgflg, clockid, abstime) }
                .map(|n| n as u64)
        }),
        Backend::Kmod(k) => {
            let t = match kmod_timeout(clockid, abstime) {
                Ok(t) => t,
                Err(e) => return fail(e),
            };
            ret(k
                .timedrcv(msqid, msgp, msgsz, msgtyp, msgflg, t)
                .map(|n| n as u64))
        }
        // SAFETY: as for the user backend: the C caller's pointers, bad ones are EFAULT.
        Backend::Valkey(v) => ret(unsafe {
            msgq_valkey::raw::timedrcv(v, msqid, msgp, msgsz, msgtyp, msgflg, clockid, abstime)
        }
        .map(|n| n as u64)
        .map_err(E)),
        Backend::Unavailable(e) => fail(*e),
        Backend::Native => {
            if msgflg & EXT_BITS != 0 || !abstime.is_null() {
                return fail(EOPNOTSUPP.0);
            }
            call_real!(
                real::MSGRCV,
                unsafe extern "C" fn(c_int, *mut c_void, size_t, c_long, c_int) -> ssize_t,
                fail(libc::ENOSYS),
                (msqid, msgp, msgsz, msgtyp, msgflg)
            )
        }
    })
}

/// `ssize_t msgq_purge(int msqid)`: the number of messages discarded.
///
/// # Safety
/// Callable from C with any argument.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn msgq_purge(msqid: c_int) -> ssize_t {
    guard(-1, || match backend::get() {
        Backend::User(u) => on_user(u, |s| s.purge(msqid)),
        Backend::Kmod(k) => ret(k.purge(msqid).map(|n| n as u64)),
        Backend::Valkey(v) => ret(v.purge(msqid).map_err(E)),
        Backend::Unavailable(e) => fail(*e),
        Backend::Native => fail(EOPNOTSUPP.0),
    })
}

/// `ssize_t msgq_abort(int msqid, int which)`: the number of blocked callers woken with
/// `ECANCELED`.
///
/// # Safety
/// Callable from C with any arguments.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn msgq_abort(msqid: c_int, which: c_int) -> ssize_t {
    guard(-1, || match backend::get() {
        Backend::User(u) => on_user(u, |s| s.abort(msqid, which)),
        Backend::Kmod(k) => ret(k.abort(msqid, which).map(|n| n as u64)),
        Backend::Valkey(v) => ret(v.abort(msqid, which).map_err(E)),
        Backend::Unavailable(e) => fail(*e),
        Backend::Native => fail(EOPNOTSUPP.0),
    })
}

/// The deadline as the module's ioctl takes it (read here, so a bad pointer is `EFAULT`
/// in this process; the module checks the clock and the time).
fn kmod_timeout(
    clockid: clockid_t,
    abstime: *const timespec,
) -> Result<Option<(i32, i64, i64)>, i32> {
    // SAFETY: `abstime` is the C caller's `const struct timespec *` (or null): an unmapped
    // one is EFAULT, a mapped one is the caller's to hand us (C's contract).
    let t = unsafe { msgq_user::raw::read_timespec(abstime) }.map_err(|e| e.0)?;
    Ok(t.map(|(sec, nsec)| (clockid, sec, nsec)))
}
