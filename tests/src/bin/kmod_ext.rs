//! `kmod_ext`: the guest test of the kernel module's extensions (issue 14; the rules are
//! `msgq-core/src/ext.rs`, the ioctls `MSGQ_TIMEDSND`, `MSGQ_TIMEDRCV`, `MSGQ_PURGE` and
//! `MSGQ_ABORT` of `msgq-core/src/ioctl.rs`), through the shim's ioctl client
//! (`libmsg-shim/src/kmod.rs`, included with `#[path]`, so this tests that very code).
//!
//! Blocking cases run the blocked callers in threads of this process; a thread tells its
//! thread id before its call and the test waits until `/proc` shows it sleeping. The
//! permission case forks a child that switches to uid 1000 (so it runs as root only: no
//! other thread is alive then). Prints `kmod_ext: N passed, N failed`; exit status 1 on a
//! failure.

#[path = "../../../libmsg-shim/src/kmod.rs"]
#[allow(dead_code)]
mod kmod;

use kmod::Kmod;
use msgq_core::abi::{
    MsqidDs, IPC_CREAT, IPC_NOWAIT, IPC_PRIVATE, IPC_RMID, IPC_SET, IPC_STAT, MSG_COPY, MSG_EXCEPT,
    MSG_NOERROR,
};
use msgq_core::ext::{
    CLOCK_MONOTONIC, CLOCK_REALTIME, MSGQ_ABORT_RECEIVERS, MSGQ_ABORT_SENDERS, MSGQ_BROADCAST,
    MSGQ_OVERWRITE, MSGQ_PEEK, MSGQ_URGENT,
};
use msgq_tests::procs::{fork_with_pipe, install_sigusr1, read_all, reap, wait_state, write_fd};
use std::ffi::c_void;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

type Tmo = Option<(i32, i64, i64)>;
/// A receive's outcome: the type and text, or the errno.
type Got = Result<(i64, Vec<u8>), i32>;

const ETIMEDOUT: i32 = libc::ETIMEDOUT;
const ECANCELED: i32 = libc::ECANCELED;

fn ename(e: i32) -> String {
    match e {
        libc::ETIMEDOUT => "ETIMEDOUT".into(),
        libc::ECANCELED => "ECANCELED".into(),
        libc::EMSGSIZE => "EMSGSIZE".into(),
        libc::ERANGE => "ERANGE".into(),
        _ => msgq_core::Errno(e).name().to_string(),
    }
}

fn show<T: std::fmt::Debug>(r: &Result<T, i32>) -> String {
    match r {
        Ok(v) => format!("ok {v:?}"),
        Err(e) => ename(*e),
    }
}

fn got_show(g: &Got) -> String {
    match g {
        Ok((t, b)) => format!("{t}:{}", String::from_utf8_lossy(b)),
        Err(e) => ename(*e),
    }
}

/// The checks' tally.
struct T {
    passed: u32,
    failed: u32,
    case: &'static str,
}

impl T {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
            println!("FAIL [{}] {}", self.case, what());
        }
    }
    /// Checks that `got` is `want`, both shown.
    fn eq<A: PartialEq + std::fmt::Debug>(&mut self, what: &str, got: A, want: A) {
        let ok = got == want;
        self.check(ok, || format!("{what}: got {got:?}, want {want:?}"));
    }
}

/// The device, shared by the threads of a case.
#[derive(Clone)]
struct Dev(Arc<Kmod>);

impl Dev {
    fn open() -> Dev {
        match Kmod::open() {
            Ok(k) => Dev(Arc::new(k)),
            Err(e) => {
                println!("FAIL open /dev/msgq: {}", ename(e));
                println!("kmod_ext: 0 passed, 1 failed");
                std::process::exit(1);
            }
        }
    }
    /// A new private queue of this mode (panics on failure: nothing else could be tested).
    fn queue(&self, mode: i32) -> i32 {
        self.0
            .msgget(IPC_PRIVATE, IPC_CREAT | mode)
            .expect("msgget IPC_PRIVATE")
    }
    fn rm(&self, id: i32) {
        let _ = self.0.msgctl(id, IPC_RMID, std::ptr::null_mut());
    }
    fn stat(&self, id: i32) -> MsqidDs {
        let mut ds = MsqidDs::default();
        let r = self
            .0
            .msgctl(id, IPC_STAT, (&mut ds as *mut MsqidDs).cast());
        assert!(r.is_ok(), "IPC_STAT {id}: {}", show(&r));
        ds
    }
    fn qnum(&self, id: i32) -> u64 {
        self.stat(id).msg_qnum
    }
    fn set_qbytes(&self, id: i32, qbytes: u64) {
        let mut ds = self.stat(id);
        ds.msg_qbytes = qbytes;
        let r = self.0.msgctl(id, IPC_SET, (&mut ds as *mut MsqidDs).cast());
        assert!(r.is_ok(), "IPC_SET {id}: {}", show(&r));
    }
    /// `MSG_INFO`'s number of messages in the namespace.
    fn msg_hdrs(&self) -> i32 {
        self.0.info().map(|(_, mi)| mi.msgmap).unwrap_or(-1)
    }
    fn snd(&self, id: i32, mtype: i64, text: &[u8], flg: i32, tmo: Tmo) -> Result<i64, i32> {
        let mut b = mtype.to_ne_bytes().to_vec();
        b.extend_from_slice(text);
        self.0
            .timedsnd(id, b.as_ptr().cast::<c_void>(), text.len(), flg, tmo)
    }
    fn rcv(&self, id: i32, size: usize, typ: i64, flg: i32, tmo: Tmo) -> Got {
        let mut b = vec![0u8; 8 + size];
        let n = self
            .0
            .timedrcv(id, b.as_mut_ptr().cast::<c_void>(), size, typ, flg, tmo)?;
        let t = i64::from_ne_bytes(b[..8].try_into().unwrap_or([0; 8]));
        b.truncate(8 + n as usize);
        Ok((t, b.split_off(8)))
    }
    /// A receive that must not block.
    fn take(&self, id: i32, typ: i64, flg: i32) -> Got {
        self.rcv(id, 64, typ, flg | IPC_NOWAIT, None)
    }
}

