//! `Context::with` against the lookups of `tracing`'s dispatcher, in one
//! process with rounds interleaved (see `common/interleave.rs`).
//!
//! Run with `cargo bench --bench context` (add a group name to filter, e.g.
//! `cargo bench --bench context -- usize`). The peers, reproduced here with
//! the same payload types as the contexts (`usize`, and `Option<String>`,
//! which has a destructor):
//!
//! - `tracing global fast path`: one process-wide count of scoped overrides
//!   (tracing-core's `SCOPED_COUNT`, PR #1017); it is zero, so read the
//!   `OnceLock` global.
//! - `tracing RefCell slot`: the thread-local `RefCell<Option<T>>` holding
//!   this thread's override (tracing's `CURRENT_STATE`), read first.
//! - `tracing count, then slot`: the count is non-zero and this thread has an
//!   override.
//!
//! Each group is timed in a tight loop (`loop`) and through an
//! `#[inline(never)]` function per read (`call`), at t=1 and t=2. The
//! override groups also read four contexts overridden at once on the thread:
//! the oldest, the newest, and all four in turn (against the same loop
//! reading one of them four times).

#[path = "common/interleave.rs"]
mod interleave;

use std::cell::RefCell;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use interleave::{compare, Case, Options};

fn main() {
    let options = Options::from_args();
    options.header("Context::with against tracing's dispatcher lookups");
    copy_usize::set_globals();
    drop_option_string::set_globals();
    copy_usize::run(&options);
    drop_option_string::run(&options);
}

