//! The commands both backends have: list, show, mk, rm, send, recv, purge, abort, limits.

use crate::backend::{Queues, Target};
use crate::columns::{self, Format};
use crate::report::{ctx, errno_name, errno_text, out, Fail, R};
use msgq_core::abi::{MsqidDs, IPC_CREAT, IPC_EXCL, IPC_NOWAIT, MSG_EXCEPT, MSG_NOERROR};
use msgq_core::ids;
use msgq_user::ext::{self, Deadline};
use msgq_user::{Errno, Sysctl};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

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

pub fn list(t: &Target, f: &Format) -> R<()> {
    let q = t.verified()?;
    let qs = queues(q.as_ref())?;
    out(&columns::render(&qs, f))
}

/// `msgq show`: the detail view, or with `f` the queue's row as `list` prints it.
pub fn show(t: &Target, a: &QueueArg, f: Option<&Format>) -> R<()> {
    let q = t.verified()?;
    let id = resolve(q.as_ref(), a)?;
    let d = find(q.as_ref(), id)?;
    if let Some(f) = f {
        return out(&columns::render(&[(id, d)], f));
    }
    let p = &d.msg_perm;
    let mut n = columns::Names::default();
    let named = |name: Option<String>, num: u32| match name {
        Some(s) => format!("{num}({s})"),
        None => num.to_string(),
    };
    let (uid, gid) = (named(n.user(p.uid), p.uid), named(n.group(p.gid), p.gid));
    let (cuid, cgid) = (
        named(n.user(p.cuid), p.cuid),
        named(n.group(p.cgid), p.cgid),
    );
    out(&format!(
        "id       {id}\nkey      {:#010x} ({})\nmode     {:o}\nowner    uid={uid} gid={gid}\n\
         creator  uid={cuid} gid={cgid}\nbytes    {} of {} (msg_qbytes)\nmessages {}\n\
         lspid    {}\nlrpid    {}\nsend     {}\nreceive  {}\nchange   {}\n",
        p.key as u32,
        p.key,
        p.mode & 0o777,
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
    let id = q.msgget(key, flg).map_err(|e| {
        let rule = match e {
            Errno::EEXIST => format!(": a queue with key {key:#010x} exists (--excl: IPC_EXCL)"),
            Errno::ENOSPC => {
                let mni = q
                    .sysctl(Sysctl::Msgmni)
                    .map_or(String::new(), |n| format!(" ({n})"));
                format!(": msgmni{mni} queues exist, the limit (`msgq limits set --msgmni N`)")
            }
            Errno::EACCES => format!(
                ": the queue with key {key:#010x} exists and its mode does not give this user \
                 the permissions --mode asks for"
            ),
            _ => String::new(),
        };
        Fail(format!("msgget({key:#x}): {}{rule}", errno_text(e)))
    })?;
    out(&format!("{id}\n"))
}

pub fn rm(t: &Target, ids: &[i32], keys: &[i32], all: bool) -> R<()> {
    if ids.is_empty() && keys.is_empty() && !all {
        return Err(Fail("rm: give queue ids and/or --key KEY, or --all".into()));
    }
    let q = t.required()?;
    let mut failed = Vec::new();
    let mut targets: Vec<(String, Result<i32, String>)> =
        ids.iter().map(|&id| (format!("id {id}"), Ok(id))).collect();
    if all {
        // Every queue, as `ipcrm --all=msg`: those this user may not remove fail with EPERM,
        // one that went away meanwhile is no failure.
        for (id, _) in queues(q.as_ref())? {
            match q.remove(id) {
                Ok(()) | Err(Errno::EINVAL) | Err(Errno::EIDRM) => {}
                Err(e) => failed.push(format!("id {id}: {}", errno_text(e))),
            }
        }
    }
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
        let r = r.and_then(|id| {
            q.remove(id).map_err(|e| {
                let rule = match e {
                    Errno::EINVAL => ": no queue with this id",
                    Errno::EPERM => {
                        ": only the queue's owner or creator (or CAP_SYS_ADMIN) may remove it"
                    }
                    _ => "",
                };
                format!("{}{rule}", errno_text(e))
            })
        });
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

/// What `send` adds to `msgsnd`: an extension flag and a timeout.
#[derive(Default)]
pub struct SendOpts {
    pub nowait: bool,
    /// `MSGQ_URGENT`, `MSGQ_OVERWRITE` or `MSGQ_BROADCAST` (at most one: the command line
    /// refuses overwrite with broadcast, as `ext::send_flags` does).
    pub ext: i32,
    pub timeout: Option<Duration>,
}

/// A deadline `d` from now on `CLOCK_MONOTONIC` (both backends read the same clock).
fn deadline(d: Option<Duration>) -> Option<Deadline> {
    d.map(msgq_user::deadline_in)
}

/// `d` as the user wrote it, roughly: "250ms", "2s".
fn fmt_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.as_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{d:?}")
    }
}

/// An extended call's failure: the rule that made it, for the errnos only the extensions
/// give ("ETIMEDOUT: no message arrived before the deadline"), else the usual "text (ENAME)".
fn ext_fail(what: String, e: Errno, receive: bool, timeout: Option<Duration>) -> Fail {
    let after = timeout.map_or(String::new(), |d| {
        format!(" (--timeout {})", fmt_duration(d))
    });
    let rule = match e {
        ext::ETIMEDOUT if receive => format!("no message arrived before the deadline{after}"),
        ext::ETIMEDOUT => {
            format!("the queue had no room for the message before the deadline{after}")
        }
        ext::ECANCELED => "the wait was aborted (`msgq abort`)".into(),
        ext::EMSGSIZE => "the message is larger than the queue's msg_qbytes: dropping \
                          messages (--overwrite) can never make it fit"
            .into(),
        ext::EOPNOTSUPP => "this backend does not support msgq's extensions".into(),
        Errno(libc::ENOTTY) => "the kernel module does not know msgq's extensions (an \
                                older msgq.ko?)"
            .into(),
        _ => return Fail(format!("{what}: {}", errno_text(e))),
    };
    Fail(format!("{what}: {}: {rule}", errno_name(e)))
}

/// What `send` sends: the text argument ("-": standard input), or a file's bytes.
pub enum Body<'a> {
    Text(&'a str),
    File(&'a Path),
}

impl Body<'_> {
    /// The bytes, at most `limit` of them read (a message can be no longer: the send then
    /// fails naming msgmax, without reading a huge file whole).
    fn read(&self, limit: u64) -> R<Vec<u8>> {
        let mut b = Vec::new();
        let (name, r) = match self {
            Body::Text("-") => (
                "standard input".to_string(),
                std::io::stdin().take(limit).read_to_end(&mut b),
            ),
            Body::Text(t) => return Ok(t.as_bytes().to_vec()),
            Body::File(p) if p.as_os_str() == "-" => (
                "standard input".to_string(),
                std::io::stdin().take(limit).read_to_end(&mut b),
            ),
            Body::File(p) => (
                p.display().to_string(),
                std::fs::File::open(p).and_then(|f| f.take(limit).read_to_end(&mut b)),
            ),
        };
        r.map_err(|e| Fail(format!("{name}: {e}")))?;
        Ok(b)
    }
}

/// A call on one queue, for the rule its failure names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Send,
    /// A receive or peek: the size accepted, the type asked for, MSG_EXCEPT.
    Receive {
        size: usize,
        mtype: i64,
        except: bool,
    },
    Purge,
    /// `MSGQ_ABORT_*`.
    Abort(i32),
}

