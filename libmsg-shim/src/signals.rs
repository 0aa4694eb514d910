//! Signal handlers: every handler a program installs tells the engine it ran, first.
//!
//! In Linux, a blocked `msgsnd`/`msgrcv` returns `EINTR` whenever a signal handler runs
//! while it waits, even with `SA_RESTART`. The userspace engine can only know that if the
//! handler calls [`msgq_user::interrupt::handler_ran`] (a handler that lands outside the
//! engine's `FUTEX_WAIT`, for example while the call waits for the store lock or spins,
//! interrupts no system call). So the shim exports `sigaction` (and `__sigaction`),
//! `signal` (and its aliases `bsd_signal`, `ssignal`), `sysv_signal` (and
//! `__sysv_signal`), `sigset` and `siginterrupt`. glibc's `signal`, `sysv_signal` and
//! `sigset` call glibc's internal `__sigaction`, not the exported one, so each is
//! reimplemented here exactly as glibc 2.36 does it, on top of the shim's `sigaction`.
//! `siginterrupt` is glibc's (it edits the installed action, trampoline or not); the shim
//! also remembers the choice, which `signal` consults for `SA_RESTART`.
//!
//! For a real handler (not `SIG_DFL` or `SIG_IGN`), the kernel gets [`trampoline`]
//! (`SA_SIGINFO`), with the program's mask and every other flag of the program's. The
//! trampoline calls `handler_ran()`, then the program's handler with one argument, or with
//! three if the program asked for `SA_SIGINFO` (passing the kernel's `siginfo_t` and
//! `ucontext_t` through, so a handler that edits the context still works). Query results
//! (`oldact`, `signal`'s return value) show the program's handler and flags, as without the
//! shim. After `SA_RESETHAND` has reset a handler, the kernel has `SIG_DFL` with the flags
//! it was installed with: the shim removes the `SA_SIGINFO` it added there too.
//!
//! A delivery that lands while the thread is inside an engine call (and is not one of the
//! synchronous signals) is recorded instead, and its handler runs when the call has
//! finished, before its result goes back to the program ([`run_deferred`], called from
//! `crate::engine_call`): the engine is not re-entrant, and Linux too runs a handler on
//! the way back from the system call it interrupted.
//!
//! Not wrapped: `SIG_DFL`, `SIG_IGN`, the signals that cannot be caught or that glibc
//! keeps for itself (`SIGKILL`, `SIGSTOP`, 32, 33: the real call refuses them), handlers
//! that live in the shim itself (the engine's `SIGSEGV`/`SIGBUS` fault guard in
//! `msgq_user::sys::usermem`, which installs itself with `sigaction`, hence with this one),
//! and every handler when the process's backend is `native` (the shim is then transparent).
//!
//! The per-signal state is in atomics. The trampoline reads the handler and its arity
//! under a sequence lock (it can only wait for a writer on another thread that is between
//! two stores); writers (the exported functions) are serialised by one spin lock taken with
//! every signal blocked in the calling thread, so a handler never waits for a writer it
//! interrupted, and `sigaction` stays async-signal-safe, as POSIX requires. A handler
//! change racing a delivery runs either the old or the new handler, each with its own
//! arity. A child forked while a parent's thread held the lock takes it over.

use crate::real::{self, call_real};
use crate::{guard, set_errno};
use libc::{c_int, c_void, sigaction as SigAction, sighandler_t, siginfo_t};
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{
    compiler_fence, fence, AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize,
};

/// glibc's `NSIG`: signals are 1..NSIG.
const NSIG: c_int = 65;

/// One signal's state.
struct Slot {
    /// Sequence lock over `handler` and `siginfo` (odd while a writer changes them).
    seq: AtomicU32,
    /// The program's handler that the trampoline calls for this signal.
    handler: AtomicUsize,
    /// Whether the program asked for `SA_SIGINFO` (three arguments).
    siginfo: AtomicBool,
    /// The program's `sa_flags` with that handler (read by the trampoline under `seq` too).
    flags: AtomicI32,
    /// The program's `sa_mask` with that handler: bit `s - 1` for signal `s`.
    mask: AtomicU64,
    /// Whether the last action set through the shim for this signal was the trampoline.
    wrapped: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    seq: AtomicU32::new(0),
    handler: AtomicUsize::new(0),
    siginfo: AtomicBool::new(false),
    flags: AtomicI32::new(0),
    mask: AtomicU64::new(0),
    wrapped: AtomicBool::new(false),
};

