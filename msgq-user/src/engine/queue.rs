//! A queue's messages.
//!
//! The namespace totals of `MSG_INFO` are not kept as counters (that would be two more
//! logged writes per message): `ctl::info` sums the queues' `qnum` and `cbytes`.
//!
//! Each message is on two lists: the queue's global FIFO (`Q::MHEAD`) and the FIFO of its
//! type (`T::MHEAD` of the type record). Type records that hold messages are also kept on a
//! list sorted by type (`Q::THEAD`). So:
//! * `msgtyp == 0`: the global head; `msgtyp > 0`: the head of that type's FIFO (hash
//!   lookup); `msgtyp < 0`: the head of the smallest type, if it is within the bound.
//!   None of these looks at messages of other types.
//! * `MSG_EXCEPT`: the global head, unless it has the excluded type, else the oldest head
//!   among the other types: cost grows with the number of distinct types, not messages.
//! * `MSG_COPY` walks the global list to the position asked for, as Linux does.
//!
//! Type records also carry the receivers blocked for exactly that type (see `waiters`).
//! A record with neither messages, receivers nor pins (messages of its type handed to
//! receivers, not yet taken) is freed, except the queue's one spare
//! (`Q::SPARE`), which stays in the type hash for the next message of its type.

use super::guard::Guard;
use super::lists::List;
use super::records::{off_of, Msg, Queue, TypeRec};
use super::Source;
use crate::shm::alloc;
use crate::shm::layout::{H, M, Q, T, TYPE_SHIFT_MAX, TYPE_SHIFT_MIN};
use msgq_core::select::Mode;
use msgq_core::Errno;

pub fn global(q: Queue) -> List {
    List {
        head: q.at(Q::MHEAD),
        tail: q.at(Q::MTAIL),
        next: M::NEXT,
        prev: M::PREV,
    }
}

pub fn by_type(tr: TypeRec) -> List {
    List {
        head: tr.at(T::MHEAD),
        tail: tr.at(T::MTAIL),
        next: M::TNEXT,
        prev: M::TPREV,
    }
}

/// log2 of the number of buckets of queue `q`'s type hash (`Q::TSHIFT`, clamped so that a
/// damaged store cannot make a shift overflow).
pub fn type_shift(g: &Guard, q: Queue) -> u64 {
    g.get(q.at(Q::TSHIFT)).clamp(TYPE_SHIFT_MIN, TYPE_SHIFT_MAX)
}

/// The queue's list of non-empty types, sorted by type.
pub fn sorted(q: Queue) -> List {
    List {
        head: q.at(Q::THEAD),
        tail: q.at(Q::TTAIL),
        next: T::SNEXT,
        prev: T::SPREV,
    }
}

/// The bucket of a type hash of `2^shift` buckets that type `t` belongs to.
pub fn bucket_index(t: i64, shift: u64) -> u64 {
    (t as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - shift)
}

fn bucket(g: &Guard, q: Queue, t: i64) -> u64 {
    g.get(q.at(Q::TBUCKETS)) + 8 * bucket_index(t, type_shift(g, q))
}

/// Visits queue `q`'s type hash buckets (their word offsets).
pub fn buckets(g: &Guard, q: Queue) -> impl Iterator<Item = u64> {
    let base = g.get(q.at(Q::TBUCKETS));
    (0..1u64 << type_shift(g, q)).map(move |b| base + 8 * b)
}

/// The type records of one bucket word's chain.
pub fn chain<'g>(g: &'g Guard<'_>, bucket: u64) -> impl Iterator<Item = TypeRec> + 'g {
    let mut tr = TypeRec::at_off(g.get(bucket));
    std::iter::from_fn(move || {
        let cur = tr?;
        tr = cur.link(g, T::BNEXT);
        Some(cur)
    })
}

/// The type record for `t`.
pub fn type_rec(g: &Guard, q: Queue, t: i64) -> Option<TypeRec> {
    chain(g, bucket(g, q, t)).find(|tr| g.get(tr.at(T::TYPE)) as i64 == t)
}

/// The type record for `t`, created if missing; `None` when the store is full.
pub fn type_rec_or_new(g: &mut Guard, q: Queue, t: i64) -> Option<TypeRec> {
    if let Some(tr) = type_rec(g, q, t) {
        return Some(tr);
    }
    let fresh = alloc::alloc(&mut g.tx, T::SIZE)?;
    fresh.zero(T::TYPE, T::SIZE);
    fresh.init(T::TYPE, t as u64);
    let b = bucket(g, q, t);
    fresh.init(T::BNEXT, g.get(b));
    let tr = TypeRec::new(fresh.off());
    g.put(b, tr.off());
    let n = g.get(q.at(Q::TYPES)) + 1;
    g.put(q.at(Q::TYPES), n);
    let shift = type_shift(g, q);
    if n > 2 << shift && shift < TYPE_SHIFT_MAX {
        grow(g, q, shift, (shift + 2).min(TYPE_SHIFT_MAX));
    }
    Some(tr)
}

