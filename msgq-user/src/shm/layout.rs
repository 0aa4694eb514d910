//! The store's byte layout. See `docs/design.md` for the picture.
//!
//! A store is a *registry* (header [`R`], its undo log, the id table, the key hash) followed
//! by [`IPCMNI`](msgq_core::ids::IPCMNI) *shards*, one per queue index, each a
//! self-contained region with its own header [`H`], lock, undo log and heap. Offsets inside
//! a shard are relative to the shard's start (a shard is an [`super::Arena`] of its own).
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
pub const VERSION: u64 = 7;

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
    /// The header of a shard, at the shard's offset 0. The words before `LOG_LEN` have the
    /// same offsets as in [`R`], so the undo log works the same way for both.
    H {
        MAGIC_W, VERSION_W, TOTAL_LEN, LAYOUT_SIG,
        LOCK0, LOCK1, LOCK2, LOCK3, LOCK4, LOCK5, LOCK6, LOCK7,
        LOG_LEN,
        LIVE, IDX, ANCHOR, SEGMENT,
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

layout!(
    /// The registry's header, at the store's offset 0: limits, id allocation, and the
    /// intent of a creation or removal that spans the registry and a shard.
    R {
        MAGIC_W, VERSION_W, TOTAL_LEN, LAYOUT_SIG,
        LOCK0, LOCK1, LOCK2, LOCK3, LOCK4, LOCK5, LOCK6, LOCK7,
        LOG_LEN,
        SHARD_LEN,
        MSGMAX, MSGMNB, MSGMNI,
        IN_USE, SEQ, LAST_IDX, CURSOR, MAX_IDX, NEXT_ID,
        INTENT,
        RECOVERIES,
    }
);

const _: () = assert!(R::LOG_LEN == H::LOG_LEN && R::LOCK0 == H::LOCK0);
const _: () = assert!(R::SIZE <= LOG_OFF);

/// `"MSGQSHD\0"`: a shard's magic, written once its mutex is made.
pub const SHARD_MAGIC: u64 = u64::from_le_bytes(*b"MSGQSHD\0");

/// Registry tables, each `IPCMNI` words indexed by queue index, after the registry's log:
/// the live queue's id (with [`USED`]) or 0; its key; the next index + 1 in its key-hash
/// chain; whether the index's shard was initialised.
pub const REG_IDS_OFF: u64 = LOG_OFF + LOG_CAP * 16;
pub const REG_KEYS_OFF: u64 = REG_IDS_OFF + IPCMNI * 8;
pub const REG_KNEXT_OFF: u64 = REG_KEYS_OFF + IPCMNI * 8;
pub const REG_SHARDS_OFF: u64 = REG_KNEXT_OFF + IPCMNI * 8;
/// The key hash: `KEY_BUCKETS` words, each the first index + 1 of its chain, or 0.
pub const REG_BUCKETS_OFF: u64 = REG_SHARDS_OFF + IPCMNI * 8;
/// Where shard 0 starts (the registry's size, rounded up to 1 MiB).
pub const SHARDS_OFF: u64 = (REG_BUCKETS_OFF + KEY_BUCKETS * 8 + (1 << 20) - 1) & !((1 << 20) - 1);
/// Marks an id-table word as used (an id may be 0).
pub const USED: u64 = 1 << 32;
const IPCMNI: u64 = msgq_core::ids::IPCMNI as u64;

/// Offset of the pthread mutex inside the header.
pub const LOCK_OFF: u64 = H::LOCK0;
/// Offset of free-list head `k`.
pub const fn free_head(k: u32) -> u64 {
    H::FREE0 + 8 * k as u64
}
/// Offset of the undo log (pairs of words: offset, old value).
pub const LOG_OFF: u64 = 512;
/// Where a shard's heap starts.
pub const HEAP_OFF: u64 = LOG_OFF + LOG_CAP * 16;
/// The smallest shard that can hold anything (whole pages).
pub const MIN_LEN: u64 = (HEAP_OFF + (1 << 20) + 4095) & !4095;

const _: () = assert!(free_head(CLASSES as u32) <= LOG_OFF);
const _: () = assert!(std::mem::size_of::<libc::pthread_mutex_t>() <= 64);
const _: () = assert!(std::mem::size_of::<libc::pthread_mutex_t>() <= 40);

/// A signature of the layout, so that a store written by a build with other record sizes
/// is refused even if someone forgot to bump `VERSION`.
pub const LAYOUT_SIG: u64 = H::SIZE
    ^ (R::SIZE << 4)
    ^ (Q::SIZE << 8)
    ^ (T::SIZE << 16)
    ^ (M::SIZE << 24)
    ^ (W::SIZE << 32)
    ^ (LOG_CAP << 40);

layout!(
    /// A queue. `LOOKERS` counts its blocked peekers and watchers (waiters that take no
    /// message), so that a send or receive to a queue without any pays one read for them.
    Q {
        CLASS, KEY, UID, GID, CUID, CGID, MODE, SEQ, ID,
        STIME, RTIME, CTIME, CBYTES, QNUM, QBYTES, LSPID, LRPID,
        MHEAD, MTAIL, THEAD, TBUCKETS,
        RHEAD, RTAIL, SHEAD, STAIL,
        DNEXT,
        SPARE, TSHIFT, TYPES, TTAIL, LOOKERS,
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
    /// A blocked receiver, peeker or sender. `COPY` is 1 when the message handed to it is
    /// a copy (a peek, a broadcast): freed, never put back, if its thread died.
    /// `TREC` is the type record it holds: the one whose
    /// receiver list it is on (`LIST` = `TYPED`), or, once a message was handed to it, the
    /// record of the message's type, pinned so that putting the message back into its
    /// queue never needs memory (`LIST` = `PENDING`, `STATE` = `DELIVERED`); else 0.
    W {
        CLASS, KIND, QUEUE, QID, MODEK, MODEV, MAXSIZE, STATE, MSG, NEXT, PREV,
        ORDER, TID, TGID, LIST, TREC, DELIVERED_AT, COPY, FUTEX,
        LIVE0, LIVE1, LIVE2, LIVE3, LIVE4,
    }
);

/// `W::KIND` values.
pub mod kind {
    pub const RECEIVER: u64 = 1;
    pub const SENDER: u64 = 2;
    /// A blocked peek (`MSGQ_PEEK`): on the receiver lists, given a copy of each matching
    /// message sent while it waits.
    pub const PEEKER: u64 = 3;
    /// A blocked `msgq_select` (or a watch fd's thread): on the receiver lists, woken when
    /// a matching message is sent, when a message is taken, and when the queue is removed;
    /// given nothing.
    pub const WATCHER: u64 = 4;
}

/// `W::STATE` values.
pub mod state {
    pub const WAITING: u64 = 0;
    pub const DELIVERED: u64 = 1;
    pub const E2BIG: u64 = 2;
    pub const EIDRM: u64 = 3;
    /// A sender whose message now fits (it stays linked and unlinks itself).
    pub const WOKEN: u64 = 4;
    /// Aborted (`msgq_abort`): the call fails with ECANCELED.
    pub const ECANCELED: u64 = 5;
}

/// `W::LIST` values: which list the waiter is linked on.
pub mod list {
    pub const NONE: u64 = 0;
    /// The queue's general receiver list (`Any`, `NotEqual`, `LessEqual`).
    pub const GENERAL: u64 = 1;
    /// A type record's receiver list (`Equal`).
    pub const TYPED: u64 = 2;
    pub const SENDERS: u64 = 3;
    /// The shard's list of waiters whose wait has ended (a message handed over, E2BIG,
    /// EIDRM) and that have not yet taken the result: every waiter record stays reachable
    /// until its thread frees it, and the sweep frees those whose thread died.
    pub const PENDING: u64 = 4;
}
