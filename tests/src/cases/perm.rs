//! §8 cases 97–101: permission classes, CAP_IPC_OWNER, /proc/sysvipc/msg, sysctl ranges.

use crate::ctx::Ctx;
use crate::harness::Case;
use crate::procs::Creds;
use crate::trace::{self, res, unit};
use msgq_core::abi::*;
use msgq_core::limits::Sysctl;
use msgq_core::procfmt;

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("s08-097-owner-class-no-fallthrough", c097),
        Case::new("s08-098-supplementary-group", c098),
        Case::new("s08-099-cap-ipc-owner-bypass", c099),
        Case::new("s08-100-proc-sysvipc-msg", c100)
            .note("times and pids differ between runs: rows are compared after normalising them; each backend's text is also checked byte for byte against the §6 format"),
        Case::new("s08-101-sysctl-ranges", c101),
        Case::new("ex-set-uid-gid-hands-over", hand_over),
    ]
}

fn c097(ctx: &mut Ctx) {
    ctx.as_u1000("owner", |c| {
        let id = c.new_queue(0o066);
        let r = c.snd(id, 1, b"x", IPC_NOWAIT);
        c.expect("snd", unit(&r), "EACCES");
        let r = c.rcv(id, 10, 0, IPC_NOWAIT);
        c.expect("rcv", trace::msg(&r), "EACCES");
        let r = c.stat(id);
        c.expect("stat", unit(&r), "EACCES");
        let mut ds = MsqidDs::default();
        let r = c.ctl(id, MSG_STAT_ANY, &mut ds);
        c.expect("stat-any", res(&r), &id.to_string());
        ds.msg_perm.mode = 0o600;
        let r = c.set(id, &ds);
        c.expect("set", res(&r), "0");
        let r = c.snd(id, 1, b"x", IPC_NOWAIT);
        c.expect("snd-after", unit(&r), "ok");
    });
    // The group class has no fallthrough either: a group member with 0606 is denied.
    let id = ctx.new_queue(0o606);
    ctx.run_as(
        "group0",
        Some(Creds {
            uid: 1000,
            gid: 0,
            groups: vec![],
        }),
        move |c| {
            let r = c.snd(id, 1, b"x", IPC_NOWAIT);
            c.expect("snd", unit(&r), "EACCES");
        },
    );
}

fn c098(ctx: &mut Ctx) {
    let a = ctx.new_queue(0o060);
    let b = ctx.new_queue(0o600);
    let creds = Creds {
        uid: 1000,
        gid: 1000,
        groups: vec![0],
    };
    ctx.run_as("u1000+g0", Some(creds), move |c| {
        let r = c.snd(a, 1, b"g", IPC_NOWAIT);
        c.expect("snd-0060", unit(&r), "ok");
        let r = c.rcv(a, 10, 0, IPC_NOWAIT);
        c.expect("rcv-0060", trace::msg(&r), "t=1 'g'");
        let r = c.snd(b, 1, b"g", IPC_NOWAIT);
        c.expect("snd-0600", unit(&r), "EACCES");
    });
    // Without the supplementary group, 0060 is denied.
    ctx.as_u1000("u1000", move |c| {
        let r = c.snd(a, 1, b"g", IPC_NOWAIT);
        c.expect("snd-0060", unit(&r), "EACCES");
    });
}

