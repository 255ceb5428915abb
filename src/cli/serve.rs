//! `metrics-adapter serve`: the flags of prometheus-adapter (names, defaults and forms kept, so
//! the Helm chart's args work unchanged) and the start-up sequence.
//!
//! Flags that configure machinery prometheus-adapter inherits from the Kubernetes apiserver
//! library and that metrics-adapter does not have (audit logs, profiling …) are accepted so
//! that existing manifests start, and each one that is set is named in a warning at start-up.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use clap::{ArgAction, Args};

use crate::api::discovery::{Apis, Discovery};
use crate::api::{self, ApiState};
use crate::kube::{self, AuthenticationConfig, Cluster, ClusterOptions, Reviewer};
use crate::prometheus::{ClientConfig, PrometheusClient, Verb};
use crate::provider::Provider;
use crate::registry::{
    self, DiscoveryMode, DiscoveryOptions, Registry, RegistryOptions, SharedRegistry,
};
use crate::reload::{ConfigSource, Poll};
use crate::rules::Rules;
use crate::server::auth::{Auth, AuthOptions};
use crate::server::tls::{self, TlsOptions};
use crate::server::{self, Limits, ServeOptions};
use crate::supervisor::{Importance, Supervisor};
use crate::{rules, telemetry};

/// Parse a Go duration (`10m`, `1m30s`, `1.5h`, `500ms`, `0`), as Go's `time.ParseDuration`.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {text:?} (examples: 30s, 1m, 10m0s, 1h)");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() || text.starts_with('-') {
        return Err(invalid());
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let (number, after) = rest.split_at_checked(number_len).ok_or_else(invalid)?;
        let number: f64 = number.parse().map_err(|_| invalid())?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at_checked(unit_len).ok_or_else(invalid)?;
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        rest = after;
        total += number * scale;
    }
    Duration::try_from_secs_f64(total).map_err(|_| invalid())
}

/// A Go duration that is not zero.
fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match parse_go_duration(text)? {
        d if d.is_zero() => Err("must be more than 0".into()),
        d => Ok(d),
    }
}

/// Where and how to reach Prometheus.
#[derive(Debug, Clone, Args)]
pub struct PrometheusArgs {
    /// URL of the Prometheus API; a path (`http://host/prometheus/`) is kept.
    #[arg(long, value_name = "URL", default_value = "https://localhost")]
    pub prometheus_url: url::Url,
    /// Use the pod's service account (CA and token) to talk to Prometheus.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", value_parser = parse_go_bool)]
    pub prometheus_auth_incluster: bool,
    /// A kubeconfig whose CA, client certificate and token are used to talk to Prometheus.
    #[arg(long, value_name = "FILE")]
    pub prometheus_auth_config: Option<PathBuf>,
    /// CA bundle to verify Prometheus' serving certificate.
    #[arg(long, value_name = "FILE")]
    pub prometheus_ca_file: Option<PathBuf>,
    /// Client certificate for mutual TLS with Prometheus (with the key).
    #[arg(long, value_name = "FILE", requires = "prometheus_client_tls_key_file")]
    pub prometheus_client_tls_cert_file: Option<PathBuf>,
    /// Client key for mutual TLS with Prometheus (with the certificate).
    #[arg(
        long,
        value_name = "FILE",
        requires = "prometheus_client_tls_cert_file"
    )]
    pub prometheus_client_tls_key_file: Option<PathBuf>,
    /// File holding a bearer token for Prometheus; re-read when it changes.
    #[arg(long, value_name = "FILE")]
    pub prometheus_token_file: Option<PathBuf>,
    /// A header to send to Prometheus, `name=value` (repeatable).
    #[arg(long, value_name = "NAME=VALUE", action = ArgAction::Append)]
    pub prometheus_header: Vec<String>,
    /// HTTP verb for API calls: POST (the default; no URL length limit) or GET.
    #[arg(long, value_name = "VERB", default_value = "POST", value_parser = parse_verb)]
    pub prometheus_verb: Verb,
    /// Timeout of one call to Prometheus; keep it below the API server's.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_go_duration)]
    pub prometheus_timeout: Duration,
    /// Timeout of each call of a relist (no client waits on it; a series listing of a big
    /// Prometheus takes longer than a query).
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_go_duration)]
    pub prometheus_discovery_timeout: Duration,
    /// Calls to Prometheus in progress at once; more wait for a free one (within their timeout).
    #[arg(long, value_name = "N", default_value = "32", value_parser = parse_positive_count)]
    pub prometheus_max_concurrency: usize,
    /// The largest Prometheus answer accepted, decompressed (a Kubernetes quantity: 256Mi).
    #[arg(long, value_name = "BYTES", default_value = "256Mi", value_parser = parse_byte_size)]
    pub prometheus_max_response_size: usize,
}

