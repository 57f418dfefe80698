//! [`Reuse`]: how a pooled value is emptied and measured, and its impls for
//! std's collections.

use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::mem;

/// How a value is emptied for reuse, and how much memory it holds.
///
/// Implemented for `Vec`, `String`, `VecDeque`, `BinaryHeap`, `HashMap`,
/// `HashSet` (reset is `clear`; the size is the capacity times the entry
/// size, plus one control byte per entry for the hash tables) and
/// [`bumpalo::Bump`]. Implement it for your own types to pool them in a
/// [`ScratchPool`](super::ScratchPool).
///
/// # Examples
///
/// ```
/// use threadkit::scratch::{Reuse, ScratchPool};
///
/// #[derive(Default)]
/// struct Batch {
///     keys: Vec<u64>,
///     payload: String,
/// }
///
/// impl Reuse for Batch {
///     fn reset(&mut self) {
///         self.keys.reset();
///         self.payload.reset();
///     }
///     fn heap_bytes(&self) -> usize {
///         self.keys.heap_bytes() + self.payload.heap_bytes()
///     }
///     fn shrink_to_bytes(&mut self, max_bytes: usize) {
///         self.keys.shrink_to_bytes(max_bytes / 2);
///         self.payload.shrink_to_bytes(max_bytes / 2);
///     }
/// }
///
/// static BATCHES: ScratchPool<Batch> = ScratchPool::new();
/// BATCHES.with(|b| {
///     b.keys.push(7);
///     b.payload.push_str("seven");
/// });
/// BATCHES.with(|b| assert!(b.keys.is_empty() && b.payload.is_empty()));
/// ```
pub trait Reuse {
    /// Empties the value for its next user, keeping its allocation.
    ///
    /// Called each time the value goes back to its pool. Whatever the next
    /// user must not see has to go here (for a collection: every element).
    fn reset(&mut self);

    /// An estimate of the heap memory the value keeps, in bytes, compared
    /// with the pool's [`max_bytes`](super::ScratchPool::max_bytes).
    fn heap_bytes(&self) -> usize;

    /// Gives memory back until [`heap_bytes`](Reuse::heap_bytes) is at most
    /// `max_bytes`, if the type can.
    ///
    /// Called on a reset value whose `heap_bytes` is over the pool's cap. If
    /// it is still over the cap afterwards, the pool drops the value. The
    /// default does nothing.
    fn shrink_to_bytes(&mut self, max_bytes: usize) {
        let _ = max_bytes;
    }
}

/// Capacity in elements that fits in `max_bytes`, for element size `size`.
fn elements_within(max_bytes: usize, size: usize) -> usize {
    max_bytes.checked_div(size).unwrap_or(usize::MAX)
}

/// `Reuse` for std collections: `clear`, and `capacity × entry` bytes.
macro_rules! reuse_collection {
    ($([$($generics:tt)*] $ty:ty, entry = $entry:expr;)*) => {$(
        impl<$($generics)*> Reuse for $ty {
            fn reset(&mut self) {
                self.clear();
            }
            fn heap_bytes(&self) -> usize {
                self.capacity().saturating_mul($entry)
            }
            fn shrink_to_bytes(&mut self, max_bytes: usize) {
                self.shrink_to(elements_within(max_bytes, $entry));
            }
        }
    )*};
}

reuse_collection! {
    [T] Vec<T>, entry = mem::size_of::<T>();
    [] String, entry = 1;
    [T] VecDeque<T>, entry = mem::size_of::<T>();
    [T: Ord] BinaryHeap<T>, entry = mem::size_of::<T>();
    // Each entry plus one control byte: the layout of std's SwissTable.
    [K: Eq + Hash, V, S: BuildHasher] HashMap<K, V, S>, entry = mem::size_of::<(K, V)>() + 1;
    [T: Eq + Hash, S: BuildHasher] HashSet<T, S>, entry = mem::size_of::<T>() + 1;
}
