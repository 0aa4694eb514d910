// SPDX-License-Identifier: GPL-2.0

//! msgq: System V message queues as a Rust-for-Linux misc device.
//!
//! `/dev/msgq` (mode 0666: any process may open it, permissions are checked per queue against
//! the calling task's credentials on every call) offers `msgget`, `msgsnd`, `msgrcv` and
//! `msgctl` as ioctls whose structs and numbers are defined once, in
//! `msgq-core/src/ioctl.rs`, for this module and the shim.
//!
//! The pure rules (selection modes, permission checks, limits, id encoding and allocation,
//! argument checks in the kernel's order, the x86_64 struct layouts) are the workspace's
//! dependency-free `msgq-core` files, included below with `#[path]` so that the module and the
//! userspace engine cannot drift.
//!
//! Each IPC namespace of the callers has its own queues, ids, keys and limits, as in the kernel:
//! the [`Registry`] maps the caller's IPC namespace (its `ns_id`) to a [`namespace::Namespace`],
//! and [`sweep`] frees those whose IPC namespace died (docs/kmod.md, "Namespaces").
//!
//! * [`namespace`]: the id and key tables, `msgget` and `msgctl`, the limits.
//! * [`ipcns`]: the caller's IPC namespace (C helpers in `ipcns_helpers.c`).
//! * [`queue`]: a queue: its counters, messages and waiters.
//! * [`messages`]: a queue's messages (global FIFO plus per-type FIFOs in one slot arena).
//! * [`receivers`]: a queue's blocked receivers (general ones, and per exact type).
//! * [`waiter`]: a blocked sender or receiver and its mailbox (the direct hand-off).
//! * [`ipc`]: `msgsnd` and `msgrcv`, and the extensions of `msgq-core/src/ext.rs` (timed
//!   calls, urgent, overwrite, broadcast, peek, purge, abort; docs/kmod.md, "Extensions").
//! * [`caller`]: the calling task's credentials as a [`perm::Caller`].
//! * [`device`]: the file operations and the ioctl dispatch.

use kernel::{
    prelude::*,
    rbtree::{
        RBTree,
        RBTreeNodeReservation, //
    },
    sync::{
        Arc,
        SetOnce, //
    },
};

// The shared pure rules. `pub` items that the module does not use are fine.
#[allow(dead_code, unreachable_pub, missing_docs, clippy::all, clippy::pedantic)]
#[path = "../msgq-core/src/abi.rs"]
mod abi;
#[allow(dead_code, unreachable_pub, missing_docs, clippy::all, clippy::pedantic)]
#[path = "../msgq-core/src/checks.rs"]
mod checks;
#[allow(dead_code, unreachable_pub, missing_docs, clippy::all, clippy::pedantic)]
#[path = "../msgq-core/src/ctl.rs"]
mod ctl;
#[allow(dead_code, unreachable_pub, missing_docs, clippy::all, clippy::pedantic)]
#[path = "../msgq-core/src/errno.rs"]
mod errno;
#[allow(dead_code, unreachable_pub, missing_docs, clippy::all, clippy::pedantic)]
#[path = "../msgq-core/src/ext.rs"]
mod ext;
#[allow(dead_code, unreachable_pub, missing_docs, clippy::all, clippy::pedantic)]
#[path = "../msgq-core/src/get.rs"]
mod get;
#[allow(dead_code, unreachable_pub, missing_docs, clippy::all, clippy::pedantic)]
#[path = "../msgq-core/src/ids.rs"]
mod ids;
#[allow(dead_code, unreachable_pub, missing_docs, clippy::all, clippy::pedantic)]
#[path = "../msgq-core/src/ioctl.rs"]
mod ioctl;
#[allow(dead_code, unreachable_pub, missing_docs, clippy::all, clippy::pedantic)]
#[path = "../msgq-core/src/limits.rs"]
mod limits;
#[allow(dead_code, unreachable_pub, missing_docs, clippy::all, clippy::pedantic)]
#[path = "../msgq-core/src/perm.rs"]
mod perm;
#[allow(dead_code, unreachable_pub, missing_docs, clippy::all, clippy::pedantic)]
#[path = "../msgq-core/src/select.rs"]
mod select;
#[allow(dead_code, unreachable_pub, missing_docs, clippy::all, clippy::pedantic)]
#[path = "../msgq-core/src/wakeup.rs"]
mod wakeup;

mod caller;
mod device;
mod ipc;
mod ipcns;
mod messages;
mod namespace;
mod queue;
mod receivers;
mod registration;
mod waiter;

