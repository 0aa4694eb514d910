// SPDX-License-Identifier: GPL-2.0

//! The messages of one queue (the layout of `msgq-user/src/engine/queue.rs`, with kernel
//! containers).
//!
//! * A slot arena (`slots`, one `KVVec`) holds every message with its links: the global FIFO
//!   (queue order: `msgtyp == 0`, `MSG_COPY`) is a doubly linked list through the slots, and
//!   each type's FIFO a singly linked one. Freed slots form a free list, kept when the queue
//!   empties (a large arena is then freed). A message costs one allocation, its buffer
//!   ([`MsgBuf`]: `mtype` and text), as Linux's `msg_msg`.
//! * `types`: a red-black tree of the non-empty types, each with its FIFO's first and last
//!   slot (`msgtyp > 0` is a lookup, `msgtyp < 0` the leftmost non-empty entry), and at most
//!   one empty type, `idle`: the last type that emptied keeps its node.
//! * `heads`: while two or more types are non-empty, the arrival number of the oldest message
//!   of each, so `MSG_EXCEPT` is the queue's first message or the second entry (with one type
//!   non-empty, the first message or none).
//!
//! Every receive mode removes the oldest message of its type, so a type's FIFO is only ever
//! popped at its front. A send and a receive of one type on an otherwise empty queue change no
//! tree (the type's node stays as the idle one, `heads` is not kept); nodes that leave a tree
//! are kept as spares, so a new type usually allocates nothing. [`Messages::prepare`] makes
//! any allocation a push needs before the queue changes, so a push cannot fail. Lookups are
//! `O(log t)` for `t` non-empty types (`MSG_COPY`'s position is `O(position)`, as in Linux).

use crate::select::Mode;
use core::{
    ffi::c_void,
    ptr::NonNull, //
};
use kernel::{
    bindings,
    page::PAGE_SIZE,
    prelude::*,
    rbtree::{
        RBTree,
        RBTreeNodeReservation, //
    },
    uaccess::UserPtr,
};

/// The bytes before a message's text in its buffer: its `mtype` in native byte order.
pub(crate) const HDR: usize = size_of::<i64>();

/// A message buffer: `kmalloc`ed up to a page (msg.c's first segment is `kmalloc`ed too),
/// `kvmalloc`ed above (`msgmax` may be raised to `INT_MAX`), freed with `kfree` or `kvfree`.
///
/// The allocator calls are made directly: the kernel crate's `KVVec` goes through
/// `kvrealloc`/`krealloc` from nothing and `Vec::reserve`, which cost an 8-byte
/// send+receive pair about 580 guest instructions more than msg.c's `kmalloc`/`kfree`
/// (docs/kmod.md, "Where the 8-byte pair's time goes").
pub(crate) struct MsgBuf {
    /// `cap` bytes from the allocator, the first `len` initialised; dangling when `cap` is 0.
    ptr: NonNull<u8>,
    cap: usize,
    len: usize,
}

// SAFETY: `MsgBuf` owns its allocation (no other pointer to it exists) and has no thread
// affinity: the allocation may be used and freed from any task.
unsafe impl Send for MsgBuf {}
// SAFETY: `&MsgBuf` only reads the bytes.
unsafe impl Sync for MsgBuf {}

/// The allocation flags of message buffers (charged to the caller's memory cgroup, as
/// msg.c's; an allocation failure is `ENOMEM`, not a warning).
const BUF_GFP: bindings::gfp_t = bindings::GFP_KERNEL_ACCOUNT | bindings::__GFP_NOWARN;

impl MsgBuf {
    /// An empty buffer (allocates nothing).
    pub(crate) const fn new() -> Self {
        MsgBuf {
            ptr: NonNull::dangling(),
            cap: 0,
            len: 0,
        }
    }

    /// An empty buffer with room for `cap` bytes (`ENOMEM`).
    #[inline]
    pub(crate) fn with_capacity(cap: usize) -> Result<Self> {
        if cap == 0 {
            return Ok(Self::new());
        }
        let p = if cap <= PAGE_SIZE {
            // SAFETY: `__kmalloc_noprof` may be called with any size and sleeping flags from
            // process context (every caller holds no spinlock).
            unsafe { bindings::__kmalloc_noprof(cap, BUF_GFP) }
        } else {
            // SAFETY: As above; alignment 1 asks for nothing beyond the allocator's own, and
            // `NUMA_NO_NODE` for any node. Sizes above `INT_MAX` give NULL.
            unsafe { bindings::__kvmalloc_node_noprof(cap, 1, BUF_GFP, bindings::NUMA_NO_NODE) }
        };
        let ptr = NonNull::new(p.cast::<u8>()).ok_or(ENOMEM)?;
        Ok(MsgBuf { ptr, cap, len: 0 })
    }

