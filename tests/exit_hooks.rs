//! Exit hooks that drop other threadkit objects.
//!
//! A thread's exit hooks drop what its per-thread state held: a scratch
//! pool's buffers, a cache's values. When such a value owns the last
//! reference to another threadkit object, that object's `Drop` takes back
//! its own exit hooks from the exiting thread, while the thread is running
//! its hooks. Each test puts every block inside every hook-running block and
//! checks that the thread exits (no hang), that the inner object is dropped,
//! and that its values are dropped exactly once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use threadkit::context::Context;
use threadkit::last_error::LastError;
use threadkit::scratch::{Reuse, ScratchPool};
use threadkit::{Arena, Counter, LocalCache, PerThread};

/// Counts its drops.
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A threadkit object that has per-thread state (and so, for most, an exit
/// hook) on the thread that used it, plus a drop counter of its own.
struct Inner {
    name: &'static str,
    block: Block,
    _dropped: Tracked,
}

#[allow(dead_code)] // the objects are held for their drops
enum Block {
    Counter(Counter),
    Pool(ScratchPool<Vec<Tracked>>),
    Arena(Arena),
    Cache(LocalCache<u32, Arc<Tracked>>),
    Registry(PerThread<Tracked>),
    LastError(LastError<Tracked>),
    Context(Context<u32>),
}

impl Inner {
    /// Every block, used once on the calling thread.
    fn all(drops: &Arc<AtomicUsize>, values: &Arc<AtomicUsize>) -> Vec<Inner> {
        let tracked = || Tracked(Arc::clone(values));
        let blocks = vec![
            ("Counter", {
                let counter = Counter::with_batch(1_000);
                counter.add(3);
                Block::Counter(counter)
            }),
            ("ScratchPool", {
                let pool = ScratchPool::new();
                pool.with(|v: &mut Vec<Tracked>| v.push(tracked()));
                Block::Pool(pool)
            }),
            ("Arena", {
                let arena = Arena::new();
                arena.with(|bump| *bump.alloc(1_u64));
                Block::Arena(arena)
            }),
            ("LocalCache", {
                let cache = LocalCache::new(4);
                cache.get_or_insert_with(1, || Arc::new(tracked()));
                Block::Cache(cache)
            }),
            ("PerThread", {
                let registry = PerThread::new();
                registry.get_or(tracked);
                Block::Registry(registry)
            }),
            ("LastError", {
                let last = LastError::new();
                last.set(tracked());
                Block::LastError(last)
            }),
            ("Context", {
                let context = Context::new();
                context.scope(1, || assert_eq!(context.get(), Some(1)));
                Block::Context(context)
            }),
        ];
        blocks
            .into_iter()
            .map(|(name, block)| Inner {
                name,
                block,
                _dropped: Tracked(Arc::clone(drops)),
            })
            .collect()
    }
}

/// Joins `handle`, failing instead of hanging if the thread does not finish.
fn join_within(handle: thread::JoinHandle<()>, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !handle.is_finished() {
        assert!(
            Instant::now() < deadline,
            "{what}: the thread hangs at exit"
        );
        thread::sleep(Duration::from_millis(1));
    }
    handle.join().unwrap();
}

/// Runs one thread that uses every block, hands each to `host` as the last
/// reference, and exits; the host's exit hook drops them.
fn dropped_from_exit_hook(host: &str, hand_over: impl Fn(Vec<Inner>) + Send + Sync + 'static) {
    let drops = Arc::new(AtomicUsize::new(0));
    let values = Arc::new(AtomicUsize::new(0));
    let handle = {
        let (drops, values) = (Arc::clone(&drops), Arc::clone(&values));
        thread::spawn(move || {
            let inners = Inner::all(&drops, &values);
            for inner in &inners {
                if let Block::Counter(counter) = &inner.block {
                    assert_eq!(counter.sum(), 3);
                }
            }
            hand_over(inners);
        })
    };
    join_within(handle, host);
    let blocks = Inner::all(
        &Arc::new(AtomicUsize::new(0)),
        &Arc::new(AtomicUsize::new(0)),
    );
    // Each block was dropped once, and took its values with it: a pool's
    // buffer, a cache's value, a registry's value, a last error.
    let expected_values = blocks
        .iter()
        .filter(|b| {
            matches!(
                b.block,
                Block::Pool(_) | Block::Cache(_) | Block::Registry(_) | Block::LastError(_)
            )
        })
        .count();
    // The last error of the thread is dropped by the thread's own teardown
    // (or with the `LastError`), which `join` waits for.
    assert_eq!(
        drops.load(Ordering::Relaxed),
        blocks.len(),
        "{host}: every block dropped once ({})",
        blocks.iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
    );
    assert_eq!(
        values.load(Ordering::Relaxed),
        expected_values,
        "{host}: every value dropped once"
    );
}

/// A pooled value whose reset keeps what it holds, so that the pool keeps
/// the objects until its exit hook frees the thread's buffers.
#[derive(Default)]
struct Holder(Vec<Inner>);

impl Reuse for Holder {
    fn reset(&mut self) {}
    fn heap_bytes(&self) -> usize {
        0
    }
}

#[test]
fn every_block_can_be_dropped_from_a_scratch_pools_exit_hook() {
    static HOST: ScratchPool<Holder> = ScratchPool::new();
    dropped_from_exit_hook("ScratchPool", |inners| {
        HOST.with(|holder| holder.0.extend(inners));
        assert_eq!(HOST.retained_count(), 1);
    });
}

#[test]
fn every_block_can_be_dropped_from_a_caches_exit_hook() {
    static HOST: LocalCache<u32, Arc<Vec<Inner>>> = LocalCache::new(4);
    dropped_from_exit_hook("LocalCache", |inners| {
        let inners = Arc::new(inners);
        HOST.get_or_insert_with(1, || Arc::clone(&inners));
        drop(inners); // the cache's copy is the last reference
        assert_eq!(HOST.retained_count(), 1);
    });
}

#[test]
fn every_block_can_be_dropped_from_a_last_errors_thread_exit() {
    static HOST: LastError<Vec<Inner>> = LastError::new();
    dropped_from_exit_hook("LastError", |inners| HOST.set(inners));
}

#[test]
fn a_cache_value_owning_a_counter_does_not_hang_its_thread_at_exit() {
    // The case first seen in a debugger: the cache's exit hook dropped the
    // last `Arc` of a value owning a `Counter`, whose drop waited for the
    // lock the exiting thread held while it ran hooks.
    struct Service {
        requests: Counter,
    }
    static SERVICES: LocalCache<u32, Arc<Service>> = LocalCache::new(4);
    let handle = thread::spawn(|| {
        let service = Arc::new(Service {
            requests: Counter::new(),
        });
        service.requests.inc();
        SERVICES.get_or_insert_with(1, || service);
    });
    join_within(handle, "cache holding a counter");
}
