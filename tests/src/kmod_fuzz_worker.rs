//! `kmod_fuzz`'s workers: what one worker process does, call by call, and the oracle each
//! result is held to (the errnos Linux allows per call, exact ones where the input decides).
//! Counters live in memory shared with the controller, so they survive a SIGKILL.

use crate::errnames::{ename, errno};
use crate::gen::{edgy, Arena, PtrKind, Rng};
use crate::kmod;
use msgq_core::abi::*;
use msgq_core::ioctl;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

pub const MAXW: usize = 16;
pub const NERR: usize = 160;

/// The kinds of call, each with the errnos Linux allows for it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum K {
    Get,
    Snd,
    Rcv,
    Ctl,
    Sysctl,
    Watch,
    Reset,
    Unknown,
    Poll,
    Open,
}
pub const KINDS: [K; 10] = [
    K::Get,
    K::Snd,
    K::Rcv,
    K::Ctl,
    K::Sysctl,
    K::Watch,
    K::Reset,
    K::Unknown,
    K::Poll,
    K::Open,
];

pub fn allowed(k: K) -> &'static [i32] {
    use libc::*;
    match k {
        K::Get => &[EACCES, EEXIST, ENOENT, ENOSPC, ENOMEM, EFAULT, EPROTO],
        K::Snd => &[EACCES, EAGAIN, EFAULT, EIDRM, EINTR, EINVAL, ENOMEM, EPROTO],
        K::Rcv => &[
            E2BIG, EACCES, EFAULT, EIDRM, EINTR, EINVAL, ENOMSG, ENOMEM, EPROTO,
        ],
        K::Ctl => &[EACCES, EFAULT, EIDRM, EINVAL, EPERM, EPROTO],
        K::Sysctl => &[EFAULT, EINVAL, EPERM, EPROTO],
        K::Watch => &[EACCES, EFAULT, EINVAL, EPROTO],
        K::Reset => &[EFAULT, EPERM, EPROTO],
        K::Unknown => &[ENOTTY],
        K::Poll => &[EINTR],
        K::Open => &[ENOMEM, EMFILE, ENFILE],
    }
}

/// One worker's counters, in memory shared by all processes (they survive SIGKILL).
#[repr(C)]
pub struct Slot {
    pub heartbeat: AtomicU64,
    pub signals: AtomicU64,
    pub calls: [AtomicU64; KINDS.len()],
    pub bad: [AtomicU64; KINDS.len()],
    pub errnos: [AtomicU64; NERR],
}

#[repr(C)]
pub struct Shared {
    pub stop: AtomicU64,
    pub slots: [Slot; MAXW],
}

pub fn shared() -> &'static Shared {
    // SAFETY: a fresh anonymous shared mapping; all-zero bytes are valid atomics.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            std::mem::size_of::<Shared>(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert!(p != libc::MAP_FAILED, "mmap shared");
    // SAFETY: the mapping is large enough, page-aligned, zeroed, and never unmapped.
    unsafe { &*(p as *const Shared) }
}

/// The current worker's signal counter (null in the controller).
pub static SIGCOUNT: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());

extern "C" fn on_signal(_: i32) {
    let p = SIGCOUNT.load(Relaxed);
    if !p.is_null() {
        // SAFETY: `p` points into the shared mapping, which is never unmapped; an atomic
        // increment is async-signal-safe.
        unsafe { (*p).fetch_add(1, Relaxed) };
    }
}

pub fn install_handlers(restart: bool) {
    for sig in [libc::SIGUSR1, libc::SIGALRM] {
        // SAFETY: a zeroed sigaction is a valid start; the handler is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = if restart { libc::SA_RESTART } else { 0 };
            assert_eq!(libc::sigaction(sig, &sa, std::ptr::null_mut()), 0);
        }
    }
}

/// Arms (`ms > 0`) or disarms a repeating SIGALRM, so that no blocking call outlives it.
pub fn timer(ms: u64) {
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: (ms * 1000) as libc::suseconds_t,
    };
    let it = libc::itimerval {
        it_interval: tv,
        it_value: tv,
    };
    // SAFETY: valid itimerval; no old value requested.
    unsafe { libc::setitimer(libc::ITIMER_REAL, &it, std::ptr::null_mut()) };
}

