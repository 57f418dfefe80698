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
//!   caches nothing).
//! - **No hoarding of entries.** A thread's entries are dropped when the
//!   thread exits. Its statistics stay, so that `stats` can report them:
//!   about 400 bytes per thread that ever used the cache (measured: RSS grew
//!   by 39 564 KiB over 100 000 short threads on one long-lived cache), freed
//!   when the cache is dropped. With a thread pool that is nothing; with a
//!   thread per connection on a `static` cache it adds up.
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

use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::iter::Sum;
use std::ops::{Add, AddAssign};
use std::sync::{Arc, OnceLock};
use std::thread::ThreadId;

use parking_lot::Mutex;

use crate::registry::PerThread;
use crate::sync::{AtomicU64, Ordering};
use crate::thread_id::{self, ExitHook, Registration, ThreadRecord};

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
/// thread's hasher, as for [`HashMap`].
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
    threads: PerThread<Local<K, V, S>>,
    capacity: usize,
    /// `None`: each thread uses `S::default()`.
    hasher: Option<S>,
    /// The number of invalidations so far. A thread whose copy has seen
    /// fewer applies the missing ones from `log` before its next lookup.
    seq: AtomicU64,
    /// The most recent invalidations, oldest first: `(seq, key)`, where a
    /// `None` key invalidates everything.
    log: Mutex<VecDeque<(u64, Option<K>)>>,
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
            threads: PerThread::new(),
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
            threads: PerThread::new(),
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
        self.log_invalidation(Some(key.to_owned()));
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

    /// The number of entries the calling thread holds (after applying any
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
    /// assert_eq!(cache.local_len(), 2);
    /// ```
    pub fn local_len(&self) -> usize {
        let Some(local) = self.threads.get() else {
            return 0;
        };
        match local.lru.try_borrow_mut() {
            Ok(mut lru) => {
                self.catch_up(&mut lru);
                lru.len()
            }
            Err(_) => 0,
        }
    }

    /// The calling thread's copy, created on first use.
    #[inline]
    fn local(&self) -> &Local<K, V, S> {
        match self.threads.get() {
            Some(local) => local,
            None => self.local_slow(),
        }
    }

    #[cold]
    fn local_slow(&self) -> &Local<K, V, S> {
        let local = self.threads.get_or(|| {
            let hasher = self.hasher.clone().unwrap_or_default();
            let seen = self.seq.load(Ordering::Acquire);
            Local::new(Lru::new(self.capacity, hasher, seen))
        });
        if local.hook.get().is_none() {
            // Drop the thread's entries when it exits; keep its statistics.
            let registered = match thread_id::register() {
                Registration::Live(_, record) => {
                    let hook = ExitHook {
                        data: std::ptr::from_ref(local).cast(),
                        run: Local::<K, V, S>::on_exit,
                    };
                    record.add_exit_hook(hook) && local.hook.set(record).is_ok()
                }
                Registration::Exiting { .. } => false,
            };
            if !registered {
                // Exiting already: cache nothing for this thread.
                if let Ok(mut lru) = local.lru.try_borrow_mut() {
                    lru.close();
                }
            }
        }
        local
    }

    fn lookup<Q>(&self, local: &Local<K, V, S>, key: &Q) -> Lookup<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let outcome = match local.lru.try_borrow_mut() {
            Ok(mut lru) if lru.capacity != 0 => {
                let seq = self.catch_up(&mut lru);
                match lru.get(key) {
                    Some(value) => Lookup::Hit(value.clone()),
                    None => Lookup::Miss { seq },
                }
            }
            // Capacity 0 (or closed at thread exit), or a reentrant call from
            // `K`'s or `V`'s own trait impls.
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
    fn store(&self, local: &Local<K, V, S>, seq: u64, key: K, value: V) {
        let Ok(mut lru) = local.lru.try_borrow_mut() else {
            return;
        };
        if self.catch_up(&mut lru) != seq || lru.capacity == 0 {
            return;
        }
        if let Some(evicted) = lru.insert(key, value) {
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
            let pending: Option<Vec<K>> = if complete {
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
                    lru.remove(key);
                }
            }
            None => lru.clear(),
        }
        lru.seen = latest;
    }

    fn log_invalidation(&self, key: Option<K>) {
        let mut log = self.log.lock();
        let seq = self.seq.load(Ordering::Relaxed) + 1;
        log.push_back((seq, key));
        if log.len() > LOG_LEN {
            log.pop_front();
        }
        // Release: a thread that sees the new count sees the log entry (it
        // also takes the lock before reading the log).
        self.seq.store(seq, Ordering::Release);
    }
}

impl<K: Send, V: Send, S: Send> LocalCache<K, V, S> {
    /// Hits, misses and evictions, in total and per thread (exited threads
    /// included).
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
    /// assert_eq!(stats.threads.len(), 3);
    /// assert_eq!((stats.total.hits, stats.total.misses), (27, 3));
    /// ```
    pub fn stats(&self) -> CacheStats {
        let threads: Vec<ThreadStats> = self
            .threads
            .iter_entries()
            .map(|entry| ThreadStats {
                thread_id: entry.thread_id(),
                thread_name: entry.thread_name().map(String::from),
                exited: entry.has_exited(),
                stats: entry.value().stats.snapshot(),
            })
            .collect();
        CacheStats {
            total: threads.iter().map(|t| t.stats).sum(),
            threads,
        }
    }