fn ok(t: i64, s: &str) -> Got {
    Ok((t, s.as_bytes().to_vec()))
}

/// The time on `clock` in nanoseconds.
fn now_ns(clock: i32) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// A deadline `offset_ns` from now on `clock`.
fn at(clock: i32, offset_ns: i64) -> Tmo {
    let t = now_ns(clock) + offset_ns;
    Some((
        clock,
        t.div_euclid(1_000_000_000),
        t.rem_euclid(1_000_000_000),
    ))
}

/// Far enough that it never passes during a case.
fn later(clock: i32) -> Tmo {
    at(clock, 60_000_000_000)
}

/// A thread making one call that is expected to block: returns when `/proc` shows it asleep
/// (or after 5 s). The thread's id is in the handle's second field.
fn blocked<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> (JoinHandle<R>, i32) {
    let (tx, rx) = mpsc::channel();
    let h = std::thread::spawn(move || {
        // SAFETY: no memory effects.
        let _ = tx.send(unsafe { libc::gettid() });
        f()
    });
    let tid = rx.recv().unwrap_or(0);
    // SAFETY: no memory effects.
    let pid = unsafe { libc::getpid() };
    wait_state(pid, tid, 'S', Duration::from_secs(5));
    (h, tid)
}

/// Whether the thread is (still) asleep.
fn asleep(tid: i32) -> bool {
    // SAFETY: no memory effects.
    let pid = unsafe { libc::getpid() };
    wait_state(pid, tid, 'S', Duration::from_millis(200))
}

/// The outcome a blocked thread reports, or "still blocked" if it has not returned within
/// 10 s (the thread is then left behind: removing its queue ends it).
fn join(h: JoinHandle<String>) -> String {
    let start = Instant::now();
    while !h.is_finished() {
        if start.elapsed() > Duration::from_secs(10) {
            return "still blocked".into();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    h.join().unwrap_or_else(|_| "thread panicked".into())
}

fn sigusr1(tid: i32) {
    // SAFETY: no memory effects; `tid` is a thread of this process.
    unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, libc::SIGUSR1) };
}

/// Bad deadlines and flags: `EINVAL` before anything else (even where `IPC_NOWAIT` would give
/// `EAGAIN`/`ENOMSG`).
fn case_einval(t: &mut T, d: &Dev) {
    t.case = "einval";
    let q = d.queue(0o600);
    d.set_qbytes(q, 4);
    let _ = d.snd(q, 1, b"full", IPC_NOWAIT, None);
    let bad: [Tmo; 5] = [
        Some((2, 0, 0)),
        Some((-1, 0, 0)),
        Some((CLOCK_REALTIME, 0, -1)),
        Some((CLOCK_MONOTONIC, 0, 1_000_000_000)),
        Some((4, i64::MAX, 0)),
    ];
    for b in bad {
        let r = d.snd(q, 1, b"x", IPC_NOWAIT, b);
        t.eq(
            &format!("timedsnd on a full queue, {b:?}"),
            show(&r),
            ename(libc::EINVAL),
        );
        let r = d.rcv(q, 8, 2, IPC_NOWAIT, b);
        t.eq(
            &format!("timedrcv of a missing type, {b:?}"),
            got_show(&r),
            ename(libc::EINVAL),
        );
    }
    let r = d.snd(q, 1, b"x", IPC_NOWAIT | MSGQ_PEEK, None);
    t.eq("timedsnd with MSGQ_PEEK", show(&r), ename(libc::EINVAL));
    let r = d.snd(q, 1, b"x", MSGQ_OVERWRITE | MSGQ_BROADCAST, None);
    t.eq("OVERWRITE|BROADCAST", show(&r), ename(libc::EINVAL));
    let r = d.rcv(q, 8, 1, IPC_NOWAIT | MSGQ_URGENT, None);
    t.eq(
        "timedrcv with MSGQ_URGENT",
        got_show(&r),
        ename(libc::EINVAL),
    );
    let r = d.rcv(q, 8, 0, IPC_NOWAIT | MSGQ_PEEK | MSG_COPY, None);
    t.eq("PEEK|MSG_COPY", got_show(&r), ename(libc::EINVAL));
    // A deadline with present == 0 is no deadline, whatever its fields.
    let r = d.rcv(q, 8, 1, IPC_NOWAIT, None);
    t.eq(
        "timedrcv without deadline",
        got_show(&r),
        got_show(&ok(1, "full")),
    );
    t.eq("nothing else changed", d.qnum(q), 0);
    d.rm(q);
}

