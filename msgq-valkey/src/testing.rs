//! Real Valkey servers for tests: one node or a cluster of masters on free loopback ports,
//! stopped (SIGKILL and wait) and their directories removed on `Drop`, even when a test fails.
//!
//! The binaries come from `tests/valkey/deps.sh` (unpacked debs, no service installed), or
//! from the directory in `MSGQ_VALKEY_BIN` (holding `valkey-server` and `valkey-cli`).
//! Each server process is started with `PR_SET_PDEATHSIG` = SIGKILL, so that servers do not
//! outlive a test process that is killed: note that this ties a server's life to the THREAD
//! that started it (or restarted it) - keep servers in the thread that made them.

use std::io;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::conn::{Conn, ConnConfig};
use crate::resp::Value;
use crate::url::Endpoint;

fn other(msg: String) -> io::Error {
    io::Error::other(msg)
}

/// The directory holding `valkey-server` and `valkey-cli` (runs `tests/valkey/deps.sh` once).
pub fn bin_dir() -> io::Result<PathBuf> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(d) = std::env::var_os("MSGQ_VALKEY_BIN") {
            return Ok(PathBuf::from(d));
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/valkey/deps.sh");
        let out = Command::new(&script)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("{}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!("{} failed: {}", script.display(), out.status));
        }
        Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    })
    .clone()
    .map_err(other)
}

/// How to start a server.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// `--appendonly yes --appendfsync always` instead of no persistence at all.
    pub persistent: bool,
    /// `--cluster-enabled yes` (its bus port is port + 10000).
    pub cluster: bool,
    /// More `--option value` arguments.
    pub extra: Vec<String>,
}

/// One `valkey-server` process.
pub struct Server {
    port: u16,
    dir: PathBuf,
    opts: ServerOptions,
    child: Option<Child>,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A loopback port that is free now (and, for a cluster node, whose bus port is free too).
fn free_port(cluster: bool) -> io::Result<u16> {
    for _ in 0..200 {
        let l = TcpListener::bind("127.0.0.1:0")?;
        let p = l.local_addr()?.port();
        if !cluster {
            return Ok(p);
        }
        if p < 55535 && TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
            return Ok(p);
        }
    }
    Err(other("no free port pair found".into()))
}

fn quick() -> ConnConfig {
    ConnConfig {
        connect_timeout: Duration::from_millis(500),
        io_timeout: Duration::from_secs(5),
        ..ConnConfig::default()
    }
}

impl Server {
    /// A single node without persistence.
    pub fn start() -> io::Result<Server> {
        Server::start_with(ServerOptions::default())
    }

