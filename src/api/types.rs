//! Wire types of the metrics APIs and of discovery, field for field and in Go's field order.
//!
//! Hand-written because k8s-openapi has no metrics types (kube-rs#492). Conventions that matter
//! to clients: top-level `kind`/`apiVersion` always present, list `metadata` is `{}`, items carry
//! neither, `selector` is `null` rather than absent, times are RFC 3339 UTC whole seconds.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::provider::{ExternalValue, MetricValue, NodeMetrics, ObjectReference, PodMetrics};
use crate::rules::format_go_duration;
use crate::selector::LabelSelector;

/// `metadata: {}` of lists.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct ListMeta {}

/// `metav1.Time`: `2026-05-01T10:20:30Z` (UTC, to the second). Serialized as it is written, with
/// no string in between: a list of a thousand values writes a thousand of them.
#[derive(Debug, Clone, Copy)]
pub struct Time(pub jiff::Timestamp);

impl Time {
    /// `YYYY-MM-DDTHH:MM:SSZ` for years 0 to 9999 (every time the API writes); `None` outside.
    fn digits(&self) -> Option<[u8; 20]> {
        let t = jiff::tz::Offset::UTC.to_datetime(self.0);
        let year = u16::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        let mut out = *b"0000-00-00T00:00:00Z";
        let mut put = |at: usize, width: usize, mut value: u16| {
            for i in (at..at + width).rev() {
                if let Some(slot) = out.get_mut(i) {
                    *slot = b'0' + (value % 10) as u8;
                }
                value /= 10;
            }
        };
        put(0, 4, year);
        for (at, part) in [
            (5, t.month()),
            (8, t.day()),
            (11, t.hour()),
            (14, t.minute()),
            (17, t.second()),
        ] {
            put(at, 2, part.unsigned_abs().into());
        }
        Some(out)
    }
}

impl std::fmt::Display for Time {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(digits) = self.digits()
            && let Ok(text) = std::str::from_utf8(&digits)
        {
            return f.write_str(text);
        }
        let t = jiff::tz::Offset::UTC.to_datetime(self.0);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

impl Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let digits = self.digits();
        match digits.as_ref().and_then(|d| std::str::from_utf8(d).ok()) {
            Some(text) => serializer.serialize_str(text),
            None => serializer.collect_str(self),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ItemV1Beta1<'a> {
    described_object: &'a ObjectReference,
    metric_name: &'a str,
    timestamp: Time,
    value: &'a str,
    selector: &'a Option<LabelSelector>,
}

#[derive(Serialize)]
struct MetricIdentifier<'a> {
    name: &'a str,
    selector: &'a Option<LabelSelector>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ItemV1Beta2<'a> {
    described_object: &'a ObjectReference,
    metric: MetricIdentifier<'a>,
    timestamp: Time,
    value: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct List<'a, T> {
    kind: &'static str,
    api_version: &'a str,
    metadata: ListMeta,
    items: Vec<T>,
}

/// Custom metrics API versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomVersion {
    /// `v1beta1`: `metricName`, item-level `selector`.
    V1Beta1,
    /// `v1beta2`: `metric: {name, selector}`.
    V1Beta2,
}

impl CustomVersion {
    /// `custom.metrics.k8s.io/<version>`
    pub fn group_version(self) -> &'static str {
        match self {
            CustomVersion::V1Beta1 => "custom.metrics.k8s.io/v1beta1",
            CustomVersion::V1Beta2 => "custom.metrics.k8s.io/v1beta2",
        }
    }
}