fn parse_positive_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) | Err(_) => Err(format!("{text:?} is not a positive whole number")),
        Ok(n) => Ok(n),
    }
}

/// A byte count written as a Kubernetes quantity (`1048576`, `512Ki`, `256Mi`, `1Gi`).
fn parse_byte_size(text: &str) -> Result<usize, String> {
    let bytes = text
        .parse::<crate::quantity::Quantity>()
        .map_err(|e| format!("{text:?} is not a size: {e}"))?
        .as_f64();
    if bytes.fract() != 0.0 || !(1.0..=(1u64 << 50) as f64).contains(&bytes) {
        return Err(format!("{text:?} is not a size between 1 and 1Pi bytes"));
    }
    Ok(bytes as usize)
}

fn parse_verb(text: &str) -> Result<Verb, String> {
    match text {
        "GET" => Ok(Verb::Get),
        "POST" => Ok(Verb::Post),
        other => Err(format!(
            "unsupported Prometheus HTTP verb {other:?}; supported verbs: \"GET\" and \"POST\""
        )),
    }
}

/// The HTTPS listener.
#[derive(Debug, Clone, Args)]
pub struct ServingArgs {
    /// Port to serve HTTPS on.
    #[arg(long, value_name = "PORT", default_value_t = 443)]
    pub secure_port: u16,
    /// Address to listen on.
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    /// Directory for the self-signed certificate made when no --tls-cert-file is given.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "apiserver.local.config/certificates"
    )]
    pub cert_dir: PathBuf,
    /// Serving certificate (PEM, chain allowed).
    #[arg(long, value_name = "FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// Serving key (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_private_key_file: Option<PathBuf>,
    /// How often the serving certificate and key files are re-read; a changed pair is used for
    /// new connections (0: never).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_go_duration)]
    pub tls_reload_interval: Duration,
    /// Allowed TLS 1.2 cipher suites, Go names, comma-separated.
    #[arg(long, value_name = "SUITES", value_delimiter = ',')]
    pub tls_cipher_suites: Vec<String>,
    /// Minimum TLS version: VersionTLS12 or VersionTLS13.
    #[arg(long, value_name = "VERSION")]
    pub tls_min_version: Option<String>,
    /// Serve HTTP/1.1 only.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", value_parser = parse_go_bool)]
    pub disable_http2: bool,
    /// Requests served at once; beyond it, 429 with Retry-After (health checks are not counted).
    #[arg(long, value_name = "N", default_value_t = 400, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_requests_inflight: u32,
    /// How long a request may take before it is answered 504.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_positive_duration)]
    pub request_timeout: Duration,
    /// How long a client may take to send a request's headers (HTTP/1.1).
    #[arg(long, value_name = "DURATION", default_value = "32s", value_parser = parse_positive_duration)]
    pub header_read_timeout: Duration,
    /// How long a connection with no request in flight stays open (HTTP/1.1 and h2).
    #[arg(long, value_name = "DURATION", default_value = "90s", value_parser = parse_positive_duration)]
    pub idle_timeout: Duration,
    /// Concurrent HTTP/2 streams per connection (0: library default).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub http2_max_streams_per_connection: u32,
}

