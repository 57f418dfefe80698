//! Behaviour of `PerThread<T>`: ownership, attribution, thread exit, drops,
//! reentrancy and teardown.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, PoisonError};
use std::thread;

use threadkit::PerThread;

mod common;
use common::after_the_crates_exit;

#[test]
fn each_thread_sees_only_its_own_value() {
    let values: PerThread<thread::ThreadId> = PerThread::new();
    thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                let me = thread::current().id();
                for _ in 0..100 {
                    assert_eq!(*values.get_or(|| me), me);
                }
            });
        }
    });
    assert_eq!(values.len(), 8);
}

#[test]
fn values_visible_after_their_thread_exits() {
    let values = Arc::new(PerThread::new());
    let handles: Vec<_> = (0..4)
        .map(|n| {
            let values = Arc::clone(&values);
            thread::spawn(move || {
                values.get_or(|| n);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut seen: Vec<i32> = values.iter().copied().collect();
    seen.sort();
    assert_eq!(seen, [0, 1, 2, 3]);
    // `join` waits for the threads' thread-local destructors.
    assert!(values.per_thread().all(|e| e.has_exited()));
}

#[test]
fn later_thread_does_not_inherit_exited_threads_value() {
    let values: Arc<PerThread<String>> = Arc::new(PerThread::new());
    // One after another: each thread exits before the next starts, so the
    // crate hands every one of them the same recycled slot.
    let rounds = 5;
    for round in 0..rounds {
        let values = Arc::clone(&values);
        thread::spawn(move || {
            // Register the thread with the crate first (as any thread that
            // used another block would be), so it holds the recycled slot
            // when it looks this registry up.
            let other: PerThread<()> = PerThread::new();
            other.get_or(|| ());
            assert_eq!(values.get(), None, "round {round} inherited a value");
            let mine = values.get_or(|| format!("round {round}"));
            assert_eq!(*mine, format!("round {round}"));
        })
        .join()
        .unwrap();
    }
    let mut seen: Vec<&String> = values.iter().collect();
    seen.sort();
    let expected: Vec<String> = (0..rounds).map(|r| format!("round {r}")).collect();
    assert_eq!(seen, expected.iter().collect::<Vec<_>>());
    let ids: std::collections::HashSet<_> = values.per_thread().map(|e| e.thread_id()).collect();
    assert_eq!(ids.len(), rounds);
}

#[test]
fn entries_name_the_thread_that_created_each_value() {
    let values = Arc::new(PerThread::new());
    let (tx, rx) = std::sync::mpsc::channel();
    let release = Arc::new(Barrier::new(2));
    let running = {
        let (values, release) = (Arc::clone(&values), Arc::clone(&release));
        thread::Builder::new()
            .name("running".into())
            .spawn(move || {
                values.get_or(|| "still here");
                tx.send(thread::current().id()).unwrap();
                release.wait();
            })
            .unwrap()
    };
    let running_id = rx.recv().unwrap();
    let exited_id = {
        let values = Arc::clone(&values);
        let h = thread::Builder::new()
            .name("exited".into())
            .spawn(move || {
                values.get_or(|| "gone");
            })
            .unwrap();
        let id = h.thread().id();
        h.join().unwrap();
        id
    };

    for entry in values.per_thread() {
        match **entry.value() {
            "still here" => {
                assert_eq!(entry.thread_id(), Some(running_id));
                assert_eq!(entry.thread_name(), Some("running"));
                assert!(!entry.has_exited());
            }
            "gone" => {
                assert_eq!(entry.thread_id(), Some(exited_id));
                assert_eq!(entry.thread_name(), Some("exited"));
                assert!(entry.has_exited());
            }
            other => panic!("unexpected value {other}"),
        }
    }
    assert_eq!(values.len(), 2);
    release.wait();
    running.join().unwrap();
    assert!(values.per_thread().all(|e| e.has_exited()));
}

/// Counts drops per value so a double drop or a leak shows.
struct Tracked<'a> {
    drops: &'a [AtomicUsize],
    id: usize,
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        self.drops[self.id].fetch_add(1, Ordering::SeqCst);
    }
}

fn assert_each_dropped_once(drops: &[AtomicUsize]) {
    for (id, d) in drops.iter().enumerate() {
        assert_eq!(d.load(Ordering::SeqCst), 1, "value {id}");
    }
}

/// Fills a registry from `threads` threads, half of which exit before the
/// registry is emptied and half of which are still running.
fn fill<'a>(values: &PerThread<Tracked<'a>>, drops: &'a [AtomicUsize]) {
    let threads = drops.len();
    let next = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                values.get_or(|| Tracked {
                    drops,
                    id: next.fetch_add(1, Ordering::SeqCst),
                });
            });
        }
    });
    assert_eq!(values.len(), threads);
}

