//! Helpers for the benchmarks in `benches/ipc.rs`: one interface ([`Ipc`]) over native
//! System V message queues (glibc's wrappers through `libc`), msgq's safe Rust API and
//! msgq's C-shaped raw calls, plus the process plumbing (fork, start barrier, wait) and the
//! store-memory measurement. The report generator is `src/bin/bench-report.rs`; [`results`]
//! reads criterion's results and [`row7`] the guest benchmark's (the kernel module).
//!
//! Hygiene: [`private_ipc_namespace`] moves the benchmark process into a fresh IPC
//! namespace so native queues never meet the host's, and [`BenchStore`] creates a fresh
//! store file under `/dev/shm` and removes it when dropped.

pub mod results;
pub mod row7;

use msgq_core::abi::{IPC_CREAT, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT};
use msgq_user::{Store, StoreOptions};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// An errno value.
pub type Errno = i32;

/// A `struct msgbuf { long mtype; char mtext[]; }`, 8-byte aligned, with room for `cap` bytes
/// of text.
pub struct MsgBuf {
    words: Vec<u64>,
    cap: usize,
}

impl MsgBuf {
    /// A buffer with room for `cap` bytes of text, type 1, text filled with a pattern.
    pub fn new(cap: usize) -> MsgBuf {
        let mut b = MsgBuf {
            words: vec![0; 1 + cap.div_ceil(8)],
            cap,
        };
        b.set_mtype(1);
        for (i, x) in b.text_mut().iter_mut().enumerate() {
            *x = i as u8;
        }
        b
    }
    /// The text capacity.
    pub fn cap(&self) -> usize {
        self.cap
    }
    /// The message type word.
    pub fn mtype(&self) -> i64 {
        self.words[0] as i64
    }
    /// Sets the message type word.
    pub fn set_mtype(&mut self, t: i64) {
        self.words[0] = t as u64;
    }
    /// The whole struct (type word and text) as a pointer, for the C-shaped calls.
    pub fn as_ptr(&self) -> *const libc::c_void {
        self.words.as_ptr().cast()
    }
    /// As [`MsgBuf::as_ptr`], writable.
    pub fn as_mut_ptr(&mut self) -> *mut libc::c_void {
        self.words.as_mut_ptr().cast()
    }
    /// The text.
    pub fn text(&self) -> &[u8] {
        let bytes: &[u8] = bytemuck_words(&self.words);
        &bytes[8..8 + self.cap]
    }
    /// The text, writable.
    pub fn text_mut(&mut self) -> &mut [u8] {
        let cap = self.cap;
        let bytes = bytemuck_words_mut(&mut self.words);
        &mut bytes[8..8 + cap]
    }
}

fn bytemuck_words(w: &[u64]) -> &[u8] {
    // SAFETY: any u64 slice is a valid u8 slice of 8× the length; alignment only decreases.
    unsafe { std::slice::from_raw_parts(w.as_ptr().cast(), w.len() * 8) }
}

fn bytemuck_words_mut(w: &mut [u64]) -> &mut [u8] {
    // SAFETY: as above; the borrow of `w` is exclusive for the result's lifetime.
    unsafe { std::slice::from_raw_parts_mut(w.as_mut_ptr().cast(), w.len() * 8) }
}

/// One implementation of System V message queues, as the benchmarks see it.
pub trait Ipc: Sync {
    /// The name used in benchmark ids and in the report.
    fn name(&self) -> &'static str;
    /// A new private queue (`msgget(IPC_PRIVATE, IPC_CREAT | 0600)`).
    fn create(&self) -> Result<i32, Errno>;
    /// `IPC_RMID`.
    fn remove(&self, id: i32) -> Result<(), Errno>;
    /// `msgsnd` of `len` bytes of `buf`'s text with `buf`'s type.
    fn send(&self, id: i32, buf: &MsgBuf, len: usize, flags: i32) -> Result<(), Errno>;
    /// `msgrcv` into `buf` (at most `len` bytes); sets `buf`'s type; returns the text length.
    fn recv(
        &self,
        id: i32,
        buf: &mut MsgBuf,
        len: usize,
        msgtyp: i64,
        flags: i32,
    ) -> Result<usize, Errno>;
    /// `IPC_STAT` then `IPC_SET` with a new `msg_qbytes`.
    fn set_qbytes(&self, id: i32, qbytes: u64) -> Result<(), Errno>;
    /// `(msg_qnum, msg_cbytes)` from `IPC_STAT`.
    fn counts(&self, id: i32) -> Result<(u64, u64), Errno>;
}

