// SPDX-License-Identifier: GPL-2.0

//! One queue: its ownership, times and counters, its messages ([`crate::messages`]) and its
//! waiters (blocked receivers in [`crate::receivers`], blocked senders in a list).

use crate::{
    abi,
    ext::{
        self,
        Offer, //
    },
    messages::{
        Messages,
        Msg, //
    },
    perm::Perm,
    receivers::Receivers,
    waiter::Waiter, //
};
use kernel::{
    prelude::*,
    sync::Arc, //
};

/// A queue.
pub(crate) struct Queue {
    pub(crate) perm: Perm,
    /// The sequence number in the queue's id.
    pub(crate) seq: u32,
    pub(crate) id: i32,
    pub(crate) stime: i64,
    pub(crate) rtime: i64,
    pub(crate) ctime: i64,
    pub(crate) cbytes: u64,
    pub(crate) qnum: u64,
    pub(crate) qbytes: u64,
    pub(crate) lspid: i32,
    pub(crate) lrpid: i32,
    pub(crate) msgs: Messages,
    /// Blocked receivers.
    pub(crate) receivers: Receivers,
    /// Blocked senders, in `ss_wakeup` order.
    pub(crate) senders: KVec<Arc<Waiter>>,
    /// Blocked peekers (`MSGQ_PEEK`), oldest first: every matching send gives each a copy.
    pub(crate) peekers: KVec<Arc<Waiter>>,
}

impl Queue {
    /// A new, empty queue (its id is set when it is added to the table).
    pub(crate) fn new(perm: Perm, qbytes: u64, now: i64) -> Self {
        Queue {
            perm,
            seq: 0,
            id: 0,
            stime: 0,
            rtime: 0,
            ctime: now,
            cbytes: 0,
            qnum: 0,
            qbytes,
            lspid: 0,
            lrpid: 0,
            msgs: Messages::new(),
            receivers: Receivers::new(),
            senders: KVec::new(),
            peekers: KVec::new(),
        }
    }

    /// Whether a `msgsz`-byte message fits now.
    pub(crate) fn fits(&self, msgsz: u64) -> bool {
        crate::limits::fits(msgsz, self.cbytes, self.qnum, self.qbytes)
    }

    /// `IPC_STAT`'s view of the queue.
    pub(crate) fn stat(&self) -> abi::MsqidDs {
        abi::MsqidDs {
            msg_perm: abi::IpcPerm {
                key: self.perm.key,
                uid: self.perm.uid,
                gid: self.perm.gid,
                cuid: self.perm.cuid,
                cgid: self.perm.cgid,
                mode: self.perm.mode,
                seq: self.seq as u16,
                ..Default::default()
            },
            msg_stime: self.stime,
            msg_rtime: self.rtime,
            msg_ctime: self.ctime,
            msg_cbytes: self.cbytes,
            msg_qnum: self.qnum,
            msg_qbytes: self.qbytes,
            msg_lspid: self.lspid,
            msg_lrpid: self.lrpid,
            ..Default::default()
        }
    }

    /// Removes `w` from the blocked receivers, peekers or senders (it may already be gone).
    pub(crate) fn unlink(&mut self, w: &Arc<Waiter>) {
        self.receivers.unlink(w);
        self.senders.retain(|s| !Arc::ptr_eq(s, w));
        self.peekers.retain(|s| !Arc::ptr_eq(s, w));
    }

    /// Linux's `pipelined_send`: offers `msg` to the blocked receivers, oldest first. A
    /// matching receiver whose buffer is too small gets `E2BIG`; the first that can take it
    /// gets it. Returns the message when nobody took it.
    pub(crate) fn pipelined_send(&mut self, msg: Msg, now: i64) -> Option<Msg> {
        let mut from = 0;
        while let Some(r) = self.receivers.take_for(msg.mtype, &mut from) {
            if r.size < msg.size() {
                r.deliver(Err(E2BIG));
                continue;
            }
            self.lrpid = r.tid;
            self.rtime = now;
            r.deliver(Ok(msg));
            return None;
        }
        Some(msg)
    }

    /// Linux's `ss_wakeup`: with `kill`, every blocked sender gets `EIDRM`; otherwise the
    /// senders whose message fits now are woken (they stay listed and unlink themselves), the
    /// others move to the tail in order.
    pub(crate) fn wake_senders(&mut self, kill: bool) {
        if kill {
            for s in self.senders.drain_all() {
                s.deliver(Err(EIDRM));
            }
            return;
        }
        let n = self.senders.len();
        let mut i = 0;
        let mut moved = 0;
        while i + moved < n {
            if self.fits(self.senders[i].size) {
                self.senders[i].wake.notify_one();
                i += 1;
                continue;
            }
            let s = match self.senders.remove(i) {
                Ok(s) => s,
                Err(_) => break,
            };
            // The removal freed a slot, so this cannot fail; if it did, the sender would be
            // woken to look again rather than be lost.
            if let Err(e) = self.senders.push_within_capacity(s) {
                let s: Arc<Waiter> = e.0;
                s.wake.notify_one();
            }
            moved += 1;
        }
    }

    /// `IPC_SET`: every blocked receiver looks again (and re-checks its permission).
    pub(crate) fn wake_receivers(&self) {
        self.receivers.for_each(|r| r.wake.notify_one());
        self.peekers.iter().for_each(|r| r.wake.notify_one());
    }

    /// `IPC_RMID`: every waiter gets `EIDRM`.
    pub(crate) fn kill_waiters(&mut self) {
        self.receivers.drain(|r| r.deliver(Err(EIDRM)));
        for p in self.peekers.drain_all() {
            p.deliver(Err(EIDRM));
        }
        self.wake_senders(true);
    }

