//! Multi-process cases beyond §8: unrelated (exec'd) processes sharing queues, blocking
//! across processes, removal and signals while blocked, dead waiters, other uids.

use crate::cases::get::K;
use crate::cases::rcv::receiver;
use crate::ctx::Ctx;
use crate::harness::Case;
use crate::procs::{self, Creds};
use crate::trace::{self, res, unit};
use msgq_core::abi::*;

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("mp-exec-share-queue", exec_share),
        Case::new("mp-exec-blocked-receiver", exec_blocked_receiver),
        Case::new("mp-exec-blocked-sender", exec_blocked_sender),
        Case::new("mp-exec-other-uid", exec_other_uid),
        Case::new("mp-exec-sigusr1-while-blocked", exec_sigusr1),
        Case::new("mp-rmid-wakes-everyone", rmid_wakes_everyone),
        Case::new("mp-sigusr1-no-sa-restart", sigusr1_no_restart),
        Case::new("mp-other-uid-denied", other_uid_denied),
        Case::new("mp-set-qbytes-releases-to-receiver", set_qbytes_handoff),
        Case::new("mp-rcv-wakes-sender", rcv_wakes_sender),
        Case::new("mp-dead-receiver", dead_receiver).diverge_valkey(
            "valkey: a receiver killed while blocked keeps its place until its lease lapses \
             (10 s, docs/cluster.md): the message is handed to it and given back then",
            &[("q", "qnum=0 cbytes=0"), ("rcv", "ENOMSG")],
        ),
        Case::new("mp-dead-sender", dead_sender),
        Case::new("mp-sender-waits-until-it-fits", sender_waits_until_fit),
        Case::new("mp-snd-stop-cont-transparent", snd_stop_cont),
        Case::new("mp-receivers-served-oldest-first", receivers_oldest_first),
        Case::new("mp-stress-typed-streams", stress_typed),
        Case::new("mp-stress-conservation-under-signals", stress_signals),
    ]
}

fn exec_share(ctx: &mut Ctx) {
    let flg = IPC_CREAT | 0o666;
    let a = ctx.spawn_exec(
        "a",
        None,
        &[&format!("get:{K}:{flg}"), "snd:1:first:0", "snd:2:second:0"],
    );
    ctx.join(a);
    let b = ctx.spawn_exec(
        "b",
        None,
        &[&format!("get:{K}:0"), "rcv:100:0:0", "rcv:100:0:0", "stat"],
    );
    ctx.join(b);
    ctx.violation_if_not("b:rcv", "t=2 'second'");
    let d = ctx.stat(0).expect("stat");
    ctx.expect("lspid", ctx.pid_class(d.msg_lspid), "a");
    ctx.expect("lrpid", ctx.pid_class(d.msg_lrpid), "b");
    ctx.expect("qnum", d.msg_qnum, "0");
}

fn exec_blocked_receiver(ctx: &mut Ctx) {
    let id = ctx.get(K, IPC_CREAT | 0o600).expect("setup");
    let w = ctx.spawn_exec("worker", None, &[&format!("get:{K}:0"), "rcv:100:0:0"]);
    ctx.wait_blocked(&w);
    let r = ctx.snd(id, 3, b"to-worker", IPC_NOWAIT);
    ctx.expect("snd", unit(&r), "ok");
    ctx.join(w);
    ctx.violation_if_not("worker:rcv", "t=3 'to-worker'");
    let d = ctx.stat(id).expect("stat");
    ctx.expect("lrpid", ctx.pid_class(d.msg_lrpid), "worker");
    ctx.expect("qnum", d.msg_qnum, "0");
}

fn exec_blocked_sender(ctx: &mut Ctx) {
    let id = ctx.get(K, IPC_CREAT | 0o600).expect("setup");
    ctx.set_qbytes(id, 4).expect("setup");
    ctx.snd(id, 1, b"full", IPC_NOWAIT).expect("setup");
    let w = ctx.spawn_exec(
        "worker",
        None,
        &[&format!("get:{K}:0"), "snd:2:more:0", "stat"],
    );
    ctx.wait_blocked(&w);
    let r = ctx.rcv(id, 10, 0, IPC_NOWAIT);
    ctx.expect("rcv", trace::msg(&r), "t=1 'full'");
    ctx.join(w);
    ctx.violation_if_not("worker:snd", "ok");
    let r = ctx.rcv(id, 10, 0, IPC_NOWAIT);
    ctx.expect("rcv2", trace::msg(&r), "t=2 'more'");
}