/// Delegated authentication and authorization, as prometheus-adapter's apiserver library has
/// them: front-proxy headers behind a verified client certificate, client certificates, bearer
/// tokens (TokenReview), then SubjectAccessReview.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Kubeconfig for TokenReviews and for reading the trust ConfigMap (default: as
    /// --lister-kubeconfig).
    #[arg(long, value_name = "FILE")]
    pub authentication_kubeconfig: Option<PathBuf>,
    /// Do not read kube-system/extension-apiserver-authentication; use only the flags.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", value_parser = parse_go_bool)]
    pub authentication_skip_lookup: bool,
    /// Start even if that ConfigMap cannot be read (proxied requests are then anonymous).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false", value_parser = parse_go_bool)]
    pub authentication_tolerate_lookup_failure: bool,
    /// How long token reviews are cached.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_go_duration)]
    pub authentication_token_webhook_cache_ttl: Duration,
    /// CA bundle for client certificates, user = CN, groups = O [default: from that ConfigMap].
    #[arg(long, value_name = "FILE")]
    pub client_ca_file: Option<PathBuf>,
    /// CA bundle of the front proxy's client certificate [default: from that ConfigMap].
    #[arg(long, value_name = "FILE")]
    pub requestheader_client_ca_file: Option<PathBuf>,
    /// CNs allowed for the front proxy's certificate [default: from that ConfigMap; empty: any
    /// from the CA].
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub requestheader_allowed_names: Vec<String>,
    /// Headers naming the user [default: from the cluster's extension-apiserver-authentication
    /// ConfigMap, else X-Remote-User].
    #[arg(long, value_name = "HEADERS", value_delimiter = ',')]
    pub requestheader_username_headers: Vec<String>,
    /// Headers naming the groups [default: from that ConfigMap, else X-Remote-Group].
    #[arg(long, value_name = "HEADERS", value_delimiter = ',')]
    pub requestheader_group_headers: Vec<String>,
    /// Prefixes of headers carrying extra user attributes [default: from that ConfigMap, else
    /// X-Remote-Extra-].
    #[arg(long, value_name = "PREFIXES", value_delimiter = ',')]
    pub requestheader_extra_headers_prefix: Vec<String>,
    /// Kubeconfig for SubjectAccessReviews (default: as --lister-kubeconfig).
    #[arg(long, value_name = "FILE")]
    pub authorization_kubeconfig: Option<PathBuf>,
    /// Paths served without authorization (exact, or prefix with a trailing `*`).
    #[arg(
        long,
        value_name = "PATHS",
        value_delimiter = ',',
        default_value = "/healthz,/readyz,/livez"
    )]
    pub authorization_always_allow_paths: Vec<String>,
    /// How long allowed access reviews are cached.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_go_duration)]
    pub authorization_webhook_cache_authorized_ttl: Duration,
    /// How long denied access reviews are cached.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_go_duration)]
    pub authorization_webhook_cache_unauthorized_ttl: Duration,
}

fn read_pem(flag: &str, path: &PathBuf) -> Result<String, StartError> {
    std::fs::read_to_string(path)
        .map_err(|e| StartError::Flag(format!("{flag}: {}: {e}", path.display())))
}

impl AuthArgs {
    /// The trust settings: the cluster's ConfigMap (unless skipped), overridden by the flags.
    async fn trust(&self, reviewer: &Reviewer) -> Result<AuthenticationConfig, StartError> {
        let mut config = AuthenticationConfig::default();
        if !self.authentication_skip_lookup {
            match reviewer.authentication_config().await {
                Ok(Some(found)) => config = found,
                Ok(None) => {}
                Err(e) if self.authentication_tolerate_lookup_failure => {
                    tracing::warn!(error = %e, "cannot read kube-system/extension-apiserver-authentication; continuing without it");
                }
                Err(e) => {
                    return Err(StartError::Flag(format!(
                        "--authentication-kubeconfig: cannot read kube-system/extension-apiserver-authentication ({e}); grant the Role extension-apiserver-authentication-reader, or pass --authentication-skip-lookup or --authentication-tolerate-lookup-failure"
                    )));
                }
            }
        }
        if let Some(path) = &self.client_ca_file {
            config.client_ca = Some(read_pem("--client-ca-file", path)?);
        }
        if let Some(path) = &self.requestheader_client_ca_file {
            config.requestheader_ca = Some(read_pem("--requestheader-client-ca-file", path)?);
        }
        let set = |flag: &[String], slot: &mut Vec<String>| {
            if !flag.is_empty() {
                *slot = flag.to_vec();
            }
        };
        set(&self.requestheader_allowed_names, &mut config.allowed_names);
        set(
            &self.requestheader_username_headers,
            &mut config.username_headers,
        );
        set(&self.requestheader_group_headers, &mut config.group_headers);
        set(
            &self.requestheader_extra_headers_prefix,
            &mut config.extra_prefixes,
        );
        Ok(config)
    }

    fn options(&self) -> AuthOptions {
        AuthOptions {
            always_allow_paths: self.authorization_always_allow_paths.clone(),
            always_allow_groups: vec!["system:masters".into()],
            token_cache_ttl: self.authentication_token_webhook_cache_ttl,
            authorized_ttl: self.authorization_webhook_cache_authorized_ttl,
            unauthorized_ttl: self.authorization_webhook_cache_unauthorized_ttl,
        }
    }
}

