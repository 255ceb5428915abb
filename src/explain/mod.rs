//! `explain`: why a metric has the value it has, or why an HPA shows `<unknown>`.
//!
//! An explanation runs the request through the provider's own code with a [`Tracer`] (so it
//! shows what the adapter does, not a re-implementation of it), then asks Prometheus what each
//! rule of the section makes of the metric, and says in one sentence why a metric has no value.
//! For an HPA it also reads the target's scale and pods and computes, as the controller would
//! now, each metric's proposal and the replica count. It sits between `api` (which serves it
//! at `/debug/explain`) and `provider`; `cli` runs it without a server.

pub mod analysis;
pub mod hpa;
pub mod reason;
pub mod replicas;
pub mod report;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use analysis::Finding;
use reason::{Asked, Ended};
pub use report::{
    Explanation, HpaReport, LabelMapping, MetricReport, RuleReport, SampleReport, ValueReport,
    render_table,
};

use crate::prometheus::{SeriesInfo, Transfer};
use crate::provider::{
    CustomRequest, ExternalRequest, ExternalValue, MetricValue, NodeMetrics, NodeMetricsRequest,
    PodMetrics, PodMetricsRequest, Provider, ProviderError, QueryTrace, SampleFate, Trace, Tracer,
};
use crate::resources::{ResourceCatalog, ResourceInfo};
use crate::rules::Rule;
use crate::rules::naming::ResourceMapping;

/// A metrics API request to explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricRequest {
    /// custom.metrics.k8s.io.
    Custom(CustomRequest),
    /// external.metrics.k8s.io.
    External(ExternalRequest),
    /// metrics.k8s.io pods.
    Pods(PodMetricsRequest),
    /// metrics.k8s.io nodes.
    Nodes(NodeMetricsRequest),
}

/// Why an HPA cannot be explained at all; the message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    /// The cluster has no such HPA.
    #[error("{0}")]
    NotFound(String),
    /// The cluster could not be asked (a missing permission, a timeout).
    #[error("{0}")]
    Failed(String),
}

/// Explains requests and HPAs with a provider's registry, cluster and Prometheus. Cheap to
/// clone.
#[derive(Clone)]
pub struct Explainer {
    provider: Provider,
}

/// What became of a sample, in words; `None` when it is served as it is.
fn fate_text(fate: SampleFate, sample: &crate::prometheus::Sample, label: &str) -> Option<String> {
    match fate {
        SampleFate::Kept => None,
        SampleFate::KeptAsZero => {
            Some("NaN or negative: served as 0, as metrics-server does".into())
        }
        SampleFate::Replaced => Some("a later sample of the same object replaced it".into()),
        SampleFate::Duplicate => Some("an earlier sample of the same object is used".into()),
        SampleFate::NoResourceLabel => Some(format!("it has no {label} label")),
        SampleFate::NoContainerLabel => Some("it has no container label".into()),
        SampleFate::NotAsked => Some(format!(
            "{label}={} was not asked for",
            sample.labels.get(label).unwrap_or_default()
        )),
        SampleFate::NotANumber => {
            Some("NaN or infinite: no Kubernetes quantity can hold it".into())
        }
    }
}

/// A sample's labels as a map.
fn labels_of(
    labels: &crate::prometheus::SampleLabels,
) -> std::collections::BTreeMap<String, String> {
    labels
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// A sample value as Prometheus writes it.
fn prometheus_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        value.to_string()
    }
}

/// The query, its error and its samples into the report.
fn add_query(report: &mut MetricReport, query: &QueryTrace) {
    report.query = Some(query.query.clone());
    report.resource_label = query.resource_label.clone();
    let label = query.resource_label.as_deref().unwrap_or_default();
    match &query.answer {
        Ok(samples) => {
            report.samples = samples
                .iter()
                .map(|(sample, fate)| SampleReport {
                    labels: labels_of(&sample.labels),
                    value: prometheus_value(sample.value),
                    kept: fate.kept(),
                    why: fate_text(*fate, sample, label),
                })
                .collect();
        }
        Err(e) => report.query_error = Some(e.clone()),
    }
}

/// How the provider's call ended, for the reason.
fn ended<T>(result: &Result<Vec<T>, ProviderError>) -> Ended {
    match result {
        Ok(values) => Ended::Values(values.len()),
        Err(ProviderError::MetricNotFound { .. } | ProviderError::NoValueFor { .. }) => {
            Ended::NotFound
        }
        Err(ProviderError::ObjectNotFound { .. }) => Ended::NotFound,
        Err(ProviderError::BadRequest(_)) => Ended::BadRequest,
        Err(ProviderError::ListFailed(_) | ProviderError::FetchFailed) => Ended::Failed,
    }
}

