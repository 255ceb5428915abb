//! The I/O layer against a tiny metrics server returning canned answers: the requests the
//! simulator makes, and the replica counts it computes from what it reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::*;

/// One request the canned server received.
#[derive(Debug, Clone)]
struct Seen {
    path_and_query: String,
    accept: String,
    authorization: String,
}

#[derive(Default)]
struct Canned {
    /// Answers by raw request path (query ignored): status code and body.
    answers: HashMap<String, (u16, String)>,
    seen: Mutex<Vec<Seen>>,
}

async fn answer(
    State(canned): State<Arc<Canned>>,
    uri: Uri,
    headers: HeaderMap,
) -> impl IntoResponse {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let seen = Seen {
        path_and_query: uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        accept: header(header::ACCEPT),
        authorization: header(header::AUTHORIZATION),
    };
    canned.seen.lock().unwrap().push(seen);
    let (code, body) = canned.answers.get(uri.path()).cloned().unwrap_or_else(|| {
        (
            404,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                   "message":"the server could not find the requested resource","reason":"NotFound","code":404})
            .to_string(),
        )
    });
    (
        StatusCode::from_u16(code).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
}

/// A metrics server on a free loopback port answering `answers` (path, code, body); returns
/// its base URL and what it has seen.
async fn serve(answers: Vec<(&str, u16, String)>) -> (String, Arc<Canned>) {
    let canned = Arc::new(Canned {
        answers: answers
            .into_iter()
            .map(|(p, c, b)| (p.to_owned(), (c, b)))
            .collect(),
        seen: Mutex::default(),
    });
    let app = Router::new().fallback(answer).with_state(canned.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, canned)
}

/// The same server over TLS with a fresh self-signed certificate, as the adapter serves.
async fn serve_tls(answers: Vec<(&str, u16, String)>) -> (String, Arc<Canned>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let canned = Arc::new(Canned {
        answers: answers
            .into_iter()
            .map(|(p, c, b)| (p.to_owned(), (c, b)))
            .collect(),
        seen: Mutex::default(),
    });
    let app = Router::new().fallback(answer).with_state(canned.clone());
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
            });
        }
    });
    (base, canned)
}

fn t(text: &str) -> Timestamp {
    text.parse().unwrap()
}

const NOW: &str = "2026-05-01T10:00:00Z";

fn hpa(yaml: &str) -> HorizontalPodAutoscaler {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// A running, ready pod of `app` in `prod`, started an hour before NOW, with one container
/// requesting `cpu`.
fn pod(name: &str, app: &str, cpu: &str) -> Pod {
    serde_saphyr::from_str(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: prod, labels: {{app: {app}}}}}
spec:
  containers:
    - {{name: app, image: web, resources: {{requests: {{cpu: "{cpu}"}}}}}}
status:
  phase: Running
  startTime: "2026-05-01T09:00:00Z"
  conditions:
    - {{type: Ready, status: "True", lastTransitionTime: "2026-05-01T09:00:30Z"}}
"#
    ))
    .unwrap()
}

fn cluster(replicas: i32, pods: usize) -> InMemoryCluster {
    let mut c = InMemoryCluster::new(replicas, "app=web");
    c.pods = (0..pods)
        .map(|i| pod(&format!("web-{i}"), "web", "200m"))
        .collect();
    c
}

fn apis(preferred: &str) -> String {
    json!({"kind":"APIGroupList","apiVersion":"v1","groups":[
        {"name":"custom.metrics.k8s.io",
         "versions":[{"groupVersion":"custom.metrics.k8s.io/v1beta2","version":"v1beta2"},
                     {"groupVersion":"custom.metrics.k8s.io/v1beta1","version":"v1beta1"}],
         "preferredVersion":{"groupVersion":format!("custom.metrics.k8s.io/{preferred}"),"version":preferred}}]})
    .to_string()
}

