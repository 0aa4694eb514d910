//! Waiting on queues beside other things: `msgq_select` (any of several queues),
//! `msgq_watch_fd` (an fd `poll`/`epoll` report readable while a queue holds a matching
//! message) and `msgq_notify` (a signal or a thread when a message arrives on an empty
//! queue, as `mq_notify`). See docs/extensions.md.
//!
//! * userspace backend: select is the engine's (`Store::select`); a watch fd is an
//!   `eventfd` kept readable exactly while a matching message is there by a thread of this
//!   process that follows the queue (`Store::wait_change`);
//! * kmod backend: a watch fd is an open `/dev/msgq` made pollable with `MSGQ_WATCH`;
//!   select polls one such fd per entry;
//! * notify, on both, is a thread of this process that follows the queue.

use crate::backend::{self, Backend};
use crate::{engine_call, guard, set_errno};
use libc::{c_int, c_long, clockid_t, sigevent, size_t, timespec};
use msgq_core::ext::{self, EOPNOTSUPP};
use msgq_user::engine::select::{Want, MAX};
use msgq_user::sys::usermem;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

fn fail(e: i32) -> c_int {
    set_errno(e);
    -1
}

/// `struct msgq_sel` of msgq.h.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Sel {
    msqid: c_int,
    msgflg: c_int,
    msgtyp: c_long,
    ready: c_int,
    reserved: c_int,
}

const SEL_SIZE: usize = std::mem::size_of::<Sel>();
const _: () = assert!(SEL_SIZE == 24);

fn read_sels(p: *mut Sel, n: usize) -> Result<Vec<Sel>, i32> {
    let mut bytes = vec![0u8; n * SEL_SIZE];
    // SAFETY: the `n` entries the C caller of msgq_select gave us; unmapped ones are
    // EFAULT, mapped ones are the caller's to lend for the call (its C contract).
    unsafe { usermem::read(p.cast(), &mut bytes) }.map_err(|e| e.0)?;
    Ok(bytes
        .chunks_exact(SEL_SIZE)
        .map(|c| {
            let i32_at = |o: usize| i32::from_ne_bytes(c[o..o + 4].try_into().unwrap_or([0; 4]));
            Sel {
                msqid: i32_at(0),
                msgflg: i32_at(4),
                msgtyp: i64::from_ne_bytes(c[8..16].try_into().unwrap_or([0; 8])),
                ready: 0,
                reserved: 0,
            }
        })
        .collect())
}

fn write_ready(p: *mut Sel, ready: &[i32]) -> Result<(), i32> {
    for (i, r) in ready.iter().enumerate() {
        let at = p.cast::<u8>().wrapping_add(i * SEL_SIZE + 16);
        // SAFETY: the `ready` field of entry `i < n` of the C caller's array, which
        // msgq_select's contract lets it write (unmapped: EFAULT).
        unsafe { usermem::write(at, &r.to_ne_bytes()) }.map_err(|e| e.0)?;
    }
    Ok(())
}

