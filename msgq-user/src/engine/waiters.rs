//! Blocked receivers and senders.
//!
//! A waiter is a record in the store (not on a stack: the process may die). Receivers wait
//! on one of two lists: the type record's list when they want exactly one type, else the
//! queue's general list; senders wait on the queue's sender list. Every waiter has a futex
//! word; it sleeps on it after reading its value under the lock, and a waker changes the
//! waiter's `STATE` under the lock and bumps the word before unlocking (an eventcount), so
//! no wake-up is lost. A waiter reads its `STATE` only under the lock, and the waker's writes
//! are in the undo log, so a waker that dies mid-update is rolled back before anyone sees.
//!
//! A message handed to a receiver moves with the receiver's record onto the store's
//! pending list until the receiver claims it. If the receiver died first,
//! `recovery::sweep_pending` puts the message back in its queue.

use super::guard::Guard;
use super::lists::List;
use super::queue;
use super::records::{off_of, Msg, Queue, TypeRec, Waiter};
use crate::shm::alloc;
use crate::shm::layout::{kind, list, state, H, M, Q, T, W};
use crate::sys::liveness::{self, Probe};
use crate::sys::process;
use msgq_core::ext::Offer;
use msgq_core::select::Mode;
use msgq_core::wakeup::{handoff, Candidate, SenderStep, SenderWakeup, Side};

pub fn general(q: Queue) -> List {
    List {
        head: q.at(Q::RHEAD),
        tail: q.at(Q::RTAIL),
        next: W::NEXT,
        prev: W::PREV,
    }
}

pub fn typed(tr: TypeRec) -> List {
    List {
        head: tr.at(T::RHEAD),
        tail: tr.at(T::RTAIL),
        next: W::NEXT,
        prev: W::PREV,
    }
}

pub fn senders(q: Queue) -> List {
    List {
        head: q.at(Q::SHEAD),
        tail: q.at(Q::STAIL),
        next: W::NEXT,
        prev: W::PREV,
    }
}

pub fn pending() -> List {
    List {
        head: H::PENDING_HEAD,
        tail: H::PENDING_TAIL,
        next: W::NEXT,
        prev: W::PREV,
    }
}

/// The first waiter of the list whose head word is `head_word` (callers read each next
/// link before visiting a waiter, so a visit may unlink or free it).
fn walk(g: &Guard, head_word: u64) -> Option<Waiter> {
    Waiter::at_off(g.get(head_word))
}

/// The mode a receiver record waits with.
pub fn mode_of(g: &Guard, w: Waiter) -> Mode {
    Mode::decode(g.get(w.at(W::MODEK)) as u32, g.get(w.at(W::MODEV)) as i64)
        .unwrap_or(Mode::Number(0))
}

/// The queue waiter `w` waits on.
pub fn queue_of(g: &Guard, w: Waiter) -> Queue {
    match w.link(g, W::QUEUE) {
        Some(q) => q,
        None => crate::shm::arena::corrupt(w.at(W::QUEUE)),
    }
}

/// A waiter record the calling thread registered and owns: it holds the record's liveness
/// mutex, so to everyone else the record's thread is alive.
///
/// INVARIANT: exactly one of two things ends it. [`release`] (under the store lock) frees
/// the record; dropping it any other way (an error or a panic between registering and
/// releasing: the store lock lost, a corrupt store) lets go of the liveness mutex, so the
/// record counts as dead and whoever meets it next drops it, or puts back a message handed
/// to it. A record never stays alive-looking with nobody left to claim what it is given.
#[must_use]
pub struct Registered {
    w: Waiter,
    live: *mut libc::pthread_mutex_t,
}

impl Registered {
    /// The record.
    pub fn waiter(&self) -> Waiter {
        self.w
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        // SAFETY: the calling thread locked this mutex in `register` (a `Registered` never
        // leaves its thread: it holds a raw pointer, so it is neither Send nor Sync), and the
        // store stays mapped while an engine call runs.
        unsafe { liveness::let_go(self.live) };
    }
}

