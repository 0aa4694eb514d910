//! The `msgq` binary as users run it, on the host: backend selection (the host has no
//! `/dev/msgq`, so the kmod backend must fail clearly), argument errors, and the user
//! backend on private store files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

const DEVICE: &str = "/dev/msgq";

/// A fresh directory for store files.
fn scratch() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "msgq-cli-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `msgq ARGS` with `env` set and the selection variables otherwise unset. A command
/// still running after 60 s is killed and fails the test (a broken timeout must not hang it).
fn msgq(args: &[&str], env: &[(&str, &str)]) -> Output {
    use std::process::Stdio;
    let mut c = Command::new(env!("CARGO_BIN_EXE_msgq"));
    c.args(args)
        .env_remove("MSGQ_BACKEND")
        .env_remove("MSGQ_STORE")
        .env_remove("LD_PRELOAD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    finish(c.spawn().unwrap(), std::time::Duration::from_secs(60))
        .unwrap_or_else(|| panic!("msgq {args:?} still running after 60 s"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts a failure with exit status `code` whose stderr has every one of `words`.
fn fails(o: &Output, code: i32, words: &[&str]) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {e}");
    for w in words {
        assert!(e.contains(w), "{w:?} not in stderr: {e}");
    }
    assert!(o.stdout.is_empty(), "stdout: {}", stdout(o));
}

fn no_device() -> bool {
    if Path::new(DEVICE).exists() {
        eprintln!("{DEVICE} exists on this machine: the host-only kmod cases are skipped");
        return false;
    }
    true
}

#[test]
fn kmod_without_the_module_fails_clearly() {
    if !no_device() {
        return;
    }
    for (args, env) in [
        (vec!["--backend", "kmod", "list"], vec![]),
        (vec!["list", "--backend", "kmod", "--json"], vec![]),
        (vec!["mk", "--key", "5"], vec![("MSGQ_BACKEND", "kmod")]),
        (vec!["limits"], vec![("MSGQ_BACKEND", "kmod")]),
        (
            vec!["--backend", "kmod", "limits", "set", "--msgmax", "10"],
            vec![("MSGQ_BACKEND", "user")],
        ),
    ] {
        let o = msgq(&args, &env);
        fails(
            &o,
            1,
            &[
                "/dev/msgq: No such file or directory (ENOENT)",
                "module is not loaded",
            ],
        );
    }
}

#[test]
fn store_only_commands_refuse_kmod() {
    for cmd in ["check", "path", "remove-store"] {
        let o = msgq(&["--backend", "kmod", cmd], &[]);
        fails(
            &o,
            1,
            &[
                &format!("`msgq {cmd}`"),
                "backend is kmod",
                "--backend user",
            ],
        );
    }
}

#[test]
fn backend_environment_errors() {
    let o = msgq(&["list"], &[("MSGQ_BACKEND", "native")]);
    fails(&o, 1, &["MSGQ_BACKEND=native", "ipcs"]);
    let o = msgq(&["list"], &[("MSGQ_BACKEND", "kmodx")]);
    fails(&o, 1, &["MSGQ_BACKEND=kmodx: unknown backend"]);
    let o = msgq(&["--backend", "native", "list"], &[]);
    fails(&o, 2, &["invalid value 'native'", "user", "kmod"]);
    let o = msgq(&["--backend", "kmod", "--store", "/tmp/x", "list"], &[]);
    fails(&o, 1, &["--store", "kmod backend"]);
    let o = msgq(&["--store", "/tmp/x", "list"], &[("MSGQ_BACKEND", "kmod")]);
    fails(&o, 1, &["--store", "kmod backend"]);
}

#[test]
fn default_and_explicit_user_backend_use_the_store() {
    let d = scratch();
    let store = d.join("s");
    let s = store.to_str().unwrap();
    // No /dev/msgq and no MSGQ_BACKEND: the user backend, on $MSGQ_STORE.
    let default_env: Vec<(&str, &str)> = if no_device() {
        vec![("MSGQ_STORE", s)]
    } else {
        vec![("MSGQ_STORE", s), ("MSGQ_BACKEND", "user")]
    };
    let o = msgq(&["path"], &default_env);
    assert_eq!(stdout(&o), format!("{s}\n"), "{}", stderr(&o));
    let o = msgq(&["mk", "--key", "0x77", "--mode", "600"], &default_env);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = stdout(&o).trim().to_owned();
    // The same queue through --backend user (beating MSGQ_BACKEND=kmod) and --store.
    let o = msgq(
        &[
            "--backend",
            "user",
            "send",
            "--key",
            "0x77",
            "hi there",
            "--type",
            "4",
        ],
        &[("MSGQ_STORE", s), ("MSGQ_BACKEND", "kmod")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = msgq(&["--store", s, "list", "--json"], &[]);
    let j = stdout(&o);
    assert!(
        j.contains(&format!(
            "\"key\": \"0x00000077\",\n         \"id\": \"{id}\","
        )),
        "{j}"
    );
    assert!(
        j.contains("\"msgs\": \"1\"") && j.contains("\"perms\": \"rw-------\""),
        "{j}"
    );
    let o = msgq(&["--store", s, "recv", &id, "--print-type"], &[]);
    assert_eq!(stdout(&o), "4\thi there\n", "{}", stderr(&o));
    let o = msgq(&["--store", s, "rm", "--key", "0x77"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = msgq(&["--store", s, "list", "--json"], &[]);
    assert_eq!(stdout(&o), "{\n   \"messages\": [\n   ]\n}\n");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn argument_and_errno_errors() {
    let d = scratch();
    let s = d.join("s");
    let s = s.to_str().unwrap();
    let o = msgq(&["--store", s, "mk", "--mode", "999"], &[]);
    fails(&o, 2, &["octal"]);
    let o = msgq(&["--store", s, "mk", "--key", "zz"], &[]);
    fails(&o, 2, &["not a key"]);
    let o = msgq(&["--store", s, "rm"], &[]);
    fails(&o, 1, &["give queue ids"]);
    let o = msgq(&["--store", s, "limits", "set"], &[]);
    fails(&o, 1, &["give at least one of"]);
    let o = msgq(&["--store", s, "limits", "set", "--msgmni", "40000"], &[]);
    fails(&o, 1, &["msgmni = 40000: Invalid argument (EINVAL)"]);
    let o = msgq(&["--store", s, "mk"], &[]);
    let id = stdout(&o).trim().to_owned();
    let o = msgq(&["--store", s, "send", &id, "x", "--type", "0"], &[]);
    fails(
        &o,
        1,
        &["Invalid argument (EINVAL): the message type must be at least 1 (--type 0)"],
    );
    let big = "x".repeat(8193);
    let o = msgq(&["--store", s, "send", &id, &big], &[]);
    fails(
        &o,
        1,
        &["the message is 8193 bytes, more than msgmax (8192)"],
    );
    // A huge --size is no abort: a message is at most INT_MAX bytes.
    let o = msgq(
        &[
            "--store",
            s,
            "recv",
            &id,
            "--nowait",
            "--size",
            "99999999999",
        ],
        &[],
    );
    fails(&o, 1, &["No message of desired type (ENOMSG)"]);
    assert!(!stderr(&o).contains("backtrace"), "{}", stderr(&o));
    let o = msgq(&["--store", s, "recv", &id, "--nowait"], &[]);
    fails(&o, 1, &["No message of desired type (ENOMSG)"]);
    let o = msgq(&["--store", s, "mk", "--key", "9"], &[]);
    assert!(o.status.success());
    let o = msgq(&["--store", s, "mk", "--key", "9", "--excl"], &[]);
    fails(&o, 1, &["msgget(0x9): File exists (EEXIST)"]);
    let o = msgq(&["--store", s, "show", "12345"], &[]);
    fails(&o, 1, &["no queue with id 12345"]);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn negative_limits_reach_the_range_check() {
    let d = scratch();
    let s = d.join("s");
    let o = msgq(
        &[
            "--store",
            s.to_str().unwrap(),
            "limits",
            "set",
            "--msg-next-id",
            "-1",
        ],
        &[],
    );
    fails(&o, 1, &["msg_next_id = -1: Invalid argument (EINVAL)"]);
    let _ = std::fs::remove_dir_all(&d);
}

/// `msgq check | head -1` and `msgq list | head -1`: the reader goes away early; the command
/// must end quietly (SIGPIPE, as `cat` does), never panic on EPIPE (issue 12).
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    let d = scratch();
    let store = d.join("store");
    let s = store.to_str().unwrap();
    for k in 1..=200 {
        let o = msgq(&["--store", s, "mk", "--key", &k.to_string()], &[]);
        assert!(o.status.success(), "mk: {}", stderr(&o));
    }
    for cmd in ["check", "list"] {
        let mut c = Command::new(env!("CARGO_BIN_EXE_msgq"))
            .args(["--store", s, cmd])
            .env_remove("MSGQ_BACKEND")
            .env_remove("MSGQ_STORE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read one byte, then close the pipe before the command has written everything.
        let mut out = c.stdout.take().unwrap();
        let mut one = [0u8; 1];
        out.read_exact(&mut one).unwrap();
        drop(out);
        let o = c.wait_with_output().unwrap();
        let e = stderr(&o);
        assert!(
            !e.contains("panicked") && !e.contains("Broken pipe"),
            "{cmd}: {e}"
        );
        use std::os::unix::process::ExitStatusExt;
        assert!(
            o.status.success() || o.status.signal() == Some(libc::SIGPIPE),
            "{cmd}: {:?} {e}",
            o.status
        );
    }
}

/// A store of another layout version is refused by name, with the command that removes it;
/// that command removes it without --force.
#[test]
fn a_store_of_another_version_is_refused_and_removable() {
    let d = scratch();
    let store = d.join("store");
    let s = store.to_str().unwrap();
    let o = msgq(&["--store", s, "mk", "--key", "7"], &[]);
    assert!(o.status.success(), "mk: {}", stderr(&o));
    {
        // The version word, changed in place (the file is large and sparse).
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&store)
            .unwrap();
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, 8).unwrap();
        f.write_all_at(&[b[0] ^ 0xff], 8).unwrap();
    }
    let o = msgq(&["--store", s, "list"], &[]);
    fails(
        &o,
        1,
        &["another version", &format!("msgq --store {s} remove-store")],
    );
    let o = msgq(&["--store", s, "remove-store"], &[]);
    assert!(o.status.success(), "remove-store: {}", stderr(&o));
    assert!(!store.exists());
}

/// Without --store or MSGQ_STORE the command works on the default store, the IPC
/// namespace's (run in a new namespace, root only): make, send, list, check, receive,
/// remove; `remove-store` says the default store is not a file.
#[test]
fn the_default_store_is_the_namespaces() {
    let probe = Command::new("unshare").args(["-i", "true"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: cannot make an IPC namespace");
        return;
    }
    let m = env!("CARGO_BIN_EXE_msgq");
    let script = format!(
        "set -e; {m} mk --key 0x77; {m} send 0 hello --type 2; {m} list; {m} check; \
         {m} recv 0; {m} rm --key 0x77; {m} list; \
         if {m} remove-store 2>err; then exit 9; fi; cat err"
    );
    // In a scratch directory: the script writes a file there.
    let d = scratch();
    let o = Command::new("unshare")
        .current_dir(&d)
        .args(["-i", "sh", "-c", &script])
        .env_remove("MSGQ_BACKEND")
        .env_remove("MSGQ_STORE")
        .env_remove("LD_PRELOAD")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    for want in [
        "0x00000077",
        "the default store of IPC namespace",
        "hello",
        "is the default store",
    ] {
        assert!(out.contains(want), "no {want:?} in:\n{out}");
    }
    assert!(!out.contains("FAIL"), "{out}");
    let _ = std::fs::remove_dir_all(&d);
}

// ---- msgq's extensions (issue 14, docs/extensions.md) on a store file ----

/// `msgq --store S ARGS` started in the background, its output piped.
fn spawn(s: &str, args: &[&str]) -> std::process::Child {
    use std::process::Stdio;
    Command::new(env!("CARGO_BIN_EXE_msgq"))
        .args(["--store", s])
        .args(args)
        .env_remove("MSGQ_BACKEND")
        .env_remove("MSGQ_STORE")
        .env_remove("LD_PRELOAD")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The output of `c`, killing it if it is still running after `limit` (a broken timeout or
/// abort must fail the test, not hang it): `None` then.
fn finish(mut c: std::process::Child, limit: std::time::Duration) -> Option<Output> {
    let start = std::time::Instant::now();
    while c.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = c.kill();
            let _ = c.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Some(c.wait_with_output().unwrap())
}

/// Waits until queue `id` of store `s` has `receivers` blocked receivers (and peekers),
/// as the engine counts them (`Store::waiting`).
fn await_receivers(s: &str, id: i32, receivers: u64) {
    let store = msgq_user::Store::open(Path::new(s)).unwrap();
    let start = std::time::Instant::now();
    loop {
        let (r, _) = store.waiting(id).unwrap();
        if r == receivers {
            return;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "{r} receivers blocked on {id}, waiting for {receivers}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// `msgq --store S ARGS`, which must succeed; its stdout.
fn ok(s: &str, args: &[&str]) -> String {
    let mut all = vec!["--store", s];
    all.extend_from_slice(args);
    let o = msgq(&all, &[]);
    assert!(o.status.success(), "msgq {args:?}: {}", stderr(&o));
    stdout(&o)
}

/// A store with one new queue: (scratch dir, store path, queue id).
fn one_queue() -> (PathBuf, String, String) {
    let d = scratch();
    let s = d.join("s").to_str().unwrap().to_owned();
    let id = ok(&s, &["mk"]).trim().to_owned();
    (d, s, id)
}

/// The queue's message count, from `msgq show --json`.
fn qnum(s: &str, id: &str) -> String {
    let j = ok(s, &["show", id, "--json"]);
    let at = j.find("\"msgs\": \"").expect("msgs") + 9;
    j[at..].chars().take_while(char::is_ascii_digit).collect()
}

#[test]
fn urgent_peek_and_purge() {
    let (d, s, id) = one_queue();
    assert_eq!(ok(&s, &["send", &id, "first", "--type", "2"]), "");
    assert_eq!(ok(&s, &["send", &id, "second"]), "");
    // An urgent send prints nothing and goes in front of both.
    assert_eq!(
        ok(&s, &["send", &id, "urgent", "--urgent", "--type", "3"]),
        ""
    );
    // A peek shows the message a receive would take, and leaves it queued.
    assert_eq!(
        ok(&s, &["recv", &id, "--peek", "--print-type"]),
        "3\turgent\n"
    );
    assert_eq!(
        ok(&s, &["receive", &id, "--peek", "--type", "1"]),
        "second\n"
    );
    assert_eq!(qnum(&s, &id), "3");
    assert_eq!(ok(&s, &["recv", &id, "--print-type"]), "3\turgent\n");
    assert_eq!(qnum(&s, &id), "2");
    // Purge prints how many it discarded; then the queue is empty, and a second purge 0.
    assert_eq!(ok(&s, &["purge", &id]), "2\n");
    assert_eq!(qnum(&s, &id), "0");
    assert_eq!(ok(&s, &["purge", &id]), "0\n");
    let o = msgq(&["--store", &s, "recv", &id, "--nowait", "--peek"], &[]);
    fails(&o, 1, &["peek from", "(ENOMSG)"]);
    let o = msgq(&["--store", &s, "purge", "4242"], &[]);
    fails(&o, 1, &["purge 4242", "(EINVAL)"]);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn overwrite_counts_what_it_drops() {
    let d = scratch();
    let s = d.join("s").to_str().unwrap().to_owned();
    // New queues get msg_qbytes = msgmnb: room for 10 bytes.
    ok(&s, &["limits", "set", "--msgmnb", "10"]);
    let id = ok(&s, &["mk"]).trim().to_owned();
    ok(&s, &["send", &id, "aaaa", "--type", "1"]);
    ok(&s, &["send", &id, "bbbb", "--type", "2"]);
    // 8 + 6 bytes do not fit in 10: the oldest message goes.
    assert_eq!(ok(&s, &["send", &id, "cccccc", "--overwrite"]), "1\n");
    assert_eq!(ok(&s, &["send", &id, "dddd", "--overwrite"]), "1\n");
    assert_eq!(ok(&s, &["send", &id, "eeeeeeeeee", "--overwrite"]), "2\n");
    assert_eq!(ok(&s, &["recv", &id]), "eeeeeeeeee\n");
    // Urgent and overwrite together: the oldest is dropped, the new one goes in front.
    ok(&s, &["send", &id, "aaaa"]);
    ok(&s, &["send", &id, "bbbb"]);
    assert_eq!(
        ok(&s, &["send", &id, "ccc", "--urgent", "--overwrite"]),
        "1\n"
    );
    assert_eq!(ok(&s, &["recv", &id]), "ccc\n");
    assert_eq!(ok(&s, &["recv", &id]), "bbbb\n");
    // Room enough: nothing dropped.
    assert_eq!(ok(&s, &["send", &id, "x", "--overwrite"]), "0\n");
    // A message that cannot fit even in the empty queue: EMSGSIZE, nothing dropped.
    let o = msgq(
        &["--store", &s, "send", &id, "eleven char", "--overwrite"],
        &[],
    );
    fails(
        &o,
        1,
        &[&format!("send to {id}: EMSGSIZE"), "can never make it fit"],
    );
    assert_eq!(qnum(&s, &id), "1");
    // A full queue and a timed send: ETIMEDOUT, the rule named.
    let o = msgq(
        &[
            "--store",
            &s,
            "send",
            &id,
            "123456789a",
            "--timeout",
            "50ms",
        ],
        &[],
    );
    fails(
        &o,
        1,
        &[
            "ETIMEDOUT: the queue had no room for the message before the deadline",
            "--timeout 50ms",
        ],
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_timed_receive_on_an_empty_queue_times_out() {
    let (d, s, id) = one_queue();
    let start = std::time::Instant::now();
    let c = spawn(&s, &["receive", &id, "--timeout", "100ms"]);
    let o = finish(c, std::time::Duration::from_secs(20)).expect("the timed receive never ended");
    // Correctness, not speed: it must not give up before its deadline.
    assert!(start.elapsed() >= std::time::Duration::from_millis(100));
    fails(
        &o,
        1,
        &[&format!(
            "receive from {id}: ETIMEDOUT: no message arrived before the deadline \
             (--timeout 100ms)"
        )],
    );
    // A timed peek the same; a timeout of 0 is a try that times out at once.
    let o = msgq(
        &["--store", &s, "recv", &id, "--peek", "--timeout", "0"],
        &[],
    );
    fails(&o, 1, &["peek from", "ETIMEDOUT"]);
    // A message that waits is received whatever the timeout.
    ok(&s, &["send", &id, "here"]);
    assert_eq!(ok(&s, &["recv", &id, "--timeout", "0"]), "here\n");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn abort_ends_a_blocked_receive() {
    let (d, s, id) = one_queue();
    let qid: i32 = id.parse().unwrap();
    assert_eq!(ok(&s, &["abort", &id, "--receivers"]), "0\n");
    let c = spawn(&s, &["recv", &id]);
    await_receivers(&s, qid, 1);
    // Aborting the senders leaves the receiver alone.
    assert_eq!(ok(&s, &["abort", &id, "--senders"]), "0\n");
    assert_eq!(ok(&s, &["abort", &id, "--receivers"]), "1\n");
    let o = finish(c, std::time::Duration::from_secs(20)).expect("the aborted receive never ended");
    fails(
        &o,
        1,
        &[&format!(
            "receive from {id}: ECANCELED: the wait was aborted"
        )],
    );
    // --both reaches a blocked peek too.
    let c = spawn(&s, &["recv", &id, "--peek"]);
    await_receivers(&s, qid, 1);
    assert_eq!(ok(&s, &["abort", &id, "--both"]), "1\n");
    let o = finish(c, std::time::Duration::from_secs(20)).expect("the aborted peek never ended");
    fails(&o, 1, &["peek from", "ECANCELED"]);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn broadcast_and_a_blocked_peek() {
    let (d, s, id) = one_queue();
    let qid: i32 = id.parse().unwrap();
    // No receiver: queued as usual, 0 given.
    assert_eq!(ok(&s, &["send", &id, "queued", "--broadcast"]), "0\n");
    assert_eq!(ok(&s, &["recv", &id]), "queued\n");
    // Two receivers of type 5 and one of type 6: a broadcast of type 5 reaches two.
    let fives = [
        spawn(&s, &["recv", &id, "--type", "5"]),
        spawn(&s, &["recv", &id, "--type", "5", "--timeout", "60s"]),
    ];
    let six = spawn(&s, &["recv", &id, "--type", "6"]);
    await_receivers(&s, qid, 3);
    assert_eq!(
        ok(&s, &["send", &id, "to all", "--type", "5", "--broadcast"]),
        "2\n"
    );
    for c in fives {
        let o = finish(c, std::time::Duration::from_secs(20)).expect("a receiver never ended");
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), "to all\n");
    }
    assert_eq!(qnum(&s, &id), "0");
    assert_eq!(ok(&s, &["abort", &id, "--receivers"]), "1\n");
    let o = finish(six, std::time::Duration::from_secs(20)).expect("type 6 never ended");
    fails(&o, 1, &["ECANCELED"]);
    // A blocked peek gets a copy of the next message, which stays queued.
    let c = spawn(
        &s,
        &["recv", &id, "--peek", "--timeout", "60s", "--print-type"],
    );
    await_receivers(&s, qid, 1);
    ok(&s, &["send", &id, "seen twice", "--type", "9"]);
    let o = finish(c, std::time::Duration::from_secs(20)).expect("the peek never ended");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "9\tseen twice\n");
    assert_eq!(ok(&s, &["recv", &id, "--nowait"]), "seen twice\n");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn extension_argument_errors() {
    let (d, s, id) = one_queue();
    let run = |args: &[&str]| {
        let mut all = vec!["--store", s.as_str()];
        all.extend_from_slice(args);
        msgq(&all, &[])
    };
    fails(
        &run(&["recv", &id, "--timeout", "-1"]),
        2,
        &["--timeout", "cannot be negative"],
    );
    fails(
        &run(&["send", &id, "x", "--timeout", "3 fortnights"]),
        2,
        &["unknown unit", "250ms"],
    );
    fails(
        &run(&["recv", &id, "--timeout", "soon"]),
        2,
        &["not a duration"],
    );
    fails(
        &run(&["recv", &id, "--urgent", "--peek"]),
        2,
        &["--urgent is a send flag (MSGQ_URGENT)", "msgq send"],
    );
    fails(
        &run(&["recv", &id, "--broadcast"]),
        2,
        &["--broadcast is a send flag"],
    );
    fails(
        &run(&["send", &id, "x", "--peek"]),
        2,
        &["--peek is a receive flag (MSGQ_PEEK)"],
    );
    fails(
        &run(&["send", &id, "x", "--overwrite", "--broadcast"]),
        2,
        &["'--overwrite' cannot be used with '--broadcast'"],
    );
    fails(
        &run(&["recv", &id, "--nowait", "--timeout", "1s"]),
        2,
        &["cannot be used with"],
    );
    fails(&run(&["abort", &id]), 2, &["--receivers|--senders|--both"]);
    // Nothing of the above reached the queue.
    assert_eq!(qnum(&s, &id), "0");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn select_waits_for_any_of_several_queues() {
    let (d, s, a) = one_queue();
    let b = ok(&s, &["mk"]).trim().to_owned();
    let o = msgq(&["--store", &s, "select", &a, &b, "--timeout", "50ms"], &[]);
    fails(
        &o,
        1,
        &["select: ETIMEDOUT: no message arrived before the deadline"],
    );
    ok(&s, &["send", &b, "x", "--type", "4"]);
    assert_eq!(ok(&s, &["select", &a, &b]), format!("{b} ready\n"));
    assert_eq!(qnum(&s, &b), "1", "select received the message");
    let o = msgq(
        &[
            "--store",
            &s,
            "select",
            &a,
            &b,
            "--type",
            "4",
            "--except",
            "--timeout",
            "50ms",
        ],
        &[],
    );
    fails(&o, 1, &["ETIMEDOUT"]);
    // A blocked select, ended by a send to the other queue.
    let c = spawn(&s, &["select", &a, &b, "--type", "7"]);
    std::thread::sleep(std::time::Duration::from_millis(100));
    ok(&s, &["send", &a, "y", "--type", "7"]);
    let o = finish(c, std::time::Duration::from_secs(20)).expect("the select never ended");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("{a} ready\n"));
    // A queue that is gone is reported, not waited for.
    assert_eq!(
        ok(&s, &["select", "4242", &a]),
        format!("4242 EINVAL\n{a} ready\n")
    );
    ok(&s, &["recv", &a]);
    assert_eq!(
        ok(&s, &["select", "4242", &a, &b, "--json"]),
        format!(
            "{{\n   \"queues\": [\n      {{\"id\": \"4242\", \"state\": \"EINVAL\"}},\n      \
             {{\"id\": \"{a}\", \"state\": \"waiting\"}},\n      \
             {{\"id\": \"{b}\", \"state\": \"ready\"}}\n   ]\n}}\n"
        )
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// A store path that does not exist is an error for every command that reads one (only
/// `mk` and `limits set` create a store); one in a missing directory says so.
#[test]
fn a_missing_store_is_an_error() {
    let d = scratch();
    let s = d.join("none");
    let s = s.to_str().unwrap();
    for args in [
        vec!["list"],
        vec!["list", "--json"],
        vec!["show", "0"],
        vec!["limits"],
        vec!["limits", "--json"],
        vec!["rm", "--all"],
        vec!["recv", "0", "--nowait"],
    ] {
        let mut all = vec!["--store", s];
        all.extend(&args);
        fails(&msgq(&all, &[]), 1, &[&format!("no msgq store at {s}")]);
        let o = msgq(&args, &[("MSGQ_STORE", s), ("MSGQ_BACKEND", "user")]);
        fails(&o, 1, &[&format!("no msgq store at {s}")]);
    }
    let o = msgq(&["--store", "/nonexistent/x", "list"], &[]);
    fails(
        &o,
        1,
        &["no msgq store at /nonexistent/x: /nonexistent is not a directory"],
    );
    let o = msgq(&["--store", "/nonexistent/x", "check"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!Path::new(s).exists());
    let _ = std::fs::remove_dir_all(&d);
}

/// `msgq ARGS` with `input` on standard input.
fn msgq_in(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut c = Command::new(env!("CARGO_BIN_EXE_msgq"))
        .args(args)
        .env_remove("MSGQ_BACKEND")
        .env_remove("MSGQ_STORE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(input).unwrap();
    c.wait_with_output().unwrap()
}

/// `send --file` and `recv --raw` / `recv --file` carry bytes exactly: all 256 byte values,
/// an empty message, standard input; `recv` without --raw adds the newline.
#[test]
fn binary_messages_round_trip() {
    let (d, s, id) = one_queue();
    let all: Vec<u8> = (0..=255u8).collect();
    let f = d.join("all.bin");
    std::fs::write(&f, &all).unwrap();
    let fs = f.to_str().unwrap();
    ok(&s, &["send", &id, "--file", fs]);
    let o = msgq(&["--store", &s, "recv", &id, "--raw"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, all);
    // Standard input, `-f -`, with the bytes reversed; then an empty message.
    let rev: Vec<u8> = all.iter().rev().copied().collect();
    let o = msgq_in(
        &["--store", &s, "send", &id, "-f", "-", "--type", "9"],
        &rev,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = msgq_in(&["--store", &s, "send", &id, "--file", "-"], b"");
    assert!(o.status.success(), "{}", stderr(&o));
    let got = d.join("got.bin");
    let gs = got.to_str().unwrap();
    ok(&s, &["recv", &id, "--file", gs, "--type", "9"]);
    assert_eq!(std::fs::read(&got).unwrap(), rev);
    let o = msgq(&["--store", &s, "recv", &id, "--raw"], &[]);
    assert!(o.status.success() && o.stdout.is_empty(), "{o:?}");
    // The text form: the newline is added.
    ok(&s, &["send", &id, "--file", fs]);
    let o = msgq(&["--store", &s, "recv", &id], &[]);
    assert_eq!(o.stdout[..256], all[..]);
    assert_eq!(o.stdout[256..], b"\n"[..]);
    // A file longer than msgmax: EINVAL naming the rule, without reading it all.
    let big = d.join("big");
    std::fs::write(&big, vec![7u8; 9000]).unwrap();
    let o = msgq(
        &["--store", &s, "send", &id, "--file", big.to_str().unwrap()],
        &[],
    );
    fails(&o, 1, &["EINVAL", "more than msgmax (8192)"]);
    let o = msgq(
        &["--store", &s, "send", &id, "--file", "/nonexistent/f"],
        &[],
    );
    fails(&o, 1, &["/nonexistent/f: No such file"]);
    let o = msgq(&["--store", &s, "send", &id, "x", "--file", fs], &[]);
    fails(&o, 2, &["cannot be used with"]);
    let o = msgq(&["--store", &s, "recv", &id, "--raw", "--print-type"], &[]);
    fails(&o, 2, &["cannot be used with"]);
    let _ = std::fs::remove_dir_all(&d);
}

/// `list` as `lsipc -q`: its default columns, `-o`, `--raw`, `--noheadings`, `--export`,
/// `-P`, `--json` (`{"messages": [...]}`, strings), user names; `show --json`; `rm --all`;
/// `limits --json`; `check --json`.
#[test]
fn lsipc_conventions() {
    let (d, s, id) = one_queue();
    ok(&s, &["mk", "--key", "0x2a", "--mode", "600"]);
    ok(&s, &["send", &id, "hello", "--type", "2"]);
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let me = ok(&s, &["list", "-o", "USER", "--noheadings", "--raw"]);
    let me = me.lines().next().unwrap().to_owned();
    let name = if uid == 0 {
        "root".to_owned()
    } else {
        me.clone()
    };
    assert_eq!(me, name);
    let t = ok(&s, &["list"]);
    let mut lines = t.lines();
    let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        head,
        [
            "KEY",
            "ID",
            "PERMS",
            "OWNER",
            "USEDBYTES",
            "MSGS",
            "LSPID",
            "LRPID"
        ]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(row[..6], ["0x00000000", &id, "rw-r--r--", &name, "5", "1"]);
    let raw = ok(
        &s,
        &["list", "-o", "key,ID,PERMS", "--raw", "--noheadings", "-P"],
    );
    assert_eq!(raw, format!("0x00000000 {id} 644\n0x0000002a 1 600\n"));
    let raw = ok(&s, &["list", "-o", "+QBYTES", "-r"]);
    assert!(
        raw.starts_with("KEY ID PERMS OWNER USEDBYTES MSGS LSPID LRPID QBYTES\n"),
        "{raw}"
    );
    let e = ok(&s, &["list", "--export", "-o", "ID,MSGS,SEND"]);
    assert!(
        e.starts_with(&format!("ID=\"{id}\" MSGS=\"1\" SEND=\"20")),
        "{e}"
    );
    assert!(e.ends_with("ID=\"1\" MSGS=\"0\" SEND=\"\"\n"), "{e}");
    let j = ok(&s, &["list", "--json", "-o", "ID,MSGS,RECV,OWNER"]);
    assert_eq!(
        j,
        format!(
            "{{\n   \"messages\": [\n      {{\n         \"id\": \"{id}\",\n         \"msgs\": \"1\",\n         \
             \"recv\": null,\n         \"owner\": \"{name}\"\n      }},{{\n         \"id\": \"1\",\n         \
             \"msgs\": \"0\",\n         \"recv\": null,\n         \"owner\": \"{name}\"\n      }}\n   ]\n}}\n"
        )
    );
    let j = ok(&s, &["show", "1", "--json"]);
    for kv in [
        "\"key\": \"0x0000002a\"",
        "\"perms\": \"rw-------\"",
        "\"qbytes\": \"16384\"",
        "\"cgroup\": ",
        "\"send\": null",
    ] {
        assert!(j.contains(kv), "{kv} not in {j}");
    }
    let o = msgq(&["--store", &s, "list", "-o", "KEY,NOPE"], &[]);
    fails(&o, 1, &["unknown column: NOPE"]);
    let o = msgq(&["--store", &s, "list", "--json", "--raw"], &[]);
    fails(&o, 2, &["cannot be used with"]);
    let l = ok(&s, &["limits", "--json"]);
    assert_eq!(
        l,
        "{\"msgmax\":8192,\"msgmnb\":16384,\"msgmni\":32000,\"msg_next_id\":-1}\n"
    );
    let c = ok(&s, &["check", "--json"]);
    assert!(
        c.starts_with(&format!(
            "{{\"store\": \"{s}\", \"ok\": true, \"checks\": [{{\"ok\": true, \"text\": \"header: "
        )),
        "{c}"
    );
    let o = msgq(&["--store", &s, "rm", "--all", "1"], &[]);
    fails(&o, 2, &["cannot be used with"]);
    ok(&s, &["rm", "--all"]);
    assert_eq!(ok(&s, &["list", "--noheadings"]), "");
    ok(&s, &["rm", "-a"]);
    let _ = std::fs::remove_dir_all(&d);
}

/// Failures name the rule broken: a missing queue, a key that exists with --excl, the
/// msgmni limit, a message longer than --size, no message with --nowait, a limit outside
/// its range, a store that is a directory.
#[test]
fn errors_name_the_rule() {
    let (d, s, id) = one_queue();
    ok(&s, &["send", &id, "helloworld", "--type", "3"]);
    let cases: [(&[&str], &[&str]); 12] = [
        (&["send", "77", "x"], &["EINVAL", "no queue with id 77"]),
        (&["recv", "77"], &["EINVAL", "no queue with id 77"]),
        (&["purge", "77"], &["EINVAL", "no queue with id 77"]),
        (
            &["abort", "77", "--both"],
            &["EINVAL", "no queue with id 77"],
        ),
        (&["rm", "77"], &["id 77", "EINVAL", "no queue with this id"]),
        (
            &["recv", &id, "--size", "3"],
            &["E2BIG", "longer than the 3 bytes"],
        ),
        (
            &["recv", &id, "--nowait", "--type", "5"],
            &["ENOMSG", "no message of type 5"],
        ),
        (
            &["recv", &id, "--nowait", "--type", "3", "--except"],
            &["ENOMSG", "of a type other than 3"],
        ),
        (
            &["recv", &id, "--nowait", "--type", "-2"],
            &["ENOMSG", "type 2 or lower"],
        ),
        (
            &["mk", "--key", "9", "--excl"],
            &["EEXIST", "key 0x00000009 exists"],
        ),
        (
            &["limits", "set", "--msgmni", "40000"],
            &["EINVAL", "range 0..=32768"],
        ),
        (
            &["limits", "set", "--msgmax", "-1"],
            &["EINVAL", "range 0..=2147483647"],
        ),
    ];
    ok(&s, &["mk", "--key", "9"]);
    for (args, words) in cases {
        let mut all = vec!["--store", s.as_str()];
        all.extend(args);
        fails(&msgq(&all, &[]), 1, words);
    }
    ok(&s, &["limits", "set", "--msgmni", "2"]);
    let o = msgq(&["--store", &s, "mk", "--key", "10"], &[]);
    fails(&o, 1, &["ENOSPC", "msgmni (2) queues exist"]);
    let o = msgq(&["--store", d.to_str().unwrap(), "mk"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let o = msgq(&["--store", d.to_str().unwrap(), "list"], &[]);
    fails(&o, 1, &["Is a directory (EISDIR): a store is a file"]);
    let _ = std::fs::remove_dir_all(&d);
}
