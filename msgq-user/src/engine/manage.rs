//! `msgq_purge` and `msgq_abort`: acting on all of a queue's messages, or all of its
//! blocked callers, at once. Each runs under its queue's shard lock only.

use super::ops::{lookup, perm_of, BATCH_RESERVE};
use super::queue;
use super::records::Msg;
use super::waiters;
use super::Shards;
use crate::shm::alloc;
use crate::shm::layout::Q;
use crate::sys::creds::Creds;
use msgq_core::ext;
use msgq_core::perm;
use msgq_core::Errno;

/// Discards every message of queue `id` (read permission: a reader could take them all);
/// returns how many. Blocked senders whose message now fits are woken. Not a receive: the
/// queue's `msg_rtime` and `msg_lrpid` stay as they were.
pub fn purge(ns: &(impl Shards + ?Sized), id: i32, who: &Creds) -> Result<u64, Errno> {
    if id < 0 {
        return Err(Errno::EINVAL);
    }
    let sh = &ns.shard_of(id)?;
    let mut g = sh.lock()?;
    let q = lookup(&g, id)?;
    perm::ipcperms(&perm_of(&g, q), who, ext::PURGE_PERM)?;
    let mut n = 0;
    while let Some(m) = q.link::<Msg>(&g, Q::MHEAD) {
        queue::unlink(&mut g, q, m);
        alloc::free(&mut g.tx, m.off());
        n += 1;
        if g.tx.room() < BATCH_RESERVE {
            g.commit();
        }
    }
    waiters::wake_senders(&mut g, q);
    waiters::wake_watchers(&mut g, q);
    g.commit();
    Ok(n)
}

/// Ends the wait of queue `id`'s blocked receivers and peekers
/// ([`ext::MSGQ_ABORT_RECEIVERS`]), senders ([`ext::MSGQ_ABORT_SENDERS`]) or both, which
/// fail with `ECANCELED`; returns how many. The permission needed is
/// [`ext::abort_perm`]'s.
pub fn abort(ns: &(impl Shards + ?Sized), id: i32, which: i32, who: &Creds) -> Result<u64, Errno> {
    let need = ext::abort_perm(which)?;
    if id < 0 {
        return Err(Errno::EINVAL);
    }
    let sh = &ns.shard_of(id)?;
    let mut g = sh.lock()?;
    let q = lookup(&g, id)?;
    perm::ipcperms(&perm_of(&g, q), who, need)?;
    let (receivers, senders) = ext::abort_targets(which);
    let n = waiters::abort(&mut g, q, receivers, senders);
    g.commit();
    Ok(n)
}

/// How many callers are blocked on queue `id`: receivers (peekers included) and senders,
/// live ones only (read permission, as `IPC_STAT`). An msgq addition: Linux keeps no such
/// count visible.
pub fn waiting(ns: &(impl Shards + ?Sized), id: i32, who: &Creds) -> Result<(u64, u64), Errno> {
    if id < 0 {
        return Err(Errno::EINVAL);
    }
    let sh = &ns.shard_of(id)?;
    let mut g = sh.lock()?;
    let q = lookup(&g, id)?;
    perm::ipcperms(&perm_of(&g, q), who, perm::READ)?;
    let (r, s) = waiters::count(&mut g, q);
    g.commit();
    Ok((r, s))
}
