//! The client against a real three-master cluster (one cluster, several steps in order: a
//! cluster takes a few seconds to form).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use msgq_valkey::testing::Cluster;
use msgq_valkey::{key_slot, Client, Endpoint, Error, Options, Value};

const LIB: &str = "#!lua name=t\n\
    server.register_function('t_set', function(keys, args) return server.call('SET', keys[1], args[1]) end)\n";

fn slot_owner(cluster: &Cluster, slot: u16) -> Endpoint {
    let v = cluster.nodes[0].call(&[b"CLUSTER", b"SLOTS"]).unwrap();
    for r in v.as_array().unwrap() {
        let r = r.as_array().unwrap();
        let (lo, hi) = (r[0].as_int().unwrap(), r[1].as_int().unwrap());
        if (lo..=hi).contains(&(slot as i64)) {
            let m = r[2].as_array().unwrap();
            return Endpoint::new(
                String::from_utf8_lossy(m[0].as_bytes().unwrap()).into_owned(),
                m[1].as_int().unwrap() as u16,
            );
        }
    }
    panic!("slot {slot} unassigned");
}

#[test]
fn cluster() {
    let t0 = Instant::now();
    let mut cluster = Cluster::start(3).expect("cluster");
    eprintln!("cluster up in {:?}", t0.elapsed());
    routes_by_key_from_one_seed(&cluster);
    follows_moved_with_a_stale_map(&cluster);
    fcall_loads_the_library_on_each_master(&cluster);
    blocking_call_on_the_owner(&cluster);
    several_seeds_the_first_one_down(&cluster);
    follows_ask_during_a_migration(&cluster);
    survives_a_node_restart(&mut cluster);
}

fn routes_by_key_from_one_seed(cluster: &Cluster) {
    // Only the third node as a seed: the others are learned from CLUSTER SLOTS.
    let mut c = Client::connect(&cluster.nodes[2].url()).unwrap();
    assert!(c.is_cluster());
    assert_eq!(c.nodes().len(), 3);
    let mut per_node: HashMap<Endpoint, usize> = HashMap::new();
    for i in 0..300 {
        let key = format!("key:{i}");
        let owner = c.node_for_key(key.as_bytes()).unwrap();
        assert_eq!(
            owner,
            slot_owner(cluster, key_slot(key.as_bytes())),
            "{key}"
        );
        *per_node.entry(owner).or_default() += 1;
        let val = format!("v{i}");
        c.call_key(key.as_bytes(), &[b"SET", key.as_bytes(), val.as_bytes()])
            .unwrap();
    }
    assert_eq!(per_node.len(), 3, "keys on every master: {per_node:?}");
    // Each key is on its owner (no redirection needed: the owner answers directly).
    for n in &cluster.nodes {
        let count = c
            .call_on(&n.endpoint(), &[b"DBSIZE"])
            .unwrap()
            .as_int()
            .unwrap() as usize;
        assert_eq!(
            Some(&count),
            per_node.get(&n.endpoint()),
            "{}",
            n.endpoint()
        );
    }
    let sizes = c.call_all(&[b"DBSIZE"]).unwrap();
    assert_eq!(sizes.len(), 3);
    assert_eq!(sizes.iter().map(|v| v.as_int().unwrap()).sum::<i64>(), 300);
    let mut c2 = Client::connect(&cluster.nodes[0].url()).unwrap();
    for i in 0..300 {
        let key = format!("key:{i}");
        let v = c2
            .call_key(key.as_bytes(), &[b"GET", key.as_bytes()])
            .unwrap();
        assert_eq!(v, Value::Bulk(format!("v{i}").into_bytes()));
    }
    // The same hash tag, the same node.
    assert_eq!(
        c.node_for_key(b"{msgq:NS:17}:q"),
        c.node_for_key(b"{msgq:NS:17}:meta")
    );
}

