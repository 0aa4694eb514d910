//! The chaos controller: starts senders, receivers and queue churners as separate
//! processes on one store (or on the kernel's queues, in a private IPC namespace), then for
//! a bounded time SIGKILLs (or SIGSTOPs and resumes) random ones and restarts the dead,
//! stops them all, drains the queues and checks the invariants against the workers' logs
//! (see docs/crash-safety.md).
//!
//! Modes ([`Mode`]): `kill` and `stop` (issue 8); `full` (the store filled to ENOMEM),
//! `mni` (queue churn at the msgmni limit) and `timer` (blocked calls interrupted by timer
//! signals), each also run on the kernel as the reference (issue 12).

use crate::ipc::{private_namespace, Ipc, Kernel, PrivateNs};
pub use crate::worker::Shape as Mode;
use crate::worker::{self, mode_matches, Status, CHURN_Q, STATUS_SLOTS, VICTIM_BASE};
use msgq_chaos::msg;
use msgq_chaos::rng::Rng;
use msgq_core::abi::*;
use msgq_core::ids;
use msgq_core::Errno;
use msgq_user::shm::layout;
use msgq_user::{Limits, Store, StoreOptions};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Config {
    pub mode: Mode,
    pub secs: u64,
    pub seed: u64,
    pub fault: bool,
    pub verbose: bool,
    /// Run on the kernel's queues (in a private IPC namespace) instead of the engine.
    pub kernel: bool,
}

/// msgmni in the `mni` mode (3 queues of the workload, the rest churned).
pub const MNI_LIMIT: u64 = 10;
/// The `full` mode's queues' byte limit on the kernel (the engine's is its store: 1 MiB of
/// heap).
const KERNEL_FULL_QBYTES: u64 = 128 << 10;
/// The engine's queues' byte limit in the `full` mode: never reached (the store is).
const ENGINE_FULL_QBYTES: u64 = 2 << 20;

struct Worker {
    role: &'static str,
    slot: u64,
    inc: u64,
    child: Child,
    log: PathBuf,
    /// Killed by the controller (else a death by SIGKILL was a fault point).
    killed: bool,
    /// Sleeping (wchan) in a futex wait (engine) or in msgrcv/msgsnd (kernel) when the
    /// controller killed it.
    slept: bool,
    /// `/proc/PID/syscall` while it was stopped before the kill: its last system call (and
    /// for futex, the operation: where in the call it was).
    syscall: String,
    /// When the controller stopped it (CLOCK_MONOTONIC ns), before killing it.
    stop_ns: u64,
}

/// A finished incarnation.
struct Dead {
    role: &'static str,
    slot: u64,
    inc: u64,
    log: PathBuf,
    clean: bool,
    killed: bool,
    slept: bool,
    syscall: String,
    stop_ns: u64,
}

#[derive(Default, Debug, Clone)]
pub struct Counts {
    pub kills: u64,
    pub kills_holding_lock: u64,
    pub kills_blocked: u64,
    pub handoff_kills: u64,
    pub fault_kills: u64,
    pub stops: u64,
    pub stops_holding_lock: u64,
    pub restarts: u64,
    pub sent: u64,
    pub received: u64,
    pub drained: u64,
    /// Messages whose msgsnd succeeded and that were neither received nor drained, and that
    /// no killed receiver can explain.
    pub lost: u64,
    pub excused: u64,
    /// Of those, receivers that were asleep in a futex wait just before the kill (so most
    /// likely had not returned the message: a high share would hint at real losses).
    pub excused_slept: u64,
    /// Where the excusing receivers were stopped (their last system call).
    pub excused_where: String,
    /// Missing messages that only a receiver could excuse that was stopped where it cannot
    /// have taken one (in a futex wait or writing its log line) or that died at a fault
    /// point (its update was rolled back): not excused any more (counted in `lost`).
    pub refused_excuses: u64,
    /// Hand-off probes whose message was found again (drained from queue 2 or received).
    pub probes_found: u64,
    pub probes: u64,
    /// Of those, full-mode probes swept by the controller with the other workers held.
    pub held_probes: u64,
    /// Probes lost: handed to a victim that was killed, never seen again.
    pub probes_lost: u64,
    /// Messages a killed receiver had returned but not logged, read from its status slot.
    pub rescued: u64,
    pub recoveries: u64,
    /// ENOMEM from msgsnd, msgrcv, msgget (store full).
    pub enomem_send: u64,
    pub enomem_receive: u64,
    pub enomem_create: u64,
    /// Non-blocking sends refused (EAGAIN or ENOMEM: the store or queue was full).
    pub full_refusals: u64,
    /// The msgmni mode: queues created by the churners, msgget ENOSPC, orphans adopted.
    pub creates: u64,
    pub enospc: u64,
    pub adopted: u64,
    pub max_in_use: u64,
    /// The timer mode (see `sigtimer`).
    pub calls: u64,
    pub timers_in_call: u64,
    pub timers_blocked: u64,
    pub timers_outside_syscall: u64,
    pub timers_eintr: u64,
    pub completed_first: u64,
    pub eintr_missed: u64,
    pub watchdogs: u64,
    pub hooks: bool,
}

pub struct Outcome {
    pub counts: Counts,
    pub passed: u64,
    pub failed: u64,
    /// Why the run did not happen (the kernel reference needs root); neither passed nor
    /// failed.
    pub skipped: Option<String>,
}

/// Reads the store mutex's owner tid (glibc: the lock word's low 30 bits) through a
/// read-only mapping of the store's first page.
struct LockPeek {
    p: *const u32,
}

impl LockPeek {
    fn new(path: &Path) -> Option<LockPeek> {
        let f = std::fs::File::open(path).ok()?;
        use std::os::fd::AsRawFd;
        // SAFETY: a read-only shared mapping of the first page of a file we opened; it is
        // never unmapped (it lives as long as the controller).
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: LOCK_OFF is inside the first page (the header).
        let p = unsafe { p.cast::<u8>().add(layout::LOCK_OFF as usize) }.cast::<u32>();
        Some(LockPeek { p })
    }
    fn owner(&self) -> u32 {
        // SAFETY: the mapping is valid; a volatile read of a word other processes change.
        unsafe { self.p.read_volatile() & 0x3fff_ffff }
    }
}

fn wchan(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default()
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: signalling our own child by pid (it has not been reaped yet).
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

fn stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit(") ").next().unwrap_or("").starts_with('T'))
        .unwrap_or(false)
}

fn wait_stopped(pid: u32) {
    let t = Instant::now();
    while !stopped(pid) && t.elapsed() < Duration::from_millis(200) {
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn mono_ns() -> u64 {
    msgq_user::sys::process::mono_ns()
}

/// `/proc/PID/syscall` of a stopped process, shortened: `futex op N`, `syscall N`.
fn syscall_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/syscall"))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                [nr, _uaddr, op, ..] if *nr == "202" => {
                    let op =
                        u64::from_str_radix(op.trim_start_matches("0x"), 16).unwrap_or(99) & 0x7f;
                    format!("futex op {op}")
                }
                [nr, ..] => format!("syscall {nr}"),
                [] => "?".into(),
            }
        })
        .unwrap_or_default()
}

/// Whether a receiver stopped at `syscall` (before its kill) cannot have taken a message in
/// the `msgrcv` its log shows open. In a futex *wait* (engine) the call has not committed
/// a receive: the only futex calls after that commit are wakes. In `write` it was writing
/// its `A` line (an `R` line would be in the log). On the kernel, a receiver stopped in
/// msgrcv may have been handed a message and returned it before stopping.
fn cannot_have_taken(syscall: &str, kernel: bool) -> bool {
    syscall == "syscall 1" || (!kernel && (syscall == "futex op 0" || syscall == "futex op 9"))
}

