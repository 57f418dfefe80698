//! `Counter::add` against what a user would otherwise write, and the cost of
//! `sum()` as slots accumulate.
//!
//! Run with `cargo bench --bench counter`. Every `add_*` bench increments a
//! counter by 1 per iteration on 1 and 2 threads at once; compare medians
//! within a thread count.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;

use divan::{black_box, Bencher};
use thread_local::ThreadLocal;
use threadkit::Counter;

fn main() {
    divan::main();
}

const THREADS: &[usize] = &[1, 2];

/// The floor: a `const`-initialised `thread_local!` cell, no sharing at all.
#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn add_floor_thread_local_cell() {
    thread_local! {
        static LOCAL: Cell<u64> = const { Cell::new(0) };
    }
    LOCAL.with(|c| c.set(c.get() + black_box(1)));
}

#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn add_threadkit_counter() {
    static COUNTER: Counter = Counter::new();
    COUNTER.add(black_box(1));
}

/// What most code does: one shared atomic.
#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn add_shared_atomic() {
    static SHARED: AtomicU64 = AtomicU64::new(0);
    SHARED.fetch_add(black_box(1), Ordering::Relaxed);
}

/// The `thread_local` crate's per-object storage with a `Cell` per thread.
#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn add_thread_local_crate() {
    static CELLS: ThreadLocal<Cell<u64>> = ThreadLocal::new();
    let cell = CELLS.get_or(|| Cell::new(0));
    cell.set(cell.get() + black_box(1));
}

/// `sum()` over a counter that `slots` threads, alive at the same time, have
/// added to (so each holds its own slot).
#[divan::bench(args = [1, 2, 16, 64])]
fn sum_over_slots(bencher: Bencher, slots: usize) {
    let counter = Counter::new();
    let barrier = Barrier::new(slots);
    std::thread::scope(|s| {
        for _ in 0..slots {
            s.spawn(|| {
                counter.add(3);
                barrier.wait();
            });
        }
    });
    assert_eq!(counter.sum(), 3 * slots as u64);
    bencher.bench(|| black_box(&counter).sum());
}

/// `approx()` for contrast: one load whatever the number of slots.
#[divan::bench]
fn approx(bencher: Bencher) {
    let counter = Counter::new();
    counter.add(3);
    bencher.bench(|| black_box(&counter).approx());
}
