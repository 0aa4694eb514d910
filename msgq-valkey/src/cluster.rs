//! The client: one node or a cluster, routing by key, redirections, lazy function loading.

use std::time::{Duration, Instant};

use crate::conn::{Conn, ConnConfig};
use crate::resp::Value;
use crate::url::{Endpoint, Url};
use crate::Error;

/// Number of hash slots of a cluster.
pub const SLOTS: u16 = 16384;

/// CRC16-XMODEM (polynomial 0x1021, initial value 0), as the cluster's key hashing uses it.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The hash slot of a key, exactly as the server's `keyHashSlot`: when the key holds a `{`
/// followed later by a `}` with at least one byte between them, only the bytes between the
/// first `{` and the first `}` after it are hashed.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&c| c == b'{') {
        Some(s) => match key[s + 1..].iter().position(|&c| c == b'}') {
            Some(0) | None => key,
            Some(len) => &key[s + 1..s + 1 + len],
        },
        None => key,
    };
    crc16(hashed) & (SLOTS - 1)
}

/// How a [`Client`] is set up.
#[derive(Clone, Debug)]
pub struct Options {
    /// Timeouts and authentication of every connection.
    pub conn: ConnConfig,
    /// The library that [`Client::fcall`] loads (`FUNCTION LOAD REPLACE`) on a node that
    /// answers `ERR Function not found`. Its first line is `#!lua name=...`.
    pub library: Option<Vec<u8>>,
    /// Redirections (`MOVED`, `ASK`) and retries (`TRYAGAIN`, `CLUSTERDOWN`, a node that cannot
    /// be reached) allowed for one call before the last error is returned.
    pub max_attempts: u32,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            conn: ConnConfig::default(),
            library: None,
            max_attempts: 6,
        }
    }
}

impl Options {
    /// Options with the URL's user, password and database and the default timeouts.
    pub fn from_url(url: &Url) -> Options {
        let mut o = Options::default();
        o.conn.user = url.user.clone();
        o.conn.password = url.password.clone();
        o.conn.db = url.db;
        o
    }
}

const NO_NODE: u16 = u16::MAX;

struct Node {
    endpoint: Endpoint,
    /// Connection for ordinary calls.
    conn: Option<Conn>,
    /// Dedicated connection for blocking calls (kept between them, dropped when interrupted).
    blocking: Option<Conn>,
}

enum Topology {
    /// Cluster support disabled: every call goes to `nodes[0]`.
    Single,
    /// Owner (index in `nodes`) of every slot, `NO_NODE` when unassigned.
    Cluster(Box<[u16]>),
}

/// A client for one server or a cluster. Not thread-safe by itself (methods take `&mut self`):
/// the caller keeps one per thread or behind a lock. Opens no thread, writes nothing on
/// stdout/stderr, never panics on what the network sends. Connections are opened lazily, one
/// per node (plus one per node for blocking calls), and reopened when broken or after `fork`.
///
/// TLS is not supported (yet): `valkeys://` and `rediss://` URLs are refused with `EINVAL`.
pub struct Client {
    opts: Options,
    seeds: Vec<Endpoint>,
    nodes: Vec<Node>,
    topo: Topology,
}

/// Where a call goes.
#[derive(Clone, Copy)]
enum Route<'a> {
    Key(&'a [u8]),
    Any,
}

/// What to do after an error reply.
enum Redirect {
    Moved(u16, Endpoint),
    Ask(Endpoint),
    Retry,
    LoadLibrary,
    None,
}

fn parse_endpoint_reply(s: &str) -> Option<Endpoint> {
    let (host, port) = s.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some(Endpoint::new(host, port.parse().ok()?))
}

