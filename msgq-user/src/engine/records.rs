//! Handles to the store's records: a record's offset, with its kind in the type, so that a
//! message cannot be passed where a waiter is expected (or a type record where a queue is).
//! A handle is never 0 (0 is the null offset of every link); reading a link gives an
//! `Option`.
//!
//! ```compile_fail
//! use msgq_user::engine::records::{Msg, Waiter};
//! fn takes_a_waiter(_: Waiter) {}
//! // A message offset is not a waiter: this does not compile.
//! takes_a_waiter(Msg::at_off(4096).unwrap());
//! ```
//!
//! A handle says what a record *should* be; the store is shared memory that a crash or a
//! hostile writer may have damaged, so every access is still bounds-checked
//! (`shm::Arena`), and `check()` verifies kinds by walking the structures.

use super::guard::Guard;

macro_rules! handle {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name(u64);

        impl $name {
            /// The handle for the record at `off`, or `None` for the null offset.
            #[inline]
            pub fn at_off(off: u64) -> Option<$name> {
                (off != 0).then_some($name(off))
            }

            /// The handle for the record at `off`, which a caller has just allocated or
            /// checked to be non-null.
            #[inline]
            pub(crate) fn new(off: u64) -> $name {
                debug_assert!(off != 0);
                $name(off)
            }

            /// The record's offset.
            #[inline]
            pub fn off(self) -> u64 {
                self.0
            }

            /// The offset of the record's field `field` (one of its layout's constants).
            #[inline]
            pub fn at(self, field: u64) -> u64 {
                self.0 + field
            }

            /// Reads the link in field `field` as a handle of kind `R`.
            #[inline]
            pub fn link<R: Record>(self, g: &Guard, field: u64) -> Option<R> {
                R::from_off(g.get(self.0 + field))
            }
        }

        impl Record for $name {
            #[inline]
            fn from_off(off: u64) -> Option<Self> {
                $name::at_off(off)
            }
            #[inline]
            fn off(self) -> u64 {
                self.0
            }
        }
    };
}

/// What every handle is.
pub trait Record: Copy {
    /// The handle for `off`, `None` for 0.
    fn from_off(off: u64) -> Option<Self>;
    /// The record's offset.
    fn off(self) -> u64;
}

/// The offset a link field holds for `r` (0 for none).
#[inline]
pub fn off_of<R: Record>(r: Option<R>) -> u64 {
    r.map_or(0, Record::off)
}

handle!(
    /// A queue record (`layout::Q`).
    Queue
);
handle!(
    /// A type record (`layout::T`).
    TypeRec
);
handle!(
    /// A message (`layout::M`), its text after the header.
    Msg
);
handle!(
    /// A waiter record (`layout::W`): a blocked receiver or sender.
    Waiter
);
