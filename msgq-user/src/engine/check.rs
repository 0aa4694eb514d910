//! The store's integrity check: walks every structure and verifies that links, counters
//! and totals agree: the registry (limits, id table, key hash), then each shard under its
//! own lock (heap, queue, waiters, pending list), and that the two agree. Used by
//! `msgq check`, the crash tests and the fuzzers.

use super::guard::Shared;
use super::registry::Ns;
use crate::shm::layout::{
    free_head, kind, list, state, CLASSES, H, HEAP_OFF, KEY_BUCKETS, M, MIN_CLASS, Q, R,
    REG_BUCKETS_OFF, REG_IDS_OFF, REG_KEYS_OFF, REG_KNEXT_OFF, REG_SHARDS_OFF, SHARD_MAGIC, T,
    TYPE_SHIFT_MAX, TYPE_SHIFT_MIN, USED, W,
};
use crate::sys::liveness::{self, Probe};
use msgq_core::ids::IPCMNI;
use msgq_core::Errno;
use std::collections::{HashMap, HashSet};

/// What a successful check counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Queues in the store.
    pub queues: u64,
    /// Messages in all the queues.
    pub messages: u64,
    /// Bytes of message text in all the queues.
    pub bytes: u64,
    /// Blocked callers (receivers, peekers, senders, watchers).
    pub waiters: u64,
    /// Waiters handed a message or an error that they have not picked up yet.
    pub pending: u64,
    /// Type records in the queues' type hashes (types with messages or typed receivers,
    /// plus at most one spare per queue).
    pub type_records: u64,
    /// Crash recoveries: times a lock was taken over from a process that died holding it.
    pub recoveries: u64,
    /// Waiter records (blocked, or pending) whose thread is gone: not an error, the next
    /// operation that meets them or a waiter's sweep frees them, but many of them slow the
    /// queue down.
    pub dead_waiters: u64,
    /// Heap blocks in use.
    pub blocks_used: u64,
    /// Heap blocks free.
    pub blocks_free: u64,
}

/// Why the check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Lock(Errno),
    Bad(String),
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err(Problem::Bad(format!($($fmt)*)));
        }
    };
}

/// The heap's blocks, and what refers to each one: every block must be free (on its free
/// list) or referenced by exactly one live structure, never both, never neither (a block
/// that nothing refers to is a lost record or message).
struct Blocks {
    /// Block offset -> class, by walking the heap from its start to its top.
    class: HashMap<u64, u64>,
    free: HashSet<u64>,
    used: HashMap<u64, &'static str>,
}

impl Blocks {
    /// Records that `what` refers to block `b`.
    fn claim(&mut self, b: u64, what: &'static str) -> Result<(), Problem> {
        ensure!(
            self.class.contains_key(&b),
            "{what} {b:#x} is not the start of a heap block"
        );
        ensure!(
            !self.free.contains(&b),
            "{what} {b:#x} is also on a free list"
        );
        if let Some(other) = self.used.insert(b, what) {
            return Err(Problem::Bad(format!(
                "block {b:#x} is both a {other} and a {what}"
            )));
        }
        Ok(())
    }
}

/// Whether waiter `w`'s thread is gone, without changing anything (the owner-died bit
/// of its liveness mutex).
fn dead(a: crate::shm::Arena, w: u64) -> bool {
    let m = a.byte_ptr(w + W::LIVE0, liveness::SIZE).cast();
    // SAFETY: `w` is a waiter record on one of the store's lists (its bounds were checked),
    // so its mutex was initialised by `register`; peeking only reads it.
    let probe = unsafe { liveness::peek(m) };
    probe == Probe::Gone
}

impl Report {
    /// Adds another journal's counts.
    pub fn add(&mut self, o: &Report) {
        self.queues += o.queues;
        self.messages += o.messages;
        self.bytes += o.bytes;
        self.waiters += o.waiters;
        self.pending += o.pending;
        self.type_records += o.type_records;
        self.recoveries += o.recoveries;
        self.dead_waiters += o.dead_waiters;
        self.blocks_used += o.blocks_used;
        self.blocks_free += o.blocks_free;
    }
}

