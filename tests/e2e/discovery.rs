//! Discovery end to end: Seldon models (a custom resource), a CRD installed after the adapter
//! started, a metric whose first series appears after start, and the reference rules files
//! answering exactly what Prometheus answers for the same query.

use std::time::{Duration, Instant};

use metrics_adapter::quantity::Quantity;
use metrics_adapter::resources::{GroupResource, ResourceCatalog};
use metrics_adapter::rules::{self, query::ObjectRequest};
use metrics_adapter::selector::Selector;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::adapter::Adapter;
use crate::support::kube::{self, KubeDouble, ResourceType};
use crate::support::prometheus::Prometheus;
use crate::support::reference::{reference_path, reference_text, without_reference};
use crate::support::world::World;

const SELDON_RULES: &str = r#"rules:
- seriesQuery: 'seldon_model_infer_total{namespace!="",model!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      model: {group: mlops.seldon.io, resource: model}
  name: {matches: ^seldon_model_infer_total$, as: infer_rps}
  metricsQuery: sum by (<<.GroupBy>>) (rate(<<.Series>>{<<.LabelMatchers>>}[10s]))
- seriesQuery: 'kserve_requests{namespace!="",inferenceservice!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      inferenceservice: {group: serving.kserve.io, resource: inferenceservice}
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
- seriesQuery: '{__name__=~"late_.*",namespace!="",pod!=""}'
  resources: {template: <<.Resource>>}
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
"#;

const V1: &str = "/apis/custom.metrics.k8s.io/v1beta1";
const V2: &str = "/apis/custom.metrics.k8s.io/v1beta2";

fn value_of(item: &Value) -> f64 {
    let text = item["value"].as_str().expect("value is a string");
    text.parse::<Quantity>()
        .expect("a canonical quantity")
        .as_f64()
}

fn close(actual: f64, expected: f64, relative: f64) -> bool {
    (actual - expected).abs() <= expected.abs() * relative
}

