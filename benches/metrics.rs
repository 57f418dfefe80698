//! threadkit's `metrics` recorder against `metrics-exporter-prometheus`'s
//! recorder and `fast-telemetry`, in one process with rounds interleaved
//! (see `common/interleave.rs`), at t=1 and t=2.
//!
//! `cargo bench --features metrics --bench metrics [-- GROUP]`
//!
//! - **macro path**: `metrics::counter!("requests", "route" => "/api")
//!   .increment(1)` and `histogram!(…).record(v)` on every call, the key
//!   looked up each time, through `metrics::with_local_recorder` (the same
//!   dispatch for both recorders).
//! - **kept handle**: the facade's handle taken once, then `increment` /
//!   `record` in a loop; `fast-telemetry`'s `Counter` (4 shards) and
//!   `Histogram` (its 13 latency buckets, 4 shards) called directly, and
//!   threadkit's `Counter`, a `counter!` static and `Histogram` without
//!   the facade, and the `counter!` static's facade handle
//!   (`metrics_counter()`).
//!   The last row of each: a facade handle that does nothing.
//! - **macro path floors**: a recorder returning no-op handles (the
//!   facade's dispatch alone) and one returning a clone of a handle the
//!   thread keeps, whatever the key (dispatch, reference count, increment:
//!   all but the lookup).
//! - **shared path**: what a key costs when a thread has not kept its
//!   handle: `metrics-util`'s `Registry` (which the recorder uses) against
//!   a `RwLock<HashMap>`, and the recorder with `max_handles(0)`.
//! - **memory**: heap growth after 4 M histogram records with no render.
//! - **render**: one render of 1 000 series (800 counters, 100 gauges,
//!   100 histograms), fastest of the rounds.
//!
//! Histogram values: 1 024 latencies, log-uniform over 1 µs to 10 ms, read
//! in turn (seconds for the facade, microseconds for fast-telemetry).

#[path = "common/interleave.rs"]
mod interleave;

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use interleave::{compare, Case, Options};
use metrics::{Key, KeyName, Label, Metadata, SharedString, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use metrics_util::registry::Registry;
use threadkit::metrics::Recorder;

#[path = "../tests/common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::held;

fn main() {
    let options = Options::from_args();
    options.header("threadkit's metrics Recorder against metrics-exporter-prometheus 0.18 and fast-telemetry 0.10");
    compare(&options, "counter, macro path", &COUNTER_MACRO);
    compare(&options, "histogram, macro path", &HISTOGRAM_MACRO);
    compare(&options, "counter, kept handle", &COUNTER_HANDLE);
    compare(&options, "histogram, kept handle", &HISTOGRAM_HANDLE);
    compare(&options, "shared path", &SHARED_PATH);
    compare(&options, "counter, macro path floors", &FLOORS);
    if options.wants("memory") {
        memory(&options);
    }
    if options.wants("render") {
        render(&options);
    }
}

fn prometheus() -> &'static PrometheusRecorder {
    static RECORDER: OnceLock<PrometheusRecorder> = OnceLock::new();
    RECORDER.get_or_init(|| PrometheusBuilder::new().build_recorder())
}

fn threadkit() -> &'static Recorder {
    static RECORDER: OnceLock<Recorder> = OnceLock::new();
    RECORDER.get_or_init(Recorder::new)
}

fn unkept() -> &'static Recorder {
    static RECORDER: OnceLock<Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| Recorder::builder().max_handles(0).build())
}

/// 1 024 latencies in seconds, log-uniform over 1 µs to 10 ms.
fn seconds() -> &'static [f64; 1024] {
    static VALUES: OnceLock<[f64; 1024]> = OnceLock::new();
    VALUES.get_or_init(|| {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        std::array::from_fn(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let unit = (state >> 11) as f64 / (1_u64 << 53) as f64;
            1e-6 * 10_000_f64.powf(unit)
        })
    })
}

