//! `threadkit::metrics::Recorder` through the facade's macros: exact totals
//! from threads that record at once and exit, the exposition parsed by a
//! Prometheus text-format parser, and the values the facade may pass.
//!
//! Not under Miri: the parser compiles regular expressions, which takes
//! minutes there (294 s for this file); the recorder's unit tests in
//! `src/metrics/` run under Miri, threads exiting included, and this
//! module has no `unsafe` of its own.
#![cfg(not(miri))]

use std::collections::BTreeMap;

use prometheus_parse::{Sample, Scrape, Value};
use threadkit::metrics::{Handle, Recorder};

/// Records `n` requests of `route` with the facade's macros, as a server's
/// handler would (a key looked up on every call).
fn serve(route: &'static str, n: u64) {
    for i in 0..n {
        metrics::counter!("requests_total", "route" => route).increment(1);
        // 1, 2 or 3 ms: far from every default bucket bound.
        metrics::histogram!("request_seconds", "route" => route).record((1 + i % 3) as f64 / 1e3);
    }
}

/// The exposition, parsed; panics if it does not parse.
fn scrape(handle: &Handle) -> (String, Vec<Sample>) {
    let text = handle.render_prometheus();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    // At a fixed time: `parse` reads the clock for each sample.
    let scrape =
        Scrape::parse_at(lines, Default::default()).unwrap_or_else(|e| panic!("{e}: {text}"));
    (text, scrape.samples)
}

/// The value of the sample `metric` with exactly `labels`.
fn value(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> Value {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            let have: BTreeMap<String, String> = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            s.metric == metric && have == want
        })
        .collect();
    assert_eq!(found.len(), 1, "{metric} {labels:?} in {samples:#?}");
    found[0].value.clone()
}

