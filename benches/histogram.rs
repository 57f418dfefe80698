//! `Histogram::record` against the shared histograms a user would otherwise
//! pick, in one process with rounds interleaved (see
//! `common/interleave.rs`).
//!
//! Run with `cargo bench --bench histogram`. Every case records latency-like
//! values (1 µs to 10 ms in nanoseconds, log-uniform, from a table of 1 024
//! read in turn), on t=1 and t=2 threads at once, in a tight loop (`loop`)
//! and through an `#[inline(never)]` function per record (`call`):
//!
//! - `threadkit Histogram`: a `static`, 6 bits (0.78 %).
//! - `Mutex<hdrhistogram>`: `hdrhistogram::Histogram<u64>` with 2
//!   significant digits (its closest precision: 1 %) behind a `Mutex`.
//! - `shared atomic buckets`: the same log-linear layout as threadkit's, as
//!   one shared array of `AtomicU64`, plus a shared sum: a `fetch_add` on
//!   the value's bucket and one on the sum per record (no min or max).

#[path = "common/interleave.rs"]
mod interleave;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use interleave::{compare, Case, Options};
use threadkit::Histogram;

fn main() {
    let options = Options::from_args();
    options.header("Histogram::record against shared histograms");
    values();
    hdr();
    compare(&options, "record, loop", &LOOP);
    compare(&options, "record, call", &CALL);
}

/// 1 024 values, log-uniform over 1 µs ..= 10 ms in nanoseconds.
fn values() -> &'static [u64; 1024] {
    static VALUES: OnceLock<[u64; 1024]> = OnceLock::new();
    VALUES.get_or_init(|| {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        std::array::from_fn(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let unit = (state >> 11) as f64 / (1_u64 << 53) as f64;
            (1_000.0 * 10_000_f64.powf(unit)) as u64
        })
    })
}

static THREADKIT: Histogram = Histogram::new();

fn hdr() -> &'static Mutex<hdrhistogram::Histogram<u64>> {
    static HDR: OnceLock<Mutex<hdrhistogram::Histogram<u64>>> = OnceLock::new();
    HDR.get_or_init(|| Mutex::new(hdrhistogram::Histogram::new_with_bounds(1, 1 << 40, 2).unwrap()))
}

/// One shared array of atomic buckets, in threadkit's layout at 6 bits.
mod atomic_buckets {
    use super::*;

    const BITS: u32 = 6;
    static BUCKETS: [AtomicU64; 59 * 64] = [const { AtomicU64::new(0) }; 59 * 64];
    static SUM: AtomicU64 = AtomicU64::new(0);

    #[inline]
    pub(crate) fn record(value: u64) {
        let exponent = 63 - (value | 1).leading_zeros();
        let at = if exponent < BITS {
            value as usize
        } else {
            let shift = exponent - BITS;
            (shift as usize + 1) * 64 + ((value >> shift) as usize & 63)
        };
        BUCKETS[at].fetch_add(1, Ordering::Relaxed);
        SUM.fetch_add(value, Ordering::Relaxed);
    }
}

#[inline]
fn record_hdr(value: u64) {
    hdr().lock().unwrap().record(value).unwrap();
}

/// One record per call, as at a user's call site.
mod call {
    #[inline(never)]
    pub(crate) fn threadkit(value: u64) {
        super::THREADKIT.record(value);
    }

    #[inline(never)]
    pub(crate) fn hdr(value: u64) {
        super::record_hdr(value);
    }

    #[inline(never)]
    pub(crate) fn atomic(value: u64) {
        super::atomic_buckets::record(value);
    }
}

/// Runs `record` on `iters` values read in turn from the table.
#[inline(always)]
fn each_value(iters: u64, record: impl Fn(u64)) {
    let values = black_box(values());
    for i in 0..iters {
        record(values[i as usize % 1024]);
    }
}

const LOOP: [Case; 3] = [
    Case::new("Mutex<hdrhistogram>", |iters| each_value(iters, record_hdr)),
    Case::new("shared atomic buckets", |iters| {
        each_value(iters, atomic_buckets::record);
    }),
    Case::new("threadkit Histogram", |iters| {
        each_value(iters, |v| THREADKIT.record(v));
    }),
];

const CALL: [Case; 3] = [
    Case::new("Mutex<hdrhistogram>", |iters| each_value(iters, call::hdr)),
    Case::new("shared atomic buckets", |iters| {
        each_value(iters, call::atomic)
    }),
    Case::new("threadkit Histogram", |iters| {
        each_value(iters, call::threadkit)
    }),
];
