//! [`Stats`]: a cache's hit, miss and eviction counts, and the per-slot
//! counters they are read from.

use std::iter::Sum;
use std::ops::{Add, AddAssign};

use crate::thread::count::OwnedCount;
use crate::thread::share::Part;

/// Hit, miss and eviction counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stats {
    /// Lookups answered from the thread's copy.
    pub hits: u64,
    /// Lookups that were not (each called its loader, if it had one).
    pub misses: u64,
    /// Entries dropped to make room.
    pub evictions: u64,
}

impl Stats {
    /// Hits and misses.
    #[must_use]
    pub fn lookups(&self) -> u64 {
        self.hits + self.misses
    }

    /// The share of lookups that hit, from 0.0 to 1.0 (0.0 with no lookups).
    #[must_use]
    pub fn hit_rate(&self) -> f64 {
        match self.lookups() {
            0 => 0.0,
            lookups => self.hits as f64 / lookups as f64,
        }
    }
}

impl Add for Stats {
    type Output = Stats;

    fn add(self, other: Stats) -> Stats {
        Stats {
            hits: self.hits + other.hits,
            misses: self.misses + other.misses,
            evictions: self.evictions + other.evictions,
        }
    }
}

impl AddAssign for Stats {
    fn add_assign(&mut self, other: Stats) {
        *self = *self + other;
    }
}

impl Sum for Stats {
    fn sum<I: Iterator<Item = Stats>>(iter: I) -> Stats {
        iter.fold(Stats::default(), Add::add)
    }
}

impl Part for Stats {
    fn merge(&mut self, other: Stats) {
        *self += other;
    }

    fn is_nothing(&self) -> bool {
        *self == Stats::default()
    }
}

/// A slot's counters, written only by its owner (a load and a store, no
/// read-modify-write), read by `stats` from any thread.
#[derive(Default)]
pub(super) struct SlotStats {
    hits: OwnedCount,
    misses: OwnedCount,
    evictions: OwnedCount,
}

impl SlotStats {
    /// Counts a hit. Owner only.
    #[inline]
    pub(super) fn hit(&self) {
        self.hits.add(1);
    }

    /// Counts a miss. Owner only.
    #[inline]
    pub(super) fn miss(&self) {
        self.misses.add(1);
    }

    /// Counts an eviction. Owner only.
    pub(super) fn evicted(&self) {
        self.evictions.add(1);
    }

    /// (What earlier owners of the slot counted, what the current one has.)
    pub(super) fn split(&self) -> (Stats, Stats) {
        let [hits, misses, evictions] =
            [&self.hits, &self.misses, &self.evictions].map(OwnedCount::split);
        (
            Stats {
                hits: hits.0,
                misses: misses.0,
                evictions: evictions.0,
            },
            Stats {
                hits: hits.1,
                misses: misses.1,
                evictions: evictions.1,
            },
        )
    }

    /// Marks everything so far as earlier owners'. New owner only.
    pub(super) fn hand_over(&self) {
        for count in [&self.hits, &self.misses, &self.evictions] {
            count.hand_over();
        }
    }
}
