//! msgq's own robust lock, for memory that other processes (and other users) can write.
//!
//! The lock is a futex word holding the owner's tid, in the place and layout of glibc's
//! robust mutex (`pthread_mutex_t`, x86_64: `__lock` at 0, `__list.__prev` at 24,
//! `__list.__next` at 32), and it is linked on the thread's robust list that glibc
//! registered with the kernel, so that the kernel marks it `FUTEX_OWNER_DIED` when its
//! owner dies, exactly as for a glibc robust mutex. What differs is that msgq never reads
//! back a list link stored in the lock: glibc's unlock follows `__prev`/`__next` from the
//! mutex and writes through them, so a process able to write the lock's memory (any user
//! with access to a queue) could make a lock holder write where it chooses. msgq keeps the
//! links of the locks it holds in thread-private memory (`HELD`) and unlinks with those.
//!
//! Soundness of the private links: between taking and releasing its locks, a thread only
//! links more of msgq's own locks after them (an engine call locks nothing else; the shim
//! defers signal handlers to the end of the call). When that does not hold (a handler of a
//! program not under the shim, taking a robust mutex of its own inside a call), unlocking
//! finds its lock in the list by walking it from the head, reading only the links of
//! entries that are not msgq's.
//!
//! The kernel's own walk of the list, at thread death, still reads the links in shared
//! memory; at worst it sets `FUTEX_OWNER_DIED` in a word that holds the dying thread's tid.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

const WAITERS: u32 = 0x8000_0000;
const OWNER_DIED: u32 = 0x4000_0000;
const TID_MASK: u32 = 0x3fff_ffff;

/// Offset of `__list.__next` in glibc's x86_64 `pthread_mutex_t` (`__prev` is at 24).
const LIST_NEXT: usize = 32;
/// glibc's list pointers point at a mutex's `__list.__next`; `__prev` is 8 bytes before.
const QUEUE_PTR_ADJUST: usize = 8;

/// The kernel's `struct robust_list_head`, as glibc registers it for each thread.
#[repr(C)]
struct Head {
    list: usize,
    futex_offset: isize,
    list_op_pending: usize,
}

/// A lock this thread holds: its list entry, and its successor in the list (what the head
/// pointed at when it was linked, updated when that successor is unlinked by msgq).
#[derive(Clone, Copy)]
struct Held {
    entry: usize,
    next: usize,
}

thread_local! {
    /// This thread's robust list head (glibc's), found once with `get_robust_list`.
    static HEAD: Cell<usize> = const { Cell::new(0) };
    /// The msgq locks this thread holds, in the order they were linked (innermost last).
    static HELD: RefCell<Vec<Held>> = const { RefCell::new(Vec::new()) };
    /// The innermost lock this thread linked and its successor, when it is still the
    /// list's first entry: the common case (one lock at a time) needs nothing else.
    static TOP: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// How the lock was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Clean,
    /// Its previous owner died holding it.
    OwnerDied,
}

thread_local! {
    /// This thread's tid, with the process generation it was read in (a forked child's
    /// thread has another tid, and a copy of this).
    static TID: Cell<(u64, u32)> = const { Cell::new((u64::MAX, 0)) };
}

/// The calling thread's tid, read once per thread and process (gettid is a system call).
fn my_tid() -> u32 {
    let gen = crate::sys::process::generation();
    TID.try_with(|c| {
        let (g, t) = c.get();
        if g == gen {
            return t;
        }
        let t = crate::sys::process::tid() & TID_MASK;
        c.set((gen, t));
        t
    })
    .unwrap_or_else(|_| crate::sys::process::tid() & TID_MASK)
}

