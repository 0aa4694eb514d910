//! `kmod_fuzz`'s differential phase (root only): one process makes the same random sequence
//! of hostile, non-blocking calls against the guest kernel's own queues (raw system calls, in
//! a fresh IPC namespace) and against `/dev/msgq` (after `MSGQ_RESET`), one call at a time,
//! and every pair of results must be equal: the return value or errno, and the bytes written
//! to the caller's buffer (receive and stat buffers; the three time fields are masked).
//!
//! Each backend has its own scratch arena of the same layout, so a pointer of a given kind
//! (good, straddling the guard page, read-only, unmapped, kernel, ...) is the same place in
//! both; after each call the touched range is copied from the native arena to the module's,
//! so the next call starts from equal memory. Single-threaded and seeded: a difference is
//! reported with its call number and replays exactly with `--seed`.

use crate::errnames::{ename, errno};
use crate::gen::{edgy, Arena, Rng};
use crate::kmod::Kmod;
use msgq_core::abi::*;
use msgq_tests::procs::{fork_with_pipe, read_all, reap, write_fd};

/// One call with all of its arguments (addresses as made by the native arena).
#[derive(Clone, Copy, Debug)]
enum Call {
    Get(i32, i32),
    Snd(i32, u64, u64, i32),
    Rcv(i32, u64, u64, i64, i32),
    Ctl(i32, i32, u64),
    /// A limit write (`MSGQ_SYSCTL` index; native: `/proc/sys/kernel/<name>`), as root only.
    Limit(u32, i64),
}

/// The `/proc/sys/kernel` file of each `MSGQ_SYSCTL` index the differential phase writes.
const LIMIT_FILES: [&str; 4] = ["msgmax", "msgmnb", "msgmni", "msg_next_id"];

/// Writes a limit the way `sysctl -w` does; 0 or the errno of `open` or `write`.
fn write_limit(which: u32, value: i64) -> R {
    use std::io::Write;
    let path = format!("/proc/sys/kernel/{}", LIMIT_FILES[which as usize]);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| e.raw_os_error().unwrap_or(0))?;
    f.write_all(format!("{value}\n").as_bytes())
        .map(|()| 0)
        .map_err(|e| e.raw_os_error().unwrap_or(0))
}

type R = Result<i64, i32>;

