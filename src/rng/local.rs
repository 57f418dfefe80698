//! The calling thread's generator, behind the free functions of [`rng`](super).
//!
//! The state lives in a `const`-initialised thread-local with nothing to
//! drop, so it can be read and written at every point of the thread's life,
//! teardown included. (Where std keeps thread-locals behind OS keys, as on
//! `x86_64-pc-windows-gnu`, std destroys it with the rest; a use after that
//! starts from its initial state and seeds a new stream.)
//!
//! # Two parts
//!
//! - The xoshiro256++ state, which the functions that take many draws at
//!   once use in registers: `fill`, `shuffle`, `fork`, `with` and what
//!   runs inside it. A flag says whether it has been seeded; it is tested
//!   before the state is read, and a cold call seeds it.
//! - A block of 64 words for the single draws (`u64`, `f64`, `range`,
//!   `bool`'s refills, `choose`…), written by the eight lanes of
//!   `lanes.rs`, whose state the thread keeps. A single draw loads an
//!   index, compares it, loads the word and stores the index plus one: the
//!   four state words, which a loop of draws would otherwise load and store
//!   on every draw (the caller's loop holds a call the compiler cannot see
//!   into, so they stay in memory), are touched once per 64 draws.
//!
//! A thread given [`seed`] fills its block's last 16 words with its state's
//! next outputs instead, so that its sequence is `Rng::with_seed`'s for
//! every mix of operations: a function that uses the state first steps it
//! past the words the single draws took (at most 16 steps) and empties the
//! block. A child process after `fork` discards the block it inherited from
//! an unseeded thread (see the module documentation).

use std::cell::Cell;
use std::ops::RangeBounds;

use super::fill::{fill_bytes, LANES_MIN};
use super::generator::{bool_bits, mix64, unit_f32, unit_f64, Rng, GOLDEN_GAMMA};
use super::lanes::{self, Lanes, BLOCK, LANES};
use super::sample::{
    self, char_bounds, empty_range, inclusive, sample_char, Draw, RangeInt, ALPHABETIC,
    ALPHANUMERIC, LOWERCASE, UPPERCASE,
};
use crate::sync::{AtomicU64, Ordering};

// What `seeded` says. Bit 2 set: the state must be prepared (seeded, or
// brought level with the block) before a function uses it.

/// The state seeded from the process seed, the lanes not yet: reseeded in
/// a child after `fork`.
const FROM_PROCESS: u8 = 1;
/// Seeded by [`seed`], the block empty. A seeded thread keeps its stream
/// across `fork`.
const CHOSEN: u8 = 2;
/// The state and the lanes seeded from the process seed: reseeded in a
/// child after `fork`.
const BUFFERED: u8 = 3;
/// The bit of the two values below.
const PREPARE: u8 = 4;
/// The thread has not drawn yet, or forked since it was seeded.
const UNSEEDED: u8 = 4;
/// Seeded by [`seed`], the block's last [`CHOSEN_WORDS`] words the state's
/// next outputs: the state fields hold the state before the first of them,
/// the block's first four words (unused) the state after the last.
const CHOSEN_BLOCK: u8 = 6;

/// How many of the state's outputs a seeded thread's block holds: a
/// function that needs the state replays at most this many steps.
const CHOSEN_WORDS: usize = 16;

/// One thread's generator.
///
/// The four state words are 16 bytes apart, each beside another field, not
/// in an array: with fat LTO the compiler's SLP vectoriser turned four
/// adjacent words into two 16-byte loads and stores and moved the update
/// between vector and integer registers on every draw (`u64` took 6 ns
/// instead of 0.8 ns). With a stride it keeps the scalar code.
#[repr(C)]
pub(super) struct Local {
    /// The index in `block` of the word the next single draw takes; `BLOCK`
    /// when none is left (at the start, after [`seed`] and after `fork`).
    next: Cell<usize>,
    /// Words of the lanes, handed out one per single draw.
    block: Cell<[u64; BLOCK]>,
    /// The lanes' state (when `BUFFERED`).
    lanes: Cell<Lanes>,
    s0: Cell<u64>,
    /// What [`Rng::bool`] keeps between calls.
    bits: Cell<u64>,
    s1: Cell<u64>,
    /// Counts [`seed`] calls, so that `with` does not restore the state
    /// over a seed made inside it.
    seeds: Cell<u64>,
    s2: Cell<u64>,
    /// `UNSEEDED`, `FROM_PROCESS`, `BUFFERED`, `CHOSEN` or `CHOSEN_BLOCK`.
    seeded: Cell<u8>,
    s3: Cell<u64>,
}

