//! msgq's view of the observability files, for programs that open them through libc.
//!
//! Opening `/proc/sysvipc/msg` or `/proc/sys/kernel/{msgmax,msgmnb,msgmni,msg_next_id,
//! auto_msgmni}` (by any spelling that resolves there: absolute, relative to the current
//! directory, or relative to an `openat` directory descriptor) with `open`, `open64`,
//! `openat`, `openat64`, their `_FORTIFY_SOURCE` variants, `fopen` or `fopen64` gives, while
//! the userspace or the kmod backend is active (the [`Source`] of the text and the limits):
//!
//! * for reading: an anonymous memory file (`memfd`) holding the text the kernel would show
//!   for msgq's store or the module's queues, made at open time (the kernel also builds the
//!   text when it is read, so a reader sees one consistent snapshot);
//! * under the kmod backend, opening a limit file for writing needs euid 0, as the kernel's
//!   root-owned 0644 files do (`EACCES`); the value then goes to the module's `MSGQ_SYSCTL`
//!   ioctl, which may still refuse it (`EPERM` without `CAP_SYS_ADMIN`);
//! * for writing a limit through a file descriptor: a `memfd`, remembered in a small
//!   lock-free table. What was written is applied to the store's limit at the first of:
//!   a `write` to it that goes through the shim (the result is then `write`'s, `EINVAL` for
//!   a value out of range, as the kernel does), `close`, `dup2`/`dup3` (which close a
//!   descriptor implicitly), `fclose`, the next message call, or process exit. The entry
//!   is dropped once no descriptor of the process refers to the file any more.
//! * for writing through `fopen`: a `fopencookie` stream whose write function applies the
//!   value when stdio flushes it, so `fflush`/`fclose` fail with `EINVAL` for a bad value.
//!
//! No lock is taken anywhere here: the table is a fixed array of atomics.

use crate::kmod::Kmod;
use crate::real::{self, call_real};
use libc::{c_char, c_int, c_void};
use msgq_user::{Store, Sysctl};
use std::ffi::CStr;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

/// A file the shim answers for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    SysvMsg,
    Sysctl(Sysctl),
}

const PATH_MAX: usize = 1024;

/// A path being normalised in a fixed buffer (no allocation: `open` may be called from a
/// signal handler).
struct Norm {
    buf: [u8; PATH_MAX],
    len: usize,
    ok: bool,
    /// A component followed one of the emulated files (`msg/x/../msg`): Linux stops there
    /// with `ENOTDIR`, whatever `..` comes later.
    through_file: bool,
}

impl Norm {
    fn new() -> Norm {
        Norm {
            buf: [0; PATH_MAX],
            len: 0,
            ok: true,
            through_file: false,
        }
    }

    /// Adds the components of `p` (`.` and empty ones skipped, `..` pops).
    fn push(&mut self, p: &[u8]) {
        for comp in p.split(|&b| b == b'/') {
            if !comp.is_empty() && target_of(self.get()).is_some() {
                self.through_file = true;
            }
            match comp {
                b"" | b"." => {}
                b".." => {
                    while self.len > 0 && self.buf[self.len - 1] != b'/' {
                        self.len -= 1;
                    }
                    self.len = self.len.saturating_sub(1);
                }
                c => {
                    if self.len + 1 + c.len() > PATH_MAX {
                        self.ok = false;
                        return;
                    }
                    self.buf[self.len] = b'/';
                    self.buf[self.len + 1..self.len + 1 + c.len()].copy_from_slice(c);
                    self.len += 1 + c.len();
                }
            }
        }
    }