/// The labels a mapping names, with their resources: the labels of the series when known,
/// else the overrides.
fn mapping_of(
    mapping: &ResourceMapping,
    catalog: &ResourceCatalog,
    labels: Option<&std::collections::BTreeSet<String>>,
) -> Vec<LabelMapping> {
    let index = mapping.label_index(catalog);
    match labels {
        Some(labels) => labels
            .iter()
            .filter_map(|l| {
                index.resource_for(l).map(|r| LabelMapping {
                    label: l.clone(),
                    resource: r.group_resource().to_string(),
                })
            })
            .collect(),
        None => mapping
            .overrides()
            .iter()
            .map(|(label, gr)| LabelMapping {
                label: label.clone(),
                resource: catalog
                    .resolve(gr)
                    .map_or_else(|| gr.to_string(), |r| r.group_resource().to_string()),
            })
            .collect(),
    }
}

/// The series listings of one explanation, by series query: each query asked once.
#[derive(Default)]
struct Listings {
    recent: HashMap<String, Result<Vec<SeriesInfo>, String>>,
    older: HashMap<String, Result<Vec<SeriesInfo>, String>>,
}

impl Listings {
    fn labels_of(&self, query: &str, series: &str) -> Option<std::collections::BTreeSet<String>> {
        let listed = self.recent.get(query)?.as_ref().ok()?;
        let mut labels = std::collections::BTreeSet::new();
        for s in listed.iter().filter(|s| s.name == series) {
            labels.extend(s.labels.iter().cloned());
        }
        Some(labels)
    }
}

impl Explainer {
    /// Notes for the extrapolating functions of `query` (rate, increase, delta) whose youngest
    /// series is younger than their window: their values read low until it is covered.
    async fn settling(&self, query: &str) -> Vec<String> {
        let mut notes = Vec::new();
        for (function, window, age_query) in
            crate::promql::window_age_queries(query).into_iter().take(3)
        {
            let Ok(result) = self.provider.prometheus().query(&age_query).await else {
                continue;
            };
            let Some(age) = (match &*result {
                crate::prometheus::QueryResult::Vector(samples) => samples.first().map(|s| s.value),
                _ => None,
            }) else {
                continue;
            };
            let window_seconds = window.as_secs_f64();
            if age.is_finite() && age >= 0.0 && age < window_seconds {
                notes.push(format!(
                    "still settling: {function}() over {} but its youngest series has samples for {age:.0}s only; the value reads low until they cover the whole window, in about {:.0}s",
                    crate::rules::format_go_duration(window),
                    window_seconds - age
                ));
            }
        }
        notes
    }

    /// The settling notes of the report's query, if it was answered.
    async fn add_settling(&self, report: &mut MetricReport) {
        if let (Some(query), None) = (&report.query, &report.query_error) {
            let notes = self.settling(query).await;
            report.notes.extend(notes);
        }
    }

    /// An explainer over a provider.
    pub fn new(provider: Provider) -> Explainer {
        Explainer { provider }
    }

    fn max_age(&self) -> Duration {
        self.provider.registry().options().max_age
    }

    /// The series `query` finds since `start`, or Prometheus' error.
    async fn list(&self, query: &str, since: Duration) -> Result<Vec<SeriesInfo>, String> {
        let start = SystemTime::now()
            .checked_sub(since)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let timeout = self.provider.registry().options().discovery.timeout;
        self.provider
            .prometheus()
            .series(query, start, timeout, &Transfer::new())
            .await
            .map_err(|e| e.to_string())
    }

    /// What each rule makes of `metric` (for `wanted`, custom metrics).
    async fn findings(
        &self,
        rules: &[Rule],
        metric: &str,
        wanted: Option<&ResourceInfo>,
        chosen: Option<(usize, &str)>,
        listings: &mut Listings,
    ) -> Vec<(String, Finding)> {
        let catalog = self.provider.cluster().catalog();
        let max_age = self.max_age();
        let mut findings = Vec::with_capacity(rules.len());
        for (index, rule) in rules.iter().enumerate() {
            if let Some(other) = analysis::names_only_another(rule, metric) {
                findings.push((rule.at.to_string(), other));
                continue;
            }
            if !listings.recent.contains_key(&rule.series_query) {
                let listed = self.list(&rule.series_query, max_age).await;
                listings.recent.insert(rule.series_query.clone(), listed);
            }
            let recent = listings
                .recent
                .get(&rule.series_query)
                .cloned()
                .unwrap_or_else(|| Err("not listed".into()));
            let mut finding =
                analysis::judge(rule, index, metric, wanted, &catalog, &recent, chosen);
            if finding.may_be_stale() {
                if !listings.older.contains_key(&rule.series_query) {
                    let older = self
                        .list(&rule.series_query, analysis::STALE_LOOKBACK)
                        .await;
                    listings.older.insert(rule.series_query.clone(), older);
                }
                if let Some(older) = listings.older.get(&rule.series_query) {
                    finding = analysis::with_older(finding, rule, metric, older);
                }
            }
            findings.push((rule.at.to_string(), finding));
        }
        findings
    }

