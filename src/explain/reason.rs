//! Why a metric would be `<unknown>`, in one sentence an operator can act on, chosen from what
//! the request recorded (its [`Trace`]), how it ended, and what each rule makes of the metric.
//! Pure: the first cause in the order a request meets them wins.

use std::time::Duration;

use super::analysis::Finding;
use crate::provider::{QueryTrace, SampleFate, Trace};
use crate::rules::format_go_duration;

/// How the provider's call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// With this many values.
    Values(usize),
    /// With "not found" (404).
    NotFound,
    /// With a failure (500).
    Failed,
    /// With a malformed request (400).
    BadRequest,
}

/// The request a reason is about.
#[derive(Debug, Clone, Default)]
pub struct Asked<'a> {
    /// The metric.
    pub metric: &'a str,
    /// The resource as the request names it (`pods`, `models.mlops.seldon.io`).
    pub resource: &'a str,
    /// The namespace, if the request has one.
    pub namespace: Option<&'a str>,
    /// The label selector of a `*` request, as text (empty: every object).
    pub selector: Option<&'a str>,
    /// `--metrics-max-age`.
    pub max_age: Duration,
    /// The rule section's name, for "no rule" sentences (`rules`, `externalRules`).
    pub section: &'a str,
}

/// Findings by rule, as `(rule as written, finding)`.
pub type Findings = [(String, Finding)];

fn in_namespace(asked: &Asked<'_>) -> String {
    asked
        .namespace
        .map(|ns| format!(" in namespace {ns}"))
        .unwrap_or_default()
}

/// Why the registry does not know the metric, from the rules' findings.
fn not_registered(asked: &Asked<'_>, findings: &Findings, resource: Option<&str>) -> String {
    let metric = asked.metric;
    let window = format_go_duration(asked.max_age);
    let first = |want: fn(&Finding) -> bool| findings.iter().find(|(_, f)| want(f));
    if let Some((rule, Finding::NotListedYet { series })) =
        first(|f| matches!(f, Finding::NotListedYet { .. }))
    {
        return format!(
            "{rule} names {metric} from series {series}, but the adapter has not listed it yet: it will on its next relist (--metrics-relist-interval) or on the next request for it (--metrics-on-miss-interval)"
        );
    }
    if let Some((rule, Finding::NoLabel { series, mapped })) =
        first(|f| matches!(f, Finding::NoLabel { .. }))
    {
        let resource = resource.unwrap_or(asked.resource);
        let labels = if mapped.is_empty() {
            "none of its labels names a resource".to_string()
        } else {
            let pairs: Vec<String> = mapped.iter().map(|(l, r)| format!("{l} -> {r}")).collect();
            format!("its labels name only {}", pairs.join(", "))
        };
        return format!(
            "the series {series} exists and {rule} names it {metric}, but no label of it names {resource} ({labels}): map the label that holds the {resource} names in the rule's resources.overrides (or template)"
        );
    }
    if let Some((rule, Finding::Stale { series })) = first(|f| matches!(f, Finding::Stale { .. })) {
        return format!(
            "{rule} names {metric} from series {series}, but it has no sample in the last {window} (--metrics-max-age), so the adapter no longer lists it: check that it is still exported and scraped"
        );
    }
    if let Some((rule, Finding::ListFailed(e))) = first(|f| matches!(f, Finding::ListFailed(_))) {
        return format!("Prometheus failed listing the series of {rule}: {e}");
    }
    format!(
        "no rule names the metric {metric}: no {} entry turns a series its seriesQuery finds (in the last {window}) into this name; check the metric name, or add a rule",
        asked.section
    )
}

/// Why a query's answer gave no value for the objects asked about.
pub fn nothing_served(query: &QueryTrace, objects: Option<&[String]>, what: &str) -> String {
    let samples = match &query.answer {
        Ok(samples) => samples,
        Err(e) => return format!("Prometheus answered an error to the query: {e}"),
    };
    let label = query
        .resource_label
        .as_deref()
        .unwrap_or("the resource label");
    let count = |fate: SampleFate| samples.iter().filter(|(_, f)| *f == fate).count();
    let asked = match objects {
        Some(objects) if !objects.is_empty() => format!(" ({})", objects.join(", ")),
        _ => String::new(),
    };
    if samples.is_empty() {
        return format!(
            "Prometheus returned nothing for these {what}{asked}: the query matches no series for them now (a rate() also needs two samples within its window); compare its label matchers with the series' labels"
        );
    }
    if count(SampleFate::NoResourceLabel) == samples.len() {
        return format!(
            "Prometheus' samples have no {label} label, so none can be matched to the {what}: the metricsQuery must keep it (sum by (<<.GroupBy>>) …)"
        );
    }
    if count(SampleFate::NotAsked) == samples.len() {
        let others: Vec<&str> = samples
            .iter()
            .filter_map(|(s, _)| s.labels.get(label))
            .take(5)
            .collect();
        return format!(
            "Prometheus returned samples only for other {what} ({}), none for the ones asked about{asked}",
            others.join(", ")
        );
    }
    if count(SampleFate::NotANumber) == samples.len() {
        return "Prometheus returned only NaN or infinite values (a division by zero?), which the adapter leaves out".to_string();
    }
    format!(
        "none of the {} samples Prometheus returned is usable for these {what}{asked} (see samples)",
        samples.len()
    )
}

