//! Unmodified programs on the Valkey backend: the Perl, Python and PHP clients of the shim's
//! tests (tests/shim), run under `LD_PRELOAD=libmsg_shim.so MSGQ_BACKEND=valkey`, must print
//! what they print on the kernel's own queues; the kernel's queues stay empty meanwhile; and
//! two programs given different seeds of a three-master cluster meet.
//!
//! Needs the shim built and the clients installed (`tests/shim/deps.sh`): run by
//! `make test-valkey-clients` (part of `make test`), ignored by a plain `cargo test`.

use msgq_valkey::testing::{Cluster, Server};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn shim() -> PathBuf {
    let p = root().join("target/release/libmsg_shim.so");
    assert!(
        p.exists(),
        "{} is not built (make test-valkey-clients)",
        p.display()
    );
    p
}

/// Runs `script` (a shell command line, with `$HERE` = tests/shim and `$PY` = the venv's
/// python) in a new IPC namespace; with `valkey`, under the shim on that URL and namespace.
/// Returns its output, then the kernel's `ipcs -q` rows seen in that namespace afterwards.
fn run(script: &str, valkey: Option<(&str, &str)>) -> (String, usize) {
    let here = root().join("tests/shim");
    let py = root().join("target/shim-test/venv/bin/python");
    let pre = match valkey {
        Some((url, ns)) => format!(
            "export LD_PRELOAD={} MSGQ_BACKEND=valkey MSGQ_URL={url} MSGQ_NAMESPACE={ns}; ",
            shim().display()
        ),
        None => String::new(),
    };
    let line = format!(
        "cd \"$(mktemp -d)\" && ( {pre}{script} ) 2>&1; echo @@KERNEL; \
         env -u LD_PRELOAD ipcs -q | grep -c '^0x' || true"
    );
    let out = Command::new("unshare")
        .args(["-i", "bash", "-c", &line])
        .env("HERE", &here)
        .env("PY", &py)
        .output()
        .expect("unshare");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, kernel) = text.split_once("@@KERNEL").unwrap_or((&text, "0"));
    (body.to_owned(), kernel.trim().parse().unwrap_or(usize::MAX))
}

const PERL: &str = r#"perl "$HERE/perl_msg.pl""#;
const PYTHON: &str = r#""$PY" "$HERE/py_a.py" > a.out 2>&1 & a=$!; sleep 0.5; "$PY" "$HERE/py_b.py" 2>&1; wait $a; cat a.out"#;
const PHP: &str = r#"php "$HERE/php_msg.php""#;

fn same_as_native(name: &str, script: &str, url: &str) {
    let (native, _) = run(script, None);
    let ns = format!("cl{}{name}", std::process::id());
    let (ours, kernel) = run(script, Some((url, &ns)));
    assert!(!native.trim().is_empty(), "{name}: no output natively");
    assert_eq!(
        ours, native,
        "{name}: the valkey backend's output differs from native"
    );
    assert_eq!(
        kernel, 0,
        "{name}: a queue reached the kernel under the shim"
    );
}

#[test]
#[ignore = "needs the shim and the clients: make test-valkey-clients"]
fn perl_python_and_php_as_on_the_kernel() {
    let srv = Server::start().expect("valkey server");
    let url = srv.url();
    same_as_native("perl", PERL, &url);
    same_as_native("python", PYTHON, &url);
    same_as_native("php", PHP, &url);
    // The queues were the server's: the namespaces' registries are there.
    let keys = srv.call(&[b"KEYS", b"{msgq:cl*}:reg"]).expect("KEYS");
    assert!(
        keys.as_array().is_some_and(|a| !a.is_empty()),
        "no registry on the server: {keys:?}"
    );
}

#[test]
#[ignore = "needs the shim and the clients: make test-valkey-clients"]
fn two_programs_on_different_seeds_of_a_cluster() {
    let cl = Cluster::start(3).expect("valkey cluster");
    let url = cl.url();
    let seeds: Vec<String> = url
        .trim_start_matches("valkey://")
        .split(',')
        .map(|s| format!("valkey://{s}"))
        .collect();
    let (native, _) = run(PYTHON, None);
    let ns = format!("cs{}", std::process::id());
    // A is given the first node only, B the last: they meet through the cluster.
    let script = format!(
        r#"MSGQ_URL={} "$PY" "$HERE/py_a.py" > a.out 2>&1 & a=$!; sleep 0.5; MSGQ_URL={} "$PY" "$HERE/py_b.py" 2>&1; wait $a; cat a.out"#,
        seeds[0],
        seeds[seeds.len() - 1]
    );
    let (ours, kernel) = run(&script, Some((&url, &ns)));
    assert_eq!(ours, native);
    assert_eq!(kernel, 0);
}
