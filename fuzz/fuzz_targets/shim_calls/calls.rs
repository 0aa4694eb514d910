//! The two backends a call goes to: the kernel (`syscall(2)` straight from this binary, so
//! never the shim) and the shim (its exported C functions, found with `dlsym` in a copy of
//! `libmsg_shim.so` opened `RTLD_LOCAL`, so nothing else in this process is interposed).

use libc::{c_char, c_int, c_long, c_uint, c_void, size_t, ssize_t};
use std::ffi::CString;

/// `MSG_STAT_ANY` (Linux 4.17; not in the libc crate).
pub const MSG_STAT_ANY: i32 = 13;

/// One call with its raw arguments. `int` arguments are carried as `long`s: the direct C
/// functions get their low 32 bits, `syscall()` gets them whole (dirty upper halves).
#[derive(Clone, Copy, Debug)]
pub enum Call {
    Get {
        key: i64,
        flg: i64,
    },
    Snd {
        id: i64,
        p: usize,
        sz: usize,
        flg: i64,
    },
    Rcv {
        id: i64,
        p: usize,
        sz: usize,
        typ: i64,
        flg: i64,
    },
    Ctl {
        id: i64,
        cmd: i64,
        p: usize,
    },
    /// One of the functions that open files (the shim looks at their paths to emulate the
    /// `/proc` files); a descriptor or stream it returns is closed at once, and success
    /// reads as 0.
    Open {
        how: OpenHow,
        p: usize,
        flags: i32,
    },
    /// `open(LIMIT_FILES[file], O_WRONLY)`, `write(fd, p, n)`, `close(fd)`.
    WriteLimit {
        file: usize,
        p: usize,
        n: usize,
    },
}

/// Which opening function, with which directory descriptor for `openat`.
#[derive(Clone, Copy, Debug)]
pub enum OpenHow {
    Open,
    Open64,
    OpenAt(i32),
    Open2,
    Fopen,
    Fopen64,
}

/// What a call returned: the value, and `errno` when it is -1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub ret: i64,
    pub errno: i32,
}

fn errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

fn clear_errno() {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = 0 };
}

fn outcome(ret: i64) -> Outcome {
    Outcome {
        ret,
        errno: if ret == -1 { errno() } else { 0 },
    }
}

impl Call {
    fn sysno_args(&self) -> (c_long, [c_long; 5]) {
        match *self {
            Call::Get { key, flg } => (libc::SYS_msgget, [key, flg, 0, 0, 0]),
            Call::Snd { id, p, sz, flg } => (libc::SYS_msgsnd, [id, p as i64, sz as i64, flg, 0]),
            Call::Rcv {
                id,
                p,
                sz,
                typ,
                flg,
            } => (libc::SYS_msgrcv, [id, p as i64, sz as i64, typ, flg]),
            Call::Ctl { id, cmd, p } => (libc::SYS_msgctl, [id, cmd, p as i64, 0, 0]),
            Call::Open { .. } | Call::WriteLimit { .. } => unreachable!("not a message call"),
        }
    }
}

extern "C" {
    fn __open_2(path: *const c_char, flags: c_int) -> c_int;
}

/// The functions that open files, as a table: glibc's own or the shim's.
pub struct Opens {
    open: OpenFn,
    open64: OpenFn,
    openat: OpenAtFn,
    open2: Open2Fn,
    fopen: FopenFn,
    fopen64: FopenFn,
    close: CloseFn,
    fclose: FcloseFn,
    write: WriteFn,
}

type OpenFn = unsafe extern "C" fn(*const c_char, c_int, c_uint) -> c_int;
type OpenAtFn = unsafe extern "C" fn(c_int, *const c_char, c_int, c_uint) -> c_int;
type Open2Fn = unsafe extern "C" fn(*const c_char, c_int) -> c_int;
type FopenFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut libc::FILE;
type CloseFn = unsafe extern "C" fn(c_int) -> c_int;
type FcloseFn = unsafe extern "C" fn(*mut libc::FILE) -> c_int;
type WriteFn = unsafe extern "C" fn(c_int, *const c_void, size_t) -> ssize_t;

// glibc's variadic open functions, behind the shim's (fixed-argument) types.
unsafe extern "C" fn glibc_open(p: *const c_char, f: c_int, m: c_uint) -> c_int {
    // SAFETY: forwarded as the caller gave them.
    unsafe { libc::open(p, f, m) }
}
unsafe extern "C" fn glibc_open64(p: *const c_char, f: c_int, m: c_uint) -> c_int {
    // SAFETY: as above.
    unsafe { libc::open64(p, f, m) }
}
unsafe extern "C" fn glibc_openat(d: c_int, p: *const c_char, f: c_int, m: c_uint) -> c_int {
    // SAFETY: as above.
    unsafe { libc::openat(d, p, f, m) }
}

