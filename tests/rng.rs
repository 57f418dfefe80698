//! Behaviour of `rng`: determinism, distinct thread streams, uniformity,
//! range edge cases, reentrancy, panics and teardown.

use std::cell::Cell;
use std::collections::HashSet;
use std::ops::RangeBounds;
use std::sync::{Mutex, PoisonError};
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
fn long_fills_through_the_lanes_are_uniform() {
    // The lanes' output (long fills; an unseeded thread's block is the same
    // interleaving): byte values, and each lane's low byte, uniform.
    let len = scaled(1 << 20, 8 << 10);
    for seed in [1, 2] {
        let mut bytes = vec![0u8; len];
        Rng::with_seed(seed).fill(&mut bytes);
        let mut all = vec![0u64; 256];
        for &b in &bytes {
            all[usize::from(b)] += 1;
        }
        assert!(chi_square(&all) < critical(255.0), "bytes, seed {seed}");
        for lane in 0..8 {
            let mut low = vec![0u64; 256];
            for word in bytes.chunks_exact(8).skip(lane).step_by(8) {
                low[usize::from(word[0])] += 1;
            }
            if !cfg!(miri) {
                assert!(
                    chi_square(&low) < critical(255.0),
                    "lane {lane}, seed {seed}"
                );
            }
        }
    }
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
        RESULTS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((x, in_range, y));
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

// ---------------------------------------------------------------------------
// Streams pinned across the free functions and `Rng`

#[test]
fn seeded_thread_and_with_seed_agree_on_every_operation() {
    thread::spawn(|| {
        rng::seed(2024);
        let mut owned = Rng::with_seed(2024);
        for round in 0..scaled(50, 5) {
            assert_eq!(rng::u64(), owned.u64(), "u64, round {round}");
            assert_eq!(rng::bool(), owned.bool(), "bool, round {round}");
            assert_eq!(rng::range(0..1000u32), owned.range(0..1000u32));
            assert_eq!(rng::range(-5..=5i8), owned.range(-5..=5i8));
            assert_eq!(rng::f64().to_bits(), owned.f64().to_bits());
            let (mut a, mut b) = ([0u8; 13], [0u8; 13]);
            rng::fill(&mut a);
            owned.fill(&mut b);
            assert_eq!(a, b);
            // Through the lanes.
            let (mut a, mut b) = (vec![0u8; 1500], vec![0u8; 1500]);
            rng::fill(&mut a);
            owned.fill(&mut b);
            assert_eq!(a, b);
            let (mut a, mut b): (Vec<u32>, Vec<u32>) = ((0..40).collect(), (0..40).collect());
            rng::shuffle(&mut a);
            owned.shuffle(&mut b);
            assert_eq!(a, b);
            for _ in 0..70 {
                // Across a refill of the bool bits.
                assert_eq!(rng::bool(), owned.bool());
            }
            assert_eq!(rng::alphanumeric(), owned.alphanumeric());
            assert_eq!(rng::char('a'..='z'), owned.char('a'..='z'));
            assert_eq!(rng::digit(16), owned.digit(16));
        }
    })
    .join()
    .unwrap();
}

#[test]
fn the_lanes_fill_stream_pinned() {
    // Pinned, and the same on every target CI runs (x86_64 with AVX2 or
    // without, aarch64 with NEON, under Miri the portable path): 0.5 made
    // fills of 1 KiB or more eight lanes seeded from four draws.
    let mut rng = Rng::with_seed(42);
    let mut bytes = vec![0u8; 4096 + 13];
    rng.fill(&mut bytes);
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    let sum = bytes
        .chunks(8)
        .map(|chunk| {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            u64::from_le_bytes(word)
        })
        .fold(0u64, |sum, word| sum.rotate_left(5) ^ word);
    assert_eq!(
        [word(0), word(56), word(4096), sum],
        [
            0x04f7_e8ee_fbbe_b8ec,
            0xd20d_73c2_aaec_a5cd,
            0xe3f4_44b4_86fb_5376,
            0xdcdb_34af_db75_73c7
        ]
    );
    // The generator advanced by the four draws that seeded the lanes.
    let mut reference = Rng::with_seed(42);
    for _ in 0..4 {
        reference.u64();
    }
    assert_eq!(rng, reference);
}

#[test]
fn shuffle_and_bool_streams_pinned() {
    // Pinned: changing these changes every seeded user's results (0.3
    // changed both: batched shuffles, 63 bools per draw).
    let mut rng = Rng::with_seed(42);
    let mut items: Vec<u8> = (0..20).collect();
    rng.shuffle(&mut items);
    assert_eq!(
        items,
        [17, 1, 13, 12, 2, 9, 8, 11, 18, 10, 3, 0, 19, 4, 15, 6, 14, 7, 5, 16]
    );
    let mut rng = Rng::with_seed(42);
    let bools: String = (0..16)
        .map(|_| if rng.bool() { '1' } else { '0' })
        .collect();
    assert_eq!(bools, "1111001000101100");
}

// ---------------------------------------------------------------------------
// Shuffles: every permutation equally likely, on every batch path

/// Shuffles `0..n` `rounds` times and checks all `n!` orders appear equally
/// often (chi-square, p = 0.001).
fn all_permutations_uniform(n: usize, rounds: u64) {
    let mut rng = Rng::with_seed(n as u64);
    let mut seen = std::collections::HashMap::new();
    for _ in 0..rounds {
        let mut items: Vec<u8> = (0..n as u8).collect();
        rng.shuffle(&mut items);
        *seen.entry(items).or_insert(0u64) += 1;
    }
    let orders: usize = (1..=n).product();
    assert_eq!(seen.len(), orders, "every order of {n} items appears");
    let stat = chi_square(&seen.values().copied().collect::<Vec<_>>());
    assert!(
        stat < critical(orders as f64 - 1.0),
        "{n} items: chi-square {stat:.1} over {orders} orders"
    );
}

#[test]
fn shuffles_of_small_slices_are_uniform_over_all_permutations() {
    // 2 to 6 items: one draw for the whole slice.
    // Under Miri, 600 shuffles: enough to see all 24 orders of 4 items.
    for n in 2..=scaled(5, 4) {
        all_permutations_uniform(n, scaled(40_000, 600));
    }
    if !cfg!(miri) {
        all_permutations_uniform(6, 72_000);
    }
}

/// Where item 0 and item `n - 1` end up, and what lands at position 0, over
/// `rounds` shuffles of `0..n`: uniform over `buckets` equal ranges of
/// positions (or values).
fn positions_uniform(n: usize, rounds: u64, buckets: usize) {
    let mut rng = Rng::with_seed(n as u64 + 7);
    let mut first_item = vec![0u64; buckets];
    let mut last_item = vec![0u64; buckets];
    let mut at_zero = vec![0u64; buckets];
    let mut items: Vec<u32> = (0..n as u32).collect();
    for _ in 0..rounds {
        for (i, item) in items.iter_mut().enumerate() {
            *item = i as u32;
        }
        rng.shuffle(&mut items);
        let bucket = |x: usize| x * buckets / n;
        first_item[bucket(items.iter().position(|&v| v == 0).unwrap())] += 1;
        last_item[bucket(items.iter().position(|&v| v as usize == n - 1).unwrap())] += 1;
        at_zero[bucket(items[0] as usize)] += 1;
    }
    for (what, counts) in [
        ("item 0", &first_item),
        ("last item", &last_item),
        ("position 0", &at_zero),
    ] {
        let stat = chi_square(counts);
        assert!(
            stat < critical(buckets as f64 - 1.0),
            "{n} items, {what}: chi-square {stat:.1}"
        );
    }
}

#[test]
fn shuffles_are_uniform_on_every_batch_path() {
    // 17 to 22 items: a batch of six, then the last batch.
    for n in 17..=22 {
        positions_uniform(n, scaled(20_000, 200), n);
    }
    if cfg!(miri) {
        return;
    }
    // Batches of four (513 to 2^14 items), and of two (above 2^14).
    positions_uniform(600, 30_000, 20);
    positions_uniform((1 << 14) + 40, 1_500, 10);
}

// ---------------------------------------------------------------------------
// fastrand's surface, and its smoke tests' cases

#[test]
fn every_integer_type_reaches_the_edges_of_its_ranges() {
    for x in 0..10u8 {
        while rng::range(..10u8) != x {}
    }
    for x in 200..=u8::MAX {
        while rng::range(200u8..) != x {}
    }
    for x in -128..-120i8 {
        while rng::range(..-120i8) != x {}
    }
    for x in 120..=127i8 {
        while rng::range(120i8..) != x {}
    }
    let mut owned = Rng::with_seed(1);
    for x in [i16::MIN, i16::MIN + 1, i16::MAX - 1, i16::MAX] {
        while owned.range((i16::MAX - 1)..) != x && owned.range(..=(i16::MIN + 1)) != x {}
    }
    assert_eq!(rng::range(u128::MAX..=u128::MAX), u128::MAX);
    assert_eq!(rng::range(i128::MIN..=i128::MIN), i128::MIN);
    assert_eq!(rng::range(usize::MAX..), usize::MAX);
    assert_eq!(rng::range(..=isize::MIN), isize::MIN);
}

#[test]
fn ranges_stay_in_bounds_for_awkward_sizes() {
    let steps = scaled(3_000u64, 30);
    for k in 1..steps {
        let n32 = (k as u32).wrapping_mul(k as u32).wrapping_mul(k as u32);
        let n64 = k
            .wrapping_mul(k)
            .wrapping_mul(k)
            .wrapping_mul(k)
            .wrapping_mul(k);
        let n128 = u128::from(n64)
            .wrapping_mul(u128::from(n64))
            .wrapping_mul(u128::from(k));
        for _ in 0..20 {
            if n32 != 0 {
                assert!(rng::range(..n32) < n32);
            }
            if n64 != 0 {
                assert!(rng::range(..n64) < n64);
            }
            if n128 != 0 {
                assert!(rng::range(..n128) < n128);
            }
        }
    }
}

#[test]
#[allow(clippy::reversed_empty_ranges)] // empty on purpose
fn empty_ranges_panic_with_a_clear_message_for_every_type() {
    fn message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let err = std::panic::catch_unwind(f).unwrap_err();
        err.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| err.downcast_ref::<String>().cloned())
            .unwrap()
    }
    let messages = [
        message(|| {
            let _ = rng::range(5..5u8);
        }),
        message(|| {
            let _ = rng::range(3..=2i16);
        }),
        message(|| {
            let _ = rng::range(0..0u64);
        }),
        message(|| {
            let _ = rng::range(..0usize);
        }),
        message(|| {
            let _ = rng::range(..i128::MIN);
        }),
        message(|| {
            let _ = Rng::with_seed(1).range(10..1u32);
        }),
    ];
    for m in &messages {
        assert!(m.contains("empty range"), "{m}");
    }
    let m = message(|| {
        let _ = rng::char('z'..='a');
    });
    assert!(m.contains("empty range"), "{m}");
    let m = message(|| {
        let _ = rng::digit(0);
    });
    assert!(m.contains("base"), "{m}");
    let m = message(|| {
        let _ = Rng::with_seed(1).digit(37);
    });
    assert!(m.contains("base"), "{m}");
}

