//! Property tests (proptest): `LocalCache` against a reference model,
//! scratch pools under arbitrary nesting and limits, `Context` overrides
//! against a model of per-context stacks, and `rng::range` for every integer
//! type and range form.
//!
//! 256 cases per property (8 under Miri); a failure prints the shrunk input.
//! More cases: `PROPTEST_CASES=100000 cargo test --release --test properties`.

use std::cell::Cell;
use std::ops::Bound;

use proptest::prelude::*;
use proptest::test_runner::Config;

use threadkit::cache::{LocalCache, Stats};
use threadkit::context::{Context, ContextGuard};
use threadkit::rng::Rng;
use threadkit::scratch::{self, Reuse, Scratch, ScratchPool};

mod common;
use common::scaled;

fn config() -> Config {
    // `Config::default()` reads `PROPTEST_CASES`.
    let default = Config::default();
    let cases = match std::env::var_os("PROPTEST_CASES") {
        Some(_) => default.cases,
        None => scaled(256, 8),
    };
    Config {
        cases,
        // No files: the failing input is printed, and Miri allows no I/O.
        failure_persistence: None,
        ..default
    }
}

// ---------------------------------------------------------------------------
// Contexts, against a model of one override stack per context
//
// `Context::with` remembers the last override it found per context (in a
// few entries per thread, which contexts share); this checks that no
// sequence of guards, scopes, out-of-order drops and reads on more contexts
// than there are entries makes it answer from a stale memory.

/// More than the 8 entries a thread remembers, so that contexts share them.
const CONTEXTS: usize = 12;

/// One step on the calling thread; `u8`s pick a context or a live guard.
#[derive(Clone, Debug)]
enum ContextOp {
    /// `set_local` on a context, keeping the guard.
    Guard(u8),
    /// Drop one of the live guards, in any order.
    Drop(u8),
    /// Read a context.
    Read(u8),
    /// Run the nested steps inside a `scope` on a context.
    Scope(u8, Vec<ContextOp>),
}

fn context_ops() -> impl Strategy<Value = Vec<ContextOp>> {
    let leaf = prop_oneof![
        (0..CONTEXTS as u8).prop_map(ContextOp::Guard),
        any::<u8>().prop_map(ContextOp::Drop),
        (0..CONTEXTS as u8).prop_map(ContextOp::Read),
    ];
    let op = leaf.prop_recursive(3, 48, 8, |inner| {
        prop_oneof![
            3 => inner.clone(),
            1 => ((0..CONTEXTS as u8), prop::collection::vec(inner, 0..8))
                .prop_map(|(c, ops)| ContextOp::Scope(c, ops)),
        ]
    });
    prop::collection::vec(op, 0..60)
}

