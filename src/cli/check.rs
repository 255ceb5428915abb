//! `metrics-adapter check`: validate a rules file offline and describe what each rule does, or,
//! with `--render`, show the exact PromQL the adapter would send for a given series and request.
//!
//! Output is meant for CI logs and code review: stable order (file order), one fact per line,
//! nothing that depends on the clock or the machine. Warnings (the loader's and the lints of
//! `rules::lint`) leave the exit status at 0 unless `--strict` is given; with
//! `--lister-kubeconfig`, resource overrides are also checked against the cluster's discovery.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::kube as cluster;
use crate::resources::{GroupResource, ResourceCatalog, ResourceInfo};
use crate::rules::lint::{self, Warning};
use crate::rules::naming::ResourceMapping;
use crate::rules::query::ObjectRequest;
use crate::rules::{self, ConfigError, LoadError, ResourceQueries, Rule, Rules, Section};
use crate::selector::Selector;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// JSON.
    Json,
}

/// Flags of `check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The rules file (prometheus-adapter's `--config` format).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Dry run: print the metric name and PromQL each rule would produce for --series; without
    /// --series, `--resource pods` or `nodes` renders the resourceRules' cpu and memory queries.
    #[arg(long, requires = "resource")]
    pub render: bool,
    /// A series name as Prometheus lists it (with --render).
    #[arg(long, value_name = "NAME", requires = "render")]
    pub series: Option<String>,
    /// The series' label names, comma-separated (with --render; default: any label the rule needs).
    #[arg(long, value_name = "L1,L2", value_delimiter = ',', requires = "render")]
    pub series_labels: Option<Vec<String>>,
    /// The resource asked about: `pods`, `deployments.apps`, `namespaces`, … or `external`.
    #[arg(long, value_name = "RES", requires = "render")]
    pub resource: Option<String>,
    /// The request's namespace.
    #[arg(long, value_name = "NS", requires = "render")]
    pub namespace: Option<String>,
    /// An object name (repeatable; several names render the `*` form).
    #[arg(long = "name", value_name = "OBJ", requires = "render")]
    pub names: Vec<String>,
    /// The metric label selector (`metricLabelSelector`, or `labelSelector` for external metrics).
    #[arg(long, value_name = "SEL", default_value = "", requires = "render")]
    pub selector: String,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Treat warnings as errors: exit 1 when there is any.
    #[arg(long)]
    pub strict: bool,
    /// Kubeconfig of the cluster to check resource overrides against (its API discovery); without
    /// it, that check is skipped.
    #[arg(long, value_name = "FILE")]
    pub lister_kubeconfig: Option<PathBuf>,
}

/// What `check` prints and its exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// For stdout.
    pub stdout: String,
    /// For stderr.
    pub stderr: String,
    /// Whether to exit 0.
    pub success: bool,
}

/// Run `check`.
pub fn run(args: &CheckArgs) -> Report {
    let file = args.config.display().to_string();
    let (text, rules) = match read(&args.config, &file) {
        Ok(loaded) => loaded,
        Err(e) => {
            let n = e.errors.len();
            let noun = if n == 1 { "error" } else { "errors" };
            return Report {
                stdout: String::new(),
                stderr: format!("{e}\n{file}: refused, {n} {noun}\n"),
                success: false,
            };
        }
    };
    let cluster = match &args.lister_kubeconfig {
        None => None,
        Some(kubeconfig) => match cluster_catalog(kubeconfig) {
            Ok(catalog) => Some(catalog),
            Err(message) => return failure(message),
        },
    };
    let offline = offline_catalog(&rules, None);
    let catalog = match &cluster {
        Some(c) => lint::Catalog::Cluster(c),
        None => lint::Catalog::Offline(&offline),
    };
    let warnings = lint::warnings(&text, &rules, catalog);
    let mut stderr = String::new();
    for w in &warnings {
        let _ = writeln!(stderr, "warning: {file}:{w}");
    }
    let refused = args.strict && !warnings.is_empty();
    let mut report = if args.render {
        let mut report = render(args, &rules);
        report.stderr.insert_str(0, &stderr);
        report
    } else {
        let stdout = match args.output {
            OutputFormat::Text => describe_text(&file, &rules),
            OutputFormat::Json => describe_json(&file, &rules, &warnings),
        };
        Report {
            stdout,
            stderr,
            success: true,
        }
    };
    if refused {
        report.success = false;
        let n = plural(warnings.len(), "warning", "warnings");
        let _ = writeln!(report.stderr, "{file}: refused, {n} (--strict)");
    }
    report
}

