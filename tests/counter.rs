//! Behaviour of `Counter`: exact totals, monotonic sums, the flush rules, the
//! `approx` bound, attribution, slot reuse and thread teardown.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex, PoisonError};
use std::thread;

use threadkit::Counter;

mod common;
use common::{after_the_crates_exit, scaled};

#[test]
fn eight_threads_of_requests_count_exactly_without_flush() {
    static REQUESTS: Counter = Counter::new();
    static BYTES: Counter = Counter::new();
    let per_thread = scaled(10_000, 100);
    thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..per_thread {
                    REQUESTS.add(1);
                    BYTES.add(256);
                }
            });
        }
    });
    assert_eq!(REQUESTS.sum(), 8 * per_thread);
    assert_eq!(BYTES.sum(), 8 * per_thread * 256);
}

/// The seed's scenario with the `Counter` type: 8 threads of requests of
/// 256 bytes, half of them exiting before their first flush could happen.
#[test]
fn eight_threads_of_requests_count_exactly_some_exiting_before_a_flush() {
    let requests = Arc::new(Counter::with_batch(1_000));
    let bytes = Arc::new(Counter::with_batch(1_000));
    let (long, short) = (scaled(10_000, 50), scaled(999, 10));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let (requests, bytes) = (Arc::clone(&requests), Arc::clone(&bytes));
            thread::spawn(move || {
                for _ in 0..if t % 2 == 0 { long } else { short } {
                    requests.inc();
                    bytes.add(256);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let total = 4 * long + 4 * short;
    assert_eq!((requests.sum(), bytes.sum()), (total, 256 * total));
    assert_eq!((requests.approx(), bytes.approx()), (total, 256 * total));
}

#[test]
fn short_lived_threads_lose_nothing() {
    let counter = Arc::new(Counter::new());
    let threads = scaled(2_000, 20);
    // In waves of 16 at a time, so slots are reused many times over.
    for _ in 0..threads / 16 {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let counter = Arc::clone(&counter);
                thread::spawn(move || counter.add(3))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
    let expected = threads / 16 * 16 * 3;
    assert_eq!(counter.sum(), expected);
    // Every thread flushed on exit, so the estimate is exact too.
    assert_eq!(counter.approx(), expected);
    let in_shares: u64 = counter.per_thread().iter().map(|s| *s.value()).sum();
    assert_eq!(in_shares, expected);
}

#[test]
fn sum_never_decreases_while_threads_add_and_exit() {
    let counter = Counter::with_batch(7);
    let done = AtomicBool::new(false);
    let waves = scaled(50, 3);
    thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut last = 0;
            let mut reads = 0u64;
            while !done.load(Ordering::Acquire) {
                let now = counter.sum();
                assert!(now >= last, "sum went from {last} down to {now}");
                last = now;
                reads += 1;
            }
            reads
        });
        for _ in 0..waves {
            thread::scope(|w| {
                for _ in 0..4 {
                    w.spawn(|| {
                        for _ in 0..scaled(500, 10) {
                            counter.inc();
                        }
                    });
                }
            });
        }
        done.store(true, Ordering::Release);
        assert!(reader.join().unwrap() > 0);
    });
    assert_eq!(counter.sum(), waves * 4 * scaled(500, 10));
}

#[test]
fn approx_trails_sum_by_less_than_a_batch_per_running_thread() {
    let batch = 100;
    let counter = Counter::with_batch(batch);
    let threads = 4;
    let added = Barrier::new(threads + 1);
    let checked = Barrier::new(threads + 1);
    let (approx, sum) = thread::scope(|s| {
        let mut handles = Vec::new();
        for n in 0..threads as u64 {
            let (counter, added, checked) = (&counter, &added, &checked);
            handles.push(s.spawn(move || {
                // 250 + n ones: flushes at 100 and 200, leaves 50 + n pending.
                for _ in 0..250 + n {
                    counter.inc();
                }
                added.wait();
                checked.wait();
            }));
        }
        added.wait();
        let read = (counter.approx(), counter.sum());
        checked.wait();
        // An explicit join waits for the thread's thread-local destructors,
        // which flush; the end of `thread::scope` alone does not.
        for h in handles {
            h.join().unwrap();
        }
        read
    });
    assert_eq!(sum, 1000 + 6);
    assert_eq!(approx, 4 * 200, "only what reached a batch is flushed");
    assert!(sum - approx < batch * threads as u64);
    // The threads have exited and flushed the rest.
    assert_eq!(counter.approx(), counter.sum());
}

