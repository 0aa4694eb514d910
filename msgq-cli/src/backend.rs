//! Which queues `msgq` works on, chosen as the shim chooses its backend (docs/shim.md):
//! `--backend user|kmod|valkey`, else `$MSGQ_BACKEND`, else `kmod` when `/dev/msgq` exists and
//! `user` otherwise. `--store PATH` alone selects the user backend. [`Queues`] is what both
//! backends provide to the commands.

use crate::report::{Fail, R};
use crate::{kmodq, storeq, valkeyq};
use msgq_core::abi::MsqidDs;
use msgq_user::ext::Deadline;
use msgq_user::{Errno, Sysctl};
use std::ffi::OsStr;
use std::path::PathBuf;

/// The kernel module's device.
pub const DEVICE: &str = "/dev/msgq";

/// A backend the command can manage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Choice {
    /// The userspace engine's store file
    User,
    /// The kernel module, through /dev/msgq
    Kmod,
    /// A namespace on a Valkey server or cluster ($MSGQ_URL, $MSGQ_NAMESPACE)
    Valkey,
}

/// The backend: the `--backend` flag, else `env` (the value of `MSGQ_BACKEND`), else the
/// user backend when `--store` was given, else kmod if `device_present`, else user.
pub fn choose(
    flag: Option<Choice>,
    env: Option<&OsStr>,
    store_given: bool,
    device_present: bool,
) -> Result<Choice, String> {
    let explicit = match (flag, env) {
        (Some(c), _) => Some(c),
        (None, Some(v)) if v.is_empty() => None,
        (None, Some(v)) => Some(match v.to_str() {
            Some("user") => Choice::User,
            Some("kmod") => Choice::Kmod,
            Some("valkey") => Choice::Valkey,
            Some("native") => {
                return Err("MSGQ_BACKEND=native names the kernel's own queues, which \
                            ipcs/ipcmk/ipcrm manage; give --backend user or --backend kmod"
                    .into())
            }
            _ => {
                return Err(format!(
                    "MSGQ_BACKEND={}: unknown backend (use user, kmod or valkey)",
                    v.to_string_lossy()
                ))
            }
        }),
        (None, None) => None,
    };
    match explicit {
        Some(Choice::Kmod) if store_given => Err("--store names a store of the user backend; \
             it cannot be used with the kmod backend (--backend user, or no --store)"
            .into()),
        Some(Choice::Valkey) if store_given => Err("--store names a store of the user \
             backend; it cannot be used with the valkey backend (--backend user, or no --store)"
            .into()),
        Some(c) => Ok(c),
        None if store_given => Ok(Choice::User),
        None if device_present => Ok(Choice::Kmod),
        None => Ok(Choice::User),
    }
}

/// What the commands need from a backend; errors are the errno Linux would give.
pub trait Queues {
    /// `MSG_STAT_ANY` on an index: the queue's id and state.
    fn stat_index(&self, idx: i32) -> Result<(i32, MsqidDs), Errno>;
    /// Every queue (id, state), in index order.
    fn queues(&self) -> Result<Vec<(i32, MsqidDs)>, Errno>;
    fn msgget(&self, key: i32, msgflg: i32) -> Result<i32, Errno>;
    /// `msgctl(id, IPC_RMID)`.
    fn remove(&self, id: i32) -> Result<(), Errno>;
    fn send(&self, id: i32, mtype: i64, text: &[u8], msgflg: i32) -> Result<(), Errno>;
    /// `msgrcv` into `buf`: the type and the text's length.
    fn receive(
        &self,
        id: i32,
        buf: &mut [u8],
        mtype: i64,
        msgflg: i32,
    ) -> Result<(i64, usize), Errno>;
    /// A send with the extensions (`msgq_core::ext`): `msgflg` may hold `MSGQ_URGENT`,
    /// `MSGQ_OVERWRITE` or `MSGQ_BROADCAST`; a blocked send gives up with `ETIMEDOUT` at
    /// `deadline`. Returns 0, the messages dropped (overwrite) or the receivers given a copy
    /// (broadcast).
    fn send_ext(
        &self,
        id: i32,
        mtype: i64,
        text: &[u8],
        msgflg: i32,
        deadline: Option<Deadline>,
    ) -> Result<u64, Errno>;
    /// A receive with the extensions: `msgflg` may hold `MSGQ_PEEK`; a blocked receive gives
    /// up with `ETIMEDOUT` at `deadline`. The type and the text's length.
    fn receive_ext(
        &self,
        id: i32,
        buf: &mut [u8],
        mtype: i64,
        msgflg: i32,
        deadline: Option<Deadline>,
    ) -> Result<(i64, usize), Errno>;
    /// Discards every message; how many.
    fn purge(&self, id: i32) -> Result<u64, Errno>;
    /// Waits until a receive from some `(id, msgtyp, msgflg)` would find a message, or
    /// `deadline` (`ETIMEDOUT`): per entry 1, 0, or `-errno` (`msgq_select`'s rule).
    fn select(
        &self,
        wants: &[(i32, i64, i32)],
        deadline: Option<Deadline>,
    ) -> Result<Vec<i32>, Errno>;
    /// Ends the waits of the blocked receivers and/or senders (`MSGQ_ABORT_*`) with
    /// `ECANCELED`; how many.
    fn abort(&self, id: i32, which: i32) -> Result<u64, Errno>;
    fn sysctl(&self, which: Sysctl) -> Result<i64, Errno>;
    fn set_sysctl(&self, which: Sysctl, value: i64) -> Result<(), Errno>;
}

