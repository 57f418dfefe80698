//! The per-thread generator against `fastrand`, `rand` and a shared
//! `Mutex<Rng>`.
//!
//! Run with `cargo bench --bench rng`. Compare medians within a thread count.

use divan::{black_box, Bencher};
use parking_lot::Mutex;
use rand::{Rng as _, RngExt as _};
use threadkit::rng::{self, Rng};

fn main() {
    divan::main();
}

const THREADS: &[usize] = &[1, 2];

#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn u64_threadkit() -> u64 {
    rng::u64()
}

#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn u64_fastrand() -> u64 {
    fastrand::u64(..)
}

/// `rand::rng()` once per call: what `rand::random()`-style code does.
#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn u64_rand_fresh_handle() -> u64 {
    rand::rng().next_u64()
}

/// A `rand::rngs::ThreadRng` handle fetched once and reused.
#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn u64_rand_reused_handle(bencher: Bencher) {
    bencher
        .with_inputs(rand::rng)
        .bench_local_refs(|handle| black_box(handle).next_u64());
}

/// One generator shared by all threads.
#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn u64_mutex_rng() -> u64 {
    static SHARED: Mutex<Rng> = Mutex::new(Rng::with_seed(1));
    SHARED.lock().u64()
}

#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn range_1000_threadkit() -> u64 {
    rng::range(0..black_box(1000u64))
}

#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn range_1000_fastrand() -> u64 {
    fastrand::u64(0..black_box(1000u64))
}

#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn range_1000_rand(bencher: Bencher) {
    bencher
        .with_inputs(rand::rng)
        .bench_local_refs(|handle| handle.random_range(0..black_box(1000u64)));
}

#[divan::bench(threads = THREADS, sample_count = 100, sample_size = 1_000)]
fn fill_4k_threadkit(bencher: Bencher) {
    bencher
        .with_inputs(|| vec![0u8; 4096])
        .bench_local_refs(|buf| rng::fill(black_box(buf)));
}

#[divan::bench(threads = THREADS, sample_count = 100, sample_size = 1_000)]
fn fill_4k_fastrand(bencher: Bencher) {
    bencher
        .with_inputs(|| vec![0u8; 4096])
        .bench_local_refs(|buf| fastrand::fill(black_box(buf)));
}

#[divan::bench(threads = THREADS, sample_count = 100, sample_size = 1_000)]
fn fill_4k_rand(bencher: Bencher) {
    bencher
        .with_inputs(|| (vec![0u8; 4096], rand::rng()))
        .bench_local_refs(|(buf, handle)| handle.fill_bytes(black_box(buf)));
}