/// A v1beta2 `MetricValueList` of `(kind, name, value)`.
fn custom_v1beta2(items: &[(&str, &str, &str)]) -> String {
    let items: Vec<_> = items
        .iter()
        .map(|(kind, name, value)| {
            json!({
            "describedObject":{"kind":kind,"namespace":"prod","name":name,"apiVersion":"v1"},
            "metric":{"name":"m","selector":null},"timestamp":NOW,"value":value})
        })
        .collect();
    json!({"kind":"MetricValueList","apiVersion":"custom.metrics.k8s.io/v1beta2","metadata":{},"items":items})
        .to_string()
}

/// A v1beta1 `MetricValueList` of `(kind, name, value)`.
fn custom_v1beta1(items: &[(&str, &str, &str)]) -> String {
    let items: Vec<_> = items
        .iter()
        .map(|(kind, name, value)| {
            json!({
            "describedObject":{"kind":kind,"namespace":"prod","name":name,"apiVersion":"/v1"},
            "metricName":"m","timestamp":NOW,"value":value,"selector":null})
        })
        .collect();
    json!({"kind":"MetricValueList","apiVersion":"custom.metrics.k8s.io/v1beta1","metadata":{},"items":items})
        .to_string()
}

fn external(values: &[&str]) -> String {
    let items: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"metricName":"q","metricLabels":{"shard":i.to_string()},"timestamp":NOW,"value":v}))
        .collect();
    json!({"kind":"ExternalMetricValueList","apiVersion":"external.metrics.k8s.io/v1beta1","metadata":{},"items":items})
        .to_string()
}

/// A `PodMetricsList` with one `app` container per pod using `cpu`.
fn pod_metrics(cpu: &[(&str, &str)]) -> String {
    let items: Vec<_> = cpu
        .iter()
        .map(|(name, cpu)| {
            json!({
            "metadata":{"name":name,"namespace":"prod"},"timestamp":NOW,"window":"1m0s",
            "containers":[{"name":"app","usage":{"cpu":cpu,"memory":"35840Ki"}}]})
        })
        .collect();
    json!({"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":items})
        .to_string()
}

const PODS_HPA: &str = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: prod}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 10
  metrics:
    - type: Pods
      pods:
        metric:
          name: http_requests
          selector: {matchLabels: {verb: GET}}
        target: {type: AverageValue, averageValue: 500m}
"#;

const PODS_PATH: &str =
    "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/%2A/http_requests";

#[tokio::test]
async fn a_pods_metric_makes_the_controllers_requests_and_scales_on_the_average() {
    let values = custom_v1beta2(&[
        ("Pod", "web-0", "1"),
        ("Pod", "web-1", "1500m"),
        ("Pod", "web-2", "500m"),
    ]);
    let (base, canned) = serve_tls(vec![
        ("/apis", 200, apis("v1beta2")),
        (PODS_PATH, 200, values),
    ])
    .await;
    let mut c = cluster(3, 3);
    // A pod of another app is not the target's.
    c.pods.push(pod("other-0", "other", "200m"));
    let mut sim = HpaSimulator::new(&base).unwrap();
    let outcome = sim.sync(&hpa(PODS_HPA), &c, t(NOW)).await.unwrap();

    let request = format!("{PODS_PATH}?labelSelector=app%3Dweb&metricLabelSelector=verb%3DGET");
    assert_eq!(outcome.requests, vec!["/apis".to_owned(), request.clone()]);
    let seen = canned.seen.lock().unwrap().clone();
    assert_eq!(seen[1].path_and_query, request, "sent as written");
    assert_eq!(seen[1].accept, "application/vnd.kubernetes.protobuf, */*");
    let metric = &outcome.metrics[0];
    assert_eq!(metric.description, "pods metric http_requests");
    assert_eq!(metric.requests, vec![request]);
    assert_eq!(
        metric.values,
        vec![
            ("web-0".to_owned(), 1000),
            ("web-1".to_owned(), 1500),
            ("web-2".to_owned(), 500)
        ]
    );
    // avg = 3000/3 = 1000m against 500m: ratio 2, ceil(2 × 3) = 6, within max(2 × 3, 4) = 6.
    assert_eq!(
        metric
            .result
            .as_ref()
            .map(|p| (p.replicas, p.current_milli)),
        Ok((6, 1000))
    );
    assert_eq!(outcome.metric_replicas, Some(6));
    assert_eq!(outcome.desired_replicas, 6);
    assert_eq!(
        (outcome.reason.as_str(), outcome.limit),
        ("ValidMetricFound", Some("DesiredWithinRange"))
    );
    assert_eq!(outcome.error, None);
}

