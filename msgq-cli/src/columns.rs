//! `msgq list` and `msgq show` output in `lsipc -q`'s conventions: its column names (`-o`),
//! its default columns, its table, `--raw`, `--noheadings`, `--export` and `--json` shapes
//! (`{"messages": [ {"key": "0x...", "id": "0", ...} ]}`, every value a string, as
//! util-linux 2.38's `lsipc --json` prints them; an unset time is `null`).

use crate::report::{Fail, R};
use msgq_core::abi::MsqidDs;
use std::collections::HashMap;

/// A column: its name (as `lsipc` spells it), whether it is a number (right-aligned), and
/// its help text.
pub struct Col {
    pub name: &'static str,
    pub number: bool,
    pub help: &'static str,
}

/// Every column, in `lsipc`'s order (`QBYTES` is msgq's: `msg_qbytes`, which lsipc lacks).
pub const COLUMNS: [Col; 20] = [
    col("KEY", false, "Resource key"),
    col("ID", true, "Resource ID"),
    col("OWNER", false, "Owner's username or UID"),
    col("PERMS", false, "Permissions"),
    col("CUID", true, "Creator UID"),
    col("CUSER", false, "Creator user"),
    col("CGID", true, "Creator GID"),
    col("CGROUP", false, "Creator group"),
    col("UID", true, "User ID"),
    col("USER", false, "User name"),
    col("GID", true, "Group ID"),
    col("GROUP", false, "Group name"),
    col("CTIME", false, "Time of the last change"),
    col("USEDBYTES", true, "Bytes used"),
    col("MSGS", true, "Number of messages"),
    col("SEND", false, "Time of last msg sent"),
    col("RECV", false, "Time of last msg received"),
    col("LSPID", true, "PID of the last msg sender"),
    col("LRPID", true, "PID of the last msg receiver"),
    col("QBYTES", true, "Most bytes the queue holds (msg_qbytes)"),
];

const fn col(name: &'static str, number: bool, help: &'static str) -> Col {
    Col { name, number, help }
}

/// `lsipc -q`'s default columns.
pub const DEFAULT: [&str; 8] = [
    "KEY",
    "ID",
    "PERMS",
    "OWNER",
    "USEDBYTES",
    "MSGS",
    "LSPID",
    "LRPID",
];

/// The help text listing the columns (for `--help`).
pub fn help() -> String {
    let mut s = String::from("Columns (-o, --output):\n");
    for c in &COLUMNS {
        s.push_str(&format!("  {:>10}  {}\n", c.name, c.help));
    }
    s
}

/// How to print.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Style {
    Table,
    Raw,
    Export,
    Json,
}

/// What the output options asked for.
pub struct Format {
    pub cols: Vec<usize>,
    pub style: Style,
    pub headings: bool,
    pub numeric_perms: bool,
}

/// The columns of `-o LIST` (`+LIST` adds to the defaults), with `-c` (creator and owner)
/// and `-t` (times) adding theirs, as lsipc does.
pub fn select(output: Option<&str>, creator: bool, time: bool) -> R<Vec<usize>> {
    let index = |name: &str| {
        COLUMNS
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| Fail(format!("unknown column: {name}")))
    };
    let mut names: Vec<String> = Vec::new();
    let add_defaults = match output {
        None => true,
        Some(o) => o.starts_with('+'),
    };
    if add_defaults {
        names.extend(DEFAULT.iter().map(|s| s.to_string()));
    }
    if creator {
        for n in [
            "CUID", "CUSER", "CGID", "CGROUP", "UID", "USER", "GID", "GROUP",
        ] {
            names.push(n.into());
        }
    }
    if time {
        for n in ["SEND", "RECV", "CTIME"] {
            names.push(n.into());
        }
    }
    if let Some(o) = output {
        let o = o.strip_prefix('+').unwrap_or(o);
        if o.is_empty() {
            return Err(Fail("-o: give column names (e.g. -o KEY,ID,PERMS)".into()));
        }
        names.extend(o.split(',').map(str::to_owned));
    }
    let mut cols = Vec::new();
    for n in &names {
        let i = index(n)?;
        if !cols.contains(&i) {
            cols.push(i);
        }
    }
    Ok(cols)
}

/// Names of users and groups, looked up once each.
#[derive(Default)]
pub struct Names {
    users: HashMap<u32, Option<String>>,
    groups: HashMap<u32, Option<String>>,
}

/// Calls `lookup(buf)` with a growing buffer while it says ERANGE.
fn with_buffer(mut lookup: impl FnMut(&mut [u8]) -> Option<Option<String>>) -> Option<String> {
    let mut len = 1024;
    while len <= 1 << 20 {
        let mut buf = vec![0u8; len];
        if let Some(r) = lookup(&mut buf) {
            return r;
        }
        len *= 4;
    }
    None
}

fn cstr(p: *const libc::c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated string inside the buffer the lookup filled.
    Some(
        unsafe { std::ffi::CStr::from_ptr(p) }
            .to_string_lossy()
            .into_owned(),
    )
}

