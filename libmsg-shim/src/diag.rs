//! The shim's only output: one line on stderr when a backend cannot start (and, with
//! `MSGQ_DEBUG` set, one line per panic caught at the C boundary).

use std::sync::atomic::{AtomicBool, Ordering};

static SAID: AtomicBool = AtomicBool::new(false);

/// Writes `msgq: <msg>` to stderr, once per process.
pub fn once(msg: &str) {
    if SAID.swap(true, Ordering::Relaxed) {
        return;
    }
    line(msg)
}

/// Writes `msgq: <msg>` to stderr.
pub fn line(msg: &str) {
    let line = format!("msgq: {msg}\n");
    let mut b = line.as_bytes();
    while !b.is_empty() {
        // SAFETY: writing our own buffer to fd 2 with the real write (ours would recurse into
        // the pending-write check, harmlessly, but this is simpler).
        let n = crate::real::call_real!(
            crate::real::WRITE,
            unsafe extern "C" fn(i32, *const libc::c_void, usize) -> isize,
            -1,
            (2, b.as_ptr().cast(), b.len())
        );
        if n <= 0 {
            break;
        }
        b = &b[n as usize..];
    }
}
