//! The pure rules of Linux System V message queues, shared by both msgq backends.
//!
//! Nothing here touches memory that is not its own, allocates, or makes a system call:
//! every function is a decision taken from plain values, so the userspace engine
//! (`msgq-user`) and the kernel module (`msgq-kmod`, which includes these files with
//! `#[path]`) take the same decisions and cannot drift.
//!
//! * [`abi`]: constants and the x86_64 glibc struct layouts (`msqid_ds`, `ipc_perm`, `msginfo`).
//! * [`errno`]: the errno values Linux returns.
//! * [`select`]: which message a `msgrcv(msgtyp, msgflg)` wants.
//! * [`perm`]: `ipcperms` and the owner/creator control rule.
//! * [`limits`]: `msgmax`/`msgmnb`/`msgmni`, the space test and `IPC_SET`'s qbytes rule.
//! * [`ids`]: id encoding and the kernel's cyclic index allocation.
//! * [`checks`]: argument checks of the four calls, in the kernel's order.
//! * [`get`]: `msgget`'s decision order and a new queue's `ipc_perm`.
//! * [`ctl`]: `IPC_SET` (who may, what changes), `msqid_ds` from a queue's fields, `msginfo`.
//! * [`wakeup`]: which blocked callers a change wakes (`ss_wakeup`'s rotation) and which
//!   receiver a sent message is handed to (`pipelined_send`).
//! * [`procfmt`]: the `/proc/sysvipc/msg` text format.
//! * [`ext`]: the rules of msgq's extensions (timeouts, purge, urgent, overwrite, abort,
//!   broadcast, peek).
//! * [`ioctl`]: the `/dev/msgq` ioctl ABI shared by the kernel module and the shim.
#![no_std]

pub mod abi;
pub mod checks;
pub mod ctl;
pub mod errno;
pub mod ext;
pub mod get;
pub mod ids;
pub mod ioctl;
pub mod limits;
pub mod perm;
pub mod procfmt;
pub mod select;
pub mod wakeup;

pub use errno::Errno;
