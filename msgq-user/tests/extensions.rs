//! msgq's extensions through the Rust API (`Store::send_with`, `receive_with`, `purge`,
//! `abort`): timeouts, purge, urgent, overwrite, abort, broadcast, peek, with their races.
//! The rules are in `docs/extensions.md`.

use msgq_core::abi::*;
use msgq_user::ext::{self, *};
use msgq_user::{deadline_in, Errno, Store};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

mod common;

/// A store file of its own, already unlinked (the mapping keeps it).
fn store(name: &str) -> Arc<Store> {
    let (p, s) = common::scratch_store(&format!("ext-{name}"), 64 << 20);
    let _ = std::fs::remove_file(&p);
    Arc::new(s)
}

fn rcv(s: &Store, q: i32, typ: i64, flg: i32) -> Result<(i64, String), Errno> {
    let mut buf = [0u8; 64];
    s.receive_with(q, &mut buf, typ, flg, None)
        .map(|(t, n)| (t, String::from_utf8_lossy(&buf[..n]).into_owned()))
}

fn qnum(s: &Store, q: i32) -> u64 {
    s.stat(q).unwrap().msg_qnum
}

/// Waits until `n` callers are blocked on queue `q` (as the queue's record shows them).
use common::until_blocked;

fn realtime_in(d: Duration) -> Deadline {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    let at = ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128 + d.as_nanos() as i128;
    ext::deadline(
        CLOCK_REALTIME,
        (at / 1_000_000_000) as i64,
        (at % 1_000_000_000) as i64,
    )
    .unwrap()
}

#[test]
fn timeouts_on_both_clocks() {
    let s = store("timeout");
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let mut buf = [0u8; 8];
    for rt in [false, true] {
        let d = if rt {
            realtime_in(Duration::from_millis(50))
        } else {
            deadline_in(Duration::from_millis(50))
        };
        let t0 = Instant::now();
        assert_eq!(s.receive_with(q, &mut buf, 0, 0, Some(d)), Err(ETIMEDOUT));
        assert!(
            t0.elapsed() >= Duration::from_millis(45),
            "{d:?} {:?}",
            t0.elapsed()
        );
    }
    // A deadline already passed: the call still succeeds when it need not block.
    let past = ext::deadline(CLOCK_MONOTONIC, 0, 0).unwrap();
    assert_eq!(
        s.receive_with(q, &mut buf, 0, 0, Some(past)),
        Err(ETIMEDOUT)
    );
    s.send_with(q, 1, b"x", 0, Some(past)).unwrap();
    assert_eq!(s.receive_with(q, &mut buf, 0, 0, Some(past)), Ok((1, 1)));
    // IPC_NOWAIT comes first.
    assert_eq!(
        s.receive_with(q, &mut buf, 0, IPC_NOWAIT, Some(past)),
        Err(Errno::ENOMSG)
    );
    // A full queue: the timed send gives up.
    let mut ds = s.stat(q).unwrap();
    ds.msg_qbytes = 1;
    s.set(q, &ds).unwrap();
    s.send(q, 1, b"a", 0).unwrap();
    let d = deadline_in(Duration::from_millis(30));
    assert_eq!(s.send_with(q, 1, b"b", 0, Some(d)), Err(ETIMEDOUT));
    assert_eq!(qnum(&s, q), 1);
    assert_eq!(
        s.waiting(q).unwrap(),
        (0, 0),
        "a timed-out sender left a trace"
    );
    // The rules of the arguments.
    assert_eq!(ext::deadline(7, 0, 0), Err(Errno::EINVAL));
    assert_eq!(
        ext::deadline(CLOCK_REALTIME, 0, 1_000_000_000),
        Err(Errno::EINVAL)
    );
    s.check().unwrap();
}

