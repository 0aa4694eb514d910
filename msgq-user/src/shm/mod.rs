//! The shared-memory store: its byte layout, word access, the undo log, and the allocator.
//!
//! Everything in a store is a 64-bit word at an offset from the start of the mapping
//! (pointers are offsets too, so processes may map the store at different addresses).
//! Reads go through [`Arena::get`]; every write made while the store lock is held goes
//! through [`Tx::put`], which first appends the old value to the undo log. That is what
//! makes a process killed at any instruction harmless: the next lock holder rolls the log
//! back (see `docs/design.md`).

pub(crate) mod alloc;
pub mod arena;
pub mod layout;
pub(crate) mod tx;

pub use arena::Arena;
pub use tx::Tx;
