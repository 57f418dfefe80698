//! Counting per thread: `counter!` and `Counter` against what a user would
//! write by hand, in one process with rounds interleaved (see
//! `common/interleave.rs`).
//!
//! Run with `cargo bench --bench counter` (add a group name to filter, e.g.
//! `cargo bench --bench counter -- declared`). Every case adds 1 per
//! operation, on t=1 and t=2 threads at once, in a tight loop (`loop`) and
//! through an `#[inline(never)]` function per add (`call`).
//!
//! - `declared`: against the seed pattern this crate replaces, a
//!   `const`-initialised `thread_local!` `Cell<u64>` flushed to a shared
//!   `AtomicU64` every 1 000 adds (`hand-written TLS + batch`): the floor
//!   for an exact-at-exit counter written by hand (it loses counts when a
//!   thread exits between flushes, and cannot be summed exactly).
//! - `instance`: a counter that is a value (a field, an `Arc`), against the
//!   `thread_local` crate's `ThreadLocal<Cell<u64>>`.
//! - `sum`: `sum()` as slots accumulate, and `approx()`.

#[path = "common/interleave.rs"]
mod interleave;

use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, OnceLock};
use std::time::Instant;

use interleave::{compare, Case, Options};
use thread_local::ThreadLocal;
use threadkit::Counter;

fn main() {
    let options = Options::from_args();
    options.header("Counting per thread: counter! and Counter against hand-written peers");
    compare(&options, "declared, loop", &DECLARED_LOOP);
    compare(&options, "declared, call", &DECLARED_CALL);
    compare(&options, "instance, loop", &INSTANCE_LOOP);
    compare(&options, "instance, call", &INSTANCE_CALL);
    sum(&options);
}

/// The seed pattern: a thread-local cell, flushed every 1 000.
mod seed {
    use super::*;

    pub(crate) static TOTAL: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static PENDING: Cell<u64> = const { Cell::new(0) };
    }

    #[inline]
    pub(crate) fn add(n: u64) {
        PENDING.with(|pending| {
            let value = pending.get() + n;
            if value >= 1_000 {
                TOTAL.fetch_add(value, Ordering::Relaxed);
                pending.set(0);
            } else {
                pending.set(value);
            }
        });
    }
}

threadkit::counter! {
    static DECLARED(batch = 1_000);
}
static STATIC_COUNTER: Counter = Counter::with_batch(1_000);
static SHARED: AtomicU64 = AtomicU64::new(0);

/// A counter that is a value: reached through a pointer, as a field would be.
fn arc_counter() -> &'static Counter {
    static COUNTER: OnceLock<Box<Counter>> = OnceLock::new();
    black_box(COUNTER.get_or_init(|| Box::new(Counter::with_batch(1_000))))
}

fn arc_thread_local() -> &'static ThreadLocal<Cell<u64>> {
    static CELLS: OnceLock<Box<ThreadLocal<Cell<u64>>>> = OnceLock::new();
    black_box(CELLS.get_or_init(|| Box::new(ThreadLocal::new())))
}

#[inline]
fn add_thread_local(cells: &ThreadLocal<Cell<u64>>, n: u64) {
    let cell = cells.get_or(|| Cell::new(0));
    cell.set(cell.get() + n);
}

const DECLARED_LOOP: [Case; 4] = [
    Case::new("hand-written TLS + batch", |iters| {
        for _ in 0..iters {
            seed::add(black_box(1));
        }
    }),
    Case::new("counter!", |iters| {
        for _ in 0..iters {
            DECLARED.add(black_box(1));
        }
    }),
    Case::new("static Counter", |iters| {
        for _ in 0..iters {
            STATIC_COUNTER.add(black_box(1));
        }
    }),
    Case::new("shared AtomicU64", |iters| {
        for _ in 0..iters {
            SHARED.fetch_add(black_box(1), Ordering::Relaxed);
        }
    }),
];

/// One add per call, as at a user's call site.
mod call {
    use super::*;

    #[inline(never)]
    pub(crate) fn seed(n: u64) {
        seed::add(n);
    }

    #[inline(never)]
    pub(crate) fn declared(n: u64) {
        DECLARED.add(n);
    }

    #[inline(never)]
    pub(crate) fn static_counter(n: u64) {
        STATIC_COUNTER.add(n);
    }

    #[inline(never)]
    pub(crate) fn shared(n: u64) {
        SHARED.fetch_add(n, Ordering::Relaxed);
    }

    #[inline(never)]
    pub(crate) fn counter(counter: &Counter, n: u64) {
        counter.add(n);
    }

    #[inline(never)]
    pub(crate) fn thread_local(cells: &ThreadLocal<Cell<u64>>, n: u64) {
        add_thread_local(cells, n);
    }
}

const DECLARED_CALL: [Case; 4] = [
    Case::new("hand-written TLS + batch", |iters| {
        for _ in 0..iters {
            call::seed(black_box(1));
        }
    }),
    Case::new("counter!", |iters| {
        for _ in 0..iters {
            call::declared(black_box(1));
        }
    }),
    Case::new("static Counter", |iters| {
        for _ in 0..iters {
            call::static_counter(black_box(1));
        }
    }),
    Case::new("shared AtomicU64", |iters| {
        for _ in 0..iters {
            call::shared(black_box(1));
        }
    }),
];

const INSTANCE_LOOP: [Case; 3] = [
    Case::new("ThreadLocal<Cell<u64>> (thread_local)", |iters| {
        let cells = arc_thread_local();
        for _ in 0..iters {
            add_thread_local(cells, black_box(1));
        }
    }),
    Case::new("Counter (boxed)", |iters| {
        let counter = arc_counter();
        for _ in 0..iters {
            counter.add(black_box(1));
        }
    }),
    Case::new("static Counter", |iters| {
        for _ in 0..iters {
            STATIC_COUNTER.add(black_box(1));
        }
    }),
];

const INSTANCE_CALL: [Case; 3] = [
    Case::new("ThreadLocal<Cell<u64>> (thread_local)", |iters| {
        let cells = arc_thread_local();
        for _ in 0..iters {
            call::thread_local(cells, black_box(1));
        }
    }),
    Case::new("Counter (boxed)", |iters| {
        let counter = arc_counter();
        for _ in 0..iters {
            call::counter(counter, black_box(1));
        }
    }),
    Case::new("static Counter", |iters| {
        for _ in 0..iters {
            call::static_counter(black_box(1));
        }
    }),
];

/// `sum()` over a counter that `slots` threads alive at once have added to
/// (so each holds its own slot), and `approx()`: ns per call, fastest of
/// the rounds.
fn sum(options: &Options) {
    if !options.wants("sum") {
        return;
    }
    println!("\n## sum");
    println!("| slots | sum() ns | approx() ns |");
    println!("|---|---|---|");
    for slots in [1, 2, 16, 64] {
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
        let calls = if options.timing() { 100_000 } else { 10 };
        let fastest = |f: &dyn Fn() -> u64| {
            (0..10)
                .map(|_| {
                    let start = Instant::now();
                    for _ in 0..calls {
                        black_box(f());
                    }
                    start.elapsed().as_nanos() as f64 / calls as f64
                })
                .fold(f64::INFINITY, f64::min)
        };
        let sum = fastest(&|| black_box(&counter).sum());
        let approx = fastest(&|| black_box(&counter).approx());
        println!("| {slots} | {sum:.1} | {approx:.2} |");
    }
}