struct Run {
    cfg: Config,
    dir: PathBuf,
    /// The store file, or "kernel".
    store_arg: String,
    /// A private copy of this binary for the workers: a concurrent `cargo build` may
    /// replace target/release/msgq-chaos while the run lasts.
    exe: PathBuf,
    status_path: PathBuf,
    /// Messages that stopped receivers had returned but not yet logged when they were
    /// killed (read from their status slot): (slot, inc, k, sid, seq, q, type).
    rescued: Vec<(u64, u64, u64, u64, u64, usize, i64)>,
    queues: Vec<i32>,
    /// Messages the controller took out of queues during the run (probe room, returned
    /// probes, orphaned churn queues): (sid, seq, queue index, type).
    taken: Vec<(u64, u64, usize, i64)>,
    store: Option<Store>,
    workers: Vec<Worker>,
    dead: Vec<Dead>,
    counts: Counts,
    rng: Rng,
    violations: Vec<String>,
    next_inc: HashMap<u64, u64>,
    life_ms: u64,
    /// The controller's own hand-off probes (sender id 0): (seq, queue index, type).
    probes: Vec<(u64, usize, i64)>,
    /// Other messages the controller sent (sender id 1): (seq, queue index, type).
    own: Vec<(u64, usize, i64)>,
    own_seq: u64,
    msgmni: u64,
    /// The store lock's owner (engine only).
    peek: Option<LockPeek>,
}

impl Run {
    fn ipc(&self) -> &dyn Ipc {
        match &self.store {
            Some(s) => s,
            None => &Kernel,
        }
    }

    fn spawn(&mut self, role: &'static str, slot: u64) {
        let inc = {
            let e = self.next_inc.entry(slot).or_insert(0);
            *e += 1;
            *e
        };
        let log = self.dir.join(format!("{role}-{slot}-{inc}.log"));
        let qs: Vec<String> = self.queues.iter().map(|q| q.to_string()).collect();
        let fault = self.cfg.fault && role != "victim";
        let child = Command::new(&self.exe)
            .args([
                "worker",
                role,
                &self.store_arg,
                &slot.to_string(),
                &inc.to_string(),
                &self.cfg.seed.to_string(),
                &log.to_string_lossy(),
                &self.life_ms.to_string(),
                &qs.join(","),
                if fault { "1" } else { "0" },
                &self.status_path.to_string_lossy(),
                self.cfg.mode.name(),
                &self.msgmni.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                self.violations.push(format!("cannot start a {role}: {e}"));
                return;
            }
        };
        self.workers.push(Worker {
            role,
            slot,
            inc,
            child,
            log,
            killed: false,
            slept: false,
            syscall: String::new(),
            stop_ns: 0,
        });
    }

    /// Reaps finished workers; restarts them (except victims) when `restart`.
    fn reap(&mut self, restart: bool) {
        let mut i = 0;
        while i < self.workers.len() {
            let st = match self.workers[i].child.try_wait() {
                Ok(Some(st)) => st,
                _ => {
                    i += 1;
                    continue;
                }
            };
            let w = self.workers.swap_remove(i);
            use std::os::unix::process::ExitStatusExt;
            // SIGUSR1 kills a worker only before it installed its handler, i.e. before it
            // opened the store: as good as a clean exit.
            let clean = st.code() == Some(0) || st.signal() == Some(libc::SIGUSR1);
            if st.signal() == Some(libc::SIGKILL) && !w.killed {
                self.counts.fault_kills += 1;
            } else if !clean && !w.killed {
                self.violations
                    .push(format!("{} {}/{} exited with {st}", w.role, w.slot, w.inc));
            }
            if w.role == "mchurn" && !clean {
                self.adopt_orphans(&w.log);
            }
            self.dead.push(Dead {
                role: w.role,
                slot: w.slot,
                inc: w.inc,
                log: w.log,
                clean,
                killed: w.killed,
                slept: w.slept,
                syscall: w.syscall,
                stop_ns: w.stop_ns,
            });
            if restart && w.role != "victim" {
                self.counts.restarts += 1;
                self.spawn(w.role, w.slot);
            }
        }
    }

    /// A msgmni churner died: drains and removes the queues it created and did not remove
    /// (its `Q` lines without a `D`). Nobody else uses them.
    fn adopt_orphans(&mut self, log: &Path) {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let mut live: Vec<i32> = Vec::new();
        for line in text.lines() {
            let mut f = line.split(' ');
            match (f.next(), f.next().and_then(|x| x.parse::<i32>().ok())) {
                (Some("Q"), Some(id)) => live.push(id),
                (Some("D"), Some(id)) => live.retain(|&x| x != id),
                _ => {}
            }
        }
        for id in live {
            let n = self.drain_into_taken(id, CHURN_Q);
            match self.ipc().remove(id) {
                Ok(()) => self.counts.adopted += 1,
                // Removed by its churner, which died before logging `D`.
                Err(Errno::EINVAL) | Err(Errno::EIDRM) if n == 0 => {}
                Err(e) => self
                    .violations
                    .push(format!("orphan queue {id}: remove after draining {n}: {e}")),
            }
        }
    }

    /// Sends to queue `qi` without waiting; while the store (the queue) is full, takes a
    /// message out of queue 0 or 1 (counted as received by the controller) and tries again.
    fn send_making_room(&mut self, qi: usize, t: i64, text: &[u8]) -> Result<(), Errno> {
        let mut buf = vec![0u8; msg::MAX_LEN + 64];
        let mut res = Err(Errno::EAGAIN);
        for i in 0..64 {
            res = self.ipc().send(self.queues[qi], t, text, IPC_NOWAIT);
            if !matches!(res, Err(Errno::ENOMEM) | Err(Errno::EAGAIN)) {
                break;
            }
            let from = if qi == 2 { i % 2 } else { qi };
            match self
                .ipc()
                .receive(self.queues[from], &mut buf, 0, IPC_NOWAIT)
            {
                Ok((ty, n)) => match msg::decode(&buf[..n], ty) {
                    Ok((sid, seq)) => self.taken.push((sid, seq, from, ty)),
                    Err(why) => self
                        .violations
                        .push(format!("controller took a corrupt message: {why}")),
                },
                Err(_) => std::thread::sleep(Duration::from_micros(100)),
            }
        }
        res
    }

    /// Takes every message out of queue `id` (counted as received by the controller).
    fn drain_into_taken(&mut self, id: i32, qi: usize) -> u64 {
        let mut buf = vec![0u8; msg::MAX_LEN + 64];
        let mut n = 0;
        while let Ok((ty, len)) = self.ipc().receive(id, &mut buf, 0, IPC_NOWAIT) {
            n += 1;
            match msg::decode(&buf[..len], ty) {
                Ok((sid, seq)) => self.taken.push((sid, seq, qi, ty)),
                Err(why) => self
                    .violations
                    .push(format!("controller took a corrupt message: {why}")),
            }
        }
        n
    }

    fn log_bytes(&self) -> u64 {
        self.workers
            .iter()
            .filter(|w| w.role != "victim")
            .map(|w| std::fs::metadata(&w.log).map(|m| m.len()).unwrap_or(0))
            .sum()
    }

    /// Whether `pid` sleeps inside a message call (engine: a futex; kernel: msgrcv/msgsnd).
    fn asleep(&self, pid: u32) -> bool {
        let w = wchan(pid);
        if self.store.is_some() {
            w.contains("futex")
        } else {
            w.contains("msg")
        }
    }
}

const SENDERS: u64 = 3;
const RECEIVERS: u64 = 4;

fn tag(cfg: &Config) -> String {
    format!(
        "chaos-{}{}",
        cfg.mode.name(),
        if cfg.kernel { "-kernel" } else { "" }
    )
}

fn skipped(why: String) -> Outcome {
    Outcome {
        counts: Counts::default(),
        passed: 0,
        failed: 0,
        skipped: Some(why),
    }
}

