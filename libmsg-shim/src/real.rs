//! The real libc functions the shim stands in front of, found with `dlsym(RTLD_NEXT)`.
//!
//! Every address is looked up once, in the library's constructor (so no lookup, which may
//! allocate or take the loader's lock, happens later in a signal handler or a forked child),
//! and again lazily if a wrapper runs before the constructor did.

use std::ffi::CStr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One real function: its name and, once found, its address.
pub struct Real {
    name: &'static CStr,
    addr: AtomicUsize,
}

impl Real {
    const fn new(name: &'static CStr) -> Real {
        Real {
            name,
            addr: AtomicUsize::new(0),
        }
    }

    /// The function's address, or 0 when the C library has none.
    pub fn addr(&self) -> usize {
        let a = self.addr.load(Ordering::Relaxed);
        if a != 0 {
            return a;
        }
        // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name has no other precondition.
        let a = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr()) } as usize;
        self.addr.store(a, Ordering::Relaxed);
        a
    }
}

macro_rules! reals {
    ($($id:ident = $name:literal;)*) => {
        $(pub static $id: Real = Real::new($name);)*
        /// Looks every real function up (from the constructor).
        pub fn resolve_all() {
            $($id.addr();)*
        }
    };
}

reals! {
    SYSCALL = c"syscall";
    MSGGET = c"msgget";
    MSGSND = c"msgsnd";
    MSGRCV = c"msgrcv";
    MSGCTL = c"msgctl";
    SETUID = c"setuid";
    SETEUID = c"seteuid";
    SETREUID = c"setreuid";
    SETRESUID = c"setresuid";
    SETGID = c"setgid";
    SETEGID = c"setegid";
    SETREGID = c"setregid";
    SETRESGID = c"setresgid";
    SETGROUPS = c"setgroups";
    OPEN = c"open";
    OPEN64 = c"open64";
    OPENAT = c"openat";
    OPENAT64 = c"openat64";
    OPEN_2 = c"__open_2";
    OPEN64_2 = c"__open64_2";
    OPENAT_2 = c"__openat_2";
    OPENAT64_2 = c"__openat64_2";
    FOPEN = c"fopen";
    FOPEN64 = c"fopen64";
    FCLOSE = c"fclose";
    FFLUSH = c"fflush";
    CLOSE = c"close";
    DUP2 = c"dup2";
    DUP3 = c"dup3";
    WRITE = c"write";
    SIGACTION = c"sigaction";
    SIGINTERRUPT = c"siginterrupt";
    UNSHARE = c"unshare";
    SETNS = c"setns";
    CLONE = c"clone";
    DLOPEN = c"dlopen";
}

/// Calls a real function through its address as the given function-pointer type, or
/// evaluates `$missing` when the C library lacks it.
macro_rules! call_real {
    ($real:expr, $ty:ty, $missing:expr, ($($arg:expr),* $(,)?)) => {{
        let a = $real.addr();
        if a == 0 {
            $missing
        } else {
            // SAFETY: `a` is the address dlsym gave for this libc function, whose C prototype
            // is `$ty`; the arguments are passed through as the caller gave them.
            let f: $ty = unsafe { std::mem::transmute::<usize, $ty>(a) };
            // SAFETY: as above: a call of the real function with its own prototype.
            unsafe { f($($arg),*) }
        }
    }};
}
pub(crate) use call_real;
