//! The HPA controller's side of the wire, pure: the request paths and query strings its
//! metrics clients build (client-go `Request.URL()`: Go path escaping, `url.Values.Encode`,
//! selectors printed by `labels.Selector.String()`), and the decoding of the three metrics APIs'
//! answers into milli-values read with `MilliValue()`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::super::label_match::Selector;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use metrics_adapter::quantity::Quantity;
use serde_json::Value;

use super::calc::{PodMetric, PodMetrics};

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

/// Go's `url.QueryEscape`: unreserved characters kept, space as `+`, everything else `%XX`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Go's `(*url.URL).EscapedPath()` for a path set without `RawPath`: unreserved characters and
/// `$ & + , / : ; = @` kept, everything else (including `*` and `?`) as `%XX`.
pub fn path_escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'a'..=b'z'
            | b'A'..=b'Z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'$'
            | b'&'
            | b'+'
            | b','
            | b'/'
            | b':'
            | b';'
            | b'='
            | b'@' => out.push(b as char),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// `url.Values.Encode()` of the parameters the metrics clients send: keys sorted, values
/// query-escaped, empty values left out (the parameter codecs omit empty `omitempty` fields).
pub fn encode_query(params: &[(&str, &str)]) -> String {
    let mut params: Vec<_> = params.iter().filter(|(_, v)| !v.is_empty()).collect();
    params.sort_by_key(|(k, _)| *k);
    params
        .iter()
        .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `metav1.LabelSelectorAsSelector(selector).String()`: `matchLabels` as `k=v`, expressions as
/// `k in (…)`, `k notin (…)`, `k`, `!k`, sorted by key, values sorted; nil or empty gives `""`.
pub fn selector_string(selector: Option<&LabelSelector>) -> Result<String, String> {
    let Some(selector) = selector else {
        return Ok(String::new());
    };
    let mut requirements: Vec<(String, String)> = Vec::new();
    for (key, value) in selector.match_labels.iter().flatten() {
        requirements.push((key.clone(), format!("{key}={value}")));
    }
    for expr in selector.match_expressions.iter().flatten() {
        let mut values = expr.values.clone().unwrap_or_default();
        values.sort();
        let key = &expr.key;
        let text = match expr.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err("for 'in', 'notin' operators, values set can't be empty".into());
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Err("values set must be empty for exists and does not exist".into());
            }
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.clone(),
            "DoesNotExist" => format!("!{key}"),
            other => return Err(format!("{other:?} is not a valid label selector operator")),
        };
        requirements.push((key.clone(), text));
    }
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    let text = requirements
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",");
    // apimachinery validates keys and values when building the requirements.
    Selector::parse(&text)?;
    Ok(text)
}

fn request(path: &str, params: &[(&str, &str)]) -> String {
    let query = encode_query(params);
    if query.is_empty() {
        path_escape(path)
    } else {
        format!("{}?{query}", path_escape(path))
    }
}

/// `GetForObjects(Pod, podSelector, metric, metricSelector)`: the Pods metric request.
pub fn pods_metric_request(
    version: CustomMetricsVersion,
    namespace: &str,
    metric: &str,
    pod_selector: &str,
    metric_selector: &str,
) -> String {
    request(
        &format!(
            "/apis/custom.metrics.k8s.io/{}/namespaces/{namespace}/pods/*/{metric}",
            version.as_str()
        ),
        &[
            ("labelSelector", pod_selector),
            ("metricLabelSelector", metric_selector),
        ],
    )
}

/// `GetForObject(groupKind, name, metric, metricSelector)`: one namespaced object's metric;
/// `resource` is `plural` or `plural.group`.
pub fn object_metric_request(
    version: CustomMetricsVersion,
    namespace: &str,
    resource: &str,
    name: &str,
    metric: &str,
    metric_selector: &str,
) -> String {
    request(
        &format!(
            "/apis/custom.metrics.k8s.io/{}/namespaces/{namespace}/{resource}/{name}/{metric}",
            version.as_str()
        ),
        &[("metricLabelSelector", metric_selector)],
    )
}

/// The metric describing the HPA's own Namespace (`RootScopedMetrics().GetForObject`).
pub fn namespace_metric_request(
    version: CustomMetricsVersion,
    namespace: &str,
    metric: &str,
    metric_selector: &str,
) -> String {
    request(
        &format!(
            "/apis/custom.metrics.k8s.io/{}/namespaces/{namespace}/metrics/{metric}",
            version.as_str()
        ),
        &[("metricLabelSelector", metric_selector)],
    )
}

/// The External metric request. client-go lowercases the resource segment, and the external
/// metrics client passes the metric name as the resource: `queueDepth` is asked as `queuedepth`.
pub fn external_metric_request(namespace: &str, metric: &str, selector: &str) -> String {
    request(
        &format!(
            "/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{}",
            metric.to_lowercase()
        ),
        &[("labelSelector", selector)],
    )
}

/// The Resource metrics request: every pod metric of the namespace matching the pod selector.
pub fn resource_metrics_request(namespace: &str, pod_selector: &str) -> String {
    request(
        &format!("/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods"),
        &[("labelSelector", pod_selector)],
    )
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
    /// The item as a pod metric (window one minute when absent, as `GetRawMetric` defaults).
    pub fn pod_metric(&self) -> PodMetric {
        PodMetric {
            value: self.value,
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

/// `getPodMetrics` / `getContainerMetrics`: each pod's usage of `resource`, summed over its
/// containers (a pod with no containers or a container without the resource is left out), or
/// the named container's (an error if a pod lacks that container).
pub fn pod_metrics_for(
    items: &[PodMetricsItem],
    resource: &str,
    container: Option<&str>,
) -> Result<PodMetrics, String> {
    let mut metrics = PodMetrics::new();
    for item in items {
        let value = match container {
            Some(name) => {
                let Some((_, usage)) = item.containers.iter().find(|(n, _)| n == name) else {
                    return Err(format!(
                        "container {name} not present in metrics for pod {}/{}",
                        item.namespace, item.name
                    ));
                };
                usage.get(resource).copied()
            }
            None if item.containers.is_empty() => None,
            None => item
                .containers
                .iter()
                .map(|(_, usage)| usage.get(resource).copied())
                .sum::<Option<i64>>(),
        };
        if let Some(value) = value {
            metrics.insert(
                item.name.clone(),
                PodMetric {
                    value,
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
