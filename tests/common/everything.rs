//! Every public entry point, called in one go, with failures collected as
//! strings: for the tests that call them from thread teardown
//! (`tests/teardown.rs`, `tests/foreign_destructors.rs`).
//!
//! A panic inside a thread-local or `pthread_key_create` destructor aborts
//! the process, so each check runs under `catch_unwind` and reports failures
//! as strings, which the tests assert on after joining the thread.

use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use threadkit::cache::LocalCache;
use threadkit::context::Context;
use threadkit::last_error::{LastError, Message};
use threadkit::registry::PerLiveThread;
use threadkit::rng::{self, Rng};
use threadkit::scratch::{self, ScratchPool};
use threadkit::{arena, Arena, Counter, Histogram, PerThread};

pub static COUNTER: Counter = Counter::with_batch(8);
pub static VALUES: PerThread<AtomicU64> = PerThread::new();
pub static LIVE: PerLiveThread<AtomicU64> = PerLiveThread::new();
/// Gets `ADDED_PER_RUN` values per run.
pub static HISTOGRAM: Histogram = Histogram::new();
threadkit::counter! {
    /// Counts like `COUNTER`, through `counter!`.
    pub static DECLARED(batch = 8);
}
static POOL: ScratchPool<Vec<u32>> = ScratchPool::new();
static ARENA: Arena = Arena::new();
pub static CONFIG: Context<&str> = Context::new();
pub static CACHE: LocalCache<u32, u32> = LocalCache::new(4);
static LAST: LastError<String> = LastError::new();

/// Adds per destructor run: 3 via `add`/`inc`, checked against the total.
pub const ADDED_PER_RUN: u64 = 3;

pub type Failures = Arc<Mutex<Vec<String>>>;

fn check(failures: &Failures, name: &str, f: impl FnOnce() -> Result<(), String>) {
    let outcome = panic::catch_unwind(AssertUnwindSafe(f));
    let failure = match outcome {
        Ok(Ok(())) => return,
        Ok(Err(message)) => message,
        Err(_) => "panicked".to_string(),
    };
    failures.lock().unwrap().push(format!("{name}: {failure}"));
}

fn ensure(condition: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(what())
    }
}

/// Calls every entry point, recording what fails.
pub fn exercise_everything(failures: &Failures) {
    check(failures, "registry", || {
        let value = VALUES.get_or_default();
        value.fetch_add(1, Ordering::Relaxed);
        ensure(VALUES.get().is_some(), || "get after get_or".into())?;
        ensure(VALUES.iter().count() >= 1, || "iter".into())
    });
    exercise_all_but_per_thread(failures);
}

