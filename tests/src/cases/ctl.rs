//! §8 cases 76–96: msgctl (commands, STAT/INFO, IPC_SET rules, removal).

use crate::ctx::Ctx;
use crate::harness::Case;
use crate::trace::{self, res, unit};
use msgq_core::abi::*;
use msgq_core::limits::Sysctl;

pub fn cases() -> Vec<Case> {
    vec![
        Case::new("s08-076-info-msqid", c076),
        Case::new("s08-077-bad-commands", c077),
        Case::new("s08-078-stat-null", c078),
        Case::new("s08-079-set-null-efault-first", c079),
        Case::new("s08-080-rmid-ignores-buf", c080),
        Case::new("s08-081-stat-vs-msg-stat-index", c081),
        Case::new("s08-082-msg-stat-masks-seq", c082),
        Case::new("s08-083-msg-stat-unused-index", c083),
        Case::new("s08-084-u1000-stat-any", c084),
        Case::new("s08-085-info-return-value", c085),
        Case::new("s08-086-ipc-info-fields", c086),
        Case::new("s08-087-msg-info-totals", c087),
        Case::new("s08-088-u1000-set-rmid-eperm", c088),
        Case::new("s08-089-creator-keeps-control", c089),
        Case::new("s08-090-set-qbytes-limits", c090),
        Case::new("s08-091-set-qbytes-through-int", c091),
        Case::new("s08-092-set-qbytes-high", c092).note("the privileged half (CAP_SYS_RESOURCE stores 0xFFFFFFFF80000000 / 2^64-1) needs CAP_SYS_RESOURCE, which this container lacks"),
        Case::new("s08-093-set-after-msgmnb-lowered", c093),
        Case::new("s08-094-set-invalid-uid", c094),
        Case::new("s08-095-set-ignored-fields", c095),
        Case::new("s08-096-after-rmid", c096),
    ]
}

fn info_str(r: &Result<(i32, MsgInfo), msgq_core::Errno>) -> String {
    match r {
        Ok((ret, i)) => format!(
            "ret={} pool={} map={} max={} mnb={} mni={} ssz={} tql={} seg={} pad={}",
            ret,
            i.msgpool,
            i.msgmap,
            i.msgmax,
            i.msgmnb,
            i.msgmni,
            i.msgssz,
            i.msgtql,
            i.msgseg,
            i.pad
        ),
        Err(e) => e.name().into(),
    }
}

fn c076(ctx: &mut Ctx) {
    for _ in 0..3 {
        ctx.new_queue(0o600);
    }
    for cmd in [IPC_INFO, MSG_INFO] {
        let r = ctx.info(-1, cmd).map(|x| x.0);
        ctx.expect(&format!("cmd{cmd}:-1"), res(&r), "EINVAL");
        let r = ctx.info(99999, cmd).map(|x| x.0);
        ctx.expect(&format!("cmd{cmd}:99999"), res(&r), "2");
        let r = ctx.info(i32::MIN, cmd).map(|x| x.0);
        ctx.expect(&format!("cmd{cmd}:int-min"), res(&r), "EINVAL");
    }
}

fn c077(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let mut ds = MsqidDs::default();
    for cmd in [
        4,
        5,
        6,
        7,
        8,
        9,
        10,
        14,
        15,
        100,
        -1,
        i32::MIN,
        IPC_STAT | 0x100,
        IPC_SET | 0x100,
        IPC_RMID | 0x100,
        IPC_INFO | 0x100,
        MSG_STAT | 0x100,
    ] {
        let r = ctx.ctl(id, cmd, &mut ds);
        ctx.expect(&format!("cmd{cmd:#x}"), res(&r), "EINVAL");
    }
    ctx.rec_stat("still-there", id);
    let r = ctx.ctl(-1, IPC_STAT, &mut ds);
    ctx.expect("stat-negative-id", res(&r), "EINVAL");
}