/// The failure of `op` on queue `id`: for the errnos every call on a queue can give, the
/// rule that made it ("no queue with id 7", "this user may not read queue 0 (mode 600,
/// owner uid 0)"...), else what [`ext_fail`] says.
fn queue_fail(
    q: &dyn Queues,
    id: i32,
    what: String,
    e: Errno,
    op: Op,
    timeout: Option<Duration>,
) -> Fail {
    let rule = match (e, op) {
        (Errno::EINVAL, _) if find(q, id).is_err() => Some(format!("no queue with id {id}")),
        (Errno::EIDRM, _) => Some(format!("queue {id} was removed")),
        (Errno::EACCES, _) => {
            let need = match op {
                Op::Send => "write to",
                Op::Receive { .. } | Op::Purge => "read",
                Op::Abort(w) if w & ext::MSGQ_ABORT_SENDERS != 0 => "read",
                Op::Abort(_) => "write to",
            };
            let mode = find(q, id).map_or(String::new(), |d| {
                format!(
                    " (mode {:o}, owner uid {} gid {})",
                    d.msg_perm.mode & 0o777,
                    d.msg_perm.uid,
                    d.msg_perm.gid
                )
            });
            Some(format!("this user may not {need} queue {id}{mode}"))
        }
        (Errno::E2BIG, Op::Receive { size, .. }) => Some(format!(
            "the message is longer than the {size} bytes accepted (--size; --noerror \
             truncates it)"
        )),
        (Errno::ENOMSG, Op::Receive { mtype, except, .. }) => {
            let which = match (mtype, except) {
                (0, _) => "no message is queued".to_string(),
                (t, true) if t > 0 => format!("no message of a type other than {t} is queued"),
                (t, _) if t > 0 => format!("no message of type {t} is queued"),
                (t, _) => format!("no message of type {} or lower is queued", t.unsigned_abs()),
            };
            Some(format!("{which} (--nowait: IPC_NOWAIT)"))
        }
        _ => None,
    };
    match rule {
        Some(r) => Fail(format!("{what}: {}: {r}", errno_text(e))),
        None => ext_fail(what, e, matches!(op, Op::Receive { .. }), timeout),
    }
}