const MIXED_HPA: &str = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: prod}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 20
  metrics:
    - type: Object
      object:
        describedObject: {apiVersion: apps/v1, kind: Deployment, name: web}
        metric: {name: requests_per_second}
        target: {type: Value, value: 4}
    - type: Object
      object:
        describedObject: {apiVersion: v1, kind: Namespace, name: ignored}
        metric: {name: queue_length}
        target: {type: AverageValue, averageValue: 5}
    - type: External
      external:
        metric:
          name: redis_queue_depth
          selector: {matchLabels: {queue_name: stt-queue}}
        target: {type: AverageValue, averageValue: 5}
    - type: Resource
      resource:
        name: cpu
        target: {type: Utilization, averageUtilization: 50}
"#;

#[tokio::test]
async fn every_metric_type_is_asked_where_the_controller_asks_and_the_max_wins() {
    let v1 = "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod";
    let object = format!("{v1}/deployments.apps/web/requests_per_second");
    let namespace = format!("{v1}/metrics/queue_length");
    let external_path = "/apis/external.metrics.k8s.io/v1beta1/namespaces/prod/redis_queue_depth";
    let resource = "/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods";
    let usage: Vec<_> = (0..4).map(|i| (format!("web-{i}"), "100m")).collect();
    let usage: Vec<_> = usage.iter().map(|(n, c)| (n.as_str(), *c)).collect();
    let (base, canned) = serve(vec![
        (
            object.as_str(),
            200,
            custom_v1beta1(&[("Deployment", "web", "8")]),
        ),
        (
            namespace.as_str(),
            200,
            custom_v1beta1(&[("Namespace", "prod", "10")]),
        ),
        (external_path, 200, external(&["30", "15"])),
        (resource, 200, pod_metrics(&usage)),
    ])
    .await;
    let config = ControllerConfig {
        custom_metrics_version: Some(CustomMetricsVersion::V1Beta1),
        bearer_token: Some("t0k3n".into()),
        ..ControllerConfig::default()
    };
    let mut sim = HpaSimulator::with_config(&base, config).unwrap();
    let outcome = sim
        .sync(&hpa(MIXED_HPA), &cluster(4, 4), t(NOW))
        .await
        .unwrap();

    assert_eq!(
        outcome.requests,
        vec![
            object.clone(),
            namespace.clone(),
            format!("{external_path}?labelSelector=queue_name%3Dstt-queue"),
            format!("{resource}?labelSelector=app%3Dweb"),
        ]
    );
    assert!(
        canned
            .seen
            .lock()
            .unwrap()
            .iter()
            .all(|s| s.authorization == "Bearer t0k3n")
    );
    let proposals: Vec<_> = outcome
        .metrics
        .iter()
        .map(|m| (m.description.as_str(), m.result.clone().map(|p| p.replicas)))
        .collect();
    assert_eq!(
        proposals,
        vec![
            // 8/4 = 2 (Value): ceil(2 × 4 ready pods) = 8.
            ("Deployment metric requests_per_second", Ok(8)),
            // 10/(5 × 4) = 0.5 (AverageValue): ceil(10/5) = 2.
            ("Namespace metric queue_length", Ok(2)),
            // 30 + 15 = 45; 45/(5 × 4) = 2.25: ceil(45/5) = 9.
            ("external metric redis_queue_depth", Ok(9)),
            // 4 × 100m used of 4 × 200m requested = 50 %: on target, keep 4.
            ("cpu resource utilization (percentage of request)", Ok(4)),
        ]
    );
    assert_eq!(
        outcome.metrics[2].values,
        vec![
            ("shard=0".to_owned(), 30_000),
            ("shard=1".to_owned(), 15_000)
        ]
    );
    assert_eq!(
        outcome.metrics[3].result.as_ref().map(|p| p.utilization),
        Ok(Some(50))
    );
    // The max, 9, is capped by the legacy scale-up limit max(2 × 4, 4) = 8.
    assert_eq!(outcome.metric_replicas, Some(9));
    assert_eq!(
        (outcome.desired_replicas, outcome.limit),
        (8, Some("ScaleUpLimit"))
    );
}

