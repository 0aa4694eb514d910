//! The context a case runs in: the backend, the trace being written, and safe helpers for
//! the usual calls, child processes and exec'd workers.

use crate::backend::{Backend, Kind};
use crate::procs::{self, Creds};
use crate::trace::{self, Trace};
use msgq_core::abi::*;
use msgq_core::limits::Sysctl;
use msgq_core::Errno;
use std::ffi::c_void;
use std::fmt::Display;
use std::os::fd::RawFd;
use std::time::Duration;

/// How long a child may take to reach a wanted state.
const STATE_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Ctx<'a> {
    pub b: &'a dyn Backend,
    out: RawFd,
    /// Known processes by name, to normalise pids.
    pids: Vec<(String, i32)>,
    /// The steps recorded so far (for checks on children's results).
    steps: Vec<(String, String)>,
}

/// A forked or exec'd child of a case.
pub struct Child {
    pub name: String,
    pub pid: i32,
    fd: RawFd,
}

impl<'a> Ctx<'a> {
    pub fn new(b: &'a dyn Backend, out: RawFd) -> Ctx<'a> {
        Ctx {
            b,
            out,
            pids: Vec::new(),
            steps: Vec::new(),
        }
    }

    pub fn kind(&self) -> Kind {
        self.b.kind()
    }

    // ---- recording ------------------------------------------------------------------------

    /// Records a step.
    pub fn rec(&mut self, label: &str, value: impl Display) {
        let v = value.to_string();
        procs::write_fd(self.out, &trace::step_line(label, &v));
        self.steps.push((label.to_string(), v));
    }

    /// Records a step and checks it against the specification's expectation.
    pub fn expect(&mut self, label: &str, got: impl Display, want: &str) -> bool {
        let got = got.to_string();
        self.rec(label, &got);
        if got != want {
            self.violation(label, &format!("got {got}, §8 says {want}"));
            false
        } else {
            true
        }
    }

    /// Records a violation of the specification without a step.
    pub fn violation(&mut self, label: &str, text: &str) {
        procs::write_fd(self.out, &trace::violation_line(label, text));
    }

    /// Marks the end of the run.
    pub fn done(&mut self) {
        procs::write_fd(self.out, trace::DONE_LINE);
    }

    // ---- the four calls, with valid buffers -------------------------------------------

    pub fn get(&self, key: i32, flg: i32) -> Result<i32, Errno> {
        self.b.msgget(key, flg)
    }

    /// Sends `mtype` + `text`.
    pub fn snd(&self, id: i32, mtype: i64, text: &[u8], flg: i32) -> Result<(), Errno> {
        let mut buf = Vec::with_capacity(8 + text.len());
        buf.extend_from_slice(&mtype.to_ne_bytes());
        buf.extend_from_slice(text);
        // SAFETY: `buf` holds 8 + text.len() readable bytes.
        unsafe { self.b.msgsnd(id, buf.as_ptr().cast(), text.len(), flg) }
    }

    /// Sends with a declared size that may differ from the text (the buffer always holds
    /// at least `msgsz` text bytes, capped to keep absurd sizes cheap: the calls that take
    /// them fail before reading).
    pub fn snd_sz(&self, id: i32, mtype: i64, msgsz: usize, flg: i32) -> Result<(), Errno> {
        let n = msgsz.min(1 << 20);
        let mut buf = vec![0u8; 8 + n];
        buf[..8].copy_from_slice(&mtype.to_ne_bytes());
        buf[8..].copy_from_slice(&trace::abc(n));
        if msgsz > n {
            // Only passed where the call must fail before reading the text (size checks).
            // SAFETY: the implementation must reject msgsz > msgmax before copying.
            return unsafe { self.b.msgsnd(id, buf.as_ptr().cast(), msgsz, flg) };
        }
        // SAFETY: `buf` holds 8 + msgsz readable bytes.
        unsafe { self.b.msgsnd(id, buf.as_ptr().cast(), msgsz, flg) }
    }

    /// Receives into a buffer big enough for any message this suite sends.
    pub fn rcv(&self, id: i32, msgsz: usize, typ: i64, flg: i32) -> Result<(i64, Vec<u8>), Errno> {
        let mut buf = vec![0u8; 8 + (1 << 16)];
        // SAFETY: the buffer holds 8 + 65536 writable bytes; an implementation writes at most
        // 8 + min(msgsz, message size) and every message in this suite is smaller than 64 KiB;
        // MSG_COPY reads at most min(msgsz, msgmax) ≤ 65536 bytes (msgmax stays ≤ 8192).
        let r = unsafe { self.b.msgrcv(id, buf.as_mut_ptr().cast(), msgsz, typ, flg) };
        r.map(|n| {
            let mut t = [0u8; 8];
            t.copy_from_slice(&buf[..8]);
            (i64::from_ne_bytes(t), buf[8..8 + n.min(1 << 16)].to_vec())
        })
    }

    /// msgctl with a valid 120-byte buffer.
    pub fn ctl(&self, id: i32, cmd: i32, ds: &mut MsqidDs) -> Result<i32, Errno> {
        // SAFETY: `ds` is a 120-byte struct we own.
        unsafe {
            self.b
                .msgctl(id, cmd, (ds as *mut MsqidDs).cast::<c_void>())
        }
    }

    pub fn stat(&self, id: i32) -> Result<MsqidDs, Errno> {
        let mut ds = MsqidDs::default();
        self.ctl(id, IPC_STAT, &mut ds).map(|_| ds)
    }

    pub fn set(&self, id: i32, ds: &MsqidDs) -> Result<i32, Errno> {
        let mut d = *ds;
        self.ctl(id, IPC_SET, &mut d)
    }

    /// IPC_STAT, change qbytes, IPC_SET.
    pub fn set_qbytes(&self, id: i32, qbytes: u64) -> Result<i32, Errno> {
        let mut ds = self.stat(id)?;
        ds.msg_qbytes = qbytes;
        self.set(id, &ds)
    }

    /// IPC_STAT, change mode, IPC_SET.
    pub fn set_mode(&self, id: i32, mode: u32) -> Result<i32, Errno> {
        let mut ds = self.stat(id)?;
        ds.msg_perm.mode = mode;
        self.set(id, &ds)
    }

    pub fn rmid(&self, id: i32) -> Result<i32, Errno> {
        // SAFETY: IPC_RMID ignores its buffer.
        unsafe { self.b.msgctl(id, IPC_RMID, std::ptr::null_mut()) }
    }

    /// IPC_INFO or MSG_INFO: the return value and the struct.
    pub fn info(&self, id: i32, cmd: i32) -> Result<(i32, MsgInfo), Errno> {
        let mut buf = [0u8; 120];
        // SAFETY: the buffer holds 120 bytes (the struct is 32).
        let r = unsafe { self.b.msgctl(id, cmd, buf.as_mut_ptr().cast()) }?;
        Ok((r, MsgInfo::from_bytes(&buf).unwrap_or_default()))
    }

    pub fn sysctl(&self, s: Sysctl) -> Result<i64, Errno> {
        self.b.sysctl(s)
    }

    pub fn set_sysctl(&self, s: Sysctl, v: i64) -> Result<(), Errno> {
        self.b.set_sysctl(s, v)
    }

    /// Creates a private queue; panics on failure (setup, not a step).
    pub fn new_queue(&self, flg: i32) -> i32 {
        self.get(IPC_PRIVATE, IPC_CREAT | flg)
            .expect("setup: msgget(IPC_PRIVATE)")
    }

    // ---- normalising ------------------------------------------------------------------------

    /// A pid field: `0`, `self`, a known child's name, or `other`.
    pub fn pid_class(&self, pid: i32) -> String {
        if pid == 0 {
            return "0".into();
        }
        if pid == procs::getpid() {
            return "self".into();
        }
        for (n, p) in &self.pids {
            if *p == pid {
                return n.clone();
            }
        }
        "other".into()
    }

    /// Registers a pid under a name for `pid_class`.
    pub fn name_pid(&mut self, name: &str, pid: i32) {
        self.pids.push((name.into(), pid));
    }

    /// The defined fields of a msqid_ds, with times and pids normalised.
    pub fn ds_str(&self, d: &MsqidDs) -> String {
        let p = &d.msg_perm;
        let reserved_zero = p.pad2 == 0
            && p.pad3 == 0
            && p.reserved1 == 0
            && p.reserved2 == 0
            && d.reserved4 == 0
            && d.reserved5 == 0;
        format!(
            "key={} uid={} gid={} cuid={} cgid={} mode={:o} seq={} stime={} rtime={} ctime={} cbytes={} qnum={} qbytes={} lspid={} lrpid={}{}",
            p.key,
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            p.mode,
            p.seq,
            trace::time_class(d.msg_stime),
            trace::time_class(d.msg_rtime),
            trace::time_class(d.msg_ctime),
            d.msg_cbytes,
            d.msg_qnum,
            d.msg_qbytes,
            self.pid_class(d.msg_lspid),
            self.pid_class(d.msg_lrpid),
            if reserved_zero { "" } else { " reserved!=0" }
        )
    }

    /// Records IPC_STAT of `id` (normalised) or its errno.
    pub fn rec_stat(&mut self, label: &str, id: i32) {
        let v = match self.stat(id) {
            Ok(d) => self.ds_str(&d),
            Err(e) => e.name().into(),
        };
        self.rec(label, v);
    }

    /// Records `qnum/cbytes` of `id`.
    pub fn rec_q(&mut self, label: &str, id: i32) -> String {
        let v = match self.stat(id) {
            Ok(d) => format!("qnum={} cbytes={}", d.msg_qnum, d.msg_cbytes),
            Err(e) => e.name().into(),
        };
        self.rec(label, &v);
        v
    }

    /// Records `qnum/cbytes` and checks them.
    pub fn expect_q(&mut self, label: &str, id: i32, qnum: u64, cbytes: u64) {
        let v = match self.stat(id) {
            Ok(d) => format!("qnum={} cbytes={}", d.msg_qnum, d.msg_cbytes),
            Err(e) => e.name().into(),
        };
        self.expect(label, v, &format!("qnum={qnum} cbytes={cbytes}"));
    }

    // ---- child processes ------------------------------------------------------------------

    /// Forks a child that runs `f` (as `creds` if given) with its own trace, merged into this
    /// one by `join` under `name:`.
    pub fn spawn(&mut self, name: &str, creds: Option<Creds>, f: impl FnOnce(&mut Ctx)) -> Child {
        let b = self.b;
        let pids = self.pids.clone();
        let (pid, fd) = procs::fork_with_pipe(move |w| {
            if let Some(c) = &creds {
                c.apply();
            }
            let mut c = Ctx {
                b,
                out: w,
                pids,
                steps: Vec::new(),
            };
            f(&mut c);
            c.done();
        });
        self.name_pid(name, pid);
        Child {
            name: name.into(),
            pid,
            fd,
        }
    }

    /// Runs `f` in a child (as `creds`) and waits for it.
    pub fn run_as(&mut self, name: &str, creds: Option<Creds>, f: impl FnOnce(&mut Ctx)) {
        let c = self.spawn(name, creds, f);
        self.join(c);
    }

    /// Runs `f` as uid/gid 1000 with no groups, in a child, and waits for it.
    pub fn as_u1000(&mut self, name: &str, f: impl FnOnce(&mut Ctx)) {
        self.run_as(name, Some(Creds::user(1000)), f)
    }

    /// Starts an exec'd worker (`conformance __worker …`) running `ops` against this backend.
    pub fn spawn_exec(&mut self, name: &str, creds: Option<Creds>, ops: &[&str]) -> Child {
        let exe = std::ffi::CString::new("/proc/self/exe").unwrap();
        let mut args: Vec<String> = vec!["conformance".into(), "__worker".into()];
        args.extend(self.b.worker_args());
        args.extend(ops.iter().map(|s| s.to_string()));
        let cargs: Vec<std::ffi::CString> = args
            .iter()
            .map(|a| std::ffi::CString::new(a.as_str()).unwrap())
            .collect();
        let (pid, fd) = procs::fork_with_pipe(move |w| {
            if let Some(c) = &creds {
                c.apply();
            }
            let mut argv: Vec<*const libc::c_char> = cargs.iter().map(|a| a.as_ptr()).collect();
            argv.push(std::ptr::null());
            // SAFETY: `w` is our pipe's write end; dup2 onto stdout clears CLOEXEC on the copy.
            // `exe` and `argv` are valid NUL-terminated strings and a NULL-terminated array.
            unsafe {
                libc::dup2(w, 1);
                libc::execv(exe.as_ptr(), argv.as_ptr());
            }
            procs::write_fd(w, &trace::error_line("execv failed"));
        });
        self.name_pid(name, pid);
        Child {
            name: name.into(),
            pid,
            fd,
        }
    }

    /// Waits for a child to block (state S); records `name:blocked`.
    pub fn wait_blocked(&mut self, c: &Child) -> bool {
        let ok = procs::wait_state(c.pid, c.pid, 'S', STATE_TIMEOUT);
        self.rec(&format!("{}:blocked", c.name), ok);
        ok
    }

    /// Checks that a child is still blocked, without waiting long.
    pub fn still_blocked(&mut self, c: &Child) -> bool {
        std::thread::sleep(Duration::from_millis(30));
        let ok = procs::state(c.pid, c.pid) == Some('S');
        self.rec(&format!("{}:still_blocked", c.name), ok);
        ok
    }

    /// Stops a child with SIGSTOP and waits for state T.
    pub fn stop(&mut self, c: &Child) {
        procs::signal(c.pid, libc::SIGSTOP);
        let ok = procs::wait_state(c.pid, c.pid, 'T', STATE_TIMEOUT);
        self.rec(&format!("{}:stopped", c.name), ok);
    }

    pub fn kill(&self, c: &Child, sig: i32) {
        procs::signal(c.pid, sig);
    }

    /// Waits for a child and merges its trace under `name:`.
    pub fn join(&mut self, c: Child) {
        self.join_private(c);
    }

    /// Like `join`, but steps whose label starts with `_` (timing-dependent details) are
    /// returned instead of merged into the trace.
    pub fn join_private(&mut self, c: Child) -> Vec<(String, String)> {
        let text = procs::read_all(c.fd);
        let status = procs::reap(c.pid);
        let t = Trace::parse(&text);
        let mut private = Vec::new();
        for s in &t.steps {
            if s.label.starts_with('_') {
                private.push((s.label.clone(), s.value.clone()));
                continue;
            }
            self.rec(&format!("{}:{}", c.name, s.label), &s.value);
        }
        for v in &t.violations {
            self.violation(&format!("{}:{}", c.name, v.label), &v.text);
        }
        if let Some(e) = &t.error {
            self.rec(&format!("{}:error", c.name), e);
        }
        if !t.done {
            self.rec(
                &format!("{}:incomplete", c.name),
                status.as_deref().unwrap_or("exited"),
            );
        } else if let Some(s) = status {
            self.rec(&format!("{}:status", c.name), s);
        }
        private
    }
}

impl Ctx<'_> {
    /// Checks the last value recorded under `label` (for example by a joined child)
    /// against the specification.
    pub fn violation_if_not(&mut self, label: &str, want: &str) {
        let got = self
            .steps
            .iter()
            .rev()
            .find(|(l, _)| l == label)
            .map(|(_, v)| v.clone());
        match got {
            Some(g) if g == want => {}
            Some(g) => self.violation(label, &format!("got {g}, §8 says {want}")),
            None => self.violation(label, &format!("missing, §8 says {want}")),
        }
    }
}
