//! The registry: a store's namespace-wide state, behind a lock of its own.
//!
//! It holds the limits, the id allocation state, the id table (index -> live queue id) and
//! the key hash, and it finds a queue's shard. Queues themselves live in shards (one per
//! queue index, each with its own lock, undo log and heap: see `docs/design.md`), so the
//! calls on one queue (`msgsnd`, `msgrcv`, `IPC_STAT`, `IPC_SET`) never take this lock;
//! `msgget`, `IPC_RMID`, the INFO commands, `/proc/sysvipc/msg` and the sysctls do.
//!
//! Lock order: registry, then shard. Nothing that holds a shard lock takes the registry.
//!
//! INVARIANT (after recovery): an index is used in the id table exactly when its shard has
//! a live queue with that id. Creation and removal change both journals, two-phase with
//! an intent: the registry commits its change with `R::INTENT = index + 1`, then the shard
//! commits, then the registry clears the intent. Creation writes the registry entry first,
//! removal clears the shard first, so a process killed in between leaves at most "the
//! registry names a queue the shard does not have", which [`Ns::lock`] repairs.

use super::guard::{Guard, Shared};
use super::ops::{lookup, perm_of};
use super::records::Queue;
use super::recovery;
use super::Shards;
use crate::shm::layout::{
    self as lay, H, Q, R, REG_BUCKETS_OFF, REG_IDS_OFF, REG_KEYS_OFF, REG_KNEXT_OFF,
    REG_SHARDS_OFF, SHARDS_OFF, USED,
};
use crate::shm::Arena;
use crate::sync::{Locked, StoreLock};
use crate::sys::creds::Creds;
use msgq_core::abi::*;
use msgq_core::checks::Cmd;
use msgq_core::ctl::Usage;
use msgq_core::get::{self, Get};
use msgq_core::ids::{self, IdState, IPCMNI};
use msgq_core::limits::{Limits, Sysctl};
use msgq_core::perm;
use msgq_core::procfmt;
use msgq_core::Errno;

/// A mapped store: its registry and its shards.
#[derive(Clone, Copy)]
pub struct Ns {
    reg: Shared,
    /// The whole mapping (registry and shards).
    all: Arena,
    shard_len: u64,
}

/// The registry's lock, held.
pub struct RegGuard<'a> {
    g: Guard<'a>,
}

impl RegGuard<'_> {
    #[inline]
    pub fn get(&self, off: u64) -> u64 {
        self.g.get(off)
    }
    #[inline]
    fn put(&mut self, off: u64, v: u64) {
        self.g.put(off, v)
    }
    fn commit(&mut self) {
        self.g.commit()
    }
    /// The id-table word of index `idx`: the live queue's id with [`USED`], or 0.
    pub fn id_word(&self, idx: u64) -> u64 {
        self.get(REG_IDS_OFF + 8 * idx)
    }
    /// The highest index in use, or -1.
    pub fn max_idx(&self) -> i64 {
        (self.get(R::MAX_IDX) as i64).clamp(-1, IPCMNI as i64 - 1)
    }
}

impl Ns {
    /// # Safety
    /// `all` must be a whole store mapping whose header was validated (`store::open`) or
    /// initialised (`store::create`), and must stay mapped while this value is used.
    pub unsafe fn new(all: Arena) -> Ns {
        let reg_arena = all.sub(0, SHARDS_OFF);
        // SAFETY: the registry header holds an initialised process-shared mutex (per the
        // caller's contract), inside the mapping.
        let lock = unsafe { StoreLock::at(reg_arena.byte_ptr(lay::LOCK_OFF, 40).cast()) };
        Ns {
            reg: Shared {
                arena: reg_arena,
                lock,
                reg: reg_arena,
            },
            all,
            shard_len: all.get(R::SHARD_LEN),
        }
    }

    /// The registry's words, read without its lock (the limits).
    pub fn limits(&self) -> Arena {
        self.reg.arena
    }

    /// Shard `idx`, whether or not it was initialised.
    fn shard_at(&self, idx: u64) -> Shared {
        let arena = self
            .all
            .sub(SHARDS_OFF + idx * self.shard_len, self.shard_len);
        // SAFETY: an initialised shard holds a process-shared mutex at LOCK_OFF; callers
        // only lock shards whose registry flag says so (`shard`), or that they have just
        // initialised under the registry lock.
        let lock = unsafe { StoreLock::at(arena.byte_ptr(lay::LOCK_OFF, 40).cast()) };
        Shared {
            arena,
            lock,
            reg: self.reg.arena,
        }
    }

