//! The kernel's own System V calls, for the anchored namespace mode (`crate::anchored`):
//! message queues (the anchors) and shared-memory segments (the queues' memory).
//!
//! `msgget` and `msgctl` are made with the `syscall` instruction itself, never through
//! libc: inside the `LD_PRELOAD` shim, libc's `msgget`, `msgctl` and `syscall` are the
//! shim's own exports, and calling them would come back here.

use msgq_core::Errno;

/// `syscall(n, a, b, c)` without libc.
///
/// # Safety
/// The arguments must be valid for system call `n` (pointers the kernel may read or write).
unsafe fn raw3(n: i64, a: i64, b: i64, c: i64) -> i64 {
    // SAFETY: per the caller's contract; a fourth argument of 0 is ignored by three-argument
    // system calls.
    unsafe { raw4(n, a, b, c, 0) }
}

/// `syscall(n, a, b, c, d)` without libc.
///
/// # Safety
/// The arguments must be valid for system call `n` (pointers the kernel may read or write).
unsafe fn raw4(n: i64, a: i64, b: i64, c: i64, d: i64) -> i64 {
    let r: i64;
    // SAFETY: the x86_64 system call convention: number in rax, arguments in rdi, rsi,
    // rdx, r10; rcx and r11 are clobbered; memory the arguments point at is the caller's
    // contract.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") n => r,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            in("r10") d,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    r
}

/// Opens `path` with the `openat` system call itself: inside the shim, libc's `open` of a
/// `/proc/sys/kernel/msg*` file is the shim's (which may ask this store).
fn open_raw(path: &str, flags: i32) -> Result<i32, Errno> {
    let c = std::ffi::CString::new(path).map_err(|_| Errno::EINVAL)?;
    // SAFETY: a NUL-terminated path that outlives the call.
    ret(unsafe {
        raw4(
            libc::SYS_openat,
            libc::AT_FDCWD as i64,
            c.as_ptr() as i64,
            (flags | libc::O_CLOEXEC) as i64,
            0,
        )
    })
}

fn close_raw(fd: i32) {
    // SAFETY: closing a descriptor this module opened.
    unsafe { raw3(libc::SYS_close, fd as i64, 0, 0) };
}

/// The contents of a small file (a sysctl), read with the system calls themselves.
pub fn read_file(path: &str) -> Result<Vec<u8>, Errno> {
    let fd = open_raw(path, libc::O_RDONLY)?;
    let mut buf = vec![0u8; 64];
    // SAFETY: `buf` is writable for its length.
    let n = ret(unsafe {
        raw3(
            libc::SYS_read,
            fd as i64,
            buf.as_mut_ptr() as i64,
            buf.len() as i64,
        )
    });
    close_raw(fd);
    buf.truncate(n? as usize);
    Ok(buf)
}

/// Writes a small file (a sysctl) with the system calls themselves.
pub fn write_file(path: &str, data: &[u8]) -> Result<(), Errno> {
    let fd = open_raw(path, libc::O_WRONLY)?;
    // SAFETY: `data` is readable for its length.
    let n = ret(unsafe {
        raw3(
            libc::SYS_write,
            fd as i64,
            data.as_ptr() as i64,
            data.len() as i64,
        )
    });
    close_raw(fd);
    n.map(|_| ())
}

fn ret(r: i64) -> Result<i32, Errno> {
    if r < 0 {
        Err(Errno(-r as i32))
    } else {
        Ok(r as i32)
    }
}

/// The kernel's `msgget`.
pub fn msgget(key: i32, flags: i32) -> Result<i32, Errno> {
    // SAFETY: no pointers.
    ret(unsafe { raw3(libc::SYS_msgget, key as i64, flags as i64, 0) })
}

/// The kernel's `msgctl` with a `msqid64_ds`-sized buffer (the INFO commands fill a
/// `msginfo`, which is smaller).
pub fn msgctl(id: i32, cmd: i32, buf: &mut msgq_core::abi::MsqidDs) -> Result<i32, Errno> {
    // SAFETY: `buf` is a writable msqid64_ds (IPC_64 layout, 120 bytes on x86_64), which is
    // what every command reads or writes at most.
    ret(unsafe {
        raw3(
            libc::SYS_msgctl,
            id as i64,
            cmd as i64,
            buf as *mut _ as i64,
        )
    })
}

fn errno() -> Errno {
    Errno(
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}

/// `shmget(IPC_PRIVATE, size, flags)`.
pub fn shm_create(size: u64, flags: i32) -> Result<i32, Errno> {
    // SAFETY: no pointers.
    let r = unsafe { libc::shmget(libc::IPC_PRIVATE, size as usize, flags) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// `shmat(id, NULL, 0)`: the segment mapped read-write (the kernel checks r and w).
pub fn shm_attach(id: i32) -> Result<*mut u8, Errno> {
    // SAFETY: the kernel chooses the address; nothing of ours is overwritten.
    let p = unsafe { libc::shmat(id, std::ptr::null(), 0) };
    if p as isize == -1 {
        Err(errno())
    } else {
        Ok(p.cast())
    }
}

/// `shmdt`.
///
/// # Safety
/// `p` must be an address `shm_attach` returned, and nothing may use the mapping any more.
pub unsafe fn shm_detach(p: *mut u8) {
    // SAFETY: per the caller's contract.
    unsafe { libc::shmdt(p.cast()) };
}

/// `shmctl(id, cmd, buf)`.
pub fn shmctl(id: i32, cmd: i32, buf: &mut libc::shmid_ds) -> Result<i32, Errno> {
    // SAFETY: `buf` is a writable shmid_ds.
    let r = unsafe { libc::shmctl(id, cmd, buf) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// `SHM_INFO`: the highest index in use.
pub const SHM_INFO: i32 = 14;
/// `SHM_STAT_ANY` (Linux 4.17): any segment's `shmid_ds` by index, without a permission
/// check.
pub const SHM_STAT_ANY: i32 = 15;
/// `MSG_STAT_ANY`.
pub const MSG_STAT_ANY: i32 = 13;
/// `SHM_NORESERVE`: no swap space reserved (the segments are sparse).
pub const SHM_NORESERVE: i32 = 0o10000;
/// `SHM_DEST` in `shm_perm.mode`: removed, waiting for its last detach.
pub const SHM_DEST: u16 = 0o1000;
