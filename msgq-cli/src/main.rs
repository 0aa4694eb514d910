//! `msgq`: see and manage msgq's message queues, as `ipcs`/`ipcmk`/`ipcrm` do for the
//! kernel's. Every command works on one store: `--store PATH`, else `$MSGQ_STORE`, else the
//! default store of this IPC namespace and user (the one `libmsg_shim.so` uses).

use clap::{Args, Parser, Subcommand};
use msgq_core::abi::{MsqidDs, IPC_CREAT, IPC_EXCL, IPC_NOWAIT, MSG_COPY, MSG_EXCEPT, MSG_NOERROR};
use msgq_user::{Errno, Store, StoreError, StoreErrorKind, StoreOptions, Sysctl};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const IPCMNI: i32 = 32768;

#[derive(Parser)]
#[command(
    name = "msgq",
    version,
    about = "See and manage msgq's System V message queues (the userspace store)",
    long_about = "See and manage msgq's System V message queues.\n\n\
        msgq keeps queues in a store file, by default one per IPC namespace and user under \
        /dev/shm (the store that programs run with LD_PRELOAD=libmsg_shim.so use). This \
        command lists, shows, creates and removes queues, sends and receives text messages, \
        shows and sets the limits (msgmax, msgmnb, msgmni, msg_next_id), checks a store's \
        integrity and removes a whole store.\n\n\
        Queue ids and keys are those programs see. Keys are decimal, or hexadecimal with 0x.",
    after_help = "Examples:\n  \
        msgq mk --key 0x1234            create a queue, print its id\n  \
        msgq send 0 'hello' --type 2    send a text message\n  \
        msgq recv 0                     receive the first message and print its text\n  \
        msgq list --json                all queues as JSON\n  \
        msgq limits set --msgmax 4096   lower the largest message size\n  \
        msgq --store /tmp/s check       check an explicit store"
)]
struct Cli {
    /// The store file to use [default: $MSGQ_STORE, else /dev/shm/msgq-<ipc ns>-<euid>]
    #[arg(long, global = true, value_name = "PATH")]
    store: Option<PathBuf>,

    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// List every queue of the store with its statistics (like `ipcs -q`)
    #[command(visible_alias = "ls")]
    List {
        /// Print a JSON array instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Show one queue in detail (like `ipcs -q -i ID`)
    Show {
        #[command(flatten)]
        q: QueueRef,
        /// Print a JSON object instead of text
        #[arg(long)]
        json: bool,
    },
    /// Create a queue (like `ipcmk -Q`) and print its id
    Mk {
        /// The key; without it a private queue (IPC_PRIVATE) is created
        #[arg(short, long, value_parser = parse_key)]
        key: Option<i32>,
        /// Permission bits, in octal
        #[arg(short, long, default_value = "644", value_parser = parse_mode)]
        mode: u32,
        /// Fail if a queue with the key exists (IPC_EXCL)
        #[arg(short = 'x', long)]
        excl: bool,
    },
    /// Remove queues by id or key (like `ipcrm -q ID` / `ipcrm -Q KEY`)
    Rm {
        /// Ids of the queues to remove
        ids: Vec<i32>,
        /// Keys of queues to remove (repeatable)
        #[arg(short, long, value_parser = parse_key)]
        key: Vec<i32>,
    },
    /// Send a text message to a queue
    Send {
        #[command(flatten)]
        q: QueueRef,
        /// The message text ("-" reads it from standard input)
        #[arg(allow_hyphen_values = true)]
        text: String,
        /// The message type (mtype, > 0)
        #[arg(short, long, default_value_t = 1, allow_negative_numbers = true)]
        r#type: i64,
        /// Fail with EAGAIN instead of waiting when the queue is full (IPC_NOWAIT)
        #[arg(short, long)]
        nowait: bool,
    },
    /// Receive a message from a queue and print its text (and, with --print-type, its type)
    Recv {
        #[command(flatten)]
        q: QueueRef,
        /// msgtyp: 0 = the first message, N > 0 = the first of type N, N < 0 = the lowest
        /// type <= |N|
        #[arg(short, long, default_value_t = 0, allow_negative_numbers = true)]
        r#type: i64,
        /// Fail with ENOMSG instead of waiting when there is no message (IPC_NOWAIT)
        #[arg(short, long)]
        nowait: bool,
        /// Truncate a longer message instead of failing with E2BIG (MSG_NOERROR)
        #[arg(long)]
        noerror: bool,
        /// With --type N > 0: the first message whose type is not N (MSG_EXCEPT)
        #[arg(long)]
        except: bool,
        /// Largest text accepted, in bytes [default: msgmax]
        #[arg(long)]
        size: Option<usize>,
        /// Print "TYPE<tab>TEXT"
        #[arg(long)]
        print_type: bool,
    },
    /// Show or set the store's limits (the msgmax, msgmnb, msgmni, msg_next_id sysctls)
    Limits {
        #[command(subcommand)]
        cmd: Option<LimitsCmd>,
    },
    /// Check the store's integrity and say what was checked
    #[command(long_about = "Check the store's integrity.\n\n\
        Checks, in order: the file opens and its header is valid (magic, version, layout \
        signature, sizes match the file); the limits read back within the kernel's ranges; \
        every queue index up to the highest in use (MSG_INFO) is walked with MSG_STAT_ANY: \
        each id's index is its slot, modes are within 0777, keys other than IPC_PRIVATE are \
        unique, bytes imply messages; the MSG_INFO totals (queues, messages, bytes) equal the \
        sums over the walk; the /proc/sysvipc/msg text has one row per queue with the same \
        ids; and every message of every queue the caller may read is copied with MSG_COPY \
        (which walks the message lists without changing them), its type is positive and \
        the sizes add up to the queue's byte count. A corrupted list or offset is reported \
        by the engine as EIO. Run it on a quiet store: concurrent senders and receivers \
        change the numbers between the steps.")]
    Check,
    /// Print the path of the store this command (and the shim) would use
    Path,
    /// Remove the whole store file (every queue in it)
    #[command(
        long_about = "Remove the whole store file, and with it every queue.\n\n\
        The file is checked to be a msgq store first (--force skips the check). Processes \
        that have the store open keep using the removed file until they exit; new processes \
        get a fresh, empty store."
    )]
    RemoveStore {
        /// Remove the file even if it is not a valid msgq store
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum LimitsCmd {
    /// Show the limits (the default)
    Show {
        /// Print a JSON object
        #[arg(long)]
        json: bool,
    },
    /// Set one or more limits (kernel ranges apply: EINVAL outside them)
    Set {
        /// Largest message text, in bytes (0..=2147483647)
        #[arg(long)]
        msgmax: Option<i64>,
        /// msg_qbytes given to new queues (0..=2147483647)
        #[arg(long)]
        msgmnb: Option<i64>,
        /// Most queues (0..=32768)
        #[arg(long)]
        msgmni: Option<i64>,
        /// The id the next new queue asks for (0..=2147483647; used once)
        #[arg(long)]
        msg_next_id: Option<i64>,
    },
}

#[derive(Args)]
struct QueueRef {
    /// The queue: its id, or with --key its key
    #[arg(value_name = "QUEUE", allow_negative_numbers = true, value_parser = parse_key)]
    queue: i32,
    /// QUEUE is a key (decimal or 0x hex), not an id
    #[arg(short, long)]
    key: bool,
}

fn parse_key(s: &str) -> Result<i32, String> {
    let (neg, t) = match s.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, s),
    };
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(h, 16)
    } else {
        t.parse::<i64>()
    }
    .map_err(|e| format!("not a key: {e}"))?;
    let v = if neg { -v } else { v };
    if v < i32::MIN as i64 || v > u32::MAX as i64 {
        return Err("key out of range".into());
    }
    Ok(v as u32 as i32)
}

