//! Loom models of the engine's synchronisation: the store lock, waiter registration, the
//! hand-off to a blocked receiver, sender wake-ups, removal, interruption and crash
//! recovery. The engine runs unchanged; only its lock and futex words are loom models
//! (`--cfg loom`, see docs/loom.md). Run with `make loom` (bounded) or `make loom-deep`.
//!
//! Every model states its invariant as assertions; a thread that sleeps for ever (a lost
//! wake-up) is reported by loom as a deadlock.
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use msgq_core::abi::{IPC_CREAT, IPC_NOWAIT, IPC_PRIVATE, MSG_EXCEPT};
use msgq_user::model::{self, Bug, Signal};
use msgq_user::{ext, Errno, Store, StoreOptions};
use std::sync::Arc;

type Got = Result<(i64, Vec<u8>), Errno>;

/// A fresh, small store in anonymous memory (one per model execution).
fn store() -> Arc<Store> {
    Arc::new(
        Store::in_memory(&StoreOptions {
            size: 0, // the minimum
            ..Default::default()
        })
        .unwrap(),
    )
}

fn rcv(s: &Store, q: i32, typ: i64, flg: i32) -> Got {
    let mut buf = [0u8; 16];
    s.receive(q, &mut buf, typ, flg)
        .map(|(t, n)| (t, buf[..n].to_vec()))
}

/// Everything left in queue `q`, oldest first.
fn drain(s: &Store, q: i32) -> Vec<(i64, Vec<u8>)> {
    let mut v = Vec::new();
    loop {
        match rcv(s, q, 0, IPC_NOWAIT) {
            Ok(m) => v.push(m),
            Err(e) => {
                assert_eq!(e, Errno::ENOMSG);
                return v;
            }
        }
    }
}

/// A queue whose quota is `qbytes` bytes.
fn queue(s: &Store, qbytes: u64) -> i32 {
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let mut ds = s.stat(q).unwrap();
    ds.msg_qbytes = qbytes;
    s.set(q, &ds).unwrap();
    q
}

/// The integrity check passes and nothing is left but `messages` messages.
fn check_idle(s: &Store, messages: u64) {
    let r = s.check().unwrap();
    assert_eq!(
        (r.messages, r.waiters, r.pending),
        (messages, 0, 0),
        "store not idle: {r:?}"
    );
}

fn m(t: i64, text: &str) -> (i64, Vec<u8>) {
    (t, text.as_bytes().to_vec())
}

