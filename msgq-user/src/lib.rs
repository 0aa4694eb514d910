//! msgq-user: Linux System V message queues in shared memory.
//!
//! Queues live in shared memory that every process using them maps: by default the IPC
//! namespace's (each queue anchored by a kernel queue, its memory a SysV segment: see
//! [`Store::open_default`]), or a store file. There is no daemon and, when nobody has to wait, no
//! system call: an operation is a robust-mutex lock, some word updates, and an unlock. Each queue
//! index has its own shard of the store (lock, undo log, heap), so calls on different
//! queues share nothing. Behaviour
//! is Linux's, to the errno, because every decision comes from `msgq-core`, the rules
//! shared with the kernel module.
//!
//! What is public:
//! * [`Store`], the safe API: [`Store::open_default`], [`Store::open`], [`Store::create`]...
//!   then the four calls ([`Store::msgget`], [`Store::send`], [`Store::receive`], the
//!   `msgctl` commands [`Store::stat`], [`Store::set`], [`Store::remove`], [`Store::info`])
//!   and the extensions ([`Store::send_with`], [`Store::receive_with`], [`Store::purge`],
//!   [`Store::abort`], [`Store::select`], [`Store::watch_fd`], [`Store::notify`]).
//! * The errors: [`Errno`] from the calls, [`StoreError`] from opening a store.
//! * The constants and structures: [`abi`] (Linux's), [`ext`] (the extensions'), the limits
//!   ([`Limits`], [`Sysctl`]).
//! * [`raw`]: the C-shaped calls (`unsafe`, raw pointers, `EFAULT` for bad ones) that the
//!   `LD_PRELOAD` shim exports.
//! * [`interrupt::handler_ran`], for a program's own signal handlers, and the process-wide
//!   hooks [`refresh_credentials`], [`after_fork_child`] and [`leave_namespace`].
//!
//! Inside (not part of the API; hidden from this documentation, `pub` only because the
//! shim, the tests and the chaos and loom harnesses of the workspace reach into them): the
//! store files (`store`), the store's memory (`shm`: layout, word access, undo log,
//! allocator), the store lock (`sync`, a robust process-shared mutex), the engine
//! (`engine`: queues, waiters, the four calls), the namespace-anchored default stores
//! (`anchored`), the system calls (`sys`: futex, credentials, `/proc`, user copies) and the
//! watch threads (`watch`).
//!
//! Crash safety and the memory layout are described in `docs/design.md`.
//!
//! # Using it from Rust
//!
//! `msgq-user` is the only dependency a program needs: it re-exports the ABI constants and
//! structures ([`abi`]: `IPC_CREAT`, `IPC_NOWAIT`, `MSG_EXCEPT`, `MsqidDs`...), the
//! extensions' flags ([`ext`]) and [`Errno`]. Errors are [`Errno`] values, exactly those
//! Linux returns; `Errno` implements [`std::error::Error`] and converts into
//! [`std::io::Error`], so `?` works in functions returning either. Opening a store fails
//! with a [`StoreError`], which is an [`std::error::Error`] too.
//!
//! The two examples are the README's. They use the namespace's default store, so
//! `cargo test --doc` runs each in a new IPC namespace of its own (a hidden first line
//! calls `unshare(CLONE_NEWIPC)`, which needs root; without it the example is only
//! compiled), never on the queues of the namespace the tests run in.
//!
//! ```rust
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # // SAFETY: detaches this thread from its IPC namespace; no memory is involved.
//! # if unsafe { libc::unshare(libc::CLONE_NEWIPC) } != 0 { return Ok(()); }
//! use msgq_user::abi::IPC_CREAT;
//! use msgq_user::Store;
//!
//! let store = Store::open_default()?;                 // this IPC namespace's store
//! let q = store.msgget(0x1234, IPC_CREAT | 0o600)?;   // same ids, keys, modes as Linux
//! store.send(q, 1, b"hello", 0)?;
//! let mut buf = [0u8; 64];
//! let (mtype, n) = store.receive(q, &mut buf, 0, 0)?;
//! # assert_eq!((mtype, &buf[..n]), (1, &b"hello"[..]));
//! # Ok(())
//! # }
//! ```
//!
//! The extensions (timeouts, urgent, overwrite, abort... `docs/extensions.md`):
//!
//! ```rust
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # // SAFETY: detaches this thread from its IPC namespace; no memory is involved.
//! # if unsafe { libc::unshare(libc::CLONE_NEWIPC) } != 0 { return Ok(()); }
//! use msgq_user::{deadline_in, ext::*, Store};
//! use std::time::Duration;
//!
//! let store = Store::open_default()?;
//! let q = store.msgget(0x1234, msgq_user::abi::IPC_CREAT | 0o600)?;
//! store.send_with(q, 1, b"now", MSGQ_URGENT, None)?;                 // to the front
//! let dropped = store.send_with(q, 1, b"latest", MSGQ_OVERWRITE, None)?;
//! let mut buf = [0u8; 64];
//! match store.receive_with(q, &mut buf, 0, 0, Some(deadline_in(Duration::from_millis(250)))) {
//!     Ok((mtype, n)) => println!("{mtype}: {:?}", &buf[..n]),
//!     Err(e) if e == ETIMEDOUT => println!("nothing within 250 ms"),
//!     Err(e) => return Err(e.into()),
//! }
//! let woken = store.abort(q, MSGQ_ABORT_RECEIVERS)?;                 // blocked receivers: ECANCELED
//! # assert_eq!((dropped, woken), (0, 0));
//! # Ok(())
//! # }
//! ```

