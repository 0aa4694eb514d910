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
//! as for a library opened without the flag. `dlmopen` is left alone.
//!
//! Two more ways around the preload are closed here:
//!
//! * `dlsym(handle, "msgget")` with the handle of a library (`dlopen("libc.so.6")`, as
//!   Python's `ctypes.CDLL("libc.so.6")` does) searches that library alone and gives libc's
//!   function. The shim's `dlsym` gives its own `msgget`, `msgsnd`, `msgrcv`, `msgctl` or
//!   `syscall` whenever the lookup found libc's; everything else it returns unchanged.
//!   `RTLD_DEFAULT` and `RTLD_NEXT` (whose answer depends on the caller) are passed on by a
//!   jump, as for `dlopen`; they find the shim's functions by themselves.
//! * `dlvsym(RTLD_DEFAULT, "msgget", "GLIBC_2.2.5")` skips unversioned definitions (the
//!   lookup is for that version only), so it found libc's. The shim's four message
//!   functions carry glibc's version, `GLIBC_2.2.5` (the only one x86_64 glibc has for
//!   them), as their default version (`build.rs` defines the version node, the `.symver`
//!   directives below bind them; the crate is one codegen unit so that they are in the same
//!   object as the functions): versioned and unversioned references both find them.
//!
//! The shim's own `dlsym(RTLD_NEXT, ...)` lookups (`real.rs`) go through its `dlsym` too:
//! the `RTLD_NEXT` jump keeps the shim as the caller, so they find libc's functions.
//!
//! Still around the shim: `dlvsym` with libc's own handle, and libraries in a namespace made
//! by `dlmopen(LM_ID_NEWLM)`, which has its own libc and no preload (docs/shim.md, "Every
//! way a program can still miss the shim").

use std::ffi::{c_char, c_void};
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

// The four message functions as `msgget@@GLIBC_2.2.5`...: see the module's documentation.
// A `.symver` must be in the same object as the definition: the crate is built as one
// codegen unit (the workspace's Cargo.toml), or the link fails.
#[cfg(not(test))]
core::arch::global_asm!(
    ".symver msgget, msgget@@GLIBC_2.2.5",
    ".symver msgsnd, msgsnd@@GLIBC_2.2.5",
    ".symver msgrcv, msgrcv@@GLIBC_2.2.5",
    ".symver msgctl, msgctl@@GLIBC_2.2.5",
);

/// libc's `dlsym`, found by [`find_dlsym`]; 0 until then.
static REAL_DLSYM: AtomicUsize = AtomicUsize::new(0);

/// Looks libc's `dlsym` up with `dlvsym` (which the shim leaves alone: its own `dlsym`
/// would be found by `dlsym`), the glibc 2.34 version, else the older one.
extern "C" fn find_dlsym() -> usize {
    let mut a = REAL_DLSYM.load(Ordering::Relaxed);
    if a != 0 {
        return a;
    }
    for version in [c"GLIBC_2.34", c"GLIBC_2.2.5"] {
        // SAFETY: dlvsym with RTLD_NEXT and NUL-terminated strings has no other
        // precondition.
        a = unsafe { libc::dlvsym(libc::RTLD_NEXT, c"dlsym".as_ptr(), version.as_ptr()) } as usize;
        if a != 0 {
            break;
        }
    }
    REAL_DLSYM.store(a, Ordering::Relaxed);
    a
}

/// `dlsym` with the handle of a library: libc's answer, with libc's message functions
/// replaced by the shim's (under `MSGQ_BACKEND=native`, libc's answer as it is).
extern "C" fn dlsym_in(handle: *mut c_void, name: *const c_char) -> *mut c_void {
    let real = find_dlsym();
    if real == 0 {
        return std::ptr::null_mut();
    }
    // SAFETY: `real` is libc's `dlsym`, which has this signature.
    let f: unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void =
        unsafe { std::mem::transmute(real) };
    // SAFETY: the caller's arguments, passed on (libc's `dlsym` checks them). With a
    // handle (neither RTLD_DEFAULT nor RTLD_NEXT) libc does not use the caller's address
    // but for auditing.
    let r = unsafe { f(handle, name) };
    if r.is_null() || KEEP.load(Ordering::Relaxed) == !0 {
        return r;
    }
    let ours: [(&crate::real::Real, usize); 5] = [
        (
            &crate::real::MSGGET,
            crate::exports::msgget as *const () as usize,
        ),
        (
            &crate::real::MSGSND,
            crate::exports::msgsnd as *const () as usize,
        ),
        (
            &crate::real::MSGRCV,
            crate::exports::msgrcv as *const () as usize,
        ),
        (
            &crate::real::MSGCTL,
            crate::exports::msgctl as *const () as usize,
        ),
        (
            &crate::real::SYSCALL,
            crate::exports::syscall as *const () as usize,
        ),
    ];
    for (libc_fn, shim_fn) in ours {
        if r as usize == libc_fn.addr() {
            return shim_fn as *mut c_void;
        }
    }
    r
}

/// `void *dlsym(void *handle, const char *name)`: `RTLD_DEFAULT` (0) and `RTLD_NEXT` (-1)
/// jump to libc's `dlsym` (it reads the caller's return address), looking it up first if
/// need be; any other handle goes to [`dlsym_in`].
///
/// # Safety
/// Callable from C with any arguments (libc's `dlsym` checks them).
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void {
    core::arch::naked_asm!(
        "test rdi, rdi",
        "jz 2f",
        "cmp rdi, -1",
        "je 2f",
        "jmp {dlsym_in}",
        "2:",
        "mov rax, qword ptr [rip + {real}]",
        "test rax, rax",
        "jnz 3f",
        // First use: find libc's dlsym, keeping the arguments (and the stack aligned).
        "push rdi",
        "push rsi",
        "sub rsp, 8",
        "call {find}",
        "add rsp, 8",
        "pop rsi",
        "pop rdi",
        "test rax, rax",
        "jz 4f",
        "3:",
        "jmp rax",
        "4:",
        "ret",
        dlsym_in = sym dlsym_in,
        real = sym REAL_DLSYM,
        find = sym find_dlsym,
    )
}