const TWO_METRICS_HPA: &str = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: prod}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 10
  metrics:
    - type: Pods
      pods:
        metric: {name: unknown_metric}
        target: {type: AverageValue, averageValue: 1}
    - type: External
      external:
        metric: {name: queueDepth}
        target: {type: Value, value: 10}
"#;

#[tokio::test]
async fn an_invalid_metric_blocks_a_scale_down_but_not_a_scale_up() {
    let missing = json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
        "message":"the server could not find the metric unknown_metric for pods","reason":"NotFound","code":404})
    .to_string();
    let pods_path = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/%2A/unknown_metric";
    // client-go lowercases the external metric name.
    let external_path = "/apis/external.metrics.k8s.io/v1beta1/namespaces/prod/queuedepth";
    let run = |queue: &'static str| {
        let missing = missing.clone();
        async move {
            let (base, _) = serve(vec![
                ("/apis", 200, apis("v1beta2")),
                (pods_path, 404, missing),
                (external_path, 200, external(&[queue])),
            ])
            .await;
            let mut sim = HpaSimulator::new(&base).unwrap();
            sim.sync(&hpa(TWO_METRICS_HPA), &cluster(4, 4), t(NOW))
                .await
                .unwrap()
        }
    };

    // Queue 60 against 10: ratio 6, ceil(6 × 4) = 24, capped at max(2 × 4, 4) = 8.
    let up = run("60").await;
    assert_eq!(
        (up.desired_replicas, up.reason.as_str()),
        (8, "ValidMetricFound")
    );
    assert_eq!(
        up.error.as_deref(),
        Some(
            "invalid metrics (1 invalid out of 2), first error is: failed to get pods metric value: \
             unable to get metric unknown_metric: unable to fetch metrics from custom metrics API: \
             the server could not find the metric unknown_metric for pods"
        )
    );
    assert_eq!(up.metrics[1].requests, vec![external_path.to_owned()]);

    // Queue 5 against 10: ratio 0.5 would scale down to 2, but a metric is invalid: no change.
    let down = run("5").await;
    assert_eq!(down.metrics[1].result.as_ref().map(|p| p.replicas), Ok(2));
    assert_eq!(down.metric_replicas, None);
    assert_eq!(
        (down.desired_replicas, down.reason.as_str()),
        (4, "FailedGetPodsMetric")
    );
    assert!(
        down.error
            .unwrap()
            .starts_with("invalid metrics (1 invalid out of 2)")
    );
}

#[tokio::test]
async fn empty_and_ambiguous_answers_are_invalid_metrics() {
    let hpa_yaml = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: prod}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 10
  metrics:
    - type: Pods
      pods:
        metric: {name: http_requests}
        target: {type: AverageValue, averageValue: 1}
    - type: Object
      object:
        describedObject: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: main}
        metric: {name: hits}
        target: {type: Value, value: 1}
