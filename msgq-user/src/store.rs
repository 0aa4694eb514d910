//! Opening, creating and mapping store files.
//!
//! A store file (`MSGQ_STORE`, `Store::open`...; the default store is the namespace's,
//! `crate::anchored`) is one file mapped shared by every process that uses it: a registry, then one shard per queue index (see `shm::layout`). The file is sparse:
//! a shard's pages are touched only once its index is used. It is created under a temporary name, initialised completely, and then linked into
//! place, so nobody ever maps a half-initialised store; two processes racing to create the
//! same store both end up using the one that was linked first.

use crate::engine::registry::Ns;
use crate::shm::layout::{self as lay, H, R};
use crate::shm::Arena;
use crate::sync::StoreLock;
use msgq_core::limits::Limits;
use std::ffi::CString;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Options for creating a store.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Initial limits (Linux's defaults).
    pub limits: Limits,
    /// Mode of the store file. The default, 0600, lets only its owner use it: anyone who can
    /// write the file can change any queue in it, whatever the queues' own modes say.
    pub mode: u32,
    /// Size of one queue's shard in bytes: the most memory one queue index (its queue, its
    /// messages and blocked callers) can use. The file holds 32768 shards and is sparse:
    /// memory is used as it is touched.
    pub size: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            limits: Limits::default(),
            mode: 0o600,
            size: 64 << 20,
        }
    }
}

/// Why a store could not be opened or created. The message names the file.
#[derive(Debug)]
pub struct StoreError {
    pub path: PathBuf,
    pub kind: StoreErrorKind,
}

/// The kinds of [`StoreError`].
#[derive(Debug)]
pub enum StoreErrorKind {
    /// The file could not be opened, created or mapped.
    Io(io::Error),
    /// The file is not a msgq store, or is damaged.
    Invalid(&'static str),
    /// The file is a msgq store of another layout version (`found`): this msgq cannot use
    /// it; `msgq remove-store` removes it (its queues are lost).
    OtherVersion { found: u64 },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            StoreErrorKind::Io(e) => write!(f, "msgq store {}: {e}", self.path.display()),
            StoreErrorKind::Invalid(why) => {
                write!(f, "msgq store {}: refused: {why}", self.path.display())
            }
            StoreErrorKind::OtherVersion { found } => write!(
                f,
                "msgq store {p}: refused: made by another version of msgq (store layout \
                 version {found}, this msgq uses {}); remove it with \
                 `msgq --store {p} remove-store` (its queues are lost)",
                lay::VERSION,
                p = self.path.display()
            ),
        }
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    fn io(path: &Path, e: io::Error) -> StoreError {
        StoreError {
            path: path.to_owned(),
            kind: StoreErrorKind::Io(e),
        }
    }
    fn invalid(path: &Path, why: &'static str) -> StoreError {
        StoreError {
            path: path.to_owned(),
            kind: StoreErrorKind::Invalid(why),
        }
    }
    /// The errno a C caller should see.
    pub fn errno(&self) -> i32 {
        match &self.kind {
            StoreErrorKind::Io(e) => e.raw_os_error().unwrap_or(libc::EIO),
            StoreErrorKind::Invalid(_) | StoreErrorKind::OtherVersion { .. } => libc::EIO,
        }
    }
}

/// A mapped store file.
pub struct Mapping {
    pub path: PathBuf,
    pub base: *mut u8,
    pub len: u64,
    /// The store file (none for an anonymous store).
    _file: Option<File>,
}

// SAFETY: the mapping is shared memory owned by this value; see `Arena` for the access rules.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly what mmap returned; no Arena outlives the Store.
        unsafe {
            libc::munmap(self.base.cast(), self.len as usize);
        }
    }
}

impl Mapping {
    /// The engine's view of the store.
    pub fn ns(&self) -> Ns {
        // SAFETY: the mapping is `len` bytes, page-aligned, and outlives the handles, which
        // live inside the same Store; its header was validated or initialised.
        unsafe { Ns::new(Arena::new(self.base, self.len)) }
    }
}

/// The size of one shard for `opts` (whole pages, at least the minimum).
fn shard_len(opts: &StoreOptions) -> u64 {
    opts.size.max(lay::MIN_LEN).next_multiple_of(4096)
}

/// The file size of a store whose shards are `shard_len` bytes.
fn total_len(shard_len: u64) -> u64 {
    lay::SHARDS_OFF + msgq_core::ids::IPCMNI as u64 * shard_len
}

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn map(file: &File, len: u64) -> io::Result<*mut u8> {
    // SAFETY: mapping a file we hold open, shared, at an address of the kernel's choosing.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(p.cast())
    }
}

