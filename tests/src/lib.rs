//! msgq's differential conformance suite.
//!
//! Every case runs twice, each time in a freshly forked child: against the kernel (glibc's
//! calls, inside a new IPC namespace) and against the userspace engine (`msgq-user`, on a
//! fresh store file). Each run records a normalised trace; the two must be equal, and the
//! native trace must also meet the §8 expectations of `sysv-semantics.md`.
//!
//! * [`backend`]: the two implementations behind one C-shaped trait.
//! * [`ctx`]: what a case sees: the backend, recording, helpers, child processes.
//! * [`harness`]: forking, namespaces, timeouts, verdicts.
//! * [`trace`]: traces, their wire format and value normalisation.
//! * [`procs`], [`mem`]: process plumbing and faulting addresses.
//! * [`cases`]: the cases, by call family.
//! * [`worker`]: the exec'd worker used by multi-process cases.
//! * [`kmodio`]: the shim's `/dev/msgq` ioctl code (for the `kmod` backend, `--backend kmod`).

pub mod backend;
pub mod cases;
pub mod ctx;
pub mod harness;
#[path = "../../libmsg-shim/src/kmod.rs"]
pub mod kmodio;
pub mod mem;
pub mod procs;
pub mod trace;
pub mod worker;