/// Rehashes queue `q`'s type records into a table of `2^to` buckets (4 times larger), so
/// that lookups stay short however many distinct types the queue holds. The new table is a
/// fresh block (filled unlogged); each record's `BNEXT` is a logged write, so a crash midway
/// rolls back to the old table. Skipped (tried again on a later insertion) when the store is
/// full or the undo log has no room for one write per record.
fn grow(g: &mut Guard, q: Queue, from: u64, to: u64) {
    let records = g.get(q.at(Q::TYPES));
    if g.tx.room() < records + 64 {
        return;
    }
    let nb = 1u64 << to;
    let Some(table) = alloc::alloc(&mut g.tx, 8 * (nb + 1)) else {
        return;
    };
    let new = table.off() + 8;
    table.zero(8, 8 * (nb + 1));
    let old = g.get(q.at(Q::TBUCKETS));
    for b in 0..1u64 << from {
        let mut next = TypeRec::at_off(g.get(old + 8 * b));
        while let Some(tr) = next {
            next = tr.link(g, T::BNEXT);
            let nbk = 8 + 8 * bucket_index(g.get(tr.at(T::TYPE)) as i64, to);
            g.put(tr.at(T::BNEXT), g.get(table.off() + nbk));
            table.init(nbk, tr.off());
        }
    }
    g.put(q.at(Q::TBUCKETS), new);
    g.put(q.at(Q::TSHIFT), to);
    alloc::free(&mut g.tx, old - 8);
}

/// Called when type record `tr` may have become unused (no messages, no receivers, no
/// pins). The queue keeps one such record as its spare (`Q::SPARE`, still in the type
/// hash), so a queue that keeps emptying and refilling the same type does not allocate and
/// free a record per message; the previous spare, if it is still unused, is freed.
pub fn type_rec_release(g: &mut Guard, q: Queue, tr: TypeRec) {
    if !unused(g, tr) {
        return;
    }
    let spare = q.link::<TypeRec>(g, Q::SPARE);
    if spare == Some(tr) {
        return;
    }
    g.put(q.at(Q::SPARE), tr.off());
    if let Some(spare) = spare.filter(|&s| unused(g, s)) {
        free_type_rec(g, q, spare);
    }
}

fn unused(g: &Guard, tr: TypeRec) -> bool {
    g.get(tr.at(T::COUNT)) == 0 && g.get(tr.at(T::RHEAD)) == 0 && g.get(tr.at(T::PINS)) == 0
}

/// Takes `tr` out of the type hash and frees it.
fn free_type_rec(g: &mut Guard, q: Queue, tr: TypeRec) {
    let t = g.get(tr.at(T::TYPE)) as i64;
    let mut link = bucket(g, q, t);
    while g.get(link) != tr.off() {
        match TypeRec::at_off(g.get(link)) {
            None => return,
            Some(cur) => link = cur.at(T::BNEXT),
        }
    }
    let next = g.get(tr.at(T::BNEXT));
    g.put(link, next);
    let n = g.get(q.at(Q::TYPES));
    g.put(q.at(Q::TYPES), n.saturating_sub(1));
    alloc::free(&mut g.tx, tr.off());
}

/// Appends message `m` (already filled in, its `M::TREC` naming `tr`, the record of its
/// type) to queue `q`, updating the counters.
pub fn enqueue(g: &mut Guard, q: Queue, m: Msg, tr: TypeRec) {
    enqueue_at(g, q, m, tr, false)
}

/// Puts message `m` in front of every message of queue `q` (an urgent send): first in the
/// queue's FIFO and in its type's. Its `M::ORDER` becomes one less than the head's, so
/// that `MSG_EXCEPT`'s oldest-head comparison also sees it first (orders compare signed:
/// urgent messages go below zero).
pub fn enqueue_front(g: &mut Guard, q: Queue, m: Msg, tr: TypeRec) {
    if let Some(head) = q.link::<Msg>(g, Q::MHEAD) {
        let o = g.get(head.at(M::ORDER)) as i64;
        g.put(m.at(M::ORDER), o.wrapping_sub(1) as u64);
    }
    enqueue_at(g, q, m, tr, true)
}

fn enqueue_at(g: &mut Guard, q: Queue, m: Msg, tr: TypeRec, front: bool) {
    let size = g.get(m.at(M::LEN));
    if front {
        let first = global(q).first(&g.tx);
        global(q).insert_before(&mut g.tx, m.off(), first);
        let tfirst = by_type(tr).first(&g.tx);
        by_type(tr).insert_before(&mut g.tx, m.off(), tfirst);
    } else {
        global(q).push_back(&mut g.tx, m.off());
        by_type(tr).push_back(&mut g.tx, m.off());
    }
    let count = g.get(tr.at(T::COUNT));
    g.put(tr.at(T::COUNT), count + 1);
    if count == 0 {
        // Insert into the sorted list of non-empty types: O(1) for a type above or below
        // all others (types that only grow or only shrink), else a walk over distinct types.
        let t = g.get(tr.at(T::TYPE)) as i64;
        let mut before = None;
        let above = |g: &Guard, r: TypeRec| g.get(r.at(T::TYPE)) as i64 > t;
        if q.link::<TypeRec>(g, Q::TTAIL)
            .is_some_and(|tail| above(g, tail))
        {
            before = q.link::<TypeRec>(g, Q::THEAD);
            while let Some(b) = before.filter(|&b| !above(g, b)) {
                before = b.link(g, T::SNEXT);
            }
        }
        sorted(q).insert_before(&mut g.tx, tr.off(), off_of(before));
    }
    g.tx.add(q.at(Q::QNUM), 1);
    g.tx.add(q.at(Q::CBYTES), size as i64);
}