/// Opens an existing store, validating its header.
pub fn open(path: &Path) -> Result<Mapping, StoreError> {
    let c = cpath(path).map_err(|e| StoreError::io(path, e))?;
    // SAFETY: `c` is a valid C string.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(StoreError::io(path, io::Error::last_os_error()));
    }
    // SAFETY: `fd` was just opened and is owned by nobody else.
    let file = unsafe { File::from_raw_fd(fd) };
    let len = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
    if len < lay::SHARDS_OFF {
        return Err(StoreError::invalid(
            path,
            "not a msgq store (file too small)",
        ));
    }
    let base = map(&file, len).map_err(|e| StoreError::io(path, e))?;
    let m = Mapping {
        path: path.to_owned(),
        base,
        len,
        _file: Some(file),
    };
    // SAFETY: the mapping is `len` bytes and lives as long as `m`.
    let a = unsafe { Arena::new(base, len) };
    if a.get(H::MAGIC_W) != lay::MAGIC {
        return Err(StoreError::invalid(path, "not a msgq store (bad magic)"));
    }
    if a.get(H::VERSION_W) != lay::VERSION || a.get(H::LAYOUT_SIG) != lay::LAYOUT_SIG {
        return Err(StoreError {
            path: path.to_owned(),
            kind: StoreErrorKind::OtherVersion {
                found: a.get(H::VERSION_W),
            },
        });
    }
    let shard = a.get(R::SHARD_LEN);
    if a.get(R::TOTAL_LEN) != len
        || shard < lay::MIN_LEN
        || !shard.is_multiple_of(4096)
        || shard
            .checked_mul(msgq_core::ids::IPCMNI as u64)
            .map(|n| n + lay::SHARDS_OFF)
            != Some(len)
    {
        return Err(StoreError::invalid(
            path,
            "damaged header (sizes do not match the file)",
        ));
    }
    Ok(m)
}

/// Creates a new store at `path`; `EEXIST` if there is one.
pub fn create(path: &Path, opts: &StoreOptions) -> Result<Mapping, StoreError> {
    let size = total_len(shard_len(opts));
    let tmp = {
        let mut s = path.as_os_str().to_owned();
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        s.push(format!(".tmp{pid}-{}", crate::sys::process::mono_ns()));
        PathBuf::from(s)
    };
    let c = cpath(&tmp).map_err(|e| StoreError::io(path, e))?;
    // SAFETY: `c` is a valid C string.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            opts.mode & 0o7777,
        )
    };
    if fd < 0 {
        return Err(StoreError::io(path, io::Error::last_os_error()));
    }
    // SAFETY: a fresh descriptor that nobody else owns.
    let file = unsafe { File::from_raw_fd(fd) };
    let cleanup = |e: io::Error| {
        // SAFETY: `c` is a valid C string; removing our own temporary file.
        unsafe { libc::unlink(c.as_ptr()) };
        StoreError::io(path, e)
    };
    // SAFETY: plain system calls on our descriptor. fchmod undoes the umask: the mode is
    // the caller's explicit choice.
    if unsafe { libc::fchmod(fd, opts.mode & 0o7777) } != 0 {
        return Err(cleanup(io::Error::last_os_error()));
    }
    file.set_len(size).map_err(cleanup)?;
    let base = map(&file, size).map_err(cleanup)?;
    let m = Mapping {
        path: path.to_owned(),
        base,
        len: size,
        _file: Some(file),
    };
    // SAFETY: a fresh mapping of `size` bytes that nobody else can see yet.
    unsafe { init(base, size, opts) }.map_err(|e| StoreError::io(path, e))?;
    let cp = cpath(path).map_err(|e| StoreError::io(path, e))?;
    // SAFETY: valid C strings. link() fails with EEXIST when someone else won the race.
    let r = unsafe { libc::link(c.as_ptr(), cp.as_ptr()) };
    let err = io::Error::last_os_error();
    // SAFETY: removing our temporary name; the store keeps its linked name.
    unsafe { libc::unlink(c.as_ptr()) };
    if r != 0 {
        return Err(StoreError::io(path, err));
    }
    Ok(m)
}

