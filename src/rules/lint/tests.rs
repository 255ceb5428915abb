use super::*;
use crate::resources::ResourceInfo;
use crate::rules::parse;

use crate::reference_files::{reference_path, without_reference};

/// The warnings of a rules file checked offline, as `check` prints them after `FILE:`.
fn lines_with(text: &str, catalog: Catalog<'_>) -> Vec<String> {
    let rules = parse(text, "rules.yaml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    warnings(text, &rules, catalog)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn offline(text: &str) -> Vec<String> {
    lines_with(text, Catalog::Offline(&ResourceCatalog::well_known()))
}

fn kinds_with(text: &str, catalog: Catalog<'_>) -> Vec<LintKind> {
    let rules = parse(text, "rules.yaml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    warnings(text, &rules, catalog)
        .iter()
        .map(|w| w.kind)
        .collect()
}

fn kinds(text: &str) -> Vec<LintKind> {
    kinds_with(text, Catalog::Offline(&ResourceCatalog::well_known()))
}

/// A custom rule with a pod override and a metrics query: only the parts under test vary.
fn pod_rule(series_query: &str, name: &str) -> String {
    format!(
        "- seriesQuery: '{series_query}'\n  resources:\n    overrides:\n      pod: {{resource: pod}}\n{name}  metricsQuery: sum(<<.Series>>{{<<.LabelMatchers>>}}) by (<<.GroupBy>>)\n"
    )
}

fn model() -> ResourceInfo {
    ResourceInfo {
        group: "mlops.seldon.io".into(),
        version: "v1alpha1".into(),
        plural: "models".into(),
        singular: "model".into(),
        kind: "Model".into(),
        namespaced: true,
    }
}

// --- two rules, one metric, one resource

#[test]
fn duplicate_constant_names_for_the_same_resource_warn_on_the_later_rule() {
    let text = format!(
        "rules:\n{}{}",
        pod_rule("a_total{pod!=\"\"}", "  name: {as: requests}\n"),
        pod_rule("b_total{pod!=\"\"}", "  name: {as: requests}\n"),
    );
    assert_eq!(
        offline(&text),
        [
            "12:14: rules[1] (seriesQuery \"b_total{pod!=\\\"\\\"}\"): name.as: metric \"requests\" for pods is also produced by rules[0] (line 2) (seriesQuery \"a_total{pod!=\\\"\\\"}\"): the last rule wins, so the earlier rule's series are never served for it; give one of them another name (name.as) or map them to different resources"
        ]
    );
}

#[test]
fn duplicate_names_for_different_resources_do_not_warn() {
    let text = format!(
        "rules:\n{}- seriesQuery: 'b_total{{deployment!=\"\"}}'\n  resources:\n    overrides:\n      deployment: {{group: apps, resource: deployment}}\n  name: {{as: requests}}\n  metricsQuery: sum(<<.Series>>{{<<.LabelMatchers>>}}) by (<<.GroupBy>>)\n",
        pod_rule("a_total{pod!=\"\"}", "  name: {as: requests}\n"),
    );
    assert_eq!(offline(&text), Vec::<String>::new());
    // Different names for the same resource do not either.
    let text = format!(
        "rules:\n{}{}",
        pod_rule("a_total{pod!=\"\"}", "  name: {as: a}\n"),
        pod_rule("b_total{pod!=\"\"}", "  name: {as: b}\n"),
    );
    assert_eq!(offline(&text), Vec::<String>::new());
}

#[test]
fn regex_named_rules_collide_when_their_series_query_names_one_metric() {
    // The template maps `pod` because the series query requires that label.
    let text = format!(
        "rules:\n- seriesQuery: 'http_requests_total{{namespace!=\"\",pod!=\"\"}}'\n  resources: {{template: <<.Resource>>}}\n  name: {{matches: ^(.*)_total$}}\n  metricsQuery: sum(rate(<<.Series>>{{<<.LabelMatchers>>}}[2m])) by (<<.GroupBy>>)\n{}",
        pod_rule("http_requests{pod!=\"\"}", ""),
    );
    let lines = offline(&text);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with("6:16: rules[1] (seriesQuery \"http_requests{pod!=\\\"\\\"}\"): seriesQuery: metric \"http_requests\" for pods is also produced by rules[0] (line 2)"),
        "{lines:#?}"
    );
}

#[test]
fn regex_named_rules_over_many_metrics_are_not_compared() {
    let text = format!(
        "rules:\n- seriesQuery: '{{__name__=~\"http_.*\",pod!=\"\"}}'\n  resources: {{template: <<.Resource>>}}\n  name: {{matches: ^(.*)_total$}}\n  metricsQuery: sum(rate(<<.Series>>{{<<.LabelMatchers>>}}[2m])) by (<<.GroupBy>>)\n{}",
        pod_rule("http_requests{pod!=\"\"}", ""),
    );
    assert_eq!(offline(&text), Vec::<String>::new());
}

#[test]
fn a_template_serves_only_the_resources_whose_label_the_query_requires() {
    let template_rule = |query: &str| {
        format!(
            "- seriesQuery: '{query}'\n  resources: {{template: <<.Resource>>}}\n  name: {{as: requests}}\n  metricsQuery: sum(<<.Series>>{{<<.LabelMatchers>>}}) by (<<.GroupBy>>)\n"
        )
    };
    let pods = pod_rule("a_total{pod!=\"\"}", "  name: {as: requests}\n");
    let text = format!(
        "rules:\n{pods}{}",
        template_rule("b_total{namespace!=\"\"}")
    );
    assert_eq!(kinds(&text), []);
    let text = format!(
        "rules:\n{pods}{}",
        template_rule("b_total{namespace!=\"\",pod=~\".+\"}")
    );
    assert_eq!(kinds(&text), [LintKind::DuplicateMetric]);
}

#[test]
fn a_rule_whose_filters_reject_its_only_metric_produces_nothing_to_collide_with() {
    let text = format!(
        "rules:\n{}{}",
        pod_rule("a_total{pod!=\"\"}", "  name: {as: requests}\n"),
        pod_rule(
            "b_total{pod!=\"\"}",
            "  seriesFilters: [{isNot: ^b_}]\n  name: {as: requests}\n"
        ),
    );
    assert_eq!(kinds(&text), []);
}

#[test]
fn duplicate_external_metrics_warn() {
    let external = |query: &str, name: &str| {
        format!(
            "- seriesQuery: '{query}'\n  resources: {{namespaced: false}}\n  name: {{as: {name}}}\n  metricsQuery: sum(<<.Series>>{{<<.LabelMatchers>>}}) by (queue)\n"
        )
    };
    let text = format!(
        "externalRules:\n{}{}",
        external("a{queue!=\"\"}", "depth"),
        external("b{queue!=\"\"}", "depth")
    );
    let lines = offline(&text);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains(
            "name.as: external metric \"depth\" is also produced by externalRules[0] (line 2)"
        ),
        "{lines:#?}"
    );
    let text = format!(
        "externalRules:\n{}{}",
        external("a{queue!=\"\"}", "depth"),
        external("b{queue!=\"\"}", "lag")
    );
    assert_eq!(kinds(&text), []);
    // A custom and an external metric of one name live in different APIs.
    let text = format!(
        "rules:\n{}externalRules:\n{}",
        pod_rule("a{pod!=\"\"}", "  name: {as: depth}\n"),
        external("b{queue!=\"\"}", "depth")
    );
    assert_eq!(kinds(&text), []);
}