/// `int msgq_select(struct msgq_sel *sel, size_t n, clockid_t clockid,
/// const struct timespec *abstime)`: waits until a receive from some entry would find a
/// message; sets each entry's `ready` (1, 0, or `-errno` for a queue that cannot be
/// watched) and returns how many are not 0. -1 with `ETIMEDOUT` at the deadline, `EINTR`,
/// `EINVAL` (n is 0 or above 128), `EFAULT`.
///
/// # Safety
/// Callable from C with any arguments (bad pointers give `EFAULT`).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn msgq_select(
    sel: *mut Sel,
    n: size_t,
    clockid: clockid_t,
    abstime: *const timespec,
) -> c_int {
    guard(-1, || {
        // SAFETY: the C caller's `abstime` (null: none; unmapped: EFAULT), as
        // mq_timedreceive(3) takes it.
        let deadline = match unsafe { msgq_user::raw::read_deadline(clockid, abstime) } {
            Ok(d) => d,
            Err(e) => return fail(e.0),
        };
        if n == 0 || n > MAX {
            return fail(libc::EINVAL);
        }
        let sels = match read_sels(sel, n) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let ready = match backend::get() {
            Backend::User(u) => {
                let wants: Vec<Want> = sels
                    .iter()
                    .map(|s| Want {
                        id: s.msqid,
                        msgtyp: s.msgtyp,
                        msgflg: s.msgflg,
                    })
                    .collect();
                let r = engine_call(Err(libc::EIO), || {
                    u.with(|s| s.select(&wants, deadline).map_err(|e| e.0))
                        .unwrap_or_else(Err)
                });
                match r {
                    Ok(r) => r,
                    Err(e) => return fail(e),
                }
            }
            Backend::Kmod(_) => {
                let wants: Vec<_> = sels.iter().map(|s| (s.msqid, s.msgtyp, s.msgflg)).collect();
                match crate::kmod::select(&wants, deadline) {
                    Ok(r) => r,
                    Err(e) => return fail(e),
                }
            }
            Backend::Valkey(v) => {
                let wants: Vec<_> = sels.iter().map(|s| (s.msqid, s.msgtyp, s.msgflg)).collect();
                match v.select(&wants, msgq_valkey::raw::instant(deadline)) {
                    Ok(r) => r,
                    Err(e) => return fail(e.0),
                }
            }
            Backend::Unavailable(e) => return fail(*e),
            Backend::Native => return fail(EOPNOTSUPP.0),
        };
        if let Err(e) = write_ready(sel, &ready) {
            return fail(e);
        }
        ready.iter().filter(|&&r| r != 0).count() as c_int
    })
}

/// Closes its fds when dropped.
struct Fds(Vec<i32>);

impl Drop for Fds {
    fn drop(&mut self) {
        for &fd in &self.0 {
            // SAFETY: fds this module opened and still owns.
            unsafe { libc::close(fd) };
        }
    }
}

/// A new `/dev/msgq` fd made pollable for (msqid, msgtyp, msgflg)
/// ([`crate::kmod::watch_for_messages`]).
fn kmod_watch(msqid: i32, msgtyp: i64, msgflg: i32) -> Result<i32, i32> {
    crate::kmod::watch_for_messages(msqid, msgtyp, msgflg).map(crate::kmod::Kmod::into_fd)
}

/// `int msgq_watch_fd(int msqid, long msgtyp, int msgflg)`: a new file descriptor (close
/// it with `close`) that `poll`, `select` and `epoll` report readable (`POLLIN`) while a
/// `msgrcv(msqid, _, _, msgtyp, msgflg | IPC_NOWAIT)` would find a message, and once the
/// queue is gone. Nothing needs to be read from it.
///
/// # Safety
/// Callable from C with any arguments.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn msgq_watch_fd(msqid: c_int, msgtyp: c_long, msgflg: c_int) -> c_int {
    guard(-1, || match backend::get() {
        Backend::User(_) => user_watch(msqid, msgtyp, msgflg).unwrap_or_else(fail),
        Backend::Kmod(_) => kmod_watch(msqid, msgtyp, msgflg).unwrap_or_else(fail),
        Backend::Unavailable(e) => fail(*e),
        Backend::Native | Backend::Valkey(_) => fail(EOPNOTSUPP.0),
    })
}

/// The readiness of one queue now (1, 0, `-errno`), on the userspace backend.
fn user_readiness(want: Want, was: i32, wait: Option<Duration>) -> Result<i32, i32> {
    let Backend::User(u) = backend::get() else {
        return Err(libc::ENOSYS);
    };
    let deadline = Some(msgq_user::deadline_in(wait.unwrap_or(Duration::ZERO)));
    engine_call(Err(libc::EIO), || {
        u.with(|s| s.wait_change(want, was, deadline).map_err(|e| e.0))
            .unwrap_or_else(Err)
    })
}

/// The userspace backend's watch fd (`msgq_user::watch`), following the queue through
/// this process's backend (so through namespace changes of the thread that made it).
fn user_watch(msqid: i32, msgtyp: i64, msgflg: i32) -> Result<i32, i32> {
    let want = Want {
        id: msqid,
        msgtyp,
        msgflg,
    };
    let fd = msgq_user::watch::spawn(move |was, wait| {
        user_readiness(want, was, Some(wait)).map_err(msgq_user::Errno)
    })
    .map_err(|e| e.0)?;
    Ok(std::os::fd::IntoRawFd::into_raw_fd(fd))
}

