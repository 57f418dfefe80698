//! Behaviour of `last_error::LastError`: per-thread slots, take/with/clear,
//! loans under reentrancy and panics, C-string rendering, teardown.

use std::cell::Cell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, PoisonError};
use std::thread;

use threadkit::last_error::{LastError, Message};

#[derive(Debug)]
struct Tracked(u32, Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn set_then_take_empties_the_slot() {
    let last = LastError::new();
    assert_eq!(last.take(), None::<u32>);
    last.set(3);
    assert!(last.is_set());
    assert_eq!(last.get(), Some(3));
    assert_eq!(last.take(), Some(3));
    assert_eq!(last.take(), None);
    assert!(!last.is_set());
}

#[test]
fn each_thread_has_its_own_slot() {
    static LAST: LastError<String> = LastError::new();
    let both_set = Barrier::new(2);
    thread::scope(|s| {
        for name in ["a", "b"] {
            let both_set = &both_set;
            s.spawn(move || {
                LAST.set(name.to_string());
                both_set.wait();
                assert_eq!(LAST.take().as_deref(), Some(name));
            });
        }
    });
    assert_eq!(LAST.take(), None, "the main thread never set one");
}

#[test]
fn slots_of_different_statics_are_separate() {
    static A: LastError<&str> = LastError::new();
    static B: LastError<&str> = LastError::new();
    A.set("from a");
    assert!(!B.is_set());
    B.set("from b");
    assert_eq!((A.take(), B.take()), (Some("from a"), Some("from b")));
}

#[test]
fn replaced_and_cleared_errors_are_dropped_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let last = LastError::new();
    last.set(Tracked(1, Arc::clone(&drops)));
    last.set(Tracked(2, Arc::clone(&drops)));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    last.clear();
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    last.set(Tracked(3, Arc::clone(&drops)));
    assert_eq!(last.with(|e| e.map(|t| t.0)), Some(3));
    assert_eq!(drops.load(Ordering::SeqCst), 2, "with leaves it in place");
    let taken = last.take().unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    drop(taken);
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

#[test]
fn errors_are_dropped_when_their_thread_exits() {
    static LAST: LastError<Tracked> = LastError::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let for_thread = Arc::clone(&drops);
    thread::spawn(move || LAST.set(Tracked(1, for_thread)))
        .join()
        .unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn set_inside_with_wins_and_the_loaned_error_is_dropped() {
    let drops = Arc::new(AtomicUsize::new(0));
    let last = LastError::new();
    last.set(Tracked(1, Arc::clone(&drops)));
    last.with(|error| {
        assert_eq!(error.map(|t| t.0), Some(1));
        assert!(!last.is_set(), "on loan: nested calls see no error");
        last.set(Tracked(2, Arc::clone(&drops)));
        assert_eq!(
            error.map(|t| t.0),
            Some(1),
            "the loaned error is still valid"
        );
    });
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(last.take().map(|t| t.0), Some(2));
}

#[test]
fn clear_inside_with_wins() {
    let last = LastError::new();
    last.set("stale");
    last.with(|error| {
        assert_eq!(error, Some(&"stale"));
        last.clear();
    });
    assert!(!last.is_set());
}

#[test]
fn nested_reads_inside_with_leave_the_error_in_place() {
    let last = LastError::new();
    last.set(9);
    let inner = last.with(|outer| {
        let nested = last.with(|inner| inner.copied());
        let taken = last.take();
        (outer.copied(), nested, taken)
    });
    assert_eq!(inner, (Some(9), None, None));
    assert_eq!(last.take(), Some(9), "restored after the closure");
}

#[test]
fn error_is_restored_when_the_with_closure_panics() {
    let last = LastError::new();
    last.set("kept");
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        last.with(|_| panic!("in the closure"));
    }));
    assert!(result.is_err());
    assert_eq!(last.take(), Some("kept"));
}

#[test]
fn message_fits_truncates_and_terminates() {
    let last = LastError::new();
    last.set("disk full");

    let mut exact = [0xff_u8; 10]; // 9 bytes + NUL
    assert_eq!(last.message(&mut exact), Message::Complete { len: 9 });
    assert_eq!(&exact, b"disk full\0");

    let mut short = [0xff_u8; 5];
    assert_eq!(
        last.message(&mut short),
        Message::Truncated { len: 4, needed: 10 }
    );
    assert_eq!(&short, b"disk\0");

    let mut one = [0xff_u8; 1];
    assert_eq!(
        last.message(&mut one),
        Message::Truncated { len: 0, needed: 10 }
    );
    assert_eq!(one, [0]);

    let mut none: [u8; 0] = [];
    assert_eq!(
        last.message(&mut none),
        Message::Truncated { len: 0, needed: 10 }
    );

    assert!(last.is_set(), "rendering leaves the error in place");
    last.clear();
    let mut buf = [0xff_u8; 4];
    assert_eq!(last.message(&mut buf), Message::NoError);
    assert_eq!(buf[0], 0);
}

