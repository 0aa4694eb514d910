//! One TCP connection to one server.
//!
//! The socket is a blocking `std::net::TcpStream` (opened with `SOCK_CLOEXEC`, `TCP_NODELAY`
//! set) that is only ever read and written with `MSG_DONTWAIT` (and `MSG_NOSIGNAL`: a peer
//! that went away gives `EPIPE`, never a `SIGPIPE` in the host program), after a `ppoll` bounded
//! by a deadline. So every wait is bounded, and a signal can interrupt the wait of a blocking
//! command (see [`Conn::call_blocking`]).
//!
//! After any I/O or protocol failure, a timeout or an interruption, the stream's position in
//! the reply sequence is unknown: the connection marks itself broken and refuses further use
//! ([`Conn::is_usable`] is false); the owner drops it and opens a new one. The pid that opened
//! the connection is recorded: in a child after `fork` the connection is unusable too (the child
//! must not talk on its parent's socket); dropping it there only closes the child's copy of
//! the descriptor.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::resp::{self, Value};
use crate::url::Endpoint;
use crate::Error;

/// Default bound of a connect, and of a whole request and reply of a non-blocking command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How connections are opened and how long their waits may last.
#[derive(Clone)]
pub struct ConnConfig {
    /// Bound of the TCP connect (each resolved address) and of the setup commands.
    pub connect_timeout: Duration,
    /// Bound of a request and its reply in [`Conn::call`] and [`Conn::pipeline`].
    pub io_timeout: Duration,
    /// `AUTH user password` (or `AUTH password` without a user) after connecting.
    pub user: Option<String>,
    /// See `user`.
    pub password: Option<String>,
    /// `SELECT db` after connecting, when not 0.
    pub db: u32,
}

impl Default for ConnConfig {
    fn default() -> ConnConfig {
        ConnConfig {
            connect_timeout: DEFAULT_TIMEOUT,
            io_timeout: DEFAULT_TIMEOUT,
            user: None,
            password: None,
            db: 0,
        }
    }
}

impl std::fmt::Debug for ConnConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnConfig")
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("db", &self.db)
            .finish()
    }
}

/// Read buffer capacity kept between replies.
const KEEP_BUFFER: usize = 64 << 10;

/// TCP keepalive (first probe after 15 s idle, then every 5 s, 3 probes): a blocking call
/// without a deadline on a peer that vanished (host down, partition: no FIN, no RST) ends with
/// `ETIMEDOUT` after about 30 s instead of never. Failures are ignored (best effort).
fn keepalive(sock: &TcpStream) {
    let fd = sock.as_raw_fd();
    for (level, name, value) in [
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1),
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 15),
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 5),
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3),
    ] {
        let v: libc::c_int = value;
        // SAFETY: `fd` is an open socket; the option value is a c_int of the size given.
        unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
}

/// The calling process's pid.
pub(crate) fn getpid() -> libc::pid_t {
    // SAFETY: getpid has no preconditions and cannot fail.
    unsafe { libc::getpid() }
}

/// One connection. Not shared between threads by itself (`&mut self` everywhere).
pub struct Conn {
    sock: TcpStream,
    pid: libc::pid_t,
    endpoint: Endpoint,
    io_timeout: Duration,
    /// Bytes received and not yet consumed: `buf[start..]`.
    buf: Vec<u8>,
    start: usize,
    broken: bool,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("endpoint", &self.endpoint)
            .field("pid", &self.pid)
            .field("broken", &self.broken)
            .finish()
    }
}

enum Wake {
    /// Retry the wait after a signal (the remaining time is recomputed).
    Restart,
    /// Return [`Error::Interrupted`] after a signal.
    Interrupt,
}

fn resolve(ep: &Endpoint) -> Result<Vec<SocketAddr>, Error> {
    if let Ok(ip) = ep.host.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, ep.port)]);
    }
    // A name goes through getaddrinfo (its own timeouts, from resolv.conf).
    let addrs: Vec<SocketAddr> = (ep.host.as_str(), ep.port)
        .to_socket_addrs()
        .map_err(Error::Io)?
        .collect();
    if addrs.is_empty() {
        return Err(Error::Io(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{}: no address", ep.host),
        )));
    }
    Ok(addrs)
}