#[test]
fn exiting_thread_flushes_its_pending_amount() {
    let counter = Arc::new(Counter::with_batch(1_000));
    let c = Arc::clone(&counter);
    thread::spawn(move || c.add(5)).join().unwrap();
    assert_eq!(counter.approx(), 5);
    assert_eq!(counter.sum(), 5);
}

#[test]
fn flush_publishes_only_the_calling_threads_pending_amount() {
    let counter = Counter::with_batch(1_000);
    counter.add(5);
    let barrier = Barrier::new(2);
    let (approx, sum) = thread::scope(|s| {
        s.spawn(|| {
            counter.add(7);
            barrier.wait(); // keep this thread running while we read
            barrier.wait();
        });
        barrier.wait();
        counter.flush();
        let read = (counter.approx(), counter.sum());
        barrier.wait();
        read
    });
    assert_eq!((approx, sum), (5, 12));
}

#[test]
fn approx_is_never_ahead_of_a_later_sum() {
    let counter = Counter::with_batch(3);
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Acquire) {
                let approx = counter.approx();
                let sum = counter.sum();
                assert!(approx <= sum, "approx {approx} > sum {sum}");
            }
        });
        thread::scope(|w| {
            for _ in 0..2 {
                w.spawn(|| {
                    for _ in 0..scaled(20_000, 50) {
                        counter.inc();
                    }
                });
            }
        });
        done.store(true, Ordering::Release);
    });
}

#[test]
fn per_thread_attributes_counts_to_named_threads() {
    let counter = Counter::new();
    // Alive at the same time, so that each holds its own slot.
    let barrier = Barrier::new(3);
    thread::scope(|s| {
        for (name, n) in [("a", 1), ("b", 2), ("c", 3)] {
            let (counter, barrier) = (&counter, &barrier);
            thread::Builder::new()
                .name(name.into())
                .spawn_scoped(s, move || {
                    counter.add(n);
                    barrier.wait();
                })
                .unwrap();
        }
    });
    let mut shares: Vec<(Option<String>, u64)> = counter
        .per_thread()
        .iter()
        .map(|s| (s.thread_name().map(String::from), *s.value()))
        .collect();
    shares.sort();
    assert_eq!(
        shares,
        [
            (Some("a".into()), 1),
            (Some("b".into()), 2),
            (Some("c".into()), 3)
        ]
    );
}

#[test]
fn reused_slots_keep_memory_bounded_and_counts_exact() {
    let counter = Arc::new(Counter::new());
    let threads = scaled(200, 10);
    let mut ids = Vec::new();
    for _ in 0..threads {
        let c = Arc::clone(&counter);
        let h = thread::spawn(move || {
            // Registered with the crate already (through another block), so
            // the thread holds the recycled slot when it first adds here.
            Counter::new().inc();
            c.add(10);
        });
        ids.push(h.thread().id());
        h.join().unwrap();
    }
    assert_eq!(counter.sum(), threads * 10);
    assert_eq!(
        counter.approx(),
        threads * 10,
        "every thread flushed at exit"
    );
    let shares = counter.per_thread();
    assert_eq!(shares.iter().map(|s| *s.value()).sum::<u64>(), threads * 10);
    let attributed: Vec<_> = shares.iter().filter(|s| s.thread_id().is_some()).collect();
    // Threads that ran one after another reuse slots: one per thread index
    // in use at once in this process (other tests run alongside), not one per
    // thread.
    if !cfg!(miri) {
        assert!(
            attributed.len() < 50,
            "{} slots for sequential threads",
            attributed.len()
        );
    }
    for share in attributed {
        assert!(ids.contains(&share.thread_id().unwrap()));
        assert!(share.has_exited());
        assert_eq!(*share.value(), 10);
    }
}

