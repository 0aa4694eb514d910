//! `msgq --backend valkey`: the command on a namespace of a Valkey server started here on
//! loopback (msgq-valkey's test servers; tests/valkey/deps.sh unpacks Valkey).

use msgq_valkey::testing::Server;
use std::process::{Command, Output};

fn msgq(url: &str, ns: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_msgq"))
        .args(["--backend", "valkey"])
        .args(args)
        .env("MSGQ_URL", url)
        .env("MSGQ_NAMESPACE", ns)
        .env_remove("MSGQ_BACKEND")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_command_on_a_valkey_namespace() {
    let srv = Server::start().expect("valkey server");
    let (url, ns) = (srv.url(), format!("cli{}", std::process::id()));
    let mk = msgq(&url, &ns, &["mk", "--key", "0x51", "--mode", "600"]);
    assert!(mk.status.success(), "{mk:?}");
    let id = text(&mk).trim().to_owned();
    let s = msgq(&url, &ns, &["send", &id, "hello valkey", "--type", "4"]);
    assert!(s.status.success(), "{s:?}");
    let l = msgq(
        &url,
        &ns,
        &["list", "--json", "-o", "KEY,ID,MSGS,USEDBYTES"],
    );
    let j = text(&l);
    assert!(
        j.contains("\"0x00000051\"") && j.contains("\"msgs\": \"1\""),
        "{j}"
    );
    // Another namespace of the same server sees nothing.
    let other = msgq(&url, &format!("{ns}x"), &["list", "--noheadings"]);
    assert_eq!(text(&other).trim(), "");
    // select: ready at once (nothing is received).
    let sel = msgq(&url, &ns, &["select", &id, "--timeout", "2s"]);
    assert_eq!(text(&sel), format!("{id} ready\n"), "{sel:?}");
    // The RTOS extensions on this backend: peek, then purge counts.
    let p = msgq(&url, &ns, &["recv", &id, "--peek"]);
    assert_eq!(text(&p), "hello valkey\n");
    let r = msgq(&url, &ns, &["recv", &id, "--print-type"]);
    assert_eq!(text(&r), "4\thello valkey\n");
    let t = msgq(&url, &ns, &["recv", &id, "--timeout", "200ms"]);
    assert_eq!(t.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&t.stderr).contains("ETIMEDOUT"));
    let rm = msgq(&url, &ns, &["rm", "--all"]);
    assert!(rm.status.success(), "{rm:?}");
    assert_eq!(text(&msgq(&url, &ns, &["list", "--noheadings"])).trim(), "");
}

#[test]
fn no_server_is_an_error_that_names_it() {
    // A port nothing listens on (bound then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("valkey://127.0.0.1:{port}");
    let o = msgq(&url, "n", &["list"]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains(&url) && e.contains("Connection refused (ECONNREFUSED)"),
        "{e}"
    );
    assert!(!e.contains("panicked"));
}
