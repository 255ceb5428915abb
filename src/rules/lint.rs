//! Lint warnings for `metrics-adapter check`: rules that load and serve, but not what their author
//! meant. Two rules give the same metric to the same resource (the later one silently wins), a
//! capture group of `name.matches` is never used in `name.as`, a metric name cannot be a URL path
//! segment, a series query lists every series of Prometheus, an override names a resource the
//! cluster does not have.
//!
//! Pure like the rest of `rules`: the text is read again only for positions, and the cluster's
//! resource catalog, when there is one, is handed in by the caller.

use std::collections::BTreeSet;
use std::fmt;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::Expr;
use regex::Regex;

use super::schema::{self, DiscoveryRule, ResourceMappingSpec, Spanned};
use super::{ConfigError, Rule, RuleRef, Rules, Section, naming, yaml};
use crate::resources::{GroupResource, ResourceCatalog};

/// What a warning is about; its [`LintKind::key`] is the stable name `check -o json` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LintKind {
    /// A warning of the loader itself (a rule without `metricsQuery`, an empty `containerLabel`, …).
    Config,
    /// Two rules produce the same metric for the same resource (or the same external metric).
    DuplicateMetric,
    /// A capture group of `name.matches` that `name.as` never uses.
    UnusedCaptureGroup,
    /// A metric name the custom or external metrics API cannot put in a URL path.
    InvalidMetricName,
    /// A series query without a matcher on the metric name: it lists every series.
    NoMetricNameMatcher,
    /// An override naming a resource the cluster does not serve.
    UnknownResource,
}

impl LintKind {
    /// The stable name of the kind.
    pub fn key(self) -> &'static str {
        match self {
            LintKind::Config => "config",
            LintKind::DuplicateMetric => "duplicate-metric",
            LintKind::UnusedCaptureGroup => "unused-capture-group",
            LintKind::InvalidMetricName => "invalid-metric-name",
            LintKind::NoMetricNameMatcher => "no-metric-name-matcher",
            LintKind::UnknownResource => "unknown-resource",
        }
    }
}

/// One warning: its kind and where and what, as the loader's problems are reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// What it is about.
    pub kind: LintKind,
    /// Position, rule, field and message.
    pub problem: ConfigError,
}

impl fmt::Display for Warning {
    /// `LINE:COL: RULE: FIELD: MESSAGE`, as [`ConfigError`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.problem.fmt(f)
    }
}

/// The resource types names are resolved against.
#[derive(Debug, Clone, Copy)]
pub enum Catalog<'a> {
    /// No cluster: well-known resources and whatever the overrides name. Overrides are not
    /// checked against it.
    Offline(&'a ResourceCatalog),
    /// The cluster's API discovery: an override naming a resource it lacks is a warning.
    Cluster(&'a ResourceCatalog),
}

impl<'a> Catalog<'a> {
    fn resources(self) -> &'a ResourceCatalog {
        match self {
            Catalog::Offline(c) | Catalog::Cluster(c) => c,
        }
    }
}

