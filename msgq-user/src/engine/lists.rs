//! Intrusive doubly-linked lists: a list is a (head, tail) pair of word offsets, and each
//! node has `next`/`prev` fields at given offsets. 0 is the null offset.

use crate::shm::Tx;

/// Describes one list: where its head and tail words are, and the link fields of its nodes.
#[derive(Clone, Copy)]
pub struct List {
    pub head: u64,
    pub tail: u64,
    pub next: u64,
    pub prev: u64,
}

impl List {
    pub fn first(&self, tx: &Tx) -> u64 {
        tx.get(self.head)
    }

    pub fn push_back(&self, tx: &mut Tx, node: u64) {
        let tail = tx.get(self.tail);
        tx.put(node + self.next, 0);
        tx.put(node + self.prev, tail);
        if tail == 0 {
            tx.put(self.head, node);
        } else {
            tx.put(tail + self.next, node);
        }
        tx.put(self.tail, node);
    }

    pub fn unlink(&self, tx: &mut Tx, node: u64) {
        let next = tx.get(node + self.next);
        let prev = tx.get(node + self.prev);
        if prev == 0 {
            tx.put(self.head, next);
        } else {
            tx.put(prev + self.next, next);
        }
        if next == 0 {
            tx.put(self.tail, prev);
        } else {
            tx.put(next + self.prev, prev);
        }
        // The node's own links are left as they were: every insertion rewrites both.
    }

    /// Inserts `node` before `before` (0 = at the tail).
    pub fn insert_before(&self, tx: &mut Tx, node: u64, before: u64) {
        if before == 0 {
            return self.push_back(tx, node);
        }
        let prev = tx.get(before + self.prev);
        tx.put(node + self.next, before);
        tx.put(node + self.prev, prev);
        tx.put(before + self.prev, node);
        if prev == 0 {
            tx.put(self.head, node);
        } else {
            tx.put(prev + self.next, node);
        }
    }
}
