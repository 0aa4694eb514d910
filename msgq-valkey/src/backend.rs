//! [`Valkey`]: one namespace of queues on a Valkey server or cluster, with the calls'
//! Linux semantics (`docs/cluster.md`).
//!
//! Each call checks what needs no queue state with msgq-core's rules, then runs one library
//! function on the queue's shard. A call that must block gets a waiter id, waits on the
//! server for its outcome (`wait.rs`), and settles it.

use crate::keys::{pad_type, unpad_type, valid_namespace, Names};
use crate::link::Link;
use crate::registry::{Registry, Snapshot};
use crate::reply::{bytes, int, reply, Reply};
use crate::resp::Value;
use crate::wait::{self, Outcome};
use msgq_core::abi::{MsgInfo, MsqidDs, IPC_NOWAIT, IPC_PRIVATE, MSG_NOERROR};
use msgq_core::ctl::{self, QueueFields};
use msgq_core::ext::{self, SendExt};
use msgq_core::ids::{idx_of, seq_of};
use msgq_core::limits::{Limits, Sysctl};
use msgq_core::perm::{Caller, Perm};
use msgq_core::select::Mode;
use msgq_core::{checks, get, Errno};
use msgq_user::sys::creds::{self, Creds};
use std::sync::Mutex;

/// The most queues one [`Valkey::select`] watches (the userspace engine's limit).
pub const SELECT_MAX: usize = msgq_user::SELECT_MAX;
use std::time::{Duration, Instant};

/// How long a namespace's limits, read from the registry, are trusted before being read
/// again (a client's own writes refresh them at once).
const LIMITS_TTL: Duration = Duration::from_secs(1);

/// A namespace of queues on a Valkey (or Redis 7+) server or cluster.
pub struct Valkey {
    link: Link,
    names: Names,
    limits: Mutex<Option<(Instant, Limits)>>,
    /// A blocked call's lease (ms, as text for the library).
    lease: String,
    /// `MSGQ_VALKEY_WAIT`: replicas that must have every send before it returns, and how
    /// long to wait for them (`MSGQ_VALKEY_WAIT_MS`, default 1000).
    durable: Option<(u32, u64)>,
}

