//! The adapter's own metrics, served on `/metrics` in the OpenMetrics text format that
//! Prometheus scrapes. One process-wide set, written to by any room (the request layers, the
//! Prometheus client, the registry, the reload loop, the watch caches, authentication).
//!
//! Names follow Prometheus' conventions (`metrics_adapter_…`, `_total`, `_seconds`, base units)
//! and every label has a bounded set of values: API groups and versions, route classes, outcome
//! words, resource types; never object names, metric names or raw paths.

use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry, Unit};

use super::process::{PROCESS_METRICS, ProcessCollector};

/// A request's class: which API, which version, which kind of route.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabels {
    /// `custom.metrics.k8s.io`, `external.metrics.k8s.io`, `metrics.k8s.io`, or `""`.
    pub group: &'static str,
    /// `v1beta1`, `v1beta2`, or `""`.
    pub version: &'static str,
    /// `discovery`, `object`, `selector`, `namespace`, `external`, `pods`, `pod`, `nodes`,
    /// `node`, `health`, `metrics`, `explain`, `version`, `other`.
    pub route: &'static str,
}

/// A request's class and its status code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    /// As [`RouteLabels::group`].
    pub group: &'static str,
    /// As [`RouteLabels::version`].
    pub version: &'static str,
    /// As [`RouteLabels::route`].
    pub route: &'static str,
    /// The HTTP status code.
    pub code: u16,
}

/// A kind of Prometheus call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CallLabels {
    /// `query`, `series`, `labels`, `label_values`.
    pub kind: &'static str,
}

/// A kind of Prometheus call and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CallOutcomeLabels {
    /// As [`CallLabels::kind`].
    pub kind: &'static str,
    /// `success`, `error` (an answer that is an error), `timeout`, `transport`, `saturated`.
    pub outcome: &'static str,
}

/// One of the APIs the registry lists.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ApiLabels {
    /// `custom` or `external`.
    pub api: &'static str,
}

/// An on-miss lookup and what it found.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct LookupLabels {
    /// `custom` or `external`.
    pub api: &'static str,
    /// `found`, `not_found`, `unavailable`.
    pub outcome: &'static str,
}

/// An outcome word.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// What happened (`applied`, `refused`, `pending` for reloads).
    pub outcome: &'static str,
}

/// A resource type of a watch cache (`pods`, `deployments.apps`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ResourceLabels {
    /// The group-qualified plural.
    pub resource: String,
}

/// A delegated review and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReviewLabels {
    /// `token` (TokenReview) or `access` (SubjectAccessReview).
    pub kind: &'static str,
    /// `allowed`, `denied` (access); `authenticated`, `unauthenticated` (token); `error`.
    pub outcome: &'static str,
}

/// A kind of review, for cache hits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReviewKindLabels {
    /// `token` or `access`.
    pub kind: &'static str,
}

/// What the binary is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// A gauge holding seconds, a timestamp or any fraction.
pub type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric of the adapter.
pub struct Metrics {
    registry: Registry,
    names: Vec<String>,
    /// Requests answered.
    pub requests: Family<RequestLabels, Counter>,
    /// How long requests took.
    pub request_duration: Family<RouteLabels, Histogram>,
    /// Requests being served.
    pub requests_in_flight: Gauge,
    /// Calls to Prometheus.
    pub prometheus_calls: Family<CallOutcomeLabels, Counter>,
    /// How long calls to Prometheus took.
    pub prometheus_duration: Family<CallLabels, Histogram>,
    /// Bytes received from Prometheus, as sent (compressed when it compressed them).
    pub prometheus_bytes: Family<CallLabels, Counter>,
    /// Queries answered by a call already in flight.
    pub coalesced_queries: Counter,
    /// How long relists took.
    pub relist_duration: Histogram,
    /// When each API was last listed successfully.
    pub relist_last_success: Family<ApiLabels, FloatGauge>,
    /// Relists whose listing of an API failed.
    pub relist_failures: Family<ApiLabels, Counter>,
    /// Series (or metric/label combinations) the last successful relist saw, per API.
    pub relist_series: Family<ApiLabels, Gauge>,
    /// Metrics registered, per API.
    pub registered_metrics: Family<ApiLabels, Gauge>,
    /// On-miss lookups.
    pub on_miss_lookups: Family<LookupLabels, Counter>,
    /// Rules reloads.
    pub reloads: Family<OutcomeLabels, Counter>,
    /// When rules were last reloaded successfully.
    pub reload_last_success: FloatGauge,
    /// Objects in each watch cache.
    pub cache_objects: Family<ResourceLabels, Gauge>,
    /// Whether each watch cache is synced (1) or not (0).
    pub cache_synced: Family<ResourceLabels, Gauge>,
    /// Delegated reviews.
    pub reviews: Family<ReviewLabels, Counter>,
    /// Reviews answered from the cache.
    pub review_cache_hits: Family<ReviewKindLabels, Counter>,
}

