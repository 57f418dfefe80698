//! What [`Rng`] samples beyond raw words: integers in a range (and the
//! [`RangeInt`] types), shuffles, choices and characters.

use std::ops::{Bound, RangeBounds};

use super::batched;
use super::generator::Rng;

impl Rng {
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
        batched::shuffle(&mut rng, slice);
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
    /// let word = rng.choose_iter("alpha beta gamma".split(' ')).unwrap();
    /// assert!(["alpha", "beta", "gamma"].contains(&word));
    /// assert!((0..10).contains(&rng.choose_iter(0..10).unwrap()));
    /// assert_eq!(rng.choose_iter(std::iter::empty::<u8>()), None);
    /// ```
    pub fn choose_iter<I: IntoIterator>(&mut self, iter: I) -> Option<I::Item> {
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
        self.ascii(ALPHABETIC)
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
        self.ascii(ALPHANUMERIC)
    }

    /// A uniformly chosen ASCII lowercase letter.
    #[inline]
    pub fn lowercase(&mut self) -> char {
        self.ascii(LOWERCASE)
    }

    /// A uniformly chosen ASCII uppercase letter.
    #[inline]
    pub fn uppercase(&mut self) -> char {
        self.ascii(UPPERCASE)
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
        digit(self, base)
    }

    #[inline]
    fn ascii(&mut self, chars: &[u8]) -> char {
        ascii(self, chars)
    }
}

/// The letters [`Rng::alphabetic`] chooses from.
pub(super) const ALPHABETIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// The letters and digits [`Rng::alphanumeric`] chooses from.
pub(super) const ALPHANUMERIC: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// The letters [`Rng::lowercase`] chooses from.
pub(super) const LOWERCASE: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
/// The letters [`Rng::uppercase`] chooses from.
pub(super) const UPPERCASE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// A uniformly chosen byte of `chars` (not empty, ASCII) as a `char`.
#[inline]
pub(super) fn ascii<D: Draw>(rng: &mut D, chars: &[u8]) -> char {
    char::from(chars[rng.below_u32(chars.len() as u32) as usize])
}

/// A uniformly chosen digit of `base` (1 to 36, checked by the caller).
#[inline]
pub(super) fn digit<D: Draw>(rng: &mut D, base: u32) -> char {
    let digit = rng.below_u32(base) as u8;
    char::from(if digit < 10 {
        b'0' + digit
    } else {
        b'a' + digit - 10
    })
}

/// The inclusive bounds of `range`, or `None` if it is empty.
#[inline]
pub(super) fn inclusive<T: RangeInt>(range: &impl RangeBounds<T>) -> Option<(T, T)> {
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
pub(super) fn empty_range() -> ! {
    panic!("threadkit::rng: cannot sample from an empty range (use `try_range` to get `None`)")
}

/// The first `char` after the surrogates, and how many there are.
const SURROGATES: (u32, u32) = (0xd800, 0x800);

/// The inclusive `char` bounds of `range`, or `None` if it holds no `char`.
pub(super) fn char_bounds(range: &impl RangeBounds<char>) -> Option<(char, char)> {
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
pub(super) fn sample_char<D: Draw>(rng: &mut D, low: char, high: char) -> char {
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

mod sealed {
    pub trait Sealed {}

    /// A source of uniformly distributed words: an owned [`Rng`](super::Rng),
    /// or the calling thread's generator, whose single draws come from a
    /// block (`local.rs`). What the samplers of this file take, so the two
    /// sample alike.
    pub trait Draw {
        /// The next word.
        fn u64(&mut self) -> u64;

        /// The upper half of the next word.
        #[inline]
        fn u32(&mut self) -> u32 {
            (self.u64() >> 32) as u32
        }

        /// Uniform in `0..n` for `n > 0` (Lemire's method, 64-bit).
        #[inline]
        fn below(&mut self, n: u64) -> u64 {
            let m = u128::from(self.u64()) * u128::from(n);
            // `lo < n` is the only case that can be biased (probability
            // n / 2^64): then the exact threshold, a division, out of line.
            if (m as u64) < n {
                return super::below_rare(self, n, m);
            }
            (m >> 64) as u64
        }

        /// Uniform in `0..n` for `n > 0` (Lemire's method, 32-bit).
        #[inline]
        fn below_u32(&mut self, n: u32) -> u32 {
            let m = u64::from(self.u32()) * u64::from(n);
            if (m as u32) < n {
                return super::below_u32_rare(self, n, m);
            }
            (m >> 32) as u32
        }

        /// Uniform in `0..n` for `n > 0`, 128-bit (bitmask rejection: fewer
        /// than two draws of 128 bits on average).
        fn below_u128(&mut self, n: u128) -> u128 {
            let mask = u128::MAX >> (n - 1).leading_zeros().min(127);
            loop {
                let x = self.u128() & mask;
                if x < n {
                    return x;
                }
            }
        }

        /// Two words, the first the upper half.
        fn u128(&mut self) -> u128 {
            u128::from(self.u64()) << 64 | u128::from(self.u64())
        }
    }
}

pub(super) use sealed::Draw;

/// An owned generator's draws, with its own `below`s: their rare paths take
/// the state by value (see `below_rare` in `generator.rs`).
impl Draw for Rng {
    #[inline]
    fn u64(&mut self) -> u64 {
        Rng::u64(self)
    }

    #[inline]
    fn below(&mut self, n: u64) -> u64 {
        Rng::below(self, n)
    }

    #[inline]
    fn below_u32(&mut self, n: u32) -> u32 {
        Rng::below_u32(self, n)
    }
}

/// The rest of [`Draw::below`] when the first draw's low word is below `n`:
/// reject below `2^64 mod n` and draw again.
#[cold]
#[inline(never)]
fn below_rare<D: Draw + ?Sized>(draw: &mut D, n: u64, mut m: u128) -> u64 {
    let threshold = n.wrapping_neg() % n;
    while (m as u64) < threshold {
        m = u128::from(draw.u64()) * u128::from(n);
    }
    (m >> 64) as u64
}

/// [`below_rare`] for [`Draw::below_u32`].
#[cold]
#[inline(never)]
fn below_u32_rare<D: Draw + ?Sized>(draw: &mut D, n: u32, mut m: u64) -> u32 {
    let threshold = n.wrapping_neg() % n;
    while (m as u32) < threshold {
        m = u64::from(draw.u32()) * u64::from(n);
    }
    (m >> 32) as u32
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
    fn sample<D: sealed::Draw>(rng: &mut D, low: Self, high: Self) -> Self;
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
            fn sample<D: Draw>(rng: &mut D, low: $t, high: $t) -> $t {
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
