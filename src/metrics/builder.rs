//! [`Builder`]: a [`Recorder`](super::Recorder)'s settings.

use std::collections::HashMap;

use indexmap::IndexMap;
use metrics_util::registry::Registry;

use super::series::{Kinds, Layout, Shared};
use crate::sync::Mutex;

/// The default bucket bounds of a histogram's exposition, in seconds:
/// 100 µs to 10 s, 1–2.5–5 per decade.
pub const DEFAULT_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The default scale of a histogram: values are recorded as whole
/// billionths (seconds as nanoseconds).
pub const DEFAULT_SCALE: f64 = 1e9;

/// The default number of handles of each kind a thread keeps.
pub const DEFAULT_MAX_HANDLES: usize = 1024;

/// What one metric name overrides.
#[derive(Clone, Debug, Default)]
struct Overrides {
    scale: Option<f64>,
    buckets: Option<Vec<f64>>,
    quantiles: Option<Vec<f64>>,
}

/// Settings for a [`Recorder`](super::Recorder);
/// [`Recorder::builder`](super::Recorder::builder) makes one with the
/// defaults, [`build`](Builder::build) the recorder.
///
/// | setting | default |
/// |---|---|
/// | [`buckets`](Builder::buckets) | [`DEFAULT_BUCKETS`]: 100 µs to 10 s |
/// | [`quantiles`](Builder::quantiles) | none: histograms, not summaries |
/// | [`scale`](Builder::scale) | [`DEFAULT_SCALE`]: whole nanoseconds of a value in seconds |
/// | [`label`](Builder::label) | none |
/// | [`max_handles`](Builder::max_handles) | [`DEFAULT_MAX_HANDLES`] of each kind per thread |
/// | [`recommended_naming`](Builder::recommended_naming) | off: names as given |
///
/// The `_for` methods set one metric name's histograms (the name as
/// given to the facade, before sanitising), whatever the order of the
/// calls.
///
/// # Examples
///
/// ```
/// use threadkit::metrics::Recorder;
///
/// let recorder = Recorder::builder()
///     .buckets_for("response_bytes", &[1024.0, 65536.0, 1048576.0])
///     .scale_for("response_bytes", 1.0)
///     .quantiles_for("queue_seconds", &[0.5, 0.99])
///     .label("service", "api")
///     .build();
/// metrics::with_local_recorder(&recorder, || {
///     metrics::histogram!("response_bytes").record(2000.0);
///     metrics::histogram!("queue_seconds").record(0.004);
/// });
/// let text = recorder.handle().render_prometheus();
/// assert!(text.contains("response_bytes_bucket{service=\"api\",le=\"65536\"} 1\n"));
/// assert!(text.contains("# TYPE queue_seconds summary\n"));
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Builder {
    buckets: Vec<f64>,
    quantiles: Vec<f64>,
    scale: f64,
    names: HashMap<String, Overrides>,
    labels: IndexMap<String, String>,
    max_handles: usize,
    recommended_naming: bool,
}

impl Builder {
    pub(crate) fn new() -> Builder {
        Builder {
            buckets: DEFAULT_BUCKETS.to_vec(),
            quantiles: Vec::new(),
            scale: DEFAULT_SCALE,
            names: HashMap::new(),
            labels: IndexMap::new(),
            max_handles: DEFAULT_MAX_HANDLES,
            recommended_naming: false,
        }
    }

    /// The upper bounds of every histogram's `_bucket` lines, in the
    /// facade's unit (`+Inf` is always added).
    ///
    /// # Panics
    ///
    /// If a bound is not finite or the bounds are not strictly ascending.
    pub fn buckets(mut self, bounds: &[f64]) -> Builder {
        self.buckets = checked_bounds(bounds);
        self
    }

    /// [`buckets`](Builder::buckets) for the histograms named `name`.
    ///
    /// # Panics
    ///
    /// As [`buckets`](Builder::buckets).
    pub fn buckets_for(mut self, name: &str, bounds: &[f64]) -> Builder {
        self.name(name).buckets = Some(checked_bounds(bounds));
        self
    }

