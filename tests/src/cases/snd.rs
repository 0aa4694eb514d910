//! §8 cases 23–43: msgsnd.

use crate::ctx::Ctx;
use crate::harness::Case;
use crate::mem;
use crate::procs::{self, Creds};
use crate::trace::{self, res, unit};
use msgq_core::abi::*;
use msgq_core::limits::Sysctl;

const STOP_RMID: &str = "the kernel restarts a stopped msgsnd/msgrcv from scratch on SIGCONT (new lookup → EINVAL); a userspace futex waiter resumes and sees the removal (EIDRM), spec §9";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("s08-023-snd-efault-before-einval", c023),
        Case::new("s08-024-snd-negative-id", c024),
        Case::new("s08-025-snd-msgmax", c025),
        Case::new("s08-026-snd-size-max", c026),
        Case::new("s08-027-snd-mtype-range", c027),
        Case::new("s08-028-snd-zero-size-garbage-text", c028),
        Case::new("s08-029-snd-text-efault-before-lookup", c029),
        Case::new("s08-030-snd-stale-id", c030),
        Case::new("s08-031-snd-u1000-no-write", c031),
        Case::new("s08-032-snd-count-limited-by-qbytes", c032),
        Case::new("s08-033-snd-bytes-and-count", c033),
        Case::new("s08-034-snd-larger-than-qbytes", c034),
        Case::new("s08-035-snd-qbytes-zero", c035),
        Case::new("s08-036-snd-no-handoff-bypass", c036),
        Case::new("s08-037-snd-blocked-sigusr1-restart", c037),
        Case::new("s08-038-snd-blocked-rmid", c038),
        Case::new("s08-039-snd-stop-rmid-cont", c039)
            .diverge(STOP_RMID, &[("sender:snd", "EIDRM")]),
        Case::new("s08-040-snd-blocked-perm-revoked", c040),
        Case::new("s08-041-snd-blocked-qbytes-raised", c041),
        Case::new("s08-042-snd-from-thread", c042),
        Case::new("s08-043-snd-msgmax-zero", c043),
        Case::new("ex-default-count-limit", count_limit),
        Case::new("ex-oversize-sender-released-by-set", oversize_sender),
        Case::new("ex-msgmnb-sysctl-wakes-nobody", msgmnb_wakes_nobody),
        Case::new("ex-qbytes-below-contents", qbytes_below_contents),
    ]
}

/// A queue with qbytes 10 holding one 10-byte message (type 1).
pub fn full_queue(ctx: &mut Ctx, mode: i32) -> i32 {
    let id = ctx.new_queue(mode);
    ctx.set_qbytes(id, 10).expect("setup: qbytes");
    ctx.snd(id, 1, &trace::abc(10), IPC_NOWAIT)
        .expect("setup: fill");
    id
}

fn c023(ctx: &mut Ctx) {
    // SAFETY: the pointer is unmapped; the call must fail with EFAULT without a fault.
    let r = unsafe { ctx.b.msgsnd(-1, mem::unmapped(), 4, 0) };
    ctx.expect("unmapped", unit(&r), "EFAULT");
    // SAFETY: as above, a page that was unmapped.
    let r = unsafe { ctx.b.msgsnd(-1, mem::munmapped(), 0, 0) };
    ctx.expect("munmapped-sz0", unit(&r), "EFAULT");
    // SAFETY: NULL is never readable.
    let r = unsafe { ctx.b.msgsnd(-1, std::ptr::null(), 0, 0) };
    ctx.expect("null", unit(&r), "EFAULT");
    // mtype cut by the page end (4 of its 8 bytes readable).
    // SAFETY: `edge(4)` has 4 readable bytes and then a fault.
    let r = unsafe { ctx.b.msgsnd(-1, mem::edge(4), 0, 0) };
    ctx.expect("half-mtype", unit(&r), "EFAULT");
}