/// A raw ioctl on `fd`.
pub fn raw(fd: i32, cmd: u32, arg: u64) -> Result<i64, i32> {
    // SAFETY: every `arg` the fuzzer passes comes from `Arena::ptr*`: it points into the
    // worker's own scratch area (followed by a guard page) or cannot be written at all, so the
    // module can only write where the fuzzer allows.
    let r = unsafe { libc::ioctl(fd, cmd as libc::c_ulong, arg) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(i64::from(r))
    }
}

/// Struct bytes, for writing an ioctl argument into the scratch area.
pub fn bytes<T: Copy>(v: &T) -> Vec<u8> {
    // SAFETY: the ioctl structs are repr(C) integers with every padding byte a named field, so
    // all of their bytes are initialised.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
        .to_vec()
}

pub struct Worker {
    w: usize,
    seed: u64,
    rng: Rng,
    dev: kmod::Kmod,
    ar: Arena,
    slot: &'static Slot,
    root: bool,
    euid: u32,
    keys: Vec<i32>,
    ids: Vec<i32>,
    msgmax: usize,
    reported: u32,
}

/// What a call should have returned.
pub enum Want {
    /// Any success (checked by the closure) or an allowed errno.
    Any(fn(i64) -> bool),
    /// Exactly this errno.
    Errno(i32),
}

pub fn nonneg(r: i64) -> bool {
    r >= 0
}
pub fn zero(r: i64) -> bool {
    r == 0
}

impl Worker {
    fn check(&mut self, k: K, r: Result<i64, i32>, want: Want, what: &dyn Fn() -> String) {
        let i = k as usize;
        self.slot.heartbeat.fetch_add(1, Relaxed);
        self.slot.calls[i].fetch_add(1, Relaxed);
        let e = r.err().unwrap_or(0);
        self.slot.errnos[(e.max(0) as usize).min(NERR - 1)].fetch_add(1, Relaxed);
        let ok = match (&want, r) {
            (Want::Any(f), Ok(v)) => f(v),
            (Want::Any(_), Err(e)) => allowed(k).contains(&e),
            (Want::Errno(x), Err(e)) => *x == e,
            (Want::Errno(_), Ok(_)) => false,
        };
        if !ok {
            self.slot.bad[i].fetch_add(1, Relaxed);
            if self.reported < 20 {
                self.reported += 1;
                let exp = match want {
                    Want::Errno(x) => ename(x),
                    Want::Any(_) => "an allowed result".into(),
                };
                let got = match r {
                    Ok(v) => format!("Ok({v})"),
                    Err(e) => ename(e),
                };
                println!(
                    "FAIL worker {} seed {:#x}: {:?} {}: got {got}, expected {exp}",
                    self.w,
                    self.seed,
                    k,
                    what()
                );
            }
        }
    }

    fn id(&mut self) -> i32 {
        match self.rng.below(10) {
            0..=6 if !self.ids.is_empty() => self.rng.pick(&self.ids),
            7 => (self.rng.below(4) as i32) << 15 | self.rng.below(16) as i32,
            8 => edgy(&mut self.rng) as i32,
            _ => self.rng.below(64) as i32,
        }
    }

    fn remember(&mut self, id: i32) {
        if !self.ids.contains(&id) {
            if self.ids.len() >= 16 {
                let i = self.rng.below(16) as usize;
                self.ids.swap_remove(i);
            }
            self.ids.push(id);
        }
    }

    fn size(&mut self) -> u64 {
        match self.rng.below(10) {
            0..=5 => self.rng.below(256),
            6 | 7 => self.rng.below(self.msgmax as u64 + 2),
            8 => self.msgmax as u64 + self.rng.below(3),
            // More than any msgmax (INT_MAX): EINVAL before any allocation.
            _ => self
                .rng
                .pick(&[1u64 << 31, u64::MAX, i64::MAX as u64, 1 << 40]),
        }
    }

    fn mtype(&mut self) -> i64 {
        match self.rng.below(8) {
            0..=5 => 1 + self.rng.below(5) as i64,
            _ => edgy(&mut self.rng) as i64,
        }
    }

