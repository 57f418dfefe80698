//! [`Histogram`]: a distribution of `u64` values recorded per thread, with
//! exact counts and quantiles within a stated error.
//!
//! A shared histogram makes every thread that records fight over one lock
//! (`Mutex<hdrhistogram::Histogram>`) or over the cache lines of its buckets
//! (an array of atomics). Here each thread records into buckets of its own,
//! with plain loads and stores; a [`snapshot`](Histogram::snapshot) merges
//! every thread's buckets.
//!
//! # Buckets and error
//!
//! Buckets are log-linear: with `p` bits of precision (6 by default,
//! [`with_precision`](Histogram::with_precision) for others), each value
//! below `2^p` has a bucket of its own, and each range `[2^e, 2^(e+1))`
//! above is cut into `2^p` equal buckets. A bucket is reported as its
//! midpoint, which is within `2^-(p+1)` of any value in it, relative (0.78 %
//! by default; 1.56 % at 5 bits, 0.05 % at 10). [`Snapshot::min`],
//! [`max`](Snapshot::max), [`count`](Snapshot::count) and
//! [`sum`](Snapshot::sum) are exact.
//!
//! # Memory
//!
//! A thread's buckets come in groups of `2^p` counts (one group per power of
//! two, 512 bytes at 6 bits), allocated the first time a value falls in
//! them. Latencies from 1 µs to 10 s, in nanoseconds, span 25 powers of two:
//! 12 800 bytes of buckets per thread, plus 768 bytes of fixed state (on
//! x86-64; checked by a test).
//! Slots are reused: an exited thread's slot, with its counts, passes to the
//! next thread that gets its index, so memory follows the largest number of
//! threads alive at once.
//!
//! # Guarantees
//!
//! The [`Counter`](crate::Counter)'s, for every bucket: every completed
//! `record` is in every later snapshot exactly once; a reader's counts never
//! decrease; nothing is lost when a thread exits (its counts stay where
//! snapshots find them); a thread that records after the crate's teardown
//! for it ([Thread exit](crate#thread-exit)) records into a shared part,
//! under a lock. A snapshot taken while other threads record includes some of their
//! concurrent records.
//!
//! # Examples
//!
//! ```
//! use std::time::Instant;
//! use threadkit::Histogram;
//!
//! static LATENCY_NS: Histogram = Histogram::new();
//!
//! std::thread::scope(|s| {
//!     for _ in 0..4 {
//!         s.spawn(|| {
//!             for _ in 0..100 {
//!                 let start = Instant::now();
//!                 std::hint::black_box((0..100).sum::<u64>());
//!                 LATENCY_NS.record(start.elapsed().as_nanos() as u64);
//!             }
//!         });
//!     }
//! });
//! let snapshot = LATENCY_NS.snapshot();
//! assert_eq!(snapshot.count(), 400);
//! let (p50, p99) = (snapshot.quantile(0.5).unwrap(), snapshot.quantile(0.99).unwrap());
//! assert!(snapshot.min().unwrap() <= p50 && p50 <= p99 && p99 <= snapshot.max().unwrap());
//! ```

mod indexed;
mod layout;
#[cfg(feature = "metrics")]
mod scaled;
mod slot;
mod snapshot;

pub use indexed::Histogram;
pub use snapshot::{Bucket, Buckets, Snapshot};

#[cfg(feature = "metrics")]
pub use scaled::Scaled;