/// A `MetricValueList` in the requested version.
pub fn metric_value_list(version: CustomVersion, values: &[MetricValue], pretty: bool) -> Vec<u8> {
    let api_version = version.group_version();
    match version {
        CustomVersion::V1Beta1 => super::encode(
            &List {
                kind: "MetricValueList",
                api_version,
                metadata: ListMeta {},
                items: values
                    .iter()
                    .map(|v| ItemV1Beta1 {
                        described_object: &v.described_object,
                        metric_name: &v.metric,
                        timestamp: Time(v.timestamp),
                        value: &v.value,
                        selector: &v.selector,
                    })
                    .collect(),
            },
            pretty,
        ),
        CustomVersion::V1Beta2 => super::encode(
            &List {
                kind: "MetricValueList",
                api_version,
                metadata: ListMeta {},
                items: values
                    .iter()
                    .map(|v| ItemV1Beta2 {
                        described_object: &v.described_object,
                        metric: MetricIdentifier {
                            name: &v.metric,
                            selector: &v.selector,
                        },
                        timestamp: Time(v.timestamp),
                        value: &v.value,
                    })
                    .collect(),
            },
            pretty,
        ),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalItem<'a> {
    metric_name: &'a str,
    metric_labels: &'a crate::prometheus::SampleLabels,
    timestamp: Time,
    value: &'a str,
}

/// An `ExternalMetricValueList`.
pub fn external_metric_value_list(values: &[ExternalValue], pretty: bool) -> Vec<u8> {
    super::encode(
        &List {
            kind: "ExternalMetricValueList",
            api_version: "external.metrics.k8s.io/v1beta1",
            metadata: ListMeta {},
            items: values
                .iter()
                .map(|v| ExternalItem {
                    metric_name: &v.metric,
                    metric_labels: &v.labels,
                    timestamp: Time(v.timestamp),
                    value: &v.value,
                })
                .collect(),
        },
        pretty,
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ObjectMeta<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
    creation_timestamp: Time,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Usage<'a> {
    cpu: &'a str,
    memory: &'a str,
}

#[derive(Serialize)]
struct Container<'a> {
    name: &'a str,
    usage: Usage<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PodMetricsItem<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_version: Option<&'static str>,
    metadata: ObjectMeta<'a>,
    timestamp: Time,
    window: String,
    containers: Vec<Container<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeMetricsItem<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_version: Option<&'static str>,
    metadata: ObjectMeta<'a>,
    timestamp: Time,
    window: String,
    usage: Usage<'a>,
}

const METRICS_GV: &str = "metrics.k8s.io/v1beta1";

fn pod_item<'a>(p: &'a PodMetrics, now: Time, single: bool) -> PodMetricsItem<'a> {
    PodMetricsItem {
        kind: single.then_some("PodMetrics"),
        api_version: single.then_some(METRICS_GV),
        metadata: ObjectMeta {
            name: &p.name,
            namespace: Some(&p.namespace),
            creation_timestamp: now,
            labels: &p.labels,
        },
        timestamp: Time(p.timestamp),
        window: format_go_duration(p.window),
        containers: p
            .containers
            .iter()
            .map(|c| Container {
                name: &c.name,
                usage: Usage {
                    cpu: &c.cpu,
                    memory: &c.memory,
                },
            })
            .collect(),
    }
}

fn node_item<'a>(n: &'a NodeMetrics, now: Time, single: bool) -> NodeMetricsItem<'a> {
    NodeMetricsItem {
        kind: single.then_some("NodeMetrics"),
        api_version: single.then_some(METRICS_GV),
        metadata: ObjectMeta {
            name: &n.name,
            namespace: None,
            creation_timestamp: now,
            labels: &n.labels,
        },
        timestamp: Time(n.timestamp),
        window: format_go_duration(n.window),
        usage: Usage {
            cpu: &n.cpu,
            memory: &n.memory,
        },
    }
}

/// A `PodMetricsList`, or the bare `PodMetrics` of a single-object request. `creationTimestamp`
/// is now, as metrics-server writes it.
pub fn pod_metrics(pods: &[PodMetrics], single: bool, pretty: bool) -> Vec<u8> {
    let now = Time(jiff::Timestamp::now());
    match (single, pods.first()) {
        (true, Some(p)) => super::encode(&pod_item(p, now, true), pretty),
        _ => super::encode(
            &List {
                kind: "PodMetricsList",
                api_version: METRICS_GV,
                metadata: ListMeta {},
                items: pods.iter().map(|p| pod_item(p, now, false)).collect(),
            },
            pretty,
        ),
    }
}