"#;
    let v2 = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod";
    let pods_path = format!("{v2}/pods/%2A/http_requests");
    let object_path = format!("{v2}/ingresses.networking.k8s.io/main/hits");
    let (base, _) = serve(vec![
        ("/apis", 200, apis("v1beta2")),
        (pods_path.as_str(), 200, custom_v1beta2(&[])),
        (
            object_path.as_str(),
            200,
            custom_v1beta2(&[("Ingress", "main", "1"), ("Ingress", "main", "2")]),
        ),
    ])
    .await;
    let mut sim = HpaSimulator::new(&base).unwrap();
    let outcome = sim
        .sync(&hpa(hpa_yaml), &cluster(3, 3), t(NOW))
        .await
        .unwrap();
    let errors: Vec<_> = outcome
        .metrics
        .iter()
        .map(|m| m.result.clone().unwrap_err())
        .collect();
    assert!(errors[0].ends_with(
        "unable to get metric http_requests: no metrics returned from custom metrics API"
    ));
    assert!(errors[1].ends_with("returned 2 results when we asked for exactly one"));
    assert_eq!(outcome.metrics[1].requests, vec![object_path]);
    assert_eq!(
        (outcome.desired_replicas, outcome.metric_replicas),
        (3, None)
    );
    assert_eq!(outcome.reason, "FailedGetPodsMetric");
}

#[tokio::test]
async fn replica_bounds_are_enforced_before_any_metric_is_read() {
    let (base, canned) = serve(vec![]).await;
    let mut sim = HpaSimulator::new(&base).unwrap();
    let pods_hpa = hpa(PODS_HPA);
    // Scaled to zero by hand with minReplicas 1: autoscaling is off.
    let off = sim.sync(&pods_hpa, &cluster(0, 0), t(NOW)).await.unwrap();
    assert_eq!(
        (off.desired_replicas, off.reason.as_str()),
        (0, "ScalingDisabled")
    );
    // Above maxReplicas 10: back to 10; below minReplicas: up to it.
    let above = sim.sync(&pods_hpa, &cluster(12, 12), t(NOW)).await.unwrap();
    assert_eq!(
        (above.desired_replicas, above.reason.as_str()),
        (10, "TooManyReplicas")
    );
    let mut min2 = pods_hpa.clone();
    min2.spec.min_replicas = Some(2);
    let below = sim.sync(&min2, &cluster(1, 1), t(NOW)).await.unwrap();
    assert_eq!(
        (below.desired_replicas, below.reason.as_str()),
        (2, "TooFewReplicas")
    );
    assert!(canned.seen.lock().unwrap().is_empty(), "no metric was read");
    // A target without a selector cannot be autoscaled.
    let no_selector = sim
        .sync(&pods_hpa, &InMemoryCluster::new(3, ""), t(NOW))
        .await
        .unwrap();
    assert_eq!(
        (no_selector.desired_replicas, no_selector.reason.as_str()),
        (3, "InvalidSelector")
    );
}

