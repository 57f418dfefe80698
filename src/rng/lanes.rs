//! Eight xoshiro256++ generators run side by side, with SIMD where the CPU
//! has it: the engine of long fills ([`fill`]) and of the calling thread's
//! block of single draws ([`refill`]).
//!
//! # The lanes
//!
//! Four draws `d` from a generator expand into eight xoshiro256++ states
//! ([`expand`]): word `j` of lane `i` is `mix64(d[j] + (i + 1) · γ)`, the
//! `i + 1`th SplitMix64 output from `d[j]`, so the lanes' states are as
//! unrelated as SplitMix64's consecutive outputs (the expansion the xoshiro
//! authors recommend for seeding). One step of the lanes gives eight words,
//! lane 0's first; written as bytes, each word is little-endian. So word
//! `k` of the lanes' output is the `k / 8`th output of lane `k mod 8`.
//!
//! # The paths
//!
//! - x86_64 with AVX2 (detected at run time): each state word in two
//!   256-bit registers of four lanes, written with the intrinsics (the
//!   compiler's vectoriser left half of the rotates scalar).
//! - aarch64 (NEON is part of the target): each word in four 128-bit
//!   registers of two lanes; a rotate is a shift and a shift-and-insert.
//! - Elsewhere, and under Miri: scalar code, one lane at a time across a
//!   16 KiB stretch, about as fast as one generator (eight lanes at once
//!   need 32 registers for the state: spilled, or mixed into vector
//!   registers by the compiler, they ran at half that speed).
//!
//! Integer arithmetic has one answer, so every path writes the same bytes
//! for the same state: the unit tests check each path this CPU has against
//! a scalar model of the lanes, and `tests/rng.rs` pins bytes that every CI
//! target (x86_64, aarch64 under QEMU, Windows under Wine) must write.
//!
//! AVX-512 was measured (the portable loop compiled for it vectorises whole,
//! with a rotate instruction): a 1 MiB fill in 0.26× fastrand's time
//! against AVX2's 0.34×. Its target features need Rust 1.89, above the
//! crate's minimum (1.85); it is left out until the minimum moves.

use super::generator::{mix64, Rng, GOLDEN_GAMMA};

/// How many generators run side by side: two AVX2 registers, or four NEON
/// registers, per state word.
pub(super) const LANES: usize = 8;

/// The bytes of one step of the lanes.
const STEP: usize = 8 * LANES;

/// The words [`refill`] writes: eight steps.
pub(super) const BLOCK: usize = 64;

/// The lanes' states, word by word: `s[j][i]` is word `j` of lane `i`.
pub(super) type Lanes = [[u64; LANES]; 4];

/// Eight lanes from four draws; see the module documentation.
#[inline(always)]
pub(super) fn expand(d: [u64; 4]) -> Lanes {
    let mut s = [[0; LANES]; 4];
    for (words, seed) in s.iter_mut().zip(d) {
        for (i, word) in words.iter_mut().enumerate() {
            *word = mix64(seed.wrapping_add(GOLDEN_GAMMA.wrapping_mul(i as u64 + 1)));
        }
    }
    // All four words of a lane zero (the one state xoshiro cannot leave)
    // needs four chosen outputs of a bijection: probability 2^-256. Made
    // impossible all the same, the same way on every CPU.
    let zero: [bool; LANES] = std::array::from_fn(|i| s.iter().all(|words| words[i] == 0));
    for (word, zero) in s[0].iter_mut().zip(zero) {
        if zero {
            *word = GOLDEN_GAMMA;
        }
    }
    s
}

/// Fills `dest` from the lanes seeded by `d`; a last partial step writes its
/// first bytes.
#[inline(never)]
pub(super) fn fill(d: [u64; 4], dest: &mut [u8]) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked on the line above.
            return unsafe { x86::fill_avx2(d, dest) };
        }
    }
    fill_with(&mut expand(d), dest, run_baseline);
}

/// Writes the next [`BLOCK`] words of `lanes` to `block`.
#[inline(never)]
pub(super) fn refill(lanes: &mut Lanes, block: &mut [u64; BLOCK]) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked on the line above; `block`
            // has room for BLOCK / LANES steps. x86_64 is little-endian, so
            // an output written as bytes is the word itself.
            return unsafe { x86::run_avx2(lanes, block.as_mut_ptr().cast(), BLOCK / LANES) };
        }
    }
    #[cfg(all(target_arch = "aarch64", target_endian = "little", not(miri)))]
    // SAFETY: as above; the `cfg` makes it little-endian.
    return unsafe { arm::run_neon(lanes, block.as_mut_ptr().cast(), BLOCK / LANES) };
    #[allow(unreachable_code)]
    run_portable(lanes, BLOCK / LANES, |k, word| block[k] = word);
}

