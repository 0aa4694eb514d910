//! The libc entry points through which programs open the observability files, and the
//! ones that end a write to a limit file (see [`crate::procfs`]).

use crate::backend::{self, Backend};
use crate::procfs::{self, Target};
use crate::real::{self, call_real};
use crate::{guard, set_errno};
use libc::{c_char, c_int, c_uint, c_void, size_t, ssize_t, FILE};

/// The NUL-terminated string at `p` (without its NUL), if it can be read, NUL included,
/// within `max` bytes. One guarded byte per page (protection is per page, so the rest of a
/// page whose byte was readable is too), then a plain search for the NUL in that page: no
/// system call.
fn c_string_readable<'a>(p: *const c_char, max: usize) -> Option<&'a [u8]> {
    let start = p as usize;
    let mut a = start;
    let end = a.saturating_add(max);
    while a < end {
        // (Saturating: the last page of the address space has no successor.)
        let page_end = (a | 4095).saturating_add(1).min(end);
        let mut b = [0u8; 1];
        // SAFETY: one byte of the C caller's string, read into our buffer; an unmapped
        // address is EFAULT (None), a mapped one is the caller's (C's contract for `p`).
        unsafe { msgq_user::sys::usermem::read(a as *const u8, &mut b) }.ok()?;
        // SAFETY: `[a, page_end)` lies in one page, which the guarded read just showed to
        // be mapped and readable. (Unmapping it concurrently from another thread is the
        // caller's data race, as it would be for the kernel's copy.)
        let rest = unsafe { std::slice::from_raw_parts(a as *const u8, page_end - a) };
        if let Some(i) = rest.iter().position(|&c| c == 0) {
            // SAFETY: every page from `start` to here was readable, as above.
            return Some(unsafe { std::slice::from_raw_parts(p.cast(), a + i - start) });
        }
        a = page_end;
    }
    None
}

/// Whether a path's last component must be a directory (`dir/`, `dir/.`, `dir/..`): such
/// a path never names one of the emulated files (Linux answers `ENOTDIR` for them).
fn names_a_directory(path: &[u8]) -> bool {
    path.ends_with(b"/") || path.ends_with(b"/.") || path.ends_with(b"/..")
}

/// Whether `openat(dirfd, path)` is one of ours, in a process whose backend answers for it.
/// A path that cannot be read (unmapped, `PROT_NONE`, running off its mapping before its
/// NUL) or longer than `PATH_MAX` never is: the real call gives `EFAULT` or
/// `ENAMETOOLONG`, as without the shim. Nor is a path whose last component must be a
/// directory.
fn ours(dirfd: c_int, path: *const c_char, flags: c_int) -> Option<Target> {
    if flags & libc::O_PATH != 0 || (path as usize) < 4096 {
        return None;
    }
    let text = c_string_readable(path, libc::PATH_MAX as usize)?;
    if names_a_directory(text) {
        return None;
    }
    // SAFETY: open's contract: `path` is a NUL-terminated string (or null).
    let t = unsafe { procfs::classify(dirfd, path) }?;
    if backend::is_native() {
        return None;
    }
    Some(t)
}

fn open_ours(t: Target, flags: c_int) -> c_int {
    let _ = procfs::flush_pending(None);
    let r = match backend::get() {
        Backend::User(u) => crate::engine_call(Err(libc::EDEADLK), || {
            u.with(|s| procfs::open_fd(s, t, flags)).and_then(|r| r)
        }),
        Backend::Kmod(k) => procfs::open_fd(k, t, flags),
        Backend::Valkey(v) => procfs::open_fd(v, t, flags),
        Backend::Unavailable(e) => Err(*e),
        Backend::Native => Err(libc::ENOSYS),
    };
    r.unwrap_or_else(|e| {
        set_errno(e);
        -1
    })
}

type OpenFn = unsafe extern "C" fn(*const c_char, c_int, c_uint) -> c_int;
type OpenAtFn = unsafe extern "C" fn(c_int, *const c_char, c_int, c_uint) -> c_int;
type Open2Fn = unsafe extern "C" fn(*const c_char, c_int) -> c_int;
type OpenAt2Fn = unsafe extern "C" fn(c_int, *const c_char, c_int) -> c_int;

