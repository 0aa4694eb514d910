//! The four calls with C's shapes: raw pointers, sizes as the C prototypes give them, and
//! errno results. Every user address is accessed through [`crate::sys::usermem`], so a bad
//! pointer is `EFAULT`, never a crash, and the checks run in the kernel's order (a bad
//! `mtype` pointer beats a bad id; a bad `IPC_SET` buffer beats a bad id).

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
pub fn msgsnd(
    s: &Store,
    msqid: i32,
    msgp: *const c_void,
    msgsz: usize,
    msgflg: i32,
) -> Result<(), Errno> {
    send(
        s,
        msqid,
        msgp,
        msgsz,
        ext::linux_bits(msgflg),
        Ext::default(),
    )
    .map(|_| ())
}

/// `msgq_timedsnd`: `msgsnd` with the send extensions in `msgflg` and an optional
/// deadline (`abstime` null: none). The deadline is read and checked first (`EFAULT`,
/// `EINVAL`), as `mq_timedsend` does, then the flags. Returns 0, or the number of
/// messages dropped (overwrite) or of blocked callers given the message (broadcast).
pub fn timedsnd(
    s: &Store,
    msqid: i32,
    msgp: *const c_void,
    msgsz: usize,
    msgflg: i32,
    clockid: i32,
    abstime: *const libc::timespec,
) -> Result<u64, Errno> {
    let deadline = read_deadline(clockid, abstime)?;
    let (x, flags) = ext::send_flags(msgflg)?;
    send(s, msqid, msgp, msgsz, flags, Ext { ext: x, deadline })
}

/// Reads and checks a C deadline (`abstime` null: none).
pub fn read_deadline(
    clockid: i32,
    abstime: *const libc::timespec,
) -> Result<Option<ext::Deadline>, Errno> {
    if abstime.is_null() {
        return Ok(None);
    }
    let mut b = [0u8; 16];
    usermem::read(abstime.cast(), &mut b)?;
    let sec = i64::from_ne_bytes(b[..8].try_into().unwrap_or([0; 8]));
    let nsec = i64::from_ne_bytes(b[8..].try_into().unwrap_or([0; 8]));
    ext::deadline(clockid, sec, nsec).map(Some)
}

fn send(
    s: &Store,
    msqid: i32,
    msgp: *const c_void,
    msgsz: usize,
    msgflg: i32,
    x: Ext<ext::SendExt>,
) -> Result<u64, Errno> {
    let mut word = [0u8; 8];
    usermem::read(msgp.cast(), &mut word)?;
    let mtype = i64::from_ne_bytes(word);
    checks::msgsnd_args(msqid, msgsz, mtype, msgmax(s)?)?;
    let text = msgp.cast::<u8>().wrapping_add(8);
    if msgsz <= 512 {
        // Small messages are staged on the stack: one guarded copy, no system call.
        let mut small = [0u8; 512];
        usermem::read(text, &mut small[..msgsz])?;
        let small = &small[..msgsz];
        return creds::with(|c| {
            s.on_queue(msqid, |sh| {
                engine::ops::send(sh, msqid, mtype, small, msgflg, x, c)
            })
        });
    }
    // Larger ones are probed now (EFAULT comes before the lookup, as in Linux) and copied
    // straight into the store under the lock.
    usermem::probe_read(text, msgsz)?;
    let src = UserText(text, msgsz);
    creds::with(|c| {
        s.on_queue(msqid, |sh| {
            engine::ops::send(sh, msqid, mtype, &src, msgflg, x, c)
        })
    })
}

struct UserText(*const u8, usize);

impl Source for UserText {
    fn len(&self) -> usize {
        self.1
    }
    fn copy_to(&self, dst: &mut [u8]) -> Result<(), Errno> {
        usermem::read(self.0, dst)
    }
}

struct UserSink(*mut u8);

impl Sink for UserSink {
    fn deliver(&mut self, mtype: i64, text: &[u8]) -> Result<(), Errno> {
        usermem::write(self.0, &mtype.to_ne_bytes())?;
        usermem::write(self.0.wrapping_add(8), text)
    }
}

/// `msgrcv`: returns the number of text bytes written at `msgp + 8`.
pub fn msgrcv(
    s: &Store,
    msqid: i32,
    msgp: *mut c_void,
    msgsz: usize,
    msgtyp: i64,
    msgflg: i32,
) -> Result<usize, Errno> {
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

/// `msgq_timedrcv`: `msgrcv` with `MSGQ_PEEK` allowed in `msgflg` and an optional
/// deadline, read and checked first.
#[allow(clippy::too_many_arguments)]
pub fn timedrcv(
    s: &Store,
    msqid: i32,
    msgp: *mut c_void,
    msgsz: usize,
    msgtyp: i64,
    msgflg: i32,
    clockid: i32,
    abstime: *const libc::timespec,
) -> Result<usize, Errno> {
    let deadline = read_deadline(clockid, abstime)?;
    let (x, flags) = ext::recv_flags(msgflg)?;
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

fn receive(
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
        usermem::probe_read(msgp.cast(), checks::msg_copy_probe_len(msgsz, msgmax(s)?))?;
    }
    let mut sink = UserSink(msgp.cast());
    creds::with(|c| {
        s.on_queue(msqid, |sh| {
            engine::ops::receive(sh, msqid, msgsz, msgtyp, msgflg, x, c, &mut sink)
        })
    })
}

/// `msgctl`: returns what the call returns (0, an id, or the highest index).
pub fn msgctl(s: &Store, msqid: i32, cmd: i32, buf: *mut c_void) -> Result<i32, Errno> {
    let cmd = checks::msgctl_cmd(msqid, cmd)?;
    let buf = buf.cast::<u8>();
    match cmd {
        Cmd::Rmid => s.remove(msqid).map(|()| 0),
        Cmd::Set => {
            let mut bytes = [0u8; std::mem::size_of::<MsqidDs>()];
            usermem::read(buf, &mut bytes)?;
            let ds = MsqidDs::from_bytes(&bytes).ok_or(Errno::EFAULT)?;
            s.set(msqid, &ds).map(|()| 0)
        }
        Cmd::Stat | Cmd::MsgStat | Cmd::MsgStatAny => {
            let (ret, ds) = creds::with(|c| s.stat_cmd(msqid, cmd, c))?;
            usermem::write(buf, ds.as_bytes())?;
            Ok(ret)
        }
        Cmd::Info | Cmd::MsgInfo => {
            let (ret, mi): (i32, MsgInfo) = s.info(cmd == Cmd::MsgInfo)?;
            usermem::write(buf, mi.as_bytes())?;
            Ok(ret)
        }
    }
}
