//! The System V message calls, `syscall()`, and the credential-changing calls.

use crate::backend::{self, Backend};
use crate::real::{self, call_real};
use crate::{engine_call, guard, set_errno};
use libc::{c_int, c_long, c_void, gid_t, key_t, size_t, ssize_t, uid_t};
use msgq_user::raw;

fn fail<T: From<i8>>(e: i32) -> T {
    set_errno(e);
    T::from(-1)
}

fn done<T: From<i8>, R>(r: Result<R, msgq_user::Errno>, ok: impl FnOnce(R) -> T) -> T {
    match r {
        Ok(v) => ok(v),
        Err(e) => fail(e.0),
    }
}

fn do_msgget(key: key_t, msgflg: c_int) -> c_int {
    let _ = crate::procfs::flush_pending(None);
    match backend::get() {
        Backend::User(u) => engine_call(-1, || {
            u.with(|s| done(raw::msgget(s, key, msgflg), |id| id))
                .unwrap_or_else(fail)
        }),
        Backend::Kmod(k) => k.msgget(key, msgflg).unwrap_or_else(fail),
        Backend::Valkey(v) => done(msgq_valkey::raw::msgget(v, key, msgflg), |id| id),
        Backend::Unavailable(e) => fail(*e),
        Backend::Native => call_real!(
            real::MSGGET,
            unsafe extern "C" fn(key_t, c_int) -> c_int,
            fail(libc::ENOSYS),
            (key, msgflg)
        ),
    }
}

fn do_msgsnd(msqid: c_int, msgp: *const c_void, msgsz: size_t, msgflg: c_int) -> c_int {
    match backend::get() {
        Backend::User(u) => engine_call(-1, || {
            u.with(|s| {
                // SAFETY: the C caller's `msgp`/`msgsz` as msgsnd(2) takes them (reached
                // only from the exported `msgsnd` and `syscall`): an unmapped buffer is
                // EFAULT, a mapped one is the caller's to lend for the call.
                let r = unsafe { raw::msgsnd(s, msqid, msgp, msgsz, msgflg) };
                done(r, |()| 0)
            })
            .unwrap_or_else(fail)
        }),
        Backend::Kmod(k) => k
            .msgsnd(msqid, msgp, msgsz, msgflg)
            .map_or_else(fail, |()| 0),
        // SAFETY: as for the user backend: the C caller's `msgp`/`msgsz` as msgsnd(2) takes
        // them; `msgq_valkey::raw` turns an unmapped buffer into EFAULT.
        Backend::Valkey(v) => done(
            unsafe { msgq_valkey::raw::msgsnd(v, msqid, msgp, msgsz, msgflg) },
            |()| 0,
        ),
        Backend::Unavailable(e) => fail(*e),
        Backend::Native => call_real!(
            real::MSGSND,
            unsafe extern "C" fn(c_int, *const c_void, size_t, c_int) -> c_int,
            fail(libc::ENOSYS),
            (msqid, msgp, msgsz, msgflg)
        ),
    }
}

fn do_msgrcv(
    msqid: c_int,
    msgp: *mut c_void,
    msgsz: size_t,
    msgtyp: c_long,
    msgflg: c_int,
) -> ssize_t {
    match backend::get() {
        Backend::User(u) => engine_call(-1, || {
            u.with(|s| {
                // SAFETY: the C caller's `msgp`/`msgsz` as msgrcv(2) takes them (reached
                // only from the exported `msgrcv` and `syscall`): an unmapped buffer is
                // EFAULT, a mapped one is the caller's to be written.
                let r = unsafe { raw::msgrcv(s, msqid, msgp, msgsz, msgtyp, msgflg) };
                done(r, |n| n as ssize_t)
            })
            .unwrap_or_else(fail)
        }),
        Backend::Kmod(k) => k
            .msgrcv(msqid, msgp, msgsz, msgtyp, msgflg)
            .map_or_else(fail, |n| n as ssize_t),
        // SAFETY: as for the user backend: the C caller's `msgp`/`msgsz` as msgrcv(2) takes
        // them; `msgq_valkey::raw` turns an unmapped buffer into EFAULT.
        Backend::Valkey(v) => done(
            unsafe { msgq_valkey::raw::msgrcv(v, msqid, msgp, msgsz, msgtyp, msgflg) },
            |n| n as ssize_t,
        ),
        Backend::Unavailable(e) => fail(*e),
        Backend::Native => call_real!(
            real::MSGRCV,
            unsafe extern "C" fn(c_int, *mut c_void, size_t, c_long, c_int) -> ssize_t,
            fail(libc::ENOSYS),
            (msqid, msgp, msgsz, msgtyp, msgflg)
        ),
    }
}

fn do_msgctl(msqid: c_int, cmd: c_int, buf: *mut c_void) -> c_int {
    let _ = crate::procfs::flush_pending(None);
    match backend::get() {
        Backend::User(u) => engine_call(-1, || {
            u.with(|s| {
                // SAFETY: the C caller's `buf` as msgctl(2) takes it (reached only from
                // the exported `msgctl` and `syscall`): unmapped is EFAULT, mapped is the
                // caller's structure for the command.
                let r = unsafe { raw::msgctl(s, msqid, cmd, buf) };
                done(r, |r| r)
            })
            .unwrap_or_else(fail)
        }),
        Backend::Kmod(k) => k.msgctl(msqid, cmd, buf).unwrap_or_else(fail),
        // SAFETY: as for the user backend: the C caller's `buf` as msgctl(2) takes it.
        Backend::Valkey(v) => done(
            unsafe { msgq_valkey::raw::msgctl(v, msqid, cmd, buf) },
            |r| r,
        ),
        Backend::Unavailable(e) => fail(*e),
        Backend::Native => call_real!(
            real::MSGCTL,
            unsafe extern "C" fn(c_int, c_int, *mut c_void) -> c_int,
            fail(libc::ENOSYS),
            (msqid, cmd, buf)
        ),
    }
}

