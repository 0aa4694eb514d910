//! `msgget`, `msgsnd` and `msgrcv`, in the kernel's order of checks.

use super::guard::{Guard, Shared};
use super::queue;
use super::records::{Msg, Queue};
use super::recovery;
use super::waiters;
use super::{Sink, Source};
use crate::interrupt::Since;
use crate::shm::alloc;
use crate::shm::layout::{kind, state, H, IDS_OFF, KEYS_OFF, KEY_BUCKETS, M, Q, TYPE_SHIFT_MIN, W};
use crate::sys::creds::Creds;
use crate::sys::process;
use msgq_core::abi::*;
use msgq_core::ids::{self, IdState, IPCMNI};
use msgq_core::limits::fits;
use msgq_core::perm::{self, Perm};
use msgq_core::select::Mode;
use msgq_core::{checks, Errno};

/// The queue id `id` names, or EINVAL (unused index or stale sequence number).
pub fn lookup(g: &Guard, id: i32) -> Result<Queue, Errno> {
    if id < 0 {
        return Err(Errno::EINVAL);
    }
    Queue::at_off(g.get(IDS_OFF + 8 * ids::idx_of(id) as u64))
        .filter(|q| g.get(q.at(Q::SEQ)) == ids::seq_of(id) as u64)
        .ok_or(Errno::EINVAL)
}

