// SPDX-License-Identifier: GPL-2.0

//! `msgsnd` and `msgrcv`, step by step in the order of `ipc/msg.c`.
//!
//! User memory is only touched without the namespace lock: the message is copied in before the
//! lock is taken and copied out after it is dropped. A blocked call sleeps on its own
//! [`Waiter`] with the namespace lock released, and on a signal returns `ERESTARTNOHAND` as
//! msg.c does (userspace sees `EINTR` when a handler runs, whatever `SA_RESTART` says; with no
//! handler the call is restarted from scratch).

use crate::{
    abi,
    caller::{
        clock_ns,
        current_tgid,
        current_tid,
        jiffies_for,
        now,
        signal_pending,
        TaskCaller, //
    },
    checks, errno,
    ext::{
        self,
        Deadline,
        SendExt, //
    },
    ioctl, kerr,
    messages::{
        Msg,
        MsgBuf,
        HDR, //
    },
    namespace::{
        Namespace,
        NsGuard,
        Totals, //
    },
    perm,
    queue::Queue,
    select::Mode,
    waiter::Waiter,
};
use kernel::{
    prelude::*,
    sync::{
        Arc,
        CondVarTimeoutResult, //
    },
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

/// A user address from the ioctl struct (`EFAULT` if it cannot be one).
fn uaddr(p: u64) -> Result<UserPtr> {
    Ok(UserPtr::from_addr(usize::try_from(p).map_err(|_| EFAULT)?))
}

/// How a blocked call's sleep ended.
enum Woken {
    /// A waker left an outcome.
    Outcome(Result<Msg>),
    /// Nothing was left: the caller unlinked itself and must look again.
    Again,
}

/// Sleeps until `w` is woken, or until `deadline` passes; unlinks it unless a waker already
/// did. A pending signal with no outcome is `ERESTARTNOHAND`.
fn sleep(
    g: &mut NsGuard<'_>,
    msqid: i32,
    w: &Arc<Waiter>,
    deadline: Option<Deadline>,
) -> Result<Woken> {
    let signal = match deadline {
        None => w.wake.wait_interruptible(g),
        Some(d) => {
            let left = d.left_ns(clock_ns(d.clock));
            matches!(
                w.wake.wait_interruptible_timeout(g, jiffies_for(left)),
                CondVarTimeoutResult::Signal { .. }
            )
        }
    };
    // An outcome that raced with a signal or the timeout wins (a handed-off message is never
    // lost: the waker left it with the namespace lock held, which this task holds again).
    if let Some(o) = w.take() {
        return Ok(Woken::Outcome(o));
    }
    // No outcome, so the queue was not removed (removal gives every waiter `EIDRM`).
    if let Ok(q) = g.lookup(msqid) {
        q.unlink(w);
    }
    if signal {
        return Err(ERESTARTNOHAND);
    }
    Ok(Woken::Again)
}

/// What a call that would block does (`ext::would_block`'s order): `IPC_NOWAIT` gives
/// `nowait`, a pending signal `ERESTARTNOHAND` (`EINTR` when a handler runs, as the plain
/// calls; a restart is harmless since deadlines are absolute), a passed deadline
/// `ETIMEDOUT`; `Ok` means block.
fn may_block(msgflg: i32, nowait: errno::Errno, deadline: Option<Deadline>) -> Result {
    // The signal state and the clock are only read when `IPC_NOWAIT`, which comes first,
    // is not set.
    let blocking = msgflg & abi::IPC_NOWAIT == 0;
    let interrupted = blocking && signal_pending();
    let passed = blocking && deadline.is_some_and(|d| d.left_ns(clock_ns(d.clock)) == 0);
    match ext::would_block(msgflg, nowait, interrupted, passed) {
        Ok(()) => Ok(()),
        Err(errno::Errno::EINTR) => Err(ERESTARTNOHAND),
        Err(e) => Err(kerr(e)),
    }
}

/// The deadline of a timed call (`ext::deadline`: `EINVAL` for a bad clock or `tv_nsec`).
pub(crate) fn deadline_of(t: &ioctl::Timeout) -> Result<Option<Deadline>> {
    if t.present == 0 {
        return Ok(None);
    }
    ext::deadline(t.clockid, t.sec, t.nsec)
        .map(Some)
        .map_err(kerr)
}

/// The message to send, the buffer read with one user copy (`mtype` and text), when the
/// arguments other than `mtype` are valid and the copy and its allocation succeed; `None`
/// otherwise, for [`read_in_order`] to find out which error Linux's order gives. Read whole,
/// an invalid `mtype` is still `EINVAL`, as it is after msg.c's separate read; the only
/// difference is that its text was read too (unobservable but for fault counts).
fn read_whole(p: UserPtr, msqid: i32, msgsz: u64, msgmax: u32) -> Option<Result<Msg>> {
    let size = usize::try_from(msgsz).ok()?;
    checks::msgsnd_args(msqid, size, 1, msgmax).ok()?;
    let total = HDR.checked_add(size)?;
    let mut buf = MsgBuf::with_capacity(total).ok()?;
    buf.read_user(p, total).ok()?;
    let msg = Msg::from_buf(buf)?;
    Some(
        checks::msgsnd_args(msqid, size, msg.mtype, msgmax)
            .map_err(kerr)
            .map(|()| msg),
    )
}

/// The message to send, read in msg.c's order: `mtype` first (a bad pointer is `EFAULT`
/// whatever the other arguments), then the checks of size, `msqid` and `mtype`, then the
/// text (`ENOMEM`, `EFAULT`), all before the lookup.
fn read_in_order(p: UserPtr, msqid: i32, msgsz: u64, msgmax: u32) -> Result<Msg> {
    let mtype: i64 = UserSlice::new(p, HDR).reader().read()?;
    let size = usize::try_from(msgsz).map_err(|_| EINVAL)?;
    checks::msgsnd_args(msqid, size, mtype, msgmax).map_err(kerr)?;
    let mut buf = MsgBuf::with_capacity(HDR.checked_add(size).ok_or(ENOMEM)?)?;
    buf.extend_from_slice(&mtype.to_ne_bytes())?;
    // Zero bytes read nothing.
    if size > 0 {
        buf.read_user(p.wrapping_byte_add(HDR), size)?;
    }
    Msg::from_buf(buf).ok_or(EINVAL)
}

impl Namespace {
    /// `msgsnd(msqid, msgp, msgsz, msgflg)`.
    pub(crate) fn msgsnd(&self, msqid: i32, msgp: u64, msgsz: u64, msgflg: i32) -> Result<isize> {
        self.send(msqid, msgp, msgsz, msgflg, SendExt::default(), None)
    }

    /// `MSGQ_TIMEDSND`: `msgsnd` with the send extension bits and an optional deadline.
    pub(crate) fn timedsnd(&self, a: &ioctl::TimedSnd) -> Result<isize> {
        let (ext, msgflg) = ext::send_flags(a.msgflg).map_err(kerr)?;
        let deadline = deadline_of(&a.timeout)?;
        self.send(a.msqid, a.msgp, a.msgsz, msgflg, ext, deadline)
    }

    /// A send: `msgsnd` with the extensions `ext` (plain for `msgsnd`) and `deadline`.
    fn send(
        &self,
        msqid: i32,
        msgp: u64,
        msgsz: u64,
        msgflg: i32,
        ext: SendExt,
        deadline: Option<Deadline>,
    ) -> Result<isize> {
        let p = uaddr(msgp)?;
        let msgmax = self.msgmax();
        let msg = match read_whole(p, msqid, msgsz, msgmax) {
            Some(m) => m?,
            None => read_in_order(p, msqid, msgsz, msgmax)?,
        };
        let caller = TaskCaller::current();
        let msgsz = msg.size();
        let need = ext.perm();

        let mut g = self.inner.lock();
        // 6. Wait for room (an overwrite makes room instead, in `deliver`).
        loop {
            let (q, totals) = g.lookup_with_totals(msqid)?;
            perm::ipcperms(&q.perm, &caller, need).map_err(kerr)?;
            let room = if ext.overwrite {
                if !ext::overwrite_can_fit(msgsz, q.qbytes) {
                    return Err(kerr(ext::EMSGSIZE));
                }
                true
            } else {
                q.fits(msgsz)
            };
            if room {
                // One look-up for the checks and the send: the queue is passed on, not looked
                // up again.
                let r = Self::deliver(q, totals, msg, ext);
                drop(g);
                if r.is_ok() {
                    self.notify_pollers();
                }
                return r;
            }
            may_block(msgflg, errno::Errno::EAGAIN, deadline)?;
            let w = Waiter::new(Mode::Any, msgsz, current_tid(), 0)?;
            q.senders.push(w.clone(), GFP_KERNEL)?;
            match sleep(&mut g, msqid, &w, deadline)? {
                Woken::Outcome(Err(e)) => return Err(e),
                // Nobody hands a message to a sender.
                Woken::Outcome(Ok(_)) => return Err(EINVAL),
                Woken::Again => {}
            }
        }
    }

    /// Step 7 of a send, with the namespace lock held and room for `msg` in `q` (or an
    /// overwrite to make it): copies to the blocked peekers (and, broadcast, to every
    /// matching receiver), hand it to a waiting receiver, else enqueue it. What may be
    /// allocated (the enqueue's room, the copies) is allocated first, so nothing changes on
    /// `ENOMEM`.
    #[inline(always)]
    fn deliver(q: &mut Queue, totals: &mut Totals, msg: Msg, ext: SendExt) -> Result<isize> {
        let msgsz = msg.size();
        let t = now();
        q.msgs.prepare(msg.mtype)?;
        // Only made when there are copies to give (an empty `KVec` costs a `krealloc` call
        // when dropped).
        let mut copies = if q.peekers.is_empty() && !ext.broadcast {
            None
        } else {
            Some(q.copies_for(&msg, ext.broadcast)?)
        };
        let (dropped, dropped_bytes) = if ext.overwrite {
            q.drop_until_fits(msgsz)
        } else {
            (0, 0)
        };
        q.lspid = current_tgid();
        q.stime = t;
        let mut given = match copies.as_mut() {
            Some(c) if !q.peekers.is_empty() => q.give_peekers(&msg, c),
            _ => 0,
        };
        let left = match copies.as_mut() {
            Some(c) if ext.broadcast => {
                let (n, left) = q.broadcast(msg, t, c);
                given = given.saturating_add(n);
                left
            }
            // No receiver is blocked (the usual case): nothing to offer it to.
            _ if q.receivers.is_empty() => Some(msg),
            _ => q.pipelined_send(msg, t),
        };
        if let Some(msg) = left {
            // `prepare` made the room, so a push cannot fail.
            q.msgs.push_at(msg, ext.urgent).map_err(|_| ENOMEM)?;
            // `fits` checked (or the overwrite made sure) that these stay within qbytes.
            q.cbytes = q.cbytes.saturating_add(msgsz);
            q.qnum = q.qnum.saturating_add(1);
            totals.enqueue(msgsz);
        }
        if dropped > 0 {
            totals.dropped(dropped, dropped_bytes);
            // Blocked senders stay blocked when the room went to this message; when it was
            // handed over instead, the room may let some in (only those that fit are woken).
            q.wake_senders(false);
        }
        Ok(isize::try_from(ext.result(dropped, given as u64)).unwrap_or(isize::MAX))
    }

    /// `msgrcv(msqid, msgp, msgsz, msgtyp, msgflg)`.
    pub(crate) fn msgrcv(
        &self,
        msqid: i32,
        msgp: u64,
        msgsz: u64,
        msgtyp: i64,
        msgflg: i32,
    ) -> Result<isize> {
        self.recv(msqid, msgp, msgsz, msgtyp, msgflg, false, None)
    }

    /// `MSGQ_TIMEDRCV`: `msgrcv` with `MSGQ_PEEK` and an optional deadline.
    pub(crate) fn timedrcv(&self, a: &ioctl::TimedRcv) -> Result<isize> {
        let (ext, msgflg) = ext::recv_flags(a.msgflg).map_err(kerr)?;
        let deadline = deadline_of(&a.timeout)?;
        self.recv(
            a.msqid, a.msgp, a.msgsz, a.msgtyp, msgflg, ext.peek, deadline,
        )
    }

    /// A receive: `msgrcv`, or with `peek` a copy of the selected message left in place,
    /// waiting at most until `deadline`.
    #[allow(clippy::too_many_arguments)]
    fn recv(
        &self,
        msqid: i32,
        msgp: u64,
        msgsz: u64,
        msgtyp: i64,
        msgflg: i32,
        peek: bool,
        deadline: Option<Deadline>,
    ) -> Result<isize> {
        // 1, 2a. msqid, size, MSG_COPY's flags.
        let size = usize::try_from(msgsz).map_err(|_| EINVAL)?;
        checks::msgrcv_args(msqid, size, msgflg).map_err(kerr)?;
        let p = uaddr(msgp)?;
        // 2c. MSG_COPY reads min(msgsz, msgmax) bytes of the buffer before the lookup; the
        // copy is made into that buffer. Only MSG_COPY uses `msgmax` (an atomic read).
        let copy = msgflg & abi::MSG_COPY != 0;
        let msgmax = if copy { self.msgmax() } else { 0 };
        let mut copy_buf = MsgBuf::new();
        if copy {
            let probe = checks::msg_copy_probe_len(size, msgmax);
            // Room for the copy's `mtype` too.
            copy_buf = MsgBuf::with_capacity(HDR.checked_add(probe).ok_or(ENOMEM)?)?;
            if probe > 0 {
                copy_buf.read_user(p, probe)?;
            }
        }
        // 3. The mode.
        let mode = Mode::of(msgtyp, msgflg);
        let caller = TaskCaller::current();

        let mut g = self.inner.lock();
        let msg = 'found: loop {
            let q = g.lookup(msqid)?;
            perm::ipcperms(&q.perm, &caller, perm::READ).map_err(kerr)?;
            if let Some(slot) = q.msgs.find(mode) {
                let Some(m) = q.msgs.get(slot) else {
                    return Err(EINVAL);
                };
                checks::receive_len(m.size(), size, msgflg).map_err(kerr)?;
                if peek {
                    // A copy of what the receiver gets, made under the lock; the message,
                    // `rtime` and `lrpid` stay as they are.
                    let c = m.copy(size)?;
                    drop(g);
                    break 'found c;
                }
                if copy {
                    checks::copy_fits(m.size(), size, msgmax).map_err(kerr)?;
                    copy_buf.clear();
                    // Within the capacity allocated above (the message fits it), so no
                    // allocation.
                    copy_buf.extend_from_slice(m.bytes())?;
                    drop(g);
                    let buf = core::mem::replace(&mut copy_buf, MsgBuf::new());
                    break 'found Msg::from_buf(buf).ok_or(EINVAL)?;
                }
                let Some(m) = q.msgs.take(slot) else {
                    return Err(EINVAL);
                };
                let sz = m.size();
                q.qnum = q.qnum.saturating_sub(1);
                q.rtime = now();
                q.lrpid = current_tgid();
                q.cbytes = q.cbytes.saturating_sub(sz);
                if !q.senders.is_empty() {
                    q.wake_senders(false);
                }
                g.account_dequeue(sz);
                drop(g);
                self.notify_pollers();
                break 'found m;
            }
            may_block(msgflg, errno::Errno::ENOMSG, deadline)?;
            let maxsize = checks::receiver_maxsize(size, msgflg);
            let w = if peek {
                let w = Waiter::new(mode, maxsize, current_tid(), 0)?;
                q.peekers.push(w.clone(), GFP_KERNEL)?;
                w
            } else {
                q.receivers.add(mode, maxsize, current_tid())?
            };
            match sleep(&mut g, msqid, &w, deadline)? {
                Woken::Outcome(Ok(m)) => {
                    drop(g);
                    break 'found m;
                }
                Woken::Outcome(Err(e)) => return Err(e),
                Woken::Again => continue,
            }
        };

        // 7. Deliver without the lock: mtype and min(msgsz, size) bytes of text, in one copy
        // (msg.c's `put_user` then `copy_to_user` write the same bytes in the same order). A
        // fault here loses the message, as in Linux.
        let bytes = msg.head_and_text(size);
        let n = bytes.len().saturating_sub(HDR);
        crate::messages::write_user(p, bytes)?;
        drop(msg);
        // `n <= msgsz <= LONG_MAX` (checked in step 1).
        Ok(n as isize)
    }
}