/// Initialises a fresh store of `size` bytes at `base`: the registry's header words, its
/// lock, the magic (last). Shards are initialised when their index is first used.
///
/// # Safety
/// `base` must be a writable, page-aligned mapping of `size` bytes (a [`total_len`]),
/// zero-filled and not yet visible to anyone else.
unsafe fn init(base: *mut u8, size: u64, opts: &StoreOptions) -> io::Result<()> {
    // SAFETY: per the caller's contract.
    let a = unsafe { Arena::new(base, size) };
    let words = [
        (R::VERSION_W, lay::VERSION),
        (R::TOTAL_LEN, size),
        (R::LAYOUT_SIG, lay::LAYOUT_SIG),
        (
            R::SHARD_LEN,
            (size - lay::SHARDS_OFF) / msgq_core::ids::IPCMNI as u64,
        ),
        (R::MSGMAX, opts.limits.msgmax as u64),
        (R::MSGMNB, opts.limits.msgmnb as u64),
        (R::MSGMNI, opts.limits.msgmni as u64),
        (R::LAST_IDX, u64::MAX),
        (R::MAX_IDX, u64::MAX),
        (R::NEXT_ID, u64::MAX),
    ];
    for (off, v) in words {
        a.init_unpublished(off, v);
    }
    // SAFETY: the header has room for the mutex at LOCK_OFF (checked at compile time) and
    // nobody else can see the file yet.
    unsafe { StoreLock::init(base.add(lay::LOCK_OFF as usize).cast()) }?;
    a.init_unpublished(R::MAGIC_W, lay::MAGIC);
    Ok(())
}

/// Initialises shard `idx` (its header page, its lock), the first time its index is used.
/// `anchor` is the id (with `USED`) of the kernel queue whose memory the shard is, in the
/// anchored namespace mode, else 0; `segment` then is its shmid + 1.
///
/// # Safety
/// Nobody may use the shard's memory: its registry flag is 0 (so no lookup reaches it) and
/// the caller holds the registry lock (so nobody else initialises it). A previous attempt
/// that died midway may have left anything in the header page: all of it is rewritten.
pub(crate) unsafe fn init_shard(a: Arena, idx: u64, anchor: u64, segment: u64) -> io::Result<()> {
    for off in (0..lay::LOG_OFF).step_by(8) {
        a.init_unpublished(off, 0);
    }
    let words = [
        (H::VERSION_W, lay::VERSION),
        (H::TOTAL_LEN, a.len()),
        (H::LAYOUT_SIG, lay::LAYOUT_SIG),
        (H::IDX, idx),
        (H::ANCHOR, anchor),
        (H::SEGMENT, segment),
        (H::ORDER, 1),
        (H::HEAP_TOP, lay::HEAP_OFF),
    ];
    for (off, v) in words {
        a.init_unpublished(off, v);
    }
    // SAFETY: the header has room for the mutex at LOCK_OFF, inside the shard; nobody uses
    // it (the caller's contract).
    unsafe { StoreLock::init(a.byte_ptr(lay::LOCK_OFF, 40).cast()) }?;
    a.init_unpublished(H::MAGIC_W, lay::SHARD_MAGIC);
    Ok(())
}

/// Creates a store in anonymous shared memory: private to this process (and to children
/// forked after), gone when dropped. For tests and the loom models.
pub fn create_anonymous(opts: &StoreOptions) -> Result<Mapping, StoreError> {
    let path = Path::new("(anonymous)");
    let size = total_len(shard_len(opts));
    // SAFETY: a new anonymous shared mapping at an address of the kernel's choosing.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(StoreError::io(path, io::Error::last_os_error()));
    }
    let m = Mapping {
        path: path.to_owned(),
        base: p.cast(),
        len: size,
        _file: None,
    };
    // SAFETY: a fresh, zero-filled mapping of `size` bytes that only we know about.
    unsafe { init(m.base, size, opts) }.map_err(|e| StoreError::io(path, e))?;
    Ok(m)
}

/// Opens the store at `path`, creating it if it does not exist.
pub fn open_or_create(path: &Path, opts: &StoreOptions) -> Result<Mapping, StoreError> {
    match open(path) {
        Err(StoreError {
            kind: StoreErrorKind::Io(e),
            ..
        }) if e.kind() == io::ErrorKind::NotFound => match create(path, opts) {
            Err(StoreError {
                kind: StoreErrorKind::Io(e),
                ..
            }) if e.raw_os_error() == Some(libc::EEXIST) => open(path),
            r => r,
        },
        r => r,
    }
}

/// What names the calling thread's default store in messages (it is not a file: see
/// `Store::open_default`): `ipc:[<inode>]`, as `/proc/thread-self/ns/ipc` reads.
pub fn default_path() -> PathBuf {
    let ns = std::fs::read_link("/proc/thread-self/ns/ipc")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "ipc:[?]".into());
    PathBuf::from(ns)
}