/// Registers the caller as a waiter on queue `q`: a receiver with `mode` and `maxsize`, or a
/// sender of `maxsize` bytes. `None` when the store is full.
pub fn register(g: &mut Guard, q: Queue, k: u64, mode: Mode, maxsize: u64) -> Option<Registered> {
    let tr = match (k, mode) {
        (kind::RECEIVER | kind::PEEKER, Mode::Equal(t)) => Some(queue::type_rec_or_new(g, q, t)?),
        _ => None,
    };
    let fresh = alloc::alloc(&mut g.tx, W::SIZE)?;
    let w = Waiter::new(fresh.off());
    let (mk, mv) = mode.encode();
    let order = g.get(H::ORDER);
    g.put(H::ORDER, order + 1);
    let fields = [
        (W::KIND, k),
        (W::QUEUE, q.off()),
        (W::QID, g.get(q.at(Q::ID))),
        (W::MODEK, mk as u64),
        (W::MODEV, mv as u64),
        (W::MAXSIZE, maxsize),
        (W::STATE, state::WAITING),
        (W::MSG, 0),
        (W::NEXT, 0),
        (W::PREV, 0),
        (W::ORDER, order),
        (W::TID, process::caller_tid() as u64),
        (W::TGID, process::caller_pid() as u64),
        (W::TREC, off_of(tr)),
        (W::DELIVERED_AT, 0),
        (W::COPY, 0),
    ];
    for (f, v) in fields {
        fresh.init(f, v);
    }
    let (l, which) = match (k, tr) {
        (kind::SENDER, _) => (senders(q), list::SENDERS),
        (_, Some(tr)) => (typed(tr), list::TYPED),
        _ => (general(q), list::GENERAL),
    };
    fresh.init(W::LIST, which);
    l.push_back(&mut g.tx, w.off());
    if k == kind::PEEKER || k == kind::WATCHER {
        g.tx.add(q.at(Q::LOOKERS), 1);
    }
    // Last, after every step that can fail: from here on the thread owns the mutex and must
    // `release` the record.
    let live = fresh.ptr(W::LIVE0, liveness::SIZE).cast();
    // SAFETY: a fresh record of W::SIZE bytes, 8-aligned, under the store lock.
    unsafe { liveness::hold(live) };
    Some(Registered { w, live })
}

/// Waiter `w`'s liveness mutex; a damaged one is reported as a corrupt store, never handed
/// to glibc.
pub(super) fn live(g: &Guard, w: Waiter) -> *mut libc::pthread_mutex_t {
    let m = g.arena().byte_ptr(w.at(W::LIVE0), liveness::SIZE).cast();
    // SAFETY: byte_ptr checked that the mutex's bytes lie inside the mapping.
    if !unsafe { liveness::well_formed(m) } {
        crate::shm::arena::corrupt(w.at(W::LIVE0));
    }
    m
}

/// Undo-log entries an operation keeps free for its own writes while it drops dead
/// waiters on its way: with less room left, a dead waiter is passed over but stays linked
/// (a later operation, or the tick's sweep, which commits as it goes, drops it). Dropping
/// one costs about six entries, so without this a walk over thousands of dead waiters
/// would overflow the log (reported as a corrupt store: EIO, for ever).
const DROP_RESERVE: u64 = 1024;

/// Whether the thread waiting in `w` is still alive; if not, its record is dropped (when
/// the undo log has room: see [`DROP_RESERVE`]; either way the caller must pass it over).
pub(super) fn alive_or_drop(g: &mut Guard, w: Waiter) -> bool {
    // SAFETY: `w` is a linked waiter record, so its mutex was initialised by `register`.
    if unsafe { liveness::probe(live(g, w)) } == Probe::Alive {
        return true;
    }
    // SAFETY: a `Gone` probe left us holding the mutex. Unlocked, it stays "gone": the
    // next probe's trylock succeeds.
    unsafe { liveness::discard(live(g, w)) };
    if g.tx.room() > DROP_RESERVE {
        free_record(g, w);
    }
    false
}

/// The first waiter from `next` on (following `W::NEXT`) that is alive and that `wants`;
/// dead ones passed are dropped ([`alive_or_drop`]).
fn first_live(
    g: &mut Guard,
    mut next: Option<Waiter>,
    wants: impl Fn(&Guard, Waiter) -> bool,
) -> Option<Waiter> {
    while let Some(w) = next {
        next = w.link(g, W::NEXT);
        if alive_or_drop(g, w) && wants(g, w) {
            return Some(w);
        }
    }
    None
}

