//! `kmod_ns`: the guest test of the kernel module's IPC namespaces (issue 15).
//!
//! Every case runs once against the guest kernel's own queues (glibc, `/proc`) and once
//! against `/dev/msgq` through the shim's `kmod` client (`libmsg-shim/src/kmod.rs`), each in
//! processes put into new IPC namespaces with `clone(CLONE_NEWIPC)`, `unshare(CLONE_NEWIPC)`
//! or `setns()`, and the two records must be equal: queues of one namespace invisible from
//! another (by key, by id, to `MSG_INFO`/`IPC_INFO`/`MSG_STAT_ANY` and to the shim's
//! `/proc/sysvipc/msg` emulation), one key giving two queues in two namespaces, ids starting
//! at 0 in a new namespace, limits (`msgmax`, `msgmnb`, `msg_next_id`) written in one
//! namespace and not seen in another, and a namespace kept alive by an open nsfs file only.
//! Module-only checks read the module's debug counters (`MSGQ_SYSCTL` 5..7: namespaces,
//! queues of all namespaces, namespaces freed) to see that a namespace's queues are freed
//! when its last process exits, or when the last nsfs file of it is closed.
//! Root only (namespaces need `CAP_SYS_ADMIN`); prints `kmod_ns: N passed, N failed`.

#[path = "../../../libmsg-shim/src/kmod.rs"]
#[allow(dead_code)]
mod kmod;

use msgq_core::abi::*;
use std::ffi::c_void;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;

type R = Result<i64, i32>;
type Trace = Vec<String>;

/// The module's debug counters (`MSGQ_SYSCTL` numbers, msgq-kmod/msgq_main.rs).
const STAT_NAMESPACES: u32 = 5;
const STAT_QUEUES: u32 = 6;
const STAT_REAPED: u32 = 7;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Native,
    Kmod,
}

