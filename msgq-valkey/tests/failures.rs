//! The Valkey backend's failure model (docs/cluster.md, "Failure model"), against real
//! servers started here on loopback: a client killed while a message is handed to it loses
//! nothing; a server restart with persistence loses nothing; programs given different seeds
//! of one cluster share queues, spread over its shards.
//!
//! Child processes are this test binary run again with `MSGQ_VALKEY_CHILD` set (the test
//! `child` then plays the part), so no test forks a multi-threaded process.

use msgq_core::abi::{IPC_CREAT, IPC_NOWAIT, IPC_PRIVATE};
use msgq_core::Errno;
use msgq_valkey::testing::{Cluster, Server, ServerOptions};
use msgq_valkey::Valkey;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LEASE_MS: u64 = 600;

/// The part a child plays: `receive URL NS ID` blocks in one receive and prints what it got.
#[test]
fn child() {
    let Ok(role) = std::env::var("MSGQ_VALKEY_CHILD") else {
        return;
    };
    let a: Vec<&str> = role.split(' ').collect();
    if a[0] == "receive" {
        let v = Valkey::open(a[1], a[2]).unwrap();
        let id: i32 = a[3].parse().unwrap();
        let r = v.receive(id, 64, 0, 0, None);
        println!("CHILD {r:?}");
    }
}