/// Takes waiter `w` off whatever list it is on, and lets go of the type record it holds
/// (`W::TREC`; the field is left as it was: the caller clears it, keeps it as a pin, or
/// frees the record).
pub fn unlink(g: &mut Guard, w: Waiter) {
    let l = g.get(w.at(W::LIST));
    let k = g.get(w.at(W::KIND));
    if (k == kind::PEEKER || k == kind::WATCHER) && (l == list::GENERAL || l == list::TYPED) {
        let q = queue_of(g, w);
        g.tx.add(q.at(Q::LOOKERS), -1);
    }
    match l {
        list::GENERAL => general(queue_of(g, w)).unlink(&mut g.tx, w.off()),
        list::SENDERS => senders(queue_of(g, w)).unlink(&mut g.tx, w.off()),
        list::PENDING => {
            pending().unlink(&mut g.tx, w.off());
            unpin(g, w);
        }
        list::TYPED => {
            let q = queue_of(g, w);
            let Some(tr) = w.link::<TypeRec>(g, W::TREC) else {
                crate::shm::arena::corrupt(w.at(W::TREC));
            };
            typed(tr).unlink(&mut g.tx, w.off());
            queue::type_rec_release(g, q, tr);
        }
        _ => {}
    }
    g.put(w.at(W::LIST), list::NONE);
}

/// Ends waiter `w`'s wait with `st` (E2BIG, EIDRM: no message): off its list, holding no
/// type record, on the pending list until its thread takes the result.
pub(super) fn end_wait(g: &mut Guard, w: Waiter, st: u64) {
    unlink(g, w);
    g.put(w.at(W::TREC), 0);
    g.put(w.at(W::STATE), st);
    to_pending(g, w);
}

/// Moves waiter `w`, whose wait has ended (its state is set), to the pending list, where
/// it stays reachable until its thread takes the result (or the sweep finds it dead).
pub(super) fn to_pending(g: &mut Guard, w: Waiter) {
    pending().push_back(&mut g.tx, w.off());
    g.put(w.at(W::LIST), list::PENDING);
    g.wake_later(w);
}

/// Pins the type record of type `t` in queue `q` for waiter `w`, to which a message of that
/// type is being handed: while the pin holds, the record stays, so putting the message back
/// (its receiver died) needs no memory. `None` when the record had to be made and the store
/// is full: then the message must not be handed over.
fn pin(g: &mut Guard, q: Queue, w: Waiter, t: i64) -> Option<()> {
    let tr = queue::type_rec_or_new(g, q, t)?;
    g.tx.add(tr.at(T::PINS), 1);
    // A typed receiver's own record is released by `unlink` below; this is the pin.
    g.put(w.at(W::TREC), tr.off());
    Some(())
}

/// Lets go of a pending waiter's pin. A removed queue's pending waiters were detached
/// from it (`W::QUEUE` and `W::TREC` 0: `recovery::reclaim_dying`) before its records were
/// freed. `W::TREC` is left as it is: the record is being freed.
fn unpin(g: &mut Guard, w: Waiter) {
    let (Some(tr), Some(q)) = (w.link::<TypeRec>(g, W::TREC), w.link::<Queue>(g, W::QUEUE)) else {
        return;
    };
    g.tx.add(tr.at(T::PINS), -1);
    queue::type_rec_release(g, q, tr);
}

/// The waiting thread is done with its record: unlinks and frees it (and a message still
/// attached to it).
pub fn release(g: &mut Guard, r: Registered) {
    let w = r.w;
    // Lets go of the liveness mutex.
    drop(r);
    free_record(g, w);
}

pub(super) fn free_record(g: &mut Guard, w: Waiter) {
    unlink(g, w);
    if let Some(m) = w.link::<Msg>(g, W::MSG) {
        g.put(w.at(W::MSG), 0);
        alloc::free(&mut g.tx, m.off());
    }
    alloc::free(&mut g.tx, w.off());
}

/// What offering a sent message to the blocked callers did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offered {
    /// A receiver took the message itself (or, for a broadcast, copies of it): it must not
    /// be queued.
    pub taken: bool,
    /// How many blocked receivers and peekers were given the message or a copy.
    pub given: u64,
}