/// GET until 200 or `timeout` (for answers that depend on a rate-limited refresh).
async fn get_until_ok(adapter: &Adapter, path: &str, timeout: Duration) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = adapter.get(path).await;
        if status == StatusCode::OK {
            return body;
        }
        assert!(
            started.elapsed() < timeout,
            "GET {path} still {status} after {timeout:?}: {body}\n{}",
            adapter.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seldon_models_new_crds_and_new_series() {
    let world = World::start(
        |cluster, exporter| {
            cluster.apply(kube::namespace("seldon"));
            cluster.apply(kube::seldon_model("seldon", "irisa0", 1));
            cluster.apply(kube::pod(
                "seldon",
                "mlserver-0",
                &[("app", "mlserver")],
                "Running",
                true,
            ));
            let model = |method: &'static str| {
                [
                    ("namespace", "seldon"),
                    ("model", "irisa0"),
                    ("method_type", method),
                ]
            };
            exporter.set_counter_rate("seldon_model_infer_total", &model("rest"), 6.0);
            exporter.set_counter_rate("seldon_model_infer_total", &model("grpc"), 2.0);
        },
        "seldon_model_infer_total",
        2,
    )
    .await;
    let (cluster, exporter, prometheus) = (&world.cluster, &world.exporter, &world.prometheus);
    prometheus
        .wait_for_value(
            "sum(rate(seldon_model_infer_total[10s]))",
            8.0,
            0.1,
            Duration::from_secs(60),
        )
        .await;
    let adapter = Adapter::builder(SELDON_RULES)
        .arg("--metrics-relist-interval=10m")
        // Every miss lists at once, so that "the first request answers" does not depend on
        // when the previous miss happened.
        .arg("--metrics-on-miss-interval=1ms")
        .start(prometheus.base_url(), &cluster.kubeconfig())
        .await;

    // infer_rps is an Object metric of the Model and of its Namespace.
    let doc = adapter.get_ok(V1).await;
    let names: Vec<&str> = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["models.mlops.seldon.io/infer_rps", "namespaces/infer_rps"]
    );
    let body = adapter
        .get_ok(&format!(
            "{V1}/namespaces/seldon/models.mlops.seldon.io/irisa0/infer_rps"
        ))
        .await;
    let item = &body["items"][0];
    assert_eq!(
        item["describedObject"],
        json!({"kind": "Model", "namespace": "seldon", "name": "irisa0", "apiVersion": "mlops.seldon.io/v1alpha1"})
    );
    assert!(close(value_of(item), 8.0, 0.05), "{item}");
    let body = adapter
        .get_ok(&format!("{V2}/namespaces/seldon/models.mlops.seldon.io/irisa0/infer_rps?metricLabelSelector=method_type%3Drest"))
        .await;
    assert!(close(value_of(&body["items"][0]), 6.0, 0.05), "{body}");
    let body = adapter
        .get_ok(&format!("{V2}/namespaces/seldon/metrics/infer_rps"))
        .await;
    assert_eq!(body["items"][0]["describedObject"]["kind"], "Namespace");
    assert!(close(value_of(&body["items"][0]), 8.0, 0.05), "{body}");

    // A CRD installed after the adapter started, with a series: the resource is found through
    // a discovery refresh on the miss, and the metric through an on-miss listing.
    cluster.add_resource(ResourceType::custom(
        "serving.kserve.io",
        "v1beta1",
        "inferenceservices",
        "InferenceService",
        true,
    ));
    exporter.set_gauge(
        "kserve_requests",
        &[
            ("namespace", "seldon"),
            ("inferenceservice", "sklearn-iris"),
        ],
        4.0,
    );
    prometheus
        .wait_for(
            "kserve_requests",
            |r| r.single_value() == Some(4.0),
            Duration::from_secs(30),
        )
        .await;
    let path = format!(
        "{V1}/namespaces/seldon/inferenceservices.serving.kserve.io/sklearn-iris/kserve_requests"
    );
    let body = get_until_ok(&adapter, &path, Duration::from_secs(30)).await;
    assert_eq!(body["items"][0]["value"], "4");
    assert_eq!(
        body["items"][0]["describedObject"]["apiVersion"],
        "serving.kserve.io/v1beta1"
    );
    assert_eq!(
        body["items"][0]["describedObject"]["kind"],
        "InferenceService"
    );

    // A metric whose first series appears now, long before the next relist (10 minutes): the
    // first request for it already answers.
    exporter.set_gauge(
        "late_queue_length",
        &[("namespace", "seldon"), ("pod", "mlserver-0")],
        9.0,
    );
    prometheus
        .wait_for(
            "late_queue_length",
            |r| r.single_value() == Some(9.0),
            Duration::from_secs(30),
        )
        .await;
    let (status, body) = adapter
        .get(&format!(
            "{V1}/namespaces/seldon/pods/mlserver-0/late_queue_length"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}\n{}", adapter.log_tail(30));
    assert_eq!(body["items"][0]["value"], "9");
    let doc = adapter.get_ok(V2).await;
    assert!(doc.to_string().contains("pods/late_queue_length"), "{doc}");
}

