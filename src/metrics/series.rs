//! What a [`Recorder`](super::Recorder) keeps for each series: the storage
//! of each kind, how a histogram series is set up, and the registry that
//! finds a series by its key.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use indexmap::IndexMap;
use metrics::{GaugeFn, Key, SharedString, Unit};
use metrics_util::registry::{Registry, Storage};

use crate::counter::Counter;
use crate::histogram::Scaled;
use crate::sync::Mutex;

/// The shared registry: series by key, created on first use.
pub(crate) type Series = Registry<Key, Kinds>;

/// A gauge: one `f64` shared by every thread, so that the last
/// [`set`](GaugeFn::set) wins; increments and decrements are a
/// compare-and-swap on it.
#[derive(Default)]
pub(crate) struct GaugeCell(AtomicU64);

impl GaugeCell {
    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    fn update(&self, change: impl Fn(f64) -> f64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some(change(f64::from_bits(bits)).to_bits())
            });
    }
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        self.update(|current| current + value);
    }

    fn decrement(&self, value: f64) {
        self.update(|current| current - value);
    }

    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
}

impl fmt::Debug for GaugeCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("GaugeCell").field(&self.get()).finish()
    }
}

/// How the histograms of one metric name record and render.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Layout {
    /// What a value is multiplied by before it is rounded to a whole
    /// number and recorded ([`Scaled`]'s scale).
    pub(crate) scale: f64,
    /// The upper bounds of the exposition's buckets, ascending, finite.
    pub(crate) buckets: Vec<f64>,
    /// Rendered as a summary with these quantiles instead, if not empty.
    pub(crate) quantiles: Vec<f64>,
}

/// What a recorder and its handles share.
pub(crate) struct Shared {
    pub(crate) series: Series,
    /// Descriptions by kind and metric name: `describe_*` may come before
    /// or after the series, or without one.
    pub(crate) descriptions: Mutex<HashMap<(Kind, String), Description>>,
    /// Labels added to every series in the exposition.
    pub(crate) labels: IndexMap<String, String>,
    /// Whether the exposition adds units and `_total` to names.
    pub(crate) recommended_naming: bool,
}

/// The storage of each kind, made by the registry as series appear; holds
/// the settings a new histogram needs.
#[derive(Debug)]
pub(crate) struct Kinds {
    pub(crate) default_layout: Layout,
    pub(crate) layouts: HashMap<String, Layout>,
}

impl Kinds {
    /// The layout of histograms named `name`.
    pub(crate) fn layout(&self, name: &str) -> &Layout {
        self.layouts.get(name).unwrap_or(&self.default_layout)
    }
}

/// The three kinds of series, in the order a name that several use is
/// rendered by (see `render`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    /// The word for it in the exposition's `# TYPE` line.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// What `describe_*` said about a metric name.
#[derive(Clone, Debug)]
pub(crate) struct Description {
    pub(crate) unit: Option<Unit>,
    pub(crate) text: SharedString,
}

impl Storage<Key> for Kinds {
    type Counter = Arc<Counter>;
    type Gauge = Arc<GaugeCell>;
    type Histogram = Arc<Scaled>;

    fn counter(&self, _: &Key) -> Arc<Counter> {
        Arc::new(Counter::new())
    }

    fn gauge(&self, _: &Key) -> Arc<GaugeCell> {
        Arc::default()
    }

    fn histogram(&self, key: &Key) -> Arc<Scaled> {
        Arc::new(Scaled::new(self.layout(key.name()).scale))
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("histograms", self.series.storage())
            .field("labels", &self.labels)
            .field("recommended_naming", &self.recommended_naming)
            .finish_non_exhaustive()
    }
}
