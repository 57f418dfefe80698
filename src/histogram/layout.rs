//! Where a value goes: the log-linear bucket layout of a
//! [`Histogram`](super::Histogram).
//!
//! With `bits` of precision (`b` below), values below `2^b` each have a
//! bucket of their own. Above, each power-of-two range `[2^e, 2^(e+1))` is
//! cut into `2^b` equal buckets of width `2^(e-b)`: a value's bucket is
//! given by its leading one and the `b` bits after it. The buckets of one
//! range form a *group*; group 0 holds the exact values `0..2^b`, and group
//! `g ≥ 1` holds the range with `e = g + b - 1`. So `65 - b` groups of
//! `2^b` buckets cover every `u64`.
//!
//! A bucket's reported value is its midpoint (rounded down). A value `v` in
//! a bucket of width `w` and lower bound `lo ≥ 2^e` is at most `w / 2` away
//! from it, and `w / 2 / v ≤ 2^(e-b-1) / 2^e = 2^-(b+1)`: the relative error
//! of any reported value is at most `2^-(b+1)` (0.78 % at the default
//! `b = 6`), and 0 below `2^b`. This is HdrHistogram's layout with one
//! significant binary digit more per group and no sub-bucket halving; the
//! same as `DDSketch`'s with a base-2 logarithm cut linearly.

/// The bucket layout for a precision of `bits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    bits: u32,
}

/// The precisions a histogram accepts.
pub(crate) const MIN_BITS: u32 = 1;
pub(crate) const MAX_BITS: u32 = 10;

impl Layout {
    pub(crate) const fn new(bits: u32) -> Layout {
        assert!(
            bits >= MIN_BITS && bits <= MAX_BITS,
            "histogram precision must be between 1 and 10 bits"
        );
        Layout { bits }
    }

    pub(crate) const fn bits(self) -> u32 {
        self.bits
    }

    /// Buckets per group.
    pub(crate) const fn group_len(self) -> usize {
        1 << self.bits
    }

    /// Groups covering every `u64`.
    pub(crate) const fn groups(self) -> usize {
        65 - self.bits as usize
    }

    /// Buckets in all.
    pub(crate) const fn len(self) -> usize {
        self.groups() * self.group_len()
    }

    /// The group and the index inside it of `value`'s bucket.
    ///
    /// Branch-free: group 0 (exact values) is the case where the
    /// saturating subtractions stop at 0.
    #[inline(always)]
    pub(crate) fn locate(self, value: u64) -> (usize, usize) {
        // The leading one's position; `| 1` keeps 0 defined.
        let exponent = 63 - (value | 1).leading_zeros();
        let group = (exponent + 1).saturating_sub(self.bits);
        let index = (value >> group.saturating_sub(1)) as usize & (self.group_len() - 1);
        (group as usize, index)
    }

    /// The smallest and largest value of a bucket (inclusive).
    pub(crate) fn bounds(self, group: usize, index: usize) -> (u64, u64) {
        if group == 0 {
            return (index as u64, index as u64);
        }
        let shift = group as u32 - 1;
        let low = ((self.group_len() + index) as u64) << shift;
        (low, low + ((1 << shift) - 1))
    }

    /// The value reported for a bucket: its midpoint, rounded down.
    pub(crate) fn midpoint(self, group: usize, index: usize) -> u64 {
        let (low, high) = self.bounds(group, index);
        low + (high - low) / 2
    }

    /// The largest relative error of a reported value, `2^-(bits+1)`.
    pub(crate) fn relative_error(self) -> f64 {
        1.0 / f64::from(1_u32 << (self.bits + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_falls_inside_its_bucket_and_buckets_tile_the_range() {
        // Under Miri, where each step is far slower, three precisions.
        let all: Vec<u32> = if cfg!(miri) {
            vec![MIN_BITS, 6, MAX_BITS - 3]
        } else {
            (MIN_BITS..=MAX_BITS).collect()
        };
        for bits in all {
            let layout = Layout::new(bits);
            let mut next = 0_u64;
            for group in 0..layout.groups() {
                for index in 0..layout.group_len() {
                    let (low, high) = layout.bounds(group, index);
                    assert_eq!(low, next, "bits {bits}, bucket ({group}, {index})");
                    assert_eq!(layout.locate(low), (group, index));
                    assert_eq!(layout.locate(high), (group, index));
                    next = high.wrapping_add(1);
                }
            }
            assert_eq!(next, 0, "bits {bits}: the last bucket ends at u64::MAX");
        }
    }

    #[test]
    fn midpoints_are_within_the_stated_error() {
        let layout = Layout::new(6);
        let values = if cfg!(miri) { 2_000 } else { 20_000 };
        for value in (0..values).chain([u64::MAX, u64::MAX / 3, 1 << 40]) {
            let (group, index) = layout.locate(value);
            let reported = layout.midpoint(group, index) as f64;
            let error = (reported - value as f64).abs();
            assert!(
                error <= value as f64 * layout.relative_error(),
                "{value} reported as {reported}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "between 1 and 10 bits")]
    fn precision_out_of_range_panics() {
        let _ = Layout::new(11);
    }
}
