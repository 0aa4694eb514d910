//! The store lock (a shard's or the registry's): a process-shared, robust lock living in its
//! header, in glibc's robust-mutex layout but msgq's own (`sys::robust`: glibc's unlock
//! follows list links stored in the mutex, which anyone with access to a queue can write).
//!
//! "Robust" means that when its owner dies, the next `lock` reports `OwnerDied` instead of
//! waiting for ever; the engine then rolls back the dead owner's half-done update (the undo
//! log). The uncontended path is a compare-and-swap in userspace; only contention sleeps in
//! the kernel (futex).
//!
//! Under `cfg(loom)` the same handle is a model of that mutex (found by the mutex's
//! address): a loom mutex and condition variable guarding its state, with the robust
//! states (owner died, made consistent, not recoverable), and a per-thread robust list
//! so that a model thread that "dies" (`robust_exit`, loom only) leaves its locks in the
//! owner-died state, as the kernel does at thread exit.

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

#[cfg(not(loom))]
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

    /// Takes the lock: first by spinning a little (the holder usually releases it within a
    /// microsecond, and waking a sleeper costs the releaser a system call), then by
    /// sleeping. The lock is msgq's own robust futex lock in glibc's layout
    /// (`sys::robust`): glibc's would follow list links stored in the mutex, which anyone
    /// with access to the queue can write.
    pub fn lock(&self) -> io::Result<Locked> {
        let m = self.m.cast::<u8>();
        let mut got = None;
        crate::sys::spin::until(|| {
            if !crate::sys::robust::owner_gone(m) {
                return false;
            }
            // SAFETY: the mutex is valid per `at`'s contract.
            got = unsafe { crate::sys::robust::try_lock(m) };
            got.is_some()
        });
        // SAFETY: the mutex is valid per `at`'s contract.
        let t = got.unwrap_or_else(|| unsafe { crate::sys::robust::lock(m) });
        Ok(match t {
            crate::sys::robust::Taken::Clean => Locked::Clean,
            crate::sys::robust::Taken::OwnerDied => Locked::OwnerDied,
        })
    }

    /// After repairing a dead owner's state (taking the lock cleared the owner-died mark).
    pub fn mark_consistent(&self) {}

    /// Releases the lock.
    pub fn unlock(&self) {
        // SAFETY: called only by the owner (the guard that locked it).
        unsafe { crate::sys::robust::unlock(self.m.cast()) }
    }
}

#[cfg(not(loom))]
fn check(r: i32) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(r))
    }
}

/// The model of the mutex: its state behind a loom mutex, and a loom condition variable
/// for lockers to sleep on (as pthread lockers sleep on the mutex word).
#[cfg(loom)]
mod model {
    use loom::sync::{Condvar, Mutex};
    use std::collections::HashMap;
    use std::sync::Arc;

    pub const FREE: u32 = 0;
    pub const HELD: u32 = 1;
    /// Free, and its last owner died holding it: the next `lock` gets `OwnerDied`.
    pub const DEAD: u32 = 2;
    /// Held after `OwnerDied`, not yet marked consistent.
    pub const HELD_INCONSISTENT: u32 = 3;
    /// Unlocked without being made consistent: unusable (`ENOTRECOVERABLE`).
    pub const NOT_RECOVERABLE: u32 = 4;

    pub struct Mx {
        pub state: Mutex<u32>,
        pub cv: Condvar,
    }

    loom::lazy_static! {
        /// The model mutexes of this execution, by address (not a loom object: looked up
        /// without yielding to the scheduler).
        static ref MUTEXES: std::sync::Mutex<HashMap<usize, Arc<Mx>>> =
            std::sync::Mutex::new(HashMap::new());
    }

    loom::thread_local! {
        /// The model mutexes this model thread holds (the kernel's robust list).
        pub static ROBUST: std::cell::RefCell<Vec<usize>> = std::cell::RefCell::new(Vec::new());
    }

    pub fn at(addr: usize) -> Arc<Mx> {
        if let Some(m) = MUTEXES.lock().unwrap().get(&addr) {
            return m.clone();
        }
        let m = Arc::new(Mx {
            state: Mutex::new(FREE),
            cv: Condvar::new(),
        });
        MUTEXES.lock().unwrap().entry(addr).or_insert(m).clone()
    }

    /// Sets the state (the caller owns the mutex or is dying with it) and wakes a locker.
    pub fn set(addr: usize, v: u32) {
        let m = at(addr);
        *m.state.lock().unwrap() = v;
        m.cv.notify_one();
    }
}

#[cfg(loom)]
impl StoreLock {
    /// # Safety
    /// As for the real lock; under loom only the address is used, as a key.
    pub unsafe fn at(m: *mut libc::pthread_mutex_t) -> StoreLock {
        StoreLock { m }
    }

    /// # Safety
    /// As for the real lock.
    pub unsafe fn init(m: *mut libc::pthread_mutex_t) -> io::Result<()> {
        model::at(m as usize);
        Ok(())
    }

    pub fn lock(&self) -> io::Result<Locked> {
        let m = model::at(self.m as usize);
        let mut s = m.state.lock().unwrap();
        let how = loop {
            match *s {
                model::FREE => {
                    *s = model::HELD;
                    break Locked::Clean;
                }
                model::DEAD => {
                    *s = model::HELD_INCONSISTENT;
                    break Locked::OwnerDied;
                }
                model::NOT_RECOVERABLE => {
                    return Err(io::Error::from_raw_os_error(libc::ENOTRECOVERABLE))
                }
                _ => s = m.cv.wait(s).unwrap(),
            }
        };
        drop(s);
        model::ROBUST.with(|r| r.borrow_mut().push(self.m as usize));
        Ok(how)
    }

    pub fn mark_consistent(&self) {
        let m = model::at(self.m as usize);
        let mut s = m.state.lock().unwrap();
        if *s == model::HELD_INCONSISTENT {
            *s = model::HELD;
        }
    }

    pub fn unlock(&self) {
        model::ROBUST.with(|r| {
            let mut r = r.borrow_mut();
            let i = r.iter().rposition(|&k| k == self.m as usize);
            r.swap_remove(i.expect("unlock of a model mutex this thread does not hold"));
        });
        let m = model::at(self.m as usize);
        let mut s = m.state.lock().unwrap();
        if *s == model::HELD_INCONSISTENT {
            *s = model::NOT_RECOVERABLE;
            drop(s);
            m.cv.notify_all();
        } else {
            *s = model::FREE;
            drop(s);
            m.cv.notify_one();
        }
    }
}

/// The calling model thread dies: every store lock it holds is left in the owner-died
/// state and a locker is woken (what the kernel does with a robust list at thread exit).
/// Loom only.
#[cfg(loom)]
pub fn robust_exit() {
    let held = model::ROBUST.with(|r| std::mem::take(&mut *r.borrow_mut()));
    for m in held {
        model::set(m, model::DEAD);
    }
}
