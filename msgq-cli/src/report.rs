//! How `msgq` reports: a failure is one message (with the errno name Linux uses), output
//! goes to stdout in one write.

use msgq_user::Errno;
use std::io::Write;

/// A failure to report: the message (printed as `msgq: MESSAGE`, exit status 1).
#[derive(Debug)]
pub struct Fail(pub String);

pub type R<T> = Result<T, Fail>;

/// The symbolic name of an errno: msgq-core names those of the four calls; the others here
/// are what opening `/dev/msgq` or an ioctl on it can add.
pub fn errno_name(e: Errno) -> String {
    let extra = match e.0 {
        libc::ENXIO => "ENXIO",
        libc::EBADF => "EBADF",
        libc::ENODEV => "ENODEV",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::EROFS => "EROFS",
        libc::EPROTO => "EPROTO",
        // What the extensions (msgq_core::ext) add.
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ECANCELED => "ECANCELED",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::EBUSY => "EBUSY",
        // What opening a store file can add.
        libc::EISDIR => "EISDIR",
        libc::ENOTDIR => "ENOTDIR",
        libc::ELOOP => "ELOOP",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ETXTBSY => "ETXTBSY",
        libc::EFBIG => "EFBIG",
        _ => e.name(),
    };
    if extra == "E?" {
        format!("errno {}", e.0)
    } else {
        extra.to_owned()
    }
}

/// `strerror` text and the name: "Operation not permitted (EPERM)".
pub fn errno_text(e: Errno) -> String {
    let s = std::io::Error::from_raw_os_error(e.0).to_string();
    let s = s.split(" (os error").next().unwrap_or(&s).to_owned();
    format!("{s} ({})", errno_name(e))
}

/// `r`, with an error turned into "WHAT: text (ENAME)".
pub fn ctx<T>(what: impl std::fmt::Display, r: Result<T, Errno>) -> R<T> {
    r.map_err(|e| Fail(format!("{what}: {}", errno_text(e))))
}

/// Writes `s` to stdout.
pub fn out(s: &str) -> R<()> {
    let mut o = std::io::stdout().lock();
    o.write_all(s.as_bytes())
        .and_then(|()| o.flush())
        .map_err(|e| Fail(format!("stdout: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(errno_text(Errno::EPERM), "Operation not permitted (EPERM)");
        assert_eq!(errno_name(Errno(libc::ENXIO)), "ENXIO");
        assert_eq!(errno_name(Errno(libc::EPROTO)), "EPROTO");
        assert_eq!(errno_name(msgq_user::ext::ETIMEDOUT), "ETIMEDOUT");
        assert_eq!(errno_name(msgq_user::ext::ECANCELED), "ECANCELED");
        assert_eq!(errno_name(msgq_user::ext::EMSGSIZE), "EMSGSIZE");
        assert_eq!(errno_name(Errno(200)), "errno 200");
        assert_eq!(errno_name(Errno(libc::EISDIR)), "EISDIR");
    }
}
