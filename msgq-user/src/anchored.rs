//! The anchored namespace mode (issue 13, build step 3): the default store of a process,
//! one per IPC namespace, shared by every user of the namespace, kept by the kernel.
//!
//! * **Anchors.** Each queue is a real, empty kernel queue in the calling thread's IPC
//!   namespace, made by the kernel's own `msgget` with the caller's key and flags. Keys,
//!   ids (with their sequence numbers), `msgmni`, `msg_next_id`, the permission checks of
//!   `msgget`, `IPC_SET` and `IPC_RMID`, the limits and the lifetime (the namespace's) are
//!   the kernel's.
//! * **Memory.** A queue's messages and blocked callers live in a shard (the engine's
//!   self-contained unit: lock, undo log, heap) that is one System V shared-memory segment
//!   of the same namespace, `IPC_PRIVATE` (so it never collides with a program's keys) and
//!   sparse (`SHM_NORESERVE`). The segment's `shm_perm` follows the queue's: same uid and
//!   gid, and read-write for every class (owner, group, other) that has r or w on the
//!   queue. So the kernel refuses the queue's memory to everyone it would refuse the
//!   queue: there is no write-only attach, so a class with only r or only w gets
//!   read-write memory and msgq checks the rest, as for a cooperating process.
//! * **Finding it.** A segment's size says which queue index it belongs to
//!   ([`seg_size`]); `SHM_STAT_ANY` lists every segment with its creator (`cuid`, set by
//!   the kernel, not forgeable). Only segments made by root, the queue's creator or its
//!   owner are trusted (each of them could give itself the queue's memory anyway), and the
//!   shard's header must name the queue's full id. A thread keeps what it attached in a
//!   cache of its own (no shared state, no system call on a hit), and detaches segments
//!   of removed queues when it meets them.
//! * **Lifetime.** Kernel queues and segments die with their namespace: a new namespace
//!   starts empty, with the default limits, and nothing is left behind.
//!
//! What the kernel cannot show without the memory (the counters of a queue the caller may
//! not access, in `MSG_STAT_ANY`, `MSG_INFO` and `/proc/sysvipc/msg`) shows as the anchor's
//! (0). See `docs/design.md`, "The store model of issue 13".

use crate::engine::check::{self, Problem, Report};
use crate::engine::ops::{self, lookup, NewQueue};
use crate::engine::{ctl, recovery, registry, waiters, Shards, Shared};
use crate::shm::layout::{self as lay, H, R, USED};
use crate::shm::Arena;
use crate::sync::StoreLock;
use crate::sys::creds::Creds;
use crate::sys::ipc;
use msgq_core::abi::*;
use msgq_core::checks::Cmd;
use msgq_core::ids;
use msgq_core::limits::Sysctl;
use msgq_core::perm::Perm;
use msgq_core::Errno;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// The size of the segment of the queue at index `idx`: a shard of 64 MiB and some, plus
/// one page per index, so that the size names the index (and is unlike other programs').
pub fn seg_size(idx: u32) -> u64 {
    (64 << 20) + 0x2b000 + ((idx as u64) << 12)
}

/// The mode of a queue's segment: read-write for each class that has r or w on the queue.
pub fn mem_mode(mode: u32) -> u32 {
    [6, 3, 0]
        .iter()
        .filter(|&&s| (mode >> s) & 0o6 != 0)
        .fold(0, |m, &s| m | (0o6 << s))
}

/// The default store of one IPC namespace (the calling thread's when it was opened).
pub struct Anchored {
    /// Tells this instance's entries apart in the per-thread caches.
    serial: u64,
    /// The limits the calls on one queue read (`R::MSGMAX`, `R::MSGMNB`), refreshed from
    /// the kernel (`IPC_INFO`) at most every 100 ms.
    limits: Box<[AtomicU64]>,
    limits_at: AtomicU64,
}

static SERIAL: AtomicU64 = AtomicU64::new(1);

/// One queue's segment, mapped by this thread.
struct Seg {
    shmid: i32,
    base: *mut u8,
    len: u64,
}

