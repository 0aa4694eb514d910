//! The calls the chaos workers and controller make, over either backend: msgq-user's engine
//! (a store file) or the kernel's own queues. Every chaos mode runs the same workload on
//! both, so the kernel's behaviour is the reference for the engine's.
//!
//! The kernel runs happen in a private IPC namespace ([`private_namespace`]): the host's
//! queues and its `/proc/sys/kernel/msg*` settings are never touched. A [`PrivateNs`] is
//! the only way to write a limit, and it checks, before each write, that the process is
//! still in the namespace it created.

use msgq_core::abi::{MsgInfo, MsqidDs, IPC_INFO, IPC_RMID, IPC_SET, IPC_STAT, MSG_INFO};
use msgq_core::abi::{MSG_STAT, MSG_STAT_ANY};
use msgq_core::Errno;
use msgq_user::Store;

/// System V message queue calls, as the chaos workers use them.
pub trait Ipc {
    fn msgget(&self, key: i32, msgflg: i32) -> Result<i32, Errno>;
    fn send(&self, id: i32, mtype: i64, text: &[u8], msgflg: i32) -> Result<(), Errno>;
    /// Receives into `buf` (its length is `msgsz`): the type and the length.
    fn receive(
        &self,
        id: i32,
        buf: &mut [u8],
        msgtyp: i64,
        msgflg: i32,
    ) -> Result<(i64, usize), Errno>;
    fn stat(&self, id: i32) -> Result<MsqidDs, Errno>;
    fn set(&self, id: i32, ds: &MsqidDs) -> Result<(), Errno>;
    fn remove(&self, id: i32) -> Result<(), Errno>;
    /// `MSG_INFO` (`usage`) or `IPC_INFO`: the highest index in use and the struct.
    fn info(&self, usage: bool) -> Result<(i32, MsgInfo), Errno>;
    /// `MSG_STAT_ANY` (`any`) or `MSG_STAT` of index `index`: the queue's id and state.
    fn stat_index(&self, index: i32, any: bool) -> Result<(i32, MsqidDs), Errno>;
}

impl Ipc for Store {
    fn msgget(&self, key: i32, msgflg: i32) -> Result<i32, Errno> {
        Store::msgget(self, key, msgflg)
    }
    fn send(&self, id: i32, mtype: i64, text: &[u8], msgflg: i32) -> Result<(), Errno> {
        Store::send(self, id, mtype, text, msgflg)
    }
    fn receive(
        &self,
        id: i32,
        buf: &mut [u8],
        msgtyp: i64,
        msgflg: i32,
    ) -> Result<(i64, usize), Errno> {
        Store::receive(self, id, buf, msgtyp, msgflg)
    }
    fn stat(&self, id: i32) -> Result<MsqidDs, Errno> {
        Store::stat(self, id)
    }
    fn set(&self, id: i32, ds: &MsqidDs) -> Result<(), Errno> {
        Store::set(self, id, ds)
    }
    fn remove(&self, id: i32) -> Result<(), Errno> {
        Store::remove(self, id)
    }
    fn info(&self, usage: bool) -> Result<(i32, MsgInfo), Errno> {
        Store::info(self, usage)
    }
    fn stat_index(&self, index: i32, any: bool) -> Result<(i32, MsqidDs), Errno> {
        Store::stat_index(self, index, any)
    }
}

/// The kernel's queues (of the calling process's IPC namespace), through glibc.
pub struct Kernel;

// glibc's `struct msqid_ds` is the kernel's 64-bit one, which `MsqidDs` mirrors.
const _: () = assert!(std::mem::size_of::<libc::msqid_ds>() == std::mem::size_of::<MsqidDs>());

