// SPDX-License-Identifier: GPL-2.0

//! The blocked receivers of one queue.
//!
//! Linux keeps one list and a sender (`pipelined_send`) tests every receiver in it, oldest
//! first. Here a receiver of one exact type (`msgtyp > 0` without `MSG_EXCEPT`) waits in that
//! type's list, in a red-black tree by type; the others (`msgtyp == 0`, negative, `MSG_EXCEPT`)
//! wait in the general list. A sender looks at the general list and at its own type's list
//! only, so receivers blocked on other exact types cost it nothing (benchmark row 5). Each
//! receiver draws a ticket when it blocks; merging the two candidates by ticket keeps Linux's
//! oldest-first order.

use crate::{
    ext::Offer,
    select::Mode,
    waiter::Waiter,
    wakeup::{
        handoff,
        Candidate,
        Side, //
    },
};
use kernel::{
    prelude::*,
    rbtree::RBTree,
    sync::Arc, //
};

/// The blocked receivers of a queue.
pub(crate) struct Receivers {
    /// Receivers of any type, a bound or `MSG_EXCEPT`, oldest first.
    general: KVec<Arc<Waiter>>,
    /// Receivers of one exact type, by type, oldest first (no list is empty).
    exact: RBTree<i64, KVec<Arc<Waiter>>>,
    /// The next ticket.
    next_ticket: u64,
}

impl Receivers {
    /// Whether no receiver is blocked.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.general.is_empty() && self.exact.is_empty()
    }

    pub(crate) fn new() -> Self {
        Receivers {
            general: KVec::new(),
            exact: RBTree::new(),
            next_ticket: 0,
        }
    }

    /// Blocks a new receiver of `mode` (its largest acceptable message `size`) at the tail.
    pub(crate) fn add(&mut self, mode: Mode, size: u64, tid: i32) -> Result<Arc<Waiter>> {
        let w = Waiter::new(mode, size, tid, self.next_ticket)?;
        match mode {
            Mode::Equal(t) => {
                if let Some(l) = self.exact.get_mut(&t) {
                    l.push(w.clone(), GFP_KERNEL)?;
                } else {
                    let mut l = KVec::new();
                    l.push(w.clone(), GFP_KERNEL)?;
                    self.exact.try_create_and_insert(t, l, GFP_KERNEL)?;
                }
            }
            _ => self.general.push(w.clone(), GFP_KERNEL)?,
        }
        // A u64 counter of blocks cannot wrap in practice; never panic if it did.
        self.next_ticket = self.next_ticket.wrapping_add(1);
        Ok(w)
    }

    /// Removes `w` if it is listed.
    pub(crate) fn unlink(&mut self, w: &Arc<Waiter>) {
        let Mode::Equal(t) = w.mode else {
            self.general.retain(|r| !Arc::ptr_eq(r, w));
            return;
        };
        let Some(l) = self.exact.get_mut(&t) else {
            return;
        };
        l.retain(|r| !Arc::ptr_eq(r, w));
        if l.is_empty() {
            self.exact.remove(&t);
        }
    }

    /// Removes and returns the receiver a message of type `mtype` and `size` bytes is offered
    /// to (`wakeup::handoff`: the oldest that accepts its type), with what the offer does.
    /// `from` is where the general list's scan starts; it is advanced past the receivers that
    /// do not accept it, so successive calls for one message scan that list once.
    pub(crate) fn take_for(
        &mut self,
        mtype: i64,
        size: u64,
        from: &mut usize,
    ) -> Option<(Arc<Waiter>, Offer)> {
        let candidate = |w: &Arc<Waiter>| Candidate {
            order: w.ticket,
            maxsize: w.size,
        };
        let mut general = None;
        while let Some(w) = self.general.get(*from) {
            if w.mode.accepts(mtype) {
                general = Some(candidate(w));
                break;
            }
            *from += 1;
        }
        let exact = self
            .exact
            .get(&mtype)
            .and_then(|l| l.first())
            .map(candidate);
        let h = handoff(exact, general, size)?;
        let w = match h.from {
            Side::Typed => self.take_exact(mtype),
            Side::General => self.general.remove(*from).ok(),
        }?;
        Some((w, h.offer))
    }

    /// Removes the oldest receiver of exactly `mtype`.
    fn take_exact(&mut self, mtype: i64) -> Option<Arc<Waiter>> {
        let l = self.exact.get_mut(&mtype)?;
        let w = l.remove(0).ok();
        if l.is_empty() {
            self.exact.remove(&mtype);
        }
        w
    }

    /// The number of blocked receivers that accept a message of type `mtype` and whose buffer
    /// can hold its `size` bytes (`MSGQ_BROADCAST`).
    pub(crate) fn count_takers(&self, mtype: i64, size: u64) -> usize {
        let takes = |w: &&Arc<Waiter>| {
            w.mode.accepts(mtype) && crate::ext::offer(w.size, size) == crate::ext::Offer::Take
        };
        let general = self.general.iter().filter(takes).count();
        let exact = self
            .exact
            .get(&mtype)
            .map_or(0, |l| l.iter().filter(takes).count());
        general.saturating_add(exact)
    }

    /// Removes every blocked receiver that accepts a message of type `mtype`, oldest first in
    /// each list, calling `f` for each (`MSGQ_BROADCAST`).
    pub(crate) fn drain_matching(&mut self, mtype: i64, mut f: impl FnMut(Arc<Waiter>)) {
        self.general.retain(|w| {
            if w.mode.accepts(mtype) {
                f(w.clone());
                false
            } else {
                true
            }
        });
        if let Some(mut l) = self.exact.remove(&mtype) {
            for w in l.drain_all() {
                f(w);
            }
        }
    }

    /// Calls `f` for every blocked receiver.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Arc<Waiter>)) {
        self.general.iter().for_each(&mut f);
        for l in self.exact.values() {
            l.iter().for_each(&mut f);
        }
    }

    /// Removes every blocked receiver, calling `f` for each.
    pub(crate) fn drain(&mut self, mut f: impl FnMut(Arc<Waiter>)) {
        for w in self.general.drain_all() {
            f(w);
        }
        while let Some(c) = self.exact.cursor_front_mut() {
            let (_, node) = c.remove_current();
            let (_, mut l) = node.to_key_value();
            for w in l.drain_all() {
                f(w);
            }
        }
    }
}