    fn get(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// What an absolute, normalised path names.
pub fn target_of(abs: &[u8]) -> Option<Target> {
    if abs == b"/proc/sysvipc/msg" {
        return Some(Target::SysvMsg);
    }
    let name = abs.strip_prefix(b"/proc/sys/kernel/")?;
    let name = std::str::from_utf8(name).ok()?;
    Sysctl::from_name(name).map(Target::Sysctl)
}

/// Classifies `path` as given to `openat(dirfd, path, ...)`. Cheap when the path has no
/// "msg" in it, which is every path but ours (and msgq's own store files).
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
pub unsafe fn classify(dirfd: c_int, path: *const c_char) -> Option<Target> {
    // Null and other obviously bad pointers go to the real call, which gives EFAULT.
    if (path as usize) < 4096 {
        return None;
    }
    // SAFETY: per the contract.
    let p = unsafe { CStr::from_ptr(path) }.to_bytes();
    if !contains(p, b"msg") {
        return None;
    }
    let mut n = Norm::new();
    if p.first() != Some(&b'/') {
        let mut base = [0u8; PATH_MAX];
        let len = if dirfd == libc::AT_FDCWD {
            // SAFETY: the buffer is PATH_MAX bytes.
            let r = unsafe { libc::getcwd(base.as_mut_ptr().cast(), PATH_MAX) };
            if r.is_null() {
                return None;
            }
            base.iter().position(|&b| b == 0)?
        } else {
            let mut link = [0u8; 32];
            let mut w = &mut link[..];
            use std::io::Write;
            write!(w, "/proc/self/fd/{dirfd}\0").ok()?;
            // SAFETY: `link` is NUL-terminated and `base` has PATH_MAX bytes.
            let r =
                unsafe { libc::readlink(link.as_ptr().cast(), base.as_mut_ptr().cast(), PATH_MAX) };
            if r <= 0 || r as usize >= PATH_MAX {
                return None;
            }
            r as usize
        };
        n.push(&base[..len]);
    }
    n.push(p);
    if !n.ok || n.through_file {
        return None;
    }
    target_of(n.get())
}

fn real_write_all(fd: c_int, mut b: &[u8]) -> Result<(), i32> {
    while !b.is_empty() {
        let n = call_real!(
            real::WRITE,
            unsafe extern "C" fn(c_int, *const c_void, usize) -> isize,
            -1,
            (fd, b.as_ptr().cast(), b.len())
        );
        if n < 0 {
            let e = crate::errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        b = &b[n as usize..];
    }
    Ok(())
}

fn real_close(fd: c_int) -> c_int {
    call_real!(real::CLOSE, unsafe extern "C" fn(c_int) -> c_int, -1, (fd))
}

/// What answers for the files: the userspace store or the kernel module.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    User(&'a Store),
    Kmod(&'a Kmod),
    Valkey(&'a msgq_valkey::Valkey),
}

impl<'a> From<&'a msgq_valkey::Valkey> for Source<'a> {
    fn from(v: &'a msgq_valkey::Valkey) -> Self {
        Source::Valkey(v)
    }
}

impl<'a> From<&'a Store> for Source<'a> {
    fn from(s: &'a Store) -> Self {
        Source::User(s)
    }
}

impl<'a> From<&'a Kmod> for Source<'a> {
    fn from(k: &'a Kmod) -> Self {
        Source::Kmod(k)
    }
}

impl Source<'_> {
    /// The text a target shows now.
    fn content(self, t: Target) -> Result<String, i32> {
        match (self, t) {
            (Source::User(s), Target::SysvMsg) => s.proc_sysvipc_msg().map_err(|e| e.0),
            (Source::Kmod(k), Target::SysvMsg) => k.proc_sysvipc_msg(),
            (Source::User(s), Target::Sysctl(w)) => {
                s.sysctl(w).map(|v| format!("{v}\n")).map_err(|e| e.0)
            }
            (Source::Kmod(k), Target::Sysctl(w)) => {
                k.sysctl(w.index(), None).map(|v| format!("{v}\n"))
            }
            (Source::Valkey(v), Target::SysvMsg) => v.proc_msg().map_err(|e| e.0),
            (Source::Valkey(v), Target::Sysctl(w)) => {
                v.sysctl(w).map(|x| format!("{x}\n")).map_err(|e| e.0)
            }
        }
    }

