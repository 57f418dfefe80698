//! A global configuration with a test-style override on one thread.
//!
//! Run with `cargo run --example context_override`. One worker runs under an
//! overridden configuration (as a test would, to force a code path), while
//! the others keep seeing the global one; the override is gone once its
//! scope ends.

use std::sync::Barrier;
use std::thread;

use threadkit::context::Context;

#[derive(Debug, Clone, PartialEq)]
struct Config {
    name: &'static str,
    retries: u32,
    compress: bool,
}

static CONFIG: Context<Config> = Context::new();

/// What the library uses if the program never configured it.
const DEFAULT: Config = Config {
    name: "default",
    retries: 1,
    compress: false,
};

/// Library code: reads the configuration on every call, with a default if
/// none was ever set.
fn send(payload: &str) -> String {
    CONFIG.with(|config| {
        let config = config.unwrap_or(&DEFAULT);
        let body = if config.compress {
            format!("zip({payload})")
        } else {
            payload.to_string()
        };
        format!("[{}] {body} (retries {})", config.name, config.retries)
    })
}

fn main() {
    println!("not configured: {}", send("hello"));
    assert!(send("hello").starts_with("[default]"));
    CONFIG
        .set_global(Config {
            name: "production",
            retries: 3,
            compress: true,
        })
        .expect("set once");

    let overridden = Barrier::new(4);
    let checked = Barrier::new(4);
    thread::scope(|s| {
        // The "test": a failing-network configuration, on this thread only.
        s.spawn(|| {
            let flaky = Config {
                name: "flaky-network test",
                retries: 0,
                compress: false,
            };
            CONFIG.scope(flaky, || {
                overridden.wait();
                println!("test thread   : {}", send("ping"));
                assert!(send("ping").starts_with("[flaky-network test]"));
                checked.wait();
            });
            println!("after its scope: {}", send("ping"));
            assert!(send("ping").starts_with("[production]"));
        });
        // Workers running at the same time see the global configuration.
        for worker in 0..3 {
            let (overridden, checked) = (&overridden, &checked);
            s.spawn(move || {
                overridden.wait();
                let line = send(&format!("job {worker}"));
                assert!(line.starts_with("[production]"), "{line}");
                println!("worker {worker}      : {line}");
                checked.wait();
            });
        }
    });

    // A guard form for setups that do not nest neatly.
    let guard = CONFIG.set_local(Config {
        name: "main-thread debug",
        retries: 1,
        compress: false,
    });
    println!("guarded main  : {}", send("status"));
    drop(guard);
    println!("main again    : {}", send("status"));
    assert_eq!(CONFIG.get().map(|c| c.name), Some("production"));
}
