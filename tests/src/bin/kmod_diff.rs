//! `kmod_diff`: the guest test of the kernel module `msgq-kmod`.
//!
//! Every case runs once against the guest kernel's own queues (glibc) and once against
//! `/dev/msgq` through the shim's `kmod` backend code (`libmsg-shim/src/kmod.rs`, included
//! here with `#[path]`), records what each call returned, and the two records must be equal.
//! Cases cover selection modes, quotas, errors in the kernel's order, `msgctl`, `MSG_COPY`,
//! blocking (hand-off, `EIDRM` on removal, `EINTR` on a signal with a handler, senders woken
//! by a receive), and, as root, a second uid denied a 0600 queue. Ids differ between the two
//! implementations (the module has one global namespace), so records name ids only by
//! comparing them. Run as root and as uid 1000; prints `kmod_diff: N passed, N failed`.

#[path = "../../../libmsg-shim/src/kmod.rs"]
#[allow(dead_code)]
mod kmod;

use msgq_core::abi::*;
use std::ffi::c_void;
use std::time::Duration;

type R = Result<i64, i32>;

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

impl B {
    fn name(&self) -> &'static str {
        match self {
            B::Native => "native",
            B::Kmod(_) => "kmod",
        }
    }
    fn get(&self, key: i32, flg: i32) -> R {
        match self {
            // SAFETY: no pointers.
            B::Native => chk(unsafe { libc::msgget(key, flg) } as i64),
            B::Kmod(k) => k.msgget(key, flg).map(i64::from),
        }
    }
    fn snd_raw(&self, id: i32, p: *const c_void, sz: usize, flg: i32) -> R {
        match self {
            // SAFETY: the kernel checks the pointer.
            B::Native => chk(unsafe { libc::msgsnd(id, p, sz, flg) } as i64),
            B::Kmod(k) => k.msgsnd(id, p, sz, flg).map(|()| 0),
        }
    }
    fn snd(&self, id: i32, mtype: i64, text: &[u8], flg: i32) -> R {
        let mut buf = mtype.to_ne_bytes().to_vec();
        buf.extend_from_slice(text);
        self.snd_raw(id, buf.as_ptr().cast(), text.len(), flg)
    }
    fn rcv_raw(&self, id: i32, p: *mut c_void, sz: usize, typ: i64, flg: i32) -> R {
        match self {
            // SAFETY: the kernel checks the pointer.
            B::Native => chk(unsafe { libc::msgrcv(id, p, sz, typ, flg) } as i64),
            B::Kmod(k) => k.msgrcv(id, p, sz, typ, flg).map(|n| n as i64),
        }
    }
    /// A receive into a buffer of `sz` text bytes: "type:text" or the errno.
    fn rcv(&self, id: i32, sz: usize, typ: i64, flg: i32) -> String {
        let mut buf = vec![0u8; 8 + sz];
        match self.rcv_raw(id, buf.as_mut_ptr().cast(), sz, typ, flg) {
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
    fn stat(&self, id: i32) -> Result<MsqidDs, i32> {
        let mut ds = MsqidDs::default();
        self.ctl(id, IPC_STAT, (&mut ds as *mut MsqidDs).cast())?;
        Ok(ds)
    }
    fn set(&self, id: i32, f: impl FnOnce(&mut MsqidDs)) -> String {
        match self.stat(id) {
            Ok(mut ds) => {
                f(&mut ds);
                r(self.ctl(id, IPC_SET, (&mut ds as *mut MsqidDs).cast()))
            }
            Err(e) => ename(e),
        }
    }
    fn rmid(&self, id: i32) -> String {
        r(self.ctl(id, IPC_RMID, std::ptr::null_mut()))
    }
    fn private(&self, mode: i32) -> i32 {
        self.get(IPC_PRIVATE, IPC_CREAT | mode).unwrap_or(-1) as i32
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

/// Like `r`, for calls whose value is an id (compared, not printed).
fn rid(x: R, id: i32) -> String {
    match x {
        Ok(v) if v == i64::from(id) => "ok =id".into(),
        Ok(_) => "ok other id".into(),
        Err(e) => ename(e),
    }
}

fn st(b: &B, id: i32) -> String {
    match b.stat(id) {
        Ok(d) => format!(
            "mode {:o} qnum {} cbytes {} qbytes {}",
            d.msg_perm.mode, d.msg_qnum, d.msg_cbytes, d.msg_qbytes
        ),
        Err(e) => ename(e),
    }
}

type Trace = Vec<String>;

fn c_types(b: &B, t: &mut Trace) {
    let id = b.private(0o600);
    for (ty, x) in [(5, "a"), (3, "b"), (7, "c"), (3, "d"), (1, "e"), (2, "f")] {
        t.push(r(b.snd(id, ty, x.as_bytes(), 0)));
    }
    for ty in [-4, -4, -4, i64::MIN, 3, 7] {
        t.push(b.rcv(id, 16, ty, IPC_NOWAIT));
    }
    t.push(b.rcv(id, 16, -1, IPC_NOWAIT));
    t.push(b.rcv(id, 16, 0, IPC_NOWAIT));
    t.push(b.rmid(id));
}

fn c_except(b: &B, t: &mut Trace) {
    let id = b.private(0o600);
    for (ty, x) in [(5, "a"), (5, "b"), (6, "c"), (5, "d"), (8, "e")] {
        t.push(r(b.snd(id, ty, x.as_bytes(), 0)));
    }
    t.push(b.rcv(id, 16, 5, MSG_EXCEPT | IPC_NOWAIT));
    t.push(b.rcv(id, 16, 0, MSG_EXCEPT | IPC_NOWAIT));
    t.push(b.rcv(id, 16, -5, MSG_EXCEPT | IPC_NOWAIT));
    t.push(b.rcv(id, 16, 5, MSG_EXCEPT | IPC_NOWAIT));
    t.push(b.rcv(id, 16, 5, MSG_EXCEPT | IPC_NOWAIT));
    t.push(b.rcv(id, 16, 5, IPC_NOWAIT));
    t.push(b.rmid(id));
}

fn c_e2big(b: &B, t: &mut Trace) {
    let id = b.private(0o600);
    t.push(r(b.snd(id, 9, &[b'x'; 50], 0)));
    t.push(r(b.snd(id, 9, b"short", 0)));
    t.push(b.rcv(id, 10, 9, IPC_NOWAIT));
    t.push(st(b, id));
    t.push(b.rcv(id, 10, 9, IPC_NOWAIT | MSG_NOERROR));
    t.push(st(b, id));
    t.push(r(b.snd(id, 4, b"four", 0)));
    t.push(b.rcv(id, 0, 4, IPC_NOWAIT));
    t.push(b.rcv(id, 0, 4, IPC_NOWAIT | MSG_NOERROR));
    t.push(st(b, id));
    t.push(b.rmid(id));
}

fn c_quota(b: &B, t: &mut Trace) {
    let id = b.private(0o600);
    t.push(b.set(id, |d| d.msg_qbytes = 3));
    for _ in 0..4 {
        t.push(r(b.snd(id, 1, b"", IPC_NOWAIT)));
    }
    let id2 = b.private(0o600);
    t.push(b.set(id2, |d| d.msg_qbytes = 3));
    t.push(r(b.snd(id2, 1, b"abc", IPC_NOWAIT)));
    t.push(r(b.snd(id2, 1, b"", IPC_NOWAIT)));
    t.push(r(b.snd(id2, 1, b"x", IPC_NOWAIT)));
    t.push(b.set(id2, |d| d.msg_qbytes = 0));
    t.push(b.rcv(id2, 8, 0, IPC_NOWAIT));
    t.push(b.rcv(id2, 8, 0, IPC_NOWAIT));
    t.push(r(b.snd(id2, 1, b"", IPC_NOWAIT)));
    t.push(b.set(id2, |d| d.msg_qbytes = 10));
    t.push(r(b.snd(id2, 1, &[0; 30], IPC_NOWAIT)));
    t.push(b.rmid(id));
    t.push(b.rmid(id2));
}

fn c_errors(b: &B, t: &mut Trace) {
    let id = b.private(0o600);
    let bad = 8usize as *mut c_void;
    t.push(r(b.snd_raw(-1, bad, 1, 0)));
    t.push(r(b.snd(-1, 1, b"x", 0)));
    t.push(r(b.snd(id, 1, &vec![0; 8193], IPC_NOWAIT)));
    t.push(r(b.snd(id, 1, &vec![0; 8192], IPC_NOWAIT)));
    let m = 1i64.to_ne_bytes();
    t.push(r(b.snd_raw(id, m.as_ptr().cast(), usize::MAX, 0)));
    for ty in [0, -1, i64::MIN] {
        t.push(r(b.snd(id, ty, b"x", 0)));
    }
    t.push(r(b.snd(id, i64::MAX, b"max", 0)));
    t.push(b.rcv(id, 16, i64::MAX, IPC_NOWAIT));
    // A readable mtype with an unreadable text: EFAULT before the lookup, EINVAL with 0 bytes.
    // SAFETY: mmap of one anonymous page, then mprotect of nothing beyond it.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            8192,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    // SAFETY: the second page of our mapping.
    unsafe { libc::mprotect(page.cast::<u8>().add(4096).cast(), 4096, libc::PROT_NONE) };
    // SAFETY: inside the mapping's first page.
    let edge = unsafe { page.cast::<u8>().add(4096 - 8) };
    // SAFETY: 8 writable bytes.
    unsafe { edge.cast::<i64>().write_unaligned(1) };
    t.push(r(b.snd_raw(0x7fff_0000, edge.cast(), 4, 0)));
    t.push(r(b.snd_raw(0x7fff_0000, edge.cast(), 0, 0)));
    t.push(r(b.snd_raw(id, edge.cast(), 0, 0)));
    t.push(b.rcv(id, 0, 0, IPC_NOWAIT));
    // Receive into a buffer whose text is unwritable: EFAULT and the message is lost.
    t.push(r(b.snd(id, 2, b"lost", 0)));
    t.push(r(b.rcv_raw(id, edge.cast(), 4, 0, IPC_NOWAIT)));
    t.push(st(b, id));
    // SAFETY: our mapping.
    unsafe { libc::munmap(page, 8192) };
    t.push(b.rcv(-1, 16, 0, IPC_NOWAIT));
    t.push(r(b.rcv_raw(id, bad, usize::MAX, 0, IPC_NOWAIT)));
    t.push(b.rcv(id, 16, 0, IPC_NOWAIT));
    t.push(r(b.rcv_raw(0x7fff_0000, bad, 16, 0, 0)));
    t.push(b.rmid(id));
    t.push(r(b.snd(id, 1, b"x", IPC_NOWAIT)));
    t.push(b.rcv(id, 16, 0, IPC_NOWAIT));
}

fn c_ctl(b: &B, t: &mut Trace) {
    let id = b.private(0o640);
    let mut ds = MsqidDs::default();
    let p = (&mut ds as *mut MsqidDs).cast::<c_void>();
    for cmd in [4, 5, 10, 14, -1, IPC_STAT | 0x100] {
        t.push(r(b.ctl(id, cmd, p)));
    }
    t.push(r(b.ctl(0x7fff_0000, IPC_STAT, std::ptr::null_mut())));
    t.push(r(b.ctl(id, IPC_STAT, std::ptr::null_mut())));
    t.push(r(b.ctl(0x7fff_0000, IPC_SET, std::ptr::null_mut())));
    t.push(r(b.ctl(-1, IPC_INFO, p)));
    t.push(rid(b.ctl(id & 0x7fff, MSG_STAT, p), id));
    t.push(rid(b.ctl(id, MSG_STAT_ANY, p), id));
    t.push(b.set(id, |d| d.msg_qbytes = (1 << 32) + 50));
    t.push(st(b, id));
    t.push(b.set(id, |d| d.msg_perm.uid = u32::MAX));
    t.push(b.set(id, |d| {
        d.msg_perm.mode = 0o177777;
        d.msg_perm.key = 77;
        d.msg_perm.cuid = 55;
    }));
    match b.stat(id) {
        Ok(d) => t.push(format!(
            "key {} cuid==uid {} mode {:o} seqzero {} reserved {} {}",
            d.msg_perm.key,
            d.msg_perm.cuid == d.msg_perm.uid,
            d.msg_perm.mode,
            d.msg_perm.pad2,
            d.reserved4,
            d.reserved5
        )),
        Err(e) => t.push(ename(e)),
    }
    let mut mi = MsgInfo::default();
    let mp = (&mut mi as *mut MsgInfo).cast::<c_void>();
    t.push(match b.ctl(0, IPC_INFO, mp) {
        Ok(_) => format!(
            "info {} {} {} {} {} {} {} {}",
            mi.msgpool, mi.msgmap, mi.msgmax, mi.msgmnb, mi.msgmni, mi.msgssz, mi.msgtql, mi.msgseg
        ),
        Err(e) => ename(e),
    });
    t.push(match b.ctl(0, MSG_INFO, mp) {
        Ok(_) => format!("msginfo {} {} {}", mi.msgmax, mi.msgssz, mi.msgseg),
        Err(e) => ename(e),
    });
    t.push(r(b.ctl(id, IPC_RMID, std::ptr::dangling_mut::<c_void>())));
    t.push(r(b.ctl(id, IPC_STAT, p)));
    t.push(b.rmid(id));
}

fn c_copy(b: &B, t: &mut Trace) {
    let id = b.private(0o600);
    t.push(r(b.snd(id, 1, b"A", 0)));
    t.push(r(b.snd(id, 2, b"B", 0)));
    for n in [0, 1, 2, -1] {
        t.push(b.rcv(id, 16, n, MSG_COPY | IPC_NOWAIT));
    }
    t.push(st(b, id));
    t.push(b.rcv(id, 16, 0, MSG_COPY));
    t.push(b.rcv(id, 16, 0, MSG_COPY | IPC_NOWAIT | MSG_EXCEPT));
    t.push(b.rcv(0x7fff_0000, 16, 0, MSG_COPY));
    t.push(r(b.snd(id, 3, &[b'z'; 20], 0)));
    t.push(b.rcv(id, 10, 2, MSG_COPY | IPC_NOWAIT));
    t.push(b.rcv(id, 10, 2, MSG_COPY | IPC_NOWAIT | MSG_NOERROR));
    t.push(b.rcv(id, 100, 2, MSG_COPY | IPC_NOWAIT));
    t.push(b.rmid(id));
}

fn c_get(b: &B, t: &mut Trace) {
    // SAFETY: getpid has no preconditions.
    let k = 0x4d00_0000 | (unsafe { libc::getpid() } & 0xffff) << 4;
    t.push(r(b.get(k, 0)));
    t.push(r(b.get(k, IPC_EXCL | 0o600)));
    let id = b.get(k, IPC_CREAT | 0o7777).unwrap_or(-1) as i32;
    t.push(format!("created {}", id >= 0));
    t.push(st(b, id));
    t.push(rid(b.get(k, IPC_CREAT | IPC_EXCL), id));
    t.push(rid(b.get(k, IPC_EXCL), id));
    t.push(rid(b.get(k, 0o070), id));
    t.push(b.set(id, |d| d.msg_perm.mode = 0o600));
    t.push(rid(b.get(k, 0o070), id));
    t.push(rid(b.get(k, 0o001), id));
    t.push(rid(b.get(k, 0), id));
    t.push(b.rmid(id));
    t.push(r(b.get(k, 0)));
    let id2 = b.get(k, IPC_CREAT | 0o600).unwrap_or(-1) as i32;
    t.push(format!("new id differs {}", id2 != id));
    t.push(b.rmid(id2));
    let a = b.private(0);
    let c = b.private(0);
    t.push(format!("private ids differ {}", a != c));
    t.push(st(b, a));
    t.push(b.rmid(a));
    t.push(b.rmid(c));
}

fn c_fields(b: &B, t: &mut Trace) {
    // SAFETY: plain getters.
    let (pid, euid, egid) = unsafe { (libc::getpid(), libc::geteuid(), libc::getegid()) };
    let id = b.private(0o640);
    t.push(r(b.snd(id, 1, b"0123456789", 0)));
    match b.stat(id) {
        Ok(d) => t.push(format!(
            "uid {} gid {} lspid {} stime {} rtime {} ctime {} seq==id {}",
            d.msg_perm.uid == euid && d.msg_perm.cuid == euid,
            d.msg_perm.gid == egid && d.msg_perm.cgid == egid,
            d.msg_lspid == pid,
            d.msg_stime > 0,
            d.msg_rtime,
            d.msg_ctime > 0,
            (d.msg_perm.seq as i32) << 15 | (id & 0x7fff) == id
        )),
        Err(e) => t.push(ename(e)),
    }
    t.push(b.rcv(id, 16, 0, 0));
    match b.stat(id) {
        Ok(d) => t.push(format!(
            "lrpid {} rtime {}",
            d.msg_lrpid == pid,
            d.msg_rtime > 0
        )),
        Err(e) => t.push(ename(e)),
    }
    t.push(b.rmid(id));
}

/// Forks a child running `f`, whose result becomes its exit status.
fn child(f: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: the child only makes system calls and exits with _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let c = f();
        // SAFETY: leaves the child without running the parent's destructors.
        unsafe { libc::_exit(c) };
    }
    pid
}

fn wait(pid: libc::pid_t) -> String {
    let mut status = 0;
    // SAFETY: our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFEXITED(status) {
        let c = libc::WEXITSTATUS(status);
        if c >= 200 {
            format!("child ok {}", c - 200)
        } else {
            format!("child {}", ename(c))
        }
    } else {
        format!("child status {status:#x}")
    }
}

fn code(x: R) -> i32 {
    match x {
        Ok(n) => 200 + n.min(55) as i32,
        Err(e) => e,
    }
}

/// Waits until the child sleeps (blocked in the call under test), as the conformance suite
/// does, so that a slow guest cannot reorder the parent's next step before the child blocks.
fn blocked(pid: libc::pid_t) {
    let _ = msgq_tests::procs::wait_state(pid, pid, 'S', Duration::from_secs(10));
}

fn c_handoff(b: &B, t: &mut Trace) {
    let id = b.private(0o600);
    let pid = child(|| {
        let mut buf = [0u8; 64];
        code(b.rcv_raw(id, buf.as_mut_ptr().cast(), 56, 0, 0))
    });
    blocked(pid);
    t.push(r(b.snd(id, 3, b"hello", 0)));
    t.push(wait(pid));
    match b.stat(id) {
        Ok(d) => t.push(format!(
            "qnum {} lrpid==child {}",
            d.msg_qnum,
            d.msg_lrpid == pid
        )),
        Err(e) => t.push(ename(e)),
    }
    // A receiver with a too-small buffer gets E2BIG; the message is queued.
    let pid = child(|| {
        let mut buf = [0u8; 64];
        code(b.rcv_raw(id, buf.as_mut_ptr().cast(), 5, 0, 0))
    });
    blocked(pid);
    t.push(r(b.snd(id, 3, b"0123456789", 0)));
    t.push(wait(pid));
    t.push(st(b, id));
    // A receiver for type 2 is skipped by a type-1 message.
    let pid = child(|| {
        let mut buf = [0u8; 64];
        code(b.rcv_raw(id, buf.as_mut_ptr().cast(), 56, 2, 0))
    });
    blocked(pid);
    t.push(r(b.snd(id, 1, b"one", 0)));
    t.push(r(b.snd(id, 2, b"two!", 0)));
    t.push(wait(pid));
    t.push(st(b, id));
    t.push(b.rmid(id));
}

fn c_rmid_blocked(b: &B, t: &mut Trace) {
    let id = b.private(0o600);
    let pid = child(|| {
        let mut buf = [0u8; 64];
        code(b.rcv_raw(id, buf.as_mut_ptr().cast(), 56, 0, 0))
    });
    let id2 = b.private(0o600);
    t.push(b.set(id2, |d| d.msg_qbytes = 0));
    let pid2 = child(|| code(b.snd(id2, 1, b"", 0)));
    blocked(pid);
    blocked(pid2);
    t.push(b.rmid(id));
    t.push(b.rmid(id2));
    t.push(wait(pid));
    t.push(wait(pid2));
}

extern "C" fn on_usr1(_: i32) {}

fn c_signal(b: &B, t: &mut Trace) {
    let id = b.private(0o600);
    let pid = child(|| {
        // SAFETY: installs a handler that does nothing, with SA_RESTART.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_usr1 as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
        }
        let mut buf = [0u8; 64];
        code(b.rcv_raw(id, buf.as_mut_ptr().cast(), 56, 0, 0))
    });
    blocked(pid);
    // SAFETY: our child.
    unsafe { libc::kill(pid, libc::SIGUSR1) };
    t.push(wait(pid));
    // A blocked sender too.
    t.push(b.set(id, |d| d.msg_qbytes = 0));
    let pid = child(|| {
        // SAFETY: as above.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_usr1 as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
        }
        code(b.snd(id, 1, b"x", 0))
    });
    blocked(pid);
    // SAFETY: our child.
    unsafe { libc::kill(pid, libc::SIGUSR1) };
    t.push(wait(pid));
    // SIGSTOP/SIGCONT restarts transparently: the receiver still gets the message.
    t.push(b.set(id, |d| d.msg_qbytes = 100));
    let pid = child(|| {
        let mut buf = [0u8; 64];
        code(b.rcv_raw(id, buf.as_mut_ptr().cast(), 56, 0, 0))
    });
    blocked(pid);
    // SAFETY: our child.
    unsafe {
        libc::kill(pid, libc::SIGSTOP);
        libc::kill(pid, libc::SIGCONT);
    }
    blocked(pid);
    t.push(r(b.snd(id, 1, b"after", 0)));
    t.push(wait(pid));
    t.push(b.rmid(id));
}

