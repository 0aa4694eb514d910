//! Row 7 of the report: rows 1, 4 and 5 in the test VM, the guest kernel's native queues
//! against the kernel module (`/dev/msgq`) through the shim's `kmod` backend code.
//!
//! The guest benchmark (`benches/guest.rs`) prints `@@BENCH ...` lines on the guest's console;
//! `make bench-guest` keeps them, adds what the host knows (date, host load, guest run time),
//! and writes [`FILE`] next to criterion's results:
//!
//! ```text
//! meta <key> <value...>
//! bench <group> <implementation> <parameter> <median ns>
//! round <group> <implementation> <parameter> <median ns of each round...>
//! ```
//!
//! A `bench` figure is the median of the rounds' medians (the guest runs the set several
//! times, see `benches/guest.rs`).
//!
//! `bench-report` turns that file into the row-7 section and the row-7 targets.

use crate::results::{fmt_ratio, fmt_time, get, Results};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The results file's name, in criterion's directory.
pub const FILE: &str = "msgq-guest.txt";

/// The implementations compared in the guest: criterion function ids.
pub const NATIVE: &str = "native";
pub const MODULE: &str = "kmod";

/// The benchmarks of row 7, as (label, group, parameter).
const ROWS: &[(&str, &str, &str)] = &[
    ("1 pair in one process, 8 B", "1-pair", "8B"),
    ("1 pair in one process, 1 KiB", "1-pair", "1KiB"),
    ("1 pair in one process, 8 KiB", "1-pair", "8KiB"),
    ("4 typed msgtyp>0, N = 1", "4-typed-positive", "1"),
    ("4 typed msgtyp>0, N = 100", "4-typed-positive", "100"),
    ("4 typed msgtyp>0, N = 10000", "4-typed-positive", "10000"),
    ("4 typed msgtyp<0, N = 1", "4-typed-negative", "1"),
    ("4 typed msgtyp<0, N = 100", "4-typed-negative", "100"),
    ("4 typed msgtyp<0, N = 10000", "4-typed-negative", "10000"),
    ("4 typed MSG_EXCEPT, N = 1", "4-typed-except", "1"),
    ("4 typed MSG_EXCEPT, N = 100", "4-typed-except", "100"),
    ("4 typed MSG_EXCEPT, N = 10000", "4-typed-except", "10000"),
    ("5 send+recv, R = 0 blocked", "5-blocked-receivers", "0"),
    ("5 send+recv, R = 100 blocked", "5-blocked-receivers", "100"),
    (
        "5 send+recv, R = 1000 blocked",
        "5-blocked-receivers",
        "1000",
    ),
];

/// One guest run's results.
#[derive(Default)]
pub struct Guest {
    pub meta: BTreeMap<String, String>,
    pub res: Results,
    /// Each round's median, per benchmark.
    pub rounds: BTreeMap<(String, String, String), Vec<f64>>,
}

/// A target: its name, and whether it was met with the figures why (None: not measured).
pub type Target = (String, Option<(bool, String)>);

impl Guest {
    /// Reads `dir/FILE`; None when it is missing or holds no benchmark.
    pub fn read(dir: &Path) -> Option<Guest> {
        let g = Guest::parse(&std::fs::read_to_string(dir.join(FILE)).ok()?);
        (!g.res.is_empty()).then_some(g)
    }

