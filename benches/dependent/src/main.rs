//! threadkit against the by-hand way and its peers, from a dependent crate
//! with the default release profile. Each case is timed in rounds that
//! alternate which side goes first; the fastest round of each side is kept.
//! Prints ns per operation and the ratio threadkit / peer (below 1:
//! threadkit is faster), with the CPU model.

use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const ROUNDS: usize = 15;
const N: u64 = 20_000_000;

threadkit::counter! {
    static SERVED;
}
thread_local! {
    static PENDING: Cell<u64> = const { Cell::new(0) };
}
static FLUSHED: AtomicU64 = AtomicU64::new(0);

/// The hand-written counter `counter!` replaces: a `Cell` flushed to a
/// shared atomic every 1 024 adds.
#[inline(always)]
fn hand_add(n: u64) {
    PENDING.with(|pending| {
        let value = pending.get() + n;
        if value >= 1024 {
            FLUSHED.fetch_add(value, Ordering::Relaxed);
            pending.set(0);
        } else {
            pending.set(value);
        }
    });
}

#[inline(never)]
fn counter_call() {
    SERVED.add(1);
}

#[inline(never)]
fn hand_call() {
    hand_add(1);
}

/// A whole loop in one function of its own: the compiler sees every add.
#[inline(never)]
fn counter_loop(n: u64) {
    for _ in 0..n {
        SERVED.add(black_box(1));
    }
}

#[inline(never)]
fn hand_loop(n: u64) {
    for _ in 0..n {
        hand_add(black_box(1));
    }
}

/// `hand_loop` flushing every 1 000 adds: here the compiler keeps the
/// count in a register and only stores it on each add.
#[inline(never)]
fn hand_loop_1000(n: u64) {
    for _ in 0..n {
        PENDING.with(|pending| {
            let value = pending.get() + black_box(1);
            if value >= 1000 {
                FLUSHED.fetch_add(value, Ordering::Relaxed);
                pending.set(0);
            } else {
                pending.set(value);
            }
        });
    }
}

#[inline(never)]
fn rng_u64_call() -> u64 {
    threadkit::rng::u64()
}

#[inline(never)]
fn fastrand_u64_call() -> u64 {
    fastrand::u64(..)
}

/// ns per operation of `f`, which does `N` operations.
fn time(f: &dyn Fn()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_nanos() as f64 / N as f64
}

fn compare(name: &str, ours: &dyn Fn(), peer_name: &str, peer: &dyn Fn()) {
    let (mut a, mut b) = (f64::MAX, f64::MAX);
    for round in 0..ROUNDS {
        if round % 2 == 0 {
            a = a.min(time(ours));
            b = b.min(time(peer));
        } else {
            b = b.min(time(peer));
            a = a.min(time(ours));
        }
    }
    println!("| {name} | {peer_name} | {a:.3} | {b:.3} | {:.2} |", a / b);
}

fn main() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    println!("model name: {cpu}; fastest of {ROUNDS} alternating rounds, ns/op, t=1\n");
    println!("| case | peer | threadkit | peer | threadkit / peer |");
    println!("|---|---|---|---|---|");
    compare(
        "`counter!` add, loop in a closure",
        &|| (0..N).for_each(|_| SERVED.add(black_box(1))),
        "hand-written TLS + batch",
        &|| (0..N).for_each(|_| hand_add(black_box(1))),
    );
    compare(
        "`counter!` add, loop in a function of its own",
        &|| counter_loop(N),
        "hand-written TLS + batch",
        &|| hand_loop(N),
    );
    compare(
        "`counter!` add, loop in a function of its own",
        &|| counter_loop(N),
        "the same, flushing every 1 000",
        &|| hand_loop_1000(N),
    );
    compare(
        "`counter!` add, call site",
        &|| (0..N).for_each(|_| counter_call()),
        "hand-written TLS + batch",
        &|| (0..N).for_each(|_| hand_call()),
    );
    compare(
        "`rng::range(0..1000)`, summing loop",
        &|| {
            black_box(
                (0..N)
                    .map(|_| threadkit::rng::range(0..1000u64))
                    .sum::<u64>(),
            );
        },
        "fastrand",
        &|| {
            black_box((0..N).map(|_| fastrand::u64(0..1000)).sum::<u64>());
        },
    );
    compare(
        "`rng::u64()`, summing loop",
        &|| {
            black_box(
                (0..N)
                    .map(|_| threadkit::rng::u64())
                    .fold(0u64, u64::wrapping_add),
            );
        },
        "fastrand",
        &|| {
            black_box(
                (0..N)
                    .map(|_| fastrand::u64(..))
                    .fold(0u64, u64::wrapping_add),
            );
        },
    );
    compare(
        "`rng::u64()`, call site",
        &|| {
            (0..N).for_each(|_| {
                black_box(rng_u64_call());
            })
        },
        "fastrand",
        &|| {
            (0..N).for_each(|_| {
                black_box(fastrand_u64_call());
            })
        },
    );
}