#[test]
fn letters_digits_and_chars() {
    let mut owned = Rng::new();
    for _ in 0..scaled(1000, 50) {
        assert!(rng::alphabetic().is_ascii_alphabetic());
        assert!(rng::alphanumeric().is_ascii_alphanumeric());
        assert!(rng::lowercase().is_ascii_lowercase());
        assert!(rng::uppercase().is_ascii_uppercase());
        assert!(owned.alphabetic().is_ascii_alphabetic());
        assert!(owned.uppercase().is_ascii_uppercase());
    }
    assert_eq!(rng::digit(1), '0');
    for base in 2..=36 {
        let d = rng::digit(base);
        assert!(d.is_digit(base), "{d} in base {base}");
    }
    // Every letter comes up.
    let seen: HashSet<char> = (0..scaled(2000, 400))
        .map(|_| rng::alphanumeric())
        .collect();
    assert_eq!(seen.len(), 62);

    // `char`: the surrogate gap and the ends of the code space.
    fn covers(range: impl RangeBounds<char> + Clone + Iterator<Item = char>, draws: usize) {
        let all: HashSet<char> = range.clone().collect();
        let got: HashSet<char> = (0..draws).map(|_| rng::char(range.clone())).collect();
        assert_eq!(got, all);
    }
    let last_jamo = char::from_u32(0xd7ff).unwrap();
    let penultimate_jamo = char::from_u32(0xd7fe).unwrap();
    let second_private = char::from_u32(0xe001).unwrap();
    covers('\0'..'\u{2}', 100);
    covers('\0'..='\u{1}', 100);
    covers(penultimate_jamo..second_private, 400);
    covers(penultimate_jamo..=second_private, 400);
    covers(char::from_u32(0x10fffe).unwrap()..=char::MAX, 100);
    let _ = last_jamo;
    use std::ops::Bound;
    for _ in 0..100 {
        let c = rng::char((Bound::Excluded('0'), Bound::Excluded('9')));
        assert!(c > '0' && c < '9');
        let any = rng::char(..);
        assert!(char::from_u32(any as u32).is_some());
    }
    // Excluding the last scalar before the gap skips the gap.
    assert_eq!(
        rng::char((Bound::Excluded(last_jamo), Bound::Included('\u{e000}'))),
        '\u{e000}'
    );
}

