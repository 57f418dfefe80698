//! [`Snapshot`]: a histogram's merged counts at one moment, and what can be
//! read off them.

use std::fmt;
use std::iter::FusedIterator;

use super::layout::Layout;

/// A histogram's counts at one moment, merged over its threads; see
/// [`Histogram::snapshot`](super::Histogram::snapshot).
///
/// Counts, [`count`](Snapshot::count), [`sum`](Snapshot::sum),
/// [`min`](Snapshot::min) and [`max`](Snapshot::max) are exact;
/// [`quantile`](Snapshot::quantile) is within the histogram's
/// [`relative_error`](Snapshot::relative_error) of the exact quantile of
/// the recorded values.
///
/// # Examples
///
/// ```
/// use threadkit::Histogram;
///
/// let latencies = Histogram::new();
/// for micros in 1..=100 {
///     latencies.record(micros * 1_000);
/// }
/// let snapshot = latencies.snapshot();
/// assert_eq!(snapshot.count(), 100);
/// assert_eq!(snapshot.min(), Some(1_000));
/// assert_eq!(snapshot.max(), Some(100_000));
/// assert_eq!(snapshot.mean(), Some(50_500.0));
/// let p99 = snapshot.quantile(0.99).unwrap();
/// assert!((p99 as f64 - 99_000.0).abs() <= 99_000.0 * snapshot.relative_error());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Snapshot {
    layout: Layout,
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    extremes: Option<(u64, u64)>,
}

impl Snapshot {
    /// A snapshot of `counts` (indexed as in `layout`), with their sum and
    /// the recorded extremes as read. Where a record was still being made
    /// while the counts were read, its count can be in without its extreme:
    /// the extremes are widened to the non-empty buckets' bounds then.
    pub(crate) fn new(
        layout: Layout,
        counts: Vec<u64>,
        sum: u128,
        extremes: Option<(u64, u64)>,
    ) -> Snapshot {
        let count = counts.iter().fold(0_u64, |n, &c| n.wrapping_add(c));
        let mut snapshot = Snapshot {
            layout,
            counts,
            count,
            sum,
            extremes: None,
        };
        let mut buckets = snapshot.buckets();
        let first = buckets.next();
        let last = buckets.next_back().or(first);
        snapshot.extremes = match (first, last, extremes) {
            (Some(first), Some(last), Some((min, max))) => {
                Some((min.min(first.high), max.max(last.low)))
            }
            (Some(first), Some(last), None) => Some((first.low, last.high)),
            (None, _, _) | (_, None, _) => None,
        };
        snapshot
    }

    /// The number of values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether no value was recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The exact sum of the values recorded (128 bits: it cannot overflow).
    pub fn sum(&self) -> u128 {
        self.sum
    }

    /// The smallest value recorded, exactly; `None` if none was.
    pub fn min(&self) -> Option<u64> {
        self.extremes.map(|(min, _)| min)
    }

    /// The largest value recorded, exactly; `None` if none was.
    pub fn max(&self) -> Option<u64> {
        self.extremes.map(|(_, max)| max)
    }

    /// The mean of the values recorded; `None` if none was.
    #[allow(clippy::cast_precision_loss)]
    pub fn mean(&self) -> Option<f64> {
        (self.count != 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// The value at quantile `q` (0.5 for the median, 0.99 for the 99th
    /// percentile); `None` if no value was recorded.
    ///
    /// It is the value of rank `⌈q · count⌉` (at least 1) in the sorted
    /// values, as its bucket's midpoint: within
    /// [`relative_error`](Snapshot::relative_error) of that value (exact
    /// below `2^precision`), and never outside [`min`](Snapshot::min) ..=
    /// [`max`](Snapshot::max). The first rank gives the exact minimum, the
    /// last the exact maximum.
    ///
    /// # Panics
    ///
    /// If `q` is not in `0.0..=1.0` (NaN included).
    ///
    /// # Examples
    ///
    /// ```
    /// let sizes = threadkit::Histogram::new();
    /// for size in [10, 20, 30, 40] {
    ///     sizes.record(size);
    /// }
    /// let snapshot = sizes.snapshot();
    /// assert_eq!(snapshot.quantile(0.0), Some(10));
    /// assert_eq!(snapshot.quantile(0.5), Some(20)); // rank 2 of 4
    /// assert_eq!(snapshot.quantile(1.0), Some(40));
    /// ```
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    pub fn quantile(&self, q: f64) -> Option<u64> {
        assert!(
            (0.0..=1.0).contains(&q),
            "quantile {q} is outside 0.0..=1.0"
        );
        let (min, max) = self.extremes?;
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        if rank == 1 {
            return Some(min);
        }
        if rank == self.count {
            return Some(max);
        }
        let mut seen = 0_u64;
        for bucket in self.buckets() {
            seen += bucket.count;
            if seen >= rank {
                return Some(bucket.midpoint.clamp(min, max));
            }
        }
        Some(max)
    }

    /// The non-empty buckets, from the lowest values up.
    pub fn buckets(&self) -> Buckets<'_> {
        Buckets {
            layout: self.layout,
            counts: self.counts.iter().enumerate(),
        }
    }

    /// The largest relative error of a [`quantile`](Snapshot::quantile):
    /// `2^-(precision + 1)`, 0.78 % at the default precision.
    pub fn relative_error(&self) -> f64 {
        self.layout.relative_error()
    }

    /// The precision, in bits, of the histogram this came from.
    pub fn precision(&self) -> u32 {
        self.layout.bits()
    }

    /// Adds `other`'s values to this snapshot's.
    ///
    /// # Panics
    ///
    /// If the two come from histograms of different precisions.
    pub fn merge(&mut self, other: &Snapshot) {
        assert_eq!(
            self.layout, other.layout,
            "snapshots of histograms of different precisions cannot be merged"
        );
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.count = self.count.wrapping_add(other.count);
        self.sum += other.sum;
        self.extremes = match (self.extremes, other.extremes) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (one, other) => one.or(other),
        };
    }
}

