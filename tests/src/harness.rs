//! Running a case: a fresh child per backend (native in a new IPC namespace, engine on a
//! fresh store), traces over a pipe, a timeout, and the verdict.

use crate::backend::{Backend, Engine, Kind, Kmod, Native};
use crate::ctx::Ctx;
use crate::procs;
use crate::trace::{self, Step, Trace};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A known, allowed difference of the engine (spec §9): the engine's expected values for
/// some labels, which replace the native values to give the expected engine trace.
pub struct Divergence {
    pub reason: &'static str,
    pub engine: &'static [(&'static str, &'static str)],
}

/// One conformance case.
pub struct Case {
    pub name: &'static str,
    pub run: fn(&mut Ctx),
    /// What could not be run here (reported next to the verdict).
    pub note: Option<&'static str>,
    pub divergence: Option<Divergence>,
    /// Where the Valkey backend differs from the kernel and the engine does not (else the
    /// engine's divergence, a userspace limit both share, applies to it too).
    pub valkey_divergence: Option<Divergence>,
    pub timeout: Duration,
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Multiplies every case's timeout (`conformance --timeout-scale N`): slow guests (the debug
/// and KASAN kernels under TCG on a loaded host) need more than the default.
static TIMEOUT_SCALE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// Sets the factor applied to every case's timeout (at least 1).
pub fn set_timeout_scale(scale: u32) {
    TIMEOUT_SCALE.store(scale.max(1), std::sync::atomic::Ordering::Relaxed);
}

/// A running child for one backend.
struct Running {
    pid: i32,
    fd: i32,
    dir: Option<PathBuf>,
}

fn start(case: &Case, kind: Kind, seq: usize) -> Running {
    let dir = match kind {
        Kind::Native | Kind::Kmod | Kind::Valkey => None,
        Kind::Engine => {
            let d =
                std::env::temp_dir().join(format!("msgq-conformance-{}-{}", procs::getpid(), seq));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).expect("temp dir");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777))
                .expect("chmod temp dir");
            Some(d)
        }
    };
    let store = dir.as_ref().map(|d| d.join("store"));
    let run = case.run;
    let (pid, fd) = procs::fork_with_pipe(move |w| {
        // SAFETY: making this child a process-group leader, so the parent can kill it and
        // every process it started at once.
        unsafe { libc::setpgid(0, 0) };
        let backend: Box<dyn Backend> = match kind {
            Kind::Native => {
                // SAFETY: unshare only changes this process's namespaces.
                if unsafe { libc::unshare(libc::CLONE_NEWIPC) } != 0 {
                    procs::write_fd(
                        w,
                        &trace::error_line(&format!(
                            "unshare(CLONE_NEWIPC): {}",
                            std::io::Error::last_os_error()
                        )),
                    );
                    return;
                }
                Box::new(Native)
            }
            Kind::Kmod => match Kmod::fresh() {
                Ok(k) => Box::new(k),
                Err(e) => {
                    procs::write_fd(w, &trace::error_line(&e));
                    return;
                }
            },
            Kind::Valkey => {
                let url = std::env::var("MSGQ_TEST_VALKEY_URL").unwrap_or_default();
                let ns = format!("c{}x{}", procs::getpid(), seq);
                match crate::backend::ValkeyNs::open(&url, &ns) {
                    Ok(v) => Box::new(v),
                    Err(e) => {
                        procs::write_fd(w, &trace::error_line(&e));
                        return;
                    }
                }
            }
            Kind::Engine => match Engine::create(store.as_ref().unwrap()) {
                Ok(e) => Box::new(e),
                Err(e) => {
                    procs::write_fd(w, &trace::error_line(&format!("store: {e}")));
                    return;
                }
            },
        };
        let mut ctx = Ctx::new(&*backend, w);
        run(&mut ctx);
        ctx.done();
    });
    // SAFETY: also set the group from the parent side, so a kill cannot race the child's own
    // setpgid.
    unsafe { libc::setpgid(pid, pid) };
    Running { pid, fd, dir }
}

