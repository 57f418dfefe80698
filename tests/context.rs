//! Behaviour of `context::Context`: global value, scoped and guarded
//! overrides, isolation between threads, nesting, panics, out-of-order guard
//! drops, reentrancy and teardown.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, PoisonError};
use std::thread;

use threadkit::context::Context;

mod common;
use common::scaled;

/// Counts its drops in a shared counter.
#[derive(Debug)]
struct Tracked {
    id: u32,
    drops: Arc<AtomicUsize>,
}

impl Tracked {
    fn new(id: u32, drops: &Arc<AtomicUsize>) -> Tracked {
        Tracked {
            id,
            drops: Arc::clone(drops),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn sees_none_until_the_global_is_set_then_the_global() {
    let ctx = Context::new();
    assert_eq!(ctx.get(), None);
    assert_eq!(ctx.set_global(7), Ok(()));
    assert_eq!(ctx.get(), Some(7));
    assert_eq!(ctx.global(), Some(&7));
}

#[test]
fn set_global_succeeds_once() {
    let ctx = Context::new();
    assert_eq!(ctx.set_global("first"), Ok(()));
    assert_eq!(ctx.set_global("second"), Err("second"));
    assert_eq!(ctx.get(), Some("first"));
}

#[test]
fn global_is_seen_by_every_thread() {
    static CTX: Context<u64> = Context::new();
    CTX.set_global(99).unwrap();
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| assert_eq!(CTX.get(), Some(99)));
        }
    });
}

#[test]
fn scope_overrides_only_the_calling_thread() {
    static CTX: Context<&str> = Context::new();
    CTX.set_global("global").unwrap();
    let inside = Barrier::new(2);
    let checked = Barrier::new(2);
    thread::scope(|s| {
        s.spawn(|| {
            CTX.scope("mine", || {
                inside.wait();
                assert_eq!(CTX.get(), Some("mine"));
                checked.wait();
            });
        });
        s.spawn(|| {
            inside.wait(); // the other thread's override is in force now
            assert_eq!(CTX.get(), Some("global"));
            assert!(!CTX.is_overridden());
            checked.wait();
        });
    });
    assert_eq!(CTX.get(), Some("global"));
}

#[test]
fn guard_overrides_only_the_calling_thread() {
    static CTX: Context<u32> = Context::new();
    let guard = CTX.set_local(5);
    assert_eq!(*guard, 5);
    assert_eq!(CTX.get(), Some(5));
    thread::scope(|s| {
        s.spawn(|| assert_eq!(CTX.get(), None));
    });
    drop(guard);
    assert_eq!(CTX.get(), None);
}

#[test]
fn scopes_nest_and_restore_in_order() {
    let ctx = Context::new();
    ctx.set_global(0).unwrap();
    ctx.scope(1, || {
        assert_eq!(ctx.get(), Some(1));
        ctx.scope(2, || {
            assert_eq!(ctx.get(), Some(2));
            let guard = ctx.set_local(3);
            assert_eq!(ctx.get(), Some(3));
            drop(guard);
            assert_eq!(ctx.get(), Some(2));
        });
        assert_eq!(ctx.get(), Some(1));
    });
    assert_eq!(ctx.get(), Some(0));
    assert!(!ctx.is_overridden());
}

#[test]
fn override_is_removed_when_the_scope_panics() {
    let ctx = Context::new();
    ctx.set_global("global").unwrap();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        ctx.scope("doomed", || {
            ctx.scope("inner", || panic!("boom"));
        })
    }));
    assert!(caught.is_err());
    assert_eq!(ctx.get(), Some("global"));
    assert!(!ctx.is_overridden());
}

#[test]
fn guards_dropped_out_of_order_remove_only_their_own_override() {
    let ctx = Context::new();
    ctx.set_global(0).unwrap();
    let one = ctx.set_local(1);
    let two = ctx.set_local(2);
    let three = ctx.set_local(3);
    drop(two); // from the middle
    assert_eq!(ctx.get(), Some(3));
    drop(three); // the newest: the remaining older one is back
    assert_eq!(ctx.get(), Some(1));
    let four = ctx.set_local(4);
    drop(one); // the oldest, under a newer one
    assert_eq!(ctx.get(), Some(4));
    drop(four);
    assert_eq!(ctx.get(), Some(0), "no stale override is left behind");
    assert!(!ctx.is_overridden());
}

