//! Bounds-checked word and byte access to the mapped store.

use crate::sys::futex::Futex;

/// Raised when a store's contents point outside the mapping or are otherwise impossible.
/// The engine turns it into a clear error; it never reads or writes out of bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt(pub u64);

/// A view of the mapped store. Copyable: it is only a base address and a length; the
/// mapping itself is owned by [`crate::Store`], which outlives every `Arena` it hands out.
#[derive(Clone, Copy)]
pub struct Arena {
    base: *mut u8,
    len: u64,
}

// SAFETY: the arena is shared memory that other processes write concurrently anyway; all
// plain words are accessed only under the store lock, and futex words through atomics.
unsafe impl Send for Arena {}
// SAFETY: as above.
unsafe impl Sync for Arena {}

impl Arena {
    /// # Safety
    /// `base` must point to a mapping of `len` bytes, 8-byte aligned, that stays mapped for
    /// as long as this value or any copy of it is used.
    pub unsafe fn new(base: *mut u8, len: u64) -> Arena {
        Arena { base, len }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The part `[off, off+len)` of this arena, as an arena of its own (offsets relative to
    /// `off`): a shard of the store.
    pub fn sub(&self, off: u64, len: u64) -> Arena {
        if !self.contains(off, len) || !off.is_multiple_of(4096) {
            corrupt(off);
        }
        // SAFETY: in bounds (checked above) and page-aligned; it lives inside the same
        // mapping, which outlives every arena (see the type's documentation).
        let base = unsafe { self.base.add(off as usize) };
        Arena { base, len }
    }

    /// Whether `[off, off+n)` lies inside the mapping.
    pub fn contains(&self, off: u64, n: u64) -> bool {
        off.checked_add(n).is_some_and(|end| end <= self.len)
    }

    #[inline]
    pub(crate) fn word_ptr(&self, off: u64) -> *mut u64 {
        if !off.is_multiple_of(8) || !self.contains(off, 8) {
            corrupt(off);
        }
        // SAFETY: `off + 8 <= len`, so the pointer stays inside the mapping.
        unsafe { self.base.add(off as usize).cast::<u64>() }
    }

    /// Reads the word at `off`.
    #[inline]
    pub fn get(&self, off: u64) -> u64 {
        // SAFETY: word_ptr checked bounds and alignment; volatile because other processes
        // write the mapping (under the same lock).
        unsafe { self.word_ptr(off).read_volatile() }
    }

    /// Writes the word at `off` without logging. Only for the undo log itself and for
    /// memory that no committed state references (a block beyond the heap top; the engine
    /// writes fresh blocks through [`super::alloc::Fresh`]).
    #[inline]
    pub(in crate::shm) fn put_unlogged(&self, off: u64, v: u64) {
        // SAFETY: as in `get`.
        unsafe { self.word_ptr(off).write_volatile(v) }
    }

    /// The 32-bit futex word at `off` (its low half on little-endian). Under `cfg(loom)`,
    /// a loom atomic standing for that word (see `sys::futex`).
    #[inline]
    pub fn futex(&self, off: u64) -> Futex<'_> {
        let p = self.word_ptr(off);
        #[cfg(not(loom))]
        {
            // SAFETY: in bounds and 8-aligned (so 4-aligned); AtomicU32 has the layout of u32
            // and the word is only ever accessed atomically by every process.
            Futex::new(unsafe { &*(p.cast::<std::sync::atomic::AtomicU32>()) })
        }
        #[cfg(loom)]
        {
            Futex::at(p as usize)
        }
    }

    /// A pointer to `n` bytes at `off`, after a bounds check.
    pub fn byte_ptr(&self, off: u64, n: u64) -> *mut u8 {
        if !self.contains(off, n) {
            corrupt(off);
        }
        // SAFETY: in bounds.
        unsafe { self.base.add(off as usize) }
    }

    /// Writes a word of a store that nobody else can see yet (being created).
    pub(crate) fn init_unpublished(&self, off: u64, v: u64) {
        self.put_unlogged(off, v)
    }
}

/// Aborts the current operation because the store is corrupt. The panic is caught at the
/// API boundary (the lock guard rolls the operation back first) and reported as an error.
#[cold]
pub fn corrupt(off: u64) -> ! {
    std::panic::panic_any(Corrupt(off))
}
