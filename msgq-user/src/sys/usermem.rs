//! Copies to and from caller-supplied pointers that may be invalid: a bad pointer gives
//! `EFAULT`, never a crash, and a good one costs no system call.
//!
//! This is the kernel's exception-table technique, in userspace. All copies of user
//! memory run in one small assembly routine (`rep movsb`). A `SIGSEGV`/`SIGBUS` handler,
//! installed once, checks whether the faulting instruction is that routine's copy
//! instruction; if so it resumes at the routine's fix-up label, which returns "fault".
//! Any other fault goes to the handler that was installed before ours (or the default
//! action), so the program's own crash behaviour is unchanged.
//!
//! Limits: a program that later installs its own `SIGSEGV` handler without chaining to the
//! previous one replaces ours; a bad pointer then reaches that handler as a fault. If the
//! handler cannot be installed, copies fall back to `process_vm_readv`/`writev`.

use msgq_core::Errno;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    ".pushsection .text.msgq_usercopy,\"ax\",@progbits",
    ".globl msgq_user_copy",
    ".hidden msgq_user_copy",
    ".type msgq_user_copy,@function",
    "msgq_user_copy:",
    "    mov rcx, rdx",
    ".globl msgq_user_copy_insn",
    ".hidden msgq_user_copy_insn",
    "msgq_user_copy_insn:",
    "    rep movsb",
    "    xor eax, eax",
    "    ret",
    ".globl msgq_user_copy_fixup",
    ".hidden msgq_user_copy_fixup",
    "msgq_user_copy_fixup:",
    "    mov eax, 1",
    "    ret",
    ".size msgq_user_copy, . - msgq_user_copy",
    ".popsection",
);

extern "C" {
    /// Copies `n` bytes from `src` to `dst`; returns 0, or 1 if an address faulted.
    fn msgq_user_copy(dst: *mut u8, src: *const u8, n: usize) -> u32;
    static msgq_user_copy_insn: u8;
    static msgq_user_copy_fixup: u8;
}

static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);
static mut OLD_SEGV: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::zeroed();
static mut OLD_BUS: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::zeroed();

extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid ucontext for SA_SIGINFO handlers; we only read and
    // write the saved instruction pointer.
    unsafe {
        let uc = ctx.cast::<libc::ucontext_t>();
        let rip = &mut (*uc).uc_mcontext.gregs[libc::REG_RIP as usize];
        if *rip as usize == std::ptr::addr_of!(msgq_user_copy_insn) as usize {
            *rip = std::ptr::addr_of!(msgq_user_copy_fixup) as i64;
            return;
        }
        // Not ours: hand over to the previous disposition.
        let old = if sig == libc::SIGBUS {
            (*std::ptr::addr_of!(OLD_BUS)).assume_init_ref()
        } else {
            (*std::ptr::addr_of!(OLD_SEGV)).assume_init_ref()
        };
        let h = old.sa_sigaction;
        if h == libc::SIG_DFL || h == libc::SIG_IGN {
            // Restore the default action and return: the instruction faults again and the
            // process dies as it would have without us.
            libc::signal(sig, libc::SIG_DFL);
        } else if old.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(h);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(h);
            f(sig);
        }
    }
}

fn install() -> bool {
    INSTALL.call_once(|| {
        // SAFETY: installing a handler with a zeroed, then filled, sigaction; the old
        // actions are saved (once, before any fault can be routed to us) for chaining.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_fault as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
            libc::sigemptyset(&mut sa.sa_mask);
            let ok = libc::sigaction(
                libc::SIGSEGV,
                &sa,
                (*std::ptr::addr_of_mut!(OLD_SEGV)).as_mut_ptr(),
            ) == 0
                && libc::sigaction(
                    libc::SIGBUS,
                    &sa,
                    (*std::ptr::addr_of_mut!(OLD_BUS)).as_mut_ptr(),
                ) == 0;
            INSTALLED.store(ok, Ordering::Release);
        }
    });
    INSTALLED.load(Ordering::Acquire)
}

