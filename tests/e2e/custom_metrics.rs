//! custom.metrics.k8s.io end to end: the adapter binary, a real Prometheus scraping an exporter
//! the test controls, and the Kubernetes API double. Every route and error of both versions.
//! `victoria_metrics.rs` runs the same scenario against VictoriaMetrics.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::adapter::Adapter;
use crate::support::kube;
use crate::support::world::{ASR_RULES, World};

const BROKEN_RULE: &str = r#"- seriesQuery: 'broken_metric{namespace!="",pod!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      pod: {resource: pod}
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (
"#;

const V1: &str = "/apis/custom.metrics.k8s.io/v1beta1";
const V2: &str = "/apis/custom.metrics.k8s.io/v1beta2";

/// What `asr_world` waits for: `count(READY) == SERIES` on the backend.
pub const ASR_WORLD_READY: (&str, usize) = ("asr_active_requests or broken_metric", 4);

/// The world of the ASR tests: pods in `speech`, series for two of them (one per zone), a NaN
/// series in `other`, and a metric whose query Prometheus refuses.
pub async fn asr_world() -> World {
    World::start(
        |cluster, exporter| {
            for ns in ["speech", "other"] {
                cluster.apply(kube::namespace(ns));
            }
            for (name, app) in [
                ("asr-0", "asr"),
                ("asr-1", "asr"),
                ("asr-2", "asr"),
                ("db-0", "db"),
            ] {
                cluster.apply(kube::pod("speech", name, &[("app", app)], "Running", true));
            }
            cluster.apply(kube::pod(
                "other",
                "weird-0",
                &[("app", "asr")],
                "Running",
                true,
            ));
            let series = [
                ("speech", "asr-0", "a", 3.0),
                ("speech", "asr-1", "b", 7.5),
                ("other", "weird-0", "a", f64::NAN),
            ];
            for (ns, pod, zone, value) in series {
                exporter.set_gauge(
                    "asr_active_requests",
                    &[("namespace", ns), ("pod", pod), ("zone", zone)],
                    value,
                );
            }
            exporter.set_gauge(
                "broken_metric",
                &[("namespace", "speech"), ("pod", "asr-0")],
                1.0,
            );
        },
        ASR_WORLD_READY.0,
        ASR_WORLD_READY.1,
    )
    .await
}

fn items(body: &Value) -> &Vec<Value> {
    body["items"].as_array().expect("items is a list")
}

fn names_and_values(body: &Value) -> Vec<(String, String)> {
    items(body)
        .iter()
        .map(|i| {
            (
                i["describedObject"]["name"].as_str().unwrap().to_string(),
                i["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn assert_status(status: StatusCode, body: &Value, code: u16, reason: &str, message: &str) {
    assert_eq!(status.as_u16(), code, "{body}");
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["apiVersion"], "v1", "{body}");
    assert_eq!(body["status"], "Failure", "{body}");
    assert_eq!(body["reason"], reason, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["message"], message, "{body}");
}

fn is_k8s_time(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    s.len() == 20 && s.ends_with('Z') && s.parse::<jiff::Timestamp>().is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_and_namespace_metrics_in_both_versions() {
    let world = asr_world().await;
    pods_and_namespace_metrics(&world, world.prometheus.base_url(), "labels").await;
}

/// The custom metrics scenario against the backend at `backend_url` (scraping the world's
/// exporter), with `--discovery-mode=<mode>`.
pub async fn pods_and_namespace_metrics(world: &World, backend_url: &str, mode: &str) {
    let pod_lists = || {
        world
            .cluster
            .requests()
            .into_iter()
            .filter(|r| r.path == "/api/v1/pods" && !r.is_watch())
            .count()
    };
    let pod_lists_before = pod_lists();
    let adapter = world
        .adapter_at(
            Adapter::builder(&format!("{ASR_RULES}{BROKEN_RULE}"))
                .arg("--metrics-relist-interval=1m")
                .arg(format!("--discovery-mode={mode}")),
            backend_url,
        )
        .await;

    // Discovery: both versions list the same resources, scopes never mixed under one parent.
    for (version, gv) in [
        (V1, "custom.metrics.k8s.io/v1beta1"),
        (V2, "custom.metrics.k8s.io/v1beta2"),
    ] {
        let doc = adapter.get_ok(version).await;
        assert_eq!(doc["kind"], "APIResourceList");
        assert_eq!(doc["groupVersion"], gv);
        let resources: Vec<(String, bool)> = doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_string(),
                    r["namespaced"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            resources,
            [
                ("namespaces/asr_active_requests".to_string(), false),
                ("namespaces/broken_metric".to_string(), false),
                ("pods/asr_active_requests".to_string(), true),
                ("pods/broken_metric".to_string(), true),
            ]
        );
        assert_eq!(doc["resources"][0]["kind"], "MetricValueList");
        assert_eq!(doc["resources"][0]["verbs"], json!(["get"]));
        assert_eq!(doc["resources"][0]["singularName"], "");
    }
    let apis = adapter.get_ok("/apis").await;
    assert_eq!(apis["groups"][0]["name"], "custom.metrics.k8s.io");
    assert_eq!(apis["groups"][0]["preferredVersion"]["version"], "v1beta2");
    let group = adapter.get_ok("/apis/custom.metrics.k8s.io").await;
    assert_eq!(group["kind"], "APIGroup");

    // `*` with a label selector, as the HPA sends it (`%2A`, `+` for spaces): every pod with a
    // value, in name order; asr-2 has no series and is left out.
    let star = format!(
        "{V1}/namespaces/speech/pods/%2A/asr_active_requests?labelSelector=app+in+%28asr%29"
    );
    let body = adapter.get_ok(&star).await;
    assert_eq!(body["kind"], "MetricValueList");
    assert_eq!(body["apiVersion"], "custom.metrics.k8s.io/v1beta1");
    assert_eq!(body["metadata"], json!({}));
    assert_eq!(
        names_and_values(&body),
        pairs(&[("asr-0", "3"), ("asr-1", "7500m")])
    );
    let item = &items(&body)[0];
    assert_eq!(
        item["describedObject"],
        json!({"kind": "Pod", "namespace": "speech", "name": "asr-0", "apiVersion": "v1"})
    );
    assert_eq!(item["metricName"], "asr_active_requests");
    assert_eq!(item["selector"], Value::Null);
    assert!(is_k8s_time(&item["timestamp"]), "{item}");
    assert!(item.get("kind").is_none() && item.get("window").is_none());

    // v1beta2: the same values, `metric: {name, selector}`.
    let body = adapter
        .get_ok(&format!(
            "{V2}/namespaces/speech/pods/*/asr_active_requests?labelSelector=app%3Dasr"
        ))
        .await;
    assert_eq!(body["apiVersion"], "custom.metrics.k8s.io/v1beta2");
    assert_eq!(
        names_and_values(&body),
        pairs(&[("asr-0", "3"), ("asr-1", "7500m")])
    );
    assert_eq!(
        items(&body)[1]["metric"],
        json!({"name": "asr_active_requests", "selector": null})
    );
    assert!(items(&body)[1].get("metricName").is_none());

    // One object by name; singular resource names work as in upstream.
    for path in [
        format!("{V1}/namespaces/speech/pods/asr-1/asr_active_requests"),
        format!("{V2}/namespaces/speech/pod/asr-1/asr_active_requests"),
        format!(
            "{V1}/namespaces/speech/pods/%2A/asr_active_requests?fieldSelector=metadata.name%3Dasr-1"
        ),
    ] {
        let body = adapter.get_ok(&path).await;
        assert_eq!(
            names_and_values(&body),
            pairs(&[("asr-1", "7500m")]),
            "{path}"
        );
    }

    // The metric label selector restricts the series and is echoed back, `!=` included.
    let body = adapter
        .get_ok(&format!("{V1}/namespaces/speech/pods/*/asr_active_requests?labelSelector=app%3Dasr&metricLabelSelector=zone%3Da"))
        .await;
    assert_eq!(names_and_values(&body), pairs(&[("asr-0", "3")]));
    assert_eq!(
        items(&body)[0]["selector"],
        json!({"matchLabels": {"zone": "a"}})
    );
    let body = adapter
        .get_ok(&format!("{V2}/namespaces/speech/pods/*/asr_active_requests?labelSelector=app%3Dasr&metricLabelSelector=zone%21%3Da"))
        .await;
    assert_eq!(names_and_values(&body), pairs(&[("asr-1", "7500m")]));
    assert_eq!(
        items(&body)[0]["metric"]["selector"],
        json!({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]})
    );

    // The metric of a Namespace object, and of every Namespace matching a selector.
    let body = adapter
        .get_ok(&format!(
            "{V1}/namespaces/speech/metrics/asr_active_requests"
        ))
        .await;
    assert_eq!(names_and_values(&body), pairs(&[("speech", "10500m")]));
    assert_eq!(
        items(&body)[0]["describedObject"],
        json!({"kind": "Namespace", "name": "speech", "apiVersion": "v1"})
    );
    let body = adapter
        .get_ok(&format!("{V2}/namespaces/%2A/metrics/asr_active_requests?labelSelector=kubernetes.io%2Fmetadata.name+in+%28speech%2Cother%29"))
        .await;
    // `other` only has a NaN sample, which no client can read: it is left out.
    assert_eq!(names_and_values(&body), pairs(&[("speech", "10500m")]));
    let (status, body) = adapter
        .get(&format!(
            "{V1}/namespaces/other/pods/weird-0/asr_active_requests"
        ))
        .await;
    assert_status(
        status,
        &body,
        404,
        "NotFound",
        "the server could not find the metric asr_active_requests for pods weird-0",
    );

    // Pretty output on request.
    let response = adapter
        .client()
        .get(format!(
            "{}{V1}/namespaces/speech/pods/asr-0/asr_active_requests?pretty=true",
            adapter.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(
        response
            .text()
            .await
            .unwrap()
            .starts_with("{\n  \"kind\": \"MetricValueList\",\n")
    );

    // Errors, with the Status bodies of the Kubernetes API.
    let cases: Vec<(String, u16, &str, &str)> = vec![
        (
            format!("{V1}/namespaces/speech/pods/*/nonexistent_metric"),
            404,
            "NotFound",
            "the server could not find the metric nonexistent_metric for pods",
        ),
        (
            format!("{V2}/namespaces/speech/pod/*/nonexistent_metric"),
            404,
            "NotFound",
            "the server could not find the metric nonexistent_metric for pod",
        ),
        (
            format!("{V1}/namespaces/speech/pods/db-0/asr_active_requests"),
            404,
            "NotFound",
            "the server could not find the metric asr_active_requests for pods db-0",
        ),
        (
            format!("{V1}/pods/%2A/asr_active_requests"),
            404,
            "NotFound",
            "the server could not find the metric asr_active_requests for pods",
        ),
        (
            format!(
                "{V1}/namespaces/speech/pods/*/asr_active_requests?labelSelector=app%3Dnothing"
            ),
            404,
            "NotFound",
            "the server could not find the metric asr_active_requests for pods",
        ),
        (
            format!("{V1}/namespaces/speech/nosuchthings/x/asr_active_requests"),
            404,
            "NotFound",
            "the server could not find the metric asr_active_requests for nosuchthings",
        ),
        (
            format!(
                "{V1}/namespaces/speech/pods/*/asr_active_requests?metricLabelSelector=zone%3E1"
            ),
            404,
            "NotFound",
            "the server could not find the metric asr_active_requests for pods",
        ),
        (
            format!("{V1}/namespaces/speech/pods/asr-0/broken_metric"),
            500,
            "InternalError",
            "Internal error occurred: unable to fetch metrics",
        ),
        (
            format!("{V1}/namespaces/speech/asr_active_requests"),
            400,
            "BadRequest",
            "invalid request path",
        ),
        (
            format!("{V1}/namespaces/speech/pods/*/asr_active_requests?labelSelector=%3D%3D"),
            400,
            "BadRequest",
            "unable to parse labelSelector: found '==' at offset 0, expected: !, identifier, or 'end of string'",
        ),
        (
            format!(
                "{V1}/namespaces/speech/pods/asr-0/asr_active_requests?fieldSelector=metadata.name%3Dasr-1"
            ),
            400,
            "BadRequest",
            "fieldSelector metadata.name doesn't match requested name",
        ),
        (
            format!("{V1}/namespaces/speech/pods/asr-0"),
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
        (
            "/apis/external.metrics.k8s.io/v1beta1".to_string(),
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
    ];
    for (path, code, reason, message) in cases {
        let (status, body) = adapter.get(&path).await;
        assert_status(status, &body, code, reason, message);
        if code == 500 {
            assert_eq!(
                body["details"],
                json!({"causes": [{"message": "unable to fetch metrics"}]})
            );
            assert!(
                !body.to_string().contains("broken_metric{"),
                "PromQL leaked: {body}"
            );
        }
    }
    let (status, body) = adapter
        .get(&format!(
            "{V1}/namespaces/speech/pods/*/asr_active_requests?metricLabelSelector=%21%21"
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let response = adapter
        .client()
        .post(format!(
            "{}{V1}/namespaces/speech/pods/asr-0/asr_active_requests",
            adapter.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);

    // The PromQL and Prometheus' error went to the log instead.
    assert!(
        adapter.log_tail(200).contains("prometheus query failed"),
        "{}",
        adapter.log_tail(50)
    );

    // Discovery ran in the mode asked for: the backend's label API was not refused.
    let log = adapter.log_tail(1000);
    assert!(log.contains(&format!("mode=\"{mode}\"")), "{log}");

    // `*` requests are answered from the watch cache: one LIST and one WATCH of pods, however
    // many requests were made.
    assert_eq!(
        pod_lists() - pod_lists_before,
        1,
        "{:#?}",
        world.cluster.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_raw_through_a_kubeconfig_pointing_at_the_adapter() {
    let world = asr_world().await;
    let adapter = world
        .adapter(Adapter::builder(&format!("{ASR_RULES}{BROKEN_RULE}")))
        .await;
    let output = adapter.kubectl(&["get", "--raw", V1]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["groupVersion"], "custom.metrics.k8s.io/v1beta1");
    let output = adapter
        .kubectl(&[
            "get",
            "--raw",
            &format!("{V2}/namespaces/speech/pods/*/asr_active_requests?labelSelector=app%3Dasr"),
        ])
        .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let body: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        names_and_values(&body),
        pairs(&[("asr-0", "3"), ("asr-1", "7500m")])
    );
    let output = adapter
        .kubectl(&[
            "get",
            "--raw",
            &format!("{V1}/namespaces/speech/pods/*/nonexistent"),
        ])
        .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the server could not find the metric nonexistent for pods"),
        "{stderr}"
    );
}
