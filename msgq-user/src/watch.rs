//! A file descriptor that `poll`/`epoll` report readable while a queue holds a matching
//! message, for the userspace engine, which has no kernel object to wake: an `eventfd`
//! that a thread of this process keeps readable exactly while a receive would find a
//! message (and once the queue is gone), following the queue with a watcher record
//! (`Store::wait_change`). See docs/extensions.md, "An fd for poll and epoll".
//!
//! The thread holds its own reference to the eventfd and ends when the owner's fd is
//! closed (or its number names another file: `kcmp`), within [`CHECK`]. It takes none of
//! the program's signals, and does not follow a `fork`.

use msgq_core::ext::ETIMEDOUT;
use msgq_core::Errno;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the thread looks whether the owner still has the fd.
pub const CHECK: Duration = Duration::from_millis(250);

/// Makes a watch fd. `readiness(was, wait)` waits at most `wait` until the
/// queue's readiness (1, 0, `-errno`, as `Store::select` reports it) is no longer `was` and
/// returns it (`ETIMEDOUT` when it did not change); it runs on the fd's thread. The queue
/// is looked at once before the fd is made, so a queue that cannot be watched fails here.
pub fn spawn(
    readiness: impl Fn(i32, Duration) -> Result<i32, Errno> + Send + 'static,
) -> Result<OwnedFd, Errno> {
    let now = match readiness(-1, Duration::ZERO) {
        Ok(r) => r,
        Err(e) if e == ETIMEDOUT => 0,
        Err(e) => return Err(e),
    };
    if now < 0 {
        return Err(Errno(-now));
    }
    // SAFETY: plain flags.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(last_errno());
    }
    // SAFETY: a new fd of ours, owned from here.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // The thread's own reference: it outlives the owner's, so that the thread can tell
    // when the owner's fd is closed, whatever file the number names then.
    // SAFETY: duplicating our own fd.
    let mine = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if mine < 0 {
        return Err(last_errno());
    }
    // SAFETY: a new fd of ours, moved into the thread.
    let mine = unsafe { OwnedFd::from_raw_fd(mine) };
    set_readable(fd, now != 0);
    std::thread::Builder::new()
        .name("msgq-watch".into())
        .spawn(move || {
            block_signals();
            use std::os::fd::AsRawFd;
            let m = mine.as_raw_fd();
            let mut was = now;
            while same_file(fd, m) {
                match readiness(was, CHECK) {
                    Ok(r) => {
                        was = r;
                        set_readable(m, r != 0);
                        if r < 0 {
                            return;
                        }
                    }
                    Err(e) if e == ETIMEDOUT || e == Errno::EINTR => {}
                    // The queue is gone, or no longer ours: readable for good.
                    Err(e) if e == Errno::EINVAL || e == Errno::EIDRM || e == Errno::EACCES => {
                        set_readable(m, true);
                        return;
                    }
                    // Anything else (a full store, a lock found damaged and repaired) may
                    // pass: look again a little later, the fd as it was.
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        })
        .map_err(|_| Errno::EAGAIN)?;
    Ok(owned)
}

fn last_errno() -> Errno {
    Errno(
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}

/// Makes eventfd `fd` readable (counter 1) or not (counter 0).
fn set_readable(fd: i32, on: bool) {
    let mut v = 0u64;
    // SAFETY: an 8-byte read into `v` from a non-blocking eventfd (EAGAIN when 0).
    unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
    if on {
        let one = 1u64;
        // SAFETY: an 8-byte write from `one`.
        unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
    }
}

/// Whether fds `a` and `b` of this process name the same open file (`kcmp`; where `kcmp`
/// cannot be used, whether `a` is still open).
fn same_file(a: i32, b: i32) -> bool {
    const KCMP_FILE: libc::c_long = 0;
    // SAFETY: kcmp compares two fds of this process; it reads nothing of ours.
    let r = unsafe {
        let me = libc::getpid() as libc::c_long;
        libc::syscall(
            libc::SYS_kcmp,
            me,
            me,
            KCMP_FILE,
            a as libc::c_long,
            b as libc::c_long,
        )
    };
    if r == 0 {
        return true;
    }
    if r > 0 {
        return false;
    }
    // No kcmp (an old kernel, or a seccomp filter that denies it, as container runtimes'
    // default filters do without CAP_SYS_PTRACE): whether `a` is still open, which misses
    // a number closed and reused by another file.
    // SAFETY: F_GETFD on a number that may not be open: EBADF then.
    unsafe { libc::fcntl(a, libc::F_GETFD) >= 0 }
}

/// A helper thread takes none of the program's signals.
pub fn block_signals() {
    // SAFETY: a full set, applied to this thread only.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
    }
}

/// A registration made by [`notify`]: dropping it (or [`Notification::cancel`]) cancels it.
#[must_use = "dropping the registration cancels it"]
pub struct Notification {
    cancelled: Arc<AtomicBool>,
}

impl Notification {
    /// Cancels the registration (as dropping it does).
    pub fn cancel(self) {}
}

impl Drop for Notification {
    fn drop(&mut self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }
}

/// `mq_notify` for the Rust API: once a message arrives on the queue while it is empty,
/// `f` runs, once, on a thread of this process. `readiness` is as for [`spawn`] (the
/// queue watched with `msgtyp` 0). A queue that holds a message now must first be emptied;
/// its removal ends the registration without calling `f`.
pub fn notify(
    readiness: impl Fn(i32, Duration) -> Result<i32, Errno> + Send + 'static,
    f: impl FnOnce() + Send + 'static,
) -> Result<Notification, Errno> {
    let now = match readiness(-1, Duration::ZERO) {
        Ok(r) => r,
        Err(e) if e == ETIMEDOUT => 0,
        Err(e) => return Err(e),
    };
    if now < 0 {
        return Err(Errno(-now));
    }
    let cancelled = Arc::new(AtomicBool::new(false));
    let c = cancelled.clone();
    std::thread::Builder::new()
        .name("msgq-notify".into())
        .spawn(move || {
            block_signals();
            let mut was = now;
            loop {
                if c.load(Ordering::Relaxed) {
                    return;
                }
                match readiness(was, CHECK) {
                    // An arrival on the empty queue.
                    Ok(1) if was == 0 => {
                        if !c.load(Ordering::Relaxed) {
                            f();
                        }
                        return;
                    }
                    Ok(r) if r < 0 => return,
                    Ok(r) => was = r,
                    Err(e) if e == Errno::EINVAL || e == Errno::EIDRM || e == Errno::EACCES => {
                        return
                    }
                    Err(e) if e == ETIMEDOUT || e == Errno::EINTR => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        })
        .map_err(|_| Errno::EAGAIN)?;
    Ok(Notification { cancelled })
}