#[test]
fn guard_dropped_inside_a_scope_leaves_the_scope_in_force() {
    let ctx = &Context::new();
    let outer = ctx.set_local("guard");
    ctx.scope("scope", move || {
        drop(outer);
        assert_eq!(ctx.get(), Some("scope"));
    });
    assert_eq!(ctx.get(), None);
}

#[test]
fn values_are_dropped_exactly_once_when_their_override_ends() {
    let drops = Arc::new(AtomicUsize::new(0));
    let ctx = Context::new();
    ctx.scope(Tracked::new(1, &drops), || {
        assert_eq!(ctx.with(|t| t.map(|t| t.id)), Some(1));
        assert_eq!(drops.load(Ordering::SeqCst), 0);
    });
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    let guard = ctx.set_local(Tracked::new(2, &drops));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    drop(guard);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    assert!(ctx.set_global(Tracked::new(3, &drops)).is_ok());
    drop(ctx);
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

#[test]
fn guard_dropped_while_its_value_is_read_lives_until_the_read_ends() {
    let drops = &Arc::new(AtomicUsize::new(0));
    let ctx = &Context::new();
    let guard = ctx.set_local(Tracked::new(7, drops));
    let seen = ctx.with(move |value| {
        drop(guard);
        // The override is gone for new lookups ...
        assert!(ctx.with(|v| v.is_none()));
        // ... but the value this closure was given is still alive.
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        value.map(|t| t.id)
    });
    assert_eq!(seen, Some(7));
    assert_eq!(drops.load(Ordering::SeqCst), 1, "freed when the read ended");
}

#[test]
fn guards_dropped_during_a_read_are_freed_once_when_the_outermost_read_ends() {
    let drops = &Arc::new(AtomicUsize::new(0));
    let (a, b) = (&Context::new(), &Context::new());
    let guard_a = a.set_local(Tracked::new(1, drops));
    let guard_b = b.set_local(Tracked::new(2, drops));
    let inner_guard = b.set_local(Tracked::new(3, drops));
    let seen = a.with(move |outer| {
        // Nested reads of other guards' values, and drops of guards that
        // are not the one being read, all inside the outer read.
        let inner = b.with(|value| {
            drop(inner_guard);
            value.map(|t| t.id)
        });
        assert_eq!(inner, Some(3));
        assert_eq!(
            drops.load(Ordering::SeqCst),
            0,
            "deferred to the outer read"
        );
        assert_eq!(b.with(|v| v.map(|t| t.id)), Some(2));
        drop(guard_b);
        drop(guard_a);
        assert!(a.with(|v| v.is_none()) && b.with(|v| v.is_none()));
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        outer.map(|t| t.id)
    });
    assert_eq!(seen, Some(1));
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

/// Sets and reads a context from its `Drop`.
struct UsesContextOnDrop<'a> {
    other: &'a Context<u32>,
    seen: &'a Cell<Option<u32>>,
}

impl Drop for UsesContextOnDrop<'_> {
    fn drop(&mut self) {
        let guard = self.other.set_local(5);
        self.seen.set(self.other.with(|v| v.copied()));
        drop(guard);
    }
}

#[test]
fn a_deferred_value_may_use_contexts_in_its_drop() {
    let seen = &Cell::new(None);
    let other = &Context::new();
    let ctx = &Context::new();
    let guard = ctx.set_local(UsesContextOnDrop { other, seen });
    ctx.with(move |_| drop(guard));
    assert_eq!(seen.get(), Some(5));
    assert_eq!(other.get(), None);
    // And the thread's bookkeeping is sound afterwards.
    let again = other.set_local(6);
    assert_eq!(other.with(|v| v.copied()), Some(6));
    drop(again);
    assert_eq!(other.get(), None);
}

#[test]
fn with_is_reentrant() {
    let ctx = Context::new();
    ctx.set_global(1).unwrap();
    let sum = ctx.with(|outer| {
        let inner = ctx.scope(10, || ctx.with(|v| *v.unwrap()));
        outer.unwrap() + inner + ctx.with(|v| *v.unwrap())
    });
    assert_eq!(sum, 1 + 10 + 1);
    ctx.scope(2, || {
        ctx.with(|outer| {
            let guard = ctx.set_local(3);
            assert_eq!(ctx.get(), Some(3));
            assert_eq!(outer, Some(&2));
            drop(guard);
        })
    });
}

