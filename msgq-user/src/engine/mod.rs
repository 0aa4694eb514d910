//! The engine: SysV semantics over the shared store.
//!
//! * `guard`: taking a shard's (or the registry's) lock, crash recovery, commit/rollback, deferred wake-ups.
//! * `lists`: intrusive doubly-linked lists of records in the store.
//! * `queue`: a queue's messages: global FIFO, per-type FIFOs, the sorted set of types.
//! * `waiters`: blocked receivers and senders, hand-off, waking senders, removal.
//! * `wait`: sleeping on a waiter's futex word until its state changes.
//! * `ops`: `msgsnd`, `msgrcv` (with the extensions: deadlines, urgent, overwrite,
//!   broadcast, peek), and `msgget`'s part in the shard.
//! * `manage`: `msgq_purge` and `msgq_abort`.
//! * `select`: `msgq_select`, waiting for any of several queues (not under loom).
//! * `ctl`: `msgctl` on one queue (`IPC_STAT`, `MSG_STAT`, `IPC_SET`).
//! * `registry`: the namespace-wide state behind its own lock: `msgget`, `IPC_RMID`, the
//!   INFO commands, the sysctls, `/proc/sysvipc/msg`; finding a queue's shard.
//! * `records`: typed handles to records (a message is not a waiter).
//! * `recovery`: taking the lock after a crash, resumable removal, dead waiters.
//! * [`check`]: the integrity check.

pub mod check;
pub(crate) mod ctl;
pub(crate) mod guard;
pub(crate) mod lists;
pub(crate) mod manage;
pub(crate) mod ops;
pub(crate) mod queue;
pub(crate) mod records;
pub(crate) mod recovery;
pub(crate) mod registry;
#[cfg(not(loom))]
pub mod select;
pub(crate) mod wait;
pub(crate) mod waiters;

pub use guard::{Guard, Shared};

/// Where the queues are: the shard of a queue id, and the limits the calls on one queue
/// read. A store file's registry (`registry::Ns`), or the anchored namespace mode
/// (`crate::anchored`).
pub trait Shards {
    /// The shard queue `id` lives in (`EINVAL` when there is none; `EACCES` when the kernel
    /// refuses the caller the queue's memory).
    fn shard_of(&self, id: i32) -> Result<Shared, msgq_core::Errno>;
    /// The current `msgmax`.
    fn msgmax(&self) -> u64;
}

/// Where a sent message's bytes come from (a Rust slice, or a user pointer in the C layer).
pub trait Source {
    /// The number of bytes.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copies the bytes into `dst` (exactly `len()` bytes), under the store lock, into a
    /// freshly allocated block. `EFAULT` rolls the send back.
    fn copy_to(&self, dst: &mut [u8]) -> Result<(), msgq_core::Errno>;
}

impl Source for [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }
    fn copy_to(&self, dst: &mut [u8]) -> Result<(), msgq_core::Errno> {
        dst.copy_from_slice(self);
        Ok(())
    }
}

/// Where a received message's bytes go (a Rust slice, or a user pointer in the C layer).
pub trait Sink {
    /// Called under the store lock with the chosen message's type and its text, already
    /// cut to the number of bytes to copy. An error (EFAULT) still consumes the message,
    /// as in Linux.
    fn deliver(&mut self, mtype: i64, text: &[u8]) -> Result<(), msgq_core::Errno>;
}