/// A receiver whose deadline passes at the moment a message is sent: the message is either
/// received by it or left in the queue, never lost, whatever the interleaving.
#[test]
fn a_timeout_at_the_moment_of_a_hand_off_loses_nothing() {
    let s = store("race");
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let (mut got, mut timed_out) = (0u64, 0u64);
    for i in 0..400u64 {
        let s2 = s.clone();
        let r = thread::spawn(move || {
            let mut buf = [0u8; 8];
            s2.receive_with(
                q,
                &mut buf,
                0,
                0,
                Some(deadline_in(Duration::from_micros(300))),
            )
        });
        // Sends near the deadline, at varying offsets.
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_micros(200 + (i % 20) * 10) {
            std::hint::spin_loop();
        }
        s.send(q, 1, b"m", 0).unwrap();
        match r.join().unwrap() {
            Ok(_) => got += 1,
            Err(e) => {
                assert_eq!(e, ETIMEDOUT);
                timed_out += 1;
                // The message it did not take is in the queue.
                assert_eq!(rcv(&s, q, 0, IPC_NOWAIT).unwrap().1, "m");
            }
        }
        assert_eq!(qnum(&s, q), 0);
    }
    eprintln!("received {got}, timed out {timed_out}");
    s.check().unwrap();
}

#[test]
fn purge_discards_and_lets_senders_on() {
    let s = store("purge");
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let mut ds = s.stat(q).unwrap();
    ds.msg_qbytes = 4;
    s.set(q, &ds).unwrap();
    for _ in 0..4 {
        s.send(q, 1, b"a", 0).unwrap();
    }
    let s2 = s.clone();
    let sender = thread::spawn(move || s2.send(q, 2, b"b", 0));
    until_blocked(&s, q, 0, 1);
    let before = s.stat(q).unwrap();
    assert_eq!(s.purge(q), Ok(4));
    sender.join().unwrap().unwrap();
    // Not a receive.
    let after = s.stat(q).unwrap();
    assert_eq!(
        (after.msg_lrpid, after.msg_rtime),
        (before.msg_lrpid, before.msg_rtime)
    );
    assert_eq!(rcv(&s, q, 0, IPC_NOWAIT).unwrap(), (2, "b".into()));
    assert_eq!(s.purge(q), Ok(0));
    assert_eq!(s.purge(q + 1), Err(Errno::EINVAL));
    assert_eq!(s.purge(-1), Err(Errno::EINVAL));
    s.check().unwrap();
}

/// Purge and abort while a sender and a receiver are both blocked on one queue: the
/// receiver waits for a type the full queue does not hold.
#[test]
fn purge_and_abort_with_a_sender_and_a_receiver_blocked() {
    let s = store("both");
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let mut ds = s.stat(q).unwrap();
    ds.msg_qbytes = 2;
    s.set(q, &ds).unwrap();
    s.send(q, 1, b"ab", 0).unwrap();
    let (s2, s3) = (s.clone(), s.clone());
    let receiver = thread::spawn(move || rcv(&s2, q, 9, 0));
    let sender = thread::spawn(move || s3.send(q, 9, b"to", 0));
    until_blocked(&s, q, 1, 1);
    // Purge: the sender proceeds, and its message goes to the blocked receiver.
    assert_eq!(s.purge(q), Ok(1));
    sender.join().unwrap().unwrap();
    assert_eq!(receiver.join().unwrap(), Ok((9, "to".into())));
    assert_eq!(qnum(&s, q), 0);
    // Abort both: each gets ECANCELED, the queue keeps its message.
    s.send(q, 1, b"ab", 0).unwrap();
    let (s2, s3) = (s.clone(), s.clone());
    let receiver = thread::spawn(move || rcv(&s2, q, 9, 0));
    let sender = thread::spawn(move || s3.send(q, 9, b"to", 0));
    until_blocked(&s, q, 1, 1);
    assert_eq!(s.abort(q, MSGQ_ABORT_RECEIVERS | MSGQ_ABORT_SENDERS), Ok(2));
    assert_eq!(receiver.join().unwrap(), Err(ECANCELED));
    assert_eq!(sender.join().unwrap(), Err(ECANCELED));
    assert_eq!(rcv(&s, q, 0, IPC_NOWAIT).unwrap(), (1, "ab".into()));
    s.check().unwrap();
}

