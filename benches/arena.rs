//! One arena scope with 16 small allocations, against bumpalo used directly
//! and against `Box`.
//!
//! Run with `cargo bench --bench arena`. Compare medians within a thread
//! count.

use std::cell::RefCell;

use bumpalo::Bump;
use divan::{black_box, Bencher};
use threadkit::arena;

fn main() {
    divan::main();
}

const THREADS: &[usize] = &[1, 2];

/// A small node, as a parser would allocate.
#[derive(Clone, Copy)]
struct Node {
    _kind: u32,
    _start: u32,
    _len: u64,
}

fn node(i: u32) -> Node {
    Node {
        _kind: i,
        _start: i * 8,
        _len: u64::from(i),
    }
}

#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn scope_threadkit_arena() {
    arena::with(|bump| {
        for i in 0..16 {
            black_box(bump.alloc(node(black_box(i))));
        }
    });
}

/// bumpalo by hand, one `Bump` per thread in a `thread_local!` `RefCell`:
/// allocate 16, `reset`.
#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn scope_bumpalo_thread_local() {
    thread_local! {
        static BUMP: RefCell<Bump> = RefCell::new(Bump::new());
    }
    BUMP.with_borrow_mut(|bump| {
        for i in 0..16 {
            black_box(bump.alloc(node(black_box(i))));
        }
        bump.reset();
    });
}

/// bumpalo with a `Bump` held in a local variable: the floor (one thread).
#[divan::bench(sample_count = 200, sample_size = 10_000)]
fn scope_bumpalo_local(bencher: Bencher) {
    let mut bump = Bump::new();
    bencher.bench_local(|| {
        for i in 0..16 {
            black_box(bump.alloc(node(black_box(i))));
        }
        bump.reset();
    });
}

/// 16 `Box::new`, all alive at once, then freed.
#[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
fn scope_box() {
    let boxes: [Box<Node>; 16] = std::array::from_fn(|i| Box::new(node(black_box(i as u32))));
    black_box(&boxes);
}