fn sys(r: i64) -> R {
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

fn native(c: Call) -> R {
    if let Call::Limit(which, value) = c {
        return write_limit(which, value);
    }
    // SAFETY: every address comes from the native arena: inside its scratch area (followed
    // by a guard page) or not writable at all; the kernel checks the rest.
    sys(unsafe {
        match c {
            Call::Get(k, f) => libc::syscall(libc::SYS_msgget, k, f),
            Call::Snd(id, p, sz, f) => libc::syscall(libc::SYS_msgsnd, id, p, sz, f),
            Call::Rcv(id, p, sz, t, f) => libc::syscall(libc::SYS_msgrcv, id, p, sz, t, f),
            Call::Ctl(id, cmd, p) => libc::syscall(libc::SYS_msgctl, id, cmd, p),
            Call::Limit(..) => 0,
        }
    })
}

fn module(dev: &Kmod, c: Call) -> R {
    match c {
        Call::Get(k, f) => dev.msgget(k, f).map(i64::from),
        Call::Snd(id, p, sz, f) => dev.msgsnd(id, p as *const _, sz as usize, f).map(|()| 0),
        Call::Rcv(id, p, sz, t, f) => dev
            .msgrcv(id, p as *mut _, sz as usize, t, f)
            .map(|n| n as i64),
        Call::Ctl(id, cmd, p) => dev.msgctl(id, cmd, p as *mut _).map(i64::from),
        Call::Limit(which, value) => dev.sysctl(which, Some(value)).map(|_| 0),
    }
}

/// The buffer a call writes, and how many bytes of it to compare.
fn written(c: Call, r: R) -> Option<(u64, usize)> {
    match (c, r) {
        (Call::Rcv(_, p, _, _, _), Ok(n)) => Some((p, 8 + n as usize)),
        (Call::Ctl(_, cmd, p), Ok(_)) if cmd != IPC_RMID && cmd != IPC_SET => Some((p, 120)),
        _ => None,
    }
}

/// Stat buffers: zero the three times (native and module calls may straddle a second).
fn mask_times(c: Call, b: &mut [u8]) {
    if let Call::Ctl(_, IPC_STAT | MSG_STAT | MSG_STAT_ANY, _) = c {
        for x in b.iter_mut().take(72).skip(48) {
            *x = 0;
        }
    }
}

struct Gen {
    rng: Rng,
    keys: [i32; 4],
    ids: Vec<i32>,
    /// Whether limit writes are made (root's half only: the files are root's).
    limits: bool,
}

impl Gen {
    fn id(&mut self) -> i32 {
        match self.rng.below(10) {
            0..=7 if !self.ids.is_empty() => self.rng.pick(&self.ids),
            8 => edgy(&mut self.rng) as i32,
            _ => self.rng.below(8) as i32,
        }
    }

    fn size(&mut self) -> u64 {
        match self.rng.below(10) {
            0..=6 => self.rng.below(200),
            7 | 8 => self.rng.below(8194),
            _ => edgy(&mut self.rng),
        }
    }

    /// A call and the bytes to put at its buffer first (in both arenas).
    /// A limit write; accepted values stay small (a huge msgmax would let one msgsnd of an
    /// edge size allocate gigabytes on both sides).
    fn limit(&mut self) -> Call {
        let which = self.rng.below(4) as u32;
        let values: &[i64] = match which {
            0 => &[-1, 0, 1, 100, 4096, 8192, 65536, 1 << 31, i64::MAX],
            1 => &[-1, 0, 10, 200, 16384, 1 << 20, 1 << 31],
            2 => &[-1, 0, 1, 3, 32000, 32768, 32769],
            _ => &[-1, 0, 5, 32768 * 2 + 3, i32::MAX as i64, 1 << 31],
        };
        Call::Limit(which, self.rng.pick(values))
    }

    fn call(&mut self, ar: &Arena) -> (Call, u64, Vec<u8>) {
        if self.limits && self.rng.pct(3) {
            return (self.limit(), 0, vec![]);
        }
        match self.rng.below(4) {
            0 => {
                let key = if self.rng.pct(80) {
                    self.rng.pick(&self.keys)
                } else {
                    {
                        let k = edgy(&mut self.rng) as i32;
                        self.rng.pick(&[IPC_PRIVATE, k])
                    }
                };
                let mut f = self.rng.below(0o4000) as i32;
                if self.rng.pct(10) {
                    f = self.rng.u32() as i32;
                }
                (Call::Get(key, f), 0, vec![])
            }
            1 => {
                let sz = self.size();
                let (p, _) = ar.ptr(&mut self.rng, 8usize.saturating_add(sz as usize));
                let mtype: i64 = if self.rng.pct(85) {
                    1 + self.rng.below(4) as i64
                } else {
                    edgy(&mut self.rng) as i64
                };
                let mut text = mtype.to_ne_bytes().to_vec();
                text.extend((0..sz.min(8200)).map(|i| i as u8));
                let f = self.rng.u32() as i32 & !0o170000 | IPC_NOWAIT;
                (Call::Snd(self.id(), p, sz, f), p, text)
            }
            2 => {
                let sz = self.size();
                let (p, _) = ar.ptr(&mut self.rng, 8usize.saturating_add(sz as usize));
                let t = if self.rng.pct(70) {
                    self.rng.below(7) as i64 - 3
                } else {
                    edgy(&mut self.rng) as i64
                };
                let mut f = IPC_NOWAIT;
                for b in [MSG_NOERROR, MSG_EXCEPT, MSG_COPY] {
                    if self.rng.pct(25) {
                        f |= b;
                    }
                }
                (Call::Rcv(self.id(), p, sz, t, f), p, vec![])
            }
            _ => {
                let cmd = if self.rng.pct(85) {
                    self.rng.pick(&[0, 1, 2, 3, 11, 12, 13])
                } else {
                    edgy(&mut self.rng) as i32
                };
                let id = if matches!(cmd, MSG_STAT | MSG_STAT_ANY) && self.rng.pct(60) {
                    self.rng.below(8) as i32
                } else {
                    self.id()
                };
                let (p, _) = ar.ptr(&mut self.rng, 120);
                let mut ds = MsqidDs::default();
                ds.msg_perm.uid = self.rng.pick(&[0, 1000, u32::MAX]);
                ds.msg_perm.gid = self.rng.pick(&[0, 1000, u32::MAX]);
                let any = self.rng.u32();
                ds.msg_perm.mode = self.rng.pick(&[0o600, 0o000, 0o7777, any]);
                ds.msg_qbytes = self.rng.pick(&[0, 5, 200, 16384, 16385, 1 << 20]);
                (Call::Ctl(id, cmd, p), p, ds.as_bytes().to_vec())
            }
        }
    }
}

/// What the differential phase found.
pub struct Outcome {
    /// Calls whose results were equal.
    pub same: u64,
    /// The calls that differed.
    pub diffs: Vec<String>,
    /// The native results: (call kind, errno name or OK) and how often.
    pub results: std::collections::BTreeMap<String, u64>,
}

/// The uid the second half of the calls is made as (queues made by root, mostly 0600).
const OTHER: u32 = 2000;

/// Runs `calls` calls, one at a time on both sides: the first half as root, the second half
/// in a child that switched to uid and gid 2000 (so permission errors meet bad arguments).
pub fn run(dev: &Kmod, seed: u64, calls: u64) -> Outcome {
    // SAFETY: no pointers; the controller has no other threads yet.
    let r = unsafe { libc::unshare(libc::CLONE_NEWIPC) };
    if r != 0 {
        return Outcome::failed(format!("unshare(CLONE_NEWIPC): {}", ename(errno())));
    }
    if let Err(e) = dev.reset() {
        return Outcome::failed(format!("MSGQ_RESET: {}", ename(e)));
    }
    let mut st = State {
        an: Arena::new(),
        ak: Arena::new(),
        g: Gen {
            rng: Rng::new(seed ^ 0xd1ff),
            keys: [0x4446_0001, 0x4446_0002, 0x4446_0003, 0x4446_0004],
            ids: Vec::new(),
            limits: true,
        },
        out: Outcome {
            same: 0,
            diffs: Vec::new(),
            results: Default::default(),
        },
    };
    for i in 0..calls / 2 {
        st.step(dev, i, "root");
    }
    let (pid, fd) = fork_with_pipe(|w| {
        // SAFETY: plain system calls on this (child) process's credentials.
        let dropped = unsafe {
            libc::setgroups(0, std::ptr::null()) == 0
                && libc::setresgid(OTHER, OTHER, OTHER) == 0
                && libc::setresuid(OTHER, OTHER, OTHER) == 0
        };
        st.g.limits = false;
        if !dropped {
            st.out
                .diffs
                .push(format!("switching to uid {OTHER}: {}", ename(errno())));
        }
        for i in calls / 2..calls {
            st.step(dev, i, "uid 2000");
        }
        write_fd(w, &st.out.encode());
    });
    let text = read_all(fd);
    let mut out = Outcome::decode(&text);
    if let Some(how) = reap(pid) {
        out.diffs.push(format!("the uid {OTHER} child: {how}"));
    }
    // Leave both namespaces empty.
    let _ = dev.reset();
    out
}

/// Both arenas, the generator, and what was found so far.
struct State {
    an: Arena,
    ak: Arena,
    g: Gen,
    out: Outcome,
}

impl State {
    /// Call number `i` on both sides, compared.
    fn step(&mut self, dev: &Kmod, i: u64, who: &str) {
        let (an, ak, g) = (&self.an, &self.ak, &mut self.g);
        let (c, p, fill) = g.call(an);
        an.fill(p, &fill);
        ak.fill(an.translate(ak, p), &fill);
        let ck = match c {
            Call::Snd(id, p, sz, f) => Call::Snd(id, an.translate(ak, p), sz, f),
            Call::Rcv(id, p, sz, t, f) => Call::Rcv(id, an.translate(ak, p), sz, t, f),
            Call::Ctl(id, cmd, p) => Call::Ctl(id, cmd, an.translate(ak, p)),
            c => c,
        };
        let (rn, rk) = (native(c), module(dev, ck));
        let mut ok = rn == rk;
        let mut what = String::new();
        if let (true, Some((p, len))) = (ok, written(c, rn)) {
            let mut bn = an.read_clipped(p, len);
            let mut bk = ak.read_clipped(an.translate(ak, p), len);
            mask_times(c, &mut bn);
            mask_times(c, &mut bk);
            if let Some(at) = (0..bn.len().max(bk.len())).find(|&j| bn.get(j) != bk.get(j)) {
                ok = false;
                let part = |b: &[u8]| b[at.min(b.len())..(at + 16).min(b.len())].to_vec();
                let (n, k) = (part(&bn), part(&bk));
                what = format!(" (buffers differ from byte {at}: native {n:02x?}, kmod {k:02x?})");
            }
        }
        match (c, rn) {
            (Call::Get(..), Ok(id)) if !g.ids.contains(&(id as i32)) => {
                if g.ids.len() >= 8 {
                    let i = g.rng.below(8) as usize;
                    g.ids.swap_remove(i);
                }
                g.ids.push(id as i32);
            }
            (Call::Ctl(id, IPC_RMID, _), Ok(_)) => g.ids.retain(|&x| x != id),
            _ => {}
        }
        // The next call starts from equal memory.
        let touched = match c {
            Call::Snd(..) | Call::Get(..) | Call::Limit(..) => None,
            Call::Rcv(_, p, sz, _, _) => Some((p, 8usize.saturating_add(sz as usize).min(1 << 17))),
            Call::Ctl(_, _, p) => Some((p, 120)),
        };
        if let Some((p, len)) = touched {
            an.sync_to(ak, p, len);
        }
        let kind = format!("{c:?}");
        let kind = &kind[..kind.find('(').unwrap_or(kind.len())];
        let res = rn.err().map_or("OK".into(), ename);
        *self.out.results.entry(format!("{kind} {res}")).or_default() += 1;
        if ok {
            self.out.same += 1;
        } else {
            let show = |r: R| r.map_or_else(ename, |v| format!("Ok({v})"));
            let (n, k) = (show(rn), show(rk));
            self.out.diffs.push(format!(
                "call {i} ({who}) {c:x?}: native {n}, kmod {k}{what}"
            ));
        }
    }
}

impl Outcome {
    fn failed(why: String) -> Outcome {
        Outcome {
            same: 0,
            diffs: vec![why],
            results: Default::default(),
        }
    }

    /// Lines for the pipe from the child: `S n`, `D text`, `R name\tn`.
    fn encode(&self) -> String {
        let mut s = format!("S {}\n", self.same);
        for d in &self.diffs {
            s += &format!("D {}\n", d.replace('\n', " "));
        }
        for (k, n) in &self.results {
            s += &format!("R {k}\t{n}\n");
        }
        s
    }

    fn decode(text: &str) -> Outcome {
        let mut o = Outcome::failed(String::new());
        o.diffs.clear();
        let mut seen = false;
        for l in text.lines() {
            if let Some(n) = l.strip_prefix("S ") {
                o.same = n.parse().unwrap_or(0);
                seen = true;
            } else if let Some(d) = l.strip_prefix("D ") {
                o.diffs.push(d.to_string());
            } else if let Some((k, n)) = l.strip_prefix("R ").and_then(|r| r.split_once('\t')) {
                o.results.insert(k.to_string(), n.parse().unwrap_or(0));
            } else {
                o.diffs.push(format!("the child said: {l}"));
            }
        }
        if !seen {
            o.diffs.push("the child reported nothing".into());
        }
        o
    }
}