/// Every warning of a loaded rules file, the loader's own included, in file order. `text` is the
/// file `rules` was parsed from.
pub fn warnings(text: &str, rules: &Rules, catalog: Catalog<'_>) -> Vec<Warning> {
    let mut out: Vec<Warning> = rules
        .warnings
        .iter()
        .map(|problem| Warning {
            kind: LintKind::Config,
            problem: problem.clone(),
        })
        .collect();
    // The text parsed once already; read it again for the positions the compiled rules drop.
    let Ok(root) = yaml::parse(text) else {
        return out;
    };
    let mut errors = Vec::new();
    let spec = schema::read(root.as_ref(), &mut errors);
    if !errors.is_empty() {
        return out;
    }
    let mut lint = Linter {
        catalog,
        out: Vec::new(),
    };
    for (specs, compiled) in [
        (&spec.rules, &rules.custom),
        (&spec.external_rules, &rules.external),
    ] {
        let pairs: Vec<(&DiscoveryRule, &Rule)> = compiled
            .iter()
            .filter_map(|rule| specs.get(rule.at.index).map(|s| (s, rule)))
            .collect();
        for &(spec, rule) in &pairs {
            lint.unused_capture_groups(spec);
            lint.metric_name_matcher(spec, rule);
            lint.path_segment(spec, rule);
            lint.overrides(&spec.resources, &spec.at, "resources.");
        }
        lint.duplicates(&pairs);
    }
    if let Some(resource) = &spec.resource_rules {
        let at = RuleRef {
            section: Section::ResourceRules,
            index: 0,
            series_query: String::new(),
        };
        lint.overrides(&resource.cpu.resources, &at, "cpu.resources.");
        lint.overrides(&resource.memory.resources, &at, "memory.resources.");
    }
    out.append(&mut lint.out);
    out.sort_by_key(|w| (w.problem.line, w.problem.column));
    out
}

struct Linter<'a> {
    catalog: Catalog<'a>,
    out: Vec<Warning>,
}

fn warning<T>(
    kind: LintKind,
    at: &Spanned<T>,
    rule: &RuleRef,
    field: &str,
    message: String,
) -> Warning {
    Warning {
        kind,
        problem: ConfigError {
            line: at.line,
            column: at.column,
            rule: Some(rule.clone()),
            field: field.to_string(),
            message,
        },
    }
}

/// Where a rule says what its metrics are called: `name.as`, else `name.matches`, else the series
/// query (the metric is the series' name).
fn name_field(spec: &DiscoveryRule) -> (&Spanned<String>, &'static str) {
    if !spec.name.as_.value.is_empty() {
        (&spec.name.as_, "name.as")
    } else if !spec.name.matches.value.is_empty() {
        (&spec.name.matches, "name.matches")
    } else {
        (&spec.series_query, "seriesQuery")
    }
}

/// The series query as a selector, if it is one.
fn selector(series_query: &str) -> Option<promql_parser::parser::VectorSelector> {
    match promql_parser::parser::parse(series_query.trim()) {
        Ok(Expr::VectorSelector(vs)) => Some(vs),
        _ => None,
    }
}

/// The selector's alternatives (`{a="1" or b="2"}` has two), each a list of matchers.
fn alternatives(vs: &promql_parser::parser::VectorSelector) -> Vec<&[Matcher]> {
    let mut all: Vec<&[Matcher]> = vs.matchers.or_matchers.iter().map(Vec::as_slice).collect();
    if all.is_empty() || !vs.matchers.matchers.is_empty() {
        all.push(&vs.matchers.matchers);
    }
    all
}

/// The one metric a series query can list (`foo{…}`, `{__name__="foo",…}`), if it names one.
fn single_metric(series_query: &str) -> Option<String> {
    let vs = selector(series_query)?;
    if !vs.matchers.or_matchers.is_empty() {
        return vs.name.clone();
    }
    let mut names: BTreeSet<&str> = vs
        .matchers
        .matchers
        .iter()
        .filter(|m| m.name == "__name__" && matches!(m.op, MatchOp::Equal))
        .map(|m| m.value.as_str())
        .collect();
    names.extend(vs.name.as_deref());
    let mut names = names.into_iter();
    match (names.next(), names.next()) {
        (Some(name), None) => Some(name.to_string()),
        _ => None,
    }
}

/// Metric names of every shape: a `__name__` matcher that admits them all admits any name. A
/// regex narrow enough to be a real choice (`^container_.*`, `.*_total`) misses some of them.
const NAME_PROBES: &[&str] = &[
    "a",
    "Z",
    "_",
    ":",
    "up",
    "x9",
    "A_b",
    "job:http_requests:rate5m",
    "container_cpu_usage_seconds_total",
    "http_requests_total",
    "kube_pod_info",
    "node_memory_MemAvailable_bytes",
    "go_goroutines",
    "process_resident_memory_bytes",
    "_private_0",
];

