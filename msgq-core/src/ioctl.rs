//! The `/dev/msgq` ioctl ABI: one definition for the kernel module and the shim.
//!
//! Every request is a `#[repr(C)]` struct of fixed-width fields with no implicit padding
//! (pointers travel as `u64`), so 32- and 64-bit callers share one layout. Every struct
//! starts with `version`: the module refuses any other value with `EPROTO`, so a shim and
//! a module built from different versions fail clearly instead of misreading each other.
//! An ioctl returns what the system call would (an id, a byte count, 0) or `-errno`.

/// The ABI version this file describes.
pub const VERSION: u32 = 1;
/// The ioctl type byte.
pub const TYPE: u32 = b'Q' as u32;
/// errno for a version mismatch.
pub const EPROTO: i32 = 71;

/// `msgget(key, msgflg)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsgGet {
    pub version: u32,
    pub key: i32,
    pub msgflg: i32,
    pub pad: u32,
}

/// `msgsnd(msqid, msgp, msgsz, msgflg)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsgSnd {
    pub version: u32,
    pub msqid: i32,
    pub msgflg: i32,
    pub pad: u32,
    pub msgp: u64,
    pub msgsz: u64,
}

/// `msgrcv(msqid, msgp, msgsz, msgtyp, msgflg)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsgRcv {
    pub version: u32,
    pub msqid: i32,
    pub msgflg: i32,
    pub pad: u32,
    pub msgp: u64,
    pub msgsz: u64,
    pub msgtyp: i64,
}

/// `msgctl(msqid, cmd, buf)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsgCtl {
    pub version: u32,
    pub msqid: i32,
    pub cmd: i32,
    pub pad: u32,
    pub buf: u64,
}

/// Read (`write == 0`) or write a limit; `which` is [`crate::limits::Sysctl::index`]:
/// 0 msgmax, 1 msgmnb, 2 msgmni, 3 msg_next_id, 4 auto_msgmni. The ioctl returns 0 and
/// stores the value in force afterwards in `value` (a return value could not carry
/// `msg_next_id`'s -1). Writing needs `CAP_SYS_ADMIN`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sysctl {
    pub version: u32,
    pub which: u32,
    pub write: u32,
    pub pad: u32,
    pub value: i64,
}

/// Makes this open file of `/dev/msgq` pollable for one queue and selector: `poll()`
/// then reports `POLLIN` when `msgrcv(msqid, _, _, msgtyp, msgflg)` would find a message,
/// `POLLOUT` when a `msgsz`-byte `msgsnd` would fit, and `POLLERR` once the queue is gone.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Watch {
    pub version: u32,
    pub msqid: i32,
    pub msgflg: i32,
    pub pad: u32,
    pub msgtyp: i64,
    pub msgsz: u64,
}

/// Removes every queue (blocked callers get `EIDRM`) and restores the load-time limits and
/// a fresh id allocation: a new, empty namespace, as `unshare(CLONE_NEWIPC)` gives. Needs
/// `CAP_SYS_ADMIN`. For tests (the module has one namespace for the whole system).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reset {
    pub version: u32,
    pub pad: u32,
}

/// A deadline for the timed calls: `present == 0` means none (block without limit).
/// `clockid` and the time are checked by [`crate::ext::deadline`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeout {
    pub present: u32,
    pub clockid: i32,
    pub sec: i64,
    pub nsec: i64,
}

/// `msgq_timedsnd(msqid, msgp, msgsz, msgflg, clockid, abstime)`; `msgflg` may hold the
/// send extension bits (`crate::ext`). Returns 0, or with `MSGQ_OVERWRITE` the number of
/// messages dropped, or with `MSGQ_BROADCAST` the number of receivers given a copy.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimedSnd {
    pub version: u32,
    pub msqid: i32,
    pub msgflg: i32,
    pub pad: u32,
    pub msgp: u64,
    pub msgsz: u64,
    pub timeout: Timeout,
}

/// `msgq_timedrcv(msqid, msgp, msgsz, msgtyp, msgflg, clockid, abstime)`; `msgflg` may
/// hold `MSGQ_PEEK`. Returns the number of bytes copied, as `msgrcv`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimedRcv {
    pub version: u32,
    pub msqid: i32,
    pub msgflg: i32,
    pub pad: u32,
    pub msgp: u64,
    pub msgsz: u64,
    pub msgtyp: i64,
    pub timeout: Timeout,
}

/// `msgq_purge(msqid)`: returns the number of messages discarded.
/// `msgq_abort(msqid, which)`: returns the number of callers woken with `ECANCELED`
/// (`which` is unused by purge).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueOp {
    pub version: u32,
    pub msqid: i32,
    pub which: i32,
    pub pad: u32,
}

const _: () = assert!(core::mem::size_of::<Timeout>() == 24);
const _: () = assert!(core::mem::size_of::<TimedSnd>() == 56);
const _: () = assert!(core::mem::size_of::<TimedRcv>() == 64);
const _: () = assert!(core::mem::size_of::<QueueOp>() == 16);
const _: () = assert!(core::mem::size_of::<MsgGet>() == 16);
const _: () = assert!(core::mem::size_of::<MsgSnd>() == 32);
const _: () = assert!(core::mem::size_of::<MsgRcv>() == 40);
const _: () = assert!(core::mem::size_of::<MsgCtl>() == 24);
const _: () = assert!(core::mem::size_of::<Sysctl>() == 24);
const _: () = assert!(core::mem::size_of::<Watch>() == 32);
const _: () = assert!(core::mem::size_of::<Reset>() == 8);

/// `_IOWR(TYPE, nr, size)` as Linux encodes it.
pub const fn iowr(nr: u32, size: usize) -> u32 {
    (3 << 30) | ((size as u32) << 16) | (TYPE << 8) | nr
}

pub const MSGQ_GET: u32 = iowr(1, core::mem::size_of::<MsgGet>());
pub const MSGQ_SND: u32 = iowr(2, core::mem::size_of::<MsgSnd>());
pub const MSGQ_RCV: u32 = iowr(3, core::mem::size_of::<MsgRcv>());
pub const MSGQ_CTL: u32 = iowr(4, core::mem::size_of::<MsgCtl>());
pub const MSGQ_SYSCTL: u32 = iowr(5, core::mem::size_of::<Sysctl>());
pub const MSGQ_WATCH: u32 = iowr(6, core::mem::size_of::<Watch>());
pub const MSGQ_RESET: u32 = iowr(7, core::mem::size_of::<Reset>());
pub const MSGQ_TIMEDSND: u32 = iowr(8, core::mem::size_of::<TimedSnd>());
pub const MSGQ_TIMEDRCV: u32 = iowr(9, core::mem::size_of::<TimedRcv>());
pub const MSGQ_PURGE: u32 = iowr(10, core::mem::size_of::<QueueOp>());
pub const MSGQ_ABORT: u32 = iowr(11, core::mem::size_of::<QueueOp>());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_distinct_and_encode_sizes() {
        let all = [
            MSGQ_GET,
            MSGQ_SND,
            MSGQ_RCV,
            MSGQ_CTL,
            MSGQ_SYSCTL,
            MSGQ_WATCH,
            MSGQ_RESET,
            MSGQ_TIMEDSND,
            MSGQ_TIMEDRCV,
            MSGQ_PURGE,
            MSGQ_ABORT,
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!((MSGQ_RCV >> 16) & 0x3fff, 40);
        assert_eq!((MSGQ_GET >> 8) & 0xff, b'Q' as u32);
    }
}