fn follows_moved_with_a_stale_map(cluster: &Cluster) {
    let mut c = Client::connect(&cluster.url()).unwrap();
    // Every slot wrongly mapped to node 0: keys of the other masters come back MOVED.
    for to in 0..3 {
        c.corrupt_slot_map_for_tests(to);
        for i in 0..30 {
            let key = format!("moved:{to}:{i}");
            c.call_key(key.as_bytes(), &[b"SET", key.as_bytes(), b"1"])
                .unwrap();
            c.corrupt_slot_map_for_tests(to);
        }
    }
    for i in 0..30 {
        let key = format!("moved:1:{i}");
        let owner = slot_owner(cluster, key_slot(key.as_bytes()));
        let n = cluster
            .nodes
            .iter()
            .find(|n| n.endpoint() == owner)
            .unwrap();
        assert_eq!(
            n.call(&[b"GET", key.as_bytes()]).unwrap(),
            Value::Bulk(b"1".to_vec())
        );
    }
    // The map is right again after the redirections.
    c.call_key(b"x", &[b"GET", b"x"]).unwrap();
    assert_eq!(c.node_for_key(b"foo"), Some(slot_owner(cluster, 12182)));
    // With no retries allowed, the MOVED error itself comes back.
    let mut strict = Client::with_options(
        &[cluster.nodes[0].endpoint()],
        Options {
            max_attempts: 1,
            ..Options::default()
        },
    )
    .unwrap();
    let wrong = (0..3)
        .find(|&i| strict.nodes()[i] != slot_owner(cluster, key_slot(b"foo")))
        .unwrap();
    strict.corrupt_slot_map_for_tests(wrong);
    let e = strict.call_key(b"foo", &[b"GET", b"foo"]).unwrap_err();
    assert_eq!(e.server_code(), Some("MOVED"), "{e}");
}

fn fcall_loads_the_library_on_each_master(cluster: &Cluster) {
    let opts = Options {
        library: Some(LIB.as_bytes().to_vec()),
        ..Options::default()
    };
    let mut c = Client::with_options(&[cluster.nodes[1].endpoint()], opts).unwrap();
    let has_lib = |n: usize| {
        let v = cluster.nodes[n].call(&[b"FUNCTION", b"LIST"]).unwrap();
        !v.as_array().unwrap().is_empty()
    };
    for n in 0..3 {
        assert!(!has_lib(n), "library on node {n} before any FCALL");
    }
    // A key of the first node's: only that node gets the library.
    let first = cluster.nodes[0].endpoint();
    let key = (0..)
        .map(|i| format!("{{f{i}}}"))
        .find(|k| c.node_for_key(k.as_bytes()) == Some(first.clone()))
        .unwrap();
    assert_eq!(
        c.fcall(b"t_set", &[key.as_bytes()], &[b"v"]).unwrap(),
        Value::Simple(b"OK".to_vec())
    );
    assert!(has_lib(0));
    assert!(!has_lib(1) && !has_lib(2), "loaded on nodes not called");
    for i in 0..60 {
        let key = format!("fn:{i}");
        c.fcall(b"t_set", &[key.as_bytes()], &[b"v"]).unwrap();
    }
    for n in 0..3 {
        assert!(has_lib(n), "library missing on node {n}");
    }
}

fn blocking_call_on_the_owner(cluster: &Cluster) {
    let mut c = Client::connect(&cluster.url()).unwrap();
    for i in 0..6 {
        let key = format!("{{bq{i}}}:list");
        c.call_key(key.as_bytes(), &[b"RPUSH", key.as_bytes(), b"m"])
            .unwrap();
        let v = c
            .call_key_blocking(key.as_bytes(), &[b"BLPOP", key.as_bytes(), b"1"], None)
            .unwrap();
        assert_eq!(v.as_array().unwrap()[1], Value::Bulk(b"m".to_vec()));
        let e = c.call_key_blocking(
            key.as_bytes(),
            &[b"BLPOP", key.as_bytes(), b"0"],
            Some(Instant::now() + Duration::from_millis(100)),
        );
        assert!(matches!(e, Err(Error::TimedOut)), "{e:?}");
    }
}

fn several_seeds_the_first_one_down(cluster: &Cluster) {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!(
        "valkey://127.0.0.1:{dead},127.0.0.1:{}",
        cluster.nodes[1].port()
    );
    let mut c = Client::connect(&url).unwrap();
    assert!(c.is_cluster());
    c.call_key(b"seeded", &[b"SET", b"seeded", b"1"]).unwrap();
}

