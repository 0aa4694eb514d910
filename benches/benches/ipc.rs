//! msgq against native System V message queues, side by side, in one run.
//!
//! Rows (see docs/benchmarks.md): 0 create+remove, 1 send+receive pair in one process,
//! 2 one-way stream between two processes, 3 ping-pong between two processes, 4 typed
//! receive behind N other messages (positive type, negative type, MSG_EXCEPT), 5 send with R
//! receivers blocked on other types, 6 four senders and four receivers near the byte limit,
//! 8 independent queues, 9 a timed receive against an untimed one (issue 14).
//! Store memory per queue and per queued byte is measured once, outside criterion.
//!
//! Every benchmark is named `<row>/<implementation>/<parameter>`; `bench-report` turns
//! criterion's estimates into `bench-report/report.md`. Benchmarks never assert timings.
//! Rows 1, 4 and 5 live in `rows/`, shared with the guest benchmark (`guest.rs`, row 7).

mod rows;

use criterion::{BenchmarkId, Criterion, Throughput};
use msgq_benches::{
    extra_results_path, fork_child, private_ipc_namespace, remove_stale_stores, wait_child,
    watchdog, BenchStore, Gate, Ipc, MsgBuf, Msgq, MsgqRaw, Native,
};
use msgq_core::abi::IPC_NOWAIT;
use msgq_user::Store;
use rows::{blank, blocked_receivers, check, ok, pair, typed, SIZES, TYPED_MODES};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The fewest messages (or round trips) one sample of a multi-process row moves, whatever
/// `iters` criterion asks for: forking and reaping the children of a sample costs about a
/// millisecond on a loaded machine, which must stay small against the sample. The time
/// returned is scaled back to `iters`. Set to 1 by `--test`.
static MIN_BATCH: AtomicU64 = AtomicU64::new(5_000);

/// How many messages a sample of `iters` iterations moves.
fn batch(iters: u64) -> u64 {
    iters.max(MIN_BATCH.load(Ordering::Relaxed))
}

/// `elapsed` for `moved` messages, scaled to `iters`.
fn scaled(elapsed: Duration, iters: u64, moved: u64) -> Duration {
    elapsed.mul_f64(iters as f64 / moved as f64)
}

/// Row 0: `msgget(IPC_PRIVATE)` + `IPC_RMID`.
fn create_remove<I: Ipc>(c: &mut Criterion, ipc: I) {
    let mut g = c.benchmark_group("0-create-remove");
    g.bench_function(BenchmarkId::new(ipc.name(), "queue"), |b| {
        b.iter(|| {
            let id = ok(ipc.create(), "msgget");
            ok(ipc.remove(black_box(id)), "IPC_RMID");
        })
    });
    g.finish();
}

/// Row 2: one sender (this process) streams messages to one receiver (a forked child).
/// Time per message; the report turns it into messages per second.
fn stream<I: Ipc>(c: &mut Criterion, ipc: I) {
    let mut g = c.benchmark_group("2-stream");
    g.throughput(Throughput::Elements(1));
    let id = ok(ipc.create(), "msgget");
    for (size, label) in SIZES {
        let sbuf = MsgBuf::new(size);
        g.bench_function(BenchmarkId::new(ipc.name(), label), |b| {
            b.iter_custom(|iters| {
                let n = batch(iters);
                let gate = Gate::new();
                let child = fork_child(|| {
                    let mut rbuf = MsgBuf::new(size);
                    gate.wait();
                    (0..n).all(|_| ipc.recv(id, &mut rbuf, size, 0, 0) == Ok(size))
                });
                let start = Instant::now();
                gate.open();
                for _ in 0..n {
                    ok(ipc.send(id, &sbuf, size, 0), "msgsnd");
                }
                wait_child(child);
                scaled(start.elapsed(), iters, n)
            })
        });
    }
    ok(ipc.remove(id), "IPC_RMID");
    g.finish();
}