/// Sets up the backend: the store (engine) or a private IPC namespace with the mode's
/// limits (kernel), and the three queues of the workload.
fn setup(cfg: &Config, store_path: &Path) -> Result<(Option<Store>, Vec<i32>, u64), String> {
    let msgmni = if cfg.mode == Mode::Mni {
        MNI_LIMIT
    } else {
        Limits::default().msgmni as u64
    };
    let (q01, q1_small, q2) = match cfg.mode {
        Mode::Full if cfg.kernel => (KERNEL_FULL_QBYTES, KERNEL_FULL_QBYTES, KERNEL_FULL_QBYTES),
        Mode::Full => (ENGINE_FULL_QBYTES, ENGINE_FULL_QBYTES, ENGINE_FULL_QBYTES),
        // Small: the timed senders block on it.
        Mode::Timer => (16384, 600, 16384),
        _ => (16384, 2048, 16384),
    };
    let store = if cfg.kernel {
        let ns: PrivateNs = private_namespace()?;
        ns.set_limit("msgmni", msgmni)?;
        ns.set_limit("msgmnb", q01.max(16384))?;
        None
    } else {
        let _ = std::fs::remove_file(store_path);
        let mut limits = Limits {
            msgmni: msgmni as u32,
            ..Limits::default()
        };
        let size = if cfg.mode == Mode::Full {
            limits.msgmnb = ENGINE_FULL_QBYTES as u32;
            // The smallest store: 1 MiB of heap, filled within a second.
            layout::MIN_LEN
        } else {
            64 << 20
        };
        Some(
            Store::create(
                store_path,
                &StoreOptions {
                    size,
                    limits,
                    ..Default::default()
                },
            )
            .map_err(|e| format!("create the chaos store: {e}"))?,
        )
    };
    let ipc: &dyn Ipc = match &store {
        Some(s) => s,
        None => &Kernel,
    };
    let mut queues = Vec::new();
    for (k, qbytes) in [(1, q01), (2, q1_small), (3, q2)] {
        let q = ipc
            .msgget(0x4348_0000 + k, IPC_CREAT | 0o600)
            .map_err(|e| format!("msgget: {e}"))?;
        let mut d = ipc.stat(q).map_err(|e| format!("IPC_STAT: {e}"))?;
        d.msg_qbytes = qbytes;
        ipc.set(q, &d)
            .map_err(|e| format!("IPC_SET qbytes {qbytes}: {e}"))?;
        queues.push(q);
    }
    Ok((store, queues, msgmni))
}

pub fn run(cfg: Config) -> Outcome {
    let tag = tag(&cfg);
    // SAFETY: geteuid has no preconditions.
    if cfg.kernel && unsafe { libc::geteuid() } != 0 {
        return skipped("the kernel reference needs root (a private IPC namespace)".into());
    }
    let name = format!("msgq-{tag}-{}", std::process::id());
    let dir = std::env::temp_dir().join(&name);
    let store_path = PathBuf::from(format!("/dev/shm/{name}"));
    let (store, queues, msgmni) = match setup(&cfg, &store_path) {
        Ok(x) => x,
        Err(e) if cfg.kernel => return skipped(format!("no private IPC namespace: {e}")),
        Err(e) => {
            let _ = std::fs::remove_file(&store_path);
            println!("{tag}: FAIL setup: {e}");
            return Outcome {
                counts: Counts::default(),
                passed: 0,
                failed: 1,
                skipped: None,
            };
        }
    };
    let peek = if store.is_some() {
        LockPeek::new(&store_path)
    } else {
        None
    };
    let exe = dir.join("msgq-chaos");
    let status_path = dir.join("status");
    let _ = std::fs::remove_dir_all(&dir);
    let setup_files = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&status_path, vec![0u8; (STATUS_SLOTS * 64) as usize]))
        .and_then(|()| std::env::current_exe())
        .and_then(|me| std::fs::copy(me, &exe));
    if let Err(e) = setup_files {
        let _ = std::fs::remove_file(&store_path);
        println!("{tag}: FAIL setup: {}: {e}", dir.display());
        return Outcome {
            counts: Counts::default(),
            passed: 0,
            failed: 1,
            skipped: None,
        };
    }
    let status_of = |slot: u64| Status::open(&status_path, slot);
    let seed = cfg.seed;
    let mut run = Run {
        life_ms: cfg.secs * 1000 + 60_000,
        store_arg: if cfg.kernel {
            "kernel".into()
        } else {
            store_path.to_string_lossy().into_owned()
        },
        cfg,
        dir: dir.clone(),
        exe,
        status_path: status_path.clone(),
        rescued: Vec::new(),
        queues,
        taken: Vec::new(),
        store,
        workers: Vec::new(),
        dead: Vec::new(),
        counts: Counts::default(),
        rng: Rng::new(seed),
        violations: Vec::new(),
        next_inc: HashMap::new(),
        probes: Vec::new(),
        own: Vec::new(),
        own_seq: 0,
        msgmni,
        peek,
    };
    match run.cfg.mode {
        Mode::Timer => {
            run.spawn("sender", 1);
            run.spawn("tsender", 2);
            run.spawn("tsender", 3);
            run.spawn("treceiver", 4);
            run.spawn("treceiver", 5);
            run.spawn("receiver", 6);
        }
        mode => {
            for s in 1..=SENDERS {
                run.spawn("sender", s);
            }
            for s in SENDERS + 1..=SENDERS + RECEIVERS {
                run.spawn("receiver", s);
            }
            match mode {
                Mode::Mni => {
                    run.spawn("mchurn", 50);
                    run.spawn("mchurn", 51);
                    run.spawn("mchurn", 52);
                }
                Mode::Full => {
                    run.spawn("filler", 9);
                    run.spawn("churn", 50);
                }
                _ => run.spawn("churn", 50),
            }
        }
    }

    // ---- the chaos phase
    let end = Instant::now() + Duration::from_secs(run.cfg.secs);
    let mut last_progress = (Instant::now(), run.log_bytes());
    let mut probe_seq = 0u64;
    let mut victim_since: Option<Instant> = None;
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(2 + run.rng.below(30)));
        run.reap(true);
        if run.cfg.mode == Mode::Mni {
            if let Ok((_, mi)) = run.ipc().info(true) {
                let n = mi.msgpool.max(0) as u64;
                run.counts.max_in_use = run.counts.max_in_use.max(n);
                if n > run.msgmni {
                    run.violations
                        .push(format!("{n} queues in use, msgmni is {}", run.msgmni));
                }
            }
        }
        let n = run.workers.iter().filter(|w| w.role != "victim").count();
        if n == 0 || run.cfg.mode == Mode::Timer {
            progress(&mut run, &mut last_progress);
            continue;
        }
        let mut i = run
            .workers
            .iter()
            .enumerate()
            .filter(|(_, w)| w.role != "victim")
            .nth(run.rng.below(n as u64) as usize)
            .map_or(0, |x| x.0);
        let mut pid = run.workers[i].child.id();
        // A third of the time, go for whoever holds the store lock right now.
        if run.rng.pct(33) {
            if let Some(peek) = &run.peek {
                let t = Instant::now();
                while t.elapsed() < Duration::from_millis(20) {
                    let o = peek.owner();
                    if let Some(j) = run.workers.iter().position(|w| w.child.id() == o) {
                        if run.workers[j].role != "victim" {
                            i = j;
                            pid = o;
                            break;
                        }
                    }
                    std::hint::spin_loop();
                }
            }
        }
        match run.cfg.mode {
            Mode::Stop => {
                signal(pid, libc::SIGSTOP);
                wait_stopped(pid);
                run.counts.stops += 1;
                if run.peek.as_ref().is_some_and(|p| p.owner() == pid) {
                    run.counts.stops_holding_lock += 1;
                }
                // Sometimes stop a second one too.
                let j = run.rng.below(run.workers.len() as u64) as usize;
                let pid2 = run.workers[j].child.id();
                let two = j != i && run.rng.pct(30);
                if two {
                    signal(pid2, libc::SIGSTOP);
                    run.counts.stops += 1;
                }
                std::thread::sleep(Duration::from_millis(5 + run.rng.below(150)));
                signal(pid, libc::SIGCONT);
                if two {
                    signal(pid2, libc::SIGCONT);
                }
            }
            _ => {
                let roll = run.rng.below(100);
                if roll < 15 {
                    hand_off_probe(&mut run, &mut probe_seq, &mut victim_since);
                    continue;
                }
                let blocked = run.asleep(pid);
                if roll < 35 && !blocked {
                    continue; // this one was meant to hit a blocked process
                }
                signal(pid, libc::SIGSTOP);
                wait_stopped(pid);
                if run.peek.as_ref().is_some_and(|p| p.owner() == pid) {
                    run.counts.kills_holding_lock += 1;
                }
                if blocked {
                    run.counts.kills_blocked += 1;
                }
                let w = &run.workers[i];
                if matches!(w.role, "receiver" | "mchurn") {
                    if let Some(st) = status_of(w.slot) {
                        if st.get(0) == 2 {
                            run.rescued.push((
                                w.slot,
                                w.inc,
                                st.get(1),
                                st.get(2),
                                st.get(3),
                                st.get(4) as usize,
                                st.get(5) as i64,
                            ));
                        }
                    }
                }
                run.workers[i].syscall = syscall_of(pid);
                // Normally it stopped long ago; if it did not stop in time, it ran until now.
                let stop_ns = mono_ns();
                signal(pid, libc::SIGKILL);
                run.workers[i].killed = true;
                run.workers[i].slept = blocked;
                run.workers[i].stop_ns = stop_ns;
                run.counts.kills += 1;
            }
        }
        progress(&mut run, &mut last_progress);
    }

    quiesce(&mut run);
    finish(&mut run);

    let out = verify(&mut run);
    if out.failed == 0 && !run.cfg.verbose {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("{tag}: logs kept in {}", dir.display());
    }
    drop(run);
    let _ = std::fs::remove_file(&store_path);
    out
}