/// Calls every entry point but `PerThread`'s (which keeps a value for every
/// thread that used it, by design), recording what fails.
pub fn exercise_all_but_per_thread(failures: &Failures) {
    check(failures, "live registry", || {
        let n = LIVE.with_or_default(|v| v.fetch_add(1, Ordering::Relaxed) + 1);
        // The same value while the thread is live; none once it exits (the
        // value above was a temporary then). Another value would be wrong.
        let seen = LIVE.with(|v| v.map(|v| v.load(Ordering::Relaxed)));
        ensure(seen.is_none_or(|seen| seen == n), || {
            format!("with_or_default gave {n}, with {seen:?}")
        })?;
        let reading = LIVE.read();
        ensure(reading.iter().count() == reading.len(), || "read".into())
    });
    check(failures, "counter", || {
        COUNTER.add(2);
        COUNTER.inc();
        COUNTER.flush();
        let _ = COUNTER.approx();
        let _ = COUNTER.per_thread();
        ensure(COUNTER.sum() >= ADDED_PER_RUN, || "sum".into())
    });
    check(failures, "declared counter", || {
        DECLARED.add(2);
        DECLARED.inc();
        DECLARED.flush();
        let _ = DECLARED.approx();
        let _ = DECLARED.per_thread();
        ensure(DECLARED.sum() >= ADDED_PER_RUN, || "sum".into())
    });
    check(failures, "histogram", || {
        HISTOGRAM.record(2);
        HISTOGRAM.record_n(1_000_000, 2);
        let snapshot = HISTOGRAM.snapshot();
        let _ = HISTOGRAM.per_thread();
        ensure(snapshot.count() >= ADDED_PER_RUN, || "count".into())?;
        ensure(snapshot.max() >= Some(1_000_000), || "max".into())
    });
    check(failures, "scratch", || {
        let len = scratch::with_bytes(|buf| {
            ensure(buf.is_empty(), || "bytes not empty".into())?;
            write!(buf, "teardown").map_err(|e| e.to_string())?;
            Ok::<usize, String>(buf.len())
        })?;
        ensure(len == 8, || format!("with_bytes len {len}"))?;
        let s = scratch::with_string(|s| {
            s.push_str("ok");
            s.clone()
        });
        ensure(s == "ok", || "with_string".into())?;
        let mut guard = scratch::bytes();
        guard.push(1);
        drop(guard);
        let mut guard = scratch::string();
        guard.push('x');
        drop(guard);
        let _ = (scratch::retained_bytes(), scratch::retained_count());
        scratch::release();
        let sum: u32 = POOL.with(|v| {
            v.extend([1, 2, 3]);
            v.iter().sum()
        });
        let mut got = POOL.buffer();
        got.push(4);
        ensure(sum == 6, || "ScratchPool::with".into())
    });
    check(failures, "arena", || {
        let total = arena::with(|bump| {
            let a = bump.alloc(40_u64);
            let b = arena::with(|inner| *inner.alloc(2_u64));
            *a + b
        });
        ensure(total == 42, || format!("arena::with {total}"))?;
        let n = ARENA.with(|bump| bump.alloc_str("abc").len());
        let _ = arena::retained_bytes();
        arena::release();
        ensure(n == 3, || "Arena::with".into())
    });
    check(failures, "rng", || {
        let roll = rng::range(1..=6_u8);
        ensure((1..=6).contains(&roll), || format!("range {roll}"))?;
        let f = rng::f64();
        ensure((0.0..1.0).contains(&f), || format!("f64 {f}"))?;
        let _ = (rng::u64(), rng::u32(), rng::bool());
        let mut bytes = [0_u8; 16];
        rng::fill(&mut bytes);
        let mut v = [1, 2, 3];
        rng::shuffle(&mut v);
        ensure(rng::choose(&v).is_some(), || "choose".into())?;
        let mut child = rng::fork();
        let _ = child.u64();
        let nested = rng::with(|r| r.range(0..10_u32));
        ensure(nested < 10, || "with".into())?;
        rng::seed(5);
        let a = rng::u64();
        rng::seed(5);
        ensure(a == rng::u64(), || "seed not reproducible".into())?;
        let _ = Rng::from_entropy().u64();
        Ok(())
    });
    check(failures, "context", || {
        ensure(CONFIG.get() == Some("global"), || {
            format!("{:?}", CONFIG.get())
        })?;
        ensure(!CONFIG.is_overridden(), || "is_overridden".into())?;
        let inside = CONFIG.scope("scoped", || CONFIG.with(|v| v.copied()));
        ensure(inside == Some("scoped"), || "scope".into())?;
        let guard = CONFIG.set_local("guarded");
        let guarded = CONFIG.get();
        drop(guard);
        ensure(guarded == Some("guarded"), || "set_local".into())?;
        ensure(CONFIG.global() == Some(&"global"), || "falls back".into())
    });
    check(failures, "cache", || {
        let v = CACHE.get_or_insert_with(1, || 10);
        ensure(v == 10, || "get_or_insert_with".into())?;
        let _ = CACHE.get(&1); // Some(10) or, once the copy is gone, None
        CACHE.invalidate(&1);
        CACHE.invalidate_all();
        let _ = (CACHE.retained_count(), CACHE.local_stats(), CACHE.stats());
        Ok(())
    });
    check(failures, "last_error", || {
        LAST.set("failed in a destructor".to_string());
        let mut buf = [0_u8; 8];
        let message = LAST.message(&mut buf);
        let taken = LAST.take();
        let _ = (LAST.is_set(), LAST.get(), LAST.with(|e| e.is_some()));
        LAST.clear();
        // Either the slot still works, or (its thread-local gone) it reads
        // as empty; both are fine, a mix is not.
        match (&taken, message) {
            (Some(t), Message::Truncated { len: 7, needed: 23 })
                if t == "failed in a destructor" =>
            {
                Ok(())
            }
            (None, Message::NoError) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
}
