//! `kmod_fuzz`'s controller: starts the workers, signals, stops, kills and restarts them,
//! removes queues under them, watches for hangs, and at the end checks the module's
//! accounting and prints the totals.

use crate::errnames::ename;
use crate::gen::Rng;
use crate::kmod;
use crate::worker::{install_handlers, shared, worker, Shared, Slot, KINDS, NERR};
use crate::Args;
use msgq_core::abi::*;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// A worker that makes no call for this long is hung (blocking calls have a 5–30 ms timer).
pub const HANG: Duration = Duration::from_secs(20);

/// The seed of worker `w`'s `generation`th incarnation.
pub fn seed_of(seed: u64, w: usize, generation: u64) -> u64 {
    let mut r = Rng::new(seed ^ ((w as u64) << 48) ^ generation.wrapping_mul(0x1_0000_0001));
    r.u64()
}

pub fn spawn(w: usize, seed: u64, sh: &'static Shared, keys: &[i32]) -> i32 {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: the controller is single-threaded, so the child may run arbitrary code.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        worker(w, seed, sh, keys.to_vec());
        let _ = std::io::stdout().flush();
        // SAFETY: leaving the child without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    pid
}

/// Waits up to `limit` for `pid`; its wait status, or None if it is still there.
pub fn wait_for(pid: i32, limit: Duration) -> Option<i32> {
    let t = Instant::now();
    loop {
        let mut st = 0;
        // SAFETY: `st` is a valid int.
        let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
        if r == pid {
            return Some(st);
        }
        if t.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn kill(pid: i32, sig: i32) {
    // SAFETY: `pid` is our own child.
    unsafe { libc::kill(pid, sig) };
}

pub fn msgctl(dev: &kmod::Kmod, id: i32, cmd: i32, buf: &mut [u8]) -> Result<i32, i32> {
    dev.msgctl(id, cmd, buf.as_mut_ptr().cast())
}

pub fn msg_info(dev: &kmod::Kmod) -> Result<(MsgInfo, i32), i32> {
    let mut b = [0u8; 32];
    let max = msgctl(dev, 0, MSG_INFO, &mut b)?;
    Ok((MsgInfo::from_bytes(&b).unwrap_or_default(), max))
}

/// Every queue as `MSG_STAT_ANY` shows it.
pub fn all_queues(dev: &kmod::Kmod) -> Result<Vec<(i32, MsqidDs)>, i32> {
    let (_, max) = msg_info(dev)?;
    let mut out = Vec::new();
    for idx in 0..=max {
        let mut b = [0u8; 120];
        if let Ok(id) = msgctl(dev, idx, MSG_STAT_ANY, &mut b) {
            out.push((id, MsqidDs::from_bytes(&b).unwrap_or_default()));
        }
    }
    Ok(out)
}

/// Removes every queue the caller may remove; returns how many it removed.
pub fn sweep(dev: &kmod::Kmod) -> usize {
    let mut n = 0;
    for (id, _) in all_queues(dev).unwrap_or_default() {
        if dev.msgctl(id, IPC_RMID, std::ptr::null_mut()).is_ok() {
            n += 1;
        }
    }
    n
}

pub struct Verdict {
    pub passed: u64,
    pub failed: u64,
}

impl Verdict {
    pub fn check(&mut self, ok: bool, what: &str) {
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
            println!("FAIL: {what}");
        }
    }
}

/// The totals of `MSG_INFO` against the sum over the queues.
pub fn accounting(dev: &kmod::Kmod, v: &mut Verdict, when: &str) -> Vec<(i32, MsqidDs)> {
    let (qs, info) = match (all_queues(dev), msg_info(dev)) {
        (Ok(q), Ok((i, _))) => (q, i),
        (a, b) => {
            v.check(
                false,
                &format!("{when}: MSG_INFO/MSG_STAT_ANY failed: {a:?} {b:?}"),
            );
            return Vec::new();
        }
    };
    let msgs: u64 = qs.iter().map(|(_, d)| d.msg_qnum).sum();
    let bytes: u64 = qs.iter().map(|(_, d)| d.msg_cbytes).sum();
    let ok = info.msgpool as usize == qs.len()
        && info.msgmap as u64 == msgs
        && info.msgtql as u64 == bytes;
    v.check(
        ok,
        &format!(
            "{when}: MSG_INFO says {} queues, {} messages, {} bytes; the queues hold {}, {}, {}",
            info.msgpool,
            info.msgmap,
            info.msgtql,
            qs.len(),
            msgs,
            bytes
        ),
    );
    println!(
        "kmod_fuzz: {when}: {} queues, {} messages, {} bytes (MSG_INFO agrees: {ok})",
        qs.len(),
        msgs,
        bytes
    );
    qs
}

/// What the controller did to the workers.
#[derive(Default)]
pub struct Tally {
    usr1: u64,
    stops: u64,
    kills: u64,
    swept: usize,
    hangs: u64,
    deaths: u64,
}

pub fn finish(mut v: Verdict, sh: &Shared, a: &Args, t: &Tally) {
    let sum = |f: &dyn Fn(&Slot) -> u64| (0..a.workers).map(|w| f(&sh.slots[w])).sum::<u64>();
    let mut total = 0;
    let mut per = Vec::new();
    for (i, k) in KINDS.iter().enumerate() {
        let n = sum(&|s| s.calls[i].load(Relaxed));
        let bad = sum(&|s| s.bad[i].load(Relaxed));
        total += n;
        per.push(format!("{k:?} {n}"));
        if n > 0 {
            v.check(
                bad == 0,
                &format!("{bad} {k:?} results outside what Linux allows"),
            );
            v.failed += bad.saturating_sub(1);
        }
    }
    let mut hist = Vec::new();
    for e in 0..NERR {
        let n = sum(&|s| s.errnos[e].load(Relaxed));
        if n > 0 {
            hist.push(format!("{} {n}", ename(e as i32)));
        }
    }
    let delivered = sum(&|s| s.signals.load(Relaxed));
    println!("kmod_fuzz: calls by kind: {}", per.join(", "));
    println!("kmod_fuzz: results: {}", hist.join(", "));
    println!(
        "kmod_fuzz: survived {total} hostile calls; {delivered} signals handled ({} SIGUSR1 sent \
         plus timers), {} SIGSTOP/SIGCONT, {} workers SIGKILLed and restarted, {} queues removed \
         under them",
        t.usr1, t.stops, t.kills, t.swept
    );
    println!("kmod_fuzz: {} passed, {} failed", v.passed, v.failed);
    std::process::exit(i32::from(v.failed > 0));
}

/// The concurrent phase, then the end checks; prints the totals and exits.
pub fn run(dev: &kmod::Kmod, a: &Args, euid: u32, mut v: Verdict) {
    let root = euid == 0;
    let sh = shared();
    // Handlers before any fork: a SIGUSR1 that reaches a child before it set up is counted
    // nowhere but does not kill it.
    install_handlers(false);
    let base = 0x4655_0000 | ((euid as i32 & 0xff) << 8);
    let keys: Vec<i32> = (0..8).map(|k| base + k).collect();
    let mut t = Tally::default();
    let Some(pids) = supervise(dev, a, sh, &keys, &mut v, &mut t) else {
        return finish(v, sh, a, &t);
    };
    stop(sh, &pids, &mut v, t.hangs + t.deaths);
    end_checks(dev, root, euid, &mut v);
    finish(v, sh, a, &t)
}

/// The worker processes: pid, incarnation, and the last heartbeat seen (and when).
struct Crew<'a> {
    a: &'a Args,
    sh: &'static Shared,
    keys: &'a [i32],
    pids: Vec<i32>,
    generation: Vec<u64>,
    last_beat: Vec<(u64, Instant)>,
}

