//! The plain manifests stay in step with the chart and the binary: deploy/ is what the chart
//! renders (scripts/render-deploy), `kubectl apply -f deploy/` creates the namespace first and
//! registers only the APIs its rules serve (custom metrics; never metrics.k8s.io, which would
//! replace metrics-server), deploy/resource-metrics/ adds metrics.k8s.io with the rules that
//! serve it, and in both the Deployment's args are flags the adapter accepts and the rules load
//! without warnings.

use std::path::PathBuf;
use std::process::Command;

use metrics_adapter::cli::{self, Command as Subcommand};
use serde_json::Value;

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn documents(file: &str) -> Vec<Value> {
    let path = deploy_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// The files `kubectl apply -f DIR` reads: .yaml, .yml and .json, not recursing.
fn applied_files(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(deploy_dir().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        })
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
}

#[test]
fn deploy_is_what_the_chart_renders() {
    let output = Command::new("python3")
        .args(["tests/chart/render.py", "deploy", "--check"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run python3; see .ci/install-test-deps");
    assert!(
        output.status.success(),
        "deploy/ is not what the chart renders; run scripts/render-deploy:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn each_directory_registers_only_what_its_rules_serve() {
    // A plain apply of deploy/ reads one file; the chart's directory is not read (no -R).
    assert_eq!(applied_files("."), ["metrics-adapter.yaml"]);
    assert_eq!(applied_files("resource-metrics"), ["metrics-adapter.yaml"]);
    let custom = [
        "v1beta2.custom.metrics.k8s.io",
        "v1beta1.custom.metrics.k8s.io",
    ];
    for (file, resource_metrics) in [
        ("metrics-adapter.yaml", false),
        ("resource-metrics/metrics-adapter.yaml", true),
    ] {
        let docs = documents(file);

        // The namespace comes first, so one apply creates it before what lives in it.
        assert_eq!(docs[0]["kind"], "Namespace", "{file}");
        let namespace = docs[0]["metadata"]["name"].as_str().unwrap();
        assert_eq!(namespace, "monitoring");
        for doc in &docs[1..] {
            if let Some(ns) = doc["metadata"]["namespace"].as_str() {
                assert!(
                    ns == namespace || ns == "kube-system",
                    "{file}: {} {} in {ns}",
                    doc["kind"],
                    doc["metadata"]["name"]
                );
            }
        }
        // The APIServices come last, when their Service and Deployment exist.
        let first_api = docs.iter().position(|d| d["kind"] == "APIService").unwrap();
        assert!(docs[first_api..].iter().all(|d| d["kind"] == "APIService"));

        let deployment = of_kind(&docs, "Deployment")[0];
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert!(
            container.get("command").is_none(),
            "{file}: the image's entrypoint runs"
        );
        let mut args = vec!["/adapter".to_string()];
        args.extend(
            container["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string()),
        );
        match cli::try_parse(&args) {
            Ok(parsed) => assert!(matches!(parsed.command, Subcommand::Serve(_))),
            Err(e) => panic!("{file}: {args:?}: {e}"),
        }

        let config = of_kind(&docs, "ConfigMap")[0]["data"]["config.yaml"]
            .as_str()
            .unwrap()
            .to_string();
        let rules = metrics_adapter::rules::parse(&config, file).unwrap();
        assert!(rules.warnings.is_empty(), "{file}: {:?}", rules.warnings);
        assert!(!rules.custom.is_empty(), "{file}");
        assert!(rules.external.is_empty(), "{file}");
        assert_eq!(rules.resource.is_some(), resource_metrics, "{file}");

        let services: Vec<&str> = of_kind(&docs, "APIService")
            .iter()
            .map(|s| s["metadata"]["name"].as_str().unwrap())
            .collect();
        let mut expected = custom.to_vec();
        if resource_metrics {
            expected.push("v1beta1.metrics.k8s.io");
        }
        assert_eq!(services, expected, "{file}");
        for service in of_kind(&docs, "APIService") {
            assert_eq!(service["apiVersion"], "apiregistration.k8s.io/v1");
            assert_eq!(service["spec"]["service"]["namespace"], namespace);
            assert_eq!(
                service["spec"]["service"]["name"],
                of_kind(&docs, "Service")[0]["metadata"]["name"]
            );
        }
    }
}
