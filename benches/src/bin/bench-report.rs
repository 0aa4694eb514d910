//! Writes `bench-report/report.md` from criterion's results.
//!
//! Usage: `bench-report [CRITERION_DIR [OUT]]` (defaults: the workspace's `target/criterion`
//! and `bench-report/report.md` at the workspace root). It reads every
//! `<dir>/**/new/benchmark.json` + `estimates.json` that the `ipc` benchmark wrote (ids
//! `<row>/<implementation>/<parameter>`), plus the `msgq-extra.txt` memory figures and the
//! guest benchmark's `msgq-guest.txt` (row 7, see `msgq_benches::row7`), and prints a table of
//! medians with msgq/native ratios and the issue-7 targets met or missed.

use msgq_benches::criterion_dir;
use msgq_benches::results::{collect, fmt_ratio, fmt_time, get, Results};
use msgq_benches::row7;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn fmt_rate(ns: f64) -> String {
    let per_s = 1e9 / ns;
    if per_s >= 1e6 {
        format!("{:.2} M msg/s", per_s / 1e6)
    } else if per_s >= 1e4 {
        format!("{:.0} k msg/s", per_s / 1e3)
    } else {
        format!("{per_s:.0} msg/s")
    }
}

struct Row {
    label: &'static str,
    group: &'static str,
    param: &'static str,
    rate: bool,
}

const ROWS: &[Row] = &[
    row(
        "0 create + remove a queue",
        "0-create-remove",
        "queue",
        false,
    ),
    row("1 pair in one process, 8 B", "1-pair", "8B", false),
    row("1 pair in one process, 1 KiB", "1-pair", "1KiB", false),
    row("1 pair in one process, 8 KiB", "1-pair", "8KiB", false),
    row("2 stream, 2 processes, 8 B", "2-stream", "8B", true),
    row("2 stream, 2 processes, 1 KiB", "2-stream", "1KiB", true),
    row("2 stream, 2 processes, 8 KiB", "2-stream", "8KiB", true),
    row("3 ping-pong round trip, 8 B", "3-pingpong", "8B", false),
    row("4 typed msgtyp>0, N = 1", "4-typed-positive", "1", false),
    row(
        "4 typed msgtyp>0, N = 100",
        "4-typed-positive",
        "100",
        false,
    ),
    row(
        "4 typed msgtyp>0, N = 10000",
        "4-typed-positive",
        "10000",
        false,
    ),
    row("4 typed msgtyp<0, N = 1", "4-typed-negative", "1", false),
    row(
        "4 typed msgtyp<0, N = 100",
        "4-typed-negative",
        "100",
        false,
    ),
    row(
        "4 typed msgtyp<0, N = 10000",
        "4-typed-negative",
        "10000",
        false,
    ),
    row("4 typed MSG_EXCEPT, N = 1", "4-typed-except", "1", false),
    row(
        "4 typed MSG_EXCEPT, N = 100",
        "4-typed-except",
        "100",
        false,
    ),
    row(
        "4 typed MSG_EXCEPT, N = 10000",
        "4-typed-except",
        "10000",
        false,
    ),
    row(
        "4 typed, N others of N distinct types, N = 1",
        "4-typed-distinct",
        "1",
        false,
    ),
    row(
        "4 typed, N others of N distinct types, N = 100",
        "4-typed-distinct",
        "100",
        false,
    ),
    row(
        "4 typed, N others of N distinct types, N = 10000",
        "4-typed-distinct",
        "10000",
        false,
    ),
    row(
        "5 send+recv, R = 0 blocked",
        "5-blocked-receivers",
        "0",
        false,
    ),
    row(
        "5 send+recv, R = 100 blocked",
        "5-blocked-receivers",
        "100",
        false,
    ),
    row(
        "5 send+recv, R = 1000 blocked",
        "5-blocked-receivers",
        "1000",
        false,
    ),
    row(
        "6 4 senders + 4 receivers, 1 KiB",
        "6-mpmc-4x4",
        "1KiB",
        true,
    ),
    row(
        "8 independent queues: P = 1 process, 8 B pairs",
        "8-independent-queues",
        "P1",
        true,
    ),
    row(
        "8 independent queues: P = 2 processes, a queue each",
        "8-independent-queues",
        "P2",
        true,
    ),
];

