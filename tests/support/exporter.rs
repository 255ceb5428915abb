//! An in-process exporter: an axum server on a free loopback port serving `/metrics` in the
//! Prometheus text exposition format from series the test sets through an [`Exporter`] handle.
//! Unlike a static fixture, its counters grow with the wall clock at a rate the test chooses, so
//! a real Prometheus scraping it computes `rate(x[…])` equal to that rate; gauges and counters
//! can be changed or removed at any time and the next scrape sees it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// Label pairs sorted by name: the identity of a series within its metric family.
type LabelSet = Vec<(String, String)>;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

enum Value {
    Gauge(f64),
    /// `value_at_since + rate * seconds since since`: linear in time between rate changes.
    Counter {
        value_at_since: f64,
        rate: f64,
        since: Instant,
    },
}

impl Value {
    fn at(&self, now: Instant) -> f64 {
        match *self {
            Value::Gauge(value) => value,
            Value::Counter {
                value_at_since,
                rate,
                since,
            } => value_at_since + rate * now.saturating_duration_since(since).as_secs_f64(),
        }
    }
}

struct Family {
    kind: Kind,
    series: BTreeMap<LabelSet, Value>,
}

#[derive(Default)]
struct Series {
    families: BTreeMap<String, Family>,
}

impl Series {
    fn family(&mut self, name: &str, kind: Kind) -> &mut Family {
        check_name(name, true);
        let family = self.families.entry(name.to_string()).or_insert(Family {
            kind,
            series: BTreeMap::new(),
        });
        assert_eq!(
            family.kind, kind,
            "metric {name} is already a {:?}; one name has one type",
            family.kind
        );
        family
    }

    fn render(&self, now: Instant) -> String {
        let mut out = String::new();
        for (name, family) in &self.families {
            let _ = writeln!(out, "# TYPE {name} {}", family.kind.as_str());
            for (labels, value) in &family.series {
                out.push_str(name);
                if !labels.is_empty() {
                    out.push('{');
                    for (i, (label, label_value)) in labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{label}=\"{}\"", escape_label_value(label_value));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {}", format_value(value.at(now)));
            }
        }
        out
    }
}

/// Handle to a running exporter. Dropping it stops the server.
pub struct Exporter {
    addr: SocketAddr,
    series: Arc<Mutex<Series>>,
    server: tokio::task::JoinHandle<()>,
}