static SLOTS: [Slot; NSIG as usize] = [EMPTY; NSIG as usize];

/// What a writer saw in a slot before changing it (read under the writers' lock).
#[derive(Clone, Copy)]
struct Snapshot {
    handler: usize,
    flags: c_int,
    mask: u64,
    wrapped: bool,
}

/// What the trampoline reads for a delivery: the action the program installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Action {
    handler: usize,
    /// Whether the handler takes three arguments (`SA_SIGINFO`).
    siginfo: bool,
    flags: c_int,
    /// `sa_mask`, bit `s - 1` for signal `s`.
    mask: u64,
}

impl Slot {
    /// The handler, its arity, flags and mask, consistent with each other (for the
    /// trampoline).
    fn read(&self) -> Action {
        let load = || Action {
            handler: self.handler.load(Relaxed),
            siginfo: self.siginfo.load(Relaxed),
            flags: self.flags.load(Relaxed),
            mask: self.mask.load(Relaxed),
        };
        let mut spins = 0u32;
        loop {
            let s1 = self.seq.load(Acquire);
            if s1 & 1 == 0 {
                let a = load();
                fence(Acquire);
                if self.seq.load(Relaxed) == s1 {
                    return a;
                }
            }
            // A writer on another thread is between two stores, or (in a child forked
            // while a parent's thread was there) never will finish: then either handler
            // goes (its arity may be the other's, which the x86-64 calling convention
            // makes harmless).
            backoff(&mut spins);
            if spins & 63 == 0 && writer_is_stale() {
                return load();
            }
        }
    }

    /// Under the writers' lock.
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            handler: self.handler.load(Relaxed),
            flags: self.flags.load(Relaxed),
            mask: self.mask.load(Relaxed),
            wrapped: self.wrapped.load(Relaxed),
        }
    }

    /// Under the writers' lock: the handler the trampoline calls from now on.
    fn set(&self, s: Snapshot) {
        let seq = self.seq.load(Relaxed);
        self.seq.store(seq.wrapping_add(1), Relaxed);
        fence(Release);
        self.handler.store(s.handler, Relaxed);
        self.siginfo.store(s.flags & libc::SA_SIGINFO != 0, Relaxed);
        self.flags.store(s.flags, Relaxed);
        self.mask.store(s.mask, Relaxed);
        self.wrapped.store(s.wrapped, Relaxed);
        self.seq.store(seq.wrapping_add(2), Release);
    }
}

/// One round of waiting for another thread: a pause, and every 64 rounds a `sched_yield`
/// (async-signal-safe; it never fails, so `errno` is kept).
fn backoff(spins: &mut u32) {
    *spins = spins.wrapping_add(1);
    if *spins & 63 == 0 {
        // SAFETY: sched_yield has no preconditions.
        unsafe { libc::sched_yield() };
    } else {
        std::hint::spin_loop();
    }
}

/// The handler the kernel runs for every wrapped signal.
///
/// It calls `handler_ran()`, then the program's handler, or, if the thread is inside an
/// engine call and the signal is asynchronous, records the delivery for
/// [`run_deferred`] instead (see [`defer`]).
///
/// `C-unwind`: a C++ handler that throws (with `-fnon-call-exceptions`) unwinds through
/// it as it would through the kernel's signal frame; `siglongjmp` out of a handler skips
/// it harmlessly (it owns nothing to drop). Nothing in it can panic.
unsafe extern "C-unwind" fn trampoline(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    msgq_user::interrupt::handler_ran();
    let Some(slot) = usize::try_from(sig).ok().and_then(|i| SLOTS.get(i)) else {
        return;
    };
    let a = slot.read();
    if a.handler == libc::SIG_DFL || a.handler == libc::SIG_IGN {
        // Never stored for a wrapped signal; nothing sensible to call.
        return;
    }
    if crate::in_engine() && !synchronous(sig) && defer(sig, a, info) {
        return;
    }
    // SAFETY: the kernel's arguments, for the handler the program installed.
    unsafe { invoke(sig, a, info, ctx) }
}