/// Row 3: round trip between two processes on one queue (type 1 there, type 2 back).
fn ping_pong<I: Ipc>(c: &mut Criterion, ipc: I) {
    let mut g = c.benchmark_group("3-pingpong");
    let id = ok(ipc.create(), "msgget");
    g.bench_function(BenchmarkId::new(ipc.name(), "8B"), |b| {
        b.iter_custom(|iters| {
            let n = batch(iters);
            let gate = Gate::new();
            let child = fork_child(|| {
                let mut buf = MsgBuf::new(8);
                gate.wait();
                (0..n).all(|_| {
                    ipc.recv(id, &mut buf, 8, 1, 0).is_ok() && {
                        buf.set_mtype(2);
                        ipc.send(id, &buf, 8, 0).is_ok()
                    }
                })
            });
            let sbuf = MsgBuf::new(8);
            let mut rbuf = MsgBuf::new(8);
            let start = Instant::now();
            gate.open();
            for _ in 0..n {
                ok(ipc.send(id, &sbuf, 8, 0), "msgsnd");
                ok(ipc.recv(id, &mut rbuf, 8, 2, 0), "msgrcv");
            }
            let t = start.elapsed();
            wait_child(child);
            scaled(t, iters, n)
        })
    });
    ok(ipc.remove(id), "IPC_RMID");
    g.finish();
}

/// Row 6: four sender and four receiver processes on one queue of 16 KiB (the default
/// qbytes) exchanging 1 KiB messages, so the queue holds at most 16 and senders keep
/// hitting the byte limit. Time per message (all processes together).
fn many<I: Ipc>(c: &mut Criterion, ipc: I) {
    const SIZE: usize = 1024;
    let mut g = c.benchmark_group("6-mpmc-4x4");
    g.throughput(Throughput::Elements(1));
    let id = ok(ipc.create(), "msgget");
    g.bench_function(BenchmarkId::new(ipc.name(), "1KiB"), |b| {
        b.iter_custom(|iters| {
            let per = batch(iters).div_ceil(4);
            let gate = Gate::new();
            let mut kids = Vec::new();
            for s in 0..4 {
                let gate = &gate;
                kids.push(fork_child(|| {
                    let mut buf = MsgBuf::new(SIZE);
                    buf.set_mtype(s + 1);
                    gate.wait();
                    (0..per).all(|_| ipc.send(id, &buf, SIZE, 0).is_ok())
                }));
            }
            for _ in 0..4 {
                let gate = &gate;
                kids.push(fork_child(|| {
                    let mut buf = MsgBuf::new(SIZE);
                    gate.wait();
                    (0..per).all(|_| ipc.recv(id, &mut buf, SIZE, 0, 0) == Ok(SIZE))
                }));
            }
            let start = Instant::now();
            gate.open();
            for k in kids {
                wait_child(k);
            }
            // Scale to `iters` messages (we moved 4 * per).
            scaled(start.elapsed(), iters, 4 * per)
        })
    });
    ok(ipc.remove(id), "IPC_RMID");
    g.finish();
}

/// Row 8 (issue 13): P = 1 and 2 processes, each doing 8-byte send+receive pairs on a queue
/// of its own: nothing is shared but the implementation. Time per pair, all processes
/// together, so the aggregate rate at P = 2 over P = 1 says how the implementation scales
/// with cores (the kernel: a lock per queue; msgq-user today: one lock per store).
fn independent<I: Ipc>(c: &mut Criterion, ipc: I) {
    const SIZE: usize = 8;
    let mut g = c.benchmark_group("8-independent-queues");
    g.throughput(Throughput::Elements(1));
    let ids: Vec<i32> = (0..2).map(|_| ok(ipc.create(), "msgget")).collect();
    for p in [1usize, 2] {
        g.bench_function(BenchmarkId::new(ipc.name(), format!("P{p}")), |b| {
            b.iter_custom(|iters| {
                let per = batch(iters).div_ceil(p as u64);
                let gate = Gate::new();
                let mut kids = Vec::new();
                for &id in &ids[..p] {
                    let gate = &gate;
                    kids.push(fork_child(|| {
                        let mut buf = MsgBuf::new(SIZE);
                        buf.set_mtype(1);
                        gate.wait();
                        (0..per).all(|_| {
                            ipc.send(id, &buf, SIZE, 0).is_ok()
                                && ipc.recv(id, &mut buf, SIZE, 0, 0) == Ok(SIZE)
                        })
                    }));
                }
                let start = Instant::now();
                gate.open();
                for k in kids {
                    wait_child(k);
                }
                scaled(start.elapsed(), iters, p as u64 * per)
            })
        });
    }
    for id in ids {
        ok(ipc.remove(id), "IPC_RMID");
    }
    g.finish();
}

