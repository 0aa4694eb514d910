//! The cases, by call family. Names start with `s08-NNN` for the spec's §8 case NNN and
//! `mp-` for the extra multi-process cases.

use crate::harness::Case;

pub mod ctl;
pub mod get;
pub mod multi;
pub mod perm;
pub mod rcv;
pub mod snd;

/// Every case, in order.
pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(get::cases());
    v.extend(snd::cases());
    v.extend(rcv::cases());
    v.extend(ctl::cases());
    v.extend(perm::cases());
    v.extend(multi::cases());
    v
}
