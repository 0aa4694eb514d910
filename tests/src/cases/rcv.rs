//! §8 cases 44–75: msgrcv (selection, truncation, faults, hand-off, blocking, MSG_COPY).

use crate::ctx::{Child, Ctx};
use crate::harness::Case;
use crate::mem;
use crate::procs::{self, Creds};
use crate::trace::{self, res, unit};
use msgq_core::abi::*;
use msgq_core::limits::Sysctl;

const STOP_RMID: &str = "the kernel restarts a stopped msgrcv from scratch on SIGCONT (new lookup → EINVAL); a userspace futex waiter resumes and sees the removal (EIDRM), spec §9";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("s08-044-rcv-arg-checks", c044),
        Case::new("s08-045-rcv-bad-id-bad-buffer", c045),
        Case::new("s08-046-rcv-u1000-no-read", c046),
        Case::new("s08-047-rcv-empty-nowait", c047),
        Case::new("s08-048-rcv-negative-types", c048),
        Case::new("s08-049-rcv-except", c049),
        Case::new("s08-050-rcv-except-type0", c050),
        Case::new("s08-051-rcv-except-negative", c051),
        Case::new("s08-052-rcv-e2big-first-match", c052),
        Case::new("s08-053-rcv-noerror-truncates", c053),
        Case::new("s08-054-rcv-size0", c054),
        Case::new("s08-055-rcv-efault-loses-message", c055),
        Case::new("s08-056-rcv-updates", c056),
        Case::new("s08-057-rcv-thread-lrpid-tid", c057),
        Case::new("s08-058-rcv-fifo-receivers", c058),
        Case::new("s08-059-rcv-typed-receiver-skipped", c059),
        Case::new("s08-060-rcv-blocked-too-small", c060),
        Case::new("s08-061-rcv-e2big-then-noerror", c061),
        Case::new("s08-062-rcv-blocked-negative", c062),
        Case::new("s08-063-rcv-blocked-except", c063),
        Case::new("s08-064-rcv-blocked-sigusr1-restart", c064),
        Case::new("s08-065-rcv-stop-cont-transparent", c065),
        Case::new("s08-066-rcv-blocked-rmid", c066),
        Case::new("s08-067-rcv-stop-rmid-cont", c067).diverge(STOP_RMID, &[("receiver:rcv", "EIDRM")]),
        Case::new("s08-068-rcv-blocked-perm-revoked", c068),
        Case::new("s08-069-copy-needs-nowait", c069),
        Case::new("s08-070-copy-except", c070),
        Case::new("s08-071-copy-reads-buffer-first", c071),
        Case::new("s08-072-copy-enosys", c072).note("this kernel has CONFIG_CHECKPOINT_RESTORE, so the ENOSYS path cannot be observed; checked that MSG_COPY is supported on both"),
        Case::new("s08-073-copy-by-index", c073),
        Case::new("s08-074-copy-e2big-noerror-einval", c074),
        Case::new("s08-075-copy-msgmax-lowered", c075),
        Case::new("ex-handoff-efault-loses-message", handoff_efault),
    ]
}

/// Starts a receiver child blocked in `msgrcv(id, sz, typ, flg)` (`sel = (sz, typ, flg)`);
/// it records `rcv`.
pub fn receiver(
    ctx: &mut Ctx,
    name: &str,
    id: i32,
    sel: (usize, i64, i32),
    creds: Option<Creds>,
    sigusr1: bool,
) -> Child {
    let c = ctx.spawn(name, creds, move |c| {
        if sigusr1 {
            procs::install_sigusr1(true);
        }
        let r = c.rcv(id, sel.0, sel.1, sel.2);
        c.rec("rcv", trace::msg(&r));
    });
    ctx.wait_blocked(&c);
    c
}

fn fill(ctx: &mut Ctx, id: i32, msgs: &[(i64, &[u8])]) {
    for (t, m) in msgs {
        ctx.snd(id, *t, m, IPC_NOWAIT).expect("setup: send");
    }
}

fn c044(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    fill(ctx, id, &[(1, b"hello")]);
    let r = ctx.rcv(-1, 10, 0, IPC_NOWAIT);
    ctx.expect("negative-id", trace::msg(&r), "EINVAL");
    let r = ctx.rcv(id, usize::MAX, 0, IPC_NOWAIT);
    ctx.expect("size-max", trace::msg(&r), "EINVAL");
    let r = ctx.rcv(id, i64::MAX as usize + 1, 0, IPC_NOWAIT | MSG_NOERROR);
    ctx.expect("long-max+1", trace::msg(&r), "EINVAL");
    let r = ctx.rcv(id, i64::MAX as usize, 0, IPC_NOWAIT | MSG_NOERROR);
    ctx.expect("long-max-noerror", trace::msg(&r), "t=1 'hello'");
}

