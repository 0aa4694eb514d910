//! `conformance [--backend native|engine|both|kmod|valkey] [--list] [--timeout-scale N] [FILTER…]`:
//! runs the differential conformance suite (FILTER: substrings of case names; a case runs if
//! any matches). `--timeout-scale N` multiplies every case's timeout (slow guests).

use msgq_tests::backend::Kind;
use msgq_tests::cases;
use msgq_tests::harness::{self, Verdict};
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: conformance [--backend native|engine|both|kmod|valkey] [--list] [-v] \
         [--timeout-scale N] [FILTER...]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("__worker") {
        return ExitCode::from(msgq_tests::worker::main(&args[1..]) as u8);
    }
    msgq_tests::procs::quiet_panics();
    msgq_tests::procs::become_subreaper();
    let mut kinds = vec![Kind::Native, Kind::Engine];
    let mut list = false;
    let mut verbose = false;
    let mut filters = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--list" => list = true,
            "-v" | "--verbose" => verbose = true,
            "--backend" => match it.next().map(String::as_str) {
                Some("native") => kinds = vec![Kind::Native],
                Some("engine") => kinds = vec![Kind::Engine],
                Some("both") => kinds = vec![Kind::Native, Kind::Engine],
                // The kernel module against the kernel (run as root: each case empties the
                // module's namespace with MSGQ_RESET).
                Some("kmod") => kinds = vec![Kind::Native, Kind::Kmod],
                // The Valkey backend against the kernel, on the server at
                // $MSGQ_TEST_VALKEY_URL, or on one started here.
                Some("valkey") => kinds = vec![Kind::Native, Kind::Valkey],
                _ => return usage(),
            },
            "--timeout-scale" => match it.next().and_then(|n| n.parse::<u32>().ok()) {
                Some(n) if n >= 1 => harness::set_timeout_scale(n),
                _ => return usage(),
            },
            "-h" | "--help" => return usage(),
            f if f.starts_with('-') => return usage(),
            f => filters.push(f.to_string()),
        }
    }
    if kinds.contains(&Kind::Kmod) {
        drop_cap_sys_resource();
    }
    // Kept until the suite ends: the server stops when dropped.
    let _server = if kinds.contains(&Kind::Valkey)
        && std::env::var_os("MSGQ_TEST_VALKEY_URL").is_none()
    {
        match msgq_valkey::testing::Server::start() {
            Ok(s) => {
                std::env::set_var("MSGQ_TEST_VALKEY_URL", s.url());
                Some(s)
            }
            Err(e) => {
                eprintln!("conformance: cannot start a Valkey server: {e} (tests/valkey/deps.sh)");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    let all = cases::all();
    let selected: Vec<_> = all
        .iter()
        .filter(|c| filters.is_empty() || filters.iter().any(|f| c.name.contains(f.as_str())))
        .collect();
    if selected.is_empty() {
        eprintln!("conformance: no case matches {filters:?} (see --list)");
        return ExitCode::from(2);
    }
    if list {
        for c in &selected {
            println!(
                "{}{}",
                c.name,
                c.note.map(|n| format!("  ({n})")).unwrap_or_default()
            );
        }
        return ExitCode::SUCCESS;
    }
    let (mut passed, mut failed, mut known) = (0, 0, Vec::new());
    let mut failed_names = Vec::new();
    for (i, c) in selected.iter().enumerate() {
        let traces = harness::run_case(c, &kinds, i);
        msgq_tests::procs::reap_orphans();
        if verbose {
            for (k, t) in kinds.iter().zip(&traces) {
                println!("  [{}]", k.name());
                for st in &t.steps {
                    println!("      {} = {}", st.label, st.value);
                }
                for v in &t.violations {
                    println!("      violation {}: {}", v.label, v.text);
                }
                if let Some(e) = &t.error {
                    println!("      error: {e}");
                }
            }
        }
        let note = c
            .note
            .map(|n| format!("  [partial: {n}]"))
            .unwrap_or_default();
        match harness::judge(c, &kinds, &traces) {
            Verdict::Ok => {
                passed += 1;
                println!("ok    {}{note}", c.name);
            }
            Verdict::Known(reason) => {
                passed += 1;
                known.push(c.name);
                println!("divergence(known) {}: {reason}{note}", c.name);
            }
            Verdict::Fail(why) => {
                failed += 1;
                failed_names.push(c.name);
                println!("FAIL  {}{note}\n{why}", c.name);
            }
        }
    }
    if !failed_names.is_empty() {
        println!("failed: {}", failed_names.join(" "));
    }
    println!("known divergences: {} ({})", known.len(), known.join(" "));
    println!("conformance: {passed} passed, {failed} failed");
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The suite's expectations are those of root *without* `CAP_SYS_RESOURCE` (the machine the
/// spec was checked on). In the test VM root has it, so for `--backend kmod` it is dropped from
/// the bounding set and the program re-executes itself: root's new capabilities then lack it.
fn drop_cap_sys_resource() {
    const CAP_SYS_RESOURCE: libc::c_ulong = 24;
    // SAFETY: prctl reads of the bounding set take no pointers.
    let present = unsafe { libc::prctl(libc::PR_CAPBSET_READ, CAP_SYS_RESOURCE) } == 1;
    if !present {
        return;
    }
    // SAFETY: as above; dropping a capability from our own bounding set.
    if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, CAP_SYS_RESOURCE) } != 0 {
        return;
    }
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new("/proc/self/exe")
        .args(std::env::args_os().skip(1))
        .exec();
    eprintln!("conformance: re-exec without CAP_SYS_RESOURCE: {err}");
}
