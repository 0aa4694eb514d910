//! Where the module's 8-byte send+receive pair spends its time against native (issue 15's
//! speed part; docs/kmod.md, "Where the 8-byte pair's time goes"). Run in the test VM as
//! root (`make bench-guest-probe`): a set of small loops, each timed over `ITERS` calls,
//! the set run `ROUNDS` times in alternating order; per loop it prints the median of the
//! rounds' ns per call and the range. The loops peel the module's call apart: an ioctl the
//! module refuses at once (`ENOTTY`: system call, VFS, the misc device's Rust glue and the
//! namespace check), one refused after the struct copy (`EPROTO`), one refused after the
//! id look-up (`EINVAL`), a receive that finds nothing (`ENOMSG`), `IPC_STAT`, a limit
//! read, and the pair; native has the same loops where they exist. Timing uses the guest's
//! clock (boot it with the TSC trusted, as `make bench-guest` does), so under TCG only the
//! ratios mean something. No assertion on times: the program checks only that every call
//! gave the expected result, and prints `kmod_probe: N passed, N failed`.

use msgq_core::abi::{IPC_CREAT, IPC_NOWAIT, IPC_PRIVATE, IPC_RMID, IPC_STAT};
use msgq_core::ioctl;
use std::hint::black_box;
use std::time::Instant;

/// Calls a round and rounds, unless `--iters N` and `--rounds N` say otherwise; `--only TEXT`
/// runs only the loops whose name contains TEXT, `_` standing for a blank (for an
/// instruction profile of one loop
/// taken outside the guest, docs/kmod.md).
const ITERS: u32 = 20_000;
const ROUNDS: usize = 9;

fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[repr(C)]
struct Msg<const N: usize> {
    mtype: libc::c_long,
    text: [u8; N],
}

type Msg8 = Msg<8>;
type Msg64 = Msg<64>;

/// One open file of `/dev/msgq`.
struct Dev(libc::c_int);

impl Dev {
    fn ioctl<T>(&self, cmd: u32, arg: &mut T) -> i64 {
        // SAFETY: `arg` is a live, writable struct of the size the command names (or a
        // harmless one for commands the module refuses).
        let r = unsafe { libc::ioctl(self.0, cmd as _, arg as *mut T) };
        if r < 0 {
            -(errno() as i64)
        } else {
            r as i64
        }
    }
    fn msgget(&self) -> i32 {
        let mut a = ioctl::MsgGet {
            version: ioctl::VERSION,
            key: IPC_PRIVATE,
            msgflg: IPC_CREAT | 0o600,
            pad: 0,
        };
        self.ioctl(ioctl::MSGQ_GET, &mut a) as i32
    }
    fn snd<const N: usize>(&self, version: u32, id: i32, m: &Msg<N>) -> i64 {
        let mut a = ioctl::MsgSnd {
            version,
            msqid: id,
            msgflg: IPC_NOWAIT,
            pad: 0,
            msgp: m as *const Msg<N> as u64,
            msgsz: N as u64,
        };
        self.ioctl(ioctl::MSGQ_SND, &mut a)
    }
    fn rcv<const N: usize>(&self, version: u32, id: i32, m: &mut Msg<N>) -> i64 {
        let mut a = ioctl::MsgRcv {
            version,
            msqid: id,
            msgflg: IPC_NOWAIT,
            pad: 0,
            msgp: m as *mut Msg<N> as u64,
            msgsz: N as u64,
            msgtyp: 0,
        };
        self.ioctl(ioctl::MSGQ_RCV, &mut a)
    }
    fn ctl(&self, id: i32, cmd: i32, buf: *mut libc::c_void) -> i64 {
        let mut a = ioctl::MsgCtl {
            version: ioctl::VERSION,
            msqid: id,
            cmd,
            pad: 0,
            buf: buf as u64,
        };
        self.ioctl(ioctl::MSGQ_CTL, &mut a)
    }
}

/// A timed loop: its name and one call, which returns whether it gave the expected result.
struct Probe<'a> {
    name: &'static str,
    call: Box<dyn FnMut() -> bool + 'a>,
    rounds: Vec<f64>,
    bad: u64,
}

/// `--ksyms`: prints the module's symbols from `/proc/kallsyms` as `@@KSYM ADDR NAME`, for
/// the host to map profiled addresses to functions (`vm/tbprofile.py`).
fn print_ksyms() {
    let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
    for l in text.lines().filter(|l| l.ends_with("[msgq]")) {
        let f: Vec<&str> = l.split_whitespace().collect();
        if let [addr, _, name, ..] = f.as_slice() {
            println!("@@KSYM {addr} {name}");
        }
    }
}

