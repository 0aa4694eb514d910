//! Knowing whether a blocked waiter's thread is still alive, without a system call.
//!
//! Every waiter record holds a robust, process-shared lock (glibc's robust-mutex layout,
//! msgq's own lock: `sys::robust`) that the waiting thread takes when it registers and
//! releases when it is done. If the thread dies (its process is killed), the kernel marks
//! it "owner died" (robust futex list). Anyone holding the store lock can then probe it by
//! reading its word: the owner's tid means alive and still waiting; no tid, or the
//! owner-died bit, means gone. (Under loom the probe is glibc's `pthread_mutex_trylock`.)

use std::sync::OnceLock;

/// Bytes a liveness mutex occupies in a record.
pub const SIZE: u64 = std::mem::size_of::<libc::pthread_mutex_t>() as u64;

struct Attr(libc::pthread_mutexattr_t);
// SAFETY: the attribute object is initialised once and only read afterwards.
unsafe impl Send for Attr {}
// SAFETY: as above.
unsafe impl Sync for Attr {}

fn attr() -> &'static Attr {
    static ATTR: OnceLock<Attr> = OnceLock::new();
    ATTR.get_or_init(|| {
        // SAFETY: standard initialisation of a local attribute object.
        unsafe {
            let mut a: libc::pthread_mutexattr_t = std::mem::zeroed();
            libc::pthread_mutexattr_init(&mut a);
            libc::pthread_mutexattr_setpshared(&mut a, libc::PTHREAD_PROCESS_SHARED);
            libc::pthread_mutexattr_setrobust(&mut a, libc::PTHREAD_MUTEX_ROBUST);
            Attr(a)
        }
    })
}

/// Whether the memory at `m` holds a liveness mutex as [`hold`] made it (its kind word is
/// that of a robust, process-shared mutex), so that glibc may be handed it. In a damaged
/// store it may hold anything, and glibc trusts the kind word (a garbage one can send it
/// down a hardware lock-elision path: SIGILL on a CPU without it).
///
/// # Safety
/// `m` must be valid for reads of [`SIZE`] bytes.
pub unsafe fn well_formed(m: *const libc::pthread_mutex_t) -> bool {
    static KIND: OnceLock<i32> = OnceLock::new();
    let want = *KIND.get_or_init(|| {
        // SAFETY: a local mutex initialised with the same attributes, read and destroyed.
        unsafe {
            let mut r: libc::pthread_mutex_t = std::mem::zeroed();
            libc::pthread_mutex_init(&mut r, &attr().0);
            let k = kind_of(&r);
            libc::pthread_mutex_destroy(&mut r);
            k
        }
    });
    // SAFETY: per the contract.
    unsafe { kind_of(m) == want }
}

/// glibc's `__data.__kind` (x86_64: the fifth 32-bit word), read volatile.
///
/// # Safety
/// `m` must be valid for reads of [`SIZE`] bytes.
unsafe fn kind_of(m: *const libc::pthread_mutex_t) -> i32 {
    // SAFETY: per the contract; offset 16 lies inside the 40-byte mutex.
    unsafe { m.cast::<u8>().add(16).cast::<i32>().read_volatile() }
}

/// What a probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The owner still holds it.
    Alive,
    /// The owner died (or let go without unregistering); the prober now holds the mutex
    /// and must call [`discard`].
    Gone,
}

/// Initialises the mutex at `m` and makes the calling thread its owner.
///
/// # Safety
/// `m` must be valid, 8-aligned, in memory that stays mapped, and not in use by anyone
/// (a fresh waiter record, written under the store lock).
pub unsafe fn hold(m: *mut libc::pthread_mutex_t) {
    // SAFETY: per the contract; an uncontended lock of a fresh mutex succeeds at once.
    // Outside loom the lock is msgq's own (`sys::robust`: glibc would follow list links
    // that anyone with access to the queue can write); glibc only lays out the bytes.
    unsafe {
        libc::pthread_mutex_init(m, &attr().0);
        #[cfg(not(loom))]
        crate::sys::robust::lock(m.cast());
        #[cfg(loom)]
        libc::pthread_mutex_lock(m);
    }
}

/// Releases the mutex held by the calling thread (the waiter is done).
///
/// # Safety
/// The calling thread must own the mutex (it called [`hold`] on it).
pub unsafe fn let_go(m: *mut libc::pthread_mutex_t) {
    // SAFETY: per the contract.
    unsafe {
        #[cfg(not(loom))]
        crate::sys::robust::unlock(m.cast());
        #[cfg(loom)]
        libc::pthread_mutex_unlock(m);
    }
}

/// Probes the owner of the mutex at `m`.
///
/// # Safety
/// `m` must be an initialised liveness mutex in mapped memory.
pub unsafe fn probe(m: *mut libc::pthread_mutex_t) -> Probe {
    // Outside loom: a read of the lock word (the kernel marks it when its owner dies); no
    // write, and nothing of glibc's touches the bytes another process may have written.
    #[cfg(not(loom))]
    return if crate::sys::robust::owner_gone(m.cast()) {
        Probe::Gone
    } else {
        Probe::Alive
    };
    // SAFETY: per the contract.
    #[cfg(loom)]
    match unsafe { libc::pthread_mutex_trylock(m) } {
        libc::EBUSY => Probe::Alive,
        libc::EOWNERDEAD => {
            // SAFETY: we own it now, as EOWNERDEAD says.
            unsafe { libc::pthread_mutex_consistent(m) };
            Probe::Gone
        }
        // Locked by us (0), or broken: either way nobody waits on it any more.
        _ => Probe::Gone,
    }
}

/// Drops a mutex taken over by [`probe`].
///
/// # Safety
/// The calling thread must hold it (after a `Gone` probe).
pub unsafe fn discard(m: *mut libc::pthread_mutex_t) {
    // Outside loom a probe takes nothing: a gone owner's word stays as the kernel left it.
    #[cfg(not(loom))]
    let _ = m;
    // SAFETY: per the contract.
    #[cfg(loom)]
    unsafe {
        libc::pthread_mutex_unlock(m);
    }
}

/// Looks at the mutex at `m` without changing it: `Gone` when its owner died (the kernel
/// set the owner-died bit at the thread's exit) or nobody holds it.
///
/// # Safety
/// `m` must be an initialised liveness mutex in mapped memory.
pub unsafe fn peek(m: *mut libc::pthread_mutex_t) -> Probe {
    // glibc's lock word (`__data.__lock`, offset 0): the owner's tid, FUTEX_WAITERS and
    // FUTEX_OWNER_DIED bits; 0 when free.
    // SAFETY: per the contract the word is valid and 4-aligned; it is read atomically, as
    // glibc and the kernel update it.
    let word = unsafe { &*m.cast::<std::sync::atomic::AtomicU32>() }
        .load(std::sync::atomic::Ordering::Relaxed);
    if word & libc::FUTEX_OWNER_DIED != 0 || word & libc::FUTEX_TID_MASK == 0 {
        Probe::Gone
    } else {
        Probe::Alive
    }
}
