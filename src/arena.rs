//! A scoped per-thread bump arena: allocate freely inside a scope, release
//! everything at once when it ends.
//!
//! A parser that builds a tree of small nodes per request pays one `malloc`
//! per node and one `free` per node when the tree goes. Bump allocation
//! ([`bumpalo`]) turns each node into a pointer increment and the whole tree's
//! release into one reset. [`with`] gives the calling thread's arena to a
//! closure and resets it when the closure returns, so the arena's memory is
//! reused request after request, with no arena to pass around.
//!
//! ```
//! use bumpalo::collections::Vec as BumpVec;
//!
//! let total = threadkit::arena::with(|bump| {
//!     let mut words = BumpVec::new_in(bump);
//!     for word in "the quick brown fox".split(' ') {
//!         words.push(bump.alloc_str(word));
//!     }
//!     words.iter().map(|w| w.len()).sum::<usize>()
//! }); // everything allocated above is released here
//! assert_eq!(total, 16);
//! ```
//!
//! # The rules
//!
//! - **Nothing escapes the scope.** The closure is called with a
//!   `&'a Bump` for a lifetime `'a` it cannot name in its result, so
//!   references into the arena cannot outlive it; this does not compile:
//!
//! ```compile_fail
//! let leaked: &mut u64 = threadkit::arena::with(|bump| bump.alloc(7_u64));
//! ```
//!
//! - **`Drop` does not run for arena values.** This is bumpalo's rule:
//!   `bump.alloc(value)` moves `value` into the arena, and the arena's reset
//!   frees its memory without running its destructor. Allocate types that own
//!   no heap memory or other resources (numbers, `&str` from
//!   [`alloc_str`](bumpalo::Bump::alloc_str), arena references), or use
//!   bumpalo's own collections ([`bumpalo::collections::Vec`], `String`),
//!   which keep their contents in the arena too.
//! - **Scopes nest.** A `with` inside another gets an arena of its own,
//!   released when the inner scope ends; the outer scope's values are
//!   untouched. (A single `Bump` cannot do that: its `reset` frees
//!   everything, and bumpalo has no nested scopes, bumpalo#105.) The thread
//!   keeps one arena per nesting depth, up to
//!   [`max_arenas`](Arena::max_arenas).
//! - **Bounded memory.** After a scope, an arena keeps its newest (largest)
//!   chunk for the next scope if that chunk is at most
//!   [`max_bytes`](Arena::max_bytes) ([`DEFAULT_MAX_BYTES`] = 1 MiB), and is
//!   freed otherwise. A thread's arenas are freed when it exits.
//! - **Each scope starts empty** — on a thread pool, one task never sees
//!   another's allocations, and an allocation limit set with
//!   [`set_allocation_limit`](bumpalo::Bump::set_allocation_limit) ends with
//!   its scope.
//! - **Thread exit is a normal case.** Where the thread's arenas are gone
//!   (after the crate's teardown for it, see
//!   [Thread exit](crate#thread-exit)), `with` uses a temporary arena.
//!   Nothing panics.
//!
//! For different limits, declare an [`Arena`] of your own.

use std::fmt;

use bumpalo::Bump;

use crate::scratch::{Reuse, ScratchPool};

/// How many nested arenas a thread keeps unless told otherwise.
pub const DEFAULT_MAX_ARENAS: usize = 4;

/// The largest chunk, in bytes, an arena keeps between scopes unless told
/// otherwise: 1 MiB. An arena holds everything a scope allocates (a parsed
/// document, a request's whole tree), not one buffer, so it keeps more than
/// a scratch buffer ([`scratch::DEFAULT_MAX_BYTES`](crate::scratch::DEFAULT_MAX_BYTES)
/// = 64 KiB).
pub const DEFAULT_MAX_BYTES: usize = 1 << 20;