macro_rules! open_like {
    ($(#[$doc:meta] $name:ident = $real:ident: path-only;)*) => {$(
        #[$doc]
        ///
        /// # Safety
        /// Callable from C like the libc function (`mode` is read only when the flags need
        /// it, as the variadic C function does).
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C" fn $name(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
            guard(-1, || match ours(libc::AT_FDCWD, path, flags) {
                Some(t) => open_ours(t, flags),
                None => call_real!(real::$real, OpenFn, {set_errno(libc::ENOSYS); -1}, (path, flags, mode)),
            })
        }
    )*};
}

open_like! {
    /// `int open(const char *path, int flags, ...)`
    open = OPEN: path-only;
    /// `int open64(const char *path, int flags, ...)`
    open64 = OPEN64: path-only;
}

macro_rules! openat_like {
    ($(#[$doc:meta] $name:ident = $real:ident;)*) => {$(
        #[$doc]
        ///
        /// # Safety
        /// Callable from C like the libc function.
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C" fn $name(dirfd: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
            guard(-1, || match ours(dirfd, path, flags) {
                Some(t) => open_ours(t, flags),
                None => call_real!(real::$real, OpenAtFn, {set_errno(libc::ENOSYS); -1}, (dirfd, path, flags, mode)),
            })
        }
    )*};
}

openat_like! {
    /// `int openat(int dirfd, const char *path, int flags, ...)`
    openat = OPENAT;
    /// `int openat64(int dirfd, const char *path, int flags, ...)`
    openat64 = OPENAT64;
}

macro_rules! open2_like {
    ($(#[$doc:meta] $name:ident = $real:ident;)*) => {$(
        #[$doc]
        ///
        /// # Safety
        /// Callable from C like the libc function.
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C" fn $name(path: *const c_char, flags: c_int) -> c_int {
            guard(-1, || match ours(libc::AT_FDCWD, path, flags) {
                Some(t) => open_ours(t, flags),
                None => call_real!(real::$real, Open2Fn, {set_errno(libc::ENOSYS); -1}, (path, flags)),
            })
        }
    )*};
}

open2_like! {
    /// `int __open_2(const char *path, int flags)` (`_FORTIFY_SOURCE`)
    __open_2 = OPEN_2;
    /// `int __open64_2(const char *path, int flags)` (`_FORTIFY_SOURCE`)
    __open64_2 = OPEN64_2;
}

macro_rules! openat2_like {
    ($(#[$doc:meta] $name:ident = $real:ident;)*) => {$(
        #[$doc]
        ///
        /// # Safety
        /// Callable from C like the libc function.
        #[cfg_attr(not(test), no_mangle)]
        pub unsafe extern "C" fn $name(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
            guard(-1, || match ours(dirfd, path, flags) {
                Some(t) => open_ours(t, flags),
                None => call_real!(real::$real, OpenAt2Fn, {set_errno(libc::ENOSYS); -1}, (dirfd, path, flags)),
            })
        }
    )*};
}

openat2_like! {
    /// `int __openat_2(int dirfd, const char *path, int flags)` (`_FORTIFY_SOURCE`)
    __openat_2 = OPENAT_2;
    /// `int __openat64_2(int dirfd, const char *path, int flags)` (`_FORTIFY_SOURCE`)
    __openat64_2 = OPENAT64_2;
}

type FopenFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut FILE;

fn fopen_common(path: *const c_char, mode: *const c_char, real_fn: &real::Real) -> *mut FILE {
    let t = if mode.is_null() {
        None
    } else {
        ours(libc::AT_FDCWD, path, 0)
    };
    let Some(t) = t else {
        return call_real!(
            real_fn,
            FopenFn,
            {
                set_errno(libc::ENOSYS);
                std::ptr::null_mut()
            },
            (path, mode)
        );
    };
    let _ = procfs::flush_pending(None);
    let r = match backend::get() {
        Backend::User(u) => crate::engine_call(Err(libc::EDEADLK), || {
            // SAFETY: `mode` is non-null and, per fopen's contract, NUL-terminated.
            u.with(|s| unsafe { procfs::open_stream(s, t, mode) })
                .and_then(|r| r)
        }),
        // SAFETY: `mode` is non-null and, per fopen's contract, NUL-terminated.
        Backend::Kmod(k) => unsafe { procfs::open_stream(k, t, mode) },
        // SAFETY: as above.
        Backend::Valkey(v) => unsafe { procfs::open_stream(v, t, mode) },
        Backend::Unavailable(e) => Err(*e),
        Backend::Native => Err(libc::ENOSYS),
    };
    r.unwrap_or_else(|e| {
        set_errno(e);
        std::ptr::null_mut()
    })
}