fn c_senders(b: &B, t: &mut Trace) {
    let id = b.private(0o600);
    t.push(b.set(id, |d| d.msg_qbytes = 10));
    t.push(r(b.snd(id, 1, b"12345678", 0)));
    let pid = child(|| code(b.snd(id, 2, b"abcde", 0)));
    blocked(pid);
    t.push(st(b, id));
    t.push(b.rcv(id, 16, 1, 0));
    t.push(wait(pid));
    t.push(st(b, id));
    // Raising qbytes releases a blocked sender (IPC_SET wakes senders that fit).
    t.push(b.set(id, |d| d.msg_qbytes = 0));
    let pid = child(|| code(b.snd(id, 3, b"xyz", 0)));
    blocked(pid);
    t.push(b.set(id, |d| d.msg_qbytes = 100));
    t.push(wait(pid));
    t.push(st(b, id));
    t.push(b.rmid(id));
}

fn c_uids(b: &B, t: &mut Trace) {
    // SAFETY: getpid has no preconditions.
    let k = 0x4e00_0000 | (unsafe { libc::getpid() } & 0xffff) << 4;
    let id = b.get(k, IPC_CREAT | 0o600).unwrap_or(-1) as i32;
    t.push(r(b.snd(id, 1, b"secret", 0)));
    let pid = child(|| {
        // SAFETY: drops to uid/gid 1000 with no supplementary groups, in the child only.
        unsafe {
            libc::setgroups(0, std::ptr::null());
            libc::setgid(1000);
            libc::setuid(1000);
        }
        let mut out = 0;
        let mut ds = MsqidDs::default();
        let p = (&mut ds as *mut MsqidDs).cast::<c_void>();
        let checks = [
            b.get(k, IPC_CREAT | 0o600) == Err(libc::EACCES),
            b.get(k, 0) == Ok(i64::from(id)),
            b.snd(id, 1, b"x", IPC_NOWAIT) == Err(libc::EACCES),
            b.rcv(id, 16, 0, IPC_NOWAIT) == "EACCES",
            b.ctl(id, IPC_STAT, p) == Err(libc::EACCES),
            b.ctl(id & 0x7fff, MSG_STAT, p) == Err(libc::EACCES),
            b.ctl(id & 0x7fff, MSG_STAT_ANY, p) == Ok(i64::from(id)),
            b.ctl(id, IPC_SET, p) == Err(libc::EPERM),
            b.ctl(id, IPC_RMID, p) == Err(libc::EPERM),
        ];
        for (i, ok) in checks.iter().enumerate() {
            if !ok {
                out = 200 + i as i32 + 1;
            }
        }
        if out == 0 {
            200
        } else {
            out
        }
    });
    t.push(wait(pid));
    t.push(b.rcv(id, 16, 0, IPC_NOWAIT));
    t.push(b.rmid(id));
}