    fn flags(&mut self, base: &[i32]) -> i32 {
        let mut f = 0;
        for &b in base {
            if self.rng.pct(40) {
                f |= b;
            }
        }
        if self.rng.pct(5) {
            f |= self.rng.u32() as i32;
        }
        f
    }

    fn get(&mut self) {
        let key = match self.rng.below(20) {
            0 => IPC_PRIVATE,
            1 => edgy(&mut self.rng) as i32,
            _ => self.rng.pick(&self.keys),
        };
        let mut flg = if self.rng.pct(70) { IPC_CREAT } else { 0 };
        if self.rng.pct(15) {
            flg |= IPC_EXCL;
        }
        flg |= if self.rng.pct(70) {
            0o600
        } else {
            self.rng.below(0o1000) as i32
        };
        if self.rng.pct(5) {
            flg |= self.rng.u32() as i32 & !(IPC_CREAT | IPC_EXCL);
        }
        let r = self.dev.msgget(key, flg).map(i64::from);
        if let Ok(id) = r {
            self.remember(id as i32);
        }
        self.check(K::Get, r, Want::Any(nonneg), &|| {
            format!("msgget({key:#x}, {flg:#o})")
        });
    }

    fn snd(&mut self) {
        let id = self.id();
        let sz = self.size();
        let (p, kind) = self
            .ar
            .ptr(&mut self.rng, 8usize.saturating_add(sz as usize));
        let mtype = self.mtype();
        self.ar.fill(p, &mtype.to_ne_bytes());
        let flg = if self.rng.pct(92) {
            IPC_NOWAIT
        } else {
            self.flags(&[IPC_NOWAIT, MSG_NOERROR])
        };
        let r = self.blocking(flg, |s| {
            s.dev
                .msgsnd(id, p as *const _, sz as usize, flg)
                .map(|()| 0)
        });
        // The mtype is read first: an address that faults is EFAULT, whatever else is wrong.
        let want = if kind.faults() {
            Want::Errno(libc::EFAULT)
        } else {
            Want::Any(zero)
        };
        self.check(K::Snd, r, want, &|| {
            format!("msgsnd({id}, {p:#x} {kind:?}, {sz}, {mtype}, {flg:#o})")
        });
    }

    fn rcv(&mut self) {
        let id = self.id();
        let sz = self.size();
        let (p, kind) = self
            .ar
            .ptr(&mut self.rng, 8usize.saturating_add(sz as usize));
        let typ = if self.rng.pct(60) {
            self.rng.below(7) as i64 - 3
        } else {
            edgy(&mut self.rng) as i64
        };
        let mut flg = self.flags(&[IPC_NOWAIT, MSG_NOERROR, MSG_EXCEPT, MSG_COPY]);
        if self.rng.pct(90) {
            flg |= IPC_NOWAIT;
        }
        let r = self.blocking(flg, |s| {
            s.dev
                .msgrcv(id, p as *mut _, sz as usize, typ, flg)
                .map(|n| n as i64)
        });
        self.check(
            K::Rcv,
            r.map(|n| if n as u64 <= sz { n } else { -1 }),
            Want::Any(nonneg),
            &|| format!("msgrcv({id}, {p:#x} {kind:?}, {sz}, {typ}, {flg:#o})"),
        );
    }

    /// Runs a call that may block under a repeating SIGALRM (unless it has IPC_NOWAIT).
    fn blocking(
        &mut self,
        flg: i32,
        f: impl FnOnce(&mut Self) -> Result<i64, i32>,
    ) -> Result<i64, i32> {
        let arm = flg & IPC_NOWAIT == 0;
        if arm {
            timer(5 + self.rng.below(25));
        }
        let r = f(self);
        if arm {
            timer(0);
        }
        r
    }

    /// A plausible, perturbed `msqid_ds` for IPC_SET.
    fn set_buf(&mut self) -> MsqidDs {
        let mut ds = MsqidDs::default();
        let ids = [self.euid, 0, 1000, 65534, u32::MAX];
        ds.msg_perm.uid = self.rng.pick(&ids);
        ds.msg_perm.gid = self.rng.pick(&ids);
        ds.msg_perm.mode = if self.rng.pct(70) {
            self.rng.pick(&[0o600, 0o666, 0o644, 0o000])
        } else {
            self.rng.u32()
        };
        ds.msg_qbytes = self
            .rng
            .pick(&[0, 1, 100, 8192, 16384, 16385, 1 << 20, u64::MAX]);
        if self.rng.pct(10) {
            ds.msg_qbytes = edgy(&mut self.rng);
        }
        ds
    }