/// `ETIMEDOUT` on both clocks: a passed deadline at once, a short future one after it passed;
/// `IPC_NOWAIT` first; a passed deadline does not matter when the call need not block; a
/// timed-out waiter leaves no trace.
fn case_timeouts(t: &mut T, d: &Dev) {
    t.case = "timeouts";
    for clock in [CLOCK_REALTIME, CLOCK_MONOTONIC] {
        let q = d.queue(0o600);
        let past = at(clock, -1_000_000_000);
        let r = d.rcv(q, 8, 0, 0, past);
        t.eq(
            &format!("clock {clock}: rcv, passed deadline"),
            got_show(&r),
            ename(ETIMEDOUT),
        );
        let r = d.rcv(q, 8, 0, 0, Some((clock, -5, 0)));
        t.eq(
            &format!("clock {clock}: rcv, negative time"),
            got_show(&r),
            ename(ETIMEDOUT),
        );
        let r = d.rcv(q, 8, 0, IPC_NOWAIT, past);
        t.eq(
            &format!("clock {clock}: rcv, NOWAIT + passed"),
            got_show(&r),
            ename(libc::ENOMSG),
        );
        let r = d.rcv(q, 8, 0, MSGQ_PEEK, past);
        t.eq(
            &format!("clock {clock}: peek, passed"),
            got_show(&r),
            ename(ETIMEDOUT),
        );
        for (what, flg) in [("rcv", 0), ("peek", MSGQ_PEEK)] {
            let start = now_ns(clock);
            let r = d.rcv(q, 8, 0, flg, at(clock, 100_000_000));
            let took = now_ns(clock) - start;
            t.eq(
                &format!("clock {clock}: {what}, +100 ms"),
                got_show(&r),
                ename(ETIMEDOUT),
            );
            t.check((100_000_000..3_000_000_000).contains(&took), || {
                format!("clock {clock}: {what} +100 ms returned after {took} ns")
            });
        }
        // No trace: the next message is queued, not handed to a timed-out receiver.
        let r = d.snd(q, 3, b"after", IPC_NOWAIT, None);
        t.eq(
            &format!("clock {clock}: send after timeouts"),
            show(&r),
            "ok 0".into(),
        );
        t.eq(&format!("clock {clock}: queued"), d.qnum(q), 1);
        // A passed deadline does not matter when nothing blocks.
        let r = d.rcv(q, 8, 0, 0, past);
        t.eq(
            &format!("clock {clock}: rcv, passed, message there"),
            got_show(&r),
            got_show(&ok(3, "after")),
        );

        // Sends on a full queue.
        d.set_qbytes(q, 4);
        let _ = d.snd(q, 1, b"full", IPC_NOWAIT, None);
        let r = d.snd(q, 2, b"x", 0, past);
        t.eq(
            &format!("clock {clock}: snd, passed"),
            show(&r),
            ename(ETIMEDOUT),
        );
        let r = d.snd(q, 2, b"x", IPC_NOWAIT, past);
        t.eq(
            &format!("clock {clock}: snd, NOWAIT + passed"),
            show(&r),
            ename(libc::EAGAIN),
        );
        let start = now_ns(clock);
        let r = d.snd(q, 2, b"x", 0, at(clock, 100_000_000));
        let took = now_ns(clock) - start;
        t.eq(
            &format!("clock {clock}: snd, +100 ms"),
            show(&r),
            ename(ETIMEDOUT),
        );
        t.check((100_000_000..3_000_000_000).contains(&took), || {
            format!("clock {clock}: snd +100 ms returned after {took} ns")
        });
        // No trace: the queue holds only the first message, and no sender is left.
        t.eq(&format!("clock {clock}: one message"), d.qnum(q), 1);
        let r = d.take(q, 0, 0);
        t.eq(
            &format!("clock {clock}: the first message"),
            got_show(&r),
            got_show(&ok(1, "full")),
        );
        let r = d.abort(q, MSGQ_ABORT_SENDERS);
        t.eq(
            &format!("clock {clock}: no sender left"),
            show(&r),
            "ok 0".into(),
        );
        t.eq(&format!("clock {clock}: empty"), d.qnum(q), 0);
        d.rm(q);
    }
}

impl Dev {
    fn abort(&self, id: i32, which: i32) -> Result<i64, i32> {
        self.0.abort(id, which)
    }
    fn purge(&self, id: i32) -> Result<i64, i32> {
        self.0.purge(id)
    }
}

