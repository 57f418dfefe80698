//! Behaviour of `Histogram`: exact counts, sums and extremes across threads
//! and thread exits, attribution, teardown, and the snapshot's readings.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use threadkit::Histogram;

mod common;
use common::{after_the_crates_exit, scaled};

/// The seed's metrics scenario: 8 threads of 10 000 requests of 256 bytes,
/// half of them short-lived (a few requests, then exit).
#[test]
fn eight_threads_of_request_sizes_are_counted_exactly() {
    static SIZES: Histogram = Histogram::new();
    let (per_thread, short) = (scaled(10_000, 50), scaled(7, 3));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            thread::spawn(move || {
                let requests = if t % 2 == 0 { per_thread } else { short };
                for _ in 0..requests {
                    SIZES.record(256);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let snapshot = SIZES.snapshot();
    let requests = 4 * per_thread + 4 * short;
    assert_eq!(snapshot.count(), requests);
    assert_eq!(snapshot.sum(), 256 * u128::from(requests));
    assert_eq!((snapshot.min(), snapshot.max()), (Some(256), Some(256)));
    assert_eq!(snapshot.quantile(0.5), Some(256));
    assert_eq!(snapshot.mean(), Some(256.0));
}

#[test]
fn every_bucket_count_matches_the_values_recorded_by_every_thread() {
    let histogram = Histogram::with_precision(3);
    let threads = 4_u64;
    thread::scope(|s| {
        for t in 0..threads {
            let histogram = &histogram;
            s.spawn(move || {
                for value in 0..scaled(2_000, 50) {
                    histogram.record(value * (t + 1));
                }
            });
        }
    });
    let snapshot = histogram.snapshot();
    // The same values, one thread, as the model.
    let model = Histogram::with_precision(3);
    for t in 0..threads {
        for value in 0..scaled(2_000, 50) {
            model.record(value * (t + 1));
        }
    }
    let model = model.snapshot();
    assert_eq!(snapshot, model);
    assert_eq!(
        snapshot.buckets().map(|b| b.count).sum::<u64>(),
        snapshot.count()
    );
}

#[test]
fn counts_never_decrease_for_one_reader_while_threads_record_and_exit() {
    let histogram = Histogram::new();
    let done = AtomicBool::new(false);
    let waves = scaled(20, 2);
    thread::scope(|s| {
        s.spawn(|| {
            let mut last: Vec<u64> = Vec::new();
            while !done.load(Ordering::Acquire) {
                let snapshot = histogram.snapshot();
                let counts: Vec<u64> = snapshot.buckets().map(|b| b.count).collect();
                let total: u64 = counts.iter().sum();
                assert!(total >= last.iter().sum(), "the count went down");
                for bucket in snapshot.buckets() {
                    assert!(
                        snapshot.min().unwrap() <= bucket.high
                            && snapshot.max().unwrap() >= bucket.low
                    );
                }
                last = counts;
            }
        });
        for _ in 0..waves {
            let threads: Vec<_> = (0..4)
                .map(|t| {
                    let histogram = &histogram;
                    thread::Builder::new()
                        .spawn_scoped(s, move || {
                            for v in 0..scaled(300, 10) {
                                histogram.record(v * 1_000 + t);
                            }
                        })
                        .unwrap()
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
        }
        done.store(true, Ordering::Release);
    });
    assert_eq!(histogram.snapshot().count(), waves * 4 * scaled(300, 10));
}

#[test]
fn per_thread_shares_add_up_to_the_snapshot_and_name_their_threads() {
    let histogram = Histogram::new();
    thread::scope(|s| {
        for (name, value) in [("a", 10), ("b", 20), ("c", 30)] {
            let histogram = &histogram;
            thread::Builder::new()
                .name(name.into())
                .spawn_scoped(s, move || histogram.record_n(value, 5))
                .unwrap()
                .join()
                .unwrap();
        }
    });
    let shares = histogram.per_thread();
    let mut merged = shares[0].value().clone();
    for share in &shares[1..] {
        merged.merge(share.value());
    }
    assert_eq!(merged, histogram.snapshot());
    // One at a time: later threads may take an earlier one's slot, whose
    // values are then reported with no thread. The last one's are its own.
    let c = shares
        .iter()
        .find(|share| share.thread_name() == Some("c"))
        .unwrap();
    assert_eq!((c.value().count(), c.value().min()), (5, Some(30)));
}

#[test]
fn slots_are_reused_by_later_threads_and_nothing_is_lost() {
    let histogram = Histogram::new();
    let threads = scaled(300, 10);
    for t in 0..threads {
        thread::scope(|s| {
            s.spawn(|| histogram.record(t)).join().unwrap();
        });
    }
    let snapshot = histogram.snapshot();
    assert_eq!(snapshot.count(), threads);
    assert_eq!(
        (snapshot.min(), snapshot.max()),
        (Some(0), Some(threads - 1))
    );
    assert!(histogram.per_thread().len() < 40, "slots are reused");
}

#[test]
fn sums_beyond_u64_are_exact_and_extremes_reach_the_ends() {
    let histogram = Histogram::new();
    histogram.record(u64::MAX);
    histogram.record(u64::MAX);
    histogram.record_n(u64::MAX, 3);
    histogram.record(0);
    histogram.record_n(99, 0); // nothing
    let snapshot = histogram.snapshot();
    assert_eq!(snapshot.sum(), 5 * u128::from(u64::MAX));
    assert_eq!((snapshot.min(), snapshot.max()), (Some(0), Some(u64::MAX)));
    assert_eq!(snapshot.count(), 6);
    assert_eq!(snapshot.quantile(1.0), Some(u64::MAX));
}

#[test]
fn an_empty_snapshot_has_no_readings() {
    let snapshot = Histogram::new().snapshot();
    assert!(snapshot.is_empty());
    assert_eq!(snapshot.quantile(0.5), None);
    assert_eq!(
        (snapshot.min(), snapshot.max(), snapshot.mean()),
        (None, None, None)
    );
    assert_eq!(snapshot.buckets().count(), 0);
}

#[test]
#[should_panic(expected = "quantile 1.5 is outside 0.0..=1.0")]
fn a_quantile_outside_zero_to_one_panics() {
    let histogram = Histogram::new();
    histogram.record(1);
    let _ = histogram.snapshot().quantile(1.5);
}

#[test]
#[should_panic(expected = "outside 0.0..=1.0")]
fn a_nan_quantile_panics() {
    let _ = Histogram::new().snapshot().quantile(f64::NAN);
}

#[test]
fn reset_forgets_everything() {
    let mut histogram = Histogram::with_precision(4);
    histogram.record(5);
    histogram.reset();
    assert!(histogram.snapshot().is_empty());
    assert_eq!(histogram.precision(), 4);
    histogram.record(6);
    assert_eq!(histogram.snapshot().count(), 1);
}

#[test]
#[should_panic(expected = "different precisions")]
fn snapshots_of_different_precisions_do_not_merge() {
    let mut a = Histogram::with_precision(4).snapshot();
    a.merge(&Histogram::with_precision(5).snapshot());
}

static IN_DESTRUCTORS: Histogram = Histogram::new();

struct RecordsOnDrop(Arc<AtomicBool>);

impl Drop for RecordsOnDrop {
    fn drop(&mut self) {
        IN_DESTRUCTORS.record(7);
        self.0.store(true, Ordering::Relaxed);
    }
}

thread_local! {
    static LATE: Cell<Option<RecordsOnDrop>> = const { Cell::new(None) };
}

#[test]
fn records_from_thread_local_destructors_are_counted() {
    let (early, late) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (e, l) = (Arc::clone(&early), Arc::clone(&late));
    thread::spawn(move || {
        // After the crate's teardown: no slot then.
        after_the_crates_exit(move || drop(RecordsOnDrop(e)));
        IN_DESTRUCTORS.record(1);
        // Before it.
        LATE.set(Some(RecordsOnDrop(l)));
    })
    .join()
    .unwrap();
    assert!(early.load(Ordering::Relaxed) && late.load(Ordering::Relaxed));
    let snapshot = IN_DESTRUCTORS.snapshot();
    assert_eq!(snapshot.count(), 3);
    assert_eq!(snapshot.sum(), 15);
    let shares = IN_DESTRUCTORS.per_thread();
    let total: u64 = shares.iter().map(|share| share.value().count()).sum();
    assert_eq!(total, 3, "the shares hold every value");
}

#[test]
fn debug_shows_the_readings() {
    let histogram = Histogram::new();
    histogram.record(3);
    let shown = format!("{histogram:?}");
    assert!(shown.contains("count: 1"), "{shown}");
    assert!(shown.contains("max: Some(3)"), "{shown}");
}

#[cfg(feature = "hdrhistogram")]
#[test]
fn a_snapshot_converts_to_hdrhistogram_with_its_counts_and_extremes() {
    let histogram = Histogram::new();
    for value in 1..=10_000_u64 {
        histogram.record(value * 37);
    }
    let snapshot = histogram.snapshot();
    let hdr = snapshot.to_hdrhistogram(3).unwrap();
    assert_eq!(hdr.len(), snapshot.count());
    assert!(hdr.equivalent(hdr.min(), 37) && hdr.equivalent(hdr.max(), 370_000));
    for q in [0.5, 0.9, 0.99] {
        let ours = snapshot.quantile(q).unwrap() as f64;
        let theirs = hdr.value_at_quantile(q) as f64;
        assert!((ours - theirs).abs() <= ours * (snapshot.relative_error() + 0.001));
    }
    let empty = Histogram::new().snapshot().to_hdrhistogram(2).unwrap();
    assert!(empty.is_empty());
}
