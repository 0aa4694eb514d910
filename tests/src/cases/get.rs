//! §8 cases 1–22: msgget, ids, creation limits, msg_next_id, initial state.

use crate::ctx::Ctx;
use crate::harness::Case;
use crate::trace::{res, unit};
use msgq_core::abi::*;
use msgq_core::limits::Sysctl;

pub const K: i32 = 0x4d51;

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("s08-001-private-twice", c001),
        Case::new("s08-002-private-creat-excl", c002),
        Case::new("s08-003-key-absent", c003),
        Case::new("s08-004-excl-without-creat", c004),
        Case::new("s08-005-mode-07777", c005),
        Case::new("s08-006-eexist-before-eacces", c006),
        Case::new("s08-007-excl-alone-existing", c007),
        Case::new("s08-008-u1000-creat-0600-eacces", c008),
        Case::new("s08-009-u1000-flag0-mode0000", c009),
        Case::new("s08-010-execute-bit-checked", c010),
        Case::new("s08-011-owner-triplets-ored", c011),
        Case::new("s08-012-negative-key", c012),
        Case::new("s08-013-cyclic-ids", c013),
        Case::new("s08-014-no-immediate-reuse", c014),
        Case::new("s08-015-rmid-frees-key", c015),
        Case::new("s08-016-msgmni-zero", c016),
        Case::new("s08-017-msgmni-reached", c017),
        Case::new("s08-018-msg-next-id", c018),
        Case::new("s08-019-msg-next-id-taken", c019),
        Case::new("s08-020-msg-next-id-range", c020),
        Case::new("s08-021-initial-stat", c021),
        Case::new("s08-022-msgmnb-for-new-queues", c022),
        Case::new("ex-msg-next-id-kept-without-creation", next_id_kept),
        Case::new("ex-ids-wide-cycle", wide_cycle),
        Case::new("ex-msgmni-lowered-keeps-queues", msgmni_lowered),
        Case::new("ex-msg-next-id-max-seq", next_id_max_seq),
    ]
}

fn mode_of(ctx: &Ctx, id: i32) -> String {
    match ctx.stat(id) {
        Ok(d) => format!("{:o}", d.msg_perm.mode),
        Err(e) => e.name().into(),
    }
}

fn c001(ctx: &mut Ctx) {
    let a = ctx.get(IPC_PRIVATE, 0);
    let b = ctx.get(IPC_PRIVATE, 0);
    ctx.expect("get1", res(&a), "0");
    ctx.expect("get2", res(&b), "1");
    for (n, r) in [("mode1", a), ("mode2", b)] {
        if let Ok(id) = r {
            let m = mode_of(ctx, id);
            ctx.expect(n, m, "0");
        }
    }
}

fn c002(ctx: &mut Ctx) {
    for i in 0..3 {
        let r = ctx.get(IPC_PRIVATE, IPC_CREAT | IPC_EXCL | 0o600);
        ctx.expect(&format!("get{i}"), res(&r), &i.to_string());
    }
}

fn c003(ctx: &mut Ctx) {
    let r = ctx.get(K, 0);
    ctx.expect("get", res(&r), "ENOENT");
}

fn c004(ctx: &mut Ctx) {
    let r = ctx.get(K, IPC_EXCL | 0o600);
    ctx.expect("get", res(&r), "ENOENT");
}

fn c005(ctx: &mut Ctx) {
    let r = ctx.get(K, IPC_CREAT | 0o7777);
    ctx.expect("get", res(&r), "0");
    if let Ok(id) = r {
        let d = ctx
            .stat(id)
            .map(|d| format!("key={} mode={:o}", d.msg_perm.key, d.msg_perm.mode));
        ctx.expect("stat", res(&d), &format!("key={K} mode=777"));
    }
}

fn c006(ctx: &mut Ctx) {
    ctx.get(K, IPC_CREAT | 0o600).expect("setup");
    ctx.as_u1000("u1000", |c| {
        let r = c.get(K, IPC_CREAT | IPC_EXCL);
        c.expect("creat|excl", res(&r), "EEXIST");
        let r = c.get(K, IPC_CREAT | IPC_EXCL | 0o600);
        c.expect("creat|excl|0600", res(&r), "EEXIST");
        let r = c.get(K, IPC_CREAT | 0o600);
        c.expect("creat|0600", res(&r), "EACCES");
    });
}

