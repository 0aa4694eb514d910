//! The backend of this process, chosen once from the environment:
//!
//! * `MSGQ_BACKEND=user`: the userspace engine (`msgq-user`), on the store named by
//!   `MSGQ_STORE`, or else the default store of the calling thread's IPC namespace and the
//!   user, followed across namespace changes (module `nsfollow`).
//! * `MSGQ_BACKEND=kmod`: the kernel module, through `/dev/msgq` ([`crate::kmod`]). When the
//!   device cannot be opened, one message on stderr and every call fails (`ENOSYS` when the
//!   module is not loaded, else `open`'s errno).
//! * `MSGQ_BACKEND=native`: the kernel's own queues (the real libc functions).
//! * `MSGQ_BACKEND=valkey`: queues on a Valkey server or cluster (`msgq-valkey`), named by
//!   `MSGQ_URL` and `MSGQ_NAMESPACE` (docs/cluster.md). When no server answers, one message
//!   on stderr and every call fails with the connection's errno.
//! * unset or empty: `kmod` when `/dev/msgq` exists, else `user`.
//!
//! The choice is made on first use and published with one compare-and-swap: no lock is
//! taken, so a child forked by a multithreaded parent, or a signal handler, can never wait
//! for it.

use crate::diag;
use msgq_user::Store;
use std::ffi::CStr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicPtr, Ordering};

/// What the four calls go to.
pub enum Backend {
    /// The kernel's queues.
    Native,
    /// The userspace engine.
    User(UserStore),
    /// The kernel module.
    Kmod(crate::kmod::Kmod),
    /// A namespace on a Valkey server or cluster.
    Valkey(msgq_valkey::Valkey),
    /// The backend could not start: every call fails with this errno.
    Unavailable(i32),
}

/// The store(s) of the userspace backend.
pub enum UserStore {
    /// `MSGQ_STORE`: one store for every thread, whatever its namespace.
    Fixed(Store),
    /// The default store of each thread's IPC namespace (module `nsfollow`).
    Follow,
}

impl UserStore {
    /// Runs `f` on the calling thread's store: inside an engine call (`crate::engine_call`),
    /// so that no other call of this thread starts meanwhile. Fails with the errno of a
    /// store that cannot be opened.
    pub fn with<R>(&self, f: impl FnOnce(&Store) -> R) -> Result<R, i32> {
        match self {
            UserStore::Fixed(s) => Ok(f(s)),
            UserStore::Follow => crate::nsfollow::with_store(f),
        }
    }
}

static BACKEND: AtomicPtr<Backend> = AtomicPtr::new(std::ptr::null_mut());

fn env(name: &CStr) -> Option<Vec<u8>> {
    // SAFETY: getenv with a NUL-terminated name; the result is copied at once. glibc's getenv
    // takes no lock.
    let p = unsafe { libc::getenv(name.as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: a non-null getenv result is a NUL-terminated string.
    Some(unsafe { CStr::from_ptr(p) }.to_bytes().to_vec())
}

/// The store `MSGQ_STORE` names, if set and not empty.
pub fn fixed_store_path() -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    match env(c"MSGQ_STORE") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(std::ffi::OsString::from_vec(p))),
        _ => None,
    }
}

/// Whether this build has a kernel-module backend ([`crate::kmod`]).
const KMOD_BACKEND_BUILT: bool = true;

/// The device of the kernel module.
const KMOD_DEVICE: &CStr = c"/dev/msgq";

fn kmod_device_present() -> bool {
    // SAFETY: access with a NUL-terminated path has no other precondition.
    unsafe { libc::access(KMOD_DEVICE.as_ptr(), libc::F_OK) == 0 }
}

fn start() -> Backend {
    let mut choice = env(c"MSGQ_BACKEND").unwrap_or_default();
    if choice.is_empty() && KMOD_BACKEND_BUILT && kmod_device_present() {
        choice = b"kmod".to_vec();
    }
    match choice.as_slice() {
        b"native" => Backend::Native,
        b"valkey" => match msgq_valkey::Valkey::from_env() {
            Ok(v) => Backend::Valkey(v),
            Err(e) => {
                diag::once(&format!(
                    "MSGQ_BACKEND=valkey: {} ({}): {e}; System V message calls fail with errno {}",
                    String::from_utf8_lossy(&env(c"MSGQ_URL").unwrap_or_default()),
                    if env(c"MSGQ_URL").is_none() {
                        "MSGQ_URL is not set"
                    } else {
                        "no server answered"
                    },
                    e.0
                ));
                Backend::Unavailable(e.0)
            }
        },
        b"kmod" => match crate::kmod::Kmod::open() {
            Ok(k) => Backend::Kmod(k),
            Err(e) => {
                let missing = matches!(e, libc::ENOENT | libc::ENODEV | libc::ENXIO);
                let errno = if missing { libc::ENOSYS } else { e };
                diag::once(&format!(
                    "MSGQ_BACKEND=kmod: /dev/msgq: {}{}; System V message calls fail with \
                     errno {errno} (use MSGQ_BACKEND=user or native)",
                    std::io::Error::from_raw_os_error(e),
                    if missing {
                        " (is the msgq module loaded?)"
                    } else {
                        ""
                    }
                ));
                Backend::Unavailable(errno)
            }
        },
        b"" | b"user" => {
            // Without MSGQ_STORE the calling thread's store is opened here only to report a
            // store that cannot be opened at once, as for MSGQ_STORE.
            let opened = match fixed_store_path() {
                Some(path) => Store::open_or_create(&path, &msgq_user::StoreOptions::default())
                    .map(UserStore::Fixed),
                None => crate::nsfollow::check_start().map(|()| UserStore::Follow),
            };
            match opened {
                Ok(u) => Backend::User(u),
                Err(e) => {
                    diag::once(&format!(
                        "{e}; the userspace backend cannot start, System V message calls fail \
                         with errno {}",
                        e.errno()
                    ));
                    Backend::Unavailable(e.errno())
                }
            }
        }
        other => {
            diag::once(&format!(
                "MSGQ_BACKEND={}: unknown backend (use user, kmod, valkey or native); System V message \
                 calls fail with ENOSYS",
                String::from_utf8_lossy(other)
            ));
            Backend::Unavailable(libc::ENOSYS)
        }
    }
}

/// The backend, started on first use.
pub fn get() -> &'static Backend {
    let p = BACKEND.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: a published backend is leaked and never freed.
        return unsafe { &*p };
    }
    let mine = Box::into_raw(Box::new(start()));
    match BACKEND.compare_exchange(
        std::ptr::null_mut(),
        mine,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        // SAFETY: we just published `mine`; it is never freed.
        Ok(_) => unsafe { &*mine },
        Err(theirs) => {
            // SAFETY: `mine` was never published; another thread's backend won the race.
            drop(unsafe { Box::from_raw(mine) });
            // SAFETY: as for `p` above.
            unsafe { &*theirs }
        }
    }
}

/// Whether this process's choice is the native backend, decided without starting anything
/// (used on paths that must stay cheap, like every `open`). Under the user and the kmod
/// backends the `/proc` files are emulated (the module has no `/proc` files of its own).
pub fn is_native() -> bool {
    let p = BACKEND.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: as in `get`.
        return matches!(unsafe { &*p }, Backend::Native);
    }
    env(c"MSGQ_BACKEND").as_deref() == Some(b"native")
}
