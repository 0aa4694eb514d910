//! A quick look at the cost of a send+receive pair (the real benchmarks are in benches/).
use msgq_core::abi::{IPC_NOWAIT, IPC_PRIVATE};
use msgq_user::{Store, StoreOptions};
use std::time::Instant;

fn main() {
    let p = std::path::PathBuf::from(format!("/dev/shm/msgq-pairbench-{}", std::process::id()));
    let s = Store::create(
        &p,
        &StoreOptions {
            size: 64 << 20,
            ..Default::default()
        },
    )
    .expect("store");
    let _ = std::fs::remove_file(&p);
    let q = s.msgget(IPC_PRIVATE, 0o600).expect("msgget");
    for size in std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().unwrap())
        .collect::<Vec<_>>()
    {
        let text = vec![7u8; size];
        let mut buf = vec![0u8; size];
        let n: u32 = std::env::var("PAIRS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200_000);
        let t = Instant::now();
        for _ in 0..n {
            s.send(q, 1, &text, IPC_NOWAIT).unwrap();
            s.receive(q, &mut buf, 0, IPC_NOWAIT).unwrap();
        }
        let per = t.elapsed().as_nanos() as f64 / n as f64;
        let mut m = vec![0u8; 8 + size];
        m[..8].copy_from_slice(&1i64.to_ne_bytes());
        let t = Instant::now();
        for _ in 0..n {
            // SAFETY: `m` is this function's `8 + size` byte message buffer.
            unsafe {
                msgq_user::raw::msgsnd(&s, q, m.as_ptr().cast(), size, IPC_NOWAIT).unwrap();
                msgq_user::raw::msgrcv(&s, q, m.as_mut_ptr().cast(), size, 0, IPC_NOWAIT).unwrap();
            }
        }
        let raw = t.elapsed().as_nanos() as f64 / n as f64;
        println!("{size:>5} B: Rust API {per:.0} ns/pair, raw C layer {raw:.0} ns/pair");
    }
}