// --- capture groups

#[test]
fn capture_groups_not_used_in_as_warn() {
    let text = format!(
        "rules:\n{}",
        pod_rule(
            "{__name__=~\"^app_.*\",pod!=\"\"}",
            "  name:\n    matches: ^app_(.*)_(seconds|bytes)$\n    as: ${1}\n"
        )
    );
    assert_eq!(
        offline(&text),
        [
            "7:14: rules[0] (seriesQuery \"{__name__=~\\\"^app_.*\\\",pod!=\\\"\\\"}\"): name.matches: capture group 2 of \"^app_(.*)_(seconds|bytes)$\" never used in name.as \"${1}\": use it in name.as (${2}) or make it non-capturing with (?:…)"
        ]
    );
    // The close case: every group used, or the unit group made non-capturing.
    for name in [
        "  name:\n    matches: ^app_(.*)_(seconds|bytes)$\n    as: ${1}_in_$2\n",
        "  name:\n    matches: ^app_(.*)_(?:seconds|bytes)$\n    as: ${1}\n",
    ] {
        let text = format!(
            "rules:\n{}",
            pod_rule("{__name__=~\"^app_.*\",pod!=\"\"}", name)
        );
        assert_eq!(offline(&text), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn named_groups_count_as_used_by_name_or_number() {
    for as_ in ["${unit}_${1}", "${2}_${1}"] {
        let text = format!(
            "rules:\n{}",
            pod_rule(
                "{__name__=~\"^app_.*\",pod!=\"\"}",
                &format!(
                    "  name:\n    matches: ^app_(.*)_(?P<unit>seconds|bytes)$\n    as: '{as_}'\n"
                )
            )
        );
        assert_eq!(kinds(&text), [], "{as_}");
    }
    let text = format!(
        "rules:\n{}",
        pod_rule(
            "{__name__=~\"^app_.*\",pod!=\"\"}",
            "  name:\n    matches: ^app_(.*)_(?P<unit>seconds|bytes)$\n    as: ${1}\n"
        )
    );
    let lines = offline(&text);
    assert!(
        lines[0].contains("capture group 2 (\"unit\") of"),
        "{lines:#?}"
    );
}

#[test]
fn a_dollar_number_followed_by_a_name_character_is_explained() {
    // Go reads `$1_per_second` as the group named `1_per_second`, which expands to nothing.
    let text = format!(
        "rules:\n{}",
        pod_rule(
            "{__name__=~\".*_total\",pod!=\"\"}",
            "  name:\n    matches: ^(.*)_total$\n    as: $1_per_second\n"
        )
    );
    let lines = offline(&text);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].ends_with(
            "name.matches: capture group 1 of \"^(.*)_total$\" never used in name.as \"$1_per_second\" (\"$1_per_second\" refers to a group named \"1_per_second\", which does not exist: write \"${1}_per_second\")"
        ),
        "{lines:#?}"
    );
    // Upstream's walkthrough spelling is right.
    let text = format!(
        "rules:\n{}",
        pod_rule(
            "{__name__=~\".*_total\",pod!=\"\"}",
            "  name:\n    matches: ^(.*)_total$\n    as: ${1}_per_second\n"
        )
    );
    assert_eq!(kinds(&text), []);
}

#[test]
fn without_as_the_single_group_is_the_name() {
    let text = format!(
        "rules:\n{}",
        pod_rule(
            "{__name__=~\".*_total\",pod!=\"\"}",
            "  name: {matches: ^(.*)_total$}\n"
        )
    );
    assert_eq!(kinds(&text), []);
}

// --- metric names that are not path segments

#[test]
fn names_that_are_not_path_segments_warn() {
    for (as_, problem) in [
        ("requests/s", "contains \"/\""),
        ("'..'", "is \"..\""),
        ("'.'", "is \".\""),
        ("cpu%", "contains \"%\""),
    ] {
        let text = format!(
            "rules:\n{}",
            pod_rule("a{pod!=\"\"}", &format!("  name: {{as: {as_}}}\n"))
        );
        let lines = offline(&text);
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(
            lines[0].contains(&format!(
                "name.as: metric name {:?} {problem}: the metrics APIs put the name in a URL path",
                as_.trim_matches('\'')
            )),
            "{lines:#?}"
        );
        assert!(lines[0].ends_with("; change name.as"), "{lines:#?}");
    }
}

#[test]
fn names_with_dots_colons_and_dashes_are_path_segments() {
    for as_ in ["requests.per.second", "job:requests:rate5m", "a-b", "'...'"] {
        let text = format!(
            "rules:\n{}",
            pod_rule("a{pod!=\"\"}", &format!("  name: {{as: {as_}}}\n"))
        );
        assert_eq!(kinds(&text), [], "{as_}");
    }
}

#[test]
fn a_name_made_from_the_one_metric_of_the_series_query_is_checked() {
    // `_total` is a valid Prometheus name, and `^(.*)_total$` makes it the empty name.
    let text = format!(
        "rules:\n{}",
        pod_rule("_total{pod!=\"\"}", "  name: {matches: ^(.*)_total$}\n")
    );
    let lines = offline(&text);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains(
            "name.matches: the metric name this rule makes of series \"_total\", \"\", is empty:"
        ),
        "{lines:#?}"
    );
    let text = format!(
        "rules:\n{}",
        pod_rule("x_total{pod!=\"\"}", "  name: {matches: ^(.*)_total$}\n")
    );
    assert_eq!(kinds(&text), []);
}