/// `dest` from `lanes` through `run`: whole steps, then a partial one.
#[inline(always)]
fn fill_with(lanes: &mut Lanes, dest: &mut [u8], run: impl Fn(&mut Lanes, &mut [u8])) {
    let whole = dest.len() / STEP * STEP;
    let (steps, rest) = dest.split_at_mut(whole);
    run(lanes, steps);
    if !rest.is_empty() {
        let mut step = [0u8; STEP];
        run(lanes, &mut step);
        rest.copy_from_slice(&step[..rest.len()]);
    }
}

/// Writes `out.len() / 64` steps of `lanes` to `out` without AVX2: NEON on
/// aarch64, scalar elsewhere.
#[inline(always)]
fn run_baseline(lanes: &mut Lanes, out: &mut [u8]) {
    let steps = out.len() / STEP;
    #[cfg(all(target_arch = "aarch64", target_endian = "little", not(miri)))]
    // SAFETY: `out` has room for `steps` steps.
    return unsafe { arm::run_neon(lanes, out.as_mut_ptr(), steps) };
    #[allow(unreachable_code)]
    run_portable(lanes, steps, |k, word| {
        out[8 * k..8 * k + 8].copy_from_slice(&word.to_le_bytes());
    });
}

/// The lanes with AVX2.
#[cfg(all(target_arch = "x86_64", not(miri)))]
mod x86 {
    use std::arch::x86_64::{
        __m256i, _mm256_add_epi64, _mm256_loadu_si256, _mm256_or_si256, _mm256_slli_epi64,
        _mm256_srli_epi64, _mm256_storeu_si256, _mm256_xor_si256,
    };

    use super::{expand, fill_with, Lanes, STEP};

    /// `x` rotated left by `n` bits in each 64-bit word.
    macro_rules! rotate {
        ($x:expr, $n:literal) => {
            _mm256_or_si256(
                _mm256_slli_epi64::<$n>($x),
                _mm256_srli_epi64::<{ 64 - $n }>($x),
            )
        };
    }

    /// [`fill`](super::fill) with AVX2, the expansion included (its
    /// multiplies in AVX2's registers: 28 ns less per fill than with
    /// SSE2's).
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn fill_avx2(d: [u64; 4], dest: &mut [u8]) {
        fill_with(&mut expand(d), dest, |lanes, out| {
            // SAFETY: the caller guarantees AVX2; `out` has room for its
            // whole steps.
            unsafe { run_avx2(lanes, out.as_mut_ptr(), out.len() / STEP) }
        });
    }

    /// Writes `steps` steps of `lanes` to `out` and advances them: each
    /// state word in two registers of four lanes.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2, and `out` must be valid for writes of
    /// `64 * steps` bytes.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) unsafe fn run_avx2(lanes: &mut Lanes, out: *mut u8, steps: usize) {
        // Rust before 1.87 has the arithmetic intrinsics as `unsafe fn`s;
        // from 1.87 only the loads and stores are.
        #[allow(unused_unsafe)]
        // SAFETY: the intrinsics need AVX2, which the caller guarantees.
        // Each load reads, and each store of the state writes, 32 bytes at
        // word 0 or 4 of a `[u64; 8]`; each store of an output writes 32
        // bytes at byte `64 * step + 32 * h` of `out`, below `64 * steps`,
        // which the caller guarantees writable. Unaligned loads and stores
        // all.
        unsafe {
            // Macros, not closures: the intrinsics inline only into code
            // compiled with AVX2.
            macro_rules! load {
                ($words:expr) => {
                    [0, 1].map(|half| -> __m256i {
                        _mm256_loadu_si256($words.as_ptr().add(4 * half).cast())
                    })
                };
            }
            let [mut s0, mut s1, mut s2, mut s3] = [
                load!(lanes[0]),
                load!(lanes[1]),
                load!(lanes[2]),
                load!(lanes[3]),
            ];
            for step in 0..steps {
                let out = out.add(STEP * step);
                for h in 0..2 {
                    let result =
                        _mm256_add_epi64(rotate!(_mm256_add_epi64(s0[h], s3[h]), 23), s0[h]);
                    let t = _mm256_slli_epi64::<17>(s1[h]);
                    s2[h] = _mm256_xor_si256(s2[h], s0[h]);
                    s3[h] = _mm256_xor_si256(s3[h], s1[h]);
                    s1[h] = _mm256_xor_si256(s1[h], s2[h]);
                    s0[h] = _mm256_xor_si256(s0[h], s3[h]);
                    s2[h] = _mm256_xor_si256(s2[h], t);
                    s3[h] = rotate!(s3[h], 45);
                    _mm256_storeu_si256(out.add(32 * h).cast(), result);
                }
            }
            for (words, state) in lanes.iter_mut().zip([s0, s1, s2, s3]) {
                for (half, v) in state.into_iter().enumerate() {
                    _mm256_storeu_si256(words.as_mut_ptr().add(4 * half).cast(), v);
                }
            }
        }
    }
}

