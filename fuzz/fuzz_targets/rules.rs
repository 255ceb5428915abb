//! The rules loader: `rules::parse(text, file)` on any text, and what a loaded rule does with
//! series names and requests (naming, label mapping, rendering).
//!
//! Input: the rules file text. Invariants: loading is deterministic; a refused file has at least
//! one error, every error at a position inside the file and in file order; a loaded file's
//! warnings are in file order; every compiled template re-parses from its source to the same
//! template; a loaded rule names series, maps resources to labels and renders its queries for a
//! request without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metrics_adapter::resources::{GroupResource, ResourceCatalog};
use metrics_adapter::rules::query::ObjectRequest;
use metrics_adapter::rules::template::{Template, TemplateKind};
use metrics_adapter::rules::{self, ConfigError, Rule};
use metrics_adapter::selector::Selector;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let loaded = rules::parse(text, "fuzz.yaml");
    // Lines as YAML counts them: `\r\n`, `\r` and `\n` end a line.
    let lines = text.replace("\r\n", "\n").split(['\r', '\n']).count();
    let rules = match loaded {
        Err(refused) => {
            assert!(!refused.errors.is_empty(), "refused without an error");
            assert_in_order(&refused.errors, lines);
            let _ = refused.to_string();
            assert_eq!(
                rules::parse(text, "fuzz.yaml").err(),
                Some(refused),
                "not deterministic"
            );
            return;
        }
        Ok(rules) => rules,
    };
    assert_in_order(&rules.warnings, lines);
    let again = rules::parse(text, "fuzz.yaml").expect("loaded once, refused the second time");
    assert_eq!(again.warnings, rules.warnings);
    assert_eq!(again.custom.len(), rules.custom.len());
    assert_eq!(again.external.len(), rules.external.len());

    let catalog = ResourceCatalog::well_known();
    let selector = Selector::parse("verb in (GET,POST),code!=500").unwrap();
    let names = ["web-1".to_string(), "web.2".to_string()];
    for rule in rules.custom.iter().chain(&rules.external) {
        exercise(rule, &catalog, &selector, &names);
    }
    if let Some(resource) = &rules.resource {
        let pods = catalog.resolve(&GroupResource::parse("pods")).unwrap();
        let nodes = catalog.resolve(&GroupResource::parse("nodes")).unwrap();
        for queries in [&resource.cpu, &resource.memory] {
            reparses(&queries.container_query);
            reparses(&queries.node_query);
            let _ = queries.pods_query(&catalog, pods, "default", &names);
            let _ = queries.nodes_query(&catalog, nodes, &names);
            let _ = queries.resources.label_index(&catalog);
        }
        let _ = rules::format_go_duration(resource.window);
    }
});

fn assert_in_order(problems: &[ConfigError], lines: usize) {
    for p in problems {
        // The YAML parser reports the end of the input on the line after the last one.
        assert!(p.line <= lines + 1, "{p} is past the last line ({lines})");
        let _ = p.to_string();
    }
    for pair in problems.windows(2) {
        assert!(
            (pair[0].line, pair[0].column) <= (pair[1].line, pair[1].column),
            "out of order: {} / {}",
            pair[0],
            pair[1]
        );
    }
}

fn reparses(template: &Template) {
    assert_eq!(
        Template::parse(template.source(), TemplateKind::Query).as_ref(),
        Ok(template)
    );
}

fn exercise(rule: &Rule, catalog: &ResourceCatalog, selector: &Selector, names: &[String]) {
    if let Some(t) = &rule.metrics_query {
        reparses(t);
    }
    let _ = rule.namer.describe();
    for series in [
        rule.series_query.as_str(),
        "http_requests_total",
        "container_cpu_usage_seconds_total",
    ] {
        if let Some(name) = rule.namer.metric_name(series) {
            assert!(rule.namer.keeps(series));
            if let Some(constant) = rule.namer.constant_name() {
                assert_eq!(name, constant);
            }
        }
    }
    let index = rule.resources.label_index(catalog);
    for info in catalog.iter() {
        if let Ok(label) = rule.resources.label_for(info, catalog) {
            let _ = index.resource_for(&label);
        }
        let request = ObjectRequest {
            series: "http_requests_total",
            resource: info,
            namespace: info.namespaced.then_some("default"),
            names,
            metric_selector: selector,
            extra_group_by: &[],
        };
        let _ = rule.object_query(catalog, &request);
    }
    let _ = rule.external_query(catalog, "queue_depth", "default", selector);
}
