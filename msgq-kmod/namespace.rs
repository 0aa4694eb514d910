// SPDX-License-Identifier: GPL-2.0

//! A namespace (one per IPC namespace of the callers): the limits, the id and key tables, `msgget`, `msgctl` and the limit
//! "sysctls".
//!
//! All mutable state of every queue lives in one [`NsInner`] behind one mutex. Linux uses a
//! namespace rwsem plus a spinlock per queue; one sleeping lock is simpler, makes every
//! operation trivially atomic with respect to `IPC_RMID` and `IPC_SET`, and lets blocked
//! callers wait on it with a [`kernel::sync::CondVar`]. Queues are found by index in a
//! red-black tree and by key in another.

use crate::{
    abi,
    caller::{
        now,
        TaskCaller, //
    },
    checks::{
        self,
        Cmd, //
    },
    ctl,
    get::{
        self,
        Get, //
    },
    ids::{
        self,
        IdState, //
    },
    kerr,
    limits::{
        Limits,
        Sysctl, //
    },
    perm::{
        self,
        Caller, //
    },
    queue::Queue,
    select::Mode,
};
use core::sync::atomic::{
    AtomicI32,
    AtomicU32,
    Ordering::Relaxed, //
};
use kernel::{
    bindings,
    fs::File,
    new_mutex, new_poll_condvar,
    prelude::*,
    rbtree::{
        RBTree,
        RBTreeNodeReservation, //
    },
    sync::{
        lock::{
            mutex::MutexBackend,
            Guard, //
        },
        poll::{
            PollCondVar,
            PollTable, //
        },
        Arc,
        Mutex, //
    },
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

/// The guard of the namespace lock, which the helpers take.
pub(crate) type NsGuard<'a> = Guard<'a, NsInner, MutexBackend>;

/// The message queues, ids, keys and limits of one IPC namespace (`crate::Registry` maps the
/// kernel's IPC namespaces to these).
///
/// The three words read without the lock (`dead`, `msgmax`, `watchers`) are `core` atomics
/// used only with `Relaxed` loads, stores and read-modify-writes: a relaxed load compiles to
/// a plain `mov`, as `READ_ONCE` does, where `kernel::sync::atomic::Atomic`'s load is two
/// out-of-line calls (`AtomicRepr::as_ptr`, `rust_helper_atomic_read`): about 45 guest
/// instructions of an 8-byte send+receive pair (docs/kmod.md). No ordering is asked of them
/// beyond what the namespace lock gives (see `notify_pollers`).
#[pin_data]
pub(crate) struct Namespace {
    /// The `ns_id` of the IPC namespace this is (unique, never reused).
    pub(crate) ns_id: u64,
    /// 1 once the IPC namespace died and this one was emptied and unpublished
    /// (`crate::sweep`); an open file that still holds it must not use it again.
    dead: AtomicI32,
    #[pin]
    pub(crate) inner: Mutex<NsInner>,
    /// Notified on every change a `poll()` may report (enqueue, dequeue, `IPC_SET`, removal).
    #[pin]
    pub(crate) poll_cv: PollCondVar,
    /// A copy of `limits.msgmax`, written with the lock held, read without it by the argument
    /// checks (Linux reads `msg_ctlmax` unlocked too), so a send or receive locks once.
    msgmax: AtomicU32,
    /// The number of open files with a `MSGQ_WATCH` selection: only they can be waiting in
    /// `poll()` for a change, so `msgsnd` and `msgrcv` skip the wake-up when there are none.
    watchers: AtomicI32,
}

/// What an open file's `poll()` reports on (`MSGQ_WATCH`).
#[derive(Clone, Copy)]
pub(crate) struct WatchSpec {
    msqid: i32,
    mode: Mode,
    msgsz: u64,
}

/// Everything the namespace lock protects.
pub(crate) struct NsInner {
    pub(crate) limits: Limits,
    ids: IdState,
    /// Live queues by index.
    queues: RBTree<u32, KBox<Queue>>,
    /// Index of the queue of each key (not `IPC_PRIVATE`).
    keys: RBTree<i32, u32>,
    /// The number of live queues.
    in_use: u32,
    /// Messages and text bytes in all queues (`MSG_INFO`).
    totals: Totals,
}

/// The messages and text bytes in all queues of a namespace (`MSG_INFO`), kept apart from
/// the queue tree so that a call holds its queue and the totals at once
/// ([`NsInner::lookup_with_totals`]).
#[derive(Default)]
pub(crate) struct Totals {
    msg_hdrs: u64,
    msg_bytes: u64,
}

impl Totals {
    /// After a message of `size` bytes entered a queue.
    pub(crate) fn enqueue(&mut self, size: u64) {
        self.msg_hdrs = self.msg_hdrs.saturating_add(1);
        self.msg_bytes = self.msg_bytes.saturating_add(size);
    }

    /// After `n` messages of `bytes` bytes in all left a queue.
    pub(crate) fn dropped(&mut self, n: u64, bytes: u64) {
        self.msg_hdrs = self.msg_hdrs.saturating_sub(n);
        self.msg_bytes = self.msg_bytes.saturating_sub(bytes);
    }
}

impl Namespace {
    /// The current `msgmax` (read without the lock).
    #[inline]
    pub(crate) fn msgmax(&self) -> u32 {
        self.msgmax.load(Relaxed)
    }

    /// An open file chose a `MSGQ_WATCH` selection (the first time).
    pub(crate) fn add_watcher(&self) {
        self.watchers.fetch_add(1, Relaxed);
    }

    /// An open file with a `MSGQ_WATCH` selection was released.
    pub(crate) fn remove_watcher(&self) {
        self.watchers.fetch_sub(1, Relaxed);
    }

    /// Wakes the pollers after a change made with the lock held, if any file watches.
    ///
    /// A file counts itself before it first polls. If a change reads 0 here, the file's
    /// `poll()` took the lock after the change (had it taken it before, the lock's release
    /// and acquire would order its count before this read), so it saw the changed state.
    #[inline(always)]
    pub(crate) fn notify_pollers(&self) {
        if self.watchers.load(Relaxed) > 0 {
            self.wake_pollers();
        }
    }

    #[cold]
    fn wake_pollers(&self) {
        self.poll_cv.notify_all();
    }

    /// Whether this is the calling task's IPC namespace (and still in use).
    #[inline]
    pub(crate) fn is_current(&self) -> bool {
        self.ns_id == crate::ipcns::current_id() && self.dead.load(Relaxed) == 0
    }

    /// The IPC namespace died: every queue is removed (waiters, if any, get `EIDRM`) and the
    /// namespace is marked dead for open files that still hold it.
    pub(crate) fn shut_down(&self) {
        self.dead.store(1, Relaxed);
        let mut inner = self.inner.lock();
        inner.remove_all();
        drop(inner);
        self.poll_cv.notify_all();
    }

    /// The number of live queues.
    pub(crate) fn queue_count(&self) -> u32 {
        self.inner.lock().in_use()
    }

    /// A new, empty namespace with these limits for the IPC namespace `ns_id`.
    pub(crate) fn new(limits: Limits, ns_id: u64) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Namespace {
                ns_id,
                dead: AtomicI32::new(0),
                inner <- new_mutex!(
                    NsInner {
                        limits,
                        ids: IdState::default(),
                        queues: RBTree::new(),
                        keys: RBTree::new(),
                        in_use: 0,
                        totals: Totals::default(),
                    },
                    "Namespace::inner"
                ),
                poll_cv <- new_poll_condvar!("Namespace::poll_cv"),
                msgmax: AtomicU32::new(limits.msgmax),
                watchers: AtomicI32::new(0),
            }),
            GFP_KERNEL,
        )
    }

    /// `msgget(key, msgflg)`, in `get::msgget`'s order (a creation allocates before it checks
    /// `msgmni`, as msg.c's `newque` does).
    pub(crate) fn msgget(&self, key: i32, msgflg: i32) -> Result<isize> {
        let caller = TaskCaller::current();
        let mut inner = self.inner.lock();
        let found = if key != abi::IPC_PRIVATE {
            inner.keys.get(&key).copied()
        } else {
            None
        };
        match get::msgget(key, msgflg, found.is_some()).map_err(kerr)? {
            Get::Open => {
                let q = inner.queues.get(&found.ok_or(EINVAL)?).ok_or(EINVAL)?;
                get::open(&q.perm, &caller, msgflg).map_err(kerr)?;
                Ok(q.id as isize)
            }
            Get::Create => inner.create(key, msgflg, &caller).map(|id| id as isize),
        }
    }
}