/// A `NodeMetricsList`, or the bare `NodeMetrics` of a single-object request.
pub fn node_metrics(nodes: &[NodeMetrics], single: bool, pretty: bool) -> Vec<u8> {
    let now = Time(jiff::Timestamp::now());
    match (single, nodes.first()) {
        (true, Some(n)) => super::encode(&node_item(n, now, true), pretty),
        _ => super::encode(
            &List {
                kind: "NodeMetricsList",
                api_version: METRICS_GV,
                metadata: ListMeta {},
                items: nodes.iter().map(|n| node_item(n, now, false)).collect(),
            },
            pretty,
        ),
    }
}

/// `metav1.GroupVersionForDiscovery`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GroupVersion {
    /// `group/version`
    pub group_version: String,
    /// `version`
    pub version: String,
}

/// `metav1.APIGroup` (also an item of `APIGroupList`, without kind and apiVersion).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiGroup {
    /// `kind: APIGroup` on the standalone document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// `apiVersion: v1` on the standalone document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<&'static str>,
    /// The group name.
    pub name: String,
    /// Served versions, preferred first.
    pub versions: Vec<GroupVersion>,
    /// The preferred version.
    pub preferred_version: GroupVersion,
}

/// `metav1.APIGroupList`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiGroupList {
    /// `APIGroupList`
    pub kind: &'static str,
    /// `v1`
    pub api_version: &'static str,
    /// The groups.
    pub groups: Vec<ApiGroup>,
}

/// `metav1.APIResource` as metrics servers write it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiResource {
    /// `pods/http_requests`, `queue_depth`, `nodes`.
    pub name: String,
    /// Always empty, always present.
    pub singular_name: &'static str,
    /// Scope.
    pub namespaced: bool,
    /// `MetricValueList`, `ExternalMetricValueList`, `PodMetrics` …
    pub kind: &'static str,
    /// `["get"]` or `["get","list"]`.
    pub verbs: &'static [&'static str],
}

