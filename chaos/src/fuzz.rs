//! The fuzz targets, as plain functions of a byte string: [`store_bytes`] (open a store file
//! with arbitrary contents) and [`api_sequence`] (a sequence of API calls with arbitrary
//! arguments, checked against an in-memory model of System V semantics). The cargo-fuzz
//! crate in `fuzz/` feeds them from libFuzzer; `msgq-chaos fuzz-store` / `fuzz-api` feed them
//! from a seeded PRNG and from the corpus.
//!
//! The engine reports a corrupt store by panicking with [`msgq_user::shm::arena::Corrupt`]
//! and catching it at the API boundary (`EIO`); [`quiet_corrupt_panics`] keeps those quiet.

use crate::rng::Rng;
use msgq_core::abi::*;
use msgq_core::Errno;
use msgq_user::shm::arena::Corrupt;
use msgq_user::shm::layout;
use msgq_user::{Store, StoreErrorKind, StoreOptions};
use std::collections::VecDeque;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Once, OnceLock};

/// Panics other than `Corrupt` seen so far (e.g. an arithmetic overflow on a garbage
/// offset in a build with overflow checks). The engine catches every panic at its API
/// boundary (`EIO`), so they are contained; one that escaped would still abort the fuzzer
/// (libfuzzer-sys aborts on a panic out of the target) or fail the seeded driver.
pub static OTHER_PANICS: AtomicU64 = AtomicU64::new(0);

/// Installs (once) a panic hook that is silent for the engine's `Corrupt` panics (they
/// become `EIO`, by design) and reports the first few others on stderr, counting them in
/// [`OTHER_PANICS`].
pub fn quiet_corrupt_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            if info.payload().is::<Corrupt>() {
                return;
            }
            if OTHER_PANICS.fetch_add(1, Ordering::Relaxed) < 3 {
                eprintln!("msgq-chaos fuzz: panic (caught by the engine, or a failure): {info}");
            }
        }));
    });
}

/// What [`store_bytes`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// `Store::open` refused the file with an error naming it.
    Refused,
    /// Opened; `check()` passed.
    CheckPassed,
    /// Opened; `check()` reported an inconsistency (cleanly).
    CheckFailed,
    /// Opened, `check()` passed, yet after a few calls it failed: the check missed damage
    /// that the calls then spread (a known engine gap, see docs/crash-safety.md). With
    /// `strict` this panics instead.
    CheckMissedDamage,
}

struct Template {
    len: u64,
    /// The non-zero 4 KiB pages of a small, populated store.
    pages: Vec<(u64, Vec<u8>)>,
}

/// A scratch file of this process and thread (tests may run targets on several threads).
fn scratch(tag: &str) -> PathBuf {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    PathBuf::from(format!(
        "/dev/shm/msgq-fuzz-{tag}-{}-{tid}",
        std::process::id()
    ))
}

fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        let p = scratch("template");
        let _ = std::fs::remove_file(&p);
        let opts = StoreOptions {
            size: 0, // the minimum
            ..Default::default()
        };
        {
            let s = Store::create(&p, &opts).expect("create the template store");
            let q1 = s.msgget(0x1234, IPC_CREAT | 0o600).unwrap();
            let q2 = s.msgget(IPC_PRIVATE, 0o644).unwrap();
            for i in 0..6i64 {
                s.send(q1, 1 + i % 3, &vec![b'a' + i as u8; 10 * i as usize], 0)
                    .unwrap();
            }
            s.send(q2, 7, b"seven", 0).unwrap();
            let q3 = s.msgget(0x99, IPC_CREAT | 0o666).unwrap();
            s.send(q3, 1, b"gone", 0).unwrap();
            s.remove(q3).unwrap();
        }
        // The unpatched template must open: else every patched store would be refused and
        // the target would prove nothing.
        Store::open(&p).expect("the template store must open");
        // The file is large and sparse (a shard per queue index): read only its data.
        let f = std::fs::File::open(&p).expect("open the template");
        let len = f.metadata().unwrap().len();
        let mut pages = Vec::new();
        for (start, end) in data_ranges(&f, len) {
            let mut off = start & !4095;
            while off < end {
                let mut page = vec![0u8; 4096];
                f.read_exact_at(&mut page, off).unwrap();
                if page.iter().any(|&b| b != 0) {
                    pages.push((off, page));
                }
                off += 4096;
            }
        }
        let _ = std::fs::remove_file(&p);
        Template { len, pages }
    })
}

