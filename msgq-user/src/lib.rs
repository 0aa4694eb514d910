//! msgq-user: System V message queues in shared memory (API skeleton; engine in progress).
use msgq_core::abi::{MsgInfo, MsqidDs};
use msgq_core::limits::{Limits, Sysctl};
pub use msgq_core::Errno;
use std::path::{Path, PathBuf};

/// Options for creating a store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Initial limits (Linux's defaults).
    pub limits: Limits,
    /// File mode of the store file (default 0600: only its owner can use it).
    pub mode: u32,
    /// Size of the shared mapping in bytes (a sparse file; pages are used on touch).
    pub size: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { limits: Limits::default(), mode: 0o600, size: 1 << 30 }
    }
}

/// Why a store could not be opened.
#[derive(Debug)]
pub struct StoreError(pub String);

/// An open store: a set of queues in one shared-memory file (one IPC namespace).
pub struct Store {
    path: PathBuf,
}

impl Store {
    /// The default store path for this process: one per IPC namespace and user.
    pub fn default_path() -> PathBuf {
        PathBuf::from("/dev/shm/msgq-default")
    }
    /// Opens the store at `path`, creating it with `opts` if it does not exist.
    pub fn open_or_create(path: &Path, _opts: &StoreOptions) -> Result<Store, StoreError> {
        Ok(Store { path: path.to_owned() })
    }
    /// Opens an existing store.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Ok(Store { path: path.to_owned() })
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Reads a sysctl of this store (msgmax, msgmnb, msgmni, msg_next_id, auto_msgmni).
    pub fn sysctl(&self, _which: Sysctl) -> i64 {
        0
    }
    /// Writes a sysctl of this store, with the kernel's range checks (EINVAL).
    pub fn set_sysctl(&self, _which: Sysctl, _value: i64) -> Result<(), Errno> {
        Err(Errno::ENOSYS)
    }
    /// The text `/proc/sysvipc/msg` would show for this store.
    pub fn proc_sysvipc_msg(&self) -> String {
        String::new()
    }
    pub fn msgget(&self, _key: i32, _msgflg: i32) -> Result<i32, Errno> {
        Err(Errno::ENOSYS)
    }
    pub fn send(&self, _id: i32, _mtype: i64, _text: &[u8], _msgflg: i32) -> Result<(), Errno> {
        Err(Errno::ENOSYS)
    }
    pub fn receive(&self, _id: i32, _buf: &mut [u8], _msgtyp: i64, _msgflg: i32) -> Result<(i64, usize), Errno> {
        Err(Errno::ENOSYS)
    }
    pub fn stat(&self, _id: i32) -> Result<MsqidDs, Errno> {
        Err(Errno::ENOSYS)
    }
    pub fn info(&self) -> Result<MsgInfo, Errno> {
        Err(Errno::ENOSYS)
    }
}

/// C-shaped entry points: raw pointers, errno results, never a panic or a fault.
pub mod raw {
    use super::*;
    use std::ffi::c_void;
    /// # Safety
    /// None beyond the C contract: bad pointers give EFAULT.
    pub unsafe fn msgget(_s: &Store, _key: i32, _msgflg: i32) -> Result<i32, Errno> {
        Err(Errno::ENOSYS)
    }
    /// # Safety
    /// Bad pointers give EFAULT.
    pub unsafe fn msgsnd(_s: &Store, _msqid: i32, _msgp: *const c_void, _msgsz: usize, _msgflg: i32) -> Result<(), Errno> {
        Err(Errno::ENOSYS)
    }
    /// # Safety
    /// Bad pointers give EFAULT.
    pub unsafe fn msgrcv(_s: &Store, _msqid: i32, _msgp: *mut c_void, _msgsz: usize, _msgtyp: i64, _msgflg: i32) -> Result<usize, Errno> {
        Err(Errno::ENOSYS)
    }
    /// # Safety
    /// Bad pointers give EFAULT.
    pub unsafe fn msgctl(_s: &Store, _msqid: i32, _cmd: i32, _buf: *mut c_void) -> Result<i32, Errno> {
        Err(Errno::ENOSYS)
    }
}