/// The lanes with NEON.
#[cfg(all(target_arch = "aarch64", target_endian = "little", not(miri)))]
mod arm {
    use std::arch::aarch64::{
        uint64x2_t, vaddq_u64, veorq_u64, vld1q_u64, vreinterpretq_u8_u64, vshlq_n_u64,
        vsriq_n_u64, vst1q_u64, vst1q_u8,
    };

    use super::{Lanes, LANES, STEP};

    /// `x` rotated left by `n` bits in each 64-bit word: shifted left, then
    /// the bits shifted out inserted at the bottom.
    macro_rules! rotate {
        ($x:expr, $n:literal) => {
            vsriq_n_u64::<{ 64 - $n }>(vshlq_n_u64::<$n>($x), $x)
        };
    }

    /// Writes `steps` steps of `lanes` to `out` and advances them: each
    /// state word in four registers of two lanes.
    ///
    /// # Safety
    ///
    /// `out` must be valid for writes of `64 * steps` bytes.
    pub(super) unsafe fn run_neon(lanes: &mut Lanes, out: *mut u8, steps: usize) {
        // Rust before 1.87 has the arithmetic intrinsics as `unsafe fn`s;
        // from 1.87 only the loads and stores are.
        #[allow(unused_unsafe)]
        // SAFETY: NEON is part of every aarch64 target std supports
        // (`target_feature = "neon"` is on by default). Each load reads, and
        // each store of the state writes, 16 bytes at an even word of a
        // `[u64; 8]`; each store of an output writes 16 bytes at byte
        // `64 * step + 16 * q` of `out`, below `64 * steps`, which the
        // caller guarantees writable. Little-endian (the `cfg`):
        // a register's first lane is stored first, as `to_le_bytes` would
        // write it.
        unsafe {
            let load = |words: &[u64; LANES]| -> [uint64x2_t; 4] {
                [0, 1, 2, 3].map(|q| vld1q_u64(words.as_ptr().add(2 * q)))
            };
            let [mut s0, mut s1, mut s2, mut s3] = [
                load(&lanes[0]),
                load(&lanes[1]),
                load(&lanes[2]),
                load(&lanes[3]),
            ];
            for step in 0..steps {
                let out = out.add(STEP * step);
                for q in 0..4 {
                    let result = vaddq_u64(rotate!(vaddq_u64(s0[q], s3[q]), 23), s0[q]);
                    let t = vshlq_n_u64::<17>(s1[q]);
                    s2[q] = veorq_u64(s2[q], s0[q]);
                    s3[q] = veorq_u64(s3[q], s1[q]);
                    s1[q] = veorq_u64(s1[q], s2[q]);
                    s0[q] = veorq_u64(s0[q], s3[q]);
                    s2[q] = veorq_u64(s2[q], t);
                    s3[q] = rotate!(s3[q], 45);
                    vst1q_u8(out.add(16 * q), vreinterpretq_u8_u64(result));
                }
            }
            for (words, state) in lanes.iter_mut().zip([s0, s1, s2, s3]) {
                for (q, v) in state.into_iter().enumerate() {
                    vst1q_u64(words.as_mut_ptr().add(2 * q), v);
                }
            }
        }
    }
}

/// How many bytes the portable path fills one lane at a time before it
/// moves to the next stretch: short enough to stay in the L1 cache for the
/// eight passes.
const STRETCH: usize = 16 * 1024;