/// Buckets for request and call latencies: 0.25 ms to 30 s. An HPA's request usually takes
/// between a quarter and a few milliseconds, its query less: buckets from 1 ms up could not
/// tell a 0.3 ms median from a 0.9 ms one.
fn latency_histogram() -> Histogram {
    Histogram::new([
        0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        10.0, 30.0,
    ])
}

/// Registers metrics under the `metrics_adapter_` prefix and remembers their exported names.
struct Registrar<'r> {
    registry: &'r mut Registry,
    names: Vec<String>,
}

impl Registrar<'_> {
    fn add(&mut self, name: &str, help: &str, unit: Option<Unit>, metric: impl Metric) {
        let mut exported = format!("metrics_adapter_{name}");
        if let Some(unit) = &unit {
            exported = format!("{exported}_{}", unit.as_str());
        }
        if matches!(EncodeMetric::metric_type(&metric), MetricType::Counter) {
            exported.push_str("_total");
        }
        self.names.push(exported);
        match unit {
            Some(unit) => self.registry.register_with_unit(name, help, unit, metric),
            None => self.registry.register(name, help, metric),
        }
    }
}

/// The API words of [`ApiLabels`].
const APIS: [&str; 2] = ["custom", "external"];

impl Metrics {
    fn new() -> Metrics {
        let mut root = Registry::default();
        root.register_collector(Box::new(ProcessCollector));
        let mut r = Registrar {
            registry: root.sub_registry_with_prefix("metrics_adapter"),
            names: Vec::new(),
        };
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        r.add("build_info", "The adapter's version.", None, build);
        let requests = Family::default();
        r.add(
            "requests",
            "API requests answered, by API group, version, route and status code.",
            None,
            requests.clone(),
        );
        let request_duration =
            Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        r.add(
            "request_duration",
            "Time from a request's arrival to its answer.",
            Some(Unit::Seconds),
            request_duration.clone(),
        );
        let requests_in_flight = Gauge::default();
        r.add(
            "requests_in_flight",
            "Requests being served.",
            None,
            requests_in_flight.clone(),
        );
        let prometheus_calls: Family<CallOutcomeLabels, Counter> = Family::default();
        r.add(
            "prometheus_calls",
            "Calls to Prometheus by kind (query, series, labels, label_values) and outcome.",
            None,
            prometheus_calls.clone(),
        );
        let prometheus_duration =
            Family::<CallLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        r.add(
            "prometheus_call_duration",
            "Time a call to Prometheus took, waiting for a free connection included.",
            Some(Unit::Seconds),
            prometheus_duration.clone(),
        );
        let prometheus_bytes = Family::default();
        r.add(
            "prometheus_received",
            "Bytes received from Prometheus, as sent on the wire.",
            Some(Unit::Bytes),
            prometheus_bytes.clone(),
        );
        let coalesced_queries = Counter::default();
        r.add(
            "prometheus_coalesced_queries",
            "Queries answered by an identical query already in flight.",
            None,
            coalesced_queries.clone(),
        );
        let relist_duration = Histogram::new([
            0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
        ]);
        r.add(
            "relist_duration",
            "Time a relist of every rule's metrics took.",
            Some(Unit::Seconds),
            relist_duration.clone(),
        );
        let relist_last_success: Family<ApiLabels, FloatGauge> = Family::default();
        r.add(
            "relist_last_success_timestamp_seconds",
            "When each API's metrics were last listed successfully (Unix time; 0: never).",
            None,
            relist_last_success.clone(),
        );
        let relist_failures: Family<ApiLabels, Counter> = Family::default();
        r.add(
            "relist_failures",
            "Relists whose listing of an API failed (its previous metrics were kept).",
            None,
            relist_failures.clone(),
        );
        let relist_series: Family<ApiLabels, Gauge> = Family::default();
        r.add(
            "relist_series",
            "Series (or metric and label combinations) the last successful relist saw.",
            None,
            relist_series.clone(),
        );
        let registered_metrics: Family<ApiLabels, Gauge> = Family::default();
        r.add(
            "registered_metrics",
            "Metrics served, per API (custom: metric and resource pairs).",
            None,
            registered_metrics.clone(),
        );
        let on_miss_lookups: Family<LookupLabels, Counter> = Family::default();
        r.add(
            "on_miss_lookups",
            "Lookups of a metric the registry did not know, by what they found.",
            None,
            on_miss_lookups.clone(),
        );
        let reloads: Family<OutcomeLabels, Counter> = Family::default();
        r.add(
            "rules_reloads",
            "Rules file changes, by outcome (applied, refused, pending).",
            None,
            reloads.clone(),
        );
        let reload_last_success = FloatGauge::default();
        r.add(
            "rules_last_reload_success_timestamp_seconds",
            "When the rules were last loaded successfully (Unix time).",
            None,
            reload_last_success.clone(),
        );
        let cache_objects = Family::default();
        r.add(
            "watch_cache_objects",
            "Objects in the watch cache of each resource type.",
            None,
            cache_objects.clone(),
        );
        let cache_synced = Family::default();
        r.add(
            "watch_cache_synced",
            "Whether the watch cache of each resource type has its objects (1) or not (0).",
            None,
            cache_synced.clone(),
        );
        let reviews: Family<ReviewLabels, Counter> = Family::default();
        r.add(
            "auth_reviews",
            "TokenReviews and SubjectAccessReviews sent to the cluster, by answer.",
            None,
            reviews.clone(),
        );
        let review_cache_hits: Family<ReviewKindLabels, Counter> = Family::default();
        r.add(
            "auth_review_cache_hits",
            "Reviews answered from the cache.",
            None,
            review_cache_hits.clone(),
        );
        let mut names = r.names;
        names.extend(PROCESS_METRICS.iter().map(|n| n.to_string()));
        // Known label values start at zero, so that rates and absences read right from the
        // first scrape.
        for api in APIS {
            let labels = ApiLabels { api };
            drop(relist_last_success.get_or_create(&labels));
            drop(relist_failures.get_or_create(&labels));
            drop(relist_series.get_or_create(&labels));
            drop(registered_metrics.get_or_create(&labels));
            for outcome in ["found", "not_found", "unavailable"] {
                drop(on_miss_lookups.get_or_create(&LookupLabels { api, outcome }));
            }
        }
        for outcome in ["applied", "refused", "pending"] {
            drop(reloads.get_or_create(&OutcomeLabels { outcome }));
        }
        for kind in ["query", "series", "labels", "label_values"] {
            for outcome in ["success", "error", "timeout", "transport", "saturated"] {
                drop(prometheus_calls.get_or_create(&CallOutcomeLabels { kind, outcome }));
            }
        }
        for (kind, outcomes) in [
            ("token", ["authenticated", "unauthenticated", "error"]),
            ("access", ["allowed", "denied", "error"]),
        ] {
            drop(review_cache_hits.get_or_create(&ReviewKindLabels { kind }));
            for outcome in outcomes {
                drop(reviews.get_or_create(&ReviewLabels { kind, outcome }));
            }
        }
        Metrics {
            registry: root,
            names,
            requests,
            request_duration,
            requests_in_flight,
            prometheus_calls,
            prometheus_duration,
            prometheus_bytes,
            coalesced_queries,
            relist_duration,
            relist_last_success,
            relist_failures,
            relist_series,
            registered_metrics,
            on_miss_lookups,
            reloads,
            reload_last_success,
            cache_objects,
            cache_synced,
            reviews,
            review_cache_hits,
        }
    }

    /// The name of every metric exported (counters with `_total`, histograms without their
    /// `_bucket`/`_sum`/`_count` suffixes), whether or not it has samples yet.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Everything, in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

/// The current time as Unix seconds, for the `_timestamp_seconds` gauges.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The content type of [`Metrics::encode`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_tell_sub_millisecond_requests_apart() {
        let mut registry = Registry::default();
        let histogram = latency_histogram();
        registry.register("latency", "", histogram.clone());
        for seconds in [0.0002, 0.0004, 0.0009, 0.02] {
            histogram.observe(seconds);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for (le, count) in [("0.00025", 1), ("0.0005", 2), ("0.001", 3), ("0.025", 4)] {
            let line = format!("latency_bucket{{le=\"{le}\"}} {count}");
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
