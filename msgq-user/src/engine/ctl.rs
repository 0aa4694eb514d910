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
use msgq_core::ctl::{QueueFields, Stat};
use msgq_core::perm;
use msgq_core::Errno;

/// Fills a `msqid_ds` from queue `q` (`msgq_core::ctl::msqid_ds`).
pub fn fill(g: &Guard, q: Queue) -> MsqidDs {
    msgq_core::ctl::msqid_ds(&QueueFields {
        perm: perm_of(g, q),
        seq: g.get(q.at(Q::SEQ)) as u32,
        stime: g.get(q.at(Q::STIME)) as i64,
        rtime: g.get(q.at(Q::RTIME)) as i64,
        ctime: g.get(q.at(Q::CTIME)) as i64,
        cbytes: g.get(q.at(Q::CBYTES)),
        qnum: g.get(q.at(Q::QNUM)),
        qbytes: g.get(q.at(Q::QBYTES)),
        lspid: g.get(q.at(Q::LSPID)) as i32,
        lrpid: g.get(q.at(Q::LRPID)) as i32,
    })
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
    let st = Stat::of(cmd);
    let q = if st.by_id {
        lookup(&g, id)?
    } else {
        lookup_index(&g)?
    };
    if st.need_read {
        perm::ipcperms(&perm_of(&g, q), who, perm::READ)?;
    }
    Ok((st.ret(g.get(q.at(Q::ID)) as i32), fill(&g, q)))
}

/// IPC_SET with the struct already copied in.
pub fn set(ns: &(impl Shards + ?Sized), id: i32, ds: &MsqidDs, who: &Creds) -> Result<(), Errno> {
    let sh = ns.shard_of(id)?;
    let mut g = sh.lock()?;
    let q = lookup(&g, id)?;
    let set = msgq_core::ctl::ipc_set(&perm_of(&g, q), who, ds, sh.msgmnb() as u32)?;
    g.put(q.at(Q::QBYTES), set.qbytes);
    g.put(q.at(Q::UID), set.uid as u64);
    g.put(q.at(Q::GID), set.gid as u64);
    g.put(q.at(Q::MODE), set.mode as u64);
    g.put(q.at(Q::CTIME), process::now_secs());
    waiters::wake_receivers(&mut g, q);
    waiters::wake_senders(&mut g, q);
    g.commit();
    Ok(())
}

/// Copies the kernel's `ipc_perm`, `qbytes` and `ctime` of an anchored queue (after its
/// `IPC_SET`) into queue `q`, which msgq checks callers against.
#[cfg_attr(loom, allow(dead_code))] // used by `anchored` only, which loom leaves out
pub fn mirror(g: &mut Guard, q: Queue, p: &perm::Perm, qbytes: u64, ctime: u64) {
    g.put(q.at(Q::UID), p.uid as u64);
    g.put(q.at(Q::GID), p.gid as u64);
    g.put(q.at(Q::MODE), (p.mode & 0o777) as u64);
    g.put(q.at(Q::QBYTES), qbytes);
    g.put(q.at(Q::CTIME), ctime);
}