/// The ranges of `f` that hold data (not holes), by `SEEK_DATA`/`SEEK_HOLE`.
fn data_ranges(f: &std::fs::File, len: u64) -> Vec<(u64, u64)> {
    use std::os::fd::AsRawFd;
    let mut out = Vec::new();
    let mut off = 0i64;
    while (off as u64) < len {
        // SAFETY: lseek on a descriptor we own; it only moves the file offset.
        let start = unsafe { libc::lseek(f.as_raw_fd(), off, libc::SEEK_DATA) };
        if start < 0 {
            break;
        }
        // SAFETY: as above.
        let end = unsafe { libc::lseek(f.as_raw_fd(), start, libc::SEEK_HOLE) };
        let end = if end < 0 { len as i64 } else { end };
        out.push((start as u64, end as u64));
        off = end;
    }
    out
}

/// Shard `i`'s offset in a template store (the minimum shard size).
fn shard(i: u64) -> u64 {
    layout::SHARDS_OFF + i * layout::MIN_LEN
}

/// Regions of the store a patch is aimed at (offset, size): the registry's header, log, id
/// table and key hash; shard 0's (two queues' records) and shard 1's header, log and heap.
fn regions() -> [(u64, u64); 9] {
    [
        (0, 4096),
        (layout::LOG_OFF, 4096),
        (layout::REG_IDS_OFF, 4096),
        (layout::REG_BUCKETS_OFF, 8192),
        (shard(0), 4096),
        (shard(0) + layout::LOG_OFF, 4096),
        (shard(0) + layout::HEAP_OFF, 65536),
        (shard(1), 4096),
        (shard(1) + layout::HEAP_OFF, 65536),
    ]
}

/// The store's mutexes (40 bytes each): never patched.
fn lock_words(o: u64) -> bool {
    [0, shard(0), shard(1), shard(2)]
        .iter()
        .any(|&b| (b + layout::LOCK_OFF..b + layout::LOCK_OFF + 40).contains(&o))
}

/// Target (a): writes a store file built from `data` and opens it. Byte 0 chooses the shape:
/// bits 0-1 == 0: the file is `data[1..]` itself (padded to the minimum size if bit 2);
/// otherwise a valid populated store patched by records `region, off u16, len, bytes` from
/// `data[1..]`; bit 3 leaves the lock in the owner-died state (so the next locker runs
/// recovery on whatever the undo log now says); bit 4 changes the file's length.
/// The lock word itself is never patched: a store whose mutex claims a live owner makes
/// callers wait, as a held lock should (see docs/crash-safety.md).
pub fn store_bytes(data: &[u8]) -> StoreOutcome {
    store_bytes_with(data, false)
}

