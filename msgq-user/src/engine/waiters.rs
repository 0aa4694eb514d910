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
//! pending list until the receiver claims it. If the receiver died first,
//! `recovery::sweep_pending` puts the message back in its queue.

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

/// Waiter `w`'s liveness mutex; a damaged one is reported as a corrupt store, never handed
/// to glibc.
pub(super) fn live(g: &Guard, w: u64) -> *mut libc::pthread_mutex_t {
    let m = g.arena().byte_ptr(w + W::LIVE0, liveness::SIZE).cast();
    // SAFETY: byte_ptr checked that the mutex's bytes lie inside the mapping.
    if !unsafe { liveness::well_formed(m) } {
        crate::shm::arena::corrupt(w + W::LIVE0);
    }
    m
}

/// Whether the thread waiting in `w` is still alive; if not, its record is dropped.
pub(super) fn alive_or_drop(g: &mut Guard, w: u64) -> bool {
    // SAFETY: `w` is a linked waiter record, so its mutex was initialised by `register`.
    if unsafe { liveness::probe(live(g, w)) } == Probe::Alive {
        return true;
    }
    // SAFETY: a `Gone` probe left us holding the mutex.
    unsafe { liveness::discard(live(g, w)) };
    free_record(g, w);
    false
}

/// Takes waiter `w` off whatever list it is on, and lets go of the type record it holds
/// (`W::TREC`; the field is left as it was: the caller clears it, keeps it as a pin, or
/// frees the record).
pub fn unlink(g: &mut Guard, w: u64) {
    let q = g.get(w + W::QUEUE);
    match g.get(w + W::LIST) {
        list::GENERAL => general(q).unlink(&mut g.tx, w),
        list::SENDERS => senders(q).unlink(&mut g.tx, w),
        list::PENDING => {
            pending().unlink(&mut g.tx, w);
            unpin(g, w);
        }
        list::TYPED => {
            let tr = g.get(w + W::TREC);
            typed(tr).unlink(&mut g.tx, w);
            queue::type_rec_release(g, q, tr);
        }
        _ => {}
    }
    g.put(w + W::LIST, list::NONE);
}

/// Moves waiter `w`, whose wait has ended (its state is set), to the pending list, where
/// it stays reachable until its thread takes the result (or the sweep finds it dead).
pub(super) fn to_pending(g: &mut Guard, w: u64) {
    pending().push_back(&mut g.tx, w);
    g.put(w + W::LIST, list::PENDING);
    g.wake_later(w);
}

/// Pins the type record of message `m`'s type in queue `q` for waiter `w`, to which `m` is
/// being handed: while the pin holds, the record stays, so putting the message back (its
/// receiver died) needs no memory. `None` when the record had to be made and the store is
/// full: then the message must not be handed over.
fn pin(g: &mut Guard, q: u64, w: u64, t: i64) -> Option<()> {
    let tr = queue::type_rec_or_new(g, q, t)?;
    g.tx.add(tr + T::PINS, 1);
    // A typed receiver's own record is released by `unlink` below; this is the pin.
    g.put(w + W::TREC, tr);
    Some(())
}

/// Lets go of a pending waiter's pin, if its queue still exists (a removed queue's records
/// went with it). `W::TREC` is left as it is: the record is being freed.
fn unpin(g: &mut Guard, w: u64) {
    let tr = g.get(w + W::TREC);
    if tr == 0 {
        return;
    }
    let q = g.get(w + W::QUEUE);
    if live_queue(g, g.get(w + W::QID)) == q {
        g.tx.add(tr + T::PINS, -1);
        queue::type_rec_release(g, q, tr);
    }
}

/// The waiting thread is done with its record `w`: unlinks and frees it (and a message
/// still attached to it).
pub fn release(g: &mut Guard, w: u64) {
    // SAFETY: only the thread that registered `w` calls this, and it holds the mutex.
    unsafe { liveness::let_go(live(g, w)) };
    free_record(g, w);
}

pub(super) fn free_record(g: &mut Guard, w: u64) {
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
            let next = g.get(c2 + W::NEXT);
            // A dead receiver passed over is dropped too, so dead records do not pile up
            // in front of the live ones.
            alive_or_drop(g, c2);
            c2 = next;
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
        if g.get(w + W::MAXSIZE) < size {
            unlink(g, w);
            g.put(w + W::TREC, 0);
            g.put(w + W::STATE, state::E2BIG);
            to_pending(g, w);
            continue;
        }
        // Before `unlink`, which releases a typed receiver's own record (of this type): the
        // pin keeps it, and `W::TREC` now names the pinned record either way.
        if pin(g, q, w, t).is_none() {
            return false;
        }
        unlink(g, w);
        g.put(w + W::MSG, m);
        g.put(w + W::STATE, state::DELIVERED);
        g.put(w + W::DELIVERED_AT, process::mono_ns());
        to_pending(g, w);
        let tid = g.get(w + W::TID);
        g.put(q + Q::LRPID, tid);
        g.put(q + Q::RTIME, process::now_secs());
        return true;
    }
}

/// Linux's `ss_wakeup` (without `kill`: removal is [`reclaim_dying`]'s): the senders whose
/// message now fits are woken (they stay linked and unlink themselves), and the others are
/// rotated to the tail, stopping at the first one rotated. Senders found dead are dropped
/// on the way (a compare-and-swap each): a woken sender unlinks itself, and a dead one
/// never would.
pub fn wake_senders(g: &mut Guard, q: u64) {
    let l = senders(q);
    let mut stop = 0;
    let mut w = l.first(&g.tx);
    while w != 0 && w != stop {
        let next = g.get(w + W::NEXT);
        if !alive_or_drop(g, w) {
            w = next;
            continue;
        }
        if fits(
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
}

/// Visits every blocked receiver of `q` (general list and every type record's list).
pub(super) fn each_receiver(g: &Guard, q: u64, mut f: impl FnMut(u64)) {
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

/// The queue record that id `qid` names now, or 0.
pub(super) fn live_queue(g: &Guard, qid: u64) -> u64 {
    let id = qid as i32;
    let q = g.get(crate::shm::layout::IDS_OFF + 8 * ids::idx_of(id) as u64);
    if q != 0 && g.get(q + Q::ID) == qid {
        q
    } else {
        0
    }
}
