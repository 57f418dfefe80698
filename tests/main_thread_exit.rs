//! The main thread's teardown runs at process exit, on every target: a value
//! the main thread keeps in a `PerLiveThread` is dropped, and the pending
//! amounts of its counters and histogram are flushed, by the time `exit`
//! runs the program's own `atexit` handlers (those registered before the
//! thread's first use of the crate).
//!
//! With glibc that is std's thread-local destructors, which `exit` runs
//! before any handler; where std runs none for the main thread (musl;
//! Windows under Wine), an `atexit` handler the crate registers at the
//! process's first use of its thread-local guard (see `src/thread/exit.rs`).
//!
//! A test without libtest's harness, which runs itself again as a child
//! process, so that the child's `main` is a process's main thread and its
//! exit is a real one: the child writes what its `atexit` handler saw to a
//! file, and the parent checks it (through `THREADKIT_TEST_EMULATOR` under
//! an emulator; not under Miri, which runs no other process).

use std::ffi::c_int;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use threadkit::registry::PerLiveThread;
use threadkit::{Counter, Histogram};

mod common;

/// Set in the child, to the file it reports to.
const CHILD: &str = "THREADKIT_MAIN_THREAD_EXIT_REPORT";

static DROPPED: AtomicBool = AtomicBool::new(false);
static SAW_HANDLE: AtomicBool = AtomicBool::new(false);
static REPORT: OnceLock<PathBuf> = OnceLock::new();

static COUNTER: Counter = Counter::with_batch(1_000);
static HISTOGRAM: Histogram = Histogram::new();
threadkit::counter! {
    static DECLARED(batch = 1_000);
}

struct Flag;

impl Drop for Flag {
    fn drop(&mut self) {
        let named_main = std::panic::catch_unwind(|| std::thread::current().name() == Some("main"));
        SAW_HANDLE.store(named_main.unwrap_or(false), Ordering::Relaxed);
        DROPPED.store(true, Ordering::Relaxed);
    }
}

static VALUES: PerLiveThread<Flag> = PerLiveThread::new();

extern "C" {
    // C's, in the C runtime std links against.
    fn atexit(handler: extern "C" fn()) -> c_int;
}

/// The child's `atexit` handler, registered before the main thread first
/// uses the crate: what it sees of the main thread's teardown.
extern "C" fn report() {
    let report = format!(
        "dropped={} saw_handle={} counter={}/{} declared={}/{} recorded={}",
        DROPPED.load(Ordering::Relaxed),
        SAW_HANDLE.load(Ordering::Relaxed),
        COUNTER.approx(),
        COUNTER.sum(),
        DECLARED.approx(),
        DECLARED.sum(),
        HISTOGRAM.snapshot().count(),
    );
    let path = REPORT.get().expect("set in the child's main");
    std::fs::write(path, report).expect("the report is written");
}

fn child(report_to: PathBuf) {
    REPORT.set(report_to).unwrap();
    // SAFETY: a handler of the C type, which reads atomics and the crate's
    // totals and writes a file.
    assert_eq!(unsafe { atexit(report) }, 0);
    VALUES.with_or(|| Flag, |_| ());
    COUNTER.add(5);
    DECLARED.add(7);
    HISTOGRAM.record(1_500);
    // Not flushed: a batch is 1 000.
    assert_eq!((COUNTER.approx(), COUNTER.sum()), (0, 5));
    assert_eq!((DECLARED.approx(), DECLARED.sum()), (0, 7));
    assert!(!DROPPED.load(Ordering::Relaxed), "dropped while running");
}

fn main() {
    if let Some(report_to) = std::env::var_os(CHILD) {
        return child(report_to.into());
    }
    if cfg!(miri) {
        return; // no child processes under Miri
    }
    let report_to = std::env::temp_dir().join(format!(
        "threadkit-main-thread-exit-{}.txt",
        std::process::id()
    ));
    let exe = std::env::current_exe().unwrap();
    let mut command = match common::emulator() {
        Some(emulator) => {
            let mut command = std::process::Command::new(&emulator[0]);
            command.args(&emulator[1..]).arg(exe);
            command
        }
        None => std::process::Command::new(exe),
    };
    let status = command
        .env(CHILD, &report_to)
        .status()
        .expect("the test runs itself as a child");
    assert!(status.success(), "the child failed: {status}");
    let report = std::fs::read_to_string(&report_to).expect("the child wrote its report");
    let _ = std::fs::remove_file(&report_to);
    // Every field: the value dropped on its own thread, which std still
    // named; counts flushed into the totals by the thread's exit hooks.
    let expected = "dropped=true saw_handle=true counter=5/5 declared=7/7 recorded=1";
    if report != expected {
        eprintln!("main thread's teardown at process exit: {report}, expected {expected}");
        std::process::exit(1);
    }
    println!("main thread's teardown ran at process exit: {report}");
}
