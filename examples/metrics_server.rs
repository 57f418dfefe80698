//! Serves threadkit's `metrics` recorder at `GET /metrics` while worker
//! threads record requests with the facade's macros.
//!
//! `cargo run --release --features metrics --example metrics_server`
//!
//! Listens on 127.0.0.1 only (port 9898, or `--port N`; 0 picks a free
//! one), prints the address, and stops after 60 seconds (`--seconds N`).
//! Scrape it meanwhile: `curl http://127.0.0.1:9898/metrics`. Batches of
//! four worker threads serve 50 000 pretend requests each and exit, so
//! the totals include threads that are gone; at the end it checks that
//! every request was counted.
//!
//! `cargo test --features metrics --example metrics_server` starts the
//! server on a free port, scrapes it with an HTTP client and checks the
//! totals.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use threadkit::metrics::{Handle, Recorder};

/// Serves `GET /metrics` from `handle` until `stop` is set; anything else
/// gets a 404.
fn serve(server: &tiny_http::Server, handle: &Handle, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(Some(request)) = server.recv_timeout(Duration::from_millis(50)) else {
            continue;
        };
        let response = if request.url() == "/metrics" {
            let content_type = "Content-Type: text/plain; version=0.0.4; charset=utf-8";
            tiny_http::Response::from_string(handle.render_prometheus())
                .with_header(content_type.parse::<tiny_http::Header>().expect("a header"))
        } else {
            tiny_http::Response::from_string("try /metrics\n").with_status_code(404)
        };
        if let Err(e) = request.respond(response) {
            eprintln!("responding: {e}");
        }
    }
}

/// One worker: `requests` pretend requests to `route`, each counted and
/// timed with the facade's macros (the key looked up on every call).
fn work(route: &'static str, requests: u64) {
    metrics::gauge!("workers").increment(1);
    for i in 0..requests {
        let start = Instant::now();
        let size = 256 + (i % 4) as usize * 1024;
        let body = std::hint::black_box(vec![b'x'; size]);
        metrics::counter!("requests_total", "route" => route).increment(1);
        metrics::counter!("response_bytes_total", "route" => route).increment(body.len() as u64);
        metrics::histogram!("request_seconds", "route" => route)
            .record(start.elapsed().as_secs_f64());
    }
    metrics::gauge!("workers").decrement(1);
}

/// What the series mean, for the exposition's `# HELP` lines.
fn describe() {
    metrics::describe_counter!("requests_total", "Requests served, by route.");
    metrics::describe_histogram!(
        "request_seconds",
        metrics::Unit::Seconds,
        "Time to serve a request."
    );
}

fn main() {
    let mut port: u16 = 9898;
    let mut seconds: u64 = 60;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        let parsed = match arg.as_str() {
            "--port" => value.parse().map(|v| port = v).is_ok(),
            "--seconds" => value.parse().map(|v| seconds = v).is_ok(),
            _ => false,
        };
        if !parsed {
            eprintln!("usage: metrics_server [--port N] [--seconds N]");
            std::process::exit(2);
        }
    }
    let handle = Recorder::new()
        .install()
        .expect("no recorder installed yet");
    describe();
    let server = match tiny_http::Server::http(("127.0.0.1", port)) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {e} (try --port 0)");
            std::process::exit(1);
        }
    };
    let address = server.server_addr().to_ip().expect("a TCP address");
    println!("serving http://{address}/metrics for {seconds} s");

    let stop = Arc::new(AtomicBool::new(false));
    let workers = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let mut round = 0_u64;
            while Instant::now() < deadline {
                // Four workers at a time, each exiting after its share.
                let batch: Vec<_> = (0..4)
                    .map(|w| {
                        let route = ["/", "/api", "/api", "/static"][w];
                        thread::spawn(move || work(route, 50_000))
                    })
                    .collect();
                for worker in batch {
                    worker.join().expect("a worker");
                }
                round += 1;
                thread::sleep(Duration::from_millis(250));
            }
            stop.store(true, Ordering::Relaxed);
            round
        })
    };
    serve(&server, &handle, &stop);
    let rounds = workers.join().expect("the workers");
    let text = handle.render_prometheus();
    let total = text
        .lines()
        .filter(|l| l.starts_with("requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum::<u64>();
    println!(
        "{rounds} rounds of 4 workers, {total} requests counted (expected {})",
        rounds * 4 * 50_000
    );
    assert_eq!(total, rounds * 4 * 50_000, "every request is counted");
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The value of the line `series value` of `text`.
    fn sample(text: &str, series: &str) -> f64 {
        let line = text.lines().find(|l| l.starts_with(&format!("{series} ")));
        let line = line.unwrap_or_else(|| panic!("no {series} in {text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri has no sockets")]
    fn a_scrape_over_http_parses_and_counts_every_request_of_exited_workers() {
        let handle = Recorder::new().install().expect("the test's recorder");
        describe();
        let server = tiny_http::Server::http("127.0.0.1:0").expect("a free port");
        let address = server.server_addr().to_ip().expect("a TCP address");
        let stop = AtomicBool::new(false);
        // Stops the server however the test ends, so that the scope ends.
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let url = format!("http://{address}/metrics");
        thread::scope(|s| {
            s.spawn(|| serve(&server, &handle, &stop));
            let _stop = Stop(&stop);
            // Workers that have all exited, and one still recording while
            // the first scrape reads.
            let done: Vec<_> = [("/", 300), ("/api", 200), ("/api", 100)]
                .into_iter()
                .map(|(route, n)| s.spawn(move || work(route, n)))
                .collect();
            done.into_iter().for_each(|w| w.join().unwrap());
            let busy = s.spawn(|| work("/busy", 20_000));

            let mut response = ureq::get(&url).call().expect("GET /metrics");
            let body = response.body_mut().read_to_string().expect("a body");
            prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
                .expect("the exposition parses");
            assert_eq!(sample(&body, "requests_total{route=\"/\"}"), 300.0);
            assert_eq!(sample(&body, "requests_total{route=\"/api\"}"), 300.0);
            busy.join().unwrap();

            let mut response = ureq::get(&url).call().expect("GET /metrics");
            let body = response.body_mut().read_to_string().expect("a body");
            let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
                .expect("the exposition parses");
            let mut requests = HashMap::new();
            for s in scrape
                .samples
                .iter()
                .filter(|s| s.metric == "requests_total")
            {
                let prometheus_parse::Value::Counter(n) = s.value else {
                    panic!("{s:?}")
                };
                requests.insert(s.labels.get("route").unwrap().to_owned(), n);
            }
            let expected = [("/", 300.0), ("/api", 300.0), ("/busy", 20_000.0)];
            assert_eq!(requests, expected.map(|(r, n)| (r.to_owned(), n)).into());
            assert_eq!(
                sample(&body, "request_seconds_count{route=\"/busy\"}"),
                20_000.0
            );
            assert_eq!(sample(&body, "workers"), 0.0);
            let bytes = sample(&body, "response_bytes_total{route=\"/\"}");
            assert_eq!(
                bytes,
                (0..300)
                    .map(|i| 256.0 + (i % 4) as f64 * 1024.0)
                    .sum::<f64>()
            );
            assert!(body.contains("# HELP requests_total Requests served, by route.\n"));

            let missing = ureq::get(&format!("http://{address}/other")).call();
            assert!(
                matches!(missing, Err(ureq::Error::StatusCode(404))),
                "{missing:?}"
            );
        });
    }
}
