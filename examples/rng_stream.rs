//! Writes the calling thread's `rng` stream to stdout, for statistical test
//! suites such as PractRand (`RNG_test stdin64`) or dieharder (`-g 200`).
//!
//! ```text
//! cargo run --release --example rng_stream | RNG_test stdin64 -tlmax 1GB
//! cargo run --release --example rng_stream -- --seed 7 --bytes 1048576 > sample.bin
//! ```
//!
//! The stream goes through the per-thread path, alternating the two ways it
//! hands out raw bits: 4 KiB blocks from `rng::fill` and 512 words from
//! `rng::u64`, little-endian. With `--seed S` it is `rng::seed(S)`'s stream;
//! without, a fresh seed from the operating system. It stops after
//! `--bytes N` bytes, or when the reader closes the pipe.

use std::io::{self, Write};

use threadkit::rng;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut limit = u64::MAX;
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse::<u64>().ok());
        match (arg.as_str(), value) {
            ("--bytes", Some(n)) => limit = n,
            ("--seed", Some(s)) => rng::seed(s),
            _ => {
                eprintln!("usage: rng_stream [--seed S] [--bytes N]");
                std::process::exit(2);
            }
        }
    }
    let mut out = io::stdout().lock();
    let mut buffer = vec![0u8; 8192];
    let mut written = 0u64;
    while written < limit {
        let (block, words) = buffer.split_at_mut(4096);
        rng::fill(block);
        for word in words.chunks_exact_mut(8) {
            word.copy_from_slice(&rng::u64().to_le_bytes());
        }
        let take = buffer.len().min((limit - written) as usize);
        if out.write_all(&buffer[..take]).is_err() {
            return; // the reader is done
        }
        written += take as u64;
    }
}