fn c024(ctx: &mut Ctx) {
    let r = ctx.snd(-1, 1, b"abc", IPC_NOWAIT);
    ctx.expect("snd", unit(&r), "EINVAL");
    let r = ctx.snd(i32::MIN, 1, b"abc", IPC_NOWAIT);
    ctx.expect("snd-int-min", unit(&r), "EINVAL");
}

fn c025(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let r = ctx.snd_sz(id, 1, 8193, IPC_NOWAIT);
    ctx.expect("msgmax+1", unit(&r), "EINVAL");
    let r = ctx.snd_sz(id, 1, 8192, IPC_NOWAIT);
    ctx.expect("msgmax", unit(&r), "ok");
    ctx.expect_q("q", id, 1, 8192);
    let r = ctx.rcv(id, 8192, 0, IPC_NOWAIT);
    ctx.expect(
        "rcv",
        trace::msg(&r),
        &format!("t=1 {}", trace::text(&trace::abc(8192))),
    );
}

fn c026(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let r = ctx.snd_sz(id, 1, usize::MAX, IPC_NOWAIT);
    ctx.expect("size-max", unit(&r), "EINVAL");
    let r = ctx.snd_sz(id, 1, i64::MAX as usize, IPC_NOWAIT);
    ctx.expect("long-max", unit(&r), "EINVAL");
    let r = ctx.snd_sz(-1, 1, usize::MAX, IPC_NOWAIT);
    ctx.expect("size-max-bad-id", unit(&r), "EINVAL");
}

fn c027(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    for (n, t) in [("mtype0", 0), ("mtype-1", -1), ("mtype-min", i64::MIN)] {
        let r = ctx.snd(id, t, b"x", IPC_NOWAIT);
        ctx.expect(n, unit(&r), "EINVAL");
    }
    let r = ctx.snd(id, i64::MAX, b"max", IPC_NOWAIT);
    ctx.expect("mtype-max", unit(&r), "ok");
    let r = ctx.rcv(id, 10, i64::MAX, IPC_NOWAIT);
    ctx.expect("rcv-max", trace::msg(&r), &format!("t={} 'max'", i64::MAX));
    // mtype is checked after the size: a bad mtype with a huge size is EINVAL either way.
    let r = ctx.snd(-1, 0, b"x", IPC_NOWAIT);
    ctx.expect("mtype0-bad-id", unit(&r), "EINVAL");
}

fn c028(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let p = mem::edge_with(&3i64.to_ne_bytes());
    // SAFETY: 8 readable bytes (mtype) then a fault; msgsz 0 must not read the text.
    let r = unsafe { ctx.b.msgsnd(id, p, 0, IPC_NOWAIT) };
    ctx.expect("snd", unit(&r), "ok");
    let r = ctx.rcv(id, 10, 0, IPC_NOWAIT);
    ctx.expect("rcv", trace::msg(&r), "t=3 ''");
}

fn c029(ctx: &mut Ctx) {
    let p = mem::edge_with(&1i64.to_ne_bytes());
    // SAFETY: 8 readable bytes then a fault; the implementation must report EFAULT.
    let r = unsafe { ctx.b.msgsnd(12345, p, 10, IPC_NOWAIT) };
    ctx.expect("text-fault-bad-id", unit(&r), "EFAULT");
    // SAFETY: as above, with no text to read.
    let r = unsafe { ctx.b.msgsnd(12345, p, 0, IPC_NOWAIT) };
    ctx.expect("sz0-bad-id", unit(&r), "EINVAL");
    let id = ctx.new_queue(0o600);
    // SAFETY: as above.
    let r = unsafe { ctx.b.msgsnd(id, p, 10, IPC_NOWAIT) };
    ctx.expect("text-fault-good-id", unit(&r), "EFAULT");
    ctx.expect_q("q", id, 0, 0);
    // A text that faults half-way.
    let p = mem::edge_with(&[1, 0, 0, 0, 0, 0, 0, 0, b'a', b'b']);
    // SAFETY: 10 readable bytes then a fault.
    let r = unsafe { ctx.b.msgsnd(id, p, 2, IPC_NOWAIT) };
    ctx.expect("text-fits", unit(&r), "ok");
    // SAFETY: as above; 3 text bytes requested, 2 readable.
    let r = unsafe { ctx.b.msgsnd(id, p, 3, IPC_NOWAIT) };
    ctx.expect("text-partial", unit(&r), "EFAULT");
    ctx.expect_q("q2", id, 1, 2);
}

