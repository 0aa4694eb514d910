//! `kmod_perms`: the permission rules of `/dev/msgq` against the guest kernel's own queues
//! (issue #8; run as root in the test guest).
//!
//! Each scenario is a list of steps; a step is one call made by a forked child that first
//! switches to some credentials (uids, gids, supplementary groups, fsgid, and an exact
//! capability set through `capset`). Every step runs twice: against native queues (glibc's
//! calls in a fresh IPC namespace, `unshare(CLONE_NEWIPC)` before each scenario) and against
//! `/dev/msgq` (emptied with `MSGQ_RESET`, through the shim's ioctl client
//! `libmsg-shim/src/kmod.rs`). The two results must be equal (ids, errnos, and the ids and
//! modes that `IPC_STAT` shows), and where the scenario states what Linux does (EACCES,
//! EPERM, ...), the native result must be that too, so a scenario that stopped testing what it
//! says fails. Prints `kmod_perms: N passed, N failed`.

#[path = "../kmod_errnames.rs"]
mod errnames;
#[path = "../../../libmsg-shim/src/kmod.rs"]
#[allow(dead_code)]
mod kmod;

use errnames::{ename, errno};
use msgq_core::abi::*;
use msgq_tests::procs::{fork_with_pipe, read_all, reap, write_fd};
use std::ffi::c_void;

const CAP_IPC_OWNER: u32 = 15;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_SYS_RESOURCE: u32 = 24;
const CAP_SETUID: u32 = 7;
const CAP_SETGID: u32 = 6;

/// Who makes a call.
#[derive(Clone, Debug)]
struct Who {
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
    /// A filesystem gid other than `gid` (Linux's `in_group_p` looks at the fsgid).
    fsgid: Option<u32>,
    /// The capabilities left (effective and permitted); `None`: what the uid gives (all for
    /// root, none otherwise).
    caps: Option<Vec<u32>>,
    /// For `/dev/msgq`: open the device as root, before switching (permissions follow the
    /// caller, not the opener).
    open_first: bool,
}

fn user(uid: u32) -> Who {
    Who {
        uid,
        gid: uid,
        groups: vec![],
        fsgid: None,
        caps: None,
        open_first: false,
    }
}

fn root() -> Who {
    user(0)
}