#![warn(clippy::undocumented_unsafe_blocks)]

// The public surface is `Store` and what its methods take and return, the errors, the
// ABI and extension constants, `raw`, `interrupt::handler_ran` and the process-wide
// helpers below. The modules marked `#[doc(hidden)]` are internals that other crates of
// this workspace (the shim, the tests, chaos, the loom models) reach into; they are not
// part of the API and may change at any time.
#[cfg(not(loom))]
#[doc(hidden)]
pub mod anchored;
#[doc(hidden)]
pub mod engine;
#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub mod fault;
pub mod interrupt;
#[cfg(loom)]
#[doc(hidden)]
pub mod model;
pub mod raw;
#[doc(hidden)]
pub mod shm;
mod store;
mod sync;
#[doc(hidden)]
pub mod sys;
#[cfg(not(loom))]
#[doc(hidden)]
pub mod watch;

pub use engine::check::Report as CheckReport;
use engine::registry::{self, Ns};
#[cfg(not(loom))]
pub use engine::select::{Want, MAX as SELECT_MAX};
use engine::Sink;
/// The x86_64 Linux ABI: `IPC_*` and `MSG_*` constants, `struct msqid_ds` and friends.
pub use msgq_core::abi;
use msgq_core::abi::{MsgInfo, MsqidDs};
use msgq_core::checks::Cmd;
#[cfg(not(loom))]
pub use watch::Notification;

/// msgq's extensions (`docs/extensions.md`): the flags [`Store::send_with`],
/// [`Store::receive_with`] and [`Store::abort`] take, the errors only they return, and
/// deadlines.
pub mod ext {
    pub use msgq_core::ext::{
        deadline, Clock, Deadline, CLOCK_MONOTONIC, CLOCK_REALTIME, EBUSY, ECANCELED, EMSGSIZE,
        EOPNOTSUPP, ETIMEDOUT, EXT_BITS, MSGQ_ABORT_RECEIVERS, MSGQ_ABORT_SENDERS, MSGQ_BROADCAST,
        MSGQ_OVERWRITE, MSGQ_PEEK, MSGQ_URGENT,
    };
}
pub use msgq_core::limits::{Limits, Sysctl};
pub use msgq_core::Errno;

/// A deadline `d` from now on `CLOCK_MONOTONIC`, for [`Store::send_with`] and
/// [`Store::receive_with`].
pub fn deadline_in(d: std::time::Duration) -> ext::Deadline {
    let c = ext::Clock::Monotonic;
    ext::Deadline {
        clock: c,
        at_ns: sys::process::clock_ns(c) + d.as_nanos() as i128,
    }
}
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
pub use store::{StoreError, StoreErrorKind, StoreOptions};
use sys::creds;

/// An open store: the queues of one IPC namespace (or of an explicitly named file).
pub struct Store {
    back: Backing,
    /// The store file, or a description of the namespace (for messages).
    path: PathBuf,
}

/// Where a store's queues are.
enum Backing {
    /// A store file (`MSGQ_STORE`, `Store::open`...): a registry and shards, the file's mode
    /// deciding who shares it.
    File { _map: store::Mapping, ns: Ns },
    /// The default store of an IPC namespace: kernel anchors and one segment per queue
    /// ([`anchored`]).
    #[cfg(not(loom))]
    Anchored(anchored::Anchored),
}

impl Backing {
    fn shards(&self) -> &dyn engine::Shards {
        match self {
            Backing::File { ns, .. } => ns,
            #[cfg(not(loom))]
            Backing::Anchored(a) => a,
        }
    }
}

/// Runs an engine call, turning a detected corruption (a panic carrying
/// [`shm::arena::Corrupt`]) or any other panic into `EIO` instead of unwinding further.
fn guarded<R>(path: &Path, f: impl FnOnce() -> Result<R, Errno>) -> Result<R, Errno> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            // Under loom a panic is a model failure or a simulated death: let it through.
            #[cfg(loom)]
            if !p.is::<shm::arena::Corrupt>() {
                std::panic::resume_unwind(p);
            }
            let what = match p.downcast_ref::<shm::arena::Corrupt>() {
                Some(c) => format!("corrupt store (bad offset {:#x})", c.0),
                None => "internal error".to_owned(),
            };
            eprintln!("msgq: {}: {what}", path.display());
            Err(Errno::EIO)
        }
    }
}