    /// Shard `idx` if it was ever initialised (a queue had that index), else `None`: a
    /// lookup of an id nobody created touches no page of an unused shard.
    pub fn shard(&self, idx: u64) -> Option<Shared> {
        (idx < IPCMNI as u64 && self.reg.arena.get(REG_SHARDS_OFF + 8 * idx) != 0)
            .then(|| self.shard_at(idx))
    }

    /// Every initialised shard, with its index.
    pub fn shards(&self) -> impl Iterator<Item = (u64, Shared)> + '_ {
        (0..IPCMNI as u64).filter_map(move |i| self.shard(i).map(|s| (i, s)))
    }

    /// Takes the registry lock, rolling back a dead owner's update and finishing (or
    /// undoing) a creation or removal it left between the registry and a shard.
    pub fn lock(&self) -> Result<RegGuard<'_>, Errno> {
        let (mut g, how) = self.reg.lock_raw()?;
        if how == Locked::OwnerDied || self.reg.arena.get(R::LOG_LEN) != 0 {
            crate::shm::tx::rollback(self.reg.arena);
            g.tx.add(R::RECOVERIES, 1);
            g.tx.commit();
            if how == Locked::OwnerDied {
                self.reg.lock.mark_consistent();
            }
        }
        let mut r = RegGuard { g };
        if r.get(R::INTENT) != 0 {
            self.reconcile(&mut r)?;
        }
        Ok(r)
    }

    /// Repairs the index named by `R::INTENT`: the shard's live queue is the truth.
    fn reconcile(&self, r: &mut RegGuard) -> Result<(), Errno> {
        let idx = r.get(R::INTENT) - 1;
        if idx >= IPCMNI as u64 {
            crate::shm::arena::corrupt(R::INTENT);
        }
        let want = r.id_word(idx);
        if want & USED != 0 {
            let live = match self.shard(idx) {
                Some(sh) => {
                    let g = sh.lock()?;
                    live_queue(&g).map(|q| g.get(q.at(Q::ID)) as u32)
                }
                None => None,
            };
            if live != Some(want as u32) {
                drop_entry(r, idx);
            }
        }
        r.put(R::INTENT, 0);
        r.commit();
        Ok(())
    }
}

impl super::Shards for Ns {
    /// The shard that queue id `id` would be in, or `EINVAL`.
    fn shard_of(&self, id: i32) -> Result<Shared, Errno> {
        if id < 0 {
            return Err(Errno::EINVAL);
        }
        self.shard(ids::idx_of(id) as u64).ok_or(Errno::EINVAL)
    }
    fn msgmax(&self) -> u64 {
        self.reg.arena.get(R::MSGMAX)
    }
}

/// The live queue of a shard, if any.
pub fn live_queue(g: &Guard) -> Option<Queue> {
    Queue::at_off(g.get(H::LIVE))
}

