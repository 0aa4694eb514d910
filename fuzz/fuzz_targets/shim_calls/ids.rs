//! Queue ids: the kernel's and the shim's for the same queues.

use crate::decode::Id;

/// Kernel queue ids and the shim's for the same queues, in creation order.
#[derive(Default)]
pub struct IdMap(Vec<(i32, i32)>);

impl IdMap {
    pub fn resolve(&self, id: Id) -> (i32, i32) {
        let slot = |n: u8| self.0.get(n as usize % self.0.len().max(1)).copied();
        match id {
            Id::Slot(n) => slot(n).unwrap_or((0, 0)),
            Id::SlotPlus(n, d) => {
                let (k, s) = slot(n).unwrap_or((0, 0));
                (k.wrapping_add(d), s.wrapping_add(d))
            }
            Id::Raw(v) => (v, self.0.iter().find(|p| p.0 == v).map_or(v, |p| p.1)),
        }
    }

    /// Records that kernel id `k` and shim id `s` name the same queue.
    pub fn pair(&mut self, k: i32, s: i32) -> Result<(), String> {
        match self.0.iter().find(|p| p.0 == k || p.1 == s) {
            Some(&p) if p == (k, s) => Ok(()),
            Some(&p) => Err(format!(
                "id map: kernel {k} / shim {s}, but known pair {p:?}"
            )),
            None => {
                self.0.push((k, s));
                Ok(())
            }
        }
    }

    pub fn forget(&mut self, k: i32) {
        self.0.retain(|p| p.0 != k);
    }
}
