//! The commands only the user backend has: `check` (a store's integrity) and
//! `remove-store`.

use crate::columns::json_str;
use crate::commands::{find, zeroed, SYSCTLS};
use crate::report::{errno_text, out, Fail, R};
use crate::storeq::not_found;
use msgq_core::abi::{IPC_NOWAIT, MSG_COPY};
use msgq_core::ids;
use msgq_user::{Errno, Store, Sysctl};
use std::path::Path;

/// `msgq check`: every check in order, one line each (or, with `json`, one JSON object).
pub fn check(path: &Path, json: bool) -> R<()> {
    let mut lines: Vec<(bool, String)> = Vec::new();
    let r = run_checks(path, &mut |ok, what| lines.push((ok, what)));
    let problems = lines.iter().filter(|l| !l.0).count();
    let text = if json {
        let checks: Vec<String> = lines
            .iter()
            .map(|(ok, t)| format!("{{\"ok\": {ok}, \"text\": {}}}", json_str(t)))
            .collect();
        format!(
            "{{\"store\": {}, \"ok\": {}, \"checks\": [{}]}}\n",
            json_str(&path.display().to_string()),
            problems == 0 && r.is_ok(),
            checks.join(", ")
        )
    } else {
        lines
            .iter()
            .map(|(ok, t)| format!("{} {t}\n", if *ok { "ok  " } else { "FAIL" }))
            .collect()
    };
    out(&text)?;
    r?;
    if problems == 0 {
        Ok(())
    } else {
        Err(Fail(format!(
            "{}: {problems} problem(s) found",
            path.display()
        )))
    }
}

