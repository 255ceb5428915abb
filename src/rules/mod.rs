//! The rules file: load, validate and compile a prometheus-adapter `--config` file into an
//! immutable [`Rules`], which the server swaps whole on reload.
//!
//! Loading refuses what prometheus-adapter refuses (unknown or duplicated keys, bad regexes,
//! unparseable templates, a `window` that is not a Prometheus duration) and reports every error
//! of the file with its line, the rule (index and `seriesQuery`) and the field. Problems that do
//! not stop upstream from starting, such as a rule without `metricsQuery`, are warnings.

pub mod lint;
pub mod naming;
pub mod query;
pub mod schema;
pub mod template;
pub mod yaml;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use naming::{MetricNamer, ResourceMapping, SeriesFilter};
use query::{ObjectQuery, ObjectRequest, QueryError};
use schema::{DiscoveryRule, ResourceMappingSpec, Spanned};
use template::{Field, QueryData, Template, TemplateKind};

use crate::resources::{GroupResource, ResourceCatalog, ResourceInfo};
use crate::selector::Selector;

/// Which list of the file a rule is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Section {
    /// `rules` (custom metrics).
    #[default]
    Rules,
    /// `externalRules`.
    ExternalRules,
    /// `resourceRules`.
    ResourceRules,
}

impl Section {
    /// The YAML key.
    pub fn key(self) -> &'static str {
        match self {
            Section::Rules => "rules",
            Section::ExternalRules => "externalRules",
            Section::ResourceRules => "resourceRules",
        }
    }
}

/// Which rule something refers to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleRef {
    /// The list.
    pub section: Section,
    /// Index in the list.
    pub index: usize,
    /// The rule's `seriesQuery`, as written.
    pub series_query: String,
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.section {
            Section::ResourceRules => f.write_str("resourceRules"),
            s => write!(
                f,
                "{}[{}] (seriesQuery {:?})",
                s.key(),
                self.index,
                self.series_query.trim_end()
            ),
        }
    }
}

/// One problem in a rules file (an error or a warning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line (0 when the problem is the file itself).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The rule it belongs to, if any.
    pub rule: Option<RuleRef>,
    /// The field path within the rule (`metricsQuery`, `seriesFilters[1].is`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    /// `LINE:COL: RULE: FIELD: MESSAGE`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: ", self.line, self.column)?;
        }
        if let Some(rule) = &self.rule {
            write!(f, "{rule}: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// A rules file that was refused: every error found, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    /// The file name as given.
    pub file: String,
    /// The errors, sorted by position.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}:{e}", self.file)?;
        }
        Ok(())
    }
}

/// A compiled `rules` or `externalRules` item.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Where it is in the file.
    pub at: RuleRef,
    /// The line it starts on.
    pub line: usize,
    /// Sent verbatim as `match[]` to `/api/v1/series`.
    pub series_query: String,
    /// Filters and naming.
    pub namer: MetricNamer,
    /// Label <-> resource mapping.
    pub resources: ResourceMapping,
    /// `metricsQuery`; `None` when absent (every query of the rule then fails).
    pub metrics_query: Option<Template>,
    /// `resources.namespaced` (external rules): whether the request namespace is matched.
    pub namespaced: bool,
}

impl Rule {
    /// The query for some objects' values (custom metrics).
    pub fn object_query(
        &self,
        catalog: &ResourceCatalog,
        request: &ObjectRequest<'_>,
    ) -> Result<ObjectQuery, QueryError> {
        let template = self.metrics_query.as_ref().ok_or(QueryError::NoTemplate)?;
        query::object_query(template, &self.resources, catalog, request)
    }

    /// The query for an external metric; the namespace is matched only when the rule is
    /// namespaced.
    pub fn external_query(
        &self,
        catalog: &ResourceCatalog,
        series: &str,
        namespace: &str,
        selector: &Selector,
    ) -> Result<String, QueryError> {
        let template = self.metrics_query.as_ref().ok_or(QueryError::NoTemplate)?;
        let namespace = self.namespaced.then_some(namespace);
        query::external_query(
            template,
            &self.resources,
            catalog,
            series,
            namespace,
            selector,
        )
    }
}

/// `cpu` or `memory` of `resourceRules`, compiled.
#[derive(Debug, Clone)]
pub struct ResourceQueries {
    /// Per-container query for pods.
    pub container_query: Template,
    /// Per-node query.
    pub node_query: Template,
    /// Label <-> resource mapping (pods, nodes, namespaces).
    pub resources: ResourceMapping,
    /// The label naming the container.
    pub container_label: String,
}

/// `resourceRules`, compiled.
#[derive(Debug, Clone)]
pub struct ResourceMetricRules {
    /// CPU in cores.
    pub cpu: ResourceQueries,
    /// Memory in bytes.
    pub memory: ResourceQueries,
    /// The window the values cover (0 when not set).
    pub window: Duration,
}

