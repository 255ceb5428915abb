use std::path::Path;

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
        strict: false,
        lister_kubeconfig: None,
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
        // No warnings either: they pass --strict.
        let report = run(&CheckArgs {
            strict: true,
            ..args(reference(name))
        });
        assert!(report.success, "{name}: {}", report.stderr);
        assert_eq!(report.stderr, "", "{name}");
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

#[test]
fn the_shipped_rules_files_pass_strict() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("config/demo.yaml")];
    for example in std::fs::read_dir(root.join("config/examples")).unwrap() {
        files.push(example.unwrap().path().join("rules.yaml"));
    }
    assert!(files.len() >= 5, "{files:?}");
    for path in files {
        let report = run(&CheckArgs {
            strict: true,
            ..args(path.clone())
        });
        assert!(report.success, "{}: {}", path.display(), report.stderr);
        assert_eq!(report.stderr, "", "{}", path.display());
    }
}

/// One rule per offline lint, and one the loader warns about.
const LINTED: &str = r#"rules:
- seriesQuery: '{namespace!="",pod!=""}'
  resources: {template: <<.Resource>>}
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
- seriesQuery: 'http_requests_total{pod!=""}'
  resources:
    overrides: {pod: {resource: pod}}
  name: {matches: ^(.*)_(total)$, as: $1_per_second}
  metricsQuery: sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)
- seriesQuery: 'http_requests{pod!=""}'
  resources:
    overrides: {pod: {resource: pod}}
  name: {as: requests/s}
- seriesQuery: 'other_requests{pod!=""}'
  resources:
    overrides: {pod: {resource: pod}}
  name: {as: requests/s}
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
"#;

#[test]
fn every_lint_is_a_warning_naming_file_position_rule_and_fix() {
    let (_dir, path) = write(LINTED);
    let report = run(&args(path.clone()));
    assert!(report.success, "{}", report.stderr);
    let file = path.display();
    let lines: Vec<&str> = report.stderr.lines().collect();
    let url_path = r#"the metrics APIs put the name in a URL path, where the API server refuses names that are empty, "." or "..", or contain "/" or "%", so no HPA can ask for it; change name.as"#;
    assert_eq!(
        lines,
        [
            format!(
                r#"warning: {file}:2:16: rules[0] (seriesQuery "{{namespace!=\"\",pod!=\"\"}}"): seriesQuery: no matcher on the metric name: every relist lists every series of Prometheus that the other matchers admit (on a large Prometheus, millions); name the metric (my_metric{{…}}) or match the names the rule serves ({{__name__=~"my_prefix_.*",…}})"#
            ),
            format!(
                r#"warning: {file}:8:19: rules[1] (seriesQuery "http_requests_total{{pod!=\"\"}}"): name.matches: capture groups 1 and 2 of "^(.*)_(total)$" never used in name.as "$1_per_second" ("$1_per_second" refers to a group named "1_per_second", which does not exist: write "${{1}}_per_second")"#
            ),
            // The misread reference expands to nothing.
            format!(
                r#"warning: {file}:8:39: rules[1] (seriesQuery "http_requests_total{{pod!=\"\"}}"): name.as: the metric name this rule makes of series "http_requests_total", "", is empty: {url_path}"#
            ),
            format!(
                r#"warning: {file}:10:16: rules[2] (seriesQuery "http_requests{{pod!=\"\"}}"): metricsQuery: missing: the rule's metrics are listed but every request for them fails"#
            ),
            format!(
                r#"warning: {file}:13:14: rules[2] (seriesQuery "http_requests{{pod!=\"\"}}"): name.as: metric name "requests/s" contains "/": {url_path}"#
            ),
            format!(
                r#"warning: {file}:17:14: rules[3] (seriesQuery "other_requests{{pod!=\"\"}}"): name.as: metric name "requests/s" contains "/": {url_path}"#
            ),
            format!(
                r#"warning: {file}:17:14: rules[3] (seriesQuery "other_requests{{pod!=\"\"}}"): name.as: metric "requests/s" for pods is also produced by rules[2] (line 10) (seriesQuery "http_requests{{pod!=\"\"}}"): the last rule wins, so the earlier rule's series are never served for it; give one of them another name (name.as) or map them to different resources"#
            ),
        ]
    );
    assert!(
        report
            .stdout
            .starts_with(&format!("{file}: ok: 4 custom rules"))
    );
}

