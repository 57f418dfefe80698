//! [`ContextGuard`]: an override in force until the guard is dropped.

use std::fmt;
use std::ops::Deref;

use super::stack::GuardNode;

/// An override installed by [`Context::set_local`](super::Context::set_local);
/// dropping it removes the override.
///
/// Dereferences to the override's value. `!Send` and `!Sync`.
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
#[must_use = "the override is removed as soon as the guard is dropped"]
pub struct ContextGuard<'a, T> {
    node: GuardNode<'a, T>,
}

impl<'a, T> ContextGuard<'a, T> {
    pub(super) fn new(node: GuardNode<'a, T>) -> ContextGuard<'a, T> {
        ContextGuard { node }
    }
}

impl<T> Deref for ContextGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.node.value()
    }
}

impl<T: fmt::Debug> fmt::Debug for ContextGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextGuard")
            .field("value", &**self)
            .finish()
    }
}