    /// A buffer holding a copy of `bytes` (`ENOMEM`).
    pub(crate) fn from_slice(bytes: &[u8]) -> Result<Self> {
        let mut b = Self::with_capacity(bytes.len())?;
        b.extend_from_slice(bytes)?;
        Ok(b)
    }

    /// The initialised bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `cap >= len` bytes (or dangling with `len == 0`, which
        // is a valid empty slice), the first `len` initialised, and borrowed with `self`.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The number of initialised bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Forgets the bytes, keeping the room.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends `bytes` within the room (`ENOMEM` if they do not fit; never reallocates).
    pub(crate) fn extend_from_slice(&mut self, bytes: &[u8]) -> Result {
        if bytes.len() > self.cap.saturating_sub(self.len) {
            return Err(ENOMEM);
        }
        // SAFETY: `len + bytes.len() <= cap`, so the destination is within the allocation;
        // `bytes` cannot overlap it (the allocation is only reachable through `&mut self`).
        unsafe {
            core::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.ptr.as_ptr().add(self.len),
                bytes.len(),
            )
        };
        self.len += bytes.len();
        Ok(())
    }

    /// Appends `n` bytes read from user memory at `p` within the room (`ENOMEM` if they do not
    /// fit, `EFAULT`; on an error the buffer's bytes are as before).
    #[inline]
    pub(crate) fn read_user(&mut self, p: UserPtr, n: usize) -> Result {
        if n > self.cap.saturating_sub(self.len) {
            return Err(ENOMEM);
        }
        // `_copy_from_user` directly: `UserSliceReader::read_raw` adds two calls (its own and
        // the `copy_from_user` helper's, whose object-size check has nothing to check here).
        // SAFETY: The `n` bytes after the first `len` are within the allocation and owned by
        // `self`, so they may be written; `_copy_from_user` checks the user range itself
        // (`access_ok`) and fails with a non-zero count for a bad address.
        let left = unsafe {
            bindings::_copy_from_user(
                self.ptr.as_ptr().add(self.len).cast::<c_void>(),
                p.as_const_ptr(),
                n,
            )
        };
        if left != 0 {
            return Err(EFAULT);
        }
        // The copy succeeded, so the `n` bytes are initialised.
        self.len += n;
        Ok(())
    }
}

/// Writes `bytes` to user memory at `p` (`EFAULT`), with one `_copy_to_user` call (as
/// [`MsgBuf::read_user`] reads).
pub(crate) fn write_user(p: UserPtr, bytes: &[u8]) -> Result {
    // SAFETY: `bytes` is valid for reads of its length; `_copy_to_user` checks the user range
    // itself (`access_ok`) and fails with a non-zero count for a bad address.
    let left = unsafe {
        bindings::_copy_to_user(p.as_mut_ptr(), bytes.as_ptr().cast::<c_void>(), bytes.len())
    };
    if left != 0 {
        return Err(EFAULT);
    }
    Ok(())
}

impl Drop for MsgBuf {
    fn drop(&mut self) {
        if self.cap == 0 {
            return;
        }
        let p = self.ptr.as_ptr().cast::<c_void>().cast_const();
        if self.cap <= PAGE_SIZE {
            // SAFETY: `p` came from `__kmalloc_noprof` (`cap <= PAGE_SIZE`) and is freed once.
            unsafe { bindings::kfree(p) };
        } else {
            // SAFETY: `p` came from `__kvmalloc_node_noprof` and is freed once.
            unsafe { bindings::kvfree(p) };
        }
    }
}

/// One message: its type, and one buffer with the type and the text, laid out as the
/// `struct msgbuf` a receiver gets, so that one user copy delivers both (and a send reads
/// both with one copy when it can; see `ipc.rs`).
pub(crate) struct Msg {
    pub(crate) mtype: i64,
    buf: MsgBuf,
}

impl Msg {
    /// The message held in `buf` (`mtype`, then the text); `None` if it is too short.
    pub(crate) fn from_buf(buf: MsgBuf) -> Option<Self> {
        let head: [u8; HDR] = buf.as_slice().get(..HDR)?.try_into().ok()?;
        Some(Msg {
            mtype: i64::from_ne_bytes(head),
            buf,
        })
    }