    fn rule_reports(
        findings: &[(String, Finding)],
        metric: &str,
        resource: Option<&str>,
        max_age: Duration,
    ) -> Vec<RuleReport> {
        findings
            .iter()
            .map(|(rule, finding)| RuleReport {
                rule: rule.clone(),
                serves: finding.serves(),
                why: finding.why(metric, resource, max_age),
            })
            .collect()
    }

    /// Explain an API request; `shown` is the path and query as given.
    pub async fn request(&self, request: &MetricRequest, shown: &str) -> Explanation {
        let metrics = match request {
            MetricRequest::Custom(req) => vec![self.custom(req, shown, "custom", false).await.0],
            MetricRequest::External(req) => vec![self.external(req, shown, "external").await.0],
            MetricRequest::Pods(req) => self.pods(req, shown, "resource", None).await.0,
            MetricRequest::Nodes(req) => self.nodes(req, shown).await,
        };
        Explanation::new(None, metrics)
    }

    /// Explain a custom metrics request: the report, and the values served.
    async fn custom(
        &self,
        req: &CustomRequest,
        shown: &str,
        kind: &str,
        exactly_one: bool,
    ) -> (MetricReport, Option<Vec<MetricValue>>) {
        let tracer = Tracer::new();
        let result = self.provider.custom_traced(req, &tracer).await;
        let trace = tracer.into_trace();
        let registry = self.provider.registry();
        let rules = registry.rules().clone();
        let catalog = self.provider.cluster().catalog();
        let max_age = self.max_age();
        let mut report = MetricReport::new(&req.metric, kind, shown);
        report.namespace = req.namespace.clone();
        let resource = trace
            .resource
            .as_ref()
            .map(|r| r.group_resource().to_string());
        report.resource = resource.clone();
        let chosen = trace.source.as_ref().and_then(|s| {
            rules
                .custom
                .get(s.rule)
                .map(|r| (s.rule, r.at.to_string(), s.series.clone()))
        });
        let mut listings = Listings::default();
        // A resource the cluster does not serve: no rule can serve it, whatever it names.
        let findings = match &trace.resource {
            Some(info) => {
                self.findings(
                    &rules.custom,
                    &req.metric,
                    Some(info),
                    chosen.as_ref().map(|(i, at, _)| (*i, at.as_str())),
                    &mut listings,
                )
                .await
            }
            None => Vec::new(),
        };
        report.rules = Self::rule_reports(&findings, &req.metric, resource.as_deref(), max_age);
        // The mapping of the rule used, else of the first rule that names the metric.
        let mapped = chosen
            .as_ref()
            .map(|(i, _, series)| (*i, series.clone()))
            .or_else(|| {
                findings.iter().enumerate().find_map(|(i, (_, f))| match f {
                    Finding::NoLabel { series, .. }
                    | Finding::NotListedYet { series }
                    | Finding::ServesElsewhere { series, .. } => Some((i, series.clone())),
                    _ => None,
                })
            });
        if let Some((i, series)) = &mapped
            && let Some(rule) = rules.custom.get(*i)
        {
            let labels = listings.labels_of(&rule.series_query, series);
            report.mapping = mapping_of(&rule.resources, &catalog, labels.as_ref());
            if let Some(info) = &trace.resource {
                report.resource_label = rule.resources.label_for(info, &catalog).ok();
            }
        }
        if let Some((_, at, series)) = &chosen {
            report.rule = Some(at.clone());
            report.series = Some(series.clone());
        }
        report.objects = trace.objects.clone();
        if let Some(query) = trace.queries.first() {
            add_query(&mut report, query);
            self.add_settling(&mut report).await;
        }
        let values = result.as_ref().ok().cloned();
        if let Some(values) = &values {
            report.values = values
                .iter()
                .map(|v| ValueReport {
                    object: Some(v.described_object.name.clone()),
                    container: None,
                    labels: None,
                    value: v.value.clone(),
                })
                .collect();
            if req.name.is_none()
                && let Some(objects) = &trace.objects
            {
                let without: Vec<&str> = objects
                    .iter()
                    .filter(|o| !values.iter().any(|v| &v.described_object.name == *o))
                    .map(String::as_str)
                    .collect();
                if !without.is_empty() && !values.is_empty() {
                    report.notes.push(format!(
                        "{} of {} objects have no value: {} (an HPA counts such pods as missing: at the target when scaling down, at 0 when scaling up)",
                        without.len(),
                        objects.len(),
                        without.join(", ")
                    ));
                }
            }
        }
        let selector = req.label_selector.to_string();
        let asked = Asked {
            metric: &req.metric,
            resource: &req.resource,
            namespace: req.namespace.as_deref(),
            selector: req.name.is_none().then_some(selector.as_str()),
            max_age,
            section: "rules",
        };
        report.reason = reason::custom(&asked, ended(&result), &trace, &findings, exactly_one);
        (report, values)
    }

