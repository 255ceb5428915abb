//! A stand-in for a Kubernetes cluster, for the local demo (`scripts/demo`) only: the
//! Kubernetes API double of the tests, holding a small cluster (namespace `speech` with the
//! `lightning-asr` Deployment, its pods and its HorizontalPodAutoscaler, namespace `seldon` with
//! Seldon Model `irisa0`, two nodes), and an exporter serving what Prometheus scrapes: the
//! Lightning ASR and Seldon metrics, Redis-like queue lengths (`redis_key_size`, as
//! prometheus-redis-exporter names them), and the CPU and memory of the ASR containers and of
//! the nodes (cAdvisor's and the node's names). It is not Kubernetes: nothing is scheduled,
//! nothing runs. Like kube-apiserver's aggregator, it passes the metrics APIs on to the adapter,
//! so `kubectl top` works against it.
//!
//! `demo_cluster --state-file FILE --adapter-url URL` writes `KUBECONFIG=…` and
//! `EXPORTER=host:port` to FILE once both are up, then moves the ASR load and the queues a
//! little every few seconds until interrupted.

// A test harness may panic: that is how it fails (Cargo.toml's [lints] are for the server).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

// The double and the exporter are the tests' own (tests/support); the demo uses part of them.
#[allow(dead_code)]
#[path = "../tests/support/exporter.rs"]
mod exporter;
#[allow(dead_code, unused_imports)]
#[path = "../tests/support/kube/mod.rs"]
mod kube;
// The double's label selector matcher (`kube` reaches it as `super::super::label_match`).
#[allow(dead_code)]
#[path = "../tests/support/label_match.rs"]
mod label_match;

use std::time::Duration;

const ASR_PODS: [&str; 3] = [
    "lightning-asr-7d9c5b8f6-4kq2x",
    "lightning-asr-7d9c5b8f6-9wz7m",
    "lightning-asr-7d9c5b8f6-tq5lp",
];

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (state_file, adapter_url) = match args.as_slice() {
        [flag, path, url_flag, url] if flag == "--state-file" && url_flag == "--adapter-url" => {
            (path.clone(), url.clone())
        }
        _ => {
            eprintln!("usage: demo_cluster --state-file FILE --adapter-url URL");
            std::process::exit(2);
        }
    };
    let cluster = kube::KubeDouble::start().await;
    cluster.add_token(
        "demo",
        kube::UserInfo {
            username: "demo-admin".into(),
            uid: String::new(),
            groups: vec!["system:masters".into()],
        },
    );
    for ns in ["speech", "seldon"] {
        cluster.apply(kube::namespace(ns));
    }
    cluster.apply(kube::deployment(
        "speech",
        "lightning-asr",
        3,
        &[("app", "lightning-asr")],
    ));
    // Running and ready for an hour, each ASR container requesting half a core and 1Gi.
    let since = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1)).to_string();
    for pod in ASR_PODS {
        let mut object = kube::pod("speech", pod, &[("app", "lightning-asr")], "Running", true);
        object["spec"]["containers"][0]["name"] = "asr".into();
        object["spec"]["containers"][0]["resources"] =
            serde_json::json!({"requests": {"cpu": "500m", "memory": "1Gi"}});
        object["status"]["startTime"] = since.clone().into();
        object["status"]["conditions"][0]["lastTransitionTime"] = since.clone().into();
        cluster.apply(object);
    }
    cluster.add_resource(kube::ResourceType::builtin(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        true,
    ));
    cluster.apply(serde_json::json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "lightning-asr", "namespace": "speech"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "lightning-asr"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [
                {"type": "Pods", "pods": {
                    "metric": {"name": "asr_active_requests"},
                    "target": {"type": "AverageValue", "averageValue": "4"}}},
                {"type": "Resource", "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 50}}},
                {"type": "External", "external": {
                    "metric": {"name": "redis_queue_depth", "selector": {"matchLabels": {"queue_name": "stt-queue"}}},
                    "target": {"type": "AverageValue", "averageValue": "20"}}},
            ],
        },
    }));
    // The aggregator: the metrics APIs go to the adapter.
    for (group, version) in [
        ("metrics.k8s.io", "v1beta1"),
        ("custom.metrics.k8s.io", "v1beta1"),
        ("custom.metrics.k8s.io", "v1beta2"),
        ("external.metrics.k8s.io", "v1beta1"),
    ] {
        cluster.register_api_service(kube::ApiService::new(group, version, &adapter_url));
    }
    cluster.apply(kube::seldon_model("seldon", "irisa0", 1));
    for node in ["node-a", "node-b"] {
        cluster.apply(kube::node(node, "8", "32Gi"));
    }

    let exporter = exporter::Exporter::start().await;
    for (method, rate) in [("rest", 4.5), ("grpc", 1.5)] {
        exporter.set_counter_rate(
            "seldon_model_infer_total",
            &[
                ("namespace", "seldon"),
                ("model", "irisa0"),
                ("method_type", method),
            ],
            rate,
        );
    }
    for (i, node) in ["node-a", "node-b"].iter().enumerate() {
        let cores = 1.5 + i as f64;
        exporter.set_counter_rate("node_cpu_usage_seconds_total", &[("node", node)], cores);
        exporter.set_gauge(
            "node_memory_working_set_bytes",
            &[("node", node)],
            (6 + 4 * i) as f64 * 1073741824.0,
        );
    }
    let set_load = |tick: u32| {
        for (i, pod) in ASR_PODS.iter().enumerate() {
            let load = 3.0 + f64::from((tick + i as u32 * 2) % 5);
            exporter.set_gauge(
                "asr_active_requests",
                &[("namespace", "speech"), ("pod", pod)],
                load,
            );
            let container = [("namespace", "speech"), ("pod", pod), ("container", "asr")];
            // About 60 ms of CPU per active request, on top of a tenth of a core.
            exporter.set_counter_rate(
                "container_cpu_usage_seconds_total",
                &container,
                0.1 + 0.06 * load,
            );
            exporter.set_gauge(
                "container_memory_working_set_bytes",
                &container,
                (600.0 + 20.0 * load) * 1048576.0,
            );
        }
        for (queue, base) in [("stt-queue", 40.0), ("tts-queue", 5.0)] {
            exporter.set_gauge(
                "redis_key_size",
                &[("db", "db0"), ("key", &format!("bull:{queue}:wait"))],
                base + f64::from(tick % 4) * 5.0,
            );
        }
    };
    set_load(0);

    let state = format!(
        "KUBECONFIG={}\nEXPORTER={}\n",
        cluster.kubeconfig().display(),
        exporter.target()
    );
    if let Err(e) = std::fs::write(&state_file, state) {
        eprintln!("cannot write {state_file}: {e}");
        std::process::exit(1);
    }
    println!(
        "stand-in cluster (a test double for the demo, not Kubernetes) at {}; metrics exporter at {}",
        cluster.url(),
        exporter.metrics_url()
    );
    let mut tick = 0;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            () = tokio::time::sleep(Duration::from_secs(5)) => {
                tick += 1;
                set_load(tick);
            }
        }
    }
}