fn exec_other_uid(ctx: &mut Ctx) {
    let private = ctx.get(K, IPC_CREAT | 0o600).expect("setup");
    let shared = ctx.get(K + 1, IPC_CREAT | 0o666).expect("setup");
    ctx.rec("ids", format!("{private},{shared}"));
    let flg = 0o600;
    let w = ctx.spawn_exec(
        "u1000",
        Some(Creds::user(1000)),
        &[
            &format!("get:{K}:{flg}"),
            &format!("get:{K}:0"),
            "snd:1:x:2048",
            "rcv:10:0:2048",
            "stat",
            "rmid",
        ],
    );
    ctx.join(w);
    ctx.violation_if_not("u1000:snd", "EACCES");
    ctx.violation_if_not("u1000:rmid", "EPERM");
    let w = ctx.spawn_exec(
        "u1000-shared",
        Some(Creds::user(1000)),
        &[
            &format!("get:{}:{}", K + 1, 0o666),
            "snd:1:hi:2048",
            "stat",
            "rcv:10:0:2048",
        ],
    );
    ctx.join(w);
    ctx.violation_if_not("u1000-shared:rcv", "t=1 'hi'");
}

fn exec_sigusr1(ctx: &mut Ctx) {
    let id = ctx.get(K, IPC_CREAT | 0o600).expect("setup");
    let w = ctx.spawn_exec(
        "worker",
        None,
        &["sigusr1", &format!("get:{K}:0"), "rcv:100:0:0", "stat"],
    );
    ctx.wait_blocked(&w);
    ctx.kill(&w, libc::SIGUSR1);
    ctx.join(w);
    ctx.violation_if_not("worker:rcv", "EINTR");
    ctx.snd(id, 1, b"after", IPC_NOWAIT).expect("send");
    ctx.expect_q("q", id, 1, 5);
}

fn rmid_wakes_everyone(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    ctx.set_qbytes(id, 4).expect("setup");
    ctx.snd(id, 1, b"full", IPC_NOWAIT).expect("setup");
    let mut kids = Vec::new();
    for i in 0..2 {
        let c = ctx.spawn(&format!("sender{i}"), None, move |c| {
            let r = c.snd(id, 2, b"x", 0);
            c.rec("snd", unit(&r));
        });
        ctx.wait_blocked(&c);
        kids.push(c);
    }
    for i in 0..2 {
        kids.push(receiver(
            ctx,
            &format!("receiver{i}"),
            id,
            (10, 9, 0),
            None,
            false,
        ));
    }
    let r = ctx.rmid(id);
    ctx.expect("rmid", res(&r), "0");
    for k in kids {
        ctx.join(k);
    }
    for n in [
        "sender0:snd",
        "sender1:snd",
        "receiver0:rcv",
        "receiver1:rcv",
    ] {
        ctx.violation_if_not(n, "EIDRM");
    }
}

fn sigusr1_no_restart(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let r = ctx.spawn("receiver", None, move |c| {
        procs::install_sigusr1(false);
        let r = c.rcv(id, 10, 0, 0);
        c.rec("rcv", trace::msg(&r));
    });
    ctx.wait_blocked(&r);
    ctx.kill(&r, libc::SIGUSR1);
    ctx.join(r);
    ctx.violation_if_not("receiver:rcv", "EINTR");
    ctx.set_qbytes(id, 0).expect("setup");
    let sn = ctx.spawn("sender", None, move |c| {
        procs::install_sigusr1(false);
        let r = c.snd(id, 1, b"x", 0);
        c.rec("snd", unit(&r));
    });
    ctx.wait_blocked(&sn);
    ctx.kill(&sn, libc::SIGUSR1);
    ctx.join(sn);
    ctx.violation_if_not("sender:snd", "EINTR");
    ctx.expect_q("q", id, 0, 0);
}

