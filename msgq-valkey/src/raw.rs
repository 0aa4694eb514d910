//! The four calls with C's shapes over a [`Valkey`] namespace: raw pointers, errno results,
//! checks in the kernel's order (as `msgq_user::raw` for the userspace engine). Every user
//! address goes through `msgq_user::sys::usermem`, so a bad pointer is `EFAULT`, never a
//! crash.
//!
//! # Safety
//! As `msgq_user::raw`: an unmapped or protected address is `EFAULT`; a *mapped* address is
//! read or written as the C call would, so the caller must own the bytes each call's
//! `# Safety` names.

use crate::Valkey;
use msgq_core::abi::{MsgInfo, MsqidDs, MSG_COPY};
use msgq_core::checks::{self, Cmd};
use msgq_core::ext::{self, Deadline};
use msgq_core::Errno;
use msgq_user::sys::usermem;
use std::ffi::c_void;

/// `msgget`.
pub fn msgget(v: &Valkey, key: i32, msgflg: i32) -> Result<i32, Errno> {
    v.msgget(key, msgflg)
}

/// A deadline on its clock as an `Instant` (the backend's waits are monotonic).
pub fn instant(d: Option<Deadline>) -> Option<std::time::Instant> {
    d.map(|d| {
        let left = d.left_ns(msgq_user::sys::process::clock_ns(d.clock));
        std::time::Instant::now() + std::time::Duration::from_nanos(left)
    })
}

/// Reads `msgsnd`'s type and text at `msgp` in the kernel's order (`EFAULT` first, then the
/// argument checks with the namespace's `msgmax`).
///
/// # Safety
/// As [`msgsnd`].
unsafe fn read_message(
    v: &Valkey,
    msqid: i32,
    msgp: *const c_void,
    msgsz: usize,
) -> Result<(i64, Vec<u8>), Errno> {
    let mut word = [0u8; 8];
    // SAFETY: the first 8 of the `8 + msgsz` bytes the caller vouches for.
    unsafe { usermem::read(msgp.cast(), &mut word) }?;
    let mtype = i64::from_ne_bytes(word);
    v.check_send(msqid, msgsz, mtype)?;
    let mut text = vec![0u8; msgsz];
    // SAFETY: the `msgsz` text bytes after the type, which the caller vouches for.
    unsafe { usermem::read(msgp.cast::<u8>().wrapping_add(8), &mut text) }?;
    Ok((mtype, text))
}

/// `msgq_timedsnd` (msgq.h): `msgsnd` with an optional deadline (`abstime` null: none) and
/// the send extensions in `msgflg`: 0, the messages dropped (`MSGQ_OVERWRITE`) or the blocked
/// callers given a copy (`MSGQ_BROADCAST`).
///
/// # Safety
/// As [`msgsnd`]; `abstime` must be null, unmapped, or 16 readable bytes of a timespec.
pub unsafe fn timedsnd(
    v: &Valkey,
    msqid: i32,
    msgp: *const c_void,
    msgsz: usize,
    msgflg: i32,
    clockid: i32,
    abstime: *const libc::timespec,
) -> Result<u64, Errno> {
    // SAFETY: `abstime` is the caller's, under this function's contract.
    let deadline = unsafe { msgq_user::raw::read_deadline(clockid, abstime) }?;
    ext::send_flags(msgflg)?;
    // SAFETY: as `msgsnd`.
    let (mtype, text) = unsafe { read_message(v, msqid, msgp, msgsz) }?;
    v.send_ext(msqid, mtype, &text, msgflg, instant(deadline))
}

/// `msgq_timedrcv` (msgq.h): `msgrcv` with an optional deadline and `MSGQ_PEEK`.
///
/// # Safety
/// As [`msgrcv`]; `abstime` as for [`timedsnd`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn timedrcv(
    v: &Valkey,
    msqid: i32,
    msgp: *mut c_void,
    msgsz: usize,
    msgtyp: i64,
    msgflg: i32,
    clockid: i32,
    abstime: *const libc::timespec,
) -> Result<usize, Errno> {
    // SAFETY: `abstime` is the caller's, under this function's contract.
    let deadline = unsafe { msgq_user::raw::read_deadline(clockid, abstime) }?;
    let (x, flags) = ext::recv_flags(msgflg)?;
    // SAFETY: as `msgrcv`.
    unsafe {
        receive(
            v,
            msqid,
            msgp,
            msgsz,
            msgtyp,
            flags,
            instant(deadline),
            x.peek,
        )
    }
}