impl NsInner {
    /// Linux's `newque`: a new queue for `key`, its id.
    fn create(&mut self, key: i32, msgflg: i32, caller: &TaskCaller) -> Result<i32> {
        let q_node = RBTreeNodeReservation::<u32, KBox<Queue>>::new(GFP_KERNEL_ACCOUNT)?;
        let k_node = if key != abi::IPC_PRIVATE {
            Some(RBTreeNodeReservation::<i32, u32>::new(GFP_KERNEL)?)
        } else {
            None
        };
        let perm = get::new_perm(key, msgflg, caller.euid(), caller.egid());
        let mut q = KBox::new(
            Queue::new(perm, u64::from(self.limits.msgmnb), now()),
            GFP_KERNEL_ACCOUNT,
        )?;
        let in_use = self.in_use();
        get::may_create(u64::from(in_use), u64::from(self.limits.msgmni)).map_err(kerr)?;
        let queues = &self.queues;
        let (idx, seq) = self
            .ids
            .alloc(in_use, |i| queues.get(&i).is_some())
            .ok_or(ENOSPC)?;
        q.seq = seq;
        q.id = ids::make_id(seq, idx);
        let id = q.id;
        self.queues.insert(q_node.into_node(idx, q));
        if let Some(n) = k_node {
            self.keys.insert(n.into_node(key, idx));
        }
        // `in_use < msgmni <= IPCMNI` was checked above.
        self.in_use += 1;
        Ok(id)
    }