/// The reason a custom metric would be `<unknown>`; `None` when it is served. `exactly_one`
/// for an HPA's Object metric, which needs one value.
pub fn custom(
    asked: &Asked<'_>,
    ended: Ended,
    trace: &Trace,
    findings: &Findings,
    exactly_one: bool,
) -> Option<String> {
    let what = trace
        .resource
        .as_ref()
        .map_or(asked.resource.to_string(), |r| {
            r.group_resource().to_string()
        });
    match ended {
        Ended::Values(0) => {}
        Ended::Values(1) => return None,
        Ended::Values(_) if !exactly_one => return None,
        Ended::Values(n) => {
            return Some(format!(
                "the adapter answered {n} values where the HPA needs exactly one"
            ));
        }
        Ended::BadRequest => {
            return Some("the request is malformed (see the error of the adapter)".into());
        }
        Ended::NotFound | Ended::Failed => {}
    }
    let Some(info) = &trace.resource else {
        return Some(format!(
            "the cluster serves no resource named {} (kubectl api-resources lists those it serves)",
            asked.resource
        ));
    };
    if info.namespaced != asked.namespace.is_some() {
        return Some(if info.namespaced {
            format!("{what} are namespaced: ask for them under /namespaces/<namespace>/{what}/…")
        } else {
            format!("{what} are not namespaced: ask for them without /namespaces/<namespace>/")
        });
    }
    if trace.unavailable {
        return Some(unavailable(findings));
    }
    if trace.source.is_none() {
        return Some(not_registered(asked, findings, Some(&what)));
    }
    if let Some(cause) = &trace.list_error {
        return Some(format!("the adapter cannot list {what}: {cause}"));
    }
    if trace.objects.as_ref().is_some_and(Vec::is_empty) {
        return Some(match asked.selector.filter(|s| !s.is_empty()) {
            Some(selector) => format!(
                "the selector {selector} matched no {what}{}: compare it with the labels of the objects (for an HPA, the selector of its scale target)",
                in_namespace(asked)
            ),
            None => format!("there are no {what}{}", in_namespace(asked)),
        });
    }
    if let Some(e) = &trace.query_error {
        return Some(format!("no query can be built for this request: {e}"));
    }
    match trace.queries.first() {
        Some(query) => Some(nothing_served(query, trace.objects.as_deref(), &what)),
        None => Some("the adapter sent no query (see its log)".into()),
    }
}

/// The reason an external metric would be `<unknown>` (the HPA needs at least one value).
pub fn external(
    asked: &Asked<'_>,
    ended: Ended,
    trace: &Trace,
    findings: &Findings,
) -> Option<String> {
    if let Ended::Values(n) = ended
        && n > 0
    {
        return None;
    }
    if ended == Ended::BadRequest {
        return Some("the request is malformed (see the error of the adapter)".into());
    }
    if trace.unavailable {
        return Some(unavailable(findings));
    }
    if trace.source.is_none() {
        return Some(not_registered(asked, findings, None));
    }
    if let Some(e) = &trace.query_error {
        let hint = if e.contains("namespaces") {
            ": the rule is namespaced (the default) and maps no label to namespaces; set resources.namespaced: false for a metric that belongs to no namespace"
        } else {
            ""
        };
        return Some(format!("no query can be built for this request: {e}{hint}"));
    }
    match trace.queries.first() {
        Some(query) => Some(match &query.answer {
            Ok(samples) if samples.is_empty() => format!(
                "Prometheus returned nothing: the query matches no series now{}",
                asked
                    .selector
                    .filter(|s| !s.is_empty())
                    .map(|s| format!(" (the HPA's selector {s} becomes label matchers)"))
                    .unwrap_or_default()
            ),
            _ => nothing_served(query, None, "series"),
        }),
        None => Some("the adapter sent no query (see its log)".into()),
    }
}

/// Why the registry cannot say whether the metric exists: its listings failed.
fn unavailable(findings: &Findings) -> String {
    if let Some((rule, Finding::ListFailed(e))) = findings
        .iter()
        .find(|(_, f)| matches!(f, Finding::ListFailed(_)))
    {
        return format!(
            "Prometheus failed listing the series of {rule}: {e} (the adapter answers 500 until a listing succeeds)"
        );
    }
    "the adapter's listings of the series that could name this metric failed or have not run yet: it answers 500 until one succeeds (see its log)".into()
}

/// The reason resource metrics (`cpu` or `memory` of pods or nodes) would be `<unknown>`.
pub fn resource(
    asked: &Asked<'_>,
    served: bool,
    has_rules: bool,
    ended: Ended,
    trace: &Trace,
    query: Option<&QueryTrace>,
) -> Option<String> {
    if !has_rules {
        return Some(
            "the rules file has no resourceRules: this adapter does not serve metrics.k8s.io (metrics-server may)".into(),
        );
    }
    if served {
        return None;
    }
    if ended == Ended::BadRequest {
        return Some("the request is malformed (see the error of the adapter)".into());
    }
    if let Some(cause) = &trace.list_error {
        return Some(format!(
            "the adapter cannot list {}: {cause}",
            asked.resource
        ));
    }
    if trace.objects.as_ref().is_some_and(Vec::is_empty) {
        return Some(match asked.selector.filter(|s| !s.is_empty()) {
            Some(selector) => format!(
                "the selector {selector} matched no running {}{}",
                asked.resource,
                in_namespace(asked)
            ),
            None => format!(
                "there are no running {}{}",
                asked.resource,
                in_namespace(asked)
            ),
        });
    }
    if let Some(e) = &trace.query_error {
        return Some(format!("no query can be built: {e}"));
    }
    match query {
        Some(query) => Some(nothing_served(
            query,
            trace.objects.as_deref(),
            asked.resource,
        )),
        None => Some(
            "another query of this request failed first (see the other entry), so none of its values are served"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests;