/// `FILE *fopen(const char *path, const char *mode)`
///
/// # Safety
/// Callable from C like the libc function.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn fopen(path: *const c_char, mode: *const c_char) -> *mut FILE {
    guard(std::ptr::null_mut(), || {
        fopen_common(path, mode, &real::FOPEN)
    })
}

/// `FILE *fopen64(const char *path, const char *mode)`
///
/// # Safety
/// Callable from C like the libc function.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn fopen64(path: *const c_char, mode: *const c_char) -> *mut FILE {
    guard(std::ptr::null_mut(), || {
        fopen_common(path, mode, &real::FOPEN64)
    })
}

/// Reports an error from applying a pending limit write as the result of the call that
/// ended it.
fn settle(r: c_int, id: Option<(u64, u64)>) -> c_int {
    if let Some(id) = id {
        if let Err(e) = procfs::flush_pending(Some(id)) {
            set_errno(e);
            return -1;
        }
    }
    r
}

/// `int close(int fd)`: one atomic load, unless a limit write is pending.
///
/// # Safety
/// Callable from C like the libc function.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    guard(-1, || {
        let id = procfs::pending_id(fd);
        let r = call_real!(
            real::CLOSE,
            unsafe extern "C" fn(c_int) -> c_int,
            {
                set_errno(libc::ENOSYS);
                -1
            },
            (fd)
        );
        settle(r, id)
    })
}

/// `int fclose(FILE *stream)`
///
/// # Safety
/// Callable from C like the libc function.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn fclose(f: *mut FILE) -> c_int {
    guard(libc::EOF, || {
        let id = if procfs::any_pending() && !f.is_null() {
            // SAFETY: a stream the caller is about to close, so still valid.
            procfs::pending_id(unsafe { libc::fileno(f) })
        } else {
            None
        };
        let r = call_real!(
            real::FCLOSE,
            unsafe extern "C" fn(*mut FILE) -> c_int,
            {
                set_errno(libc::ENOSYS);
                libc::EOF
            },
            (f)
        );
        if settle(0, id) != 0 {
            return libc::EOF;
        }
        r
    })
}

/// glibc's public `_IO_ERR_SEEN` bit of `FILE::_flags` (what `ferror` tests).
const IO_ERR_SEEN: c_int = 0x20;

/// `int fflush(FILE *stream)`: stdio writes go through glibc's internal `write`, which the
/// shim cannot see, so a limit written with stdio on a descriptor (a shell's `echo N >
/// /proc/sys/kernel/msgmax`) is applied here; a refused value makes `fflush` fail with
/// `EINVAL` and sets the stream's error flag, as the kernel's write error would.
///
/// # Safety
/// Callable from C like the libc function.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn fflush(f: *mut FILE) -> c_int {
    guard(libc::EOF, || {
        let r = call_real!(
            real::FFLUSH,
            unsafe extern "C" fn(*mut FILE) -> c_int,
            {
                set_errno(libc::ENOSYS);
                libc::EOF
            },
            (f)
        );
        if !procfs::any_pending() {
            return r;
        }
        let id = if f.is_null() {
            let _ = procfs::flush_pending(None);
            None
        } else {
            // SAFETY: a stream the caller just flushed, so still valid.
            procfs::pending_id(unsafe { libc::fileno(f) })
        };
        if id.is_none() {
            return r;
        }
        match procfs::flush_pending(id) {
            Err(err) => {
                // SAFETY: `_flags` is the first field of glibc's public `struct _IO_FILE`.
                unsafe { *f.cast::<c_int>() |= IO_ERR_SEEN };
                set_errno(err);
                libc::EOF
            }
            Ok(()) => r,
        }
    })
}

