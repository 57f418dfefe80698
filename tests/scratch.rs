//! Behaviour of `scratch`: empty on entry, capacity reused, reentrancy,
//! memory caps, panics, thread exit and teardown.

use std::cell::Cell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;

use threadkit::scratch::{self, Reuse, Scratch, ScratchPool, DEFAULT_MAX_BYTES};

mod common;
use common::{after_the_crates_exit, scaled};

#[test]
fn buffer_is_empty_on_entry_and_its_capacity_is_reused() {
    thread::spawn(|| {
        let first = scratch::with_bytes(|buf| {
            assert!(buf.is_empty());
            buf.extend_from_slice(&[7; 1000]);
            buf.as_ptr()
        });
        let (second, len, capacity) =
            scratch::with_bytes(|buf| (buf.as_ptr(), buf.len(), buf.capacity()));
        assert_eq!(len, 0, "the next call starts empty");
        assert!(capacity >= 1000, "the capacity is kept");
        assert_eq!(first, second, "the same allocation is reused");

        let first = scratch::with_string(|s| {
            assert!(s.is_empty());
            s.push_str("hello, world");
            s.as_ptr()
        });
        let (second, len) = scratch::with_string(|s| (s.as_ptr(), s.len()));
        assert_eq!((second, len), (first, 0));
    })
    .join()
    .unwrap();
}

#[test]
fn guard_gives_its_buffer_back_for_reuse() {
    thread::spawn(|| {
        let mut guard = scratch::bytes();
        guard.extend_from_slice(b"abc");
        let ptr = guard.as_ptr();
        drop(guard);
        let guard = scratch::bytes();
        assert_eq!((guard.as_ptr(), guard.len()), (ptr, 0));
        drop(guard);

        let mut s = scratch::string();
        write!(&mut *s, "x = {}", 1).unwrap();
        assert_eq!(format!("{s:?}"), "\"x = 1\"", "Debug shows the buffer");
    })
    .join()
    .unwrap();
}

#[test]
fn into_inner_keeps_the_buffer_out_of_the_pool() {
    thread::spawn(|| {
        let mut guard = scratch::bytes();
        guard.extend_from_slice(b"mine");
        let owned = Scratch::into_inner(guard);
        assert_eq!(owned, b"mine");
        assert_eq!(scratch::retained_count(), 0);
    })
    .join()
    .unwrap();
}

#[test]
fn nested_scratch_gets_a_different_buffer_100_deep() {
    static DEEP: ScratchPool<Vec<u8>> = ScratchPool::with_limits(128, DEFAULT_MAX_BYTES);

    fn nest(depth: usize, seen: &mut Vec<*const u8>) {
        if depth == 0 {
            return;
        }
        DEEP.with(|buf| {
            assert!(buf.is_empty());
            buf.push(depth as u8);
            seen.push(buf.as_ptr());
            nest(depth - 1, seen);
            assert_eq!(
                buf[..],
                [depth as u8],
                "an inner call left this buffer alone"
            );
        });
    }

    thread::spawn(|| {
        let mut first = Vec::new();
        nest(100, &mut first);
        let distinct: HashSet<_> = first.iter().collect();
        assert_eq!(distinct.len(), 100, "every level had its own buffer");
        assert_eq!(DEEP.retained_count(), 100, "all of them were kept");

        let mut second = Vec::new();
        nest(100, &mut second);
        let reused: HashSet<_> = second.iter().collect();
        assert_eq!(reused, distinct, "and all of them were reused");
    })
    .join()
    .unwrap();
}