/// Calls the program's handler `a` with one argument, or with three if it asked for
/// `SA_SIGINFO`.
///
/// # Safety
/// `a` was read from the slot of `sig`; `info` and `ctx` are what the handler may see (a
/// `siginfo_t` for `sig`, a context or null).
unsafe fn invoke(sig: c_int, a: Action, info: *mut siginfo_t, ctx: *mut c_void) {
    if a.siginfo {
        // SAFETY: `a.handler` is the address the program installed with SA_SIGINFO, a
        // `void (*)(int, siginfo_t *, void *)`.
        let f = unsafe {
            std::mem::transmute::<
                usize,
                unsafe extern "C-unwind" fn(c_int, *mut siginfo_t, *mut c_void),
            >(a.handler)
        };
        // SAFETY: a call of the program's handler as the kernel would make it.
        unsafe { f(sig, info, ctx) }
    } else {
        // SAFETY: `a.handler` is the address the program installed without SA_SIGINFO, a
        // `void (*)(int)`.
        let f =
            unsafe { std::mem::transmute::<usize, unsafe extern "C-unwind" fn(c_int)>(a.handler) };
        // SAFETY: as above.
        unsafe { f(sig) }
    }
}

/// Signals the kernel raises for the instruction that runs: their handlers run at once,
/// deferred or not (the instruction would fault again).
fn synchronous(sig: c_int) -> bool {
    matches!(
        sig,
        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP | libc::SIGSYS
    )
}

/// A delivery recorded while the thread was inside an engine call.
#[derive(Clone, Copy)]
struct Deferred {
    sig: c_int,
    action: Action,
    /// A copy of the kernel's `siginfo_t` (zeroed if it passed none).
    info: MaybeUninit<siginfo_t>,
}

/// How many deliveries a thread can hold back during one engine call. Past that, a handler
/// runs at once (as before the deferral: an engine call it makes fails with `EDEADLK`).
const DEFER_CAP: usize = 16;

/// One thread's deferred deliveries, `len` of them, oldest first.
///
/// Written by the trampoline, on the thread itself, while it is inside an engine call: a
/// delivery takes its index with one atomic `fetch_add` (not interruptible), so one that
/// interrupts another's recording takes the next index, and has finished (written its
/// entry) before the interrupted one goes on. Read and emptied by [`run_deferred`], outside
/// any handler of this thread and with every signal blocked. Const-initialised, no
/// destructor: safe to touch from a signal handler.
struct DeferQueue {
    len: AtomicUsize,
    items: UnsafeCell<[Deferred; DEFER_CAP]>,
}

thread_local! {
    static DEFERRED: DeferQueue = const {
        DeferQueue {
            len: AtomicUsize::new(0),
            items: UnsafeCell::new(
                [Deferred {
                    sig: 0,
                    action: Action { handler: 0, siginfo: false, flags: 0, mask: 0 },
                    info: MaybeUninit::uninit(),
                }; DEFER_CAP],
            ),
        }
    };
}

/// Whether this thread has no deferred delivery.
pub(crate) fn deferred_is_empty() -> bool {
    DEFERRED.with(|q| q.len.load(Relaxed) == 0)
}

/// Records a delivery of `sig` (whose action is `a`) to run when the engine call ends.
/// A standard signal already recorded is not recorded again (it coalesces, as a pending
/// standard signal does in the kernel); a real-time one queues. `false` if the queue is
/// full: the caller runs the handler at once.
fn defer(sig: c_int, a: Action, info: *const siginfo_t) -> bool {
    DEFERRED.with(|q| {
        let items = q.items.get();
        // The kernel's SIGRTMIN (32); glibc keeps 32 and 33 for itself.
        if sig < 32 {
            let n = q.len.load(Relaxed).min(DEFER_CAP);
            // SAFETY: entries below `len` are written (or being written by a delivery this
            // one interrupted: its `sig` is then either the old or the new value, both
            // plain ints); only this thread touches the queue.
            if (0..n).any(|i| unsafe { (*items)[i].sig } == sig) {
                return true;
            }
        }
        let i = q.len.fetch_add(1, Relaxed);
        if i >= DEFER_CAP {
            q.len.fetch_sub(1, Relaxed);
            return false;
        }
        let mut d = Deferred {
            sig,
            action: a,
            info: MaybeUninit::zeroed(),
        };
        if !info.is_null() {
            // SAFETY: the kernel's siginfo_t for this delivery.
            d.info = MaybeUninit::new(unsafe { std::ptr::read(info) });
        }
        // SAFETY: index `i` was reserved for this delivery alone (see `DeferQueue`).
        unsafe { (*items)[i] = d };
        compiler_fence(SeqCst);
        true
    })
}

