//! What `explain` says, as data: the JSON of `-o json` and of `/debug/explain` (field names are
//! part of the interface: add, never rename), and the readable table rendered from it, the same
//! whether the explanation was made here or fetched from a running adapter.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// The `apiVersion` of an explanation.
pub const API_VERSION: &str = "metrics-adapter.explain/v1";
/// The `kind` of an explanation.
pub const KIND: &str = "Explanation";

/// The explanation of an API path or of an HPA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// [`API_VERSION`].
    pub api_version: String,
    /// [`KIND`].
    pub kind: String,
    /// For an HPA: what the controller would do now; `null` for an API path.
    pub hpa: Option<HpaReport>,
    /// One entry per metric (per query for resource metrics).
    pub metrics: Vec<MetricReport>,
}

impl Explanation {
    /// An explanation of these metrics.
    pub fn new(hpa: Option<HpaReport>, metrics: Vec<MetricReport>) -> Explanation {
        Explanation {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            hpa,
            metrics,
        }
    }

    /// Whether every metric is served (no `reason`), and the HPA can scale on them.
    pub fn all_served(&self) -> bool {
        self.metrics.iter().all(|m| m.reason.is_none())
            && self.hpa.as_ref().is_none_or(|h| h.reason.is_none())
    }
}

/// What the HPA controller would do now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HpaReport {
    /// The HPA's namespace.
    pub namespace: String,
    /// The HPA's name.
    pub name: String,
    /// `Kind/name` of the scale target.
    pub scale_target: String,
    /// The target's pod selector (its scale subresource's `status.selector`).
    pub selector: Option<String>,
    /// Pods the selector picks.
    pub pods: usize,
    /// Of those, running and ready.
    pub ready_pods: usize,
    /// The target's `spec.replicas`.
    pub current_replicas: i32,
    /// `minReplicas` (1 when unset).
    pub min_replicas: i32,
    /// `maxReplicas`.
    pub max_replicas: i32,
    /// The tolerance band, as the controller applies it.
    pub tolerance: String,
    /// The largest proposal of the metrics; `null` when they decide nothing.
    pub metric_replicas: Option<i32>,
    /// The replica count the controller would set now.
    pub desired_replicas: i32,
    /// How `desiredReplicas` came about, in order.
    pub steps: Vec<String>,
    /// Why the controller would not scale on the metrics; `null` when it would.
    pub reason: Option<String>,
}

/// One metric: the request, the rule, the query, the samples, the values, and why it is
/// `<unknown>` when it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricReport {
    /// The metric name (`cpu` or `memory` for resource metrics).
    pub metric: String,
    /// The HPA metric type (`Pods`, `Object`, `External`, `Resource`, `ContainerResource`), or
    /// the API asked (`custom`, `external`, `resource`) for a path.
    #[serde(rename = "type")]
    pub kind: String,
    /// The request the HPA controller makes (or the path given): path and query.
    pub request: String,
    /// The resource the metric describes (`pods`, `models.mlops.seldon.io`), when resolved.
    pub resource: Option<String>,
    /// The namespace asked about.
    pub namespace: Option<String>,
    /// The rule that serves the metric (`rules[0] (seriesQuery "…")`); `null` when none does.
    pub rule: Option<String>,
    /// The series the rule found (`.Series`).
    pub series: Option<String>,
    /// Every rule of the section, and whether and why it serves the metric.
    pub rules: Vec<RuleReport>,
    /// Labels of the series and the resources they name.
    pub mapping: Vec<LabelMapping>,
    /// The label naming the objects in the query's samples.
    pub resource_label: Option<String>,
    /// The objects asked about: named in the path, or chosen by the label selector.
    pub objects: Option<Vec<String>>,
    /// The PromQL sent; `null` when none was.
    pub query: Option<String>,
    /// Prometheus' error, when the query failed.
    pub query_error: Option<String>,
    /// The samples Prometheus returned, and what became of each.
    pub samples: Vec<SampleReport>,
    /// The values served.
    pub values: Vec<ValueReport>,
    /// Why the metric would be `<unknown>`, in one sentence an operator can act on; `null`
    /// when it is served.
    pub reason: Option<String>,
    /// What else is worth knowing (objects without a value, a rate still settling …).
    pub notes: Vec<String>,
    /// HPA metrics: the target.
    pub target: Option<String>,
    /// HPA metrics: the current value, as `kubectl get hpa` shows it.
    pub current: Option<String>,
    /// HPA metrics: the replica count this metric proposes; `null` when it has none.
    pub replicas: Option<i32>,
    /// HPA metrics: how the proposal (or the controller's error) came about.
    pub calculation: Option<String>,
}