/// A deadline at the moment of a hand-off, many times: the message is never lost nor given
/// twice; either the waiter has it (and the queue does not) or the waiter timed out (and the
/// queue has it). Both outcomes must occur (the window was hit from both sides).
fn case_timeout_race(t: &mut T, d: &Dev) {
    t.case = "timeout-race";
    let iters = 300;
    // Receivers.
    let q = d.queue(0o600);
    let (job_tx, job_rx) = mpsc::channel::<Option<Tmo>>();
    let (res_tx, res_rx) = mpsc::channel::<Got>();
    let dd = d.clone();
    let h = std::thread::spawn(move || {
        while let Ok(Some(tmo)) = job_rx.recv() {
            let _ = res_tx.send(dd.rcv(q, 16, 0, 0, tmo));
        }
    });
    let (mut got, mut timed_out, mut bad) = (0, 0, 0);
    for i in 0..iters {
        // The send lands between 4 ms before and 20 ms after the deadline (HZ=250: the timer
        // fires on a 4 ms tick, and the guest is slow).
        let tmo = at(CLOCK_MONOTONIC, 4_000_000);
        let _ = job_tx.send(Some(tmo));
        let delay = (i % 25) as u64 * 1_000_000;
        std::thread::sleep(Duration::from_nanos(delay));
        let text = format!("m{i}");
        let _ = d.snd(q, 1, text.as_bytes(), IPC_NOWAIT, None);
        let r = res_rx.recv().unwrap_or(Err(-1));
        let left = d.take(q, 0, 0);
        match (&r, &left) {
            (Ok((1, b)), Err(libc::ENOMSG)) if *b == text.as_bytes() => got += 1,
            (Err(ETIMEDOUT), Ok((1, b))) if *b == text.as_bytes() => timed_out += 1,
            _ => {
                bad += 1;
                if bad <= 3 {
                    println!(
                        "  receiver iteration {i}: waiter {}, queue {}",
                        got_show(&r),
                        got_show(&left)
                    );
                }
            }
        }
    }
    let _ = job_tx.send(None);
    let _ = h.join();
    println!("  receivers: {got} got the message, {timed_out} timed out, {bad} wrong");
    t.eq("receiver: message lost or duplicated", bad, 0);
    t.check(got > 0 && timed_out > 0, || {
        format!("receiver: both outcomes should occur ({got} got it, {timed_out} timed out)")
    });
    t.eq("receiver: namespace count", d.msg_hdrs(), 0);
    d.rm(q);

    // Senders: a full queue, a timed send, a receive at about the deadline.
    let q = d.queue(0o600);
    d.set_qbytes(q, 8);
    let (job_tx, job_rx) = mpsc::channel::<Option<(Tmo, String)>>();
    let (res_tx, res_rx) = mpsc::channel::<Result<i64, i32>>();
    let dd = d.clone();
    let h = std::thread::spawn(move || {
        while let Ok(Some((tmo, text))) = job_rx.recv() {
            let _ = res_tx.send(dd.snd(q, 2, text.as_bytes(), 0, tmo));
        }
    });
    let (mut sent, mut timed_out, mut bad) = (0, 0, 0);
    for i in 0..iters {
        let _ = d.snd(q, 1, b"fill0000", IPC_NOWAIT, None);
        let text = format!("s{i:07}");
        let _ = job_tx.send(Some((at(CLOCK_MONOTONIC, 4_000_000), text.clone())));
        std::thread::sleep(Duration::from_nanos((i % 25) as u64 * 1_000_000));
        let first = d.take(q, 0, 0);
        let r = res_rx.recv().unwrap_or(Err(-1));
        let left = d.take(q, 0, 0);
        match (&first, &r, &left) {
            (Ok((1, _)), Ok(0), Ok((2, b))) if *b == text.as_bytes() => sent += 1,
            (Ok((1, _)), Err(ETIMEDOUT), Err(libc::ENOMSG)) => timed_out += 1,
            _ => {
                bad += 1;
                if bad <= 3 {
                    println!(
                        "  sender iteration {i}: fill {}, sender {}, queue {}",
                        got_show(&first),
                        show(&r),
                        got_show(&left)
                    );
                }
            }
        }
    }
    let _ = job_tx.send(None);
    let _ = h.join();
    println!("  senders: {sent} sent, {timed_out} timed out, {bad} wrong");
    t.eq("sender: wrong outcomes", bad, 0);
    t.check(sent > 0 && timed_out > 0, || {
        format!("sender: both outcomes should occur ({sent} sent, {timed_out} timed out)")
    });
    d.rm(q);
}

/// `IPC_RMID` during timed waits (receiver, peeker, sender): `EIDRM`.
fn case_eidrm(t: &mut T, d: &Dev) {
    t.case = "eidrm";
    let q = d.queue(0o600);
    d.set_qbytes(q, 4);
    let _ = d.snd(q, 1, b"full", IPC_NOWAIT, None);
    let dd = d.clone();
    let (r, _) = blocked(move || got_show(&dd.rcv(q, 8, 9, 0, later(CLOCK_REALTIME))));
    let dd = d.clone();
    let (p, _) = blocked(move || got_show(&dd.rcv(q, 8, 9, MSGQ_PEEK, later(CLOCK_MONOTONIC))));
    let dd = d.clone();
    let (s, _) = blocked(move || show(&dd.snd(q, 9, b"more", 0, later(CLOCK_MONOTONIC))));
    d.rm(q);
    t.eq("timed receiver", join(r), ename(libc::EIDRM));
    t.eq("timed peeker", join(p), ename(libc::EIDRM));
    t.eq("timed sender", join(s), ename(libc::EIDRM));
}

/// A signal with a handler during a timed wait: `EINTR` (with or without `SA_RESTART`, as
/// msgsnd/msgrcv), and the waiter leaves no trace.
fn case_eintr(t: &mut T, d: &Dev) {
    t.case = "eintr";
    for restart in [false, true] {
        install_sigusr1(restart);
        let q = d.queue(0o600);
        d.set_qbytes(q, 4);
        let dd = d.clone();
        let (r, tid) = blocked(move || got_show(&dd.rcv(q, 8, 9, 0, later(CLOCK_REALTIME))));
        sigusr1(tid);
        t.eq(
            &format!("timed receiver (SA_RESTART {restart})"),
            join(r),
            ename(libc::EINTR),
        );
        let dd = d.clone();
        let (p, tid) = blocked(move || got_show(&dd.rcv(q, 8, 9, MSGQ_PEEK, None)));
        sigusr1(tid);
        t.eq(
            &format!("peeker (SA_RESTART {restart})"),
            join(p),
            ename(libc::EINTR),
        );
        let _ = d.snd(q, 1, b"full", IPC_NOWAIT, None);
        let dd = d.clone();
        let (s, tid) = blocked(move || show(&dd.snd(q, 9, b"more", 0, later(CLOCK_MONOTONIC))));
        sigusr1(tid);
        t.eq(
            &format!("timed sender (SA_RESTART {restart})"),
            join(s),
            ename(libc::EINTR),
        );
        t.eq("nobody left", show(&d.abort(q, 3)), "ok 0".into());
        d.rm(q);
    }
}