fn head() -> Option<*mut Head> {
    let h = HEAD.try_with(Cell::get).ok()?;
    if h != 0 {
        return Some(h as *mut Head);
    }
    let mut p: usize = 0;
    let mut len: usize = 0;
    // SAFETY: get_robust_list(0, ...) reads the calling thread's registration into our
    // two out-pointers.
    let r = unsafe { libc::syscall(libc::SYS_get_robust_list, 0, &mut p, &mut len) };
    if r != 0 || p == 0 || len != std::mem::size_of::<Head>() {
        return None;
    }
    // SAFETY: glibc's head, in this thread's descriptor, lives as long as the thread.
    let off = unsafe { (*(p as *const Head)).futex_offset };
    // glibc's robust mutexes: the futex word is 32 bytes before the list entry.
    if off != -(LIST_NEXT as isize) {
        return None;
    }
    let _ = HEAD.try_with(|c| c.set(p));
    Some(p as *mut Head)
}

fn word(m: *mut u8) -> &'static AtomicU32 {
    // SAFETY: the caller's lock memory is 4-aligned and stays mapped while used (the
    // contract of `lock`/`unlock`); the word is only accessed atomically.
    unsafe { &*m.cast::<AtomicU32>() }
}

/// The `__prev`/`__next` pair of the entry at `entry` (a list pointer).
fn links(entry: usize) -> (&'static AtomicUsize, &'static AtomicUsize) {
    let list = (entry & !1) - QUEUE_PTR_ADJUST;
    // SAFETY: `entry` is a list pointer of this thread's list: the head's `list` field
    // (whose 8 bytes before are glibc's `robust_prev`) or a mutex's `__list.__next`.
    unsafe {
        (
            &*(list as *const AtomicUsize),
            &*((list + 8) as *const AtomicUsize),
        )
    }
}

fn futex(w: &AtomicU32, op: i32, val: u32) {
    // SAFETY: a shared (not private) futex operation on a word in shared memory.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            w.as_ptr(),
            op,
            val,
            std::ptr::null::<libc::timespec>(),
        );
    }
}

/// Tries once to take the lock at `m` (40 bytes, zeroed or a glibc robust mutex,
/// 8-aligned), keeping the futex waiters bit if `waiters`; links it on success.
///
/// # Safety
/// `m` must stay mapped until this thread unlocks it (or dies), and no other code may use
/// it as anything but such a lock.
pub unsafe fn try_lock(m: *mut u8) -> Option<Taken> {
    // SAFETY: the caller's contract.
    unsafe { take(m, 0) }
}

/// # Safety
/// As for [`try_lock`].
unsafe fn take(m: *mut u8, extra: u32) -> Option<Taken> {
    let w = word(m);
    let cur = w.load(Ordering::Relaxed);
    if cur & TID_MASK != 0 {
        return None;
    }
    let tid = my_tid();
    let entry = m as usize + LIST_NEXT;
    let h = head();
    if let Some(h) = h {
        // SAFETY: this thread's head (see `head`).
        unsafe { std::ptr::addr_of_mut!((*h).list_op_pending).write_volatile(entry) };
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
    }
    let died = cur & OWNER_DIED != 0;
    if w.compare_exchange(
        cur,
        tid | extra | (cur & WAITERS),
        Ordering::Acquire,
        Ordering::Relaxed,
    )
    .is_err()
    {
        if let Some(h) = h {
            // SAFETY: this thread's head.
            unsafe { std::ptr::addr_of_mut!((*h).list_op_pending).write_volatile(0) };
        }
        return None;
    }
    // Link it, with the links kept privately.
    if let Some(h) = h {
        // SAFETY: this thread's head.
        let first = unsafe { std::ptr::addr_of!((*h).list).read_volatile() };
        let (prev, next) = links(entry);
        // The old first entry's back link (glibc's own ENQUEUE writes it too).
        links(first).0.store(entry, Ordering::Relaxed);
        next.store(first, Ordering::Relaxed);
        prev.store(h as usize, Ordering::Relaxed);
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        // SAFETY: this thread's head.
        unsafe {
            std::ptr::addr_of_mut!((*h).list).write_volatile(entry);
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
            std::ptr::addr_of_mut!((*h).list_op_pending).write_volatile(0);
        }
        let _ = HELD.try_with(|l| l.borrow_mut().push(Held { entry, next: first }));
        let _ = TOP.try_with(|t| t.set((entry, first)));
    }
    Some(if died { Taken::OwnerDied } else { Taken::Clean })
}

