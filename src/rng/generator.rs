//! [`Rng`]: the xoshiro256++ generator, its seeding and its raw draws;
//! the sampling built on them is in `sample.rs`.

use std::fmt;

/// A xoshiro256++ generator; see the [module documentation](super).
///
/// # Examples
///
/// ```
/// use threadkit::rng::Rng;
///
/// let mut a = Rng::with_seed(42);
/// let mut b = Rng::with_seed(42);
/// assert_eq!(a.u64(), b.u64()); // same seed, same sequence
///
/// let roll = a.range(1..=6u8);
/// let pick = a.choose(&["red", "green", "blue"]).unwrap();
/// # let _ = (roll, pick);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Rng {
    /// The xoshiro256++ state; never all zero.
    pub(super) s: [u64; 4],
    /// Bits left from the last draw [`bool`](Rng::bool) took, above a
    /// sentinel 1 bit; 0 or 1 when none are left.
    pub(super) bits: u64,
}

/// The SplitMix64 increment (the golden ratio).
pub(super) const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function: a bijection on `u64` with strong avalanche.
#[inline]
pub(super) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One SplitMix64 step (Steele, Lea and Flood 2014; Vigna's `splitmix64.c`).
#[inline]
const fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(GOLDEN_GAMMA);
    mix64(*state)
}

impl Rng {
    /// A generator whose sequence is determined by `seed`.
    ///
    /// The 256-bit state is four outputs of SplitMix64 started at `seed`, the
    /// expansion the xoshiro authors recommend. Four consecutive outputs are
    /// distinct, so the state is never all zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::rng::Rng;
    ///
    /// static SIMULATION_SEED: u64 = 2024;
    /// let mut rng = Rng::with_seed(SIMULATION_SEED);
    /// let first = rng.u64();
    /// assert_eq!(Rng::with_seed(SIMULATION_SEED).u64(), first);
    /// ```
    #[must_use]
    pub const fn with_seed(seed: u64) -> Rng {
        Rng::from_state(seed_state(seed))
    }

    /// A generator at `state` (not all zero), with no bits left over.
    pub(super) const fn from_state(s: [u64; 4]) -> Rng {
        Rng { s, bits: 0 }
    }

    /// Restarts this generator at the sequence of
    /// [`with_seed(seed)`](Rng::with_seed).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::rng::Rng;
    ///
    /// let mut rng = Rng::new();
    /// rng.seed(5);
    /// assert_eq!(rng, Rng::with_seed(5));
    /// ```
    pub fn seed(&mut self, seed: u64) {
        *self = Rng::with_seed(seed);
    }

