//! RESP2 values, command encoding and an incremental decoder.
//!
//! Commands are sent as arrays of bulk strings (binary safe). Replies are decoded from a byte
//! buffer by [`parse`], which either returns a complete value and the number of bytes it used,
//! or `Ok(None)` when more bytes are needed: the connection reads more and parses again. The
//! client never sends `HELLO 3`, so the server speaks RESP2; the RESP3 types are still
//! understood (mapped onto the RESP2 ones) so that a proxy answering in RESP3 does not break it.

use std::fmt;

/// A reply from the server.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// Null bulk string or null array (`$-1`, `*-1`, RESP3 `_`).
    Nil,
    /// Integer reply (`:`); RESP3 booleans are 1 and 0.
    Int(i64),
    /// Simple string (`+OK`).
    Simple(Vec<u8>),
    /// Error reply (`-ERR ...`), without the `-` and the line end. At the top level of a reply
    /// the connection turns it into [`crate::Error::Server`]; inside arrays it stays a value.
    Error(Vec<u8>),
    /// Bulk string (`$`); also RESP3 doubles, big numbers and verbatim strings (as text).
    Bulk(Vec<u8>),
    /// Array (`*`); also RESP3 maps (flattened key, value, ...), sets and pushes.
    Array(Vec<Value>),
}

impl Value {
    /// The bytes of a bulk or simple string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(b) | Value::Simple(b) => Some(b),
            _ => None,
        }
    }

    /// The integer of an `Int`, or of a string holding a decimal integer.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bulk(b) | Value::Simple(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }

    /// The elements of an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// True for `Nil`.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => write!(f, "Nil"),
            Value::Int(i) => write!(f, "Int({i})"),
            Value::Simple(b) => write!(f, "Simple({:?})", String::from_utf8_lossy(b)),
            Value::Error(b) => write!(f, "Error({:?})", String::from_utf8_lossy(b)),
            Value::Bulk(b) => write!(f, "Bulk({:?})", String::from_utf8_lossy(b)),
            Value::Array(a) => f.debug_list().entries(a).finish(),
        }
    }
}

