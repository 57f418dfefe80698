//! Fisher–Yates with batched index draws.
//!
//! A shuffle of `n` items needs indices uniform in `0..n`, `0..n-1`, … .
//! Drawn one per 64-bit output (Lemire's multiply-and-reject), that is one
//! generator step per item; but while the product of `k` consecutive bounds
//! fits in 64 bits, one output can serve all `k` (Brackett-Rozinsky and
//! Lemire, "Batched Ranged Random Integer Generation", Software: Practice
//! and Experience 55(1), 2024; arXiv 2408.06213):
//!
//! - multiply the draw `r` by the first bound `n`: the high word is the
//!   first index, the low word becomes `r` for the next bound, and so on;
//! - the `k` indices are exactly uniform and independent unless the final
//!   low word is below `2^64 mod (n (n-1) … (n-k+1))`, which is checked, and
//!   then the whole batch is drawn again (on top of the swaps already made,
//!   which the paper shows keeps the result uniform).
//!
//! The batch sizes follow the paper's `shuffle_2_4_6`: single draws above
//! 2<sup>30</sup> items left, pairs above 2<sup>14</sup>, fours above 512,
//! sixes above 16. The last 16 or fewer items take one draw for all their
//! indices (16! < 2<sup>45</sup>, so the check that may reject passes but
//! for one draw in a million): a shuffle of ten items is one draw and nine
//! multiplications, where plain Fisher–Yates makes nine draws.
//!
//! The rare rejection runs out of line and takes the generator by value, so
//! the caller's loop keeps the state in registers.

use super::generator::Rng;

/// Shuffles `slice` with `rng`. Inlined into [`Rng::shuffle`] and
/// [`rng::shuffle`](fn@super::shuffle), each of which holds the state in a local
/// for the whole call (see `fill_bytes` in `fill.rs` for why).
#[inline(always)]
pub(super) fn shuffle<T>(rng: &mut Rng, slice: &mut [T]) {
    let mut i = slice.len();
    while i > 1 << 30 {
        let j = rng.below(i as u64) as usize;
        slice.swap(i - 1, j);
        i -= 1;
    }
    // Pairs while i > 2^14: i (i-1) < 2^60. The loop's two tests are folded
    // into one branch: with the items out of cache this loop is bound by
    // how many iterations the processor keeps in flight, and a second
    // branch per pair cost 10% on a million items.
    if i > 1 << 14 {
        let mut bound = (i as u64) * (i as u64 - 1);
        loop {
            let r = steps(slice, i, 2, rng.u64());
            if (i > (1 << 14) + 2) & (r >= bound) {
                i -= 2;
                continue;
            }
            if r < bound {
                let (s, exact) = rare(rng, slice, i, 2, r);
                rng.s = s;
                bound = exact;
            }
            i -= 2;
            if i <= 1 << 14 {
                break;
            }
        }
    }
    // Fours while i > 512: i (i-1) (i-2) (i-3) < 2^56, as (i (i-3)) (i (i-3) + 2).
    let mut bound = (i as u64).wrapping_mul((i as u64).wrapping_sub(3));
    bound = bound.wrapping_mul(bound.wrapping_add(2));
    while i > 512 {
        bound = batch::<T, 4>(rng, slice, i, bound);
        i -= 4;
    }
    // Sixes while i > 16: below 2^55, as b (b + 4) (b + 6) with b = i (i-5).
    let b = (i as u64).wrapping_mul((i as u64).wrapping_sub(5));
    let mut bound = b.wrapping_mul(b.wrapping_add(4).wrapping_mul(b.wrapping_add(6)));
    while i > TAIL {
        bound = batch::<T, 6>(rng, slice, i, bound);
        i -= 6;
    }
    if i > 1 {
        tail(rng, slice, i);
    }
}

/// The most items the last batch shuffles from one draw.
const TAIL: usize = 16;

/// `n!` for `n <= TAIL`: the product of the last batch's bounds.
const FACTORIAL: [u64; TAIL + 1] = {
    let mut table = [1u64; TAIL + 1];
    let mut n = 2;
    while n <= TAIL {
        table[n] = table[n - 1] * n as u64;
        n += 1;
    }
    table
};

/// Shuffles all of `slice[..n]`, `2 <= n <= TAIL`, from one draw.
#[inline(always)]
fn tail<T>(rng: &mut Rng, slice: &mut [T], n: usize) {
    let r = steps(slice, n, n - 1, rng.u64());
    if r < FACTORIAL[n] {
        rng.s = rare(rng, slice, n, n - 1, r).0;
    }
}

/// `K` Fisher–Yates steps on `slice[..n]` from one draw; `bound` is at least
/// `n (n-1) … (n-K+1)`. Returns a bound for the next, smaller, batch.
#[inline(always)]
fn batch<T, const K: usize>(rng: &mut Rng, slice: &mut [T], n: usize, bound: u64) -> u64 {
    let r = steps(slice, n, K, rng.u64());
    if r < bound {
        let (s, exact) = rare(rng, slice, n, K, r);
        rng.s = s;
        return exact;
    }
    bound
}

/// `k` swaps from the draw `r` (unrolled where `k` is a constant); returns
/// the last low word.
#[inline(always)]
fn steps<T>(slice: &mut [T], n: usize, k: usize, mut r: u64) -> u64 {
    for step in 0..k {
        let m = u128::from(r) * (n - step) as u128;
        r = m as u64;
        slice.swap(n - step - 1, (m >> 64) as usize);
    }
    r
}