    /// The number of live queues.
    fn in_use(&self) -> u32 {
        self.in_use
    }

    /// The highest index in use, 0 when there is none (`IPC_INFO`'s return value).
    fn max_idx(&self) -> u32 {
        self.queues
            .cursor_back()
            .map(|c| *c.current().0)
            .unwrap_or(0)
    }

    /// The queue `id` names (index and sequence number), else `EINVAL`.
    #[inline]
    pub(crate) fn lookup(&mut self, id: i32) -> Result<&mut Queue> {
        self.lookup_with_totals(id).map(|(q, _)| q)
    }

    /// [`NsInner::lookup`], with the namespace totals beside the queue.
    #[inline]
    pub(crate) fn lookup_with_totals(&mut self, id: i32) -> Result<(&mut Queue, &mut Totals)> {
        if id < 0 {
            return Err(EINVAL);
        }
        let q = self.queues.get_mut(&ids::idx_of(id)).ok_or(EINVAL)?;
        if q.seq != ids::seq_of(id) {
            return Err(EINVAL);
        }
        Ok((q, &mut self.totals))
    }

    /// Removes the queue at `idx`: waiters get `EIDRM`, the id and key are freed.
    fn remove(&mut self, idx: u32) {
        let Some(mut q) = self.queues.remove(&idx) else {
            return;
        };
        self.in_use = self.in_use.saturating_sub(1);
        if q.perm.key != abi::IPC_PRIVATE {
            self.keys.remove(&q.perm.key);
        }
        q.kill_waiters();
        self.totals.dropped(q.qnum, q.cbytes);
        drop(q);
    }

    /// Removes every queue (waiters get `EIDRM`); the totals are then 0.
    fn remove_all(&mut self) {
        while let Some(idx) = self.queues.cursor_front().map(|c| *c.current().0) {
            self.remove(idx);
        }
        self.totals = Totals::default();
    }

