//! [`LocalPool`]: a pool whose first buffer lives in a `thread_local!` of its
//! own, behind the built-in pools.

use std::cell::{RefCell, RefMut};
use std::fmt;
use std::marker::PhantomData;
use std::mem;

use super::pool::{Scratch, ScratchPool};
use super::reuse::Reuse;
use crate::thread::exit::ExitOwned;

/// Declares built-in [`LocalPool`]s, each with its own `thread_local!`.
macro_rules! local_pool {
    ($($(#[$attr:meta])* static $name:ident: $t:ty = (
        $max_buffers:expr, $max_bytes:expr $(,)?
    );)*) => {$(
        $(#[$attr])*
        static $name: $crate::scratch::LocalPool<$name::Hot> =
            $crate::scratch::LocalPool::new($max_buffers, $max_bytes);

        #[allow(non_snake_case)]
        mod $name {
            #[allow(unused_imports)] // for the value type's name
            use super::*;

            ::std::thread_local! {
                // No destructor on Linux: the thread's exit frees the buffer
                // (see `thread::exit`).
                static HOT: ::std::cell::RefCell<$crate::thread::exit::ExitOwned<$t>> = {
                    // `try_with`: elsewhere than Linux the buffer has a
                    // destructor, which may have run before the exit.
                    $crate::thread::exit::watch_exit(|| {
                        let _ = HOT.try_with($crate::thread::exit::close);
                    });
                    ::std::cell::RefCell::new(::std::default::Default::default())
                };
            }

            pub(crate) struct Hot;

            impl $crate::scratch::Hot for Hot {
                type Value = $t;
                #[inline(always)]
                fn with<R>(
                    f: impl FnOnce(&::std::cell::RefCell<$crate::thread::exit::ExitOwned<$t>>) -> R,
                ) -> Option<R> {
                    HOT.try_with(f).ok()
                }
            }
        }
    )*};
}
pub(crate) use local_pool;

/// A pool whose first buffer per thread lives in a `thread_local!` of its
/// own, used in place, so that the common, non-nested call needs no table
/// lookup and moves nothing: the built-in pools behind
/// [`with_bytes`](super::with_bytes), [`with_string`](super::with_string) and [`arena::with`](crate::arena::with). Declared with
/// `local_pool!`.
///
/// The thread-local holds one buffer in a `RefCell`; a nested call finds it
/// borrowed (`try_borrow_mut`, never a panic) and uses the table, which holds
/// the others, up to the same total as a [`ScratchPool`]. Guards always use
/// the table.
pub(crate) struct LocalPool<H: Hot> {
    /// The other buffers.
    pool: ScratchPool<H::Value>,
    _hot: PhantomData<H>,
}

/// Access to a [`LocalPool`]'s `thread_local!`, as a type so that calls
/// through it are static and inline.
pub(crate) trait Hot: 'static {
    type Value: Reuse + Default;
    /// Runs `f` on the thread-local, or returns `None` once it is destroyed.
    /// (Where it has no destructor, the thread's exit leaves it borrowed
    /// instead: see [`crate::thread::exit::close`].)
    fn with<R>(f: impl FnOnce(&RefCell<ExitOwned<Self::Value>>) -> R) -> Option<R>;
}

impl<H: Hot> LocalPool<H> {
    pub(crate) const fn new(max_buffers: usize, max_bytes: usize) -> LocalPool<H> {
        LocalPool {
            pool: ScratchPool::with_limits(max_buffers.saturating_sub(1), max_bytes),
            _hot: PhantomData,
        }
    }

    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut H::Value) -> R) -> R {
        let mut f = Some(f);
        let done = H::with(|hot| {
            let value = hot.try_borrow_mut().ok()?;
            let f = f.take()?;
            let mut value = Tidy {
                value: RefMut::map(value, |value| &mut **value),
                pool: &self.pool,
            };
            Some(f(&mut value.value))
        });
        match (done, f) {
            (Some(Some(result)), _) => result,
            // Nested, or the thread-local is gone: use the table.
            (_, Some(f)) => self.pool.with(f),
            (_, None) => unreachable!("`f` runs only on the path that returns its result"),
        }
    }

    #[inline]
    pub(crate) fn buffer(&self) -> Scratch<'_, H::Value> {
        self.pool.buffer()
    }

    /// Runs `f` on the thread-local buffer if it is not in use.
    fn inspect_local<R: Default>(f: impl FnOnce(&mut H::Value) -> R) -> R {
        H::with(|hot| hot.try_borrow_mut().map(|mut value| f(&mut **value)).ok())
            .flatten()
            .unwrap_or_default()
    }

    pub(crate) fn retained_count(&self) -> usize {
        Self::inspect_local(|value| usize::from(value.heap_bytes() > 0))
            + self.pool.retained_count()
    }

    pub(crate) fn retained_bytes(&self) -> usize {
        Self::inspect_local(|value| value.heap_bytes()) + self.pool.retained_bytes()
    }

    pub(crate) fn release(&self) {
        self.drain_local();
        self.pool.release();
    }

    /// Drops the thread-local buffer's memory (if it is not in use).
    pub(crate) fn drain_local(&self) {
        drop(Self::inspect_local(|value| Some(mem::take(value))));
    }
}

/// Tidies the thread-local buffer of a [`LocalPool`] when its user is done
/// with it (or panics): reset, and back under the cap.
struct Tidy<'a, T: Reuse + Default> {
    value: RefMut<'a, T>,
    pool: &'a ScratchPool<T>,
}

impl<T: Reuse + Default> Drop for Tidy<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        self.value.reset();
        if self.value.heap_bytes() > self.pool.max_bytes {
            self.pool.shrink_in_place(&mut self.value);
        }
    }
}

impl<H: Hot> fmt::Debug for LocalPool<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalPool").finish_non_exhaustive()
    }
}