/// [`store_bytes`]; `strict` turns [`StoreOutcome::CheckMissedDamage`] into a panic.
pub fn store_bytes_with(data: &[u8], strict: bool) -> StoreOutcome {
    quiet_corrupt_panics();
    let path = scratch("store");
    let _ = std::fs::remove_file(&path);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .expect("create the scratch file");
    let shape = data.first().copied().unwrap_or(0);
    let rest = data.get(1..).unwrap_or(&[]);
    let t = template();
    if shape & 3 == 0 {
        f.write_all_at(rest, 0).unwrap();
        if shape & 4 != 0 {
            f.set_len(t.len.max(rest.len() as u64)).unwrap();
        }
    } else {
        f.set_len(t.len).unwrap();
        for (off, page) in &t.pages {
            f.write_all_at(page, *off).unwrap();
        }
        let mut i = 0;
        let regs = regions();
        while i + 4 <= rest.len() {
            let (base, size) = regs[rest[i] as usize % regs.len()];
            let off = base + u16::from_le_bytes([rest[i + 1], rest[i + 2]]) as u64 % size;
            let n = (rest[i + 3] as usize % 16 + 1).min(rest.len() - i - 4);
            let bytes = &rest[i + 4..i + 4 + n];
            i += 4 + n;
            // Keep the mutexes themselves intact.
            for (k, b) in bytes.iter().enumerate() {
                let o = off + k as u64;
                if !lock_words(o) {
                    f.write_all_at(&[*b], o).unwrap();
                }
            }
        }
        if shape & 8 != 0 {
            // glibc's robust mutex: lock word FUTEX_OWNER_DIED, no owner (the registry's and
            // shard 0's).
            for b in [0, shard(0)] {
                f.write_all_at(&0x4000_0000u32.to_ne_bytes(), b + layout::LOCK_OFF)
                    .unwrap();
            }
        }
        if shape & 16 != 0 {
            let delta = (shape as u64 >> 5) * 4096;
            f.set_len(t.len + delta).unwrap();
        }
    }
    drop(f);
    let out = match Store::open(&path) {
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.contains(&*path.to_string_lossy()),
                "error does not name the file: {text}"
            );
            assert!(matches!(
                e.kind,
                StoreErrorKind::Invalid(_)
                    | StoreErrorKind::OtherVersion { .. }
                    | StoreErrorKind::Io(_)
            ));
            StoreOutcome::Refused
        }
        Ok(s) => {
            let first = s.check();
            // Calls go on only into a store the check accepted (what a careful user does);
            // `MSGQ_FUZZ_POKE_ALL=1` pokes damaged stores too (no hang found since the
            // hostile-store fixes, but it is slower and not the engine's contract).
            let mut missed = false;
            if first.is_ok() || poke_all() {
                poke(&s);
                if let (Ok(_), Err(e)) = (&first, s.check()) {
                    assert!(
                        !strict,
                        "a store that passed check() failed it after a few calls: {e}"
                    );
                    missed = true;
                }
            }
            if missed {
                StoreOutcome::CheckMissedDamage
            } else if first.is_ok() {
                StoreOutcome::CheckPassed
            } else {
                StoreOutcome::CheckFailed
            }
        }
    };
    let _ = std::fs::remove_file(&path);
    out
}

fn poke_all() -> bool {
    static P: OnceLock<bool> = OnceLock::new();
    *P.get_or_init(|| std::env::var_os("MSGQ_FUZZ_POKE_ALL").is_some_and(|v| v == "1"))
}

/// A few calls on an opened (possibly damaged) store: each must return, Ok or an errno.
fn poke(s: &Store) {
    let _ = s.info(true);
    let _ = s.info(false);
    let _ = s.proc_sysvipc_msg();
    let mut ids = Vec::new();
    for idx in 0..4 {
        if let Ok((id, _)) = s.stat_index(idx, true) {
            ids.push(id);
        }
    }
    if let Ok(id) = s.msgget(0x1234, 0) {
        ids.push(id);
    }
    let mut buf = [0u8; 256];
    for &id in &ids {
        let _ = s.stat(id);
        let _ = s.receive(id, &mut buf, 0, IPC_NOWAIT | MSG_COPY);
        let _ = s.receive(id, &mut buf, -3, IPC_NOWAIT | MSG_NOERROR);
        let _ = s.receive(id, &mut buf, 2, IPC_NOWAIT | MSG_EXCEPT);
        let _ = s.send(id, 3, b"fuzz", IPC_NOWAIT);
    }
    if let Ok(id) = s.msgget(IPC_PRIVATE, 0o600) {
        let _ = s.send(id, 1, b"x", IPC_NOWAIT);
        let _ = s.receive(id, &mut buf, 0, IPC_NOWAIT);
        let _ = s.remove(id);
    }
    if let Some(&id) = ids.first() {
        let _ = s.remove(id);
    }
}

