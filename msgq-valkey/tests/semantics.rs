//! The backend's System V semantics against a real server (started by the test, loopback).
//! The conformance suite compares it with the kernel case by case; these check what it
//! cannot see: blocking hand-off between clients, leases, EINTR, EIDRM.

use msgq_core::abi::{IPC_CREAT, IPC_EXCL, IPC_NOWAIT, IPC_PRIVATE, MSG_EXCEPT, MSG_NOERROR};
use msgq_core::Errno;
use msgq_valkey::testing::Server;
use msgq_valkey::Valkey;
use std::time::{Duration, Instant};

fn ns() -> String {
    format!("t{}", std::process::id())
}

#[test]
fn send_receive_by_type_and_errors() {
    let srv = Server::start().expect("valkey server (tests/valkey/deps.sh)");
    let v = Valkey::open(&srv.url(), &ns()).unwrap();
    let id = v.msgget(0x51, IPC_CREAT | 0o600).unwrap();
    assert_eq!(v.msgget(0x51, 0).unwrap(), id);
    assert_eq!(v.msgget(0x51, IPC_CREAT | IPC_EXCL), Err(Errno::EEXIST));
    assert_eq!(v.msgget(0x52, 0), Err(Errno::ENOENT));
    for (t, s) in [
        (5, "five"),
        (3, "three"),
        (7, "seven"),
        (3, "three-b"),
        (1, "one"),
    ] {
        v.send(id, t, s.as_bytes(), 0, None, false).unwrap();
    }
    let r = |typ: i64, flg: i32| v.receive(id, 100, typ, flg | IPC_NOWAIT, None);
    assert_eq!(r(-4, 0).unwrap(), (1, b"one".to_vec()));
    assert_eq!(r(3, 0).unwrap(), (3, b"three".to_vec()));
    // The first message whose type is not 5: "seven" (the queue is 5, 7, 3).
    assert_eq!(r(5, MSG_EXCEPT).unwrap(), (7, b"seven".to_vec()));
    assert_eq!(r(0, 0).unwrap(), (5, b"five".to_vec()));
    assert_eq!(v.receive(id, 2, 0, IPC_NOWAIT, None), Err(Errno::E2BIG));
    assert_eq!(
        v.receive(id, 2, 0, IPC_NOWAIT | MSG_NOERROR, None).unwrap(),
        (3, b"th".to_vec())
    );
    assert_eq!(r(0, 0), Err(Errno::ENOMSG));
    let ds = v.stat(id).unwrap();
    assert_eq!(ds.msg_qnum, 0);
    assert_eq!(ds.msg_perm.mode, 0o600);
    let p = v.msgget(IPC_PRIVATE, 0o644).unwrap();
    assert_ne!(p, id);
    v.remove(id).unwrap();
    assert_eq!(v.stat(id), Err(Errno::EINVAL));
    assert_eq!(v.msgget(0x51, 0), Err(Errno::ENOENT));
}

#[test]
fn blocked_receiver_gets_the_message_and_removal_gives_eidrm() {
    let srv = Server::start().expect("valkey server");
    let url = srv.url();
    let v = Valkey::open(&url, &ns()).unwrap();
    let id = v.msgget(IPC_PRIVATE, 0o600).unwrap();
    let u2 = url.clone();
    let n2 = ns();
    let t = std::thread::spawn(move || {
        let w = Valkey::open(&u2, &n2).unwrap();
        w.receive(id, 64, 9, 0, None)
    });
    std::thread::sleep(Duration::from_millis(300));
    v.send(id, 4, b"other type", 0, None, false).unwrap();
    v.send(id, 9, b"for you", 0, None, false).unwrap();
    assert_eq!(t.join().unwrap().unwrap(), (9, b"for you".to_vec()));
    assert_eq!(v.stat(id).unwrap().msg_qnum, 1);

    let u3 = url.clone();
    let n3 = ns();
    let t = std::thread::spawn(move || {
        let w = Valkey::open(&u3, &n3).unwrap();
        w.receive(id, 64, 77, 0, None)
    });
    std::thread::sleep(Duration::from_millis(300));
    v.remove(id).unwrap();
    assert_eq!(t.join().unwrap(), Err(Errno::EIDRM));
}

#[test]
fn timed_receive_times_out() {
    let srv = Server::start().expect("valkey server");
    let v = Valkey::open(&srv.url(), &ns()).unwrap();
    let id = v.msgget(IPC_PRIVATE, 0o600).unwrap();
    let t0 = Instant::now();
    let r = v.receive(id, 64, 0, 0, Some(t0 + Duration::from_millis(300)));
    assert_eq!(r, Err(msgq_core::ext::ETIMEDOUT));
    assert!(t0.elapsed() >= Duration::from_millis(300));
    // The cancelled waiter is gone: a later send queues its message.
    v.send(id, 1, b"x", 0, None, false).unwrap();
    assert_eq!(v.stat(id).unwrap().msg_qnum, 1);
}

