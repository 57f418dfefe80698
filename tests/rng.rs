//! Behaviour of `rng`: determinism, distinct thread streams, uniformity,
//! range edge cases, reentrancy, panics and teardown.

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::Mutex;
use std::thread;

use threadkit::rng::{self, Rng};

mod common;
use common::scaled;

#[test]
fn same_seed_same_sequence_pinned() {
    // Pinned: a change here changes every seeded user's results.
    let mut rng = Rng::with_seed(42);
    let first: Vec<u64> = (0..5).map(|_| rng.u64()).collect();
    assert_eq!(
        first,
        [
            15021278609987233951,
            5881210131331364753,
            18149643915985481100,
            12933668939759105464,
            14637574242682825331,
        ]
    );
    let mut rng = Rng::with_seed(42);
    let ranged: Vec<u32> = (0..8).map(|_| rng.range(0..100u32)).collect();
    assert_eq!(ranged, [81, 31, 98, 70, 79, 58, 12, 60]);
}

#[test]
fn seed_makes_the_thread_sequence_reproducible_and_stays_on_its_thread() {
    thread::spawn(|| {
        rng::seed(42);
        let mut reference = Rng::with_seed(42);
        assert_eq!(rng::u64(), reference.u64());
        assert_eq!(rng::range(0..100u32), reference.range(0..100u32));
        let other = thread::spawn(rng::u64).join().unwrap();
        assert_eq!(
            rng::u64(),
            reference.u64(),
            "another thread did not disturb it"
        );
        assert_ne!(other, Rng::with_seed(42).u64());
    })
    .join()
    .unwrap();
}

#[test]
fn distinct_threads_get_distinct_streams() {
    let threads = scaled(1000, 20);
    let firsts: Vec<(u64, u64)> = (0..threads)
        .map(|_| thread::spawn(|| (rng::u64(), rng::u64())).join().unwrap())
        .collect();
    let distinct: HashSet<_> = firsts.iter().collect();
    assert_eq!(
        distinct.len(),
        firsts.len(),
        "two threads produced the same stream"
    );
    let first_words: HashSet<_> = firsts.iter().map(|f| f.0).collect();
    assert_eq!(first_words.len(), firsts.len());
}

