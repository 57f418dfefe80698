//! `PerThread::get` against `thread_local::ThreadLocal::get`, the crate it
//! shares a layout with.
//!
//! Run with `cargo bench --bench registry`.

use divan::black_box;
use thread_local::ThreadLocal;
use threadkit::PerThread;

fn main() {
    divan::main();
}

const THREADS: &[usize] = &[1, 2];

#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn get_threadkit_per_thread() -> u64 {
    static VALUES: PerThread<u64> = PerThread::new();
    *black_box(&VALUES).get_or(|| 1)
}

#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn get_thread_local_crate() -> u64 {
    static VALUES: ThreadLocal<u64> = ThreadLocal::new();
    *black_box(&VALUES).get_or(|| 1)
}

/// Iterating every thread's value, 16 threads' worth.
#[divan::bench]
fn iter_16_threads(bencher: divan::Bencher) {
    let values: PerThread<u64> = PerThread::new();
    let barrier = std::sync::Barrier::new(16);
    std::thread::scope(|s| {
        for n in 0..16 {
            let (values, barrier) = (&values, &barrier);
            s.spawn(move || {
                values.get_or(|| n);
                barrier.wait();
            });
        }
    });
    bencher.bench(|| black_box(&values).iter().sum::<u64>());
}
