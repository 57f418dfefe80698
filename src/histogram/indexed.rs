//! [`Histogram`]: a histogram per thread in a slot table, found through
//! the crate's thread index, merged on read; see the
//! [module documentation](super).

use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};

use super::layout::Layout;
use super::slot::{BucketSlot, Earlier, Extremes};
use super::snapshot::Snapshot;
use crate::sync::Mutex;
use crate::thread::owned::OwnedTable;
use crate::thread::share::{Part, ThreadShare};

/// A histogram of `u64` values that threads record into without
/// contention; see the [module documentation](super).
///
/// Usable as a `static`, a struct field or behind an `Arc`.
///
/// # Examples
///
/// ```
/// use threadkit::Histogram;
///
/// let sizes = Histogram::new();
/// sizes.record(256);
/// sizes.record_n(1024, 3);
/// let snapshot = sizes.snapshot();
/// assert_eq!((snapshot.count(), snapshot.sum()), (4, 256 + 3 * 1024));
/// assert_eq!(snapshot.quantile(0.5), Some(1024));
/// ```
pub struct Histogram {
    /// Declared first so that it is dropped first (taking back the owners'
    /// exit hooks).
    slots: OwnedTable<BucketSlot>,
    layout: Layout,
    /// The extremes of exited owners whose slots were taken over.
    gone: Extremes,
    /// What threads recorded while exiting, with no slot of their own.
    unslotted: Mutex<Option<Box<BucketSlot>>>,
}

/// The default precision: 6 bits, a relative error of at most 0.78 %.
const DEFAULT_BITS: u32 = 6;

impl Histogram {
    /// Creates an empty histogram with 6 bits of precision: quantiles within
    /// 0.78 % of the exact ones.
    ///
    /// # Examples
    ///
    /// ```
    /// static SIZES: threadkit::Histogram = threadkit::Histogram::new();
    /// SIZES.record(42);
    /// assert_eq!(SIZES.snapshot().max(), Some(42));
    /// ```
    #[must_use]
    pub const fn new() -> Histogram {
        Histogram::with_precision(DEFAULT_BITS)
    }

    /// Creates an empty histogram with `bits` of precision: each power of
    /// two is cut into `2^bits` buckets, and quantiles are within
    /// `2^-(bits + 1)` of the exact ones, relative. Each bit doubles the
    /// memory a thread's buckets take.
    ///
    /// # Panics
    ///
    /// If `bits` is not between 1 and 10 (at compile time, in a `static`):
    ///
    /// ```compile_fail
    /// static TOO_COARSE: threadkit::Histogram = threadkit::Histogram::with_precision(0);
    /// ```
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::Histogram;
    ///
    /// let fine = Histogram::with_precision(10);
    /// fine.record(123_456_789);
    /// let snapshot = fine.snapshot();
    /// assert_eq!(snapshot.relative_error(), 1.0 / 2048.0);
    /// ```
    #[must_use]
    pub const fn with_precision(bits: u32) -> Histogram {
        Histogram {
            slots: OwnedTable::new(),
            layout: Layout::new(bits),
            gone: Extremes::new(),
            unslotted: Mutex::new(None),
        }
    }

    /// The precision in bits.
    pub fn precision(&self) -> u32 {
        self.layout.bits()
    }

    /// Records `value` once.
    ///
    /// The fast path writes only the calling thread's buckets: a
    /// thread-local read, a bucket index from the value's leading one, and
    /// loads and stores, no lock-prefixed instruction.
    #[inline]
    pub fn record(&self, value: u64) {
        self.record_n(value, 1);
    }

    /// Records `value` `n` times (nothing if `n` is 0).
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::Histogram::new();
    /// h.record_n(7, 1_000);
    /// assert_eq!(h.snapshot().count(), 1_000);
    /// ```
    #[inline]
    pub fn record_n(&self, value: u64, n: u64) {
        if n == 0 {
            return;
        }
        let recorded = match self.slots.get() {
            Some(recorder) => recorder.record(self.layout, value, n),
            None => false,
        };
        if !recorded {
            self.record_slow(value, n);
        }
    }

    #[cold]
    fn record_slow(&self, value: u64, n: u64) {
        let (slot, ()) = self.slots.claim(|recorder, previous| {
            if previous {
                recorder.hand_over(self.layout, &self.gone);
            }
        });
        match slot {
            Some(slot) => record_growing(slot.state(), self.layout, value, n),
            None => {
                // Exiting: no slot of its own.
                let mut unslotted = self.unslotted.lock();
                let recorder = unslotted.get_or_insert_with(Box::default);
                record_growing(recorder, self.layout, value, n);
            }
        }
    }

    /// Every value recorded so far, merged over the threads.
    ///
    /// It visits one slot per thread index (at most as many as threads were
    /// alive at once) and takes no lock but the one of the values recorded
    /// by exiting threads.
    pub fn snapshot(&self) -> Snapshot {
        let mut counts = vec![0; self.layout.len()];
        let mut sum = 0;
        let mut extremes = None;
        for slot in self.slots.slots() {
            let recorder = slot.state();
            recorder.add_counts(self.layout, &mut counts);
            sum += recorder.sum();
            extremes = widen(extremes, recorder.extremes());
        }
        // After the slots': see `slot`.
        extremes = widen(extremes, self.gone.get());
        if let Some(recorder) = &*self.unslotted.lock() {
            recorder.add_counts(self.layout, &mut counts);
            sum += recorder.sum();
            extremes = widen(extremes, recorder.extremes());
        }
        Snapshot::new(self.layout, counts, sum, extremes)
    }