fn other_uid_denied(ctx: &mut Ctx) {
    let id = ctx.get(K, IPC_CREAT | 0o600).expect("setup");
    ctx.snd(id, 1, b"secret", IPC_NOWAIT).expect("setup");
    ctx.as_u1000("u1000", move |c| {
        let r = c.get(K, 0o600);
        c.expect("get-0600", res(&r), "EACCES");
        let r = c.get(K, 0);
        c.expect("get-0", res(&r), &id.to_string());
        let r = c.snd(id, 1, b"x", IPC_NOWAIT);
        c.expect("snd", unit(&r), "EACCES");
        let r = c.rcv(id, 10, 0, IPC_NOWAIT);
        c.expect("rcv", trace::msg(&r), "EACCES");
        let r = c.rcv(id, 10, 0, IPC_NOWAIT | MSG_COPY);
        c.expect("copy", trace::msg(&r), "EACCES");
        let r = c.stat(id);
        c.expect("stat", unit(&r), "EACCES");
        let r = c.set(id, &MsqidDs::default());
        c.expect("set", res(&r), "EPERM");
        let r = c.rmid(id);
        c.expect("rmid", res(&r), "EPERM");
    });
    ctx.expect_q("q", id, 1, 6);
}

fn set_qbytes_handoff(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    ctx.set_qbytes(id, 0).expect("setup");
    let r = receiver(ctx, "receiver", id, (10, 0, 0), None, false);
    let sn = ctx.spawn("sender", None, move |c| {
        let r = c.snd(id, 4, b"late", 0);
        c.rec("snd", unit(&r));
    });
    ctx.wait_blocked(&sn);
    let x = ctx.set_qbytes(id, 100);
    ctx.expect("set", res(&x), "0");
    ctx.join(sn);
    ctx.join(r);
    ctx.violation_if_not("sender:snd", "ok");
    ctx.violation_if_not("receiver:rcv", "t=4 'late'");
    ctx.expect_q("q", id, 0, 0);
}

fn rcv_wakes_sender(ctx: &mut Ctx) {
    let id = crate::cases::snd::full_queue(ctx, 0o600);
    let sn = ctx.spawn("sender", None, move |c| {
        let r = c.snd(id, 2, b"12345", 0);
        c.rec("snd", unit(&r));
    });
    ctx.wait_blocked(&sn);
    let r = ctx.rcv(id, 100, 0, IPC_NOWAIT);
    ctx.rec("rcv", trace::msg(&r));
    ctx.join(sn);
    ctx.violation_if_not("sender:snd", "ok");
    ctx.expect_q("q", id, 1, 5);
    let d = ctx.stat(id).expect("stat");
    ctx.expect("lspid", ctx.pid_class(d.msg_lspid), "sender");
}

fn dead_receiver(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let r = receiver(ctx, "receiver", id, (10, 0, 0), None, false);
    ctx.kill(&r, libc::SIGKILL);
    ctx.join(r);
    let x = ctx.snd(id, 1, b"kept", IPC_NOWAIT);
    ctx.expect("snd", unit(&x), "ok");
    ctx.expect_q("q", id, 1, 4);
    let m = ctx.rcv(id, 10, 0, IPC_NOWAIT);
    ctx.expect("rcv", trace::msg(&m), "t=1 'kept'");
}

fn dead_sender(ctx: &mut Ctx) {
    let id = crate::cases::snd::full_queue(ctx, 0o600);
    let sn = ctx.spawn("sender", None, move |c| {
        let r = c.snd(id, 2, b"never", 0);
        c.rec("snd", unit(&r));
    });
    ctx.wait_blocked(&sn);
    ctx.kill(&sn, libc::SIGKILL);
    ctx.join(sn);
    let m = ctx.rcv(id, 100, 0, IPC_NOWAIT);
    ctx.rec("rcv", trace::msg(&m));
    ctx.expect_q("q", id, 0, 0);
    let x = ctx.snd(id, 3, b"again", IPC_NOWAIT);
    ctx.expect("snd", unit(&x), "ok");
    ctx.expect_q("q2", id, 1, 5);
}

