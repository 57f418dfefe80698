//! A guided run through threadkit: what each building block is for, a short
//! real use, and a measurement against the way people write it by hand.
//!
//! ```text
//! cargo run --release --example tour
//! ```
//!
//! Each comparison runs threadkit's way and the usual way in alternating
//! rounds on this machine and keeps the fastest round of each; the verdict
//! printed after it ("faster", "about the same", "slower here") is computed
//! from those two numbers, so it holds for this machine and this run only.
//! `benches/` has the careful measurements (loops and call sites, t=1 and
//! t=2), `benches/README.md` their figures.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use threadkit::cache::LocalCache;
use threadkit::context::Context;
use threadkit::last_error::{LastError, Message};
use threadkit::rng::{self, Rng};
use threadkit::{arena, scratch, Counter, Histogram, PerThread};

fn main() {
    let threads = thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(8);
    println!("threadkit tour: {threads} threads on {}", cpu_model());
    println!(
        "Timings: ns per operation on each thread, the fastest of {ROUNDS} alternating rounds;\n\
         each verdict compares threadkit with the usual way on this machine.\n"
    );
    registry(threads);
    counter(threads);
    declared_counter(threads);
    histogram(threads);
    scratch(threads);
    arena(threads);
    random(threads);
    context(threads);
    cache(threads);
    last_error();
}

/// Runs `work` on `threads` scoped threads at once and returns the wall time.
fn timed(threads: usize, work: impl Fn(usize) + Sync) -> Duration {
    let start = Instant::now();
    thread::scope(|s| {
        for t in 0..threads {
            let work = &work;
            s.spawn(move || work(t));
        }
    });
    start.elapsed()
}

fn per_op(d: Duration, ops: u64) -> f64 {
    d.as_nanos() as f64 / ops as f64
}

/// How many rounds each comparison runs.
const ROUNDS: usize = 7;

/// This machine's CPU, as `/proc/cpuinfo` names it.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|name| name.trim().to_string())
        })
        .unwrap_or_else(|| "an unnamed CPU".to_string())
}

/// threadkit's way and the usual way, timed: ns per operation, the fastest
/// of `ROUNDS` rounds each, the two taking turns to go first.
struct Compared {
    ours: f64,
    theirs: f64,
}

/// Runs `ours` (`ours_ops` operations per thread) and `theirs`
/// (`theirs_ops`) on `threads` threads, in alternating rounds.
fn compare(
    threads: usize,
    ours_ops: u64,
    ours: impl Fn(usize) + Sync,
    theirs_ops: u64,
    theirs: impl Fn(usize) + Sync,
) -> Compared {
    let mut best = Compared {
        ours: f64::MAX,
        theirs: f64::MAX,
    };
    for round in 0..ROUNDS {
        let time_ours = || per_op(timed(threads, &ours), ours_ops);
        let time_theirs = || per_op(timed(threads, &theirs), theirs_ops);
        let (a, b) = if round % 2 == 0 {
            let a = time_ours();
            (a, time_theirs())
        } else {
            let b = time_theirs();
            (time_ours(), b)
        };
        best.ours = best.ours.min(a);
        best.theirs = best.theirs.min(b);
    }
    best
}

impl Compared {
    /// Prints both timings and what they say; `gives` is what threadkit
    /// offers for its cost, printed unless it is clearly faster.
    fn report(&self, ours: &str, theirs: &str, unit: &str, gives: &str) {
        println!(
            "  {ours}: {:.2} ns/{unit}; {theirs}: {:.2} ns/{unit}",
            self.ours, self.theirs
        );
        let ratio = self.theirs / self.ours;
        let verdict = if (self.ours - self.theirs).abs() < 0.3 {
            "about the same here (within 0.3 ns, about a cycle)".to_string()
        } else if ratio >= 1.1 {
            format!("threadkit is {ratio:.1}x faster here")
        } else if ratio > 1.0 / 1.1 {
            format!("about the same here ({:.2}x)", 1.0 / ratio)
        } else {
            format!("threadkit is slower here: {:.2}x the time", 1.0 / ratio)
        };
        println!("  -> {verdict}");
        if ratio < 1.1 && !gives.is_empty() {
            println!("     what it gives for that: {gives}");
        }
    }
}