struct SliceSink<'a> {
    buf: &'a mut [u8],
    mtype: i64,
}

impl Sink for SliceSink<'_> {
    fn deliver(&mut self, mtype: i64, text: &[u8]) -> Result<(), Errno> {
        self.mtype = mtype;
        self.buf[..text.len()].copy_from_slice(text);
        Ok(())
    }
}

impl Store {
    fn from_mapping(map: store::Mapping) -> Store {
        sys::process::init();
        let ns = map.ns();
        let path = map.path.clone();
        Store {
            back: Backing::File { _map: map, ns },
            path,
        }
    }

    /// What names the default store in messages: the calling thread's IPC namespace.
    pub fn default_path() -> PathBuf {
        store::default_path()
    }

    /// The default store: the queues of the calling thread's IPC namespace, shared by every
    /// user of the namespace, each queue anchored by a kernel queue with its memory in a
    /// System V segment of the namespace (`docs/design.md`, "The store model of issue 13").
    /// Nothing is created until a
    /// queue is. Every call on it must come from a thread in that namespace.
    ///
    /// Refused (with an error that says why) where `kernel.shm_rmid_forced` is 1: the kernel
    /// would then destroy a queue's memory when the process that made it exits.
    #[cfg(not(loom))]
    pub fn open_default() -> Result<Store, StoreError> {
        sys::process::init();
        if sys::ipc::read_file("/proc/sys/kernel/shm_rmid_forced")
            .is_ok_and(|v| v.first() == Some(&b'1'))
        {
            return Err(StoreError {
                path: Self::default_path(),
                kind: StoreErrorKind::Invalid(
                    "the default store needs kernel.shm_rmid_forced = 0 in this IPC \
                     namespace (with 1 the kernel destroys a queue's memory when its creator \
                     exits); use a store file instead (MSGQ_STORE=path)",
                ),
            });
        }
        Ok(Store {
            back: Backing::Anchored(anchored::Anchored::new()),
            path: Self::default_path(),
        })
    }

    /// Whether this is a namespace's default store (kernel anchors), not a store file.
    pub fn is_default(&self) -> bool {
        !matches!(self.back, Backing::File { .. })
    }