pub fn send(t: &Target, a: &QueueArg, body: &Body, mtype: i64, o: &SendOpts) -> R<()> {
    let q = t.required()?;
    let id = resolve(q.as_ref(), a)?;
    // One byte more than msgmax shows a message too long (EINVAL, named below).
    let limit = q
        .sysctl(Sysctl::Msgmax)
        .map_or(i32::MAX as u64, |m| m.max(0) as u64)
        + 1;
    let body = body.read(limit)?;
    let flg = if o.nowait { IPC_NOWAIT } else { 0 };
    // The plain call when no extension is asked for (a plain send can still be aborted).
    let r = if o.ext == 0 && o.timeout.is_none() {
        q.send(id, mtype, &body, flg).map(|()| 0)
    } else {
        q.send_ext(id, mtype, &body, flg | o.ext, deadline(o.timeout))
    };
    let n = r.map_err(|e| {
        // EINVAL names the rule the arguments broke (msgsnd's checks, in the kernel's order).
        if e == Errno::EINVAL {
            let msgmax = q.sysctl(Sysctl::Msgmax).unwrap_or(i64::MAX);
            if body.len() as i64 > msgmax {
                return Fail(format!(
                    "send to {id}: {}: the message is {} bytes, more than msgmax ({msgmax})",
                    errno_text(e),
                    body.len()
                ));
            }
            if mtype < 1 {
                return Fail(format!(
                    "send to {id}: {}: the message type must be at least 1 (--type {mtype})",
                    errno_text(e)
                ));
            }
        }
        queue_fail(
            q.as_ref(),
            id,
            format!("send to {id}"),
            e,
            Op::Send,
            o.timeout,
        )
    })?;
    // The count means something for overwrite (dropped) and broadcast (receivers given it).
    if o.ext & (ext::MSGQ_OVERWRITE | ext::MSGQ_BROADCAST) != 0 {
        out(&format!("{n}\n"))?;
    }
    Ok(())
}

/// How `recv` selects and prints a message.
pub struct RecvOpts {
    pub mtype: i64,
    pub nowait: bool,
    pub noerror: bool,
    pub except: bool,
    pub size: Option<usize>,
    pub print_type: bool,
    /// Write the bytes exactly, no newline.
    pub raw: bool,
    /// Write the bytes exactly to this file.
    pub file: Option<PathBuf>,
    /// Copy the message without removing it (`MSGQ_PEEK`).
    pub peek: bool,
    pub timeout: Option<Duration>,
}