impl Drop for Seg {
    fn drop(&mut self) {
        // SAFETY: `base` came from shmat; a Seg lives in its thread's cache and no engine
        // call of this thread is using it when it is dropped (the cache is only changed
        // between calls).
        unsafe { ipc::shm_detach(self.base) }
    }
}

/// A thread's mapped segments, by (store serial, queue id).
#[derive(Default)]
struct Cache(HashMap<(u64, i32), Seg>);

impl Drop for Cache {
    fn drop(&mut self) {
        clear_last();
        // A thread that ends detaches its segments. The main thread's end is the process's
        // (`exit` runs thread-local destructors before the program's `atexit` handlers,
        // which may still look at, or use, its mappings): the kernel detaches them then.
        // SAFETY: getpid and gettid have no preconditions.
        if unsafe { libc::gettid() == libc::getpid() } {
            for (_, seg) in self.0.drain() {
                std::mem::forget(seg);
            }
        }
    }
}

impl std::ops::Deref for Cache {
    type Target = HashMap<(u64, i32), Seg>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Cache {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

thread_local! {
    /// This thread's mapped segments.
    static SEGS: RefCell<Cache> = RefCell::new(Cache::default());
    /// The segment this thread used last, `(store serial, queue id, base, len)` (serial 0:
    /// none), so that a run of calls on one queue skips the cache's hash. Reset whenever a
    /// segment leaves the cache.
    static LAST: Cell<(u64, i32, usize, u64)> = const { Cell::new((0, 0, 0, 0)) };
}

fn clear_last() {
    let _ = LAST.try_with(|l| l.set((0, 0, 0, 0)));
}

/// Detaches every segment the calling thread attached (it left its IPC namespace, or is
/// about to find out which it is in): an attached segment keeps its namespace alive. Must
/// not be called from inside a call on a store (the shim calls it when it resolves a
/// thread's namespace again, before the call uses any queue).
pub fn detach_thread_mappings() {
    clear_last();
    let _ = SEGS.try_with(|c| c.borrow_mut().clear());
}

/// In a child just forked: detaches the queues' segments that the parent's other threads
/// had attached (the child inherits every attachment, but only the forking thread's cache;
/// the others would keep their namespaces alive for as long as the child lives). A
/// segment is recognised by its size and its shard header.
pub fn after_fork_child() {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    let mine: Vec<usize> = SEGS
        .try_with(|c| c.borrow().values().map(|s| s.base as usize).collect())
        .unwrap_or_default();
    for line in maps.lines().filter(|l| l.contains("/SYSV")) {
        let Some((a, b)) = line
            .split_whitespace()
            .next()
            .and_then(|r| r.split_once('-'))
            .and_then(|(a, b)| {
                Some((
                    usize::from_str_radix(a, 16).ok()?,
                    usize::from_str_radix(b, 16).ok()?,
                ))
            })
        else {
            continue;
        };
        let len = (b - a) as u64;
        let base = seg_size(0);
        if mine.contains(&a)
            || len < base
            || !(len - base).is_multiple_of(4096)
            || (len - base) / 4096 >= ids::IPCMNI as u64
        {
            continue;
        }
        // SAFETY: a mapping of `len` bytes (from the kernel's own list) of a SysV segment,
        // readable (it was attached read-write).
        let a_ = unsafe { Arena::new(a as *mut u8, len) };
        if a_.get(H::MAGIC_W) == lay::SHARD_MAGIC && a_.get(H::ANCHOR) & USED != 0 {
            // SAFETY: an attachment no thread of this child uses (it is in no cache).
            unsafe { ipc::shm_detach(a as *mut u8) };
        }
    }
}

/// Whether queue `id`'s kernel anchor is gone (removed), for a blocked caller's periodic
/// look: a queue removed without msgq must still end its waits with `EIDRM`.
pub(crate) fn anchor_missing(id: i32) -> bool {
    matches!(anchor(id), Err(Errno::EINVAL))
}

/// Removes the segment whose shard `a` is (its anchor is gone), if the caller may: it is
/// destroyed once the last process detaches it.
pub(crate) fn remove_own_segment(a: Arena) {
    let seg = a.get(H::SEGMENT);
    if seg != 0 {
        remove_segment((seg - 1) as i32);
    }
}

/// The anchor at index `idx`: its full id and its `msqid_ds` (`MSG_STAT_ANY`: no permission
/// check), or `EINVAL` when the index is free.
fn anchor_at(idx: i32) -> Result<(i32, MsqidDs), Errno> {
    let mut ds = MsqidDs::default();
    let id = ipc::msgctl(idx, ipc::MSG_STAT_ANY, &mut ds)?;
    Ok((id, ds))
}

/// The anchor of queue `id`, or `EINVAL`.
fn anchor(id: i32) -> Result<MsqidDs, Errno> {
    if id < 0 {
        return Err(Errno::EINVAL);
    }
    match anchor_at(ids::idx_of(id) as i32)? {
        (full, ds) if full == id => Ok(ds),
        _ => Err(Errno::EINVAL),
    }
}

fn perm_of(ds: &MsqidDs) -> Perm {
    let p = &ds.msg_perm;
    Perm {
        key: p.key,
        uid: p.uid,
        gid: p.gid,
        cuid: p.cuid,
        cgid: p.cgid,
        mode: p.mode & 0o777,
    }
}

/// Whether a segment made by `cuid` may hold the memory of a queue with `perm`.
fn trusted(cuid: u32, perm: &Perm) -> bool {
    cuid == 0 || cuid == perm.cuid || cuid == perm.uid
}

/// Gives segment `shmid` the owner and memory mode that follow queue permissions `perm`.
fn follow(shmid: i32, perm: &Perm) -> Result<(), Errno> {
    // SAFETY: shmid_ds is plain data; all zeroes is a valid value.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    ds.shm_perm.uid = perm.uid;
    ds.shm_perm.gid = perm.gid;
    ds.shm_perm.mode = mem_mode(perm.mode) as u16;
    ipc::shmctl(shmid, libc::IPC_SET, &mut ds).map(|_| ())
}

/// The trusted segments whose size is that of index `idx`'s queue, not being destroyed.
fn candidates(idx: u32, perm: &Perm) -> Vec<i32> {
    // SAFETY: as in `follow`.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    let Ok(max) = ipc::shmctl(0, ipc::SHM_INFO, &mut ds) else {
        return Vec::new();
    };
    let want = seg_size(idx);
    (0..=max)
        .filter_map(|i| {
            let shmid = ipc::shmctl(i, ipc::SHM_STAT_ANY, &mut ds).ok()?;
            (ds.shm_segsz as u64 == want
                && ds.shm_perm.mode & ipc::SHM_DEST == 0
                && trusted(ds.shm_perm.cuid, perm))
            .then_some(shmid)
        })
        .collect()
}

impl Seg {
    fn arena(&self) -> Arena {
        // SAFETY: `base` is a live shmat mapping of `len` bytes, page-aligned; it stays
        // mapped while the Seg lives (see its Drop).
        unsafe { Arena::new(self.base, self.len) }
    }

