//! The `kmod` backend: the four calls as ioctls on `/dev/msgq` (the kernel module
//! `msgq-kmod`), with the structs and numbers of `msgq_core::ioctl`.
//!
//! Every function returns what the system call would, or the errno the module returned.
//! The module checks every pointer itself (`EFAULT`), so nothing here dereferences user
//! buffers. This file depends only on `libc` and `msgq_core`, so the guest test program
//! (`tests/src/bin/kmod_diff.rs`) includes it with `#[path]` and tests this very code, and
//! the `msgq` command (`msgq-cli`) includes it the same way for its `kmod` backend.

use msgq_core::abi::{MsgInfo, MsqidDs, MSG_INFO, MSG_STAT, MSG_STAT_ANY};
use msgq_core::ioctl;
use msgq_core::procfmt;
use std::ffi::c_void;

/// An open `/dev/msgq`.
pub struct Kmod {
    fd: i32,
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

impl Kmod {
    /// Opens the device (close-on-exec); the errno of `open` on failure.
    pub fn open() -> Result<Kmod, i32> {
        // SAFETY: a NUL-terminated path and plain flags.
        let fd = unsafe { libc::open(c"/dev/msgq".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(errno());
        }
        Ok(Kmod { fd })
    }

    /// One ioctl with an in/out struct: its non-negative result, or the errno.
    fn call<T>(&self, cmd: u32, arg: &mut T) -> Result<i64, i32> {
        // SAFETY: `arg` is a live, writable struct of exactly the size `cmd` encodes.
        let r = unsafe { libc::ioctl(self.fd, cmd as libc::c_ulong, arg as *mut T) };
        if r < 0 {
            Err(errno())
        } else {
            Ok(i64::from(r))
        }
    }

    pub fn msgget(&self, key: i32, msgflg: i32) -> Result<i32, i32> {
        let mut a = ioctl::MsgGet {
            version: ioctl::VERSION,
            key,
            msgflg,
            pad: 0,
        };
        self.call(ioctl::MSGQ_GET, &mut a).map(|r| r as i32)
    }

    pub fn msgsnd(
        &self,
        msqid: i32,
        msgp: *const c_void,
        msgsz: usize,
        msgflg: i32,
    ) -> Result<(), i32> {
        let mut a = ioctl::MsgSnd {
            version: ioctl::VERSION,
            msqid,
            msgflg,
            pad: 0,
            msgp: msgp as u64,
            msgsz: msgsz as u64,
        };
        self.call(ioctl::MSGQ_SND, &mut a).map(|_| ())
    }

    pub fn msgrcv(
        &self,
        msqid: i32,
        msgp: *mut c_void,
        msgsz: usize,
        msgtyp: i64,
        msgflg: i32,
    ) -> Result<usize, i32> {
        let mut a = ioctl::MsgRcv {
            version: ioctl::VERSION,
            msqid,
            msgflg,
            pad: 0,
            msgp: msgp as u64,
            msgsz: msgsz as u64,
            msgtyp,
        };
        // The ioctl's int return is the byte count (at most msgmax, which is an int).
        self.call(ioctl::MSGQ_RCV, &mut a).map(|n| n as usize)
    }

    pub fn msgctl(&self, msqid: i32, cmd: i32, buf: *mut c_void) -> Result<i32, i32> {
        let mut a = ioctl::MsgCtl {
            version: ioctl::VERSION,
            msqid,
            cmd,
            pad: 0,
            buf: buf as u64,
        };
        self.call(ioctl::MSGQ_CTL, &mut a).map(|r| r as i32)
    }

    /// Reads a limit (`which` as in [`ioctl::Sysctl`]: `Sysctl::index`), or writes it when
    /// `write` is given.
    pub fn sysctl(&self, which: u32, write: Option<i64>) -> Result<i64, i32> {
        let mut a = ioctl::Sysctl {
            version: ioctl::VERSION,
            which,
            write: u32::from(write.is_some()),
            pad: 0,
            value: write.unwrap_or(0),
        };
        self.call(ioctl::MSGQ_SYSCTL, &mut a)?;
        Ok(a.value)
    }
}

impl Kmod {
    /// `MSGQ_WATCH`: `poll()` on [`Kmod::fd`] then reports `POLLIN` when
    /// `msgrcv(msqid, _, _, msgtyp, msgflg)` would find a message, `POLLOUT` when a
    /// `msgsz`-byte message fits, `POLLERR | POLLHUP` once the queue is gone.
    pub fn watch(&self, msqid: i32, msgtyp: i64, msgflg: i32, msgsz: usize) -> Result<(), i32> {
        let mut a = ioctl::Watch {
            version: ioctl::VERSION,
            msqid,
            msgflg,
            pad: 0,
            msgtyp,
            msgsz: msgsz as u64,
        };
        self.call(ioctl::MSGQ_WATCH, &mut a).map(|_| ())
    }

