//! Row 7 of the benchmarks, run in the test VM (`make bench-guest`): rows 1, 4 and 5 for the
//! guest kernel's native queues and for the kernel module `msgq-kmod` through the shim's
//! `kmod` backend code (`libmsg-shim/src/kmod.rs`, included with `#[path]` as
//! `tests/src/bin/kmod_diff.rs` does, so the measured client is the shim's very code).
//!
//! The guest's stdout reaches the host only through the serial console, so after criterion
//! is done this program reads its results back and prints one machine-readable line per
//! benchmark, `@@BENCH bench <group> <implementation> <parameter> <median ns>`, plus
//! `@@BENCH meta <key> <value>` lines about the guest; `make bench-guest` turns them into the
//! results file of `msgq_benches::row7`. The set runs five times (rounds, alternating which
//! implementation goes first); a benchmark's figure is the median of its five medians, and
//! `@@BENCH round ...` lines give the five. The last line is `bench_guest: N passed, N failed`:
//! N benchmarks ran and got the expected message back (30 per round when no filter is given).
//! Measuring needs `--bench` (as `cargo bench` passes it); without it, or with `--test` (in
//! `make vm-test`), criterion runs each benchmark once and no results are printed.
//!
//! Run as root: the native side moves into a new IPC namespace first.

#[path = "../../libmsg-shim/src/kmod.rs"]
#[allow(dead_code)]
mod kmod;
mod rows;

use criterion::Criterion;
use msgq_benches::results::{collect, Results};
use msgq_benches::row7::{MODULE, NATIVE};
use msgq_benches::{private_ipc_namespace, watchdog, Errno, Ipc, MsgBuf, Native};
use msgq_core::abi::{MsqidDs, IPC_CREAT, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT};
use rows::{blocked_receivers, pair, typed, SIZES, TYPED_MODES, TYPED_NS};
use std::path::Path;
use std::time::Duration;

/// The module through the shim's client: one ioctl on `/dev/msgq` per call.
#[derive(Clone, Copy)]
struct Module(&'static kmod::Kmod);

impl Module {
    fn stat(&self, id: i32) -> Result<MsqidDs, Errno> {
        let mut ds = MsqidDs::default();
        self.0
            .msgctl(id, IPC_STAT, (&mut ds as *mut MsqidDs).cast())?;
        Ok(ds)
    }
}

impl Ipc for Module {
    fn name(&self) -> &'static str {
        MODULE
    }
    fn create(&self) -> Result<i32, Errno> {
        self.0.msgget(IPC_PRIVATE, IPC_CREAT | 0o600)
    }
    fn remove(&self, id: i32) -> Result<(), Errno> {
        self.0.msgctl(id, IPC_RMID, std::ptr::null_mut()).map(drop)
    }
    fn send(&self, id: i32, buf: &MsgBuf, len: usize, flags: i32) -> Result<(), Errno> {
        assert!(len <= buf.cap());
        self.0.msgsnd(id, buf.as_ptr(), len, flags)
    }
    fn recv(
        &self,
        id: i32,
        buf: &mut MsgBuf,
        len: usize,
        msgtyp: i64,
        flags: i32,
    ) -> Result<usize, Errno> {
        assert!(len <= buf.cap());
        self.0.msgrcv(id, buf.as_mut_ptr(), len, msgtyp, flags)
    }
    fn set_qbytes(&self, id: i32, qbytes: u64) -> Result<(), Errno> {
        let mut ds = self.stat(id)?;
        ds.msg_qbytes = qbytes;
        self.0
            .msgctl(id, IPC_SET, (&mut ds as *mut MsqidDs).cast())
            .map(drop)
    }
    fn counts(&self, id: i32) -> Result<(u64, u64), Errno> {
        let ds = self.stat(id)?;
        Ok((ds.msg_qnum, ds.msg_cbytes))
    }
}

/// Where criterion writes in the guest (the initramfs root is writable).
const OUT_DIR: &str = "/tmp/criterion-guest";

/// Benchmarks per implementation: row 1's sizes, row 4's three modes × N, row 5's three R.
const PER_IMPL: usize = SIZES.len() + 3 * TYPED_NS.len() + 3;

