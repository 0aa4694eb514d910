//! The two implementations under test, behind one C-shaped interface.
//!
//! Calls take raw pointers so that cases can pass unmapped or read-only addresses and
//! observe `EFAULT`. `native` is glibc over the running kernel (inside a private IPC
//! namespace); `engine` is `msgq-user` over a store file.

use msgq_core::limits::Sysctl;
use msgq_core::Errno;
use msgq_user::{Store, StoreOptions};
use std::ffi::c_void;
use std::path::{Path, PathBuf};

/// Which implementation a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Native,
    Engine,
    /// The kernel module through `/dev/msgq` (see [`Kmod`]).
    Kmod,
    /// A namespace on a Valkey server (see [`ValkeyNs`]).
    Valkey,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Native => "native",
            Kind::Engine => "engine",
            Kind::Kmod => "kmod",
            Kind::Valkey => "valkey",
        }
    }
}

/// One implementation of System V message queues.
pub trait Backend: Sync {
    fn kind(&self) -> Kind;
    fn msgget(&self, key: i32, msgflg: i32) -> Result<i32, Errno>;
    /// # Safety
    /// `msgp` may be invalid (that gives `EFAULT`), but if it points into memory it must be
    /// memory the caller may let the implementation read for `8 + msgsz` bytes.
    unsafe fn msgsnd(
        &self,
        msqid: i32,
        msgp: *const c_void,
        msgsz: usize,
        msgflg: i32,
    ) -> Result<(), Errno>;
    /// # Safety
    /// `msgp` may be invalid (that gives `EFAULT`), but if it points into memory, writing
    /// `8 + msgsz` bytes there must be sound (the implementation writes at most that many).
    unsafe fn msgrcv(
        &self,
        msqid: i32,
        msgp: *mut c_void,
        msgsz: usize,
        msgtyp: i64,
        msgflg: i32,
    ) -> Result<usize, Errno>;
    /// # Safety
    /// `buf` may be invalid (that gives `EFAULT`), but if it points into memory, reading and
    /// writing 120 bytes there must be sound.
    unsafe fn msgctl(&self, msqid: i32, cmd: i32, buf: *mut c_void) -> Result<i32, Errno>;
    fn sysctl(&self, which: Sysctl) -> Result<i64, Errno>;
    fn set_sysctl(&self, which: Sysctl, value: i64) -> Result<(), Errno>;
    /// The text of `/proc/sysvipc/msg`.
    fn proc_msg(&self) -> Result<String, Errno>;
    /// Arguments that let an exec'd worker reopen this backend (`Kind` name, then details).
    fn worker_args(&self) -> Vec<String>;
}

fn last_errno() -> Errno {
    Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno(e.raw_os_error().unwrap_or(0))
}

/// glibc's functions over the kernel, plus the namespace's sysctl files.
pub struct Native;

impl Backend for Native {
    fn kind(&self) -> Kind {
        Kind::Native
    }
    fn msgget(&self, key: i32, msgflg: i32) -> Result<i32, Errno> {
        // SAFETY: msgget takes no pointers.
        let r = unsafe { libc::msgget(key, msgflg) };
        if r < 0 {
            Err(last_errno())
        } else {
            Ok(r)
        }
    }
    unsafe fn msgsnd(
        &self,
        msqid: i32,
        msgp: *const c_void,
        msgsz: usize,
        msgflg: i32,
    ) -> Result<(), Errno> {
        // SAFETY: the kernel validates the pointer (EFAULT); the caller guarantees that a
        // mapped pointer may be read for the given size.
        let r = unsafe { libc::msgsnd(msqid, msgp, msgsz, msgflg) };
        if r < 0 {
            Err(last_errno())
        } else {
            Ok(())
        }
    }
    unsafe fn msgrcv(
        &self,
        msqid: i32,
        msgp: *mut c_void,
        msgsz: usize,
        msgtyp: i64,
        msgflg: i32,
    ) -> Result<usize, Errno> {
        // SAFETY: as for msgsnd; the caller guarantees the writable extent.
        let r = unsafe { libc::msgrcv(msqid, msgp, msgsz, msgtyp, msgflg) };
        if r < 0 {
            Err(last_errno())
        } else {
            Ok(r as usize)
        }
    }
    unsafe fn msgctl(&self, msqid: i32, cmd: i32, buf: *mut c_void) -> Result<i32, Errno> {
        // SAFETY: the kernel validates the pointer; the caller guarantees 120 bytes.
        let r = unsafe { libc::msgctl(msqid, cmd, buf.cast::<libc::msqid_ds>()) };
        if r < 0 {
            Err(last_errno())
        } else {
            Ok(r)
        }
    }
    fn sysctl(&self, which: Sysctl) -> Result<i64, Errno> {
        let s = std::fs::read_to_string(format!("/proc/sys/kernel/{}", which.name()))
            .map_err(io_errno)?;
        s.trim().parse().map_err(|_| Errno::EINVAL)
    }
    fn set_sysctl(&self, which: Sysctl, value: i64) -> Result<(), Errno> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/sys/kernel/{}", which.name()))
            .map_err(io_errno)?;
        f.write_all(format!("{value}\n").as_bytes())
            .map_err(io_errno)
    }
    fn proc_msg(&self) -> Result<String, Errno> {
        std::fs::read_to_string("/proc/sysvipc/msg").map_err(io_errno)
    }
    fn worker_args(&self) -> Vec<String> {
        vec!["native".into(), "-".into()]
    }
}

