//! The valkey backend: a namespace of queues on a Valkey server or cluster (`msgq-valkey`,
//! docs/cluster.md), named by `$MSGQ_URL` and `$MSGQ_NAMESPACE` as the shim names it.

use crate::backend::Queues;
use crate::report::{errno_text, Fail, R};
use msgq_core::abi::MsqidDs;
use msgq_core::ext::Deadline;
use msgq_user::{Errno, Sysctl};
use msgq_valkey::Valkey;
use std::time::{Duration, Instant};

/// A namespace on the server.
pub struct ValkeyQueues(Valkey);

/// Connects to `$MSGQ_URL`, namespace `$MSGQ_NAMESPACE` (default `default`).
pub fn open() -> R<ValkeyQueues> {
    let url = std::env::var("MSGQ_URL").map_err(|_| {
        Fail("the valkey backend needs MSGQ_URL (valkey://host:port[,host:port...])".into())
    })?;
    Valkey::from_env()
        .map(ValkeyQueues)
        .map_err(|e| Fail(format!("{url}: {}", errno_text(e))))
}

/// A deadline on its clock as an `Instant` (monotonic), for the backend's waits.
fn instant(d: Option<Deadline>) -> Option<Instant> {
    d.map(|d| {
        let left = d.left_ns(msgq_user::sys::process::clock_ns(d.clock));
        Instant::now() + Duration::from_nanos(left)
    })
}

impl Queues for ValkeyQueues {
    fn stat_index(&self, idx: i32) -> Result<(i32, MsqidDs), Errno> {
        self.0.msg_stat(idx, true)
    }
    fn queues(&self) -> Result<Vec<(i32, MsqidDs)>, Errno> {
        let mut out = Vec::new();
        for id in self.0.ids()? {
            if let Ok(x) = self.0.msg_stat(id, true) {
                out.push(x);
            }
        }
        Ok(out)
    }
    fn msgget(&self, key: i32, msgflg: i32) -> Result<i32, Errno> {
        self.0.msgget(key, msgflg)
    }
    fn remove(&self, id: i32) -> Result<(), Errno> {
        self.0.remove(id)
    }
    fn send(&self, id: i32, mtype: i64, text: &[u8], msgflg: i32) -> Result<(), Errno> {
        self.0.check_send(id, text.len(), mtype)?;
        self.0.send(id, mtype, text, msgflg, None, false)
    }
    fn receive(
        &self,
        id: i32,
        buf: &mut [u8],
        mtype: i64,
        msgflg: i32,
    ) -> Result<(i64, usize), Errno> {
        let (t, text) = self.0.receive(id, buf.len(), mtype, msgflg, None)?;
        let n = text.len().min(buf.len());
        buf[..n].copy_from_slice(&text[..n]);
        Ok((t, n))
    }
    fn send_ext(
        &self,
        id: i32,
        mtype: i64,
        text: &[u8],
        msgflg: i32,
        deadline: Option<Deadline>,
    ) -> Result<u64, Errno> {
        msgq_core::ext::send_flags(msgflg)?;
        self.0.check_send(id, text.len(), mtype)?;
        self.0.send_ext(id, mtype, text, msgflg, instant(deadline))
    }
    fn receive_ext(
        &self,
        id: i32,
        buf: &mut [u8],
        mtype: i64,
        msgflg: i32,
        deadline: Option<Deadline>,
    ) -> Result<(i64, usize), Errno> {
        let (t, text) = self
            .0
            .receive_ext(id, buf.len(), mtype, msgflg, instant(deadline))?;
        let n = text.len().min(buf.len());
        buf[..n].copy_from_slice(&text[..n]);
        Ok((t, n))
    }
    fn purge(&self, id: i32) -> Result<u64, Errno> {
        self.0.purge(id)
    }
    fn select(
        &self,
        wants: &[(i32, i64, i32)],
        deadline: Option<Deadline>,
    ) -> Result<Vec<i32>, Errno> {
        self.0.select(wants, instant(deadline))
    }
    fn abort(&self, id: i32, which: i32) -> Result<u64, Errno> {
        self.0.abort(id, which)
    }
    fn sysctl(&self, which: Sysctl) -> Result<i64, Errno> {
        self.0.sysctl(which)
    }
    fn set_sysctl(&self, which: Sysctl, value: i64) -> Result<(), Errno> {
        self.0.set_sysctl(which, value)
    }
}