fn sender_waits_until_fit(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    ctx.set_qbytes(id, 10).expect("setup");
    ctx.snd(id, 1, b"11111", IPC_NOWAIT).expect("setup");
    ctx.snd(id, 2, b"22222", IPC_NOWAIT).expect("setup");
    let sn = ctx.spawn("sender", None, move |c| {
        let r = c.snd(id, 3, b"33333333", 0);
        c.rec("snd", unit(&r));
    });
    ctx.wait_blocked(&sn);
    let r = ctx.rcv(id, 10, 0, IPC_NOWAIT);
    ctx.expect("rcv1", trace::msg(&r), "t=1 '11111'");
    // 5 bytes free, 8 needed: woken or not, the sender must still be waiting.
    ctx.still_blocked(&sn);
    ctx.expect_q("q1", id, 1, 5);
    let r = ctx.rcv(id, 10, 0, IPC_NOWAIT);
    ctx.expect("rcv2", trace::msg(&r), "t=2 '22222'");
    ctx.join(sn);
    ctx.violation_if_not("sender:snd", "ok");
    ctx.expect_q("q2", id, 1, 8);
}

fn snd_stop_cont(ctx: &mut Ctx) {
    let id = crate::cases::snd::full_queue(ctx, 0o600);
    let sn = ctx.spawn("sender", None, move |c| {
        let r = c.snd(id, 2, b"later", 0);
        c.rec("snd", unit(&r));
    });
    ctx.wait_blocked(&sn);
    ctx.stop(&sn);
    ctx.kill(&sn, libc::SIGCONT);
    ctx.wait_blocked(&sn);
    let r = ctx.rcv(id, 100, 0, IPC_NOWAIT);
    ctx.rec("rcv", trace::msg(&r));
    ctx.join(sn);
    ctx.violation_if_not("sender:snd", "ok");
    ctx.expect_q("q", id, 1, 5);
}

const STREAM: usize = 300;

/// Sends `STREAM` messages `"<type>:<seq>"` of type `t`, retrying after EINTR.
/// Blocked receivers are served oldest first, whichever way they select: Linux keeps one
/// list of receivers in arrival order and a send takes the first that matches. An
/// exact-type receiver that blocked before a general one gets the message first, and the
/// other way round (the engine and the module index exact-type receivers apart from the
/// others, so this order is theirs to keep).
fn receivers_oldest_first(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    for (first, second) in [(("exact", 5), ("any", 0)), (("any", 0), ("exact", 5))] {
        let a = receiver(
            ctx,
            &format!("{}-first", first.0),
            id,
            (10, first.1, 0),
            None,
            false,
        );
        let b = receiver(
            ctx,
            &format!("{}-second", second.0),
            id,
            (10, second.1, 0),
            None,
            false,
        );
        for text in [b"one", b"two"] {
            let r = ctx.snd(id, 5, text, IPC_NOWAIT);
            ctx.expect("snd", unit(&r), "ok");
        }
        let (na, nb) = (a.name.clone(), b.name.clone());
        ctx.join(a);
        ctx.join(b);
        ctx.violation_if_not(&format!("{na}:rcv"), "t=5 'one'");
        ctx.violation_if_not(&format!("{nb}:rcv"), "t=5 'two'");
    }
    ctx.expect_q("q", id, 0, 0);
}

fn stream_sender(ctx: &mut Ctx, name: &str, id: i32, t: i64, sigusr1: bool) -> crate::ctx::Child {
    ctx.spawn(name, None, move |c| {
        if sigusr1 {
            procs::install_sigusr1(true);
        }
        let mut intr = 0;
        let mut err = None;
        for seq in 0..STREAM {
            let text = format!("{t}:{seq:04}");
            loop {
                match c.snd(id, t, text.as_bytes(), 0) {
                    Ok(()) => break,
                    Err(e) if e == msgq_core::Errno::EINTR => intr += 1,
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                }
            }
        }
        c.rec("snd-errors", err.map(|e| e.name()).unwrap_or("none"));
        c.rec("_eintr", intr);
    })
}

/// Receives `n` messages (type selector `typ`), retrying after EINTR; records the texts
/// privately as `_got`.
fn stream_receiver(
    ctx: &mut Ctx,
    name: &str,
    id: i32,
    typ: i64,
    n: usize,
    sigusr1: bool,
) -> crate::ctx::Child {
    ctx.spawn(name, None, move |c| {
        if sigusr1 {
            procs::install_sigusr1(true);
        }
        let mut got = Vec::new();
        let mut err = None;
        let mut intr = 0;
        while got.len() < n && err.is_none() {
            match c.rcv(id, 64, typ, 0) {
                Ok((t, b)) => got.push(format!("{t}/{}", String::from_utf8_lossy(&b))),
                Err(e) if e == msgq_core::Errno::EINTR => intr += 1,
                Err(e) => err = Some(e),
            }
        }
        c.rec("rcv-errors", err.map(|e| e.name()).unwrap_or("none"));
        c.rec("_got", got.join(","));
        c.rec("_eintr", intr);
    })
}