#[test]
fn urgent_goes_first() {
    let s = store("urgent");
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    s.send(q, 1, b"a", 0).unwrap();
    s.send(q, 2, b"b", 0).unwrap();
    s.send_with(q, 2, b"U", MSGQ_URGENT, None).unwrap();
    s.send_with(q, 3, b"V", MSGQ_URGENT, None).unwrap();
    // MSG_EXCEPT picks the oldest head among the other types: urgent ones count first.
    assert_eq!(rcv(&s, q, 3, MSG_EXCEPT).unwrap(), (2, "U".into()));
    assert_eq!(rcv(&s, q, 0, 0).unwrap(), (3, "V".into()));
    assert_eq!(rcv(&s, q, 2, 0).unwrap(), (2, "b".into()));
    s.send_with(q, 1, b"W", MSGQ_URGENT, None).unwrap();
    assert_eq!(rcv(&s, q, 1, 0).unwrap(), (1, "W".into()));
    assert_eq!(rcv(&s, q, 0, 0).unwrap(), (1, "a".into()));
    // On the plain call the extension bit is ignored, as Linux ignores unknown bits.
    s.send(q, 1, b"p", 0).unwrap();
    s.send(q, 1, b"q", MSGQ_URGENT).unwrap();
    assert_eq!(rcv(&s, q, 0, 0).unwrap(), (1, "p".into()));
    assert_eq!(rcv(&s, q, 0, 0).unwrap(), (1, "q".into()));
    s.check().unwrap();
}

#[test]
fn overwrite_drops_the_oldest() {
    let s = store("overwrite");
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let mut ds = s.stat(q).unwrap();
    ds.msg_qbytes = 10;
    s.set(q, &ds).unwrap();
    s.send(q, 1, b"aaaa", 0).unwrap();
    s.send(q, 2, b"bbbb", 0).unwrap();
    // 8 + 4 > 10: one dropped (the oldest).
    assert_eq!(s.send_with(q, 3, b"cccc", MSGQ_OVERWRITE, None), Ok(1));
    assert_eq!(
        s.send_with(q, 4, b"dddddddddd", MSGQ_OVERWRITE, None),
        Ok(2)
    );
    assert_eq!(qnum(&s, q), 1);
    assert_eq!(
        s.send_with(q, 4, b"eleven bytes", MSGQ_OVERWRITE, None),
        Err(EMSGSIZE)
    );
    assert_eq!(rcv(&s, q, 0, 0).unwrap(), (4, "dddddddddd".into()));
    assert_eq!(s.send_with(q, 5, b"e", MSGQ_OVERWRITE, None), Ok(0));
    assert_eq!(
        s.send_with(q, 5, b"e", MSGQ_OVERWRITE | MSGQ_BROADCAST, None),
        Err(Errno::EINVAL)
    );
    // Many small messages dropped for one large one (more than one undo log's worth).
    ds.msg_qbytes = 16384;
    s.set(q, &ds).unwrap();
    rcv(&s, q, 0, 0).unwrap();
    let mut n = 0;
    while s.send(q, 1, b"z", IPC_NOWAIT).is_ok() {
        n += 1;
    }
    assert_eq!(n, 16384);
    assert_eq!(
        s.send_with(q, 9, &[7u8; 8192], MSGQ_OVERWRITE, None),
        Ok(8192)
    );
    assert_eq!(qnum(&s, q), 8193);
    s.check().unwrap();
}

