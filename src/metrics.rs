//! Prometheus metrics (`/metrics`, text exposition format 0.0.4) through `prometheus-client`.
//!
//! The request path takes no mutex: a labelled series is found under the family's shared
//! read lock, counters are `prometheus-client` counters (one atomic each), and durations go
//! into [`Timing`], a fixed-bucket histogram of atomics (the crate's own histogram takes a
//! mutex per observation). Label values are
//! bounded: routes are the route table's templates (never raw paths), methods a fixed list,
//! plugins the configured ones. Values that are state rather than events (open connections,
//! the hasher queue, the outbox backlog) are sampled when scraped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

/// The `Content-Type` of the scrape answer.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds of the duration buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default)]
struct TimingInner {
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

/// A duration histogram made of atomics: observing is a few relaxed adds, no lock.
#[derive(Clone, Debug, Default)]
pub struct Timing(Arc<TimingInner>);

impl Timing {
    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.0.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.0.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.0.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl TypedMetric for Timing {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Timing {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let mut buckets = [(0.0, 0u64); BUCKETS.len() + 1];
        for (i, slot) in buckets.iter_mut().enumerate() {
            let bound = BUCKETS.get(i).copied().unwrap_or(f64::INFINITY);
            *slot = (bound, self.0.buckets[i].load(Ordering::Relaxed));
        }
        // The count is the buckets' total, so `_count` and the `+Inf` bucket always agree.
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = self.0.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Outcomes of a password sign-in.
pub const SIGN_IN_OUTCOMES: [&str; 6] = [
    "success",
    "failure",
    "throttled",
    "busy",
    "sso_required",
    "error",
];

/// The result of an email delivery attempt (the `outcome` label of
/// `tenantry_email_delivery_attempts_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryResult {
    /// Handed over: the message is sent.
    Sent,
    /// Not handed over this time; it is tried again later.
    Retry,
    /// Given up: permanently refused, or retried for too long.
    Failed,
}

impl DeliveryResult {
    /// Every result.
    pub const ALL: [DeliveryResult; 3] = [
        DeliveryResult::Sent,
        DeliveryResult::Retry,
        DeliveryResult::Failed,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryResult::Sent => "sent",
            DeliveryResult::Retry => "retry",
            DeliveryResult::Failed => "failed",
        }
    }
}

/// Labels of a request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method (a known one, else `OTHER`).
    pub method: &'static str,
    /// Route template from the route table (`unmatched` for no route).
    pub route: &'static str,
    /// Response status.
    pub status: u16,
}

/// Labels of a request duration.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// HTTP method.
    pub method: &'static str,
    /// Route template.
    pub route: &'static str,
}

/// One label: an outcome or a result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// What happened.
    pub outcome: &'static str,
}

/// Labels of a plugin call counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginCallLabels {
    /// Configured plugin name.
    pub plugin: String,
    /// The hook's world (`sso`, `billing-profile`, `email-delivery`).
    pub hook: &'static str,
    /// `ok`, `busy`, `timeout`, `memory_limit`, `trap`, `unavailable`, `error`.
    pub outcome: &'static str,
}

/// Labels of a plugin call duration.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabels {
    /// Configured plugin name.
    pub plugin: String,
    /// The hook's world.
    pub hook: &'static str,
}

/// The instruments of plugin calls (handed to the plugin host).
#[derive(Clone, Debug, Default)]
pub struct PluginMetrics {
    /// Calls by plugin, hook and outcome.
    pub calls: Family<PluginCallLabels, Counter>,
    /// Call durations by plugin and hook.
    pub durations: Family<PluginLabels, Timing>,
}

impl PluginMetrics {
    /// Records one call.
    pub fn record(&self, plugin: &str, hook: &'static str, outcome: &'static str, took: Duration) {
        self.calls
            .get_or_create(&PluginCallLabels {
                plugin: plugin.to_string(),
                hook,
                outcome,
            })
            .inc();
        self.durations
            .get_or_create(&PluginLabels {
                plugin: plugin.to_string(),
                hook,
            })
            .observe(took);
    }
}