fn c078(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let null = std::ptr::null_mut();
    // SAFETY: a NULL buffer; the call must fail with EINVAL or EFAULT, never touch it.
    let r = unsafe { ctx.b.msgctl(12345, IPC_STAT, null) };
    ctx.expect("bad-id-null", res(&r), "EINVAL");
    // SAFETY: as above.
    let r = unsafe { ctx.b.msgctl(id, IPC_STAT, null) };
    ctx.expect("good-id-null", res(&r), "EFAULT");
    // SAFETY: as above, read-only page.
    let r = unsafe { ctx.b.msgctl(id, IPC_STAT, crate::mem::read_only(0)) };
    ctx.expect("good-id-read-only", res(&r), "EFAULT");
    // SAFETY: as above; 100 of the 120 bytes are writable.
    let r = unsafe { ctx.b.msgctl(id, IPC_STAT, crate::mem::edge(100)) };
    ctx.expect("good-id-short", res(&r), "EFAULT");
    // SAFETY: as above.
    let r = unsafe { ctx.b.msgctl(id, MSG_STAT, null) };
    ctx.expect("msg-stat-null", res(&r), "EFAULT");
    // SAFETY: as above.
    let r = unsafe { ctx.b.msgctl(0, IPC_INFO, null) };
    ctx.expect("ipc-info-null", res(&r), "EFAULT");
    // SAFETY: as above; 32 bytes (the struct msginfo) are writable.
    let r = unsafe { ctx.b.msgctl(0, MSG_INFO, crate::mem::edge(32)) };
    ctx.expect("msg-info-32", res(&r), "0");
}

fn c079(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let null = std::ptr::null_mut();
    // SAFETY: a NULL buffer; copy-in must fail first.
    let r = unsafe { ctx.b.msgctl(12345, IPC_SET, null) };
    ctx.expect("bad-id-null", res(&r), "EFAULT");
    // SAFETY: as above.
    let r = unsafe { ctx.b.msgctl(id, IPC_SET, null) };
    ctx.expect("good-id-null", res(&r), "EFAULT");
    // SAFETY: as above; only 100 of the 120 bytes are readable.
    let r = unsafe { ctx.b.msgctl(12345, IPC_SET, crate::mem::edge(100)) };
    ctx.expect("bad-id-short", res(&r), "EFAULT");
}

fn c080(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    // SAFETY: IPC_RMID ignores its buffer, so a garbage pointer is never dereferenced.
    let r = unsafe {
        ctx.b
            .msgctl(id, IPC_RMID, std::ptr::without_provenance_mut(1))
    };
    ctx.expect("rmid", res(&r), "0");
    let r = ctx.stat(id);
    ctx.expect("gone", unit(&r), "EINVAL");
}

/// Creates and removes `n` queues, so the next creation wraps as §1.3 says.
fn churn(ctx: &mut Ctx, n: usize) {
    for _ in 0..n {
        let id = ctx.new_queue(0o600);
        ctx.rmid(id).expect("setup: rmid");
    }
}

fn c081(ctx: &mut Ctx) {
    churn(ctx, 64);
    let id = ctx.new_queue(0o600);
    ctx.expect("id", id, "32768");
    let mut ds = MsqidDs::default();
    let r = ctx.ctl(id & 0x7fff, IPC_STAT, &mut ds);
    ctx.expect("ipc-stat-index", res(&r), "EINVAL");
    let r = ctx.ctl(id, MSG_STAT, &mut ds);
    ctx.expect("msg-stat-id", res(&r), "32768");
    let r = ctx.ctl(id & 0x7fff, MSG_STAT, &mut ds);
    ctx.expect("msg-stat-index", res(&r), "32768");
    let r = ctx.ctl(id & 0x7fff, MSG_STAT_ANY, &mut ds);
    ctx.expect("msg-stat-any-index", res(&r), "32768");
    ctx.expect("seq", ds.msg_perm.seq, "1");
    let r = ctx.ctl(id, IPC_STAT, &mut ds);
    ctx.expect("ipc-stat-id", res(&r), "0");
}

fn c082(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    ctx.expect("id", id, "0");
    let mut ds = MsqidDs::default();
    for arg in [32768, 65536, 5 << 15] {
        let r = ctx.ctl(arg, MSG_STAT, &mut ds);
        ctx.expect(&format!("msg-stat-{arg}"), res(&r), "0");
    }
    let r = ctx.ctl(32768, IPC_STAT, &mut ds);
    ctx.expect("ipc-stat-32768", res(&r), "EINVAL");
}

fn c083(ctx: &mut Ctx) {
    ctx.new_queue(0o600);
    let id = ctx.new_queue(0o600);
    let mut ds = MsqidDs::default();
    for idx in [5, 2, 32767] {
        let r = ctx.ctl(idx, MSG_STAT, &mut ds);
        ctx.expect(&format!("msg-stat-unused-{idx}"), res(&r), "EINVAL");
        let r = ctx.ctl(idx, MSG_STAT_ANY, &mut ds);
        ctx.expect(&format!("msg-stat-any-unused-{idx}"), res(&r), "EINVAL");
    }
    let r = ctx.ctl(id, IPC_STAT, &mut ds);
    ctx.expect("ipc-stat", res(&r), "0");
    let r = ctx.ctl(id, MSG_STAT, &mut ds);
    ctx.expect("msg-stat", res(&r), "1");
    ctx.rec("msg-stat-ds", ctx.ds_str(&ds));
}

