//! The README's quick start: `scripts/demo --check` brings up the demo (stand-in cluster,
//! exporter, Prometheus, the adapter), runs the `kubectl get --raw` commands it prints (custom,
//! external and resource metrics), `kubectl top pod` and `kubectl top node` through the stand-in
//! cluster's aggregator, an `explain` of the ASR HPA through the adapter's `/debug/explain` and
//! one of a misspelt metric; it checks every answer has items, the exit status of each explain,
//! and that a rate younger than its window is said to be settling; then stops everything.

use std::path::Path;
use std::process::Command;

#[test]
fn the_quick_start_demo_answers_its_kubectl_commands() {
    let adapter = Path::new(env!("CARGO_BIN_EXE_metrics-adapter"));
    let cluster = adapter
        .parent()
        .expect("the binary has a directory")
        .join("examples/demo_cluster");
    assert!(
        cluster.exists(),
        "{} is missing: `cargo test` builds the examples; with `cargo test --test e2e`, run \
         `cargo build --examples` first",
        cluster.display()
    );
    let output = Command::new("scripts/demo")
        .arg("--check")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("METRICS_ADAPTER_BIN", adapter)
        .env("DEMO_CLUSTER_BIN", &cluster)
        .output()
        .expect("run scripts/demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("==> demo check passed"), "{stdout}");
    assert!(stdout.contains("\"name\": \"irisa0\""), "{stdout}");
    assert!(stdout.contains("lightning-asr-7d9c5b8f6-4kq2x"), "{stdout}");
    assert!(
        stdout.contains("stand-in cluster (a test double, not Kubernetes)"),
        "{stdout}"
    );
    for expected in [
        // External metrics.
        "\"metricName\": \"redis_queue_depth\"",
        // kubectl top, pods and nodes.
        "NAME                            CPU(cores)   MEMORY(bytes)",
        "node-a   ",
        // The HPA explained, each metric served.
        "HPA speech/lightning-asr scales Deployment/lightning-asr (3 replicas now, min 1, max 10, tolerance 0.1)",
        "METRIC asr_active_requests (Pods): served",
        "METRIC cpu (Resource): served",
        "METRIC redis_queue_depth (External): served",
        // The misspelt metric.
        "METRIC asr_active_request (custom): <unknown>",
        "  reason    no rule names the metric asr_active_request: ",
    ] {
        assert!(stdout.contains(expected), "{expected:?} not in\n{stdout}");
    }
}