/// `MSGQ_URGENT`: the message goes to the front of the queue and of its type (the lowest
/// type still wins for `msgtyp < 0`), and is handed to a blocked receiver as usual.
fn case_urgent(t: &mut T, d: &Dev) {
    t.case = "urgent";
    let q = d.queue(0o600);
    for (ty, s, flg) in [
        (1, "a", 0),
        (2, "b", 0),
        (1, "c", 0),
        (2, "U2", MSGQ_URGENT),
        (1, "U1", MSGQ_URGENT),
    ] {
        let r = d.snd(q, ty, s.as_bytes(), flg, None);
        t.eq(&format!("send {ty}:{s}"), show(&r), "ok 0".into());
    }
    let peek = d.take(q, 0, MSGQ_PEEK);
    t.eq("peek 0", got_show(&peek), got_show(&ok(1, "U1")));
    for (typ, flg, want) in [
        (0, 0, (1, "U1")),
        (2, 0, (2, "U2")),
        (-2, 0, (1, "a")),
        (1, MSG_EXCEPT, (2, "b")),
        (0, 0, (1, "c")),
    ] {
        let r = d.take(q, typ, flg);
        t.eq(
            &format!("rcv {typ} flg {flg:#o}"),
            got_show(&r),
            got_show(&ok(want.0, want.1)),
        );
    }
    // MSG_EXCEPT sees an urgent message first, also one of a type already present.
    let _ = d.snd(q, 5, b"p", 0, None);
    let _ = d.snd(q, 6, b"q", 0, None);
    let _ = d.snd(q, 6, b"r", MSGQ_URGENT, None);
    t.eq(
        "except 5",
        got_show(&d.take(q, 5, MSG_EXCEPT)),
        got_show(&ok(6, "r")),
    );
    t.eq(
        "except 5 again",
        got_show(&d.take(q, 5, MSG_EXCEPT)),
        got_show(&ok(6, "q")),
    );
    let _ = d.snd(q, 7, b"s", MSGQ_URGENT, None);
    t.eq(
        "except 6 (urgent 7 before 5)",
        got_show(&d.take(q, 6, MSG_EXCEPT)),
        got_show(&ok(7, "s")),
    );
    t.eq("0", got_show(&d.take(q, 0, 0)), got_show(&ok(5, "p")));
    t.eq("empty", d.qnum(q), 0);
    // Hand-off to a blocked receiver.
    let dd = d.clone();
    let (r, tid) = blocked(move || got_show(&dd.rcv(q, 8, 5, 0, None)));
    let s = d.snd(q, 5, b"hand", MSGQ_URGENT, None);
    t.eq("urgent send to a blocked receiver", show(&s), "ok 0".into());
    t.eq("receiver got it", join(r), got_show(&ok(5, "hand")));
    t.eq("not queued", d.qnum(q), 0);
    t.eq("lrpid is the receiver", d.stat(q).msg_lrpid, tid);
    d.rm(q);
}

/// `MSGQ_OVERWRITE`: drops the oldest messages until the new one fits and returns how many;
/// `EMSGSIZE` (nothing dropped) when it can never fit; never blocks; blocked senders stay
/// blocked.
fn case_overwrite(t: &mut T, d: &Dev) {
    t.case = "overwrite";
    let q = d.queue(0o600);
    d.set_qbytes(q, 30);
    for ty in 1..=3 {
        let _ = d.snd(q, ty, b"0123456789", IPC_NOWAIT, None);
    }
    let r = d.snd(q, 4, b"fifteen bytes!!", MSGQ_OVERWRITE, None);
    t.eq("overwrite 15 bytes into 30/30", show(&r), "ok 2".into());
    let ds = d.stat(q);
    t.eq("qnum, cbytes", (ds.msg_qnum, ds.msg_cbytes), (2, 25));
    t.eq("namespace count", d.msg_hdrs(), 2);
    t.eq(
        "receive time untouched",
        (ds.msg_rtime, ds.msg_lrpid),
        (0, 0),
    );
    let r = d.snd(q, 5, &[b'x'; 31], MSGQ_OVERWRITE, None);
    t.eq("31 bytes into qbytes 30", show(&r), ename(libc::EMSGSIZE));
    t.eq("nothing dropped", d.qnum(q), 2);
    let r = d.snd(q, 5, b"fiver", MSGQ_OVERWRITE | IPC_NOWAIT, None);
    t.eq("overwrite that fits", show(&r), "ok 0".into());
    // A blocked sender stays blocked: the room goes to the overwriting message.
    let dd = d.clone();
    let (s, tid) = blocked(move || show(&dd.snd(q, 6, b"0123456789", 0, None)));
    let r = d.snd(q, 7, b"0123456789", MSGQ_OVERWRITE, None);
    t.eq("overwrite with a blocked sender", show(&r), "ok 1".into());
    t.check(asleep(tid), || {
        "the blocked sender should still be blocked".into()
    });
    t.eq(
        "urgent overwrite",
        show(&d.snd(q, 8, b"u", MSGQ_OVERWRITE | MSGQ_URGENT, None)),
        "ok 1".into(),
    );
    let order: Vec<String> = (0..3).map(|_| got_show(&d.take(q, 0, 0))).collect();
    t.eq(
        "order after the overwrites",
        order,
        vec!["8:u".into(), "5:fiver".into(), "7:0123456789".into()],
    );
    t.eq("the blocked sender got in", join(s), "ok 0".into());
    t.eq(
        "its message",
        got_show(&d.take(q, 0, 0)),
        got_show(&ok(6, "0123456789")),
    );
    t.eq("namespace count at the end", d.msg_hdrs(), 0);
    d.rm(q);
}

