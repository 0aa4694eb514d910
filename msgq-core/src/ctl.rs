//! `msgctl`'s rules on plain values: what `IPC_SET` changes (and who may), the `msqid_ds`
//! that `IPC_STAT`/`MSG_STAT` report from a queue's fields, and the `msginfo` of
//! `IPC_INFO`/`MSG_INFO`.

use crate::abi::{IpcPerm, MsgInfo, MsqidDs, MSGMAP, MSGPOOL, MSGSEG, MSGSSZ, MSGTQL};
use crate::checks::Cmd;
use crate::errno::Errno;
use crate::limits::{set_qbytes, Limits};
use crate::perm::{may_control, Caller, Perm};

/// What `IPC_SET` writes into a queue (with `ctime` set to now, and every blocked caller
/// woken to look again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Set {
    pub uid: u32,
    pub gid: u32,
    /// The whole new mode: the queue's bits above 0777 kept, the low 9 bits from the struct.
    pub mode: u32,
    pub qbytes: u64,
}

impl Set {
    /// The queue's `ipc_perm` after the change.
    pub const fn perm(self, old: Perm) -> Perm {
        Perm {
            uid: self.uid,
            gid: self.gid,
            mode: self.mode,
            ..old
        }
    }
}

/// `IPC_SET` on a queue with `perm`, the struct `ds` already copied in, in the kernel's
/// order: the control right (`EPERM`: owner, creator or `CAP_SYS_ADMIN`), the qbytes rule
/// (`EPERM` above `msgmnb` without `CAP_SYS_RESOURCE`, see [`set_qbytes`]), then an invalid
/// uid or gid (`(uid_t)-1`: `EINVAL`). Nothing is changed on an error.
pub fn ipc_set(perm: &Perm, caller: &impl Caller, ds: &MsqidDs, msgmnb: u32) -> Result<Set, Errno> {
    may_control(perm, caller)?;
    let qbytes = set_qbytes(ds.msg_qbytes, msgmnb, caller.cap_sys_resource())?;
    // `make_kuid`/`make_kgid` of (uid_t)-1 is invalid.
    if ds.msg_perm.uid == u32::MAX || ds.msg_perm.gid == u32::MAX {
        return Err(Errno::EINVAL);
    }
    Ok(Set {
        uid: ds.msg_perm.uid,
        gid: ds.msg_perm.gid,
        mode: (perm.mode & !0o777) | (ds.msg_perm.mode & 0o777),
        qbytes,
    })
}

/// The fields of a queue that `IPC_STAT` reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueFields {
    pub perm: Perm,
    /// The sequence number in the queue's id.
    pub seq: u32,
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
    pub cbytes: u64,
    pub qnum: u64,
    pub qbytes: u64,
    pub lspid: i32,
    pub lrpid: i32,
}

/// How `IPC_STAT`, `MSG_STAT` and `MSG_STAT_ANY` find and check a queue, and what they
/// return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// `IPC_STAT` names the queue by its id (index and sequence number); the others name
    /// an index, and any queue there is the one.
    pub by_id: bool,
    /// Read permission is needed (`EACCES`), except for `MSG_STAT_ANY`.
    pub need_read: bool,
}

impl Stat {
    /// The rule of a stat command (`Cmd::Stat`, `Cmd::MsgStat` or `Cmd::MsgStatAny`).
    pub const fn of(cmd: Cmd) -> Stat {
        Stat {
            by_id: matches!(cmd, Cmd::Stat),
            need_read: !matches!(cmd, Cmd::MsgStatAny),
        }
    }

    /// What `msgctl` returns for the queue whose full id is `id`: 0 for `IPC_STAT`, the id
    /// for the commands that name an index.
    pub const fn ret(self, id: i32) -> i32 {
        if self.by_id {
            0
        } else {
            id
        }
    }
}