#[cfg(feature = "hdrhistogram")]
impl Snapshot {
    /// The snapshot as an [`hdrhistogram::Histogram`] with `sigfig`
    /// significant digits, for that crate's serialisation formats and
    /// reports (feature `hdrhistogram`).
    ///
    /// Counts are kept exactly; each bucket's values are recorded at its
    /// midpoint, except one value at the exact minimum and one at the exact
    /// maximum, so a value read back is within this snapshot's
    /// [`relative_error`](Snapshot::relative_error) plus `hdrhistogram`'s own.
    ///
    /// # Errors
    ///
    /// `hdrhistogram`'s, if `sigfig` is above 5.
    ///
    /// # Examples
    ///
    /// ```
    /// let h = threadkit::Histogram::new();
    /// h.record_n(1_000, 3);
    /// h.record(5_000);
    /// let hdr = h.snapshot().to_hdrhistogram(3).unwrap();
    /// assert_eq!(hdr.len(), 4);
    /// // hdrhistogram reports values at its own precision (3 digits here).
    /// assert!(hdr.equivalent(hdr.min(), 1_000) && hdr.equivalent(hdr.max(), 5_000));
    /// ```
    pub fn to_hdrhistogram(
        &self,
        sigfig: u8,
    ) -> Result<hdrhistogram::Histogram<u64>, hdrhistogram::CreationError> {
        let mut hdr = hdrhistogram::Histogram::new(sigfig)?;
        let Some((min, max)) = self.extremes else {
            return Ok(hdr);
        };
        let mut values: Vec<(u64, u64)> = self
            .buckets()
            .map(|bucket| (bucket.midpoint.clamp(min, max), bucket.count))
            .collect();
        // One value at each exact extreme, taken from its bucket.
        values[0].1 -= 1;
        let last = values.len() - 1;
        values[last].1 -= u64::from(self.count > 1);
        values.push((min, 1));
        if self.count > 1 {
            values.push((max, 1));
        }
        for (value, count) in values {
            if count != 0 {
                // Auto-resizing: recording cannot fail.
                let _ = hdr.record_n(value, count);
            }
        }
        Ok(hdr)
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("count", &self.count)
            .field("min", &self.min())
            .field("max", &self.max())
            .field("mean", &self.mean())
            .field("p50", &self.quantile(0.5))
            .field("p99", &self.quantile(0.99))
            .finish_non_exhaustive()
    }
}

/// A non-empty bucket of a [`Snapshot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// The smallest value the bucket holds.
    pub low: u64,
    /// The largest value the bucket holds (inclusive).
    pub high: u64,
    /// The value reported for it: its midpoint, rounded down.
    pub midpoint: u64,
    /// How many values fell in it.
    pub count: u64,
}

/// Iterator over a snapshot's non-empty buckets; see [`Snapshot::buckets`].
#[derive(Clone, Debug)]
pub struct Buckets<'a> {
    layout: Layout,
    counts: std::iter::Enumerate<std::slice::Iter<'a, u64>>,
}

impl Buckets<'_> {
    fn bucket(&self, at: usize, count: u64) -> Bucket {
        let (group, index) = (at / self.layout.group_len(), at % self.layout.group_len());
        let (low, high) = self.layout.bounds(group, index);
        Bucket {
            low,
            high,
            midpoint: self.layout.midpoint(group, index),
            count,
        }
    }
}

impl Iterator for Buckets<'_> {
    type Item = Bucket;

    fn next(&mut self) -> Option<Bucket> {
        let (at, &count) = self.counts.by_ref().find(|&(_, &count)| count != 0)?;
        Some(self.bucket(at, count))
    }
}

impl DoubleEndedIterator for Buckets<'_> {
    fn next_back(&mut self) -> Option<Bucket> {
        let (at, &count) = self.counts.by_ref().rfind(|&(_, &count)| count != 0)?;
        Some(self.bucket(at, count))
    }
}

impl FusedIterator for Buckets<'_> {}
