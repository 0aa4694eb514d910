//! A size-class allocator over the store's heap: blocks of 2^k bytes, a free list per
//! class, and a bump pointer for fresh memory. Every block's first word holds its class,
//! so a block can be freed from its offset alone and integrity checks can walk the lists.
//! All list updates are logged, so allocation rolls back with the operation that made it.

use super::layout::{free_head, CLASSES, H, MIN_CLASS};
use super::tx::Tx;

/// The class whose blocks hold `bytes`.
pub fn class_for(bytes: u64) -> Option<u32> {
    let b = bytes.max(1 << MIN_CLASS);
    let k = 64 - (b - 1).leading_zeros();
    (k < CLASSES as u32).then_some(k)
}

/// A block just allocated, not yet linked into anything.
///
/// INVARIANT: nothing in the state as of the last commit refers to the block, except the
/// free-list words that [`alloc`] rewrote with logged writes (its class word and free-list
/// link). So its contents may be written without logging: a rollback makes the block free
/// (or beyond the heap top) again, and nobody reads what was written. This is why [`alloc`]
/// never returns a block that the current, uncommitted transaction freed: committed records
/// still point at such a block, and a rollback would restore those pointers but not the
/// block's contents (issue 12, defect 1).
///
/// The only way to write a block without logging is through this type; once filled in, the
/// block is linked with logged writes through its offset ([`Fresh::off`]).
#[must_use]
pub struct Fresh {
    block: u64,
    size: u64,
    arena: super::Arena,
}

impl Fresh {
    /// The block's offset, to link it (with logged writes) once it is filled in.
    #[inline]
    pub fn off(&self) -> u64 {
        self.block
    }

    /// Writes the word at byte `field` of the block, without logging.
    #[inline]
    pub fn init(&self, field: u64, v: u64) {
        if field >= self.size {
            super::arena::corrupt(self.block + field);
        }
        self.arena.put_unlogged(self.block + field, v);
    }

    /// Zeroes the words at byte offsets `from..to` of the block.
    pub fn zero(&self, from: u64, to: u64) {
        for f in (from..to).step_by(8) {
            self.init(f, 0);
        }
    }

    /// `n` writable bytes at byte `field` of the block (message text), written unlogged.
    pub fn bytes_mut(&mut self, field: u64, n: u64) -> &mut [u8] {
        if field.checked_add(n).is_none_or(|end| end > self.size) {
            super::arena::corrupt(self.block + field);
        }
        let p = self.arena.byte_ptr(self.block + field, n);
        // SAFETY: byte_ptr checked the bounds against the mapping and the block's size was
        // checked above; per the type's invariant nobody else refers to the block, and the
        // exclusive borrow of `self` keeps the slice unique while it lives.
        unsafe { std::slice::from_raw_parts_mut(p, n as usize) }
    }

    /// A pointer to `n` bytes at byte `field` of the block (for a mutex initialised there).
    pub fn ptr(&self, field: u64, n: u64) -> *mut u8 {
        if field.checked_add(n).is_none_or(|end| end > self.size) {
            super::arena::corrupt(self.block + field);
        }
        self.arena.byte_ptr(self.block + field, n)
    }
}

/// Allocates a block of at least `bytes` bytes; `None` when the store is full (ENOMEM).
/// The block's contents other than the class word are unspecified; see [`Fresh`].
pub fn alloc(tx: &mut Tx, bytes: u64) -> Option<Fresh> {
    let k = class_for(bytes)?;
    let size = 1u64 << k;
    let arena = tx.arena();
    // Blocks this transaction freed are skipped (see `Fresh`). `free` pushes at the head and
    // this never takes one of them, so they form a prefix of the list: the walk is at most
    // as long as the number of blocks freed since the last commit.
    let mut link = free_head(k);
    let mut b = tx.get(link);
    while b != 0 && tx.wrote_since_commit(b + 8) {
        link = b + 8;
        b = tx.get(link);
    }
    if b != 0 {
        let next = tx.get(b + 8);
        tx.put(link, next);
        tx.put(b, k as u64);
        // The caller fills the block with unlogged writes, word 1 included, which is the
        // free-list link: log it here so that a rollback puts the block back intact.
        tx.preserve(b + 8);
        return Some(Fresh {
            block: b,
            size,
            arena,
        });
    }
    let top = tx.get(H::HEAP_TOP);
    let end = top.checked_add(size)?;
    if end > arena.len() {
        return None;
    }
    tx.put(H::HEAP_TOP, end);
    // The block lies beyond the old top: nothing references it, so no logging is needed.
    arena.put_unlogged(top, k as u64);
    Some(Fresh {
        block: top,
        size,
        arena,
    })
}

/// Returns a block to its free list.
pub fn free(tx: &mut Tx, block: u64) {
    let k = tx.get(block);
    if k < MIN_CLASS as u64 || k >= CLASSES as u64 {
        super::arena::corrupt(block);
    }
    let head = free_head(k as u32);
    let next = tx.get(head);
    // Always logged, even when the link already holds `next`: the log entry is how `alloc`
    // knows that this transaction freed the block.
    tx.preserve(block + 8);
    tx.arena().put_unlogged(block + 8, next);
    tx.put(head, block);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::layout::HEAP_OFF;
    use crate::shm::Arena;

    #[test]
    fn a_block_freed_by_the_transaction_is_not_reused_before_its_commit() {
        let mut mem = vec![0u64; (HEAP_OFF / 8 + 4096) as usize];
        // SAFETY: the vector outlives the arena and is 8-aligned.
        let a = unsafe { Arena::new(mem.as_mut_ptr().cast(), mem.len() as u64 * 8) };
        a.put_unlogged(H::HEAP_TOP, HEAP_OFF);
        let mut tx = Tx::new(a);
        let x = alloc(&mut tx, 80).unwrap().off();
        tx.commit();
        free(&mut tx, x);
        let y = alloc(&mut tx, 80).unwrap();
        assert_ne!(
            y.off(),
            x,
            "a block committed state refers to, handed out as fresh"
        );
        y.init(8, 42);
        tx.rollback();
        assert_eq!(a.get(x), 7, "x is intact after the rollback");
        free(&mut tx, x);
        tx.commit();
        assert_eq!(
            alloc(&mut tx, 80).unwrap().off(),
            x,
            "reusable after the commit"
        );
    }

    #[test]
    fn classes() {
        assert_eq!(class_for(1), Some(6));
        assert_eq!(class_for(64), Some(6));
        assert_eq!(class_for(65), Some(7));
        assert_eq!(class_for(8192 + 72), Some(14));
        assert_eq!(class_for(u64::MAX), None);
    }
}