#[test]
fn external_metric_names_are_path_segments_too() {
    let text = "externalRules:\n- seriesQuery: 'q{queue!=\"\"}'\n  resources: {namespaced: false}\n  name: {as: queue/depth}\n  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (queue)\n";
    assert_eq!(kinds(text), [LintKind::InvalidMetricName]);
}

// --- series queries without a metric name

#[test]
fn series_queries_without_a_metric_name_warn() {
    for (query, what) in [
        (
            "{namespace!=\"\",pod!=\"\"}",
            "no matcher on the metric name",
        ),
        (
            "{__name__=~\".+\",pod!=\"\"}",
            "__name__=~\".+\" admits every metric name",
        ),
        (
            "{__name__=~\".*|x\",pod!=\"\"}",
            "__name__=~\".*|x\" admits every metric name",
        ),
        (
            "{__name__!=\"\",pod!=\"\"}",
            "__name__!=\"\" admits every metric name",
        ),
        // Upstream's documented sample: `!=` where `!~` was meant.
        (
            "{namespace!=\"\",__name__!=\"^container_.*\"}",
            "__name__!=\"^container_.*\" admits every metric name (!= compares the name with the text; a regex needs !~)",
        ),
        // One alternative without a name lists everything.
        (
            "{__name__=\"a\",pod!=\"\" or pod!=\"\"}",
            "no matcher on the metric name",
        ),
    ] {
        let text = format!("rules:\n{}", pod_rule(query, ""));
        let lines = offline(&text);
        assert_eq!(lines.len(), 1, "{query}: {lines:#?}");
        assert!(
            lines[0].starts_with(&format!("2:16: rules[0] (seriesQuery {query:?}): seriesQuery: {what}: every relist lists every series of Prometheus")),
            "{query}: {lines:#?}"
        );
    }
}