// ---------------------------------------------------------------------------------------
// Target (b): API sequences against a model.

const MSGMAX_: usize = MSGMAX as usize;

struct Mq {
    id: i32,
    key: i32,
    mode: u32,
    qbytes: u64,
    msgs: VecDeque<(i64, Vec<u8>)>,
}

impl Mq {
    fn cbytes(&self) -> u64 {
        self.msgs.iter().map(|(_, t)| t.len() as u64).sum()
    }
}

#[derive(Default)]
struct Model {
    qs: Vec<Mq>,
    dead: Vec<i32>,
    /// CAP_IPC_OWNER: bypasses the mode checks.
    ipc_owner: bool,
    /// CAP_SYS_RESOURCE: IPC_SET may raise qbytes above msgmnb.
    sys_resource: bool,
}

/// Whether the calling process has capability `bit` in its effective set.
pub fn has_cap(bit: u32) -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("CapEff:"))?;
            u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok()
        })
        .is_some_and(|caps| caps >> bit & 1 == 1)
}

impl Model {
    fn find(&self, id: i32) -> Option<usize> {
        self.qs.iter().position(|q| q.id == id)
    }
    /// Linux's ipcperms for the owner (the fuzzer creates every queue it uses).
    fn perm(&self, mode: u32, flag: u32) -> bool {
        let req = ((flag >> 6) | (flag >> 3) | flag) & 7;
        self.ipc_owner || req & !((mode >> 6) & 7) == 0
    }
}

/// Reads the input like a stream; zeros after its end.
struct Bytes<'a>(&'a [u8], usize);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let b = self.0.get(self.1).copied().unwrap_or(0);
        self.1 += 1;
        b
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn i64(&mut self) -> i64 {
        (self.u32() as u64 | (self.u32() as u64) << 32) as i64
    }
    fn done(&self) -> bool {
        self.1 >= self.0.len()
    }
}

/// Counts from one [`api_sequence`] run.
#[derive(Debug, Default, Clone, Copy)]
pub struct ApiStats {
    pub calls: u64,
    pub errors: u64,
}

const MAX_OPS: usize = 400;
const MAX_QUEUES: usize = 8;