/// Values sampled at scrape time from the parts that hold them.
#[derive(Debug, Default)]
pub struct Sampled {
    /// Open client connections.
    pub open_connections: AtomicU64,
    /// Connections refused at `http.max_connections`.
    pub refused_connections: AtomicU64,
    /// Connections closed because a deadline passed (header, idle, body).
    pub deadline_closes: AtomicU64,
    /// Password hashes running or waiting.
    pub hasher_queue: AtomicU64,
    /// Emails queued and not yet delivered or given up.
    pub outbox_backlog: AtomicU64,
    /// API key look-ups answered from the cache.
    pub key_hits: AtomicU64,
    /// API key look-ups that went to the database.
    pub key_misses: AtomicU64,
}

/// What the caller of [`Metrics::render`] read from the parts that hold state.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sample {
    /// Password hashes running or waiting.
    pub hasher_queue: u64,
    /// Emails queued or being sent.
    pub outbox_backlog: u64,
    /// API key look-ups answered from the cache.
    pub key_hits: u64,
    /// API key look-ups that went to the database.
    pub key_misses: u64,
}

/// Connection figures of the HTTP front, read at scrape time: (open, refused, deadline closes).
pub type ConnectionStats = Box<dyn Fn() -> (u64, u64, u64) + Send + Sync>;

#[derive(Debug)]
struct SampledCollector(Arc<Sampled>);