    /// A generator from a 256-bit state; an all-zero state (the one state
    /// xoshiro cannot use) is replaced by `with_seed(0)`.
    pub(super) fn from_bytes(bytes: [u8; 32]) -> Rng {
        let mut s = [0u64; 4];
        for (word, chunk) in s.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut le = [0u8; 8];
            le.copy_from_slice(chunk);
            *word = u64::from_le_bytes(le);
        }
        if s == [0; 4] {
            Rng::with_seed(0)
        } else {
            Rng::from_state(s)
        }
    }

    /// A new generator with its own stream, seeded from this one (which
    /// advances).
    ///
    /// The child's state is four outputs of `self` passed through
    /// SplitMix64's mixer, so parent and child streams are unrelated (they
    /// overlap only with negligible probability in a 2<sup>256</sup> period).
    /// Forking a fork works the same way.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::rng::Rng;
    ///
    /// // One reproducible stream per worker, from one seed.
    /// let mut root = Rng::with_seed(7);
    /// let workers: Vec<Rng> = (0..4).map(|_| root.fork()).collect();
    /// let firsts: Vec<u64> = workers.into_iter().map(|mut w| w.u64()).collect();
    /// assert_eq!(firsts.len(), 4);
    /// assert!(firsts.windows(2).all(|w| w[0] != w[1]));
    /// ```
    #[must_use = "forking advances this generator; use the returned one"]
    pub fn fork(&mut self) -> Rng {
        let s = [
            mix64(self.u64()),
            mix64(self.u64()),
            mix64(self.u64()),
            mix64(self.u64()),
        ];
        if s == [0; 4] {
            Rng::with_seed(self.u64())
        } else {
            Rng::from_state(s)
        }
    }

    /// A uniformly distributed `u64`: the next xoshiro256++ output.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut rng = threadkit::rng::Rng::with_seed(1);
    /// let id = rng.u64();
    /// # let _ = id;
    /// ```
    #[inline]
    pub fn u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniformly distributed `u32` (the upper half of a `u64` output).
    #[inline]
    pub fn u32(&mut self) -> u32 {
        (self.u64() >> 32) as u32
    }

    /// A uniformly distributed `i64`.
    #[inline]
    pub fn i64(&mut self) -> i64 {
        self.u64() as i64
    }

    /// A uniformly distributed `i32`.
    #[inline]
    pub fn i32(&mut self) -> i32 {
        self.u32() as i32
    }

    /// A uniformly distributed `usize`, over its whole range like the other
    /// integer methods; for a range, use [`range`](Rng::range).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut rng = threadkit::rng::Rng::with_seed(3);
    /// let items = ["a", "b", "c"];
    /// let i = rng.range(..items.len());
    /// assert!(i < 3);
    /// let any: usize = rng.usize();
    /// # let _ = any;
    /// ```
    #[inline]
    pub fn usize(&mut self) -> usize {
        self.u64() as usize
    }

    /// A uniformly distributed `f64` in [0, 1): 53 random bits, so every
    /// multiple of 2<sup>−53</sup> in the interval is equally likely, and
    /// 1.0 is never returned.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut rng = threadkit::rng::Rng::with_seed(5);
    /// let x = rng.f64();
    /// assert!((0.0..1.0).contains(&x));
    /// ```
    #[inline]
    pub fn f64(&mut self) -> f64 {
        unit_f64(self.u64())
    }

    /// A uniformly distributed `f32` in [0, 1): 24 random bits.
    #[inline]
    pub fn f32(&mut self) -> f32 {
        unit_f32(self.u64())
    }

    /// `true` or `false` with equal probability.
    ///
    /// One draw serves 63 calls: the generator keeps the bits of the last
    /// draw and hands them out one at a time.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut rng = threadkit::rng::Rng::with_seed(6);
    /// let heads = (0..1000).filter(|_| rng.bool()).count();
    /// assert!((400..600).contains(&heads));
    /// ```
    #[inline]
    pub fn bool(&mut self) -> bool {
        let mut bits = self.bits;
        if bits <= 1 {
            bits = bool_bits(self.u64());
        }
        self.bits = bits >> 1;
        bits & 1 != 0
    }

    /// Uniform in `0..n` for `n > 0` (Lemire's method, 64-bit).
    #[inline]
    pub(super) fn below(&mut self, n: u64) -> u64 {
        let m = u128::from(self.u64()) * u128::from(n);
        // `lo < n` is the only case that can be biased (probability
        // n / 2^64): then the exact threshold, a division, is computed, out
        // of line.
        if (m as u64) < n {
            let [s0, s1, s2, s3] = self.s;
            let (s, value) = below_rare(s0, s1, s2, s3, n, m);
            self.s = s;
            return value;
        }
        (m >> 64) as u64
    }

    /// Uniform in `0..n` for `n > 0` (Lemire's method, 32-bit).
    #[inline]
    pub(super) fn below_u32(&mut self, n: u32) -> u32 {
        let m = u64::from(self.u32()) * u64::from(n);
        if (m as u32) < n {
            let [s0, s1, s2, s3] = self.s;
            let (s, value) = below_u32_rare(s0, s1, s2, s3, n, m);
            self.s = s;
            return value;
        }
        (m >> 32) as u32
    }
}

