//! The kmod backend: the module's queues through `/dev/msgq`, with the shim's ioctl client
//! (`libmsg-shim/src/kmod.rs`, included here so there is one copy of that code).

use crate::backend::{Queues, DEVICE};
use crate::report::{errno_text, Fail, R};
use msgq_core::abi::{MsqidDs, IPC_RMID};
use msgq_user::ext::Deadline;
use msgq_user::{Errno, Sysctl};

#[path = "../../libmsg-shim/src/kmod.rs"]
// `watch`, `fd` and `reset` serve the shim and the tests.
#[allow(dead_code)]
mod kmod;

/// An open `/dev/msgq`.
pub struct KmodQueues(kmod::Kmod);

/// Opens the device; the failure says why, and whether the module is loaded.
pub fn open() -> R<KmodQueues> {
    kmod::Kmod::open().map(KmodQueues).map_err(|e| {
        let hint = match e {
            libc::ENOENT | libc::ENODEV | libc::ENXIO => {
                ": the msgq kernel module is not loaded (insmod msgq.ko; see docs/kmod.md), \
                 or use --backend user"
            }
            _ => "",
        };
        Fail(format!("{DEVICE}: {}{hint}", errno_text(Errno(e))))
    })
}

/// The ioctls' form of a deadline: `(clockid, sec, nsec)`.
fn timeout(d: Option<Deadline>) -> Option<(i32, i64, i64)> {
    d.map(|d| {
        let ns = 1_000_000_000i128;
        let sec = d
            .at_ns
            .div_euclid(ns)
            .clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        (d.clock.id(), sec, d.at_ns.rem_euclid(ns) as i64)
    })
}

/// The size of `long mtype` in front of the text (`struct msgbuf`).
const MTYPE: usize = std::mem::size_of::<i64>();

impl Queues for KmodQueues {
    fn stat_index(&self, idx: i32) -> Result<(i32, MsqidDs), Errno> {
        self.0.stat_index(idx).map_err(Errno)
    }
    fn queues(&self) -> Result<Vec<(i32, MsqidDs)>, Errno> {
        self.0.queues().map_err(Errno)
    }
    fn msgget(&self, key: i32, msgflg: i32) -> Result<i32, Errno> {
        self.0.msgget(key, msgflg).map_err(Errno)
    }
    fn remove(&self, id: i32) -> Result<(), Errno> {
        self.0
            .msgctl(id, IPC_RMID, std::ptr::null_mut())
            .map(|_| ())
            .map_err(Errno)
    }
    fn send(&self, id: i32, mtype: i64, text: &[u8], msgflg: i32) -> Result<(), Errno> {
        let mut msg = Vec::with_capacity(MTYPE + text.len());
        msg.extend_from_slice(&mtype.to_ne_bytes());
        msg.extend_from_slice(text);
        self.0
            .msgsnd(id, msg.as_ptr().cast(), text.len(), msgflg)
            .map_err(Errno)
    }
    fn receive(
        &self,
        id: i32,
        buf: &mut [u8],
        mtype: i64,
        msgflg: i32,
    ) -> Result<(i64, usize), Errno> {
        let mut msg = vec![0u8; MTYPE + buf.len()];
        let n = self
            .0
            .msgrcv(id, msg.as_mut_ptr().cast(), buf.len(), mtype, msgflg)
            .map_err(Errno)?;
        let n = n.min(buf.len());
        buf[..n].copy_from_slice(&msg[MTYPE..MTYPE + n]);
        let mut t = [0u8; MTYPE];
        t.copy_from_slice(&msg[..MTYPE]);
        Ok((i64::from_ne_bytes(t), n))
    }
    fn send_ext(
        &self,
        id: i32,
        mtype: i64,
        text: &[u8],
        msgflg: i32,
        deadline: Option<Deadline>,
    ) -> Result<u64, Errno> {
        let mut msg = Vec::with_capacity(MTYPE + text.len());
        msg.extend_from_slice(&mtype.to_ne_bytes());
        msg.extend_from_slice(text);
        self.0
            .timedsnd(
                id,
                msg.as_ptr().cast(),
                text.len(),
                msgflg,
                timeout(deadline),
            )
            .map(|n| n as u64)
            .map_err(Errno)
    }
    fn receive_ext(
        &self,
        id: i32,
        buf: &mut [u8],
        mtype: i64,
        msgflg: i32,
        deadline: Option<Deadline>,
    ) -> Result<(i64, usize), Errno> {
        let mut msg = vec![0u8; MTYPE + buf.len()];
        let n = self
            .0
            .timedrcv(
                id,
                msg.as_mut_ptr().cast(),
                buf.len(),
                mtype,
                msgflg,
                timeout(deadline),
            )
            .map_err(Errno)?;
        let n = (n.max(0) as usize).min(buf.len());
        buf[..n].copy_from_slice(&msg[MTYPE..MTYPE + n]);
        let mut t = [0u8; MTYPE];
        t.copy_from_slice(&msg[..MTYPE]);
        Ok((i64::from_ne_bytes(t), n))
    }
    fn purge(&self, id: i32) -> Result<u64, Errno> {
        self.0.purge(id).map(|n| n as u64).map_err(Errno)
    }
    /// One `/dev/msgq` made pollable per entry, polled together (`kmod::select`, as the
    /// shim's `msgq_select` on this backend).
    fn select(
        &self,
        wants: &[(i32, i64, i32)],
        deadline: Option<Deadline>,
    ) -> Result<Vec<i32>, Errno> {
        kmod::select(wants, deadline).map_err(Errno)
    }
    fn abort(&self, id: i32, which: i32) -> Result<u64, Errno> {
        self.0.abort(id, which).map(|n| n as u64).map_err(Errno)
    }
    fn sysctl(&self, which: Sysctl) -> Result<i64, Errno> {
        self.0.sysctl(which.index(), None).map_err(Errno)
    }
    fn set_sysctl(&self, which: Sysctl, value: i64) -> Result<(), Errno> {
        self.0
            .sysctl(which.index(), Some(value))
            .map(|_| ())
            .map_err(Errno)
    }
}
