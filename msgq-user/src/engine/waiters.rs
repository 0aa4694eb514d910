//! Blocked receivers and senders.
//!
//! A waiter is a record in the store (not on a stack: the process may die). Receivers wait
//! on one of two lists: the type record's list when they want exactly one type, else the
//! queue's general list; senders wait on the queue's sender list. Every waiter has a futex
//! word; it sleeps on it after reading its value under the lock, and a waker changes the
//! waiter's `STATE` under the lock and bumps the word before unlocking (an eventcount), so
//! no wake-up is lost. A waiter reads its `STATE` only under the lock, and the waker's writes
//! are in the undo log, so a waker that dies mid-update is rolled back before anyone sees.
//!
//! A message handed to a receiver moves with the receiver's record onto the store's
//! pending list until the receiver claims it. If the receiver died first, [`sweep_dead`]
//! puts the message back in its queue.

use super::guard::Guard;
use super::lists::List;
use super::queue;
use crate::shm::alloc;
use crate::shm::layout::{kind, list, state, H, M, Q, T, W};
use crate::sys::liveness::{self, Probe};
use crate::sys::process;
use msgq_core::ids;
use msgq_core::limits::fits;
use msgq_core::select::Mode;

pub fn general(q: u64) -> List {
    List {
        head: q + Q::RHEAD,
        tail: q + Q::RTAIL,
        next: W::NEXT,
        prev: W::PREV,
    }
}

pub fn typed(tr: u64) -> List {
    List {
        head: tr + T::RHEAD,
        tail: tr + T::RTAIL,
        next: W::NEXT,
        prev: W::PREV,
    }
}

pub fn senders(q: u64) -> List {
    List {
        head: q + Q::SHEAD,
        tail: q + Q::STAIL,
        next: W::NEXT,
        prev: W::PREV,
    }
}

pub fn pending() -> List {
    List {
        head: H::PENDING_HEAD,
        tail: H::PENDING_TAIL,
        next: W::NEXT,
        prev: W::PREV,
    }
}

/// The mode a receiver record waits with.
pub fn mode_of(g: &Guard, w: u64) -> Mode {
    Mode::decode(g.get(w + W::MODEK) as u32, g.get(w + W::MODEV) as i64).unwrap_or(Mode::Number(0))
}

/// Registers the caller as a waiter on queue `q`: a receiver with `mode` and `maxsize`, or a
/// sender of `maxsize` bytes. `None` when the store is full.
pub fn register(g: &mut Guard, q: u64, k: u64, mode: Mode, maxsize: u64) -> Option<u64> {
    let tr = match (k, mode) {
        (kind::RECEIVER, Mode::Equal(t)) => queue::type_rec_or_new(g, q, t)?,
        _ => 0,
    };
    let fresh = alloc::alloc(&mut g.tx, W::SIZE)?;
    let w = fresh.off();
    let (mk, mv) = mode.encode();
    let order = g.get(H::ORDER);
    g.put(H::ORDER, order + 1);
    let fields = [
        (W::KIND, k),
        (W::QUEUE, q),
        (W::QID, g.get(q + Q::ID)),
        (W::MODEK, mk as u64),
        (W::MODEV, mv as u64),
        (W::MAXSIZE, maxsize),
        (W::STATE, state::WAITING),
        (W::MSG, 0),
        (W::NEXT, 0),
        (W::PREV, 0),
        (W::ORDER, order),
        (W::TID, process::tid() as u64),
        (W::TGID, process::pid() as u64),
        (W::TREC, tr),
        (W::DELIVERED_AT, 0),
    ];
    for (f, v) in fields {
        fresh.init(f, v);
    }
    let (l, which) = if k == kind::SENDER {
        (senders(q), list::SENDERS)
    } else if tr != 0 {
        (typed(tr), list::TYPED)
    } else {
        (general(q), list::GENERAL)
    };
    fresh.init(W::LIST, which);
    l.push_back(&mut g.tx, w);
    // Last, after every step that can fail: from here on the thread owns the mutex and must
    // `release` the record.
    // SAFETY: a fresh record of W::SIZE bytes, 8-aligned, under the store lock.
    unsafe { liveness::hold(fresh.ptr(W::LIVE0, liveness::SIZE).cast()) };
    Some(w)
}

fn live(g: &Guard, w: u64) -> *mut libc::pthread_mutex_t {
    g.arena().byte_ptr(w + W::LIVE0, liveness::SIZE).cast()
}

/// Whether the thread waiting in `w` is still alive; if not, its record is dropped.
fn alive_or_drop(g: &mut Guard, w: u64) -> bool {
    // SAFETY: `w` is a linked waiter record, so its mutex was initialised by `register`.
    if unsafe { liveness::probe(live(g, w)) } == Probe::Alive {
        return true;
    }
    // SAFETY: a `Gone` probe left us holding the mutex.
    unsafe { liveness::discard(live(g, w)) };
    free_record(g, w);
    false
}

