//! `msgctl`'s commands on one queue (`IPC_STAT`, `MSG_STAT`, `IPC_SET`), under its shard's
//! lock; `IPC_RMID`, the INFO commands, the sysctls and `/proc/sysvipc/msg` are the
//! registry's (`super::registry`).

use super::guard::Guard;
use super::ops::{lookup, lookup_index, perm_of};
use super::records::Queue;
use super::recovery;
use super::waiters;
use super::Shards;
use crate::shm::layout::{H, Q};
use crate::sys::creds::Creds;
use crate::sys::process;
use msgq_core::abi::*;
use msgq_core::checks::Cmd;
use msgq_core::limits::set_qbytes;
use msgq_core::perm::{self, Caller};
use msgq_core::Errno;

/// Fills a `msqid_ds` from queue `q` (reserved fields zero).
pub fn fill(g: &Guard, q: Queue) -> MsqidDs {
    let p = perm_of(g, q);
    MsqidDs {
        msg_perm: IpcPerm {
            key: p.key,
            uid: p.uid,
            gid: p.gid,
            cuid: p.cuid,
            cgid: p.cgid,
            mode: p.mode,
            seq: g.get(q.at(Q::SEQ)) as u16,
            ..Default::default()
        },
        msg_stime: g.get(q.at(Q::STIME)) as i64,
        msg_rtime: g.get(q.at(Q::RTIME)) as i64,
        msg_ctime: g.get(q.at(Q::CTIME)) as i64,
        msg_cbytes: g.get(q.at(Q::CBYTES)),
        msg_qnum: g.get(q.at(Q::QNUM)),
        msg_qbytes: g.get(q.at(Q::QBYTES)),
        msg_lspid: g.get(q.at(Q::LSPID)) as i32,
        msg_lrpid: g.get(q.at(Q::LRPID)) as i32,
        ..Default::default()
    }
}

/// IPC_STAT (by id), MSG_STAT and MSG_STAT_ANY (by index). Returns the value msgctl
/// returns (0 or the full id) and the struct to copy out.
pub fn stat(
    ns: &(impl Shards + ?Sized),
    id: i32,
    cmd: Cmd,
    who: &Creds,
) -> Result<(i32, MsqidDs), Errno> {
    let sh = ns.shard_of(id)?;
    let mut g = sh.lock()?;
    if g.get(H::PENDING_HEAD) != 0 {
        recovery::sweep_pending(&mut g);
        g.commit();
    }
    let q = if cmd == Cmd::Stat {
        lookup(&g, id)?
    } else {
        lookup_index(&g)?
    };
    if cmd != Cmd::MsgStatAny {
        perm::ipcperms(&perm_of(&g, q), who, perm::READ)?;
    }
    let ret = if cmd == Cmd::Stat {
        0
    } else {
        g.get(q.at(Q::ID)) as i32
    };
    Ok((ret, fill(&g, q)))
}

/// IPC_SET with the struct already copied in.
pub fn set(ns: &(impl Shards + ?Sized), id: i32, ds: &MsqidDs, who: &Creds) -> Result<(), Errno> {
    let sh = ns.shard_of(id)?;
    let mut g = sh.lock()?;
    let q = lookup(&g, id)?;
    perm::may_control(&perm_of(&g, q), who)?;
    let qbytes = set_qbytes(ds.msg_qbytes, sh.msgmnb() as u32, who.cap_sys_resource())?;
    if ds.msg_perm.uid == u32::MAX || ds.msg_perm.gid == u32::MAX {
        return Err(Errno::EINVAL);
    }
    g.put(q.at(Q::QBYTES), qbytes);
    g.put(q.at(Q::UID), ds.msg_perm.uid as u64);
    g.put(q.at(Q::GID), ds.msg_perm.gid as u64);
    let mode = (g.get(q.at(Q::MODE)) & !0o777) | (ds.msg_perm.mode & 0o777) as u64;
    g.put(q.at(Q::MODE), mode);
    g.put(q.at(Q::CTIME), process::now_secs());
    waiters::wake_receivers(&mut g, q);
    waiters::wake_senders(&mut g, q);
    g.commit();
    Ok(())
}

/// Copies the kernel's `ipc_perm`, `qbytes` and `ctime` of an anchored queue (after its
/// `IPC_SET`) into queue `q`, which msgq checks callers against.
pub fn mirror(g: &mut Guard, q: Queue, p: &perm::Perm, qbytes: u64, ctime: u64) {
    g.put(q.at(Q::UID), p.uid as u64);
    g.put(q.at(Q::GID), p.gid as u64);
    g.put(q.at(Q::MODE), (p.mode & 0o777) as u64);
    g.put(q.at(Q::QBYTES), qbytes);
    g.put(q.at(Q::CTIME), ctime);
}