/// The value the adapter answers for a request and what Prometheus answers for the query
/// prometheus-adapter would send, rendered by the rules engine from the same file.
struct Case {
    file: &'static str,
    rule: usize,
    series: &'static str,
    resource: &'static str,
    namespace: Option<&'static str>,
    names: &'static [&'static str],
    metric: &'static str,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_rules_files_answer_what_prometheus_answers() {
    if without_reference("this test") {
        return;
    }
    let world = World::start(
        |cluster, exporter| {
            cluster.apply(kube::namespace("web"));
            for pod in ["web-0", "web-1"] {
                cluster.apply(kube::pod("web", pod, &[("app", "web")], "Running", true));
            }
            cluster.apply(kube::deployment("web", "frontend", 2, &[("app", "web")]));
            for (pod, rate) in [("web-0", 4.0), ("web-1", 2.0)] {
                exporter.set_counter_rate(
                    "container_cpu_usage_seconds_total",
                    &[("namespace", "web"), ("pod", pod), ("container", "app")],
                    rate / 10.0,
                );
                exporter.set_counter_rate(
                    "http_requests_total",
                    &[
                        ("namespace", "web"),
                        ("pod", pod),
                        ("kubernetes_namespace", "web"),
                        ("kubernetes_pod_name", pod),
                    ],
                    rate,
                );
                exporter.set_gauge(
                    "queue_length",
                    &[("namespace", "web"), ("pod", pod)],
                    rate * 10.0,
                );
            }
            exporter.set_gauge(
                "kube_deployment_status_replicas",
                &[("namespace", "web"), ("deployment", "frontend")],
                2.0,
            );
        },
        "http_requests_total",
        2,
    )
    .await;
    let (cluster, prometheus) = (&world.cluster, &world.prometheus);
    prometheus
        .wait_for(
            "count(http_requests_total)",
            |r| r.single_value() == Some(2.0),
            Duration::from_secs(30),
        )
        .await;
    // Rates over a window that is still filling change slowly; wait for a couple of samples.
    prometheus
        .wait_for(
            "count(rate(http_requests_total[1m]) > 0)",
            |r| r.single_value() == Some(2.0),
            Duration::from_secs(30),
        )
        .await;

    let cases = [
        Case {
            file: "helm-chart-default-rules.yaml",
            rule: 0,
            series: "container_cpu_usage_seconds_total",
            resource: "pods",
            namespace: Some("web"),
            names: &["web-0", "web-1"],
            metric: "cpu_usage",
        },
        Case {
            file: "helm-chart-default-rules.yaml",
            rule: 3,
            series: "queue_length",
            resource: "pods",
            namespace: Some("web"),
            names: &["web-0", "web-1"],
            metric: "queue_length",
        },
        Case {
            file: "helm-chart-default-rules.yaml",
            rule: 3,
            series: "kube_deployment_status_replicas",
            resource: "deployments.apps",
            namespace: Some("web"),
            names: &["frontend"],
            metric: "kube_deployment_status_replicas",
        },
        Case {
            file: "helm-chart-default-rules.yaml",
            rule: 4,
            series: "http_requests_total",
            resource: "namespaces",
            namespace: None,
            names: &["web"],
            metric: "http_requests",
        },
        Case {
            file: "upstream-config-walkthrough.yaml",
            rule: 0,
            series: "http_requests_total",
            resource: "pods",
            namespace: Some("web"),
            names: &["web-0", "web-1"],
            metric: "http_requests_per_second",
        },
        Case {
            file: "upstream-walkthrough.yaml",
            rule: 0,
            series: "http_requests_total",
            resource: "pods",
            namespace: Some("web"),
            names: &["web-0", "web-1"],
            metric: "http_requests",
        },
    ];
    let catalog = ResourceCatalog::well_known();
    let mut adapters: Vec<(&str, Adapter)> = Vec::new();
    for case in &cases {
        let path = reference_path(case.file);
        if !adapters.iter().any(|(f, _)| *f == case.file) {
            let text = std::fs::read_to_string(&path).unwrap();
            let adapter = Adapter::builder(&text)
                .start(prometheus.base_url(), &cluster.kubeconfig())
                .await;
            adapters.push((case.file, adapter));
        }
        let adapter = &adapters.iter().find(|(f, _)| *f == case.file).unwrap().1;
        let rules = rules::load(std::path::Path::new(&path)).unwrap();
        let resource = catalog
            .resolve(&GroupResource::parse(case.resource))
            .unwrap();
        let names: Vec<String> = case.names.iter().map(|s| s.to_string()).collect();
        let everything = Selector::everything();
        let query = rules.custom[case.rule]
            .object_query(
                &catalog,
                &ObjectRequest {
                    series: case.series,
                    resource,
                    namespace: case.namespace,
                    names: &names,
                    metric_selector: &everything,
                    extra_group_by: &[],
                },
            )
            .unwrap();
        let ns_path = case
            .namespace
            .map(|ns| format!("/namespaces/{ns}"))
            .unwrap_or_default();
        let object = if case.names.len() > 1 {
            "%2A"
        } else {
            case.names[0]
        };
        let selector = if case.names.len() > 1 {
            "?labelSelector=app%3Dweb"
        } else {
            ""
        };
        let request = if case.resource == "namespaces" {
            format!("{V1}/namespaces/{object}/metrics/{}", case.metric)
        } else {
            format!(
                "{V1}{ns_path}/{}/{object}/{}{selector}",
                case.resource, case.metric
            )
        };
        let body = adapter.get_ok(&request).await;
        let expected = prometheus.query(&query.query).await;
        let items = body["items"].as_array().unwrap();
        assert_eq!(items.len(), case.names.len(), "{request}: {body}");
        for item in items {
            let name = item["describedObject"]["name"].as_str().unwrap();
            let want = expected
                .samples()
                .iter()
                .find(|s| s.label(&query.resource_label) == Some(name))
                .unwrap_or_else(|| panic!("{}: no sample for {name}", query.query))
                .value;
            // Within 5 %, or within the milli-unit the quantity is rounded to.
            let got = value_of(item);
            assert!(
                close(got, want, 0.05) || (got - want).abs() <= 0.001,
                "{request}: {item} vs {want} from {}",
                query.query
            );
        }
    }
}

