//! The chaos workers: separate processes (the binary re-executed), each appending one line
//! per event to its own log. A sender logs its intent (`I seq q type ns`) before `msgsnd`
//! and the outcome (`S seq ns` / `F seq errno`) after; a receiver logs `A k q mode type ns`
//! before `msgrcv` and `R k sid seq q type ns` (or `E k errno`) after. `X ...` lines are
//! violations a worker saw itself (a corrupt or wrongly selected message, an unexpected
//! errno). `ns` is CLOCK_MONOTONIC, shared by all processes. Other lines: `Q id`/`D id`
//! (a queue the msgmni churner created / removed), `N` (its msgget failed with ENOSPC),
//! `T ...` (a call aimed at by a timer signal, see `sigtimer`), `M call` (ENOMEM).
//!
//! The same workers run against the engine (a store file) and the kernel (`kernel` as the
//! store argument): see [`crate::ipc`].

use crate::ipc::{Ipc, Kernel};
use crate::sigtimer;
use msgq_chaos::msg;
use msgq_chaos::rng::Rng;
use msgq_core::abi::*;
use msgq_core::Errno;
use msgq_user::Store;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_usr1(_: libc::c_int) {
    // Every handler tells the engine first, so a blocked call returns EINTR wherever in the
    // call the handler ran (msgq_user::interrupt).
    msgq_user::interrupt::handler_ran();
    STOP.store(true, Ordering::SeqCst);
}

/// SIGUSR1 asks a worker to finish its current call and exit; the handler is installed
/// without SA_RESTART so a blocked call returns EINTR.
fn install_stop_handler() {
    // SAFETY: a zeroed sigaction with a valid handler; the handler only stores an atomic
    // and calls the async-signal-safe handler_ran.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
        // Die with the controller (and if it is already gone, now).
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() == 1 {
            libc::_exit(3);
        }
    }
}

/// The workload a worker belongs to (the controller's mode).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shape {
    Kill,
    Stop,
    /// The store filled to ENOMEM (the kernel: queues filled to their byte limit).
    Full,
    /// Queue creation and removal at the msgmni limit.
    Mni,
    /// Blocked calls interrupted by timer signals.
    Timer,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Kill => "kill",
            Shape::Stop => "stop",
            Shape::Full => "store-full",
            Shape::Mni => "msgmni",
            Shape::Timer => "timer",
        }
    }
    pub fn parse(s: &str) -> Option<Shape> {
        [
            Shape::Kill,
            Shape::Stop,
            Shape::Full,
            Shape::Mni,
            Shape::Timer,
        ]
        .into_iter()
        .find(|m| m.name() == s)
    }
    /// Message types run from 1 to this.
    pub fn types(self) -> i64 {
        match self {
            // Many types: queues keep needing new type records, in a store with no room.
            Shape::Full => FULL_TYPES,
            Shape::Timer => 3,
            _ => 4,
        }
    }
}

pub const FULL_TYPES: i64 = 600;
/// Hand-off probe victims wait for type `VICTIM_BASE + incarnation` (no sender uses it).
pub const VICTIM_BASE: i64 = 1000;
/// Queue index the logs use for messages in the msgmni churners' own queues.
pub const CHURN_Q: usize = 3;
/// Keys of the msgmni churners' shared queues.
pub const MNI_KEY: i32 = 0x4348_0200;

pub struct Args {
    pub role: String,
    pub store: String,
    pub slot: u64,
    pub inc: u64,
    pub seed: u64,
    pub log: String,
    pub life_ms: u64,
    pub queues: Vec<i32>,
    pub fault: bool,
    pub status: String,
    pub shape: Shape,
    /// The msgmni in force (msgmni churners check the namespace never holds more).
    pub msgmni: u64,
}

struct Log(File);

impl Log {
    fn line(&mut self, s: String) {
        // One write(2) per line, appended: a kill leaves whole lines (or none).
        let _ = self.0.write_all(s.as_bytes());
    }
}

fn now() -> u64 {
    msgq_user::sys::process::mono_ns()
}

/// `MSGQ_CHAOS_FAULT_ROLES=sender,churn` limits fault points to some roles (to narrow a
/// failure down).
#[cfg(feature = "fault-injection")]
fn fault_role(role: &str) -> bool {
    std::env::var("MSGQ_CHAOS_FAULT_ROLES").map_or(true, |v| v.split(',').any(|x| x == role))
}

