//! `msgsnd` and `msgrcv` (and `msgget`'s part in the shard), in the kernel's order of
//! checks. Each runs under its queue's shard lock only.

use super::guard::Guard;
use super::queue;
use super::records::{Msg, Queue};
use super::recovery;
use super::registry::live_queue;
use super::wait::{passed, Ended};
use super::waiters;
use super::Shards;
use super::{Sink, Source};
use crate::interrupt::Since;
use crate::shm::alloc;
use crate::shm::layout::{kind, state, H, M, Q, TYPE_SHIFT_MIN, W};
use crate::sys::creds::Creds;
use crate::sys::process;
use msgq_core::abi::*;
use msgq_core::ext::{self, linux_bits, Deadline, RecvExt, SendExt};
use msgq_core::ids;
use msgq_core::limits::fits;
use msgq_core::perm::{self, Perm};
use msgq_core::select::Mode;
use msgq_core::{checks, Errno};

/// The queue id `id` names in its shard (`g`), or EINVAL (no live queue at that index, or
/// a stale sequence number).
pub fn lookup(g: &Guard, id: i32) -> Result<Queue, Errno> {
    if id < 0 {
        return Err(Errno::EINVAL);
    }
    live_queue(g)
        .filter(|q| g.get(q.at(Q::SEQ)) == ids::seq_of(id) as u64)
        .ok_or(Errno::EINVAL)
}

/// The live queue of the shard of the index asked for (MSG_STAT), or EINVAL.
pub fn lookup_index(g: &Guard) -> Result<Queue, Errno> {
    live_queue(g).ok_or(Errno::EINVAL)
}

/// A queue's ownership and mode.
pub fn perm_of(g: &Guard, q: Queue) -> Perm {
    Perm {
        key: g.get(q.at(Q::KEY)) as i32,
        uid: g.get(q.at(Q::UID)) as u32,
        gid: g.get(q.at(Q::GID)) as u32,
        cuid: g.get(q.at(Q::CUID)) as u32,
        cgid: g.get(q.at(Q::CGID)) as u32,
        mode: g.get(q.at(Q::MODE)) as u32,
    }
}

/// What a new queue starts with: its `ipc_perm`, sequence number, id, quota and ctime.
pub struct NewQueue {
    pub perm: Perm,
    pub seq: u32,
    pub id: i32,
    pub qbytes: u64,
    pub ctime: u64,
}

/// Makes queue `nq` the live queue of shard `g` (msgget's part in the shard), and commits.
pub fn create_in_shard(g: &mut Guard, nq: &NewQueue) -> Result<(), Errno> {
    if g.get(H::LIVE) != 0 {
        // The registry (or the anchor) said the index was free: a damaged store.
        crate::shm::arena::corrupt(H::LIVE);
    }
    let qb = alloc::alloc(&mut g.tx, Q::SIZE).ok_or(Errno::ENOMEM)?;
    // The bucket array follows the block's class word.
    let nbuckets = 1u64 << TYPE_SHIFT_MIN;
    let bb = alloc::alloc(&mut g.tx, 8 * (nbuckets + 1)).ok_or(Errno::ENOMEM)?;
    let (q, buckets) = (Queue::new(qb.off()), bb.off() + 8);
    qb.zero(Q::KEY, Q::SIZE);
    bb.zero(8, 8 * (nbuckets + 1));
    let p = &nq.perm;
    let fields = [
        (Q::KEY, p.key as u32 as u64),
        (Q::UID, p.uid as u64),
        (Q::GID, p.gid as u64),
        (Q::CUID, p.cuid as u64),
        (Q::CGID, p.cgid as u64),
        (Q::MODE, (p.mode & 0o777) as u64),
        (Q::SEQ, nq.seq as u64),
        (Q::ID, nq.id as u32 as u64),
        (Q::CTIME, nq.ctime),
        (Q::QBYTES, nq.qbytes),
        (Q::TBUCKETS, buckets),
        (Q::TSHIFT, TYPE_SHIFT_MIN),
    ];
    for (f, v) in fields {
        qb.init(f, v);
    }
    g.put(H::LIVE, q.off());
    g.commit();
    Ok(())
}

/// How a send or a receive may go beyond `msgsnd`/`msgrcv`: the extension flags (checked
/// by `msgq_core::ext`) and a deadline.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ext<E> {
    pub ext: E,
    pub deadline: Option<Deadline>,
}

/// msgsnd, after `mtype` and the text were read from the caller.
pub fn msgsnd(
    ns: &(impl Shards + ?Sized),
    id: i32,
    mtype: i64,
    text: &(impl Source + ?Sized),
    msgflg: i32,
    who: &Creds,
) -> Result<(), Errno> {
    send(ns, id, mtype, text, linux_bits(msgflg), Ext::default(), who).map(|_| ())
}

