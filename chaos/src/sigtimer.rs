//! Timer signals aimed at blocked calls (`msgq-chaos timer`, issue 12 defect 3).
//!
//! Before each blocking `msgrcv`/`msgsnd` a worker arms a one-shot `ITIMER_REAL` with a
//! random delay (a few microseconds, to land in the call's start, registration and spin,
//! up to tens of milliseconds, to land in its sleep). The `SIGALRM` handler calls
//! [`msgq_user::interrupt::handler_ran`] first, as every handler must, then records, in
//! async-signal-safe atomics, whether it ran *inside* the call and in which state:
//!
//! * on the engine, built with `fault-injection`, the engine's phase hook
//!   ([`msgq_user::fault::on_phase`]) tells where the call is: started (its `Since` was
//!   taken), blocked (registered, spinning or asleep, or taking the lock again after a
//!   wake-up), looking (holding the lock again, deciding);
//! * on the kernel (and on an engine built without the feature), a handler ran inside the
//!   call only if it interrupted the system call: the saved context shows `-EINTR` in
//!   `rax` right after a `syscall` instruction (x86-64).
//!
//! The handler also counts how often the call went back to sleep afterwards (the phase
//! hook's `BeforeSleep`), and, the first time it runs inside a call, re-arms the timer as a
//! watchdog one second out: a second in-call handler means the call was still blocked a
//! second after a handler had run in it.
//!
//! What must hold (checked by the controller from the workers' `T` lines):
//! * after a handler that ran while the call was blocked, the call never sleeps again; after
//!   one that ran while it was started or looking, at most once (it may have passed its
//!   last look just before, and then notices at the top of the wait);
//! * a sender whose handler ran while blocked returns `EINTR` (or `EIDRM`), never success;
//! * no call needed the watchdog;
//! * on the kernel, a call whose system call was interrupted returned `EINTR`.
//!
//! A receiver that got a message handed over before its next look may return it (the
//! hand-off wins, in Linux as in the engine): counted as "completed first".

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};

/// Call states (`CALL`).
pub const IDLE: u32 = 0;
/// The worker is about to call (the engine has not taken its `Since` yet).
pub const ARMED: u32 = 1;
/// The engine's call started (phase `Start`): a handler from here on concerns it.
pub const STARTED: u32 = 2;
/// Registered as a waiter: about to sleep, asleep, or taking the lock again after a wake.
pub const BLOCKED: u32 = 3;
/// Holding the lock again after a wake-up, deciding.
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
pub const LOOKING: u32 = 4;

static CALL: AtomicU32 = AtomicU32::new(IDLE);
/// Whether the engine's phase hook classifies handlers (else the saved context does).
static HOOKS: AtomicBool = AtomicBool::new(false);
/// This call: handlers that ran inside it.
static IN_CALL: AtomicU32 = AtomicU32::new(0);
/// This call: the state of the first of them, and when it ran.
static FIRST_STATE: AtomicU32 = AtomicU32::new(0);
static FIRST_NS: AtomicU64 = AtomicU64::new(0);
/// This call: whether the first of them interrupted a system call (the futex wait).
static FIRST_SYSCALL: AtomicBool = AtomicBool::new(false);
/// This call: `BeforeSleep` phases after the first in-call handler.
static SLEEPS_AFTER: AtomicU32 = AtomicU32::new(0);
/// This call: the watchdog was armed, and handlers that ran while it was.
static WATCHDOG_ARMED: AtomicBool = AtomicBool::new(false);
static WATCHDOG: AtomicU32 = AtomicU32::new(0);

const WATCHDOG_SECS: i64 = 1;

fn mono_ns() -> u64 {
    msgq_user::sys::process::mono_ns()
}

fn set_timer(us: u64) {
    let it = libc::itimerval {
        it_interval: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        it_value: libc::timeval {
            tv_sec: (us / 1_000_000) as libc::time_t,
            tv_usec: (us % 1_000_000) as libc::suseconds_t,
        },
    };
    // SAFETY: valid itimerval; setitimer is async-signal-safe (used from the handler too).
    unsafe { libc::setitimer(libc::ITIMER_REAL, &it, std::ptr::null_mut()) };
}

