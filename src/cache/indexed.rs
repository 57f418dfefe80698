//! [`LocalCache`]: a copy per thread in a slot table, found through the
//! crate's thread index; see the [module documentation](super).
//!
//! The hit path is [`get_or_insert_with`](LocalCache::get_or_insert_with)
//! and the four private methods right after it: the calling thread's slot
//! (`local`), the lookup with its catch-up on invalidations (`lookup`,
//! `catch_up`) and the store of a loaded value (`store`). The slow paths
//! (`local_slow`, `catch_up_slow`, `log_invalidation`) come at the end.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use super::lru::Lru;
use super::stats::{SlotStats, Stats};
use crate::sync::{AtomicU64, Mutex, Ordering};
use crate::thread::owned::{OwnedTable, Slot, SlotState};
use crate::thread::share::ThreadShare;

/// How many recent invalidations the cache remembers. A thread that falls
/// further behind clears its whole copy instead.
const LOG_LEN: usize = 64;

/// A bounded read-through cache with one copy per thread.
///
/// `const`, so it can be a `static`. See the [module documentation](super)
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
/// assert_eq!(squares.stats().evictions, 1);
/// ```
pub struct LocalCache<K: Send, V: Send, S: Send = RandomState> {
    threads: OwnedTable<CacheSlot<K, V, S>>,
    /// Lookups by threads that had no slot (they were exiting): all misses.
    unslotted_misses: AtomicU64,
    /// The most entries each thread keeps.
    max_entries: usize,
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
    /// Creates a cache that keeps up to `max_entries` entries on each
    /// thread. `max_entries` 0 caches nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::cache::LocalCache;
    ///
    /// static PAGES: LocalCache<String, Vec<u8>> = LocalCache::new(64);
    /// assert_eq!(PAGES.max_entries(), 64);
    /// ```
    #[must_use]
    pub const fn new(max_entries: usize) -> LocalCache<K, V, RandomState> {
        LocalCache {
            threads: OwnedTable::new(),
            unslotted_misses: AtomicU64::new(0),
            max_entries,
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
    pub const fn with_hasher(max_entries: usize, hasher: S) -> LocalCache<K, V, S> {
        LocalCache {
            threads: OwnedTable::new(),
            unslotted_misses: AtomicU64::new(0),
            max_entries,
            hasher: Some(hasher),
            seq: AtomicU64::new(0),
            log: Mutex::new(VecDeque::new()),
        }
    }

    /// The most entries each thread keeps.
    #[inline]
    pub fn max_entries(&self) -> usize {
        self.max_entries
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
    /// use the cache itself (see the [module documentation](super#the-rules)).
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

    /// The calling thread's copy, set up on first use; `None` once the
    /// thread is exiting.
    #[inline]
    fn local(&self) -> Option<&CacheSlot<K, V, S>> {
        match self.threads.get() {
            Some(local) => Some(local),
            None => self.local_slow(),
        }
    }

    fn lookup<Q>(&self, local: Option<&CacheSlot<K, V, S>>, key: &Q) -> Lookup<V>
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
            Lookup::Hit(_) => local.stats.hit(),
            Lookup::Miss { .. } | Lookup::Bypass => local.stats.miss(),
        }
        outcome
    }

    /// Caches `value` unless an invalidation ran since the lookup at `seq`
    /// (the value may predate it).
    fn store(&self, local: Option<&CacheSlot<K, V, S>>, seq: u64, key: K, value: V) {
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
            local.stats.evicted();
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

    #[cold]
    fn local_slow(&self) -> Option<&CacheSlot<K, V, S>> {
        // Built before the claim: cloning the hasher is user code.
        let hasher = self.hasher.clone().unwrap_or_default();
        let fresh = Lru::new(self.max_entries, hasher, self.seq.load(Ordering::Acquire));
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
    /// Hits, misses and evictions over all threads, exited threads
    /// included.
    ///
    /// Exact once the threads that used the cache have been joined; while
    /// they run, a snapshot. [`per_thread`](LocalCache::per_thread) has each
    /// thread's share.
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
    /// assert_eq!((stats.hits, stats.misses), (27, 3));
    /// ```
    pub fn stats(&self) -> Stats {
        self.per_thread().iter().map(|share| *share.value()).sum()
    }

    /// Each thread's hits, misses and evictions.
    ///
    /// One share per thread that holds a slot in the cache, running or
    /// exited, in no particular order; plus, if not zero, one share that
    /// belongs to no thread: what exited threads left in slots that later
    /// threads took over, and the lookups made during thread teardown.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::cache::LocalCache;
    ///
    /// let cache = LocalCache::new(16);
    /// std::thread::scope(|s| {
    ///     std::thread::Builder::new()
    ///         .name("loader".into())
    ///         .spawn_scoped(s, || cache.get_or_insert_with("k", || 1))
    ///         .unwrap();
    /// });
    /// let shares = cache.per_thread();
    /// assert_eq!(shares[0].thread_name(), Some("loader"));
    /// assert_eq!(shares[0].value().misses, 1);
    /// ```
    pub fn per_thread(&self) -> Vec<ThreadShare<Stats>> {
        let unslotted = Stats {
            misses: self.unslotted_misses.load(Ordering::Relaxed),
            ..Stats::default()
        };
        self.threads
            .shares(unslotted, |local| local.stats.split(), |_| ())
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
            .field("max_entries", &self.max_entries)
            .field("invalidations", &self.seq.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
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
struct CacheSlot<K, V, S> {
    /// `None` until the slot is claimed, and again once its owner has
    /// exited.
    lru: RefCell<Option<Lru<K, V, S>>>,
    stats: SlotStats,
}

// SAFETY: the `RefCell` is only touched by the slot's owner (see
// `crate::thread::owned`), including from its exit hook, which runs on the
// owner; other threads read only the atomic counters, in `stats`, or drop the
// copy with exclusive access when the cache is dropped. So sharing `&CacheSlot`
// needs only what moving the copy needs: `K`, `V` and `S` are `Send`.
unsafe impl<K: Send, V: Send, S: Send> Sync for CacheSlot<K, V, S> {}

impl<K, V, S> Default for CacheSlot<K, V, S> {
    fn default() -> CacheSlot<K, V, S> {
        CacheSlot {
            lru: RefCell::new(None),
            stats: SlotStats::default(),
        }
    }
}

impl<K, V, S> SlotState for CacheSlot<K, V, S> {
    type Leftover = Option<Lru<K, V, S>>;

    /// Takes the exiting owner's entries out, to be dropped; its counts
    /// stay.
    fn on_exit(&self) -> Option<Lru<K, V, S>> {
        // Never borrowed here: exit hooks do not run inside a lookup.
        self.lru.try_borrow_mut().ok()?.take()
    }
}