/// The checks, each result given to `say`; an error when they could not go on.
fn run_checks(path: &Path, say: &mut dyn FnMut(bool, String)) -> R<()> {
    let default = path == Store::default_path();
    let opened = if default {
        Store::open_default()
    } else {
        Store::open(path)
    };
    let s = match opened {
        Ok(s) => s,
        Err(e) => {
            say(false, format!("open: {e}"));
            return Err(Fail(format!("{}: check failed", path.display())));
        }
    };
    say(
        true,
        if default {
            format!(
                "the default store of IPC namespace {}: the queues whose memory this user may have",
                path.display()
            )
        } else {
            format!(
                "header: {} is a msgq store of this version, sizes match the file",
                path.display()
            )
        },
    );
    match s.check() {
        Ok(r) => say(
            true,
            format!(
                "structures: {} queues, {} messages ({} bytes), {} blocked waiters and {} pending \
                 (handed-over messages and ended waits not yet taken), {} of those dead \
                 (freed when next met); every list link, count, type index and free list \
                 consistent, {} heap blocks in use and {} free, none lost or doubly used \
                 ({} crash recoveries so far)",
                r.queues,
                r.messages,
                r.bytes,
                r.waiters,
                r.pending,
                r.dead_waiters,
                r.blocks_used,
                r.blocks_free,
                r.recoveries
            ),
        ),
        Err(e) => say(false, format!("structures: {e}")),
    }
    let mut limits_ok = true;
    for w in SYSCTLS {
        match s.sysctl(w) {
            Ok(v) if w == Sysctl::MsgNextId && v == -1 => {}
            Ok(v) if w.validate(v).is_ok() => {}
            Ok(v) => {
                limits_ok = false;
                say(false, format!("limit {} = {v} is out of range", w.name()));
            }
            Err(e) => {
                limits_ok = false;
                say(false, format!("limit {}: {}", w.name(), errno_text(e)));
            }
        }
    }
    if limits_ok {
        say(
            true,
            "limits: msgmax, msgmnb, msgmni, msg_next_id in range".into(),
        );
    }
    let (max, mi) = match s.info(true) {
        Ok(x) => x,
        Err(e) => {
            say(false, format!("MSG_INFO: {}", errno_text(e)));
            return Err(Fail(format!("{}: check failed", path.display())));
        }
    };
    let mut count = 0u64;
    let (mut msgs, mut bytes) = (0u64, 0u64);
    let mut keys = std::collections::HashSet::new();
    let mut ids = Vec::new();
    let mut walk_ok = true;
    for idx in 0..=max.min(ids::MASK) {
        match s.stat_index(idx, true) {
            Ok((id, d)) => {
                count += 1;
                msgs += d.msg_qnum;
                bytes += d.msg_cbytes;
                ids.push(id);
                let mut bad = |what: String| {
                    walk_ok = false;
                    say(false, format!("queue {id} (index {idx}): {what}"));
                };
                if id < 0 || ids::idx_of(id) as i32 != idx {
                    bad(format!("id {id} does not belong to index {idx}"));
                }
                if d.msg_perm.mode & !0o777 != 0 {
                    bad(format!("mode {:o} has bits beyond 0777", d.msg_perm.mode));
                }
                if d.msg_perm.key != 0 && !keys.insert(d.msg_perm.key) {
                    bad(format!("key {:#x} is used twice", d.msg_perm.key));
                }
                if d.msg_cbytes > 0 && d.msg_qnum == 0 {
                    bad(format!("{} bytes but no messages", d.msg_cbytes));
                }
            }
            Err(Errno::EINVAL) => {}
            Err(e) => {
                walk_ok = false;
                say(
                    false,
                    format!("index {idx}: MSG_STAT_ANY: {}", errno_text(e)),
                );
            }
        }
    }
    if walk_ok {
        say(
            true,
            format!("queues: {count} walked (indexes 0..={max}), ids, modes, keys consistent"),
        );
    }
    let totals = (mi.msgpool as u64, mi.msgmap as u64, mi.msgtql as u64);
    say(
        totals == (count, msgs, bytes),
        format!(
            "totals: MSG_INFO says {} queues, {} messages, {} bytes; the walk found {count}, {msgs}, {bytes}",
            totals.0, totals.1, totals.2
        ),
    );
    match s.proc_sysvipc_msg() {
        Ok(text) => {
            let rows: Vec<i32> = text
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
                .collect();
            say(
                rows == ids,
                format!(
                    "/proc/sysvipc/msg text: {} rows, ids match the walk",
                    rows.len()
                ),
            );
        }
        Err(e) => say(false, format!("/proc/sysvipc/msg text: {}", errno_text(e))),
    }
    let (mut copied, mut skipped) = (0u64, 0u64);
    let mut msg_ok = true;
    for &id in &ids {
        let Ok(d) = find(&s, id) else { continue };
        // Room for the longest message the queue can hold (a damaged count asks for no
        // more than a message can be, and the pages are only touched as used).
        let len = (d.msg_cbytes.min(i32::MAX as u64) as usize).max(1);
        let Some(mut buf) = zeroed(len) else {
            msg_ok = false;
            say(
                false,
                format!("queue {id}: {} bytes: cannot allocate", d.msg_cbytes),
            );
            continue;
        };
        let mut sum = 0u64;
        let mut complete = true;
        for i in 0..d.msg_qnum {
            match s.receive(id, &mut buf, i as i64, MSG_COPY | IPC_NOWAIT) {
                Ok((t, n)) => {
                    copied += 1;
                    sum += n as u64;
                    if t <= 0 {
                        msg_ok = false;
                        say(false, format!("queue {id}: message {i} has type {t}"));
                    }
                }
                Err(Errno::EACCES) => {
                    skipped += 1;
                    complete = false;
                    break;
                }
                Err(e) => {
                    msg_ok = false;
                    complete = false;
                    say(false, format!("queue {id}: message {i}: {}", errno_text(e)));
                    break;
                }
            }
        }
        if complete && sum != d.msg_cbytes {
            msg_ok = false;
            say(
                false,
                format!(
                    "queue {id}: messages hold {sum} bytes, the queue says {}",
                    d.msg_cbytes
                ),
            );
        }
    }
    if msg_ok {
        say(
            true,
            format!(
                "messages: {copied} copied with MSG_COPY, sizes add up ({skipped} queues not readable by this user, skipped)"
            ),
        );
    }
    Ok(())
}

/// `msgq remove-store`.
pub fn remove_store(path: &Path, force: bool) -> R<()> {
    if path == Store::default_path() {
        return Err(Fail(format!(
            "{} is the default store: the IPC namespace's queues, which go with the namespace; \
             remove queues with `msgq rm` (remove-store is for store files, --store PATH)",
            path.display()
        )));
    }
    if !force {
        match Store::open(path) {
            Ok(s) => drop(s),
            Err(e) if not_found(&e) => {
                return Err(Fail(format!("no msgq store at {}", path.display())))
            }
            // A store of another layout version: what this command is for.
            Err(e) if matches!(e.kind, msgq_user::StoreErrorKind::OtherVersion { .. }) => {}
            Err(e) => return Err(Fail(format!("{e} (use --force to remove it anyway)"))),
        }
    }
    std::fs::remove_file(path).map_err(|e| Fail(format!("{}: {e}", path.display())))
}