    /// Whether the shard is the memory of queue `id`.
    fn holds(&self, id: i32) -> bool {
        let a = self.arena();
        a.get(H::MAGIC_W) == lay::SHARD_MAGIC && a.get(H::ANCHOR) == USED | id as u32 as u64
    }

    /// Whether its queue was removed (no live queue, nothing left to finish): a racy read
    /// of one word, enough to decide to detach a segment nobody of this thread uses.
    fn finished(&self) -> bool {
        let a = self.arena();
        a.get(H::LIVE) == 0 && a.get(H::DYING) == 0
    }
}

impl Anchored {
    /// The default store of the calling thread's IPC namespace.
    pub fn new() -> Anchored {
        let limits: Box<[AtomicU64]> = (0..R::SIZE / 8).map(|_| AtomicU64::new(0)).collect();
        let a = Anchored {
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
            limits,
            limits_at: AtomicU64::new(0),
        };
        a.refresh_limits();
        a
    }

    fn refresh_limits(&self) {
        if let Ok((_, mi)) = kernel_info(IPC_INFO) {
            self.limits[(R::MSGMAX / 8) as usize].store(mi.msgmax as u64, Ordering::Relaxed);
            self.limits[(R::MSGMNB / 8) as usize].store(mi.msgmnb as u64, Ordering::Relaxed);
            self.limits[(R::MSGMNI / 8) as usize].store(mi.msgmni as u64, Ordering::Relaxed);
        }
        self.limits_at
            .store(crate::sys::process::coarse_ns(), Ordering::Relaxed);
    }

