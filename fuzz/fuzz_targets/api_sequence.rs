//! Sequences of API calls with arbitrary arguments, checked against an in-memory model of
//! System V semantics. See msgq_chaos::fuzz::api_sequence.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = msgq_chaos::fuzz::api_sequence(data) {
        panic!("model disagreement: {e}");
    }
});
