//! Criterion's results as the report reads them, and how the report prints times: shared by
//! `bench-report` and the guest benchmark (which prints its medians on the guest's console).

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// (group, implementation, parameter) -> median nanoseconds per iteration.
pub type Results = BTreeMap<(String, String, String), f64>;

/// Every `<dir>/**/new/benchmark.json` + `estimates.json` that criterion wrote under `dir`
/// (ids `<group>/<implementation>/<parameter>`), added to `out`.
pub fn collect(dir: &Path, out: &mut Results) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if !p.is_dir() {
            continue;
        }
        if p.file_name().is_some_and(|n| n == "new") {
            if let Some(r) = read_one(&p) {
                out.insert(r.0, r.1);
            }
        } else if p.file_name().is_some_and(|n| n != "report") {
            collect(&p, out);
        }
    }
}

fn read_one(new: &Path) -> Option<((String, String, String), f64)> {
    let b: Value =
        serde_json::from_str(&std::fs::read_to_string(new.join("benchmark.json")).ok()?).ok()?;
    let e: Value =
        serde_json::from_str(&std::fs::read_to_string(new.join("estimates.json")).ok()?).ok()?;
    let s = |v: &Value| v.as_str().map(str::to_owned);
    let key = (
        s(&b["group_id"])?,
        s(&b["function_id"])?,
        s(&b["value_str"])?,
    );
    Some((key, e["median"]["point_estimate"].as_f64()?))
}

/// The median of one benchmark.
pub fn get(r: &Results, group: &str, imp: &str, param: &str) -> Option<f64> {
    r.get(&(group.to_owned(), imp.to_owned(), param.to_owned()))
        .copied()
}

/// A time in ns, µs or ms.
pub fn fmt_time(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// A ratio of times, with "× faster" or "× slower".
pub fn fmt_ratio(r: f64) -> String {
    if r < 1.0 {
        format!("{r:.3} ({:.1}× faster)", 1.0 / r)
    } else {
        format!("{r:.2} ({r:.1}× slower)")
    }
}
