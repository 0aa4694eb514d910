//! The x86_64 userspace ABI: flag and command values, and the byte layouts of the structs
//! `msgctl` exchanges (glibc 2.36 = kernel `ipc64_perm`/`msqid64_ds`/`msginfo`).
//!
//! Every struct spells out its padding as named fields, so a zeroed value has no
//! uninitialised bytes and can be copied to userspace as it is.

pub const IPC_PRIVATE: i32 = 0;
pub const IPC_CREAT: i32 = 0o1000;
pub const IPC_EXCL: i32 = 0o2000;
pub const IPC_NOWAIT: i32 = 0o4000;
pub const MSG_NOERROR: i32 = 0o10000;
pub const MSG_EXCEPT: i32 = 0o20000;
pub const MSG_COPY: i32 = 0o40000;

pub const IPC_RMID: i32 = 0;
pub const IPC_SET: i32 = 1;
pub const IPC_STAT: i32 = 2;
pub const IPC_INFO: i32 = 3;
pub const MSG_STAT: i32 = 11;
pub const MSG_INFO: i32 = 12;
pub const MSG_STAT_ANY: i32 = 13;

/// The compile-time constants of `linux/msg.h`.
pub const MSGMNI: u32 = 32000;
pub const MSGMAX: u32 = 8192;
pub const MSGMNB: u32 = 16384;
pub const MSGPOOL: i32 = (MSGMNI as i32 * MSGMNB as i32) / 1024;
pub const MSGTQL: i32 = MSGMNB as i32;
pub const MSGMAP: i32 = MSGMNB as i32;
pub const MSGSSZ: i32 = 16;
pub const MSGSEG: u16 = 0xffff;

/// System call numbers on x86_64.
pub const SYS_MSGGET: i64 = 68;
pub const SYS_MSGSND: i64 = 69;
pub const SYS_MSGRCV: i64 = 70;
pub const SYS_MSGCTL: i64 = 71;

/// `struct ipc_perm` (48 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpcPerm {
    pub key: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    pub mode: u32,
    pub seq: u16,
    pub pad2: u16,
    pub pad3: u32,
    pub reserved1: u64,
    pub reserved2: u64,
}

/// `struct msqid_ds` (120 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsqidDs {
    pub msg_perm: IpcPerm,
    pub msg_stime: i64,
    pub msg_rtime: i64,
    pub msg_ctime: i64,
    pub msg_cbytes: u64,
    pub msg_qnum: u64,
    pub msg_qbytes: u64,
    pub msg_lspid: i32,
    pub msg_lrpid: i32,
    pub reserved4: u64,
    pub reserved5: u64,
}

/// `struct msginfo` (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsgInfo {
    pub msgpool: i32,
    pub msgmap: i32,
    pub msgmax: i32,
    pub msgmnb: i32,
    pub msgmni: i32,
    pub msgssz: i32,
    pub msgtql: i32,
    pub msgseg: u16,
    pub pad: u16,
}

const _: () = assert!(core::mem::size_of::<IpcPerm>() == 48);
const _: () = assert!(core::mem::size_of::<MsqidDs>() == 120);
const _: () = assert!(core::mem::size_of::<MsgInfo>() == 32);
const _: () = assert!(core::mem::offset_of!(MsqidDs, msg_qbytes) == 88);
const _: () = assert!(core::mem::offset_of!(MsqidDs, msg_lspid) == 96);
const _: () = assert!(core::mem::offset_of!(IpcPerm, seq) == 24);

macro_rules! as_bytes_impl {
    ($t:ty) => {
        impl $t {
            /// The struct's bytes, as they are copied to userspace.
            pub fn as_bytes(&self) -> &[u8] {
                // SAFETY: the type is repr(C), made only of integers, with every padding byte
                // spelled out as a named field, so all of its bytes are initialised.
                unsafe {
                    core::slice::from_raw_parts(
                        (self as *const Self).cast::<u8>(),
                        core::mem::size_of::<Self>(),
                    )
                }
            }

            /// Reads the struct from bytes copied in from userspace (`bytes` must be at least
            /// the struct's size; extra bytes are ignored).
            pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
                if bytes.len() < core::mem::size_of::<Self>() {
                    return None;
                }
                // SAFETY: the length was checked; every bit pattern is a valid value of this
                // integer-only struct, and read_unaligned has no alignment requirement.
                Some(unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast::<Self>()) })
            }
        }
    };
}
as_bytes_impl!(MsqidDs);
as_bytes_impl!(MsgInfo);