fn errno() -> Errno {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Native System V IPC through glibc's `msgget`/`msgsnd`/`msgrcv`/`msgctl`.
#[derive(Clone, Copy)]
pub struct Native;

impl Ipc for Native {
    fn name(&self) -> &'static str {
        "native"
    }
    fn create(&self) -> Result<i32, Errno> {
        // SAFETY: msgget takes no pointers.
        let id = unsafe { libc::msgget(IPC_PRIVATE, IPC_CREAT | 0o600) };
        if id < 0 {
            Err(errno())
        } else {
            Ok(id)
        }
    }
    fn remove(&self, id: i32) -> Result<(), Errno> {
        // SAFETY: IPC_RMID ignores the buffer argument.
        let r = unsafe { libc::msgctl(id, IPC_RMID, std::ptr::null_mut()) };
        if r < 0 {
            Err(errno())
        } else {
            Ok(())
        }
    }
    fn send(&self, id: i32, buf: &MsgBuf, len: usize, flags: i32) -> Result<(), Errno> {
        assert!(len <= buf.cap());
        // SAFETY: `buf` holds the type word followed by at least `len` bytes of text.
        let r = unsafe { libc::msgsnd(id, buf.as_ptr(), len, flags) };
        if r < 0 {
            Err(errno())
        } else {
            Ok(())
        }
    }
    fn recv(
        &self,
        id: i32,
        buf: &mut MsgBuf,
        len: usize,
        msgtyp: i64,
        flags: i32,
    ) -> Result<usize, Errno> {
        assert!(len <= buf.cap());
        // SAFETY: `buf` has room for the type word and `len` bytes of text.
        let r = unsafe { libc::msgrcv(id, buf.as_mut_ptr(), len, msgtyp, flags) };
        if r < 0 {
            Err(errno())
        } else {
            Ok(r as usize)
        }
    }
    fn set_qbytes(&self, id: i32, qbytes: u64) -> Result<(), Errno> {
        // SAFETY: msqid_ds is plain data; all-zero is a valid value.
        let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: `ds` is a valid msqid_ds for IPC_STAT to fill and IPC_SET to read.
        unsafe {
            if libc::msgctl(id, IPC_STAT, &mut ds) < 0 {
                return Err(errno());
            }
            ds.msg_qbytes = qbytes as _;
            if libc::msgctl(id, IPC_SET, &mut ds) < 0 {
                return Err(errno());
            }
        }
        Ok(())
    }
    fn counts(&self, id: i32) -> Result<(u64, u64), Errno> {
        // SAFETY: msqid_ds is plain data; all-zero is a valid value.
        let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: `ds` is a valid msqid_ds for IPC_STAT to fill.
        if unsafe { libc::msgctl(id, IPC_STAT, &mut ds) } < 0 {
            return Err(errno());
        }
        Ok((ds.msg_qnum as u64, ds.__msg_cbytes as u64))
    }
}

/// msgq through its safe Rust API (`Store::send`, `Store::receive`, ...).
#[derive(Clone, Copy)]
pub struct Msgq(pub &'static Store);

impl Ipc for Msgq {
    fn name(&self) -> &'static str {
        "msgq"
    }
    fn create(&self) -> Result<i32, Errno> {
        self.0
            .msgget(IPC_PRIVATE, IPC_CREAT | 0o600)
            .map_err(|e| e.0)
    }
    fn remove(&self, id: i32) -> Result<(), Errno> {
        self.0.remove(id).map_err(|e| e.0)
    }
    fn send(&self, id: i32, buf: &MsgBuf, len: usize, flags: i32) -> Result<(), Errno> {
        self.0
            .send(id, buf.mtype(), &buf.text()[..len], flags)
            .map_err(|e| e.0)
    }
    fn recv(
        &self,
        id: i32,
        buf: &mut MsgBuf,
        len: usize,
        msgtyp: i64,
        flags: i32,
    ) -> Result<usize, Errno> {
        let (t, n) = self
            .0
            .receive(id, &mut buf.text_mut()[..len], msgtyp, flags)
            .map_err(|e| e.0)?;
        buf.set_mtype(t);
        Ok(n)
    }
    fn set_qbytes(&self, id: i32, qbytes: u64) -> Result<(), Errno> {
        let mut ds = self.0.stat(id).map_err(|e| e.0)?;
        ds.msg_qbytes = qbytes;
        self.0.set(id, &ds).map_err(|e| e.0)
    }
    fn counts(&self, id: i32) -> Result<(u64, u64), Errno> {
        let ds = self.0.stat(id).map_err(|e| e.0)?;
        Ok((ds.msg_qnum, ds.msg_cbytes))
    }
}

