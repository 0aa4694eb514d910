//! The memory the calls' pointers point into: one arena per backend, identical layout and
//! contents, so the bytes a call wrote can be compared offset by offset.
//!
//! Layout (4 KiB pages): three read-write pages, one read-only page, one `PROT_NONE` guard
//! page. Pointers that straddle the end of the read-write pages run into the read-only one
//! (readable, not writable); pointers that straddle the end of the read-only page run into
//! the guard.

use std::ptr::NonNull;

pub const PAGE: usize = 4096;
/// Bytes of the read-write part.
pub const RW_LEN: usize = 3 * PAGE;
const RO_OFF: usize = RW_LEN;
const GUARD_OFF: usize = RW_LEN + PAGE;
const TOTAL: usize = GUARD_OFF + PAGE;

/// Where a call's pointer points.
#[derive(Clone, Copy, Debug)]
pub enum Ptr {
    Null,
    /// Into the guard page (`PROT_NONE`).
    Guard(u16),
    /// Into the read-only page.
    ReadOnly(u16),
    /// Into the read-write pages (any alignment).
    Rw(u16),
    /// `n` bytes before the read-only page: writes run into it.
    IntoReadOnly(u16),
    /// `n` bytes before the guard page: reads and writes run into it.
    IntoGuard(u16),
    /// An address never mapped in a process: below `mmap_min_addr`, non-canonical, or in
    /// the kernel's half.
    ///
    /// The read-only page ends with `/proc/sysvipc/msg` and no NUL: a path there runs into the
    /// guard page.
    Wild(u64),
}

pub struct Arena {
    base: NonNull<u8>,
}

impl Arena {
    pub fn new() -> Arena {
        // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                TOTAL,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap arena");
        let base = NonNull::new(p.cast::<u8>()).expect("mmap returned null");
        // SAFETY: the read-only page lies inside the mapping just made, still writable.
        let ro = unsafe { std::slice::from_raw_parts_mut(base.as_ptr().add(RO_OFF), PAGE) };
        // Aligned words -1..=3 (so an aligned mtype there is sometimes valid), odd bytes
        // between them for misaligned reads.
        for (i, w) in ro.chunks_mut(8).enumerate() {
            w.copy_from_slice(&((i % 5) as i64 - 1).to_ne_bytes());
            if i % 3 == 2 {
                w[7] = 0x80 | i as u8;
            }
        }
        // An unterminated path that runs into the guard page.
        let tail = b"/proc/sysvipc/msg";
        ro[PAGE - tail.len()..].copy_from_slice(tail);
        // SAFETY: protecting pages of our own mapping.
        unsafe {
            assert_eq!(
                libc::mprotect(p.cast::<u8>().add(RO_OFF).cast(), PAGE, libc::PROT_READ),
                0
            );
            assert_eq!(
                libc::mprotect(p.cast::<u8>().add(GUARD_OFF).cast(), PAGE, libc::PROT_NONE),
                0
            );
        }
        Arena { base }
    }

    /// The address `p` stands for in this arena.
    pub fn addr(&self, p: Ptr) -> usize {
        let b = self.base.as_ptr() as usize;
        match p {
            Ptr::Null => 0,
            Ptr::Guard(o) => b + GUARD_OFF + o as usize % PAGE,
            Ptr::ReadOnly(o) => b + RO_OFF + o as usize % PAGE,
            Ptr::Rw(o) => b + o as usize % RW_LEN,
            Ptr::IntoReadOnly(n) => b + RO_OFF - 1 - n as usize % 256,
            Ptr::IntoGuard(n) => b + GUARD_OFF - 1 - n as usize % 256,
            Ptr::Wild(a) => a as usize,
        }
    }

    /// The offset of `addr` in the read-write part, if it lies there.
    pub fn rw_offset(&self, addr: usize) -> Option<usize> {
        addr.checked_sub(self.base.as_ptr() as usize)
            .filter(|&o| o < RW_LEN)
    }

    /// The read-write part.
    pub fn rw(&mut self) -> &mut [u8] {
        // SAFETY: the first RW_LEN bytes of our mapping are read-write and only reachable
        // through this arena (the calls under test write there, but never while this
        // borrow is alive).
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr(), RW_LEN) }
    }

    /// Writes `bytes` at `addr` as far as they fall in the read-write part.
    pub fn put(&mut self, addr: usize, bytes: &[u8]) {
        if let Some(o) = self.rw_offset(addr) {
            let n = bytes.len().min(RW_LEN - o);
            self.rw()[o..o + n].copy_from_slice(&bytes[..n]);
        }
    }
}