#[test]
fn series_queries_naming_metrics_do_not_warn() {
    for query in [
        "up{pod!=\"\"}",
        "{__name__=\"up\",pod!=\"\"}",
        "{__name__=~\"^container_.*\",container!=\"POD\",namespace!=\"\",pod!=\"\"}",
        "{__name__=~\".+_total\",pod!=\"\"}",
        // The community chart's catch-all rules exclude cAdvisor's series by name: a choice of
        // names, not every series.
        "{namespace!=\"\",__name__!~\"^container_.*\"}",
        "{__name__=\"a\",pod!=\"\" or __name__=\"b\",pod!=\"\"}",
    ] {
        let text = format!("rules:\n{}", pod_rule(query, ""));
        assert_eq!(kinds(&text), [], "{query}");
    }
}

// --- overrides the cluster does not serve

#[test]
fn overrides_naming_resources_the_cluster_lacks_warn() {
    let text = "rules:\n- seriesQuery: 'seldon_model_infer_total{namespace!=\"\",model!=\"\"}'\n  resources:\n    overrides:\n      namespace: {resource: namespace}\n      model: {group: mlops.seldon.io, resource: model}\n  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)\n";
    let without_crd = ResourceCatalog::well_known();
    assert_eq!(
        lines_with(text, Catalog::Cluster(&without_crd)),
        [
            "6:49: rules[0] (seriesQuery \"seldon_model_infer_total{namespace!=\\\"\\\",model!=\\\"\\\"}\"): resources.overrides.model: the cluster serves no resource \"model.mlops.seldon.io\" (its API discovery does not list it): series with label \"model\" map to nothing; install what serves it (a CRD) or correct the group and resource"
        ]
    );
    let mut with_crd = ResourceCatalog::well_known();
    with_crd.insert(model());
    assert_eq!(kinds_with(text, Catalog::Cluster(&with_crd)), []);
    // Without a cluster the lint is skipped.
    assert_eq!(kinds_with(text, Catalog::Offline(&without_crd)), []);
}