/// The rest of a batch whose last low word `r` fell below its cheap bound:
/// the exact product of its bounds, and redraws while `r` is below
/// `2^64 mod` it. Returns the state and the product.
#[inline(always)]
fn rare<T>(rng: &Rng, slice: &mut [T], n: usize, k: usize, r: u64) -> ([u64; 4], u64) {
    let [s0, s1, s2, s3] = rng.s;
    redraw(s0, s1, s2, s3, slice, n, k, r)
}

/// [`rare`], out of line; the state comes as four words, as in
/// `below_rare` (`mod.rs`).
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)] // the four words are the point
fn redraw<T>(
    s0: u64,
    s1: u64,
    s2: u64,
    s3: u64,
    slice: &mut [T],
    n: usize,
    k: usize,
    mut r: u64,
) -> ([u64; 4], u64) {
    let mut rng = Rng::from_state([s0, s1, s2, s3]);
    let product = (1..k).fold(n as u64, |p, step| p * (n - step) as u64);
    let threshold = product.wrapping_neg() % product;
    while r < threshold {
        r = steps(slice, n, k, rng.u64());
    }
    (rng.s, product)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn product(n: u64, k: u64) -> u64 {
        (0..k).map(|step| n - step).product()
    }

    #[test]
    fn the_cheap_bounds_are_the_exact_products() {
        for i in [(1u64 << 14) + 1, (1 << 14) + 2, 1 << 20, 1 << 30] {
            assert_eq!(i * (i - 1), product(i, 2));
        }
        for i in 5..=(1u64 << 14) + 4 {
            let b = i * (i - 3);
            assert_eq!(b * (b + 2), product(i, 4), "fours at {i}");
        }
        for i in 7..=512 + 6 {
            let b = i * (i - 5);
            assert_eq!(b * ((b + 4) * (b + 6)), product(i, 6), "sixes at {i}");
        }
        for (n, f) in FACTORIAL.iter().enumerate().skip(1) {
            assert_eq!(*f, product(n as u64, n as u64));
        }
    }

    /// Runs `step` (which shuffles the tail of `0..n`) `rounds` times and
    /// checks that the last `k` items, in order, take each of their
    /// `n (n-1) … (n-k+1)` values equally often.
    fn tails_uniform(n: usize, k: usize, rounds: u64, mut step: impl FnMut(&mut Rng, &mut [u8])) {
        let mut rng = Rng::with_seed((n * 31 + k) as u64);
        let mut seen: HashMap<Vec<u8>, u64> = HashMap::new();
        for _ in 0..rounds {
            let mut items: Vec<u8> = (0..n as u8).collect();
            step(&mut rng, &mut items);
            let mut sorted = items.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..n as u8).collect::<Vec<_>>(), "a permutation");
            *seen.entry(items[n - k..].to_vec()).or_insert(0) += 1;
        }
        if cfg!(miri) {
            // Too few rounds to count: Miri checks the memory accesses.
            return;
        }
        let outcomes = product(n as u64, k as u64) as usize;
        assert_eq!(seen.len(), outcomes, "n {n}, k {k}");
        let expected = rounds as f64 / outcomes as f64;
        let stat: f64 = seen
            .values()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        // p = 0.001 (Wilson–Hilferty).
        let df = outcomes as f64 - 1.0;
        let t = 1.0 - 2.0 / (9.0 * df) + 3.090_232 * (2.0 / (9.0 * df)).sqrt();
        assert!(stat < df * t.powi(3), "n {n}, k {k}: chi-square {stat:.1}");
    }

    #[test]
    fn each_batch_size_is_uniform_also_through_its_rejection_path() {
        let rounds = if cfg!(miri) { 50 } else { 40_000 };
        tails_uniform(5, 2, rounds, |rng, items| {
            let _ = batch::<u8, 2>(rng, items, 5, 20);
        });
        tails_uniform(6, 4, rounds * 2, |rng, items| {
            let _ = batch::<u8, 4>(rng, items, 6, 360);
        });
        tails_uniform(5, 5, rounds, |rng, items| tail(rng, items, 5));
        // A bound of u64::MAX sends every batch through `redraw`, which
        // must then reject exactly the biased draws, and no others.
        tails_uniform(5, 2, rounds, |rng, items| {
            let _ = batch::<u8, 2>(rng, items, 5, u64::MAX);
        });
        tails_uniform(6, 4, rounds * 2, |rng, items| {
            assert_eq!(batch::<u8, 4>(rng, items, 6, u64::MAX), 360);
        });
        if !cfg!(miri) {
            tails_uniform(7, 6, 200_000, |rng, items| {
                let _ = batch::<u8, 6>(rng, items, 7, 5040);
            });
        }
    }

    #[test]
    fn tails_redraw_below_the_threshold() {
        // The same draw, through `redraw` from a low word of 0 (always
        // below 2^64 mod n! for these n): still a permutation, and the
        // generator moved on.
        for (n, factorial) in FACTORIAL.iter().enumerate().skip(2) {
            let mut items: Vec<u8> = (0..n as u8).collect();
            let start = Rng::with_seed(n as u64);
            let [s0, s1, s2, s3] = start.s;
            let (s, product) = redraw(s0, s1, s2, s3, &mut items, n, n - 1, 0);
            assert_eq!(product, *factorial);
            let threshold = factorial.wrapping_neg() % factorial;
            assert_eq!(s == start.s, threshold == 0, "n {n}");
            items.sort_unstable();
            assert_eq!(items, (0..n as u8).collect::<Vec<_>>());
        }
    }
}
