//! The namespace's registry: keys, ids, limits and id allocation, decided in the client with
//! msgq-core's rules from a snapshot, and applied with a compare-and-set on the registry's
//! version (`msgq_reg_apply`): a change made by another client in between makes the apply
//! fail with `RETRY`, and the caller decides again from a fresh snapshot.
//!
//! `msgget` creation is two steps, as the registry and the queue lie in different hash
//! slots: the id is reserved (with a lease) in the registry, the queue is created in its
//! slot, and the reservation is committed. A reservation whose creator died is repaired by
//! the next caller that meets it ([`Registry::repair`]): committed if the queue exists,
//! freed otherwise.

use crate::keys::Names;
use crate::link::Link;
use crate::reply::{int, num, pairs, reply, Reply};
use msgq_core::ids::{idx_of, make_id, IdState};
use msgq_core::limits::{Limits, Sysctl};
use msgq_core::Errno;
use std::collections::{BTreeMap, HashMap};

/// How long a creation may stay reserved before another caller repairs it (ms).
pub(crate) const RESERVE_MS: i64 = 10_000;

/// A registry snapshot.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) ver: i64,
    pub(crate) limits: Limits,
    pub(crate) alloc: IdState,
    /// Index -> id, for every index in use (live or reserved).
    pub(crate) ids: BTreeMap<u32, i32>,
    /// Key -> id.
    pub(crate) keys: HashMap<i32, i32>,
    /// Id -> reservation deadline (server ms) of creations not committed.
    pub(crate) pending: HashMap<i32, i64>,
}

impl Snapshot {
    /// The live queues' ids (reserved ones excluded), by index.
    pub(crate) fn live(&self) -> impl Iterator<Item = (u32, i32)> + '_ {
        self.ids
            .iter()
            .filter(|(_, id)| !self.pending.contains_key(id))
            .map(|(i, id)| (*i, *id))
    }
}

/// The registry of one namespace, through one link.
pub(crate) struct Registry<'a> {
    pub(crate) link: &'a Link,
    pub(crate) names: &'a Names,
}

