//! Thread churn: waves of short threads, each using every block once, then
//! checks that counts are exact, every value is seen and dropped once, and
//! memory stays flat; and the same per block, printing each block's resident
//! memory after the first wave of 1 000 threads and after 100 000.
//!
//! The normal suite runs a short version. The full ones spawn and join
//! 100 000 threads (the per-block one, 100 000 per block):
//!
//! ```text
//! cargo test --release --test churn -- --ignored --nocapture --test-threads 1
//! ```

use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use threadkit::cache::LocalCache;
use threadkit::context::Context;
use threadkit::last_error::LastError;
use threadkit::registry::PerLiveThread;
use threadkit::{arena, rng, scratch, Counter, PerThread};

mod common;
use common::scaled;

/// Counts drops of the values the blocks hold for a thread.
struct Tracked(Arc<AtomicUsize>);

impl Clone for Tracked {
    fn clone(&self) -> Tracked {
        Tracked(Arc::clone(&self.0))
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The process's resident set size in KiB: from `/proc/self/status`, or on
/// Windows its working set. `None` under Miri (no file system under its
/// isolation) and under an emulator (the figure would be the emulator's).
fn rss_kib() -> Option<u64> {
    if cfg!(miri) || common::emulator().is_some() {
        return None;
    }
    #[cfg(windows)]
    return common::windows::working_set_kib();
    #[cfg(not(windows))]
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    #[cfg(not(windows))]
    status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The two tests share the process; run them one at a time so the memory
/// figures are each one's own.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The memory bound of the long runs: resident memory may grow, after the
/// first wave, by `per_thread` bytes per churned thread plus `slack` KiB,
/// the noise of measuring in pages (RSS moves by 4 KiB pages, and the
/// allocator takes memory from the system in steps of several). Wine's
/// working set follows Wine's own heap, which grows in larger steps.
struct Bound {
    per_thread: u64,
    slack_kib: u64,
}

impl Bound {
    const SLACK_KIB: u64 = if cfg!(windows) { 4 * 1024 } else { 64 };
    /// One block at a time.
    const BLOCK: Bound = Bound {
        per_thread: 4,
        slack_kib: Bound::SLACK_KIB,
    };
    /// Every block on every thread.
    const ALL_BLOCKS: Bound = Bound {
        per_thread: 16,
        slack_kib: Bound::SLACK_KIB,
    };

    /// Fails unless `growth_kib` over `churned` threads is within the bound.
    fn check(&self, what: &str, growth_kib: u64, churned: u64) {
        let limit = self.per_thread * churned / 1024 + self.slack_kib;
        assert!(
            growth_kib <= limit,
            "{what}: RSS grew by {growth_kib} KiB over {churned} churned threads, more than \
             {} B per thread + {} KiB",
            self.per_thread,
            self.slack_kib
        );
    }
}

fn churn(waves: usize, per_wave: usize, bound: Option<Bound>) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    static COUNTER: Counter = Counter::new();
    static CONFIG: Context<u64> = Context::new();
    static LAST: LastError<Tracked> = LastError::new();
    let _ = CONFIG.set_global(7);
    let cache_values = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let registry_values = Arc::new(AtomicUsize::new(0));
    let before = COUNTER.sum();
    let mut rss_after_first_wave = None;

    for wave in 0..waves {
        // A registry and a cache per wave: both keep a record of every
        // thread that used them (by design), so a long-lived one grows with
        // threads ever started; dropped here, they must free all of it.
        let registry: PerThread<(Tracked, AtomicU64)> = PerThread::new();
        let cache: LocalCache<u64, Tracked> = LocalCache::new(8);
        thread::scope(|s| {
            let handles: Vec<_> = (0..per_wave)
                .map(|_| {
                    let (registry, cache) = (&registry, &cache);
                    let (cache_values, errors, registry_values) =
                        (&cache_values, &errors, &registry_values);
                    s.spawn(move || {
                        COUNTER.inc();
                        let (_, n) = registry
                            .get_or(|| (Tracked(Arc::clone(registry_values)), AtomicU64::new(0)));
                        n.fetch_add(1, Ordering::Relaxed);
                        scratch::with_bytes(|buf| buf.write_all(&[1; 1024]).unwrap());
                        let sum = arena::with(|bump| bump.alloc([2_u64; 32]).iter().sum::<u64>());
                        assert_eq!(sum, 64);
                        let key = rng::range(0..16_u64);
                        assert_eq!(CONFIG.scope(key, || CONFIG.get()), Some(key));
                        assert_eq!(CONFIG.get(), Some(7));
                        drop(cache.get_or_insert_with(key, || Tracked(Arc::clone(cache_values))));
                        LAST.set(Tracked(Arc::clone(errors)));
                    })
                })
                .collect();
            for handle in handles {
                handle.join().unwrap();
            }
        });
        // Every thread's value is there, attributed, then dropped once.
        let mut registry = registry;
        assert_eq!(registry.len(), per_wave);
        let ones: u64 = registry.iter_mut().map(|(_, n)| *n.get_mut()).sum();
        assert_eq!(ones, per_wave as u64);
        drop(registry);
        let stats = cache.stats();
        assert_eq!(stats.lookups(), per_wave as u64);
        assert_eq!(stats.hits, 0, "every thread starts with an empty copy");
        drop(cache);
        // Each lookup's value was dropped twice: the clone returned (at
        // once) and the cached copy (at thread exit or with the cache).
        assert_eq!(
            cache_values.load(Ordering::Relaxed),
            2 * per_wave * (wave + 1),
            "cache values dropped exactly once each"
        );
        if wave == 0 {
            rss_after_first_wave = rss_kib();
        }
    }

    let threads = waves * per_wave;
    assert_eq!(COUNTER.sum() - before, threads as u64, "no count lost");
    assert_eq!(registry_values.load(Ordering::Relaxed), threads);
    // `thread::scope` returns before the threads' TLS destructors finish;
    // wait for the last ones (each thread's error and cache copy go there).
    let mut spins = 0;
    while errors.load(Ordering::Relaxed) < threads && spins < 1_000_000 {
        thread::yield_now();
        spins += 1;
    }
    assert_eq!(
        errors.load(Ordering::Relaxed),
        threads,
        "every error dropped at exit"
    );
    if let (Some(first), Some(last)) = (rss_after_first_wave, rss_kib()) {
        let growth = last.saturating_sub(first);
        let churned = threads as u64 - per_wave as u64;
        println!(
            "{threads} threads: RSS {first} KiB after wave 1, {last} KiB at the end ({:.1} B per churned thread)",
            growth as f64 * 1024.0 / churned as f64
        );
        // Memory follows live threads, not threads ever started.
        if let Some(bound) = bound {
            bound.check("all blocks", growth, churned);
        }
    }
}

/// Runs `waves` waves of `per_wave` threads that each call `work` once,
/// calling `after_wave` after each; returns the RSS after the first wave and
/// at the end.
fn block_churn(
    waves: usize,
    per_wave: usize,
    work: impl Fn() + Sync,
    mut after_wave: impl FnMut(),
) -> (Option<u64>, Option<u64>) {
    let mut first = None;
    for wave in 0..waves {
        thread::scope(|s| {
            let handles: Vec<_> = (0..per_wave).map(|_| s.spawn(&work)).collect();
            for handle in handles {
                handle.join().unwrap();
            }
        });
        after_wave();
        if wave == 0 {
            first = rss_kib();
        }
    }
    (first, rss_kib())
}

/// Each block alone, as a long-lived object used by every churned thread
/// (the registry excepted: it keeps every thread's value by design, so it is
/// made per wave and dropped). Prints one line per block; with `bound`,
/// fails if a block's RSS grew by more than it allows after the first wave.
fn churn_each_block(waves: usize, per_wave: usize, bound: Option<Bound>) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    static COUNTER: Counter = Counter::new();
    static POOL: threadkit::ScratchPool<Vec<u64>> = threadkit::ScratchPool::new();
    static CONFIG: Context<u64> = Context::new();
    static LAST: LastError<String> = LastError::new();
    let cache: LocalCache<u64, u64> = LocalCache::new(8);
    let registry: Mutex<PerThread<AtomicU64>> = Mutex::new(PerThread::new());
    let registry_ref = &registry;
    static LIVE: PerLiveThread<Vec<u8>> = PerLiveThread::new();
    static LATENCY: threadkit::Histogram = threadkit::Histogram::new();
    threadkit::counter! {
        static DECLARED;
    }
    let threads = (waves * per_wave) as u64;
    let before = COUNTER.sum();

    type Work<'a> = Box<dyn Fn() + Sync + 'a>;
    let blocks: Vec<(&str, Work<'_>)> = vec![
        // The control: what the platform keeps for threads that come and
        // go (under Wine, its own bookkeeping).
        ("no block (threads alone)", Box::new(|| ())),
        ("Counter", Box::new(|| COUNTER.inc())),
        ("counter!", Box::new(|| DECLARED.inc())),
        (
            "Histogram (1 µs–10 s)",
            Box::new(|| {
                for exponent in 10..34 {
                    LATENCY.record(1 << exponent);
                }
            }),
        ),
        (
            "scratch::with_bytes",
            Box::new(|| scratch::with_bytes(|b| b.extend_from_slice(&[1; 1024]))),
        ),
        (
            "ScratchPool",
            Box::new(|| POOL.with(|v| v.extend([1_u64; 128]))),
        ),
        (
            "arena::with",
            Box::new(|| {
                let sum = arena::with(|bump| bump.alloc([2_u64; 32]).iter().sum::<u64>());
                assert_eq!(sum, 64);
            }),
        ),
        ("rng", Box::new(|| assert!(rng::range(0..10_u32) < 10))),
        (
            "Context::scope",
            Box::new(|| CONFIG.scope(1, || assert_eq!(CONFIG.get(), Some(1)))),
        ),
        (
            "LocalCache",
            Box::new(|| assert_eq!(cache.get_or_insert_with(rng::range(0..16), || 1), 1)),
        ),
        ("LastError", Box::new(|| LAST.set("x".repeat(100)))),
        (
            "PerLiveThread (1 KiB each)",
            Box::new(|| LIVE.with_or(|| vec![1; 1024], |v| assert_eq!(v.len(), 1024))),
        ),
        (
            "PerThread (one per wave)",
            Box::new(move || {
                let registry = registry_ref.lock().unwrap();
                registry.get_or_default().fetch_add(1, Ordering::Relaxed);
            }),
        ),
    ];
    println!("{threads} threads per block, waves of {per_wave}:");
    for (name, work) in &blocks {
        let (first, last) = block_churn(waves, per_wave, work, || {
            let mut registry = registry.lock().unwrap();
            registry.clear();
        });
        match (first, last) {
            (Some(first), Some(last)) => {
                let growth = last.saturating_sub(first);
                let per_thread = growth as f64 * 1024.0 / (threads - per_wave as u64) as f64;
                println!(
                    "  {name:<26} RSS {first:>7} KiB after {per_wave} threads, {last:>7} KiB after {threads} ({growth} KiB more, {per_thread:.1} B per churned thread)"
                );
                if let Some(bound) = &bound {
                    bound.check(name, growth, threads - per_wave as u64);
                }
            }
            _ => println!("  {name:<26} (no RSS here)"),
        }
    }
    assert_eq!(COUNTER.sum() - before, threads, "no count lost");
    assert_eq!(DECLARED.sum(), threads, "no count of counter! lost");
    assert_eq!(LATENCY.snapshot().count(), 24 * threads, "no value lost");
    assert!(LIVE.is_empty(), "each thread's value went at its exit");
    let stats = cache.stats();
    assert_eq!(stats.lookups(), threads, "no lookup lost");
}

#[test]
fn short_churn_of_each_block() {
    churn_each_block(scaled(3, 2), scaled(200, 3), None);
}

#[test]
#[ignore = "spawns 100 000 threads per block; run with --ignored (release recommended)"]
fn churn_100_000_threads_per_block() {
    churn_each_block(100, 1_000, Some(Bound::BLOCK));
}

#[test]
fn short_churn_keeps_counts_values_and_memory() {
    churn(scaled(4, 2), scaled(250, 4), None);
}

#[test]
#[ignore = "spawns 100 000 threads; run with --ignored (release recommended)"]
fn churn_100_000_threads() {
    churn(100, 1_000, Some(Bound::ALL_BLOCKS));
}
