//! The shared half of a [`Context`](crate::context::Context): the global
//! value, set once, and the count of overrides alive on all threads, in one
//! state word.
//!
//! This is the part of the context that loom model-checks (the tests at the
//! end of this file, run with `RUSTFLAGS="--cfg threadkit_loom"`). The per-thread
//! override stacks are thread-locals, which loom's threads share, and are
//! left to `context.rs` (and to Miri).
//!
//! The rules the context keeps, and the model checks:
//!
//! - One [`set`](Global::set) wins; the winner writes the value before it
//!   publishes [`SET`](State) with `Release`, and readers load the state with
//!   `Acquire`, so a reader that sees the bit sees the value. The override
//!   counts that follow are read-modify-writes, which continue the release
//!   sequence.
//! - A thread counts its override before it can read the state again, so
//!   while it has one, its own loads never show "no override" (the fast path
//!   would skip its stack).

use std::mem::MaybeUninit;

use crate::sync::{AtomicUsize, Ordering, UnsafeCell};

/// Bit 0 of the state word: the value is set.
const SET: usize = 1;
/// Bit 1: a `set` call has claimed the value.
const CLAIMED: usize = 2;
/// The rest counts the overrides alive on all threads, in these units.
const OVERRIDE: usize = 4;

/// A value set at most once, and a count of overrides.
pub(crate) struct Global<T> {
    /// `SET`, `CLAIMED`, and the override count in units of `OVERRIDE`. So
    /// `state < OVERRIDE` means "no thread has an override", and one load
    /// answers both questions of the fast path.
    state: AtomicUsize,
    /// Written once, by the `set` call that claims it, before `SET`.
    value: UnsafeCell<MaybeUninit<T>>,
}

/// A snapshot of the state word, loaded with `Acquire`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct State(usize);

impl State {
    /// Whether any thread had an override (for this value) at the load.
    #[inline(always)]
    pub(crate) fn overridden(self) -> bool {
        self.0 >= OVERRIDE
    }

    /// Whether the value was set and no thread had an override: the common
    /// case, answered by one comparison (`SET` is stored only after
    /// `CLAIMED`).
    #[inline(always)]
    pub(crate) fn settled(self) -> bool {
        self.0 == SET | CLAIMED
    }
}

// SAFETY: other threads reach the value by shared reference (`T: Sync`), and
// it may be set or dropped on any thread (`T: Send`).
unsafe impl<T: Send + Sync> Sync for Global<T> {}
// SAFETY: moving it moves the value, nothing else.
unsafe impl<T: Send> Send for Global<T> {}

