//! Following IPC namespace changes (issue 13, goal 2): after `unshare`, `setns` or `clone`
//! with `CLONE_NEWIPC` (through glibc), the next message call of the thread that changed,
//! and of its children, uses the new namespace's store; the other threads keep theirs.
//!
//! The IPC namespace belongs to a thread, and nothing observable without a system call
//! changes when it changes, so the shim watches the calls that change it:
//!
//! * **Epoch.** Each thread has a namespace epoch (a const-initialised thread-local
//!   counter, no destructor, one atomic add: [`bump`]). `unshare` and `setns` bump it when
//!   they succeeded and may have moved the thread, and so does `syscall()` for
//!   `SYS_unshare`, `SYS_setns`, `SYS_clone` and `SYS_clone3` ([`after_syscall`]). A `clone`
//!   child that may be in a new namespace bumps it first thing (a trampoline that rides on
//!   the child's own stack, see [`clone`]).
//! * **Per-thread cache.** Each thread caches `(epoch, store entry)`. A call whose thread's
//!   epoch is the cached one uses the cached store: two thread-local reads, no system call.
//!   Otherwise the thread's namespace is read once (`stat` of `/proc/thread-self/ns/ipc`:
//!   its device and inode), the store of that namespace found in the process's table or
//!   opened, and cached.
//! * **Table.** The process keeps a fixed table of entries `namespace -> Store`, each with a
//!   count of the thread caches that hold it. The table is lock-free (a child forked while
//!   another thread was resolving must not wait for it): entries are published with one
//!   compare-and-swap, and a reference is taken only on an entry that is not dead.
//! * **Unmapping.** An entry whose count falls to 0 (its last thread re-resolved or
//!   exited) is made dead with one compare-and-swap `0 -> DEAD` (after which nobody can
//!   take a reference, and nobody holds one: a thread uses a store only through its own
//!   cache, inside an engine call, where no other engine call of the same thread can
//!   start), removed from the table, and its store unmapped. Except the store of the
//!   namespace the process's main thread is in (read from `/proc/self/ns/ipc` at that
//!   moment): that one stays mapped while idle, so a program that starts a thread per
//!   request does not reopen the store each time; it is unmapped by the first
//!   re-resolution of any thread after the main thread has left (a sweep of idle entries).
//!   The entry itself (a few words) is never
//!   freed, so that a thread scanning the table can never read freed memory.
//! * **fork**: the child inherits the forking thread's cache (its namespace too); a
//!   `pthread_atfork` child handler recounts the references (the parent's other threads
//!   are gone) and unmaps the stores only they used.
//!
//! Used only for the default store; `MSGQ_STORE` names one fixed store and disables all
//! of this (see [`crate::backend`]).

use crate::real::{self, call_real};
use crate::{errno, guard, set_errno};
use libc::{c_int, c_long, c_void};
use msgq_user::{Store, StoreError};
use std::cell::{Cell, UnsafeCell};
use std::ffi::CStr;
use std::mem::ManuallyDrop;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};

/// An IPC namespace: its nsfs device and inode.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NsKey {
    dev: u64,
    ino: u64,
}