/// The top 53 bits of `x` as a multiple of 2^-53 in [0, 1).
#[inline]
pub(super) fn unit_f64(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The top 24 bits of `x` as a multiple of 2^-24 in [0, 1).
#[inline]
pub(super) fn unit_f32(x: u64) -> f32 {
    (x >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// The bits [`Rng::bool`] hands out from the draw `x`: its top 63 bits, above
/// a sentinel.
#[inline]
pub(super) fn bool_bits(x: u64) -> u64 {
    x >> 1 | 1 << 63
}

/// The four SplitMix64 outputs from `seed` that make a state.
const fn seed_state(seed: u64) -> [u64; 4] {
    let mut sm = seed;
    [
        splitmix64(&mut sm),
        splitmix64(&mut sm),
        splitmix64(&mut sm),
        splitmix64(&mut sm),
    ]
}

/// The rest of [`Rng::below`] when the first draw's low word is below `n`:
/// reject below `2^64 mod n` and draw again.
///
/// Out of line, and given the state as four words: an array argument is
/// passed by address, and a state whose address is taken anywhere lives in
/// memory everywhere (then the compiler also merges its four loads into two
/// 16-byte ones, which the store buffer cannot forward from the previous
/// call's 8-byte stores: a shuffle of ten items went from 9 ns to 18 ns).
#[cold]
#[inline(never)]
fn below_rare(s0: u64, s1: u64, s2: u64, s3: u64, n: u64, mut m: u128) -> ([u64; 4], u64) {
    let mut rng = Rng::from_state([s0, s1, s2, s3]);
    let threshold = n.wrapping_neg() % n;
    while (m as u64) < threshold {
        m = u128::from(rng.u64()) * u128::from(n);
    }
    (rng.s, (m >> 64) as u64)
}

/// [`below_rare`] for [`Rng::below_u32`].
#[cold]
#[inline(never)]
fn below_u32_rare(s0: u64, s1: u64, s2: u64, s3: u64, n: u32, mut m: u64) -> ([u64; 4], u32) {
    let mut rng = Rng::from_state([s0, s1, s2, s3]);
    let threshold = n.wrapping_neg() % n;
    while (m as u32) < threshold {
        m = u64::from(rng.u32()) * u64::from(n);
    }
    (rng.s, (m >> 32) as u32)
}

impl Default for Rng {
    /// [`Rng::new`]: forked from the calling thread's generator.
    fn default() -> Rng {
        Rng::new()
    }
}

impl fmt::Debug for Rng {
    /// Does not print the state: it would let a reader predict the stream.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rng").finish_non_exhaustive()
    }
}

#[cfg(feature = "rand_core")]
mod rand_core_impls {
    use std::convert::Infallible;

    use super::Rng;

    /// With the `rand_core` feature, `Rng` is a `rand_core::Rng` (through
    /// `TryRng` with `Infallible`), so `rand`'s distributions work on it.
    impl rand_core::TryRng for Rng {
        type Error = Infallible;

        #[inline]
        fn try_next_u32(&mut self) -> Result<u32, Infallible> {
            Ok(self.u32())
        }

        #[inline]
        fn try_next_u64(&mut self) -> Result<u64, Infallible> {
            Ok(self.u64())
        }

        #[inline]
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
            self.fill(dst);
            Ok(())
        }
    }

    /// The seed is the 256-bit state, little-endian, as in `rand_xoshiro`
    /// (an all-zero seed is replaced by `with_seed(0)`); `seed_from_u64` is
    /// [`Rng::with_seed`].
    impl rand_core::SeedableRng for Rng {
        type Seed = [u8; 32];

        fn from_seed(seed: [u8; 32]) -> Rng {
            Rng::from_bytes(seed)
        }

        fn seed_from_u64(state: u64) -> Rng {
            Rng::with_seed(state)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_xoshiro256plusplus_reference() {
        // From the reference implementation, via rand_xoshiro's test.
        let mut rng = Rng::from_state([1, 2, 3, 4]);
        let expected: [u64; 10] = [
            41943041,
            58720359,
            3588806011781223,
            3591011842654386,
            9228616714210784205,
            9973669472204895162,
            14011001112246962877,
            12406186145184390807,
            15849039046786891736,
            10450023813501588000,
        ];
        for e in expected {
            assert_eq!(rng.u64(), e);
        }
    }

    #[test]
    fn floats_stay_below_one_at_the_largest_input() {
        assert!(unit_f64(u64::MAX) < 1.0);
        assert!(unit_f32(u64::MAX) < 1.0);
        assert_eq!(unit_f64(0), 0.0);
        assert_eq!(unit_f64(u64::MAX), 1.0 - f64::EPSILON / 2.0);
    }

    #[test]
    fn splitmix64_matches_the_reference() {
        // Vigna's splitmix64.c, seed 1234567.
        let mut state = 1234567;
        let expected: [u64; 5] = [
            6457827717110365317,
            3203168211198807973,
            9817491932198370423,
            4593380528125082431,
            16408922859458223821,
        ];
        for e in expected {
            assert_eq!(splitmix64(&mut state), e);
        }
    }
}
