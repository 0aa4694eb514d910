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
//! There is one namespace for the whole system (the module does not follow IPC namespaces).
//!
//! * [`namespace`]: the id and key tables, `msgget` and `msgctl`, the limits.
//! * [`queue`]: a queue: its counters, messages and waiters.
//! * [`messages`]: a queue's messages (global FIFO plus per-type FIFOs in one slot arena).
//! * [`receivers`]: a queue's blocked receivers (general ones, and per exact type).
//! * [`waiter`]: a blocked sender or receiver and its mailbox (the direct hand-off).
//! * [`ipc`]: `msgsnd` and `msgrcv`.
//! * [`caller`]: the calling task's credentials as a [`perm::Caller`].
//! * [`device`]: the file operations and the ioctl dispatch.

use kernel::{
    prelude::*,
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
#[path = "../msgq-core/src/errno.rs"]
mod errno;
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

mod caller;
mod device;
mod ipc;
mod messages;
mod namespace;
mod queue;
mod receivers;
mod registration;
mod waiter;

/// `IPCMNI`: the largest number of queues an id can index (`include/linux/ipc.h`).
pub(crate) const IPCMNI: i32 = 32768;

// The defaults are `MSGMAX`, `MSGMNB` and `MSGMNI` from `include/uapi/linux/msg.h`.
module! {
    type: MsgqModule,
    name: "msgq",
    authors: ["msgq developers"],
    description: "System V message queues as a misc device (/dev/msgq)",
    license: "GPL",
    params: {
        msgmax: i32 {
            default: 8192,
            description: "Largest message size in bytes (like kernel.msgmax, default 8192)",
        },
        msgmnb: i32 {
            default: 16384,
            description: "Default byte capacity of a new queue (like kernel.msgmnb, default 16384)",
        },
        msgmni: i32 {
            default: 32000,
            description: "Largest number of queues (like kernel.msgmni, default 32000)",
        },
    },
}

/// The limits in force, read once from the module parameters at load time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) msgmax: i32,
    pub(crate) msgmnb: i32,
    pub(crate) msgmni: i32,
}

impl Limits {
    /// Reads and validates the module parameters (the ranges `ipc/ipc_sysctl.c` accepts).
    fn from_params() -> Result<Self> {
        let l = Limits {
            msgmax: *module_parameters::msgmax.value_ref(),
            msgmnb: *module_parameters::msgmnb.value_ref(),
            msgmni: *module_parameters::msgmni.value_ref(),
        };
        if l.msgmax < 0 || l.msgmnb < 0 || l.msgmni < 0 || l.msgmni > IPCMNI {
            pr_err!(
                "invalid limits: msgmax={} msgmnb={} msgmni={} (need >= 0, msgmni <= {})\n",
                l.msgmax,
                l.msgmnb,
                l.msgmni,
                IPCMNI
            );
            return Err(EINVAL);
        }
        Ok(l)
    }

    /// The limits in the form the shared rules use (all values were checked non-negative).
    fn to_core(self) -> limits::Limits {
        limits::Limits {
            msgmax: self.msgmax as u32,
            msgmnb: self.msgmnb as u32,
            msgmni: self.msgmni as u32,
        }
    }
}

/// The limits given at load time; set once in module init, before `/dev/msgq` is registered.
static LIMITS: SetOnce<Limits> = SetOnce::new();

/// The limits given at load time, as the shared rules use them (`MSGQ_RESET` restores them).
pub(crate) fn load_limits() -> limits::Limits {
    LIMITS.as_ref().map(|l| l.to_core()).unwrap_or_default()
}

kernel::sync::global_lock! {
    // SAFETY: Initialized in the module initializer before first use.
    unsafe(uninit) static NAMESPACE: Mutex<Option<Arc<namespace::Namespace>>> = None;
}

/// The namespace, for a new open file (`ENODEV` while the module is unloading).
pub(crate) fn namespace() -> Result<Arc<namespace::Namespace>> {
    NAMESPACE.lock().clone().ok_or(ENODEV)
}

/// Owns the published namespace: dropping it unpublishes it, and the last open file (or this,
/// when none is open) frees every queue and message.
struct NsRegistration;

impl NsRegistration {
    fn new(l: Limits) -> Result<Self> {
        let ns = namespace::Namespace::new(l.to_core())?;
        *NAMESPACE.lock() = Some(ns);
        Ok(NsRegistration)
    }
}

impl Drop for NsRegistration {
    fn drop(&mut self) {
        let ns = NAMESPACE.lock().take();
        drop(ns);
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
    limits: Limits,
}

impl kernel::InPlaceModule for MsgqModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        // SAFETY: Called exactly once, in module init, before any other use of `NAMESPACE`.
        unsafe { NAMESPACE.init() };
        try_pin_init!(Self {
            // Fields are initialised in the order written: the limits are checked and published
            // and the namespace exists before the device node appears.
            limits: {
                let l = Limits::from_params()?;
                LIMITS.populate(l);
                pr_info!(
                    "loading: msgmax={} msgmnb={} msgmni={}\n",
                    l.msgmax,
                    l.msgmnb,
                    l.msgmni
                );
                l
            },
            ns: NsRegistration::new(*limits)?,
            miscdev <- registration::Registration::register(c"msgq", 0o666, Some(device::poll)),
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
