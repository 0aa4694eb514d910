//! `MSGQ_URL` parsing.
//!
//! ```text
//! [valkey://|redis://][user[:password]@]host[:port][,host[:port]...][/db]
//! ```
//!
//! Several comma-separated seeds name nodes of one cluster (any reachable one is enough to
//! learn the others). The scheme may be left out, and may be repeated before each seed
//! (`valkey://a:7000,valkey://b:7001`). The port defaults to 6379; IPv6 addresses are written
//! in brackets (`[::1]:7000`). User and password may be percent-encoded. `valkeys://` and
//! `rediss://` (TLS) are refused with `EINVAL`: TLS is not supported yet.

use crate::Error;

/// Default port of Valkey and Redis.
pub const DEFAULT_PORT: u16 = 6379;

/// One seed: a host name or address and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Endpoint {
    /// Builds an endpoint.
    pub fn new(host: impl Into<String>, port: u16) -> Endpoint {
        Endpoint {
            host: host.into(),
            port,
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A parsed `MSGQ_URL`.
#[derive(Clone, PartialEq, Eq)]
pub struct Url {
    /// The seeds, in the order given (at least one).
    pub seeds: Vec<Endpoint>,
    /// ACL user (`AUTH user password`); `None` with a password means `AUTH password`.
    pub user: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Database number (`SELECT db` after connecting; only 0 exists in a cluster).
    pub db: u32,
}

impl std::fmt::Debug for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Url")
            .field("seeds", &self.seeds)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("db", &self.db)
            .finish()
    }
}

fn bad(what: String) -> Error {
    Error::InvalidInput(what)
}

const SCHEMES: [&str; 2] = ["valkey://", "redis://"];
const TLS_SCHEMES: [&str; 2] = ["valkeys://", "rediss://"];

fn strip_scheme(s: &str) -> Result<&str, Error> {
    let lower = s.get(..10).unwrap_or(s).to_ascii_lowercase();
    for t in TLS_SCHEMES {
        if lower.starts_with(t) {
            return Err(bad(format!("{t} (TLS) is not supported")));
        }
    }
    for sch in SCHEMES {
        if lower.starts_with(sch) {
            return Ok(&s[sch.len()..]);
        }
    }
    if let Some(i) = s.find("://") {
        return Err(bad(format!(
            "unknown scheme {:?} (valkey:// or redis://)",
            &s[..i]
        )));
    }
    Ok(s)
}

fn percent_decode(s: &str) -> Result<String, Error> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad("bad percent-encoding in user or password".into()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad("user or password is not UTF-8".into()))
}

fn parse_endpoint(s: &str) -> Result<Endpoint, Error> {
    let s = strip_scheme(s.trim())?;
    if s.is_empty() {
        return Err(bad("empty host".into()));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let end = rest
            .find(']')
            .ok_or_else(|| bad(format!("unclosed '[' in {s:?}")))?;
        let host = &rest[..end];
        match &rest[end + 1..] {
            "" => (host, None),
            p => (
                host,
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| bad(format!("bad seed {s:?}")))?,
                ),
            ),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            Some(_) => return Err(bad(format!("IPv6 address without brackets: {s:?}"))),
            None => (s, None),
        }
    };
    if host.is_empty() || host.contains(['/', '@', '?', '#', ' ']) {
        return Err(bad(format!("bad host in {s:?}")));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p != 0 => p,
            _ => return Err(bad(format!("bad port {p:?}"))),
        },
    };
    Ok(Endpoint::new(host, port))
}

impl Url {
    /// Parses a URL; every malformed part gives [`Error::InvalidInput`] (`EINVAL`).
    pub fn parse(input: &str) -> Result<Url, Error> {
        let s = strip_scheme(input.trim())?;
        if s.contains(['?', '#']) {
            return Err(bad("query strings and fragments are not supported".into()));
        }
        let (auth, rest) = match s.rfind('@') {
            Some(i) => (Some(&s[..i]), &s[i + 1..]),
            None => (None, s),
        };
        let (user, password) = match auth {
            None => (None, None),
            Some(a) => match a.split_once(':') {
                Some((u, p)) => {
                    let u = percent_decode(u)?;
                    (
                        if u.is_empty() { None } else { Some(u) },
                        Some(percent_decode(p)?),
                    )
                }
                // `valkey://password@host` is how several clients spell a bare password.
                None => (None, Some(percent_decode(a)?)),
            },
        };
        let parts: Vec<&str> = rest
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        let mut seeds = Vec::with_capacity(parts.len());
        let mut db = 0;
        for (n, part) in parts.iter().enumerate() {
            let part = strip_scheme(part)?;
            let host = match part.split_once('/') {
                // Only the last seed may carry the database number.
                Some((h, d)) if n + 1 == parts.len() => {
                    if !d.is_empty() {
                        db = d
                            .parse::<u32>()
                            .map_err(|_| bad(format!("bad database number {d:?}")))?;
                    }
                    h
                }
                _ => part,
            };
            seeds.push(parse_endpoint(host)?);
        }
        if seeds.is_empty() {
            return Err(bad("no host in the URL".into()));
        }
        Ok(Url {
            seeds,
            user,
            password,
            db,
        })
    }
}

impl std::str::FromStr for Url {
    type Err = Error;
    fn from_str(s: &str) -> Result<Url, Error> {
        Url::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seeds_auth_and_defaults() {
        let u = Url::parse("valkey://127.0.0.1:7000,127.0.0.1:7001").unwrap();
        assert_eq!(
            u.seeds,
            vec![
                Endpoint::new("127.0.0.1", 7000),
                Endpoint::new("127.0.0.1", 7001)
            ]
        );
        assert_eq!((u.user, u.password, u.db), (None, None, 0));

        let u = Url::parse("redis://alice:p%40ss:w@localhost/3").unwrap();
        assert_eq!(u.seeds, vec![Endpoint::new("localhost", 6379)]);
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("p@ss:w"));
        assert_eq!(u.db, 3);

        let u = Url::parse("valkey://:secret@[::1]:7000,valkey://[::1]").unwrap();
        assert_eq!(
            u.seeds,
            vec![Endpoint::new("::1", 7000), Endpoint::new("::1", 6379)]
        );
        assert_eq!((u.user, u.password.as_deref()), (None, Some("secret")));

        let u = Url::parse("h1:1,h2").unwrap();
        assert_eq!(
            u.seeds,
            vec![Endpoint::new("h1", 1), Endpoint::new("h2", 6379)]
        );
        assert_eq!(
            Url::parse("VALKEY://pw@h").unwrap().password.as_deref(),
            Some("pw")
        );
    }

    #[test]
    fn refuses_bad_input_with_einval() {
        for s in [
            "",
            "valkey://",
            "valkeys://h:1",
            "rediss://h",
            "http://h:1",
            "valkey://h:0",
            "valkey://h:65536",
            "valkey://h:x",
            "valkey://h:1/x",
            "valkey://h:1?timeout=3",
            "valkey://::1:7000",
            "valkey://[::1",
            "valkey://u:%zz@h",
            ",,",
        ] {
            let e = Url::parse(s).expect_err(s);
            assert_eq!(e.errno(), libc::EINVAL, "{s}");
        }
    }
}