#[test]
fn abort_wakes_receivers_and_senders() {
    let s = store("abort");
    let full = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let mut ds = s.stat(full).unwrap();
    ds.msg_qbytes = 1;
    s.set(full, &ds).unwrap();
    s.send(full, 1, b"x", 0).unwrap();
    let empty = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let mut hs = Vec::new();
    for i in 0..3i64 {
        let s2 = s.clone();
        hs.push(thread::spawn(move || rcv(&s2, empty, i, 0).map(|_| ())));
    }
    for _ in 0..2 {
        let s2 = s.clone();
        hs.push(thread::spawn(move || s2.send(full, 1, b"y", 0)));
    }
    until_blocked(&s, empty, 3, 0);
    until_blocked(&s, full, 0, 2);
    assert_eq!(s.abort(empty, MSGQ_ABORT_SENDERS), Ok(0));
    assert_eq!(s.abort(empty, MSGQ_ABORT_RECEIVERS), Ok(3));
    assert_eq!(
        s.abort(full, MSGQ_ABORT_RECEIVERS | MSGQ_ABORT_SENDERS),
        Ok(2)
    );
    for h in hs {
        assert_eq!(h.join().unwrap(), Err(ECANCELED));
    }
    assert_eq!(s.abort(full, 0), Err(Errno::EINVAL));
    assert_eq!(s.abort(full, 4), Err(Errno::EINVAL));
    assert_eq!(qnum(&s, full), 1);
    s.check().unwrap();
}

#[test]
fn broadcast_reaches_every_matching_receiver() {
    let s = store("broadcast");
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    // Nobody waits: queued as usual.
    assert_eq!(s.send_with(q, 1, b"first", MSGQ_BROADCAST, None), Ok(0));
    assert_eq!(rcv(&s, q, 0, 0).unwrap(), (1, "first".into()));
    // (msgtyp, flags) of each blocked receiver, and whether type 2 matches it.
    let sel = [
        (2, 0, true),
        (2, 0, true),
        (1, 0, false),
        (0, 0, true),
        (-1, 0, false),
        (-3, 0, true),
        (2, MSG_EXCEPT, false),
        (5, MSG_EXCEPT, true),
    ];
    let mut hs = Vec::new();
    for (typ, flg, _) in sel {
        let s2 = s.clone();
        hs.push(thread::spawn(move || rcv(&s2, q, typ, flg)));
    }
    until_blocked(&s, q, sel.len() as u64, 0);
    let matching = sel.iter().filter(|x| x.2).count() as u64;
    assert_eq!(
        s.send_with(q, 2, b"all", MSGQ_BROADCAST, None),
        Ok(matching)
    );
    assert_eq!(qnum(&s, q), 0, "a broadcast some received was also queued");
    until_blocked(&s, q, sel.len() as u64 - matching, 0);
    // The others still wait: wake them.
    assert_eq!(
        s.abort(q, MSGQ_ABORT_RECEIVERS),
        Ok(sel.len() as u64 - matching)
    );
    for (h, (_, _, m)) in hs.into_iter().zip(sel) {
        let r = h.join().unwrap();
        if m {
            assert_eq!(r, Ok((2, "all".into())));
        } else {
            assert_eq!(r, Err(ECANCELED));
        }
    }
    // A receiver whose buffer is too small gets E2BIG and is not counted.
    let s2 = s.clone();
    let small = thread::spawn(move || s2.receive_with(q, &mut [0u8; 2], 0, 0, None));
    until_blocked(&s, q, 1, 0);
    assert_eq!(s.send_with(q, 2, b"long", MSGQ_BROADCAST, None), Ok(0));
    assert_eq!(small.join().unwrap(), Err(Errno::E2BIG));
    assert_eq!(qnum(&s, q), 1);
    s.check().unwrap();
}