/// Checks the whole store: the registry under its lock (repairing a dead owner's update
/// first), then every shard under its own (the same).
pub fn check(ns: &Ns) -> Result<Report, Problem> {
    let g = ns.lock().map_err(Problem::Lock)?;
    ensure!(
        g.get(R::LOG_LEN) == 0,
        "registry: undo log not empty after recovery"
    );
    ensure!(
        g.get(R::INTENT) == 0,
        "registry: intent left after recovery"
    );
    // The namespace words: limits and id allocation state within the kernel's ranges.
    let int_max = i32::MAX as u64;
    ensure!(
        g.get(R::MSGMAX) <= int_max && g.get(R::MSGMNB) <= int_max,
        "limits msgmax/msgmnb out of range"
    );
    ensure!(
        g.get(R::MSGMNI) <= IPCMNI as u64,
        "limit msgmni out of range"
    );
    let next_id = g.get(R::NEXT_ID) as i64;
    ensure!(
        next_id == -1 || (0..=i32::MAX as i64).contains(&next_id),
        "msg_next_id {next_id} out of range"
    );
    ensure!(
        g.get(R::SEQ) < msgq_core::ids::SEQ_MAX as u64
            && g.get(R::CURSOR) <= IPCMNI as u64
            && (-1..IPCMNI as i64).contains(&(g.get(R::LAST_IDX) as i64)),
        "id allocation state out of range"
    );
    // The id table, and the key hash: exactly the used indices that have a key, each in
    // its bucket.
    let (mut used, mut max_idx, mut keyed) = (0u64, -1i64, HashSet::new());
    for idx in 0..IPCMNI as u64 {
        let w = g.get(REG_IDS_OFF + 8 * idx);
        if w == 0 {
            continue;
        }
        let id = w as u32 as u64;
        ensure!(
            w & !(USED | 0xffff_ffff) == 0 && w & USED != 0 && id & 0x7fff == idx,
            "registry: index {idx} holds a bad id word {w:#x}"
        );
        ensure!(
            g.get(REG_SHARDS_OFF + 8 * idx) != 0,
            "registry: index {idx} is used but its shard was never made"
        );
        used += 1;
        max_idx = idx as i64;
        if g.get(REG_KEYS_OFF + 8 * idx) as i32 != 0 {
            keyed.insert(idx);
        }
    }
    let mut hashed = 0usize;
    for b in 0..KEY_BUCKETS {
        let mut link = g.get(REG_BUCKETS_OFF + 8 * b);
        while link != 0 {
            let idx = link - 1;
            ensure!(
                keyed.contains(&idx),
                "key hash: index {idx} is not a used index with a key"
            );
            hashed += 1;
            ensure!(hashed <= keyed.len(), "key hash: a chain loops");
            link = g.get(REG_KNEXT_OFF + 8 * idx);
        }
    }
    ensure!(
        hashed == keyed.len(),
        "key hash holds {hashed} queues, {} have keys",
        keyed.len()
    );
    let in_use = g.get(R::IN_USE);
    ensure!(in_use == used, "in_use {in_use} but {used} queues");
    let mi = g.max_idx();
    ensure!(mi == max_idx, "max_idx {mi} but highest index {max_idx}");
    let mut r = Report {
        recoveries: g.get(R::RECOVERIES),
        ..Default::default()
    };
    for (idx, sh) in ns.shards() {
        let id_word = g.get(REG_IDS_OFF + 8 * idx);
        let key = g.get(REG_KEYS_OFF + 8 * idx);
        let one = check_shard(&sh, idx, id_word, key).map_err(|p| match p {
            Problem::Bad(why) => Problem::Bad(format!("shard {idx}: {why}")),
            other => other,
        })?;
        r.add(&one);
    }
    Ok(r)
}

