//! Divergences found by this fuzzer in code it does not own, reported and accepted until
//! fixed (`MSGQ_FUZZ_STRICT=1` fails on them). Each is named on stderr once per process;
//! fuzz/run.sh lists the names.

use crate::calls::Outcome;
use crate::decode::{Op, LIMITS};
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

/// A path that goes through an emulated file as if it were a directory and comes back
/// (`/proc/sysvipc/msg/x/../msg`): Linux says `ENOTDIR`; the shim's path normaliser
/// (procfs.rs, `classify`) drops `x/..` lexically and opens the emulated file. (Paths that
/// end in `/`, `/.` or `/..` are left to the real call by io.rs.)
fn emulated_file_as_directory(op: &Op, k: &Outcome, s: &Outcome) -> bool {
    matches!(op, Op::Open { .. }) && k.ret == -1 && k.errno == libc::ENOTDIR && s.ret == 0
}

/// The byte count of a limit write.
fn limit_write_len(op: &Op) -> Option<usize> {
    match *op {
        Op::WriteLimit { text, size, .. } => {
            Some(size.unwrap_or(LIMITS[text as usize % LIMITS.len()].len()))
        }
        _ => None,
    }
}

/// A write of more than 64 bytes to a limit file: the shim's emulation
/// (libmsg-shim/src/procfs.rs, `write_tracked`) reads 64 bytes (`EFAULT` if they cannot
/// be read) and answers `EINVAL` ("longer than any integer"); Linux first checks the whole
/// range (`EFAULT`: beyond the address space), refuses a count of `KMALLOC_MAX_SIZE` or
/// more (`ENOMEM`), copies all of it (`EFAULT`), and accepts a number followed by
/// whitespace of any length. Accepted only when both refuse the write (the fuzzer never
/// sends such a write that Linux would take).
fn long_limit_write(op: &Op, k: &Outcome, s: &Outcome) -> bool {
    limit_write_len(op).is_some_and(|n| n > 64) && k.ret < 0 && s.ret < 0 && k != s
}

/// A zero-length write to a limit file from an address outside user space: Linux checks
/// the address first (`EFAULT`); the shim's emulation (procfs.rs, `write_tracked`) reads
/// nothing and returns 0.
fn empty_limit_write_bad_address(op: &Op, k: &Outcome, s: &Outcome) -> bool {
    limit_write_len(op) == Some(0) && k.ret == -1 && k.errno == libc::EFAULT && s.ret == 0
}

/// A known divergence: its name and its test.
type Known = (&'static str, fn(&Op, &Outcome, &Outcome) -> bool);

const KNOWN: [Known; 4] = [
    ("sysvipc-msg-write-as-root", sysvipc_msg_write_as_root),
    ("emulated-file-as-directory", emulated_file_as_directory),
    ("limit-write-over-64-bytes", long_limit_write),
    (
        "empty-limit-write-bad-address",
        empty_limit_write_bad_address,
    ),
];

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