fn c007(ctx: &mut Ctx) {
    let id = ctx.get(K, IPC_CREAT | 0o600).expect("setup");
    let r = ctx.get(K, IPC_EXCL);
    ctx.expect("get", res(&r), &id.to_string());
}

fn c008(ctx: &mut Ctx) {
    ctx.get(K, IPC_CREAT | 0o600).expect("setup");
    ctx.as_u1000("u1000", |c| {
        let r = c.get(K, IPC_CREAT | 0o600);
        c.expect("get", res(&r), "EACCES");
        let r = c.get(K, IPC_CREAT | 0o666);
        c.expect("get-0666", res(&r), "EACCES");
    });
}

fn c009(ctx: &mut Ctx) {
    let id = ctx.get(K, IPC_CREAT).expect("setup");
    ctx.rec("mode", mode_of(ctx, id));
    ctx.as_u1000("u1000", move |c| {
        let r = c.get(K, 0);
        c.expect("get0", res(&r), &id.to_string());
        let r = c.get(K, 0o400);
        c.expect("get0400", res(&r), "EACCES");
    });
}

fn c010(ctx: &mut Ctx) {
    ctx.get(K, IPC_CREAT | 0o600).expect("setup");
    ctx.get(K + 1, IPC_CREAT | 0o606).expect("setup");
    ctx.as_u1000("u1000", |c| {
        let r = c.get(K, 0o001);
        c.expect("0600:get0001", res(&r), "EACCES");
        let r = c.get(K + 1, 0o004);
        c.expect("0606:get0004", res(&r), "1");
        let r = c.get(K + 1, 0o001);
        c.expect("0606:get0001", res(&r), "EACCES");
        let r = c.get(K + 1, 0o700);
        c.expect("0606:get0700", res(&r), "EACCES");
    });
}

fn c011(ctx: &mut Ctx) {
    ctx.as_u1000("owner", |c| {
        let id = c.get(K, IPC_CREAT | 0o600);
        c.expect("create", res(&id), "0");
        let r = c.get(K, 0o070);
        c.expect("get0070", res(&r), "EACCES");
        let r = c.get(K, 0o060);
        c.expect("get0060", res(&r), "0");
        let r = c.get(K, 0o006);
        c.expect("get0006", res(&r), "0");
    });
}

fn c012(ctx: &mut Ctx) {
    let r = ctx.get(-2, IPC_CREAT | 0o600);
    ctx.expect("get", res(&r), "0");
    let d = ctx.stat(0).map(|d| d.msg_perm.key);
    ctx.expect("stat-key", res(&d), "-2");
    let text = ctx.b.proc_msg();
    let key = text.map(|t| {
        t.lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or("")
            .to_string()
    });
    ctx.expect("proc-key", res(&key), "-2");
    let r = ctx.get(-2, 0);
    ctx.expect("lookup", res(&r), "0");
}

fn c013(ctx: &mut Ctx) {
    let mut ids = Vec::new();
    for _ in 0..70 {
        match ctx.get(IPC_PRIVATE, IPC_CREAT | 0o600) {
            Ok(id) => {
                ids.push(id.to_string());
                let _ = ctx.rmid(id);
            }
            Err(e) => ids.push(e.name().into()),
        }
    }
    let want: Vec<String> = (0..64)
        .chain(32768..32774)
        .map(|i: i32| i.to_string())
        .collect();
    ctx.expect("ids", ids.join(","), &want.join(","));
}

fn c014(ctx: &mut Ctx) {
    let a = ctx.new_queue(0o600);
    let b = ctx.new_queue(0o600);
    let c = ctx.new_queue(0o600);
    ctx.rec("abc", format!("{a},{b},{c}"));
    let r = ctx.rmid(b);
    ctx.rec("rmid-b", res(&r));
    let d = ctx.get(IPC_PRIVATE, IPC_CREAT | 0o600);
    ctx.expect("d", res(&d), "3");
    let i = ctx.info(0, IPC_INFO).map(|x| x.0);
    ctx.expect("ipc_info", res(&i), "3");
}