/// Read and compile the rules file, keeping its text for the lints' positions.
fn read(path: &Path, file: &str) -> Result<(String, Rules), LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadError {
        file: file.to_string(),
        errors: vec![ConfigError {
            line: 0,
            column: 0,
            rule: None,
            field: String::new(),
            message: format!("unable to read the rules file: {e}"),
        }],
    })?;
    let rules = rules::parse(&text, file)?;
    Ok((text, rules))
}

/// How long reading the cluster's API discovery may take.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// The resource types the cluster of `kubeconfig` serves, from its API discovery.
fn cluster_catalog(kubeconfig: &Path) -> Result<ResourceCatalog, String> {
    // kube's client needs a TLS provider; an error means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let client = cluster::client(Some(kubeconfig))
            .await
            .map_err(|e| e.to_string())?;
        let failed = |e: String| {
            format!(
                "--lister-kubeconfig {}: cannot read the cluster's API discovery: {e}",
                kubeconfig.display()
            )
        };
        match tokio::time::timeout(DISCOVERY_TIMEOUT, cluster::discover(&client)).await {
            Ok(Ok(catalog)) => Ok(catalog),
            Ok(Err(e)) => Err(failed(e.to_string())),
            Err(_) => Err(failed(format!(
                "no answer within {}",
                rules::format_go_duration(DISCOVERY_TIMEOUT)
            ))),
        }
    })
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Offline catalog: the well-known resources, plus a guess for every override naming a resource
/// that is not built in (a CRD), so that `--resource models.mlops.seldon.io` works without a
/// cluster when a rule maps it.
fn offline_catalog(rules: &Rules, extra: Option<(&GroupResource, bool)>) -> ResourceCatalog {
    let mut catalog = ResourceCatalog::well_known();
    let mut guess = |gr: &GroupResource, plural: Option<&str>, namespaced: bool| {
        if catalog.resolve(gr).is_some() {
            return;
        }
        let (plural, singular) = match plural {
            Some(p) => (p.to_string(), singular_of(p)),
            None if gr.resource.ends_with('s') => (gr.resource.clone(), singular_of(&gr.resource)),
            None => (format!("{}s", gr.resource), gr.resource.clone()),
        };
        let mut kind = singular.clone();
        if let Some(first) = kind.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        catalog.insert(ResourceInfo {
            group: gr.group.clone(),
            version: "v1".into(),
            plural,
            singular,
            kind,
            namespaced,
        });
    };
    if let Some((gr, namespaced)) = extra {
        guess(gr, Some(&gr.resource), namespaced);
    }
    let mappings = rules
        .custom
        .iter()
        .chain(&rules.external)
        .map(|r| &r.resources);
    for mapping in mappings {
        for (_, gr) in mapping.overrides() {
            guess(gr, None, true);
        }
    }
    catalog
}

/// A plural's singular, by English rules good enough for resource names.
fn singular_of(plural: &str) -> String {
    for (suffix, replacement) in [("ies", "y"), ("sses", "ss"), ("xes", "x"), ("ches", "ch")] {
        if let Some(stem) = plural.strip_suffix(suffix) {
            return format!("{stem}{replacement}");
        }
    }
    plural.strip_suffix('s').unwrap_or(plural).to_string()
}

fn indent_block(out: &mut String, label: &str, text: &str) {
    let mut lines = text.trim_end_matches('\n').lines();
    let first = format!("  {label:<13} {}", lines.next().unwrap_or(""));
    let _ = writeln!(out, "{}", first.trim_end());
    for line in lines {
        let _ = writeln!(out, "  {:<13} {line}", "");
    }
}

fn describe_mapping(mapping: &ResourceMapping, catalog: &ResourceCatalog) -> String {
    let mut parts = Vec::new();
    for (label, gr) in mapping.overrides() {
        match catalog.resolve(gr) {
            Some(info) => parts.push(format!("{label} -> {}", info.group_resource())),
            None => parts.push(format!(
                "{label} -> {gr} (not a built-in resource: the cluster must serve it)"
            )),
        }
    }
    if let Some(t) = mapping.template() {
        let examples: Vec<String> = ["pods", "namespaces", "deployments.apps"]
            .iter()
            .filter_map(|r| catalog.resolve(&GroupResource::parse(r)))
            .filter_map(|info| {
                mapping
                    .label_for(info, catalog)
                    .ok()
                    .map(|l| format!("{} -> {l}", info.group_resource()))
            })
            .collect();
        parts.push(format!(
            "template {:?}: any resource, e.g. {}",
            t.source(),
            examples.join(", ")
        ));
    }
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join("; ")
    }
}

