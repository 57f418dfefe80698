//! Behaviour of `arena`: release at scope end, nested scopes, the memory
//! cap, panics, thread pools and teardown.

use std::cell::Cell;
use std::panic;
use std::sync::{Mutex, PoisonError};
use std::thread;

use bumpalo::collections::{String as BumpString, Vec as BumpVec};
use threadkit::arena::{self, Arena, DEFAULT_MAX_BYTES};

mod common;
use common::{after_the_crates_exit, scaled};

/// Allocates `bytes` in `bump` without writing them (cheap under Miri).
fn reserve(bump: &bumpalo::Bump, bytes: usize) {
    bump.alloc_layout(std::alloc::Layout::from_size_align(bytes, 1).unwrap());
}

#[test]
fn allocations_are_released_when_the_scope_ends() {
    thread::spawn(|| {
        let first = arena::with(|bump| {
            let block = bump.alloc([1u64; 64]);
            block as *const [u64; 64] as usize
        });
        let (second, used) = arena::with(|bump| {
            let block = bump.alloc([2u64; 64]);
            (block as *const [u64; 64] as usize, bump.allocated_bytes())
        });
        assert_eq!(first, second, "the second scope reuses the first's memory");
        assert!(used < 4096, "no growth from one scope to the next: {used}");
    })
    .join()
    .unwrap();
}

#[test]
fn nested_scopes_keep_outer_values_intact() {
    fn nest(depth: u64) -> u64 {
        arena::with(|bump| {
            let mine = bump.alloc_slice_fill_copy(100, depth);
            let below = if depth == 0 { 0 } else { nest(depth - 1) };
            // Allocate after the inner scope too: it must not overwrite `mine`.
            let after = bump.alloc_slice_fill_copy(100, u64::MAX);
            assert!(
                mine.iter().all(|&v| v == depth),
                "depth {depth} was disturbed"
            );
            assert!(after.iter().all(|&v| v == u64::MAX));
            mine.iter().sum::<u64>() + below
        })
    }
    thread::spawn(|| {
        let total = nest(20);
        assert_eq!(total, (0..=20).map(|d| d * 100).sum::<u64>());
        // The outer scope sees its values after an inner scope allocated a lot.
        arena::with(|outer| {
            let mut words = BumpVec::new_in(outer);
            words.push(BumpString::from_str_in("outer", outer));
            arena::with(|inner| {
                reserve(inner, scaled(1 << 20, 1 << 14));
            });
            words.push(BumpString::from_str_in("still", outer));
            assert_eq!(
                words.iter().map(|w| w.as_str()).collect::<Vec<_>>(),
                ["outer", "still"]
            );
        });
    })
    .join()
    .unwrap();
}

#[test]
fn retained_capacity_is_capped_after_a_huge_scope() {
    thread::spawn(|| {
        let huge = scaled(100 << 20, 4 << 20);
        arena::with(|bump| {
            reserve(bump, huge);
            assert!(bump.allocated_bytes() >= huge);
        });
        let retained = arena::retained_bytes();
        assert!(retained <= DEFAULT_MAX_BYTES, "kept {retained} bytes");
        let next = arena::with(|bump| bump.allocated_bytes());
        assert!(
            next <= DEFAULT_MAX_BYTES,
            "the next scope starts from {next} bytes"
        );

        // Under the cap, the arena is kept with its chunk.
        arena::with(|bump| {
            reserve(bump, 100_000);
        });
        assert!(arena::retained_bytes() >= 100_000);
    })
    .join()
    .unwrap();
}

#[test]
fn custom_limits_are_respected() {
    static SMALL: Arena = Arena::with_limits(1, 8 * 1024);
    thread::spawn(|| {
        SMALL.with(|outer| {
            outer.alloc([0u8; 1000]);
            SMALL.with(|inner| inner.alloc([0u8; 1000]).len());
        });
        assert!(SMALL.retained_bytes() <= 8 * 1024);
        SMALL.with(|bump| reserve(bump, 64 * 1024));
        assert_eq!(SMALL.retained_bytes(), 0, "a 64 KiB chunk is over the cap");
        assert!(format!("{SMALL:?}").contains("max_bytes: 8192"));
    })
    .join()
    .unwrap();
}

