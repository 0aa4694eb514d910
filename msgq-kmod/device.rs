// SPDX-License-Identifier: GPL-2.0

//! The per-open state of `/dev/msgq` and its file operations.
//!
//! Each ioctl of `msgq-core/src/ioctl.rs` carries one fixed-layout struct. It is read once
//! (one `UserSlice` per user buffer), its `version` is checked (`EPROTO` for another ABI
//! version), and the call goes to the namespace. The return value is what the system call
//! returns; errors are `-errno`.

use crate::{
    ioctl,
    namespace::{
        Namespace,
        WatchSpec, //
    },
};
use kernel::{
    bindings,
    ffi::{
        c_long,
        c_uint,
        c_ulong, //
    },
    fs::File,
    miscdevice::{
        MiscDevice,
        MiscDeviceRegistration, //
    },
    new_mutex,
    prelude::*,
    sync::{
        poll::PollTable,
        Arc,
        Mutex, //
    },
    transmute::{
        AsBytes,
        FromBytes, //
    },
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

// SAFETY: The ioctl structs are `#[repr(C)]`, made only of integers, with every padding byte a
// named field (checked by the size assertions in `ioctl.rs`), so every bit pattern is valid
// and no byte is uninitialised.
unsafe impl FromBytes for ioctl::MsgGet {}
// SAFETY: As above.
unsafe impl FromBytes for ioctl::MsgSnd {}
// SAFETY: As above.
unsafe impl FromBytes for ioctl::MsgRcv {}
// SAFETY: As above.
unsafe impl FromBytes for ioctl::MsgCtl {}
// SAFETY: As above.
unsafe impl FromBytes for ioctl::Sysctl {}
// SAFETY: As above.
unsafe impl AsBytes for ioctl::Sysctl {}
// SAFETY: As above.
unsafe impl FromBytes for ioctl::Reset {}
// SAFETY: As above.
unsafe impl FromBytes for ioctl::Watch {}
// SAFETY: As above (`Timeout` is such a struct too).
unsafe impl FromBytes for ioctl::TimedSnd {}
// SAFETY: As above.
unsafe impl FromBytes for ioctl::TimedRcv {}
// SAFETY: As above.
unsafe impl FromBytes for ioctl::QueueOp {}

/// The state of one open file of `/dev/msgq`: the opener's namespace, and what `poll()`
/// reports on (`MSGQ_WATCH`).
///
/// Every call works on the namespace of the calling task's IPC namespace, as the system calls
/// do. `ns` (the opener's) is only a cache: a call from a task of that same IPC namespace uses
/// it without a lookup; any other call looks its namespace up in the registry.
#[pin_data(PinnedDrop)]
pub(crate) struct MsgqFile {
    ns: Arc<Namespace>,
    #[pin]
    watch: Mutex<Option<Watched>>,
}

/// A `MSGQ_WATCH` selection and the namespace of the call that chose it (where its queue is).
struct Watched {
    spec: WatchSpec,
    ns: Arc<Namespace>,
}

#[pinned_drop]
impl PinnedDrop for MsgqFile {
    fn drop(self: Pin<&mut Self>) {
        if let Some(w) = self.watch.lock().take() {
            w.ns.remove_watcher();
        }
        // A task's files are released after it left its namespaces: if it was the last task
        // of its IPC namespace, that namespace's queues are freed now.
        crate::sweep();
    }
}

/// The namespace a call works on: the open file's cached one, or one looked up.
enum CallNs<'a> {
    Cached(&'a Arc<Namespace>),
    Found(Arc<Namespace>),
}

impl core::ops::Deref for CallNs<'_> {
    type Target = Arc<Namespace>;
    fn deref(&self) -> &Arc<Namespace> {
        match self {
            CallNs::Cached(ns) => ns,
            CallNs::Found(ns) => ns,
        }
    }
}

impl MsgqFile {
    /// The namespace of the calling task's IPC namespace.
    fn call_ns(&self) -> Result<CallNs<'_>> {
        if self.ns.is_current() {
            Ok(CallNs::Cached(&self.ns))
        } else {
            crate::current_namespace().map(CallNs::Found)
        }
    }
}

/// Checks an ioctl struct's ABI version.
fn version(v: u32) -> Result {
    if v == ioctl::VERSION {
        Ok(())
    } else {
        Err(EPROTO)
    }
}

#[vtable]
impl MiscDevice for MsgqFile {
    type Ptr = Pin<KBox<Self>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        crate::sweep();
        let ns = crate::current_namespace()?;
        KBox::try_pin_init(
            try_pin_init!(MsgqFile {
                ns,
                watch <- new_mutex!(None, "MsgqFile::watch"),
            }),
            GFP_KERNEL,
        )
    }
}

