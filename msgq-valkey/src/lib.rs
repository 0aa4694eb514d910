//! msgq's Valkey backend (`MSGQ_BACKEND=valkey`, docs/cluster.md): [`Valkey`], one
//! namespace of System V message queues kept on a Valkey (or Redis 7+) server or cluster
//! with Linux's semantics, and [`raw`], its four calls with C's shapes. Under it, a small
//! RESP2 client for a server or a cluster, fit to run inside any process, including
//! unmodified C programs under the `LD_PRELOAD` shim.
//!
//! The backend keeps each queue's keys in one hash slot and runs every step that reads or
//! changes a queue as a function of the library `functions/msgq.lua` (loaded lazily on each
//! node), so each step is atomic on the shard that holds the queue; the registry (keys, ids,
//! limits) is decided in the client with msgq-core's rules and applied by compare-and-set.
//!
//! # Layers
//!
//! * [`resp`]: the values ([`Value`]), command encoding (arrays of binary-safe bulk strings)
//!   and an incremental decoder. RESP2 only is spoken (no `HELLO 3`); RESP3 replies are still
//!   decoded.
//! * [`conn`]: one TCP connection ([`Conn`]). `TCP_NODELAY`, `SOCK_CLOEXEC`, reads and writes
//!   with `MSG_DONTWAIT | MSG_NOSIGNAL` after a `ppoll` bounded by a deadline.
//! * [`cluster`]: the [`Client`]: one server (whose `CLUSTER SLOTS` answers "cluster support
//!   disabled") or a cluster (slot map from `CLUSTER SLOTS`, one lazily opened connection per
//!   master). Calls are routed by a key ([`Client::call_key`], [`Client::fcall`]) to the
//!   master owning its hash slot (CRC16 of the `{hash tag}`, [`key_slot`]). `MOVED` reloads the
//!   map and retries, `ASK` sends `ASKING` and the command to the named node, `TRYAGAIN`,
//!   `CLUSTERDOWN`, `LOADING` and a node that cannot be connected to are retried after short
//!   pauses (10 ms doubling to 200 ms), [`Options::max_attempts`] times in all.
//!   [`Client::fcall`] loads the library ([`Options::library`]) on a node that answers `ERR
//!   Function not found`, then retries once: every master gets it lazily. A library whose
//!   function names carry a version (`msgq_v2_send`) is thus replaced by a newer client
//!   without any coordination.
//! * [`url`]: `MSGQ_URL` (`valkey://user:password@host:port,host:port/db`).
//! * [`testing`] (hidden): real servers and clusters for tests, from `tests/valkey/deps.sh`.
//!
//! # Blocking
//!
//! Server-side blocking commands (`BLMOVE`, `BLPOP` with a server timeout) go through
//! [`Client::call_key_blocking`] / [`Conn::call_blocking`], on a connection of their own per
//! node, so the ordinary connection stays free for follow-up calls. The reply is awaited with
//! `ppoll`, which a signal handler ends with `EINTR` whatever its `SA_RESTART` flag: the call
//! returns [`Error::Interrupted`] and the blocking connection is shut down (the server then
//! abandons the blocked command; a reply already sent is lost with the connection, so the
//! caller's protocol must allow for that). [`Error::TimedOut`] likewise closes it.
//!
//! # Timeouts
//!
//! Every wait is bounded: the connect ([`ConnConfig::connect_timeout`], 5 s by default, also
//! bounding `AUTH`/`SELECT`), a request and its reply ([`ConnConfig::io_timeout`], 5 s), and a
//! blocking call by its deadline. A non-blocking call resumes its wait after a signal with
//! the time left. After a timeout the connection is dropped (its reply may still come) and
//! the next call opens a new one. Only host names (not IP addresses) depend on the resolver's
//! own timeouts.
//!
//! # Processes
//!
//! No thread is started, nothing is written on stdout or stderr, and nothing the network sends
//! can make the client panic: every failure is an [`Error`]. Each connection records the pid
//! that opened it; after `fork` the child finds every inherited connection unusable, closes its
//! copy (without `shutdown`, which would also cut the parent's) and opens its own. Before a
//! command is sent on an idle connection, a zero-timeout poll checks that the server has not
//! closed it (a restarted server, an idle timeout), so a command is not lost on a dead socket.
//!
//! # Errors and errno
//!
//! [`Error::errno`] maps every error to an errno: the OS error of a failed connect or
//! transfer (`ECONNREFUSED`, `ECONNRESET`, `EPIPE`, `EHOSTUNREACH`...), `ETIMEDOUT`, `EINTR`,
//! `EIO` for a malformed reply, `EINVAL` for a bad URL. A server error reply
//! ([`Error::Server`]) whose first word is an errno name (`ENOMSG`, `EIDRM`, `E2BIG`, `EAGAIN`,
//! `EACCES`, ...; a Lua function returns them with `server.error_reply("ENOMSG ...")`) maps to
//! that errno; `NOAUTH`, `WRONGPASS` and `NOPERM` map to `EACCES`, `OOM` to `ENOMEM`, anything
//! else to `EIO`.
//!
//! # Server requirements
//!
//! Valkey 7.2 or later (or Redis 7), for functions. With ACLs, the user needs the commands
//! the caller sends plus `cluster|slots` (topology; the answer "cluster support disabled"
//! selects single-node mode) and `function|load` (lazy loading), and `asking` in a cluster.
//!
//! TLS is not supported (yet).

