//! msgq-chaos: crash-safety and hostile-input tests for the userspace engine (issue 8).
//!
//! The binary (`src/main.rs`) runs the chaos tests (SIGKILL and SIGSTOP of worker
//! processes), the permission tests across uids, and deterministic drivers for the fuzz
//! targets. The targets themselves live here, as plain functions, so that the cargo-fuzz
//! crate in `fuzz/` and the seeded driver share them: see [`fuzz`].
//! `docs/crash-safety.md` describes what is tested and why.

pub mod fuzz;
pub mod msg;
pub mod rng;
