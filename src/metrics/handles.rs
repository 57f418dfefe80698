//! The `metrics` facade's handle traits for threadkit's counters and
//! histograms; see the [module documentation](super#handles).

use std::sync::Arc;

use metrics::{CounterFn, HistogramFn};

use crate::counter::__private::Key;
use crate::counter::{Counter, StaticCounter};
use crate::histogram::{Histogram, Scaled};

/// `CounterFn` for a counter type with `add` and `sum`.
macro_rules! counter_fn {
    ($(impl$(<$k:ident: $bound:path>)? for $counter:ty;)*) => {$(
        impl$(<$k: $bound>)? CounterFn for $counter {
            fn increment(&self, value: u64) {
                self.add(value);
            }

            /// Adds `value - sum()` if positive: see the module
            /// documentation for what that means under concurrent calls.
            fn absolute(&self, value: u64) {
                let sum = self.sum();
                if value > sum {
                    self.add(value - sum);
                }
            }
        }
    )*};
}

counter_fn! {
    impl for Counter;
    impl<K: Key> for StaticCounter<K>;
}

impl<K: Key + Sync> StaticCounter<K> {
    /// With the `metrics` feature: this counter as a [`metrics::Counter`],
    /// for code that takes the facade's handle. An `increment` through the
    /// handle is an [`add`](StaticCounter::add) on this static, with its
    /// thread-local fast path.
    ///
    /// # Examples
    ///
    /// ```
    /// threadkit::counter! {
    ///     static REQUESTS;
    /// }
    ///
    /// fn serve(requests: &metrics::Counter) {
    ///     requests.increment(1);
    /// }
    ///
    /// let handle = REQUESTS.metrics_counter();
    /// serve(&handle);
    /// serve(&handle);
    /// assert_eq!(REQUESTS.sum(), 2);
    /// ```
    pub fn metrics_counter(&'static self) -> metrics::Counter {
        metrics::Counter::from_arc(Arc::new(Declared(self)))
    }
}

/// A [`counter!`](crate::counter!) static behind a `metrics::Counter`.
struct Declared<K: 'static>(&'static StaticCounter<K>);

impl<K: Key> CounterFn for Declared<K> {
    fn increment(&self, value: u64) {
        self.0.add(value);
    }

    fn absolute(&self, value: u64) {
        CounterFn::absolute(self.0, value);
    }
}

/// `value` rounded to the nearest `u64` (halves up): negative and NaN to
/// 0, too large to `u64::MAX` (what `as` does). Adding one half and
/// truncating is two instructions; `f64::round` is a call into libm on
/// x86_64 without SSE4.1. The sum differs from `round` only for the
/// largest `f64` below one half (1) and odd integers from 2⁵² to 2⁵³ (one
/// more).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
#[inline]
fn to_u64(value: f64) -> u64 {
    (value + 0.5) as u64
}

impl HistogramFn for Histogram {
    fn record(&self, value: f64) {
        Histogram::record(self, to_u64(value));
    }

    fn record_many(&self, value: f64, count: usize) {
        self.record_n(to_u64(value), count as u64);
    }
}

impl HistogramFn for Scaled {
    fn record(&self, value: f64) {
        self.histogram().record(to_u64(value * self.scale()));
    }

    fn record_many(&self, value: f64, count: usize) {
        self.histogram()
            .record_n(to_u64(value * self.scale()), count as u64);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn facade_handles_reach_the_counter_and_the_histogram() {
        let counter = Arc::new(Counter::new());
        let handle = metrics::Counter::from_arc(Arc::clone(&counter));
        handle.increment(3);
        handle.absolute(10);
        handle.absolute(4); // below: nothing
        assert_eq!(counter.sum(), 10);

        let latency = Arc::new(Scaled::seconds_as_nanos());
        let handle = metrics::Histogram::from_arc(Arc::clone(&latency));
        handle.record(0.5);
        handle.record_many(0.001, 3);
        let snapshot = latency.snapshot();
        assert_eq!(snapshot.count(), 4);
        assert_eq!(snapshot.max(), Some(500_000_000));
        assert_eq!(latency.unscale(snapshot.min().unwrap()), 0.001);
    }

    crate::counter! {
        static FORWARDED;
    }

    #[test]
    fn a_declared_counter_backs_a_facade_handle() {
        let handle = FORWARDED.metrics_counter();
        let clone = handle.clone();
        std::thread::scope(|s| {
            s.spawn(move || clone.increment(2));
        });
        handle.increment(3);
        handle.absolute(10);
        assert_eq!(FORWARDED.sum(), 10);
    }

    #[test]
    fn unscaled_values_are_rounded_and_clamped() {
        let histogram = Histogram::new();
        HistogramFn::record(&histogram, 2.5);
        HistogramFn::record(&histogram, -3.0);
        HistogramFn::record(&histogram, f64::NAN);
        HistogramFn::record(&histogram, 1e30);
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.count(), 4);
        assert_eq!((snapshot.min(), snapshot.max()), (Some(0), Some(u64::MAX)));
        assert_eq!(snapshot.quantile(0.5), Some(0)); // rank 2 of 4: 0, 0, 3, MAX
    }

    #[test]
    #[should_panic(expected = "finite and positive")]
    fn a_zero_scale_panics() {
        let _ = Scaled::new(0.0);
    }
}