/// Takes the lock at `m`, sleeping while another thread holds it.
///
/// # Safety
/// As for [`try_lock`].
pub unsafe fn lock(m: *mut u8) -> Taken {
    let w = word(m);
    let mut extra = 0;
    loop {
        // SAFETY: the caller's contract.
        if let Some(t) = unsafe { take(m, extra) } {
            return t;
        }
        let cur = w.load(Ordering::Relaxed);
        if cur & TID_MASK == 0 {
            continue;
        }
        if cur & WAITERS == 0
            && w.compare_exchange(cur, cur | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            continue;
        }
        futex(w, libc::FUTEX_WAIT, cur | WAITERS);
        // Others may be asleep too: whoever takes it after sleeping keeps the bit.
        extra = WAITERS;
    }
}

/// Whether the owner of the lock at `m` is gone (or there is none), by reading its word.
pub fn owner_gone(m: *mut u8) -> bool {
    let v = word(m).load(Ordering::Relaxed);
    v & OWNER_DIED != 0 || v & TID_MASK == 0
}

/// Releases the lock at `m`, which this thread holds.
///
/// # Safety
/// This thread must hold the lock (taken with [`lock`]).
pub unsafe fn unlock(m: *mut u8) {
    let w = word(m);
    let entry = m as usize + LIST_NEXT;
    if let Some(h) = head() {
        // SAFETY: this thread's head.
        unsafe { std::ptr::addr_of_mut!((*h).list_op_pending).write_volatile(entry) };
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        unlink(h, entry);
    }
    let old = w.swap(0, Ordering::Release);
    if old & WAITERS != 0 {
        futex(w, libc::FUTEX_WAKE, 1);
    }
    if let Some(h) = head() {
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        // SAFETY: this thread's head.
        unsafe { std::ptr::addr_of_mut!((*h).list_op_pending).write_volatile(0) };
    }
}