    /// Each thread's values, with the thread they belong to.
    ///
    /// One share per thread that owns a slot, running or exited. Values of
    /// exited threads whose slot another thread has since taken, and values
    /// recorded during thread teardown, are reported together in one share
    /// whose [`thread_id`](ThreadShare::thread_id) is `None` (left out when
    /// empty). The shares merge into [`snapshot`](Histogram::snapshot) when
    /// no thread is recording.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::Histogram;
    ///
    /// let sizes = Histogram::new();
    /// std::thread::scope(|s| {
    ///     std::thread::Builder::new()
    ///         .name("parser".into())
    ///         .spawn_scoped(s, || sizes.record(4096))
    ///         .unwrap();
    /// });
    /// let shares = sizes.per_thread();
    /// assert_eq!(shares[0].thread_name(), Some("parser"));
    /// assert_eq!(shares[0].value().max(), Some(4096));
    /// ```
    pub fn per_thread(&self) -> Vec<ThreadShare<Snapshot>> {
        // Values recorded by exiting threads belong to no thread.
        let mut unattributed = Counts::new(self.layout);
        if let Some(recorder) = &*self.unslotted.lock() {
            unattributed.merge(Counts::of(self.layout, recorder, None).1);
        }
        let shares = self.slots.shares(
            unattributed,
            |recorder| Counts::of(self.layout, recorder, Some(recorder.earlier())),
            // After the slots': a hand-over moves a slot's extremes there.
            |unattributed| unattributed.widen(self.gone.get()),
        );
        shares
            .into_iter()
            .map(|share| share.map(|counts| counts.into_snapshot(self.layout)))
            .collect()
    }

    /// Forgets every value recorded. The exclusive borrow means no thread
    /// is recording, so nothing recorded before is left over.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut h = threadkit::Histogram::new();
    /// h.record(5);
    /// h.reset();
    /// assert!(h.snapshot().is_empty());
    /// ```
    pub fn reset(&mut self) {
        *self = Histogram::with_precision(self.layout.bits());
    }
}

/// Records through `recorder`, allocating the value's group first if need be.
fn record_growing(recorder: &BucketSlot, layout: Layout, value: u64, n: u64) {
    if !recorder.record(layout, value, n) {
        recorder.grow(layout, value);
        let recorded = recorder.record(layout, value, n);
        debug_assert!(recorded, "the group was just allocated");
    }
}

fn widen(a: Option<(u64, u64)>, b: Option<(u64, u64)>) -> Option<(u64, u64)> {
    match (a, b) {
        (Some((a_min, a_max)), Some((b_min, b_max))) => Some((a_min.min(b_min), a_max.max(b_max))),
        (one, other) => one.or(other),
    }
}

/// A part of a histogram's per-thread report, as read from recorders:
/// bucket counts (indexed as in the layout), their sum and the extremes
/// read with them.
struct Counts {
    counts: Vec<u64>,
    sum: u128,
    extremes: Option<(u64, u64)>,
}

impl Counts {
    /// Nothing.
    fn new(layout: Layout) -> Counts {
        Counts {
            counts: vec![0; layout.len()],
            sum: 0,
            extremes: None,
        }
    }

    /// A recorder's (earlier owners' part, current owner's part), given
    /// the earlier owners' part (`None`: all of it is the current
    /// owner's). The earlier owners' extremes are in the histogram's `gone`.
    fn of(layout: Layout, recorder: &BucketSlot, earlier: Option<Earlier>) -> (Counts, Counts) {
        let mut current = Counts::new(layout);
        recorder.add_counts(layout, &mut current.counts);
        let earlier = earlier.unwrap_or_default();
        let mut before = Counts::new(layout);
        for &(at, count) in &earlier.counts {
            current.counts[at] -= count;
            before.counts[at] = count;
        }
        before.sum = earlier.sum;
        current.sum = recorder.sum() - earlier.sum;
        current.extremes = recorder.extremes();
        (before, current)
    }

    /// Widens the extremes to include `extremes`.
    fn widen(&mut self, extremes: Option<(u64, u64)>) {
        self.extremes = widen(self.extremes, extremes);
    }

    fn into_snapshot(self, layout: Layout) -> Snapshot {
        Snapshot::new(layout, self.counts, self.sum, self.extremes)
    }
}

impl Part for Counts {
    fn merge(&mut self, other: Counts) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.sum += other.sum;
        self.widen(other.extremes);
    }

    fn is_nothing(&self) -> bool {
        self.counts.iter().all(|&count| count == 0)
    }
}

// A panic cannot leave a histogram half-updated: `record` runs no user code.
impl RefUnwindSafe for Histogram {}
impl UnwindSafe for Histogram {}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram::new()
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("precision", &self.layout.bits())
            .field("snapshot", &self.snapshot())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The figure in the module documentation: latencies from 1 µs to 10 s
    /// in nanoseconds, at the default precision, fit in 16 KiB per thread.
    #[test]
    fn a_thread_recording_1us_to_10s_keeps_under_16_kib() {
        let histogram = Histogram::new();
        let mut value = 1_000_u64;
        while value <= 10_000_000_000 {
            histogram.record(value);
            value += value / 64 + 1;
        }
        histogram.record(10_000_000_000);
        let recorder = histogram.slots.get().expect("this thread's slot");
        let groups = recorder.groups_allocated();
        assert_eq!(groups, 25, "2^9 ..= 2^33");
        let bucket_bytes = groups * histogram.layout.group_len() * 8;
        let fixed = std::mem::size_of::<
            crossbeam_utils::CachePadded<crate::thread::owned::Slot<BucketSlot>>,
        >();
        assert_eq!(bucket_bytes, 12_800);
        assert!(
            bucket_bytes + fixed <= 16 * 1024,
            "{bucket_bytes} + {fixed}"
        );
        assert!(fixed <= 1024, "fixed state {fixed} bytes");
    }
}
