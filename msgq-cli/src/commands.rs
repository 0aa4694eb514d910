//! The commands both backends have: list, show, mk, rm, send, recv, limits.

use crate::backend::{Queues, Target};
use crate::report::{ctx, errno_text, out, Fail, R};
use msgq_core::abi::{MsqidDs, IPC_CREAT, IPC_EXCL, IPC_NOWAIT, MSG_EXCEPT, MSG_NOERROR};
use msgq_core::ids;
use msgq_user::{Errno, Sysctl};
use std::io::{Read, Write};

/// A queue named on the command line: an id, or a key.
pub struct QueueArg {
    pub value: i32,
    pub is_key: bool,
}

fn queues(q: &dyn Queues) -> R<Vec<(i32, MsqidDs)>> {
    ctx("MSG_INFO/MSG_STAT_ANY", q.queues())
}

fn resolve(q: &dyn Queues, a: &QueueArg) -> R<i32> {
    if !a.is_key {
        return Ok(a.value);
    }
    let key = a.value;
    queues(q)?
        .into_iter()
        .find(|(_, d)| d.msg_perm.key == key && key != 0)
        .map(|(id, _)| id)
        .ok_or_else(|| Fail(format!("no queue with key {key:#010x}")))
}

/// The queue with id `id` (found through its index, like `ipcs -i`).
pub fn find(q: &dyn Queues, id: i32) -> R<MsqidDs> {
    if id < 0 {
        return Err(Fail(format!("no queue with id {id}")));
    }
    match q.stat_index(ids::idx_of(id) as i32) {
        Ok((got, d)) if got == id => Ok(d),
        Ok(_) | Err(Errno::EINVAL) | Err(Errno::EIDRM) => {
            Err(Fail(format!("no queue with id {id}")))
        }
        Err(e) => ctx(format!("queue {id}"), Err(e)),
    }
}

fn fmt_time(t: i64) -> String {
    if t == 0 {
        return "not set".into();
    }
    // SAFETY: an all-zero tm is valid; localtime_r fills it from `t`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let tt = t as libc::time_t;
    // SAFETY: valid pointers to locals.
    if unsafe { libc::localtime_r(&tt, &mut tm) }.is_null() {
        return t.to_string();
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

fn json_queue(id: i32, d: &MsqidDs) -> String {
    let p = &d.msg_perm;
    format!(
        "{{\"id\":{id},\"key\":{},\"key_hex\":\"{:#010x}\",\"mode\":\"{:o}\",\"uid\":{},\"gid\":{},\
         \"cuid\":{},\"cgid\":{},\"cbytes\":{},\"qnum\":{},\"qbytes\":{},\"lspid\":{},\
         \"lrpid\":{},\"stime\":{},\"rtime\":{},\"ctime\":{}}}",
        p.key,
        p.key as u32,
        p.mode & 0o777,
        p.uid,
        p.gid,
        p.cuid,
        p.cgid,
        d.msg_cbytes,
        d.msg_qnum,
        d.msg_qbytes,
        d.msg_lspid,
        d.msg_lrpid,
        d.msg_stime,
        d.msg_rtime,
        d.msg_ctime
    )
}

pub fn list(t: &Target, json: bool) -> R<()> {
    let qs = match t.existing()? {
        Some(q) => queues(q.as_ref())?,
        None => Vec::new(),
    };
    let mut s = String::new();
    if json {
        s.push('[');
        for (i, (id, d)) in qs.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&json_queue(*id, d));
        }
        s.push_str("]\n");
    } else {
        s.push_str(&format!(
            "{:>10} {:<10} {:>5} {:>6} {:>6} {:>10} {:>8} {:>10} {:>7} {:>7}\n",
            "ID", "KEY", "PERMS", "UID", "GID", "BYTES", "MSGS", "QBYTES", "LSPID", "LRPID"
        ));
        for (id, d) in &qs {
            s.push_str(&format!(
                "{:>10} {:<10} {:>5o} {:>6} {:>6} {:>10} {:>8} {:>10} {:>7} {:>7}\n",
                id,
                format!("{:#010x}", d.msg_perm.key as u32),
                d.msg_perm.mode & 0o777,
                d.msg_perm.uid,
                d.msg_perm.gid,
                d.msg_cbytes,
                d.msg_qnum,
                d.msg_qbytes,
                d.msg_lspid,
                d.msg_lrpid
            ));
        }
    }
    out(&s)
}

pub fn show(t: &Target, a: &QueueArg, json: bool) -> R<()> {
    let q = t.required()?;
    let id = resolve(q.as_ref(), a)?;
    let d = find(q.as_ref(), id)?;
    if json {
        return out(&(json_queue(id, &d) + "\n"));
    }
    let p = &d.msg_perm;
    out(&format!(
        "id       {id}\nkey      {:#010x} ({})\nmode     {:o}\nowner    uid={} gid={}\n\
         creator  uid={} gid={}\nbytes    {} of {} (msg_qbytes)\nmessages {}\n\
         lspid    {}\nlrpid    {}\nsend     {}\nreceive  {}\nchange   {}\n",
        p.key as u32,
        p.key,
        p.mode & 0o777,
        p.uid,
        p.gid,
        p.cuid,
        p.cgid,
        d.msg_cbytes,
        d.msg_qbytes,
        d.msg_qnum,
        d.msg_lspid,
        d.msg_lrpid,
        fmt_time(d.msg_stime),
        fmt_time(d.msg_rtime),
        fmt_time(d.msg_ctime)
    ))
}