fn classify(msg: &[u8], has_library: bool) -> Redirect {
    let s = String::from_utf8_lossy(msg);
    let mut words = s.split_ascii_whitespace();
    match words.next() {
        Some("MOVED") => {
            let slot = words.next().and_then(|w| w.parse::<u16>().ok());
            match (slot, words.next().and_then(parse_endpoint_reply)) {
                (Some(slot), Some(ep)) if slot < SLOTS => Redirect::Moved(slot, ep),
                _ => Redirect::None,
            }
        }
        Some("ASK") => match words.nth(1).and_then(parse_endpoint_reply) {
            Some(ep) => Redirect::Ask(ep),
            None => Redirect::None,
        },
        Some("TRYAGAIN" | "CLUSTERDOWN" | "LOADING" | "MASTERDOWN") => Redirect::Retry,
        _ if has_library && s.starts_with("ERR Function not found") => Redirect::LoadLibrary,
        _ => Redirect::None,
    }
}

/// Pause before the `attempt`-th retry: 10, 20, 40, ... ms, at most 200 ms.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((10u64 << attempt.min(5)).min(200))
}

impl Client {
    /// Connects to the first reachable seed of `url` (see [`crate::url`]) and learns the
    /// topology, with the URL's credentials and default options otherwise.
    pub fn connect(url: &str) -> Result<Client, Error> {
        let url = Url::parse(url)?;
        let opts = Options::from_url(&url);
        Client::with_options(&url.seeds, opts)
    }

    /// Connects to the first reachable seed and learns the topology: `CLUSTER SLOTS`, or one
    /// node when the server answers that cluster support is disabled.
    pub fn with_options(seeds: &[Endpoint], opts: Options) -> Result<Client, Error> {
        if seeds.is_empty() {
            return Err(Error::InvalidInput("no seed".into()));
        }
        let mut c = Client {
            opts,
            seeds: seeds.to_vec(),
            nodes: Vec::new(),
            topo: Topology::Single,
        };
        c.refresh()?;
        Ok(c)
    }

