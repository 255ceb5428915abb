//! `metrics-adapter explain`: why a metric has the value it has, or why an HPA shows
//! `<unknown>`, for an API path (as `kubectl get --raw` takes it) or an `autoscaling/v2` HPA
//! (a manifest, or one read from the cluster).
//!
//! It runs the adapter's own code against the cluster and Prometheus, with `serve`'s flags
//! (`--config`, `--lister-kubeconfig`, `--prometheus-url` …), or asks a running adapter's
//! `/debug/explain` with `--server` (as the kubeconfig's user, or with `--token`).

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use clap::{ArgGroup, Args, ValueEnum};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;

use super::serve::{ClusterArgs, PrometheusArgs, RulesArgs, StartError, prometheus_config};
use crate::api::routes::{self, Params};
use crate::api::status::ApiError;
use crate::explain::{Explainer, Explanation, render_table};
use crate::kube::remote::{self, Remote};
use crate::kube::{self, Cluster, ClusterOptions};
use crate::prometheus::PrometheusClient;
use crate::provider::Provider;
use crate::registry::Registry;
use crate::rules;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    /// A readable table.
    #[default]
    Table,
    /// JSON, stable for scripts (the answer of `/debug/explain`).
    Json,
}

/// Flags of `explain`.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("what").required(true).multiple(true).args(["path", "file", "hpa"])))]
pub struct ExplainArgs {
    /// A metrics API path with its query, as `kubectl get --raw` takes it
    /// ('/apis/custom.metrics.k8s.io/v1beta1/namespaces/NS/pods/*/METRIC?labelSelector=app%3Dweb').
    #[arg(value_name = "PATH", conflicts_with_all = ["file", "hpa"])]
    pub path: Option<String>,
    /// An autoscaling/v2 HorizontalPodAutoscaler manifest (YAML or JSON; `-` reads stdin); with
    /// several HPAs in it, --hpa picks one.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The HPA to explain: read from the cluster (with -n), or picked from -f's manifest.
    #[arg(long, value_name = "NAME")]
    pub hpa: Option<String>,
    /// The HPA's namespace (for --hpa, and for a manifest without one).
    #[arg(short = 'n', long, value_name = "NAMESPACE", default_value = "default")]
    pub namespace: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Ask the running adapter at this URL (its /debug/explain) instead of Prometheus and the
    /// cluster, as the kubeconfig's current user.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// With --server: the kubeconfig whose user and TLS settings to use [default: $KUBECONFIG
    /// or ~/.kube/config].
    #[arg(long, value_name = "FILE", requires = "server")]
    pub kubeconfig: Option<PathBuf>,
    /// With --server: a bearer token to send instead of the kubeconfig's credentials.
    #[arg(long, value_name = "TOKEN", requires = "server")]
    pub token: Option<String>,
    /// With --server: the CA bundle of the adapter's serving certificate.
    #[arg(long, value_name = "FILE", requires = "server")]
    pub certificate_authority: Option<PathBuf>,
    /// With --server: do not verify the adapter's serving certificate.
    #[arg(long, requires = "server")]
    pub insecure_skip_tls_verify: bool,
    #[command(flatten)]
    pub rules: RulesArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
}

/// What `explain` prints and how it exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// For stdout.
    pub stdout: String,
    /// For stderr.
    pub stderr: String,
    /// 0: every metric is served; 1: some metric would be `<unknown>` (or the HPA would not
    /// scale); 2: nothing could be explained.
    pub code: u8,
}

impl Report {
    fn failed(message: impl std::fmt::Display) -> Report {
        Report {
            stdout: String::new(),
            stderr: format!("metrics-adapter explain: {message}\n"),
            code: 2,
        }
    }
}

/// The HPAs of a manifest (every document of kind HorizontalPodAutoscaler).
fn hpas_of(text: &str, file: &str) -> Result<Vec<HorizontalPodAutoscaler>, String> {
    let documents: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).map_err(|e| format!("{file}: {e}"))?;
    documents
        .into_iter()
        .filter(|d| d.get("kind").and_then(|k| k.as_str()) == Some("HorizontalPodAutoscaler"))
        .map(|d| {
            let version = d
                .get("apiVersion")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            if version != "autoscaling/v2" {
                return Err(format!(
                    "{file}: an HPA of apiVersion {version:?}: explain reads autoscaling/v2 (kubectl get hpa NAME -o yaml shows it in that version)"
                ));
            }
            serde_json::from_value(d).map_err(|e| format!("{file}: {e}"))
        })
        .collect()
}

