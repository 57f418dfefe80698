//! [`LocalCache<K, V>`]: a bounded read-through cache with one copy per
//! thread, so a hit takes no lock.
//!
//! Put it in front of a shared, slower source — a database, a config
//! service, a `Mutex<HashMap>` everyone contends on — when every thread asks
//! for the same hot keys over and over:
//!
//! ```
//! use threadkit::cache::LocalCache;
//!
//! static USERS: LocalCache<u32, String> = LocalCache::new(1024);
//!
//! fn user_name(id: u32) -> String {
//!     USERS.get_or_insert_with(id, || format!("user-{id}")) // the slow lookup
//! }
//!
//! assert_eq!(user_name(7), "user-7"); // miss: loads
//! assert_eq!(user_name(7), "user-7"); // hit: this thread's copy
//! USERS.invalidate(&7); // every thread drops its copy of key 7
//! assert_eq!(USERS.get(&7), None);
//! let stats = USERS.stats();
//! assert_eq!((stats.hits, stats.misses), (1, 2));
//! ```
//!
//! # The rules
//!
//! - **One copy per thread, bounded.** Each thread keeps at most
//!   `max_entries` entries and evicts its least recently used entry
//!   to make room. `max_entries` 0 means "never cache": every lookup is a miss
//!   and calls the loader.
//! - **Invalidation reaches every thread.** After
//!   [`invalidate`](LocalCache::invalidate) or
//!   [`invalidate_all`](LocalCache::invalidate_all) returns, no lookup that
//!   starts afterwards — on any thread — returns a value cached before it.
//!   Each thread applies pending invalidations at its next lookup (one
//!   atomic load tells it whether there are any). A value loaded while an
//!   invalidation ran is returned to its caller but not cached.
//! - **Statistics through the registry.** Hits, misses and evictions are
//!   counted per thread and kept after the thread exits, so
//!   [`stats`](LocalCache::stats) and [`per_thread`](LocalCache::per_thread)
//!   are exact once the threads are joined.
//! - **Reentrant.** A loader may use the same cache (for the same key or
//!   others); it neither panics nor deadlocks. If the loader cached the same
//!   key, the outer call's value replaces it when the outer loader returns.
//!   Only if `K`'s `Hash`/`Eq` or `V`'s `Clone`/`Drop` themselves use the
//!   cache does the inner call bypass it (a miss that calls its loader and
//!   caches nothing). No user code (a loader, or `K`'s and `V`'s `Clone`,
//!   `Hash`, `Eq` and `Drop`) runs while the cache holds its lock, so none
//!   of it can deadlock the cache. Invalidated keys travel between threads
//!   as `Arc<K>`, which is why the cache is `Sync` only for `K: Sync`.
//! - **Panics.** A panicking `Drop` of a key or value does not leak the
//!   others: a thread's copy drops them all, then the panic continues.
//! - **Memory follows the threads alive, not every thread that ever ran.**
//!   A thread's entries are dropped when it exits. Its slot, with its
//!   statistics, stays until another thread gets the exited thread's index
//!   and takes the slot over; the old counts then move to a share that
//!   belongs to no thread, so [`stats`](LocalCache::stats) stays exact. A
//!   cache holds slots for at most as many threads as were alive at once.
//! - **Thread exit is a normal case.** The cache works from `thread_local!`
//!   destructors; once the thread's exit has begun, lookups miss and call the
//!   loader, and nothing is cached for it.
//!
//! # Compared with
//!
//! - A shared `Mutex<HashMap>` (or `RwLock`) holds one copy, but every hit
//!   takes the lock, and threads queue on it. Uncontended, its hit is
//!   cheaper than this cache's (which takes 1.16–1.40× its time on one AMD
//!   EPYC, in `benches/README.md`): a lock and a probe, against the LRU bookkeeping,
//!   the invalidation check and the counts here; with a second thread
//!   hitting it the lock is contended and this cache is ahead.
//! - A concurrent cache (moka, quick_cache) shares one copy without a global
//!   lock, at the cost of shared-memory writes or atomics on hits and a far
//!   larger crate. A per-thread copy suits small, very hot key sets; a
//!   shared cache suits large ones, where one copy per thread would cost too
//!   much memory.

mod indexed;
mod lru;
mod stats;

pub use indexed::LocalCache;
pub use stats::Stats;
