use super::*;
use crate::resources::{GroupResource, ResourceCatalog};
use crate::rules::query::ObjectRequest;
use crate::selector::Selector;

use crate::reference_files::{reference_path, without_reference};

fn load_ref(name: &str) -> Result<Rules, LoadError> {
    load(&reference_path(name))
}

fn errors_of(text: &str) -> Vec<String> {
    match parse(text, "rules.yaml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string().lines().map(str::to_string).collect(),
    }
}

fn one_error(text: &str) -> String {
    let errors = errors_of(text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors.into_iter().next().unwrap()
}

#[test]
fn the_reference_files_load() {
    if without_reference("this test") {
        return;
    }
    let helm = load_ref("helm-chart-default-rules.yaml").unwrap();
    assert_eq!(helm.custom.len(), 6);
    assert!(helm.external.is_empty() && helm.resource.is_none());
    assert!(helm.warnings.is_empty(), "{:?}", helm.warnings);

    let deploy = load_ref("upstream-deploy-config.yaml").unwrap();
    let resource = deploy.resource.as_ref().unwrap();
    assert_eq!(resource.window, Duration::from_secs(300));
    assert_eq!(resource.cpu.container_label, "container");
    assert!(deploy.custom.is_empty() && deploy.external.is_empty());

    let walkthrough = load_ref("upstream-config-walkthrough.yaml").unwrap();
    assert_eq!(
        walkthrough.custom[0]
            .namer
            .metric_name("http_requests_total")
            .as_deref(),
        Some("http_requests_per_second")
    );

    let w = load_ref("upstream-walkthrough.yaml").unwrap();
    assert_eq!(
        w.custom[0].series_query,
        "{namespace!=\"\",__name__!~\"^container_.*\"}\n"
    );

    let ext = load_ref("upstream-externalmetrics.yaml").unwrap();
    assert_eq!(ext.external.len(), 2);
    assert!(ext.external[0].namespaced);
    assert!(!ext.external[1].namespaced);
}

#[test]
fn the_docs_sample_config_is_refused_at_line_30() {
    if without_reference("this test") {
        return;
    }
    let err = load_ref("upstream-docs-sample-config.yaml").unwrap_err();
    assert_eq!(err.errors.len(), 1, "{err}");
    assert_eq!(err.errors[0].line, 30, "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "{}:30:",
            reference_path("upstream-docs-sample-config.yaml").display()
        )),
        "{text}"
    );
    assert!(text.contains("YAML syntax error"), "{text}");
}