/// The one HPA of the manifest to explain, in its namespace.
fn pick_hpa(args: &ExplainArgs, file: &PathBuf) -> Result<HorizontalPodAutoscaler, String> {
    let shown = file.display().to_string();
    let text = if shown == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("stdin: {e}"))?
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("{shown}: {e}"))?
    };
    let hpas = hpas_of(&text, &shown)?;
    let mut chosen: Vec<HorizontalPodAutoscaler> = match &args.hpa {
        Some(name) => hpas
            .into_iter()
            .filter(|h| h.metadata.name.as_deref() == Some(name.as_str()))
            .collect(),
        None => hpas,
    };
    let names = || {
        chosen
            .iter()
            .filter_map(|h| h.metadata.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match chosen.len() {
        0 => Err(match &args.hpa {
            Some(name) => format!("{shown} has no HorizontalPodAutoscaler named {name}"),
            None => format!("{shown} has no HorizontalPodAutoscaler"),
        }),
        1 => {
            let mut hpa = chosen.remove(0);
            hpa.metadata
                .namespace
                .get_or_insert_with(|| args.namespace.clone());
            Ok(hpa)
        }
        _ => Err(format!(
            "{shown} has several HorizontalPodAutoscalers ({}): pick one with --hpa",
            names()
        )),
    }
}

fn print(explanation: &Explanation, output: Output) -> Report {
    let stdout = match output {
        Output::Table => render_table(explanation),
        Output::Json => {
            let mut json = serde_json::to_string_pretty(explanation).unwrap_or_default();
            json.push('\n');
            json
        }
    };
    Report {
        stdout,
        stderr: String::new(),
        code: if explanation.all_served() { 0 } else { 1 },
    }
}

/// Ask a running adapter.
async fn ask(args: &ExplainArgs, server: &str) -> Result<Explanation, String> {
    if let Some(config) = &args.rules.config {
        return Err(format!(
            "--server asks a running adapter, which has its own rules: --config {} is for explaining without one",
            config.display()
        ));
    }
    if args.file.is_some() {
        return Err(
            "--server explains an HPA of the cluster (--hpa NAME -n NAMESPACE), not a manifest"
                .into(),
        );
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    match (&args.path, &args.hpa) {
        (Some(path), _) => query.append_pair("path", path),
        (None, Some(name)) => query.append_pair("hpa", &format!("{}/{name}", args.namespace)),
        (None, None) => return Err("give a path, -f FILE or --hpa NAME".into()),
    };
    let remote = Remote {
        server: server.to_string(),
        kubeconfig: args.kubeconfig.clone(),
        token: args.token.clone(),
        certificate_authority: args.certificate_authority.clone(),
        insecure_skip_tls_verify: args.insecure_skip_tls_verify,
    };
    let body = remote::get(&remote, &format!("/debug/explain?{}", query.finish()))
        .await
        .map_err(|e| format!("{server}: {e}"))?;
    serde_json::from_str(&body)
        .map_err(|e| format!("{server} answered something else than an explanation: {e}"))
}

/// Explain without a running adapter: the rules, Prometheus and the cluster, as `serve` builds
/// them, after one relist.
async fn locally(args: &ExplainArgs, stderr: &mut String) -> Result<Explanation, String> {
    let file = args.rules.config_file().map_err(|e| e.to_string())?;
    let rules = rules::load(file).map_err(|e| StartError::Rules(e).to_string())?;
    for warning in &rules.warnings {
        stderr.push_str(&format!("warning: {}:{warning}\n", file.display()));
    }
    let options = args
        .rules
        .registry_options(&rules, &args.prometheus)
        .map_err(|e| e.to_string())?;
    let config = prometheus_config(&args.prometheus).map_err(|e| e.to_string())?;
    let prometheus = PrometheusClient::new(config).map_err(|e| e.to_string())?;
    let client = kube::client(args.cluster.lister_kubeconfig.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let cluster = Cluster::connect(client, ClusterOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let registry = Registry::new(
        Arc::new(rules),
        prometheus.clone(),
        options,
        Box::new(|_| {}),
    );
    // What a starting adapter serves: a failed listing is explained per metric.
    registry.relist(&cluster.catalog()).await;
    let provider = Provider::new(
        Arc::new(ArcSwap::from_pointee(registry)),
        cluster,
        prometheus,
    );
    let explainer = Explainer::new(provider);
    match (&args.path, &args.file, &args.hpa) {
        (Some(path), _, _) => {
            let request =
                routes::explain_request(path, &Params::default()).map_err(|e| match e {
                    ApiError::BadRequest(message) => message,
                    other => format!("{other:?}"),
                })?;
            Ok(explainer.request(&request, path).await)
        }
        (None, Some(file), _) => {
            let hpa = pick_hpa(args, file)?;
            Ok(explainer.hpa(&hpa).await)
        }
        (None, None, Some(name)) => explainer
            .hpa_named(&args.namespace, name)
            .await
            .map_err(|e| e.to_string()),
        (None, None, None) => Err("give a path, -f FILE or --hpa NAME".into()),
    }
}

/// Run `explain`.
pub async fn run(args: &ExplainArgs) -> Report {
    let mut stderr = String::new();
    let explained = match &args.server {
        Some(server) => ask(args, server).await,
        None => locally(args, &mut stderr).await,
    };
    match explained {
        Ok(explanation) => {
            let mut report = print(&explanation, args.output);
            report.stderr = stderr;
            report
        }
        Err(e) => {
            let mut report = Report::failed(e);
            report.stderr.insert_str(0, &stderr);
            report
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_give_their_autoscaling_v2_hpas() {
        let text = r#"
apiVersion: v1
kind: Service
metadata: {name: web}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 5
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api, namespace: prod}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  maxReplicas: 3
"#;
        let hpas = hpas_of(text, "f.yaml").unwrap();
        let names: Vec<&str> = hpas
            .iter()
            .filter_map(|h| h.metadata.name.as_deref())
            .collect();
        assert_eq!(names, ["web", "api"]);
        let v1 = "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: x}\n";
        assert!(
            hpas_of(v1, "f.yaml")
                .unwrap_err()
                .contains("explain reads autoscaling/v2")
        );
    }
}