/// `int dup2(int old, int new)`: `new` is closed implicitly, which may end a limit write.
///
/// # Safety
/// Callable from C like the libc function.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    guard(-1, || {
        let id = procfs::pending_id(new);
        let r = call_real!(
            real::DUP2,
            unsafe extern "C" fn(c_int, c_int) -> c_int,
            {
                set_errno(libc::ENOSYS);
                -1
            },
            (old, new)
        );
        if id.is_some() {
            let _ = procfs::flush_pending(id);
        }
        r
    })
}

/// `int dup3(int old, int new, int flags)`
///
/// # Safety
/// Callable from C like the libc function.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    guard(-1, || {
        let id = procfs::pending_id(new);
        let r = call_real!(
            real::DUP3,
            unsafe extern "C" fn(c_int, c_int, c_int) -> c_int,
            {
                set_errno(libc::ENOSYS);
                -1
            },
            (old, new, flags)
        );
        if id.is_some() {
            let _ = procfs::flush_pending(id);
        }
        r
    })
}

/// `ssize_t write(int fd, const void *buf, size_t n)`: one atomic load, unless a limit
/// write is pending; a write to a limit file is applied at once, with the kernel's result
/// (`EINVAL` if refused; see [`procfs::write_tracked`]).
///
/// # Safety
/// Callable from C like the libc function.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    guard(-1, || {
        if let Some(id) = procfs::pending_id(fd) {
            return match procfs::write_tracked(fd, id, buf, n) {
                Ok(k) => k as ssize_t,
                Err(e) => {
                    set_errno(e);
                    -1
                }
            };
        }
        call_real!(
            real::WRITE,
            unsafe extern "C" fn(c_int, *const c_void, size_t) -> ssize_t,
            {
                set_errno(libc::ENOSYS);
                -1
            },
            (fd, buf, n)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::c_string_readable;

    #[test]
    fn hostile_paths_are_unreadable() {
        // SAFETY: two fresh anonymous pages of our own; the second is made inaccessible.
        let p = unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                2 * 4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            libc::mprotect(p.cast::<u8>().add(4096).cast(), 4096, libc::PROT_NONE);
            p.cast::<u8>()
        };
        let at = |off: usize, text: &[u8]| {
            // SAFETY: `off + text.len()` stays within the first (writable) page.
            unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), p.add(off), text.len()) };
            p.wrapping_add(off).cast::<libc::c_char>()
        };
        assert_eq!(
            c_string_readable(at(0, b"/proc/sysvipc/msg\0"), 4096),
            Some(&b"/proc/sysvipc/msg"[..])
        );
        // Its NUL is the last byte of the page.
        assert_eq!(
            c_string_readable(at(4096 - 4, b"msg\0"), 4096),
            Some(&b"msg"[..])
        );
        assert_eq!(c_string_readable(at(200, b"\0"), 4096), Some(&b""[..]));
        // Runs into the PROT_NONE page before its NUL.
        assert_eq!(c_string_readable(at(4096 - 3, b"msg"), 4096), None);
        // No NUL within `max` bytes.
        assert_eq!(c_string_readable(at(100, b"/msg/msg/msg\0"), 5), None);
        assert_eq!(c_string_readable(p.wrapping_add(4096).cast(), 4096), None);
        // The top of the address space: no page after it (found by the shim_calls fuzzer
        // as an overflow in the page walk).
        let readable_at = |a: usize| c_string_readable(a as *const libc::c_char, 4096);
        assert_eq!(readable_at(usize::MAX), None);
        assert_eq!(readable_at(usize::MAX - 7), None);
        assert_eq!(readable_at(0xffff_8000_0000_0000), None);
    }

    #[test]
    fn directory_forms_are_not_files() {
        for p in [
            "/proc/sysvipc/msg/",
            "/proc/sysvipc/msg/.",
            "/proc/sys/kernel/msgmax/..",
        ] {
            assert!(super::names_a_directory(p.as_bytes()), "{p}");
        }
        for p in [
            "/proc/sysvipc/msg",
            "msg",
            "/proc/self/../sysvipc//msg",
            ".msg",
            "",
        ] {
            assert!(!super::names_a_directory(p.as_bytes()), "{p}");
        }
    }
}
