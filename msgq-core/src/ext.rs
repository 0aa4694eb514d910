//! The rules of msgq's extensions, the ones real-time kernels' queues offer and System V
//! queues lack: timeouts, purge, urgent, overwrite, abort, broadcast, peek.
//!
//! Both backends decide from these functions, so a timed receive on the userspace engine
//! and on the kernel module accept the same arguments and fail the same way. What each
//! extension does, and where it differs from its RTOS original, is in `docs/extensions.md`.
//!
//! A broadcast serves the matching blocked receivers in this order, in both backends' list
//! walks (the engine's `waiters::matching`, the module's `drain_matching`): those waiting
//! with a general selector (`msgtyp` 0, negative, or with `MSG_EXCEPT`), oldest first, then
//! those waiting for exactly the message's type, oldest first. The last one served is the
//! queue's `msg_lrpid` afterwards.
//!
//! The extension flags use bits Linux does not define for `msgsnd`/`msgrcv` (Linux ignores
//! unknown bits there, so the plain calls must drop them: see [`linux_bits`]).

use crate::abi::{IPC_NOWAIT, MSG_COPY, MSG_EXCEPT, MSG_NOERROR};
use crate::errno::Errno;
use crate::perm;

/// Send: the message goes to the front of its queue (`xQueueSendToFront`).
pub const MSGQ_URGENT: i32 = 0x0100_0000;
/// Send: never block; drop the oldest messages until the new one fits (`xQueueOverwrite`).
pub const MSGQ_OVERWRITE: i32 = 0x0200_0000;
/// Send: a copy to every blocked receiver whose selector matches (`OS_OPT_POST_ALL`).
pub const MSGQ_BROADCAST: i32 = 0x0400_0000;
/// Receive: copy the selected message without removing it (`xQueuePeek`).
pub const MSGQ_PEEK: i32 = 0x0800_0000;
/// Every extension bit.
pub const EXT_BITS: i32 = MSGQ_URGENT | MSGQ_OVERWRITE | MSGQ_BROADCAST | MSGQ_PEEK;

/// `msgq_abort`'s `which`: the blocked receivers.
pub const MSGQ_ABORT_RECEIVERS: i32 = 1;
/// `msgq_abort`'s `which`: the blocked senders.
pub const MSGQ_ABORT_SENDERS: i32 = 2;

/// `CLOCK_REALTIME`.
pub const CLOCK_REALTIME: i32 = 0;
/// `CLOCK_MONOTONIC`.
pub const CLOCK_MONOTONIC: i32 = 1;

/// errno values only the extensions return.
pub const ETIMEDOUT: Errno = Errno(110);
pub const ECANCELED: Errno = Errno(125);
pub const EOPNOTSUPP: Errno = Errno(95);
pub const EMSGSIZE: Errno = Errno(90);
pub const EBUSY: Errno = Errno(16);

/// The flags a plain `msgsnd`/`msgrcv` keeps: Linux ignores bits it does not define, so a
/// program that happens to set an extension bit on the plain call gets Linux's behaviour.
pub const fn linux_bits(msgflg: i32) -> i32 {
    msgflg & !EXT_BITS
}

/// What a send asked for beyond `msgsnd`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendExt {
    pub urgent: bool,
    pub overwrite: bool,
    pub broadcast: bool,
}

impl SendExt {
    /// Whether the send is a plain `msgsnd`.
    pub const fn is_plain(self) -> bool {
        !self.urgent && !self.overwrite && !self.broadcast
    }

    /// The permission the send needs: write, and for an overwrite read too
    /// ([`OVERWRITE_PERM`]).
    pub const fn perm(self) -> i32 {
        if self.overwrite {
            OVERWRITE_PERM
        } else {
            perm::WRITE
        }
    }

    /// What the send returns: with `MSGQ_OVERWRITE` the number of messages `dropped`, with
    /// `MSGQ_BROADCAST` the number of blocked callers `given` the message, else 0.
    pub const fn result(self, dropped: u64, given: u64) -> u64 {
        if self.overwrite {
            dropped
        } else if self.broadcast {
            given
        } else {
            0
        }
    }
}

/// Splits a timed send's flags: the extension bits and the Linux bits. `EINVAL` for
/// `MSGQ_PEEK` (a receive flag) and for `MSGQ_OVERWRITE | MSGQ_BROADCAST` (each gives the
/// call's return value a different meaning).
pub const fn send_flags(msgflg: i32) -> Result<(SendExt, i32), Errno> {
    if msgflg & MSGQ_PEEK != 0 {
        return Err(Errno::EINVAL);
    }
    let ext = SendExt {
        urgent: msgflg & MSGQ_URGENT != 0,
        overwrite: msgflg & MSGQ_OVERWRITE != 0,
        broadcast: msgflg & MSGQ_BROADCAST != 0,
    };
    if ext.overwrite && ext.broadcast {
        return Err(Errno::EINVAL);
    }
    Ok((ext, linux_bits(msgflg)))
}