/// The namespace a `/proc` namespace link leads to (one `stat`), or `None`.
fn key_of(path: &CStr) -> Option<NsKey> {
    // SAFETY: a zeroed stat is valid plain data, filled by stat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and our own buffer.
    if unsafe { libc::stat(path.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(NsKey {
        dev: st.st_dev,
        ino: st.st_ino,
    })
}

/// The calling thread's IPC namespace (`/proc/self/ns/ipc`, the main thread's, where
/// `/proc/thread-self` is missing; `0` where neither can be read, as in
/// `Store::default_path`).
pub fn thread_ns() -> NsKey {
    key_of(c"/proc/thread-self/ns/ipc")
        .or_else(|| key_of(c"/proc/self/ns/ipc"))
        .unwrap_or(NsKey { dev: 0, ino: 0 })
}

/// The IPC namespace of the process's main thread, now.
fn main_ns() -> Option<NsKey> {
    key_of(c"/proc/self/ns/ipc")
}

/// The reference count of a dead entry.
const DEAD: usize = usize::MAX;

/// One namespace's store in the process's table.
pub struct Entry {
    key: NsKey,
    /// Thread caches (and in-flight resolutions) holding it, or [`DEAD`].
    refs: AtomicUsize,
    /// Dropped (unmapped) only by whoever made the entry dead.
    store: UnsafeCell<ManuallyDrop<Store>>,
}

impl Entry {
    /// The store.
    ///
    /// # Safety
    /// The caller holds a reference (so the entry is not dead).
    unsafe fn store(&self) -> &Store {
        // SAFETY: per the contract the store is not dropped while the reference is held.
        unsafe { &*self.store.get() }
    }
}

/// How many namespaces the table holds at once; a store opened when it is full is used by
/// the thread that opened it and unmapped when that thread lets go.
const SLOTS: usize = 64;

static TABLE: [AtomicPtr<Entry>; SLOTS] = [const { AtomicPtr::new(ptr::null_mut()) }; SLOTS];

/// Takes a reference on `e` unless it is dead.
fn try_ref(e: &Entry) -> bool {
    e.refs
        .fetch_update(Acquire, Relaxed, |r| (r != DEAD).then_some(r + 1))
        .is_ok()
}

fn entries() -> impl Iterator<Item = (&'static AtomicPtr<Entry>, &'static Entry)> {
    TABLE.iter().filter_map(|s| {
        let p = s.load(Acquire);
        // SAFETY: a published entry is never freed.
        (!p.is_null()).then(|| (s, unsafe { &*p }))
    })
}

fn listed(e: &Entry) -> bool {
    entries().any(|(_, x)| ptr::eq(x, e))
}

/// Opens the default store of namespace `key`.
fn open_default(_key: NsKey) -> Result<Store, StoreError> {
    // The calling thread is in namespace `key` (it was just read): the default store binds
    // to it.
    Store::open_default()
}

/// A reference on the store of namespace `key`, from the table or newly opened.
fn acquire(
    key: NsKey,
    open: impl FnOnce(NsKey) -> Result<Store, StoreError>,
) -> Result<&'static Entry, StoreError> {
    if let Some((_, e)) = entries().find(|(_, e)| e.key == key && try_ref(e)) {
        return Ok(e);
    }
    let store = open(key)?;
    let e: &'static Entry = Box::leak(Box::new(Entry {
        key,
        refs: AtomicUsize::new(1),
        store: UnsafeCell::new(ManuallyDrop::new(store)),
    }));
    let p = ptr::from_ref(e).cast_mut();
    let Some(i) = TABLE.iter().position(|s| {
        s.compare_exchange(ptr::null_mut(), p, AcqRel, Relaxed)
            .is_ok()
    }) else {
        return Ok(e);
    };
    // Two threads that opened the same namespace at once: the lower slot's entry wins.
    for s in &TABLE[..i] {
        let q = s.load(Acquire);
        // SAFETY: a published entry is never freed.
        if let Some(other) = (!q.is_null()).then(|| unsafe { &*q }) {
            if other.key == key && try_ref(other) {
                e.refs.fetch_sub(1, Release);
                reap(e);
                return Ok(other);
            }
        }
    }
    Ok(e)
}

/// Makes an unreferenced entry dead, removes it from the table and unmaps its store.
fn reap(e: &'static Entry) -> bool {
    if e.refs.compare_exchange(0, DEAD, Acquire, Relaxed).is_err() {
        return false;
    }
    let p = ptr::from_ref(e).cast_mut();
    for s in &TABLE {
        let _ = s.compare_exchange(p, ptr::null_mut(), Release, Relaxed);
    }
    // SAFETY: dead: no reference can be taken any more and none is held (every holder
    // released it before the count reached 0, and the Acquire above orders their uses
    // before this), so nobody uses the store; it is dropped exactly once, here.
    unsafe { ManuallyDrop::drop(&mut *e.store.get()) };
    true
}

/// Gives back a reference; the last one unmaps the store unless the main thread is in
/// its namespace.
fn release(e: &'static Entry) {
    if e.refs.fetch_sub(1, Release) == 1 && (!listed(e) || main_ns() != Some(e.key)) {
        reap(e);
    }
}

/// Unmaps every unreferenced store but `keep`'s and the main thread's namespace's.
fn sweep(keep: Option<NsKey>) {
    let mut main: Option<Option<NsKey>> = None;
    for (_, e) in entries() {
        if Some(e.key) != keep
            && e.refs.load(Relaxed) == 0
            && *main.get_or_insert_with(main_ns) != Some(e.key)
        {
            reap(e);
        }
    }
}

/// A thread's cached store.
#[derive(Clone, Copy)]
struct Cache {
    entry: *const Entry,
    epoch: u64,
}

