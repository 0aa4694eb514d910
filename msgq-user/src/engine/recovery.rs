//! Crash recovery, in one place: everything the engine does because a process may die at
//! any instruction.
//!
//! * Taking the store lock ([`Shared::lock`]): if the previous owner died, or left the undo
//!   log non-empty, its half-done update is rolled back (the log itself is `shm::tx`'s), the
//!   recovery is counted, and the mutex is marked consistent; then any removal left half
//!   done (the dying list) is finished.
//! * Removal in resumable steps ([`reclaim_dying`]): waiters get `EIDRM` in batches, then
//!   messages and records are freed, each batch its own commit.
//! * Dead waiters: messages handed to receivers that died go back to their queue
//!   ([`sweep_pending`]), and records of waiters that died are freed ([`sweep_dead`]; the
//!   operations that meet a dead waiter drop it too, `waiters::alive_or_drop`). Whether a
//!   waiter's thread is alive is `sys::liveness`'s (a robust mutex per waiter).

use super::guard::{Guard, Locked, Shared};
use super::queue;
use super::waiters::{
    alive_or_drop, each_receiver, free_record, live, live_queue, pending, pipelined_send,
    to_pending, unlink,
};
use crate::shm::layout::{state, H, M, Q, T, W};
use crate::shm::{alloc, tx};
use crate::sys::liveness::{self, Probe};
use crate::sys::process;
use msgq_core::Errno;

impl Shared {
    /// Takes the store lock, repairing a dead owner's update if needed, and finishing any
    /// removal left half done.
    pub fn lock(&self) -> Result<Guard<'_>, Errno> {
        let (mut g, how) = self.lock_raw()?;
        if how == Locked::OwnerDied || self.arena.get(H::LOG_LEN) != 0 {
            #[cfg(loom)]
            let repair = !crate::model::bug(crate::model::Bug::SkipRollback);
            #[cfg(not(loom))]
            let repair = true;
            if repair {
                tx::rollback(self.arena);
            }
            g.tx.add(H::RECOVERIES, 1);
            g.tx.commit();
            if how == Locked::OwnerDied {
                self.lock.mark_consistent();
            }
        }
        if self.arena.get(H::DYING) != 0 {
            reclaim_dying(&mut g);
        }
        Ok(g)
    }
}

/// Every blocked waiter of queue `q`: receivers, then senders.
fn all_waiters(g: &Guard, q: u64) -> Vec<u64> {
    let mut ws = Vec::new();
    each_receiver(g, q, |w| ws.push(w));
    let mut s = g.get(q + Q::SHEAD);
    while s != 0 {
        ws.push(s);
        s = g.get(s + W::NEXT);
    }
    ws
}

/// IPC_RMID, for removed queue `q`: up to `n` of its waiters get EIDRM and move to the
/// pending list (the queue's lists die with it); dead ones are dropped. Returns whether
/// any were left for another batch.
fn kill_some(g: &mut Guard, q: u64, n: usize) -> bool {
    let ws = all_waiters(g, q);
    let more = ws.len() > n;
    for &w in ws.iter().take(n) {
        if alive_or_drop(g, w) {
            unlink(g, w);
            g.put(w + W::TREC, 0);
            g.put(w + W::STATE, state::EIDRM);
            to_pending(g, w);
        }
    }
    more
}

/// Finishes the removal of the queues on the dying list (removed from the id table and
/// key hash, not yet freed): their waiters get EIDRM, then their messages and records are
/// freed, committing in steps so that the undo log stays small. Safe to resume after a
/// crash at any point.
pub fn reclaim_dying(g: &mut Guard) {
    loop {
        let q = g.get(H::DYING);
        if q == 0 {
            return;
        }
        // Waiters first, a batch per commit (about ten logged writes each).
        while kill_some(g, q, 128) {
            g.commit();
        }
        g.commit();
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

/// Puts back the messages that were handed to receivers that died before taking them:
/// offered again to a blocked receiver, else queued at the tail; freed only if their queue
/// is gone. Putting a message back needs no memory: the type record of its type is pinned
/// while it is handed over (`pin`). Also frees the records of other waiters whose wait
/// ended (E2BIG, EIDRM) and who died before taking the result. Costs a compare-and-swap
/// per pending record (there are rarely any).
pub fn sweep_pending(g: &mut Guard) {
    let mut w = pending().first(&g.tx);
    while w != 0 {
        let next = g.get(w + W::NEXT);
        // SAFETY: pending records were registered, so their mutex is initialised.
        if unsafe { liveness::probe(live(g, w)) } == Probe::Gone {
            // SAFETY: the `Gone` probe left us holding it.
            unsafe { liveness::discard(live(g, w)) };
            let m = g.get(w + W::MSG);
            if m != 0 {
                g.put(w + W::MSG, 0);
                let q = live_queue(g, g.get(w + W::QID));
                if q == 0 {
                    alloc::free(&mut g.tx, m);
                } else if !pipelined_send(g, q, m) {
                    // The pin held by `w` keeps the record; `free_record` below lets go of
                    // the pin once the message counts on the record.
                    let tr = g.get(w + W::TREC);
                    let tr = if tr != 0 {
                        tr
                    } else {
                        queue::type_rec(g, q, g.get(m + M::TYPE) as i64)
                    };
                    if tr == 0 {
                        // Impossible with the pin: a damaged store.
                        crate::shm::arena::corrupt(w + W::TREC);
                    }
                    g.put(m + M::TREC, tr);
                    queue::enqueue(g, q, m, tr);
                }
            }
            free_record(g, w);
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
    let ws = all_waiters(g, q);
    for w in ws {
        alive_or_drop(g, w);
    }
    g.commit();
}