fn c084(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    ctx.as_u1000("u1000", move |c| {
        let mut ds = MsqidDs::default();
        let r = c.ctl(id, IPC_STAT, &mut ds);
        c.expect("ipc-stat", res(&r), "EACCES");
        let r = c.ctl(id, MSG_STAT, &mut ds);
        c.expect("msg-stat", res(&r), "EACCES");
        let r = c.ctl(id, MSG_STAT_ANY, &mut ds);
        c.expect("msg-stat-any", res(&r), &id.to_string());
        c.expect(
            "msg-stat-any-mode",
            format!("{:o}", ds.msg_perm.mode),
            "600",
        );
        let r = c.info(0, MSG_INFO).map(|x| x.1.msgpool);
        c.expect("msg-info-pool", res(&r), "1");
    });
}

fn c085(ctx: &mut Ctx) {
    for cmd in [IPC_INFO, MSG_INFO] {
        let r = ctx.info(0, cmd).map(|x| x.0);
        ctx.expect(&format!("none-cmd{cmd}"), res(&r), "0");
    }
    let id = ctx.new_queue(0o600);
    for cmd in [IPC_INFO, MSG_INFO] {
        let r = ctx.info(0, cmd).map(|x| x.0);
        ctx.expect(&format!("one-cmd{cmd}"), res(&r), "0");
    }
    ctx.new_queue(0o600);
    let r = ctx.info(0, MSG_INFO).map(|x| x.0);
    ctx.expect("two", res(&r), "1");
    ctx.rmid(id).expect("rmid");
    let r = ctx.info(0, MSG_INFO).map(|x| x.0);
    ctx.expect("only-index1", res(&r), "1");
}

fn c086(ctx: &mut Ctx) {
    let r = ctx.info(0, IPC_INFO);
    ctx.expect(
        "ipc-info",
        info_str(&r),
        "ret=0 pool=512000 map=16384 max=8192 mnb=16384 mni=32000 ssz=16 tql=16384 seg=65535 pad=0",
    );
    ctx.set_sysctl(Sysctl::Msgmax, 100).expect("sysctl");
    ctx.set_sysctl(Sysctl::Msgmnb, 200).expect("sysctl");
    ctx.set_sysctl(Sysctl::Msgmni, 300).expect("sysctl");
    let r = ctx.info(0, IPC_INFO);
    ctx.expect(
        "ipc-info-sysctls",
        info_str(&r),
        "ret=0 pool=512000 map=16384 max=100 mnb=200 mni=300 ssz=16 tql=16384 seg=65535 pad=0",
    );
    let r = ctx.info(0, MSG_INFO);
    ctx.expect(
        "msg-info-empty",
        info_str(&r),
        "ret=0 pool=0 map=0 max=100 mnb=200 mni=300 ssz=16 tql=0 seg=65535 pad=0",
    );
    let mut raw = [0xAAu8; 120];
    // SAFETY: a 120-byte buffer we own.
    let r = unsafe { ctx.b.msgctl(0, IPC_INFO, raw.as_mut_ptr().cast()) };
    ctx.rec("raw-ret", res(&r));
    ctx.expect("raw-pad-zero", raw[30..32] == [0, 0], "true");
    ctx.expect(
        "raw-beyond-untouched",
        raw[32..].iter().all(|b| *b == 0xAA),
        "true",
    );
}

fn c087(ctx: &mut Ctx) {
    let a = ctx.new_queue(0o600);
    let b = ctx.new_queue(0o600);
    let c = ctx.new_queue(0o600);
    for (id, t) in [
        (a, &b"0123456789"[..]),
        (a, b"abc"),
        (b, b"xxxxxxxx"),
        (b, b"1234567"),
    ] {
        ctx.snd(id, 1, t, IPC_NOWAIT).expect("send");
    }
    let r = crate::cases::rcv::receiver(ctx, "receiver", c, (100, 0, 0), None, false);
    ctx.snd(c, 1, b"handed-off", IPC_NOWAIT).expect("send");
    ctx.join(r);
    let i = ctx.info(0, MSG_INFO);
    ctx.expect(
        "msg-info",
        info_str(&i),
        "ret=2 pool=3 map=4 max=8192 mnb=16384 mni=32000 ssz=16 tql=28 seg=65535 pad=0",
    );
    let m = ctx.rcv(a, 100, 0, IPC_NOWAIT);
    ctx.rec("rcv", trace::msg(&m));
    let i = ctx.info(0, MSG_INFO);
    ctx.expect(
        "msg-info-after-rcv",
        info_str(&i),
        "ret=2 pool=3 map=3 max=8192 mnb=16384 mni=32000 ssz=16 tql=18 seg=65535 pad=0",
    );
}

