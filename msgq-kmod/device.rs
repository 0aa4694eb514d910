// SPDX-License-Identifier: GPL-2.0

//! The per-open state of `/dev/msgq` and its file operations.
//!
//! Each ioctl of `msgq-core/src/ioctl.rs` carries one fixed-layout struct. It is read once
//! (one `UserSlice` per user buffer), its `version` is checked (`EPROTO` for another ABI
//! version), and the call goes to the namespace. The return value is what the system call
//! returns; errors are `-errno`.

use crate::{
    ioctl,
    namespace::Namespace, //
};
use kernel::{
    fs::File,
    miscdevice::{
        MiscDevice,
        MiscDeviceRegistration, //
    },
    prelude::*,
    sync::Arc,
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

/// The state of one open file of `/dev/msgq`: the namespace it works on.
pub(crate) struct MsgqFile {
    ns: Arc<Namespace>,
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
    type Ptr = KBox<Self>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Self>> {
        let ns = crate::namespace()?;
        Ok(KBox::new(MsgqFile { ns }, GFP_KERNEL)?)
    }

    fn ioctl(me: &MsgqFile, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let ns = &me.ns;
        match cmd {
            ioctl::MSGQ_GET => {
                let a: ioctl::MsgGet = read_arg(arg)?;
                version(a.version)?;
                ns.msgget(a.key, a.msgflg)
            }
            ioctl::MSGQ_SND => {
                let a: ioctl::MsgSnd = read_arg(arg)?;
                version(a.version)?;
                ns.msgsnd(a.msqid, a.msgp, a.msgsz, a.msgflg)
            }
            ioctl::MSGQ_RCV => {
                let a: ioctl::MsgRcv = read_arg(arg)?;
                version(a.version)?;
                ns.msgrcv(a.msqid, a.msgp, a.msgsz, a.msgtyp, a.msgflg)
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
                a.value = ns.sysctl(a.which, a.write != 0, a.value)?;
                w.write(&a)?;
                Ok(0)
            }
            ioctl::MSGQ_RESET => {
                let a: ioctl::Reset = read_arg(arg)?;
                version(a.version)?;
                ns.reset(crate::load_limits())
            }
            // `poll()` readiness (MSGQ_WATCH) is not offered by this version.
            ioctl::MSGQ_WATCH => Err(EOPNOTSUPP),
            _ => Err(ENOTTY),
        }
    }
}

/// Reads an ioctl's struct from `arg`.
fn read_arg<T: FromBytes>(arg: usize) -> Result<T> {
    UserSlice::new(UserPtr::from_addr(arg), size_of::<T>())
        .reader()
        .read()
}