/// Appends `args` to `out` as one command: `*N\r\n` then `$len\r\narg\r\n` for each argument.
pub fn encode_command(args: &[&[u8]], out: &mut Vec<u8>) {
    let total: usize = args.iter().map(|a| a.len() + 16).sum();
    out.reserve(total + 16);
    push_header(out, b'*', args.len());
    for a in args {
        push_header(out, b'$', a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn push_header(out: &mut Vec<u8>, kind: u8, n: usize) {
    out.push(kind);
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// A malformed reply: the stream cannot be trusted any more (the connection is dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolError(pub &'static str);

/// Largest bulk string accepted (the server's own default `proto-max-bulk-len`).
pub const MAX_BULK: usize = 512 << 20;
/// Largest number of elements accepted in one aggregate.
pub const MAX_ELEMENTS: usize = 1 << 24;
/// Deepest nesting accepted (the decoder recurses once per level).
pub const MAX_DEPTH: usize = 64;

/// Parses one value from the start of `buf`. `Ok(Some((value, used)))` when complete,
/// `Ok(None)` when `buf` holds only a prefix of a value.
pub fn parse(buf: &[u8]) -> Result<Option<(Value, usize)>, ProtocolError> {
    let mut pos = 0;
    match parse_at(buf, &mut pos, 0)? {
        Some(v) => Ok(Some((v, pos))),
        None => Ok(None),
    }
}

/// The line starting at `*pos` (without `\r\n`), advancing `*pos` past it.
fn line<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let rest = buf.get(*pos..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    *pos += end + 2;
    rest.get(..end)
}

fn int(line: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(ProtocolError("bad integer"))
}

/// A length prefix: -1 is `None` (null), other negatives and sizes above `max` are errors.
fn length(line: &[u8], max: usize) -> Result<Option<usize>, ProtocolError> {
    match int(line)? {
        -1 => Ok(None),
        n if n < 0 => Err(ProtocolError("negative length")),
        n => {
            let n = usize::try_from(n).map_err(|_| ProtocolError("length too large"))?;
            if n > max {
                Err(ProtocolError("length too large"))
            } else {
                Ok(Some(n))
            }
        }
    }
}

fn parse_at(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Value>, ProtocolError> {
    if depth > MAX_DEPTH {
        return Err(ProtocolError("reply nested too deeply"));
    }
    let Some(&kind) = buf.get(*pos) else {
        return Ok(None);
    };
    *pos += 1;
    let Some(l) = line(buf, pos) else {
        return Ok(None);
    };
    let v = match kind {
        b'+' => Value::Simple(l.to_vec()),
        b'-' => Value::Error(l.to_vec()),
        b':' => Value::Int(int(l)?),
        b'$' | b'=' | b'!' => {
            let Some(n) = length(l, MAX_BULK)? else {
                return Ok(Some(Value::Nil));
            };
            let Some(body) = buf.get(*pos..).and_then(|r| r.get(..n + 2)) else {
                return Ok(None);
            };
            if &body[n..] != b"\r\n" {
                return Err(ProtocolError("bulk string not followed by CRLF"));
            }
            *pos += n + 2;
            let mut data = body[..n].to_vec();
            match kind {
                b'!' => Value::Error(data),
                b'=' => {
                    // Verbatim string: "txt:" then the text.
                    if data.len() >= 4 && data[3] == b':' {
                        data.drain(..4);
                    }
                    Value::Bulk(data)
                }
                _ => Value::Bulk(data),
            }
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let Some(mut n) = length(l, MAX_ELEMENTS)? else {
                return Ok(Some(Value::Nil));
            };
            if matches!(kind, b'%' | b'|') {
                n = n.checked_mul(2).ok_or(ProtocolError("length too large"))?;
            }
            let mut items = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                match parse_at(buf, pos, depth + 1)? {
                    Some(v) => items.push(v),
                    None => return Ok(None),
                }
            }
            if kind == b'|' {
                // RESP3 attributes precede the value they describe: skip them.
                return parse_at(buf, pos, depth + 1);
            }
            Value::Array(items)
        }
        b'_' => Value::Nil,
        b'#' => match l {
            b"t" => Value::Int(1),
            b"f" => Value::Int(0),
            _ => return Err(ProtocolError("bad boolean")),
        },
        b',' | b'(' => Value::Bulk(l.to_vec()),
        _ => return Err(ProtocolError("unknown reply type")),
    };
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_binary_safe_bulk_strings() {
        let mut out = Vec::new();
        encode_command(&[b"SET", b"k\r\n", b""], &mut out);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$0\r\n\r\n");
        let mut big = Vec::new();
        push_header(&mut big, b'$', 1234567890);
        assert_eq!(big, b"$1234567890\r\n");
    }

    #[test]
    fn parses_every_type_and_reports_incomplete_prefixes() {
        let wire: &[u8] =
            b"*7\r\n+OK\r\n-ERR bad\r\n:-42\r\n$5\r\na\r\nbc\r\n$-1\r\n*-1\r\n*1\r\n$0\r\n\r\n";
        for cut in 0..wire.len() {
            assert_eq!(parse(&wire[..cut]), Ok(None), "prefix of {cut} bytes");
        }
        let (v, used) = parse(wire).unwrap().unwrap();
        assert_eq!(used, wire.len());
        assert_eq!(
            v,
            Value::Array(vec![
                Value::Simple(b"OK".to_vec()),
                Value::Error(b"ERR bad".to_vec()),
                Value::Int(-42),
                Value::Bulk(b"a\r\nbc".to_vec()),
                Value::Nil,
                Value::Nil,
                Value::Array(vec![Value::Bulk(Vec::new())]),
            ])
        );
        // Two values back to back: the first one only.
        assert_eq!(parse(b":1\r\n:2\r\n"), Ok(Some((Value::Int(1), 4))));
    }

    #[test]
    fn tolerates_resp3() {
        let (v, _) = parse(b"%1\r\n+k\r\n#t\r\n").unwrap().unwrap();
        assert_eq!(
            v,
            Value::Array(vec![Value::Simple(b"k".to_vec()), Value::Int(1)])
        );
        let (v, _) = parse(b"=8\r\ntxt:abcd\r\n").unwrap().unwrap();
        assert_eq!(v, Value::Bulk(b"abcd".to_vec()));
        let (v, _) = parse(b"|1\r\n+a\r\n+b\r\n:7\r\n").unwrap().unwrap();
        assert_eq!(v, Value::Int(7));
        assert_eq!(parse(b"_\r\n"), Ok(Some((Value::Nil, 3))));
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse(b"?x\r\n").is_err());
        assert!(parse(b":12a\r\n").is_err());
        assert!(parse(b"$3\r\nabcXY").is_err());
        assert!(parse(b"$-2\r\n").is_err());
        assert!(parse(b"$999999999999\r\n").is_err());
        let deep = "*1\r\n".repeat(MAX_DEPTH + 2);
        assert!(parse(deep.as_bytes()).is_err());
    }
}