#[test]
fn values_dropped_exactly_once_on_drop() {
    let drops: Vec<AtomicUsize> = (0..6).map(|_| AtomicUsize::new(0)).collect();
    let values = PerThread::new();
    fill(&values, &drops);
    drop(values);
    assert_each_dropped_once(&drops);
}

#[test]
fn values_dropped_exactly_once_on_clear() {
    let drops: Vec<AtomicUsize> = (0..6).map(|_| AtomicUsize::new(0)).collect();
    let mut values = PerThread::new();
    fill(&values, &drops);
    values.clear();
    assert_each_dropped_once(&drops);
    assert!(values.is_empty());
    drop(values);
    assert_each_dropped_once(&drops);
}

#[test]
fn values_dropped_exactly_once_through_into_iter() {
    let drops: Vec<AtomicUsize> = (0..6).map(|_| AtomicUsize::new(0)).collect();
    let values = PerThread::new();
    fill(&values, &drops);
    let mut iter = values.into_iter();
    let first = iter.next().unwrap();
    assert_eq!(
        drops
            .iter()
            .map(|d| d.load(Ordering::SeqCst))
            .sum::<usize>(),
        0
    );
    drop(first);
    drop(iter);
    assert_each_dropped_once(&drops);
}

#[test]
fn reentrant_get_or_keeps_the_first_value_and_drops_the_other() {
    let drops: Vec<AtomicUsize> = (0..2).map(|_| AtomicUsize::new(0)).collect();
    let values: PerThread<Tracked> = PerThread::new();
    let value = values.get_or(|| {
        let inner = values.get_or(|| Tracked {
            drops: &drops,
            id: 0,
        });
        assert_eq!(inner.id, 0);
        Tracked {
            drops: &drops,
            id: 1,
        }
    });
    assert_eq!(value.id, 0, "the value stored first is kept");
    assert_eq!(
        drops[1].load(Ordering::SeqCst),
        1,
        "the outer value is dropped"
    );
    assert_eq!(values.len(), 1);
    assert_eq!(values.get().map(|v| v.id), Some(0));
    drop(values);
    assert_each_dropped_once(&drops);
}

#[test]
fn failed_or_panicking_initialiser_stores_nothing() {
    let values: PerThread<u32> = PerThread::new();
    assert_eq!(values.get_or_try(|| Err::<u32, _>("nope")), Err("nope"));
    assert!(values.is_empty());
    let panicked = std::panic::catch_unwind(|| values.get_or(|| panic!("boom")));
    assert!(panicked.is_err());
    assert!(values.is_empty());
    assert_eq!(*values.get_or(|| 3), 3);
}

