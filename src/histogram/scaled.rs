//! [`Scaled`]: a [`Histogram`] that records `value × scale`, for the
//! `metrics` facade's seconds as `f64`.

use std::fmt;

use super::indexed::Histogram;
use super::snapshot::Snapshot;

/// A [`Histogram`] for the `metrics` facade that records `value × scale`:
/// seconds as nanoseconds, say.
///
/// # Examples
///
/// ```
/// use metrics::HistogramFn;
/// use threadkit::histogram::Scaled;
///
/// let latency = Scaled::seconds_as_nanos();
/// latency.record(0.000_250); // 250 µs
/// let snapshot = latency.snapshot();
/// assert_eq!(snapshot.max(), Some(250_000));
/// assert_eq!(latency.unscale(snapshot.max().unwrap()), 0.000_250);
/// ```
pub struct Scaled {
    histogram: Histogram,
    scale: f64,
}

impl Scaled {
    /// A histogram that records `value × scale`, rounded.
    ///
    /// # Panics
    ///
    /// If `scale` is not finite and positive.
    #[must_use]
    pub fn new(scale: f64) -> Scaled {
        assert!(
            scale.is_finite() && scale > 0.0,
            "a histogram's scale must be finite and positive, not {scale}"
        );
        Scaled {
            histogram: Histogram::new(),
            scale,
        }
    }

    /// Seconds recorded as nanoseconds (`scale` 10⁹): 1 ns resolution, up to
    /// 584 years.
    #[must_use]
    pub fn seconds_as_nanos() -> Scaled {
        Scaled::new(1e9)
    }

    /// The histogram the scaled values go to.
    pub fn histogram(&self) -> &Histogram {
        &self.histogram
    }

    /// A snapshot, in the histogram's unit (`value × scale`).
    pub fn snapshot(&self) -> Snapshot {
        self.histogram.snapshot()
    }

    /// A recorded value back in the facade's unit (`value / scale`).
    #[allow(clippy::cast_precision_loss)]
    pub fn unscale(&self, value: u64) -> f64 {
        value as f64 / self.scale
    }

    /// The scale.
    pub fn scale(&self) -> f64 {
        self.scale
    }
}

impl fmt::Debug for Scaled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scaled")
            .field("scale", &self.scale)
            .field("histogram", &self.histogram)
            .finish()
    }
}