fn registry(threads: usize) {
    println!("== registry::PerThread<T> — a value per thread, iterable by the owner ==");
    println!("Each worker keeps its own latency log without sharing a lock; the owner");
    println!("merges them afterwards and can tell which thread recorded what.\n");

    let per_thread = 500_000u64;
    let logs: PerThread<Mutex<Vec<u32>>> = PerThread::new();
    let shared: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    let compared = compare(
        threads,
        per_thread,
        |t| {
            for i in 0..per_thread {
                logs.get_or_default()
                    .lock()
                    .unwrap()
                    .push((i as u32) ^ t as u32);
            }
        },
        per_thread,
        |t| {
            for i in 0..per_thread {
                shared.lock().unwrap().push((i as u32) ^ t as u32);
            }
        },
    );

    let shares: Vec<_> = logs.per_thread().collect();
    println!(
        "  {} logs, one per thread that recorded ({} rounds of {threads} threads), all kept after their",
        shares.len(),
        ROUNDS
    );
    println!("  threads exited; the first two:");
    for entry in shares.iter().take(2) {
        println!(
            "  {:?} recorded {} samples (exited: {})",
            entry.thread_id(),
            entry.value().lock().unwrap().len(),
            entry.has_exited()
        );
    }
    let total: usize = logs.iter().map(|l| l.lock().unwrap().len()).sum();
    assert_eq!(total as u64, per_thread * threads as u64 * ROUNDS as u64);
    assert_eq!(shared.lock().unwrap().len(), total);
    compared.report(
        "per-thread logs",
        "one shared Mutex<Vec>",
        "record",
        "each thread's log apart, attributed to its thread",
    );
    println!();
}

fn counter(threads: usize) {
    println!("== counter::Counter — accumulate per thread, never lose a count ==");
    println!("A request counter hit from every thread: each add writes only the");
    println!("thread's own slot; `sum()` is exact at any time, `approx()` is one load.\n");

    static REQUESTS: Counter = Counter::new();
    static NAIVE: AtomicU64 = AtomicU64::new(0);
    let per_thread = 5_000_000u64;

    let compared = compare(
        threads,
        per_thread,
        |_| {
            for _ in 0..per_thread {
                REQUESTS.inc();
            }
        },
        per_thread,
        |_| {
            for _ in 0..per_thread {
                NAIVE.fetch_add(1, Ordering::Relaxed);
            }
        },
    );

    let expected = per_thread * threads as u64 * ROUNDS as u64;
    assert_eq!(REQUESTS.sum(), expected);
    assert_eq!(NAIVE.load(Ordering::Relaxed), expected);
    println!(
        "  sum() = {} (exact), approx() = {}",
        REQUESTS.sum(),
        REQUESTS.approx()
    );
    // Each round's threads took over the slots of the round before: what
    // those exited threads added is one share that belongs to no thread.
    for share in REQUESTS.per_thread() {
        match share.thread_id() {
            Some(id) => println!("  per_thread(): {id:?} added {}", share.value()),
            None => println!(
                "  per_thread(): exited threads whose slots were reused added {}",
                share.value()
            ),
        }
    }
    compared.report(
        "Counter::inc",
        "shared AtomicU64::fetch_add",
        "add",
        "per-thread shares and an exact sum()",
    );
    println!();

    println!("Short-lived threads lose nothing: 1000 threads add 1 and exit.");
    let jobs = std::sync::Arc::new(Counter::with_batch(1_000));
    for _ in 0..1000 {
        let jobs = std::sync::Arc::clone(&jobs);
        thread::spawn(move || jobs.inc()).join().unwrap();
    }
    println!(
        "  sum() = {}, approx() = {} (each thread flushed as it exited), slots used: {}\n",
        jobs.sum(),
        jobs.approx(),
        jobs.per_thread()
            .iter()
            .filter(|s| s.thread_id().is_some())
            .count()
    );
}

