//! The per-thread generator against `fastrand` and `rand`, in one process
//! with rounds interleaved (see `common/interleave.rs`).
//!
//! Run with `cargo bench --bench rng` (add a group name to filter, e.g.
//! `cargo bench --bench rng -- shuffle`). Every group has `fastrand`'s free
//! function first (the ratios are against it), then `threadkit::rng`'s, then
//! `rand` through a `rand::rng()` handle fetched once per round (its best
//! case). `loop` groups draw in a tight loop with a `black_box` on each
//! result; `sum` groups fold the results into a local (a float's bits, a
//! bool as 0 or 1) and `black_box` it once after the loop, the loop a user
//! writes; `call` groups draw through an `#[inline(never)]` function per
//! draw. Bounds go through `black_box`, as a length or a configured limit
//! would. `benches/dependent` runs the same operations from a crate of its
//! own with the default release profile, with local arrays. The last table times the first draw
//! on each of many fresh threads.

#[path = "common/interleave.rs"]
mod interleave;

use std::cell::RefCell;
use std::hint::black_box;
use std::time::Instant;

use interleave::{compare_scaled, Case, Options};
use rand::seq::{IndexedRandom as _, SliceRandom as _};
use rand::{Rng as _, RngExt as _};
use threadkit::rng;

fn main() {
    let options = Options::from_args();
    options.header("threadkit::rng against fastrand and rand");
    draws(&options);
    buffers(&options);
    first_use(&options);
}

/// One group per operation, in a tight loop and at a call site: `fastrand`,
/// `threadkit`, `rand` (a handle per round).
macro_rules! op {
    ($options:expr, $name:literal, $scale:expr, setup = $setup:expr,
     fastrand: |$f:pat_param| $fastrand:expr,
     threadkit: |$t:pat_param| $threadkit:expr,
     rand: |$r:ident, $rb:pat_param| $rand:expr $(,)?) => {{
        mod fns {
            use super::*;
            #[allow(unused_imports)]
            use super::BUFFERS;
            #[inline(always)]
            pub fn fastrand_once($f: &mut Buffers) -> impl Fold { $fastrand }
            #[inline(always)]
            pub fn threadkit_once($t: &mut Buffers) -> impl Fold { $threadkit }
            #[inline(always)]
            pub fn rand_once($r: &mut rand::rngs::ThreadRng, $rb: &mut Buffers) -> impl Fold {
                $rand
            }
        }
        // Each closure is a plain `fn(u64)`: no captures.
        let (loop_cases, sum_cases, call_cases) = op!(@cases fns);
        compare_scaled($options, concat!($name, ", loop"), $scale, &with_setup(loop_cases, $setup));
        compare_scaled($options, concat!($name, ", sum"), $scale, &with_setup(sum_cases, $setup));
        compare_scaled($options, concat!($name, ", call"), $scale, &with_setup(call_cases, $setup));
    }};
    (@cases $fns:ident) => {{
        fn fastrand_loop(n: u64) {
            BUFFERS.with_borrow_mut(|b| for _ in 0..n { black_box($fns::fastrand_once(b)); })
        }
        fn threadkit_loop(n: u64) {
            BUFFERS.with_borrow_mut(|b| for _ in 0..n { black_box($fns::threadkit_once(b)); })
        }
        fn rand_loop(n: u64) {
            let mut r = rand::rng();
            BUFFERS.with_borrow_mut(|b| for _ in 0..n { black_box($fns::rand_once(&mut r, b)); })
        }
        fn fastrand_sum(n: u64) {
            BUFFERS.with_borrow_mut(|b| {
                let mut sum = 0u64;
                for _ in 0..n { sum = sum.wrapping_add(Fold::fold($fns::fastrand_once(b))); }
                black_box(sum);
            })
        }
        fn threadkit_sum(n: u64) {
            BUFFERS.with_borrow_mut(|b| {
                let mut sum = 0u64;
                for _ in 0..n { sum = sum.wrapping_add(Fold::fold($fns::threadkit_once(b))); }
                black_box(sum);
            })
        }
        fn rand_sum(n: u64) {
            let mut r = rand::rng();
            BUFFERS.with_borrow_mut(|b| {
                let mut sum = 0u64;
                for _ in 0..n { sum = sum.wrapping_add(Fold::fold($fns::rand_once(&mut r, b))); }
                black_box(sum);
            })
        }
        #[inline(never)]
        fn fastrand_call_once(b: &mut Buffers) -> impl Fold { $fns::fastrand_once(b) }
        #[inline(never)]
        fn threadkit_call_once(b: &mut Buffers) -> impl Fold { $fns::threadkit_once(b) }
        #[inline(never)]
        fn rand_call_once(r: &mut rand::rngs::ThreadRng, b: &mut Buffers) -> impl Fold {
            $fns::rand_once(r, b)
        }
        fn fastrand_call(n: u64) {
            BUFFERS.with_borrow_mut(|b| for _ in 0..n { black_box(fastrand_call_once(b)); })
        }
        fn threadkit_call(n: u64) {
            BUFFERS.with_borrow_mut(|b| for _ in 0..n { black_box(threadkit_call_once(b)); })
        }
        fn rand_call(n: u64) {
            let mut r = rand::rng();
            BUFFERS.with_borrow_mut(|b| for _ in 0..n { black_box(rand_call_once(&mut r, b)); })
        }
        (
            [("fastrand", fastrand_loop as fn(u64)), ("threadkit", threadkit_loop), ("rand, handle per round", rand_loop)],
            [("fastrand", fastrand_sum as fn(u64)), ("threadkit", threadkit_sum), ("rand, handle per round", rand_sum)],
            [("fastrand", fastrand_call as fn(u64)), ("threadkit", threadkit_call), ("rand, handle per round", rand_call)],
        )
    }};
}