    /// May this process open a limit file for writing? The store is the caller's own; the
    /// module's limits are system-wide, behind files only root may open for writing.
    fn may_write(self) -> Result<(), i32> {
        match self {
            Source::User(_) | Source::Valkey(_) => Ok(()),
            // SAFETY: geteuid has no preconditions.
            Source::Kmod(_) if unsafe { libc::geteuid() } != 0 => Err(libc::EACCES),
            Source::Kmod(_) => Ok(()),
        }
    }
}

fn memfd_with(text: &[u8], cloexec: bool) -> Result<c_int, i32> {
    let flags = if cloexec { libc::MFD_CLOEXEC } else { 0 };
    // SAFETY: a constant NUL-terminated name.
    let fd = unsafe { libc::memfd_create(c"msgq-proc".as_ptr(), flags) };
    if fd < 0 {
        return Err(crate::errno());
    }
    if let Err(e) = real_write_all(fd, text) {
        real_close(fd);
        return Err(e);
    }
    // SAFETY: plain lseek on our descriptor.
    unsafe { libc::lseek(fd, 0, libc::SEEK_SET) };
    Ok(fd)
}

/// Opens `t` as `open(2)` would with `flags`: a file descriptor, or an errno.
pub fn open_fd<'a>(src: impl Into<Source<'a>>, t: Target, flags: c_int) -> Result<c_int, i32> {
    let src = src.into();
    let acc = flags & libc::O_ACCMODE;
    let writing = acc != libc::O_RDONLY;
    if flags & libc::O_DIRECTORY != 0 {
        return Err(libc::ENOTDIR);
    }
    // procfs files cannot do direct I/O.
    if flags & libc::O_DIRECT != 0 {
        return Err(libc::EINVAL);
    }
    let which = match t {
        Target::SysvMsg if writing => return Err(libc::EACCES),
        Target::SysvMsg => None,
        Target::Sysctl(w) => Some(w),
    };
    if writing {
        src.may_write()?;
    }
    let text = if writing && flags & libc::O_TRUNC != 0 {
        String::new()
    } else {
        src.content(t)?
    };
    let fd = memfd_with(text.as_bytes(), flags & libc::O_CLOEXEC != 0)?;
    if let (true, Some(w)) = (writing, which) {
        if let Err(e) = track(fd, w, hash(text.as_bytes())) {
            real_close(fd);
            return Err(e);
        }
    }
    Ok(fd)
}

// ---- pending writes through file descriptors ----

struct Slot {
    /// Our own duplicate of the memfd: -1 when the slot is free, -2 while being claimed.
    fd: AtomicI32,
    which: AtomicU8,
    /// Hash of the content last applied (or first seen).
    hash: AtomicU64,
    dev: AtomicU64,
    ino: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Slot = Slot {
    fd: AtomicI32::new(-1),
    which: AtomicU8::new(0),
    hash: AtomicU64::new(0),
    dev: AtomicU64::new(0),
    ino: AtomicU64::new(0),
};
static SLOTS: [Slot; 16] = [FREE; 16];
static PENDING: AtomicUsize = AtomicUsize::new(0);

const SYSCTLS: [Sysctl; 5] = [
    Sysctl::Msgmax,
    Sysctl::Msgmnb,
    Sysctl::Msgmni,
    Sysctl::MsgNextId,
    Sysctl::AutoMsgmni,
];

fn hash(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x100_0000_01b3)
    })
}

fn file_id(fd: c_int) -> Option<(u64, u64)> {
    // SAFETY: an all-zero stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into `st`.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    Some((st.st_dev, st.st_ino))
}

/// Whether anything is pending (one atomic load: the fast path of close/write/dup2).
pub fn any_pending() -> bool {
    PENDING.load(Ordering::Relaxed) != 0
}

/// The (device, inode) of `fd` when it is a limit file with a pending write; `None` (after
/// one atomic load) for every other descriptor when nothing is pending.
pub fn pending_id(fd: c_int) -> Option<(u64, u64)> {
    if !any_pending() {
        return None;
    }
    let id = file_id(fd)?;
    SLOTS
        .iter()
        .any(|s| {
            s.fd.load(Ordering::Acquire) >= 0
                && (s.dev.load(Ordering::Relaxed), s.ino.load(Ordering::Relaxed)) == id
        })
        .then_some(id)
}

