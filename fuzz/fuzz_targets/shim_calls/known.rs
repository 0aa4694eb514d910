//! Divergences found by this fuzzer in code it does not own, reported and accepted until
//! fixed (`MSGQ_FUZZ_STRICT=1` fails on them). Each is named on stderr once per process;
//! fuzz/run.sh lists the names.

use crate::calls::Outcome;
use crate::decode::Op;
use std::sync::atomic::{AtomicBool, Ordering};

/// `/proc/sysvipc/msg` opened for writing by root: Linux opens it (a write then fails with
/// `EIO`); the shim's emulation (libmsg-shim/src/procfs.rs, `open_fd`)
/// refuses with `EACCES`. Recognised by the results (any path: the string at the pointer
/// may be one an earlier call left there): a file the shim does not emulate gets the real
/// call's answer, so only the emulation says `EACCES` to root where Linux opens.
fn sysvipc_msg_write_as_root(op: &Op, k: &Outcome, s: &Outcome) -> bool {
    let Op::Open { flags, .. } = *op else {
        return false;
    };
    let writing = flags & libc::O_ACCMODE != libc::O_RDONLY && flags & libc::O_PATH == 0;
    writing && k.ret == 0 && s.ret == -1 && s.errno == libc::EACCES
}

/// A known divergence: its name and its test.
type Known = (&'static str, fn(&Op, &Outcome, &Outcome) -> bool);

const KNOWN: [Known; 1] = [("sysvipc-msg-write-as-root", sysvipc_msg_write_as_root)];

static STRICT: AtomicBool = AtomicBool::new(false);

pub fn init() {
    STRICT.store(
        std::env::var_os("MSGQ_FUZZ_STRICT").is_some_and(|v| v == "1"),
        Ordering::Relaxed,
    );
}

/// Whether `k` vs `s` is a known divergence (and strict mode is off).
pub fn accepted(op: &Op, k: &Outcome, s: &Outcome) -> bool {
    static SEEN: [AtomicBool; KNOWN.len()] = [const { AtomicBool::new(false) }; KNOWN.len()];
    if STRICT.load(Ordering::Relaxed) {
        return false;
    }
    for (i, (name, test)) in KNOWN.into_iter().enumerate() {
        if test(op, k, s) {
            if !SEEN[i].swap(true, Ordering::Relaxed) {
                eprintln!("msgq-fuzz: known divergence: {name}");
            }
            return true;
        }
    }
    false
}