// The defaults are `MSGMAX`, `MSGMNB` and `MSGMNI` from `include/uapi/linux/msg.h` (`abi`).
module! {
    type: MsgqModule,
    name: "msgq",
    authors: ["msgq developers"],
    description: "System V message queues as a misc device (/dev/msgq)",
    license: "GPL",
    params: {
        msgmax: i32 {
            default: crate::abi::MSGMAX as i32,
            description: "Largest message size in bytes (like kernel.msgmax, default 8192)",
        },
        msgmnb: i32 {
            default: crate::abi::MSGMNB as i32,
            description: "Default byte capacity of a new queue (like kernel.msgmnb, default 16384)",
        },
        msgmni: i32 {
            default: crate::abi::MSGMNI as i32,
            description: "Largest number of queues (like kernel.msgmni, default 32000)",
        },
    },
}

/// Reads and validates the module parameters: the ranges the sysctls accept
/// (`limits::Sysctl::validate`, as `ipc/ipc_sysctl.c`).
fn limits_from_params() -> Result<limits::Limits> {
    let (msgmax, msgmnb, msgmni) = (
        *module_parameters::msgmax.value_ref(),
        *module_parameters::msgmnb.value_ref(),
        *module_parameters::msgmni.value_ref(),
    );
    let check = |s: limits::Sysctl, v: i32| s.validate(i64::from(v)).ok().map(|v| v as u32);
    match (
        check(limits::Sysctl::Msgmax, msgmax),
        check(limits::Sysctl::Msgmnb, msgmnb),
        check(limits::Sysctl::Msgmni, msgmni),
    ) {
        (Some(msgmax), Some(msgmnb), Some(msgmni)) => Ok(limits::Limits {
            msgmax,
            msgmnb,
            msgmni,
        }),
        _ => {
            pr_err!(
                "invalid limits: msgmax={} msgmnb={} msgmni={} (need >= 0, msgmni <= {})\n",
                msgmax,
                msgmnb,
                msgmni,
                ids::IPCMNI
            );
            Err(EINVAL)
        }
    }
}

/// The limits given at load time; set once in module init, before `/dev/msgq` is registered.
static LIMITS: SetOnce<limits::Limits> = SetOnce::new();

/// The limits given at load time, as the shared rules use them (a new namespace starts with
/// them, and `MSGQ_RESET` restores them).
pub(crate) fn load_limits() -> limits::Limits {
    LIMITS.as_ref().copied().unwrap_or_default()
}

/// One IPC namespace the module has queues, ids, keys and limits for.
struct NsEntry {
    ns: Arc<namespace::Namespace>,
    /// Keeps the `struct ipc_namespace` readable so that [`sweep`] can ask whether it is still
    /// in use; dropped (after `ns` was shut down) when it is not.
    ipc: ipcns::IpcNsRef,
}

/// The module's namespaces, by the kernel's `ns_id` of their IPC namespace.
///
/// # Invariants
///
/// For every entry, `key == entry.ns.ns_id == entry.ipc.id()`, and `entry.ns` has not been
/// shut down. At most one entry per IPC namespace.
struct Registry {
    table: RBTree<u64, NsEntry>,
    /// Namespaces shut down because their IPC namespace died, since load (a debug counter).
    reaped: u64,
}

kernel::sync::global_lock! {
    // SAFETY: Initialized in the module initializer before first use.
    unsafe(uninit) static REGISTRY: Mutex<Option<Registry>> = None;
}

/// The namespace of the calling task's IPC namespace, made on its first use (with the
/// load-time limits and a fresh id allocation, as a new IPC namespace has). `ENODEV` while
/// the module is unloading.
pub(crate) fn current_namespace() -> Result<Arc<namespace::Namespace>> {
    let id = ipcns::current_id();
    if let Some(e) = REGISTRY.lock().as_ref().ok_or(ENODEV)?.table.get(&id) {
        return Ok(e.ns.clone());
    }
    // A namespace the module does not know yet: first free what died, then allocate before
    // taking the lock.
    sweep();
    let ipc = ipcns::IpcNsRef::current().ok_or(EINVAL)?;
    let ns = namespace::Namespace::new(load_limits(), ipc.id())?;
    let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
    let mut g = REGISTRY.lock();
    let reg = g.as_mut().ok_or(ENODEV)?;
    if let Some(e) = reg.table.get(&ipc.id()) {
        // Another task of this namespace was first.
        let found = e.ns.clone();
        drop(g);
        return Ok(found);
    }
    let key = ipc.id();
    // INVARIANT: `ns` was made for `ipc.id()`, which is not in the table.
    reg.table.insert(node.into_node(
        key,
        NsEntry {
            ns: ns.clone(),
            ipc,
        },
    ));
    Ok(ns)
}

