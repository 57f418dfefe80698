//! One thread index's part of a [`Histogram`](super::Histogram): its bucket
//! counts, sum, smallest and largest value.
//!
//! This is the part loom model-checks (the tests at the end, run with
//! `RUSTFLAGS="--cfg threadkit_loom"`). The rules:
//!
//! - **Only the slot's owner writes.** A record is loads and stores, no
//!   read-modify-write: the slot is owned by one live thread at a time (see
//!   `thread::owned`), and the next owner takes over only after the previous
//!   one has exited.
//! - **Counts never move.** An exited owner's counts stay in the slot and
//!   the next owner adds to them; readers sum every slot. So a completed
//!   record is in every later snapshot exactly once, and no count read ever
//!   decreases. (The counter keeps its counts the same way.)
//! - **Groups are published whole.** A group of buckets is allocated zeroed
//!   and its pointer stored with `Release`; readers load it with `Acquire`.
//! - **The sum is read whole.** It is 128 bits in two words; its high word
//!   changes only when the low one carries, inside a sequence lock (odd
//!   sequence while it changes), so a reader retries instead of pairing the
//!   high word of one moment with the low word of another.
//! - **Extremes survive a hand-over.** The owner's minimum and maximum are
//!   its own (for `per_thread`); a new owner first folds the old ones into the
//!   histogram's (`fetch_min`/`fetch_max`, `Release`), then resets the slot's
//!   (`Release`). A reader loads the slot's (`Acquire`) before the
//!   histogram's, so it sees a reset only with the fold before it.

use std::ptr;

use super::layout::Layout;
use crate::sync::{fence, yield_now, AtomicPtr, AtomicU64, AtomicUsize, Mutex, Ordering};
use crate::thread::owned::SlotState;

/// Groups a layout can have: 65 - bits, at most 64.
const GROUPS: usize = 64;

/// One slot's recorded values.
pub(crate) struct BucketSlot {
    /// Each group's buckets (`Layout::group_len` counts, a leaked boxed
    /// slice), null until a value falls in it.
    groups: [AtomicPtr<AtomicU64>; GROUPS],
    /// The group length the groups were allocated with, for freeing them
    /// (0 before the first group).
    group_len: AtomicUsize,
    sum: Sum,
    /// The current owner's extremes (`u64::MAX` and 0 when it has none).
    min: AtomicU64,
    max: AtomicU64,
    /// What earlier owners recorded here, for `per_thread`: set by each
    /// hand-over, read under the slot's lock.
    earlier: Mutex<Earlier>,
}

/// Earlier owners' part of a slot: non-zero bucket counts by index, in
/// index order, and their sum.
#[derive(Default, Clone)]
pub(crate) struct Earlier {
    pub(crate) counts: Vec<(usize, u64)>,
    pub(crate) sum: u128,
}

impl Default for BucketSlot {
    fn default() -> BucketSlot {
        BucketSlot {
            groups: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            group_len: AtomicUsize::new(0),
            sum: Sum::default(),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
            earlier: Mutex::new(Earlier::default()),
        }
    }
}

impl BucketSlot {
    /// Records `n` times `value` (`n ≥ 1`). Owner only. Returns `false`,
    /// recording nothing, if the value's group is not allocated yet: the
    /// caller then [`grow`](BucketSlot::grow)s and records again.
    #[inline(always)]
    pub(crate) fn record(&self, layout: Layout, value: u64, n: u64) -> bool {
        let (group, index) = layout.locate(value);
        // `group < GROUPS` by construction; the mask drops the bounds check.
        let buckets = self.groups[group % GROUPS].load(Ordering::Relaxed);
        if buckets.is_null() {
            return false;
        }
        // SAFETY: an allocated group has `layout.group_len()` buckets (all
        // groups of a slot share the histogram's layout) and `index` is
        // below that; groups are freed only with the slot.
        let bucket = unsafe { &*buckets.add(index) };
        bucket.store(bucket.load(Ordering::Relaxed) + n, Ordering::Relaxed);
        self.sum.add(u128::from(value) * u128::from(n));
        // Release (free on x86): a reader that sees a new owner's extreme
        // also sees the fold its hand-over made.
        if value < self.min.load(Ordering::Relaxed) {
            self.min.store(value, Ordering::Release);
        }
        if value > self.max.load(Ordering::Relaxed) {
            self.max.store(value, Ordering::Release);
        }
        true
    }

    /// Allocates the group that `value` falls in. Owner only.
    #[cold]
    pub(crate) fn grow(&self, layout: Layout, value: u64) {
        let (group, _) = layout.locate(value);
        let slot = &self.groups[group % GROUPS];
        if !slot.load(Ordering::Relaxed).is_null() {
            return;
        }
        let buckets: Box<[AtomicU64]> =
            (0..layout.group_len()).map(|_| AtomicU64::new(0)).collect();
        self.group_len.store(layout.group_len(), Ordering::Relaxed);
        // Release: a reader that loads the pointer sees the zeroed buckets.
        slot.store(Box::into_raw(buckets).cast(), Ordering::Release);
    }

