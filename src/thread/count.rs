//! [`OwnedCount`]: a count in a slot that only the slot's owner writes,
//! with the part earlier owners of the slot made: the attribution every
//! per-thread count of the crate rests on (the counters' tallies, the
//! cache's hits, misses and evictions).
//!
//! - **Owner-written.** Only the thread that owns the slot adds, so an add
//!   is a load and a store, no read-modify-write. A slot passes to its next
//!   owner only after the previous one has exited, through a lock (the
//!   thread index free list), which orders the two owners' writes.
//! - **Only grows** (modulo 2⁶⁴), and never goes back to zero when the slot
//!   changes hands: a reader that sums slots while one is handed over
//!   neither misses nor double-counts, and successive sums by one reader
//!   never decrease.
//! - **Handed over, not reset.** The new owner marks everything so far as
//!   earlier owners' ([`hand_over`](OwnedCount::hand_over)); reports split
//!   the count into that part, which belongs to no thread, and the current
//!   owner's ([`split`](OwnedCount::split)).

use crate::sync::{AtomicU64, Ordering};

/// A count written by its slot's owner only; see the [module
/// documentation](self).
#[derive(Debug, Default)]
pub(crate) struct OwnedCount {
    /// Everything ever added through the slot, by every owner.
    count: AtomicU64,
    /// The part of `count` earlier owners added.
    base: AtomicU64,
}

impl OwnedCount {
    /// A count at zero.
    #[cfg(not(threadkit_loom))]
    pub(crate) const fn new() -> OwnedCount {
        OwnedCount {
            count: AtomicU64::new(0),
            base: AtomicU64::new(0),
        }
    }

    /// Adds `n` and returns the new count. Owner only.
    #[inline(always)]
    pub(crate) fn add(&self, n: u64) -> u64 {
        let count = self.count.load(Ordering::Relaxed).wrapping_add(n);
        self.count.store(count, Ordering::Relaxed);
        count
    }

    /// Everything added through the slot, by every owner.
    #[inline]
    pub(crate) fn get(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// For the slot's new owner, once the previous owner has exited: marks
    /// everything so far as earlier owners'.
    pub(crate) fn hand_over(&self) {
        self.base.store(self.get(), Ordering::Relaxed);
    }

    /// (What earlier owners added, what the current owner has added.)
    pub(crate) fn split(&self) -> (u64, u64) {
        let base = self.base.load(Ordering::Relaxed);
        (base, self.get().wrapping_sub(base))
    }
}