/// Whole-system progress: some log must grow within 10 s.
fn progress(run: &mut Run, last: &mut (Instant, u64)) {
    let b = run.log_bytes();
    if b != last.1 {
        *last = (Instant::now(), b);
    } else if last.0.elapsed() > Duration::from_secs(10) {
        run.violations
            .push("no worker made progress for 10 s during the chaos phase".into());
        *last = (Instant::now(), b);
    }
}

/// A hand-off probe: a victim blocked in queue 2 on a type of its own gets a message from
/// us, and dies at once; the message must come back (the sweep of pending deliveries puts
/// it back in the queue).
///
/// In the `full` mode the probe is aimed at defect 2: the controller makes room for the
/// message (takes others out of queues 0 and 1), and before the kill it makes the queue
/// drop the victim's type record and fills the store again ([`starve_type_records`]). The
/// sweep must then put the message back into a queue that needs a new type record, in a
/// store that has no room for one unless somebody freed a small block meanwhile.
fn hand_off_probe(run: &mut Run, probe_seq: &mut u64, victim_since: &mut Option<Instant>) {
    let Some(vi) = run.workers.iter().position(|w| w.role == "victim") else {
        run.spawn("victim", 99);
        *victim_since = Some(Instant::now());
        return;
    };
    let vpid = run.workers[vi].child.id();
    let ready =
        victim_since.is_some_and(|t| t.elapsed() > Duration::from_millis(30)) && run.asleep(vpid);
    if !ready {
        return;
    }
    // Stopped first, so it cannot claim the message before it dies: the message must come
    // back whatever the timing.
    signal(vpid, libc::SIGSTOP);
    wait_stopped(vpid);
    let inc = run.workers[vi].inc;
    let q = run.queues[2];
    // Returned probe messages pile up in queue 2: take them out now and then (they count
    // as received).
    if run.ipc().stat(q).is_ok_and(|d| d.msg_qnum > 40) {
        run.drain_into_taken(q, 2);
    }
    *probe_seq += 1;
    let t = VICTIM_BASE + inc as i64;
    let sent = match run.send_making_room(2, t, &msg::encode(0, *probe_seq, t)) {
        Ok(()) => true,
        Err(Errno::ENOMEM) | Err(Errno::EAGAIN) => false,
        Err(e) => {
            run.violations.push(format!("hand-off probe send: {e}"));
            false
        }
    };
    if !sent {
        signal(vpid, libc::SIGKILL);
        run.workers[vi].killed = true;
        run.counts.kills += 1;
        return;
    }
    run.probes.push((*probe_seq, 2, t));
    run.counts.handoff_kills += 1;
    // Every other probe of the full mode holds the other workers still from here until the
    // controller's own sweep, so that the sweep meets the store exactly as full as
    // `starve_type_records` left it (the others' timing is free in the rest).
    let held = run.cfg.mode == Mode::Full && *probe_seq % 2 == 1 && hold_others(run, vpid);
    if run.cfg.mode == Mode::Full {
        starve_type_records(run, 2_000_000 + *probe_seq as i64);
    }
    signal(vpid, libc::SIGKILL);
    run.workers[vi].killed = true;
    run.workers[vi].slept = true;
    run.counts.kills += 1;
    if held {
        // Dead for sure (its liveness mutex marked owner-died at exit): then, with the store
        // full, the controller's IPC_STAT sweeps the pending delivery.
        let _ = run.workers[vi].child.wait();
        starve_type_records(run, 3_000_000 + *probe_seq as i64);
        let _ = run.ipc().stat(run.queues[2]);
        run.counts.held_probes += 1;
        for w in &run.workers {
            // Not the victim: reaped above, its pid may belong to someone else now.
            if w.child.id() != vpid {
                signal(w.child.id(), libc::SIGCONT);
            }
        }
    }
}

/// Stops every worker but the victim. Gives up (resumes them) if one of them holds the
/// store lock, which the controller's calls would then wait for.
fn hold_others(run: &Run, victim: u32) -> bool {
    let pids: Vec<u32> = run
        .workers
        .iter()
        .map(|w| w.child.id())
        .filter(|&p| p != victim)
        .collect();
    for &p in &pids {
        signal(p, libc::SIGSTOP);
    }
    for &p in &pids {
        wait_stopped(p);
    }
    let owner = run.peek.as_ref().map_or(0, |p| p.owner());
    if pids.iter().all(|&p| stopped(p)) && !pids.contains(&owner) {
        return true;
    }
    for &p in &pids {
        signal(p, libc::SIGCONT);
    }
    false
}

/// (The `full` mode's probe, before the victim dies.) Makes queue 2 drop the victim's type
/// record: a message of the fresh type `x` sent and received back leaves `x`'s record as
/// the queue's spare, and the previous spare, the victim's (unused since its waiter took
/// the message), is freed. Then fills the store's small blocks again: small messages of
/// type `x` (its record is there: no allocation) until ENOMEM (the kernel: the queue's
/// byte limit). Done while the victim is stopped, so no sweep can put its message back
/// before.
fn starve_type_records(run: &mut Run, x: i64) {
    let q = run.queues[2];
    run.own_seq += 1;
    let seq = run.own_seq;
    if run.send_making_room(2, x, &msg::encode(1, seq, x)).is_ok() {
        run.own.push((seq, 2, x));
        let mut buf = vec![0u8; msg::MAX_LEN + 64];
        match run.ipc().receive(q, &mut buf, x, IPC_NOWAIT) {
            Ok((ty, n)) => match msg::decode(&buf[..n], ty) {
                Ok((sid, seq)) => run.taken.push((sid, seq, 2, ty)),
                Err(why) => run.violations.push(format!("controller: {why}")),
            },
            Err(e) => run
                .violations
                .push(format!("controller: receive of its own type {x}: {e}")),
        }
    }
    for _ in 0..400 {
        run.own_seq += 1;
        let mut seq = run.own_seq;
        while msg::payload_len(1, seq) > 24 {
            seq += 1;
        }
        run.own_seq = seq;
        match run.ipc().send(q, x, &msg::encode(1, seq, x), IPC_NOWAIT) {
            Ok(()) => run.own.push((seq, 2, x)),
            Err(_) => break,
        }
    }
}