fn errno() -> Errno {
    Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

/// Largest text a kernel call here stages (the chaos messages are far smaller).
const STAGE: usize = 8 + 16384;

impl Kernel {
    fn ctl(&self, id: i32, cmd: i32, buf: *mut libc::c_void) -> Result<i32, Errno> {
        // SAFETY: `buf` is null (IPC_RMID) or points at a live MsqidDs/MsgInfo of the
        // callers below, which is as large as the kernel writes for `cmd` (120 or 32 bytes).
        let r = unsafe { libc::msgctl(id, cmd, buf.cast::<libc::msqid_ds>()) };
        if r < 0 {
            Err(errno())
        } else {
            Ok(r)
        }
    }
}

impl Ipc for Kernel {
    fn msgget(&self, key: i32, msgflg: i32) -> Result<i32, Errno> {
        // SAFETY: msgget takes no pointers.
        let r = unsafe { libc::msgget(key, msgflg) };
        if r < 0 {
            Err(errno())
        } else {
            Ok(r)
        }
    }
    fn send(&self, id: i32, mtype: i64, text: &[u8], msgflg: i32) -> Result<(), Errno> {
        if text.len() + 8 > STAGE {
            return Err(Errno::EINVAL);
        }
        let mut b = vec![0u8; 8 + text.len()];
        b[..8].copy_from_slice(&mtype.to_ne_bytes());
        b[8..].copy_from_slice(text);
        // SAFETY: `b` holds `struct msgbuf { long mtype; char mtext[text.len()] }`.
        let r = unsafe { libc::msgsnd(id, b.as_ptr().cast(), text.len(), msgflg) };
        if r < 0 {
            Err(errno())
        } else {
            Ok(())
        }
    }
    fn receive(
        &self,
        id: i32,
        buf: &mut [u8],
        msgtyp: i64,
        msgflg: i32,
    ) -> Result<(i64, usize), Errno> {
        let n = buf.len().min(STAGE - 8);
        let mut b = vec![0u8; 8 + n];
        // SAFETY: `b` has room for the type word and `n` bytes of text, as msgrcv writes.
        let r = unsafe { libc::msgrcv(id, b.as_mut_ptr().cast(), n, msgtyp, msgflg) };
        if r < 0 {
            return Err(errno());
        }
        let len = (r as usize).min(n);
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[..8]);
        buf[..len].copy_from_slice(&b[8..8 + len]);
        Ok((i64::from_ne_bytes(t), len))
    }
    fn stat(&self, id: i32) -> Result<MsqidDs, Errno> {
        let mut d = MsqidDs::default();
        self.ctl(id, IPC_STAT, (&mut d as *mut MsqidDs).cast())?;
        Ok(d)
    }
    fn set(&self, id: i32, ds: &MsqidDs) -> Result<(), Errno> {
        let mut d = *ds;
        self.ctl(id, IPC_SET, (&mut d as *mut MsqidDs).cast())
            .map(|_| ())
    }
    fn remove(&self, id: i32) -> Result<(), Errno> {
        self.ctl(id, IPC_RMID, std::ptr::null_mut()).map(|_| ())
    }
    fn info(&self, usage: bool) -> Result<(i32, MsgInfo), Errno> {
        let mut mi = MsgInfo::default();
        let cmd = if usage { MSG_INFO } else { IPC_INFO };
        let max = self.ctl(0, cmd, (&mut mi as *mut MsgInfo).cast())?;
        Ok((max, mi))
    }
    fn stat_index(&self, index: i32, any: bool) -> Result<(i32, MsqidDs), Errno> {
        let mut d = MsqidDs::default();
        let cmd = if any { MSG_STAT_ANY } else { MSG_STAT };
        let id = self.ctl(index, cmd, (&mut d as *mut MsqidDs).cast())?;
        Ok((id, d))
    }
}

/// The calling process's IPC namespace (the target of `/proc/self/ns/ipc`).
fn current_ns() -> Result<std::path::PathBuf, String> {
    std::fs::read_link("/proc/self/ns/ipc").map_err(|e| format!("/proc/self/ns/ipc: {e}"))
}

/// Proof that the calling process moved to an IPC namespace of its own.
pub struct PrivateNs {
    ns: std::path::PathBuf,
}

/// Moves the calling process (and the workers it starts from now on) into a new, empty IPC
/// namespace, and checks that it did. Needs `CAP_SYS_ADMIN`. Each call gives a fresh one.
pub fn private_namespace() -> Result<PrivateNs, String> {
    let before = current_ns()?;
    // SAFETY: unshare takes no pointers; CLONE_NEWIPC is allowed in any process.
    if unsafe { libc::unshare(libc::CLONE_NEWIPC) } != 0 {
        return Err(format!(
            "unshare(CLONE_NEWIPC): {}",
            std::io::Error::last_os_error()
        ));
    }
    let after = current_ns()?;
    if after == before {
        return Err("unshare(CLONE_NEWIPC) left the IPC namespace unchanged".into());
    }
    Ok(PrivateNs { ns: after })
}

impl PrivateNs {
    /// Writes `/proc/sys/kernel/<name>` (msgmni, msgmnb, msgmax): per IPC namespace, so
    /// only ours changes. Refused if the process is no longer in that namespace.
    pub fn set_limit(&self, name: &str, value: u64) -> Result<(), String> {
        if !matches!(name, "msgmni" | "msgmnb" | "msgmax") {
            return Err(format!("{name}: not an IPC limit"));
        }
        if current_ns()? != self.ns {
            return Err(format!("{name}: not in the private IPC namespace any more"));
        }
        let p = format!("/proc/sys/kernel/{name}");
        std::fs::write(&p, format!("{value}\n")).map_err(|e| format!("{p}: {e}"))?;
        let back = std::fs::read_to_string(&p).map_err(|e| format!("{p}: {e}"))?;
        if back.trim() != value.to_string() {
            return Err(format!("{p}: wrote {value}, reads {}", back.trim()));
        }
        Ok(())
    }
}
