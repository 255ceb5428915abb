//! A bad day, injected: a Prometheus that stalls, fails, lies, cuts or floods its answers, is
//! stopped and started again; a Kubernetes API that hangs, stops, expires watch history, cuts
//! watches, is slow to review or refuses a resource. Each time the adapter answers honestly (a
//! failure is a 500, never "not found", never silently missing objects), within its deadlines,
//! and recovers by itself.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::adapter::Adapter;
use crate::support::faulty_prometheus::{Fault, FaultyPrometheus, Route};
use crate::support::kube::{self, GoneAs, Hang, Reviews, UserInfo};
use crate::support::world::{ASR_RULES, World};

const OBJECT: &str =
    "/apis/custom.metrics.k8s.io/v1beta1/namespaces/speech/pods/asr-0/asr_active_requests";
const SELECTOR: &str = "/apis/custom.metrics.k8s.io/v1beta1/namespaces/speech/pods/*/asr_active_requests?labelSelector=app%3Dasr";

/// Wait until `path` answers `code`.
async fn wait_for_status(adapter: &Adapter, path: &str, code: u16) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = adapter.get(path).await;
        if status.as_u16() == code {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{path} stayed {status}: {body}\n{}",
            adapter.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assert_fetch_failure(status: StatusCode, body: &Value, fault: &str) {
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{fault}: {body}");
    assert_eq!(
        body["message"], "Internal error occurred: unable to fetch metrics",
        "{fault}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_that_fails_in_any_way_is_a_500_and_the_next_answer_is_fresh() {
    let world = World::asr(4.0, |_, _| {}).await;
    let faulty = FaultyPrometheus::start(world.prometheus.base_url()).await;
    let adapter = world
        .adapter_at(
            Adapter::builder(ASR_RULES)
                .arg("--prometheus-timeout=2s")
                .arg("--prometheus-max-response-size=1Mi"),
            faulty.url(),
        )
        .await;
    assert_eq!(adapter.get_ok(OBJECT).await["items"][0]["value"], "4");

    for (name, fault) in [
        ("5xx", Fault::Status(503)),
        ("garbage", Fault::Garbage),
        ("truncated by length", Fault::TruncatedLength),
        ("truncated chunks", Fault::TruncatedChunked),
        ("a reset", Fault::Reset),
        ("more than the size limit", Fault::Huge { mebibytes: 4 }),
        ("a stall past the timeout", Fault::Stall),
    ] {
        faulty.set(Route::Query, fault);
        let started = Instant::now();
        let (status, body) = adapter.get(OBJECT).await;
        assert_fetch_failure(status, &body, name);
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{name}: answered after {:?}",
            started.elapsed()
        );
    }

    // Callers that give up on a stalled query strand nothing: once Prometheus answers again,
    // the same query reaches it afresh, and no connection to it is left open.
    let impatient = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    for _ in 0..5 {
        let gave_up = impatient
            .get(format!("{}{OBJECT}", adapter.url()))
            .send()
            .await;
        assert!(gave_up.is_err());
    }
    faulty.set(Route::Query, Fault::PassThrough);
    let before = faulty.requests(Route::Query);
    // The abandoned query ends by its own 2 s timeout (a caller arriving meanwhile shares its
    // failure); the next one asks Prometheus anew.
    let body = wait_for_status(&adapter, OBJECT, 200).await;
    assert_eq!(body["items"][0]["value"], "4");
    assert!(
        faulty.requests(Route::Query) > before,
        "the answer was not fresh"
    );
    faulty
        .wait_for_open_connections_at_most(2, Duration::from_secs(20))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_metrics_fail_loudly_when_prometheus_fails() {
    let world = World::start(
        |cluster, exporter| {
            cluster.apply(kube::namespace("speech"));
            cluster.apply(kube::pod(
                "speech",
                "asr-0",
                &[("app", "asr")],
                "Running",
                true,
            ));
            cluster.apply(kube::node("node-1", "4", "8Gi"));
            let container = [
                ("namespace", "speech"),
                ("pod", "asr-0"),
                ("container", "asr"),
            ];
            exporter.set_gauge("container_cpu_usage_seconds_total", &container, 1.0);
            exporter.set_gauge("container_memory_working_set_bytes", &container, 1024.0);
            exporter.set_gauge("node_cpu_usage_seconds_total", &[("node", "node-1")], 1.0);
            exporter.set_gauge(
                "node_memory_working_set_bytes",
                &[("node", "node-1")],
                1024.0,
            );
        },
        "container_cpu_usage_seconds_total",
        1,
    )
    .await;
    let rules = r#"resourceRules:
  cpu:
    containerQuery: sum by (<<.GroupBy>>) (<<.Series>>{<<.LabelMatchers>>,container!=""})
    nodeQuery: sum by (<<.GroupBy>>) (node_cpu_usage_seconds_total{<<.LabelMatchers>>})
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
  window: 1m
"#
    .replace("<<.Series>>", "container_cpu_usage_seconds_total");
    let faulty = FaultyPrometheus::start(world.prometheus.base_url()).await;
    let adapter = world
        .adapter_at(Adapter::builder(&rules), faulty.url())
        .await;
    let pods = "/apis/metrics.k8s.io/v1beta1/namespaces/speech/pods";
    let pod = "/apis/metrics.k8s.io/v1beta1/namespaces/speech/pods/asr-0";
    let nodes = "/apis/metrics.k8s.io/v1beta1/nodes";
    assert_eq!(
        adapter.get_ok(pods).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    faulty.set(Route::Query, Fault::Status(500));
    // Never an empty list, never "not found": the pod and the node are there, their metrics
    // are not available.
    for path in [
        pods,
        pod,
        nodes,
        "/apis/metrics.k8s.io/v1beta1/nodes/node-1",
    ] {
        let (status, body) = adapter.get(path).await;
        assert_fetch_failure(status, &body, path);
    }
    faulty.set(Route::Query, Fault::PassThrough);
    assert_eq!(adapter.get_ok(pod).await["metadata"]["name"], "asr-0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stopped_and_started_again() {
    let mut world = World::asr(2.0, |_, _| {}).await;
    let adapter = world
        .adapter(
            Adapter::builder(ASR_RULES)
                .arg("--prometheus-timeout=2s")
                .arg("--metrics-on-miss-interval=1s"),
        )
        .await;
    assert_eq!(adapter.get_ok(OBJECT).await["items"][0]["value"], "2");
    world.prometheus.stop().await;
    let (status, body) = adapter.get(OBJECT).await;
    assert_fetch_failure(status, &body, "prometheus stopped");
    // A metric whose listing fails now (the on-miss interval since the last listing has
    // passed) is unavailable, not unknown.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = adapter
        .get("/apis/custom.metrics.k8s.io/v1beta1/namespaces/speech/pods/asr-0/never_seen")
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    // Health never waits on Prometheus.
    let health = adapter
        .client()
        .get(format!("{}/healthz", adapter.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    world.prometheus.start_again().await;
    let body = wait_for_status(&adapter, OBJECT, 200).await;
    assert_eq!(body["items"][0]["value"], "2");
}

/// The API double with the ASR world, a token for a user who needs reviews, and an adapter.
async fn reviewed_world() -> (World, Adapter) {
    let world = World::asr(1.0, |_, _| {}).await;
    world.cluster.add_token(
        "hpa-token",
        UserInfo {
            username: "system:serviceaccount:kube-system:horizontal-pod-autoscaler".into(),
            uid: "uid-hpa".into(),
            groups: vec!["system:serviceaccounts".into()],
        },
    );
    let adapter = world.adapter(Adapter::builder(ASR_RULES)).await;
    (world, adapter)
}

async fn get_with_token(adapter: &Adapter, path: &str, token: &str) -> (StatusCode, Value) {
    let response = adapter
        .client()
        .get(format!("{}{path}", adapter.url()))
        .bearer_auth(token)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_api_server_costs_requests_the_review_deadline_not_forever() {
    let (world, adapter) = reviewed_world().await;
    world.cluster.hang(Hang::Reviews);
    let started = Instant::now();
    let requests: Vec<_> = (0..20)
        .map(|i| {
            let path = format!("{OBJECT}?attempt={i}");
            let adapter_url = adapter.url();
            let client = adapter.client().clone();
            tokio::spawn(async move {
                client
                    .get(format!("{adapter_url}{path}"))
                    .bearer_auth("hpa-token")
                    .timeout(Duration::from_secs(60))
                    .send()
                    .await
                    .map(|r| r.status())
            })
        })
        .collect();
    for request in requests {
        // A token that cannot be reviewed is not authenticated: 401, as kube-apiserver answers.
        assert_eq!(request.await.unwrap().unwrap(), StatusCode::UNAUTHORIZED);
    }
    // Within the 10 s review deadline (and far from the request deadline).
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );
    world.cluster.resume();
    let (status, body) = get_with_token(&adapter, OBJECT, "hpa-token").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_or_failing_reviews() {
    let (world, adapter) = reviewed_world().await;
    // Slow but within the deadline: answered.
    world
        .cluster
        .slow_reviews(Reviews::Both, Duration::from_secs(2));
    let (status, body) = get_with_token(&adapter, OBJECT, "hpa-token").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A SubjectAccessReview that fails is a 500, not a 403 (kube-apiserver's answer to an
    // authorizer error). A new path, so that no cached decision answers.
    world.cluster.slow_reviews(Reviews::Both, Duration::ZERO);
    world.cluster.fail_reviews(Some(Reviews::SubjectAccess));
    let other =
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/speech/pods/asr-1/asr_active_requests";
    let (status, body) = get_with_token(&adapter, other, "hpa-token").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["reason"], "InternalError");
    world.cluster.fail_reviews(None);
    let (status, _) = get_with_token(&adapter, other, "hpa-token").await;
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_that_cannot_sync_fails_fast_naming_the_permission_and_recovers() {
    let world = World::asr(3.0, |_, _| {}).await;
    world.cluster.forbid("pods");
    let adapter = world.adapter(Adapter::builder(ASR_RULES)).await;
    let started = Instant::now();
    let body = wait_for_status(&adapter, SELECTOR, 500).await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("Internal error occurred: unable to list matching resources: the adapter may not list and watch pods"),
        "{message}"
    );
    assert!(message.contains("grant its service account get, list and watch on pods"));
    // Fast: well under the 10 s a cache may take to fill.
    let (status, _) = adapter.get(SELECTOR).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    // Once granted, the watch syncs by itself.
    world.cluster.permit("pods");
    let body = wait_for_status(&adapter, SELECTOR, 200).await;
    assert_eq!(body["items"][0]["value"], "3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_survive_cut_streams_expired_history_and_a_stopped_api_server() {
    let world = World::asr(5.0, |_, _| {}).await;
    // Series for the pods created later: a `*` request lists the pods the watch cache holds
    // and values only those with a series.
    for pod in ["asr-1", "asr-2"] {
        world.exporter.set_gauge(
            "asr_active_requests",
            &[("namespace", "speech"), ("pod", pod)],
            1.0,
        );
    }
    // Authorized without reviews, so that the API server's absence shows in the watches only.
    let adapter = world
        .adapter(Adapter::builder(ASR_RULES).arg("--authorization-always-allow-paths=/*"))
        .await;
    let names = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["describedObject"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&adapter.get_ok(SELECTOR).await), ["asr-0"]);
    // The watch is cut and its history compacted: the cache lists again (410 Gone) and sees
    // a pod created meanwhile.
    world.cluster.expire_history(GoneAs::ErrorEvent);
    world.cluster.cut_watches();
    world.cluster.apply(kube::pod(
        "speech",
        "asr-1",
        &[("app", "asr")],
        "Running",
        true,
    ));
    let started = Instant::now();
    while names(&adapter.get_ok(SELECTOR).await).len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "asr-1 never seen"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The API server goes away: what the cache holds keeps serving.
    world.cluster.stop().await;
    assert_eq!(adapter.get_ok(OBJECT).await["items"][0]["value"], "5");
    assert_eq!(names(&adapter.get_ok(SELECTOR).await), ["asr-0", "asr-1"]);
    world.cluster.start_again().await;
    world.cluster.apply(kube::pod(
        "speech",
        "asr-2",
        &[("app", "asr")],
        "Running",
        true,
    ));
    let started = Instant::now();
    while names(&adapter.get_ok(SELECTOR).await).len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "asr-2 never seen"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_selector_request_while_the_api_server_is_down_fails_fast_then_recovers() {
    let world = World::asr(1.0, |_, _| {}).await;
    // Anonymous requests, authorized without a review: the API server's absence must show in
    // the listing, not in the authorization.
    let adapter = world
        .adapter(Adapter::builder(ASR_RULES).arg("--authorization-always-allow-paths=/*"))
        .await;
    // No watch cache exists for pods yet, and the API server cannot be reached.
    world.cluster.stop().await;
    let started = Instant::now();
    let (status, body) = adapter.get(SELECTOR).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("Internal error occurred: unable to list matching resources"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    world.cluster.start_again().await;
    let body = wait_for_status(&adapter, SELECTOR, 200).await;
    assert_eq!(body["items"][0]["value"], "1");
}
