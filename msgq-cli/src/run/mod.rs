//! `msgq run -- PROGRAM ARGS`: runs a program with its `msgget`/`msgsnd`/`msgrcv`/`msgctl`
//! system calls made by msgq, whatever it is linked with (static binaries, Go, raw system
//! calls), through seccomp user notification. See docs/run.md.

mod filter;
mod supervisor;
mod target;

use crate::backend::{Target, DEVICE};
use crate::report::{errno_text, Fail, R};
use crate::storeq;
use msgq_user::Errno;
use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

/// PROGRAM's pid, for the signal forwarder.
static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe and has no memory arguments.
        unsafe { libc::kill(pid, sig) };
    }
}

fn os_fail(what: &str) -> Fail {
    Fail(format!("{what}: {}", errno_text(Errno(filter::errno()))))
}

/// Runs `prog` under the supervisor; exits with its status (never returns on success).
pub fn main(t: &Target, prog: &[OsString]) -> R<()> {
    let path = match t {
        Target::User(p) => p,
        Target::Kmod => {
            return Err(Fail(format!(
                "`msgq run` serves the user backend only; the backend is kmod (the kernel \
                 module, {DEVICE}): use --backend user (or the shim, which reaches the module)"
            )))
        }
        Target::Valkey => {
            return Err(Fail(
                "`msgq run` serves the user backend only; the backend is valkey: use \
                 --backend user (or the shim, which reaches Valkey)"
                    .into(),
            ))
        }
    };
    if !cfg!(target_arch = "x86_64") {
        return Err(Fail("`msgq run` is for x86_64 only".into()));
    }
    let store = storeq::open_or_create(path)?;
    let argv: Vec<CString> = prog
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| Fail("an argument holds a NUL byte".into()))?;
    if argv.is_empty() {
        return Err(Fail("no program to run (msgq run -- PROGRAM ARGS)".into()));
    }
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let mut fprog = filter::program();

    let mut sv = [0 as RawFd; 2];
    // SAFETY: `sv` has room for the two descriptors.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            sv.as_mut_ptr(),
        )
    } != 0
    {
        return Err(os_fail("socketpair"));
    }
    // SAFETY: socketpair just made both; nobody else owns them.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) };
    // SAFETY: this process has one thread here (the supervisor's threads start later), so
    // the child may allocate; it only installs the filter, passes the listener and execs.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(os_fail("fork"));
    }
    if pid == 0 {
        drop(ours);
        child(theirs, &mut fprog, &ptrs, &argv[0]);
    }
    drop(theirs);
    CHILD.store(pid, Ordering::Relaxed);
    let listener = match receive_listener(&ours) {
        Ok(l) => l,
        Err(msg) => {
            let mut st = 0;
            // SAFETY: waiting for our own child; `st` is a valid out-pointer.
            unsafe { libc::waitpid(pid, &mut st, 0) };
            return Err(Fail(msg));
        }
    };
    // Let PROGRAM go.
    // SAFETY: writing one byte from a valid buffer.
    unsafe { libc::write(ours.as_raw_fd(), b"g".as_ptr().cast(), 1) };
    drop(ours);
    signals();
    let sup = Arc::new(supervisor::Sup::new(store, listener).map_err(Fail)?);
    let code = serve(&sup, pid);
    std::process::exit(code)
}

/// The supervisor ignores the terminal's SIGINT and SIGQUIT (PROGRAM gets them too) and
/// passes SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 on to PROGRAM.
fn signals() {
    let fwd = forward as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for (sig, how) in [
        (libc::SIGINT, libc::SIG_IGN),
        (libc::SIGQUIT, libc::SIG_IGN),
        (libc::SIGTERM, fwd),
        (libc::SIGHUP, fwd),
        (libc::SIGUSR1, fwd),
        (libc::SIGUSR2, fwd),
    ] {
        // SAFETY: sigaction is plain data; all zeroes is an empty mask and no flags.
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = how;
        sa.sa_flags = libc::SA_RESTART;
        // SAFETY: `sa` is initialised; `forward` is async-signal-safe.
        unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) };
    }
}

