//! The handles a thread has resolved, so that the facade's macros find a
//! repeated key without the shared registry; see the
//! [module documentation](super#the-macro-path).

use std::sync::Arc;

use crossbeam_utils::CachePadded;
use metrics::{CounterFn, GaugeFn, HistogramFn, Key};

use super::series::GaugeCell;
use crate::counter::Counter;
use crate::histogram::Scaled;

/// A series' storage behind a handle of this thread's: cloning and dropping
/// the facade's handle counts references on this `Arc`, which no other
/// thread's lookups touch (padded so that no other thread's handle shares
/// its cache line).
#[derive(Debug)]
pub(crate) struct Local<S>(CachePadded<Arc<S>>);

impl<S> Local<S> {
    pub(crate) fn new(storage: Arc<S>) -> Arc<Local<S>> {
        Arc::new(Local(CachePadded::new(storage)))
    }
}

impl<S: CounterFn> CounterFn for Local<S> {
    fn increment(&self, value: u64) {
        self.0.increment(value);
    }

    fn absolute(&self, value: u64) {
        self.0.absolute(value);
    }
}

impl<S: GaugeFn> GaugeFn for Local<S> {
    fn increment(&self, value: f64) {
        self.0.increment(value);
    }

    fn decrement(&self, value: f64) {
        self.0.decrement(value);
    }

    fn set(&self, value: f64) {
        self.0.set(value);
    }
}

impl<S: HistogramFn> HistogramFn for Local<S> {
    fn record(&self, value: f64) {
        self.0.record(value);
    }

    fn record_many(&self, value: f64, count: usize) {
        self.0.record_many(value, count);
    }
}

/// One kind's handles of this thread: an open-addressing table indexed by
/// the key's own hash (computed when the key was made), probed linearly,
/// at most half full.
pub(crate) struct Table<S> {
    entries: Vec<Option<Entry<S>>>,
    len: usize,
}

struct Entry<S> {
    key: Key,
    /// Where the key's name and labels are, read once.
    parts: Parts,
    handle: Arc<Local<S>>,
}

/// Where a key's name and labels are (addresses and lengths): keys that
/// share them are equal, as the copies of one `static` key the facade's
/// macros make are.
#[derive(Clone, Copy)]
struct Parts([usize; 4]);

impl Parts {
    /// Word by word: compared as one 16-byte vector, the freshly stored
    /// words of `other` would be loaded across two stores, which the CPU
    /// cannot forward (measured: half the lookup's time on AMD EPYC).
    #[inline]
    fn same(self, other: Parts) -> bool {
        let [a, b, c, d] = self.0;
        let [w, x, y, z] = other.0;
        ((a ^ w) | (b ^ x) | (c ^ y) | (d ^ z)) == 0
    }
}

impl Parts {
    #[inline(always)]
    fn of(key: &Key) -> Parts {
        let (name, labels) = (key.name(), key.labels().as_slice());
        Parts([
            name.as_ptr().addr(),
            name.len(),
            labels.as_ptr().addr(),
            labels.len(),
        ])
    }
}

impl<S> Entry<S> {
    /// Whether this is the entry of `key`: at once if `key` shares its
    /// parts; otherwise compared in full.
    #[inline(always)]
    fn is(&self, key: &Key) -> bool {
        self.key.get_hash() == key.get_hash()
            && (self.parts.same(Parts::of(key)) || self.key == *key)
    }
}

impl<S> Table<S> {
    /// The handle of `key`, from this table or else made by `resolve` and
    /// kept if the table has fewer than `max` (`None` when full and `key`
    /// is not in it).
    ///
    /// Inlined into the recorder, up to the key's home slot, where a key
    /// is unless another key took it first.
    #[inline(always)]
    pub(crate) fn get_or_resolve(
        &mut self,
        key: &Key,
        max: usize,
        resolve: impl FnOnce() -> Arc<S>,
    ) -> Option<Arc<Local<S>>> {
        // Truncating the hash: only its low bits pick the slot.
        #[allow(clippy::cast_possible_truncation)]
        let home = key.get_hash() as usize & self.entries.len().wrapping_sub(1);
        if let Some(Some(entry)) = self.entries.get(home) {
            if entry.is(key) {
                return Some(Arc::clone(&entry.handle));
            }
        }
        self.probe(key, max, resolve)
    }