    /// Parses the file's lines; lines of another shape are ignored.
    pub fn parse(text: &str) -> Guest {
        let mut g = Guest::default();
        for l in text.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                ["meta", k, v @ ..] => {
                    g.meta.insert(k.to_string(), v.join(" "));
                }
                ["bench", group, imp, param, ns] => {
                    if let Ok(ns) = ns.parse::<f64>() {
                        let key = (group.to_string(), imp.to_string(), param.to_string());
                        g.res.insert(key, ns);
                    }
                }
                ["round", group, imp, param, v @ ..] => {
                    if let Ok(v) = v.iter().map(|x| x.parse::<f64>()).collect() {
                        let key = (group.to_string(), imp.to_string(), param.to_string());
                        g.rounds.insert(key, v);
                    }
                }
                _ => {}
            }
        }
        g
    }

    fn get(&self, group: &str, imp: &str, param: &str) -> Option<f64> {
        get(&self.res, group, imp, param)
    }

    /// kmod/native per round, e.g. "0.98, 1.21, 1.10" (empty without round lines).
    fn round_ratios(&self, group: &str, param: &str) -> String {
        let key = |imp: &str| (group.to_owned(), imp.to_owned(), param.to_owned());
        match (self.rounds.get(&key(NATIVE)), self.rounds.get(&key(MODULE))) {
            (Some(n), Some(k)) if n.len() == k.len() => n
                .iter()
                .zip(k)
                .map(|(n, k)| format!("{:.2}", k / n))
                .collect::<Vec<_>>()
                .join(", "),
            _ => "–".into(),
        }
    }

    /// The report's row-7 section (markdown).
    pub fn section(&self) -> String {
        let mut w = String::new();
        let m = |k: &str| {
            self.meta
                .get(k)
                .map_or("unknown", String::as_str)
                .to_owned()
        };
        let _ = writeln!(w, "## Row 7: the kernel module in the guest\n");
        let _ = writeln!(
            w,
            "Measured {} (`make bench-guest`, commit {}) in the test VM: guest kernel Linux {} \
             ({} kernel), {} MiB, CPUs seen by the guest: {}, clocksource `{}`, under **QEMU \
             TCG emulation** (no KVM) on the host above (host load average at the start: {}; \
             at the end: {}); the guest ran {} s. Both implementations in the same guest run: \
             `native` is the guest kernel's System V queues (glibc's calls), `kmod` the kernel \
             module `msgq-kmod` through the shim's `kmod` backend code (one ioctl on \
             `/dev/msgq` per call). The set ran {} times (rounds, alternating which \
             implementation goes first); each figure is the median of the rounds' criterion \
             medians (1 s of measurement each), and the last column gives kmod/native in each \
             round, which shows how noisy the figures are. **Under TCG every guest instruction \
             is emulated, and system calls, TLB misses and copies between user and kernel \
             memory cost far more than on hardware; the emulator also shares the host's CPUs \
             with other work: the absolute times are not comparable with the host rows above, \
             only the ratios kmod/native within this table mean something.**\n",
            m("measured"),
            m("commit"),
            m("kernel"),
            m("variant"),
            m("mem_mib"),
            m("cpus"),
            m("clocksource"),
            m("host_loadavg_start"),
            m("host_loadavg_end"),
            m("guest_seconds"),
            m("rounds"),
        );
        let _ = writeln!(
            w,
            "| Row | native (guest) | kmod | kmod/native | kmod/native per round |"
        );
        let _ = writeln!(w, "|---|---:|---:|---:|---:|");
        for &(label, group, param) in ROWS {
            let n = self.get(group, NATIVE, param);
            let k = self.get(group, MODULE, param);
            let t = |x: Option<f64>| x.map_or_else(|| "–".into(), fmt_time);
            let ratio = n
                .zip(k)
                .map_or_else(|| "–".into(), |(n, k)| fmt_ratio(k / n));
            let _ = writeln!(
                w,
                "| {label} | {} | {} | {ratio} | {} |",
                t(n),
                t(k),
                self.round_ratios(group, param)
            );
        }
        w.push('\n');
        w
    }

    /// Row 7's targets: the module within 1.25× of native for row 1 (every size), flat in N
    /// (row 4's bound: N = 10 000 within 2× of N = 1, every mode) and in R (row 5's bound:
    /// R = 100 and 1000 within 1.25× of R = 0).
    pub fn targets(g: Option<&Guest>) -> Vec<Target> {
        let mut out = Vec::new();
        let sizes = ["8B", "1KiB", "8KiB"];
        out.push((
            "row 7, row 1: the module within 1.25× of native (8 B, 1 KiB and 8 KiB)".to_owned(),
            g.and_then(|g| {
                let r: Vec<f64> = sizes
                    .iter()
                    .map(|s| Some(g.get("1-pair", MODULE, s)? / g.get("1-pair", NATIVE, s)?))
                    .collect::<Option<_>>()?;
                Some((r.iter().all(|&r| r <= 1.25), listed(&sizes, &r)))
            }),
        ));
        for (mode, group) in [
            ("msgtyp > 0", "4-typed-positive"),
            ("msgtyp < 0", "4-typed-negative"),
            ("MSG_EXCEPT", "4-typed-except"),
        ] {
            out.push((
                format!("row 7, row 4 ({mode}): the module at N = 10 000 within 2× of N = 1"),
                g.and_then(|g| growth(g, group, "1", &["10000"], 2.0)),
            ));
        }
        out.push((
            "row 7, row 5: the module's send cost independent of R (R = 100 and 1000 within \
             1.25× of R = 0)"
                .to_owned(),
            g.and_then(|g| growth(g, "5-blocked-receivers", "0", &["100", "1000"], 1.25)),
        ));
        out
    }
}