fn scalar(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> f64 {
    match value(samples, metric, labels) {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
        other => panic!("{metric}: {other:?}"),
    }
}

#[test]
fn totals_are_exact_with_threads_recording_at_once_and_exiting() {
    let recorder = Recorder::new();
    let handle = recorder.handle();
    let threads = 8;
    let per_thread = 3_000;
    std::thread::scope(|s| {
        for t in 0..threads {
            let recorder = &recorder;
            s.spawn(move || {
                metrics::with_local_recorder(recorder, || {
                    // Half the threads serve a few and exit at once.
                    let n = if t % 2 == 0 { per_thread } else { 7 };
                    serve(if t % 4 < 2 { "/a" } else { "/b" }, n);
                });
            });
        }
        // A reading while they record parses, and is never above the end.
        let (_, samples) = scrape(&handle);
        for sample in samples.iter().filter(|s| s.metric == "requests_total") {
            let Value::Counter(v) = sample.value else {
                panic!("{sample:?}")
            };
            assert!(v <= (threads * per_thread) as f64);
        }
    });
    let (text, samples) = scrape(&handle);
    let routes = [
        ("/a", threads / 4 * (per_thread + 7)),
        ("/b", threads / 4 * (per_thread + 7)),
    ];
    for (route, n) in routes {
        assert_eq!(
            scalar(&samples, "requests_total", &[("route", route)]),
            n as f64,
            "{text}"
        );
        let Value::Histogram(buckets) = value(&samples, "request_seconds", &[("route", route)])
        else {
            panic!("{text}")
        };
        let at = |le: f64| buckets.iter().find(|b| b.less_than == le).unwrap().count;
        // Each thread's i % 3 cycle: 1 ms at i = 0, 3, 6, …; 3 ms at 2, 5, ….
        let per_thread_counts = |n: u64| (n.div_ceil(3), (n + 1) / 3, n / 3);
        let (mut one, mut two, mut three) = (0, 0, 0);
        for _ in 0..threads / 4 {
            for n in [per_thread, 7] {
                let (a, b, c) = per_thread_counts(n);
                (one, two, three) = (one + a, two + b, three + c);
            }
        }
        assert_eq!(at(0.0025), (one + two) as f64, "{text}");
        assert_eq!(at(0.005), n as f64, "{text}");
        assert_eq!(at(f64::INFINITY), n as f64, "{text}");
        let count = scalar_of(
            &text,
            &format!("request_seconds_count{{route=\"{route}\"}}"),
        );
        let sum = scalar_of(&text, &format!("request_seconds_sum{{route=\"{route}\"}}"));
        assert_eq!(count, n as f64);
        let exact = (one + 2 * two + 3 * three) as f64 / 1e3;
        assert!((sum - exact).abs() < 1e-9, "{sum} vs {exact}");
        assert_eq!(three, n - one - two);
    }
}

/// The value on the line starting with `series ` in `text`.
fn scalar_of(text: &str, series: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{series} ")))
        .unwrap_or_else(|| panic!("no {series} in {text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn gauges_set_increment_and_decrement_and_the_last_set_wins() {
    let recorder = Recorder::new();
    metrics::with_local_recorder(&recorder, || {
        metrics::gauge!("temperature").set(20.5);
        metrics::gauge!("temperature").increment(2.0);
        metrics::gauge!("temperature").decrement(0.5);
        metrics::gauge!("connections").increment(3.0);
    });
    std::thread::scope(|s| {
        s.spawn(|| {
            metrics::with_local_recorder(&recorder, || {
                metrics::gauge!("connections").decrement(1.0)
            })
        });
    });
    let (_, samples) = scrape(&recorder.handle());
    assert_eq!(scalar(&samples, "temperature", &[]), 22.0);
    assert_eq!(scalar(&samples, "connections", &[]), 2.0);
    std::thread::scope(|s| {
        s.spawn(|| {
            metrics::with_local_recorder(&recorder, || metrics::gauge!("temperature").set(-4.0))
        });
    });
    let (_, samples) = scrape(&recorder.handle());
    assert_eq!(scalar(&samples, "temperature", &[]), -4.0);
}

#[test]
fn descriptions_units_and_global_labels_reach_the_exposition() {
    let recorder = Recorder::builder()
        .label("service", "api")
        .recommended_naming(true)
        .build();
    metrics::with_local_recorder(&recorder, || {
        metrics::describe_counter!("jobs", "Jobs run.\nAll of them.");
        metrics::describe_histogram!("job", metrics::Unit::Seconds, "How long a job ran.");
        metrics::counter!("jobs", "service" => "batch").increment(4);
        metrics::histogram!("job").record(0.5);
    });
    let (text, samples) = scrape(&recorder.handle());
    assert!(
        text.contains("# HELP jobs_total Jobs run.\\nAll of them.\n"),
        "{text}"
    );
    assert!(text.contains("# TYPE jobs_total counter\n"), "{text}");
    // The key's own label wins over the global one of that name.
    assert_eq!(scalar(&samples, "jobs_total", &[("service", "batch")]), 4.0);
    assert!(text.contains("# TYPE job_seconds histogram\n"), "{text}");
    assert_eq!(scalar_of(&text, "job_seconds_count{service=\"api\"}"), 1.0);
}

#[test]
fn summaries_report_quantiles_within_the_histograms_error() {
    let recorder = Recorder::builder()
        .quantiles_for("latency", &[0.0, 0.5, 0.99, 1.0])
        .build();
    let n = 1000;
    metrics::with_local_recorder(&recorder, || {
        for ms in 1..=n {
            metrics::histogram!("latency").record(f64::from(ms) / 1e3);
        }
        metrics::histogram!("other").record(1.0);
    });
    let (text, samples) = scrape(&recorder.handle());
    assert!(text.contains("# TYPE latency summary\n"), "{text}");
    assert!(text.contains("# TYPE other histogram\n"), "{text}");
    let Value::Summary(quantiles) = value(&samples, "latency", &[]) else {
        panic!("{text}")
    };
    for q in [0.0, 0.5, 0.99, 1.0] {
        // The value of rank ⌈q·n⌉ (at least 1): q·n ms.
        let exact = (q * f64::from(n)).ceil().max(1.0) / 1e3;
        let got = quantiles.iter().find(|c| c.quantile == q).unwrap().count;
        assert!(
            (got - exact).abs() <= exact * 0.0079,
            "q{q}: {got} vs {exact}"
        );
    }
}

#[test]
fn values_the_facade_may_pass_never_panic_and_render_as_documented() {
    let recorder = Recorder::builder().buckets(&[1.0]).build();
    metrics::with_local_recorder(&recorder, || {
        let h = metrics::histogram!("odd");
        h.record(f64::NAN);
        h.record(-5.0);
        h.record(f64::INFINITY);
        h.record(1e300);
        metrics::gauge!("nan").set(f64::NAN);
        metrics::gauge!("inf").set(f64::NEG_INFINITY);
        metrics::counter!("escaped", "path" => "a\"b\\c\nd").increment(1);
        metrics::counter!("http.requests-total", "bad key" => "v").increment(2);
        metrics::counter!("twice").increment(1);
        metrics::gauge!("twice").set(9.0);
        metrics::histogram!("twice").record(1.0);
    });
    let (text, samples) = scrape(&recorder.handle());
    // NaN and negative record 0; +inf and 1e300 record the largest value.
    assert_eq!(scalar_of(&text, "odd_bucket{le=\"1\"}"), 2.0, "{text}");
    assert_eq!(scalar_of(&text, "odd_count"), 4.0, "{text}");
    let largest = u64::MAX as f64 / 1e9;
    assert_eq!(scalar_of(&text, "odd_sum"), 2.0 * largest, "{text}");
    assert!(scalar(&samples, "nan", &[]).is_nan());
    assert_eq!(scalar(&samples, "inf", &[]), f64::NEG_INFINITY);
    assert!(
        text.contains("escaped{path=\"a\\\"b\\\\c\\nd\"} 1\n"),
        "{text}"
    );
    // The parser keeps the escapes.
    assert_eq!(
        scalar(&samples, "escaped", &[("path", r#"a\"b\\c\nd"#)]),
        1.0
    );
    assert_eq!(
        scalar(&samples, "http_requests_total", &[("bad_key", "v")]),
        2.0
    );
    // One name, three kinds: the counter keeps it, the others are noted.
    assert_eq!(scalar(&samples, "twice", &[]), 1.0);
    assert!(
        text.contains("# threadkit: left out: the gauge \"twice\"{}: twice is also a counter\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "# threadkit: left out: the histogram \"twice\"{}: twice is also a counter\n"
        ),
        "{text}"
    );
}

#[test]
fn handles_kept_outside_the_macros_work_on_any_thread_and_past_the_recorder() {
    let recorder = Recorder::builder().max_handles(1).build();
    let handle = recorder.handle();
    let (kept, beyond) = metrics::with_local_recorder(&recorder, || {
        (
            metrics::counter!("kept"),
            metrics::counter!("beyond_the_bound"),
        )
    });
    std::thread::scope(|s| {
        s.spawn(|| {
            kept.increment(5);
            beyond.increment(6);
        });
    });
    drop(recorder);
    kept.increment(1);
    let (_, samples) = scrape(&handle);
    assert_eq!(scalar(&samples, "kept", &[]), 6.0);
    assert_eq!(scalar(&samples, "beyond_the_bound", &[]), 6.0);
}

#[test]
fn many_series_render_in_name_order() {
    let recorder = Recorder::new();
    let n = 200;
    metrics::with_local_recorder(&recorder, || {
        for i in (0..n).rev() {
            metrics::counter!(format!("series_{i:04}"), "shard" => (i % 7).to_string())
                .increment(i);
        }
    });
    let (text, samples) = scrape(&recorder.handle());
    let names: Vec<&str> = samples.iter().map(|s| s.metric.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "{text}");
    assert_eq!(names.len(), n as usize);
    let total: f64 = samples
        .iter()
        .map(|s| match s.value {
            Value::Counter(v) => v,
            _ => panic!(),
        })
        .sum();
    assert_eq!(total, (n * (n - 1) / 2) as f64);
}