const EMPTY: Cache = Cache {
    entry: ptr::null(),
    epoch: 0,
};

/// Gives back the thread's cached reference when the thread exits.
struct ExitGuard;

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            let old = CACHE.with(|c| c.replace(EMPTY));
            if !old.entry.is_null() {
                // SAFETY: the cache held a reference on a never-freed entry.
                release(unsafe { &*old.entry });
            }
        });
    }
}

thread_local! {
    /// Bumped whenever this thread may have changed IPC namespace. Const-initialised, no
    /// destructor, updated with one atomic add: safe from a signal handler, a `clone` child
    /// on a tiny stack, and a thread's last moments.
    static EPOCH: AtomicU64 = const { AtomicU64::new(0) };
    /// The store this thread uses, valid while its epoch is [`EPOCH`]'s (no destructor:
    /// readable at any time, also by the fork handler).
    static CACHE: Cell<Cache> = const { Cell::new(EMPTY) };
    /// Its destructor gives back [`CACHE`]'s reference at thread exit.
    static EXIT: ExitGuard = const { ExitGuard };
}

/// Notes that the calling thread may have changed IPC namespace: its next message call
/// reads it again.
pub fn bump() {
    EPOCH.with(|e| e.fetch_add(1, Relaxed));
}

/// Runs `f` on the calling thread's store (to be called inside an engine call, where no
/// other engine call of this thread can start). Fails with the errno of a store that
/// cannot be opened.
pub fn with_store<R>(f: impl FnOnce(&Store) -> R) -> Result<R, i32> {
    let epoch = EPOCH.with(|e| e.load(Relaxed));
    let c = CACHE.with(Cell::get);
    if !c.entry.is_null() && c.epoch == epoch {
        // SAFETY: the cache holds a reference on the entry.
        return Ok(f(unsafe { (*c.entry).store() }));
    }
    resolve(epoch, f)
}

/// Gives back a reference when dropped (a call made after the thread's cache is gone).
struct TempRef(&'static Entry);

impl Drop for TempRef {
    fn drop(&mut self) {
        release(self.0);
    }
}

/// The slow path: read the thread's namespace, find or open its store, cache it.
#[cold]
fn resolve<R>(epoch: u64, f: impl FnOnce(&Store) -> R) -> Result<R, i32> {
    let saved = errno();
    // The queues' memory this thread attached in the namespace it may have left: an
    // attached segment would keep that namespace alive (the default store's segments).
    msgq_user::leave_namespace();
    let key = thread_ns();
    let e = match acquire(key, open_default) {
        Ok(e) => e,
        Err(err) => {
            crate::diag::once(&format!(
                "{err}; System V message calls in this IPC namespace fail with errno {}",
                err.errno()
            ));
            return Err(err.errno());
        }
    };
    // A thread whose thread-locals are being destroyed keeps no cache.
    let cached = EXIT.try_with(|_| ()).is_ok();
    let old = CACHE.with(|c| {
        c.replace(if cached {
            Cache { entry: e, epoch }
        } else {
            EMPTY
        })
    });
    if !old.entry.is_null() {
        // SAFETY: the cache held a reference on a never-freed entry.
        release(unsafe { &*old.entry });
    }
    sweep(Some(key));
    set_errno(saved);
    let _temp = (!cached).then(|| TempRef(e));
    // SAFETY: we hold a reference (the cache's, or `_temp`'s).
    Ok(f(unsafe { e.store() }))
}

/// Opens the store of the calling thread's namespace, or says why it cannot be: the
/// backend's start-up check. The store stays mapped (idle) when it is the main thread's
/// namespace's, for the first call to find.
pub fn check_start() -> Result<(), StoreError> {
    release(acquire(thread_ns(), open_default)?);
    Ok(())
}

/// `pthread_atfork` child handler: the forking thread's cache is the child's only
/// reference; stores that only the parent's other threads used are unmapped.
extern "C" fn after_fork_child() {
    let _ = std::panic::catch_unwind(|| {
        let mine = CACHE.with(Cell::get).entry;
        for s in &TABLE {
            let p = s.load(Relaxed);
            if p.is_null() {
                continue;
            }
            // SAFETY: a published entry is never freed.
            let e = unsafe { &*p };
            if e.refs.load(Relaxed) == DEAD {
                // Being unmapped by a thread of the parent at the fork: left as it is.
                s.store(ptr::null_mut(), Relaxed);
            } else {
                e.refs.store(usize::from(ptr::eq(p, mine)), Relaxed);
            }
        }
        // SAFETY: the cache holds a reference on a never-freed entry.
        let keep = (!mine.is_null()).then(|| unsafe { (*mine).key });
        sweep(keep);
        msgq_user::after_fork_child();
    });
}

/// Registers the fork handler (from the library's constructor).
pub fn init() {
    // SAFETY: registering a handler that is valid for the life of the library.
    unsafe { libc::pthread_atfork(None, None, Some(after_fork_child)) };
}

// ---- The calls that change namespace ----

/// Whether a successful `setns(fd, nstype)` may have changed the IPC namespace.
fn setns_may_move(nstype: c_int) -> bool {
    nstype == 0 || nstype & libc::CLONE_NEWIPC != 0
}

/// `int unshare(int flags)`
///
/// # Safety
/// Callable from C like glibc's `unshare`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn unshare(flags: c_int) -> c_int {
    guard(-1, || {
        let r = call_real!(
            real::UNSHARE,
            unsafe extern "C" fn(c_int) -> c_int,
            {
                set_errno(libc::ENOSYS);
                -1
            },
            (flags)
        );
        if r == 0 && flags & libc::CLONE_NEWIPC != 0 {
            bump();
        }
        r
    })
}

