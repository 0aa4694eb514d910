//! Helpers shared by the integration tests: child processes that block in the engine and
//! are stopped or killed on purpose.
#![allow(dead_code)]

use msgq_user::{Store, StoreOptions};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Forks a child that runs `f` (engine calls) and exits.
pub fn fork_child(f: impl FnOnce()) -> libc::pid_t {
    // SAFETY: the child only runs engine code and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        f();
        // SAFETY: leaving the child without the harness's exit code.
        unsafe { libc::_exit(0) };
    }
    // Never hand -1 on: kill(-1, ...) signals every process.
    assert!(pid > 0, "fork failed: {}", std::io::Error::last_os_error());
    pid
}

/// Waits until `check()` counts `n` blocked waiters.
pub fn wait_for_waiters(s: &Store, n: u64) {
    let t0 = Instant::now();
    while s.check().unwrap().waiters != n {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "waiters never blocked"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Forks a process that blocks in `msgrcv(q, msgtyp)`, waits until it is registered as a
/// waiter, and stops it (SIGSTOP): a message sent now is handed to it, and a SIGKILL then
/// leaves that hand-off (or its blocked record) to the sweep. Returns its pid.
pub fn stopped_receiver(s: &Store, q: i32, msgtyp: i64) -> libc::pid_t {
    let before = s.check().unwrap().waiters;
    let pid = fork_child(|| {
        let _ = s.receive(q, &mut [0; 64], msgtyp, 0);
    });
    wait_for_waiters(s, before + 1);
    // SAFETY: our own child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    pid
}

/// SIGKILLs our child `pid` and reaps it.
pub fn kill_and_reap(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, &mut status, 0);
    }
}

/// A new store of `size` bytes at /dev/shm/msgq-test-`tag`-<pid> (any old one removed).
pub fn scratch_store(tag: &str, size: u64) -> (PathBuf, Store) {
    let p = PathBuf::from(format!("/dev/shm/msgq-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    let s = Store::create(
        &p,
        &StoreOptions {
            size,
            ..Default::default()
        },
    )
    .unwrap();
    (p, s)
}

/// Forks `n` processes that each run `block` (a call that blocks), waits until all are
/// registered waiters (`check()` counts `before + n`), then kills and reaps them all. They
/// are all stopped first: a live waiter's tick sweeps dead ones, and the caller wants every
/// one of the `n` records left behind, dead.
pub fn dead_blocked(s: &Store, n: u64, block: impl Fn()) {
    let before = s.check().unwrap().waiters;
    let pids: Vec<_> = (0..n).map(|_| fork_child(&block)).collect();
    wait_for_waiters(s, before + n);
    for &pid in &pids {
        // SAFETY: our own child.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
    }
    for pid in pids {
        kill_and_reap(pid);
    }
    let r = s.check().unwrap();
    assert_eq!(r.dead_waiters, n, "all {n} blocked records are left, dead");
}

/// Runs `op` in a forked child armed to kill itself at the `n`-th fault point
/// (`msgq_user::fault::arm`); returns the child's wait status.
#[cfg(feature = "fault-injection")]
pub fn run_armed(n: u64, op: impl FnOnce()) -> i32 {
    let pid = fork_child(|| {
        msgq_user::fault::arm(n);
        op();
        msgq_user::fault::arm(0);
    });
    let mut status = 0;
    // SAFETY: our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    status
}

/// Whether wait status `status` says SIGKILL (a fault point's kill).
pub fn killed(status: i32) -> bool {
    libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL
}

/// Waits until `receivers` receivers (peeks included) and `senders` senders are blocked on
/// queue `q` (`Store::waiting`), for at most 20 s.
#[track_caller]
pub fn until_blocked(s: &Store, q: i32, receivers: u64, senders: u64) {
    let t0 = Instant::now();
    loop {
        let w = s.waiting(q).unwrap();
        if w == (receivers, senders) {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "blocked: {w:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}
