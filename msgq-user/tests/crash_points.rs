//! Deterministic crash tests: every operation is killed (SIGKILL) at each step of the
//! update protocol in turn, and the next user of the store must find it exactly as before
//! the operation (rolled back), or exactly as after it (the kill came after the commit),
//! with the integrity check passing.
#![cfg(feature = "fault-injection")]

mod common;

use common::{kill_and_reap, killed, run_armed, scratch_store, stopped_receiver};
use msgq_core::abi::*;
use msgq_user::{Store, StoreOptions};
use std::path::PathBuf;

/// Everything observable about a queue: its counters and, non-destructively, its messages.
fn snapshot(s: &Store, q: i32) -> String {
    let mut out = String::new();
    match s.stat(q) {
        Err(e) => return format!("stat {e}"),
        Ok(d) => {
            out += &format!(
                "qnum {} cbytes {} qbytes {} mode {:o};",
                d.msg_qnum, d.msg_cbytes, d.msg_qbytes, d.msg_perm.mode
            )
        }
    }
    let mut buf = [0u8; 64];
    for i in 0.. {
        match s.receive(q, &mut buf, i, MSG_COPY | IPC_NOWAIT) {
            Ok((t, n)) => out += &format!(" {t}:{}", String::from_utf8_lossy(&buf[..n])),
            Err(_) => break,
        }
    }
    let (_, mi) = s.info(true).unwrap();
    // The registry's view: the key of the queue "create queue" makes (created in its own
    // shard), and whether the queue's key still finds it.
    let by_key = |k| match s.msgget(k, 0) {
        Ok(id) => format!("id {id}"),
        Err(e) => format!("{e}"),
    };
    out + &format!(
        "; ns {} {} {}; key 77: {}; key 5: {}",
        mi.msgpool,
        mi.msgmap,
        mi.msgtql,
        by_key(77),
        by_key(5)
    )
}

type Op = fn(&Store, i32);

fn ops() -> Vec<(&'static str, Op)> {
    vec![
        ("send new type", |s, q| {
            s.send(q, 9, b"new", IPC_NOWAIT).unwrap()
        }),
        ("send existing type", |s, q| {
            s.send(q, 2, b"more", IPC_NOWAIT).unwrap()
        }),
        ("receive any", |s, q| {
            s.receive(q, &mut [0; 64], 0, IPC_NOWAIT).unwrap();
        }),
        ("receive last of a type", |s, q| {
            s.receive(q, &mut [0; 64], 3, IPC_NOWAIT).unwrap();
        }),
        ("receive negative", |s, q| {
            s.receive(q, &mut [0; 64], -2, IPC_NOWAIT).unwrap();
        }),
        ("create queue", |s, _| {
            s.msgget(77, IPC_CREAT | 0o600).unwrap();
        }),
        ("ipc_set", |s, q| {
            let mut d = s.stat(q).unwrap();
            d.msg_perm.mode = 0o640;
            d.msg_qbytes = 100;
            s.set(q, &d).unwrap()
        }),
        ("remove queue", |s, q| s.remove(q).unwrap()),
        // With GROW_AT types already present: this one makes the type hash grow.
        ("send new type, type hash grows", |s, q| {
            s.send(q, 9, b"grow", IPC_NOWAIT).unwrap()
        }),
    ]
}

/// Distinct types a queue holds once its 64-bucket type hash is full enough to grow on the
/// next new type (more than 2 per bucket).
const GROW_AT: i64 = 128;

