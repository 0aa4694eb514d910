//! Guest smoke test for msgq's test VM (built static with plain rustc, no crates).
//!
//! Checks, in the guest: `/dev/msgq` is a character device with mode 0666 and opens read-write
//! for the current user; native SysV message queues work (msgget/msgsnd/msgrcv/msgctl round
//! trip, IPC_NOWAIT on an empty queue, MSG_COPY, which needs CONFIG_CHECKPOINT_RESTORE, and
//! /proc/sys/kernel/msg* limits). Prints `ok - NAME` / `not ok - NAME: why` lines and a final
//! `N passed, N failed` line; exits 1 if anything failed.

use std::ffi::CString;
use std::io::Error;
use std::os::raw::{c_int, c_long, c_void};

#[repr(C)]
#[derive(Default)]
struct IpcPerm {
    key: i32,
    uid: u32,
    gid: u32,
    cuid: u32,
    cgid: u32,
    mode: u32,
    seq: u16,
    pad2: u16,
    unused1: u64,
    unused2: u64,
}

#[repr(C)]
#[derive(Default)]
struct MsqidDs {
    perm: IpcPerm,
    stime: i64,
    rtime: i64,
    ctime: i64,
    cbytes: u64,
    qnum: u64,
    qbytes: u64,
    lspid: i32,
    lrpid: i32,
    unused4: u64,
    unused5: u64,
}

#[repr(C)]
struct Msg {
    mtype: c_long,
    mtext: [u8; 64],
}

extern "C" {
    fn msgget(key: c_int, flags: c_int) -> c_int;
    fn msgsnd(id: c_int, msgp: *const c_void, size: usize, flags: c_int) -> c_int;
    fn msgrcv(id: c_int, msgp: *mut c_void, size: usize, typ: c_long, flags: c_int) -> isize;
    fn msgctl(id: c_int, cmd: c_int, buf: *mut MsqidDs) -> c_int;
    fn open(path: *const i8, flags: c_int, ...) -> c_int;
    fn close(fd: c_int) -> c_int;
    fn getuid() -> u32;
    fn geteuid() -> u32;
}

const IPC_PRIVATE: c_int = 0;
const IPC_CREAT: c_int = 0o1000;
const IPC_NOWAIT: c_int = 0o4000;
const IPC_RMID: c_int = 0;
const IPC_STAT: c_int = 2;
const MSG_COPY: c_int = 0o40000;
const O_RDWR: c_int = 2;
const ENOMSG: i32 = 42;

struct T {
    passed: u32,
    failed: u32,
}

impl T {
    fn check(&mut self, name: &str, r: Result<(), String>) {
        match r {
            Ok(()) => {
                self.passed += 1;
                println!("ok - {name}");
            }
            Err(e) => {
                self.failed += 1;
                println!("not ok - {name}: {e}");
            }
        }
    }
}

fn errno() -> Error {
    Error::last_os_error()
}

fn dev_node() -> Result<(), String> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let md = std::fs::metadata("/dev/msgq").map_err(|e| format!("stat /dev/msgq: {e}"))?;
    if !md.file_type().is_char_device() {
        return Err("not a character device".into());
    }
    let mode = md.permissions().mode() & 0o7777;
    if mode != 0o666 {
        return Err(format!("mode {mode:o}, want 666"));
    }
    Ok(())
}

fn dev_open() -> Result<(), String> {
    let p = CString::new("/dev/msgq").unwrap();
    // SAFETY: valid NUL-terminated path.
    let fd = unsafe { open(p.as_ptr(), O_RDWR) };
    if fd < 0 {
        return Err(format!("open: {}", errno()));
    }
    // SAFETY: fd is ours.
    unsafe { close(fd) };
    Ok(())
}