/// Checks a receiver's messages: per sender in order; returns them.
fn stream_check(got: &str) -> (Vec<(i64, usize)>, bool) {
    let mut v = Vec::new();
    let mut last: std::collections::HashMap<i64, usize> = Default::default();
    let mut ordered = true;
    for m in got.split(',').filter(|m| !m.is_empty()) {
        let (t, rest) = m.split_once('/').unwrap_or(("0", ""));
        let t: i64 = t.parse().unwrap_or(0);
        let seq: usize = rest
            .split_once(':')
            .and_then(|(_, s)| s.parse().ok())
            .unwrap_or(usize::MAX);
        if let Some(prev) = last.insert(t, seq) {
            ordered &= prev < seq;
        }
        v.push((t, seq));
    }
    (v, ordered)
}

/// Three senders, three receivers each taking one sender's type: every receiver must get
/// its stream complete and in order, through a small queue (many blocks and hand-offs).
fn stress_typed(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    ctx.set_qbytes(id, 64).expect("setup");
    let mut rs = Vec::new();
    for t in 1..=3 {
        rs.push(stream_receiver(ctx, &format!("r{t}"), id, t, STREAM, false));
    }
    let mut ss = Vec::new();
    for t in 1..=3 {
        ss.push(stream_sender(ctx, &format!("s{t}"), id, t, false));
    }
    for s in ss {
        ctx.join_private(s);
    }
    for (i, r) in rs.into_iter().enumerate() {
        let t = i as i64 + 1;
        let p = ctx.join_private(r);
        let got = p
            .iter()
            .find(|(l, _)| l == "_got")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let (v, ordered) = stream_check(&got);
        let complete = v.len() == STREAM
            && v.iter()
                .enumerate()
                .all(|(k, (ty, seq))| *ty == t && *seq == k);
        ctx.expect(
            &format!("r{t}:stream"),
            format!("n={} ordered={ordered} complete={complete}", v.len()),
            &format!("n={STREAM} ordered=true complete=true"),
        );
    }
    ctx.expect_q("q", id, 0, 0);
}

/// Three senders, three type-0 receivers, SIGUSR1 sent to all of them throughout: no
/// message may be lost or duplicated (a handed-off message survives the signal), and each
/// receiver sees each sender's messages in order.
fn stress_signals(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    ctx.set_qbytes(id, 64).expect("setup");
    // Installed before forking, so no child can be killed by an early signal.
    procs::install_sigusr1(true);
    let mut rs = Vec::new();
    for i in 0..3 {
        rs.push(stream_receiver(ctx, &format!("r{i}"), id, 0, STREAM, true));
    }
    let mut ss = Vec::new();
    for t in 1..=3 {
        ss.push(stream_sender(ctx, &format!("s{t}"), id, t, true));
    }
    let pids: Vec<i32> = rs.iter().chain(ss.iter()).map(|c| c.pid).collect();
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_millis(300) {
        for p in &pids {
            procs::signal(*p, libc::SIGUSR1);
        }
        std::thread::sleep(std::time::Duration::from_micros(500));
    }
    for s in ss {
        ctx.join_private(s);
    }
    let mut all = Vec::new();
    let mut ordered = true;
    for r in rs {
        let p = ctx.join_private(r);
        let got = p
            .iter()
            .find(|(l, _)| l == "_got")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let (v, o) = stream_check(&got);
        ordered &= o;
        all.extend(v);
    }
    all.sort();
    let mut want: Vec<(i64, usize)> = (1..=3)
        .flat_map(|t| (0..STREAM).map(move |s| (t, s)))
        .collect();
    want.sort();
    ctx.expect("conserved", all == want, "true");
    ctx.expect("per-sender-order", ordered, "true");
    ctx.expect_q("q", id, 0, 0);
}