fn main() {
    if std::env::args().any(|a| a == "--ksyms") {
        print_ksyms();
    }
    let path = c"/dev/msgq";
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    assert!(fd >= 0, "/dev/msgq: errno {}", errno());
    let dev = Dev(fd);
    // SAFETY: plain msgget.
    let nid = unsafe { libc::msgget(IPC_PRIVATE, IPC_CREAT | 0o600) };
    let kid = dev.msgget();
    assert!(nid >= 0 && kid >= 0, "msgget: native {nid}, module {kid}");
    let out = Msg8 {
        mtype: 1,
        text: *b"8 bytes!",
    };
    let mut back = Msg8 {
        mtype: 0,
        text: [0; 8],
    };
    let back_p: *mut Msg8 = &mut back;
    let out64 = Msg64 {
        mtype: 1,
        text: [b'x'; 64],
    };
    let mut back64 = Msg64 {
        mtype: 0,
        text: [0; 64],
    };
    let back64_p: *mut Msg64 = &mut back64;
    let o64 = &out64;
    let mut ds = msgq_core::abi::MsqidDs::default();
    let ds_p: *mut libc::c_void = (&mut ds as *mut msgq_core::abi::MsqidDs).cast();
    let o = &out;
    let d = &dev;

    let mut probes: Vec<Probe> = vec![
        Probe {
            name: "getppid (system call floor)",
            // SAFETY: no arguments.
            call: Box::new(|| unsafe { libc::getppid() } > 0),
            rounds: vec![],
            bad: 0,
        },
        Probe {
            name: "native msgsnd, bad id (EINVAL)",
            call: Box::new(move || {
                // SAFETY: a valid buffer of 8 bytes of text.
                let r = unsafe { libc::msgsnd(-1, (o as *const Msg8).cast(), 8, IPC_NOWAIT) };
                r < 0 && errno() == libc::EINVAL
            }),
            rounds: vec![],
            bad: 0,
        },
        Probe {
            name: "native msgrcv, empty (ENOMSG)",
            call: Box::new(move || {
                // SAFETY: `back_p` points to a live Msg8.
                let r = unsafe { libc::msgrcv(nid, back_p.cast(), 8, 0, IPC_NOWAIT) };
                r < 0 && errno() == libc::ENOMSG
            }),
            rounds: vec![],
            bad: 0,
        },
        Probe {
            name: "native IPC_STAT",
            // SAFETY: `ds_p` points to a live msqid_ds.
            call: Box::new(move || unsafe { libc::msgctl(nid, IPC_STAT, ds_p.cast()) } == 0),
            rounds: vec![],
            bad: 0,
        },
        Probe {
            name: "native pair 8 B",
            call: Box::new(move || {
                // SAFETY: valid buffers of 8 bytes of text.
                unsafe {
                    libc::msgsnd(nid, (o as *const Msg8).cast(), 8, IPC_NOWAIT) == 0
                        && libc::msgrcv(nid, back_p.cast(), 8, 0, IPC_NOWAIT) == 8
                }
            }),
            rounds: vec![],
            bad: 0,
        },
        Probe {
            name: "module ioctl, unknown number (ENOTTY)",
            call: Box::new(move || {
                let mut x = [0u64; 4];
                d.ioctl(ioctl::iowr(99, 32), &mut x) == -(libc::ENOTTY as i64)
            }),
            rounds: vec![],
            bad: 0,
        },
        Probe {
            name: "module MSGQ_SND, bad version (EPROTO)",
            call: Box::new(move || d.snd(0, kid, o) == -(ioctl::EPROTO as i64)),
            rounds: vec![],
            bad: 0,
        },
        Probe {
            name: "module MSGQ_SND, bad id (EINVAL)",
            call: Box::new(move || d.snd(ioctl::VERSION, -1, o) == -(libc::EINVAL as i64)),
            rounds: vec![],
            bad: 0,
        },
        Probe {
            name: "module MSGQ_SYSCTL, read msgmax",
            call: Box::new(move || {
                let mut a = ioctl::Sysctl {
                    version: ioctl::VERSION,
                    ..Default::default()
                };
                d.ioctl(ioctl::MSGQ_SYSCTL, &mut a) == 0 && a.value > 0
            }),
            rounds: vec![],
            bad: 0,
        },
        Probe {
            name: "module MSGQ_RCV, empty (ENOMSG)",
            // SAFETY: `back_p` points to a live Msg8.
            call: Box::new(move || {
                d.rcv(ioctl::VERSION, kid, unsafe { &mut *back_p }) == -(libc::ENOMSG as i64)
            }),
            rounds: vec![],
            bad: 0,
        },
        Probe {
            name: "module IPC_STAT",
            call: Box::new(move || d.ctl(kid, IPC_STAT, ds_p) == 0),
            rounds: vec![],
            bad: 0,
        },
        Probe {
            name: "module pair 8 B",
            call: Box::new(move || {
                // SAFETY: `back_p` points to a live Msg8.
                d.snd(ioctl::VERSION, kid, o) == 0
                    && d.rcv(ioctl::VERSION, kid, unsafe { &mut *back_p }) == 8
            }),
            rounds: vec![],
            bad: 0,
        },
        Probe {
            name: "native pair 64 B",
            call: Box::new(move || {
                // SAFETY: valid buffers of 64 bytes of text.
                unsafe {
                    libc::msgsnd(nid, (o64 as *const Msg64).cast(), 64, IPC_NOWAIT) == 0
                        && libc::msgrcv(nid, back64_p.cast(), 64, 0, IPC_NOWAIT) == 64
                }
            }),
            rounds: vec![],
            bad: 0,
        },
        Probe {
            name: "module MSGQ_GET, bad version (EPROTO, 16 B struct)",
            call: Box::new(move || {
                let mut a = ioctl::MsgGet::default();
                d.ioctl(ioctl::MSGQ_GET, &mut a) == -(ioctl::EPROTO as i64)
            }),
            rounds: vec![],
            bad: 0,
        },
        Probe {
            name: "module MSGQ_RCV, bad version (EPROTO, 40 B struct)",
            // SAFETY: `back_p` points to a live Msg8.
            call: Box::new(move || {
                d.rcv(0, kid, unsafe { &mut *back_p }) == -(ioctl::EPROTO as i64)
            }),
            rounds: vec![],
            bad: 0,
        },
        Probe {
            name: "module pair 64 B",
            call: Box::new(move || {
                // SAFETY: `back64_p` points to a live Msg64.
                d.snd(ioctl::VERSION, kid, o64) == 0
                    && d.rcv(ioctl::VERSION, kid, unsafe { &mut *back64_p }) == 64
            }),
            rounds: vec![],
            bad: 0,
        },
    ];

    if let Some(only) = arg::<String>("--only") {
        // `_` for a blank: vm/run.sh splits a program's arguments at blanks.
        let only = only.replace('_', " ");
        probes.retain(|p| p.name.contains(only.as_str()));
    }
    let iters: u32 = arg("--iters").unwrap_or(ITERS);
    let rounds: usize = arg("--rounds").unwrap_or(ROUNDS).max(1);
    let n = probes.len();
    for round in 0..rounds {
        for k in 0..n {
            // Alternate the order: forward in even rounds, backward in odd ones.
            let p = &mut probes[if round % 2 == 0 { k } else { n - 1 - k }];
            for _ in 0..iters.min(1000) {
                black_box((p.call)());
            }
            let t = Instant::now();
            let mut bad = 0;
            for _ in 0..iters {
                if !black_box((p.call)()) {
                    bad += 1;
                }
            }
            let ns = t.elapsed().as_nanos() as f64 / iters.max(1) as f64;
            p.rounds.push(ns);
            p.bad += bad;
        }
    }

    let (mut pass, mut fail) = (0, 0);
    println!("kmod_probe: {iters} calls a round, {rounds} rounds; ns per call: median [min, max]");
    for p in &mut probes {
        p.rounds.sort_by(|a, b| a.total_cmp(b));
        let med = p.rounds[p.rounds.len() / 2];
        println!(
            "@@PROBE {:>8.0} [{:.0}, {:.0}] {}",
            med,
            p.rounds[0],
            p.rounds[p.rounds.len() - 1],
            p.name
        );
        if p.bad == 0 {
            pass += 1;
        } else {
            fail += 1;
            println!("FAIL {}: {} calls gave another result", p.name, p.bad);
        }
    }
    // SAFETY: removing the two queues made above.
    unsafe { libc::msgctl(nid, IPC_RMID, std::ptr::null_mut()) };
    dev.ctl(kid, IPC_RMID, std::ptr::null_mut());
    println!("kmod_probe: {pass} passed, {fail} failed");
    std::process::exit(if fail == 0 { 0 } else { 1 });
}