/// What a receive asked for beyond `msgrcv`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecvExt {
    pub peek: bool,
}

/// Splits a timed receive's flags. `EINVAL` for a send flag, and for `MSGQ_PEEK` with
/// `MSG_COPY` (which already copies without removing, by position).
pub const fn recv_flags(msgflg: i32) -> Result<(RecvExt, i32), Errno> {
    if msgflg & (MSGQ_URGENT | MSGQ_OVERWRITE | MSGQ_BROADCAST) != 0 {
        return Err(Errno::EINVAL);
    }
    let peek = msgflg & MSGQ_PEEK != 0;
    if peek && msgflg & MSG_COPY != 0 {
        return Err(Errno::EINVAL);
    }
    Ok((RecvExt { peek }, linux_bits(msgflg)))
}

/// The clock a deadline is read on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    Realtime,
    Monotonic,
}

impl Clock {
    /// The `clockid_t` value.
    pub const fn id(self) -> i32 {
        match self {
            Clock::Realtime => CLOCK_REALTIME,
            Clock::Monotonic => CLOCK_MONOTONIC,
        }
    }
}

/// An absolute time on a clock, when a blocked call gives up with `ETIMEDOUT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    pub clock: Clock,
    /// Nanoseconds since the clock's epoch (negative times are before it: already passed).
    pub at_ns: i128,
}

/// Checks a deadline as `mq_timedsend` does, before anything else: `EINVAL` for a clock
/// other than `CLOCK_REALTIME` and `CLOCK_MONOTONIC`, and for `tv_nsec` outside
/// `0..1_000_000_000`. A deadline already passed is valid: the call still succeeds when it
/// need not block.
pub const fn deadline(clockid: i32, sec: i64, nsec: i64) -> Result<Deadline, Errno> {
    let clock = match clockid {
        CLOCK_REALTIME => Clock::Realtime,
        CLOCK_MONOTONIC => Clock::Monotonic,
        _ => return Err(Errno::EINVAL),
    };
    if nsec < 0 || nsec >= 1_000_000_000 {
        return Err(Errno::EINVAL);
    }
    Ok(Deadline {
        clock,
        at_ns: sec as i128 * 1_000_000_000 + nsec as i128,
    })
}

impl Deadline {
    /// Nanoseconds left when the clock reads `now_ns` (0 once passed).
    pub const fn left_ns(self, now_ns: i128) -> u64 {
        let d = self.at_ns - now_ns;
        if d <= 0 {
            0
        } else if d > u64::MAX as i128 {
            u64::MAX
        } else {
            d as u64
        }
    }
}

/// What a call that would block does, in this order: `IPC_NOWAIT` fails at once (with the
/// call's own errno), a handler that ran interrupts (`EINTR`), a passed deadline times out
/// (`ETIMEDOUT`); otherwise it blocks.
pub const fn would_block(
    msgflg: i32,
    nowait: Errno,
    interrupted: bool,
    timed_out: bool,
) -> Result<(), Errno> {
    if msgflg & IPC_NOWAIT != 0 {
        return Err(nowait);
    }
    if interrupted {
        return Err(Errno::EINTR);
    }
    if timed_out {
        return Err(ETIMEDOUT);
    }
    Ok(())
}

/// What a message of `size` bytes offered to a blocked receiver (or peeker) that accepts
/// its type does to it: it takes it, or its buffer is too small (`maxsize` already says
/// whether `MSG_NOERROR` truncates: see [`crate::checks::receiver_maxsize`]) and it fails
/// with `E2BIG`, as Linux's `pipelined_send` decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    Take,
    TooBig,
}

pub const fn offer(maxsize: u64, size: u64) -> Offer {
    if maxsize < size {
        Offer::TooBig
    } else {
        Offer::Take
    }
}

/// The permission `msgq_purge` needs: read, since a reader could take every message.
pub const PURGE_PERM: i32 = perm::READ;

/// The permission an overwriting send needs: write, and read since it may drop messages
/// (which a reader alone could do).
pub const OVERWRITE_PERM: i32 = perm::READ | perm::WRITE;

/// Checks `msgq_abort`'s `which` and returns the permission it needs: write to abort
/// receivers (a writer could satisfy them), read to abort senders (a reader could make
/// room for them). `EINVAL` for no bit or an unknown bit.
pub const fn abort_perm(which: i32) -> Result<i32, Errno> {
    if which == 0 || which & !(MSGQ_ABORT_RECEIVERS | MSGQ_ABORT_SENDERS) != 0 {
        return Err(Errno::EINVAL);
    }
    let mut need = 0;
    if which & MSGQ_ABORT_RECEIVERS != 0 {
        need |= perm::WRITE;
    }
    if which & MSGQ_ABORT_SENDERS != 0 {
        need |= perm::READ;
    }
    Ok(need)
}

