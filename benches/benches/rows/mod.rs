//! The rows that both benchmark programs run: row 1 (send + receive pair), row 4 (typed
//! receive behind N others) and row 5 (send with R receivers blocked on other types). `ipc`
//! runs them on the host for native queues and msgq, `guest` in the test VM for the guest
//! kernel's native queues and the kernel module (row 7 of the report).
//!
//! Each benchmark keeps what its last receive returned and, after criterion is done with it,
//! checks that it got the expected message back (type, length and text): [`verdict`] counts
//! the benchmarks that ran and passed that check, so a smoke run (`--test`) is a test that
//! can fail. The check is outside the timed loop; the loop only stores the last result.

use criterion::{BenchmarkId, Criterion};
use msgq_benches::{Ipc, MsgBuf};
use msgq_core::abi::{IPC_NOWAIT, MSG_EXCEPT};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub const SIZES: [(usize, &str); 3] = [(8, "8B"), (1024, "1KiB"), (8192, "8KiB")];

pub fn ok<T>(r: Result<T, i32>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {}", std::io::Error::from_raw_os_error(e)))
}

/// Benchmarks that ran and got the expected message back, and those that did not.
static PASSED: AtomicUsize = AtomicUsize::new(0);
static FAILED: AtomicUsize = AtomicUsize::new(0);

/// `(passed, failed)`: benchmarks whose last receive was checked and right, and wrong.
/// Benchmarks left out by a filter are in neither.
pub fn verdict() -> (usize, usize) {
    (PASSED.load(Ordering::SeqCst), FAILED.load(Ordering::SeqCst))
}

/// Checks a benchmark's last receive: `got` is its length (None: the benchmark did not run),
/// `rbuf` the buffer it received into, `want` the message it should have got.
pub fn check(id: &str, got: Option<usize>, rbuf: &MsgBuf, want: &MsgBuf, len: usize) {
    let Some(n) = got else { return };
    let text_ok = n == len && rbuf.text()[..len] == want.text()[..len];
    if text_ok && rbuf.mtype() == want.mtype() {
        PASSED.fetch_add(1, Ordering::SeqCst);
    } else {
        FAILED.fetch_add(1, Ordering::SeqCst);
        eprintln!(
            "{id}: last receive got type {} and {n} bytes{}, expected type {} and {len} bytes",
            rbuf.mtype(),
            if n == len && !text_ok {
                " (other text)"
            } else {
                ""
            },
            want.mtype(),
        );
    }
}

/// A receive buffer that matches no message: type 0 and zeroed text.
pub fn blank(cap: usize) -> MsgBuf {
    let mut b = MsgBuf::new(cap);
    b.set_mtype(0);
    b.text_mut().fill(0);
    b
}

/// Row 1: `msgsnd` + `msgrcv` of one message in one process.
pub fn pair<I: Ipc>(c: &mut Criterion, ipc: I) {
    let mut g = c.benchmark_group("1-pair");
    let id = ok(ipc.create(), "msgget");
    for (size, label) in SIZES {
        let sbuf = MsgBuf::new(size);
        let mut rbuf = blank(size);
        let mut last = None;
        g.bench_function(BenchmarkId::new(ipc.name(), label), |b| {
            b.iter(|| {
                ok(ipc.send(id, &sbuf, size, 0), "msgsnd");
                last = Some(ok(ipc.recv(id, &mut rbuf, size, 0, 0), "msgrcv"));
            })
        });
        check(
            &format!("1-pair/{}/{label}", ipc.name()),
            last,
            &rbuf,
            &sbuf,
            size,
        );
    }
    ok(ipc.remove(id), "IPC_RMID");
    g.finish();
}