/// Declares one `tracing`-style dispatcher: a global value, a thread-local
/// override slot, and a process-wide count of overrides.
macro_rules! dispatcher {
    ($name:ident, $payload:ty) => {
        // Each use takes the part of its dispatcher it needs.
        #[allow(dead_code)]
        mod $name {
            use super::*;

            static SCOPED: AtomicUsize = AtomicUsize::new(0);
            static GLOBAL: OnceLock<$payload> = OnceLock::new();
            thread_local! {
                static CURRENT: RefCell<Option<$payload>> = const { RefCell::new(None) };
            }

            pub(crate) fn global(value: $payload) {
                let _ = GLOBAL.set(value);
            }

            /// Installs `value` as this thread's override, if it has none.
            pub(crate) fn install(value: $payload) {
                CURRENT.with(|current| {
                    if current.borrow().is_none() {
                        *current.borrow_mut() = Some(value);
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

/// A `loop` case and a `call` case reading through `$lookup`.
macro_rules! read_cases {
    ($loop_fn:ident, $call_fn:ident, $lookup:expr) => {
        fn $loop_fn(iters: u64) {
            for _ in 0..iters {
                black_box($lookup);
            }
        }

        fn $call_fn(iters: u64) {
            #[inline(never)]
            fn read_once() -> usize {
                $lookup
            }
            for _ in 0..iters {
                black_box(read_once());
            }
        }
    };
}

/// The whole comparison for one payload type.
macro_rules! payload {
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

            // One dispatcher per state: an override, once installed on a
            // benchmark thread, stays.
            dispatcher!(fast_none, $payload);
            dispatcher!(fast_set, $payload);
            dispatcher!(slot_set, $payload);
            /// Never overridden anywhere.
            static NONE: Context<$payload> = Context::new();
            /// Overridden on each benchmark thread by a forgotten guard.
            static GUARD: Context<$payload> = Context::new();
            /// Overridden by a `scope` around each round.
            static SCOPE: Context<$payload> = Context::new();
            /// Four contexts overridden at once, by nested scopes.
            static FOUR: [Context<$payload>; 4] = [
                Context::new(),
                Context::new(),
                Context::new(),
                Context::new(),
            ];

            pub(crate) fn set_globals() {
                fast_none::global(make());
                fast_set::global(make());
                slot_set::global(make());
                let _ = NONE.set_global(make());
                let _ = GUARD.set_global(make());
                let _ = SCOPE.set_global(make());
                for context in &FOUR {
                    let _ = context.set_global(make());
                }
            }

            /// Per benchmark thread, untimed: this thread's overrides.
            fn install() {
                thread_local! {
                    static DONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
                }
                if !DONE.replace(true) {
                    fast_set::install(make());
                    slot_set::install(make());
                    std::mem::forget(GUARD.set_local(make()));
                }
            }

            /// Runs `f` inside one scope of each of the four contexts.
            fn in_four_scopes(f: impl FnOnce()) {
                FOUR[0].scope(make(), || {
                    FOUR[1].scope(make(), || {
                        FOUR[2].scope(make(), || FOUR[3].scope(make(), f))
                    })
                })
            }

            read_cases!(fast_loop, fast_call, fast_none::fast_path(read));
            read_cases!(none_loop, none_call, NONE.with(read));
            read_cases!(slot_loop, slot_call, slot_set::tls_first(read));
            read_cases!(fast_set_loop, fast_set_call, fast_set::fast_path(read));
            read_cases!(guard_loop, guard_call, GUARD.with(read));
            read_cases!(scope_loop, scope_call, SCOPE.with(read));
            read_cases!(oldest_loop, oldest_call, FOUR[0].with(read));
            read_cases!(newest_loop, newest_call, FOUR[3].with(read));
            /// Reads `contexts` in turn, one per iteration.
            fn round_robin(
                iters: u64,
                contexts: [&Context<$payload>; 4],
                read_one: fn(&Context<$payload>) -> usize,
            ) {
                for i in 0..iters {
                    black_box(read_one(contexts[(i % 4) as usize]));
                }
            }
            const EACH: [&Context<$payload>; 4] = [&FOUR[0], &FOUR[1], &FOUR[2], &FOUR[3]];
            const ONE: [&Context<$payload>; 4] = [&FOUR[0]; 4];
            #[inline(always)]
            fn read_inline(context: &Context<$payload>) -> usize {
                context.with(read)
            }
            #[inline(never)]
            fn read_call(context: &Context<$payload>) -> usize {
                context.with(read)
            }

            pub(crate) fn run(options: &Options) {
                let name = stringify!($payload);
                compare(
                    options,
                    &format!("{name}: no override anywhere, loop"),
                    &[
                        Case::new("tracing global fast path", fast_loop),
                        Case::new("Context::with", none_loop),
                    ],
                );
                compare(
                    options,
                    &format!("{name}: no override anywhere, call"),
                    &[
                        Case::new("tracing global fast path", fast_call),
                        Case::new("Context::with", none_call),
                    ],
                );
                compare(
                    options,
                    &format!("{name}: this thread overrides, loop"),
                    &[
                        Case::with_setup("tracing RefCell slot", install, slot_loop),
                        Case::with_setup("tracing count, then slot", install, fast_set_loop),
                        Case::new("Context::with in a scope", |n| {
                            SCOPE.scope(make(), || scope_loop(n))
                        }),
                        Case::with_setup("Context::with, set_local guard", install, guard_loop),
                        Case::new("Context::with, 4 scopes, oldest", |n| {
                            in_four_scopes(|| oldest_loop(n))
                        }),
                        Case::new("Context::with, 4 scopes, newest", |n| {
                            in_four_scopes(|| newest_loop(n))
                        }),
                        Case::new("Context::with, 4 scopes, one, as the next row", |n| {
                            in_four_scopes(|| round_robin(n, ONE, read_inline))
                        }),
                        Case::new("Context::with, 4 scopes, each in turn", |n| {
                            in_four_scopes(|| round_robin(n, EACH, read_inline))
                        }),
                    ],
                );
                compare(
                    options,
                    &format!("{name}: this thread overrides, call"),
                    &[
                        Case::with_setup("tracing RefCell slot", install, slot_call),
                        Case::with_setup("tracing count, then slot", install, fast_set_call),
                        Case::new("Context::with in a scope", |n| {
                            SCOPE.scope(make(), || scope_call(n))
                        }),
                        Case::with_setup("Context::with, set_local guard", install, guard_call),
                        Case::new("Context::with, 4 scopes, oldest", |n| {
                            in_four_scopes(|| oldest_call(n))
                        }),
                        Case::new("Context::with, 4 scopes, newest", |n| {
                            in_four_scopes(|| newest_call(n))
                        }),
                        Case::new("Context::with, 4 scopes, one, as the next row", |n| {
                            in_four_scopes(|| round_robin(n, ONE, read_call))
                        }),
                        Case::new("Context::with, 4 scopes, each in turn", |n| {
                            in_four_scopes(|| round_robin(n, EACH, read_call))
                        }),
                    ],
                );
            }
        }
    };
}

payload!(copy_usize, usize, 7, |v: &usize| *v);
payload!(
    drop_option_string,
    Option<String>,
    Some(String::from("subscriber")),
    |v: &Option<String>| v.as_ref().map_or(0, String::len)
);