#[cfg(feature = "fault-injection")]
fn maybe_arm(a: &Args, r: &mut Rng) {
    if a.fault && r.pct(3) && fault_role(&a.role) {
        msgq_user::fault::arm(1 + r.below(40));
    }
}
#[cfg(not(feature = "fault-injection"))]
fn maybe_arm(a: &Args, _: &mut Rng) {
    // Built without the feature: the controller never asks for fault points.
    debug_assert!(!a.fault);
}

#[cfg(feature = "fault-injection")]
fn disarm() {
    msgq_user::fault::arm(0);
}
#[cfg(not(feature = "fault-injection"))]
fn disarm() {}

/// Receive modes: 0 any, 1 exact type, 2 lowest type <= t, 3 any type but t.
pub fn mode_matches(mode: u32, t: i64, mtype: i64) -> bool {
    match mode {
        0 => true,
        1 => mtype == t,
        2 => mtype <= t,
        _ => mtype != t,
    }
}

/// Which errors a call may return besides the ones its flags ask for (`EAGAIN`/`ENOMSG`
/// with `IPC_NOWAIT`, `E2BIG` with a small buffer, `EINTR`).
fn store_full_errno(a: &Args, e: Errno) -> bool {
    // The engine's store has no room: msgsnd, msgget, and a msgrcv that must block (its
    // waiter record is allocated in the store; the kernel's lives on the stack) fail with
    // ENOMEM. Counted (`M` lines), not a violation.
    a.shape == Shape::Full && e == Errno::ENOMEM
}

fn sleep_us(us: u64) {
    std::thread::sleep(Duration::from_micros(us));
}

/// Receives one message in `qi` for the log: `A`, then `R` or `E`, and the status slot.
/// Returns the result and whether the error was one the caller may see.
struct Recv<'a> {
    a: &'a Args,
    ipc: &'a dyn Ipc,
    status: &'a Status,
    buf: Vec<u8>,
}

impl Recv<'_> {
    #[allow(clippy::too_many_arguments)]
    fn one(
        &mut self,
        log: &mut Log,
        r: &mut Rng,
        k: u64,
        qi: usize,
        mode: u32,
        t: i64,
        nowait: bool,
        small: bool,
        timer: Option<u64>,
    ) -> Result<(i64, usize), Errno> {
        let (msgtyp, flags) = match mode {
            0 => (0, 0),
            1 => (t, 0),
            2 => (-t, 0),
            _ => (t, MSG_EXCEPT),
        };
        let flags = flags | if nowait { IPC_NOWAIT } else { 0 };
        let len = if small { 40 } else { self.buf.len() };
        log.line(format!("A {k} {qi} {mode} {t} {}\n", now()));
        self.status.set(1, k);
        self.status.set(0, 1);
        maybe_arm(self.a, r);
        if let Some(d) = timer {
            sigtimer::before_call(d);
        }
        let res = self
            .ipc
            .receive(self.a.queues[qi], &mut self.buf[..len], msgtyp, flags);
        let rec = timer.map(|_| sigtimer::after_call());
        disarm();
        let buf = &self.buf;
        match res {
            Ok((ty, n)) => {
                // Log first (the ids as they are), verify after: the window in which a
                // kill loses the record of a received message stays small.
                let w = |i: usize| {
                    buf.get(i * 8..i * 8 + 8)
                        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                };
                self.status.set(2, w(0));
                self.status.set(3, w(1));
                self.status.set(4, qi as u64);
                self.status.set(5, ty as u64);
                self.status.set(0, 2);
                log.line(format!("R {k} {} {} {qi} {ty} {}\n", w(0), w(1), now()));
                if let Err(why) = msg::decode(&buf[..n], ty) {
                    log.line(format!("X corrupt: {why}\n"));
                }
                if !mode_matches(mode, t, ty) {
                    log.line(format!("X receive mode {mode} t {t} got type {ty}\n"));
                }
            }
            Err(e) if e == Errno::ENOMSG && nowait => log.line(format!("E {k} {}\n", e.0)),
            Err(e) if e == Errno::E2BIG && small => log.line(format!("E {k} {}\n", e.0)),
            Err(e) if e == Errno::EINTR => log.line(format!("E {k} {}\n", e.0)),
            Err(e) if store_full_errno(self.a, e) => {
                log.line(format!("E {k} {}\nM receive\n", e.0))
            }
            Err(e) => log.line(format!("E {k} {}\nX receive: unexpected {e}\n", e.0)),
        }
        if let Some(c) = rec {
            log.line(sigtimer::line(k, res.err().map_or(0, |e| e.0), &c));
        }
        self.status.set(0, 0);
        res
    }
}

