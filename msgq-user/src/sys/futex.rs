//! Futex wait and wake on shared (cross-process) words.
//!
//! The wait always has a timeout: Linux then returns `EINTR` when a signal handler ran,
//! even one installed with `SA_RESTART`, which is exactly SysV's rule for msgsnd/msgrcv.
//! A wait without a timeout would be restarted silently instead.
//!
//! A [`Futex`] is a handle to one 32-bit word used as an eventcount: [`Futex::load`] and
//! [`Futex::bump`] read and advance it, [`Futex::wait`] sleeps while it still holds a value
//! read earlier, [`Futex::wake`] wakes sleepers.
//!
//! The count lives in bits 1..32 (a bump adds 2); bit 0 ([`SLEEPING`]) is set by the one
//! thread that waits on the word, with an atomic read-modify-write, just before it goes to
//! sleep, and cleared by it when it wakes. [`Futex::bump`] reports whether the bit was set,
//! and only then does the waker make the `FUTEX_WAKE` system call: a waiter that noticed the
//! bump while spinning ([`Futex::spin_while`]) costs its waker nothing. Both the set and the
//! bump are read-modify-writes of the same word, so one of them sees the other: either the
//! waiter sees the new count and does not sleep, or the waker sees the bit and wakes it.
//! Values are compared without the bit ([`same`]). Normally the word lives in the store and
//! the handle is a reference to it. Under `cfg(loom)` the word is a loom atomic in a side
//! table keyed by the word's address, and wait/wake are a loom mutex and condition variable
//! (see `docs/loom.md`), so the engine's protocol runs unchanged under the model checker.

/// Bit 0 of a futex word: its waiter is (about to be) asleep in `FUTEX_WAIT`.
pub const SLEEPING: u32 = 1;

/// Whether two readings of a word show the same count (the sleeping bit aside).
#[inline]
pub fn same(a: u32, b: u32) -> bool {
    (a ^ b) & !SLEEPING == 0
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Woken, or the word had already changed.
    Woken,
    /// The timeout passed.
    TimedOut,
    /// A signal handler ran.
    Interrupted,
}

#[cfg(not(loom))]
pub use real::{wait_many, Futex, WAIT_MANY_MAX};

#[cfg(loom)]
pub use model::{take_sleeps, Futex, Signal};