#[tokio::test]
async fn a_scale_down_waits_for_the_five_minute_stabilization_window() {
    // Four pods at 100m against 1: ratio 0.1, ceil(0.1 × 4) = 1.
    let values = custom_v1beta2(&[
        ("Pod", "web-0", "100m"),
        ("Pod", "web-1", "100m"),
        ("Pod", "web-2", "100m"),
        ("Pod", "web-3", "100m"),
    ]);
    let (base, _) = serve(vec![
        ("/apis", 200, apis("v1beta2")),
        (PODS_PATH, 200, values),
    ])
    .await;
    let mut hpa = hpa(PODS_HPA);
    if let Some(pods) = hpa.spec.metrics.as_mut().and_then(|m| m[0].pods.as_mut()) {
        pods.target.average_value = Some(k8s_openapi::apimachinery::pkg::api::resource::Quantity(
            "1".into(),
        ));
    }
    let c = cluster(4, 4);
    let mut sim = HpaSimulator::new(&base).unwrap();
    let t0 = t(NOW);

    // The first sync remembers the current 4: the proposal of 1 is held.
    let first = sim.sync(&hpa, &c, t0).await.unwrap();
    assert_eq!(
        (first.metric_replicas, first.desired_replicas),
        (Some(1), 4)
    );
    // Ten seconds later: still held, and discovery is still cached.
    let cached = sim
        .sync(&hpa, &c, t0 + SignedDuration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(cached.desired_replicas, 4);
    assert!(!cached.requests.contains(&"/apis".to_owned()));
    // Four minutes in: the 4 is still within the window (and discovery is re-read).
    let held = sim
        .sync(&hpa, &c, t0 + SignedDuration::from_mins(4))
        .await
        .unwrap();
    assert_eq!(held.desired_replicas, 4);
    assert_eq!(held.requests[0], "/apis");
    // Just over five minutes: only recommendations of 1 remain.
    let dropped = sim
        .sync(&hpa, &c, t0 + SignedDuration::from_secs(301))
        .await
        .unwrap();
    assert_eq!(dropped.desired_replicas, 1);
}

#[tokio::test]
async fn behavior_policies_limit_each_period_using_the_recorded_scale_events() {
    let yaml = format!(
        "{PODS_HPA}  behavior:\n    scaleUp:\n      stabilizationWindowSeconds: 0\n      policies: [{{type: Pods, value: 1, periodSeconds: 60}}]\n"
    );
    let hpa = hpa(&yaml);
    // Two pods at 5 against 500m: ratio 10, ceil(10 × 2) = 20, capped at maxReplicas 10 later.
    let values = custom_v1beta2(&[("Pod", "web-0", "5"), ("Pod", "web-1", "5")]);
    let (base, _) = serve(vec![
        ("/apis", 200, apis("v1beta2")),
        (PODS_PATH, 200, values),
    ])
    .await;
    let mut sim = HpaSimulator::new(&base).unwrap();
    let mut c = cluster(2, 2);
    let t0 = t(NOW);

    // One pod per 60 s: 2 → 3.
    let first = sim.sync(&hpa, &c, t0).await.unwrap();
    assert_eq!(
        (first.desired_replicas, first.limit),
        (3, Some("ScaleUpLimit"))
    );
    c.set_replicas(3);
    // 30 s later the +1 is still inside the period: the period started at 2, so 3 stays.
    let second = sim
        .sync(&hpa, &c, t0 + SignedDuration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(second.desired_replicas, 3);
    // 61 s after the first scale it has left the period: 3 → 4.
    let third = sim
        .sync(&hpa, &c, t0 + SignedDuration::from_secs(61))
        .await
        .unwrap();
    assert_eq!(third.desired_replicas, 4);
}

#[tokio::test]
async fn an_hpa_without_metrics_targets_80_percent_cpu() {
    let yaml = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: prod}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 10
"#;
    let resource = "/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods";
    let run = |cpu: &'static str| async move {
        let (base, _) = serve(vec![(
            resource,
            200,
            pod_metrics(&[("web-0", cpu), ("web-1", cpu)]),
        )])
        .await;
        let mut sim = HpaSimulator::new(&base).unwrap();
        sim.sync(&hpa(yaml), &cluster(2, 2), t(NOW)).await.unwrap()
    };
    // 2 × 160m of 2 × 200m = 80 %: on target, keep 2.
    let on_target = run("160m").await;
    assert_eq!(
        on_target.metrics[0].description,
        "cpu resource utilization (percentage of request)"
    );
    assert_eq!(on_target.desired_replicas, 2);
    // 320m of 200m = 160 %: ratio 2, ceil(2 × 2) = 4.
    let hot = run("320m").await;
    assert_eq!(
        hot.metrics[0].result.as_ref().map(|p| p.utilization),
        Ok(Some(160))
    );
    assert_eq!(hot.desired_replicas, 4);
}

