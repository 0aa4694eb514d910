//! `msgctl`, the store's sysctls, and the `/proc/sysvipc/msg` text.

use super::guard::{Guard, Shared};
use super::ops::{key_bucket, lookup, lookup_index, perm_of};
use super::records::Queue;
use super::recovery;
use super::waiters;
use crate::shm::layout::{H, IDS_OFF, Q};
use crate::sys::creds::Creds;
use crate::sys::process;
use msgq_core::abi::*;
use msgq_core::checks::Cmd;
use msgq_core::ids::IPCMNI;
use msgq_core::limits::{set_qbytes, Sysctl};
use msgq_core::perm::{self, Caller};
use msgq_core::procfmt;
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
pub fn stat(sh: &Shared, id: i32, cmd: Cmd, who: &Creds) -> Result<(i32, MsqidDs), Errno> {
    let mut g = sh.lock()?;
    if g.get(H::PENDING_HEAD) != 0 {
        recovery::sweep_pending(&mut g);
        g.commit();
    }
    let q = if cmd == Cmd::Stat {
        lookup(&g, id)?
    } else {
        lookup_index(&g, id)?
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
pub fn set(sh: &Shared, id: i32, ds: &MsqidDs, who: &Creds) -> Result<(), Errno> {
    let mut g = sh.lock()?;
    let q = lookup(&g, id)?;
    perm::may_control(&perm_of(&g, q), who)?;
    let qbytes = set_qbytes(
        ds.msg_qbytes,
        g.get(H::MSGMNB) as u32,
        who.cap_sys_resource(),
    )?;
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

/// IPC_RMID.
pub fn rmid(sh: &Shared, id: i32, who: &Creds) -> Result<(), Errno> {
    let mut g = sh.lock()?;
    let q = lookup(&g, id)?;
    perm::may_control(&perm_of(&g, q), who)?;
    let idx = (id & msgq_core::ids::MASK) as u64;
    g.put(IDS_OFF + 8 * idx, 0);
    let key = g.get(q.at(Q::KEY)) as i32;
    if key != IPC_PRIVATE {
        unlink_key(&mut g, q, key);
    }
    g.tx.add(H::IN_USE, -1);
    if g.get(H::MAX_IDX) == idx {
        let mut i = idx as i64 - 1;
        while i >= 0 && g.get(IDS_OFF + 8 * i as u64) == 0 {
            i -= 1;
        }
        g.put(H::MAX_IDX, i as u64);
    }
    // Waiters get EIDRM, and messages and records are freed, in steps (the dying list
    // survives a crash midway).
    let dying = g.get(H::DYING);
    g.put(q.at(Q::DNEXT), dying);
    g.put(H::DYING, q.off());
    g.commit();
    recovery::reclaim_dying(&mut g);
    Ok(())
}

fn unlink_key(g: &mut Guard, q: Queue, key: i32) {
    let mut link = key_bucket(key);
    while let Some(cur) = Queue::at_off(g.get(link)) {
        if cur == q {
            let next = g.get(q.at(Q::KNEXT));
            g.put(link, next);
            return;
        }
        link = cur.at(Q::KNEXT);
    }
}

/// IPC_INFO and MSG_INFO: the struct and the highest index in use.
pub fn info(sh: &Shared, cmd: Cmd) -> Result<(i32, MsgInfo), Errno> {
    let g = sh.lock()?;
    let clamp = |v: u64| v.min(i32::MAX as u64) as i32;
    let mut mi = MsgInfo {
        msgmax: clamp(g.get(H::MSGMAX)),
        msgmnb: clamp(g.get(H::MSGMNB)),
        msgmni: clamp(g.get(H::MSGMNI)),
        msgssz: MSGSSZ,
        msgseg: MSGSEG,
        ..Default::default()
    };
    if cmd == Cmd::MsgInfo {
        let (mut hdrs, mut bytes) = (0u64, 0u64);
        let max = g.get(H::MAX_IDX) as i64;
        for i in 0..=max.min(IPCMNI as i64 - 1) {
            if let Some(q) = Queue::at_off(g.get(IDS_OFF + 8 * i as u64)) {
                hdrs += g.get(q.at(Q::QNUM));
                bytes += g.get(q.at(Q::CBYTES));
            }
        }
        mi.msgpool = clamp(g.get(H::IN_USE));
        // The kernel casts to int before clamping (min_t(int, ...)): keep the low 32 bits.
        mi.msgmap = hdrs as i32;
        mi.msgtql = bytes as i32;
    } else {
        mi.msgpool = MSGPOOL;
        mi.msgmap = MSGMAP;
        mi.msgtql = MSGTQL;
    }
    let max = g.get(H::MAX_IDX) as i64;
    Ok((max.max(0) as i32, mi))
}

fn sysctl_word(which: Sysctl) -> Option<u64> {
    match which {
        Sysctl::Msgmax => Some(H::MSGMAX),
        Sysctl::Msgmnb => Some(H::MSGMNB),
        Sysctl::Msgmni => Some(H::MSGMNI),
        Sysctl::MsgNextId => Some(H::NEXT_ID),
        Sysctl::AutoMsgmni => None,
    }
}

/// Reads a sysctl.
pub fn sysctl(sh: &Shared, which: Sysctl) -> Result<i64, Errno> {
    let g = sh.lock()?;
    Ok(sysctl_word(which).map_or(0, |w| {
        let v = g.get(w);
        if which == Sysctl::MsgNextId {
            v as i64
        } else {
            v as u32 as i64
        }
    }))
}

/// Writes a sysctl (the kernel's range checks apply).
pub fn set_sysctl(sh: &Shared, which: Sysctl, value: i64) -> Result<(), Errno> {
    let v = which.validate(value)?;
    let mut g = sh.lock()?;
    if let Some(w) = sysctl_word(which) {
        g.put(w, v as u64);
    }
    g.commit();
    Ok(())
}

/// The `/proc/sysvipc/msg` text: every queue, in index order.
pub fn proc_text(sh: &Shared) -> Result<String, Errno> {
    let g = sh.lock()?;
    let mut s = String::from(procfmt::HEADER);
    let max = g.get(H::MAX_IDX) as i64;
    for i in 0..=max.min(IPCMNI as i64 - 1) {
        let Some(q) = Queue::at_off(g.get(IDS_OFF + 8 * i as u64)) else {
            continue;
        };
        let d = fill(&g, q);
        let row = procfmt::Row {
            key: d.msg_perm.key,
            id: g.get(q.at(Q::ID)) as i32,
            mode: d.msg_perm.mode,
            cbytes: d.msg_cbytes,
            qnum: d.msg_qnum,
            lspid: d.msg_lspid as u32,
            lrpid: d.msg_lrpid as u32,
            uid: d.msg_perm.uid,
            gid: d.msg_perm.gid,
            cuid: d.msg_perm.cuid,
            cgid: d.msg_perm.cgid,
            stime: d.msg_stime as u64,
            rtime: d.msg_rtime as u64,
            ctime: d.msg_ctime as u64,
        };
        let _ = row.write_to(&mut s);
    }
    Ok(s)
}
