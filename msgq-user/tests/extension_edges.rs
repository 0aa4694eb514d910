//! The extensions at their edges (a full store, room freed by an overwrite, a watch fd's
//! thread meeting an error): scenarios a review found failing, kept as regressions.
use msgq_core::abi::*;
use msgq_user::ext::{self, *};
use msgq_user::{deadline_in, Errno, Store};

mod common;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::until_blocked;

/// A store of 1 MiB (so that it fills) and a queue whose quota is no limit: msgmnb and the
/// queue's qbytes 2^30.
fn small_store_big_queue(tag: &str) -> (Arc<Store>, i32) {
    let (p, s) = common::scratch_store(&format!("edge-{tag}"), 1 << 20);
    let _ = std::fs::remove_file(&p);
    s.set_sysctl(msgq_core::limits::Sysctl::Msgmnb, 1 << 30)
        .unwrap();
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let mut ds = s.stat(q).unwrap();
    ds.msg_qbytes = 1 << 30;
    s.set(q, &ds).unwrap();
    (Arc::new(s), q)
}

fn store(name: &str) -> Arc<Store> {
    let (p, s) = common::scratch_store(&format!("edge-{name}"), 64 << 20);
    let _ = std::fs::remove_file(&p);
    Arc::new(s)
}

/// An overwrite that drops more than it adds leaves room; a blocked sender whose message
/// now fits must be woken (the module does: ipc.rs "if dropped > 0 { wake_senders }").
#[test]
fn overwrite_wakes_a_sender_that_now_fits() {
    let s = store("ovw");
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let mut ds = s.stat(q).unwrap();
    ds.msg_qbytes = 100;
    s.set(q, &ds).unwrap();
    s.send(q, 1, &[1u8; 60], 0).unwrap();
    s.send(q, 2, &[2u8; 30], 0).unwrap();
    let s2 = s.clone();
    // 20 + 90 > 100: blocks. Deadline so that the bug shows as ETIMEDOUT, not a hang.
    let sender = thread::spawn(move || {
        s2.send_with(
            q,
            3,
            &[3u8; 20],
            0,
            Some(deadline_in(Duration::from_secs(3))),
        )
    });
    until_blocked(&s, q, 0, 1);
    // 15 + 90 > 100: the 60-byte message goes; 30 + 15 = 45 left, so 20 more fit.
    assert_eq!(s.send_with(q, 4, &[4u8; 15], MSGQ_OVERWRITE, None), Ok(1));
    assert_eq!(s.stat(q).unwrap().msg_cbytes, 45);
    assert_eq!(
        sender.join().unwrap(),
        Ok(0),
        "the sender that fits was never woken"
    );
    s.check().unwrap();
}

/// Same, when the overwritten message is handed to a blocked receiver: all the dropped
/// room is free, and nobody wakes the sender.
#[test]
fn overwrite_handed_over_wakes_senders() {
    let s = store("ovw2");
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let mut ds = s.stat(q).unwrap();
    ds.msg_qbytes = 10;
    s.set(q, &ds).unwrap();
    s.send(q, 1, &[1u8; 10], 0).unwrap();
    let (s2, s3) = (s.clone(), s.clone());
    let receiver = thread::spawn(move || {
        let mut b = [0u8; 16];
        s2.receive_with(q, &mut b, 9, 0, Some(deadline_in(Duration::from_secs(5))))
    });
    let sender = thread::spawn(move || {
        s3.send_with(
            q,
            3,
            &[3u8; 5],
            0,
            Some(deadline_in(Duration::from_secs(3))),
        )
    });
    until_blocked(&s, q, 1, 1);
    assert_eq!(s.send_with(q, 9, &[9u8; 4], MSGQ_OVERWRITE, None), Ok(1));
    assert_eq!(receiver.join().unwrap(), Ok((9, 4)));
    assert_eq!(
        sender.join().unwrap(),
        Ok(0),
        "queue empty, sender still blocked"
    );
    s.check().unwrap();
}

