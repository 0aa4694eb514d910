//! `msgq_select`: waiting until any of several (queue, `msgtyp`, `msgflg`) has a message a
//! receive would take, with a deadline (FreeRTOS's queue sets). It takes no message.
//!
//! One pass looks at each queue under its shard lock; while nothing is ready, the pass
//! leaves a watcher record (`kind::WATCHER`) on each queue's receiver lists under the same
//! lock, with the record's futex word read there, so that a send after the look wakes it
//! (the eventcount rule of `wait`, over several shards). Then the thread sleeps on all the
//! words at once (`FUTEX_WAITV`), frees its watchers and looks again. A queue that is
//! removed ends its watcher's wait with `EIDRM`; an inaccessible one is reported at once.

use super::guard::Shared;
use super::ops::{lookup, perm_of};
use super::queue;
use super::recovery;
use super::wait::{nap, passed};
use super::waiters::{self, Registered};
use super::Shards;
use crate::interrupt::{Since, Sleeping};
use crate::shm::layout::{kind, state, W};
use crate::sys::creds::Creds;
use crate::sys::futex::{self, Wake, WAIT_MANY_MAX};
use msgq_core::ext::{self, Deadline};
use msgq_core::perm;
use msgq_core::select::Mode;
use msgq_core::Errno;

/// One queue and selector to watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Want {
    /// The queue's id.
    pub id: i32,
    /// As `msgrcv`'s `msgtyp`: 0 any message, `n > 0` type `n` (or not `n` with
    /// `MSG_EXCEPT`), `n < 0` the lowest type up to `-n`.
    pub msgtyp: i64,
    /// `MSG_EXCEPT` matters; `IPC_NOWAIT` and `MSG_NOERROR` do not (nothing is received).
    pub msgflg: i32,
}

/// The most queues one select watches (`FUTEX_WAITV`'s limit).
pub const MAX: usize = WAIT_MANY_MAX;

/// Waits until some entry of `wants` is ready; fills `ready` (one per entry: 1 when a
/// receive would find a message, `-errno` when the queue cannot be watched: `EINVAL`,
/// `EIDRM`, `EACCES`; else 0) and returns how many are not 0. `EINVAL` for no entry or
/// more than [`MAX`]; `EINTR` when a signal handler ran; `ETIMEDOUT` at the deadline.
pub fn select(
    ns: &(impl Shards + ?Sized),
    wants: &[Want],
    deadline: Option<Deadline>,
    who: &Creds,
    ready: &mut [i32],
) -> Result<usize, Errno> {
    wait_until(ns, wants, deadline, who, ready, |r| r != 0)
}

/// Waits until the readiness of queue `want` (1, 0 or `-errno`, as [`select`] reports it)
/// is no longer `was` (for a watch fd, which follows whether a matching message is there);
/// returns the new readiness.
pub fn wait_change(
    ns: &(impl Shards + ?Sized),
    want: Want,
    was: i32,
    deadline: Option<Deadline>,
    who: &Creds,
) -> Result<i32, Errno> {
    let mut ready = [0];
    wait_until(ns, &[want], deadline, who, &mut ready, |r| r != was)?;
    Ok(ready[0])
}

/// Waits until `done` holds for the readiness of some entry (see [`select`]); returns how
/// many it holds for.
fn wait_until(
    ns: &(impl Shards + ?Sized),
    wants: &[Want],
    deadline: Option<Deadline>,
    who: &Creds,
    ready: &mut [i32],
    done: impl Fn(i32) -> bool,
) -> Result<usize, Errno> {
    if wants.is_empty() || wants.len() > MAX || ready.len() != wants.len() {
        return Err(Errno::EINVAL);
    }
    let since = Since::now();
    let shards: Vec<Result<Shared, Errno>> = wants
        .iter()
        .map(|w| {
            if w.id < 0 || w.msgflg & msgq_core::abi::MSG_COPY != 0 {
                Err(Errno::EINVAL)
            } else {
                ns.shard_of(w.id)
            }
        })
        .collect();
    loop {
        let mut watching: Vec<(usize, Registered, u32)> = Vec::new();
        let mut n = 0;
        for (i, w) in wants.iter().enumerate() {
            ready[i] = match &shards[i] {
                Err(e) => -e.0,
                Ok(sh) => {
                    let mut g = sh.lock()?;
                    match lookup(&g, w.id)
                        .and_then(|q| perm::ipcperms(&perm_of(&g, q), who, perm::READ).map(|()| q))
                    {
                        Err(e) => -e.0,
                        Ok(q) => {
                            let mode = Mode::of(w.msgtyp, w.msgflg);
                            let r = i32::from(queue::find(&g, q, mode).is_some());
                            if !done(r) && n == 0 {
                                let reg = waiters::register(&mut g, q, kind::WATCHER, mode, 0)
                                    .ok_or(Errno::ENOMEM)?;
                                g.commit();
                                let seen = g.futex_snapshot(reg.waiter());
                                watching.push((i, reg, seen));
                            }
                            r
                        }
                    }
                }
            };
            if done(ready[i]) {
                n += 1;
            }
        }
        let blocked = if n > 0 {
            Ok(())
        } else {
            ext::would_block(0, Errno::EAGAIN, since.fired(), passed(deadline))
        };
        if n == 0 && blocked.is_ok() {
            sleep(&shards, &watching, deadline, since);
        }
        // Free the watchers; a removal that ended one is reported.
        for (i, reg, _) in watching {
            let Ok(sh) = &shards[i] else { continue };
            let mut g = sh.lock()?;
            let st = g.get(reg.waiter().at(W::STATE));
            // A removed queue's waiters are detached from it (`W::QUEUE` 0).
            let q = reg.waiter().link::<super::records::Queue>(&g, W::QUEUE);
            waiters::release(&mut g, reg);
            if st == state::EIDRM && !done(ready[i]) {
                ready[i] = -Errno::EIDRM.0;
                n += usize::from(done(ready[i]));
            }
            if let Some(q) = q {
                recovery::sweep_dead(&mut g, q, 200_000_000);
            }
            g.commit();
        }
        blocked?;
        if n > 0 {
            return Ok(n);
        }
    }
}

/// Sleeps on the watchers' words until one changes, a handler runs, the deadline or a tick.
fn sleep(
    shards: &[Result<Shared, Errno>],
    watching: &[(usize, Registered, u32)],
    d: Option<Deadline>,
    since: Since,
) {
    let words: Vec<(futex::Futex<'_>, u32)> = watching
        .iter()
        .filter_map(|(i, reg, seen)| {
            let sh = shards[*i].as_ref().ok()?;
            Some((sh.arena.futex(reg.waiter().at(W::FUTEX)), *seen))
        })
        .collect();
    let Some(first) = words.first() else { return };
    // SAFETY: the word is in a watcher record this thread owns until `release`, after this
    // function returns (and `_sleeping` is dropped); the shard stays mapped meanwhile.
    let _sleeping = unsafe { Sleeping::on(first.0.addr()) };
    // A handler that ran since the last look but before `Sleeping::on` did not advance the
    // word: look at the count once more.
    if since.fired() {
        return;
    }
    let nap = nap(d);
    if nap.is_zero() {
        return;
    }
    let _: Wake = futex::wait_many(&words, nap);
}
