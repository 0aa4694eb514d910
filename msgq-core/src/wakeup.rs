//! Which blocked callers a change to a queue wakes, decided over plain values so that each
//! backend walks its own lists and applies the same rule.
//!
//! * [`SenderWakeup`]: Linux's `ss_wakeup` after room was made (a receive, `IPC_SET`, a
//!   purge): which senders are woken, which rotated to the tail, where the walk stops.
//! * [`handoff`]: Linux's `pipelined_send`: which blocked receiver a sent message goes
//!   to, given the oldest candidate of each list a backend keeps, and what happens to it.

use crate::ext::{offer, Offer};
use crate::limits::fits;

/// What `ss_wakeup` does with the blocked sender it is at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SenderStep {
    /// Its message fits now: wake it (it stays listed and unlinks itself when it runs).
    Wake,
    /// It does not fit: move it to the tail of the list, in order.
    Rotate,
    /// The walk is back at the first sender it rotated: every sender listed before the
    /// walk began was visited once; stop.
    Stop,
}

/// Linux's `ss_wakeup` without `kill` (removal wakes every sender with `EIDRM`), over the
/// blocked senders in list order, each named by a token `T` the backend chooses (a
/// record offset, a pointer). The queue's counters do not change during the walk.
#[derive(Clone, Copy, Debug)]
pub struct SenderWakeup<T> {
    cbytes: u64,
    qnum: u64,
    qbytes: u64,
    first_rotated: Option<T>,
}

impl<T: Copy + PartialEq> SenderWakeup<T> {
    /// A walk over the senders of a queue with these counters.
    pub const fn new(cbytes: u64, qnum: u64, qbytes: u64) -> Self {
        SenderWakeup {
            cbytes,
            qnum,
            qbytes,
            first_rotated: None,
        }
    }

    /// Whether the walk stops at `sender` (the first one rotated, met again). A backend
    /// that must do something to a sender before [`SenderWakeup::step`] (check that its
    /// thread lives) asks this first.
    pub fn ends_at(&self, sender: T) -> bool {
        match self.first_rotated {
            Some(s) => s == sender,
            None => false,
        }
    }

    /// What to do with `sender`, whose message has `msgsz` bytes, the next one in the list.
    pub fn step(&mut self, sender: T, msgsz: u64) -> SenderStep {
        if self.ends_at(sender) {
            return SenderStep::Stop;
        }
        if fits(msgsz, self.cbytes, self.qnum, self.qbytes) {
            return SenderStep::Wake;
        }
        if self.first_rotated.is_none() {
            self.first_rotated = Some(sender);
        }
        SenderStep::Rotate
    }
}

/// The oldest blocked receiver of one list that accepts a message's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// When it blocked: a counter that grows with every receiver that blocks on the queue.
    pub order: u64,
    /// The largest message it takes ([`crate::checks::receiver_maxsize`]).
    pub maxsize: u64,
}

/// The list a receiver is chosen from: the one of receivers of exactly the message's type,
/// or the general one (any type, a bound, `MSG_EXCEPT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Typed,
    General,
}

/// The receiver a message goes to, and what happens to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handoff {
    pub from: Side,
    /// `Take`: it gets the message, which is not queued. `TooBig`: it fails with `E2BIG`
    /// (off its list), and the choice is made again without it.
    pub offer: Offer,
}

/// Linux's `pipelined_send`, one step: of the oldest accepting receiver of the typed list
/// and that of the general list, the one that blocked first (Linux keeps one list and
/// tests them oldest first), for a message of `size` bytes. `None`: nobody waits for it,
/// it is queued.
pub const fn handoff(
    typed: Option<Candidate>,
    general: Option<Candidate>,
    size: u64,
) -> Option<Handoff> {
    let (from, c) = match (typed, general) {
        (None, None) => return None,
        (Some(t), Some(g)) => {
            if t.order < g.order {
                (Side::Typed, t)
            } else {
                (Side::General, g)
            }
        }
        (Some(t), None) => (Side::Typed, t),
        (None, Some(g)) => (Side::General, g),
    };
    Some(Handoff {
        from,
        offer: offer(c.maxsize, size),
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// The whole `ss_wakeup` on a list of (token, msgsz): the woken, and the list after.
    fn run(list: &[(u32, u64)], cbytes: u64, qnum: u64, qbytes: u64) -> (Vec<u32>, Vec<u32>) {
        let mut l: Vec<(u32, u64)> = list.to_vec();
        let mut w = SenderWakeup::new(cbytes, qnum, qbytes);
        let mut woken = Vec::new();
        let mut i = 0;
        while i < l.len() {
            let (t, sz) = l[i];
            match w.step(t, sz) {
                SenderStep::Stop => break,
                SenderStep::Wake => {
                    woken.push(t);
                    i += 1;
                }
                SenderStep::Rotate => {
                    let s = l.remove(i);
                    l.push(s);
                }
            }
        }
        (woken, l.iter().map(|s| s.0).collect())
    }

    #[test]
    fn ss_wakeup_wakes_fitting_and_rotates_the_rest_once() {
        // qbytes 100, 50 used: 50 fit (and the count quirk: qnum + 1 <= qbytes).
        let (woken, after) = run(&[(1, 10), (2, 60), (3, 50), (4, 51)], 50, 1, 100);
        assert_eq!(woken, [1, 3]);
        assert_eq!(after, [1, 3, 2, 4]);
        // Nobody fits: the order is unchanged, each visited once.
        let (woken, after) = run(&[(1, 60), (2, 70)], 50, 1, 100);
        assert!(woken.is_empty());
        assert_eq!(after, [1, 2]);
        // Everybody fits.
        let (woken, after) = run(&[(1, 0), (2, 0)], 0, 0, 10);
        assert_eq!(woken, [1, 2]);
        assert_eq!(after, [1, 2]);
        assert_eq!(run(&[], 0, 0, 0), (Vec::new(), Vec::new()));
        // The message count counts against the bytes.
        let (woken, _) = run(&[(1, 0)], 0, 10, 10);
        assert!(woken.is_empty());
    }

    #[test]
    fn ends_only_at_the_first_rotated() {
        let mut w = SenderWakeup::new(0, 0, 10);
        assert!(!w.ends_at(1));
        assert_eq!(w.step(1, 11), SenderStep::Rotate);
        assert_eq!(w.step(2, 11), SenderStep::Rotate);
        assert!(w.ends_at(1) && !w.ends_at(2));
        assert_eq!(w.step(1, 0), SenderStep::Stop);
    }

    #[test]
    fn handoff_oldest_first_then_size() {
        let c = |order, maxsize| Some(Candidate { order, maxsize });
        assert_eq!(handoff(None, None, 1), None);
        assert_eq!(
            handoff(c(3, 10), c(5, 10), 10),
            Some(Handoff {
                from: Side::Typed,
                offer: Offer::Take
            })
        );
        assert_eq!(
            handoff(c(7, 10), c(5, 4), 10),
            Some(Handoff {
                from: Side::General,
                offer: Offer::TooBig
            })
        );
        assert_eq!(
            handoff(None, c(5, 10), 10).map(|h| h.from),
            Some(Side::General)
        );
        assert_eq!(
            handoff(c(5, 9), None, 10).map(|h| h.offer),
            Some(Offer::TooBig)
        );
        // A zero-byte message fits any buffer.
        assert_eq!(
            handoff(c(1, 0), None, 0).map(|h| h.offer),
            Some(Offer::Take)
        );
    }
}
