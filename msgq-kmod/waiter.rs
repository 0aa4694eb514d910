// SPDX-License-Identifier: GPL-2.0

//! A blocked sender or receiver.
//!
//! Each sleeping task owns one [`Waiter`] with its own condition variable, so a sender that
//! hands a message over wakes exactly that receiver (Linux's `pipelined_send`), and the sender
//! wake-up (`ss_wakeup`) wakes exactly the senders whose message now fits. The mailbox has its
//! own small lock, only ever taken with the namespace lock held (so the namespace lock alone
//! orders every hand-off): the waker stores the outcome and notifies while holding the
//! namespace lock, the sleeper reads it after it wakes and relocks. A mailbox still empty after a wake-up
//! means "look again" (a sender woken because it may fit now, a receiver woken by `IPC_SET`,
//! a signal, or a spurious wake-up).

use crate::{
    messages::Msg,
    select::Mode, //
};
use kernel::{
    new_condvar, new_mutex,
    prelude::*,
    sync::{
        Arc,
        CondVar,
        Mutex, //
    },
};

/// What a waker leaves for a waiter.
pub(crate) type Outcome = Result<Msg>;

/// A task blocked in `msgsnd` or `msgrcv` (or their timed forms, or a blocking peek).
#[pin_data]
pub(crate) struct Waiter {
    /// A receiver's selection (unused for senders).
    pub(crate) mode: Mode,
    /// A receiver's largest acceptable message (`INT_MAX` with `MSG_NOERROR`); a sender's
    /// message size.
    pub(crate) size: u64,
    /// The waiting thread's id (`lrpid` after a hand-off).
    pub(crate) tid: i32,
    /// A receiver's place in its queue's blocking order (see [`crate::receivers`]).
    pub(crate) ticket: u64,
    /// The wake-up of this task only.
    #[pin]
    pub(crate) wake: CondVar,
    /// The outcome a waker leaves: a handed-off message (or a peeker's copy), `E2BIG`,
    /// `EIDRM` or `ECANCELED`.
    #[pin]
    mailbox: Mutex<Option<Outcome>>,
}

impl Waiter {
    /// A new waiter.
    pub(crate) fn new(mode: Mode, size: u64, tid: i32, ticket: u64) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Waiter {
                mode,
                size,
                tid,
                ticket,
                wake <- new_condvar!("Waiter::wake"),
                mailbox <- new_mutex!(None, "Waiter::mailbox"),
            }),
            GFP_KERNEL,
        )
    }

    /// Leaves `outcome` for the waiter and wakes it (the namespace lock is held).
    pub(crate) fn deliver(&self, outcome: Outcome) {
        let old = self.mailbox.lock().replace(outcome);
        self.wake.notify_one();
        // A waiter is unlinked when it is given an outcome, so there is no older one; were
        // there one, it is dropped here, outside the mailbox lock.
        drop(old);
    }

    /// Takes the outcome left for this waiter, if any.
    pub(crate) fn take(&self) -> Option<Outcome> {
        self.mailbox.lock().take()
    }
}