/// Runs the deferred handlers of this thread, oldest first, each with the mask the kernel
/// would have applied (the mask at the end of the call, plus the action's `sa_mask`, plus
/// the signal itself unless `SA_NODEFER`), its recorded `siginfo_t` and a null context.
/// Every signal is blocked between handlers; `after_block` runs once they are first
/// blocked. The engine-call depth is already 0 when a handler runs: a signal arriving then
/// is handled at once, and the handler's own message calls work.
///
/// A handler that `siglongjmp`s out leaves the rest queued, to run at the end of this
/// thread's next engine call (the mask is then the one `sigsetjmp` saved, as for a
/// handler the kernel ran).
pub(crate) fn run_deferred(after_block: impl FnOnce()) {
    let saved = block_all();
    after_block();
    while let Some(mut d) = pop_deferred() {
        let mut mask = saved;
        for s in 1..NSIG {
            if d.action.mask & (1u64 << (s - 1)) != 0 {
                // SAFETY: a valid set; glibc refuses (EINVAL) the signals it keeps.
                unsafe { libc::sigaddset(&mut mask, s) };
            }
        }
        if d.action.flags & libc::SA_NODEFER == 0 {
            // SAFETY: as above.
            unsafe { libc::sigaddset(&mut mask, d.sig) };
        }
        // SAFETY: a valid set; the handler runs with the mask the kernel would give it.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &mask, std::ptr::null_mut()) };
        // SAFETY: the action recorded for this delivery, its siginfo copy (zeroed or the
        // kernel's), no context. Nothing here has a destructor, so a handler that
        // siglongjmps out skips only plain frames.
        unsafe { invoke(d.sig, d.action, d.info.as_mut_ptr(), std::ptr::null_mut()) };
        block_all();
    }
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &saved, std::ptr::null_mut()) };
}

/// Takes the oldest deferred delivery (with every signal blocked in this thread).
fn pop_deferred() -> Option<Deferred> {
    DEFERRED.with(|q| {
        let n = q.len.load(Relaxed).min(DEFER_CAP);
        if n == 0 {
            return None;
        }
        let items = q.items.get();
        // SAFETY: every signal is blocked, so no trampoline of this thread touches the
        // queue; entries below `n` are written.
        let d = unsafe {
            let d = (*items)[0];
            (*items).copy_within(1..n, 0);
            d
        };
        q.len.store(n - 1, Relaxed);
        Some(d)
    })
}

/// The signals in `set`, bit `s - 1` for signal `s`.
fn mask_bits(set: &libc::sigset_t) -> u64 {
    (1..NSIG)
        // SAFETY: a valid set and an in-range signal.
        .filter(|&s| unsafe { libc::sigismember(set, s) } == 1)
        .fold(0, |m, s| m | 1u64 << (s - 1))
}

fn trampoline_addr() -> usize {
    trampoline as *const () as usize
}

/// The address range of the shim's own loaded segments: `[lo, hi)`, found once.
static SHIM_LO: AtomicUsize = AtomicUsize::new(0);
static SHIM_HI: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn find_self(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    _data: *mut c_void,
) -> c_int {
    // SAFETY: dl_iterate_phdr passes a valid `dl_phdr_info` whose `dlpi_phdr` points at
    // `dlpi_phnum` program headers, for the duration of the callback.
    let (base, phdrs) = unsafe {
        let i = &*info;
        if i.dlpi_phdr.is_null() {
            return 0;
        }
        (
            i.dlpi_addr as usize,
            std::slice::from_raw_parts(i.dlpi_phdr, i.dlpi_phnum as usize),
        )
    };
    let (mut lo, mut hi) = (usize::MAX, 0usize);
    for p in phdrs.iter().filter(|p| p.p_type == libc::PT_LOAD) {
        let start = base.wrapping_add(p.p_vaddr as usize);
        lo = lo.min(start);
        hi = hi.max(start.wrapping_add(p.p_memsz as usize));
    }
    let me = trampoline_addr();
    if lo <= me && me < hi {
        SHIM_LO.store(lo, Relaxed);
        SHIM_HI.store(hi, Release);
        return 1;
    }
    0
}

/// Finds the shim's address range (from the library's constructor, and lazily).
pub fn resolve_self() {
    if SHIM_HI.load(Acquire) != 0 {
        return;
    }
    // SAFETY: the callback only reads the headers it is given.
    unsafe { libc::dl_iterate_phdr(Some(find_self), std::ptr::null_mut()) };
}