crate::scratch::local_pool! {
    /// The arenas behind [`with`].
    static DEFAULT: Bump = (
        DEFAULT_MAX_ARENAS,
        DEFAULT_MAX_BYTES,
    );
}

/// Runs `f` with the calling thread's bump arena, and releases everything
/// allocated in it when `f` returns (or panics).
///
/// Nested calls get an arena of their own. See the
/// [module documentation](self) for what is kept between scopes.
///
/// # Examples
///
/// ```
/// #[derive(Debug)]
/// enum Expr<'a> {
///     Num(i64),
///     Add(&'a Expr<'a>, &'a Expr<'a>),
/// }
///
/// fn eval(e: &Expr<'_>) -> i64 {
///     match e {
///         Expr::Num(n) => *n,
///         Expr::Add(a, b) => eval(a) + eval(b),
///     }
/// }
///
/// let value = threadkit::arena::with(|bump| {
///     let one = bump.alloc(Expr::Num(1));
///     let two = bump.alloc(Expr::Num(2));
///     let sum = bump.alloc(Expr::Add(one, two));
///     eval(bump.alloc(Expr::Add(sum, sum)))
/// });
/// assert_eq!(value, 6);
/// ```
#[inline]
pub fn with<R>(f: impl for<'a> FnOnce(&'a Bump) -> R) -> R {
    DEFAULT.with(|bump| f(bump))
}

/// The bytes the calling thread keeps in [`with`]'s arenas between scopes:
/// at most [`DEFAULT_MAX_ARENAS`] × [`DEFAULT_MAX_BYTES`].
///
/// # Examples
///
/// ```
/// use threadkit::arena;
///
/// arena::with(|bump| {
///     // One scope that needed a 64 MiB buffer.
///     bumpalo::collections::Vec::<u8>::with_capacity_in(64 << 20, bump);
/// });
/// assert!(arena::retained_bytes() <= arena::DEFAULT_MAX_BYTES);
/// ```
pub fn retained_bytes() -> usize {
    DEFAULT.retained_bytes()
}

/// How many arenas holding memory the calling thread keeps for [`with`].
///
/// # Examples
///
/// ```
/// use threadkit::arena;
///
/// arena::with(|outer| {
///     outer.alloc(1);
///     arena::with(|inner| {
///         inner.alloc(2);
///     }); // nested: a second arena
/// });
/// assert_eq!(arena::retained_count(), 2);
/// ```
pub fn retained_count() -> usize {
    DEFAULT.retained_count()
}

/// Frees the calling thread's kept arenas of [`with`] now rather than at
/// thread exit.
///
/// # Examples
///
/// ```
/// use threadkit::arena;
///
/// arena::with(|bump| bump.alloc([0u64; 100]).len());
/// arena::release();
/// assert_eq!(arena::retained_bytes(), 0);
/// ```
pub fn release() {
    DEFAULT.release();
}

/// A set of per-thread bump arenas with its own limits; [`with`] uses one
/// with the default limits.
///
/// # Examples
///
/// ```
/// use threadkit::arena::Arena;
///
/// // Big documents: keep up to 32 MiB per thread, one level of nesting.
/// static DOCUMENTS: Arena = Arena::with_limits(1, 32 << 20);
///
/// let n = DOCUMENTS.with(|bump| bump.alloc_slice_fill_copy(64 * 1024, 1u8).len());
/// assert_eq!(n, 64 * 1024);
/// assert!(DOCUMENTS.retained_bytes() >= 64 * 1024);
/// ```
pub struct Arena {
    bumps: ScratchPool<Bump>,
}

impl Arena {
    /// Creates arenas with the default limits: [`DEFAULT_MAX_ARENAS`] per
    /// thread, each keeping at most [`DEFAULT_MAX_BYTES`] between scopes.
    ///
    /// # Examples
    ///
    /// ```
    /// static NODES: threadkit::arena::Arena = threadkit::arena::Arena::new();
    /// assert_eq!(NODES.with(|bump| *bump.alloc(40) + 2), 42);
    /// ```
    #[must_use]
    pub const fn new() -> Arena {
        Arena::with_limits(DEFAULT_MAX_ARENAS, DEFAULT_MAX_BYTES)
    }