#[test]
fn iteration_is_live_while_threads_insert() {
    let values: PerThread<usize> = PerThread::new();
    let done = AtomicBool::new(false);
    let writers = if cfg!(miri) { 4 } else { 16 };
    thread::scope(|s| {
        s.spawn(|| {
            let mut last = 0;
            while !done.load(Ordering::Acquire) {
                let seen = values.iter().count();
                assert!(seen >= last, "values never disappear");
                assert!(values.iter().all(|&v| v < writers));
                last = seen;
            }
        });
        let writers_done = AtomicUsize::new(0);
        thread::scope(|w| {
            for n in 0..writers {
                let (values, writers_done) = (&values, &writers_done);
                w.spawn(move || {
                    values.get_or(|| n);
                    writers_done.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        done.store(true, Ordering::Release);
    });
    assert_eq!(values.len(), writers);
}

#[test]
fn clear_lets_threads_start_over() {
    let mut values = PerThread::new();
    assert_eq!(*values.get_or(|| 1), 1);
    values.clear();
    assert_eq!(values.get(), None);
    assert_eq!(*values.get_or(|| 2), 2);
}

#[test]
fn iter_mut_and_debug() {
    let mut values: PerThread<Cell<u32>> = PerThread::default();
    values.get_or(|| Cell::new(1));
    for v in &mut values {
        v.set(v.get() + 1);
    }
    assert_eq!(values.get().map(Cell::get), Some(2));
    let debug = format!("{values:?}");
    assert!(debug.contains("len: 1"), "{debug}");
}

// From a point after the crate's own teardown, and from a `thread_local!`
// destructor (before it on Linux, where it is a pthread key).

static TEARDOWN: PerThread<&'static str> = PerThread::new();
static TEARDOWN_ONLY: PerThread<&'static str> = PerThread::new();
static SEEN: Mutex<Vec<(&'static str, Option<&'static str>)>> = Mutex::new(Vec::new());

struct Probe(&'static str);

impl Drop for Probe {
    fn drop(&mut self) {
        let own = TEARDOWN.get().copied();
        TEARDOWN_ONLY.get_or(|| self.0);
        SEEN.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((self.0, own));
    }
}

thread_local! {
    static PROBE: Cell<Option<Probe>> = const { Cell::new(None) };
}

#[test]
fn works_from_thread_local_destructors_and_after_the_crates_teardown() {
    thread::spawn(|| {
        after_the_crates_exit(|| drop(Probe("after the crate's teardown")));
        TEARDOWN.get_or(|| "live value 1");
    })
    .join()
    .unwrap();
    thread::spawn(|| {
        TEARDOWN.get_or(|| "live value 2");
        PROBE.with(|p| p.set(Some(Probe("in a thread-local destructor"))));
    })
    .join()
    .unwrap();

    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            ("after the crate's teardown", Some("live value 1")),
            ("in a thread-local destructor", Some("live value 2")),
        ],
        "a thread still sees its own value during teardown"
    );
    let mut created: Vec<_> = TEARDOWN_ONLY
        .per_thread()
        .map(|e| (**e.value(), e.has_exited()))
        .collect();
    created.sort();
    assert_eq!(
        created,
        [
            ("after the crate's teardown", true),
            ("in a thread-local destructor", true)
        ]
    );
}

/// Counts its drop, then panics if it is the chosen one.
struct PanicsOnDrop<'a> {
    drops: &'a [AtomicUsize],
    id: usize,
    panics: usize,
}

impl Drop for PanicsOnDrop<'_> {
    fn drop(&mut self) {
        self.drops[self.id].fetch_add(1, Ordering::SeqCst);
        // Not while unwinding (a failed assertion): that would abort.
        if self.id == self.panics && !std::thread::panicking() {
            panic!("value {} refuses to go quietly", self.id);
        }
    }
}

/// A registry holding `drops.len()` values from as many threads, the one
/// with id `panics` panicking when dropped. All but the last two threads run
/// one after another (each reuses the previous one's index, so their values
/// chain in one slot); the last two run at once (two slots).
fn fill_panicky(drops: &[AtomicUsize], panics: usize) -> PerThread<PanicsOnDrop<'_>> {
    let values = PerThread::new();
    let n = drops.len();
    for id in 0..n - 2 {
        thread::scope(|s| {
            s.spawn(|| values.get_or(|| PanicsOnDrop { drops, id, panics }));
        });
    }
    thread::scope(|s| {
        for id in [n - 2, n - 1] {
            let values = &values;
            s.spawn(move || values.get_or(|| PanicsOnDrop { drops, id, panics }));
        }
    });
    assert_eq!(values.len(), n);
    values
}

#[test]
fn a_panicking_drop_does_not_leak_the_other_values() {
    let n = 8;
    // Under Miri, the first and the last value only: each case spawns 8
    // threads.
    let positions: Vec<usize> = if cfg!(miri) {
        vec![0, n - 1]
    } else {
        (0..n).collect()
    };
    for panics in positions {
        for how in ["drop", "clear", "into_iter"] {
            let drops: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            let values = fill_panicky(&drops, panics);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                let mut values = values;
                match how {
                    "drop" => drop(values),
                    "clear" => values.clear(),
                    _ => {
                        let mut iter = values.into_iter();
                        drop(iter.next());
                        drop(iter);
                    }
                }
            }));
            assert!(
                result.is_err(),
                "{how}, value {panics}: the panic is not swallowed"
            );
            for (id, d) in drops.iter().enumerate() {
                assert_eq!(
                    d.load(Ordering::SeqCst),
                    1,
                    "{how}, value {panics} panics: value {id}"
                );
            }
        }
    }
}

