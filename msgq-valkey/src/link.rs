//! The backend's link to the server: the [`Client`] (behind a lock, shared by the calling
//! threads) for library calls, and a small pool of blocking connections for waits, so that
//! a blocked call holds no lock and other threads' calls go on. Both are per process: after
//! `fork` the child makes its own on its first call (the parent's lock may be held by a
//! thread that does not exist in the child).

use crate::cluster::{Client, Options};
use crate::conn::Conn;
use crate::resp::Value;
use crate::url::Url;
use crate::Error;
use msgq_core::Errno;
use msgq_user::interrupt::Since;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The functions library, loaded lazily on each node that lacks it.
pub(crate) const LIBRARY: &[u8] = include_bytes!("../functions/msgq.lua");

/// Idle blocking connections kept for the next wait.
const POOL: usize = 8;

/// How long past a `BLMOVE`'s own timeout the client waits for its reply.
const GRACE: Duration = Duration::from_secs(5);

/// How a blocking wait failed.
#[derive(Debug)]
pub(crate) enum Blocked {
    /// A signal handler ran (the connection was dropped: the server abandoned the wait).
    Interrupted,
    /// The server could not be reached or answered nonsense.
    Failed(Errno),
}

pub(crate) fn errno(e: &Error) -> Errno {
    Errno(e.errno())
}

/// What one process uses: a forked child makes its own (the parent's may be locked by a
/// thread the child does not have, and its sockets are the parent's).
struct PerProcess {
    pid: libc::pid_t,
    client: Mutex<Client>,
    idle: Mutex<Vec<Conn>>,
}

/// The link of one [`crate::Valkey`].
///
/// INVARIANT: `cur` is null or points to a leaked `PerProcess` (never freed: a child may
/// still hold a reference to its parent's while it replaces it).
pub(crate) struct Link {
    url: Url,
    cur: AtomicPtr<PerProcess>,
}

fn getpid() -> libc::pid_t {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

impl Link {
    /// Connects to the server or cluster `url` names.
    pub(crate) fn open(url: &str) -> Result<Link, Errno> {
        let u = Url::parse(url).map_err(|e| errno(&e))?;
        let link = Link {
            url: u,
            cur: AtomicPtr::new(std::ptr::null_mut()),
        };
        link.here()?;
        Ok(link)
    }

    /// This process's client and pool, made on first use in each process.
    fn here(&self) -> Result<&PerProcess, Errno> {
        let me = getpid();
        let p = self.cur.load(Ordering::Acquire);
        // SAFETY: by the invariant a non-null `cur` is a leaked, never freed `PerProcess`.
        if let Some(pp) = unsafe { p.as_ref() } {
            if pp.pid == me {
                return Ok(pp);
            }
        }
        let mut o = Options::from_url(&self.url);
        o.library = Some(LIBRARY.to_vec());
        let client = Client::with_options(&self.url.seeds, o).map_err(|e| errno(&e))?;
        let mine = Box::into_raw(Box::new(PerProcess {
            pid: me,
            client: Mutex::new(client),
            idle: Mutex::new(Vec::new()),
        }));
        match self
            .cur
            .compare_exchange(p, mine, Ordering::AcqRel, Ordering::Acquire)
        {
            // SAFETY: `mine` is leaked from here on (the invariant).
            Ok(_) => Ok(unsafe { &*mine }),
            Err(theirs) => {
                // SAFETY: `mine` was never published.
                drop(unsafe { Box::from_raw(mine) });
                // SAFETY: as for `p` (another thread of this process published it).
                Ok(unsafe { &*theirs })
            }
        }
    }

    /// `FCALL func 1 key args...` on the node that holds `key`.
    pub(crate) fn fcall(&self, func: &str, key: &[u8], args: &[&[u8]]) -> Result<Value, Errno> {
        let mut c = self.here()?.client.lock().map_err(|_| Errno::EIO)?;
        c.fcall(func.as_bytes(), &[key], args)
            .map_err(|e| errno(&e))
    }

    /// `WAIT replicas timeout_ms` on the connection that carried this thread's last call to
    /// the node of `key`: how many replicas acknowledged every write made on it so far.
    pub(crate) fn wait_replicas(&self, key: &[u8], replicas: u32, ms: u64) -> Result<i64, Errno> {
        let mut c = self.here()?.client.lock().map_err(|_| Errno::EIO)?;
        let (n, t) = (replicas.to_string(), ms.to_string());
        let v = c
            .call_key(key, &[b"WAIT", n.as_bytes(), t.as_bytes()])
            .map_err(|e| errno(&e))?;
        v.as_int().ok_or(Errno::EIO)
    }

    /// A blocking connection to the node that holds `key` (an idle one of this process if
    /// there is one).
    fn blocking_conn(&self, key: &[u8]) -> Result<Conn, Errno> {
        let pp = self.here()?;
        let mut c = pp.client.lock().map_err(|_| Errno::EIO)?;
        let ep = c.node_for_key(key);
        if let (Some(ep), Ok(mut idle)) = (ep, pp.idle.lock()) {
            if let Some(i) = idle.iter().position(|k| k.endpoint() == &ep) {
                return Ok(idle.swap_remove(i));
            }
        }
        c.dedicated_conn(key).map_err(|e| errno(&e))
    }

    /// `BLMOVE from to LEFT RIGHT timeout`: `Ok(true)` if an element moved, `Ok(false)` if
    /// the server's timeout passed. A signal handler that ran since `since`, or runs during
    /// the wait, ends it with [`Blocked::Interrupted`].
    pub(crate) fn blmove(
        &self,
        from: &[u8],
        to: &[u8],
        timeout: Duration,
        since: &Since,
    ) -> Result<bool, Blocked> {
        let mut conn = self.blocking_conn(from).map_err(Blocked::Failed)?;
        if since.fired() {
            return Err(Blocked::Interrupted);
        }
        let secs = format!("{:.3}", timeout.as_secs_f64().max(0.001));
        let r = conn.call_blocking(
            &[b"BLMOVE", from, to, b"LEFT", b"RIGHT", secs.as_bytes()],
            Some(Instant::now() + timeout + GRACE),
        );
        let moved = match r {
            Ok(Value::Nil) => false,
            Ok(_) => true,
            Err(Error::Interrupted) => return Err(Blocked::Interrupted),
            Err(e) => return Err(Blocked::Failed(errno(&e))),
        };
        if let Ok(pp) = self.here() {
            if let Ok(mut idle) = pp.idle.lock() {
                if idle.len() < POOL {
                    idle.push(conn);
                }
            }
        }
        Ok(moved)
    }
}