/// Takes `entry` off this thread's robust list without reading any link stored in an
/// msgq lock: the list from the head is walked reading only the links of entries that are
/// not msgq's; msgq's own entries' successors come from [`HELD`].
fn unlink(h: *mut Head, entry: usize) {
    // The common case: the lock is the list's first entry and was the last one linked.
    // SAFETY: this thread's head.
    let first = unsafe { std::ptr::addr_of!((*h).list).read_volatile() };
    if let Ok((top, succ)) = TOP.try_with(Cell::get) {
        if top == entry && first == entry {
            let popped = HELD
                .try_with(|l| {
                    let mut l = l.borrow_mut();
                    if l.last().is_some_and(|x| x.entry == entry && x.next == succ) {
                        l.pop();
                        true
                    } else {
                        false
                    }
                })
                .unwrap_or(false);
            if popped {
                // SAFETY: this thread's head.
                unsafe { std::ptr::addr_of_mut!((*h).list).write_volatile(succ) };
                links(succ).0.store(h as usize, Ordering::Relaxed);
                let _ = TOP.try_with(|t| t.set((0, 0)));
                return;
            }
        }
    }
    let _ = TOP.try_with(|t| t.set((0, 0)));
    let _ = HELD.try_with(|l| {
        let mut held = l.borrow_mut();
        let Some(pos) = held.iter().position(|x| x.entry == entry) else {
            return;
        };
        let head = h as usize;
        let mut pred: Option<usize> = None;
        // SAFETY: this thread's head.
        let mut cur = unsafe { std::ptr::addr_of!((*h).list).read_volatile() };
        let mut steps = 0;
        while cur != entry {
            if cur == head || steps > 2048 {
                // Not in the list (a damaged list): leave the list as it is.
                held.remove(pos);
                return;
            }
            let next = match held.iter().find(|x| x.entry == cur) {
                // One of msgq's: its successor is known privately.
                Some(x) => x.next,
                // The program's own mutex: its link is the program's.
                None => links(cur).1.load(Ordering::Relaxed),
            };
            pred = Some(cur);
            cur = next;
            steps += 1;
        }
        let succ = held[pos].next;
        match pred {
            // SAFETY: this thread's head.
            None => unsafe { std::ptr::addr_of_mut!((*h).list).write_volatile(succ) },
            Some(p) => {
                links(p).1.store(succ, Ordering::Relaxed);
                if let Some(x) = held.iter_mut().find(|x| x.entry == p) {
                    x.next = succ;
                }
            }
        }
        // The successor's back link, as glibc keeps it (the kernel does not use it).
        links(succ).0.store(pred.unwrap_or(head), Ordering::Relaxed);
        held.remove(pos);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn robust_mutex() -> Box<libc::pthread_mutex_t> {
        // SAFETY: standard initialisation of a robust mutex in private memory.
        unsafe {
            let mut m: Box<libc::pthread_mutex_t> = Box::new(std::mem::zeroed());
            let mut a: libc::pthread_mutexattr_t = std::mem::zeroed();
            libc::pthread_mutexattr_init(&mut a);
            libc::pthread_mutexattr_setrobust(&mut a, libc::PTHREAD_MUTEX_ROBUST);
            libc::pthread_mutex_init(&mut *m, &a);
            m
        }
    }

    fn list_is_empty() -> bool {
        let h = head().expect("glibc registers a robust list");
        // SAFETY: this thread's head.
        unsafe { (*h).list == h as usize }
    }

    /// msgq's locks share the thread's list with the program's own robust mutexes, in
    /// either nesting order, and leave it as glibc expects.
    #[test]
    fn interleaves_with_glibc_robust_mutexes() {
        std::thread::spawn(|| {
            assert!(list_is_empty());
            let mut p = robust_mutex();
            let mut ours = robust_mutex();
            let o: *mut u8 = (&mut *ours as *mut libc::pthread_mutex_t).cast();
            // SAFETY: locks in private memory that outlive their use, this thread only.
            unsafe {
                // The program's mutex outside, ours inside.
                assert_eq!(libc::pthread_mutex_lock(&mut *p), 0);
                assert_eq!(lock(o), Taken::Clean);
                unlock(o);
                assert_eq!(libc::pthread_mutex_unlock(&mut *p), 0);
                assert!(list_is_empty());
                // Ours outside, the program's inside (a handler inside a call), released
                // in lock order: ours is found by walking the program's entry.
                assert_eq!(lock(o), Taken::Clean);
                assert_eq!(libc::pthread_mutex_lock(&mut *p), 0);
                unlock(o);
                assert_eq!(libc::pthread_mutex_unlock(&mut *p), 0);
                assert!(list_is_empty());
                // Two of ours and a program's between them.
                let mut ours2 = robust_mutex();
                let o2: *mut u8 = (&mut *ours2 as *mut libc::pthread_mutex_t).cast();
                assert_eq!(lock(o), Taken::Clean);
                assert_eq!(libc::pthread_mutex_lock(&mut *p), 0);
                assert_eq!(lock(o2), Taken::Clean);
                unlock(o);
                unlock(o2);
                assert_eq!(libc::pthread_mutex_unlock(&mut *p), 0);
                assert!(list_is_empty());
            }
        })
        .join()
        .unwrap();
    }

    /// A thread that dies holding msgq's lock leaves it marked owner-died by the kernel.
    #[test]
    fn a_dead_owner_is_seen() {
        let mut m = robust_mutex();
        let p = (&mut *m as *mut libc::pthread_mutex_t) as usize;
        std::thread::spawn(move || {
            // SAFETY: a lock in memory that outlives the thread.
            unsafe { lock(p as *mut u8) };
            // The thread ends holding it.
        })
        .join()
        .unwrap();
        assert!(owner_gone(p as *mut u8));
        // SAFETY: as above.
        assert_eq!(unsafe { lock(p as *mut u8) }, Taken::OwnerDied);
        // SAFETY: we hold it.
        unsafe { unlock(p as *mut u8) };
        assert!(owner_gone(p as *mut u8));
    }
}