fn c045(ctx: &mut Ctx) {
    // SAFETY: an unmapped buffer; the call must fail before touching it.
    let r = unsafe { ctx.b.msgrcv(12345, mem::unmapped(), 10, 0, IPC_NOWAIT) };
    ctx.expect("unmapped", res(&r), "EINVAL");
    let mut canary = [0xAAu8; 32];
    // SAFETY: a 32-byte buffer, msgsz 24.
    let r = unsafe {
        ctx.b
            .msgrcv(12345, canary.as_mut_ptr().cast(), 24, 0, IPC_NOWAIT)
    };
    ctx.expect("canary", res(&r), "EINVAL");
    ctx.expect("untouched", canary.iter().all(|b| *b == 0xAA), "true");
    // SAFETY: as above, read-only page.
    let r = unsafe { ctx.b.msgrcv(12345, mem::read_only(0), 10, 0, 0) };
    ctx.expect("read-only", res(&r), "EINVAL");
}

fn c046(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o222);
    fill(ctx, id, &[(1, b"x")]);
    let e = ctx.new_queue(0o222);
    ctx.as_u1000("u1000", move |c| {
        let r = c.rcv(id, 10, 0, IPC_NOWAIT);
        c.expect("rcv", trace::msg(&r), "EACCES");
        let r = c.rcv(e, 10, 0, IPC_NOWAIT);
        c.expect("rcv-empty", trace::msg(&r), "EACCES");
        let r = c.rcv(e, 10, 0, 0);
        c.expect("rcv-empty-blocking", trace::msg(&r), "EACCES");
    });
    ctx.expect_q("q", id, 1, 1);
}

fn c047(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let r = ctx.rcv(id, 10, 0, IPC_NOWAIT);
    ctx.expect("rcv", trace::msg(&r), "ENOMSG");
    fill(ctx, id, &[(2, b"x")]);
    let r = ctx.rcv(id, 10, 1, IPC_NOWAIT);
    ctx.expect("rcv-type1", trace::msg(&r), "ENOMSG");
}

fn c048(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    fill(
        ctx,
        id,
        &[
            (5, b"a"),
            (3, b"b"),
            (7, b"c"),
            (3, b"d"),
            (1, b"e"),
            (2, b"f"),
        ],
    );
    for (i, (t, want)) in [
        (-4, "t=1 'e'"),
        (-4, "t=2 'f'"),
        (-4, "t=3 'b'"),
        (i64::MIN, "t=3 'd'"),
        (-1, "ENOMSG"),
    ]
    .iter()
    .enumerate()
    {
        let r = ctx.rcv(id, 10, *t, IPC_NOWAIT);
        ctx.expect(&format!("rcv{i}({t})"), trace::msg(&r), want);
    }
    ctx.expect_q("q", id, 2, 2);
}

fn c049(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    fill(ctx, id, &[(5, b"a"), (5, b"b"), (7, b"c"), (6, b"d")]);
    let r = ctx.rcv(id, 10, 5, IPC_NOWAIT | MSG_EXCEPT);
    ctx.expect("except5", trace::msg(&r), "t=7 'c'");
    let r = ctx.rcv(id, 10, 5, IPC_NOWAIT | MSG_EXCEPT);
    ctx.expect("except5-again", trace::msg(&r), "t=6 'd'");
    let r = ctx.rcv(id, 10, 5, IPC_NOWAIT | MSG_EXCEPT);
    ctx.expect("all5", trace::msg(&r), "ENOMSG");
}

fn c050(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    fill(ctx, id, &[(3, b"a"), (4, b"b")]);
    let r = ctx.rcv(id, 10, 0, IPC_NOWAIT | MSG_EXCEPT);
    ctx.expect("rcv", trace::msg(&r), "t=3 'a'");
}

fn c051(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    fill(ctx, id, &[(5, b"a"), (2, b"b"), (1, b"c"), (2, b"d")]);
    let r = ctx.rcv(id, 10, -2, IPC_NOWAIT | MSG_EXCEPT);
    ctx.expect("except-2", trace::msg(&r), "t=1 'c'");
    let r = ctx.rcv(id, 10, -2, IPC_NOWAIT | MSG_EXCEPT);
    ctx.expect("except-2-again", trace::msg(&r), "t=2 'b'");
    let r = ctx.rcv(id, 10, -2, IPC_NOWAIT);
    ctx.expect("plain-2", trace::msg(&r), "t=2 'd'");
}

