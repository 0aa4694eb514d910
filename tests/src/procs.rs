//! Process plumbing: fork with a pipe, credentials, process states, signals.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// Credentials a child switches to (all of real, effective and saved ids, no capabilities).
#[derive(Clone, Debug)]
pub struct Creds {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

impl Creds {
    /// uid/gid 1000 with no supplementary groups.
    pub fn user(uid: u32) -> Creds {
        Creds {
            uid,
            gid: uid,
            groups: vec![],
        }
    }
    /// Drops to these credentials (in a child). Panics on failure.
    pub fn apply(&self) {
        // SAFETY: plain system calls on this process's credentials; the group list outlives
        // the call.
        unsafe {
            assert_eq!(
                libc::setgroups(self.groups.len(), self.groups.as_ptr()),
                0,
                "setgroups"
            );
            assert_eq!(
                libc::setresgid(self.gid, self.gid, self.gid),
                0,
                "setresgid"
            );
            assert_eq!(
                libc::setresuid(self.uid, self.uid, self.uid),
                0,
                "setresuid"
            );
        }
        // The engine caches credentials; it must see the new ones.
        msgq_user::refresh_credentials();
    }
}

static LAST_PANIC: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Replaces the panic hook: a case's panic is reported in its trace (message and place),
/// not as a backtrace on stderr.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if let Ok(mut g) = LAST_PANIC.lock() {
            *g = format!("{msg}{at}");
        }
    }));
}

/// Writes all of `s` to `fd` (best effort).
pub fn write_fd(fd: RawFd, s: &str) {
    let mut b = s.as_bytes();
    while !b.is_empty() {
        // SAFETY: `b` is a valid byte slice; `fd` is a pipe we own.
        let n = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
        if n <= 0 {
            if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return;
        }
        b = &b[n as usize..];
    }
}

/// Reads `fd` to end of file (retrying on EINTR) and closes it.
pub fn read_all(fd: RawFd) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: `buf` is a valid writable buffer of its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if n <= 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    // SAFETY: we own `fd` and close it once.
    unsafe { libc::close(fd) };
    String::from_utf8_lossy(&out).into_owned()
}

/// Forks; the child runs `f` with the write end of a pipe and exits with `_exit(0)`.
/// Returns the child's pid and the read end.
pub fn fork_with_pipe(f: impl FnOnce(RawFd)) -> (i32, RawFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints.
    assert_eq!(
        unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) },
        0,
        "pipe2"
    );
    // SAFETY: the harness forks from single-threaded processes only (cases join their
    // threads before forking), so the child may run arbitrary code.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        // SAFETY: closing our copy of the read end.
        unsafe { libc::close(fds[0]) };
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(fds[1])));
        if r.is_err() {
            let msg = LAST_PANIC.lock().map(|g| g.clone()).unwrap_or_default();
            write_fd(fds[1], &crate::trace::error_line(&format!("panic: {msg}")));
        }
        // SAFETY: leaving the forked child without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: closing the parent's copy of the write end.
    unsafe { libc::close(fds[1]) };
    (pid, fds[0])
}

/// Waits for `pid`; returns a description of an abnormal end, or None for exit 0.
pub fn reap(pid: i32) -> Option<String> {
    let mut st = 0;
    loop {
        // SAFETY: `st` is a valid int.
        let r = unsafe { libc::waitpid(pid, &mut st, 0) };
        if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if r < 0 {
            return Some("not reaped".into());
        }
        break;
    }
    if libc::WIFEXITED(st) {
        match libc::WEXITSTATUS(st) {
            0 => None,
            c => Some(format!("exit {c}")),
        }
    } else if libc::WIFSIGNALED(st) {
        Some(format!("signal {}", libc::WTERMSIG(st)))
    } else {
        Some(format!("status {st}"))
    }
}

/// The scheduler state letter of a thread (`S`, `R`, `T`, `Z`, …), if it exists.
pub fn state(pid: i32, tid: i32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    let after = &s[s.rfind(')')? + 1..];
    after.trim_start().chars().next()
}

/// Polls until the thread is in state `want` (then waits a short settle delay).
pub fn wait_state(pid: i32, tid: i32, want: char, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        match state(pid, tid) {
            Some(c) if c == want => {
                std::thread::sleep(Duration::from_millis(30));
                // Still there after the settle delay?
                return state(pid, tid) == Some(want);
            }
            Some('Z') | Some('X') | None => return false,
            _ => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    false
}

/// Sends a signal to a process.
pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(pid, sig) };
}

extern "C" fn noop_handler(_: i32) {}

/// Installs a do-nothing SIGUSR1 handler, with or without SA_RESTART.
pub fn install_sigusr1(restart: bool) {
    // SAFETY: a zeroed sigaction is a valid starting value; the handler is async-signal-safe
    // (it does nothing).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = noop_handler as *const () as usize;
        sa.sa_flags = if restart { libc::SA_RESTART } else { 0 };
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
}

pub fn getpid() -> i32 {
    // SAFETY: no memory effects.
    unsafe { libc::getpid() }
}

pub fn gettid() -> i32 {
    // SAFETY: no memory effects.
    unsafe { libc::gettid() }
}

/// Makes this process the reaper of its orphaned descendants (workers left behind by a
/// killed case), so `reap_orphans` can collect them.
pub fn become_subreaper() {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

/// Collects any exited orphans without blocking.
pub fn reap_orphans() {
    let mut st = 0;
    // SAFETY: `st` is a valid int; WNOHANG never blocks.
    while unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) } > 0 {}
}
