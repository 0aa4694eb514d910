//! Helpers shared by the integration tests: child processes that block in the engine and
//! are stopped or killed on purpose.
#![allow(dead_code)]

use msgq_user::Store;
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
