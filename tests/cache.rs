//! Behaviour of `cache::LocalCache`: read-through, LRU order and bound,
//! invalidation across threads, statistics, reentrancy, capacity 0, thread
//! exit and teardown.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, PoisonError};
use std::thread;

use threadkit::cache::{LocalCache, Stats};

mod common;
use common::scaled;

/// A value that counts its drops (clones included).
#[derive(Debug)]
struct Tracked {
    value: u64,
    drops: Arc<AtomicUsize>,
}

impl Clone for Tracked {
    fn clone(&self) -> Tracked {
        Tracked {
            value: self.value,
            drops: Arc::clone(&self.drops),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn loads_on_miss_and_answers_hits_from_the_thread_copy() {
    let cache = LocalCache::new(8);
    let loads = Cell::new(0);
    let load = |key: u32| {
        cache.get_or_insert_with(key, || {
            loads.set(loads.get() + 1);
            key * 2
        })
    };
    assert_eq!(load(1), 2);
    assert_eq!(load(1), 2);
    assert_eq!(load(2), 4);
    assert_eq!(load(1), 2);
    assert_eq!(loads.get(), 2);
    assert_eq!(
        cache.local_stats(),
        Stats {
            hits: 2,
            misses: 2,
            evictions: 0
        }
    );
}

#[test]
fn evicts_in_least_recently_used_order() {
    let cache = LocalCache::new(3);
    for key in [1, 2, 3] {
        cache.get_or_insert_with(key, || key);
    }
    assert_eq!(cache.get(&1), Some(1)); // 1 is now the newest: order 1, 3, 2
    cache.get_or_insert_with(4, || 4); // evicts 2
    assert_eq!(cache.get(&2), None);
    assert_eq!(cache.get(&3), Some(3)); // order 3, 4, 1
    cache.get_or_insert_with(5, || 5); // evicts 1
    assert_eq!(cache.get(&1), None);
    assert_eq!(cache.get(&4), Some(4));
    assert_eq!(cache.get(&5), Some(5));
    assert_eq!(cache.local_stats().evictions, 2);
    assert_eq!(cache.retained_count(), 3);
}

#[test]
fn bound_holds_under_many_keys() {
    let capacity = 64;
    let keys = scaled(20_000, 300);
    let cache = LocalCache::new(capacity);
    for key in 0..keys {
        cache.get_or_insert_with(key, || key);
        assert!(cache.retained_count() <= capacity);
    }
    assert_eq!(cache.retained_count(), capacity);
    assert_eq!(cache.local_stats().evictions, (keys - capacity) as u64);
    // The newest `capacity` keys are the ones kept.
    for key in keys - capacity..keys {
        assert_eq!(cache.get(&key), Some(key), "key {key}");
    }
}

#[test]
fn invalidation_reaches_other_threads_before_their_next_lookup() {
    let cache: LocalCache<&str, u32> = LocalCache::new(8);
    let version = AtomicUsize::new(1);
    let cached = Barrier::new(2);
    let invalidated = Barrier::new(2);
    thread::scope(|s| {
        s.spawn(|| {
            let load = || version.load(Ordering::SeqCst) as u32;
            assert_eq!(cache.get_or_insert_with("config", load), 1);
            assert_eq!(cache.get_or_insert_with("other", load), 1);
            cached.wait();
            invalidated.wait();
            // The source changed and the key was invalidated: reload.
            assert_eq!(cache.get_or_insert_with("config", load), 2);
            // Keys not invalidated stay cached.
            assert_eq!(cache.get(&"other"), Some(1));
        });
        cached.wait();
        version.store(2, Ordering::SeqCst);
        cache.invalidate(&"config");
        invalidated.wait();
    });
}

#[test]
fn invalidate_all_reaches_other_threads() {
    let cache = LocalCache::new(8);
    let cached = Barrier::new(2);
    let invalidated = Barrier::new(2);
    thread::scope(|s| {
        s.spawn(|| {
            for key in 0..4 {
                cache.get_or_insert_with(key, || key);
            }
            cached.wait();
            invalidated.wait();
            for key in 0..4 {
                assert_eq!(cache.get(&key), None, "key {key}");
            }
            assert_eq!(cache.retained_count(), 0);
        });
        cached.wait();
        cache.invalidate_all();
        invalidated.wait();
    });
}

#[test]
fn a_thread_far_behind_the_invalidation_log_drops_its_whole_copy() {
    let cache = LocalCache::new(256);
    for key in 0..200_u32 {
        cache.get_or_insert_with(key, || key);
    }
    thread::scope(|s| {
        // More invalidations than the log keeps, all from another thread.
        s.spawn(|| {
            for key in 1000..1200 {
                cache.invalidate(&key);
            }
            cache.invalidate(&7);
        });
    });
    assert_eq!(cache.get(&7), None);
    assert_eq!(
        cache.retained_count(),
        0,
        "cleared, since it could not tell which keys went"
    );
}

#[test]
fn a_few_invalidations_remove_only_their_keys() {
    let cache = LocalCache::new(16);
    for key in 0..10_u32 {
        cache.get_or_insert_with(key, || key);
    }
    thread::scope(|s| {
        s.spawn(|| {
            cache.invalidate(&3);
            cache.invalidate(&5);
        });
    });
    assert_eq!(cache.retained_count(), 8);
    assert_eq!(cache.get(&3), None);
    assert_eq!(cache.get(&5), None);
    assert_eq!(cache.get(&4), Some(4));
}

#[test]
fn stats_are_exact_after_join() {
    let threads = 4;
    let rounds = scaled(500, 20);
    let keys = 10;
    let cache = LocalCache::new(keys);
    // All alive at once, so that no thread takes over an exited one's slot
    // (whose counts would then be reported as unattributed).
    let all_started = std::sync::Barrier::new(threads);
    thread::scope(|s| {
        for t in 0..threads {
            let (cache, all_started) = (&cache, &all_started);
            thread::Builder::new()
                .name(format!("worker-{t}"))
                .spawn_scoped(s, move || {
                    for round in 0..rounds {
                        let key = round % keys;
                        assert_eq!(cache.get_or_insert_with(key, || key * 3), key * 3);
                    }
                    all_started.wait();
                })
                .unwrap();
        }
    });
    let (stats, shares) = (cache.stats(), cache.per_thread());
    let misses = (threads * keys) as u64;
    assert_eq!(stats.misses, misses);
    assert_eq!(stats.hits, (threads * rounds) as u64 - misses);
    assert_eq!(stats.evictions, 0);
    assert_eq!(shares.len(), threads);
    let mut names: Vec<_> = shares
        .iter()
        .map(|t| {
            assert_eq!(t.value().misses, keys as u64);
            t.thread_name().unwrap().to_owned()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["worker-0", "worker-1", "worker-2", "worker-3"]);
}

#[test]
fn reentrant_loader_neither_panics_nor_deadlocks() {
    let cache: LocalCache<u32, u32> = LocalCache::new(8);
    let value = cache.get_or_insert_with(1, || {
        // Another key, through the same cache, from inside the loader.
        let two = cache.get_or_insert_with(2, || 20);
        // The same key: loads it (a miss) and caches 100 ...
        let inner = cache.get_or_insert_with(1, || 100);
        assert_eq!(inner, 100);
        two + 1
    });
    // ... and the outer loader's value replaces it when it returns.
    assert_eq!(value, 21);
    assert_eq!(cache.get(&1), Some(21));
    assert_eq!(cache.get(&2), Some(20));
}

#[test]
fn loader_that_invalidates_is_not_cached() {
    let cache: LocalCache<u32, u32> = LocalCache::new(8);
    let value = cache.get_or_insert_with(1, || {
        cache.invalidate(&1); // the source changed while we loaded
        10
    });
    assert_eq!(value, 10, "the caller gets what was loaded");
    assert_eq!(
        cache.get(&1),
        None,
        "but it may be stale, so it is not kept"
    );

    // The same when a nested lookup has already applied the invalidation to
    // this thread's copy before the loader returns.
    let value = cache.get_or_insert_with(1, || {
        cache.invalidate(&1);
        assert_eq!(cache.get(&2), None);
        20
    });
    assert_eq!(value, 20);
    assert_eq!(cache.get(&1), None);
}

#[test]
fn panicking_loader_caches_nothing() {
    let cache: LocalCache<u32, u32> = LocalCache::new(8);
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        cache.get_or_insert_with(1, || panic!("source down"))
    }));
    assert!(result.is_err());
    assert_eq!(cache.get(&1), None);
    assert_eq!(cache.get_or_insert_with(1, || 5), 5);
    assert_eq!(cache.get(&1), Some(5));
}

#[test]
fn capacity_zero_never_caches() {
    let cache = LocalCache::new(0);
    let loads = Cell::new(0);
    for _ in 0..3 {
        let v = cache.get_or_insert_with("k", || {
            loads.set(loads.get() + 1);
            7
        });
        assert_eq!(v, 7);
    }
    assert_eq!(loads.get(), 3);
    assert_eq!(cache.get(&"k"), None);
    assert_eq!(cache.retained_count(), 0);
    assert_eq!(cache.local_stats().misses, 4);
    assert_eq!(cache.local_stats().hits, 0);
}

#[test]
fn borrowed_keys_work_for_lookup_and_invalidation() {
    let cache: LocalCache<String, usize> = LocalCache::new(4);
    cache.get_or_insert_with("alpha".to_string(), || 5);
    assert_eq!(cache.get("alpha"), Some(5));
    cache.invalidate("alpha");
    assert_eq!(cache.get("alpha"), None);
}

#[test]
fn entries_are_dropped_at_thread_exit_and_stats_kept() {
    let drops = Arc::new(AtomicUsize::new(0));
    let cache = LocalCache::new(16);
    thread::scope(|s| {
        s.spawn(|| {
            for key in 0..5_u64 {
                let value = cache.get_or_insert_with(key, || Tracked {
                    value: key,
                    drops: Arc::clone(&drops),
                });
                assert_eq!(value.value, key);
            } // each returned clone is dropped here: 5 drops
        });
    });
    // `scope` returns before the thread's TLS destructors run; wait for them.
    let mut waited = 0;
    while drops.load(Ordering::SeqCst) < 10 && waited < 10_000 {
        thread::yield_now();
        waited += 1;
    }
    assert_eq!(
        drops.load(Ordering::SeqCst),
        10,
        "the 5 cached copies went at exit"
    );
    assert_eq!(cache.stats().misses, 5);
    drop(cache);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        10,
        "and were not dropped twice"
    );
}