/// `MSGQ_BROADCAST`: a copy to every blocked receiver whose selector accepts the type
/// (typed, general, negative, `MSG_EXCEPT`, peekers), `E2BIG` (not counted) for a buffer too
/// small, the others stay blocked; queued when nobody took it.
fn case_broadcast(t: &mut T, d: &Dev) {
    t.case = "broadcast";
    let q = d.queue(0o600);
    let mut hs = Vec::new();
    for (name, size, typ, flg) in [
        ("type 1", 16, 1, 0),
        ("type 2", 16, 2, 0),
        ("msgtyp 0", 16, 0, 0),
        ("msgtyp -1", 16, -1, 0),
        ("except 1", 16, 1, MSG_EXCEPT),
        ("small", 2, 1, 0),
        ("small noerror", 2, 1, MSG_NOERROR),
        ("peek 1", 16, 1, MSGQ_PEEK),
    ] {
        let dd = d.clone();
        let (h, _) = blocked(move || got_show(&dd.rcv(q, size, typ, flg, None)));
        hs.push((name, h));
    }
    let r = d.snd(q, 1, b"bcast", MSGQ_BROADCAST, None);
    t.eq("broadcast of type 1", show(&r), "ok 5".into());
    t.eq("not queued", d.qnum(q), 0);
    let r = d.abort(q, MSGQ_ABORT_RECEIVERS);
    t.eq("receivers left (type 2, except 1)", show(&r), "ok 2".into());
    let want = [
        ("type 1", got_show(&ok(1, "bcast"))),
        ("type 2", ename(ECANCELED)),
        ("msgtyp 0", got_show(&ok(1, "bcast"))),
        ("msgtyp -1", got_show(&ok(1, "bcast"))),
        ("except 1", ename(ECANCELED)),
        ("small", ename(libc::E2BIG)),
        ("small noerror", got_show(&ok(1, "bc"))),
        ("peek 1", got_show(&ok(1, "bcast"))),
    ];
    for ((name, h), (wname, w)) in hs.into_iter().zip(want) {
        assert_eq!(name, wname);
        t.eq(name, join(h), w);
    }
    // Nobody waiting: queued, 0. Only a peeker: it gets a copy (1) and the message is queued.
    let r = d.snd(q, 3, b"none", MSGQ_BROADCAST, None);
    t.eq("broadcast to nobody", show(&r), "ok 0".into());
    t.eq(
        "queued",
        got_show(&d.take(q, 0, 0)),
        got_show(&ok(3, "none")),
    );
    let dd = d.clone();
    let (p, _) = blocked(move || got_show(&dd.rcv(q, 16, 0, MSGQ_PEEK, None)));
    let r = d.snd(q, 3, b"peeked", MSGQ_BROADCAST, None);
    t.eq("broadcast to a peeker", show(&r), "ok 1".into());
    t.eq("the peeker's copy", join(p), got_show(&ok(3, "peeked")));
    t.eq(
        "queued too",
        got_show(&d.take(q, 0, 0)),
        got_show(&ok(3, "peeked")),
    );
    // Space first, as msgsnd: a full queue blocks a broadcast even with receivers waiting.
    d.set_qbytes(q, 4);
    let _ = d.snd(q, 1, b"full", IPC_NOWAIT, None);
    let dd = d.clone();
    let (r2, _) = blocked(move || got_show(&dd.rcv(q, 16, 2, 0, None)));
    let r = d.snd(q, 2, b"b", MSGQ_BROADCAST | IPC_NOWAIT, None);
    t.eq("broadcast into a full queue", show(&r), ename(libc::EAGAIN));
    let _ = d.take(q, 1, 0);
    let r = d.snd(q, 2, b"b", MSGQ_BROADCAST | IPC_NOWAIT, None);
    t.eq("broadcast with room", show(&r), "ok 1".into());
    t.eq("receiver", join(r2), got_show(&ok(2, "b")));
    d.rm(q);
}

/// `MSGQ_PEEK`: a copy of the selected message in every mode, left in place, `rtime`/`lrpid`
/// untouched; `E2BIG`, `MSG_NOERROR`, `ENOMSG` as msgrcv; a blocked peeker gets a copy of a
/// matching send while the message goes on to a blocked receiver (or the queue).
fn case_peek(t: &mut T, d: &Dev) {
    t.case = "peek";
    let q = d.queue(0o600);
    for (ty, s) in [(3, "three"), (1, "one"), (2, "two"), (1, "uno")] {
        let _ = d.snd(q, ty, s.as_bytes(), IPC_NOWAIT, None);
    }
    let before = d.stat(q);
    for (typ, flg, want) in [
        (0, 0, got_show(&ok(3, "three"))),
        (1, 0, got_show(&ok(1, "one"))),
        (2, 0, got_show(&ok(2, "two"))),
        (-2, 0, got_show(&ok(1, "one"))),
        (3, MSG_EXCEPT, got_show(&ok(1, "one"))),
        (4, 0, ename(libc::ENOMSG)),
    ] {
        let r = d.take(q, typ, flg | MSGQ_PEEK);
        t.eq(&format!("peek {typ} flg {flg:#o}"), got_show(&r), want);
    }
    let r = d.rcv(q, 3, 0, MSGQ_PEEK | IPC_NOWAIT, None);
    t.eq("peek into 3 bytes", got_show(&r), ename(libc::E2BIG));
    let r = d.rcv(q, 3, 0, MSGQ_PEEK | IPC_NOWAIT | MSG_NOERROR, None);
    t.eq(
        "peek into 3 bytes, MSG_NOERROR",
        got_show(&r),
        got_show(&ok(3, "thr")),
    );
    let after = d.stat(q);
    t.eq("peeks change nothing", after, before);
    t.eq("rtime, lrpid", (after.msg_rtime, after.msg_lrpid), (0, 0));
    let r = d.rcv(q, 8, 4, MSGQ_PEEK, at(CLOCK_MONOTONIC, 50_000_000));
    t.eq("peek times out", got_show(&r), ename(ETIMEDOUT));
    let _ = d.purge(q);

    // A blocked peeker and a blocked receiver of type 7.
    let dd = d.clone();
    let (p, _) = blocked(move || got_show(&dd.rcv(q, 16, 7, MSGQ_PEEK, later(CLOCK_MONOTONIC))));
    let dd = d.clone();
    let (r, tid) = blocked(move || got_show(&dd.rcv(q, 16, 7, 0, None)));
    let s = d.snd(q, 7, b"seven", 0, None);
    t.eq("send", show(&s), "ok 0".into());
    t.eq("peeker's copy", join(p), got_show(&ok(7, "seven")));
    t.eq("receiver's message", join(r), got_show(&ok(7, "seven")));
    t.eq("nothing queued", d.qnum(q), 0);
    t.eq("lrpid is the receiver", d.stat(q).msg_lrpid, tid);
    // A blocked peeker alone: a copy, and the message is queued; a peeker whose buffer is too
    // small gets E2BIG; one of another type stays blocked.
    let dd = d.clone();
    let (p, _) = blocked(move || got_show(&dd.rcv(q, 16, -8, MSGQ_PEEK, None)));
    let dd = d.clone();
    let (small, _) = blocked(move || got_show(&dd.rcv(q, 2, 8, MSGQ_PEEK, None)));
    let dd = d.clone();
    let (other, _) = blocked(move || got_show(&dd.rcv(q, 16, 9, MSGQ_PEEK, None)));
    let _ = d.snd(q, 8, b"eight", 0, None);
    t.eq("peeker -8", join(p), got_show(&ok(8, "eight")));
    t.eq("small peeker", join(small), ename(libc::E2BIG));
    t.eq("queued", d.qnum(q), 1);
    t.eq(
        "abort the other peeker",
        show(&d.abort(q, MSGQ_ABORT_RECEIVERS)),
        "ok 1".into(),
    );
    t.eq("other peeker", join(other), ename(ECANCELED));
    t.eq(
        "the message",
        got_show(&d.take(q, 0, 0)),
        got_show(&ok(8, "eight")),
    );
    d.rm(q);
}