/// `metav1.APIResourceList`; `resources` is `[]`, never null.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiResourceList {
    /// `APIResourceList`
    pub kind: &'static str,
    /// `v1`
    pub api_version: &'static str,
    /// `group/version`
    pub group_version: String,
    /// The resources.
    pub resources: Vec<ApiResource>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn value(selector: Option<LabelSelector>) -> MetricValue {
        MetricValue {
            described_object: ObjectReference {
                kind: "Pod".into(),
                namespace: Some("default".into()),
                name: "p1".into(),
                api_version: "v1".into(),
            },
            metric: "http_requests_per_second".into(),
            timestamp: jiff::Timestamp::from_second(1_795_339_048).unwrap(),
            value: "500m".into(),
            selector,
        }
    }

    #[test]
    fn custom_metric_lists_in_both_versions() {
        let v1 = String::from_utf8(metric_value_list(
            CustomVersion::V1Beta1,
            &[value(None)],
            false,
        ))
        .unwrap();
        assert_eq!(
            v1,
            r#"{"kind":"MetricValueList","apiVersion":"custom.metrics.k8s.io/v1beta1","metadata":{},"items":[{"describedObject":{"kind":"Pod","namespace":"default","name":"p1","apiVersion":"v1"},"metricName":"http_requests_per_second","timestamp":"2026-11-22T09:17:28Z","value":"500m","selector":null}]}"#
        );
        let sel = crate::selector::Selector::parse("job=x")
            .unwrap()
            .to_label_selector();
        let v2 = String::from_utf8(metric_value_list(
            CustomVersion::V1Beta2,
            &[value(sel)],
            false,
        ))
        .unwrap();
        assert_eq!(
            v2,
            r#"{"kind":"MetricValueList","apiVersion":"custom.metrics.k8s.io/v1beta2","metadata":{},"items":[{"describedObject":{"kind":"Pod","namespace":"default","name":"p1","apiVersion":"v1"},"metric":{"name":"http_requests_per_second","selector":{"matchLabels":{"job":"x"}}},"timestamp":"2026-11-22T09:17:28Z","value":"500m"}]}"#
        );
        let empty =
            String::from_utf8(metric_value_list(CustomVersion::V1Beta2, &[], false)).unwrap();
        assert!(empty.ends_with(r#""items":[]}"#), "{empty}");
    }

    #[test]
    fn external_lists_keep_empty_label_maps() {
        let body = external_metric_value_list(
            &[ExternalValue {
                metric: "queue_depth".into(),
                labels: Default::default(),
                timestamp: crate::provider::unix_timestamp(1_700_000_000.9),
                value: "3750m".into(),
            }],
            false,
        );
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"kind":"ExternalMetricValueList","apiVersion":"external.metrics.k8s.io/v1beta1","metadata":{},"items":[{"metricName":"queue_depth","metricLabels":{},"timestamp":"2023-11-14T22:13:20Z","value":"3750m"}]}"#
        );
    }

    #[test]
    fn resource_metrics_as_metrics_server_writes_them() {
        let pod = PodMetrics {
            namespace: "default".into(),
            name: "p1".into(),
            labels: [("app".to_string(), "web".to_string())].into(),
            timestamp: jiff::Timestamp::from_second(1_700_000_000).unwrap(),
            window: std::time::Duration::from_secs(300),
            containers: vec![crate::provider::ContainerUsage {
                name: "c1".into(),
                cpu: "500m".into(),
                memory: "35840Ki".into(),
            }],
        };
        let single: Value =
            serde_json::from_slice(&pod_metrics(std::slice::from_ref(&pod), true, false)).unwrap();
        assert_eq!(single["kind"], "PodMetrics");
        assert_eq!(single["apiVersion"], "metrics.k8s.io/v1beta1");
        assert_eq!(single["metadata"]["labels"]["app"], "web");
        assert_eq!(single["timestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(single["window"], "5m0s");
        assert_eq!(single["containers"][0]["usage"]["memory"], "35840Ki");
        let list: Value = serde_json::from_slice(&pod_metrics(&[pod], false, false)).unwrap();
        assert_eq!(list["kind"], "PodMetricsList");
        assert_eq!(list["metadata"], serde_json::json!({}));
        assert!(list["items"][0].get("kind").is_none());
        let empty: Value = serde_json::from_slice(&node_metrics(&[], false, false)).unwrap();
        assert_eq!(empty["kind"], "NodeMetricsList");
        assert_eq!(empty["items"], serde_json::json!([]));
    }

    #[test]
    fn times() {
        let t = jiff::Timestamp::from_millisecond(1_777_630_830_999).unwrap();
        assert_eq!(Time(t).to_string(), "2026-05-01T10:20:30Z");
        assert_eq!(
            serde_json::to_string(&Time(t)).unwrap(),
            "\"2026-05-01T10:20:30Z\""
        );
        let early = jiff::Timestamp::from_second(-62_135_596_800).unwrap();
        assert_eq!(Time(early).to_string(), "0001-01-01T00:00:00Z");
        let padded = jiff::Timestamp::from_second(1_000_000_000).unwrap();
        assert_eq!(Time(padded).to_string(), "2001-09-09T01:46:40Z");
        // The digits written by hand agree with jiff's own RFC 3339 over the whole range, and
        // years before 0 still print (the general path).
        let mut second = jiff::Timestamp::MIN.as_second();
        while second < jiff::Timestamp::MAX.as_second() {
            let t = jiff::Timestamp::from_second(second).unwrap();
            let text = Time(t).to_string();
            if t.to_zoned(jiff::tz::TimeZone::UTC).year() >= 0 {
                assert_eq!(text, t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(), "{t}");
                assert_eq!(
                    serde_json::to_string(&Time(t)).unwrap(),
                    format!("{text:?}")
                );
            } else {
                assert!(text.starts_with('-') && text.ends_with('Z'), "{text}");
            }
            second += 86_399 * 367 + 3_607;
        }
    }
}
