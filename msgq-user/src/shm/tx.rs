//! The undo log: every logged write first records the old value, so a half-done update
//! can be rolled back by whoever takes the lock next.
//!
//! Protocol (x86_64, total store order; the compiler is kept in order with volatile
//! accesses and a compiler fence):
//! 1. write the entry `(off, old)` at `log[len]`;
//! 2. write `len + 1` to `LOG_LEN`;
//! 3. write the new value.
//!
//! A process that dies between 1 and 2 left an entry that does not count (the value was
//! not changed); between 2 and 3 an entry whose old value equals the current one. Rolling
//! back walks the entries from last to first and restores each old value, then sets
//! `LOG_LEN` to 0: it is idempotent, so dying during a rollback is harmless too. Committing
//! is the single store `LOG_LEN = 0`.

use super::arena::{corrupt, Arena};
use super::layout::{H, LOG_CAP, LOG_OFF};
use std::sync::atomic::{compiler_fence, Ordering};

/// Logged write access to the store. Only exists while the store lock is held.
pub struct Tx {
    arena: Arena,
    len: u64,
    /// The log's entries and its length word, bounds-checked once here.
    log: *mut u64,
    log_len: *mut u64,
}

impl Tx {
    /// Starts logging on a store whose log is empty (after any rollback).
    pub fn new(arena: Arena) -> Tx {
        let log = arena.byte_ptr(LOG_OFF, LOG_CAP * 16).cast::<u64>();
        let log_len = arena.word_ptr(H::LOG_LEN);
        Tx {
            arena,
            len: 0,
            log,
            log_len,
        }
    }

    /// Whether this transaction (since its last commit) wrote the word at `off`: its log
    /// has an entry for it. `alloc::free` always logs a freed block's link word, so this
    /// tells whether a block on a free list was freed by this transaction (see
    /// `alloc::Fresh`). A scan of the entries since the commit: a few dozen at most on the
    /// paths that allocate after freeing.
    #[inline]
    pub(super) fn wrote_since_commit(&self, off: u64) -> bool {
        (0..self.len as usize).any(|i| {
            // SAFETY: `i < len <= LOG_CAP`, and `log` covers LOG_CAP entries (checked in
            // `new`); only this lock holder writes the log.
            unsafe { self.log.add(2 * i).read_volatile() == off }
        })
    }

    #[inline]
    pub fn arena(&self) -> Arena {
        self.arena
    }

    /// Reads a word.
    #[inline]
    pub fn get(&self, off: u64) -> u64 {
        self.arena.get(off)
    }

    /// Writes a word, logging its old value first.
    #[inline]
    pub fn put(&mut self, off: u64, v: u64) {
        if !loggable(off) {
            // An offset there comes from a damaged record.
            corrupt(off);
        }
        let p = self.arena.word_ptr(off);
        // SAFETY: word_ptr checked that the word lies inside the mapping.
        let old = unsafe { p.read_volatile() };
        if old == v {
            return;
        }
        self.append(off, old);
        // SAFETY: checked by word_ptr above.
        unsafe { p.write_volatile(v) };
    }

    /// Appends the entry `(off, old)` to the log (steps 1 and 2 of the protocol).
    #[inline]
    fn append(&mut self, off: u64, old: u64) {
        if self.len >= LOG_CAP {
            // Operations are bounded well below the capacity (long ones commit in steps);
            // reaching it means a bug or a corrupt store.
            corrupt(off);
        }
        // SAFETY: `len < LOG_CAP`, and `log` covers LOG_CAP entries of two words (checked in
        // `new`); the store lock makes us the only writer.
        unsafe {
            let e = self.log.add(2 * self.len as usize);
            e.write_volatile(off);
            e.add(1).write_volatile(old);
        }
        compiler_fence(Ordering::SeqCst);
        #[cfg(feature = "fault-injection")]
        crate::fault::point();
        #[cfg(loom)]
        crate::model::fault_point();
        self.len += 1;
        // SAFETY: checked in `new`.
        unsafe { self.log_len.write_volatile(self.len) };
        compiler_fence(Ordering::SeqCst);
        #[cfg(feature = "fault-injection")]
        crate::fault::point();
        #[cfg(loom)]
        crate::model::fault_point();
    }

    /// Logs the current value of a word without changing it, so that a rollback restores
    /// it even if it is later overwritten without logging (a block being initialised).
    pub fn preserve(&mut self, off: u64) {
        let p = self.arena.word_ptr(off);
        // SAFETY: word_ptr checked that the word lies inside the mapping.
        let old = unsafe { p.read_volatile() };
        self.append(off, old);
    }

    /// Adds `d` (two's complement) to a word.
    #[inline]
    pub fn add(&mut self, off: u64, d: i64) {
        let v = self.get(off).wrapping_add(d as u64);
        self.put(off, v);
    }

    /// Makes everything written so far permanent.
    #[inline]
    pub fn commit(&mut self) {
        if self.len != 0 {
            compiler_fence(Ordering::SeqCst);
            self.arena.put_unlogged(H::LOG_LEN, 0);
            self.len = 0;
        }
    }

    /// How many more entries the log can take before the next commit.
    pub fn room(&self) -> u64 {
        LOG_CAP - self.len
    }

    /// Whether there are uncommitted writes.
    pub fn dirty(&self) -> bool {
        self.len != 0
    }

    /// Undoes everything since the last commit.
    pub fn rollback(&mut self) {
        rollback(self.arena);
        self.len = 0;
    }
}

/// Whether a logged write may target `off`: never the identity words, the store mutex, the
/// log length or the log itself.
#[inline]
fn loggable(off: u64) -> bool {
    off >= LOG_OFF + LOG_CAP * 16 || (H::LOG_LEN + 8..LOG_OFF).contains(&off)
}

/// Rolls back whatever the log holds (a dead lock holder's half-done update). Returns the
/// number of entries undone.
pub fn rollback(arena: Arena) -> u64 {
    let n = arena.get(H::LOG_LEN).min(LOG_CAP);
    for i in (0..n).rev() {
        let e = LOG_OFF + i * 16;
        let off = arena.get(e);
        let old = arena.get(e + 8);
        // An entry no logged write could have made (a damaged store) is skipped: replaying
        // it could overwrite the store mutex or point outside the mapping.
        if loggable(off) && off.is_multiple_of(8) && arena.contains(off, 8) {
            arena.put_unlogged(off, old);
        }
    }
    compiler_fence(Ordering::SeqCst);
    arena.put_unlogged(H::LOG_LEN, 0);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_restores_in_reverse() {
        let mut mem = vec![0u64; (LOG_OFF / 8 + LOG_CAP * 2 + 64) as usize];
        // SAFETY: the vector outlives the arena and is 8-aligned.
        let a = unsafe { Arena::new(mem.as_mut_ptr().cast(), mem.len() as u64 * 8) };
        let x = LOG_OFF + LOG_CAP * 16;
        let mut tx = Tx::new(a);
        tx.put(x, 1);
        tx.commit();
        tx.put(x, 2);
        tx.put(x, 3);
        tx.put(x + 8, 9);
        assert_eq!(a.get(x), 3);
        assert_eq!(rollback(a), 3);
        assert_eq!(a.get(x), 1);
        assert_eq!(a.get(x + 8), 0);
        assert_eq!(a.get(H::LOG_LEN), 0);
        // Idempotent: a second rollback (a recoverer that died and was replaced) is a no-op.
        assert_eq!(rollback(a), 0);
        assert_eq!(a.get(x), 1);
    }
}
