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
//! - **Thread exit is a normal case.** A context works in `thread_local!`
//!   destructors, before and after the crate's own: the thread's overrides
//!   live in a thread-local that has no destructor, so with no override in
//!   force `with` sees the global value. Nothing panics.
//!
//! # The fast path
//!
//! Each context counts the overrides alive on all threads. While the count is
//! zero, `with` reads one atomic and the global value and touches no
//! thread-local storage at all; only while some thread has an override for
//! *this* context do the other threads look at their own (empty) override
//! stacks. `tracing` keeps one count for the whole process, so a scoped
//! dispatcher anywhere (one test, one thread) sends every thread down the slow
//! path; here an override of one context leaves the others fast. The
//! benchmarks (`cargo bench --bench context`) compare this design with the
//! `tracing` variants; the README has the figures.
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
use std::marker::PhantomData;
use std::ops::Deref;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::ptr::{self, NonNull};

use crate::thread::instance::InstanceId;
use global::{Global, State};

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
        if !state.overridden() {
            return f(self.global.get(state));
        }
        self.with_override(state, f)
    }

    /// The lookup while some thread has an override: this thread's stack,
    /// then the global value.
    #[inline]
    fn with_override<F, R>(&self, state: State, f: F) -> R
    where
        F: FnOnce(Option<&T>) -> R,
    {
        match NonNull::new(self.find().cast_mut()) {
            Some(node) => {
                // SAFETY: `find` returns a live node of this thread's stack.
                if unsafe { node.as_ref() }.entry.is_null() {
                    // A scope's value: the scope called us (the node is on
                    // this thread's stack), so it outlives this call, and
                    // nothing but the scope can drop it.
                    // SAFETY: tagged with this context's id, so a `T`.
                    let value = unsafe { &*node.as_ref().value.cast::<T>() };
                    return f(Some(value));
                }
                // A guard's value: `f` may own the guard and drop it.
                // SAFETY: a live node of this thread for this `Context<T>`.
                let loan = unsafe { Loan::<T>::new(node) };
                f(Some(loan.value()))
            }
            None => f(self.global.get(state)),
        }
    }

    /// This thread's innermost node for this context, or null.
    #[inline]
    fn find(&self) -> *const Node {
        // A thread that pushed a node read the id that tags it, so the id is
        // assigned whenever this thread has a node to find; 0 matches none.
        let id = self.id.peek();
        let mut node = TOP.get();
        // SAFETY: every node on a thread's stack is alive: `scope` unlinks
        // its node before its frame ends, a guard unlinks its node before
        // freeing it, and a forgotten guard's node is leaked, never freed.
        while let Some(n) = unsafe { node.as_ref() } {
            if n.context == id {
                return node;
            }
            node = n.below.get();
        }
        ptr::null()
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
        self.global.maybe_overridden() && !self.find().is_null()
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
        let node = Node::new(self.id.get(), ptr::from_ref(&value).cast());
        // `pushed` is dropped first (reverse order of declaration), so the
        // node leaves the stack before it and `value` go.
        let _pushed = Pushed::new(self, &node);
        f()
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
        // SAFETY: the entry is alive (only this drop or a loan after it frees
        // it) and its node is on this thread's stack (the guard is `!Send`).
        let lent = unsafe {
            let node = &(*entry).node;
            unlink(node);
            node.lent.get()
        };
        self.context.global.remove_override();
        if lent {
            // A `with` on this thread is reading the value: the last loan
            // frees the entry when that closure returns.
            // SAFETY: as above.
            unsafe { (*entry).node.dropped.set(true) };
        } else {
            // SAFETY: from `Box::into_raw` in `set_local`; unlinked and not
            // lent, so nothing refers to it any more.
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
    /// The next older node of this thread, or null.
    below: Cell<*const Node>,
    /// For a guard's node: whether a `with` call on this thread is reading
    /// `value` right now. A flag, not a count: only the outermost such call
    /// sets and clears it, so the path stores constants and carries no value
    /// from one call to the next through memory. (A scope's value needs no
    /// flag: it outlives every `with` that can find it.)
    lent: Cell<bool>,
    /// For a guard's node: its `Box<GuardEntry<T>>`; null for a scope's.
    entry: *mut (),
    /// Set when a guard is dropped while its value is lent: the last loan
    /// frees the entry.
    dropped: Cell<bool>,
}

impl Node {
    fn new(context: u64, value: *const ()) -> Node {
        Node {
            context,
            value,
            below: Cell::new(ptr::null()),
            lent: Cell::new(false),
            entry: ptr::null_mut(),
            dropped: Cell::new(false),
        }
    }
}

/// A guard's override, allocated so the guard can move.
struct GuardEntry<T> {
    node: Node,
    value: T,
}

thread_local! {
    /// This thread's newest override node, for all contexts. No destructor,
    /// so it is readable at every point of the thread's life.
    static TOP: Cell<*const Node> = const { Cell::new(ptr::null()) };
}

fn push(node: &Node) {
    node.below.set(TOP.get());
    TOP.set(node);
}

/// Removes `node` from this thread's stack, wherever it is in it.
///
/// # Safety
///
/// `node` is on the calling thread's stack.
unsafe fn unlink(node: &Node) {
    let node_ptr = ptr::from_ref(node);
    let below = node.below.get();
    let mut above = TOP.get();
    if above == node_ptr {
        TOP.set(below);
        return;
    }
    loop {
        // SAFETY: `node` is on the stack below `above`, so `above` is a live
        // node (see `Context::find`), not null.
        let a = unsafe { &*above };
        if a.below.get() == node_ptr {
            a.below.set(below);
            return;
        }
        above = a.below.get();
    }
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

/// A `with` call's hold on an override's value, so that a guard dropped
/// inside the closure does not free the value under it.
struct Loan<T> {
    node: NonNull<Node>,
    /// Whether this is the outermost `with` reading the node: only it clears
    /// the flag and frees a dropped guard's entry.
    outermost: bool,
    _value: PhantomData<*const T>,
}

impl<T> Loan<T> {
    /// # Safety
    ///
    /// `node` is on the calling thread's stack and belongs to a `Context<T>`.
    #[inline]
    unsafe fn new(node: NonNull<Node>) -> Loan<T> {
        // SAFETY: nodes on the stack are alive (the caller's contract).
        let n = unsafe { node.as_ref() };
        let outermost = !n.lent.get();
        n.lent.set(true);
        Loan {
            node,
            outermost,
            _value: PhantomData,
        }
    }

    #[inline]
    fn value(&self) -> &T {
        // SAFETY: the node belongs to a `Context<T>`, so `value` points to a
        // `T`, which the loan keeps alive: a guard's entry is freed only once
        // its node is no longer lent.
        unsafe { &*self.node.as_ref().value.cast::<T>() }
    }
}

impl<T> Drop for Loan<T> {
    #[inline]
    fn drop(&mut self) {
        if !self.outermost {
            return;
        }
        // SAFETY: the loan keeps the node alive.
        let n = unsafe { self.node.as_ref() };
        n.lent.set(false);
        if n.dropped.get() {
            let entry = n.entry.cast::<GuardEntry<T>>();
            // SAFETY: only a guard sets `dropped`, after unlinking its node;
            // `entry` is its `Box<GuardEntry<T>>`, and with the outermost
            // loan gone nothing reads it any more.
            drop(unsafe { Box::from_raw(entry) });
        }
    }
}