/// Whether `h` is code of the shim itself (the engine's fault guard, the trampoline).
fn in_shim(h: usize) -> bool {
    resolve_self();
    let hi = SHIM_HI.load(Acquire);
    hi != 0 && SHIM_LO.load(Relaxed) <= h && h < hi
}

/// Signals for which `siginterrupt(sig, 1)` is in force (bit `sig - 1`), as glibc's
/// hidden `_sigintr`, which `signal` consults for `SA_RESTART`.
static SIGINTR: AtomicU64 = AtomicU64::new(0);

/// The writers' lock: the pid of its holder, or 0. A holder whose pid is not ours was a
/// thread of the parent this process was forked from: its lock is stale and is taken over.
static WRITER: AtomicI32 = AtomicI32::new(0);

/// Whether the writers' lock is held by a thread of another process (the parent this one
/// was forked from, while the lock was held there).
fn writer_is_stale() -> bool {
    let owner = WRITER.load(Relaxed);
    // SAFETY: getpid has no preconditions (async-signal-safe).
    owner != 0 && owner != unsafe { libc::getpid() }
}

/// Blocks every signal in this thread; returns the mask it had. Async-signal-safe.
fn block_all() -> libc::sigset_t {
    let mut all = empty_set();
    let mut old = empty_set();
    // SAFETY: valid sets; sigfillset and pthread_sigmask write only the sets given.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
    }
    old
}

/// Runs `f` with every signal blocked in this thread and the writers' lock held.
fn locked<R>(f: impl FnOnce() -> R) -> R {
    struct Unlock(libc::sigset_t);
    impl Drop for Unlock {
        fn drop(&mut self) {
            WRITER.store(0, Release);
            // SAFETY: restores the mask saved below.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
        }
    }
    let saved = block_all();
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let mut spins = 0u32;
    loop {
        match WRITER.compare_exchange(0, me, Acquire, Relaxed) {
            Ok(_) => break,
            Err(owner) if owner != me => {
                if WRITER.compare_exchange(owner, me, Acquire, Relaxed).is_ok() {
                    // Left by a thread of the parent: even out a sequence it left odd.
                    for s in &SLOTS {
                        let seq = s.seq.load(Relaxed);
                        if seq & 1 != 0 {
                            s.seq.store(seq.wrapping_add(1), Release);
                        }
                    }
                    break;
                }
            }
            Err(_) => {
                // Another thread of this process, running with its signals blocked, for
                // the length of one sigaction call.
                backoff(&mut spins);
            }
        }
    }
    let _unlock = Unlock(saved);
    f()
}

/// glibc's real `sigaction`.
fn real_sigaction(sig: c_int, act: *const SigAction, oact: *mut SigAction) -> c_int {
    call_real!(
        real::SIGACTION,
        unsafe extern "C" fn(c_int, *const SigAction, *mut SigAction) -> c_int,
        {
            set_errno(libc::ENOSYS);
            -1
        },
        (sig, act, oact)
    )
}

/// Turns what the kernel reports into what the program installed, given the slot as it
/// was when the kernel's action was read.
fn show(before: Snapshot, o: &mut SigAction) {
    if o.sa_sigaction == trampoline_addr() {
        o.sa_sigaction = before.handler;
        if before.flags & libc::SA_SIGINFO == 0 {
            o.sa_flags &= !libc::SA_SIGINFO;
        }
    } else if o.sa_sigaction == libc::SIG_DFL
        && before.wrapped
        && before.flags & libc::SA_RESETHAND != 0
        && before.flags & libc::SA_SIGINFO == 0
    {
        // SA_RESETHAND reset it: the kernel keeps the flags the trampoline had.
        o.sa_flags &= !libc::SA_SIGINFO;
    }
}

/// Whether a handler the program installs for `sig` goes through the trampoline.
fn wraps(sig: c_int, handler: sighandler_t) -> bool {
    handler != libc::SIG_DFL
        && handler != libc::SIG_IGN
        && !matches!(sig, libc::SIGKILL | libc::SIGSTOP | 32 | 33)
        && !in_shim(handler)
        && !crate::backend::is_native()
}