/// The `msqid_ds` of a queue (`IPC_STAT`, `MSG_STAT`, `MSG_STAT_ANY`): `seq` as the
/// struct's 16 bits, every reserved and padding field zero.
pub fn msqid_ds(q: &QueueFields) -> MsqidDs {
    let p = &q.perm;
    MsqidDs {
        msg_perm: IpcPerm {
            key: p.key,
            uid: p.uid,
            gid: p.gid,
            cuid: p.cuid,
            cgid: p.cgid,
            mode: p.mode,
            seq: q.seq as u16,
            ..Default::default()
        },
        msg_stime: q.stime,
        msg_rtime: q.rtime,
        msg_ctime: q.ctime,
        msg_cbytes: q.cbytes,
        msg_qnum: q.qnum,
        msg_qbytes: q.qbytes,
        msg_lspid: q.lspid,
        msg_lrpid: q.lrpid,
        ..Default::default()
    }
}

/// What `MSG_INFO` reports beyond `IPC_INFO`: the namespace's totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Live queues (`msgpool`).
    pub queues: u64,
    /// Messages in all queues (`msgmap`).
    pub msgs: u64,
    /// Text bytes in all queues (`msgtql`).
    pub bytes: u64,
}

impl Usage {
    /// Writes the totals into `mi` as `MSG_INFO` does: the queue count clamped to `INT_MAX`,
    /// the message and byte totals cast to `int` (Linux's `min_t(int, ..., INT_MAX)` casts
    /// before it takes the minimum: the low 32 bits).
    pub fn apply(self, mi: &mut MsgInfo) {
        mi.msgpool = clamp(self.queues);
        mi.msgmap = self.msgs as i32;
        mi.msgtql = self.bytes as i32;
    }
}

const fn clamp(v: u64) -> i32 {
    if v > i32::MAX as u64 {
        i32::MAX
    } else {
        v as i32
    }
}

/// The `msginfo` of `IPC_INFO` (`usage` `None`: the compile-time constants of
/// `linux/msg.h` for the pool, map and tql) or `MSG_INFO` (the totals), with the limits
/// in force (clamped to `INT_MAX`).
pub fn msginfo(limits: &Limits, usage: Option<Usage>) -> MsgInfo {
    let mut mi = MsgInfo {
        msgpool: MSGPOOL,
        msgmap: MSGMAP,
        msgmax: clamp(limits.msgmax as u64),
        msgmnb: clamp(limits.msgmnb as u64),
        msgmni: clamp(limits.msgmni as u64),
        msgssz: MSGSSZ,
        msgtql: MSGTQL,
        msgseg: MSGSEG,
        pad: 0,
    };
    if let Some(u) = usage {
        u.apply(&mut mi);
    }
    mi
}

#[cfg(test)]
mod tests {
    use super::*;

    struct C {
        uid: u32,
        admin: bool,
        resource: bool,
    }
    impl Caller for C {
        fn euid(&self) -> u32 {
            self.uid
        }
        fn in_group(&self, _: u32) -> bool {
            false
        }
        fn cap_ipc_owner(&self) -> bool {
            false
        }
        fn cap_sys_admin(&self) -> bool {
            self.admin
        }
        fn cap_sys_resource(&self) -> bool {
            self.resource
        }
    }

    fn ds(uid: u32, gid: u32, mode: u32, qbytes: u64) -> MsqidDs {
        let mut d = MsqidDs::default();
        d.msg_perm.uid = uid;
        d.msg_perm.gid = gid;
        d.msg_perm.mode = mode;
        d.msg_qbytes = qbytes;
        d
    }

    const OWNER: C = C {
        uid: 1000,
        admin: false,
        resource: false,
    };

    fn perm() -> Perm {
        Perm {
            key: 7,
            uid: 1000,
            gid: 100,
            cuid: 2000,
            cgid: 200,
            mode: 0o1640,
        }
    }

    #[test]
    fn set_changes_owner_mode_and_qbytes() {
        let s = ipc_set(&perm(), &OWNER, &ds(5, 6, 0o7777, 100), 16384).unwrap();
        assert_eq!(
            s,
            Set {
                uid: 5,
                gid: 6,
                mode: 0o1777,
                qbytes: 100
            }
        );
        let p = s.perm(perm());
        assert_eq!(
            (p.key, p.cuid, p.cgid, p.uid, p.mode),
            (7, 2000, 200, 5, 0o1777)
        );
        // The creator may too.
        let creator = C { uid: 2000, ..OWNER };
        assert!(ipc_set(&perm(), &creator, &ds(5, 6, 0, 0), 16384).is_ok());
    }