/// Row 9 (issue 14): "a timed receive costs no more than an untimed one when a message
/// waits". One iteration is an 8-byte send then a receive of it, on a store file: the
/// receive is `Store::receive` (`msgq`), or `Store::receive_with` with a deadline an hour
/// away computed once (`msgq-timed/8B`: the call itself), or computed in every iteration
/// with `deadline_in` as a caller typically does (`msgq-timed/8B-deadline-in`: plus a
/// CLOCK_MONOTONIC read). Native `msgsnd`/`msgrcv` is the ratio base, as in every row.
fn timed_receive(c: &mut Criterion, store: &'static Store) {
    const SIZE: usize = 8;
    const FAR: Duration = Duration::from_secs(3600);
    let mut g = c.benchmark_group("9-timed-receive");
    let sbuf = MsgBuf::new(SIZE);
    let text = &sbuf.text()[..SIZE];
    // native
    {
        let id = ok(Native.create(), "msgget");
        let mut rbuf = blank(SIZE);
        let mut last = None;
        g.bench_function(BenchmarkId::new("native", "8B"), |b| {
            b.iter(|| {
                ok(Native.send(id, &sbuf, SIZE, 0), "msgsnd");
                last = Some(ok(Native.recv(id, &mut rbuf, SIZE, 0, 0), "msgrcv"));
            })
        });
        check("9-timed-receive/native/8B", last, &rbuf, &sbuf, SIZE);
        ok(Native.remove(id), "IPC_RMID");
    }
    // msgq, untimed and timed, on the same queue; the same calls but the receive.
    let id = ok(Msgq(store).create(), "msgget");
    // 0: receive; 1: receive_with, deadline computed once; 2: deadline_in every time.
    for (mode, imp, param) in [
        (0u8, "msgq", "8B"),
        (1, "msgq-timed", "8B"),
        (2, "msgq-timed", "8B-deadline-in"),
    ] {
        let mut rbuf = blank(SIZE);
        let mut last = None;
        let fixed = msgq_user::deadline_in(FAR);
        g.bench_function(BenchmarkId::new(imp, param), |b| {
            b.iter(|| {
                ok(store.send(id, 1, text, 0).map_err(|e| e.0), "send");
                let buf = &mut rbuf.text_mut()[..SIZE];
                let r = match mode {
                    0 => store.receive(id, buf, 0, 0),
                    1 => store.receive_with(id, buf, 0, 0, Some(black_box(fixed))),
                    _ => store.receive_with(id, buf, 0, 0, Some(msgq_user::deadline_in(FAR))),
                };
                let (t, n) = ok(r.map_err(|e| e.0), "receive");
                rbuf.set_mtype(t);
                last = Some(n);
            })
        });
        check(
            &format!("9-timed-receive/{imp}/{param}"),
            last,
            &rbuf,
            &sbuf,
            SIZE,
        );
    }
    ok(Msgq(store).remove(id), "IPC_RMID");
    g.finish();
}