    /// The options in use.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// True when the server is a cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.topo, Topology::Cluster(_))
    }

    /// The nodes known (the masters of a cluster, or the single server).
    pub fn nodes(&self) -> Vec<Endpoint> {
        self.nodes.iter().map(|n| n.endpoint.clone()).collect()
    }

    /// The node that owns `key` in the current slot map.
    pub fn node_for_key(&self, key: &[u8]) -> Option<Endpoint> {
        self.route(Route::Key(key))
            .map(|i| self.nodes[i].endpoint.clone())
    }

    fn node_index(&mut self, ep: &Endpoint) -> usize {
        match self.nodes.iter().position(|n| &n.endpoint == ep) {
            Some(i) => i,
            None => {
                self.nodes.push(Node {
                    endpoint: ep.clone(),
                    conn: None,
                    blocking: None,
                });
                self.nodes.len() - 1
            }
        }
    }

    /// Reloads the topology from the known nodes, then the seeds (the first that answers).
    pub fn refresh(&mut self) -> Result<(), Error> {
        let mut candidates: Vec<Endpoint> = self.nodes.iter().map(|n| n.endpoint.clone()).collect();
        for s in &self.seeds {
            if !candidates.contains(s) {
                candidates.push(s.clone());
            }
        }
        let mut last = Error::TimedOut;
        for ep in candidates {
            let i = self.node_index(&ep);
            match self.call_node(i, &[b"CLUSTER", b"SLOTS"]) {
                Ok(v) => return self.apply_slots(i, &v),
                Err(Error::Server(msg))
                    if String::from_utf8_lossy(&msg).contains("cluster support disabled") =>
                {
                    self.topo = Topology::Single;
                    if i != 0 {
                        self.nodes.swap(0, i);
                    }
                    self.nodes.truncate(1);
                    return Ok(());
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn apply_slots(&mut self, asked: usize, v: &Value) -> Result<(), Error> {
        let bad = || Error::Protocol("unexpected CLUSTER SLOTS reply");
        let mut map = vec![NO_NODE; SLOTS as usize].into_boxed_slice();
        let asked_host = self.nodes[asked].endpoint.host.clone();
        for range in v.as_array().ok_or_else(bad)? {
            let r = range.as_array().ok_or_else(bad)?;
            let (Some(lo), Some(hi), Some(master)) = (r.first(), r.get(1), r.get(2)) else {
                return Err(bad());
            };
            let (lo, hi) = (lo.as_int().ok_or_else(bad)?, hi.as_int().ok_or_else(bad)?);
            let m = master.as_array().ok_or_else(bad)?;
            let host = m.first().and_then(Value::as_bytes).ok_or_else(bad)?;
            let port = m.get(1).and_then(Value::as_int).ok_or_else(bad)?;
            let host = match host {
                // An empty or unknown host: the node we asked (as the protocol documents).
                b"" | b"?" => asked_host.clone(),
                h => String::from_utf8_lossy(h).into_owned(),
            };
            let port = u16::try_from(port).map_err(|_| bad())?;
            if !(0..SLOTS as i64).contains(&lo) || !(lo..SLOTS as i64).contains(&hi) {
                return Err(bad());
            }
            let idx = self.node_index(&Endpoint::new(host, port));
            let idx = u16::try_from(idx).map_err(|_| bad())?;
            for s in lo..=hi {
                map[s as usize] = idx;
            }
        }
        self.topo = Topology::Cluster(map);
        Ok(())
    }

    fn route(&self, r: Route<'_>) -> Option<usize> {
        match (&self.topo, r) {
            (Topology::Single, _) => (!self.nodes.is_empty()).then_some(0),
            (Topology::Cluster(map), Route::Key(k)) => match map[key_slot(k) as usize] {
                NO_NODE => None,
                i => Some(i as usize),
            },
            (Topology::Cluster(map), Route::Any) => {
                map.iter().find(|&&i| i != NO_NODE).map(|&i| i as usize)
            }
        }
    }

    /// The ordinary connection of node `i`, (re)opened when missing, broken or inherited.
    fn conn(&mut self, i: usize, blocking: bool) -> Result<&mut Conn, Error> {
        let cfg = &self.opts.conn;
        let node = &mut self.nodes[i];
        let slot = if blocking {
            &mut node.blocking
        } else {
            &mut node.conn
        };
        if !slot.as_mut().is_some_and(Conn::is_usable) {
            *slot = None;
            *slot = Some(Conn::connect(&node.endpoint, cfg)?);
        }
        slot.as_mut().ok_or(Error::Protocol("unreachable"))
    }

    fn call_node(&mut self, i: usize, args: &[&[u8]]) -> Result<Value, Error> {
        self.conn(i, false)?.call(args)
    }

    /// Runs a command on the given node (one of [`Client::nodes`], or any other address),
    /// without redirections: e.g. `SCAN` of each master.
    pub fn call_on(&mut self, node: &Endpoint, args: &[&[u8]]) -> Result<Value, Error> {
        let i = self.node_index(node);
        self.call_node(i, args)
    }

    /// Runs a command on the node that owns `key` (any node for a single server), following
    /// `MOVED` (the slot map is reloaded) and `ASK` redirections and retrying `TRYAGAIN` and
    /// `CLUSTERDOWN` with short pauses, at most `max_attempts` times. A node that cannot be
    /// connected to makes the client reload the map and try again; a failure after the command
    /// was sent is returned as is (the command may or may not have run).
    pub fn call_key(&mut self, key: &[u8], args: &[&[u8]]) -> Result<Value, Error> {
        self.run(Route::Key(key), args, false, None)
    }

    /// Runs a command on some node (the one holding slot 0's owner first), with the same
    /// redirections as [`Client::call_key`]: for commands without a key.
    pub fn call_any(&mut self, args: &[&[u8]]) -> Result<Value, Error> {
        self.run(Route::Any, args, false, None)
    }

    /// Runs a command on every node (e.g. `FUNCTION FLUSH`, `FLUSHALL`); the replies in
    /// [`Client::nodes`] order. Stops at the first failure.
    pub fn call_all(&mut self, args: &[&[u8]]) -> Result<Vec<Value>, Error> {
        let masters: Vec<usize> = match &self.topo {
            Topology::Single => vec![0],
            Topology::Cluster(map) => {
                let mut v: Vec<usize> = map
                    .iter()
                    .filter(|&&i| i != NO_NODE)
                    .map(|&i| i as usize)
                    .collect();
                v.sort_unstable();
                v.dedup();
                v
            }
        };
        masters
            .into_iter()
            .map(|i| self.call_node(i, args))
            .collect()
    }

    /// A blocking command (BLMOVE, BLPOP, ...) on the node that owns `key`, on that node's
    /// dedicated blocking connection (a connection blocked in the server cannot carry other
    /// calls; the ordinary one stays free for follow-up calls, e.g. a cancel after
    /// [`Error::Interrupted`]). Waits until `deadline` (`None`: no bound; give the command a
    /// server-side timeout that ends before the deadline). Redirections are followed as in
    /// [`Client::call_key`] (they are answered at once). On `Interrupted` or `TimedOut` the
    /// blocking connection is closed: the server drops the blocked command.
    pub fn call_key_blocking(
        &mut self,
        key: &[u8],
        args: &[&[u8]],
        deadline: Option<Instant>,
    ) -> Result<Value, Error> {
        self.run(Route::Key(key), args, true, deadline)
    }

    /// A new connection, owned by the caller, to the node that owns `key`: for a caller that
    /// wants to block on it without holding the `Client` (e.g. without its lock).
    pub fn dedicated_conn(&mut self, key: &[u8]) -> Result<Conn, Error> {
        let i = self
            .route(Route::Key(key))
            .ok_or(Error::Server(b"CLUSTERDOWN Hash slot not served".to_vec()))?;
        let ep = self.nodes[i].endpoint.clone();
        Conn::connect(&ep, &self.opts.conn)
    }

    /// `FCALL name numkeys keys... args...`, routed by the first key. On `ERR Function not
    /// found` the library given in [`Options::library`] is loaded on that node (`FUNCTION LOAD
    /// REPLACE`) and the call retried once; in a cluster each master gets the library the
    /// first time a call reaches it without it (also after a restart that lost it).
    pub fn fcall(&mut self, name: &[u8], keys: &[&[u8]], args: &[&[u8]]) -> Result<Value, Error> {
        let nk = keys.len().to_string();
        let mut argv: Vec<&[u8]> = Vec::with_capacity(3 + keys.len() + args.len());
        argv.push(b"FCALL");
        argv.push(name);
        argv.push(nk.as_bytes());
        argv.extend_from_slice(keys);
        argv.extend_from_slice(args);
        let route = keys.first().map_or(Route::Any, |k| Route::Key(k));
        self.run(route, &argv, false, None)
    }

    /// The one loop behind every routed call. Functions never block in the server, so there
    /// is no `fcall_blocking`: block with BLMOVE/BLPOP through [`Client::call_key_blocking`].
    fn run(
        &mut self,
        route: Route<'_>,
        args: &[&[u8]],
        blocking: bool,
        deadline: Option<Instant>,
    ) -> Result<Value, Error> {
        let mut asking: Option<usize> = None;
        let mut loaded = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last_attempt = attempt >= self.opts.max_attempts.max(1);
            let i = match asking.take() {
                Some(i) => Some((i, true)),
                None => self.route(route).map(|i| (i, false)),
            };
            let Some((i, ask)) = i else {
                // Slot not served in our map: reload it, then retry.
                if last_attempt {
                    return Err(Error::Server(b"CLUSTERDOWN Hash slot not served".to_vec()));
                }
                std::thread::sleep(backoff(attempt));
                let _ = self.refresh();
                continue;
            };
            let conn = match self.conn(i, blocking) {
                Ok(c) => c,
                Err(e) => {
                    // Nothing was sent: safe to retry after reloading the map.
                    if last_attempt || !self.is_cluster() {
                        return Err(e);
                    }
                    std::thread::sleep(backoff(attempt));
                    let _ = self.refresh();
                    continue;
                }
            };
            let r = if ask {
                // ASKING then the command, on the same connection, as one pipeline.
                if blocking {
                    conn.call(&[b"ASKING"])
                        .and_then(|_| conn.call_blocking(args, deadline))
                } else {
                    match conn.pipeline(&[&[b"ASKING"], args]) {
                        Ok(mut v) => match v.pop() {
                            Some(Value::Error(e)) => Err(Error::Server(e)),
                            Some(v) => Ok(v),
                            None => Err(Error::Protocol("missing reply")),
                        },
                        Err(e) => Err(e),
                    }
                }
            } else if blocking {
                conn.call_blocking(args, deadline)
            } else {
                conn.call(args)
            };
            if blocking && matches!(r, Err(Error::Interrupted | Error::TimedOut)) {
                // Closed now (not at the next blocking call): the server drops the command.
                self.nodes[i].blocking = None;
            }
            let Err(Error::Server(msg)) = r else {
                return r;
            };
            if last_attempt {
                return Err(Error::Server(msg));
            }
            match classify(&msg, self.opts.library.is_some() && !loaded) {
                Redirect::Moved(slot, ep) => {
                    let j = self.node_index(&ep);
                    if let Topology::Cluster(map) = &mut self.topo {
                        map[slot as usize] = j as u16;
                    }
                    // The whole map probably changed (resharding, failover): reload it. If that
                    // fails, the slot updated just above still routes the retry.
                    let _ = self.refresh();
                }
                Redirect::Ask(ep) => asking = Some(self.node_index(&ep)),
                Redirect::Retry => std::thread::sleep(backoff(attempt)),
                Redirect::LoadLibrary => {
                    loaded = true;
                    let code = self.opts.library.clone().unwrap_or_default();
                    self.conn(i, false)?
                        .call(&[b"FUNCTION", b"LOAD", b"REPLACE", &code])?;
                }
                Redirect::None => return Err(Error::Server(msg)),
            }
        }
    }

    /// Test hook: points every slot at node `to` of [`Client::nodes`], as a stale map would.
    #[doc(hidden)]
    pub fn corrupt_slot_map_for_tests(&mut self, to: usize) {
        if let Topology::Cluster(map) = &mut self.topo {
            if to < self.nodes.len() {
                map.fill(to as u16);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_and_slots_match_the_server() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(
            key_slot(b"{user1000}.following"),
            key_slot(b"{user1000}.followers")
        );
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        // Empty tag: the whole key is hashed; only the first tag counts.
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") & 16383);
        assert_eq!(key_slot(b"foo{{bar}}zap"), crc16(b"{bar") & 16383);
        assert_eq!(key_slot(b"foo{bar}{zap}"), key_slot(b"bar"));
        assert_eq!(key_slot(b"{msgq:NS:17}:q"), key_slot(b"msgq:NS:17"));
        assert_eq!(key_slot(b""), 0);
    }

    #[test]
    fn classifies_redirections() {
        assert!(matches!(classify(b"MOVED 3999 127.0.0.1:6381", false),
            Redirect::Moved(3999, ep) if ep == Endpoint::new("127.0.0.1", 6381)));
        assert!(
            matches!(classify(b"ASK 3999 [::1]:6381", false), Redirect::Ask(ep) if ep == Endpoint::new("::1", 6381))
        );
        assert!(matches!(
            classify(b"TRYAGAIN Multiple keys", false),
            Redirect::Retry
        ));
        assert!(matches!(
            classify(b"CLUSTERDOWN The cluster is down", false),
            Redirect::Retry
        ));
        assert!(matches!(
            classify(b"ERR Function not found", true),
            Redirect::LoadLibrary
        ));
        assert!(matches!(
            classify(b"ERR Function not found", false),
            Redirect::None
        ));
        assert!(matches!(classify(b"MOVED x y", false), Redirect::None));
    }
}