/// Runs `ops`, checking every read against `model` (per context, the values
/// of its live overrides, oldest first, tagged with the guard or scope that
/// installed them).
fn run_context_ops<'a>(
    contexts: &'a [Context<u32>],
    ops: &[ContextOp],
    guards: &mut Vec<(u8, u32, ContextGuard<'a, u32>)>,
    model: &mut [Vec<u32>],
    next: &mut u32,
) {
    for op in ops {
        match op {
            ContextOp::Guard(c) => {
                let c = usize::from(*c);
                *next += 1;
                let guard = contexts[c].set_local(*next);
                model[c].push(*next);
                guards.push((c as u8, *next, guard));
            }
            ContextOp::Drop(pick) => {
                if guards.is_empty() {
                    continue;
                }
                let (c, value, guard) = guards.remove(usize::from(*pick) % guards.len());
                drop(guard);
                let stack = &mut model[usize::from(c)];
                let at = stack.iter().rposition(|&v| v == value).unwrap();
                stack.remove(at);
            }
            ContextOp::Read(c) => {
                let c = usize::from(*c);
                let expected = model[c].last().copied().unwrap_or(1000 + c as u32);
                assert_eq!(contexts[c].get(), Some(expected), "context {c}");
                assert_eq!(contexts[c].is_overridden(), !model[c].is_empty());
            }
            ContextOp::Scope(c, inner) => {
                let c = usize::from(*c);
                *next += 1;
                let value = *next;
                model[c].push(value);
                // Guards made inside the scope outlive it: they stay in
                // `guards`, and the scope's own value leaves the model.
                contexts[c].scope(value, || {
                    run_context_ops(contexts, inner, guards, model, next);
                });
                let stack = &mut model[c];
                let at = stack.iter().rposition(|&v| v == value).unwrap();
                stack.remove(at);
            }
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// Every read sees the newest live override of its context, else the
    /// global value, whatever the order of guard drops and scopes.
    #[test]
    fn context_reads_match_the_override_model(ops in context_ops()) {
        let contexts: Vec<Context<u32>> = (0..CONTEXTS).map(|_| Context::new()).collect();
        for (c, context) in contexts.iter().enumerate() {
            context.set_global(1000 + c as u32).unwrap();
        }
        let mut guards = Vec::new();
        let mut model = vec![Vec::new(); CONTEXTS];
        let mut next = 0;
        run_context_ops(&contexts, &ops, &mut guards, &mut model, &mut next);
        // Drop what is left newest first, reading after each.
        while let Some((c, value, guard)) = guards.pop() {
            drop(guard);
            let stack = &mut model[usize::from(c)];
            let at = stack.iter().rposition(|&v| v == value).unwrap();
            stack.remove(at);
            for (c, context) in contexts.iter().enumerate() {
                let expected = model[c].last().copied().unwrap_or(1000 + c as u32);
                prop_assert_eq!(context.get(), Some(expected));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The cache, against a reference model

/// One step of a cache's life, as the calling thread sees it.
#[derive(Clone, Debug)]
enum CacheOp {
    /// `get_or_insert_with(key, || value)`.
    Load(u8, u32),
    /// `get(&key)`.
    Get(u8),
    /// `invalidate(&key)`.
    Invalidate(u8),
    /// `invalidate_all()`.
    InvalidateAll,
    /// `invalidate(&key)`, called on another thread.
    InvalidateElsewhere(u8),
    /// `get_or_insert_with(key, || value)` whose loader first calls
    /// `invalidate(&other)`: the value is returned, not cached.
    LoadInvalidating(u8, u32, u8),
    /// `get_or_insert_with(key, || value)` whose loader first loads `other`
    /// through the same cache.
    LoadNested(u8, u32, u8, u32),
}

fn cache_op() -> impl Strategy<Value = CacheOp> {
    // Few keys, so that hits, evictions and collisions are common.
    let key = || 0..8u8;
    prop_oneof![
        6 => (key(), any::<u32>()).prop_map(|(k, v)| CacheOp::Load(k, v)),
        3 => key().prop_map(CacheOp::Get),
        1 => key().prop_map(CacheOp::Invalidate),
        1 => Just(CacheOp::InvalidateAll),
        1 => key().prop_map(CacheOp::InvalidateElsewhere),
        1 => (key(), any::<u32>(), key()).prop_map(|(k, v, o)| CacheOp::LoadInvalidating(k, v, o)),
        1 => (key(), any::<u32>(), key(), any::<u32>())
            .prop_map(|(k, v, o, w)| CacheOp::LoadNested(k, v, o, w)),
    ]
}

/// What the cache promises one thread: an LRU list of at most `capacity`
/// entries, most recent first, with every lookup counted.
#[derive(Debug)]
struct ModelCache {
    capacity: usize,
    entries: Vec<(u8, u32)>,
    stats: Stats,
}

impl ModelCache {
    fn new(capacity: usize) -> ModelCache {
        ModelCache {
            capacity,
            entries: Vec::new(),
            stats: Stats::default(),
        }
    }

    fn position(&self, key: u8) -> Option<usize> {
        self.entries.iter().position(|&(k, _)| k == key)
    }

    /// A lookup: a hit makes the entry the most recent.
    fn lookup(&mut self, key: u8) -> Option<u32> {
        match self.position(key) {
            Some(at) => {
                let entry = self.entries.remove(at);
                self.entries.insert(0, entry);
                self.stats.hits += 1;
                Some(entry.1)
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    /// A loaded value is cached as the most recent entry, replacing one for
    /// the same key, else evicting the least recent one if full.
    fn store(&mut self, key: u8, value: u32) {
        if self.capacity == 0 {
            return;
        }
        match self.position(key) {
            Some(at) => {
                self.entries.remove(at);
            }
            None if self.entries.len() == self.capacity => {
                self.entries.pop();
                self.stats.evictions += 1;
            }
            None => {}
        }
        self.entries.insert(0, (key, value));
    }

    fn load(&mut self, key: u8, value: u32) -> u32 {
        self.lookup(key).unwrap_or_else(|| {
            self.store(key, value);
            value
        })
    }

    fn remove(&mut self, key: u8) {
        self.entries.retain(|&(k, _)| k != key);
    }
}

proptest! {
    #![proptest_config(config())]

    /// Every answer, the thread's entry count and its statistics match the
    /// model after every step. (At most 48 steps, so fewer invalidations
    /// than the cache's log holds: a thread that falls further behind
    /// empties its copy, which `tests/cache.rs` checks.)
    #[test]
    fn cache_matches_the_lru_model(
        capacity in 0..5usize,
        ops in prop::collection::vec(cache_op(), 0..48),
    ) {
        let cache: LocalCache<u8, u32> = LocalCache::new(capacity);
        let mut model = ModelCache::new(capacity);
        for op in &ops {
            match *op {
                CacheOp::Load(k, v) => {
                    prop_assert_eq!(cache.get_or_insert_with(k, || v), model.load(k, v));
                }
                CacheOp::Get(k) => prop_assert_eq!(cache.get(&k), model.lookup(k)),
                CacheOp::Invalidate(k) => {
                    cache.invalidate(&k);
                    model.remove(k);
                }
                CacheOp::InvalidateAll => {
                    cache.invalidate_all();
                    model.entries.clear();
                }
                CacheOp::InvalidateElsewhere(k) => {
                    std::thread::scope(|s| {
                        s.spawn(|| cache.invalidate(&k));
                    });
                    model.remove(k);
                }
                CacheOp::LoadInvalidating(k, v, other) => {
                    let got = cache.get_or_insert_with(k, || {
                        cache.invalidate(&other);
                        v
                    });
                    let want = match model.lookup(k) {
                        Some(cached) => cached,
                        None => {
                            model.remove(other);
                            v
                        }
                    };
                    prop_assert_eq!(got, want);
                }
                CacheOp::LoadNested(k, v, other, w) => {
                    let mut inner = None;
                    let got = cache.get_or_insert_with(k, || {
                        inner = Some(cache.get_or_insert_with(other, || w));
                        v
                    });
                    let want = match model.lookup(k) {
                        Some(cached) => cached,
                        None => {
                            prop_assert_eq!(inner, Some(model.load(other, w)));
                            model.store(k, v);
                            v
                        }
                    };
                    prop_assert_eq!(got, want);
                }
            }
            prop_assert_eq!(cache.retained_count(), model.entries.len(), "after {:?}", op);
            prop_assert_eq!(cache.local_stats(), model.stats, "after {:?}", op);
        }
        for k in 0..8 {
            prop_assert_eq!(cache.get(&k), model.lookup(k), "key {}", k);
        }
    }
}

// ---------------------------------------------------------------------------
// Scratch pools: nesting and caps

thread_local! {
    /// `Sim`s alive on this thread (made minus dropped).
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static NEXT_ID: Cell<u64> = const { Cell::new(0) };
}

/// A buffer that only pretends to hold memory, so the test controls exactly
/// how much it reports and whether it can shrink.
#[derive(Debug)]
struct Sim {
    id: u64,
    bytes: usize,
    shrinkable: bool,
    used: bool,
}

impl Default for Sim {
    fn default() -> Sim {
        LIVE.set(LIVE.get() + 1);
        NEXT_ID.set(NEXT_ID.get() + 1);
        Sim {
            id: NEXT_ID.get(),
            bytes: 0,
            shrinkable: true,
            used: false,
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        LIVE.set(LIVE.get() - 1);
    }
}

impl Reuse for Sim {
    fn reset(&mut self) {
        self.used = false;
    }
    fn heap_bytes(&self) -> usize {
        self.bytes
    }
    fn shrink_to_bytes(&mut self, max_bytes: usize) {
        if self.shrinkable {
            self.bytes = self.bytes.min(max_bytes);
        }
    }
}

/// One step (a use of a buffer), with the steps nested inside it.
#[derive(Clone, Debug)]
struct Nest<T> {
    step: T,
    nested: Vec<Nest<T>>,
}

/// Up to `roots` trees of `leaf` steps, nested up to `depth` deep, each
/// node with up to 3 nested ones.
fn nests<T: Clone + std::fmt::Debug + 'static>(
    leaf: impl Strategy<Value = T> + 'static,
    depth: u32,
    roots: usize,
) -> impl Strategy<Value = Vec<Nest<T>>> {
    let leaf = leaf.prop_map(|step| Nest {
        step,
        nested: Vec::new(),
    });
    let tree = leaf.prop_recursive(depth, 32, 3, |inner| {
        (inner.clone(), prop::collection::vec(inner, 0..3)).prop_map(|(mut node, nested)| {
            node.nested = nested;
            node
        })
    });
    prop::collection::vec(tree, 0..roots)
}

/// How a use takes its buffer.
#[derive(Clone, Copy, Debug)]
enum Take {
    /// `pool.with(..)`.
    With,
    /// `pool.buffer()`, given back when the guard drops.
    Guard,
    /// `pool.buffer()`, then `Scratch::into_inner`: never given back.
    Keep,
}

/// What one use of a pool does with its buffer.
#[derive(Clone, Debug)]
struct Use {
    take: Take,
    grow_to: usize,
    shrinkable: bool,
}

fn uses() -> impl Strategy<Value = Vec<Nest<Use>>> {
    let take = prop_oneof![3 => Just(Take::With), 2 => Just(Take::Guard), 1 => Just(Take::Keep)];
    let step = (take, 0..128usize, any::<bool>()).prop_map(|(take, grow_to, shrinkable)| Use {
        take,
        grow_to,
        shrinkable,
    });
    nests(step, 4, 6)
}

/// The pool's promise, counted: how many buffers the thread keeps.
struct ModelPool {
    max_buffers: usize,
    max_bytes: usize,
    kept: usize,
}

impl ModelPool {
    fn take(&mut self) {
        self.kept = self.kept.saturating_sub(1);
    }

    /// A buffer comes back: kept if it fits the byte cap (after shrinking,
    /// if it can) and the pool holds fewer than `max_buffers`.
    fn give_back(&mut self, bytes: usize, shrinkable: bool) {
        let fits = bytes <= self.max_bytes || shrinkable;
        if fits && self.kept < self.max_buffers {
            self.kept += 1;
        }
    }
}

/// Runs `use_` on `pool`, checking that its buffer is fresh to it and that
/// no nested use touches it.
fn run(pool: &ScratchPool<Sim>, use_: &Nest<Use>, in_use: &mut Vec<u64>, model: &mut ModelPool) {
    let Nest { step, nested } = use_;
    model.take();
    let body = |sim: &mut Sim, in_use: &mut Vec<u64>, model: &mut ModelPool| {
        assert!(!sim.used, "a buffer was not reset before reuse: {sim:?}");
        assert!(!in_use.contains(&sim.id), "buffer {} lent twice", sim.id);
        in_use.push(sim.id);
        sim.used = true;
        sim.bytes = sim.bytes.max(step.grow_to);
        sim.shrinkable = step.shrinkable;
        for nested in nested {
            run(pool, nested, in_use, model);
        }
        assert!(sim.used, "a nested use reset this buffer");
        assert_eq!(in_use.pop(), Some(sim.id));
        (sim.bytes, sim.shrinkable)
    };
    match step.take {
        Take::With => {
            let (bytes, shrinkable) = pool.with(|sim| body(sim, in_use, model));
            model.give_back(bytes, shrinkable);
        }
        Take::Guard => {
            let mut guard = pool.buffer();
            let (bytes, shrinkable) = body(&mut guard, in_use, model);
            drop(guard);
            model.give_back(bytes, shrinkable);
        }
        Take::Keep => {
            let mut guard = pool.buffer();
            body(&mut guard, in_use, model);
            drop(Scratch::into_inner(guard));
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// Under any nesting and any limits: every buffer is reset before it is
    /// lent again, nested uses get distinct buffers, the pool keeps exactly
    /// as many buffers as the model says, each within the byte cap, and
    /// every buffer it does not keep is dropped.
    #[test]
    fn scratch_pool_nests_and_keeps_its_caps(
        max_buffers in 0..4usize,
        max_bytes in 0..64usize,
        uses in uses(),
    ) {
        let live_before = LIVE.get();
        let pool = ScratchPool::<Sim>::with_limits(max_buffers, max_bytes);
        let mut model = ModelPool { max_buffers, max_bytes, kept: 0 };
        for use_ in &uses {
            run(&pool, use_, &mut Vec::new(), &mut model);
            prop_assert_eq!(pool.retained_count(), model.kept);
            prop_assert!(pool.retained_bytes() <= model.kept * max_bytes);
            prop_assert_eq!(LIVE.get() - live_before, model.kept, "a buffer leaked");
        }
        drop(pool);
        prop_assert_eq!(LIVE.get(), live_before, "the pool's buffers outlived it");
    }
}

/// One use of the thread's built-in byte buffers: through a guard or a
/// closure, filling it to a length.
#[derive(Clone, Debug)]
struct ByteUse {
    guard: bool,
    len: usize,
}

fn byte_uses() -> impl Strategy<Value = Vec<Nest<ByteUse>>> {
    // Up to 128 KiB: twice the default cap (less under Miri).
    let max_len = scaled(128usize << 10, 256);
    let step = (any::<bool>(), 0..max_len).prop_map(|(guard, len)| ByteUse { guard, len });
    nests(step, 3, 4)
}

fn run_bytes(use_: &Nest<ByteUse>, depth: u8) {
    let Nest { step, nested } = use_;
    let body = |buf: &mut Vec<u8>| {
        assert!(buf.is_empty(), "not empty on entry");
        buf.resize(step.len, depth);
        for nested in nested {
            run_bytes(nested, depth + 1);
        }
        assert_eq!(buf.len(), step.len, "a nested use changed this buffer");
        assert!(buf.iter().all(|&b| b == depth), "a nested use wrote here");
    };
    if step.guard {
        body(&mut scratch::bytes());
    } else {
        scratch::with_bytes(body);
    }
}

proptest! {
    #![proptest_config(config())]

    /// The built-in byte buffers under any nesting: empty on entry, not
    /// shared with nested uses, and within the default caps afterwards.
    #[test]
    fn builtin_bytes_nest_and_keep_their_caps(uses in byte_uses()) {
        for use_ in &uses {
            run_bytes(use_, 0);
        }
        // Both built-in pools (bytes and strings) count here.
        let max = 2 * scratch::DEFAULT_MAX_BUFFERS;
        prop_assert!(scratch::retained_count() <= max);
        prop_assert!(scratch::retained_bytes() <= max * scratch::DEFAULT_MAX_BYTES);
    }
}

// ---------------------------------------------------------------------------
// `rng::range`: always within bounds

/// For each integer type: every range form, at arbitrary ends and at narrow
/// spans near arbitrary points (the type's edges included), on a seeded
/// generator and on the thread's own.
macro_rules! range_properties {
    ($($name:ident: $t:ty;)*) => {$(
        proptest! {
            #![proptest_config(config())]

            #[test]
            fn $name(a: $t, b: $t, span in 0..4u8, seed: u64) {
                let mut rng = Rng::with_seed(seed);
                let near = a.saturating_add(span as $t);
                for (low, high) in [(a, b), (a, near)] {
                    match rng.try_range(low..high) {
                        Some(x) => prop_assert!(low <= x && x < high, "{} in {}..{}", x, low, high),
                        None => prop_assert!(low >= high),
                    }
                    match rng.try_range(low..=high) {
                        Some(x) => prop_assert!(low <= x && x <= high, "{} in {}..={}", x, low, high),
                        None => prop_assert!(low > high),
                    }
                    match rng.try_range((Bound::Excluded(low), Bound::Excluded(high))) {
                        Some(x) => prop_assert!(low < x && x < high, "{} in ({}, {})", x, low, high),
                        None => prop_assert!(low >= high || low.checked_add(1) == Some(high)),
                    }
                    prop_assert!(rng.range(low..) >= low);
                    match rng.try_range(..high) {
                        Some(x) => prop_assert!(x < high),
                        None => prop_assert_eq!(high, <$t>::MIN),
                    }
                    prop_assert!(rng.range(..=high) <= high);
                    if low <= high {
                        let x = threadkit::rng::range(low..=high);
                        prop_assert!(low <= x && x <= high, "{} in {}..={}", x, low, high);
                    }
                }
                let _: $t = rng.range(..);
            }
        }
    )*};
}

range_properties! {
    range_u8: u8;
    range_i8: i8;
    range_u16: u16;
    range_i16: i16;
    range_u32: u32;
    range_i32: i32;
    range_u64: u64;
    range_i64: i64;
    range_u128: u128;
    range_i128: i128;
    range_usize: usize;
    range_isize: isize;
}

// ---------------------------------------------------------------------------
// `Histogram`: quantiles within the stated error of the exact ones

/// Values of one of several shapes: small exact ones, a narrow band, a
/// latency-like spread in nanoseconds, and anything in `u64`.
fn histogram_values() -> impl Strategy<Value = Vec<u64>> {
    let value = prop_oneof![
        0..200_u64,
        10_000..10_500_u64,
        (10_u32..34, any::<u64>()).prop_map(|(bits, v)| v >> (64 - bits)),
        any::<u64>(),
    ];
    prop::collection::vec(value, 1..scaled(400, 40))
}

proptest! {
    #![proptest_config(config())]

    /// Every quantile is within `relative_error` of the exact quantile of
    /// the sorted values (the value of rank ⌈q·n⌉, at least 1); count, sum,
    /// min and max are exact. Values are recorded from two threads.
    #[test]
    fn histogram_quantiles_are_within_the_stated_error(
        values in histogram_values(),
        bits in 1_u32..=scaled(10, 7),
        qs in prop::collection::vec(0.0..=1.0_f64, 1..8),
    ) {
        let histogram = threadkit::Histogram::with_precision(bits);
        let (a, b) = values.split_at(values.len() / 2);
        std::thread::scope(|s| {
            for half in [a, b] {
                let histogram = &histogram;
                s.spawn(move || half.iter().for_each(|&v| histogram.record(v)));
            }
        });
        let snapshot = histogram.snapshot();
        let mut sorted = values.clone();
        sorted.sort_unstable();
        let n = sorted.len() as u64;
        prop_assert_eq!(snapshot.count(), n);
        prop_assert_eq!(snapshot.sum(), sorted.iter().map(|&v| u128::from(v)).sum::<u128>());
        prop_assert_eq!(snapshot.min(), sorted.first().copied());
        prop_assert_eq!(snapshot.max(), sorted.last().copied());
        for q in qs.into_iter().chain([0.0, 0.5, 0.99, 1.0]) {
            let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
            let exact = sorted[(rank - 1) as usize];
            let reported = snapshot.quantile(q).unwrap();
            // |reported - exact| <= exact * 2^-(bits+1), in integers.
            let error = u128::from(reported.abs_diff(exact)) << (bits + 1);
            prop_assert!(
                error <= u128::from(exact),
                "q {} (rank {} of {}): reported {}, exact {}", q, rank, n, reported, exact
            );
        }
    }
}