    fn ctl(&mut self) {
        let cmd = match self.rng.below(12) {
            0..=1 => IPC_STAT,
            2 => IPC_SET,
            3 => IPC_RMID,
            4 => IPC_INFO,
            5 => MSG_INFO,
            6 | 7 => MSG_STAT,
            8 => MSG_STAT_ANY,
            9 => self.rng.pick(&[IPC_STAT, IPC_SET, IPC_INFO, MSG_STAT]) | 0x100,
            _ => edgy(&mut self.rng) as i32,
        };
        let id = if matches!(cmd, MSG_STAT | MSG_STAT_ANY) && self.rng.pct(70) {
            self.rng.below(24) as i32
        } else {
            self.id()
        };
        let (p, kind) = self.ar.ptr(&mut self.rng, std::mem::size_of::<MsqidDs>());
        if cmd & 0xff == IPC_SET {
            let ds = self.set_buf();
            self.ar.fill(p, &bytes(&ds));
        }
        let r = self.dev.msgctl(id, cmd, p as *mut _).map(i64::from);
        if cmd == IPC_RMID && r.is_ok() {
            self.ids.retain(|&x| x != id);
        }
        let ok: fn(i64) -> bool = match cmd {
            IPC_STAT | IPC_SET | IPC_RMID => zero,
            _ => nonneg,
        };
        // A successful stat into the scratch area: the mode holds permission bits only.
        if r.is_ok() && matches!(cmd, IPC_STAT | MSG_STAT | MSG_STAT_ANY) {
            if let Some(b) = self.ar.read(p, std::mem::size_of::<MsqidDs>()) {
                let ds = MsqidDs::from_bytes(&b).unwrap_or_default();
                if ds.msg_perm.mode & !0o777 != 0 {
                    self.check(K::Ctl, Ok(-1), Want::Any(nonneg), &|| {
                        format!("msgctl({id}, {cmd}) mode {:#o}", ds.msg_perm.mode)
                    });
                }
            }
        }
        self.check(K::Ctl, r, Want::Any(ok), &|| {
            format!("msgctl({id}, {cmd:#x}, {p:#x} {kind:?})")
        });
    }

    fn sysctl(&mut self) {
        let which = self.rng.below(7) as u32;
        let write = self.rng.pct(30);
        let value = match which {
            // Accepted values stay small: a huge msgmax would let one msgsnd allocate
            // gigabytes and wake the OOM killer (whose report counts as a kernel splat).
            0 => self
                .rng
                .pick(&[-1, 0, 1, 512, 8192, 16384, 65536, 1 << 31, i64::MAX]),
            1 => self.rng.pick(&[-1, 0, 1, 100, 16384, 1 << 20, 1 << 31]),
            2 => self.rng.pick(&[-1, 0, 1, 4, 16, 32000, 32768, 32769]),
            3 => self
                .rng
                .pick(&[-2, -1, 0, 5, 1 << 15, i32::MAX as i64, i64::MAX]),
            _ => edgy(&mut self.rng) as i64,
        };
        let r = if write {
            self.dev.sysctl(which, Some(value))
        } else {
            self.dev.sysctl(which, None)
        };
        if !write && which == 0 {
            if let Ok(v) = r {
                self.msgmax = v.clamp(0, 1 << 16) as usize;
            }
        }
        // 5..=7: the module's debug counters (docs/kmod.md, "Namespaces"): root only, read only.
        let counter = (5..=7).contains(&which);
        let want = if counter && !self.root {
            Want::Errno(libc::EPERM)
        } else if which > 4 && (write || !counter) {
            Want::Errno(libc::EINVAL)
        } else if write && !self.root {
            Want::Errno(libc::EPERM)
        } else {
            Want::Any(nonneg)
        };
        self.check(K::Sysctl, r.map(|_| 0), want, &|| {
            format!("sysctl({which}, write {write}, {value})")
        });
    }