/// What a `sum` group adds up: a result as a word.
pub trait Fold {
    fn fold(self) -> u64;
}

macro_rules! fold_as_word {
    ($($t:ty),*) => {$(
        impl Fold for $t {
            #[inline(always)]
            fn fold(self) -> u64 {
                self as u64
            }
        }
    )*};
}
fold_as_word!(u64, u32, u8, i64, usize, bool);

impl Fold for f64 {
    #[inline(always)]
    fn fold(self) -> u64 {
        self.to_bits()
    }
}

impl Fold for f32 {
    #[inline(always)]
    fn fold(self) -> u64 {
        u64::from(self.to_bits())
    }
}

impl<T: Fold> Fold for Option<T> {
    #[inline(always)]
    fn fold(self) -> u64 {
        self.map_or(0, Fold::fold)
    }
}

/// Operations on a buffer: the buffer is what they produce.
impl Fold for () {
    #[inline(always)]
    fn fold(self) -> u64 {
        0
    }
}

/// A case's name and body, before its set-up is attached.
type Named = (&'static str, fn(u64));

fn with_setup(cases: [Named; 3], setup: fn()) -> Vec<Case> {
    cases
        .into_iter()
        .map(|(name, run)| Case::with_setup(name, setup, run))
        .collect()
}

/// Per-thread buffers the operations work on, made untimed.
#[derive(Default)]
pub struct Buffers {
    bytes_64: Vec<u8>,
    bytes_4k: Vec<u8>,
    bytes_1m: Vec<u8>,
    ten: Vec<u32>,
    million: Vec<u32>,
    hundred: Vec<u64>,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

fn make_buffers() {
    BUFFERS.with_borrow_mut(|b| {
        if b.bytes_64.is_empty() {
            b.bytes_64 = vec![0; 64];
            b.bytes_4k = vec![0; 4096];
            b.bytes_1m = vec![0; 1 << 20];
            b.ten = (0..10).collect();
            b.million = (0..1_000_000).collect();
            b.hundred = (0..100).collect();
        }
    });
}

fn no_setup() {}

fn draws(options: &Options) {
    op!(options, "u64", 1, setup = no_setup,
        fastrand: |_| fastrand::u64(..),
        threadkit: |_| rng::u64(),
        rand: |r, _| r.next_u64());
    op!(options, "u32", 1, setup = no_setup,
        fastrand: |_| fastrand::u32(..),
        threadkit: |_| rng::u32(),
        rand: |r, _| r.next_u32());
    op!(options, "range u64 0..1000", 1, setup = no_setup,
        fastrand: |_| fastrand::u64(0..black_box(1000)),
        threadkit: |_| rng::range(0..black_box(1000u64)),
        rand: |r, _| r.random_range(0..black_box(1000u64)));
    op!(options, "range u32 0..1000", 1, setup = no_setup,
        fastrand: |_| fastrand::u32(0..black_box(1000)),
        threadkit: |_| rng::range(0..black_box(1000u32)),
        rand: |r, _| r.random_range(0..black_box(1000u32)));
    op!(options, "range u8 1..=6", 1, setup = no_setup,
        fastrand: |_| fastrand::u8(1..=black_box(6)),
        threadkit: |_| rng::range(1..=black_box(6u8)),
        rand: |r, _| r.random_range(1..=black_box(6u8)));
    op!(options, "range i64 -1000..1000", 1, setup = no_setup,
        fastrand: |_| fastrand::i64(-1000..black_box(1000)),
        threadkit: |_| rng::range(-1000..black_box(1000i64)),
        rand: |r, _| r.random_range(-1000..black_box(1000i64)));
    op!(options, "range u64 0..2^63+2^62 (large, rejects 1 in 3)", 1, setup = no_setup,
        fastrand: |_| fastrand::u64(0..black_box(3 << 62)),
        threadkit: |_| rng::range(0..black_box(3u64 << 62)),
        rand: |r, _| r.random_range(0..black_box(3u64 << 62)));
    op!(options, "range usize 0..100", 1, setup = no_setup,
        fastrand: |_| fastrand::usize(..black_box(100)),
        threadkit: |_| rng::range(..black_box(100usize)),
        rand: |r, _| r.random_range(..black_box(100usize)));
    op!(options, "f64", 1, setup = no_setup,
        fastrand: |_| fastrand::f64(),
        threadkit: |_| rng::f64(),
        rand: |r, _| r.random::<f64>());
    op!(options, "f32", 1, setup = no_setup,
        fastrand: |_| fastrand::f32(),
        threadkit: |_| rng::f32(),
        rand: |r, _| r.random::<f32>());
    op!(options, "bool", 1, setup = no_setup,
        fastrand: |_| fastrand::bool(),
        threadkit: |_| rng::bool(),
        rand: |r, _| r.random::<bool>());
    op!(options, "choose from 100", 1, setup = make_buffers,
        fastrand: |b| fastrand::choice(black_box(&b.hundred)).copied(),
        threadkit: |b| rng::choose(black_box(&b.hundred)).copied(),
        rand: |r, b| b.hundred.choose(r).copied());
}

fn buffers(options: &Options) {
    op!(options, "fill 64 B", 8, setup = make_buffers,
        fastrand: |b| fastrand::fill(black_box(&mut b.bytes_64)),
        threadkit: |b| rng::fill(black_box(&mut b.bytes_64)),
        rand: |r, b| r.fill_bytes(black_box(&mut b.bytes_64)));
    op!(options, "fill 4 KiB", 500, setup = make_buffers,
        fastrand: |b| fastrand::fill(black_box(&mut b.bytes_4k)),
        threadkit: |b| rng::fill(black_box(&mut b.bytes_4k)),
        rand: |r, b| r.fill_bytes(black_box(&mut b.bytes_4k)));
    op!(options, "fill 1 MiB", 20_000, setup = make_buffers,
        fastrand: |b| fastrand::fill(black_box(&mut b.bytes_1m)),
        threadkit: |b| rng::fill(black_box(&mut b.bytes_1m)),
        rand: |r, b| r.fill_bytes(black_box(&mut b.bytes_1m)));
    op!(options, "shuffle 10", 20, setup = make_buffers,
        fastrand: |b| fastrand::shuffle(black_box(&mut b.ten)),
        threadkit: |b| rng::shuffle(black_box(&mut b.ten)),
        rand: |r, b| black_box(&mut b.ten).shuffle(r));
    op!(options, "shuffle 1M u32", 2_000_000, setup = make_buffers,
        fastrand: |b| fastrand::shuffle(black_box(&mut b.million)),
        threadkit: |b| rng::shuffle(black_box(&mut b.million)),
        rand: |r, b| black_box(&mut b.million).shuffle(r));
}

/// The first draw on a fresh thread: thread-local set-up and seeding. Each
/// of `threads` threads, one after another, times its first `u64` with
/// `Instant` (whose own cost, the same for all, is included).
fn first_use(options: &Options) {
    if !options.wants("first use") {
        return;
    }
    let threads = if options.timing() { 300 } else { 3 };
    fn time_first(draw: fn() -> u64) -> f64 {
        std::thread::spawn(move || {
            let start = Instant::now();
            black_box(draw());
            start.elapsed().as_nanos() as f64
        })
        .join()
        .unwrap()
    }
    type Draw = (&'static str, fn() -> u64);
    let peers: [Draw; 3] = [
        ("fastrand", || fastrand::u64(..)),
        ("threadkit", rng::u64),
        ("rand::rng()", || rand::rng().next_u64()),
    ];
    let mut times = vec![Vec::new(); peers.len()];
    for _ in 0..threads {
        for (i, (_, draw)) in peers.iter().enumerate() {
            times[i].push(time_first(*draw));
        }
    }
    println!("\n## first draw on a fresh thread ({threads} threads each, interleaved)");
    println!("| case | fastest ns | median ns | ratio, median |");
    println!("|---|---|---|---|");
    let median = |t: &mut Vec<f64>| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let base = median(&mut times[0].clone());
    for ((name, _), t) in peers.iter().zip(&mut times) {
        let m = median(t);
        println!("| {name} | {:.0} | {m:.0} | {:.2} |", t[0], m / base);
    }
}