impl Crew<'_> {
    /// Starts a new incarnation of worker `w` (its predecessor is gone).
    fn respawn(&mut self, w: usize) {
        self.generation[w] += 1;
        let seed = seed_of(self.a.seed, w, self.generation[w]);
        self.pids[w] = spawn(w, seed, self.sh, self.keys);
        self.last_beat[w] = (self.sh.slots[w].heartbeat.load(Relaxed), Instant::now());
    }

    /// SIGKILLs worker `w` and reaps it; false if it is still there after 10 s.
    fn kill_and_reap(&mut self, w: usize) -> bool {
        kill(self.pids[w], libc::SIGKILL);
        wait_for(self.pids[w], Duration::from_secs(10)).is_some()
    }
}

/// Runs the workers for `a.secs` seconds under signals, stops, kills and removals; their
/// pids at the end, or None if one could not be killed.
fn supervise(
    dev: &kmod::Kmod,
    a: &Args,
    sh: &'static Shared,
    keys: &[i32],
    v: &mut Verdict,
    t: &mut Tally,
) -> Option<Vec<i32>> {
    let mut rng = Rng::new(a.seed);
    let mut c = Crew {
        a,
        sh,
        keys,
        pids: (0..a.workers)
            .map(|w| spawn(w, seed_of(a.seed, w, 0), sh, keys))
            .collect(),
        generation: vec![0; a.workers],
        last_beat: vec![(0, Instant::now()); a.workers],
    };
    let start = Instant::now();
    let end = start + Duration::from_secs(a.secs);
    let mut next_kill = start + Duration::from_millis(1500);
    let mut next_sweep = start + Duration::from_millis(1000);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5 + rng.below(25)));
        let w = rng.below(a.workers as u64) as usize;
        kill(c.pids[w], libc::SIGUSR1);
        t.usr1 += 1;
        if rng.pct(5) {
            // Stopped and continued: a blocked call restarts or sees its timer's EINTR.
            let w = rng.below(a.workers as u64) as usize;
            kill(c.pids[w], libc::SIGSTOP);
            std::thread::sleep(Duration::from_millis(2 + rng.below(20)));
            kill(c.pids[w], libc::SIGCONT);
            t.stops += 1;
        }
        let now = Instant::now();
        for w in 0..a.workers {
            // A worker ends only when told to.
            if let Some(st) = wait_for(c.pids[w], Duration::ZERO) {
                t.deaths += 1;
                v.check(false, &format!("worker {w} died (wait status {st:#x})"));
                c.respawn(w);
                continue;
            }
            // The watchdog.
            let hb = sh.slots[w].heartbeat.load(Relaxed);
            if hb != c.last_beat[w].0 {
                c.last_beat[w] = (hb, now);
            } else if now - c.last_beat[w].1 > HANG {
                t.hangs += 1;
                let wchan = std::fs::read_to_string(format!("/proc/{}/wchan", c.pids[w]));
                let wchan = wchan.unwrap_or_default();
                v.check(
                    false,
                    &format!("worker {w}: no call for {HANG:?} (wchan {wchan})"),
                );
                if !c.kill_and_reap(w) {
                    v.check(false, &format!("worker {w} survives SIGKILL"));
                    return None;
                }
                c.respawn(w);
            }
        }
        if now >= next_kill {
            next_kill = now + Duration::from_millis(1000 + rng.below(2000));
            let w = rng.below(a.workers as u64) as usize;
            t.kills += 1;
            if !c.kill_and_reap(w) {
                v.check(
                    false,
                    &format!("worker {w} did not die of SIGKILL within 10 s"),
                );
                return None;
            }
            c.respawn(w);
        }
        if now >= next_sweep {
            next_sweep = now + Duration::from_millis(500 + rng.below(1500));
            t.swept += sweep(dev);
        }
    }
    Some(c.pids)
}