    /// The descriptor of `/dev/msgq` (for `poll()` after [`Kmod::watch`]).
    pub fn fd(&self) -> i32 {
        self.fd
    }

    /// Gives up ownership of the file descriptor (the caller closes it).
    pub fn into_fd(self) -> i32 {
        let fd = self.fd;
        std::mem::forget(self);
        fd
    }

    /// `MSGQ_RESET`: an empty namespace with the load-time limits (tests; needs
    /// `CAP_SYS_ADMIN`).
    pub fn reset(&self) -> Result<(), i32> {
        let mut a = ioctl::Reset {
            version: ioctl::VERSION,
            pad: 0,
        };
        self.call(ioctl::MSGQ_RESET, &mut a).map(|_| ())
    }
}

/// The extensions (`msgq_core::ext`): timed calls, purge, abort.
impl Kmod {
    /// `MSGQ_TIMEDSND`: `msgsnd` with the send extension bits (`MSGQ_URGENT`,
    /// `MSGQ_OVERWRITE`, `MSGQ_BROADCAST`) in `msgflg` and an optional absolute deadline
    /// `(clockid, sec, nsec)`. Returns 0, or the number of messages dropped (overwrite), or
    /// the number of receivers given a copy (broadcast).
    pub fn timedsnd(
        &self,
        msqid: i32,
        msgp: *const c_void,
        msgsz: usize,
        msgflg: i32,
        timeout: Option<(i32, i64, i64)>,
    ) -> Result<i64, i32> {
        let mut a = ioctl::TimedSnd {
            version: ioctl::VERSION,
            msqid,
            msgflg,
            pad: 0,
            msgp: msgp as u64,
            msgsz: msgsz as u64,
            timeout: timeout_arg(timeout),
        };
        self.call(ioctl::MSGQ_TIMEDSND, &mut a)
    }

    /// `MSGQ_TIMEDRCV`: `msgrcv` with `MSGQ_PEEK` allowed in `msgflg` and an optional
    /// absolute deadline `(clockid, sec, nsec)`. Returns the number of bytes copied.
    pub fn timedrcv(
        &self,
        msqid: i32,
        msgp: *mut c_void,
        msgsz: usize,
        msgtyp: i64,
        msgflg: i32,
        timeout: Option<(i32, i64, i64)>,
    ) -> Result<i64, i32> {
        let mut a = ioctl::TimedRcv {
            version: ioctl::VERSION,
            msqid,
            msgflg,
            pad: 0,
            msgp: msgp as u64,
            msgsz: msgsz as u64,
            msgtyp,
            timeout: timeout_arg(timeout),
        };
        self.call(ioctl::MSGQ_TIMEDRCV, &mut a)
    }

    /// `MSGQ_PURGE`: discards every message of the queue; returns how many.
    pub fn purge(&self, msqid: i32) -> Result<i64, i32> {
        let mut a = ioctl::QueueOp {
            version: ioctl::VERSION,
            msqid,
            which: 0,
            pad: 0,
        };
        self.call(ioctl::MSGQ_PURGE, &mut a)
    }