#[test]
fn timed_calls_with_c_shapes_and_urgent_sends() {
    use msgq_core::ext::{ETIMEDOUT, MSGQ_PEEK, MSGQ_URGENT};
    let srv = Server::start().expect("valkey server");
    let v = Valkey::open(&srv.url(), &ns()).unwrap();
    let id = v.msgget(IPC_PRIVATE, 0o600).unwrap();
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec out-parameter.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_nsec += 200_000_000;
    if ts.tv_nsec >= 1_000_000_000 {
        ts.tv_sec += 1;
        ts.tv_nsec -= 1_000_000_000;
    }
    let mut buf = [0u8; 8 + 64];
    let t0 = Instant::now();
    // SAFETY: `buf` is ours (8 + 64 bytes); `ts` is a valid timespec.
    let r = unsafe {
        msgq_valkey::raw::timedrcv(
            &v,
            id,
            buf.as_mut_ptr().cast(),
            64,
            0,
            0,
            libc::CLOCK_MONOTONIC,
            &ts,
        )
    };
    assert_eq!(r, Err(ETIMEDOUT));
    assert!(t0.elapsed() >= Duration::from_millis(150));
    let msg = |t: i64, s: &[u8]| {
        let mut m = t.to_ne_bytes().to_vec();
        m.extend_from_slice(s);
        m
    };
    let (a, b) = (msg(1, b"first"), msg(1, b"urgent"));
    // SAFETY: the messages and `buf` are ours; a null deadline is none.
    unsafe {
        msgq_valkey::raw::timedsnd(&v, id, a.as_ptr().cast(), 5, 0, 0, std::ptr::null()).unwrap();
        msgq_valkey::raw::timedsnd(
            &v,
            id,
            b.as_ptr().cast(),
            6,
            MSGQ_URGENT,
            0,
            std::ptr::null(),
        )
        .unwrap();
        // A peek through the C shape: a copy of the first message, left queued.
        let n = msgq_valkey::raw::timedrcv(
            &v,
            id,
            buf.as_mut_ptr().cast(),
            64,
            0,
            MSGQ_PEEK,
            0,
            std::ptr::null(),
        )
        .unwrap();
        assert_eq!(&buf[8..8 + n], b"urgent");
    }
    assert_eq!(v.receive(id, 64, 0, IPC_NOWAIT, None).unwrap().1, b"urgent");
    assert_eq!(v.receive(id, 64, 0, IPC_NOWAIT, None).unwrap().1, b"first");
}