impl Conn {
    /// Opens a connection to `ep`, then authenticates and selects the database as `cfg` says.
    /// A refused connect gives `ECONNREFUSED`; no answer within `cfg.connect_timeout` gives
    /// [`Error::TimedOut`].
    pub fn connect(ep: &Endpoint, cfg: &ConnConfig) -> Result<Conn, Error> {
        let mut last = None;
        let mut sock = None;
        for addr in resolve(ep)? {
            match TcpStream::connect_timeout(&addr, cfg.connect_timeout) {
                Ok(s) => {
                    sock = Some(s);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => last = Some(Error::TimedOut),
                Err(e) => last = Some(Error::Io(e)),
            }
        }
        let Some(sock) = sock else {
            return Err(last.unwrap_or(Error::TimedOut));
        };
        sock.set_nodelay(true).map_err(Error::Io)?;
        keepalive(&sock);
        let mut conn = Conn {
            sock,
            pid: getpid(),
            endpoint: ep.clone(),
            io_timeout: cfg.io_timeout,
            buf: Vec::new(),
            start: 0,
            broken: false,
        };
        let setup_deadline = Instant::now() + cfg.connect_timeout;
        if let Some(pw) = &cfg.password {
            match &cfg.user {
                Some(u) => {
                    conn.call_until(&[b"AUTH", u.as_bytes(), pw.as_bytes()], setup_deadline)?
                }
                None => conn.call_until(&[b"AUTH", pw.as_bytes()], setup_deadline)?,
            };
        }
        if cfg.db != 0 {
            conn.call_until(&[b"SELECT", cfg.db.to_string().as_bytes()], setup_deadline)?;
        }
        Ok(conn)
    }

    /// The server this connection goes to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The pid of the process that opened the connection.
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// The bound of [`Conn::call`].
    pub fn set_io_timeout(&mut self, t: Duration) {
        self.io_timeout = t;
    }

    /// False when the connection failed before, belongs to another process (after `fork`),
    /// or was closed by the server or has unexpected bytes waiting while idle (a server
    /// restart, an idle timeout): checked with a zero-timeout poll, so that a command is not
    /// sent on a connection that is known to be dead.
    pub fn is_usable(&mut self) -> bool {
        if self.broken || self.pid != getpid() {
            return false;
        }
        if self.start != self.buf.len() {
            self.broken = true;
            return false;
        }
        let mut pfd = libc::pollfd {
            fd: self.sock.as_raw_fd(),
            events: libc::POLLIN | libc::POLLRDHUP,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        if n != 0 {
            // Readable while idle (EOF, a reset, stray data) or poll failed: do not use it.
            self.broken = true;
            return false;
        }
        true
    }

    fn check_owner(&self) -> Result<(), Error> {
        if self.pid != getpid() {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::NotConnected,
                "connection opened by another process (fork): reconnect",
            )));
        }
        if self.broken {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::NotConnected,
                "connection broken earlier",
            )));
        }
        Ok(())
    }

    /// Sends one command and reads its reply, all within the io timeout. A top-level error
    /// reply is `Err(Error::Server)` (the connection stays usable). A signal does not end the
    /// wait (it is resumed with the remaining time).
    pub fn call(&mut self, args: &[&[u8]]) -> Result<Value, Error> {
        let deadline = Instant::now() + self.io_timeout;
        self.call_until(args, deadline)
    }

    fn call_until(&mut self, args: &[&[u8]], deadline: Instant) -> Result<Value, Error> {
        self.check_owner()?;
        let mut out = Vec::new();
        resp::encode_command(args, &mut out);
        let r = self
            .send(&out, Some(deadline))
            .and_then(|()| self.read_reply(Some(deadline), Wake::Restart));
        self.finish(r)
    }

    /// Sends several commands at once and reads all their replies (within the io timeout).
    /// Error replies stay [`Value::Error`] in the result, one value per command.
    pub fn pipeline(&mut self, cmds: &[&[&[u8]]]) -> Result<Vec<Value>, Error> {
        self.check_owner()?;
        let deadline = Instant::now() + self.io_timeout;
        let mut out = Vec::new();
        for c in cmds {
            resp::encode_command(c, &mut out);
        }
        let r = (|| {
            self.send(&out, Some(deadline))?;
            let mut vals = Vec::with_capacity(cmds.len());
            for _ in cmds {
                vals.push(self.read_reply(Some(deadline), Wake::Restart)?);
            }
            Ok(vals)
        })();
        if r.is_err() {
            self.broken = true;
        }
        r
    }

    /// Sends a command that the server may hold (BLMOVE, BLPOP, ... with their own server-side
    /// timeout) and waits for the reply until `deadline` (`None`: without bound).
    ///
    /// The wait is a `ppoll` that a signal handler running in this thread ends, whatever its
    /// `SA_RESTART`: the call then returns [`Error::Interrupted`] (`EINTR`). On interruption
    /// and on [`Error::TimedOut`] the connection is shut down at once (`shutdown(2)`, so the
    /// server sees the close even if a forked child still holds a copy of the descriptor) and
    /// is unusable: the server abandons the blocked command. A reply that the server had
    /// already sent is lost with it; the caller's protocol must allow for that (e.g. BLMOVE to
    /// a pending list it then inspects with a follow-up call on another connection).
    pub fn call_blocking(
        &mut self,
        args: &[&[u8]],
        deadline: Option<Instant>,
    ) -> Result<Value, Error> {
        self.check_owner()?;
        let mut out = Vec::new();
        resp::encode_command(args, &mut out);
        let send_deadline = Instant::now() + self.io_timeout;
        let send_deadline = deadline.map_or(send_deadline, |d| d.min(send_deadline));
        let r = self
            .send(&out, Some(send_deadline))
            .and_then(|()| self.read_reply(deadline, Wake::Interrupt));
        if matches!(r, Err(Error::Interrupted | Error::TimedOut)) {
            let _ = self.sock.shutdown(std::net::Shutdown::Both);
        }
        self.finish(r)
    }

    /// The first half of [`Conn::call_blocking`], for a caller that waits on several
    /// connections at once (`ppoll` on their [`Conn::fd`]s): sends the command.
    pub fn start_blocking(&mut self, args: &[&[u8]]) -> Result<(), Error> {
        self.check_owner()?;
        let mut out = Vec::new();
        resp::encode_command(args, &mut out);
        let r = self.send(&out, Some(Instant::now() + self.io_timeout));
        if r.is_err() {
            self.broken = true;
        }
        r
    }

    /// The second half: the reply of the command [`Conn::start_blocking`] sent, once the
    /// caller saw the socket readable (waits at most until `deadline`; a signal or the
    /// deadline shut the connection down, as in [`Conn::call_blocking`]).
    pub fn finish_blocking(&mut self, deadline: Option<Instant>) -> Result<Value, Error> {
        let r = self.read_reply(deadline, Wake::Interrupt);
        if matches!(r, Err(Error::Interrupted | Error::TimedOut)) {
            let _ = self.sock.shutdown(std::net::Shutdown::Both);
        }
        self.finish(r)
    }

    /// Abandons a command sent with [`Conn::start_blocking`]: the connection is shut down
    /// (the server drops the blocked command) and unusable.
    pub fn abandon(&mut self) {
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
        self.broken = true;
    }

    /// The socket, for `poll`.
    pub fn fd(&self) -> std::os::fd::RawFd {
        self.sock.as_raw_fd()
    }

    /// Marks the connection broken after any failure other than an error reply, and turns a
    /// top-level error reply into `Err(Error::Server)`.
    fn finish(&mut self, r: Result<Value, Error>) -> Result<Value, Error> {
        match r {
            Ok(Value::Error(e)) => Err(Error::Server(e)),
            Ok(v) => Ok(v),
            Err(e) => {
                self.broken = true;
                Err(e)
            }
        }
    }

    /// Waits until the socket is ready for `events` or `deadline` passes.
    fn wait(
        &self,
        events: libc::c_short,
        deadline: Option<Instant>,
        wake: &Wake,
    ) -> Result<(), Error> {
        loop {
            let ts;
            let tsp = match deadline {
                None => std::ptr::null(),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Error::TimedOut);
                    }
                    ts = libc::timespec {
                        tv_sec: left.as_secs().min(i32::MAX as u64) as libc::time_t,
                        tv_nsec: left.subsec_nanos() as libc::c_long,
                    };
                    &ts as *const libc::timespec
                }
            };
            let mut pfd = libc::pollfd {
                fd: self.sock.as_raw_fd(),
                events,
                revents: 0,
            };
            // SAFETY: one valid pollfd; `tsp` is null or points to `ts`, alive for the call; a
            // null signal mask keeps the thread's mask.
            let n = unsafe { libc::ppoll(&mut pfd, 1, tsp, std::ptr::null()) };
            if n > 0 {
                return Ok(());
            }
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    match wake {
                        Wake::Restart => continue,
                        Wake::Interrupt => return Err(Error::Interrupted),
                    }
                }
                return Err(Error::Io(e));
            }
            // n == 0: time is up (the loop re-checks against the deadline).
        }
    }

    fn send(&mut self, mut data: &[u8], deadline: Option<Instant>) -> Result<(), Error> {
        while !data.is_empty() {
            // SAFETY: `data` is a valid readable buffer of `data.len()` bytes.
            let n = unsafe {
                libc::send(
                    self.sock.as_raw_fd(),
                    data.as_ptr().cast(),
                    data.len(),
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
            if n >= 0 {
                data = &data[n as usize..];
                continue;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => self.wait(libc::POLLOUT, deadline, &Wake::Restart)?,
                _ => return Err(Error::Io(e)),
            }
        }
        Ok(())
    }

    fn read_reply(&mut self, deadline: Option<Instant>, wake: Wake) -> Result<Value, Error> {
        loop {
            if self.start < self.buf.len() {
                match resp::parse(&self.buf[self.start..]) {
                    Ok(Some((v, used))) => {
                        self.start += used;
                        if self.start == self.buf.len() {
                            self.buf.clear();
                            self.start = 0;
                            if self.buf.capacity() > KEEP_BUFFER {
                                // A large reply is not kept for the life of the process.
                                self.buf.shrink_to(KEEP_BUFFER);
                            }
                        }
                        return Ok(v);
                    }
                    Ok(None) => {}
                    Err(e) => return Err(Error::Protocol(e.0)),
                }
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            self.wait(libc::POLLIN, deadline, &wake)?;
            let len = self.buf.len();
            let want = (len / 2).clamp(16 << 10, 4 << 20);
            self.buf.reserve(want);
            let room = self.buf.capacity() - len;
            // SAFETY: the spare capacity after `len` is `room` writable bytes; only the bytes
            // recv reports as written are then exposed by set_len.
            let n = unsafe {
                libc::recv(
                    self.sock.as_raw_fd(),
                    self.buf.as_mut_ptr().add(len).cast(),
                    room,
                    libc::MSG_DONTWAIT,
                )
            };
            if n > 0 {
                // SAFETY: recv initialized `n <= room` bytes after `len`.
                unsafe { self.buf.set_len(len + n as usize) };
                continue;
            }
            if n == 0 {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    format!("{} closed the connection", self.endpoint),
                )));
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => {}
                Some(libc::EINTR) => {
                    if let Wake::Interrupt = wake {
                        return Err(Error::Interrupted);
                    }
                }
                _ => return Err(Error::Io(e)),
            }
        }
    }
}