fn admits_every_name(m: &Matcher) -> bool {
    NAME_PROBES.iter().all(|probe| m.is_match(probe))
}

fn matcher_text(m: &Matcher) -> String {
    let op = match m.op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::Re(_) => "=~",
        MatchOp::NotRe(_) => "!~",
    };
    format!("{}{op}{:?}", m.name, m.value)
}

/// Labels every series of the query has: matched by a matcher the empty value fails
/// (`pod!=""`, `pod=~".+"`, `pod="x"`), in every alternative.
fn required_labels(series_query: &str) -> BTreeSet<String> {
    let Some(vs) = selector(series_query) else {
        return BTreeSet::new();
    };
    let mut per_alternative = alternatives(&vs).into_iter().map(|matchers| {
        matchers
            .iter()
            .filter(|m| m.name != "__name__" && !m.is_match(""))
            .map(|m| m.name.clone())
            .collect::<BTreeSet<String>>()
    });
    let first = per_alternative.next().unwrap_or_default();
    per_alternative.fold(first, |acc, next| &acc & &next)
}

/// Why a metric name cannot be a path segment, as the API server's `IsValidPathSegmentName`
/// (and the HPA's validation of metric names) decides.
fn path_segment_problem(name: &str) -> Option<String> {
    match name {
        "" => Some("is empty".into()),
        "." | ".." => Some(format!("is {name:?}")),
        _ => ['/', '%']
            .into_iter()
            .find(|c| name.contains(*c))
            .map(|c| format!("contains {:?}", c.to_string())),
    }
}

/// The metric a rule produces when that is known offline: its constant `as`, or the name it gives
/// the one metric its series query names. `None` also when the rule produces nothing from it.
fn produced_metric(rule: &Rule) -> Option<(String, Option<String>)> {
    match single_metric(&rule.series_query) {
        Some(series) => rule.namer.metric_name(&series).map(|n| (n, Some(series))),
        None => rule.namer.constant_name().map(|n| (n.to_string(), None)),
    }
}

fn rule_line(spec: &DiscoveryRule) -> String {
    format!(
        "{}[{}] (line {})",
        spec.at.section.key(),
        spec.at.index,
        spec.line
    )
}

fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

