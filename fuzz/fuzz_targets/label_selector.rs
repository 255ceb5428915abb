//! Label selectors (`labelSelector`, `metricLabelSelector`): `Selector::parse`, matching, the
//! PromQL matchers, and the queries a rule renders with them and with object names taken from
//! the request path (hostile text: anything the path can carry).
//!
//! Input: NUL-separated parts: the selector, labels (`key=value` lines), a namespace, then object
//! names. Invariants:
//! - a parsed selector prints as text that parses back to the same selector;
//! - the PromQL of a selector whose keys are PromQL label names parses (promql-parser), and each
//!   matcher, read back by the PromQL parser, agrees with the selector's own matching on every
//!   label set where the key is present with a non-empty value (the two semantics differ only
//!   for absent labels);
//! - a rule's query for these objects parses as PromQL, and its object and namespace matchers,
//!   read back by the PromQL parser, match each requested name and none of its near misses (a
//!   character replaced, removed or added, the pieces between punctuation), so a metacharacter
//!   left unescaped would show.
#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use metrics_adapter::promql;
use metrics_adapter::resources::{GroupResource, ResourceCatalog};
use metrics_adapter::rules::naming::ResourceMapping;
use metrics_adapter::rules::query::{self, ObjectRequest};
use metrics_adapter::rules::template::{Template, TemplateKind};
use metrics_adapter::selector::{Requirement, Selector};
use promql_parser::label::Matcher;
use promql_parser::parser::Expr;

/// Query templates whose `<<.LabelMatchers>>` or label values sit where they do in real rules
/// files (a bare selector, so the matchers can be read back from the parsed query).
const TEMPLATES: [&str; 2] = [
    "<<.Series>>{<<.LabelMatchers>>}",
    r#"<<.Series>>{pod=~"<<index .LabelValuesByName "pod">>",namespace=~"<<index .LabelValuesByName "namespace">>"}"#,
];

/// What every run shares: the catalog, a `<<.Resource>>` label mapping and the templates.
struct Fixture {
    catalog: ResourceCatalog,
    mapping: ResourceMapping,
    templates: Vec<Template>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| Fixture {
    catalog: ResourceCatalog::well_known(),
    mapping: ResourceMapping::new(
        Vec::new(),
        Some(Template::parse("<<.Resource>>", TemplateKind::Label).unwrap()),
    ),
    templates: TEMPLATES
        .iter()
        .map(|t| Template::parse(t, TemplateKind::Query).unwrap())
        .collect(),
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.split('\0');
    let selector_text = parts.next().unwrap_or_default();
    let labels: BTreeMap<String, String> = parts
        .next()
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let namespace = parts.next().unwrap_or_default();
    let names: Vec<String> = parts.map(str::to_string).collect();

    let Ok(selector) = Selector::parse(selector_text) else {
        return;
    };
    let printed = selector.to_string();
    assert_eq!(
        Selector::parse(&printed).as_ref(),
        Ok(&selector),
        "{selector_text:?} printed as {printed:?}"
    );
    let _ = serde_json::to_string(&selector.to_label_selector()).unwrap();
    let _ = selector.matches(&labels);

    // Keys PromQL cannot name unquoted (`app.kubernetes.io/name`) and `>`/`<` (no PromQL form)
    // are refused before a query is built; everything else must make valid PromQL.
    let promql_ready = selector
        .requirements()
        .iter()
        .all(|r| is_promql_label_name(r.key()));
    let Ok(matchers) = selector.to_matchers() else {
        return;
    };
    if !promql_ready {
        return;
    }
    if !matchers.is_empty() {
        let query = format!("m{{{}}}", promql::join_matchers(&matchers));
        let parsed = parse_selector(&query);
        assert_eq!(parsed.len(), matchers.len(), "{query}");
        for (requirement, matcher) in selector.requirements().iter().zip(&parsed) {
            agree(requirement, matcher, &labels, &query);
        }
    }

    if names.is_empty() {
        return;
    }
    let Fixture {
        catalog,
        mapping,
        templates,
    } = &*FIXTURE;
    let pods = catalog.resolve(&GroupResource::parse("pods")).unwrap();
    for template in templates {
        let request = ObjectRequest {
            series: "http_requests_total",
            resource: pods,
            namespace: Some(namespace),
            names: &names,
            metric_selector: &selector,
            extra_group_by: &[],
        };
        let built = query::object_query(template, mapping, catalog, &request).unwrap();
        // `parse_selector` is the parse `promql::validate` does, keeping the result.
        let parsed = parse_selector(&built.query);
        let pod = parsed
            .iter()
            .rfind(|m| m.name == "pod")
            .unwrap_or_else(|| panic!("no pod matcher in {}", built.query));
        for name in &names {
            assert!(pod.is_match(name), "{} misses {name:?}", built.query);
        }
        for probe in names.iter().flat_map(|n| probes(n)) {
            assert_eq!(
                pod.is_match(&probe),
                names.contains(&probe),
                "{} on {probe:?}",
                built.query
            );
        }
        if !namespace.is_empty() {
            let ns = parsed
                .iter()
                .rfind(|m| m.name == "namespace")
                .unwrap_or_else(|| panic!("no namespace matcher in {}", built.query));
            for probe in probes(namespace) {
                assert_eq!(
                    ns.is_match(&probe),
                    probe == namespace,
                    "{} on {probe:?}",
                    built.query
                );
            }
        }
    }
});

/// The text itself and near misses that a regex metacharacter left unescaped would match: one
/// character replaced or removed, something added, and the pieces between punctuation (`a|b`).
fn probes(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = vec![
        text.to_string(),
        String::new(),
        format!("{text}x"),
        format!("x{text}"),
        format!("{text}{text}"),
    ];
    for i in 0..chars.len().min(32) {
        let mut replaced = chars.clone();
        replaced[i] = if chars[i] == 'x' { 'y' } else { 'x' };
        out.push(replaced.into_iter().collect());
        let mut removed = chars.clone();
        removed.remove(i);
        out.push(removed.into_iter().collect());
    }
    out.extend(
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|p| p.len() < text.len())
            .map(str::to_string),
    );
    out
}

fn is_promql_label_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The label matchers of a bare vector selector, as the PromQL parser reads them.
fn parse_selector(query: &str) -> Vec<Matcher> {
    match promql_parser::parser::parse(query) {
        Ok(Expr::VectorSelector(vs)) => {
            assert!(vs.matchers.or_matchers.is_empty(), "{query}");
            vs.matchers
                .matchers
                .into_iter()
                .filter(|m| m.name != "__name__")
                .collect()
        }
        Ok(other) => panic!("{query} parsed as {other:?}"),
        Err(e) => panic!("{query} is not valid PromQL: {e}"),
    }
}

/// The requirement and its matcher as Prometheus evaluates it agree wherever the label is set.
fn agree(
    requirement: &Requirement,
    matcher: &Matcher,
    labels: &BTreeMap<String, String>,
    query: &str,
) {
    assert_eq!(matcher.name, requirement.key(), "{query}");
    let check = |value: &str| {
        let mut set = labels.clone();
        set.insert(requirement.key().to_string(), value.to_string());
        assert_eq!(
            requirement.matches(&set),
            matcher.is_match(value),
            "{requirement} vs {query} on {value:?}"
        );
    };
    if let Some(value) = labels.get(requirement.key()).filter(|v| !v.is_empty()) {
        check(value);
    }
    for value in requirement.values().iter().filter(|v| !v.is_empty()) {
        for probe in probes(value).iter().filter(|p| !p.is_empty()) {
            check(probe);
        }
    }
}
