//! Traces: the ordered step outcomes of one run, their wire format, and value formatting.

use msgq_core::Errno;
use std::fmt::Display;

/// One recorded outcome: a label and a normalised value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub label: String,
    pub value: String,
}

/// A §8 expectation that did not hold in this run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub label: String,
    pub text: String,
}

/// Everything a run reports.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub steps: Vec<Step>,
    pub violations: Vec<Violation>,
    /// Set when the run did not finish normally (timeout, crash, panic).
    pub error: Option<String>,
    /// The run reached its end.
    pub done: bool,
}

fn clean(s: &str) -> String {
    s.replace(['\t', '\n'], " ")
}

/// Wire line for a step (one line, tab separated).
pub fn step_line(label: &str, value: &str) -> String {
    format!("S\t{}\t{}\n", clean(label), clean(value))
}

/// Wire line for a violation.
pub fn violation_line(label: &str, text: &str) -> String {
    format!("V\t{}\t{}\n", clean(label), clean(text))
}

/// Wire line for a run-level error (panic, setup failure).
pub fn error_line(text: &str) -> String {
    format!("E\t{}\n", clean(text))
}

pub const DONE_LINE: &str = "D\n";

impl Trace {
    /// Parses the lines a run wrote.
    pub fn parse(text: &str) -> Trace {
        let mut t = Trace::default();
        for line in text.lines() {
            let mut it = line.splitn(3, '\t');
            match (it.next(), it.next(), it.next()) {
                (Some("S"), Some(l), Some(v)) => t.steps.push(Step {
                    label: l.into(),
                    value: v.into(),
                }),
                (Some("V"), Some(l), Some(v)) => t.violations.push(Violation {
                    label: l.into(),
                    text: v.into(),
                }),
                (Some("E"), Some(e), _) => t.error = Some(e.into()),
                (Some("D"), _, _) => t.done = true,
                _ => {}
            }
        }
        t
    }
}

/// `ok`/value or the errno name.
pub fn res<T: Display>(r: &Result<T, Errno>) -> String {
    match r {
        Ok(v) => v.to_string(),
        Err(e) => e.name().to_string(),
    }
}

/// `ok` or the errno name, for calls whose success value is uninteresting.
pub fn unit<T>(r: &Result<T, Errno>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.name().to_string(),
    }
}

/// Message text, readable when short and printable, otherwise its length and a checksum.
pub fn text(b: &[u8]) -> String {
    if b.len() <= 24 && b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        format!("'{}'", String::from_utf8_lossy(b))
    } else {
        let sum = b.iter().enumerate().fold(0u32, |a, (i, c)| {
            a.wrapping_mul(31).wrapping_add(*c as u32 ^ i as u32)
        });
        format!("<{} bytes #{:08x}>", b.len(), sum)
    }
}

/// A received message: `t=<mtype> <text>` or the errno name.
pub fn msg(r: &Result<(i64, Vec<u8>), Errno>) -> String {
    match r {
        Ok((t, b)) => format!("t={} {}", t, text(b)),
        Err(e) => e.name().to_string(),
    }
}

/// Message text of `n` bytes: a, b, c, … (so truncation is visible).
pub fn abc(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

/// The current wall-clock time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A time field: `0`, `now` (within a few seconds), or `other`.
pub fn time_class(t: i64) -> &'static str {
    if t == 0 {
        "0"
    } else if (t - now()).abs() <= 5 {
        "now"
    } else {
        "other"
    }
}