/// Which blocked callers `msgq_abort(which)` ends, once [`abort_perm`] accepted `which`:
/// `(receivers and peekers, senders)`.
pub const fn abort_targets(which: i32) -> (bool, bool) {
    (
        which & MSGQ_ABORT_RECEIVERS != 0,
        which & MSGQ_ABORT_SENDERS != 0,
    )
}

/// Whether an overwriting send of `size` bytes can ever fit a queue of `qbytes` (emptied):
/// if not, it fails with `EMSGSIZE` and drops nothing.
pub const fn overwrite_can_fit(size: u64, qbytes: u64) -> bool {
    crate::limits::fits(size, 0, 0, qbytes)
}

/// Flags the peek of a receive keeps meaning: all of msgrcv's except `MSG_COPY`.
pub const RECV_LINUX_BITS: i32 = IPC_NOWAIT | MSG_NOERROR | MSG_EXCEPT | MSG_COPY;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        assert_eq!(send_flags(MSGQ_PEEK), Err(Errno::EINVAL));
        assert_eq!(
            send_flags(MSGQ_OVERWRITE | MSGQ_BROADCAST),
            Err(Errno::EINVAL)
        );
        let (e, l) = send_flags(MSGQ_URGENT | IPC_NOWAIT).unwrap();
        assert!(e.urgent && !e.overwrite && !e.broadcast);
        assert_eq!(l, IPC_NOWAIT);
        assert_eq!(recv_flags(MSGQ_URGENT), Err(Errno::EINVAL));
        assert_eq!(recv_flags(MSGQ_PEEK | MSG_COPY), Err(Errno::EINVAL));
        assert_eq!(
            recv_flags(MSGQ_PEEK | MSG_EXCEPT).unwrap(),
            (RecvExt { peek: true }, MSG_EXCEPT)
        );
        assert_eq!(linux_bits(EXT_BITS | IPC_NOWAIT), IPC_NOWAIT);
        // No extension bit collides with a Linux one.
        assert_eq!(EXT_BITS & RECV_LINUX_BITS, 0);
    }

    #[test]
    fn send_perm_and_result() {
        let plain = SendExt::default();
        let over = SendExt {
            overwrite: true,
            ..plain
        };
        let bcast = SendExt {
            broadcast: true,
            ..plain
        };
        assert_eq!(plain.perm(), perm::WRITE);
        assert_eq!(bcast.perm(), perm::WRITE);
        assert_eq!(over.perm(), perm::READ | perm::WRITE);
        assert_eq!(plain.result(3, 4), 0);
        assert_eq!(over.result(3, 4), 3);
        assert_eq!(bcast.result(3, 4), 4);
    }

    #[test]
    fn deadlines() {
        assert_eq!(deadline(2, 0, 0), Err(Errno::EINVAL));
        assert_eq!(deadline(CLOCK_REALTIME, 0, -1), Err(Errno::EINVAL));
        assert_eq!(
            deadline(CLOCK_REALTIME, 0, 1_000_000_000),
            Err(Errno::EINVAL)
        );
        let d = deadline(CLOCK_MONOTONIC, 2, 5).unwrap();
        assert_eq!(d.at_ns, 2_000_000_005);
        assert_eq!(d.left_ns(2_000_000_000), 5);
        assert_eq!(d.left_ns(3_000_000_000), 0);
        assert_eq!(deadline(CLOCK_REALTIME, -5, 0).unwrap().left_ns(0), 0);
    }

    #[test]
    fn blocking_order() {
        assert_eq!(
            would_block(IPC_NOWAIT, Errno::ENOMSG, true, true),
            Err(Errno::ENOMSG)
        );
        assert_eq!(would_block(0, Errno::ENOMSG, true, true), Err(Errno::EINTR));
        assert_eq!(would_block(0, Errno::ENOMSG, false, true), Err(ETIMEDOUT));
        assert_eq!(would_block(0, Errno::ENOMSG, false, false), Ok(()));
    }

    #[test]
    fn abort_and_overwrite() {
        assert_eq!(abort_perm(0), Err(Errno::EINVAL));
        assert_eq!(abort_perm(4), Err(Errno::EINVAL));
        assert_eq!(abort_perm(MSGQ_ABORT_RECEIVERS), Ok(perm::WRITE));
        assert_eq!(abort_perm(3), Ok(perm::READ | perm::WRITE));
        assert_eq!(abort_targets(MSGQ_ABORT_RECEIVERS), (true, false));
        assert_eq!(abort_targets(MSGQ_ABORT_SENDERS), (false, true));
        assert_eq!(abort_targets(3), (true, true));
        assert!(overwrite_can_fit(10, 10));
        assert!(!overwrite_can_fit(11, 10));
        assert!(!overwrite_can_fit(0, 0));
        assert_eq!(offer(4, 5), Offer::TooBig);
        assert_eq!(offer(5, 5), Offer::Take);
    }
}