/// The key-hash bucket word for `key`.
fn key_bucket(key: i32) -> u64 {
    REG_BUCKETS_OFF
        + 8 * (((key as u32 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) % lay::KEY_BUCKETS)
}

/// The index whose queue has key `key`.
fn find_key(r: &RegGuard, key: i32) -> Option<u64> {
    let mut link = r.get(key_bucket(key));
    let mut n = 0;
    while link != 0 {
        let idx = link - 1;
        if idx >= IPCMNI as u64 || n > IPCMNI {
            crate::shm::arena::corrupt(key_bucket(key));
        }
        if r.get(REG_KEYS_OFF + 8 * idx) as i32 == key {
            return Some(idx);
        }
        link = r.get(REG_KNEXT_OFF + 8 * idx);
        n += 1;
    }
    None
}

fn unlink_key(r: &mut RegGuard, idx: u64, key: i32) {
    let mut link = key_bucket(key);
    while r.get(link) != 0 {
        let cur = r.get(link) - 1;
        if cur == idx {
            let next = r.get(REG_KNEXT_OFF + 8 * idx);
            r.put(link, next);
            return;
        }
        if cur >= IPCMNI as u64 {
            crate::shm::arena::corrupt(link);
        }
        link = REG_KNEXT_OFF + 8 * cur;
    }
}

/// Removes index `idx` from the id table and the key hash.
fn drop_entry(r: &mut RegGuard, idx: u64) {
    let key = r.get(REG_KEYS_OFF + 8 * idx) as i32;
    if key != IPC_PRIVATE {
        unlink_key(r, idx, key);
    }
    r.put(REG_IDS_OFF + 8 * idx, 0);
    r.put(REG_KEYS_OFF + 8 * idx, 0);
    r.put(REG_KNEXT_OFF + 8 * idx, 0);
    let in_use = r.get(R::IN_USE);
    r.put(R::IN_USE, in_use.saturating_sub(1));
    if r.max_idx() == idx as i64 {
        let mut i = idx as i64 - 1;
        while i >= 0 && r.id_word(i as u64) == 0 {
            i -= 1;
        }
        r.put(R::MAX_IDX, i as u64);
    }
}

/// msgget (`msgq_core::get`'s decision order).
pub fn msgget(ns: &Ns, key: i32, msgflg: i32, who: &Creds) -> Result<i32, Errno> {
    let mut r = ns.lock()?;
    let found = if key != IPC_PRIVATE {
        find_key(&r, key)
    } else {
        None
    };
    match get::msgget(key, msgflg, found.is_some())? {
        Get::Open => {
            let Some(idx) = found else {
                return Err(Errno::EINVAL);
            };
            let id = r.id_word(idx) as u32 as i32;
            let sh = ns.shard_of(id)?;
            let g = sh.lock()?;
            let q = lookup(&g, id)?;
            get::open(&perm_of(&g, q), who, msgflg)?;
            Ok(id)
        }
        Get::Create => create(ns, &mut r, key, msgflg, who),
    }
}

fn create(ns: &Ns, r: &mut RegGuard, key: i32, msgflg: i32, who: &Creds) -> Result<i32, Errno> {
    let in_use = r.get(R::IN_USE);
    get::may_create(in_use, r.get(R::MSGMNI))?;
    let mut st = IdState {
        seq: r.get(R::SEQ) as u32,
        last_idx: r.get(R::LAST_IDX) as i64,
        cursor: r.get(R::CURSOR) as u32,
        next_id: r.get(R::NEXT_ID) as i64,
    };
    let Some((idx, seq)) = st.alloc(in_use as u32, |i| r.id_word(i as u64) != 0) else {
        // Linux consumes msg_next_id even when no index is free from it (ipc_idr_alloc
        // resets it first): keep only that.
        r.put(R::NEXT_ID, st.next_id as u64);
        r.commit();
        return Err(Errno::ENOSPC);
    };
    let idx64 = idx as u64;
    if ns.shard(idx64).is_none() {
        // First use of this index: make its shard, and record that in a commit of its own,
        // before anyone can look it up (lookups read the flag without this lock).
        let sh = ns.shard_at(idx64);
        // SAFETY: the shard's flag is 0, so nobody uses (or can lock) its memory; we hold
        // the registry lock, so nobody else initialises it.
        unsafe { crate::store::init_shard(sh.arena, idx64, 0, 0) }.map_err(|_| Errno::ENOMEM)?;
        r.put(REG_SHARDS_OFF + 8 * idx64, 1);
        r.commit();
    }
    r.put(R::SEQ, st.seq as u64);
    r.put(R::LAST_IDX, st.last_idx as u64);
    r.put(R::CURSOR, st.cursor as u64);
    r.put(R::NEXT_ID, st.next_id as u64);
    let id = ids::make_id(seq, idx);
    r.put(REG_IDS_OFF + 8 * idx64, USED | id as u32 as u64);
    r.put(REG_KEYS_OFF + 8 * idx64, key as u32 as u64);
    if key != IPC_PRIVATE {
        let b = key_bucket(key);
        let first = r.get(b);
        r.put(REG_KNEXT_OFF + 8 * idx64, first);
        r.put(b, idx64 + 1);
    }
    r.put(R::IN_USE, in_use + 1);
    if idx as i64 > r.max_idx() {
        r.put(R::MAX_IDX, idx64);
    }
    // Phase 1 done: the registry names the queue, with the intent.
    r.put(R::INTENT, idx64 + 1);
    r.commit();
    // Phase 2: the shard makes it live.
    let nq = super::ops::NewQueue {
        perm: get::new_perm(key, msgflg, who.euid, who.egid),
        seq,
        id,
        qbytes: r.get(R::MSGMNB),
        ctime: crate::sys::process::now_secs(),
    };
    let made = ns
        .shard_at(idx64)
        .lock()
        .and_then(|mut g| super::ops::create_in_shard(&mut g, &nq));
    if made.is_err() {
        drop_entry(r, idx64);
    }
    // Phase 3.
    r.put(R::INTENT, 0);
    r.commit();
    made.map(|()| id)
}

/// IPC_RMID.
pub fn rmid(ns: &Ns, id: i32, who: &Creds) -> Result<(), Errno> {
    let mut r = ns.lock()?;
    let sh = ns.shard_of(id)?;
    let mut g = sh.lock()?;
    let q = lookup(&g, id)?;
    perm::may_control(&perm_of(&g, q), who)?;
    let idx = ids::idx_of(id) as u64;
    r.put(R::INTENT, idx + 1);
    r.commit();
    // The shard first.
    mark_removed(&mut g, q);
    drop_entry(&mut r, idx);
    r.put(R::INTENT, 0);
    r.commit();
    drop(r);
    recovery::reclaim_dying(&mut g);
    Ok(())
}

/// Queue `q` is no longer its shard's live queue: it goes on the dying list (committed),
/// whose removal gives its waiters EIDRM and frees its messages and records in steps (the
/// dying list survives a crash midway).
fn mark_removed(g: &mut Guard, q: Queue) {
    g.put(H::LIVE, 0);
    let dying = g.get(H::DYING);
    g.put(q.at(Q::DNEXT), dying);
    g.put(H::DYING, q.off());
    g.commit();
}

/// Removes queue `q` from its shard, all of it (an anchored queue's `IPC_RMID`, after the
/// kernel removed its anchor).
#[cfg_attr(loom, allow(dead_code))] // used by `anchored` only, which loom leaves out
pub fn remove_in_shard(g: &mut Guard, q: Queue) {
    mark_removed(g, q);
    recovery::reclaim_dying(g);
}

/// Visits the live queue of every used index, in index order, each under its shard's lock.
fn each_live(
    ns: &Ns,
    r: &RegGuard,
    mut f: impl FnMut(&Guard, Queue) -> Result<(), Errno>,
) -> Result<(), Errno> {
    for i in 0..=r.max_idx() {
        if r.id_word(i as u64) & USED == 0 {
            continue;
        }
        let Some(sh) = ns.shard(i as u64) else {
            continue;
        };
        let g = sh.lock()?;
        if let Some(q) = live_queue(&g) {
            f(&g, q)?;
        }
    }
    Ok(())
}

/// IPC_INFO and MSG_INFO: the struct and the highest index in use.
pub fn info(ns: &Ns, cmd: Cmd) -> Result<(i32, MsgInfo), Errno> {
    let r = ns.lock()?;
    // The words are u64; the limits in force never exceed INT_MAX (msginfo clamps).
    let word = |w: u64| r.get(w).min(u32::MAX as u64) as u32;
    let limits = Limits {
        msgmax: word(R::MSGMAX),
        msgmnb: word(R::MSGMNB),
        msgmni: word(R::MSGMNI),
    };
    let usage = if cmd == Cmd::MsgInfo {
        let (mut hdrs, mut bytes) = (0u64, 0u64);
        each_live(ns, &r, |g, q| {
            hdrs += g.get(q.at(Q::QNUM));
            bytes += g.get(q.at(Q::CBYTES));
            Ok(())
        })?;
        Some(Usage {
            queues: r.get(R::IN_USE),
            msgs: hdrs,
            bytes,
        })
    } else {
        None
    };
    let mi = msgq_core::ctl::msginfo(&limits, usage);
    Ok((r.max_idx().max(0) as i32, mi))
}

fn sysctl_word(which: Sysctl) -> Option<u64> {
    match which {
        Sysctl::Msgmax => Some(R::MSGMAX),
        Sysctl::Msgmnb => Some(R::MSGMNB),
        Sysctl::Msgmni => Some(R::MSGMNI),
        Sysctl::MsgNextId => Some(R::NEXT_ID),
        Sysctl::AutoMsgmni => None,
    }
}

/// Reads a sysctl.
pub fn sysctl(ns: &Ns, which: Sysctl) -> Result<i64, Errno> {
    let r = ns.lock()?;
    Ok(sysctl_word(which).map_or(0, |w| {
        let v = r.get(w);
        if which == Sysctl::MsgNextId {
            v as i64
        } else {
            v as u32 as i64
        }
    }))
}

/// Writes a sysctl (the kernel's range checks apply).
pub fn set_sysctl(ns: &Ns, which: Sysctl, value: i64) -> Result<(), Errno> {
    let v = which.validate(value)?;
    let mut r = ns.lock()?;
    if let Some(w) = sysctl_word(which) {
        r.put(w, v as u64);
    }
    r.commit();
    Ok(())
}

/// The `/proc/sysvipc/msg` text: every queue, in index order.
pub fn proc_text(ns: &Ns) -> Result<String, Errno> {
    let r = ns.lock()?;
    let mut s = String::from(procfmt::HEADER);
    each_live(ns, &r, |g, q| {
        let row = procfmt::Row::of(g.get(q.at(Q::ID)) as i32, &super::ctl::fill(g, q));
        let _ = row.write_to(&mut s);
        Ok(())
    })?;
    Ok(s)
}