/// The shim's `sigaction`.
///
/// # Safety
/// `act` and `oact` as for `sigaction(2)`.
unsafe fn do_sigaction(sig: c_int, act: *const SigAction, oact: *mut SigAction) -> c_int {
    if !(1..NSIG).contains(&sig) {
        return real_sigaction(sig, act, oact);
    }
    let slot = &SLOTS[sig as usize];
    // Read the caller's `act` here and write its `oact` after the lock (with the caller's
    // signals unblocked again), as glibc does: a bad pointer faults in the caller's
    // context, where its own SIGSEGV handler can see it.
    // SAFETY: the caller's `act`, if not null.
    let a: Option<SigAction> = (!act.is_null()).then(|| unsafe { std::ptr::read(act) });
    let wrap = a.is_some_and(|a| wraps(sig, a.sa_sigaction));
    // SAFETY: a zeroed sigaction is valid.
    let mut old: SigAction = unsafe { std::mem::zeroed() };
    let r = locked(|| {
        let before = slot.snapshot();
        let r = match a {
            None => real_sigaction(sig, std::ptr::null(), &mut old),
            Some(a) if wrap => {
                slot.set(Snapshot {
                    handler: a.sa_sigaction,
                    flags: a.sa_flags,
                    mask: mask_bits(&a.sa_mask),
                    wrapped: true,
                });
                let mut k = a;
                k.sa_sigaction = trampoline_addr();
                k.sa_flags |= libc::SA_SIGINFO;
                let r = real_sigaction(sig, &k, &mut old);
                if r != 0 {
                    slot.set(before);
                }
                r
            }
            Some(a) => {
                let r = real_sigaction(sig, &a, &mut old);
                if r == 0 {
                    // The trampoline is no longer installed (a delivery already under way
                    // still finds the handler it was for).
                    slot.wrapped.store(false, Relaxed);
                }
                r
            }
        };
        if r == 0 {
            show(before, &mut old);
        }
        r
    });
    if r == 0 && !oact.is_null() {
        // SAFETY: the caller's `oact`.
        unsafe { std::ptr::write(oact, old) };
    }
    r
}

/// `int sigaction(int, const struct sigaction *, struct sigaction *)`
///
/// # Safety
/// Callable from C like glibc's `sigaction` (also from a signal handler).
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn sigaction(
    sig: c_int,
    act: *const SigAction,
    oact: *mut SigAction,
) -> c_int {
    // SAFETY: the caller's pointers, passed on.
    guard(-1, || unsafe { do_sigaction(sig, act, oact) })
}

/// `int __sigaction(int, const struct sigaction *, struct sigaction *)` (exported by glibc
/// as the same function).
///
/// # Safety
/// As for [`sigaction`].
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __sigaction(
    sig: c_int,
    act: *const SigAction,
    oact: *mut SigAction,
) -> c_int {
    // SAFETY: the caller's pointers, passed on.
    guard(-1, || unsafe { do_sigaction(sig, act, oact) })
}

const SIG_ERR: sighandler_t = !0;
const SIG_HOLD: sighandler_t = 2;

fn empty_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    unsafe {
        let mut s: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut s);
        s
    }
}

/// Installs `handler` with `mask` and `flags` through the shim's `sigaction`: the old
/// handler, or `None` (errno set).
fn install(
    sig: c_int,
    handler: sighandler_t,
    mask: libc::sigset_t,
    flags: c_int,
) -> Option<sighandler_t> {
    // SAFETY: a zeroed sigaction is valid; the fields are then set.
    let mut act: SigAction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = handler;
    act.sa_mask = mask;
    act.sa_flags = flags;
    // SAFETY: as above.
    let mut oact: SigAction = unsafe { std::mem::zeroed() };
    // SAFETY: two valid structs of ours.
    if unsafe { do_sigaction(sig, &act, &mut oact) } < 0 {
        return None;
    }
    Some(oact.sa_sigaction)
}

/// glibc's `__bsd_signal` (`signal`, `bsd_signal`, `ssignal`): the signal itself masked
/// in its handler, `SA_RESTART` unless `siginterrupt(sig, 1)` is in force.
fn do_bsd_signal(sig: c_int, handler: sighandler_t) -> sighandler_t {
    if handler == SIG_ERR || !(1..NSIG).contains(&sig) || matches!(sig, 32 | 33) {
        set_errno(libc::EINVAL);
        return SIG_ERR;
    }
    let mut mask = empty_set();
    // SAFETY: a valid set and an in-range signal.
    unsafe { libc::sigaddset(&mut mask, sig) };
    let interrupt = SIGINTR.load(Relaxed) & (1u64 << (sig - 1)) != 0;
    install(
        sig,
        handler,
        mask,
        if interrupt { 0 } else { libc::SA_RESTART },
    )
    .unwrap_or(SIG_ERR)
}