/// Whether the module's time at each of `params` is within `bound` × its time at `base`,
/// with the figures and native's growth at the last parameter.
fn growth(
    g: &Guest,
    group: &str,
    base: &str,
    params: &[&str],
    bound: f64,
) -> Option<(bool, String)> {
    let b = g.get(group, MODULE, base)?;
    let r: Vec<f64> = params
        .iter()
        .map(|p| Some(g.get(group, MODULE, p)? / b))
        .collect::<Option<_>>()?;
    let last = params.last()?;
    let native = g
        .get(group, NATIVE, last)
        .zip(g.get(group, NATIVE, base))
        .map(|(x, y)| format!("; native grows {:.1}×", x / y))
        .unwrap_or_default();
    Some((
        r.iter().all(|&r| r <= bound),
        format!("{}{native}", listed(params, &r)),
    ))
}

/// "8B: 1.10×, 1KiB: 1.20×".
fn listed(labels: &[&str], ratios: &[f64]) -> String {
    labels
        .iter()
        .zip(ratios)
        .map(|(l, r)| format!("{l}: {r:.2}×"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> String {
        let mut s = String::from("meta kernel 7.3.0\nmeta measured 2026-11-23 05:00 UTC\n");
        for (p, n, k) in [
            ("8B", 10.0, 11.0),
            ("1KiB", 10.0, 12.0),
            ("8KiB", 10.0, 14.0),
        ] {
            s += &format!("bench 1-pair native {p} {n}\nbench 1-pair kmod {p} {k}\n");
            s += &format!("round 1-pair native {p} {n} {n}\nround 1-pair kmod {p} {k} 20\n");
        }
        for (p, n, k) in [("0", 10.0, 10.0), ("100", 20.0, 11.0), ("1000", 90.0, 12.0)] {
            s += &format!("bench 5-blocked-receivers native {p} {n}\n");
            s += &format!("bench 5-blocked-receivers kmod {p} {k}\n");
        }
        s + "garbage line\nbench 1-pair kmod 8B notanumber\n"
    }

    #[test]
    fn parses_meta_and_benchmarks() {
        let g = Guest::parse(&sample());
        assert_eq!(g.meta["measured"], "2026-11-23 05:00 UTC");
        assert_eq!(g.get("1-pair", MODULE, "8B"), Some(11.0));
        assert_eq!(g.res.len(), 12);
    }

    #[test]
    fn judges_targets() {
        let g = Guest::parse(&sample());
        let t = Guest::targets(Some(&g));
        // 8 KiB is 1.4× native: row 1 missed.
        assert_eq!(t[0].1.as_ref().map(|x| x.0), Some(false));
        assert!(t[0].1.as_ref().unwrap().1.contains("8KiB: 1.40×"));
        // Row 4 not in the file: not measured.
        assert!(t[1].1.is_none());
        // Row 5: 1.2× at R = 1000, within 1.25×; native grows 9×.
        let r5 = t.last().unwrap().1.as_ref().unwrap();
        assert!(r5.0, "{}", r5.1);
        assert!(r5.1.contains("native grows 9.0×"));
        assert!(Guest::targets(None).iter().all(|t| t.1.is_none()));
    }

    #[test]
    fn section_has_every_row() {
        let s = Guest::parse(&sample()).section();
        assert!(s.contains(
            "| 1 pair in one process, 8 KiB | 10 ns | 14 ns | 1.40 (1.4× slower) | 1.40, 2.00 |"
        ));
        assert!(s.contains("| 4 typed MSG_EXCEPT, N = 1 | – | – | – | – |"));
        assert!(s.contains("TCG"));
    }
}
