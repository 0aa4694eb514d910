//! The four calls with C's shapes: raw pointers, sizes as the C prototypes give them, and
//! errno results. Every user address is accessed through [`crate::sys::usermem`], so a bad
//! pointer is `EFAULT`, never a crash, and the checks run in the kernel's order (a bad
//! `mtype` pointer beats a bad id; a bad `IPC_SET` buffer beats a bad id).
//!
//! # Safety
//! The calls that take a pointer are `unsafe fn`. An unmapped or protected address is
//! `EFAULT`, never a crash, but a *mapped* address is read or written as the C call
//! would: passing a pointer into memory that Rust code owns, or that another thread is
//! using, can corrupt it. Each call's `# Safety` section says which bytes it may touch;
//! the caller must own them (as a C caller owns the buffer it gives `msgrcv`) for the
//! duration of the call. A null or dangling pointer is fine: it gives `EFAULT`.

use crate::engine::ops::Ext;
use crate::engine::{self, Sink, Source};
use crate::sys::{creds, usermem};
use crate::Store;
use msgq_core::abi::{MsgInfo, MsqidDs, MSG_COPY};
use msgq_core::checks::{self, Cmd};
use msgq_core::ext;
use msgq_core::Errno;
use std::ffi::c_void;

/// The current `msgmax`, read without the lock (a single word; the engine checks it again
/// under the lock).
fn msgmax(s: &Store) -> Result<u32, Errno> {
    s.msgmax()
}

/// `msgget`.
pub fn msgget(s: &Store, key: i32, msgflg: i32) -> Result<i32, Errno> {
    s.msgget(key, msgflg)
}

/// `msgsnd`. `msgp` points at `struct msgbuf { long mtype; char mtext[msgsz]; }`.
///
/// # Safety
/// `msgp` must be null, point at memory that is not mapped (both give `EFAULT`), or point
/// at `8 + msgsz` bytes that are readable and that nothing writes during the call.
pub unsafe fn msgsnd(
    s: &Store,
    msqid: i32,
    msgp: *const c_void,
    msgsz: usize,
    msgflg: i32,
) -> Result<(), Errno> {
    // SAFETY: `msgp` and `msgsz` are the caller's, under this function's contract.
    unsafe {
        send(
            s,
            msqid,
            msgp,
            msgsz,
            ext::linux_bits(msgflg),
            Ext::default(),
        )
    }
    .map(|_| ())
}

/// `msgq_timedsnd`: `msgsnd` with the send extensions in `msgflg` and an optional
/// deadline (`abstime` null: none). The deadline is read and checked first (`EFAULT`,
/// `EINVAL`), as `mq_timedsend` does, then the flags. Returns 0, or the number of
/// messages dropped (overwrite) or of blocked callers given the message (broadcast).
///
/// # Safety
/// `msgp` must be null, point at memory that is not mapped (both give `EFAULT`), or point
/// at `8 + msgsz` bytes that are readable and that nothing writes during the call.
/// `abstime` must be null (no deadline) or satisfy the same rule for the 16 bytes of a
/// `struct timespec`.
pub unsafe fn timedsnd(
    s: &Store,
    msqid: i32,
    msgp: *const c_void,
    msgsz: usize,
    msgflg: i32,
    clockid: i32,
    abstime: *const libc::timespec,
) -> Result<u64, Errno> {
    // SAFETY: `abstime` is the caller's, under this function's contract.
    let deadline = unsafe { read_deadline(clockid, abstime) }?;
    let (x, flags) = ext::send_flags(msgflg)?;
    // SAFETY: `msgp` and `msgsz` are the caller's, under this function's contract.
    unsafe { send(s, msqid, msgp, msgsz, flags, Ext { ext: x, deadline }) }
}

/// Reads and checks a C deadline (`abstime` null: none).
///
/// # Safety
/// As [`read_timespec`].
pub unsafe fn read_deadline(
    clockid: i32,
    abstime: *const libc::timespec,
) -> Result<Option<ext::Deadline>, Errno> {
    // SAFETY: this function's contract is read_timespec's.
    match unsafe { read_timespec(abstime) }? {
        None => Ok(None),
        Some((sec, nsec)) => ext::deadline(clockid, sec, nsec).map(Some),
    }
}

