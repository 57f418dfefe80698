//! Serialising a stream of records to JSON: a reused per-thread buffer
//! (`scratch::with_bytes`) against a fresh `Vec` per record
//! (`serde_json::to_vec`), on one thread and on every core.
//!
//! ```text
//! cargo run --release --example json_scratch
//! ```

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;
use threadkit::scratch;

#[derive(Serialize)]
struct Record<'a> {
    id: u64,
    user: &'a str,
    path: &'a str,
    status: u16,
    latency_ms: f64,
    tags: [&'a str; 3],
}

fn record(id: u64) -> Record<'static> {
    Record {
        id,
        user: "user-4711",
        path: "/api/v2/orders/checkout",
        status: if id.is_multiple_of(17) { 500 } else { 200 },
        latency_ms: (id % 1000) as f64 / 8.0,
        tags: ["eu-west", "canary", "http2"],
    }
}

/// Where the bytes go: a socket in real life; here a sink that counts.
struct Wire {
    bytes: u64,
}

impl Wire {
    fn send(&mut self, frame: &[u8]) {
        self.bytes += frame.len() as u64;
        std::io::sink().write_all(frame).unwrap();
    }
}

fn with_scratch(records: u64, first: u64) -> u64 {
    let mut wire = Wire { bytes: 0 };
    for id in first..first + records {
        scratch::with_bytes(|buf| {
            serde_json::to_writer(&mut *buf, &record(id)).unwrap();
            buf.push(b'\n');
            wire.send(buf);
        });
    }
    wire.bytes
}

fn with_to_vec(records: u64, first: u64) -> u64 {
    let mut wire = Wire { bytes: 0 };
    for id in first..first + records {
        let mut buf = serde_json::to_vec(&record(id)).unwrap();
        buf.push(b'\n');
        wire.send(&buf);
    }
    wire.bytes
}

/// Runs `work` on `threads` threads, `per_thread` records each; returns the
/// wall time and the bytes produced.
fn run(threads: u64, per_thread: u64, work: fn(u64, u64) -> u64) -> (Duration, u64) {
    let start = Instant::now();
    let bytes = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| s.spawn(move || work(per_thread, t * per_thread)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    (start.elapsed(), bytes)
}

fn main() {
    let cores = thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let per_thread = 1_000_000;
    println!("JSON lines: {per_thread} records per thread\n");
    println!(
        "{:>8} {:>24} {:>24} {:>8}",
        "threads", "to_vec per record", "scratch::with_bytes", "speed-up"
    );
    for threads in [1, cores] {
        let (fresh, fresh_bytes) = run(threads, per_thread, with_to_vec);
        let (reused, reused_bytes) = run(threads, per_thread, with_scratch);
        assert_eq!(fresh_bytes, reused_bytes, "both produce the same output");
        let rate = |d: Duration| (threads * per_thread) as f64 / d.as_secs_f64() / 1e6;
        println!(
            "{threads:>8} {:>17.2} M rec/s {:>17.2} M rec/s {:>7.2}×",
            rate(fresh),
            rate(reused),
            fresh.as_secs_f64() / reused.as_secs_f64()
        );
    }
}
