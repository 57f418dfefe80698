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
//! let stats = USERS.stats().total;
//! assert_eq!((stats.hits, stats.misses), (1, 2));
//! ```
//!
//! # The rules
//!
//! - **One copy per thread, bounded.** Each thread keeps at most
//!   `capacity_per_thread` entries and evicts its least recently used entry
//!   to make room. Capacity 0 means "never cache": every lookup is a miss
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
//!   [`stats`](LocalCache::stats) is exact once the threads are joined.
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
//!   takes the lock, and threads queue on it; the benchmarks
//!   (`cargo bench --bench cache`) measure both.
//! - A concurrent cache (moka, quick_cache) shares one copy without a global
//!   lock, at the cost of shared-memory writes or atomics on hits and a far
//!   larger crate. A per-thread copy suits small, very hot key sets; a
//!   shared cache suits large ones, where one copy per thread would cost too
//!   much memory.

mod lru;

use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::iter::Sum;
use std::ops::{Add, AddAssign};
use std::sync::Arc;

use crate::sync::{AtomicU64, Mutex, Ordering};
use crate::thread::owned::{OwnedTable, Slot, SlotState};
use crate::thread::share::ThreadShare;
use lru::Lru;

/// How many recent invalidations the cache remembers. A thread that falls
/// further behind clears its whole copy instead.
const LOG_LEN: usize = 64;

/// A bounded read-through cache with one copy per thread.
///
/// `const`, so it can be a `static`. See the [module documentation](self)
/// for the rules.
///
/// `K` is stored twice per entry (in the index and in the recency list), so
/// it must be `Clone`; use small keys or `Arc<str>`. `S` builds each
/// thread's hasher, as for [`HashMap`](std::collections::HashMap).
///
/// # Examples
///
/// ```
/// use threadkit::cache::LocalCache;
///
/// let squares = LocalCache::new(2);
/// assert_eq!(squares.get_or_insert_with(3, || 9), 9);
/// assert_eq!(squares.get(&3), Some(9));
/// squares.get_or_insert_with(4, || 16);
/// squares.get_or_insert_with(5, || 25); // evicts 3, the least recently used
/// assert_eq!(squares.get(&3), None);
/// assert_eq!(squares.stats().total.evictions, 1);
/// ```
pub struct LocalCache<K: Send, V: Send, S: Send = RandomState> {
    threads: OwnedTable<Local<K, V, S>>,
    /// Lookups by threads that had no slot (they were exiting): all misses.
    unslotted_misses: AtomicU64,
    capacity: usize,
    /// `None`: each thread uses `S::default()`.
    hasher: Option<S>,
    /// The number of invalidations so far. A thread whose copy has seen
    /// fewer applies the missing ones from `log` before its next lookup.
    seq: AtomicU64,
    /// The most recent invalidations, oldest first: `(seq, key)`, where a
    /// `None` key invalidates everything.
    log: Mutex<VecDeque<(u64, Option<Arc<K>>)>>,
}

impl<K: Send, V: Send> LocalCache<K, V, RandomState> {
    /// Creates a cache that keeps up to `capacity_per_thread` entries on each
    /// thread. Capacity 0 caches nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::cache::LocalCache;
    ///
    /// static PAGES: LocalCache<String, Vec<u8>> = LocalCache::new(64);
    /// assert_eq!(PAGES.capacity_per_thread(), 64);
    /// ```
    #[must_use]
    pub const fn new(capacity_per_thread: usize) -> LocalCache<K, V, RandomState> {
        LocalCache {
            threads: OwnedTable::new(),
            unslotted_misses: AtomicU64::new(0),
            capacity: capacity_per_thread,
            hasher: None,
            seq: AtomicU64::new(0),
            log: Mutex::new(VecDeque::new()),
        }
    }
}