    fn limits_arena(&self) -> Arena {
        // SAFETY: the box holds R::SIZE / 8 8-aligned words and lives as long as `self`,
        // which outlives every call that uses the arena. Its words are written only with
        // atomic stores of whole words.
        unsafe { Arena::new(self.limits.as_ptr() as *mut u8, R::SIZE) }
    }

    fn shared(&self, seg: &Seg) -> Shared {
        self.shared_at(seg.base, seg.len)
    }

    /// [`Self::shared`] for the segment mapped at `base` (a cached, checked one).
    fn shared_at(&self, base: *mut u8, len: u64) -> Shared {
        // SAFETY: `base` is a live shmat mapping of `len` bytes from this thread's cache.
        let arena = unsafe { Arena::new(base, len) };
        // SAFETY: a shard's header holds an initialised process-shared mutex at LOCK_OFF
        // (`holds` checked the shard's magic, which is written after the mutex).
        let lock = unsafe { StoreLock::at(arena.byte_ptr(lay::LOCK_OFF, 40).cast()) };
        Shared {
            arena,
            lock,
            reg: self.limits_arena(),
        }
    }

    /// Queue `id`'s segment, attached if needed: from this thread's cache, else found.
    fn with_seg<T>(&self, id: i32, wait: bool, f: impl FnOnce(&Seg) -> T) -> Result<T, Errno> {
        let key = (self.serial, id);
        let mut f = Some(f);
        if let Ok(Some(r)) = SEGS.try_with(|c| c.borrow().get(&key).map(|s| f.take().map(|f| f(s))))
        {
            return r.ok_or(Errno::EINVAL);
        }
        let Some(f) = f else {
            return Err(Errno::EINVAL);
        };
        let seg = self.find(id, wait)?;
        let r = f(&seg);
        let mut slot = Some(seg);
        let _ = SEGS.try_with(|c| {
            let mut c = c.borrow_mut();
            // Segments of queues removed since: nothing of this thread is in them (a call
            // works on one queue, and this one is not in the cache yet; LAST names it).
            c.retain(|_, s| !s.finished());
            if let Some(seg) = slot.take() {
                c.insert(key, seg);
            }
        });
        if let Some(seg) = slot {
            // The thread is exiting (its cache is gone; only a call from a thread-local
            // destructor gets here): the mapping stays until the process exits, as `r`
            // may point into it.
            std::mem::forget(seg);
        }
        Ok(r)
    }

    /// Forgets (detaches) this thread's mapping of queue `id`, removed or never there.
    fn forget(&self, id: i32) {
        clear_last();
        let _ = SEGS.try_with(|c| c.borrow_mut().remove(&(self.serial, id)));
    }

    /// Finds and attaches queue `id`'s segment. With `wait`, a queue whose memory is not
    /// there yet (its creator is between the anchor and the segment) is waited for, up to
    /// 100 ms (a message call); without, it is reported at once (listings).
    fn find(&self, id: i32, wait: bool) -> Result<Seg, Errno> {
        let a = anchor(id)?;
        let perm = perm_of(&a);
        // A caller the queue admits neither to read nor to write is refused its memory
        // too: say so without trying (and without waiting for a segment being made).
        let admitted = crate::sys::creds::with(|c| {
            msgq_core::perm::ipcperms(&perm, c, msgq_core::perm::READ).is_ok()
                || msgq_core::perm::ipcperms(&perm, c, msgq_core::perm::WRITE).is_ok()
        });
        if !admitted {
            return Err(Errno::EACCES);
        }
        let idx = ids::idx_of(id);
        for _ in 0..if wait { 100 } else { 1 } {
            for shmid in candidates(idx, &perm) {
                let Ok(base) = ipc::shm_attach(shmid) else {
                    // Refused: a segment still being made (0600 until its queue is live).
                    continue;
                };
                let seg = Seg {
                    shmid,
                    base,
                    len: seg_size(idx),
                };
                // Not yet holding its live queue: being made, try again.
                if seg.holds(id) && self.sync(&seg, id, &a).is_ok() {
                    return Ok(seg);
                }
            }
            if wait {
                std::thread::sleep(std::time::Duration::from_millis(1));
                anchor(id)?;
            }
        }
        // An anchor without memory: its creator died before making it (or it was made
        // without msgq).
        Err(Errno::EINVAL)
    }

