//! errno values (x86_64 Linux) and the error type both backends return.

/// A Linux errno value. `Errno(e).0` is what userspace sees in `errno`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Errno(pub i32);

impl Errno {
    pub const EPERM: Errno = Errno(1);
    pub const ENOENT: Errno = Errno(2);
    pub const EIO: Errno = Errno(5);
    pub const EINTR: Errno = Errno(4);
    pub const E2BIG: Errno = Errno(7);
    pub const EAGAIN: Errno = Errno(11);
    pub const ENOMEM: Errno = Errno(12);
    pub const EACCES: Errno = Errno(13);
    pub const EFAULT: Errno = Errno(14);
    pub const EEXIST: Errno = Errno(17);
    pub const EINVAL: Errno = Errno(22);
    pub const ENOSPC: Errno = Errno(28);
    pub const ENOSYS: Errno = Errno(38);
    pub const ENOMSG: Errno = Errno(42);
    pub const EIDRM: Errno = Errno(43);

    /// The symbolic name, for messages and test output.
    pub const fn name(self) -> &'static str {
        match self.0 {
            1 => "EPERM",
            2 => "ENOENT",
            5 => "EIO",
            4 => "EINTR",
            7 => "E2BIG",
            11 => "EAGAIN",
            12 => "ENOMEM",
            13 => "EACCES",
            14 => "EFAULT",
            17 => "EEXIST",
            22 => "EINVAL",
            28 => "ENOSPC",
            38 => "ENOSYS",
            42 => "ENOMSG",
            43 => "EIDRM",
            16 => "EBUSY",
            90 => "EMSGSIZE",
            95 => "EOPNOTSUPP",
            110 => "ETIMEDOUT",
            125 => "ECANCELED",
            // What the Valkey backend's connections fail with (docs/cluster.md).
            32 => "EPIPE",
            101 => "ENETUNREACH",
            104 => "ECONNRESET",
            107 => "ENOTCONN",
            111 => "ECONNREFUSED",
            113 => "EHOSTUNREACH",
            _ => "E?",
        }
    }
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}
