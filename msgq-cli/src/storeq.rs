//! The user backend: the queues of a store file (`msgq-user`).

use crate::backend::Queues;
use crate::report::{errno_text, Fail, R};
use msgq_core::abi::MsqidDs;
use msgq_core::ids;
use msgq_user::ext::Deadline;
use msgq_user::{Errno, Store, StoreError, StoreErrorKind, StoreOptions, Sysctl};
use std::path::{Path, PathBuf};

/// `--store PATH`, else `$MSGQ_STORE`, else the default store (the one the shim uses: the IPC
/// namespace's, named by `Store::default_path()`).
pub fn store_path(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    match std::env::var_os("MSGQ_STORE") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Store::default_path(),
    }
}

/// A store that cannot be used, said as the other failures are: the errno's text and
/// name, and for a permission problem the rule.
pub fn store_fail(e: &StoreError) -> Fail {
    match &e.kind {
        StoreErrorKind::Io(io) => match io.raw_os_error() {
            Some(n) => {
                let rule = match n {
                    libc::EACCES | libc::EPERM => {
                        ": the file's mode does not let this user read and write it (a store \
                         is shared by those who may; see `ls -l`)"
                    }
                    libc::EISDIR => ": a store is a file",
                    _ => "",
                };
                Fail(format!(
                    "msgq store {}: {}{rule}",
                    e.path.display(),
                    errno_text(Errno(n))
                ))
            }
            None => Fail(e.to_string()),
        },
        _ => Fail(e.to_string()),
    }
}

pub fn not_found(e: &StoreError) -> bool {
    matches!(&e.kind, StoreErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound)
}

/// Opens an existing store; `None` when there is none. The default store (the IPC
/// namespace's) always exists.
pub fn open_existing(path: &Path) -> R<Option<Store>> {
    if path == Store::default_path() {
        return Store::open_default().map(Some).map_err(|e| store_fail(&e));
    }
    match Store::open(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(store_fail(&e)),
    }
}

pub fn open_required(path: &Path) -> R<Store> {
    open_existing(path)?.ok_or_else(|| {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        match dir {
            Some(d) if !d.is_dir() => Fail(format!(
                "no msgq store at {}: {} is not a directory",
                path.display(),
                d.display()
            )),
            _ => Fail(format!(
                "no msgq store at {} (no queues yet; `msgq mk` creates one)",
                path.display()
            )),
        }
    })
}

/// The engine's structural check of a store file (`Store::check`); a store it finds damaged
/// is an error naming what is wrong. One it could not lock (a live holder) is let through.
pub fn verify(s: &Store) -> R<()> {
    match s.check() {
        Ok(_) => Ok(()),
        Err(e) if e.contains(": cannot lock: ") => Ok(()),
        Err(e) => Err(Fail(format!(
            "damaged store: {e} (`msgq check` says more; `msgq remove-store --force` removes it)"
        ))),
    }
}

pub fn open_or_create(path: &Path) -> R<Store> {
    if path == Store::default_path() {
        return Store::open_default().map_err(|e| store_fail(&e));
    }
    Store::open_or_create(path, &StoreOptions::default()).map_err(|e| store_fail(&e))
}

impl Queues for Store {
    fn stat_index(&self, idx: i32) -> Result<(i32, MsqidDs), Errno> {
        Store::stat_index(self, idx, true)
    }
    fn queues(&self) -> Result<Vec<(i32, MsqidDs)>, Errno> {
        let (max, _) = Store::info(self, true)?;
        let mut out = Vec::new();
        for idx in 0..=max.min(ids::MASK) {
            match Store::stat_index(self, idx, true) {
                Ok(q) => out.push(q),
                Err(Errno::EINVAL) | Err(Errno::EIDRM) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
    fn msgget(&self, key: i32, msgflg: i32) -> Result<i32, Errno> {
        Store::msgget(self, key, msgflg)
    }
    fn remove(&self, id: i32) -> Result<(), Errno> {
        Store::remove(self, id)
    }
    fn send(&self, id: i32, mtype: i64, text: &[u8], msgflg: i32) -> Result<(), Errno> {
        Store::send(self, id, mtype, text, msgflg)
    }
    fn receive(
        &self,
        id: i32,
        buf: &mut [u8],
        mtype: i64,
        msgflg: i32,
    ) -> Result<(i64, usize), Errno> {
        Store::receive(self, id, buf, mtype, msgflg)
    }
    fn send_ext(
        &self,
        id: i32,
        mtype: i64,
        text: &[u8],
        msgflg: i32,
        deadline: Option<Deadline>,
    ) -> Result<u64, Errno> {
        Store::send_with(self, id, mtype, text, msgflg, deadline)
    }
    fn receive_ext(
        &self,
        id: i32,
        buf: &mut [u8],
        mtype: i64,
        msgflg: i32,
        deadline: Option<Deadline>,
    ) -> Result<(i64, usize), Errno> {
        Store::receive_with(self, id, buf, mtype, msgflg, deadline)
    }
    fn purge(&self, id: i32) -> Result<u64, Errno> {
        Store::purge(self, id)
    }
    fn select(
        &self,
        wants: &[(i32, i64, i32)],
        deadline: Option<Deadline>,
    ) -> Result<Vec<i32>, Errno> {
        let w: Vec<_> = wants
            .iter()
            .map(|&(id, msgtyp, msgflg)| msgq_user::engine::select::Want { id, msgtyp, msgflg })
            .collect();
        Store::select(self, &w, deadline)
    }
    fn abort(&self, id: i32, which: i32) -> Result<u64, Errno> {
        Store::abort(self, id, which)
    }
    fn sysctl(&self, which: Sysctl) -> Result<i64, Errno> {
        Store::sysctl(self, which)
    }
    fn set_sysctl(&self, which: Sysctl, value: i64) -> Result<(), Errno> {
        Store::set_sysctl(self, which, value)
    }
}
