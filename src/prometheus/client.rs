//! The HTTP side of the Prometheus client.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{
    ACCEPT_ENCODING, AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT,
};
use http::{HeaderMap, Method, Uri};
use tokio::sync::{Semaphore, watch};
use url::Url;

use super::Error;
use super::body;
use super::credentials;
use super::response::{Decode, QueryResult};
use super::transport::{Transport, TransportError};
use crate::telemetry::metrics::{CallLabels, CallOutcomeLabels, metrics};

/// The HTTP verb for API calls (`--prometheus-verb`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verb {
    /// Parameters in the query string.
    Get,
    /// Parameters in a form body (the default: no URI length limit).
    #[default]
    Post,
}

/// How to reach Prometheus.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL; a path (`/prometheus`) is kept and the API paths appended to it.
    pub url: Url,
    /// GET or POST.
    pub verb: Verb,
    /// Extra headers (`--prometheus-header k=v`).
    pub headers: Vec<(String, String)>,
    /// Bearer token file, re-read when it changes (`--prometheus-token-file`).
    pub token_file: Option<PathBuf>,
    /// CA bundle to verify Prometheus' certificate (`--prometheus-ca-file`).
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key for mTLS.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// A kubeconfig whose CA, client certificate and credentials are used
    /// (`--prometheus-auth-config`); `ca_file` replaces its TLS settings.
    pub kubeconfig: Option<PathBuf>,
    /// Per-request timeout of queries, also sent to Prometheus as `timeout`.
    pub timeout: Duration,
    /// Largest response body accepted (`--prometheus-max-response-size`).
    pub max_response_bytes: usize,
    /// Calls to Prometheus in progress at once (`--prometheus-max-concurrency`); more wait.
    pub max_concurrency: usize,
}

/// A configuration that cannot work; the message names the flag to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("{flag}: unable to read {path}: {source}")]
    Read {
        /// The flag naming the file.
        flag: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file's content is not usable.
    #[error("{flag}: {message}")]
    Invalid {
        /// The flag.
        flag: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// The answer to a query, shared by every caller that asked while it was in flight.
type QueryOutcome = Result<Arc<QueryResult>, Arc<Error>>;

/// A query in flight: its answer, once there.
type Pending = watch::Receiver<Option<QueryOutcome>>;

/// A Prometheus API client. Cheap to clone.
#[derive(Clone)]
pub struct PrometheusClient {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    config: ClientConfig,
    /// `--prometheus-header`, every value of a repeated name kept.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// A fixed `Authorization` from the kubeconfig, when no token file gives one.
    authorization: Option<HeaderValue>,
    /// The token file in use: `--prometheus-token-file`, else the kubeconfig's.
    token_file: Option<PathBuf>,
    query_url: Url,
    token: Mutex<Option<CachedToken>>,
    /// Identical queries in flight, each driven by its first caller.
    in_flight: Mutex<HashMap<String, Pending>>,
    /// One permit per call to Prometheus in progress (`--prometheus-max-concurrency`).
    slots: Semaphore,
}

/// Removes a query's in-flight entry when its call ends, however it ends: the entry of a
/// query whose callers all went away never outlives the call.
struct InFlightEntry {
    client: PrometheusClient,
    query: String,
}

impl Drop for InFlightEntry {
    fn drop(&mut self) {
        self.client
            .inner
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.query);
    }
}

/// A shared query's call, driven by the caller that started it. Dropped before the call ended
/// (that caller went away), it hands the rest of the call to a task of its own; outside a
/// runtime (the process is ending) the call is dropped, its entry removed, and the callers
/// sharing it get [`Error::Abandoned`].
struct Leader {
    call: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Future for Leader {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(call) = self.call.as_mut() else {
            return Poll::Ready(());
        };
        std::task::ready!(call.as_mut().poll(cx));
        self.call = None;
        Poll::Ready(())
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if let Some(call) = self.call.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(call);
        }
    }
}

