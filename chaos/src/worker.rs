//! The chaos workers: separate processes (the binary re-executed), each appending one line
//! per event to its own log. A sender logs its intent (`I seq q type`) before `msgsnd` and
//! the outcome (`S seq` / `F seq errno`) after; a receiver logs `A k q mode type` before
//! `msgrcv` and `R k sid seq q type` (or `E k errno`) after. `X ...` lines are violations
//! a worker saw itself (a corrupt or wrongly selected message, an unexpected errno).

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
    STOP.store(true, Ordering::SeqCst);
}

/// SIGUSR1 asks a worker to finish its current call and exit; the handler is installed
/// without SA_RESTART so a blocked call returns EINTR.
fn install_stop_handler() {
    // SAFETY: a zeroed sigaction with a valid handler; the handler only stores an atomic.
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
}

struct Log(File);

impl Log {
    fn line(&mut self, s: String) {
        // One write(2) per line, appended: a kill leaves whole lines (or none).
        let _ = self.0.write_all(s.as_bytes());
    }
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

pub fn run(a: Args) -> i32 {
    install_stop_handler();
    let mut log = Log(std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&a.log)
        .expect("open the worker log"));
    let s = match Store::open(Path::new(&a.store)) {
        Ok(s) => s,
        Err(e) => {
            log.line(format!("X open {e}\n"));
            return 2;
        }
    };
    let status = Status::open(Path::new(&a.status), a.slot);
    status.set(0, 0);
    let mut r = Rng::new(a.seed ^ (a.slot << 48) ^ (a.inc << 32));
    let end = Instant::now() + Duration::from_millis(a.life_ms);
    let alive = || !STOP.load(Ordering::SeqCst) && Instant::now() < end;
    match a.role.as_str() {
        "sender" => {
            let sid = (a.slot << 32) | a.inc;
            let mut seq = 0u64;
            while alive() {
                seq += 1;
                let qi = r.below(2) as usize;
                let t = 1 + r.below(4) as i64;
                let nowait = r.pct(25);
                let text = msg::encode(sid, seq, t);
                log.line(format!("I {seq} {qi} {t}\n"));
                maybe_arm(&a, &mut r);
                let res = s.send(a.queues[qi], t, &text, if nowait { IPC_NOWAIT } else { 0 });
                disarm();
                match res {
                    Ok(()) => log.line(format!("S {seq}\n")),
                    Err(e) if e == Errno::EAGAIN && nowait => {
                        log.line(format!("F {seq} {}\n", e.0))
                    }
                    Err(e) if e == Errno::EINTR => log.line(format!("F {seq} {}\n", e.0)),
                    Err(e) => log.line(format!("F {seq} {}\nX send {seq}: unexpected {e}\n", e.0)),
                }
            }
        }
        "receiver" | "victim" => {
            let victim = a.role == "victim";
            let mut buf = vec![0u8; msg::MAX_LEN + 64];
            let mut k = 0u64;
            while alive() {
                k += 1;
                let (qi, mode, t, nowait, small) = if victim {
                    (2usize, 1u32, 1000 + a.inc as i64, false, false)
                } else if a.slot <= 5 {
                    // Slots 4 and 5 take any type from queue 0 and 1: with receivers blocked
                    // for one type only, senders blocked on a queue full of other types
                    // would wait for ever (as with kernel queues).
                    (a.slot as usize - 4, 0, 0, r.pct(20), false)
                } else {
                    let mode = match r.below(100) {
                        0..=39 => 0,
                        40..=64 => 1,
                        65..=84 => 2,
                        _ => 3,
                    };
                    (
                        r.below(2) as usize,
                        mode,
                        1 + r.below(4) as i64,
                        r.pct(30),
                        r.pct(5),
                    )
                };
                let (msgtyp, flags) = match mode {
                    0 => (0, 0),
                    1 => (t, 0),
                    2 => (-t, 0),
                    _ => (t, MSG_EXCEPT),
                };
                let flags = flags | if nowait { IPC_NOWAIT } else { 0 };
                let len = if small { 40 } else { buf.len() };
                log.line(format!("A {k} {qi} {mode} {t}\n"));
                status.set(1, k);
                status.set(0, 1);
                maybe_arm(&a, &mut r);
                let res = s.receive(a.queues[qi], &mut buf[..len], msgtyp, flags);
                disarm();
                match res {
                    Ok((ty, n)) => {
                        // Log first (the ids as they are), verify after: the window in which a
                        // kill loses the record of a received message stays small.
                        let w = |i: usize| {
                            buf.get(i * 8..i * 8 + 8)
                                .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()))
                        };
                        status.set(2, w(0));
                        status.set(3, w(1));
                        status.set(4, qi as u64);
                        status.set(5, ty as u64);
                        status.set(0, 2);
                        log.line(format!("R {k} {} {} {qi} {ty}\n", w(0), w(1)));
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
                    Err(e) => log.line(format!("E {k} {}\nX receive: unexpected {e}\n", e.0)),
                }
                status.set(0, 0);
                if victim {
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
                std::thread::sleep(Duration::from_micros(300));
                i += 1;
                let key = 0x4348_0100 + r.below(3) as i32;
                maybe_arm(&a, &mut r);
                let res = (|| -> Result<(), Errno> {
                    let id = s.msgget(key, IPC_CREAT | 0o600)?;
                    for j in 0..r.below(20) {
                        match s.send(id, 1 + (j % 3) as i64, b"churn", IPC_NOWAIT) {
                            Ok(()) | Err(Errno::EAGAIN) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    let _ = s.receive(id, &mut buf, -2, IPC_NOWAIT);
                    if r.pct(30) {
                        let mut d = s.stat(id)?;
                        d.msg_qbytes = 200 + r.below(2000);
                        s.set(id, &d)?;
                    }
                    if r.pct(60) {
                        s.remove(id)?;
                    }
                    Ok(())
                })();
                disarm();
                match res {
                    // EINVAL/EIDRM: another churner removed the queue in between.
                    Ok(()) | Err(Errno::EINVAL) | Err(Errno::EIDRM) => log.line(format!("C {i}\n")),
                    Err(e) => log.line(format!("X churn: unexpected {e}\n")),
                }
            }
        }
        other => {
            log.line(format!("X unknown role {other}\n"));
            return 2;
        }
    }
    0
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
    pub fn open(path: &Path, slot: u64) -> Status {
        use std::os::fd::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .expect("open the status file");
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
        assert!(base != libc::MAP_FAILED, "mmap the status file");
        assert!(slot < STATUS_SLOTS);
        // SAFETY: slot < STATUS_SLOTS, so the 64 bytes lie inside the mapping.
        Status {
            p: unsafe { base.cast::<u64>().add(slot as usize * 8) },
        }
    }

    pub fn set(&self, i: usize, v: u64) {
        assert!(i < 8);
        // SAFETY: inside this slot (i < 8); volatile, as another process reads it.
        unsafe { self.p.add(i).write_volatile(v) };
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
    }

    pub fn get(&self, i: usize) -> u64 {
        assert!(i < 8);
        // SAFETY: inside this slot (i < 8).
        unsafe { self.p.add(i).read_volatile() }
    }
}