fn c088(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o666);
    ctx.as_u1000("u1000", move |c| {
        let ds = c.stat(id).expect("stat");
        let r = c.set(id, &ds);
        c.expect("ipc-set", res(&r), "EPERM");
        let r = c.rmid(id);
        c.expect("ipc-rmid", res(&r), "EPERM");
        let r = c.set(12345, &ds);
        c.expect("ipc-set-bad-id", res(&r), "EINVAL");
    });
    ctx.rec_stat("stat", id);
}

fn c089(ctx: &mut Ctx) {
    ctx.as_u1000("u1000", |c| {
        let id = c.new_queue(0o600);
        let mut ds = c.stat(id).expect("stat");
        ds.msg_perm.uid = 2000;
        let r = c.set(id, &ds);
        c.expect("set-uid2000", res(&r), "0");
        let d = c
            .stat(id)
            .map(|d| format!("uid={} cuid={}", d.msg_perm.uid, d.msg_perm.cuid));
        c.expect("stat", res(&d), "uid=2000 cuid=1000");
        ds.msg_perm.mode = 0o640;
        let r = c.set(id, &ds);
        c.expect("set-again", res(&r), "0");
        let r = c.snd(id, 1, b"mine", IPC_NOWAIT);
        c.expect("snd", unit(&r), "ok");
        let r = c.rcv(id, 10, 0, IPC_NOWAIT);
        c.expect("rcv", trace::msg(&r), "t=1 'mine'");
        let r = c.rmid(id);
        c.expect("rmid", res(&r), "0");
    });
}

fn c090(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    for (n, q, want) in [
        ("msgmnb+1", 16385, "EPERM"),
        ("msgmnb", 16384, "0"),
        ("lower", 100, "0"),
        ("zero", 0, "0"),
        ("back-up", 16384, "0"),
    ] {
        let r = ctx.set_qbytes(id, q);
        ctx.expect(n, res(&r), want);
        let s = ctx.stat(id).map(|d| d.msg_qbytes);
        ctx.rec(&format!("{n}:qbytes"), res(&s));
    }
}

fn c091(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let r = ctx.set_qbytes(id, (1 << 32) + 50);
    ctx.expect("set", res(&r), "0");
    let s = ctx.stat(id).map(|d| d.msg_qbytes);
    ctx.expect("qbytes", res(&s), "50");
    let r = ctx.set_qbytes(id, u64::MAX << 32);
    ctx.expect("set-high-only", res(&r), "0");
    let s = ctx.stat(id).map(|d| d.msg_qbytes);
    ctx.expect("qbytes-high-only", res(&s), "0");
}

fn c092(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    for q in [0x8000_0000u64, 0xFFFF_FFFF, u64::MAX] {
        let r = ctx.set_qbytes(id, q);
        ctx.expect(&format!("set-{q:#x}"), res(&r), "EPERM");
    }
    let s = ctx.stat(id).map(|d| d.msg_qbytes);
    ctx.expect("qbytes", res(&s), "16384");
}

fn c093(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    ctx.set_sysctl(Sysctl::Msgmnb, 100).expect("sysctl");
    let mut ds = ctx.stat(id).expect("stat");
    ctx.expect("qbytes", ds.msg_qbytes, "16384");
    ds.msg_perm.mode = 0o644;
    let r = ctx.set(id, &ds);
    ctx.expect("set-mode", res(&r), "EPERM");
    ctx.expect(
        "mode-unchanged",
        format!("{:o}", ctx.stat(id).expect("stat").msg_perm.mode),
        "600",
    );
    ds.msg_qbytes = 100;
    let r = ctx.set(id, &ds);
    ctx.expect("set-mode-qbytes100", res(&r), "0");
    let d = ctx
        .stat(id)
        .map(|d| format!("mode={:o} qbytes={}", d.msg_perm.mode, d.msg_qbytes));
    ctx.expect("after", res(&d), "mode=644 qbytes=100");
}