    /// Adds every bucket count into `counts` (indexed as in `layout`).
    pub(crate) fn add_counts(&self, layout: Layout, counts: &mut [u64]) {
        for (group, buckets) in self.groups.iter().enumerate().take(layout.groups()) {
            let buckets = buckets.load(Ordering::Acquire);
            if buckets.is_null() {
                continue;
            }
            let start = group * layout.group_len();
            for (index, total) in counts[start..start + layout.group_len()]
                .iter_mut()
                .enumerate()
            {
                // SAFETY: as in `record`; `Acquire` above made the zeroed
                // buckets visible.
                let bucket = unsafe { &*buckets.add(index) };
                *total += bucket.load(Ordering::Relaxed);
            }
        }
    }

    /// The number of groups allocated (for the memory test).
    #[cfg(test)]
    pub(crate) fn groups_allocated(&self) -> usize {
        self.groups
            .iter()
            .filter(|group| !group.load(Ordering::Relaxed).is_null())
            .count()
    }

    /// The sum of every value recorded here.
    pub(crate) fn sum(&self) -> u128 {
        self.sum.read()
    }

    /// The current owner's smallest and largest value, if it recorded any.
    pub(crate) fn extremes(&self) -> Option<(u64, u64)> {
        let min = self.min.load(Ordering::Acquire);
        let max = self.max.load(Ordering::Acquire);
        (min <= max).then_some((min, max))
    }

    /// For a new owner, under the slot's lock: folds the previous owner's
    /// extremes into `gone` and resets them, and notes everything recorded
    /// so far as earlier owners' part.
    pub(crate) fn hand_over(&self, layout: Layout, gone: &Extremes) {
        gone.fold(
            self.min.load(Ordering::Relaxed),
            self.max.load(Ordering::Relaxed),
        );
        self.min.store(u64::MAX, Ordering::Release);
        self.max.store(0, Ordering::Release);
        let mut counts = Vec::new();
        for (group, buckets) in self.groups.iter().enumerate().take(layout.groups()) {
            let buckets = buckets.load(Ordering::Acquire);
            if buckets.is_null() {
                continue;
            }
            for index in 0..layout.group_len() {
                // SAFETY: as in `add_counts`.
                let count = unsafe { &*buckets.add(index) }.load(Ordering::Relaxed);
                if count != 0 {
                    counts.push((group * layout.group_len() + index, count));
                }
            }
        }
        let earlier = Earlier {
            counts,
            sum: self.sum(),
        };
        *self.earlier.lock() = earlier;
    }

    /// Earlier owners' part (see [`hand_over`](BucketSlot::hand_over)).
    pub(crate) fn earlier(&self) -> Earlier {
        self.earlier.lock().clone()
    }
}

impl SlotState for BucketSlot {
    type Leftover = ();

    /// Nothing to do: an exited owner's counts stay where readers find them.
    fn on_exit(&self) {}
}

impl Drop for BucketSlot {
    fn drop(&mut self) {
        let len = self.group_len.load(Ordering::Relaxed);
        for group in &self.groups {
            let buckets = group.load(Ordering::Relaxed);
            if !buckets.is_null() {
                // SAFETY: allocated by `grow` as a boxed slice of `len`, and
                // freed once, here, with exclusive access.
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(buckets, len)) });
            }
        }
    }
}

/// A 128-bit sum that one thread adds to and any thread reads whole.
#[derive(Default)]
struct Sum {
    low: AtomicU64,
    high: AtomicU64,
    /// Odd while `high` and `low` change together (a carry).
    sequence: AtomicU64,
}

impl Sum {
    /// Adds `value`. Owner only.
    #[inline(always)]
    fn add(&self, value: u128) {
        let low = self.low.load(Ordering::Relaxed);
        let (new_low, carry) = low.overflowing_add(value as u64);
        let high = (value >> 64) as u64 + u64::from(carry);
        if high == 0 {
            self.low.store(new_low, Ordering::Relaxed);
        } else {
            self.carry(new_low, high);
        }
    }

    /// The rare add that changes the high word: inside the sequence lock.
    #[cold]
    fn carry(&self, new_low: u64, high: u64) {
        let sequence = self.sequence.load(Ordering::Relaxed);
        self.sequence.store(sequence + 1, Ordering::Relaxed);
        // The odd sequence is visible before either word changes.
        fence(Ordering::Release);
        let old_high = self.high.load(Ordering::Relaxed);
        self.high
            .store(old_high.wrapping_add(high), Ordering::Relaxed);
        self.low.store(new_low, Ordering::Relaxed);
        self.sequence.store(sequence + 2, Ordering::Release);
    }