/// A loaded rules file.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// `rules`, in file order.
    pub custom: Vec<Rule>,
    /// `externalRules`, in file order.
    pub external: Vec<Rule>,
    /// `resourceRules`.
    pub resource: Option<ResourceMetricRules>,
    /// Problems that do not stop the file from loading.
    pub warnings: Vec<ConfigError>,
    /// Whether the file names a section (`rules: []`), so that no rules at all is what it says.
    pub names_a_section: bool,
}

impl Rules {
    /// Whether the rules serve nothing at all.
    pub fn is_empty(&self) -> bool {
        self.custom.is_empty() && self.external.is_empty() && self.resource.is_none()
    }
}

/// Load and compile a rules file.
pub fn load(path: &Path) -> Result<Rules, LoadError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| LoadError {
        file: file.clone(),
        errors: vec![ConfigError {
            line: 0,
            column: 0,
            rule: None,
            field: String::new(),
            message: format!("unable to read the rules file: {e}"),
        }],
    })?;
    parse(&text, &file)
}

/// Compile a rules file's text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Rules, LoadError> {
    let refuse = |errors: Vec<ConfigError>| LoadError {
        file: file.to_string(),
        errors,
    };
    let root = yaml::parse(text).map_err(|e| {
        refuse(vec![ConfigError {
            line: e.line,
            column: e.column,
            rule: None,
            field: String::new(),
            message: format!("YAML syntax error: {}", e.message),
        }])
    })?;
    let mut errors = Vec::new();
    let spec = schema::read(root.as_ref(), &mut errors);
    let mut compiler = Compiler {
        errors,
        warnings: Vec::new(),
    };
    let custom = compiler.discovery_rules(&spec.rules);
    let external = compiler.discovery_rules(&spec.external_rules);
    let resource = spec
        .resource_rules
        .as_ref()
        .and_then(|r| compiler.resource_rules(r));
    let Compiler {
        mut errors,
        mut warnings,
    } = compiler;
    if !errors.is_empty() {
        errors.sort_by_key(|e| (e.line, e.column));
        return Err(refuse(errors));
    }
    warnings.sort_by_key(|e| (e.line, e.column));
    Ok(Rules {
        custom,
        external,
        resource,
        warnings,
        names_a_section: spec.names_a_section,
    })
}

/// Parse a Prometheus duration (`5m`, `1h30m`, `1d`, `500ms`, `0`), as `model.ParseDuration`:
/// units in decreasing order, each at most once, a bare `0` allowed and nothing else bare.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("m", 60 * 1000),
        ("s", 1000),
        ("ms", 1),
    ];
    let invalid = || format!("not a valid duration string: {text:?}");
    let mut rest = text;
    let mut next_unit = 0;
    let mut millis: u64 = 0;
    if rest.is_empty() {
        return Err("empty duration string".into());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let (number, after) = rest.split_at_checked(digits).ok_or_else(invalid)?;
        let n: u64 = number.parse().map_err(|_| invalid())?;
        let unit_len = after.bytes().take_while(|b| !b.is_ascii_digit()).count();
        let (unit, after) = after.split_at_checked(unit_len).ok_or_else(invalid)?;
        rest = after;
        let position = UNITS
            .get(next_unit..)
            .and_then(|units| units.iter().position(|(u, _)| *u == unit))
            .ok_or_else(invalid)?;
        let &(_, scale) = UNITS.get(next_unit + position).ok_or_else(invalid)?;
        next_unit += position + 1;
        millis = n
            .checked_mul(scale)
            .and_then(|v| millis.checked_add(v))
            .ok_or_else(|| format!("duration out of range: {text:?}"))?;
    }
    Ok(Duration::from_millis(millis))
}