impl<T> Global<T> {
    /// Not set, no overrides. (`const` except under loom, whose atomics are
    /// made inside a model.)
    #[cfg(not(threadkit_loom))]
    pub(crate) const fn new() -> Global<T> {
        Global {
            state: AtomicUsize::new(0),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    #[cfg(threadkit_loom)]
    pub(crate) fn new() -> Global<T> {
        Global {
            state: AtomicUsize::new(0),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// Sets the value if no call has before; else gives it back.
    pub(crate) fn set(&self, value: T) -> Result<(), T> {
        // The load first keeps repeated calls from writing to the shared line.
        if self.state.load(Ordering::Relaxed) & CLAIMED != 0
            || self.state.fetch_or(CLAIMED, Ordering::Acquire) & CLAIMED != 0
        {
            return Err(value);
        }
        // SAFETY: this call claimed the value, and readers wait for `SET`.
        self.value.with_mut(|slot| unsafe { (*slot).write(value) });
        // Release: a thread that sees `SET` sees the value. Later override
        // counts are read-modify-writes, which continue the release sequence.
        self.state.fetch_or(SET, Ordering::Release);
        Ok(())
    }

    /// The state word, for [`get`](Global::get) and
    /// [`State::overridden`].
    #[inline(always)]
    pub(crate) fn load(&self) -> State {
        State(self.state.load(Ordering::Acquire))
    }

    /// The value, if `state` (from [`load`](Global::load) on this `Global`)
    /// says it is set.
    #[inline(always)]
    pub(crate) fn get(&self, state: State) -> Option<&T> {
        if state.0 & SET == 0 {
            return None;
        }
        // SAFETY: `SET` is stored (Release) after the value is written, and
        // `state` was loaded with Acquire; the value is never written again
        // or dropped while `&self` lives.
        Some(unsafe { self.get_unchecked() })
    }

    /// The value.
    ///
    /// # Safety
    ///
    /// `state`, loaded from this `Global` by [`load`](Global::load), has
    /// `SET` (for instance, it is [`settled`](State::settled)).
    #[inline(always)]
    pub(crate) unsafe fn get_unchecked(&self) -> &T {
        // SAFETY: the caller saw `SET`, see `get`.
        self.value.with(|slot| unsafe { (*slot).assume_init_ref() })
    }

    /// Counts an override that the calling thread has just installed.
    #[inline]
    pub(crate) fn add_override(&self) {
        self.state.fetch_add(OVERRIDE, Ordering::Relaxed);
    }

    /// Uncounts an override that the calling thread has just removed.
    #[inline]
    pub(crate) fn remove_override(&self) {
        self.state.fetch_sub(OVERRIDE, Ordering::Relaxed);
    }

    /// Whether any thread may have an override (a hint for the caller's own
    /// thread, exact for it: see the module documentation).
    #[inline]
    pub(crate) fn maybe_overridden(&self) -> bool {
        State(self.state.load(Ordering::Relaxed)).overridden()
    }

    /// How many overrides are alive on all threads (a snapshot).
    pub(crate) fn overrides(&self) -> usize {
        self.state.load(Ordering::Relaxed) / OVERRIDE
    }
}

impl<T> Drop for Global<T> {
    fn drop(&mut self) {
        // With `&mut self`, nothing races this load.
        if self.state.load(Ordering::Relaxed) & SET != 0 {
            // SAFETY: set, and with `&mut self` no one else can see it.
            self.value
                .with_mut(|slot| unsafe { (*slot).assume_init_drop() });
        }
    }
}

/// Loom models of the state word: `RUSTFLAGS="--cfg threadkit_loom" cargo test --lib
/// --release`.
#[cfg(all(test, threadkit_loom))]
mod loom_tests {
    use super::*;
    use crate::sync::check;
    use loom::sync::Arc;
    use loom::thread;

    /// Two racing `set`s: exactly one wins, and a reader that sees the value
    /// set sees it whole (loom reports a data race on the cell otherwise) —
    /// also when the state it loads was last written by an override count.
    #[test]
    fn one_set_wins_and_is_seen_whole() {
        check(|| {
            let global = Arc::new(Global::<String>::new());
            let setters: Vec<_> = ["a", "b"]
                .into_iter()
                .map(|value| {
                    let global = Arc::clone(&global);
                    thread::spawn(move || global.set(value.to_string()).is_ok())
                })
                .collect();
            let overrider = {
                let global = Arc::clone(&global);
                thread::spawn(move || {
                    global.add_override();
                    global.remove_override();
                })
            };
            let seen = global.get(global.load()).cloned();
            assert!(matches!(seen.as_deref(), None | Some("a" | "b")));
            let wins = setters
                .into_iter()
                .map(|setter| setter.join().unwrap())
                .filter(|&won| won)
                .count();
            assert_eq!(wins, 1);
            overrider.join().unwrap();
            let set = global.get(global.load()).cloned();
            assert!(matches!(set.as_deref(), Some("a" | "b")));
            assert!(seen.is_none() || seen == set);
            assert_eq!(global.overrides(), 0);
        });
    }

    /// A thread with an override never takes the fast path, whatever other
    /// threads add and remove meanwhile; with all removed, every thread is
    /// back on it.
    #[test]
    fn own_override_is_always_counted() {
        check(|| {
            let global = Arc::new(Global::<u32>::new());
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let global = Arc::clone(&global);
                    thread::spawn(move || {
                        global.add_override();
                        assert!(global.load().overridden());
                        assert!(!global.load().settled());
                        assert!(global.maybe_overridden());
                        global.remove_override();
                    })
                })
                .collect();
            global.set(7).unwrap();
            for thread in threads {
                thread.join().unwrap();
            }
            let state = global.load();
            assert!(!state.overridden());
            assert!(state.settled());
            assert_eq!(global.get(state), Some(&7));
        });
    }
}