fn c099(ctx: &mut Ctx) {
    let k = crate::cases::get::K;
    ctx.as_u1000("u1000", move |c| {
        // Mode 0000: nobody but a CAP_IPC_OWNER holder may use it.
        let r = c.get(k, IPC_CREAT);
        c.expect("create", res(&r), "0");
    });
    let r = ctx.get(k, 0o777);
    ctx.expect("get-0777", res(&r), "0");
    let r = ctx.snd(0, 1, b"root", IPC_NOWAIT);
    ctx.expect("snd", unit(&r), "ok");
    let r = ctx.rcv(0, 10, 0, IPC_NOWAIT | MSG_COPY);
    ctx.expect("copy", trace::msg(&r), "t=1 'root'");
    let r = ctx.rcv(0, 10, 0, IPC_NOWAIT);
    ctx.expect("rcv", trace::msg(&r), "t=1 'root'");
    let mut ds = MsqidDs::default();
    let r = ctx.ctl(0, IPC_STAT, &mut ds);
    ctx.expect("stat", res(&r), "0");
    let r = ctx.ctl(0, MSG_STAT, &mut ds);
    ctx.expect("msg-stat", res(&r), "0");
    ds.msg_perm.mode = 0o000;
    let r = ctx.set(0, &ds);
    ctx.expect("set(CAP_SYS_ADMIN)", res(&r), "0");
    let r = ctx.rmid(0);
    ctx.expect("rmid(CAP_SYS_ADMIN)", res(&r), "0");
}

/// Checks that `text` has the §6 header and that every row is exactly what the printf
/// format gives for its own fields; returns the rows' fields with times and pids normalised.
fn proc_rows(ctx: &mut Ctx, text: &str) -> Vec<String> {
    let mut lines = text.split_inclusive('\n');
    let header = lines.next().unwrap_or("");
    ctx.expect("header", header == procfmt::HEADER, "true");
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let parsed = (|| {
            if f.len() != 14 {
                return None;
            }
            let n = |j: usize| f[j].parse::<u64>().ok();
            Some(procfmt::Row {
                key: f[0].parse().ok()?,
                id: f[1].parse().ok()?,
                mode: u32::from_str_radix(f[2], 8).ok()?,
                cbytes: n(3)?,
                qnum: n(4)?,
                lspid: n(5)? as u32,
                lrpid: n(6)? as u32,
                uid: n(7)? as u32,
                gid: n(8)? as u32,
                cuid: n(9)? as u32,
                cgid: n(10)? as u32,
                stime: n(11)?,
                rtime: n(12)?,
                ctime: n(13)?,
            })
        })();
        match parsed {
            None => ctx.violation(&format!("row{i}"), &format!("unparsable row {line:?}")),
            Some(r) => {
                let mut again = String::new();
                r.write_to(&mut again).unwrap();
                ctx.expect(&format!("row{i}:format"), again == line, "true");
                rows.push(format!(
                    "key={} id={} perms={:o} cbytes={} qnum={} lspid={} lrpid={} uid={} gid={} cuid={} cgid={} stime={} rtime={} ctime={}",
                    r.key,
                    r.id,
                    r.mode,
                    r.cbytes,
                    r.qnum,
                    ctx.pid_class(r.lspid as i32),
                    ctx.pid_class(r.lrpid as i32),
                    r.uid,
                    r.gid,
                    r.cuid,
                    r.cgid,
                    trace::time_class(r.stime as i64),
                    trace::time_class(r.rtime as i64),
                    trace::time_class(r.ctime as i64)
                ));
            }
        }
    }
    rows
}

fn c100(ctx: &mut Ctx) {
    let empty = ctx.b.proc_msg();
    ctx.expect(
        "empty",
        empty
            .as_ref()
            .map(|t| t == procfmt::HEADER)
            .unwrap_or(false),
        "true",
    );
    // Queues at indices 0..4, with index 1 removed, so rows must come in index order.
    let a = ctx.get(-2, IPC_CREAT | 0o600).expect("setup");
    let b = ctx.new_queue(0o640);
    let c = ctx.get(123456, IPC_CREAT | 0o7777).expect("setup");
    ctx.rmid(b).expect("setup");
    churn_to(ctx, 64);
    let d = ctx.new_queue(0o600);
    ctx.rec("ids", format!("{a},{c},{d}"));
    ctx.snd(a, 1, b"hello", IPC_NOWAIT).expect("send");
    ctx.snd(a, 2, b"world!", IPC_NOWAIT).expect("send");
    ctx.snd(c, 1, b"x", IPC_NOWAIT).expect("send");
    ctx.rcv(c, 10, 0, IPC_NOWAIT).expect("rcv");
    ctx.as_u1000("u1000", |c| {
        c.new_queue(0o644);
    });
    let text = ctx.b.proc_msg();
    match text {
        Ok(t) => {
            let rows = proc_rows(ctx, &t);
            for (i, r) in rows.iter().enumerate() {
                ctx.rec(&format!("row{i}"), r);
            }
        }
        Err(e) => ctx.rec("proc", e.name()),
    }
}