    fn watch(&mut self) {
        let id = self.id();
        let typ = self.mtype();
        let flg = self.flags(&[MSG_EXCEPT, IPC_NOWAIT]);
        let sz = self.size();
        let r = self.dev.watch(id, typ, flg, sz as usize).map(|()| 0);
        self.check(K::Watch, r, Want::Any(zero), &|| {
            format!("watch({id}, {typ}, {flg:#o}, {sz})")
        });
        self.poll();
    }

    fn poll(&mut self) {
        let mut pfd = libc::pollfd {
            fd: self.dev.fd(),
            events: libc::POLLIN | libc::POLLOUT,
            revents: 0,
        };
        let ms = self.rng.below(4) as i32;
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        let r = if n < 0 {
            Err(errno())
        } else {
            Ok(i64::from(n))
        };
        let known = libc::POLLIN | libc::POLLRDNORM | libc::POLLOUT | libc::POLLWRNORM;
        let known = known | libc::POLLERR | libc::POLLHUP;
        let sane = pfd.revents & !known == 0;
        let r = r.map(|n| if sane && n <= 1 { n } else { -1 });
        let rev = pfd.revents;
        self.check(K::Poll, r, Want::Any(nonneg), &|| {
            format!("poll revents {rev:#x}")
        });
    }

    fn reset(&mut self) {
        let r = self.dev.reset().map(|()| 0);
        let want = if self.root {
            Want::Any(zero)
        } else {
            Want::Errno(libc::EPERM)
        };
        if r.is_ok() {
            self.ids.clear();
        }
        self.check(K::Reset, r, want, &|| "reset".into());
    }

    fn reopen(&mut self) {
        let r = kmod::Kmod::open();
        let res = r.as_ref().map(|_| 0).map_err(|&e| e);
        if let Ok(d) = r {
            self.dev = d;
        }
        self.check(K::Open, res, Want::Any(zero), &|| "open /dev/msgq".into());
    }

    /// An ioctl number that no layer handles: ENOTTY. Numbers the VFS itself handles for
    /// every file (types 0, 'T', 'X', 'f', 0x15, 0x94: FIONBIO, FIOCLEX, FIFREEZE, FICLONE...)
    /// are skipped.
    fn unknown_cmd(&mut self) -> u32 {
        let ours = [
            ioctl::MSGQ_GET,
            ioctl::MSGQ_SND,
            ioctl::MSGQ_RCV,
            ioctl::MSGQ_CTL,
            ioctl::MSGQ_SYSCTL,
            ioctl::MSGQ_WATCH,
            ioctl::MSGQ_RESET,
            ioctl::MSGQ_TIMEDSND,
            ioctl::MSGQ_TIMEDRCV,
            ioctl::MSGQ_PURGE,
            ioctl::MSGQ_ABORT,
        ];
        loop {
            let c = match self.rng.below(3) {
                // Ours with another size or direction.
                0 => {
                    let c = self.rng.pick(&ours);
                    c ^ (1 << (16 + self.rng.below(16)))
                }
                // Type 'Q', any number.
                1 => (self.rng.u32() & 0xffff_00ff) | ioctl::TYPE << 8,
                _ => self.rng.u32(),
            };
            let ty = (c >> 8) & 0xff;
            if !ours.contains(&c) && ![0, 0x15, 0x54, 0x58, 0x66, 0x94].contains(&ty) {
                return c;
            }
        }
    }