/// The same latencies in whole microseconds, for fast-telemetry.
fn micros() -> &'static [u64; 1024] {
    static VALUES: OnceLock<[u64; 1024]> = OnceLock::new();
    VALUES.get_or_init(|| std::array::from_fn(|i| (seconds()[i] * 1e6) as u64))
}

/// `counter!` with one static label, looked up on every call.
#[inline(always)]
fn counter_macro(recorder: &dyn metrics::Recorder, iters: u64) {
    metrics::with_local_recorder(recorder, || {
        for _ in 0..iters {
            metrics::counter!("requests", "route" => "/api").increment(1);
        }
    });
}

#[inline(always)]
fn histogram_macro(recorder: &dyn metrics::Recorder, iters: u64) {
    let values = black_box(seconds());
    metrics::with_local_recorder(recorder, || {
        for i in 0..iters {
            metrics::histogram!("latency", "route" => "/api").record(values[i as usize % 1024]);
        }
    });
}

const COUNTER_MACRO: [Case; 2] = [
    Case::new("prometheus recorder", |iters| {
        counter_macro(prometheus(), iters)
    }),
    Case::new("threadkit recorder", |iters| {
        counter_macro(threadkit(), iters)
    }),
];

const HISTOGRAM_MACRO: [Case; 2] = [
    Case::new("prometheus recorder", |iters| {
        histogram_macro(prometheus(), iters)
    }),
    Case::new("threadkit recorder", |iters| {
        histogram_macro(threadkit(), iters)
    }),
];

fn kept_counter(recorder: &dyn metrics::Recorder) -> metrics::Counter {
    metrics::with_local_recorder(
        recorder,
        || metrics::counter!("requests", "route" => "/api"),
    )
}

fn kept_histogram(recorder: &dyn metrics::Recorder) -> metrics::Histogram {
    metrics::with_local_recorder(
        recorder,
        || metrics::histogram!("latency", "route" => "/api"),
    )
}

fn fast_counter() -> &'static fast_telemetry::Counter {
    static COUNTER: OnceLock<fast_telemetry::Counter> = OnceLock::new();
    COUNTER.get_or_init(|| fast_telemetry::Counter::new(4))
}

fn fast_histogram() -> &'static fast_telemetry::Histogram {
    static HISTOGRAM: OnceLock<fast_telemetry::Histogram> = OnceLock::new();
    HISTOGRAM.get_or_init(|| fast_telemetry::Histogram::with_latency_buckets(4))
}

static COUNTER: threadkit::Counter = threadkit::Counter::new();
static HISTOGRAM: threadkit::Histogram = threadkit::Histogram::new();

/// A facade handle that does nothing: the cost of calling through
/// `metrics::Counter` / `metrics::Histogram` (a call and a dynamic call).
struct Nothing;

impl metrics::CounterFn for Nothing {
    fn increment(&self, value: u64) {
        black_box(value);
    }

    fn absolute(&self, _: u64) {}
}

impl metrics::HistogramFn for Nothing {
    fn record(&self, value: f64) {
        black_box(value);
    }
}

threadkit::counter! {
    static DECLARED;
}

const COUNTER_HANDLE: [Case; 7] = [
    Case::new("fast-telemetry Counter", |iters| {
        let counter = fast_counter();
        for _ in 0..iters {
            counter.inc();
        }
    }),
    Case::new("prometheus handle", |iters| {
        let counter = kept_counter(prometheus());
        for _ in 0..iters {
            counter.increment(1);
        }
    }),
    Case::new("threadkit handle", |iters| {
        let counter = kept_counter(threadkit());
        for _ in 0..iters {
            counter.increment(1);
        }
    }),
    Case::new("threadkit Counter, no facade", |iters| {
        for _ in 0..iters {
            COUNTER.add(1);
        }
    }),
    Case::new("threadkit counter! static, no facade", |iters| {
        for _ in 0..iters {
            DECLARED.add(1);
        }
    }),
    Case::new("threadkit counter! static's facade handle", |iters| {
        let counter = DECLARED.metrics_counter();
        for _ in 0..iters {
            counter.increment(1);
        }
    }),
    Case::new("floor: a facade handle doing nothing", |iters| {
        let counter = metrics::Counter::from_arc(Arc::new(Nothing));
        for _ in 0..iters {
            counter.increment(1);
        }
    }),
];