#[test]
fn reset_and_take_start_from_zero() {
    let mut counter = Counter::with_batch(2);
    thread::scope(|s| {
        s.spawn(|| counter.add(5));
    });
    counter.add(1);
    assert_eq!(counter.take(), 6);
    assert_eq!((counter.sum(), counter.approx()), (0, 0));
    counter.add(4);
    assert_eq!(counter.sum(), 4);
    counter.reset();
    assert_eq!(counter.sum(), 0);
    assert!(counter.per_thread().is_empty());
}

#[test]
fn counter_dropped_before_its_threads_exit() {
    // Exit hooks of still-running threads must be taken back on drop (Miri
    // reports a use after free otherwise).
    let counter = Arc::new(Counter::with_batch(1_000));
    let (added, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let h = {
        let (counter, added, release) = (
            Arc::clone(&counter),
            Arc::clone(&added),
            Arc::clone(&release),
        );
        thread::spawn(move || {
            counter.add(1);
            drop(counter);
            added.wait();
            release.wait();
        })
    };
    added.wait();
    let (owners, sum) = (Arc::strong_count(&counter), counter.sum());
    drop(counter);
    release.wait();
    h.join().unwrap();
    assert_eq!((owners, sum), (1, 1));
}

#[test]
fn counter_moved_after_its_scoped_threads_finish() {
    let counter = Counter::with_batch(1_000);
    thread::scope(|s| {
        s.spawn(|| counter.add(2));
    });
    // The scoped thread's exit hook may still be pending: it must not write
    // to the counter's old place.
    let moved = Box::new(counter);
    assert_eq!(moved.sum(), 2);
}

// Adds from a thread-local destructor (before the crate's teardown on
// Linux) and from after the crate's teardown.

static TEARDOWN: Counter = Counter::with_batch(1_000);
static ORDER: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

struct AddOnDrop(&'static str);

impl Drop for AddOnDrop {
    fn drop(&mut self) {
        TEARDOWN.add(100);
        ORDER
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(self.0);
    }
}

thread_local! {
    static ADD_ON_DROP: Cell<Option<AddOnDrop>> = const { Cell::new(None) };
}

#[test]
fn adds_from_thread_local_destructors_are_counted() {
    thread::spawn(|| {
        after_the_crates_exit(|| drop(AddOnDrop("after the crate's")));
        TEARDOWN.add(1);
    })
    .join()
    .unwrap();
    thread::spawn(|| {
        TEARDOWN.add(1);
        ADD_ON_DROP.with(|d| d.set(Some(AddOnDrop("before the crate's"))));
    })
    .join()
    .unwrap();
    assert_eq!(ORDER.lock().unwrap().len(), 2);
    assert_eq!(TEARDOWN.sum(), 202);
    assert_eq!(
        TEARDOWN.approx(),
        202,
        "teardown adds reach the shared total"
    );
}

/// Counters declared with `threadkit::counter!`.
mod declared {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Barrier};
    use std::thread;

    use super::common::{after_the_crates_exit, scaled};

    threadkit::counter! {
        /// Requests served.
        pub static REQUESTS;
        pub(crate) static BYTES(batch = 1 << 20);
        static SMALL_BATCH(batch = 10)
    }

    threadkit::counter! {
        static SOLO;
    }

    // One name, two declarations behind opposite `cfg`s, as
    // `thread_local!` allows.
    threadkit::counter! {
        /// Events, flushed every 10 on Unix.
        #[cfg(unix)]
        static EVENTS(batch = 10);
        /// Events, flushed every 20 elsewhere.
        #[cfg(not(unix))]
        static EVENTS(batch = 20);
    }

    #[test]
    fn declarations_behind_opposite_cfgs_share_a_name() {
        EVENTS.add(3);
        assert_eq!(EVENTS.sum(), 3);
        assert_eq!(EVENTS.batch(), if cfg!(unix) { 10 } else { 20 });
    }

    #[test]
    fn declarations_take_attributes_visibility_and_a_batch() {
        assert_eq!(REQUESTS.batch(), threadkit::Counter::new().batch());
        assert_eq!(BYTES.batch(), 1 << 20);
        assert_eq!(SMALL_BATCH.batch(), 10);
        SOLO.inc();
        assert_eq!(SOLO.sum(), 1);
    }

    threadkit::counter! {
        static SEED_REQUESTS(batch = 1000);
        static SEED_BYTES(batch = 1000);
    }

    /// The seed's scenario: 8 threads of 10 000 requests of 256 bytes;
    /// half the threads exit before their first flush could happen (they
    /// serve fewer requests than the batch).
    #[test]
    fn eight_threads_of_requests_count_exactly_some_exiting_before_a_flush() {
        let (per_thread, short) = (scaled(10_000, 50), scaled(999, 10));
        let handles: Vec<_> = (0..8)
            .map(|t| {
                thread::spawn(move || {
                    let requests = if t % 2 == 0 { per_thread } else { short };
                    for _ in 0..requests {
                        SEED_REQUESTS.inc();
                        SEED_BYTES.add(256);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        let requests = 4 * per_thread + 4 * short;
        assert_eq!(SEED_REQUESTS.sum(), requests);
        assert_eq!(SEED_BYTES.sum(), 256 * requests);
        // Every thread has exited (joined): everything was flushed.
        assert_eq!(SEED_REQUESTS.approx(), requests);
        assert_eq!(SEED_BYTES.approx(), 256 * requests);
    }

    threadkit::counter! {
        static MONOTONIC(batch = 7);
    }

    #[test]
    fn sum_never_decreases_while_threads_add_and_exit() {
        let done = AtomicBool::new(false);
        let waves = scaled(50, 3);
        let before = MONOTONIC.sum();
        thread::scope(|s| {
            let reader = s.spawn(|| {
                let mut last = 0;
                while !done.load(Ordering::Acquire) {
                    let now = MONOTONIC.sum();
                    assert!(now >= last, "sum went from {last} down to {now}");
                    let approx = MONOTONIC.approx();
                    assert!(approx <= MONOTONIC.sum(), "approx ahead of a later sum");
                    last = now;
                }
            });
            for _ in 0..waves {
                let threads: Vec<_> = (0..4)
                    .map(|_| {
                        thread::spawn(|| {
                            for _ in 0..scaled(500, 10) {
                                MONOTONIC.inc();
                            }
                        })
                    })
                    .collect();
                for thread in threads {
                    thread.join().unwrap();
                }
            }
            done.store(true, Ordering::Release);
            reader.join().unwrap();
        });
        assert_eq!(MONOTONIC.sum() - before, waves * 4 * scaled(500, 10));
    }

    threadkit::counter! {
        static TRAILING(batch = 100);
    }

    #[test]
    fn approx_trails_by_less_than_a_batch_per_running_thread_and_flush_publishes() {
        let (added, flushed) = (Barrier::new(3), Barrier::new(3));
        thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    TRAILING.add(250); // two batches flushed, 50 pending
                    added.wait();
                    flushed.wait();
                });
            }
            added.wait();
            let (approx, sum) = (TRAILING.approx(), TRAILING.sum());
            assert_eq!(sum, 500);
            assert!(sum - approx < 2 * 100, "approx {approx}, sum {sum}");
            TRAILING.add(30);
            TRAILING.flush();
            assert!(TRAILING.approx() >= approx + 30);
            flushed.wait();
        });
    }

    threadkit::counter! {
        static NAMED;
    }

    #[test]
    fn per_thread_attributes_counts_to_named_threads() {
        thread::scope(|s| {
            for (name, n) in [("a", 3), ("b", 4)] {
                thread::Builder::new()
                    .name(name.into())
                    .spawn_scoped(s, move || NAMED.add(n))
                    .unwrap()
                    .join()
                    .unwrap();
            }
        });
        let shares = NAMED.per_thread();
        let total: u64 = shares.iter().map(|share| *share.value()).sum();
        assert_eq!(total, 7);
        // One of the two may have reused the other's slot, and so be
        // reported with the exited one's count as unattributed.
        assert!(shares
            .iter()
            .any(|share| share.thread_name() == Some("b") && *share.value() == 4));
    }

    threadkit::counter! {
        static REUSED(batch = 1000);
    }

    #[test]
    fn many_short_threads_keep_memory_bounded_and_counts_exact() {
        let threads = scaled(500, 10);
        for _ in 0..threads {
            thread::spawn(|| REUSED.add(3)).join().unwrap();
        }
        assert_eq!(REUSED.sum(), 3 * threads);
        let slots = REUSED.per_thread().len();
        assert!(slots < 64, "{slots} shares for one thread at a time");
    }

    threadkit::counter! {
        static IN_DESTRUCTORS(batch = 1000);
    }

    struct AddsOnDrop(Arc<AtomicBool>);

    impl Drop for AddsOnDrop {
        fn drop(&mut self) {
            IN_DESTRUCTORS.add(5);
            self.0.store(true, Ordering::Relaxed);
        }
    }

    thread_local! {
        static LATE: Cell<Option<AddsOnDrop>> = const { Cell::new(None) };
    }

    #[test]
    fn adds_from_thread_local_destructors_are_counted() {
        let before = IN_DESTRUCTORS.sum();
        let ran = Arc::new(AtomicBool::new(false));
        let late_ran = Arc::new(AtomicBool::new(false));
        let (early, late) = (Arc::clone(&ran), Arc::clone(&late_ran));
        thread::spawn(move || {
            // After the crate's teardown.
            after_the_crates_exit(move || drop(AddsOnDrop(early)));
            IN_DESTRUCTORS.add(1);
            // Before it.
            LATE.set(Some(AddsOnDrop(late)));
        })
        .join()
        .unwrap();
        assert!(ran.load(Ordering::Relaxed) && late_ran.load(Ordering::Relaxed));
        assert_eq!(IN_DESTRUCTORS.sum() - before, 11);
        assert_eq!(IN_DESTRUCTORS.approx(), IN_DESTRUCTORS.sum(), "all flushed");
    }

    #[test]
    fn debug_shows_the_counts() {
        threadkit::counter! {
            static SHOWN;
        }
        SHOWN.add(2);
        let shown = format!("{SHOWN:?}");
        assert!(shown.contains("sum: 2"), "{shown}");
    }
}

/// Adds made after the crate's teardown for a thread belong to no thread,
/// for both kinds of counter, whenever the value making them was created.
mod teardown_attribution {
    use std::sync::Arc;
    use std::thread;

    use threadkit::Counter;

    use super::common::after_the_crates_exit;

    threadkit::counter! {
        static LATE_ADDS(batch = 1_000_000);
    }

    /// What a counter's `per_thread` says, by thread name.
    fn by_name(shares: Vec<threadkit::ThreadShare<u64>>) -> Vec<(Option<String>, u64)> {
        let mut named: Vec<_> = shares
            .into_iter()
            .map(|s| (s.thread_name().map(str::to_owned), *s.value()))
            .collect();
        named.sort();
        named
    }

    /// A thread named "t0" adds 1 000, then, after the crate's teardown for
    /// it, 1 more (from a destructor registered after its first add).
    fn scenario(add: impl Fn(u64) + Send + Sync + Clone + 'static) {
        thread::Builder::new()
            .name("t0".into())
            .spawn(move || {
                add(1000);
                let late = add.clone();
                after_the_crates_exit(move || late(1));
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn adds_after_the_teardown_belong_to_no_thread() {
        let expected = vec![(None, 1), (Some("t0".to_string()), 1000)];
        let counter = Arc::new(Counter::with_batch(1_000_000));
        let c = Arc::clone(&counter);
        scenario(move |n| c.add(n));
        assert_eq!(by_name(counter.per_thread()), expected, "Counter");
        scenario(|n| LATE_ADDS.add(n));
        assert_eq!(by_name(LATE_ADDS.per_thread()), expected, "counter!");
    }
}
