//! Process-unique identities for the crate's `static` objects.
//!
//! [`Context`](crate::context::Context) and
//! [`LastError`](crate::last_error::LastError) keep their per-thread state in
//! thread-locals shared by every instance, tagged with the instance's id. An
//! address would not do: a value can be dropped and another created at the
//! same address while tagged state (a forgotten guard's override) remains.

use crate::sync::{AtomicU64, Ordering};

/// Ids start at 1: 0 means "not assigned yet".
static NEXT: AtomicU64 = AtomicU64::new(1);

/// An id assigned on first use and never reused in the process.
pub(crate) struct InstanceId(AtomicU64);

impl InstanceId {
    pub(crate) const fn new() -> InstanceId {
        InstanceId(AtomicU64::new(0))
    }

    /// The id if one was assigned, else 0 (which tags nothing).
    ///
    /// A thread that tagged state with [`get`](Self::get) reads that same id
    /// here: the id never changes once set, and a thread sees its own store.
    #[inline]
    pub(crate) fn peek(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// The id, assigned now if this is the first use.
    pub(crate) fn get(&self) -> u64 {
        match self.peek() {
            0 => {
                let fresh = NEXT.fetch_add(1, Ordering::Relaxed);
                match self
                    .0
                    .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => fresh,
                    Err(assigned) => assigned,
                }
            }
            id => id,
        }
    }
}