/// Sends message `seq` of `sid` to `qi` for the log: `I`, then `S` or `F`.
#[allow(clippy::too_many_arguments)]
fn send_one(
    a: &Args,
    ipc: &dyn Ipc,
    log: &mut Log,
    r: &mut Rng,
    sid: u64,
    seq: u64,
    qi: usize,
    t: i64,
    nowait: bool,
    timer: Option<u64>,
) -> Result<(), Errno> {
    let text = msg::encode(sid, seq, t);
    log.line(format!("I {seq} {qi} {t} {}\n", now()));
    maybe_arm(a, r);
    if let Some(d) = timer {
        sigtimer::before_call(d);
    }
    let res = ipc.send(
        a.queues.get(qi).copied().unwrap_or(-1),
        t,
        &text,
        if nowait { IPC_NOWAIT } else { 0 },
    );
    let rec = timer.map(|_| sigtimer::after_call());
    disarm();
    match res {
        Ok(()) => log.line(format!("S {seq} {}\n", now())),
        Err(e) if e == Errno::EAGAIN && nowait => log.line(format!("F {seq} {}\n", e.0)),
        Err(e) if e == Errno::EINTR => log.line(format!("F {seq} {}\n", e.0)),
        Err(e) if store_full_errno(a, e) => log.line(format!("F {seq} {}\nM send\n", e.0)),
        Err(e) => log.line(format!("F {seq} {}\nX send {seq}: unexpected {e}\n", e.0)),
    }
    if let Some(c) = rec {
        log.line(sigtimer::line(seq, res.err().map_or(0, |e| e.0), &c));
    }
    res
}