#[tokio::test]
async fn the_in_memory_cluster_lists_pods_like_a_pod_lister() {
    let mut c = InMemoryCluster::new(2, "app=web");
    c.pods = vec![pod("a", "web", "1"), pod("b", "other", "1")];
    let mut elsewhere = pod("c", "web", "1");
    elsewhere.metadata.namespace = Some("dev".into());
    c.pods.push(elsewhere);
    let names = |pods: Vec<Pod>| {
        pods.into_iter()
            .filter_map(|p| p.metadata.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(c.pods("prod", "app=web").await.unwrap()), vec!["a"]);
    assert_eq!(
        names(c.pods("prod", "app in (web,other)").await.unwrap()),
        vec!["a", "b"]
    );
    assert!(c.pods("prod", "app in (").await.is_err());
    let target = CrossVersionObjectReference::default();
    c.set_replicas(5);
    let scale = c.scale("prod", &target).await.unwrap();
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(5));
    assert_eq!(scale.status.map(|s| s.replicas), Some(5));
}

#[test]
fn resources_are_guessed_like_the_rest_mapper() {
    let guess = |v, k| resource_of(v, k);
    assert_eq!(guess("apps/v1", "Deployment"), "deployments.apps");
    assert_eq!(guess("v1", "Service"), "services");
    assert_eq!(
        guess("networking.k8s.io/v1", "Ingress"),
        "ingresses.networking.k8s.io"
    );
    assert_eq!(
        guess("networking.k8s.io/v1", "NetworkPolicy"),
        "networkpolicies.networking.k8s.io"
    );
    assert_eq!(
        guess("mlops.seldon.io/v1alpha1", "Model"),
        "models.mlops.seldon.io"
    );
    assert_eq!(guess("v1", "Endpoints"), "endpoints");
    assert!(guess_resource("v1", "").is_err());
}

fn resource_of(api_version: &str, kind: &str) -> String {
    InMemoryCluster::default()
        .resource_for_kind(api_version, kind)
        .unwrap()
}

#[tokio::test]
async fn the_pod_selector_is_sent_as_apimachinery_prints_it() {
    let values = custom_v1beta2(&[("Pod", "web-0", "500m")]);
    let (base, _) = serve(vec![
        ("/apis", 200, apis("v1beta2")),
        (PODS_PATH, 200, values),
    ])
    .await;
    let mut c = InMemoryCluster::new(1, " app in ( web , other ) ");
    c.pods = vec![pod("web-0", "web", "200m")];
    let mut sim = HpaSimulator::new(&base).unwrap();
    let outcome = sim.sync(&hpa(PODS_HPA), &c, t(NOW)).await.unwrap();
    assert_eq!(
        outcome.metrics[0].requests,
        vec![format!(
            "{PODS_PATH}?labelSelector=app+in+%28other%2Cweb%29&metricLabelSelector=verb%3DGET"
        )]
    );
    // 500m against 500m: on target, keep 1.
    assert_eq!(outcome.desired_replicas, 1);
}

#[tokio::test]
async fn an_hpas_own_tolerance_replaces_the_controllers() {
    // Two pods at 700m against 500m: ratio 1.4.
    let values = custom_v1beta2(&[("Pod", "web-0", "700m"), ("Pod", "web-1", "700m")]);
    let (base, _) = serve(vec![
        ("/apis", 200, apis("v1beta2")),
        (PODS_PATH, 200, values),
    ])
    .await;
    let c = cluster(2, 2);
    // With the default 0.1: ceil(1.4 × 2) = 3.
    let mut sim = HpaSimulator::new(&base).unwrap();
    let default = sim.sync(&hpa(PODS_HPA), &c, t(NOW)).await.unwrap();
    assert_eq!(default.desired_replicas, 3);
    // With scaleUp.tolerance 0.5, 1.4 is inside [0.9, 1.5]: keep 2.
    let yaml = format!("{PODS_HPA}  behavior:\n    scaleUp: {{tolerance: 500m}}\n");
    let mut sim = HpaSimulator::new(&base).unwrap();
    let tolerant = sim.sync(&hpa(&yaml), &c, t(NOW)).await.unwrap();
    assert_eq!(
        tolerant.metrics[0].result.as_ref().map(|p| p.replicas),
        Ok(2)
    );
    assert_eq!(tolerant.desired_replicas, 2);
}
