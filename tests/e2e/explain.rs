//! `metrics-adapter explain` and `/debug/explain`, end to end: the binary against a real
//! Prometheus and the Kubernetes API double, for served Pods, Object (a custom resource),
//! External and resource metrics, every `<unknown>` reason (a missing permission through the
//! double's refusals), an HPA manifest whose replica count is checked against the HPA
//! simulator, and the adapter's own `/debug/explain` (authorized and refused, through
//! `kubectl get --raw` and `explain --server`).

use jiff::Timestamp;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::adapter::Adapter;
use crate::support::exporter::Exporter;
use crate::support::harness;
use crate::support::hpa::{ControllerConfig, HpaSimulator};
use crate::support::kube::{self, KubeDouble, ResourceType, TEST_TOKEN, UserInfo};
use crate::support::prometheus::Prometheus;
use crate::support::world::World;

const RULES: &str = r#"rules:
- seriesQuery: 'asr_active_requests{namespace!="",pod!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      pod: {resource: pod}
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
- seriesQuery: 'seldon_model_inflight_requests{namespace!="",model!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      model: {group: mlops.seldon.io, resource: model}
  metricsQuery: max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
- seriesQuery: 'gpu_utilization{namespace!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      pod: {resource: pod}
  metricsQuery: avg(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
- seriesQuery: 'asr_active_requests{namespace!="",pod!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      pod: {resource: pod}
  name: {as: broken_requests}
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>
- seriesQuery: 'asr_old_requests{namespace!="",pod!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      pod: {resource: pod}
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
externalRules:
- seriesQuery: 'queue_depth{queue!=""}'
  resources:
    namespaced: false
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (queue)
resourceRules:
  cpu:
    containerQuery: sum by (<<.GroupBy>>) (container_cpu_cores{<<.LabelMatchers>>})
    nodeQuery: sum by (<<.GroupBy>>) (node_cpu_cores{<<.LabelMatchers>>})
    resources:
      overrides:
        namespace: {resource: namespace}
        pod: {resource: pod}
        node: {resource: node}
    containerLabel: container
  memory:
    containerQuery: sum by (<<.GroupBy>>) (container_memory_working_set_bytes{<<.LabelMatchers>>})
    nodeQuery: sum by (<<.GroupBy>>) (node_memory_working_set_bytes{<<.LabelMatchers>>})
    resources:
      overrides:
        namespace: {resource: namespace}
        pod: {resource: pod}
        node: {resource: node}
    containerLabel: container
  window: 1m
"#;

/// Every series of the world, for the readiness count.
const READY: &str = r#"{__name__=~"asr_active_requests|seldon_model_inflight_requests|gpu_utilization|queue_depth|asr_old_requests|container_cpu_cores|container_memory_working_set_bytes"}"#;

const CUSTOM: &str = "/apis/custom.metrics.k8s.io/v1beta1/namespaces/speech";

/// Namespace `speech`: Deployment `asr` (2 replicas) and its pods asr-0 and asr-1 (9 and 11
/// active requests; requesting 1Gi and using 512Mi, 250m cores), asr-2 of another app without a
/// series, Seldon Model `irisa0` (5 requests in flight); a GPU series that names no pod, and
/// queue `stt` 30 deep.
async fn world() -> World {
    World::start(
        |cluster: &KubeDouble, exporter: &Exporter| {
            cluster.apply(kube::namespace("speech"));
            cluster.apply(kube::deployment("speech", "asr", 2, &[("app", "asr")]));
            for (pod, app) in [("asr-0", "asr"), ("asr-1", "asr"), ("asr-2", "other")] {
                let mut object = kube::pod("speech", pod, &[("app", app)], "Running", true);
                object["spec"]["containers"][0]["resources"] =
                    json!({"requests": {"cpu": "500m", "memory": "1Gi"}});
                cluster.apply(object);
            }
            cluster.apply(kube::seldon_model("speech", "irisa0", 1));
            for (pod, value) in [("asr-0", 9.0), ("asr-1", 11.0)] {
                exporter.set_gauge(
                    "asr_active_requests",
                    &[("namespace", "speech"), ("pod", pod)],
                    value,
                );
                let container = [("namespace", "speech"), ("pod", pod), ("container", "main")];
                exporter.set_gauge("container_cpu_cores", &container, 0.25);
                exporter.set_gauge(
                    "container_memory_working_set_bytes",
                    &container,
                    512.0 * 1048576.0,
                );
            }
            exporter.set_gauge(
                "seldon_model_inflight_requests",
                &[("namespace", "speech"), ("model", "irisa0")],
                5.0,
            );
            exporter.set_gauge(
                "gpu_utilization",
                &[("namespace", "speech"), ("instance", "gpu-node-1")],
                0.5,
            );
            exporter.set_gauge(
                "asr_old_requests",
                &[("namespace", "speech"), ("pod", "asr-0")],
                1.0,
            );
            exporter.set_gauge("queue_depth", &[("queue", "stt")], 30.0);
        },
        READY,
        10,
    )
    .await
}

/// One run of `metrics-adapter explain`.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }

    /// The first metric's explanation.
    fn metric(&self) -> Value {
        self.json()["metrics"][0].clone()
    }
}

