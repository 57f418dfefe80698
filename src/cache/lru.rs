//! The least-recently-used map behind each thread's copy of a
//! [`LocalCache`](super::LocalCache).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// No entry.
const NIL: usize = usize::MAX;

/// A least-recently-used map: a hash index into a slab of entries that are
/// linked from the newest to the oldest.
pub(super) struct Lru<K, V, S> {
    index: HashMap<K, usize, S>,
    entries: Vec<Entry<K, V>>,
    newest: usize,
    oldest: usize,
    pub(super) capacity: usize,
    /// The invalidations applied so far.
    pub(super) seen: u64,
}

pub(super) struct Entry<K, V> {
    key: K,
    value: V,
    newer: usize,
    older: usize,
}

impl<K: Hash + Eq + Clone, V, S: BuildHasher> Lru<K, V, S> {
    pub(super) fn new(capacity: usize, hasher: S, seen: u64) -> Lru<K, V, S> {
        Lru {
            index: HashMap::with_hasher(hasher),
            entries: Vec::new(),
            newest: NIL,
            oldest: NIL,
            capacity,
            seen,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The value for `key`, now the most recently used.
    #[inline]
    pub(super) fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let at = *self.index.get(key)?;
        self.touch(at);
        Some(&self.entries[at].value)
    }

    /// Inserts or replaces `key`, as the most recently used; returns the
    /// entry evicted to make room, if any.
    pub(super) fn insert(&mut self, key: K, value: V) -> Option<Entry<K, V>> {
        if let Some(&at) = self.index.get(&key) {
            self.entries[at].value = value;
            self.touch(at);
            return None;
        }
        let evicted = if self.entries.len() >= self.capacity {
            let oldest = self.oldest;
            self.index.remove(&self.entries[oldest].key);
            Some(self.remove_at(oldest))
        } else {
            None
        };
        let at = self.entries.len();
        self.entries.push(Entry {
            key: key.clone(),
            value,
            newer: NIL,
            older: NIL,
        });
        self.link_newest(at);
        self.index.insert(key, at);
        evicted
    }

    pub(super) fn remove<Q>(&mut self, key: &Q) -> Option<Entry<K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let at = self.index.remove(key)?;
        Some(self.remove_at(at))
    }

    pub(super) fn clear(&mut self) {
        let entries = std::mem::take(&mut self.entries);
        self.newest = NIL;
        self.oldest = NIL;
        // Keys' and values' `Drop`s may panic: the rest are dropped all the
        // same (the `Vec` does this for the entries itself).
        crate::unwind::for_each(self.index.drain(), drop);
        drop(entries);
    }

    fn touch(&mut self, at: usize) {
        if at != self.newest {
            self.unlink(at);
            self.link_newest(at);
        }
    }

    fn link_newest(&mut self, at: usize) {
        self.entries[at].newer = NIL;
        self.entries[at].older = self.newest;
        match self.newest {
            NIL => self.oldest = at,
            newest => self.entries[newest].newer = at,
        }
        self.newest = at;
    }

    fn unlink(&mut self, at: usize) {
        let Entry { newer, older, .. } = self.entries[at];
        match newer {
            NIL => self.newest = older,
            newer => self.entries[newer].older = older,
        }
        match older {
            NIL => self.oldest = newer,
            older => self.entries[older].newer = newer,
        }
    }

    /// Removes the entry at `at`, whose key is already out of the index; the
    /// last entry moves into its place.
    fn remove_at(&mut self, at: usize) -> Entry<K, V> {
        self.unlink(at);
        let removed = self.entries.swap_remove(at);
        if at < self.entries.len() {
            let Entry { newer, older, .. } = self.entries[at];
            match newer {
                NIL => self.newest = at,
                newer => self.entries[newer].older = at,
            }
            match older {
                NIL => self.oldest = at,
                older => self.entries[older].newer = at,
            }
            if let Some(slot) = self.index.get_mut(&self.entries[at].key) {
                *slot = at;
            }
        }
        removed
    }
}

impl<K, V, S> Drop for Lru<K, V, S> {
    fn drop(&mut self) {
        // As in `clear`: a panicking key `Drop` does not leak the others.
        crate::unwind::for_each(self.index.drain(), drop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::RandomState;

    fn lru(capacity: usize) -> Lru<u32, u32, RandomState> {
        Lru::new(capacity, RandomState::new(), 0)
    }

    /// Keys from the most to the least recently used, following the links,
    /// checked against the index.
    fn order(lru: &Lru<u32, u32, RandomState>) -> Vec<u32> {
        let mut keys = Vec::new();
        let mut at = lru.newest;
        let mut previous = NIL;
        while at != NIL {
            let entry = &lru.entries[at];
            assert_eq!(entry.newer, previous, "back link of {}", entry.key);
            assert_eq!(lru.index[&entry.key], at, "index of {}", entry.key);
            keys.push(entry.key);
            previous = at;
            at = entry.older;
        }
        assert_eq!(lru.oldest, previous);
        assert_eq!(keys.len(), lru.len());
        assert_eq!(lru.index.len(), lru.len());
        keys
    }

    #[test]
    fn evicts_the_least_recently_used() {
        let mut lru = lru(3);
        for key in [1, 2, 3] {
            assert!(lru.insert(key, key * 10).is_none());
        }
        assert_eq!(order(&lru), [3, 2, 1]);
        assert_eq!(lru.get(&1), Some(&10));
        assert_eq!(order(&lru), [1, 3, 2]);
        let evicted = lru.insert(4, 40).map(|e| e.key);
        assert_eq!(evicted, Some(2));
        assert_eq!(order(&lru), [4, 1, 3]);
    }

    #[test]
    fn removal_from_anywhere_keeps_links_and_index_consistent() {
        for victim in 0..5 {
            let mut lru = lru(5);
            for key in 0..5 {
                lru.insert(key, key);
            }
            lru.get(&2);
            let mut expected = order(&lru);
            assert_eq!(lru.remove(&victim).map(|e| e.value), Some(victim));
            expected.retain(|&k| k != victim);
            assert_eq!(order(&lru), expected, "after removing {victim}");
            lru.insert(9, 9);
            expected.insert(0, 9);
            assert_eq!(order(&lru), expected);
        }
    }

    #[test]
    fn replacing_a_key_updates_value_and_recency() {
        let mut lru = lru(2);
        lru.insert(1, 1);
        lru.insert(2, 2);
        assert!(lru.insert(1, 100).is_none());
        assert_eq!(order(&lru), [1, 2]);
        assert_eq!(lru.get(&1), Some(&100));
    }
}
