//! The HPA controller's side of the wire, pure: the decoding of the three metrics APIs' answers
//! into milli-values read with `MilliValue()`, and the custom metrics version it discovers. The
//! request paths it sends are the library's (`metrics_adapter::explain::hpa`).

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use metrics_adapter::explain::replicas::{self, PodValue};
use metrics_adapter::quantity::Quantity;
use serde_json::Value;

/// A `custom.metrics.k8s.io` version the controller's client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomMetricsVersion {
    /// `v1beta1` (`metricName`, `selector`, `window`).
    V1Beta1,
    /// `v1beta2` (`metric.name`, `metric.selector`, `windowSeconds`).
    V1Beta2,
}

impl CustomMetricsVersion {
    /// The version string in paths.
    pub fn as_str(self) -> &'static str {
        match self {
            CustomMetricsVersion::V1Beta1 => "v1beta1",
            CustomMetricsVersion::V1Beta2 => "v1beta2",
        }
    }
}

/// The error client-go reports for a non-2xx answer: a `Status` body's message, else the
/// generic text for the code.
pub fn error_from_response(code: u16, body: &[u8]) -> String {
    if let Ok(status) = serde_json::from_slice::<Value>(body)
        && status["kind"] == "Status"
        && let Some(message) = status["message"].as_str()
    {
        return message.to_owned();
    }
    match code {
        400 => "the server rejected our request for an unknown reason".into(),
        401 => "Unauthorized".into(),
        403 => "Forbidden".into(),
        404 => "the server could not find the requested resource".into(),
        405 => "the server does not allow this method on the requested resource".into(),
        500 => format!(
            "an error on the server ({:?}) has prevented the request from succeeding",
            String::from_utf8_lossy(body).trim()
        ),
        503 => "the server is currently unable to handle the request".into(),
        _ => format!(
            "the server responded with the status code {code} but did not return more information"
        ),
    }
}

/// The body as JSON with the expected `kind` and one of the `apiVersions` (the client decodes
/// by these fields and fails without them).
fn decode(body: &[u8], kind: &str, api_versions: &[&str]) -> Result<Value, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let (Some(got_kind), Some(got_version)) =
        (value["kind"].as_str(), value["apiVersion"].as_str())
    else {
        return Err("Object 'Kind' is missing in the response".into());
    };
    if got_kind != kind || !api_versions.contains(&got_version) {
        return Err(format!(
            "expected {kind} in {api_versions:?}, got {got_kind} {got_version}"
        ));
    }
    Ok(value)
}

/// `resource.Quantity` from JSON (a string, a number, or null for zero) read as `MilliValue()`.
pub fn quantity_milli(value: &Value) -> Result<i64, String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Null => return Ok(0),
        other => return Err(format!("quantity must be a string, got {other}")),
    };
    text.parse::<Quantity>()
        .map(|q| q.milli_value())
        .map_err(|e| e.to_string())
}

/// `metav1.Time` from JSON (RFC 3339, or null for Go's zero time, approximated by `MIN`).
fn time(value: &Value) -> Result<Timestamp, String> {
    match value {
        Value::Null => Ok(Timestamp::MIN),
        Value::String(s) => s.parse().map_err(|e| format!("invalid time {s:?}: {e}")),
        other => Err(format!("time must be a string, got {other}")),
    }
}

/// One item of a `MetricValueList`, as the controller reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomMetricItem {
    /// `describedObject.name`.
    pub name: String,
    /// `value.MilliValue()`.
    pub value: i64,
    /// `timestamp`.
    pub timestamp: Timestamp,
    /// `windowSeconds` (v1beta2) or `window` (v1beta1), if present.
    pub window_seconds: Option<i64>,
}

impl CustomMetricItem {
    /// The item as a pod's value (window one minute when absent, as `GetRawMetric` defaults).
    pub fn pod_value(&self) -> PodValue {
        PodValue {
            milli: self.value,
            timestamp: self.timestamp,
            window: SignedDuration::from_secs(self.window_seconds.unwrap_or(60)),
        }
    }
}

/// Decode a `custom.metrics.k8s.io` `MetricValueList` of either version.
pub fn parse_metric_value_list(body: &[u8]) -> Result<Vec<CustomMetricItem>, String> {
    let list = decode(
        body,
        "MetricValueList",
        &[
            "custom.metrics.k8s.io/v1beta1",
            "custom.metrics.k8s.io/v1beta2",
        ],
    )?;
    let v1beta1 = list["apiVersion"] == "custom.metrics.k8s.io/v1beta1";
    let window_key = if v1beta1 { "window" } else { "windowSeconds" };
    let mut items = Vec::new();
    for item in list["items"].as_array().into_iter().flatten() {
        items.push(CustomMetricItem {
            name: item["describedObject"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            value: quantity_milli(&item["value"])?,
            timestamp: time(&item["timestamp"])?,
            window_seconds: item[window_key].as_i64(),
        });
    }
    Ok(items)
}

/// One item of an `ExternalMetricValueList`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalMetricItem {
    /// `metricLabels`.
    pub labels: BTreeMap<String, String>,
    /// `value.MilliValue()`.
    pub value: i64,
}