/// Shuts down the namespaces whose IPC namespace died (no task, no open nsfs file, no bind
/// mount uses it any more), freeing their queues, and drops the references on them.
///
/// Called when a file of `/dev/msgq` is opened or released (an exiting task's files are
/// released after it left its namespaces, so the last task of a namespace that has the
/// device open frees its queues on its way out), when a namespace is first used, and before
/// the debug counters are read.
pub(crate) fn sweep() {
    loop {
        let dead = {
            let mut g = REGISTRY.lock();
            let Some(reg) = g.as_mut() else {
                return;
            };
            let Some(id) = reg
                .table
                .iter()
                .find(|(_, e)| !e.ipc.active())
                .map(|(k, _)| *k)
            else {
                return;
            };
            reg.reaped = reg.reaped.saturating_add(1);
            reg.table.remove(&id)
        };
        // Outside the registry lock: the queues go, then the namespace reference.
        if let Some(e) = dead {
            e.ns.shut_down();
            drop(e);
        }
    }
}

/// `MSGQ_SYSCTL` numbers of the module's read-only debug counters (root only; not in the
/// shared ABI: they describe the module, not a namespace). Reading one first runs [`sweep`].
pub(crate) const STAT_NAMESPACES: u32 = 5;
/// The queues of every namespace together.
pub(crate) const STAT_QUEUES: u32 = 6;
/// Namespaces shut down since load because their IPC namespace died.
pub(crate) const STAT_REAPED: u32 = 7;

/// Reads a debug counter (`STAT_*`); `EPERM` without `CAP_SYS_ADMIN`, `EINVAL` for a write.
pub(crate) fn stat(which: u32, write: bool) -> Result<i64> {
    use perm::Caller;
    if !caller::TaskCaller::current().cap_sys_admin() {
        return Err(EPERM);
    }
    if write {
        return Err(EINVAL);
    }
    sweep();
    let g = REGISTRY.lock();
    let reg = g.as_ref().ok_or(ENODEV)?;
    Ok(match which {
        STAT_NAMESPACES => reg.table.iter().count() as i64,
        STAT_QUEUES => reg
            .table
            .values()
            .map(|e| i64::from(e.ns.queue_count()))
            .sum(),
        STAT_REAPED => reg.reaped as i64,
        _ => return Err(EINVAL),
    })
}

/// Owns the registry: dropping it unpublishes every namespace, and the last open file of each
/// (or this, when none is open) frees its queues and messages.
struct NsRegistration;

impl NsRegistration {
    fn new() -> Result<Self> {
        *REGISTRY.lock() = Some(Registry {
            table: RBTree::new(),
            reaped: 0,
        });
        Ok(NsRegistration)
    }
}

impl Drop for NsRegistration {
    fn drop(&mut self) {
        let reg = REGISTRY.lock().take();
        drop(reg);
    }
}

/// Converts an errno decided by the shared rules into a kernel error.
pub(crate) fn kerr(e: errno::Errno) -> Error {
    Error::from_errno(-e.0)
}

#[pin_data(PinnedDrop)]
struct MsgqModule {
    /// Declared first, so `/dev/msgq` is deregistered first when the module unloads.
    #[pin]
    miscdev: registration::Registration<device::MsgqFile>,
    ns: NsRegistration,
    limits: limits::Limits,
}

impl kernel::InPlaceModule for MsgqModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        // SAFETY: Called exactly once, in module init, before any other use of `REGISTRY`.
        unsafe { REGISTRY.init() };
        try_pin_init!(Self {
            // Fields are initialised in the order written: the limits are checked and published
            // and the namespace exists before the device node appears.
            limits: {
                let l = limits_from_params()?;
                LIMITS.populate(l);
                pr_info!(
                    "loading: msgmax={} msgmnb={} msgmni={}\n",
                    l.msgmax,
                    l.msgmnb,
                    l.msgmni
                );
                l
            },
            ns: NsRegistration::new()?,
            miscdev <- registration::Registration::register(
                c"msgq",
                0o666,
                Some(device::poll),
                Some(device::ioctl)
            ),
        })
    }
}

#[pinned_drop]
impl PinnedDrop for MsgqModule {
    fn drop(self: Pin<&mut Self>) {
        let l = self.limits;
        pr_info!(
            "unloading (msgmax={} msgmnb={} msgmni={})\n",
            l.msgmax,
            l.msgmnb,
            l.msgmni
        );
    }
}
