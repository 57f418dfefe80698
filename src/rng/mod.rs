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
//! reference count; a single draw is an index, a word and the index stored
//! back (see [Single draws](#single-draws)). [`Rng`] is the same
//! generator as a value, for reproducible streams (`Rng::with_seed`) or
//! independent ones (`Rng::new`, `Rng::fork`). Beside numbers, both offer
//! what `fastrand` users look for: [`char()`], [`alphabetic`],
//! [`alphanumeric`], [`lowercase`], [`uppercase`], [`digit`], and
//! [`choose_iter`] (fastrand's `choice`) and [`choose_multiple`] from any
//! iterator, beside [`choose`] from a slice.
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
//! bits of state and fails a 64-bit collision test (wyhash issue #130;
//! fastrand issue #128, where a 192-bit replacement is proposed). A wyrand
//! draw is a multiply and an add with nothing to load but one word, so an
//! owned `fastrand::Rng` in a register beats an owned [`Rng`] on raw `u64`s;
//! the crate keeps xoshiro256++ for a stream that passes.
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
//! the child has) reseed on its next draw: its state, its lanes, `bool`'s
//! cached bits and the block of single draws, whose words the parent may
//! still hand out, are all discarded.
//! A thread whose stream was chosen with [`seed`] keeps it in the child:
//! a reproducible run stays reproducible. An owned [`Rng`] is a value and is
//! copied as it is. The draws pay nothing for this. (Under Miri, which has
//! no `fork`, the handler is not registered.)
//!
//! # Single draws
//!
//! A thread's single draws ([`u64()`], [`u32()`], [`f64()`], [`range`],
//! [`choose`], [`char()`] and the letters, [`bool()`] once per 63 calls, and
//! [`fill`](fn@fill) shorter than 1 KiB) take the next word of a per-thread
//! block of 64, which eight xoshiro256++ lanes refill with SIMD (AVX2 when
//! the CPU has it, NEON on aarch64; see [`Rng::fill`]). The draw is an
//! index load, a comparison, a load and a store, seven instructions at a
//! call site; the four words of the xoshiro256++ state, which a loop of
//! draws would otherwise load and store around every draw, are touched once
//! per block. The lanes are seeded on the thread's first single draw from
//! four draws of its state. The block and the lanes take 768 bytes of each
//! thread's thread-local storage.
//!
//! A thread given [`seed`] fills its block with its state's next 16
//! outputs instead, so that its sequence stays `Rng::with_seed`'s: a
//! function that uses the state ([`fill`](fn@fill) of 1 KiB or more,
//! [`shuffle`](fn@shuffle), [`fork`](fn@fork), [`with`]) first steps it past
//! the words taken (at most 16 steps). In a summing loop its draws cost
//! about twice an owned [`Rng`]'s (benches/README.md): for reproducible
//! speed, draw from an owned `Rng`, or inside [`with`].
//!
//! # Fill
//!
//! [`Rng::fill`] and [`fill`](fn@fill) of 1 KiB or more take four draws and
//! run eight xoshiro256++ lanes seeded from them, with SIMD where the CPU
//! has it; the bytes depend on the state and the length only, never on the
//! CPU. Shorter fills take one draw per eight bytes (on an unseeded thread,
//! from the block).
//!
//! # Streams and their changes
//!
//! `Rng::with_seed(s)` and a thread after `rng::seed(s)` produce the same
//! sequence for every operation, on every platform (`tests/rng.rs` pins
//! values). 0.5 changed two streams: fills of 1 KiB or more come from the
//! lanes (a seed gives other bytes than in 0.4; shorter fills are
//! unchanged), and an unseeded thread's single draws come from the block
//! (no seed reproduces those). 0.3 changed two: [`shuffle`](fn@shuffle)
//! draws its indices in batches (see [`Rng::shuffle`]), and [`bool()`] hands
//! out 63 bits of one draw before drawing again.
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

mod batched;
mod fill;
mod generator;
mod lanes;
mod local;
mod sample;

pub use generator::Rng;
pub use sample::RangeInt;

pub use local::{
    alphabetic, alphanumeric, bool, char, choose, choose_iter, choose_multiple, digit, f32, f64,
    fill, fork, i32, i64, lowercase, range, seed, shuffle, try_range, u32, u64, uppercase, usize,
    with,
};
