//! Reproducers of engine bugs found by the store_bytes fuzz target (issue 8), all fixed
//! (msgq-user e159e9d, and the class-word check after it) and run as regression tests.
//!
//! They start from a valid, populated store file (the fuzz target's template) with a few
//! bytes of its heap changed; see `msgq_chaos::fuzz::store_bytes` for the input format.

use msgq_chaos::fuzz::{store_bytes_with, StoreOutcome};

/// `check()` passes a store whose queue's type hash has a bucket pointing at a non-record
/// (here one byte, at heap offset 0x2e2, as far as we can tell inside the first queue's
/// bucket array, turns an empty bucket into a pointer to a non-record): `check::check`
/// follows the bucket chains only to collect waiter lists and never verifies that each entry is a heap block (`block_ok`), a type record of that queue, or
/// on the sorted type list. A few ordinary calls then link real records to the bogus one
/// and write through it, and the next `check()` fails ("a record points outside the
/// store"). Fix: validate bucket chains in check (block_ok, `T::TYPE` hashes to the bucket,
/// same set as the sorted list).
#[test]
fn check_rejects_a_bogus_type_hash_entry() {
    let out =
        std::panic::catch_unwind(|| store_bytes_with(&[0x25, 0x09, 0xe2, 0x02, 0x00, 0x08], true));
    assert!(
        matches!(
            out,
            Ok(StoreOutcome::CheckFailed | StoreOutcome::Refused | StoreOutcome::CheckPassed)
        ),
        "check() passed a damaged store that a few calls then corrupted further"
    );
}

/// A damaged store (heap bytes only; the mutex is never touched) makes a later call hang
/// for ever in the store lock: some call writes through a damaged record offset that
/// points into the header and overwrites the store mutex (observed afterwards: lock word
/// FUTEX_WAITERS | a tid, `__owner` the caller's pid, so the caller's next lock waits on
/// itself). The engine bounds-checks offsets against the mapping but not against the
/// header/heap split. Fix: reject record offsets below HEAP_OFF (or not 64-aligned) where
/// they are followed, as `check` does with `block_ok`.
/// Run with `MSGQ_FUZZ_POKE_ALL=1`, which makes the target call into stores that failed
/// `check()` as well (the default skips them so that the fuzz runs stay bounded).
#[test]
fn damaged_store_never_hangs_a_call() {
    const INPUT: [u8; 24] = [
        0x03, 0x27, 0x40, 0x0f, 0x0d, 0x25, 0x35, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xe0, 0xff, 0xff, 0xff, 0x40, 0x09, 0x0a, 0x00, 0x36,
    ];
    // SAFETY: the child runs the target under an alarm and exits; the parent only waits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        std::env::set_var("MSGQ_FUZZ_POKE_ALL", "1");
        // SAFETY: plain system calls in the child.
        unsafe { libc::alarm(10) };
        let _ = std::panic::catch_unwind(|| store_bytes_with(&INPUT, false));
        // SAFETY: leave the child without the harness's exit code.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        !(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGALRM),
        "a call on a damaged store hung for 10 s"
    );
}

/// Recovery replays undo-log entries aimed at the store mutex itself: a store whose lock is
/// in the owner-died state and whose log holds `(LOCK_OFF + 24, garbage)` makes the next
/// `lock()` roll back, overwriting the mutex's robust-list pointers, and glibc's unlock then
/// follows them: SIGSEGV in `__pthread_mutex_unlock_full` (found by the store_bytes target;
/// any caller, even `check()`). `tx::rollback` accepts every header offset except the log
/// length. Fix: treat log entries inside the mutex (or anywhere no logged write can go) as
/// corruption, e.g. refuse the store (`EIO`) instead of replaying them.
#[test]
fn rollback_never_writes_the_mutex() {
    use msgq_user::shm::layout::{H, LOCK_OFF, LOG_OFF};
    use msgq_user::{Store, StoreOptions};
    use std::os::unix::fs::FileExt;
    let p = format!("/dev/shm/msgq-bug-rollback-{}", std::process::id());
    let _ = std::fs::remove_file(&p);
    drop(
        Store::create(
            p.as_ref(),
            &StoreOptions {
                size: 0,
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    // One log entry: the mutex's robust-list `next` pointer gets a garbage value.
    f.write_all_at(&(LOCK_OFF + 32).to_ne_bytes(), LOG_OFF)
        .unwrap();
    f.write_all_at(&0xdead_beef_0000u64.to_ne_bytes(), LOG_OFF + 8)
        .unwrap();
    f.write_all_at(&1u64.to_ne_bytes(), H::LOG_LEN).unwrap();
    // The lock as a dead owner leaves it (FUTEX_OWNER_DIED, no owner).
    f.write_all_at(&0x4000_0000u32.to_ne_bytes(), LOCK_OFF)
        .unwrap();
    drop(f);
    // SAFETY: the child opens and checks the store, then exits; the parent only waits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = match Store::open(p.as_ref()) {
            Ok(s) => {
                let _ = s.check();
                let _ = s.msgget(0, 0o600);
                0
            }
            Err(_) => 0,
        };
        // SAFETY: leave the child without the harness's exit code.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let _ = std::fs::remove_file(&p);
    assert!(
        !libc::WIFSIGNALED(status),
        "opening and checking the store killed the process with signal {}",
        libc::WTERMSIG(status)
    );
}

/// FIXED ENGINE GAP (regression test): `check()` did not verify the class word of live records. One changed
/// byte (heap offset 4: the high bytes of the first block's class word, a queue record)
/// passes `check()`; a few ordinary calls (stat, receives, send, msgget, remove) then leave
/// a store whose next `check()` fails with "a record points outside the store". Fix:
/// `check` should verify each live record's class word (the class `alloc` gives its size)
/// as it already does for free blocks.
#[test]
fn check_rejects_a_damaged_class_word() {
    let out =
        std::panic::catch_unwind(|| store_bytes_with(&[0x01, 0xcc, 0x04, 0x00, 0x41, 0x2e], true));
    assert!(
        matches!(
            out,
            Ok(StoreOutcome::CheckFailed | StoreOutcome::Refused | StoreOutcome::CheckPassed)
        ),
        "check() passed a damaged store that a few calls then corrupted further"
    );
}