fn c052(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    fill(ctx, id, &[(9, &trace::abc(50)), (9, &trace::abc(5))]);
    let r = ctx.rcv(id, 10, 9, IPC_NOWAIT);
    ctx.expect("rcv", trace::msg(&r), "E2BIG");
    ctx.expect_q("q", id, 2, 55);
    let r = ctx.rcv(id, 10, 0, IPC_NOWAIT);
    ctx.expect("rcv-any", trace::msg(&r), "E2BIG");
    let r = ctx.rcv(id, 10, -9, IPC_NOWAIT);
    ctx.expect("rcv-neg", trace::msg(&r), "E2BIG");
    ctx.rec_stat("stat", id);
}

fn c053(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    fill(ctx, id, &[(9, &trace::abc(50)), (9, &trace::abc(5))]);
    let r = ctx.rcv(id, 10, 9, IPC_NOWAIT | MSG_NOERROR);
    ctx.expect(
        "rcv",
        trace::msg(&r),
        &format!("t=9 {}", trace::text(&trace::abc(10))),
    );
    ctx.expect_q("q", id, 1, 5);
}

fn c054(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    fill(ctx, id, &[(4, b"four")]);
    let r = ctx.rcv(id, 0, 0, IPC_NOWAIT);
    ctx.expect("sz0", trace::msg(&r), "E2BIG");
    ctx.expect_q("q1", id, 1, 4);
    let r = ctx.rcv(id, 0, 0, IPC_NOWAIT | MSG_NOERROR);
    ctx.expect("sz0-noerror", trace::msg(&r), "t=4 ''");
    ctx.expect_q("q2", id, 0, 0);
}

fn c055(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    fill(ctx, id, &[(1, b"lost"), (2, b"gone"), (3, b"keep")]);
    let p = mem::edge(8);
    // SAFETY: 8 writable bytes then a fault; the implementation must report EFAULT.
    let r = unsafe { ctx.b.msgrcv(id, p, 10, 0, IPC_NOWAIT) };
    ctx.expect("rcv-text-fault", res(&r), "EFAULT");
    ctx.expect(
        "mtype-written",
        i64::from_ne_bytes(mem::peek(p, 8).try_into().unwrap()),
        "1",
    );
    ctx.expect_q("q1", id, 2, 8);
    // SAFETY: a read-only page: the mtype write faults.
    let r = unsafe { ctx.b.msgrcv(id, mem::read_only(0), 10, 0, IPC_NOWAIT) };
    ctx.expect("rcv-read-only", res(&r), "EFAULT");
    ctx.expect_q("q2", id, 1, 4);
    let d = ctx.stat(id).expect("stat");
    ctx.expect("lrpid", ctx.pid_class(d.msg_lrpid), "self");
    let r = ctx.rcv(id, 10, 0, IPC_NOWAIT);
    ctx.expect("rcv", trace::msg(&r), "t=3 'keep'");
}

fn c056(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    fill(ctx, id, &[(1, b"0123456789"), (2, b"abc")]);
    ctx.rec_stat("before", id);
    let r = ctx.rcv(id, 4, 0, IPC_NOWAIT | MSG_NOERROR);
    ctx.expect("rcv-trunc", trace::msg(&r), "t=1 '0123'");
    let r = ctx.rcv(id, 100, 0, IPC_NOWAIT);
    ctx.expect("rcv", trace::msg(&r), "t=2 'abc'");
    let d = ctx.stat(id).expect("stat");
    ctx.expect("rtime", trace::time_class(d.msg_rtime), "now");
    ctx.expect("lrpid", ctx.pid_class(d.msg_lrpid), "self");
    ctx.expect(
        "q",
        format!("qnum={} cbytes={}", d.msg_qnum, d.msg_cbytes),
        "qnum=0 cbytes=0",
    );
    ctx.rec_stat("after", id);
    // Received by a child: lrpid names it.
    fill(ctx, id, &[(3, b"x")]);
    ctx.run_as("child", None, move |c| {
        let r = c.rcv(id, 10, 0, IPC_NOWAIT);
        c.rec("rcv", trace::msg(&r));
    });
    let d = ctx.stat(id).expect("stat");
    ctx.expect("lrpid-child", ctx.pid_class(d.msg_lrpid), "child");
    ctx.expect("lspid", ctx.pid_class(d.msg_lspid), "self");
}