impl Names {
    /// The user's name (`getpwuid_r`), if it has one.
    pub fn user(&mut self, uid: u32) -> Option<String> {
        self.users
            .entry(uid)
            .or_insert_with(|| {
                with_buffer(|buf| {
                    // SAFETY: an all-zero passwd is valid; getpwuid_r fills it with
                    // pointers into `buf`, which outlives their use.
                    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
                    let mut res: *mut libc::passwd = std::ptr::null_mut();
                    // SAFETY: valid pointers, `buf.len()` bytes.
                    let r = unsafe {
                        libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut res)
                    };
                    match r {
                        libc::ERANGE => None,
                        0 if !res.is_null() => Some(cstr(pw.pw_name)),
                        _ => Some(None),
                    }
                })
            })
            .clone()
    }

    /// The group's name (`getgrgid_r`), if it has one.
    pub fn group(&mut self, gid: u32) -> Option<String> {
        self.groups
            .entry(gid)
            .or_insert_with(|| {
                with_buffer(|buf| {
                    // SAFETY: as in `user`.
                    let mut gr: libc::group = unsafe { std::mem::zeroed() };
                    let mut res: *mut libc::group = std::ptr::null_mut();
                    // SAFETY: valid pointers, `buf.len()` bytes.
                    let r = unsafe {
                        libc::getgrgid_r(gid, &mut gr, buf.as_mut_ptr().cast(), buf.len(), &mut res)
                    };
                    match r {
                        libc::ERANGE => None,
                        0 if !res.is_null() => Some(cstr(gr.gr_name)),
                        _ => Some(None),
                    }
                })
            })
            .clone()
    }
}