fn meta(k: &str, v: impl std::fmt::Display) {
    println!("@@BENCH meta {k} {v}");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // As criterion decides: with `--test`, or without `--bench`, it runs each benchmark once.
    let smoke = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    // A positional argument is criterion's filter: then not every benchmark runs.
    let filtered = args.iter().any(|a| !a.starts_with('-'));
    if !private_ipc_namespace() {
        eprintln!("bench_guest: unshare(CLONE_NEWIPC) refused; native queues are private ones");
    }
    let module = match kmod::Kmod::open() {
        Ok(k) => Module(Box::leak(Box::new(k))),
        Err(e) => {
            println!(
                "bench_guest: cannot open /dev/msgq ({}): load msgq.ko first",
                std::io::Error::from_raw_os_error(e)
            );
            println!("bench_guest: 0 passed, 1 failed");
            std::process::exit(1);
        }
    };
    // A wedge (a receiver that never returns) ends the run instead of the VM's timeout.
    watchdog(
        Duration::from_secs(if smoke { 300 } else { 1500 }),
        Vec::new(),
    );
    let _ = std::fs::remove_dir_all(OUT_DIR);
    // The emulated guest shares the host's CPUs: other work on the host slows it down for
    // seconds at a time. So the whole set runs ROUNDS times, the two implementations in
    // alternating order, and each benchmark's figure is the median of its rounds' medians.
    let rounds = if smoke { 1 } else { ROUNDS };
    let mut per_round = Vec::new();
    for round in 0..rounds {
        let dir = Path::new(OUT_DIR).join(format!("round-{round}"));
        let mut c = criterion(&dir);
        if round % 2 == 0 {
            run_round(&mut c, Native, module);
        } else {
            run_round(&mut c, module, Native);
        }
        c.final_summary();
        let mut res = Results::new();
        collect(&dir, &mut res);
        per_round.push(res);
    }

    let (passed, mut failed) = rows::verdict();
    let expected = 2 * PER_IMPL * rounds;
    if !filtered && passed + failed != expected {
        println!(
            "bench_guest: {} benchmarks ran, expected {expected}",
            passed + failed
        );
        failed += 1;
    }
    if !smoke {
        print_meta(rounds);
        let printed = print_results(&per_round);
        if printed * rounds != passed + failed {
            println!(
                "bench_guest: {printed} results for {} benchmarks in {rounds} rounds",
                passed + failed
            );
            failed += 1;
        }
    }
    println!("bench_guest: {passed} passed, {failed} failed");
    std::process::exit(if failed == 0 { 0 } else { 1 });
}

/// Criterion writing to `dir` (one per round, so rounds neither overwrite nor compare with
/// each other). Short: under TCG a full run must stay within minutes (criterion's options on
/// the command line, e.g. `--measurement-time 3`, override these). The medians are what the
/// report uses; few resamples keep criterion's (emulated) statistics cheap.
fn criterion(dir: &Path) -> Criterion {
    Criterion::default()
        .output_directory(dir)
        .without_plots()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .nresamples(2000)
        .configure_from_args()
}

/// How many times a measuring run repeats the set.
const ROUNDS: usize = 5;

/// Rows 1, 4 (issue 7's three modes) and 5 for `a`, then `b`.
fn run_round<A, B>(c: &mut Criterion, a: A, b: B)
where
    A: Ipc + Copy + Send + 'static,
    B: Ipc + Copy + Send + 'static,
{
    let issue_modes = &TYPED_MODES[..3];
    pair(c, a);
    pair(c, b);
    typed(c, a, issue_modes);
    typed(c, b, issue_modes);
    blocked_receivers(c, a);
    blocked_receivers(c, b);
}

/// `@@BENCH meta` lines: what the guest is.
fn print_meta(rounds: usize) {
    let uname = std::process::Command::new("uname").arg("-r").output();
    meta(
        "kernel",
        uname.map_or("unknown".into(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_owned()
        }),
    );
    meta(
        "cpus",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    // What the guest's clock reads: `tsc`, or `refined-jiffies` (1/HZ resolution) when the
    // kernel could not calibrate the TSC (see mk/bench-guest.mk).
    let cs = "/sys/devices/system/clocksource/clocksource0/current_clocksource";
    meta(
        "clocksource",
        std::fs::read_to_string(cs).map_or("unknown".into(), |s| s.trim().to_owned()),
    );
    meta("rounds", rounds);
}

/// `@@BENCH bench <id> <median of the rounds>` and `@@BENCH round <id> <each round's>` for
/// every benchmark measured in every round; returns how many.
fn print_results(per_round: &[Results]) -> usize {
    let mut printed = 0;
    for key in per_round[0].keys() {
        let mut v: Vec<f64> = per_round
            .iter()
            .filter_map(|r| r.get(key).copied())
            .collect();
        let (group, imp, param) = key;
        if v.len() != per_round.len() || (imp != NATIVE && imp != MODULE) {
            continue;
        }
        let each: Vec<String> = v.iter().map(|x| format!("{x:.1}")).collect();
        v.sort_by(f64::total_cmp);
        let median = v[v.len() / 2];
        println!("@@BENCH bench {group} {imp} {param} {median:.1}");
        println!("@@BENCH round {group} {imp} {param} {}", each.join(" "));
        printed += 1;
    }
    printed
}