#[test]
fn peek_copies_and_can_wait() {
    let s = store("peek");
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    s.send(q, 3, b"three", 0).unwrap();
    s.send(q, 1, b"one", 0).unwrap();
    assert_eq!(rcv(&s, q, -2, MSGQ_PEEK).unwrap(), (1, "one".into()));
    assert_eq!(
        rcv(&s, q, 1, MSGQ_PEEK | MSG_EXCEPT).unwrap(),
        (3, "three".into())
    );
    assert_eq!(qnum(&s, q), 2);
    assert_eq!(
        s.receive_with(q, &mut [0u8; 2], 0, MSGQ_PEEK, None),
        Err(Errno::E2BIG)
    );
    assert_eq!(
        s.receive_with(q, &mut [0u8; 2], 0, MSGQ_PEEK | MSG_NOERROR, None),
        Ok((3, 2))
    );
    assert_eq!(
        rcv(&s, q, 0, MSGQ_PEEK | MSG_COPY | IPC_NOWAIT),
        Err(Errno::EINVAL)
    );
    assert_eq!(rcv(&s, q, 0, MSGQ_URGENT), Err(Errno::EINVAL));
    assert_eq!(rcv(&s, q, 9, MSGQ_PEEK | IPC_NOWAIT), Err(Errno::ENOMSG));
    assert_eq!(
        s.receive_with(
            q,
            &mut [0u8; 8],
            9,
            MSGQ_PEEK,
            Some(deadline_in(Duration::from_millis(20)))
        ),
        Err(ETIMEDOUT)
    );
    // A blocked peeker gets a copy of the message a blocked receiver takes.
    let (s2, s3) = (s.clone(), s.clone());
    let peeker = thread::spawn(move || rcv(&s2, q, 9, MSGQ_PEEK));
    until_blocked(&s, q, 1, 0);
    let receiver = thread::spawn(move || rcv(&s3, q, 9, 0));
    until_blocked(&s, q, 2, 0);
    s.send(q, 9, b"nine", 0).unwrap();
    assert_eq!(peeker.join().unwrap(), Ok((9, "nine".into())));
    assert_eq!(receiver.join().unwrap(), Ok((9, "nine".into())));
    assert_eq!(qnum(&s, q), 2);
    // A blocked peeker and no receiver: the message is queued, and the peeker has a copy.
    rcv(&s, q, 1, 0).unwrap();
    let s2 = s.clone();
    let peeker = thread::spawn(move || rcv(&s2, q, 3, MSGQ_PEEK | MSG_EXCEPT));
    until_blocked(&s, q, 1, 0);
    s.send(q, 4, b"four", 0).unwrap();
    assert_eq!(peeker.join().unwrap(), Ok((4, "four".into())));
    assert_eq!(qnum(&s, q), 2);
    assert_eq!(s.purge(q), Ok(2));
    s.check().unwrap();
}

#[test]
fn removal_and_signals_end_timed_waits() {
    let s = store("rmid");
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let s2 = s.clone();
    let h = thread::spawn(move || {
        let d = Some(deadline_in(Duration::from_secs(30)));
        s2.receive_with(q, &mut [0u8; 8], 0, 0, d)
    });
    until_blocked(&s, q, 1, 0);
    s.remove(q).unwrap();
    assert_eq!(h.join().unwrap(), Err(Errno::EIDRM));
    // A signal during a timed wait: EINTR (the handler tells the engine, as the shim's does).
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    extern "C" fn on_usr1(_: libc::c_int) {
        msgq_user::interrupt::handler_ran();
    }
    // SAFETY: a zeroed sigaction with a valid handler.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as *const () as usize;
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let s2 = s.clone();
    let h = thread::spawn(move || {
        // SAFETY: pthread_self of this thread.
        tx.send(unsafe { libc::pthread_self() } as usize).unwrap();
        s2.receive_with(
            q,
            &mut [0u8; 8],
            0,
            0,
            Some(deadline_in(Duration::from_secs(30))),
        )
    });
    let tid = rx.recv().unwrap();
    until_blocked(&s, q, 1, 0);
    // SAFETY: the thread is alive (it is blocked in the receive).
    unsafe { libc::pthread_kill(tid as libc::pthread_t, libc::SIGUSR1) };
    assert_eq!(h.join().unwrap(), Err(Errno::EINTR));
    s.check().unwrap();
}