impl Who {
    fn groups(mut self, g: &[u32]) -> Who {
        self.groups = g.to_vec();
        self
    }
    fn gid(mut self, g: u32) -> Who {
        self.gid = g;
        self
    }
    fn fsgid(mut self, g: u32) -> Who {
        self.fsgid = Some(g);
        self
    }
    fn caps(mut self, c: &[u32]) -> Who {
        self.caps = Some(c.to_vec());
        self
    }
    fn opened_as_root(mut self) -> Who {
        self.open_first = true;
        self
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Sets exactly `caps` as effective and permitted (capability version 3: two 32-bit words).
fn capset(caps: &[u32]) -> Result<(), String> {
    let mut data = [CapData::default(); 2];
    for &c in caps {
        let (w, b) = ((c / 32) as usize, c % 32);
        data[w].effective |= 1 << b;
        data[w].permitted |= 1 << b;
    }
    let hdr = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    };
    // SAFETY: a valid v3 header and two data words, as capset(2) expects.
    let r = unsafe { libc::syscall(libc::SYS_capset, &hdr, data.as_ptr()) };
    if r != 0 {
        return Err(format!("capset: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Switches this (child) process to `who`.
fn switch_to(who: &Who) -> Result<(), String> {
    let e = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
    // SAFETY: plain system calls on this process's credentials; the group list outlives them.
    unsafe {
        if who.caps.is_some() && libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 {
            return Err(e("PR_SET_KEEPCAPS"));
        }
        if libc::setgroups(who.groups.len(), who.groups.as_ptr()) != 0 {
            return Err(e("setgroups"));
        }
        if libc::setresgid(who.gid, who.gid, who.gid) != 0 {
            return Err(e("setresgid"));
        }
        if let Some(g) = who.fsgid {
            libc::setfsgid(g);
            if libc::setfsgid(u32::MAX) as u32 != g {
                return Err(format!("setfsgid({g}) did not stick"));
            }
        }
        if libc::setresuid(who.uid, who.uid, who.uid) != 0 {
            return Err(e("setresuid"));
        }
    }
    if let Some(c) = &who.caps {
        capset(c)?;
    }
    Ok(())
}

/// A call. Queues are named by their place in the scenario's table (`q`).
#[derive(Clone, Debug)]
enum Op {
    /// msgget(key of q, flags); on success the id is q's.
    Get(usize, i32),
    Snd(usize),
    Rcv(usize),
    /// msgrcv with MSG_COPY of the first message (needs read permission too).
    RcvCopy(usize),
    Stat(usize),
    MsgStat(usize),
    MsgStatAny(usize),
    /// IPC_SET with these uid, gid, mode and qbytes.
    Set(usize, u32, u32, u32, u64),
    Rmid(usize),
    Info(i32),
    /// `/dev/msgq` only (no native counterpart): MSGQ_WATCH on q.
    Watch(usize),
    /// `/dev/msgq` only: MSGQ_RESET.
    Reset,
    /// `/dev/msgq` only: MSGQ_SYSCTL on msgmax, a read or (with a value) a write.
    Msgmax(Option<i64>),
}

impl Op {
    fn kmod_only(&self) -> bool {
        matches!(self, Op::Watch(_) | Op::Reset | Op::Msgmax(_))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Native,
    Kmod,
}

/// The four calls on one backend (in the child).
struct Calls {
    dev: Option<kmod::Kmod>,
}

impl Calls {
    fn get(&self, key: i32, flg: i32) -> Result<i64, i32> {
        match &self.dev {
            Some(d) => d.msgget(key, flg).map(i64::from),
            // SAFETY: no pointers.
            None => ret(unsafe { libc::msgget(key, flg) } as i64),
        }
    }
    fn snd(&self, id: i32, mtype: i64, text: &[u8]) -> Result<i64, i32> {
        let mut b = mtype.to_ne_bytes().to_vec();
        b.extend_from_slice(text);
        let p = b.as_ptr().cast::<c_void>();
        match &self.dev {
            Some(d) => d.msgsnd(id, p, text.len(), IPC_NOWAIT).map(|()| 0),
            // SAFETY: `b` holds the mtype and `text.len()` bytes.
            None => ret(unsafe { libc::msgsnd(id, p, text.len(), IPC_NOWAIT) } as i64),
        }
    }
    fn rcv(&self, id: i32, flg: i32) -> Result<i64, i32> {
        let mut b = [0u8; 8 + 64];
        let p = b.as_mut_ptr().cast::<c_void>();
        match &self.dev {
            Some(d) => d.msgrcv(id, p, 64, 0, flg).map(|n| n as i64),
            // SAFETY: `b` has room for the mtype and 64 bytes.
            None => ret(unsafe { libc::msgrcv(id, p, 64, 0, flg) } as i64),
        }
    }
    fn ctl(&self, id: i32, cmd: i32, buf: &mut [u8]) -> Result<i64, i32> {
        let p = buf.as_mut_ptr().cast::<c_void>();
        match &self.dev {
            Some(d) => d.msgctl(id, cmd, p).map(i64::from),
            // SAFETY: `buf` is 120 bytes, the size of msqid_ds (and more than msginfo).
            None => ret(unsafe { libc::msgctl(id, cmd, p.cast()) } as i64),
        }
    }
}

fn ret(r: i64) -> Result<i64, i32> {
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// What a stat shows that both implementations must agree on.
fn shown(b: &[u8]) -> String {
    let d = MsqidDs::from_bytes(b).unwrap_or_default();
    let p = d.msg_perm;
    format!(
        " uid={} gid={} cuid={} cgid={} mode={:o} qbytes={} qnum={}",
        p.uid, p.gid, p.cuid, p.cgid, p.mode, d.msg_qbytes, d.msg_qnum
    )
}

fn result(r: Result<i64, i32>, extra: impl FnOnce() -> String) -> String {
    match r {
        Ok(v) => format!("ok {v}{}", extra()),
        Err(e) => ename(e),
    }
}

/// Runs `op` as `who` on `be` in a child; returns its result line.
fn run(be: Backend, who: &Who, op: &Op, ids: &[i32], keys: &[i32]) -> String {
    let (pid, fd) = fork_with_pipe(|w| {
        let early = (be == Backend::Kmod && who.open_first).then(kmod::Kmod::open);
        let out = switch_to(who).and_then(|()| {
            let dev = match (be, early) {
                (Backend::Native, _) => None,
                (Backend::Kmod, Some(d)) => Some(d.map_err(|e| format!("open: {e}"))?),
                (Backend::Kmod, None) => {
                    Some(kmod::Kmod::open().map_err(|e| format!("open: {}", ename(e)))?)
                }
            };
            Ok(call(&Calls { dev }, op, ids, keys))
        });
        write_fd(w, &out.unwrap_or_else(|e| format!("setup failed: {e}")));
    });
    let out = read_all(fd);
    match reap(pid) {
        None => out,
        Some(how) => format!("{out} (child: {how})"),
    }
}

fn call(c: &Calls, op: &Op, ids: &[i32], keys: &[i32]) -> String {
    let mut buf = [0u8; 120];
    let idx = |q: usize| ids[q] & 0x7fff;
    match *op {
        Op::Get(q, flg) => result(c.get(keys[q], flg), String::new),
        Op::Snd(q) => result(c.snd(ids[q], 1, b"hello"), String::new),
        Op::Rcv(q) => result(c.rcv(ids[q], IPC_NOWAIT), String::new),
        Op::RcvCopy(q) => result(c.rcv(ids[q], IPC_NOWAIT | MSG_COPY), String::new),
        Op::Stat(q) => {
            let r = c.ctl(ids[q], IPC_STAT, &mut buf);
            result(r, || shown(&buf))
        }
        Op::MsgStat(q) => {
            let r = c.ctl(idx(q), MSG_STAT, &mut buf);
            result(r, || shown(&buf))
        }
        Op::MsgStatAny(q) => {
            let r = c.ctl(idx(q), MSG_STAT_ANY, &mut buf);
            result(r, || shown(&buf))
        }
        Op::Set(q, uid, gid, mode, qbytes) => {
            let mut d = MsqidDs::default();
            d.msg_perm.uid = uid;
            d.msg_perm.gid = gid;
            d.msg_perm.mode = mode;
            d.msg_qbytes = qbytes;
            buf.copy_from_slice(d.as_bytes());
            result(c.ctl(ids[q], IPC_SET, &mut buf), String::new)
        }
        Op::Rmid(q) => result(c.ctl(ids[q], IPC_RMID, &mut buf), String::new),
        Op::Watch(q) => match &c.dev {
            Some(d) => result(d.watch(ids[q], 0, 0, 1).map(|()| 0), String::new),
            None => "n/a".into(),
        },
        Op::Reset => match &c.dev {
            Some(d) => result(d.reset().map(|()| 0), String::new),
            None => "n/a".into(),
        },
        Op::Msgmax(v) => match &c.dev {
            Some(d) => result(d.sysctl(0, v), String::new),
            None => "n/a".into(),
        },
        Op::Info(cmd) => {
            let r = c.ctl(0, cmd, &mut buf);
            result(r, || {
                let i = MsgInfo::from_bytes(&buf[..32]).unwrap_or_default();
                format!(
                    " queues={} msgs={} bytes={} msgmax={} msgmnb={}",
                    i.msgpool, i.msgmap, i.msgtql, i.msgmax, i.msgmnb
                )
            })
        }
    }
}

/// One step: who, what, and (optionally) the start of what Linux returns.
struct Step(Who, Op, Option<&'static str>);

struct Scenario {
    name: &'static str,
    steps: Vec<Step>,
}

const RW: i32 = 0o600;

fn scenarios() -> Vec<Scenario> {
    use Op::*;
    let (a, b) = (user(1000), user(2000));
    let no_caps = || root().caps(&[]);
    vec![
        Scenario {
            name: "0600 queue, another uid",
            steps: vec![
                Step(a.clone(), Get(0, IPC_CREAT | RW), Some("ok")),
                Step(a.clone(), Snd(0), Some("ok 0")),
                Step(b.clone(), Get(0, 0), Some("ok")),
                Step(b.clone(), Get(0, 0o400), Some("EACCES")),
                Step(b.clone(), Get(0, 0o200), Some("EACCES")),
                Step(b.clone(), Get(0, IPC_CREAT | RW), Some("EACCES")),
                Step(b.clone(), Get(0, IPC_CREAT | IPC_EXCL | RW), Some("EEXIST")),
                Step(b.clone(), Snd(0), Some("EACCES")),
                Step(b.clone(), Rcv(0), Some("EACCES")),
                Step(b.clone(), Stat(0), Some("EACCES")),
                Step(b.clone(), MsgStat(0), Some("EACCES")),
                Step(b.clone(), MsgStatAny(0), Some("ok")),
                Step(b.clone(), Set(0, 2000, 2000, 0o666, 16384), Some("EPERM")),
                Step(b.clone(), Rmid(0), Some("EPERM")),
                Step(b.clone().opened_as_root(), Rcv(0), Some("EACCES")),
                Step(b.clone().opened_as_root(), Rmid(0), Some("EPERM")),
                Step(b.clone().groups(&[1000]), Rcv(0), Some("EACCES")),
                Step(b.clone(), Info(IPC_INFO), Some("ok")),
                Step(b.clone(), Info(MSG_INFO), Some("ok")),
                Step(a.clone(), Stat(0), Some("ok 0 uid=1000 gid=1000")),
                Step(a.clone(), MsgStat(0), Some("ok")),
                Step(a.clone(), Rcv(0), Some("ok 5")),
                Step(a.clone(), Rmid(0), Some("ok 0")),
            ],
        },
        Scenario {
            name: "group bits and supplementary groups",
            steps: vec![
                Step(a.clone(), Get(0, IPC_CREAT | 0o640), Some("ok")),
                Step(a.clone(), Snd(0), Some("ok")),
                Step(a.clone(), Snd(0), Some("ok")),
                Step(b.clone(), Rcv(0), Some("EACCES")),
                Step(b.clone().groups(&[1000]), Snd(0), Some("EACCES")),
                Step(b.clone().groups(&[1000]), Rcv(0), Some("ok 5")),
                Step(b.clone().gid(1000), Stat(0), Some("ok")),
                Step(b.clone().gid(1000), Snd(0), Some("EACCES")),
                Step(b.clone().fsgid(1000), Rcv(0), Some("ok 5")),
                Step(
                    b.clone().gid(3000).groups(&[1000]).fsgid(4000),
                    Stat(0),
                    Some("ok"),
                ),
                Step(b.clone().gid(1000).fsgid(4000), Stat(0), Some("EACCES")),
                // Classes do not fall through: the owner class has no bits here.
                Step(a.clone(), Set(0, 1000, 1000, 0o060, 16384), Some("ok")),
                Step(a.clone(), Snd(0), Some("EACCES")),
                Step(b.clone().groups(&[1000]), Snd(0), Some("ok")),
                Step(a.clone(), Stat(0), Some("EACCES")),
                Step(a.clone(), MsgStatAny(0), Some("ok")),
                // A queue made with a supplementary group and another fsgid gets the egid.
                Step(
                    b.clone().groups(&[1000]).fsgid(4000),
                    Get(1, IPC_CREAT | 0o660),
                    Some("ok"),
                ),
                Step(
                    b.clone(),
                    Stat(1),
                    Some("ok 0 uid=2000 gid=2000 cuid=2000 cgid=2000 mode=660"),
                ),
                Step(user(3000).groups(&[2000]), Snd(1), Some("ok")),
                Step(user(3000), Snd(1), Some("EACCES")),
            ],
        },
        Scenario {
            name: "IPC_SET and IPC_RMID: owner, creator, others",
            steps: vec![
                Step(a.clone(), Get(0, IPC_CREAT | RW), Some("ok")),
                Step(b.clone(), Set(0, 3000, 3000, 0o600, 16384), Some("EPERM")),
                Step(a.clone(), Set(0, 3000, 3000, 0o600, 16384), Some("ok")),
                Step(
                    a.clone(),
                    Stat(0),
                    Some("ok 0 uid=3000 gid=3000 cuid=1000 cgid=1000"),
                ),
                // The creator and the new owner both count as owner.
                Step(user(3000), Snd(0), Some("ok")),
                Step(a.clone(), Rcv(0), Some("ok 5")),
                Step(user(3000), Set(0, 3000, 1000, 0o640, 8000), Some("ok")),
                Step(a.clone(), Set(0, 3000, 1000, 0o644, 8000), Some("ok")),
                Step(
                    b.clone(),
                    Stat(0),
                    Some("ok 0 uid=3000 gid=1000 cuid=1000 cgid=1000 mode=644 qbytes=8000"),
                ),
                Step(b.clone(), MsgStat(0), Some("ok")),
                Step(
                    b.clone().groups(&[1000, 3000]),
                    Set(0, 2000, 2000, 0o666, 8000),
                    Some("EPERM"),
                ),
                // Raising qbytes above msgmnb needs CAP_SYS_RESOURCE; (uid_t)-1 is EINVAL.
                Step(user(3000), Set(0, 3000, 1000, 0o644, 16385), Some("EPERM")),
                Step(
                    user(3000).caps(&[CAP_SYS_RESOURCE]),
                    Set(0, 3000, 1000, 0o644, 16385),
                    Some("ok"),
                ),
                Step(
                    user(3000),
                    Set(0, u32::MAX, 1000, 0o644, 100),
                    Some("EINVAL"),
                ),
                Step(
                    user(3000),
                    Set(0, 3000, u32::MAX, 0o644, 100),
                    Some("EINVAL"),
                ),
                Step(
                    a.clone(),
                    Stat(0),
                    Some("ok 0 uid=3000 gid=1000 cuid=1000 cgid=1000 mode=644 qbytes=16385"),
                ),
                Step(b.clone(), Rmid(0), Some("EPERM")),
                Step(user(3000), Rmid(0), Some("ok 0")),
                Step(a.clone(), Get(1, IPC_CREAT | RW), Some("ok")),
                Step(a.clone(), Set(1, 4000, 4000, 0o600, 100), Some("ok")),
                Step(a.clone(), Rmid(1), Some("ok 0")),
                Step(user(4000), Rmid(1), Some("EINVAL")),
            ],
        },
        Scenario {
            name: "capabilities: CAP_IPC_OWNER, CAP_SYS_ADMIN, CAP_SYS_RESOURCE",
            steps: vec![
                Step(a.clone(), Get(0, IPC_CREAT | RW), Some("ok")),
                Step(a.clone(), Snd(0), Some("ok")),
                Step(a.clone(), Snd(0), Some("ok")),
                Step(no_caps(), Rcv(0), Some("EACCES")),
                Step(no_caps(), Stat(0), Some("EACCES")),
                Step(no_caps(), Set(0, 0, 0, 0o600, 100), Some("EPERM")),
                Step(no_caps(), Rmid(0), Some("EPERM")),
                Step(root().caps(&[CAP_IPC_OWNER]), Stat(0), Some("ok")),
                Step(root().caps(&[CAP_IPC_OWNER]), Rcv(0), Some("ok 5")),
                Step(root().caps(&[CAP_IPC_OWNER]), Rmid(0), Some("EPERM")),
                Step(root().caps(&[CAP_SYS_ADMIN]), Rcv(0), Some("EACCES")),
                Step(
                    root().caps(&[CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID]),
                    Stat(0),
                    Some("EACCES"),
                ),
                Step(b.clone().caps(&[CAP_IPC_OWNER]), Snd(0), Some("ok")),
                Step(b.clone().caps(&[CAP_IPC_OWNER]), MsgStat(0), Some("ok")),
                Step(
                    b.clone().caps(&[CAP_SYS_ADMIN]),
                    Set(0, 2000, 2000, 0o600, 16384),
                    Some("ok"),
                ),
                Step(b.clone().caps(&[CAP_SYS_ADMIN]), Stat(0), Some("ok")),
                // Raising qbytes over msgmnb: the non-owner with CAP_SYS_ADMIN still needs
                // CAP_SYS_RESOURCE.
                Step(
                    user(5000).caps(&[CAP_SYS_ADMIN]),
                    Set(0, 2000, 2000, 0o600, 20000),
                    Some("EPERM"),
                ),
                Step(
                    user(5000).caps(&[CAP_SYS_ADMIN, CAP_SYS_RESOURCE]),
                    Set(0, 2000, 2000, 0o600, 20000),
                    Some("ok"),
                ),
                Step(
                    root(),
                    Stat(0),
                    Some("ok 0 uid=2000 gid=2000 cuid=1000 cgid=1000 mode=600 qbytes=20000"),
                ),
                Step(root().caps(&[CAP_SYS_ADMIN]), Rmid(0), Some("ok 0")),
                Step(no_caps(), Get(1, IPC_CREAT | 0o400), Some("ok")),
                Step(no_caps(), Snd(1), Some("EACCES")),
                Step(root(), Snd(1), Some("ok")),
                Step(no_caps(), Rmid(1), Some("ok")),
            ],
        },
        Scenario {
            name: "msgget on an existing key by other users, and the mode kept",
            steps: vec![
                Step(a.clone(), Get(0, IPC_CREAT | 0o1644), Some("ok")),
                Step(
                    a.clone(),
                    Stat(0),
                    Some("ok 0 uid=1000 gid=1000 cuid=1000 cgid=1000 mode=644"),
                ),
                Step(b.clone(), Get(0, 0o444), Some("ok")),
                Step(b.clone(), Get(0, 0o004), Some("ok")),
                Step(b.clone(), Get(0, 0o002), Some("EACCES")),
                Step(b.clone(), Get(0, IPC_CREAT | 0o644), Some("EACCES")),
                Step(b.clone().groups(&[1000]), Get(0, 0o040), Some("ok")),
                Step(b.clone().groups(&[1000]), Get(0, 0o020), Some("EACCES")),
                Step(root().caps(&[CAP_IPC_OWNER]), Get(0, 0o666), Some("ok")),
                Step(no_caps(), Get(0, 0o666), Some("EACCES")),
                Step(b.clone(), Get(1, 0), Some("ENOENT")),
                Step(b.clone(), Get(1, IPC_CREAT), Some("ok")),
                // Mode 0: even the owner may not read it, but MSG_STAT_ANY shows it.
                Step(b.clone(), Stat(1), Some("EACCES")),
                Step(b.clone(), MsgStatAny(1), Some("ok")),
                Step(b.clone(), Rcv(1), Some("EACCES")),
                Step(b.clone(), Rmid(1), Some("ok 0")),
            ],
        },
        Scenario {
            name: "read-only and write-only classes, MSG_COPY",
            steps: vec![
                Step(a.clone(), Get(0, IPC_CREAT | 0o642), Some("ok")),
                Step(a.clone(), Snd(0), Some("ok 0")),
                Step(b.clone(), Snd(0), Some("ok 0")),
                Step(b.clone(), Rcv(0), Some("EACCES")),
                Step(b.clone(), RcvCopy(0), Some("EACCES")),
                Step(b.clone(), Stat(0), Some("EACCES")),
                Step(b.clone(), MsgStat(0), Some("EACCES")),
                Step(b.clone(), Watch(0), Some("ok 0")),
                Step(b.clone().groups(&[1000]), Snd(0), Some("EACCES")),
                Step(b.clone().groups(&[1000]), RcvCopy(0), Some("ok 5")),
                Step(b.clone().groups(&[1000]), Rcv(0), Some("ok 5")),
                Step(a.clone(), RcvCopy(0), Some("ok 5")),
                Step(a.clone(), Rcv(0), Some("ok 5")),
                Step(a.clone(), Rcv(0), Some("ENOMSG")),
                Step(b.clone(), Rcv(0), Some("EACCES")),
            ],
        },
        Scenario {
            name: "the module's own ioctls (no native counterpart)",
            steps: vec![
                Step(a.clone(), Get(0, IPC_CREAT | RW), Some("ok")),
                Step(a.clone(), Watch(0), Some("ok 0")),
                Step(b.clone(), Watch(0), Some("EACCES")),
                Step(b.clone().opened_as_root(), Watch(0), Some("EACCES")),
                Step(root().caps(&[CAP_IPC_OWNER]), Watch(0), Some("ok 0")),
                Step(b.clone(), Msgmax(None), Some("ok 8192")),
                Step(b.clone(), Msgmax(Some(4096)), Some("EPERM")),
                Step(
                    root().caps(&[CAP_SYS_RESOURCE, CAP_IPC_OWNER]),
                    Msgmax(Some(4096)),
                    Some("EPERM"),
                ),
                Step(
                    b.clone().caps(&[CAP_SYS_ADMIN]),
                    Msgmax(Some(8192)),
                    Some("ok 8192"),
                ),
                Step(b.clone(), Reset, Some("EPERM")),
                Step(b.clone().opened_as_root(), Reset, Some("EPERM")),
                Step(
                    root().caps(&[CAP_SYS_RESOURCE, CAP_IPC_OWNER]),
                    Reset,
                    Some("EPERM"),
                ),
                Step(a.clone(), Stat(0), Some("ok 0 uid=1000")),
            ],
        },
    ]
}

fn unshare_ipc() {
    // SAFETY: no pointers; the process is single-threaded.
    let r = unsafe { libc::unshare(libc::CLONE_NEWIPC) };
    assert_eq!(
        r,
        0,
        "unshare(CLONE_NEWIPC): {}",
        std::io::Error::last_os_error()
    );
}

fn main() {
    // SAFETY: no arguments.
    if unsafe { libc::geteuid() } != 0 {
        println!("kmod_perms: needs root (it switches to other uids itself)");
        println!("kmod_perms: 0 passed, 1 failed");
        std::process::exit(1);
    }
    let verbose = std::env::args().any(|a| a == "-v");
    let dev = kmod::Kmod::open().expect("open /dev/msgq");
    let (mut passed, mut failed) = (0u32, 0u32);
    for (n, sc) in scenarios().iter().enumerate() {
        unshare_ipc();
        dev.reset().expect("MSGQ_RESET");
        let keys: Vec<i32> = (0..4).map(|q| 0x5045_0000 + (n as i32) * 16 + q).collect();
        let mut ids = [[-1i32; 4]; 2];
        let mut bad = 0;
        for (i, Step(who, op, want)) in sc.steps.iter().enumerate() {
            let km = run(Backend::Kmod, who, op, &ids[1], &keys);
            // A step with no native counterpart is held to the stated result alone.
            let nat = if op.kmod_only() {
                km.clone()
            } else {
                run(Backend::Native, who, op, &ids[0], &keys)
            };
            if verbose {
                println!("  {i}: {who:?} {op:?}: native {nat:?}, kmod {km:?}");
            }
            let kmod_only = op.kmod_only();
            for (b, r) in [(0, &nat), (1, &km)] {
                if let (Op::Get(q, _), Some(id)) = (op, r.strip_prefix("ok ")) {
                    ids[b][*q] = id.parse().unwrap_or(-1);
                }
            }
            let same = nat == km;
            let as_linux = want.is_none_or(|w| nat.starts_with(w));
            if !same || !as_linux {
                bad += 1;
                println!(
                    "FAIL {} step {i}: {who:?} {op:?}: native {nat:?}, kmod {km:?}{}",
                    sc.name,
                    want.map(|w| format!(", Linux: {w:?}")).unwrap_or_default()
                );
            }
            // A kmod-only step is one check (the stated result), the others two.
            passed += u32::from(same && !kmod_only) + u32::from(as_linux);
            failed += u32::from(!same) + u32::from(!as_linux);
        }
        println!(
            "kmod_perms: {}: {} steps, {}",
            sc.name,
            sc.steps.len(),
            if bad == 0 {
                "all equal to Linux".to_string()
            } else {
                format!("{bad} differ")
            }
        );
    }
    dev.reset().expect("MSGQ_RESET");
    println!("kmod_perms: {passed} passed, {failed} failed");
    std::process::exit(i32::from(failed > 0));
}