/// Linux's `pipelined_send`: offers message `m` to the receivers blocked on `q`, oldest
/// matching first. Receivers whose buffer is too small get E2BIG and the next one is
/// tried. Returns whether a receiver took the message. Blocked peekers that match are
/// given a copy first (see [`offer`]).
pub fn pipelined_send(g: &mut Guard, q: Queue, m: Msg) -> bool {
    offer(g, q, m, false).taken
}

/// Offers message `m` to the callers blocked on `q`: every matching blocked peeker gets a
/// copy; then the oldest matching receiver takes the message (Linux's `pipelined_send`),
/// or, with `broadcast`, every matching receiver gets a copy (the message itself is then
/// freed when at least one did). A copy that finds the store full is not made: a peeker
/// is woken instead (it looks at the queue again), a broadcast stops there.
pub fn offer(g: &mut Guard, q: Queue, m: Msg, broadcast: bool) -> Offered {
    let t = g.get(m.at(M::TYPE)) as i64;
    let mut out = Offered::default();
    serve_peekers(g, q, m, t, &mut out);
    if broadcast {
        let original_given = broadcast_to_receivers(g, q, m, t, &mut out);
        if out.taken && !original_given {
            alloc::free(&mut g.tx, m.off());
        }
        return out;
    }
    let size = g.get(m.at(M::LEN));
    loop {
        // The oldest live receiver of each list; dead ones passed over are dropped, so
        // they do not pile up in front of the live ones.
        let is_receiver = |g: &Guard, c: Waiter| g.get(c.at(W::KIND)) == kind::RECEIVER;
        let typed_head = queue::type_rec(g, q, t).and_then(|tr| walk(g, tr.at(T::RHEAD)));
        let c1 = first_live(g, typed_head, is_receiver);
        let general_head = walk(g, q.at(Q::RHEAD));
        let c2 = first_live(g, general_head, |g, c| {
            is_receiver(g, c) && mode_of(g, c).accepts(t)
        });
        let candidate = |c: Waiter| Candidate {
            order: g.get(c.at(W::ORDER)),
            maxsize: g.get(c.at(W::MAXSIZE)),
        };
        let Some(h) = handoff(c1.map(candidate), c2.map(candidate), size) else {
            return out;
        };
        let w = match (h.from, c1, c2) {
            (Side::Typed, Some(w), _) | (Side::General, _, Some(w)) => w,
            _ => return out,
        };
        if h.offer == Offer::TooBig {
            end_wait(g, w, state::E2BIG);
            continue;
        }
        // Before `unlink`, which releases a typed receiver's own record (of this type): the
        // pin keeps it, and `W::TREC` now names the pinned record either way.
        if pin(g, q, w, t).is_none() {
            // The store is full: the message is queued instead; the receiver looks again.
            g.wake_later(w);
            return out;
        }
        unlink(g, w);
        hand_over(g, q, w, m);
        out.taken = true;
        out.given += 1;
        return out;
    }
}

fn offer_rule(g: &Guard, w: Waiter, size: u64) -> Offer {
    msgq_core::ext::offer(g.get(w.at(W::MAXSIZE)), size)
}

/// Gives waiter `w`, already off its list, message `m`: delivered, on the pending list.
fn hand_over(g: &mut Guard, q: Queue, w: Waiter, m: Msg) {
    g.put(w.at(W::MSG), m.off());
    g.put(w.at(W::STATE), state::DELIVERED);
    g.put(w.at(W::DELIVERED_AT), process::mono_ns());
    to_pending(g, w);
    if g.get(w.at(W::KIND)) == kind::RECEIVER {
        let tid = g.get(w.at(W::TID));
        g.put(q.at(Q::LRPID), tid);
        g.put(q.at(Q::RTIME), process::now_secs());
    }
}

/// Gives waiter `w` a copy of `m` (no pin: a copy whose receiver died is freed, never put
/// back). `false` when the store has no room for the copy.
fn hand_copy(g: &mut Guard, q: Queue, w: Waiter, m: Msg) -> bool {
    let Some(c) = queue::copy_message(g, m) else {
        return false;
    };
    unlink(g, w);
    g.put(w.at(W::TREC), 0);
    g.put(w.at(W::COPY), 1);
    hand_over(g, q, w, c);
    true
}

