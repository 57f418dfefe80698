//! The `metrics` recorder's memory: a histogram series keeps at most
//! 16 KiB per thread that recorded it, and 4 M records without a render
//! grow the heap by at most 256 KiB (the exporter this replaces keeps every
//! sample until the next render). One test, so that nothing else allocates
//! while it counts. Not under Miri: millions of records are too slow there.
#![cfg(not(miri))]

use std::sync::Barrier;

use threadkit::metrics::Recorder;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::held;

/// `n` latencies in seconds, log-uniform over 1 µs to 10 s.
fn latencies(seed: u64, n: usize) -> impl Iterator<Item = f64> {
    let mut state = seed | 1;
    (0..n).map(move |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let unit = (state >> 11) as f64 / (1_u64 << 53) as f64;
        1e-6 * 1e7_f64.powf(unit)
    })
}

/// Heap bytes held while `threads` threads are alive, each having run
/// `work`, minus before they started.
fn held_by_threads(threads: usize, work: impl Fn(usize) + Sync) -> isize {
    let (ready, done) = (Barrier::new(threads + 1), Barrier::new(threads + 1));
    std::thread::scope(|s| {
        let before = held();
        for t in 0..threads {
            let (ready, done, work) = (&ready, &done, &work);
            s.spawn(move || {
                work(t);
                ready.wait();
                done.wait();
            });
        }
        ready.wait();
        let held = held() - before;
        done.wait();
        held
    })
}

#[test]
fn histogram_series_memory_is_bounded_per_thread_and_does_not_grow_with_records() {
    let recorder = Recorder::new();
    let handle = recorder.handle();
    // The series and the main thread's first contact, before counting.
    metrics::with_local_recorder(&recorder, || metrics::histogram!("latency").record(1.0));
    let threads = 4;
    let idle = held_by_threads(threads, |_| {
        metrics::with_local_recorder(&recorder, || metrics::counter!("other").increment(1));
    });
    let recording = held_by_threads(threads, |t| {
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("other").increment(1);
            for value in latencies(t as u64 + 1, 200_000) {
                metrics::histogram!("latency").record(value);
            }
        });
    });
    let per_thread = (recording - idle) / threads as isize;
    println!("a histogram series per recording thread: {per_thread} B (threads alive: {idle} B for {threads} without it)");
    assert!(per_thread <= 16 * 1024, "{per_thread} B per thread");

    // 4 M records on one thread, no render in between.
    let before = held();
    std::thread::scope(|s| {
        s.spawn(|| {
            metrics::with_local_recorder(&recorder, || {
                for value in latencies(99, 4_000_000) {
                    metrics::histogram!("request_seconds", "route" => "/api").record(value);
                }
            });
        });
    });
    let growth = held() - before;
    println!("4 M records, no render: {growth} B");
    assert!(growth <= 256 * 1024, "{growth} B after 4 M records");
    let text = handle.render_prometheus();
    assert!(
        text.contains("request_seconds_count{route=\"/api\"} 4000000\n"),
        "{text}"
    );
}