thread_local! {
    pub(super) static LOCAL: Local = const {
        Local {
            next: Cell::new(BLOCK),
            block: Cell::new([0; BLOCK]),
            lanes: Cell::new([[0; LANES]; 4]),
            s0: Cell::new(0),
            bits: Cell::new(0),
            s1: Cell::new(0),
            seeds: Cell::new(0),
            s2: Cell::new(0),
            seeded: Cell::new(UNSEEDED),
            s3: Cell::new(0),
        }
    };
}

/// The state words: word-sized loads, which the store buffer forwards from
/// the previous call's word-sized stores.
#[inline]
fn load(local: &Local) -> [u64; 4] {
    [
        local.s0.get(),
        local.s1.get(),
        local.s2.get(),
        local.s3.get(),
    ]
}

#[inline]
fn store(local: &Local, [s0, s1, s2, s3]: [u64; 4]) {
    local.s0.set(s0);
    local.s1.set(s1);
    local.s2.set(s2);
    local.s3.set(s3);
}

/// Makes the state fields the calling thread's generator, for a function
/// that uses the state: seeds it from the process seed if it has not been
/// seeded; on a seeded thread with words in its block, steps the state past
/// the words taken and empties the block, so that the function continues
/// `Rng::with_seed`'s sequence where the single draws left it.
#[inline(always)]
fn ensure_seeded() {
    if LOCAL.with(|local| local.seeded.get()) & PREPARE != 0 {
        prepare();
    }
}

/// [`ensure_seeded`]'s work, out of line.
#[cold]
#[inline(never)]
fn prepare() {
    match LOCAL.with(|local| local.seeded.get()) {
        UNSEEDED => {
            let s = thread_seed();
            LOCAL.with(|local| seed_from_process(local, s));
        }
        CHOSEN_BLOCK => LOCAL.with(|local| {
            let taken = local.next.get() - (BLOCK - CHOSEN_WORDS);
            let s = if taken == CHOSEN_WORDS {
                end_of_block(local)
            } else {
                let mut rng = Rng::from_state(load(local));
                for _ in 0..taken {
                    rng.u64();
                }
                rng.s
            };
            store(local, s);
            local.next.set(BLOCK);
            local.seeded.set(CHOSEN);
        }),
        _ => {}
    }
}

/// On a seeded thread with a block, the state after its words.
fn end_of_block(local: &Local) -> [u64; 4] {
    let block: &Cell<[u64]> = &local.block;
    let words = block.as_slice_of_cells();
    [
        words[0].get(),
        words[1].get(),
        words[2].get(),
        words[3].get(),
    ]
}

/// The state `s` from the process seed, a fresh start.
#[inline(always)]
fn seed_from_process(local: &Local, s: [u64; 4]) {
    store(local, s);
    local.bits.set(0);
    local.next.set(BLOCK);
    local.seeded.set(FROM_PROCESS);
}

/// The next word of the calling thread's single-draw stream: the block's
/// next word, or [`draw_slow`].
#[inline(always)]
fn draw() -> u64 {
    let word = LOCAL.with(|local| {
        let i = local.next.get();
        let block: &Cell<[u64]> = &local.block;
        // One comparison for both "none left" and the bounds check.
        let word = block.as_slice_of_cells().get(i)?;
        local.next.set(i + 1);
        Some(word.get())
    });
    match word {
        Some(word) => word,
        None => draw_slow(),
    }
}

