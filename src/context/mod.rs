//! [`Context<T>`]: one global default, with a scoped per-thread override.
//!
//! The pattern behind `tracing`'s dispatcher and `metrics`' recorder: a
//! program sets its configuration (logger, recorder, allocator policy) once,
//! and code deep in a call stack reads it on every call; now and then — mostly
//! in tests — one thread runs a piece of code under a different value.
//!
//! ```
//! use threadkit::context::Context;
//!
//! #[derive(Debug, PartialEq)]
//! struct Limits { max_body: usize }
//!
//! static LIMITS: Context<Limits> = Context::new();
//!
//! fn max_body() -> usize {
//!     LIMITS.with(|limits| limits.map_or(1024, |l| l.max_body))
//! }
//!
//! assert_eq!(max_body(), 1024); // nothing set: the caller's default
//! LIMITS.set_global(Limits { max_body: 4096 }).unwrap();
//! assert_eq!(max_body(), 4096);
//! LIMITS.scope(Limits { max_body: 16 }, || {
//!     assert_eq!(max_body(), 16); // this thread only, for this closure only
//!     std::thread::scope(|s| {
//!         s.spawn(|| assert_eq!(max_body(), 4096));
//!     });
//! });
//! assert_eq!(max_body(), 4096);
//! ```
//!
//! # The rules
//!
//! - **Innermost override, else global, else `None`.** [`with`](Context::with)
//!   gives the closure this thread's most recent override that is still
//!   alive, else the value given to [`set_global`](Context::set_global)
//!   (which succeeds once), else `None`.
//! - **Overrides stay on their thread.** [`scope`](Context::scope) installs a
//!   value for the dynamic extent of a closure on the calling thread;
//!   [`set_local`](Context::set_local) installs one until its
//!   [`ContextGuard`] is dropped. Other threads never see either. Both are
//!   undone on return and on panic, and nest.
//! - **Guards may be dropped in any order.** Dropping a guard removes exactly
//!   its own override; whatever overrides remain stay in force, the most
//!   recent one winning. (`tracing`'s guard instead restores the value that
//!   was current when it was created, so dropping guards out of order can
//!   leave a stale dispatcher installed.)
//! - **Reentrant.** The closure given to `with` may call `with`, `scope` or
//!   `set_local` on the same context, and may even drop the guard whose value
//!   it is reading: the value is freed when the closure returns.
//! - **Thread exit is a normal case.** A context works while its thread
//!   exits, before and after the crate's teardown: the thread's overrides
//!   live in a thread-local that has nothing to drop (where std keeps
//!   thread-locals behind OS keys, as on `x86_64-pc-windows-gnu`, it is
//!   destroyed with the rest and starts again empty), so with no override in
//!   force `with` sees the global value. Nothing panics.
//!
//! # The fast path
//!
//! Each context keeps one state word: whether the global value is set, and
//! how many overrides are alive on all threads. While the global is set and
//! the count is zero, `with` is one atomic load, one comparison and the
//! global's load, and touches no thread-local storage at all; only while some
//! thread has an override for *this* context do the other threads look at
//! their own (empty) override stacks. `tracing` keeps one count for the
//! whole process, so a scoped dispatcher anywhere (one test, one thread)
//! sends every thread down the slow path; here an override of one context
//! leaves the others fast.
//!
//! With an override, each thread remembers, for the last few contexts it
//! looked up (eight entries, picked by the context's id), the innermost
//! override it found, next to its stack in one destructor-free
//! thread-local: reading a context again is a comparison and a load, however
//! many other contexts are overridden on the thread. Installing an override
//! makes it the remembered one for its context; removing the remembered one
//! forgets it, and the next lookup walks the thread's stack. The
//! benchmarks (`cargo bench --bench context`) compare all of this with
//! `tracing`'s lookups; `benches/README.md` has the figures.
//!
//! # Async tasks
//!
//! An async runtime moves a task between threads at its `.await` points,
//! while an override belongs to a thread. Use
//! [`scope_future`](Context::scope_future): it installs the override around
//! each poll of one future, on whichever thread polls it. What cannot cross
//! an `.await` in a `Send` future, because it is `!Send` (the compiler says
//! so):
//!
//! - [`ContextGuard`], from [`set_local`](Context::set_local): the override
//!   is on the thread that made it;
//! - [`Scratch`](crate::scratch::Scratch), a buffer borrowed from a
//!   [`ScratchPool`](crate::ScratchPool): the buffer goes back to the pool
//!   of the thread it came from.
//!
//! The closures given to [`scope`](Context::scope), `scratch::with_*`,
//! `arena::with` and `rng::with` are synchronous and cannot `.await` at all.
//! `examples/context_async.rs` runs `scope_future` on tokio's multi-threaded
//! runtime.
//!
//! # Forgetting a guard
//!
//! As with a `MutexGuard`, [`std::mem::forget`] on a [`ContextGuard`] is safe
//! but unhelpful: the override stays in force on its thread for the rest of
//! the thread's life, its value is leaked, and the context leaves its fast
//! path for good.