/// `int msgget(key_t key, int msgflg)`
///
/// # Safety
/// Callable from C with any arguments.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn msgget(key: key_t, msgflg: c_int) -> c_int {
    guard(-1, || do_msgget(key, msgflg))
}

/// `int msgsnd(int msqid, const void *msgp, size_t msgsz, int msgflg)`
///
/// # Safety
/// Callable from C with any arguments (a bad `msgp` gives `EFAULT`).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn msgsnd(
    msqid: c_int,
    msgp: *const c_void,
    msgsz: size_t,
    msgflg: c_int,
) -> c_int {
    guard(-1, || do_msgsnd(msqid, msgp, msgsz, msgflg))
}

/// `ssize_t msgrcv(int msqid, void *msgp, size_t msgsz, long msgtyp, int msgflg)`
///
/// # Safety
/// Callable from C with any arguments (a bad `msgp` gives `EFAULT`).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn msgrcv(
    msqid: c_int,
    msgp: *mut c_void,
    msgsz: size_t,
    msgtyp: c_long,
    msgflg: c_int,
) -> ssize_t {
    guard(-1, || do_msgrcv(msqid, msgp, msgsz, msgtyp, msgflg))
}

/// `int msgctl(int msqid, int cmd, struct msqid_ds *buf)`
///
/// # Safety
/// Callable from C with any arguments (a bad `buf` gives `EFAULT`).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn msgctl(msqid: c_int, cmd: c_int, buf: *mut c_void) -> c_int {
    guard(-1, || do_msgctl(msqid, cmd, buf))
}

/// `long syscall(long number, ...)`: the four message system calls (68-71 on x86_64) go to
/// the backend; every other number goes to the real `syscall`. The variadic arguments are
/// read as six `long`s, exactly as glibc's own `syscall` does (registers rsi..r9 and the
/// first stack slot); `int` arguments use only their low 32 bits, as in the kernel.
///
/// # Safety
/// Callable from C like glibc's `syscall`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn syscall(
    n: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    let forward = || {
        call_real!(
            real::SYSCALL,
            unsafe extern "C" fn(c_long, c_long, c_long, c_long, c_long, c_long, c_long) -> c_long,
            fail(libc::ENOSYS),
            (n, a1, a2, a3, a4, a5, a6)
        )
    };
    match n {
        libc::SYS_msgget | libc::SYS_msgsnd | libc::SYS_msgrcv | libc::SYS_msgctl => {}
        libc::SYS_unshare | libc::SYS_setns | libc::SYS_clone | libc::SYS_clone3 => {
            let r = forward();
            crate::nsfollow::after_syscall(n, a1, a2, r);
            return r;
        }
        _ => return forward(),
    }
    guard(-1, || {
        // The started backend, not `is_native()` (which decides from the environment
        // alone until a backend has started).
        if matches!(backend::get(), Backend::Native) {
            return forward();
        }
        match n {
            libc::SYS_msgget => do_msgget(a1 as i32, a2 as i32) as c_long,
            libc::SYS_msgsnd => {
                do_msgsnd(a1 as i32, a2 as *const c_void, a3 as size_t, a4 as i32) as c_long
            }
            libc::SYS_msgrcv => {
                do_msgrcv(a1 as i32, a2 as *mut c_void, a3 as size_t, a4, a5 as i32) as c_long
            }
            _ => do_msgctl(a1 as i32, a2 as i32, a3 as *mut c_void) as c_long,
        }
    })
}

/// Defines a credential-changing wrapper: the real call, then (whatever its result) the
/// engine forgets its cached credentials, so the next check uses the new effective ids.
macro_rules! setid {
    ($(#[$doc:meta] $name:ident = $real:ident ($($arg:ident : $ty:ty),*);)*) => {$(
        #[$doc]
        ///
        /// # Safety
        /// Callable from C like the libc function.
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> c_int {
            let r = call_real!(
                real::$real,
                unsafe extern "C" fn($($ty),*) -> c_int,
                fail(libc::ENOSYS),
                ($($arg),*)
            );
            let saved = crate::errno();
            msgq_user::refresh_credentials();
            set_errno(saved);
            r
        }
    )*};
}

setid! {
    /// `int setuid(uid_t)`
    setuid = SETUID(uid: uid_t);
    /// `int seteuid(uid_t)`
    seteuid = SETEUID(uid: uid_t);
    /// `int setreuid(uid_t, uid_t)`
    setreuid = SETREUID(r: uid_t, e: uid_t);
    /// `int setresuid(uid_t, uid_t, uid_t)`
    setresuid = SETRESUID(r: uid_t, e: uid_t, s: uid_t);
    /// `int setgid(gid_t)`
    setgid = SETGID(gid: gid_t);
    /// `int setegid(gid_t)`
    setegid = SETEGID(gid: gid_t);
    /// `int setregid(gid_t, gid_t)`
    setregid = SETREGID(r: gid_t, e: gid_t);
    /// `int setresgid(gid_t, gid_t, gid_t)`
    setresgid = SETRESGID(r: gid_t, e: gid_t, s: gid_t);
    /// `int setgroups(size_t, const gid_t *)`
    setgroups = SETGROUPS(n: size_t, list: *const gid_t);
}