fn c057(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let b = ctx.b;
    let pid = procs::getpid();
    let (tid, handed, blocked) = std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel();
        let h = s.spawn(move || {
            tx.send(procs::gettid()).unwrap();
            let c = Ctx::new(b, -1);
            c.rcv(id, 10, 0, 0)
        });
        let tid = rx.recv().unwrap();
        let blocked = procs::wait_state(pid, tid, 'S', std::time::Duration::from_secs(3));
        let c = Ctx::new(b, -1);
        c.snd(id, 1, b"handoff", IPC_NOWAIT).expect("send");
        (tid, h.join().unwrap(), blocked)
    });
    ctx.rec("thread:blocked", blocked);
    ctx.expect("thread:rcv", trace::msg(&handed), "t=1 'handoff'");
    ctx.expect("tid!=pid", tid != pid, "true");
    let d = ctx.stat(id).expect("stat");
    ctx.expect("handoff:lrpid==tid", d.msg_lrpid == tid, "true");
    ctx.expect("handoff:qnum", d.msg_qnum, "0");
    ctx.expect("handoff:rtime", trace::time_class(d.msg_rtime), "now");
    fill(ctx, id, &[(2, b"queued")]);
    let (r, tid2) = std::thread::scope(|s| {
        s.spawn(|| {
            let c = Ctx::new(b, -1);
            (c.rcv(id, 10, 0, IPC_NOWAIT), procs::gettid())
        })
        .join()
        .unwrap()
    });
    ctx.expect("queued:rcv", trace::msg(&r), "t=2 'queued'");
    let d = ctx.stat(id).expect("stat");
    ctx.expect("queued:lrpid==pid", d.msg_lrpid == pid, "true");
    ctx.expect("queued:tid!=pid", tid2 != pid, "true");
}

fn c058(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let r1 = receiver(ctx, "r1", id, (10, 0, 0), None, false);
    let r2 = receiver(ctx, "r2", id, (10, 0, 0), None, false);
    fill(ctx, id, &[(1, b"first"), (1, b"second")]);
    ctx.join(r1);
    ctx.join(r2);
    ctx.violation_if_not("r1:rcv", "t=1 'first'");
    ctx.violation_if_not("r2:rcv", "t=1 'second'");
    ctx.expect_q("q", id, 0, 0);
    let d = ctx.stat(id).expect("stat");
    ctx.expect("lrpid", ctx.pid_class(d.msg_lrpid), "r2");
}

fn c059(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let r2 = receiver(ctx, "r-type2", id, (10, 2, 0), None, false);
    let r1 = receiver(ctx, "r-type1", id, (10, 1, 0), None, false);
    fill(ctx, id, &[(1, b"one")]);
    ctx.join(r1);
    ctx.violation_if_not("r-type1:rcv", "t=1 'one'");
    ctx.still_blocked(&r2);
    ctx.expect_q("q", id, 0, 0);
    fill(ctx, id, &[(2, b"two")]);
    ctx.join(r2);
    ctx.violation_if_not("r-type2:rcv", "t=2 'two'");
}

fn c060(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let r = receiver(ctx, "receiver", id, (5, 0, 0), None, false);
    let s = ctx.snd(id, 1, &trace::abc(10), IPC_NOWAIT);
    ctx.expect("snd", unit(&s), "ok");
    ctx.join(r);
    ctx.violation_if_not("receiver:rcv", "E2BIG");
    ctx.expect_q("q", id, 1, 10);
}

fn c061(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let r1 = receiver(ctx, "r1", id, (5, 0, 0), None, false);
    let r2 = receiver(ctx, "r2", id, (5, 0, MSG_NOERROR), None, false);
    let s = ctx.snd(id, 1, &trace::abc(10), IPC_NOWAIT);
    ctx.expect("snd", unit(&s), "ok");
    ctx.join(r1);
    ctx.join(r2);
    ctx.violation_if_not("r1:rcv", "E2BIG");
    ctx.violation_if_not("r2:rcv", "t=1 'abcde'");
    ctx.expect_q("q", id, 0, 0);
}

fn c062(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let r = receiver(ctx, "receiver", id, (10, -3, 0), None, false);
    fill(ctx, id, &[(5, b"five")]);
    ctx.still_blocked(&r);
    ctx.expect_q("q1", id, 1, 4);
    fill(ctx, id, &[(2, b"two")]);
    ctx.join(r);
    ctx.violation_if_not("receiver:rcv", "t=2 'two'");
    ctx.expect_q("q2", id, 1, 4);
}

