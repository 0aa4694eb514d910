//! Process-level behaviour: a signal interrupting a blocking call, and fork. Run without the
//! test harness (`harness = false`): alarm(2) signals the process, and the kernel gives the
//! signal to the main thread, which must be the one blocked in the call; fork is also simpler
//! from a process with one thread, and SIGPIPE can have its default action back.

#![warn(clippy::undocumented_unsafe_blocks)]

use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use msgq_valkey::testing::Server;
use msgq_valkey::{Client, Conn, ConnConfig, Endpoint, Error, Value};

static ALARMS: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_alarm(_: libc::c_int) {
    ALARMS.fetch_add(1, Ordering::SeqCst);
}

fn install_sigalrm_with_sa_restart() {
    // SAFETY: a zeroed sigaction is valid; the handler only touches an atomic.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut()), 0);
    }
}

fn alarm(secs: u32) {
    // SAFETY: alarm has no preconditions.
    unsafe { libc::alarm(secs) };
}

fn blocked_clients(s: &Server) -> usize {
    let list = s.call(&[b"CLIENT", b"LIST"]).unwrap();
    String::from_utf8_lossy(list.as_bytes().unwrap())
        .matches("cmd=blpop")
        .count()
}

fn signal_interrupts_a_blocking_call() {
    install_sigalrm_with_sa_restart();
    let s = Server::start().unwrap();
    let mut c = Client::connect(&s.url()).unwrap();
    c.call_key(b"q", &[b"DEL", b"q"]).unwrap();
    alarm(1);
    let t = Instant::now();
    // The deadline only bounds the test if the signal does not end the wait.
    let r = c.call_key_blocking(
        b"q",
        &[b"BLPOP", b"q", b"0"],
        Some(Instant::now() + Duration::from_secs(3)),
    );
    let took = t.elapsed();
    assert!(matches!(r, Err(Error::Interrupted)), "{r:?}");
    assert_eq!(r.unwrap_err().errno(), libc::EINTR);
    assert_eq!(ALARMS.load(Ordering::SeqCst), 1);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    // The server dropped the blocked command with the connection.
    let t = Instant::now();
    while blocked_clients(&s) > 0 {
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "BLPOP still blocked in the server"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Follow-up calls work; a message pushed now stays queued (nobody pops it).
    c.call_key(b"q", &[b"RPUSH", b"q", b"m"]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(c.call_key(b"q", &[b"LLEN", b"q"]).unwrap(), Value::Int(1));
    // And the next blocking call reconnects and gets it.
    let v = c
        .call_key_blocking(b"q", &[b"BLPOP", b"q", b"1"], None)
        .unwrap();
    assert_eq!(
        v,
        Value::Array(vec![Value::Bulk(b"q".to_vec()), Value::Bulk(b"m".to_vec())])
    );

    // An ordinary call is not interrupted: it resumes its wait and ends at its own bound.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = Endpoint::new("127.0.0.1", l.local_addr().unwrap().port());
    let cfg = ConnConfig {
        io_timeout: Duration::from_millis(1500),
        ..ConnConfig::default()
    };
    let mut conn = Conn::connect(&ep, &cfg).unwrap();
    alarm(1);
    let t = Instant::now();
    let r = conn.call(&[b"PING"]);
    assert!(matches!(r, Err(Error::TimedOut)), "{r:?}");
    assert_eq!(ALARMS.load(Ordering::SeqCst), 2);
    assert!(
        t.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        t.elapsed()
    );
}

fn client_id(c: &mut Client) -> i64 {
    c.call_key(b"x", &[b"CLIENT", b"ID"])
        .unwrap()
        .as_int()
        .unwrap()
}

fn fork_child_reconnects_and_parent_keeps_its_connection() {
    let s = Server::start().unwrap();
    let mut c = Client::connect(&s.url()).unwrap();
    c.call_key(b"a", &[b"SET", b"a", b"parent"]).unwrap();
    let parent_id = client_id(&mut c);
    // SAFETY: the child only uses the client and exits with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let ok = (|| {
            let id = c.call_key(b"x", &[b"CLIENT", b"ID"]).ok()?.as_int()?;
            let v = c.call_key(b"a", &[b"GET", b"a"]).ok()?;
            c.call_key(b"b", &[b"SET", b"b", b"child"]).ok()?;
            Some(id != parent_id && v == Value::Bulk(b"parent".to_vec()))
        })();
        // SAFETY: ends the child without running the parent's destructors or atexit handlers.
        unsafe { libc::_exit(if ok == Some(true) { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed: {status:#x}"
    );
    // The parent's connection is the same one and still works.
    assert_eq!(client_id(&mut c), parent_id);
    assert_eq!(
        c.call_key(b"b", &[b"GET", b"b"]).unwrap(),
        Value::Bulk(b"child".to_vec())
    );
}

fn server_hanging_up_is_an_error_not_sigpipe() {
    // Rust's runtime ignores SIGPIPE; a C program does not: the default action (death) back.
    // SAFETY: setting a signal's disposition to SIG_DFL has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = Endpoint::new("127.0.0.1", l.local_addr().unwrap().port());
    let mut conn = Conn::connect(&ep, &ConnConfig::default()).unwrap();
    let (mut peer, _) = l.accept().unwrap();
    let mut b = [0u8; 64];
    std::thread::spawn(move || {
        let _ = peer.read(&mut b);
        drop(peer);
    });
    // First call: the request arrives, the peer closes: ECONNRESET (EOF).
    let e = conn.call(&[b"PING"]).unwrap_err();
    assert!(matches!(e.errno(), libc::ECONNRESET | libc::EPIPE), "{e}");
    // A large write into a closed socket: EPIPE or ECONNRESET, and the process is alive.
    let mut conn = Conn::connect(&ep, &ConnConfig::default()).unwrap();
    let (peer, _) = l.accept().unwrap();
    drop(peer);
    std::thread::sleep(Duration::from_millis(50));
    let big = vec![b'x'; 8 << 20];
    let e = conn.call(&[b"SET", b"k", &big]).unwrap_err();
    assert!(matches!(e.errno(), libc::ECONNRESET | libc::EPIPE), "{e}");
}

fn main() {
    let tests: [(&str, fn()); 3] = [
        (
            "server_hanging_up_is_an_error_not_sigpipe",
            server_hanging_up_is_an_error_not_sigpipe,
        ),
        (
            "signal_interrupts_a_blocking_call",
            signal_interrupts_a_blocking_call,
        ),
        (
            "fork_child_reconnects_and_parent_keeps_its_connection",
            fork_child_reconnects_and_parent_keeps_its_connection,
        ),
    ];
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    for (name, f) in tests {
        if filter.as_ref().is_some_and(|p| !name.contains(p.as_str())) {
            continue;
        }
        f();
        println!("test {name} ... ok");
    }
}
