//! Which message `msgrcv(msgtyp, msgflg)` selects (Linux's `convert_mode` and `testmsg`).

use crate::abi::{MSG_COPY, MSG_EXCEPT};

/// A receiver's search mode, decided once per call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `msgtyp == 0`: the first message of any type.
    Any,
    /// `msgtyp > 0`: the first message of exactly this type.
    Equal(i64),
    /// `msgtyp > 0` with `MSG_EXCEPT`: the first message of any other type.
    NotEqual(i64),
    /// `msgtyp < 0`: the lowest type `<= bound`, earliest among equals.
    LessEqual(i64),
    /// `MSG_COPY`: the message at this 0-based position, any type.
    Number(i64),
}

impl Mode {
    /// Decides the mode in the kernel's order: `MSG_COPY`, then 0, then negative, then
    /// `MSG_EXCEPT`, then positive. `LONG_MIN` becomes the bound `LONG_MAX`.
    pub const fn of(msgtyp: i64, msgflg: i32) -> Mode {
        if msgflg & MSG_COPY != 0 {
            Mode::Number(msgtyp)
        } else if msgtyp == 0 {
            Mode::Any
        } else if msgtyp < 0 {
            Mode::LessEqual(if msgtyp == i64::MIN {
                i64::MAX
            } else {
                -msgtyp
            })
        } else if msgflg & MSG_EXCEPT != 0 {
            Mode::NotEqual(msgtyp)
        } else {
            Mode::Equal(msgtyp)
        }
    }

    /// Whether a message of type `mtype` satisfies this mode (the test a sender applies to
    /// a blocked receiver). `Number` never matches a new message.
    pub const fn accepts(self, mtype: i64) -> bool {
        match self {
            Mode::Any => true,
            Mode::Equal(t) => mtype == t,
            Mode::NotEqual(t) => mtype != t,
            Mode::LessEqual(b) => mtype <= b,
            Mode::Number(_) => false,
        }
    }

    /// Packs the mode into two words (kind, value) for storage in shared memory or ioctls.
    pub const fn encode(self) -> (u32, i64) {
        match self {
            Mode::Any => (0, 0),
            Mode::Equal(t) => (1, t),
            Mode::NotEqual(t) => (2, t),
            Mode::LessEqual(b) => (3, b),
            Mode::Number(n) => (4, n),
        }
    }

    /// The inverse of [`Mode::encode`]; `None` for an unknown kind.
    pub const fn decode(kind: u32, value: i64) -> Option<Mode> {
        Some(match kind {
            0 => Mode::Any,
            1 => Mode::Equal(value),
            2 => Mode::NotEqual(value),
            3 => Mode::LessEqual(value),
            4 => Mode::Number(value),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_in_kernel_order() {
        assert_eq!(Mode::of(0, MSG_EXCEPT), Mode::Any);
        assert_eq!(Mode::of(-2, MSG_EXCEPT), Mode::LessEqual(2));
        assert_eq!(Mode::of(i64::MIN, 0), Mode::LessEqual(i64::MAX));
        assert_eq!(Mode::of(5, MSG_EXCEPT), Mode::NotEqual(5));
        assert_eq!(Mode::of(5, 0), Mode::Equal(5));
        assert_eq!(Mode::of(-1, MSG_COPY | MSG_EXCEPT), Mode::Number(-1));
    }

    #[test]
    fn accepts() {
        assert!(Mode::LessEqual(3).accepts(3));
        assert!(!Mode::LessEqual(3).accepts(4));
        assert!(Mode::NotEqual(3).accepts(4));
        assert!(!Mode::NotEqual(3).accepts(3));
        assert!(!Mode::Number(0).accepts(1));
        for m in [
            Mode::Any,
            Mode::Equal(7),
            Mode::NotEqual(2),
            Mode::LessEqual(9),
            Mode::Number(3),
        ] {
            let (k, v) = m.encode();
            assert_eq!(Mode::decode(k, v), Some(m));
        }
        assert_eq!(Mode::decode(9, 0), None);
    }
}