/// `int setns(int fd, int nstype)`: any successful call that may have entered an IPC
/// namespace (`nstype` 0, or with `CLONE_NEWIPC`; a pidfd with several types) counts.
///
/// # Safety
/// Callable from C like glibc's `setns`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn setns(fd: c_int, nstype: c_int) -> c_int {
    guard(-1, || {
        let r = call_real!(
            real::SETNS,
            unsafe extern "C" fn(c_int, c_int) -> c_int,
            {
                set_errno(libc::ENOSYS);
                -1
            },
            (fd, nstype)
        );
        if r == 0 && setns_may_move(nstype) {
            bump();
        }
        r
    })
}

type ChildFn = unsafe extern "C" fn(*mut c_void) -> c_int;
type CloneFn = unsafe extern "C" fn(
    Option<ChildFn>,
    *mut c_void,
    c_int,
    *mut c_void,
    *mut c_void,
    *mut c_void,
    *mut c_void,
) -> c_int;

/// The first function a `clone` child in a new IPC namespace runs: it reads the program's
/// function and argument from the top of its own stack, where the parent put them, bumps
/// its epoch, and runs the function. Two loads, one thread-local add, one call: no
/// allocation, a few bytes of stack.
unsafe extern "C" fn child_trampoline(pair: *mut c_void) -> c_int {
    // SAFETY: `pair` is the two words the parent wrote at the top of this child's stack
    // (in a child without CLONE_VM, in its copy of the parent's memory).
    let [f, arg] = unsafe { pair.cast::<[usize; 2]>().read() };
    bump();
    // SAFETY: `f` is the non-null `int (*)(void *)` the program passed to clone.
    let f: ChildFn = unsafe { std::mem::transmute::<usize, ChildFn>(f) };
    // SAFETY: the program's own child function with its own argument.
    unsafe { f(arg as *mut c_void) }
}

/// glibc's `clone(fn, stack, flags, arg, ...)`: the variadic `ptid`, `tls`, `ctid` are read
/// as three pointers (registers r8, r9 and the first stack slot), as glibc's own `clone`
/// reads them, and passed on as they are.
///
/// A child that may be in a new IPC namespace (`CLONE_NEWIPC`) starts with
/// [`child_trampoline`]: the program's `fn` and `arg` are written in the 16 bytes at the top
/// of the child's stack (which the child owns), and the stack the real `clone` gets starts
/// below them. Not with `CLONE_SETTLS`: such a child has thread-local storage of its own
/// (fresh, so its cache is empty anyway; or not glibc's at all, where the trampoline must
/// not touch it). When the child shares this thread's memory and thread-local storage
/// (`CLONE_VM` without `CLONE_SETTLS`: a `posix_spawn`-like child, which may have changed
/// the shared cache), the parent reads its namespace again too. Under the native backend
/// the call goes through untouched.
unsafe fn do_clone(
    f: Option<ChildFn>,
    stack: *mut c_void,
    flags: c_int,
    arg: *mut c_void,
    ptid: *mut c_void,
    tls: *mut c_void,
    ctid: *mut c_void,
) -> c_int {
    let real = |f: Option<ChildFn>, stack: *mut c_void, arg: *mut c_void| {
        call_real!(
            real::CLONE,
            CloneFn,
            {
                set_errno(libc::ENOSYS);
                -1
            },
            (f, stack, flags, arg, ptid, tls, ctid)
        )
    };
    let top = (stack as usize & !15).wrapping_sub(16);
    if flags & libc::CLONE_NEWIPC == 0
        || flags & libc::CLONE_SETTLS != 0
        || f.is_none()
        || (stack as usize) < 4096 + 16
        || crate::backend::is_native()
    {
        return real(f, stack, arg);
    }
    let pair = top as *mut [usize; 2];
    // SAFETY: the 16 bytes below the top of the child's stack, which the program gave to
    // the child (it will use them as its stack in any case); 16-aligned.
    unsafe { pair.write([f.map_or(0, |f| f as usize), arg as usize]) };
    let r = real(Some(child_trampoline), pair.cast(), pair.cast());
    if r > 0 && flags & libc::CLONE_VM != 0 {
        bump();
    }
    r
}