impl Exporter {
    /// Starts serving an empty `/metrics` on `127.0.0.1` and a free port.
    pub async fn start() -> Exporter {
        let series = Arc::new(Mutex::new(Series::default()));
        let shared = Arc::clone(&series);
        let app = Router::new().route(
            "/metrics",
            get(move || {
                let shared = Arc::clone(&shared);
                async move {
                    let body = lock(&shared).render(Instant::now());
                    (
                        [(
                            header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        body,
                    )
                        .into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind exporter on 127.0.0.1:0");
        let addr = listener.local_addr().expect("exporter local addr");
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("exporter server");
        });
        Exporter {
            addr,
            series,
            server,
        }
    }

    /// `host:port` as a Prometheus scrape target.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    /// The full URL of the exposition page.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    /// Sets gauge `name{labels}` to `value` (NaN and ±Inf are exposed as such).
    pub fn set_gauge(&self, name: &str, labels: &[(&str, &str)], value: f64) {
        let key = label_set(labels);
        let mut series = lock(&self.series);
        series
            .family(name, Kind::Gauge)
            .series
            .insert(key, Value::Gauge(value));
    }

    /// Makes counter `name{labels}` grow by `per_second` every second from now on. A new counter
    /// starts at 0; an existing one keeps its current value and only changes its slope, so it
    /// never goes down.
    pub fn set_counter_rate(&self, name: &str, labels: &[(&str, &str)], per_second: f64) {
        assert!(
            per_second >= 0.0 && per_second.is_finite(),
            "a counter's rate must be finite and >= 0, got {per_second}"
        );
        let key = label_set(labels);
        let now = Instant::now();
        let mut series = lock(&self.series);
        let family = series.family(name, Kind::Counter);
        let value_at_since = family.series.get(&key).map_or(0.0, |v| v.at(now));
        family.series.insert(
            key,
            Value::Counter {
                value_at_since,
                rate: per_second,
                since: now,
            },
        );
    }

    /// Stops exposing `name{labels}`; Prometheus marks it stale on its next scrape. Returns
    /// whether such a series existed.
    pub fn remove(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        let key = label_set(labels);
        let mut series = lock(&self.series);
        let Some(family) = series.families.get_mut(name) else {
            return false;
        };
        let removed = family.series.remove(&key).is_some();
        if family.series.is_empty() {
            series.families.remove(name);
        }
        removed
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock(series: &Mutex<Series>) -> std::sync::MutexGuard<'_, Series> {
    // A test that panicked while holding the lock has already failed; keep serving its data.
    series
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn label_set(labels: &[(&str, &str)]) -> LabelSet {
    let mut set: LabelSet = labels
        .iter()
        .map(|(name, value)| {
            check_name(name, false);
            (name.to_string(), value.to_string())
        })
        .collect();
    set.sort();
    for pair in set.windows(2) {
        assert_ne!(pair[0].0, pair[1].0, "label {} given twice", pair[0].0);
    }
    set
}

/// Panics on names the exposition format cannot carry: `[a-zA-Z_:][a-zA-Z0-9_:]*` for metrics,
/// the same without `:` for labels.
fn check_name(name: &str, metric: bool) {
    let allowed = |c: char, first: bool| {
        c.is_ascii_alphabetic()
            || c == '_'
            || (metric && c == ':')
            || (!first && c.is_ascii_digit())
    };
    let valid = name.chars().enumerate().all(|(i, c)| allowed(c, i == 0)) && !name.is_empty();
    assert!(
        valid,
        "invalid {} name {name:?}",
        if metric { "metric" } else { "label" }
    );
}

/// Escapes a label value per the text exposition format: backslash, double quote, line feed.
fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Formats a sample value the way Prometheus parses it (`NaN`, `+Inf`, `-Inf`, plain decimals).
fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value == f64::INFINITY {
        "+Inf".to_string()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        // Rust's shortest round-trip representation, never an exponent: Prometheus parses it back
        // to the same f64.
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::harness::http_client;

    async fn scrape(exporter: &Exporter) -> String {
        let response = http_client()
            .get(exporter.metrics_url())
            .send()
            .await
            .expect("scrape exporter");
        assert!(response.status().is_success());
        let content_type = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        response.text().await.expect("exporter body")
    }

    fn value_of(page: &str, series: &str) -> f64 {
        page.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{page}"))
            .parse()
            .expect("sample value")
    }

    #[tokio::test]
    async fn exposition_is_sorted_escaped_and_typed() {
        let exporter = Exporter::start().await;
        exporter.set_gauge("zeta", &[], 1.5);
        exporter.set_gauge(
            "queue_length",
            &[("queue", "b"), ("namespace", "default")],
            7.0,
        );
        exporter.set_gauge(
            "queue_length",
            &[("queue", "a\\b \"c\"\nd"), ("namespace", "default")],
            -2.0,
        );
        exporter.set_gauge("odd_values", &[("kind", "nan")], f64::NAN);
        exporter.set_gauge("odd_values", &[("kind", "inf")], f64::INFINITY);
        exporter.set_gauge("odd_values", &[("kind", "minus_inf")], f64::NEG_INFINITY);
        exporter.set_gauge("odd_values", &[("kind", "small")], 0.001);
        exporter.set_counter_rate("jobs_total", &[("queue", "a")], 0.0);

        let expected = "\
# TYPE jobs_total counter
jobs_total{queue=\"a\"} 0
# TYPE odd_values gauge
odd_values{kind=\"inf\"} +Inf
odd_values{kind=\"minus_inf\"} -Inf
odd_values{kind=\"nan\"} NaN
odd_values{kind=\"small\"} 0.001
# TYPE queue_length gauge
queue_length{namespace=\"default\",queue=\"a\\\\b \\\"c\\\"\\nd\"} -2
queue_length{namespace=\"default\",queue=\"b\"} 7
# TYPE zeta gauge
zeta 1.5
";
        assert_eq!(scrape(&exporter).await, expected);
        // Deterministic: the same page again.
        assert_eq!(scrape(&exporter).await, expected);

        assert!(exporter.remove("zeta", &[]));
        assert!(!exporter.remove("zeta", &[]));
        assert!(exporter.remove("queue_length", &[("namespace", "default"), ("queue", "b")]));
        let page = scrape(&exporter).await;
        assert!(!page.contains("zeta"), "{page}");
        assert!(!page.contains("queue=\"b\""), "{page}");
        assert!(page.contains("# TYPE queue_length gauge"), "{page}");
    }

    #[tokio::test]
    async fn counter_grows_and_stays_monotonic_when_its_rate_changes() {
        let exporter = Exporter::start().await;
        let series = "requests_total{code=\"200\"}";
        exporter.set_counter_rate("requests_total", &[("code", "200")], 1000.0);
        let first = value_of(&scrape(&exporter).await, series);
        let second = value_of(&scrape(&exporter).await, series);
        assert!(second > first, "{first} then {second}");

        // Slower, then frozen: the value never goes back down and holds still at rate 0.
        exporter.set_counter_rate("requests_total", &[("code", "200")], 0.0);
        let frozen = value_of(&scrape(&exporter).await, series);
        assert!(frozen >= second, "{second} then {frozen}");
        assert_eq!(value_of(&scrape(&exporter).await, series), frozen);
    }

    #[tokio::test]
    #[should_panic(expected = "already a Gauge")]
    async fn one_name_cannot_be_both_gauge_and_counter() {
        let exporter = Exporter::start().await;
        exporter.set_gauge("mixed", &[], 1.0);
        exporter.set_counter_rate("mixed", &[("a", "b")], 1.0);
    }
}