    /// Raw ioctls: unknown numbers, bad argument addresses, wrong versions, garbage structs.
    fn raw(&mut self) {
        let fd = self.dev.fd();
        let known = [
            (ioctl::MSGQ_GET, K::Get, 16),
            (ioctl::MSGQ_SND, K::Snd, 32),
            (ioctl::MSGQ_RCV, K::Rcv, 40),
            (ioctl::MSGQ_CTL, K::Ctl, 24),
            (ioctl::MSGQ_SYSCTL, K::Sysctl, 24),
            (ioctl::MSGQ_WATCH, K::Watch, 32),
            (ioctl::MSGQ_RESET, K::Reset, 8),
        ];
        match self.rng.below(4) {
            0 => {
                let c = self.unknown_cmd();
                let (p, kind) = self.ar.ptr(&mut self.rng, 64);
                let r = raw(fd, c, p);
                self.check(K::Unknown, r, Want::Errno(libc::ENOTTY), &|| {
                    format!("ioctl({c:#x}, {p:#x} {kind:?})")
                });
            }
            1 => {
                // The struct itself cannot be read: EFAULT before anything else.
                let (c, k, len) = self.rng.pick(&known);
                let kind = if self.rng.pct(15) {
                    PtrKind::Straddle
                } else {
                    self.rng.pick(&crate::gen::FAULTING)
                };
                let mut p = self.ar.ptr_of(&mut self.rng, kind, len);
                if kind == PtrKind::Straddle {
                    // Cut the struct by at least one byte.
                    p = self.ar.ptr_of(&mut self.rng, kind, len - 1);
                }
                let r = raw(fd, c, p);
                self.check(k, r, Want::Errno(libc::EFAULT), &|| {
                    format!("ioctl({c:#x}, {p:#x} {kind:?})")
                });
            }
            _ => {
                // A struct of random bytes, with a version that is wrong or right.
                let (c, k, len) = self.rng.pick(&known);
                let (p, _) = {
                    let kind =
                        self.rng
                            .pick(&[PtrKind::Good, PtrKind::Misaligned, PtrKind::ReadOnly]);
                    (self.ar.ptr_of(&mut self.rng, kind, len), kind)
                };
                let mut v = self.garbage(c, len);
                let right = self.rng.pct(60);
                let version = if right {
                    ioctl::VERSION
                } else {
                    loop {
                        let x = edgy(&mut self.rng) as u32;
                        if x != ioctl::VERSION {
                            break x;
                        }
                    }
                };
                v[..4].copy_from_slice(&version.to_ne_bytes());
                self.ar.fill(p, &v);
                // The read-only page keeps what it has: only its version is known (zero).
                let ro = self.ar.read(p, len).is_none();
                let want = if !right || ro {
                    Want::Errno(libc::EPROTO)
                } else {
                    Want::Any(nonneg)
                };
                // `garbage` gives msgsnd and msgrcv IPC_NOWAIT: nothing here blocks.
                let r = raw(fd, c, p);
                if k == K::Reset && r.is_ok() {
                    self.ids.clear();
                }
                self.check(k, r, want, &|| format!("ioctl({c:#x}) garbage {v:02x?}"));
            }
        }
    }

    /// Random struct bytes for command `c`, with every address field from the arena and the
    /// values that could exhaust the guest's memory (as root) tamed.
    fn garbage(&mut self, c: u32, len: usize) -> Vec<u8> {
        let mut v: Vec<u8> = (0..len).map(|_| self.rng.u32() as u8).collect();
        let put =
            |v: &mut Vec<u8>, off: usize, x: u64| v[off..off + 8].copy_from_slice(&x.to_ne_bytes());
        let small = |r: &mut Rng| (r.below(7) as i32 - 3) as u32;
        match c {
            ioctl::MSGQ_GET => {}
            ioctl::MSGQ_SND | ioctl::MSGQ_RCV => {
                let sz = self.size();
                let (p, _) = self.ar.ptr(&mut self.rng, 8 + sz as usize);
                put(&mut v, 16, p);
                put(&mut v, 24, sz);
                // Random flags (bytes 8..12), always with IPC_NOWAIT: nothing blocks.
                let f = self.rng.u32() as i32 | IPC_NOWAIT;
                v[8..12].copy_from_slice(&f.to_ne_bytes());
                let id = self.id();
                v[4..8].copy_from_slice(&id.to_ne_bytes());
            }
            ioctl::MSGQ_CTL => {
                let (p, _) = self.ar.ptr(&mut self.rng, 120);
                self.ar.scribble(&mut self.rng, p, 120);
                put(&mut v, 16, p);
                let cmd = if self.rng.pct(50) {
                    small(&mut self.rng) as i32 + 3
                } else {
                    self.rng.u32() as i32
                };
                v[8..12].copy_from_slice(&cmd.to_ne_bytes());
            }
            ioctl::MSGQ_SYSCTL => {
                // As root a write of a random value could set msgmax to gigabytes.
                if self.root {
                    v[8..12].copy_from_slice(&0u32.to_ne_bytes());
                }
                v[4..8].copy_from_slice(&small(&mut self.rng).wrapping_add(3).to_ne_bytes());
            }
            ioctl::MSGQ_WATCH => {}
            _ => {
                // MSGQ_RESET as root would empty everything at every other call.
                if self.root && self.rng.pct(99) {
                    v[0..4].copy_from_slice(&0u32.to_ne_bytes());
                }
            }
        }
        v
    }