impl MetricReport {
    /// A report of `metric` of `kind` for `request`, with nothing found yet.
    pub fn new(metric: &str, kind: &str, request: &str) -> MetricReport {
        MetricReport {
            metric: metric.into(),
            kind: kind.into(),
            request: request.into(),
            resource: None,
            namespace: None,
            rule: None,
            series: None,
            rules: Vec::new(),
            mapping: Vec::new(),
            resource_label: None,
            objects: None,
            query: None,
            query_error: None,
            samples: Vec::new(),
            values: Vec::new(),
            reason: None,
            notes: Vec::new(),
            target: None,
            current: None,
            replicas: None,
            calculation: None,
        }
    }
}

/// Whether and why one rule serves the metric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleReport {
    /// The rule (`rules[1] (seriesQuery "…")`).
    pub rule: String,
    /// Whether it is the rule serving the metric.
    pub serves: bool,
    /// Why, or why not.
    pub why: String,
}

/// A label of the series, and the resource it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelMapping {
    /// The label.
    pub label: String,
    /// The resource (`pods`, `deployments.apps`).
    pub resource: String,
}

/// One sample of Prometheus' answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SampleReport {
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value as Prometheus writes it (`NaN` and `+Inf` included).
    pub value: String,
    /// Whether its value is served.
    pub kept: bool,
    /// Why it was left out (or served as 0); `null` when kept as is.
    pub why: Option<String>,
}

/// One value served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueReport {
    /// The object described (custom and resource metrics).
    pub object: Option<String>,
    /// The container (resource metrics of pods).
    pub container: Option<String>,
    /// The labels (external metrics).
    pub labels: Option<BTreeMap<String, String>>,
    /// The value, a Kubernetes quantity.
    pub value: String,
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={:?}", v)).collect();
    format!("{{{}}}", inner.join(","))
}