    #[test]
    fn set_order_of_errors() {
        let stranger = C { uid: 3, ..OWNER };
        // EPERM for the right comes before EINVAL for the uid and EPERM for qbytes.
        assert_eq!(
            ipc_set(&perm(), &stranger, &ds(u32::MAX, 0, 0, 1 << 20), 16384),
            Err(Errno::EPERM)
        );
        let admin = C {
            uid: 3,
            admin: true,
            resource: false,
        };
        assert!(ipc_set(&perm(), &admin, &ds(1, 1, 0, 16384), 16384).is_ok());
        // The qbytes EPERM comes before the uid EINVAL.
        assert_eq!(
            ipc_set(&perm(), &OWNER, &ds(u32::MAX, 0, 0, 16385), 16384),
            Err(Errno::EPERM)
        );
        assert_eq!(
            ipc_set(&perm(), &OWNER, &ds(u32::MAX, 0, 0, 16384), 16384),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            ipc_set(&perm(), &OWNER, &ds(0, u32::MAX, 0, 16384), 16384),
            Err(Errno::EINVAL)
        );
        let res = C {
            resource: true,
            ..OWNER
        };
        assert_eq!(
            ipc_set(&perm(), &res, &ds(0, 0, 0, 0x8000_0000), 16384).map(|s| s.qbytes),
            Ok(0xFFFF_FFFF_8000_0000)
        );
    }

    #[test]
    fn stat_struct() {
        let q = QueueFields {
            perm: perm(),
            seq: 0x1_0003,
            stime: 1,
            rtime: 2,
            ctime: 3,
            cbytes: 4,
            qnum: 5,
            qbytes: 6,
            lspid: 7,
            lrpid: 8,
        };
        let d = msqid_ds(&q);
        assert_eq!(d.msg_perm.seq, 3);
        assert_eq!(d.msg_perm.mode, 0o1640);
        assert_eq!((d.msg_perm.cuid, d.msg_perm.cgid), (2000, 200));
        assert_eq!((d.msg_stime, d.msg_rtime, d.msg_ctime), (1, 2, 3));
        assert_eq!((d.msg_cbytes, d.msg_qnum, d.msg_qbytes), (4, 5, 6));
        assert_eq!((d.msg_lspid, d.msg_lrpid), (7, 8));
        assert_eq!((d.reserved4, d.reserved5, d.msg_perm.pad3), (0, 0, 0));
    }

    #[test]
    fn stat_commands() {
        let s = Stat::of(Cmd::Stat);
        assert!(s.by_id && s.need_read);
        assert_eq!(s.ret(32770), 0);
        let s = Stat::of(Cmd::MsgStat);
        assert!(!s.by_id && s.need_read);
        assert_eq!(s.ret(32770), 32770);
        let s = Stat::of(Cmd::MsgStatAny);
        assert!(!s.by_id && !s.need_read);
        assert_eq!(s.ret(5), 5);
    }

    #[test]
    fn info_structs() {
        let l = Limits::default();
        let i = msginfo(&l, None);
        assert_eq!((i.msgpool, i.msgmap, i.msgtql), (MSGPOOL, MSGMAP, MSGTQL));
        assert_eq!((i.msgmax, i.msgmnb, i.msgmni), (8192, 16384, 32000));
        assert_eq!((i.msgssz, i.msgseg), (16, 0xffff));
        let big = Limits {
            msgmax: u32::MAX,
            ..l
        };
        assert_eq!(msginfo(&big, None).msgmax, i32::MAX);
        let u = Usage {
            queues: 3,
            msgs: (1 << 32) + 5,
            bytes: 0xFFFF_FFFF,
        };
        let m = msginfo(&l, Some(u));
        assert_eq!((m.msgpool, m.msgmap, m.msgtql), (3, 5, -1));
        let mut k = MsgInfo::default();
        Usage {
            queues: u64::MAX,
            ..u
        }
        .apply(&mut k);
        assert_eq!(k.msgpool, i32::MAX);
    }
}
