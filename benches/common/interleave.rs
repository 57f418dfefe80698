//! A same-process A/B harness with rounds interleaved.
//!
//! divan times one benchmark after another; on a noisy VM a ratio between two
//! of them swings with whatever else the host did in between. Here every
//! round times each case once, in an order that alternates between rounds
//! (first to last, then last to first), on `t` threads at once. A case's
//! figures are its fastest round and its median round, each divided by the
//! first case's in the ratio columns. The two differ when a case is
//! bimodal (on AMD EPYC, a loop-carried store-to-load chain through a
//! `RefCell`'s borrow flag runs at 0.36 ns for a few rounds and 1.69 ns for
//! the rest); quote both. Run the whole binary several times and report the
//! range. `INTERLEAVE_ROUNDS=1` prints every round.
//!
//! `cargo bench --bench NAME [-- FILTER] [--rounds N] [--iters N]`. Without
//! `--bench` (as `cargo test --benches` runs it) every case runs once, briefly,
//! as a smoke test.

// Each bench binary uses part of this module.
#![allow(dead_code)]

use std::hint::black_box;
use std::sync::{Barrier, Mutex};
use std::time::Instant;

/// One operation to time.
pub struct Case {
    /// Shown in the table.
    pub name: &'static str,
    /// Runs on each benchmark thread before its first round, untimed.
    pub setup: fn(),
    /// Performs the operation `iters` times.
    pub run: fn(u64),
}

impl Case {
    pub const fn new(name: &'static str, run: fn(u64)) -> Case {
        Case {
            name,
            setup: || {},
            run,
        }
    }

    pub const fn with_setup(name: &'static str, setup: fn(), run: fn(u64)) -> Case {
        Case { name, setup, run }
    }
}

/// Command-line options, shared by every group of one binary.
pub struct Options {
    bench: bool,
    filter: Option<String>,
    rounds: usize,
    iters: u64,
    threads: Vec<usize>,
}

impl Options {
    pub fn from_args() -> Options {
        let mut args = std::env::args().skip(1);
        let mut bench = false;
        let mut filter = None;
        let mut rounds = 30;
        let mut iters = 1_000_000;
        let mut threads = vec![1, 2];
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--bench" => bench = true,
                "--rounds" => rounds = parse(args.next(), "--rounds"),
                "--iters" => iters = parse(args.next(), "--iters"),
                "--threads" => threads = vec![parse(args.next(), "--threads")],
                flag if flag.starts_with("--") => {} // cargo's own flags
                name => filter = Some(name.to_owned()),
            }
        }
        if !bench {
            rounds = 1;
            iters = 100;
        }
        Options {
            bench,
            filter,
            rounds,
            iters,
            threads,
        }
    }

    /// Prints the CPU model and the settings: every table needs them.
    /// Whether a group of this name runs (the command line may filter).
    pub fn wants(&self, group: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| group.contains(f))
    }

    /// Whether this is a timing run (`--bench`), not a smoke test.
    pub fn timing(&self) -> bool {
        self.bench
    }

    pub fn header(&self, title: &str) {
        println!("# {title}");
        println!("cpu: {}", cpu_model());
        println!(
            "rounds: {}, iterations per round per thread: {}; ns per op; ratios against the first row of each table",
            self.rounds, self.iters
        );
    }
}

fn parse<T: std::str::FromStr>(value: Option<String>, flag: &str) -> T {
    value
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{flag} takes a number"))
}

/// The first "model name" of `/proc/cpuinfo`, or "unknown".
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Times `cases` against each other at every thread count and prints a
/// table per thread count. The first case is the baseline.
pub fn compare(options: &Options, group: &str, cases: &[Case]) {
    compare_scaled(options, group, 1, cases);
}

/// As [`compare`], for operations `scale` times dearer than a single draw:
/// each round runs `iters / scale` of them (at least one).
pub fn compare_scaled(options: &Options, group: &str, scale: u64, cases: &[Case]) {
    let options = &Options {
        bench: options.bench,
        filter: options.filter.clone(),
        rounds: options.rounds,
        iters: (options.iters / scale).max(1),
        threads: options.threads.clone(),
    };
    if !options.wants(group) {
        return;
    }
    for &t in &options.threads {
        let per_round = run_rounds(options, cases, t);
        println!("\n## {group}, t={t}");
        println!("| case | fastest ns/op | median ns/op | ratio, fastest | ratio, median |");
        println!("|---|---|---|---|---|");
        let best = |c: usize| per_round[c].iter().copied().fold(f64::INFINITY, f64::min);
        let median = |c: usize| {
            let mut sorted = per_round[c].clone();
            sorted.sort_by(f64::total_cmp);
            sorted[sorted.len() / 2]
        };
        let (base, base_median) = (best(0), median(0));
        for (c, case) in cases.iter().enumerate() {
            if std::env::var_os("INTERLEAVE_ROUNDS").is_some() {
                let rounds: Vec<String> = per_round[c].iter().map(|r| format!("{r:.2}")).collect();
                println!("<!-- {}: {} -->", case.name, rounds.join(" "));
            }
            println!(
                "| {} | {:.3} | {:.3} | {:.2} | {:.2} |",
                case.name,
                best(c),
                median(c),
                best(c) / base,
                median(c) / base_median
            );
        }
    }
}

/// `result[case][round]`: ns per op, averaged over the threads.
fn run_rounds(options: &Options, cases: &[Case], t: usize) -> Vec<Vec<f64>> {
    let barrier = Barrier::new(t);
    let totals = Mutex::new(vec![vec![0.0; options.rounds]; cases.len()]);
    std::thread::scope(|s| {
        for _ in 0..t {
            s.spawn(|| {
                for case in cases {
                    (case.setup)();
                }
                // Warm up each case once.
                for case in cases {
                    (case.run)(black_box(options.iters / 10 + 1));
                }
                let mut mine = vec![Vec::with_capacity(options.rounds); cases.len()];
                for round in 0..options.rounds {
                    for i in 0..cases.len() {
                        let c = if round % 2 == 0 {
                            i
                        } else {
                            cases.len() - 1 - i
                        };
                        barrier.wait();
                        let start = Instant::now();
                        (cases[c].run)(black_box(options.iters));
                        let elapsed = start.elapsed();
                        mine[c].push(elapsed.as_nanos() as f64 / options.iters as f64);
                    }
                }
                let mut totals = totals.lock().unwrap();
                for (total, mine) in totals.iter_mut().zip(mine) {
                    for (t, m) in total.iter_mut().zip(mine) {
                        *t += m;
                    }
                }
            });
        }
    });
    let mut totals = totals.into_inner().unwrap();
    for case in &mut totals {
        for round in case.iter_mut() {
            *round /= t as f64;
        }
    }
    totals
}