#[test]
fn override_of_one_context_does_not_affect_another() {
    let a = Context::new();
    let b = Context::new();
    a.set_global("a").unwrap();
    b.set_global("b").unwrap();
    a.scope("a-local", || {
        assert_eq!(a.get(), Some("a-local"));
        assert_eq!(b.get(), Some("b"));
        assert!(!b.is_overridden());
        b.scope("b-local", || {
            assert_eq!((a.get(), b.get()), (Some("a-local"), Some("b-local")));
        });
    });
}

#[test]
fn forgotten_guard_stays_in_force_and_never_leaks_into_a_new_context() {
    thread::spawn(|| {
        // Forget the guard, but keep it reachable from a static so that
        // Miri's leak check accepts the deliberate leak.
        static FORGOTTEN: std::sync::atomic::AtomicPtr<()> =
            std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());
        let first = Context::new();
        let guard = Box::new(first.set_local(1_u32));
        FORGOTTEN.store(Box::into_raw(guard).cast(), Ordering::SeqCst);
        assert_eq!(first.get(), Some(1));
        drop(first);
        // A new context, perhaps at the same address, has nothing of it.
        let second: Context<u32> = Context::new();
        assert_eq!(second.get(), None);
        assert!(!second.is_overridden());
        second.scope(2, || assert_eq!(second.get(), Some(2)));
    })
    .join()
    .unwrap();
}

#[test]
fn works_inside_thread_local_destructors() {
    static CTX: Context<&str> = Context::new();
    CTX.set_global("global").unwrap();

    struct ReadsContext {
        seen: Arc<std::sync::Mutex<Vec<Option<&'static str>>>>,
    }
    impl Drop for ReadsContext {
        fn drop(&mut self) {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            seen.push(CTX.get());
            seen.push(CTX.scope("in-destructor", || CTX.get()));
            let guard = CTX.set_local("guard-in-destructor");
            seen.push(CTX.get());
            drop(guard);
            seen.push(CTX.get());
        }
    }
    thread_local! {
        static LATE: Cell<Option<ReadsContext>> = const { Cell::new(None) };
    }

    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let for_thread = Arc::clone(&seen);
    thread::spawn(move || {
        // One after the crate's teardown, one in a thread-local destructor
        // (before it, on Linux).
        let early = ReadsContext {
            seen: Arc::clone(&for_thread),
        };
        common::after_the_crates_exit(move || drop(early));
        CTX.scope("while-running", || {
            assert_eq!(CTX.get(), Some("while-running"))
        });
        threadkit::scratch::with_bytes(|buf| buf.push(1));
        LATE.set(Some(ReadsContext { seen: for_thread }));
    })
    .join()
    .unwrap();
    let expected = [
        Some("global"),
        Some("in-destructor"),
        Some("guard-in-destructor"),
        Some("global"),
    ];
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 8);
    assert_eq!(seen[..4], expected);
    assert_eq!(seen[4..], expected);
}

#[test]
fn guard_in_a_thread_local_is_removed_at_thread_exit() {
    static CTX: Context<u32> = Context::new();
    thread_local! {
        static HELD: Cell<Option<threadkit::context::ContextGuard<'static, u32>>> =
            const { Cell::new(None) };
    }
    thread::spawn(|| {
        HELD.set(Some(CTX.set_local(1)));
        assert_eq!(CTX.get(), Some(1));
    })
    .join()
    .unwrap();
    // The guard was dropped at thread exit, so no override is alive: a
    // thread that looks finds none.
    thread::spawn(|| assert!(!CTX.is_overridden()))
        .join()
        .unwrap();
    assert_eq!(
        format!("{CTX:?}"),
        "Context { current: None, global: None, overrides: 0 }"
    );
}

#[test]
fn many_threads_override_while_others_read_the_global() {
    static CTX: Context<usize> = Context::new();
    CTX.set_global(usize::MAX).unwrap();
    let rounds = scaled(2_000, 20);
    thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                for round in 0..rounds {
                    if t % 2 == 0 {
                        let value = t * 1_000_000 + round;
                        CTX.scope(value, || assert_eq!(CTX.get(), Some(value)));
                    } else {
                        assert_eq!(CTX.get(), Some(usize::MAX));
                    }
                }
            });
        }
    });
    assert_eq!(CTX.get(), Some(usize::MAX));
}