fn roundtrip() -> Result<(), String> {
    // SAFETY: plain syscalls on our own buffers below.
    let id = unsafe { msgget(IPC_PRIVATE, IPC_CREAT | 0o600) };
    if id < 0 {
        return Err(format!("msgget: {}", errno()));
    }
    let r = (|| {
        let mut m = Msg {
            mtype: 7,
            mtext: [0; 64],
        };
        m.mtext[..5].copy_from_slice(b"hello");
        // SAFETY: `m` is a live msgbuf whose text holds at least the 5 bytes sent.
        if unsafe { msgsnd(id, &m as *const Msg as *const c_void, 5, 0) } != 0 {
            return Err(format!("msgsnd: {}", errno()));
        }
        let mut ds = MsqidDs::default();
        // SAFETY: `ds` is a writable msqid_ds of the kernel's 120-byte layout.
        if unsafe { msgctl(id, IPC_STAT, &mut ds) } != 0 {
            return Err(format!("IPC_STAT: {}", errno()));
        }
        if ds.qnum != 1 || ds.cbytes != 5 {
            return Err(format!("after send: qnum {} cbytes {}", ds.qnum, ds.cbytes));
        }
        // MSG_COPY (CONFIG_CHECKPOINT_RESTORE): copy message number 0, leave it queued.
        let mut c = Msg {
            mtype: 0,
            mtext: [0; 64],
        };
        // SAFETY: `c` is a writable msgbuf with 64 bytes of text, the size passed.
        let n = unsafe {
            msgrcv(
                id,
                &mut c as *mut Msg as *mut c_void,
                64,
                0,
                MSG_COPY | IPC_NOWAIT,
            )
        };
        if n != 5 || c.mtype != 7 || &c.mtext[..5] != b"hello" {
            return Err(format!("MSG_COPY: n={n} ({}) mtype={}", errno(), c.mtype));
        }
        let mut r = Msg {
            mtype: 0,
            mtext: [0; 64],
        };
        // SAFETY: `r` is a writable msgbuf with 64 bytes of text, the size passed.
        let n = unsafe { msgrcv(id, &mut r as *mut Msg as *mut c_void, 64, 0, 0) };
        if n != 5 || r.mtype != 7 || &r.mtext[..5] != b"hello" {
            return Err(format!("msgrcv: n={n} ({}) mtype={}", errno(), r.mtype));
        }
        // SAFETY: as above.
        let n = unsafe { msgrcv(id, &mut r as *mut Msg as *mut c_void, 64, 0, IPC_NOWAIT) };
        if n != -1 || errno().raw_os_error() != Some(ENOMSG) {
            return Err(format!("empty IPC_NOWAIT: n={n} ({})", errno()));
        }
        Ok(())
    })();
    // SAFETY: IPC_RMID does not use the buffer argument.
    if unsafe { msgctl(id, IPC_RMID, std::ptr::null_mut()) } != 0 && r.is_ok() {
        return Err(format!("IPC_RMID: {}", errno()));
    }
    r
}

fn sysctl_limits() -> Result<(), String> {
    for (name, want) in [("msgmax", "8192"), ("msgmnb", "16384"), ("msgmni", "32000")] {
        let p = format!("/proc/sys/kernel/{name}");
        let v = std::fs::read_to_string(&p).map_err(|e| format!("{p}: {e}"))?;
        if v.trim() != want {
            return Err(format!("{p} = {}, want {want}", v.trim()));
        }
    }
    std::fs::metadata("/proc/sys/kernel/msg_next_id")
        .map_err(|e| format!("/proc/sys/kernel/msg_next_id: {e}"))?;
    Ok(())
}

fn main() {
    // SAFETY: trivial syscalls.
    let (uid, euid) = unsafe { (getuid(), geteuid()) };
    println!("# smoke test as uid {uid} euid {euid}");
    let mut t = T {
        passed: 0,
        failed: 0,
    };
    t.check("/dev/msgq is a 0666 char device", dev_node());
    t.check("/dev/msgq opens O_RDWR", dev_open());
    t.check(
        "native msgget/msgsnd/msgrcv/msgctl round trip with MSG_COPY",
        roundtrip(),
    );
    t.check("native limits in /proc/sys/kernel", sysctl_limits());
    println!("{} passed, {} failed", t.passed, t.failed);
    std::process::exit(if t.failed == 0 { 0 } else { 1 });
}
