//! Building blocks for per-thread state, done once, correctly, and measurably
//! fast.
//!
//! ```
//! use threadkit::{Counter, PerThread};
//!
//! static REQUESTS: Counter = Counter::new();
//!
//! let latencies: PerThread<std::sync::Mutex<Vec<u32>>> = PerThread::new();
//! std::thread::scope(|s| {
//!     for worker in 0..4 {
//!         let latencies = &latencies;
//!         s.spawn(move || {
//!             for request in 0..100 {
//!                 REQUESTS.inc();
//!                 latencies.get_or_default().lock().unwrap().push(worker * 100 + request);
//!             }
//!         });
//!     }
//! });
//! assert_eq!(REQUESTS.sum(), 400);
//! let seen: usize = latencies.iter().map(|l| l.lock().unwrap().len()).sum();
//! assert_eq!(seen, 400);
//! ```
//!
//! # Building blocks
//!
//! - [`registry`]: [`PerThread<T>`], a value per thread that the owner can
//!   iterate, with each value attributed to its thread ([`ThreadShare`], the
//!   one report type of every block); [`registry::PerLiveThread<T>`], whose
//!   values are dropped as their threads exit.
//! - [`counter`](mod@counter): [`Counter`], accumulate per thread, flush to a shared total,
//!   never lose a count; [`counter!`] declares static counters with a
//!   thread-local of their own, at about the cost of a hand-written one.
//! - [`histogram`]: [`Histogram`], a distribution recorded per thread in
//!   log-linear buckets, merged into exact counts, sum, min and max, and
//!   quantiles within 0.78 % (settable). With the `metrics` feature, counters
//!   and histograms back the [`metrics`](https://docs.rs/metrics) facade.
//! - [`scratch`]: reusable per-thread buffers ([`scratch::with_bytes`],
//!   [`scratch::with_string`], and [`ScratchPool<T>`] for any type), empty on
//!   entry, reentrant, with a cap on the memory kept.
//! - [`arena`]: a scoped per-thread bump arena ([`arena::with`]) built on
//!   [`bumpalo`]: allocate freely inside, everything released at the end;
//!   scopes nest.
//! - [`rng`]: a fast per-thread random number generator (xoshiro256++),
//!   seeded from the OS once per process, reproducible on request; not
//!   cryptographic.
//! - [`context`]: [`Context<T>`], a global default with scoped per-thread
//!   overrides, read without touching a thread-local while no thread
//!   overrides it.
//! - [`cache`]: [`LocalCache<K, V>`], a bounded least-recently-used
//!   read-through cache with one copy per thread and invalidation that
//!   reaches every thread.
//! - [`last_error`]: [`LastError<E>`], an `errno`-style error slot per
//!   thread, for C APIs over Rust code.
#![cfg_attr(
    feature = "metrics",
    doc = "- [`metrics`](mod@metrics) (feature `metrics`): a recorder for the \
           [`metrics`](https://docs.rs/metrics) facade on these counters and \
           histograms, with Prometheus text exposition."
)]
//!
//! # What every block promises
//!
//! - **Thread exit is a normal case.** Every operation works while a thread
//!   exits — from a `thread_local!` destructor, or from a C library's
//!   `pthread_key_create` destructor or Windows fiber-local callback, before
//!   or after the crate's own
//!   teardown for the thread (see [Thread exit](#thread-exit)) — and never
//!   panics there; where a thread's slot is gone it falls back (documented
//!   per block).
//! - **Reentrancy is safe.** No `RefCell` borrow is held across user code, so
//!   nested use never panics with `BorrowMutError`.
//! - **Nothing is lost.** Values and counts of exited threads stay visible to
//!   the owner.
//! - **Memory follows the threads alive.** Blocks that keep state per thread
//!   hand an exited thread's slot to the next thread and free what it kept;
//!   [`registry::PerLiveThread`] drops each thread's value as it exits;
//!   only [`PerThread`] keeps a value for every thread, by design, until the
//!   owner clears it.
//!
//! # Names
//!
//! The same idea has the same name in every block:
//!
//! - **`per_thread()`** is a block's per-thread report, a list of
//!   [`ThreadShare`]s (the thread's id, name, whether it has exited, and its
//!   share): [`Counter::per_thread`], [`Histogram::per_thread`],
//!   [`LocalCache::per_thread`], [`PerThread::per_thread`].
//! - **`max_*`** is a limit per thread, in its unit
//!   ([`ScratchPool::max_buffers`], [`Arena::max_arenas`],
//!   [`LocalCache::max_entries`]); **`max_bytes`** caps what one kept
//!   buffer or arena may hold.
//! - **`retained_count`**, **`retained_bytes`** and **`release`** read and
//!   drop what a block keeps for the calling thread between uses.
//!
//! # Thread exit
//!
//! What the crate keeps for a thread is torn down when the thread exits:
//! its exit hooks run (a counter's pending count is flushed, a
//! [`registry::PerLiveThread`] value, a cache's copy and a [`LastError`]'s
//! errors are dropped), and its buffers are freed.
//!
//! Everything the teardown needs is owned by what triggers it, so it does
//! not depend on the order in which std destroys thread-locals, which
//! differs between platforms. Where it runs, by target:
//!
//! | target | teardown | against the thread's `thread_local!` destructors | the thread that ends the process |
//! |---|---|---|---|
//! | Linux, glibc | a `pthread_key_create` key the crate makes as the process starts (its thread-locals have no destructors) | after all of them | runs, among std's destructors at `exit` |
//! | Linux, musl | the same key | before all of them: they fall back | runs, from an `atexit` handler |
//! | Windows (MSVC, GNU), macOS, the BSDs | a `thread_local!` guard registered at the thread's first use of the crate | after those registered later, before those registered earlier (`x86_64-pc-windows-gnu`: first used later or earlier in the process) | runs: std's destructors or an `atexit` handler |
//!
//! So:
//!
//! - a `thread_local!` destructor that runs before the teardown finds the
//!   crate live for the thread: its adds reach its slot, it sees its own
//!   values; one that runs after it falls back: its adds go to the shared
//!   total, the thread is reported exited, its [`registry::PerLiveThread`]
//!   value is gone, its [`PerThread`] value is still found;
//! - the values the teardown drops may still call `std::thread::current()`
//!   (std drops its handle last); with glibc the thread's `thread_local!`
//!   values are gone by then: a `Drop` that uses a `thread_local!` with a
//!   destructor should use
//!   [`LocalKey::try_with`](std::thread::LocalKey::try_with);
//! - a thread whose first contact with the crate comes even later (a C
//!   library's key destructor on Linux, a fiber-local callback on Windows)
//!   works, and what it uses is freed at its very end (on Linux in the next
//!   round of key destructors; glibc runs four: a first contact in the
//!   fourth is never torn down);
//! - on targets where threads run no destructors at all (wasm), nothing is
//!   torn down: counts stay in `sum()`, not in `approx()`.

