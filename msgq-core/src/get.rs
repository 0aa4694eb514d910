//! `msgget`'s decision order (Linux's `ipcget`): an existing key, then `IPC_CREAT` and
//! `IPC_EXCL`, then `msgmni`, then the permission of an existing queue; and what a new
//! queue's `ipc_perm` is.

use crate::abi::{IPC_CREAT, IPC_EXCL, IPC_PRIVATE};
use crate::errno::Errno;
use crate::ids::IPCMNI;
use crate::perm::{ipcperms, Caller, Perm};

/// What `msgget` does once the key was looked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Get {
    /// Return the existing queue's id, after [`open`] allowed it.
    Open,
    /// Make a new queue, after [`may_create`] allowed it.
    Create,
}

/// The decision of `msgget(key, msgflg)`: `IPC_PRIVATE` always creates; a key with a queue
/// (`exists`) is `EEXIST` under `IPC_CREAT | IPC_EXCL`, else opened; a key without one is
/// `ENOENT` without `IPC_CREAT`, else created.
pub const fn msgget(key: i32, msgflg: i32, exists: bool) -> Result<Get, Errno> {
    if key == IPC_PRIVATE {
        return Ok(Get::Create);
    }
    if exists {
        if msgflg & IPC_CREAT != 0 && msgflg & IPC_EXCL != 0 {
            return Err(Errno::EEXIST);
        }
        return Ok(Get::Open);
    }
    if msgflg & IPC_CREAT == 0 {
        return Err(Errno::ENOENT);
    }
    Ok(Get::Create)
}

/// Opening an existing queue: the access `msgflg`'s mode bits ask for (`EACCES`).
pub fn open(perm: &Perm, caller: &impl Caller, msgflg: i32) -> Result<(), Errno> {
    ipcperms(perm, caller, msgflg)
}

/// Whether one more queue may be made when `in_use` are live: `ENOSPC` at `msgmni` (never
/// more than `IPCMNI`, whatever `msgmni` says).
pub const fn may_create(in_use: u64, msgmni: u64) -> Result<(), Errno> {
    let max = if msgmni < IPCMNI as u64 {
        msgmni
    } else {
        IPCMNI as u64
    };
    if in_use >= max {
        Err(Errno::ENOSPC)
    } else {
        Ok(())
    }
}

/// The `ipc_perm` of a new queue: the caller owns and created it, with the low 9 bits of
/// `msgflg` as its mode.
pub const fn new_perm(key: i32, msgflg: i32, euid: u32, egid: u32) -> Perm {
    Perm {
        key,
        uid: euid,
        gid: egid,
        cuid: euid,
        cgid: egid,
        mode: (msgflg & 0o777) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_order() {
        let ce = IPC_CREAT | IPC_EXCL;
        assert_eq!(msgget(IPC_PRIVATE, 0, true), Ok(Get::Create));
        assert_eq!(msgget(IPC_PRIVATE, ce, false), Ok(Get::Create));
        assert_eq!(msgget(5, ce, true), Err(Errno::EEXIST));
        assert_eq!(msgget(5, IPC_EXCL, true), Ok(Get::Open));
        assert_eq!(msgget(5, IPC_CREAT, true), Ok(Get::Open));
        assert_eq!(msgget(5, IPC_EXCL, false), Err(Errno::ENOENT));
        assert_eq!(msgget(5, IPC_CREAT, false), Ok(Get::Create));
    }

    #[test]
    fn room() {
        assert_eq!(may_create(0, 0), Err(Errno::ENOSPC));
        assert_eq!(may_create(31999, 32000), Ok(()));
        assert_eq!(may_create(32000, 32000), Err(Errno::ENOSPC));
        assert_eq!(may_create(32767, u64::MAX), Ok(()));
        assert_eq!(may_create(32768, u64::MAX), Err(Errno::ENOSPC));
    }

    #[test]
    fn creator_owns() {
        let p = new_perm(9, IPC_CREAT | 0o7640, 10, 20);
        assert_eq!((p.key, p.uid, p.cuid, p.gid, p.cgid), (9, 10, 10, 20, 20));
        assert_eq!(p.mode, 0o640);
    }
}
