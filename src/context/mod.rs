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

mod global;

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::task::{self, Poll};

use crate::thread::instance::InstanceId;
use global::Global;

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
        let found = self.find();
        if found.value.is_null() {
            // A fresh load, so the state need not survive the lookup.
            return f(self.global());
        }
        // SAFETY: tagged with this context's id, so a `T`.
        let value = unsafe { &*found.value.cast::<T>() };
        if !found.guard {
            // A scope's value: the scope called us (its node is on this
            // thread's stack), so it outlives this call, and nothing but the
            // scope can drop it.
            return f(Some(value));
        }
        // A guard's value: `f` may own the guard and drop it; the loan defers
        // freeing it until `f` returns.
        let _loan = Loan::new();
        f(Some(value))
    }

    /// This thread's innermost override of this context.
    #[inline]
    fn find(&self) -> Found {
        // A thread that pushed a node read the id that tags it, so the id is
        // assigned whenever this thread has a node to find; 0 matches none.
        let id = self.id.peek();
        STACK.with(|stack| {
            let hit = stack.hit(id);
            if hit.context.get() == id {
                return Found {
                    value: hit.value.get(),
                    guard: hit.guard.get(),
                };
            }
            stack.find_and_remember(id)
        })
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
        self.global.maybe_overridden() && !self.find().value.is_null()
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
    fn scope_ref<F, R>(&self, value: &T, f: F) -> R
    where
        F: FnOnce() -> R,
    {
        let node = Node::new(self.id.get(), ptr::from_ref(value).cast());
        // `pushed` is dropped first (reverse order of declaration), so the
        // node leaves the stack before it goes.
        let _pushed = Pushed::new(self, &node);
        f()
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
    ///
    /// Why not a guard: [`ContextGuard`] is `!Send`, so a `Send` future
    /// that holds one across an `.await` does not compile (and a `scope`'s
    /// closure cannot `.await` at all):
    ///
    /// ```compile_fail
    /// use threadkit::context::Context;
    ///
    /// static USER: Context<&str> = Context::new();
    ///
    /// fn spawn<F: std::future::Future + Send + 'static>(_task: F) {}
    ///
    /// spawn(async {
    ///     let guard = USER.set_local("alice");
    ///     std::future::ready(()).await; // error: the guard is not `Send`
    ///     drop(guard);
    /// });
    /// ```
    pub fn scope_future<F: Future>(&self, value: T, future: F) -> ScopedFuture<'_, T, F> {
        ScopedFuture {
            context: self,
            value,
            future,
        }
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
    ///
    /// The guard stays on its thread:
    ///
    /// ```compile_fail
    /// use threadkit::context::Context;
    ///
    /// static USER: Context<&str> = Context::new();
    /// let guard = USER.set_local("alice");
    /// std::thread::spawn(move || drop(guard)); // error: `*const ()` cannot be sent
    /// ```
    pub fn set_local(&self, value: T) -> ContextGuard<'_, T> {
        let entry = Box::into_raw(Box::new(GuardEntry {
            node: Node::new(self.id.get(), ptr::null()),
            value,
        }));
        // SAFETY: `entry` was just allocated and is not shared yet; the
        // pointers stored here carry the provenance of the whole allocation.
        unsafe {
            (*entry).node.value = ptr::addr_of!((*entry).value).cast();
            (*entry).node.entry = entry.cast();
            (*entry).node.free = Some(free_entry::<T>);
        }
        // SAFETY: the node lives until the guard's `Drop` (or the last loan
        // after it) unlinks and frees it.
        push(unsafe { &(*entry).node });
        self.global.add_override();
        ContextGuard {
            context: self,
            // SAFETY: from `Box::into_raw`, never null.
            entry: unsafe { NonNull::new_unchecked(entry) },
            _not_send: PhantomData,
        }
    }
}

/// A future with a context override around each of its polls; see
/// [`Context::scope_future`].
#[must_use = "futures do nothing unless polled"]
pub struct ScopedFuture<'a, T, F> {
    context: &'a Context<T>,
    value: T,
    /// Pinned whenever the wrapper is; `context` and `value` are not.
    future: F,
}

impl<T, F: Future> Future for ScopedFuture<'_, T, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of
        // the wrapper, which has no `Drop` and is `Unpin` only if `F` is;
        // `context` and `value` are only read by reference.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        this.context.scope_ref(&this.value, || future.poll(cx))
    }
}

impl<T: fmt::Debug, F> fmt::Debug for ScopedFuture<'_, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedFuture")
            .field("value", &self.value)
            .finish_non_exhaustive()
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

/// An override installed by [`Context::set_local`]; dropping it removes the
/// override.
///
/// Dereferences to the override's value. `!Send` and `!Sync`.
#[must_use = "the override is removed as soon as the guard is dropped"]
pub struct ContextGuard<'a, T> {
    context: &'a Context<T>,
    entry: NonNull<GuardEntry<T>>,
    _not_send: PhantomData<*const ()>,
}

