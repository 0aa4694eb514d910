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
//!
//! [`Errno`] implements [`core::error::Error`], so `?` turns it into a
//! `Box<dyn Error>`. With the `std` feature (which `msgq-user` turns on) it also converts
//! into [`std::io::Error`] (`From<Errno>`, the OS error of the same number). Both impls
//! are here in the crate root rather than in `errno.rs`, which the kernel module includes
//! by itself.
#![no_std]

#[cfg(feature = "std")]
extern crate std;

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

impl core::error::Error for Errno {}

/// `Errno(e)` becomes `io::Error::from_raw_os_error(e)`: its `raw_os_error()` is `Some(e)`
/// and its `kind()` is the standard library's for that errno (`EAGAIN`: `WouldBlock`...).
#[cfg(feature = "std")]
impl From<Errno> for std::io::Error {
    fn from(e: Errno) -> std::io::Error {
        std::io::Error::from_raw_os_error(e.0)
    }
}
