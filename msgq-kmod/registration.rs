// SPDX-License-Identifier: GPL-2.0

//! A misc device registration with a chosen device-node mode.
//!
//! `kernel::miscdevice::MiscDeviceOptions` has no `mode` field in Linux 7.3, so
//! `MiscDeviceRegistration` always creates a 0600 node. This registration builds the same
//! `struct miscdevice` (same fops vtable, via `MiscDeviceOptions::into_raw`) and sets `mode`
//! before `misc_register()`, so devtmpfs creates the node with that mode.

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

/// A registered misc device whose node has a given mode.
///
/// # Invariants
///
/// `inner` holds a `struct miscdevice` built by `MiscDeviceOptions::into_raw::<T>()` and
/// registered with `misc_register()`; it is deregistered exactly once, in `drop`. The layout is
/// that of `MiscDeviceRegistration<T>` (a transparent `Opaque<bindings::miscdevice>`), which the
/// fops of `MiscDevice` rely on when they turn the `struct miscdevice` pointer that `misc_open()`
/// stores in `file->private_data` into a `&MiscDeviceRegistration<T>`.
#[repr(transparent)]
#[pin_data(PinnedDrop)]
pub(crate) struct Registration<T> {
    #[pin]
    inner: Opaque<bindings::miscdevice>,
    _t: PhantomData<T>,
}

// SAFETY: `misc_deregister` may be called on a different thread from `misc_register`.
unsafe impl<T> Send for Registration<T> {}
// SAFETY: No `&self` method touches the `struct miscdevice`.
unsafe impl<T> Sync for Registration<T> {}

impl<T: MiscDevice> Registration<T> {
    /// Registers the misc device `name` (dynamic minor) with device-node mode `mode`.
    pub(crate) fn register(name: &'static CStr, mode: u16) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            inner <- Opaque::try_ffi_init(move |p: *mut bindings::miscdevice| {
                let mut raw = MiscDeviceOptions { name }.into_raw::<T>();
                raw.mode = mode;
                // SAFETY: The initializer may write to `p`.
                unsafe { p.write(raw) };
                // SAFETY: `p` holds a valid `struct miscdevice`; it is pinned and is deregistered
                // in `drop` before its memory goes away.
                to_result(unsafe { bindings::misc_register(p) })
            }),
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
