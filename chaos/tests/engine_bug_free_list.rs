//! Regression test for an engine bug found by the chaos test (issue 8), fixed in msgq-user
//! 4ea67d3 (`Tx::preserve` of the link word). Needs the `fault-injection` feature; run by
//! `make chaos`.
//!
//! `alloc::alloc` pops a block from a free list with logged writes to the list head and the
//! block's class word, but the block's word 1 (`b + 8`) is the free list's *next* link, and
//! the caller then initialises the block with unlogged writes (`put_unlogged`, "fresh
//! memory"), overwriting that link. If the operation is then killed (or fails) before its
//! commit, the rollback puts the block back at the head of the free list with its link
//! replaced by whatever the new record had at offset 8: a queue's key, a waiter's kind, a
//! type record's type, a message's (zero) list link. The free list then points at garbage
//! (the integrity check fails with "free list K: bad block", later allocations hit
//! `Corrupt` and every call returns EIO) or silently loses the rest of the list (a leak).
//!
//! The fix logs the link word when popping, so the rollback restores it.

#![cfg(feature = "fault-injection")]

use msgq_core::abi::*;
use msgq_user::{fault, Store, StoreOptions};
use std::path::PathBuf;

fn store(tag: &str, n: u64) -> (PathBuf, Store) {
    let p = PathBuf::from(format!(
        "/dev/shm/msgq-freelist-{tag}-{}-{n}",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&p);
    let s = Store::create(
        &p,
        &StoreOptions {
            size: 16 << 20,
            ..Default::default()
        },
    )
    .unwrap();
    (p, s)
}

/// Kills `op` at every fault point in turn, on a store whose free lists are not empty, and
/// checks the store afterwards. Returns the failures seen.
fn each_point(tag: &str, prepare: fn(&Store), op: fn(&Store)) -> Vec<String> {
    let mut bad = Vec::new();
    for n in 1..200u64 {
        let (p, s) = store(tag, n);
        prepare(&s);
        // SAFETY: the child only runs engine code, then exits or is killed.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            fault::arm(n);
            op(&s);
            fault::arm(0);
            // SAFETY: leave the child without the test harness's exit code.
            unsafe { libc::_exit(0) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let killed = libc::WIFSIGNALED(status);
        if let Err(e) = s.check() {
            bad.push(format!("{tag}: killed at point {n}: {e}"));
        } else {
            // The store must stay usable: allocate from the same classes again.
            let q = s.msgget(IPC_PRIVATE, 0o600);
            let q2 = s.msgget(0x7777, IPC_CREAT | 0o600);
            if let (Ok(q), Ok(_)) = (q, q2) {
                for t in 1..6 {
                    if let Err(e) = s.send(q, t, b"after", IPC_NOWAIT) {
                        bad.push(format!("{tag}: killed at point {n}: send afterwards: {e}"));
                        break;
                    }
                }
            } else {
                bad.push(format!(
                    "{tag}: killed at point {n}: msgget afterwards failed"
                ));
            }
            if let Err(e) = s.check() {
                bad.push(format!("{tag}: killed at point {n}, then used: {e}"));
            }
        }
        drop(s);
        let _ = std::fs::remove_file(&p);
        if !killed {
            break;
        }
    }
    bad
}

#[test]
fn rollback_of_an_allocation_keeps_the_free_list_intact() {
    let mut bad = Vec::new();
    // Queue records: two created and removed leave a free list of two queue blocks.
    bad.extend(each_point(
        "msgget",
        |s| {
            for k in [1, 2] {
                let q = s.msgget(k, IPC_CREAT | 0o600).unwrap();
                s.remove(q).unwrap();
            }
        },
        |s| {
            s.msgget(0x4242, IPC_CREAT | 0o600).unwrap();
        },
    ));
    // Message blocks and type records: sent and received, then a new send is killed.
    bad.extend(each_point(
        "send",
        |s| {
            let q = s.msgget(5, IPC_CREAT | 0o600).unwrap();
            for t in 1..4 {
                s.send(q, t, b"xx", 0).unwrap();
            }
            for _ in 1..4 {
                s.receive(q, &mut [0; 16], 0, 0).unwrap();
            }
        },
        |s| {
            let q = s.msgget(5, 0).unwrap();
            s.send(q, 9, b"yy", 0).unwrap();
        },
    ));
    assert!(
        bad.is_empty(),
        "{} failures:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