/// msgq through the C-shaped calls in `msgq_user::raw` (what the `LD_PRELOAD` shim costs).
#[derive(Clone, Copy)]
pub struct MsgqRaw(pub &'static Store);

impl Ipc for MsgqRaw {
    fn name(&self) -> &'static str {
        "msgq-raw"
    }
    fn create(&self) -> Result<i32, Errno> {
        msgq_user::raw::msgget(self.0, IPC_PRIVATE, IPC_CREAT | 0o600).map_err(|e| e.0)
    }
    fn remove(&self, id: i32) -> Result<(), Errno> {
        // SAFETY: IPC_RMID does not use the buffer, which is null anyway.
        unsafe { msgq_user::raw::msgctl(self.0, id, IPC_RMID, std::ptr::null_mut()) }
            .map(drop)
            .map_err(|e| e.0)
    }
    fn send(&self, id: i32, buf: &MsgBuf, len: usize, flags: i32) -> Result<(), Errno> {
        assert!(len <= buf.cap());
        // SAFETY: `buf` holds the type word and `cap() >= len` text bytes, borrowed for the call.
        unsafe { msgq_user::raw::msgsnd(self.0, id, buf.as_ptr(), len, flags) }.map_err(|e| e.0)
    }
    fn recv(
        &self,
        id: i32,
        buf: &mut MsgBuf,
        len: usize,
        msgtyp: i64,
        flags: i32,
    ) -> Result<usize, Errno> {
        assert!(len <= buf.cap());
        // SAFETY: `buf` holds the type word and `cap() >= len` text bytes, mutably borrowed.
        unsafe { msgq_user::raw::msgrcv(self.0, id, buf.as_mut_ptr(), len, msgtyp, flags) }
            .map_err(|e| e.0)
    }
    fn set_qbytes(&self, id: i32, qbytes: u64) -> Result<(), Errno> {
        Msgq(self.0).set_qbytes(id, qbytes)
    }
    fn counts(&self, id: i32) -> Result<(u64, u64), Errno> {
        Msgq(self.0).counts(id)
    }
}

/// Moves this process into a new, empty IPC namespace (we run as root), so native queues
/// made here are invisible to, and cannot collide with, the host's. Returns false (and the
/// benchmarks then use private queues in the current namespace, removing each one) when the
/// kernel refuses.
pub fn private_ipc_namespace() -> bool {
    // SAFETY: unshare takes no pointers; CLONE_NEWIPC is allowed in a threaded process.
    unsafe { libc::unshare(libc::CLONE_NEWIPC) == 0 }
}

/// A fresh store file under `/dev/shm` that is removed when this value is dropped. The
/// store itself is leaked (`&'static`) so threads and forked children can share it freely;
/// the process ends soon after.
pub struct BenchStore {
    pub store: &'static Store,
    pub path: PathBuf,
}

impl BenchStore {
    /// Creates `/dev/shm/msgq-bench-<pid>-<tag>` with Linux's default limits.
    pub fn create(tag: &str) -> BenchStore {
        let path = Self::path_for(tag);
        let _ = std::fs::remove_file(&path);
        let store = Store::create(&path, &StoreOptions::default())
            .unwrap_or_else(|e| panic!("cannot create the benchmark store: {e}"));
        BenchStore {
            store: Box::leak(Box::new(store)),
            path,
        }
    }
    /// `/dev/shm/msgq-bench-<pid>-<tag>`.
    pub fn path_for(tag: &str) -> PathBuf {
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        PathBuf::from(format!("/dev/shm/msgq-bench-{pid}-{tag}"))
    }
    /// Bytes of memory the store file occupies (`st_blocks * 512`; the file is sparse).
    pub fn used_bytes(&self) -> u64 {
        file_used_bytes(&self.path)
    }
}

