//! The store's integrity check: walks every structure and verifies that links, counters
//! and totals agree. Used by `msgq check`, the crash tests and the fuzzers.

use super::guard::Shared;
use crate::shm::layout::{
    free_head, list, state, CLASSES, H, HEAP_OFF, IDS_OFF, M, MIN_CLASS, Q, T, TYPE_SHIFT_MAX,
    TYPE_SHIFT_MIN, W,
};
use msgq_core::ids::IPCMNI;
use msgq_core::Errno;

/// What a successful check counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub queues: u64,
    pub messages: u64,
    pub bytes: u64,
    pub waiters: u64,
    pub pending: u64,
    /// Type records in the queues' type hashes (types with messages or typed receivers,
    /// plus at most one spare per queue).
    pub type_records: u64,
    pub recoveries: u64,
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

/// Checks the whole store under its lock (repairing a dead owner's update first).
pub fn check(sh: &Shared) -> Result<Report, Problem> {
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
    ensure!(g.get(H::LOG_LEN) == 0, "undo log not empty after recovery");
    ensure!(
        (HEAP_OFF..=len).contains(&top),
        "heap top {top:#x} outside the store"
    );
    let mut r = Report {
        recoveries: g.get(H::RECOVERIES),
        ..Default::default()
    };
    // The namespace words: limits and id allocation state within the kernel's ranges.
    let int_max = i32::MAX as u64;
    ensure!(
        g.get(H::MSGMAX) <= int_max && g.get(H::MSGMNB) <= int_max,
        "limits msgmax/msgmnb out of range"
    );
    ensure!(
        g.get(H::MSGMNI) <= IPCMNI as u64,
        "limit msgmni out of range"
    );
    let next_id = g.get(H::NEXT_ID) as i64;
    ensure!(
        next_id == -1 || (0..=i32::MAX as i64).contains(&next_id),
        "msg_next_id {next_id} out of range"
    );
    ensure!(
        g.get(H::SEQ) < msgq_core::ids::SEQ_MAX as u64
            && g.get(H::CURSOR) <= IPCMNI as u64
            && (-1..IPCMNI as i64).contains(&(g.get(H::LAST_IDX) as i64)),
        "id allocation state out of range"
    );
    let mut max_idx: i64 = -1;
    // Live queues with a key, found through the id table, to compare with the key hash.
    let mut keyed = std::collections::HashSet::new();
    for idx in 0..IPCMNI as u64 {
        let q = g.get(IDS_OFF + 8 * idx);
        if q == 0 {
            continue;
        }
        if g.get(q + Q::KEY) as i32 != 0 {
            keyed.insert(q);
        }
        ensure!(
            rec_ok(q, Q::SIZE),
            "queue {idx}: record {q:#x} outside the heap"
        );
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
        max_idx = idx as i64;
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
        let mut lists = vec![
            (g.get(q + Q::RHEAD), list::GENERAL),
            (g.get(q + Q::SHEAD), list::SENDERS),
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
                let has_msgs = g.get(tr + T::COUNT) != 0;
                let kept = has_msgs || g.get(tr + T::RHEAD) != 0 || tr == g.get(q + Q::SPARE);
                ensure!(
                    has_msgs == sorted.contains(&tr) && kept,
                    "queue {id}: type record {t} is neither listed, waited for, nor the spare"
                );
                spare_seen |= tr == g.get(q + Q::SPARE);
                hashed += usize::from(has_msgs);
                r.type_records += 1;
                lists.push((g.get(tr + T::RHEAD), list::TYPED));
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
        for (mut w, which) in lists {
            let mut c = 0u64;
            while w != 0 {
                ensure!(
                    rec_ok(w, W::SIZE),
                    "queue {id}: waiter {w:#x} outside the heap"
                );
                ensure!(
                    g.get(w + W::LIST) == which && g.get(w + W::QUEUE) == q,
                    "queue {id}: waiter {w:#x} on the wrong list"
                );
                c += 1;
                ensure!(c <= 1 << 32, "queue {id}: waiter list loops");
                w = g.get(w + W::NEXT);
            }
            r.waiters += c;
        }
    }
    // The key hash holds exactly the live queues that have a key, each in its bucket.
    let mut hashed = 0usize;
    for b in 0..crate::shm::layout::KEY_BUCKETS {
        let bucket = crate::shm::layout::KEYS_OFF + 8 * b;
        let mut q = g.get(bucket);
        while q != 0 {
            ensure!(
                keyed.contains(&q),
                "key hash: {q:#x} is not a live queue with a key"
            );
            let key = g.get(q + Q::KEY) as i32;
            ensure!(
                super::ops::key_bucket(key) == bucket,
                "key hash: key {key} in the wrong bucket"
            );
            hashed += 1;
            ensure!(hashed <= keyed.len(), "key hash: a chain loops");
            q = g.get(q + Q::KNEXT);
        }
    }
    ensure!(
        hashed == keyed.len(),
        "key hash holds {hashed} queues, {} have keys",
        keyed.len()
    );
    let in_use = g.get(H::IN_USE);
    ensure!(
        in_use == r.queues,
        "in_use {in_use} but {} queues",
        r.queues
    );
    let mi = g.get(H::MAX_IDX) as i64;
    ensure!(mi == max_idx, "max_idx {mi} but highest index {max_idx}");
    let mut w = g.get(H::PENDING_HEAD);
    while w != 0 {
        ensure!(rec_ok(w, W::SIZE), "pending waiter {w:#x} outside the heap");
        ensure!(
            g.get(w + W::STATE) == state::DELIVERED && g.get(w + W::MSG) != 0,
            "pending waiter {w:#x} without a message"
        );
        r.pending += 1;
        ensure!(r.pending <= 1 << 32, "pending list loops");
        w = g.get(w + W::NEXT);
    }
    for k in MIN_CLASS..CLASSES as u32 {
        let (mut b, mut c) = (g.get(free_head(k)), 0u64);
        while b != 0 {
            ensure!(
                block_ok(b, 16) && g.get(b) == k as u64,
                "free list {k}: bad block {b:#x}"
            );
            c += 1;
            ensure!(c <= top / 64, "free list {k} loops");
            b = g.get(b + 8);
        }
    }
    Ok(r)
}
