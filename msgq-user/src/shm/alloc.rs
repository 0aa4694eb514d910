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

/// Allocates a block of at least `bytes` bytes; `None` when the store is full (ENOMEM).
/// The block's contents other than the class word are unspecified, and the caller may
/// initialise them without logging: every word a rollback needs back (the class word and
/// the free-list link) was logged here.
pub fn alloc(tx: &mut Tx, bytes: u64) -> Option<u64> {
    let k = class_for(bytes)?;
    let head = free_head(k);
    let b = tx.get(head);
    if b != 0 {
        let next = tx.get(b + 8);
        tx.put(head, next);
        tx.put(b, k as u64);
        // The caller fills the block with unlogged writes, word 1 included, which is the
        // free-list link: log it here so that a rollback puts the block back intact.
        tx.preserve(b + 8);
        return Some(b);
    }
    let top = tx.get(H::HEAP_TOP);
    let size = 1u64 << k;
    let end = top.checked_add(size)?;
    if end > tx.arena().len() {
        return None;
    }
    tx.put(H::HEAP_TOP, end);
    // The block lies beyond the old top: nothing references it, so no logging is needed.
    tx.arena().put_unlogged(top, k as u64);
    Some(top)
}

/// Returns a block to its free list.
pub fn free(tx: &mut Tx, block: u64) {
    let k = tx.get(block);
    if k < MIN_CLASS as u64 || k >= CLASSES as u64 {
        super::arena::corrupt(block);
    }
    let head = free_head(k as u32);
    let next = tx.get(head);
    tx.put(block + 8, next);
    tx.put(head, block);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(class_for(1), Some(6));
        assert_eq!(class_for(64), Some(6));
        assert_eq!(class_for(65), Some(7));
        assert_eq!(class_for(8192 + 72), Some(14));
        assert_eq!(class_for(u64::MAX), None);
    }
}