#[test]
fn debug_shows_current_global_and_live_overrides() {
    let ctx = Context::new();
    ctx.set_global(1).unwrap();
    let guard = ctx.set_local(2);
    assert_eq!(
        format!("{ctx:?}"),
        "Context { current: Some(2), global: Some(1), overrides: 1 }"
    );
    assert_eq!(format!("{guard:?}"), "ContextGuard { value: 2 }");
}

// ---------------------------------------------------------------------------
// Futures: an override that follows the task, not the thread

mod futures {
    use super::*;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::mpsc;
    use std::task::{Context as TaskContext, Poll, Waker};

    static REQUEST: Context<u32> = Context::new();
    static USER: Context<&str> = Context::new();

    /// Pending once, then ready: an `.await` point.
    struct YieldOnce(bool);

    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                Poll::Pending
            }
        }
    }

    /// Records what the task sees of both contexts after each `.await`.
    async fn task(rounds: usize) -> Vec<(Option<u32>, Option<&'static str>)> {
        let mut seen = vec![(REQUEST.get(), USER.get())];
        for _ in 0..rounds {
            YieldOnce(false).await;
            seen.push((REQUEST.get(), USER.get()));
        }
        seen
    }

    fn poll<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
        Pin::new(future).poll(&mut TaskContext::from_waker(Waker::noop()))
    }

    #[test]
    fn a_scoped_future_sees_its_value_on_every_thread_that_polls_it() {
        let rounds = 6;
        let mut future = Box::pin(REQUEST.scope_future(7, task(rounds)));
        // Each poll on a new thread: the task moves at every `.await`.
        let mut threads_polled = 0;
        let result = loop {
            let (send, receive) = mpsc::channel();
            let outcome = thread::scope(|s| {
                s.spawn(|| {
                    let outcome = poll(&mut future);
                    // Between polls the thread sees no override.
                    send.send(REQUEST.get()).unwrap();
                    outcome
                })
                .join()
                .unwrap()
            });
            assert_eq!(
                receive.recv().unwrap(),
                None,
                "the override stays in the poll"
            );
            threads_polled += 1;
            if let Poll::Ready(seen) = outcome {
                break seen;
            }
        };
        assert_eq!(threads_polled, rounds + 1);
        assert_eq!(result, vec![(Some(7), None); rounds + 1]);
        assert_eq!(REQUEST.get(), None);
    }

    #[test]
    fn scoped_futures_nest_and_do_not_leak_into_each_other() {
        let inner = USER.scope_future("alice", REQUEST.scope_future(2, task(3)));
        let mut outer = Box::pin(REQUEST.scope_future(1, async move {
            let before = REQUEST.get();
            let seen = inner.await;
            (before, seen, REQUEST.get())
        }));
        let (before, seen, after) = loop {
            if let Poll::Ready(result) = poll(&mut outer) {
                break result;
            }
            assert_eq!((REQUEST.get(), USER.get()), (None, None));
        };
        assert_eq!(before, Some(1));
        assert_eq!(seen, vec![(Some(2), Some("alice")); 4]);
        assert_eq!(
            after,
            Some(1),
            "the inner override ended with the inner future"
        );
    }

    #[test]
    fn a_panic_inside_poll_removes_the_override() {
        let mut future = Box::pin(REQUEST.scope_future(9, async {
            YieldOnce(false).await;
            panic!("handler failed");
        }));
        assert!(poll(&mut future).is_pending());
        let result = panic::catch_unwind(AssertUnwindSafe(|| poll(&mut future)));
        assert!(result.is_err());
        assert_eq!(REQUEST.get(), None);
        assert!(!REQUEST.is_overridden());
        // A guard set later on this thread works as usual.
        let guard = REQUEST.set_local(3);
        assert_eq!(REQUEST.get(), Some(3));
        drop(guard);
    }

    #[test]
    fn the_value_is_dropped_with_the_wrapper() {
        let drops = Arc::new(AtomicUsize::new(0));
        let context = Context::new();
        let mut future = Box::pin(context.scope_future(Tracked::new(1, &drops), async {}));
        assert!(poll(&mut future).is_ready());
        assert_eq!(
            drops.load(Ordering::SeqCst),
            0,
            "kept until the wrapper goes"
        );
        drop(future);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
}