/// Row 9's ratios measured paired, outside criterion: `ROUNDS` rounds, each timing `BLOCK`
/// pairs of each of three receives back to back on one queue, in an order that rotates
/// between rounds: `receive` (untimed), `receive_with(.., None)` (the extended call, no
/// deadline) and `receive_with(.., Some(deadline))` (timed, deadline made once). Criterion
/// runs its benchmarks seconds apart, so on a shared machine a change of load between two
/// of them shows as a difference; here the three blocks of a round see the same load, and
/// the medians of the rounds' ratios are steady to about 1 % (an A/A check, the untimed
/// receive against itself, gave 1.000 and 1.003). Returns `key value` lines.
fn timed_receive_paired(store: &'static Store) -> String {
    const ROUNDS: usize = 2001;
    const BLOCK: u32 = 2_000;
    let id = ok(Msgq(store).create(), "msgget");
    let text = [7u8; 8];
    let mut buf = [0u8; 8];
    let deadline = Some(msgq_user::deadline_in(Duration::from_secs(3600)));
    let mut run = |variant: usize| {
        let start = Instant::now();
        for _ in 0..BLOCK {
            ok(store.send(id, 1, &text, 0).map_err(|e| e.0), "send");
            let r = match variant {
                0 => store.receive(id, &mut buf, 0, 0),
                1 => store.receive_with(id, &mut buf, 0, 0, black_box(None)),
                _ => store.receive_with(id, &mut buf, 0, 0, black_box(deadline)),
            };
            ok(r.map_err(|e| e.0), "receive");
        }
        start.elapsed().as_nanos() as f64 / f64::from(BLOCK)
    };
    for v in 0..3 {
        run(v);
    }
    let mut ns: [Vec<f64>; 3] = Default::default();
    let (mut timed, mut ext_only, mut deadline_only) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let mut t = [0.0; 3];
        for k in 0..3 {
            let v = (round + k) % 3;
            t[v] = run(v);
        }
        for v in 0..3 {
            ns[v].push(t[v]);
        }
        timed.push(t[2] / t[0]);
        ext_only.push(t[1] / t[0]);
        deadline_only.push(t[2] / t[1]);
    }
    assert_eq!(buf, text, "row 9 (paired): the last receive got other text");
    ok(Msgq(store).remove(id), "IPC_RMID");
    let q = |v: &mut Vec<f64>, at: usize| {
        v.sort_by(f64::total_cmp);
        v[at]
    };
    let (mid, p10, p90) = (ROUNDS / 2, ROUNDS / 10, ROUNDS - 1 - ROUNDS / 10);
    format!(
        "row9.paired_rounds {ROUNDS}\nrow9.paired_block {BLOCK}\n\
         row9.paired_ratio {:.3}\nrow9.paired_ratio_p10 {:.3}\nrow9.paired_ratio_p90 {:.3}\n\
         row9.paired_ext_none_ratio {:.3}\nrow9.paired_deadline_ratio {:.3}\n\
         row9.paired_untimed_ns {:.1}\nrow9.paired_ext_none_ns {:.1}\nrow9.paired_timed_ns {:.1}\n",
        q(&mut timed, mid),
        q(&mut timed, p10),
        q(&mut timed, p90),
        q(&mut ext_only, mid),
        q(&mut deadline_only, mid),
        q(&mut ns[0], mid),
        q(&mut ns[1], mid),
        q(&mut ns[2], mid),
    )
}

/// Store memory: st_blocks of a fresh store file, after K queues, and after queuing B bytes.
/// Written as `key value` lines for the report generator.
fn store_memory() -> String {
    const K: u64 = 1000;
    const FILL_QUEUES: u64 = 256;
    const MSG: usize = 1024;
    const PER_QUEUE: u64 = 16; // 16 x 1 KiB = the default qbytes
    const SMALL: u64 = 1000; // 8-byte messages per queue in the second fill
    let bs = BenchStore::create("mem");
    let ipc = Msgq(bs.store);
    let empty = bs.used_bytes();
    let ids: Vec<i32> = (0..K).map(|_| ok(ipc.create(), "msgget")).collect();
    let with_queues = bs.used_bytes();
    let buf = MsgBuf::new(MSG);
    for &id in &ids[..FILL_QUEUES as usize] {
        for _ in 0..PER_QUEUE {
            ok(ipc.send(id, &buf, MSG, IPC_NOWAIT), "msgsnd (fill)");
        }
    }
    let filled = bs.used_bytes();
    let big_bytes = FILL_QUEUES * PER_QUEUE * MSG as u64;
    let small = MsgBuf::new(8);
    for &id in &ids[FILL_QUEUES as usize..2 * FILL_QUEUES as usize] {
        for _ in 0..SMALL {
            ok(ipc.send(id, &small, 8, IPC_NOWAIT), "msgsnd (small)");
        }
    }
    let filled_small = bs.used_bytes();
    let small_msgs = FILL_QUEUES * SMALL;
    for &id in &ids {
        ok(ipc.remove(id), "IPC_RMID");
    }
    let after_remove = bs.used_bytes();
    let mut out = String::new();
    let mut kv = |k: &str, v: String| out.push_str(&format!("{k} {v}\n"));
    kv("mem.store_empty_bytes", empty.to_string());
    kv("mem.queues", K.to_string());
    kv(
        "mem.bytes_per_queue",
        format!("{:.1}", (with_queues - empty) as f64 / K as f64),
    );
    kv("mem.queued_bytes_1k", big_bytes.to_string());
    kv(
        "mem.bytes_per_queued_byte_1k",
        format!("{:.3}", (filled - with_queues) as f64 / big_bytes as f64),
    );
    kv("mem.small_messages", small_msgs.to_string());
    kv(
        "mem.bytes_per_8b_message",
        format!("{:.1}", (filled_small - filled) as f64 / small_msgs as f64),
    );
    kv("mem.store_after_remove_bytes", after_remove.to_string());
    kv("mem.store_peak_bytes", filled_small.to_string());
    out
}

