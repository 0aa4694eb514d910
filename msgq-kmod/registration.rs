// SPDX-License-Identifier: GPL-2.0

//! A misc device registration with a chosen device-node mode.
//!
//! `kernel::miscdevice::MiscDeviceOptions` has no `mode` field in Linux 7.3, so
//! `MiscDeviceRegistration` always creates a 0600 node. This registration builds the same
//! `struct miscdevice` (same fops vtable, via `MiscDeviceOptions::into_raw`) and sets `mode`
//! before `misc_register()`, so devtmpfs creates the node with that mode. `MiscDevice` has no
//! `poll` either, so the registration points the device at its own copy of the vtable with a
//! `poll` operation added. The copy may also take an `unlocked_ioctl` of the module's own in
//! place of `MiscDevice`'s glue (one call layer fewer on the hot path).

use core::marker::PhantomData;
use kernel::{
    bindings,
    error::to_result,
    miscdevice::{
        MiscDevice,
        MiscDeviceOptions, //
    },
    prelude::*,
    types::Opaque, //
};

/// A `poll` file operation.
pub(crate) type PollFn = unsafe extern "C" fn(
    *mut bindings::file,
    *mut bindings::poll_table_struct,
) -> bindings::__poll_t;

/// An `unlocked_ioctl` file operation.
pub(crate) type IoctlFn = unsafe extern "C" fn(
    *mut bindings::file,
    kernel::ffi::c_uint,
    kernel::ffi::c_ulong,
) -> kernel::ffi::c_long;

/// A registered misc device whose node has a given mode, optionally with a `poll` operation.
///
/// # Invariants
///
/// `inner` holds a `struct miscdevice` built by `MiscDeviceOptions::into_raw::<T>()` and
/// registered with `misc_register()`; it is deregistered exactly once, in `drop`. Its `fops`
/// point to `fops`, a copy of the `MiscDevice` vtable of `T` with `poll` added (and
/// `unlocked_ioctl` replaced when an `ioctl` is given), which lives as
/// long as the registration. `inner` is the first field (`repr(C)`), so the `struct miscdevice`
/// pointer that `misc_open()` stores in `file->private_data` points to a valid
/// `MiscDeviceRegistration<T>` (a transparent `Opaque<bindings::miscdevice>`), which the fops
/// of `MiscDevice` rely on.
#[repr(C)]
#[pin_data(PinnedDrop)]
pub(crate) struct Registration<T> {
    #[pin]
    inner: Opaque<bindings::miscdevice>,
    #[pin]
    fops: Opaque<bindings::file_operations>,
    _t: PhantomData<T>,
}

// SAFETY: `misc_deregister` may be called on a different thread from `misc_register`.
unsafe impl<T> Send for Registration<T> {}
// SAFETY: No `&self` method touches the `struct miscdevice` or the fops.
unsafe impl<T> Sync for Registration<T> {}

impl<T: MiscDevice> Registration<T> {
    /// Registers the misc device `name` (dynamic minor) with device-node mode `mode` and the
    /// file operations of `T` plus `poll`, and `ioctl` in place of `T`'s if given.
    pub(crate) fn register(
        name: &'static CStr,
        mode: u16,
        poll: Option<PollFn>,
        ioctl: Option<IoctlFn>,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            fops <- Opaque::try_ffi_init(move |p: *mut bindings::file_operations| {
                let raw = MiscDeviceOptions { name }.into_raw::<T>();
                // SAFETY: `raw.fops` points to the static vtable of `T`.
                let mut f = unsafe { core::ptr::read(raw.fops) };
                f.poll = poll;
                if ioctl.is_some() {
                    f.unlocked_ioctl = ioctl;
                }
                // SAFETY: The initializer may write to `p`.
                unsafe { p.write(f) };
                Ok::<(), Error>(())
            }),
            inner <- {
                let fops_ptr: *const bindings::file_operations = fops.get();
                Opaque::try_ffi_init(move |p: *mut bindings::miscdevice| {
                    let mut raw = MiscDeviceOptions { name }.into_raw::<T>();
                    raw.mode = mode;
                    raw.fops = fops_ptr;
                    // SAFETY: The initializer may write to `p`.
                    unsafe { p.write(raw) };
                    // SAFETY: `p` holds a valid `struct miscdevice` whose fops were initialised
                    // above; both are pinned and stay valid until `drop` deregisters the device.
                    to_result(unsafe { bindings::misc_register(p) })
                })
            },
            _t: PhantomData,
        })
    }
}

#[pinned_drop]
impl<T> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariants the device is registered.
        unsafe { bindings::misc_deregister(self.inner.get()) };
    }
}