/// The distinct outcomes a model saw over all its executions (for coverage checks: each
/// model asserts that the interesting interleavings were among those explored).
#[derive(Clone, Default)]
struct Seen(Arc<std::sync::Mutex<std::collections::BTreeSet<&'static str>>>);

impl Seen {
    fn add(&self, what: &'static str) {
        self.0.lock().unwrap().insert(what);
    }
    fn assert_saw(&self, all: &[&str]) {
        let seen = self.0.lock().unwrap();
        for w in all {
            assert!(seen.contains(w), "no execution where {w}; saw {seen:?}");
        }
    }
}

/// Runs a model and checks that some futex wait went to sleep in it (its blocking path
/// was explored, not only the interleavings where nobody had to wait).
fn model_that_blocks(f: impl Fn() + Sync + Send + 'static) {
    model::sleeps();
    loom::model(f);
    assert!(model::sleeps() > 0, "no execution ever slept");
}

/// Model 1: one sender, one receiver that (in some interleavings) is blocked. The message
/// is delivered exactly once, to the receiver, and nobody sleeps for ever.
fn sender_and_blocked_receiver() {
    let s = store();
    let q = queue(&s, 16384);
    let r = {
        let s = s.clone();
        thread::spawn(move || rcv(&s, q, 0, 0))
    };
    s.send(q, 7, b"m", 0).unwrap();
    assert_eq!(r.join().unwrap(), Ok(m(7, "m")));
    assert_eq!(drain(&s, q), vec![]);
    check_idle(&s, 0);
}

#[test]
fn handoff_to_blocked_receiver() {
    model_that_blocks(sender_and_blocked_receiver);
}

/// The broken variant: the waiter reads its futex word after unlocking. Loom must find
/// the interleaving where the hand-off lands in between and the receiver sleeps for ever.
#[test]
#[should_panic(expected = "deadlock")]
fn broken_snapshot_after_unlock_loses_the_wakeup() {
    loom::model(|| {
        model::inject(Bug::SnapshotAfterUnlock);
        sender_and_blocked_receiver();
    });
}

/// The same with a waker that ignores the sleeping bit and never makes the wake call: the
/// model must find the receiver asleep for ever (so it does explore a sleeping receiver that
/// only the wake call can end).
#[test]
#[should_panic(expected = "deadlock")]
fn broken_waker_ignoring_the_sleeping_bit_never_wakes() {
    loom::model(|| {
        model::inject(Bug::IgnoreSleepingBit);
        sender_and_blocked_receiver();
    });
}

/// Model 2: two receivers with different selectors (exactly type 1, anything but type 1)
/// and one sender of a type-3 then a type-1 message: each receiver gets the one it selects.
#[test]
fn receivers_with_selectors() {
    model_that_blocks(|| {
        let s = store();
        let q = queue(&s, 16384);
        let r1 = {
            let s = s.clone();
            thread::spawn(move || rcv(&s, q, 1, 0))
        };
        let r2 = {
            let s = s.clone();
            thread::spawn(move || rcv(&s, q, 1, MSG_EXCEPT))
        };
        s.send(q, 3, b"x", 0).unwrap();
        s.send(q, 1, b"y", 0).unwrap();
        assert_eq!(r1.join().unwrap(), Ok(m(1, "y")));
        assert_eq!(r2.join().unwrap(), Ok(m(3, "x")));
        assert_eq!(drain(&s, q), vec![]);
        check_idle(&s, 0);
    });
}

/// Model 3: a full queue, a sender that (in some interleavings) blocks on it, and a
/// receiver: the sender is woken and completes; both messages arrive, in order.
#[test]
fn full_queue_sender_woken() {
    model_that_blocks(|| {
        let s = store();
        let q = queue(&s, 1);
        s.send(q, 1, b"a", 0).unwrap();
        let snd = {
            let s = s.clone();
            thread::spawn(move || s.send(q, 1, b"b", 0))
        };
        let r = {
            let s = s.clone();
            thread::spawn(move || rcv(&s, q, 0, 0))
        };
        assert_eq!(r.join().unwrap(), Ok(m(1, "a")));
        assert_eq!(snd.join().unwrap(), Ok(()));
        assert_eq!(drain(&s, q), vec![m(1, "b")]);
        check_idle(&s, 0);
    });
}

/// Model 3b: two senders blocked on a full queue and a receiver that takes three
/// messages. Each receive wakes the senders whose message now fits; the one that loses the
/// race for the space goes back to sleep and is woken by the next receive. Every message
/// arrives exactly once, the first one first, and nobody sleeps for ever.
#[test]
fn two_blocked_senders() {
    model_that_blocks(|| {
        let s = store();
        let q = queue(&s, 1);
        s.send(q, 1, b"a", 0).unwrap();
        let s1 = {
            let s = s.clone();
            thread::spawn(move || s.send(q, 1, b"b", 0))
        };
        let s2 = {
            let s = s.clone();
            thread::spawn(move || s.send(q, 1, b"c", 0))
        };
        let got: Vec<_> = (0..3).map(|_| rcv(&s, q, 0, 0).unwrap()).collect();
        assert_eq!(s1.join().unwrap(), Ok(()));
        assert_eq!(s2.join().unwrap(), Ok(()));
        assert_eq!(got[0], m(1, "a"));
        let mut rest = got[1..].to_vec();
        rest.sort();
        assert_eq!(rest, vec![m(1, "b"), m(1, "c")]);
        check_idle(&s, 0);
    });
}

/// Model 4: removal racing with a sender blocked on a full queue and a receiver blocked
/// waiting for a type that is not there. A caller that registered as a waiter before the
/// removal gets `EIDRM` wherever it is between registering and sleeping; one that looks the
/// queue up after it gets `EINVAL`. Neither ever succeeds (the sender's message is never
/// delivered), nobody sleeps for ever, and the removed queue's memory is all freed. The
/// interleavings where both were blocked must be among those explored.
#[test]
fn removal_wakes_blocked_sender_and_receiver() {
    let seen = Seen::default();
    let seen2 = seen.clone();
    loom::model(move || {
        let s = store();
        let q = queue(&s, 1);
        s.send(q, 1, b"a", 0).unwrap();
        let snd = {
            let s = s.clone();
            thread::spawn(move || s.send(q, 1, b"b", 0))
        };
        let r = {
            let s = s.clone();
            thread::spawn(move || rcv(&s, q, 2, 0))
        };
        s.remove(q).unwrap();
        let sent = snd.join().unwrap();
        let got = r.join().unwrap();
        assert!(
            matches!(sent, Err(Errno::EIDRM | Errno::EINVAL)),
            "{sent:?}"
        );
        assert!(matches!(got, Err(Errno::EIDRM | Errno::EINVAL)), "{got:?}");
        if sent == Err(Errno::EIDRM) && got == Err(Errno::EIDRM) {
            seen2.add("both were blocked");
        }
        let rep = s.check().unwrap();
        assert_eq!(
            (rep.queues, rep.messages, rep.waiters, rep.pending),
            (0, 0, 0, 0)
        );
    });
    seen.assert_saw(&["both were blocked"]);
}

/// Model 4b: removal racing with a hand-off. A receiver blocks (or comes too late: EINVAL),
/// a sender sends, the queue is removed. No message is delivered after removal returns: a
/// send that starts after it fails with EINVAL; a receiver that gets the message got it
/// from a send that completed; otherwise it gets EIDRM or EINVAL and the message is gone
/// with the queue.
#[test]
fn removal_racing_with_handoff() {
    let seen = Seen::default();
    let seen2 = seen.clone();
    loom::model(move || {
        let s = store();
        let q = queue(&s, 16384);
        let removed = Arc::new(AtomicBool::new(false));
        let r = {
            let s = s.clone();
            thread::spawn(move || rcv(&s, q, 0, 0))
        };
        let snd = {
            let (s, removed) = (s.clone(), removed.clone());
            thread::spawn(move || {
                let late = removed.load(Ordering::SeqCst);
                let res = s.send(q, 1, b"m", 0);
                if late {
                    assert_eq!(res, Err(Errno::EINVAL), "send after removal");
                }
                res
            })
        };
        s.remove(q).unwrap();
        removed.store(true, Ordering::SeqCst);
        let sent = snd.join().unwrap();
        let got = r.join().unwrap();
        match &got {
            Ok(msg) => {
                assert_eq!(*msg, m(1, "m"));
                assert_eq!(sent, Ok(()));
                seen2.add("received");
            }
            Err(Errno::EIDRM) => seen2.add("receiver removed while blocked"),
            Err(e) => assert_eq!(*e, Errno::EINVAL),
        }
        assert!(matches!(sent, Ok(()) | Err(Errno::EINVAL)), "{sent:?}");
        let rep = s.check().unwrap();
        assert_eq!(
            (rep.queues, rep.messages, rep.waiters, rep.pending),
            (0, 0, 0, 0)
        );
    });
    seen.assert_saw(&["received", "receiver removed while blocked"]);
}

/// Model 5: a hand-off racing with a signal to the blocked receiver. The receiver either
/// gets the message or EINTR; with EINTR the message is still queued. Never lost, never
/// duplicated.
#[test]
fn wakeup_racing_with_interruption() {
    let seen = Seen::default();
    let seen2 = seen.clone();
    loom::model(move || {
        let s = store();
        let q = queue(&s, 16384);
        let sig = Signal::new();
        let r = {
            let (s, sig) = (s.clone(), sig.clone());
            thread::spawn(move || {
                sig.install();
                rcv(&s, q, 0, 0)
            })
        };
        let k = thread::spawn(move || sig.raise());
        s.send(q, 1, b"m", 0).unwrap();
        k.join().unwrap();
        let got = r.join().unwrap();
        let left = drain(&s, q);
        match got {
            Ok(msg) => {
                assert_eq!(msg, m(1, "m"));
                assert_eq!(left, vec![]);
                seen2.add("received");
            }
            Err(e) => {
                assert_eq!(e, Errno::EINTR);
                assert_eq!(left, vec![m(1, "m")]);
                seen2.add("interrupted");
            }
        }
        check_idle(&s, 0);
    });
    seen.assert_saw(&["received", "interrupted"]);
}

/// Model 5b: a sender blocked on a full queue, woken by a receive while a signal hits it.
/// It either completes (its message is queued) or gets EINTR (its message is not); the
/// receiver gets the first message either way.
#[test]
fn sender_wakeup_racing_with_interruption() {
    let seen = Seen::default();
    let seen2 = seen.clone();
    loom::model(move || {
        let s = store();
        let q = queue(&s, 1);
        s.send(q, 1, b"a", 0).unwrap();
        let sig = Signal::new();
        let snd = {
            let (s, sig) = (s.clone(), sig.clone());
            thread::spawn(move || {
                sig.install();
                s.send(q, 1, b"b", 0)
            })
        };
        let k = thread::spawn(move || sig.raise());
        assert_eq!(rcv(&s, q, 0, 0), Ok(m(1, "a")));
        k.join().unwrap();
        let sent = snd.join().unwrap();
        let left = drain(&s, q);
        match sent {
            Ok(()) => {
                assert_eq!(left, vec![m(1, "b")]);
                seen2.add("sent");
            }
            Err(e) => {
                assert_eq!(e, Errno::EINTR);
                assert_eq!(left, vec![]);
                seen2.add("interrupted");
            }
        }
        check_idle(&s, 0);
    });
    seen.assert_saw(&["sent", "interrupted"]);
}

/// Model 6 (one run per fault point): a sender that dies after `point` fault points of its
/// operation (mid-update with the lock held and the undo log unfinished, or committed but
/// before waking, or unlocked but before FUTEX_WAKE), a blocked receiver, a second sender,
/// and (with `tick`) one tick of the receiver's wait timeout after the death. The next lock
/// holder repairs the store (rollback, the owner-died mutex made consistent); the dead
/// sender's message is sent entirely or not at all; the receiver gets exactly one message;
/// every message is received exactly once; the integrity check passes. Returns whether the
/// sender died in some execution.
fn dying_sender(point: u64, tick: bool, bug: Option<Bug>) -> bool {
    let died = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let died2 = died.clone();
    loom::model(move || {
        if let Some(b) = bug {
            model::inject(b);
        }
        let s = store();
        let q = queue(&s, 16384);
        let timer = Signal::tick();
        let r = {
            let (s, timer) = (s.clone(), timer.clone());
            thread::spawn(move || {
                timer.install();
                rcv(&s, q, 0, 0)
            })
        };
        let a = {
            let s = s.clone();
            thread::spawn(move || model::die_at(point, || s.send(q, 1, b"a", 0)))
        };
        s.send(q, 2, b"c", 0).unwrap();
        let a_done = a.join().unwrap();
        // One tick of the receiver's wait after a death (as the 500 ms tick would come).
        // Only then: without a death the protocol alone must wake the receiver.
        if tick && a_done.is_none() {
            timer.raise();
        }
        let got = r.join().unwrap().unwrap();
        let mut all = drain(&s, q);
        all.push(got);
        all.sort();
        match a_done {
            Some(res) => assert_eq!(res, Ok(())),
            None => died2.store(true, std::sync::atomic::Ordering::Relaxed),
        }
        if all.len() == 1 {
            assert!(a_done.is_none(), "a completed send was lost");
            assert_eq!(all, vec![m(2, "c")]);
        } else {
            assert_eq!(all, vec![m(1, "a"), m(2, "c")]);
        }
        let rep = s.check().unwrap();
        assert_eq!((rep.messages, rep.waiters, rep.pending), (0, 0, 0));
    });
    died.load(std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn crash_recovery_at_every_step() {
    let mut point = 1;
    while dying_sender(point, true, None) {
        point += 1;
    }
    assert!(point > 2, "the send made no logged write");
}

/// Model 6 without the tick: a sender that dies after committing a hand-off but before
/// waking the receiver leaves it asleep for ever. This is why every wait has a timeout;
/// the test expects loom to report the deadlock.
#[test]
#[should_panic(expected = "deadlock")]
fn without_the_tick_a_dead_waker_strands_its_waiter() {
    let mut point = 1;
    while dying_sender(point, false, None) {
        point += 1;
    }
}

/// Model 7 (one run per fault point): `IPC_RMID` by a thread that dies after `point`
/// fault points, with a blocked receiver and two messages queued. The removal commits in
/// steps (unlink the queue and mark every waiter, then free the messages, then the queue):
/// a death before the first commit leaves the queue intact, a later one leaves it on the
/// dying list, which the next lock holder finishes freeing. After a tick of the receiver's
/// wait and a second removal if the queue survived, the receiver has `EIDRM` (or `EINVAL` if
/// it came after the removal), nothing is left (queues, messages, waiters), and the
/// integrity check passes.
fn dying_remover(point: u64) -> bool {
    let died = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let died2 = died.clone();
    loom::model(move || {
        let s = store();
        let q = queue(&s, 16384);
        s.send(q, 1, b"a", 0).unwrap();
        s.send(q, 2, b"b", 0).unwrap();
        let timer = Signal::tick();
        let r = {
            let (s, timer) = (s.clone(), timer.clone());
            thread::spawn(move || {
                timer.install();
                rcv(&s, q, 3, 0)
            })
        };
        let x = {
            let s = s.clone();
            thread::spawn(move || model::die_at(point, || s.remove(q)))
        };
        let removed = x.join().unwrap();
        if removed.is_none() {
            timer.raise();
        }
        match removed {
            Some(res) => assert_eq!(res, Ok(())),
            None => {
                died2.store(true, std::sync::atomic::Ordering::Relaxed);
                // The queue is gone (EINVAL) if the first step had committed.
                let again = s.remove(q);
                assert!(matches!(again, Ok(()) | Err(Errno::EINVAL)), "{again:?}");
            }
        }
        let got = r.join().unwrap();
        assert!(matches!(got, Err(Errno::EIDRM | Errno::EINVAL)), "{got:?}");
        let rep = s.check().unwrap();
        assert_eq!(
            (rep.queues, rep.messages, rep.waiters, rep.pending),
            (0, 0, 0, 0),
            "{rep:?}"
        );
    });
    died.load(std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn crash_recovery_of_a_removal() {
    let mut point = 1;
    while dying_remover(point) {
        point += 1;
    }
    assert!(point > 2, "the removal made no logged write");
}

/// Model 15 (issue 13; one run per fault point): creating a queue spans two locks and two
/// journals, the registry's (key, id) and then the queue's shard's (the queue made live),
/// with an intent in between. The creator dies after `point` fault points while another
/// thread looks the key up (taking the registry lock, then the shard's) and sends to what
/// it finds. Afterwards the key finds a queue exactly when the integrity check (registry
/// and shards agreeing) counts one, a message that was accepted is in it, and the id is
/// the one the creator got if it finished.
fn dying_creator(point: u64) -> bool {
    let died = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let died2 = died.clone();
    loom::model(move || {
        let s = store();
        let c = {
            let s = s.clone();
            thread::spawn(move || model::die_at(point, || s.msgget(7, IPC_CREAT | 0o600)))
        };
        let sent = match s.msgget(7, 0) {
            Ok(q) => s.send(q, 1, b"x", IPC_NOWAIT).is_ok(),
            Err(e) => {
                assert_eq!(e, Errno::ENOENT);
                false
            }
        };
        let created = c.join().unwrap();
        if created.is_none() {
            died2.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let rep = s.check().unwrap();
        match s.msgget(7, 0) {
            Ok(q) => {
                assert_eq!((rep.queues, rep.messages), (1, u64::from(sent)), "{rep:?}");
                if let Some(id) = created {
                    assert_eq!(id, Ok(q));
                }
            }
            Err(e) => {
                assert_eq!(e, Errno::ENOENT);
                assert!(created.is_none() && !sent && rep.queues == 0, "{rep:?}");
            }
        }
    });
    died.load(std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn crash_recovery_of_a_creation_across_two_locks() {
    let mut point = 1;
    while dying_creator(point) {
        point += 1;
    }
    assert!(point > 3, "the creation made few logged writes");
}

/// The broken variant of model 6: the next lock holder after a dead owner skips the
/// rollback. At some fault point the model must catch the half-done update.
#[test]
#[should_panic]
fn broken_recovery_without_rollback() {
    let mut point = 1;
    while dying_sender(point, true, Some(Bug::SkipRollback)) {
        point += 1;
    }
}

/// Model 16: a receiver whose deadline passes (the model's clock moves on and its wait's
/// timer fires) while a message is sent to it. It either gets the message or ETIMEDOUT; with
/// ETIMEDOUT the message is still queued. Never lost, never duplicated, and no trace of the
/// timed-out waiter is left.
fn timeout_racing_with_handoff(bug: Option<Bug>) {
    let seen = Seen::default();
    let seen2 = seen.clone();
    loom::model(move || {
        if let Some(b) = bug {
            model::inject(b);
        }
        let s = store();
        let q = queue(&s, 16384);
        let timer = Signal::tick();
        let r = {
            let (s, timer) = (s.clone(), timer.clone());
            thread::spawn(move || {
                timer.install();
                let d = ext::deadline(ext::CLOCK_MONOTONIC, 0, 1).unwrap();
                let mut buf = [0u8; 16];
                s.receive_with(q, &mut buf, 0, 0, Some(d))
                    .map(|(t, n)| (t, buf[..n].to_vec()))
            })
        };
        let k = thread::spawn(move || {
            model::advance_clock(1);
            timer.raise();
        });
        s.send(q, 1, b"m", 0).unwrap();
        k.join().unwrap();
        let got = r.join().unwrap();
        let left = drain(&s, q);
        match got {
            Ok(msg) => {
                assert_eq!(msg, m(1, "m"));
                assert_eq!(left, vec![]);
                seen2.add("received");
            }
            Err(e) => {
                assert_eq!(e, ext::ETIMEDOUT);
                assert_eq!(
                    left,
                    vec![m(1, "m")],
                    "the timed-out receiver lost the message"
                );
                seen2.add("timed out");
            }
        }
        check_idle(&s, 0);
    });
    seen.assert_saw(&["received", "timed out"]);
}

#[test]
fn timeout_vs_handoff() {
    timeout_racing_with_handoff(None);
}

/// The broken variant: a timed-out waiter that leaves without looking at its state first.
#[test]
#[should_panic(expected = "lost the message")]
fn broken_timeout_before_state_loses_the_message() {
    timeout_racing_with_handoff(Some(Bug::TimeoutFirst));
}

/// Model 17: an abort of a queue's receivers racing with a send to its blocked receiver.
/// The receiver either gets the message (then the abort counted nobody) or ECANCELED (then
/// the abort counted it, and the message is queued).
fn abort_racing_with_handoff(bug: Option<Bug>) {
    let seen = Seen::default();
    let seen2 = seen.clone();
    loom::model(move || {
        if let Some(b) = bug {
            model::inject(b);
        }
        let s = store();
        let q = queue(&s, 16384);
        let r = {
            let s = s.clone();
            thread::spawn(move || rcv(&s, q, 0, 0))
        };
        let a = {
            let s = s.clone();
            thread::spawn(move || s.abort(q, ext::MSGQ_ABORT_RECEIVERS).unwrap())
        };
        s.send(q, 1, b"m", 0).unwrap();
        let aborted = a.join().unwrap();
        let got = r.join().unwrap();
        let left = drain(&s, q);
        match got {
            Ok(msg) => {
                assert_eq!(msg, m(1, "m"));
                assert_eq!(left, vec![]);
                assert_eq!(aborted, 0);
                seen2.add("received");
            }
            Err(e) => {
                assert_eq!(e, ext::ECANCELED);
                assert_eq!(
                    left,
                    vec![m(1, "m")],
                    "the aborted receiver lost the message"
                );
                assert_eq!(aborted, 1);
                seen2.add("aborted");
            }
        }
        check_idle(&s, 0);
    });
    seen.assert_saw(&["received", "aborted"]);
}

#[test]
fn abort_vs_handoff() {
    abort_racing_with_handoff(None);
}

/// The broken variant: the abort also ends receivers a message was already handed to.
#[test]
#[should_panic(expected = "lost the message")]
fn broken_abort_of_a_served_receiver_loses_the_message() {
    abort_racing_with_handoff(Some(Bug::AbortDelivered));
}

/// Model 18: a broadcast to two blocked receivers, one waiting for exactly its type (the
/// type's list) and one for any type (the general list): both get a copy, the broadcast
/// counts 2, nothing is queued, and both wake (a lost wake-up is a loom deadlock).
fn broadcast_to_both_lists(bug: Option<Bug>) {
    model_that_blocks(move || {
        if let Some(b) = bug {
            model::inject(b);
        }
        let s = store();
        let q = queue(&s, 16384);
        let rs: Vec<_> = [2, 0]
            .into_iter()
            .map(|typ| {
                let s = s.clone();
                thread::spawn(move || rcv(&s, q, typ, 0))
            })
            .collect();
        while s.waiting(q).unwrap() != (2, 0) {
            thread::yield_now();
        }
        let n = s.send_with(q, 2, b"b", ext::MSGQ_BROADCAST, None).unwrap();
        assert_eq!(n, 2, "the broadcast missed a receiver");
        for r in rs {
            assert_eq!(r.join().unwrap(), Ok(m(2, "b")));
        }
        assert_eq!(drain(&s, q), vec![]);
        check_idle(&s, 0);
    });
}

#[test]
fn broadcast_reaches_both_lists() {
    broadcast_to_both_lists(None);
}

/// The broken variant: a broadcast that only serves the general list.
#[test]
#[should_panic(expected = "missed a receiver")]
fn broken_broadcast_misses_the_typed_receiver() {
    broadcast_to_both_lists(Some(Bug::BroadcastGeneralOnly));
}