/// Fills a queue of qbytes 20 with two 10-byte messages and blocks a receiver of type 9 and
/// a sender of a type-9 message.
fn two_blocked(d: &Dev) -> (i32, JoinHandle<String>, JoinHandle<String>) {
    let q = d.queue(0o600);
    d.set_qbytes(q, 20);
    let _ = d.snd(q, 1, b"0123456789", IPC_NOWAIT, None);
    let _ = d.snd(q, 2, b"0123456789", IPC_NOWAIT, None);
    let dd = d.clone();
    let (r, _) = blocked(move || got_show(&dd.rcv(q, 16, 9, 0, later(CLOCK_MONOTONIC))));
    let dd = d.clone();
    let (s, _) = blocked(move || show(&dd.snd(q, 9, b"nine", 0, None)));
    (q, r, s)
}

/// `MSGQ_PURGE`: discards every message, returns how many, not a receive; blocked senders
/// then proceed.
fn case_purge(t: &mut T, d: &Dev) {
    t.case = "purge";
    let q = d.queue(0o600);
    t.eq("purge empty", show(&d.purge(q)), "ok 0".into());
    for ty in 1..=3 {
        let _ = d.snd(q, ty, b"abc", IPC_NOWAIT, None);
    }
    let before = d.stat(q);
    t.eq("purge 3", show(&d.purge(q)), "ok 3".into());
    let after = d.stat(q);
    t.eq("qnum, cbytes", (after.msg_qnum, after.msg_cbytes), (0, 0));
    t.eq(
        "rtime, lrpid, ctime unchanged",
        (after.msg_rtime, after.msg_lrpid, after.msg_ctime),
        (before.msg_rtime, before.msg_lrpid, before.msg_ctime),
    );
    t.eq("namespace count", d.msg_hdrs(), 0);
    t.eq(
        "receive after purge",
        got_show(&d.take(q, 0, 0)),
        ename(libc::ENOMSG),
    );
    d.rm(q);

    // With a receiver and a sender blocked: the sender proceeds, its message goes to the
    // receiver.
    let (q, r, s) = two_blocked(d);
    t.eq("purge with both blocked", show(&d.purge(q)), "ok 2".into());
    t.eq("the sender proceeds", join(s), "ok 0".into());
    t.eq(
        "the receiver gets its message",
        join(r),
        got_show(&ok(9, "nine")),
    );
    t.eq("empty", d.qnum(q), 0);
    t.eq("invalid id", show(&d.purge(-1)), ename(libc::EINVAL));
    d.rm(q);
}

/// `MSGQ_ABORT`: wakes the blocked receivers and/or senders with `ECANCELED` and returns how
/// many; a receiver already handed a message keeps it.
fn case_abort(t: &mut T, d: &Dev) {
    t.case = "abort";
    let (q, r, s) = two_blocked(d);
    t.eq("abort 0", show(&d.abort(q, 0)), ename(libc::EINVAL));
    t.eq("abort 4", show(&d.abort(q, 4)), ename(libc::EINVAL));
    t.eq(
        "abort receivers",
        show(&d.abort(q, MSGQ_ABORT_RECEIVERS)),
        "ok 1".into(),
    );
    t.eq("receiver", join(r), ename(ECANCELED));
    t.eq(
        "abort receivers again",
        show(&d.abort(q, MSGQ_ABORT_RECEIVERS)),
        "ok 0".into(),
    );
    t.eq(
        "abort senders",
        show(&d.abort(q, MSGQ_ABORT_SENDERS)),
        "ok 1".into(),
    );
    t.eq("sender", join(s), ename(ECANCELED));
    t.eq("messages untouched", d.qnum(q), 2);
    d.rm(q);

    let (q, r, s) = two_blocked(d);
    let dd = d.clone();
    let (p, _) = blocked(move || got_show(&dd.rcv(q, 16, 9, MSGQ_PEEK, None)));
    t.eq("abort both", show(&d.abort(q, 3)), "ok 3".into());
    t.eq("receiver", join(r), ename(ECANCELED));
    t.eq("sender", join(s), ename(ECANCELED));
    t.eq("peeker", join(p), ename(ECANCELED));
    t.eq("messages untouched", d.qnum(q), 2);
    d.rm(q);

    // Handed a message, then aborted: keeps the message.
    let q = d.queue(0o600);
    let dd = d.clone();
    let (r, _) = blocked(move || got_show(&dd.rcv(q, 16, 0, 0, later(CLOCK_REALTIME))));
    let _ = d.snd(q, 4, b"mine", IPC_NOWAIT, None);
    t.eq(
        "abort after the hand-off",
        show(&d.abort(q, 3)),
        "ok 0".into(),
    );
    t.eq(
        "the receiver keeps its message",
        join(r),
        got_show(&ok(4, "mine")),
    );
    t.eq("not queued", d.qnum(q), 0);
    d.rm(q);
}