/// Reads a C `struct timespec` (`ts` null: none) as (seconds, nanoseconds), unchecked.
///
/// # Safety
/// `ts` must be null, point at memory that is not mapped (`EFAULT`), or point at the 16
/// readable bytes of a `struct timespec` that nothing writes during the call.
pub unsafe fn read_timespec(ts: *const libc::timespec) -> Result<Option<(i64, i64)>, Errno> {
    if ts.is_null() {
        return Ok(None);
    }
    let mut b = [0u8; 16];
    // SAFETY: `ts` is null-checked above; the caller vouches for its 16 bytes.
    unsafe { usermem::read(ts.cast(), &mut b) }?;
    let sec = i64::from_ne_bytes(b[..8].try_into().unwrap_or([0; 8]));
    let nsec = i64::from_ne_bytes(b[8..].try_into().unwrap_or([0; 8]));
    Ok(Some((sec, nsec)))
}

/// # Safety
/// As [`msgsnd`]: `msgp` is null, unmapped, or `8 + msgsz` bytes nothing writes meanwhile.
unsafe fn send(
    s: &Store,
    msqid: i32,
    msgp: *const c_void,
    msgsz: usize,
    msgflg: i32,
    x: Ext<ext::SendExt>,
) -> Result<u64, Errno> {
    let mut word = [0u8; 8];
    // SAFETY: the first 8 of the `8 + msgsz` bytes the caller vouches for.
    unsafe { usermem::read(msgp.cast(), &mut word) }?;
    let mtype = i64::from_ne_bytes(word);
    checks::msgsnd_args(msqid, msgsz, mtype, msgmax(s)?)?;
    let text = msgp.cast::<u8>().wrapping_add(8);
    if msgsz <= 512 {
        // Small messages are staged on the stack: one guarded copy, no system call.
        let mut small = [0u8; 512];
        // SAFETY: the `msgsz` text bytes after the type, which the caller vouches for.
        unsafe { usermem::read(text, &mut small[..msgsz]) }?;
        let small = &small[..msgsz];
        return creds::with(|c| {
            s.on_queue(msqid, |sh| {
                engine::ops::send(sh, msqid, mtype, small, msgflg, x, c)
            })
        });
    }
    // Larger ones are probed now (EFAULT comes before the lookup, as in Linux) and copied
    // straight into the store under the lock.
    // SAFETY: as above, the `msgsz` text bytes the caller vouches for.
    unsafe { usermem::probe_read(text, msgsz) }?;
    let src = UserText(text, msgsz);
    creds::with(|c| {
        s.on_queue(msqid, |sh| {
            engine::ops::send(sh, msqid, mtype, &src, msgflg, x, c)
        })
    })
}

/// The caller's message text: `.1` bytes at `.0`, readable under [`msgsnd`]'s contract.
/// Built only inside [`send`] and dropped before it returns.
struct UserText(*const u8, usize);

impl Source for UserText {
    fn len(&self) -> usize {
        self.1
    }
    fn copy_to(&self, dst: &mut [u8]) -> Result<(), Errno> {
        // SAFETY: `dst` is at most `self.1` bytes (the engine copies the whole text into a
        // block of `len()` bytes), and `self.0` is valid for `self.1` bytes while `send` runs.
        unsafe { usermem::read(self.0, dst) }
    }
}

/// The caller's receive buffer: `8 + msgsz` writable bytes under [`msgrcv`]'s contract.
/// Built only inside [`receive`] and dropped before it returns.
struct UserSink(*mut u8);

impl Sink for UserSink {
    fn deliver(&mut self, mtype: i64, text: &[u8]) -> Result<(), Errno> {
        // SAFETY: the engine delivers at most `msgsz` bytes of text (it truncates or fails
        // with E2BIG first), so both writes stay within the `8 + msgsz` bytes the caller
        // gave `receive`, which is still running.
        unsafe { usermem::write(self.0, &mtype.to_ne_bytes()) }?;
        // SAFETY: as above.
        unsafe { usermem::write(self.0.wrapping_add(8), text) }
    }
}

/// `msgrcv`: returns the number of text bytes written at `msgp + 8`.
///
/// # Safety
/// `msgp` must be null, point at memory that is not mapped (both give `EFAULT`), or point
/// at `8 + msgsz` bytes that the caller owns and may be overwritten: the call writes the
/// type and up to `msgsz` bytes of text there, and nothing else may read or write them
/// during the call. With `MSG_COPY` it also reads up to that many bytes first.
pub unsafe fn msgrcv(
    s: &Store,
    msqid: i32,
    msgp: *mut c_void,
    msgsz: usize,
    msgtyp: i64,
    msgflg: i32,
) -> Result<usize, Errno> {
    // SAFETY: `msgp` and `msgsz` are the caller's, under this function's contract.
    unsafe {
        receive(
            s,
            msqid,
            msgp,
            msgsz,
            msgtyp,
            ext::linux_bits(msgflg),
            Ext::default(),
        )
    }
}