    /// The text size as the accounting counts it.
    pub(crate) fn size(&self) -> u64 {
        self.buf.len().saturating_sub(HDR) as u64
    }

    /// `mtype` and the first `n` bytes of the text (fewer if the text is shorter).
    pub(crate) fn head_and_text(&self, n: usize) -> &[u8] {
        let end = HDR.saturating_add(n).min(self.buf.len());
        self.buf.as_slice().get(..end).unwrap_or(&[])
    }

    /// `mtype` and the whole text.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.buf.as_slice()
    }

    /// A copy of `mtype` and the first `n` bytes of the text (the whole message when `n` is
    /// at least its size), in a new buffer (`ENOMEM`).
    pub(crate) fn copy(&self, n: usize) -> Result<Msg> {
        Ok(Msg {
            mtype: self.mtype,
            buf: MsgBuf::from_slice(self.head_and_text(n))?,
        })
    }

    /// A message with no text (allocates nothing).
    fn empty() -> Self {
        Msg {
            mtype: 0,
            buf: MsgBuf::new(),
        }
    }
}

/// No slot (the end of a list).
const NIL: u32 = u32::MAX;

/// The arrival number of the first message put at the back of an empty queue. Messages put
/// at the front (`MSGQ_URGENT`) take numbers below it, counting down, so the order of
/// arrival numbers is always the queue order (which `heads`, and so `MSG_EXCEPT`, relies on):
/// 2^63 of either kind cannot happen in practice.
const FIRST_SEQ: u64 = 1 << 63;

/// An arena larger than this many slots is freed when the queue empties; a smaller one is
/// kept for the next messages.
const KEEP_SLOTS: usize = 64;

/// A message and its links.
struct Slot {
    msg: Msg,
    /// The arrival number (the key of `heads`).
    seq: u64,
    /// The previous message in queue order.
    prev: u32,
    /// The next message in queue order (in a free slot: the next free slot).
    next: u32,
    /// The next message of the same type.
    next_same: u32,
}

/// The FIFO of one type (`first` and `last` are `NIL` in the one empty type kept, `idle`).
struct TypeFifo {
    first: u32,
    last: u32,
}

/// Where a push finds its type.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TypeState {
    /// No node in `types`.
    Absent,
    /// The empty node kept in `types` (`Messages::idle`).
    Idle,
    /// A non-empty type.
    Live,
}

/// The number of spare `heads` nodes kept (what a push and the pops of an overwrite before it
/// may need: two when a second type appears, see [`Messages::heads_needed`]).
const SPARE_HEADS: usize = 2;

/// The messages of a queue.
pub(crate) struct Messages {
    slots: KVVec<Slot>,
    /// The first free slot.
    free: u32,
    /// The oldest and newest messages.
    first: u32,
    last: u32,
    /// The number of messages.
    live: usize,
    /// The next arrival number of a message put at the back (counts up from [`FIRST_SEQ`]).
    next_seq: u64,
    /// The arrival number of the next message put at the front (`MSGQ_URGENT`; counts down
    /// from `FIRST_SEQ - 1`), so arrival numbers stay in queue order.
    front_seq: u64,
    /// The non-empty types, and at most one empty one (`idle`).
    types: RBTree<i64, TypeFifo>,
    /// The type of the empty node kept in `types`, if any: the last type that emptied, so
    /// that a send and a receive of one type change no tree.
    idle: Option<i64>,
    /// The number of non-empty types.
    nonempty: usize,
    /// While at least two types are non-empty: the arrival number of each one's oldest
    /// message -> its slot. Empty otherwise (with one type, `MSG_EXCEPT` needs only the
    /// queue's first message).
    heads: RBTree<u64, u32>,
    spare_type: Option<RBTreeNodeReservation<i64, TypeFifo>>,
    spare_heads: [Option<RBTreeNodeReservation<u64, u32>>; SPARE_HEADS],
}

impl Messages {
    pub(crate) fn new() -> Self {
        Messages {
            slots: KVVec::new(),
            free: NIL,
            first: NIL,
            last: NIL,
            live: 0,
            next_seq: FIRST_SEQ,
            front_seq: FIRST_SEQ - 1,
            types: RBTree::new(),
            idle: None,
            nonempty: 0,
            heads: RBTree::new(),
            spare_type: None,
            spare_heads: [None, None],
        }
    }

