//! Writes the calling thread's `rng` stream to stdout as raw bytes, for
//! statistical test suites such as PractRand (`RNG_test stdin64`) or
//! dieharder (`-g 200`).
//!
//! ```text
//! cargo run --release --example rng_stream -- --seed 7 --bytes 1048576 > sample.bin
//! cargo run --release --example rng_stream -- --stream | RNG_test stdin64 -tlmax 1GB
//! cargo run --release --example rng_stream -- --stream --source u64 | RNG_test stdin64
//! ```
//!
//! It writes `--bytes N` bytes, or with `--stream` until the reader closes
//! the pipe; with neither it prints its usage and writes nothing. It never
//! writes to a terminal. A write error other than a closed pipe (a full
//! disk, say) is reported, with exit status 1.
//!
//! The stream goes through the per-thread path. By default it alternates
//! the two ways it hands out raw bits: 4 KiB from `rng::fill` (the eight
//! lanes, seeded afresh by each fill) and 512 words from `rng::u64` (on an
//! unseeded thread, the block the lanes refill), little-endian; `--source
//! fill` or `--source u64` writes one of them alone. With `--seed S` it is
//! `rng::seed(S)`'s stream (its words step the state itself, no block);
//! without, a fresh seed from the operating system.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use threadkit::rng;

const USAGE: &str =
    "usage: rng_stream [--seed S] [--source both|fill|u64] (--bytes N | --stream) > FILE
  --bytes N   write N bytes of the stream, then stop
  --stream    write until the reader closes the pipe (for PractRand, dieharder)
  --seed S    the stream of rng::seed(S) (default: seeded by the OS)
  --source    rng::fill's 4 KiB blocks, rng::u64's words, or both in turn (default)
Writes raw bytes to stdout, which must be a file or a pipe, not a terminal.";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut limit = None;
    let mut source = Source::Both;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--stream" => limit = Some(u64::MAX),
            "--source" => {
                source = match args.next().as_deref() {
                    Some("both") => Source::Both,
                    Some("fill") => Source::Fill,
                    Some("u64") => Source::U64,
                    _ => return usage("--source takes both, fill or u64"),
                }
            }
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
    match write_stream(limit, source) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader has what it wanted (`head -c`, a test suite that stopped).
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rng_stream: writing the stream failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Which of the thread's ways of handing out bits the stream shows.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    Both,
    Fill,
    U64,
}

fn write_stream(limit: u64, source: Source) -> io::Result<()> {
    let mut out = io::stdout().lock();
    let mut buffer = vec![0u8; 8192];
    let mut written = 0u64;
    while written < limit {
        for (i, half) in buffer.chunks_exact_mut(4096).enumerate() {
            let fill = match source {
                Source::Both => i == 0,
                Source::Fill => true,
                Source::U64 => false,
            };
            if fill {
                rng::fill(half);
            } else {
                for word in half.chunks_exact_mut(8) {
                    word.copy_from_slice(&rng::u64().to_le_bytes());
                }
            }
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