#[test]
fn values_are_dropped_exactly_once_when_the_cache_goes() {
    let drops = Arc::new(AtomicUsize::new(0));
    let cache = LocalCache::new(2);
    for key in 0..3_u64 {
        drop(cache.get_or_insert_with(key, || Tracked {
            value: key,
            drops: Arc::clone(&drops),
        }));
    }
    // 3 returned clones + 1 evicted entry.
    assert_eq!(drops.load(Ordering::SeqCst), 4);
    drop(cache);
    assert_eq!(drops.load(Ordering::SeqCst), 6);
}

#[test]
fn works_inside_thread_local_destructors() {
    static CACHE: LocalCache<u32, u32> = LocalCache::new(4);

    struct UsesCache(Arc<Mutex<Vec<u32>>>);
    impl Drop for UsesCache {
        fn drop(&mut self) {
            let first = CACHE.get_or_insert_with(1, || 11);
            let second = CACHE.get_or_insert_with(1, || 12);
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend([first, second]);
        }
    }
    thread_local! {
        static EARLY: Cell<Option<UsesCache>> = const { Cell::new(None) };
        static LATE: Cell<Option<UsesCache>> = const { Cell::new(None) };
    }

    let seen = Arc::new(Mutex::new(Vec::new()));
    let for_thread = Arc::clone(&seen);
    thread::spawn(move || {
        EARLY.set(Some(UsesCache(Arc::clone(&for_thread))));
        assert_eq!(CACHE.get_or_insert_with(1, || 10), 10);
        LATE.set(Some(UsesCache(for_thread)));
    })
    .join()
    .unwrap();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    // Each destructor got an answer; none panicked. Whether the thread's
    // copy was still there depends on the destructor order, so each pair is
    // (10, 10) or, once the copy is gone, (11, 12).
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().all(|v| [10, 11, 12].contains(v)), "{seen:?}");
}