/// The first three fields of /proc/loadavg (the machine is shared; the report shows them).
fn loadavg() -> String {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn main() {
    let ns = private_ipc_namespace();
    if !ns {
        eprintln!("note: unshare(CLONE_NEWIPC) refused; using private queues in this namespace");
    }
    remove_stale_stores();
    let bs = BenchStore::create("main");
    let smoke = std::env::args().any(|a| a == "--test");
    // `make bench` takes about 5 minutes, a smoke run seconds: far more means a wedge.
    if smoke {
        MIN_BATCH.store(1, Ordering::Relaxed);
    }
    // MSGQ_BENCH_WATCHDOG_SECS overrides the limit (0 turns the watchdog off).
    let secs = std::env::var("MSGQ_BENCH_WATCHDOG_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 300 } else { 3600 });
    if secs > 0 {
        let files = ["main", "mem"].map(BenchStore::path_for).to_vec();
        watchdog(Duration::from_secs(secs), files);
    }
    let (msgq, raw) = (Msgq(bs.store), MsgqRaw(bs.store));
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(800))
        .measurement_time(Duration::from_secs(3))
        .nresamples(10_000)
        .configure_from_args();

    // `--test` (make bench-smoke) runs everything once; keep the last real run's figures.
    let mut extra = store_memory();
    extra.push_str(&format!("ipc_namespace private={ns}\n"));
    extra.push_str(&format!("loadavg.start {}\n", loadavg()));
    let save = |extra: &str| {
        if smoke {
            return;
        }
        if let Err(e) = std::fs::create_dir_all(extra_results_path().parent().unwrap())
            .and_then(|()| std::fs::write(extra_results_path(), extra))
        {
            eprintln!("cannot write {}: {e}", extra_results_path().display());
        }
    };
    save(&extra);

    create_remove(&mut c, Native);
    create_remove(&mut c, msgq);
    create_remove(&mut c, raw);
    pair(&mut c, Native);
    pair(&mut c, msgq);
    pair(&mut c, raw);
    stream(&mut c, Native);
    stream(&mut c, msgq);
    stream(&mut c, raw);
    ping_pong(&mut c, Native);
    ping_pong(&mut c, msgq);
    ping_pong(&mut c, raw);
    typed(&mut c, Native, &TYPED_MODES);
    typed(&mut c, msgq, &TYPED_MODES);
    blocked_receivers(&mut c, Native);
    blocked_receivers(&mut c, msgq);
    many(&mut c, Native);
    many(&mut c, msgq);
    independent(&mut c, Native);
    independent(&mut c, msgq);
    timed_receive(&mut c, bs.store);
    // Criterion's filter (the first argument that is not an option), if any.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if !smoke && filter.is_none_or(|f| "9-timed-receive".contains(f.as_str())) {
        extra.push_str(&timed_receive_paired(bs.store));
    }

    c.final_summary();
    drop(bs);
    extra.push_str(&format!("loadavg.end {}\n", loadavg()));
    save(&extra);
    // Rows 1, 4, 5 and 9 check the message each benchmark received last.
    let (passed, failed) = rows::verdict();
    println!("ipc: {passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