fn c015(ctx: &mut Ctx) {
    let id = ctx.get(K, IPC_CREAT | 0o600).expect("setup");
    let r = ctx.rmid(id);
    ctx.expect("rmid", res(&r), "0");
    let r = ctx.get(K, 0);
    ctx.expect("get0", res(&r), "ENOENT");
    let n = ctx.get(K, IPC_CREAT | 0o600);
    ctx.expect("recreate", res(&n), "1");
    ctx.expect("different", n != Ok(id), "true");
    let s = ctx.stat(id);
    ctx.expect("old-id-stat", unit(&s), "EINVAL");
    let s = ctx.snd(id, 1, b"x", IPC_NOWAIT);
    ctx.expect("old-id-snd", unit(&s), "EINVAL");
}

fn c016(ctx: &mut Ctx) {
    let id = ctx.get(K, IPC_CREAT | 0o600).expect("setup");
    let r = ctx.set_sysctl(Sysctl::Msgmni, 0);
    ctx.expect("set-msgmni", unit(&r), "ok");
    let r = ctx.get(IPC_PRIVATE, IPC_CREAT | 0o600);
    ctx.expect("private", res(&r), "ENOSPC");
    let r = ctx.get(K + 1, IPC_CREAT | 0o600);
    ctx.expect("new-key", res(&r), "ENOSPC");
    let r = ctx.get(K, 0);
    ctx.expect("existing", res(&r), &id.to_string());
    let r = ctx.get(K, IPC_CREAT | 0o600);
    ctx.expect("existing-creat", res(&r), &id.to_string());
}

fn c017(ctx: &mut Ctx) {
    let r = ctx.set_sysctl(Sysctl::Msgmni, 3);
    ctx.expect("set-msgmni", unit(&r), "ok");
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = ctx.get(IPC_PRIVATE, IPC_CREAT | 0o600);
        ctx.expect(&format!("create{i}"), res(&r), &i.to_string());
        ids.extend(r.ok());
    }
    let r = ctx.get(IPC_PRIVATE, IPC_CREAT | 0o600);
    ctx.expect("full", res(&r), "ENOSPC");
    let r = ctx.rmid(ids[1]);
    ctx.expect("rmid", res(&r), "0");
    let r = ctx.get(IPC_PRIVATE, IPC_CREAT | 0o600);
    ctx.expect("after-rmid", res(&r), "3");
    let r = ctx.get(IPC_PRIVATE, IPC_CREAT | 0o600);
    ctx.expect("full-again", res(&r), "ENOSPC");
}

fn c018(ctx: &mut Ctx) {
    let r = ctx.sysctl(Sysctl::MsgNextId);
    ctx.expect("initial", res(&r), "-1");
    let r = ctx.set_sysctl(Sysctl::MsgNextId, 163847);
    ctx.expect("write", unit(&r), "ok");
    let r = ctx.sysctl(Sysctl::MsgNextId);
    ctx.expect("reads", res(&r), "163847");
    let r = ctx.get(IPC_PRIVATE, IPC_CREAT | 0o600);
    ctx.expect("create", res(&r), "163847");
    if let Ok(id) = r {
        let s = ctx.stat(id).map(|d| d.msg_perm.seq);
        ctx.expect("seq", res(&s), "5");
    }
    let r = ctx.sysctl(Sysctl::MsgNextId);
    ctx.expect("after", res(&r), "-1");
    let r = ctx.get(IPC_PRIVATE, IPC_CREAT | 0o600);
    ctx.expect("next-cyclic", res(&r), "0");
    // Used up even by an attempt that fails after the ENOSPC check? (key exists → no attempt)
    let r = ctx.set_sysctl(Sysctl::MsgNextId, 20);
    ctx.rec("write20", unit(&r));
    let r = ctx.get(K, IPC_CREAT | 0o600);
    ctx.expect("create-key", res(&r), "20");
}

fn c019(ctx: &mut Ctx) {
    for _ in 0..9 {
        ctx.new_queue(0o600);
    }
    let r = ctx.set_sysctl(Sysctl::MsgNextId, 7);
    ctx.expect("write", unit(&r), "ok");
    let r = ctx.get(IPC_PRIVATE, IPC_CREAT | 0o600);
    ctx.expect("create", res(&r), "9");
    let r = ctx.get(IPC_PRIVATE, IPC_CREAT | 0o600);
    ctx.expect("next", res(&r), "10");
}