/// Everyone running, nobody killed; every worker must make progress (its log grows)
/// within 20 s of calm: a wedged one would not. (Generous: the machine may be loaded by
/// other work, and a sender on the small queue can be overtaken by the others for a
/// while, as with kernel queues.)
fn quiesce(run: &mut Run) {
    run.reap(true);
    for w in &run.workers {
        signal(w.child.id(), libc::SIGCONT);
    }
    let size_of = |w: &Worker| std::fs::metadata(&w.log).map(|m| m.len()).unwrap_or(0);
    let sizes: Vec<(u32, u64)> = run
        .workers
        .iter()
        .filter(|w| w.role != "victim")
        .map(|w| (w.child.id(), size_of(w)))
        .collect();
    let t = Instant::now();
    let stuck = |run: &Run| -> Vec<String> {
        sizes
            .iter()
            .filter_map(|&(pid, before)| {
                let w = run.workers.iter().find(|w| w.child.id() == pid)?;
                (size_of(w) == before).then(|| {
                    format!(
                        "{} {}/{} made no progress in {} ms of calm (wchan {})",
                        w.role,
                        w.slot,
                        w.inc,
                        t.elapsed().as_millis(),
                        wchan(pid)
                    )
                })
            })
            .collect()
    };
    loop {
        std::thread::sleep(Duration::from_millis(100));
        // A worker that died at a fault point meanwhile was not wedged: reap and restart.
        run.reap(true);
        let s = stuck(run);
        if s.is_empty() {
            break;
        }
        if t.elapsed() > Duration::from_secs(20) {
            run.violations.extend(s);
            if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
                run.violations.push(format!("(load average {})", l.trim()));
            }
            // Where the stuck ones are (if gdb is there), for the diagnosis.
            for &(pid, before) in &sizes {
                let Some(w) = run.workers.iter().find(|w| w.child.id() == pid) else {
                    continue;
                };
                if size_of(w) != before {
                    continue;
                }
                if let Ok(out) = Command::new("gdb")
                    .args(["-p", &pid.to_string(), "-batch", "-ex", "bt 12"])
                    .stdin(Stdio::null())
                    .stderr(Stdio::null())
                    .output()
                {
                    let frames: Vec<String> = String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .filter(|l| l.starts_with('#') && l.contains("msgq"))
                        .map(|l| l.split(" at ").next().unwrap_or(l).to_string())
                        .take(6)
                        .collect();
                    eprintln!(
                        "chaos: stuck {} {}/{} (pid {pid}):\n  {}",
                        w.role,
                        w.slot,
                        w.inc,
                        frames.join("\n  ")
                    );
                }
            }
            // What the queues looked like, for the diagnosis.
            for (qi, &q) in run.queues.iter().enumerate() {
                if let Ok(d) = run.ipc().stat(q) {
                    run.violations.push(format!(
                        "(queue {qi}: {} messages, {} of {} bytes)",
                        d.msg_qnum, d.msg_cbytes, d.msg_qbytes
                    ));
                }
            }
            break;
        }
    }
    run.reap(false);
}

/// SIGUSR1 until every worker has exited (a wedged one would not).
fn finish(run: &mut Run) {
    let t = Instant::now();
    while !run.workers.is_empty() && t.elapsed() < Duration::from_secs(10) {
        for w in &run.workers {
            signal(w.child.id(), libc::SIGUSR1);
        }
        std::thread::sleep(Duration::from_millis(30));
        run.reap(false);
    }
    for w in &mut run.workers {
        run.violations.push(format!(
            "{} {}/{} did not finish within 10 s of being asked (wchan {})",
            w.role,
            w.slot,
            w.inc,
            wchan(w.child.id())
        ));
        signal(w.child.id(), libc::SIGKILL);
        w.killed = true;
    }
    std::thread::sleep(Duration::from_millis(100));
    run.reap(false);
}

#[derive(Clone, Copy)]
struct Sent {
    q: usize,
    t: i64,
    ok: bool,
    failed: bool,
    /// When the sender was about to call msgsnd (the message cannot exist before).
    at: u64,
}

/// A receiver killed with a receive in progress: (queue, mode, t, asleep, stopped in,
/// stop time, whether it may have taken a message).
type Open = (usize, u32, i64, bool, String, u64, bool);

/// Every queue of the namespace: (index, id, state).
fn all_queues(ipc: &dyn Ipc) -> Vec<(i32, i32, MsqidDs)> {
    let maxidx = ipc.info(true).map_or(0, |(m, _)| m.max(0));
    (0..=maxidx)
        .filter_map(|i| ipc.stat_index(i, true).ok().map(|(id, d)| (i, id, d)))
        .collect()
}

