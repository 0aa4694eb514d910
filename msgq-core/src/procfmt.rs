//! The text of `/proc/sysvipc/msg`.

use core::fmt::{self, Write};

/// The header line, byte for byte.
pub const HEADER: &str = "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n";

/// One queue's row.
#[derive(Clone, Copy, Debug, Default)]
pub struct Row {
    pub key: i32,
    pub id: i32,
    pub mode: u32,
    pub cbytes: u64,
    pub qnum: u64,
    pub lspid: u32,
    pub lrpid: u32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    pub stime: u64,
    pub rtime: u64,
    pub ctime: u64,
}

impl Row {
    /// The row of queue `id` whose `msqid_ds` is `d`.
    pub fn of(id: i32, d: &crate::abi::MsqidDs) -> Row {
        let p = &d.msg_perm;
        Row {
            key: p.key,
            id,
            mode: p.mode,
            cbytes: d.msg_cbytes,
            qnum: d.msg_qnum,
            lspid: d.msg_lspid as u32,
            lrpid: d.msg_lrpid as u32,
            uid: p.uid,
            gid: p.gid,
            cuid: p.cuid,
            cgid: p.cgid,
            stime: d.msg_stime as u64,
            rtime: d.msg_rtime as u64,
            ctime: d.msg_ctime as u64,
        }
    }

    /// Writes the row with the kernel's printf format
    /// `"%10d %10d  %4o  %10lu %10lu %5u %5u %5u %5u %5u %5u %10llu %10llu %10llu\n"`.
    pub fn write_to(&self, w: &mut impl Write) -> fmt::Result {
        writeln!(
            w,
            "{:>10} {:>10}  {:>4o}  {:>10} {:>10} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>10} {:>10} {:>10}",
            self.key, self.id, self.mode, self.cbytes, self.qnum, self.lspid, self.lrpid,
            self.uid, self.gid, self.cuid, self.cgid, self.stime, self.rtime, self.ctime
        )
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::String;

    #[test]
    fn sample_row() {
        let r = Row {
            id: 32774,
            mode: 0o600,
            ctime: 1795398329,
            ..Default::default()
        };
        let mut s = String::new();
        r.write_to(&mut s).unwrap();
        assert_eq!(s, "         0      32774   600           0          0     0     0     0     0     0     0          0          0 1795398329\n");
    }
}
