//! Fuzzer bytes to a sequence of hostile calls. Every choice reads a byte (0 once the input
//! is used up), so any input decodes and small changes to it make small changes to the
//! sequence.

use crate::arena::Ptr;
use crate::calls::{OpenHow, MSG_STAT_ANY};

/// The most calls one input makes.
pub const MAX_OPS: usize = 48;

/// A queue id argument.
#[derive(Clone, Copy, Debug)]
pub enum Id {
    /// The n-th queue (mod the number known) this input created, as each backend numbers it.
    Slot(u8),
    /// That queue's id plus a delta (a stale sequence number, a negative id...).
    SlotPlus(u8, i32),
    /// The same number on both backends (translated when it is a known kernel id).
    Raw(i32),
}

#[derive(Clone, Copy, Debug)]
pub enum Op {
    Get {
        key: i32,
        flg: i32,
    },
    Snd {
        id: Id,
        p: Ptr,
        sz: usize,
        flg: i32,
        mtype: i64,
        fill: u8,
    },
    Rcv {
        id: Id,
        p: Ptr,
        sz: usize,
        typ: i64,
        flg: i32,
    },
    /// `set`: the uid, gid, mode and qbytes an `IPC_SET` buffer carries (written first).
    Ctl {
        id: Id,
        cmd: i32,
        p: Ptr,
        set: (u32, u32, u32, u64),
    },
    /// `path`: an index into [`PATHS`], written at `p` (when `p` is writable), with its NUL
    /// or without it.
    Open {
        how: OpenHow,
        p: Ptr,
        path: u8,
        nul: bool,
        flags: i32,
    },
    /// A write to a limit file: `LIMITS[text]` written at `p` (when writable), then
    /// `write(fd, p, n)` with `n` the text's length, or `size` if given.
    WriteLimit {
        file: u8,
        p: Ptr,
        text: u8,
        size: Option<usize>,
    },
}

/// What is written to the limit files: plain values, and the forms the kernel's
/// `proc_dointvec` parses its own way (base-0 numbers, a second number, separators,
/// length limits), which the shim's emulation follows (libmsg-shim/src/procfs.rs).
pub const LIMITS: [&str; 25] = [
    "4096",
    "8192\n",
    "100",
    "0",
    "-1",
    "2147483647",
    "2147483648",
    "abc",
    "",
    " 200\n",
    "00",
    "+50",
    "16384",
    "12345",
    "99999999999999999999",
    "0x10",
    "010",
    "0x",
    "08",
    "100 200",
    "5\n6",
    "12\r",
    " ",
    "\n",
    "000000000000000002000",
];

/// Paths the shim emulates, and others.
pub const PATHS: [&str; 10] = [
    "/proc/sysvipc/msg",
    "/proc/sys/kernel/msgmax",
    "/proc/sys/kernel/msgmnb",
    "/proc/sys/kernel/msgmni",
    "/proc/sys/kernel/msg_next_id",
    "/proc/self/../sysvipc//msg",
    "msg",
    "/dev/null",
    "",
    "/nonexistent/msg",
];

/// A directory descriptor `openat` gets: the harness opens `/proc/sysvipc` as this number.
pub const SYSVIPC_DIRFD: i32 = 900;

