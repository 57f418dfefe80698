//! The arithmetic of a [`Counter`](crate::Counter): one thread index's
//! counts, how they reach the shared total, and how they are summed.
//!
//! This is the part of the counter that loom model-checks (the tests at the
//! end of this file, run with `RUSTFLAGS="--cfg threadkit_loom"`). Which thread owns
//! which slot, and when its exit hook runs, rest on thread-locals and are
//! left to `counter.rs`; the model plays the owners by hand.
//!
//! The rules the counter keeps, and the model checks:
//!
//! - Only a slot's owner writes its [`Tally`], so the add path is a plain
//!   load and store. A slot changes owner only after its previous owner has
//!   exited, through a lock (the thread index free list), which orders the
//!   two owners' writes.
//! - Every location a reader loads only grows (modulo 2⁶⁴), so successive
//!   [`sum`]s by one reader never decrease.
//! - A flush stores the slot's count before it adds to the total with
//!   `Release`, and [`approx`] loads the total with `Acquire`, so a `sum`
//!   taken after an `approx` is at least that `approx`.

use crate::sync::{AtomicU64, Ordering};
use crate::thread::count::OwnedCount;

/// One thread index's share of a counter.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Everything ever added through this slot, by every thread that has
    /// owned it, and the part earlier owners added.
    count: OwnedCount,
    /// The part of `count` already in the shared total.
    flushed: AtomicU64,
    /// The `count` at which the owner next looks at its pending amount:
    /// `flushed + batch`, or 0 (look on every add) where that would wrap,
    /// and before the owner's first add. Owner only; readers never load it.
    limit: AtomicU64,
}

impl Tally {
    /// A tally at zero whose every add is sent to the slow path (its limit
    /// is 0): the placeholder of a declared counter's thread-local before
    /// the thread has a slot.
    #[cfg(not(threadkit_loom))]
    pub(crate) const fn idle() -> Tally {
        Tally {
            count: OwnedCount::new(),
            flushed: AtomicU64::new(0),
            limit: AtomicU64::new(0),
        }
    }

    /// Adds `n`; returns whether the count has reached the owner's limit, in
    /// which case the caller should [`settle`](Tally::settle). Owner only.
    ///
    /// One load, one store and one compare against memory: the limit
    /// (`flushed + batch`) is kept precomputed so that the hot path does not
    /// subtract.
    #[inline]
    #[must_use]
    pub(crate) fn add(&self, n: u64) -> bool {
        self.count.add(n) >= self.limit.load(Ordering::Relaxed)
    }

    /// The slow half of [`add`](Tally::add): flushes if the pending amount
    /// has reached `batch` (computed with wrapping arithmetic, so a count
    /// that wraps at 2⁶⁴ still flushes on time), then sets the next limit.
    /// Owner only.
    pub(crate) fn settle(&self, total: &AtomicU64, batch: u64) {
        let count = self.count.get();
        if count.wrapping_sub(self.flushed.load(Ordering::Relaxed)) >= batch {
            self.flush(total);
        }
        let limit = self.flushed.load(Ordering::Relaxed).checked_add(batch);
        self.limit.store(limit.unwrap_or(0), Ordering::Relaxed);
    }

    /// Moves the pending amount into `total`. Owner only (an exit hook runs
    /// on its owner's thread).
    pub(crate) fn flush(&self, total: &AtomicU64) {
        let count = self.count.get();
        let pending = count.wrapping_sub(self.flushed.load(Ordering::Relaxed));
        if pending != 0 {
            // Release: a reader that sees this total also sees `count`.
            total.fetch_add(pending, Ordering::Release);
            self.flushed.store(count, Ordering::Relaxed);
        }
    }

    /// Called by a slot's new owner once the previous owner has exited:
    /// flushes what the previous owner left pending (its exit hook normally
    /// has; doing it again is harmless) and marks everything so far as
    /// earlier owners' share.
    pub(crate) fn hand_over(&self, total: &AtomicU64) {
        self.flush(total);
        self.count.hand_over();
    }

    /// Everything added through this slot.
    pub(crate) fn count(&self) -> u64 {
        self.count.get()
    }

    /// (What earlier owners of the slot added, what its owner has added.)
    pub(crate) fn split(&self) -> (u64, u64) {
        self.count.split()
    }
}

/// Adds `n` for a thread that has no slot (it is exiting): to `unslotted`,
/// which keeps [`sum`] exact, then to `total`, which keeps [`approx`]
/// current.
pub(crate) fn add_unslotted(unslotted: &AtomicU64, total: &AtomicU64, n: u64) {
    unslotted.fetch_add(n, Ordering::Relaxed);
    // Release: see `approx`.
    total.fetch_add(n, Ordering::Release);
}