/// Creates and removes queues until `n` creations have happened in this namespace.
fn churn_to(ctx: &mut Ctx, n: usize) {
    for _ in 3..n {
        let id = ctx.new_queue(0o600);
        ctx.rmid(id).expect("setup: rmid");
    }
}

fn c101(ctx: &mut Ctx) {
    let cases: &[(Sysctl, i64, &str)] = &[
        (Sysctl::Msgmax, -1, "EINVAL"),
        (Sysctl::Msgmax, i32::MAX as i64 + 1, "EINVAL"),
        (Sysctl::Msgmax, 0, "ok"),
        (Sysctl::Msgmax, i32::MAX as i64, "ok"),
        (Sysctl::Msgmni, 32769, "EINVAL"),
        (Sysctl::Msgmni, -1, "EINVAL"),
        (Sysctl::Msgmni, 32768, "ok"),
        (Sysctl::Msgmnb, 2147483648, "EINVAL"),
        (Sysctl::Msgmnb, -1, "EINVAL"),
        (Sysctl::Msgmnb, 2147483647, "ok"),
        (Sysctl::AutoMsgmni, 1, "ok"),
        (Sysctl::AutoMsgmni, 2, "EINVAL"),
        (Sysctl::AutoMsgmni, -1, "EINVAL"),
        (Sysctl::AutoMsgmni, 0, "ok"),
    ];
    for (s, v, want) in cases {
        let r = ctx.set_sysctl(*s, *v);
        ctx.expect(&format!("{}={v}", s.name()), unit(&r), want);
        let now = ctx.sysctl(*s);
        ctx.rec(&format!("{}:reads", s.name()), res(&now));
    }
    ctx.set_sysctl(Sysctl::AutoMsgmni, 1).expect("sysctl");
    let r = ctx.sysctl(Sysctl::AutoMsgmni);
    ctx.expect("auto_msgmni-reads", res(&r), "0");
    for s in [Sysctl::Msgmax, Sysctl::Msgmnb, Sysctl::Msgmni] {
        let r = ctx.sysctl(s);
        ctx.rec(&format!("final:{}", s.name()), res(&r));
    }
}

/// §4.1/§5: IPC_SET of uid and gid moves the owner and group classes.
fn hand_over(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o640);
    let mut ds = ctx.stat(id).expect("stat");
    ds.msg_perm.uid = 1000;
    ds.msg_perm.gid = 2000;
    let r = ctx.set(id, &ds);
    ctx.expect("set", res(&r), "0");
    ctx.rec_stat("stat", id);
    ctx.as_u1000("new-owner", move |c| {
        let r = c.snd(id, 1, b"own", IPC_NOWAIT);
        c.expect("snd", unit(&r), "ok");
        let r = c.stat(id).map(|d| d.msg_qnum);
        c.expect("stat", res(&r), "1");
        let r = c.set_mode(id, 0o660);
        c.expect("set-mode", res(&r), "0");
    });
    let member = Creds {
        uid: 1001,
        gid: 1001,
        groups: vec![2000],
    };
    ctx.run_as("group-member", Some(member), move |c| {
        let r = c.rcv(id, 10, 0, IPC_NOWAIT);
        c.expect("rcv", trace::msg(&r), "t=1 'own'");
        let r = c.rmid(id);
        c.expect("rmid", res(&r), "EPERM");
    });
    ctx.as_u1000("owner-removes", move |c| {
        let r = c.rmid(id);
        c.expect("rmid", res(&r), "0");
    });
}