/// Rows as columns padded to their widest cell; the last column is not padded.
fn columns(rows: &[Vec<String>], indent: &str) -> String {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..width)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = indent.to_string();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths.get(i).copied().unwrap_or(0);
                let _ = write!(line, "{cell:<pad$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A labelled field: `  label     text`, continuation lines indented under the text.
fn field(out: &mut String, label: &str, text: &str) {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let _ = writeln!(out, "  {label:<10}{first}");
    for line in lines {
        let _ = writeln!(out, "  {:<10}{line}", "");
    }
}

/// The explanation as a readable table.
pub fn render_table(explanation: &Explanation) -> String {
    let mut out = String::new();
    if let Some(hpa) = &explanation.hpa {
        let _ = writeln!(
            out,
            "HPA {}/{} scales {} ({} replicas now, min {}, max {}, tolerance {})",
            hpa.namespace,
            hpa.name,
            hpa.scale_target,
            hpa.current_replicas,
            hpa.min_replicas,
            hpa.max_replicas,
            hpa.tolerance
        );
        if let Some(selector) = &hpa.selector {
            field(
                &mut out,
                "pods",
                &format!(
                    "{} match {selector:?}, {} running and ready",
                    hpa.pods, hpa.ready_pods
                ),
            );
        }
        for step in &hpa.steps {
            field(&mut out, "step", step);
        }
        field(
            &mut out,
            "replicas",
            &format!("{} (desired now)", hpa.desired_replicas),
        );
        if let Some(reason) = &hpa.reason {
            field(&mut out, "reason", reason);
        }
        out.push('\n');
    }
    for (i, m) in explanation.metrics.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let status = match &m.reason {
            None => "served".to_string(),
            Some(_) => "<unknown>".to_string(),
        };
        let _ = writeln!(out, "METRIC {} ({}): {status}", m.metric, m.kind);
        field(&mut out, "request", &format!("GET {}", m.request));
        if let Some(target) = &m.target {
            field(&mut out, "target", target);
        }
        match &m.rule {
            Some(rule) => field(&mut out, "rule", rule),
            None => field(&mut out, "rule", "none"),
        }
        if !m.rules.is_empty() {
            let rows: Vec<Vec<String>> = m
                .rules
                .iter()
                .map(|r| {
                    // The rule line above shows the series query; here the index is enough.
                    let short = r.rule.split(" (").next().unwrap_or(&r.rule);
                    vec![
                        short.to_string(),
                        if r.serves { "serves" } else { "-" }.to_string(),
                        r.why.clone(),
                    ]
                })
                .collect();
            out.push_str("  rules\n");
            out.push_str(&columns(&rows, "    "));
        }
        if let Some(series) = &m.series {
            field(&mut out, "series", series);
        }
        if !m.mapping.is_empty() {
            let pairs: Vec<String> = m
                .mapping
                .iter()
                .map(|l| format!("{} -> {}", l.label, l.resource))
                .collect();
            let mut text = pairs.join(", ");
            if let Some(label) = &m.resource_label {
                let _ = write!(text, " (objects by {label})");
            }
            field(&mut out, "mapping", &text);
        }
        if let Some(objects) = &m.objects {
            let text = if objects.is_empty() {
                "none".to_string()
            } else {
                objects.join(", ")
            };
            field(&mut out, "objects", &text);
        }
        if let Some(query) = &m.query {
            field(&mut out, "query", query.trim());
        }
        if let Some(error) = &m.query_error {
            field(&mut out, "error", error);
        }
        if m.query.is_some() && m.query_error.is_none() {
            if m.samples.is_empty() {
                field(&mut out, "samples", "none");
            } else {
                let mut rows = vec![vec!["LABELS".into(), "VALUE".into(), "FATE".into()]];
                rows.extend(m.samples.iter().map(|s| {
                    let fate = match (&s.why, s.kept) {
                        (None, _) => "kept".to_string(),
                        (Some(why), true) => format!("kept: {why}"),
                        (Some(why), false) => format!("dropped: {why}"),
                    };
                    vec![labels_text(&s.labels), s.value.clone(), fate]
                }));
                out.push_str("  samples\n");
                out.push_str(&columns(&rows, "    "));
            }
        }
        if !m.values.is_empty() {
            let mut rows = vec![vec!["OBJECT".into(), "VALUE".into()]];
            rows.extend(m.values.iter().map(|v| {
                let object = match (&v.object, &v.container, &v.labels) {
                    (Some(o), Some(c), _) => format!("{o} ({c})"),
                    (Some(o), None, _) => o.clone(),
                    (None, _, Some(labels)) => labels_text(labels),
                    (None, _, None) => String::new(),
                };
                vec![object, v.value.clone()]
            }));
            out.push_str("  values\n");
            out.push_str(&columns(&rows, "    "));
        }
        if let Some(current) = &m.current {
            field(&mut out, "current", current);
        }
        if let Some(calculation) = &m.calculation {
            field(&mut out, "proposes", calculation);
        }
        for note in &m.notes {
            field(&mut out, "note", note);
        }
        if let Some(reason) = &m.reason {
            field(&mut out, "reason", reason);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_every_step_and_the_json_keeps_its_field_names() {
        let mut m = MetricReport::new(
            "asr_active_requests",
            "Pods",
            "/apis/custom.metrics.k8s.io/v1beta2/namespaces/speech/pods/%2A/asr_active_requests",
        );
        m.rule = Some("rules[0] (seriesQuery \"asr_active_requests\")".into());
        m.query = Some("sum(asr_active_requests{pod=~\"a|b\"}) by (pod)".into());
        m.samples = vec![
            SampleReport {
                labels: [("pod".to_string(), "a".to_string())].into(),
                value: "3".into(),
                kept: true,
                why: None,
            },
            SampleReport {
                labels: [("pod".to_string(), "b".to_string())].into(),
                value: "NaN".into(),
                kept: false,
                why: Some("NaN".into()),
            },
        ];
        m.values = vec![ValueReport {
            object: Some("a".into()),
            container: None,
            labels: None,
            value: "3".into(),
        }];
        let served = Explanation::new(None, vec![m.clone()]);
        assert!(served.all_served());
        let table = render_table(&served);
        assert!(
            table.starts_with("METRIC asr_active_requests (Pods): served\n"),
            "{table}"
        );
        assert!(
            table.contains("    {pod=\"b\"}  NaN    dropped: NaN\n"),
            "{table}"
        );
        assert!(
            table.contains("  values\n    OBJECT  VALUE\n    a       3\n"),
            "{table}"
        );
        m.reason = Some("no rule names the metric".into());
        let unknown = Explanation::new(None, vec![m]);
        assert!(!unknown.all_served());
        assert!(render_table(&unknown).contains("  reason    no rule names the metric\n"));
        let json = serde_json::to_value(&unknown).unwrap();
        assert_eq!(json["apiVersion"], API_VERSION);
        assert_eq!(json["kind"], "Explanation");
        assert!(json["hpa"].is_null());
        let metric = &json["metrics"][0];
        for key in [
            "metric", "type", "rule", "query", "values", "reason", "samples",
        ] {
            assert!(metric.get(key).is_some(), "{key}: {metric}");
        }
        let back: Explanation = serde_json::from_value(json).unwrap();
        assert_eq!(back, unknown);
    }
}
