// SPDX-License-Identifier: GPL-2.0

//! The per-open state of `/dev/msgq` and its file operations.
//!
//! For now an open file holds nothing and implements no ioctl (the kernel then answers
//! `ENOTTY`); the queue ioctls come with the message logic.

use kernel::{
    fs::File,
    miscdevice::{
        MiscDevice,
        MiscDeviceRegistration, //
    },
    prelude::*,
};

/// The state of one open file of `/dev/msgq`.
pub(crate) struct MsgqFile;

#[vtable]
impl MiscDevice for MsgqFile {
    type Ptr = KBox<Self>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Self>> {
        Ok(KBox::new(MsgqFile, GFP_KERNEL)?)
    }
}