fn c063(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let r = receiver(ctx, "receiver", id, (10, 5, MSG_EXCEPT), None, false);
    fill(ctx, id, &[(5, b"five")]);
    ctx.still_blocked(&r);
    fill(ctx, id, &[(7, b"seven")]);
    ctx.join(r);
    ctx.violation_if_not("receiver:rcv", "t=7 'seven'");
    ctx.expect_q("q", id, 1, 4);
}

fn c064(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let r = receiver(ctx, "receiver", id, (10, 0, 0), None, true);
    ctx.kill(&r, libc::SIGUSR1);
    ctx.join(r);
    ctx.violation_if_not("receiver:rcv", "EINTR");
    // Nothing was lost or left behind: a later message is queued normally.
    fill(ctx, id, &[(1, b"later")]);
    ctx.expect_q("q", id, 1, 5);
}

fn c065(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let r = receiver(ctx, "receiver", id, (10, 0, 0), None, false);
    ctx.stop(&r);
    ctx.kill(&r, libc::SIGCONT);
    ctx.wait_blocked(&r);
    fill(ctx, id, &[(1, b"after")]);
    ctx.join(r);
    ctx.violation_if_not("receiver:rcv", "t=1 'after'");
    ctx.expect_q("q", id, 0, 0);
}

fn c066(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let r = receiver(ctx, "receiver", id, (10, 0, 0), None, false);
    let x = ctx.rmid(id);
    ctx.rec("rmid", res(&x));
    ctx.join(r);
    ctx.violation_if_not("receiver:rcv", "EIDRM");
}

fn c067(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let r = receiver(ctx, "receiver", id, (10, 0, 0), None, false);
    ctx.stop(&r);
    let x = ctx.rmid(id);
    ctx.rec("rmid", res(&x));
    ctx.kill(&r, libc::SIGCONT);
    ctx.join(r);
    ctx.violation_if_not("receiver:rcv", "EINVAL");
}

fn c068(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o666);
    let denied = receiver(ctx, "u1000", id, (10, 0, 0), Some(Creds::user(1000)), false);
    let group0 = Creds {
        uid: 1001,
        gid: 1001,
        groups: vec![0],
    };
    let kept = receiver(ctx, "u1001-group0", id, (10, 0, 0), Some(group0), false);
    let r = ctx.set_mode(id, 0o660);
    ctx.rec("set-0660", res(&r));
    ctx.join(denied);
    ctx.violation_if_not("u1000:rcv", "EACCES");
    ctx.still_blocked(&kept);
    fill(ctx, id, &[(1, b"next")]);
    ctx.join(kept);
    ctx.violation_if_not("u1001-group0:rcv", "t=1 'next'");
    ctx.expect_q("q", id, 0, 0);
}

fn c069(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    fill(ctx, id, &[(1, b"x")]);
    let r = ctx.rcv(id, 10, 0, MSG_COPY);
    ctx.expect("copy-blocking", trace::msg(&r), "EINVAL");
    let r = ctx.rcv(12345, 10, 0, MSG_COPY);
    ctx.expect("copy-blocking-bad-id", trace::msg(&r), "EINVAL");
}

fn c070(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    fill(ctx, id, &[(1, b"x")]);
    let r = ctx.rcv(id, 10, 0, MSG_COPY | IPC_NOWAIT | MSG_EXCEPT);
    ctx.expect("copy-except", trace::msg(&r), "EINVAL");
    let r = ctx.rcv(12345, 10, 0, MSG_COPY | IPC_NOWAIT | MSG_EXCEPT);
    ctx.expect("copy-except-bad-id", trace::msg(&r), "EINVAL");
}

