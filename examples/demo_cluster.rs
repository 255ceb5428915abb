//! A stand-in for a Kubernetes cluster, for the local demo (`scripts/demo`) only: the
//! Kubernetes API double of the tests, holding a small cluster (namespace `speech` with the
//! `lightning-asr` Deployment and its pods, namespace `seldon` with Seldon Model `irisa0`, two
//! nodes), and an exporter serving the Lightning ASR and Seldon metrics Prometheus scrapes. It
//! is not Kubernetes: nothing is scheduled, nothing runs.
//!
//! `demo_cluster --state-file FILE` writes `KUBECONFIG=…` and `EXPORTER=host:port` to FILE
//! once both are up, then moves the ASR load a little every few seconds until interrupted.

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
    let mut args = std::env::args().skip(1);
    let state_file = match (args.next().as_deref(), args.next()) {
        (Some("--state-file"), Some(path)) => path,
        _ => {
            eprintln!("usage: demo_cluster --state-file FILE");
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
    for pod in ASR_PODS {
        cluster.apply(kube::pod(
            "speech",
            pod,
            &[("app", "lightning-asr")],
            "Running",
            true,
        ));
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
    let set_asr = |tick: u32| {
        for (i, pod) in ASR_PODS.iter().enumerate() {
            let load = 3.0 + f64::from((tick + i as u32 * 2) % 5);
            exporter.set_gauge(
                "asr_active_requests",
                &[("namespace", "speech"), ("pod", pod)],
                load,
            );
        }
    };
    set_asr(0);

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
                set_asr(tick);
            }
        }
    }
}