/// A typed-receive mode of row 4: (group, type of the N others, type of the wanted message,
/// msgtyp, flags, whether the others have N distinct types `other + i`).
pub type TypedMode = (&'static str, i64, i64, i64, i32, bool);

/// The typed-receive modes of row 4. The first three are issue 7's; the distinct-types
/// variant is not one of issue 7's rows: it shows how the engine's per-type index scales with
/// the number of types present.
pub const TYPED_MODES: [TypedMode; 4] = [
    ("4-typed-positive", 2, 1, 1, 0, false),
    ("4-typed-negative", 1000, 7, -10, 0, false),
    ("4-typed-except", 2, 1, 2, MSG_EXCEPT, false),
    ("4-typed-distinct", 1000, 1, 1, 0, true),
];
pub const TYPED_NS: [usize; 3] = [1, 100, 10_000];

/// Row 4: the wanted message sits behind N zero-length messages of another type; one
/// iteration receives it (IPC_NOWAIT) and sends it back to the tail, so the queue is the same
/// before and after. Zero-length fillers keep N = 10 000 within the default 16 384 qbytes
/// (the count is capped by qbytes too: qnum + 1 <= qbytes).
pub fn typed<I: Ipc>(c: &mut Criterion, ipc: I, modes: &[TypedMode]) {
    for &(group, other, wanted, msgtyp, flags, distinct) in modes {
        let mut g = c.benchmark_group(group);
        for n in TYPED_NS {
            let mut want = MsgBuf::new(8);
            want.set_mtype(wanted);
            // Filled on first use, so a filtered-out benchmark costs nothing.
            let mut queue = None;
            let mut fill = || {
                let id = ok(ipc.create(), "msgget");
                let mut filler = MsgBuf::new(8);
                filler.set_mtype(other);
                for i in 0..n {
                    if distinct {
                        filler.set_mtype(other + i as i64);
                    }
                    ok(ipc.send(id, &filler, 0, IPC_NOWAIT), "msgsnd (filler)");
                }
                ok(ipc.send(id, &want, 8, IPC_NOWAIT), "msgsnd (wanted)");
                id
            };
            let mut rbuf = blank(8);
            let mut last = None;
            g.bench_function(BenchmarkId::new(ipc.name(), n), |b| {
                let id = *queue.get_or_insert_with(&mut fill);
                b.iter(|| {
                    last = Some(ok(
                        ipc.recv(id, &mut rbuf, 8, msgtyp, flags | IPC_NOWAIT),
                        "msgrcv (typed)",
                    ));
                    ok(ipc.send(id, &want, 8, IPC_NOWAIT), "msgsnd (back)");
                })
            });
            check(
                &format!("{group}/{}/{n}", ipc.name()),
                last,
                &rbuf,
                &want,
                8,
            );
            if let Some(id) = queue {
                assert_eq!(ok(ipc.counts(id), "IPC_STAT"), (n as u64 + 1, 8));
                ok(ipc.remove(id), "IPC_RMID");
            }
        }
        g.finish();
    }
}

/// Row 5: `msgsnd` + `msgrcv` (type 1, IPC_NOWAIT) in this thread while R threads are
/// blocked in `msgrcv` for types 1000.. that never arrive. The receivers end with EIDRM when
/// the queue is removed.
pub fn blocked_receivers<I: Ipc + Copy + Send + 'static>(c: &mut Criterion, ipc: I) {
    let mut g = c.benchmark_group("5-blocked-receivers");
    for r in [0usize, 100, 1000] {
        // Set up on first use, so a filtered-out benchmark starts no threads.
        let mut setup = None;
        let start_receivers = || {
            let id = ok(ipc.create(), "msgget");
            let started = std::sync::Arc::new(AtomicUsize::new(0));
            let threads: Vec<_> = (0..r)
                .map(|i| {
                    let started = started.clone();
                    std::thread::Builder::new()
                        .stack_size(64 << 10)
                        .spawn(move || {
                            let mut buf = MsgBuf::new(8);
                            started.fetch_add(1, Ordering::SeqCst);
                            ipc.recv(id, &mut buf, 8, 1000 + i as i64, 0)
                        })
                        .expect("spawn receiver thread")
                })
                .collect();
            while started.load(Ordering::SeqCst) < r {
                std::thread::sleep(Duration::from_millis(1));
            }
            // Let the last ones get from the counter into the wait.
            std::thread::sleep(Duration::from_millis(if r > 0 { 100 } else { 0 }));
            (id, threads)
        };
        let sbuf = MsgBuf::new(8);
        let mut rbuf = blank(8);
        let mut last = None;
        g.bench_function(BenchmarkId::new(ipc.name(), r), |b| {
            let id = setup.get_or_insert_with(start_receivers).0;
            b.iter(|| {
                ok(ipc.send(id, &sbuf, 8, 0), "msgsnd");
                last = Some(ok(ipc.recv(id, &mut rbuf, 8, 1, IPC_NOWAIT), "msgrcv"));
            })
        });
        check(
            &format!("5-blocked-receivers/{}/{r}", ipc.name()),
            last,
            &rbuf,
            &sbuf,
            8,
        );
        if let Some((id, threads)) = setup {
            ok(ipc.remove(id), "IPC_RMID");
            for t in threads {
                let res = t.join().expect("receiver thread panicked");
                assert_eq!(res, Err(libc::EIDRM), "a blocked receiver got a message");
            }
        }
    }
    g.finish();
}