    /// How type `t` stands.
    fn type_state(&self, t: i64) -> TypeState {
        match self.types.get(&t) {
            None => TypeState::Absent,
            Some(f) if f.first == NIL => TypeState::Idle,
            Some(_) => TypeState::Live,
        }
    }

    /// The `heads` nodes a push of a new non-empty type inserts: none while it is the only
    /// one, two when it is the second (the first type's head too), else one.
    fn heads_needed(&self) -> usize {
        match self.nonempty {
            0 => 0,
            1 => 2,
            _ => 1,
        }
    }

    fn spare_head_count(&self) -> usize {
        self.spare_heads.iter().filter(|r| r.is_some()).count()
    }

    fn take_spare_head(&mut self) -> Option<RBTreeNodeReservation<u64, u32>> {
        self.spare_heads.iter_mut().find_map(|r| r.take())
    }

    /// Keeps a `heads` node as a spare (frees it when [`SPARE_HEADS`] are kept).
    fn stash_head(&mut self, r: RBTreeNodeReservation<u64, u32>) {
        if let Some(slot) = self.spare_heads.iter_mut().find(|r| r.is_none()) {
            *slot = Some(r);
        }
    }

    /// Makes the allocations a push of a message of type `mtype` may need (`ENOMEM`), so that
    /// [`Messages::push`] cannot fail, even after [`Messages::pop_front`]s in between.
    pub(crate) fn prepare(&mut self, mtype: i64) -> Result {
        if self.free == NIL && self.slots.len() == self.slots.capacity() {
            // Slot numbers are `u32`, `NIL` excluded.
            if self.slots.len() >= NIL as usize {
                return Err(ENOMEM);
            }
            self.slots.reserve(1, GFP_KERNEL_ACCOUNT)?;
        }
        let state = self.type_state(mtype);
        if state == TypeState::Live {
            return Ok(());
        }
        if state == TypeState::Absent && self.spare_type.is_none() {
            // Another type's empty node is taken for it (no allocation) if there is one.
            let idle = self.idle.take().and_then(|u| self.types.remove_node(&u));
            self.spare_type = Some(match idle {
                Some(n) => n.into_reservation(),
                None => RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?,
            });
        }
        // Pops before the push can only lower `heads_needed`'s count or, when they take it
        // from two non-empty types to one, give back the two nodes that would be needed.
        let need = self.heads_needed();
        while need > 0 && self.spare_head_count() < need {
            let r = RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?;
            self.stash_head(r);
        }
        Ok(())
    }

    /// Appends a message, or with `front` puts it at the front (`MSGQ_URGENT`: the first in
    /// queue order and the first of its type). Fails (giving the message back) only if
    /// [`Messages::prepare`] was not called for it. Inlined into the send.
    #[inline(always)]
    pub(crate) fn push_at(&mut self, msg: Msg, front: bool) -> core::result::Result<(), Msg> {
        let t = msg.mtype;
        // One walk of `types` (the FIFO found, or its absence, is used below; only the other
        // fields are touched while it is held).
        let mut fifo = self.types.get_mut(&t);
        let state = match fifo.as_deref() {
            None => TypeState::Absent,
            Some(f) if f.first == NIL => TypeState::Idle,
            Some(_) => TypeState::Live,
        };
        // Everything the push needs is checked before anything changes.
        if state != TypeState::Live {
            if state == TypeState::Absent && self.spare_type.is_none() {
                return Err(msg);
            }
            let need = match self.nonempty {
                0 => 0,
                1 => 2,
                _ => 1,
            };
            if need > 0 && self.spare_heads.iter().filter(|r| r.is_some()).count() < need {
                return Err(msg);
            }
        }
        if self.free == NIL && self.slots.len() == self.slots.capacity() {
            return Err(msg);
        }
        // u64 counters of messages cannot wrap in practice; never panic if one did.
        let seq = if front {
            let s = self.front_seq;
            self.front_seq = self.front_seq.wrapping_sub(1);
            s
        } else {
            let s = self.next_seq;
            self.next_seq = self.next_seq.wrapping_add(1);
            s
        };
        let slot = Slot {
            msg,
            seq,
            prev: if front { NIL } else { self.last },
            next: if front { self.first } else { NIL },
            next_same: NIL,
        };
        let idx = if let Some(s) = self.slots.get_mut(self.free as usize) {
            let idx = self.free;
            self.free = s.next;
            // A free slot holds an empty message (`remove` leaves `Msg::empty()`), which owns
            // no memory: it is forgotten rather than dropped (no drop call).
            core::mem::forget(core::mem::replace(s, slot));
            idx
        } else {
            let idx = self.slots.len() as u32;
            if let Err(e) = self.slots.push_within_capacity(slot) {
                return Err(e.0.msg);
            }
            idx
        };
        let old_first = self.first;
        if front {
            match self.slots.get_mut(self.first as usize) {
                None => self.last = idx,
                Some(f) => f.prev = idx,
            }
            self.first = idx;
        } else {
            match self.slots.get_mut(self.last as usize) {
                None => self.first = idx,
                Some(l) => l.next = idx,
            }
            self.last = idx;
        }
        self.live += 1;
        match (state, fifo.as_deref_mut()) {
            (TypeState::Live, Some(f)) => {
                if front {
                    // The new message is its type's oldest: it heads the type's FIFO and
                    // takes the type's `heads` node, if kept (re-keyed, no allocation).
                    let old_first = core::mem::replace(&mut f.first, idx);
                    let old_seq = self.slots.get(old_first as usize).map(|s| s.seq);
                    if let Some(s) = self.slots.get_mut(idx as usize) {
                        s.next_same = old_first;
                    }
                    if self.nonempty >= 2 {
                        if let Some(n) = old_seq.and_then(|q| self.heads.remove_node(&q)) {
                            self.heads.insert(n.into_reservation().into_node(seq, idx));
                        }
                    }
                } else {
                    let last = core::mem::replace(&mut f.last, idx);
                    if let Some(l) = self.slots.get_mut(last as usize) {
                        l.next_same = idx;
                    }
                }
            }
            (TypeState::Idle, Some(f)) => {
                f.first = idx;
                f.last = idx;
                self.idle = None;
                self.type_appeared(old_first, seq, idx);
            }
            _ => {
                if let Some(tn) = self.spare_type.take() {
                    self.types.insert(tn.into_node(
                        t,
                        TypeFifo {
                            first: idx,
                            last: idx,
                        },
                    ));
                }
                self.type_appeared(old_first, seq, idx);
            }
        }
        Ok(())
    }

