//! The supervisor: performs each call of the program on msgq's store, as the program
//! (`msgq_user::acting_for`), and replies. See docs/run.md.

use super::filter::{self, Notif, SYS_MSGCTL, SYS_MSGGET, SYS_MSGRCV, SYS_MSGSND};
use super::target::{self, Mem, Status};
use crate::report::errno_text;
use msgq_core::abi::{MsgInfo, MsqidDs, IPC_NOWAIT, MSG_COPY, MSG_NOERROR};
use msgq_core::checks::{self, Cmd};
use msgq_user::ext::{self, Deadline};
use msgq_user::sys::creds::Creds;
use msgq_user::{Errno, Store, Sysctl};
use std::collections::HashSet;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Linux's `ERESTARTNOHAND`: as the return value of a system call, "restart me unless a
/// handler runs" (what a blocked `msgrcv`/`msgsnd` returns on a signal: the kernel turns it
/// into `EINTR` when a handler runs, and makes the call again after a stop).
const ERESTARTNOHAND: i32 = 514;

/// How long a blocked call waits before it looks again at its caller (gone? a signal?).
const SLICE: Duration = Duration::from_millis(20);

/// A buffer of `n` zero bytes, or `ENOMEM` (never an abort: the supervisor serves every
/// process of the program). Lazily zeroed: a large `msgsz` costs address space, not memory.
fn zeroed(n: usize) -> Result<Vec<u8>, Errno> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let layout = std::alloc::Layout::array::<u8>(n).map_err(|_| Errno::ENOMEM)?;
    // SAFETY: the layout's size is not zero.
    let p = unsafe { std::alloc::alloc_zeroed(layout) };
    if p.is_null() {
        return Err(Errno::ENOMEM);
    }
    // SAFETY: `p` comes from the global allocator with the layout of a Vec<u8> of capacity
    // `n`, and its `n` bytes are initialised (zero).
    Ok(unsafe { Vec::from_raw_parts(p, n, n) })
}

pub struct Sup {
    store: Store,
    listener: OwnedFd,
    /// The default store serves the supervisor's IPC namespace only.
    default_store: bool,
    ipc_ns: String,
    user_ns: String,
    /// Processes already told about (on stderr), so each is told once.
    warned: Mutex<HashSet<u32>>,
    /// The threads of blocked calls and put-backs, joined before `msgq run` exits.
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// For the tests only (`MSGQ_RUN_TEST_REPLY_DELAY_MS`): a pause between taking a
    /// message for a caller and replying, so that a test can kill the caller there.
    reply_delay: Option<Duration>,
    /// When every process of the program was gone (`msgq run` is ending).
    closing: std::sync::OnceLock<std::time::Instant>,
}

/// How long a put-back may still wait for room once the program has ended.
const PUT_BACK_GRACE: Duration = Duration::from_secs(5);

/// One call being served: the notification, who made it, and its memory.
struct Call {
    n: Notif,
    st: Status,
    mem: Mem,
}

/// What the four calls give back: the return value, or an errno.
type Res = Result<i64, i32>;

