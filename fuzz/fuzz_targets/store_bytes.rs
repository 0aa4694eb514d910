//! Opening a store file with arbitrary contents: refused with an error naming the file, or
//! opened, and then `check()` and a few calls return cleanly (never a crash, a panic out of
//! the engine, or a hang). See msgq_chaos::fuzz::store_bytes.
//!
//! `MSGQ_FUZZ_STRICT=1` also fails when `check()` passed a damaged store that a few calls
//! then corrupted further (a known engine gap, reported by count on stdout otherwise).
#![no_main]

use libfuzzer_sys::fuzz_target;
use msgq_chaos::fuzz::{store_bytes_with, StoreOutcome};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

static MISSED: AtomicU64 = AtomicU64::new(0);

fuzz_target!(|data: &[u8]| {
    static STRICT: OnceLock<bool> = OnceLock::new();
    let strict =
        *STRICT.get_or_init(|| std::env::var_os("MSGQ_FUZZ_STRICT").is_some_and(|v| v == "1"));
    if store_bytes_with(data, strict) == StoreOutcome::CheckMissedDamage {
        let n = MISSED.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            println!("msgq-fuzz: check-missed-damage {n}");
        }
    }
});
