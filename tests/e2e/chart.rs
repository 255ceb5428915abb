//! The Helm chart (deploy/helm/metrics-adapter), rendered by Helm's own engine through
//! tests/chart/render.py: every object it renders validated against the Kubernetes schemas
//! (tests/chart/test_chart.py), every rules ConfigMap it renders accepted by
//! `metrics-adapter check`, the binary started with the rendered Deployment's container args
//! and rules and answering, and the image's entrypoint being what the Deployment runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use metrics_adapter::cli::{self, Command as Subcommand};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::adapter::https_client;
use crate::support::harness::{self, ChildProcess, START_ATTEMPTS, Startup};
use crate::support::world::World;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run python3 on one of tests/chart's scripts, from the repository root.
fn python(args: &[&str]) -> Output {
    Command::new("python3")
        .args(args)
        .current_dir(root())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("run python3 {args:?}: {e}; see .ci/install-test-deps"))
}

fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The objects the chart renders with these values files (tests/chart/values/), validated.
pub fn render(values: &[&str]) -> Vec<Value> {
    let mut args = vec!["tests/chart/render.py", "objects"];
    for file in values {
        args.extend(["--values", file]);
    }
    let output = python(&args);
    assert_success(&output, &format!("rendering the chart with {values:?}"));
    serde_json::from_slice(&output.stdout).expect("render.py prints JSON")
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn deployment(objects: &[Value]) -> &Value {
    let found = of_kind(objects, "Deployment");
    assert_eq!(found.len(), 1, "one Deployment");
    found[0]
}

fn container(objects: &[Value]) -> &Value {
    &deployment(objects)["spec"]["template"]["spec"]["containers"][0]
}

fn args(objects: &[Value]) -> Vec<String> {
    container(objects)["args"]
        .as_array()
        .expect("container args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_string())
        .collect()
}

/// The rules file the Deployment mounts at /etc/adapter, when the chart renders it.
fn rules_configmap(objects: &[Value]) -> Option<String> {
    let volumes = deployment(objects)["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .expect("pod volumes");
    let name = volumes
        .iter()
        .find(|v| v["name"] == "config")
        .expect("the config volume")["configMap"]["name"]
        .clone();
    of_kind(objects, "ConfigMap")
        .into_iter()
        .find(|c| c["metadata"]["name"] == name)
        .map(|c| {
            c["data"]["config.yaml"]
                .as_str()
                .expect("config.yaml")
                .to_string()
        })
}

/// The values sets the chart is rendered with (files in tests/chart/values/).
const VALUE_SETS: &[&[&str]] = &[
    &[],
    &["every-key.yaml"],
    &["external-only.yaml"],
    &["resource-only.yaml"],
    &["no-rules.yaml"],
    &["tls.yaml"],
    &["cert-manager.yaml"],
    &["deploy.yaml"],
    &["deploy.yaml", "deploy-resource-metrics.yaml"],
];

#[test]
fn chart_objects_validate_and_follow_the_values() {
    let output = python(&["tests/chart/test_chart.py"]);
    assert_success(&output, "tests/chart/test_chart.py");
    // unittest reports on stderr; quote the skips so a missing ../shared is visible.
    let report = String::from_utf8_lossy(&output.stderr);
    for line in report.lines().filter(|l| l.contains("skipped")) {
        eprintln!("tests/chart/test_chart.py: {line}");
    }
    assert!(report.contains("\nOK"), "{report}");
}

#[test]
fn every_rendered_rules_file_passes_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for values in VALUE_SETS {
        let objects = render(values);
        let Some(rules) = rules_configmap(&objects) else {
            panic!("{values:?}: the chart rendered no rules ConfigMap");
        };
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, &rules).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_metrics-adapter"))
            .arg("check")
            .arg("--strict")
            .arg(format!("--config={}", path.display()))
            .output()
            .unwrap();
        assert_success(
            &output,
            &format!("check of the rules rendered with {values:?}"),
        );
        let loaded = metrics_adapter::rules::parse(&rules, "config.yaml")
            .unwrap_or_else(|e| panic!("{values:?}: {e:?}"));
        assert!(
            loaded.warnings.is_empty(),
            "{values:?}: {:?}",
            loaded.warnings
        );
        checked += 1;
    }
    assert_eq!(checked, VALUE_SETS.len());
    // An existing ConfigMap is mounted instead of one the chart renders.
    assert_eq!(rules_configmap(&render(&["existing-configmap.yaml"])), None);
}

/// The rendered args with the pod's paths and addresses replaced by this test's: the port, the
/// certificate directory and files, the rules file and Prometheus. Every other arg is kept as
/// rendered; none of them may name a file inside the pod.
fn remap(rendered: &[String], port: u16, dir: &Path, prometheus: &str) -> Vec<String> {
    rendered
        .iter()
        .map(|arg| {
            let (flag, value) = arg.split_once('=').unwrap_or((arg, ""));
            let local = |name: &str| format!("{flag}={}", dir.join(name).display());
            match flag {
                "--secure-port" => format!("{flag}={port}"),
                "--cert-dir" => local("cert"),
                "--tls-cert-file" => local("tls.crt"),
                "--tls-private-key-file" => local("tls.key"),
                "--config" => local("config.yaml"),
                "--prometheus-url" => format!("{flag}={prometheus}"),
                _ => {
                    assert!(
                        !value.starts_with('/'),
                        "{arg}: a path in the pod this test does not provide"
                    );
                    arg.clone()
                }
            }
        })
        .collect()
}

/// Start the binary with the chart's args for these values; its /readyz answers 200.
async fn start_rendered(values: &[&str], world: &World) -> (ChildProcess, u16, tempfile::TempDir) {
    let objects = render(values);
    let rendered = args(&objects);
    assert!(
        container(&objects).get("command").is_none(),
        "the chart runs the image's entrypoint"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        rules_configmap(&objects).expect("rules ConfigMap"),
    )
    .unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(dir.path().join("tls.crt"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), cert.signing_key.serialize_pem()).unwrap();
    let client = https_client();
    for _ in 0..START_ATTEMPTS {
        let port = harness::free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_metrics-adapter"));
        command
            .args(remap(
                &rendered,
                port,
                dir.path(),
                world.prometheus.base_url(),
            ))
            // In the pod these come from the service account and the Service.
            .arg("--bind-address=127.0.0.1")
            .arg(format!(
                "--lister-kubeconfig={}",
                world.cluster.kubeconfig().display()
            ));
        let mut process =
            ChildProcess::spawn("metrics-adapter", command, &dir.path().join("adapter.log"));
        let url = format!("https://127.0.0.1:{port}/readyz");
        let startup = harness::await_ready(&mut process, || {
            let client = client.clone();
            let url = url.clone();
            async move {
                client
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == StatusCode::OK)
            }
        })
        .await;
        if let Startup::Ready = startup {
            return (process, port, dir);
        }
    }
    panic!("the adapter could not bind a port in {START_ATTEMPTS} attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_container_args_and_rules_start_the_server() {
    let world = World::asr(2.0, |_, _| {}).await;
    // The defaults (the community chart's rules, a self-signed certificate) and every key set
    // (a serving certificate from a Secret, extra arguments, all three kinds of rules).
    for values in [&[][..], &["every-key.yaml"][..]] {
        let (process, port, _dir) = start_rendered(values, &world).await;
        let path =
            "/apis/custom.metrics.k8s.io/v1beta2/namespaces/speech/pods/%2A/asr_active_requests";
        let response = https_client()
            .get(format!("https://127.0.0.1:{port}{path}"))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "{values:?}: {body}\n{}",
            process.log_tail(30)
        );
        assert_eq!(body["items"][0]["describedObject"]["name"], "asr-0");
        assert_eq!(body["items"][0]["value"], "2", "{values:?}: {body}");
        drop(process);
    }
}

