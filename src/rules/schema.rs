//! The rules file exactly as written: every field of prometheus-adapter's `MetricsDiscoveryConfig`,
//! with the position of each value, read from the YAML tree with yaml.v2's strict rules (unknown
//! and duplicated keys are errors, scalars are read as strings, `null` is the zero value).
//!
//! Reading never stops at the first problem: every error is collected with the rule and field it
//! belongs to, so `metrics-adapter check` can list them all.

use super::yaml::{Node, Value};
use super::{ConfigError, RuleRef, Section};

/// A value and where it was written (the parent's position when it was absent).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// The whole file.
#[derive(Debug, Clone, Default)]
pub struct RulesFile {
    /// `rules`: custom metrics.
    pub rules: Vec<DiscoveryRule>,
    /// `externalRules`: external metrics.
    pub external_rules: Vec<DiscoveryRule>,
    /// `resourceRules`: CPU and memory for metrics.k8s.io.
    pub resource_rules: Option<ResourceRules>,
    /// Whether the file names any of the three sections (`rules: []` does; an empty or
    /// comment-only file does not).
    pub names_a_section: bool,
}

/// One item of `rules` or `externalRules`.
#[derive(Debug, Clone, Default)]
pub struct DiscoveryRule {
    /// Which list and index, for error messages.
    pub at: RuleRef,
    /// Where the rule starts.
    pub line: usize,
    /// `seriesQuery`
    pub series_query: Spanned<String>,
    /// `seriesFilters`
    pub series_filters: Vec<SeriesFilterSpec>,
    /// `resources`
    pub resources: ResourceMappingSpec,
    /// `name`
    pub name: NameSpec,
    /// `metricsQuery` (absent: every query of the rule fails, as upstream).
    pub metrics_query: Option<Spanned<String>>,
}

/// One item of `seriesFilters`.
#[derive(Debug, Clone, Default)]
pub struct SeriesFilterSpec {
    /// Index in the list.
    pub index: usize,
    /// Where the item starts.
    pub line: usize,
    /// Column of the item.
    pub column: usize,
    /// `is`
    pub is: Option<Spanned<String>>,
    /// `isNot`
    pub is_not: Option<Spanned<String>>,
}

/// `resources` of a rule.
#[derive(Debug, Clone, Default)]
pub struct ResourceMappingSpec {
    /// `template`
    pub template: Option<Spanned<String>>,
    /// `overrides`: label -> group-resource, in file order.
    pub overrides: Vec<(Spanned<String>, GroupResourceSpec)>,
    /// `namespaced` (external rules only; default true).
    pub namespaced: Option<bool>,
}

/// `{group, resource}` of an override.
#[derive(Debug, Clone, Default)]
pub struct GroupResourceSpec {
    /// `group`
    pub group: String,
    /// `resource`
    pub resource: Spanned<String>,
}

/// `name` of a rule.
#[derive(Debug, Clone, Default)]
pub struct NameSpec {
    /// `matches`
    pub matches: Spanned<String>,
    /// `as`
    pub as_: Spanned<String>,
}

/// `resourceRules`.
#[derive(Debug, Clone, Default)]
pub struct ResourceRules {
    /// Where the section starts.
    pub line: usize,
    /// `cpu`
    pub cpu: ResourceRule,
    /// `memory`
    pub memory: ResourceRule,
    /// `window`
    pub window: Option<Spanned<String>>,
}

/// `cpu` or `memory` of `resourceRules`.
#[derive(Debug, Clone, Default)]
pub struct ResourceRule {
    /// `containerQuery`
    pub container_query: Spanned<String>,
    /// `nodeQuery`
    pub node_query: Spanned<String>,
    /// `resources`
    pub resources: ResourceMappingSpec,
    /// `containerLabel`
    pub container_label: Spanned<String>,
}

/// Read the file's tree. Errors are appended to `errors`; the returned value holds whatever
/// could be read.
pub fn read(root: Option<&Node>, errors: &mut Vec<ConfigError>) -> RulesFile {
    let mut file = RulesFile::default();
    let Some(root) = root else {
        return file;
    };
    let mut r = Reader { errors, rule: None };
    for (key, value) in r.mapping(root, "", &["rules", "externalRules", "resourceRules"]) {
        file.names_a_section = true;
        match key {
            "rules" => file.rules = r.discovery_rules(value, Section::Rules),
            "externalRules" => {
                file.external_rules = r.discovery_rules(value, Section::ExternalRules)
            }
            _ => {
                if !value.is_null() {
                    file.resource_rules = Some(r.resource_rules(value));
                }
            }
        }
    }
    file
}