#[test]
fn nested_with_bytes_never_panics_and_keeps_each_level_intact() {
    fn nest(depth: u8, seen: &mut Vec<*const u8>) {
        scratch::with_bytes(|buf| {
            assert!(buf.is_empty());
            buf.push(depth);
            seen.push(buf.as_ptr());
            if depth > 0 {
                nest(depth - 1, seen);
            }
            assert_eq!(buf[..], [depth], "an inner call left this buffer alone");
        });
    }
    thread::spawn(|| {
        let mut seen = Vec::new();
        nest(99, &mut seen);
        let distinct: HashSet<_> = seen.iter().collect();
        assert_eq!(distinct.len(), 100);
        assert_eq!(scratch::retained_count(), scratch::DEFAULT_MAX_BUFFERS);
    })
    .join()
    .unwrap();
}

#[test]
fn nesting_past_max_buffers_keeps_only_max_buffers() {
    thread::spawn(|| {
        let pool: ScratchPool<Vec<u32>> = ScratchPool::with_limits(2, 1024);
        pool.with(|a| {
            a.push(1);
            pool.with(|b| {
                b.push(2);
                pool.with(|c| c.push(3));
            });
        });
        assert_eq!(pool.retained_count(), 2);
    })
    .join()
    .unwrap();
}

#[test]
fn huge_buffer_is_shrunk_to_the_cap_on_return() {
    thread::spawn(|| {
        let huge = scaled(100 << 20, 4 << 20);
        scratch::with_bytes(|buf| buf.reserve(huge));
        let retained = scratch::retained_bytes();
        assert!(
            retained <= DEFAULT_MAX_BYTES,
            "kept {retained} bytes after one {huge}-byte use"
        );
        assert_eq!(scratch::retained_count(), 1, "shrunk, not dropped");
        let capacity = scratch::with_bytes(|buf| buf.capacity());
        assert!(capacity <= DEFAULT_MAX_BYTES);

        scratch::release();
        assert_eq!(scratch::retained_bytes(), 0);
        scratch::with_string(|s| s.reserve(huge));
        assert!(scratch::retained_bytes() <= DEFAULT_MAX_BYTES);
        assert_eq!(scratch::retained_count(), 1);
    })
    .join()
    .unwrap();
}

#[test]
fn every_builtin_reuse_type_is_reset_and_capped() {
    const CAP: usize = 1024;
    fn check<T: Reuse + Default + Send + 'static>(
        fill: impl FnOnce(&mut T),
        is_empty: fn(&T) -> bool,
    ) {
        let name = std::any::type_name::<T>();
        let pool: ScratchPool<T> = ScratchPool::with_limits(1, CAP);
        pool.with(|v| {
            fill(v);
            assert!(
                v.heap_bytes() > CAP,
                "{name}: the fill must go over the cap"
            );
        });
        pool.with(|v| assert!(is_empty(v), "{name} not reset"));
        assert_eq!(pool.retained_count(), 1, "{name} shrunk, not dropped");
        let kept = pool.retained_bytes();
        assert!(kept <= CAP, "{name} kept {kept} bytes");
    }
    let n = scaled(100_000, 300);
    check::<Vec<u64>>(|v| v.extend(0..n as u64), Vec::is_empty);
    check::<String>(
        |s| s.extend(std::iter::repeat_n('y', n * 8)),
        String::is_empty,
    );
    check::<VecDeque<u32>>(|v| v.extend(0..n as u32), VecDeque::is_empty);
    check::<std::collections::BinaryHeap<u32>>(
        |v| v.extend(0..n as u32),
        std::collections::BinaryHeap::is_empty,
    );
    check::<HashMap<u64, u64>>(
        |m| m.extend((0..n as u64).map(|k| (k, k))),
        HashMap::is_empty,
    );
    check::<HashSet<u64>>(|m| m.extend(0..n as u64), HashSet::is_empty);
}

/// Counts live values, for leak and reset checks.
static LIVE: AtomicUsize = AtomicUsize::new(0);