/// Checks shard `idx` under its lock; `id_word` and `key` are the registry's words for the
/// index.
pub fn check_shard(sh: &Shared, idx: u64, id_word: u64, key: u64) -> Result<Report, Problem> {
    let g = sh.lock().map_err(Problem::Lock)?;
    let a = g.arena();
    let len = a.len();
    let top = g.get(H::HEAP_TOP);
    let block_ok = |b: u64, min: u64| {
        b >= HEAP_OFF && b.is_multiple_of(64) && b.checked_add(min).is_some_and(|e| e <= top)
    };
    // A live record: a heap block whose class word fits what it holds.
    let rec_ok = |b: u64, bytes: u64| {
        block_ok(b, bytes) && crate::shm::alloc::class_for(bytes).map(u64::from) == Some(g.get(b))
    };
    ensure!(
        g.get(H::MAGIC_W) == SHARD_MAGIC && g.get(H::IDX) == idx && g.get(H::TOTAL_LEN) == len,
        "bad header (magic, index or size)"
    );
    ensure!(g.get(H::LOG_LEN) == 0, "undo log not empty after recovery");
    ensure!(
        (HEAP_OFF..=len).contains(&top),
        "heap top {top:#x} outside the shard"
    );
    let mut r = Report {
        recoveries: g.get(H::RECOVERIES),
        ..Default::default()
    };
    // The heap, block by block (each starts with its class word), then the free lists.
    let mut heap = Blocks {
        class: HashMap::new(),
        free: HashSet::new(),
        used: HashMap::new(),
    };
    let mut b = HEAP_OFF;
    while b < top {
        let k = g.get(b);
        ensure!(
            (MIN_CLASS as u64..CLASSES as u64).contains(&k) && b + (1 << k) <= top,
            "heap block {b:#x} has a bad class word {k}"
        );
        heap.class.insert(b, k);
        b += 1 << k;
    }
    for k in MIN_CLASS..CLASSES as u32 {
        let (mut b, mut c) = (g.get(free_head(k)), 0u64);
        while b != 0 {
            ensure!(
                heap.class.get(&b) == Some(&(k as u64)),
                "free list {k}: bad block {b:#x}"
            );
            ensure!(heap.free.insert(b), "free list {k}: block {b:#x} twice");
            c += 1;
            ensure!(c <= top / 64, "free list {k} loops");
            b = g.get(b + 8);
        }
    }
    // The live queue agrees with the registry.
    let live = g.get(H::LIVE);
    ensure!(
        (live != 0) == (id_word & USED != 0),
        "the registry says the index is {}, the shard {}",
        if id_word & USED != 0 { "used" } else { "free" },
        if live != 0 {
            "has a live queue"
        } else {
            "has none"
        }
    );
    ensure!(
        live == 0 || (g.get(live + Q::ID) == id_word as u32 as u64 && g.get(live + Q::KEY) == key),
        "the live queue's id or key differs from the registry's"
    );
    // Type records with pins (messages of their type handed over, not yet taken): record ->
    // (its queue, pins not yet matched by a pending waiter).
    let mut pins: HashMap<u64, (u64, u64)> = HashMap::new();
    if live != 0 {
        let q = live;
        ensure!(
            rec_ok(q, Q::SIZE),
            "queue {idx}: record {q:#x} outside the heap"
        );
        heap.claim(q, "queue record")?;
        let id = g.get(q + Q::ID);
        ensure!(
            id & 0x7fff == idx,
            "queue {idx}: id {id} does not match its index"
        );
        ensure!(
            g.get(q + Q::SEQ) == id >> 15,
            "queue {idx}: seq does not match id"
        );
        r.queues += 1;
        // Global FIFO.
        let (mut n, mut bytes, mut prev, mut m) = (0u64, 0u64, 0u64, g.get(q + Q::MHEAD));
        while m != 0 {
            ensure!(
                block_ok(m, M::SIZE),
                "queue {id}: message {m:#x} outside the heap"
            );
            ensure!(
                g.get(m + M::PREV) == prev,
                "queue {id}: broken back link at message {m:#x}"
            );
            ensure!(
                (g.get(m + M::TYPE) as i64) >= 1,
                "queue {id}: message with type < 1"
            );
            let tr = g.get(m + M::TREC);
            ensure!(
                rec_ok(m, M::SIZE.saturating_add(g.get(m + M::LEN))),
                "queue {id}: message {m:#x} text runs past the heap"
            );
            ensure!(
                rec_ok(tr, T::SIZE) && g.get(tr + T::TYPE) == g.get(m + M::TYPE),
                "queue {id}: message {m:#x} has a wrong type record"
            );
            heap.claim(m, "message")?;
            n += 1;
            bytes += g.get(m + M::LEN);
            ensure!(n <= 1 << 40, "queue {id}: message list loops");
            prev = m;
            m = g.get(m + M::NEXT);
        }
        ensure!(
            g.get(q + Q::MTAIL) == prev,
            "queue {id}: tail does not end the list"
        );
        ensure!(
            g.get(q + Q::QNUM) == n,
            "queue {id}: qnum {} but {n} messages",
            g.get(q + Q::QNUM)
        );
        ensure!(
            g.get(q + Q::CBYTES) == bytes,
            "queue {id}: cbytes {} but {bytes} bytes",
            g.get(q + Q::CBYTES)
        );
        r.messages += n;
        r.bytes += bytes;
        // Sorted types: strictly increasing, counts match their lists.
        let mut sorted = std::collections::HashSet::new();
        let (mut tn, mut last, mut tr) = (0u64, i64::MIN, g.get(q + Q::THEAD));
        let mut prev = 0;
        while tr != 0 {
            ensure!(
                rec_ok(tr, T::SIZE) && sorted.insert(tr),
                "queue {id}: bad type record {tr:#x} on the sorted list"
            );
            ensure!(
                g.get(tr + T::SPREV) == prev,
                "queue {id}: sorted type list back link broken at {tr:#x}"
            );
            prev = tr;
            let t = g.get(tr + T::TYPE) as i64;
            ensure!(t > last, "queue {id}: type list not sorted at type {t}");
            last = t;
            let (mut c, mut m) = (0u64, g.get(tr + T::MHEAD));
            while m != 0 {
                ensure!(
                    g.get(m + M::TYPE) as i64 == t,
                    "queue {id}: type {t} list holds another type"
                );
                c += 1;
                ensure!(c <= n, "queue {id}: type {t} list longer than the queue");
                m = g.get(m + M::TNEXT);
            }
            ensure!(
                c == g.get(tr + T::COUNT) && c > 0,
                "queue {id}: type {t} count {} but {c} messages",
                g.get(tr + T::COUNT)
            );
            tn += c;
            tr = g.get(tr + T::SNEXT);
        }
        ensure!(
            g.get(q + Q::TTAIL) == prev,
            "queue {id}: sorted type list tail {:#x}, last record {prev:#x}",
            g.get(q + Q::TTAIL)
        );
        ensure!(
            tn == n,
            "queue {id}: type lists hold {tn} messages, the queue {n}"
        );
        // The type hash: every record is a heap block in the right bucket, each type once;
        // those with messages are exactly the sorted list, the others have receivers.
        let buckets = g.get(q + Q::TBUCKETS);
        let shift = g.get(q + Q::TSHIFT);
        ensure!(
            (TYPE_SHIFT_MIN..=TYPE_SHIFT_MAX).contains(&shift),
            "queue {id}: type hash size 2^{shift} out of range"
        );
        ensure!(
            buckets >= 8 && rec_ok(buckets - 8, 8 * ((1 << shift) + 1)),
            "queue {id}: type hash {buckets:#x} outside the heap"
        );
        heap.claim(buckets - 8, "type hash table")?;
        let mut lists = vec![
            (g.get(q + Q::RHEAD), list::GENERAL, 0),
            (g.get(q + Q::SHEAD), list::SENDERS, 0),
        ];
        let (mut hashed, mut types) = (0usize, std::collections::HashSet::new());
        let mut spare_seen = false;
        for b in 0..1u64 << shift {
            let mut tr = g.get(buckets + 8 * b);
            while tr != 0 {
                ensure!(
                    rec_ok(tr, T::SIZE),
                    "queue {id}: type hash entry {tr:#x} is not a record"
                );
                let t = g.get(tr + T::TYPE) as i64;
                ensure!(
                    super::queue::bucket_index(t, shift) == b && types.insert(t),
                    "queue {id}: type {t} misplaced or twice in the type hash"
                );
                heap.claim(tr, "type record")?;
                let has_msgs = g.get(tr + T::COUNT) != 0;
                let pinned = g.get(tr + T::PINS);
                if pinned != 0 {
                    pins.insert(tr, (q, pinned));
                }
                let kept = has_msgs
                    || g.get(tr + T::RHEAD) != 0
                    || pinned != 0
                    || tr == g.get(q + Q::SPARE);
                ensure!(
                    has_msgs == sorted.contains(&tr) && kept,
                    "queue {id}: type record {t} is neither listed, waited for, pinned, nor the spare"
                );
                spare_seen |= tr == g.get(q + Q::SPARE);
                hashed += usize::from(has_msgs);
                r.type_records += 1;
                lists.push((g.get(tr + T::RHEAD), list::TYPED, tr));
                tr = g.get(tr + T::BNEXT);
            }
        }
        ensure!(
            types.len() as u64 == g.get(q + Q::TYPES),
            "queue {id}: {} type records in the hash, counted {}",
            types.len(),
            g.get(q + Q::TYPES)
        );
        ensure!(
            spare_seen || g.get(q + Q::SPARE) == 0,
            "queue {id}: spare type record {:#x} is not in the type hash",
            g.get(q + Q::SPARE)
        );
        ensure!(
            hashed == sorted.len(),
            "queue {id}: the sorted type list holds records the hash does not"
        );
        let mut lookers = 0u64;
        for (mut w, which, holder) in lists {
            let mut c = 0u64;
            while w != 0 {
                let k = g.get(w + W::KIND);
                lookers +=
                    u64::from(which != list::SENDERS && (k == kind::PEEKER || k == kind::WATCHER));
                ensure!(
                    rec_ok(w, W::SIZE),
                    "queue {id}: waiter {w:#x} outside the heap"
                );
                ensure!(
                    g.get(w + W::LIST) == which && g.get(w + W::QUEUE) == q,
                    "queue {id}: waiter {w:#x} on the wrong list"
                );
                ensure!(
                    g.get(w + W::TREC) == holder && g.get(w + W::MSG) == 0,
                    "queue {id}: blocked waiter {w:#x} holds a wrong type record or a message"
                );
                heap.claim(w, "waiter")?;
                r.dead_waiters += u64::from(dead(a, w));
                c += 1;
                ensure!(c <= 1 << 32, "queue {id}: waiter list loops");
                w = g.get(w + W::NEXT);
            }
            r.waiters += c;
        }
        ensure!(
            lookers == g.get(q + Q::LOOKERS),
            "queue {id}: {lookers} peekers and watchers blocked, counted {}",
            g.get(q + Q::LOOKERS)
        );
    }
    // The pending list: waiters whose wait ended, not yet taken by their thread. A message
    // handed over is on no queue list: it is held here, by exactly one waiter, which pins
    // its type record while the queue lives.
    let (mut w, mut prev) = (g.get(H::PENDING_HEAD), 0);
    while w != 0 {
        ensure!(rec_ok(w, W::SIZE), "pending waiter {w:#x} outside the heap");
        ensure!(
            g.get(w + W::LIST) == list::PENDING && g.get(w + W::PREV) == prev,
            "pending waiter {w:#x}: wrong list or broken back link"
        );
        heap.claim(w, "pending waiter")?;
        r.dead_waiters += u64::from(dead(a, w));
        let (st, m, tr) = (g.get(w + W::STATE), g.get(w + W::MSG), g.get(w + W::TREC));
        let q = g.get(w + W::QUEUE);
        let qid = g.get(w + W::QID);
        // A removed queue's pending waiters were detached from it (QUEUE and TREC 0).
        ensure!(
            q == 0 || (q == live && g.get(q + Q::ID) == qid),
            "pending waiter {w:#x} names a queue that is gone"
        );
        ensure!(
            q != 0 || tr == 0,
            "pending waiter {w:#x} pins a record of a removed queue"
        );
        let q_lives = q != 0;
        match st {
            state::DELIVERED => {
                ensure!(m != 0, "pending waiter {w:#x}: delivered, but no message");
                ensure!(
                    rec_ok(m, M::SIZE.saturating_add(g.get(m + M::LEN))),
                    "pending waiter {w:#x}: message {m:#x} outside the heap"
                );
                heap.claim(m, "handed-over message")?;
                let copy = g.get(w + W::COPY) == 1;
                ensure!(
                    !copy || tr == 0,
                    "pending waiter {w:#x}: a copy (peek, broadcast) with a pin"
                );
                if q_lives && !copy {
                    match pins.get_mut(&tr) {
                        Some((pq, n)) if *pq == q && *n > 0 => *n -= 1,
                        _ => {
                            return Err(Problem::Bad(format!(
                                "pending waiter {w:#x}: its message's type record {tr:#x} is not pinned for it"
                            )))
                        }
                    }
                    ensure!(
                        g.get(tr + T::TYPE) == g.get(m + M::TYPE),
                        "pending waiter {w:#x}: pinned record of another type"
                    );
                }
            }
            state::E2BIG | state::EIDRM | state::ECANCELED => ensure!(
                m == 0 && tr == 0,
                "pending waiter {w:#x}: state {st} with a message or a pin"
            ),
            _ => return Err(Problem::Bad(format!("pending waiter {w:#x}: state {st}"))),
        }
        r.pending += 1;
        ensure!(r.pending <= 1 << 32, "pending list loops");
        prev = w;
        w = g.get(w + W::NEXT);
    }
    ensure!(
        g.get(H::PENDING_TAIL) == prev,
        "pending list tail does not end the list"
    );
    if let Some((tr, (_, n))) = pins.iter().find(|(_, (_, n))| *n != 0) {
        return Err(Problem::Bad(format!(
            "type record {tr:#x} has {n} pins no pending waiter holds"
        )));
    }
    // Every block is free or in use, never both (checked by `claim`), never neither.
    let lost: Vec<_> = heap
        .class
        .keys()
        .filter(|b| !heap.free.contains(b) && !heap.used.contains_key(b))
        .collect();
    if let Some(&&first) = lost.iter().min() {
        return Err(Problem::Bad(format!(
            "{} heap blocks are neither free nor in use (lost records or messages), the first at {first:#x}",
            lost.len()
        )));
    }
    r.blocks_used = heap.used.len() as u64;
    r.blocks_free = heap.free.len() as u64;
    Ok(r)
}