#[test]
fn debug_shows_capacity_and_invalidations() {
    let cache: LocalCache<u8, u8> = LocalCache::new(3);
    cache.invalidate(&1);
    assert_eq!(
        format!("{cache:?}"),
        "LocalCache { max_entries: 3, invalidations: 1, .. }"
    );
}

#[test]
fn exited_threads_slots_are_reused_and_their_counts_kept() {
    let cache: LocalCache<u32, u32> = LocalCache::new(4);
    let threads = scaled(64, 6);
    // One thread at a time: each can take over the last one's slot, so the
    // cache holds slots for the one or two threads alive at once, not for
    // all of them.
    for t in 0..threads {
        thread::scope(|s| {
            s.spawn(|| {
                cache.get_or_insert_with(t, || t); // miss
                cache.get_or_insert_with(t, || t); // hit
            });
        });
    }
    let (stats, shares) = (cache.stats(), cache.per_thread());
    assert_eq!(stats.hits, u64::from(threads));
    assert_eq!(stats.misses, u64::from(threads));
    // Other tests run threads at the same time and take indices too, so
    // the bound leaves room for them; without reuse there would be a slot
    // for every one of the `threads`.
    let bound = if cfg!(miri) { 4 } else { threads as usize / 4 };
    let attributed = shares.iter().filter(|t| t.thread_id().is_some());
    assert!(
        attributed.count() < bound,
        "slots for {} threads: {:?}",
        shares.len(),
        shares
    );
    let folded = shares.iter().find(|t| t.thread_id().is_none());
    let folded = folded.expect("the exited threads' counts, folded into one share");
    assert!(folded.has_exited());
    assert!(folded.value().lookups() > 0);
    let sum: u64 = shares.iter().map(|t| t.value().lookups()).sum();
    assert_eq!(sum, 2 * u64::from(threads), "shares add up to the total");
}