const fn row(label: &'static str, group: &'static str, param: &'static str, rate: bool) -> Row {
    Row {
        label,
        group,
        param,
        rate,
    }
}

fn cmd(prog: &str, args: &[&str]) -> String {
    std::process::Command::new(prog)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = cpus();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_owned()))
        .unwrap_or_default();
    let kb: f64 = mem
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|s| s.trim_matches('"').to_owned())
        .unwrap_or_default();
    format!(
        "{cpus} vCPU {model}, {:.0} GiB RAM, Linux {}, {os}, {}",
        kb / (1 << 20) as f64,
        cmd("uname", &["-r"]),
        cmd("rustc", &["--version"])
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().map(PathBuf::from).unwrap_or_else(criterion_dir);
    let out = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench-report/report.md"));
    let mut res = Results::new();
    collect(&dir, &mut res);
    let guest = row7::Guest::read(&dir);
    if res.is_empty() && guest.is_none() {
        eprintln!(
            "bench-report: no criterion results under {} (run `make bench`)",
            dir.display()
        );
        std::process::exit(1);
    }
    let extra: BTreeMap<String, String> = std::fs::read_to_string(dir.join("msgq-extra.txt"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();

    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# msgq benchmarks: msgq against native System V IPC\n");
    let dir_of_repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let repo = dir_of_repo.to_string_lossy();
    // MSGQ_BENCH_COMMIT names the commit when the tree is not a git checkout.
    let (commit, dirty) = match std::env::var("MSGQ_BENCH_COMMIT") {
        Ok(c) => (c, false),
        Err(_) => (
            cmd("git", &["-C", &repo, "rev-parse", "--short", "HEAD"]),
            !cmd(
                "git",
                &["-C", &repo, "status", "--porcelain", "--untracked-files=no"],
            )
            .is_empty(),
        ),
    };
    let _ = writeln!(
        w,
        "Measured {} on {}, at commit {}{}.\n",
        cmd("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        machine(),
        if commit.is_empty() {
            "unknown"
        } else {
            &commit
        },
        if dirty {
            " with uncommitted changes"
        } else {
            ""
        }
    );
    if let (Some(a), Some(b)) = (extra.get("loadavg.start"), extra.get("loadavg.end")) {
        let _ = writeln!(
            w,
            "Load average (1, 5, 15 min) when the run started: {a}; when it ended: {b}. \
             Anything above about 1 means other work shared the two vCPUs.\n"
        );
        let one = |l: &str| l.split_whitespace().next()?.parse::<f64>().ok();
        let worst = one(a).into_iter().chain(one(b)).fold(0.0, f64::max);
        if worst > 2.0 * cpus() as f64 {
            let _ = writeln!(
                w,
                "**Warning: the machine was heavily loaded during this run (load {worst:.1} \
                 on {} CPUs); the figures, especially the cross-process rows, include other \
                 work. Run `make bench` again on a quiet machine before quoting them.**\n",
                cpus()
            );
        }
    }
    let _ = writeln!(
        w,
        "Criterion medians, native and msgq in the same run (`make bench`; how each row is \
         measured: `docs/benchmarks.md`). `msgq` is the engine's Rust API, `msgq-raw` its \
         C-shaped calls (what the LD_PRELOAD shim costs). Ratios are msgq time ÷ native \
         time: below 1 msgq is faster. Rows 2 and 6 show messages per second (time per \
         message in the ratio). Criterion's HTML: `target/criterion/report/index.html`.\n"
    );
    let _ = writeln!(
        w,
        "| Row | native | msgq | msgq/native | msgq-raw | msgq-raw/native |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|");
    for r in ROWS {
        let f = |ns: Option<f64>| match ns {
            Some(ns) if r.rate => format!("{} ({})", fmt_rate(ns), fmt_time(ns)),
            Some(ns) => fmt_time(ns),
            None => "–".into(),
        };
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => fmt_ratio(a / b),
            _ => "–".into(),
        };
        let n = get(&res, r.group, "native", r.param);
        let m = get(&res, r.group, "msgq", r.param);
        let raw = get(&res, r.group, "msgq-raw", r.param);
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} |",
            r.label,
            f(n),
            f(m),
            ratio(m, n),
            f(raw),
            ratio(raw, n)
        );
    }
    let _ = writeln!(
        w,
        "| 9 pair, 8 B, timed receive (issue 14) | see [Row 9](#row-9-a-timed-receive-issue-14) | | | | |"
    );
    let _ = writeln!(
        w,
        "| 7 guest: native vs kernel module through the shim, rows 1, 4, 5 | {} | | | | |\n",
        if guest.is_some() {
            "in the guest, see [Row 7](#row-7-the-kernel-module-in-the-guest)"
        } else {
            "not measured: run `make bench-guest`"
        }
    );

    // Row 9.
    let t9 = |imp: &str, p: &str| get(&res, "9-timed-receive", imp, p);
    let (n9, u9, t9f, t9e) = (
        t9("native", "8B"),
        t9("msgq", "8B"),
        t9("msgq-timed", "8B"),
        t9("msgq-timed", "8B-deadline-in"),
    );
    let time = |ns: Option<f64>| ns.map_or("–".into(), fmt_time);
    let over = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => fmt_ratio(a / b),
        _ => "–".into(),
    };
    let _ = writeln!(w, "## Row 9: a timed receive (issue 14)\n");
    let _ = writeln!(
        w,
        "An 8-byte send then a receive of it, in one process, on a store file: the receive \
         untimed (`Store::receive`) or timed (`Store::receive_with(.., Some(deadline))`, the \
         deadline an hour away: made once, or made in every iteration with `deadline_in`, \
         which adds a `CLOCK_MONOTONIC` read). A message waits, so no call blocks.\n"
    );
    let _ = writeln!(
        w,
        "| | native | msgq untimed | msgq timed | timed, deadline each time |\n|---|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        w,
        "| median | {} | {} | {} | {} |",
        time(n9),
        time(u9),
        time(t9f),
        time(t9e)
    );
    let _ = writeln!(
        w,
        "| ÷ native | 1 | {} | {} | {} |",
        over(u9, n9),
        over(t9f, n9),
        over(t9e, n9)
    );
    let _ = writeln!(
        w,
        "| ÷ msgq untimed | | 1 | {} | {} |\n",
        over(t9f, u9),
        over(t9e, u9)
    );
    let paired = extra
        .get("row9.paired_ratio")
        .and_then(|v| v.parse::<f64>().ok());
    if let Some(p) = paired {
        let e9 = |k: &str| extra.get(k).map_or("–", String::as_str);
        let _ = writeln!(
            w,
            "Paired (outside criterion, same run): {} rounds, each {} pairs with each of \
             `receive`, `receive_with(.., None)` and `receive_with(.., Some(deadline))` back \
             to back on one queue (order rotating), so all three see the same load. Medians \
             of the rounds: timed ÷ untimed **{p:.3}** (10th–90th percentile {}–{}); \
             `receive_with` without a deadline ÷ untimed {}; timed ÷ `receive_with` without \
             a deadline {}; {} / {} / {} ns. This is the figure the verdict uses.\n",
            e9("row9.paired_rounds"),
            e9("row9.paired_block"),
            e9("row9.paired_ratio_p10"),
            e9("row9.paired_ratio_p90"),
            e9("row9.paired_ext_none_ratio"),
            e9("row9.paired_deadline_ratio"),
            e9("row9.paired_untimed_ns"),
            e9("row9.paired_ext_none_ns"),
            e9("row9.paired_timed_ns"),
        );
    }

    // Memory.
    let e = |k: &str| extra.get(k).cloned().unwrap_or_else(|| "–".into());
    let _ = writeln!(w, "## Store memory (msgq)\n");
    let _ = writeln!(
        w,
        "Bytes of the store file actually in memory (`st_blocks × 512`; the file is sparse), \
         measured on a fresh store. Native queues live in kernel memory and are not measured.\n"
    );
    let _ = writeln!(w, "| What | Bytes |\n|---|---:|");
    let _ = writeln!(w, "| fresh store | {} |", e("mem.store_empty_bytes"));
    let _ = writeln!(
        w,
        "| per queue (average over {} queues) | {} |",
        e("mem.queues"),
        e("mem.bytes_per_queue")
    );
    let _ = writeln!(
        w,
        "| per queued byte, 1 KiB messages ({} bytes queued) | {} |",
        e("mem.queued_bytes_1k"),
        e("mem.bytes_per_queued_byte_1k")
    );
    let _ = writeln!(
        w,
        "| per queued 8-byte message ({} messages) | {} |",
        e("mem.small_messages"),
        e("mem.bytes_per_8b_message")
    );
    let _ = writeln!(
        w,
        "| peak store / after removing every queue | {} / {} |\n",
        e("mem.store_peak_bytes"),
        e("mem.store_after_remove_bytes")
    );

    if let Some(g) = &guest {
        w.push_str(&g.section());
    }
    w.push_str(&valkey_section(&res));

    // Targets.
    let _ = writeln!(w, "## Issue 7 targets\n");
    let g = |group: &str, imp: &str, p: &str| get(&res, group, imp, p);
    let distinct_info = g("4-typed-distinct", "msgq", "10000")
        .zip(g("4-typed-distinct", "msgq", "1"))
        .map(|(a, b)| {
            format!(
                "- **info** row 4 with N distinct types (not an issue-7 target): msgq at \
                 N = 10 000 is {:.2}× its cost at N = 1 ({} vs {})",
                a / b,
                fmt_time(a),
                fmt_time(b)
            )
        });
    let mut target = |name: &str, cond: Option<(bool, String)>| {
        let _ = match cond {
            Some((met, why)) => writeln!(
                w,
                "- **{}** {name}: {why}",
                if met { "met" } else { "MISSED" }
            ),
            None => writeln!(w, "- **not measured** {name}"),
        };
    };
    for imp in ["msgq", "msgq-raw"] {
        target(
            &format!("row 1 ({imp}): at least 15× faster than native at 8 B"),
            g("1-pair", "native", "8B")
                .zip(g("1-pair", imp, "8B"))
                .map(|(n, m)| (n / m >= 15.0, format!("{:.1}×", n / m))),
        );
    }
    for imp in ["msgq", "msgq-raw"] {
        target(
            &format!("row 2 ({imp}): at least 4× native's messages per second at 8 B"),
            g("2-stream", "native", "8B")
                .zip(g("2-stream", imp, "8B"))
                .map(|(n, m)| {
                    (
                        n / m >= 4.0,
                        format!("{:.1}× ({} vs {})", n / m, fmt_rate(m), fmt_rate(n)),
                    )
                }),
        );
    }
    for imp in ["msgq", "msgq-raw"] {
        target(
            &format!("row 3 ({imp}): round trip no slower than native"),
            g("3-pingpong", "native", "8B")
                .zip(g("3-pingpong", imp, "8B"))
                .map(|(n, m)| {
                    (
                        m <= n,
                        format!("{} vs {} ({:.2}×)", fmt_time(m), fmt_time(n), m / n),
                    )
                }),
        );
    }
    for (mode, group) in [
        ("msgtyp > 0", "4-typed-positive"),
        ("msgtyp < 0", "4-typed-negative"),
        ("MSG_EXCEPT", "4-typed-except"),
    ] {
        let native = g(group, "native", "10000")
            .zip(g(group, "native", "1"))
            .map(|(a, b)| format!("; native grows {:.1}×", a / b))
            .unwrap_or_default();
        target(
            &format!("row 4 ({mode}): msgq at N = 10 000 within 2× of N = 1"),
            g(group, "msgq", "10000")
                .zip(g(group, "msgq", "1"))
                .map(|(a, b)| {
                    (
                        a / b <= 2.0,
                        format!("{:.2}× ({} vs {}){native}", a / b, fmt_time(a), fmt_time(b)),
                    )
                }),
        );
    }
    target(
        "row 5: msgq's send cost independent of R (R = 100 and 1000 within 1.25× of R = 0)",
        g("5-blocked-receivers", "msgq", "0").and_then(|z| {
            let a = g("5-blocked-receivers", "msgq", "100")?;
            let b = g("5-blocked-receivers", "msgq", "1000")?;
            let native = g("5-blocked-receivers", "native", "1000")
                .zip(g("5-blocked-receivers", "native", "0"))
                .map(|(x, y)| format!("; native grows {:.1}×", x / y))
                .unwrap_or_default();
            Some((
                a / z <= 1.25 && b / z <= 1.25,
                format!("R=100: {:.2}×, R=1000: {:.2}×{native}", a / z, b / z),
            ))
        }),
    );
    target(
        "row 8 (issue 13): msgq's aggregate pairs/s at P = 2 at least 1.8× P = 1",
        g("8-independent-queues", "msgq", "P1")
            .zip(g("8-independent-queues", "msgq", "P2"))
            .map(|(one, two)| {
                let native = g("8-independent-queues", "native", "P1")
                    .zip(g("8-independent-queues", "native", "P2"))
                    .map(|(a, b)| format!("; native {:.2}×", a / b))
                    .unwrap_or_default();
                (
                    one / two >= 1.8,
                    format!(
                        "{:.2}× ({} vs {}){native}",
                        one / two,
                        fmt_rate(two),
                        fmt_rate(one)
                    ),
                )
            }),
    );
    target(
        "row 9 (issue 14): a timed receive costs no more than an untimed one when a message \
         waits, within 5 % (paired timed ÷ untimed ≤ 1.05; without the paired figure, \
         criterion's medians ≤ 1.10)",
        t9f.zip(u9).map(|(t, u)| {
            let crit = format!(
                "criterion {:.2}× ({} vs {}), with `deadline_in` in every iteration {}",
                t / u,
                fmt_time(t),
                fmt_time(u),
                over(t9e, u9)
            );
            match paired {
                Some(p) => (p <= 1.05, format!("paired {p:.3}×; {crit}")),
                None => (t / u <= 1.10, crit),
            }
        }),
    );
    for (name, cond) in row7::Guest::targets(guest.as_ref()) {
        target(&name, cond);
    }
    if let Some(line) = distinct_info {
        let _ = writeln!(w, "{line}");
    }
    let _ = writeln!(
        w,
        "\nBenchmarks are measurements, not tests: nothing here fails a build. On a 2-vCPU \
         machine the cross-process rows (2, 3, 6) vary by tens of percent between runs."
    );

    if let Some(parent) = out.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if let Err(e) = std::fs::write(&out, &md) {
        eprintln!("bench-report: cannot write {}: {e}", out.display());
        std::process::exit(1);
    }
    print!("{md}");
    eprintln!("bench-report: wrote {}", out.display());
}