fn track(fd: c_int, which: Sysctl, h: u64) -> Result<(), i32> {
    let (dev, ino) = file_id(fd).ok_or(libc::EIO)?;
    // A high descriptor number, so programs that expect the lowest free one still get it.
    // SAFETY: fcntl on our own descriptor.
    let mut own = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 700) };
    if own < 0 {
        // SAFETY: as above.
        own = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    }
    if own < 0 {
        return Err(crate::errno());
    }
    for s in &SLOTS {
        if s.fd
            .compare_exchange(-1, -2, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            s.which.store(
                SYSCTLS.iter().position(|&x| x == which).unwrap_or(0) as u8,
                Ordering::Relaxed,
            );
            s.hash.store(h, Ordering::Relaxed);
            s.dev.store(dev, Ordering::Relaxed);
            s.ino.store(ino, Ordering::Relaxed);
            s.fd.store(own, Ordering::Release);
            PENDING.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
    }
    real_close(own);
    Err(libc::ENFILE)
}

/// `write(fd, data, n)` on a limit file opened for writing (`id` is its file), with the
/// kernel's rules for an integer sysctl (checked against Linux, tests/shim/hostile.c):
/// * a write at a non-zero offset is ignored and reported done (`sysctl_writes_strict`);
/// * a zero-length write returns 0 (`EFAULT` from a kernel-space address, `access_ok`);
/// * 4 MiB or more is `ENOMEM` (the kernel's `KMALLOC_MAX_SIZE` check); otherwise the whole
///   buffer is copied first (`EFAULT` if any byte is unreadable) and its first 4095 bytes
///   (`PAGE_SIZE - 1`) are parsed ([`parse_sysctl`]);
/// * the result is the count minus the bytes of that window left unconsumed (`"100 200"`
///   sets 100 and returns 4).
///
/// The value is applied before it is stored in the file, so a refused write (`EINVAL`)
/// leaves the offset at 0 for the next attempt.
pub fn write_tracked(
    fd: c_int,
    id: (u64, u64),
    data: *const c_void,
    n: usize,
) -> Result<usize, i32> {
    const TASK_SIZE_MAX: usize = 0x7fff_ffff_f000;
    const KMALLOC_MAX_SIZE: usize = 4 << 20;
    const WINDOW: usize = 4095;
    let Some(slot) = SLOTS.iter().find(|s| {
        s.fd.load(Ordering::Acquire) >= 0
            && (s.dev.load(Ordering::Relaxed), s.ino.load(Ordering::Relaxed)) == id
    }) else {
        return Err(libc::EBADF);
    };
    if (data as usize)
        .checked_add(n)
        .is_none_or(|end| end > TASK_SIZE_MAX)
    {
        return Err(libc::EFAULT);
    }
    // SAFETY: lseek on the caller's descriptor.
    let pos = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) };
    if pos != 0 || n == 0 {
        return Ok(n);
    }
    if n >= KMALLOC_MAX_SIZE {
        return Err(libc::ENOMEM);
    }
    let mut buf = [0u8; WINDOW];
    let win = n.min(WINDOW);
    // SAFETY: the first `win` of the `n` bytes the C caller of write(2) gave us; an
    // unmapped range is EFAULT, a mapped one is the caller's (write(2)'s contract).
    unsafe { msgq_user::sys::usermem::read(data.cast(), &mut buf[..win]) }.map_err(|e| e.0)?;
    readable(data as usize + win, n - win)?;
    let text = &buf[..win];
    let which = SYSCTLS[slot.which.load(Ordering::Relaxed) as usize % SYSCTLS.len()];
    let used = apply(which, text)?;
    let text = &text[..used];
    slot.hash.store(hash(text), Ordering::Relaxed);
    // SAFETY: plain calls on the caller's descriptor (a memfd) with our stack buffer.
    unsafe {
        libc::ftruncate(fd, 0);
        libc::pwrite(fd, text.as_ptr().cast(), text.len(), 0);
        libc::lseek(fd, text.len() as libc::off_t, libc::SEEK_SET);
    }
    Ok(n - (win - used))
}