fn c030(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    ctx.rmid(id).expect("setup");
    let r = ctx.snd(id, 1, b"x", IPC_NOWAIT);
    ctx.expect("snd", unit(&r), "EINVAL");
    let id2 = ctx.new_queue(0o600);
    ctx.rec("new", id2);
    let r = ctx.snd(id, 1, b"x", IPC_NOWAIT);
    ctx.expect("snd-after-new", unit(&r), "EINVAL");
}

fn c031(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o444);
    ctx.as_u1000("u1000", move |c| {
        let r = c.snd(id, 1, b"x", IPC_NOWAIT);
        c.expect("snd", unit(&r), "EACCES");
        let r = c.snd(id, 1, b"x", 0);
        c.expect("snd-blocking", unit(&r), "EACCES");
    });
    ctx.expect_q("q", id, 0, 0);
}

fn c032(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    ctx.set_qbytes(id, 3).expect("setup");
    for i in 0..3 {
        let r = ctx.snd(id, 1, b"", IPC_NOWAIT);
        ctx.expect(&format!("snd{i}"), unit(&r), "ok");
    }
    let r = ctx.snd(id, 1, b"", IPC_NOWAIT);
    ctx.expect("snd3", unit(&r), "EAGAIN");
    ctx.expect_q("q", id, 3, 0);
}

fn c033(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    ctx.set_qbytes(id, 3).expect("setup");
    let r = ctx.snd(id, 1, b"abc", IPC_NOWAIT);
    ctx.expect("snd3B", unit(&r), "ok");
    let r = ctx.snd(id, 1, b"", IPC_NOWAIT);
    ctx.expect("snd0B", unit(&r), "ok");
    let r = ctx.snd(id, 1, b"x", IPC_NOWAIT);
    ctx.expect("snd1B", unit(&r), "EAGAIN");
    let r = ctx.snd(id, 1, b"", IPC_NOWAIT);
    ctx.expect("snd0B-again", unit(&r), "ok");
    let r = ctx.snd(id, 1, b"", IPC_NOWAIT);
    ctx.expect("snd0B-count-full", unit(&r), "EAGAIN");
}

fn c034(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    ctx.set_qbytes(id, 10).expect("setup");
    let r = ctx.snd(id, 1, &trace::abc(30), IPC_NOWAIT);
    ctx.expect("snd30", unit(&r), "EAGAIN");
    let r = ctx.snd(id, 1, &trace::abc(10), IPC_NOWAIT);
    ctx.expect("snd10", unit(&r), "ok");
}

fn c035(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let r = ctx.set_qbytes(id, 0);
    ctx.expect("set-qbytes0", res(&r), "0");
    let r = ctx.snd(id, 1, b"", IPC_NOWAIT);
    ctx.expect("snd", unit(&r), "EAGAIN");
}

fn c036(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    ctx.set_qbytes(id, 0).expect("setup");
    let r = ctx.spawn("receiver", None, move |c| {
        let m = c.rcv(id, 100, 0, 0);
        c.rec("rcv", trace::msg(&m));
    });
    ctx.wait_blocked(&r);
    let s = ctx.snd(id, 1, b"", IPC_NOWAIT);
    ctx.expect("snd", unit(&s), "EAGAIN");
    let s = ctx.snd(id, 1, b"x", IPC_NOWAIT);
    ctx.expect("snd1", unit(&s), "EAGAIN");
    ctx.still_blocked(&r);
    let x = ctx.rmid(id);
    ctx.rec("rmid", res(&x));
    ctx.join(r);
}

