//! The store lock: a process-shared, robust pthread mutex living in the store header.
//!
//! "Robust" means that when its owner dies, the next `lock` returns `EOWNERDEAD` instead of
//! waiting for ever; the engine then rolls back the dead owner's half-done update (the undo
//! log) and marks the mutex consistent. The uncontended path is a compare-and-swap in
//! userspace; only contention sleeps in the kernel (futex).

use std::io;

/// How the lock was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locked {
    /// The previous owner unlocked normally.
    Clean,
    /// The previous owner died holding the lock: its update must be repaired, then
    /// [`StoreLock::mark_consistent`] called.
    OwnerDied,
}

/// A handle to the mutex at a fixed place in a mapping.
#[derive(Clone, Copy)]
pub struct StoreLock {
    m: *mut libc::pthread_mutex_t,
}

// SAFETY: a process-shared mutex is designed to be used from any thread of any process.
unsafe impl Send for StoreLock {}
// SAFETY: as above.
unsafe impl Sync for StoreLock {}

impl StoreLock {
    /// # Safety
    /// `m` must point to a `pthread_mutex_t` in a shared mapping that stays mapped while the
    /// handle is used, initialised by [`StoreLock::init`] (by this or another process).
    pub unsafe fn at(m: *mut libc::pthread_mutex_t) -> StoreLock {
        StoreLock { m }
    }

    /// Initialises the mutex (robust, process-shared). Only when the store is created.
    ///
    /// # Safety
    /// `m` must be valid for writes and not in use by anyone yet.
    pub unsafe fn init(m: *mut libc::pthread_mutex_t) -> io::Result<()> {
        // SAFETY: standard attribute set-up on a local attr object; `m` is valid per the
        // caller's contract.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            check(libc::pthread_mutexattr_init(&mut attr))?;
            check(libc::pthread_mutexattr_setpshared(
                &mut attr,
                libc::PTHREAD_PROCESS_SHARED,
            ))?;
            check(libc::pthread_mutexattr_setrobust(
                &mut attr,
                libc::PTHREAD_MUTEX_ROBUST,
            ))?;
            let r = libc::pthread_mutex_init(m, &attr);
            libc::pthread_mutexattr_destroy(&mut attr);
            check(r)
        }
    }

    /// Takes the lock.
    pub fn lock(&self) -> io::Result<Locked> {
        // SAFETY: the mutex is valid per `at`'s contract.
        match unsafe { libc::pthread_mutex_lock(self.m) } {
            0 => Ok(Locked::Clean),
            libc::EOWNERDEAD => Ok(Locked::OwnerDied),
            e => Err(io::Error::from_raw_os_error(e)),
        }
    }

    /// After repairing a dead owner's state.
    pub fn mark_consistent(&self) {
        // SAFETY: called by the owner after EOWNERDEAD, as pthread requires.
        unsafe {
            libc::pthread_mutex_consistent(self.m);
        }
    }

    /// Releases the lock.
    pub fn unlock(&self) {
        // SAFETY: called only by the owner (the guard that locked it).
        unsafe {
            libc::pthread_mutex_unlock(self.m);
        }
    }
}

fn check(r: i32) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(r))
    }
}
