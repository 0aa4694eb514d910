//! The lock guard: every operation on a store runs inside one.
//!
//! Taking the lock repairs a dead owner's state first (undo-log rollback, then any queue
//! removal it left half done). Dropping the guard rolls back uncommitted writes (an error
//! or a panic midway leaves nothing behind), bumps the futex words of the waiters the
//! operation woke, releases the lock, and only then makes the wake system calls.

use crate::shm::layout::{H, W};
use crate::shm::{tx, Arena, Tx};
use crate::sync::{Locked, StoreLock};
use crate::sys::futex;
use msgq_core::Errno;
use std::sync::atomic::Ordering;

/// The mapped store as the engine sees it.
#[derive(Clone, Copy)]
pub struct Shared {
    pub arena: Arena,
    pub lock: StoreLock,
}

/// Exclusive access to the store.
pub struct Guard<'a> {
    shared: &'a Shared,
    pub tx: Tx,
    wakes: Vec<u64>,
}

impl Shared {
    /// Takes the store lock, repairing a dead owner's update if needed.
    pub fn lock(&self) -> Result<Guard<'_>, Errno> {
        let how = self.lock.lock().map_err(|_| Errno::EINVAL)?;
        let mut g = Guard {
            shared: self,
            tx: Tx::new(self.arena),
            wakes: Vec::new(),
        };
        if how == Locked::OwnerDied || self.arena.get(H::LOG_LEN) != 0 {
            tx::rollback(self.arena);
            g.tx.add(H::RECOVERIES, 1);
            g.tx.commit();
            if how == Locked::OwnerDied {
                self.lock.mark_consistent();
            }
        }
        // A removal whose owner died after unlinking the queue: finish freeing it.
        if self.arena.get(H::DYING) != 0 {
            super::waiters::reclaim_dying(&mut g);
        }
        Ok(g)
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
        self.tx.commit()
    }

    /// Wakes waiter `w` once the lock is released (if the operation commits).
    pub fn wake_later(&mut self, w: u64) {
        self.wakes.push(w);
    }

    /// The futex word of waiter `w`, and its current value (read under the lock).
    pub fn futex_snapshot(&self, w: u64) -> u32 {
        self.shared
            .arena
            .futex(w + W::FUTEX)
            .load(Ordering::Acquire)
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if self.tx.dirty() {
            self.tx.rollback();
            self.wakes.clear();
        }
        let arena = self.shared.arena;
        for &w in &self.wakes {
            // Release: the waiter reads its state under the lock anyway; the increment only
            // has to make its futex wait return or not start sleeping.
            arena.futex(w + W::FUTEX).fetch_add(1, Ordering::Release);
        }
        self.shared.lock.unlock();
        for &w in &self.wakes {
            futex::wake(arena.futex(w + W::FUTEX), 1);
        }
    }
}