/// Series of a small cluster, as OpenMetrics text with two samples each from `t0`: cAdvisor
/// series (with the pause container), application series with and without a pod, a metric
/// whose series name different resources (pods, nodes), deployments, and a node metric without
/// a namespace.
fn cluster_openmetrics(t0: u64) -> String {
    let series = [
        r#"container_cpu_usage_seconds_total{namespace="web",pod="web-0",container="app"}"#,
        r#"container_cpu_usage_seconds_total{namespace="web",pod="web-0",container="POD"}"#,
        r#"container_memory_working_set_bytes{namespace="web",pod="web-1",container="app",node="n1"}"#,
        r#"http_requests_total{namespace="web",pod="web-0",service="web",job="web"}"#,
        r#"http_requests_total{namespace="web",service="gateway",job="gateway"}"#,
        r#"process_cpu_seconds_total{namespace="web",pod="web-1",job="web"}"#,
        r#"queue_length{namespace="jobs",pod="worker-0"}"#,
        r#"queue_length{namespace="jobs",node="n2",zone="a"}"#,
        r#"kube_deployment_status_replicas{namespace="web",deployment="frontend"}"#,
        r#"kube_node_info{node="n1"}"#,
    ];
    let mut text = String::new();
    for s in series {
        for i in 0..2 {
            text += &format!("{s} {} {}\n", i + 1, t0 + i * 15);
        }
    }
    text + "# EOF\n"
}

/// Both discovery modes against a real Prometheus serving TSDB blocks written by `promtool tsdb
/// create-blocks-from openmetrics` (as the scale benchmark builds its data): with the Helm
/// chart's default rules, listing series and asking the label APIs find the same metrics,
/// resources and scopes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_discovery_modes_agree_on_blocks_written_by_promtool() {
    let Some(rules) = reference_text("helm-chart-default-rules.yaml", "this test") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let text = dir.path().join("series.om");
    std::fs::write(&text, cluster_openmetrics(now - 600)).unwrap();
    let blocks = dir.path().join("blocks");
    let output = std::process::Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&text)
        .arg(&blocks)
        .output()
        .expect("run promtool");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let prometheus = Prometheus::builder().blocks_from(&blocks).start().await;
    let cluster = KubeDouble::start().await;
    let mut documents = Vec::new();
    for mode in ["series", "labels"] {
        let adapter = Adapter::builder(&rules)
            .arg(format!("--discovery-mode={mode}"))
            .arg("--metrics-max-age=1h")
            .start(prometheus.base_url(), &cluster.kubeconfig())
            .await;
        let log = adapter.log_tail(1000);
        assert!(log.contains(&format!("mode=\"{mode}\"")), "{log}");
        documents.push(adapter.get_ok(V1).await);
    }
    assert_eq!(documents[0], documents[1]);
    let names: Vec<(&str, bool)> = documents[1]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap(),
                r["namespaced"].as_bool().unwrap(),
            )
        })
        .collect();
    for expected in [
        ("pods/cpu_usage", true),
        ("namespaces/memory_working_set_bytes", false),
        ("pods/http_requests", true),
        ("services/http_requests", true),
        ("pods/process_cpu", true),
        ("pods/queue_length", true),
        ("nodes/queue_length", false),
        ("namespaces/queue_length", false),
        ("deployments.apps/kube_deployment_status_replicas", true),
    ] {
        assert!(names.contains(&expected), "{expected:?} not in {names:#?}");
    }
    // The cAdvisor rules do not map `node`, and kube_node_info has no namespace.
    assert!(
        !names
            .iter()
            .any(|(n, _)| n.starts_with("nodes/memory") || n.contains("kube_node_info")),
        "{names:#?}"
    );
}

