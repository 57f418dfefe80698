//! The override stack behind [`Context`](super::Context): each thread's
//! overrides, for all contexts, as an intrusive list of nodes in a
//! destructor-free thread-local, with the last lookups remembered.
//!
//! All the raw-pointer work of the context lives in this file. A scope's node
//! lives in the scope's frame ([`scoped`]); a guard's node lives in a heap
//! entry with its value ([`GuardNode`]), freed when the guard is dropped, or,
//! if a `with` call on the thread is reading the value at that moment
//! ([`Loan`]), when that call returns. Nodes carry their context's id, and
//! the value of a node tagged with a context's id is a `T` of that context:
//! what makes the casts in [`with_innermost`] sound.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

use super::global::Global;

/// Calls `f` with this thread's innermost override of `context`, lending it
/// for the call if it is a guard's; gives `f` back if there is none.
///
/// # Safety
///
/// Every node tagged `context` on this thread's stack holds a `T`.
#[inline]
pub(super) unsafe fn with_innermost<T, F, R>(context: u64, f: F) -> Result<R, F>
where
    F: FnOnce(Option<&T>) -> R,
{
    let found = find(context);
    if found.value.is_null() {
        return Err(f);
    }
    // SAFETY: the caller's contract; the node is alive while on the stack,
    // and a guard's value stays alive while lent (below).
    let value = unsafe { &*found.value.cast::<T>() };
    if !found.guard {
        // A scope's value: the scope called us (its node is on this
        // thread's stack), so it outlives this call, and nothing but the
        // scope can drop it.
        return Ok(f(Some(value)));
    }
    // A guard's value: `f` may own the guard and drop it; the loan defers
    // freeing it until `f` returns.
    let _loan = Loan::new();
    Ok(f(Some(value)))
}

/// Whether this thread has an override of `context` in force.
pub(super) fn has_override(context: u64) -> bool {
    !find(context).value.is_null()
}

/// This thread's innermost override of `context`.
#[inline]
fn find(context: u64) -> Found {
    STACK.with(|stack| {
        let hit = stack.hit(context);
        if hit.context.get() == context {
            return Found {
                value: hit.value.get(),
                guard: hit.guard.get(),
            };
        }
        stack.find_and_remember(context)
    })
}

/// Calls `f` with `value` as this thread's innermost override of
/// `context`, counted in `global` while it is in force; removes it when `f`
/// returns or unwinds.
pub(super) fn scoped<T, R>(
    global: &Global<T>,
    context: u64,
    value: &T,
    f: impl FnOnce() -> R,
) -> R {
    let node = StackNode::new(context, ptr::from_ref(value).cast());
    // `pushed` is dropped first (reverse order of declaration), so the node
    // leaves the stack before it goes.
    let _pushed = Pushed::new(global, &node);
    f()
}

/// A guard's override: its entry on the heap, its node on this thread's
/// stack, counted in its context's `global` until dropped. `!Send`: the
/// node is on this thread's stack.
pub(super) struct GuardNode<'a, T> {
    global: &'a Global<T>,
    entry: NonNull<GuardEntry<T>>,
    _not_send: PhantomData<*const ()>,
}

impl<'a, T> GuardNode<'a, T> {
    /// Installs `value` as this thread's innermost override of `context`.
    pub(super) fn push(global: &'a Global<T>, context: u64, value: T) -> GuardNode<'a, T> {
        let entry = Box::into_raw(Box::new(GuardEntry {
            node: StackNode::new(context, ptr::null()),
            value,
        }));
        // SAFETY: `entry` was just allocated and is not shared yet; the
        // pointers stored here carry the provenance of the whole allocation.
        unsafe {
            (*entry).node.value = ptr::addr_of!((*entry).value).cast();
            (*entry).node.entry = entry.cast();
            (*entry).node.free = Some(free_entry::<T>);
        }
        // SAFETY: the node lives until `drop` (or the last loan after it)
        // unlinks and frees it.
        push(unsafe { &(*entry).node });
        global.add_override();
        GuardNode {
            global,
            // SAFETY: from `Box::into_raw`, never null.
            entry: unsafe { NonNull::new_unchecked(entry) },
            _not_send: PhantomData,
        }
    }

    /// The override's value.
    pub(super) fn value(&self) -> &T {
        // SAFETY: the entry lives at least as long as the guard.
        unsafe { &self.entry.as_ref().value }
    }
}

impl<T> Drop for GuardNode<'_, T> {
    fn drop(&mut self) {
        let entry = self.entry.as_ptr();
        // SAFETY: the entry is alive (only this drop, or the `with` call it
        // is deferred to, frees it) and its node is on this thread's stack
        // (the guard is `!Send`).
        let node = unsafe { &(*entry).node };
        // SAFETY: as above.
        unsafe { unlink(node) };
        self.global.remove_override();
        if !STACK.with(|stack| stack.defer_if_lending(node)) {
            // SAFETY: from `Box::into_raw` in `push`; unlinked, and no
            // `with` on this thread is reading a guard's value, so nothing
            // refers to it any more.
            drop(unsafe { Box::from_raw(entry) });
        }
    }
}

/// One override on a thread's stack.
struct StackNode {
    /// The id of the context it overrides.
    context: u64,
    /// The override's value, a `T` of that context.
    value: *const (),
    /// The next older node of this thread, or null; once a dropped guard's
    /// node is unlinked, the next on `Stack::deferred`.
    below: Cell<*const StackNode>,
    /// For a guard's node: its `Box<GuardEntry<T>>`; null for a scope's.
    entry: *mut (),
    /// For a guard's node: frees `entry` (`free_entry::<T>`).
    free: Option<unsafe fn(*mut ())>,
}

impl StackNode {
    fn new(context: u64, value: *const ()) -> StackNode {
        StackNode {
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
/// `entry` is a `GuardEntry<T>` from `Box::into_raw` in `GuardNode::push`, unlinked
/// and no longer read.
unsafe fn free_entry<T>(entry: *mut ()) {
    // SAFETY: the caller's contract.
    drop(unsafe { Box::from_raw(entry.cast::<GuardEntry<T>>()) });
}

/// A guard's override, allocated so the guard can move.
struct GuardEntry<T> {
    node: StackNode,
    value: T,
}

/// One thread's overrides, for all contexts: a stack of nodes, newest on
/// top, and what recent lookups found, so that reading a context again costs
/// one comparison and no walk.
struct Stack {
    /// The newest node, or null.
    top: Cell<*const StackNode>,
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
    deferred: Cell<*const StackNode>,
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
    fn defer_if_lending(&self, node: &StackNode) -> bool {
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
    fn remember(&self, node: &StackNode) {
        let hit = self.hit(node.context);
        hit.context.set(node.context);
        hit.value.set(node.value);
        hit.guard.set(node.free.is_some());
    }
}

fn push(node: &StackNode) {
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
unsafe fn unlink(node: &StackNode) {
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
    node: &'a StackNode,
}

impl<'a, T> Pushed<'a, T> {
    fn new(global: &'a Global<T>, node: &'a StackNode) -> Pushed<'a, T> {
        push(node);
        global.add_override();
        Pushed { global, node }
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