/// `rw-r--r--`, as lsipc prints PERMS.
pub fn perms_text(mode: u32) -> String {
    let mut s = String::with_capacity(9);
    for shift in [6, 3, 0] {
        let b = (mode >> shift) & 7;
        s.push(if b & 4 != 0 { 'r' } else { '-' });
        s.push(if b & 2 != 0 { 'w' } else { '-' });
        s.push(if b & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// A time as ISO 8601 in local time (`2026-12-06T07:39:52+00:00`, lsipc's
/// `--time-format=iso`); `None` when not set (0).
pub fn iso_time(t: i64) -> Option<String> {
    if t == 0 {
        return None;
    }
    // SAFETY: an all-zero tm is valid; localtime_r fills it from `t`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let tt = t as libc::time_t;
    // SAFETY: valid pointers to locals.
    if unsafe { libc::localtime_r(&tt, &mut tm) }.is_null() {
        return Some(t.to_string());
    }
    let off = tm.tm_gmtoff;
    let (sign, off) = if off < 0 { ('-', -off) } else { ('+', off) };
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        tm.tm_year as i64 + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        off / 3600,
        off % 3600 / 60
    ))
}

/// The value of column `c` for queue `id` (`None`: empty, `null` in JSON).
pub fn value(c: usize, id: i32, d: &MsqidDs, numeric_perms: bool, n: &mut Names) -> Option<String> {
    let p = &d.msg_perm;
    let name_or = |name: Option<String>, num: u32| name.unwrap_or_else(|| num.to_string());
    Some(match COLUMNS[c].name {
        "KEY" => format!("{:#010x}", p.key as u32),
        "ID" => id.to_string(),
        "OWNER" => name_or(n.user(p.uid), p.uid),
        "PERMS" if numeric_perms => format!("{:o}", p.mode & 0o777),
        "PERMS" => perms_text(p.mode & 0o777),
        "CUID" => p.cuid.to_string(),
        "CUSER" => name_or(n.user(p.cuid), p.cuid),
        "CGID" => p.cgid.to_string(),
        "CGROUP" => name_or(n.group(p.cgid), p.cgid),
        "UID" => p.uid.to_string(),
        "USER" => name_or(n.user(p.uid), p.uid),
        "GID" => p.gid.to_string(),
        "GROUP" => name_or(n.group(p.gid), p.gid),
        "CTIME" => return iso_time(d.msg_ctime),
        "USEDBYTES" => d.msg_cbytes.to_string(),
        "MSGS" => d.msg_qnum.to_string(),
        "SEND" => return iso_time(d.msg_stime),
        "RECV" => return iso_time(d.msg_rtime),
        "LSPID" => d.msg_lspid.to_string(),
        "LRPID" => d.msg_lrpid.to_string(),
        "QBYTES" => d.msg_qbytes.to_string(),
        _ => return None,
    })
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// The lowercase key lsipc's JSON and `--export` give a column.
fn key(c: usize) -> String {
    COLUMNS[c].name.to_ascii_lowercase()
}

/// Renders `rows` (queue id and state) as `f` asks.
pub fn render(rows: &[(i32, MsqidDs)], f: &Format) -> String {
    let mut names = Names::default();
    let cells: Vec<Vec<Option<String>>> = rows
        .iter()
        .map(|(id, d)| {
            f.cols
                .iter()
                .map(|&c| value(c, *id, d, f.numeric_perms, &mut names))
                .collect()
        })
        .collect();
    let mut s = String::new();
    match f.style {
        Style::Json => {
            s.push_str("{\n   \"messages\": [");
            for (i, row) in cells.iter().enumerate() {
                s.push_str(if i == 0 { "\n      {" } else { ",{" });
                for (j, (&c, v)) in f.cols.iter().zip(row).enumerate() {
                    let v = v.as_deref().map_or("null".into(), json_str);
                    let comma = if j + 1 < row.len() { "," } else { "" };
                    s.push_str(&format!("\n         {}: {v}{comma}", json_str(&key(c))));
                }
                s.push_str("\n      }");
            }
            s.push_str("\n   ]\n}\n");
        }
        Style::Export => {
            for row in &cells {
                let fields: Vec<String> = f
                    .cols
                    .iter()
                    .zip(row)
                    .map(|(&c, v)| {
                        let v = v.as_deref().unwrap_or("").replace(['"', '\\'], "_");
                        format!("{}=\"{v}\"", COLUMNS[c].name)
                    })
                    .collect();
                s.push_str(&fields.join(" "));
                s.push('\n');
            }
        }
        Style::Raw => {
            if f.headings {
                let h: Vec<&str> = f.cols.iter().map(|&c| COLUMNS[c].name).collect();
                s.push_str(&h.join(" "));
                s.push('\n');
            }
            for row in &cells {
                let v: Vec<&str> = row.iter().map(|v| v.as_deref().unwrap_or("")).collect();
                s.push_str(&v.join(" "));
                s.push('\n');
            }
        }
        Style::Table => {
            let mut width: Vec<usize> = f
                .cols
                .iter()
                .map(|&c| if f.headings { COLUMNS[c].name.len() } else { 0 })
                .collect();
            for row in &cells {
                for (w, v) in width.iter_mut().zip(row) {
                    *w = (*w).max(v.as_deref().map_or(0, |v| v.chars().count()));
                }
            }
            let line = |vals: Vec<&str>| {
                let mut l = String::new();
                let last = vals.len().saturating_sub(1);
                for (j, v) in vals.iter().enumerate() {
                    let c = &COLUMNS[f.cols[j]];
                    let pad = width[j].saturating_sub(v.chars().count());
                    if j > 0 {
                        l.push(' ');
                    }
                    if c.number {
                        l.push_str(&" ".repeat(pad));
                        l.push_str(v);
                    } else {
                        l.push_str(v);
                        if j < last {
                            l.push_str(&" ".repeat(pad));
                        }
                    }
                }
                l.push('\n');
                l
            };
            if f.headings {
                s.push_str(&line(f.cols.iter().map(|&c| COLUMNS[c].name).collect()));
            }
            for row in &cells {
                s.push_str(&line(
                    row.iter().map(|v| v.as_deref().unwrap_or("")).collect(),
                ));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perms_and_columns() {
        assert_eq!(perms_text(0o644), "rw-r--r--");
        assert_eq!(perms_text(0o750), "rwxr-x---");
        assert_eq!(select(None, false, false).unwrap().len(), DEFAULT.len());
        let c = select(Some("key,Id,PERMS"), false, false).unwrap();
        assert_eq!(c, vec![0, 1, 3]);
        let c = select(Some("+QBYTES"), false, false).unwrap();
        assert_eq!(c.len(), DEFAULT.len() + 1);
        assert_eq!(
            select(Some("KEY,FOO"), false, false).err().unwrap().0,
            "unknown column: FOO"
        );
        assert!(select(Some(""), false, false).is_err());
        assert_eq!(json_str("a\"b\\\n"), "\"a\\\"b\\\\\\u000a\"");
    }

    #[test]
    fn json_is_lsipcs_shape() {
        let mut d = MsqidDs::default();
        d.msg_perm.key = 5;
        d.msg_perm.mode = 0o600;
        d.msg_qnum = 2;
        let f = Format {
            cols: select(Some("KEY,ID,PERMS,MSGS,SEND"), false, false).unwrap(),
            style: Style::Json,
            headings: true,
            numeric_perms: false,
        };
        assert_eq!(
            render(&[(3, d), (4, d)], &f),
            "{\n   \"messages\": [\n      {\n         \"key\": \"0x00000005\",\n         \
             \"id\": \"3\",\n         \"perms\": \"rw-------\",\n         \"msgs\": \"2\",\n         \
             \"send\": null\n      },{\n         \"key\": \"0x00000005\",\n         \
             \"id\": \"4\",\n         \"perms\": \"rw-------\",\n         \"msgs\": \"2\",\n         \
             \"send\": null\n      }\n   ]\n}\n"
        );
        assert_eq!(render(&[], &f), "{\n   \"messages\": [\n   ]\n}\n");
    }
}