#[test]
fn every_refusal_names_file_line_rule_and_field() {
    let cases: &[(&str, &str)] = &[
        (
            "rules:\n- seriesQuery: x\n  metricQuery: y\n",
            "rules.yaml:3:3: rules[0] (seriesQuery \"x\"): metricQuery: unknown field \"metricQuery\" (expected one of: seriesQuery, seriesFilters, resources, name, metricsQuery)",
        ),
        (
            "rules:\n- seriesQuery: a\n  seriesQuery: b\n",
            "rules.yaml:3:3: rules[0] (seriesQuery \"a\"): seriesQuery: duplicated key \"seriesQuery\"",
        ),
        (
            "externalRules:\n- seriesQuery: q\n  seriesFilters:\n  - is: '(('\n",
            "rules.yaml:4:9: externalRules[0] (seriesQuery \"q\"): seriesFilters[0].is: unable to compile series filter \"((\": unclosed group",
        ),
        (
            "rules:\n- seriesQuery: q\n  seriesFilters:\n  - {is: a, isNot: b}\n",
            "rules.yaml:4:5: rules[0] (seriesQuery \"q\"): seriesFilters[0]: cannot have both an `is` (\"a\") and `isNot` (\"b\") expression in a single filter",
        ),
        (
            "rules:\n- seriesQuery: q\n  seriesFilters:\n  - {}\n",
            "rules.yaml:4:5: rules[0] (seriesQuery \"q\"): seriesFilters[0]: must have either an `is` or `isNot` expression in a filter",
        ),
        (
            "rules:\n- seriesQuery: q\n  name: {matches: '^(.*'}\n",
            "rules.yaml:3:19: rules[0] (seriesQuery \"q\"): name.matches: unable to compile series filter \"^(.*\": unclosed group",
        ),
        (
            "rules:\n- seriesQuery: q\n  name: {matches: '^(a)_(b)$'}\n",
            "rules.yaml:3:19: rules[0] (seriesQuery \"q\"): name.as: must specify an 'as' value for name matcher \"^(a)_(b)$\" (it has 2 capture groups)",
        ),
        (
            "rules:\n- seriesQuery: q\n  metricsQuery: sum(<<.Series>)\n",
            "rules.yaml:3:17: rules[0] (seriesQuery \"q\"): metricsQuery: unable to parse template: template line 1, column 5: unclosed action: missing >>",
        ),
        (
            "rules:\n- seriesQuery: q\n  metricsQuery: '<<range .GroupBySlice>>x<<end>>'\n",
            "rules.yaml:3:17: rules[0] (seriesQuery \"q\"): metricsQuery: unable to parse template: template line 1, column 3: unsupported template action \"range .GroupBySlice\": rules templates support <<.Field>>, <<.LabelValuesByName.label>> and <<index .Field key>> (range is not one of them)",
        ),
        (
            "rules:\n- seriesQuery: q\n  resources: {template: '<<.Group>>'}\n",
            "rules.yaml:3:25: rules[0] (seriesQuery \"q\"): resources.template: unable to generate label format from template \"<<.Group>>\": must include at least <<.Resource>> in the label template",
        ),
        (
            "resourceRules:\n  window: 5\n",
            "rules.yaml:2:11: resourceRules: window: not a valid duration string: \"5\"",
        ),
        (
            "rules:\n- seriesQuery: q\n  resources:\n    namespaced: maybe\n",
            "rules.yaml:4:17: rules[0] (seriesQuery \"q\"): resources.namespaced: expected true or false, found \"maybe\"",
        ),
        (
            "rules: {seriesQuery: q}\n",
            "rules.yaml:1:8: rules: expected a list, found a mapping",
        ),
        (
            "rules:\n- seriesQuery: [a]\n",
            "rules.yaml:2:16: rules[0] (seriesQuery \"\"): seriesQuery: expected a string, found a list",
        ),
        (
            "rules:\n- seriesQuery: q\n  resources:\n    overrides:\n      pod: {resource: pod, version: v1}\n",
            "rules.yaml:5:28: rules[0] (seriesQuery \"q\"): resources.overrides.pod.version: unknown field \"version\" (expected one of: group, resource)",
        ),
        ("rules: [\n", "rules.yaml:2:1: YAML syntax error: "),
    ];
    for (text, want) in cases {
        let got = one_error(text);
        assert!(got.starts_with(want), "\n got: {got}\nwant: {want}");
    }
}

#[test]
fn all_errors_are_reported_in_file_order() {
    let text = "rules:\n- seriesQuery: a\n  metricsQuery: '<<.Nope>>'\n- seriesQuery: b\n  name: {matches: '(('}\n  bogus: 1\nexternalRules:\n- seriesQuery: c\n  seriesFilters: [{}]\n";
    let errors = errors_of(text);
    assert_eq!(errors.len(), 4, "{errors:#?}");
    let lines: Vec<&str> = errors
        .iter()
        .map(|e| e.split(':').nth(1).unwrap())
        .collect();
    assert_eq!(lines, ["3", "5", "6", "9"]);
}

#[test]
fn warnings_do_not_refuse() {
    let rules = parse(
        "rules:\n- seriesQuery: q\n  resources: {template: <<.Resource>>, namespaced: false}\n- seriesQuery: r\n  metricsQuery: x\n",
        "f",
    )
    .unwrap();
    let w: Vec<String> = rules.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(w.len(), 3, "{w:#?}");
    assert!(w[0].contains("metricsQuery: missing"), "{w:#?}");
    assert!(
        w[1].contains("resources.namespaced: only external rules"),
        "{w:#?}"
    );
    assert!(
        w[2].contains("resources: no overrides and no template"),
        "{w:#?}"
    );
    let bad_promql = parse("rules:\n- seriesQuery: q\n  resources: {template: <<.Resource>>}\n  metricsQuery: sum(<<.Series>>\n", "f").unwrap();
    assert!(
        bad_promql.warnings[0]
            .to_string()
            .contains("PromQL parser refuses")
    );
}