impl Sup {
    pub fn new(store: Store, listener: OwnedFd) -> Result<Sup, String> {
        let ns = |name| {
            target::namespace(0, name)
                .map_err(|e| format!("/proc/self/ns/{name}: {}", errno_text(Errno(e))))
        };
        Ok(Sup {
            default_store: store.is_default(),
            store,
            listener,
            ipc_ns: ns("ipc")?,
            user_ns: ns("user")?,
            warned: Mutex::new(HashSet::new()),
            workers: Mutex::new(Vec::new()),
            reply_delay: std::env::var("MSGQ_RUN_TEST_REPLY_DELAY_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .map(Duration::from_millis),
            closing: std::sync::OnceLock::new(),
        })
    }

    pub fn listener(&self) -> RawFd {
        self.listener.as_raw_fd()
    }

    fn valid(&self, id: u64) -> bool {
        filter::valid(self.listener(), id)
    }

    fn finish(&self, c: &Call, r: Res) {
        let _ = filter::reply(self.listener(), c.n.id, r);
    }

    fn warn_once(&self, pid: u32, msg: &str) {
        let mut w = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        if w.insert(pid) {
            eprintln!("msgq run: {msg}");
        }
    }

    /// Runs `f` as the caller of `c`: its credentials, pid and tid.
    fn acting<T>(&self, c: &Call, f: impl FnOnce() -> T) -> T {
        msgq_user::acting_for(c.st.creds.clone(), c.st.tgid, c.n.tid, f)
    }

    fn spawn(self: &Arc<Self>, f: impl FnOnce(&Arc<Sup>) + Send + 'static) {
        let me = Arc::clone(self);
        let h = std::thread::spawn(move || f(&me));
        self.workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(h);
    }

    /// Joins the workers that have ended (`all`: every worker, waiting for them, and for
    /// the put-backs they start meanwhile: the program has ended).
    pub fn reap(&self, all: bool) {
        if all {
            let _ = self.closing.set(std::time::Instant::now());
        }
        loop {
            let done: Vec<JoinHandle<()>> = {
                let mut w = self.workers.lock().unwrap_or_else(|p| p.into_inner());
                if all {
                    std::mem::take(&mut *w)
                } else {
                    let (done, running) = w.drain(..).partition(|h| h.is_finished());
                    *w = running;
                    done
                }
            };
            if done.is_empty() {
                return;
            }
            for h in done {
                let _ = h.join();
            }
            if !all {
                return;
            }
        }
    }

    /// Who made the call and its memory; `None` when it was answered already (refused) or
    /// nobody waits for it any more.
    fn start(&self, n: Notif) -> Option<Call> {
        let early = |r: i32| {
            let _ = filter::reply(self.listener(), n.id, Err(r));
            None
        };
        let mut st = match Status::read(n.tid) {
            Ok(st) => st,
            Err(e) => return early(e),
        };
        let mem = match Mem::open(n.tid) {
            Ok(m) => m,
            Err(e) if e != libc::EPERM && e != libc::EACCES => return early(e),
            Err(e) => {
                self.warn_once(
                    st.tgid,
                    &format!(
                        "cannot reach the memory of process {} (/proc/{}/mem: {}); its calls \
                         fail with EPERM",
                        st.tgid,
                        n.tid,
                        errno_text(Errno(e))
                    ),
                );
                return early(libc::EPERM);
            }
        };
        let ipc = target::namespace(n.tid, "ipc");
        let user = target::namespace(n.tid, "user");
        // What was read belongs to the caller only if it still waits (TOCTOU: a thread id
        // reused after the caller died).
        if !self.valid(n.id) {
            return None;
        }
        if user.as_deref() != Ok(self.user_ns.as_str()) {
            // Capabilities in another user namespace give nothing over these queues.
            st.creds.caps = 0;
        }
        if self.default_store && ipc.as_deref() != Ok(self.ipc_ns.as_str()) {
            self.warn_once(
                st.tgid,
                &format!(
                    "process {} is in another IPC namespace ({}) than msgq run ({}): its \
                     queues there are not served, its calls fail with EINVAL (give a store \
                     file with --store to share one store across namespaces)",
                    st.tgid,
                    ipc.unwrap_or_default(),
                    self.ipc_ns
                ),
            );
            return early(libc::EINVAL);
        }
        Some(Call { n, st, mem })
    }

    /// Serves one notification (on the supervisor's main thread).
    pub fn handle(self: &Arc<Self>, n: Notif) {
        let Some(c) = self.start(n) else { return };
        let a = n.args;
        match n.nr {
            SYS_MSGGET => {
                let r = self.acting(&c, || self.store.msgget(a[0] as i32, a[1] as i32));
                self.finish(&c, r.map(i64::from).map_err(|e| e.0));
            }
            SYS_MSGCTL => self.msgctl(&c),
            SYS_MSGSND => self.msgsnd(c),
            SYS_MSGRCV => self.msgrcv(c),
            _ => self.finish(&c, Err(libc::ENOSYS)),
        }
    }

    fn msgctl(&self, c: &Call) {
        let a = c.n.args;
        let (qid, cmd, buf) = (a[0] as i32, a[1] as i32, a[2]);
        let kind = match checks::msgctl_cmd(qid, cmd) {
            Ok(k) => k,
            Err(e) => return self.finish(c, Err(e.0)),
        };
        let ds = std::mem::size_of::<MsqidDs>();
        let mut local = vec![0u8; 256.max(ds).max(std::mem::size_of::<MsgInfo>())];
        if matches!(kind, Cmd::Set) {
            if let Err(e) = c.mem.read(buf, &mut local[..ds]) {
                return self.finish(c, Err(e));
            }
            if !self.valid(c.n.id) {
                return;
            }
        }
        // SAFETY: `local` is ours, writable, and larger than a struct msqid_ds and a struct
        // msginfo, the most any command reads or writes.
        let r = self.acting(c, || unsafe {
            msgq_user::raw::msgctl(&self.store, qid, cmd, local.as_mut_ptr().cast())
        });
        let r = match r {
            Ok(r) => r,
            Err(e) => return self.finish(c, Err(e.0)),
        };
        let out = match kind {
            Cmd::Stat | Cmd::MsgStat | Cmd::MsgStatAny => ds,
            Cmd::Info | Cmd::MsgInfo => std::mem::size_of::<MsgInfo>(),
            Cmd::Rmid | Cmd::Set => 0,
        };
        if out > 0 {
            if let Err(e) = c.mem.write(buf, &local[..out]) {
                return self.finish(c, Err(e));
            }
        }
        self.finish(c, Ok(r as i64));
    }

    /// `msgsnd`'s message from the caller's memory, with Linux's checks in Linux's order.
    fn load(&self, c: &Call) -> Result<(i64, Vec<u8>), i32> {
        let a = c.n.args;
        let (qid, msgp, msgsz) = (a[0] as i32, a[1], a[2]);
        let mut t = [0u8; 8];
        c.mem.read(msgp, &mut t)?;
        let mtype = i64::from_ne_bytes(t);
        let msgmax = self.store.sysctl(Sysctl::Msgmax).map_err(|e| e.0)?;
        if (msgsz as i64) < 0 || msgsz > msgmax.max(0) as u64 || qid < 0 || mtype < 1 {
            return Err(libc::EINVAL);
        }
        let mut text = zeroed(msgsz as usize).map_err(|e| e.0)?;
        c.mem.read(msgp.wrapping_add(8), &mut text)?;
        Ok((mtype, text))
    }

    fn msgsnd(self: &Arc<Self>, c: Call) {
        let (qid, flg) = (
            c.n.args[0] as i32,
            msgq_core::ext::linux_bits(c.n.args[3] as i32),
        );
        let (mtype, text) = match self.load(&c) {
            Ok(m) => m,
            Err(e) => return self.finish(&c, Err(e)),
        };
        if !self.valid(c.n.id) {
            return;
        }
        let send = move |sup: &Sup, c: &Call, flg: i32, dl: Option<Deadline>| {
            sup.acting(c, || sup.store.send_with(qid, mtype, &text, flg, dl))
        };
        let r = send(self, &c, flg | IPC_NOWAIT, None);
        if r == Err(Errno::EAGAIN) && flg & IPC_NOWAIT == 0 {
            self.spawn(move |sup| {
                let r = sup.blocked(&c, |dl| send(sup, &c, flg, Some(dl)));
                if let Some(r) = r {
                    sup.finish(&c, r.map(|_| 0).map_err(|e| e.0));
                }
            });
            return;
        }
        self.finish(&c, r.map(|_| 0).map_err(|e| e.0));
    }

    fn msgrcv(self: &Arc<Self>, c: Call) {
        let a = c.n.args;
        let (qid, msgsz, msgtyp) = (a[0] as i32, a[2] as i64, a[3] as i64);
        let flg = msgq_core::ext::linux_bits(a[4] as i32);
        if qid < 0 || msgsz < 0 {
            return self.finish(&c, Err(libc::EINVAL));
        }
        // With MSG_NOERROR the whole message is received (the caller gets its first msgsz
        // bytes), so that a message put back is the message that was taken.
        let mut size = msgsz.min(i32::MAX as i64) as usize;
        if flg & MSG_NOERROR != 0 && flg & MSG_COPY == 0 {
            let msgmax = self.store.sysctl(Sysctl::Msgmax).unwrap_or(0);
            size = size.max(msgmax.clamp(0, i32::MAX as i64) as usize);
        }
        let recv = move |sup: &Sup, c: &Call, flg: i32, dl: Option<Deadline>| {
            let mut buf = zeroed(size)?;
            let r = sup.acting(c, || sup.store.receive_with(qid, &mut buf, msgtyp, flg, dl));
            r.map(|(t, n)| {
                buf.truncate(n);
                (t, buf)
            })
        };
        if flg & (IPC_NOWAIT | MSG_COPY) != 0 {
            let r = recv(self, &c, flg, None);
            return self.deliver(&c, flg, r);
        }
        let r = recv(self, &c, flg | IPC_NOWAIT, None);
        if r.as_ref().err() == Some(&Errno::ENOMSG) {
            self.spawn(move |sup| {
                if let Some(r) = sup.blocked(&c, |dl| recv(sup, &c, flg, Some(dl))) {
                    sup.deliver(&c, flg, r);
                }
            });
            return;
        }
        self.deliver(&c, flg, r);
    }

    /// Waits in slices until `attempt` ends: its result, or `None` when the caller is gone
    /// (or was already answered `EINTR`: a caught signal is pending for it).
    fn blocked<T>(
        &self,
        c: &Call,
        mut attempt: impl FnMut(Deadline) -> Result<T, Errno>,
    ) -> Option<Result<T, Errno>> {
        loop {
            if !self.valid(c.n.id) {
                return None;
            }
            match Status::read(c.n.tid) {
                Ok(st) if st.interrupted() => {
                    self.finish(c, Err(libc::EINTR));
                    return None;
                }
                Ok(st) if st.stopping() => {
                    // The caller stops on its way out, and makes the call again (a new
                    // notification) when it continues, as in Linux.
                    self.finish(c, Err(ERESTARTNOHAND));
                    return None;
                }
                Ok(_) => {}
                Err(_) => return None,
            }
            match attempt(msgq_user::deadline_in(SLICE)) {
                Err(e) if e == ext::ETIMEDOUT => continue,
                r => return Some(r),
            }
        }
    }

    /// Gives a received message to the caller: written to its memory, then the reply. A
    /// message taken for a caller that cannot get it is put back.
    fn deliver(self: &Arc<Self>, c: &Call, flg: i32, r: Result<(i64, Vec<u8>), Errno>) {
        let (mtype, text) = match r {
            Ok(m) => m,
            Err(e) => return self.finish(c, Err(e.0)),
        };
        let (msgp, msgsz) = (c.n.args[1], c.n.args[2] as usize);
        let n = text.len().min(msgsz);
        let mut out = Vec::with_capacity(8 + n);
        out.extend_from_slice(&mtype.to_ne_bytes());
        out.extend_from_slice(&text[..n]);
        let written = c.mem.write(msgp, &out);
        if let Some(d) = self.reply_delay {
            std::thread::sleep(d);
        }
        let replied = match written {
            Ok(()) => filter::reply(self.listener(), c.n.id, Ok(n as i64)),
            Err(e) => Err(e),
        };
        if replied.is_err() {
            if flg & MSG_COPY == 0 {
                self.put_back(c.n.args[0] as i32, mtype, text);
            }
            if let Err(e) = written {
                self.finish(c, Err(e));
            }
        }
    }

    /// Puts a message taken for a caller that could not get it back in front of its queue
    /// (`MSGQ_URGENT`), with the engine's own authority: the receiver may lack write
    /// permission. A queue removed meanwhile takes the message with it.
    fn put_back(self: &Arc<Self>, qid: i32, mtype: i64, text: Vec<u8>) {
        if self.put_back_with(qid, mtype, &text, IPC_NOWAIT, None) == Err(Errno::EAGAIN) {
            // Full again: wait for room on a thread of its own (the main thread must not
            // wait: it serves the receivers that make room).
            self.spawn(move |sup| loop {
                let dl = msgq_user::deadline_in(SLICE);
                match sup.put_back_with(qid, mtype, &text, 0, Some(dl)) {
                    Err(e) if e == ext::ETIMEDOUT => {}
                    _ => return,
                }
                if sup
                    .closing
                    .get()
                    .is_some_and(|t| t.elapsed() > PUT_BACK_GRACE)
                {
                    eprintln!(
                        "msgq run: queue {qid}: a message (type {mtype}, {} bytes) taken for \
                         a process that died could not be put back: the queue stayed full \
                         after the program ended",
                        text.len()
                    );
                    return;
                }
            });
        }
    }

    fn put_back_with(
        &self,
        qid: i32,
        mtype: i64,
        text: &[u8],
        flg: i32,
        dl: Option<Deadline>,
    ) -> Result<u64, Errno> {
        let engine = Creds {
            caps: u64::MAX,
            ..Creds::default()
        };
        // SAFETY: getpid and gettid have no preconditions.
        let (pid, tid) = unsafe { (libc::getpid() as u32, libc::gettid() as u32) };
        msgq_user::acting_for(engine, pid, tid, || {
            self.store
                .send_with(qid, mtype, text, ext::MSGQ_URGENT | flg, dl)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_buffers_fail_with_enomem_not_an_abort() {
        assert!(zeroed(0).unwrap().is_empty());
        assert_eq!(zeroed(4096).unwrap(), vec![0u8; 4096]);
        assert_eq!(zeroed(usize::MAX), Err(Errno::ENOMEM));
        assert_eq!(zeroed(isize::MAX as usize), Err(Errno::ENOMEM));
    }
}
