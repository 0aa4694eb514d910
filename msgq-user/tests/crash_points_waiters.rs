//! Kill-at-every-step tests of the waiter paths (written by a review of issue 12's
//! changes): a queue with a message handed to a stopped receiver (a pinned type record), a
//! live and a dead typed receiver, a spare type record, and blocked senders, one stopped and
//! two dead. IPC_RMID, a receive that wakes (and drops) senders, and sends handed to a typed
//! receiver are each killed at every fault point; after each kill `check()` passes, and once
//! everyone is let go the handed-over message comes back to its queue.
#![cfg(feature = "fault-injection")]
mod common;
use common::{
    fork_child, kill_and_reap, killed, run_armed, scratch_store, stopped_receiver, wait_for_waiters,
};
use msgq_core::abi::*;
use msgq_user::Store;
use std::path::PathBuf;

struct World {
    p: PathBuf,
    s: Store,
    a: i32,
    stopped: Vec<libc::pid_t>,
}

fn setup(tag: &str, n: u64) -> World {
    let (p, s) = scratch_store(&format!("waiters-{tag}-{n}"), 16 << 20);
    let a = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let mut d = s.stat(a).unwrap();
    d.msg_qbytes = 16;
    s.set(a, &d).unwrap();
    let mut stopped = vec![];
    // A message handed to a stopped receiver (pins type 7's record).
    let r1 = stopped_receiver(&s, a, 0);
    s.send(a, 7, b"seven", 0).unwrap();
    stopped.push(r1);
    // A live typed receiver (type 5) and a dead one (type 8).
    stopped.push(stopped_receiver(&s, a, 5));
    let r3 = stopped_receiver(&s, a, 8);
    kill_and_reap(r3);
    // A spare record: type 9 sent and received.
    s.send(a, 9, b"x", 0).unwrap();
    s.receive(a, &mut [0; 64], 9, 0).unwrap();
    // The queue full.
    s.send(a, 1, b"12345678", 0).unwrap();
    s.send(a, 2, b"abcdefgh", 0).unwrap();
    // Senders: one dead, one alive (stopped), one dead.
    let w0 = s.check().unwrap().waiters;
    let mk = |s: &Store| {
        fork_child(|| {
            let _ = s.send(a, 3, b"abcd", 0);
        })
    };
    let s1 = mk(&s);
    wait_for_waiters(&s, w0 + 1);
    let s2 = mk(&s);
    wait_for_waiters(&s, w0 + 2);
    let s3 = mk(&s);
    wait_for_waiters(&s, w0 + 3);
    // SAFETY: our own child.
    unsafe { libc::kill(s2, libc::SIGSTOP) };
    kill_and_reap(s1);
    kill_and_reap(s3);
    stopped.push(s2);
    World { p, s, a, stopped }
}

fn run(tag: &str, op: fn(&Store, i32)) {
    run_prep(tag, |_, _| {}, op)
}
fn run_prep(tag: &str, prep: fn(&Store, i32), op: fn(&Store, i32)) {
    for n in 1..3000u64 {
        let kills = n - 1;
        let w = setup(tag, n);
        prep(&w.s, w.a);
        let killed = killed(run_armed(n, || op(&w.s, w.a)));
        w.s.check()
            .unwrap_or_else(|e| panic!("{tag} point {n}: integrity: {e}"));
        // Let everyone go: continue and then kill the stopped ones, sweep, check again.
        for &p in &w.stopped {
            kill_and_reap(p);
        }
        let _ = w.s.receive(w.a, &mut [0; 64], 99, IPC_NOWAIT);
        let r =
            w.s.check()
                .unwrap_or_else(|e| panic!("{tag} point {n}: integrity after cleanup: {e}"));
        if let Ok(d) = w.s.stat(w.a) {
            // The handed-over message comes back to A (its receiver died).
            let mut buf = [0u8; 64];
            let got = w.s.receive(w.a, &mut buf, 7, IPC_NOWAIT);
            assert!(
                got.is_ok(),
                "{tag} point {n}: type 7 lost (qnum {}) {r:?}",
                d.msg_qnum
            );
        }
        w.s.check()
            .unwrap_or_else(|e| panic!("{tag} point {n}: integrity at end: {e}"));
        drop(w.s);
        let _ = std::fs::remove_file(&w.p);
        if !killed {
            println!("{tag}: completed at point {n}, {kills} kills");
            return;
        }
    }
    panic!("{tag}: never completed");
}

#[test]
fn remove_with_pending_at_every_step() {
    run("rm", |s, a| s.remove(a).unwrap());
}

#[test]
fn receive_waking_senders_at_every_step() {
    run("rcv", |s, a| {
        s.receive(a, &mut [0; 64], 1, IPC_NOWAIT).unwrap();
    });
}

#[test]
fn send_to_typed_receiver_at_every_step() {
    run_prep(
        "snd",
        |s, a| {
            s.receive(a, &mut [0; 64], 2, IPC_NOWAIT).unwrap();
            s.receive(a, &mut [0; 64], 1, IPC_NOWAIT).unwrap();
        },
        |s, a| {
            // Room first is not needed: a hand-off does not count against qbytes.
            s.send(a, 5, b"five", IPC_NOWAIT).unwrap();
            s.send(a, 7, b"again", IPC_NOWAIT).unwrap();
        },
    );
}