macro_rules! bsd_signal {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        ///
        /// # Safety
        /// Callable from C like glibc's `signal`.
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C" fn $name(sig: c_int, handler: sighandler_t) -> sighandler_t {
            guard(SIG_ERR, || do_bsd_signal(sig, handler))
        }
    )*};
}

bsd_signal! {
    /// `sighandler_t signal(int, sighandler_t)`
    signal;
    /// `sighandler_t bsd_signal(int, sighandler_t)`
    bsd_signal;
    /// `sighandler_t ssignal(int, sighandler_t)`
    ssignal;
}

/// glibc's `__sysv_signal`: reset to `SIG_DFL` on delivery, not masked, no `SA_RESTART`.
fn do_sysv_signal(sig: c_int, handler: sighandler_t) -> sighandler_t {
    if handler == SIG_ERR || !(1..NSIG).contains(&sig) {
        set_errno(libc::EINVAL);
        return SIG_ERR;
    }
    install(
        sig,
        handler,
        empty_set(),
        libc::SA_RESETHAND | libc::SA_NODEFER,
    )
    .unwrap_or(SIG_ERR)
}

/// `sighandler_t sysv_signal(int, sighandler_t)`
///
/// # Safety
/// Callable from C like glibc's `sysv_signal`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn sysv_signal(sig: c_int, handler: sighandler_t) -> sighandler_t {
    guard(SIG_ERR, || do_sysv_signal(sig, handler))
}

/// `sighandler_t __sysv_signal(int, sighandler_t)`
///
/// # Safety
/// As for [`sysv_signal`].
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn __sysv_signal(sig: c_int, handler: sighandler_t) -> sighandler_t {
    guard(SIG_ERR, || do_sysv_signal(sig, handler))
}

/// glibc's `sigset`: `SIG_HOLD` blocks the signal; anything else installs it (empty mask,
/// no flags) and unblocks it. Returns `SIG_HOLD` if the signal was blocked.
fn do_sigset(sig: c_int, disp: sighandler_t) -> sighandler_t {
    let mut set = empty_set();
    // SAFETY: a valid set; sigaddset checks the signal (EINVAL), as glibc's sigset does.
    if unsafe { libc::sigaddset(&mut set, sig) } < 0 {
        return SIG_ERR;
    }
    let mut old = empty_set();
    let is_held = |old: &libc::sigset_t| {
        // SAFETY: a valid set and a valid signal.
        unsafe { libc::sigismember(old, sig) == 1 }
    };
    if disp == SIG_HOLD {
        // SAFETY: valid sets.
        if unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old) } < 0 {
            return SIG_ERR;
        }
        if is_held(&old) {
            return SIG_HOLD;
        }
        // SAFETY: a zeroed sigaction is valid.
        let mut oact: SigAction = unsafe { std::mem::zeroed() };
        // SAFETY: a query into our struct.
        if unsafe { do_sigaction(sig, std::ptr::null(), &mut oact) } < 0 {
            return SIG_ERR;
        }
        return oact.sa_sigaction;
    }
    let Some(prev) = install(sig, disp, empty_set(), 0) else {
        return SIG_ERR;
    };
    // SAFETY: valid sets.
    if unsafe { libc::sigprocmask(libc::SIG_UNBLOCK, &set, &mut old) } < 0 {
        return SIG_ERR;
    }
    if is_held(&old) {
        SIG_HOLD
    } else {
        prev
    }
}

/// `sighandler_t sigset(int, sighandler_t)`
///
/// # Safety
/// Callable from C like glibc's `sigset`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn sigset(sig: c_int, disp: sighandler_t) -> sighandler_t {
    guard(SIG_ERR, || do_sigset(sig, disp))
}