impl Linter<'_> {
    fn push(&mut self, w: Warning) {
        self.out.push(w);
    }

    /// Capture groups of `name.matches` that an explicit `name.as` never refers to.
    fn unused_capture_groups(&mut self, spec: &DiscoveryRule) {
        let (matches, as_) = (&spec.name.matches, &spec.name.as_);
        if as_.value.is_empty() || matches.value.is_empty() {
            return;
        }
        let Ok(regex) = Regex::new(&matches.value) else {
            return;
        };
        let references = naming::as_references(&as_.value);
        let names: Vec<Option<&str>> = regex.capture_names().collect();
        let refers_to = |index: usize, name: Option<&str>| {
            references
                .iter()
                .any(|r| naming::group_number(r) == Some(index) || name == Some(*r))
        };
        let unused: Vec<(usize, Option<&str>)> = names
            .iter()
            .enumerate()
            .skip(1)
            .filter(|&(i, name)| !refers_to(i, *name))
            .map(|(i, name)| (i, *name))
            .collect();
        if unused.is_empty() {
            return;
        }
        let describe = |(i, name): &(usize, Option<&str>)| match name {
            Some(n) => format!("{i} ({n:?})"),
            None => i.to_string(),
        };
        let groups: Vec<String> = unused.iter().map(describe).collect();
        let (noun, pronoun) = if unused.len() == 1 {
            ("capture group", "it")
        } else {
            ("capture groups", "them")
        };
        let uses: Vec<String> = unused.iter().map(|(i, _)| format!("${{{i}}}")).collect();
        let mut message = format!(
            "{noun} {} of {:?} never used in name.as {:?}",
            list(&groups),
            matches.value,
            as_.value
        );
        // `$1_per_second` names the group `1_per_second`, not group 1 followed by text.
        let misread = references.iter().find_map(|r| {
            let digits = r.bytes().take_while(u8::is_ascii_digit).count();
            let number: usize = r.get(..digits)?.parse().ok()?;
            let rest = r.get(digits..)?;
            let unknown = naming::group_number(r).is_none() && !names.contains(&Some(*r));
            (unknown && !rest.is_empty() && unused.iter().any(|(i, _)| *i == number))
                .then(|| format!(" (\"${r}\" refers to a group named {r:?}, which does not exist: write \"${{{number}}}{rest}\")"))
        });
        match misread {
            Some(hint) => message.push_str(&hint),
            None => message.push_str(&format!(
                ": use {pronoun} in name.as ({}) or make {pronoun} non-capturing with (?:…)",
                uses.join(", ")
            )),
        }
        self.push(warning(
            LintKind::UnusedCaptureGroup,
            matches,
            &spec.at,
            "name.matches",
            message,
        ));
    }

    /// A series query that lists every series: no matcher on `__name__`, or only matchers that
    /// admit any name.
    fn metric_name_matcher(&mut self, spec: &DiscoveryRule, rule: &Rule) {
        let Some(vs) = selector(&rule.series_query) else {
            return;
        };
        if vs.name.is_some() {
            return;
        }
        let mut listing_everything = 0;
        let mut broad: Vec<String> = Vec::new();
        for matchers in alternatives(&vs) {
            let on_name: Vec<&Matcher> = matchers.iter().filter(|m| m.name == "__name__").collect();
            if on_name.iter().any(|m| !admits_every_name(m)) {
                continue;
            }
            listing_everything += 1;
            broad.extend(on_name.iter().map(|m| matcher_text(m)));
        }
        if listing_everything == 0 {
            return;
        }
        broad.dedup();
        let mut what = if broad.is_empty() {
            "no matcher on the metric name".to_string()
        } else {
            format!("{} admits every metric name", list(&broad))
        };
        // `__name__!="^container_.*"` (upstream's sample config) compares the text literally.
        let literal_regex = alternatives(&vs).into_iter().flatten().any(|m| {
            m.name == "__name__"
                && matches!(m.op, MatchOp::NotEqual)
                && m.value.contains(['^', '$', '*', '|', '(', '['])
        });
        if literal_regex {
            what.push_str(" (!= compares the name with the text; a regex needs !~)");
        }
        self.push(warning(
            LintKind::NoMetricNameMatcher,
            &spec.series_query,
            &spec.at,
            "seriesQuery",
            format!(
                "{what}: every relist lists every series of Prometheus that the other matchers admit (on a large Prometheus, millions); name the metric (my_metric{{…}}) or match the names the rule serves ({{__name__=~\"my_prefix_.*\",…}})"
            ),
        ));
    }

    /// A metric name the API cannot put in a URL path.
    fn path_segment(&mut self, spec: &DiscoveryRule, rule: &Rule) {
        let Some((name, series)) = produced_metric(rule) else {
            return;
        };
        let Some(problem) = path_segment_problem(&name) else {
            return;
        };
        let (at, field) = name_field(spec);
        let subject = match series {
            Some(series) if rule.namer.constant_name().is_none() => {
                format!("the metric name this rule makes of series {series:?}, {name:?},")
            }
            _ => format!("metric name {name:?}"),
        };
        self.push(warning(
            LintKind::InvalidMetricName,
            at,
            &spec.at,
            field,
            format!(
                "{subject} {problem}: the metrics APIs put the name in a URL path, where the API server refuses names that are empty, \".\" or \"..\", or contain \"/\" or \"%\", so no HPA can ask for it; change name.as"
            ),
        ));
    }

    /// Rules of one section that produce the same metric for an overlapping set of resources;
    /// the warning goes to the later rule, which is the one that wins.
    fn duplicates(&mut self, pairs: &[(&DiscoveryRule, &Rule)]) {
        let catalog = self.catalog.resources();
        let produced: Vec<Option<(String, BTreeSet<GroupResource>)>> = pairs
            .iter()
            .map(|(_, rule)| {
                let (name, _) = produced_metric(rule)?;
                Some((name, served_resources(rule, catalog)))
            })
            .collect();
        for (j, later) in produced.iter().enumerate() {
            let (Some((name, resources)), Some((spec, _))) = (later, pairs.get(j)) else {
                continue;
            };
            let external = spec.at.section == Section::ExternalRules;
            let mut earlier = Vec::new();
            let mut shared: BTreeSet<GroupResource> = BTreeSet::new();
            for (i, other) in produced.iter().enumerate().take(j) {
                let (Some((other_name, other_resources)), Some((other_spec, _))) =
                    (other, pairs.get(i))
                else {
                    continue;
                };
                if other_name != name {
                    continue;
                }
                let overlap: BTreeSet<GroupResource> =
                    resources.intersection(other_resources).cloned().collect();
                if external || !overlap.is_empty() {
                    earlier.push(format!(
                        "{} (seriesQuery {:?})",
                        rule_line(other_spec),
                        other_spec.at.series_query.trim_end()
                    ));
                    shared.extend(overlap);
                }
            }
            if earlier.is_empty() {
                continue;
            }
            let what = if external {
                format!("external metric {name:?}")
            } else {
                let names: Vec<String> = shared.iter().map(GroupResource::to_string).collect();
                format!("metric {name:?} for {}", list(&names))
            };
            let (at, field) = name_field(spec);
            self.push(warning(
                LintKind::DuplicateMetric,
                at,
                &spec.at,
                field,
                format!(
                    "{what} is also produced by {}: the last rule wins, so the earlier rule's series are never served for it; give one of them another name (name.as){}",
                    list(&earlier),
                    if external { "" } else { " or map them to different resources" }
                ),
            ));
        }
    }

    /// Overrides naming a resource the cluster does not serve (only with the cluster's catalog).
    fn overrides(&mut self, spec: &ResourceMappingSpec, at: &RuleRef, path: &str) {
        let Catalog::Cluster(catalog) = self.catalog else {
            return;
        };
        for (label, gr) in &spec.overrides {
            if gr.resource.value.is_empty() {
                continue;
            }
            let resource = GroupResource::new(gr.group.clone(), gr.resource.value.clone());
            if catalog.resolve(&resource).is_some() {
                continue;
            }
            self.push(warning(
                LintKind::UnknownResource,
                &gr.resource,
                at,
                &format!("{path}overrides.{}", label.value),
                format!(
                    "the cluster serves no resource {:?} (its API discovery does not list it): series with label {:?} map to nothing; install what serves it (a CRD) or correct the group and resource",
                    resource.to_string(),
                    label.value
                ),
            ));
        }
    }
}

/// The resources a custom rule is known to serve: every override's, and those whose template
/// label the series query requires.
fn served_resources(rule: &Rule, catalog: &ResourceCatalog) -> BTreeSet<GroupResource> {
    let mut served: BTreeSet<GroupResource> = rule
        .resources
        .overrides()
        .iter()
        .map(|(_, gr)| {
            catalog
                .resolve(gr)
                .map_or_else(|| gr.clone(), |info| info.group_resource())
        })
        .collect();
    if rule.resources.template().is_some() {
        let index = rule.resources.label_index(catalog);
        for label in required_labels(&rule.series_query) {
            if let Some(info) = index.resource_for(&label) {
                served.insert(info.group_resource());
            }
        }
    }
    served
}

#[cfg(test)]
mod tests;
