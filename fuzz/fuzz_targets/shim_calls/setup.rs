//! One-time setup: a private IPC namespace for the kernel side, a private store for the
//! shim, the shim itself, and the timer that interrupts calls allowed to block.

use crate::calls::Shim;
use std::ffi::CString;
use std::sync::OnceLock;

/// How results are judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oracle {
    /// Against the kernel's own calls in a private IPC namespace.
    Kernel,
    /// No private namespace could be made (not root): each result must be a value or an
    /// errno the call can give, and never `EIO` (a panic in the shim).
    ErrnoSets,
}

static STORE: OnceLock<CString> = OnceLock::new();

extern "C" fn remove_store() {
    if let Some(p) = STORE.get() {
        // SAFETY: unlink with a NUL-terminated path.
        unsafe { libc::unlink(p.as_ptr()) };
    }
}

/// Enters a private IPC namespace (so the host's queues are never touched), as root only:
/// in a user namespace the kernel's capability checks (`CAP_SYS_RESOURCE` for `msg_qbytes`,
/// `CAP_DAC_OVERRIDE` on `/proc` files) would differ from a root shim's for that reason
/// alone.
fn private_ipc_namespace() -> bool {
    // SAFETY: geteuid and unshare have no memory-safety preconditions; unshare changes only
    // this thread's namespaces (libFuzzer runs every input on this thread).
    unsafe { libc::geteuid() == 0 && libc::unshare(libc::CLONE_NEWIPC) == 0 }
}

extern "C" fn on_tick(_: libc::c_int) {}

/// A per-thread timer raising a signal without `SA_RESTART`, so a blocked call returns
/// `EINTR` on both backends.
pub struct Ticker(libc::timer_t);

// SAFETY: the timer id is a plain handle, used only from the fuzzing thread.
unsafe impl Send for Ticker {}
// SAFETY: as above.
unsafe impl Sync for Ticker {}

impl Ticker {
    fn new() -> Ticker {
        let sig = libc::SIGRTMIN() + 4;
        // SAFETY: a zeroed sigaction filled with a handler that does nothing; a zeroed
        // sigevent naming this thread; timer_create writes the id.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_tick as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            assert_eq!(libc::sigaction(sig, &sa, std::ptr::null_mut()), 0);
            let mut ev: libc::sigevent = std::mem::zeroed();
            ev.sigev_notify = libc::SIGEV_THREAD_ID;
            ev.sigev_signo = sig;
            ev.sigev_notify_thread_id = libc::gettid();
            let mut t: libc::timer_t = std::ptr::null_mut();
            assert_eq!(
                libc::timer_create(libc::CLOCK_MONOTONIC, &mut ev, &mut t),
                0
            );
            Ticker(t)
        }
    }

    fn arm(&self, ns: i64) {
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: ns,
        };
        let its = libc::itimerspec {
            it_interval: ts,
            it_value: ts,
        };
        // SAFETY: our timer, a valid itimerspec.
        unsafe { libc::timer_settime(self.0, 0, &its, std::ptr::null_mut()) };
    }

    /// Runs `f`; when `may_block`, with a signal every 200 µs until it returns.
    pub fn run<R>(&self, may_block: bool, f: impl FnOnce() -> R) -> R {
        if !may_block {
            return f();
        }
        self.arm(200_000);
        let r = f();
        self.arm(0);
        r
    }
}

pub struct Env {
    pub shim: Shim,
    pub oracle: Oracle,
    pub ticker: Ticker,
}

/// The shim: `MSGQ_FUZZ_SHIM`, else `libmsg_shim.so` next to this executable (where
/// fuzz/run.sh builds it, instrumented).
fn shim_path() -> String {
    if let Some(p) = std::env::var_os("MSGQ_FUZZ_SHIM") {
        return p.to_string_lossy().into_owned();
    }
    let exe = std::env::current_exe().expect("current_exe");
    exe.with_file_name("libmsg_shim.so")
        .to_string_lossy()
        .into_owned()
}

pub fn init() -> Env {
    let oracle = if private_ipc_namespace() {
        Oracle::Kernel
    } else {
        Oracle::ErrnoSets
    };
    let store = format!("/dev/shm/msgq-fuzz-shim-{}-store", std::process::id());
    let _ = std::fs::remove_file(&store);
    std::env::set_var("MSGQ_BACKEND", "user");
    std::env::set_var("MSGQ_STORE", &store);
    let _ = STORE.set(CString::new(store).expect("store path"));
    // SAFETY: registering a function that only unlinks a path.
    unsafe { libc::atexit(remove_store) };
    let shim = Shim::open(&shim_path()).unwrap_or_else(|e| panic!("shim_calls: {e}"));
    // SAFETY: open and dup2 with a NUL-terminated path and plain descriptor numbers.
    unsafe {
        let d = libc::open(
            c"/proc/sysvipc".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY,
        );
        assert!(d >= 0, "open /proc/sysvipc");
        assert_eq!(
            libc::dup2(d, crate::decode::SYSVIPC_DIRFD),
            crate::decode::SYSVIPC_DIRFD
        );
        libc::close(d);
    }
    if oracle == Oracle::ErrnoSets {
        eprintln!("shim_calls: no private IPC namespace: errno-set oracle, not the kernel");
    }
    Env {
        shim,
        oracle,
        ticker: Ticker::new(),
    }
}