/// One op and how it is made.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    pub op: Op,
    /// The shim side goes through its `syscall()` export (int arguments with dirty upper
    /// halves `hi`), else through the C function.
    pub via_syscall: bool,
    pub hi: u32,
    /// The call may block (no `IPC_NOWAIT` forced): a timer interrupts it.
    pub may_block: bool,
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }
    fn pick<T: Copy>(&mut self, table: &[T]) -> T {
        table[self.u8() as usize % table.len()]
    }

    fn key(&mut self) -> i32 {
        match self.u8() % 8 {
            0 => libc::IPC_PRIVATE,
            k @ 1..=4 => 0x4d51_0000 + k as i32,
            5 => -1,
            6 => i32::MAX,
            _ => self.u32() as i32,
        }
    }

    fn id(&mut self) -> Id {
        let b = self.u8();
        match b % 8 {
            0..=3 => Id::Slot(b >> 3),
            4 => Id::SlotPlus(
                b >> 3,
                self.pick(&[32768, -32768, 1, -1, i32::MIN, 1 << 24]),
            ),
            5 => Id::Raw(self.pick(&[-1, 0, 1, 2, i32::MIN, i32::MAX, 32768, 65535])),
            6 => Id::Raw(self.u32() as i32),
            _ => Id::Raw(self.u8() as i32),
        }
    }

    fn ptr(&mut self) -> Ptr {
        match self.u8() % 9 {
            0 => Ptr::Null,
            1 => Ptr::Guard(self.u16()),
            2 => Ptr::ReadOnly(self.u16()),
            3 => Ptr::Rw(u16::from(self.u8()) * 8),
            4 => Ptr::Rw(self.u16()),
            5 => Ptr::IntoReadOnly(self.u16()),
            6 => Ptr::IntoGuard(self.u16()),
            7 => Ptr::Rw(0),
            _ => Ptr::Wild(self.pick(&[
                1,
                0xfff,
                0x8000,
                0x8000_0000_0000,
                0x7fff_ffff_ffff_fff9,
                0xffff_8000_0000_0000,
                u64::MAX - 7,
            ])),
        }
    }

    fn size(&mut self) -> usize {
        match self.u8() % 13 {
            0 => 0,
            1 => 1,
            2 => self.u8() as usize,
            3 => self.u16() as usize % 9000,
            4 => 8192,
            5 => 8193,
            6 => 16384,
            7 => i32::MAX as usize,
            8 => i32::MAX as usize + 1,
            9 => usize::MAX,
            10 => (-(i64::from(self.u8()) + 1)) as usize,
            11 => self.u64() as usize,
            _ => 8,
        }
    }

    /// Message flags: each known bit by its own input bit, sometimes random other bits.
    fn msgflg(&mut self) -> i32 {
        let b = self.u8();
        let mut f = 0;
        for (bit, flag) in [
            (1, libc::IPC_NOWAIT),
            (2, libc::MSG_NOERROR),
            (4, libc::MSG_EXCEPT),
            (8, libc::MSG_COPY),
        ] {
            if b & bit != 0 {
                f |= flag;
            }
        }
        if b & 0x10 != 0 {
            f |= self.u32() as i32;
        }
        f
    }

    fn op(&mut self, kind: u8) -> Op {
        if kind % 8 == 7 {
            return self.open();
        }
        if kind % 16 == 11 {
            let (file, p, text) = (self.u8(), self.ptr(), self.u8());
            // The text's length, or another count: 0, more than the text (the bytes after
            // it are whatever the buffer holds), beyond the 4095 bytes the kernel parses,
            // or beyond what it copies at all.
            let size = match self.u8() % 12 {
                0..=5 => None,
                6 => Some(0),
                7 => Some(65),
                8 => Some(4096),
                9 => Some(i32::MAX as usize + 1),
                10 => Some(usize::MAX),
                _ => Some(self.u64() as usize | 1 << 40),
            };
            return Op::WriteLimit {
                file,
                p,
                text,
                size,
            };
        }
        match kind % 4 {
            0 => {
                let key = self.key();
                let b = self.u8();
                let base = [
                    0,
                    libc::IPC_CREAT,
                    libc::IPC_CREAT | libc::IPC_EXCL,
                    libc::IPC_EXCL,
                ][b as usize % 4];
                let flg = if b & 0x80 != 0 {
                    self.u32() as i32
                } else {
                    base | i32::from(self.u16() & 0o777)
                };
                Op::Get { key, flg }
            }
            1 => Op::Snd {
                id: self.id(),
                p: self.ptr(),
                sz: self.size(),
                flg: self.msgflg(),
                mtype: match self.u8() % 8 {
                    0..=2 => 1,
                    3 => 2,
                    4 => 0,
                    5 => -1,
                    6 => i64::MIN,
                    _ => self.u64() as i64,
                },
                fill: self.u8(),
            },
            2 => Op::Rcv {
                id: self.id(),
                p: self.ptr(),
                sz: self.size(),
                typ: match self.u8() % 10 {
                    0..=2 => 0,
                    3 => 1,
                    4 => 2,
                    5 => -1,
                    6 => -2,
                    7 => i64::MIN,
                    8 => i64::MAX,
                    _ => self.u64() as i64,
                },
                flg: self.msgflg(),
            },
            _ => {
                let id = self.id();
                let b = self.u8();
                let mut cmd = match b % 12 {
                    0 => libc::IPC_RMID,
                    1 => libc::IPC_SET,
                    2 | 3 => libc::IPC_STAT,
                    4 => libc::IPC_INFO,
                    5 => libc::MSG_STAT,
                    6 => libc::MSG_INFO,
                    7 | 8 => MSG_STAT_ANY,
                    9 => i32::from(self.u8() % 32),
                    10 => -1,
                    _ => self.u32() as i32,
                };
                if b & 0x80 != 0 {
                    cmd |= 0x100; // IPC_64
                }
                let p = self.ptr();
                let set = if cmd & 0xff == libc::IPC_SET {
                    let uid = self.pick(&[0, 0, 1000, u32::MAX, 65534]);
                    let gid = self.pick(&[0, 0, 1000, u32::MAX]);
                    let mode = u32::from(self.u16());
                    let qbytes = self.pick(&[16384, 0, 1, 100, 16385, 1 << 20, u64::MAX]);
                    (uid, gid, mode, qbytes)
                } else {
                    (0, 0, 0, 0)
                };
                Op::Ctl { id, cmd, p, set }
            }
        }
    }
}