/// `EFAULT` unless the `n` bytes at `addr` can all be read (one probe per page; no system
/// call).
fn readable(addr: usize, n: usize) -> Result<(), i32> {
    if n == 0 {
        return Ok(());
    }
    let last = addr + n - 1;
    let mut a = addr;
    loop {
        let mut b = [0u8; 1];
        // SAFETY: one byte of the C caller's write(2) buffer (see above), into ours.
        unsafe { msgq_user::sys::usermem::read(a as *const u8, &mut b) }.map_err(|e| e.0)?;
        if a >> 12 == last >> 12 {
            return Ok(());
        }
        a = ((a >> 12) + 1) << 12;
    }
}

/// The bytes the kernel's `proc_skip_spaces` skips (its `isspace`).
fn kspace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The value of digit `c` in `base`, if it is one.
fn digit(c: u8, base: u64) -> Option<u64> {
    let d = (c as char).to_digit(16)? as u64;
    (d < base).then_some(d)
}

/// Parses a write to an integer sysctl as the kernel's `__do_proc_dointvec` and
/// `proc_get_long` do for one value: white space, an optional `-`, a number in C notation
/// (`0x` hex, `0` octal, else decimal) of at most 20 characters, which ends the text or is
/// followed by a space, tab or newline, then white space. Returns the value and the bytes
/// consumed (`write` returns the count minus what is left unconsumed). `EINVAL` for no
/// number (an all-blank write too), a malformed one, or one outside `int`.
pub fn parse_sysctl(b: &[u8]) -> Result<(i64, usize), i32> {
    const TMP: usize = 21; // the kernel's TMPBUFLEN - 1
    let start = b.iter().position(|&c| !kspace(c)).ok_or(libc::EINVAL)?;
    let rest = &b[start..];
    let tmp = &rest[..rest.len().min(TMP)];
    let neg = tmp[0] == b'-' && rest.len() > 1;
    let i = usize::from(neg);
    if !tmp.get(i).is_some_and(u8::is_ascii_digit) {
        return Err(libc::EINVAL);
    }
    let (base, mut j) = match (tmp[i], tmp.get(i + 1), tmp.get(i + 2)) {
        (b'0', Some(b'x' | b'X'), Some(c)) if c.is_ascii_hexdigit() => (16, i + 2),
        (b'0', _, _) => (8, i),
        _ => (10, i),
    };
    let mut v: u64 = 0;
    while let Some(d) = tmp.get(j).and_then(|&c| digit(c, base)) {
        v = v
            .checked_mul(base)
            .and_then(|v| v.checked_add(d))
            .ok_or(libc::EINVAL)?;
        j += 1;
    }
    if j == TMP
        || rest
            .get(j)
            .is_some_and(|c| !matches!(c, b' ' | b'\t' | b'\n'))
    {
        return Err(libc::EINVAL);
    }
    let value = match (neg, v) {
        (true, v) if v <= i32::MAX as u64 + 1 => -(v as i64),
        (false, v) if v <= i32::MAX as u64 => v as i64,
        _ => return Err(libc::EINVAL),
    };
    let mut used = start + j;
    while b.get(used).copied().is_some_and(kspace) {
        used += 1;
    }
    Ok((value, used))
}

/// Applies a write of `text` at offset 0 of limit file `which`: the bytes consumed, or the
/// errno. An empty write changes nothing.
fn apply(which: Sysctl, text: &[u8]) -> Result<usize, i32> {
    if text.is_empty() {
        return Ok(0);
    }
    let (v, used) = parse_sysctl(text)?;
    match crate::backend::get() {
        crate::backend::Backend::User(u) => crate::engine_call(Err(libc::EDEADLK), || {
            u.with(|s| s.set_sysctl(which, v).map_err(|e| e.0))
                .and_then(|r| r)
        }),
        crate::backend::Backend::Kmod(k) => k.sysctl(which.index(), Some(v)).map(|_| ()),
        crate::backend::Backend::Valkey(b) => b.set_sysctl(which, v).map_err(|e| e.0),
        crate::backend::Backend::Unavailable(e) => Err(*e),
        crate::backend::Backend::Native => Err(libc::EINVAL),
    }?;
    Ok(used)
}