impl Namespace {
    /// `MSGQ_PURGE`: discards every message of the queue (read permission, `ext::PURGE_PERM`);
    /// returns how many. Not a receive: `rtime`, `lrpid` and `ctime` stay as they are. Blocked
    /// senders whose message now fits are woken, as after a receive.
    pub(crate) fn purge(&self, msqid: i32) -> Result<isize> {
        let caller = TaskCaller::current();
        let mut g = self.inner.lock();
        let q = g.lookup(msqid)?;
        perm::ipcperms(&q.perm, &caller, ext::PURGE_PERM).map_err(kerr)?;
        let (n, bytes) = q.purge();
        g.account_dropped(n, bytes);
        drop(g);
        self.notify_pollers();
        Ok(isize::try_from(n).unwrap_or(isize::MAX))
    }

    /// `MSGQ_ABORT`: the blocked receivers (with peekers) and/or senders of the queue, as
    /// `which` says (`ext::abort_perm`: `EINVAL`, and the permission it needs), return
    /// `ECANCELED`; returns how many were woken.
    pub(crate) fn abort(&self, msqid: i32, which: i32) -> Result<isize> {
        let need = ext::abort_perm(which).map_err(kerr)?;
        let caller = TaskCaller::current();
        let mut g = self.inner.lock();
        let q = g.lookup(msqid)?;
        perm::ipcperms(&q.perm, &caller, need).map_err(kerr)?;
        let (receivers, senders) = ext::abort_targets(which);
        let n = q.abort(receivers, senders);
        Ok(isize::try_from(n).unwrap_or(isize::MAX))
    }
}