impl Bytes<'_> {
    fn open(&mut self) -> Op {
        let how = match self.u8() % 8 {
            0 | 1 => OpenHow::Open,
            2 => OpenHow::Open64,
            3 => OpenHow::OpenAt(libc::AT_FDCWD),
            4 => OpenHow::OpenAt(self.pick(&[SYSVIPC_DIRFD, -5, 0x7fff_fff0])),
            5 => OpenHow::Open2,
            6 => OpenHow::Fopen,
            _ => OpenHow::Fopen64,
        };
        let p = self.ptr();
        let b = self.u8();
        // Defined flags only: never O_CREAT, O_TMPFILE or O_TRUNC (nothing is created or
        // changed on disk), nor random bits.
        let flags = match b % 8 {
            0..=2 => libc::O_RDONLY,
            3 => libc::O_RDONLY | libc::O_CLOEXEC,
            4 => libc::O_WRONLY,
            5 => libc::O_RDWR,
            6 => libc::O_PATH,
            _ => self.pick(&[
                libc::O_DIRECTORY,
                libc::O_NOFOLLOW | libc::O_NONBLOCK,
                libc::O_ACCMODE,
                libc::O_RDONLY | libc::O_NOCTTY | libc::O_LARGEFILE,
                libc::O_WRONLY | libc::O_CLOEXEC | libc::O_APPEND,
                libc::O_RDONLY | libc::O_DIRECT,
            ]),
        };
        Op::Open {
            how,
            p,
            path: b >> 3,
            nul: self.u8() & 7 != 0,
            flags,
        }
    }
}

/// Decodes an input.
pub fn steps(data: &[u8]) -> Vec<Step> {
    let mut b = Bytes(data);
    let mut out = Vec::new();
    while !b.0.is_empty() && out.len() < MAX_OPS {
        let head = b.u8();
        let via_syscall = head & 0x10 != 0;
        let hi = if via_syscall && head & 0x20 != 0 {
            0xdead_beef
        } else {
            0
        };
        let may_block = head & 0xe0 == 0xe0;
        out.push(Step {
            op: b.op(head),
            via_syscall,
            hi,
            may_block,
        });
    }
    out
}
