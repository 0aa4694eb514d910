//! A blocked call's wait: on the server, in one `BLMOVE` from the waiter's wake-up list to
//! its in-flight list, then settled with `msgq_settle` (docs/cluster.md, "blocking").
//!
//! * An outcome arrives: `settle ack` returns it (a message wins over an error, an error
//!   over "look again") and removes the waiter.
//! * The `BLMOVE` times out (every half lease): `settle renew` extends the lease and the wait
//!   goes on (or returns an outcome that arrived meanwhile).
//! * The deadline passes: `settle cancel`: an outcome that arrived wins, else `ETIMEDOUT`.
//! * A signal handler runs: the blocking connection is dropped (the server abandons the
//!   `BLMOVE`), and `settle cancel` on the shared connection returns an outcome that arrived
//!   (a message handed over is never lost, as in Linux), else `EINTR`.

use crate::keys::{unpad_type, Names};
use crate::link::{Blocked, Link};
use crate::reply::{bytes, reply, Reply};
use crate::resp::Value;
use msgq_core::Errno;
use msgq_user::interrupt::Since;
use std::time::{Duration, Instant};

/// How a wait ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A message handed over: its type and text.
    Message(i64, Vec<u8>),
    /// The call fails with this errno (`EIDRM`, `E2BIG`, `EINTR`, `ETIMEDOUT`...).
    Error(Errno),
    /// Look again (room for a sender, `IPC_SET`, the waiter was reaped).
    Again,
}

/// Settles waiter `wid` of queue `idx` (`how`: ack, renew or cancel). `None`: still waiting
/// (renew) or nothing arrived (cancel).
pub(crate) fn settle(
    link: &Link,
    names: &Names,
    idx: u32,
    wid: &[u8],
    how: &str,
) -> Result<Option<Outcome>, Errno> {
    let v = link.fcall("msgq1_settle", &names.queue(idx), &[wid, how.as_bytes()])?;
    let Reply::Done(mut items) = reply(v)? else {
        return Err(Errno::EIO);
    };
    if items.is_empty() {
        return Err(Errno::EIO);
    }
    let rest = items.split_off(1);
    let tag = bytes(items.remove(0))?;
    let mut rest = rest.into_iter();
    Ok(match &tag[..] {
        b"M" => {
            let ty = bytes(rest.next().unwrap_or(Value::Nil))?;
            let text = bytes(rest.next().unwrap_or(Value::Nil))?;
            Some(Outcome::Message(unpad_type(&ty).ok_or(Errno::EIO)?, text))
        }
        b"E" => {
            let e = crate::reply::int(&rest.next().unwrap_or(Value::Nil))?;
            Some(Outcome::Error(Errno(e as i32)))
        }
        b"A" | b"G" => Some(Outcome::Again),
        b"W" | b"N" => None,
        _ => return Err(Errno::EIO),
    })
}

/// Waits for waiter `wid` of queue `idx` until an outcome, `deadline` (`ETIMEDOUT`) or a
/// signal handler since `since` (`EINTR`).
pub(crate) fn wait(
    link: &Link,
    names: &Names,
    idx: u32,
    wid: &[u8],
    deadline: Option<Instant>,
    since: &Since,
    renew: Duration,
) -> Result<Outcome, Errno> {
    let wake = names.wake(idx, wid);
    let inflight = names.in_flight(idx, wid);
    loop {
        if since.fired() {
            return cancelled(link, names, idx, wid, Errno::EINTR);
        }
        let mut slice = renew;
        if let Some(d) = deadline {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return cancelled(link, names, idx, wid, msgq_core::ext::ETIMEDOUT);
            }
            slice = slice.min(left);
        }
        match link.blmove(&wake, &inflight, slice, since) {
            Ok(true) => {
                if let Some(o) = settle(link, names, idx, wid, "ack")? {
                    return Ok(o);
                }
                // Nothing was there after all (the list emptied by a reap): look again.
                return Ok(Outcome::Again);
            }
            Ok(false) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return cancelled(link, names, idx, wid, msgq_core::ext::ETIMEDOUT);
                }
                if let Some(o) = settle(link, names, idx, wid, "renew")? {
                    return Ok(o);
                }
            }
            Err(Blocked::Interrupted) => return cancelled(link, names, idx, wid, Errno::EINTR),
            Err(Blocked::Failed(e)) => {
                // Give the waiter back if the server can still be reached; the call fails.
                let _ = settle(link, names, idx, wid, "cancel");
                return Err(e);
            }
        }
    }
}

/// Ends a wait early: an outcome that already arrived is the result; else `e`.
fn cancelled(link: &Link, names: &Names, idx: u32, wid: &[u8], e: Errno) -> Result<Outcome, Errno> {
    Ok(settle(link, names, idx, wid, "cancel")?.unwrap_or(Outcome::Error(e)))
}
