//! [`Recorder`]: the `metrics` facade's recorder on threadkit's storage,
//! with a per-thread table of resolved handles; see the
//! [module documentation](super).

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use metrics::{Key, KeyName, Metadata, SetRecorderError, SharedString, Unit};

use super::builder::Builder;
use super::local::{Handles, Local, Table};
use super::render::Handle;
use super::series::{Description, Kind, Shared};
use crate::registry::PerLiveThread;

/// A [`metrics::Recorder`] whose counters and histograms record into
/// per-thread storage, and whose [`Handle`] renders the Prometheus text
/// format; see the [module documentation](super).
///
/// # Examples
///
/// ```
/// use threadkit::metrics::Recorder;
///
/// let recorder = Recorder::new();
/// let handle = recorder.handle();
/// metrics::with_local_recorder(&recorder, || {
///     for _ in 0..3 {
///         metrics::counter!("requests_total", "route" => "/api").increment(1);
///     }
///     metrics::gauge!("connections").set(7);
///     metrics::histogram!("request_seconds").record(0.25);
/// });
/// let text = handle.render_prometheus();
/// assert!(text.contains("requests_total{route=\"/api\"} 3\n"));
/// assert!(text.contains("connections 7\n"));
/// assert!(text.contains("request_seconds_sum 0.25\n"));
/// ```
pub struct Recorder {
    shared: Arc<Shared>,
    /// Each live thread's resolved handles, dropped as it exits.
    local: PerLiveThread<RefCell<Handles>>,
    max_handles: usize,
}

impl Recorder {
    /// A recorder with the default settings (see [`Builder`]).
    #[must_use]
    pub fn new() -> Recorder {
        Builder::new().build()
    }

    /// A [`Builder`] for a recorder with other settings.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A handle that renders what this recorder holds; it stays valid after
    /// the recorder is dropped.
    #[must_use]
    pub fn handle(&self) -> Handle {
        Handle::new(Arc::clone(&self.shared))
    }

    /// Installs this recorder as the process's global recorder and returns
    /// its handle.
    ///
    /// # Errors
    ///
    /// If a global recorder is already installed: the error gives this one
    /// back ([`SetRecorderError::into_inner`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let handle = threadkit::metrics::Recorder::new().install().unwrap();
    /// metrics::counter!("started_total").increment(1);
    /// assert!(handle.render_prometheus().contains("started_total 1\n"));
    /// assert!(threadkit::metrics::Recorder::new().install().is_err());
    /// ```
    // The error gives the recorder back, as `metrics::set_global_recorder`
    // does: large, and rare.
    #[allow(clippy::result_large_err)]
    pub fn install(self) -> Result<Handle, SetRecorderError<Recorder>> {
        let handle = self.handle();
        metrics::set_global_recorder(self)?;
        Ok(handle)
    }

    /// How many handles of each kind a thread keeps: see
    /// [the macro path](super#the-macro-path).
    pub fn max_handles(&self) -> usize {
        self.max_handles
    }

    /// The handle of `key` from the calling thread's table, if it has it or
    /// room for it; resolved through the shared registry the first time.
    #[inline(always)]
    fn local<S>(
        &self,
        key: &Key,
        table: impl FnOnce(&mut Handles) -> &mut Table<S>,
        resolve: impl FnOnce() -> Arc<S>,
    ) -> Option<Arc<Local<S>>> {
        self.local.with_or(RefCell::default, |handles| {
            // Busy only if resolving reentered the recorder: then the
            // shared path.
            let mut handles = handles.try_borrow_mut().ok()?;
            table(&mut handles).get_or_resolve(key, self.max_handles, resolve)
        })
    }

    fn describe(&self, kind: Kind, name: KeyName, unit: Option<Unit>, text: SharedString) {
        let mut descriptions = self.shared.descriptions.lock();
        descriptions.insert((kind, name.as_str().to_owned()), Description { unit, text });
    }
}

impl Builder {
    /// The recorder.
    #[must_use]
    pub fn build(self) -> Recorder {
        let (shared, max_handles) = self.into_parts();
        Recorder {
            shared: Arc::new(shared),
            local: PerLiveThread::new(),
            max_handles,
        }
    }
}