impl<K: Send, V: Send, S: Send> LocalCache<K, V, S> {
    /// Creates a cache whose threads hash keys with clones of `hasher`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::hash::BuildHasherDefault;
    /// use std::collections::hash_map::DefaultHasher;
    /// use threadkit::cache::LocalCache;
    ///
    /// let cache: LocalCache<u64, u64, BuildHasherDefault<DefaultHasher>> =
    ///     LocalCache::with_hasher(16, BuildHasherDefault::default());
    /// assert_eq!(cache.get_or_insert_with(1, || 2), 2);
    /// ```
    #[must_use]
    pub const fn with_hasher(capacity_per_thread: usize, hasher: S) -> LocalCache<K, V, S> {
        LocalCache {
            threads: OwnedTable::new(),
            unslotted_misses: AtomicU64::new(0),
            capacity: capacity_per_thread,
            hasher: Some(hasher),
            seq: AtomicU64::new(0),
            log: Mutex::new(VecDeque::new()),
        }
    }

    /// The most entries each thread keeps.
    #[inline]
    pub fn capacity_per_thread(&self) -> usize {
        self.capacity
    }
}

impl<K, V, S> LocalCache<K, V, S>
where
    K: Hash + Eq + Clone + Send,
    V: Clone + Send,
    S: BuildHasher + Clone + Default + Send,
{
    /// Returns this thread's cached value for `key`, or calls `load`, caches
    /// a clone of its result on this thread, and returns it.
    ///
    /// `load` runs with no lock held and no borrow of the cache, so it may
    /// use the cache itself (see the [module documentation](self#the-rules)).
    /// If `load` panics, nothing is cached and the panic propagates.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::cache::LocalCache;
    ///
    /// let lengths = LocalCache::new(100);
    /// let mut loads = 0;
    /// for word in ["apple", "fig", "apple", "apple"] {
    ///     lengths.get_or_insert_with(word, || {
    ///         loads += 1;
    ///         word.len()
    ///     });
    /// }
    /// assert_eq!(loads, 2);
    /// ```
    pub fn get_or_insert_with<F>(&self, key: K, load: F) -> V
    where
        F: FnOnce() -> V,
    {
        let local = self.local();
        let seq = match self.lookup(local, &key) {
            Lookup::Hit(value) => return value,
            Lookup::Miss { seq } => Some(seq),
            Lookup::Bypass => None,
        };
        let value = load();
        if let Some(seq) = seq {
            self.store(local, seq, key, value.clone());
        }
        value
    }

    /// Returns this thread's cached value for `key`, if it has one. Counts
    /// as a hit or a miss.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::cache::LocalCache;
    ///
    /// let cache: LocalCache<String, u32> = LocalCache::new(8);
    /// cache.get_or_insert_with("a".to_string(), || 1);
    /// assert_eq!(cache.get("a"), Some(1)); // borrowed form of the key
    /// assert_eq!(cache.get("b"), None);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert_eq!(cache.get("a"), None)); // another thread's copy
    /// });
    /// ```
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.lookup(self.local(), key) {
            Lookup::Hit(value) => Some(value),
            Lookup::Miss { .. } | Lookup::Bypass => None,
        }
    }

    /// Removes `key` from every thread's copy, before that thread's next
    /// lookup.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::cache::LocalCache;
    ///
    /// let prices = LocalCache::new(8);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| prices.get_or_insert_with("tea", || 3));
    /// });
    /// prices.get_or_insert_with("tea", || 3);
    /// prices.invalidate(&"tea"); // the price changed
    /// assert_eq!(prices.get_or_insert_with("tea", || 4), 4);
    /// ```
    pub fn invalidate<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + ?Sized,
    {
        self.log_invalidation(Some(Arc::new(key.to_owned())));
    }

    /// Empties every thread's copy, before that thread's next lookup.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::cache::LocalCache;
    ///
    /// let cache = LocalCache::new(8);
    /// cache.get_or_insert_with(1, || "one");
    /// cache.invalidate_all();
    /// assert_eq!(cache.get(&1), None);
    /// ```
    pub fn invalidate_all(&self) {
        self.log_invalidation(None);
    }

    /// The number of entries the calling thread keeps (after applying any
    /// pending invalidations).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::cache::LocalCache;
    ///
    /// let cache = LocalCache::new(2);
    /// for n in 0..10 {
    ///     cache.get_or_insert_with(n, || n * n);
    /// }
    /// assert_eq!(cache.retained_count(), 2);
    /// ```
    pub fn retained_count(&self) -> usize {
        let Some(local) = self.threads.get() else {
            return 0;
        };
        match local.lru.try_borrow_mut().as_deref_mut() {
            Ok(Some(lru)) => {
                self.catch_up(lru);
                lru.len()
            }
            Ok(None) | Err(_) => 0,
        }
    }

    /// The number of entries the calling thread holds; renamed
    /// [`retained_count`](LocalCache::retained_count).
    #[deprecated(since = "0.2.0", note = "renamed `retained_count`")]
    pub fn local_len(&self) -> usize {
        self.retained_count()
    }

    /// The calling thread's copy, set up on first use; `None` once the
    /// thread is exiting.
    #[inline]
    fn local(&self) -> Option<&Local<K, V, S>> {
        match self.threads.get() {
            Some(local) => Some(local),
            None => self.local_slow(),
        }
    }

    #[cold]
    fn local_slow(&self) -> Option<&Local<K, V, S>> {
        // Built before the claim: cloning the hasher is user code.
        let hasher = self.hasher.clone().unwrap_or_default();
        let fresh = Lru::new(self.capacity, hasher, self.seq.load(Ordering::Acquire));
        let (local, stale) = self.threads.claim(|local, previous| {
            if previous {
                local.stats.hand_over();
            }
            // The previous owner's exit hook took its entries; what is left
            // here is only what a thread whose hook never ran left.
            match local.lru.try_borrow_mut() {
                Ok(mut lru) => lru.replace(fresh),
                // Unreachable: only the owner borrows, and it is claiming.
                Err(_) => Some(fresh),
            }
        });
        drop(stale); // user code: with the slot let go of
        local.map(Slot::state)
    }

    fn lookup<Q>(&self, local: Option<&Local<K, V, S>>, key: &Q) -> Lookup<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(local) = local else {
            // Exiting: no copy to use.
            self.unslotted_misses.fetch_add(1, Ordering::Relaxed);
            return Lookup::Bypass;
        };
        let outcome = match local.lru.try_borrow_mut().as_deref_mut() {
            Ok(Some(lru)) if lru.capacity != 0 => {
                let seq = self.catch_up(lru);
                match lru.get(key) {
                    Some(value) => Lookup::Hit(value.clone()),
                    None => Lookup::Miss { seq },
                }
            }
            // Capacity 0, or a reentrant call from `K`'s or `V`'s own trait
            // impls.
            _ => Lookup::Bypass,
        };
        match outcome {
            Lookup::Hit(_) => local.stats.hits.bump(),
            Lookup::Miss { .. } | Lookup::Bypass => local.stats.misses.bump(),
        }
        outcome
    }

    /// Caches `value` unless an invalidation ran since the lookup at `seq`
    /// (the value may predate it).
    fn store(&self, local: Option<&Local<K, V, S>>, seq: u64, key: K, value: V) {
        let Some(local) = local else {
            return;
        };
        let Ok(mut lru) = local.lru.try_borrow_mut() else {
            return;
        };
        let Some(lru_mut) = lru.as_mut() else {
            return;
        };
        if self.catch_up(lru_mut) != seq || lru_mut.capacity == 0 {
            return;
        }
        if let Some(evicted) = lru_mut.insert(key, value) {
            local.stats.evictions.bump();
            drop(lru);
            drop(evicted); // user code: run it with the copy released
        }
    }

    /// Applies the invalidations this thread's copy has not seen; returns
    /// the sequence number the copy is now at.
    #[inline]
    fn catch_up(&self, lru: &mut Lru<K, V, S>) -> u64 {
        let seq = self.seq.load(Ordering::Acquire);
        if seq != lru.seen {
            self.catch_up_slow(lru);
        }
        lru.seen
    }

    #[cold]
    fn catch_up_slow(&self, lru: &mut Lru<K, V, S>) {
        // Copy what to do under the lock, then do it without the lock: the
        // removals drop values, which is user code.
        let (pending, latest) = {
            let log = self.log.lock();
            let latest = log.back().map_or(0, |&(seq, _)| seq);
            // The keys invalidated since this copy's last catch-up; `None` if
            // one was an `invalidate_all` or the log no longer reaches back
            // that far.
            let complete = log.front().is_some_and(|&(first, _)| first <= lru.seen + 1);
            // `Arc` clones: no user code (`K::clone`) under the lock.
            let pending: Option<Vec<Arc<K>>> = if complete {
                log.iter()
                    .filter(|(seq, _)| *seq > lru.seen)
                    .map(|(_, key)| key.clone())
                    .collect()
            } else {
                None
            };
            (pending, latest)
        };
        match pending {
            Some(keys) => {
                for key in &keys {
                    lru.remove(&**key);
                }
            }
            None => lru.clear(),
        }
        lru.seen = latest;
    }

    fn log_invalidation(&self, key: Option<Arc<K>>) {
        let forgotten = {
            let mut log = self.log.lock();
            let seq = self.seq.load(Ordering::Relaxed) + 1;
            log.push_back((seq, key));
            let forgotten = if log.len() > LOG_LEN {
                log.pop_front()
            } else {
                None
            };
            // Release: a thread that sees the new count sees the log entry
            // (it also takes the lock before reading the log).
            self.seq.store(seq, Ordering::Release);
            forgotten
        };
        // The oldest entry's key may be the last copy: its `Drop` is user
        // code, run after the lock is released.
        drop(forgotten);
    }
}