#[test]
fn select_waits_for_any_queue() {
    use msgq_user::engine::select::Want;
    let s = store("select");
    let qs: Vec<i32> = (0..3)
        .map(|_| s.msgget(IPC_PRIVATE, 0o600).unwrap())
        .collect();
    let want = |typ: i64, flg: i32| -> Vec<Want> {
        qs.iter()
            .map(|&id| Want {
                id,
                msgtyp: typ,
                msgflg: flg,
            })
            .collect()
    };
    let d = || Some(deadline_in(Duration::from_millis(30)));
    assert_eq!(s.select(&want(0, 0), d()), Err(ETIMEDOUT));
    assert_eq!(s.select(&[], d()), Err(Errno::EINVAL));
    s.send(qs[1], 5, b"x", 0).unwrap();
    assert_eq!(s.select(&want(0, 0), d()), Ok(vec![0, 1, 0]));
    assert_eq!(s.select(&want(5, MSG_EXCEPT), d()), Err(ETIMEDOUT));
    assert_eq!(s.select(&want(-5, 0), None), Ok(vec![0, 1, 0]));
    // Nothing was received.
    assert_eq!(qnum(&s, qs[1]), 1);
    // A blocked select, woken by a send to another queue; an abort does not end it.
    let (s2, w2) = (s.clone(), want(7, 0));
    let h = thread::spawn(move || s2.select(&w2, None));
    thread::sleep(Duration::from_millis(50));
    assert_eq!(s.abort(qs[2], MSGQ_ABORT_RECEIVERS), Ok(0));
    assert_eq!(
        s.waiting(qs[2]).unwrap(),
        (0, 0),
        "a select counts as a receiver"
    );
    s.send(qs[0], 6, b"not it", 0).unwrap();
    s.send(qs[2], 7, b"it", 0).unwrap();
    assert_eq!(h.join().unwrap(), Ok(vec![0, 0, 1]));
    // A removed queue ends the select; a bad id is reported at once.
    let (s2, w2) = (s.clone(), want(9, 0));
    let h = thread::spawn(move || s2.select(&w2, None));
    thread::sleep(Duration::from_millis(50));
    s.remove(qs[0]).unwrap();
    assert_eq!(h.join().unwrap(), Ok(vec![-Errno::EIDRM.0, 0, 0]));
    assert_eq!(
        s.select(&want(9, 0), None),
        Ok(vec![-Errno::EINVAL.0, 0, 0])
    );
    // A signal: EINTR.
    extern "C" fn on_usr2(_: libc::c_int) {
        msgq_user::interrupt::handler_ran();
    }
    // SAFETY: a zeroed sigaction with a valid handler.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr2 as *const () as usize;
        libc::sigaction(libc::SIGUSR2, &sa, std::ptr::null_mut());
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let (s2, w2) = (s.clone(), want(9, 0)[1..].to_vec());
    let h = thread::spawn(move || {
        // SAFETY: pthread_self of this thread.
        tx.send(unsafe { libc::pthread_self() } as usize).unwrap();
        s2.select(&w2, None)
    });
    let tid = rx.recv().unwrap();
    thread::sleep(Duration::from_millis(50));
    // SAFETY: the thread is alive (blocked in the select).
    unsafe { libc::pthread_kill(tid as libc::pthread_t, libc::SIGUSR2) };
    assert_eq!(h.join().unwrap(), Err(Errno::EINTR));
    s.check().unwrap();
}

/// Whether `fd` becomes readable (`want`) or not within 5 s (the fd's thread follows the
/// queue a moment later).
fn becomes(fd: &std::os::fd::OwnedFd, want: bool) -> bool {
    use std::os::fd::AsRawFd;
    for _ in 0..500 {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, if want { 10 } else { 0 }) };
        if (r > 0) == want {
            return true;
        }
        if !want {
            thread::sleep(Duration::from_millis(10));
        }
    }
    false
}