    /// Makes the copy of `ipc_perm` and `qbytes` in queue `id`'s memory the anchor's `a`
    /// (an `IPC_SET` made by a process that could not reach the memory, or made without
    /// msgq), waking its blocked callers to check again.
    fn sync(&self, seg: &Seg, id: i32, a: &MsqidDs) -> Result<(), Errno> {
        let sh = self.shared(seg);
        let mut g = sh.lock()?;
        let q = lookup(&g, id)?;
        let perm = perm_of(a);
        if ops::perm_of(&g, q) != perm || g.get(q.at(lay::Q::QBYTES)) != a.msg_qbytes {
            ctl::mirror(&mut g, q, &perm, a.msg_qbytes, a.msg_ctime as u64);
            waiters::wake_receivers(&mut g, q);
            waiters::wake_senders(&mut g, q);
            g.commit();
        }
        Ok(())
    }

    /// `msgget`.
    pub fn msgget(&self, key: i32, msgflg: i32, who: &Creds) -> Result<i32, Errno> {
        loop {
            if key == IPC_PRIVATE {
                let id = ipc::msgget(key, msgflg)?;
                return self.create(id, who);
            }
            if msgflg & IPC_CREAT != 0 {
                match ipc::msgget(key, msgflg | IPC_EXCL) {
                    Ok(id) => return self.create(id, who),
                    Err(Errno::EEXIST) if msgflg & IPC_EXCL == 0 => {}
                    Err(e) => return Err(e),
                }
            }
            match ipc::msgget(key, msgflg & !IPC_CREAT) {
                // Removed between the two calls: try again to create it.
                Err(Errno::ENOENT) if msgflg & IPC_CREAT != 0 => continue,
                r => return r,
            }
        }
    }

    /// Makes the memory of anchor `id`, which the caller just created; on failure the
    /// anchor is removed again.
    fn create(&self, id: i32, _who: &Creds) -> Result<i32, Errno> {
        let made = anchor(id).and_then(|a| self.make_segment(id, &a));
        if let Err(e) = made {
            let _ = ipc::msgctl(id, IPC_RMID, &mut MsqidDs::default());
            // No segment id left (shmmni) counts as no queue id left.
            return Err(if e == Errno::ENOSPC || e == Errno::ENOMEM {
                Errno::ENOSPC
            } else {
                e
            });
        }
        Ok(id)
    }

    fn make_segment(&self, id: i32, a: &MsqidDs) -> Result<(), Errno> {
        let idx = ids::idx_of(id);
        let size = seg_size(idx);
        // A segment left naming this id (a queue of an earlier id cycle, or removed without
        // msgq) would compete with the new one: remove those the caller can reach.
        for shmid in candidates(idx, &perm_of(a)) {
            if let Ok(base) = ipc::shm_attach(shmid) {
                let old = Seg {
                    shmid,
                    base,
                    len: size,
                };
                if old.holds(id) {
                    remove_segment(shmid);
                }
            }
        }
        let shmid = ipc::shm_create(size, IPC_CREAT | 0o600 | ipc::SHM_NORESERVE)?;
        let seg = match ipc::shm_attach(shmid) {
            Ok(base) => Seg {
                shmid,
                base,
                len: size,
            },
            Err(e) => {
                remove_segment(shmid);
                return Err(e);
            }
        };
        let perm = perm_of(a);
        let r = (|| {
            let sh = self.shared_unchecked(&seg);
            // SAFETY: a segment we just made, that nobody else has found (its size and
            // creator match, but its magic is written last, by init_shard).
            unsafe {
                crate::store::init_shard(
                    sh.arena,
                    idx as u64,
                    USED | id as u32 as u64,
                    shmid as u64 + 1,
                )
            }
            .map_err(|_| Errno::ENOMEM)?;
            let mut g = sh.lock()?;
            ops::create_in_shard(
                &mut g,
                &NewQueue {
                    perm,
                    seq: ids::seq_of(id),
                    id,
                    qbytes: a.msg_qbytes,
                    ctime: a.msg_ctime as u64,
                },
            )?;
            drop(g);
            follow(shmid, &perm)
        })();
        if let Err(e) = r {
            remove_segment(shmid);
            return Err(e);
        }
        let _ = SEGS.try_with(|c| c.borrow_mut().insert((self.serial, id), seg));
        Ok(())
    }