fn c020(ctx: &mut Ctx) {
    let r = ctx.set_sysctl(Sysctl::MsgNextId, -1);
    ctx.expect("write-1", unit(&r), "EINVAL");
    let r = ctx.set_sysctl(Sysctl::MsgNextId, i32::MAX as i64 + 1);
    ctx.expect("write-intmax+1", unit(&r), "EINVAL");
    let r = ctx.set_sysctl(Sysctl::MsgNextId, i32::MAX as i64);
    ctx.expect("write-intmax", unit(&r), "ok");
    let r = ctx.sysctl(Sysctl::MsgNextId);
    ctx.expect("reads", res(&r), &i32::MAX.to_string());
}

fn c021(ctx: &mut Ctx) {
    let id = ctx.get(K, IPC_CREAT | 0o640).expect("setup");
    let mut raw = [0xAAu8; 120];
    // SAFETY: `raw` is a 120-byte buffer we own.
    let r = unsafe { ctx.b.msgctl(id, IPC_STAT, raw.as_mut_ptr().cast()) };
    ctx.expect("ipc_stat", res(&r), "0");
    let d = MsqidDs::from_bytes(&raw).unwrap();
    let s = ctx.ds_str(&d);
    ctx.expect(
        "fields",
        s,
        &format!("key={K} uid=0 gid=0 cuid=0 cgid=0 mode=640 seq=0 stime=0 rtime=0 ctime=now cbytes=0 qnum=0 qbytes=16384 lspid=0 lrpid=0"),
    );
    let pad: Vec<u8> = raw[26..32]
        .iter()
        .chain(&raw[32..48])
        .chain(&raw[104..120])
        .copied()
        .collect();
    ctx.expect("padding-zero", pad.iter().all(|b| *b == 0), "true");
    ctx.as_u1000("u1000", |c| {
        let id = c.get(K + 1, IPC_CREAT | 0o600).expect("setup");
        let s = c.stat(id).map(|d| {
            let p = d.msg_perm;
            format!(
                "uid={} gid={} cuid={} cgid={} seq={}",
                p.uid, p.gid, p.cuid, p.cgid, p.seq
            )
        });
        c.expect(
            "u1000-ids",
            res(&s),
            "uid=1000 gid=1000 cuid=1000 cgid=1000 seq=0",
        );
    });
}

fn c022(ctx: &mut Ctx) {
    let q1 = ctx.new_queue(0o600);
    let r = ctx.set_sysctl(Sysctl::Msgmnb, 100);
    ctx.expect("set-msgmnb", unit(&r), "ok");
    let q2 = ctx.new_queue(0o600);
    let a = ctx.stat(q1).map(|d| d.msg_qbytes);
    let b = ctx.stat(q2).map(|d| d.msg_qbytes);
    ctx.expect("q1-qbytes", res(&a), "16384");
    ctx.expect("q2-qbytes", res(&b), "100");
    let i = ctx.info(0, IPC_INFO).map(|x| x.1.msgmnb);
    ctx.expect("info-msgmnb", res(&i), "100");
}

/// §6: msg_next_id is used up only by a creation that gets past the ENOSPC check.
fn next_id_kept(ctx: &mut Ctx) {
    let id = ctx.get(K, IPC_CREAT | 0o600).expect("setup");
    ctx.set_sysctl(Sysctl::MsgNextId, 30).expect("sysctl");
    let r = ctx.get(K, IPC_CREAT | 0o600);
    ctx.expect("existing-key", res(&r), &id.to_string());
    let r = ctx.sysctl(Sysctl::MsgNextId);
    ctx.expect("kept-after-lookup", res(&r), "30");
    ctx.set_sysctl(Sysctl::Msgmni, 1).expect("sysctl");
    let r = ctx.get(IPC_PRIVATE, IPC_CREAT | 0o600);
    ctx.expect("enospc", res(&r), "ENOSPC");
    let r = ctx.sysctl(Sysctl::MsgNextId);
    ctx.expect("kept-after-enospc", res(&r), "30");
    ctx.set_sysctl(Sysctl::Msgmni, 32000).expect("sysctl");
    let r = ctx.get(IPC_PRIVATE, IPC_CREAT | 0o600);
    ctx.expect("create", res(&r), "30");
    let r = ctx.sysctl(Sysctl::MsgNextId);
    ctx.expect("used", res(&r), "-1");
}

