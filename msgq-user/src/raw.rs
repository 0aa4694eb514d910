//! The four calls with C's shapes: raw pointers, sizes as the C prototypes give them, and
//! errno results. Every user address is accessed through [`crate::sys::usermem`], so a bad
//! pointer is `EFAULT`, never a crash, and the checks run in the kernel's order (a bad
//! `mtype` pointer beats a bad id; a bad `IPC_SET` buffer beats a bad id).

use crate::engine::{self, Sink};
use crate::sys::{creds, usermem};
use crate::Store;
use msgq_core::abi::{MsgInfo, MsqidDs, MSG_COPY};
use msgq_core::checks::{self, Cmd};
use msgq_core::limits::Sysctl;
use msgq_core::Errno;
use std::ffi::c_void;

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
    let msgmax = s.sysctl(Sysctl::Msgmax)? as u32;
    checks::msgsnd_args(msqid, msgsz, mtype, msgmax)?;
    // Small messages are staged on the stack: no allocation, no system call.
    let mut small = [0u8; 512];
    let mut large = Vec::new();
    let text: &mut [u8] = if msgsz <= small.len() {
        &mut small[..msgsz]
    } else {
        large.resize(msgsz, 0);
        &mut large
    };
    usermem::read(msgp.cast::<u8>().wrapping_add(8), text)?;
    s.send(msqid, mtype, text, msgflg)
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
        let msgmax = s.sysctl(Sysctl::Msgmax)? as u32;
        usermem::probe_read(msgp.cast(), checks::msg_copy_probe_len(msgsz, msgmax))?;
    }
    let mut sink = UserSink(msgp.cast());
    creds::with(|c| s.run(|sh| engine::ops::msgrcv(sh, msqid, msgsz, msgtyp, msgflg, c, &mut sink)))
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
            let (ret, ds) = creds::with(|c| s.run(|sh| engine::ctl::stat(sh, msqid, cmd, c)))?;
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