    /// The `msginfo` of `IPC_INFO` (`msg_info == false`) or `MSG_INFO`.
    fn msginfo(&self, msg_info: bool) -> abi::MsgInfo {
        let usage = msg_info.then_some(ctl::Usage {
            queues: u64::from(self.in_use()),
            msgs: self.totals.msg_hdrs,
            bytes: self.totals.msg_bytes,
        });
        ctl::msginfo(&self.limits, usage)
    }

    /// The namespace totals after `n` messages of `bytes` bytes in all left a queue
    /// (`MSGQ_OVERWRITE`, `MSGQ_PURGE`).
    pub(crate) fn account_dropped(&mut self, n: u64, bytes: u64) {
        self.totals.dropped(n, bytes);
    }

    /// The namespace totals after a message left a queue.
    pub(crate) fn account_dequeue(&mut self, size: u64) {
        self.totals.dropped(1, size);
    }
}

/// Writes a struct's bytes to the user buffer at `buf`.
fn copy_out(buf: u64, bytes: &[u8]) -> Result {
    let addr = usize::try_from(buf).map_err(|_| EFAULT)?;
    UserSlice::new(UserPtr::from_addr(addr), bytes.len())
        .writer()
        .write_slice(bytes)
}

impl Namespace {
    /// `msgctl(msqid, cmd, buf)`.
    pub(crate) fn msgctl(&self, msqid: i32, cmd: i32, buf: u64) -> Result<isize> {
        let cmd = checks::msgctl_cmd(msqid, cmd).map_err(kerr)?;
        let caller = TaskCaller::current();
        match cmd {
            Cmd::Info | Cmd::MsgInfo => {
                let (mi, max) = {
                    let inner = self.inner.lock();
                    (inner.msginfo(cmd == Cmd::MsgInfo), inner.max_idx())
                };
                copy_out(buf, mi.as_bytes())?;
                Ok(max as isize)
            }
            Cmd::Stat | Cmd::MsgStat | Cmd::MsgStatAny => {
                let st = ctl::Stat::of(cmd);
                let (ds, ret) = {
                    let mut inner = self.inner.lock();
                    let q = if st.by_id {
                        inner.lookup(msqid)?
                    } else {
                        inner.queues.get_mut(&ids::idx_of(msqid)).ok_or(EINVAL)?
                    };
                    if st.need_read {
                        perm::ipcperms(&q.perm, &caller, perm::READ).map_err(kerr)?;
                    }
                    (q.stat(), st.ret(q.id))
                };
                copy_out(buf, ds.as_bytes())?;
                Ok(ret as isize)
            }
            Cmd::Set => {
                // The whole struct is copied in first (EFAULT before EINVAL).
                let addr = usize::try_from(buf).map_err(|_| EFAULT)?;
                let mut raw = [0u8; size_of::<abi::MsqidDs>()];
                UserSlice::new(UserPtr::from_addr(addr), raw.len())
                    .reader()
                    .read_slice(&mut raw)?;
                let ds = abi::MsqidDs::from_bytes(&raw).ok_or(EINVAL)?;
                let mut inner = self.inner.lock();
                let msgmnb = inner.limits.msgmnb;
                let q = inner.lookup(msqid)?;
                let set = ctl::ipc_set(&q.perm, &caller, &ds, msgmnb).map_err(kerr)?;
                q.qbytes = set.qbytes;
                q.perm = set.perm(q.perm);
                q.ctime = now();
                q.wake_receivers();
                q.wake_senders(false);
                self.poll_cv.notify_all();
                Ok(0)
            }
            Cmd::Rmid => {
                let mut inner = self.inner.lock();
                let q = inner.lookup(msqid)?;
                perm::may_control(&q.perm, &caller).map_err(kerr)?;
                inner.remove(ids::idx_of(msqid));
                self.poll_cv.notify_all();
                Ok(0)
            }
        }
    }

