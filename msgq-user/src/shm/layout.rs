//! The store's byte layout. See `docs/design.md` for the picture.
//!
//! Records are arrays of 64-bit words; `layout!` gives each field its byte offset.

macro_rules! fields {
    ($off:expr;) => {};
    ($off:expr; $f:ident $(, $rest:ident)*) => {
        pub const $f: u64 = $off;
        fields!($off + 8; $($rest),*);
    };
}

macro_rules! layout {
    ($(#[$m:meta])* $name:ident { $($f:ident),* $(,)? }) => {
        $(#[$m])*
        pub struct $name;
        impl $name {
            fields!(0; $($f),*);
            /// Size of the record in bytes.
            pub const SIZE: u64 = 8 * [$(stringify!($f)),*].len() as u64;
        }
    };
}

/// `"MSGQSTR\0"` in little-endian.
pub const MAGIC: u64 = u64::from_le_bytes(*b"MSGQSTR\0");
/// Bumped whenever the layout below changes; a store of another version is refused.
pub const VERSION: u64 = 5;

/// Number of allocator size classes (blocks of 2^k bytes, k < CLASSES).
pub const CLASSES: usize = 40;
/// The smallest block is 2^MIN_CLASS bytes.
pub const MIN_CLASS: u32 = 6;
/// Capacity of the undo log in entries.
pub const LOG_CAP: u64 = 8192;
/// Buckets of the key hash.
pub const KEY_BUCKETS: u64 = 1024;
/// log2 of the buckets of a new queue's type hash (64).
pub const TYPE_SHIFT_MIN: u64 = 6;
/// log2 of the most buckets a queue's type hash grows to (4096).
pub const TYPE_SHIFT_MAX: u64 = 12;

layout!(
    /// The store header at offset 0.
    H {
        MAGIC_W, VERSION_W, TOTAL_LEN, LAYOUT_SIG,
        LOCK0, LOCK1, LOCK2, LOCK3, LOCK4, LOCK5, LOCK6, LOCK7,
        LOG_LEN,
        MSGMAX, MSGMNB, MSGMNI,
        IN_USE, SEQ, LAST_IDX, CURSOR, MAX_IDX, NEXT_ID,
        UNUSED0, UNUSED1,
        ORDER,
        HEAP_TOP,
        DYING,
        PENDING_HEAD,
        PENDING_TAIL,
        SWEEP_AT,
        RECOVERIES,
        FREE0,
    }
);

/// Offset of the pthread mutex inside the header.
pub const LOCK_OFF: u64 = H::LOCK0;
/// Offset of free-list head `k`.
pub const fn free_head(k: u32) -> u64 {
    H::FREE0 + 8 * k as u64
}
/// Offset of the undo log (pairs of words: offset, old value).
pub const LOG_OFF: u64 = 4096;
/// Offset of the id table: `IPCMNI` words, each a queue record offset or 0.
pub const IDS_OFF: u64 = LOG_OFF + LOG_CAP * 16;
/// Offset of the key hash buckets.
pub const KEYS_OFF: u64 = IDS_OFF + msgq_core::ids::IPCMNI as u64 * 8;
/// Where the heap starts.
pub const HEAP_OFF: u64 = KEYS_OFF + KEY_BUCKETS * 8;
/// The smallest store that can hold anything.
pub const MIN_LEN: u64 = HEAP_OFF + (1 << 20);

const _: () = assert!(free_head(CLASSES as u32) <= LOG_OFF);
const _: () = assert!(std::mem::size_of::<libc::pthread_mutex_t>() <= 64);
const _: () = assert!(std::mem::size_of::<libc::pthread_mutex_t>() <= 40);

/// A signature of the layout, so that a store written by a build with other record sizes
/// is refused even if someone forgot to bump `VERSION`.
pub const LAYOUT_SIG: u64 = H::SIZE
    ^ (Q::SIZE << 8)
    ^ (T::SIZE << 16)
    ^ (M::SIZE << 24)
    ^ (W::SIZE << 32)
    ^ (LOG_CAP << 40);

layout!(
    /// A queue.
    Q {
        CLASS, KEY, UID, GID, CUID, CGID, MODE, SEQ, ID,
        STIME, RTIME, CTIME, CBYTES, QNUM, QBYTES, LSPID, LRPID,
        MHEAD, MTAIL, THEAD, TBUCKETS,
        RHEAD, RTAIL, SHEAD, STAIL,
        KNEXT, DNEXT,
        SPARE, TSHIFT, TYPES, TTAIL,
    }
);

layout!(
    /// A message type present in a queue (messages of that type, receivers waiting for it,
    /// or messages of that type handed to receivers that have not taken them yet: `PINS`).
    T { CLASS, TYPE, MHEAD, MTAIL, COUNT, RHEAD, RTAIL, SPREV, SNEXT, BNEXT, PINS }
);

layout!(
    /// A message; its text follows the header.
    M { CLASS, NEXT, PREV, TNEXT, TPREV, TYPE, LEN, ORDER, TREC }
);

layout!(
    /// A blocked receiver or sender. `TREC` is the type record it holds: the one whose
    /// receiver list it is on (`LIST` = `TYPED`), or, once a message was handed to it, the
    /// record of the message's type, pinned so that putting the message back into its
    /// queue never needs memory (`LIST` = `PENDING`, `STATE` = `DELIVERED`); else 0.
    W {
        CLASS, KIND, QUEUE, QID, MODEK, MODEV, MAXSIZE, STATE, MSG, NEXT, PREV,
        ORDER, TID, TGID, LIST, TREC, DELIVERED_AT, FUTEX,
        LIVE0, LIVE1, LIVE2, LIVE3, LIVE4,
    }
);

/// `W::KIND` values.
pub mod kind {
    pub const RECEIVER: u64 = 1;
    pub const SENDER: u64 = 2;
}

/// `W::STATE` values.
pub mod state {
    pub const WAITING: u64 = 0;
    pub const DELIVERED: u64 = 1;
    pub const E2BIG: u64 = 2;
    pub const EIDRM: u64 = 3;
    /// A sender whose message now fits (it stays linked and unlinks itself).
    pub const WOKEN: u64 = 4;
}

/// `W::LIST` values: which list the waiter is linked on.
pub mod list {
    pub const NONE: u64 = 0;
    /// The queue's general receiver list (`Any`, `NotEqual`, `LessEqual`).
    pub const GENERAL: u64 = 1;
    /// A type record's receiver list (`Equal`).
    pub const TYPED: u64 = 2;
    pub const SENDERS: u64 = 3;
    /// The store's list of waiters whose wait has ended (a message handed over, E2BIG,
    /// EIDRM) and that have not yet taken the result: every waiter record stays reachable
    /// until its thread frees it, and the sweep frees those whose thread died.
    pub const PENDING: u64 = 4;
}