/// Whether a descriptor other than `own` (and the directory being read) refers to
/// (`dev`, `ino`). Reads `/proc/self/fd` with a stack buffer.
fn still_open(own: c_int, dev: u64, ino: u64) -> bool {
    let dfd = call_real!(
        real::OPEN,
        unsafe extern "C" fn(*const c_char, c_int, libc::c_uint) -> c_int,
        -1,
        (
            c"/proc/self/fd".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            0
        )
    );
    if dfd < 0 {
        return true;
    }
    let mut found = false;
    let mut buf = [0u8; 2048];
    'outer: loop {
        let n = call_real!(
            real::SYSCALL,
            unsafe extern "C" fn(i64, i64, i64, i64, i64, i64, i64) -> i64,
            -1,
            (
                libc::SYS_getdents64,
                dfd as i64,
                buf.as_mut_ptr() as i64,
                buf.len() as i64,
                0,
                0,
                0
            )
        );
        if n <= 0 {
            break;
        }
        let mut off = 0usize;
        while off + 19 < n as usize {
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            if reclen == 0 {
                break 'outer;
            }
            let name = &buf[off + 19..off + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if let Some(fd) = std::str::from_utf8(name)
                .ok()
                .and_then(|s| s.parse::<c_int>().ok())
            {
                if fd != own && fd != dfd && file_id(fd) == Some((dev, ino)) {
                    found = true;
                    break 'outer;
                }
            }
            off += reclen;
        }
    }
    real_close(dfd);
    found
}

/// Applies what was written to pending limit files, and forgets the files no descriptor
/// refers to any more. `closing` names the file whose result the caller reports: an
/// error applying it is returned; other errors are dropped (there is no caller to tell).
pub fn flush_pending(closing: Option<(u64, u64)>) -> Result<(), i32> {
    if !any_pending() {
        return Ok(());
    }
    let saved = crate::errno();
    let r = flush_slots(closing);
    crate::set_errno(saved);
    r
}

fn flush_slots(closing: Option<(u64, u64)>) -> Result<(), i32> {
    let mut result = Ok(());
    for s in &SLOTS {
        let fd = s.fd.load(Ordering::Acquire);
        if fd < 0 {
            continue;
        }
        let id = (s.dev.load(Ordering::Relaxed), s.ino.load(Ordering::Relaxed));
        if file_id(fd) != Some(id) {
            // The program closed our descriptor (closefrom, close_range...) and the number
            // may now be another file: forget the entry without touching the descriptor.
            if s.fd
                .compare_exchange(fd, -2, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                PENDING.fetch_sub(1, Ordering::Relaxed);
                s.fd.store(-1, Ordering::Release);
            }
            continue;
        }
        let mut buf = [0u8; 64];
        // SAFETY: pread into our stack buffer.
        let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n >= 0 {
            let text = &buf[..n as usize];
            let h = hash(text);
            if s.hash.swap(h, Ordering::Relaxed) != h {
                let which = SYSCTLS[s.which.load(Ordering::Relaxed) as usize % SYSCTLS.len()];
                if let Err(e) = apply(which, text) {
                    if closing.is_none_or(|c| c == id) && result.is_ok() {
                        result = Err(e);
                    }
                }
            }
        }
        if (n < 0 || !still_open(fd, id.0, id.1))
            && s.fd
                .compare_exchange(fd, -2, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            if n >= 0 {
                real_close(fd);
            }
            PENDING.fetch_sub(1, Ordering::Relaxed);
            s.fd.store(-1, Ordering::Release);
        }
    }
    result
}

// ---- fopen ----