pub fn run(a: Args) -> i32 {
    install_stop_handler();
    let mut log = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&a.log)
    {
        Ok(f) => Log(f),
        Err(_) => return 2,
    };
    let kernel = a.store == "kernel";
    let store;
    let ipc: &dyn Ipc = if kernel {
        &Kernel
    } else {
        store = match Store::open(Path::new(&a.store)) {
            Ok(s) => s,
            Err(e) => {
                log.line(format!("X open {e}\n"));
                return 2;
            }
        };
        &store
    };
    let Some(status) = Status::open(Path::new(&a.status), a.slot) else {
        log.line("X cannot map the status file\n".into());
        return 2;
    };
    status.set(0, 0);
    let mut r = Rng::new(a.seed ^ (a.slot << 48) ^ (a.inc << 32));
    let end = Instant::now() + Duration::from_millis(a.life_ms);
    let alive = || !STOP.load(Ordering::SeqCst) && Instant::now() < end;
    let sid = (a.slot << 32) | a.inc;
    let types = a.shape.types();
    let timed = matches!(a.role.as_str(), "tsender" | "treceiver");
    if timed {
        // Half the timed workers install the handler with SA_RESTART: no difference allowed.
        sigtimer::install(a.slot & 1 == 0, !kernel);
    }
    match a.role.as_str() {
        "sender" | "tsender" => {
            let mut seq = 0u64;
            while alive() {
                seq += 1;
                let (qi, nowait, timer) = match (a.shape, timed) {
                    (Shape::Timer, true) => (1, false, Some(sigtimer::random_delay_us(&mut r))),
                    (Shape::Timer, false) => {
                        // Slowly, so that the receivers spend their time blocked.
                        sleep_us(1000 + r.below(15_000));
                        (0, false, None)
                    }
                    _ => (r.below(2) as usize, r.pct(25), None),
                };
                let t = 1 + r.below(types as u64) as i64;
                let res = send_one(&a, ipc, &mut log, &mut r, sid, seq, qi, t, nowait, timer);
                if res == Err(Errno::ENOMEM) {
                    // The store is full: back off a little (a tight loop of failing sends
                    // would keep the store lock from the receivers that make room).
                    sleep_us(50 + r.below(200));
                }
            }
        }
        "filler" => {
            // Keeps the store (the kernel: the queues) full: sends without waiting until the
            // store has no block left even for the smallest message, then looks again soon.
            // Most messages are small (one 128-byte block, the size of a type record), so
            // that the freed blocks type records need are taken again at once.
            let mut seq = 0u64;
            let mut small_only = false;
            while alive() {
                let want = if small_only || r.pct(70) {
                    0..=24
                } else if r.pct(67) {
                    25..=152
                } else {
                    153..=msg::MAX_PAYLOAD
                };
                for _ in 0..256 {
                    seq += 1;
                    if want.contains(&msg::payload_len(sid, seq)) {
                        break;
                    }
                }
                let qi = r.below(2) as usize;
                let t = 1 + r.below(types as u64) as i64;
                match send_one(&a, ipc, &mut log, &mut r, sid, seq, qi, t, true, None) {
                    Ok(()) => small_only = false,
                    Err(_) if small_only => {
                        small_only = false;
                        sleep_us(200 + r.below(800));
                    }
                    Err(_) => small_only = true,
                }
            }
        }
        "receiver" | "victim" | "treceiver" => {
            let victim = a.role == "victim";
            let mut rv = Recv {
                a: &a,
                ipc,
                status: &status,
                buf: vec![0u8; msg::MAX_LEN + 64],
            };
            let mut k = 0u64;
            while alive() {
                k += 1;
                let mut timer = None;
                let (qi, mode, t, nowait, small) = if victim {
                    (2, 1u32, VICTIM_BASE + a.inc as i64, false, false)
                } else if a.shape == Shape::Timer {
                    if timed {
                        timer = Some(sigtimer::random_delay_us(&mut r));
                        let (mode, t) = match (a.slot % 2, r.below(3)) {
                            (0, _) => (0, 0),
                            (_, 0) => (3, 1 + r.below(types as u64) as i64),
                            _ => (1, 1 + r.below(types as u64) as i64),
                        };
                        (0, mode, t, false, false)
                    } else {
                        // Drains the timed senders' full queue, slowly.
                        sleep_us(1000 + r.below(15_000));
                        (1, 0, 0, false, false)
                    }
                } else if a.slot <= 5 {
                    // Slots 4 and 5 take any type from queue 0 and 1: with receivers blocked
                    // for one type only, senders blocked on a queue full of other types
                    // would wait for ever (as with kernel queues).
                    (a.slot as usize - 4, 0, 0, r.pct(20), false)
                } else {
                    let roll = r.below(100);
                    let mode = if a.shape == Shape::Full {
                        // Mostly exact types: they block (a waiter and maybe a type record
                        // allocated in the full store) and get messages handed over.
                        match roll {
                            0..=9 => 0,
                            10..=69 => 1,
                            70..=84 => 2,
                            _ => 3,
                        }
                    } else {
                        match roll {
                            0..=39 => 0,
                            40..=64 => 1,
                            65..=84 => 2,
                            _ => 3,
                        }
                    };
                    (
                        r.below(2) as usize,
                        mode,
                        1 + r.below(types as u64) as i64,
                        r.pct(if a.shape == Shape::Full { 20 } else { 30 }),
                        r.pct(5),
                    )
                };
                let res = rv.one(&mut log, &mut r, k, qi, mode, t, nowait, small, timer);
                if victim {
                    if res == Err(Errno::ENOMEM) {
                        // No room for its waiter record yet: try again until it blocks.
                        sleep_us(500);
                        continue;
                    }
                    break;
                }
            }
        }
        "churn" => {
            let mut buf = [0u8; 64];
            let mut i = 0u64;
            while alive() {
                // Some think time: a tight loop of non-blocking calls takes the store lock
                // again and again and starves the other workers for seconds (glibc's
                // mutex is not fair; see docs/crash-safety.md).
                sleep_us(300);
                i += 1;
                let key = 0x4348_0100 + r.below(3) as i32;
                maybe_arm(&a, &mut r);
                let res = (|| -> Result<(), Errno> {
                    let id = ipc.msgget(key, IPC_CREAT | 0o600)?;
                    for j in 0..r.below(20) {
                        match ipc.send(id, 1 + (j % 3) as i64, b"churn", IPC_NOWAIT) {
                            Ok(()) | Err(Errno::EAGAIN) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    let _ = ipc.receive(id, &mut buf, -2, IPC_NOWAIT);
                    if r.pct(30) {
                        let mut d = ipc.stat(id)?;
                        d.msg_qbytes = 200 + r.below(2000);
                        ipc.set(id, &d)?;
                    }
                    if r.pct(60) {
                        ipc.remove(id)?;
                    }
                    Ok(())
                })();
                disarm();
                match res {
                    // EINVAL/EIDRM: another churner removed the queue in between.
                    Ok(()) | Err(Errno::EINVAL) | Err(Errno::EIDRM) => log.line(format!("C {i}\n")),
                    Err(e) if store_full_errno(&a, e) => log.line(format!("C {i}\nM churn\n")),
                    Err(e) => log.line(format!("X churn: unexpected {e}\n")),
                }
            }
        }
        "mchurn" => mni_churn(&a, ipc, &mut log, &status, &mut r, &alive),
        other => {
            log.line(format!("X unknown role {other}\n"));
            return 2;
        }
    }
    0
}

/// The msgmni churner: creates queues of its own (`IPC_PRIVATE`) until `msgget` says
/// `ENOSPC`, and shared ones (a few keys); sends messages into its own queues and receives
/// them back (logged like a sender's and a receiver's, queue index [`CHURN_Q`]); removes
/// them (drained first, so every message is accounted for), and checks that a removed id
/// is dead at once, that its own queues hold what it put there, and that the namespace
/// never holds more than msgmni queues. A queue it created and did not remove (it was
/// killed) is drained and removed by the controller, which reads the `Q`/`D` lines.
fn mni_churn(
    a: &Args,
    ipc: &dyn Ipc,
    log: &mut Log,
    status: &Status,
    r: &mut Rng,
    alive: &dyn Fn() -> bool,
) {
    let sid = (a.slot << 32) | a.inc;
    let mut own: Vec<(i32, u64)> = Vec::new();
    let mut seq = 0u64;
    let mut k = 0u64;
    let mut buf = vec![0u8; msg::MAX_LEN + 64];
    while alive() {
        sleep_us(200 + r.below(300));
        let roll = r.below(100);
        if roll < 40 || own.is_empty() {
            let keyed = r.pct(20);
            let key = if keyed {
                MNI_KEY + r.below(3) as i32
            } else {
                IPC_PRIVATE
            };
            maybe_arm(a, r);
            let res = ipc.msgget(key, IPC_CREAT | 0o600);
            disarm();
            match res {
                Ok(id) if !keyed => {
                    log.line(format!("Q {id}\n"));
                    own.push((id, 0));
                }
                Ok(id) => {
                    log.line(format!("K {id}\n"));
                    if r.pct(50) {
                        match ipc.remove(id) {
                            Ok(()) | Err(Errno::EINVAL) | Err(Errno::EIDRM) => {}
                            Err(e) => log.line(format!("X remove shared {id}: {e}\n")),
                        }
                    }
                }
                Err(Errno::ENOSPC) => log.line("N\n".into()),
                Err(e) => log.line(format!("X msgget: unexpected {e}\n")),
            }
        } else if roll < 75 {
            let j = r.below(own.len() as u64) as usize;
            for _ in 0..1 + r.below(5) {
                seq += 1;
                let t = 1 + r.below(4) as i64;
                let text = msg::encode(sid, seq, t);
                log.line(format!("I {seq} {CHURN_Q} {t} {}\n", now()));
                maybe_arm(a, r);
                let res = ipc.send(own[j].0, t, &text, IPC_NOWAIT);
                disarm();
                match res {
                    Ok(()) => {
                        own[j].1 += 1;
                        log.line(format!("S {seq} {}\n", now()));
                    }
                    Err(e) if e == Errno::EAGAIN => log.line(format!("F {seq} {}\n", e.0)),
                    Err(e) => log.line(format!("F {seq} {}\nX send own {}: {e}\n", e.0, own[j].0)),
                }
            }
        } else if roll < 88 {
            let j = r.below(own.len() as u64) as usize;
            k += 1;
            if receive_own(a, ipc, log, status, r, &mut buf, k, own[j].0).is_some() {
                own[j].1 = own[j].1.saturating_sub(1);
            }
        } else {
            let j = r.below(own.len() as u64) as usize;
            let (id, _) = own.swap_remove(j);
            loop {
                k += 1;
                if receive_own(a, ipc, log, status, r, &mut buf, k, id).is_none() {
                    break;
                }
            }
            if let Ok(d) = ipc.stat(id) {
                if d.msg_qnum != 0 {
                    log.line(format!(
                        "X own queue {id} drained but holds {}\n",
                        d.msg_qnum
                    ));
                }
            }
            maybe_arm(a, r);
            let res = ipc.remove(id);
            disarm();
            match res {
                Ok(()) => log.line(format!("D {id}\n")),
                Err(e) => log.line(format!("X remove own {id}: {e}\n")),
            }
            // A removed id is dead at once (its index is not reused before the cursor
            // comes round again).
            match ipc.send(id, 1, b"stale", IPC_NOWAIT) {
                Err(Errno::EINVAL) | Err(Errno::EIDRM) => {}
                other => log.line(format!("X removed id {id} still works: {other:?}\n")),
            }
        }
        if r.pct(5) {
            for &(id, n) in &own {
                match ipc.stat(id) {
                    Ok(d) if d.msg_qnum == n => {}
                    Ok(d) => log.line(format!(
                        "X own queue {id}: {} messages, {n} expected\n",
                        d.msg_qnum
                    )),
                    Err(e) => log.line(format!("X own queue {id}: stat {e}\n")),
                }
            }
            if let Ok((_, mi)) = ipc.info(true) {
                if mi.msgpool as u64 > a.msgmni {
                    log.line(format!(
                        "X {} queues in use, msgmni is {}\n",
                        mi.msgpool, a.msgmni
                    ));
                }
            }
        }
    }
}

/// One non-blocking receive from the churner's own queue `id`; `None` when it is empty.
#[allow(clippy::too_many_arguments)]
fn receive_own(
    a: &Args,
    ipc: &dyn Ipc,
    log: &mut Log,
    status: &Status,
    r: &mut Rng,
    buf: &mut [u8],
    k: u64,
    id: i32,
) -> Option<()> {
    log.line(format!("A {k} {CHURN_Q} 0 0 {}\n", now()));
    status.set(1, k);
    status.set(0, 1);
    maybe_arm(a, r);
    let res = ipc.receive(id, buf, 0, IPC_NOWAIT);
    disarm();
    let out = match res {
        Ok((ty, n)) => {
            let (s, q) = match msg::decode(&buf[..n], ty) {
                Ok(x) => x,
                Err(why) => {
                    log.line(format!("X corrupt in own queue {id}: {why}\n"));
                    (0, 0)
                }
            };
            status.set(2, s);
            status.set(3, q);
            status.set(4, CHURN_Q as u64);
            status.set(5, ty as u64);
            status.set(0, 2);
            log.line(format!("R {k} {s} {q} {CHURN_Q} {ty} {}\n", now()));
            Some(())
        }
        Err(e) => {
            log.line(format!("E {k} {}\n", e.0));
            if e != Errno::ENOMSG {
                log.line(format!("X receive own {id}: {e}\n"));
            }
            None
        }
    };
    status.set(0, 0);
    out
}

/// Each worker's slot in the status file: `[phase, k, sid, seq, q, type, 0, 0]`. A
/// receiver sets phase 1 before `msgrcv`, writes what it got and phase 2 right after it
/// returns (plain stores, no system call), and phase 0 once the log line is written. The
/// controller reads the slot of a stopped worker before killing it, so a message returned
/// just before the kill is still accounted for.
pub const STATUS_SLOTS: u64 = 128;

pub struct Status {
    p: *mut u64,
}

impl Status {
    /// Maps the status file (`STATUS_SLOTS * 64` bytes) and points at `slot`.
    pub fn open(path: &Path, slot: u64) -> Option<Status> {
        use std::os::fd::AsRawFd;
        if slot >= STATUS_SLOTS {
            return None;
        }
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .ok()?;
        // SAFETY: a shared mapping of the whole status file, never unmapped (it lives as
        // long as the process).
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                (STATUS_SLOTS * 64) as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: slot < STATUS_SLOTS, so the 64 bytes lie inside the mapping.
        Some(Status {
            p: unsafe { base.cast::<u64>().add(slot as usize * 8) },
        })
    }

    pub fn set(&self, i: usize, v: u64) {
        if i >= 8 {
            return;
        }
        // SAFETY: inside this slot (i < 8); volatile, as another process reads it.
        unsafe { self.p.add(i).write_volatile(v) };
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
    }

    pub fn get(&self, i: usize) -> u64 {
        if i >= 8 {
            return 0;
        }
        // SAFETY: inside this slot (i < 8).
        unsafe { self.p.add(i).read_volatile() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_round_trip() {
        for s in [
            Shape::Kill,
            Shape::Stop,
            Shape::Full,
            Shape::Mni,
            Shape::Timer,
        ] {
            assert_eq!(Shape::parse(s.name()), Some(s));
        }
        assert_eq!(Shape::parse("nonsense"), None);
    }
}