fn verify(run: &mut Run) -> Outcome {
    let tag = tag(&run.cfg);
    let kernel = run.cfg.kernel;
    let mut checks: Vec<(String, Result<(), String>)> = Vec::new();
    // Stats first: on the engine they also put back deliveries pending for dead receivers.
    let sums = |ipc: &dyn Ipc| {
        all_queues(ipc)
            .iter()
            .fold((0u64, 0u64), |(n, b), (_, _, d)| {
                (n + d.msg_qnum, b + d.msg_cbytes)
            })
    };
    let _ = sums(run.ipc());
    let totals = |ipc: &dyn Ipc| -> Result<(u64, u64), String> {
        let (_, mi) = ipc.info(true).map_err(|e| format!("MSG_INFO: {e}"))?;
        Ok((mi.msgmap.max(0) as u64, mi.msgtql.max(0) as u64))
    };
    if let Some(s) = &run.store {
        match s.check() {
            Ok(r) => {
                run.counts.recoveries = r.recoveries;
                let now = sums(s);
                checks.push(("integrity check after the chaos".into(), Ok(())));
                checks.push((
                    "message and byte counters equal the queues' contents".into(),
                    // In the full store a delivery may stay pending until there is room
                    // to put it back: it must be gone after draining (below).
                    if (r.messages, r.bytes) == now
                        && (r.pending == 0 || run.cfg.mode == Mode::Full)
                    {
                        Ok(())
                    } else {
                        Err(format!(
                            "check counted {} messages {} bytes ({} pending), stat says {now:?}",
                            r.messages, r.bytes, r.pending
                        ))
                    },
                ));
            }
            Err(e) => checks.push(("integrity check after the chaos".into(), Err(e))),
        }
    } else {
        let now = sums(run.ipc());
        checks.push((
            "MSG_INFO's totals equal the queues' contents".into(),
            match totals(run.ipc()) {
                Ok(t) if t == now => Ok(()),
                Ok(t) => Err(format!("MSG_INFO says {t:?}, the queues {now:?}")),
                Err(e) => Err(e),
            },
        ));
    }
    if run.cfg.mode == Mode::Mni {
        checks.push((
            "ids and counts at the msgmni limit".into(),
            mni_end_check(run),
        ));
    }
    // Drain the queues, checking each queue's counters against what comes out: the
    // workload's three, and in the msgmni mode every other queue (the churners').
    // (sid, seq, queue, type, index of who in `names`)
    let mut received: Vec<(u64, u64, usize, i64, u32)> = Vec::new();
    let mut names: Vec<String> = vec!["drain".into(), "controller".into()];
    let mut drain_err = Vec::new();
    let mut buf = vec![0u8; msg::MAX_LEN + 64];
    let mut to_drain: Vec<(usize, i32)> = run.queues.iter().copied().enumerate().collect();
    if run.cfg.mode == Mode::Mni {
        for (_, id, d) in all_queues(run.ipc()) {
            let shared = (worker::MNI_KEY..worker::MNI_KEY + 3).contains(&d.msg_perm.key);
            if !run.queues.contains(&id) && !shared {
                to_drain.push((CHURN_Q, id));
            }
        }
    }
    // In rounds: a delivery that could not be put back while the store was full may come
    // back once draining made room (each IPC_STAT sweeps).
    for _round in 0..3 {
        let mut any = false;
        for &(qi, q) in &to_drain {
            let Ok(d) = run.ipc().stat(q) else {
                drain_err.push(format!("queue {qi} (id {q}): IPC_STAT failed"));
                continue;
            };
            let (mut n, mut b) = (0u64, 0u64);
            while let Ok((ty, len)) = run.ipc().receive(q, &mut buf, 0, IPC_NOWAIT) {
                n += 1;
                b += len as u64;
                match msg::decode(&buf[..len], ty) {
                    Ok((sid, seq)) => received.push((sid, seq, qi, ty, 0)),
                    Err(why) => drain_err.push(format!("queue {qi}: corrupt: {why}")),
                }
            }
            any |= n > 0;
            if (n, b) != (d.msg_qnum, d.msg_cbytes) {
                drain_err.push(format!(
                    "queue {qi}: stat said {} messages {} bytes, drained {n} / {b}",
                    d.msg_qnum, d.msg_cbytes
                ));
            }
        }
        if !any {
            break;
        }
    }
    run.counts.drained = received.len() as u64;
    for &(sid, seq, qi, t) in &run.taken {
        received.push((sid, seq, qi, t, 1));
    }
    checks.push((
        "drained queues match their counters, no corruption".into(),
        if drain_err.is_empty() {
            Ok(())
        } else {
            Err(drain_err.join("; "))
        },
    ));
    if let Some(s) = &run.store {
        checks.push((
            "integrity check after draining".into(),
            match s.check() {
                Ok(r) if (r.messages, r.bytes) == sums(s) && r.pending == 0 => Ok(()),
                Ok(r) => Err(format!(
                    "check counted {} messages {} bytes ({} pending), stat {:?}",
                    r.messages,
                    r.bytes,
                    r.pending,
                    sums(s)
                )),
                Err(e) => Err(e),
            },
        ));
    }

    // Read every log.
    let mut sent: HashMap<(u64, u64), Sent> = HashMap::new();
    let mut x_lines = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    let mut t_lines: Vec<(bool, Vec<u64>)> = Vec::new();
    for &(seq, q, t) in &run.probes {
        sent.insert(
            (0, seq),
            Sent {
                q,
                t,
                ok: true,
                failed: false,
                at: 0,
            },
        );
    }
    for &(seq, q, t) in &run.own {
        sent.insert(
            (1, seq),
            Sent {
                q,
                t,
                ok: true,
                failed: false,
                at: 0,
            },
        );
    }
    for d in &run.dead {
        let text = std::fs::read_to_string(&d.log).unwrap_or_default();
        let me = names.len() as u32;
        names.push(format!("{} {}/{}", d.role, d.slot, d.inc));
        let sid = (d.slot << 32) | d.inc;
        let mut last_a: Option<(usize, u32, i64, u64)> = None;
        for line in text.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            let num = |i: usize| f.get(i).and_then(|x| x.parse::<i64>().ok()).unwrap_or(-1);
            match f[0] {
                "I" => {
                    sent.insert(
                        (sid, num(1) as u64),
                        Sent {
                            q: num(2) as usize,
                            t: num(3),
                            ok: false,
                            failed: false,
                            at: num(4).max(0) as u64,
                        },
                    );
                }
                "S" | "F" => {
                    if let Some(e) = sent.get_mut(&(sid, num(1) as u64)) {
                        if f[0] == "S" {
                            e.ok = true;
                            run.counts.sent += 1;
                        } else {
                            e.failed = true;
                            if num(2) == Errno::EAGAIN.0 as i64 || num(2) == Errno::ENOMEM.0 as i64
                            {
                                run.counts.full_refusals += 1;
                            }
                        }
                    }
                }
                "A" => last_a = Some((num(2) as usize, num(3) as u32, num(4), num(1) as u64)),
                "R" => {
                    last_a = None;
                    received.push((num(2) as u64, num(3) as u64, num(4) as usize, num(5), me));
                }
                "E" => last_a = None,
                "X" => x_lines.push(format!("{} {}/{}: {line}", d.role, d.slot, d.inc)),
                "M" => match f.get(1).copied() {
                    Some("send") => run.counts.enomem_send += 1,
                    Some("receive") => run.counts.enomem_receive += 1,
                    _ => run.counts.enomem_create += 1,
                },
                "Q" => run.counts.creates += 1,
                "N" => run.counts.enospc += 1,
                "T" => t_lines.push((
                    d.role == "tsender",
                    f[1..].iter().map(|x| x.parse().unwrap_or(0)).collect(),
                )),
                _ => {}
            }
        }
        if let Some(&(.., sid, seq, q, t)) = run
            .rescued
            .iter()
            .find(|r| (r.0, r.1) == (d.slot, d.inc) && last_a.is_some_and(|a| a.3 == r.2))
        {
            // Returned to the receiver, killed before its log line: counted from the
            // status slot the controller read while it was stopped.
            received.push((sid, seq, q, t, me));
            run.counts.rescued += 1;
            last_a = None;
        }
        // Victims were stopped before the hand-off and killed while stopped: no excuse.
        if let (Some((q, mode, t, _)), false, false) = (last_a, d.clean, d.role == "victim") {
            // Died at a fault point: inside an update, before its commit, which the next
            // lock holder rolled back: it took nothing.
            let may = d.killed && !cannot_have_taken(&d.syscall, kernel);
            let at = if d.killed {
                d.syscall.clone()
            } else {
                "a fault point (self-kill)".into()
            };
            open.push((q, mode, t, d.slept, at, d.stop_ns, may));
        }
    }
    run.counts.sent += (run.probes.len() + run.own.len()) as u64;
    run.counts.received = received.len() as u64 - run.counts.drained;

    checks.push((
        "workers saw no corrupt or wrongly selected message, no unexpected errno".into(),
        if x_lines.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} lines, first: {}",
                x_lines.len(),
                x_lines[..x_lines.len().min(5)].join(" | ")
            ))
        },
    ));
    let mut seen: HashMap<(u64, u64), u32> = HashMap::new();
    let (mut dups, mut phantoms, mut failed_but_received, mut misrouted) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (sid, seq, q, t, idx) in &received {
        let idx = *idx;
        let who = &names[idx as usize];
        if let Some(first) = seen.insert((*sid, *seq), idx) {
            dups.push(format!(
                "{sid:#x}/{seq} by {} and {who}",
                names[first as usize]
            ));
        }
        match sent.get(&(*sid, *seq)) {
            None => phantoms.push(format!("{sid:#x}/{seq} ({who})")),
            Some(e) => {
                if e.failed {
                    failed_but_received.push(format!("{sid:#x}/{seq}"));
                }
                if e.q != *q || e.t != *t {
                    misrouted.push(format!(
                        "{sid:#x}/{seq}: sent to {}/{}, got from {q}/{t}",
                        e.q, e.t
                    ));
                }
            }
        }
    }
    let show = |v: &Vec<String>| {
        if v.is_empty() {
            Ok(())
        } else {
            Err(format!("{}: {}", v.len(), v[..v.len().min(12)].join(", ")))
        }
    };
    checks.push(("no message received twice".into(), show(&dups)));
    checks.push((
        "no message received that was never sent".into(),
        show(&phantoms),
    ));
    checks.push((
        "no failed msgsnd delivered its message".into(),
        show(&failed_but_received),
    ));
    checks.push((
        "every message came from the queue and with the type it was sent".into(),
        show(&misrouted),
    ));

    // Every successful send was received or drained, except at most one message per
    // receiver killed inside msgrcv where it may have taken one (it may have returned just
    // before the kill, before the log line): matched one to one (queue and selection rule
    // must fit, and the message's send must have begun before the receiver was stopped).
    let missing: Vec<((u64, u64), Sent)> = sent
        .iter()
        .filter(|(k, e)| e.ok && !seen.contains_key(k))
        .map(|(k, e)| (*k, *e))
        .collect();
    let (lost, owner) = match_excuses(&missing, &open, true);
    let (lost_loose, _) = match_excuses(&missing, &open, false);
    run.counts.excused = (missing.len() - lost.len()) as u64;
    run.counts.lost = lost.len() as u64;
    run.counts.refused_excuses = (lost.len() - lost_loose.len()) as u64;
    let probes_lost: Vec<String> = run
        .probes
        .iter()
        .filter(|(seq, ..)| !seen.contains_key(&(0, *seq)))
        .map(|(seq, q, t)| format!("probe {seq} (queue {q} type {t})"))
        .collect();
    run.counts.probes = run.probes.len() as u64;
    run.counts.probes_lost = probes_lost.len() as u64;
    // Nobody but the controller receives from queue 2: no excuse.
    checks.push((
        "every message handed to a receiver that died before claiming it came back".into(),
        show(&probes_lost),
    ));
    run.counts.probes_found = run.counts.probes - run.counts.probes_lost;
    let mut wheres: HashMap<&str, u64> = HashMap::new();
    for (j, o) in owner.iter().enumerate() {
        if o.is_some() {
            *wheres.entry(open[j].4.as_str()).or_default() += 1;
        }
    }
    let mut wheres: Vec<String> = wheres.iter().map(|(k, v)| format!("{v} at {k}")).collect();
    wheres.sort();
    run.counts.excused_where = wheres.join(", ");
    run.counts.excused_slept = owner
        .iter()
        .enumerate()
        .filter(|(j, o)| o.is_some() && open[*j].3)
        .count() as u64;
    checks.push((
        "every successful msgsnd was received once or is still queued".into(),
        show(&lost),
    ));
    if matches!(run.cfg.mode, Mode::Stop | Mode::Timer) {
        checks.push((
            "nothing excused (no process died)".into(),
            if run.counts.excused == 0 {
                Ok(())
            } else {
                Err(format!("{} excused", run.counts.excused))
            },
        ));
    }
    checks.push((
        "no worker wedged; every death was a kill".into(),
        show(&run.violations),
    ));
    checks.push((
        "messages flowed".into(),
        if run.counts.sent > 100 && run.counts.received > 100 {
            Ok(())
        } else {
            Err(format!(
                "only {} sent, {} received",
                run.counts.sent, run.counts.received
            ))
        },
    ));
    match run.cfg.mode {
        Mode::Full => checks.push((
            "the store (the kernel: the queues) was full".into(),
            if run.counts.full_refusals > 100 {
                Ok(())
            } else {
                Err(format!(
                    "only {} sends refused for want of room",
                    run.counts.full_refusals
                ))
            },
        )),
        Mode::Mni => checks.push((
            "msgget reached the limit (ENOSPC) and queues were created".into(),
            if run.counts.enospc > 0 && run.counts.creates > 0 {
                Ok(())
            } else {
                Err(format!(
                    "{} created, {} ENOSPC",
                    run.counts.creates, run.counts.enospc
                ))
            },
        )),
        Mode::Timer => timer_checks(run, &t_lines, &mut checks),
        _ => {}
    }

    let mut passed = 0;
    let mut failed = 0;
    for (name, r) in &checks {
        match r {
            Ok(()) => {
                passed += 1;
                if run.cfg.verbose {
                    println!("{tag}: ok   {name}");
                }
            }
            Err(e) => {
                failed += 1;
                println!("{tag}: FAIL {name}: {e}");
            }
        }
    }
    print_summary(run, &tag);
    println!("{tag}: {passed} passed, {failed} failed");
    Outcome {
        counts: std::mem::take(&mut run.counts),
        passed,
        failed,
        skipped: None,
    }
}