/// glibc's (this binary is not under the shim).
static GLIBC_OPENS: Opens = Opens {
    open: glibc_open,
    open64: glibc_open64,
    openat: glibc_openat,
    open2: __open_2,
    fopen: libc::fopen,
    fopen64: libc::fopen64,
    close: libc::close,
    fclose: libc::fclose,
    write: libc::write,
};

/// The limit files (`/proc/sys/kernel/`), which the shim emulates.
pub const LIMIT_FILES: [&std::ffi::CStr; 4] = [
    c"/proc/sys/kernel/msgmax",
    c"/proc/sys/kernel/msgmnb",
    c"/proc/sys/kernel/msgmni",
    c"/proc/sys/kernel/msg_next_id",
];

impl Opens {
    /// Opens limit file `file` for writing, writes `n` bytes from `p`, closes it. The
    /// outcome is the write's, or the open's when it failed, or -2 and the errno of a
    /// failed close (where a refused value can show).
    fn write_limit(&self, file: usize, p: usize, n: usize) -> Outcome {
        let path = LIMIT_FILES[file % LIMIT_FILES.len()];
        clear_errno();
        // SAFETY: a valid path; write accepts any buffer pointer (EFAULT); the descriptor
        // is ours to close.
        unsafe {
            let fd = (self.open)(path.as_ptr(), libc::O_WRONLY, 0);
            if fd < 0 {
                return outcome(-1);
            }
            clear_errno();
            let w = outcome((self.write)(fd, p as *const c_void, n) as i64);
            clear_errno();
            if (self.close)(fd) != 0 {
                return Outcome {
                    ret: -2,
                    errno: errno(),
                };
            }
            w
        }
    }

    fn call(&self, how: OpenHow, p: usize, flags: i32) -> Outcome {
        let path = p as *const c_char;
        let mode = c"r".as_ptr();
        clear_errno();
        // SAFETY: the opening functions accept any path pointer (EFAULT); `mode` is a valid
        // string; a descriptor or stream they return is ours to close.
        unsafe {
            let fd = match how {
                OpenHow::Open => (self.open)(path, flags, 0o600),
                OpenHow::Open64 => (self.open64)(path, flags, 0o600),
                OpenHow::OpenAt(d) => (self.openat)(d, path, flags, 0o600),
                OpenHow::Open2 => (self.open2)(path, flags),
                OpenHow::Fopen | OpenHow::Fopen64 => {
                    let f = if matches!(how, OpenHow::Fopen) {
                        self.fopen
                    } else {
                        self.fopen64
                    };
                    let f = f(path, mode);
                    let o = outcome(if f.is_null() { -1 } else { 0 });
                    if !f.is_null() {
                        (self.fclose)(f);
                    }
                    return o;
                }
            };
            let o = outcome(if fd < 0 { -1 } else { 0 });
            if fd >= 0 {
                (self.close)(fd);
            }
            o
        }
    }
}

/// The kernel's own system calls (for `Open`, glibc's functions).
pub fn kernel(c: &Call) -> Outcome {
    match *c {
        Call::Open { how, p, flags } => return GLIBC_OPENS.call(how, p, flags),
        Call::WriteLimit { file, p, n } => return GLIBC_OPENS.write_limit(file, p, n),
        _ => {}
    }
    let (n, a) = c.sysno_args();
    clear_errno();
    // SAFETY: the message system calls validate every argument; pointers are either into
    // our arena or addresses the kernel rejects with EFAULT.
    outcome(unsafe { libc::syscall(n, a[0], a[1], a[2], a[3], a[4]) })
}

type GetFn = unsafe extern "C" fn(c_int, c_int) -> c_int;
type SndFn = unsafe extern "C" fn(c_int, *const c_void, size_t, c_int) -> c_int;
type RcvFn = unsafe extern "C" fn(c_int, *mut c_void, size_t, c_long, c_int) -> ssize_t;
type CtlFn = unsafe extern "C" fn(c_int, c_int, *mut c_void) -> c_int;
/// The shim defines `syscall` with six `long`s after the number (as glibc reads them).
type SyscallFn =
    unsafe extern "C" fn(c_long, c_long, c_long, c_long, c_long, c_long, c_long) -> c_long;

/// The shim's exported functions.
pub struct Shim {
    get: GetFn,
    snd: SndFn,
    rcv: RcvFn,
    ctl: CtlFn,
    syscall: SyscallFn,
    opens: Opens,
}

