//! With the `metrics` feature: a backend for the [`metrics`] facade.
//! [`Recorder`] keeps counters and histograms in threadkit's per-thread
//! storage, finds a repeated key through a table of the calling thread's,
//! and its [`Handle`] renders the Prometheus text format.
//!
//! ```
//! use threadkit::metrics::Recorder;
//!
//! let handle = Recorder::new().install().expect("the first recorder");
//! std::thread::scope(|s| {
//!     for _ in 0..4 {
//!         s.spawn(|| {
//!             for _ in 0..100 {
//!                 metrics::counter!("requests_total", "route" => "/api").increment(1);
//!                 metrics::histogram!("request_seconds").record(0.002);
//!             }
//!         });
//!     }
//! });
//! let text = handle.render_prometheus(); // serve this at `GET /metrics`
//! assert!(text.contains("requests_total{route=\"/api\"} 400\n"));
//! assert!(text.contains("request_seconds_bucket{le=\"0.0025\"} 400\n"));
//! assert!(text.contains("request_seconds_count 400\n"));
//! ```
//!
//! `examples/metrics_server.rs` serves `GET /metrics` over HTTP.
//!
//! # Storage
//!
//! | kind | storage | what a record costs | at render |
//! |---|---|---|---|
//! | counter | a [`Counter`](crate::Counter) | an add to the thread's own slot | exact sum, exited threads included |
//! | gauge | one `f64` shared by all threads | a store (`set`); a compare-and-swap (`increment`, `decrement`) | the value: the last `set` wins across threads |
//! | histogram | a [`Scaled`](crate::histogram::Scaled) [`Histogram`](crate::Histogram) per series | a record into the thread's own buckets | exact count and sum (of the recorded values, see below), buckets or quantiles |
//!
//! A histogram records `value × scale` rounded to a whole number
//! ([`Builder::scale`], default 10⁹: seconds kept as whole nanoseconds).
//! Its memory per series and thread that recorded it is about 600 bytes,
//! plus 512 bytes for each power of two its scaled values span in that
//! thread, never more as records grow: values from 1 µs to 10 s in
//! nanoseconds span 25 (13.4 KiB measured by `tests/metrics_memory.rs`,
//! with the thread's handle); values over every power of two, about
//! 30 KiB. Records past the first in each power of two add nothing. A
//! series keeps what threads recorded after they exit, and the slots of
//! exited threads go to new threads.
//!
//! # The macro path
//!
//! `metrics::counter!(…)`, `gauge!` and `histogram!` call the recorder's
//! `register_*` on every use. The recorder looks the key up in a table of
//! the calling thread's (one per kind, keyed by the key's hash, which the
//! facade computes when the key is made; a `static` key's at compile time)
//! and returns a handle of that thread's: cloning and dropping it counts
//! references no other thread touches, so threads recording the same
//! series at once share no cache line on this path. A key new to the
//! thread takes the shared path once: the registry ([`metrics_util`]'s
//! sharded `Registry`), which creates the series if it is new.
//!
//! A thread keeps at most [`Builder::max_handles`] handles of each kind
//! (default [`DEFAULT_MAX_HANDLES`]); past that, the keys it has not kept
//! take the shared path on every call: a read lock on a shard of the
//! registry and a handle whose reference count all threads share, so
//! threads recording the same series at once contend (`benches/README.md`
//! has both paths measured). A thread's table is
//! dropped when the thread exits.
//!
//! Handles a thread keeps outside the macros (`let c = counter!(…);`, then
//! `c.increment(1)`) skip the lookup; they stay valid on any thread.
//!
//! # Exposition
//!
//! [`Handle::render_prometheus`] writes every series with the formatting
//! functions of `metrics-exporter-prometheus`, so names and labels are
//! written as that exporter writes them:
//!
//! - a metric name is sanitised to `[a-zA-Z_:][a-zA-Z0-9_:]*`: each other
//!   character becomes `_` (`http.requests` renders `http_requests`); a
//!   label key likewise, without `:`; label values escape `\`, `"` and
//!   newlines;
//! - names are as given unless [`Builder::recommended_naming`];
//! - a histogram renders cumulative `_bucket{le=…}` lines at
//!   [`Builder::buckets`] (or a summary's quantile lines, with
//!   [`Builder::quantiles`]), then `_sum` and `_count`. A bucket of the
//!   histogram is counted below a bound when its midpoint is, so a value
//!   within the histogram's relative error (0.78 %) of a bound may be
//!   counted on its other side; count and sum are exact, and quantiles are
//!   within that error.
//!
//! A reading of one series sees every record that completed before it
//! began, and none is counted twice; series are read one after another
//! while threads go on recording.
//!
//! Two kinds with one name cannot both be rendered: the first of counter,
//! gauge, histogram keeps the name, and a comment line at the end says
//! what was left out (`# threadkit: left out: …`). Recording into each
//! goes on regardless. Two keys whose names sanitise to the same name with
//! the same labels: the first in key order is rendered, the other noted.
//!
//! # Values the facade may pass
//!
//! Nothing on a recording path panics.
//!
//! | input | what happens |
//! |---|---|
//! | histogram: negative or NaN | records 0 |
//! | histogram: above `u64::MAX / scale`, or `+∞` | records `u64::MAX / scale` (its largest) |
//! | gauge set to NaN or ±∞ | kept, rendered `NaN`, `+Inf`, `-Inf` |
//! | counter `absolute(v)` | adds `v - sum` if positive (see [Handles](#handles)) |
//!
//! # Handles
//!
//! Beside the recorder, threadkit's counters and histograms implement the
//! facade's handle traits, for a recorder of your own:
//!
//! - [`Counter`](crate::Counter) and [`StaticCounter`](crate::counter::StaticCounter)
//!   implement [`CounterFn`](metrics::CounterFn).
//!   [`increment`](metrics::CounterFn::increment) is [`Counter::add`](crate::Counter::add).
//!   [`absolute`](metrics::CounterFn::absolute) ("set to at least") has no
//!   exact per-thread meaning: it adds the difference between the value and
//!   the current [`sum`](crate::Counter::sum) if that is positive, so two
//!   threads calling it at once may both add, and the counter then ends
//!   above the value. Prefer `increment`.
//! - [`Histogram`](crate::Histogram) implements
//!   [`HistogramFn`](metrics::HistogramFn) for values in its own unit: an
//!   `f64` is rounded to the nearest `u64` (negative values and NaN record
//!   0, values past `u64::MAX` record `u64::MAX`).
//! - [`Scaled`](crate::histogram::Scaled) is a histogram that multiplies by
//!   a scale first: the facade's convention is seconds as `f64`
//!   (`histogram!("latency").record(elapsed.as_secs_f64())`), which
//!   [`Scaled::seconds_as_nanos`](crate::histogram::Scaled::seconds_as_nanos)
//!   records in nanoseconds, at the histogram's precision.
//! - A [`counter!`](crate::counter!) static backs a `metrics::Counter`
//!   through [`StaticCounter::metrics_counter`](crate::counter::StaticCounter::metrics_counter),
//!   for code that takes the facade's handle.
//!
//! `examples/metrics_recorder.rs` writes a recorder on these.

mod builder;
mod handles;
mod local;
mod recorder;
mod render;
mod series;

pub use builder::{Builder, DEFAULT_BUCKETS, DEFAULT_MAX_HANDLES, DEFAULT_SCALE};
pub use recorder::Recorder;
pub use render::Handle;