    /// The rest of [`get_or_resolve`](Table::get_or_resolve): the slots
    /// after the home slot, then a new entry.
    #[inline(never)]
    fn probe(
        &mut self,
        key: &Key,
        max: usize,
        resolve: impl FnOnce() -> Arc<S>,
    ) -> Option<Arc<Local<S>>> {
        let mask = self.entries.len().wrapping_sub(1);
        #[allow(clippy::cast_possible_truncation)]
        let mut at = key.get_hash() as usize;
        for _ in 0..self.entries.len() {
            match &self.entries[at & mask] {
                Some(entry) if entry.is(key) => return Some(Arc::clone(&entry.handle)),
                Some(_) => at = (at & mask) + 1,
                None => break,
            }
        }
        self.insert(key, max, resolve)
    }

    #[cold]
    fn insert(
        &mut self,
        key: &Key,
        max: usize,
        resolve: impl FnOnce() -> Arc<S>,
    ) -> Option<Arc<Local<S>>> {
        if self.len >= max {
            return None;
        }
        if 2 * (self.len + 1) > self.entries.len() {
            self.grow();
        }
        let handle = Local::new(resolve());
        let key = key.clone();
        self.put(Entry {
            parts: Parts::of(&key),
            key,
            handle: Arc::clone(&handle),
        });
        self.len += 1;
        Some(handle)
    }

    fn grow(&mut self) {
        let capacity = (2 * self.entries.len()).max(8);
        let old = std::mem::replace(&mut self.entries, (0..capacity).map(|_| None).collect());
        for entry in old.into_iter().flatten() {
            self.put(entry);
        }
    }

    /// Stores `entry` in the first free slot from its hash's (there is one:
    /// the table is at most half full).
    fn put(&mut self, entry: Entry<S>) {
        let mask = self.entries.len() - 1;
        #[allow(clippy::cast_possible_truncation)]
        let mut at = entry.key.get_hash() as usize & mask;
        while self.entries[at].is_some() {
            at = (at + 1) & mask;
        }
        self.entries[at] = Some(entry);
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl<S> Default for Table<S> {
    fn default() -> Table<S> {
        Table {
            entries: Vec::new(),
            len: 0,
        }
    }
}

/// A thread's handles, by kind.
#[derive(Default)]
pub(crate) struct Handles {
    pub(crate) counters: Table<Counter>,
    pub(crate) gauges: Table<GaugeCell>,
    pub(crate) histograms: Table<Scaled>,
}

impl std::fmt::Debug for Handles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handles")
            .field("counters", &self.counters.len())
            .field("gauges", &self.gauges.len())
            .field("histograms", &self.histograms.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve() -> Arc<Counter> {
        Arc::new(Counter::new())
    }

    #[test]
    fn a_key_finds_its_handle_by_its_parts_or_in_full() {
        static LABELS: [metrics::Label; 1] = [metrics::Label::from_static_parts("route", "/a")];
        static KEY: Key = Key::from_static_parts("requests", &LABELS);
        let mut table = Table::default();
        let first = table.get_or_resolve(&KEY, 8, resolve).unwrap();
        let again = table.get_or_resolve(&KEY, 8, || unreachable!()).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        // The same key from owned parts: not the same parts, equal in full.
        let owned = Key::from_parts(
            String::from("requests"),
            vec![metrics::Label::new("route", "/a")],
        );
        let found = table.get_or_resolve(&owned, 8, || unreachable!()).unwrap();
        assert!(Arc::ptr_eq(&first, &found));
        let other = Key::from_parts("requests", vec![metrics::Label::new("route", "/b")]);
        let second = table.get_or_resolve(&other, 8, resolve).unwrap();
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn the_table_grows_keeps_every_handle_and_stops_at_its_bound() {
        let n = if cfg!(miri) { 20 } else { 300 };
        let keys: Vec<Key> = (0..n).map(|i| Key::from_name(format!("k{i}"))).collect();
        let mut table = Table::default();
        let handles: Vec<_> = keys
            .iter()
            .map(|k| table.get_or_resolve(k, n, resolve).unwrap())
            .collect();
        for (key, handle) in keys.iter().zip(&handles) {
            let found = table.get_or_resolve(key, n, || unreachable!()).unwrap();
            assert!(Arc::ptr_eq(handle, &found));
        }
        assert!(table
            .get_or_resolve(&Key::from_name("one more"), n, resolve)
            .is_none());
        assert_eq!(table.len(), n);
        assert!(table.entries.len() >= 2 * n);
    }
}