    /// A node started as `opts` says, on a free port (retried on another port if the chosen
    /// one was taken meanwhile), answering PING when this returns.
    pub fn start_with(opts: ServerOptions) -> io::Result<Server> {
        let mut last = other("not started".into());
        for _ in 0..5 {
            let port = free_port(opts.cluster)?;
            let dir = std::env::temp_dir().join(format!(
                "msgq-valkey-{}-{}-{port}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir)?;
            let mut s = Server {
                port,
                dir,
                opts: opts.clone(),
                child: None,
            };
            match s.spawn() {
                Ok(()) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn spawn(&mut self) -> io::Result<()> {
        let bin = bin_dir()?.join("valkey-server");
        let mut cmd = Command::new(bin);
        cmd.args([
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ]);
        cmd.arg("--dir").arg(&self.dir);
        cmd.args(["--logfile", "valkey.log", "--daemonize", "no"]);
        if self.opts.persistent {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        if self.opts.cluster {
            cmd.args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ]);
            cmd.args(["--cluster-node-timeout", "5000"]);
        }
        cmd.args(&self.opts.extra);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: the closure only calls prctl, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = child.try_wait()? {
                let log = std::fs::read_to_string(self.dir.join("valkey.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                return Err(other(format!(
                    "valkey-server on port {} exited ({st}): {tail:?}",
                    self.port
                )));
            }
            if let Ok(mut c) = Conn::connect(&self.endpoint(), &quick()) {
                // Any reply (NOAUTH included) means the server is up.
                if matches!(c.call(&[b"PING"]), Ok(_) | Err(crate::Error::Server(_))) {
                    break;
                }
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(other(format!(
                    "valkey-server on port {} did not answer",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
        Ok(())
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::new("127.0.0.1", self.port)
    }

    /// `valkey://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("valkey://127.0.0.1:{}", self.port)
    }

    /// The server's working directory (logs, AOF, nodes.conf).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A new connection to this server (for inspecting it: CLIENT LIST, DBSIZE...).
    pub fn conn(&self) -> io::Result<Conn> {
        Conn::connect(&self.endpoint(), &quick()).map_err(io::Error::from)
    }

    /// One command on a new connection.
    pub fn call(&self, args: &[&[u8]]) -> Result<Value, crate::Error> {
        Conn::connect(&self.endpoint(), &quick())?.call(args)
    }

    /// Kills the server (SIGKILL, a crash) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills the server if it runs and starts it again on the same port and directory (what
    /// was persisted, and a cluster node's nodes.conf, survive).
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // The port may stay busy for a moment after the kill.
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A cluster of masters without replicas, all slots assigned, `cluster_state:ok` everywhere.
pub struct Cluster {
    /// The masters, in creation order.
    pub nodes: Vec<Server>,
}

impl Cluster {
    /// Starts `masters` (at least 3) cluster nodes and creates the cluster with
    /// `valkey-cli --cluster create`.
    pub fn start(masters: usize) -> io::Result<Cluster> {
        Cluster::start_with(masters, ServerOptions::default())
    }

    /// Like [`Cluster::start`], each node started as `opts` says (`cluster` is forced on).
    pub fn start_with(masters: usize, mut opts: ServerOptions) -> io::Result<Cluster> {
        opts.cluster = true;
        let mut nodes = Vec::with_capacity(masters);
        for _ in 0..masters {
            nodes.push(Server::start_with(opts.clone())?);
        }
        let c = Cluster { nodes };
        let cli = bin_dir()?.join("valkey-cli");
        let mut cmd = Command::new(cli);
        cmd.args(["--cluster", "create"]);
        for n in &c.nodes {
            cmd.arg(format!("127.0.0.1:{}", n.port));
        }
        cmd.args(["--cluster-replicas", "0", "--cluster-yes"]);
        let out = cmd.stdin(Stdio::null()).output()?;
        if !out.status.success() {
            return Err(other(format!(
                "valkey-cli --cluster create failed: {}",
                String::from_utf8_lossy(&out.stdout)
            )));
        }
        c.wait_ok(Duration::from_secs(30))?;
        Ok(c)
    }

    /// Waits until every node says `cluster_state:ok` and knows the owner of every slot.
    pub fn wait_ok(&self, bound: Duration) -> io::Result<()> {
        let deadline = Instant::now() + bound;
        loop {
            let ok = self.nodes.iter().all(|n| {
                let info = n.call(&[b"CLUSTER", b"INFO"]).ok();
                let info = info.as_ref().and_then(Value::as_bytes).unwrap_or_default();
                String::from_utf8_lossy(info).contains("cluster_state:ok")
                    && n.call(&[b"CLUSTER", b"SLOTS"]).is_ok_and(|v| {
                        let covered: i64 = v
                            .as_array()
                            .unwrap_or_default()
                            .iter()
                            .filter_map(|r| {
                                let r = r.as_array()?;
                                Some(r.get(1)?.as_int()? - r.first()?.as_int()? + 1)
                            })
                            .sum();
                        covered == 16384
                    })
            });
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(other("cluster did not reach cluster_state:ok".into()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `valkey://127.0.0.1:p1,127.0.0.1:p2,...`.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("valkey://{}", seeds.join(","))
    }

    /// Restarts node `i` (SIGKILL, then the same port and nodes.conf) and waits for the
    /// cluster to be ok again.
    pub fn restart_node(&mut self, i: usize) -> io::Result<()> {
        self.nodes
            .get_mut(i)
            .ok_or_else(|| other(format!("no node {i}")))?
            .restart()?;
        self.wait_ok(Duration::from_secs(30))
    }
}