/// glibc's `cookie_io_functions_t`.
#[repr(C)]
struct CookieIo {
    read: Option<unsafe extern "C" fn(*mut c_void, *mut c_char, usize) -> isize>,
    write: Option<unsafe extern "C" fn(*mut c_void, *const c_char, usize) -> isize>,
    seek: Option<unsafe extern "C" fn(*mut c_void, *mut i64, c_int) -> c_int>,
    close: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
}

extern "C" {
    fn fopencookie(cookie: *mut c_void, mode: *const c_char, io: CookieIo) -> *mut libc::FILE;
}

/// A `fopencookie` stream over a limit file opened for writing.
struct Cookie {
    which: Sysctl,
    buf: Vec<u8>,
    pos: usize,
}

unsafe extern "C" fn ck_read(c: *mut c_void, out: *mut c_char, n: usize) -> isize {
    crate::guard(-1, || {
        // SAFETY: stdio passes back the cookie we gave it.
        let c = unsafe { &mut *c.cast::<Cookie>() };
        let avail = c.buf.len().saturating_sub(c.pos).min(n);
        // SAFETY: stdio gives `n` writable bytes at `out`.
        unsafe { std::ptr::copy_nonoverlapping(c.buf.as_ptr().add(c.pos), out.cast(), avail) };
        c.pos += avail;
        avail as isize
    })
}

unsafe extern "C" fn ck_write(c: *mut c_void, data: *const c_char, n: usize) -> isize {
    crate::guard(0, || {
        // SAFETY: stdio passes back the cookie we gave it.
        let c = unsafe { &mut *c.cast::<Cookie>() };
        // SAFETY: stdio gives `n` readable bytes at `data`.
        let d = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), n) };
        // The kernel only parses a write at position 0 (sysctl_writes_strict), as
        // `write_tracked` does. A short count would be an error to stdio's cookie layer;
        // on a real descriptor stdio writes the unconsumed rest at a non-zero offset,
        // which the kernel ignores, so the whole count is reported, as the sum of those.
        let r = if c.pos == 0 && n >= 4 << 20 {
            Err(libc::ENOMEM)
        } else if c.pos == 0 {
            apply(c.which, &d[..n.min(4095)]).map(|_| ())
        } else {
            Ok(())
        };
        match r {
            Ok(()) => {
                c.pos += n;
                n as isize
            }
            Err(e) => {
                crate::set_errno(e);
                0
            }
        }
    })
}

unsafe extern "C" fn ck_seek(c: *mut c_void, off: *mut i64, whence: c_int) -> c_int {
    crate::guard(-1, || {
        // SAFETY: stdio passes back the cookie we gave it, and a valid offset pointer.
        let (c, off) = unsafe { (&mut *c.cast::<Cookie>(), &mut *off) };
        let base = match whence {
            libc::SEEK_SET => 0,
            libc::SEEK_CUR => c.pos as i64,
            libc::SEEK_END => c.buf.len() as i64,
            _ => return -1,
        };
        let p = base + *off;
        if p < 0 {
            crate::set_errno(libc::EINVAL);
            return -1;
        }
        c.pos = p as usize;
        *off = p;
        0
    })
}

unsafe extern "C" fn ck_close(c: *mut c_void) -> c_int {
    crate::guard(0, || {
        // SAFETY: the cookie was made by Box::into_raw in `open_stream`; stdio closes once.
        drop(unsafe { Box::from_raw(c.cast::<Cookie>()) });
        0
    })
}