    /// `MSGQ_ABORT`: wakes the queue's blocked receivers (`MSGQ_ABORT_RECEIVERS`) and/or
    /// senders (`MSGQ_ABORT_SENDERS`) with `ECANCELED`; returns how many were woken.
    pub fn abort(&self, msqid: i32, which: i32) -> Result<i64, i32> {
        let mut a = ioctl::QueueOp {
            version: ioctl::VERSION,
            msqid,
            which,
            pad: 0,
        };
        self.call(ioctl::MSGQ_ABORT, &mut a)
    }
}

/// A `/dev/msgq` made pollable (`MSGQ_WATCH`) for (msqid, msgtyp, msgflg) with the rules
/// of the engine's select: `MSG_COPY` is `EINVAL`, and read permission is needed
/// (`IPC_STAT`, which needs it, is asked first: `MSGQ_WATCH` alone also admits writers,
/// who may poll for room).
pub fn watch_for_messages(msqid: i32, msgtyp: i64, msgflg: i32) -> Result<Kmod, i32> {
    if msgflg & msgq_core::abi::MSG_COPY != 0 {
        return Err(libc::EINVAL);
    }
    let k = Kmod::open()?;
    let mut ds = [0u8; std::mem::size_of::<MsqidDs>()];
    k.msgctl(msqid, libc::IPC_STAT, ds.as_mut_ptr().cast())?;
    k.watch(msqid, msgtyp, msgflg, 0)?;
    Ok(k)
}

/// `msgq_select` on the module: one watch per `(msqid, msgtyp, msgflg)`, polled together
/// until one is ready or `deadline` (`ETIMEDOUT`). Per entry 1, 0, or `-errno` (a queue
/// that cannot be watched makes the call return at once with what the others show; one
/// removed during the wait is `-EIDRM`).
pub fn select(
    wants: &[(i32, i64, i32)],
    deadline: Option<msgq_core::ext::Deadline>,
) -> Result<Vec<i32>, i32> {
    let mut ready = vec![0i32; wants.len()];
    let mut watched = Vec::new();
    for (i, &(id, msgtyp, msgflg)) in wants.iter().enumerate() {
        match watch_for_messages(id, msgtyp, msgflg) {
            Ok(k) => watched.push((i, k)),
            Err(e) => ready[i] = -e,
        }
    }
    let now_only = ready.iter().any(|&r| r != 0);
    let mut fds: Vec<libc::pollfd> = watched
        .iter()
        .map(|(_, k)| libc::pollfd {
            fd: k.fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        let left = if now_only {
            Some(0)
        } else {
            deadline.map(|d| d.left_ns(clock_ns(d.clock)))
        };
        let ts = left.map(|ns| libc::timespec {
            tv_sec: (ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (ns % 1_000_000_000) as libc::c_long,
        });
        let tsp = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `fds` is a valid array of `fds.len()` pollfds; `tsp` is null or points at
        // a live timespec.
        let r = unsafe {
            libc::ppoll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                tsp,
                std::ptr::null(),
            )
        };
        if r < 0 {
            return Err(errno());
        }
        if r == 0 {
            if now_only {
                return Ok(ready);
            }
            if left == Some(0) {
                return Err(msgq_core::ext::ETIMEDOUT.0);
            }
            continue;
        }
        for (p, (i, _)) in fds.iter().zip(&watched) {
            if p.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
                ready[*i] = -libc::EIDRM;
            } else if p.revents & libc::POLLIN != 0 {
                ready[*i] = 1;
            }
        }
        return Ok(ready);
    }
}

/// Clock `c` in nanoseconds since its epoch.
fn clock_ns(c: msgq_core::ext::Clock) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(c.id(), &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

/// The ioctl form of an optional deadline `(clockid, sec, nsec)`.
fn timeout_arg(t: Option<(i32, i64, i64)>) -> ioctl::Timeout {
    match t {
        None => ioctl::Timeout::default(),
        Some((clockid, sec, nsec)) => ioctl::Timeout {
            present: 1,
            clockid,
            sec,
            nsec,
        },
    }
}

/// The module's queues as tools see them: listed the way `ipcs` does without `/proc`.
impl Kmod {
    /// `MSG_INFO`: the highest index in use (-1 or 0 when there is no queue) and the totals.
    pub fn info(&self) -> Result<(i32, MsgInfo), i32> {
        let mut mi = MsgInfo::default();
        let max = self.msgctl(0, MSG_INFO, (&mut mi as *mut MsgInfo).cast())?;
        Ok((max, mi))
    }

    /// The queue at index `idx`: its id and state, with `MSG_STAT_ANY` (no read permission
    /// needed, like `/proc/sysvipc/msg`). When that command is refused for another reason
    /// than an empty index (`EINVAL`, `EIDRM`), `MSG_STAT`, which needs read permission, is
    /// tried (what `ipcs` uses).
    pub fn stat_index(&self, idx: i32) -> Result<(i32, MsqidDs), i32> {
        let mut ds = MsqidDs::default();
        let p: *mut c_void = (&mut ds as *mut MsqidDs).cast();
        let id = match self.msgctl(idx, MSG_STAT_ANY, p) {
            Err(e) if e != libc::EINVAL && e != libc::EIDRM => self.msgctl(idx, MSG_STAT, p)?,
            r => r?,
        };
        Ok((id, ds))
    }

    /// Every queue (id, state) in index order: `MSG_INFO`'s highest index, then
    /// [`Kmod::stat_index`] on each index up to it. Empty indexes (`EINVAL`), queues removed
    /// meanwhile (`EIDRM`) and queues the caller may not see (`EACCES`) are skipped.
    pub fn queues(&self) -> Result<Vec<(i32, MsqidDs)>, i32> {
        let (max, _) = self.info()?;
        let mut out = Vec::new();
        for idx in 0..=max {
            match self.stat_index(idx) {
                Ok(q) => out.push(q),
                Err(libc::EINVAL | libc::EIDRM | libc::EACCES) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The text the kernel's `/proc/sysvipc/msg` would show for the module's queues (the
    /// module has no `/proc` file): one row per queue in index order, the kernel's format.
    pub fn proc_sysvipc_msg(&self) -> Result<String, i32> {
        let mut s = String::from(procfmt::HEADER);
        for (id, d) in self.queues()? {
            let row = procfmt::Row::of(id, &d);
            // Writing to a String cannot fail.
            let _ = row.write_to(&mut s);
        }
        Ok(s)
    }
}

impl Drop for Kmod {
    fn drop(&mut self) {
        // SAFETY: `fd` is ours and closed once.
        unsafe { libc::close(self.fd) };
    }
}