/// `steps` steps of `lanes` without SIMD, word `k` of them given to `put`:
/// across each 16 KiB stretch, one lane at a time (its four state words in
/// registers, as in a scalar fill).
#[cfg_attr(
    all(target_arch = "aarch64", target_endian = "little", not(miri)),
    allow(dead_code)
)]
#[inline(always)]
fn run_portable(lanes: &mut Lanes, steps: usize, mut put: impl FnMut(usize, u64)) {
    let stretch = STRETCH / STEP;
    for first in (0..steps).step_by(stretch) {
        let last = steps.min(first + stretch);
        for i in 0..LANES {
            let mut lane = Rng::from_state([lanes[0][i], lanes[1][i], lanes[2][i], lanes[3][i]]);
            for step in first..last {
                put(LANES * step + i, lane.u64());
            }
            for (words, word) in lanes.iter_mut().zip(lane.s) {
                words[i] = word;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the lanes must write: the model of the module documentation,
    /// eight scalar generators taking turns.
    fn model(d: [u64; 4], len: usize) -> Vec<u8> {
        let s = expand(d);
        let mut lanes: Vec<Rng> = (0..LANES)
            .map(|i| Rng::from_state([s[0][i], s[1][i], s[2][i], s[3][i]]))
            .collect();
        let mut bytes = Vec::new();
        for k in 0..len.div_ceil(8) {
            bytes.extend_from_slice(&lanes[k % LANES].u64().to_le_bytes());
        }
        bytes.truncate(len);
        bytes
    }

    /// Around a step, a block and a portable stretch; under Miri fewer.
    const LENGTHS: &[usize] = if cfg!(miri) {
        &[0, 1, 63, 64, 65, 8 * BLOCK + 7]
    } else {
        &[
            0,
            1,
            63,
            64,
            65,
            1023,
            1024,
            4096 + 7,
            STRETCH,
            3 * STRETCH + 100,
        ]
    };

    const SEEDS: [[u64; 4]; 3] = [
        [1, 2, 3, 4],
        [7, 0xdead_beef, u64::MAX, 1 << 63],
        [0, 0, 0, 0],
    ];

    /// `run`, one path of it, as a fill: whole steps, then a partial one,
    /// then the lanes' state checked against the model's next step.
    fn check(path: &str, run: impl Fn(&mut Lanes, &mut [u8])) {
        for d in SEEDS {
            for &len in LENGTHS {
                let mut bytes = vec![0u8; len];
                let mut lanes = expand(d);
                fill_with(&mut lanes, &mut bytes, &run);
                assert_eq!(bytes, model(d, len), "{path}, {len} bytes");
                // The lanes advanced by every step written, the partial one
                // included: their next step is the model's.
                let mut next = [0u8; STEP];
                run(&mut lanes, &mut next);
                let steps = len.div_ceil(STEP);
                assert_eq!(
                    next[..],
                    model(d, (steps + 1) * STEP)[steps * STEP..],
                    "{path}, {len} bytes, the step after"
                );
            }
        }
    }

    #[test]
    fn the_portable_path_writes_the_model() {
        check("portable", |lanes, out| {
            run_portable(lanes, out.len() / STEP, |k, word| {
                out[8 * k..8 * k + 8].copy_from_slice(&word.to_le_bytes());
            });
        });
    }

    #[test]
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    fn the_avx2_path_writes_the_model() {
        if !std::is_x86_feature_detected!("avx2") {
            println!("no AVX2 on this CPU: nothing to check");
            return;
        }
        // SAFETY: AVX2 checked above; `out` has room for its whole steps.
        check("AVX2", |lanes, out| unsafe {
            x86::run_avx2(lanes, out.as_mut_ptr(), out.len() / STEP)
        });
        for d in SEEDS {
            for &len in LENGTHS {
                let mut bytes = vec![0u8; len];
                // SAFETY: AVX2 checked above.
                unsafe { x86::fill_avx2(d, &mut bytes) };
                assert_eq!(bytes, model(d, len), "fill_avx2, {len} bytes");
            }
        }
    }

    #[test]
    #[cfg(all(target_arch = "aarch64", target_endian = "little", not(miri)))]
    fn the_neon_path_writes_the_model() {
        // SAFETY: `out` has room for its whole steps.
        check("NEON", |lanes, out| unsafe {
            arm::run_neon(lanes, out.as_mut_ptr(), out.len() / STEP)
        });
    }

    #[test]
    fn fill_and_refill_write_the_model() {
        let d = SEEDS[1];
        let mut bytes = vec![0u8; 3 * STEP + 5];
        fill(d, &mut bytes);
        assert_eq!(bytes, model(d, bytes.len()));
        let mut lanes = expand(d);
        let mut blocks = [[0; BLOCK]; 2];
        for block in &mut blocks {
            refill(&mut lanes, block);
        }
        let words: Vec<u8> = blocks
            .iter()
            .flatten()
            .flat_map(|word| word.to_le_bytes())
            .collect();
        assert_eq!(words, model(d, 16 * BLOCK));
    }

    #[test]
    fn the_lanes_are_distinct_states() {
        for d in SEEDS {
            let s = expand(d);
            let lanes: Vec<[u64; 4]> = (0..LANES)
                .map(|i| [s[0][i], s[1][i], s[2][i], s[3][i]])
                .collect();
            for (i, lane) in lanes.iter().enumerate() {
                assert_ne!(*lane, [0; 4]);
                assert!(!lanes[i + 1..].contains(lane));
            }
        }
    }
}