fn describe_rule(out: &mut String, rule: &Rule, catalog: &ResourceCatalog, external: bool) {
    out.push('\n');
    let _ = writeln!(
        out,
        "{}[{}] (line {})",
        rule.at.section.key(),
        rule.at.index,
        rule.line
    );
    indent_block(out, "seriesQuery:", &rule.series_query);
    for f in rule.namer.filters() {
        indent_block(out, "filter:", &f.describe());
    }
    indent_block(out, "metrics:", &rule.namer.describe());
    if external {
        let ns = if !rule.namespaced {
            "not matched (namespaced: false)".to_string()
        } else {
            match rule
                .resources
                .label_for(&ResourceInfo::namespaces(), catalog)
            {
                Ok(label) => format!("matched on label {label}"),
                Err(_) => "no namespace label: namespaced requests fail".to_string(),
            }
        };
        indent_block(out, "namespace:", &ns);
    } else {
        indent_block(
            out,
            "resources:",
            &describe_mapping(&rule.resources, catalog),
        );
    }
    match &rule.metrics_query {
        Some(t) => indent_block(out, "metricsQuery:", t.source()),
        None => indent_block(out, "metricsQuery:", "(none)"),
    }
}

fn describe_resource_queries(
    out: &mut String,
    name: &str,
    q: &ResourceQueries,
    catalog: &ResourceCatalog,
) {
    indent_block(out, &format!("{name}:"), "");
    indent_block(out, "  container:", q.container_query.source());
    indent_block(out, "  node:", q.node_query.source());
    indent_block(
        out,
        "  resources:",
        &describe_mapping(&q.resources, catalog),
    );
    indent_block(
        out,
        "  containers:",
        &format!("label {}", q.container_label),
    );
}

fn describe_text(file: &str, rules: &Rules) -> String {
    let catalog = offline_catalog(rules, None);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{file}: ok: {}, {}, {}",
        plural(rules.custom.len(), "custom rule", "custom rules"),
        plural(rules.external.len(), "external rule", "external rules"),
        if rules.resource.is_some() {
            "resource rules"
        } else {
            "no resource rules"
        }
    );
    for r in &rules.custom {
        describe_rule(&mut out, r, &catalog, false);
    }
    for r in &rules.external {
        describe_rule(&mut out, r, &catalog, true);
    }
    if let Some(res) = &rules.resource {
        let _ = writeln!(out, "\nresourceRules");
        indent_block(&mut out, "window:", &rules::format_go_duration(res.window));
        describe_resource_queries(&mut out, "cpu", &res.cpu, &catalog);
        describe_resource_queries(&mut out, "memory", &res.memory, &catalog);
    }
    out
}

#[derive(Serialize)]
struct JsonRule<'a> {
    section: &'static str,
    index: usize,
    line: usize,
    #[serde(rename = "seriesQuery")]
    series_query: &'a str,
    metrics: String,
    resources: String,
    #[serde(rename = "metricsQuery")]
    metrics_query: Option<&'a str>,
}

/// Which rule a warning is about, in `-o json`.
#[derive(Serialize)]
struct JsonRuleRef<'a> {
    section: &'static str,
    /// `null` for `resourceRules`.
    index: Option<usize>,
    #[serde(rename = "seriesQuery")]
    series_query: Option<&'a str>,
}

/// A warning in `-o json`: the fields of the text line, and the line itself.
#[derive(Serialize)]
struct JsonWarning<'a> {
    kind: &'static str,
    file: &'a str,
    line: usize,
    column: usize,
    rule: Option<JsonRuleRef<'a>>,
    field: &'a str,
    message: &'a str,
    text: String,
}

fn json_warning<'a>(file: &'a str, w: &'a Warning) -> JsonWarning<'a> {
    let p = &w.problem;
    JsonWarning {
        kind: w.kind.key(),
        file,
        line: p.line,
        column: p.column,
        rule: p.rule.as_ref().map(|r| {
            let discovery = r.section != Section::ResourceRules;
            JsonRuleRef {
                section: r.section.key(),
                index: discovery.then_some(r.index),
                series_query: discovery.then_some(r.series_query.as_str()),
            }
        }),
        field: &p.field,
        message: &p.message,
        text: format!("{file}:{w}"),
    }
}