/// A broadcast whose first copy finds the store full queues the message (nobody "took"
/// it), but leaves the matching receivers blocked: nobody offers them the queued message.
#[test]
fn broadcast_copy_failure_strands_receivers() {
    // The quota is set (an IPC_SET, which wakes blocked receivers) before they block.
    let (s, b) = small_store_big_queue("bfull");
    let mut rs = Vec::new();
    for _ in 0..2 {
        let s2 = s.clone();
        rs.push(thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let t0 = Instant::now();
            let r = s2.receive_with(b, &mut buf, 5, 0, Some(deadline_in(Duration::from_secs(3))));
            eprintln!("receiver done after {:?}: {r:?}", t0.elapsed());
            r
        }));
    }
    until_blocked(&s, b, 2, 0);
    // Fill the queue's shard with type-1 messages the receivers do not want.
    let mut n = 0;
    loop {
        match s.send(b, 1, &[0u8; 4000], IPC_NOWAIT) {
            Ok(()) => n += 1,
            Err(e) => {
                eprintln!("fill stopped after {n} with {e:?}");
                break;
            }
        }
    }
    // One block of that class free: the broadcast's message gets it, its copy does not.
    let mut buf = [0u8; 4000];
    s.receive_with(b, &mut buf, 1, IPC_NOWAIT, None).unwrap();
    let tb = Instant::now();
    let r = s.send_with(b, 5, &[5u8; 4000], MSGQ_BROADCAST, None);
    eprintln!("broadcast at {:?}", tb);
    eprintln!(
        "broadcast: {r:?}, qnum {} (n={n})",
        s.stat(b).unwrap().msg_qnum
    );
    let got: Vec<_> = rs.into_iter().map(|h| h.join().unwrap()).collect();
    eprintln!("receivers: {got:?}, qnum {}", s.stat(b).unwrap().msg_qnum);
    assert!(
        !(s.stat(b).unwrap().msg_qnum == n as u64 && got.iter().all(|g| *g == Err(ext::ETIMEDOUT))),
        "a matching message sat in the queue while both receivers timed out"
    );
}

/// A broadcast counts every blocked caller given the message, a blocked peeker too.
#[test]
fn broadcast_count_includes_peekers() {
    let s = store("bpeek");
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let (s2, s3) = (s.clone(), s.clone());
    let peeker = thread::spawn(move || {
        let mut b = [0u8; 16];
        s2.receive_with(q, &mut b, 0, MSGQ_PEEK, None)
    });
    until_blocked(&s, q, 1, 0);
    let receiver = thread::spawn(move || {
        let mut b = [0u8; 16];
        s3.receive_with(q, &mut b, 0, 0, None)
    });
    until_blocked(&s, q, 2, 0);
    let n = s.send_with(q, 1, b"x", MSGQ_BROADCAST, None).unwrap();
    peeker.join().unwrap().unwrap();
    receiver.join().unwrap().unwrap();
    // The count is of the blocked callers given the message: peekers too (both backends,
    // docs/extensions.md).
    assert_eq!(n, 2);
}

fn is_readable(fd: &std::os::fd::OwnedFd) -> bool {
    use std::os::fd::AsRawFd;
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, 0) > 0 }
}

/// A watch fd whose thread meets ENOMEM once (the shard full when it re-registers its
/// watcher, every 250 ms) becomes readable for ever: the thread sets it and exits.
#[test]
fn watch_fd_stuck_readable_after_a_transient_enomem() {
    use msgq_user::engine::select::Want;
    let (s, q) = small_store_big_queue("wfull");
    // The shard full (of messages of type 1, which the fd does not watch).
    let mut enomem = 0;
    loop {
        match s.send(q, 1, &[1u8; 150], IPC_NOWAIT) {
            Ok(()) => {}
            Err(Errno::ENOMEM) => {
                enomem += 1;
                break;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    let fd = s
        .watch_fd(Want {
            id: q,
            msgtyp: 5,
            msgflg: 0,
        })
        .unwrap();
    assert!(!is_readable(&fd), "readable at once");
    thread::sleep(Duration::from_millis(300));
    eprintln!(
        "readable with no type-5 message, shard full: {}",
        is_readable(&fd)
    );
    let purged = s.purge(q).unwrap();
    eprintln!("ENOMEM seen {enomem} times, purged {purged}");
    thread::sleep(Duration::from_millis(600));
    assert!(
        !is_readable(&fd),
        "no message of type 5 was ever sent, yet the watch fd stays readable"
    );
    s.check().unwrap();
}

/// An overwrite that fails with ENOMEM after its drops were committed in batches: the
/// caller is told the send failed, yet the dropped messages are gone.
#[test]
fn overwrite_enomem_after_batched_drops_loses_messages() {
    let (s, q) = small_store_big_queue("ofull");
    let mut n = 0u64;
    while s.send(q, 1, b"z", IPC_NOWAIT).is_ok() {
        n += 1;
    }
    // Room for n bytes: an 8000-byte message needs 8000 of them dropped.
    let mut ds = s.stat(q).unwrap();
    ds.msg_qbytes = n;
    s.set(q, &ds).unwrap();
    let r = s.send_with(q, 2, &[2u8; 8000], MSGQ_OVERWRITE, None);
    let after = s.stat(q).unwrap().msg_qnum;
    eprintln!("n={n}, overwrite: {r:?}, qnum after: {after}");
    if r.is_err() {
        assert_eq!(
            after,
            n,
            "the overwrite failed but dropped {} messages",
            n - after
        );
    }
    s.check().unwrap();
}