/// Go's `time.Duration.String()`: `0s`, `500ms`, `1.5µs`, `30s`, `20.022s`, `5m0s`, `1h0m0s`,
/// the form of metrics.k8s.io's `window` and of `check`'s output.
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    let fraction = |value: u128, scale: u128| {
        let whole = value / scale;
        let rest = value % scale;
        if rest == 0 {
            return whole.to_string();
        }
        let digits = scale.ilog10() as usize;
        let frac = format!("{rest:0digits$}");
        format!("{whole}.{}", frac.trim_end_matches('0'))
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", fraction(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", fraction(nanos, 1_000_000));
    }
    let total_secs = nanos / 1_000_000_000;
    let sub = nanos % 1_000_000_000;
    let (h, m, s) = (total_secs / 3600, (total_secs / 60) % 60, total_secs % 60);
    let secs = fraction(s * 1_000_000_000 + sub, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

struct Compiler {
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigError>,
}

fn problem<T>(at: &Spanned<T>, rule: &RuleRef, field: &str, message: String) -> ConfigError {
    ConfigError {
        line: at.line,
        column: at.column,
        rule: Some(rule.clone()),
        field: field.to_string(),
        message,
    }
}

/// Sample data to check that a query template renders to PromQL the parser accepts.
fn sample_render(template: &Template) -> Option<String> {
    let values = [
        ("namespace".to_string(), "default".to_string()),
        ("pod".to_string(), "a|b".to_string()),
    ]
    .into_iter()
    .collect();
    let group_by = ["pod".to_string()];
    template
        .render_query(&QueryData {
            series: "sample_series",
            label_matchers: r#"namespace="default",pod=~"a|b""#,
            label_values_by_name: &values,
            group_by: "pod",
            group_by_slice: &group_by,
        })
        .ok()
}

impl Compiler {
    fn error(&mut self, e: ConfigError) {
        self.errors.push(e);
    }

    fn query_template(
        &mut self,
        at: &Spanned<String>,
        rule: &RuleRef,
        field: &str,
    ) -> Option<Template> {
        match Template::parse(&at.value, TemplateKind::Query) {
            Ok(t) => {
                if t.is_empty() {
                    self.warnings.push(problem(
                        at,
                        rule,
                        field,
                        "renders to an empty query: every request for its metrics will fail".into(),
                    ));
                } else if let Some(sample) = sample_render(&t)
                    && let Err(e) = crate::promql::validate(&sample)
                {
                    self.warnings.push(problem(
                        at,
                        rule,
                        field,
                        format!("renders to a query the PromQL parser refuses ({e}); rendered with sample data: {sample}"),
                    ));
                }
                Some(t)
            }
            Err(e) => {
                self.error(problem(
                    at,
                    rule,
                    field,
                    format!("unable to parse template: {e}"),
                ));
                None
            }
        }
    }

    fn mapping(
        &mut self,
        spec: &ResourceMappingSpec,
        rule: &RuleRef,
        path: &str,
    ) -> Option<ResourceMapping> {
        let template = match &spec.template {
            None => None,
            Some(t) if t.value.is_empty() => None,
            Some(t) => {
                let field = format!("{path}template");
                match Template::parse(&t.value, TemplateKind::Label) {
                    Ok(parsed) if parsed.uses(Field::Resource) => Some(parsed),
                    Ok(_) => {
                        self.error(problem(
                            t,
                            rule,
                            &field,
                            format!(
                                "unable to generate label format from template {:?}: must include at least <<.Resource>> in the label template",
                                t.value
                            ),
                        ));
                        return None;
                    }
                    Err(e) => {
                        self.error(problem(
                            t,
                            rule,
                            &field,
                            format!("unable to parse template: {e}"),
                        ));
                        return None;
                    }
                }
            }
        };
        let overrides = spec
            .overrides
            .iter()
            .map(|(label, gr)| {
                (
                    label.value.clone(),
                    GroupResource::new(gr.group.clone(), gr.resource.value.clone()),
                )
            })
            .collect();
        Some(ResourceMapping::new(overrides, template))
    }

    fn discovery_rules(&mut self, specs: &[DiscoveryRule]) -> Vec<Rule> {
        specs
            .iter()
            .filter_map(|s| self.discovery_rule(s))
            .collect()
    }

    fn discovery_rule(&mut self, spec: &DiscoveryRule) -> Option<Rule> {
        let at = &spec.at;
        let mut ok = true;
        let mut filters = Vec::new();
        for f in &spec.series_filters {
            let field = format!("seriesFilters[{}]", f.index);
            let pos = Spanned {
                value: (),
                line: f.line,
                column: f.column,
            };
            let built = match (&f.is, &f.is_not) {
                (Some(is), Some(is_not)) => Err(problem(
                    &pos,
                    at,
                    &field,
                    format!(
                        "cannot have both an `is` ({:?}) and `isNot` ({:?}) expression in a single filter",
                        is.value, is_not.value
                    ),
                )),
                (None, None) => Err(problem(
                    &pos,
                    at,
                    &field,
                    "must have either an `is` or `isNot` expression in a filter".into(),
                )),
                (Some(is), None) => SeriesFilter::is(&is.value).map_err(|e| {
                    problem(
                        is,
                        at,
                        &format!("{field}.is"),
                        format!(
                            "unable to compile series filter {:?}: {}",
                            is.value,
                            naming::regex_error(&e)
                        ),
                    )
                }),
                (None, Some(not)) => SeriesFilter::is_not(&not.value).map_err(|e| {
                    problem(
                        not,
                        at,
                        &format!("{field}.isNot"),
                        format!(
                            "unable to compile series filter {:?}: {}",
                            not.value,
                            naming::regex_error(&e)
                        ),
                    )
                }),
            };
            match built {
                Ok(f) => filters.push(f),
                Err(e) => {
                    self.error(e);
                    ok = false;
                }
            }
        }
        let namer = match MetricNamer::new(&spec.name.matches.value, &spec.name.as_.value, filters)
        {
            Ok(n) => Some(n),
            Err(e) => {
                let field = match e {
                    naming::NamingError::BadRegex(..) => "name.matches",
                    naming::NamingError::AmbiguousCaptures(..) => "name.as",
                };
                self.error(problem(&spec.name.matches, at, field, e.to_string()));
                None
            }
        };
        let resources = self.mapping(&spec.resources, at, "resources.");
        let metrics_query = match &spec.metrics_query {
            Some(q) => {
                let t = self.query_template(q, at, "metricsQuery");
                ok &= t.is_some();
                t
            }
            None => {
                self.warnings.push(problem(
                    &spec.series_query,
                    at,
                    "metricsQuery",
                    "missing: the rule's metrics are listed but every request for them fails"
                        .into(),
                ));
                None
            }
        };
        if at.section == Section::Rules {
            if spec.resources.namespaced.is_some() {
                self.warnings.push(problem(
                    &spec.series_query,
                    at,
                    "resources.namespaced",
                    "only external rules use it; it is ignored here".into(),
                ));
            }
            if spec.resources.template.is_none() && spec.resources.overrides.is_empty() {
                self.warnings.push(problem(
                    &spec.series_query,
                    at,
                    "resources",
                    "no overrides and no template: the rule maps no label to a resource and serves no metrics".into(),
                ));
            }
        }
        let (namer, resources) = (namer?, resources?);
        ok.then(|| Rule {
            at: at.clone(),
            line: spec.line,
            series_query: spec.series_query.value.clone(),
            namer,
            resources,
            metrics_query,
            namespaced: spec.resources.namespaced.unwrap_or(true),
        })
    }

    fn resource_queries(
        &mut self,
        spec: &schema::ResourceRule,
        name: &str,
        rule: &RuleRef,
    ) -> Option<ResourceQueries> {
        let container = self.query_template(
            &spec.container_query,
            rule,
            &format!("{name}.containerQuery"),
        );
        let node = self.query_template(&spec.node_query, rule, &format!("{name}.nodeQuery"));
        let resources = self.mapping(&spec.resources, rule, &format!("{name}.resources."));
        if spec.container_label.value.is_empty() {
            self.warnings.push(problem(
                &spec.container_label,
                rule,
                &format!("{name}.containerLabel"),
                "empty: containers cannot be told apart".into(),
            ));
        }
        Some(ResourceQueries {
            container_query: container?,
            node_query: node?,
            resources: resources?,
            container_label: spec.container_label.value.clone(),
        })
    }

    fn resource_rules(&mut self, spec: &schema::ResourceRules) -> Option<ResourceMetricRules> {
        let rule = RuleRef {
            section: Section::ResourceRules,
            index: 0,
            series_query: String::new(),
        };
        let cpu = self.resource_queries(&spec.cpu, "cpu", &rule);
        let memory = self.resource_queries(&spec.memory, "memory", &rule);
        let window = match &spec.window {
            None => Some(Duration::ZERO),
            Some(w) => match parse_duration(&w.value) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.error(problem(w, &rule, "window", e));
                    None
                }
            },
        };
        Some(ResourceMetricRules {
            cpu: cpu?,
            memory: memory?,
            window: window?,
        })
    }
}

impl ResourceQueries {
    /// The per-container query for pods of one namespace.
    pub fn pods_query(
        &self,
        catalog: &ResourceCatalog,
        pods: &ResourceInfo,
        namespace: &str,
        names: &[String],
    ) -> Result<ObjectQuery, QueryError> {
        let everything = Selector::everything();
        query::object_query(
            &self.container_query,
            &self.resources,
            catalog,
            &ObjectRequest {
                series: "",
                resource: pods,
                namespace: Some(namespace),
                names,
                metric_selector: &everything,
                extra_group_by: std::slice::from_ref(&self.container_label),
            },
        )
    }

    /// The per-node query.
    pub fn nodes_query(
        &self,
        catalog: &ResourceCatalog,
        nodes: &ResourceInfo,
        names: &[String],
    ) -> Result<ObjectQuery, QueryError> {
        let everything = Selector::everything();
        query::object_query(
            &self.node_query,
            &self.resources,
            catalog,
            &ObjectRequest {
                series: "",
                resource: nodes,
                namespace: None,
                names,
                metric_selector: &everything,
                extra_group_by: &[],
            },
        )
    }
}

#[cfg(test)]
mod tests;
