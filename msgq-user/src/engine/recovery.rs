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
use super::records::{Msg, Queue, TypeRec, Waiter};
use super::waiters::{
    alive_or_drop, each_receiver, end_wait, free_record, live, pending, pipelined_send,
};
use crate::shm::layout::{state, H, LOG_CAP, M, Q, T, W};
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
fn all_waiters(g: &Guard, q: Queue) -> Vec<Waiter> {
    let mut ws = Vec::new();
    each_receiver(g, q, |w| ws.push(w));
    let mut s = q.link::<Waiter>(g, Q::SHEAD);
    while let Some(w) = s {
        ws.push(w);
        s = w.link(g, W::NEXT);
    }
    ws
}

/// IPC_RMID, for removed queue `q`: up to `n` of its waiters get EIDRM and move to the
/// pending list (the queue's lists die with it); dead ones are dropped. Returns whether
/// any were left for another batch.
fn kill_some(g: &mut Guard, q: Queue, n: usize) -> bool {
    let ws = all_waiters(g, q);
    let more = ws.len() > n;
    for &w in ws.iter().take(n) {
        if alive_or_drop(g, w) {
            end_wait(g, w, state::EIDRM);
        }
    }
    more
}

/// Finishes the removal of the queues on the dying list (removed from the id table and
/// key hash, not yet freed): their waiters get EIDRM, then their messages and records are
/// freed, committing in steps so that the undo log stays small. Safe to resume after a
/// crash at any point.
pub fn reclaim_dying(g: &mut Guard) {
    while let Some(q) = Queue::at_off(g.get(H::DYING)) {
        // Waiters first, a batch per commit (about ten logged writes each).
        while kill_some(g, q, 128) {
            g.commit();
        }
        g.commit();
        // Then the pending waiters still naming the queue (messages handed over and not
        // taken, ended waits) forget it before its records go: their pins die with the
        // queue, and a message whose receiver died is then freed, never put into whatever
        // queue takes this one's id or record later.
        detach_pending(g, q);
        // Then messages, a batch per commit.
        loop {
            let mut n = 0;
            let mut next = q.link::<Msg>(g, Q::MHEAD);
            while let Some(m) = next.filter(|_| n < 256) {
                next = m.link(g, M::NEXT);
                g.put(q.at(Q::MHEAD), g.get(m.at(M::NEXT)));
                alloc::free(&mut g.tx, m.off());
                n += 1;
            }
            g.commit();
            if next.is_none() {
                break;
            }
        }
        let buckets = g.get(q.at(Q::TBUCKETS));
        for b in queue::buckets(g, q).collect::<Vec<_>>() {
            while let Some(tr) = TypeRec::at_off(g.get(b)) {
                g.put(b, g.get(tr.at(T::BNEXT)));
                alloc::free(&mut g.tx, tr.off());
            }
            g.commit();
        }
        g.put(H::DYING, g.get(q.at(Q::DNEXT)));
        alloc::free(&mut g.tx, buckets - 8);
        alloc::free(&mut g.tx, q.off());
        g.commit();
    }
}

/// Detaches the pending waiters of removed queue `q` (`W::QUEUE` and `W::TREC` to 0),
/// committing every 1024. Resumable: a crash midway leaves `q` on the dying list.
fn detach_pending(g: &mut Guard, q: Queue) {
    let mut next = Waiter::at_off(pending().first(&g.tx));
    let mut n = 0;
    while let Some(w) = next {
        next = w.link(g, W::NEXT);
        if g.get(w.at(W::QUEUE)) == q.off() {
            g.put(w.at(W::QUEUE), 0);
            g.put(w.at(W::TREC), 0);
            n += 1;
            if n % 1024 == 0 {
                g.commit();
            }
        }
    }
    g.commit();
}

/// Puts back the messages that were handed to receivers that died before taking them:
/// offered again to a blocked receiver, else queued at the tail; freed only if their queue
/// is gone. Putting a message back needs no memory: the type record of its type is pinned
/// while it is handed over (`waiters::pin`). Also frees the records of other waiters whose
/// wait ended (E2BIG, EIDRM) and who died before taking the result. Costs a
/// compare-and-swap per pending record (there are rarely any). Commits after each record
/// it frees (so its caller must have nothing uncommitted): thousands of them fit no log.
pub fn sweep_pending(g: &mut Guard) {
    let mut next = Waiter::at_off(pending().first(&g.tx));
    while let Some(w) = next {
        next = w.link(g, W::NEXT);
        // SAFETY: pending records were registered, so their mutex is initialised.
        if unsafe { liveness::probe(live(g, w)) } == Probe::Alive {
            continue;
        }
        // SAFETY: the `Gone` probe left us holding it.
        unsafe { liveness::discard(live(g, w)) };
        if let Some(m) = w.link::<Msg>(g, W::MSG) {
            g.put(w.at(W::MSG), 0);
            // A removed queue's pending waiters were detached from it (QUEUE 0).
            // A copy (a peek, a broadcast) is freed: the message went its way already.
            match w
                .link::<Queue>(g, W::QUEUE)
                .filter(|_| g.get(w.at(W::COPY)) == 0)
            {
                None => alloc::free(&mut g.tx, m.off()),
                Some(q) if !pipelined_send(g, q, m) => {
                    // The pin held by `w` keeps the record; `free_record` below lets go of
                    // the pin once the message counts on the record.
                    let tr = w.link::<TypeRec>(g, W::TREC);
                    let Some(tr) =
                        tr.or_else(|| queue::type_rec(g, q, g.get(m.at(M::TYPE)) as i64))
                    else {
                        // Impossible with the pin: a damaged store.
                        crate::shm::arena::corrupt(w.at(W::TREC));
                    };
                    g.put(m.at(M::TREC), tr.off());
                    queue::enqueue(g, q, m, tr);
                }
                Some(_) => {}
            }
        }
        free_record(g, w);
        g.commit();
    }
}

/// Whether this shard is the memory of an anchored queue (the default store) whose kernel
/// anchor is gone: one `MSG_STAT_ANY`.
#[cfg(not(loom))]
fn anchor_gone(g: &Guard) -> bool {
    let anchor = g.get(H::ANCHOR);
    if anchor & crate::shm::layout::USED == 0 || g.get(H::LIVE) == 0 {
        return false;
    }
    crate::anchored::anchor_missing(anchor as u32 as i32)
}

/// Drops the records of dead waiters blocked on queue `q`, and sweeps pending deliveries.
/// Runs from a waiter's periodic tick, at most every `min_gap_ns` per store.
pub fn sweep_dead(g: &mut Guard, q: Queue, min_gap_ns: u64) {
    let now = process::mono_ns();
    if now.saturating_sub(g.get(H::SWEEP_AT)) < min_gap_ns {
        return;
    }
    g.put(H::SWEEP_AT, now);
    sweep_pending(g);
    #[cfg(not(loom))]
    if anchor_gone(g) {
        // Removed without msgq (or its remover died between the kernel's removal and
        // ours): finish the removal, so that the waiters (this one too) get EIDRM.
        g.commit();
        if let Some(q) = super::registry::live_queue(g) {
            super::registry::remove_in_shard(g, q);
        }
        crate::anchored::remove_own_segment(g.arena());
        return;
    }
    for w in all_waiters(g, q) {
        alive_or_drop(g, w);
        // Each drop is complete in itself: commit before the log runs short.
        if g.tx.room() < LOG_CAP / 2 {
            g.commit();
        }
    }
    g.commit();
}