/// Takes waiter `w` off whatever list it is on.
pub fn unlink(g: &mut Guard, w: u64) {
    let q = g.get(w + W::QUEUE);
    match g.get(w + W::LIST) {
        list::GENERAL => general(q).unlink(&mut g.tx, w),
        list::SENDERS => senders(q).unlink(&mut g.tx, w),
        list::PENDING => pending().unlink(&mut g.tx, w),
        list::TYPED => {
            let tr = g.get(w + W::TREC);
            typed(tr).unlink(&mut g.tx, w);
            queue::type_rec_release(g, q, tr);
        }
        _ => {}
    }
    g.put(w + W::LIST, list::NONE);
}

/// The waiting thread is done with its record `w`: unlinks and frees it (and a message
/// still attached to it).
pub fn release(g: &mut Guard, w: u64) {
    // SAFETY: only the thread that registered `w` calls this, and it holds the mutex.
    unsafe { liveness::let_go(live(g, w)) };
    free_record(g, w);
}

fn free_record(g: &mut Guard, w: u64) {
    unlink(g, w);
    let m = g.get(w + W::MSG);
    if m != 0 {
        g.put(w + W::MSG, 0);
        alloc::free(&mut g.tx, m);
    }
    alloc::free(&mut g.tx, w);
}

/// Linux's `pipelined_send`: offers message `m` to the receivers blocked on `q`, oldest
/// matching first. Receivers whose buffer is too small get E2BIG and the next one is
/// tried. Returns whether a receiver took the message.
pub fn pipelined_send(g: &mut Guard, q: u64, m: u64) -> bool {
    let t = g.get(m + M::TYPE) as i64;
    let size = g.get(m + M::LEN);
    loop {
        let tr = queue::type_rec(g, q, t);
        let c1 = if tr != 0 { g.get(tr + T::RHEAD) } else { 0 };
        let mut c2 = g.get(q + Q::RHEAD);
        while c2 != 0 && !mode_of(g, c2).accepts(t) {
            c2 = g.get(c2 + W::NEXT);
        }
        let w = match (c1, c2) {
            (0, 0) => return false,
            (c, 0) | (0, c) => c,
            (a, b) => {
                if g.get(a + W::ORDER) < g.get(b + W::ORDER) {
                    a
                } else {
                    b
                }
            }
        };
        if !alive_or_drop(g, w) {
            continue;
        }
        unlink(g, w);
        g.wake_later(w);
        if g.get(w + W::MAXSIZE) < size {
            g.put(w + W::STATE, state::E2BIG);
            continue;
        }
        g.put(w + W::MSG, m);
        g.put(w + W::STATE, state::DELIVERED);
        g.put(w + W::DELIVERED_AT, process::mono_ns());
        pending().push_back(&mut g.tx, w);
        g.put(w + W::LIST, list::PENDING);
        let tid = g.get(w + W::TID);
        g.put(q + Q::LRPID, tid);
        g.put(q + Q::RTIME, process::now_secs());
        return true;
    }
}

/// Linux's `ss_wakeup`. With `kill`, every sender gets EIDRM; otherwise the senders whose
/// message now fits are woken (they stay linked and unlink themselves), and the others are
/// rotated to the tail, stopping at the first one rotated.
pub fn wake_senders(g: &mut Guard, q: u64, kill: bool) {
    let l = senders(q);
    let mut stop = 0;
    let mut w = l.first(&g.tx);
    while w != 0 && w != stop {
        let next = g.get(w + W::NEXT);
        if kill {
            if !alive_or_drop(g, w) {
                w = next;
                continue;
            }
            g.put(w + W::STATE, state::EIDRM);
            g.put(w + W::LIST, list::NONE);
            g.wake_later(w);
        } else if fits(
            g.get(w + W::MAXSIZE),
            g.get(q + Q::CBYTES),
            g.get(q + Q::QNUM),
            g.get(q + Q::QBYTES),
        ) {
            if g.get(w + W::STATE) == state::WAITING {
                g.put(w + W::STATE, state::WOKEN);
                g.wake_later(w);
            }
        } else {
            if stop == 0 {
                stop = w;
            }
            if next != 0 {
                l.unlink(&mut g.tx, w);
                l.push_back(&mut g.tx, w);
            }
        }
        w = next;
    }
    if kill {
        g.put(q + Q::SHEAD, 0);
        g.put(q + Q::STAIL, 0);
    }
}

/// Visits every blocked receiver of `q` (general list and every type record's list).
fn each_receiver(g: &Guard, q: u64, mut f: impl FnMut(u64)) {
    let mut w = g.get(q + Q::RHEAD);
    while w != 0 {
        let next = g.get(w + W::NEXT);
        f(w);
        w = next;
    }
    for b in queue::buckets(g, q) {
        let mut tr = g.get(b);
        while tr != 0 {
            let mut w = g.get(tr + T::RHEAD);
            while w != 0 {
                let next = g.get(w + W::NEXT);
                f(w);
                w = next;
            }
            tr = g.get(tr + T::BNEXT);
        }
    }
}

