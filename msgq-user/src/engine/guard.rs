//! The lock guard: every operation on a store runs inside one.
//!
//! Taking the lock (with the repairs a dead owner makes necessary) is
//! [`super::recovery`]'s. Dropping the guard rolls back uncommitted writes (an error or a
//! panic midway leaves nothing behind), bumps the futex words of the waiters the operation
//! woke, releases the lock, and only then makes the wake system calls.

use super::records::Waiter;
use crate::shm::layout::W;
use crate::shm::{Arena, Tx};
pub(super) use crate::sync::Locked;
use crate::sync::StoreLock;
use msgq_core::Errno;

/// One journal of the store as the engine sees it: a shard (a queue index's region, with
/// its lock), or the registry (see `super::registry`).
#[derive(Clone, Copy)]
pub struct Shared {
    pub arena: Arena,
    pub lock: StoreLock,
    /// The registry's words (the limits), read without its lock.
    pub reg: Arena,
}

impl Shared {
    /// The current `msgmax` (a word of the registry, read without its lock, as the kernel
    /// reads the sysctl).
    pub fn msgmax(&self) -> u64 {
        self.reg.get(crate::shm::layout::R::MSGMAX)
    }

    /// The current `msgmnb`.
    pub fn msgmnb(&self) -> u64 {
        self.reg.get(crate::shm::layout::R::MSGMNB)
    }
}

/// Exclusive access to one journal (a shard, or the registry).
pub struct Guard<'a> {
    shared: &'a Shared,
    pub tx: Tx,
    wakes: Vec<Waiter>,
    /// How many of `wakes` belong to committed steps (a rollback drops only the others).
    committed_wakes: usize,
}

impl Shared {
    /// Takes the store lock as it is: a dead owner's half-done update is still there.
    /// Every operation takes it through [`super::recovery`]'s `Shared::lock`, which repairs
    /// first; this is the step below it.
    pub(super) fn lock_raw(&self) -> Result<(Guard<'_>, Locked), Errno> {
        let how = self.lock.lock().map_err(|_| Errno::EINVAL)?;
        let g = Guard {
            shared: self,
            tx: Tx::new(self.arena),
            wakes: Vec::new(),
            committed_wakes: 0,
        };
        Ok((g, how))
    }
}

impl Guard<'_> {
    #[inline]
    pub fn get(&self, off: u64) -> u64 {
        self.tx.get(off)
    }

    #[inline]
    pub fn put(&mut self, off: u64, v: u64) {
        self.tx.put(off, v)
    }

    #[inline]
    pub fn arena(&self) -> Arena {
        self.shared.arena
    }

    /// `n` bytes of the store at `off` (message text), readable while the lock is held.
    pub fn bytes(&self, off: u64, n: u64) -> &[u8] {
        let p = self.shared.arena.byte_ptr(off, n);
        // SAFETY: byte_ptr checked the bounds; message text is written only before the
        // message is published and never while the lock is held by someone else, and this
        // guard (the lock) outlives the slice.
        unsafe { std::slice::from_raw_parts(p, n as usize) }
    }

    /// Commits what was written so far.
    #[inline]
    pub fn commit(&mut self) {
        self.tx.commit();
        self.committed_wakes = self.wakes.len();
    }

    /// Wakes waiter `w` once the lock is released (if the operation commits).
    pub fn wake_later(&mut self, w: Waiter) {
        self.wakes.push(w);
    }

    /// The futex word of waiter `w`, and its current value (read under the lock).
    pub fn futex_snapshot(&self, w: Waiter) -> u32 {
        self.shared.arena.futex(w.at(W::FUTEX)).load()
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        // Under loom, a panic is either a model failure or a simulated death
        // (`model::die_at`): leave the lock held and the log as they are, as a killed process
        // would, and make no loom operation while unwinding.
        #[cfg(loom)]
        if std::thread::panicking() {
            return;
        }
        if self.tx.dirty() {
            self.tx.rollback();
            self.wakes.truncate(self.committed_wakes);
        }
        // Under loom a model thread may die at each step of the release, like at each logged
        // write (`model::die_at`): committed but nothing woken, woken words bumped with the
        // lock still held, unlocked but no FUTEX_WAKE made.
        #[cfg(loom)]
        crate::model::fault_point();
        let arena = self.shared.arena;
        // Only waiters that are asleep (not spinning) need the wake system call.
        self.wakes.retain(|&w| {
            #[cfg(loom)]
            if crate::model::bug(crate::model::Bug::IgnoreSleepingBit) {
                arena.futex(w.at(W::FUTEX)).bump();
                return false;
            }
            arena.futex(w.at(W::FUTEX)).bump()
        });
        #[cfg(loom)]
        crate::model::fault_point();
        self.shared.lock.unlock();
        #[cfg(loom)]
        crate::model::fault_point();
        for &w in &self.wakes {
            arena.futex(w.at(W::FUTEX)).wake(1);
        }
    }
}