    /// A type became non-empty with the message `seq` in slot `idx`; `old_first` is the
    /// queue's first message before it came. Takes `heads` nodes from the spares when it is
    /// not the only non-empty type ([`Messages::heads_grow`]).
    #[inline(always)]
    fn type_appeared(&mut self, old_first: u32, seq: u64, idx: u32) {
        self.nonempty += 1;
        if self.nonempty >= 2 {
            self.heads_grow(old_first, seq, idx);
        }
    }

    /// [`Messages::type_appeared`] with two or more non-empty types: `heads` gains the new
    /// type's head (and, when it starts, the other type's).
    #[cold]
    fn heads_grow(&mut self, old_first: u32, seq: u64, idx: u32) {
        if self.nonempty == 2 {
            // `heads` starts: the other type's oldest message was the queue's first (all
            // messages were of that type).
            let first_seq = self.slots.get(old_first as usize).map(|s| s.seq);
            if let (Some(q), Some(r)) = (first_seq, self.take_spare_head()) {
                self.heads.insert(r.into_node(q, old_first));
            }
        }
        if let Some(r) = self.take_spare_head() {
            self.heads.insert(r.into_node(seq, idx));
        }
    }

    /// The slot of the message `mode` selects (Linux's `find_msg`).
    pub(crate) fn find(&self, mode: Mode) -> Option<u32> {
        match mode {
            Mode::Any => (self.first != NIL).then_some(self.first),
            Mode::Equal(t) => self.types.get(&t).map(|f| f.first).filter(|&i| i != NIL),
            Mode::LessEqual(bound) => {
                let c = self.types.cursor_front()?;
                let (mut ty, mut f) = c.current();
                if f.first == NIL {
                    // The one empty node kept: the next type is not empty.
                    (ty, f) = c.peek_next()?;
                }
                (*ty <= bound && f.first != NIL).then_some(f.first)
            }
            Mode::NotEqual(t) => {
                // The queue's first message is the oldest of its type.
                if self.get(self.first)?.mtype != t {
                    return Some(self.first);
                }
                if self.nonempty < 2 {
                    // Every message is of type `t`.
                    return None;
                }
                // `heads` is kept, its first entry is the queue's first message, and each
                // type has one head, so the next head is of another type.
                let c = self.heads.cursor_front()?;
                c.peek_next().map(|(_, idx)| *idx)
            }
            Mode::Number(n) => {
                let mut n = u64::try_from(n).ok()?;
                let mut idx = self.first;
                while idx != NIL && n > 0 {
                    idx = self.slots.get(idx as usize)?.next;
                    n -= 1;
                }
                (idx != NIL).then_some(idx)
            }
        }
    }