#[test]
fn truncation_keeps_utf8_whole_across_display_pieces() {
    struct Pieces;
    impl fmt::Display for Pieces {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "ab")?;
            write!(f, "é✓")?; // 2 + 3 bytes
            write!(f, "z")
        }
    }
    let last = LastError::new();
    last.set(Pieces);
    // Room for 4 bytes of text: "ab" + "é"; "✓" does not fit, and "z",
    // which would, must not be written after the gap.
    let mut buf = [0xff_u8; 5];
    assert_eq!(
        last.message(&mut buf),
        Message::Truncated { len: 4, needed: 9 }
    );
    assert_eq!(&buf, "abé\0".as_bytes());
    // Room for 5: still "abé", the next character needs 3.
    let mut buf = [0xff_u8; 6];
    assert_eq!(
        last.message(&mut buf),
        Message::Truncated { len: 4, needed: 9 }
    );
    assert!(std::str::from_utf8(&buf[..4]).is_ok());
}

#[test]
fn works_inside_thread_local_destructors() {
    static LAST: LastError<String> = LastError::new();

    struct UsesSlot(Arc<Mutex<Vec<Option<String>>>>);
    impl Drop for UsesSlot {
        fn drop(&mut self) {
            LAST.set("from a destructor".to_string());
            let taken = LAST.take();
            let mut buf = [0_u8; 32];
            let _ = LAST.message(&mut buf);
            LAST.clear();
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(taken);
        }
    }
    thread_local! {
        static EARLY: Cell<Option<UsesSlot>> = const { Cell::new(None) };
        static LATE: Cell<Option<UsesSlot>> = const { Cell::new(None) };
    }

    let seen = Arc::new(Mutex::new(Vec::new()));
    let for_thread = Arc::clone(&seen);
    thread::spawn(move || {
        EARLY.set(Some(UsesSlot(Arc::clone(&for_thread))));
        LAST.set("while running".to_string());
        LATE.set(Some(UsesSlot(for_thread)));
    })
    .join()
    .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "both destructors ran to the end");
    // Each got its error back, unless the slots were already gone, in which
    // case the slot reads as empty.
    for taken in seen.iter() {
        assert!(
            taken.is_none() || taken.as_deref() == Some("from a destructor"),
            "{taken:?}"
        );
    }
}

#[test]
fn dropping_a_last_error_drops_the_calling_threads_error_at_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let n = if cfg!(miri) { 50 } else { 20_000 };
    for i in 0..n {
        let last = LastError::new();
        last.set(Tracked(i, Arc::clone(&drops)));
        drop(last);
        assert_eq!(drops.load(Ordering::SeqCst), i as usize + 1, "instance {i}");
    }
}

#[test]
fn other_threads_drop_a_dropped_instances_error_on_next_use_or_exit() {
    static OTHER: LastError<u8> = LastError::new();
    // One counter per thread: the two threads' errors go at different times.
    let (user_drops, idle_drops) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let last = Arc::new(LastError::new());
    let set = Arc::new(Barrier::new(3));
    let dropped = Arc::new(Barrier::new(3));
    let user = {
        let (last, set, dropped, drops) = (
            last.clone(),
            set.clone(),
            dropped.clone(),
            user_drops.clone(),
        );
        thread::spawn(move || {
            last.set(Tracked(1, Arc::clone(&drops)));
            drop(last);
            set.wait();
            dropped.wait();
            assert_eq!(drops.load(Ordering::SeqCst), 0, "not before its next use");
            let _ = OTHER.is_set(); // any LastError
            assert_eq!(drops.load(Ordering::SeqCst), 1, "at its next use");
        })
    };
    let idle = {
        let (last, set, dropped, drops) = (
            last.clone(),
            set.clone(),
            dropped.clone(),
            idle_drops.clone(),
        );
        thread::spawn(move || {
            last.set(Tracked(2, drops));
            drop(last);
            set.wait();
            dropped.wait();
            // Exits without using a `LastError` again.
        })
    };
    set.wait();
    drop(Arc::into_inner(last).expect("the threads dropped their handles"));
    dropped.wait();
    user.join().unwrap();
    idle.join().unwrap();
    assert_eq!(user_drops.load(Ordering::SeqCst), 1);
    assert_eq!(
        idle_drops.load(Ordering::SeqCst),
        1,
        "the idle thread's at its exit"
    );
}

/// Uses a `LastError` from its `Drop`.
struct TouchesOnDrop(Arc<AtomicUsize>);

impl Drop for TouchesOnDrop {
    fn drop(&mut self) {
        static INNER: LastError<u32> = LastError::new();
        INNER.set(5);
        let taken = INNER.take();
        // Not while unwinding (a failed assertion): that would abort.
        assert!(taken == Some(5) || std::thread::panicking(), "{taken:?}");
        let nested = LastError::new();
        nested.set(6u8);
        drop(nested);
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn an_error_dropped_with_its_instance_may_use_last_errors() {
    let drops = Arc::new(AtomicUsize::new(0));
    // On this thread, at the instance's drop.
    let last = LastError::new();
    last.set(TouchesOnDrop(Arc::clone(&drops)));
    drop(last);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    // On another thread, at its next use.
    let last = Arc::new(LastError::new());
    let ready = Arc::new(Barrier::new(2));
    let other = {
        let (last, ready, drops) = (last.clone(), ready.clone(), drops.clone());
        thread::spawn(move || {
            last.set(TouchesOnDrop(drops));
            drop(last);
            ready.wait();
            ready.wait();
            static ANY: LastError<u8> = LastError::new();
            assert!(!ANY.is_set());
        })
    };
    ready.wait();
    drop(Arc::into_inner(last).unwrap());
    ready.wait();
    other.join().unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}