/// A single draw with the block used up: seeds the thread if it must, then
/// refills the block from the lanes (expanding them from the state the
/// first time) and takes its first word; or, on a thread given [`seed`],
/// fills the block's last [`CHOSEN_WORDS`] words with the state's next
/// outputs.
#[cold]
#[inline(never)]
fn draw_slow() -> u64 {
    if LOCAL.with(|local| local.seeded.get()) == UNSEEDED {
        let s = thread_seed();
        LOCAL.with(|local| seed_from_process(local, s));
    }
    LOCAL.with(|local| {
        let mut rng = Rng::from_state(load(local));
        match local.seeded.get() {
            mode @ (CHOSEN | CHOSEN_BLOCK) => {
                if mode == CHOSEN_BLOCK {
                    rng = Rng::from_state(end_of_block(local));
                    store(local, rng.s);
                }
                let first = BLOCK - CHOSEN_WORDS;
                let block: &Cell<[u64]> = &local.block;
                let words = block.as_slice_of_cells();
                for word in &words[first..] {
                    word.set(rng.u64());
                }
                for (word, s) in words.iter().zip(rng.s) {
                    word.set(s);
                }
                local.seeded.set(CHOSEN_BLOCK);
                local.next.set(first + 1);
                return words[first].get();
            }
            FROM_PROCESS => {
                let d = [rng.u64(), rng.u64(), rng.u64(), rng.u64()];
                store(local, rng.s);
                local.lanes.set(lanes::expand(d));
                local.seeded.set(BUFFERED);
            }
            _ => {}
        }
        // SAFETY: `Cell`s of this thread's `Local`, which hand out no
        // references: nothing else points into the lanes or the block while
        // these two live, and `refill` runs no user code. In place, not
        // copied in and out with `get` and `set`: the copies of the block
        // and the lanes took more time than the lanes' steps (a summing
        // loop of `u64()`s: 60 % of its time in `memmove` and the copies,
        // `perf record`; 1.06 ns a draw, 0.65 in place).
        let (state, block) = unsafe { (&mut *local.lanes.as_ptr(), &mut *local.block.as_ptr()) };
        lanes::refill(state, block);
        local.next.set(1);
        block[0]
    })
}

/// The calling thread's generator as a [`Draw`], for the samplers: its
/// single draws.
struct Thread;

impl Draw for Thread {
    #[inline(always)]
    fn u64(&mut self) -> u64 {
        draw()
    }
}

/// Runs `f` on the calling thread's generator. `f` must not run user code
/// (it would see, and then overwrite, the same state).
///
/// The free functions that draw a number are `#[inline(always)]`, not
/// `#[inline]`: with fat LTO the compiler kept `u64` and `range` out of line,
/// and the call through memory cost 1.5 ns per draw.
#[inline(always)]
fn with_thread<R>(f: impl FnOnce(&mut Rng) -> R) -> R {
    ensure_seeded();
    // Several small `with` calls rather than one around `f`: small closures
    // keep `LocalKey::with` inlined, a direct thread-pointer offset.
    let mut rng = Rng::from_state(LOCAL.with(load));
    let result = f(&mut rng);
    LOCAL.with(|local| store(local, rng.s));
    result
}

/// The process seed: 64 bits of OS entropy, read on first need; 0 until
/// then, and again in a child process after `fork`.
static PROCESS_SEED: AtomicU64 = AtomicU64::new(0);

/// The constructors that start from the calling thread's generator or from
/// the process seed.
impl Rng {
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

    /// A generator seeded with 256 bits from the operating system.
    ///
    /// If the OS generator fails, it is seeded from the process seed and a
    /// counter instead, like a thread's generator (see the
    /// [module documentation](super)).
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
            Err(_) => Rng::from_state(thread_seed()),
        }
    }
}

/// How many thread generators have been seeded.
static SEEDED: AtomicU64 = AtomicU64::new(0);