/// `msgq_timedrcv`: `msgrcv` with `MSGQ_PEEK` allowed in `msgflg` and an optional
/// deadline, read and checked first.
///
/// # Safety
/// `msgp` must be null, point at memory that is not mapped (both give `EFAULT`), or point
/// at `8 + msgsz` bytes that the caller owns and may be overwritten: the call writes the
/// type and up to `msgsz` bytes of text there, and nothing else may read or write them
/// during the call. With `MSG_COPY` it also reads up to that many bytes first.
/// `abstime` must be null (no deadline), or point at memory that is not mapped, or at the
/// 16 readable bytes of a `struct timespec` that nothing writes during the call.
#[allow(clippy::too_many_arguments)]
pub unsafe fn timedrcv(
    s: &Store,
    msqid: i32,
    msgp: *mut c_void,
    msgsz: usize,
    msgtyp: i64,
    msgflg: i32,
    clockid: i32,
    abstime: *const libc::timespec,
) -> Result<usize, Errno> {
    // SAFETY: `abstime` is the caller's, under this function's contract.
    let deadline = unsafe { read_deadline(clockid, abstime) }?;
    let (x, flags) = ext::recv_flags(msgflg)?;
    // SAFETY: `msgp` and `msgsz` are the caller's, under this function's contract.
    unsafe {
        receive(
            s,
            msqid,
            msgp,
            msgsz,
            msgtyp,
            flags,
            Ext { ext: x, deadline },
        )
    }
}

/// # Safety
/// As [`msgrcv`]: `msgp` is null, unmapped, or `8 + msgsz` bytes the caller owns.
unsafe fn receive(
    s: &Store,
    msqid: i32,
    msgp: *mut c_void,
    msgsz: usize,
    msgtyp: i64,
    msgflg: i32,
    x: Ext<ext::RecvExt>,
) -> Result<usize, Errno> {
    checks::msgrcv_args(msqid, msgsz, msgflg)?;
    if msgflg & MSG_COPY != 0 {
        let n = checks::msg_copy_probe_len(msgsz, msgmax(s)?);
        // SAFETY: `n` is at most the `8 + msgsz` bytes the caller vouches for (MSG_COPY reads
        // the buffer as the kernel's copy_from_user would).
        unsafe { usermem::probe_read(msgp.cast(), n) }?;
    }
    let mut sink = UserSink(msgp.cast());
    creds::with(|c| {
        s.on_queue(msqid, |sh| {
            engine::ops::receive(sh, msqid, msgsz, msgtyp, msgflg, x, c, &mut sink)
        })
    })
}

/// `msgctl`: returns what the call returns (0, an id, or the highest index).
///
/// # Safety
/// `buf` must be null, point at memory that is not mapped (both give `EFAULT` when the
/// command uses it), or point at memory the caller owns and may be overwritten, as large
/// as the command's structure: `IPC_SET` reads a `struct msqid_ds`; `IPC_STAT`,
/// `MSG_STAT` and `MSG_STAT_ANY` write one; `IPC_INFO` and `MSG_INFO` write a
/// `struct msginfo`. `IPC_RMID` does not use it.
pub unsafe fn msgctl(s: &Store, msqid: i32, cmd: i32, buf: *mut c_void) -> Result<i32, Errno> {
    let cmd = checks::msgctl_cmd(msqid, cmd)?;
    let buf = buf.cast::<u8>();
    match cmd {
        Cmd::Rmid => s.remove(msqid).map(|()| 0),
        Cmd::Set => {
            let mut bytes = [0u8; std::mem::size_of::<MsqidDs>()];
            // SAFETY: `IPC_SET` reads a `struct msqid_ds` at `buf`, under the contract.
            unsafe { usermem::read(buf, &mut bytes) }?;
            let ds = MsqidDs::from_bytes(&bytes).ok_or(Errno::EFAULT)?;
            s.set(msqid, &ds).map(|()| 0)
        }
        Cmd::Stat | Cmd::MsgStat | Cmd::MsgStatAny => {
            let (ret, ds) = creds::with(|c| s.stat_cmd(msqid, cmd, c))?;
            // SAFETY: the stat commands write a `struct msqid_ds` at `buf`, under the contract.
            unsafe { usermem::write(buf, ds.as_bytes()) }?;
            Ok(ret)
        }
        Cmd::Info | Cmd::MsgInfo => {
            let (ret, mi): (i32, MsgInfo) = s.info(cmd == Cmd::MsgInfo)?;
            // SAFETY: the info commands write a `struct msginfo` at `buf`, under the contract.
            unsafe { usermem::write(buf, mi.as_bytes()) }?;
            Ok(ret)
        }
    }
}