/// A send with the extensions (`msgflg` holds only Linux's bits). Returns 0, or with
/// overwrite the number of messages dropped, or with broadcast the number of blocked
/// callers given the message.
pub fn send(
    ns: &(impl Shards + ?Sized),
    id: i32,
    mtype: i64,
    text: &(impl Source + ?Sized),
    msgflg: i32,
    x: Ext<SendExt>,
    who: &Creds,
) -> Result<u64, Errno> {
    checks::msgsnd_args(id, text.len(), mtype, ns.msgmax() as u32)?;
    let sh = &ns.shard_of(id)?;
    let size = text.len() as u64;
    let since = Since::now();
    #[cfg(feature = "fault-injection")]
    crate::fault::phase(crate::fault::Phase::Start);
    let mut g = sh.lock()?;
    let mut dropped = 0;
    let q = loop {
        let q = lookup(&g, id)?;
        perm::ipcperms(&perm_of(&g, q), who, x.ext.perm())?;
        if x.ext.overwrite {
            dropped = drop_until_fits(&mut g, q, size)?;
            break q;
        }
        if fits(
            size,
            g.get(q.at(Q::CBYTES)),
            g.get(q.at(Q::QNUM)),
            g.get(q.at(Q::QBYTES)),
        ) {
            break q;
        }
        ext::would_block(msgflg, Errno::EAGAIN, since.fired(), passed(x.deadline))?;
        let reg =
            waiters::register(&mut g, q, kind::SENDER, Mode::Any, size).ok_or(Errno::ENOMEM)?;
        g.commit();
        let (g2, how) = super::wait::wait(sh, g, reg.waiter(), since, x.deadline)?;
        g = g2;
        waiters::release(&mut g, reg);
        g.commit();
        match how {
            Ok(st) if st != state::WOKEN => return Err(ended_with(st)),
            Err(Ended::Signal) => return Err(Errno::EINTR),
            Err(Ended::TimedOut) => return Err(ext::ETIMEDOUT),
            _ => continue,
        }
    };
    let fresh = queue::new_message(&mut g, mtype, text)?;
    let m = Msg::new(fresh.off());
    g.put(q.at(Q::LSPID), process::caller_pid() as u64);
    g.put(q.at(Q::STIME), process::now_secs());
    let offered = waiters::offer(&mut g, q, m, x.ext.broadcast);
    if !offered.taken {
        let tr = queue::type_rec_or_new(&mut g, q, mtype).ok_or(Errno::ENOMEM)?;
        fresh.init(M::TREC, tr.off());
        if x.ext.urgent {
            queue::enqueue_front(&mut g, q, m, tr);
        } else {
            queue::enqueue(&mut g, q, m, tr);
        }
    }
    if dropped > 0 {
        // The drops may have left more room than the new message took (or it went to a
        // receiver): blocked senders whose message fits now proceed.
        waiters::wake_senders(&mut g, q);
    }
    g.commit();
    Ok(x.ext.result(dropped, offered.given))
}

/// The errno of a wait that ended with state `st` (not a hand-off).
fn ended_with(st: u64) -> Errno {
    match st {
        state::E2BIG => Errno::E2BIG,
        state::ECANCELED => ext::ECANCELED,
        _ => Errno::EIDRM,
    }
}

/// Overwrite: drops queue `q`'s oldest messages until `size` more bytes fit; returns how
/// many. `EMSGSIZE` (nothing dropped) when it could never fit. Drops are committed in
/// batches when the undo log fills, so any number of them fits.
fn drop_until_fits(g: &mut Guard, q: Queue, size: u64) -> Result<u64, Errno> {
    if !ext::overwrite_can_fit(size, g.get(q.at(Q::QBYTES))) {
        return Err(ext::EMSGSIZE);
    }
    // The new message must have room in the store before anything is dropped: a failed
    // overwrite drops nothing. Blocks the drops free are reusable only once committed, so
    // the block is asked for now (and given back); the drops only free, so it is still
    // there afterwards.
    g.commit();
    if alloc::alloc(&mut g.tx, M::SIZE + size).is_none() {
        return Err(Errno::ENOMEM);
    }
    g.tx.rollback();
    let mut n = 0;
    while !fits(
        size,
        g.get(q.at(Q::CBYTES)),
        g.get(q.at(Q::QNUM)),
        g.get(q.at(Q::QBYTES)),
    ) {
        let Some(m) = q.link::<Msg>(g, Q::MHEAD) else {
            break;
        };
        queue::unlink(g, q, m);
        alloc::free(&mut g.tx, m.off());
        n += 1;
        if g.tx.room() < BATCH_RESERVE {
            g.commit();
        }
    }
    if n > 0 {
        waiters::wake_watchers(g, q);
    }
    Ok(n)
}

