//! [`Counter`]: accumulate per thread, flush to a shared total, never lose a
//! count.
//!
//! A shared `AtomicU64` makes every `fetch_add` fight over one cache line. A
//! `Counter` gives each thread its own slot instead, so [`add`](Counter::add)
//! writes only memory that no other thread writes — a plain load and store, no
//! lock-prefixed instruction — and moves the thread's pending amount into a
//! shared total once it reaches the counter's batch size. Readers choose
//! between a cheap estimate and an exact sum:
//!
//! - [`approx`](Counter::approx) reads the flushed total: one atomic load.
//!   It is at most [`sum`](Counter::sum), and behind it by less than `batch`
//!   for each running thread that has added since its last flush.
//! - [`sum`](Counter::sum) is exact: it visits every slot, so every `add`
//!   that completed before it is counted once, whether flushed or not, and
//!   whether its thread is still running or not. For one reader, successive
//!   sums never decrease, however threads add and exit meanwhile.
//!
//! # Thread exit
//!
//! Nothing is lost when a thread exits: its pending amount is flushed to the
//! shared total as its thread-locals are destroyed, and its slot keeps its
//! count, so `sum` still includes it. When a later thread takes over the slot
//! (the crate recycles thread indices), the old count stays in the slot and is
//! reported by [`per_thread`](Counter::per_thread) as unattributed, so a
//! counter uses memory for at most as many threads as were ever alive at once,
//! not for every thread that ever ran.
//!
//! A thread that adds after the crate's teardown for it (see
//! [Thread exit](crate#thread-exit)) adds straight to the shared total (two
//! atomic adds): still counted, never a panic.
//!
//! The flush at exit happens in the thread's teardown.
//! `JoinHandle::join` waits for that; the end of `std::thread::scope` does
//! not (it waits for the closures, not the threads' teardown), so right after
//! a scope `approx` may still trail while `sum` is already exact.
//!
//! # Static counters
//!
//! A `Counter` finds the calling thread's slot through the crate's thread
//! index (a thread-local read, a bucket load, a key compare) on every add.
//! A counter that lives in a `static` can skip that: [`counter!`](crate::counter!)
//! declares one with a thread-local of its own that remembers the slot, so
//! an add is a thread-local load, a load and store of the count, and a
//! compare. At a call site that is as fast as a hand-written
//! `thread_local!` cell flushed to an atomic, or faster (0.71–1.01× its
//! time in `benches/README.md`, on one AMD EPYC), with every guarantee
//! above. In a tight loop of adds it depends on the compiler: the count is
//! an atomic, which other threads read, so each add goes through memory,
//! while a hand-written cell may be kept in a register (then it is faster:
//! 1.23× and more).
//!
//! # Compared with
//!
//! - Java's `LongAdder` keeps a set of cells that threads hash into and sums
//!   them on read; it never flushes, so it has no cheap estimate. `sum` here
//!   is the same idea with one cell per thread.
//! - folly's `ThreadCachedInt` flushes a thread's cache every so many
//!   increments and on thread exit, like this counter, and its
//!   `readFull` walks every thread's cache under a lock; `sum` here takes no
//!   lock.
//!
//! # Examples
//!
//! ```
//! use threadkit::Counter;
//!
//! static REQUESTS: Counter = Counter::new();
//! static BYTES: Counter = Counter::with_batch(1 << 20);
//!
//! std::thread::scope(|s| {
//!     for _ in 0..4 {
//!         s.spawn(|| {
//!             for _ in 0..1_000 {
//!                 REQUESTS.inc();
//!                 BYTES.add(512);
//!             }
//!         });
//!     }
//! });
//! assert_eq!(REQUESTS.sum(), 4_000);
//! assert_eq!(BYTES.sum(), 2_048_000);
//! assert!(BYTES.approx() <= BYTES.sum());
//! ```

mod declared;
mod indexed;
mod tally;

pub use declared::StaticCounter;
pub use indexed::Counter;

#[doc(hidden)]
pub mod __private {
    pub use super::declared::{Key, Local};
}