    /// [`Self::shared`] for a segment whose header is not made yet.
    fn shared_unchecked(&self, seg: &Seg) -> Shared {
        let arena = seg.arena();
        // SAFETY: the mutex's bytes lie in the mapping; `init_shard` initialises it before
        // anyone locks it.
        let lock = unsafe { StoreLock::at(arena.byte_ptr(lay::LOCK_OFF, 40).cast()) };
        Shared {
            arena,
            lock,
            reg: self.limits_arena(),
        }
    }

    /// Queue `id`'s shard for a listing: as [`Shards::shard_of`], without waiting for a
    /// queue whose memory is not there.
    fn shard_now(&self, id: i32) -> Result<Shared, Errno> {
        self.with_seg(id, false, |s| self.shared(s))
    }

    /// Copies queue `id`'s counters and times into `ds` (the kernel's answer for its
    /// anchor), when the caller may have the queue's memory.
    fn overlay(&self, id: i32, ds: &mut MsqidDs) {
        let got = self.shard_now(id).and_then(|sh| {
            let mut g = sh.lock()?;
            if g.get(H::PENDING_HEAD) != 0 {
                recovery::sweep_pending(&mut g);
                g.commit();
            }
            let q = lookup(&g, id)?;
            Ok(ctl::fill(&g, q))
        });
        if let Ok(f) = got {
            ds.msg_qnum = f.msg_qnum;
            ds.msg_cbytes = f.msg_cbytes;
            ds.msg_stime = f.msg_stime;
            ds.msg_rtime = f.msg_rtime;
            ds.msg_lspid = f.msg_lspid;
            ds.msg_lrpid = f.msg_lrpid;
        }
    }

    /// `IPC_STAT`, `MSG_STAT`, `MSG_STAT_ANY`: the kernel's answer (its permission check,
    /// ids, `ipc_perm`, `qbytes`, `ctime`) with the queue's counters and times.
    pub fn stat(&self, id: i32, cmd: Cmd, _who: &Creds) -> Result<(i32, MsqidDs), Errno> {
        let kcmd = match cmd {
            Cmd::Stat => IPC_STAT,
            Cmd::MsgStat => MSG_STAT,
            _ => ipc::MSG_STAT_ANY,
        };
        let mut ds = MsqidDs::default();
        let r = ipc::msgctl(id, kcmd, &mut ds)?;
        let full = if cmd == Cmd::Stat { id } else { r };
        self.overlay(full, &mut ds);
        Ok((r, ds))
    }

    /// `IPC_SET`: the kernel's (its checks), then the queue's memory follows: first the
    /// copy of `ipc_perm` and `qbytes` msgq checks callers against (while the caller can
    /// still reach the memory: the segment still has the old owner and mode), then the
    /// segment's owner and mode. Once the kernel made the change, the rest is best effort:
    /// the call succeeds as the kernel's did, and a process that attaches later copies the
    /// anchor's permissions anyway.
    pub fn set(&self, id: i32, ds: &MsqidDs, who: &Creds) -> Result<(), Errno> {
        let before = anchor(id).map(|a| perm_of(&a));
        let mut d = *ds;
        ipc::msgctl(id, IPC_SET, &mut d)?;
        let Ok(a) = anchor(id) else {
            self.forget(id);
            return Ok(());
        };
        let perm = perm_of(&a);
        let idx = ids::idx_of(id);
        let mut cands = candidates(idx, &perm);
        if let Ok(b) = &before {
            for c in candidates(idx, b) {
                if !cands.contains(&c) {
                    cands.push(c);
                }
            }
        }
        let key = (self.serial, id);
        let synced = SEGS
            .try_with(|c| c.borrow().get(&key).map(|s| self.sync(s, id, &a).is_ok()))
            .ok()
            .flatten()
            .unwrap_or(false);
        if !synced {
            for &shmid in &cands {
                // The caller may lack the memory (an owner with mode 0): as the segment's
                // owner or creator (or privileged) it may give it to itself for the copy.
                let me = Perm {
                    uid: who.euid,
                    mode: 0o600,
                    ..perm
                };
                let attached = ipc::shm_attach(shmid)
                    .or_else(|_| follow(shmid, &me).and_then(|()| ipc::shm_attach(shmid)));
                if let Ok(base) = attached {
                    let seg = Seg {
                        shmid,
                        base,
                        len: seg_size(idx),
                    };
                    if seg.holds(id) {
                        let _ = self.sync(&seg, id, &a);
                    }
                }
            }
        }
        for &shmid in &cands {
            let _ = follow(shmid, &perm);
        }
        self.forget(id);
        Ok(())
    }