/// A zeroed buffer of `len` bytes, or `None` when the memory cannot be had (never an
/// abort). Zeroed pages are not touched until used, so a large `--size` costs address
/// space, not memory.
pub fn zeroed(len: usize) -> Option<Vec<u8>> {
    if len == 0 {
        return Some(Vec::new());
    }
    let layout = std::alloc::Layout::array::<u8>(len).ok()?;
    // SAFETY: a non-zero-sized layout.
    let p = unsafe { std::alloc::alloc_zeroed(layout) };
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` was allocated by the global allocator with exactly this layout (u8, so
    // capacity `len`), and all `len` bytes are initialised (zeroed).
    Some(unsafe { Vec::from_raw_parts(p, len, len) })
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
    // A message is at most msgmax bytes, and msgmax at most INT_MAX: a larger --size
    // changes nothing but the memory asked for, so the buffer stops there.
    let len = size.min(i32::MAX as usize);
    let mut buf = zeroed(len).ok_or_else(|| {
        Fail(format!(
            "--size {size}: cannot allocate a buffer of {len} bytes"
        ))
    })?;
    let what = format!("{} from {id}", if o.peek { "peek" } else { "receive" });
    // The plain call when no extension is asked for (a plain receive can still be aborted).
    let r = if o.peek || o.timeout.is_some() {
        if o.peek {
            flg |= ext::MSGQ_PEEK;
        }
        q.receive_ext(id, &mut buf, o.mtype, flg, deadline(o.timeout))
    } else {
        q.receive(id, &mut buf, o.mtype, flg)
    };
    let op = Op::Receive {
        size: len,
        mtype: o.mtype,
        except: o.except,
    };
    let (mt, n) = r.map_err(|e| queue_fail(q.as_ref(), id, what, e, op, o.timeout))?;
    if let Some(p) = &o.file {
        // The message is received: failing to write it loses it, so say so.
        return std::fs::write(p, &buf[..n]).map_err(|e| {
            Fail(format!(
                "{}: {e} (the message, {n} bytes of type {mt}, was received and is lost)",
                p.display()
            ))
        });
    }
    let mut w = std::io::stdout().lock();
    let r = (|| {
        if o.print_type {
            write!(w, "{mt}\t")?;
        }
        w.write_all(&buf[..n])?;
        if !o.raw {
            w.write_all(b"\n")?;
        }
        w.flush()
    })();
    r.map_err(|e| Fail(format!("stdout: {e}")))
}

/// `msgq purge`: discards every message of the queue and prints how many.
pub fn purge(t: &Target, a: &QueueArg) -> R<()> {
    let q = t.required()?;
    let id = resolve(q.as_ref(), a)?;
    let n = q
        .purge(id)
        .map_err(|e| queue_fail(q.as_ref(), id, format!("purge {id}"), e, Op::Purge, None))?;
    out(&format!("{n}\n"))
}

/// `msgq select`: waits until a receive from one of `ids` would find a message; prints
/// each ready (or unwatchable) queue.
pub fn select(
    t: &Target,
    ids: &[i32],
    mtype: i64,
    except: bool,
    timeout: Option<Duration>,
    json: bool,
) -> R<()> {
    let q = t.required()?;
    let flg = if except { MSG_EXCEPT } else { 0 };
    let wants: Vec<_> = ids.iter().map(|&id| (id, mtype, flg)).collect();
    let ready = q
        .select(&wants, timeout.map(msgq_user::deadline_in))
        .map_err(|e| ext_fail("select".into(), e, true, timeout))?;
    let state = |r: i32| match r {
        0 => "waiting".to_string(),
        1 => "ready".to_string(),
        e => errno_name(Errno(-e)),
    };
    if json {
        let rows: Vec<String> = ids
            .iter()
            .zip(ready)
            .map(|(id, r)| {
                format!(
                    "\n      {{\"id\": \"{id}\", \"state\": {}}}",
                    columns::json_str(&state(r))
                )
            })
            .collect();
        return out(&format!(
            "{{\n   \"queues\": [{}\n   ]\n}}\n",
            rows.join(",")
        ));
    }
    let mut text = String::new();
    for (id, r) in ids.iter().zip(ready) {
        if r != 0 {
            text.push_str(&format!("{id} {}\n", state(r)));
        }
    }
    out(&text)
}

/// `msgq abort`: ends the waits of the queue's blocked receivers and/or senders
/// (`which`: `MSGQ_ABORT_*`) with ECANCELED and prints how many there were.
pub fn abort(t: &Target, a: &QueueArg, which: i32) -> R<()> {
    let q = t.required()?;
    let id = resolve(q.as_ref(), a)?;
    let n = q.abort(id, which).map_err(|e| {
        let op = Op::Abort(which);
        queue_fail(q.as_ref(), id, format!("abort {id}"), e, op, None)
    })?;
    out(&format!("{n}\n"))
}

pub const SYSCTLS: [Sysctl; 4] = [
    Sysctl::Msgmax,
    Sysctl::Msgmnb,
    Sysctl::Msgmni,
    Sysctl::MsgNextId,
];

pub fn limits_show(t: &Target, json: bool) -> R<()> {
    let q = t.verified()?;
    let mut vals = Vec::new();
    for w in SYSCTLS {
        vals.push((w, ctx(w.name(), q.sysctl(w))?));
    }
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
            q.set_sysctl(*w, *v).map_err(|e| {
                let rule = match e {
                    Errno::EINVAL => {
                        let hi = if *w == Sysctl::Msgmni {
                            msgq_core::ids::IPCMNI as i64
                        } else {
                            i32::MAX as i64
                        };
                        format!(": outside the kernel's range 0..={hi}")
                    }
                    Errno::EPERM => ": setting a limit needs CAP_SYS_ADMIN".into(),
                    _ => String::new(),
                };
                Fail(format!("{} = {v}: {}{rule}", w.name(), errno_text(e)))
            })?;
        }
    }
    Ok(())
}