/// Matches missing messages to killed receivers (Kuhn's augmenting paths): each receiver
/// excuses at most one message of its queue that its mode selects, sent before it was
/// stopped. With `strict`, only receivers that may have taken a message count. Returns the
/// messages left over and each receiver's message.
fn match_excuses(
    missing: &[((u64, u64), Sent)],
    open: &[Open],
    strict: bool,
) -> (Vec<String>, Vec<Option<usize>>) {
    fn fits(e: &Sent, o: &Open, strict: bool) -> bool {
        let &(q, mode, t, _, _, stop_ns, may) = o;
        q == e.q
            && mode_matches(mode, t, e.t)
            && (!strict || (may && (stop_ns == 0 || e.at < stop_ns)))
    }
    fn augment(
        m: usize,
        missing: &[((u64, u64), Sent)],
        open: &[Open],
        owner: &mut [Option<usize>],
        used: &mut HashSet<usize>,
        strict: bool,
    ) -> bool {
        let e = missing[m].1;
        for (j, o) in open.iter().enumerate() {
            if fits(&e, o, strict)
                && used.insert(j)
                && owner[j].is_none_or(|o| augment(o, missing, open, owner, used, strict))
            {
                owner[j] = Some(m);
                return true;
            }
        }
        false
    }
    let mut owner: Vec<Option<usize>> = vec![None; open.len()];
    let mut lost = Vec::new();
    for m in 0..missing.len() {
        if !augment(m, missing, open, &mut owner, &mut HashSet::new(), strict) {
            let ((sid, seq), e) = missing[m];
            lost.push(format!("{sid:#x}/{seq} (queue {} type {})", e.q, e.t));
        }
    }
    (lost, owner)
}

/// The msgmni mode's end state, quiet: every queue listed once under its own index, as
/// many as MSG_INFO says; exactly msgmni minus that can be created, then ENOSPC, and after
/// removing one, one more.
fn mni_end_check(run: &mut Run) -> Result<(), String> {
    let ipc = run.ipc();
    let qs = all_queues(ipc);
    let (_, mi) = ipc.info(true).map_err(|e| format!("MSG_INFO: {e}"))?;
    let mut ids = HashSet::new();
    for &(i, id, _) in &qs {
        if ids::idx_of(id) as i32 != i {
            return Err(format!("index {i} lists id {id}"));
        }
        if !ids.insert(id) {
            return Err(format!("id {id} listed twice"));
        }
    }
    if qs.len() as i32 != mi.msgpool {
        return Err(format!(
            "{} queues listed, MSG_INFO says {}",
            qs.len(),
            mi.msgpool
        ));
    }
    let mut made = Vec::new();
    let res = loop {
        match ipc.msgget(IPC_PRIVATE, 0o600) {
            Ok(id) => {
                if ids.contains(&id) {
                    break Err(format!("msgget returned the live id {id}"));
                }
                made.push(id);
                if made.len() > 2 * run.msgmni as usize {
                    break Err(format!("{} created past the limit", made.len()));
                }
            }
            Err(Errno::ENOSPC) => {
                let n = qs.len() + made.len();
                if n as u64 != run.msgmni {
                    break Err(format!("ENOSPC with {n} queues, msgmni is {}", run.msgmni));
                }
                // One freed index: one more queue.
                break match made.pop().map(|id| ipc.remove(id)) {
                    Some(Ok(())) => match ipc.msgget(IPC_PRIVATE, 0o600) {
                        Ok(id) => {
                            made.push(id);
                            Ok(())
                        }
                        Err(e) => Err(format!("msgget after a removal at the limit: {e}")),
                    },
                    _ => Ok(()),
                };
            }
            Err(e) => break Err(format!("msgget: {e}")),
        }
    };
    for id in made {
        let _ = ipc.remove(id);
    }
    res
}