fn spawn_receiver(url: &str, ns: &str, id: i32) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads", "1"])
        .env("MSGQ_VALKEY_CHILD", format!("receive {url} {ns} {id}"))
        .env("MSGQ_VALKEY_LEASE_MS", LEASE_MS.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until the kernel shows `c` stopped (`T` in /proc/PID/stat): `kill` only queues
/// the signal, and on a loaded machine the child may run on for a while.
fn until_stopped(c: &Child) {
    let t0 = Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", c.id())).unwrap_or_default();
        let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
        if state == Some('T') {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "child never stopped: {stat}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn kill(c: &mut Child, sig: i32) {
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(c.id() as i32, sig) };
}

/// Waits until `n` receivers are blocked on queue index `idx` of namespace `ns`.
fn until_blocked(srv_call: &dyn Fn(&[&[u8]]) -> i64, ns: &str, idx: i32, n: i64) {
    let key = format!("{{msgq:{ns}:{idx}}}:rw");
    let t0 = Instant::now();
    while srv_call(&[b"ZCARD", key.as_bytes()]) < n {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no receiver blocked"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn zcard(srv: &Server) -> impl Fn(&[&[u8]]) -> i64 + '_ {
    move |args| srv.call(args).ok().and_then(|v| v.as_int()).unwrap_or(0)
}

#[test]
fn a_killed_receiver_gives_its_handed_message_back_in_place() {
    let srv = Server::start().expect("valkey server (tests/valkey/deps.sh)");
    let (url, ns) = (srv.url(), format!("k{}", std::process::id()));
    let v = Valkey::open(&url, &ns).unwrap();
    let id = v.msgget(IPC_PRIVATE, 0o600).unwrap();
    for round in 0..3 {
        let mut c = spawn_receiver(&url, &ns, id);
        until_blocked(&zcard(&srv), &ns, id & 0x7fff, 1);
        // Stopped, the child cannot take what the server hands it: the message moves to
        // its in-flight list (BLMOVE is served by the server) and stays there.
        kill(&mut c, libc::SIGSTOP);
        until_stopped(&c);
        v.send(id, 1, format!("first {round}").as_bytes(), 0, None, false)
            .unwrap();
        v.send(id, 1, format!("second {round}").as_bytes(), 0, None, false)
            .unwrap();
        assert_eq!(v.stat(id).unwrap().msg_qnum, 1, "the first was handed over");
        kill(&mut c, libc::SIGKILL);
        let _ = c.wait();
        std::thread::sleep(Duration::from_millis(LEASE_MS + 300));
        // The lease lapsed: the next call on the queue gives the message back, at its place.
        let r = |v: &Valkey| v.receive(id, 64, 0, IPC_NOWAIT, None).map(|m| m.1);
        assert_eq!(r(&v).unwrap(), format!("first {round}").into_bytes());
        assert_eq!(r(&v).unwrap(), format!("second {round}").into_bytes());
        assert_eq!(r(&v), Err(Errno::ENOMSG));
    }
}

#[test]
fn a_restart_with_persistence_keeps_queues_and_messages() {
    let mut srv = Server::start_with(ServerOptions {
        persistent: true,
        ..Default::default()
    })
    .expect("valkey server");
    let ns = format!("r{}", std::process::id());
    let v = Valkey::open(&srv.url(), &ns).unwrap();
    let id = v.msgget(0x77, IPC_CREAT | 0o600).unwrap();
    for i in 0..20 {
        v.send(id, 1 + i % 3, format!("m{i}").as_bytes(), 0, None, false)
            .unwrap();
    }
    srv.restart().expect("restart");
    let v = Valkey::open(&srv.url(), &ns).unwrap();
    assert_eq!(v.msgget(0x77, 0).unwrap(), id);
    assert_eq!(v.stat(id).unwrap().msg_qnum, 20);
    let mut got = Vec::new();
    while let Ok((_, t)) = v.receive(id, 64, 0, IPC_NOWAIT, None) {
        got.push(String::from_utf8(t).unwrap());
    }
    let want: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    assert_eq!(got, want);
}

#[test]
fn clients_with_different_seeds_share_queues_across_shards() {
    let cl = Cluster::start(3).expect("valkey cluster");
    let url = cl.url();
    let seeds: Vec<&str> = url
        .trim_start_matches("valkey://")
        .trim_start_matches("redis://")
        .split(',')
        .collect();
    assert!(seeds.len() >= 3, "{url}");
    let ns = format!("c{}", std::process::id());
    let a = Valkey::open(&format!("valkey://{}", seeds[0]), &ns).unwrap();
    let b = Valkey::open(&format!("valkey://{}", seeds[2]), &ns).unwrap();
    let mut nodes = std::collections::HashSet::new();
    let client = msgq_valkey::Client::connect(&url).unwrap();
    for k in 0..24 {
        let id = a.msgget(1000 + k, IPC_CREAT | 0o600).unwrap();
        assert_eq!(b.msgget(1000 + k, 0).unwrap(), id);
        a.send(id, 5, format!("to b {k}").as_bytes(), 0, None, false)
            .unwrap();
        assert_eq!(
            b.receive(id, 64, 5, IPC_NOWAIT, None).unwrap().1,
            format!("to b {k}").into_bytes()
        );
        let key = format!("{{msgq:{ns}:{}}}:q", id & 0x7fff);
        nodes.insert(client.node_for_key(key.as_bytes()));
    }
    assert!(nodes.len() >= 2, "24 queues all on one shard: {nodes:?}");
    // A receiver blocked through one seed is handed a message sent through another.
    let id = a.msgget(2000, IPC_CREAT | 0o600).unwrap();
    let u = format!("valkey://{}", seeds[1]);
    let n2 = ns.clone();
    let t = std::thread::spawn(move || Valkey::open(&u, &n2).unwrap().receive(id, 64, 0, 0, None));
    std::thread::sleep(Duration::from_millis(300));
    b.send(id, 3, b"across", 0, None, false).unwrap();
    assert_eq!(t.join().unwrap().unwrap(), (3, b"across".to_vec()));
}

#[test]
fn a_forked_child_makes_its_own_connections() {
    let srv = Server::start().expect("valkey server");
    let ns = format!("f{}", std::process::id());
    let v = Valkey::open(&srv.url(), &ns).unwrap();
    let id = v.msgget(IPC_PRIVATE, 0o600).unwrap();
    v.send(id, 1, b"before", 0, None, false).unwrap();
    // SAFETY: the child only uses `v` (its own connections after the fork) and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let ok = v.send(id, 2, b"from the child", 0, None, false).is_ok()
            && v.receive(id, 64, 1, IPC_NOWAIT, None).map(|m| m.1) == Ok(b"before".to_vec());
        // SAFETY: leaving the child without running the parent's test harness.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed"
    );
    // The parent's connections still work.
    assert_eq!(
        v.receive(id, 64, 0, IPC_NOWAIT, None).unwrap(),
        (2, b"from the child".to_vec())
    );
}

#[test]
fn sends_can_wait_for_replicas() {
    let master = Server::start().expect("valkey server");
    let port = master.port().to_string();
    let mut replica = Server::start_with(ServerOptions {
        extra: vec!["--replicaof".into(), "127.0.0.1".into(), port],
        ..Default::default()
    })
    .expect("replica");
    let t0 = Instant::now();
    loop {
        let info = replica.call(&[b"INFO", b"replication"]).unwrap();
        let text = String::from_utf8_lossy(info.as_bytes().unwrap_or_default()).into_owned();
        if text.contains("master_link_status:up") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the replica never synced"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let ns = format!("w{}", std::process::id());
    let v = Valkey::open(&master.url(), &ns)
        .unwrap()
        .with_replicas(1, Duration::from_millis(3000));
    let id = v.msgget(IPC_PRIVATE, 0o600).unwrap();
    v.send(id, 1, b"replicated", 0, None, false).unwrap();
    // The replica has it: read it there.
    let key = format!("{{msgq:{ns}:{}}}:q", id & 0x7fff);
    let q = replica.call(&[b"HGET", key.as_bytes(), b"qnum"]).unwrap();
    assert_eq!(q.as_bytes(), Some(&b"1"[..]));
    // Without the replica, a send is queued but not confirmed: EIO within the bound.
    replica.stop();
    let v = v.with_replicas(1, Duration::from_millis(300));
    let t0 = Instant::now();
    assert_eq!(v.send(id, 1, b"alone", 0, None, false), Err(Errno::EIO));
    assert!(t0.elapsed() < Duration::from_secs(3));
    assert_eq!(v.stat(id).unwrap().msg_qnum, 2);
    // Asking for more replicas than there are fails the same way; 0 turns it off.
    let v = v.with_replicas(0, Duration::ZERO);
    v.send(id, 1, b"unconfirmed is fine", 0, None, false)
        .unwrap();
}
