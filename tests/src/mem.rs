//! Addresses that fault: unmapped pages, pages that end where a struct is cut, read-only pages.
//!
//! Every mapping here is leaked on purpose: the case runs in a child process that exits soon.

use std::ffi::c_void;

const PAGE: usize = 4096;

fn map(len: usize, prot: i32) -> *mut u8 {
    // SAFETY: an anonymous private mapping at an address the kernel chooses touches no
    // existing memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert!(p != libc::MAP_FAILED, "mmap failed");
    p.cast()
}

/// An address in a page that has no access at all (PROT_NONE).
pub fn unmapped() -> *mut c_void {
    map(PAGE, libc::PROT_NONE).cast()
}

/// An address in a page that was mapped and then unmapped again.
pub fn munmapped() -> *mut c_void {
    let p = map(PAGE, libc::PROT_READ);
    // SAFETY: `p` is our own fresh mapping of one page, used by nobody.
    unsafe { libc::munmap(p.cast(), PAGE) };
    p.cast()
}

/// A pointer with exactly `ok` accessible (read-write, zeroed) bytes before an inaccessible
/// page: `ok = 8` gives a message buffer whose mtype is fine and whose text faults.
pub fn edge(ok: usize) -> *mut c_void {
    assert!(ok <= PAGE);
    let p = map(2 * PAGE, libc::PROT_READ | libc::PROT_WRITE);
    // SAFETY: the second page belongs to the mapping just made.
    let r = unsafe { libc::mprotect(p.add(PAGE).cast(), PAGE, libc::PROT_NONE) };
    assert_eq!(r, 0, "mprotect failed");
    // SAFETY: PAGE - ok stays inside the first page of the mapping.
    unsafe { p.add(PAGE - ok).cast() }
}

/// Like `edge`, with `ok` bytes holding `bytes` (the first `ok` bytes of a message buffer).
pub fn edge_with(bytes: &[u8]) -> *mut c_void {
    let p = edge(bytes.len());
    // SAFETY: `edge` gave exactly bytes.len() writable bytes at `p`.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p.cast::<u8>(), bytes.len()) };
    p
}

/// A readable page that cannot be written, filled with `fill`.
pub fn read_only(fill: u8) -> *mut c_void {
    let p = map(PAGE, libc::PROT_READ | libc::PROT_WRITE);
    // SAFETY: `p` is a fresh one-page read-write mapping.
    unsafe {
        std::ptr::write_bytes(p, fill, PAGE);
        libc::mprotect(p.cast(), PAGE, libc::PROT_READ);
    }
    p.cast()
}

/// Reads `len` bytes at `p` (which must be readable: made by `edge`/`read_only` within bounds).
pub fn peek(p: *const c_void, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    // SAFETY: the caller passes a pointer with at least `len` readable bytes.
    unsafe { std::ptr::copy_nonoverlapping(p.cast::<u8>(), v.as_mut_ptr(), len) };
    v
}
