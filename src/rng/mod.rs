//! A fast per-thread random number generator: xoshiro256++, seeded once per
//! process from the operating system and per thread through SplitMix64.
//!
//! ```
//! use threadkit::rng;
//!
//! let die = rng::range(1..=6);
//! assert!((1..=6).contains(&die));
//! let coin = rng::bool();
//! let unit = rng::f64(); // in [0, 1)
//! assert!((0.0..1.0).contains(&unit));
//!
//! let mut deck: Vec<u32> = (0..52).collect();
//! rng::shuffle(&mut deck);
//! let _card = rng::choose(&deck);
//! # let _ = coin;
//! ```
//!
//! The free functions use the calling thread's generator: no lock, no
//! reference count, one thread-local read and write. [`Rng`] is the same
//! generator as a value, for reproducible streams (`Rng::with_seed`) or
//! independent ones (`Rng::new`, `Rng::fork`). Beside numbers, both offer
//! what `fastrand` users look for: [`char()`], [`alphabetic`],
//! [`alphanumeric`], [`lowercase`], [`uppercase`], [`digit`], [`choice`]
//! from any iterator and [`choose_multiple`].
//!
//! There is no `f64_inclusive`: [`f64()`] already returns every multiple of
//! 2<sup>−53</sup> in [0, 1) with equal probability from one draw, and a
//! closed interval would need 2<sup>53</sup> + 1 values, a ranged draw,
//! for a difference no sampling code can see.
//!
//! # The generator
//!
//! [xoshiro256++] (Blackman and Vigna, 2019): 256 bits of state, period
//! 2<sup>256</sup> − 1. Its authors report that it passes BigCrush and
//! PractRand to 32 TB with no failures, and it is the generator of `rand`'s
//! `SmallRng` on 64-bit targets. `fastrand`'s wyrand is smaller but has 64
//! bits of state and fails a 64-bit collision test (wyhash issue #130).
//!
//! **It is not cryptographically secure**: its output reveals its state. Do
//! not use it for keys, tokens, nonces or anything an attacker must not
//! predict; use the operating system's generator (`getrandom`) for those.
//!
//! # Seeding
//!
//! - The first thread to need a seed reads 64 bits of OS entropy
//!   (`getrandom`) once for the whole process.
//! - Each thread's generator is seeded, on its first use, from that process
//!   seed and a process-wide thread counter, mixed through SplitMix64, so
//!   every thread has a distinct, uncorrelated stream, and two processes do
//!   not share streams. The clock is not used. (`fastrand` seeds each thread
//!   from the clock and the thread id with fixed keys, fastrand#130.)
//! - If the OS generator fails, the process seed falls back to a mix of the
//!   time, the process id and an address (documented here because it is
//!   weaker; it has not been observed on supported platforms).
//! - [`seed`] makes the calling thread's sequence reproducible from then on.
//!
//! # Fork
//!
//! On Unix, a child process made by `fork(2)` does not repeat its parent's
//! numbers: the first time a thread seeds its generator, a `pthread_atfork`
//! handler is registered (once per process), and in the child it discards
//! the process seed and makes the forking thread's generator (the only one
//! the child has) reseed on its next draw, `bool`'s cached bits included.
//! A thread whose stream was chosen with [`seed`] keeps it in the child:
//! a reproducible run stays reproducible. An owned [`Rng`] is a value and is
//! copied as it is. The draws pay nothing for this. (Under Miri, which has
//! no `fork`, the handler is not registered.)
//!
//! # Streams and the 0.3 changes
//!
//! `Rng::with_seed(s)` and a thread after `rng::seed(s)` produce the same
//! sequence for every operation, on every platform (`tests/rng.rs` pins
//! values). 0.3 changed two streams: [`shuffle`](fn@shuffle) draws its indices in
//! batches (see [`Rng::shuffle`]), so a seed gives different permutations
//! than in 0.2, and [`bool()`] hands out 63 bits of one draw before drawing
//! again, so a seed gives different `bool`s. `u64`, the integer, float and
//! range draws, `fill` and `choose` are unchanged.
//!
//! # Reentrancy and teardown
//!
//! The free functions run no user code while they hold the thread's state
//! (range bounds are read first). [`with`] moves the state out, runs the
//! closure, and puts the state back when it returns or panics; a call nested
//! inside it gets an independent stream derived from the outer state, never a
//! panic. A [`seed`] inside it is the one exception: it applies, and the
//! thread continues the seeded stream after `with` returns. The thread's
//! state has nothing to drop, so every function works during thread
//! teardown, in `thread_local!` destructors included. (Where std keeps
//! thread-locals behind OS keys, as on `x86_64-pc-windows-gnu`, it destroys
//! that state with the rest: a use after that seeds a new stream, even on a
//! thread given [`seed`].)
//!
//! [xoshiro256++]: https://prng.di.unimi.it/

