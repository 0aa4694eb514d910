//! Permission rules: `ipcperms` (mode access) and the control right of IPC_SET/IPC_RMID.

use crate::errno::Errno;

/// The ownership and mode of a queue (`struct kern_ipc_perm`'s relevant fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Perm {
    pub key: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    /// Only the low 9 bits are meaningful.
    pub mode: u32,
}

/// What a permission check needs to know about the caller.
pub trait Caller {
    /// Effective user id.
    fn euid(&self) -> u32;
    /// Linux's `in_group_p`: the fsgid or one of the supplementary groups.
    fn in_group(&self, gid: u32) -> bool;
    /// `CAP_IPC_OWNER` over the IPC namespace's user namespace.
    fn cap_ipc_owner(&self) -> bool;
    /// `CAP_SYS_ADMIN` over the IPC namespace's user namespace.
    fn cap_sys_admin(&self) -> bool;
    /// `CAP_SYS_RESOURCE` in the initial user namespace.
    fn cap_sys_resource(&self) -> bool;
}

/// Access requested by `msgsnd`.
pub const WRITE: i32 = 0o222;
/// Access requested by `msgrcv`, `IPC_STAT` and `MSG_STAT`.
pub const READ: i32 = 0o444;

/// The rwx bits a `flag` asks for: its three triplets OR-ed together.
#[inline]
pub const fn requested(flag: i32) -> u32 {
    (((flag >> 6) | (flag >> 3) | flag) & 7) as u32
}

/// The class bits that apply to `caller` (owner, else group, else other; no fallthrough).
#[inline]
pub fn granted(perm: &Perm, caller: &impl Caller) -> u32 {
    let euid = caller.euid();
    let shift = if euid == perm.cuid || euid == perm.uid {
        6
    } else if caller.in_group(perm.cgid) || caller.in_group(perm.gid) {
        3
    } else {
        0
    };
    (perm.mode >> shift) & 7
}

/// Linux's `ipcperms`: `Err(EACCES)` when a requested bit is not granted and the caller
/// lacks `CAP_IPC_OWNER`.
#[inline]
pub fn ipcperms(perm: &Perm, caller: &impl Caller, flag: i32) -> Result<(), Errno> {
    let req = requested(flag);
    if req & !granted(perm, caller) != 0 && !caller.cap_ipc_owner() {
        return Err(Errno::EACCES);
    }
    Ok(())
}

/// The right to `IPC_SET`/`IPC_RMID`: owner, creator, or `CAP_SYS_ADMIN`; else `EPERM`.
pub fn may_control(perm: &Perm, caller: &impl Caller) -> Result<(), Errno> {
    let euid = caller.euid();
    if euid == perm.uid || euid == perm.cuid || caller.cap_sys_admin() {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct C {
        uid: u32,
        groups: &'static [u32],
        owner: bool,
    }
    impl Caller for C {
        fn euid(&self) -> u32 {
            self.uid
        }
        fn in_group(&self, gid: u32) -> bool {
            self.groups.contains(&gid)
        }
        fn cap_ipc_owner(&self) -> bool {
            self.owner
        }
        fn cap_sys_admin(&self) -> bool {
            self.owner
        }
        fn cap_sys_resource(&self) -> bool {
            false
        }
    }

    fn q(mode: u32) -> Perm {
        Perm {
            key: 1,
            uid: 0,
            gid: 0,
            cuid: 0,
            cgid: 0,
            mode,
        }
    }

    #[test]
    fn classes_do_not_fall_through() {
        let u = C {
            uid: 1000,
            groups: &[1000],
            owner: false,
        };
        assert_eq!(ipcperms(&q(0o600), &u, 0), Ok(()));
        assert_eq!(ipcperms(&q(0o600), &u, 0o001), Err(Errno::EACCES));
        assert_eq!(ipcperms(&q(0o606), &u, READ), Ok(()));
        let g = C {
            uid: 1000,
            groups: &[0],
            owner: false,
        };
        assert_eq!(ipcperms(&q(0o606), &g, READ), Err(Errno::EACCES));
        assert_eq!(ipcperms(&q(0o060), &g, WRITE), Ok(()));
        let owner = C {
            uid: 0,
            groups: &[],
            owner: false,
        };
        assert_eq!(ipcperms(&q(0o066), &owner, WRITE), Err(Errno::EACCES));
        let root = C {
            uid: 5,
            groups: &[],
            owner: true,
        };
        assert_eq!(ipcperms(&q(0), &root, READ), Ok(()));
    }

    #[test]
    fn requested_ors_triplets() {
        assert_eq!(requested(0o070), 7);
        assert_eq!(requested(0o060), 6);
        assert_eq!(requested(0o1001), 1);
    }

    #[test]
    fn control() {
        let mut p = q(0o666);
        p.cuid = 1000;
        p.uid = 2000;
        assert_eq!(
            may_control(
                &p,
                &C {
                    uid: 1000,
                    groups: &[],
                    owner: false
                }
            ),
            Ok(())
        );
        assert_eq!(
            may_control(
                &p,
                &C {
                    uid: 3,
                    groups: &[],
                    owner: false
                }
            ),
            Err(Errno::EPERM)
        );
    }
}