/// Build authentication and authorization; and the loop that keeps the trust settings fresh
/// (re-read every minute, as the apiserver library re-reads its CA files), for the supervisor.
async fn start_auth(
    args: &AuthArgs,
    lister: &::kube::Client,
) -> Result<(Arc<Auth>, impl Future<Output = ()> + Send + 'static), StartError> {
    let client_for = |path: &Option<PathBuf>| {
        let path = path.clone();
        let lister = lister.clone();
        async move {
            match path {
                Some(p) => kube::client(Some(&p)).await,
                None => Ok(lister),
            }
        }
    };
    let tokens = Reviewer::new(client_for(&args.authentication_kubeconfig).await?);
    let access = Reviewer::new(client_for(&args.authorization_kubeconfig).await?);
    let trust = args.trust(&tokens).await?;
    let auth = Arc::new(
        Auth::new(trust, tokens.clone(), access, args.options()).map_err(StartError::Flag)?,
    );
    let refreshed = auth.clone();
    let args = args.clone();
    let refresh = async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            match args.trust(&tokens).await {
                Ok(config) => {
                    if let Err(e) = refreshed.update_trust(config) {
                        tracing::warn!(error = %e, "new client authentication settings refused");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "refreshing client authentication settings failed")
                }
            }
        }
    };
    Ok((auth, refresh))
}

/// Logging.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Verbosity, as klog's: 0-2 info, 3-5 debug, 6 and more every Prometheus call.
    #[arg(long = "v", short = 'v', value_name = "LEVEL", default_value_t = 0)]
    pub verbosity: u8,
    /// Log line format: text or json.
    #[arg(long, visible_alias = "logging-format", value_enum, default_value_t = telemetry::LogFormat::Text)]
    pub log_format: telemetry::LogFormat,
    /// Logs go to stderr (klog's flag; `false` is accepted and has no effect).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "true", value_parser = parse_go_bool)]
    pub logtostderr: bool,
}

/// A boolean as Go's `strconv.ParseBool` reads it, so `--flag=True` or `--flag=1` work as they
/// do with prometheus-adapter.
pub fn parse_go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid boolean {text:?} (true or false)")),
    }
}

/// Whether a flag of [`INERT_FLAGS`] takes a value (`--flag=x`, `--flag x`) or is a boolean
/// (`--flag`, `--flag=false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    Value,
    Bool,
}

/// Flags prometheus-adapter v0.12 registers (from the Kubernetes apiserver library, klog and
/// custom-metrics-apiserver) for machinery metrics-adapter does not have: why they do nothing
/// here, whether they take a value, and their names. klog's flags are spelled with underscores;
/// the dashed spelling is accepted too.
const INERT_FLAGS: &[(&str, Takes, &[&str])] = &[
    (
        "audit logging is not implemented",
        Takes::Value,
        &[
            "audit-policy-file",
            "audit-log-path",
            "audit-log-maxage",
            "audit-log-maxbackup",
            "audit-log-maxsize",
            "audit-log-format",
            "audit-log-mode",
            "audit-log-version",
            "audit-log-batch-buffer-size",
            "audit-log-batch-max-size",
            "audit-log-batch-max-wait",
            "audit-log-batch-throttle-burst",
            "audit-log-batch-throttle-qps",
            "audit-log-truncate-max-batch-size",
            "audit-log-truncate-max-event-size",
            "audit-webhook-config-file",
            "audit-webhook-mode",
            "audit-webhook-initial-backoff",
            "audit-webhook-version",
            "audit-webhook-batch-buffer-size",
            "audit-webhook-batch-max-size",
            "audit-webhook-batch-max-wait",
            "audit-webhook-batch-throttle-burst",
            "audit-webhook-batch-throttle-qps",
            "audit-webhook-truncate-max-batch-size",
            "audit-webhook-truncate-max-event-size",
        ],
    ),
    (
        "audit logging is not implemented",
        Takes::Bool,
        &[
            "audit-log-compress",
            "audit-log-batch-throttle-enable",
            "audit-log-truncate-enabled",
            "audit-webhook-batch-throttle-enable",
            "audit-webhook-truncate-enabled",
        ],
    ),
    (
        "profiling endpoints are not served",
        Takes::Bool,
        &["profiling", "contention-profiling"],
    ),
    (
        "profiling endpoints are not served",
        Takes::Value,
        &["debug-socket-path"],
    ),
    (
        "requests are not queued by priority",
        Takes::Bool,
        &["enable-priority-and-fairness"],
    ),
    (
        "unused by prometheus-adapter too",
        Takes::Value,
        &["discovery-interval"],
    ),
    (
        "objects come from watch caches, not per-request lists",
        Takes::Value,
        &["client-qps", "client-burst"],
    ),
    (
        "SNI certificates are not supported",
        Takes::Value,
        &["tls-sni-cert-key"],
    ),
    (
        "the listener is never shared",
        Takes::Bool,
        &["permit-port-sharing", "permit-address-sharing"],
    ),
    (
        "the UID of a proxied user is not used",
        Takes::Value,
        &["requestheader-uid-headers"],
    ),
    (
        "per-module verbosity is not supported; use RUST_LOG",
        Takes::Value,
        &["vmodule"],
    ),
    (
        "logs are not buffered",
        Takes::Value,
        &["log-flush-frequency"],
    ),
    (
        "logs always go to stderr, unbuffered",
        Takes::Value,
        &[
            "stderrthreshold",
            "log_dir",
            "log_file",
            "log_file_max_size",
            "log_backtrace_at",
        ],
    ),
    (
        "logs always go to stderr, unbuffered",
        Takes::Bool,
        &["alsologtostderr", "one_output"],
    ),
    (
        "log lines have their own format",
        Takes::Bool,
        &["skip_headers", "skip_log_headers", "add_dir_header"],
    ),
];

