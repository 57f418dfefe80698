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
//! independent ones (`Rng::fork`).
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
//! After `fork(2)`, the child process has a copy of every thread-local
//! generator, so the child's calling thread repeats the parent's numbers.
//! Call [`seed`] with fresh entropy in the child
//! (`rng::seed(Rng::from_entropy().u64())`) if that matters.
//!
//! # Reentrancy and teardown
//!
//! The free functions run no user code while they hold the thread's state
//! (range bounds are read first). [`with`] moves the state out, runs the
//! closure, and puts the state back when it returns or panics; a call nested
//! inside it gets an independent stream derived from the outer state, never a
//! panic. The thread's state has no destructor, so every function works
//! during thread teardown, in `thread_local!` destructors included.
//!
//! [xoshiro256++]: https://prng.di.unimi.it/

use std::cell::Cell;
use std::fmt;
use std::ops::{Bound, RangeBounds};
use std::sync::OnceLock;

use crate::sync::{AtomicU64, Ordering};

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
#[derive(Clone)]
pub struct Rng {
    s: [u64; 4],
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
        let mut sm = seed;
        Rng {
            s: [
                splitmix64(&mut sm),
                splitmix64(&mut sm),
                splitmix64(&mut sm),
                splitmix64(&mut sm),
            ],
        }
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
            Err(_) => Rng { s: thread_seed() },
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
            Rng { s }
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
            Rng { s }
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
    #[inline]
    pub fn bool(&mut self) -> bool {
        (self.u64() as i64) < 0
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
        let mut chunks = dest.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let bytes = self.u64().to_le_bytes();
            rest.copy_from_slice(&bytes[..rest.len()]);
        }
    }

    /// Shuffles `slice` in place: every permutation equally likely
    /// (Fisher–Yates, with unbiased index draws).
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
        for i in (1..slice.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            slice.swap(i, j);
        }
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

    /// Uniform in `0..n` for `n > 0` (Lemire's method, 64-bit).
    #[inline]
    fn below(&mut self, n: u64) -> u64 {
        loop {
            let m = u128::from(self.u64()) * u128::from(n);
            // `lo < n` is the only case that can be biased (probability
            // n / 2^64); the exact threshold, a division, is computed then.
            let lo = m as u64;
            if lo >= n || lo >= lemire_threshold_u64(n) {
                return (m >> 64) as u64;
            }
        }
    }

    /// Uniform in `0..n` for `n > 0` (Lemire's method, 32-bit).
    #[inline]
    fn below_u32(&mut self, n: u32) -> u32 {
        loop {
            let m = u64::from(self.u32()) * u64::from(n);
            let lo = m as u32;
            if lo >= n || lo >= lemire_threshold_u32(n) {
                return (m >> 32) as u32;
            }
        }
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

/// `2^64 mod n`: low words below it are rejected. Inline (a `div`, no call)
/// so that no register is clobbered on the hot path's account.
#[inline]
fn lemire_threshold_u64(n: u64) -> u64 {
    n.wrapping_neg() % n
}

/// `2^32 mod n`.
#[inline]
fn lemire_threshold_u32(n: u32) -> u32 {
    n.wrapping_neg() % n
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

// --- The calling thread's generator ---

thread_local! {
    // Copy data, no destructor: readable and writable at every point of the
    // thread's life, teardown included. All zero means "not seeded yet" (the
    // one state xoshiro256++ cannot be in). Four cells rather than one
    // `Cell<[u64; 4]>`: word-sized loads and stores, which the store buffer
    // forwards to the next call (a 32-byte copy made it several times
    // slower).
    static STATE: [Cell<u64>; 4] = const { [Cell::new(0), Cell::new(0), Cell::new(0), Cell::new(0)] };
}

#[inline]
fn load(state: &[Cell<u64>; 4]) -> [u64; 4] {
    [
        state[0].get(),
        state[1].get(),
        state[2].get(),
        state[3].get(),
    ]
}

#[inline]
fn store(state: &[Cell<u64>; 4], s: [u64; 4]) {
    for (cell, word) in state.iter().zip(s) {
        cell.set(word);
    }
}

/// Runs `f` on the calling thread's generator. `f` must not run user code
/// (it would see, and then overwrite, the same state).
#[inline(always)]
fn with_thread<R>(f: impl FnOnce(&mut Rng) -> R) -> R {
    // Two small `with` calls rather than one around `f`: small closures keep
    // `LocalKey::with` inlined, so the access is a direct thread-pointer
    // offset rather than a call through the key's accessor.
    let mut rng = Rng {
        s: STATE.with(load),
    };
    // Not `rng.s == [0; 4]`: that compiles to 16-byte loads of words the
    // previous call stored one by one, which the store buffer cannot forward.
    if rng.s[0] | rng.s[1] | rng.s[2] | rng.s[3] == 0 {
        rng.s = thread_seed();
    }
    let result = f(&mut rng);
    STATE.with(|state| store(state, rng.s));
    result
}

/// The process seed: 64 bits of OS entropy, read once.
static PROCESS_SEED: OnceLock<u64> = OnceLock::new();

/// How many thread generators have been seeded.
static SEEDED: AtomicU64 = AtomicU64::new(0);

/// A fresh state for a thread (or for `from_entropy` without OS entropy):
/// the process seed and a counter, mixed.
#[cold]
fn thread_seed() -> [u64; 4] {
    let process = *PROCESS_SEED.get_or_init(process_seed);
    let n = SEEDED.fetch_add(1, Ordering::Relaxed);
    Rng::with_seed(mix64(process ^ mix64(n.wrapping_add(1)))).s
}

fn process_seed() -> u64 {
    if let Ok(seed) = getrandom::u64() {
        return seed;
    }
    // The OS generator failed: the best this process has.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let local = 0u8;
    let address = std::ptr::addr_of!(local).addr() as u64;
    mix64(nanos ^ mix64(u64::from(std::process::id()) ^ mix64(address)))
}

/// A uniformly distributed `u64` from the calling thread's generator.
///
/// # Examples
///
/// ```
/// let request_id = threadkit::rng::u64();
/// # let _ = request_id;
/// ```
#[inline]
pub fn u64() -> u64 {
    with_thread(Rng::u64)
}

/// A uniformly distributed `u32` from the calling thread's generator.
#[inline]
pub fn u32() -> u32 {
    with_thread(Rng::u32)
}

/// A uniformly distributed `i64` from the calling thread's generator.
#[inline]
pub fn i64() -> i64 {
    with_thread(Rng::i64)
}

/// A uniformly distributed `i32` from the calling thread's generator.
#[inline]
pub fn i32() -> i32 {
    with_thread(Rng::i32)
}

/// A uniformly distributed `usize` from the calling thread's generator, over
/// its whole range like the other integer functions; for a range, use
/// [`range`].
///
/// # Examples
///
/// ```
/// let backends = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
/// let pick = backends[threadkit::rng::range(..backends.len())];
/// let any: usize = threadkit::rng::usize();
/// # let _ = (pick, any);
/// ```
#[inline]
pub fn usize() -> usize {
    with_thread(Rng::usize)
}

/// A uniformly distributed `f64` in [0, 1) from the calling thread's
/// generator.
#[inline]
pub fn f64() -> f64 {
    with_thread(Rng::f64)
}

/// A uniformly distributed `f32` in [0, 1) from the calling thread's
/// generator.
#[inline]
pub fn f32() -> f32 {
    with_thread(Rng::f32)
}

/// `true` or `false` with equal probability, from the calling thread's
/// generator.
#[inline]
pub fn bool() -> bool {
    with_thread(Rng::bool)
}

/// A uniformly distributed integer in `range` from the calling thread's
/// generator; see [`Rng::range`].
///
/// # Panics
///
/// If the range is empty; see [`try_range`].
///
/// # Examples
///
/// ```
/// use threadkit::rng;
///
/// let jitter_ms = rng::range(0..250u64);
/// let dice = rng::range(1..=6u8) + rng::range(1..=6u8);
/// assert!(jitter_ms < 250 && (2..=12).contains(&dice));
/// ```
#[inline]
#[track_caller]
pub fn range<T: RangeInt>(range: impl RangeBounds<T>) -> T {
    range_of(range)
}

#[inline]
#[track_caller]
fn range_of<T: RangeInt>(range: impl RangeBounds<T>) -> T {
    // Bounds first: reading them may run user code (a custom `RangeBounds`).
    match inclusive(&range) {
        Some((low, high)) => with_thread(|rng| T::sample(rng, low, high)),
        None => empty_range(),
    }
}

/// Like [`range`], but `None` for an empty range instead of a panic.
///
/// # Examples
///
/// ```
/// assert_eq!(threadkit::rng::try_range(10..0), None::<i32>);
/// ```
#[inline]
pub fn try_range<T: RangeInt>(range: impl RangeBounds<T>) -> Option<T> {
    let (low, high) = inclusive(&range)?;
    Some(with_thread(|rng| T::sample(rng, low, high)))
}

/// Fills `dest` with random bytes from the calling thread's generator (not
/// for secrets: see the [module documentation](self)).
///
/// # Examples
///
/// ```
/// let mut noise = vec![0u8; 4096];
/// threadkit::rng::fill(&mut noise);
/// ```
#[inline]
pub fn fill(dest: &mut [u8]) {
    with_thread(|rng| rng.fill(dest));
}

/// Shuffles `slice` in place with the calling thread's generator.
///
/// # Examples
///
/// ```
/// let mut order = vec![1, 2, 3, 4];
/// threadkit::rng::shuffle(&mut order);
/// order.sort();
/// assert_eq!(order, [1, 2, 3, 4]);
/// ```
#[inline]
pub fn shuffle<T>(slice: &mut [T]) {
    // Swapping runs no user code.
    with_thread(|rng| rng.shuffle(slice));
}

/// A uniformly chosen element of `slice`, or `None` if it is empty.
///
/// # Examples
///
/// ```
/// let colours = ["red", "green"];
/// assert!(threadkit::rng::choose(&colours).is_some());
/// ```
#[inline]
pub fn choose<T>(slice: &[T]) -> Option<&T> {
    if slice.is_empty() {
        return None;
    }
    slice.get(with_thread(|rng| rng.below(slice.len() as u64)) as usize)
}

/// Seeds the calling thread's generator: from here on its sequence is the
/// one of [`Rng::with_seed(seed)`](Rng::with_seed).
///
/// Other threads are not affected.
///
/// # Examples
///
/// ```
/// use threadkit::rng;
///
/// rng::seed(7);
/// let first = (rng::u64(), rng::range(0..10u8));
/// rng::seed(7);
/// assert_eq!((rng::u64(), rng::range(0..10u8)), first);
/// ```
pub fn seed(seed: u64) {
    STATE.with(|state| store(state, Rng::with_seed(seed).s));
}

/// A new generator with its own stream, forked from the calling thread's.
///
/// # Examples
///
/// ```
/// let mut mine = threadkit::rng::fork();
/// let _ = mine.f64();
/// ```
#[must_use]
pub fn fork() -> Rng {
    with_thread(Rng::fork)
}

/// Runs `f` with the calling thread's generator, for many draws in a row or
/// for an API that takes a `&mut Rng`.
///
/// The state is moved out for the call and put back when `f` returns or
/// panics. A `with` (or any other `rng` function) called inside `f` uses an
/// independent stream derived from the outer state, so it neither panics nor
/// repeats the outer call's numbers; its draws do not advance the outer
/// stream.
///
/// # Examples
///
/// ```
/// use threadkit::rng;
///
/// let walk: i64 = rng::with(|r| (0..1000).map(|_| if r.bool() { 1 } else { -1 }).sum());
/// assert!((-1000..=1000).contains(&walk));
/// ```
pub fn with<R>(f: impl FnOnce(&mut Rng) -> R) -> R {
    let mut guard = STATE.with(|state| {
        let mut outer = Rng { s: load(state) };
        if outer.s == [0; 4] {
            outer.s = thread_seed();
        }
        // What nested calls see while `f` runs: the outer state, mixed. Never
        // all zero but with probability 2^-256; then it would be reseeded.
        store(state, outer.s.map(|word| mix64(word ^ GOLDEN_GAMMA)));
        Restore { rng: outer }
    });
    f(&mut guard.rng)
}

/// Puts the outer generator back into the thread's state.
struct Restore {
    rng: Rng,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let s = self.rng.s;
        STATE.with(|state| store(state, s));
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
        let mut rng = Rng { s: [1, 2, 3, 4] };
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