/// A fresh state for a thread (or for `from_entropy` without OS entropy):
/// the process seed and a counter, mixed.
#[cold]
#[inline(never)]
pub(super) fn thread_seed() -> [u64; 4] {
    watch_fork();
    let process = match PROCESS_SEED.load(Ordering::Relaxed) {
        0 => {
            // Never 0, which means "not read".
            let fresh = process_seed().max(1);
            match PROCESS_SEED.compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => fresh,
                Err(won) => won,
            }
        }
        seed => seed,
    };
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

// Fork safety: a child process gets new streams.
//
// After `fork(2)` the child has a copy of the forking thread's generator
// and of the process seed, so without help it would repeat the parent's
// numbers. The first time a thread seeds its generator, a `pthread_atfork`
// child handler is registered (once per process); in a child it clears the
// process seed and marks the forking thread's generator, the only one the
// child has, for reseeding on its next draw, unless `rng::seed` chose its
// stream. The draws themselves pay nothing for this.

/// Registers the child handler, once per process.
#[cfg(all(unix, not(miri)))]
fn watch_fork() {
    use std::ffi::c_int;
    use std::sync::Once;

    type Handler = Option<unsafe extern "C" fn()>;
    extern "C" {
        // POSIX; in the C library std links against on every Unix.
        fn pthread_atfork(prepare: Handler, parent: Handler, child: Handler) -> c_int;
    }

    unsafe extern "C" fn in_child() {
        forked();
    }

    static REGISTERED: Once = Once::new();
    REGISTERED.call_once(|| {
        // SAFETY: `in_child` is a plain function that touches only atomics
        // and this thread's `Cell`s, which is allowed in a child after fork.
        // A failure (ENOMEM) leaves the process without the protection, as
        // before this module existed; nothing else depends on it.
        let _ = unsafe { pthread_atfork(None, None, Some(in_child)) };
    });
}

/// No `fork` here (or, under Miri, no foreign calls): nothing to watch.
#[cfg(not(all(unix, not(miri))))]
fn watch_fork() {}

/// In a child process just after `fork`, on the thread that forked (the only
/// one the child has): forget the process seed, and reseed this thread's
/// generator (its state, its lanes, its block) on its next draw unless
/// [`seed`] chose its stream. Only
/// atomics and `Cell`s: nothing that could be mid-update in the parent.
#[cfg(all(unix, not(miri)))]
fn forked() {
    PROCESS_SEED.store(0, Ordering::Relaxed);
    LOCAL.with(|local| {
        if matches!(local.seeded.get(), FROM_PROCESS | BUFFERED) {
            local.seeded.set(UNSEEDED);
            local.bits.set(0);
            // The parent's block: never served in the child.
            local.next.set(BLOCK);
        }
    });
}

/// A uniformly distributed `u64` from the calling thread's generator.
///
/// # Examples
///
/// ```
/// let request_id = threadkit::rng::u64();
/// # let _ = request_id;
/// ```
#[inline(always)]
pub fn u64() -> u64 {
    draw()
}

/// A uniformly distributed `u32` from the calling thread's generator.
#[inline(always)]
pub fn u32() -> u32 {
    Thread.u32()
}

/// A uniformly distributed `i64` from the calling thread's generator.
#[inline(always)]
pub fn i64() -> i64 {
    draw() as i64
}

