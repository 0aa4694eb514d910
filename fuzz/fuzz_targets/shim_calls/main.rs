//! The shim's exported C functions (`msgget`, `msgsnd`, `msgrcv`, `msgctl`, and `syscall()`
//! for the same four calls) called as a hostile C program would: NULL, unmapped, read-only,
//! misaligned and page-straddling pointers; zero, negative and huge sizes; unknown flag
//! bits and commands, `IPC_64`, any `msgtyp` and key. Each call is made on the shim
//! (user backend, private store) and on the kernel (private IPC namespace); return values,
//! errno, and every byte the calls wrote into the buffers must agree. See docs/shim.md,
//! "Fuzzing the entry points".
#![no_main]

mod arena;
mod calls;
mod decode;
mod ids;
mod known;
mod reset;
mod run;
mod setup;

use libfuzzer_sys::fuzz_target;
use std::sync::{Mutex, OnceLock};

static STATE: OnceLock<Mutex<run::State>> = OnceLock::new();

fuzz_target!(
    init: {
        known::init();
        let _ = STATE.set(Mutex::new(run::State::new(setup::init())));
    },
    |data: &[u8]| {
        let mut st = STATE.get().expect("initialised").lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = st.input(data) {
            panic!("shim/kernel divergence: {e}");
        }
    }
);