enum B {
    Native,
    Kmod(kmod::Kmod),
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn chk(r: i64) -> R {
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

fn ename(e: i32) -> String {
    msgq_core::Errno(e).name().to_string()
}

fn r(x: R) -> String {
    match x {
        Ok(v) => format!("ok {v}"),
        Err(e) => ename(e),
    }
}

const SYSCTL_FILES: [&str; 4] = ["msgmax", "msgmnb", "msgmni", "msg_next_id"];

impl B {
    fn new(kind: Kind) -> B {
        match kind {
            Kind::Native => B::Native,
            Kind::Kmod => match kmod::Kmod::open() {
                Ok(k) => B::Kmod(k),
                Err(e) => {
                    println!("FAIL open /dev/msgq: {}", ename(e));
                    println!("kmod_ns: 0 passed, 1 failed");
                    std::process::exit(1);
                }
            },
        }
    }
    fn get(&self, key: i32, flg: i32) -> R {
        match self {
            // SAFETY: no pointers.
            B::Native => chk(unsafe { libc::msgget(key, flg) } as i64),
            B::Kmod(k) => k.msgget(key, flg).map(i64::from),
        }
    }
    fn snd(&self, id: i32, mtype: i64, text: &[u8]) -> R {
        let mut buf = mtype.to_ne_bytes().to_vec();
        buf.extend_from_slice(text);
        let p: *const c_void = buf.as_ptr().cast();
        let flg = IPC_NOWAIT;
        match self {
            // SAFETY: `buf` holds mtype and `text.len()` bytes.
            B::Native => chk(unsafe { libc::msgsnd(id, p, text.len(), flg) } as i64),
            B::Kmod(k) => k.msgsnd(id, p, text.len(), flg).map(|()| 0),
        }
    }
    /// A non-blocking receive of any type: "type:text" or the errno.
    fn rcv(&self, id: i32) -> String {
        let mut buf = vec![0u8; 8 + 256];
        let p: *mut c_void = buf.as_mut_ptr().cast();
        let got = match self {
            // SAFETY: `buf` has room for mtype and 256 bytes.
            B::Native => chk(unsafe { libc::msgrcv(id, p, 256, 0, IPC_NOWAIT) } as i64),
            B::Kmod(k) => k.msgrcv(id, p, 256, 0, IPC_NOWAIT).map(|n| n as i64),
        };
        match got {
            Ok(n) => {
                let t = i64::from_ne_bytes(buf[..8].try_into().unwrap());
                format!("{t}:{}", String::from_utf8_lossy(&buf[8..8 + n as usize]))
            }
            Err(e) => ename(e),
        }
    }
    fn ctl(&self, id: i32, cmd: i32, buf: *mut c_void) -> R {
        match self {
            // SAFETY: the kernel checks the pointer.
            B::Native => chk(unsafe { libc::msgctl(id, cmd, buf.cast()) } as i64),
            B::Kmod(k) => k.msgctl(id, cmd, buf).map(i64::from),
        }
    }
    /// `IPC_STAT`: "qnum N qbytes N key K" or the errno.
    fn stat(&self, id: i32) -> String {
        let mut ds = MsqidDs::default();
        match self.ctl(id, IPC_STAT, (&mut ds as *mut MsqidDs).cast()) {
            Ok(_) => format!(
                "qnum {} qbytes {} key {:#x}",
                ds.msg_qnum, ds.msg_qbytes, ds.msg_perm.key
            ),
            Err(e) => ename(e),
        }
    }
    /// `MSG_INFO` or `IPC_INFO`: the return value and the fields.
    fn info(&self, cmd: i32) -> String {
        let mut mi = MsgInfo::default();
        match self.ctl(0, cmd, (&mut mi as *mut MsgInfo).cast()) {
            Ok(max) => format!(
                "max {max} pool {} map {} tql {} msgmax {} msgmnb {} msgmni {}",
                mi.msgpool, mi.msgmap, mi.msgtql, mi.msgmax, mi.msgmnb, mi.msgmni
            ),
            Err(e) => ename(e),
        }
    }
    /// The keys of every queue `MSG_INFO` + `MSG_STAT_ANY` list (as `ipcs` finds them).
    fn keys(&self) -> Vec<i32> {
        let mut mi = MsgInfo::default();
        let Ok(max) = self.ctl(0, MSG_INFO, (&mut mi as *mut MsgInfo).cast()) else {
            return vec![-1];
        };
        let mut out = Vec::new();
        for idx in 0..=max as i32 {
            let mut ds = MsqidDs::default();
            if self
                .ctl(idx, MSG_STAT_ANY, (&mut ds as *mut MsqidDs).cast())
                .is_ok()
            {
                out.push(ds.msg_perm.key);
            }
        }
        out
    }
    /// The keys in `/proc/sysvipc/msg`: the kernel's file, or the shim's emulation of it
    /// under the kmod backend.
    fn proc_keys(&self) -> Vec<i32> {
        let text = match self {
            B::Native => std::fs::read_to_string("/proc/sysvipc/msg").unwrap_or_default(),
            B::Kmod(k) => k.proc_sysvipc_msg().unwrap_or_default(),
        };
        let mut keys: Vec<i32> = text
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        keys.sort();
        keys
    }
    /// A limit (`which` indexes `SYSCTL_FILES`).
    fn limit(&self, which: u32) -> R {
        match self {
            B::Native => {
                let f = format!("/proc/sys/kernel/{}", SYSCTL_FILES[which as usize]);
                match std::fs::read_to_string(f) {
                    Ok(s) => s.trim().parse().map_err(|_| libc::EINVAL),
                    Err(e) => Err(e.raw_os_error().unwrap_or(0)),
                }
            }
            B::Kmod(k) => k.sysctl(which, None),
        }
    }
    fn set_limit(&self, which: u32, v: i64) -> R {
        match self {
            B::Native => {
                let f = format!("/proc/sys/kernel/{}", SYSCTL_FILES[which as usize]);
                let w = std::fs::OpenOptions::new()
                    .write(true)
                    .open(f)
                    .and_then(|mut f| f.write_all(format!("{v}\n").as_bytes()));
                w.map(|()| v).map_err(|e| e.raw_os_error().unwrap_or(0))
            }
            B::Kmod(k) => k.sysctl(which, Some(v)),
        }
    }
    fn limits(&self) -> String {
        (0..4)
            .map(|w| r(self.limit(w)))
            .collect::<Vec<_>>()
            .join(" / ")
    }
    fn stat_counter(&self, which: u32) -> i64 {
        match self {
            B::Native => 0,
            B::Kmod(k) => k.sysctl(which, None).unwrap_or(-1_000_000),
        }
    }
}

/// How a child process gets its IPC namespace.
#[derive(Clone, Copy)]
enum How {
    /// `clone(CLONE_NEWIPC | SIGCHLD)`.
    Clone,
    /// `fork()`, then `unshare(CLONE_NEWIPC)`.
    Unshare,
    /// `fork()`, then `setns(fd, CLONE_NEWIPC)`.
    Setns(i32),
}

/// Runs `f` in a child process in the IPC namespace `how` gives it; `f` gets a backend it
/// opened there and the parent's (inherited) one. Returns the child's trace and exit status.
fn in_child(kind: Kind, parent: &B, how: How, f: impl FnOnce(&B, &B, &mut Trace)) -> Trace {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return vec![format!("pipe: {}", ename(errno()))];
    }
    // SAFETY: a fork-like clone (no new stack: the child runs on a copy of ours); this process
    // has one thread.
    let pid = unsafe {
        match how {
            How::Clone => libc::syscall(
                libc::SYS_clone,
                (libc::CLONE_NEWIPC | libc::SIGCHLD) as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            ) as i32,
            _ => libc::fork(),
        }
    };
    if pid < 0 {
        return vec![format!("fork: {}", ename(errno()))];
    }
    if pid == 0 {
        // SAFETY: our descriptor, closed once.
        unsafe { libc::close(fds[0]) };
        let mut t = Vec::new();
        // SAFETY: plain system calls.
        let rc = unsafe {
            match how {
                How::Clone => 0,
                How::Unshare => libc::unshare(libc::CLONE_NEWIPC),
                How::Setns(fd) => libc::setns(fd, libc::CLONE_NEWIPC),
            }
        };
        if rc != 0 {
            t.push(format!("entering the namespace: {}", ename(errno())));
        }
        let b = B::new(kind);
        f(&b, parent, &mut t);
        drop(b);
        // SAFETY: the write end, ours.
        let mut w = unsafe { std::fs::File::from_raw_fd(fds[1]) };
        let _ = w.write_all(t.join("\n").as_bytes());
        drop(w);
        // SAFETY: leave without running the parent's exit handlers.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: our descriptor, closed once.
    unsafe { libc::close(fds[1]) };
    // SAFETY: the read end, ours.
    let mut rd = unsafe { std::fs::File::from_raw_fd(fds[0]) };
    let mut s = String::new();
    let _ = rd.read_to_string(&mut s);
    let mut st = 0;
    // SAFETY: our child.
    unsafe { libc::waitpid(pid, &mut st, 0) };
    let mut t: Trace = s
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect();
    t.push(format!("child exit status {st}"));
    t
}

const K1: i32 = 0x4e53_0001;
const K2: i32 = 0x4e53_0002;
const K4: i32 = 0x4e53_0004;

/// A queue at `key` in the parent's namespace with one message "parent".
fn parent_queue(b: &B, key: i32) -> i32 {
    let id = b.get(key, IPC_CREAT | 0o600).unwrap_or(-1) as i32;
    let _ = b.snd(id, 1, b"parent");
    id
}

/// A queue made before the child's namespace existed is invisible from it, by key, id, the
/// listing commands and `/proc`; the child's first queue gets id 0 and the same key as the
/// parent's; the parent's queue is untouched.
fn c_invisible(kind: Kind, b: &B, t: &mut Trace, how: How) {
    let id = parent_queue(b, K1);
    let mut ct = in_child(kind, b, how, |c, inh, t| {
        t.push(format!("get K1: {}", r(c.get(K1, 0))));
        t.push(format!("stat parent's id: {}", c.stat(id)));
        t.push(format!("rcv parent's id: {}", c.rcv(id)));
        t.push(format!("inherited fd: get K1: {}", r(inh.get(K1, 0))));
        t.push(format!("inherited fd: stat parent's id: {}", inh.stat(id)));
        t.push(format!("MSG_INFO: {}", c.info(MSG_INFO)));
        t.push(format!("IPC_INFO: {}", c.info(IPC_INFO)));
        t.push(format!("listed keys: {:x?}", c.keys()));
        t.push(format!("/proc keys: {:x?}", c.proc_keys()));
        let own = c.get(K1, IPC_CREAT | IPC_EXCL | 0o600);
        t.push(format!("create K1 here: {}", r(own)));
        t.push(format!("create private: {}", r(c.get(IPC_PRIVATE, 0o600))));
        t.push(format!("inherited fd: get K1: {}", r(inh.get(K1, 0))));
        t.push(format!("MSG_INFO: {}", c.info(MSG_INFO)));
        t.push(format!("/proc keys: {:x?}", c.proc_keys()));
    });
    t.append(&mut ct);
    t.push(format!("parent: stat: {}", b.stat(id)));
    t.push(format!("parent: rcv: {}", b.rcv(id)));
    t.push(format!(
        "parent: keys has K1 once: {}",
        b.keys().iter().filter(|&&k| k == K1).count()
    ));
    t.push(format!(
        "parent: rmid: {}",
        r(b.ctl(id, IPC_RMID, std::ptr::null_mut()))
    ));
}

fn c_clone(kind: Kind, b: &B, t: &mut Trace) {
    c_invisible(kind, b, t, How::Clone);
}

fn c_unshare(kind: Kind, b: &B, t: &mut Trace) {
    c_invisible(kind, b, t, How::Unshare);
}

/// One key, two namespaces, two queues: each side receives its own message; two sibling
/// namespaces do not see each other either.
fn c_same_key(kind: Kind, b: &B, t: &mut Trace) {
    let id = parent_queue(b, K2);
    for how in [How::Clone, How::Unshare] {
        let mut ct = in_child(kind, b, how, |c, _, t| {
            let q = c.get(K2, IPC_CREAT | IPC_EXCL | 0o600).unwrap_or(-1) as i32;
            t.push(format!("create K2 excl: {q}"));
            t.push(format!("snd: {}", r(c.snd(q, 2, b"child"))));
            t.push(format!("stat: {}", c.stat(q)));
            t.push(format!("rcv: {}", c.rcv(q)));
            t.push(format!("get K2 again: {}", r(c.get(K2, 0))));
        });
        t.append(&mut ct);
    }
    t.push(format!("parent: stat: {}", b.stat(id)));
    t.push(format!("parent: rcv: {}", b.rcv(id)));
    t.push(format!(
        "parent: rmid: {}",
        r(b.ctl(id, IPC_RMID, std::ptr::null_mut()))
    ));
}

/// Limits written in one namespace are that namespace's: the parent's and a sibling's are
/// untouched, and a new namespace starts with the defaults.
fn c_limits(kind: Kind, b: &B, t: &mut Trace) {
    let before = b.limits();
    let mut ct = in_child(kind, b, How::Unshare, |c, _, t| {
        t.push(format!("defaults: {}", c.limits()));
        t.push(format!("set msgmax 100: {}", r(c.set_limit(0, 100))));
        t.push(format!("set msgmnb 200: {}", r(c.set_limit(1, 200))));
        t.push(format!("set msgmni 3: {}", r(c.set_limit(2, 3))));
        t.push(format!("set msg_next_id 7: {}", r(c.set_limit(3, 7))));
        t.push(format!("now: {}", c.limits()));
        let q = c.get(IPC_PRIVATE, 0o600).unwrap_or(-1) as i32;
        t.push(format!("new queue id: {q}"));
        t.push(format!("its stat: {}", c.stat(q)));
        t.push(format!("snd 150 bytes: {}", r(c.snd(q, 1, &[1; 150]))));
        t.push(format!("snd 100 bytes: {}", r(c.snd(q, 1, &[1; 100]))));
        t.push(format!("IPC_INFO: {}", c.info(IPC_INFO)));
        // A sibling namespace made from here has the defaults.
        let mut st = in_child(kind, c, How::Clone, |g, _, t| {
            t.push(format!("sibling: {}", g.limits()));
            t.push(format!("sibling IPC_INFO: {}", g.info(IPC_INFO)));
            t.push(format!(
                "sibling first id: {}",
                r(g.get(IPC_PRIVATE, 0o600))
            ));
        });
        t.append(&mut st);
    });
    t.append(&mut ct);
    t.push(format!(
        "parent's limits unchanged: {}",
        b.limits() == before
    ));
}

/// The kernel's lifetime: a namespace whose last process exited stays while an nsfs file
/// of it is open (a process that enters it with `setns` finds its queue and message), and
/// goes when that file is closed.
fn c_nsfs(kind: Kind, b: &B, t: &mut Trace, m: &mut Vec<(String, bool)>) {
    let s0 = b.stat_counter(STAT_QUEUES);
    let (mut up, mut down) = ([0; 2], [0; 2]);
    // SAFETY: arrays of two descriptors.
    unsafe {
        libc::pipe(up.as_mut_ptr());
        libc::pipe(down.as_mut_ptr());
    }
    // SAFETY: one thread.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: plain system calls on our descriptors.
        unsafe {
            let ok = libc::unshare(libc::CLONE_NEWIPC) == 0;
            let c = B::new(kind);
            let q = c.get(K4, IPC_CREAT | 0o600).unwrap_or(-1) as i32;
            let sent = c.snd(q, 4, b"kept").is_ok();
            let byte = [u8::from(ok && sent)];
            libc::write(up[1], byte.as_ptr().cast(), 1);
            let mut x = [0u8];
            libc::read(down[0], x.as_mut_ptr().cast(), 1);
            libc::_exit(0);
        }
    }
    let mut x = [0u8];
    // SAFETY: our descriptors and buffer.
    unsafe { libc::read(up[0], x.as_mut_ptr().cast(), 1) };
    t.push(format!("child made its queue: {}", x[0]));
    let path = std::ffi::CString::new(format!("/proc/{pid}/ns/ipc")).unwrap();
    // SAFETY: a valid path.
    let nsfd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    t.push(format!("open nsfs file: {}", nsfd >= 0));
    let mut st = 0;
    // SAFETY: our descriptor and child.
    unsafe {
        libc::write(down[1], x.as_ptr().cast(), 1);
        libc::waitpid(pid, &mut st, 0);
    }
    t.push(format!("child exit status {st}"));
    let held = b.stat_counter(STAT_QUEUES);
    let mut ct = in_child(kind, b, How::Setns(nsfd), |c, _, t| {
        let q = c.get(K4, 0);
        t.push(format!("get K4 after setns: {}", r(q)));
        t.push(format!("rcv: {}", c.rcv(q.unwrap_or(-1) as i32)));
        t.push(format!("MSG_INFO: {}", c.info(MSG_INFO)));
    });
    t.append(&mut ct);
    // SAFETY: ours, closed once.
    unsafe {
        libc::close(nsfd);
        for fd in [up[0], up[1], down[0], down[1]] {
            libc::close(fd);
        }
    }
    if kind == Kind::Kmod {
        let after = b.stat_counter(STAT_QUEUES);
        m.push((
            format!("nsfs: queues of all namespaces {s0} -> {held} while the nsfs file is open (its process exited) -> {after} after closing it"),
            held == s0 + 1 && after == s0,
        ));
    }
}

/// Module only: a namespace's queues are freed when its last process exits, whether it had
/// `/dev/msgq` open when it exited or had closed it before.
fn freed_after_exit(b: &B, parent_kind: Kind, m: &mut Vec<(String, bool)>) {
    for close_first in [false, true] {
        let n0 = b.stat_counter(STAT_NAMESPACES);
        let q0 = b.stat_counter(STAT_QUEUES);
        let r0 = b.stat_counter(STAT_REAPED);
        let t = in_child(parent_kind, b, How::Unshare, |c, inh, t| {
            for i in 0..3 {
                let q = c.get(IPC_PRIVATE, 0o600).unwrap_or(-1) as i32;
                let _ = c.snd(q, 1, &[i; 100]);
            }
            t.push(format!("{}", c.stat_counter(STAT_QUEUES)));
            t.push(format!("{}", c.stat_counter(STAT_NAMESPACES)));
            // The fresh descriptor is closed by `in_child` before the exit; the inherited one
            // is closed here, or at the exit.
            if let (true, B::Kmod(k)) = (close_first, inh) {
                // SAFETY: the child's copy of the parent's descriptor; not used again.
                unsafe { libc::close(k.fd()) };
            }
        });
        let (n1, q1, r1) = (
            b.stat_counter(STAT_NAMESPACES),
            b.stat_counter(STAT_QUEUES),
            b.stat_counter(STAT_REAPED),
        );
        let inside: Vec<i64> = t.iter().take(2).filter_map(|s| s.parse().ok()).collect();
        let ok = inside == vec![q0 + 3, n0 + 1] && n1 == n0 && q1 == q0 && r1 == r0 + 1;
        m.push((
            format!(
                "freed after exit (child {} /dev/msgq before exiting): inside (queues, namespaces) {inside:?}, \
                 before ({n0}, {q0}, reaped {r0}), after ({n1}, {q1}, reaped {r1})",
                if close_first { "closed" } else { "kept" }
            ),
            ok,
        ));
    }
}

type CaseFn = fn(Kind, &B, &mut Trace);
const CASES: &[(&str, CaseFn)] = &[
    ("clone-invisible", c_clone),
    ("unshare-invisible", c_unshare),
    ("same-key-two-namespaces", c_same_key),
    ("limits-per-namespace", c_limits),
];

fn main() {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("kmod_ns: root only");
        println!("kmod_ns: 0 passed, 0 failed");
        return;
    }
    let kinds = [Kind::Native, Kind::Kmod];
    let parents = [B::new(Kind::Native), B::new(Kind::Kmod)];
    let (mut pass, mut fail) = (0, 0);
    let mut report = |name: &str, traces: &[Trace; 2]| {
        if traces[0] == traces[1] {
            pass += 1;
            println!("ok {name} ({} results)", traces[0].len());
        } else {
            fail += 1;
            println!("FAIL {name}");
        }
        if traces[0] != traces[1] || std::env::var_os("KMOD_NS_VERBOSE").is_some() {
            let n = traces[0].len().max(traces[1].len());
            for i in 0..n {
                let a = traces[0].get(i).map_or("-", String::as_str);
                let c = traces[1].get(i).map_or("-", String::as_str);
                let mark = if a == c { " " } else { "!" };
                println!("  {mark} {i:2} native={a:<50} kmod={c}");
            }
        }
    };
    for (name, f) in CASES {
        let traces: [Trace; 2] = [0, 1].map(|i| {
            let mut t = Vec::new();
            f(kinds[i], &parents[i], &mut t);
            t
        });
        report(name, &traces);
    }
    let mut module_checks = Vec::new();
    let traces: [Trace; 2] = [0, 1].map(|i| {
        let mut t = Vec::new();
        c_nsfs(kinds[i], &parents[i], &mut t, &mut module_checks);
        t
    });
    report("nsfs-file-keeps-namespace", &traces);
    freed_after_exit(&parents[1], Kind::Kmod, &mut module_checks);
    for (what, ok) in module_checks {
        if ok {
            pass += 1;
            println!("ok {what}");
        } else {
            fail += 1;
            println!("FAIL {what}");
        }
    }
    println!("kmod_ns: {pass} passed, {fail} failed");
    if fail > 0 {
        std::process::exit(1);
    }
}