#[test]
fn choose_iter_and_choose_multiple() {
    let items = [1, 4, 9, 5, 2, 3, 6, 7, 8, 0];
    for item in &items {
        while rng::choose_iter(&items).unwrap() != item {}
    }
    let mut owned = Rng::new();
    assert_eq!(owned.choose_iter(Vec::<i32>::new()), None);
    // An iterator of unknown length: every item can come up, uniformly.
    let counts = counts(10, scaled(20_000, 500), || {
        owned.choose_iter((0..10).filter(|_| true)).unwrap()
    });
    assert!(chi_square(&counts) < critical(9.0), "{counts:?}");

    let mut left: Vec<i32> = (0..20).collect();
    while !left.is_empty() {
        let chosen = rng::choose_multiple(0..20, 5);
        assert_eq!(chosen.len(), 5);
        let distinct: HashSet<_> = chosen.iter().collect();
        assert_eq!(distinct.len(), 5, "without replacement");
        left.retain(|x| !chosen.contains(x));
    }
    assert!(owned.choose_multiple(Vec::<i32>::new(), 5).is_empty());
    assert_eq!(owned.choose_multiple(0..3, 10).len(), 3);
    // Each item of 0..10 is in a sample of 3 with probability 3/10.
    let mut hits = vec![0u64; 10];
    for _ in 0..scaled(20_000, 300) {
        for x in owned.choose_multiple(0..10usize, 3) {
            hits[x] += 1;
        }
    }
    assert!(chi_square(&hits) < critical(9.0), "{hits:?}");
}