/// A key whose `Clone`, `Hash`, `Eq` and `Drop` call back into the cache
/// that holds it (through `CACHE`, set for the test's thread).
#[derive(Debug)]
struct Meddling(u32);

thread_local! {
    static CACHE: std::cell::Cell<Option<&'static LocalCache<Meddling, u32>>> =
        const { std::cell::Cell::new(None) };
}

fn meddle() {
    // Taken out while meddling: the calls below clone, hash and drop keys.
    if let Some(cache) = CACHE.with(|c| c.take()) {
        // Each of these takes the invalidation log's lock.
        cache.invalidate(&Meddling(1_000));
        let _ = cache.stats();
        CACHE.with(|c| c.set(Some(cache)));
    }
}

impl Clone for Meddling {
    fn clone(&self) -> Meddling {
        meddle();
        Meddling(self.0)
    }
}

impl PartialEq for Meddling {
    fn eq(&self, other: &Meddling) -> bool {
        meddle();
        self.0 == other.0
    }
}

impl Eq for Meddling {}

impl std::hash::Hash for Meddling {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        meddle();
        self.0.hash(state);
    }
}

impl Drop for Meddling {
    fn drop(&mut self) {
        meddle();
    }
}

#[test]
fn keys_that_call_back_into_the_cache_never_deadlock_it() {
    static MEDDLED: LocalCache<Meddling, u32> = LocalCache::new(4);
    let (done, finished) = std::sync::mpsc::channel();
    thread::spawn(move || {
        // Invalidations logged by another thread, applied by this one: the
        // catch-up copies the logged keys.
        thread::spawn(|| {
            for k in 0..8 {
                MEDDLED.invalidate(&Meddling(k));
            }
        })
        .join()
        .unwrap();
        CACHE.with(|c| c.set(Some(&MEDDLED)));
        for k in 0..8 {
            MEDDLED.get_or_insert_with(Meddling(k), || k);
            MEDDLED.invalidate(&Meddling(k));
            let _ = MEDDLED.get(&Meddling(k));
        }
        // Enough invalidations to push keys out of the log (their last copy
        // is dropped there).
        for k in 0..100 {
            MEDDLED.invalidate(&Meddling(k));
        }
        let _ = MEDDLED.get(&Meddling(0));
        CACHE.with(|c| c.set(None));
        done.send(()).unwrap();
    });
    finished
        .recv_timeout(std::time::Duration::from_secs(if cfg!(miri) {
            600
        } else {
            30
        }))
        .expect("a key calling back into the cache deadlocked it");
}

/// Counts the drops of its clones (the copies a cache stores); the clone of
/// value `panics` panics when dropped.
#[derive(Debug)]
struct PanicsOnDrop {
    id: u32,
    panics: u32,
    stored: bool,
    drops: Arc<AtomicUsize>,
}

impl Clone for PanicsOnDrop {
    fn clone(&self) -> PanicsOnDrop {
        PanicsOnDrop {
            stored: true,
            drops: Arc::clone(&self.drops),
            ..*self
        }
    }
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if self.stored {
            self.drops.fetch_add(1, Ordering::SeqCst);
            // Not while unwinding (a failed assertion): that would abort.
            if self.id == self.panics && !std::thread::panicking() {
                panic!("value {} refuses to go quietly", self.id);
            }
        }
    }
}

#[test]
fn a_panicking_drop_does_not_leak_the_other_entries() {
    for panics in 0..4 {
        for how in ["drop the cache", "invalidate_all"] {
            let drops = Arc::new(AtomicUsize::new(0));
            let cache = LocalCache::new(8);
            for id in 0..4 {
                let value = PanicsOnDrop {
                    id,
                    panics,
                    stored: false,
                    drops: Arc::clone(&drops),
                };
                drop(cache.get_or_insert_with(id, || value));
            }
            let result = panic::catch_unwind(AssertUnwindSafe(|| match how {
                "drop the cache" => drop(cache),
                _ => {
                    cache.invalidate_all();
                    let _ = cache.get(&0); // applies it: clears this copy
                }
            }));
            assert!(
                result.is_err(),
                "{how}, value {panics}: the panic is not swallowed"
            );
            assert_eq!(drops.load(Ordering::SeqCst), 4, "{how}, value {panics}");
        }
    }
}
