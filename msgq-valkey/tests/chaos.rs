//! Chaos on the Valkey backend: blocked receivers (separate processes) are stopped and
//! SIGKILLed with messages handed to them, the server (persistence on) is restarted under
//! blocked clients, and at the end every message sent was received exactly once, by a
//! receiver that reported it or by the final drain (conservation). docs/cluster.md,
//! "Failure model".

use msgq_core::abi::{IPC_NOWAIT, IPC_PRIVATE};
use msgq_valkey::testing::{Server, ServerOptions};
use msgq_valkey::Valkey;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LEASE_MS: u64 = 500;

/// The part a child plays: receive once (blocking) and print the text, or the error.
#[test]
fn child() {
    let Ok(role) = std::env::var("MSGQ_VALKEY_CHAOS_CHILD") else {
        return;
    };
    let a: Vec<&str> = role.split(' ').collect();
    let v = Valkey::open(a[0], a[1]).unwrap();
    match v.receive(a[2].parse().unwrap(), 64, 0, 0, None) {
        Ok((_, t)) => println!("GOT {}", String::from_utf8_lossy(&t)),
        Err(e) => println!("ERR {}", e.0),
    }
}

fn receiver(url: &str, ns: &str, id: i32) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads", "1"])
        .env("MSGQ_VALKEY_CHAOS_CHILD", format!("{url} {ns} {id}"))
        .env("MSGQ_VALKEY_LEASE_MS", LEASE_MS.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn signal(c: &Child, sig: i32) {
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(c.id() as i32, sig) };
}

/// What a finished child reported it received.
fn report(c: Child) -> Option<String> {
    let out = c.wait_with_output().ok()?;
    BufReader::new(&out.stdout[..])
        .lines()
        .map_while(Result::ok)
        // libtest may print "test child ... " on the same line first.
        .find_map(|l| l.split_once("GOT ").map(|(_, m)| m.to_owned()))
}

fn blocked(srv: &Server, ns: &str, id: i32) -> i64 {
    let key = format!("{{msgq:{ns}:{}}}:rw", id & 0x7fff);
    srv.call(&[b"ZCARD", key.as_bytes()])
        .ok()
        .and_then(|v| v.as_int())
        .unwrap_or(0)
}

#[test]
fn conservation_under_killed_receivers_and_a_restart() {
    let mut srv = Server::start_with(ServerOptions {
        persistent: true,
        ..Default::default()
    })
    .expect("valkey server");
    let url = srv.url();
    let ns = format!("x{}", std::process::id());
    let id = Valkey::open(&url, &ns)
        .unwrap()
        .msgget(IPC_PRIVATE, 0o600)
        .unwrap();
    let mut sent = Vec::new();
    let mut got: BTreeMap<String, usize> = BTreeMap::new();
    for round in 0..4 {
        let v = Valkey::open(&url, &ns).unwrap();
        // The last round's leftovers (queued, or given back when a victim's lease lapsed)
        // are drained first, so that the new receivers block.
        std::thread::sleep(Duration::from_millis(LEASE_MS * 2));
        while let Ok((_, t)) = v.receive(id, 64, 0, IPC_NOWAIT, None) {
            *got.entry(String::from_utf8(t).unwrap()).or_default() += 1;
        }
        let kids: Vec<Child> = (0..4).map(|_| receiver(&url, &ns, id)).collect();
        let t0 = Instant::now();
        while blocked(&srv, &ns, id) < 4 {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "round {round}: {} of 4 receivers blocked",
                blocked(&srv, &ns, id)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Two victims: stopped while blocked, so they never take what they are handed.
        signal(&kids[0], libc::SIGSTOP);
        signal(&kids[1], libc::SIGSTOP);
        // `kill` only queues the signal: wait until the kernel shows them stopped.
        for k in &kids[..2] {
            let t0 = Instant::now();
            while !std::fs::read_to_string(format!("/proc/{}/stat", k.id()))
                .unwrap_or_default()
                .rsplit_once(") ")
                .is_some_and(|(_, r)| r.starts_with('T'))
            {
                assert!(
                    t0.elapsed() < Duration::from_secs(10),
                    "a victim never stopped"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        for k in 0..6 {
            let m = format!("r{round}m{k}");
            v.send(id, 1, m.as_bytes(), 0, None, false).unwrap();
            sent.push(m);
        }
        signal(&kids[0], libc::SIGKILL);
        signal(&kids[1], libc::SIGKILL);
        if round == 2 {
            // Under whatever is in flight: clients lose their connections.
            srv.restart().expect("restart");
        }
        for c in kids {
            if let Some(m) = report(c) {
                *got.entry(m).or_default() += 1;
            }
        }
    }
    // Every lease has lapsed: the next calls give the victims' messages back.
    std::thread::sleep(Duration::from_millis(LEASE_MS * 3));
    let v = Valkey::open(&url, &ns).unwrap();
    while let Ok((_, t)) = v.receive(id, 64, 0, IPC_NOWAIT, None) {
        *got.entry(String::from_utf8(t).unwrap()).or_default() += 1;
    }
    let dup: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dup.is_empty(), "received twice: {dup:?}");
    let lost: Vec<_> = sent.iter().filter(|m| !got.contains_key(*m)).collect();
    assert!(lost.is_empty(), "lost: {lost:?}");
    assert_eq!(
        got.len(),
        sent.len(),
        "received what was never sent: {got:?}"
    );
}
