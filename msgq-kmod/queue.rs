// SPDX-License-Identifier: GPL-2.0

//! One queue: its ownership, times and counters, its messages and its waiters.
//!
//! Messages are kept in three red-black trees so that no receive mode scans messages it does
//! not want:
//!
//! * `fifo`: every message by arrival number (the queue order, `msgtyp == 0`, `MSG_COPY`);
//! * `by_type`: `(mtype, arrival)`, i.e. one FIFO per type in type order (`msgtyp > 0` is the
//!   first entry of its type, `msgtyp < 0` the very first entry if its type is small enough);
//! * `heads`: the arrival number of the oldest message of each type present, so `MSG_EXCEPT`
//!   is the first or second entry.
//!
//! Every lookup and update is `O(log n)` (`MSG_COPY`'s position is `O(position)`, as in
//! Linux). Pushing takes three tree nodes reserved before the namespace lock is taken, so an
//! enqueue cannot fail; removing reuses the `heads` node it frees.

use crate::{
    abi,
    perm::Perm,
    select::Mode,
    waiter::Waiter, //
};
use kernel::{
    prelude::*,
    rbtree::{
        RBTree,
        RBTreeNodeReservation, //
    },
    sync::Arc,
};

/// One message: its type and text.
pub(crate) struct Msg {
    pub(crate) mtype: i64,
    pub(crate) text: KVVec<u8>,
}

impl Msg {
    /// The text size as the accounting counts it.
    pub(crate) fn size(&self) -> u64 {
        self.text.len() as u64
    }
}

/// The tree nodes one enqueue needs, allocated before the namespace lock is taken.
pub(crate) struct MsgNodes {
    fifo: RBTreeNodeReservation<u64, KBox<Msg>>,
    by_type: RBTreeNodeReservation<(i64, u64), ()>,
    head: RBTreeNodeReservation<u64, i64>,
}

impl MsgNodes {
    /// Reserves the nodes (`ENOMEM`).
    pub(crate) fn new() -> Result<Self> {
        Ok(MsgNodes {
            fifo: RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?,
            by_type: RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?,
            head: RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?,
        })
    }
}

/// The messages of a queue.
pub(crate) struct Messages {
    /// The next arrival number.
    next: u64,
    fifo: RBTree<u64, KBox<Msg>>,
    by_type: RBTree<(i64, u64), ()>,
    heads: RBTree<u64, i64>,
}

impl Messages {
    fn new() -> Self {
        Messages {
            next: 0,
            fifo: RBTree::new(),
            by_type: RBTree::new(),
            heads: RBTree::new(),
        }
    }

    /// Appends a message (cannot fail: the nodes were reserved).
    pub(crate) fn push(&mut self, msg: KBox<Msg>, nodes: MsgNodes) {
        let seq = self.next;
        // A u64 counter of messages cannot wrap in practice; never panic if it did.
        self.next = self.next.wrapping_add(1);
        let t = msg.mtype;
        let new_type = !self.has_type(t);
        self.fifo.insert(nodes.fifo.into_node(seq, msg));
        self.by_type.insert(nodes.by_type.into_node((t, seq), ()));
        if new_type {
            self.heads.insert(nodes.head.into_node(seq, t));
        }
    }

    fn has_type(&self, t: i64) -> bool {
        match self.by_type.cursor_lower_bound(&(t, 0)) {
            Some(c) => c.current().0 .0 == t,
            None => false,
        }
    }

    /// The arrival number of the message `mode` selects (Linux's `find_msg`).
    pub(crate) fn find(&self, mode: Mode) -> Option<u64> {
        match mode {
            Mode::Any => self.fifo.cursor_front().map(|c| *c.current().0),
            Mode::Equal(t) => {
                let c = self.by_type.cursor_lower_bound(&(t, 0))?;
                let (ty, seq) = *c.current().0;
                (ty == t).then_some(seq)
            }
            Mode::LessEqual(bound) => {
                let c = self.by_type.cursor_front()?;
                let (ty, seq) = *c.current().0;
                (ty <= bound).then_some(seq)
            }
            Mode::NotEqual(t) => {
                let c = self.heads.cursor_front()?;
                let (seq, ty) = c.current();
                if *ty != t {
                    return Some(*seq);
                }
                // Each type has one head, so the next head is of another type.
                c.peek_next().map(|(seq, _)| *seq)
            }
            Mode::Number(n) => {
                let n = usize::try_from(n).ok()?;
                self.fifo.keys().nth(n).copied()
            }
        }
    }

    /// The message with arrival number `seq`.
    pub(crate) fn get(&self, seq: u64) -> Option<&Msg> {
        self.fifo.get(&seq).map(|m| &**m)
    }

    /// Removes the message with arrival number `seq`.
    pub(crate) fn take(&mut self, seq: u64) -> Option<KBox<Msg>> {
        let msg = self.fifo.remove(&seq)?;
        let t = msg.mtype;
        self.by_type.remove(&(t, seq));
        if let Some(node) = self.heads.remove_node(&seq) {
            // It was the oldest of its type: the next one of that type (if any) is the head.
            let next = self
                .by_type
                .cursor_lower_bound(&(t, seq))
                .map(|c| *c.current().0)
                .filter(|(ty, _)| *ty == t);
            if let Some((_, s)) = next {
                self.heads.insert(node.into_reservation().into_node(s, t));
            }
        }
        Some(msg)
    }
}

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
    /// Blocked receivers, oldest first.
    pub(crate) receivers: KVec<Arc<Waiter>>,
    /// Blocked senders, in `ss_wakeup` order.
    pub(crate) senders: KVec<Arc<Waiter>>,
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
            receivers: KVec::new(),
            senders: KVec::new(),
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

    /// Removes `w` from the blocked receivers or senders (it may already be gone).
    pub(crate) fn unlink(&mut self, w: &Arc<Waiter>) {
        self.receivers.retain(|r| !Arc::ptr_eq(r, w));
        self.senders.retain(|s| !Arc::ptr_eq(s, w));
    }

    /// Linux's `pipelined_send`: offers `msg` to the blocked receivers, oldest first. A
    /// matching receiver whose buffer is too small gets `E2BIG`; the first that can take it
    /// gets it. Returns the message when nobody took it.
    pub(crate) fn pipelined_send(&mut self, msg: KBox<Msg>, now: i64) -> Option<KBox<Msg>> {
        let mut i = 0;
        while i < self.receivers.len() {
            if !self.receivers[i].mode.accepts(msg.mtype) {
                i += 1;
                continue;
            }
            let r = match self.receivers.remove(i) {
                Ok(r) => r,
                Err(_) => break,
            };
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
        for r in self.receivers.iter() {
            r.wake.notify_one();
        }
    }

    /// `IPC_RMID`: every waiter gets `EIDRM`.
    pub(crate) fn kill_waiters(&mut self) {
        for r in self.receivers.drain_all() {
            r.deliver(Err(EIDRM));
        }
        self.wake_senders(true);
    }
}