#[test]
fn yaml_v2_reading_rules() {
    // Scalars of any type are strings; null is the zero value; YAML 1.1 booleans; anchors.
    let rules = parse(
        "rules:\n- &r\n  seriesQuery: 123\n  resources: {template: <<.Resource>>, namespaced: no}\n  name: {as: ~}\n  metricsQuery: x\nexternalRules:\n- *r\nresourceRules: null\n",
        "f",
    )
    .unwrap();
    assert_eq!(rules.custom[0].series_query, "123");
    assert_eq!(rules.external[0].series_query, "123");
    assert!(!rules.external[0].namespaced);
    assert!(rules.resource.is_none());
    assert!(parse("", "f").unwrap().custom.is_empty());
    assert!(parse("rules: []\n", "f").unwrap().custom.is_empty());
}

#[test]
fn load_reports_unreadable_files() {
    let err = load(Path::new("/nonexistent/rules.yaml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/rules.yaml:unable to read the rules file"),
        "{err}"
    );
}

#[test]
fn prometheus_durations() {
    let ok = [
        ("0", 0),
        ("5m", 300_000),
        ("1h30m", 5_400_000),
        ("1d", 86_400_000),
        ("1w", 604_800_000),
        ("500ms", 500),
        ("1y", 31_536_000_000),
        ("2m30s", 150_000),
    ];
    for (text, ms) in ok {
        assert_eq!(
            parse_duration(text),
            Ok(Duration::from_millis(ms)),
            "{text}"
        );
    }
    for bad in [
        "",
        "5",
        "5.5m",
        "m",
        "5x",
        "1m1h",
        "1m1m",
        "-1m",
        " 5m",
        "99999999999999999999y",
    ] {
        assert!(parse_duration(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn go_duration_strings() {
    let cases = [
        (Duration::ZERO, "0s"),
        (Duration::from_nanos(1500), "1.5µs"),
        (Duration::from_nanos(999), "999ns"),
        (Duration::from_millis(500), "500ms"),
        (Duration::from_secs(30), "30s"),
        (Duration::from_millis(20_022), "20.022s"),
        (Duration::from_secs(60), "1m0s"),
        (Duration::from_secs(300), "5m0s"),
        (Duration::from_secs(3600), "1h0m0s"),
        (Duration::from_millis(5_400_500), "1h30m0.5s"),
    ];
    for (d, s) in cases {
        assert_eq!(format_go_duration(d), s);
    }
}

/// Render `rules[index]` of a reference file for a request, as the provider will.
fn render_reference(
    file: &str,
    index: usize,
    series: &str,
    resource: &str,
    namespace: Option<&str>,
    names: &[&str],
    selector: &str,
) -> String {
    let rules = load_ref(file).unwrap();
    let catalog = ResourceCatalog::well_known();
    let info = catalog.resolve(&GroupResource::parse(resource)).unwrap();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let selector = Selector::parse(selector).unwrap();
    let q = rules.custom[index]
        .object_query(
            &catalog,
            &ObjectRequest {
                series,
                resource: info,
                namespace,
                names: &names,
                metric_selector: &selector,
                extra_group_by: &[],
            },
        )
        .unwrap();
    crate::promql::validate(&q.query).unwrap();
    q.query
}

/// adapter-behavior.md §1.7 and §3.7: the examples whose text we must reproduce byte for byte.
#[test]
fn same_text_as_upstream() {
    if without_reference("this test") {
        return;
    }
    assert_eq!(
        render_reference(
            "upstream-config-walkthrough.yaml",
            0,
            "http_requests_total",
            "pods",
            Some("default"),
            &["p1", "p2"],
            ""
        ),
        r#"sum(rate(http_requests_total{kubernetes_namespace="default",kubernetes_pod_name=~"p1|p2"}[2m])) by (kubernetes_pod_name)"#
    );
    assert_eq!(
        render_reference(
            "upstream-config-walkthrough.yaml",
            0,
            "http_requests_total",
            "pods",
            Some("default"),
            &[r#"we"ird\name"#],
            "method=GET"
        ),
        r#"sum(rate(http_requests_total{method="GET",kubernetes_namespace="default",kubernetes_pod_name="we\"ird\\name"}[2m])) by (kubernetes_pod_name)"#
    );
    assert_eq!(
        render_reference(
            "upstream-config-walkthrough.yaml",
            0,
            "http_requests_total",
            "namespaces",
            None,
            &["default"],
            ""
        ),
        r#"sum(rate(http_requests_total{kubernetes_namespace="default"}[2m])) by (kubernetes_namespace)"#
    );
    assert_eq!(
        render_reference(
            "helm-chart-default-rules.yaml",
            0,
            "container_cpu_usage_seconds_total",
            "pods",
            Some("monitoring"),
            &["a", "b"],
            ""
        ),
        r#"sum(rate(container_cpu_usage_seconds_total{namespace="monitoring",pod=~"a|b",container!="POD"}[5m])) by (pod)"#
    );
    assert_eq!(
        render_reference(
            "helm-chart-default-rules.yaml",
            3,
            "kube_deployment_status_replicas",
            "deployments.apps",
            Some("default"),
            &["web"],
            ""
        ),
        r#"sum(kube_deployment_status_replicas{namespace="default",deployment="web"}) by (deployment)"#
    );
    assert_eq!(
        render_reference(
            "upstream-walkthrough.yaml",
            0,
            "http_requests_total",
            "pods",
            Some("default"),
            &["sample-app-1", "sample-app-2"],
            "code in (200,500),!debug"
        ),
        "sum by (pod) (\n  irate (\n    http_requests_total{code=~\"200|500\",debug=\"\",namespace=\"default\",pod=~\"sample-app-1|sample-app-2\"}[1m]\n  )\n)\n"
    );

    let ext = load_ref("upstream-externalmetrics.yaml").unwrap();
    let catalog = ResourceCatalog::well_known();
    let sel = Selector::parse("name=q1").unwrap();
    assert_eq!(
        ext.external[0]
            .external_query(&catalog, "queue_depth", "default", &sel)
            .unwrap(),
        r#"sum(queue_depth{name="q1",namespace="default"}) by (name)"#
    );
    assert_eq!(
        ext.external[1]
            .external_query(&catalog, "queue_depth", "default", &Selector::everything())
            .unwrap(),
        "sum(queue_depth{}) by (name)"
    );

    let deploy = load_ref("upstream-deploy-config.yaml").unwrap();
    let res = deploy.resource.unwrap();
    let pods = catalog.resolve(&GroupResource::parse("pods")).unwrap();
    let q = res
        .cpu
        .pods_query(&catalog, pods, "default", &["a".into(), "b".into()])
        .unwrap();
    assert_eq!(
        q.query,
        "sum by (pod,container) (\n  irate (\n      container_cpu_usage_seconds_total{namespace=\"default\",pod=~\"a|b\",container!=\"\",pod!=\"\"}[4m]\n  )\n)\n"
    );
    let nodes = catalog.resolve(&GroupResource::parse("nodes")).unwrap();
    let q = res
        .memory
        .nodes_query(&catalog, nodes, &["n1".into()])
        .unwrap();
    assert_eq!(
        q.query,
        "sum by (node) (\n  node_memory_working_set_bytes{node=\"n1\"}\n)\n"
    );
}

/// docs/compatibility.md: where we deliberately differ from upstream's text.
#[test]
fn deliberate_differences_from_upstream() {
    if without_reference("this test") {
        return;
    }
    let catalog = ResourceCatalog::well_known();
    let deploy = load_ref("upstream-deploy-config.yaml").unwrap();
    let res = deploy.resource.unwrap();
    let nodes = catalog.resolve(&GroupResource::parse("nodes")).unwrap();
    // Dots in node names are escaped in alternations (upstream: node=~"ip-10-0-0-1.ec2.internal|n2").
    let q = res
        .cpu
        .nodes_query(
            &catalog,
            nodes,
            &["ip-10-0-0-1.ec2.internal".into(), "n2".into()],
        )
        .unwrap();
    assert!(
        q.query
            .contains(r#"node=~"ip-10-0-0-1\\.ec2\\.internal|n2""#),
        "{}",
        q.query
    );
    // Set values of a metric selector too (upstream: version=~"1.0|2.0").
    let q = render_reference(
        "upstream-config-walkthrough.yaml",
        0,
        "http_requests_total",
        "pods",
        Some("default"),
        &["p"],
        "version in (1.0,2.0)",
    );
    assert!(q.contains(r#"version=~"1\\.0|2\\.0""#), "{q}");
    // `!=` is supported (upstream answers 500 after querying).
    let q = render_reference(
        "upstream-config-walkthrough.yaml",
        0,
        "http_requests_total",
        "pods",
        Some("default"),
        &["p"],
        "method!=GET",
    );
    assert!(q.contains(r#"{method!="GET","#), "{q}");
}