    /// The sum, read whole.
    fn read(&self) -> u128 {
        loop {
            let before = self.sequence.load(Ordering::Acquire);
            // Even: no write in progress. (Not `is_multiple_of`, which
            // needs Rust 1.87; the crate's minimum is 1.85.)
            if before & 1 == 0 {
                let high = self.high.load(Ordering::Relaxed);
                let low = self.low.load(Ordering::Relaxed);
                // The word loads happen before the second sequence load.
                fence(Ordering::Acquire);
                if self.sequence.load(Ordering::Relaxed) == before {
                    return (u128::from(high) << 64) | u128::from(low);
                }
            }
            yield_now();
        }
    }
}

/// The extremes of exited owners whose slots were taken over.
pub(crate) struct Extremes {
    min: AtomicU64,
    max: AtomicU64,
}

impl Extremes {
    #[cfg(not(threadkit_loom))]
    pub(crate) const fn new() -> Extremes {
        Extremes {
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
        }
    }

    #[cfg(threadkit_loom)]
    pub(crate) fn new() -> Extremes {
        Extremes {
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
        }
    }

    fn fold(&self, min: u64, max: u64) {
        self.min.fetch_min(min, Ordering::Release);
        self.max.fetch_max(max, Ordering::Release);
    }

    /// Read after the slots' (see the module documentation).
    pub(crate) fn get(&self) -> Option<(u64, u64)> {
        let min = self.min.load(Ordering::Acquire);
        let max = self.max.load(Ordering::Acquire);
        (min <= max).then_some((min, max))
    }
}

/// Loom models: `RUSTFLAGS="--cfg threadkit_loom" cargo test --lib
/// --release`.
#[cfg(all(test, threadkit_loom))]
mod loom_tests {
    use super::*;
    use crate::sync::check;
    use loom::sync::Arc;
    use loom::thread;

    /// A reader never sees a torn sum, even across a carry: each sum it
    /// reads is one the owner had at some moment, and they never decrease.
    #[test]
    fn the_sum_is_read_whole_across_a_carry() {
        check(|| {
            let sum = Arc::new(Sum::default());
            sum.add(u128::from(u64::MAX));
            let reader = {
                let sum = Arc::clone(&sum);
                thread::spawn(move || {
                    let first = sum.read();
                    let second = sum.read();
                    let seen = [u128::from(u64::MAX), u128::from(u64::MAX) + 2];
                    assert!(seen.contains(&first), "torn: {first}");
                    assert!(seen.contains(&second), "torn: {second}");
                    assert!(first <= second);
                })
            };
            sum.add(2); // carries
            reader.join().unwrap();
            assert_eq!(sum.read(), u128::from(u64::MAX) + 2);
        });
    }

    /// An owner records and exits; the next owner takes the slot over and
    /// records while a reader (started after the first owner's record)
    /// reads: counts are never lost or counted twice, and the reader's
    /// extremes, the slot's widened by the folded ones, always include the
    /// first owner's value.
    #[test]
    fn counts_and_extremes_survive_a_hand_over() {
        check(|| {
            let layout = Layout::new(1);
            let slot = Arc::new(BucketSlot::default());
            let gone = Arc::new(Extremes::new());
            slot.grow(layout, 3);
            assert!(slot.record(layout, 3, 1));
            // The first owner has exited; the reader starts now.
            let reader = {
                let (slot, gone) = (Arc::clone(&slot), Arc::clone(&gone));
                thread::spawn(move || {
                    let mut counts = vec![0; layout.len()];
                    slot.add_counts(layout, &mut counts);
                    assert!((1..=2).contains(&counts.iter().sum::<u64>()));
                    assert!([3, 4].contains(&slot.sum()));
                    let (slot, folded) = (slot.extremes(), gone.get());
                    let (min, max) = match (slot, folded) {
                        (Some(a), Some(b)) => (a.0.min(b.0), a.1.max(b.1)),
                        (one, other) => one.or(other).expect("the first value's extremes"),
                    };
                    assert!(min <= 3 && max >= 3, "({min}, {max})");
                })
            };
            slot.hand_over(layout, &gone);
            slot.grow(layout, 1);
            assert!(slot.record(layout, 1, 1));
            reader.join().unwrap();
            let mut counts = vec![0; layout.len()];
            slot.add_counts(layout, &mut counts);
            assert_eq!(counts.iter().sum::<u64>(), 2);
            assert_eq!(slot.sum(), 4);
            assert_eq!(slot.extremes(), Some((1, 1)));
            assert_eq!(gone.get(), Some((3, 3)));
            assert_eq!(slot.earlier().sum, 3);
        });
    }
}