fn declared_counter(threads: usize) {
    println!("== counter! — a static counter with a thread-local of its own ==");
    println!("The pattern it replaces: a thread_local! Cell flushed to a shared atomic");
    println!("every 1000 adds (fast, but a thread that exits between flushes loses its");
    println!("count, and nobody can read an exact total).\n");

    threadkit::counter! {
        /// Requests served.
        static SERVED(batch = 1_000);
    }
    thread_local! {
        static PENDING: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    static FLUSHED: AtomicU64 = AtomicU64::new(0);
    let per_thread = 5_000_000u64;

    let compared = compare(
        threads,
        per_thread,
        |_| {
            for _ in 0..per_thread {
                SERVED.add(std::hint::black_box(1));
            }
        },
        per_thread,
        |_| {
            for _ in 0..per_thread {
                PENDING.with(|pending| {
                    let value = pending.get() + std::hint::black_box(1);
                    if value >= 1_000 {
                        FLUSHED.fetch_add(value, Ordering::Relaxed);
                        pending.set(0);
                    } else {
                        pending.set(value);
                    }
                });
            }
        },
    );
    assert_eq!(SERVED.sum(), per_thread * threads as u64 * ROUNDS as u64);
    println!("  sum() = {} (exact)", SERVED.sum());
    compared.report(
        "counter!",
        "thread_local! Cell + flush by hand",
        "add",
        "an exact sum() and no count lost when a thread exits",
    );
    println!();
}

fn histogram(threads: usize) {
    println!("== histogram::Histogram — latency distributions recorded per thread ==");
    println!("Each thread records into buckets of its own; a snapshot merges them with");
    println!("exact counts, min and max, and quantiles within 0.78 %.\n");

    static LATENCY_NS: Histogram = Histogram::new();
    let shared = Mutex::new(Vec::new());
    let per_thread = 1_000_000u64;
    // Latency-like values: 1 µs to ~1 ms, from a cheap generator.
    let value = |t: usize, i: u64| 1_000 + ((i.wrapping_mul(0x9e37_79b9) ^ t as u64) % 1_000_000);

    let compared = compare(
        threads,
        per_thread,
        |t| {
            for i in 0..per_thread {
                LATENCY_NS.record(value(t, i));
            }
        },
        per_thread / 10,
        |t| {
            for i in 0..per_thread / 10 {
                shared.lock().unwrap().push(value(t, i));
            }
        },
    );
    let snapshot = LATENCY_NS.snapshot();
    assert_eq!(
        snapshot.count(),
        per_thread * threads as u64 * ROUNDS as u64
    );
    println!(
        "  count {}, p50 {} ns, p99 {} ns, max {} ns",
        snapshot.count(),
        snapshot.quantile(0.5).unwrap(),
        snapshot.quantile(0.99).unwrap(),
        snapshot.max().unwrap()
    );
    compared.report(
        "Histogram::record",
        "pushing into one Mutex<Vec<u64>>",
        "record",
        "bounded memory and quantiles without sorting",
    );
    println!();
}

fn scratch(threads: usize) {
    println!("== scratch — reusable per-thread buffers ==");
    println!("Formatting a log line per event: a fresh String per event, against the");
    println!("thread's scratch string (empty on entry, capacity kept).\n");

    let per_thread = 500_000u64;
    let line = |s: &mut String, t: usize, i: u64| {
        use std::fmt::Write;
        write!(s, "worker={t} event={i} status=ok latency_us={}", i % 977).unwrap();
        s.len()
    };
    let compared = compare(
        threads,
        per_thread,
        |t| {
            let mut bytes = 0;
            for i in 0..per_thread {
                bytes += scratch::with_string(|s| line(s, t, i));
            }
            std::hint::black_box(bytes);
        },
        per_thread,
        |t| {
            let mut bytes = 0;
            for i in 0..per_thread {
                let mut s = String::new();
                bytes += line(&mut s, t, i);
            }
            std::hint::black_box(bytes);
        },
    );
    compared.report(
        "scratch::with_string",
        "a fresh String",
        "line",
        "a buffer with its capacity kept, capped, reentrant",
    );

    let depth = scratch::with_bytes(|outer| {
        outer.extend_from_slice(b"outer");
        scratch::with_bytes(|inner| {
            inner.extend_from_slice(b"inner: a second buffer, not a BorrowMutError");
            inner.len()
        }) + outer.len()
    });
    println!("  nested with_bytes: {depth} bytes in two buffers at once");
    scratch::with_bytes(|buf| buf.resize(64 << 20, 0));
    println!(
        "  after one 64 MiB use this thread keeps {} bytes in its scratch buffers (cap {} each)\n",
        scratch::retained_bytes(),
        scratch::DEFAULT_MAX_BYTES
    );
}

fn arena(threads: usize) {
    println!("== arena — a scoped per-thread bump arena ==");
    println!("A parser building 64 small nodes per request: Box per node, against");
    println!("arena::with (everything released at once when the scope ends).\n");

    #[allow(dead_code)] // only built and dropped: the allocation is the point
    struct Node<'a> {
        value: u64,
        next: Option<&'a Node<'a>>,
    }
    #[allow(dead_code)]
    struct BoxNode {
        value: u64,
        next: Option<Box<BoxNode>>,
    }
    let requests = 100_000u64;
    let compared = compare(
        threads,
        requests,
        |_| {
            for r in 0..requests {
                arena::with(|bump| {
                    let mut list: Option<&Node<'_>> = None;
                    for value in 0..64 {
                        list = Some(bump.alloc(Node {
                            value: value ^ r,
                            next: list,
                        }));
                    }
                    std::hint::black_box(list);
                });
            }
        },
        requests,
        |_| {
            for r in 0..requests {
                let mut list: Option<Box<BoxNode>> = None;
                for value in 0..64 {
                    list = Some(Box::new(BoxNode {
                        value: value ^ r,
                        next: list,
                    }));
                }
                std::hint::black_box(&list);
                // Drop iteratively, as a long list must be.
                while let Some(node) = list {
                    list = node.next;
                }
            }
        },
    );
    compared.report(
        "arena::with",
        "a Box per node",
        "request",
        "one release for the whole scope",
    );
    let kept = arena::with(|outer| {
        let kept = outer.alloc(42u64);
        arena::with(|inner| {
            inner.alloc_slice_fill_copy(1 << 20, 0u8);
        }); // the inner scope's megabyte is released here
        *kept
    });
    println!("  nested scopes: the outer value survives the inner scope ({kept})");
    println!(
        "  this thread keeps {} bytes of arena between scopes (cap {})\n",
        arena::retained_bytes(),
        arena::DEFAULT_MAX_BYTES
    );
}