/// A uniformly distributed `i32` from the calling thread's generator.
#[inline(always)]
pub fn i32() -> i32 {
    Thread.u32() as i32
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
#[inline(always)]
pub fn usize() -> usize {
    draw() as usize
}

/// A uniformly distributed `f64` in [0, 1) from the calling thread's
/// generator.
#[inline(always)]
pub fn f64() -> f64 {
    unit_f64(draw())
}

/// A uniformly distributed `f32` in [0, 1) from the calling thread's
/// generator.
#[inline(always)]
pub fn f32() -> f32 {
    unit_f32(draw())
}

/// `true` or `false` with equal probability, from the calling thread's
/// generator: one draw serves 63 calls (see [`Rng::bool`]).
#[inline(always)]
pub fn bool() -> bool {
    // The bits left from the last draw, without touching the state. A
    // thread that was never seeded has none (0), so it seeds below.
    let bits = LOCAL.with(|local| local.bits.get());
    if bits > 1 {
        LOCAL.with(|local| local.bits.set(bits >> 1));
        return bits & 1 != 0;
    }
    bool_refill()
}

/// [`bool`](fn@super::bool) once every 63 calls: a draw. Not inlined, so that the common
/// path saves no registers.
#[inline(never)]
fn bool_refill() -> bool {
    let bits = bool_bits(draw());
    LOCAL.with(|local| local.bits.set(bits >> 1));
    bits & 1 != 0
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
#[inline(always)]
#[track_caller]
pub fn range<T: RangeInt>(range: impl RangeBounds<T>) -> T {
    range_of(range)
}

#[inline(always)]
#[track_caller]
fn range_of<T: RangeInt>(range: impl RangeBounds<T>) -> T {
    // Bounds first: reading them may run user code (a custom `RangeBounds`).
    match inclusive(&range) {
        Some((low, high)) => T::sample(&mut Thread, low, high),
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
#[inline(always)]
pub fn try_range<T: RangeInt>(range: impl RangeBounds<T>) -> Option<T> {
    let (low, high) = inclusive(&range)?;
    Some(T::sample(&mut Thread, low, high))
}

/// Fills `dest` with random bytes from the calling thread's generator (not
/// for secrets: see the [module documentation](crate::rng)).
///
/// A fill shorter than 1 KiB takes its words from the block the single
/// draws use (on a thread given [`seed`], the state's outputs, as
/// [`Rng::fill`] writes them); a longer one runs the eight lanes (see
/// [`Rng::fill`]).
///
/// # Examples
///
/// ```
/// let mut noise = vec![0u8; 4096];
/// threadkit::rng::fill(&mut noise);
/// let mut id = [0u8; 16];
/// threadkit::rng::fill(&mut id);
/// ```
#[inline]
pub fn fill(dest: &mut [u8]) {
    if dest.len() >= LANES_MIN {
        return with_thread(|rng| fill_bytes(rng, dest));
    }
    // The words it needs, if the block has them (never on a seeded thread,
    // whose block stays empty): inlined, so that a fill of a length the
    // caller's code fixes is a few moves.
    let words = dest.len().div_ceil(8);
    let done = LOCAL.with(|local| {
        let next = local.next.get();
        let block: &Cell<[u64]> = &local.block;
        let Some(cells) = block.as_slice_of_cells().get(next..next + words) else {
            return false;
        };
        // Whole words, then the rest: a copy of a length known per word
        // (a chunk of any length was a `memcpy` call per word).
        let mut chunks = dest.chunks_exact_mut(8);
        for (chunk, word) in (&mut chunks).zip(cells) {
            chunk.copy_from_slice(&word.get().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if let Some(last) = cells.last().filter(|_| !rest.is_empty()) {
            rest.copy_from_slice(&last.get().to_le_bytes()[..rest.len()]);
        }
        local.next.set(next + words);
        true
    });
    if !done {
        fill_short(dest);
    }
}

/// A [`fill`] shorter than 1 KiB that the block cannot serve whole: the
/// block's words, eight bytes each (little-endian; a last partial chunk
/// takes a whole word), refilled as it runs out. On a thread given [`seed`]
/// these are the state's outputs in order, as [`Rng::fill`] writes them.
/// Eight words copied cost less than eight xoshiro256++ steps, whose chain
/// of dependent operations a 64-byte fill otherwise waits on.
#[inline(never)]
fn fill_short(dest: &mut [u8]) {
    let mut chunks = dest.chunks_exact_mut(8);
    while chunks.len() != 0 {
        LOCAL.with(|local| {
            let next = local.next.get();
            let block: &Cell<[u64]> = &local.block;
            let words = block.as_slice_of_cells().get(next..).unwrap_or_default();
            // Words first: `zip` takes from its first iterator first, and a
            // chunk taken with no word left would be skipped.
            let mut taken = 0;
            for (word, chunk) in words.iter().zip(chunks.by_ref()) {
                chunk.copy_from_slice(&word.get().to_le_bytes());
                taken += 1;
            }
            local.next.set(next + taken);
        });
        // Chunks left: the block is used up. Refilled, its first word taken.
        if let Some(chunk) = chunks.next() {
            chunk.copy_from_slice(&draw_slow().to_le_bytes());
        }
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        rest.copy_from_slice(&draw().to_le_bytes()[..rest.len()]);
    }
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
pub fn shuffle<T>(slice: &mut [T]) {
    // Swapping runs no user code. Not `with_thread` and a closure: the
    // closure, too large to inline, would take the state through memory.
    ensure_seeded();
    let mut rng = Rng::from_state(LOCAL.with(load));
    super::batched::shuffle(&mut rng, slice);
    LOCAL.with(|local| store(local, rng.s));
}

/// A uniformly chosen element of `slice`, or `None` if it is empty.
///
/// # Examples
///
/// ```
/// let colours = ["red", "green"];
/// assert!(threadkit::rng::choose(&colours).is_some());
/// ```
#[inline(always)]
pub fn choose<T>(slice: &[T]) -> Option<&T> {
    if slice.is_empty() {
        return None;
    }
    slice.get(Thread.below(slice.len() as u64) as usize)
}

/// A uniformly chosen item of `iter`, or `None` if it is empty; see
/// [`Rng::choose_iter`].
///
/// The iterator runs inside [`with`], so it may use `rng` itself.
///
/// # Examples
///
/// ```
/// let vowel = threadkit::rng::choose_iter("aeiou".chars()).unwrap();
/// assert!("aeiou".contains(vowel));
/// ```
pub fn choose_iter<I: IntoIterator>(iter: I) -> Option<I::Item> {
    with(|rng| rng.choose_iter(iter))
}

/// `amount` items of `iter` chosen uniformly without replacement, in no
/// particular order; see [`Rng::choose_multiple`].
///
/// # Examples
///
/// ```
/// let winners = threadkit::rng::choose_multiple(["ann", "bo", "cy", "di"], 2);
/// assert_eq!(winners.len(), 2);
/// assert_ne!(winners[0], winners[1]);
/// ```
pub fn choose_multiple<I: IntoIterator>(iter: I, amount: usize) -> Vec<I::Item> {
    with(|rng| rng.choose_multiple(iter, amount))
}

/// A uniformly chosen `char` in `range`; see [`Rng::char`].
///
/// # Panics
///
/// If the range holds no `char`.
///
/// # Examples
///
/// ```
/// let c = threadkit::rng::char('α'..='ω');
/// assert!(('α'..='ω').contains(&c));
/// ```
#[track_caller]
pub fn char(range: impl RangeBounds<char>) -> char {
    // Bounds first: reading them may run user code.
    match char_bounds(&range) {
        Some((low, high)) => sample_char(&mut Thread, low, high),
        None => empty_range(),
    }
}

/// A uniformly chosen ASCII letter; see [`Rng::alphabetic`].
#[inline]
pub fn alphabetic() -> char {
    sample::ascii(&mut Thread, ALPHABETIC)
}

/// A uniformly chosen ASCII letter or digit; see [`Rng::alphanumeric`].
///
/// # Examples
///
/// ```
/// let id: String = (0..8).map(|_| threadkit::rng::alphanumeric()).collect();
/// assert_eq!(id.len(), 8);
/// ```
#[inline]
pub fn alphanumeric() -> char {
    sample::ascii(&mut Thread, ALPHANUMERIC)
}

/// A uniformly chosen ASCII lowercase letter.
#[inline]
pub fn lowercase() -> char {
    sample::ascii(&mut Thread, LOWERCASE)
}

/// A uniformly chosen ASCII uppercase letter.
#[inline]
pub fn uppercase() -> char {
    sample::ascii(&mut Thread, UPPERCASE)
}

/// A uniformly chosen digit of `base`; see [`Rng::digit`].
///
/// # Panics
///
/// If `base` is 0 or above 36.
#[inline]
#[track_caller]
pub fn digit(base: u32) -> char {
    assert!(
        (1..=36).contains(&base),
        "threadkit::rng: a digit's base must be 1 to 36, not {base}"
    );
    sample::digit(&mut Thread, base)
}

/// Seeds the calling thread's generator: from here on its sequence is the
/// one of [`Rng::with_seed(seed)`](Rng::with_seed), `bool` included.
///
/// Other threads are not affected. A seeded thread keeps its stream in a
/// child process after `fork` (an unseeded one is reseeded there). Called
/// inside [`with`], the seed takes effect for the rest of the thread's
/// sequence: when `with` returns, the thread continues the seeded stream
/// instead of restoring the outer one.
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
    let s = Rng::with_seed(seed).s;
    LOCAL.with(|local| {
        store(local, s);
        local.bits.set(0);
        // No block on a seeded thread: single draws step the state.
        local.next.set(BLOCK);
        local.seeded.set(CHOSEN);
        local.seeds.set(local.seeds.get().wrapping_add(1));
    });
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
/// The generator is moved out for the call and put back when `f` returns or
/// panics. A `with` (or any other `rng` function) called inside `f` uses an
/// independent stream derived from the outer state, so it neither panics nor
/// repeats the outer call's numbers; its draws do not advance the outer
/// stream. A [`seed`] call inside `f` is the exception: it applies, and the
/// thread continues the seeded stream after `f`.
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
    ensure_seeded();
    let mut guard = LOCAL.with(|local| {
        let outer = Rng {
            s: load(local),
            bits: local.bits.get(),
        };
        // What nested calls see while `f` runs: the outer state, mixed. Never
        // all zero but with probability 2^-256.
        store(local, outer.s.map(|word| mix64(word ^ GOLDEN_GAMMA)));
        local.bits.set(0);
        Restore {
            rng: outer,
            seeds: local.seeds.get(),
        }
    });
    f(&mut guard.rng)
}

/// Puts the outer generator back into the thread's state, unless [`seed`]
/// was called meanwhile.
struct Restore {
    rng: Rng,
    seeds: u64,
}

impl Drop for Restore {
    fn drop(&mut self) {
        LOCAL.with(|local| {
            if local.seeds.get() == self.seeds {
                store(local, self.rng.s);
                local.bits.set(self.rng.bits);
                // Words a seeded thread's nested draws put in the block
                // come from the nested stream: not the outer one's.
                if local.seeded.get() == CHOSEN_BLOCK {
                    local.next.set(BLOCK);
                    local.seeded.set(CHOSEN);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `f` on a thread of its own: a fresh generator.
    fn on_a_new_thread(f: impl FnOnce() + Send + 'static) {
        std::thread::spawn(f).join().unwrap();
    }

    #[test]
    fn the_first_block_comes_from_lanes_expanded_from_four_draws_of_the_state() {
        on_a_new_thread(|| {
            // Seeds the state only.
            with(|_| ());
            let state = LOCAL.with(load);
            assert_eq!(LOCAL.with(|local| local.seeded.get()), FROM_PROCESS);
            let first = u64();
            let mut rng = Rng::from_state(state);
            let d = [rng.u64(), rng.u64(), rng.u64(), rng.u64()];
            let mut lanes = lanes::expand(d);
            let mut block = [0; BLOCK];
            lanes::refill(&mut lanes, &mut block);
            assert_eq!(first, block[0]);
            // The state advanced by the four draws, and no further.
            assert_eq!(LOCAL.with(load), rng.s);
            assert_eq!(LOCAL.with(|local| local.lanes.get()), lanes);
        });
    }

    #[test]
    fn single_draws_take_the_block_in_order_then_the_lanes_next_block() {
        on_a_new_thread(|| {
            let first = u64();
            let (block, mut lanes) = LOCAL.with(|local| (local.block.get(), local.lanes.get()));
            assert_eq!(first, block[0]);
            // Every kind of single draw takes the next word.
            assert_eq!(u32(), (block[1] >> 32) as u32);
            assert_eq!(f64(), unit_f64(block[2]));
            // A power of two: Lemire's method takes the top bits, never rejects.
            assert_eq!(range(0..1u64 << 40), block[3] >> 24);
            for &word in &block[4..] {
                assert_eq!(u64(), word);
            }
            let state = LOCAL.with(load);
            let mut next = [0; BLOCK];
            lanes::refill(&mut lanes, &mut next);
            for word in next {
                assert_eq!(u64(), word);
            }
            // The state is not touched by single draws.
            assert_eq!(LOCAL.with(load), state);
        });
    }

    #[test]
    fn a_seeded_thread_buffers_its_states_outputs_and_brings_the_state_level() {
        on_a_new_thread(|| {
            u64();
            seed(5);
            assert_eq!(LOCAL.with(|local| local.next.get()), BLOCK);
            let mut reference = Rng::with_seed(5);
            for taken in [
                0,
                1,
                3,
                CHOSEN_WORDS - 1,
                CHOSEN_WORDS,
                CHOSEN_WORDS + 1,
                40,
            ] {
                for _ in 0..taken {
                    assert_eq!(u64(), reference.u64());
                }
                // A function that uses the state continues where the
                // single draws left it.
                assert_eq!(fork(), reference.fork(), "after {taken} draws");
                assert_eq!(LOCAL.with(load), reference.s);
                assert_eq!(LOCAL.with(|local| local.next.get()), BLOCK);
            }
            // Nested draws inside `with` leave no words behind.
            let outer = with(|r| {
                let first = r.u64();
                u64(); // from the nested stream
                first
            });
            assert_eq!(outer, reference.u64());
            assert_eq!(u64(), reference.u64());
        });
    }

    #[test]
    fn a_short_fill_takes_the_blocks_words_across_a_refill() {
        on_a_new_thread(|| {
            u64();
            for _ in 0..BLOCK - 4 {
                u64();
            }
            // Three words left: a 45-byte fill (six words) takes them, then
            // three of the next block (the last one's first five bytes).
            let (block, mut lanes) = LOCAL.with(|local| (local.block.get(), local.lanes.get()));
            let mut next = [0; BLOCK];
            lanes::refill(&mut lanes, &mut next);
            let mut bytes = [0u8; 45];
            fill(&mut bytes);
            let expected: Vec<u8> = block[BLOCK - 3..]
                .iter()
                .chain(&next[..3])
                .flat_map(|word| word.to_le_bytes())
                .take(45)
                .collect();
            assert_eq!(bytes[..], expected[..]);
            assert_eq!(u64(), next[3]);
            // A fill of a whole number of words that ends the block.
            let mut rest = vec![0u8; 8 * (BLOCK - 4)];
            fill(&mut rest);
            assert_eq!(rest[rest.len() - 8..], next[BLOCK - 1].to_le_bytes());
            assert_eq!(LOCAL.with(|local| local.next.get()), BLOCK);
        });
    }

    #[test]
    fn a_seeded_threads_fill_is_the_owned_generators() {
        on_a_new_thread(|| {
            for len in [0, 5, 64, 1000, 1024, 5000] {
                seed(len as u64);
                let mut ours = vec![0u8; len];
                fill(&mut ours);
                let mut owned = vec![0u8; len];
                let mut reference = Rng::with_seed(len as u64);
                reference.fill(&mut owned);
                assert_eq!(ours, owned, "{len} bytes");
                assert_eq!(u64(), reference.u64());
            }
        });
    }

    #[test]
    fn fill_and_shuffle_leave_the_block_alone() {
        on_a_new_thread(|| {
            u64();
            let block = LOCAL.with(|local| local.block.get());
            let mut bytes = [0u8; LANES_MIN];
            fill(&mut bytes);
            let mut items = [1, 2, 3, 4, 5];
            shuffle(&mut items);
            let _ = fork();
            assert_eq!(u64(), block[1]);
        });
    }
}
