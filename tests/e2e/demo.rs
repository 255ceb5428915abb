//! The README's quick start: `scripts/demo --check` brings up the demo (stand-in cluster,
//! exporter, Prometheus, the adapter), runs the `kubectl get --raw` commands it prints, checks
//! every answer has items, and stops everything.

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
}