/// The queue at the index `id` masks to (MSG_STAT), or EINVAL.
pub fn lookup_index(g: &Guard, id: i32) -> Result<Queue, Errno> {
    Queue::at_off(g.get(IDS_OFF + 8 * ids::idx_of(id) as u64)).ok_or(Errno::EINVAL)
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

/// The key-hash bucket word for `key`.
pub fn key_bucket(key: i32) -> u64 {
    KEYS_OFF + 8 * ((key as u32 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) % KEY_BUCKETS
}

fn find_key(g: &Guard, key: i32) -> Option<Queue> {
    let mut q = Queue::at_off(g.get(key_bucket(key)));
    while let Some(cur) = q.filter(|c| g.get(c.at(Q::KEY)) as i32 != key) {
        q = cur.link(g, Q::KNEXT);
    }
    q
}

/// msgget.
pub fn msgget(sh: &Shared, key: i32, msgflg: i32, who: &Creds) -> Result<i32, Errno> {
    let mut g = sh.lock()?;
    if key != IPC_PRIVATE {
        if let Some(q) = find_key(&g, key) {
            if msgflg & IPC_CREAT != 0 && msgflg & IPC_EXCL != 0 {
                return Err(Errno::EEXIST);
            }
            perm::ipcperms(&perm_of(&g, q), who, msgflg)?;
            return Ok(g.get(q.at(Q::ID)) as i32);
        }
        if msgflg & IPC_CREAT == 0 {
            return Err(Errno::ENOENT);
        }
    }
    let id = create(&mut g, key, msgflg, who)?;
    g.commit();
    Ok(id)
}

fn create(g: &mut Guard, key: i32, msgflg: i32, who: &Creds) -> Result<i32, Errno> {
    let qb = alloc::alloc(&mut g.tx, Q::SIZE).ok_or(Errno::ENOMEM)?;
    // The bucket array follows the block's class word.
    let nbuckets = 1u64 << TYPE_SHIFT_MIN;
    let bb = alloc::alloc(&mut g.tx, 8 * (nbuckets + 1)).ok_or(Errno::ENOMEM)?;
    let (q, buckets) = (Queue::new(qb.off()), bb.off() + 8);
    let in_use = g.get(H::IN_USE);
    if in_use >= (g.get(H::MSGMNI)).min(IPCMNI as u64) {
        return Err(Errno::ENOSPC);
    }
    let mut st = IdState {
        seq: g.get(H::SEQ) as u32,
        last_idx: g.get(H::LAST_IDX) as i64,
        cursor: g.get(H::CURSOR) as u32,
        next_id: g.get(H::NEXT_ID) as i64,
    };
    let Some((idx, seq)) = st.alloc(in_use as u32, |i| g.get(IDS_OFF + 8 * i as u64) != 0) else {
        // Linux consumes msg_next_id even when no index is free from it (ipc_idr_alloc
        // resets it first): undo the allocations above, keep only that.
        g.tx.rollback();
        g.put(H::NEXT_ID, st.next_id as u64);
        g.commit();
        return Err(Errno::ENOSPC);
    };
    g.put(H::SEQ, st.seq as u64);
    g.put(H::LAST_IDX, st.last_idx as u64);
    g.put(H::CURSOR, st.cursor as u64);
    g.put(H::NEXT_ID, st.next_id as u64);
    let id = ids::make_id(seq, idx);
    qb.zero(Q::KEY, Q::SIZE);
    bb.zero(8, 8 * (nbuckets + 1));
    let fields = [
        (Q::KEY, key as u32 as u64),
        (Q::UID, who.euid as u64),
        (Q::GID, who.egid as u64),
        (Q::CUID, who.euid as u64),
        (Q::CGID, who.egid as u64),
        (Q::MODE, (msgflg & 0o777) as u64),
        (Q::SEQ, seq as u64),
        (Q::ID, id as u32 as u64),
        (Q::CTIME, process::now_secs()),
        (Q::QBYTES, g.get(H::MSGMNB)),
        (Q::TBUCKETS, buckets),
        (Q::TSHIFT, TYPE_SHIFT_MIN),
    ];
    for (f, v) in fields {
        qb.init(f, v);
    }
    g.put(IDS_OFF + 8 * idx as u64, q.off());
    if key != IPC_PRIVATE {
        let b = key_bucket(key);
        qb.init(Q::KNEXT, g.get(b));
        g.put(b, q.off());
    }
    g.put(H::IN_USE, in_use + 1);
    let max = g.get(H::MAX_IDX) as i64;
    if idx as i64 > max {
        g.put(H::MAX_IDX, idx as u64);
    }
    Ok(id)
}

/// msgsnd, after `mtype` and the text were read from the caller.
pub fn msgsnd(
    sh: &Shared,
    id: i32,
    mtype: i64,
    text: &(impl Source + ?Sized),
    msgflg: i32,
    who: &Creds,
) -> Result<(), Errno> {
    checks::msgsnd_args(id, text.len(), mtype, sh.arena.get(H::MSGMAX) as u32)?;
    let size = text.len() as u64;
    let since = Since::now();
    #[cfg(feature = "fault-injection")]
    crate::fault::phase(crate::fault::Phase::Start);
    let mut g = sh.lock()?;
    let q = loop {
        let q = lookup(&g, id)?;
        perm::ipcperms(&perm_of(&g, q), who, perm::WRITE)?;
        if fits(
            size,
            g.get(q.at(Q::CBYTES)),
            g.get(q.at(Q::QNUM)),
            g.get(q.at(Q::QBYTES)),
        ) {
            break q;
        }
        if msgflg & IPC_NOWAIT != 0 {
            return Err(Errno::EAGAIN);
        }
        // The call would block: a handler that ran since it started interrupts it.
        if since.fired() {
            return Err(Errno::EINTR);
        }
        let reg =
            waiters::register(&mut g, q, kind::SENDER, Mode::Any, size).ok_or(Errno::ENOMEM)?;
        g.commit();
        let (g2, how) = super::wait::wait(sh, g, reg.waiter(), since)?;
        g = g2;
        waiters::release(&mut g, reg);
        g.commit();
        match how {
            Ok(state::EIDRM) => return Err(Errno::EIDRM),
            Err(true) => return Err(Errno::EINTR),
            _ => continue,
        }
    };
    let fresh = queue::new_message(&mut g, mtype, text)?;
    let m = Msg::new(fresh.off());
    g.put(q.at(Q::LSPID), process::pid() as u64);
    g.put(q.at(Q::STIME), process::now_secs());
    if !waiters::pipelined_send(&mut g, q, m) {
        let tr = queue::type_rec_or_new(&mut g, q, mtype).ok_or(Errno::ENOMEM)?;
        fresh.init(M::TREC, tr.off());
        queue::enqueue(&mut g, q, m, tr);
    }
    g.commit();
    Ok(())
}

/// msgrcv, after the argument checks and MSG_COPY's buffer probe.
pub fn msgrcv(
    sh: &Shared,
    id: i32,
    msgsz: usize,
    msgtyp: i64,
    msgflg: i32,
    who: &Creds,
    sink: &mut dyn Sink,
) -> Result<usize, Errno> {
    checks::msgrcv_args(id, msgsz, msgflg)?;
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
                checks::copy_fits(size, msgsz, g.get(H::MSGMAX) as u32)?;
                sink.deliver(mtype, &queue::text(&g, m)[..n])?;
                return Ok(n);
            }
            queue::unlink(&mut g, q, m);
            g.put(q.at(Q::RTIME), process::now_secs());
            g.put(q.at(Q::LRPID), process::pid() as u64);
            waiters::wake_senders(&mut g, q);
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
        if msgflg & IPC_NOWAIT != 0 {
            return Err(Errno::ENOMSG);
        }
        // The call would block: a handler that ran since it started interrupts it.
        if since.fired() {
            return Err(Errno::EINTR);
        }
        let maxsize = checks::receiver_maxsize(msgsz, msgflg);
        let reg =
            waiters::register(&mut g, q, kind::RECEIVER, mode, maxsize).ok_or(Errno::ENOMEM)?;
        g.commit();
        let w = reg.waiter();
        let (g2, how) = super::wait::wait(sh, g, w, since)?;
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
                return Err(if st == state::E2BIG {
                    Errno::E2BIG
                } else {
                    Errno::EIDRM
                });
            }
            Err(signal) => {
                waiters::release(&mut g, reg);
                g.commit();
                if signal {
                    return Err(Errno::EINTR);
                }
            }
        }
    }
}
