// SPDX-License-Identifier: GPL-2.0

//! The calling task's IPC namespace (`current->nsproxy->ipc_ns`), through the C helpers in
//! `ipcns_helpers.c`.
//!
//! The module keys its namespaces by the kernel's `ns_id` (64 bits, unique, never reused), so
//! a stale key can never name a newer namespace. Each namespace the module knows is pinned
//! with a main reference ([`IpcNsRef`]): it keeps the `struct ipc_namespace` readable, not
//! alive for userspace. The namespace is dead for userspace once it is inactive (no task, no
//! open nsfs file, no bind mount: [`IpcNsRef::active`]); the module then frees its queues and
//! drops the reference (`crate::sweep`).

use core::{ffi::c_void, ptr::NonNull};

extern "C" {
    fn msgq_current_ipc_ns_id() -> u64;
    fn msgq_current_ipc_ns_get(id: *mut u64) -> *mut c_void;
    fn msgq_ipc_ns_put(ns: *mut c_void);
    fn msgq_ipc_ns_active(ns: *mut c_void) -> bool;
}

/// The `ns_id` of the calling task's IPC namespace (0 for a task without one).
pub(crate) fn current_id() -> u64 {
    // SAFETY: Reads the current task's own nsproxy, which only the task itself replaces.
    unsafe { msgq_current_ipc_ns_id() }
}

/// A main reference on an IPC namespace.
///
/// # Invariants
///
/// `ptr` points to a `struct ipc_namespace` on which this value owns one reference
/// (`get_ipc_ns`), dropped in `Drop`.
pub(crate) struct IpcNsRef {
    ptr: NonNull<c_void>,
    id: u64,
}

// SAFETY: A reference count may be dropped from any task, and `active` only reads an atomic.
unsafe impl Send for IpcNsRef {}
// SAFETY: As above; `&IpcNsRef` only allows `active` and `id`.
unsafe impl Sync for IpcNsRef {}

impl IpcNsRef {
    /// A reference on the calling task's IPC namespace (`None` for a task without one).
    pub(crate) fn current() -> Option<Self> {
        let mut id = 0u64;
        // SAFETY: `id` is a valid location; the helper takes a reference on the current task's
        // namespace, which its nsproxy keeps alive meanwhile.
        let p = unsafe { msgq_current_ipc_ns_get(&mut id) };
        // INVARIANT: The helper returned a namespace with a reference taken for us.
        NonNull::new(p).map(|ptr| IpcNsRef { ptr, id })
    }

    /// The namespace's `ns_id`.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Whether any task, open nsfs file or bind mount still uses the namespace.
    pub(crate) fn active(&self) -> bool {
        // SAFETY: By the type invariant the namespace is valid (we hold a reference).
        unsafe { msgq_ipc_ns_active(self.ptr.as_ptr()) }
    }
}

impl Drop for IpcNsRef {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we own one reference, dropped here once.
        unsafe { msgq_ipc_ns_put(self.ptr.as_ptr()) };
    }
}
