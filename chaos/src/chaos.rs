//! The chaos controller: starts senders, receivers and a queue churner as separate
//! processes on one store, then for a bounded time SIGKILLs (or SIGSTOPs and resumes)
//! random ones and restarts the dead, stops them all, drains the queues and checks the
//! invariants against the workers' logs (see docs/crash-safety.md).

use crate::worker::{mode_matches, Status, STATUS_SLOTS};
use msgq_chaos::msg;
use msgq_chaos::rng::Rng;
use msgq_core::abi::*;
use msgq_user::shm::layout;
use msgq_user::{Store, StoreOptions};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Kill,
    Stop,
}

pub struct Config {
    pub mode: Mode,
    pub secs: u64,
    pub seed: u64,
    pub fault: bool,
    pub verbose: bool,
}

struct Worker {
    role: &'static str,
    slot: u64,
    inc: u64,
    child: Child,
    log: PathBuf,
    /// Killed by the controller (else a death by SIGKILL was a fault point).
    killed: bool,
    /// Sleeping in a futex wait when the controller killed it.
    slept: bool,
    /// `/proc/PID/syscall` while it was stopped before the kill: its last system call (and
    /// for futex, the operation: where in the call it was).
    syscall: String,
}

/// A finished incarnation.
struct Dead {
    role: &'static str,
    slot: u64,
    inc: u64,
    log: PathBuf,
    clean: bool,
    slept: bool,
    syscall: String,
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
    pub excused: u64,
    /// Of those, receivers that were asleep in a futex wait just before the kill (so most
    /// likely had not returned the message: a high share would hint at real losses).
    pub excused_slept: u64,
    /// Where the excusing receivers were stopped (their last system call).
    pub excused_where: String,
    /// Hand-off probes whose message was found again (drained from queue 2 or received).
    pub probes_found: u64,
    /// Messages a killed receiver had returned but not logged, read from its status slot.
    pub rescued: u64,
    pub recoveries: u64,
}

pub struct Outcome {
    pub counts: Counts,
    pub passed: u64,
    pub failed: u64,
}

/// Reads the store mutex's owner tid (glibc: the lock word's low 30 bits) through a
/// read-only mapping of the store's first page.
struct LockPeek {
    p: *const u32,
}

