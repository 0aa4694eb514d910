// SPDX-License-Identifier: GPL-2.0

//! The calling task's credentials, as the shared permission rules see them.
//!
//! System V checks the credentials of the task making each call (not those of the opener of
//! `/dev/msgq`), so a [`TaskCaller`] is built at the start of every ioctl. Capabilities are
//! asked for only when a rule needs them, as Linux does. This kernel has no user namespaces,
//! so kernel uids and gids are the numbers userspace sees, and `capable()` is the
//! `ns_capable()` of the initial namespace.

use crate::perm::Caller;
use kernel::{
    bindings,
    prelude::*,
    task::Task, //
};

/// The task making the current call.
pub(crate) struct TaskCaller {
    euid: u32,
}

impl TaskCaller {
    /// The current task.
    pub(crate) fn current() -> Self {
        TaskCaller {
            // SAFETY: The helper only reads the current task's credentials.
            euid: unsafe { msgq_current_euid() },
        }
    }

    /// The effective gid of the current task (the group of a queue it creates).
    pub(crate) fn egid(&self) -> u32 {
        // SAFETY: `get_task_cred()` takes a reference on the credentials of a valid task (the
        // current one), so they cannot go away before the `put_cred()` below.
        let cred = unsafe { bindings::get_task_cred(Task::current_raw()) };
        if cred.is_null() {
            return 0;
        }
        // SAFETY: `cred` is valid (we hold a reference) and its ids never change once shared.
        let egid = unsafe { (*cred).egid.val };
        // SAFETY: Drops the reference `get_task_cred()` took.
        unsafe { bindings::put_cred(cred) };
        egid
    }
}

fn capable(cap: u32) -> bool {
    // SAFETY: `capable()` may be called from any process context; `cap` is a valid capability.
    unsafe { bindings::capable(cap as c_int) }
}

impl Caller for TaskCaller {
    fn euid(&self) -> u32 {
        self.euid
    }

    fn in_group(&self, gid: u32) -> bool {
        // SAFETY: `in_group_p()` only reads the current task's credentials (its fsgid and
        // supplementary groups); without user namespaces a kgid is the plain gid.
        unsafe { bindings::in_group_p(bindings::kgid_t { val: gid }) != 0 }
    }

    fn cap_ipc_owner(&self) -> bool {
        capable(bindings::CAP_IPC_OWNER)
    }

    fn cap_sys_admin(&self) -> bool {
        capable(bindings::CAP_SYS_ADMIN)
    }

    fn cap_sys_resource(&self) -> bool {
        capable(bindings::CAP_SYS_RESOURCE)
    }
}

/// The current task's id of kind `t`, as its own pid namespace sees it.
///
/// This goes through the exported `__task_pid_nr_ns()` rather than `Task::pid()`: reading
/// `task_struct` fields through the generated bindings gave wrong values in the test kernel
/// (its `cred` pointer read as NULL), so the module reads no `task_struct` field itself.
fn current_nr(t: bindings::pid_type) -> i32 {
    // SAFETY: The current task is valid; a NULL namespace means the task's active one.
    unsafe { bindings::__task_pid_nr_ns(Task::current_raw(), t, core::ptr::null_mut()) }
}

/// The current task's thread id (the receiver id Linux records on a direct hand-off).
pub(crate) fn current_tid() -> i32 {
    current_nr(bindings::pid_type_PIDTYPE_PID)
}

extern "C" {
    /// `ipcns_helpers.c`: `task_tgid_vnr(current)`, cheaper in the initial pid namespace.
    fn msgq_current_tgid_vnr() -> i32;
    /// `ipcns_helpers.c`: `from_kuid(current_user_ns(), current_euid())` (what
    /// `Kuid::current_euid().into_uid_in_current_ns()` gives, in one call instead of three).
    fn msgq_current_euid() -> u32;
}

/// The current task's process id (`lspid`, and `lrpid` of a receive from the queue).
pub(crate) fn current_tgid() -> i32 {
    // SAFETY: The helper only reads the current task's pid and tgid, valid during a call.
    unsafe { msgq_current_tgid_vnr() }
}

/// Wall-clock seconds, for `stime`, `rtime` and `ctime`.
pub(crate) fn now() -> i64 {
    // SAFETY: `ktime_get_real_seconds()` has no preconditions.
    unsafe { bindings::ktime_get_real_seconds() }
}

/// The time on `clock` in nanoseconds since its epoch (for the deadlines of the timed calls).
pub(crate) fn clock_ns(clock: crate::ext::Clock) -> i128 {
    let t = match clock {
        // SAFETY: `ktime_get_real()` may be called from any context but NMI.
        crate::ext::Clock::Realtime => unsafe { bindings::ktime_get_real() },
        // SAFETY: `ktime_get()` may be called from any context but NMI.
        crate::ext::Clock::Monotonic => unsafe { bindings::ktime_get() },
    };
    i128::from(t)
}

/// A sleep of at least `ns` nanoseconds in jiffies (at least one, so that a short wait is
/// not a busy loop; a waiter looks at its clock again when it wakes).
pub(crate) fn jiffies_for(ns: u64) -> kernel::time::Jiffies {
    // SAFETY: `nsecs_to_jiffies()` is a pure conversion.
    let j = unsafe { bindings::nsecs_to_jiffies(ns) };
    j.saturating_add(1)
}

/// Whether a signal is pending for the current task.
pub(crate) fn signal_pending() -> bool {
    kernel::current!().signal_pending()
}
