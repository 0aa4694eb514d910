//! Thin wrappers over the few system calls the engine makes (all off the fast path, except
//! the futex wake when someone is waiting).

pub mod creds;
pub mod futex;
#[cfg(not(loom))]
pub mod ipc;
pub mod liveness;
pub mod process;
#[cfg(not(loom))]
pub mod robust;
#[cfg(not(loom))]
pub mod spin;
pub mod usermem;