/// Starts a sender that blocks on the full queue `id` (5 bytes of type 2).
fn blocked_sender(
    ctx: &mut Ctx,
    id: i32,
    creds: Option<Creds>,
    sigusr1: bool,
) -> crate::ctx::Child {
    let s = ctx.spawn("sender", creds, move |c| {
        if sigusr1 {
            procs::install_sigusr1(true);
        }
        let r = c.snd(id, 2, b"hello", 0);
        c.rec("snd", unit(&r));
    });
    ctx.wait_blocked(&s);
    s
}

fn c037(ctx: &mut Ctx) {
    let id = full_queue(ctx, 0o600);
    let s = blocked_sender(ctx, id, None, true);
    ctx.kill(&s, libc::SIGUSR1);
    ctx.join(s);
    ctx.violation_if_not("sender:snd", "EINTR");
    ctx.expect_q("q", id, 1, 10);
}

fn c038(ctx: &mut Ctx) {
    let id = full_queue(ctx, 0o600);
    let s = blocked_sender(ctx, id, None, false);
    let r = ctx.rmid(id);
    ctx.rec("rmid", res(&r));
    ctx.join(s);
    ctx.violation_if_not("sender:snd", "EIDRM");
}

fn c039(ctx: &mut Ctx) {
    let id = full_queue(ctx, 0o600);
    let s = blocked_sender(ctx, id, None, false);
    ctx.stop(&s);
    let r = ctx.rmid(id);
    ctx.rec("rmid", res(&r));
    ctx.kill(&s, libc::SIGCONT);
    ctx.join(s);
    ctx.violation_if_not("sender:snd", "EINVAL");
}

fn c040(ctx: &mut Ctx) {
    let id = full_queue(ctx, 0o666);
    let s = blocked_sender(ctx, id, Some(Creds::user(1000)), false);
    let r = ctx.set_mode(id, 0o600);
    ctx.rec("set-0600", res(&r));
    ctx.still_blocked(&s);
    let m = ctx.rcv(id, 100, 0, IPC_NOWAIT);
    ctx.rec("rcv", trace::msg(&m));
    ctx.join(s);
    ctx.violation_if_not("sender:snd", "EACCES");
    ctx.expect_q("q", id, 0, 0);
}

fn c041(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    ctx.set_qbytes(id, 0).expect("setup");
    let s = blocked_sender(ctx, id, None, false);
    let r = ctx.set_qbytes(id, 100);
    ctx.rec("set-qbytes100", res(&r));
    ctx.join(s);
    ctx.violation_if_not("sender:snd", "ok");
    ctx.expect_q("q", id, 1, 5);
    ctx.rec_stat("stat", id);
}

