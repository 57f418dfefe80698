//! `Context::with` against the four strategies of `tracing`'s dispatcher
//! lookup, and the floor.
//!
//! Run with `cargo bench --bench context`. The strategies, each reading a
//! payload that is either `Copy` (`usize`) or has a destructor
//! (`Option<String>`):
//!
//! 1. `fast_path_no_override`: one process-wide count of scoped overrides
//!    (tracing-core's `SCOPED_COUNT`, PR #1017); it is zero, so read the
//!    global.
//! 2. `tls_first_override`: always read the thread-local (a `RefCell` holding
//!    the override); this thread has one.
//! 3. `tls_first_no_override`: the same with no override, so the global
//!    after the thread-local.
//! 4. `fast_path_override`: the count is non-zero and this thread has an
//!    override: the count, then the thread-local.
//!
//! `threadkit_*` is `Context::with` with and without an override on the
//! benchmark thread, and `floor` reads a `const`-initialised `thread_local!`
//! `Cell<usize>`. Overrides are installed once per benchmark thread, outside
//! the timed loop, and never removed.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use divan::{black_box, Bencher};

fn main() {
    copy_usize::set_globals();
    drop_option_string::set_globals();
    divan::main();
}

const THREADS: &[usize] = &[1, 2];

/// Reads per scope in `threadkit_override_scope`.
const BATCH: usize = 1_000;

/// Declares one `tracing`-style dispatcher: a global value, a thread-local
/// override slot, and a process-wide count of overrides.
macro_rules! dispatcher {
    ($name:ident, $payload:ty) => {
        // Each state uses the part of its dispatcher it needs.
        #[allow(dead_code)]
        mod $name {
            use super::*;

            static SCOPED: AtomicUsize = AtomicUsize::new(0);
            static GLOBAL: OnceLock<$payload> = OnceLock::new();
            thread_local! {
                static CURRENT: RefCell<Option<$payload>> = const { RefCell::new(None) };
            }

            pub(crate) fn global(value: $payload) -> Option<&'static $payload> {
                Some(GLOBAL.get_or_init(|| value))
            }

            /// Installs `value` as this thread's override, if it has none.
            pub(crate) fn install(value: impl FnOnce() -> $payload) {
                CURRENT.with(|current| {
                    if current.borrow().is_none() {
                        let mut current = current.borrow_mut();
                        *current = Some(value());
                        SCOPED.fetch_add(1, Ordering::Release);
                    }
                });
            }

            /// Thread-local first: the override if any, else the global.
            #[inline]
            pub(crate) fn tls_first<R>(f: impl FnOnce(Option<&$payload>) -> R) -> R {
                CURRENT
                    .try_with(|current| match &*current.borrow() {
                        Some(value) => f(Some(value)),
                        None => f(GLOBAL.get()),
                    })
                    .unwrap()
            }

            /// The global fast path: skip the thread-local while no thread
            /// has an override.
            #[inline]
            pub(crate) fn fast_path<R>(f: impl FnOnce(Option<&$payload>) -> R) -> R {
                if SCOPED.load(Ordering::Acquire) == 0 {
                    return f(GLOBAL.get());
                }
                tls_first(f)
            }
        }
    };
}

/// The whole comparison for one payload type.
macro_rules! compare {
    ($module:ident, $payload:ty, $make:expr, $read:expr) => {
        mod $module {
            use super::*;
            use threadkit::context::Context;

            fn make() -> $payload {
                $make
            }

            #[inline(always)]
            fn read(value: Option<&$payload>) -> usize {
                value.map_or(0, $read)
            }

            // One dispatcher per state, since overrides, once installed on a
            // benchmark thread, stay.
            dispatcher!(fast_none, $payload);
            dispatcher!(fast_set, $payload);
            dispatcher!(tls_none, $payload);
            dispatcher!(tls_set, $payload);
            static CONTEXT_NONE: Context<$payload> = Context::new();
            static CONTEXT_SET: Context<$payload> = Context::new();

            thread_local! {
                static CONTEXT_INSTALLED: Cell<bool> = const { Cell::new(false) };
            }

            pub(crate) fn set_globals() {
                fast_none::global(make());
                fast_set::global(make());
                tls_none::global(make());
                tls_set::global(make());
                let _ = CONTEXT_NONE.set_global(make());
                let _ = CONTEXT_SET.set_global(make());
            }

            /// Per benchmark thread, untimed: nothing to do.
            fn no_setup() {}

            /// Per benchmark thread, untimed: install this thread's overrides
            /// once.
            fn with_overrides() {
                fast_set::install(make);
                tls_set::install(make);
                if !CONTEXT_INSTALLED.replace(true) {
                    std::mem::forget(CONTEXT_SET.set_local(make()));
                }
            }

            #[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
            fn floor(bencher: Bencher) {
                thread_local! {
                    static VALUE: Cell<usize> = const { Cell::new(1) };
                }
                bencher
                    .with_inputs(no_setup)
                    .bench_refs(|_| VALUE.with(|v| black_box(v.get())));
            }

            #[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
            fn s1_fast_path_no_override(bencher: Bencher) {
                bencher
                    .with_inputs(no_setup)
                    .bench_refs(|_| fast_none::fast_path(|v| black_box(read(v))));
            }

            #[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
            fn s2_tls_first_override(bencher: Bencher) {
                bencher
                    .with_inputs(with_overrides)
                    .bench_refs(|_| tls_set::tls_first(|v| black_box(read(v))));
            }

            #[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
            fn s3_tls_first_no_override(bencher: Bencher) {
                bencher
                    .with_inputs(no_setup)
                    .bench_refs(|_| tls_none::tls_first(|v| black_box(read(v))));
            }

            #[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
            fn s4_fast_path_override(bencher: Bencher) {
                bencher
                    .with_inputs(with_overrides)
                    .bench_refs(|_| fast_set::fast_path(|v| black_box(read(v))));
            }

            #[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
            fn threadkit_no_override(bencher: Bencher) {
                bencher
                    .with_inputs(no_setup)
                    .bench_refs(|_| CONTEXT_NONE.with(|v| black_box(read(v))));
            }

            /// The override is a guard's (`set_local`), installed once.
            #[divan::bench(threads = THREADS, sample_count = 200, sample_size = 10_000)]
            fn threadkit_override_guard(bencher: Bencher) {
                bencher
                    .with_inputs(with_overrides)
                    .bench_refs(|_| CONTEXT_SET.with(|v| black_box(read(v))));
            }

            /// The override is a `scope`'s: `BATCH` reads inside one scope per
            /// iteration, reported per read (the scope's entry and exit
            /// amortised over the batch).
            #[divan::bench(threads = THREADS, sample_count = 200, sample_size = 100)]
            fn threadkit_override_scope(bencher: Bencher) {
                static CONTEXT: Context<$payload> = Context::new();
                let _ = CONTEXT.set_global(make());
                bencher
                    .counter(divan::counter::ItemsCount::new(BATCH))
                    .with_inputs(|| make())
                    .bench_local_values(|value| {
                        CONTEXT.scope(value, || {
                            for _ in 0..BATCH {
                                CONTEXT.with(|v| black_box(read(v)));
                            }
                        })
                    });
            }
        }
    };
}

compare!(copy_usize, usize, 7, |v: &usize| *v);
compare!(
    drop_option_string,
    Option<String>,
    Some(String::from("subscriber")),
    |v: &Option<String>| v.as_ref().map_or(0, String::len)
);
