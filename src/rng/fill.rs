//! [`Rng::fill`] and [`fill`](fn@super::fill): short fills one draw per
//! eight bytes, long ones through the eight lanes of `lanes.rs`.
//!
//! A fill of [`LANES_MIN`] bytes or more takes four draws from the
//! generator and writes the output of the lanes they seed (see `lanes.rs`:
//! bytes `8k..8k + 8` are the `k / 8`th output of lane `k mod 8`,
//! little-endian). The generator itself advances by the four draws,
//! whatever the length.
//!
//! # Where the switch is
//!
//! Measured on an AMD EPYC VM (fastest of 15 interleaved rounds): a scalar
//! fill takes 0.107 ns a byte (109 ns for 1 KiB); the AVX2 lanes take
//! 0.035 ns a byte plus about 28 ns for the four draws, the expansion and
//! the call (64 ns for 1 KiB, 37 µs for 1 MiB); they win from about 400
//! bytes. The portable path takes about a scalar fill's time per byte plus
//! about 55 ns (163 ns for 1 KiB, 1.03× a scalar fill at 1 MiB). One switch
//! for every CPU, since the bytes must not depend on it: [`LANES_MIN`] is
//! 1 KiB, a clear win with SIMD, at most 1.5× a scalar fill without.

use super::generator::Rng;
use super::lanes;

/// Fills of at least this many bytes go through the lanes.
pub(super) const LANES_MIN: usize = 1024;

impl Rng {
    /// Fills `dest` with random bytes.
    ///
    /// Fills shorter than 1 KiB take one draw per eight bytes; longer ones
    /// take four draws and run eight xoshiro256++ streams seeded from them
    /// side by side, with SIMD where the CPU has it. The bytes depend only on
    /// the generator's state and the length, never on the CPU. See the
    /// [module documentation](super#fill).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut key = [0u8; 16];
    /// threadkit::rng::Rng::with_seed(1).fill(&mut key);
    /// assert_ne!(key, [0; 16]);
    ///
    /// let mut page = vec![0u8; 4096];
    /// threadkit::rng::Rng::with_seed(1).fill(&mut page);
    /// assert!(page.iter().any(|&b| b != 0));
    /// ```
    pub fn fill(&mut self, dest: &mut [u8]) {
        // A local copy: the state stays in registers for the whole loop.
        let mut rng = Rng::from_state(self.s);
        fill_bytes(&mut rng, dest);
        self.s = rng.s;
    }
}

/// The body of [`Rng::fill`] and [`fill`](fn@super::fill). Inlined into
/// both, so that the state stays in registers between its load and its
/// store: passed to a function that is not inlined, it goes through memory
/// on every call, which measured 5 ns more per 64-byte fill (three
/// store-to-load hops on the state's path from one call to the next). The
/// lanes are out of line and get their four draws by value.
#[inline(always)]
pub(super) fn fill_bytes(rng: &mut Rng, dest: &mut [u8]) {
    if dest.len() >= LANES_MIN {
        let d = [rng.u64(), rng.u64(), rng.u64(), rng.u64()];
        lanes::fill(d, dest);
        return;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_fill_is_the_lanes_of_four_draws() {
        let mut rng = Rng::with_seed(3);
        let mut long = vec![0u8; LANES_MIN * 3 + 5];
        rng.fill(&mut long);
        let mut reference = Rng::with_seed(3);
        let d = [
            reference.u64(),
            reference.u64(),
            reference.u64(),
            reference.u64(),
        ];
        assert_eq!(rng, reference);
        let mut expected = vec![0u8; long.len()];
        lanes::fill(d, &mut expected);
        assert_eq!(long, expected);
    }

    #[test]
    fn a_short_fill_is_the_scalar_stream() {
        let mut rng = Rng::with_seed(4);
        let mut short = vec![0u8; LANES_MIN - 1];
        rng.fill(&mut short);
        let mut reference = Rng::with_seed(4);
        let expected: Vec<u8> = (0..LANES_MIN.div_ceil(8))
            .flat_map(|_| reference.u64().to_le_bytes())
            .take(short.len())
            .collect();
        assert_eq!(short, expected);
        assert_eq!(rng, reference);
    }
}