#![warn(
    missing_docs,
    missing_debug_implementations,
    unsafe_op_in_unsafe_fn,
    unreachable_pub,
    clippy::undocumented_unsafe_blocks
)]
// A loom build compiles the checked protocols without their users.
#![cfg_attr(threadkit_loom, allow(dead_code, unused_imports))]

#[cfg(not(threadkit_loom))]
pub mod arena;
#[cfg(not(threadkit_loom))]
pub mod cache;
#[cfg(not(threadkit_loom))]
pub mod context;
#[cfg(not(threadkit_loom))]
pub mod counter;
#[cfg(not(threadkit_loom))]
pub mod histogram;
#[cfg(not(threadkit_loom))]
pub mod last_error;
#[cfg(not(threadkit_loom))]
pub mod registry;
#[cfg(not(threadkit_loom))]
pub mod rng;
#[cfg(not(threadkit_loom))]
pub mod scratch;

// Under loom, only the protocols it checks (see `sync`).
#[cfg(threadkit_loom)]
mod counter {
    pub(crate) mod tally;
}
#[cfg(threadkit_loom)]
mod context {
    pub(crate) mod global;
}
#[cfg(threadkit_loom)]
mod histogram {
    pub(crate) mod layout;
    pub(crate) mod slot;
}
#[cfg(threadkit_loom)]
mod registry {
    pub(crate) mod retire;
}

#[cfg(all(feature = "metrics", not(threadkit_loom)))]
pub mod metrics;
mod sync;
mod thread;
mod unwind;

#[cfg(not(threadkit_loom))]
pub use {
    arena::Arena, cache::LocalCache, context::Context, counter::Counter, histogram::Histogram,
    last_error::LastError, registry::PerThread, registry::ThreadShare, scratch::ScratchPool,
};

// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