#[test]
fn resource_rules_and_external_overrides_are_checked_too() {
    let text = "externalRules:\n- seriesQuery: 'q{queue!=\"\",ns!=\"\"}'\n  resources:\n    overrides: {ns: {resource: namespace}}\n  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (queue)\nresourceRules:\n  cpu:\n    containerQuery: sum(x{<<.LabelMatchers>>}) by (<<.GroupBy>>)\n    nodeQuery: sum(y{<<.LabelMatchers>>}) by (<<.GroupBy>>)\n    resources:\n      overrides:\n        machine: {resource: machine}\n        pod: {resource: pod}\n    containerLabel: container\n  memory:\n    containerQuery: sum(x{<<.LabelMatchers>>}) by (<<.GroupBy>>)\n    nodeQuery: sum(y{<<.LabelMatchers>>}) by (<<.GroupBy>>)\n    resources:\n      overrides:\n        node: {resource: nodes}\n        pod: {resource: pod}\n    containerLabel: container\n";
    let lines = lines_with(text, Catalog::Cluster(&ResourceCatalog::well_known()));
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with("12:29: resourceRules: cpu.resources.overrides.machine: the cluster serves no resource \"machine\""),
        "{lines:#?}"
    );
}

// --- the loader's warnings

#[test]
fn the_loaders_warnings_come_first_in_file_order_with_the_lints() {
    let text = "rules:\n- seriesQuery: '{pod!=\"\"}'\n  resources: {template: <<.Resource>>}\n- seriesQuery: 'b{pod!=\"\"}'\n  resources: {template: <<.Resource>>}\n  name: {matches: ^(b)(.*)$, as: $1}\n  metricsQuery: b\n";
    let rules = parse(text, "rules.yaml").unwrap();
    let found: Vec<(usize, LintKind, String)> = warnings(
        text,
        &rules,
        Catalog::Offline(&ResourceCatalog::well_known()),
    )
    .into_iter()
    .map(|w| (w.problem.line, w.kind, w.problem.field))
    .collect();
    assert_eq!(
        found,
        [
            (2, LintKind::Config, "metricsQuery".to_string()),
            (2, LintKind::NoMetricNameMatcher, "seriesQuery".to_string()),
            (6, LintKind::UnusedCaptureGroup, "name.matches".to_string()),
        ]
    );
}

#[test]
fn the_reference_files_and_the_shipped_rules_do_not_warn() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("config/demo.yaml")];
    for example in std::fs::read_dir(root.join("config/examples")).unwrap() {
        files.push(example.unwrap().path().join("rules.yaml"));
    }
    if !without_reference("the reference half of this test") {
        for name in [
            "helm-chart-default-rules.yaml",
            "upstream-config-walkthrough.yaml",
            "upstream-deploy-config.yaml",
            "upstream-externalmetrics.yaml",
            "upstream-walkthrough.yaml",
        ] {
            files.push(reference_path(name));
        }
    }
    let mut cluster = ResourceCatalog::well_known();
    cluster.insert(model());
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            lines_with(&text, Catalog::Cluster(&cluster)),
            Vec::<String>::new(),
            "{}",
            path.display()
        );
    }
}