use msgq_user::watch::block_signals;

/// The queues this process asked to be notified about (one registration per queue), keyed
/// by (pid, queue): a forked child, which has none of its parent's threads, does not
/// inherit its registrations.
static NOTIFY: Mutex<Option<HashMap<(u32, i32), u64>>> = Mutex::new(None);

fn key(msqid: i32) -> (u32, i32) {
    (msgq_user::sys::process::pid(), msqid)
}
/// Registration numbers (a thread whose registration was replaced or cancelled stops).
static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn registered(msqid: i32, token: u64) -> bool {
    NOTIFY
        .lock()
        .map(|m| m.as_ref().and_then(|m| m.get(&key(msqid))) == Some(&token))
        .unwrap_or(false)
}

/// A notification to deliver: what `sigevent` said, copied.
#[derive(Clone, Copy)]
struct Notice {
    how: c_int,
    signo: c_int,
    value: libc::sigval,
    function: usize,
}

// SAFETY: the sigval is an opaque word handed back to the program as it gave it.
unsafe impl Send for Notice {}

/// `int msgq_notify(int msqid, const struct sigevent *sev)`: as `mq_notify`: once a
/// message arrives on queue `msqid` while it is empty, deliver `sev` (`SIGEV_SIGNAL`: the
/// signal, with `sigev_value`, to this process; `SIGEV_THREAD`: call
/// `sigev_notify_function(sigev_value)` in a new thread; `SIGEV_NONE`: nothing), once;
/// then the registration is gone. `sev` NULL cancels this process's registration.
/// `EBUSY` when this process is already registered for the queue.
///
/// # Safety
/// Callable from C with any arguments (a bad `sev` gives `EFAULT`).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn msgq_notify(msqid: c_int, sev: *const sigevent) -> c_int {
    guard(-1, || {
        if matches!(backend::get(), Backend::Native) {
            return fail(EOPNOTSUPP.0);
        }
        if sev.is_null() {
            // As mq_notify: 0 whether or not this process was registered.
            let mut m = NOTIFY.lock().unwrap_or_else(|p| p.into_inner());
            m.get_or_insert_with(HashMap::new).remove(&key(msqid));
            return 0;
        }
        let mut raw = [0u8; std::mem::size_of::<sigevent>()];
        // SAFETY: the C caller's non-null `const struct sigevent *` (unmapped: EFAULT), as
        // mq_notify(3) takes it.
        if let Err(e) = unsafe { usermem::read(sev.cast(), &mut raw) } {
            return fail(e.0);
        }
        // SAFETY: `raw` holds the bytes of a sigevent; any bit pattern is a valid one.
        let ev: sigevent = unsafe { std::ptr::read_unaligned(raw.as_ptr().cast()) };
        let notice = Notice {
            how: ev.sigev_notify,
            signo: ev.sigev_signo,
            value: ev.sigev_value,
            // glibc's sigevent keeps the SIGEV_THREAD function in the union after the
            // thread id word: offset 16 on x86_64.
            function: usize::from_ne_bytes(raw[16..24].try_into().unwrap_or([0; 8])),
        };
        match notice.how {
            libc::SIGEV_NONE | libc::SIGEV_SIGNAL | libc::SIGEV_THREAD => {}
            _ => return fail(libc::EINVAL),
        }
        if notice.how == libc::SIGEV_SIGNAL && !(1..=64).contains(&notice.signo) {
            return fail(libc::EINVAL);
        }
        if notice.how == libc::SIGEV_THREAD && notice.function == 0 {
            return fail(libc::EINVAL);
        }
        // The queue must exist and be readable now.
        let fd = match msgq_watch_fd_checked(msqid) {
            Ok(fd) => fd,
            Err(e) => return fail(e),
        };
        // Whether the queue holds a message now, at registration: then only a message
        // that comes after it has been emptied is an arrival. Read before returning, so
        // that a send right after this call counts.
        let was_ready = readable(fd, 0);
        let token = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        {
            let mut m = NOTIFY.lock().unwrap_or_else(|p| p.into_inner());
            let m = m.get_or_insert_with(HashMap::new);
            if m.contains_key(&key(msqid)) {
                // SAFETY: our own fd.
                unsafe { libc::close(fd) };
                return fail(ext::EBUSY.0);
            }
            m.insert(key(msqid), token);
        }
        let spawned = std::thread::Builder::new()
            .name("msgq-notify".into())
            .spawn(move || notify_thread(msqid, fd, was_ready, token, notice));
        if spawned.is_err() {
            let mut m = NOTIFY.lock().unwrap_or_else(|p| p.into_inner());
            m.get_or_insert_with(HashMap::new).remove(&key(msqid));
            // SAFETY: our own fd (the thread that would have owned it did not start).
            unsafe { libc::close(fd) };
            return fail(libc::EAGAIN);
        }
        0
    })
}

