//! Crate-private machinery under every building block: who the calling
//! thread is, tables with a slot per thread, slots owned by one live thread at
//! a time, exit hooks, and identities for `static` objects.
//!
//! - [`id`]: the calling thread's dense index and never-reused key, read on
//!   every fast path; registration and the teardown state.
//! - [`exit`]: how the crate learns that a thread exits (a pthread key on
//!   Linux, a thread-local destructor elsewhere), and the per-thread buffers
//!   it frees then.
//! - [`record`]: what a thread leaves for reports (id, name, exited), and the
//!   exit-hook protocol.
//! - [`table`]: a lock-free table with one slot per thread index.
//! - [`count`]: [`OwnedCount`](count::OwnedCount), a count only its slot's
//!   owner writes, split into the current owner's part and earlier owners'.
//! - [`share`]: [`ThreadShare`](share::ThreadShare), one thread's share in
//!   a report, read from its record, and the parts reports add up.
//! - [`owned`]: the owned-slot protocol (claim, exit hook, hand-over, drop,
//!   per-thread reports) that the counters, the histogram, the scratch
//!   pools and the cache share.
//! - [`instance`]: process-unique ids for objects whose per-thread state is
//!   kept in shared thread-locals (context, last error).

pub(crate) mod count;
pub(crate) mod owned;
pub(crate) mod record;
#[cfg(not(threadkit_loom))]
pub(crate) mod share;

#[cfg(not(threadkit_loom))]
pub(crate) mod exit;
#[cfg(not(threadkit_loom))]
pub(crate) mod id;
#[cfg(not(threadkit_loom))]
pub(crate) mod instance;
#[cfg(not(threadkit_loom))]
pub(crate) mod table;