/// §1.3: the cycle width grows with in_use (W = max(in_use*3/2, 64)).
fn wide_cycle(ctx: &mut Ctx) {
    let mut ids = Vec::new();
    for _ in 0..100 {
        ids.push(ctx.new_queue(0o600));
    }
    let want: Vec<String> = (0..100).map(|i: i32| i.to_string()).collect();
    let got: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    ctx.expect("first-100", got.join(","), &want.join(","));
    for id in &ids[..90] {
        ctx.rmid(*id).expect("rmid");
    }
    // in_use 10 → W 64, cursor 100 ≥ W: wrap to the lowest free index with a new seq.
    let mut next = Vec::new();
    for _ in 0..3 {
        next.push(res(&ctx.get(IPC_PRIVATE, IPC_CREAT | 0o600)));
    }
    ctx.expect("after-wrap", next.join(","), "32768,32769,32770");
    let r = ctx.info(0, MSG_INFO).map(|x| x.0);
    ctx.expect("max-idx", res(&r), "99");
}

/// §6: lowering msgmni never removes queues; it only stops creation.
fn msgmni_lowered(ctx: &mut Ctx) {
    let ids: Vec<i32> = (0..3).map(|_| ctx.new_queue(0o600)).collect();
    ctx.set_sysctl(Sysctl::Msgmni, 1).expect("sysctl");
    for id in &ids {
        let r = ctx.snd(*id, 1, b"x", IPC_NOWAIT);
        ctx.expect(&format!("snd{id}"), unit(&r), "ok");
    }
    let r = ctx.get(IPC_PRIVATE, IPC_CREAT | 0o600);
    ctx.expect("create", res(&r), "ENOSPC");
    let i = ctx
        .info(0, MSG_INFO)
        .map(|x| (x.0, x.1.msgpool, x.1.msgmni));
    ctx.expect("msg-info", format!("{i:?}"), "Ok((2, 3, 1))");
    ctx.rmid(ids[0]).expect("rmid");
    ctx.rmid(ids[1]).expect("rmid");
    let r = ctx.get(IPC_PRIVATE, IPC_CREAT | 0o600);
    ctx.expect("still-full", res(&r), "ENOSPC");
    ctx.rmid(ids[2]).expect("rmid");
    let r = ctx.get(IPC_PRIVATE, IPC_CREAT | 0o600);
    ctx.expect("create-after", res(&r), "3");
}

/// §1.3: msg_next_id can ask for seq 65535, which cyclic allocation never uses.
fn next_id_max_seq(ctx: &mut Ctx) {
    let want = (65535 << 15) + 3;
    ctx.set_sysctl(Sysctl::MsgNextId, want).expect("sysctl");
    let r = ctx.get(K, IPC_CREAT | 0o600);
    ctx.expect("create", res(&r), &want.to_string());
    let s = ctx.stat(want as i32).map(|d| d.msg_perm.seq);
    ctx.expect("seq", res(&s), "65535");
    let r = ctx.get(K, 0);
    ctx.expect("lookup", res(&r), &want.to_string());
    let r = ctx.snd(want as i32, 1, b"hi", IPC_NOWAIT);
    ctx.expect("snd", unit(&r), "ok");
    let r = ctx.snd(3, 1, b"hi", IPC_NOWAIT);
    ctx.expect("snd-index-only", unit(&r), "EINVAL");
    let mut ds = MsqidDs::default();
    let r = ctx.ctl(3, MSG_STAT, &mut ds);
    ctx.expect("msg-stat-index", res(&r), &want.to_string());
    let r = ctx.get(IPC_PRIVATE, IPC_CREAT | 0o600);
    ctx.expect("next-cyclic", res(&r), "0");
    let text = ctx.b.proc_msg().unwrap_or_default();
    ctx.expect("proc-has-id", text.contains(&format!(" {want} ")), "true");
}