/// Whether the interrupted context was a system call that the signal ended with `EINTR`.
#[cfg(target_arch = "x86_64")]
fn interrupted_syscall(ctx: *mut libc::c_void) -> bool {
    if ctx.is_null() {
        return false;
    }
    // SAFETY: the kernel passes a valid ucontext_t to an SA_SIGINFO handler.
    let g = unsafe { &(*ctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
    let rax = g[libc::REG_RAX as usize];
    let rip = g[libc::REG_RIP as usize] as u64;
    if rax != -(libc::EINTR as i64) || rip % 4096 < 2 {
        return false;
    }
    // SAFETY: `rip` is where the thread was executing, so its page is mapped; the two bytes
    // before it lie on the same page (checked above).
    let insn = unsafe { std::ptr::read_volatile((rip - 2) as *const [u8; 2]) };
    insn == [0x0f, 0x05]
}

#[cfg(not(target_arch = "x86_64"))]
fn interrupted_syscall(_: *mut libc::c_void) -> bool {
    false
}

extern "C" fn on_alarm(_: libc::c_int, _: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    msgq_user::interrupt::handler_ran();
    let st = CALL.load(SeqCst);
    if st == IDLE {
        return;
    }
    let sys = interrupted_syscall(ctx);
    let state = if HOOKS.load(SeqCst) {
        if st < STARTED {
            return;
        }
        st
    } else if sys {
        BLOCKED
    } else {
        return;
    };
    if IN_CALL.fetch_add(1, SeqCst) == 0 {
        FIRST_STATE.store(state, SeqCst);
        FIRST_NS.store(mono_ns(), SeqCst);
        FIRST_SYSCALL.store(sys, SeqCst);
    }
    if WATCHDOG_ARMED.swap(true, SeqCst) {
        WATCHDOG.fetch_add(1, SeqCst);
    } else {
        set_timer(WATCHDOG_SECS as u64 * 1_000_000);
    }
}

#[cfg(feature = "fault-injection")]
fn phase_hook(p: msgq_user::fault::Phase) {
    use msgq_user::fault::Phase;
    if CALL.load(SeqCst) == IDLE {
        return;
    }
    match p {
        Phase::Start => CALL.store(STARTED, SeqCst),
        Phase::BeforeSleep => {
            // Count first, then change state: a handler in between is classified by the
            // earlier state (which allows one more sleep), never as a false alarm.
            if IN_CALL.load(SeqCst) > 0 {
                SLEEPS_AFTER.fetch_add(1, SeqCst);
            }
            CALL.store(BLOCKED, SeqCst);
        }
        Phase::Locked => CALL.store(LOOKING, SeqCst),
        Phase::Relock | Phase::Swept => {}
    }
}

/// Installs the `SIGALRM` handler (with or without `SA_RESTART`: Linux gives `EINTR`
/// either way) and, on the engine with `fault-injection`, the phase hook. Returns whether
/// the hook classifies handlers.
pub fn install(restart: bool, engine: bool) -> bool {
    // SAFETY: a zeroed sigaction with a valid SA_SIGINFO handler that only touches atomics,
    // the engine's async-signal-safe handler_ran, clock_gettime and setitimer.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_alarm as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | if restart { libc::SA_RESTART } else { 0 };
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut());
        // Timers as exact as the kernel can make them (the default slack is 50 µs).
        libc::prctl(libc::PR_SET_TIMERSLACK, 1);
    }
    #[cfg(feature = "fault-injection")]
    if engine {
        msgq_user::fault::on_phase(Some(phase_hook));
        HOOKS.store(true, SeqCst);
    }
    #[cfg(not(feature = "fault-injection"))]
    let _ = engine;
    HOOKS.load(SeqCst)
}

/// What happened to one call.
#[derive(Clone, Copy, Debug, Default)]
pub struct CallRecord {
    pub in_call: u32,
    pub first_state: u32,
    pub first_syscall: bool,
    pub sleeps_after: u32,
    pub watchdog: u32,
    /// From the first in-call handler to the call's return.
    pub latency_ns: u64,
}

/// Arms the timer for a call (`delay_us == 0`: no timer) and marks the call as starting.
pub fn before_call(delay_us: u64) {
    IN_CALL.store(0, SeqCst);
    FIRST_STATE.store(0, SeqCst);
    FIRST_NS.store(0, SeqCst);
    FIRST_SYSCALL.store(false, SeqCst);
    SLEEPS_AFTER.store(0, SeqCst);
    WATCHDOG.store(0, SeqCst);
    WATCHDOG_ARMED.store(false, SeqCst);
    CALL.store(ARMED, SeqCst);
    if delay_us > 0 {
        set_timer(delay_us);
    }
}

/// Marks the call as over, disarms the timer, and returns its record.
pub fn after_call() -> CallRecord {
    let end = mono_ns();
    CALL.store(IDLE, SeqCst);
    set_timer(0);
    let first = FIRST_NS.load(SeqCst);
    CallRecord {
        in_call: IN_CALL.load(SeqCst),
        first_state: FIRST_STATE.load(SeqCst),
        first_syscall: FIRST_SYSCALL.load(SeqCst),
        sleeps_after: SLEEPS_AFTER.load(SeqCst),
        watchdog: WATCHDOG.load(SeqCst),
        latency_ns: if first == 0 {
            0
        } else {
            end.saturating_sub(first)
        },
    }
}

/// A random timer delay: 15 % none; else a few microseconds (the call's start,
/// registration and spin), up to 2 ms, or up to 30 ms (its sleep).
pub fn random_delay_us(r: &mut msgq_chaos::rng::Rng) -> u64 {
    match r.below(100) {
        0..=14 => 0,
        15..=54 => 1 + r.below(40),
        55..=79 => 40 + r.below(2000),
        _ => 2000 + r.below(28_000),
    }
}

/// The `T` line of a call: `T k errno in_call first_state first_syscall sleeps_after
/// watchdog latency_us` (errno 0: success).
pub fn line(k: u64, errno: i32, c: &CallRecord) -> String {
    format!(
        "T {k} {errno} {} {} {} {} {} {}\n",
        c.in_call,
        c.first_state,
        c.first_syscall as u8,
        c.sleeps_after,
        c.watchdog,
        c.latency_ns / 1000
    )
}