/// msgq-user over one store file.
pub struct Engine {
    store: Store,
    path: PathBuf,
}

impl Engine {
    /// Creates (or opens) the store at `path` with mode 0666, so other uids can use it.
    pub fn create(path: &Path) -> Result<Engine, String> {
        let opts = StoreOptions {
            mode: 0o666,
            ..Default::default()
        };
        let store =
            Store::open_or_create(path, &opts).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Engine {
            store,
            path: path.to_owned(),
        })
    }
    /// Opens an existing store (exec'd workers).
    pub fn open(path: &Path) -> Result<Engine, String> {
        let store = Store::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Engine {
            store,
            path: path.to_owned(),
        })
    }
}

// `msgq_user::raw` turns a bad pointer into EFAULT itself; a good one must be the caller's
// to lend, which is this trait's own `# Safety` contract, passed on unchanged.
impl Backend for Engine {
    fn kind(&self) -> Kind {
        Kind::Engine
    }
    fn msgget(&self, key: i32, msgflg: i32) -> Result<i32, Errno> {
        msgq_user::raw::msgget(&self.store, key, msgflg)
    }
    unsafe fn msgsnd(
        &self,
        msqid: i32,
        msgp: *const c_void,
        msgsz: usize,
        msgflg: i32,
    ) -> Result<(), Errno> {
        // SAFETY: `msgp` is the caller's, under `Backend::msgsnd`'s contract (the same).
        unsafe { msgq_user::raw::msgsnd(&self.store, msqid, msgp, msgsz, msgflg) }
    }
    unsafe fn msgrcv(
        &self,
        msqid: i32,
        msgp: *mut c_void,
        msgsz: usize,
        msgtyp: i64,
        msgflg: i32,
    ) -> Result<usize, Errno> {
        // SAFETY: `msgp` is the caller's, under `Backend::msgrcv`'s contract (the same).
        unsafe { msgq_user::raw::msgrcv(&self.store, msqid, msgp, msgsz, msgtyp, msgflg) }
    }
    unsafe fn msgctl(&self, msqid: i32, cmd: i32, buf: *mut c_void) -> Result<i32, Errno> {
        // SAFETY: `buf` is the caller's, under `Backend::msgctl`'s contract (120 bytes,
        // enough for every command's structure).
        unsafe { msgq_user::raw::msgctl(&self.store, msqid, cmd, buf) }
    }
    fn sysctl(&self, which: Sysctl) -> Result<i64, Errno> {
        self.store.sysctl(which)
    }
    fn set_sysctl(&self, which: Sysctl, value: i64) -> Result<(), Errno> {
        self.store.set_sysctl(which, value)
    }
    fn proc_msg(&self) -> Result<String, Errno> {
        self.store.proc_sysvipc_msg()
    }
    fn worker_args(&self) -> Vec<String> {
        vec!["engine".into(), self.path.display().to_string()]
    }
}

/// Reopens a backend from `worker_args` (in an exec'd worker).
pub fn from_worker_args(kind: &str, path: &str) -> Result<Box<dyn Backend>, String> {
    match kind {
        "native" => Ok(Box::new(Native)),
        "engine" => Ok(Box::new(Engine::open(Path::new(path))?)),
        "kmod" => Ok(Box::new(Kmod::open()?)),
        "valkey" => {
            let (url, ns) = path.split_once(' ').ok_or("valkey: URL and namespace")?;
            Ok(Box::new(ValkeyNs::open(url, ns)?))
        }
        other => Err(format!("unknown backend {other}")),
    }
}

// ---------------------------------------------------------------------------------------
// The kernel module (msgq-kmod) through /dev/msgq, with the shim's own ioctl code. The module
// has one namespace for the whole system: `Kmod::fresh` empties it (MSGQ_RESET, root only),
// so cases must not run on it concurrently.

/// msgq-kmod through `/dev/msgq`.
pub struct Kmod(crate::kmodio::Kmod);

impl Kmod {
    /// Opens `/dev/msgq`.
    pub fn open() -> Result<Kmod, String> {
        crate::kmodio::Kmod::open()
            .map(Kmod)
            .map_err(|e| format!("/dev/msgq: {}", Errno(e)))
    }
    /// Opens `/dev/msgq` and empties the module's namespace (a fresh namespace per case).
    pub fn fresh() -> Result<Kmod, String> {
        let k = Kmod::open()?;
        k.0.reset()
            .map_err(|e| format!("MSGQ_RESET: {}", Errno(e)))?;
        Ok(k)
    }
}

