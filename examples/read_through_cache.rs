//! A slow "database" behind a `LocalCache`, on a rayon thread pool.
//!
//! Run with `cargo run --release --example read_through_cache`. Requests
//! look up user records, mostly a few hot ones; each database lookup blocks
//! for 50 µs. The same requests run without a cache and with one (64
//! entries per pool thread); the program prints the hit rate and the
//! speed-up, then changes a record and shows that invalidation reaches every
//! pool thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use rayon::prelude::*;
use threadkit::cache::LocalCache;
use threadkit::rng;

/// The slow, shared source of truth.
struct Database {
    users: RwLock<HashMap<u32, String>>,
    queries: AtomicU64,
}

impl Database {
    fn new(users: u32) -> Database {
        let users = (0..users).map(|id| (id, format!("user-{id}"))).collect();
        Database {
            users: RwLock::new(users),
            queries: AtomicU64::new(0),
        }
    }

    fn lookup(&self, id: u32) -> String {
        self.queries.fetch_add(1, Ordering::Relaxed);
        thread::sleep(Duration::from_micros(50)); // the network round trip
        self.users.read()[&id].clone()
    }
}

/// 80% of requests ask for one of 20 hot users, the rest for any of 2000.
fn request_ids(count: usize) -> Vec<u32> {
    rng::seed(7);
    (0..count)
        .map(|_| {
            if rng::range(0..100) < 80 {
                rng::range(0..20)
            } else {
                rng::range(0..2000)
            }
        })
        .collect()
}

fn main() {
    let requests = request_ids(if cfg!(debug_assertions) {
        2_000
    } else {
        10_000
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .thread_name(|i| format!("pool-{i}"))
        .build()
        .unwrap();
    let db = Database::new(2000);

    let started = Instant::now();
    let uncached: usize = pool.install(|| requests.par_iter().map(|&id| db.lookup(id).len()).sum());
    let uncached_time = started.elapsed();
    let uncached_queries = db.queries.swap(0, Ordering::Relaxed);

    let cache: LocalCache<u32, String> = LocalCache::new(64);
    let started = Instant::now();
    let cached: usize = pool.install(|| {
        requests
            .par_iter()
            .map(|&id| cache.get_or_insert_with(id, || db.lookup(id)).len())
            .sum()
    });
    let cached_time = started.elapsed();
    assert_eq!(cached, uncached, "the cache changes nothing but the speed");

    let stats = cache.stats();
    println!(
        "{} requests on {} pool threads, 50 µs per database lookup",
        requests.len(),
        4
    );
    println!(
        "  no cache   : {:>8.1?}  ({} database queries)",
        uncached_time, uncached_queries
    );
    println!(
        "  LocalCache : {:>8.1?}  ({} database queries, hit rate {:.1}%, {} evictions)",
        cached_time,
        db.queries.load(Ordering::Relaxed),
        100.0 * stats.hit_rate(),
        stats.evictions,
    );
    println!(
        "  speed-up   : {:.1}x",
        uncached_time.as_secs_f64() / cached_time.as_secs_f64()
    );
    for thread in &cache.per_thread() {
        println!(
            "    {:<12} hits {:>5}  misses {:>5}",
            thread.thread_name().unwrap_or("(exited, slot reused)"),
            thread.value().hits,
            thread.value().misses
        );
    }

    // Change a hot record at the source, then invalidate it: every pool
    // thread reloads it on its next lookup.
    db.users.write().insert(3, "user-3 (renamed)".to_string());
    cache.invalidate(&3);
    let names: Vec<String> = pool.install(|| {
        (0..64)
            .into_par_iter()
            .map(|_| cache.get_or_insert_with(3, || db.lookup(3)))
            .collect()
    });
    assert!(names.iter().all(|name| name == "user-3 (renamed)"));
    println!("after invalidate(&3), every thread reads {:?}", names[0]);
}
