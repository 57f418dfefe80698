//! A context override that follows an async task across threads.
//!
//! `cargo run --release --example context_async`
//!
//! A multi-threaded tokio runtime moves tasks between its workers at
//! `.await` points, so an override tied to a thread (`scope`, `set_local`)
//! would be seen by whichever task runs there next. `scope_future` installs
//! the override around each poll of one task instead. The program runs
//! until a task has in fact moved between workers, and says so.

use std::collections::HashSet;
use std::thread;
use std::time::Duration;

use threadkit::context::Context;

/// The request being served, for logging deep in the call stack.
static REQUEST_ID: Context<u64> = Context::new();

fn log(message: &str) -> String {
    let id = REQUEST_ID
        .get()
        .map_or("-".to_string(), |id| id.to_string());
    format!("[request {id}] {message}")
}

/// A handler that awaits often, and checks it always sees its own request.
/// Each step also holds its worker thread for a moment (as a slow,
/// CPU-bound step would), so that idle workers steal the tasks queued
/// behind it: that is what moves tasks between threads.
async fn handle(id: u64) -> HashSet<thread::ThreadId> {
    let mut threads = HashSet::new();
    for step in 0..50 {
        assert_eq!(REQUEST_ID.get(), Some(id), "step {step}");
        threads.insert(thread::current().id());
        thread::sleep(Duration::from_micros(100));
        tokio::task::yield_now().await;
    }
    threads
}

fn main() {
    REQUEST_ID.set_global(0).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    // Which worker runs a task is the scheduler's choice: run rounds until
    // a task has moved, so the headline is shown, not hoped for.
    for round in 1..=20 {
        let moved = runtime.block_on(async {
            let tasks: Vec<_> = (1..=8)
                .map(|id| tokio::spawn(REQUEST_ID.scope_future(id, handle(id))))
                .collect();
            // A task without an override sees the global value.
            let plain = tokio::spawn(async { REQUEST_ID.get() });
            assert_eq!(plain.await.unwrap(), Some(0));
            let mut moved = 0;
            for task in tasks {
                if task.await.unwrap().len() > 1 {
                    moved += 1;
                }
            }
            moved
        });
        if moved > 0 {
            println!(
                "round {round}: 8 tasks, each saw its own request id after every one of its \
                 50 awaits; {moved} of them ran on more than one worker thread"
            );
            println!("{}", log("outside any task: the global value"));
            return;
        }
        println!("round {round}: no task changed threads; again");
    }
    eprintln!("no task moved between worker threads in 20 rounds: nothing shown");
    std::process::exit(1);
}