#[test]
fn the_rtos_extensions() {
    use msgq_core::ext::{
        ECANCELED, EMSGSIZE, MSGQ_ABORT_RECEIVERS, MSGQ_BROADCAST, MSGQ_OVERWRITE, MSGQ_PEEK,
    };
    let srv = Server::start().expect("valkey server");
    let url = srv.url();
    let n = format!("{}x", ns());
    let v = Valkey::open(&url, &n).unwrap();
    let id = v.msgget(IPC_PRIVATE, 0o600).unwrap();
    // Overwrite: qbytes 10 holds two 5-byte messages; a third drops the oldest.
    let mut ds = v.stat(id).unwrap();
    ds.msg_qbytes = 10;
    v.set(id, &ds).unwrap();
    for m in [b"aaaaa", b"bbbbb"] {
        v.send(id, 1, m, IPC_NOWAIT, None, false).unwrap();
    }
    assert_eq!(
        v.send(id, 1, b"ccccc", IPC_NOWAIT, None, false),
        Err(Errno::EAGAIN)
    );
    assert_eq!(v.send_ext(id, 1, b"ccccc", MSGQ_OVERWRITE, None), Ok(1));
    assert_eq!(
        v.send_ext(id, 1, b"much too long", MSGQ_OVERWRITE, None),
        Err(EMSGSIZE)
    );
    // Peek: a copy, left queued.
    let peek = |v: &Valkey| v.receive_ext(id, 64, 0, MSGQ_PEEK | IPC_NOWAIT, None);
    assert_eq!(peek(&v).unwrap().1, b"bbbbb");
    assert_eq!(v.stat(id).unwrap().msg_qnum, 2);
    // Purge: everything, counted.
    assert_eq!(v.purge(id), Ok(2));
    assert_eq!(v.stat(id).unwrap().msg_qnum, 0);
    // Broadcast: both blocked receivers get a copy; nothing is queued.
    let spawn_typed = |msgtyp: i64, flags: i32| {
        let (u, n) = (url.clone(), n.clone());
        std::thread::spawn(move || {
            Valkey::open(&u, &n)
                .unwrap()
                .receive_ext(id, 64, msgtyp, flags, None)
        })
    };
    let spawn = |flags: i32| {
        let (u, n) = (url.clone(), n.clone());
        std::thread::spawn(move || {
            Valkey::open(&u, &n)
                .unwrap()
                .receive_ext(id, 64, 0, flags, None)
        })
    };
    let blocked = |k: &str| {
        let key = format!("{{msgq:{n}:{}}}:{k}", id & 0x7fff);
        srv.call(&[b"ZCARD", key.as_bytes()])
            .ok()
            .and_then(|v| v.as_int())
            .unwrap_or(0)
    };
    let until = |k: &str, want: i64| {
        let t0 = Instant::now();
        while blocked(k) < want {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "{k} never reached {want}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let (r1, r2) = (spawn(0), spawn(0));
    until("rw", 2);
    assert_eq!(v.send_ext(id, 7, b"all", MSGQ_BROADCAST, None), Ok(2));
    assert_eq!(r1.join().unwrap().unwrap(), (7, b"all".to_vec()));
    assert_eq!(r2.join().unwrap().unwrap(), (7, b"all".to_vec()));
    assert_eq!(v.stat(id).unwrap().msg_qnum, 0);
    // A blocked peeker gets a copy of the next message, which is still queued.
    let p = spawn(MSGQ_PEEK);
    until("pw", 1);
    v.send(id, 3, b"seen", 0, None, false).unwrap();
    assert_eq!(p.join().unwrap().unwrap(), (3, b"seen".to_vec()));
    assert_eq!(v.stat(id).unwrap().msg_qnum, 1);
    // Abort: a blocked receiver (of type 9: the queued message is type 3) fails with
    // ECANCELED.
    let r = spawn_typed(9, 0);
    until("rw", 1);
    assert_eq!(v.abort(id, MSGQ_ABORT_RECEIVERS), Ok(1));
    assert_eq!(r.join().unwrap(), Err(ECANCELED));
}

#[test]
fn select_waits_on_queues_of_several_shards_without_receiving() {
    use msgq_core::abi::MSG_EXCEPT;
    use msgq_valkey::testing::Cluster;
    let cl = Cluster::start(3).expect("valkey cluster");
    let url = cl.url();
    let n = format!("{}s", ns());
    let v = Valkey::open(&url, &n).unwrap();
    let ids: Vec<i32> = (0..6)
        .map(|k| v.msgget(0x700 + k, IPC_CREAT | 0o600).unwrap())
        .collect();
    // Nothing ready: a deadline ends the wait.
    let wants: Vec<(i32, i64, i32)> = ids.iter().map(|&id| (id, 0, 0)).collect();
    let t0 = Instant::now();
    assert_eq!(
        v.select(&wants, Some(t0 + Duration::from_millis(300))),
        Err(msgq_core::ext::ETIMEDOUT)
    );
    assert!(t0.elapsed() >= Duration::from_millis(250));
    // A message already there: ready at once; a selector it does not match: not.
    v.send(ids[2], 5, b"x", 0, None, false).unwrap();
    let r = v
        .select(
            &[(ids[1], 0, 0), (ids[2], 5, 0), (ids[2], 5, MSG_EXCEPT)],
            None,
        )
        .unwrap();
    assert_eq!(r, vec![0, 1, 0]);
    assert_eq!(
        v.stat(ids[2]).unwrap().msg_qnum,
        1,
        "select receives nothing"
    );
    // A blocked select is woken by a send to the last queue (on whichever shard it is).
    v.receive(ids[2], 8, 0, IPC_NOWAIT, None).unwrap();
    // The selecting client's lease is long: only the send's wake-up can end its wait soon
    // (its renewals come every 60 s).
    let (u, n2, w2) = (url.clone(), n.clone(), wants.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let w = Valkey::open(&u, &n2)
            .unwrap()
            .with_lease(Duration::from_secs(120));
        let _ = tx.send(w.select(&w2, None));
    });
    std::thread::sleep(Duration::from_millis(300));
    v.send(ids[5], 1, b"wake", 0, None, false).unwrap();
    let r = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the send did not wake the select")
        .unwrap();
    assert_eq!(r, vec![0, 0, 0, 0, 0, 1]);
    // A queue removed under a blocked select ends it with EIDRM for that entry; a bad id
    // is EINVAL at once.
    let w3 = vec![(ids[0], 9, 0), (ids[3], 9, 0)];
    let (u, n3) = (url.clone(), n.clone());
    let t = std::thread::spawn(move || Valkey::open(&u, &n3).unwrap().select(&w3, None));
    std::thread::sleep(Duration::from_millis(300));
    v.remove(ids[3]).unwrap();
    let r = t.join().unwrap().unwrap();
    assert_eq!(r, vec![0, -Errno::EIDRM.0]);
    assert_eq!(
        v.select(&[(ids[3], 0, 0)], None).unwrap(),
        vec![-Errno::EINVAL.0]
    );
}