fn c071(ctx: &mut Ctx) {
    let p = mem::edge(8);
    // SAFETY: 8 accessible bytes then a fault; 100 bytes would be read.
    let r = unsafe { ctx.b.msgrcv(12345, p, 100, 0, MSG_COPY | IPC_NOWAIT) };
    ctx.expect("copy-unreadable-bad-id", res(&r), "EFAULT");
    // SAFETY: as above; the whole buffer is unmapped.
    let r = unsafe {
        ctx.b
            .msgrcv(12345, mem::unmapped(), 100, 0, MSG_COPY | IPC_NOWAIT)
    };
    ctx.expect("copy-unmapped-bad-id", res(&r), "EFAULT");
    // SAFETY: as above; with msgsz 0 only the mtype would be... nothing is probed.
    let r = unsafe {
        ctx.b
            .msgrcv(12345, mem::unmapped(), 0, 0, MSG_COPY | IPC_NOWAIT)
    };
    ctx.rec("copy-sz0-unmapped-bad-id", res(&r));
    // A read-only buffer passes the probe; the lookup then fails.
    // SAFETY: a readable page of 4096 bytes.
    let r = unsafe {
        ctx.b
            .msgrcv(12345, mem::read_only(0), 100, 0, MSG_COPY | IPC_NOWAIT)
    };
    ctx.expect("copy-read-only-bad-id", res(&r), "EINVAL");
}

fn c072(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    fill(ctx, id, &[(1, b"x")]);
    let r = ctx.rcv(id, 10, 0, MSG_COPY | IPC_NOWAIT);
    ctx.rec("copy", trace::msg(&r));
    ctx.expect("supported", r.is_ok(), "true");
}

fn c073(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    fill(ctx, id, &[(7, b"A"), (3, b"B")]);
    for (i, want) in [
        (0, "t=7 'A'"),
        (1, "t=3 'B'"),
        (2, "ENOMSG"),
        (-1, "ENOMSG"),
    ] {
        let r = ctx.rcv(id, 10, i, MSG_COPY | IPC_NOWAIT);
        ctx.expect(&format!("copy{i}"), trace::msg(&r), want);
    }
    let d = ctx.stat(id).expect("stat");
    ctx.expect(
        "after",
        format!(
            "qnum={} rtime={} lrpid={}",
            d.msg_qnum, d.msg_rtime, d.msg_lrpid
        ),
        "qnum=2 rtime=0 lrpid=0",
    );
    let r = ctx.rcv(id, 10, 0, IPC_NOWAIT);
    ctx.expect("rcv", trace::msg(&r), "t=7 'A'");
}

fn c074(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    fill(ctx, id, &[(1, &trace::abc(20))]);
    let r = ctx.rcv(id, 10, 0, MSG_COPY | IPC_NOWAIT);
    ctx.expect("copy-small", trace::msg(&r), "E2BIG");
    let r = ctx.rcv(id, 10, 0, MSG_COPY | IPC_NOWAIT | MSG_NOERROR);
    ctx.expect("copy-small-noerror", trace::msg(&r), "EINVAL");
    let r = ctx.rcv(id, 20, 0, MSG_COPY | IPC_NOWAIT | MSG_NOERROR);
    ctx.expect(
        "copy-exact",
        trace::msg(&r),
        &format!("t=1 {}", trace::text(&trace::abc(20))),
    );
    ctx.expect_q("q", id, 1, 20);
}

fn c075(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    fill(ctx, id, &[(1, &trace::abc(50))]);
    let r = ctx.set_sysctl(Sysctl::Msgmax, 10);
    ctx.expect("set-msgmax", unit(&r), "ok");
    let r = ctx.rcv(id, 100, 0, MSG_COPY | IPC_NOWAIT);
    ctx.expect("copy", trace::msg(&r), "EINVAL");
    let r = ctx.rcv(id, 100, 0, IPC_NOWAIT);
    ctx.expect(
        "rcv",
        trace::msg(&r),
        &format!("t=1 {}", trace::text(&trace::abc(50))),
    );
}

/// §3.1 step 7: a message handed to a blocked receiver whose buffer faults is lost too.
fn handoff_efault(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    for (name, ok) in [("text-fault", 8usize), ("mtype-fault", 0)] {
        let c = ctx.spawn(name, None, move |c| {
            let p = if ok == 0 {
                mem::read_only(0)
            } else {
                mem::edge(ok)
            };
            // SAFETY: the buffer faults where the spec says; the call must return EFAULT.
            let r = unsafe { c.b.msgrcv(id, p, 10, 0, 0) };
            c.rec("rcv", res(&r));
        });
        ctx.wait_blocked(&c);
        let s = ctx.snd(id, 1, b"doomed", IPC_NOWAIT);
        ctx.expect(&format!("{name}:snd"), unit(&s), "ok");
        ctx.join(c);
        ctx.violation_if_not(&format!("{name}:rcv"), "EFAULT");
        ctx.expect_q(&format!("{name}:q"), id, 0, 0);
    }
    let d = ctx.stat(id).expect("stat");
    ctx.expect("lrpid", ctx.pid_class(d.msg_lrpid), "mtype-fault");
}