/// Row 10 (issue 17): the Valkey backend (`benches/benches/valkey.rs`), if it was run.
fn valkey_section(res: &Results) -> String {
    let g = |group: &str, imp: &str, p: &str| get(res, group, imp, p);
    let Some(vk) = g("10-valkey-pair", "valkey", "8B") else {
        return String::new();
    };
    let mut w = String::new();
    let _ = writeln!(
        w,
        "## Row 10: the Valkey backend\n\n`cargo bench -p msgq-benches --bench valkey` \
         (`make bench`): servers started by the benchmark on loopback, no persistence. A pair \
         is two calls, each a round trip to the server and a library function run there.\n"
    );
    let _ = writeln!(
        w,
        "| 8-byte pair, one thread | time | valkey / it |\n|---|---:|---:|"
    );
    for imp in ["native", "msgq", "valkey"] {
        if let Some(t) = g("10-valkey-pair", imp, "8B") {
            let _ = writeln!(w, "| {imp} | {} | {:.0}× |", fmt_time(t), vk / t);
        }
    }
    let one = g("10-valkey-aggregate", "1-shard", "T6");
    let three = g("10-valkey-aggregate", "3-shards", "T6");
    if let (Some(a), Some(b)) = (one, three) {
        let _ = writeln!(
            w,
            "\n| 6 threads, a queue and a client each: pairs per second | one node | three-master \
             cluster | 3 / 1 |\n|---|---:|---:|---:|\n| aggregate | {:.0} | {:.0} | {:.2}× |",
            1e9 / a,
            1e9 / b,
            a / b
        );
    }
    let _ = writeln!(w);
    w
}