/// Collects the traces of the running children, killing any still running at `deadline`.
fn collect(runs: Vec<Running>, deadline: Instant) -> Vec<Trace> {
    let mut bufs: Vec<Vec<u8>> = runs.iter().map(|_| Vec::new()).collect();
    let mut open: Vec<bool> = runs.iter().map(|_| true).collect();
    let mut timed_out = false;
    while open.iter().any(|o| *o) {
        let now = Instant::now();
        if now >= deadline {
            timed_out = true;
            break;
        }
        let mut pfds: Vec<libc::pollfd> = runs
            .iter()
            .zip(&open)
            .filter(|(_, o)| **o)
            .map(|(r, _)| libc::pollfd {
                fd: r.fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = (deadline - now).as_millis().min(1000) as i32;
        // SAFETY: `pfds` is a valid array of pollfd of the given length.
        unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
        for p in &pfds {
            if p.revents == 0 {
                continue;
            }
            let i = runs.iter().position(|r| r.fd == p.fd).unwrap();
            let mut buf = [0u8; 8192];
            // SAFETY: `buf` is writable for its length.
            let n = unsafe { libc::read(p.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                bufs[i].extend_from_slice(&buf[..n as usize]);
            } else if n == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR)
            {
                open[i] = false;
            }
        }
    }
    let mut out = Vec::new();
    for (i, r) in runs.into_iter().enumerate() {
        let hung = open[i] && timed_out;
        // Kill the whole group: the case child and anything it left behind.
        procs::signal(-r.pid, libc::SIGKILL);
        let status = procs::reap(r.pid);
        // SAFETY: closing the read end we own.
        unsafe { libc::close(r.fd) };
        let mut t = Trace::parse(&String::from_utf8_lossy(&bufs[i]));
        if hung {
            t.error = Some("timeout (killed)".into());
        } else if !t.done && t.error.is_none() {
            t.error = Some(format!(
                "child ended early: {}",
                status.unwrap_or_else(|| "exit 0".into())
            ));
        }
        if let Some(d) = r.dir {
            let _ = std::fs::remove_dir_all(d);
        }
        out.push(t);
    }
    out
}

/// Runs one case on the given backends (in parallel), returning one trace per backend.
pub fn run_case(case: &Case, kinds: &[Kind], seq: usize) -> Vec<Trace> {
    let scale = TIMEOUT_SCALE.load(std::sync::atomic::Ordering::Relaxed);
    let deadline = Instant::now() + case.timeout * scale;
    let runs: Vec<Running> = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| start(case, *k, seq * 2 + i))
        .collect();
    collect(runs, deadline)
}

/// The outcome of a case.
pub enum Verdict {
    Ok,
    Known(String),
    Fail(String),
}

fn show(t: &Trace) -> String {
    let mut s = String::new();
    for st in &t.steps {
        s += &format!("      {} = {}\n", st.label, st.value);
    }
    if let Some(e) = &t.error {
        s += &format!("      !! {e}\n");
    }
    s
}

fn show_pair(n: &Trace, e: &Trace) -> String {
    let mut s = String::from("    native | engine:\n");
    let len = n.steps.len().max(e.steps.len());
    for i in 0..len {
        let a = n.steps.get(i);
        let b = e.steps.get(i);
        let mark = if a == b { " " } else { "*" };
        let fa = a
            .map(|x| format!("{} = {}", x.label, x.value))
            .unwrap_or_default();
        let fb = b
            .map(|x| format!("{} = {}", x.label, x.value))
            .unwrap_or_default();
        if a.map(|x| &x.label) == b.map(|x| &x.label) || b.is_none() {
            s += &format!(
                "   {mark}  {fa}   |   {}\n",
                b.map(|x| x.value.as_str()).unwrap_or("(missing)")
            );
        } else {
            s += &format!("   {mark}  {fa}   |   {fb}\n");
        }
    }
    if let Some(x) = &n.error {
        s += &format!("    native error: {x}\n");
    }
    if let Some(x) = &e.error {
        s += &format!("    engine error: {x}\n");
    }
    s
}

fn violations(t: &Trace, skip: &[&str]) -> Vec<String> {
    t.violations
        .iter()
        .filter(|v| !skip.contains(&v.label.as_str()))
        .map(|v| format!("{}: {}", v.label, v.text))
        .collect()
}

/// Applies a divergence's overrides to the native trace.
fn expected_engine(native: &Trace, d: &Divergence) -> Result<Vec<Step>, String> {
    let mut steps = native.steps.clone();
    for (label, value) in d.engine {
        let s = steps
            .iter_mut()
            .find(|s| s.label == *label)
            .ok_or_else(|| format!("divergence names a label the native trace lacks: {label}"))?;
        s.value = value.to_string();
    }
    Ok(steps)
}

/// Judges one backend's trace on its own (only the §8 expectations can be checked).
fn judge_single(case: &Case, kind: Kind, t: &Trace) -> Verdict {
    if let Some(e) = &t.error {
        return Verdict::Fail(format!("{} run failed: {e}\n{}", kind.name(), show(t)));
    }
    let skip: Vec<&str> = match (&case.divergence, kind) {
        (Some(d), Kind::Engine) => d.engine.iter().map(|(l, _)| *l).collect(),
        _ => vec![],
    };
    let v = violations(t, &skip);
    if !v.is_empty() {
        return Verdict::Fail(format!(
            "{} disagrees with §8:\n      {}\n{}",
            kind.name(),
            v.join("\n      "),
            show(t)
        ));
    }
    if let (Some(d), Kind::Engine) = (&case.divergence, kind) {
        for (l, want) in d.engine {
            match t.steps.iter().find(|s| s.label == *l) {
                Some(s) if s.value == *want => {}
                other => {
                    return Verdict::Fail(format!(
                        "known divergence no longer holds: {l} = {} (declared {want})\n{}",
                        other.map(|s| s.value.as_str()).unwrap_or("(missing)"),
                        show(t)
                    ))
                }
            }
        }
        return Verdict::Known(d.reason.into());
    }
    Verdict::Ok
}

/// Judges the traces of one case.
pub fn judge(case: &Case, kinds: &[Kind], traces: &[Trace]) -> Verdict {
    if kinds.len() == 1 {
        return judge_single(case, kinds[0], &traces[0]);
    }
    let (n, e) = (&traces[0], &traces[1]);
    // The declared divergences are the engine's: the module must match the kernel exactly.
    let divergence = match kinds[1] {
        Kind::Kmod => &None,
        Kind::Valkey if case.valkey_divergence.is_some() => &case.valkey_divergence,
        _ => &case.divergence,
    };
    if let Some(err) = &n.error {
        return Verdict::Fail(format!("native run failed: {err}\n{}", show_pair(n, e)));
    }
    let v = violations(n, &[]);
    if !v.is_empty() {
        return Verdict::Fail(format!(
            "native (the oracle) disagrees with §8:\n      {}\n{}",
            v.join("\n      "),
            show_pair(n, e)
        ));
    }
    if e.error.is_some() {
        return Verdict::Fail(format!("engine run failed\n{}", show_pair(n, e)));
    }
    match divergence {
        None => {
            if n.steps == e.steps {
                Verdict::Ok
            } else {
                Verdict::Fail(show_pair(n, e))
            }
        }
        Some(d) => match expected_engine(n, d) {
            Err(x) => Verdict::Fail(x),
            Ok(exp) => {
                if e.steps == exp {
                    Verdict::Known(d.reason.into())
                } else if e.steps == n.steps {
                    Verdict::Fail(format!("declared divergence no longer diverges (engine now matches native): remove it\n{}", show_pair(n, e)))
                } else {
                    let ex = Trace {
                        steps: exp,
                        ..Default::default()
                    };
                    Verdict::Fail(format!(
                        "engine differs from the declared divergence\n  expected engine:\n{}{}",
                        show(&ex),
                        show_pair(n, e)
                    ))
                }
            }
        },
    }
}

impl Case {
    pub fn new(name: &'static str, run: fn(&mut Ctx)) -> Case {
        Case {
            name,
            run,
            note: None,
            divergence: None,
            valkey_divergence: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
    /// Notes what part of the case cannot run here.
    pub fn note(mut self, n: &'static str) -> Case {
        self.note = Some(n);
        self
    }
    /// Declares a known engine divergence.
    pub fn diverge(
        mut self,
        reason: &'static str,
        engine: &'static [(&'static str, &'static str)],
    ) -> Case {
        self.divergence = Some(Divergence { reason, engine });
        self
    }

    /// A known difference of the Valkey backend only (docs/cluster.md says why): the listed
    /// steps must have exactly these values on it, so that a fix shows.
    pub fn diverge_valkey(
        mut self,
        reason: &'static str,
        valkey: &'static [(&'static str, &'static str)],
    ) -> Case {
        self.valkey_divergence = Some(Divergence {
            reason,
            engine: valkey,
        });
        self
    }
}