#[test]
fn strict_makes_warnings_errors() {
    let (_dir, path) = write(LINTED);
    let report = run(&CheckArgs {
        strict: true,
        ..args(path.clone())
    });
    assert!(!report.success);
    assert_eq!(report.stderr.matches("\nwarning: ").count() + 1, 7);
    assert!(
        report.stderr.ends_with(&format!(
            "{}: refused, 7 warnings (--strict)\n",
            path.display()
        )),
        "{}",
        report.stderr
    );
    // The description is still printed: the file loads.
    assert!(
        report.stdout.contains("rules[3] (line 14)"),
        "{}",
        report.stdout
    );

    // The loader's own warnings count too.
    let (_other, missing_query) =
        write("rules:\n- seriesQuery: 'a{pod!=\"\"}'\n  resources: {template: <<.Resource>>}\n");
    let report = run(&CheckArgs {
        strict: true,
        ..args(missing_query.clone())
    });
    assert!(!report.success);
    assert!(
        report.stderr.contains("metricsQuery: missing"),
        "{}",
        report.stderr
    );
    assert!(
        report.stderr.ends_with("refused, 1 warning (--strict)\n"),
        "{}",
        report.stderr
    );
    assert!(run(&args(missing_query)).success);

    // A clean file passes --strict, and so does --render.
    let (_clean, clean) = write(
        "rules:\n- seriesQuery: 'a{pod!=\"\"}'\n  resources: {template: <<.Resource>>}\n  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)\n",
    );
    let report = run(&CheckArgs {
        strict: true,
        ..args(clean.clone())
    });
    assert!(report.success, "{}", report.stderr);
    assert_eq!(report.stderr, "");
    let mut render = render_args(clean, "a", "pods");
    render.strict = true;
    render.namespace = Some("default".into());
    render.names = vec!["p".into()];
    let report = run(&render);
    assert!(report.success, "{}", report.stderr);
    // Under --strict a render of a file with warnings fails too, after printing its query.
    let mut render = render_args(path, "app_requests", "pods");
    render.namespace = Some("default".into());
    render.names = vec!["p".into()];
    let report = run(&render);
    assert!(report.success, "{}", report.stderr);
    let query = "rules[0]: app_requests (pods)\n  sum(app_requests{namespace=\"default\",pod=\"p\"}) by (pod)\n";
    assert_eq!(report.stdout, query);
    render.strict = true;
    let report = run(&render);
    assert!(!report.success);
    assert_eq!(report.stdout, query);
    assert!(
        report.stderr.ends_with("refused, 7 warnings (--strict)\n"),
        "{}",
        report.stderr
    );
}

#[test]
fn json_lists_the_warnings_with_their_kind_position_and_rule() {
    let (_dir, path) = write(LINTED);
    let report = run(&CheckArgs {
        output: OutputFormat::Json,
        ..args(path.clone())
    });
    assert!(report.success);
    let doc: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    let warnings = doc["warnings"].as_array().unwrap();
    let kinds: Vec<&str> = warnings
        .iter()
        .map(|w| w["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "no-metric-name-matcher",
            "unused-capture-group",
            "invalid-metric-name",
            "config",
            "invalid-metric-name",
            "invalid-metric-name",
            "duplicate-metric",
        ]
    );
    let file = path.display().to_string();
    assert_eq!(
        warnings[1],
        serde_json::json!({
            "kind": "unused-capture-group",
            "file": file,
            "line": 8,
            "column": 19,
            "rule": {"section": "rules", "index": 1, "seriesQuery": "http_requests_total{pod!=\"\"}"},
            "field": "name.matches",
            "message": "capture groups 1 and 2 of \"^(.*)_(total)$\" never used in name.as \"$1_per_second\" (\"$1_per_second\" refers to a group named \"1_per_second\", which does not exist: write \"${1}_per_second\")",
            "text": format!("{file}:{}", report.stderr.lines().nth(1).unwrap().strip_prefix(&format!("warning: {file}:")).unwrap()),
        })
    );
    // Every warning's text is the line the text output prints.
    for (w, line) in warnings.iter().zip(report.stderr.lines()) {
        assert_eq!(format!("warning: {}", w["text"].as_str().unwrap()), line);
    }
    // resourceRules have no index or series query.
    let (_other, resource) = write(
        "resourceRules:\n  cpu:\n    containerQuery: sum(x{<<.LabelMatchers>>}) by (<<.GroupBy>>)\n    nodeQuery: sum(y{<<.LabelMatchers>>}) by (<<.GroupBy>>)\n    resources: {overrides: {pod: {resource: pod}}}\n    containerLabel: ''\n  memory:\n    containerQuery: sum(x{<<.LabelMatchers>>}) by (<<.GroupBy>>)\n    nodeQuery: sum(y{<<.LabelMatchers>>}) by (<<.GroupBy>>)\n    resources: {overrides: {pod: {resource: pod}}}\n    containerLabel: container\n",
    );
    let report = run(&CheckArgs {
        output: OutputFormat::Json,
        ..args(resource)
    });
    let doc: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    assert_eq!(
        doc["warnings"][0]["rule"],
        serde_json::json!({"section": "resourceRules", "index": null, "seriesQuery": null})
    );
    assert_eq!(doc["warnings"][0]["field"], "cpu.containerLabel");
}

#[test]
fn a_cluster_that_cannot_be_read_is_an_error() {
    let (_dir, path) = write("rules: []\n");
    let report = run(&CheckArgs {
        lister_kubeconfig: Some(path.with_file_name("no-such-kubeconfig")),
        ..args(path.clone())
    });
    assert!(!report.success);
    assert!(
        report.stderr.starts_with("--lister-kubeconfig: "),
        "{}",
        report.stderr
    );
    // A kubeconfig whose server refuses connections.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kubeconfig = path.with_file_name("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: 'http://127.0.0.1:{port}'}}\nusers:\n- name: u\n  user: {{token: t}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n"),
    )
    .unwrap();
    let report = run(&CheckArgs {
        lister_kubeconfig: Some(kubeconfig.clone()),
        ..args(path)
    });
    assert!(!report.success);
    assert_eq!(report.stdout, "");
    assert!(
        report.stderr.starts_with(&format!(
            "--lister-kubeconfig {}: cannot read the cluster's API discovery: ",
            kubeconfig.display()
        )),
        "{}",
        report.stderr
    );
}