#[test]
fn watch_fd_follows_the_queue() {
    use msgq_user::engine::select::Want;
    let s = store("watchfd");
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let want = |id| Want {
        id,
        msgtyp: 3,
        msgflg: 0,
    };
    assert_eq!(s.watch_fd(want(q + 1)).err(), Some(Errno::EINVAL));
    let fd = s.watch_fd(want(q)).unwrap();
    assert!(becomes(&fd, false));
    s.send(q, 2, b"other", 0).unwrap();
    thread::sleep(Duration::from_millis(50));
    assert!(becomes(&fd, false), "readable for a type it does not watch");
    s.send(q, 3, b"three", 0).unwrap();
    assert!(becomes(&fd, true));
    rcv(&s, q, 3, 0).unwrap();
    assert!(becomes(&fd, false), "still readable once received");
    s.send(q, 3, b"again", 0).unwrap();
    assert!(becomes(&fd, true));
    s.purge(q).unwrap();
    assert!(becomes(&fd, false), "still readable once purged");
    s.remove(q).unwrap();
    assert!(becomes(&fd, true), "not readable once the queue is gone");
}

/// The permission each extension needs, as another user (uid/gid 65534) on queues of
/// modes 0600, 0622 (others may write) and 0644 (others may read): purge and peek and
/// select need read, abort of receivers write, abort of senders read, overwrite both.
#[test]
fn permissions_of_the_extensions() {
    use msgq_user::engine::select::Want;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to become another user");
        return;
    }
    let s = store("perm");
    let modes = [0o600, 0o622, 0o644];
    let qs: Vec<i32> = modes
        .iter()
        .map(|&m| {
            let q = s.msgget(IPC_PRIVATE, m).unwrap();
            s.send(q, 1, b"m", 0).unwrap();
            q
        })
        .collect();
    // SAFETY: fork in a test process; the child only uses the store, then _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let mut wrong = 0;
        // SAFETY: dropping privileges in the child.
        unsafe {
            libc::setgroups(0, std::ptr::null());
            libc::setresgid(65534, 65534, 65534);
            libc::setresuid(65534, 65534, 65534);
        }
        msgq_user::refresh_credentials();
        let ea = Err(Errno::EACCES);
        for (i, &q) in qs.iter().enumerate() {
            let (r, w) = (modes[i] & 0o004 != 0, modes[i] & 0o002 != 0);
            let ok_if = |c: bool, v: u64| if c { Ok(v) } else { ea };
            let mut check = |what: &str, got: Result<u64, Errno>, want: Result<u64, Errno>| {
                if got != want {
                    eprintln!("mode {:o} {what}: got {got:?}, want {want:?}", modes[i]);
                    wrong += 1;
                }
            };
            let peek = s
                .receive_with(q, &mut [0u8; 8], 0, MSGQ_PEEK, None)
                .map(|(t, _)| t as u64);
            check("peek", peek, ok_if(r, 1));
            let sel = s.select(
                &[Want {
                    id: q,
                    msgtyp: 0,
                    msgflg: 0,
                }],
                Some(deadline_in(Duration::ZERO)),
            );
            let sel = sel.map(|v| v[0] as u64);
            let want_sel = if r {
                Ok(1)
            } else {
                Ok(-Errno::EACCES.0 as u64)
            };
            check("select", sel, want_sel);
            check(
                "abort receivers",
                s.abort(q, MSGQ_ABORT_RECEIVERS),
                ok_if(w, 0),
            );
            check("abort senders", s.abort(q, MSGQ_ABORT_SENDERS), ok_if(r, 0));
            check(
                "overwrite",
                s.send_with(q, 2, b"o", MSGQ_OVERWRITE, None),
                ok_if(r && w, 0),
            );
            check("purge", s.purge(q), ok_if(r, 1));
        }
        // SAFETY: leaving the child with the count of wrong results.
        unsafe { libc::_exit(wrong) };
    }
    let mut status = 0;
    // SAFETY: our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "wrong results as another user (status {status:#x})"
    );
    // Root may do everything (0600 as owner).
    assert_eq!(s.purge(qs[0]), Ok(1));
}