/// `PerLiveThread`: values dropped on their own thread at exit.
mod live {
    use std::cell::Cell;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier, Mutex, PoisonError};
    use std::thread::{self, ThreadId};

    use threadkit::registry::PerLiveThread;

    use super::common::{after_the_crates_exit, scaled};

    /// Records where it was dropped.
    struct Owned {
        made_on: ThreadId,
        drops: Arc<Mutex<Vec<(ThreadId, ThreadId)>>>,
    }

    impl Owned {
        fn new(drops: &Arc<Mutex<Vec<(ThreadId, ThreadId)>>>) -> Owned {
            Owned {
                made_on: thread::current().id(),
                drops: Arc::clone(drops),
            }
        }
    }

    impl Drop for Owned {
        fn drop(&mut self) {
            let on = thread::current().id();
            self.drops
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((self.made_on, on));
        }
    }

    #[test]
    fn each_value_is_dropped_once_on_its_own_thread_when_it_exits() {
        let drops = Arc::default();
        let values = Arc::new(PerLiveThread::new());
        let threads = scaled(8, 3);
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (values, drops) = (Arc::clone(&values), Arc::clone(&drops));
                thread::spawn(move || {
                    for _ in 0..10 {
                        values.with_or(
                            || Owned::new(&drops),
                            |v| assert_eq!(v.made_on, thread::current().id()),
                        );
                    }
                    assert!(values.with(|v| v.is_some()));
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        let drops = drops.lock().unwrap();
        assert_eq!(
            drops.len(),
            threads,
            "one value per thread, each dropped once"
        );
        assert!(drops.iter().all(|(made, on)| made == on), "{drops:?}");
        assert!(values.is_empty());
    }

    #[test]
    fn a_reading_keeps_the_values_of_threads_that_exit_during_it() {
        let drops = Arc::default();
        let values = PerLiveThread::new();
        let (made, reading_started) = (Barrier::new(2), Barrier::new(2));
        thread::scope(|s| {
            let worker = s.spawn(|| {
                values.with_or(|| (Owned::new(&drops), 42_u32), |_| ());
                made.wait();
                reading_started.wait();
            });
            made.wait();
            let reading = values.read();
            reading_started.wait();
            worker.join().unwrap(); // the worker has exited
            assert_eq!(reading.len(), 1);
            let entry = reading.per_thread().next().unwrap();
            assert_eq!(entry.value().1, 42, "still readable");
            assert!(entry.has_exited());
            assert!(
                drops.lock().unwrap().is_empty(),
                "not dropped under a reading"
            );
            drop(reading);
        });
        // Freed by the slot's next owner or, here, the registry.
        assert!(values.is_empty(), "no live thread has a value");
        drop(values);
        assert_eq!(drops.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_retired_value_is_dropped_by_the_next_thread_in_its_slot() {
        let drops = Arc::default();
        let values = PerLiveThread::new();
        let (made, reading_started) = (Barrier::new(2), Barrier::new(2));
        let worker_id = thread::scope(|s| {
            let worker = s.spawn(|| {
                values.with_or(|| Owned::new(&drops), |_| ());
                made.wait();
                reading_started.wait();
                thread::current().id()
            });
            made.wait();
            let reading = values.read();
            reading_started.wait();
            let worker_id = worker.join().unwrap();
            drop(reading);
            worker_id
        });
        let worker_dropped = || {
            drops
                .lock()
                .unwrap()
                .iter()
                .any(|(made, _)| *made == worker_id)
        };
        assert!(!worker_dropped(), "kept for the reading");
        // Threads one at a time: the lowest free index goes first, so one of
        // them soon gets the worker's (other tests' threads may hold it for
        // a while).
        for _ in 0..scaled(1000, 20) {
            thread::scope(|s| {
                // `join` waits for the thread's exit hooks too.
                s.spawn(|| values.with_or(|| Owned::new(&drops), |_| ()))
                    .join()
                    .unwrap();
            });
            if worker_dropped() {
                break;
            }
        }
        assert!(worker_dropped(), "dropped by a later owner of its slot");
    }

    #[test]
    fn clear_drops_every_value_and_threads_start_over() {
        let drops = Arc::default();
        let mut values = PerLiveThread::new();
        values.with_or(|| Owned::new(&drops), |_| ());
        values.clear();
        assert_eq!(drops.lock().unwrap().len(), 1);
        assert!(values.with(|v| v.is_none()));
        values.with_or(|| Owned::new(&drops), |_| ());
        assert_eq!(values.len(), 1);
        // The thread claimed its slot again: its exit hook is back.
        let values = Arc::new(values);
        let worker = {
            let (values, drops) = (Arc::clone(&values), Arc::clone(&drops));
            thread::spawn(move || {
                values.with_or(|| Owned::new(&drops), |_| ());
            })
        };
        worker.join().unwrap();
        assert_eq!(
            drops.lock().unwrap().len(),
            2,
            "the worker's went at its exit"
        );
    }

    #[test]
    fn reentrant_with_or_keeps_the_inner_value_and_drops_the_outer() {
        let values: PerLiveThread<u32> = PerLiveThread::new();
        let seen = values.with_or(
            || {
                let inner = values.with_or(|| 1, |v| *v);
                assert_eq!(inner, 1);
                2
            },
            |v| *v,
        );
        assert_eq!(seen, 1);
        assert_eq!(values.len(), 1);
    }

    #[test]
    fn a_panicking_initialiser_stores_nothing() {
        let values: PerLiveThread<u32> = PerLiveThread::new();
        let result = catch_unwind(|| values.with_or(|| panic!("no"), |_| ()));
        assert!(result.is_err());
        assert!(values.with(|v| v.is_none()));
    }

    struct PanicsOnDrop<'a>(&'a AtomicUsize, bool);

    impl Drop for PanicsOnDrop<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
            // Not while unwinding (a failed assertion): that would abort.
            if self.1 && !std::thread::panicking() {
                panic!("drop");
            }
        }
    }

    #[test]
    fn a_panicking_drop_in_clear_does_not_leak_the_other_values() {
        let dropped = AtomicUsize::new(0);
        let values = PerLiveThread::new();
        let (made, cleared) = (Barrier::new(5), Barrier::new(5));
        let values = Mutex::new(values);
        thread::scope(|s| {
            for n in 0..4 {
                let (values, dropped, made, cleared) = (&values, &dropped, &made, &cleared);
                s.spawn(move || {
                    let values = values.lock().unwrap();
                    values.with_or(|| PanicsOnDrop(dropped, n == 1), |_| ());
                    drop(values);
                    made.wait();
                    cleared.wait(); // alive while the owner clears
                });
            }
            made.wait();
            let mut values = values.lock().unwrap();
            assert_eq!(values.len(), 4);
            assert!(catch_unwind(AssertUnwindSafe(|| values.clear())).is_err());
            assert_eq!(dropped.load(Ordering::Relaxed), 4, "every value dropped");
            assert!(values.is_empty());
            drop(values);
            cleared.wait();
        });
        // Their exits found nothing more to drop.
        assert_eq!(dropped.load(Ordering::Relaxed), 4);
    }

    static LIVE: PerLiveThread<Cell<u32>> = PerLiveThread::new();
    static LATE_DROPS: AtomicUsize = AtomicUsize::new(0);

    struct Counted;

    impl Drop for Counted {
        fn drop(&mut self) {
            LATE_DROPS.fetch_add(1, Ordering::Relaxed);
        }
    }

    static LATE_LIVE: PerLiveThread<Counted> = PerLiveThread::new();

    struct LateUse(Arc<AtomicBool>);

    impl Drop for LateUse {
        fn drop(&mut self) {
            // The crate's teardown has run: a temporary value.
            let before = LATE_DROPS.load(Ordering::Relaxed);
            LATE_LIVE.with_or(|| Counted, |_| ());
            let temporary = LATE_DROPS.load(Ordering::Relaxed) == before + 1;
            let none_kept = LATE_LIVE.with(|v| v.is_none());
            self.0.store(temporary && none_kept, Ordering::Relaxed);
        }
    }

    #[test]
    fn an_exiting_thread_gets_a_temporary_value() {
        let ok = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ok);
        thread::spawn(move || {
            after_the_crates_exit(move || drop(LateUse(flag)));
            LIVE.with_or_default(|c| c.set(1));
        })
        .join()
        .unwrap();
        assert!(ok.load(Ordering::Relaxed));
    }

    #[test]
    fn readings_while_threads_come_and_go_see_live_values_only_once() {
        let made = AtomicUsize::new(0);
        let dropped = Arc::new(AtomicUsize::new(0));
        static TWICE: AtomicUsize = AtomicUsize::new(0);
        struct Value(Arc<AtomicUsize>, AtomicBool);
        impl Drop for Value {
            fn drop(&mut self) {
                // Counted, not asserted: a panic in a `Drop` while a failed
                // assertion unwinds would abort the whole binary.
                if self.1.swap(true, Ordering::Relaxed) {
                    TWICE.fetch_add(1, Ordering::Relaxed);
                }
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let values: PerLiveThread<Value> = PerLiveThread::new();
        let done = AtomicBool::new(false);
        thread::scope(|s| {
            s.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    let reading = values.read();
                    for value in reading.iter() {
                        assert!(!value.1.load(Ordering::Relaxed), "read after drop");
                    }
                }
            });
            for _ in 0..scaled(50, 3) {
                let handles: Vec<_> = (0..4)
                    .map(|_| {
                        s.spawn(|| {
                            values.with_or(
                                || {
                                    made.fetch_add(1, Ordering::Relaxed);
                                    Value(Arc::clone(&dropped), AtomicBool::new(false))
                                },
                                |_| (),
                            )
                        })
                    })
                    .collect();
                for handle in handles {
                    handle.join().unwrap();
                }
            }
            done.store(true, Ordering::Relaxed);
        });
        drop(values);
        assert_eq!(TWICE.load(Ordering::Relaxed), 0, "dropped twice");
        assert_eq!(
            dropped.load(Ordering::Relaxed),
            made.load(Ordering::Relaxed)
        );
    }
}