fn c094(ctx: &mut Ctx) {
    let id = ctx.new_queue(0o600);
    let orig = ctx.stat(id).expect("stat");
    let mut ds = orig;
    ds.msg_perm.uid = u32::MAX;
    ds.msg_perm.mode = 0o644;
    ds.msg_qbytes = 100;
    let r = ctx.set(id, &ds);
    ctx.expect("uid-1", res(&r), "EINVAL");
    let now = ctx.stat(id).expect("stat");
    ctx.expect("unchanged", now == orig, "true");
    ds.msg_perm.uid = 0;
    ds.msg_perm.gid = u32::MAX;
    let r = ctx.set(id, &ds);
    ctx.expect("gid-1", res(&r), "EINVAL");
    ds.msg_perm.uid = u32::MAX;
    ds.msg_qbytes = 16385;
    let r = ctx.set(id, &ds);
    ctx.expect("uid-1-qbytes-high", res(&r), "EPERM");
    let now = ctx.stat(id).expect("stat");
    ctx.expect("still-unchanged", now == orig, "true");
}

fn c095(ctx: &mut Ctx) {
    let id = ctx
        .get(crate::cases::get::K, IPC_CREAT | 0o600)
        .expect("setup");
    ctx.snd(id, 1, b"x", IPC_NOWAIT).expect("send");
    let before = ctx.stat(id).expect("stat");
    while trace::now() <= before.msg_ctime {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The kernel's seconds are the coarse clock, up to a tick behind: let it catch up.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let mut ds = before;
    ds.msg_perm.key = 77;
    ds.msg_perm.cuid = 55;
    ds.msg_perm.cgid = 56;
    ds.msg_perm.mode = 0o177777;
    ds.msg_perm.seq = 9;
    ds.msg_qnum = 40;
    ds.msg_cbytes = 41;
    ds.msg_stime = 1;
    ds.msg_lspid = 2;
    let r = ctx.set(id, &ds);
    ctx.expect("set", res(&r), "0");
    let d = ctx.stat(id).expect("stat");
    ctx.expect(
        "ignored",
        format!(
            "key={} cuid={} cgid={} seq={} qnum={} cbytes={}",
            d.msg_perm.key,
            d.msg_perm.cuid,
            d.msg_perm.cgid,
            d.msg_perm.seq,
            d.msg_qnum,
            d.msg_cbytes
        ),
        &format!(
            "key={} cuid=0 cgid=0 seq=0 qnum=1 cbytes=1",
            crate::cases::get::K
        ),
    );
    ctx.expect("mode", format!("{:o}", d.msg_perm.mode), "777");
    ctx.expect("ctime-updated", d.msg_ctime > before.msg_ctime, "true");
    ctx.expect(
        "stime-kept",
        d.msg_stime == before.msg_stime && d.msg_lspid == before.msg_lspid,
        "true",
    );
    ctx.rec("stat", ctx.ds_str(&d));
}

fn c096(ctx: &mut Ctx) {
    let keep = ctx.new_queue(0o600);
    let id = ctx
        .get(crate::cases::get::K, IPC_CREAT | 0o600)
        .expect("setup");
    ctx.snd(keep, 1, b"kept", IPC_NOWAIT).expect("send");
    ctx.snd(id, 1, b"abc", IPC_NOWAIT).expect("send");
    ctx.snd(id, 2, b"defgh", IPC_NOWAIT).expect("send");
    let i = ctx.info(0, MSG_INFO);
    ctx.expect(
        "before",
        info_str(&i),
        "ret=1 pool=2 map=3 max=8192 mnb=16384 mni=32000 ssz=16 tql=12 seg=65535 pad=0",
    );
    let r = ctx.rmid(id);
    ctx.expect("rmid", res(&r), "0");
    let mut ds = MsqidDs::default();
    let r = ctx.snd(id, 1, b"x", IPC_NOWAIT);
    ctx.expect("snd", unit(&r), "EINVAL");
    let r = ctx.rcv(id, 10, 0, IPC_NOWAIT);
    ctx.expect("rcv", trace::msg(&r), "EINVAL");
    let r = ctx.rcv(id, 10, 0, IPC_NOWAIT | MSG_COPY);
    ctx.expect("copy", trace::msg(&r), "EINVAL");
    for (n, cmd) in [
        ("stat", IPC_STAT),
        ("msg-stat", MSG_STAT),
        ("msg-stat-any", MSG_STAT_ANY),
        ("set", IPC_SET),
        ("rmid-again", IPC_RMID),
    ] {
        let r = ctx.ctl(id, cmd, &mut ds);
        ctx.expect(n, res(&r), "EINVAL");
    }
    let r = ctx.get(crate::cases::get::K, 0);
    ctx.expect("get-key", res(&r), "ENOENT");
    let i = ctx.info(0, MSG_INFO);
    ctx.expect(
        "after",
        info_str(&i),
        "ret=0 pool=1 map=1 max=8192 mnb=16384 mni=32000 ssz=16 tql=4 seg=65535 pad=0",
    );
}
