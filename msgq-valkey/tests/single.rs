//! The client against one real server (cluster support disabled), and against fake servers
//! that refuse, never answer or hang up.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use msgq_valkey::testing::{Server, ServerOptions};
use msgq_valkey::{Client, Conn, ConnConfig, Endpoint, Error, Options, Value};

const LIB: &str = "#!lua name=t\n\
    server.register_function('t_echo', function(keys, args) return args[1] end)\n\
    server.register_function('t_err', function(keys, args) return server.error_reply('ENOMSG no message') end)\n\
    server.register_function('t_set', function(keys, args) return server.call('SET', keys[1], args[1]) end)\n";

fn client(s: &Server) -> Client {
    Client::connect(&s.url()).expect("connect")
}

fn bulk(v: &[u8]) -> Value {
    Value::Bulk(v.to_vec())
}

#[test]
fn binary_values_round_trip() {
    let s = Server::start().unwrap();
    let mut c = client(&s);
    assert!(!c.is_cluster());
    let all: Vec<u8> = (0..=255u8).collect();
    let key: &[u8] = b"k\r\n\0{x}\xff";
    assert_eq!(
        c.call_key(key, &[b"SET", key, &all]).unwrap(),
        Value::Simple(b"OK".to_vec())
    );
    assert_eq!(c.call_key(key, &[b"GET", key]).unwrap(), bulk(&all));
    assert_eq!(
        c.call_key(b"e", &[b"SET", b"e", b""]).unwrap(),
        Value::Simple(b"OK".to_vec())
    );
    assert_eq!(c.call_key(b"e", &[b"GET", b"e"]).unwrap(), bulk(b""));
    assert_eq!(c.call_key(b"none", &[b"GET", b"none"]).unwrap(), Value::Nil);
    // A value larger than the read buffer, received in many pieces.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    c.call_key(b"big", &[b"SET", b"big", &big]).unwrap();
    assert_eq!(c.call_key(b"big", &[b"GET", b"big"]).unwrap(), bulk(&big));
    // Arrays, integers.
    c.call_key(b"l", &[b"RPUSH", b"l", b"a", b"", b"c"])
        .unwrap();
    assert_eq!(
        c.call_key(b"l", &[b"LRANGE", b"l", b"0", b"-1"]).unwrap(),
        Value::Array(vec![bulk(b"a"), bulk(b""), bulk(b"c")])
    );
    assert_eq!(c.call_key(b"l", &[b"LLEN", b"l"]).unwrap(), Value::Int(3));
}

#[test]
fn a_thousand_calls_sequential_and_pipelined() {
    let s = Server::start().unwrap();
    let mut c = client(&s);
    for i in 1..=1000i64 {
        assert_eq!(c.call_key(b"n", &[b"INCR", b"n"]).unwrap(), Value::Int(i));
    }
    let mut conn = s.conn().unwrap();
    let cmds: Vec<[&[u8]; 2]> = (0..1000).map(|_| [&b"INCR"[..], &b"n"[..]]).collect();
    let refs: Vec<&[&[u8]]> = cmds.iter().map(|c| &c[..]).collect();
    let vals = conn.pipeline(&refs).unwrap();
    assert_eq!(vals.len(), 1000);
    assert_eq!(vals[999], Value::Int(2000));
}

#[test]
fn error_replies_are_errors_and_the_connection_survives() {
    let s = Server::start().unwrap();
    let mut c = client(&s);
    let e = c.call_any(&[b"NOSUCHCMD", b"x"]).unwrap_err();
    match &e {
        Error::Server(m) => assert!(m.starts_with(b"ERR unknown command"), "{e}"),
        _ => panic!("{e:?}"),
    }
    assert_eq!(e.errno(), libc::EIO);
    c.call_key(b"s", &[b"SET", b"s", b"v"]).unwrap();
    let e = c.call_key(b"s", &[b"LPUSH", b"s", b"x"]).unwrap_err();
    assert_eq!(e.server_code(), Some("WRONGTYPE"));
    assert_eq!(c.call_key(b"s", &[b"GET", b"s"]).unwrap(), bulk(b"v"));
}

