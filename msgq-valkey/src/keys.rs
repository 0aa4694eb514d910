//! Key names and the encodings shared with the functions library (`functions/msgq.lua`).
//!
//! A namespace's registry is `{msgq:NS}:reg` (with `:ids`, `:keys`, `:pending`, `:alloc`
//! beside it, all in the registry's hash slot); queue index `I`'s keys start with
//! `{msgq:NS:I}` (its hash, `:q`, and the lists and sets the library derives from it). Every
//! key of one queue therefore lies in one cluster hash slot, and different indices spread
//! over the cluster. `docs/cluster.md` lists every key.

/// The keys of one namespace.
#[derive(Clone, Debug)]
pub(crate) struct Names {
    ns: String,
}

impl Names {
    /// The names for namespace `ns` (checked by [`crate::Valkey::open`]: no `{`, `}` or
    /// `:`, so that it cannot change a hash tag).
    pub(crate) fn new(ns: &str) -> Names {
        Names { ns: ns.to_owned() }
    }

    /// The registry's hash (`KEYS[1]` of the registry functions).
    pub(crate) fn registry(&self) -> Vec<u8> {
        format!("{{msgq:{}}}:reg", self.ns).into_bytes()
    }

    /// Queue index `idx`'s hash (`KEYS[1]` of the queue functions).
    pub(crate) fn queue(&self, idx: u32) -> Vec<u8> {
        format!("{{msgq:{}:{}}}:q", self.ns, idx).into_bytes()
    }

    /// Waiter `wid`'s wake-up list in queue `idx`.
    pub(crate) fn wake(&self, idx: u32, wid: &[u8]) -> Vec<u8> {
        let mut k = format!("{{msgq:{}:{}}}:k:", self.ns, idx).into_bytes();
        k.extend_from_slice(wid);
        k
    }

    /// Waiter `wid`'s in-flight list in queue `idx`.
    pub(crate) fn in_flight(&self, idx: u32, wid: &[u8]) -> Vec<u8> {
        let mut k = format!("{{msgq:{}:{}}}:f:", self.ns, idx).into_bytes();
        k.extend_from_slice(wid);
        k
    }
}

/// Whether `ns` can name a namespace: 1 to 64 bytes, none of them `{`, `}`, `:` or a
/// control character (they would change the keys' hash tags or layout).
pub(crate) fn valid_namespace(ns: &str) -> bool {
    !ns.is_empty()
        && ns.len() <= 64
        && ns
            .bytes()
            .all(|b| b > b' ' && b != b'{' && b != b'}' && b != b':' && b != 0x7f)
}

/// A message type (or a type bound) as the library compares it: 19 zero-padded decimal
/// digits, which order as the numbers do (Lua's numbers are doubles and would lose digits
/// of a 64-bit type). Only values `>= 0` are encoded (types are `>= 1`, bounds `|msgtyp|`).
pub(crate) fn pad_type(t: i64) -> String {
    format!("{:019}", t.max(0))
}

/// The inverse of [`pad_type`] (`None` for anything else).
pub(crate) fn unpad_type(s: &[u8]) -> Option<i64> {
    if s.len() != 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_types_order_as_numbers() {
        let ts = [1i64, 2, 9, 10, 99, 1 << 40, i64::MAX];
        for w in ts.windows(2) {
            assert!(pad_type(w[0]) < pad_type(w[1]));
        }
        for t in ts {
            assert_eq!(unpad_type(pad_type(t).as_bytes()), Some(t));
        }
        assert_eq!(pad_type(i64::MAX).len(), 19);
        assert_eq!(unpad_type(b"12"), None);
    }

    #[test]
    fn one_queue_one_hash_tag() {
        let n = Names::new("prod");
        assert_eq!(n.queue(7), b"{msgq:prod:7}:q");
        assert_eq!(n.wake(7, b"3"), b"{msgq:prod:7}:k:3");
        assert_eq!(n.in_flight(7, b"3"), b"{msgq:prod:7}:f:3");
        assert_eq!(n.registry(), b"{msgq:prod}:reg");
        assert!(valid_namespace("prod-1"));
        for bad in ["", "a:b", "a{b", "a}b", "a b", "a\nb"] {
            assert!(!valid_namespace(bad), "{bad:?}");
        }
    }
}