impl<T> Deref for ContextGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the entry lives at least as long as the guard.
        unsafe { &self.entry.as_ref().value }
    }
}

impl<T> Drop for ContextGuard<'_, T> {
    fn drop(&mut self) {
        let entry = self.entry.as_ptr();
        // SAFETY: the entry is alive (only this drop, or the `with` call it
        // is deferred to, frees it) and its node is on this thread's stack
        // (the guard is `!Send`).
        let node = unsafe { &(*entry).node };
        // SAFETY: as above.
        unsafe { unlink(node) };
        self.context.global.remove_override();
        if !STACK.with(|stack| stack.defer_if_lending(node)) {
            // SAFETY: from `Box::into_raw` in `set_local`; unlinked, and no
            // `with` on this thread is reading a guard's value, so nothing
            // refers to it any more.
            drop(unsafe { Box::from_raw(entry) });
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for ContextGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextGuard")
            .field("value", &**self)
            .finish()
    }
}

/// One override on a thread's stack.
struct Node {
    /// The id of the context it overrides.
    context: u64,
    /// The override's value, a `T` of that context.
    value: *const (),
    /// The next older node of this thread, or null; once a dropped guard's
    /// node is unlinked, the next on `Stack::deferred`.
    below: Cell<*const Node>,
    /// For a guard's node: its `Box<GuardEntry<T>>`; null for a scope's.
    entry: *mut (),
    /// For a guard's node: frees `entry` (`free_entry::<T>`).
    free: Option<unsafe fn(*mut ())>,
}

impl Node {
    fn new(context: u64, value: *const ()) -> Node {
        Node {
            context,
            value,
            below: Cell::new(ptr::null()),
            entry: ptr::null_mut(),
            free: None,
        }
    }
}

/// Frees a guard's entry.
///
/// # Safety
///
/// `entry` is a `GuardEntry<T>` from `Box::into_raw` in `set_local`, unlinked
/// and no longer read.
unsafe fn free_entry<T>(entry: *mut ()) {
    // SAFETY: the caller's contract.
    drop(unsafe { Box::from_raw(entry.cast::<GuardEntry<T>>()) });
}

/// A guard's override, allocated so the guard can move.
struct GuardEntry<T> {
    node: Node,
    value: T,
}

/// One thread's overrides, for all contexts: a stack of nodes, newest on
/// top, and what recent lookups found, so that reading a context again costs
/// one comparison and no walk.
struct Stack {
    /// The newest node, or null.
    top: Cell<*const Node>,
    /// What the last lookups found, one entry per context id modulo `HITS`
    /// (ids are handed out in order, so the first `HITS` contexts a program
    /// uses never share an entry).
    hits: [Hit; HITS],
    /// Whether a `with` call on this thread is reading a guard's value:
    /// then a guard dropped meanwhile goes to `deferred`, not away. A flag,
    /// not a count: only the outermost such call sets and clears it, so the
    /// path stores constants and carries no value from one call to the next
    /// through memory.
    lending: Cell<bool>,
    /// Guards' nodes dropped while `lending`, linked by `below`; the
    /// outermost lending `with` frees them when its closure returns.
    deferred: Cell<*const Node>,
}

/// How many contexts a thread remembers its lookups of.
const HITS: usize = 8;

/// A remembered lookup: `value` is the innermost override of `context`, or
/// `context` is 0 (which tags no context) and `value` null. Kept true by
/// `push` (a pushed node is its context's innermost) and `unlink` (which
/// forgets the entry if its node goes; unlinking another node leaves the
/// entry the innermost of its context).
#[repr(align(32))]
struct Hit {
    context: Cell<u64>,
    /// The override's value (a node's `value`).
    value: Cell<*const ()>,
    /// Whether it is a guard's, which `with` must lend.
    guard: Cell<bool>,
}

impl Hit {
    const fn empty() -> Hit {
        Hit {
            context: Cell::new(0),
            value: Cell::new(ptr::null()),
            guard: Cell::new(false),
        }
    }
}

/// What a lookup found: an override's value (null if none), and whether it
/// is a guard's.
struct Found {
    value: *const (),
    guard: bool,
}

thread_local! {
    /// This thread's overrides. Nothing to drop, so it is readable at every
    /// point of the thread's life (where std keeps thread-locals behind OS
    /// keys, it is destroyed with the rest and reads empty after).
    static STACK: Stack = const {
        Stack {
            top: Cell::new(ptr::null()),
            hits: [const { Hit::empty() }; HITS],
            lending: Cell::new(false),
            deferred: Cell::new(ptr::null()),
        }
    };
}