    /// Explain an external metrics request: the report, and the values served.
    async fn external(
        &self,
        req: &ExternalRequest,
        shown: &str,
        kind: &str,
    ) -> (MetricReport, Option<Vec<ExternalValue>>) {
        let tracer = Tracer::new();
        let result = self.provider.external_traced(req, &tracer).await;
        let trace = tracer.into_trace();
        let registry = self.provider.registry();
        let rules = registry.rules().clone();
        let catalog = self.provider.cluster().catalog();
        let max_age = self.max_age();
        let mut report = MetricReport::new(&req.metric, kind, shown);
        report.namespace = Some(req.namespace.clone());
        let chosen = trace.source.as_ref().and_then(|s| {
            rules
                .external
                .get(s.rule)
                .map(|r| (s.rule, r.at.to_string(), s.series.clone()))
        });
        let mut listings = Listings::default();
        let findings = self
            .findings(
                &rules.external,
                &req.metric,
                None,
                chosen.as_ref().map(|(i, at, _)| (*i, at.as_str())),
                &mut listings,
            )
            .await;
        report.rules = Self::rule_reports(&findings, &req.metric, None, max_age);
        if let Some((i, at, series)) = &chosen {
            report.rule = Some(at.clone());
            report.series = Some(series.clone());
            if let Some(rule) = rules.external.get(*i) {
                let labels = listings.labels_of(&rule.series_query, series);
                report.mapping = mapping_of(&rule.resources, &catalog, labels.as_ref())
                    .into_iter()
                    .filter(|m| rule.namespaced && m.resource == "namespaces")
                    .collect();
                if !rule.namespaced {
                    report.notes.push(
                        "the rule is not namespaced (resources.namespaced: false): the HPA's namespace is not matched".into(),
                    );
                }
            }
        }
        if let Some(query) = trace.queries.first() {
            add_query(&mut report, query);
            self.add_settling(&mut report).await;
        }
        let values = result.as_ref().ok().cloned();
        if let Some(values) = &values {
            report.values = values
                .iter()
                .map(|v| ValueReport {
                    object: None,
                    container: None,
                    labels: Some(labels_of(&v.labels)),
                    value: v.value.clone(),
                })
                .collect();
        }
        let selector = req.selector.to_string();
        let asked = Asked {
            metric: &req.metric,
            resource: "",
            namespace: Some(&req.namespace),
            selector: Some(selector.as_str()),
            max_age,
            section: "externalRules",
        };
        report.reason = reason::external(&asked, ended(&result), &trace, &findings);
        (report, values)
    }

