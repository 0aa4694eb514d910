//! msgq-chaos: crash-safety and hostile-input tests (work in progress).
fn main() {}
