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

/// Runs `msgq ARGS` with `env` set and the selection variables otherwise unset.
fn msgq(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_msgq"));
    c.args(args)
        .env_remove("MSGQ_BACKEND")
        .env_remove("MSGQ_STORE")
        .env_remove("LD_PRELOAD");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
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
    assert!(j.contains(&format!("\"id\":{id},\"key\":119")), "{j}");
    assert!(
        j.contains("\"qnum\":1") && j.contains("\"mode\":\"600\""),
        "{j}"
    );
    let o = msgq(&["--store", s, "recv", &id, "--print-type"], &[]);
    assert_eq!(stdout(&o), "4\thi there\n", "{}", stderr(&o));
    let o = msgq(&["--store", s, "rm", "--key", "0x77"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = msgq(&["--store", s, "list", "--json"], &[]);
    assert_eq!(stdout(&o), "[]\n");
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
    fails(&o, 1, &["Invalid argument (EINVAL)"]);
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
    let o = Command::new("unshare")
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
}