pub fn mk(t: &Target, key: Option<i32>, mode: u32, excl: bool) -> R<()> {
    let q = t.create()?;
    let mut flg = IPC_CREAT | mode as i32;
    if excl {
        flg |= IPC_EXCL;
    }
    let key = key.unwrap_or(0);
    let id = ctx(format!("msgget({key:#x})"), q.msgget(key, flg))?;
    out(&format!("{id}\n"))
}

pub fn rm(t: &Target, ids: &[i32], keys: &[i32]) -> R<()> {
    if ids.is_empty() && keys.is_empty() {
        return Err(Fail("rm: give queue ids and/or --key KEY".into()));
    }
    let q = t.required()?;
    let mut failed = Vec::new();
    let mut targets: Vec<(String, Result<i32, String>)> =
        ids.iter().map(|&id| (format!("id {id}"), Ok(id))).collect();
    for &k in keys {
        let a = QueueArg {
            value: k,
            is_key: true,
        };
        targets.push((
            format!("key {k:#010x}"),
            resolve(q.as_ref(), &a).map_err(|f| f.0),
        ));
    }
    for (what, r) in targets {
        let r = r.and_then(|id| q.remove(id).map_err(errno_text));
        if let Err(e) = r {
            failed.push(format!("{what}: {e}"));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Fail(format!("rm: {}", failed.join("; "))))
    }
}

pub fn send(t: &Target, a: &QueueArg, text: &str, mtype: i64, nowait: bool) -> R<()> {
    let q = t.required()?;
    let id = resolve(q.as_ref(), a)?;
    let body = if text == "-" {
        let mut b = Vec::new();
        std::io::stdin()
            .read_to_end(&mut b)
            .map_err(|e| Fail(format!("stdin: {e}")))?;
        b
    } else {
        text.as_bytes().to_vec()
    };
    let flg = if nowait { IPC_NOWAIT } else { 0 };
    ctx(format!("send to {id}"), q.send(id, mtype, &body, flg))
}

/// How `recv` selects and prints a message.
pub struct RecvOpts {
    pub mtype: i64,
    pub nowait: bool,
    pub noerror: bool,
    pub except: bool,
    pub size: Option<usize>,
    pub print_type: bool,
}

pub fn recv(t: &Target, a: &QueueArg, o: &RecvOpts) -> R<()> {
    let q = t.required()?;
    let id = resolve(q.as_ref(), a)?;
    let size = match o.size {
        Some(n) => n,
        None => ctx("msgmax", q.sysctl(Sysctl::Msgmax))?.max(0) as usize,
    };
    let mut flg = 0;
    if o.nowait {
        flg |= IPC_NOWAIT;
    }
    if o.noerror {
        flg |= MSG_NOERROR;
    }
    if o.except {
        flg |= MSG_EXCEPT;
    }
    let mut buf = vec![0u8; size];
    let (mt, n) = ctx(
        format!("receive from {id}"),
        q.receive(id, &mut buf, o.mtype, flg),
    )?;
    let mut w = std::io::stdout().lock();
    let r = (|| {
        if o.print_type {
            write!(w, "{mt}\t")?;
        }
        w.write_all(&buf[..n])?;
        w.write_all(b"\n")?;
        w.flush()
    })();
    r.map_err(|e| Fail(format!("stdout: {e}")))
}

pub const SYSCTLS: [Sysctl; 4] = [
    Sysctl::Msgmax,
    Sysctl::Msgmnb,
    Sysctl::Msgmni,
    Sysctl::MsgNextId,
];

pub fn limits_show(t: &Target, json: bool) -> R<()> {
    let (vals, defaults) = match t.existing()? {
        Some(q) => {
            let mut v = Vec::new();
            for w in SYSCTLS {
                v.push((w, ctx(w.name(), q.sysctl(w))?));
            }
            (v, false)
        }
        None => {
            let l = msgq_user::Limits::default();
            (
                vec![
                    (Sysctl::Msgmax, l.msgmax as i64),
                    (Sysctl::Msgmnb, l.msgmnb as i64),
                    (Sysctl::Msgmni, l.msgmni as i64),
                    (Sysctl::MsgNextId, -1),
                ],
                true,
            )
        }
    };
    let s = if json {
        let fields: Vec<String> = vals
            .iter()
            .map(|(w, v)| format!("\"{}\":{v}", w.name()))
            .collect();
        format!("{{{}}}\n", fields.join(","))
    } else {
        let mut s = String::new();
        for (w, v) in &vals {
            s.push_str(&format!("{:<12} {v}\n", w.name()));
        }
        if let (true, Target::User(p)) = (defaults, t) {
            eprintln!("msgq: {} (no store yet: defaults)", p.display());
        }
        s
    };
    out(&s)
}

pub fn limits_set(t: &Target, vals: &[(Sysctl, Option<i64>)]) -> R<()> {
    if vals.iter().all(|(_, v)| v.is_none()) {
        return Err(Fail(
            "limits set: give at least one of --msgmax, --msgmnb, --msgmni, --msg-next-id".into(),
        ));
    }
    let q = t.create()?;
    for (w, v) in vals {
        if let Some(v) = v {
            ctx(format!("{} = {v}", w.name()), q.set_sysctl(*w, *v))?;
        }
    }
    Ok(())
}
