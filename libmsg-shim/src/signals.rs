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
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{fence, AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize};

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
    /// The program's `sa_flags` with that handler.
    flags: AtomicI32,
    /// Whether the last action set through the shim for this signal was the trampoline.
    wrapped: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    seq: AtomicU32::new(0),
    handler: AtomicUsize::new(0),
    siginfo: AtomicBool::new(false),
    flags: AtomicI32::new(0),
    wrapped: AtomicBool::new(false),
};

static SLOTS: [Slot; NSIG as usize] = [EMPTY; NSIG as usize];

/// What a writer saw in a slot before changing it (read under the writers' lock).
#[derive(Clone, Copy)]
struct Snapshot {
    handler: usize,
    flags: c_int,
    wrapped: bool,
}

impl Slot {
    /// The handler and its arity, consistent with each other (for the trampoline).
    fn read(&self) -> (usize, bool) {
        let mut spins = 0u32;
        loop {
            let s1 = self.seq.load(Acquire);
            if s1 & 1 == 0 {
                let h = self.handler.load(Relaxed);
                let si = self.siginfo.load(Relaxed);
                fence(Acquire);
                if self.seq.load(Relaxed) == s1 {
                    return (h, si);
                }
            }
            // A writer on another thread is between two stores, or (in a child forked
            // while a parent's thread was there) never will finish: then either handler
            // goes (its arity may be the other's, which the x86-64 calling convention
            // makes harmless).
            backoff(&mut spins);
            if spins & 63 == 0 && writer_is_stale() {
                return (self.handler.load(Relaxed), self.siginfo.load(Relaxed));
            }
        }
    }

    /// Under the writers' lock.
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            handler: self.handler.load(Relaxed),
            flags: self.flags.load(Relaxed),
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
/// `C-unwind`: a C++ handler that throws (with `-fnon-call-exceptions`) unwinds through
/// it as it would through the kernel's signal frame; `siglongjmp` out of a handler skips
/// it harmlessly (it owns nothing to drop). Nothing in it can panic.
unsafe extern "C-unwind" fn trampoline(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    msgq_user::interrupt::handler_ran();
    let Some(slot) = usize::try_from(sig).ok().and_then(|i| SLOTS.get(i)) else {
        return;
    };
    let (h, siginfo) = slot.read();
    if h == libc::SIG_DFL || h == libc::SIG_IGN {
        // Never stored for a wrapped signal; nothing sensible to call.
        return;
    }
    if siginfo {
        // SAFETY: `h` is the address the program installed with SA_SIGINFO, a
        // `void (*)(int, siginfo_t *, void *)`; the arguments are the kernel's.
        let f = unsafe {
            std::mem::transmute::<
                usize,
                unsafe extern "C-unwind" fn(c_int, *mut siginfo_t, *mut c_void),
            >(h)
        };
        // SAFETY: a call of the program's handler as the kernel would make it.
        unsafe { f(sig, info, ctx) }
    } else {
        // SAFETY: `h` is the address the program installed without SA_SIGINFO, a
        // `void (*)(int)`.
        let f = unsafe { std::mem::transmute::<usize, unsafe extern "C-unwind" fn(c_int)>(h) };
        // SAFETY: as above.
        unsafe { f(sig) }
    }
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
    // SAFETY: sigset_t is plain data; sigfillset and pthread_sigmask write only the sets
    // given. pthread_sigmask is async-signal-safe.
    let saved = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        old
    };
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
            wrapped: true,
        });
        assert_eq!(s.read(), (0x1234, true));
        let snap = s.snapshot();
        assert_eq!(snap.flags, libc::SA_SIGINFO | libc::SA_RESTART);
        assert!(snap.wrapped);
        assert_eq!(s.seq.load(Relaxed) & 1, 0);
    }

    #[test]
    fn show_restores_the_programs_view() {
        let before = Snapshot {
            handler: 0x5678,
            flags: libc::SA_RESTART | libc::SA_RESETHAND,
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