type Case = (&'static str, fn(&B, &mut Trace));

const CASES: &[Case] = &[
    ("types", c_types),
    ("except", c_except),
    ("e2big", c_e2big),
    ("quota", c_quota),
    ("errors", c_errors),
    ("ctl", c_ctl),
    ("copy", c_copy),
    ("get", c_get),
    ("fields", c_fields),
    ("handoff", c_handoff),
    ("rmid-blocked", c_rmid_blocked),
    ("signal", c_signal),
    ("senders", c_senders),
];

fn main() {
    let k = match kmod::Kmod::open() {
        Ok(k) => k,
        Err(e) => {
            println!("FAIL open /dev/msgq: {}", ename(e));
            println!("kmod_diff: 0 passed, 1 failed");
            std::process::exit(1);
        }
    };
    let backends = [B::Native, B::Kmod(k)];
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cases: Vec<Case> = CASES.to_vec();
    if root {
        cases.push(("uids", c_uids));
    }
    let (mut pass, mut fail) = (0, 0);
    for (name, f) in cases {
        let traces: Vec<Trace> = backends
            .iter()
            .map(|b| {
                let mut t = Vec::new();
                f(b, &mut t);
                t
            })
            .collect();
        if traces[0] == traces[1] {
            pass += 1;
            println!("ok {name} ({} results)", traces[0].len());
        } else {
            fail += 1;
            println!("FAIL {name}");
            let n = traces[0].len().max(traces[1].len());
            for i in 0..n {
                let a = traces[0].get(i).map_or("-", String::as_str);
                let c = traces[1].get(i).map_or("-", String::as_str);
                let mark = if a == c { " " } else { "!" };
                println!(
                    "  {mark} {i:2} {}={a:<40} {}={c}",
                    backends[0].name(),
                    backends[1].name()
                );
            }
        }
    }
    // The kmod-only checks: the limits the module was loaded with, and writes need privilege.
    if let B::Kmod(k) = &backends[1] {
        let got = k.sysctl(0, None);
        let ok = got == Ok(8192);
        let w = k.sysctl(3, Some(-1));
        let ok2 = w == Err(libc::EINVAL) || (!root && w == Err(libc::EPERM));
        for (name, ok, what) in [
            ("sysctl-read", ok, format!("{got:?}")),
            ("sysctl-write", ok2, format!("{w:?}")),
        ] {
            if ok {
                pass += 1;
                println!("ok {name}");
            } else {
                fail += 1;
                println!("FAIL {name}: {what}");
            }
        }
        let (ok, what) = poll_check(k);
        if ok {
            pass += 1;
            println!("ok poll");
        } else {
            fail += 1;
            println!("FAIL poll: {what}");
        }
        // As root, leave a queue with messages behind: the module must free it on unload.
        if root {
            if let Ok(id) = k.msgget(IPC_PRIVATE, 0o600) {
                let b = &backends[1];
                let _ = b.snd(id, 1, b"left behind", 0);
                let _ = b.snd(id, 2, &[7; 3000], 0);
            }
        }
    }
    println!("kmod_diff: {pass} passed, {fail} failed");
    if fail > 0 {
        std::process::exit(1);
    }
}

/// `poll()` on a watched queue (the module only: kernel queues cannot be polled).
fn poll_check(k: &kmod::Kmod) -> (bool, String) {
    let Ok(w) = kmod::Kmod::open() else {
        return (false, "second open".into());
    };
    let b = B::Kmod(kmod::Kmod::open().expect("open"));
    let id = b.private(0o600);
    let pollmask = |timeout: i32| -> i16 {
        let mut p = libc::pollfd {
            fd: w.fd(),
            events: libc::POLLIN | libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, timeout) };
        if n < 0 {
            -1
        } else {
            p.revents
        }
    };
    let mut got = Vec::new();
    got.push(format!("{:?}", w.watch(0x7fff_0000, 5, 0, 1)));
    got.push(format!("{:?}", w.watch(id, 5, 0, 10)));
    got.push(format!("{:#x}", pollmask(0)));
    let _ = b.snd(id, 3, b"three", 0);
    got.push(format!("{:#x}", pollmask(0)));
    // A child blocks in poll() until the parent sends a type-5 message.
    let fd = w.fd();
    let pid = child(|| {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, 10_000) };
        if n == 1 && p.revents & libc::POLLIN != 0 {
            200
        } else {
            1
        }
    });
    blocked(pid);
    let _ = b.snd(id, 5, b"five", 0);
    got.push(wait(pid));
    got.push(format!("{:#x}", pollmask(0)));
    let _ = b.set(id, |d| d.msg_qbytes = 12);
    got.push(format!("{:#x}", pollmask(0)));
    let _ = b.rmid(id);
    got.push(format!("{:#x}", pollmask(0)));
    let _ = k;
    let want = [
        "Err(22)",
        "Ok(())",
        "0x4",
        "0x4",
        "child ok 0",
        "0x5",
        "0x1",
        "0x18",
    ];
    let ok = got.iter().map(String::as_str).eq(want.iter().copied());
    (ok, format!("{got:?}, want {want:?}"))
}
