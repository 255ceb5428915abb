//! The four workloads of `config/examples/`, end to end: their rules in the adapter, their HPAs
//! in the HPA simulator, a real Prometheus (and for the queues a real Redis and its exporter),
//! a load pattern, and at each step the replica counts the controller would set. Time is driven
//! through the simulator's `now`, so the 5-minute downscale stabilization costs nothing.

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use metrics_adapter::quantity::Quantity;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::adapter::Adapter;
use crate::support::hpa::{ControllerConfig, HpaSimulator, SyncOutcome};
use crate::support::kube::{self, KubeDouble, TEST_TOKEN};
use crate::support::prometheus::Prometheus;
use crate::support::redis::{Redis, RedisExporter};
use crate::support::world::World;

fn example(workload: &str, file: &str) -> String {
    let path = format!(
        "{}/config/examples/{workload}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn hpas(workload: &str) -> Vec<HorizontalPodAutoscaler> {
    serde_saphyr::from_multiple(&example(workload, "hpa.yaml")).expect("HPA manifests")
}

fn simulator(adapter: &Adapter) -> HpaSimulator {
    HpaSimulator::with_config(
        &adapter.url(),
        ControllerConfig {
            bearer_token: Some(TEST_TOKEN.into()),
            ..ControllerConfig::default()
        },
    )
    .unwrap()
}

async fn sync(
    simulator: &mut HpaSimulator,
    hpa: &HorizontalPodAutoscaler,
    cluster: &KubeDouble,
    now: Timestamp,
) -> SyncOutcome {
    simulator
        .sync(hpa, cluster, now)
        .await
        .unwrap_or_else(|e| panic!("sync of {:?}: {e}", hpa.metadata.name))
}

/// GET `path` from the adapter until `done` holds for the body (values move as Prometheus
/// scrapes and rate windows fill).
async fn wait_until(adapter: &Adapter, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = adapter.get(path).await;
        if status == StatusCode::OK && done(&body) {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(45),
            "GET {path}: {status} {body}\n{}",
            adapter.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn value(v: &Value) -> f64 {
    v.as_str()
        .and_then(|s| s.parse::<Quantity>().ok())
        .map_or(f64::NAN, |q| q.as_f64())
}

fn near(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= expected.abs() * 0.02 + 0.001
}

fn minutes(start: Timestamp, n: i64) -> Timestamp {
    start + SignedDuration::from_mins(n)
}

// ---------------------------------------------------------------------------------------------
// Lightning ASR

const ASR_NS: &str = "speech";

/// An ASR pod: Running and Ready for an hour, requesting 500m CPU and 1Gi.
fn asr_pod(name: &str, since: Timestamp) -> Value {
    let mut pod = kube::pod(ASR_NS, name, &[("app", "lightning-asr")], "Running", true);
    let started = since.to_string();
    pod["spec"]["containers"][0]["name"] = json!("asr");
    pod["spec"]["containers"][0]["resources"] =
        json!({"requests": {"cpu": "500m", "memory": "1Gi"}});
    pod["status"]["startTime"] = json!(started);
    pod["status"]["conditions"][0]["lastTransitionTime"] = json!(started);
    pod
}

/// The ASR deployment at `replicas`: its pods (created or deleted), each serving `requests`
/// with `cpu` cores and 512Mi, and kube-state-metrics' replica count.
struct AsrLoad {
    replicas: usize,
    requests: f64,
    cpu: f64,
}

/// The ASR deployment as the test drives it: its pods, their load, and kube-state-metrics'
/// replica count.
struct AsrDeployment<'a> {
    world: &'a World,
    adapter: &'a Adapter,
    since: Timestamp,
    replicas: usize,
}

impl AsrDeployment<'_> {
    /// Scale to the load's replicas (creating or deleting pods), set every pod's series, and wait
    /// until the adapter answers the new values.
    async fn apply(&mut self, load: AsrLoad) {
        apply_asr(self.world, self.adapter, self.since, self.replicas, &load).await;
        self.replicas = load.replicas;
    }
}

async fn apply_asr(
    world: &World,
    adapter: &Adapter,
    since: Timestamp,
    previous: usize,
    load: &AsrLoad,
) {
    let (cluster, exporter) = (&world.cluster, &world.exporter);
    for i in 0..previous.max(load.replicas) {
        let name = format!("lightning-asr-{i}");
        let labels = [("namespace", ASR_NS), ("pod", name.as_str())];
        let container = [
            ("namespace", ASR_NS),
            ("pod", name.as_str()),
            ("container", "asr"),
        ];
        if i < load.replicas {
            if i >= previous {
                cluster.apply(asr_pod(&name, since));
            }
            exporter.set_gauge("asr_active_requests", &labels, load.requests);
            exporter.set_counter_rate("container_cpu_usage_seconds_total", &container, load.cpu);
            exporter.set_gauge(
                "container_memory_working_set_bytes",
                &container,
                512.0 * 1048576.0,
            );
        } else {
            cluster.delete("v1", "Pod", Some(ASR_NS), &name);
            exporter.remove("asr_active_requests", &labels);
            exporter.remove("container_cpu_usage_seconds_total", &container);
            exporter.remove("container_memory_working_set_bytes", &container);
        }
    }
    cluster.set_replicas(ASR_NS, "lightning-asr", load.replicas as i64);
    exporter.set_gauge(
        "kube_deployment_status_replicas",
        &[("namespace", ASR_NS), ("deployment", "lightning-asr")],
        load.replicas as f64,
    );
    // Until the adapter answers the new values for every pod.
    let n = load.replicas;
    let requests = load.requests;
    wait_until(
        adapter,
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/speech/pods/%2A/asr_active_requests?labelSelector=app%3Dlightning-asr",
        |b| {
            let items = b["items"].as_array().unwrap();
            items.len() == n && items.iter().all(|i| near(value(&i["value"]), requests))
        },
    )
    .await;
    let cpu = load.cpu;
    wait_until(
        adapter,
        "/apis/metrics.k8s.io/v1beta1/namespaces/speech/pods?labelSelector=app%3Dlightning-asr",
        |b| {
            let items = b["items"].as_array().unwrap();
            items.len() == n
                && items
                    .iter()
                    .all(|p| near(value(&p["containers"][0]["usage"]["cpu"]), cpu))
        },
    )
    .await;
    wait_until(
        adapter,
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/speech/deployments.apps/lightning-asr/kube_deployment_status_replicas",
        |b| near(value(&b["items"][0]["value"]), n as f64),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightning_asr_scales_on_requests_cpu_and_memory_and_its_api_follows() {
    let since = Timestamp::now() - SignedDuration::from_hours(1);
    let world = World::start(
        |cluster, exporter| {
            cluster.apply(kube::namespace(ASR_NS));
            cluster.apply(kube::deployment(
                ASR_NS,
                "lightning-asr",
                2,
                &[("app", "lightning-asr")],
            ));
            cluster.apply(kube::deployment(
                ASR_NS,
                "asr-api",
                1,
                &[("app", "asr-api")],
            ));
            exporter.set_gauge(
                "kube_deployment_status_replicas",
                &[("namespace", ASR_NS), ("deployment", "lightning-asr")],
                2.0,
            );
        },
        "kube_deployment_status_replicas",
        1,
    )
    .await;
    let adapter = world
        .adapter(Adapter::builder(&example("lightning-asr", "rules.yaml")))
        .await;
    let [asr_hpa, api_hpa] =
        <[HorizontalPodAutoscaler; 2]>::try_from(hpas("lightning-asr")).unwrap();
    let (mut asr, mut api) = (simulator(&adapter), simulator(&adapter));
    let cluster = &world.cluster;
    let t0 = Timestamp::now();

    // Step 1, idle: 2 pods at 4 requests (target 5), 0.22 cores of 0.5 (44 %, target 80 %),
    // 512Mi (target 2Gi). Pods: 4/5 = 0.8, ceil(0.8 * 2) = 2; CPU: 44/80, ceil(0.55 * 2) = 2;
    // memory: ceil(0.25 * 2) = 1. The largest is 2: no change. API: 2 / (2 * 1) = 1, within
    // the tolerance: 1.
    let mut deployment = AsrDeployment {
        world: &world,
        adapter: &adapter,
        since,
        replicas: 0,
    };
    deployment
        .apply(AsrLoad {
            replicas: 2,
            requests: 4.0,
            cpu: 0.22,
        })
        .await;
    let outcome = sync(&mut asr, &asr_hpa, cluster, t0).await;
    assert_eq!(outcome.desired_replicas, 2, "{outcome:#?}");
    assert!(
        outcome.metrics.iter().all(|m| m.result.is_ok()),
        "{outcome:#?}"
    );
    assert_eq!(
        sync(&mut api, &api_hpa, cluster, t0).await.desired_replicas,
        1
    );

    // Step 2, burst: 15 requests per pod. 15/5 = 3, ceil(3 * 2) = 6, limited by the scale-up
    // cap max(2 * 2, 4) = 4.
    deployment
        .apply(AsrLoad {
            replicas: 2,
            requests: 15.0,
            cpu: 0.22,
        })
        .await;
    let outcome = sync(&mut asr, &asr_hpa, cluster, minutes(t0, 1)).await;
    assert_eq!(outcome.metric_replicas, Some(6), "{outcome:#?}");
    assert_eq!(outcome.desired_replicas, 4, "{outcome:#?}");
    // The deployment scales to 4; the new pods take their share at once: 15 each again, so
    // ceil(3 * 4) = 12, capped at max(2 * 4, 4) = 8. The API follows the ASR count: 4 / 2 = 2.
    deployment
        .apply(AsrLoad {
            replicas: 4,
            requests: 15.0,
            cpu: 0.22,
        })
        .await;
    let outcome = sync(&mut asr, &asr_hpa, cluster, minutes(t0, 2)).await;
    assert_eq!(outcome.desired_replicas, 8, "{outcome:#?}");
    let outcome = sync(&mut api, &api_hpa, cluster, minutes(t0, 2)).await;
    assert_eq!(outcome.desired_replicas, 2, "{outcome:#?}");
    world.cluster.set_replicas(ASR_NS, "asr-api", 2);

    // Step 3, sustained: 8 pods at 5 requests (on target) but CPU-bound at 0.46 cores (92 %):
    // pods within the tolerance propose 8, CPU proposes ceil(92/80 * 8) = ceil(9.2) = 10,
    // memory 2; the largest is 10. But without `behavior` the controller takes the largest
    // recommendation of the last five minutes, and step 2 recommended 12 (before its cap):
    // 12 (within the cap of 16). API: 8 / 2 = 4.
    deployment
        .apply(AsrLoad {
            replicas: 8,
            requests: 5.0,
            cpu: 0.46,
        })
        .await;
    let outcome = sync(&mut asr, &asr_hpa, cluster, minutes(t0, 3)).await;
    let proposals: Vec<i32> = outcome
        .metrics
        .iter()
        .map(|m| m.result.as_ref().map_or(-1, |p| p.replicas))
        .collect();
    assert_eq!(proposals, [8, 10, 2], "{outcome:#?}");
    assert_eq!(outcome.metric_replicas, Some(10));
    assert_eq!(outcome.desired_replicas, 12);
    assert_eq!(
        sync(&mut api, &api_hpa, cluster, minutes(t0, 3))
            .await
            .desired_replicas,
        4
    );
    world.cluster.set_replicas(ASR_NS, "asr-api", 4);

    // Step 4, drain: 12 pods at 1 request and 0.05 cores. Pods: ceil(0.2 * 12) = 3, CPU:
    // ceil(10/80 * 12) = 2, memory: ceil(0.25 * 12) = 3: 3 is recommended, but the last five
    // minutes recommended 12: the downscale is held. The API follows the 12 ASR pods: 6.
    deployment
        .apply(AsrLoad {
            replicas: 12,
            requests: 1.0,
            cpu: 0.05,
        })
        .await;
    let outcome = sync(&mut asr, &asr_hpa, cluster, minutes(t0, 4)).await;
    assert_eq!(outcome.metric_replicas, Some(3), "{outcome:#?}");
    assert_eq!(outcome.desired_replicas, 12, "{outcome:#?}");
    assert_eq!(
        sync(&mut api, &api_hpa, cluster, minutes(t0, 4))
            .await
            .desired_replicas,
        6
    );
    world.cluster.set_replicas(ASR_NS, "asr-api", 6);
    // Six minutes later, with the same load, the window only holds 3: scale down to 3. The API
    // then sees 3 ASR pods: ceil(3/2) = 2, and its own last recommendation above that (6, at
    // minute 4) is older than five minutes: 2.
    let outcome = sync(&mut asr, &asr_hpa, cluster, minutes(t0, 10)).await;
    assert_eq!(outcome.desired_replicas, 3, "{outcome:#?}");
    deployment
        .apply(AsrLoad {
            replicas: 3,
            requests: 1.0,
            cpu: 0.05,
        })
        .await;
    assert_eq!(
        sync(&mut api, &api_hpa, cluster, minutes(t0, 10))
            .await
            .desired_replicas,
        2
    );
}

// ---------------------------------------------------------------------------------------------
// Seldon model serving

async fn set_infer_rates(world: &World, adapter: &Adapter, rest: f64, grpc: f64) {
    for (method, rate) in [("rest", rest), ("grpc", grpc)] {
        world.exporter.set_counter_rate(
            "seldon_model_infer_total",
            &[
                ("namespace", "seldon"),
                ("model", "irisa0"),
                ("method_type", method),
            ],
            rate,
        );
    }
    let total = rest + grpc;
    wait_until(
        adapter,
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/seldon/models.mlops.seldon.io/irisa0/infer_rps",
        |b| near(value(&b["items"][0]["value"]), total),
    )
    .await;
    wait_until(
        adapter,
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/seldon/models.mlops.seldon.io/irisa0/infer_rps?metricLabelSelector=method_type%3Drest",
        |b| near(value(&b["items"][0]["value"]), rest),
    )
    .await;
}

fn set_model_replicas(cluster: &KubeDouble, replicas: i64) {
    cluster.modify(
        "mlops.seldon.io/v1alpha1",
        "Model",
        Some("seldon"),
        "irisa0",
        |m| {
            m["spec"]["replicas"] = json!(replicas);
            m["status"]["replicas"] = json!(replicas);
            m["status"]["selector"] = json!("seldon.io/model=irisa0");
        },
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seldon_model_scales_on_its_inference_rate() {
    let world = World::start(
        |cluster, exporter| {
            cluster.apply(kube::namespace("seldon"));
            cluster.apply(kube::seldon_model("seldon", "irisa0", 1));
            for method in ["rest", "grpc"] {
                exporter.set_counter_rate(
                    "seldon_model_infer_total",
                    &[
                        ("namespace", "seldon"),
                        ("model", "irisa0"),
                        ("method_type", method),
                    ],
                    0.0,
                );
            }
        },
        "seldon_model_infer_total",
        2,
    )
    .await;
    set_model_replicas(&world.cluster, 1);
    // The shipped rules average over 2 minutes; a test cannot wait for a 2-minute window to
    // fill, so it serves the same rules over 10 seconds.
    let rules = example("seldon-model", "rules.yaml");
    assert!(rules.contains("[2m]"));
    let adapter = world
        .adapter(Adapter::builder(&rules.replace("[2m]", "[10s]")))
        .await;
    let manifests = hpas("seldon-model");
    let mut sims: Vec<HpaSimulator> = manifests.iter().map(|_| simulator(&adapter)).collect();
    let t0 = Timestamp::now();
    let mut step = 0;
    let mut check = async |expected: [i32; 3], replicas: &mut i64| {
        let now = minutes(t0, step);
        step += 1;
        let mut got = Vec::new();
        for (sim, hpa) in sims.iter_mut().zip(&manifests) {
            let outcome = sync(sim, hpa, &world.cluster, now).await;
            assert_eq!(outcome.error, None, "{outcome:#?}");
            got.push(outcome.desired_replicas);
        }
        assert_eq!(got, expected, "irisa0, irisa0-rest, irisa0-namespace");
        // The Model follows its main HPA.
        *replicas = i64::from(got[0]);
        set_model_replicas(&world.cluster, *replicas);
    };
    let mut replicas = 1;

    // 1.5 rest + 0.5 gRPC inferences/s: ceil(2/3) = 1; REST only ceil(1.5/3) = 1.
    set_infer_rates(&world, &adapter, 1.5, 0.5).await;
    check([1, 1, 1], &mut replicas).await;
    // 8.5 + 2.5 = 11/s: ceil(11/3) = 4 (within the cap of 4); REST ceil(8.5/3) = 3; the
    // Namespace sees the same 11/s as the Model.
    set_infer_rates(&world, &adapter, 8.5, 2.5).await;
    check([4, 3, 4], &mut replicas).await;
    // 19 + 4 = 23/s at 4 replicas: 23 / (3 * 4) = 1.9, ceil(23/3) = 8 (cap 8); REST ceil(19/3) = 7.
    set_infer_rates(&world, &adapter, 19.0, 4.0).await;
    check([8, 7, 8], &mut replicas).await;
    assert_eq!(replicas, 8);
}

// ---------------------------------------------------------------------------------------------
// Queue workers and LLM workers on Redis

const QUEUES: [(&str, &str); 4] = [
    ("stt-worker", "stt-queue"),
    ("translation-worker", "translation-queue"),
    ("tts-worker", "tts-queue"),
    ("lipsync-worker", "lipsync-queue"),
];

/// Push or pop jobs so that list `key` holds `len` entries.
async fn set_length(redis: &Redis, key: &str, len: i64) {
    let have = redis.list_len(key).await;
    if len > have {
        redis.push(key, (len - have) as usize).await;
    } else if have > len {
        redis.pop(key, (have - len) as usize).await;
    }
    assert_eq!(redis.list_len(key).await, len);
}

/// Wait until the adapter's external metric for `selector` sums to `total` (or has no items
/// when `total` is `None`: an emptied BullMQ list disappears).
async fn wait_external(adapter: &Adapter, metric: &str, selector: &str, total: Option<f64>) {
    let path = format!(
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/media/{metric}?labelSelector={selector}"
    );
    wait_until(adapter, &path, |b| {
        let items = b["items"].as_array().unwrap();
        match total {
            None => items.is_empty(),
            Some(t) => near(items.iter().map(|i| value(&i["value"])).sum(), t),
        }
    })
    .await;
}

struct RedisWorld {
    cluster: KubeDouble,
    redis: Redis,
    _exporter: RedisExporter,
    prometheus: Prometheus,
}

async fn redis_world() -> RedisWorld {
    let cluster = KubeDouble::start().await;
    for ns in ["media", "llm"] {
        cluster.apply(kube::namespace(ns));
    }
    for (deployment, _) in QUEUES {
        cluster.apply(kube::deployment(
            "media",
            deployment,
            1,
            &[("app", deployment)],
        ));
    }
    cluster.apply(kube::deployment("llm", "ollama", 1, &[("app", "ollama")]));
    let redis = Redis::start().await;
    let exporter = RedisExporter::start(&redis).await;
    // The shipped recording rule, as Prometheus loads it.
    let rules: Value =
        serde_saphyr::from_str(&example("queue-workers", "prometheus-rules.yaml")).unwrap();
    let rule = &rules["groups"][0]["rules"][0];
    let prometheus = Prometheus::builder()
        .scrape("redis", exporter.target())
        .recording_rule(
            rule["record"].as_str().unwrap(),
            rule["expr"].as_str().unwrap(),
        )
        .start()
        .await;
    prometheus
        .wait_for(
            "redis_key_size{key=\"cities\"}",
            |r| r.single_value() == Some(0.0),
            Duration::from_secs(30),
        )
        .await;
    RedisWorld {
        cluster,
        redis,
        _exporter: exporter,
        prometheus,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_workers_and_llm_workers_follow_their_redis_lists() {
    let world = redis_world().await;
    let queue_adapter = Adapter::builder(&example("queue-workers", "rules.yaml"))
        .start(world.prometheus.base_url(), &world.cluster.kubeconfig())
        .await;
    let manifests = hpas("queue-workers");
    let mut sims: Vec<HpaSimulator> = manifests
        .iter()
        .map(|_| simulator(&queue_adapter))
        .collect();
    let t0 = Timestamp::now();

    // Set the queues, wait for the adapter, sync every HPA at `now`, apply and return the counts.
    let step = async |lengths: [i64; 4],
                      now: Timestamp,
                      sims: &mut Vec<HpaSimulator>|
           -> Vec<i32> {
        for ((_, queue), len) in QUEUES.iter().zip(lengths) {
            let key = format!("bull:{queue}:wait");
            set_length(&world.redis, &key, len).await;
            let total = (len > 0).then_some(len as f64);
            wait_external(
                &queue_adapter,
                "redis_queue_depth",
                &format!("queue_name%3D{queue}"),
                total,
            )
            .await;
        }
        let mut desired = Vec::new();
        for ((sim, hpa), (deployment, _)) in sims.iter_mut().zip(&manifests).zip(QUEUES) {
            let outcome = sync(sim, hpa, &world.cluster, now).await;
            world
                .cluster
                .set_replicas("media", deployment, i64::from(outcome.desired_replicas));
            desired.push(outcome.desired_replicas);
        }
        desired
    };

    // Jobs arrive: stt 12 (target 5): ceil(12/5) = 3; translation 35 (10): 4; TTS empty: its
    // list does not exist, the metric has no items, the controller keeps 1; lip-sync 7 (3): 3.
    assert_eq!(step([12, 35, 0, 7], t0, &mut sims).await, [3, 4, 1, 3]);
    // stt 32 at 3 pods: ceil(32/5) = 7, capped at max(2 * 3, 4) = 6; translation drains to 5:
    // ceil(0.5) = 1 but held at 4 by the stabilization window; TTS 11: ceil(11/5) = 3;
    // lip-sync 30: ceil(30/3) = 10, capped at 6.
    assert_eq!(
        step([32, 5, 11, 30], minutes(t0, 1), &mut sims).await,
        [6, 4, 3, 6]
    );
    // Six minutes on, same queues: stt 32 / (5 * 6) = 1.07, within the tolerance: 6;
    // translation now 1; TTS 11 / (5 * 3) = 0.73, ceil(2.2) = 3; lip-sync 30 / (3 * 6) = 1.67,
    // ceil(10) = 10.
    assert_eq!(
        step([32, 5, 11, 30], minutes(t0, 7), &mut sims).await,
        [6, 1, 3, 10]
    );
    // Every queue drained: the BullMQ lists disappear, the metrics have no items, and the
    // controller keeps every count (an empty External metric is an error, never a zero).
    assert_eq!(
        step([0, 0, 0, 0], minutes(t0, 8), &mut sims).await,
        [6, 1, 3, 10]
    );

    // The LLM workers on list `cities` (target 10 per replica).
    let llm_adapter = Adapter::builder(&example("llm-workers", "rules.yaml"))
        .start(world.prometheus.base_url(), &world.cluster.kubeconfig())
        .await;
    let [llm_hpa] = <[HorizontalPodAutoscaler; 1]>::try_from(hpas("llm-workers")).unwrap();
    let mut llm = simulator(&llm_adapter);
    let mut cities = async |len: i64, now: Timestamp| -> i32 {
        set_length(&world.redis, "cities", len).await;
        wait_external(
            &llm_adapter,
            "redis_list_length",
            "key%3Dcities",
            Some(len as f64),
        )
        .await;
        let outcome = sync(&mut llm, &llm_hpa, &world.cluster, now).await;
        world
            .cluster
            .set_replicas("llm", "ollama", i64::from(outcome.desired_replicas));
        outcome.desired_replicas
    };
    // 35 messages: ceil(3.5) = 4; 95: ceil(9.5) = 10, capped at max(8, 4) = 8; 3 messages:
    // ceil(0.3) = 1 is recommended, but the largest recommendation of the last five minutes
    // (10, uncapped) wins: 10; five minutes later, 1. An empty `cities` still reads 0 (the
    // exporter checks it as a single key): ceil(0) = 0, raised to minReplicas 1.
    assert_eq!(cities(35, t0).await, 4);
    assert_eq!(cities(95, minutes(t0, 1)).await, 8);
    assert_eq!(cities(3, minutes(t0, 2)).await, 10);
    assert_eq!(cities(3, minutes(t0, 8)).await, 1);
    assert_eq!(cities(0, minutes(t0, 9)).await, 1);
}