impl Collector for SampledCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        for (name, help, value) in [
            (
                "tenantry_http_open_connections",
                "Client connections open now",
                &s.open_connections,
            ),
            (
                "tenantry_password_hasher_queue_depth",
                "Password hashes running or waiting for a hashing thread",
                &s.hasher_queue,
            ),
            (
                "tenantry_outbox_backlog",
                "Emails queued and not yet delivered or given up",
                &s.outbox_backlog,
            ),
        ] {
            let g = ConstGauge::new(load(value) as i64);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        for (name, help, value) in [
            (
                "tenantry_http_deadline_closes",
                "Connections closed with 408 because a header, idle or body deadline passed",
                &s.deadline_closes,
            ),
            (
                "tenantry_http_refused_connections",
                "Connections closed at accept because http.max_connections were open",
                &s.refused_connections,
            ),
        ] {
            let c = ConstCounter::new(load(value));
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        let mut family = encoder.encode_descriptor(
            "tenantry_api_key_cache_lookups",
            "API key look-ups by result (hit: answered from memory, miss: loaded from the database)",
            None,
            MetricType::Counter,
        )?;
        for (result, value) in [("hit", &s.key_hits), ("miss", &s.key_misses)] {
            let labels = [("result", result)];
            ConstCounter::new(load(value)).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// Every metric of the process. Built once by the composition root; cloned handles are
/// given to the parts that record.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_durations: Family<RouteLabels, Timing>,
    sign_ins: Family<OutcomeLabels, Counter>,
    deliveries: Family<OutcomeLabels, Counter>,
    /// Plugin call instruments.
    pub plugins: PluginMetrics,
    /// 408s sent by tenantry itself (a body that did not arrive in time).
    pub body_deadline_closes: AtomicU64,
    sampled: Arc<Sampled>,
    connections: OnceLock<ConnectionStats>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Registers every family; `write_latency` is the store's write-transaction timing.
    pub fn new(write_latency: Timing) -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let request_durations = Family::<RouteLabels, Timing>::default();
        let sign_ins = Family::<OutcomeLabels, Counter>::default();
        let deliveries = Family::<OutcomeLabels, Counter>::default();
        let plugins = PluginMetrics::default();
        registry.register(
            "tenantry_http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "tenantry_http_request_duration_seconds",
            "Time from taking a request to writing its answer, by method and route template",
            request_durations.clone(),
        );
        registry.register(
            "tenantry_sign_ins",
            "Password sign-in attempts by outcome (success, failure, throttled, busy, sso_required, error)",
            sign_ins.clone(),
        );
        registry.register(
            "tenantry_email_delivery_attempts",
            "Email delivery attempts by result (sent, retry, failed)",
            deliveries.clone(),
        );
        registry.register(
            "tenantry_plugin_calls",
            "Plugin hook calls by plugin, hook and outcome",
            plugins.calls.clone(),
        );
        registry.register(
            "tenantry_plugin_call_duration_seconds",
            "Plugin hook call durations by plugin and hook",
            plugins.durations.clone(),
        );
        registry.register(
            "tenantry_sqlite_write_transaction_seconds",
            "SQLite write transactions, from taking the writer to commit or rollback",
            write_latency,
        );
        // Known outcomes start at zero, so their series exist (and `rate()` works) before the
        // first event.
        for outcome in SIGN_IN_OUTCOMES {
            let _ = sign_ins.get_or_create(&OutcomeLabels { outcome });
        }
        for result in DeliveryResult::ALL {
            let _ = deliveries.get_or_create(&OutcomeLabels {
                outcome: result.as_str(),
            });
        }
        let sampled = Arc::new(Sampled::default());
        registry.register_collector(Box::new(SampledCollector(sampled.clone())));
        Metrics {
            registry,
            requests,
            request_durations,
            sign_ins,
            deliveries,
            plugins,
            body_deadline_closes: AtomicU64::new(0),
            sampled,
            connections: OnceLock::new(),
        }
    }

    /// Records one answered request.
    pub fn request(&self, method: &str, route: &'static str, status: u16, took: Duration) {
        let method = known_method(method);
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
        self.request_durations
            .get_or_create(&RouteLabels { method, route })
            .observe(took);
    }

    /// Records a password sign-in outcome.
    pub fn sign_in(&self, outcome: &'static str) {
        self.sign_ins
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Records an email delivery attempt.
    pub fn delivery(&self, result: DeliveryResult) {
        self.deliveries
            .get_or_create(&OutcomeLabels {
                outcome: result.as_str(),
            })
            .inc();
    }

    /// Where connection figures come from (the HTTP front, once it runs).
    pub fn set_connection_source(&self, source: ConnectionStats) {
        let _ = self.connections.set(source);
    }

    /// The exposition text, after sampling state (the connection source, and `sample` as
    /// the caller read it).
    pub fn render(&self, sample: Sample) -> String {
        let s = &self.sampled;
        if let Some(source) = self.connections.get() {
            let (open, refused, deadline) = source();
            s.open_connections.store(open, Ordering::Relaxed);
            s.refused_connections.store(refused, Ordering::Relaxed);
            let own = self.body_deadline_closes.load(Ordering::Relaxed);
            s.deadline_closes.store(deadline + own, Ordering::Relaxed);
        }
        s.hasher_queue.store(sample.hasher_queue, Ordering::Relaxed);
        s.outbox_backlog
            .store(sample.outbox_backlog, Ordering::Relaxed);
        s.key_hits.store(sample.key_hits, Ordering::Relaxed);
        s.key_misses.store(sample.key_misses, Ordering::Relaxed);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// The method as a bounded label value.
fn known_method(m: &str) -> &'static str {
    const KNOWN: [&str; 8] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
    ];
    KNOWN.into_iter().find(|k| *k == m).unwrap_or("OTHER")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_and_counters_render_in_the_text_format() {
        let store = Timing::default();
        store.observe(Duration::from_millis(3));
        let m = Metrics::new(store);
        for _ in 0..3 {
            m.request("GET", "/healthz", 200, Duration::from_micros(200));
        }
        m.request("BREW", "unmatched", 404, Duration::from_secs(20));
        m.sign_in("failure");
        m.delivery(DeliveryResult::Retry);
        let text = m.render(Sample {
            hasher_queue: 2,
            outbox_backlog: 5,
            key_hits: 7,
            key_misses: 1,
        });
        assert!(
            text.contains(
                "tenantry_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 3"
            ),
            "{text}"
        );
        assert!(text.contains("route=\"unmatched\""), "{text}");
        assert!(text.contains("method=\"OTHER\""), "{text}");
        assert!(
            text.contains("tenantry_sign_ins_total{outcome=\"failure\"} 1"),
            "{text}"
        );
        // The delivery results keep their label values; the known ones start at zero.
        for (outcome, n) in [("sent", 0), ("retry", 1), ("failed", 0)] {
            let line =
                format!("tenantry_email_delivery_attempts_total{{outcome=\"{outcome}\"}} {n}");
            assert!(text.contains(&line), "{line}\n{text}");
        }
        assert!(
            text.contains("tenantry_password_hasher_queue_depth 2"),
            "{text}"
        );
        assert!(text.contains("tenantry_outbox_backlog 5"), "{text}");
        assert!(
            text.contains("tenantry_api_key_cache_lookups_total{result=\"hit\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("tenantry_sqlite_write_transaction_seconds_bucket{le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("tenantry_sqlite_write_transaction_seconds_count 1"),
            "{text}"
        );
        assert!(text.contains("le=\"+Inf\"} 1"), "{text}");
    }
}