const HISTOGRAM_HANDLE: [Case; 5] = [
    Case::new("fast-telemetry Histogram", |iters| {
        let (histogram, values) = (fast_histogram(), black_box(micros()));
        for i in 0..iters {
            histogram.record(values[i as usize % 1024]);
        }
    }),
    Case::new("prometheus handle", |iters| {
        let (histogram, values) = (kept_histogram(prometheus()), black_box(seconds()));
        for i in 0..iters {
            histogram.record(values[i as usize % 1024]);
        }
        // Its samples wait for a render: drain them so that memory does
        // not grow across rounds (untimed rounds would be fairer; this
        // adds the drain's cost to the exporter's row).
        if i_should_drain(iters) {
            black_box(prometheus().handle().render());
        }
    }),
    Case::new("threadkit handle", |iters| {
        let (histogram, values) = (kept_histogram(threadkit()), black_box(seconds()));
        for i in 0..iters {
            histogram.record(values[i as usize % 1024]);
        }
    }),
    Case::new("threadkit Histogram, no facade", |iters| {
        let values = black_box(micros());
        for i in 0..iters {
            HISTOGRAM.record(values[i as usize % 1024]);
        }
    }),
    Case::new("floor: a facade handle doing nothing", |iters| {
        let (histogram, values) = (
            metrics::Histogram::from_arc(Arc::new(Nothing)),
            black_box(seconds()),
        );
        for i in 0..iters {
            histogram.record(values[i as usize % 1024]);
        }
    }),
];

/// Whether the exporter's handle case drains its samples after a round:
/// only in timing runs with big rounds.
fn i_should_drain(iters: u64) -> bool {
    iters >= 100_000
}

/// The key every shared-path case looks up.
static KEY_LABELS: [Label; 1] = [Label::from_static_parts("route", "/api")];
static KEY: Key = Key::from_static_parts("requests", &KEY_LABELS);

fn util_registry() -> &'static Registry<Key, metrics_util::registry::AtomicStorage> {
    static REGISTRY: OnceLock<Registry<Key, metrics_util::registry::AtomicStorage>> =
        OnceLock::new();
    REGISTRY.get_or_init(Registry::atomic)
}

fn locked_map() -> &'static RwLock<HashMap<Key, Arc<AtomicU64>>> {
    static MAP: OnceLock<RwLock<HashMap<Key, Arc<AtomicU64>>>> = OnceLock::new();
    MAP.get_or_init(|| RwLock::new(HashMap::from([(KEY.clone(), Arc::default())])))
}

