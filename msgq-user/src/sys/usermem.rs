//! Copies to and from caller-supplied pointers that may be invalid: a bad pointer gives
//! `EFAULT`, never a fault. `process_vm_readv`/`writev` on our own pid do the copy inside
//! the kernel, which checks the addresses.

use msgq_core::Errno;

fn iov(p: *const u8, n: usize) -> libc::iovec {
    libc::iovec {
        iov_base: p as *mut libc::c_void,
        iov_len: n,
    }
}

/// Copies `dst.len()` bytes from the address `src`.
pub fn read(src: *const u8, dst: &mut [u8]) -> Result<(), Errno> {
    if dst.is_empty() {
        return Ok(());
    }
    let local = iov(dst.as_mut_ptr(), dst.len());
    let remote = iov(src, dst.len());
    // SAFETY: `local` describes our own writable buffer; the kernel validates `remote`.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    if n == dst.len() as isize {
        Ok(())
    } else {
        Err(Errno::EFAULT)
    }
}

/// Copies `src` to the address `dst`.
pub fn write(dst: *mut u8, src: &[u8]) -> Result<(), Errno> {
    if src.is_empty() {
        return Ok(());
    }
    let local = iov(src.as_ptr(), src.len());
    let remote = iov(dst, src.len());
    // SAFETY: `local` describes our own readable buffer; the kernel validates `remote`.
    let n = unsafe { libc::process_vm_writev(libc::getpid(), &local, 1, &remote, 1, 0) };
    if n == src.len() as isize {
        Ok(())
    } else {
        Err(Errno::EFAULT)
    }
}