impl metrics::Recorder for Recorder {
    fn describe_counter(&self, name: KeyName, unit: Option<Unit>, text: SharedString) {
        self.describe(Kind::Counter, name, unit, text);
    }

    fn describe_gauge(&self, name: KeyName, unit: Option<Unit>, text: SharedString) {
        self.describe(Kind::Gauge, name, unit, text);
    }

    fn describe_histogram(&self, name: KeyName, unit: Option<Unit>, text: SharedString) {
        self.describe(Kind::Histogram, name, unit, text);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> metrics::Counter {
        let series = &self.shared.series;
        let shared = || series.get_or_create_counter(key, Arc::clone);
        match self.local(key, |h| &mut h.counters, shared) {
            Some(local) => metrics::Counter::from_arc(local),
            None => metrics::Counter::from_arc(shared()),
        }
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> metrics::Gauge {
        let series = &self.shared.series;
        let shared = || series.get_or_create_gauge(key, Arc::clone);
        match self.local(key, |h| &mut h.gauges, shared) {
            Some(local) => metrics::Gauge::from_arc(local),
            None => metrics::Gauge::from_arc(shared()),
        }
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        let series = &self.shared.series;
        let shared = || series.get_or_create_histogram(key, Arc::clone);
        match self.local(key, |h| &mut h.histograms, shared) {
            Some(local) => metrics::Histogram::from_arc(local),
            None => metrics::Histogram::from_arc(shared()),
        }
    }
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder::new()
    }
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("shared", &self.shared)
            .field("max_handles", &self.max_handles)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(recorder: &Recorder) -> (usize, usize, usize) {
        recorder.local.with(|handles| {
            let handles = handles.expect("the thread's table").borrow();
            (
                handles.counters.len(),
                handles.gauges.len(),
                handles.histograms.len(),
            )
        })
    }

    #[test]
    fn a_thread_keeps_the_handles_it_resolved_up_to_the_bound() {
        let recorder = Recorder::builder().max_handles(2).build();
        metrics::with_local_recorder(&recorder, || {
            for i in 0..5 {
                metrics::counter!("requests", "n" => i.to_string()).increment(1);
            }
            metrics::gauge!("g").set(1.0);
            metrics::histogram!("h").record(1.0);
            metrics::histogram!("h").record(2.0);
        });
        assert_eq!(kept(&recorder), (2, 1, 1));
        let text = recorder.handle().render_prometheus();
        for i in 0..5 {
            assert!(
                text.contains(&format!("requests{{n=\"{i}\"}} 1\n")),
                "{text}"
            );
        }
        assert!(text.contains("h_count 2\n"), "{text}");
    }

    #[test]
    fn totals_are_exact_from_threads_that_record_and_exit() {
        let recorder = Recorder::new();
        std::thread::scope(|s| {
            for t in 0..3_u32 {
                let recorder = &recorder;
                s.spawn(move || {
                    metrics::with_local_recorder(recorder, || {
                        for i in 0..10 * (t + 1) {
                            metrics::counter!("served", "t" => "all").increment(1);
                            metrics::histogram!("seconds").record(f64::from(i % 2));
                            metrics::gauge!("last").set(f64::from(t));
                        }
                    });
                });
            }
        });
        let text = recorder.handle().render_prometheus();
        assert!(text.contains("served{t=\"all\"} 60\n"), "{text}");
        assert!(text.contains("seconds_count 60\n"), "{text}");
        assert!(text.contains("seconds_sum 30\n"), "{text}");
        assert!(text.contains("seconds_bucket{le=\"0.5\"} 30\n"), "{text}");
    }

    #[test]
    fn a_lookup_while_the_table_is_busy_takes_the_shared_path() {
        let recorder = Recorder::new();
        metrics::with_local_recorder(&recorder, || metrics::counter!("c").increment(1));
        recorder.local.with(|handles| {
            let _busy = handles.unwrap().borrow_mut();
            metrics::with_local_recorder(&recorder, || metrics::counter!("c").increment(2));
        });
        assert!(recorder.handle().render_prometheus().contains("c 3\n"));
    }
}
