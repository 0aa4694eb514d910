//! The four calls with C's shapes: raw pointers, sizes as the C prototypes give them, and
//! errno results. Every user address is accessed through [`crate::sys::usermem`], so a bad
//! pointer is `EFAULT`, never a crash, and the checks run in the kernel's order (a bad
//! `mtype` pointer beats a bad id; a bad `IPC_SET` buffer beats a bad id).

use crate::engine::{self, Sink, Source};
use crate::sys::{creds, usermem};
use crate::Store;
use msgq_core::abi::{MsgInfo, MsqidDs, MSG_COPY};
use msgq_core::checks::{self, Cmd};
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
    let mut word = [0u8; 8];
    usermem::read(msgp.cast(), &mut word)?;
    let mtype = i64::from_ne_bytes(word);
    checks::msgsnd_args(msqid, msgsz, mtype, msgmax(s)?)?;
    let text = msgp.cast::<u8>().wrapping_add(8);
    if msgsz <= 512 {
        // Small messages are staged on the stack: one guarded copy, no system call.
        let mut small = [0u8; 512];
        usermem::read(text, &mut small[..msgsz])?;
        return s.send(msqid, mtype, &small[..msgsz], msgflg);
    }
    // Larger ones are probed now (EFAULT comes before the lookup, as in Linux) and copied
    // straight into the store under the lock.
    usermem::probe_read(text, msgsz)?;
    let src = UserText(text, msgsz);
    creds::with(|c| {
        s.on_queue(msqid, |sh| {
            engine::ops::msgsnd(sh, msqid, mtype, &src, msgflg, c)
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
    checks::msgrcv_args(msqid, msgsz, msgflg)?;
    if msgflg & MSG_COPY != 0 {
        usermem::probe_read(msgp.cast(), checks::msg_copy_probe_len(msgsz, msgmax(s)?))?;
    }
    let mut sink = UserSink(msgp.cast());
    creds::with(|c| {
        s.on_queue(msqid, |sh| {
            engine::ops::msgrcv(sh, msqid, msgsz, msgtyp, msgflg, c, &mut sink)
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