    /// The reports of a resource metrics request: one per query (cpu and memory, per
    /// namespace), or one per resource when no query ran.
    #[allow(clippy::too_many_arguments)]
    fn resource_reports(
        &self,
        trace: &Trace,
        ended: Ended,
        shown: &str,
        kind: &str,
        only: Option<&str>,
        what: &str,
        asked_selector: &str,
        served: impl Fn(&str, Option<&str>) -> Vec<ValueReport>,
    ) -> Vec<MetricReport> {
        let registry = self.provider.registry();
        let rules = registry.rules().clone();
        let catalog = self.provider.cluster().catalog();
        let resource_rules = rules.resource.as_ref();
        let failed = matches!(ended, Ended::Failed);
        let wanted = |r: &str| only.is_none_or(|o| o == r);
        let mut reports = Vec::new();
        let entry = |resource: &'static str, query: Option<&QueryTrace>| {
            let mut report = MetricReport::new(resource, kind, shown);
            let namespace = query.and_then(|q| q.namespace.clone());
            report.namespace = namespace.clone();
            report.resource = Some(what.to_string());
            if let Some(rules) = resource_rules {
                report.rule = Some(format!("resourceRules.{resource}"));
                let queries = if resource == "cpu" {
                    &rules.cpu
                } else {
                    &rules.memory
                };
                report.mapping = mapping_of(&queries.resources, &catalog, None);
            }
            report.objects = trace.objects.as_ref().map(|objects| match &namespace {
                Some(ns) => objects
                    .iter()
                    .filter(|o| o.starts_with(&format!("{ns}/")))
                    .cloned()
                    .collect(),
                None => objects.clone(),
            });
            if let Some(query) = query {
                add_query(&mut report, query);
            }
            report.values = served(resource, namespace.as_deref());
            for (object, why) in &trace.dropped_objects {
                let here = namespace
                    .as_ref()
                    .is_none_or(|ns| object.starts_with(&format!("{ns}/")));
                if here {
                    report.notes.push(format!("{object} is left out: {why}"));
                }
            }
            let query_ok = query.is_some_and(|q| q.answer.is_ok());
            let asked = Asked {
                metric: resource,
                resource: what,
                namespace: namespace.as_deref(),
                selector: Some(asked_selector),
                max_age: Duration::ZERO,
                section: "resourceRules",
            };
            report.reason = reason::resource(
                &asked,
                !report.values.is_empty(),
                resource_rules.is_some(),
                ended,
                trace,
                if failed && query_ok { None } else { query },
            );
            if report.reason.is_some() && failed && query_ok && report.values.is_empty() {
                report.notes.push(
                    "this query was answered, but another one of the request failed: the adapter answers 500".into(),
                );
            }
            report
        };
        if trace.queries.is_empty() {
            for resource in ["cpu", "memory"] {
                if wanted(resource) {
                    reports.push(entry(resource, None));
                }
            }
        } else {
            // The queries run concurrently: report them in a stable order.
            let mut queries: Vec<&QueryTrace> = trace.queries.iter().collect();
            queries.sort_by(|a, b| (&a.namespace, a.resource).cmp(&(&b.namespace, b.resource)));
            for query in queries {
                if wanted(query.resource) {
                    reports.push(entry(query.resource, Some(query)));
                }
            }
        }
        reports
    }

    /// Explain a pod metrics request (`only`: just `cpu` or `memory`, for an HPA).
    async fn pods(
        &self,
        req: &PodMetricsRequest,
        shown: &str,
        kind: &str,
        only: Option<&str>,
    ) -> (Vec<MetricReport>, Option<Vec<PodMetrics>>) {
        let tracer = Tracer::new();
        let result = self.provider.pod_metrics_traced(req, &tracer).await;
        let trace = tracer.into_trace();
        let pods = result.as_ref().ok().cloned();
        let served = |resource: &str, namespace: Option<&str>| -> Vec<ValueReport> {
            pods.iter()
                .flatten()
                .filter(|p| namespace.is_none_or(|ns| ns == p.namespace))
                .flat_map(|p| {
                    p.containers.iter().map(move |c| ValueReport {
                        object: Some(format!("{}/{}", p.namespace, p.name)),
                        container: Some(c.name.clone()),
                        labels: None,
                        value: if resource == "cpu" {
                            c.cpu.clone()
                        } else {
                            c.memory.clone()
                        },
                    })
                })
                .collect()
        };
        let selector = req.label_selector.to_string();
        let mut reports = self.resource_reports(
            &trace,
            ended(&result),
            shown,
            kind,
            only,
            "pods",
            &selector,
            served,
        );
        for report in &mut reports {
            self.add_settling(report).await;
        }
        (reports, pods)
    }

    /// Explain a node metrics request.
    async fn nodes(&self, req: &NodeMetricsRequest, shown: &str) -> Vec<MetricReport> {
        let tracer = Tracer::new();
        let result = self.provider.node_metrics_traced(req, &tracer).await;
        let trace = tracer.into_trace();
        let nodes: Option<Vec<NodeMetrics>> = result.as_ref().ok().cloned();
        let served = |resource: &str, _: Option<&str>| -> Vec<ValueReport> {
            nodes
                .iter()
                .flatten()
                .map(|n| ValueReport {
                    object: Some(n.name.clone()),
                    container: None,
                    labels: None,
                    value: if resource == "cpu" {
                        n.cpu.clone()
                    } else {
                        n.memory.clone()
                    },
                })
                .collect()
        };
        let selector = req.label_selector.to_string();
        let mut reports = self.resource_reports(
            &trace,
            ended(&result),
            shown,
            "resource",
            None,
            "nodes",
            &selector,
            served,
        );
        for report in &mut reports {
            self.add_settling(report).await;
        }
        reports
    }
}
