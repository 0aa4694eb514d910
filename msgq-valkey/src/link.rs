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

    /// `BLMOVE` on several lists at once (`msgq_select`: one per watched queue, on whichever
    /// nodes hold them), each `(from, to)` on its own connection, waited for together with
    /// one `ppoll`: `Ok(Some(i))` when list `i` moved an element, `Ok(None)` when the server's
    /// timeout passed. The other commands are abandoned (their connections closed, so the
    /// server drops them; an element one of them had moved stays in its in-flight list for
    /// the caller's settle). A signal handler ends the wait with [`Blocked::Interrupted`].
    pub(crate) fn wait_any(
        &self,
        lists: &[(Vec<u8>, Vec<u8>)],
        timeout: Duration,
        since: &Since,
    ) -> Result<Option<usize>, Blocked> {
        let secs = format!("{:.3}", timeout.as_secs_f64().max(0.001));
        let mut conns: Vec<Conn> = Vec::with_capacity(lists.len());
        let abandon = |conns: &mut Vec<Conn>| conns.iter_mut().for_each(Conn::abandon);
        for (from, to) in lists {
            let mut c = self.blocking_conn(from).map_err(Blocked::Failed)?;
            let r = c.start_blocking(&[b"BLMOVE", from, to, b"LEFT", b"RIGHT", secs.as_bytes()]);
            conns.push(c);
            if let Err(e) = r {
                abandon(&mut conns);
                return Err(Blocked::Failed(errno(&e)));
            }
        }
        if since.fired() {
            abandon(&mut conns);
            return Err(Blocked::Interrupted);
        }
        let deadline = Instant::now() + timeout + GRACE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                abandon(&mut conns);
                return Ok(None);
            }
            let ts = libc::timespec {
                tv_sec: left.as_secs() as libc::time_t,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            };
            let mut pfds: Vec<libc::pollfd> = conns
                .iter()
                .map(|c| libc::pollfd {
                    fd: c.fd(),
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            // SAFETY: `pfds` is a valid array of its length; `ts` is a valid timespec; a null
            // signal mask leaves the thread's as it is (a handler interrupts the wait).
            let n = unsafe {
                libc::ppoll(
                    pfds.as_mut_ptr(),
                    pfds.len() as libc::nfds_t,
                    &ts,
                    std::ptr::null(),
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                abandon(&mut conns);
                return if e == libc::EINTR {
                    Err(Blocked::Interrupted)
                } else {
                    Err(Blocked::Failed(Errno(e)))
                };
            }
            let Some(i) = pfds.iter().position(|p| p.revents != 0) else {
                continue;
            };
            let r = conns[i].finish_blocking(Some(deadline));
            let mut rest = conns;
            let done = rest.swap_remove(i);
            rest.iter_mut().for_each(Conn::abandon);
            return match r {
                Ok(v) => {
                    if let Ok(pp) = self.here() {
                        if let Ok(mut idle) = pp.idle.lock() {
                            if idle.len() < POOL {
                                idle.push(done);
                            }
                        }
                    }
                    Ok((!v.is_nil()).then_some(i))
                }
                Err(Error::Interrupted) => Err(Blocked::Interrupted),
                Err(e) => Err(Blocked::Failed(errno(&e))),
            };
        }
    }
}