#[test]
fn owned_generators_new_default_seed_and_equality() {
    let mut a = Rng::new();
    let mut b = Rng::default();
    assert_ne!(a, b);
    assert_ne!(a.u64(), b.u64());
    a.seed(7);
    b.seed(7);
    assert_eq!(a, b);
    assert_eq!(a.u64(), b.u64());
    assert_eq!(a, b);
    a.bool();
    assert_ne!(a, b, "the bool bits are part of the state");
    assert_eq!(Rng::with_seed(7), {
        let mut c = Rng::new();
        c.seed(7);
        c
    });
    let before = a.clone();
    let _child = a.fork();
    assert_ne!(a, before, "fork advances the parent");
}

#[test]
fn seed_inside_with_takes_effect() {
    thread::spawn(|| {
        rng::with(|outer| {
            outer.u64();
            rng::seed(11);
            assert_eq!(rng::u64(), Rng::with_seed(11).u64());
        });
        let mut reference = Rng::with_seed(11);
        reference.u64();
        assert_eq!(rng::u64(), reference.u64(), "the seeded stream continues");
    })
    .join()
    .unwrap();
}

// ---------------------------------------------------------------------------
// fork(2)

#[cfg(all(unix, not(miri)))]
mod fork {
    use super::*;
    use std::ffi::c_int;

    extern "C" {
        fn fork() -> c_int;
        fn pipe(fds: *mut c_int) -> c_int;
        fn read(fd: c_int, buf: *mut u8, count: usize) -> isize;
        fn write(fd: c_int, buf: *const u8, count: usize) -> isize;
        fn close(fd: c_int) -> c_int;
        fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
        fn _exit(status: c_int) -> !;
    }

    /// Forks; the child runs `draw` and sends the result back; returns the
    /// child's result and the parent's own `draw()` after the fork.
    fn draw_in_parent_and_child(draw: fn() -> [u64; 2]) -> ([u64; 2], [u64; 2]) {
        let mut fds = [0 as c_int; 2];
        // SAFETY: plain POSIX calls on valid buffers. The child runs only
        // `draw` (thread-locals, atomics, maybe a getrandom system call),
        // `write` and `_exit`: no allocation, no locks.
        unsafe {
            assert_eq!(pipe(fds.as_mut_ptr()), 0);
            let pid = fork();
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                let words = draw();
                let bytes: [u8; 16] = std::mem::transmute(words);
                write(fds[1], bytes.as_ptr(), 16);
                _exit(0);
            }
            close(fds[1]);
            let mut bytes = [0u8; 16];
            let mut got = 0;
            while got < 16 {
                let n = read(fds[0], bytes.as_mut_ptr().add(got), 16 - got);
                assert!(n > 0, "the child sent its draws");
                got += n as usize;
            }
            close(fds[0]);
            let mut status = 0;
            assert_eq!(waitpid(pid, &mut status, 0), pid);
            (std::mem::transmute::<[u8; 16], [u64; 2]>(bytes), draw())
        }
    }

    fn two_draws() -> [u64; 2] {
        let first = rng::u64();
        // And the bool bits: not inherited either.
        let mut bools = 0u64;
        for i in 0..62 {
            bools |= u64::from(rng::bool()) << i;
        }
        [first, bools]
    }

    #[test]
    fn a_child_process_does_not_repeat_the_parents_numbers() {
        thread::spawn(|| {
            rng::u64(); // seeded before the fork
            rng::bool(); // bool bits cached before the fork
            let (child, parent) = draw_in_parent_and_child(two_draws);
            assert_ne!(child[0], parent[0]);
            assert_ne!(child[1], parent[1]);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_seeded_thread_keeps_its_stream_in_the_child() {
        thread::spawn(|| {
            rng::seed(99);
            rng::bool();
            let (child, parent) = draw_in_parent_and_child(two_draws);
            assert_eq!(child, parent);
        })
        .join()
        .unwrap();
    }
}