/// The inert flags that were given: name and value(s), in command-line order of names.
#[derive(Debug, Clone, Default)]
pub struct InertFlags(pub BTreeMap<&'static str, String>);

fn inert_flags() -> impl Iterator<Item = (&'static str, Takes, &'static str)> {
    INERT_FLAGS
        .iter()
        .flat_map(|(why, takes, names)| names.iter().map(move |name| (*name, *takes, *why)))
}

impl InertFlags {
    /// One line naming every inert flag given and why it does nothing; `None` when none was.
    pub fn warning(&self) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        let named: Vec<String> = self
            .0
            .keys()
            .map(|name| {
                let why = inert_flags()
                    .find(|(n, _, _)| n == name)
                    .map_or("", |(_, _, why)| why);
                format!("--{name} ({why})")
            })
            .collect();
        Some(format!(
            "flags accepted for compatibility with prometheus-adapter that have no effect: {}",
            named.join(", ")
        ))
    }
}

impl clap::FromArgMatches for InertFlags {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut set = BTreeMap::new();
        for (name, _, _) in inert_flags() {
            if matches.value_source(name) == Some(clap::parser::ValueSource::CommandLine) {
                let values: Vec<String> = matches
                    .get_many::<String>(name)
                    .map(|v| v.cloned().collect())
                    .unwrap_or_default();
                set.insert(name, values.join(","));
            }
        }
        Ok(InertFlags(set))
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for InertFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        inert_flags().fold(cmd, |cmd, (name, takes, why)| {
            let mut arg = clap::Arg::new(name)
                .long(name)
                .hide(true)
                .help(format!("accepted for compatibility; has no effect ({why})"))
                .action(ArgAction::Append);
            if name.contains('_') {
                arg = arg.alias(name.replace('_', "-"));
            }
            let arg = match takes {
                Takes::Value => arg.num_args(1),
                Takes::Bool => arg
                    .num_args(0..=1)
                    .require_equals(true)
                    .default_missing_value("true")
                    .value_parser(|v: &str| parse_go_bool(v).map(|_| v.to_string())),
            };
            cmd.arg(arg)
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// The rules file and how the metrics it names are discovered: shared by `serve` and `explain`.
#[derive(Debug, Clone, Args)]
pub struct RulesArgs {
    /// The rules file (prometheus-adapter's format).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// How often to relist the series of every rule.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_go_duration)]
    pub metrics_relist_interval: Duration,
    /// How far back a series counts as live [default: the relist interval].
    #[arg(long, value_name = "DURATION", default_value = "0", hide_default_value = true, value_parser = parse_go_duration)]
    pub metrics_max_age: Duration,
    /// On a request for an unknown metric, list its rules' series at most this often (0: never).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_go_duration)]
    pub metrics_on_miss_interval: Duration,
    /// How series queries are answered: `labels` (label APIs with match[]) or `series` (list
    /// every series, as prometheus-adapter).
    #[arg(long, default_value = "labels", value_parser = clap::builder::ValueParser::new(str::parse::<DiscoveryMode>))]
    pub discovery_mode: DiscoveryMode,
}

impl RulesArgs {
    /// The rules file, which must be given.
    pub fn config_file(&self) -> Result<&PathBuf, StartError> {
        self.config.as_ref().ok_or_else(|| {
            StartError::Flag(
                "--config: no metrics discovery configuration file specified (make sure to use --config)"
                    .into(),
            )
        })
    }

    /// The registry's settings for these rules, with `--metrics-max-age` checked against the
    /// relist interval as prometheus-adapter checks it.
    pub fn registry_options(
        &self,
        rules: &Rules,
        prometheus: &PrometheusArgs,
    ) -> Result<RegistryOptions, StartError> {
        let max_age = if self.metrics_max_age.is_zero() {
            self.metrics_relist_interval
        } else {
            self.metrics_max_age
        };
        if !rules.custom.is_empty() && max_age < self.metrics_relist_interval {
            return Err(StartError::Flag(
                "--metrics-max-age: max age must not be less than relist interval".into(),
            ));
        }
        Ok(RegistryOptions {
            max_age,
            on_miss_interval: self.metrics_on_miss_interval,
            discovery: DiscoveryOptions {
                mode: self.discovery_mode,
                timeout: prometheus.prometheus_discovery_timeout,
                refused: Default::default(),
            },
        })
    }
}

/// The cluster whose objects the metrics describe: shared by `serve` and `explain`.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Kubeconfig for reading resources and objects (in-cluster configuration when empty).
    #[arg(long, value_name = "FILE")]
    pub lister_kubeconfig: Option<PathBuf>,
}

/// Flags of `serve` (also the flags the binary takes without a subcommand).
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub rules: RulesArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// How often to re-read the rules file and apply it when it changed (0: only on SIGHUP).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_go_duration)]
    pub config_reload_interval: Duration,
    /// How long shutdown waits for in-flight requests.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_go_duration)]
    pub shutdown_drain_timeout: Duration,
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
    #[command(flatten)]
    pub serving: ServingArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub inert: InertFlags,
    /// Positional arguments, ignored as prometheus-adapter's flag parsing ignores them (the
    /// community Helm chart passes `/adapter` again as the first one).
    #[arg(value_name = "IGNORED", hide = true)]
    pub positional: Vec<String>,
}

/// Why the server did not start; the message names the flag or file to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A flag value cannot work.
    #[error("{0}")]
    Flag(String),
    /// The rules file was refused.
    #[error("unable to load metrics discovery config:\n{0}")]
    Rules(#[from] rules::LoadError),
    /// Prometheus client settings.
    #[error(transparent)]
    Prometheus(#[from] crate::prometheus::ConfigError),
    /// The cluster cannot be reached.
    #[error(transparent)]
    Cluster(#[from] kube::Error),
    /// TLS settings.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// An essential background loop ended; the server stopped so that it is restarted.
    #[error("the {0} loop ended; stopped")]
    LoopEnded(&'static str),
}

const SERVICE_ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

pub fn prometheus_config(args: &PrometheusArgs) -> Result<ClientConfig, StartError> {
    if args.prometheus_auth_incluster && args.prometheus_auth_config.is_some() {
        return Err(StartError::Flag(
            "--prometheus-auth-incluster: may not use both in-cluster auth and an explicit kubeconfig at the same time".into(),
        ));
    }
    let headers = args
        .prometheus_header
        .iter()
        .map(|h| match h.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (h.clone(), String::new()),
        })
        .collect();
    let mut config = ClientConfig {
        url: args.prometheus_url.clone(),
        verb: args.prometheus_verb,
        headers,
        token_file: args.prometheus_token_file.clone(),
        ca_file: args.prometheus_ca_file.clone(),
        client_cert: args
            .prometheus_client_tls_cert_file
            .clone()
            .zip(args.prometheus_client_tls_key_file.clone()),
        kubeconfig: args.prometheus_auth_config.clone(),
        timeout: args.prometheus_timeout,
        max_response_bytes: args.prometheus_max_response_size,
        max_concurrency: args.prometheus_max_concurrency,
    };
    if args.prometheus_auth_incluster {
        config
            .ca_file
            .get_or_insert_with(|| PathBuf::from(SERVICE_ACCOUNT).join("ca.crt"));
        config
            .token_file
            .get_or_insert_with(|| PathBuf::from(SERVICE_ACCOUNT).join("token"));
    }
    Ok(config)
}

fn apis_of(rules: &Rules) -> Apis {
    Apis {
        custom: !rules.custom.is_empty(),
        external: !rules.external.is_empty(),
        resource: rules.resource.is_some(),
    }
}

/// Builds a registry for a set of rules, publishing its snapshots as discovery documents.
struct RegistryFactory {
    prometheus: PrometheusClient,
    options: RegistryOptions,
    discovery: Discovery,
}

impl RegistryFactory {
    fn build(&self, rules: Arc<Rules>) -> Registry {
        let apis = apis_of(&rules);
        let discovery = self.discovery.clone();
        Registry::new(
            rules,
            self.prometheus.clone(),
            self.options.clone(),
            Box::new(move |snapshot| discovery.update(apis, snapshot)),
        )
    }
}

fn count_reload(outcome: &'static str) {
    telemetry::metrics::metrics()
        .reloads
        .get_or_create(&telemetry::metrics::OutcomeLabels { outcome })
        .inc();
}

/// How often the first relist of reloaded rules is tried again while it fails.
const PENDING_RETRY: Duration = Duration::from_secs(10);

/// Re-read the rules file every `interval` (if not zero) and on SIGHUP; apply what loads after
/// a first relist of the new rules, so the switch never serves an empty registry.
async fn watch_config(
    mut source: ConfigSource,
    interval: Duration,
    factory: RegistryFactory,
    registry: SharedRegistry,
    cluster: Cluster,
) {
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP");
            None
        }
    };
    let mut pending: Option<Registry> = None;
    loop {
        let forced = tokio::select! {
            () = tokio::time::sleep(interval), if !interval.is_zero() => false,
            () = tokio::time::sleep(PENDING_RETRY), if pending.is_some() => false,
            () = async {
                let received = match hangup.as_mut() {
                    Some(h) => h.recv().await.is_some(),
                    None => false,
                };
                if !received {
                    std::future::pending::<()>().await;
                }
            } => true,
        };
        match source.poll(forced).await {
            Poll::Unchanged => {}
            Poll::Refused(e) => {
                count_reload("refused");
                tracing::error!("the rules file was refused; the previous rules keep serving:\n{e}")
            }
            Poll::Reloaded(rules) => {
                for warning in &rules.warnings {
                    tracing::warn!("{}:{warning}", source.path().display());
                }
                pending = Some(factory.build(Arc::from(rules)));
            }
        }
        // The new rules serve once their first relist succeeded; until then the old ones do,
        // and the relist is tried again at every tick.
        if let Some(next) = pending.take() {
            if next.relist(&cluster.catalog()).await {
                count_reload("applied");
                telemetry::metrics::metrics()
                    .reload_last_success
                    .set(telemetry::metrics::unix_now());
                let rules = next.rules().clone();
                registry.store(Arc::new(next));
                tracing::info!(custom = rules.custom.len(), external = rules.external.len(), file = %source.path().display(), "rules reloaded");
            } else {
                count_reload("pending");
                tracing::warn!(file = %source.path().display(), "the new rules' first relist failed; the previous rules keep serving until it succeeds");
                pending = Some(next);
            }
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn termination() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the server");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}

/// Start the server and run until SIGTERM; returns after draining.
pub async fn run(args: ServeArgs) -> Result<(), StartError> {
    telemetry::init_logging(args.log.verbosity, args.log.log_format);
    if let Some(warning) = args.inert.warning() {
        tracing::warn!("{warning}");
    }
    if !args.log.logtostderr {
        tracing::warn!("--logtostderr=false has no effect: logs always go to stderr");
    }
    if !args.positional.is_empty() {
        tracing::debug!(arguments = ?args.positional, "positional arguments ignored, as prometheus-adapter ignores them");
    }
    let prometheus = PrometheusClient::new(prometheus_config(&args.prometheus)?)?;
    let config = args.rules.config_file()?;
    let (source, rules) = ConfigSource::open(config).await?;
    telemetry::metrics::metrics()
        .reload_last_success
        .set(telemetry::metrics::unix_now());
    let rules = Arc::new(rules);
    for warning in &rules.warnings {
        tracing::warn!("{}:{warning}", config.display());
    }
    let options = args.rules.registry_options(&rules, &args.prometheus)?;
    let client = kube::client(args.cluster.lister_kubeconfig.as_deref()).await?;
    let (auth, trust_refresh) = start_auth(&args.auth, &client).await?;
    let cluster = Cluster::connect(client, ClusterOptions::default()).await?;
    let discovery = Discovery::new(apis_of(&rules));
    let factory = RegistryFactory {
        prometheus: prometheus.clone(),
        options,
        discovery: discovery.clone(),
    };
    let registry: SharedRegistry = Arc::new(ArcSwap::from_pointee(factory.build(rules)));
    let provider = Provider::new(registry.clone(), cluster.clone(), prometheus);
    let mut supervisor = Supervisor::default();
    let loops = supervisor.health();
    let ready_registry = registry.clone();
    let state = Arc::new(ApiState {
        provider,
        discovery,
        ready: Box::new(move || {
            if !ready_registry.load().listed_once() {
                return Err("metrics-discovery failed: the first relist has not finished".into());
            }
            match loops.ended().as_slice() {
                [] => Ok(()),
                ended => Err(format!(
                    "background-loops failed: {} ended",
                    ended.join(", ")
                )),
            }
        }),
    });
    {
        let cluster = cluster.clone();
        supervisor.spawn(
            "relist",
            Importance::Essential,
            registry::relist_forever(
                registry.clone(),
                args.rules.metrics_relist_interval,
                move || cluster.catalog(),
            ),
        );
    }
    supervisor.spawn(
        "rules reload",
        Importance::Essential,
        watch_config(
            source,
            args.config_reload_interval,
            factory,
            registry,
            cluster,
        ),
    );
    supervisor.spawn(
        "authentication settings refresh",
        Importance::Degrades,
        trust_refresh,
    );
    let (tls, certificate) = tls::server_config(&TlsOptions {
        cert_file: args.serving.tls_cert_file.clone(),
        key_file: args.serving.tls_private_key_file.clone(),
        cert_dir: args.serving.cert_dir.clone(),
        min_version: args.serving.tls_min_version.clone(),
        cipher_suites: args.serving.tls_cipher_suites.clone(),
        disable_http2: args.serving.disable_http2,
    })?;
    if certificate.from_files() && !args.serving.tls_reload_interval.is_zero() {
        supervisor.spawn(
            "serving certificate reload",
            Importance::Degrades,
            tls::reload_forever(certificate, args.serving.tls_reload_interval),
        );
    }
    let address = SocketAddr::new(args.serving.bind_address, args.serving.secure_port);
    let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| {
        StartError::Flag(format!(
            "--secure-port/--bind-address: cannot listen on {address}: {e}"
        ))
    })?;
    tracing::info!(%address, prometheus = %args.prometheus.prometheus_url, "serving");
    let app = server::stack(
        api::router(state),
        Some(auth),
        &Limits {
            max_in_flight: args.serving.max_requests_inflight as usize,
            request_timeout: args.serving.request_timeout,
        },
    );
    let mut failed = None;
    server::serve(
        listener,
        tls,
        app,
        ServeOptions {
            http2_max_streams: args.serving.http2_max_streams_per_connection,
            drain_timeout: args.shutdown_drain_timeout,
            header_read_timeout: args.serving.header_read_timeout,
            idle_timeout: args.serving.idle_timeout,
        },
        async {
            tokio::select! {
                () = termination() => {}
                ended = supervisor.essential_loop_ended() => failed = Some(ended),
            }
        },
    )
    .await;
    supervisor.stop();
    match failed {
        Some(ended) => Err(StartError::LoopEnded(ended)),
        None => {
            tracing::info!("stopped");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ok = [
            ("0", 0.0),
            ("10m", 600.0),
            ("10m0s", 600.0),
            ("1m30s", 90.0),
            ("1.5h", 5400.0),
            ("500ms", 0.5),
            ("2h45m", 9900.0),
            ("1us", 1e-6),
        ];
        for (text, secs) in ok {
            assert_eq!(
                parse_go_duration(text),
                Ok(Duration::from_secs_f64(secs)),
                "{text}"
            );
        }
        for bad in ["", "5", "-1m", "1d", "m", "1m1", "abc"] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?}");
        }
    }
}
