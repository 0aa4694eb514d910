//! The program's side of a call: who made it (`/proc/TID/status`), its memory
//! (`/proc/TID/mem`), its namespaces, and whether a signal waits for it.

use msgq_user::sys::creds::Creds;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// The capability bits the supervisor passes on (the engine looks at CAP_IPC_OWNER,
/// CAP_SYS_ADMIN and CAP_SYS_RESOURCE).
const ALL_CAPS: u64 = u64::MAX;

/// What `/proc/TID/status` says about the calling thread.
#[derive(Clone, Debug, Default)]
pub struct Status {
    pub tgid: u32,
    pub creds: Creds,
    /// Signals pending for the thread (`SigPnd`) and its process (`ShdPnd`).
    pub pending: u64,
    pub blocked: u64,
    pub caught: u64,
}

impl Status {
    /// Reads `/proc/TID/status`. `Err(errno)` (`ESRCH`/`ENOENT`: the thread is gone).
    pub fn read(tid: u32) -> Result<Status, i32> {
        let text = std::fs::read_to_string(format!("/proc/{tid}/status")).map_err(errno_of)?;
        parse(&text).ok_or(libc::EIO)
    }

    /// Whether a signal the thread catches is pending and not blocked: a blocked call
    /// returns `EINTR` then.
    pub fn interrupted(&self) -> bool {
        self.pending & !self.blocked & self.caught != 0
    }

    /// Whether a stop signal with its default action is pending and not blocked: a blocked
    /// call lets the process stop, and is made again when it continues.
    pub fn stopping(&self) -> bool {
        const STOPS: u64 =
            bit(libc::SIGSTOP) | bit(libc::SIGTSTP) | bit(libc::SIGTTIN) | bit(libc::SIGTTOU);
        self.pending & !self.blocked & !self.caught & STOPS != 0
    }
}

/// Signal `sig`'s bit in the masks of `/proc/PID/status`.
const fn bit(sig: i32) -> u64 {
    1 << (sig - 1)
}

pub fn errno_of(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

fn hex(v: &str) -> Option<u64> {
    u64::from_str_radix(v.trim(), 16).ok()
}

/// The second field (the effective id) and the fourth (the filesystem id) of a
/// `Uid:`/`Gid:` line.
fn ids(v: &str) -> Option<(u32, u32)> {
    let f: Vec<u32> = v
        .split_whitespace()
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    Some((*f.get(1)?, *f.get(3)?))
}

pub fn parse(text: &str) -> Option<Status> {
    let mut s = Status::default();
    let (mut uid, mut gid, mut tgid) = (None, None, None);
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        match k {
            "Tgid" => tgid = v.trim().parse().ok(),
            "Uid" => uid = ids(v),
            "Gid" => gid = ids(v),
            "Groups" => {
                s.creds.groups = v
                    .split_whitespace()
                    .map(|x| x.parse().ok())
                    .collect::<Option<_>>()?
            }
            "CapEff" => s.creds.caps = hex(v)? & ALL_CAPS,
            "SigPnd" => s.pending |= hex(v)?,
            "ShdPnd" => s.pending |= hex(v)?,
            "SigBlk" => s.blocked = hex(v)?,
            "SigCgt" => s.caught = hex(v)?,
            _ => {}
        }
    }
    let (euid, _) = uid?;
    let (egid, fsgid) = gid?;
    s.tgid = tgid?;
    s.creds.euid = euid;
    s.creds.egid = egid;
    s.creds.fsgid = fsgid;
    Some(s)
}

/// The namespace `/proc/TID/ns/NAME` names (e.g. `ipc:[4026531839]`).
pub fn namespace(tid: u32, name: &str) -> Result<String, i32> {
    let p = if tid == 0 {
        format!("/proc/self/ns/{name}")
    } else {
        format!("/proc/{tid}/ns/{name}")
    };
    std::fs::read_link(p)
        .map(|l| l.to_string_lossy().into_owned())
        .map_err(errno_of)
}

/// The calling process's memory, opened once per call: the file stays bound to the process
/// it was opened on, even if the thread id is reused after it dies.
pub struct Mem(File);

impl Mem {
    pub fn open(tid: u32) -> Result<Mem, i32> {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/proc/{tid}/mem"))
            .map(Mem)
            .map_err(errno_of)
    }

    /// Reads `buf.len()` bytes at `addr`; `EFAULT` when they are not all readable.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), i32> {
        if buf.is_empty() {
            return Ok(());
        }
        if addr == 0 || addr.checked_add(buf.len() as u64).is_none() {
            return Err(libc::EFAULT);
        }
        self.0.read_exact_at(buf, addr).map_err(fault)
    }

    /// Writes `buf` at `addr`; `EFAULT` when it cannot all be written.
    pub fn write(&self, addr: u64, buf: &[u8]) -> Result<(), i32> {
        if buf.is_empty() {
            return Ok(());
        }
        if addr == 0 || addr.checked_add(buf.len() as u64).is_none() {
            return Err(libc::EFAULT);
        }
        self.0.write_all_at(buf, addr).map_err(fault)
    }
}

/// A failed access to the program's memory: `EFAULT` (unmapped: `EIO` from
/// `/proc/PID/mem`, or a short transfer), else what it was (`ESRCH`: the process is gone).
fn fault(e: std::io::Error) -> i32 {
    match e.raw_os_error() {
        Some(libc::ESRCH) => libc::ESRCH,
        Some(libc::EPERM) | Some(libc::EACCES) => libc::EPERM,
        _ => libc::EFAULT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status() {
        let t = "Name:\tx\nTgid:\t41\nPid:\t42\nUid:\t1000\t1001\t1002\t1003\n\
                 Gid:\t2000\t2001\t2002\t2003\nGroups:\t5 6 7 \nSigPnd:\t0000000000000001\n\
                 ShdPnd:\t0000000000004000\nSigBlk:\t0000000000000001\n\
                 SigCgt:\t0000000000004000\nCapEff:\t0000000000008000\n";
        let s = parse(t).unwrap();
        assert_eq!(s.tgid, 41);
        assert_eq!(
            (s.creds.euid, s.creds.egid, s.creds.fsgid),
            (1001, 2001, 2003)
        );
        assert_eq!(s.creds.groups, vec![5, 6, 7]);
        assert_eq!(s.creds.caps, 0x8000);
        assert!(s.interrupted());
        let quiet = parse(&t.replace("ShdPnd:\t0000000000004000", "ShdPnd:\t0")).unwrap();
        assert!(!quiet.interrupted());
        assert!(!s.stopping());
        let stop =
            parse(&t.replace("SigPnd:\t0000000000000001", "SigPnd:\t0000000000080000")).unwrap();
        assert!(stop.stopping());
        assert!(parse("Tgid:\t1\n").is_none());
    }

    #[test]
    fn reads_self() {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() } as u32;
        let s = Status::read(tid).unwrap();
        // SAFETY: getpid and geteuid have no preconditions.
        assert_eq!(s.tgid, unsafe { libc::getpid() } as u32);
        // SAFETY: as above.
        assert_eq!(s.creds.euid, unsafe { libc::geteuid() });
        let m = Mem::open(tid).unwrap();
        let src = *b"12345678";
        let mut dst = [0u8; 8];
        m.read(src.as_ptr() as u64, &mut dst).unwrap();
        assert_eq!(dst, src);
        assert_eq!(m.read(8, &mut dst), Err(libc::EFAULT));
        assert_eq!(m.read(0, &mut dst), Err(libc::EFAULT));
    }
}
