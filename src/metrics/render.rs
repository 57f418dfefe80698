//! [`Handle`]: renders a [`Recorder`](super::Recorder)'s series in the
//! Prometheus text format; see the [module documentation](super#exposition).

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use metrics::{Key, Unit};
use metrics_exporter_prometheus::formatting::{
    sanitize_metric_name, write_help_line, write_metric_line, write_type_line,
};
use metrics_exporter_prometheus::LabelSet;

use super::series::{Kind, Layout, Shared};
use crate::histogram::Snapshot;

/// Renders what a [`Recorder`](super::Recorder) holds; cheap to clone, and
/// usable from any thread while others record.
///
/// # Examples
///
/// ```
/// let recorder = threadkit::metrics::Recorder::new();
/// let handle = recorder.handle();
/// metrics::with_local_recorder(&recorder, || {
///     metrics::describe_counter!("jobs_total", "Jobs run.");
///     metrics::counter!("jobs_total").increment(2);
/// });
/// assert_eq!(
///     handle.render_prometheus(),
///     "# HELP jobs_total Jobs run.\n# TYPE jobs_total counter\njobs_total 2\n\n",
/// );
/// ```
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

/// One series' reading.
enum Value {
    Counter(u64),
    Gauge(f64),
    Histogram(Snapshot, Layout),
}

/// The series of one exposition name: their kind, the name the first was
/// registered under (for its description), and each by its label text.
struct Family {
    kind: Kind,
    name: String,
    series: BTreeMap<String, (LabelSet, Value)>,
}

impl Handle {
    pub(crate) fn new(shared: Arc<Shared>) -> Handle {
        Handle { shared }
    }

    /// Every series in the Prometheus text format (version 0.0.4): names
    /// sorted, each with its `# HELP` (if described) and `# TYPE` lines.
    ///
    /// Reads each series without stopping the threads that record into it
    /// (see the [module documentation](super#exposition) for what a
    /// reading is), and includes what exited threads recorded.
    #[must_use]
    pub fn render_prometheus(&self) -> String {
        let shared = &*self.shared;
        let mut families = BTreeMap::new();
        let mut notes = Vec::new();
        // Handles are cloned out of the registry first: the readings below
        // then hold none of its locks.
        let counters = shared.series.get_counter_handles();
        for (key, counter) in &counters {
            let value = Value::Counter(counter.sum());
            add(shared, &mut families, &mut notes, Kind::Counter, key, value);
        }
        let gauges = shared.series.get_gauge_handles();
        for (key, gauge) in &gauges {
            let value = Value::Gauge(gauge.get());
            add(shared, &mut families, &mut notes, Kind::Gauge, key, value);
        }
        let histograms = shared.series.get_histogram_handles();
        for (key, histogram) in &histograms {
            let layout = shared.series.storage().layout(key.name()).clone();
            let value = Value::Histogram(histogram.snapshot(), layout);
            add(
                shared,
                &mut families,
                &mut notes,
                Kind::Histogram,
                key,
                value,
            );
        }

        let mut out = String::new();
        for (name, family) in &families {
            write_family(shared, &mut out, name, family);
        }
        notes.sort();
        for note in notes {
            out.push_str(&note);
        }
        out
    }
}

/// Adds a series to its family, or a note saying why it is left out.
fn add(
    shared: &Shared,
    families: &mut BTreeMap<String, Family>,
    notes: &mut Vec<String>,
    kind: Kind,
    key: &Key,
    value: Value,
) {
    let name = sanitize_metric_name(key.name());
    let labels = LabelSet::from_key_and_global(key, &shared.labels);
    let text = labels.to_strings().collect::<Vec<_>>().join(",");
    let family = families.entry(name.clone()).or_insert_with(|| Family {
        kind,
        name: key.name().to_owned(),
        series: BTreeMap::new(),
    });
    let left_out = if family.kind == kind {
        match family.series.entry(text) {
            Entry::Vacant(vacant) => {
                vacant.insert((labels, value));
                return;
            }
            Entry::Occupied(_) => "has these labels twice".to_owned(),
        }
    } else {
        format!("is also a {}", family.kind.word())
    };
    notes.push(format!(
        "# threadkit: left out: the {} {:?}{{{}}}: {name} {left_out}\n",
        kind.word(),
        key.name(),
        labels.to_strings().collect::<Vec<_>>().join(","),
    ));
}