    /// `IPC_RMID`: the kernel's (its checks), then the queue's waiters get `EIDRM` and its
    /// segment goes (when the last process detaches it).
    pub fn rmid(&self, id: i32, who: &Creds) -> Result<(), Errno> {
        let a = anchor(id).ok();
        ipc::msgctl(id, IPC_RMID, &mut MsqidDs::default())?;
        let Some(a) = a else { return Ok(()) };
        let perm = perm_of(&a);
        let idx = ids::idx_of(id);
        // The remover may lack the memory (an owner with mode 0): it may give it to itself.
        let mut seg = self.find_removed(id, idx, &perm);
        if seg.is_none() && (who.euid == perm.uid || who.euid == perm.cuid || who.euid == 0) {
            let mine = Perm {
                mode: perm.mode | 0o600,
                uid: who.euid,
                ..perm
            };
            for shmid in candidates(idx, &perm) {
                let _ = follow(shmid, &mine);
            }
            seg = self.find_removed(id, idx, &perm);
        }
        if let Some(seg) = seg {
            let sh = self.shared(&seg);
            if let Ok(mut g) = sh.lock() {
                if let Ok(q) = lookup(&g, id) {
                    registry::remove_in_shard(&mut g, q);
                }
            }
            remove_segment(seg.shmid);
        }
        self.forget(id);
        Ok(())
    }

    /// Queue `id`'s segment after its anchor was removed (this thread's, or found).
    fn find_removed(&self, id: i32, idx: u32, perm: &Perm) -> Option<Seg> {
        clear_last();
        if let Ok(Some(s)) = SEGS.try_with(|c| c.borrow_mut().remove(&(self.serial, id))) {
            return Some(s);
        }
        candidates(idx, perm).into_iter().find_map(|shmid| {
            let base = ipc::shm_attach(shmid).ok()?;
            let seg = Seg {
                shmid,
                base,
                len: seg_size(idx),
            };
            seg.holds(id).then_some(seg)
        })
    }

    /// Every queue of the namespace, in index order: its full id and `msqid_ds` (with the
    /// counters of those whose memory the caller may have).
    fn each(&self, mut f: impl FnMut(i32, &MsqidDs)) -> Result<(), Errno> {
        let (max, _) = kernel_info(MSG_INFO)?;
        for i in 0..=max {
            if let Ok((id, mut ds)) = anchor_at(i) {
                self.overlay(id, &mut ds);
                f(id, &ds);
            }
        }
        Ok(())
    }

    /// `IPC_INFO` and `MSG_INFO`: the kernel's, with msgq's message and byte totals.
    pub fn info(&self, cmd: Cmd) -> Result<(i32, MsgInfo), Errno> {
        let usage = cmd == Cmd::MsgInfo;
        let (max, mut mi) = kernel_info(if usage { MSG_INFO } else { IPC_INFO })?;
        if usage {
            let (mut hdrs, mut bytes) = (0u64, 0u64);
            self.each(|_, ds| {
                hdrs += ds.msg_qnum;
                bytes += ds.msg_cbytes;
            })?;
            // The kernel's queue count, msgq's totals.
            msgq_core::ctl::Usage {
                queues: mi.msgpool.max(0) as u64,
                msgs: hdrs,
                bytes,
            }
            .apply(&mut mi);
        }
        Ok((max, mi))
    }

