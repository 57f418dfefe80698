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
//!
//! # What every block promises
//!
//! - **Thread exit is a normal case.** Every operation works from a
//!   `thread_local!` destructor, before or after this crate's own have run,
//!   and never panics there; where a thread's slot is gone it falls back
//!   (documented per block).
//! - **Reentrancy is safe.** No `RefCell` borrow is held across user code, so
//!   nested use never panics with `BorrowMutError`.
//! - **Nothing is lost.** Values and counts of exited threads stay visible to
//!   the owner.
//! - **Memory follows the threads alive.** Blocks that keep state per thread
//!   hand an exited thread's slot to the next thread and free what it kept;
//!   [`registry::PerLiveThread`] drops each thread's value as it exits;
//!   only [`PerThread`] keeps a value for every thread, by design, until the
//!   owner clears it.

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
    pub(crate) mod recorder;
}
#[cfg(threadkit_loom)]
mod registry {
    pub(crate) mod retire;
}

#[cfg(all(feature = "metrics", not(threadkit_loom)))]
mod metrics;
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
