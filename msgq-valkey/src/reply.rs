//! The functions library's replies, read into types (`functions/msgq.lua`, "Conventions").

use crate::resp::Value;
use msgq_core::Errno;

/// A reply of a library function.
#[derive(Debug)]
pub(crate) enum Reply {
    /// Done: the reply's other elements.
    Done(Vec<Value>),
    /// Failed with this errno (a negative number in the reply).
    Failed(Errno),
    /// The call must block: the waiter's id.
    Wait(Vec<u8>),
    /// A compare-and-set found a change: decide again.
    Retry,
}

/// Reads a library reply; anything else is a protocol error (`EIO`).
pub(crate) fn reply(v: Value) -> Result<Reply, Errno> {
    let Value::Array(mut items) = v else {
        return Err(Errno::EIO);
    };
    if items.is_empty() {
        return Err(Errno::EIO);
    }
    let head = items.remove(0);
    match head {
        Value::Int(0) => Ok(Reply::Done(items)),
        Value::Int(n) if n < 0 => Ok(Reply::Failed(Errno(i32::try_from(-n).unwrap_or(5)))),
        Value::Bulk(w) | Value::Simple(w) if w == b"WAIT" => match items.pop() {
            Some(Value::Bulk(id)) | Some(Value::Simple(id)) => Ok(Reply::Wait(id)),
            Some(Value::Int(id)) => Ok(Reply::Wait(id.to_string().into_bytes())),
            _ => Err(Errno::EIO),
        },
        Value::Bulk(w) | Value::Simple(w) if w == b"RETRY" => Ok(Reply::Retry),
        _ => Err(Errno::EIO),
    }
}

/// An integer element (`Int`, or a decimal bulk string as hashes return).
pub(crate) fn int(v: &Value) -> Result<i64, Errno> {
    match v {
        Value::Int(n) => Ok(*n),
        Value::Bulk(b) | Value::Simple(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(Errno::EIO),
        _ => Err(Errno::EIO),
    }
}

/// A bytes element.
pub(crate) fn bytes(v: Value) -> Result<Vec<u8>, Errno> {
    match v {
        Value::Bulk(b) | Value::Simple(b) => Ok(b),
        Value::Int(n) => Ok(n.to_string().into_bytes()),
        _ => Err(Errno::EIO),
    }
}

/// A hash field and its value.
pub(crate) type Pair = (Vec<u8>, Vec<u8>);

/// A flat `[field, value, ...]` array as pairs.
pub(crate) fn pairs(v: Value) -> Result<Vec<Pair>, Errno> {
    let Value::Array(items) = v else {
        return Err(Errno::EIO);
    };
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((bytes(k)?, bytes(v)?));
    }
    Ok(out)
}

/// A decimal number in bytes.
pub(crate) fn num<T: std::str::FromStr>(b: &[u8]) -> Result<T, Errno> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(Errno::EIO)
}
