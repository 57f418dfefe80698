//! A `metrics` recorder whose counters and histograms are threadkit's: each
//! worker thread counts and records into storage of its own, and the report
//! at the end reads exact totals and quantiles.
//!
//! `cargo run --release --features metrics --example metrics_recorder`
//!
//! Workers take their handles once (`metrics::counter!` looks the metric up
//! in the recorder on every call; a handle goes straight to threadkit), as
//! the facade's docs recommend for hot paths.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use threadkit::histogram::Scaled;

/// Keeps one threadkit counter or histogram per metric name and labels.
#[derive(Default)]
struct ThreadkitRecorder {
    counters: Mutex<HashMap<Key, Arc<threadkit::Counter>>>,
    histograms: Mutex<HashMap<Key, Arc<Scaled>>>,
}

impl Recorder for ThreadkitRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut counters = self.counters.lock().unwrap();
        let counter = counters.entry(key.clone()).or_default();
        Counter::from_arc(Arc::clone(counter))
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop() // not part of this example
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut histograms = self.histograms.lock().unwrap();
        // Seconds from the facade, nanoseconds in the histogram.
        let histogram = histograms
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Scaled::seconds_as_nanos()));
        Histogram::from_arc(Arc::clone(histogram))
    }
}

/// Pretends to serve a request of `size` bytes.
fn serve(size: usize) -> usize {
    let mut buffer = vec![0_u8; size];
    for (i, byte) in buffer.iter_mut().enumerate() {
        *byte = (i * 31) as u8;
    }
    std::hint::black_box(&buffer)
        .iter()
        .map(|&b| b as usize)
        .sum()
}

fn main() {
    let recorder: &'static ThreadkitRecorder = Box::leak(Box::default());
    metrics::set_global_recorder(recorder).expect("no recorder installed yet");

    let (threads, requests) = (8, 10_000);
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                let served = metrics::counter!("requests_total");
                let bytes = metrics::counter!("request_bytes_total");
                let latency = metrics::histogram!("request_seconds");
                // Half the threads serve a few requests and exit at once.
                let mine = if t % 2 == 0 { requests } else { 7 };
                for i in 0..mine {
                    let start = Instant::now();
                    let size = 256 + (i % 4) * 1024;
                    std::hint::black_box(serve(size));
                    latency.record(start.elapsed().as_secs_f64());
                    served.increment(1);
                    bytes.increment(size as u64);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }

    let counters = recorder.counters.lock().unwrap();
    for (key, counter) in counters.iter() {
        println!("{}: {}", key.name(), counter.sum());
    }
    let expected = 4 * requests + 4 * 7;
    let served = counters
        .iter()
        .find(|(key, _)| key.name() == "requests_total")
        .map(|(_, counter)| counter.sum());
    assert_eq!(served, Some(expected as u64), "every request counted");

    for (key, histogram) in recorder.histograms.lock().unwrap().iter() {
        let snapshot = histogram.snapshot();
        let show = |ns: Option<u64>| Duration::from_nanos(ns.unwrap_or(0));
        println!(
            "{}: count {}, p50 {:?}, p99 {:?}, max {:?} (quantiles within {:.2} %)",
            key.name(),
            snapshot.count(),
            show(snapshot.quantile(0.5)),
            show(snapshot.quantile(0.99)),
            show(snapshot.max()),
            100.0 * snapshot.relative_error(),
        );
        assert_eq!(snapshot.count(), expected as u64, "every latency recorded");
    }
}