    /// The copies of `msg` that a send must give away besides the message itself, made before
    /// the queue changes (`ENOMEM` leaves it untouched): one per blocked peeker that takes it,
    /// and with `broadcast` one per blocked receiver that takes it but the first (which gets
    /// the message itself).
    pub(crate) fn copies_for(&self, msg: &Msg, broadcast: bool) -> Result<KVec<Msg>> {
        let (t, size) = (msg.mtype, msg.size());
        let peek = self
            .peekers
            .iter()
            .filter(|p| p.mode.accepts(t) && ext::offer(p.size, size) == Offer::Take)
            .count();
        let recv = if broadcast {
            self.receivers.count_takers(t, size).saturating_sub(1)
        } else {
            0
        };
        let n = peek.saturating_add(recv);
        let mut copies = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            copies.push(msg.copy(usize::MAX)?, GFP_KERNEL)?;
        }
        Ok(copies)
    }

    /// Gives a copy of `msg` (from `copies`, see [`Queue::copies_for`]) to every blocked
    /// peeker that accepts its type, `E2BIG` to those whose buffer is too small; returns how
    /// many got a copy. The message itself is untouched (it goes on as it would otherwise), and
    /// so are `rtime` and `lrpid` (a peek is not a receive).
    pub(crate) fn give_peekers(&mut self, msg: &Msg, copies: &mut KVec<Msg>) -> usize {
        let (t, size) = (msg.mtype, msg.size());
        let mut given = 0usize;
        self.peekers.retain(|p| {
            if !p.mode.accepts(t) {
                return true;
            }
            match (ext::offer(p.size, size), copies.pop()) {
                (Offer::TooBig, _) => p.deliver(Err(E2BIG)),
                (Offer::Take, Some(c)) => {
                    p.deliver(Ok(c));
                    given += 1;
                }
                // `copies_for` counted these under the same lock, so this cannot happen;
                // the peeker fails rather than the kernel.
                (Offer::Take, None) => p.deliver(Err(ENOMEM)),
            }
            false
        });
        given
    }

    /// `MSGQ_BROADCAST`: gives `msg` to every blocked receiver that accepts its type (the
    /// first the message itself, the others a copy from `copies`), `E2BIG` to those whose
    /// buffer is too small. Returns how many got it, and the message when nobody did.
    pub(crate) fn broadcast(
        &mut self,
        msg: Msg,
        now: i64,
        copies: &mut KVec<Msg>,
    ) -> (usize, Option<Msg>) {
        let (t, size) = (msg.mtype, msg.size());
        let mut msg = Some(msg);
        let mut given = 0usize;
        let mut last_tid = None;
        self.receivers.drain_matching(t, |r| {
            if ext::offer(r.size, size) == Offer::TooBig {
                r.deliver(Err(E2BIG));
                return;
            }
            match msg.take().or_else(|| copies.pop()) {
                Some(m) => {
                    last_tid = Some(r.tid);
                    r.deliver(Ok(m));
                    given += 1;
                }
                // Counted under the same lock by `copies_for`: cannot happen.
                None => r.deliver(Err(ENOMEM)),
            }
        });
        if let Some(tid) = last_tid {
            self.lrpid = tid;
            self.rtime = now;
        }
        (given, msg)
    }

    /// Drops the oldest messages until a `size`-byte message fits (`MSGQ_OVERWRITE`; the
    /// caller checked that it fits an empty queue). Returns the number dropped and their
    /// bytes. Keeps the allocations a `prepare` made (see [`Messages::pop_front`]).
    pub(crate) fn drop_until_fits(&mut self, size: u64) -> (u64, u64) {
        let (mut n, mut bytes) = (0u64, 0u64);
        while !self.fits(size) {
            let Some(m) = self.msgs.pop_front() else {
                break;
            };
            let sz = m.size();
            self.qnum = self.qnum.saturating_sub(1);
            self.cbytes = self.cbytes.saturating_sub(sz);
            n = n.saturating_add(1);
            bytes = bytes.saturating_add(sz);
        }
        (n, bytes)
    }

    /// `MSGQ_PURGE`: discards every message; returns the number discarded and their bytes.
    /// Blocked senders whose message fits now are woken (as after a receive).
    pub(crate) fn purge(&mut self) -> (u64, u64) {
        let (mut n, mut bytes) = (0u64, 0u64);
        while let Some(m) = self.msgs.pop_front() {
            n = n.saturating_add(1);
            bytes = bytes.saturating_add(m.size());
        }
        // Every slot is free; let `take`'s policy apply to the arena's memory once more.
        self.msgs.shrink_if_empty();
        self.qnum = 0;
        self.cbytes = 0;
        if n > 0 {
            self.wake_senders(false);
        }
        (n, bytes)
    }

    /// `MSGQ_ABORT`: the blocked receivers and peekers (`receivers`) and senders (`senders`)
    /// return `ECANCELED`; returns how many. A receiver that was already handed a message is
    /// no longer listed, so it keeps its message.
    pub(crate) fn abort(&mut self, receivers: bool, senders: bool) -> u64 {
        let mut n = 0u64;
        let mut cancel = |w: Arc<Waiter>| {
            w.deliver(Err(ECANCELED));
            n = n.saturating_add(1);
        };
        if receivers {
            self.receivers.drain(&mut cancel);
            for p in self.peekers.drain_all() {
                cancel(p);
            }
        }
        if senders {
            for s in self.senders.drain_all() {
                cancel(s);
            }
        }
        n
    }
}
