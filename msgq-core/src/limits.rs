//! Limits (the `msgmax`/`msgmnb`/`msgmni` sysctls), the space test, and IPC_SET's qbytes rule.

use crate::errno::Errno;
use crate::ids::IPCMNI;

/// The per-namespace (per-store) limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub msgmax: u32,
    pub msgmnb: u32,
    pub msgmni: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            msgmax: crate::abi::MSGMAX,
            msgmnb: crate::abi::MSGMNB,
            msgmni: crate::abi::MSGMNI,
        }
    }
}

/// A sysctl of the message-queue family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sysctl {
    Msgmax,
    Msgmnb,
    Msgmni,
    MsgNextId,
    AutoMsgmni,
}

impl Sysctl {
    /// The file name under `/proc/sys/kernel/`.
    pub const fn name(self) -> &'static str {
        match self {
            Sysctl::Msgmax => "msgmax",
            Sysctl::Msgmnb => "msgmnb",
            Sysctl::Msgmni => "msgmni",
            Sysctl::MsgNextId => "msg_next_id",
            Sysctl::AutoMsgmni => "auto_msgmni",
        }
    }

    /// Parses a file name under `/proc/sys/kernel/`.
    pub fn from_name(name: &str) -> Option<Sysctl> {
        Some(match name {
            "msgmax" => Sysctl::Msgmax,
            "msgmnb" => Sysctl::Msgmnb,
            "msgmni" => Sysctl::Msgmni,
            "msg_next_id" => Sysctl::MsgNextId,
            "auto_msgmni" => Sysctl::AutoMsgmni,
            _ => return None,
        })
    }

    /// The `which` number of the sysctl in the `/dev/msgq` ioctl ([`crate::ioctl::Sysctl`]).
    pub const fn index(self) -> u32 {
        match self {
            Sysctl::Msgmax => 0,
            Sysctl::Msgmnb => 1,
            Sysctl::Msgmni => 2,
            Sysctl::MsgNextId => 3,
            Sysctl::AutoMsgmni => 4,
        }
    }

    /// The sysctl of a `which` number, `None` for any other.
    pub const fn from_index(which: u32) -> Option<Sysctl> {
        Some(match which {
            0 => Sysctl::Msgmax,
            1 => Sysctl::Msgmnb,
            2 => Sysctl::Msgmni,
            3 => Sysctl::MsgNextId,
            4 => Sysctl::AutoMsgmni,
            _ => return None,
        })
    }

    /// Checks a value written to the sysctl: `EINVAL` outside the kernel's range.
    pub fn validate(self, value: i64) -> Result<i64, Errno> {
        let (lo, hi) = match self {
            Sysctl::Msgmax | Sysctl::Msgmnb | Sysctl::MsgNextId => (0, i32::MAX as i64),
            Sysctl::Msgmni => (0, IPCMNI as i64),
            Sysctl::AutoMsgmni => (0, 1),
        };
        if value < lo || value > hi {
            Err(Errno::EINVAL)
        } else {
            Ok(value)
        }
    }
}

/// The space test of `msgsnd` (2.1 d): bytes fit and, the quirk, the message *count* plus one
/// stays within the *byte* limit.
pub const fn fits(msgsz: u64, cbytes: u64, qnum: u64, qbytes: u64) -> bool {
    match (msgsz.checked_add(cbytes), qnum.checked_add(1)) {
        (Some(b), Some(n)) => b <= qbytes && n <= qbytes,
        _ => false,
    }
}

/// `IPC_SET`'s qbytes: the value goes through a C `int`. `EPERM` when its low 32 bits,
/// unsigned, exceed `msgmnb` and the caller lacks `CAP_SYS_RESOURCE`; the stored value is
/// that `int` sign-extended to 64 bits.
pub const fn set_qbytes(requested: u64, msgmnb: u32, cap_sys_resource: bool) -> Result<u64, Errno> {
    let as_int = requested as u32 as i32;
    if (as_int as u32) > msgmnb && !cap_sys_resource {
        return Err(Errno::EPERM);
    }
    Ok(as_int as i64 as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_counts_messages_against_bytes() {
        assert!(fits(0, 0, 2, 3));
        assert!(!fits(0, 0, 3, 3));
        assert!(fits(0, 3, 1, 3));
        assert!(!fits(1, 3, 1, 3));
        assert!(!fits(0, 0, 0, 0));
        assert!(!fits(u64::MAX, 1, 0, u64::MAX));
    }

    #[test]
    fn qbytes_through_int() {
        assert_eq!(set_qbytes((1 << 32) + 50, 16384, false), Ok(50));
        assert_eq!(set_qbytes(0x8000_0000, 16384, false), Err(Errno::EPERM));
        assert_eq!(
            set_qbytes(0x8000_0000, 16384, true),
            Ok(0xFFFF_FFFF_8000_0000)
        );
        assert_eq!(set_qbytes(0xFFFF_FFFF, 16384, true), Ok(u64::MAX));
        assert_eq!(set_qbytes(16385, 16384, false), Err(Errno::EPERM));
        assert_eq!(set_qbytes(0, 16384, false), Ok(0));
    }

    #[test]
    fn sysctl_ranges() {
        assert_eq!(Sysctl::Msgmax.validate(-1), Err(Errno::EINVAL));
        assert_eq!(Sysctl::Msgmni.validate(32769), Err(Errno::EINVAL));
        assert_eq!(Sysctl::Msgmni.validate(32768), Ok(32768));
        assert_eq!(Sysctl::Msgmnb.validate(2147483648), Err(Errno::EINVAL));
        assert_eq!(Sysctl::AutoMsgmni.validate(2), Err(Errno::EINVAL));
        assert_eq!(Sysctl::MsgNextId.validate(-1), Err(Errno::EINVAL));
    }

    #[test]
    fn sysctl_indexes_round_trip() {
        let all = [
            Sysctl::Msgmax,
            Sysctl::Msgmnb,
            Sysctl::Msgmni,
            Sysctl::MsgNextId,
            Sysctl::AutoMsgmni,
        ];
        for (i, s) in all.into_iter().enumerate() {
            assert_eq!(s.index(), i as u32);
            assert_eq!(Sysctl::from_index(i as u32), Some(s));
        }
        assert_eq!(Sysctl::from_index(5), None);
        assert_eq!(Sysctl::from_index(u32::MAX), None);
    }
}