/// The chosen backend, not opened yet.
pub enum Target {
    /// The user backend's store file.
    User(PathBuf),
    Kmod,
    /// `$MSGQ_URL`'s server, namespace `$MSGQ_NAMESPACE`.
    Valkey,
}

impl Target {
    /// The backend's queues; an error when there is no store (a store path that does not
    /// exist is an error: only `mk` and `limits set` create a store).
    pub fn required(&self) -> R<Box<dyn Queues>> {
        Ok(match self {
            Target::User(p) => Box::new(storeq::open_required(p)?),
            Target::Kmod => Box::new(kmodq::open()?),
            Target::Valkey => Box::new(valkeyq::open()?),
        })
    }

    /// The backend's queues, for a command that prints their state (`list`, `show`,
    /// `limits`): a store file must pass the engine's structural check first, so that a
    /// damaged store is an error rather than a table of whatever its words now say.
    pub fn verified(&self) -> R<Box<dyn Queues>> {
        match self {
            Target::User(p) if *p != msgq_user::Store::default_path() => {
                let s = storeq::open_required(p)?;
                storeq::verify(&s)?;
                Ok(Box::new(s))
            }
            _ => self.required(),
        }
    }

    /// The backend's queues, creating the store if needed.
    pub fn create(&self) -> R<Box<dyn Queues>> {
        Ok(match self {
            Target::User(p) => Box::new(storeq::open_or_create(p)?),
            Target::Kmod => Box::new(kmodq::open()?),
            Target::Valkey => Box::new(valkeyq::open()?),
        })
    }

    /// The store path, for the commands that only the user backend has.
    pub fn store_only(&self, cmd: &str) -> R<&std::path::Path> {
        match self {
            Target::User(p) => Ok(p),
            Target::Kmod => Err(Fail(format!(
                "`msgq {cmd}` works on the userspace store, but the backend is kmod (the \
                 kernel module, {DEVICE}); use --backend user"
            ))),
            Target::Valkey => Err(Fail(format!(
                "`msgq {cmd}` works on the userspace store, but the backend is valkey \
                 ($MSGQ_URL); use --backend user"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Choice::*;

    fn env(s: &str) -> Option<&OsStr> {
        Some(OsStr::new(s))
    }

    #[test]
    fn default_follows_the_device() {
        assert_eq!(choose(None, None, false, true), Ok(Kmod));
        assert_eq!(choose(None, None, false, false), Ok(User));
        assert_eq!(choose(None, env(""), false, true), Ok(Kmod));
    }

    #[test]
    fn flag_beats_environment() {
        assert_eq!(choose(Some(User), env("kmod"), false, true), Ok(User));
        assert_eq!(choose(Some(Kmod), env("user"), false, false), Ok(Kmod));
        assert_eq!(choose(Some(User), env("bogus"), false, true), Ok(User));
        assert_eq!(choose(None, env("user"), false, true), Ok(User));
        assert_eq!(choose(None, env("kmod"), false, false), Ok(Kmod));
    }

    #[test]
    fn store_selects_user() {
        assert_eq!(choose(None, None, true, true), Ok(User));
        assert!(choose(Some(Kmod), None, true, false)
            .unwrap_err()
            .contains("--store"));
        assert!(choose(None, env("kmod"), true, true).is_err());
    }

    #[test]
    fn bad_environment() {
        assert!(choose(None, env("native"), false, true)
            .unwrap_err()
            .contains("ipcs"));
        assert!(choose(None, env("kmodx"), false, true)
            .unwrap_err()
            .contains("unknown backend"));
    }
}