fn dlerror() -> String {
    // SAFETY: dlerror returns null or a NUL-terminated message owned by libdl.
    unsafe {
        let e = libc::dlerror();
        if e.is_null() {
            "?".into()
        } else {
            std::ffi::CStr::from_ptr(e).to_string_lossy().into_owned()
        }
    }
}

impl Shim {
    /// Opens the shim at `path` (`RTLD_NOW | RTLD_LOCAL`) and looks up its five functions.
    pub fn open(path: &str) -> Result<Shim, String> {
        let cpath = CString::new(path).map_err(|e| e.to_string())?;
        // SAFETY: dlopen with a NUL-terminated path; the library's constructor only
        // resolves the real libc functions.
        let h = unsafe { libc::dlopen(cpath.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if h.is_null() {
            return Err(format!("dlopen {path}: {}", dlerror()));
        }
        let sym = |name: &std::ffi::CStr| {
            // SAFETY: a lookup in the handle just opened (never closed).
            let p = unsafe { libc::dlsym(h, name.as_ptr()) };
            if p.is_null() {
                Err(format!("dlsym {name:?} in {path}: {}", dlerror()))
            } else {
                Ok(p)
            }
        };
        // SAFETY: each symbol is the shim's `extern "C"` function of exactly this type
        // (libmsg-shim/src/exports.rs), or glibc's prototype for it.
        unsafe {
            Ok(Shim {
                get: std::mem::transmute::<*mut c_void, GetFn>(sym(c"msgget")?),
                snd: std::mem::transmute::<*mut c_void, SndFn>(sym(c"msgsnd")?),
                rcv: std::mem::transmute::<*mut c_void, RcvFn>(sym(c"msgrcv")?),
                ctl: std::mem::transmute::<*mut c_void, CtlFn>(sym(c"msgctl")?),
                syscall: std::mem::transmute::<*mut c_void, SyscallFn>(sym(c"syscall")?),
                opens: Opens {
                    open: std::mem::transmute::<*mut c_void, OpenFn>(sym(c"open")?),
                    open64: std::mem::transmute::<*mut c_void, OpenFn>(sym(c"open64")?),
                    openat: std::mem::transmute::<*mut c_void, OpenAtFn>(sym(c"openat")?),
                    open2: std::mem::transmute::<*mut c_void, Open2Fn>(sym(c"__open_2")?),
                    fopen: std::mem::transmute::<*mut c_void, FopenFn>(sym(c"fopen")?),
                    fopen64: std::mem::transmute::<*mut c_void, FopenFn>(sym(c"fopen64")?),
                    close: std::mem::transmute::<*mut c_void, CloseFn>(sym(c"close")?),
                    fclose: std::mem::transmute::<*mut c_void, FcloseFn>(sym(c"fclose")?),
                    write: std::mem::transmute::<*mut c_void, WriteFn>(sym(c"write")?),
                },
            })
        }
    }

    /// Calls the shim: through `syscall()` when `via_syscall`, else the C function.
    pub fn call(&self, c: &Call, via_syscall: bool) -> Outcome {
        match *c {
            Call::Open { how, p, flags } => return self.opens.call(how, p, flags),
            Call::WriteLimit { file, p, n } => return self.opens.write_limit(file, p, n),
            _ => {}
        }
        clear_errno();
        if via_syscall {
            let (n, a) = c.sysno_args();
            // SAFETY: the shim's syscall() accepts any arguments (bad pointers are EFAULT).
            return outcome(unsafe { (self.syscall)(n, a[0], a[1], a[2], a[3], a[4], 0) });
        }
        // SAFETY: the shim's functions accept any arguments (bad pointers are EFAULT); the
        // `int` arguments are truncated as a C caller's would be.
        let r = unsafe {
            match *c {
                Call::Get { key, flg } => (self.get)(key as c_int, flg as c_int) as i64,
                Call::Snd { id, p, sz, flg } => {
                    (self.snd)(id as c_int, p as *const c_void, sz, flg as c_int) as i64
                }
                Call::Rcv {
                    id,
                    p,
                    sz,
                    typ,
                    flg,
                } => (self.rcv)(id as c_int, p as *mut c_void, sz, typ, flg as c_int) as i64,
                Call::Ctl { id, cmd, p } => {
                    (self.ctl)(id as c_int, cmd as c_int, p as *mut c_void) as i64
                }
                Call::Open { .. } | Call::WriteLimit { .. } => unreachable!("handled above"),
            }
        };
        outcome(r)
    }
}
