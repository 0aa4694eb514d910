//! The chaos tests' message format: every message names its sender incarnation and its
//! sequence number, repeats its type, and ends with a checksum of everything before it, so
//! a receiver can tell a corrupted, truncated or mistyped message from a good one.
//!
//! ```text
//! sid u64 | seq u64 | mtype i64 | payload (0..=MAX_PAYLOAD bytes, from a PRNG) | fnv64 u64
//! ```

use crate::rng::Rng;

pub const HEADER: usize = 24;
pub const MAX_PAYLOAD: usize = 200;
pub const MAX_LEN: usize = HEADER + MAX_PAYLOAD + 8;

pub fn fnv64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn payload_rng(sid: u64, seq: u64) -> (Rng, usize) {
    let mut r = Rng::new(sid.rotate_left(17) ^ seq);
    let n = r.below(MAX_PAYLOAD as u64 + 1) as usize;
    (r, n)
}

/// The payload length of message `seq` of sender `sid` (0..=MAX_PAYLOAD): a sender that
/// wants a message of a given size picks the sequence number (the store-full filler does).
pub fn payload_len(sid: u64, seq: u64) -> usize {
    payload_rng(sid, seq).1
}

/// The text of message `seq` of sender `sid`, with type `mtype`.
pub fn encode(sid: u64, seq: u64, mtype: i64) -> Vec<u8> {
    let (mut r, n) = payload_rng(sid, seq);
    let mut v = Vec::with_capacity(HEADER + n + 8);
    v.extend_from_slice(&sid.to_le_bytes());
    v.extend_from_slice(&seq.to_le_bytes());
    v.extend_from_slice(&mtype.to_le_bytes());
    let mut p = vec![0u8; n];
    r.fill(&mut p);
    v.extend_from_slice(&p);
    let h = fnv64(&v);
    v.extend_from_slice(&h.to_le_bytes());
    v
}

/// Checks a received text against the type it came with; returns `(sid, seq)`.
pub fn decode(text: &[u8], mtype: i64) -> Result<(u64, u64), String> {
    if text.len() < HEADER + 8 {
        return Err(format!("short message ({} bytes)", text.len()));
    }
    let (body, sum) = text.split_at(text.len() - 8);
    if fnv64(body) != u64::from_le_bytes(sum.try_into().unwrap()) {
        return Err(format!("bad checksum ({} bytes)", text.len()));
    }
    let w = |i: usize| u64::from_le_bytes(body[i * 8..i * 8 + 8].try_into().unwrap());
    let (sid, seq, t) = (w(0), w(1), w(2) as i64);
    if t != mtype {
        return Err(format!(
            "{sid:#x}/{seq}: sent with type {t}, received as {mtype}"
        ));
    }
    if encode(sid, seq, t) != text {
        return Err(format!(
            "{sid:#x}/{seq}: contents differ from what was sent"
        ));
    }
    Ok((sid, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_len_is_what_encode_writes() {
        for seq in 0..200 {
            let sid = 0x5_0000_0003;
            assert_eq!(
                encode(sid, seq, 7).len(),
                HEADER + payload_len(sid, seq) + 8
            );
            assert_eq!(decode(&encode(sid, seq, 7), 7), Ok((sid, seq)));
        }
    }
}