mod future;
mod global;
mod guard;
mod stack;

pub use future::ScopedFuture;
pub use guard::ContextGuard;

use std::fmt;
use std::future::Future;
use std::panic::{RefUnwindSafe, UnwindSafe};

use crate::thread::instance::InstanceId;
use global::Global;
use stack::GuardNode;

/// A global default value with scoped per-thread overrides.
///
/// `const`, so it can be a `static`. See the [module documentation](self) for
/// the rules and the fast path.
///
/// # Examples
///
/// ```
/// use threadkit::context::Context;
///
/// static REGION: Context<&str> = Context::new();
///
/// REGION.set_global("eu-west").unwrap();
/// let in_test = REGION.scope("test-region", || REGION.get());
/// assert_eq!(in_test, Some("test-region"));
/// assert_eq!(REGION.get(), Some("eu-west"));
/// ```
pub struct Context<T> {
    /// The global value and the count of overrides alive on all threads.
    global: Global<T>,
    /// Tags this context's nodes on the threads' override stacks.
    id: InstanceId,
}

// `Global<T>` is `Sync` for `T: Send + Sync` and `Send` for `T: Send`;
// overrides never leave the thread that installed them.
impl<T: RefUnwindSafe + UnwindSafe> RefUnwindSafe for Context<T> {}
impl<T: UnwindSafe> UnwindSafe for Context<T> {}

impl<T> Context<T> {
    /// Creates a context with no global value and no overrides.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::context::Context;
    ///
    /// static CONFIG: Context<String> = Context::new();
    /// assert_eq!(CONFIG.with(|c| c.is_none()), true);
    /// ```
    #[must_use]
    pub const fn new() -> Context<T> {
        Context {
            global: Global::new(),
            id: InstanceId::new(),
        }
    }

    /// Sets the global value, which every thread sees where it has no
    /// override. Succeeds once; later calls return their value in `Err`.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::context::Context;
    ///
    /// let level = Context::new();
    /// assert_eq!(level.set_global(3), Ok(()));
    /// assert_eq!(level.set_global(4), Err(4));
    /// assert_eq!(level.global(), Some(&3));
    /// ```
    pub fn set_global(&self, value: T) -> Result<(), T> {
        self.global.set(value)
    }

    /// The global value, if it has been set, whatever the overrides.
    #[inline]
    pub fn global(&self) -> Option<&T> {
        self.global.get(self.global.load())
    }

    /// Calls `f` with this thread's innermost override, else the global
    /// value, else `None`.
    ///
    /// While no thread has an override for this context, this reads one
    /// atomic and the global value, and no thread-local storage.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::context::Context;
    ///
    /// let greeting = Context::new();
    /// assert_eq!(greeting.with(|g| g.map(|g: &String| g.len())), None);
    /// greeting.scope("hi".to_string(), || {
    ///     assert_eq!(greeting.with(|g| g.map(|g| g.len())), Some(2));
    /// });
    /// ```
    #[inline]
    pub fn with<F, R>(&self, f: F) -> R
    where
        F: FnOnce(Option<&T>) -> R,
    {
        let state = self.global.load();
        if state.settled() {
            // SAFETY: settled means set.
            return f(Some(unsafe { self.global.get_unchecked() }));
        }
        if !state.overridden() {
            return f(None);
        }
        self.with_override(f)
    }

    /// The lookup while some thread has an override: this thread's stack,
    /// then the global value.
    #[inline]
    fn with_override<F, R>(&self, f: F) -> R
    where
        F: FnOnce(Option<&T>) -> R,
    {
        // A thread that pushed a node read the id that tags it, so the id is
        // assigned whenever this thread has a node to find; 0 matches none.
        // SAFETY: this context's id is its own (`InstanceId`), and every
        // node tagged with it holds a `T`: `scope_ref` and `set_local` push
        // only this context's values under it.
        match unsafe { stack::with_innermost(self.id.peek(), f) } {
            Ok(result) => result,
            // A fresh load, so the state need not survive the lookup.
            Err(f) => f(self.global()),
        }
    }