/// Decode an `external.metrics.k8s.io/v1beta1` `ExternalMetricValueList`.
pub fn parse_external_metric_value_list(body: &[u8]) -> Result<Vec<ExternalMetricItem>, String> {
    let list = decode(
        body,
        "ExternalMetricValueList",
        &["external.metrics.k8s.io/v1beta1"],
    )?;
    let mut items = Vec::new();
    for item in list["items"].as_array().into_iter().flatten() {
        let labels = item["metricLabels"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        items.push(ExternalMetricItem {
            labels,
            value: quantity_milli(&item["value"])?,
        });
    }
    Ok(items)
}

/// One pod of a `PodMetricsList`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodMetricsItem {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `timestamp`.
    pub timestamp: Timestamp,
    /// `window`.
    pub window: SignedDuration,
    /// `containers`: name and `usage` read as `MilliValue()` by resource.
    pub containers: Vec<(String, BTreeMap<String, i64>)>,
}

/// Decode a `metrics.k8s.io/v1beta1` `PodMetricsList`.
pub fn parse_pod_metrics_list(body: &[u8]) -> Result<Vec<PodMetricsItem>, String> {
    let list = decode(body, "PodMetricsList", &["metrics.k8s.io/v1beta1"])?;
    let mut items = Vec::new();
    for item in list["items"].as_array().into_iter().flatten() {
        let mut containers = Vec::new();
        for c in item["containers"].as_array().into_iter().flatten() {
            let mut usage = BTreeMap::new();
            for (resource, q) in c["usage"].as_object().into_iter().flatten() {
                usage.insert(resource.clone(), quantity_milli(q)?);
            }
            containers.push((c["name"].as_str().unwrap_or_default().to_owned(), usage));
        }
        let window = match item["window"].as_str() {
            Some(w) => parse_go_duration(w)?,
            None => SignedDuration::ZERO,
        };
        items.push(PodMetricsItem {
            namespace: item["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            name: item["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            timestamp: time(&item["timestamp"])?,
            window,
            containers,
        });
    }
    Ok(items)
}

/// Each pod's usage of `resource` (of the named container only, if any), read by the library's
/// `pod_usage` as the controller reads it; an error if a pod lacks the named container.
pub fn pod_metrics_for(
    items: &[PodMetricsItem],
    resource: &str,
    container: Option<&str>,
) -> Result<BTreeMap<String, PodValue>, String> {
    let mut metrics = BTreeMap::new();
    for item in items {
        let usage: Vec<(&str, Option<i64>)> = item
            .containers
            .iter()
            .map(|(name, usage)| (name.as_str(), usage.get(resource).copied()))
            .collect();
        if let Some(value) = replicas::pod_usage(&item.namespace, &item.name, &usage, container)? {
            metrics.insert(
                item.name.clone(),
                PodValue {
                    milli: value,
                    timestamp: item.timestamp,
                    window: item.window,
                },
            );
        }
    }
    Ok(metrics)
}

/// The custom metrics version from an `APIGroupList` (`GET /apis`): the group's preferred
/// version if the client knows it, else the first listed version it knows.
pub fn preferred_custom_metrics_version(body: &[u8]) -> Result<CustomMetricsVersion, String> {
    let list: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let known = |v: &Value| match v["version"].as_str() {
        Some("v1beta2") => Some(CustomMetricsVersion::V1Beta2),
        Some("v1beta1") => Some(CustomMetricsVersion::V1Beta1),
        _ => None,
    };
    let group = list["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["name"] == "custom.metrics.k8s.io")
        .ok_or("no custom metrics API (custom.metrics.k8s.io) registered")?;
    known(&group["preferredVersion"])
        .or_else(|| group["versions"].as_array()?.iter().find_map(known))
        .ok_or_else(|| "no known custom metrics API version is served".into())
}

/// Go's `time.ParseDuration` (`1m0s`, `20.022s`, `1.5µs`, `-2h`), as `metav1.Duration` reads.
pub fn parse_go_duration(text: &str) -> Result<SignedDuration, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(SignedDuration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let number = &rest[..number_len];
        if number.is_empty() || number == "." {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(invalid()),
        };
        total += value * nanos_per_unit;
        rest = &rest[unit_len..];
    }
    let nanos = if negative { -total } else { total };
    Ok(SignedDuration::from_nanos_i128(nanos.round() as i128))
}

#[cfg(test)]
mod tests;