struct CachedToken {
    value: HeaderValue,
    read_at: Instant,
}

/// `User-Agent` of every call, so Prometheus' logs and proxies can tell the adapter's calls.
const USER_AGENT_VALUE: &str = concat!("metrics-adapter/", env!("CARGO_PKG_VERSION"));

/// A token file is re-read at most this often, so a rotated token is used within a minute.
const TOKEN_REFRESH: Duration = Duration::from_secs(60);

fn api_url(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}/{path}", base.path().trim_end_matches('/'));
    url.set_path(&joined);
    url.set_query(None);
    url
}

/// The kind of a call, from its API path: a bounded label value.
fn call_kind(path: &str) -> &'static str {
    if path.ends_with("/query") {
        "query"
    } else if path.ends_with("/series") {
        "series"
    } else if path.ends_with("/labels") {
        "labels"
    } else if path.ends_with("/values") {
        "label_values"
    } else {
        "other"
    }
}

/// A query longer than this (a few hundred object names) may have a large answer.
const LARGE_QUERY_BYTES: usize = 4096;

/// Whether to ask for a gzipped answer: always for discovery (series and label lists run to
/// megabytes), and for queries long enough to have a large answer. Prometheus compresses every
/// answer asked so, and for the few samples of an HPA's query that costs more (about 0.3 ms of
/// its CPU and ours) than the bytes it saves.
fn wants_compression(path: &str, params: &[(&str, &str)]) -> bool {
    call_kind(path) != "query"
        || params
            .iter()
            .any(|(name, value)| *name == "query" && value.len() > LARGE_QUERY_BYTES)
}

/// Unix seconds with at most three decimals, trailing zeros trimmed, as prometheus-adapter sends.
pub(crate) fn format_time(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let millis = d.subsec_millis();
    if millis == 0 {
        return d.as_secs().to_string();
    }
    let frac = format!("{millis:03}");
    format!("{}.{}", d.as_secs(), frac.trim_end_matches('0'))
}