    /// A second thread blocks in msgrcv on this open file while this thread closes it and
    /// opens the device again; then a signal to that thread or the queue's removal (both, in
    /// a random order) ends the wait. The file is released only after the call returns.
    fn close_under_waiter(&mut self) {
        let Ok(id) = self.dev.msgget(IPC_PRIVATE, 0o600) else {
            return;
        };
        let fd = self.dev.fd();
        let (tx, rx) = std::sync::mpsc::channel();
        let h = std::thread::spawn(move || {
            // SAFETY: no arguments.
            let _ = tx.send(unsafe { libc::gettid() });
            let mut buf = [0u8; 8];
            let mut a = ioctl::MsgRcv {
                version: ioctl::VERSION,
                msqid: id,
                msgflg: MSG_NOERROR,
                pad: 0,
                msgp: buf.as_mut_ptr() as u64,
                msgsz: 0,
                msgtyp: 0,
            };
            raw(fd, ioctl::MSGQ_RCV, &mut a as *mut ioctl::MsgRcv as u64)
        });
        let tid = rx.recv().unwrap_or(0);
        // SAFETY: no arguments.
        let pid = unsafe { libc::getpid() };
        let blocked = msgq_tests::procs::wait_state(pid, tid, 'S', Duration::from_millis(500));
        self.reopen();
        let signal_first = self.rng.pct(50);
        if signal_first {
            // SAFETY: signals a thread of this process; the handler is installed.
            unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGUSR1) };
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = self.dev.msgctl(id, IPC_RMID, std::ptr::null_mut());
        let r = h.join().unwrap_or(Ok(-1));
        // Not yet in the call when the file was closed: EBADF is right then (counted as 0).
        let r = match r {
            Err(libc::EBADF) if !blocked => Ok(0),
            r => r,
        };
        self.check(K::Rcv, r, Want::Any(zero), &|| {
            format!("msgrcv blocked in another thread while its file was closed (signal first: {signal_first}, blocked: {blocked})")
        });
    }

    fn step(&mut self) {
        match self.rng.below(100) {
            0..=14 => self.get(),
            15..=34 => self.snd(),
            35..=54 => self.rcv(),
            55..=69 => self.ctl(),
            70..=74 => self.sysctl(),
            75..=79 => self.watch(),
            80..=81 => self.poll(),
            82 => {
                if !self.root || self.rng.pct(2) {
                    self.reset();
                }
            }
            83 => {
                if self.rng.pct(20) {
                    self.close_under_waiter();
                } else {
                    self.reopen();
                }
            }
            _ => self.raw(),
        }
    }
}

pub fn worker(w: usize, seed: u64, sh: &'static Shared, keys: Vec<i32>) {
    let slot = &sh.slots[w];
    SIGCOUNT.store(&slot.signals as *const AtomicU64 as *mut AtomicU64, Relaxed);
    let mut rng = Rng::new(seed);
    install_handlers(rng.pct(50));
    // SAFETY: no arguments.
    let euid = unsafe { libc::geteuid() };
    let dev = match kmod::Kmod::open() {
        Ok(d) => d,
        Err(e) => {
            println!("FAIL worker {w}: open /dev/msgq: {}", ename(e));
            return;
        }
    };
    let msgmax = dev.sysctl(0, None).unwrap_or(8192).clamp(0, 1 << 16) as usize;
    let mut me = Worker {
        w,
        seed,
        rng,
        dev,
        ar: Arena::new(),
        slot,
        root: euid == 0,
        euid,
        keys,
        ids: Vec::new(),
        msgmax,
        reported: 0,
    };
    while sh.stop.load(Relaxed) == 0 {
        me.step();
    }
}