#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

mod backend;
pub mod cluster;
pub mod conn;
mod keys;
mod link;
pub mod raw;
mod registry;
mod reply;
pub mod resp;
#[doc(hidden)]
pub mod testing;
pub mod url;
mod wait;

pub use backend::Valkey;

pub use cluster::{key_slot, Client, Options};
pub use conn::{Conn, ConnConfig};
pub use resp::Value;
pub use url::{Endpoint, Url};

use std::io;

/// Every failure of the client.
#[derive(Debug)]
pub enum Error {
    /// The operating system's error of a connect, send or receive; also a connection the
    /// server closed (`ECONNRESET`) and a connection used after `fork` (`ENOTCONN`).
    Io(io::Error),
    /// A bound expired: connect, request, or a blocking call's deadline (`ETIMEDOUT`).
    TimedOut,
    /// A signal interrupted the wait of a blocking call (`EINTR`).
    Interrupted,
    /// The server sent something that is not RESP (`EIO`).
    Protocol(&'static str),
    /// An error reply, e.g. `ERR unknown command` or `ENOMSG no message`, without its `-`.
    Server(Vec<u8>),
    /// A malformed URL or argument (`EINVAL`).
    InvalidInput(String),
}

const ERRNO_NAMES: &[(&str, i32)] = &[
    ("EPERM", libc::EPERM),
    ("ENOENT", libc::ENOENT),
    ("EINTR", libc::EINTR),
    ("EIO", libc::EIO),
    ("E2BIG", libc::E2BIG),
    ("EAGAIN", libc::EAGAIN),
    ("ENOMEM", libc::ENOMEM),
    ("EACCES", libc::EACCES),
    ("EFAULT", libc::EFAULT),
    ("EEXIST", libc::EEXIST),
    ("EINVAL", libc::EINVAL),
    ("ENOSPC", libc::ENOSPC),
    ("ERANGE", libc::ERANGE),
    ("ENOSYS", libc::ENOSYS),
    ("ENOMSG", libc::ENOMSG),
    ("EIDRM", libc::EIDRM),
    ("EOVERFLOW", libc::EOVERFLOW),
    ("ETIMEDOUT", libc::ETIMEDOUT),
    ("NOAUTH", libc::EACCES),
    ("WRONGPASS", libc::EACCES),
    ("NOPERM", libc::EACCES),
    ("OOM", libc::ENOMEM),
];

impl Error {
    /// The errno this error stands for (see the crate documentation).
    pub fn errno(&self) -> i32 {
        match self {
            Error::Io(e) => e.raw_os_error().unwrap_or(match e.kind() {
                io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof => libc::ECONNRESET,
                io::ErrorKind::ConnectionRefused => libc::ECONNREFUSED,
                io::ErrorKind::NotConnected => libc::ENOTCONN,
                io::ErrorKind::TimedOut => libc::ETIMEDOUT,
                io::ErrorKind::NotFound => libc::EHOSTUNREACH,
                io::ErrorKind::InvalidInput => libc::EINVAL,
                _ => libc::EIO,
            }),
            Error::TimedOut => libc::ETIMEDOUT,
            Error::Interrupted => libc::EINTR,
            Error::Protocol(_) => libc::EIO,
            Error::Server(_) => self
                .server_code()
                .and_then(|c| ERRNO_NAMES.iter().find(|(n, _)| *n == c))
                .map_or(libc::EIO, |&(_, e)| e),
            Error::InvalidInput(_) => libc::EINVAL,
        }
    }

    /// The first word of an error reply (`ERR`, `MOVED`, `ENOMSG`...).
    pub fn server_code(&self) -> Option<&str> {
        match self {
            Error::Server(m) => {
                let end = m.iter().position(|&c| c == b' ').unwrap_or(m.len());
                std::str::from_utf8(&m[..end]).ok()
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io(e) => write!(f, "{e}"),
            Error::TimedOut => f.write_str("timed out"),
            Error::Interrupted => f.write_str("interrupted by a signal"),
            Error::Protocol(m) => write!(f, "protocol error: {m}"),
            Error::Server(m) => write!(f, "server error: {}", String::from_utf8_lossy(m)),
            Error::InvalidInput(m) => write!(f, "invalid input: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io(e) => e,
            other => io::Error::from_raw_os_error(other.errno()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_mapping() {
        assert_eq!(
            Error::Server(b"ENOMSG no message".to_vec()).errno(),
            libc::ENOMSG
        );
        assert_eq!(Error::Server(b"EIDRM".to_vec()).errno(), libc::EIDRM);
        assert_eq!(
            Error::Server(b"ERR unknown command".to_vec()).errno(),
            libc::EIO
        );
        assert_eq!(
            Error::Server(b"WRONGPASS invalid".to_vec()).errno(),
            libc::EACCES
        );
        assert_eq!(Error::TimedOut.errno(), libc::ETIMEDOUT);
        assert_eq!(Error::Interrupted.errno(), libc::EINTR);
        assert_eq!(Error::Protocol("x").errno(), libc::EIO);
        assert_eq!(
            Error::Io(io::Error::from_raw_os_error(libc::ECONNREFUSED)).errno(),
            libc::ECONNREFUSED
        );
        assert_eq!(
            io::Error::from(Error::TimedOut).raw_os_error(),
            Some(libc::ETIMEDOUT)
        );
    }
}
