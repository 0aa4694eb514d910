// SPDX-License-Identifier: GPL-2.0

//! One queue: its ownership, times and counters, its messages ([`crate::messages`]) and its
//! waiters (blocked receivers in [`crate::receivers`], blocked senders in a list).

use crate::{
    abi,
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
        self.receivers.unlink(w);
        self.senders.retain(|s| !Arc::ptr_eq(s, w));
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
    }

    /// `IPC_RMID`: every waiter gets `EIDRM`.
    pub(crate) fn kill_waiters(&mut self) {
        self.receivers.drain(|r| r.deliver(Err(EIDRM)));
        self.wake_senders(true);
    }
}