/// The lines of the Dockerfile's last stage (the image that ships).
fn final_stage(dockerfile: &str) -> Vec<&str> {
    let lines: Vec<&str> = dockerfile.lines().map(str::trim).collect();
    let last_from = lines
        .iter()
        .rposition(|l| l.starts_with("FROM "))
        .expect("a FROM line");
    lines[last_from..].to_vec()
}

/// Whether .dockerignore leaves `path` in the build context (its last matching pattern wins).
fn in_build_context(dockerignore: &str, path: &str) -> bool {
    let mut included = true;
    for line in dockerignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (negated, pattern) = match line.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, line),
        };
        let pattern = pattern.trim_end_matches('/');
        if pattern == "*" || path == pattern || path.starts_with(&format!("{pattern}/")) {
            included = negated;
        }
    }
    included
}

#[test]
fn the_image_entrypoint_is_what_the_chart_runs() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let stage = final_stage(&dockerfile);
    assert_eq!(
        stage
            .iter()
            .filter(|l| l.starts_with("ENTRYPOINT"))
            .collect::<Vec<_>>(),
        [&r#"ENTRYPOINT ["/adapter"]"#]
    );
    assert!(
        stage
            .iter()
            .any(|l| l.starts_with("COPY --from=build ") && l.ends_with(" /adapter")),
        "the binary is copied to /adapter"
    );
    assert!(
        !stage.iter().any(|l| l.starts_with("CMD")),
        "no CMD: the chart's args are the only arguments"
    );
    let user = stage
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    let uid = user.split(':').next().unwrap();
    assert!(uid != "0" && uid != "root", "runs as non-root, not {user}");

    // The chart sets no command, so the entrypoint runs with the rendered args; the binary
    // takes them as `serve` flags.
    for values in [&[][..], &["every-key.yaml"][..]] {
        let objects = render(values);
        assert!(container(&objects).get("command").is_none());
        let mut argv = vec!["/adapter".to_string()];
        argv.extend(args(&objects));
        match cli::try_parse(&argv) {
            Ok(parsed) => assert!(matches!(parsed.command, Subcommand::Serve(_)), "{argv:?}"),
            Err(e) => panic!("{argv:?}: {e}"),
        }
    }

    // One version and one toolchain everywhere.
    let arg = |name: &str| {
        dockerfile
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("ARG {name}=")))
            .unwrap_or_else(|| panic!("ARG {name}= in the Dockerfile"))
            .to_string()
    };
    let toolchain = std::fs::read_to_string(root().join("rust-toolchain.toml")).unwrap();
    assert!(
        toolchain.contains(&format!("channel = \"{}\"", arg("RUST_VERSION"))),
        "the Dockerfile's RUST_VERSION is rust-toolchain.toml's channel"
    );
    assert_eq!(arg("VERSION"), env!("CARGO_PKG_VERSION"));
    let chart =
        std::fs::read_to_string(root().join("deploy/helm/metrics-adapter/Chart.yaml")).unwrap();
    assert!(
        chart.contains(&format!("appVersion: \"{}\"", env!("CARGO_PKG_VERSION"))),
        "the chart's appVersion is the crate's version"
    );
    assert!(dockerfile.contains("ARG TARGETARCH"));
    for arch in ["amd64)", "arm64)"] {
        assert!(dockerfile.contains(arch), "builds for {arch}");
    }

    // The build context: what the Dockerfile copies, never target/ or .git.
    let dockerignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    for path in [
        "Cargo.toml",
        "Cargo.lock",
        "rust-toolchain.toml",
        "src/main.rs",
        "benches/core.rs",
    ] {
        assert!(in_build_context(&dockerignore, path), "{path} is sent");
    }
    for path in [
        "target/release/metrics-adapter",
        ".git/HEAD",
        "tests/e2e/main.rs",
    ] {
        assert!(!in_build_context(&dockerignore, path), "{path} is not sent");
    }
}