async fn run(args: &[&str]) -> Run {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_metrics-adapter"))
        .arg("explain")
        .args(args)
        .output()
        .await
        .expect("run metrics-adapter explain");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Explains without an adapter: the rules file, the double's kubeconfig and `prometheus`.
struct Local {
    dir: tempfile::TempDir,
    kubeconfig: String,
    prometheus: String,
}

impl Local {
    fn new(world: &World) -> Local {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rules.yaml"), RULES).unwrap();
        Local {
            dir,
            kubeconfig: world.cluster.kubeconfig().display().to_string(),
            prometheus: world.prometheus.base_url().to_string(),
        }
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    async fn explain(&self, args: &[&str]) -> Run {
        self.explain_with(&self.prometheus, args).await
    }

    async fn explain_with(&self, prometheus: &str, args: &[&str]) -> Run {
        let rules = self.dir.path().join("rules.yaml").display().to_string();
        let mut all = vec![
            format!("--config={rules}"),
            format!("--lister-kubeconfig={}", self.kubeconfig),
            format!("--prometheus-url={prometheus}"),
            "-o".into(),
            "json".into(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        run(&all).await
    }
}

fn reason(metric: &Value) -> String {
    metric["reason"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_pods_object_and_external_metrics_are_explained_step_by_step() {
    let world = world().await;
    let local = Local::new(&world);

    let pods = format!("{CUSTOM}/pods/*/asr_active_requests?labelSelector=app%3Dasr");
    let served = local.explain(&[&pods]).await;
    assert_eq!(served.code, 0, "{}{}", served.stdout, served.stderr);
    let m = served.metric();
    assert_eq!(m["metric"], "asr_active_requests");
    assert_eq!(m["request"], pods);
    assert_eq!(m["resource"], "pods");
    assert!(m["reason"].is_null(), "{m}");
    assert_eq!(
        m["rule"],
        "rules[0] (seriesQuery \"asr_active_requests{namespace!=\\\"\\\",pod!=\\\"\\\"}\")"
    );
    assert_eq!(m["series"], "asr_active_requests");
    assert_eq!(m["rules"][0]["serves"], true);
    assert_eq!(
        m["rules"][1]["why"],
        "names its series seldon_model_inflight_requests, not asr_active_requests"
    );
    assert_eq!(m["rules"][3]["why"], "names only broken_requests");
    assert_eq!(
        m["mapping"],
        json!([{"label": "namespace", "resource": "namespaces"}, {"label": "pod", "resource": "pods"}])
    );
    assert_eq!(m["resourceLabel"], "pod");
    assert_eq!(m["objects"], json!(["asr-0", "asr-1"]));
    assert_eq!(
        m["query"],
        "sum(asr_active_requests{namespace=\"speech\",pod=~\"asr-0|asr-1\"}) by (pod)"
    );
    assert_eq!(
        m["samples"],
        json!([
            {"labels": {"pod": "asr-0"}, "value": "9", "kept": true, "why": null},
            {"labels": {"pod": "asr-1"}, "value": "11", "kept": true, "why": null},
        ])
    );
    assert_eq!(
        m["values"],
        json!([
            {"object": "asr-0", "container": null, "labels": null, "value": "9"},
            {"object": "asr-1", "container": null, "labels": null, "value": "11"},
        ])
    );
    // The readable table says the same.
    let table = run(&[
        &format!("--config={}", local.dir.path().join("rules.yaml").display()),
        &format!("--lister-kubeconfig={}", local.kubeconfig),
        &format!("--prometheus-url={}", local.prometheus),
        &pods,
    ])
    .await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(
        table
            .stdout
            .starts_with("METRIC asr_active_requests (custom): served\n"),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.contains("    {pod=\"asr-1\"}  11     kept\n"),
        "{}",
        table.stdout
    );

    // An Object metric of a custom resource.
    let object = local
        .explain(&[&format!(
            "{CUSTOM}/models.mlops.seldon.io/irisa0/seldon_model_inflight_requests"
        )])
        .await;
    assert_eq!(object.code, 0, "{}{}", object.stdout, object.stderr);
    let m = object.metric();
    assert_eq!(m["resource"], "models.mlops.seldon.io");
    assert_eq!(m["resourceLabel"], "model");
    assert_eq!(
        m["query"],
        "max(seldon_model_inflight_requests{namespace=\"speech\",model=\"irisa0\"}) by (model)"
    );
    assert_eq!(m["values"][0]["object"], "irisa0");
    assert_eq!(m["values"][0]["value"], "5");

    // Resource metrics: one entry per query, values per container.
    let resource = local
        .explain(&["/apis/metrics.k8s.io/v1beta1/namespaces/speech/pods?labelSelector=app%3Dasr"])
        .await;
    assert_eq!(resource.code, 0, "{}{}", resource.stdout, resource.stderr);
    let json = resource.json();
    let entries: Vec<(&str, &str)> = json["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["metric"].as_str().unwrap(), m["rule"].as_str().unwrap()))
        .collect();
    assert_eq!(
        entries,
        [
            ("cpu", "resourceRules.cpu"),
            ("memory", "resourceRules.memory")
        ]
    );
    assert_eq!(
        json["metrics"][0]["query"],
        "sum by (pod,container) (container_cpu_cores{namespace=\"speech\",pod=~\"asr-0|asr-1\"})"
    );
    assert_eq!(
        json["metrics"][1]["values"],
        json!([
            {"object": "speech/asr-0", "container": "main", "labels": null, "value": "512Mi"},
            {"object": "speech/asr-1", "container": "main", "labels": null, "value": "512Mi"},
        ])
    );

    // An External metric.
    let external = local
        .explain(&["/apis/external.metrics.k8s.io/v1beta1/namespaces/speech/queue_depth?labelSelector=queue%3Dstt"])
        .await;
    assert_eq!(external.code, 0, "{}{}", external.stdout, external.stderr);
    let m = external.metric();
    assert_eq!(m["type"], "external");
    assert_eq!(
        m["rule"],
        "externalRules[0] (seriesQuery \"queue_depth{queue!=\\\"\\\"}\")"
    );
    assert_eq!(m["query"], "sum(queue_depth{queue=\"stt\"}) by (queue)");
    assert_eq!(
        m["values"],
        json!([{"object": null, "container": null, "labels": {"queue": "stt"}, "value": "30"}])
    );
    assert!(m["reason"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_unknown_metric_says_why_in_one_sentence() {
    let world = world().await;
    let local = Local::new(&world);
    let unknown = |run: &Run| {
        assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
        let m = run.metric();
        assert!(m["values"].as_array().unwrap().is_empty(), "{m}");
        reason(&m)
    };

    // No rule names the metric.
    let none = local
        .explain(&[&format!(
            "{CUSTOM}/pods/*/asr_queue_seconds?labelSelector=app%3Dasr"
        )])
        .await;
    assert!(
        unknown(&none).starts_with("no rule names the metric asr_queue_seconds: no rules entry turns a series its seriesQuery finds (in the last 10m0s) into this name"),
        "{}",
        none.stdout
    );
    assert!(none.metric()["rule"].is_null());

    // A resource the cluster does not serve.
    let widgets = local
        .explain(&[&format!("{CUSTOM}/widgets/*/asr_active_requests")])
        .await;
    assert_eq!(
        unknown(&widgets),
        "the cluster serves no resource named widgets (kubectl api-resources lists those it serves)"
    );
    assert_eq!(widgets.metric()["rules"], json!([]));

    // The series exists, but no label of it names a pod.
    let unmapped = local
        .explain(&[&format!(
            "{CUSTOM}/pods/*/gpu_utilization?labelSelector=app%3Dasr"
        )])
        .await;
    assert_eq!(
        unknown(&unmapped),
        "the series gpu_utilization exists and rules[2] (seriesQuery \"gpu_utilization{namespace!=\\\"\\\"}\") names it gpu_utilization, but no label of it names pods (its labels name only namespace -> namespaces): map the label that holds the pods names in the rule's resources.overrides (or template)"
    );

    // The selector matches no pod.
    let nobody = local
        .explain(&[&format!(
            "{CUSTOM}/pods/*/asr_active_requests?labelSelector=app%3Dnobody"
        )])
        .await;
    assert_eq!(
        unknown(&nobody),
        "the selector app=nobody matched no pods in namespace speech: compare it with the labels of the objects (for an HPA, the selector of its scale target)"
    );
    assert_eq!(nobody.metric()["objects"], json!([]));

    // Prometheus has nothing for this pod.
    let nothing = local
        .explain(&[&format!("{CUSTOM}/pods/asr-2/asr_active_requests")])
        .await;
    assert!(
        unknown(&nothing).starts_with("Prometheus returned nothing for these pods (asr-2)"),
        "{}",
        nothing.stdout
    );
    assert_eq!(nothing.metric()["samples"], json!([]));

    // Prometheus refuses the query.
    let broken = local
        .explain(&[&format!(
            "{CUSTOM}/pods/*/broken_requests?labelSelector=app%3Dasr"
        )])
        .await;
    assert!(
        unknown(&broken).starts_with("Prometheus answered an error to the query: bad_data: "),
        "{}",
        broken.stdout
    );
    assert!(
        broken.metric()["queryError"]
            .as_str()
            .unwrap()
            .contains("parse error")
    );

    // An external metric Prometheus has no series for.
    let empty = local
        .explain(&["/apis/external.metrics.k8s.io/v1beta1/namespaces/speech/queue_depth?labelSelector=queue%3Dnone"])
        .await;
    assert_eq!(
        unknown(&empty),
        "Prometheus returned nothing: the query matches no series now (the HPA's selector queue=none becomes label matchers)"
    );

    // Prometheus down: a failure, never "not found".
    let down = format!("http://127.0.0.1:{}", harness::free_port());
    let failed = local
        .explain_with(
            &down,
            &[&format!(
                "{CUSTOM}/pods/*/asr_active_requests?labelSelector=app%3Dasr"
            )],
        )
        .await;
    let why = unknown(&failed);
    assert!(
        why.starts_with(&format!(
            "Prometheus failed listing the series of rules[0] (seriesQuery \"asr_active_requests{{namespace!=\\\"\\\",pod!=\\\"\\\"}}\"): request to {down}/api/v1/series failed"
        )),
        "{why}"
    );
    assert!(
        why.ends_with("(the adapter answers 500 until a listing succeeds)"),
        "{why}"
    );

    // The adapter may not list the objects: the watch cache's cause, naming the permission.
    world.cluster.forbid("models.mlops.seldon.io");
    let forbidden = local
        .explain(&[&format!(
            "{CUSTOM}/models.mlops.seldon.io/*/seldon_model_inflight_requests"
        )])
        .await;
    let why = unknown(&forbidden);
    assert!(
        why.starts_with(
            "the adapter cannot list models.mlops.seldon.io: the adapter may not list and watch models.mlops.seldon.io ("
        ),
        "{why}"
    );
    assert!(
        why.ends_with("grant its service account get, list and watch on models.mlops.seldon.io"),
        "{why}"
    );

    // What cannot be explained at all.
    let bad = local
        .explain(&["/apis/apps/v1/namespaces/speech/deployments"])
        .await;
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("is not a request for metrics"),
        "{}",
        bad.stderr
    );
}

/// A series with samples two hours ago only (a TSDB block written by promtool): outside the
/// relist window, inside the last day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_series_that_stopped_before_the_relist_window_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut text = String::new();
    for i in 0..10 {
        text += &format!(
            "asr_old_requests{{namespace=\"speech\",pod=\"asr-0\"}} 1 {}\n",
            now - 7200 + i * 15
        );
    }
    text += "# EOF\n";
    std::fs::write(dir.path().join("series.om"), text).unwrap();
    let blocks = dir.path().join("blocks");
    let output = std::process::Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(dir.path().join("series.om"))
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
    cluster.apply(kube::namespace("speech"));
    cluster.apply(kube::pod(
        "speech",
        "asr-0",
        &[("app", "asr")],
        "Running",
        true,
    ));
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, RULES).unwrap();
    let stale = run(&[
        &format!("--config={}", rules.display()),
        &format!("--lister-kubeconfig={}", cluster.kubeconfig().display()),
        &format!("--prometheus-url={}", prometheus.base_url()),
        "-o",
        "json",
        &format!("{CUSTOM}/pods/*/asr_old_requests?labelSelector=app%3Dasr"),
    ])
    .await;
    assert_eq!(stale.code, 1, "{}{}", stale.stdout, stale.stderr);
    let m = stale.metric();
    assert_eq!(
        reason(&m),
        "rules[4] (seriesQuery \"asr_old_requests{namespace!=\\\"\\\",pod!=\\\"\\\"}\") names asr_old_requests from series asr_old_requests, but it has no sample in the last 10m0s (--metrics-max-age), so the adapter no longer lists it: check that it is still exported and scraped"
    );
    assert_eq!(
        m["rules"][4]["why"],
        "names it from series asr_old_requests, which has no sample in the last 10m0s (--metrics-max-age)"
    );
}

const HPAS: &str = r#"apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: asr, namespace: speech}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: asr}
  minReplicas: 1
  maxReplicas: 10
  metrics:
  - type: Pods
    pods:
      metric: {name: asr_active_requests}
      target: {type: AverageValue, averageValue: "4"}
  - type: External
    external:
      metric: {name: queue_depth, selector: {matchLabels: {queue: stt}}}
      target: {type: AverageValue, averageValue: "10"}
  - type: Object
    object:
      describedObject: {apiVersion: mlops.seldon.io/v1alpha1, kind: Model, name: irisa0}
      metric: {name: seldon_model_inflight_requests}
      target: {type: Value, value: "2"}
  - type: Resource
    resource:
      name: memory
      target: {type: Utilization, averageUtilization: 25}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: asr-slow, namespace: speech}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: asr}
  maxReplicas: 10
  metrics:
  - type: Pods
    pods:
      metric: {name: asr_active_requests}
      target: {type: AverageValue, averageValue: "4"}
  - type: Pods
    pods:
      metric: {name: asr_queue_seconds}
      target: {type: AverageValue, averageValue: "1"}
  behavior:
    scaleUp:
      policies: [{type: Pods, value: 1, periodSeconds: 60}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hpas_replica_count_is_the_one_the_controller_computes() {
    let world = world().await;
    let local = Local::new(&world);
    let manifest = local.file("hpa.yaml", HPAS);
    let adapter = world.adapter(Adapter::builder(RULES)).await;
    // One simulator per HPA: the controller keeps each HPA's history apart.
    let simulator = || {
        HpaSimulator::with_config(
            &adapter.url(),
            ControllerConfig {
                bearer_token: Some(TEST_TOKEN.into()),
                ..ControllerConfig::default()
            },
        )
        .unwrap()
    };
    let hpas: Vec<HorizontalPodAutoscaler> = serde_saphyr::from_multiple(HPAS).unwrap();

    // Pods: (9 + 11) / 2 = 10 against 4, ceil(2.5 × 2) = 5; External: 30 against 10 per
    // replica, ceil(30 / 10) = 3; Object: 5 against 2 on 2 ready pods, ceil(2.5 × 2) = 5;
    // memory: 512Mi of 1Gi is 50% against 25%, ceil(2 × 2) = 4. The largest, 5, is more than
    // one step allows without behavior: max(2 × 2, 4) = 4.
    let explained = local.explain(&["-f", &manifest, "--hpa", "asr"]).await;
    assert_eq!(
        explained.code, 0,
        "{}{}",
        explained.stdout, explained.stderr
    );
    let json = explained.json();
    let expected = simulator()
        .sync(&hpas[0], &world.cluster, Timestamp::now())
        .await
        .unwrap();
    let hpa = &json["hpa"];
    assert_eq!(hpa["scaleTarget"], "Deployment/asr");
    assert_eq!(hpa["selector"], "app=asr");
    assert_eq!(
        (hpa["pods"].as_i64(), hpa["readyPods"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(hpa["currentReplicas"], expected.current_replicas);
    assert_eq!(hpa["metricReplicas"], json!(expected.metric_replicas));
    assert_eq!(hpa["desiredReplicas"], expected.desired_replicas);
    assert_eq!(hpa["desiredReplicas"], 4);
    let proposals: Vec<Value> = json["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["replicas"].clone())
        .collect();
    let simulated: Vec<Value> = expected
        .metrics
        .iter()
        .map(|m| json!(m.result.as_ref().ok().map(|p| p.replicas)))
        .collect();
    assert_eq!(proposals, simulated);
    assert_eq!(proposals, [json!(5), json!(3), json!(5), json!(4)]);
    let memory = &json["metrics"][3];
    assert_eq!(memory["metric"], "memory");
    assert_eq!(
        memory["request"],
        "/apis/metrics.k8s.io/v1beta1/namespaces/speech/pods?labelSelector=app%3Dasr"
    );
    assert_eq!(memory["target"], "Utilization 25%");
    assert_eq!(memory["current"], "50% (536870912 average)");
    assert_eq!(memory["rule"], "resourceRules.memory");
    let pods = &json["metrics"][0];
    assert_eq!(
        pods["request"],
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/speech/pods/%2A/asr_active_requests?labelSelector=app%3Dasr"
    );
    assert_eq!(
        expected.metrics[0].requests,
        [pods["request"].as_str().unwrap()]
    );
    assert_eq!(pods["target"], "AverageValue 4");
    assert_eq!(pods["current"], "10");
    assert_eq!(json["metrics"][1]["current"], "15");
    assert_eq!(
        json["metrics"][2]["request"],
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/speech/models.mlops.seldon.io/irisa0/seldon_model_inflight_requests"
    );
    assert!(
        hpa["steps"][1]
            .as_str()
            .unwrap()
            .contains("at most max(2 × 2, 4) = 4 in one step"),
        "{hpa}"
    );

    // With a behavior: one pod per minute up; a metric that is <unknown> does not stop the
    // others from scaling up.
    let slow = local.explain(&["-f", &manifest, "--hpa", "asr-slow"]).await;
    assert_eq!(slow.code, 1, "{}{}", slow.stdout, slow.stderr);
    let json = slow.json();
    let expected = simulator()
        .sync(&hpas[1], &world.cluster, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(json["hpa"]["desiredReplicas"], expected.desired_replicas);
    assert_eq!(json["hpa"]["desiredReplicas"], 3);
    assert!(json["hpa"]["reason"].is_null());
    assert!(json["metrics"][1]["replicas"].is_null());
    assert!(reason(&json["metrics"][1]).starts_with("no rule names the metric asr_queue_seconds"));

    // A manifest with several HPAs needs --hpa.
    let several = local.explain(&["-f", &manifest]).await;
    assert_eq!(several.code, 2);
    assert!(
        several.stderr.contains("pick one with --hpa"),
        "{}",
        several.stderr
    );

    // The same HPA read from the cluster, here and through the adapter's /debug/explain.
    world.cluster.add_resource(ResourceType::builtin(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        true,
    ));
    world.cluster.apply(serde_json::to_value(&hpas[0]).unwrap());
    let from_cluster = local.explain(&["--hpa", "asr", "-n", "speech"]).await;
    assert_eq!(
        from_cluster.code, 0,
        "{}{}",
        from_cluster.stdout, from_cluster.stderr
    );
    assert_eq!(from_cluster.json()["hpa"]["desiredReplicas"], 4);
    let served = adapter.get_ok("/debug/explain?hpa=speech/asr").await;
    assert_eq!(served["kind"], "Explanation");
    assert_eq!(served["hpa"]["desiredReplicas"], 4);
    assert_eq!(served["metrics"][0]["values"][1]["value"], "11");
    let (status, body) = adapter.get("/debug/explain?hpa=speech/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("cannot read the HorizontalPodAutoscaler speech/nothing"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_explain_is_authorized_and_answers_kubectl_and_explain_server() {
    let world = world().await;
    for (token, user) in [("alice-token", "alice"), ("bob-token", "bob")] {
        world.cluster.add_token(
            token,
            UserInfo {
                username: user.into(),
                uid: String::new(),
                groups: vec![],
            },
        );
    }
    // Only alice may use /debug/explain.
    world.cluster.set_authorizer(|spec| {
        let path = spec["nonResourceAttributes"]["path"].as_str();
        path != Some("/debug/explain") || spec["user"] == "alice"
    });
    let adapter = world.adapter(Adapter::builder(RULES)).await;
    let pods = format!("{CUSTOM}/pods/*/asr_active_requests?labelSelector=app%3Dasr");
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("path", &pods)
        .finish();
    let url = format!("{}/debug/explain?{query}", adapter.url());
    let as_user = |token: &'static str| {
        let url = url.clone();
        let client = adapter.client().clone();
        async move {
            let response = client.get(url).bearer_auth(token).send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = as_user("alice-token").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["metrics"][0]["values"][0]["value"], "9");
    assert!(body["metrics"][0]["reason"].is_null());
    let (status, body) = as_user("bob-token").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body["message"],
        "forbidden: User \"bob\" cannot get path \"/debug/explain\""
    );

    // kubectl get --raw, with the selectors beside path=.
    let output = adapter
        .kubectl(&[
            "get",
            "--raw",
            "/debug/explain?path=/apis/custom.metrics.k8s.io/v1beta1/namespaces/speech/pods/*/asr_active_requests&labelSelector=app%3Dasr",
        ])
        .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let body: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(body["metrics"][0]["objects"], json!(["asr-0", "asr-1"]));
    assert_eq!(
        body["metrics"][0]["request"],
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/speech/pods/*/asr_active_requests?labelSelector=app%3Dasr"
    );
    let output = adapter.kubectl(&["get", "--raw", "/debug/explain"]).await;
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("give either path="),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // explain --server, as the kubeconfig's user and as another token's.
    let kubeconfig = adapter.kubeconfig().display().to_string();
    let remote = run(&[
        "--server",
        &adapter.url(),
        "--kubeconfig",
        &kubeconfig,
        "-o",
        "json",
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/speech/queue_depth?labelSelector=queue%3Dstt",
    ])
    .await;
    assert_eq!(remote.code, 0, "{}{}", remote.stdout, remote.stderr);
    assert_eq!(remote.metric()["values"][0]["value"], "30");
    let refused = run(&[
        "--server",
        &adapter.url(),
        "--kubeconfig",
        &kubeconfig,
        "--token",
        "bob-token",
        &pods,
    ])
    .await;
    assert_eq!(refused.code, 2, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("User \"bob\" cannot get path"),
        "{}",
        refused.stderr
    );
}