impl PrometheusClient {
    /// Build a client; fails with a message naming the flag when a file or value is unusable.
    pub fn new(mut config: ClientConfig) -> Result<PrometheusClient, ConfigError> {
        let mut headers = Vec::new();
        for (k, v) in &config.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| ConfigError::Invalid {
                flag: "--prometheus-header",
                message: format!("{k:?} is not a header name: {e}"),
            })?;
            let value = HeaderValue::from_str(v).map_err(|e| ConfigError::Invalid {
                flag: "--prometheus-header",
                message: format!("the value of {k} is not a header value: {e}"),
            })?;
            headers.push((name, value));
        }
        let mut credentials = match (&config.ca_file, &config.kubeconfig) {
            (None, Some(kubeconfig)) => credentials::from_kubeconfig(kubeconfig)?,
            (ca_file, _) => {
                credentials::from_files(ca_file.as_deref(), config.client_cert.as_ref())?
            }
        };
        // Credentials in the URL (`https://user:pass@host/`) are basic authentication, as for
        // any HTTP client, unless another credential is configured; they never reach a log.
        if !config.url.username().is_empty() {
            if credentials.authorization.is_none() {
                credentials.authorization = Some(credentials::basic_from_url(&config.url)?);
            }
            let _ = config.url.set_username("");
            let _ = config.url.set_password(None);
        }
        let tls = match config.url.scheme() {
            "https" => Some(Arc::new(credentials::tls_config(
                &credentials.trust,
                credentials.identity.as_ref(),
            )?)),
            _ => None,
        };
        let transport =
            Transport::new(&config.url, tls, config.max_concurrency).map_err(|message| {
                ConfigError::Invalid {
                    flag: "--prometheus-url",
                    message,
                }
            })?;
        let token_file = config.token_file.clone().or(credentials.token_file);
        let client = PrometheusClient {
            inner: Arc::new(Inner {
                transport,
                headers,
                authorization: credentials.authorization,
                token_file,
                query_url: api_url(&config.url, "api/v1/query"),
                token: Mutex::new(None),
                in_flight: Mutex::new(HashMap::new()),
                slots: Semaphore::new(config.max_concurrency.max(1)),
                config,
            }),
        };
        // Fail at startup, not on the first request, when the token file is unreadable.
        client.token()?;
        Ok(client)
    }

    /// The base URL.
    pub fn url(&self) -> &Url {
        &self.inner.config.url
    }

    /// The timeout of one query (`--prometheus-timeout`).
    pub fn timeout(&self) -> Duration {
        self.inner.config.timeout
    }

    /// The HTTP verb of API calls (`--prometheus-verb`).
    pub fn verb(&self) -> Verb {
        self.inner.config.verb
    }

    /// `api/v1/<path>` under the base URL.
    pub(super) fn api(&self, path: &str) -> Url {
        api_url(&self.inner.config.url, path)
    }

    fn token(&self) -> Result<Option<HeaderValue>, ConfigError> {
        let Some(path) = &self.inner.token_file else {
            return Ok(self.inner.authorization.clone());
        };
        let mut cached = self.inner.token.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = cached.as_ref()
            && t.read_at.elapsed() < TOKEN_REFRESH
        {
            return Ok(Some(t.value.clone()));
        }
        let raw = credentials::read("--prometheus-token-file", path)?;
        let text = String::from_utf8_lossy(&raw);
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", text.trim_end_matches(['\n', '\r'])))
                .map_err(|e| ConfigError::Invalid {
                    flag: "--prometheus-token-file",
                    message: format!("the token is not a header value: {e}"),
                })?;
        value.set_sensitive(true);
        *cached = Some(CachedToken {
            value: value.clone(),
            read_at: Instant::now(),
        });
        Ok(Some(value))
    }

    /// One call: `params` as a query string (GET) or form body (POST), asking for gzip; the
    /// decoded answer and the bytes received on the wire.
    pub(super) async fn fetch<T: Decode>(
        &self,
        url: &Url,
        params: &[(&str, &str)],
        verb: Verb,
        timeout: Duration,
    ) -> Result<(T, u64), Error> {
        let started = Instant::now();
        let kind = CallLabels {
            kind: call_kind(url.path()),
        };
        let result = self.call(url, params, verb, timeout).await;
        let metrics = metrics();
        metrics
            .prometheus_duration
            .get_or_create(&kind)
            .observe(started.elapsed().as_secs_f64());
        if let Ok((_, bytes)) = &result {
            metrics.prometheus_bytes.get_or_create(&kind).inc_by(*bytes);
        }
        let outcome = match &result {
            Ok(_) => "success",
            Err(Error::Timeout { .. }) => "timeout",
            Err(Error::Transport { .. }) => "transport",
            Err(Error::Saturated(_)) => "saturated",
            Err(_) => "error",
        };
        metrics
            .prometheus_calls
            .get_or_create(&CallOutcomeLabels {
                kind: kind.kind,
                outcome,
            })
            .inc();
        result
    }

    async fn call<T: Decode>(
        &self,
        url: &Url,
        params: &[(&str, &str)],
        verb: Verb,
        timeout: Duration,
    ) -> Result<(T, u64), Error> {
        let inner = &self.inner;
        let transport = |source: TransportError| Error::Transport {
            url: url.to_string(),
            source,
        };
        let encoded = || {
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish()
        };
        let mut headers = HeaderMap::new();
        let (method, target, body) = match verb {
            Verb::Get => (
                Method::GET,
                format!("{}?{}", url.path(), encoded()),
                Bytes::new(),
            ),
            Verb::Post => {
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                (Method::POST, url.path().to_string(), Bytes::from(encoded()))
            }
        };
        let uri = Uri::try_from(target).map_err(|e| transport(e.into()))?;
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        for (name, value) in &inner.headers {
            headers.append(name, value.clone());
        }
        if wants_compression(url.path(), params) {
            headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        }
        match self.token() {
            Ok(Some(token)) => {
                headers.insert(AUTHORIZATION, token);
            }
            Ok(None) => {}
            Err(e) => {
                // A token file that became unreadable: keep going without it, Prometheus will
                // answer 401 and the log says why.
                tracing::warn!(error = %e, "prometheus token unavailable");
            }
        }
        // The wait for a free slot counts against the call's timeout.
        let started = Instant::now();
        let _slot = tokio::time::timeout(timeout, inner.slots.acquire())
            .await
            .map_err(|_| Error::Saturated(inner.config.max_concurrency))?
            .map_err(|_| Error::Saturated(inner.config.max_concurrency))?;
        tracing::trace!(%url, ?params, "prometheus request");
        let exchange = async {
            let mut exchange = inner
                .transport
                .send(&method, &uri, &headers, &body)
                .await
                .map_err(transport)?;
            let status = exchange.status().as_u16();
            if !(200..300).contains(&status) && !matches!(status, 400 | 422 | 503) {
                return Err(Error::Status(status));
            }
            match body::read(&mut exchange, inner.config.max_response_bytes, transport).await {
                // Prometheus' own errors come as JSON with these codes; anything else with
                // them (a proxy's page, a Prometheus still starting up) is reported by its
                // status code.
                Err(Error::Decode(_)) if !(200..300).contains(&status) => {
                    Err(Error::Status(status))
                }
                answer => answer,
            }
        };
        tokio::time::timeout(timeout.saturating_sub(started.elapsed()), exchange)
            .await
            .unwrap_or_else(|_| {
                Err(Error::Timeout {
                    url: url.to_string(),
                    timeout,
                })
            })
    }

    /// An instant query at the current time. Calls with the same query while one is in flight
    /// share its answer. The first caller drives the call in its own task, so the answer
    /// reaches it without a hand-over between tasks; if it goes away first (a client timeout,
    /// an h2 reset), the rest of the call moves to a task of its own (see `Leader`), so the
    /// callers sharing it cannot be stranded. Its entry is removed the moment the call ends: a
    /// call made after that asks Prometheus anew, so no answer is older than the call.
    pub async fn query(&self, query: &str) -> QueryOutcome {
        let (mut pending, leader) = {
            let mut in_flight = self
                .inner
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            match in_flight.get(query) {
                Some(pending) => {
                    metrics().coalesced_queries.inc();
                    (pending.clone(), None)
                }
                None => {
                    let (answer, pending) = watch::channel(None);
                    in_flight.insert(query.to_string(), pending.clone());
                    let entry = InFlightEntry {
                        client: self.clone(),
                        query: query.to_string(),
                    };
                    let call = async move {
                        let outcome = entry
                            .client
                            .query_now(&entry.query)
                            .await
                            .map(Arc::new)
                            .map_err(Arc::new);
                        drop(entry);
                        answer.send_replace(Some(outcome));
                    };
                    (
                        pending,
                        Some(Leader {
                            call: Some(Box::pin(call)),
                        }),
                    )
                }
            }
        };
        if let Some(leader) = leader {
            leader.await;
        }
        match pending.wait_for(Option::is_some).await {
            Ok(outcome) => outcome
                .clone()
                .unwrap_or_else(|| Err(Arc::new(Error::Abandoned))),
            Err(_) => Err(Arc::new(Error::Abandoned)),
        }
    }

    async fn query_now(&self, query: &str) -> Result<QueryResult, Error> {
        let time = format_time(SystemTime::now());
        let timeout = format!("{}ms", self.inner.config.timeout.as_millis());
        let (result, _) = self
            .fetch(
                &self.inner.query_url,
                &[("query", query), ("time", &time), ("timeout", &timeout)],
                self.inner.config.verb,
                self.inner.config.timeout,
            )
            .await?;
        Ok(result)
    }
}

#[cfg(test)]
mod tests;