/// Permissions, from a child running as uid 1000 on root's queues of modes 0600, 0622
/// (others may write), 0644 (others may read): the extensions' rules (`OVERWRITE_PERM`,
/// `PURGE_PERM`, `abort_perm`, peek = read).
fn case_perms(t: &mut T, d: &Dev) {
    t.case = "perms";
    let q600 = d.queue(0o600);
    let q622 = d.queue(0o622);
    let q644 = d.queue(0o644);
    for q in [q600, q622, q644] {
        let _ = d.snd(q, 1, b"root", IPC_NOWAIT, None);
    }
    let (pid, fd) = fork_with_pipe(move |w| {
        msgq_tests::procs::Creds::user(1000).apply();
        let d = Dev::open();
        let mut out = String::new();
        for (name, q) in [("600", q600), ("622", q622), ("644", q644)] {
            let res = [
                ("snd", show(&d.snd(q, 2, b"x", IPC_NOWAIT, None))),
                ("overwrite", show(&d.snd(q, 2, b"x", MSGQ_OVERWRITE, None))),
                (
                    "broadcast",
                    show(&d.snd(q, 2, b"x", MSGQ_BROADCAST | IPC_NOWAIT, None)),
                ),
                (
                    "urgent",
                    show(&d.snd(q, 2, b"x", MSGQ_URGENT | IPC_NOWAIT, None)),
                ),
                ("peek", got_show(&d.take(q, 1, MSGQ_PEEK))),
                ("abort 0", show(&d.abort(q, 0))),
                ("abort r", show(&d.abort(q, MSGQ_ABORT_RECEIVERS))),
                ("abort s", show(&d.abort(q, MSGQ_ABORT_SENDERS))),
                ("abort rs", show(&d.abort(q, 3))),
                ("purge", show(&d.purge(q))),
            ];
            for (what, r) in res {
                out.push_str(&format!("{name} {what} {r}\n"));
            }
        }
        write_fd(w, &out);
    });
    let out = read_all(fd);
    t.eq("child", reap(pid), None);
    let eacces = ename(libc::EACCES);
    let einval = ename(libc::EINVAL);
    let want: Vec<(&str, &str, String)> = vec![
        ("600", "snd", eacces.clone()),
        ("600", "overwrite", eacces.clone()),
        ("600", "broadcast", eacces.clone()),
        ("600", "urgent", eacces.clone()),
        ("600", "peek", eacces.clone()),
        ("600", "abort 0", einval.clone()),
        ("600", "abort r", eacces.clone()),
        ("600", "abort s", eacces.clone()),
        ("600", "abort rs", eacces.clone()),
        ("600", "purge", eacces.clone()),
        ("622", "snd", "ok 0".into()),
        ("622", "overwrite", eacces.clone()),
        ("622", "broadcast", "ok 0".into()),
        ("622", "urgent", "ok 0".into()),
        ("622", "peek", eacces.clone()),
        ("622", "abort 0", einval.clone()),
        ("622", "abort r", "ok 0".into()),
        ("622", "abort s", eacces.clone()),
        ("622", "abort rs", eacces.clone()),
        ("622", "purge", eacces.clone()),
        ("644", "snd", eacces.clone()),
        ("644", "overwrite", eacces.clone()),
        ("644", "broadcast", eacces.clone()),
        ("644", "urgent", eacces.clone()),
        ("644", "peek", got_show(&ok(1, "root"))),
        ("644", "abort 0", einval.clone()),
        ("644", "abort r", eacces.clone()),
        ("644", "abort s", "ok 0".into()),
        ("644", "abort rs", eacces.clone()),
        ("644", "purge", "ok 1".into()),
    ];
    let lines: Vec<&str> = out.lines().collect();
    t.eq("child's result count", lines.len(), want.len());
    for (line, (q, what, w)) in lines.iter().zip(want) {
        t.eq(
            &format!("uid 1000, queue {q}: {what}"),
            line.to_string(),
            format!("{q} {what} {w}"),
        );
    }
    t.eq("0600 untouched", d.qnum(q600), 1);
    t.eq("0622: root's and three sends", d.qnum(q622), 4);
    t.eq("0644 purged", d.qnum(q644), 0);
    for q in [q600, q622, q644] {
        d.rm(q);
    }
}

fn main() {
    let d = Dev::open();
    if let Err(e) = d.0.reset() {
        println!("FAIL MSGQ_RESET: {}", ename(e));
    }
    let mut t = T {
        passed: 0,
        failed: 0,
        case: "",
    };
    let start = Instant::now();
    // The permission case forks: it runs first, before any thread exists.
    case_perms(&mut t, &d);
    case_einval(&mut t, &d);
    case_timeouts(&mut t, &d);
    case_urgent(&mut t, &d);
    case_overwrite(&mut t, &d);
    case_broadcast(&mut t, &d);
    case_peek(&mut t, &d);
    case_purge(&mut t, &d);
    case_abort(&mut t, &d);
    case_eidrm(&mut t, &d);
    case_eintr(&mut t, &d);
    case_timeout_race(&mut t, &d);
    println!(
        "kmod_ext: {} passed, {} failed ({:.1} s)",
        t.passed,
        t.failed,
        start.elapsed().as_secs_f64()
    );
    std::process::exit(i32::from(t.failed > 0));
}
