//! Estimating π on every core: each thread draws from its own generator
//! (`threadkit::rng`), against the same work drawing from one shared
//! `Mutex<Rng>`.
//!
//! ```text
//! cargo run --release --example monte_carlo
//! ```

use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use threadkit::rng::{self, Rng};

/// Points inside the quarter circle out of `samples`, from `point()`.
fn hits(samples: u64, mut point: impl FnMut() -> (f64, f64)) -> u64 {
    (0..samples)
        .filter(|_| {
            let (x, y) = point();
            x * x + y * y <= 1.0
        })
        .count() as u64
}

fn run(threads: u64, per_thread: u64, work: impl Fn(u64) -> u64 + Sync) -> (f64, Duration) {
    let start = Instant::now();
    let inside: u64 = thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(|| work(per_thread))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    (
        4.0 * inside as f64 / (threads * per_thread) as f64,
        start.elapsed(),
    )
}

fn main() {
    let threads = thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let per_thread = 20_000_000;
    println!("π by Monte Carlo: {threads} threads × {per_thread} points\n");

    let (pi, local) = run(threads, per_thread, |n| {
        hits(n, || (rng::f64(), rng::f64()))
    });
    let shared = Mutex::new(Rng::from_entropy());
    let shared_n = per_thread / 20; // it is slow: fewer points, same rate
    let (pi_shared, locked) = run(threads, shared_n, |n| {
        hits(n, || {
            let mut rng = shared.lock().unwrap();
            (rng.f64(), rng.f64())
        })
    });

    let rate = |points: u64, d: Duration| (threads * points) as f64 / d.as_secs_f64() / 1e6;
    println!(
        "per-thread rng::f64     π ≈ {pi:.5}  {:>8.1} M points/s",
        rate(per_thread, local)
    );
    println!(
        "shared Mutex<Rng>       π ≈ {pi_shared:.5}  {:>8.1} M points/s",
        rate(shared_n, locked)
    );
    println!(
        "speed-up: {:.1}×   (error of the per-thread estimate: {:.1e})",
        rate(per_thread, local) / rate(shared_n, locked),
        (pi - std::f64::consts::PI).abs()
    );

    // Reproducible runs: one seeded stream per worker, forked from one seed.
    let mut root = Rng::with_seed(2024);
    let mut workers: Vec<Rng> = (0..threads).map(|_| root.fork()).collect();
    let again: Vec<u64> = workers.iter_mut().map(|w| w.u64()).collect();
    let mut root = Rng::with_seed(2024);
    let replay: Vec<u64> = (0..threads).map(|_| root.fork().u64()).collect();
    assert_eq!(again, replay);
    println!(
        "\nseeded forks replay exactly: {:?}",
        &again[..again.len().min(2)]
    );
}
