//! `runas UID GID PROG [ARGS...]`: drop all groups, set gid and uid, exec PROG. Used by the
//! test VM's /init to run each test binary as an unprivileged user (busybox-static in Debian 12
//! has no setuidgid applet). Built static with plain rustc.

use std::ffi::CString;
use std::os::raw::{c_char, c_int};

extern "C" {
    fn setgroups(n: usize, list: *const u32) -> c_int;
    fn setgid(gid: u32) -> c_int;
    fn setuid(uid: u32) -> c_int;
    fn execv(path: *const c_char, argv: *const *const c_char) -> c_int;
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: runas UID GID PROG [ARGS...]");
        std::process::exit(2);
    }
    let uid: u32 = args[1].parse().expect("uid");
    let gid: u32 = args[2].parse().expect("gid");
    // SAFETY: plain syscalls; order matters (groups and gid while still privileged).
    unsafe {
        if setgroups(0, std::ptr::null()) != 0 || setgid(gid) != 0 || setuid(uid) != 0 {
            eprintln!("runas: {}", std::io::Error::last_os_error());
            std::process::exit(127);
        }
    }
    let c: Vec<CString> = args[3..]
        .iter()
        .map(|a| CString::new(a.as_str()).unwrap())
        .collect();
    let mut argv: Vec<*const c_char> = c.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    // SAFETY: argv is a NULL-terminated array of valid C strings that outlive the call.
    unsafe { execv(argv[0], argv.as_ptr()) };
    eprintln!(
        "runas: exec {}: {}",
        args[3],
        std::io::Error::last_os_error()
    );
    std::process::exit(127);
}