/// `msgsnd`.
///
/// # Safety
/// `msgp` must be null, unmapped (both `EFAULT`), or point at `8 + msgsz` readable bytes
/// that nothing writes during the call.
pub unsafe fn msgsnd(
    v: &Valkey,
    msqid: i32,
    msgp: *const c_void,
    msgsz: usize,
    msgflg: i32,
) -> Result<(), Errno> {
    // SAFETY: this function's contract is `read_message`'s.
    let (mtype, text) = unsafe { read_message(v, msqid, msgp, msgsz) }?;
    v.send(msqid, mtype, &text, ext::linux_bits(msgflg), None, false)
}

/// `msgrcv`: the number of text bytes written at `msgp + 8`.
///
/// # Safety
/// `msgp` must be null, unmapped (both `EFAULT`), or point at `8 + msgsz` bytes the caller
/// owns and that may be overwritten (with `MSG_COPY` they are read first, as the kernel
/// does).
pub unsafe fn msgrcv(
    v: &Valkey,
    msqid: i32,
    msgp: *mut c_void,
    msgsz: usize,
    msgtyp: i64,
    msgflg: i32,
) -> Result<usize, Errno> {
    // SAFETY: this function's contract is `receive`'s.
    unsafe {
        receive(
            v,
            msqid,
            msgp,
            msgsz,
            msgtyp,
            ext::linux_bits(msgflg),
            None,
            false,
        )
    }
}

/// `msgrcv` with a deadline and `peek`, `msgflg` without extension bits.
///
/// # Safety
/// As [`msgrcv`].
#[allow(clippy::too_many_arguments)]
unsafe fn receive(
    v: &Valkey,
    msqid: i32,
    msgp: *mut c_void,
    msgsz: usize,
    msgtyp: i64,
    msgflg: i32,
    deadline: Option<std::time::Instant>,
    peek: bool,
) -> Result<usize, Errno> {
    checks::msgrcv_args(msqid, msgsz, msgflg)?;
    if msgflg & MSG_COPY != 0 {
        let n = checks::msg_copy_probe_len(msgsz, v.limits_msgmax()?);
        // SAFETY: `n` is at most the `8 + msgsz` bytes the caller vouches for.
        unsafe { usermem::probe_read(msgp.cast(), n) }?;
    }
    let flags = if peek {
        msgflg | ext::MSGQ_PEEK
    } else {
        msgflg
    };
    // At most `msgsz` bytes: a longer message was E2BIG, or cut under MSG_NOERROR.
    let (mtype, text) = v.receive_ext(msqid, msgsz, msgtyp, flags, deadline)?;
    let p = msgp.cast::<u8>();
    // SAFETY: the type and at most `msgsz` text bytes: within the caller's `8 + msgsz`.
    unsafe { usermem::write(p, &mtype.to_ne_bytes()) }?;
    // SAFETY: as above.
    unsafe { usermem::write(p.wrapping_add(8), &text) }?;
    Ok(text.len())
}

/// `msgctl`: what the call returns (0, an id, or the highest index).
///
/// # Safety
/// `buf` must be null, unmapped (both `EFAULT` when the command uses it), or point at
/// memory the caller owns as large as the command's structure (`IPC_SET` reads a
/// `struct msqid_ds`; the stat commands write one; the info commands write a
/// `struct msginfo`).
pub unsafe fn msgctl(v: &Valkey, msqid: i32, cmd: i32, buf: *mut c_void) -> Result<i32, Errno> {
    let cmd = checks::msgctl_cmd(msqid, cmd)?;
    let buf = buf.cast::<u8>();
    match cmd {
        Cmd::Rmid => v.remove(msqid).map(|()| 0),
        Cmd::Set => {
            let mut bytes = [0u8; std::mem::size_of::<MsqidDs>()];
            // SAFETY: `IPC_SET` reads a `struct msqid_ds` at `buf`, under the contract.
            unsafe { usermem::read(buf, &mut bytes) }?;
            let ds = MsqidDs::from_bytes(&bytes).ok_or(Errno::EFAULT)?;
            v.set(msqid, &ds).map(|()| 0)
        }
        Cmd::Stat => {
            let ds = v.stat(msqid)?;
            // SAFETY: `IPC_STAT` writes a `struct msqid_ds` at `buf`, under the contract.
            unsafe { usermem::write(buf, ds.as_bytes()) }?;
            Ok(0)
        }
        Cmd::MsgStat | Cmd::MsgStatAny => {
            let (id, ds) = v.msg_stat(msqid, cmd == Cmd::MsgStatAny)?;
            // SAFETY: as above.
            unsafe { usermem::write(buf, ds.as_bytes()) }?;
            Ok(id)
        }
        Cmd::Info | Cmd::MsgInfo => {
            let (ret, mi): (i32, MsgInfo) = v.info(cmd == Cmd::MsgInfo)?;
            // SAFETY: the info commands write a `struct msginfo` at `buf`.
            unsafe { usermem::write(buf, mi.as_bytes()) }?;
            Ok(ret)
        }
    }
}