/// Tells the workers to stop and waits for them; `earlier` hangs or deaths fail the check too.
fn stop(sh: &Shared, pids: &[i32], v: &mut Verdict, mut earlier: u64) {
    sh.stop.store(1, Relaxed);
    let mut stuck = false;
    for (w, &pid) in pids.iter().enumerate() {
        match wait_for(pid, Duration::from_secs(20)) {
            Some(st) if libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0 => {}
            Some(st) => {
                earlier += 1;
                v.check(false, &format!("worker {w} ended with wait status {st:#x}"));
            }
            None => {
                stuck = true;
                v.check(false, &format!("worker {w} did not stop within 20 s"));
                kill(pid, libc::SIGKILL);
                wait_for(pid, Duration::from_secs(10));
            }
        }
    }
    v.check(
        !stuck && earlier == 0,
        "no worker hung or died unexpectedly",
    );
}

/// Quiescent: `MSG_INFO`'s totals are the sums over the queues; every queue the caller may
/// remove goes; then the totals are those of the queues left (none as root).
fn end_checks(dev: &kmod::Kmod, root: bool, euid: u32, v: &mut Verdict) {
    // The module's accounting, quiescent: MSG_INFO's totals are the sum over the queues.
    let qs = accounting(dev, v, "after the run");
    let (mut kept, mut refused) = (0, Vec::new());
    for (id, ds) in &qs {
        let mine = root || ds.msg_perm.uid == euid || ds.msg_perm.cuid == euid;
        let r = dev.msgctl(*id, IPC_RMID, std::ptr::null_mut());
        if r.is_err() {
            kept += 1;
            if mine {
                refused.push((*id, r));
            }
        }
    }
    v.check(
        refused.is_empty(),
        &format!("IPC_RMID of the caller's own queues refused: {refused:?}"),
    );
    let left = accounting(dev, v, "after removing every queue the caller may");
    v.check(
        left.len() == kept && (!root || left.is_empty()),
        &format!("{} queues left, {kept} could not be removed", left.len()),
    );
    if root {
        // The run may have changed the limits: back to the load-time ones.
        let r = dev.reset();
        v.check(r.is_ok(), &format!("MSGQ_RESET at the end: {r:?}"));
    }
}