impl<K: Send, V: Send, S: Send> LocalCache<K, V, S> {
    /// Hits, misses and evictions, in total and per thread (exited threads
    /// included: see [`CacheStats::threads`]).
    ///
    /// Exact once the threads that used the cache have been joined; while
    /// they run, a snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::cache::LocalCache;
    ///
    /// let cache = LocalCache::new(16);
    /// std::thread::scope(|s| {
    ///     for _ in 0..3 {
    ///         s.spawn(|| {
    ///             for _ in 0..10 {
    ///                 cache.get_or_insert_with("k", || 1);
    ///             }
    ///         });
    ///     }
    /// });
    /// let stats = cache.stats();
    /// assert_eq!((stats.total.hits, stats.total.misses), (27, 3));
    /// let lookups: u64 = stats.threads.iter().map(|t| t.value().lookups()).sum();
    /// assert_eq!(lookups, 30);
    /// ```
    pub fn stats(&self) -> CacheStats {
        let unslotted = Stats {
            misses: self.unslotted_misses.load(Ordering::Relaxed),
            ..Stats::default()
        };
        let threads = self
            .threads
            .shares(unslotted, Add::add, |local| local.stats.split());
        CacheStats {
            total: threads.iter().map(|share| *share.value()).sum(),
            threads,
        }
    }