impl LockPeek {
    fn new(path: &Path) -> LockPeek {
        let f = std::fs::File::open(path).expect("open store for peeking");
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
        assert!(p != libc::MAP_FAILED, "mmap");
        // SAFETY: LOCK_OFF is inside the first page (the header).
        let p = unsafe { p.cast::<u8>().add(layout::LOCK_OFF as usize) }.cast::<u32>();
        LockPeek { p }
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

struct Run {
    cfg: Config,
    dir: PathBuf,
    store_path: PathBuf,
    /// A private copy of this binary for the workers: a concurrent `cargo build` may
    /// replace target/release/msgq-chaos while the run lasts.
    exe: PathBuf,
    status_path: PathBuf,
    /// Messages that stopped receivers had returned but not yet logged when they were
    /// killed (read from their status slot): (slot, inc, k, sid, seq, q, type).
    rescued: Vec<(u64, u64, u64, u64, u64, usize, i64)>,
    queues: Vec<i32>,
    /// Probe messages the controller took back out of queue 2 during the run.
    taken: Vec<(u64, u64, i64)>,
    store: Store,
    workers: Vec<Worker>,
    dead: Vec<Dead>,
    counts: Counts,
    rng: Rng,
    violations: Vec<String>,
    next_inc: HashMap<u64, u64>,
    life_ms: u64,
    /// The controller's own hand-off probes: (seq, type) sent to queue 2.
    probes: Vec<(u64, i64)>,
}

impl Run {
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
                &self.store_path.to_string_lossy(),
                &slot.to_string(),
                &inc.to_string(),
                &self.cfg.seed.to_string(),
                &log.to_string_lossy(),
                &self.life_ms.to_string(),
                &qs.join(","),
                if fault { "1" } else { "0" },
                &self.status_path.to_string_lossy(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn a worker");
        self.workers.push(Worker {
            role,
            slot,
            inc,
            child,
            log,
            killed: false,
            slept: false,
            syscall: String::new(),
        });
    }

    /// Reaps finished workers; restarts them (except victims) when `restart`.
    fn reap(&mut self, restart: bool) {
        let mut i = 0;
        while i < self.workers.len() {
            let st = self.workers[i].child.try_wait().expect("try_wait");
            let Some(st) = st else {
                i += 1;
                continue;
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
            self.dead.push(Dead {
                role: w.role,
                slot: w.slot,
                inc: w.inc,
                log: w.log,
                clean,
                slept: w.slept,
                syscall: w.syscall,
            });
            if restart && w.role != "victim" {
                self.counts.restarts += 1;
                self.spawn(w.role, w.slot);
            }
        }
    }

    fn log_bytes(&self) -> u64 {
        self.workers
            .iter()
            .filter(|w| w.role != "victim")
            .map(|w| std::fs::metadata(&w.log).map(|m| m.len()).unwrap_or(0))
            .sum()
    }
}

const SENDERS: u64 = 3;
const RECEIVERS: u64 = 4;

pub fn run(cfg: Config) -> Outcome {
    let tag = match cfg.mode {
        Mode::Kill => "kill",
        Mode::Stop => "stop",
    };
    let name = format!("msgq-chaos-{tag}-{}", std::process::id());
    let dir = std::env::temp_dir().join(&name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store_path = PathBuf::from(format!("/dev/shm/{name}"));
    let _ = std::fs::remove_file(&store_path);
    let store = Store::create(
        &store_path,
        &StoreOptions {
            size: 64 << 20,
            ..Default::default()
        },
    )
    .expect("create the chaos store");
    let mut queues = Vec::new();
    for (k, qbytes) in [(1, 16384u64), (2, 2048), (3, 16384)] {
        let q = store.msgget(0x4348_0000 + k, IPC_CREAT | 0o600).unwrap();
        let mut d = store.stat(q).unwrap();
        d.msg_qbytes = qbytes;
        store.set(q, &d).unwrap();
        queues.push(q);
    }
    let peek = LockPeek::new(&store_path);
    let exe = dir.join("msgq-chaos");
    let status_path = dir.join("status");
    std::fs::write(&status_path, vec![0u8; (STATUS_SLOTS * 64) as usize]).unwrap();
    let status_of = |slot: u64| Status::open(&status_path, slot);
    std::fs::copy(std::env::current_exe().expect("current_exe"), &exe).expect("copy the binary");
    let seed = cfg.seed;
    let mut run = Run {
        life_ms: cfg.secs * 1000 + 60_000,
        cfg,
        dir: dir.clone(),
        store_path: store_path.clone(),
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
    };
    for s in 1..=SENDERS {
        run.spawn("sender", s);
    }
    for s in SENDERS + 1..=SENDERS + RECEIVERS {
        run.spawn("receiver", s);
    }
    run.spawn("churn", 50);

    // ---- the chaos phase
    let end = Instant::now() + Duration::from_secs(run.cfg.secs);
    let mut last_progress = (Instant::now(), run.log_bytes());
    let mut probe_seq = 0u64;
    let mut victim_since: Option<Instant> = None;
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(2 + run.rng.below(30)));
        run.reap(true);
        let n = run.workers.iter().filter(|w| w.role != "victim").count();
        if n == 0 {
            continue;
        }
        let mut i = run
            .workers
            .iter()
            .enumerate()
            .filter(|(_, w)| w.role != "victim")
            .nth(run.rng.below(n as u64) as usize)
            .unwrap()
            .0;
        let mut pid = run.workers[i].child.id();
        // A third of the time, go for whoever holds the store lock right now.
        if run.rng.pct(33) {
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
        match run.cfg.mode {
            Mode::Kill => {
                let roll = run.rng.below(100);
                if roll < 15 {
                    // A hand-off probe: a victim blocked on a type of its own in queue 2
                    // gets a message from us, and dies at once.
                    let vi = run.workers.iter().position(|w| w.role == "victim");
                    match vi {
                        None => {
                            run.spawn("victim", 99);
                            victim_since = Some(Instant::now());
                        }
                        Some(vi) => {
                            let vpid = run.workers[vi].child.id();
                            let ready = victim_since
                                .is_some_and(|t| t.elapsed() > Duration::from_millis(30))
                                && wchan(vpid).contains("futex");
                            if ready {
                                // Stopped first, so it cannot claim the message before it
                                // dies: the message must come back whatever the timing.
                                signal(vpid, libc::SIGSTOP);
                                wait_stopped(vpid);
                                // Returned probe messages pile up in queue 2: take
                                // them out now and then (they count as received).
                                if run.store.stat(run.queues[2]).is_ok_and(|d| d.msg_qnum > 40) {
                                    let mut buf = vec![0u8; msg::MAX_LEN + 64];
                                    while let Ok((ty, n)) =
                                        run.store.receive(run.queues[2], &mut buf, 0, IPC_NOWAIT)
                                    {
                                        if let Ok((sid, seq)) = msg::decode(&buf[..n], ty) {
                                            run.taken.push((sid, seq, ty));
                                        } else {
                                            run.violations.push("corrupt probe message".into());
                                        }
                                    }
                                }
                                probe_seq += 1;
                                let t = 1000 + run.workers[vi].inc as i64;
                                let text = msg::encode(0, probe_seq, t);
                                run.store
                                    .send(run.queues[2], t, &text, IPC_NOWAIT)
                                    .expect("hand-off probe send");
                                signal(vpid, libc::SIGKILL);
                                run.workers[vi].killed = true;
                                run.workers[vi].slept = true;
                                run.probes.push((probe_seq, t));
                                run.counts.handoff_kills += 1;
                                run.counts.kills += 1;
                            }
                        }
                    }
                    continue;
                }
                let blocked = wchan(pid).contains("futex");
                if roll < 35 && !blocked {
                    continue; // this one was meant to hit a blocked process
                }
                signal(pid, libc::SIGSTOP);
                wait_stopped(pid);
                if peek.owner() == pid {
                    run.counts.kills_holding_lock += 1;
                }
                if blocked {
                    run.counts.kills_blocked += 1;
                }
                let w = &run.workers[i];
                if w.role == "receiver" {
                    let st = status_of(w.slot);
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
                run.workers[i].syscall = std::fs::read_to_string(format!("/proc/{pid}/syscall"))
                    .map(|l| {
                        let f: Vec<&str> = l.split_whitespace().collect();
                        match f.as_slice() {
                            [nr, _uaddr, op, ..] if *nr == "202" => {
                                let op = u64::from_str_radix(op.trim_start_matches("0x"), 16)
                                    .unwrap_or(99)
                                    & 0x7f;
                                format!("futex op {op}")
                            }
                            [nr, ..] => format!("syscall {nr}"),
                            [] => "?".into(),
                        }
                    })
                    .unwrap_or_default();
                signal(pid, libc::SIGKILL);
                run.workers[i].killed = true;
                run.workers[i].slept = blocked;
                run.counts.kills += 1;
            }
            Mode::Stop => {
                signal(pid, libc::SIGSTOP);
                wait_stopped(pid);
                run.counts.stops += 1;
                if peek.owner() == pid {
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
        }
        // Whole-system progress: some log must grow within 5 s.
        let b = run.log_bytes();
        if b != last_progress.1 {
            last_progress = (Instant::now(), b);
        } else if last_progress.0.elapsed() > Duration::from_secs(10) {
            run.violations
                .push("no worker made progress for 10 s during the chaos phase".into());
            last_progress = (Instant::now(), b);
        }
    }

    // ---- quiesce: everyone running, nobody killed; every worker must make progress
    run.reap(true);
    for w in &run.workers {
        signal(w.child.id(), libc::SIGCONT);
    }
    // Every worker must make progress (its log grows) within 20 s of calm: a wedged one
    // would not. (Generous: the machine may be loaded by other work, and a sender on the
    // small queue can be overtaken by the others for a while, as with kernel queues.)
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
        let s = stuck(&run);
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
                if let Ok(d) = run.store.stat(q) {
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
    // ---- stop: SIGUSR1 until every worker has exited (a wedged one would not)
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

    let out = verify(&mut run);
    if out.failed == 0 && !run.cfg.verbose {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("chaos-{tag}: logs kept in {}", dir.display());
    }
    drop(run);
    let _ = std::fs::remove_file(&store_path);
    out
}

#[derive(Clone, Copy)]
struct Sent {
    q: usize,
    t: i64,
    ok: bool,
    failed: bool,
}

fn verify(run: &mut Run) -> Outcome {
    let tag = match run.cfg.mode {
        Mode::Kill => "chaos-kill",
        Mode::Stop => "chaos-stop",
    };
    let mut checks: Vec<(String, Result<(), String>)> = Vec::new();
    let s = &run.store;
    // Stats first: they also put back deliveries pending for dead receivers.
    let (maxidx, _) = s.info(true).unwrap();
    let stat_sums = |s: &Store| {
        let (mut n, mut b) = (0u64, 0u64);
        for idx in 0..=maxidx.max(0) {
            if let Ok((_, d)) = s.stat_index(idx, true) {
                n += d.msg_qnum;
                b += d.msg_cbytes;
            }
        }
        (n, b)
    };
    let _ = stat_sums(s);
    let before = s.check();
    let sums = stat_sums(s);
    match &before {
        Ok(r) => {
            run.counts.recoveries = r.recoveries;
            checks.push(("integrity check after the chaos".into(), Ok(())));
            checks.push((
                "message and byte counters equal the queues' contents".into(),
                if (r.messages, r.bytes) == sums && r.pending == 0 {
                    Ok(())
                } else {
                    Err(format!(
                        "check counted {} messages {} bytes ({} pending), stat says {sums:?}",
                        r.messages, r.bytes, r.pending
                    ))
                },
            ));
        }
        Err(e) => checks.push(("integrity check after the chaos".into(), Err(e.clone()))),
    }
    // Drain the three queues, checking each queue's counters against what comes out.
    // (sid, seq, queue, type, index of who in `names`)
    let mut received: Vec<(u64, u64, usize, i64, u32)> = Vec::new();
    let mut names: Vec<String> = vec!["drain".into(), "controller".into()];
    let mut drain_err = Vec::new();
    let mut buf = vec![0u8; msg::MAX_LEN + 64];
    for (qi, &q) in run.queues.iter().enumerate() {
        let d = s.stat(q).unwrap();
        let (mut n, mut b) = (0u64, 0u64);
        while let Ok((ty, len)) = s.receive(q, &mut buf, 0, IPC_NOWAIT) {
            n += 1;
            b += len as u64;
            match msg::decode(&buf[..len], ty) {
                Ok((sid, seq)) => received.push((sid, seq, qi, ty, 0)),
                Err(why) => drain_err.push(format!("queue {qi}: corrupt: {why}")),
            }
        }
        if (n, b) != (d.msg_qnum, d.msg_cbytes) {
            drain_err.push(format!(
                "queue {qi}: stat said {} messages {} bytes, drained {n} / {b}",
                d.msg_qnum, d.msg_cbytes
            ));
        }
    }
    run.counts.drained = received.len() as u64;
    for &(sid, seq, t) in &run.taken {
        received.push((sid, seq, 2, t, 1));
    }
    checks.push((
        "drained queues match their counters, no corruption".into(),
        if drain_err.is_empty() {
            Ok(())
        } else {
            Err(drain_err.join("; "))
        },
    ));
    checks.push((
        "integrity check after draining".into(),
        match s.check() {
            Ok(r) if (r.messages, r.bytes) == stat_sums(s) => Ok(()),
            Ok(r) => Err(format!(
                "check counted {} messages {} bytes, stat {:?}",
                r.messages,
                r.bytes,
                stat_sums(s)
            )),
            Err(e) => Err(e),
        },
    ));

    // Read every log.
    let mut sent: HashMap<(u64, u64), Sent> = HashMap::new();
    let mut x_lines = Vec::new();
    // Killed receivers with a receive in progress: (queue, mode, t, victim).
    let mut open: Vec<(usize, u32, i64, bool, String)> = Vec::new();
    for (seq, t) in &run.probes {
        sent.insert(
            (0, *seq),
            Sent {
                q: 2,
                t: *t,
                ok: true,
                failed: false,
            },
        );
    }
    for d in &run.dead {
        let text = std::fs::read_to_string(&d.log).unwrap_or_default();
        let me = names.len() as u32;
        names.push(format!("{} {}/{}", d.role, d.slot, d.inc));
        let mut last_a: Option<(usize, u32, i64, u64)> = None;
        for line in text.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            let num = |i: usize| f.get(i).and_then(|x| x.parse::<i64>().ok()).unwrap_or(-1);
            match f[0] {
                "I" => {
                    let sid = (d.slot << 32) | d.inc;
                    sent.insert(
                        (sid, num(1) as u64),
                        Sent {
                            q: num(2) as usize,
                            t: num(3),
                            ok: false,
                            failed: false,
                        },
                    );
                }
                "S" | "F" => {
                    let sid = (d.slot << 32) | d.inc;
                    if let Some(e) = sent.get_mut(&(sid, num(1) as u64)) {
                        if f[0] == "S" {
                            e.ok = true;
                            run.counts.sent += 1;
                        } else {
                            e.failed = true;
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
            open.push((q, mode, t, d.slept, d.syscall.clone()));
        }
    }
    run.counts.sent += run.probes.len() as u64;
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
    // receiver killed inside msgrcv (it may have returned just before the kill, before the
    // log line): matched one to one (queue and selection rule must fit).
    let missing: Vec<((u64, u64), Sent)> = sent
        .iter()
        .filter(|(k, e)| e.ok && !seen.contains_key(k))
        .map(|(k, e)| (*k, *e))
        .collect();
    let mut owner: Vec<Option<usize>> = vec![None; open.len()];
    fn augment(
        m: usize,
        missing: &[((u64, u64), Sent)],
        open: &[(usize, u32, i64, bool, String)],
        owner: &mut [Option<usize>],
        used: &mut HashSet<usize>,
    ) -> bool {
        // Kuhn's augmenting path: give missing message `m` a killed receiver of its own.
        let e = missing[m].1;
        for (j, &(q, mode, t, _, _)) in open.iter().enumerate() {
            if q == e.q
                && mode_matches(mode, t, e.t)
                && used.insert(j)
                && owner[j].is_none_or(|o| augment(o, missing, open, owner, used))
            {
                owner[j] = Some(m);
                return true;
            }
        }
        false
    }
    let mut lost = Vec::new();
    for m in 0..missing.len() {
        if !augment(m, &missing, &open, &mut owner, &mut HashSet::new()) {
            let ((sid, seq), e) = missing[m];
            lost.push(format!("{sid:#x}/{seq} (queue {} type {})", e.q, e.t));
        }
    }
    run.counts.excused = (missing.len() - lost.len()) as u64;
    let probes_lost: Vec<String> = run
        .probes
        .iter()
        .filter(|(seq, _)| !seen.contains_key(&(0, *seq)))
        .map(|(seq, t)| format!("probe {seq} (type {t})"))
        .collect();
    checks.push((
        "every message handed to a receiver that died before claiming it came back".into(),
        show(&probes_lost),
    ));
    run.counts.probes_found = run
        .probes
        .iter()
        .filter(|(seq, _)| seen.contains_key(&(0, *seq)))
        .count() as u64;
    let mut wheres: HashMap<&str, u64> = HashMap::new();
    for (j, o) in owner.iter().enumerate() {
        if o.is_some() {
            let at = match open[j].4.as_str() {
                "" => "a fault point (self-kill)",
                w => w,
            };
            *wheres.entry(at).or_default() += 1;
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
    if run.cfg.mode == Mode::Stop {
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
    let c = &run.counts;
    match run.cfg.mode {
        Mode::Kill => println!(
            "{tag}: {}s seed {}: kills survived {} (holding the lock {}, blocked {}, right after a hand-off {}, message found again {}) + {} at fault points inside updates; {} restarts; {} messages sent, {} received, {} drained, {} returned but not yet logged at the kill (from the status slots), {} excused (receiver killed inside msgrcv; {} of them asleep just before the kill; stopped in: {}); store recoveries {}",
            run.cfg.secs, run.cfg.seed, c.kills + c.fault_kills, c.kills_holding_lock, c.kills_blocked, c.handoff_kills, c.probes_found, c.fault_kills, c.restarts, c.sent, c.received, c.drained, c.rescued, c.excused, c.excused_slept, c.excused_where, c.recoveries
        ),
        Mode::Stop => println!(
            "{tag}: {}s seed {}: stops survived {} (holding the lock {}); {} messages sent, {} received, {} drained; store recoveries {}",
            run.cfg.secs, run.cfg.seed, c.stops, c.stops_holding_lock, c.sent, c.received, c.drained, c.recoveries
        ),
    }
    println!("{tag}: {passed} passed, {failed} failed");
    Outcome {
        counts: std::mem::take(&mut run.counts),
        passed,
        failed,
    }
}
