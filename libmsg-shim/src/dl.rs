//! `dlopen` without `RTLD_DEEPBIND`, so that libraries a program loads at run time still
//! find the shim's functions.
//!
//! A library opened with `RTLD_DEEPBIND` looks its symbols up in its own scope (itself and
//! its dependencies, libc among them) before the global scope, where `LD_PRELOAD` puts the
//! shim: its `msgget`, `msgsnd`, `msgrcv`, `msgctl`, `open`... bind to libc's and reach the
//! kernel. PHP loads every extension that way (`DL_LOAD` in `zend_portability.h`:
//! `dlopen(path, RTLD_LAZY | RTLD_GLOBAL | RTLD_DEEPBIND)`), so `sysvmsg.so`'s
//! `msg_get_queue`, `msg_send`... went to the kernel's queues under the shim.
//!
//! The shim's `dlopen` clears `RTLD_DEEPBIND` and jumps to libc's `dlopen`: a jump, not a
//! call, so libc sees the program's return address, from which it takes the caller's link
//! map (its `RPATH`/`RUNPATH` for names without a slash, and its link namespace), exactly
//! as without the shim. Every other flag is passed on unchanged. With
//! `MSGQ_BACKEND=native` the shim routes nothing, and the flag is kept.
//!
//! What changes for the opened library: a symbol it defines (or its dependencies define)
//! that the program or an earlier global library also defines now binds to the global one,
//! as for a library opened without the flag. `dlmopen` is left alone (`LD_PRELOAD` libraries
//! are not loaded in a new link namespace anyway).

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// What the flags are masked with: every bit but `RTLD_DEEPBIND`, or every bit under
/// `MSGQ_BACKEND=native` (set by [`init`]).
static KEEP: AtomicU32 = AtomicU32::new(!(libc::RTLD_DEEPBIND as u32));

/// Where the shim's `dlopen` jumps: libc's `dlopen` once [`init`] found it, until then
/// [`first_dlopen`].
static TARGET: AtomicUsize = AtomicUsize::new(0);

/// Looks libc's `dlopen` up and reads the backend variable (from the constructor).
pub fn init() {
    if crate::backend::is_native() {
        KEEP.store(!0, Ordering::Relaxed);
    }
    let real = crate::real::DLOPEN.addr();
    if real != 0 {
        TARGET.store(real, Ordering::Relaxed);
    }
}

/// The slow path, for a `dlopen` made before the constructor ran (another library's
/// constructor): looks libc's `dlopen` up and calls it. libc then sees the shim as the
/// caller; only a name without a slash searched in the caller's `RUNPATH` could differ.
extern "C" fn first_dlopen(file: *const libc::c_char, mode: libc::c_int) -> *mut libc::c_void {
    let real = crate::real::DLOPEN.addr();
    if real == 0 {
        return std::ptr::null_mut();
    }
    TARGET.store(real, Ordering::Relaxed);
    // SAFETY: `real` is libc's `dlopen`, which has this signature; the arguments are the
    // caller's.
    let f: unsafe extern "C" fn(*const libc::c_char, libc::c_int) -> *mut libc::c_void =
        unsafe { std::mem::transmute(real) };
    // SAFETY: as above.
    unsafe { f(file, mode) }
}

/// `void *dlopen(const char *file, int mode)`: `mode & KEEP`, then a jump to libc's
/// `dlopen` (or a call of [`first_dlopen`] before the constructor ran). No stack frame of
/// its own, so the return address libc reads is the program's.
///
/// # Safety
/// Callable from C with any arguments (libc's `dlopen` checks them).
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn dlopen(file: *const libc::c_char, mode: libc::c_int) -> *mut libc::c_void {
    core::arch::naked_asm!(
        "and esi, dword ptr [rip + {keep}]",
        "mov rax, qword ptr [rip + {target}]",
        "test rax, rax",
        "jz {slow}",
        "jmp rax",
        keep = sym KEEP,
        target = sym TARGET,
        slow = sym first_dlopen,
    )
}