/// IPC_SET: every blocked receiver wakes to re-check its permission (it stays linked until
/// it runs, so it may still get a message first).
pub fn wake_receivers(g: &mut Guard, q: u64) {
    let mut ws = Vec::new();
    each_receiver(g, q, |w| ws.push(w));
    for w in ws {
        g.wake_later(w);
    }
}

/// IPC_RMID: every waiter gets EIDRM. The lists die with the queue.
pub fn kill_all(g: &mut Guard, q: u64) {
    let mut ws = Vec::new();
    each_receiver(g, q, |w| ws.push(w));
    for w in ws {
        if alive_or_drop(g, w) {
            g.put(w + W::STATE, state::EIDRM);
            g.put(w + W::LIST, list::NONE);
            g.wake_later(w);
        }
    }
    g.put(q + Q::RHEAD, 0);
    g.put(q + Q::RTAIL, 0);
    wake_senders(g, q, true);
}

/// Frees the queues on the dying list (removed, but not yet freed), committing in steps so
/// that the undo log stays small. Safe to resume after a crash at any point.
pub fn reclaim_dying(g: &mut Guard) {
    loop {
        let q = g.get(H::DYING);
        if q == 0 {
            return;
        }
        // Messages first, a batch per commit.
        loop {
            let mut n = 0;
            let mut m = g.get(q + Q::MHEAD);
            while m != 0 && n < 256 {
                let next = g.get(m + M::NEXT);
                g.put(q + Q::MHEAD, next);
                alloc::free(&mut g.tx, m);
                m = next;
                n += 1;
            }
            g.commit();
            if m == 0 {
                break;
            }
        }
        let buckets = g.get(q + Q::TBUCKETS);
        for b in queue::buckets(g, q).collect::<Vec<_>>() {
            let mut tr = g.get(b);
            while tr != 0 {
                let next = g.get(tr + T::BNEXT);
                g.put(b, next);
                alloc::free(&mut g.tx, tr);
                tr = next;
            }
            g.commit();
        }
        let next = g.get(q + Q::DNEXT);
        g.put(H::DYING, next);
        alloc::free(&mut g.tx, buckets - 8);
        alloc::free(&mut g.tx, q);
        g.commit();
    }
}

/// The queue record that id `qid` names now, or 0.
fn live_queue(g: &Guard, qid: u64) -> u64 {
    let id = qid as i32;
    let q = g.get(crate::shm::layout::IDS_OFF + 8 * ids::idx_of(id) as u64);
    if q != 0 && g.get(q + Q::ID) == qid {
        q
    } else {
        0
    }
}

/// Puts back the messages that were handed to receivers that died before taking them:
/// offered again to a blocked receiver, else queued at the tail; freed only if their queue
/// is gone. Costs a compare-and-swap per pending delivery (there are rarely any).
pub fn sweep_pending(g: &mut Guard) {
    let mut w = pending().first(&g.tx);
    while w != 0 {
        let next = g.get(w + W::NEXT);
        // SAFETY: pending records were registered, so their mutex is initialised.
        if unsafe { liveness::probe(live(g, w)) } == Probe::Gone {
            // SAFETY: the `Gone` probe left us holding it.
            unsafe { liveness::discard(live(g, w)) };
            let m = g.get(w + W::MSG);
            let owner = live_queue(g, g.get(w + W::QID));
            g.put(w + W::MSG, 0);
            free_record(g, w);
            if m != 0 {
                if owner == 0 {
                    alloc::free(&mut g.tx, m);
                } else if !pipelined_send(g, owner, m) {
                    let t = g.get(m + M::TYPE) as i64;
                    match queue::type_rec_or_new(g, owner, t) {
                        Some(tr) => queue::enqueue(g, owner, m, tr),
                        None => alloc::free(&mut g.tx, m),
                    }
                }
            }
        }
        w = next;
    }
}

/// Drops the records of dead waiters blocked on queue `q`, and sweeps pending deliveries.
/// Runs from a waiter's periodic tick, at most every `min_gap_ns` per store.
pub fn sweep_dead(g: &mut Guard, q: u64, min_gap_ns: u64) {
    let now = process::mono_ns();
    if now.saturating_sub(g.get(H::SWEEP_AT)) < min_gap_ns {
        return;
    }
    g.put(H::SWEEP_AT, now);
    sweep_pending(g);
    let mut ws = Vec::new();
    each_receiver(g, q, |w| ws.push(w));
    let mut s = g.get(q + Q::SHEAD);
    while s != 0 {
        ws.push(s);
        s = g.get(s + W::NEXT);
    }
    for w in ws {
        alive_or_drop(g, w);
    }
    g.commit();
}