/// Target (b): decodes `data` into up to 400 calls on a fresh in-memory store, each checked
/// against the model (result, errno, and for receive the type and text; stat's counters);
/// at the end `check()` must pass and count what the model holds. Returns an error
/// describing the first disagreement, with the calls that led to it.
pub fn api_sequence(data: &[u8]) -> Result<ApiStats, String> {
    quiet_corrupt_panics();
    let s = Store::in_memory(&StoreOptions {
        size: 8 << 20,
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    static CAPS: OnceLock<(bool, bool)> = OnceLock::new();
    let (ipc_owner, sys_resource) = *CAPS.get_or_init(|| (has_cap(15), has_cap(24)));
    let mut m = Model {
        ipc_owner,
        sys_resource,
        ..Default::default()
    };
    let mut b = Bytes(data, 0);
    let mut trace: Vec<String> = Vec::new();
    let mut st = ApiStats::default();
    let mut textgen = 0u8;
    let fail = |trace: &[String], why: String| -> String {
        let tail = &trace[trace.len().saturating_sub(12)..];
        format!("{why}\n  after: {}", tail.join("\n         "))
    };
    while !b.done() && trace.len() < MAX_OPS {
        let op = b.u8() % 6;
        // Choose a queue id: a live one, a removed one, or any int.
        let sel = b.u8();
        let id = if sel < 200 && !m.qs.is_empty() {
            m.qs[sel as usize % m.qs.len()].id
        } else if sel < 230 && !m.dead.is_empty() {
            m.dead[sel as usize % m.dead.len()]
        } else {
            b.u32() as i32
        };
        st.calls += 1;
        match op {
            0 => {
                // msgget
                let k = b.u8();
                let key = if k < 64 {
                    IPC_PRIVATE
                } else {
                    0x4d51_0000 + (k % 6) as i32
                };
                let fl = b.u32() as i32;
                let flags = fl & (IPC_CREAT | IPC_EXCL | 0o777);
                let existing = m.qs.iter().position(|q| q.key == key && key != IPC_PRIVATE);
                if existing.is_none() && m.qs.len() >= MAX_QUEUES {
                    st.calls -= 1;
                    continue;
                }
                let got = s.msgget(key, flags);
                trace.push(format!("msgget({key:#x}, {flags:#o}) = {got:?}"));
                let want: Result<Option<usize>, Errno> = match existing {
                    Some(_) if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 => {
                        Err(Errno::EEXIST)
                    }
                    Some(i) if !m.perm(m.qs[i].mode, flags as u32 & 0o777) => Err(Errno::EACCES),
                    Some(i) => Ok(Some(i)),
                    None if key != IPC_PRIVATE && flags & IPC_CREAT == 0 => Err(Errno::ENOENT),
                    None => Ok(None),
                };
                match (want, got) {
                    (Ok(Some(i)), Ok(id)) if m.qs[i].id == id => {}
                    (Ok(None), Ok(id)) => {
                        if id < 0 || m.find(id).is_some() || m.dead.contains(&id) {
                            return Err(fail(&trace, format!("new queue got a used id {id}")));
                        }
                        m.qs.push(Mq {
                            id,
                            key,
                            mode: flags as u32 & 0o777,
                            qbytes: MSGMNB as u64,
                            msgs: VecDeque::new(),
                        });
                    }
                    (Err(w), Err(g)) if w == g => st.errors += 1,
                    (w, g) => {
                        return Err(fail(&trace, format!("msgget: model {w:?}, engine {g:?}")))
                    }
                }
            }
            1 => {
                // msgsnd (always IPC_NOWAIT: one process, nobody would wake us)
                let t = b.u8();
                let mtype = match t {
                    0..=199 => 1 + (t % 5) as i64,
                    200..=209 => 0,
                    210..=219 => -(1 + (t % 3) as i64),
                    220..=229 => i64::MAX,
                    _ => b.i64(),
                };
                let l = b.u8();
                let len = match l {
                    0..=219 => (l % 70) as usize,
                    220..=229 => MSGMAX_,
                    230..=239 => MSGMAX_ + 1,
                    _ => (b.u32() % 20000) as usize,
                };
                let flags = IPC_NOWAIT | (b.u8() as i32 & 0x3) << 20;
                textgen = textgen.wrapping_add(1);
                let text: Vec<u8> = (0..len).map(|i| textgen.wrapping_add(i as u8)).collect();
                let got = s.send(id, mtype, &text, flags);
                trace.push(format!("send({id}, {mtype}, {len}B) = {got:?}"));
                let want = if len > MSGMAX_ || id < 0 || mtype < 1 {
                    Err(Errno::EINVAL)
                } else {
                    match m.find(id) {
                        None => Err(Errno::EINVAL),
                        Some(i) if !m.perm(m.qs[i].mode, 0o222) => Err(Errno::EACCES),
                        Some(i) => {
                            let q = &m.qs[i];
                            if len as u64 + q.cbytes() <= q.qbytes
                                && (q.msgs.len() as u64) < q.qbytes
                            {
                                Ok(i)
                            } else {
                                Err(Errno::EAGAIN)
                            }
                        }
                    }
                };
                match (want, got) {
                    (Ok(i), Ok(())) => m.qs[i].msgs.push_back((mtype, text)),
                    (Err(w), Err(g)) if w == g => st.errors += 1,
                    (w, g) => return Err(fail(&trace, format!("send: model {w:?}, engine {g:?}"))),
                }
            }
            2 => {
                // msgrcv
                let t = b.u8();
                let msgtyp = match t {
                    0..=49 => 0,
                    50..=149 => 1 + (t % 6) as i64,
                    150..=229 => -((t % 6) as i64 + 1),
                    230..=239 => i64::MIN,
                    240..=244 => i64::MAX,
                    _ => b.i64(),
                };
                let l = b.u8();
                let bufsz = match l {
                    0..=199 => (l % 80) as usize,
                    _ => MSGMAX_ + (l as usize % 3),
                };
                let fb = b.u8() as i32;
                let flags = IPC_NOWAIT
                    | if fb & 1 != 0 { MSG_NOERROR } else { 0 }
                    | if fb & 2 != 0 { MSG_EXCEPT } else { 0 }
                    | (fb >> 2 & 0x3) << 20;
                let mut buf = vec![0u8; bufsz];
                let got = s.receive(id, &mut buf, msgtyp, flags);
                trace.push(format!(
                    "receive({id}, {msgtyp}, {bufsz}, {flags:#o}) = {got:?}"
                ));
                let want: Result<(usize, usize), Errno> = if id < 0 {
                    Err(Errno::EINVAL)
                } else {
                    match m.find(id) {
                        None => Err(Errno::EINVAL),
                        Some(i) if !m.perm(m.qs[i].mode, 0o444) => Err(Errno::EACCES),
                        Some(i) => {
                            let q = &m.qs[i];
                            let pos = if msgtyp == 0 {
                                (!q.msgs.is_empty()).then_some(0)
                            } else if msgtyp < 0 {
                                let bound = msgtyp.checked_neg().unwrap_or(i64::MAX);
                                let mut best: Option<usize> = None;
                                for (k, (ty, _)) in q.msgs.iter().enumerate() {
                                    if *ty <= bound && best.is_none_or(|b| *ty < q.msgs[b].0) {
                                        best = Some(k);
                                    }
                                }
                                best
                            } else if flags & MSG_EXCEPT != 0 {
                                q.msgs.iter().position(|(ty, _)| *ty != msgtyp)
                            } else {
                                q.msgs.iter().position(|(ty, _)| *ty == msgtyp)
                            };
                            match pos {
                                None => Err(Errno::ENOMSG),
                                Some(k)
                                    if q.msgs[k].1.len() > bufsz && flags & MSG_NOERROR == 0 =>
                                {
                                    Err(Errno::E2BIG)
                                }
                                Some(k) => Ok((i, k)),
                            }
                        }
                    }
                };
                match (want, got) {
                    (Ok((i, k)), Ok((ty, n))) => {
                        let (wt, wtext) = m.qs[i].msgs.remove(k).unwrap();
                        let wn = wtext.len().min(bufsz);
                        if ty != wt || n != wn || buf[..n] != wtext[..wn] {
                            return Err(fail(
                                &trace,
                                format!("receive: model type {wt} {wn}B, engine type {ty} {n}B (or text differs)"),
                            ));
                        }
                    }
                    (Err(w), Err(g)) if w == g => st.errors += 1,
                    (w, g) => {
                        return Err(fail(
                            &trace,
                            format!("receive: model {:?}, engine {g:?}", w.map(|x| x.1)),
                        ))
                    }
                }
            }
            3 => {
                // IPC_STAT
                let got = s.stat(id);
                trace.push(format!(
                    "stat({id}) = {:?}",
                    got.as_ref().map(|d| (d.msg_qnum, d.msg_cbytes))
                ));
                let want = if id < 0 {
                    Err(Errno::EINVAL)
                } else {
                    match m.find(id) {
                        None => Err(Errno::EINVAL),
                        Some(i) if !m.perm(m.qs[i].mode, 0o444) => Err(Errno::EACCES),
                        Some(i) => Ok(i),
                    }
                };
                match (want, got) {
                    (Ok(i), Ok(d)) => {
                        let q = &m.qs[i];
                        let w = (q.msgs.len() as u64, q.cbytes(), q.qbytes, q.mode, q.key);
                        let g = (
                            d.msg_qnum,
                            d.msg_cbytes,
                            d.msg_qbytes,
                            d.msg_perm.mode & 0o777,
                            d.msg_perm.key,
                        );
                        if w != g {
                            return Err(fail(
                                &trace,
                                format!("stat: model (qnum, cbytes, qbytes, mode, key) {w:?}, engine {g:?}"),
                            ));
                        }
                    }
                    (Err(w), Err(g)) if w == g => st.errors += 1,
                    (w, g) => {
                        return Err(fail(
                            &trace,
                            format!("stat: model {w:?}, engine {:?}", g.map(|_| ())),
                        ))
                    }
                }
            }
            4 => {
                // IPC_SET: mode and qbytes (uid/gid stay ours)
                let mode = b.u32() & 0o7777;
                let qb = b.u8();
                let qbytes = match qb {
                    0..=199 => 1 + qb as u64 * 97,
                    200..=219 => MSGMNB as u64 + 1 + qb as u64,
                    _ => 0,
                };
                let mut ds = MsqidDs::default();
                // SAFETY: geteuid/getegid have no preconditions.
                ds.msg_perm.uid = unsafe { libc::geteuid() };
                // SAFETY: as above.
                ds.msg_perm.gid = unsafe { libc::getegid() };
                ds.msg_perm.mode = mode as _;
                ds.msg_qbytes = qbytes;
                let got = s.set(id, &ds);
                trace.push(format!(
                    "set({id}, mode {mode:#o}, qbytes {qbytes}) = {got:?}"
                ));
                let want = if id < 0 {
                    Err(Errno::EINVAL)
                } else {
                    match m.find(id) {
                        None => Err(Errno::EINVAL),
                        Some(_) if qbytes > MSGMNB as u64 && !m.sys_resource => Err(Errno::EPERM),
                        Some(i) => Ok(i),
                    }
                };
                match (want, got) {
                    (Ok(i), Ok(())) => {
                        m.qs[i].mode = mode & 0o777;
                        m.qs[i].qbytes = qbytes;
                    }
                    (Err(w), Err(g)) if w == g => st.errors += 1,
                    (w, g) => return Err(fail(&trace, format!("set: model {w:?}, engine {g:?}"))),
                }
            }
            _ => {
                // IPC_RMID
                let got = s.remove(id);
                trace.push(format!("remove({id}) = {got:?}"));
                let want = if id < 0 {
                    Err(Errno::EINVAL)
                } else {
                    m.find(id).ok_or(Errno::EINVAL)
                };
                match (want, got) {
                    (Ok(i), Ok(())) => {
                        let q = m.qs.remove(i);
                        m.dead.push(q.id);
                    }
                    (Err(w), Err(g)) if w == g => st.errors += 1,
                    (w, g) => {
                        return Err(fail(&trace, format!("remove: model {w:?}, engine {g:?}")))
                    }
                }
            }
        }
    }
    let r = s.check().map_err(|e| fail(&trace, format!("check: {e}")))?;
    let want = (
        m.qs.len() as u64,
        m.qs.iter().map(|q| q.msgs.len() as u64).sum::<u64>(),
        m.qs.iter().map(|q| q.cbytes()).sum::<u64>(),
    );
    if (r.queues, r.messages, r.bytes) != want {
        return Err(fail(
            &trace,
            format!(
                "check counted (queues, messages, bytes) {:?}, model {want:?}",
                (r.queues, r.messages, r.bytes)
            ),
        ));
    }
    Ok(st)
}

/// Runs `f` on every file of `dir` (the corpus); returns how many.
pub fn replay_corpus(dir: &Path, mut f: impl FnMut(&[u8])) -> usize {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut paths: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if let Ok(d) = std::fs::read(&p) {
                f(&d);
                n += 1;
            }
        }
    }
    n
}

/// A random input for the seeded driver: mostly short, sometimes long.
pub fn random_input(r: &mut Rng) -> Vec<u8> {
    let n = if r.pct(80) {
        r.below(300)
    } else {
        r.below(4000)
    } as usize;
    let mut v = vec![0u8; n];
    r.fill(&mut v);
    v
}