    /// The calling thread's hits, misses and evictions.
    pub fn local_stats(&self) -> Stats {
        self.threads
            .get()
            .map_or_else(Stats::default, |local| local.stats.snapshot())
    }
}

impl<K: Send, V: Send, S: Send> Drop for LocalCache<K, V, S> {
    fn drop(&mut self) {
        // Threads still running must not run the exit hook on a freed copy;
        // and a hook that ran must be ordered before the copies are dropped.
        // `remove_exit_hooks` takes the lock the hooks run under, which does
        // both. Shared access until then: `&mut` would race with a hook.
        for local in self.threads.iter() {
            if let Some(record) = local.hook.get() {
                record.remove_exit_hooks(std::ptr::from_ref(local).cast());
            }
        }
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
    /// One entry per thread that used the cache, in no particular order.
    pub threads: Vec<ThreadStats>,
}

/// One thread's statistics.
#[derive(Clone, Debug)]
pub struct ThreadStats {
    /// The thread.
    pub thread_id: ThreadId,
    /// Its name, if it had one.
    pub thread_name: Option<String>,
    /// Whether it has exited (its entries are gone; its counts stay).
    pub exited: bool,
    /// Its counts.
    pub stats: Stats,
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

/// One thread's copy and counts.
struct Local<K, V, S> {
    lru: RefCell<Lru<K, V, S>>,
    stats: LocalStats,
    /// The thread's record, once the exit hook is registered.
    hook: OnceLock<Arc<ThreadRecord>>,
}

// SAFETY: the `RefCell` is only touched by the thread that owns this copy:
// `PerThread::get`/`get_or` return the calling thread's own value, and the
// exit hook runs on the owning thread. Other threads reach a `Local` only
// through `PerThread::iter*`, in `stats`, which reads the atomic counters, or
// with `&mut` access in `LocalCache::drop`. So sharing `&Local` needs only
// what moving the copy needs: `K`, `V` and `S` are `Send`.
unsafe impl<K: Send, V: Send, S: Send> Sync for Local<K, V, S> {}

impl<K, V, S> Local<K, V, S> {
    fn new(lru: Lru<K, V, S>) -> Local<K, V, S> {
        Local {
            lru: RefCell::new(lru),
            stats: LocalStats::default(),
            hook: OnceLock::new(),
        }
    }
}

impl<K: Hash + Eq + Clone, V, S: BuildHasher> Local<K, V, S> {
    /// The exit hook: drop the thread's entries and cache nothing more.
    ///
    /// # Safety
    ///
    /// `data` is a `&Local<K, V, S>` still registered (so not yet freed), and
    /// this runs on its owning thread.
    unsafe fn on_exit(data: *const ()) {
        // SAFETY: the caller's contract.
        let local = unsafe { &*data.cast::<Local<K, V, S>>() };
        if let Ok(mut lru) = local.lru.try_borrow_mut() {
            lru.close();
        }
    }
}

/// Per-thread counters, written only by their thread (a load and a store, no
/// read-modify-write), read by `stats` from any thread.
#[derive(Default)]
struct LocalStats {
    hits: Count,
    misses: Count,
    evictions: Count,
}

impl LocalStats {
    fn snapshot(&self) -> Stats {
        Stats {
            hits: self.hits.get(),
            misses: self.misses.get(),
            evictions: self.evictions.get(),
        }
    }
}

#[derive(Default)]
struct Count(AtomicU64);

impl Count {
    /// Adds 1. Only the owning thread writes, so no read-modify-write.
    #[inline]
    fn bump(&self) {
        self.0
            .store(self.0.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// No entry.
const NIL: usize = usize::MAX;

/// A least-recently-used map: a hash index into a slab of entries that are
/// linked from the newest to the oldest.
struct Lru<K, V, S> {
    index: HashMap<K, usize, S>,
    entries: Vec<Entry<K, V>>,
    newest: usize,
    oldest: usize,
    capacity: usize,
    /// The invalidations applied so far.
    seen: u64,
}

struct Entry<K, V> {
    key: K,
    value: V,
    newer: usize,
    older: usize,
}

impl<K: Hash + Eq + Clone, V, S: BuildHasher> Lru<K, V, S> {
    fn new(capacity: usize, hasher: S, seen: u64) -> Lru<K, V, S> {
        Lru {
            index: HashMap::with_hasher(hasher),
            entries: Vec::new(),
            newest: NIL,
            oldest: NIL,
            capacity,
            seen,
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    /// The value for `key`, now the most recently used.
    #[inline]
    fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let at = *self.index.get(key)?;
        self.touch(at);
        Some(&self.entries[at].value)
    }

    /// Inserts or replaces `key`, as the most recently used; returns the
    /// entry evicted to make room, if any.
    fn insert(&mut self, key: K, value: V) -> Option<Entry<K, V>> {
        if let Some(&at) = self.index.get(&key) {
            self.entries[at].value = value;
            self.touch(at);
            return None;
        }
        let evicted = if self.entries.len() >= self.capacity {
            let oldest = self.oldest;
            self.index.remove(&self.entries[oldest].key);
            Some(self.remove_at(oldest))
        } else {
            None
        };
        let at = self.entries.len();
        self.entries.push(Entry {
            key: key.clone(),
            value,
            newer: NIL,
            older: NIL,
        });
        self.link_newest(at);
        self.index.insert(key, at);
        evicted
    }

    fn remove<Q>(&mut self, key: &Q) -> Option<Entry<K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let at = self.index.remove(key)?;
        Some(self.remove_at(at))
    }

    fn clear(&mut self) {
        self.index.clear();
        self.entries.clear();
        self.newest = NIL;
        self.oldest = NIL;
    }

    /// Frees everything and caches nothing from now on (thread exit).
    fn close(&mut self) {
        self.clear();
        self.index.shrink_to_fit();
        self.entries = Vec::new();
        self.capacity = 0;
    }

    fn touch(&mut self, at: usize) {
        if at != self.newest {
            self.unlink(at);
            self.link_newest(at);
        }
    }

    fn link_newest(&mut self, at: usize) {
        self.entries[at].newer = NIL;
        self.entries[at].older = self.newest;
        match self.newest {
            NIL => self.oldest = at,
            newest => self.entries[newest].newer = at,
        }
        self.newest = at;
    }

    fn unlink(&mut self, at: usize) {
        let Entry { newer, older, .. } = self.entries[at];
        match newer {
            NIL => self.newest = older,
            newer => self.entries[newer].older = older,
        }
        match older {
            NIL => self.oldest = newer,
            older => self.entries[older].newer = newer,
        }
    }

    /// Removes the entry at `at`, whose key is already out of the index; the
    /// last entry moves into its place.
    fn remove_at(&mut self, at: usize) -> Entry<K, V> {
        self.unlink(at);
        let removed = self.entries.swap_remove(at);
        if at < self.entries.len() {
            let Entry { newer, older, .. } = self.entries[at];
            match newer {
                NIL => self.newest = at,
                newer => self.entries[newer].older = at,
            }
            match older {
                NIL => self.oldest = at,
                older => self.entries[older].newer = at,
            }
            if let Some(slot) = self.index.get_mut(&self.entries[at].key) {
                *slot = at;
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lru(capacity: usize) -> Lru<u32, u32, RandomState> {
        Lru::new(capacity, RandomState::new(), 0)
    }

    /// Keys from the most to the least recently used, following the links,
    /// checked against the index.
    fn order(lru: &Lru<u32, u32, RandomState>) -> Vec<u32> {
        let mut keys = Vec::new();
        let mut at = lru.newest;
        let mut previous = NIL;
        while at != NIL {
            let entry = &lru.entries[at];
            assert_eq!(entry.newer, previous, "back link of {}", entry.key);
            assert_eq!(lru.index[&entry.key], at, "index of {}", entry.key);
            keys.push(entry.key);
            previous = at;
            at = entry.older;
        }
        assert_eq!(lru.oldest, previous);
        assert_eq!(keys.len(), lru.len());
        assert_eq!(lru.index.len(), lru.len());
        keys
    }

    #[test]
    fn evicts_the_least_recently_used() {
        let mut lru = lru(3);
        for key in [1, 2, 3] {
            assert!(lru.insert(key, key * 10).is_none());
        }
        assert_eq!(order(&lru), [3, 2, 1]);
        assert_eq!(lru.get(&1), Some(&10));
        assert_eq!(order(&lru), [1, 3, 2]);
        let evicted = lru.insert(4, 40).map(|e| e.key);
        assert_eq!(evicted, Some(2));
        assert_eq!(order(&lru), [4, 1, 3]);
    }

    #[test]
    fn removal_from_anywhere_keeps_links_and_index_consistent() {
        for victim in 0..5 {
            let mut lru = lru(5);
            for key in 0..5 {
                lru.insert(key, key);
            }
            lru.get(&2);
            let mut expected = order(&lru);
            assert_eq!(lru.remove(&victim).map(|e| e.value), Some(victim));
            expected.retain(|&k| k != victim);
            assert_eq!(order(&lru), expected, "after removing {victim}");
            lru.insert(9, 9);
            expected.insert(0, 9);
            assert_eq!(order(&lru), expected);
        }
    }

    #[test]
    fn replacing_a_key_updates_value_and_recency() {
        let mut lru = lru(2);
        lru.insert(1, 1);
        lru.insert(2, 2);
        assert!(lru.insert(1, 100).is_none());
        assert_eq!(order(&lru), [1, 2]);
        assert_eq!(lru.get(&1), Some(&100));
    }
}