    /// `MSGQ_WATCH`: checks that the queue exists (`EINVAL`) and that the caller may read or
    /// write it (`EACCES`), and returns what `poll()` will report on.
    pub(crate) fn watch(
        &self,
        msqid: i32,
        msgtyp: i64,
        msgflg: i32,
        msgsz: u64,
    ) -> Result<WatchSpec> {
        let caller = TaskCaller::current();
        let mut inner = self.inner.lock();
        let q = inner.lookup(msqid)?;
        perm::ipcperms(&q.perm, &caller, perm::READ)
            .or_else(|_| perm::ipcperms(&q.perm, &caller, perm::WRITE))
            .map_err(kerr)?;
        Ok(WatchSpec {
            msqid,
            mode: Mode::of(msgtyp, msgflg),
            msgsz,
        })
    }

    /// `poll()`: `POLLIN` when the watched selector finds a message, `POLLOUT` when a
    /// `msgsz`-byte message fits, `POLLERR | POLLHUP` once the queue is gone (or nothing is
    /// watched).
    pub(crate) fn poll(&self, file: &File, pt: &PollTable<'_>, w: Option<WatchSpec>) -> u32 {
        pt.register_wait(file, &self.poll_cv);
        let gone = bindings::POLLERR | bindings::POLLHUP;
        let Some(w) = w else {
            return gone;
        };
        let mut inner = self.inner.lock();
        let Ok(q) = inner.lookup(w.msqid) else {
            return gone;
        };
        let mut mask = 0;
        if q.msgs.find(w.mode).is_some() {
            mask |= bindings::POLLIN | bindings::POLLRDNORM;
        }
        if q.fits(w.msgsz) {
            mask |= bindings::POLLOUT | bindings::POLLWRNORM;
        }
        mask
    }

    /// `MSGQ_RESET`: removes every queue of this namespace and restores `limits` and a fresh id allocation
    /// (`CAP_SYS_ADMIN`, else `EPERM`).
    pub(crate) fn reset(&self, limits: Limits) -> Result<isize> {
        if !TaskCaller::current().cap_sys_admin() {
            return Err(EPERM);
        }
        let mut inner = self.inner.lock();
        inner.remove_all();
        inner.ids = IdState::default();
        inner.limits = limits;
        self.msgmax.store(limits.msgmax, Relaxed);
        self.poll_cv.notify_all();
        Ok(0)
    }

    /// Reads (`write == false`) or writes a limit; returns the value read or written.
    ///
    /// Writing needs `CAP_SYS_ADMIN` (the `/proc/sys/kernel` files are root's), else `EPERM`.
    pub(crate) fn sysctl(&self, which: u32, write: bool, value: i64) -> Result<i64> {
        let s = Sysctl::from_index(which).ok_or(EINVAL)?;
        if write && !TaskCaller::current().cap_sys_admin() {
            return Err(EPERM);
        }
        let mut inner = self.inner.lock();
        if write {
            let v = s.validate(value).map_err(kerr)?;
            match s {
                // `validate` keeps these within 0..=INT_MAX (msgmni within 0..=IPCMNI).
                Sysctl::Msgmax => {
                    inner.limits.msgmax = v as u32;
                    self.msgmax.store(v as u32, Relaxed);
                }
                Sysctl::Msgmnb => inner.limits.msgmnb = v as u32,
                Sysctl::Msgmni => inner.limits.msgmni = v as u32,
                Sysctl::MsgNextId => inner.ids.next_id = v,
                Sysctl::AutoMsgmni => {}
            }
        }
        Ok(match s {
            Sysctl::Msgmax => i64::from(inner.limits.msgmax),
            Sysctl::Msgmnb => i64::from(inner.limits.msgmnb),
            Sysctl::Msgmni => i64::from(inner.limits.msgmni),
            Sysctl::MsgNextId => inner.ids.next_id,
            Sysctl::AutoMsgmni => 0,
        })
    }
}
