// SPDX-License-Identifier: GPL-2.0

//! msgq: System V message queues as a Rust-for-Linux misc device.
//!
//! This first version registers `/dev/msgq` (mode 0666, so unprivileged processes can open it;
//! permissions are checked per queue once queues exist) and takes the queue limits as module
//! parameters. It holds no message logic yet: opening the device works, any ioctl answers
//! `ENOTTY`.
//!
//! The message logic will come from the workspace's dependency-free `no_std` crate
//! `msgq-core/src/`, included into this crate as a module with `#[path]` (Kbuild has no Cargo and
//! no external crates), e.g. `#[path = "../msgq-core/src/lib.rs"] mod core_logic;`.

use kernel::{
    prelude::*,
    sync::SetOnce, //
};

mod device;
mod registration;

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
}

/// The limits in force; set once in module init, before `/dev/msgq` is registered.
static LIMITS: SetOnce<Limits> = SetOnce::new();

/// The limits in force (the queue logic of the next issue reads them).
#[allow(dead_code)]
pub(crate) fn limits() -> Limits {
    LIMITS.copy().unwrap_or(Limits {
        msgmax: 8192,
        msgmnb: 16384,
        msgmni: 32000,
    })
}

#[pin_data(PinnedDrop)]
struct MsgqModule {
    /// Declared first, so `/dev/msgq` is deregistered first when the module unloads.
    #[pin]
    miscdev: registration::Registration<device::MsgqFile>,
    limits: Limits,
}

impl kernel::InPlaceModule for MsgqModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            // Fields are initialised in the order written: the limits are checked and published
            // before the device node appears.
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
            miscdev <- registration::Registration::register(c"msgq", 0o666),
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
