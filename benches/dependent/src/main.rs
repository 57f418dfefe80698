//! threadkit against the by-hand way and its peers, from a dependent crate
//! with the default release profile. Each case is timed in rounds that
//! alternate which side goes first; the fastest round of each side is kept.
//! Prints ns per operation and the ratio threadkit / peer (below 1:
//! threadkit is faster), with the CPU model.

// `rng_op!`'s operations do not all use the state they are given.
#![allow(unused_variables, unused_mut)]

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
    rng_rows();
}

/// `ours` against `peer` and `rand`, rounds alternating which goes first,
/// for `rng`: ns per operation of each, and the two ratios.
fn compare3(name: &str, n: u64, cases: [&dyn Fn(u64); 3]) {
    let mut best = [f64::MAX; 3];
    for round in 0..ROUNDS {
        let order: [usize; 3] = if round % 2 == 0 { [0, 1, 2] } else { [2, 1, 0] };
        for i in order {
            let start = Instant::now();
            cases[i](n);
            best[i] = best[i].min(start.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    let [ours, fast, rand] = best;
    println!(
        "| {name} | {ours:.3} | {fast:.3} | {rand:.3} | {:.2} | {:.2} |",
        ours / fast,
        ours / rand
    );
}

/// One operation of `rng`, of fastrand and of `rand` (a `rand::rng()`
/// handle fetched once per timed run), in the two patterns: a loop that
/// sums (or otherwise folds) the results and `black_box`es them once after
/// it, and a non-inlined function per operation, called in a loop with a
/// `black_box` on each result.
macro_rules! rng_op {
    ($name:literal, $n:expr, $init:expr,
     |$a:ident| threadkit: $ours:expr, fastrand: $fast:expr,
     rand: |$r:ident| $rand:expr $(,)?) => {{
        #[inline(never)]
        fn ours_call($a: &mut State) -> u64 {
            $ours
        }
        #[inline(never)]
        fn fast_call($a: &mut State) -> u64 {
            $fast
        }
        #[inline(never)]
        fn rand_call($r: &mut rand::rngs::ThreadRng, $a: &mut State) -> u64 {
            $rand
        }
        compare3(
            concat!($name, ", loop"),
            $n,
            [
                &|n| {
                    let mut $a: State = $init;
                    let mut sum = 0u64;
                    for _ in 0..n {
                        sum = sum.wrapping_add($ours);
                    }
                    black_box((sum, &$a));
                },
                &|n| {
                    let mut $a: State = $init;
                    let mut sum = 0u64;
                    for _ in 0..n {
                        sum = sum.wrapping_add($fast);
                    }
                    black_box((sum, &$a));
                },
                &|n| {
                    let mut handle = rand::rng();
                    let $r = &mut handle;
                    let mut $a: State = $init;
                    let mut sum = 0u64;
                    for _ in 0..n {
                        sum = sum.wrapping_add($rand);
                    }
                    black_box((sum, &$a));
                },
            ],
        );
        compare3(
            concat!($name, ", call site"),
            $n,
            [
                &|n| {
                    let mut a: State = $init;
                    for _ in 0..n {
                        black_box(ours_call(&mut a));
                    }
                },
                &|n| {
                    let mut a: State = $init;
                    for _ in 0..n {
                        black_box(fast_call(&mut a));
                    }
                },
                &|n| {
                    let mut r = rand::rng();
                    let mut a: State = $init;
                    for _ in 0..n {
                        black_box(rand_call(&mut r, &mut a));
                    }
                },
            ],
        );
    }};
}

/// What an operation works on, made before its timing: a local array or a
/// vector.
#[derive(Clone)]
enum State {
    None,
    Ten([u32; 10]),
    Hundred([u64; 100]),
    Bytes64([u8; 64]),
    Vec32(Vec<u32>),
    Bytes(Vec<u8>),
}

impl State {
    fn ten(&mut self) -> &mut [u32; 10] {
        match self {
            State::Ten(a) => a,
            _ => unreachable!(),
        }
    }
    fn hundred(&self) -> &[u64; 100] {
        match self {
            State::Hundred(a) => a,
            _ => unreachable!(),
        }
    }
    fn bytes64(&mut self) -> &mut [u8; 64] {
        match self {
            State::Bytes64(a) => a,
            _ => unreachable!(),
        }
    }
    fn vec32(&mut self) -> &mut Vec<u32> {
        match self {
            State::Vec32(v) => v,
            _ => unreachable!(),
        }
    }
    fn bytes(&mut self) -> &mut Vec<u8> {
        match self {
            State::Bytes(v) => v,
            _ => unreachable!(),
        }
    }
}

fn rng_rows() {
    use rand::seq::{IndexedRandom as _, SliceRandom as _};
    use rand::{Rng as _, RngExt as _};
    use threadkit::rng;

    println!("\n## `rng`: threadkit, fastrand and `rand` (a `rand::rng()` handle per run)\n");
    println!("| case | threadkit | fastrand | rand | threadkit / fastrand | threadkit / rand |");
    println!("|---|---|---|---|---|---|");
    rng_op!("`u64()`", N, State::None, |a|
        threadkit: rng::u64(), fastrand: fastrand::u64(..), rand: |r| r.next_u64());
    rng_op!("`u32()`", N, State::None, |a|
        threadkit: rng::u32() as u64, fastrand: fastrand::u32(..) as u64, rand: |r| r.next_u32() as u64);
    rng_op!("`range(0..1000)`", N, State::None, |a|
        threadkit: rng::range(0..1000u64), fastrand: fastrand::u64(0..1000),
        rand: |r| r.random_range(0..1000u64));
    rng_op!("`range(0..2^40+7)`", N, State::None, |a|
        threadkit: rng::range(0..(1u64 << 40) + 7), fastrand: fastrand::u64(0..(1 << 40) + 7),
        rand: |r| r.random_range(0..(1u64 << 40) + 7));
    rng_op!("`f64()`", N, State::None, |a|
        threadkit: rng::f64().to_bits(), fastrand: fastrand::f64().to_bits(),
        rand: |r| r.random::<f64>().to_bits());
    rng_op!("`bool()`", N, State::None, |a|
        threadkit: rng::bool() as u64, fastrand: fastrand::bool() as u64,
        rand: |r| r.random::<bool>() as u64);
    rng_op!("`choose` of 100", N, State::Hundred(std::array::from_fn(|i| i as u64)), |a|
        threadkit: *rng::choose(a.hundred()).unwrap(),
        fastrand: *fastrand::choice(a.hundred()).unwrap(),
        rand: |r| *a.hundred().choose(r).unwrap());
    rng_op!("`shuffle` of 10", N / 10, State::Ten(std::array::from_fn(|i| i as u32)), |a|
        threadkit: { rng::shuffle(a.ten()); a.ten()[0] as u64 },
        fastrand: { fastrand::shuffle(a.ten()); a.ten()[0] as u64 },
        rand: |r| { a.ten().shuffle(r); a.ten()[0] as u64 });
    rng_op!("`shuffle` of 1 M", 20, State::Vec32((0..1_000_000).collect()), |a|
        threadkit: { rng::shuffle(a.vec32()); a.vec32()[0] as u64 },
        fastrand: { fastrand::shuffle(a.vec32()); a.vec32()[0] as u64 },
        rand: |r| { a.vec32().shuffle(r); a.vec32()[0] as u64 });
    rng_op!("`fill` 64 B (local array)", N / 8, State::Bytes64([0; 64]), |a|
        threadkit: { rng::fill(a.bytes64()); a.bytes64()[63] as u64 },
        fastrand: { fastrand::fill(a.bytes64()); a.bytes64()[63] as u64 },
        rand: |r| { r.fill_bytes(a.bytes64()); a.bytes64()[63] as u64 });
    rng_op!("`fill` 4 KiB", N / 500, State::Bytes(vec![0; 4096]), |a|
        threadkit: { rng::fill(a.bytes()); a.bytes()[4095] as u64 },
        fastrand: { fastrand::fill(a.bytes()); a.bytes()[4095] as u64 },
        rand: |r| { r.fill_bytes(a.bytes()); a.bytes()[4095] as u64 });
    rng_op!("`fill` 1 MiB", 200, State::Bytes(vec![0; 1 << 20]), |a|
        threadkit: { rng::fill(a.bytes()); a.bytes()[0] as u64 },
        fastrand: { fastrand::fill(a.bytes()); a.bytes()[0] as u64 },
        rand: |r| { r.fill_bytes(a.bytes()); a.bytes()[0] as u64 });
}