fn msgq_watch_fd_checked(msqid: i32) -> Result<i32, i32> {
    match backend::get() {
        Backend::User(_) => user_watch(msqid, 0, 0),
        Backend::Kmod(_) => kmod_watch(msqid, 0, 0),
        Backend::Unavailable(e) => Err(*e),
        Backend::Native | Backend::Valkey(_) => Err(EOPNOTSUPP.0),
    }
}

/// Whether queue `msqid` still exists (`IPC_STAT` through this process's backend).
fn queue_exists(msqid: i32) -> bool {
    let mut ds = [0u8; std::mem::size_of::<msgq_core::abi::MsqidDs>()];
    // SAFETY: the shim's own msgctl with a buffer of the size of `struct msqid_ds`.
    let r = unsafe { crate::exports::msgctl(msqid, libc::IPC_STAT, ds.as_mut_ptr().cast()) };
    r == 0 || !matches!(crate::errno(), libc::EINVAL | libc::EIDRM)
}

/// Whether watch fd `fd` is readable after waiting at most `ms` milliseconds.
fn readable(fd: i32, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, ms) };
    r > 0 && p.revents != 0
}

/// Waits for the queue to be empty (if it was not at registration), then for a message,
/// then delivers the notice, unless the registration was cancelled or replaced meanwhile
/// (checked every 100 ms).
fn notify_thread(msqid: i32, fd: i32, was_ready: bool, token: u64, n: Notice) {
    block_signals();
    let _close = Fds(vec![fd]);
    // A message already there is not an arrival: first the queue must be empty (looked at
    // every 10 ms: a queue emptied and refilled between two looks is not seen empty).
    while was_ready && readable(fd, 0) {
        if !registered(msqid, token) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    while !readable(fd, 100) {
        if !registered(msqid, token) {
            return;
        }
    }
    {
        let mut m = NOTIFY.lock().unwrap_or_else(|p| p.into_inner());
        let m = m.get_or_insert_with(HashMap::new);
        if m.get(&key(msqid)) != Some(&token) {
            return;
        }
        m.remove(&key(msqid));
    }
    // The fd is also readable once the queue is gone: that is no arrival, and the
    // registration ends with the queue.
    if !queue_exists(msqid) {
        return;
    }
    match n.how {
        libc::SIGEV_SIGNAL => {
            // SAFETY: a zeroed siginfo with the fields sigqueue would set; to this process.
            unsafe {
                let mut si: libc::siginfo_t = std::mem::zeroed();
                si.si_signo = n.signo;
                si.si_code = libc::SI_MESGQ;
                // si_pid, si_uid, then the sigval, at offsets 16, 20 and 24 (x86_64).
                let p = (&mut si as *mut libc::siginfo_t).cast::<u8>();
                *p.add(16).cast::<i32>() = libc::getpid();
                *p.add(20).cast::<u32>() = libc::getuid();
                *p.add(24).cast::<libc::sigval>() = n.value;
                libc::syscall(libc::SYS_rt_sigqueueinfo, libc::getpid(), n.signo, &si);
            }
        }
        libc::SIGEV_THREAD => {
            let _ = std::thread::Builder::new()
                .name("msgq-notified".into())
                .spawn(move || {
                    let n = n;
                    // SAFETY: the program gave this function pointer as its
                    // `sigev_notify_function`, of C type `void (*)(union sigval)`.
                    let f: extern "C" fn(libc::sigval) = unsafe {
                        std::mem::transmute::<usize, extern "C" fn(libc::sigval)>(n.function)
                    };
                    f(n.value);
                });
        }
        _ => {}
    }
}