    /// Slot `idx` (`None` for `NIL`).
    fn slot_mut(&mut self, idx: u32) -> Option<&mut Slot> {
        self.slots.get_mut(idx as usize)
    }

    /// The message in slot `idx`.
    pub(crate) fn get(&self, idx: u32) -> Option<&Msg> {
        self.slots.get(idx as usize).map(|s| &s.msg)
    }

    /// Removes the oldest message in queue order (always the oldest of its type), if any.
    ///
    /// Unlike [`Messages::take`], this keeps the arena's memory when the queue empties, so the
    /// allocations a [`Messages::prepare`] made before stay valid (an overwriting send drops
    /// messages between its `prepare` and its push).
    pub(crate) fn pop_front(&mut self) -> Option<Msg> {
        if self.first == NIL {
            return None;
        }
        self.remove(self.first, false)
    }

    /// Frees a large arena if the queue is empty (what [`Messages::take`] does when it
    /// empties the queue; after [`Messages::pop_front`]s that did not).
    pub(crate) fn shrink_if_empty(&mut self) {
        if self.live == 0 && self.slots.capacity() > KEEP_SLOTS {
            self.slots = KVVec::new();
            self.free = NIL;
        }
    }

    /// Removes the message in slot `idx`, which must be the oldest of its type (every mode
    /// [`Messages::find`] serves for a removal selects one); `None` otherwise.
    #[inline(always)]
    pub(crate) fn take(&mut self, idx: u32) -> Option<Msg> {
        self.remove(idx, true)
    }

    /// [`Messages::take`]; `shrink`: free a large arena when the queue empties.
    #[inline(always)]
    fn remove(&mut self, idx: u32, shrink: bool) -> Option<Msg> {
        let s = self.slots.get(idx as usize)?;
        let (t, seq, prev, next, next_same) = (s.msg.mtype, s.seq, s.prev, s.next, s.next_same);
        let next_seq = self.slots.get(next_same as usize).map(|s| s.seq);
        let f = self.types.get_mut(&t)?;
        if f.first != idx {
            return None;
        }
        // `heads` is kept while two or more types are non-empty.
        let kept_heads = self.nonempty >= 2;
        if next_same == NIL {
            // The type empties. Its node is kept (the next message of this type changes no
            // tree), in place of the empty node kept before, if any: so at most one empty
            // node is ever in `types`, and `MSG_LESSEQUAL`'s look-up skips at most one.
            f.first = NIL;
            f.last = NIL;
            self.nonempty = self.nonempty.saturating_sub(1);
            if let Some(u) = self.idle.replace(t) {
                if let Some(n) = self.types.remove_node(&u) {
                    // Kept as the spare so that a `prepare`d push of type `u` after this
                    // removal (an overwrite's pops) still finds a node.
                    if self.spare_type.is_none() {
                        self.spare_type = Some(n.into_reservation());
                    }
                }
            }
            if kept_heads {
                if let Some(n) = self.heads.remove_node(&seq) {
                    self.stash_head(n.into_reservation());
                }
                if self.nonempty < 2 {
                    // One type is left: `heads` stops; its last node becomes a spare.
                    let k = self.heads.cursor_front().map(|c| *c.current().0);
                    if let Some(n) = k.and_then(|k| self.heads.remove_node(&k)) {
                        self.stash_head(n.into_reservation());
                    }
                }
            }
        } else {
            f.first = next_same;
            if kept_heads {
                if let (Some(n), Some(q)) = (self.heads.remove_node(&seq), next_seq) {
                    self.heads
                        .insert(n.into_reservation().into_node(q, next_same));
                }
            }
        }
        // The global FIFO.
        match self.slot_mut(prev) {
            None => self.first = next,
            Some(p) => p.next = next,
        }
        match self.slot_mut(next) {
            None => self.last = prev,
            Some(n) => n.prev = prev,
        }
        self.live = self.live.saturating_sub(1);
        let free = self.free;
        let s = self.slot_mut(idx)?;
        let msg = core::mem::replace(&mut s.msg, Msg::empty());
        s.next = free;
        self.free = idx;
        if self.live == 0 && shrink {
            // Every slot is free: a large arena is freed. A small one is kept with its free
            // list (every slot), not cleared: the next message reuses its first slot.
            self.shrink_if_empty();
        }
        Some(msg)
    }
}
