//! A scratch-buffer round trip — take a buffer, write ~100 bytes, give it
//! back — against what a user would otherwise write, and the JSON case.
//!
//! Run with `cargo bench --bench scratch`. Compare medians within a thread
//! count.

use std::cell::RefCell;

use divan::{black_box, Bencher};
use parking_lot::Mutex;
use serde::Serialize;
use threadkit::scratch;

fn main() {
    divan::main();
}

const THREADS: &[usize] = &[1, 2];

/// What each round trip writes: 100 bytes.
const PAYLOAD: [u8; 100] = [b'x'; 100];

#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn round_trip_threadkit_with_bytes() -> usize {
    scratch::with_bytes(|buf| {
        buf.extend_from_slice(black_box(&PAYLOAD));
        black_box(&buf[..]).len()
    })
}

#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn round_trip_threadkit_guard() -> usize {
    let mut buf = scratch::bytes();
    buf.extend_from_slice(black_box(&PAYLOAD));
    black_box(&buf[..]).len()
}

/// The hand-written version: one `RefCell<Vec<u8>>` per thread. Panics on
/// nested use and during teardown; keeps whatever capacity it grew to.
#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn round_trip_hand_written_refcell() -> usize {
    thread_local! {
        static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    BUF.with_borrow_mut(|buf| {
        buf.clear();
        buf.extend_from_slice(black_box(&PAYLOAD));
        black_box(&buf[..]).len()
    })
}

/// A fresh 4 KiB buffer per call.
#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn round_trip_fresh_vec_4k() -> usize {
    let mut buf = Vec::with_capacity(4096);
    buf.extend_from_slice(black_box(&PAYLOAD));
    black_box(&buf[..]).len()
}

/// A buffer pool shared by all threads behind a `parking_lot::Mutex`.
#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn round_trip_mutex_pool() -> usize {
    static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
    let mut buf = POOL
        .lock()
        .pop()
        .unwrap_or_else(|| Vec::with_capacity(4096));
    buf.extend_from_slice(black_box(&PAYLOAD));
    let len = black_box(&buf[..]).len();
    buf.clear();
    POOL.lock().push(buf);
    len
}

/// A log record of the kind a service serialises per event.
#[derive(Serialize)]
struct Record {
    id: u64,
    user: &'static str,
    path: &'static str,
    status: u16,
    latency_ms: f64,
    tags: [&'static str; 3],
}

fn record(id: u64) -> Record {
    Record {
        id,
        user: "user-4711",
        path: "/api/v2/orders/checkout",
        status: 200,
        latency_ms: 12.625,
        tags: ["eu-west", "canary", "http2"],
    }
}

/// One record serialised into the thread's scratch buffer.
#[divan::bench(threads = THREADS, sample_count = 100, sample_size = 1_000)]
fn json_threadkit_with_bytes(bencher: Bencher) {
    bencher.bench(|| {
        scratch::with_bytes(|buf| {
            serde_json::to_writer(&mut *buf, &record(black_box(7))).unwrap();
            black_box(&buf[..]).len()
        })
    });
}

/// One record serialised with `serde_json::to_vec`: a fresh `Vec` per record.
#[divan::bench(threads = THREADS, sample_count = 100, sample_size = 1_000)]
fn json_to_vec_per_record(bencher: Bencher) {
    bencher.bench(|| {
        let buf = serde_json::to_vec(&record(black_box(7))).unwrap();
        black_box(&buf[..]).len()
    });
}