#[test]
fn unreachable_server_is_econnrefused_quickly() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let t = Instant::now();
    let e = Client::connect(&format!("valkey://127.0.0.1:{port}"))
        .err()
        .expect("no server");
    assert_eq!(e.errno(), libc::ECONNREFUSED, "{e}");
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn silent_server_times_out_within_the_bound() {
    // Accepts (the kernel completes the handshake) and never answers.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = Endpoint::new("127.0.0.1", l.local_addr().unwrap().port());
    let cfg = ConnConfig {
        connect_timeout: Duration::from_millis(400),
        io_timeout: Duration::from_millis(400),
        ..ConnConfig::default()
    };
    // In a thread, so that a wait without bound fails the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    let cfg2 = cfg.clone();
    let ep2 = ep.clone();
    std::thread::spawn(move || {
        let t = Instant::now();
        let mut conn = Conn::connect(&ep2, &cfg2).unwrap();
        let e = conn.call(&[b"PING"]).unwrap_err();
        let _ = tx.send((e, t.elapsed(), conn.is_usable()));
    });
    let (e, took, usable) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("call without bound");
    assert_eq!(e.errno(), libc::ETIMEDOUT, "{e}");
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert!(!usable);
    // The client (which asks CLUSTER SLOTS first) too.
    let t = Instant::now();
    let e = Client::with_options(
        &[ep],
        Options {
            conn: cfg,
            ..Options::default()
        },
    )
    .err()
    .unwrap();
    assert_eq!(e.errno(), libc::ETIMEDOUT, "{e}");
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn idle_connection_to_a_restarted_server_is_replaced() {
    let mut s = Server::start().unwrap();
    let mut c = client(&s);
    c.call_key(b"a", &[b"SET", b"a", b"1"]).unwrap();
    s.restart().unwrap();
    // The old socket got EOF: the client sees it before sending and reconnects.
    assert_eq!(
        c.call_key(b"a", &[b"SET", b"a", b"2"]).unwrap(),
        Value::Simple(b"OK".to_vec())
    );
}

#[test]
fn persistent_server_keeps_data_across_a_crash() {
    let mut s = Server::start_with(ServerOptions {
        persistent: true,
        ..ServerOptions::default()
    })
    .unwrap();
    let mut c = client(&s);
    c.call_key(b"p", &[b"RPUSH", b"p", b"1", b"2"]).unwrap();
    s.restart().unwrap();
    assert_eq!(c.call_key(b"p", &[b"LLEN", b"p"]).unwrap(), Value::Int(2));
}

#[test]
fn fcall_loads_the_library_lazily() {
    let s = Server::start().unwrap();
    let opts = Options {
        library: Some(LIB.as_bytes().to_vec()),
        ..Options::default()
    };
    let mut c = Client::with_options(&[s.endpoint()], opts).unwrap();
    assert_eq!(
        s.call(&[b"FUNCTION", b"LIST"]).unwrap(),
        Value::Array(vec![])
    );
    assert_eq!(c.fcall(b"t_echo", &[], &[b"hi\0"]).unwrap(), bulk(b"hi\0"));
    assert_eq!(
        c.fcall(b"t_set", &[b"{q}k"], &[b"v"]).unwrap(),
        Value::Simple(b"OK".to_vec())
    );
    assert_eq!(s.call(&[b"GET", b"{q}k"]).unwrap(), bulk(b"v"));
    // An error reply from the function: errno from its first word.
    let e = c.fcall(b"t_err", &[b"k"], &[]).unwrap_err();
    assert_eq!(e.errno(), libc::ENOMSG, "{e}");
    // Lost (e.g. a restart without persistence): loaded again.
    s.call(&[b"FUNCTION", b"FLUSH"]).unwrap();
    assert_eq!(
        c.fcall(b"t_echo", &[b"k"], &[b"again"]).unwrap(),
        bulk(b"again")
    );
    // Without a library, the error is returned as is.
    let mut bare = client(&s);
    let e = bare.fcall(b"t_nope", &[], &[]).unwrap_err();
    assert_eq!(e.to_string(), "server error: ERR Function not found");
}

#[test]
fn auth_with_user_and_password() {
    let s = Server::start_with(ServerOptions {
        extra: [
            "--user",
            "alice",
            "on",
            ">s3cr:t",
            "~*",
            "&*",
            "+@all",
            "--requirepass",
            "dflt",
        ]
        .map(String::from)
        .to_vec(),
        ..ServerOptions::default()
    })
    .unwrap();
    let port = s.port();
    let mut c = Client::connect(&format!("valkey://alice:s3cr%3At@127.0.0.1:{port}")).unwrap();
    c.call_key(b"x", &[b"SET", b"x", b"1"]).unwrap();
    let mut c = Client::connect(&format!("redis://dflt@127.0.0.1:{port}")).unwrap();
    c.call_key(b"x", &[b"GET", b"x"]).unwrap();
    let e = Client::connect(&format!("valkey://alice:wrong@127.0.0.1:{port}"))
        .err()
        .unwrap();
    assert_eq!(e.errno(), libc::EACCES, "{e}");
    let e = Client::connect(&format!("valkey://127.0.0.1:{port}"))
        .err()
        .unwrap();
    assert_eq!(e.errno(), libc::EACCES, "{e}");
}

#[test]
fn blocking_calls_get_data_or_time_out_and_leave_nothing_blocked() {
    let s = Server::start().unwrap();
    let mut c = client(&s);
    // Data arriving while blocked.
    let mut pusher = s.conn().unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        pusher.call(&[b"RPUSH", b"q", b"m1"]).unwrap();
    });
    let v = c.call_key_blocking(
        b"q",
        &[b"BLPOP", b"q", b"5"],
        Some(Instant::now() + Duration::from_secs(6)),
    );
    t.join().unwrap();
    assert_eq!(v.unwrap(), Value::Array(vec![bulk(b"q"), bulk(b"m1")]));
    // The server's own timeout: a nil reply.
    let v = c
        .call_key_blocking(b"q", &[b"BLPOP", b"q", b"0.1"], None)
        .unwrap();
    assert_eq!(v, Value::Nil);
    // Our deadline first: TimedOut, and the server drops the blocked command.
    let t0 = Instant::now();
    let e = c.call_key_blocking(
        b"q",
        &[b"BLPOP", b"q", b"0"],
        Some(Instant::now() + Duration::from_millis(300)),
    );
    assert!(matches!(e, Err(Error::TimedOut)), "{e:?}");
    assert!(t0.elapsed() < Duration::from_secs(1));
    assert!(wait_no_blocked(&s), "a client is still blocked");
    // The ordinary connection is fine meanwhile, and the next blocking call reconnects.
    c.call_key(b"q", &[b"RPUSH", b"q", b"m2"]).unwrap();
    let v = c
        .call_key_blocking(b"q", &[b"BLPOP", b"q", b"1"], None)
        .unwrap();
    assert_eq!(v, Value::Array(vec![bulk(b"q"), bulk(b"m2")]));
    // A connection of the caller's own, for blocking without holding the client.
    let mut d = c.dedicated_conn(b"q").unwrap();
    c.call_key(b"q", &[b"RPUSH", b"q", b"m3"]).unwrap();
    let v = d.call_blocking(&[b"BLPOP", b"q", b"1"], None).unwrap();
    assert_eq!(v, Value::Array(vec![bulk(b"q"), bulk(b"m3")]));
}

fn wait_no_blocked(s: &Server) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(2) {
        let list = s.call(&[b"CLIENT", b"LIST"]).unwrap();
        let list = String::from_utf8_lossy(list.as_bytes().unwrap()).into_owned();
        if !list.contains("cmd=blpop") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
