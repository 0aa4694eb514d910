//! Thin wrappers over the few system calls the engine makes (all off the fast path, except
//! the futex wake when someone is waiting).

pub mod creds;
pub(crate) mod futex;
#[cfg(not(loom))]
pub(crate) mod ipc;
pub(crate) mod liveness;
pub mod process;
#[cfg(not(loom))]
pub(crate) mod robust;
#[cfg(not(loom))]
pub(crate) mod spin;
pub mod usermem;