fn node_id(cluster: &Cluster, n: usize) -> Vec<u8> {
    cluster.nodes[n]
        .call(&[b"CLUSTER", b"MYID"])
        .unwrap()
        .as_bytes()
        .unwrap()
        .to_vec()
}

fn follows_ask_during_a_migration(cluster: &Cluster) {
    let mut c = Client::connect(&cluster.url()).unwrap();
    let key: &[u8] = b"askme";
    let slot = key_slot(key);
    let src = cluster
        .nodes
        .iter()
        .position(|n| n.endpoint() == slot_owner(cluster, slot))
        .unwrap();
    let dst = (src + 1) % 3;
    let s = slot.to_string();
    let (src_id, dst_id) = (node_id(cluster, src), node_id(cluster, dst));
    cluster.nodes[dst]
        .call(&[b"CLUSTER", b"SETSLOT", s.as_bytes(), b"IMPORTING", &src_id])
        .unwrap();
    cluster.nodes[src]
        .call(&[b"CLUSTER", b"SETSLOT", s.as_bytes(), b"MIGRATING", &dst_id])
        .unwrap();
    // The key is not on the source: ASK to the destination, where it is written.
    assert_eq!(
        c.call_key(key, &[b"SET", key, b"asked"]).unwrap(),
        Value::Simple(b"OK".to_vec())
    );
    let count = [&b"CLUSTER"[..], b"COUNTKEYSINSLOT", s.as_bytes()];
    assert_eq!(cluster.nodes[src].call(&count).unwrap(), Value::Int(0));
    assert_eq!(cluster.nodes[dst].call(&count).unwrap(), Value::Int(1));
    let mut d = cluster.nodes[dst].conn().unwrap();
    let v = d.pipeline(&[&[b"ASKING"], &[b"GET", key]]).unwrap();
    assert_eq!(v[1], Value::Bulk(b"asked".to_vec()));
    // ASK does not change the map; reading goes through ASK again.
    assert_eq!(c.node_for_key(key), Some(cluster.nodes[src].endpoint()));
    assert_eq!(
        c.call_key(key, &[b"GET", key]).unwrap(),
        Value::Bulk(b"asked".to_vec())
    );
    // Finish the migration: the slot belongs to the destination everywhere; MOVED then.
    for n in &cluster.nodes {
        n.call(&[b"CLUSTER", b"SETSLOT", s.as_bytes(), b"NODE", &dst_id])
            .unwrap();
    }
    assert_eq!(
        c.call_key(key, &[b"GET", key]).unwrap(),
        Value::Bulk(b"asked".to_vec())
    );
    assert_eq!(c.node_for_key(key), Some(cluster.nodes[dst].endpoint()));
}

fn survives_a_node_restart(cluster: &mut Cluster) {
    let opts = Options {
        library: Some(LIB.as_bytes().to_vec()),
        ..Options::default()
    };
    let mut c = Client::with_options(&[cluster.nodes[0].endpoint()], opts).unwrap();
    let owner0 = |c: &Client, i: u32| {
        let k = format!("r{i}");
        (c.node_for_key(k.as_bytes()) == Some(cluster.nodes[0].endpoint())).then_some(k)
    };
    let key = (0..).find_map(|i| owner0(&c, i)).unwrap();
    c.fcall(b"t_set", &[key.as_bytes()], &[b"before"]).unwrap();
    let t = Instant::now();
    cluster.restart_node(0).unwrap();
    eprintln!("node restarted, cluster ok in {:?}", t.elapsed());
    // No persistence: the key and the library are gone; the client reconnects (its idle
    // connection was closed) and loads the library again.
    assert_eq!(
        c.call_key(key.as_bytes(), &[b"GET", key.as_bytes()])
            .unwrap(),
        Value::Nil
    );
    c.fcall(b"t_set", &[key.as_bytes()], &[b"after"]).unwrap();
    assert_eq!(
        c.call_key(key.as_bytes(), &[b"GET", key.as_bytes()])
            .unwrap(),
        Value::Bulk(b"after".to_vec())
    );
}