struct Tracked(#[allow(dead_code)] u64);

impl Tracked {
    fn new() -> Tracked {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Tracked(0)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A buffer that counts itself, and cannot shrink.
#[derive(Default)]
struct Counted {
    items: Vec<Tracked>,
    _me: Option<Tracked>,
}

impl Reuse for Counted {
    fn reset(&mut self) {
        self.items.clear();
    }
    fn heap_bytes(&self) -> usize {
        self.items.capacity() * 1000
    }
}

/// Tests that use `LIVE` run one at a time.
static LIVE_LOCK: Mutex<()> = Mutex::new(());

#[test]
fn contents_are_dropped_on_return_and_buffers_at_thread_exit() {
    let _serial = LIVE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    static POOL: ScratchPool<Counted> = ScratchPool::new();
    let before = LIVE.load(Ordering::SeqCst);
    thread::spawn(move || {
        POOL.with(|outer| {
            outer._me = Some(Tracked::new());
            outer.items.push(Tracked::new());
            POOL.with(|inner| {
                inner._me = Some(Tracked::new());
                inner.items.extend([Tracked::new(), Tracked::new()]);
            });
        });
        assert_eq!(
            LIVE.load(Ordering::SeqCst),
            before + 2,
            "items dropped on return; the two buffers kept"
        );
        assert_eq!(POOL.retained_count(), 2);
    })
    .join()
    .unwrap();
    assert_eq!(
        LIVE.load(Ordering::SeqCst),
        before,
        "the exited thread's buffers were freed"
    );
}

#[test]
fn buffer_that_cannot_shrink_below_the_cap_is_dropped() {
    let _serial = LIVE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let before = LIVE.load(Ordering::SeqCst);
    let pool: ScratchPool<Counted> = ScratchPool::with_limits(4, 10_000);
    pool.with(|b| {
        b._me = Some(Tracked::new());
        b.items.reserve(100); // 100_000 "bytes": over the cap
    });
    assert_eq!(pool.retained_count(), 0);
    assert_eq!(LIVE.load(Ordering::SeqCst), before);
    pool.with(|b| assert!(b._me.is_none(), "a new buffer"));
}

#[test]
fn max_buffers_zero_keeps_nothing() {
    let pool: ScratchPool<Vec<u8>> = ScratchPool::with_limits(0, usize::MAX);
    pool.with(|b| b.extend_from_slice(b"abc"));
    assert_eq!(pool.retained_count(), 0);
    assert_eq!(pool.retained_bytes(), 0);
    assert_eq!(pool.with(|b| b.capacity()), 0);
}

#[test]
fn panic_inside_the_closure_leaves_the_pool_usable_and_the_next_checkout_empty() {
    thread::spawn(|| {
        let result = panic::catch_unwind(|| {
            scratch::with_bytes(|buf| {
                buf.extend_from_slice(b"half-written");
                panic!("serializer failed");
            })
        });
        assert!(result.is_err());
        let (len, capacity) = scratch::with_bytes(|buf| (buf.len(), buf.capacity()));
        assert_eq!(len, 0, "nothing of the failed call is visible");
        assert!(capacity >= 12, "the buffer went back to the pool");

        let pool: ScratchPool<Vec<u8>> = ScratchPool::new();
        let mut guard = pool.buffer();
        guard.push(1);
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut inner = pool.buffer();
            inner.push(2);
            panic!("inner");
        }));
        drop(guard);
        assert_eq!(pool.retained_count(), 2);
        pool.with(|b| assert!(b.is_empty()));
    })
    .join()
    .unwrap();
}

#[test]
fn threads_never_share_a_buffer() {
    let rounds = scaled(20_000, 50);
    thread::scope(|s| {
        for t in 0..4u8 {
            s.spawn(move || {
                for round in 0..rounds {
                    scratch::with_bytes(|buf| {
                        buf.resize(64 + round % 64, t);
                        thread::yield_now();
                        assert!(buf.iter().all(|&b| b == t), "another thread wrote here");
                    });
                }
            });
        }
    });
}