impl Backend for Kmod {
    fn kind(&self) -> Kind {
        Kind::Kmod
    }
    fn msgget(&self, key: i32, msgflg: i32) -> Result<i32, Errno> {
        self.0.msgget(key, msgflg).map_err(Errno)
    }
    unsafe fn msgsnd(
        &self,
        msqid: i32,
        msgp: *const c_void,
        msgsz: usize,
        msgflg: i32,
    ) -> Result<(), Errno> {
        self.0.msgsnd(msqid, msgp, msgsz, msgflg).map_err(Errno)
    }
    unsafe fn msgrcv(
        &self,
        msqid: i32,
        msgp: *mut c_void,
        msgsz: usize,
        msgtyp: i64,
        msgflg: i32,
    ) -> Result<usize, Errno> {
        self.0
            .msgrcv(msqid, msgp, msgsz, msgtyp, msgflg)
            .map_err(Errno)
    }
    unsafe fn msgctl(&self, msqid: i32, cmd: i32, buf: *mut c_void) -> Result<i32, Errno> {
        self.0.msgctl(msqid, cmd, buf).map_err(Errno)
    }
    fn sysctl(&self, which: Sysctl) -> Result<i64, Errno> {
        self.0.sysctl(which.index(), None).map_err(Errno)
    }
    fn set_sysctl(&self, which: Sysctl, value: i64) -> Result<(), Errno> {
        self.0
            .sysctl(which.index(), Some(value))
            .map(|_| ())
            .map_err(Errno)
    }
    /// The module has no /proc file: the shim's text, built from `MSG_INFO` and
    /// `MSG_STAT_ANY` with the kernel's format (`msgq_core::procfmt`).
    fn proc_msg(&self) -> Result<String, Errno> {
        self.0.proc_sysvipc_msg().map_err(Errno)
    }
    fn worker_args(&self) -> Vec<String> {
        vec!["kmod".into(), "-".into()]
    }
}

// ---------------------------------------------------------------------------------------
// The Valkey backend (msgq-valkey): one namespace per case on the server named by
// `MSGQ_TEST_VALKEY_URL` (the conformance program starts one when it is unset).

/// A namespace of the Valkey backend.
pub struct ValkeyNs {
    v: msgq_valkey::Valkey,
    url: String,
    ns: String,
}

impl ValkeyNs {
    /// Opens namespace `ns` on the server at `url`.
    pub fn open(url: &str, ns: &str) -> Result<ValkeyNs, String> {
        let v = msgq_valkey::Valkey::open(url, ns).map_err(|e| format!("{url}: {e}"))?;
        Ok(ValkeyNs {
            v,
            url: url.to_owned(),
            ns: ns.to_owned(),
        })
    }
}

// `msgq_valkey::raw` turns a bad pointer into EFAULT itself; a good one must be the caller's
// to lend, which is this trait's own `# Safety` contract, passed on unchanged.
impl Backend for ValkeyNs {
    fn kind(&self) -> Kind {
        Kind::Valkey
    }
    fn msgget(&self, key: i32, msgflg: i32) -> Result<i32, Errno> {
        msgq_valkey::raw::msgget(&self.v, key, msgflg)
    }
    unsafe fn msgsnd(
        &self,
        msqid: i32,
        msgp: *const c_void,
        msgsz: usize,
        msgflg: i32,
    ) -> Result<(), Errno> {
        // SAFETY: `msgp` is the caller's, under `Backend::msgsnd`'s contract (the same).
        unsafe { msgq_valkey::raw::msgsnd(&self.v, msqid, msgp, msgsz, msgflg) }
    }
    unsafe fn msgrcv(
        &self,
        msqid: i32,
        msgp: *mut c_void,
        msgsz: usize,
        msgtyp: i64,
        msgflg: i32,
    ) -> Result<usize, Errno> {
        // SAFETY: `msgp` is the caller's, under `Backend::msgrcv`'s contract (the same).
        unsafe { msgq_valkey::raw::msgrcv(&self.v, msqid, msgp, msgsz, msgtyp, msgflg) }
    }
    unsafe fn msgctl(&self, msqid: i32, cmd: i32, buf: *mut c_void) -> Result<i32, Errno> {
        // SAFETY: `buf` is the caller's, under `Backend::msgctl`'s contract.
        unsafe { msgq_valkey::raw::msgctl(&self.v, msqid, cmd, buf) }
    }
    fn sysctl(&self, which: Sysctl) -> Result<i64, Errno> {
        self.v.sysctl(which)
    }
    fn set_sysctl(&self, which: Sysctl, value: i64) -> Result<(), Errno> {
        self.v.set_sysctl(which, value)
    }
    fn proc_msg(&self) -> Result<String, Errno> {
        self.v.proc_msg()
    }
    fn worker_args(&self) -> Vec<String> {
        vec!["valkey".into(), format!("{} {}", self.url, self.ns)]
    }
}
