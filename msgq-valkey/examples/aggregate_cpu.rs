//! Where the aggregate row's CPU goes (docs/cluster.md, "Performance"): six threads doing
//! 8-byte pairs on one node, then on a three-master cluster, printing pairs/s and each
//! server's CPU use over the run (`INFO cpu`). Run with
//! `cargo run --release --example aggregate_cpu -p msgq-valkey`.

use msgq_core::abi::IPC_PRIVATE;
use msgq_valkey::testing::{Cluster, Server};
use msgq_valkey::{Conn, ConnConfig, Endpoint, Valkey};
use std::time::Instant;

/// The CPU seconds a server has used (user + system).
fn cpu(ep: &Endpoint) -> f64 {
    let mut c = Conn::connect(ep, &ConnConfig::default()).expect("connect");
    let v = c.call(&[b"INFO", b"cpu"]).expect("INFO");
    let t = String::from_utf8_lossy(v.as_bytes().unwrap_or_default()).into_owned();
    t.lines()
        .filter(|l| l.starts_with("used_cpu_sys:") || l.starts_with("used_cpu_user:"))
        .filter_map(|l| l.split(':').nth(1)?.trim().parse::<f64>().ok())
        .sum()
}

/// Pairs per second of six threads, a client and a queue each; and the run's wall time.
fn run(url: &str, ns: &str) -> (f64, f64) {
    let clients: Vec<(Valkey, i32)> = (0..6)
        .map(|_| {
            let v = Valkey::open(url, ns).expect("open");
            let id = v.msgget(IPC_PRIVATE, 0o600).expect("msgget");
            (v, id)
        })
        .collect();
    let per = 1500;
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for (v, id) in &clients {
            s.spawn(move || {
                for _ in 0..per {
                    v.send(*id, 1, b"12345678", 0, None, false).expect("send");
                    v.receive(*id, 8, 0, 0, None).expect("receive");
                }
            });
        }
    });
    let wall = t0.elapsed().as_secs_f64();
    ((6 * per) as f64 / wall, wall)
}

fn measure(url: &str, ns: &str, servers: &[Endpoint]) -> String {
    let before: Vec<f64> = servers.iter().map(cpu).collect();
    let (rate, wall) = run(url, ns);
    let used: Vec<String> = servers
        .iter()
        .zip(&before)
        .map(|(e, b)| format!("{:.0}%", 100.0 * (cpu(e) - b) / wall))
        .collect();
    format!("{rate:.0} pairs/s; servers' CPU: {}", used.join(", "))
}

fn main() {
    let one = Server::start().expect("server");
    println!(
        "one node: {}",
        measure(&one.url(), "cpu1", &[one.endpoint()])
    );
    let cl = Cluster::start(3).expect("cluster");
    let url = cl.url();
    let eps: Vec<Endpoint> = url
        .trim_start_matches("valkey://")
        .split(',')
        .filter_map(|hp| {
            let (h, p) = hp.rsplit_once(':')?;
            Some(Endpoint::new(h, p.parse().ok()?))
        })
        .collect();
    println!("three masters: {}", measure(&url, "cpu3", &eps));
}