/// Takes message `m` off queue `q`, updating the counters. The block is not freed.
pub fn unlink(g: &mut Guard, q: Queue, m: Msg) {
    let size = g.get(m.at(M::LEN));
    let Some(tr) = m.link::<TypeRec>(g, M::TREC) else {
        crate::shm::arena::corrupt(m.at(M::TREC));
    };
    global(q).unlink(&mut g.tx, m.off());
    by_type(tr).unlink(&mut g.tx, m.off());
    let count = g.get(tr.at(T::COUNT)) - 1;
    g.put(tr.at(T::COUNT), count);
    if count == 0 {
        sorted(q).unlink(&mut g.tx, tr.off());
        // The record's own links are left as they were: inserting it rewrites both.
        type_rec_release(g, q, tr);
    }
    g.tx.add(q.at(Q::QNUM), -1);
    g.tx.add(q.at(Q::CBYTES), -(size as i64));
}

/// The message `mode` selects.
pub fn find(g: &Guard, q: Queue, mode: Mode) -> Option<Msg> {
    let head_of = |tr: TypeRec| tr.link::<Msg>(g, T::MHEAD);
    match mode {
        Mode::Any => q.link(g, Q::MHEAD),
        Mode::Equal(t) => type_rec(g, q, t).and_then(head_of),
        Mode::LessEqual(b) => q
            .link::<TypeRec>(g, Q::THEAD)
            .filter(|tr| g.get(tr.at(T::TYPE)) as i64 <= b)
            .and_then(head_of),
        Mode::NotEqual(x) => {
            let head = q.link::<Msg>(g, Q::MHEAD)?;
            if g.get(head.at(M::TYPE)) as i64 != x {
                return Some(head);
            }
            let mut best: Option<(i64, Msg)> = None;
            let mut next = q.link::<TypeRec>(g, Q::THEAD);
            while let Some(tr) = next {
                next = tr.link(g, T::SNEXT);
                if g.get(tr.at(T::TYPE)) as i64 == x {
                    continue;
                }
                if let Some(m) = head_of(tr) {
                    let o = g.get(m.at(M::ORDER)) as i64;
                    if best.is_none_or(|(bo, _)| o < bo) {
                        best = Some((o, m));
                    }
                }
            }
            best.map(|(_, m)| m)
        }
        Mode::Number(n) => {
            if n < 0 || n as u64 >= g.get(q.at(Q::QNUM)) {
                return None;
            }
            let mut m = q.link::<Msg>(g, Q::MHEAD);
            for _ in 0..n {
                m = m?.link(g, M::NEXT);
            }
            m
        }
    }
}

/// Allocates a message block holding `text`: `ENOMEM` when the store is full, `EFAULT`
/// when the source cannot be read. Its `M::TREC` is set once the message is queued.
pub fn new_message(
    g: &mut Guard,
    mtype: i64,
    text: &(impl Source + ?Sized),
) -> Result<alloc::Fresh, Errno> {
    let mut fresh = alloc::alloc(&mut g.tx, M::SIZE + text.len() as u64).ok_or(Errno::ENOMEM)?;
    let order = g.get(H::ORDER);
    g.put(H::ORDER, order + 1);
    fresh.zero(M::NEXT, M::SIZE);
    fresh.init(M::TYPE, mtype as u64);
    fresh.init(M::LEN, text.len() as u64);
    fresh.init(M::ORDER, order);
    text.copy_to(fresh.bytes_mut(M::SIZE, text.len() as u64))?;
    Ok(fresh)
}

/// A new block holding a copy of message `m` (its type, length, order and text; on no
/// list). `None` when the store is full.
pub fn copy_message(g: &mut Guard, m: Msg) -> Option<Msg> {
    let len = g.get(m.at(M::LEN));
    let mut fresh = alloc::alloc(&mut g.tx, M::SIZE + len)?;
    fresh.zero(M::NEXT, M::SIZE);
    for f in [M::TYPE, M::LEN, M::ORDER] {
        fresh.init(f, g.get(m.at(f)));
    }
    let text = g.bytes(m.at(M::SIZE), len);
    fresh.bytes_mut(M::SIZE, len).copy_from_slice(text);
    Some(Msg::new(fresh.off()))
}

/// The text of message `m`.
pub fn text<'g>(g: &'g Guard, m: Msg) -> &'g [u8] {
    let size = g.get(m.at(M::LEN));
    g.bytes(m.at(M::SIZE), size)
}