/// The timer mode: every call a timer signal's handler ran in (while it was blocked)
/// returned EINTR or completed first; none slept on, none needed the watchdog.
fn timer_checks(
    run: &mut Run,
    t_lines: &[(bool, Vec<u64>)],
    checks: &mut Vec<(String, Result<(), String>)>,
) {
    use crate::sigtimer::{BLOCKED, IDLE};
    let c = &mut run.counts;
    c.hooks = !run.cfg.kernel && cfg!(feature = "fault-injection");
    let mut missed = Vec::new();
    for (sender, f) in t_lines {
        // k errno in_call first_state first_syscall sleeps_after watchdog latency_us
        let g = |i: usize| f.get(i).copied().unwrap_or(0);
        let (k, errno, in_call, state, sys, sleeps, wd, lat) =
            (g(0), g(1), g(2), g(3) as u32, g(4), g(5), g(6), g(7));
        c.calls += 1;
        if in_call == 0 || state == IDLE {
            continue;
        }
        c.timers_in_call += 1;
        let eintr = errno == Errno::EINTR.0 as u64;
        if state == BLOCKED {
            c.timers_blocked += 1;
            if sys == 0 {
                c.timers_outside_syscall += 1;
            }
        }
        if eintr {
            c.timers_eintr += 1;
        } else if errno == 0 {
            c.completed_first += 1;
        }
        let mut why = Vec::new();
        if wd > 0 {
            c.watchdogs += 1;
            why.push(format!("still blocked {lat} µs after the handler ran"));
        }
        if c.hooks {
            let allowed = if state == BLOCKED { 0 } else { 1 };
            if sleeps > allowed {
                why.push(format!("went back to sleep {sleeps} times after it"));
            }
            if *sender && errno == 0 && state == BLOCKED {
                why.push("the send completed after it".into());
            }
        } else if run.cfg.kernel && state == BLOCKED && !eintr {
            // Classified from the saved context: the system call itself was interrupted.
            // (Not on the engine without the phase hook: a handler may interrupt glibc's
            // wait for the store lock, which glibc restarts, before the call found its
            // message.)
            why.push(format!("the interrupted call returned errno {errno}"));
        }
        if !why.is_empty() {
            c.eintr_missed += 1;
            missed.push(format!(
                "{} call {k} (handler in state {state}): {}",
                if *sender { "send" } else { "receive" },
                why.join(", ")
            ));
        }
    }
    checks.push((
        "every call a timer signal's handler ran in returned EINTR (or had completed)".into(),
        if missed.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} missed: {}",
                missed.len(),
                missed[..missed.len().min(6)].join("; ")
            ))
        },
    ));
    checks.push((
        "timer signals landed in blocked calls".into(),
        if c.timers_blocked >= 20 {
            Ok(())
        } else {
            Err(format!(
                "only {} of {} calls ({} with a handler in them)",
                c.timers_blocked, c.calls, c.timers_in_call
            ))
        },
    ));
}

fn print_summary(run: &Run, tag: &str) {
    let c = &run.counts;
    let (secs, seed) = (run.cfg.secs, run.cfg.seed);
    let excused = format!(
        "{} excused (receiver killed inside msgrcv where it may have taken one; {} of them asleep just before the kill; stopped in: {}), {} not excused because the receiver was stopped where it cannot have taken one",
        c.excused, c.excused_slept, c.excused_where, c.refused_excuses
    );
    match run.cfg.mode {
        Mode::Kill => println!(
            "{tag}: {secs}s seed {seed}: kills survived {} (holding the lock {}, blocked {}, right after a hand-off {}, message found again {}) + {} at fault points inside updates; {} restarts; {} messages sent, {} received, {} drained, {} returned but not yet logged at the kill (from the status slots), {excused}; store recoveries {}",
            c.kills + c.fault_kills, c.kills_holding_lock, c.kills_blocked, c.handoff_kills, c.probes_found, c.fault_kills, c.restarts, c.sent, c.received, c.drained, c.rescued, c.recoveries
        ),
        Mode::Stop => println!(
            "{tag}: {secs}s seed {seed}: stops survived {} (holding the lock {}); {} messages sent, {} received, {} drained; store recoveries {}",
            c.stops, c.stops_holding_lock, c.sent, c.received, c.drained, c.recoveries
        ),
        Mode::Full => println!(
            "{tag}: {secs}s seed {seed}: {} messages sent, {} received, {} drained, {} LOST, {excused}; {} sends refused for want of room, ENOMEM from msgsnd {}, from a blocking msgrcv {}, from msgget {}; kills {} (blocked {}, hand-off probes {} ({} swept with the others held), {} of them lost) + {} at fault points",
            c.sent, c.received, c.drained, c.lost, c.full_refusals, c.enomem_send, c.enomem_receive, c.enomem_create, c.kills + c.fault_kills, c.kills_blocked, c.probes, c.held_probes, c.probes_lost, c.fault_kills
        ),
        Mode::Mni => println!(
            "{tag}: {secs}s seed {seed}: msgmni {}: {} queues created by the churners, {} msgget ENOSPC, {} orphaned queues adopted, at most {} in use seen; {} messages sent, {} received, {} drained, {} LOST, {excused}; kills {} + {} at fault points",
            run.msgmni, c.creates, c.enospc, c.adopted, c.max_in_use, c.sent, c.received, c.drained, c.lost, c.kills + c.fault_kills, c.fault_kills
        ),
        Mode::Timer => println!(
            "{tag}: {secs}s seed {seed}: {} timed calls, a handler ran in {} ({} while blocked, {} of those outside the system call{}); {} returned EINTR, {} completed first; EINTR MISSED {} (watchdog needed {}); {} messages sent, {} received, {} drained, {} LOST",
            c.calls, c.timers_in_call, c.timers_blocked, c.timers_outside_syscall,
            if c.hooks { ": the engine's spin, re-lock and look" } else { "" },
            c.timers_eintr, c.completed_first, c.eintr_missed, c.watchdogs, c.sent, c.received, c.drained, c.lost
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(q: usize, t: i64, at: u64) -> Sent {
        Sent {
            q,
            t,
            ok: true,
            failed: false,
            at,
        }
    }

    #[test]
    fn where_a_stopped_receiver_cannot_have_taken_a_message() {
        assert!(cannot_have_taken("futex op 0", false));
        assert!(cannot_have_taken("futex op 9", false));
        assert!(cannot_have_taken("syscall 1", false));
        assert!(!cannot_have_taken("futex op 1", false));
        assert!(!cannot_have_taken("syscall -1", false));
        assert!(!cannot_have_taken("running", false));
        // On the kernel a futex is not where msgrcv waits; msgrcv itself may have returned.
        assert!(!cannot_have_taken("futex op 0", true));
        assert!(!cannot_have_taken("syscall 70", true));
        assert!(cannot_have_taken("syscall 1", true));
    }

    #[test]
    fn strict_excuses() {
        let missing = vec![((1, 1), sent(0, 2, 100)), ((1, 2), sent(0, 3, 300))];
        // A receiver of any type that may have taken one, stopped at 200: only the first
        // message existed by then.
        let open: Vec<Open> = vec![(0, 0, 0, false, "syscall -1".into(), 200, true)];
        let (lost, owner) = match_excuses(&missing, &open, true);
        assert_eq!(lost.len(), 1);
        assert!(lost[0].contains("0x1/2"));
        assert_eq!(owner, vec![Some(0)]);
        // One that cannot have taken one excuses nothing, except under the loose rule.
        let open: Vec<Open> = vec![(0, 1, 2, true, "futex op 0".into(), 200, false)];
        assert_eq!(match_excuses(&missing, &open, true).0.len(), 2);
        assert_eq!(match_excuses(&missing, &open, false).0.len(), 1);
        // Wrong queue or mode: nothing.
        let open: Vec<Open> = vec![
            (1, 0, 0, false, "syscall -1".into(), 900, true),
            (0, 1, 5, false, "syscall -1".into(), 900, true),
        ];
        assert_eq!(match_excuses(&missing, &open, true).0.len(), 2);
    }
}