/// `int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)`
///
/// # Safety
/// Callable from C like glibc's `clone`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn clone(
    f: Option<ChildFn>,
    stack: *mut c_void,
    flags: c_int,
    arg: *mut c_void,
    ptid: *mut c_void,
    tls: *mut c_void,
    ctid: *mut c_void,
) -> c_int {
    // The child never comes back through here: glibc's clone runs the child's function
    // and exits.
    // SAFETY: the caller's arguments, passed on.
    guard(-1, || unsafe {
        do_clone(f, stack, flags, arg, ptid, tls, ctid)
    })
}

/// `int __clone(...)`: glibc exports `clone` under this name too.
///
/// # Safety
/// As for [`clone`].
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __clone(
    f: Option<ChildFn>,
    stack: *mut c_void,
    flags: c_int,
    arg: *mut c_void,
    ptid: *mut c_void,
    tls: *mut c_void,
    ctid: *mut c_void,
) -> c_int {
    // The child never comes back through here: glibc's clone runs the child's function
    // and exits.
    // SAFETY: the caller's arguments, passed on.
    guard(-1, || unsafe {
        do_clone(f, stack, flags, arg, ptid, tls, ctid)
    })
}

/// After `syscall(n, a1, a2, ...)` returned `r` for one of the system calls that change
/// namespace (`SYS_unshare`, `SYS_setns`, `SYS_clone`, `SYS_clone3`): bumps the epoch if
/// this thread (parent or child) may now be in another IPC namespace. A `clone` child
/// returns here too (it is forked, on a copy of the stack).
pub fn after_syscall(n: c_long, a1: c_long, a2: c_long, r: c_long) {
    let moved = match n {
        libc::SYS_unshare => r == 0 && a1 as c_int & libc::CLONE_NEWIPC != 0,
        libc::SYS_setns => r == 0 && setns_may_move(a2 as c_int),
        // The child (0) in a new namespace; the parent of a child that shared its
        // thread-local storage.
        libc::SYS_clone => {
            let f = a1 as c_int;
            let vm_shared = f & libc::CLONE_VM != 0 && f & libc::CLONE_SETTLS == 0;
            f & libc::CLONE_NEWIPC != 0 && (r == 0 || (r > 0 && vm_shared))
        }
        // The flags are in a struct: any child, and any parent, reads its namespace again.
        libc::SYS_clone3 => r >= 0,
        _ => false,
    };
    if moved {
        bump();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msgq_user::StoreOptions;

    #[test]
    fn the_main_threads_namespace_is_the_threads() {
        // Run from the test harness's thread, which shares the main thread's namespace.
        assert_eq!(main_ns(), Some(thread_ns()));
    }

    fn mem(_: NsKey) -> Result<Store, StoreError> {
        Store::in_memory(&StoreOptions::default())
    }

    /// The table tests one at a time (a sweep in one would unmap another's idle entries).
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A key no real namespace has (nsfs is never device u64::MAX).
    fn fake(ino: u64) -> NsKey {
        NsKey { dev: u64::MAX, ino }
    }

    #[test]
    fn entries_are_shared_and_unmapped_when_unused() {
        let _serial = serial();
        let k = fake(1);
        let a = acquire(k, mem).unwrap();
        let b = acquire(k, |_| panic!("opened twice")).unwrap();
        assert!(ptr::eq(a, b));
        assert_eq!(a.refs.load(Relaxed), 2);
        assert!(listed(a));
        release(b);
        assert!(listed(a), "still referenced");
        // SAFETY: a reference is held.
        assert_eq!(unsafe { a.store() }.msgget(0, 0o1000 | 0o600), Ok(0));
        release(a);
        assert_eq!(a.refs.load(Relaxed), DEAD);
        assert!(!listed(a));
        assert!(!try_ref(a), "a dead entry is never revived");
        let c = acquire(k, mem).unwrap();
        assert!(!ptr::eq(a, c), "opened again");
        release(c);
        assert!(!listed(c));
    }

    #[test]
    fn the_main_threads_namespace_stays_mapped_while_idle() {
        let _serial = serial();
        let k = main_ns().expect("/proc/self/ns/ipc");
        let e = acquire(k, mem).unwrap();
        release(e);
        assert_eq!(e.refs.load(Relaxed), 0);
        sweep(None);
        assert!(listed(e), "kept while the main thread is in its namespace");
        let again = acquire(k, |_| panic!("opened twice")).unwrap();
        assert!(ptr::eq(e, again), "an idle entry is found again");
        again.refs.fetch_sub(1, Release);
        assert!(reap(e));
    }

    #[test]
    fn sweep_unmaps_idle_entries_of_other_namespaces() {
        let _serial = serial();
        let (k1, k2) = (fake(2), fake(3));
        let e1 = acquire(k1, mem).unwrap();
        let e2 = acquire(k2, mem).unwrap();
        // Left idle as if kept for the main thread, which has since moved.
        e1.refs.fetch_sub(1, Release);
        e2.refs.fetch_sub(1, Release);
        sweep(Some(k2));
        assert_eq!(e1.refs.load(Relaxed), DEAD);
        assert!(listed(e2), "the kept namespace stays");
        sweep(None);
        assert_eq!(e2.refs.load(Relaxed), DEAD);
    }

    #[test]
    fn racing_threads_never_use_an_unmapped_store() {
        let _serial = serial();
        let keys = [fake(10), fake(11), fake(12)];
        let threads: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        let k = keys[(i + t) % keys.len()];
                        let e = acquire(k, mem).unwrap();
                        assert_eq!(e.key, k);
                        // SAFETY: a reference is held.
                        assert!(unsafe { e.store() }.info(false).is_ok());
                        release(e);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        for (_, e) in entries() {
            assert!(!keys.contains(&e.key), "every entry was unmapped");
        }
    }

    #[test]
    fn the_trampoline_bumps_then_runs_the_programs_function() {
        unsafe extern "C" fn child(arg: *mut c_void) -> c_int {
            EPOCH.with(|e| e.load(Relaxed)) as c_int * 1000 + arg as c_int
        }
        let before = EPOCH.with(|e| e.load(Relaxed)) as c_int;
        let mut pair = [child as *const () as usize, 7];
        // SAFETY: the pair as `clone` would leave it.
        let r = unsafe { child_trampoline(pair.as_mut_ptr().cast()) };
        assert_eq!(r, (before + 1) * 1000 + 7);
    }

    #[test]
    fn setns_types() {
        assert!(setns_may_move(0));
        assert!(setns_may_move(libc::CLONE_NEWIPC));
        assert!(setns_may_move(libc::CLONE_NEWIPC | libc::CLONE_NEWNET));
        assert!(!setns_may_move(libc::CLONE_NEWNET));
    }

    #[test]
    fn syscalls_that_move() {
        let e = || EPOCH.with(|e| e.load(Relaxed));
        let before = e();
        after_syscall(libc::SYS_unshare, libc::CLONE_NEWNS as c_long, 0, 0);
        after_syscall(libc::SYS_unshare, libc::CLONE_NEWIPC as c_long, 0, -1);
        after_syscall(libc::SYS_setns, 3, libc::CLONE_NEWNET as c_long, 0);
        after_syscall(libc::SYS_clone, libc::CLONE_NEWIPC as c_long, 0, 1234);
        after_syscall(libc::SYS_getpid, 0, 0, 0);
        assert_eq!(e(), before);
        after_syscall(libc::SYS_unshare, libc::CLONE_NEWIPC as c_long, 0, 0);
        after_syscall(libc::SYS_setns, 3, 0, 0);
        after_syscall(libc::SYS_clone, libc::CLONE_NEWIPC as c_long, 0, 0);
        let vm = (libc::CLONE_NEWIPC | libc::CLONE_VM) as c_long;
        after_syscall(libc::SYS_clone, vm, 0, 1234);
        assert_eq!(e(), before + 4);
    }
}