/// A change to apply with `msgq_reg_apply`.
pub(crate) enum Op {
    /// Sets `field` of the hash with this suffix (`""`, `":ids"`, ...).
    Set(&'static str, String, String),
    /// Deletes `field` of the hash with this suffix.
    Del(&'static str, String),
}

impl Registry<'_> {
    /// A snapshot of the whole registry.
    pub(crate) fn snapshot(&self) -> Result<Snapshot, Errno> {
        let v = self
            .link
            .fcall("msgq1_reg_snapshot", &self.names.registry(), &[])?;
        let crate::resp::Value::Array(mut items) = v else {
            return Err(Errno::EIO);
        };
        // The 7th element, the server's time, is not used.
        if items.len() != 7 {
            return Err(Errno::EIO);
        }
        let pending = pairs(items.remove(5))?;
        let keys = pairs(items.remove(4))?;
        let ids = pairs(items.remove(3))?;
        let alloc = pairs(items.remove(2))?;
        let reg = pairs(items.remove(1))?;
        let ver = int(&items[0])?;
        let mut s = Snapshot {
            ver,
            ..Default::default()
        };
        for (k, v) in reg {
            match &k[..] {
                b"msgmax" => s.limits.msgmax = num(&v)?,
                b"msgmnb" => s.limits.msgmnb = num(&v)?,
                b"msgmni" => s.limits.msgmni = num(&v)?,
                _ => {}
            }
        }
        for (k, v) in alloc {
            match &k[..] {
                b"seq" => s.alloc.seq = num(&v)?,
                b"last_idx" => s.alloc.last_idx = num(&v)?,
                b"cursor" => s.alloc.cursor = num(&v)?,
                b"next_id" => s.alloc.next_id = num(&v)?,
                _ => {}
            }
        }
        for (k, v) in ids {
            s.ids.insert(num(&k)?, num(&v)?);
        }
        for (k, v) in keys {
            s.keys.insert(num(&k)?, num(&v)?);
        }
        for (k, v) in pending {
            s.pending.insert(num(&k)?, num(&v)?);
        }
        Ok(s)
    }

    /// The id of `key`, with its reservation deadline if not committed, and the server time.
    pub(crate) fn lookup(&self, key: i32) -> Result<(Option<i32>, Option<i64>, i64), Errno> {
        let k = key.to_string();
        let v = self
            .link
            .fcall("msgq1_reg_lookup", &self.names.registry(), &[k.as_bytes()])?;
        let crate::resp::Value::Array(items) = v else {
            return Err(Errno::EIO);
        };
        if items.len() != 4 {
            return Err(Errno::EIO);
        }
        let id = match &items[1] {
            crate::resp::Value::Nil | crate::resp::Value::Int(0) => None,
            v => Some(int(v)? as i32),
        };
        let pend = match &items[2] {
            crate::resp::Value::Nil | crate::resp::Value::Int(0) => None,
            v => Some(int(v)?),
        };
        Ok((id, pend, int(&items[3])?))
    }

    /// Applies `ops` if the registry is still at version `ver`; `Ok(false)`: it changed.
    pub(crate) fn apply(&self, ver: i64, ops: &[Op]) -> Result<bool, Errno> {
        let mut args: Vec<Vec<u8>> = vec![ver.to_string().into_bytes()];
        for op in ops {
            match op {
                Op::Set(suffix, f, v) => {
                    args.push(b"hset".to_vec());
                    args.push(suffix.as_bytes().to_vec());
                    args.push(f.clone().into_bytes());
                    args.push(v.clone().into_bytes());
                }
                Op::Del(suffix, f) => {
                    args.push(b"hdel".to_vec());
                    args.push(suffix.as_bytes().to_vec());
                    args.push(f.clone().into_bytes());
                }
            }
        }
        let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        match reply(
            self.link
                .fcall("msgq1_reg_apply", &self.names.registry(), &refs)?,
        )? {
            Reply::Done(_) => Ok(true),
            Reply::Retry => Ok(false),
            Reply::Failed(e) => Err(e),
            Reply::Wait(_) => Err(Errno::EIO),
        }
    }

    /// Reserves a new id for `key` (`IPC_PRIVATE`: none) with msgq-core's rules: `ENOSPC`
    /// past msgmni, the kernel's cyclic allocation (or `msg_next_id`). `Ok(None)`: the
    /// registry changed (or `key` appeared) since `s`; decide again.
    pub(crate) fn reserve(&self, s: &Snapshot, key: i32) -> Result<Option<(i32, u32)>, Errno> {
        if key != 0 && s.keys.contains_key(&key) {
            return Ok(None);
        }
        msgq_core::get::may_create(s.ids.len() as u64, u64::from(s.limits.msgmni))?;
        let mut alloc = s.alloc;
        let (idx, seq) = alloc
            .alloc(s.ids.len() as u32, |i| s.ids.contains_key(&i))
            .ok_or(Errno::ENOSPC)?;
        let id = make_id(seq, idx);
        let mut ops = vec![
            Op::Set(":ids", idx.to_string(), id.to_string()),
            Op::Set(":pending", id.to_string(), format!("+{RESERVE_MS}")),
            Op::Set(":alloc", "seq".into(), alloc.seq.to_string()),
            Op::Set(":alloc", "last_idx".into(), alloc.last_idx.to_string()),
            Op::Set(":alloc", "cursor".into(), alloc.cursor.to_string()),
            Op::Set(":alloc", "next_id".into(), alloc.next_id.to_string()),
        ];
        if key != 0 {
            ops.push(Op::Set(":keys", key.to_string(), id.to_string()));
        }
        Ok(self.apply(s.ver, &ops)?.then_some((id, idx)))
    }

    /// Commits the reservation of `id` (its queue exists).
    pub(crate) fn commit(&self, id: i32) -> Result<(), Errno> {
        loop {
            let s = self.snapshot()?;
            if !s.pending.contains_key(&id) {
                return Ok(());
            }
            if self.apply(s.ver, &[Op::Del(":pending", id.to_string())])? {
                return Ok(());
            }
        }
    }

    /// Frees `id` (its index, its key if `key` is given and still maps to it, and any
    /// reservation), if the registry still has it.
    pub(crate) fn free(&self, id: i32, key: Option<i32>) -> Result<(), Errno> {
        loop {
            let s = self.snapshot()?;
            let idx = idx_of(id);
            let mut ops = Vec::new();
            if s.ids.get(&idx) == Some(&id) {
                ops.push(Op::Del(":ids", idx.to_string()));
            }
            let key = key.or_else(|| s.keys.iter().find(|(_, v)| **v == id).map(|(k, _)| *k));
            if let Some(k) = key {
                if s.keys.get(&k) == Some(&id) {
                    ops.push(Op::Del(":keys", k.to_string()));
                }
            }
            if s.pending.contains_key(&id) {
                ops.push(Op::Del(":pending", id.to_string()));
            }
            if ops.is_empty() || self.apply(s.ver, &ops)? {
                return Ok(());
            }
        }
    }

    /// Writes a sysctl (validated by msgq-core's rules).
    pub(crate) fn set_sysctl(&self, which: Sysctl, value: i64) -> Result<(), Errno> {
        let value = which.validate(value)?;
        let (suffix, field) = match which {
            Sysctl::Msgmax => ("", "msgmax"),
            Sysctl::Msgmnb => ("", "msgmnb"),
            Sysctl::Msgmni => ("", "msgmni"),
            Sysctl::MsgNextId => (":alloc", "next_id"),
            // Nothing to scale automatically: accepted, as the kernel accepts 0 and 1.
            Sysctl::AutoMsgmni => return Ok(()),
        };
        loop {
            let s = self.snapshot()?;
            if self.apply(
                s.ver,
                &[Op::Set(suffix, field.to_owned(), value.to_string())],
            )? {
                return Ok(());
            }
        }
    }

    /// Reads a sysctl.
    pub(crate) fn sysctl(&self, which: Sysctl) -> Result<i64, Errno> {
        let s = self.snapshot()?;
        Ok(match which {
            Sysctl::Msgmax => i64::from(s.limits.msgmax),
            Sysctl::Msgmnb => i64::from(s.limits.msgmnb),
            Sysctl::Msgmni => i64::from(s.limits.msgmni),
            Sysctl::MsgNextId => s.alloc.next_id,
            Sysctl::AutoMsgmni => 0,
        })
    }
}