fn c042(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let before = ctx.stat(id).expect("setup").msg_ctime;
    while trace::now() <= before {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The kernel's seconds are the coarse clock, up to a tick behind: let it catch up.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let b = ctx.b;
    let (r, tid) = std::thread::scope(|s| {
        s.spawn(|| {
            let c = Ctx::new(b, -1);
            (c.snd(id, 1, b"thread", IPC_NOWAIT), procs::gettid())
        })
        .join()
        .unwrap()
    });
    ctx.expect("snd", unit(&r), "ok");
    ctx.expect("tid!=pid", tid != procs::getpid(), "true");
    let d = ctx.stat(id).expect("stat");
    ctx.expect("lspid", ctx.pid_class(d.msg_lspid), "self");
    ctx.expect("stime", trace::time_class(d.msg_stime), "now");
    ctx.expect("ctime-unchanged", d.msg_ctime == before, "true");
    ctx.expect("rtime", d.msg_rtime, "0");
}

fn c043(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let r = ctx.set_sysctl(Sysctl::Msgmax, 0);
    ctx.expect("set-msgmax0", unit(&r), "ok");
    let r = ctx.snd(id, 1, b"", IPC_NOWAIT);
    ctx.expect("snd0", unit(&r), "ok");
    let r = ctx.snd(id, 1, b"x", IPC_NOWAIT);
    ctx.expect("snd1", unit(&r), "EINVAL");
    let i = ctx.info(0, IPC_INFO).map(|x| x.1.msgmax);
    ctx.expect("info-msgmax", res(&i), "0");
}

/// §2.1: at the default qbytes a queue holds at most 16384 messages, even empty ones.
fn count_limit(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let mut first_err = None;
    let mut n = 0;
    for _ in 0..16384 {
        match ctx.snd(id, 1, b"", IPC_NOWAIT) {
            Ok(()) => n += 1,
            Err(e) => {
                first_err = Some(e);
                break;
            }
        }
    }
    ctx.expect("sent", n, "16384");
    ctx.expect(
        "first-error",
        first_err.map(|e| e.name()).unwrap_or("none"),
        "none",
    );
    let r = ctx.snd(id, 1, b"", IPC_NOWAIT);
    ctx.expect("one-more", unit(&r), "EAGAIN");
    let i = ctx.info(0, MSG_INFO).map(|x| (x.1.msgmap, x.1.msgtql));
    ctx.expect("msg-info", format!("{i:?}"), "Ok((16384, 0))");
    let r = ctx.rcv(id, 0, 0, IPC_NOWAIT);
    ctx.expect("rcv", trace::msg(&r), "t=1 ''");
    let r = ctx.snd(id, 1, b"", IPC_NOWAIT);
    ctx.expect("fits-again", unit(&r), "ok");
}

/// §2.1: a message larger than qbytes blocks (never EINVAL) until qbytes is raised.
fn oversize_sender(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    ctx.set_qbytes(id, 10).expect("setup");
    let s = ctx.spawn("sender", None, move |c| {
        let r = c.snd(id, 1, &trace::abc(30), 0);
        c.rec("snd", unit(&r));
    });
    ctx.wait_blocked(&s);
    let r = ctx.set_qbytes(id, 20);
    ctx.expect("set-20", res(&r), "0");
    ctx.still_blocked(&s);
    let r = ctx.set_qbytes(id, 30);
    ctx.expect("set-30", res(&r), "0");
    ctx.join(s);
    ctx.violation_if_not("sender:snd", "ok");
    ctx.expect_q("q", id, 1, 30);
}

/// §2.4: changing the msgmnb sysctl wakes nobody (qbytes is per queue).
fn msgmnb_wakes_nobody(ctx: &mut Ctx) {
    let id = full_queue(ctx, 0o600);
    let s = blocked_sender(ctx, id, None, false);
    let r = ctx.set_sysctl(Sysctl::Msgmnb, 100000);
    ctx.expect("raise-msgmnb", unit(&r), "ok");
    ctx.still_blocked(&s);
    let q = ctx.stat(id).map(|d| d.msg_qbytes);
    ctx.expect("qbytes", res(&q), "10");
    let r = ctx.rmid(id);
    ctx.rec("rmid", res(&r));
    ctx.join(s);
    ctx.violation_if_not("sender:snd", "EIDRM");
}

/// §4.1: qbytes may be set below the current contents; sends then wait for the drain.
fn qbytes_below_contents(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    fill_n(ctx, id, &[b"0123456789", b"abc"]);
    let r = ctx.set_qbytes(id, 5);
    ctx.expect("set-5", res(&r), "0");
    ctx.expect_q("q", id, 2, 13);
    let r = ctx.snd(id, 1, b"", IPC_NOWAIT);
    ctx.expect("snd-empty", unit(&r), "EAGAIN");
    let r = ctx.rcv(id, 100, 0, IPC_NOWAIT);
    ctx.expect("rcv1", trace::msg(&r), "t=1 '0123456789'");
    let r = ctx.snd(id, 1, b"xyz", IPC_NOWAIT);
    ctx.expect("snd-3-over", unit(&r), "EAGAIN");
    let r = ctx.snd(id, 1, b"xy", IPC_NOWAIT);
    ctx.expect("snd-2-fits", unit(&r), "ok");
    ctx.expect_q("q2", id, 2, 5);
}

fn fill_n(ctx: &mut Ctx, id: i32, texts: &[&[u8]]) {
    for t in texts {
        ctx.snd(id, 1, t, IPC_NOWAIT).expect("setup: send");
    }
}