    /// Creates arenas that keep at most `max_arenas` per thread (one per
    /// nesting depth), each keeping at most `max_bytes` between scopes.
    ///
    /// With `max_arenas == 0` nothing is kept: every scope allocates a new
    /// arena.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::arena::Arena;
    ///
    /// static SMALL: Arena = Arena::with_limits(2, 64 * 1024);
    /// assert_eq!((SMALL.max_arenas(), SMALL.max_bytes()), (2, 64 * 1024));
    /// ```
    #[must_use]
    pub const fn with_limits(max_arenas: usize, max_bytes: usize) -> Arena {
        Arena {
            bumps: ScratchPool::with_limits(max_arenas, max_bytes),
        }
    }

    /// Runs `f` with one of the calling thread's arenas, and releases
    /// everything allocated in it when `f` returns (or panics). See [`with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::arena::Arena;
    ///
    /// static SCOPES: Arena = Arena::new();
    ///
    /// SCOPES.with(|outer| {
    ///     let kept = outer.alloc(1);
    ///     SCOPES.with(|inner| {
    ///         inner.alloc([0u8; 4096]); // released when this scope ends
    ///     });
    ///     assert_eq!(*kept, 1); // the outer scope is untouched
    /// });
    /// ```
    #[inline]
    pub fn with<R>(&self, f: impl for<'a> FnOnce(&'a Bump) -> R) -> R {
        f(&self.bumps.buffer())
    }

    /// How many arenas a thread keeps.
    pub fn max_arenas(&self) -> usize {
        self.bumps.max_buffers()
    }

    /// The largest chunk, in bytes, an arena keeps between scopes.
    pub fn max_bytes(&self) -> usize {
        self.bumps.max_bytes()
    }

    /// The bytes the calling thread keeps in these arenas between scopes: at
    /// most `max_arenas() * max_bytes()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = threadkit::arena::Arena::new();
    /// assert_eq!(arena.retained_bytes(), 0);
    /// arena.with(|bump| bump.alloc([0u64; 100]).len());
    /// assert!(arena.retained_bytes() >= 800);
    /// ```
    pub fn retained_bytes(&self) -> usize {
        self.bumps.retained_bytes()
    }

    /// How many arenas holding memory the calling thread keeps here.
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = threadkit::arena::Arena::new();
    /// arena.with(|bump| bump.alloc(1).to_string());
    /// assert_eq!(arena.retained_count(), 1);
    /// ```
    pub fn retained_count(&self) -> usize {
        self.bumps.retained_count()
    }

    /// Frees the calling thread's kept arenas now rather than at thread
    /// exit.
    ///
    /// # Examples
    ///
    /// ```
    /// let arena = threadkit::arena::Arena::new();
    /// arena.with(|bump| bump.alloc([0u64; 100]).len());
    /// arena.release();
    /// assert_eq!(arena.retained_bytes(), 0);
    /// ```
    pub fn release(&self) {
        self.bumps.release();
    }
}

/// Resetting a `Bump` frees every chunk but the newest (its largest) and
/// lifts any allocation limit the last user set; a `Bump` cannot shrink, so
/// one over the cap is dropped.
impl Reuse for Bump {
    fn reset(&mut self) {
        Bump::reset(self);
        self.set_allocation_limit(None);
    }
    fn heap_bytes(&self) -> usize {
        self.allocated_bytes()
    }
}

impl Default for Arena {
    fn default() -> Arena {
        Arena::new()
    }
}

impl fmt::Debug for Arena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arena")
            .field("max_arenas", &self.max_arenas())
            .field("max_bytes", &self.max_bytes())
            .field("retained_count", &self.retained_count())
            .finish_non_exhaustive()
    }
}