#[cfg(not(loom))]
mod real {
    use super::{same, Wake, SLEEPING};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    /// A futex word in the shared mapping.
    #[derive(Clone, Copy)]
    pub struct Futex<'a> {
        word: &'a AtomicU32,
    }

    impl<'a> Futex<'a> {
        #[inline]
        pub fn new(word: &'a AtomicU32) -> Futex<'a> {
            Futex { word }
        }

        /// The word's current value (read under the store lock by a waiter about to sleep).
        #[inline]
        pub fn load(&self) -> u32 {
            self.word.load(Ordering::Acquire)
        }

        /// The word itself (for [`crate::interrupt::Sleeping`]).
        pub fn as_ptr(&self) -> *const AtomicU32 {
            self.word
        }

        /// Advances the eventcount (under the store lock, by a waker): whether the waiter
        /// is asleep (or about to be), so that [`Futex::wake`] is needed.
        #[inline]
        pub fn bump(&self) -> bool {
            // SeqCst: ordered against the waiter's fetch_or of the sleeping bit (see the
            // module documentation); the waiter reads its state under the lock anyway.
            self.word.fetch_add(2, Ordering::SeqCst) & SLEEPING != 0
        }

        /// Spins a little ([`crate::sys::spin`]) while the word holds `expected`: whether
        /// it changed. A waiter that notices its bump here never sets the sleeping bit, so
        /// its waker makes no system call either.
        pub fn spin_while(&self, expected: u32) -> bool {
            crate::sys::spin::until(|| !same(self.word.load(Ordering::Acquire), expected))
        }

        /// Sleeps while the word holds `expected` (its count), for at most `timeout`; the
        /// sleeping bit is set for the sleep and cleared after it.
        pub fn wait(&self, expected: u32, timeout: Duration) -> Wake {
            let cur = self.word.fetch_or(SLEEPING, Ordering::SeqCst);
            if !same(cur, expected) {
                self.word.fetch_and(!SLEEPING, Ordering::Relaxed);
                return Wake::Woken;
            }
            let r = self.sleep(cur | SLEEPING, timeout);
            self.word.fetch_and(!SLEEPING, Ordering::Relaxed);
            r
        }

        /// `FUTEX_WAIT` on the exact value `expected`.
        fn sleep(&self, expected: u32, timeout: Duration) -> Wake {
            let ts = libc::timespec {
                tv_sec: timeout.as_secs() as libc::time_t,
                tv_nsec: timeout.subsec_nanos() as libc::c_long,
            };
            // SAFETY: `word` is a valid, aligned u32 for the duration of the call; the kernel
            // only reads it and the timespec, which lives on our stack.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    self.word.as_ptr(),
                    libc::FUTEX_WAIT,
                    expected,
                    &ts as *const libc::timespec,
                    std::ptr::null::<u32>(),
                    0u32,
                )
            };
            if r == 0 {
                return Wake::Woken;
            }
            match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::ETIMEDOUT) => Wake::TimedOut,
                Some(libc::EINTR) => Wake::Interrupted,
                _ => Wake::Woken,
            }
        }

        /// The word's address (for [`wait_many`]).
        pub fn addr(&self) -> *const AtomicU32 {
            self.word
        }

        /// Wakes up to `n` sleepers on the word.
        pub fn wake(&self, n: i32) {
            // SAFETY: FUTEX_WAKE only uses the address as a key; it never dereferences it for
            // writing, and the word is valid.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    self.word.as_ptr(),
                    libc::FUTEX_WAKE,
                    n,
                    0usize,
                    0usize,
                    0u32,
                );
            }
        }
    }

    /// How long [`wait_many`] sleeps on its first word where `FUTEX_WAITV` is missing.
    const WAIT_MANY_NAP: Duration = Duration::from_millis(10);

    /// The number of words [`wait_many`] takes at most (the kernel's `FUTEX_WAITV_MAX`).
    pub const WAIT_MANY_MAX: usize = 128;

    /// Sleeps while every word holds its expected count (`FUTEX_WAITV`, Linux 5.16), for
    /// at most `timeout`: the sleeping bit is set on each word for the sleep, so every
    /// waker makes the wake call. At most [`WAIT_MANY_MAX`] words.
    pub fn wait_many(words: &[(Futex<'_>, u32)], timeout: Duration) -> Wake {
        #[repr(C)]
        struct FutexWaitv {
            val: u64,
            uaddr: u64,
            flags: u32,
            reserved: u32,
        }
        const FUTEX2_SIZE_U32: u32 = 0x02;
        let mut v = Vec::with_capacity(words.len());
        let mut changed = false;
        for (f, expected) in words {
            let cur = f.word.fetch_or(SLEEPING, Ordering::SeqCst);
            changed |= !same(cur, *expected);
            v.push(FutexWaitv {
                val: (cur | SLEEPING) as u64,
                uaddr: f.word.as_ptr() as u64,
                flags: FUTEX2_SIZE_U32,
                reserved: 0,
            });
        }
        let r = if changed || words.is_empty() {
            Wake::Woken
        } else {
            let mut now = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: a valid out-pointer.
            unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
            let end = now.tv_sec as i128 * 1_000_000_000
                + now.tv_nsec as i128
                + timeout.as_nanos() as i128;
            let ts = libc::timespec {
                tv_sec: (end / 1_000_000_000) as libc::time_t,
                tv_nsec: (end % 1_000_000_000) as libc::c_long,
            };
            // SAFETY: `v` holds valid, aligned u32 addresses (the words outlive the call:
            // they are borrowed) and lives on for the call; the kernel only reads them and
            // the timespec.
            let r = unsafe {
                libc::syscall(
                    449, // SYS_futex_waitv
                    v.as_ptr(),
                    v.len() as u32,
                    0u32,
                    &ts as *const libc::timespec,
                    libc::CLOCK_MONOTONIC,
                )
            };
            if r >= 0 {
                Wake::Woken
            } else {
                match std::io::Error::last_os_error().raw_os_error() {
                    Some(libc::ETIMEDOUT) => Wake::TimedOut,
                    Some(libc::EINTR) => Wake::Interrupted,
                    Some(libc::EAGAIN) => Wake::Woken,
                    // No FUTEX_WAITV (a kernel before 5.16, or a seccomp filter that
                    // denies it): sleep on the first word, a short nap at a time, so the
                    // others are looked at often without spinning.
                    _ => {
                        let (f, expected) = &words[0];
                        f.sleep(*expected | SLEEPING, timeout.min(WAIT_MANY_NAP))
                    }
                }
            }
        };
        for (f, _) in words {
            f.word.fetch_and(!SLEEPING, Ordering::Relaxed);
        }
        r
    }
}

/// The loom stand-in: words are loom atomics found by address (as the kernel finds its
/// futex queues by address), and sleeping is one loom condition variable behind one loom
/// mutex (the kernel's hash-bucket lock). A wake-up wakes every sleeper, so sleepers on
/// other words see spurious wake-ups, which the engine must tolerate. A wait has no
/// timeout: a lost wake-up leaves its thread asleep for ever, which loom reports as a
/// deadlock.
#[cfg(loom)]
mod model {
    use super::{same, Wake, SLEEPING};
    use loom::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use loom::sync::{Condvar, Mutex};
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::marker::PhantomData;
    use std::sync::Arc;
    use std::time::Duration;

    struct Table {
        /// Not a loom object: looked up without ever yielding to loom's scheduler.
        words: std::sync::Mutex<HashMap<usize, Arc<AtomicU32>>>,
        bucket: Mutex<()>,
        sleepers: Condvar,
    }

    loom::lazy_static! {
        static ref TABLE: Table = Table {
            words: std::sync::Mutex::new(HashMap::new()),
            bucket: Mutex::new(()),
            sleepers: Condvar::new(),
        };
    }

    loom::thread_local! {
        static SIGNAL: RefCell<Option<Signal>> = RefCell::new(None);
    }

    /// The loom atomic that stands for the word at `addr` (created at 0 on first use, in the
    /// current execution).
    fn word(addr: usize) -> Arc<AtomicU32> {
        if let Some(w) = TABLE.words.lock().unwrap().get(&addr) {
            return w.clone();
        }
        let w = Arc::new(AtomicU32::new(0));
        TABLE.words.lock().unwrap().entry(addr).or_insert(w).clone()
    }

    /// A futex word (see the module documentation).
    pub struct Futex<'a> {
        word: Arc<AtomicU32>,
        _in_store: PhantomData<&'a ()>,
    }

    impl Futex<'_> {
        /// The word at address `addr`.
        pub fn at(addr: usize) -> Self {
            Futex {
                word: word(addr),
                _in_store: PhantomData,
            }
        }

        pub fn load(&self) -> u32 {
            self.word.load(Ordering::Acquire)
        }

        pub fn bump(&self) -> bool {
            self.word.fetch_add(2, Ordering::SeqCst) & SLEEPING != 0
        }

        /// FUTEX_WAIT without a timeout (there is no time in a model), with the sleeping
        /// bit set around it as the real one does.
        pub fn wait(&self, expected: u32, _timeout: Duration) -> Wake {
            let cur = self.word.fetch_or(SLEEPING, Ordering::SeqCst);
            let r = if same(cur, expected) {
                self.sleep(cur | SLEEPING)
            } else {
                Wake::Woken
            };
            self.word.fetch_and(!SLEEPING, Ordering::SeqCst);
            r
        }

        fn sleep(&self, expected: u32) -> Wake {
            let t = &*TABLE;
            let g = t.bucket.lock().unwrap();
            if let Some(w) = take_signal() {
                return w;
            }
            // The kernel compares under the bucket lock, after a full barrier.
            if self.word.load(Ordering::SeqCst) != expected {
                return Wake::Woken;
            }
            SLEEPS.with(|n| n.set(n.get() + 1));
            let g = t.sleepers.wait(g).unwrap();
            drop(g);
            take_signal().unwrap_or(Wake::Woken)
        }

        pub fn wake(&self, _n: i32) {
            let t = &*TABLE;
            let _g = t.bucket.lock().unwrap();
            t.sleepers.notify_all();
        }
    }

    std::thread_local! {
        /// Futex waits that went to sleep, over every execution run on this OS thread (a
        /// model's threads all run on the thread that called `loom::model`).
        static SLEEPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    /// How many model futex waits went to sleep since the last call (for the models'
    /// coverage checks), and resets the count.
    pub fn take_sleeps() -> u64 {
        SLEEPS.with(|n| n.replace(0))
    }

    fn take_signal() -> Option<Wake> {
        SIGNAL.with(|s| {
            let s = s.borrow();
            let s = s.as_ref()?;
            s.pending.swap(false, Ordering::SeqCst).then_some(s.ends)
        })
    }

    /// An event aimed at one model thread: once raised, that thread's next futex wait (or
    /// the one it is in) ends with [`Wake::Interrupted`], as a wait ends with EINTR when a
    /// signal handler runs ([`Signal::new`]), or with [`Wake::TimedOut`], as the wait's
    /// tick does ([`Signal::tick`]).
    #[derive(Clone)]
    pub struct Signal {
        pending: Arc<AtomicBool>,
        ends: Wake,
    }

    impl Default for Signal {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Signal {
        /// A signal (its handler interrupts the wait: EINTR).
        pub fn new() -> Signal {
            Signal {
                pending: Arc::new(AtomicBool::new(false)),
                ends: Wake::Interrupted,
            }
        }

        /// One tick of the wait's timeout (the time the model does not otherwise have).
        pub fn tick() -> Signal {
            Signal {
                pending: Arc::new(AtomicBool::new(false)),
                ends: Wake::TimedOut,
            }
        }

        /// Makes this the calling thread's signal (one per thread).
        pub fn install(&self) {
            SIGNAL.with(|s| *s.borrow_mut() = Some(self.clone()));
        }

        /// Raises it (from another thread), waking the target if it sleeps.
        pub fn raise(&self) {
            self.pending.store(true, Ordering::SeqCst);
            let t = &*TABLE;
            let _g = t.bucket.lock().unwrap();
            t.sleepers.notify_all();
        }
    }
}