    /// Reads a sysctl: the namespace's own file.
    pub fn sysctl(&self, which: Sysctl) -> Result<i64, Errno> {
        let text = ipc::read_file(&sysctl_path(which))?;
        std::str::from_utf8(&text)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or(Errno::EIO)
    }

    /// Writes a sysctl: the namespace's own file (the kernel's checks; root of the
    /// namespace's user namespace only).
    pub fn set_sysctl(&self, which: Sysctl, value: i64) -> Result<(), Errno> {
        ipc::write_file(&sysctl_path(which), format!("{value}\n").as_bytes())?;
        self.refresh_limits();
        Ok(())
    }

    /// The `/proc/sysvipc/msg` text, with msgq's counters.
    pub fn proc_text(&self) -> Result<String, Errno> {
        let mut s = String::from(msgq_core::procfmt::HEADER);
        self.each(|id, d| {
            let row = msgq_core::procfmt::Row::of(id, d);
            let _ = row.write_to(&mut s);
        })?;
        Ok(s)
    }

    /// Checks every queue whose memory the caller may have.
    pub fn check(&self) -> Result<Report, Problem> {
        let (max, _) = kernel_info(MSG_INFO).map_err(Problem::Lock)?;
        let mut r = Report::default();
        for i in 0..=max {
            let Ok((id, ds)) = anchor_at(i) else { continue };
            let Ok(sh) = self.shard_now(id) else { continue };
            let one = check::check_shard(
                &sh,
                i as u64,
                USED | id as u32 as u64,
                ds.msg_perm.key as u32 as u64,
            )
            .map_err(|p| match p {
                Problem::Bad(why) => Problem::Bad(format!("queue {id}: {why}")),
                other => other,
            })?;
            r.add(&one);
        }
        Ok(r)
    }

    /// After a call on queue `id` failed with `e`: a removed queue's mapping is dropped.
    pub fn after_error(&self, id: i32, e: Errno) {
        if e != Errno::EINVAL && e != Errno::EIDRM {
            return;
        }
        let gone = SEGS
            .try_with(|c| c.borrow().get(&(self.serial, id)).map(Seg::finished))
            .ok()
            .flatten()
            .unwrap_or(false);
        if gone {
            self.forget(id);
        }
    }
}

impl Default for Anchored {
    fn default() -> Self {
        Self::new()
    }
}

impl Shards for Anchored {
    fn shard_of(&self, id: i32) -> Result<Shared, Errno> {
        if id < 0 {
            return Err(Errno::EINVAL);
        }
        if let Ok((serial, last, base, len)) = LAST.try_with(Cell::get) {
            if serial == self.serial && last == id {
                return Ok(self.shared_at(base as *mut u8, len));
            }
        }
        self.with_seg(id, true, |s| {
            let _ = LAST.try_with(|l| l.set((self.serial, id, s.base as usize, s.len)));
            self.shared(s)
        })
    }

    fn msgmax(&self) -> u64 {
        if crate::sys::process::coarse_ns().saturating_sub(self.limits_at.load(Ordering::Relaxed))
            > 100_000_000
        {
            self.refresh_limits();
        }
        self.limits[(R::MSGMAX / 8) as usize].load(Ordering::Relaxed)
    }
}

fn remove_segment(shmid: i32) {
    // SAFETY: as in `follow`.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    let _ = ipc::shmctl(shmid, libc::IPC_RMID, &mut ds);
}

/// The kernel's `IPC_INFO` or `MSG_INFO`: the highest index in use and the struct.
fn kernel_info(cmd: i32) -> Result<(i32, MsgInfo), Errno> {
    let mut buf = MsqidDs::default();
    let max = ipc::msgctl(0, cmd, &mut buf)?;
    // SAFETY: the kernel wrote a `struct msginfo` (32 bytes) at the start of the buffer,
    // which is larger; MsgInfo is that struct (plain i32 fields).
    let mi = unsafe { std::ptr::from_ref(&buf).cast::<MsgInfo>().read_unaligned() };
    Ok((max, mi))
}

fn sysctl_path(which: Sysctl) -> String {
    format!("/proc/sys/kernel/{}", which.name())
}
