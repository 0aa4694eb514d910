//! The seccomp side of `msgq run`: the filter the program runs under, and the listener's
//! ioctls (`seccomp_unotify(2)`). See docs/run.md.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// x86_64's `msgget`, `msgsnd`, `msgrcv`, `msgctl`.
pub const SYS_MSGGET: i32 = 68;
pub const SYS_MSGSND: i32 = 69;
pub const SYS_MSGRCV: i32 = 70;
pub const SYS_MSGCTL: i32 = 71;
/// `AUDIT_ARCH_X86_64`: `EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`.
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// `struct seccomp_data`: `nr` at 0, `arch` at 4.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
/// `PR_SET_NO_NEW_PRIVS`.
const PR_SET_NO_NEW_PRIVS: i32 = 38;

const fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// The filter: on x86_64, system calls 68..=71 go to the listener; everything else, and
/// every other ABI (i386's `ipc(2)`, x32's numbers with bit 30), is allowed.
pub fn program() -> [libc::sock_filter; 7] {
    use libc::{BPF_ABS, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};
    [
        /* 0 */ stmt(BPF_LD | BPF_W | BPF_ABS, OFF_ARCH),
        /* 1 */ jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 4),
        /* 2 */ stmt(BPF_LD | BPF_W | BPF_ABS, OFF_NR),
        /* 3 */ jump(BPF_JMP | BPF_JGE | BPF_K, SYS_MSGGET as u32, 0, 2),
        /* 4 */ jump(BPF_JMP | BPF_JGT | BPF_K, SYS_MSGCTL as u32, 1, 0),
        /* 5 */ stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_USER_NOTIF),
        /* 6 */ stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW),
    ]
}

/// Installs the filter on the calling thread (and what it forks and execs) and returns the
/// listener, and whether the kernel took `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`.
/// Only async-signal-safe calls: it runs in the child between `fork` and `exec`.
pub fn install(prog: &mut [libc::sock_filter]) -> Result<(OwnedFd, bool), i32> {
    // SAFETY: prctl(PR_SET_NO_NEW_PRIVS, 1) has no memory arguments.
    if unsafe { libc::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(errno());
    }
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    let mut killable = true;
    loop {
        let flags = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
            | if killable {
                libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            } else {
                0
            };
        // SAFETY: `fprog` points at `prog`, a valid filter of `len` instructions, alive
        // during the call (the kernel copies it).
        let fd = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &fprog as *const libc::sock_fprog,
            )
        };
        if fd >= 0 {
            // SAFETY: the kernel just returned this new descriptor, owned by nobody else.
            return Ok((unsafe { OwnedFd::from_raw_fd(fd as RawFd) }, killable));
        }
        let e = errno();
        if e == libc::EINVAL && killable {
            // A kernel before 5.19: no killable waits.
            killable = false;
            continue;
        }
        return Err(e);
    }
}

pub fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// A notification received from the listener.
#[derive(Clone, Copy, Debug)]
pub struct Notif {
    pub id: u64,
    /// The calling thread's id (in the supervisor's pid namespace).
    pub tid: u32,
    pub nr: i32,
    pub args: [u64; 6],
}

/// `SECCOMP_IOCTL_NOTIF_RECV`: the next call, `Err(errno)` (`ENOENT`: its caller was
/// interrupted or died before it could be received; `EINTR`).
pub fn recv(listener: RawFd) -> Result<Notif, i32> {
    // SAFETY: seccomp_notif is plain data; all zeroes is valid (the kernel requires it).
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: NOTIF_RECV writes one struct seccomp_notif at the pointer.
    let r = unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) };
    if r != 0 {
        return Err(errno());
    }
    Ok(Notif {
        id: n.id,
        tid: n.pid,
        nr: n.data.nr,
        args: n.data.args,
    })
}

/// `SECCOMP_IOCTL_NOTIF_ID_VALID`: whether the call is still waiting for its reply (its
/// caller alive and not interrupted).
pub fn valid(listener: RawFd, id: u64) -> bool {
    // SAFETY: NOTIF_ID_VALID reads one u64 at the pointer.
    unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0 }
}

/// `SECCOMP_IOCTL_NOTIF_SEND`: the call returns `Ok(val)` or fails with `Err(errno)`.
/// `Err(ENOENT)` from this: the caller is gone (or was interrupted): nobody got the reply.
pub fn reply(listener: RawFd, id: u64, result: Result<i64, i32>) -> Result<(), i32> {
    let (val, error) = match result {
        Ok(v) => (v, 0),
        Err(e) => (0, -e),
    };
    let mut resp = libc::seccomp_notif_resp {
        id,
        val,
        error,
        flags: 0,
    };
    // SAFETY: NOTIF_SEND reads one struct seccomp_notif_resp at the pointer.
    let r = unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
    if r != 0 {
        return Err(errno());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the filter program on `nr`/`arch` as the kernel would (the few opcodes it uses).
    fn verdict(nr: i32, arch: u32) -> u32 {
        let p = program();
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = p[pc];
            let code = i.code as u32;
            if code == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS {
                acc = if i.k == OFF_NR { nr as u32 } else { arch };
                pc += 1;
            } else if code == libc::BPF_RET | libc::BPF_K {
                return i.k;
            } else {
                let hit = match code & 0xf0 {
                    c if c == libc::BPF_JEQ => acc == i.k,
                    c if c == libc::BPF_JGE => acc >= i.k,
                    c if c == libc::BPF_JGT => acc > i.k,
                    _ => panic!("opcode {code:#x}"),
                };
                pc += 1 + if hit { i.jt } else { i.jf } as usize;
            }
        }
    }

    #[test]
    fn filter_routes_only_the_four_calls() {
        let notif = libc::SECCOMP_RET_USER_NOTIF;
        let allow = libc::SECCOMP_RET_ALLOW;
        for nr in 68..=71 {
            assert_eq!(verdict(nr, AUDIT_ARCH_X86_64), notif, "{nr}");
            assert_eq!(verdict(nr, 0x4000_0003), allow, "i386 {nr}");
        }
        for nr in [0, 1, 29, 64, 66, 67, 72, 117, 0x4000_0045] {
            assert_eq!(verdict(nr, AUDIT_ARCH_X86_64), allow, "{nr}");
        }
    }
}