/// The flushed total.
#[inline]
pub(crate) fn approx(total: &AtomicU64) -> u64 {
    // Acquire pairs with the Release of every flush and unslotted add, so
    // the counts behind this total are visible to a `sum` this thread takes
    // next.
    total.load(Ordering::Acquire)
}

/// The exact count: the unslotted adds plus every slot's count.
pub(crate) fn sum<'a>(unslotted: &AtomicU64, tallies: impl IntoIterator<Item = &'a Tally>) -> u64 {
    tallies
        .into_iter()
        .fold(unslotted.load(Ordering::Relaxed), |sum, tally| {
            sum.wrapping_add(tally.count())
        })
}

/// Loom models of the protocol: `RUSTFLAGS="--cfg threadkit_loom" cargo test --lib
/// --release`. Each model plays a counter of two slots the way `Counter`
/// drives them, with threads standing in for the slots' owners.
#[cfg(all(test, threadkit_loom))]
mod loom_tests {
    use super::*;
    use crate::sync::check;
    use loom::sync::Arc;
    use loom::thread;

    /// A counter as `Counter` composes it, minus the slot lookup.
    #[derive(Default)]
    struct Model {
        slots: [Tally; 2],
        total: AtomicU64,
        unslotted: AtomicU64,
    }

    impl Model {
        /// `Counter::add` on the slot the calling thread owns.
        fn add(&self, slot: usize, n: u64, batch: u64) {
            if self.slots[slot].add(n) {
                self.slots[slot].settle(&self.total, batch);
            }
        }

        /// The exit hook of `slot`'s owner.
        fn exit(&self, slot: usize) {
            self.slots[slot].flush(&self.total);
        }

        fn approx(&self) -> u64 {
            approx(&self.total)
        }

        fn sum(&self) -> u64 {
            sum(&self.unslotted, &self.slots)
        }

        /// What `per_thread` reports for `slot`'s current owner.
        fn owner_share(&self, slot: usize) -> u64 {
            self.slots[slot].split().1
        }
    }

    /// A reader's estimate never exceeds its exact sum, successive sums never
    /// decrease, and both are exact once the writers are joined.
    #[test]
    fn readers_see_flushes_in_order() {
        check(|| {
            let counter = Arc::new(Model::default());
            let writers: Vec<_> = (0..2)
                .map(|slot| {
                    let counter = Arc::clone(&counter);
                    thread::spawn(move || {
                        counter.add(slot, 1, 1);
                        counter.add(slot, 2, 1);
                    })
                })
                .collect();
            let approx = counter.approx();
            let first = counter.sum();
            let second = counter.sum();
            assert!(approx <= first, "approx {approx} > sum {first}");
            assert!(first <= second, "sum went from {first} to {second}");
            assert!(second <= 6);
            for writer in writers {
                writer.join().unwrap();
            }
            assert_eq!(counter.sum(), 6);
            assert_eq!(counter.approx(), 6);
        });
    }

    /// An owner that exits with a pending amount has it flushed by its exit
    /// hook; the slot's next owner keeps the old count as the earlier
    /// owners' share; a thread with no slot still counts. Nothing is lost
    /// or counted twice, and a concurrent reader stays consistent.
    #[test]
    fn exit_and_hand_over_lose_nothing() {
        check(|| {
            let counter = Arc::new(Model::default());
            let reader = {
                let counter = Arc::clone(&counter);
                thread::spawn(move || {
                    let approx = counter.approx();
                    let sum = counter.sum();
                    assert!(approx <= sum, "approx {approx} > sum {sum}");
                    assert!(sum <= 10);
                })
            };
            let first = {
                let counter = Arc::clone(&counter);
                thread::spawn(move || {
                    counter.add(0, 3, 2); // flushed: over the batch
                    counter.add(0, 1, 2); // pending
                    counter.exit(0);
                })
            };
            let unslotted = {
                let counter = Arc::clone(&counter);
                thread::spawn(move || add_unslotted(&counter.unslotted, &counter.total, 4))
            };
            // The thread index is free only once its owner has exited; the
            // free list's lock orders the handover like this join does.
            first.join().unwrap();
            assert!(counter.approx() >= 4);
            let second = {
                let counter = Arc::clone(&counter);
                thread::spawn(move || {
                    counter.slots[0].hand_over(&counter.total);
                    counter.add(0, 2, 2);
                    assert_eq!(counter.owner_share(0), 2);
                })
            };
            second.join().unwrap();
            unslotted.join().unwrap();
            reader.join().unwrap();
            assert_eq!(counter.sum(), 10);
            assert_eq!(counter.approx(), 10);
            assert_eq!(counter.slots[0].split().0, 4);
        });
    }
}
