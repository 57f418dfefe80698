//! `LocalCache` hits against a shared cache behind a lock.
//!
//! Run with `cargo bench --bench cache`. Every benchmark looks up one of 64
//! hot keys (all cached after the first round) on 1 and 2 threads at once,
//! with the same hasher (std's `RandomState`) and a `u64` value:
//!
//! - `local_cache_hit`: `LocalCache::get_or_insert_with`, a hit in the
//!   calling thread's copy;
//! - `mutex_hashmap_hit`: a `parking_lot::Mutex<HashMap>` shared by all
//!   threads;
//! - `rwlock_hashmap_hit`: a `parking_lot::RwLock<HashMap>`, read-locked.

use std::cell::Cell;
use std::collections::HashMap;

use divan::{black_box, Bencher};
use parking_lot::{Mutex, RwLock};
use threadkit::cache::LocalCache;

fn main() {
    divan::main();
}

const THREADS: &[usize] = &[1, 2];
const KEYS: u64 = 64;

/// The next hot key for this thread.
#[inline]
fn next_key() -> u64 {
    thread_local! {
        static NEXT: Cell<u64> = const { Cell::new(0) };
    }
    NEXT.with(|next| {
        let key = next.get();
        next.set((key + 1) % KEYS);
        key
    })
}

fn load(key: u64) -> u64 {
    key * 31
}

#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn local_cache_hit(bencher: Bencher) {
    let cache = LocalCache::new(KEYS as usize);
    bencher.bench(|| {
        let key = next_key();
        cache.get_or_insert_with(black_box(key), || load(key))
    });
}

#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn mutex_hashmap_hit(bencher: Bencher) {
    let cache = Mutex::new(HashMap::new());
    bencher.bench(|| {
        let key = next_key();
        *cache
            .lock()
            .entry(black_box(key))
            .or_insert_with(|| load(key))
    });
}

#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn rwlock_hashmap_hit(bencher: Bencher) {
    let cache = RwLock::new(HashMap::new());
    bencher.bench(|| {
        let key = black_box(next_key());
        if let Some(value) = cache.read().get(&key) {
            return *value;
        }
        *cache.write().entry(key).or_insert_with(|| load(key))
    });
}