impl Drop for BenchStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Removes `/dev/shm/msgq-bench-<pid>-*` files left by benchmark runs that were killed
/// (their pid no longer exists).
pub fn remove_stale_stores() {
    let Ok(dir) = std::fs::read_dir("/dev/shm") else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("msgq-bench-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// `st_blocks * 512` of a file.
pub fn file_used_bytes(path: &Path) -> u64 {
    std::fs::metadata(path)
        .map(|m| m.blocks() * 512)
        .unwrap_or(0)
}

/// A one-shot gate between processes: children block in [`Gate::wait`] until the parent
/// calls [`Gate::open`] (a pipe whose write end is closed).
pub struct Gate {
    rd: i32,
    wr: i32,
}

impl Gate {
    pub fn new() -> Gate {
        let mut fds = [0i32; 2];
        // SAFETY: `fds` has room for two descriptors.
        let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
        assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
        Gate {
            rd: fds[0],
            wr: fds[1],
        }
    }
    /// In a child: drops the write end and blocks until the parent opens the gate.
    pub fn wait(&self) {
        let mut b = [0u8; 1];
        // SAFETY: closing our copy of the write end; reading into a 1-byte buffer.
        unsafe {
            libc::close(self.wr);
            while libc::read(self.rd, b.as_mut_ptr().cast(), 1) < 0 && errno() == libc::EINTR {}
        }
    }
    /// In the parent: wakes every waiting child (they see end of file).
    pub fn open(self) {
        // SAFETY: closing descriptors this value owns; children read EOF.
        unsafe {
            libc::close(self.wr);
            libc::close(self.rd);
        }
        std::mem::forget(self);
    }
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        // SAFETY: closing descriptors this value owns.
        unsafe {
            libc::close(self.wr);
            libc::close(self.rd);
        }
    }
}

/// Forks a child that runs `f` and exits with `_exit` (0, or 1 if `f` returned false or
/// panicked); returns its pid. The child never returns into the caller (no destructors, no
/// benchmark harness code runs in it).
pub fn fork_child(f: impl FnOnce() -> bool) -> libc::pid_t {
    // SAFETY: fork has no preconditions; the child only runs `f` and then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(false);
        // SAFETY: ends the child without running the parent's destructors or atexit hooks.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) }
    }
    CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
    pid
}

/// Children forked by [`fork_child`] and not yet reaped, for the [`watchdog`].
static CHILDREN: std::sync::Mutex<Vec<libc::pid_t>> = std::sync::Mutex::new(Vec::new());

/// Starts a thread that, if the run is still going after `limit` (a wedged benchmark: say
/// a peer died and the other side waits forever), kills the children still running,
/// removes `files` and ends the process with status 2, so `make test` cannot hang on a
/// broken engine.
pub fn watchdog(limit: std::time::Duration, files: Vec<PathBuf>) {
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            std::thread::sleep(limit);
            eprintln!("benchmark watchdog: still running after {limit:?}; giving up");
            for &pid in CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                // SAFETY: kill takes no pointers; the pids are our own unreaped children,
                // reaped here so that they do not linger as zombies.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, std::ptr::null_mut(), 0);
                }
            }
            for f in &files {
                let _ = std::fs::remove_file(f);
            }
            // SAFETY: ends the process at once; the other threads may be blocked forever.
            unsafe { libc::_exit(2) }
        })
        .expect("spawn watchdog thread");
}

/// Waits for `pid`; panics unless it exited with status 0.
pub fn wait_child(pid: libc::pid_t) {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            CHILDREN
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|&p| p != pid);
            break;
        }
        assert!(
            errno() == libc::EINTR,
            "waitpid: {}",
            std::io::Error::last_os_error()
        );
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "benchmark child {pid} failed (status {status:#x})"
    );
}

/// Where criterion writes its results: `$CARGO_TARGET_DIR/criterion`, else the workspace's
/// `target/criterion`.
pub fn criterion_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("criterion")
}

/// The file in which the benchmark leaves its non-timing measurements (store memory) for
/// the report generator: `key value` lines.
pub fn extra_results_path() -> PathBuf {
    criterion_dir().join("msgq-extra.txt")
}