    /// The calling thread's hits, misses and evictions.
    ///
    /// # Examples
    ///
    /// ```
    /// let cache = threadkit::LocalCache::new(4);
    /// cache.get_or_insert_with(1, || 1);
    /// cache.get_or_insert_with(1, || 1);
    /// assert_eq!(cache.local_stats().hits, 1);
    /// ```
    pub fn local_stats(&self) -> Stats {
        self.threads
            .get()
            .map_or_else(Stats::default, |local| local.stats.split().1)
    }
}

impl<K: Send, V: Send, S: Send> fmt::Debug for LocalCache<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCache")
            .field("capacity_per_thread", &self.capacity)
            .field("invalidations", &self.seq.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Hit, miss and eviction counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stats {
    /// Lookups answered from the thread's copy.
    pub hits: u64,
    /// Lookups that were not (each called its loader, if it had one).
    pub misses: u64,
    /// Entries dropped to make room.
    pub evictions: u64,
}

impl Stats {
    /// Hits and misses.
    #[must_use]
    pub fn lookups(&self) -> u64 {
        self.hits + self.misses
    }

    /// The share of lookups that hit, from 0.0 to 1.0 (0.0 with no lookups).
    #[must_use]
    pub fn hit_rate(&self) -> f64 {
        match self.lookups() {
            0 => 0.0,
            lookups => self.hits as f64 / lookups as f64,
        }
    }
}

impl Add for Stats {
    type Output = Stats;

    fn add(self, other: Stats) -> Stats {
        Stats {
            hits: self.hits + other.hits,
            misses: self.misses + other.misses,
            evictions: self.evictions + other.evictions,
        }
    }
}

impl AddAssign for Stats {
    fn add_assign(&mut self, other: Stats) {
        *self = *self + other;
    }
}

impl Sum for Stats {
    fn sum<I: Iterator<Item = Stats>>(iter: I) -> Stats {
        iter.fold(Stats::default(), Add::add)
    }
}

/// A cache's statistics: the total, and each thread's share.
#[derive(Clone, Debug, Default)]
pub struct CacheStats {
    /// The sum over all threads.
    pub total: Stats,
    /// One share per thread that holds a slot in the cache, running or
    /// exited, in no particular order; plus, if not zero, one share that
    /// belongs to no thread: what exited threads left in slots that later
    /// threads took over, and the lookups made during thread teardown.
    pub threads: Vec<ThreadShare<Stats>>,
}

enum Lookup<V> {
    Hit(V),
    /// Not cached; the copy was at invalidation `seq`.
    Miss {
        seq: u64,
    },
    /// This lookup cannot use the thread's copy.
    Bypass,
}

/// A thread's state in a cache: its copy and its counts.
struct Local<K, V, S> {
    /// `None` until the slot is claimed, and again once its owner has
    /// exited.
    lru: RefCell<Option<Lru<K, V, S>>>,
    stats: LocalStats,
}

// SAFETY: the `RefCell` is only touched by the slot's owner (see
// `crate::thread::owned`), including from its exit hook, which runs on the
// owner; other threads read only the atomic counters, in `stats`, or drop the
// copy with exclusive access when the cache is dropped. So sharing `&Local`
// needs only what moving the copy needs: `K`, `V` and `S` are `Send`.
unsafe impl<K: Send, V: Send, S: Send> Sync for Local<K, V, S> {}

impl<K, V, S> Default for Local<K, V, S> {
    fn default() -> Local<K, V, S> {
        Local {
            lru: RefCell::new(None),
            stats: LocalStats::default(),
        }
    }
}

impl<K, V, S> SlotState for Local<K, V, S> {
    type Leftover = Option<Lru<K, V, S>>;

    /// Takes the exiting owner's entries out, to be dropped; its counts
    /// stay.
    fn on_exit(&self) -> Option<Lru<K, V, S>> {
        // Never borrowed here: exit hooks do not run inside a lookup.
        self.lru.try_borrow_mut().ok()?.take()
    }
}

/// A slot's counters, written only by its owner (a load and a store, no
/// read-modify-write), read by `stats` from any thread.
#[derive(Default)]
struct LocalStats {
    hits: Count,
    misses: Count,
    evictions: Count,
}

impl LocalStats {
    /// (What earlier owners of the slot counted, what the current one has.)
    fn split(&self) -> (Stats, Stats) {
        let [hits, misses, evictions] =
            [&self.hits, &self.misses, &self.evictions].map(Count::split);
        (
            Stats {
                hits: hits.0,
                misses: misses.0,
                evictions: evictions.0,
            },
            Stats {
                hits: hits.1,
                misses: misses.1,
                evictions: evictions.1,
            },
        )
    }

    /// Marks everything so far as earlier owners'. New owner only.
    fn hand_over(&self) {
        for count in [&self.hits, &self.misses, &self.evictions] {
            count
                .base
                .store(count.count.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
}

/// A count that only grows, and the part of it that earlier owners of the
/// slot made. It never goes back to zero, so a reader summing slots while
/// a slot changes owner neither misses nor double-counts.
#[derive(Default)]
struct Count {
    count: AtomicU64,
    base: AtomicU64,
}

impl Count {
    /// Adds 1. Only the owning thread writes, so no read-modify-write.
    #[inline]
    fn bump(&self) {
        let count = self.count.load(Ordering::Relaxed);
        self.count.store(count + 1, Ordering::Relaxed);
    }

    fn split(&self) -> (u64, u64) {
        let base = self.base.load(Ordering::Relaxed);
        (base, self.count.load(Ordering::Relaxed).wrapping_sub(base))
    }
}