/// Serves until no process runs under the filter; PROGRAM's exit status.
fn serve(sup: &Arc<supervisor::Sup>, child: libc::pid_t) -> i32 {
    // SAFETY: pidfd_open has no memory arguments.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child, 0) } as RawFd;
    let mut status: Option<i32> = None;
    let reap_child = |status: &mut Option<i32>, flags| {
        let mut st = 0;
        // SAFETY: waiting for our own child; `st` is a valid out-pointer.
        if unsafe { libc::waitpid(child, &mut st, flags) } == child {
            *status = Some(st);
        }
    };
    loop {
        let mut fds = [
            libc::pollfd {
                fd: sup.listener(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if status.is_none() { pidfd } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let timeout = if pidfd < 0 && status.is_none() {
            100
        } else {
            -1
        };
        // SAFETY: `fds` holds two initialised pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) };
        if r < 0 {
            if filter::errno() == libc::EINTR {
                continue;
            }
            eprintln!("msgq run: poll: {}", errno_text(Errno(filter::errno())));
            break;
        }
        if status.is_none() && (fds[1].revents != 0 || pidfd < 0) {
            reap_child(&mut status, libc::WNOHANG);
        }
        if fds[0].revents & libc::POLLIN != 0 {
            match filter::recv(sup.listener()) {
                Ok(n) => sup.handle(n),
                Err(libc::ENOENT) | Err(libc::EINTR) => {}
                Err(e) => {
                    eprintln!(
                        "msgq run: SECCOMP_IOCTL_NOTIF_RECV: {}",
                        errno_text(Errno(e))
                    );
                    break;
                }
            }
        } else if fds[0].revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            break;
        }
        sup.reap(false);
    }
    sup.reap(true);
    if status.is_none() {
        reap_child(&mut status, 0);
    }
    match status {
        Some(st) if libc::WIFEXITED(st) => libc::WEXITSTATUS(st),
        Some(st) if libc::WIFSIGNALED(st) => 128 + libc::WTERMSIG(st),
        _ => 1,
    }
}

/// The listener the child sends, or why there is none.
fn receive_listener(sock: &OwnedFd) -> Result<OwnedFd, String> {
    let mut byte = [0u8; 4];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: byte.len(),
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr is plain data; all zeroes is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: `msg` points at live buffers of the sizes it states.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 4 {
        return Err("the program's process ended before its filter was installed".into());
    }
    let code = i32::from_ne_bytes(byte);
    if code != 0 {
        return Err(format!(
            "cannot install the seccomp filter: {}",
            errno_text(Errno(code))
        ));
    }
    // SAFETY: `msg` was filled by recvmsg; CMSG_FIRSTHDR reads its control fields.
    let cm = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    // SAFETY: `cm`, when not null, points into `cbuf`, at a header recvmsg wrote.
    if cm.is_null() || unsafe { (*cm).cmsg_type } != libc::SCM_RIGHTS {
        return Err("the program's process sent no seccomp listener".into());
    }
    let mut fd: RawFd = -1;
    // SAFETY: an SCM_RIGHTS message carries at least one int after its header, within
    // `cbuf`; read unaligned.
    unsafe {
        fd = std::ptr::read_unaligned(libc::CMSG_DATA(cm).cast::<RawFd>()).max(fd);
    }
    if fd < 0 {
        return Err("the program's process sent no seccomp listener".into());
    }
    // SAFETY: SCM_RIGHTS gave this process a new descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends `code` and, when it is 0, the listener `fd`.
fn send_listener(sock: &OwnedFd, code: i32, fd: Option<&OwnedFd>) {
    let byte = code.to_ne_bytes();
    let mut iov = libc::iovec {
        iov_base: byte.as_ptr() as *mut libc::c_void,
        iov_len: byte.len(),
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr is plain data; all zeroes is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(fd) = fd {
        msg.msg_control = cbuf.as_mut_ptr().cast();
        // SAFETY: CMSG_SPACE only computes a size.
        msg.msg_controllen =
            unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
        // SAFETY: `msg` has a control buffer of at least CMSG_SPACE(int) bytes, so the first
        // header and its int fit in `cbuf`.
        unsafe {
            let cm = libc::CMSG_FIRSTHDR(&msg);
            (*cm).cmsg_level = libc::SOL_SOCKET;
            (*cm).cmsg_type = libc::SCM_RIGHTS;
            (*cm).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(cm).cast::<RawFd>(), fd.as_raw_fd());
        }
    }
    // SAFETY: `msg` points at live buffers of the sizes it states.
    unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, 0) };
}

/// The child: installs the filter, sends the listener, waits for the supervisor, execs.
fn child(
    sock: OwnedFd,
    fprog: &mut [libc::sock_filter],
    argv: &[*const libc::c_char],
    prog: &CString,
) -> ! {
    match filter::install(fprog) {
        Ok((listener, killable)) => {
            send_listener(&sock, 0, Some(&listener));
            drop(listener);
            if !killable {
                eprintln!(
                    "msgq run: this kernel has no SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: a \
                     signal handler with SA_RESTART restarts a blocked call instead of EINTR"
                );
            }
        }
        Err(e) => {
            send_listener(&sock, e, None);
            // SAFETY: _exit has no preconditions.
            unsafe { libc::_exit(127) };
        }
    }
    let mut go = [0u8; 1];
    // SAFETY: reading one byte into a valid buffer.
    if unsafe { libc::read(sock.as_raw_fd(), go.as_mut_ptr().cast(), 1) } != 1 {
        // SAFETY: _exit has no preconditions.
        unsafe { libc::_exit(127) };
    }
    drop(sock);
    // SAFETY: `argv` is a null-terminated array of pointers to live C strings.
    unsafe { libc::execvp(argv[0], argv.as_ptr()) };
    let e = filter::errno();
    eprintln!(
        "msgq run: {}: {}",
        prog.to_string_lossy(),
        errno_text(Errno(e))
    );
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(if e == libc::ENOENT { 127 } else { 126 }) };
}
