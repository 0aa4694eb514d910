//! The caller's credentials for permission checks: effective uid, fsgid and supplementary
//! groups, and the capabilities that matter (read with `capget`).
//!
//! They are cached per thread and re-read after `fork` or [`refresh`]; reading them costs
//! several system calls, which the fast path must not make. Code that changes credentials
//! in a running process (the shim's `setuid` wrappers do) calls [`refresh`].

use msgq_core::perm::Caller;
use std::cell::RefCell;
use std::rc::Rc;

const CAP_SYS_ADMIN: u32 = 21;
const CAP_IPC_OWNER: u32 = 15;
const CAP_SYS_RESOURCE: u32 = 24;

/// A snapshot of the caller's credentials.
#[derive(Clone, Debug, Default)]
pub struct Creds {
    pub euid: u32,
    pub egid: u32,
    pub fsgid: u32,
    pub groups: Vec<u32>,
    /// The effective capability set (low 64 bits).
    pub caps: u64,
}

impl Creds {
    /// Reads the calling thread's credentials from the kernel.
    pub fn read() -> Creds {
        // SAFETY: these calls have no preconditions. setfsgid(-1) changes nothing and
        // returns the current fsgid.
        let (euid, egid, fsgid) = unsafe {
            (
                libc::geteuid(),
                libc::getegid(),
                libc::setfsgid(u32::MAX) as u32,
            )
        };
        let mut groups = vec![0u32; 64];
        loop {
            // SAFETY: the buffer holds `groups.len()` entries.
            let n = unsafe { libc::getgroups(groups.len() as i32, groups.as_mut_ptr()) };
            if n >= 0 {
                groups.truncate(n as usize);
                break;
            }
            if groups.len() > 1 << 17 {
                groups.clear();
                break;
            }
            groups.resize(groups.len() * 4, 0);
        }
        Creds {
            euid,
            egid,
            fsgid,
            groups,
            caps: read_caps(),
        }
    }

    fn has_cap(&self, cap: u32) -> bool {
        self.caps & (1u64 << cap) != 0
    }
}

fn read_caps() -> u64 {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut h = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: capget with _LINUX_CAPABILITY_VERSION_3 writes two Data records.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut h as *mut Header, d.as_mut_ptr()) };
    if r != 0 {
        return 0;
    }
    d[0].effective as u64 | (d[1].effective as u64) << 32
}

impl Caller for Creds {
    fn euid(&self) -> u32 {
        self.euid
    }
    fn in_group(&self, gid: u32) -> bool {
        self.fsgid == gid || self.groups.contains(&gid)
    }
    fn cap_ipc_owner(&self) -> bool {
        self.has_cap(CAP_IPC_OWNER)
    }
    fn cap_sys_admin(&self) -> bool {
        self.has_cap(CAP_SYS_ADMIN)
    }
    fn cap_sys_resource(&self) -> bool {
        self.has_cap(CAP_SYS_RESOURCE)
    }
}

// Under loom, model threads share one OS thread: the cache must be per model thread.
#[cfg(loom)]
use loom::thread_local;

thread_local! {
    static CACHE: RefCell<(u64, Rc<Creds>)> = RefCell::new((0, Rc::new(Creds::default())));
}

// Not loom's: only a supervisor sets it (`msgq run`), never a loom model.
std::thread_local! {
    /// The credentials of the process this thread calls for ([`acting`]), if any.
    static ACTING: RefCell<Option<Rc<Creds>>> = const { RefCell::new(None) };
}

/// Runs `f` with `who` as the caller's credentials in this thread (a supervisor making a
/// call for another process: `msgq run`). The thread's own are used again after `f`.
pub fn acting<R>(who: Creds, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Rc<Creds>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            ACTING.with(|a| *a.borrow_mut() = prev);
        }
    }
    let prev = ACTING.with(|a| a.borrow_mut().replace(Rc::new(who)));
    let _restore = Restore(prev);
    f()
}

/// Runs `f` with the caller's (cached) credentials.
///
/// The cache is borrowed only long enough to take a reference count, not during `f`: a
/// signal handler may call into msgq while this thread is blocked inside a call (Linux
/// allows a handler's `msgsnd` then), and must find the cache free.
pub fn with<R>(f: impl FnOnce(&Creds) -> R) -> R {
    if let Some(who) = ACTING.with(|a| a.try_borrow().ok().and_then(|a| a.clone())) {
        return f(&who);
    }
    let gen = super::process::generation();
    let cached = CACHE.with(|c| {
        let mut c = c.try_borrow_mut().ok()?;
        if c.0 != gen {
            *c = (gen, Rc::new(Creds::read()));
        }
        Some(Rc::clone(&c.1))
    });
    match cached {
        Some(creds) => f(&creds),
        // A handler interrupted this thread inside the few instructions above.
        None => f(&Creds::read()),
    }
}

/// Forgets cached credentials in every thread (call after setuid, setgroups, capset...).
pub fn refresh() {
    super::process::invalidate();
}
