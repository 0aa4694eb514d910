//! Queue ids: `(seq << 15) + idx`, and the kernel's cyclic index allocation (1.3).

/// The id shift.
pub const SHIFT: u32 = 15;
/// Number of indices (`ipc_mni`).
pub const IPCMNI: u32 = 1 << SHIFT;
/// Index mask.
pub const MASK: i32 = (IPCMNI - 1) as i32;
/// `seq` wraps to 0 when it would reach this.
pub const SEQ_MAX: u32 = (i32::MAX as u32) >> SHIFT;
/// The smallest cyclic window (`RADIX_TREE_MAP_SIZE`).
pub const MIN_CYCLE: u32 = 64;

/// Builds an id from a sequence number and an index.
pub const fn make_id(seq: u32, idx: u32) -> i32 {
    ((seq << SHIFT) + idx) as i32
}

/// The index an id names.
pub const fn idx_of(id: i32) -> u32 {
    (id & MASK) as u32
}

/// The sequence number an id carries.
pub const fn seq_of(id: i32) -> u32 {
    (id as u32) >> SHIFT
}

/// The namespace-wide allocation state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdState {
    /// The namespace sequence counter.
    pub seq: u32,
    /// Index of the last cyclic allocation, -1 at first.
    pub last_idx: i64,
    /// The next index to try.
    pub cursor: u32,
    /// `msg_next_id`, -1 when unset.
    pub next_id: i64,
}

impl Default for IdState {
    fn default() -> Self {
        IdState {
            seq: 0,
            last_idx: -1,
            cursor: 0,
            next_id: -1,
        }
    }
}

impl IdState {
    /// Picks `(idx, seq)` for a new queue. `in_use` is the number of live queues before this
    /// one, `used(i)` says whether index `i` is taken. The caller has already checked the
    /// `msgmni` limit (ENOSPC); `None` means no index is free (ENOSPC).
    pub fn alloc(&mut self, in_use: u32, used: impl Fn(u32) -> bool) -> Option<(u32, u32)> {
        if self.next_id >= 0 {
            let want = self.next_id;
            self.next_id = -1;
            let seq = (want as u32) >> SHIFT;
            let from = (want as u32) & MASK as u32;
            let idx = (from..IPCMNI).find(|&i| !used(i))?;
            return Some((idx, seq));
        }
        let window = (in_use * 3 / 2).clamp(MIN_CYCLE, IPCMNI);
        let idx = (self.cursor..window)
            .find(|&i| !used(i))
            .or_else(|| (0..window).find(|&i| !used(i)))?;
        self.cursor = idx + 1;
        if idx as i64 <= self.last_idx {
            self.seq += 1;
            if self.seq >= SEQ_MAX {
                self.seq = 0;
            }
        }
        self.last_idx = idx as i64;
        Some((idx, self.seq))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    #[test]
    fn create_remove_cycles_through_64_then_bumps_seq() {
        let mut st = IdState::default();
        let ids: Vec<i32> = (0..70)
            .map(|_| {
                let (i, s) = st.alloc(0, |_| false).unwrap();
                make_id(s, i)
            })
            .collect();
        assert_eq!(&ids[..3], &[0, 1, 2]);
        assert_eq!(ids[63], 63);
        assert_eq!(ids[64], 32768);
        assert_eq!(ids[69], 32773);
    }

    #[test]
    fn freed_index_not_reused_at_once() {
        let mut st = IdState::default();
        let mut used = [false; 64];
        for _ in 0..3 {
            let (i, _) = st.alloc(0, |i| used[i as usize]).unwrap();
            used[i as usize] = true;
        }
        used[1] = false;
        assert_eq!(st.alloc(2, |i| used[i as usize]), Some((3, 0)));
    }

    #[test]
    fn next_id_takes_next_free_index() {
        let mut st = IdState {
            next_id: 7,
            ..Default::default()
        };
        assert_eq!(st.alloc(2, |i| i == 7 || i == 8), Some((9, 0)));
        assert_eq!(st.next_id, -1);
        let mut st = IdState {
            next_id: 163847,
            ..Default::default()
        };
        assert_eq!(
            st.alloc(0, |_| false).map(|(i, s)| make_id(s, i)),
            Some(163847)
        );
        assert_eq!(st.alloc(1, |i| i == 7), Some((0, 0)));
    }
}
