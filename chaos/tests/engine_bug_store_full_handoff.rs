//! Regression test for issue 12, defect 2, as `msgq-chaos store-full`'s hand-off probes find it:
//! a message handed to a blocked receiver that then dies is lost if, when the sweep of
//! pending deliveries puts it back, its queue has no record for its type any more and the
//! store has no block left for one. `msgsnd` had returned 0.
//!
//! Deterministic, one process and a forked victim: the victim blocks in `msgrcv` for a type
//! of its own; stopped, it is handed a message; the queue then drops the victim's type
//! record (a fresh type's record becomes the queue's spare, and the victim's, unused since
//! the hand-off, is freed); small messages fill the store to ENOMEM; the victim is killed;
//! `IPC_STAT` sweeps. After draining the filler messages (room again, in case an engine
//! keeps the delivery pending until there is room) and sweeping again, the message must be
//! in the queue.
//!
//! Fixed in msgq-user 5f9fe0e (a hand-off pins its type record: putting the message back
//! needs no memory); failed before with ENOMSG for the message. `msgq-user`'s
//! `regressions.rs` has the case of a receiver of any type (no type record at all); this is
//! the typed receiver whose record the queue would otherwise drop.

use msgq_core::abi::*;
use msgq_user::shm::layout::MIN_LEN;
use msgq_user::{Errno, Limits, Store, StoreOptions};
use std::time::{Duration, Instant};

const VICTIM_TYPE: i64 = 1000;
const OTHER_TYPE: i64 = 2000;

fn wchan(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default()
}

#[test]
fn a_handed_off_message_survives_its_receivers_death_in_a_full_store() {
    let p = std::path::PathBuf::from(format!("/dev/shm/msgq-fullhandoff-{}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    let s = Store::create(
        &p,
        &StoreOptions {
            size: MIN_LEN,
            limits: Limits {
                msgmnb: 4 << 20,
                ..Limits::default()
            },
            ..Default::default()
        },
    )
    .unwrap();
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    let mut d = s.stat(q).unwrap();
    d.msg_qbytes = 4 << 20;
    s.set(q, &d).unwrap();

    // SAFETY: the child only blocks in the engine until it is killed.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let mut buf = [0u8; 64];
        let _ = s.receive(q, &mut buf, VICTIM_TYPE, 0);
        // SAFETY: leave the child without the test harness's exit code.
        unsafe { libc::_exit(0) };
    }
    let t = Instant::now();
    while !wchan(pid).contains("futex") && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(20));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    std::thread::sleep(Duration::from_millis(20));

    s.send(q, VICTIM_TYPE, b"handed over", IPC_NOWAIT)
        .expect("the hand-off send");
    // The victim's type record goes: another type's record becomes the queue's spare.
    s.send(q, OTHER_TYPE, b"x", IPC_NOWAIT).unwrap();
    let mut buf = [0u8; 64];
    s.receive(q, &mut buf, OTHER_TYPE, IPC_NOWAIT).unwrap();
    // The store full: small messages (its record is there) until ENOMEM.
    let mut filled = 0;
    loop {
        match s.send(q, OTHER_TYPE, b"fill", IPC_NOWAIT) {
            Ok(()) => filled += 1,
            Err(Errno::ENOMEM) => break,
            Err(e) => panic!("filling: {e}"),
        }
    }
    assert!(filled > 1000, "only {filled} messages filled the store");

    // SAFETY: killing and reaping our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    // The sweep, in the full store.
    let _ = s.stat(q);
    // Room again, and another sweep (for an engine that waits for room).
    while s.receive(q, &mut buf, OTHER_TYPE, IPC_NOWAIT).is_ok() {}
    let _ = s.stat(q);
    let got = s.receive(q, &mut buf, VICTIM_TYPE, IPC_NOWAIT);
    let check = s.check();
    let _ = std::fs::remove_file(&p);
    assert_eq!(
        got.map(|(t, n)| (t, buf[..n].to_vec())),
        Ok((VICTIM_TYPE, b"handed over".to_vec())),
        "the message msgsnd delivered to the dead receiver is gone"
    );
    check.unwrap();
}