fn random(threads: usize) {
    println!("== rng — a fast per-thread random number generator ==");
    println!("xoshiro256++ per thread, seeded once per process from the OS. Dice rolls");
    println!("from every thread: per-thread generator against one Mutex<Rng>.\n");

    let rolls = 2_000_000u64;
    let shared = Mutex::new(Rng::from_entropy());
    let compared = compare(
        threads,
        rolls,
        |_| {
            let total: u64 = (0..rolls).map(|_| u64::from(rng::range(1..=6u8))).sum();
            std::hint::black_box(total);
        },
        rolls / 10,
        |_| {
            let total: u64 = (0..rolls / 10)
                .map(|_| u64::from(shared.lock().unwrap().range(1..=6u8)))
                .sum();
            std::hint::black_box(total);
        },
    );
    compared.report(
        "rng::range",
        "one Mutex<Rng>",
        "roll",
        "a stream per thread, no lock",
    );

    let firsts: Vec<u64> = (0..4)
        .map(|_| thread::spawn(rng::u64).join().unwrap())
        .collect();
    println!("  four new threads, four different streams: {:x?}", firsts);
    rng::seed(7);
    let a = (rng::u64(), rng::range(0..100u32));
    rng::seed(7);
    let b = (rng::u64(), rng::range(0..100u32));
    println!("  rng::seed(7) twice gives the same draws: {a:?} == {b:?}");
    let nested = rng::with(|outer| (outer.u64(), rng::with(|inner| inner.u64())));
    println!(
        "  rng::with nested inside rng::with: two streams, no panic ({:x} vs {:x})\n",
        nested.0, nested.1
    );
}