fn parse_mode(s: &str) -> Result<u32, String> {
    let v = u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .map_err(|e| format!("not an octal mode: {e}"))?;
    if v > 0o777 {
        return Err("mode must be within 0777".into());
    }
    Ok(v)
}

/// A failure to report: the message and the exit code.
struct Fail(String);

type R<T> = Result<T, Fail>;

fn errno_text(e: Errno) -> String {
    let s = std::io::Error::from_raw_os_error(e.0).to_string();
    let s = s.split(" (os error").next().unwrap_or(&s).to_owned();
    format!("{s} ({})", e.name())
}

fn ctx<T>(what: impl std::fmt::Display, r: Result<T, Errno>) -> R<T> {
    r.map_err(|e| Fail(format!("{what}: {}", errno_text(e))))
}

fn store_path(cli: &Cli) -> PathBuf {
    if let Some(p) = &cli.store {
        return p.clone();
    }
    match std::env::var_os("MSGQ_STORE") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Store::default_path(),
    }
}

fn not_found(e: &StoreError) -> bool {
    matches!(&e.kind, StoreErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound)
}

/// Opens an existing store; `None` when there is none.
fn open_existing(path: &Path) -> R<Option<Store>> {
    match Store::open(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(Fail(e.to_string())),
    }
}