struct Reader<'e> {
    errors: &'e mut Vec<ConfigError>,
    rule: Option<RuleRef>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Reader<'_> {
    fn error(&mut self, node: &Node, field: &str, message: String) {
        self.errors.push(ConfigError {
            line: node.line,
            column: node.column,
            rule: self.rule.clone(),
            field: field.to_string(),
            message,
        });
    }

    /// The entries of a mapping with known keys; unknown and duplicated keys are reported.
    fn mapping<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        known: &[&'static str],
    ) -> Vec<(&'static str, &'n Node)> {
        let pairs = match &node.value {
            Value::Mapping(pairs) => pairs,
            _ if node.is_null() => return Vec::new(),
            _ => {
                let what = node.describe();
                self.error(node, path, format!("expected a mapping, found {what}"));
                return Vec::new();
            }
        };
        let mut out: Vec<(&'static str, &'n Node)> = Vec::new();
        for (k, v) in pairs {
            let name = self.key_text(k, path);
            let Some(name) = name else { continue };
            match known.iter().find(|&&known| known == name) {
                None => {
                    let field = join(path, name);
                    let expected = known.join(", ");
                    self.error(
                        k,
                        &field,
                        format!("unknown field {name:?} (expected one of: {expected})"),
                    );
                }
                Some(&known) if out.iter().any(|(seen, _)| *seen == known) => {
                    let field = join(path, known);
                    self.error(k, &field, format!("duplicated key {known:?}"));
                }
                Some(&known) => out.push((known, v)),
            }
        }
        out
    }

    fn key_text<'n>(&mut self, key: &'n Node, path: &str) -> Option<&'n str> {
        match &key.value {
            Value::Scalar { text, .. } => Some(text),
            _ => {
                self.error(key, path, "mapping keys must be scalars".into());
                None
            }
        }
    }

    fn string(&mut self, node: &Node, field: &str) -> Spanned<String> {
        let value = match &node.value {
            _ if node.is_null() => String::new(),
            Value::Scalar { text, .. } => text.clone(),
            _ => {
                let what = node.describe();
                self.error(node, field, format!("expected a string, found {what}"));
                String::new()
            }
        };
        Spanned {
            value,
            line: node.line,
            column: node.column,
        }
    }

    fn boolean(&mut self, node: &Node, field: &str) -> Option<bool> {
        match &node.value {
            _ if node.is_null() => None,
            // YAML 1.1 booleans, as yaml.v2 reads them.
            Value::Scalar { text, plain: true } => match text.as_str() {
                "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y"
                | "Y" => Some(true),
                "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n"
                | "N" => Some(false),
                other => {
                    self.error(
                        node,
                        field,
                        format!("expected true or false, found {other:?}"),
                    );
                    None
                }
            },
            _ => {
                let what = match &node.value {
                    Value::Scalar { text, .. } => format!("the string {text:?}"),
                    _ => node.describe().to_string(),
                };
                self.error(node, field, format!("expected true or false, found {what}"));
                None
            }
        }
    }

    fn list<'n>(&mut self, node: &'n Node, field: &str) -> &'n [Node] {
        match &node.value {
            Value::Sequence(items) => items,
            _ if node.is_null() => &[],
            _ => {
                let what = node.describe();
                self.error(node, field, format!("expected a list, found {what}"));
                &[]
            }
        }
    }

    fn discovery_rules(&mut self, node: &Node, section: Section) -> Vec<DiscoveryRule> {
        let items = self.list(node, section.key());
        items
            .iter()
            .enumerate()
            .map(|(index, item)| self.discovery_rule(item, section, index))
            .collect()
    }

    fn discovery_rule(&mut self, node: &Node, section: Section, index: usize) -> DiscoveryRule {
        const KEYS: &[&str] = &[
            "seriesQuery",
            "seriesFilters",
            "resources",
            "name",
            "metricsQuery",
        ];
        // Find the series query first so that every error of this rule can name it.
        let series_query = match &node.value {
            Value::Mapping(pairs) => pairs
                .iter()
                .find(|(k, _)| matches!(&k.value, Value::Scalar { text, .. } if text == "seriesQuery"))
                .and_then(|(_, v)| match &v.value {
                    Value::Scalar { text, .. } => Some(text.clone()),
                    _ => None,
                })
                .unwrap_or_default(),
            _ => String::new(),
        };
        let at = RuleRef {
            section,
            index,
            series_query,
        };
        self.rule = Some(at.clone());
        let mut rule = DiscoveryRule {
            at,
            line: node.line,
            series_query: Spanned {
                value: String::new(),
                line: node.line,
                column: node.column,
            },
            ..DiscoveryRule::default()
        };
        for (key, value) in self.mapping(node, "", KEYS) {
            match key {
                "seriesQuery" => rule.series_query = self.string(value, key),
                "seriesFilters" => {
                    let items = self.list(value, key);
                    rule.series_filters = items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| self.series_filter(item, i))
                        .collect();
                }
                "resources" => rule.resources = self.resource_mapping(value, key),
                "name" => rule.name = self.name(value),
                _ => rule.metrics_query = Some(self.string(value, key)),
            }
        }
        self.rule = None;
        rule
    }

    fn series_filter(&mut self, node: &Node, index: usize) -> SeriesFilterSpec {
        let path = format!("seriesFilters[{index}]");
        let mut filter = SeriesFilterSpec {
            index,
            line: node.line,
            column: node.column,
            ..SeriesFilterSpec::default()
        };
        for (key, value) in self.mapping(node, &path, &["is", "isNot"]) {
            let field = join(&path, key);
            let s = self.string(value, &field);
            if key == "is" {
                filter.is = Some(s);
            } else {
                filter.is_not = Some(s);
            }
        }
        filter
    }

    fn resource_mapping(&mut self, node: &Node, path: &str) -> ResourceMappingSpec {
        let mut spec = ResourceMappingSpec::default();
        for (key, value) in self.mapping(node, path, &["template", "overrides", "namespaced"]) {
            let field = join(path, key);
            match key {
                "template" => spec.template = Some(self.string(value, &field)),
                "namespaced" => spec.namespaced = self.boolean(value, &field),
                _ => spec.overrides = self.overrides(value, &field),
            }
        }
        spec
    }

    fn overrides(&mut self, node: &Node, path: &str) -> Vec<(Spanned<String>, GroupResourceSpec)> {
        let pairs = match &node.value {
            Value::Mapping(pairs) => pairs,
            _ if node.is_null() => return Vec::new(),
            _ => {
                let what = node.describe();
                self.error(
                    node,
                    path,
                    format!("expected a mapping of label to resource, found {what}"),
                );
                return Vec::new();
            }
        };
        let mut out: Vec<(Spanned<String>, GroupResourceSpec)> = Vec::new();
        for (k, v) in pairs {
            let label = self.string(k, path);
            let field = join(path, &label.value);
            if out.iter().any(|(seen, _)| seen.value == label.value) {
                self.error(k, &field, format!("duplicated key {:?}", label.value));
                continue;
            }
            let mut gr = GroupResourceSpec {
                group: String::new(),
                resource: Spanned {
                    value: String::new(),
                    line: v.line,
                    column: v.column,
                },
            };
            for (key, value) in self.mapping(v, &field, &["group", "resource"]) {
                let f = join(&field, key);
                let s = self.string(value, &f);
                if key == "group" {
                    gr.group = s.value;
                } else {
                    gr.resource = s;
                }
            }
            if gr.resource.value.is_empty() {
                self.error(v, &field, "an override needs a resource".into());
            }
            out.push((label, gr));
        }
        out
    }

    fn name(&mut self, node: &Node) -> NameSpec {
        let mut spec = NameSpec {
            matches: Spanned {
                value: String::new(),
                line: node.line,
                column: node.column,
            },
            as_: Spanned {
                value: String::new(),
                line: node.line,
                column: node.column,
            },
        };
        for (key, value) in self.mapping(node, "name", &["matches", "as"]) {
            let field = join("name", key);
            let s = self.string(value, &field);
            if key == "matches" {
                spec.matches = s;
            } else {
                spec.as_ = s;
            }
        }
        spec
    }

    fn resource_rules(&mut self, node: &Node) -> ResourceRules {
        self.rule = Some(RuleRef {
            section: Section::ResourceRules,
            index: 0,
            series_query: String::new(),
        });
        let mut rules = ResourceRules {
            line: node.line,
            ..ResourceRules::default()
        };
        for (key, value) in self.mapping(node, "", &["cpu", "memory", "window"]) {
            match key {
                "cpu" => rules.cpu = self.resource_rule(value, key),
                "memory" => rules.memory = self.resource_rule(value, key),
                _ => rules.window = Some(self.string(value, key)),
            }
        }
        self.rule = None;
        rules
    }

    fn resource_rule(&mut self, node: &Node, path: &str) -> ResourceRule {
        let at = |s: String| Spanned {
            value: s,
            line: node.line,
            column: node.column,
        };
        let mut rule = ResourceRule {
            container_query: at(String::new()),
            node_query: at(String::new()),
            resources: ResourceMappingSpec::default(),
            container_label: at(String::new()),
        };
        const KEYS: &[&str] = &["containerQuery", "nodeQuery", "resources", "containerLabel"];
        for (key, value) in self.mapping(node, path, KEYS) {
            let field = join(path, key);
            match key {
                "containerQuery" => rule.container_query = self.string(value, &field),
                "nodeQuery" => rule.node_query = self.string(value, &field),
                "resources" => rule.resources = self.resource_mapping(value, &field),
                _ => rule.container_label = self.string(value, &field),
            }
        }
        rule
    }
}