/// Undo-log entries kept free while a purge or an overwrite drops messages: below this,
/// what was dropped so far is committed (each drop is a consistent state).
pub(super) const BATCH_RESERVE: u64 = 256;

/// msgrcv, after the argument checks and MSG_COPY's buffer probe.
pub fn msgrcv(
    ns: &(impl Shards + ?Sized),
    id: i32,
    msgsz: usize,
    msgtyp: i64,
    msgflg: i32,
    who: &Creds,
    sink: &mut dyn Sink,
) -> Result<usize, Errno> {
    receive(
        ns,
        id,
        msgsz,
        msgtyp,
        linux_bits(msgflg),
        Ext::default(),
        who,
        sink,
    )
}

/// A receive with the extensions (`msgflg` holds only Linux's bits): a peek copies the
/// message without removing it, and may block.
#[allow(clippy::too_many_arguments)]
pub fn receive(
    ns: &(impl Shards + ?Sized),
    id: i32,
    msgsz: usize,
    msgtyp: i64,
    msgflg: i32,
    x: Ext<RecvExt>,
    who: &Creds,
    sink: &mut dyn Sink,
) -> Result<usize, Errno> {
    checks::msgrcv_args(id, msgsz, msgflg)?;
    let sh = &ns.shard_of(id)?;
    let mode = Mode::of(msgtyp, msgflg);
    let since = Since::now();
    #[cfg(feature = "fault-injection")]
    crate::fault::phase(crate::fault::Phase::Start);
    let mut g = sh.lock()?;
    loop {
        let q = lookup(&g, id)?;
        perm::ipcperms(&perm_of(&g, q), who, perm::READ)?;
        if let Some(m) = queue::find(&g, q, mode) {
            let size = g.get(m.at(M::LEN));
            let n = checks::receive_len(size, msgsz, msgflg)?;
            let mtype = g.get(m.at(M::TYPE)) as i64;
            if msgflg & MSG_COPY != 0 {
                checks::copy_fits(size, msgsz, sh.msgmax() as u32)?;
            }
            if msgflg & MSG_COPY != 0 || x.ext.peek {
                sink.deliver(mtype, &queue::text(&g, m)[..n])?;
                return Ok(n);
            }
            queue::unlink(&mut g, q, m);
            g.put(q.at(Q::RTIME), process::now_secs());
            g.put(q.at(Q::LRPID), process::caller_pid() as u64);
            waiters::wake_senders(&mut g, q);
            waiters::wake_watchers(&mut g, q);
            let r = sink.deliver(mtype, &queue::text(&g, m)[..n]);
            alloc::free(&mut g.tx, m.off());
            g.commit();
            return r.map(|()| n);
        }
        if g.get(H::PENDING_HEAD) != 0 {
            // A message handed to a receiver that died is not lost: put it back and look
            // again before reporting that there is nothing.
            let before = g.get(q.at(Q::QNUM));
            recovery::sweep_pending(&mut g);
            g.commit();
            if g.get(q.at(Q::QNUM)) != before {
                continue;
            }
        }
        ext::would_block(msgflg, Errno::ENOMSG, since.fired(), passed(x.deadline))?;
        let maxsize = checks::receiver_maxsize(msgsz, msgflg);
        let k = if x.ext.peek {
            kind::PEEKER
        } else {
            kind::RECEIVER
        };
        let reg = waiters::register(&mut g, q, k, mode, maxsize).ok_or(Errno::ENOMEM)?;
        g.commit();
        let w = reg.waiter();
        let (g2, how) = super::wait::wait(sh, g, w, since, x.deadline)?;
        g = g2;
        match how {
            Ok(state::DELIVERED) => {
                let Some(m) = w.link::<Msg>(&g, W::MSG) else {
                    crate::shm::arena::corrupt(w.at(W::MSG));
                };
                let size = g.get(m.at(M::LEN));
                let n = (size as usize).min(msgsz);
                let mtype = g.get(m.at(M::TYPE)) as i64;
                let r = sink.deliver(mtype, &queue::text(&g, m)[..n]);
                waiters::release(&mut g, reg);
                g.commit();
                return r.map(|()| n);
            }
            Ok(st) => {
                waiters::release(&mut g, reg);
                g.commit();
                return Err(ended_with(st));
            }
            Err(how) => {
                waiters::release(&mut g, reg);
                g.commit();
                match how {
                    Ended::Signal => return Err(Errno::EINTR),
                    Ended::TimedOut => return Err(ext::ETIMEDOUT),
                    Ended::Woken => {}
                }
            }
        }
    }
}
