//! A signal handler that runs at any moment of a blocked `msgrcv`/`msgsnd` makes it return
//! `EINTR`, as in Linux (issue 12, defect 3), also when the handler does not land inside
//! the futex wait: at the call's start, before its sleep (in the spin, or between its
//! unlock and `FUTEX_WAIT`), while it takes the store lock again, holding it, and after the
//! sweep of its tick. Each phase is hit exactly: the engine's fault-injection hook raises
//! the signal in the calling thread at that moment. The handler calls
//! `msgq_user::interrupt::handler_ran()`, as the shim's wrapper does for every handler.
//!
//! Before the fix, every phase but `Start` hung: the handler ran, no system call was
//! interrupted, and the call went back to sleep on an empty queue for ever.
#![cfg(feature = "fault-injection")]

use msgq_core::abi::*;
use msgq_user::fault::{self, Phase};
use msgq_user::{Errno, Store, StoreOptions};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

static TARGET: AtomicU64 = AtomicU64::new(0);
static FIRED: AtomicBool = AtomicBool::new(false);

fn phase_code(p: Phase) -> u64 {
    match p {
        Phase::Start => 1,
        Phase::BeforeSleep => 2,
        Phase::Relock => 3,
        Phase::Locked => 4,
        Phase::Swept => 5,
    }
}

fn hook(p: Phase) {
    if phase_code(p) == TARGET.load(Ordering::SeqCst) && !FIRED.swap(true, Ordering::SeqCst) {
        // SAFETY: raising a signal whose handler is installed.
        unsafe { libc::raise(libc::SIGUSR1) };
    }
}

extern "C" fn handler(_: libc::c_int) {
    msgq_user::interrupt::handler_ran();
}

fn install(restart: bool) {
    // SAFETY: a zeroed sigaction filled with a valid handler.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as *const () as usize;
        sa.sa_flags = if restart { libc::SA_RESTART } else { 0 };
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
}

/// Runs `op` in a forked child with the signal aimed at `phase`; the child's exit code is
/// 0 for EINTR, 1 for another result, and it is killed (a hang) after `limit`.
fn run(phase: Phase, restart: bool, sender: bool) -> Result<(), String> {
    let p = std::path::PathBuf::from(format!(
        "/dev/shm/msgq-sigphase-{}-{}-{}",
        std::process::id(),
        phase_code(phase),
        restart as u8 * 2 + sender as u8
    ));
    let _ = std::fs::remove_file(&p);
    let s = Store::create(
        &p,
        &StoreOptions {
            size: 8 << 20,
            ..Default::default()
        },
    )
    .unwrap();
    let q = s.msgget(IPC_PRIVATE, 0o600).unwrap();
    if sender {
        let mut d = s.stat(q).unwrap();
        d.msg_qbytes = 4;
        s.set(q, &d).unwrap();
        s.send(q, 1, b"full", 0).unwrap();
    }
    // SAFETY: the child runs engine code and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        install(restart);
        TARGET.store(phase_code(phase), Ordering::SeqCst);
        fault::on_phase(Some(hook));
        let r = if sender {
            s.send(q, 2, b"more", 0)
        } else {
            s.receive(q, &mut [0; 16], 0, 0).map(|_| ())
        };
        let code = match r {
            Err(Errno::EINTR) if FIRED.load(Ordering::SeqCst) => 0,
            _ => 1,
        };
        // SAFETY: leaving the child without the harness's exit code.
        unsafe { libc::_exit(code) };
    }
    let limit = Duration::from_secs(4);
    let t0 = Instant::now();
    let mut status = 0;
    let verdict = loop {
        // SAFETY: our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
                Ok(())
            } else {
                Err("returned something other than EINTR".to_string())
            };
        }
        if t0.elapsed() > limit {
            // SAFETY: our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            break Err(format!(
                "still blocked after {limit:?}: the signal was lost"
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // The store stays sound whatever happened.
    let report = s.check();
    drop(s);
    let _ = std::fs::remove_file(&p);
    report.map_err(|e| format!("integrity: {e}"))?;
    verdict
}

#[test]
fn a_handler_at_any_phase_of_a_blocked_call_gives_eintr() {
    let phases = [
        Phase::Start,
        Phase::BeforeSleep,
        Phase::Relock,
        Phase::Locked,
        Phase::Swept,
    ];
    let mut failures = Vec::new();
    for phase in phases {
        for restart in [false, true] {
            for sender in [false, true] {
                if let Err(e) = run(phase, restart, sender) {
                    failures.push(format!(
                        "{} at {phase:?}{}: {e}",
                        if sender { "msgsnd" } else { "msgrcv" },
                        if restart { " (SA_RESTART)" } else { "" }
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