fn describe_json(file: &str, rules: &Rules, warnings: &[Warning]) -> String {
    let catalog = offline_catalog(rules, None);
    let list: Vec<JsonRule<'_>> = rules
        .custom
        .iter()
        .chain(&rules.external)
        .map(|r| JsonRule {
            section: r.at.section.key(),
            index: r.at.index,
            line: r.line,
            series_query: &r.series_query,
            metrics: r.namer.describe(),
            resources: describe_mapping(&r.resources, &catalog),
            metrics_query: r.metrics_query.as_ref().map(|t| t.source()),
        })
        .collect();
    let warnings: Vec<JsonWarning<'_>> = warnings.iter().map(|w| json_warning(file, w)).collect();
    let doc = serde_json::json!({
        "file": file,
        "rules": list,
        "resourceRules": rules.resource.is_some(),
        "warnings": warnings,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// One rendered query of `--render`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Rendered {
    /// Index of the rule in its list.
    pub rule: usize,
    /// The API metric name.
    pub metric: String,
    /// The PromQL.
    pub query: String,
}

fn failure(message: String) -> Report {
    Report {
        stdout: String::new(),
        stderr: message + "\n",
        success: false,
    }
}

fn render(args: &CheckArgs, rules: &Rules) -> Report {
    let resource_arg = args.resource.as_deref().unwrap_or_default();
    let selector = match Selector::parse(&args.selector) {
        Ok(s) => s,
        Err(e) => return failure(format!("--selector: {e}")),
    };
    let (section, rendered, errors) = match (args.series.as_deref(), resource_arg) {
        (None, "pods" | "nodes") => {
            let (rendered, errors) = render_resource(args, rules, resource_arg);
            ("resourceRules", rendered, errors)
        }
        (None, _) => {
            return failure(
                "--series is required, except for the resourceRules' queries (--resource pods or nodes)"
                    .into(),
            );
        }
        (Some(series), "external") => {
            let (rendered, errors) = render_external(args, rules, series, &selector);
            ("externalRules", rendered, errors)
        }
        (Some(series), _) => {
            let (rendered, errors) = render_custom(args, rules, series, resource_arg, &selector);
            ("rules", rendered, errors)
        }
    };
    let mut stderr = String::new();
    for e in &errors {
        let _ = writeln!(stderr, "{e}");
    }
    if rendered.is_empty() && errors.is_empty() {
        let what = match &args.series {
            Some(series) => format!("series {series:?}"),
            None => "resource metrics".to_string(),
        };
        let _ = writeln!(stderr, "no rule serves {what} for {resource_arg}");
    }
    let stdout = match args.output {
        OutputFormat::Json => serde_json::to_string_pretty(&rendered).unwrap_or_default() + "\n",
        OutputFormat::Text => {
            let mut out = String::new();
            for r in &rendered {
                match (section, resource_arg) {
                    ("resourceRules", "pods") => {
                        let _ = writeln!(out, "resourceRules.{}.containerQuery (pods)", r.metric);
                    }
                    ("resourceRules", _) => {
                        let _ = writeln!(out, "resourceRules.{}.nodeQuery (nodes)", r.metric);
                    }
                    _ => {
                        let _ =
                            writeln!(out, "{section}[{}]: {} ({resource_arg})", r.rule, r.metric);
                    }
                }
                let _ = writeln!(out, "  {}", r.query.trim_end().replace('\n', "\n  "));
            }
            out
        }
    };
    Report {
        stdout,
        success: errors.is_empty() && !rendered.is_empty(),
        stderr,
    }
}

/// The `cpu` and `memory` queries of `resourceRules` for pods (`containerQuery`) or nodes
/// (`nodeQuery`), as `kubectl top` makes the adapter send them.
fn render_resource(
    args: &CheckArgs,
    rules: &Rules,
    resource_arg: &str,
) -> (Vec<Rendered>, Vec<String>) {
    let fail = |message: String| (Vec::new(), vec![message]);
    let Some(resource_rules) = &rules.resource else {
        return fail("no resourceRules in this file".into());
    };
    if args.names.is_empty() {
        return fail(format!(
            "--name is required: the {resource_arg} the request is about"
        ));
    }
    let catalog = offline_catalog(rules, None);
    let Some(info) = catalog
        .resolve(&GroupResource::new("", resource_arg))
        .cloned()
    else {
        return fail(format!("--resource {resource_arg}: unknown resource"));
    };
    let namespace = match (resource_arg, &args.namespace) {
        ("pods", None) => return fail("--namespace is required: pods are namespaced".into()),
        (_, namespace) => namespace.as_deref().unwrap_or_default(),
    };
    let mut rendered = Vec::new();
    let mut errors = Vec::new();
    for (metric, queries) in [
        ("cpu", &resource_rules.cpu),
        ("memory", &resource_rules.memory),
    ] {
        let built = if resource_arg == "pods" {
            queries.pods_query(&catalog, &info, namespace, &args.names)
        } else {
            queries.nodes_query(&catalog, &info, &args.names)
        };
        match built {
            Ok(q) => rendered.push(Rendered {
                rule: 0,
                metric: metric.to_string(),
                query: q.query,
            }),
            Err(e) => errors.push(format!(
                "resourceRules.{metric}: cannot build the query: {e}"
            )),
        }
    }
    (rendered, errors)
}

/// Whether a rule's `seriesQuery` could return this series (its name and, when given, which
/// labels it has). Label values are unknown offline, so only emptiness is checked; a query that
/// does not parse as a plain selector is assumed to admit everything.
fn series_query_admits(series_query: &str, series: &str, labels: Option<&[String]>) -> bool {
    let Ok(promql_parser::parser::Expr::VectorSelector(vs)) =
        promql_parser::parser::parse(series_query.trim())
    else {
        return true;
    };
    if !vs.matchers.or_matchers.is_empty() {
        return true;
    }
    if vs.name.as_deref().is_some_and(|n| n != series) {
        return false;
    }
    vs.matchers.matchers.iter().all(|m| {
        if m.name == "__name__" {
            return m.is_match(series);
        }
        match labels {
            Some(labels) if !labels.contains(&m.name) => m.is_match(""),
            Some(_) if m.value.is_empty() => !matches!(m.op, promql_parser::label::MatchOp::Equal),
            _ => true,
        }
    })
}

fn render_external(
    args: &CheckArgs,
    rules: &Rules,
    series: &str,
    selector: &Selector,
) -> (Vec<Rendered>, Vec<String>) {
    let catalog = offline_catalog(rules, None);
    let mut rendered = Vec::new();
    let mut errors = Vec::new();
    let labels = args.series_labels.as_deref();
    for rule in &rules.external {
        if !series_query_admits(&rule.series_query, series, labels) {
            continue;
        }
        let Some(metric) = rule.namer.metric_name(series) else {
            continue;
        };
        let namespace = match (&args.namespace, rule.namespaced) {
            (Some(ns), _) => ns.as_str(),
            (None, false) => "",
            (None, true) => {
                errors.push(format!(
                    "externalRules[{}]: {metric}: --namespace is required (external metric requests always name a namespace)",
                    rule.at.index
                ));
                continue;
            }
        };
        match rule.external_query(&catalog, series, namespace, selector) {
            Ok(query) => rendered.push(Rendered {
                rule: rule.at.index,
                metric,
                query,
            }),
            Err(e) => errors.push(format!(
                "externalRules[{}]: {metric}: cannot build the query: {e}",
                rule.at.index
            )),
        }
    }
    (rendered, errors)
}

fn render_custom(
    args: &CheckArgs,
    rules: &Rules,
    series: &str,
    resource_arg: &str,
    selector: &Selector,
) -> (Vec<Rendered>, Vec<String>) {
    let requested = GroupResource::parse(resource_arg);
    let catalog = offline_catalog(rules, Some((&requested, args.namespace.is_some())));
    let Some(resource) = catalog.resolve(&requested).cloned() else {
        return (
            Vec::new(),
            vec![format!("--resource {resource_arg}: unknown resource")],
        );
    };
    if args.names.is_empty() {
        return (
            Vec::new(),
            vec!["--name is required: the object(s) the request is about".to_string()],
        );
    }
    if resource.namespaced && args.namespace.is_none() {
        return (
            Vec::new(),
            vec![format!(
                "--namespace is required: {} are namespaced",
                resource.group_resource()
            )],
        );
    }
    let mut rendered = Vec::new();
    let mut errors = Vec::new();
    for rule in &rules.custom {
        if !series_query_admits(&rule.series_query, series, args.series_labels.as_deref()) {
            continue;
        }
        let Some(metric) = rule.namer.metric_name(series) else {
            continue;
        };
        let index = rule.resources.label_index(&catalog);
        let serves = match &args.series_labels {
            Some(labels) => labels.iter().any(|l| {
                index
                    .resource_for(l)
                    .is_some_and(|i| i.group_resource() == resource.group_resource())
            }),
            None => rule.resources.label_for(&resource, &catalog).is_ok(),
        };
        if !serves {
            continue;
        }
        let request = ObjectRequest {
            series,
            resource: &resource,
            namespace: args.namespace.as_deref(),
            names: &args.names,
            metric_selector: selector,
            extra_group_by: &[],
        };
        match rule.object_query(&catalog, &request) {
            Ok(q) => rendered.push(Rendered {
                rule: rule.at.index,
                metric,
                query: q.query,
            }),
            Err(e) => errors.push(format!(
                "rules[{}]: {metric}: cannot build the query: {e}",
                rule.at.index
            )),
        }
    }
    (rendered, errors)
}

#[cfg(test)]
mod tests;