/// The live blocked callers of kind `k` on `q` whose selector accepts type `t`: those of
/// the general list, then those waiting for exactly `t`, each list oldest first (the order
/// a broadcast serves them in, as the module does: see `msgq_core::ext`); dead ones met
/// are dropped.
fn matching(g: &mut Guard, q: Queue, t: i64, k: u64) -> Vec<Waiter> {
    let mut ws = Vec::new();
    let mut collect = |g: &mut Guard, mut next: Option<Waiter>, check_mode: bool| {
        while let Some(w) = next {
            next = w.link(g, W::NEXT);
            if g.get(w.at(W::KIND)) == k
                && alive_or_drop(g, w)
                && (!check_mode || mode_of(g, w).accepts(t))
            {
                ws.push(w);
            }
        }
    };
    let general_head = walk(g, q.at(Q::RHEAD));
    collect(g, general_head, true);
    let typed_head = queue::type_rec(g, q, t).and_then(|tr| walk(g, tr.at(T::RHEAD)));
    collect(g, typed_head, false);
    ws
}

fn serve_peekers(g: &mut Guard, q: Queue, m: Msg, t: i64, out: &mut Offered) {
    if g.get(q.at(Q::LOOKERS)) == 0 {
        return;
    }
    for w in matching(g, q, t, kind::WATCHER) {
        wake_watcher(g, w);
    }
    let size = g.get(m.at(M::LEN));
    for w in matching(g, q, t, kind::PEEKER) {
        if offer_rule(g, w, size) == Offer::TooBig {
            end_wait(g, w, state::E2BIG);
        } else if hand_copy(g, q, w, m) {
            out.given += 1;
        } else {
            // No room for a copy: the peeker looks at the queue again.
            g.wake_later(w);
        }
    }
}

/// Gives every matching blocked receiver a copy of `m`. When the store has no room for a
/// copy, the receiver gets `m` itself if nobody has (then the function returns true: `m`
/// must not be freed), else the rest are woken to look at the queue (where `m` goes if
/// nobody took it).
fn broadcast_to_receivers(g: &mut Guard, q: Queue, m: Msg, t: i64, out: &mut Offered) -> bool {
    let size = g.get(m.at(M::LEN));
    // The deliberately broken variant a loom model must catch: the typed receivers are
    // missed.
    #[cfg(loom)]
    let general = !crate::model::bug(crate::model::Bug::BroadcastGeneralOnly);
    let ws = matching(g, q, t, kind::RECEIVER);
    for (i, &w) in ws.iter().enumerate() {
        #[cfg(loom)]
        if !general && g.get(w.at(W::LIST)) == list::TYPED {
            continue;
        }
        if offer_rule(g, w, size) == Offer::TooBig {
            end_wait(g, w, state::E2BIG);
        } else if hand_copy(g, q, w, m) {
            out.taken = true;
            out.given += 1;
        } else if !out.taken && pin(g, q, w, t).is_some() {
            unlink(g, w);
            hand_over(g, q, w, m);
            out.taken = true;
            out.given += 1;
            return true;
        } else {
            for &rest in &ws[i..] {
                g.wake_later(rest);
            }
            break;
        }
    }
    false
}

fn wake_watcher(g: &mut Guard, w: Waiter) {
    if g.get(w.at(W::STATE)) == state::WAITING {
        g.put(w.at(W::STATE), state::WOKEN);
    }
    g.wake_later(w);
}

/// A message left queue `q` (received, purged, dropped): its watchers look again (a watch
/// fd follows whether a matching message is there).
pub fn wake_watchers(g: &mut Guard, q: Queue) {
    if g.get(q.at(Q::LOOKERS)) == 0 {
        return;
    }
    let mut ws = Vec::new();
    each_receiver(g, q, |w| ws.push(w));
    for w in ws {
        if g.get(w.at(W::KIND)) == kind::WATCHER {
            wake_watcher(g, w);
        }
    }
}