fn guarded_copy(dst: *mut u8, src: *const u8, n: usize) -> Result<(), Errno> {
    // SAFETY: the routine only touches [src, src+n) and [dst, dst+n); a fault there is
    // turned into a return value by the handler installed above.
    match unsafe { msgq_user_copy(dst, src, n) } {
        0 => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

/// Copies of at least this many bytes first probe one byte per page of the user's range
/// with the guarded routine, then copy with the optimised `memcpy`.
const PROBE_THEN_COPY: usize = 256;

/// Probes every page of `[p, p+n)`: a guarded read of one byte, and for `write` a guarded
/// write of the byte just read back to where it was.
fn probe_pages(p: *const u8, n: usize, write: bool) -> Result<(), Errno> {
    let start = p as usize;
    let end = start.checked_add(n).ok_or(Errno::EFAULT)?;
    let mut a = start;
    loop {
        let mut b = 0u8;
        guarded_copy(&mut b, a as *const u8, 1)?;
        if write {
            guarded_copy(a as *mut u8, &b, 1)?;
        }
        if a >= end - 1 {
            return Ok(());
        }
        a = ((a & !4095) + 4096).min(end - 1);
    }
}

/// A guarded copy between user memory and ours.
fn copy(dst: *mut u8, src: *const u8, n: usize, user_is_dst: bool) -> Result<(), Errno> {
    if n < PROBE_THEN_COPY {
        return guarded_copy(dst, src, n);
    }
    let user = if user_is_dst { dst as *const u8 } else { src };
    probe_pages(user, n, user_is_dst)?;
    // SAFETY: every page of the user range was accessible (and writable when it is the
    // destination) a moment ago; our side is a valid Rust buffer or store block of `n`
    // bytes. Unmapping or protecting the range concurrently from another thread is a data
    // race in the calling program, exactly as it would be for the kernel's copy.
    unsafe { std::ptr::copy_nonoverlapping(src, dst, n) };
    Ok(())
}

fn iov(p: *const u8, n: usize) -> libc::iovec {
    libc::iovec {
        iov_base: p as *mut libc::c_void,
        iov_len: n,
    }
}

/// Copies `dst.len()` bytes from the address `src`.
///
/// # Safety
/// An unmapped or unreadable range gives `EFAULT`, but a mapped one is read: `src` must be
/// null, unmapped, or the start of `dst.len()` readable bytes that nothing writes during
/// the call (a C caller's buffer, handed to us for the call).
pub unsafe fn read(src: *const u8, dst: &mut [u8]) -> Result<(), Errno> {
    if dst.is_empty() {
        return Ok(());
    }
    if install() {
        return copy(dst.as_mut_ptr(), src, dst.len(), false);
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
///
/// # Safety
/// An unmapped or read-only range gives `EFAULT`, but a mapped writable one is written:
/// `dst` must be null, unmapped, or the start of `src.len()` bytes that the caller owns,
/// that may be overwritten, and that nothing else reads or writes during the call.
pub unsafe fn write(dst: *mut u8, src: &[u8]) -> Result<(), Errno> {
    if src.is_empty() {
        return Ok(());
    }
    if install() {
        return copy(dst, src.as_ptr(), src.len(), true);
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

/// Checks that `n` bytes at `src` can be read, touching one byte per page.
///
/// # Safety
/// As [`read`] for the `n` bytes at `src`.
pub unsafe fn probe_read(src: *const u8, n: usize) -> Result<(), Errno> {
    if n == 0 {
        return Ok(());
    }
    let mut b = [0u8; 1];
    let start = src as usize;
    let end = start.checked_add(n).ok_or(Errno::EFAULT)?;
    let mut p = start;
    while p < end {
        // SAFETY: `p` is within the `n` bytes at `src` that the caller vouches for.
        unsafe { read(p as *const u8, &mut b) }?;
        p = (p & !4095) + 4096;
    }
    // SAFETY: the last of the `n` bytes at `src`.
    unsafe { read((end - 1) as *const u8, &mut b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pointers_are_efault() {
        let mut buf = [0u8; 16];
        let src = [7u8; 16];
        let ro = b"constant text".as_ptr();
        // SAFETY: every address is unmapped, read-only, or a buffer of this function that
        // nothing else uses.
        unsafe {
            assert_eq!(read(8 as *const u8, &mut buf), Err(Errno::EFAULT));
            assert_eq!(write(8 as *mut u8, &buf), Err(Errno::EFAULT));
            assert_eq!(read(src.as_ptr(), &mut buf), Ok(()));
            assert_eq!(buf, src);
            // A read-only page is readable but not writable.
            assert_eq!(write(ro as *mut u8, &buf[..1]), Err(Errno::EFAULT));
            assert_eq!(probe_read(ro, 4), Ok(()));
            assert_eq!(probe_read(16 as *const u8, 9000), Err(Errno::EFAULT));
        }
        // Large copies take the probe-then-memcpy path: a fault in the middle page counts.
        let big = vec![3u8; 3 * 4096];
        let mut out = vec![0u8; 3 * 4096];
        // SAFETY: both are this function's buffers.
        assert_eq!(unsafe { read(big.as_ptr(), &mut out) }, Ok(()));
        assert_eq!(out, big);
        // SAFETY: three fresh anonymous pages of our own; the middle one is made inaccessible.
        let p = unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                3 * 4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            libc::mprotect(p.cast::<u8>().add(4096).cast(), 4096, libc::PROT_NONE);
            p.cast::<u8>()
        };
        // SAFETY: `p` is the three pages just mapped, which only this function uses.
        unsafe {
            assert_eq!(read(p, &mut out), Err(Errno::EFAULT));
            assert_eq!(write(p, &big), Err(Errno::EFAULT));
            assert_eq!(write(p, &big[..4096]), Ok(()));
        }
    }
}