fn write_family(shared: &Shared, out: &mut String, name: &str, family: &Family) {
    let description = shared
        .descriptions
        .lock()
        .get(&(family.kind, family.name.clone()))
        .cloned();
    let unit = if shared.recommended_naming {
        description.as_ref().and_then(|d| d.unit)
    } else {
        None
    };
    let suffix = (shared.recommended_naming && family.kind == Kind::Counter).then_some("total");
    if let Some(description) = &description {
        write_help_line(out, name, unit, suffix, &description.text);
    }
    let kind = match family.series.values().next() {
        Some((_, Value::Histogram(_, layout))) if !layout.quantiles.is_empty() => "summary",
        _ => family.kind.word(),
    };
    write_type_line(out, name, unit, suffix, kind);
    for (labels, value) in family.series.values() {
        match value {
            Value::Counter(count) => line(out, name, suffix, labels, None, count, unit),
            Value::Gauge(gauge) => line(out, name, None, labels, None, Float(*gauge), unit),
            Value::Histogram(snapshot, layout) => {
                write_histogram(out, name, labels, snapshot, layout, unit);
            }
        }
    }
    out.push('\n');
}

/// A histogram's `_bucket` (or quantile), `_sum` and `_count` lines.
fn write_histogram(
    out: &mut String,
    name: &str,
    labels: &LabelSet,
    snapshot: &Snapshot,
    layout: &Layout,
    unit: Option<Unit>,
) {
    #[allow(clippy::cast_precision_loss)]
    let unscale = |value: u64| value as f64 / layout.scale;
    if layout.quantiles.is_empty() {
        let mut buckets = snapshot.buckets().peekable();
        let mut below = 0;
        for &bound in &layout.buckets {
            // A bucket belongs below a bound if its midpoint does: see the
            // module documentation.
            while let Some(bucket) = buckets.next_if(|b| unscale(b.midpoint) <= bound) {
                below += bucket.count;
            }
            let le = Some(("le", Float(bound)));
            line(out, name, Some("bucket"), labels, le, below, unit);
        }
        let le = Some(("le", Float(f64::INFINITY)));
        line(
            out,
            name,
            Some("bucket"),
            labels,
            le,
            snapshot.count(),
            unit,
        );
    } else {
        for &q in &layout.quantiles {
            let value = snapshot.quantile(q).map_or(f64::NAN, unscale);
            let quantile = Some(("quantile", Float(q)));
            line(out, name, None, labels, quantile, Float(value), unit);
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let sum = snapshot.sum() as f64 / layout.scale;
    line(out, name, Some("sum"), labels, None, Float(sum), unit);
    line(
        out,
        name,
        Some("count"),
        labels,
        None,
        snapshot.count(),
        unit,
    );
}

/// One sample line.
fn line(
    out: &mut String,
    name: &str,
    suffix: Option<&'static str>,
    labels: &LabelSet,
    extra: Option<(&'static str, Float)>,
    value: impl fmt::Display,
    unit: Option<Unit>,
) {
    write_metric_line(out, name, suffix, labels, extra, value, unit);
}

/// An `f64` as the text format writes it: `NaN`, `+Inf`, `-Inf`, or Rust's
/// shortest round-trip decimal.
#[derive(Clone, Copy)]
struct Float(f64);

impl fmt::Display for Float {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            v if v.is_nan() => f.write_str("NaN"),
            v if v == f64::INFINITY => f.write_str("+Inf"),
            v if v == f64::NEG_INFINITY => f.write_str("-Inf"),
            v => write!(f, "{v}"),
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("shared", &self.shared)
            .finish()
    }
}