/// `int siginterrupt(int, int)`: the real one (which changes `SA_RESTART` of the installed
/// action, trampoline or not), and the shim remembers the choice for its `signal`.
///
/// # Safety
/// Callable from C like glibc's `siginterrupt`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn siginterrupt(sig: c_int, interrupt: c_int) -> c_int {
    guard(-1, || {
        locked(|| {
            let r = call_real!(
                real::SIGINTERRUPT,
                unsafe extern "C" fn(c_int, c_int) -> c_int,
                {
                    set_errno(libc::ENOSYS);
                    -1
                },
                (sig, interrupt)
            );
            if r == 0 && (1..NSIG).contains(&sig) {
                let bit = 1u64 << (sig - 1);
                if interrupt != 0 {
                    SIGINTR.fetch_or(bit, Relaxed);
                } else {
                    SIGINTR.fetch_and(!bit, Relaxed);
                }
            }
            r
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_reads_what_was_set() {
        let s = &SLOTS[10];
        s.set(Snapshot {
            handler: 0x1234,
            flags: libc::SA_SIGINFO | libc::SA_RESTART,
            mask: 1 << 4,
            wrapped: true,
        });
        assert_eq!(
            s.read(),
            Action {
                handler: 0x1234,
                siginfo: true,
                flags: libc::SA_SIGINFO | libc::SA_RESTART,
                mask: 1 << 4,
            }
        );
        let snap = s.snapshot();
        assert_eq!(snap.flags, libc::SA_SIGINFO | libc::SA_RESTART);
        assert!(snap.wrapped);
        assert_eq!(s.seq.load(Relaxed) & 1, 0);
    }

    #[test]
    fn deferred_deliveries_coalesce_or_queue_and_come_out_in_order() {
        let a = Action {
            handler: 0x1000,
            siginfo: true,
            flags: 0,
            mask: 0,
        };
        // SAFETY: a zeroed siginfo_t is valid plain data.
        let mut info: siginfo_t = unsafe { std::mem::zeroed() };
        info.si_signo = libc::SIGALRM;
        assert!(deferred_is_empty());
        assert!(defer(libc::SIGALRM, a, &info));
        assert!(
            defer(libc::SIGALRM, a, &info),
            "a standard signal coalesces"
        );
        assert!(defer(40, a, std::ptr::null()));
        assert!(defer(40, a, std::ptr::null()), "a real-time signal queues");
        let order: Vec<c_int> = std::iter::from_fn(pop_deferred).map(|d| d.sig).collect();
        assert_eq!(order, [libc::SIGALRM, 40, 40]);
        assert!(deferred_is_empty());
        for _ in 0..DEFER_CAP {
            assert!(defer(41, a, std::ptr::null()));
        }
        assert!(
            !defer(41, a, std::ptr::null()),
            "full: the handler runs at once"
        );
        let first = pop_deferred().expect("an entry");
        // SAFETY: recorded without a siginfo: zeroed.
        assert_eq!(unsafe { first.info.assume_init() }.si_signo, 0);
        while pop_deferred().is_some() {}
        assert!(deferred_is_empty());
    }

    #[test]
    fn mask_bits_reads_a_sigset() {
        let mut set = empty_set();
        // SAFETY: a valid set and valid signals.
        unsafe {
            libc::sigaddset(&mut set, libc::SIGUSR1);
            libc::sigaddset(&mut set, 40);
        }
        assert_eq!(mask_bits(&set), 1 << (libc::SIGUSR1 - 1) | 1 << 39);
    }

    #[test]
    fn show_restores_the_programs_view() {
        let before = Snapshot {
            handler: 0x5678,
            flags: libc::SA_RESTART | libc::SA_RESETHAND,
            mask: 0,
            wrapped: true,
        };
        // SAFETY: zeroed sigactions are valid.
        let mut o: SigAction = unsafe { std::mem::zeroed() };
        o.sa_sigaction = trampoline_addr();
        o.sa_flags = libc::SA_RESTART | libc::SA_RESETHAND | libc::SA_SIGINFO | 0x0400_0000;
        show(before, &mut o);
        assert_eq!(o.sa_sigaction, 0x5678);
        assert_eq!(
            o.sa_flags,
            libc::SA_RESTART | libc::SA_RESETHAND | 0x0400_0000
        );
        // After the kernel's reset: SIG_DFL with the trampoline's flags.
        o.sa_sigaction = libc::SIG_DFL;
        o.sa_flags = libc::SA_RESTART | libc::SA_RESETHAND | libc::SA_SIGINFO;
        show(before, &mut o);
        assert_eq!(o.sa_sigaction, libc::SIG_DFL);
        assert_eq!(o.sa_flags, libc::SA_RESTART | libc::SA_RESETHAND);
    }
}