/// A plain HTTP front for `upstream` that holds every answer for `delay`, on every connection
/// (a TCP-level delay would only hold the first answer of a kept-alive connection).
async fn delaying_front(upstream: String, delay: Duration) -> String {
    use axum::body::{Body, Bytes};
    use axum::http::{HeaderMap, Method, Uri};
    use axum::response::Response;

    let http = reqwest::Client::new();
    let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let http = http.clone();
        let upstream = upstream.clone();
        async move {
            tokio::time::sleep(delay).await;
            let mut request = http.request(method, format!("{upstream}{uri}")).body(body);
            if let Some(ct) = headers.get("content-type") {
                request = request.header("content-type", ct);
            }
            let answer = request.send().await.expect("prometheus answers");
            let status = answer.status();
            let mut response = Response::new(Body::from(answer.bytes().await.unwrap()));
            *response.status_mut() = status;
            response
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, axum::Router::new().fallback(handler)).await;
    });
    format!("http://{address}")
}

/// Relist calls are bounded by `--prometheus-discovery-timeout`, queries by
/// `--prometheus-timeout`: behind a backend that takes 2 s per answer, a relist allowed 5 s
/// succeeds where a query allowed 1 s fails, and the other way round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_calls_have_their_own_timeout() {
    let world = World::asr(2.0, |_, _| {}).await;
    let slow = delaying_front(
        world.prometheus.base_url().to_string(),
        Duration::from_secs(2),
    )
    .await;
    let value =
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/speech/pods/asr-0/asr_active_requests";

    let adapter = world
        .adapter_at(
            Adapter::builder(crate::support::world::ASR_RULES)
                .arg("--prometheus-timeout=1s")
                .arg("--prometheus-discovery-timeout=5s")
                .arg("--metrics-on-miss-interval=0"),
            &slow,
        )
        .await;
    let doc = adapter.get_ok(V1).await;
    assert!(
        doc.to_string().contains("pods/asr_active_requests"),
        "{doc}"
    );
    let (status, body) = adapter.get(value).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(
        adapter.log_tail(100).contains("timed out after 1s"),
        "{}",
        adapter.log_tail(30)
    );
    drop(adapter);

    let adapter = world
        .adapter_at(
            Adapter::builder(crate::support::world::ASR_RULES)
                .arg("--prometheus-timeout=5s")
                .arg("--prometheus-discovery-timeout=1s")
                .arg("--metrics-on-miss-interval=0"),
            &slow,
        )
        .await;
    let doc = adapter.get_ok(V1).await;
    assert_eq!(doc["resources"], json!([]), "{doc}");
    let log = adapter.log_tail(100);
    assert!(
        log.contains("unable to update list of all metrics"),
        "{log}"
    );
    assert!(log.contains("timed out after 1s"), "{log}");
    // The listing that could name the metric failed: a failure, never "not found".
    let (status, body) = adapter.get(value).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
}