fn setup(n: u64, many_types: bool) -> (PathBuf, Store, i32) {
    let p = PathBuf::from(format!("/dev/shm/msgq-crash-{}-{n}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    let s = Store::create(
        &p,
        &StoreOptions {
            size: 16 << 20,
            ..Default::default()
        },
    )
    .unwrap();
    let q = s.msgget(5, IPC_CREAT | 0o600).unwrap();
    for (t, txt) in [(1, "a"), (2, "bb"), (3, "ccc"), (2, "dddd")] {
        s.send(q, t, txt.as_bytes(), 0).unwrap();
    }
    if many_types {
        for t in 100..100 + GROW_AT - 3 {
            s.send(q, t, b"t", 0).unwrap();
        }
        assert_eq!(s.check().unwrap().type_records as i64, GROW_AT);
    }
    (p, s, q)
}

#[test]
fn kill_at_every_step_rolls_back_or_completes() {
    let mut points_killed = 0;
    for (name, op) in ops() {
        let many = name.contains("grows");
        // The state the operation leaves when it runs to the end.
        let (p, s, q) = setup(0, many);
        op(&s, q);
        let expected = snapshot(&s, q);
        drop(s);
        let _ = std::fs::remove_file(&p);
        let mut completed = false;
        for n in 1..1000u64 {
            let (p, s, q) = setup(n, many);
            let before = snapshot(&s, q);
            let status = run_armed(n, || op(&s, q));
            let killed = killed(status);
            let report = s
                .check()
                .unwrap_or_else(|e| panic!("{name}, point {n}: integrity: {e}"));
            let after = snapshot(&s, q);
            if killed {
                points_killed += 1;
                // Operations that commit in steps (removal) may be past their commit point:
                // then the next lock holder finishes them.
                assert!(after == before || after == expected, "{name}: killed at point {n}: neither rolled back nor completed:\n  before   {before}\n  after    {after}\n  expected {expected}");
                assert!(
                    report.recoveries >= 1,
                    "{name}: point {n}: no recovery recorded"
                );
            } else {
                assert!(
                    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                    "{name}: child failed"
                );
                assert_eq!(after, expected, "{name}: completed differently");
                completed = true;
            }
            drop(s);
            let _ = std::fs::remove_file(&p);
            if completed {
                break;
            }
        }
        assert!(
            completed,
            "{name}: never completed within 1000 fault points"
        );
    }
    println!("crash points: {points_killed} kills survived");
    assert!(points_killed > 50);
}

/// The sweep of dead hand-offs at every step (issue 12, defect 1). One sweep handles, in one
/// transaction, a message handed to a receiver that died on queue A (type 5), a dead
/// receiver blocked for type 5 on A (dropping it released A's type records, which freed A's
/// spare record for type 7, which links to type 62's in the same hash bucket), and a
/// message handed to a dead receiver on queue B (type 3, which needs a type record). Before the fix, B's new type record was the block just
/// freed from A, filled with unlogged writes: a kill before the commit left A's type hash
/// pointing at B's record, whose link had replaced the one to type 62's record ("2 type
/// records in the hash, counted 3", ENOMSG for the queued type-62 message).
#[test]
fn sweep_of_dead_hand_offs_at_every_step() {
    let mut kills = 0;
    let mut completed = false;
    for n in 1..2000u64 {
        let (p, s) = scratch_store(&format!("sweep-{n}"), 16 << 20);
        let a = s.msgget(IPC_PRIVATE, 0o600).unwrap();
        let b = s.msgget(IPC_PRIVATE, 0o600).unwrap();
        // A message of type 62, which stays queued: its type record shares a hash bucket
        // with type 7's (64 buckets), and type 7's record, inserted after it, links to it.
        s.send(a, 62, b"sixty-two", 0).unwrap();
        // A's spare type record: type 7, sent and received.
        s.send(a, 7, b"seven", 0).unwrap();
        s.receive(a, &mut [0; 64], 7, 0).unwrap();
        // A message of type 5 handed to a receiver of types <= 6 on A, which dies.
        let p1 = stopped_receiver(&s, a, -6);
        s.send(a, 5, b"five", 0).unwrap();
        // A receiver blocked for exactly type 5 on A, which dies.
        let d = stopped_receiver(&s, a, 5);
        // A message of type 3 handed to a receiver on B, which dies.
        let p2 = stopped_receiver(&s, b, 0);
        s.send(b, 3, b"three", 0).unwrap();
        for pid in [p1, d, p2] {
            kill_and_reap(pid);
        }
        assert_eq!(s.check().unwrap().pending, 2);
        // Finding nothing on B, the receive sweeps the pending hand-offs first.
        let status = run_armed(n, || {
            let _ = s.receive(b, &mut [0; 64], 9, IPC_NOWAIT);
        });
        let killed = killed(status);
        let report = s
            .check()
            .unwrap_or_else(|e| panic!("point {n}: integrity: {e}"));
        // Whatever the point, both messages are still there (another sweep finishes what a
        // rolled-back one did not), each found by its type.
        let _ = s.receive(b, &mut [0; 64], 9, IPC_NOWAIT);
        let mut buf = [0u8; 64];
        let got_a = s
            .receive(a, &mut buf, 5, IPC_NOWAIT)
            .map(|(t, n)| (t, buf[..n].to_vec()));
        let got_b = s
            .receive(b, &mut buf, 3, IPC_NOWAIT)
            .map(|(t, n)| (t, buf[..n].to_vec()));
        assert_eq!(
            got_a,
            Ok((5, b"five".to_vec())),
            "point {n}: queue A's message"
        );
        let got_62 = s
            .receive(a, &mut buf, 62, IPC_NOWAIT)
            .map(|(t, n)| (t, buf[..n].to_vec()));
        assert_eq!(
            got_62,
            Ok((62, b"sixty-two".to_vec())),
            "point {n}: queue A's first message"
        );
        assert_eq!(
            got_b,
            Ok((3, b"three".to_vec())),
            "point {n}: queue B's message"
        );
        s.check()
            .unwrap_or_else(|e| panic!("point {n}: integrity after receiving: {e}"));
        drop(s);
        let _ = std::fs::remove_file(&p);
        if killed {
            kills += 1;
            assert!(report.recoveries >= 1, "point {n}: no recovery recorded");
        } else {
            assert!(libc::WIFEXITED(status), "point {n}: the child failed");
            completed = true;
            break;
        }
    }
    assert!(
        completed,
        "the sweep never completed within 2000 fault points"
    );
    println!("sweep crash points: {kills} kills survived");
    assert!(kills > 20);
}