const SHARED_PATH: [Case; 3] = [
    Case::new("RwLock<HashMap<Key, Arc>>", |iters| {
        let map = locked_map();
        for _ in 0..iters {
            let counter = Arc::clone(&map.read().unwrap()[black_box(&KEY)]);
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }),
    Case::new("metrics-util Registry", |iters| {
        let registry = util_registry();
        for _ in 0..iters {
            let counter = registry.get_or_create_counter(black_box(&KEY), Arc::clone);
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }),
    Case::new("threadkit recorder, max_handles(0)", |iters| {
        counter_macro(unkept(), iters);
    }),
];

/// A recorder whose every counter is `counter()`, whatever the key (its
/// gauges and histograms do nothing).
struct Fixed {
    counter: fn() -> metrics::Counter,
}

impl metrics::Recorder for Fixed {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> metrics::Counter {
        (self.counter)()
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

/// No-op handles: the facade's dispatch alone.
static NOOP: Fixed = Fixed {
    counter: metrics::Counter::noop,
};

thread_local! {
    static KEPT: metrics::Counter =
        metrics::Counter::from_arc(Arc::new(threadkit::Counter::new()));
}

/// A clone of a handle the thread keeps, whatever the key: a recorder with
/// no lookup (the dispatch, the handle's reference count, the increment).
static NO_LOOKUP: Fixed = Fixed {
    counter: || KEPT.with(Clone::clone),
};

const FLOORS: [Case; 4] = [
    Case::new("prometheus recorder", |iters| {
        counter_macro(prometheus(), iters)
    }),
    Case::new("noop recorder", |iters| counter_macro(&NOOP, iters)),
    Case::new("thread_local handle clone", |iters| {
        counter_macro(&NO_LOOKUP, iters)
    }),
    Case::new("threadkit recorder", |iters| {
        counter_macro(threadkit(), iters)
    }),
];

/// Heap growth after 4 M records into one histogram series, no render.
fn memory(options: &Options) {
    let n = if options.timing() { 4_000_000 } else { 10_000 };
    println!("\n## memory after {n} histogram records, no render (one series, one thread)");
    let values = seconds();
    let measure = |recorder: &dyn metrics::Recorder| {
        let histogram = kept_histogram(recorder);
        histogram.record(0.001);
        let before = held();
        for i in 0..n {
            histogram.record(values[i % 1024]);
        }
        held() - before
    };
    let prometheus = PrometheusBuilder::new().build_recorder();
    let threadkit = Recorder::new();
    let (p, t) = (measure(&prometheus), measure(&threadkit));
    println!("| recorder | growth |\n|---|---|");
    println!("| prometheus recorder | {} KiB |", p / 1024);
    println!("| threadkit recorder | {} KiB |", t / 1024);
    black_box(prometheus.handle().render());
}

/// Render time of 1 000 series, rounds interleaved, fastest of each.
fn render(options: &Options) {
    let rounds = if options.timing() { 30 } else { 1 };
    println!("\n## render of 1 000 series (800 counters, 100 gauges, 100 histograms), fastest of {rounds}");
    let fill = |recorder: &dyn metrics::Recorder| {
        metrics::with_local_recorder(recorder, || {
            for i in 0..800 {
                metrics::counter!("requests", "route" => format!("/r{i}")).increment(i);
            }
            for i in 0..100 {
                metrics::gauge!("queue_depth", "queue" => format!("q{i}")).set(i as f64);
            }
        });
    };
    let record = |recorder: &dyn metrics::Recorder| {
        metrics::with_local_recorder(recorder, || {
            for i in 0..100 {
                let histogram = metrics::histogram!("latency", "route" => format!("/r{i}"));
                for v in &seconds()[..10] {
                    histogram.record(*v);
                }
            }
        });
    };
    let prometheus = PrometheusBuilder::new().build_recorder();
    let threadkit = Recorder::new();
    fill(&prometheus);
    fill(&threadkit);
    let (prometheus_handle, threadkit_handle) = (prometheus.handle(), threadkit.handle());
    let (mut p_best, mut t_best) = (f64::MAX, f64::MAX);
    for _ in 0..rounds {
        record(&prometheus);
        let start = Instant::now();
        black_box(prometheus_handle.render());
        p_best = p_best.min(start.elapsed().as_secs_f64());
        record(&threadkit);
        let start = Instant::now();
        black_box(threadkit_handle.render_prometheus());
        t_best = t_best.min(start.elapsed().as_secs_f64());
    }
    println!("| recorder | µs per render | ratio |\n|---|---|---|");
    println!("| prometheus recorder | {:.0} | 1.00 |", p_best * 1e6);
    println!(
        "| threadkit recorder | {:.0} | {:.2} |",
        t_best * 1e6,
        t_best / p_best
    );
}