    /// Opens an existing store. A file that is not a store, or is from another version, is
    /// refused with an error naming it.
    ///
    /// ```
    /// use msgq_user::abi::IPC_CREAT;
    /// use msgq_user::{Store, StoreOptions};
    ///
    /// let path = std::env::temp_dir().join(format!("msgq-doc-open-{}", std::process::id()));
    /// let first = Store::create(&path, &StoreOptions::default())?;
    /// let q = first.msgget(0x51, IPC_CREAT | 0o600)?;
    /// first.send(q, 1, b"shared", 0)?;
    ///
    /// let second = Store::open(&path)?; // as another process would
    /// assert_eq!(second.msgget(0x51, 0)?, q);
    /// let mut buf = [0u8; 16];
    /// assert_eq!(second.receive(q, &mut buf, 0, 0)?, (1, 6));
    /// # drop((first, second));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        store::open(path).map(Self::from_mapping)
    }

    /// Creates a new store; fails if the file exists.
    ///
    /// ```
    /// use msgq_user::{Store, StoreOptions};
    ///
    /// let path = std::env::temp_dir().join(format!("msgq-doc-create-{}", std::process::id()));
    /// let opts = StoreOptions { mode: 0o660, ..StoreOptions::default() }; // for a group
    /// let store = Store::create(&path, &opts)?;
    /// assert!(Store::create(&path, &opts).is_err()); // it exists now
    /// assert_eq!(store.limits()?.msgmax, 8192); // Linux's defaults
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create(path: &Path, opts: &StoreOptions) -> Result<Store, StoreError> {
        store::create(path, opts).map(Self::from_mapping)
    }

    /// Creates a store in anonymous shared memory, private to this process (and to children
    /// forked after it), gone when dropped. For tests and the loom models.
    ///
    /// ```
    /// use msgq_user::{abi::IPC_PRIVATE, Store, StoreOptions};
    ///
    /// let store = Store::in_memory(&StoreOptions::default())?;
    /// let q = store.msgget(IPC_PRIVATE, 0o600)?;
    /// store.send(q, 1, b"x", 0)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn in_memory(opts: &StoreOptions) -> Result<Store, StoreError> {
        store::create_anonymous(opts).map(Self::from_mapping)
    }

    /// Opens the store at `path`, creating it with `opts` if it does not exist.
    ///
    /// ```
    /// use msgq_user::{Store, StoreOptions};
    ///
    /// let path = std::env::temp_dir().join(format!("msgq-doc-ooc-{}", std::process::id()));
    /// let a = Store::open_or_create(&path, &StoreOptions::default())?; // creates it
    /// let b = Store::open_or_create(&path, &StoreOptions::default())?; // opens it
    /// assert_eq!(a.path(), b.path());
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_or_create(path: &Path, opts: &StoreOptions) -> Result<Store, StoreError> {
        store::open_or_create(path, opts).map(Self::from_mapping)
    }

    /// The store file (for the default store, a description of its namespace).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn run<R>(&self, f: impl FnOnce(&Backing) -> Result<R, Errno>) -> Result<R, Errno> {
        guarded(&self.path, || f(&self.back))
    }

    /// Runs a call on queue `id`; a default store then forgets the mapping of a queue the
    /// call found removed.
    pub(crate) fn on_queue<R>(
        &self,
        id: i32,
        f: impl FnOnce(&dyn engine::Shards) -> Result<R, Errno>,
    ) -> Result<R, Errno> {
        let r = self.run(|b| f(b.shards()));
        #[cfg(not(loom))]
        if let (Err(e), Backing::Anchored(a)) = (&r, &self.back) {
            a.after_error(id, *e);
        }
        let _ = id;
        r
    }

    /// The current `msgmax`, read without a lock.
    pub(crate) fn msgmax(&self) -> Result<u32, Errno> {
        self.run(|b| Ok(b.shards().msgmax() as u32))
    }

    /// `msgget(key, msgflg)`: the id of the queue for `key`, created as the flags say.
    ///
    /// ```
    /// use msgq_user::abi::{IPC_CREAT, IPC_EXCL, IPC_PRIVATE};
    /// use msgq_user::{Errno, Store, StoreOptions};
    ///
    /// let store = Store::in_memory(&StoreOptions::default())?;
    /// assert_eq!(store.msgget(0x42, 0), Err(Errno::ENOENT));
    /// let q = store.msgget(0x42, IPC_CREAT | 0o640)?;
    /// assert_eq!(store.msgget(0x42, 0)?, q); // found by key
    /// assert_eq!(store.msgget(0x42, IPC_CREAT | IPC_EXCL | 0o640), Err(Errno::EEXIST));
    /// assert_ne!(store.msgget(IPC_PRIVATE, 0o600)?, q); // always a new queue
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn msgget(&self, key: i32, msgflg: i32) -> Result<i32, Errno> {
        creds::with(|c| {
            self.run(|b| match b {
                Backing::File { ns, .. } => registry::msgget(ns, key, msgflg, c),
                #[cfg(not(loom))]
                Backing::Anchored(a) => a.msgget(key, msgflg, c),
            })
        })
    }

    /// `msgsnd`: sends `text` with type `mtype` (blocks unless `IPC_NOWAIT`).
    ///
    /// ```
    /// use msgq_user::abi::{IPC_NOWAIT, IPC_PRIVATE};
    /// use msgq_user::{Errno, Store, StoreOptions};
    ///
    /// let store = Store::in_memory(&StoreOptions::default())?;
    /// let q = store.msgget(IPC_PRIVATE, 0o600)?;
    /// store.send(q, 7, b"a message", 0)?;
    /// store.send(q, 7, b"", 0)?; // empty texts are messages too
    /// assert_eq!(store.send(q, 0, b"x", 0), Err(Errno::EINVAL)); // types start at 1
    /// assert_eq!(store.send(q, 1, &[0; 8193], 0), Err(Errno::EINVAL)); // over msgmax
    /// // A full queue blocks a send, or refuses it with IPC_NOWAIT.
    /// store.set_sysctl(msgq_user::Sysctl::Msgmnb, 16)?;
    /// let small = store.msgget(IPC_PRIVATE, 0o600)?;
    /// store.send(small, 1, &[1; 16], 0)?;
    /// assert_eq!(store.send(small, 1, b"more", IPC_NOWAIT), Err(Errno::EAGAIN));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send(&self, id: i32, mtype: i64, text: &[u8], msgflg: i32) -> Result<(), Errno> {
        creds::with(|c| self.on_queue(id, |s| engine::ops::msgsnd(s, id, mtype, text, msgflg, c)))
    }

    /// `msgrcv`: receives into `buf` (its length is `msgsz`); returns the message's type and
    /// the number of bytes written.
    ///
    /// ```
    /// use msgq_user::abi::{IPC_NOWAIT, IPC_PRIVATE, MSG_EXCEPT, MSG_NOERROR};
    /// use msgq_user::{Errno, Store, StoreOptions};
    ///
    /// let store = Store::in_memory(&StoreOptions::default())?;
    /// let q = store.msgget(IPC_PRIVATE, 0o600)?;
    /// for (t, text) in [(3, "three"), (1, "one"), (2, "two"), (5, "a long message")] {
    ///     store.send(q, t, text.as_bytes(), 0)?;
    /// }
    /// let mut buf = [0u8; 8];
    /// assert_eq!(store.receive(q, &mut buf, -2, 0)?, (1, 3)); // the lowest type <= 2
    /// assert_eq!(&buf[..3], b"one");
    /// assert_eq!(store.receive(q, &mut buf, 3, MSG_EXCEPT)?.0, 2); // the first not of type 3
    /// assert_eq!(store.receive(q, &mut buf, 5, 0), Err(Errno::E2BIG)); // 14 bytes into 8
    /// assert_eq!(store.receive(q, &mut buf, 5, MSG_NOERROR)?, (5, 8)); // truncated
    /// assert_eq!(store.receive(q, &mut buf, 0, 0)?, (3, 5)); // the first in the queue
    /// assert_eq!(store.receive(q, &mut buf, 0, IPC_NOWAIT), Err(Errno::ENOMSG));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn receive(
        &self,
        id: i32,
        buf: &mut [u8],
        msgtyp: i64,
        msgflg: i32,
    ) -> Result<(i64, usize), Errno> {
        let msgsz = buf.len();
        let mut sink = SliceSink { buf, mtype: 0 };
        let n = creds::with(|c| {
            self.on_queue(id, |s| {
                engine::ops::msgrcv(s, id, msgsz, msgtyp, msgflg, c, &mut sink)
            })
        })?;
        Ok((sink.mtype, n))
    }

    /// A send with msgq's extensions: `msgflg` may add [`ext::MSGQ_URGENT`],
    /// [`ext::MSGQ_OVERWRITE`] or [`ext::MSGQ_BROADCAST`] to `msgsnd`'s flags, and a
    /// blocked send gives up with `ETIMEDOUT` at `deadline` (see [`deadline_in`]). Returns
    /// 0, or with overwrite the number of messages dropped, or with broadcast the number of
    /// blocked receivers given the message. The rules are in `docs/extensions.md`.
    ///
    /// ```
    /// use msgq_user::abi::IPC_PRIVATE;
    /// use msgq_user::ext::{MSGQ_OVERWRITE, MSGQ_URGENT};
    /// use msgq_user::{Store, StoreOptions, Sysctl};
    ///
    /// let store = Store::in_memory(&StoreOptions::default())?;
    /// store.set_sysctl(Sysctl::Msgmnb, 12)?; // queues of 12 bytes
    /// let q = store.msgget(IPC_PRIVATE, 0o600)?;
    /// store.send(q, 1, b"first", 0)?;
    /// store.send_with(q, 1, b"now", MSGQ_URGENT, None)?; // ahead of "first"
    /// // 8 bytes used, 6 more do not fit: the oldest messages (from the front) are dropped.
    /// let dropped = store.send_with(q, 1, b"latest", MSGQ_OVERWRITE, None)?;
    /// assert_eq!(dropped, 1); // "now"
    /// let mut buf = [0u8; 16];
    /// let (_, n) = store.receive(q, &mut buf, 0, 0)?;
    /// assert_eq!(&buf[..n], b"first");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_with(
        &self,
        id: i32,
        mtype: i64,
        text: &[u8],
        msgflg: i32,
        deadline: Option<ext::Deadline>,
    ) -> Result<u64, Errno> {
        let (x, flags) = msgq_core::ext::send_flags(msgflg)?;
        let x = engine::ops::Ext { ext: x, deadline };
        creds::with(|c| self.on_queue(id, |s| engine::ops::send(s, id, mtype, text, flags, x, c)))
    }

    /// A receive with msgq's extensions: `msgflg` may add [`ext::MSGQ_PEEK`] (copy the
    /// message without removing it, blocking if there is none) to `msgrcv`'s flags, and a
    /// blocked receive gives up with `ETIMEDOUT` at `deadline`. Returns the message's type
    /// and the number of bytes written.
    ///
    /// ```
    /// use msgq_user::abi::IPC_PRIVATE;
    /// use msgq_user::ext::{ETIMEDOUT, MSGQ_PEEK};
    /// use msgq_user::{deadline_in, Store, StoreOptions};
    /// use std::time::{Duration, Instant};
    ///
    /// let store = Store::in_memory(&StoreOptions::default())?;
    /// let q = store.msgget(IPC_PRIVATE, 0o600)?;
    /// let mut buf = [0u8; 16];
    /// let start = Instant::now();
    /// let soon = Some(deadline_in(Duration::from_millis(50)));
    /// assert_eq!(store.receive_with(q, &mut buf, 0, 0, soon), Err(ETIMEDOUT)); // nothing came
    /// assert!(start.elapsed() >= Duration::from_millis(50));
    ///
    /// store.send(q, 4, b"kept", 0)?;
    /// assert_eq!(store.receive_with(q, &mut buf, 0, MSGQ_PEEK, None)?, (4, 4)); // a copy
    /// assert_eq!(store.receive(q, &mut buf, 0, 0)?, (4, 4)); // still there
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn receive_with(
        &self,
        id: i32,
        buf: &mut [u8],
        msgtyp: i64,
        msgflg: i32,
        deadline: Option<ext::Deadline>,
    ) -> Result<(i64, usize), Errno> {
        let (x, flags) = msgq_core::ext::recv_flags(msgflg)?;
        let x = engine::ops::Ext { ext: x, deadline };
        let msgsz = buf.len();
        let mut sink = SliceSink { buf, mtype: 0 };
        let n = creds::with(|c| {
            self.on_queue(id, |s| {
                engine::ops::receive(s, id, msgsz, msgtyp, flags, x, c, &mut sink)
            })
        })?;
        Ok((sink.mtype, n))
    }

    /// Discards every message of queue `id`; returns how many (needs read permission).
    ///
    /// ```
    /// use msgq_user::abi::IPC_PRIVATE;
    /// use msgq_user::{Store, StoreOptions};
    ///
    /// let store = Store::in_memory(&StoreOptions::default())?;
    /// let q = store.msgget(IPC_PRIVATE, 0o600)?;
    /// for t in 1..=3 {
    ///     store.send(q, t, b"stale", 0)?;
    /// }
    /// assert_eq!(store.purge(q)?, 3);
    /// assert_eq!(store.stat(q)?.msg_qnum, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn purge(&self, id: i32) -> Result<u64, Errno> {
        creds::with(|c| self.on_queue(id, |s| engine::manage::purge(s, id, c)))
    }

    /// Wakes the callers blocked on queue `id` with `ECANCELED`: `which` is
    /// [`ext::MSGQ_ABORT_RECEIVERS`], [`ext::MSGQ_ABORT_SENDERS`] or both; returns how many.
    ///
    /// ```
    /// use msgq_user::abi::IPC_PRIVATE;
    /// use msgq_user::ext::{ECANCELED, MSGQ_ABORT_RECEIVERS};
    /// use msgq_user::{Store, StoreOptions};
    /// use std::sync::Arc;
    ///
    /// let store = Arc::new(Store::in_memory(&StoreOptions::default())?);
    /// let q = store.msgget(IPC_PRIVATE, 0o600)?;
    /// let s = store.clone();
    /// let blocked = std::thread::spawn(move || s.receive(q, &mut [0u8; 8], 0, 0));
    /// while store.waiting(q)?.0 == 0 {
    ///     std::thread::yield_now(); // until the thread is blocked
    /// }
    /// assert_eq!(store.abort(q, MSGQ_ABORT_RECEIVERS)?, 1);
    /// assert_eq!(blocked.join().unwrap(), Err(ECANCELED));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn abort(&self, id: i32, which: i32) -> Result<u64, Errno> {
        creds::with(|c| self.on_queue(id, |s| engine::manage::abort(s, id, which, c)))
    }

    /// Waits until a receive of some entry of `wants` would find a message (FreeRTOS's
    /// queue sets), or `deadline`: returns, per entry, 1 (ready), `-errno` (the queue
    /// cannot be watched: `EINVAL`, `EIDRM`, `EACCES`) or 0. Fails with `ETIMEDOUT` at
    /// the deadline, `EINTR` when a signal handler ran, `EINVAL` for no entry or more than
    /// [`SELECT_MAX`]. Nothing is received: a receive with `IPC_NOWAIT` follows.
    ///
    /// ```
    /// use msgq_user::abi::{IPC_NOWAIT, IPC_PRIVATE};
    /// use msgq_user::{deadline_in, Store, StoreOptions, Want};
    /// use std::time::Duration;
    ///
    /// let store = Store::in_memory(&StoreOptions::default())?;
    /// let a = store.msgget(IPC_PRIVATE, 0o600)?;
    /// let b = store.msgget(IPC_PRIVATE, 0o600)?;
    /// store.send(b, 2, b"for b", 0)?;
    /// let wants = [
    ///     Want { id: a, msgtyp: 0, msgflg: 0 },
    ///     Want { id: b, msgtyp: 2, msgflg: 0 },
    /// ];
    /// let ready = store.select(&wants, Some(deadline_in(Duration::from_secs(1))))?;
    /// assert_eq!(ready, [0, 1]); // b has a message of type 2
    /// let mut buf = [0u8; 8];
    /// assert_eq!(store.receive(b, &mut buf, 2, IPC_NOWAIT)?, (2, 5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(not(loom))]
    pub fn select(
        &self,
        wants: &[Want],
        deadline: Option<ext::Deadline>,
    ) -> Result<Vec<i32>, Errno> {
        let mut ready = vec![0; wants.len()];
        creds::with(|c| {
            self.run(|b| engine::select::select(b.shards(), wants, deadline, c, &mut ready))
        })?;
        Ok(ready)
    }

    /// Waits until the readiness of `want` (1: a receive would find a message, 0: not,
    /// `-errno`: the queue cannot be watched) is no longer `was`, or `deadline`
    /// (`ETIMEDOUT`); returns the new readiness. What a watch fd's thread follows.
    #[cfg(not(loom))]
    pub fn wait_change(
        &self,
        want: Want,
        was: i32,
        deadline: Option<ext::Deadline>,
    ) -> Result<i32, Errno> {
        creds::with(|c| {
            self.run(|b| engine::select::wait_change(b.shards(), want, was, deadline, c))
        })
    }

    /// A file descriptor that `poll`/`epoll` report readable while a receive of `want`
    /// would find a message, and once the queue is gone (an eventfd kept up to date by a
    /// thread of this process). Close it (drop it) when done.
    #[cfg(not(loom))]
    pub fn watch_fd(
        self: &std::sync::Arc<Self>,
        want: Want,
    ) -> Result<std::os::fd::OwnedFd, Errno> {
        let s = self.clone();
        watch::spawn(move |was, wait| s.wait_change(want, was, Some(deadline_in(wait))))
    }

    /// `mq_notify` for a System V queue: once a message arrives on queue `id` while it is
    /// empty, `f` runs, once, on a thread of this process. A queue that
    /// holds a message now must be emptied first; its removal ends the registration without
    /// calling `f`. Dropping the returned registration cancels it.
    #[cfg(not(loom))]
    pub fn notify(
        self: &std::sync::Arc<Self>,
        id: i32,
        f: impl FnOnce() + Send + 'static,
    ) -> Result<Notification, Errno> {
        let s = self.clone();
        let want = engine::select::Want {
            id,
            msgtyp: 0,
            msgflg: 0,
        };
        watch::notify(
            move |was, wait| s.wait_change(want, was, Some(deadline_in(wait))),
            f,
        )
    }

    /// How many callers are blocked on queue `id`: (receivers and peekers, senders).
    pub fn waiting(&self, id: i32) -> Result<(u64, u64), Errno> {
        creds::with(|c| self.on_queue(id, |s| engine::manage::waiting(s, id, c)))
    }

    /// `IPC_STAT`.
    ///
    /// ```
    /// use msgq_user::abi::IPC_PRIVATE;
    /// use msgq_user::{Store, StoreOptions};
    ///
    /// let store = Store::in_memory(&StoreOptions::default())?;
    /// let q = store.msgget(IPC_PRIVATE, 0o640)?;
    /// store.send(q, 1, b"12345", 0)?;
    /// let ds = store.stat(q)?;
    /// assert_eq!((ds.msg_qnum, ds.msg_cbytes, ds.msg_qbytes), (1, 5, 16384));
    /// assert_eq!(ds.msg_perm.mode & 0o777, 0o640);
    /// assert_eq!(ds.msg_lspid, std::process::id() as i32);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stat(&self, id: i32) -> Result<MsqidDs, Errno> {
        msgq_core::checks::msgctl_cmd(id, msgq_core::abi::IPC_STAT)?;
        creds::with(|c| self.stat_cmd(id, Cmd::Stat, c)).map(|r| r.1)
    }

    /// `MSG_STAT` (or `MSG_STAT_ANY` with `any`): the queue at index `index & 0x7fff`; returns
    /// its full id and its state.
    pub fn stat_index(&self, index: i32, any: bool) -> Result<(i32, MsqidDs), Errno> {
        msgq_core::checks::msgctl_cmd(index, msgq_core::abi::MSG_STAT)?;
        let cmd = if any { Cmd::MsgStatAny } else { Cmd::MsgStat };
        creds::with(|c| self.stat_cmd(index, cmd, c))
    }

    pub(crate) fn stat_cmd(
        &self,
        id: i32,
        cmd: Cmd,
        c: &creds::Creds,
    ) -> Result<(i32, MsqidDs), Errno> {
        self.run(|b| match b {
            Backing::File { ns, .. } => engine::ctl::stat(ns, id, cmd, c),
            #[cfg(not(loom))]
            Backing::Anchored(a) => a.stat(id, cmd, c),
        })
    }

    /// `IPC_SET`: uid, gid, mode and qbytes from `ds`.
    pub fn set(&self, id: i32, ds: &MsqidDs) -> Result<(), Errno> {
        msgq_core::checks::msgctl_cmd(id, msgq_core::abi::IPC_SET)?;
        creds::with(|c| {
            self.run(|b| match b {
                Backing::File { ns, .. } => engine::ctl::set(ns, id, ds, c),
                #[cfg(not(loom))]
                Backing::Anchored(a) => a.set(id, ds, c),
            })
        })
    }

    /// `IPC_RMID`: removes the queue; every blocked caller gets `EIDRM`.
    ///
    /// ```
    /// use msgq_user::abi::IPC_CREAT;
    /// use msgq_user::{Errno, Store, StoreOptions};
    ///
    /// let store = Store::in_memory(&StoreOptions::default())?;
    /// let q = store.msgget(0x77, IPC_CREAT | 0o600)?;
    /// store.remove(q)?;
    /// assert_eq!(store.send(q, 1, b"late", 0), Err(Errno::EINVAL)); // the id is gone
    /// assert_eq!(store.msgget(0x77, 0), Err(Errno::ENOENT)); // and the key
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remove(&self, id: i32) -> Result<(), Errno> {
        msgq_core::checks::msgctl_cmd(id, msgq_core::abi::IPC_RMID)?;
        creds::with(|c| {
            self.run(|b| match b {
                Backing::File { ns, .. } => registry::rmid(ns, id, c),
                #[cfg(not(loom))]
                Backing::Anchored(a) => a.rmid(id, c),
            })
        })
    }

    /// `IPC_INFO` (`usage == false`) or `MSG_INFO`: the struct and the highest index in use.
    pub fn info(&self, usage: bool) -> Result<(i32, MsgInfo), Errno> {
        let cmd = if usage { Cmd::MsgInfo } else { Cmd::Info };
        self.run(|b| match b {
            Backing::File { ns, .. } => registry::info(ns, cmd),
            #[cfg(not(loom))]
            Backing::Anchored(a) => a.info(cmd),
        })
    }

    /// Reads one of the store's sysctls (`msgmax`, `msgmnb`, `msgmni`, `msg_next_id`,
    /// `auto_msgmni`).
    ///
    /// ```
    /// use msgq_user::{Errno, Store, StoreOptions, Sysctl};
    ///
    /// let store = Store::in_memory(&StoreOptions::default())?;
    /// assert_eq!(store.sysctl(Sysctl::Msgmnb)?, 16384);
    /// store.set_sysctl(Sysctl::Msgmax, 1024)?;
    /// assert_eq!(store.limits()?.msgmax, 1024);
    /// assert_eq!(store.set_sysctl(Sysctl::Msgmax, -1), Err(Errno::EINVAL));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sysctl(&self, which: Sysctl) -> Result<i64, Errno> {
        self.run(|b| match b {
            Backing::File { ns, .. } => registry::sysctl(ns, which),
            #[cfg(not(loom))]
            Backing::Anchored(a) => a.sysctl(which),
        })
    }

    /// Writes one of the store's sysctls, with the kernel's range checks (`EINVAL`).
    pub fn set_sysctl(&self, which: Sysctl, value: i64) -> Result<(), Errno> {
        self.run(|b| match b {
            Backing::File { ns, .. } => registry::set_sysctl(ns, which, value),
            #[cfg(not(loom))]
            Backing::Anchored(a) => a.set_sysctl(which, value),
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> Result<Limits, Errno> {
        Ok(Limits {
            msgmax: self.sysctl(Sysctl::Msgmax)? as u32,
            msgmnb: self.sysctl(Sysctl::Msgmnb)? as u32,
            msgmni: self.sysctl(Sysctl::Msgmni)? as u32,
        })
    }

    /// Checks the store's integrity (links, counters, totals, free lists); returns what it
    /// counted, or a description of the first inconsistency.
    pub fn check(&self) -> Result<CheckReport, String> {
        let run = || match &self.back {
            Backing::File { ns, .. } => engine::check::check(ns),
            #[cfg(not(loom))]
            Backing::Anchored(a) => a.check(),
        };
        match catch_unwind(AssertUnwindSafe(run)) {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(engine::check::Problem::Lock(e))) => {
                Err(format!("{}: cannot lock: {e}", self.path().display()))
            }
            Ok(Err(engine::check::Problem::Bad(why))) => {
                Err(format!("{}: {why}", self.path().display()))
            }
            Err(_) => Err(format!(
                "{}: corrupt (a record points outside the store)",
                self.path().display()
            )),
        }
    }

    /// The text `/proc/sysvipc/msg` shows for this store's queues.
    pub fn proc_sysvipc_msg(&self) -> Result<String, Errno> {
        self.run(|b| match b {
            Backing::File { ns, .. } => registry::proc_text(ns),
            #[cfg(not(loom))]
            Backing::Anchored(a) => a.proc_text(),
        })
    }
}

/// The calling thread changed (or may have changed) its IPC namespace: it lets go of the
/// default stores' memory it attached, which would keep the namespace it left alive. Call
/// it between calls, never from inside one (the shim calls it when it resolves a thread's
/// namespace again).
pub fn leave_namespace() {
    #[cfg(not(loom))]
    anchored::detach_thread_mappings();
}

/// In a child just forked (a `pthread_atfork` child handler): lets go of the default stores'
/// memory that the parent's other threads had attached.
pub fn after_fork_child() {
    #[cfg(not(loom))]
    anchored::after_fork_child();
}

/// Runs `f` as a call made for another process: permission checks use `who`, and the
/// queues record `pid` and `tid` as the sender's or receiver's (`msg_lspid`, `msg_lrpid`).
/// For a supervisor that performs calls for the processes it watches (`msgq run`); the
/// store's locks and liveness still belong to the calling thread.
pub fn acting_for<R>(who: creds::Creds, pid: u32, tid: u32, f: impl FnOnce() -> R) -> R {
    creds::acting(who, || sys::process::acting(pid, tid, f))
}

/// Re-reads the caller's credentials before the next call (after `setuid`, `setgroups`,
/// `capset` and the like; `fork` is noticed by itself).
pub fn refresh_credentials() {
    creds::refresh();
}