fn context(threads: usize) {
    println!("== context — a global default with scoped per-thread overrides ==");
    println!("Set once for the process, overridden on one thread for one closure (a");
    println!("test forcing a code path). While no thread overrides it, reading it is an");
    println!("atomic load and no thread-local lookup.\n");

    static LEVEL: Context<u8> = Context::new();
    LEVEL.set_global(2).unwrap();
    let reads = 20_000_000u64;
    let fast = timed(threads, |_| {
        let sum: u64 = (0..reads)
            .map(|_| LEVEL.with(|l| u64::from(*l.unwrap())))
            .sum();
        std::hint::black_box(sum);
    });
    // The same reads while one extra thread holds an override for the whole
    // run: every thread now checks its own (empty) override stack.
    let overriding = std::sync::Barrier::new(2);
    let (release, released) = std::sync::mpsc::channel::<()>();
    let slow = thread::scope(|s| {
        let overriding = &overriding;
        s.spawn(move || {
            LEVEL.scope(9, || {
                overriding.wait();
                let _ = released.recv(); // blocked, not spinning, until the end
            })
        });
        overriding.wait();
        let slow = timed(threads, |_| {
            let sum: u64 = (0..reads)
                .map(|_| LEVEL.with(|l| u64::from(*l.unwrap())))
                .sum();
            std::hint::black_box(sum);
        });
        drop(release);
        slow
    });
    println!(
        "  Context::with, no override anywhere: {:.2} ns/read; while another thread",
        per_op(fast, reads)
    );
    println!(
        "  overrides it: {:.2} ns/read (and the readers still see the global; one run each)",
        per_op(slow, reads)
    );
    let seen = LEVEL.scope(5, || {
        let mine = LEVEL.get();
        let other = thread::spawn(|| LEVEL.get()).join().unwrap();
        (mine, other)
    });
    println!(
        "  inside LEVEL.scope(5, ..): this thread sees {:?}, a new thread {:?}",
        seen.0, seen.1
    );
    let a = LEVEL.set_local(7);
    let b = LEVEL.set_local(8);
    drop(a); // out of order
    let after_a = LEVEL.get();
    drop(b);
    println!(
        "  guards dropped out of order: {after_a:?}, then {:?} (no stale override)\n",
        LEVEL.get()
    );
}

fn cache(threads: usize) {
    println!("== cache — a bounded read-through cache, one copy per thread ==");
    println!("Hot keys answered from the calling thread's copy, no lock; LRU-bounded;");
    println!("invalidation reaches every thread. Against one shared Mutex<HashMap>.\n");

    let lookups = 500_000u64;
    let keys = 64u64;
    let local: LocalCache<u64, u64> = LocalCache::new(keys as usize);
    let shared = Mutex::new(HashMap::new());
    let compared = compare(
        threads,
        lookups,
        |t| {
            let sum: u64 = (0..lookups)
                .map(|i| local.get_or_insert_with((i + t as u64) % keys, || i * 3))
                .sum();
            std::hint::black_box(sum);
        },
        lookups,
        |t| {
            let sum: u64 = (0..lookups)
                .map(|i| {
                    *shared
                        .lock()
                        .unwrap()
                        .entry((i + t as u64) % keys)
                        .or_insert(i * 3)
                })
                .sum();
            std::hint::black_box(sum);
        },
    );
    let stats = local.stats();
    compared.report(
        "LocalCache hit",
        "one Mutex<HashMap>",
        "lookup",
        "no lock (a hit never waits for another thread), LRU bound, invalidation",
    );
    println!(
        "  stats over {} threads: {} hits, {} misses (hit rate {:.4})",
        local.per_thread().len(),
        stats.hits,
        stats.misses,
        stats.hit_rate()
    );
    local.invalidate(&5);
    let reloaded = local.get_or_insert_with(5, || 555);
    println!("  after invalidate(&5) the next lookup reloads: {reloaded}\n");
}

fn last_error() {
    println!("== last_error — an errno-style slot per thread, for C APIs ==");
    println!("A failing extern \"C\" function returns -1 and leaves the details for");
    println!("its thread; the caller copies the message into its own buffer.\n");

    static LAST: LastError<String> = LastError::new();
    let status = {
        LAST.set("config file not found: /etc/app.toml".to_string());
        -1
    };
    let mut small = [0u8; 16];
    let mut large = [0u8; 64];
    let first = LAST.message(&mut small);
    let second = LAST.message(&mut large);
    let text = |buf: &[u8]| {
        String::from_utf8_lossy(&buf[..buf.iter().position(|&b| b == 0).unwrap()]).into_owned()
    };
    println!(
        "  status {status}; 16-byte buffer: {first:?} {:?}",
        text(&small)
    );
    println!("  64-byte buffer: {second:?} {:?}", text(&large));
    let other = thread::spawn(|| LAST.is_set()).join().unwrap();
    println!("  another thread has an error set: {other}");
    let taken = LAST.take();
    println!(
        "  take() -> {:?}; then message() -> {:?}",
        taken.as_deref().map(|s| &s[..6]),
        LAST.message(&mut small)
    );
    assert_eq!(LAST.message(&mut small), Message::NoError);
}
