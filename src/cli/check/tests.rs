use super::*;

use crate::reference_files::{reference_path as reference, without_reference};

fn args(config: PathBuf) -> CheckArgs {
    CheckArgs {
        config,
        render: false,
        series: None,
        series_labels: None,
        resource: None,
        namespace: None,
        names: Vec::new(),
        selector: String::new(),
        output: OutputFormat::Text,
    }
}

fn render_args(config: PathBuf, series: &str, resource: &str) -> CheckArgs {
    CheckArgs {
        render: true,
        series: Some(series.into()),
        resource: Some(resource.into()),
        ..args(config)
    }
}

/// Every query a render prints must parse as PromQL.
fn assert_queries_parse(report: &Report) {
    for line in report.stdout.lines().filter(|l| l.starts_with("  ")) {
        crate::promql::validate(line.trim()).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
}

fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn describes_every_rule_in_file_order() {
    if without_reference("this test") {
        return;
    }
    let report = run(&args(reference("upstream-config-walkthrough.yaml")));
    assert!(report.success);
    assert_eq!(report.stderr, "");
    let body: Vec<&str> = report.stdout.lines().skip(2).collect();
    assert_eq!(
        body,
        [
            "rules[0] (line 4)",
            "  seriesQuery:  http_requests_total{kubernetes_namespace!=\"\",kubernetes_pod_name!=\"\"}",
            "  metrics:      \"${1}_per_second\" from series matching ^(.*)_total",
            "  resources:    kubernetes_namespace -> namespaces; kubernetes_pod_name -> pods",
            "  metricsQuery: sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)",
        ]
    );
    assert!(report.stdout.starts_with(&format!(
        "{}: ok: 1 custom rule, 0 external rules, no resource rules\n",
        reference("upstream-config-walkthrough.yaml").display()
    )));
}

#[test]
fn every_reference_file_checks_as_documented() {
    if without_reference("this test") {
        return;
    }
    for name in [
        "helm-chart-default-rules.yaml",
        "upstream-deploy-config.yaml",
        "upstream-config-walkthrough.yaml",
        "upstream-walkthrough.yaml",
        "upstream-externalmetrics.yaml",
    ] {
        let report = run(&args(reference(name)));
        assert!(report.success, "{name}: {}", report.stderr);
    }
    let report = run(&args(reference("upstream-docs-sample-config.yaml")));
    assert!(!report.success);
    assert_eq!(report.stdout, "");
    let first = report.stderr.lines().next().unwrap();
    assert!(
        first.contains("upstream-docs-sample-config.yaml:30:"),
        "{first}"
    );
    assert!(
        report.stderr.ends_with(": refused, 1 error\n"),
        "{}",
        report.stderr
    );
}

#[test]
fn reports_every_error_and_warnings() {
    let (_dir, path) = write(
        "rules:\n- seriesQuery: a\n  metricsQuery: '<<.Nope>>'\n- seriesQuery: b\n  name: {matches: '(('}\n",
    );
    let report = run(&args(path));
    assert!(!report.success);
    assert_eq!(report.stderr.lines().count(), 3, "{}", report.stderr);
    assert!(report.stderr.ends_with("refused, 2 errors\n"));

    let (_dir, path) = write("rules:\n- seriesQuery: a\n  resources: {template: <<.Resource>>}\n");
    let report = run(&args(path));
    assert!(report.success);
    assert!(report.stderr.starts_with("warning: "), "{}", report.stderr);
    assert!(
        report.stderr.contains("metricsQuery: missing"),
        "{}",
        report.stderr
    );
    assert!(report.stdout.contains("  metricsQuery: (none)\n"));
}

#[test]
fn json_description() {
    if without_reference("this test") {
        return;
    }
    let mut a = args(reference("upstream-externalmetrics.yaml"));
    a.output = OutputFormat::Json;
    let report = run(&a);
    let doc: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert_eq!(doc["rules"][1]["section"], "externalRules");
    assert_eq!(doc["rules"][1]["index"], 1);
    assert_eq!(doc["rules"][1]["line"], 8);
    assert_eq!(doc["resourceRules"], false);
}

#[test]
fn render_pods_metric_as_upstream() {
    if without_reference("this test") {
        return;
    }
    let mut a = render_args(
        reference("upstream-config-walkthrough.yaml"),
        "http_requests_total",
        "pods",
    );
    a.series_labels = Some(vec![
        "kubernetes_namespace".into(),
        "kubernetes_pod_name".into(),
    ]);
    a.namespace = Some("default".into());
    a.names = vec!["p1".into(), "p2".into()];
    let report = run(&a);
    assert!(report.success, "{}", report.stderr);
    assert_queries_parse(&report);
    assert_eq!(
        report.stdout,
        "rules[0]: http_requests_per_second (pods)\n  sum(rate(http_requests_total{kubernetes_namespace=\"default\",kubernetes_pod_name=~\"p1|p2\"}[2m])) by (kubernetes_pod_name)\n"
    );
    a.output = OutputFormat::Json;
    a.selector = "method=GET".into();
    let report = run(&a);
    let got: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert_eq!(
        got,
        serde_json::json!([{
            "rule": 0,
            "metric": "http_requests_per_second",
            "query": "sum(rate(http_requests_total{method=\"GET\",kubernetes_namespace=\"default\",kubernetes_pod_name=~\"p1|p2\"}[2m])) by (kubernetes_pod_name)"
        }])
    );
}

#[test]
fn render_only_rules_whose_series_query_and_labels_fit() {
    if without_reference("this test") {
        return;
    }
    let mut a = render_args(
        reference("helm-chart-default-rules.yaml"),
        "container_cpu_usage_seconds_total",
        "pods",
    );
    a.series_labels = Some(vec!["namespace".into(), "pod".into(), "container".into()]);
    a.namespace = Some("default".into());
    a.names = vec!["a".into(), "b".into()];
    a.output = OutputFormat::Json;
    let got: Vec<serde_json::Value> = serde_json::from_str(&run(&a).stdout).unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    crate::promql::validate(got[0]["query"].as_str().unwrap()).unwrap();
    assert_eq!(got[0]["metric"], "cpu_usage");
    assert_eq!(
        got[0]["query"],
        "sum(rate(container_cpu_usage_seconds_total{namespace=\"default\",pod=~\"a|b\",container!=\"POD\"}[5m])) by (pod)"
    );
    // Without a pod label the series maps to no pods.
    a.series_labels = Some(vec!["namespace".into(), "container".into()]);
    let report = run(&a);
    assert!(!report.success);
    assert!(
        report.stderr.contains("no rule serves series"),
        "{}",
        report.stderr
    );
}

#[test]
fn render_external_metrics() {
    if without_reference("this test") {
        return;
    }
    let mut a = render_args(
        reference("upstream-externalmetrics.yaml"),
        "queue_consumer_lag",
        "external",
    );
    a.selector = "name=q1".into();
    a.namespace = Some("default".into());
    let report = run(&a);
    assert!(report.success, "{}", report.stderr);
    assert_queries_parse(&report);
    assert_eq!(
        report.stdout,
        "externalRules[0]: queue_consumer_lag (external)\n  sum(queue_consumer_lag{name=\"q1\",namespace=\"default\"}) by (name)\n"
    );
    let mut b = render_args(
        reference("upstream-externalmetrics.yaml"),
        "queue_depth",
        "external",
    );
    b.selector = "name=q1".into();
    let report = run(&b);
    assert_eq!(
        report.stdout,
        "externalRules[1]: queue_depth (external)\n  sum(queue_depth{name=\"q1\"}) by (name)\n"
    );
    a.namespace = None;
    let report = run(&a);
    assert!(!report.success);
    assert!(
        report.stderr.contains("--namespace is required"),
        "{}",
        report.stderr
    );
}

#[test]
fn render_custom_resources_through_overrides() {
    let (_dir, path) = write(
        "rules:\n- seriesQuery: 'seldon_model_infer_total{namespace!=\"\",model!=\"\"}'\n  resources:\n    overrides:\n      namespace: {resource: namespace}\n      model: {group: mlops.seldon.io, resource: model}\n  name: {matches: ^seldon_model_infer_total$, as: infer_rps}\n  metricsQuery: sum by (<<.GroupBy>>) (rate(<<.Series>>{<<.LabelMatchers>>}[2m]))\n",
    );
    let mut a = render_args(
        path.clone(),
        "seldon_model_infer_total",
        "models.mlops.seldon.io",
    );
    a.series_labels = Some(vec![
        "namespace".into(),
        "model".into(),
        "method_type".into(),
    ]);
    a.namespace = Some("seldon".into());
    a.names = vec!["irisa0".into()];
    a.selector = "method_type=rest".into();
    let report = run(&a);
    assert!(report.success, "{}", report.stderr);
    assert_queries_parse(&report);
    assert_eq!(
        report.stdout,
        "rules[0]: infer_rps (models.mlops.seldon.io)\n  sum by (model) (rate(seldon_model_infer_total{method_type=\"rest\",namespace=\"seldon\",model=\"irisa0\"}[2m]))\n"
    );
    // The same series describes the namespace too.
    let mut n = render_args(path, "seldon_model_infer_total", "namespaces");
    n.names = vec!["seldon".into()];
    let report = run(&n);
    assert_eq!(
        report.stdout,
        "rules[0]: infer_rps (namespaces)\n  sum by (namespace) (rate(seldon_model_infer_total{namespace=\"seldon\"}[2m]))\n"
    );
}

#[test]
fn render_refuses_incomplete_requests() {
    if without_reference("this test") {
        return;
    }
    let base = || {
        render_args(
            reference("upstream-config-walkthrough.yaml"),
            "http_requests_total",
            "pods",
        )
    };
    let report = run(&base());
    assert!(
        report.stderr.contains("--name is required"),
        "{}",
        report.stderr
    );
    let mut a = base();
    a.names = vec!["p".into()];
    let report = run(&a);
    assert!(
        report
            .stderr
            .contains("--namespace is required: pods are namespaced"),
        "{}",
        report.stderr
    );
    a.namespace = Some("d".into());
    a.selector = "==".into();
    let report = run(&a);
    assert!(
        report.stderr.starts_with("--selector: found '=='"),
        "{}",
        report.stderr
    );
    a.selector = "a>1".into();
    let report = run(&a);
    assert!(!report.success);
    assert!(
        report.stderr.contains("not supported by prometheus"),
        "{}",
        report.stderr
    );
}

#[test]
fn singulars() {
    for (p, s) in [
        ("models", "model"),
        ("policies", "policy"),
        ("ingresses", "ingress"),
        ("boxes", "box"),
        ("batches", "batch"),
        ("data", "data"),
    ] {
        assert_eq!(singular_of(p), s);
    }
}

#[test]
fn render_resource_rules_for_pods_and_nodes() {
    let (_dir, path) = write(
        r#"resourceRules:
  cpu:
    containerQuery: sum by (<<.GroupBy>>) (irate(container_cpu_usage_seconds_total{<<.LabelMatchers>>,container!=""}[4m]))
    nodeQuery: sum by (<<.GroupBy>>) (irate(node_cpu_usage_seconds_total{<<.LabelMatchers>>}[4m]))
    resources:
      overrides:
        namespace: {resource: namespace}
        node: {resource: node}
        pod: {resource: pod}
    containerLabel: container
  memory:
    containerQuery: sum by (<<.GroupBy>>) (container_memory_working_set_bytes{<<.LabelMatchers>>,container!=""})
    nodeQuery: sum by (<<.GroupBy>>) (node_memory_working_set_bytes{<<.LabelMatchers>>})
    resources:
      overrides:
        namespace: {resource: namespace}
        node: {resource: node}
        pod: {resource: pod}
    containerLabel: container
  window: 5m
"#,
    );
    let resource_args = |resource: &str, namespace: Option<&str>, names: &[&str]| CheckArgs {
        render: true,
        resource: Some(resource.into()),
        namespace: namespace.map(str::to_string),
        names: names.iter().map(|n| n.to_string()).collect(),
        ..args(path.clone())
    };
    let report = run(&resource_args(
        "pods",
        Some("kube-system"),
        &["coredns-0", "etcd-0"],
    ));
    assert!(report.success, "{}", report.stderr);
    assert_eq!(
        report.stdout,
        "resourceRules.cpu.containerQuery (pods)\n  sum by (pod,container) (irate(container_cpu_usage_seconds_total{namespace=\"kube-system\",pod=~\"coredns-0|etcd-0\",container!=\"\"}[4m]))\n\
         resourceRules.memory.containerQuery (pods)\n  sum by (pod,container) (container_memory_working_set_bytes{namespace=\"kube-system\",pod=~\"coredns-0|etcd-0\",container!=\"\"})\n"
    );
    assert_queries_parse(&report);
    let report = run(&CheckArgs {
        output: OutputFormat::Json,
        ..resource_args("nodes", None, &["ip-10-0-0-1.ec2.internal"])
    });
    assert!(report.success, "{}", report.stderr);
    let rendered: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert_eq!(rendered[0]["metric"], "cpu");
    assert_eq!(
        rendered[1]["query"],
        r#"sum by (node) (node_memory_working_set_bytes{node="ip-10-0-0-1.ec2.internal"})"#
    );

    let refused = |a: CheckArgs, expected: &str| {
        let report = run(&a);
        assert!(!report.success);
        assert!(
            report.stderr.contains(expected),
            "{expected:?} not in {}",
            report.stderr
        );
    };
    refused(
        resource_args("pods", None, &["a"]),
        "--namespace is required",
    );
    refused(resource_args("nodes", None, &[]), "--name is required");
    refused(
        resource_args("services", Some("a"), &["a"]),
        "--series is required",
    );
    let (_other, custom_only) = write(
        "rules:\n- seriesQuery: 'up{pod!=\"\"}'\n  resources: {template: <<.Resource>>}\n  metricsQuery: up\n",
    );
    refused(
        CheckArgs {
            config: custom_only,
            ..resource_args("nodes", None, &["n"])
        },
        "no resourceRules in this file",
    );
}