impl Stack {
    /// Walks the stack for `context`'s innermost node, and remembers it if
    /// there is one.
    #[cold]
    #[inline(never)]
    fn find_and_remember(&self, context: u64) -> Found {
        let mut node = self.top.get();
        // SAFETY: every node on a thread's stack is alive: `scope` unlinks
        // its node before its frame ends, a guard unlinks its node before
        // freeing it, and a forgotten guard's node is leaked, never freed.
        while let Some(n) = unsafe { node.as_ref() } {
            if n.context == context {
                self.remember(n);
                return Found {
                    value: n.value,
                    guard: n.free.is_some(),
                };
            }
            node = n.below.get();
        }
        Found {
            value: ptr::null(),
            guard: false,
        }
    }

    /// Puts a dropped guard's (unlinked) node on `deferred` if a `with` call
    /// is reading a guard's value; returns whether it did.
    fn defer_if_lending(&self, node: &Node) -> bool {
        if !self.lending.get() {
            return false;
        }
        node.below.set(self.deferred.get());
        self.deferred.set(node);
        true
    }

    /// Frees the guards dropped while the outermost lending `with` ran.
    #[cold]
    #[inline(never)]
    fn free_deferred(&self) {
        let mut node = self.deferred.replace(ptr::null());
        // SAFETY: deferred nodes are unlinked guards' nodes, alive until
        // freed here; nothing reads their values any more (the lending
        // `with` returned). Freeing runs `T`'s `Drop`, which may use contexts
        // again: the list was taken out first, and `lending` is clear.
        while let Some(n) = unsafe { node.as_ref() } {
            let (next, entry, free) = (n.below.get(), n.entry, n.free);
            if let Some(free) = free {
                // SAFETY: as above; `free` is `free_entry::<T>` for the
                // entry's `T`.
                unsafe { free(entry) };
            }
            node = next;
        }
    }

    /// The entry that remembers lookups of `context`.
    #[inline(always)]
    fn hit(&self, context: u64) -> &Hit {
        // Truncating is the point: the low bits pick the entry.
        &self.hits[context as usize % HITS]
    }

    /// Remembers `node`, the innermost of its context.
    fn remember(&self, node: &Node) {
        let hit = self.hit(node.context);
        hit.context.set(node.context);
        hit.value.set(node.value);
        hit.guard.set(node.free.is_some());
    }
}

fn push(node: &Node) {
    STACK.with(|stack| {
        node.below.set(stack.top.get());
        stack.top.set(node);
        stack.remember(node);
    });
}

/// Removes `node` from this thread's stack, wherever it is in it.
///
/// # Safety
///
/// `node` is on the calling thread's stack.
unsafe fn unlink(node: &Node) {
    let node_ptr = ptr::from_ref(node);
    let below = node.below.get();
    STACK.with(|stack| {
        // Two nodes of a context may share a value's address (a zero-sized
        // `T`): then this may forget an entry it could have kept, which
        // costs one walk.
        let hit = stack.hit(node.context);
        if hit.context.get() == node.context && hit.value.get() == node.value {
            hit.context.set(0);
            hit.value.set(ptr::null());
            hit.guard.set(false);
        }
        let mut above = stack.top.get();
        if above == node_ptr {
            stack.top.set(below);
            return;
        }
        loop {
            // SAFETY: `node` is on the stack below `above`, so `above` is a
            // live node (see `Stack::find_and_remember`), not null.
            let a = unsafe { &*above };
            if a.below.get() == node_ptr {
                a.below.set(below);
                return;
            }
            above = a.below.get();
        }
    });
}

/// Links a scope's node for the scope's extent.
struct Pushed<'a, T> {
    global: &'a Global<T>,
    node: &'a Node,
}

impl<'a, T> Pushed<'a, T> {
    fn new(context: &'a Context<T>, node: &'a Node) -> Pushed<'a, T> {
        push(node);
        context.global.add_override();
        Pushed {
            global: &context.global,
            node,
        }
    }
}

impl<T> Drop for Pushed<'_, T> {
    fn drop(&mut self) {
        // SAFETY: pushed on this thread by `new`, not unlinked since.
        unsafe { unlink(self.node) };
        self.global.remove_override();
    }
}

/// A `with` call's hold on a guard's value, so that a guard dropped inside
/// the closure does not free the value under it.
struct Loan {
    /// Whether this is the outermost `with` lending on this thread: only it
    /// clears the flag and frees the guards dropped meanwhile.
    outermost: bool,
}

impl Loan {
    #[inline]
    fn new() -> Loan {
        STACK.with(|stack| {
            let outermost = !stack.lending.get();
            stack.lending.set(true);
            Loan { outermost }
        })
    }
}

impl Drop for Loan {
    #[inline]
    fn drop(&mut self) {
        if !self.outermost {
            return;
        }
        STACK.with(|stack| {
            stack.lending.set(false);
            if !stack.deferred.get().is_null() {
                stack.free_deferred();
            }
        });
    }
}