impl MsgqFile {
    /// One ioctl of `/dev/msgq`: its struct read, its version checked, the call made on the
    /// caller's namespace. `MSGQ_SND` and `MSGQ_RCV` are looked at first.
    #[inline(always)]
    fn dispatch(&self, cmd: u32, arg: usize) -> Result<isize> {
        let me = self;
        let ns = me.call_ns()?;
        // Tested before the `match`, which the compiler turns into a search over every code.
        if cmd == ioctl::MSGQ_SND {
            let a: ioctl::MsgSnd = read_arg(arg)?;
            version(a.version)?;
            return ns.msgsnd(a.msqid, a.msgp, a.msgsz, a.msgflg);
        }
        if cmd == ioctl::MSGQ_RCV {
            let a: ioctl::MsgRcv = read_arg(arg)?;
            version(a.version)?;
            return ns.msgrcv(a.msqid, a.msgp, a.msgsz, a.msgtyp, a.msgflg);
        }
        match cmd {
            ioctl::MSGQ_GET => {
                let a: ioctl::MsgGet = read_arg(arg)?;
                version(a.version)?;
                ns.msgget(a.key, a.msgflg)
            }
            ioctl::MSGQ_CTL => {
                let a: ioctl::MsgCtl = read_arg(arg)?;
                version(a.version)?;
                ns.msgctl(a.msqid, a.cmd, a.buf)
            }
            ioctl::MSGQ_SYSCTL => {
                let (mut r, mut w) =
                    UserSlice::new(UserPtr::from_addr(arg), size_of::<ioctl::Sysctl>())
                        .reader_writer();
                let mut a: ioctl::Sysctl = r.read()?;
                version(a.version)?;
                a.value = if (crate::STAT_NAMESPACES..=crate::STAT_REAPED).contains(&a.which) {
                    crate::stat(a.which, a.write != 0)?
                } else {
                    ns.sysctl(a.which, a.write != 0, a.value)?
                };
                w.write(&a)?;
                Ok(0)
            }
            ioctl::MSGQ_RESET => {
                let a: ioctl::Reset = read_arg(arg)?;
                version(a.version)?;
                ns.reset(crate::load_limits())
            }
            ioctl::MSGQ_WATCH => {
                let a: ioctl::Watch = read_arg(arg)?;
                version(a.version)?;
                let spec = ns.watch(a.msqid, a.msgtyp, a.msgflg, a.msgsz)?;
                ns.add_watcher();
                let old = me.watch.lock().replace(Watched {
                    spec,
                    ns: Arc::clone(&ns),
                });
                if let Some(old) = old {
                    old.ns.remove_watcher();
                    old.ns.poll_cv.notify_all();
                }
                ns.poll_cv.notify_all();
                Ok(0)
            }
            ioctl::MSGQ_TIMEDSND => {
                let a: ioctl::TimedSnd = read_arg(arg)?;
                version(a.version)?;
                ns.timedsnd(&a)
            }
            ioctl::MSGQ_TIMEDRCV => {
                let a: ioctl::TimedRcv = read_arg(arg)?;
                version(a.version)?;
                ns.timedrcv(&a)
            }
            ioctl::MSGQ_PURGE => {
                let a: ioctl::QueueOp = read_arg(arg)?;
                version(a.version)?;
                ns.purge(a.msqid)
            }
            ioctl::MSGQ_ABORT => {
                let a: ioctl::QueueOp = read_arg(arg)?;
                version(a.version)?;
                ns.abort(a.msqid, a.which)
            }
            _ => Err(ENOTTY),
        }
    }
}

/// The `unlocked_ioctl` file operation of `/dev/msgq`, in place of `MiscDevice`'s (see
/// `registration.rs`): one call layer fewer on every `msgsnd` and `msgrcv` (docs/kmod.md,
/// "Where the 8-byte pair's time goes").
///
/// # Safety
///
/// Called by the VFS with a valid open file of `/dev/msgq`.
pub(crate) unsafe extern "C" fn ioctl(
    file: *mut bindings::file,
    cmd: c_uint,
    arg: c_ulong,
) -> c_long {
    // SAFETY: As in `poll`: `private_data` holds the open's `Pin<KBox<MsgqFile>>` (its raw
    // pointer), which release frees only after the last file operation.
    let me = unsafe { &*(*file).private_data.cast::<MsgqFile>() };
    match me.dispatch(cmd, arg) {
        Ok(v) => v as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

/// Reads an ioctl's struct from `arg`.
#[inline(always)]
fn read_arg<T: FromBytes>(arg: usize) -> Result<T> {
    UserSlice::new(UserPtr::from_addr(arg), size_of::<T>())
        .reader()
        .read()
}

/// The `poll` file operation of `/dev/msgq` (`MiscDevice` has none in 7.3; see
/// `registration.rs`): the readiness of the queue and selector chosen with `MSGQ_WATCH`.
///
/// # Safety
///
/// Called by the VFS with a valid open file of `/dev/msgq` and a null or valid poll table.
pub(crate) unsafe extern "C" fn poll(
    file: *mut bindings::file,
    table: *mut bindings::poll_table_struct,
) -> bindings::__poll_t {
    // SAFETY: `file` is an open file of this device: the `MiscDevice` open stored the
    // `Pin<KBox<MsgqFile>>` in `private_data` with `into_foreign()` (the box's raw pointer), and
    // release frees it only after the last file operation, so it is valid during this call.
    let me = unsafe { &*(*file).private_data.cast::<MsgqFile>() };
    // SAFETY: The VFS holds a reference on `file` for the duration of this call.
    let f = unsafe { File::from_raw_file(file) };
    // SAFETY: `table` is null or valid for the duration of this call.
    let pt = unsafe { PollTable::from_raw(table) };
    let watch = me
        .watch
        .lock()
        .as_ref()
        .map(|w| (w.spec, Arc::clone(&w.ns)));
    match watch {
        Some((spec, ns)) => ns.poll(f, &pt, Some(spec)),
        None => me.ns.poll(f, &pt, None),
    }
}