/// `msgq_abort`: ends the wait of every live blocked receiver and peeker (`receivers`)
/// and sender (`senders`) of `q` with ECANCELED; returns how many. Callers already handed
/// a message are on the pending list, not on these: they keep their message.
pub fn abort(g: &mut Guard, q: Queue, receivers: bool, senders: bool) -> u64 {
    let mut ws = Vec::new();
    if receivers {
        each_receiver(g, q, |w| ws.push(w));
        // A select is not a receive: abort leaves it waiting.
        ws.retain(|&w| g.get(w.at(W::KIND)) != kind::WATCHER);
    }
    if senders {
        let mut next = walk(g, q.at(Q::SHEAD));
        while let Some(w) = next {
            next = w.link(g, W::NEXT);
            ws.push(w);
        }
    }
    // The deliberately broken variant a loom model must catch: receivers already handed a
    // message are aborted too, and the message is lost with their record.
    #[cfg(loom)]
    if receivers && crate::model::bug(crate::model::Bug::AbortDelivered) {
        let mut next = Waiter::at_off(pending().first(&g.tx));
        while let Some(w) = next {
            next = w.link(g, W::NEXT);
            if w.link::<Queue>(g, W::QUEUE) == Some(q) {
                g.put(w.at(W::STATE), state::ECANCELED);
            }
        }
    }
    let mut n = 0;
    for w in ws {
        if alive_or_drop(g, w) {
            end_wait(g, w, state::ECANCELED);
            n += 1;
        }
    }
    n
}

/// Linux's `ss_wakeup` (without `kill`: removal is `recovery::reclaim_dying`'s): the senders
/// whose message now fits are woken (they stay linked and unlink themselves), and the others
/// are rotated to the tail, stopping at the first one rotated. Senders found dead are
/// dropped on the way (a compare-and-swap each): a woken sender unlinks itself, and a dead
/// one never would.
pub fn wake_senders(g: &mut Guard, q: Queue) {
    let l = senders(q);
    let mut walk_senders = SenderWakeup::new(
        g.get(q.at(Q::CBYTES)),
        g.get(q.at(Q::QNUM)),
        g.get(q.at(Q::QBYTES)),
    );
    let mut next = walk(g, l.head);
    // The end is checked before the liveness probe: a sender that died after it was
    // rotated still ends the walk.
    while let Some(w) = next.filter(|&w| !walk_senders.ends_at(w)) {
        next = w.link(g, W::NEXT);
        if !alive_or_drop(g, w) {
            continue;
        }
        match walk_senders.step(w, g.get(w.at(W::MAXSIZE))) {
            SenderStep::Wake => {
                if g.get(w.at(W::STATE)) == state::WAITING {
                    g.put(w.at(W::STATE), state::WOKEN);
                    g.wake_later(w);
                }
            }
            // Moving the last sender to the tail changes nothing.
            SenderStep::Rotate if next.is_some() => {
                l.unlink(&mut g.tx, w.off());
                l.push_back(&mut g.tx, w.off());
            }
            SenderStep::Rotate | SenderStep::Stop => {}
        }
    }
}

/// Visits every blocked receiver of `q` (general list and every type record's list).
pub(super) fn each_receiver(g: &Guard, q: Queue, mut f: impl FnMut(Waiter)) {
    let mut visit = |mut next: Option<Waiter>| {
        while let Some(w) = next {
            next = w.link(g, W::NEXT);
            f(w);
        }
    };
    visit(walk(g, q.at(Q::RHEAD)));
    for b in queue::buckets(g, q) {
        for tr in queue::chain(g, b) {
            visit(walk(g, tr.at(T::RHEAD)));
        }
    }
}

/// IPC_SET: every blocked receiver wakes to re-check its permission (it stays linked until
/// it runs, so it may still get a message first).
pub fn wake_receivers(g: &mut Guard, q: Queue) {
    let mut ws = Vec::new();
    each_receiver(g, q, |w| ws.push(w));
    for w in ws {
        g.wake_later(w);
    }
}

/// The live blocked receivers (peekers included) and senders of `q` (dead ones met are
/// dropped).
pub fn count(g: &mut Guard, q: Queue) -> (u64, u64) {
    let mut rs = Vec::new();
    each_receiver(g, q, |w| rs.push(w));
    rs.retain(|&w| g.get(w.at(W::KIND)) != kind::WATCHER);
    let mut ss = Vec::new();
    let mut next = walk(g, q.at(Q::SHEAD));
    while let Some(w) = next {
        next = w.link(g, W::NEXT);
        ss.push(w);
    }
    let r = rs.into_iter().filter(|&w| alive_or_drop(g, w)).count();
    let s = ss.into_iter().filter(|&w| alive_or_drop(g, w)).count();
    (r as u64, s as u64)
}