#[test]
fn pool_dropped_before_its_threads_exit() {
    // Scoped threads' thread-locals are destroyed after `scope` returns, so
    // their exit hooks may still be registered when the pool goes.
    for _ in 0..scaled(20, 3) {
        let pool: ScratchPool<Vec<u64>> = ScratchPool::new();
        thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| pool.with(|v| v.extend(0..100)));
            }
        });
        drop(pool);
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "rayon's crossbeam-epoch casts integers to pointers, which strict provenance rejects"
)]
fn pool_tasks_never_see_each_others_data() {
    use rayon::prelude::*;
    let leaked = (0..scaled(10_000, 20))
        .into_par_iter()
        .filter(|task| {
            scratch::with_string(|s| {
                let dirty = !s.is_empty();
                s.push_str(&format!("task {task}"));
                dirty
            })
        })
        .count();
    assert_eq!(leaked, 0);
}

// From a `thread_local!` destructor, which runs before the crate's own
// teardown on Linux (a pthread key), and from a point after it.

static RESULTS: Mutex<Vec<(&'static str, [usize; 4])>> = Mutex::new(Vec::new());
static TEARDOWN_POOL: ScratchPool<Vec<u32>> = ScratchPool::new();
static HELD_POOL: ScratchPool<Counted> = ScratchPool::new();

struct Probe(&'static str);

impl Drop for Probe {
    fn drop(&mut self) {
        let a = scratch::with_bytes(|buf| {
            let was = buf.len();
            buf.extend_from_slice(b"teardown");
            was + buf.len()
        });
        let b = scratch::with_string(|s| {
            s.push_str("bye");
            s.len()
        });
        let c = TEARDOWN_POOL.with(|v| {
            v.extend([1, 2, 3, 4]);
            TEARDOWN_POOL.with(|w| w.len()) + v.len()
        });
        let mut guard = scratch::bytes();
        guard.push(9);
        let d = guard.len();
        RESULTS.lock().unwrap().push((self.0, [a, b, c, d]));
    }
}

thread_local! {
    static PROBE: Cell<Option<Probe>> = const { Cell::new(None) };
}

#[test]
fn works_from_thread_local_destructors_and_after_the_crates_teardown() {
    thread::spawn(|| {
        after_the_crates_exit(|| drop(Probe("after the crate's teardown")));
        scratch::with_bytes(|buf| buf.push(1));
    })
    .join()
    .unwrap();
    thread::spawn(|| {
        scratch::with_bytes(|buf| buf.push(1));
        PROBE.with(|p| p.set(Some(Probe("before the crate's teardown"))));
    })
    .join()
    .unwrap();
    let mut results = RESULTS.lock().unwrap().clone();
    results.sort();
    assert_eq!(
        results,
        [
            ("after the crate's teardown", [8, 3, 4, 1]),
            ("before the crate's teardown", [8, 3, 4, 1]),
        ]
    );
}

#[test]
fn guard_held_in_a_thread_local_is_dropped_safely_at_exit() {
    let _serial = LIVE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let before = LIVE.load(Ordering::SeqCst);
    for _ in 0..scaled(10, 2) {
        // Dropped after the crate's teardown gave the thread's index away,
        // so it must not go back to the slot (where nothing would free it,
        // and another thread may be working).
        thread::spawn(|| {
            let mut guard = HELD_POOL.buffer();
            guard._me = Some(Tracked::new());
            guard.items.push(Tracked::new());
            after_the_crates_exit(move || drop(guard));
        })
        .join()
        .unwrap();
        assert_eq!(
            LIVE.load(Ordering::SeqCst),
            before,
            "the held buffer was freed"
        );
        // A new thread may now hold the same index; its buffers are its own.
        thread::spawn(|| {
            for _ in 0..10 {
                HELD_POOL.with(|b| {
                    assert!(b.items.is_empty() && b._me.is_none());
                    b.items.push(Tracked::new());
                });
            }
        })
        .join()
        .unwrap();
        assert_eq!(LIVE.load(Ordering::SeqCst), before);
    }
}
