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
        current_tgid,
        current_tid,
        now,
        TaskCaller, //
    },
    checks, kerr,
    messages::{
        Msg,
        HDR, //
    },
    namespace::{
        Namespace,
        NsGuard, //
    },
    perm,
    select::Mode,
    waiter::Waiter,
};
use kernel::{
    prelude::*,
    sync::Arc,
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

/// Sleeps until `w` is woken; unlinks it unless a waker already did. A pending signal with no
/// outcome is `ERESTARTNOHAND`.
fn sleep(g: &mut NsGuard<'_>, msqid: i32, w: &Arc<Waiter>) -> Result<Woken> {
    let signal = w.wake.wait_interruptible(g);
    // An outcome that raced with a signal wins (a handed-off message is never lost).
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

/// The message to send, the buffer read with one user copy (`mtype` and text), when the
/// arguments other than `mtype` are valid and the copy and its allocation succeed; `None`
/// otherwise, for [`read_in_order`] to find out which error Linux's order gives. Read whole,
/// an invalid `mtype` is still `EINVAL`, as it is after msg.c's separate read; the only
/// difference is that its text was read too (unobservable but for fault counts).
fn read_whole(p: UserPtr, msqid: i32, msgsz: u64, msgmax: u32) -> Option<Result<Msg>> {
    let size = usize::try_from(msgsz).ok()?;
    checks::msgsnd_args(msqid, size, 1, msgmax).ok()?;
    let total = HDR.checked_add(size)?;
    let flags = GFP_KERNEL_ACCOUNT | __GFP_NOWARN;
    let mut buf = KVVec::with_capacity(total, flags).ok()?;
    UserSlice::new(p, total).read_all(&mut buf, flags).ok()?;
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
    let flags = GFP_KERNEL_ACCOUNT | __GFP_NOWARN;
    let mut buf = KVVec::with_capacity(HDR.checked_add(size).ok_or(ENOMEM)?, flags)?;
    buf.extend_from_slice(&mtype.to_ne_bytes(), flags)?;
    // Zero bytes read nothing.
    if size > 0 {
        UserSlice::new(p.wrapping_byte_add(HDR), size).read_all(&mut buf, flags)?;
    }
    Msg::from_buf(buf).ok_or(EINVAL)
}

impl Namespace {
    /// `msgsnd(msqid, msgp, msgsz, msgflg)`.
    pub(crate) fn msgsnd(&self, msqid: i32, msgp: u64, msgsz: u64, msgflg: i32) -> Result<isize> {
        let p = uaddr(msgp)?;
        let msgmax = self.msgmax();
        let msg = match read_whole(p, msqid, msgsz, msgmax) {
            Some(m) => m?,
            None => read_in_order(p, msqid, msgsz, msgmax)?,
        };
        let caller = TaskCaller::current();
        let msgsz = msg.size();

        let mut g = self.inner.lock();
        // 6. Wait for room.
        loop {
            let q = g.lookup(msqid)?;
            perm::ipcperms(&q.perm, &caller, perm::WRITE).map_err(kerr)?;
            if q.fits(msgsz) {
                break;
            }
            if msgflg & abi::IPC_NOWAIT != 0 {
                return Err(EAGAIN);
            }
            let w = Waiter::new(Mode::Any, msgsz, current_tid(), 0)?;
            q.senders.push(w.clone(), GFP_KERNEL)?;
            match sleep(&mut g, msqid, &w)? {
                Woken::Outcome(Err(e)) => return Err(e),
                // Nobody hands a message to a sender.
                Woken::Outcome(Ok(_)) => return Err(EINVAL),
                Woken::Again => {}
            }
        }
        // 7. Send: hand it to a waiting receiver, else enqueue it. What an enqueue may
        // allocate is allocated first, so nothing changes on ENOMEM.
        let t = now();
        let q = g.lookup(msqid)?;
        q.msgs.prepare(msg.mtype)?;
        q.lspid = current_tgid();
        q.stime = t;
        if let Some(msg) = q.pipelined_send(msg, t) {
            q.msgs.push(msg).map_err(|_| ENOMEM)?;
            // `fits` checked that these stay within qbytes.
            q.cbytes = q.cbytes.saturating_add(msgsz);
            q.qnum = q.qnum.saturating_add(1);
            g.account_enqueue(msgsz);
        }
        self.notify_pollers();
        Ok(0)
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
        // 1, 2a. msqid, size, MSG_COPY's flags.
        let size = usize::try_from(msgsz).map_err(|_| EINVAL)?;
        checks::msgrcv_args(msqid, size, msgflg).map_err(kerr)?;
        let p = uaddr(msgp)?;
        let msgmax = self.msgmax();
        // 2c. MSG_COPY reads min(msgsz, msgmax) bytes of the buffer before the lookup; the
        // copy is made into that buffer.
        let copy = msgflg & abi::MSG_COPY != 0;
        let mut copy_buf = KVVec::new();
        if copy {
            let probe = checks::msg_copy_probe_len(size, msgmax);
            let flags = GFP_KERNEL_ACCOUNT | __GFP_NOWARN;
            // Room for the copy's `mtype` too.
            copy_buf = KVVec::with_capacity(HDR.checked_add(probe).ok_or(ENOMEM)?, flags)?;
            if probe > 0 {
                UserSlice::new(p, probe).read_all(&mut copy_buf, flags)?;
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
                if copy {
                    checks::copy_fits(m.size(), size, msgmax).map_err(kerr)?;
                    copy_buf.clear();
                    // Within the capacity allocated above (the message fits it), so no
                    // allocation.
                    copy_buf.extend_from_slice(m.bytes(), GFP_KERNEL_ACCOUNT)?;
                    drop(g);
                    let buf = core::mem::take(&mut copy_buf);
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
                q.wake_senders(false);
                g.account_dequeue(sz);
                drop(g);
                self.notify_pollers();
                break 'found m;
            }
            if msgflg & abi::IPC_NOWAIT != 0 {
                return Err(ENOMSG);
            }
            let maxsize = checks::receiver_maxsize(size, msgflg);
            let w = q.receivers.add(mode, maxsize, current_tid())?;
            match sleep(&mut g, msqid, &w)? {
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
        UserSlice::new(p, bytes.len()).writer().write_slice(bytes)?;
        drop(msg);
        // `n <= msgsz <= LONG_MAX` (checked in step 1).
        Ok(n as isize)
    }
}
