//! The Prometheus response decoders: `/api/v1/query`, `/api/v1/series` and the label APIs, on any
//! body, each both from memory and as a stream (`prometheus::decode`). The harness only calls
//! those public entry points, so it keeps working when the decoders' internals change.
//!
//! Input: the response body. Invariants: the streaming decoder (fed a few bytes at a time) and
//! the in-memory one agree; a sample's labels are sorted by name, distinct, and found by name;
//! a decoded instant-query answer, written back as Prometheus writes it, decodes to the same
//! answer (NaN as NaN); a decoded series list is sorted without
//! duplicates and written back decodes to the same list; so does a label list.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use metrics_adapter::prometheus::{QueryResult, Sample, SeriesInfo, decode};
use serde_json::{Value, json};

fuzz_target!(|body: &[u8]| {
    let query = decode::query_slice(body);
    match (&query, decode::query_reader(Trickle(body))) {
        (Ok(a), Ok(b)) => assert!(same_result(a, &b), "{a:?} streamed as {b:?}"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("in memory {a:?}, streamed {b:?}"),
    }
    if let Ok(QueryResult::Vector(samples)) = &query {
        for s in samples {
            let names: Vec<&str> = s.labels.iter().map(|(n, _)| n).collect();
            assert!(
                names.windows(2).all(|w| w[0] < w[1]),
                "labels not sorted and distinct: {names:?}"
            );
            for (name, value) in s.labels.iter() {
                assert_eq!(s.labels.get(name), Some(value));
            }
        }
    }
    if let Ok(result) = query {
        if let Some(written) = write_query(&result) {
            let again = decode::query_slice(written.as_bytes())
                .unwrap_or_else(|e| panic!("{written} does not decode: {e}"));
            assert!(same_result(&result, &again), "{result:?} vs {again:?}");
        }
    }

    let series = decode::series_slice(body);
    match (&series, decode::series_reader(Trickle(body))) {
        (Ok(a), Ok(b)) => assert_eq!(a, &b),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("in memory {a:?}, streamed {b:?}"),
    }
    if let Ok(series) = series {
        for pair in series.windows(2) {
            assert!(pair[0] < pair[1], "not sorted and distinct: {pair:?}");
        }
        let written = write_series(&series);
        let again = decode::series_slice(written.as_bytes())
            .unwrap_or_else(|e| panic!("{written} does not decode: {e}"));
        assert_eq!(again, series);
    }

    let labels = decode::labels_slice(body);
    match (&labels, decode::labels_reader(Trickle(body))) {
        (Ok(a), Ok(b)) => assert_eq!(a, &b),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("in memory {a:?}, streamed {b:?}"),
    }
    if let Ok(labels) = labels {
        let written = json!({"status": "success", "data": labels}).to_string();
        assert_eq!(decode::labels_slice(written.as_bytes()).ok(), Some(labels));
    }
});

/// A body arriving a few bytes at a time, as a slow connection delivers it.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0.len()).min(7);
        let (now, later) = self.0.split_at(n);
        buf[..n].copy_from_slice(now);
        self.0 = later;
        Ok(n)
    }
}

/// A sample value as Prometheus writes it (Go's `strconv.FormatFloat(v, 'f', -1, 64)` or
/// `NaN`/`+Inf`/`-Inf`); Rust's shortest round-trip form reads back to the same f64.
fn value_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn write_query(result: &QueryResult) -> Option<String> {
    let (kind, data) = match result {
        QueryResult::Vector(samples) => {
            let mut items = Vec::new();
            for s in samples {
                if !s.timestamp.is_finite() {
                    return None;
                }
                items
                    .push(json!({"metric": s.labels, "value": [s.timestamp, value_text(s.value)]}));
            }
            ("vector", Value::Array(items))
        }
        QueryResult::Scalar { value, timestamp } => {
            if !timestamp.is_finite() {
                return None;
            }
            ("scalar", json!([timestamp, value_text(*value)]))
        }
        QueryResult::Other(kind) => (kind.as_str(), json!([])),
    };
    Some(json!({"status": "success", "data": {"resultType": kind, "result": data}}).to_string())
}

fn write_series(series: &[SeriesInfo]) -> String {
    let items: Vec<Value> = series
        .iter()
        .map(|s| {
            let mut labels = serde_json::Map::new();
            labels.insert("__name__".into(), Value::String(s.name.clone()));
            for l in &s.labels {
                labels.insert(l.clone(), Value::String("v".into()));
            }
            Value::Object(labels)
        })
        .collect();
    json!({"status": "success", "data": items}).to_string()
}

fn same_value(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b
}

fn same_sample(a: &Sample, b: &Sample) -> bool {
    a.labels == b.labels && same_value(a.value, b.value) && a.timestamp == b.timestamp
}

fn same_result(a: &QueryResult, b: &QueryResult) -> bool {
    match (a, b) {
        (QueryResult::Vector(x), QueryResult::Vector(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(s, t)| same_sample(s, t))
        }
        (
            QueryResult::Scalar { value, timestamp },
            QueryResult::Scalar {
                value: v,
                timestamp: t,
            },
        ) => same_value(*value, *v) && timestamp == t,
        (QueryResult::Other(x), QueryResult::Other(y)) => x == y,
        _ => false,
    }
}