use std::fmt;
use std::ops::{Bound, RangeBounds};

/// A xoshiro256++ generator; see the [module documentation](self).
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
    s: [u64; 4],
    /// Bits left from the last draw [`bool`](Rng::bool) took, above a
    /// sentinel 1 bit; 0 or 1 when none are left.
    bits: u64,
}

/// The SplitMix64 increment (the golden ratio).
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function: a bijection on `u64` with strong avalanche.
#[inline]
const fn mix64(mut z: u64) -> u64 {
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
    const fn from_state(s: [u64; 4]) -> Rng {
        Rng { s, bits: 0 }
    }

    /// A generator forked from the calling thread's (see [`fork`](fn@fork)), as
    /// `fastrand::Rng::new` does: no system call, a stream of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::rng::Rng;
    ///
    /// let mut a = Rng::new();
    /// let mut b = Rng::default();
    /// assert_ne!(a, b);
    /// assert_ne!(a.u64(), b.u64());
    /// ```
    #[must_use]
    pub fn new() -> Rng {
        fork()
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

    /// A generator seeded with 256 bits from the operating system.
    ///
    /// If the OS generator fails, it is seeded from the process seed and a
    /// counter instead, like a thread's generator (see the
    /// [module documentation](self)).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut a = threadkit::rng::Rng::from_entropy();
    /// let mut b = threadkit::rng::Rng::from_entropy();
    /// assert_ne!((a.u64(), a.u64()), (b.u64(), b.u64()));
    /// ```
    #[must_use]
    pub fn from_entropy() -> Rng {
        let mut bytes = [0u8; 32];
        match getrandom::fill(&mut bytes) {
            Ok(()) => Rng::from_bytes(bytes),
            Err(_) => Rng::from_state(local::thread_seed()),
        }
    }

    /// A generator from a 256-bit state; an all-zero state (the one state
    /// xoshiro cannot use) is replaced by `with_seed(0)`.
    fn from_bytes(bytes: [u8; 32]) -> Rng {
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

    /// A uniformly distributed integer in `range`, of any primitive integer
    /// type and any range form (`a..b`, `a..=b`, `a..`, `..b`, `..=b`, `..`).
    ///
    /// Unbiased: Lemire's multiply-and-reject method ("Fast Random Integer
    /// Generation in an Interval", 2019), which rejects the few draws that
    /// would make some values more likely than others, as `x % n` does.
    ///
    /// # Panics
    ///
    /// If the range is empty, with a message saying so; see
    /// [`try_range`](Rng::try_range) for the non-panicking form.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut rng = threadkit::rng::Rng::with_seed(9);
    /// let percent = rng.range(0..100u32);
    /// let offset = rng.range(-5..=5i64);
    /// let any = rng.range::<u16>(..);
    /// assert!(percent < 100 && (-5..=5).contains(&offset));
    /// # let _ = any;
    /// ```
    #[inline]
    #[track_caller]
    pub fn range<T: RangeInt>(&mut self, range: impl RangeBounds<T>) -> T {
        match inclusive(&range) {
            Some((low, high)) => T::sample(self, low, high),
            None => empty_range(),
        }
    }

    /// Like [`range`](Rng::range), but `None` for an empty range instead of
    /// a panic.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut rng = threadkit::rng::Rng::with_seed(9);
    /// assert_eq!(rng.try_range(5..5), None);
    /// assert_eq!(rng.try_range(5..=5), Some(5));
    /// ```
    #[inline]
    pub fn try_range<T: RangeInt>(&mut self, range: impl RangeBounds<T>) -> Option<T> {
        let (low, high) = inclusive(&range)?;
        Some(T::sample(self, low, high))
    }

    /// Fills `dest` with random bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut key = [0u8; 16];
    /// threadkit::rng::Rng::with_seed(1).fill(&mut key);
    /// assert_ne!(key, [0; 16]);
    /// ```
    pub fn fill(&mut self, dest: &mut [u8]) {
        // A local copy: the state stays in registers for the whole loop.
        let mut rng = Rng::from_state(self.s);
        fill_bytes(&mut rng, dest);
        self.s = rng.s;
    }

    /// Shuffles `slice` in place: every permutation equally likely.
    ///
    /// Fisher–Yates, with its indices drawn in batches: one 64-bit draw
    /// gives two to six of them, exactly uniform (Brackett-Rozinsky and
    /// Lemire, "Batched Ranged Random Integer Generation", 2024; the
    /// method is described in `src/rng/shuffle.rs`).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cards: Vec<u8> = (1..=10).collect();
    /// threadkit::rng::Rng::with_seed(4).shuffle(&mut cards);
    /// cards.sort();
    /// assert_eq!(cards, (1..=10).collect::<Vec<u8>>());
    /// ```
    pub fn shuffle<T>(&mut self, slice: &mut [T]) {
        // A local copy: the state stays in registers for the whole loop.
        let mut rng = Rng::from_state(self.s);
        shuffle::shuffle(&mut rng, slice);
        self.s = rng.s;
    }

    /// A uniformly chosen element of `slice`, or `None` if it is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut rng = threadkit::rng::Rng::with_seed(2);
    /// assert!(rng.choose(&[1, 2, 3]).is_some());
    /// assert_eq!(rng.choose::<u8>(&[]), None);
    /// ```
    #[inline]
    pub fn choose<'a, T>(&mut self, slice: &'a [T]) -> Option<&'a T> {
        if slice.is_empty() {
            return None;
        }
        slice.get(self.below(slice.len() as u64) as usize)
    }

    /// A uniformly chosen item of `iter`, or `None` if it is empty.
    ///
    /// For an iterator that knows its exact length (`size_hint` gives equal
    /// bounds, as slices, ranges and most adapters over them do), one draw
    /// and `nth`; otherwise one pass over all items with one draw per item
    /// (reservoir sampling), so prefer [`choose`](Rng::choose) on a slice.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut rng = threadkit::rng::Rng::with_seed(3);
    /// let word = rng.choice("alpha beta gamma".split(' ')).unwrap();
    /// assert!(["alpha", "beta", "gamma"].contains(&word));
    /// assert!((0..10).contains(&rng.choice(0..10).unwrap()));
    /// assert_eq!(rng.choice(std::iter::empty::<u8>()), None);
    /// ```
    pub fn choice<I: IntoIterator>(&mut self, iter: I) -> Option<I::Item> {
        let mut iter = iter.into_iter();
        match iter.size_hint() {
            (0, Some(0)) => None,
            (low, Some(high)) if low == high => iter.nth(self.below(low as u64) as usize),
            _ => {
                let mut chosen = iter.next()?;
                for (seen, item) in (2u64..).zip(iter) {
                    // Keep the new item with probability 1 / seen.
                    if self.below(seen) == 0 {
                        chosen = item;
                    }
                }
                Some(chosen)
            }
        }
    }

    /// `amount` items of `iter` chosen uniformly without replacement (each
    /// subset of that size equally likely), in no particular order; all of
    /// them if it has fewer.
    ///
    /// One pass, one draw per item after the first `amount` (reservoir
    /// sampling, Vitter's algorithm R).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut rng = threadkit::rng::Rng::with_seed(8);
    /// let sample = rng.choose_multiple(1..=100, 5);
    /// assert_eq!(sample.len(), 5);
    /// assert!(sample.iter().all(|n| (1..=100).contains(n)));
    /// assert_eq!(rng.choose_multiple(0..3, 10).len(), 3);
    /// ```
    pub fn choose_multiple<I: IntoIterator>(&mut self, iter: I, amount: usize) -> Vec<I::Item> {
        let mut iter = iter.into_iter();
        let mut reservoir: Vec<I::Item> = iter.by_ref().take(amount).collect();
        if reservoir.len() < amount {
            return reservoir;
        }
        for (seen, item) in (amount as u64 + 1..).zip(iter) {
            let slot = self.below(seen) as usize;
            if let Some(kept) = reservoir.get_mut(slot) {
                *kept = item;
            }
        }
        reservoir
    }

    /// A uniformly chosen `char` in `range` (surrogates, which are not
    /// `char`s, excluded).
    ///
    /// # Panics
    ///
    /// If the range holds no `char`, with a message saying so.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut rng = threadkit::rng::Rng::with_seed(2);
    /// let letter = rng.char('a'..='z');
    /// assert!(letter.is_ascii_lowercase());
    /// let any = rng.char(..);
    /// assert!(!(0xd800..0xe000).contains(&(any as u32)));
    /// ```
    #[track_caller]
    pub fn char(&mut self, range: impl RangeBounds<char>) -> char {
        match char_bounds(&range) {
            Some((low, high)) => sample_char(self, low, high),
            None => empty_range(),
        }
    }

    /// A uniformly chosen ASCII letter, `a`–`z` or `A`–`Z`.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = threadkit::rng::Rng::with_seed(1).alphabetic();
    /// assert!(c.is_ascii_alphabetic());
    /// ```
    #[inline]
    pub fn alphabetic(&mut self) -> char {
        self.ascii(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    }

    /// A uniformly chosen ASCII letter or digit.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut rng = threadkit::rng::Rng::with_seed(1);
    /// let token: String = (0..12).map(|_| rng.alphanumeric()).collect();
    /// assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));
    /// ```
    #[inline]
    pub fn alphanumeric(&mut self) -> char {
        self.ascii(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
    }

    /// A uniformly chosen ASCII lowercase letter.
    #[inline]
    pub fn lowercase(&mut self) -> char {
        self.ascii(b"abcdefghijklmnopqrstuvwxyz")
    }

    /// A uniformly chosen ASCII uppercase letter.
    #[inline]
    pub fn uppercase(&mut self) -> char {
        self.ascii(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    }

    /// A uniformly chosen digit of `base`: `0`–`9`, then `a`–`z`.
    ///
    /// # Panics
    ///
    /// If `base` is 0 or above 36.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut rng = threadkit::rng::Rng::with_seed(1);
    /// assert!(rng.digit(16).is_ascii_hexdigit());
    /// assert_eq!(rng.digit(1), '0');
    /// ```
    #[inline]
    #[track_caller]
    pub fn digit(&mut self, base: u32) -> char {
        assert!(
            (1..=36).contains(&base),
            "threadkit::rng: a digit's base must be 1 to 36, not {base}"
        );
        let digit = self.below_u32(base) as u8;
        char::from(if digit < 10 {
            b'0' + digit
        } else {
            b'a' + digit - 10
        })
    }

    #[inline]
    fn ascii(&mut self, chars: &[u8]) -> char {
        char::from(chars[self.below_u32(chars.len() as u32) as usize])
    }

    /// Uniform in `0..n` for `n > 0` (Lemire's method, 64-bit).
    #[inline]
    fn below(&mut self, n: u64) -> u64 {
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
    fn below_u32(&mut self, n: u32) -> u32 {
        let m = u64::from(self.u32()) * u64::from(n);
        if (m as u32) < n {
            let [s0, s1, s2, s3] = self.s;
            let (s, value) = below_u32_rare(s0, s1, s2, s3, n, m);
            self.s = s;
            return value;
        }
        (m >> 32) as u32
    }

    /// Uniform in `0..n` for `n > 0`, 128-bit (bitmask rejection: fewer than
    /// two draws of 128 bits on average).
    fn below_u128(&mut self, n: u128) -> u128 {
        let mask = u128::MAX >> (n - 1).leading_zeros().min(127);
        loop {
            let x = (u128::from(self.u64()) << 64 | u128::from(self.u64())) & mask;
            if x < n {
                return x;
            }
        }
    }

    fn u128(&mut self) -> u128 {
        u128::from(self.u64()) << 64 | u128::from(self.u64())
    }
}

/// The top 53 bits of `x` as a multiple of 2^-53 in [0, 1).
#[inline]
fn unit_f64(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The top 24 bits of `x` as a multiple of 2^-24 in [0, 1).
#[inline]
fn unit_f32(x: u64) -> f32 {
    (x >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// The loop of [`Rng::fill`] and [`fill`]. Inlined into both, so that the
/// state stays in registers between its load and its store: passed to a
/// function that is not inlined, it goes through memory on every call,
/// which measured 5 ns more per 64-byte fill (three store-to-load hops on
/// the state's path from one call to the next).
#[inline(always)]
fn fill_bytes(rng: &mut Rng, dest: &mut [u8]) {
    let mut chunks = dest.chunks_exact_mut(8);
    for chunk in &mut chunks {
        chunk.copy_from_slice(&rng.u64().to_le_bytes());
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        let bytes = rng.u64().to_le_bytes();
        rest.copy_from_slice(&bytes[..rest.len()]);
    }
}

/// The bits [`Rng::bool`] hands out from the draw `x`: its top 63 bits, above
/// a sentinel.
#[inline]
fn bool_bits(x: u64) -> u64 {
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

/// The inclusive bounds of `range`, or `None` if it is empty.
#[inline]
fn inclusive<T: RangeInt>(range: &impl RangeBounds<T>) -> Option<(T, T)> {
    let low = match range.start_bound() {
        Bound::Included(&low) => low,
        Bound::Excluded(&low) => low.checked_next()?,
        Bound::Unbounded => T::MIN,
    };
    let high = match range.end_bound() {
        Bound::Included(&high) => high,
        Bound::Excluded(&high) => high.checked_prev()?,
        Bound::Unbounded => T::MAX,
    };
    (low <= high).then_some((low, high))
}

#[cold]
#[track_caller]
fn empty_range() -> ! {
    panic!("threadkit::rng: cannot sample from an empty range (use `try_range` to get `None`)")
}

/// The first `char` after the surrogates, and how many there are.
const SURROGATES: (u32, u32) = (0xd800, 0x800);

/// The inclusive `char` bounds of `range`, or `None` if it holds no `char`.
fn char_bounds(range: &impl RangeBounds<char>) -> Option<(char, char)> {
    let low = match range.start_bound() {
        Bound::Included(&c) => c,
        Bound::Excluded(&c) if c as u32 == SURROGATES.0 - 1 => {
            char::from_u32(SURROGATES.0 + SURROGATES.1)?
        }
        Bound::Excluded(&c) => char::from_u32(c as u32 + 1)?,
        Bound::Unbounded => '\0',
    };
    let high = match range.end_bound() {
        Bound::Included(&c) => c,
        Bound::Excluded(&c) if c as u32 == SURROGATES.0 + SURROGATES.1 => {
            char::from_u32(SURROGATES.0 - 1)?
        }
        Bound::Excluded(&c) => char::from_u32((c as u32).checked_sub(1)?)?,
        Bound::Unbounded => char::MAX,
    };
    (low <= high).then_some((low, high))
}

/// A uniform `char` in `low..=high`: a uniform scalar in the range with the
/// surrogate gap closed up, then mapped back across it.
fn sample_char(rng: &mut Rng, low: char, high: char) -> char {
    let (low, high) = (low as u32, high as u32);
    let gap = if low < SURROGATES.0 && high >= SURROGATES.0 {
        SURROGATES.1
    } else {
        0
    };
    let mut scalar = u32::sample(rng, low, high - gap);
    if gap != 0 && scalar >= SURROGATES.0 {
        scalar += gap;
    }
    char::from_u32(scalar).unwrap_or('\0')
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

mod sealed {
    pub trait Sealed {}
}

/// The primitive integer types [`Rng::range`] samples: all of them.
///
/// Sealed: it cannot be implemented outside this crate.
pub trait RangeInt: Copy + PartialOrd + sealed::Sealed {
    /// The smallest value.
    const MIN: Self;
    /// The largest value.
    const MAX: Self;
    #[doc(hidden)]
    fn checked_next(self) -> Option<Self>;
    #[doc(hidden)]
    fn checked_prev(self) -> Option<Self>;
    /// A uniform value in `low..=high` (`low <= high`).
    #[doc(hidden)]
    fn sample(rng: &mut Rng, low: Self, high: Self) -> Self;
}

macro_rules! range_int {
    ($($t:ty => $unsigned:ty, $wide:ty, $below:ident, $full:ident;)*) => {$(
        impl sealed::Sealed for $t {}

        impl RangeInt for $t {
            const MIN: $t = <$t>::MIN;
            const MAX: $t = <$t>::MAX;

            #[inline]
            fn checked_next(self) -> Option<$t> {
                self.checked_add(1)
            }

            #[inline]
            fn checked_prev(self) -> Option<$t> {
                self.checked_sub(1)
            }

            #[inline]
            fn sample(rng: &mut Rng, low: $t, high: $t) -> $t {
                // Work on the unsigned distance from `low`: two's complement
                // makes this right for signed types too.
                let span = (high as $unsigned).wrapping_sub(low as $unsigned);
                if span == <$unsigned>::MAX {
                    return rng.$full() as $t;
                }
                let offset = rng.$below(span as $wide + 1) as $unsigned;
                (low as $unsigned).wrapping_add(offset) as $t
            }
        }
    )*};
}

range_int! {
    u8 => u8, u32, below_u32, u32;
    i8 => u8, u32, below_u32, u32;
    u16 => u16, u32, below_u32, u32;
    i16 => u16, u32, below_u32, u32;
    u32 => u32, u32, below_u32, u32;
    i32 => u32, u32, below_u32, u32;
    u64 => u64, u64, below, u64;
    i64 => u64, u64, below, u64;
    usize => usize, u64, below, u64;
    isize => usize, u64, below, u64;
    u128 => u128, u128, below_u128, u128;
    i128 => u128, u128, below_u128, u128;
}

mod fork;
mod local;
mod shuffle;

pub use local::{
    alphabetic, alphanumeric, bool, char, choice, choose, choose_multiple, digit, f32, f64, fill,
    fork, i32, i64, lowercase, range, seed, shuffle, try_range, u32, u64, uppercase, usize, with,
};

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
