//! `kmod_fuzz`: hostile input against `/dev/msgq` in the test guest (issue #8).
//!
//! For a bounded time (`--secs`, default 30) several worker processes (`--workers`, default
//! 4), each with its own seeded generator (`--seed` replays the choices; timing does not
//! replay), issue random ioctls: the well-formed calls of the shim's ioctl client
//! (`libmsg-shim/src/kmod.rs`, included with `#[path]`) with random arguments, and raw
//! `ioctl`s with wrong versions, unknown numbers and sizes, garbage structs, and bad
//! addresses (see `kmod_fuzz_gen.rs`). A controller interrupts them with SIGUSR1, kills them
//! with SIGKILL (and starts new ones), removes queues under blocked callers, and watches for
//! hangs. Every result must be a success that makes sense or an errno Linux allows for that
//! call (exactly EFAULT / EPROTO / ENOTTY / EPERM where the input decides it). At the end,
//! `MSG_INFO`'s totals must equal the sum over all queues, and after removing them, zero.
//!
//! As root it first runs a differential phase (`kmod_fuzz_diff.rs`, `--diff-calls`, default
//! 40000): the same seeded sequence of hostile non-blocking calls, one at a time, against the
//! guest kernel's own queues and against the module, half of it as root and half as uid 2000,
//! with equal results and equal bytes written required.
//!
//! Checks counted in the summary: the differential phase, one per call kind (all its results
//! allowed), one per end check; every difference, disallowed result, hang or unexpected death
//! is one failure.

#[path = "../kmod_fuzz_ctl.rs"]
mod ctl;
#[path = "../kmod_fuzz_diff.rs"]
mod diff;
#[path = "../kmod_errnames.rs"]
mod errnames;
#[path = "../kmod_fuzz_gen.rs"]
mod gen;
#[path = "../../../libmsg-shim/src/kmod.rs"]
#[allow(dead_code)]
mod kmod;
#[path = "../kmod_fuzz_worker.rs"]
mod worker;

use std::time::Instant;
use worker::MAXW;

pub struct Args {
    pub secs: u64,
    pub seed: u64,
    pub workers: usize,
    pub diff_calls: u64,
}

fn args() -> Args {
    let mut a = Args {
        secs: 30,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
        workers: 4,
        diff_calls: 40000,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let num = |s: &str| {
        let s = s.trim();
        s.strip_prefix("0x")
            .map(|h| u64::from_str_radix(h, 16))
            .unwrap_or_else(|| s.parse())
            .unwrap_or_else(|_| panic!("bad number {s}"))
    };
    let mut i = 0;
    while i + 1 < v.len() {
        match v[i].as_str() {
            "--secs" => a.secs = num(&v[i + 1]),
            "--seed" => a.seed = num(&v[i + 1]),
            "--workers" => a.workers = (num(&v[i + 1]) as usize).clamp(1, MAXW),
            "--diff-calls" => a.diff_calls = num(&v[i + 1]),
            o => panic!("unknown argument {o} (--secs N, --seed S, --workers N, --diff-calls N)"),
        }
        i += 2;
    }
    a
}

fn main() {
    let a = args();
    // SAFETY: no arguments.
    let euid = unsafe { libc::geteuid() };
    let root = euid == 0;
    println!(
        "kmod_fuzz: seed {:#x}, {} workers, {} s, {} (replay the choices with --seed {:#x})",
        a.seed,
        a.workers,
        a.secs,
        if root { "root" } else { "unprivileged" },
        a.seed
    );
    let dev = kmod::Kmod::open().expect("open /dev/msgq");
    let mut v = ctl::Verdict {
        passed: 0,
        failed: 0,
    };
    if root && a.diff_calls > 0 {
        let t = Instant::now();
        let diff::Outcome {
            same,
            diffs,
            results,
        } = diff::run(&dev, a.seed, a.diff_calls);
        for d in diffs.iter().take(20) {
            println!("FAIL differential {d}");
        }
        let results: Vec<String> = results.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!(
            "kmod_fuzz: differential: {} calls, {same} equal to the guest kernel's own queues ({:.1} s); native results: {}",
            a.diff_calls,
            t.elapsed().as_secs_f64(),
            results.join(", ")
        );
        v.check(diffs.is_empty(), "the differential phase");
        v.failed += (diffs.len() as u64).saturating_sub(1);
    }
    ctl::run(&dev, &a, euid, v)
}
