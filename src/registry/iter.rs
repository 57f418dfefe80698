//! The iterators over a [`PerThread`](super::PerThread)'s values.

use std::fmt;
use std::iter::FusedIterator;
use std::marker::PhantomData;
use std::sync::Arc;

use super::list::Nodes;
use crate::thread::share::ThreadShare;

/// Iterator over every thread's value; see [`PerThread::iter`](super::PerThread::iter).
pub struct Iter<'a, T> {
    shares: Shares<'a, T>,
}

impl<'a, T> Iter<'a, T> {
    pub(super) fn new(nodes: Nodes<'a, T>) -> Self {
        Iter {
            shares: Shares::new(nodes),
        }
    }
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        self.shares.nodes.next().map(|node| {
            // SAFETY: as in `Shares::next`.
            unsafe { &node.as_ref().value }
        })
    }
}

impl<T> FusedIterator for Iter<'_, T> {}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}

/// Iterator over every thread's value and its thread, as
/// [`ThreadShare`]s; see
/// [`PerThread::per_thread`](super::PerThread::per_thread).
pub struct Shares<'a, T> {
    nodes: Nodes<'a, T>,
    /// Yields `&T` to any thread: `Send`/`Sync` only where `&T` is.
    _values: PhantomData<&'a T>,
}

impl<'a, T> Shares<'a, T> {
    pub(super) fn new(nodes: Nodes<'a, T>) -> Self {
        Shares {
            nodes,
            _values: PhantomData,
        }
    }
}

impl<'a, T> Iterator for Shares<'a, T> {
    type Item = ThreadShare<&'a T>;

    fn next(&mut self) -> Option<ThreadShare<&'a T>> {
        self.nodes.next().map(|node| {
            // SAFETY: the registry is borrowed for 'a, so its nodes live that
            // long, and `per_thread` requires `T: Sync` for shared access
            // to other threads' values.
            let node = unsafe { node.as_ref() };
            ThreadShare::new(Some(Arc::clone(&node.owner)), &node.value)
        })
    }
}

impl<T> FusedIterator for Shares<'_, T> {}

impl<T> fmt::Debug for Shares<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shares").finish_non_exhaustive()
    }
}

/// Mutable iterator over every thread's value; see [`PerThread::iter_mut`](super::PerThread::iter_mut).
pub struct IterMut<'a, T> {
    nodes: Nodes<'a, T>,
    _values: PhantomData<&'a mut T>,
}

impl<'a, T> IterMut<'a, T> {
    pub(super) fn new(nodes: Nodes<'a, T>) -> Self {
        IterMut {
            nodes,
            _values: PhantomData,
        }
    }
}

impl<'a, T> Iterator for IterMut<'a, T> {
    type Item = &'a mut T;

    fn next(&mut self) -> Option<&'a mut T> {
        // SAFETY: `iter_mut` borrows the registry exclusively for 'a, each
        // node is yielded once, and node pointers carry the provenance of
        // their `Box`, so no other reference to this value exists.
        self.nodes
            .next()
            .map(|mut node| unsafe { &mut node.as_mut().value })
    }
}

impl<T> FusedIterator for IterMut<'_, T> {}

impl<T> fmt::Debug for IterMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IterMut").finish_non_exhaustive()
    }
}

/// Owning iterator over every thread's value; see [`PerThread::into_iter`](super::PerThread::into_iter).
#[derive(Debug)]
pub struct IntoIter<T> {
    values: std::vec::IntoIter<T>,
}

impl<T> IntoIter<T> {
    pub(super) fn new(values: Vec<T>) -> Self {
        IntoIter {
            values: values.into_iter(),
        }
    }
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.values.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.values.size_hint()
    }
}

impl<T> ExactSizeIterator for IntoIter<T> {}

impl<T> FusedIterator for IntoIter<T> {}