fn durable_from_env() -> Option<(u32, u64)> {
    let n: u32 = std::env::var("MSGQ_VALKEY_WAIT").ok()?.parse().ok()?;
    let ms = std::env::var("MSGQ_VALKEY_WAIT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    (n > 0).then_some((n, ms))
}

/// The lease of a blocked call unless `MSGQ_VALKEY_LEASE_MS` says otherwise (100 ms at
/// least): how long a waiter whose client stopped renewing it keeps its place.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

fn lease_from_env() -> Duration {
    std::env::var("MSGQ_VALKEY_LEASE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(DEFAULT_LEASE, |ms| Duration::from_millis(ms.max(100)))
}

/// The caller as the library's permission check reads it: "euid,caps,group,group...".
fn cred_arg(c: &Creds) -> String {
    let mut s = format!("{},{}", c.euid, u8::from(c.cap_ipc_owner()));
    s.push(',');
    s.push_str(&c.fsgid.to_string());
    for g in &c.groups {
        s.push(',');
        s.push_str(&g.to_string());
    }
    s
}

fn pid() -> i32 {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

fn tid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// A reply whose first element counts something (`msgq1_purge`, `msgq1_abort`).
fn count(r: Reply) -> Result<u64, Errno> {
    match r {
        Reply::Done(items) => Ok(items.first().map_or(Ok(0), int)?.max(0) as u64),
        Reply::Failed(e) => Err(e),
        _ => Err(Errno::EIO),
    }
}

/// A queue's fields from `msgq_stat`'s reply.
fn fields(items: Vec<Value>) -> Result<(i32, QueueFields), Errno> {
    if items.len() != 15 {
        return Err(Errno::EIO);
    }
    let n = |i: usize| int(&items[i]);
    let id = n(0)? as i32;
    let f = QueueFields {
        perm: Perm {
            key: n(1)? as i32,
            uid: n(2)? as u32,
            gid: n(3)? as u32,
            cuid: n(4)? as u32,
            cgid: n(5)? as u32,
            mode: n(6)? as u32,
        },
        seq: seq_of(id),
        stime: n(7)?,
        rtime: n(8)?,
        ctime: n(9)?,
        cbytes: n(10)? as u64,
        qnum: n(11)? as u64,
        qbytes: match &items[12] {
            Value::Bulk(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| {
                    s.parse::<u64>()
                        .ok()
                        .or_else(|| s.parse::<i64>().ok().map(|v| v as u64))
                })
                .ok_or(Errno::EIO)?,
            v => int(v)? as u64,
        },
        lspid: n(13)? as i32,
        lrpid: n(14)? as i32,
    };
    Ok((id, f))
}

impl Valkey {
    /// Connects to `url` (`valkey://[user:password@]host:port[,host:port...]`) for the
    /// namespace `ns`. `EINVAL` for a bad URL or namespace name; the connection's errno if no
    /// server answers.
    pub fn open(url: &str, ns: &str) -> Result<Valkey, Errno> {
        if !valid_namespace(ns) {
            return Err(Errno::EINVAL);
        }
        Ok(Valkey {
            link: Link::open(url)?,
            names: Names::new(ns),
            limits: Mutex::new(None),
            lease: lease_from_env().as_millis().to_string(),
            durable: durable_from_env(),
        })
    }

    /// Every send waits until `replicas` replicas of its shard have it (`WAIT`), at most
    /// `timeout`; if fewer do, the send fails with `EIO` (the message was queued, but a
    /// failover may lose it). 0 turns this off. `$MSGQ_VALKEY_WAIT` and
    /// `$MSGQ_VALKEY_WAIT_MS` set it for programs under the shim.
    pub fn with_replicas(mut self, replicas: u32, timeout: Duration) -> Valkey {
        self.durable = (replicas > 0).then_some((replicas, timeout.as_millis() as u64));
        self
    }

    /// How long a blocked call of this client keeps its place after its client stops
    /// renewing it (it renews every half lease): [`DEFAULT_LEASE`] unless
    /// `$MSGQ_VALKEY_LEASE_MS` says otherwise; at least 100 ms.
    pub fn with_lease(mut self, lease: Duration) -> Valkey {
        self.lease = lease
            .max(Duration::from_millis(100))
            .as_millis()
            .to_string();
        self
    }

    /// [`Valkey::open`] with `$MSGQ_URL` and `$MSGQ_NAMESPACE` (default `default`).
    pub fn from_env() -> Result<Valkey, Errno> {
        let url = std::env::var("MSGQ_URL").map_err(|_| Errno::EINVAL)?;
        let ns = std::env::var("MSGQ_NAMESPACE").unwrap_or_else(|_| "default".to_owned());
        Valkey::open(&url, &ns)
    }

    /// Waits for waiter `wid` of queue `idx` (`wait::wait`).
    fn wait(
        &self,
        idx: u32,
        wid: &[u8],
        deadline: Option<Instant>,
        since: &msgq_user::interrupt::Since,
    ) -> Result<Outcome, Errno> {
        wait::wait(
            &self.link,
            &self.names,
            idx,
            wid,
            deadline,
            since,
            self.renew(),
        )
    }

    /// How long one wait lasts before the lease is renewed: half the lease.
    fn renew(&self) -> Duration {
        Duration::from_millis(self.lease.parse::<u64>().unwrap_or(10_000) / 2)
    }

    fn registry(&self) -> Registry<'_> {
        Registry {
            link: &self.link,
            names: &self.names,
        }
    }

    fn snapshot(&self) -> Result<Snapshot, Errno> {
        let s = self.registry().snapshot()?;
        if let Ok(mut l) = self.limits.lock() {
            *l = Some((Instant::now(), s.limits));
        }
        Ok(s)
    }

    /// The namespace's limits, as read at most [`LIMITS_TTL`] ago.
    fn limits(&self) -> Result<Limits, Errno> {
        if let Ok(l) = self.limits.lock() {
            if let Some((at, lim)) = *l {
                if at.elapsed() < LIMITS_TTL {
                    return Ok(lim);
                }
            }
        }
        Ok(self.snapshot()?.limits)
    }

    fn forget_limits(&self) {
        if let Ok(mut l) = self.limits.lock() {
            *l = None;
        }
    }

    fn queue_call(&self, func: &str, idx: u32, args: &[&[u8]]) -> Result<Reply, Errno> {
        reply(self.link.fcall(func, &self.names.queue(idx), args)?)
    }

    /// `msgget(key, msgflg)`, in msgq-core's decision order (`get::msgget`).
    pub fn msgget(&self, key: i32, msgflg: i32) -> Result<i32, Errno> {
        let c = creds::with(|c| c.clone());
        let reg = self.registry();
        for _ in 0..10_000 {
            let found = if key == IPC_PRIVATE {
                None
            } else {
                let (id, pending, now) = reg.lookup(key)?;
                match (id, pending) {
                    (Some(id), Some(deadline)) => {
                        if deadline > now {
                            // Being created by another client: wait for it, as msgget waits
                            // for the ids lock.
                            std::thread::sleep(Duration::from_millis(2));
                        } else {
                            self.repair(id)?;
                        }
                        continue;
                    }
                    (id, _) => id,
                }
            };
            match get::msgget(key, msgflg, found.is_some())? {
                get::Get::Open => {
                    let Some(id) = found else {
                        return Err(Errno::EIO);
                    };
                    let (i, f) = (id.to_string(), (msgflg & 0o777).to_string());
                    let cred = cred_arg(&c);
                    match self.queue_call(
                        "msgq1_open",
                        idx_of(id),
                        &[i.as_bytes(), cred.as_bytes(), f.as_bytes()],
                    )? {
                        Reply::Done(_) => return Ok(id),
                        // The registry names a queue that is gone (a removal that died
                        // between its two steps): free it and look again.
                        Reply::Failed(Errno::EINVAL) => reg.free(id, Some(key))?,
                        Reply::Failed(e) => return Err(e),
                        _ => return Err(Errno::EIO),
                    }
                }
                get::Get::Create => {
                    let s = self.snapshot()?;
                    let Some((id, idx)) = reg.reserve(&s, key)? else {
                        continue;
                    };
                    let p = get::new_perm(key, msgflg, c.euid, c.egid);
                    let args = [
                        id.to_string(),
                        key.to_string(),
                        p.mode.to_string(),
                        p.uid.to_string(),
                        p.gid.to_string(),
                        s.limits.msgmnb.to_string(),
                    ];
                    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
                    match self.queue_call("msgq1_create", idx, &refs)? {
                        Reply::Done(_) => {
                            reg.commit(id)?;
                            return Ok(id);
                        }
                        // A stale queue holds the index: give the reservation back.
                        Reply::Failed(_) => reg.free(id, (key != 0).then_some(key))?,
                        _ => return Err(Errno::EIO),
                    }
                }
            }
        }
        Err(Errno::EAGAIN)
    }

    /// A reservation whose creator did not commit in time: committed if its queue exists,
    /// freed otherwise.
    fn repair(&self, id: i32) -> Result<(), Errno> {
        let i = id.to_string();
        let v = self.link.fcall(
            "msgq1_exists",
            &self.names.queue(idx_of(id)),
            &[i.as_bytes()],
        )?;
        if int(&v)? == 1 {
            self.registry().commit(id)
        } else {
            self.registry().free(id, None)
        }
    }

    /// `msgsnd`: sends `mtype` and `text` (the caller checked the arguments with
    /// [`Valkey::check_send`]). `deadline`: a timed send's end (`ETIMEDOUT`); `urgent`:
    /// `MSGQ_URGENT`.
    pub fn send(
        &self,
        msqid: i32,
        mtype: i64,
        text: &[u8],
        msgflg: i32,
        deadline: Option<Instant>,
        urgent: bool,
    ) -> Result<(), Errno> {
        let x = SendExt {
            urgent,
            ..SendExt::default()
        };
        self.send_with(msqid, mtype, text, msgflg, deadline, x)
            .map(|_| ())
    }

    /// A send with msgq's extensions in `msgflg` (`MSGQ_URGENT`, `MSGQ_OVERWRITE`,
    /// `MSGQ_BROADCAST`; docs/extensions.md): 0, or the messages dropped (overwrite), or the
    /// blocked callers given a copy (broadcast). The caller checked the arguments with
    /// [`Valkey::check_send`].
    pub fn send_ext(
        &self,
        msqid: i32,
        mtype: i64,
        text: &[u8],
        msgflg: i32,
        deadline: Option<Instant>,
    ) -> Result<u64, Errno> {
        let (x, flags) = ext::send_flags(msgflg)?;
        self.send_with(msqid, mtype, text, flags, deadline, x)
    }

    fn send_with(
        &self,
        msqid: i32,
        mtype: i64,
        text: &[u8],
        msgflg: i32,
        deadline: Option<Instant>,
        x: SendExt,
    ) -> Result<u64, Errno> {
        let urgent = x.urgent;
        let mode = if x.overwrite {
            "o"
        } else if x.broadcast {
            "b"
        } else {
            ""
        };
        let need = x.perm().to_string();
        let since = msgq_user::interrupt::Since::now();
        let idx = idx_of(msqid);
        let (id, ty) = (msqid.to_string(), pad_type(mtype));
        let nowait = if msgflg & IPC_NOWAIT != 0 { "1" } else { "0" };
        let (p, u) = (pid().to_string(), if urgent { "1" } else { "0" });
        loop {
            let cred = creds::with(cred_arg);
            let args: [&[u8]; 10] = [
                id.as_bytes(),
                cred.as_bytes(),
                ty.as_bytes(),
                text,
                nowait.as_bytes(),
                p.as_bytes(),
                u.as_bytes(),
                self.lease.as_bytes(),
                mode.as_bytes(),
                need.as_bytes(),
            ];
            match self.queue_call("msgq1_snd", idx, &args)? {
                Reply::Done(items) => {
                    let n = |i: usize| items.get(i).map_or(Ok(0), int).map(|v| v.max(0) as u64);
                    let (dropped, given) = (n(0)?, n(1)?);
                    self.confirm(idx)?;
                    return Ok(x.result(dropped, given));
                }
                Reply::Failed(e) => return Err(e),
                Reply::Retry => return Err(Errno::EIO),
                Reply::Wait(wid) => match self.wait(idx, &wid, deadline, &since)? {
                    Outcome::Again => continue,
                    Outcome::Error(e) => return Err(e),
                    Outcome::Message(..) => return Err(Errno::EIO),
                },
            }
        }
    }

    /// The namespace's `msgmax` (read at most a second ago).
    pub fn limits_msgmax(&self) -> Result<u32, Errno> {
        Ok(self.limits()?.msgmax)
    }

    /// With `MSGQ_VALKEY_WAIT=N`: waits until `N` replicas have the send just made (`WAIT`),
    /// else `EIO`: the message was queued, but a failover may lose it (docs/cluster.md).
    fn confirm(&self, idx: u32) -> Result<(), Errno> {
        let Some((n, ms)) = self.durable else {
            return Ok(());
        };
        if self.link.wait_replicas(&self.names.queue(idx), n, ms)? < i64::from(n) {
            return Err(Errno::EIO);
        }
        Ok(())
    }

    /// msgsnd's argument checks in the kernel's order, with the namespace's `msgmax`.
    pub fn check_send(&self, msqid: i32, msgsz: usize, mtype: i64) -> Result<(), Errno> {
        checks::msgsnd_args(msqid, msgsz, mtype, self.limits()?.msgmax)
    }

    /// `msgrcv`: the selected message's type and text (at most `msgsz` bytes: a longer
    /// message is `E2BIG`, or cut under `MSG_NOERROR`).
    pub fn receive(
        &self,
        msqid: i32,
        msgsz: usize,
        msgtyp: i64,
        msgflg: i32,
        deadline: Option<Instant>,
    ) -> Result<(i64, Vec<u8>), Errno> {
        self.receive_with(msqid, msgsz, msgtyp, msgflg, deadline, false)
    }

    /// A receive with msgq's extensions in `msgflg` (`MSGQ_PEEK`: a copy of the message,
    /// left queued; blocking, the next matching message sent).
    pub fn receive_ext(
        &self,
        msqid: i32,
        msgsz: usize,
        msgtyp: i64,
        msgflg: i32,
        deadline: Option<Instant>,
    ) -> Result<(i64, Vec<u8>), Errno> {
        let (x, flags) = ext::recv_flags(msgflg)?;
        self.receive_with(msqid, msgsz, msgtyp, flags, deadline, x.peek)
    }

    fn receive_with(
        &self,
        msqid: i32,
        msgsz: usize,
        msgtyp: i64,
        msgflg: i32,
        deadline: Option<Instant>,
        peek: bool,
    ) -> Result<(i64, Vec<u8>), Errno> {
        checks::msgrcv_args(msqid, msgsz, msgflg)?;
        let pk = if peek { "1" } else { "0" };
        let since = msgq_user::interrupt::Since::now();
        let (kind, value) = Mode::of(msgtyp, msgflg).encode();
        let t = if kind == 4 {
            value.to_string()
        } else {
            pad_type(value)
        };
        let msgmax = if kind == 4 {
            self.limits()?.msgmax.to_string()
        } else {
            "0".to_owned()
        };
        let idx = idx_of(msqid);
        let (id, k, sz) = (msqid.to_string(), kind.to_string(), msgsz.to_string());
        let noerror = if msgflg & MSG_NOERROR != 0 { "1" } else { "0" };
        let nowait = if msgflg & IPC_NOWAIT != 0 { "1" } else { "0" };
        let (p, tt) = (pid().to_string(), tid().to_string());
        loop {
            let cred = creds::with(cred_arg);
            let args: [&[u8]; 12] = [
                id.as_bytes(),
                cred.as_bytes(),
                k.as_bytes(),
                t.as_bytes(),
                sz.as_bytes(),
                noerror.as_bytes(),
                nowait.as_bytes(),
                p.as_bytes(),
                tt.as_bytes(),
                msgmax.as_bytes(),
                self.lease.as_bytes(),
                pk.as_bytes(),
            ];
            match self.queue_call("msgq1_rcv", idx, &args)? {
                Reply::Done(mut items) if items.len() == 2 => {
                    let mut text = bytes(items.pop().unwrap_or(Value::Nil))?;
                    let ty = bytes(items.pop().unwrap_or(Value::Nil))?;
                    text.truncate(msgsz);
                    return Ok((unpad_type(&ty).ok_or(Errno::EIO)?, text));
                }
                Reply::Done(_) | Reply::Retry => return Err(Errno::EIO),
                Reply::Failed(e) => return Err(e),
                Reply::Wait(wid) => match self.wait(idx, &wid, deadline, &since)? {
                    Outcome::Again => continue,
                    Outcome::Error(e) => return Err(e),
                    Outcome::Message(ty, mut text) => {
                        text.truncate(msgsz);
                        return Ok((ty, text));
                    }
                },
            }
        }
    }

    /// `msgq_select`: waits until a receive from one of `wants` (`(msqid, msgtyp, msgflg)`,
    /// as `msgrcv` takes them; `MSG_EXCEPT` matters) would find a message, or `deadline`
    /// (`ETIMEDOUT`), or a signal handler (`EINTR`). Per entry: 1 ready, 0 not, or `-errno`
    /// (`EINVAL` for a queue that does not exist, `EACCES`, `EIDRM` for one removed during
    /// the wait). Nothing is received. Up to [`SELECT_MAX`] entries.
    pub fn select(
        &self,
        wants: &[(i32, i64, i32)],
        deadline: Option<Instant>,
    ) -> Result<Vec<i32>, Errno> {
        if wants.is_empty() || wants.len() > SELECT_MAX {
            return Err(Errno::EINVAL);
        }
        let since = msgq_user::interrupt::Since::now();
        loop {
            let mut ready = vec![0i32; wants.len()];
            // (entry, queue index, waiter id) of the watchers left.
            let mut left: Vec<(usize, u32, Vec<u8>)> = Vec::new();
            let cred = creds::with(cred_arg);
            for (i, &(id, msgtyp, msgflg)) in wants.iter().enumerate() {
                if id < 0 || msgflg & msgq_core::abi::MSG_COPY != 0 {
                    ready[i] = -Errno::EINVAL.0;
                    continue;
                }
                let (kind, value) = Mode::of(msgtyp, msgflg).encode();
                let (sid, k, t) = (id.to_string(), kind.to_string(), pad_type(value));
                let args: [&[u8]; 5] = [
                    sid.as_bytes(),
                    cred.as_bytes(),
                    k.as_bytes(),
                    t.as_bytes(),
                    self.lease.as_bytes(),
                ];
                match self.queue_call("msgq1_watch", idx_of(id), &args)? {
                    Reply::Done(items) => ready[i] = items.first().map_or(Ok(0), int)? as i32,
                    Reply::Failed(e) => ready[i] = -e.0,
                    Reply::Wait(wid) => left.push((i, idx_of(id), wid)),
                    Reply::Retry => return Err(Errno::EIO),
                }
            }
            // What a watcher's outcome says of its entry (given back after the others).
            let settle_all = |left: &[(usize, u32, Vec<u8>)], ready: &mut Vec<i32>| {
                for (i, idx, wid) in left {
                    if let Ok(Some(Outcome::Error(e))) =
                        wait::settle(&self.link, &self.names, *idx, wid, "cancel")
                    {
                        ready[*i] = -e.0;
                    }
                }
            };
            if ready.iter().any(|&r| r != 0) {
                settle_all(&left, &mut ready);
                return Ok(ready);
            }
            if since.fired() {
                settle_all(&left, &mut ready);
                return Err(Errno::EINTR);
            }
            let mut slice = self.renew();
            if let Some(d) = deadline {
                let rest = d.saturating_duration_since(Instant::now());
                if rest.is_zero() {
                    settle_all(&left, &mut ready);
                    return Err(ext::ETIMEDOUT);
                }
                slice = slice.min(rest);
            }
            let lists: Vec<(Vec<u8>, Vec<u8>)> = left
                .iter()
                .map(|(_, idx, wid)| (self.names.wake(*idx, wid), self.names.in_flight(*idx, wid)))
                .collect();
            let r = self.link.wait_any(&lists, slice, &since);
            settle_all(&left, &mut ready);
            match r {
                // Something changed (or the lease's half passed): look again.
                Ok(_) => {
                    if ready.iter().any(|&r| r != 0) {
                        return Ok(ready);
                    }
                }
                Err(crate::link::Blocked::Interrupted) => return Err(Errno::EINTR),
                Err(crate::link::Blocked::Failed(e)) => return Err(e),
            }
        }
    }

    /// `MSGQ_PURGE` (`msgq_purge`): discards every message (read permission); how many.
    pub fn purge(&self, msqid: i32) -> Result<u64, Errno> {
        let c = creds::with(cred_arg);
        let id = msqid.to_string();
        count(self.queue_call("msgq1_purge", idx_of(msqid), &[id.as_bytes(), c.as_bytes()])?)
    }

    /// `MSGQ_ABORT` (`msgq_abort`): the blocked receivers and peekers and/or senders, as
    /// `which` says, fail with `ECANCELED`; how many.
    pub fn abort(&self, msqid: i32, which: i32) -> Result<u64, Errno> {
        let need = ext::abort_perm(which)?.to_string();
        let (r, s) = ext::abort_targets(which);
        let c = creds::with(cred_arg);
        let id = msqid.to_string();
        let flag = |b: bool| if b { "1" } else { "0" };
        let args: [&[u8]; 5] = [
            id.as_bytes(),
            c.as_bytes(),
            need.as_bytes(),
            flag(r).as_bytes(),
            flag(s).as_bytes(),
        ];
        count(self.queue_call("msgq1_abort", idx_of(msqid), &args)?)
    }

    /// A queue's fields by id (`by_index`: `MSG_STAT`'s look-up by index, seq unchecked),
    /// with read permission checked if `need_read`.
    fn stat_fields(
        &self,
        msqid: i32,
        by_index: bool,
        need_read: bool,
    ) -> Result<(i32, QueueFields), Errno> {
        let c = creds::with(cred_arg);
        let id = if by_index {
            String::new()
        } else {
            msqid.to_string()
        };
        let nr = if need_read { "1" } else { "0" };
        match self.queue_call(
            "msgq1_stat",
            idx_of(msqid),
            &[id.as_bytes(), c.as_bytes(), nr.as_bytes()],
        )? {
            Reply::Done(items) => fields(items),
            Reply::Failed(e) => Err(e),
            _ => Err(Errno::EIO),
        }
    }

    /// `IPC_STAT`.
    pub fn stat(&self, msqid: i32) -> Result<MsqidDs, Errno> {
        let (_, f) = self.stat_fields(msqid, false, true)?;
        Ok(ctl::msqid_ds(&f))
    }

    /// `MSG_STAT` (`any`: `MSG_STAT_ANY`) of index `msqid & 0x7fff`: the full id and the
    /// fields.
    pub fn msg_stat(&self, msqid: i32, any: bool) -> Result<(i32, MsqidDs), Errno> {
        let (id, f) = self.stat_fields(msqid, true, !any)?;
        Ok((id, ctl::msqid_ds(&f)))
    }

    /// `IPC_SET` with the caller's `msqid_ds` (msgq-core's `ctl::ipc_set` decides).
    pub fn set(&self, msqid: i32, ds: &MsqidDs) -> Result<(), Errno> {
        let c = creds::with(|c| c.clone());
        loop {
            let (_, f) = self.stat_fields(msqid, false, false)?;
            let msgmnb = self.snapshot()?.limits.msgmnb;
            let s = ctl::ipc_set(&f.perm, &c, ds, msgmnb)?;
            let args = [
                msqid.to_string(),
                f.perm.uid.to_string(),
                f.perm.cuid.to_string(),
                s.uid.to_string(),
                s.gid.to_string(),
                s.mode.to_string(),
                s.qbytes.to_string(),
            ];
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            match self.queue_call("msgq1_set", idx_of(msqid), &refs)? {
                Reply::Done(_) => return Ok(()),
                Reply::Retry => continue,
                Reply::Failed(e) => return Err(e),
                Reply::Wait(_) => return Err(Errno::EIO),
            }
        }
    }

    /// `IPC_RMID`: every waiter gets `EIDRM`; then the registry forgets the id and key.
    pub fn remove(&self, msqid: i32) -> Result<(), Errno> {
        let c = creds::with(|c| c.clone());
        loop {
            let (_, f) = self.stat_fields(msqid, false, false)?;
            msgq_core::perm::may_control(&f.perm, &c)?;
            let args = [
                msqid.to_string(),
                f.perm.uid.to_string(),
                f.perm.cuid.to_string(),
            ];
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            match self.queue_call("msgq1_rmid", idx_of(msqid), &refs)? {
                Reply::Done(_) => {
                    let key = (f.perm.key != IPC_PRIVATE).then_some(f.perm.key);
                    return self.registry().free(msqid, key);
                }
                Reply::Retry => continue,
                Reply::Failed(e) => return Err(e),
                Reply::Wait(_) => return Err(Errno::EIO),
            }
        }
    }

    /// `IPC_INFO` (`msg_info == false`) or `MSG_INFO`: the highest index in use and the
    /// `msginfo` (with `MSG_INFO`, the usage summed over the queues: not one atomic view).
    pub fn info(&self, msg_info: bool) -> Result<(i32, MsgInfo), Errno> {
        let s = self.snapshot()?;
        let usage = if msg_info {
            let mut u = ctl::Usage::default();
            for (_, id) in s.live() {
                u.queues += 1;
                if let Ok((_, f)) = self.stat_fields(id, false, false) {
                    u.msgs += f.qnum;
                    u.bytes += f.cbytes;
                }
            }
            Some(u)
        } else {
            None
        };
        let max = s.live().map(|(i, _)| i).max().unwrap_or(0);
        Ok((max as i32, ctl::msginfo(&s.limits, usage)))
    }

    /// The live queues' ids, by index.
    pub fn ids(&self) -> Result<Vec<i32>, Errno> {
        Ok(self.snapshot()?.live().map(|(_, id)| id).collect())
    }

    /// The text of `/proc/sysvipc/msg` for this namespace.
    pub fn proc_msg(&self) -> Result<String, Errno> {
        let mut out = String::from(msgq_core::procfmt::HEADER);
        for id in self.ids()? {
            if let Ok((_, f)) = self.stat_fields(id, false, false) {
                let _ = msgq_core::procfmt::Row::of(id, &ctl::msqid_ds(&f)).write_to(&mut out);
            }
        }
        Ok(out)
    }

    /// Reads a sysctl of the namespace.
    pub fn sysctl(&self, which: Sysctl) -> Result<i64, Errno> {
        self.registry().sysctl(which)
    }

    /// Writes a sysctl of the namespace (`CAP_SYS_ADMIN` is not checked: the server's access
    /// control decides who may reach the namespace; docs/cluster.md, "Trust").
    pub fn set_sysctl(&self, which: Sysctl, value: i64) -> Result<(), Errno> {
        let r = self.registry().set_sysctl(which, value);
        self.forget_limits();
        r
    }
}