    /// A clone of what [`with`](Self::with) would see.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::context::Context;
    ///
    /// let retries = Context::new();
    /// retries.set_global(3_u32).unwrap();
    /// assert_eq!(retries.scope(0, || retries.get()), Some(0));
    /// assert_eq!(retries.get(), Some(3));
    /// ```
    #[inline]
    pub fn get(&self) -> Option<T>
    where
        T: Clone,
    {
        self.with(|value| value.cloned())
    }

    /// Whether the calling thread has an override for this context in force.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::context::Context;
    ///
    /// let mode = Context::new();
    /// mode.set_global("live").unwrap();
    /// assert!(!mode.is_overridden());
    /// mode.scope("dry-run", || assert!(mode.is_overridden()));
    /// ```
    pub fn is_overridden(&self) -> bool {
        self.global.maybe_overridden() && stack::has_override(self.id.peek())
    }

    /// Calls `f` with `value` overriding this context on the calling thread,
    /// then removes the override (also if `f` panics) and drops `value`.
    ///
    /// Other threads are unaffected. Scopes nest: an inner scope's value
    /// wins until it ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::context::Context;
    ///
    /// let depth = Context::new();
    /// depth.scope(1, || {
    ///     depth.scope(2, || assert_eq!(depth.get(), Some(2)));
    ///     assert_eq!(depth.get(), Some(1));
    /// });
    /// assert_eq!(depth.get(), None);
    /// ```
    pub fn scope<F, R>(&self, value: T, f: F) -> R
    where
        F: FnOnce() -> R,
    {
        self.scope_ref(&value, f)
    }

    /// [`scope`](Self::scope) with a borrowed value: `value` overrides this
    /// context on the calling thread while `f` runs.
    pub(super) fn scope_ref<F, R>(&self, value: &T, f: F) -> R
    where
        F: FnOnce() -> R,
    {
        stack::scoped(&self.global, self.id.get(), value, f)
    }

    /// Wraps `future` so that `value` overrides this context while the
    /// future is polled, on whichever thread polls it, and at no other time.
    ///
    /// An override set with [`scope`](Self::scope) or
    /// [`set_local`](Self::set_local) belongs to a thread, but an async task
    /// moves between threads at every `.await`. The wrapper installs the
    /// override around each `poll` of `future` only (the way tokio's
    /// `task_local!` scopes and tracing's `Instrument` do), so the task sees
    /// `value` wherever it runs, and the threads see nothing of it between
    /// polls. Wrappers nest, and a panic inside `poll` removes the override
    /// as it unwinds. `value` is dropped with the wrapper.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Future;
    /// use std::pin::pin;
    /// use std::task::{Context as TaskContext, Poll, Waker};
    /// use threadkit::context::Context;
    ///
    /// static REQUEST_ID: Context<u64> = Context::new();
    ///
    /// async fn handler() -> Option<u64> {
    ///     REQUEST_ID.get() // wherever the task happens to run
    /// }
    ///
    /// let mut task = pin!(REQUEST_ID.scope_future(42, handler()));
    /// let mut cx = TaskContext::from_waker(Waker::noop());
    /// assert_eq!(task.as_mut().poll(&mut cx), Poll::Ready(Some(42)));
    /// assert_eq!(REQUEST_ID.get(), None); // not outside the poll
    /// ```
    pub fn scope_future<F: Future>(&self, value: T, future: F) -> ScopedFuture<'_, T, F> {
        ScopedFuture::new(&self.global, self.id.get(), value, future)
    }

    /// Installs `value` as this thread's override until the returned guard is
    /// dropped.
    ///
    /// The guard is `!Send`: the override belongs to this thread. Guards may
    /// be dropped in any order; each removes exactly its own override (see the
    /// [module documentation](self#the-rules)).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::context::Context;
    ///
    /// let user = Context::new();
    /// let alice = user.set_local("alice");
    /// let bob = user.set_local("bob");
    /// assert_eq!(user.get(), Some("bob"));
    /// drop(alice); // out of order: only alice's override goes
    /// assert_eq!(user.get(), Some("bob"));
    /// drop(bob);
    /// assert_eq!(user.get(), None);
    /// ```
    pub fn set_local(&self, value: T) -> ContextGuard<'_, T> {
        ContextGuard::new(GuardNode::push(&self.global, self.id.get(), value))
    }
}

impl<T> Default for Context<T> {
    fn default() -> Context<T> {
        Context::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for Context<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with(|current| {
            f.debug_struct("Context")
                .field("current", &current)
                .field("global", &self.global())
                .field("overrides", &self.global.overrides())
                .finish()
        })
    }
}
