//! [`ScopedFuture`]: a future with a context override around each poll.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{self, Poll};

use super::global::Global;
use super::stack;

/// A future with a context override around each of its polls; see
/// [`Context::scope_future`](super::Context::scope_future).
///
/// Why not a guard: [`ContextGuard`](super::ContextGuard) is `!Send`, so a
/// `Send` future that holds one across an `.await` does not compile (and a
/// `scope`'s closure cannot `.await` at all):
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
#[must_use = "futures do nothing unless polled"]
pub struct ScopedFuture<'a, T, F> {
    global: &'a Global<T>,
    /// The context's id.
    context: u64,
    value: T,
    /// Pinned whenever the wrapper is; the other fields are not.
    future: F,
}

impl<'a, T, F> ScopedFuture<'a, T, F> {
    pub(super) fn new(global: &'a Global<T>, context: u64, value: T, future: F) -> Self {
        ScopedFuture {
            global,
            context,
            value,
            future,
        }
    }
}

impl<T, F: Future> Future for ScopedFuture<'_, T, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of
        // the wrapper, which has no `Drop` and is `Unpin` only if `F` is;
        // the other fields are only read by reference.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        stack::scoped(this.global, this.context, &this.value, || future.poll(cx))
    }
}

impl<T: fmt::Debug, F> fmt::Debug for ScopedFuture<'_, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedFuture")
            .field("value", &self.value)
            .finish_non_exhaustive()
    }
}