/// Opens `t` as `fopen(path, mode)` would.
///
/// # Safety
/// `mode` must be a NUL-terminated string.
pub unsafe fn open_stream<'a>(
    src: impl Into<Source<'a>>,
    t: Target,
    mode: *const c_char,
) -> Result<*mut libc::FILE, i32> {
    let src = src.into();
    // SAFETY: per the contract.
    let m = unsafe { CStr::from_ptr(mode) }.to_bytes();
    let writing = m.contains(&b'+') || matches!(m.first(), Some(b'w' | b'a'));
    if !writing {
        let cloexec = m.contains(&b'e');
        let flags = libc::O_RDONLY | if cloexec { libc::O_CLOEXEC } else { 0 };
        let fd = open_fd(src, t, flags)?;
        // SAFETY: a fresh descriptor and the caller's mode string.
        let f = unsafe { libc::fdopen(fd, mode) };
        if f.is_null() {
            let e = crate::errno();
            real_close(fd);
            return Err(e);
        }
        return Ok(f);
    }
    let Target::Sysctl(which) = t else {
        return Err(libc::EACCES);
    };
    src.may_write()?;
    let buf = if m.first() == Some(&b'r') {
        src.content(t)?.into_bytes()
    } else {
        Vec::new()
    };
    let ck = Box::into_raw(Box::new(Cookie { which, buf, pos: 0 }));
    let funcs = CookieIo {
        read: Some(ck_read),
        write: Some(ck_write),
        seek: Some(ck_seek),
        close: Some(ck_close),
    };
    // SAFETY: the cookie outlives the stream (freed by ck_close); mode is the caller's.
    let f = unsafe { fopencookie(ck.cast(), mode, funcs) };
    if f.is_null() {
        let e = crate::errno();
        // SAFETY: the stream was not made, so the cookie is still ours.
        drop(unsafe { Box::from_raw(ck) });
        return Err(e);
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(parts: &[&str]) -> Vec<u8> {
        let mut n = Norm::new();
        for p in parts {
            n.push(p.as_bytes());
        }
        n.get().to_vec()
    }

    #[test]
    fn normalises() {
        assert_eq!(
            norm(&["/proc/sys/kernel", "msgmni"]),
            b"/proc/sys/kernel/msgmni"
        );
        assert_eq!(norm(&["/", "proc//sysvipc/./msg"]), b"/proc/sysvipc/msg");
        assert_eq!(norm(&["/proc/sys", "../sysvipc/msg"]), b"/proc/sysvipc/msg");
        assert_eq!(norm(&["/", "../../proc/sysvipc/msg"]), b"/proc/sysvipc/msg");
    }

    #[test]
    fn targets() {
        assert_eq!(target_of(b"/proc/sysvipc/msg"), Some(Target::SysvMsg));
        assert_eq!(
            target_of(b"/proc/sys/kernel/msg_next_id"),
            Some(Target::Sysctl(Sysctl::MsgNextId))
        );
        assert_eq!(target_of(b"/proc/sys/kernel/shmmax"), None);
        assert_eq!(target_of(b"/proc/sysvipc/sem"), None);
    }

    #[test]
    fn parses_like_the_kernel() {
        // (value, bytes consumed), as measured against Linux 6.18 (tests/shim/hostile.c
        // compares the whole write path with the kernel).
        let ok = |v, n| Ok((v, n));
        assert_eq!(parse_sysctl(b"100\n"), ok(100, 4));
        assert_eq!(parse_sysctl(b"  -1"), ok(-1, 4));
        assert_eq!(parse_sysctl(b"100 200"), ok(100, 4));
        assert_eq!(parse_sysctl(b"5\n6"), ok(5, 2));
        assert_eq!(parse_sysctl(b" \t 77\n"), ok(77, 6));
        assert_eq!(parse_sysctl(b"0x10"), ok(16, 4));
        assert_eq!(parse_sysctl(b"0X1f"), ok(31, 4));
        assert_eq!(parse_sysctl(b"010"), ok(8, 3));
        assert_eq!(parse_sysctl(b"-0x1"), ok(-1, 4));
        assert_eq!(parse_sysctl(b"00000000000000000007"), ok(7, 20));
        assert_eq!(parse_sysctl(b"2147483647"), ok(i32::MAX as i64, 10));
        assert_eq!(parse_sysctl(b"-2147483648"), ok(i32::MIN as i64, 11));
        for bad in [
            &b"\n"[..],
            b" ",
            b"",
            b"-",
            b"+5",
            b"12x",
            b"12\0",
            b"12\r",
            b"abc",
            b"0x",
            b"08",
            b"99999999999",
            b"2147483648",
            b"000000000000000000007",
        ] {
            assert_eq!(parse_sysctl(bad), Err(libc::EINVAL), "{bad:?}");
        }
    }
}