#[test]
fn allocation_limit_ends_with_its_scope() {
    thread::spawn(|| {
        arena::with(|bump| {
            bump.set_allocation_limit(Some(0));
            assert!(bump.try_alloc_slice_fill_copy(1 << 10, 0u8).is_err());
        });
        let ok = arena::with(|bump| bump.try_alloc_slice_fill_copy(1 << 10, 0u8).is_ok());
        assert!(ok, "the next scope has no limit");
    })
    .join()
    .unwrap();
}

#[test]
fn panic_in_a_scope_releases_it_and_the_arena_stays_usable() {
    thread::spawn(|| {
        let result = panic::catch_unwind(|| {
            arena::with(|bump| {
                reserve(bump, 10_000);
                panic!("parse error");
            })
        });
        assert!(result.is_err());
        let (used, value) = arena::with(|bump| (bump.allocated_bytes(), *bump.alloc(5)));
        assert_eq!(value, 5);
        assert!(used >= 10_000, "the arena went back and was kept: {used}");
        assert!(arena::retained_bytes() <= DEFAULT_MAX_BYTES);
    })
    .join()
    .unwrap();
}

#[test]
fn threads_get_separate_arenas() {
    let rounds = scaled(5_000, 30);
    thread::scope(|s| {
        for t in 0..4u8 {
            s.spawn(move || {
                for round in 0..rounds {
                    arena::with(|bump| {
                        let block = bump.alloc_slice_fill_copy(32 + round % 32, t);
                        thread::yield_now();
                        let more = bump.alloc_slice_fill_copy(32, t);
                        assert!(block.iter().chain(more.iter()).all(|&b| b == t));
                    });
                }
            });
        }
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "rayon's crossbeam-epoch casts integers to pointers, which strict provenance rejects"
)]
fn pool_tasks_start_from_an_empty_arena() {
    use rayon::prelude::*;
    // A scope starts with nothing allocated in its arena's chunk: whatever
    // the previous task on this pool thread allocated is gone.
    let dirty = (0..scaled(5_000, 20))
        .into_par_iter()
        .filter(|&task| {
            arena::with(|bump| {
                let used = bump.allocated_bytes() - bump.chunk_capacity();
                bump.alloc_slice_fill_copy(64 + task % 64, task as u8);
                assert!(bump.allocated_bytes() > bump.chunk_capacity());
                used != 0
            })
        })
        .count();
    assert_eq!(dirty, 0);
}

// From a `thread_local!` destructor, which runs before the crate's own
// teardown on Linux (a pthread key), and from a point after it.

static RESULTS: Mutex<Vec<(&'static str, u64)>> = Mutex::new(Vec::new());

struct Probe(&'static str);

impl Drop for Probe {
    fn drop(&mut self) {
        let sum = arena::with(|outer| {
            let a = outer.alloc(40u64);
            let b = arena::with(|inner| *inner.alloc(2u64));
            *a + b
        });
        RESULTS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((self.0, sum));
    }
}

thread_local! {
    static PROBE: Cell<Option<Probe>> = const { Cell::new(None) };
}

#[test]
fn works_from_thread_local_destructors_and_after_the_crates_teardown() {
    thread::spawn(|| {
        after_the_crates_exit(|| drop(Probe("after the crate's teardown")));
        arena::with(|bump| bump.alloc(1).to_string());
    })
    .join()
    .unwrap();
    thread::spawn(|| {
        arena::with(|bump| bump.alloc(1).to_string());
        PROBE.with(|p| p.set(Some(Probe("before the crate's teardown"))));
    })
    .join()
    .unwrap();
    let mut results = RESULTS.lock().unwrap().clone();
    results.sort();
    assert_eq!(
        results,
        [
            ("after the crate's teardown", 42),
            ("before the crate's teardown", 42),
        ]
    );
}
