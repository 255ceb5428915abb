//! `metrics-adapter check --lister-kubeconfig`: resource overrides checked against the API
//! discovery of a cluster (the Kubernetes API double), and `--strict`'s exit status.

use std::path::Path;

use crate::support::kube::{KubeDouble, ResourceType, TEST_TOKEN};

/// One override the double serves (Seldon's models, a CRD it registers at start) and one it does
/// not (yet).
const RULES: &str = r#"rules:
- seriesQuery: 'seldon_model_infer_total{namespace!="",model!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      model: {group: mlops.seldon.io, resource: model}
  name: {matches: ^seldon_model_infer_total$, as: infer_rps}
  metricsQuery: sum by (<<.GroupBy>>) (rate(<<.Series>>{<<.LabelMatchers>>}[2m]))
- seriesQuery: 'cheddar{brand!=""}'
  resources:
    overrides:
      brand: {group: cheese.io, resource: brand}
  name: {as: cheesy_goodness}
  metricsQuery: count(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
"#;

/// `check` with these args: (exit code, stdout, stderr).
async fn check(args: &[&str]) -> (i32, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_metrics-adapter"))
        .arg("check")
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run metrics-adapter check");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A kubeconfig for the double, as an operator would write one for a cluster.
fn write_kubeconfig(path: &Path, server: &str, token: &str) -> String {
    std::fs::write(
        path,
        format!(
            "apiVersion: v1
kind: Config
clusters:
- name: double
  cluster:
    server: {server}
users:
- name: lint
  user:
    token: {token}
contexts:
- name: double
  context:
    cluster: double
    user: lint
current-context: double
"
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overrides_are_checked_against_the_clusters_discovery() {
    let cluster = KubeDouble::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(&dir.path().join("kubeconfig"), cluster.url(), TEST_TOKEN);
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, RULES).unwrap();
    let config = format!("--config={}", rules.display());
    let with_cluster = format!("--lister-kubeconfig={kubeconfig}");

    // Without a kubeconfig the lint is skipped silently, even under --strict.
    let (code, stdout, stderr) = check(&[&config, "--strict"]).await;
    assert_eq!((code, stderr.as_str()), (0, ""), "{stdout}");
    assert!(cluster.requests().is_empty());

    // With it: one warning, for the resource the cluster lacks; the CRD it serves is found.
    let (code, stdout, stderr) = check(&[&config, &with_cluster]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "warning: {}:12:43: rules[1] (seriesQuery \"cheddar{{brand!=\\\"\\\"}}\"): resources.overrides.brand: the cluster serves no resource \"brand.cheese.io\" (its API discovery does not list it): series with label \"brand\" map to nothing; install what serves it (a CRD) or correct the group and resource\n",
            rules.display()
        )
    );
    assert!(stdout.contains("rules[1] (line 9)"), "{stdout}");
    let paths: Vec<String> = cluster.requests().into_iter().map(|r| r.path).collect();
    assert!(paths.iter().any(|p| p == "/apis"), "{paths:?}");

    let (code, stdout, _) = check(&[&config, &with_cluster, "-o", "json"]).await;
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["warnings"][0]["kind"], "unknown-resource");
    assert_eq!(doc["warnings"][0]["field"], "resources.overrides.brand");
    assert_eq!(doc["warnings"].as_array().unwrap().len(), 1);

    let (code, _, stderr) = check(&[&config, &with_cluster, "--strict"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.ends_with(": refused, 1 warning (--strict)\n"),
        "{stderr}"
    );

    // Once the cluster serves the resource, the file passes --strict.
    cluster.add_resource(ResourceType::custom(
        "cheese.io",
        "v1",
        "brands",
        "Brand",
        true,
    ));
    let (code, _, stderr) = check(&[&config, &with_cluster, "--strict"]).await;
    assert_eq!((code, stderr.as_str()), (0, ""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_refuses_the_token_is_an_error_not_a_skip() {
    let cluster = KubeDouble::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(
        &dir.path().join("kubeconfig"),
        cluster.url(),
        "not-a-known-token",
    );
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, RULES).unwrap();
    let (code, stdout, stderr) = check(&[
        &format!("--config={}", rules.display()),
        &format!("--lister-kubeconfig={kubeconfig}"),
    ])
    .await;
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert!(
        stderr.starts_with(&format!(
            "--lister-kubeconfig {kubeconfig}: cannot read the cluster's API discovery: "
        )),
        "{stderr}"
    );
}