    /// Renders every histogram as a summary with these quantiles (each
    /// within the histogram's relative error, 0.78 %), instead of buckets.
    ///
    /// # Panics
    ///
    /// If a quantile is not between 0 and 1.
    pub fn quantiles(mut self, quantiles: &[f64]) -> Builder {
        self.quantiles = checked_quantiles(quantiles);
        self
    }

    /// [`quantiles`](Builder::quantiles) for the histograms named `name`.
    ///
    /// # Panics
    ///
    /// As [`quantiles`](Builder::quantiles).
    pub fn quantiles_for(mut self, name: &str, quantiles: &[f64]) -> Builder {
        self.name(name).quantiles = Some(checked_quantiles(quantiles));
        self
    }

    /// What every histogram multiplies a value by before rounding it to a
    /// whole number and recording it: values below `0.5 / scale` record
    /// 0, values above `u64::MAX / scale` record that. The default, 10⁹,
    /// keeps seconds as nanoseconds (up to 584 years); byte counts want 1.
    ///
    /// # Panics
    ///
    /// If `scale` is not finite and positive.
    pub fn scale(mut self, scale: f64) -> Builder {
        self.scale = checked_scale(scale);
        self
    }

    /// [`scale`](Builder::scale) for the histograms named `name`.
    ///
    /// # Panics
    ///
    /// As [`scale`](Builder::scale).
    pub fn scale_for(mut self, name: &str, scale: f64) -> Builder {
        self.name(name).scale = Some(checked_scale(scale));
        self
    }

    /// Adds the label `key="value"` to every series in the exposition
    /// (a key's own label of that name wins).
    pub fn label(mut self, key: &str, value: &str) -> Builder {
        self.labels.insert(key.to_owned(), value.to_owned());
        self
    }

    /// How many handles of each kind a thread keeps (at least 0): see
    /// [the macro path](super#the-macro-path).
    pub fn max_handles(mut self, max: usize) -> Builder {
        self.max_handles = max;
        self
    }

    /// Whether the exposition names follow Prometheus's recommendations as
    /// `metrics-exporter-prometheus` does with its option of that name: a
    /// described unit is added to the name (`_seconds`, `_bytes`, …) and
    /// counters end in `_total`.
    pub fn recommended_naming(mut self, on: bool) -> Builder {
        self.recommended_naming = on;
        self
    }

    /// What a recorder is made of: what it shares with its handles, and
    /// its handles' bound.
    pub(crate) fn into_parts(self) -> (Shared, usize) {
        let default_layout = Layout {
            scale: self.scale,
            buckets: self.buckets,
            quantiles: self.quantiles,
        };
        let layouts = self
            .names
            .into_iter()
            .map(|(name, overrides)| {
                let layout = Layout {
                    scale: overrides.scale.unwrap_or(default_layout.scale),
                    buckets: overrides
                        .buckets
                        .unwrap_or_else(|| default_layout.buckets.clone()),
                    quantiles: overrides
                        .quantiles
                        .unwrap_or_else(|| default_layout.quantiles.clone()),
                };
                (name, layout)
            })
            .collect();
        let kinds = Kinds {
            default_layout,
            layouts,
        };
        let shared = Shared {
            series: Registry::new(kinds),
            descriptions: Mutex::new(HashMap::new()),
            labels: self.labels,
            recommended_naming: self.recommended_naming,
        };
        (shared, self.max_handles)
    }

    fn name(&mut self, name: &str) -> &mut Overrides {
        self.names.entry(name.to_owned()).or_default()
    }
}

fn checked_bounds(bounds: &[f64]) -> Vec<f64> {
    assert!(
        bounds.iter().all(|b| b.is_finite()) && bounds.windows(2).all(|w| w[0] < w[1]),
        "bucket bounds must be finite and strictly ascending, not {bounds:?}"
    );
    bounds.to_vec()
}

fn checked_quantiles(quantiles: &[f64]) -> Vec<f64> {
    assert!(
        quantiles.iter().all(|q| (0.0..=1.0).contains(q)),
        "quantiles must be between 0 and 1, not {quantiles:?}"
    );
    quantiles.to_vec()
}

fn checked_scale(scale: f64) -> f64 {
    assert!(
        scale.is_finite() && scale > 0.0,
        "a histogram's scale must be finite and positive, not {scale}"
    );
    scale
}
