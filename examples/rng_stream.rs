//! Writes the calling thread's `rng` stream to stdout as raw bytes, for
//! statistical test suites such as PractRand (`RNG_test stdin64`) or
//! dieharder (`-g 200`).
//!
//! ```text
//! cargo run --release --example rng_stream -- --seed 7 --bytes 1048576 > sample.bin
//! cargo run --release --example rng_stream -- --stream | RNG_test stdin64 -tlmax 1GB
//! ```
//!
//! It writes `--bytes N` bytes, or with `--stream` until the reader closes
//! the pipe; with neither it prints its usage and writes nothing. It never
//! writes to a terminal. A write error other than a closed pipe (a full
//! disk, say) is reported, with exit status 1.
//!
//! The stream goes through the per-thread path, alternating the two ways it
//! hands out raw bits: 4 KiB blocks from `rng::fill` and 512 words from
//! `rng::u64`, little-endian. With `--seed S` it is `rng::seed(S)`'s stream;
//! without, a fresh seed from the operating system.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use threadkit::rng;

const USAGE: &str = "usage: rng_stream [--seed S] (--bytes N | --stream) > FILE
  --bytes N   write N bytes of the stream, then stop
  --stream    write until the reader closes the pipe (for PractRand, dieharder)
  --seed S    the stream of rng::seed(S) (default: seeded by the OS)
Writes raw bytes to stdout, which must be a file or a pipe, not a terminal.";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut limit = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--stream" => limit = Some(u64::MAX),
            "--bytes" | "--seed" => {
                let Some(value) = args.next().and_then(|v| v.parse::<u64>().ok()) else {
                    return usage(&format!("{arg} needs a number"));
                };
                if arg == "--bytes" {
                    limit = Some(value);
                } else {
                    rng::seed(value);
                }
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => return usage(&format!("unknown argument {arg:?}")),
        }
    }
    let Some(limit) = limit else {
        return usage("say how much: --bytes N, or --stream for no end");
    };
    if io::stdout().is_terminal() {
        return usage("stdout is a terminal: redirect it to a file or a pipe");
    }
    match write_stream(limit) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader has what it wanted (`head -c`, a test suite that stopped).
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rng_stream: writing the stream failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write_stream(limit: u64) -> io::Result<()> {
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
        out.write_all(&buffer[..take])?;
        written += take as u64;
    }
    out.flush()
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("rng_stream: {problem}\n{USAGE}");
    ExitCode::from(2)
}