/// A blocked peeker stopped (SIGSTOP) while the copy it was given waits for it: the
/// integrity check accepts a pending copy; killed then, its copy is freed by the sweep,
/// never put back into the queue (which would duplicate the message).
#[test]
fn a_dead_peekers_copy_is_freed_not_queued() {
    let s = store("deadpeek");
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    // SAFETY: fork in a test process; the child only uses the store, then _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let r = s.receive_with(q, &mut [0u8; 8], 0, MSGQ_PEEK, None);
        // SAFETY: leaving the child.
        unsafe { libc::_exit(i32::from(r.is_err())) };
    }
    // Killed and reaped however the test ends (a stopped child would hold the harness's
    // output open for ever).
    struct Child(libc::pid_t);
    impl Drop for Child {
        fn drop(&mut self) {
            // SAFETY: our own child, killed and reaped once.
            unsafe {
                libc::kill(self.0, libc::SIGKILL);
                libc::waitpid(self.0, std::ptr::null_mut(), 0);
            }
        }
    }
    let child = Child(pid);
    until_blocked(&s, q, 1, 0);
    // SAFETY: our own child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    s.send(q, 1, b"m", 0).unwrap();
    let r = s.check();
    assert!(
        matches!(&r, Ok(r) if (r.messages, r.pending) == (1, 1)),
        "{r:?}"
    );
    drop(child);
    // A receive that finds nothing else sweeps the pending list first.
    assert_eq!(rcv(&s, q, 2, IPC_NOWAIT), Err(Errno::ENOMSG));
    assert_eq!(qnum(&s, q), 1, "the dead peeker's copy went into the queue");
    let r = s.check().unwrap();
    assert_eq!((r.messages, r.pending, r.waiters), (1, 0, 0), "{r:?}");
}

#[test]
fn notify_on_an_arrival_to_the_empty_queue() {
    use std::sync::mpsc::channel;
    let s = store("notify");
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let called = |tx: std::sync::mpsc::Sender<&'static str>, what: &'static str| {
        move || tx.send(what).unwrap()
    };
    let (tx, rx) = channel();
    assert_eq!(
        s.notify(q + 1, called(tx.clone(), "bad")).err(),
        Some(Errno::EINVAL)
    );
    // An arrival on the empty queue: called once.
    let n1 = s.notify(q, called(tx.clone(), "first")).unwrap();
    assert!(
        rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "called before any message"
    );
    s.send(q, 1, b"a", 0).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok("first"));
    drop(n1);
    // Registered while a message is there: not before the queue was emptied and refilled.
    let n2 = s.notify(q, called(tx.clone(), "second")).unwrap();
    s.send(q, 1, b"b", 0).unwrap();
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "the queue was not empty"
    );
    assert_eq!(s.purge(q), Ok(2));
    thread::sleep(Duration::from_millis(100));
    s.send(q, 1, b"c", 0).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok("second"));
    drop(n2);
    rcv(&s, q, 0, 0).unwrap();
    // Cancelled: never called.
    s.notify(q, called(tx.clone(), "cancelled"))
        .unwrap()
        .cancel();
    s.send(q, 1, b"d", 0).unwrap();
    assert!(
        rx.recv_timeout(Duration::from_millis(600)).is_err(),
        "called after cancel"
    );
    rcv(&s, q, 0, 0).unwrap();
    // The queue removed: no arrival.
    let _n3 = s.notify(q, called(tx.clone(), "removed")).unwrap();
    s.remove(q).unwrap();
    assert!(
        rx.recv_timeout(Duration::from_millis(600)).is_err(),
        "a removal is no arrival"
    );
}