/// Pearson's chi-square statistic of `counts` against a uniform expectation.
fn chi_square(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let expected = total as f64 / counts.len() as f64;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

/// The chi-square value exceeded with probability 0.001 for `df` degrees of
/// freedom (Wilson–Hilferty approximation; z = 3.09).
fn critical(df: f64) -> f64 {
    let z = 3.090_232;
    let t = 1.0 - 2.0 / (9.0 * df) + z * (2.0 / (9.0 * df)).sqrt();
    df * t.powi(3)
}

fn counts(n: usize, samples: u64, mut draw: impl FnMut() -> usize) -> Vec<u64> {
    let mut counts = vec![0u64; n];
    for _ in 0..samples {
        counts[draw()] += 1;
    }
    counts
}

#[test]
fn range_is_uniform_where_modulo_is_biased() {
    let samples = scaled(1_000_000, 600);
    for n in [3u8, 7, 10] {
        let mut rng = Rng::with_seed(u64::from(n));
        let ours = chi_square(&counts(n.into(), samples, || rng.range(0..n) as usize));
        let limit = critical(f64::from(n) - 1.0);
        assert!(
            ours < limit,
            "range(0..{n}): chi-square {ours:.1} >= {limit:.1}"
        );

        // The same test catches the textbook bias of `byte % n`.
        let mut rng = Rng::with_seed(u64::from(n));
        let biased = chi_square(&counts(n.into(), samples, || {
            ((rng.u32() as u8) % n) as usize
        }));
        if !cfg!(miri) {
            assert!(biased > limit, "the bound must reject `% {n}`: {biased:.1}");
        }
    }
    let mut rng = Rng::with_seed(1000);
    let ours = chi_square(&counts(1000, samples * 4, || {
        rng.range(0..1000u16) as usize
    }));
    let limit = critical(999.0);
    assert!(
        ours < limit,
        "range(0..1000): chi-square {ours:.1} >= {limit:.1}"
    );
}

#[test]
fn range_of_awkward_u64_width_is_uniform_over_bins() {
    // n = 2^32 + 1 exercises the 64-bit path with a rejection zone.
    let n: u64 = (1 << 32) + 1;
    let bins = 16u64;
    let mut rng = Rng::with_seed(77);
    let counted = counts(bins as usize, scaled(400_000, 2_000), || {
        (rng.range(0..n) / (n / bins + 1)) as usize
    });
    let stat = chi_square(&counted);
    assert!(stat < critical(15.0), "chi-square {stat:.1}");
    let mut rng = Rng::with_seed(5);
    let top = (0..scaled(2_000_000, 100)).any(|_| rng.range(n - 2..n) == n - 1);
    assert!(top, "the top value is reachable");
}

#[test]
fn range_is_uniform_for_widths_where_modulo_doubles_a_third() {
    // With n = 3/4 of the type's range, `x % n` makes the first third of
    // the values twice as likely as the others: a bias any implementation
    // shortcut in the 32-, 64- or 128-bit path would show at once.
    let samples = scaled(30_000, 600);
    let limit = critical(2.0);
    let mut rng = Rng::with_seed(12);
    let n32: u32 = 3 << 30;
    let stat = chi_square(&counts(3, samples, || {
        (rng.range(0..n32) / (1 << 30)) as usize
    }));
    assert!(stat < limit, "u32: chi-square {stat:.1}");
    let n64: u64 = 3 << 62;
    let stat = chi_square(&counts(3, samples, || (rng.range(0..n64) >> 62) as usize));
    assert!(stat < limit, "u64: chi-square {stat:.1}");
    let n128: u128 = 3 << 126;
    let stat = chi_square(&counts(3, samples, || (rng.range(0..n128) >> 126) as usize));
    assert!(stat < limit, "u128: chi-square {stat:.1}");
    let n: i64 = 3 << 61; // signed: 3/8 of the range, starting at MIN
    let stat = chi_square(&counts(3, samples, || {
        (rng.range(i64::MIN..i64::MIN + n).wrapping_sub(i64::MIN) as u64 >> 61) as usize
    }));
    assert!(stat < limit, "i64: chi-square {stat:.1}");
}

#[test]
fn full_and_single_value_ranges() {
    let mut rng = Rng::with_seed(3);
    let draws = scaled(2_000, 50);
    let full: Vec<i64> = (0..draws).map(|_| rng.range(i64::MIN..=i64::MAX)).collect();
    assert!(full.iter().any(|&x| x < 0) && full.iter().any(|&x| x > 0));
    let halves: HashSet<bool> = (0..draws)
        .map(|_| rng.range::<u64>(..) > u64::MAX / 2)
        .collect();
    assert_eq!(halves.len(), 2, "`..` covers the whole type");
    let bytes: HashSet<u8> = (0..scaled(20_000, 3_000))
        .map(|_| rng.range(0..=255u8))
        .collect();
    assert_eq!(bytes.len(), 256, "every byte value occurs");
    let _: u128 = rng.range(..);
    let _: i128 = rng.range(i128::MIN..=i128::MAX);
    let _: isize = rng.range(..);

    assert_eq!(rng.range(5..=5), 5);
    assert_eq!(rng.range(u64::MAX..=u64::MAX), u64::MAX);
    assert_eq!(rng.range(i8::MIN..=i8::MIN), i8::MIN);
    assert_eq!(rng.range(i128::MAX..), i128::MAX);
    assert_eq!(rng.range(..=u16::MIN), 0);
    for _ in 0..scaled(100, 10) {
        assert!([254, 255].contains(&rng.range(254u8..)));
        assert!((-3..3).contains(&rng.range(-3i32..3)));
        let wide = rng.range(10u128..1u128 << 100);
        assert!((10..1u128 << 100).contains(&wide));
        assert!(rng.range(..7_usize) < 7);
    }
}

#[test]
#[allow(clippy::reversed_empty_ranges)] // empty ranges are the point
fn empty_ranges_give_none_or_a_clear_panic() {
    let mut rng = Rng::with_seed(1);
    assert_eq!(rng.try_range(5..5), None);
    assert_eq!(rng.try_range(6..=5), None);
    assert_eq!(rng.try_range(..0u32), None);
    assert_eq!(rng.try_range(u8::MAX..u8::MAX), None);
    assert_eq!(rng::try_range(10..0i64), None);
    assert_eq!(rng::try_range(3..=3i64), Some(3));
    let message = std::panic::catch_unwind(|| rng::range(5..5u32))
        .unwrap_err()
        .downcast::<&str>()
        .map(|m| m.to_string())
        .unwrap_or_default();
    assert!(message.contains("empty range"), "{message}");
}

#[test]
#[should_panic(expected = "empty range")]
fn range_on_an_empty_range_panics() {
    Rng::with_seed(1).range(1..1u8);
}

#[test]
fn floats_are_in_the_unit_interval() {
    let mut rng = Rng::with_seed(11);
    for _ in 0..scaled(1_000_000, 200) {
        let x = rng.f64();
        assert!((0.0..1.0).contains(&x));
        let y = rng.f32();
        assert!((0.0..1.0).contains(&y));
    }
    let draws = scaled(100_000, 400);
    let mean = (0..draws).map(|_| rng.f64()).sum::<f64>() / draws as f64;
    assert!((mean - 0.5).abs() < 0.05, "mean {mean}");
}

#[test]
fn shuffle_is_a_uniform_permutation() {
    let mut rng = Rng::with_seed(8);
    let mut items: Vec<u32> = (0..100).collect();
    rng.shuffle(&mut items);
    assert_ne!(items, (0..100).collect::<Vec<_>>());
    items.sort();
    assert_eq!(items, (0..100).collect::<Vec<_>>());

    // All 6 orders of 3 items, equally often.
    let mut seen = std::collections::HashMap::new();
    let rounds = scaled(60_000, 240);
    for _ in 0..rounds {
        let mut three = [0, 1, 2];
        rng::shuffle(&mut three);
        *seen.entry(three).or_insert(0u64) += 1;
    }
    assert_eq!(seen.len(), 6);
    let stat = chi_square(&seen.values().copied().collect::<Vec<_>>());
    assert!(stat < critical(5.0), "chi-square {stat:.1}");
    rng.shuffle::<u8>(&mut []);
    rng.shuffle(&mut [1]);
}

#[test]
fn choose_and_fill() {
    let mut rng = Rng::with_seed(9);
    assert_eq!(rng.choose::<u8>(&[]), None);
    assert_eq!(rng::choose::<u8>(&[]), None);
    assert_eq!(rng.choose(&[7]), Some(&7));
    let picks: HashSet<_> = (0..200)
        .map(|_| *rng::choose(&[1, 2, 3]).unwrap())
        .collect();
    assert_eq!(picks.len(), 3);

    for len in [0, 1, 7, 8, 9, 4096] {
        let mut buf = vec![0u8; len];
        rng.fill(&mut buf);
        if len >= 8 {
            assert!(buf.iter().any(|&b| b != 0), "len {len}");
        }
    }
    let mut a = [0u8; 13];
    let mut b = [0u8; 13];
    Rng::with_seed(1).fill(&mut a);
    Rng::with_seed(1).fill(&mut b);
    assert_eq!(a, b);
    rng::fill(&mut a);
    assert_ne!(a, b);
}

#[test]
fn fork_gives_an_unrelated_stream() {
    let mut parent = Rng::with_seed(1);
    let mut child = parent.fork();
    let mut grandchild = child.fork();
    let p: Vec<u64> = (0..100).map(|_| parent.u64()).collect();
    let c: Vec<u64> = (0..100).map(|_| child.u64()).collect();
    let g: Vec<u64> = (0..100).map(|_| grandchild.u64()).collect();
    let all: HashSet<_> = p.iter().chain(&c).chain(&g).collect();
    assert_eq!(all.len(), 300, "no value shared between the three streams");
    let from_thread = rng::fork();
    assert_eq!(
        format!("{from_thread:?}"),
        "Rng { .. }",
        "Debug hides the state"
    );
}

#[test]
fn nested_with_uses_its_own_stream_and_leaves_the_outer_one_alone() {
    thread::spawn(|| {
        rng::seed(5);
        let plain = rng::with(|r| (r.u64(), r.u64()));
        rng::seed(5);
        let (outer_first, inner, outer_second, innermost) = rng::with(|r| {
            let a = r.u64();
            let inner = rng::with(|i| i.u64());
            let b = r.u64();
            let innermost = rng::u64();
            (a, inner, b, innermost)
        });
        assert_eq!(
            (outer_first, outer_second),
            plain,
            "nested draws do not shift the outer stream"
        );
        assert_ne!(inner, outer_first);
        assert_ne!(inner, outer_second);
        assert_ne!(innermost, inner);
        // And the thread continues after the outer draws.
        let mut reference = Rng::with_seed(5);
        reference.u64();
        reference.u64();
        assert_eq!(rng::u64(), reference.u64());
    })
    .join()
    .unwrap();
}

#[test]
fn panic_inside_with_restores_the_generator() {
    thread::spawn(|| {
        rng::seed(6);
        let result = std::panic::catch_unwind(|| {
            rng::with(|r| {
                r.u64();
                panic!("simulation step failed");
            })
        });
        assert!(result.is_err());
        let mut reference = Rng::with_seed(6);
        reference.u64();
        assert_eq!(
            rng::u64(),
            reference.u64(),
            "the state advanced and was put back"
        );
    })
    .join()
    .unwrap();
}

// Thread-local destructors run in reverse order of registration on Linux;
// `rng`'s state has no destructor, so one order is enough to show it works
// after other thread-locals are gone, and the probe checks both the free
// functions and `with`.

static RESULTS: Mutex<Vec<(u64, bool, f64)>> = Mutex::new(Vec::new());

struct Probe;

impl Drop for Probe {
    fn drop(&mut self) {
        let x = rng::u64();
        let in_range = (0..10).contains(&rng::range(0..10));
        let y = rng::with(|r| r.f64());
        RESULTS.lock().unwrap().push((x, in_range, y));
    }
}

thread_local! {
    static PROBE: Cell<Option<Probe>> = const { Cell::new(None) };
}

#[test]
fn works_from_thread_local_destructors() {
    for _ in 0..2 {
        thread::spawn(|| {
            PROBE.with(|p| p.set(Some(Probe)));
            threadkit::scratch::with_bytes(|b| b.push(1)); // another thread-local
        })
        .join()
        .unwrap();
    }
    let results = RESULTS.lock().unwrap().clone();
    assert_eq!(results.len(), 2);
    assert!(results
        .iter()
        .all(|&(_, ok, y)| ok && (0.0..1.0).contains(&y)));
    assert_ne!(results[0].0, results[1].0, "each thread was seeded");
}

#[cfg(feature = "rand_core")]
#[test]
fn rand_distributions_work_with_the_rand_core_feature() {
    use rand::seq::SliceRandom;
    use rand::RngExt;
    use rand_core::SeedableRng;

    let mut rng = Rng::seed_from_u64(42);
    assert_eq!(rng.u64(), Rng::with_seed(42).u64());
    let mut rng = Rng::seed_from_u64(42);
    let x: f64 = rng.random();
    assert!((0.0..1.0).contains(&x));
    let roll = rng.random_range(1..=6);
    assert!((1..=6).contains(&roll));
    let mut cards: Vec<u8> = (0..10).collect();
    cards.shuffle(&mut rng);
    cards.sort();
    assert_eq!(cards, (0..10).collect::<Vec<u8>>());

    // `from_seed` takes the xoshiro256++ state, like rand_xoshiro.
    let mut seed = [0u8; 32];
    for (i, chunk) in seed.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&(i as u64 + 1).to_le_bytes());
    }
    let mut rng = Rng::from_seed(seed);
    assert_eq!(
        [rng.u64(), rng.u64(), rng.u64()],
        [41943041, 58720359, 3588806011781223]
    );
    let mut zero = Rng::from_seed([0; 32]);
    assert_eq!(zero.u64(), Rng::with_seed(0).u64());
}
