//! Row 10 (issue 17): the Valkey backend (`msgq-valkey`), on servers this program starts on
//! loopback (msgq-valkey's test servers, no persistence).
//!
//! * `10-valkey-pair/<impl>/8B`: an 8-byte send then its receive in one thread, on the
//!   kernel's queues (`native`, in a private IPC namespace), on the shared-memory engine
//!   (`msgq`, a store file) and on one Valkey node (`valkey`): what a network backend costs.
//! * `10-valkey-aggregate/<shards>/T6`: six threads, each with its own client and its own
//!   queue, doing 8-byte pairs; time per pair, all threads together, on one node
//!   (`1-shard`) and on a three-master cluster (`3-shards`): whether throughput grows with
//!   shards (each queue lives on one shard).
//!
//! Each benchmark checks what it received; no time is asserted.

use criterion::{BenchmarkId, Criterion, Throughput};
use msgq_benches::{private_ipc_namespace, BenchStore, Ipc, MsgBuf, Msgq, Native};
use msgq_core::abi::IPC_PRIVATE;
use msgq_valkey::testing::{Cluster, Server};
use msgq_valkey::Valkey;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Threads of the aggregate row.
const THREADS: usize = 6;

static FAILED: AtomicU64 = AtomicU64::new(0);

fn check(ok: bool, what: &str) {
    if !ok {
        eprintln!("valkey bench: {what} failed");
        FAILED.fetch_add(1, Ordering::Relaxed);
    }
}

fn pair_ipc<I: Ipc>(c: &mut Criterion, ipc: I) {
    let mut g = c.benchmark_group("10-valkey-pair");
    let id = ipc.create().expect("msgget");
    let mut buf = MsgBuf::new(8);
    buf.set_mtype(1);
    let mut last = true;
    g.bench_function(BenchmarkId::new(ipc.name(), "8B"), |b| {
        b.iter(|| {
            last = ipc.send(id, &buf, 8, 0).is_ok() && ipc.recv(id, &mut buf, 8, 0, 0) == Ok(8);
        })
    });
    check(last, ipc.name());
    let _ = ipc.remove(id);
    g.finish();
}

fn pair_valkey(c: &mut Criterion, url: &str) {
    let mut g = c.benchmark_group("10-valkey-pair");
    let v = Valkey::open(url, "bench-pair").expect("valkey");
    let id = v.msgget(IPC_PRIVATE, 0o600).expect("msgget");
    let mut last = true;
    g.bench_function(BenchmarkId::new("valkey", "8B"), |b| {
        b.iter(|| {
            last = v.send(id, 1, b"12345678", 0, None, false).is_ok()
                && v.receive(id, 8, 0, 0, None).map(|m| m.1.len()) == Ok(8);
        })
    });
    check(last, "valkey pair");
    let _ = v.remove(id);
    g.finish();
}

fn aggregate(c: &mut Criterion, url: &str, name: &str, min_batch: u64) {
    let mut g = c.benchmark_group("10-valkey-aggregate");
    g.throughput(Throughput::Elements(1));
    let ns = format!("bench-{name}");
    let clients: Vec<(Valkey, i32)> = (0..THREADS)
        .map(|_| {
            let v = Valkey::open(url, &ns).expect("valkey");
            let id = v.msgget(IPC_PRIVATE, 0o600).expect("msgget");
            (v, id)
        })
        .collect();
    g.bench_function(BenchmarkId::new(name, format!("T{THREADS}")), |b| {
        b.iter_custom(|iters| {
            let per = iters.max(min_batch).div_ceil(THREADS as u64);
            let start = Instant::now();
            let ok = std::thread::scope(|s| {
                let hs: Vec<_> = clients
                    .iter()
                    .map(|(v, id)| {
                        s.spawn(move || {
                            (0..per).all(|_| {
                                v.send(*id, 1, b"12345678", 0, None, false).is_ok()
                                    && v.receive(*id, 8, 0, 0, None).is_ok()
                            })
                        })
                    })
                    .collect();
                hs.into_iter().all(|h| h.join().unwrap_or(false))
            });
            check(ok, name);
            start
                .elapsed()
                .mul_f64(iters as f64 / (per * THREADS as u64) as f64)
        })
    });
    for (v, id) in &clients {
        let _ = v.remove(*id);
    }
    g.finish();
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--test");
    let ns = private_ipc_namespace();
    if !ns {
        eprintln!("note: unshare(CLONE_NEWIPC) refused; using private queues in this namespace");
    }
    let bs = BenchStore::create("valkey");
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(800))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let one = Server::start().expect("valkey server (tests/valkey/deps.sh)");
    let three = Cluster::start(3).expect("valkey cluster");
    pair_ipc(&mut c, Native);
    pair_ipc(&mut c, Msgq(bs.store));
    pair_valkey(&mut c, &one.url());
    let batch = if smoke { 1 } else { 600 };
    aggregate(&mut c, &one.url(), "1-shard", batch);
    aggregate(&mut c, &three.url(), "3-shards", batch);
    c.final_summary();
    drop(bs);
    let failed = FAILED.load(Ordering::Relaxed);
    println!("valkey: {} failed", failed);
    if failed > 0 {
        std::process::exit(1);
    }
}