fn open_required(path: &Path) -> R<Store> {
    open_existing(path)?.ok_or_else(|| {
        Fail(format!(
            "no msgq store at {} (no queues yet; `msgq mk` creates one)",
            path.display()
        ))
    })
}

fn open_or_create(path: &Path) -> R<Store> {
    Store::open_or_create(path, &StoreOptions::default()).map_err(|e| Fail(e.to_string()))
}

/// Every queue: (id, state), in index order.
fn queues(s: &Store) -> R<Vec<(i32, MsqidDs)>> {
    let (max, _) = ctx("MSG_INFO", s.info(true))?;
    let mut out = Vec::new();
    for idx in 0..=max.min(IPCMNI - 1) {
        match s.stat_index(idx, true) {
            Ok(q) => out.push(q),
            Err(Errno::EINVAL) | Err(Errno::EIDRM) => {}
            Err(e) => return ctx(format!("MSG_STAT_ANY {idx}"), Err(e)),
        }
    }
    Ok(out)
}

fn resolve(s: &Store, q: &QueueRef) -> R<i32> {
    if !q.key {
        return Ok(q.queue);
    }
    let key = q.queue;
    queues(s)?
        .into_iter()
        .find(|(_, d)| d.msg_perm.key == key && key != 0)
        .map(|(id, _)| id)
        .ok_or_else(|| Fail(format!("no queue with key {key:#010x}")))
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

fn out(s: &str) -> R<()> {
    let mut o = std::io::stdout().lock();
    o.write_all(s.as_bytes())
        .and_then(|()| o.flush())
        .map_err(|e| Fail(format!("stdout: {e}")))
}

fn cmd_list(path: &Path, json: bool) -> R<()> {
    let qs = match open_existing(path)? {
        Some(s) => queues(&s)?,
        None => Vec::new(),
    };
    let mut t = String::new();
    if json {
        t.push('[');
        for (i, (id, d)) in qs.iter().enumerate() {
            if i > 0 {
                t.push(',');
            }
            t.push_str(&json_queue(*id, d));
        }
        t.push_str("]\n");
    } else {
        t.push_str(&format!(
            "{:>10} {:<10} {:>5} {:>6} {:>6} {:>10} {:>8} {:>10} {:>7} {:>7}\n",
            "ID", "KEY", "PERMS", "UID", "GID", "BYTES", "MSGS", "QBYTES", "LSPID", "LRPID"
        ));
        for (id, d) in &qs {
            t.push_str(&format!(
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
    out(&t)
}

fn find(s: &Store, id: i32) -> R<MsqidDs> {
    if id < 0 {
        return Err(Fail(format!("no queue with id {id}")));
    }
    match s.stat_index(id % IPCMNI, true) {
        Ok((got, d)) if got == id => Ok(d),
        Ok(_) | Err(Errno::EINVAL) | Err(Errno::EIDRM) => {
            Err(Fail(format!("no queue with id {id}")))
        }
        Err(e) => ctx(format!("queue {id}"), Err(e)),
    }
}

fn cmd_show(path: &Path, q: &QueueRef, json: bool) -> R<()> {
    let s = open_required(path)?;
    let id = resolve(&s, q)?;
    let d = find(&s, id)?;
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

fn cmd_mk(path: &Path, key: Option<i32>, mode: u32, excl: bool) -> R<()> {
    let s = open_or_create(path)?;
    let mut flg = IPC_CREAT | mode as i32;
    if excl {
        flg |= IPC_EXCL;
    }
    let key = key.unwrap_or(0);
    let id = ctx(format!("msgget({key:#x})"), s.msgget(key, flg))?;
    out(&format!("{id}\n"))
}

fn cmd_rm(path: &Path, ids: &[i32], keys: &[i32]) -> R<()> {
    if ids.is_empty() && keys.is_empty() {
        return Err(Fail("rm: give queue ids and/or --key KEY".into()));
    }
    let s = open_required(path)?;
    let mut failed = Vec::new();
    let mut targets: Vec<(String, Result<i32, String>)> =
        ids.iter().map(|&id| (format!("id {id}"), Ok(id))).collect();
    for &k in keys {
        let r = resolve(
            &s,
            &QueueRef {
                queue: k,
                key: true,
            },
        )
        .map_err(|f| f.0);
        targets.push((format!("key {k:#010x}"), r));
    }
    for (what, r) in targets {
        let r = r.and_then(|id| s.remove(id).map_err(errno_text));
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

fn cmd_send(path: &Path, q: &QueueRef, text: &str, mtype: i64, nowait: bool) -> R<()> {
    let s = open_required(path)?;
    let id = resolve(&s, q)?;
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
    ctx(format!("send to {id}"), s.send(id, mtype, &body, flg))
}

#[allow(clippy::too_many_arguments)]
fn cmd_recv(
    path: &Path,
    q: &QueueRef,
    mtype: i64,
    nowait: bool,
    noerror: bool,
    except: bool,
    size: Option<usize>,
    print_type: bool,
) -> R<()> {
    let s = open_required(path)?;
    let id = resolve(&s, q)?;
    let size = match size {
        Some(n) => n,
        None => ctx("msgmax", s.sysctl(Sysctl::Msgmax))?.max(0) as usize,
    };
    let mut flg = 0;
    if nowait {
        flg |= IPC_NOWAIT;
    }
    if noerror {
        flg |= MSG_NOERROR;
    }
    if except {
        flg |= MSG_EXCEPT;
    }
    let mut buf = vec![0u8; size];
    let (t, n) = ctx(
        format!("receive from {id}"),
        s.receive(id, &mut buf, mtype, flg),
    )?;
    let mut o = std::io::stdout().lock();
    let r = (|| {
        if print_type {
            write!(o, "{t}\t")?;
        }
        o.write_all(&buf[..n])?;
        o.write_all(b"\n")?;
        o.flush()
    })();
    r.map_err(|e| Fail(format!("stdout: {e}")))
}

const SYSCTLS: [Sysctl; 4] = [
    Sysctl::Msgmax,
    Sysctl::Msgmnb,
    Sysctl::Msgmni,
    Sysctl::MsgNextId,
];

fn cmd_limits_show(path: &Path, json: bool) -> R<()> {
    let (vals, note) = match open_existing(path)? {
        Some(s) => {
            let mut v = Vec::new();
            for w in SYSCTLS {
                v.push((w, ctx(w.name(), s.sysctl(w))?));
            }
            (v, "")
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
                " (no store yet: defaults)",
            )
        }
    };
    let t = if json {
        let fields: Vec<String> = vals
            .iter()
            .map(|(w, v)| format!("\"{}\":{v}", w.name()))
            .collect();
        format!("{{{}}}\n", fields.join(","))
    } else {
        let mut t = String::new();
        for (w, v) in &vals {
            t.push_str(&format!("{:<12} {v}\n", w.name()));
        }
        if !note.is_empty() {
            eprintln!("msgq: {}{note}", path.display());
        }
        t
    };
    out(&t)
}

fn cmd_limits_set(path: &Path, vals: &[(Sysctl, Option<i64>)]) -> R<()> {
    if vals.iter().all(|(_, v)| v.is_none()) {
        return Err(Fail(
            "limits set: give at least one of --msgmax, --msgmnb, --msgmni, --msg-next-id".into(),
        ));
    }
    let s = open_or_create(path)?;
    for (w, v) in vals {
        if let Some(v) = v {
            ctx(format!("{} = {v}", w.name()), s.set_sysctl(*w, *v))?;
        }
    }
    Ok(())
}

fn cmd_check(path: &Path) -> R<()> {
    let mut problems = Vec::new();
    let mut say = |ok: bool, what: String| {
        println!("{} {what}", if ok { "ok  " } else { "FAIL" });
        if !ok {
            problems.push(what);
        }
    };
    let s = match Store::open(path) {
        Ok(s) => s,
        Err(e) => {
            say(false, format!("open: {e}"));
            return Err(Fail(format!("{}: check failed", path.display())));
        }
    };
    say(
        true,
        format!(
            "header: {} is a msgq store of this version, sizes match the file",
            path.display()
        ),
    );
    match s.check() {
        Ok(r) => say(
            true,
            format!(
                "structures: {} queues, {} messages ({} bytes), {} blocked waiters, {} pending \
                 deliveries; every list link, count, type index and free list consistent \
                 ({} crash recoveries so far)",
                r.queues, r.messages, r.bytes, r.waiters, r.pending, r.recoveries
            ),
        ),
        Err(e) => say(false, format!("structures: {e}")),
    }
    let mut limits_ok = true;
    for w in SYSCTLS {
        match s.sysctl(w) {
            Ok(v) if w == Sysctl::MsgNextId && v == -1 => {}
            Ok(v) if w.validate(v).is_ok() => {}
            Ok(v) => {
                limits_ok = false;
                say(false, format!("limit {} = {v} is out of range", w.name()));
            }
            Err(e) => {
                limits_ok = false;
                say(false, format!("limit {}: {}", w.name(), errno_text(e)));
            }
        }
    }
    if limits_ok {
        say(
            true,
            "limits: msgmax, msgmnb, msgmni, msg_next_id in range".into(),
        );
    }
    let (max, mi) = match s.info(true) {
        Ok(x) => x,
        Err(e) => {
            say(false, format!("MSG_INFO: {}", errno_text(e)));
            return Err(Fail(format!("{}: check failed", path.display())));
        }
    };
    let mut count = 0u64;
    let (mut msgs, mut bytes) = (0u64, 0u64);
    let mut keys = std::collections::HashSet::new();
    let mut ids = Vec::new();
    let mut walk_ok = true;
    for idx in 0..=max.min(IPCMNI - 1) {
        match s.stat_index(idx, true) {
            Ok((id, d)) => {
                count += 1;
                msgs += d.msg_qnum;
                bytes += d.msg_cbytes;
                ids.push(id);
                let mut bad = |what: String| {
                    walk_ok = false;
                    say(false, format!("queue {id} (index {idx}): {what}"));
                };
                if id % IPCMNI != idx || id < 0 {
                    bad(format!("id {id} does not belong to index {idx}"));
                }
                if d.msg_perm.mode & !0o777 != 0 {
                    bad(format!("mode {:o} has bits beyond 0777", d.msg_perm.mode));
                }
                if d.msg_perm.key != 0 && !keys.insert(d.msg_perm.key) {
                    bad(format!("key {:#x} is used twice", d.msg_perm.key));
                }
                if d.msg_cbytes > 0 && d.msg_qnum == 0 {
                    bad(format!("{} bytes but no messages", d.msg_cbytes));
                }
            }
            Err(Errno::EINVAL) => {}
            Err(e) => {
                walk_ok = false;
                say(
                    false,
                    format!("index {idx}: MSG_STAT_ANY: {}", errno_text(e)),
                );
            }
        }
    }
    if walk_ok {
        say(
            true,
            format!("queues: {count} walked (indexes 0..={max}), ids, modes, keys consistent"),
        );
    }
    let totals = (mi.msgpool as u64, mi.msgmap as u64, mi.msgtql as u64);
    say(
        totals == (count, msgs, bytes),
        format!(
            "totals: MSG_INFO says {} queues, {} messages, {} bytes; the walk found {count}, {msgs}, {bytes}",
            totals.0, totals.1, totals.2
        ),
    );
    match s.proc_sysvipc_msg() {
        Ok(text) => {
            let rows: Vec<i32> = text
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
                .collect();
            say(
                rows == ids,
                format!(
                    "/proc/sysvipc/msg text: {} rows, ids match the walk",
                    rows.len()
                ),
            );
        }
        Err(e) => say(false, format!("/proc/sysvipc/msg text: {}", errno_text(e))),
    }
    let (mut copied, mut skipped) = (0u64, 0u64);
    let mut msg_ok = true;
    for &id in &ids {
        let Ok(d) = find(&s, id) else { continue };
        let mut buf = vec![0u8; (d.msg_cbytes as usize).max(1)];
        let mut sum = 0u64;
        let mut complete = true;
        for i in 0..d.msg_qnum {
            match s.receive(id, &mut buf, i as i64, MSG_COPY | IPC_NOWAIT) {
                Ok((t, n)) => {
                    copied += 1;
                    sum += n as u64;
                    if t <= 0 {
                        msg_ok = false;
                        say(false, format!("queue {id}: message {i} has type {t}"));
                    }
                }
                Err(Errno::EACCES) => {
                    skipped += 1;
                    complete = false;
                    break;
                }
                Err(e) => {
                    msg_ok = false;
                    complete = false;
                    say(false, format!("queue {id}: message {i}: {}", errno_text(e)));
                    break;
                }
            }
        }
        if complete && sum != d.msg_cbytes {
            msg_ok = false;
            say(
                false,
                format!(
                    "queue {id}: messages hold {sum} bytes, the queue says {}",
                    d.msg_cbytes
                ),
            );
        }
    }
    if msg_ok {
        say(
            true,
            format!(
                "messages: {copied} copied with MSG_COPY, sizes add up ({skipped} queues not readable by this user, skipped)"
            ),
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Fail(format!(
            "{}: {} problem(s) found",
            path.display(),
            problems.len()
        )))
    }
}

fn cmd_remove_store(path: &Path, force: bool) -> R<()> {
    if !force {
        match Store::open(path) {
            Ok(s) => drop(s),
            Err(e) if not_found(&e) => {
                return Err(Fail(format!("no msgq store at {}", path.display())))
            }
            Err(e) => return Err(Fail(format!("{e} (use --force to remove it anyway)"))),
        }
    }
    std::fs::remove_file(path).map_err(|e| Fail(format!("{}: {e}", path.display())))
}

fn run(cli: &Cli) -> R<()> {
    let path = store_path(cli);
    match &cli.cmd {
        Cmd::List { json } => cmd_list(&path, *json),
        Cmd::Show { q, json } => cmd_show(&path, q, *json),
        Cmd::Mk { key, mode, excl } => cmd_mk(&path, *key, *mode, *excl),
        Cmd::Rm { ids, key } => cmd_rm(&path, ids, key),
        Cmd::Send {
            q,
            text,
            r#type,
            nowait,
        } => cmd_send(&path, q, text, *r#type, *nowait),
        Cmd::Recv {
            q,
            r#type,
            nowait,
            noerror,
            except,
            size,
            print_type,
        } => cmd_recv(
            &path,
            q,
            *r#type,
            *nowait,
            *noerror,
            *except,
            *size,
            *print_type,
        ),
        Cmd::Limits { cmd } => match cmd {
            None => cmd_limits_show(&path, false),
            Some(LimitsCmd::Show { json }) => cmd_limits_show(&path, *json),
            Some(LimitsCmd::Set {
                msgmax,
                msgmnb,
                msgmni,
                msg_next_id,
            }) => cmd_limits_set(
                &path,
                &[
                    (Sysctl::Msgmax, *msgmax),
                    (Sysctl::Msgmnb, *msgmnb),
                    (Sysctl::Msgmni, *msgmni),
                    (Sysctl::MsgNextId, *msg_next_id),
                ],
            ),
        },
        Cmd::Check => cmd_check(&path),
        Cmd::Path => out(&format!("{}\n", path.display())),
        Cmd::RemoveStore { force } => cmd_remove_store(&path, *force),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(msg)) => {
            eprintln!("msgq: {msg}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn keys() {
        assert_eq!(parse_key("0x1234"), Ok(0x1234));
        assert_eq!(parse_key("-2"), Ok(-2));
        assert_eq!(parse_key("0xfffffffe"), Ok(-2));
        assert!(parse_key("zz").is_err());
        assert_eq!(parse_mode("600"), Ok(0o600));
        assert!(parse_mode("1000").is_err());
    }
}
