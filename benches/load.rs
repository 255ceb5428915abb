//! The load harness: metrics-adapter (release build) playing the metrics server of a busy HPA
//! controller, against the same real Prometheus answering the same PromQL directly.
//!
//! `cargo bench --bench load` starts the Kubernetes API double with 20 namespaces of 500 pods,
//! an exporter with one `asr_active_requests` series per pod plus 5,000 more metric names (10,000
//! custom metrics in discovery), 100 queue depths, and CPU and memory series for 1,000 pods; a
//! real Prometheus scraping it every second; and the adapter. Then it measures, and prints:
//!
//! 0. the floor: the adapter's `/healthz` over HTTPS and HTTP/2 against Prometheus'
//!    `/-/healthy` over HTTP/1.1, 2,000 sequential GETs each;
//! 1. 1,000 distinct Pods-metric requests, as 1,000 HPAs send them (50 pods selected each, a
//!    different namespace and selector each), at concurrency 1, 8 and 64 over HTTP/2, and the
//!    PromQL the adapter sends for each, sent straight to Prometheus at the same concurrency
//!    (at concurrency 1 in alternating blocks, see [`run_alternating`]);
//! 2. the discovery document with 10,000 metrics registered;
//! 3. 100 distinct External-metric requests and their PromQL straight to Prometheus;
//! 4. `metrics.k8s.io` pods of all namespaces (what `kubectl top pod -A` asks) over 1,000 pods,
//!    against the adapter's per-namespace CPU and memory queries sent to Prometheus concurrently,
//!    and one real `kubectl top pod -A` through the API double's aggregator proxy.
//!
//! Figures are printed, never asserted. `BENCH_ROUNDS` (default 3) sets how many times each
//! request set is sent per measurement; `BENCH_QUICK=1` measures only the floor and the Pods
//! requests at concurrency 1 (the figure to watch when working on per-request cost; about
//! 30 s).

// A test harness may panic: that is how it fails (Cargo.toml's [lints] are for the server).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

#[allow(dead_code, unused_imports)]
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics_adapter::resources::{GroupResource, ResourceCatalog};
use metrics_adapter::rules::{self, query::ObjectRequest};
use metrics_adapter::selector::Selector;
use support::adapter::Adapter;
use support::kube::{self, ApiService, TEST_TOKEN};
use support::process;
use support::world::{ASR_RULES, World};
use tokio::sync::Semaphore;

const NAMESPACES: usize = 20;
const PODS_PER_NAMESPACE: usize = 500;
/// Each pod has these labels, each with 10 values: a selector on one of them picks 50 pods.
const GROUP_LABELS: [&str; 5] = ["team", "shard", "zone", "tier", "ring"];
const EXTRA_METRICS: usize = 5_000;
const QUEUES: usize = 100;
const TOP_NAMESPACES: usize = 20;
const TOP_PODS_PER_NAMESPACE: usize = 50;

/// The rules after the ASR rule of `support::world::ASR_RULES`.
const MORE_RULES: &str = r#"- seriesQuery: '{__name__=~"bench_metric_.*",namespace!="",pod!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      pod: {resource: pod}
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
externalRules:
- seriesQuery: 'queue_depth{queue_name!=""}'
  resources: {namespaced: false}
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (queue_name)
resourceRules:
  cpu:
    containerQuery: sum by (<<.GroupBy>>) (irate(container_cpu_usage_seconds_total{<<.LabelMatchers>>,container!="",pod!=""}[1m]))
    nodeQuery: sum by (<<.GroupBy>>) (irate(node_cpu_usage_seconds_total{<<.LabelMatchers>>}[1m]))
    resources:
      overrides:
        namespace: {resource: namespace}
        node: {resource: node}
        pod: {resource: pod}
    containerLabel: container
  memory:
    containerQuery: sum by (<<.GroupBy>>) (container_memory_working_set_bytes{<<.LabelMatchers>>,container!="",pod!=""})
    nodeQuery: sum by (<<.GroupBy>>) (node_memory_working_set_bytes{<<.LabelMatchers>>})
    resources:
      overrides:
        namespace: {resource: namespace}
        node: {resource: node}
        pod: {resource: pod}
    containerLabel: container
  window: 1m
"#;

/// Latencies of one run.
struct Run {
    latencies: Vec<Duration>,
    wall: Duration,
}

impl Run {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index]
    }

    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    fn mean(&self) -> Duration {
        self.latencies.iter().sum::<Duration>()
            / u32::try_from(self.latencies.len().max(1)).unwrap_or(u32::MAX)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Send every request `rounds` times at `concurrency`, recording each latency.
async fn run<F, Fut>(requests: usize, rounds: usize, concurrency: usize, send: F) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let send = Arc::new(send);
    let gate = Arc::new(Semaphore::new(concurrency));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(requests * rounds);
    for i in 0..requests * rounds {
        let permit = gate.clone().acquire_owned().await.expect("semaphore");
        let send = send.clone();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            send(i % requests).await;
            drop(permit);
            t.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for t in tasks {
        latencies.push(t.await.expect("request task"));
    }
    Run {
        latencies,
        wall: started.elapsed(),
    }
}

/// What a process has used so far.
#[derive(Clone, Copy)]
struct Usage {
    /// CPU seconds, user and system.
    cpu: f64,
    /// Resident memory, KiB.
    rss_kib: u64,
    /// Context switches of all its threads, voluntary (a thread parking to wait for work or a
    /// lock) and not: how often the process's threads were put to sleep and woken.
    switches: u64,
}

impl Usage {
    fn of(pid: u32) -> Usage {
        Usage {
            cpu: process::cpu_seconds(pid),
            rss_kib: process::status(pid, "VmRSS"),
            switches: process::context_switches(pid),
        }
    }
}

/// The adapter's own account, from its `/metrics`: requests served (health checks and scrapes
/// left out) and the Prometheus queries it sent, with the seconds each took.
#[derive(Clone, Copy, Default)]
struct ServerView {
    requests: f64,
    request_seconds: f64,
    queries: f64,
    query_seconds: f64,
}

impl ServerView {
    async fn read(client: &reqwest::Client, adapter: &str) -> ServerView {
        let text = client
            .get(format!("{adapter}/metrics"))
            .bearer_auth(TEST_TOKEN)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        let mut view = ServerView::default();
        for line in text.lines() {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let served =
                !series.contains(r#"route="health""#) && !series.contains(r#"route="metrics""#);
            let field = match series.split_once('{').map_or(series, |(name, _)| name) {
                "metrics_adapter_request_duration_seconds_sum" if served => {
                    &mut view.request_seconds
                }
                "metrics_adapter_request_duration_seconds_count" if served => &mut view.requests,
                "metrics_adapter_prometheus_call_duration_seconds_sum"
                    if series.contains(r#"kind="query""#) =>
                {
                    &mut view.query_seconds
                }
                "metrics_adapter_prometheus_call_duration_seconds_count"
                    if series.contains(r#"kind="query""#) =>
                {
                    &mut view.queries
                }
                _ => continue,
            };
            *field += value;
        }
        view
    }
}

/// An HTTP/2 client with the flow-control windows of Go's HTTP/2 transport (4 MiB per stream,
/// 1 GiB per connection), which the aggregator and the controller manager use.
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .http2_initial_stream_window_size(4 << 20)
        .http2_initial_connection_window_size(1 << 30)
        .pool_max_idle_per_host(128)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

async fn get_ok(client: &reqwest::Client, url: &str) -> usize {
    let response = client
        .get(url)
        .bearer_auth(TEST_TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status();
    let body = response.bytes().await.expect("body");
    assert!(
        status.is_success(),
        "GET {url}: {status}: {}",
        String::from_utf8_lossy(&body)
    );
    body.len()
}

async fn query_ok(client: &reqwest::Client, prometheus: &str, query: &str) {
    let time = format!(
        "{:.3}",
        jiff::Timestamp::now().as_millisecond() as f64 / 1000.0
    );
    let response = client
        .post(format!("{prometheus}/api/v1/query"))
        .form(&[("query", query), ("time", &time)])
        .send()
        .await
        .unwrap_or_else(|e| panic!("query {query}: {e}"));
    assert!(
        response.status().is_success(),
        "query {query}: {}",
        response.status()
    );
    let _ = response.bytes().await;
}

/// GET every URL `rounds` times at `concurrency` from the adapter.
async fn run_gets(
    client: &reqwest::Client,
    urls: &Arc<Vec<String>>,
    rounds: usize,
    concurrency: usize,
) -> Run {
    let (client, urls) = (client.clone(), urls.clone());
    run(urls.len(), rounds, concurrency, move |i| {
        let (client, urls) = (client.clone(), urls.clone());
        async move {
            get_ok(&client, &urls[i]).await;
        }
    })
    .await
}

/// Send every query `rounds` times at `concurrency` straight to Prometheus.
async fn run_queries(
    client: &reqwest::Client,
    prometheus: &str,
    queries: &Arc<Vec<String>>,
    rounds: usize,
    concurrency: usize,
) -> Run {
    let (client, queries, prometheus) = (client.clone(), queries.clone(), prometheus.to_string());
    run(queries.len(), rounds, concurrency, move |i| {
        let (client, queries, prometheus) = (client.clone(), queries.clone(), prometheus.clone());
        async move { query_ok(&client, &prometheus, &queries[i]).await }
    })
    .await
}

/// Requests in a row to one side before switching to the other in [`run_alternating`].
const ALTERNATION_BLOCK: usize = 100;

/// Every URL, then its query straight to Prometheus, in alternating blocks of
/// [`ALTERNATION_BLOCK`], `rounds` times over, one request at a time: both sides see the same
/// Prometheus (its garbage collections, its head growing under scrapes), which two runs seconds
/// apart do not, and each stays warm within its block (pairing every request with its query
/// would add the cost of cold caches to both sides, which flatters the ratio).
async fn run_alternating(
    client: &reqwest::Client,
    urls: &[String],
    prometheus: &str,
    queries: &[String],
    rounds: usize,
) -> (Run, Run) {
    let mut adapter = Run {
        latencies: Vec::with_capacity(urls.len() * rounds),
        wall: Duration::ZERO,
    };
    let mut direct = Run {
        latencies: Vec::with_capacity(urls.len() * rounds),
        wall: Duration::ZERO,
    };
    for _ in 0..rounds {
        for (urls, queries) in urls
            .chunks(ALTERNATION_BLOCK)
            .zip(queries.chunks(ALTERNATION_BLOCK))
        {
            for url in urls {
                let t = Instant::now();
                get_ok(client, url).await;
                adapter.latencies.push(t.elapsed());
            }
            for query in queries {
                let t = Instant::now();
                query_ok(client, prometheus, query).await;
                direct.latencies.push(t.elapsed());
            }
        }
    }
    for run in [&mut adapter, &mut direct] {
        run.wall = run.latencies.iter().sum();
    }
    (adapter, direct)
}

/// The adapter answering `urls` against Prometheus answering their `queries`, at `concurrency`
/// (alternating at concurrency 1, one run after the other above), printed under `label`.
#[allow(clippy::too_many_arguments)]
async fn compare(
    label: &str,
    client: &reqwest::Client,
    adapter: &Adapter,
    urls: &Arc<Vec<String>>,
    prometheus: &str,
    queries: &Arc<Vec<String>>,
    rounds: usize,
    concurrency: usize,
) {
    let before = Snapshot::take(client, adapter).await;
    if concurrency == 1 {
        let (adapter_run, prometheus_run) =
            run_alternating(client, urls, prometheus, queries, rounds).await;
        let after = Snapshot::take(client, adapter).await;
        print_comparison(
            label,
            &adapter_run,
            &prometheus_run,
            [&before, &after],
            None,
        );
    } else {
        let adapter_run = run_gets(client, urls, rounds, concurrency).await;
        let after = Snapshot::take(client, adapter).await;
        let prometheus_run = run_queries(client, prometheus, queries, rounds, concurrency).await;
        let end = Snapshot::take(client, adapter).await;
        let direct_cpu = end.client.cpu - after.client.cpu;
        print_comparison(
            label,
            &adapter_run,
            &prometheus_run,
            [&before, &after],
            Some(direct_cpu),
        );
    }
}

fn pod_name(ns: usize, i: usize) -> String {
    format!("asr-{ns:02}-{i:03}")
}

/// What the adapter and this client (the bench process) have used so far.
struct Snapshot {
    adapter: Usage,
    view: ServerView,
    client: Usage,
}

impl Snapshot {
    async fn take(client: &reqwest::Client, adapter: &Adapter) -> Snapshot {
        let view = ServerView::read(client, &adapter.url()).await;
        Snapshot {
            adapter: Usage::of(adapter.pid()),
            view,
            client: Usage::of(std::process::id()),
        }
    }
}

/// Two lines: the adapter's run against Prometheus' (latencies and ratios), then where the
/// adapter's time went, from what it and this client used between `before` and `after`: the
/// adapter's mean request and query as it measured them (the rest of a request's latency is
/// TLS, HTTP/2 and this client), CPU per request of the adapter and of this client, and the
/// adapter's context switches per request. `direct_cpu` is this client's CPU seconds for
/// Prometheus' run when it ran apart (`None`: the runs alternated, `after` covers both).
fn print_comparison(
    label: &str,
    adapter: &Run,
    prometheus: &Run,
    [before, after]: [&Snapshot; 2],
    direct_cpu: Option<f64>,
) {
    let ratio = |p: f64| ms(adapter.percentile(p)) / ms(prometheus.percentile(p));
    println!(
        "{label:<24} adapter p50 {:>7.2} ms  p90 {:>7.2}  p99 {:>7.2}  max {:>7.2}  {:>7.1} req/s | prometheus p50 {:>7.2} ms  p90 {:>7.2}  p99 {:>7.2}  {:>7.1} req/s | ratio p50 {:.2}  p90 {:.2}  p99 {:.2} | adapter RSS {} MiB",
        ms(adapter.percentile(0.5)),
        ms(adapter.percentile(0.9)),
        ms(adapter.percentile(0.99)),
        ms(adapter.percentile(1.0)),
        adapter.throughput(),
        ms(prometheus.percentile(0.5)),
        ms(prometheus.percentile(0.9)),
        ms(prometheus.percentile(0.99)),
        prometheus.throughput(),
        ratio(0.5),
        ratio(0.9),
        ratio(0.99),
        after.adapter.rss_kib / 1024,
    );
    let served = (after.view.requests - before.view.requests).max(1.0);
    let queries = after.view.queries - before.view.queries;
    let per_request = |total: f64, run: &Run| total / run.latencies.len().max(1) as f64;
    let client_cpu = per_request(after.client.cpu - before.client.cpu, adapter) * 1000.0;
    let client = match direct_cpu {
        Some(cpu) => format!(
            "this client {client_cpu:.3} (straight to Prometheus {:.3})",
            per_request(cpu, prometheus) * 1000.0
        ),
        None => format!("this client {client_cpu:.3} for both paths"),
    };
    println!(
        "{:<24} as the adapter measured: request mean {:.3} ms, {:.2} queries/request, query mean {:.3} ms (straight to Prometheus {:.3}) | CPU ms/request: adapter {:.3}, {client} | adapter context switches/request {:.1}",
        "",
        (after.view.request_seconds - before.view.request_seconds) * 1000.0 / served,
        queries / served,
        (after.view.query_seconds - before.view.query_seconds) * 1000.0 / queries.max(1.0),
        ms(prometheus.mean()),
        per_request(after.adapter.cpu - before.adapter.cpu, adapter) * 1000.0,
        per_request(
            (after.adapter.switches - before.adapter.switches) as f64,
            adapter
        ),
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let quick = std::env::var_os("BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0");
    let rules_text = format!("{ASR_RULES}{MORE_RULES}");
    println!(
        "starting the world: {NAMESPACES} namespaces x {PODS_PER_NAMESPACE} pods, {EXTRA_METRICS} extra metric names, {QUEUES} queues, {} pods with CPU and memory",
        TOP_NAMESPACES * TOP_PODS_PER_NAMESPACE
    );
    let setup = Instant::now();
    let world = World::start(
        |cluster, exporter| {
            for ns in 0..NAMESPACES {
                let namespace = format!("team-{ns:02}");
                cluster.apply(kube::namespace(&namespace));
                for i in 0..PODS_PER_NAMESPACE {
                    let values: Vec<String> = (0..GROUP_LABELS.len())
                        .map(|l| {
                            format!("g{}", (i / 10usize.pow(l as u32 % 2)) % 10 + 10 * (l / 2))
                        })
                        .collect();
                    let mut labels: Vec<(&str, &str)> = GROUP_LABELS
                        .iter()
                        .zip(&values)
                        .map(|(k, v)| (*k, v.as_str()))
                        .collect();
                    labels.push(("app", "asr"));
                    let pod = pod_name(ns, i);
                    cluster.apply(kube::pod(&namespace, &pod, &labels, "Running", true));
                    exporter.set_gauge(
                        "asr_active_requests",
                        &[("namespace", &namespace), ("pod", &pod)],
                        (i % 7) as f64,
                    );
                }
            }
            for m in 0..EXTRA_METRICS {
                exporter.set_gauge(
                    &format!("bench_metric_{m:05}"),
                    &[
                        ("namespace", "team-00"),
                        ("pod", &pod_name(0, m % PODS_PER_NAMESPACE)),
                    ],
                    1.0,
                );
            }
            for q in 0..QUEUES {
                exporter.set_gauge(
                    "queue_depth",
                    &[("queue_name", &format!("queue-{q:03}"))],
                    q as f64,
                );
            }
            for ns in 0..TOP_NAMESPACES {
                let namespace = format!("top-{ns:02}");
                cluster.apply(kube::namespace(&namespace));
                for i in 0..TOP_PODS_PER_NAMESPACE {
                    let pod = format!("worker-{i:03}");
                    cluster.apply(kube::pod(
                        &namespace,
                        &pod,
                        &[("app", "worker")],
                        "Running",
                        true,
                    ));
                    let container = [
                        ("namespace", namespace.as_str()),
                        ("pod", pod.as_str()),
                        ("container", "main"),
                    ];
                    exporter.set_counter_rate(
                        "container_cpu_usage_seconds_total",
                        &container,
                        0.1 + i as f64 / 1000.0,
                    );
                    exporter.set_gauge(
                        "container_memory_working_set_bytes",
                        &container,
                        64.0 * 1048576.0,
                    );
                }
            }
        },
        "asr_active_requests",
        NAMESPACES * PODS_PER_NAMESPACE,
    )
    .await;
    world
        .prometheus
        .wait_for(
            "count(irate(container_cpu_usage_seconds_total[1m]))",
            |r| r.single_value() == Some((TOP_NAMESPACES * TOP_PODS_PER_NAMESPACE) as f64),
            Duration::from_secs(60),
        )
        .await;
    let adapter = world
        .adapter(
            Adapter::builder(&rules_text)
                .arg("--metrics-relist-interval=10m")
                .arg("--v=0")
                .log_as_deployed(),
        )
        .await;
    let pid = adapter.pid();
    println!(
        "world ready in {:.1} s; adapter pid {pid}",
        setup.elapsed().as_secs_f64()
    );
    let client = client();
    let prometheus = world
        .prometheus
        .base_url()
        .trim_end_matches('/')
        .to_string();

    // 1. Pods metrics: 1,000 distinct requests of 50 pods each, and their PromQL.
    let rules = rules::parse(&rules_text, "bench").expect("rules");
    let catalog = ResourceCatalog::well_known();
    let pods = catalog
        .resolve(&GroupResource::parse("pods"))
        .expect("pods")
        .clone();
    let mut requests = Vec::new();
    let mut queries = Vec::new();
    for ns in 0..NAMESPACES {
        let namespace = format!("team-{ns:02}");
        for (l, label) in GROUP_LABELS.iter().enumerate() {
            for v in 0..10 {
                let value = format!("g{}", v + 10 * (l / 2));
                let selector = format!("app=asr,{label}={value}");
                let parsed = Selector::parse(&selector).expect("selector");
                // The names the adapter lists from its watch cache, in its order.
                let names: Vec<String> = (0..PODS_PER_NAMESPACE)
                    .filter(|i| {
                        format!("g{}", (i / 10usize.pow(l as u32 % 2)) % 10 + 10 * (l / 2)) == value
                    })
                    .map(|i| pod_name(ns, i))
                    .collect();
                let everything = Selector::everything();
                let query = rules.custom[0]
                    .object_query(
                        &catalog,
                        &ObjectRequest {
                            series: "asr_active_requests",
                            resource: &pods,
                            namespace: Some(&namespace),
                            names: &names,
                            metric_selector: &everything,
                            extra_group_by: &[],
                        },
                    )
                    .expect("query");
                let encoded: String =
                    form_urlencoded::byte_serialize(parsed.to_string().as_bytes()).collect();
                requests.push(format!(
                    "{}/apis/custom.metrics.k8s.io/v1beta2/namespaces/{namespace}/pods/%2A/asr_active_requests?labelSelector={encoded}",
                    adapter.url()
                ));
                queries.push(query.query);
            }
        }
    }
    assert_eq!(requests.len(), 1_000);
    let requests = Arc::new(requests);
    let queries = Arc::new(queries);
    // Warm up: every request once (watch cache, token review, connections).
    let body = get_ok(&client, &requests[0]).await;
    assert!(body > 0);
    run_gets(&client, &requests, 1, 8).await;
    // The floor under every comparison: a request with nothing behind it, on each path.
    let health = Arc::new(vec![format!("{}/healthz", adapter.url())]);
    let healthy = Arc::new(vec![format!("{prometheus}/-/healthy")]);
    let adapter_floor = run_gets(&client, &health, 2_000, 1).await;
    let prometheus_floor = run_gets(&client, &healthy, 2_000, 1).await;
    println!(
        "\nthe floor, 2,000 sequential GETs with nothing behind them: the adapter's /healthz over HTTPS and HTTP/2 p50 {:.3} ms, Prometheus' /-/healthy over HTTP/1.1 p50 {:.3} ms",
        ms(adapter_floor.percentile(0.5)),
        ms(prometheus_floor.percentile(0.5)),
    );
    println!("\n1,000 distinct Pods-metric requests (50 pods each) x {rounds} rounds, HTTP/2:");
    let concurrencies: &[usize] = if quick { &[1] } else { &[1, 8, 64] };
    for &concurrency in concurrencies {
        compare(
            &format!("concurrency {concurrency}"),
            &client,
            &adapter,
            &requests,
            &prometheus,
            &queries,
            rounds,
            concurrency,
        )
        .await;
    }
    if quick {
        return;
    }

    // 2. Discovery with 10,000 metrics.
    let discovery = format!("{}/apis/custom.metrics.k8s.io/v1beta1", adapter.url());
    let size = get_ok(&client, &discovery).await;
    let doc: serde_json::Value = client
        .get(&discovery)
        .bearer_auth(TEST_TOKEN)
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    let registered = doc["resources"].as_array().map_or(0, Vec::len);
    let discovery_run = run_gets(&client, &Arc::new(vec![discovery.clone()]), 2_000, 1).await;
    println!(
        "\ndiscovery, {registered} metrics registered ({} KiB): p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms over 2,000 sequential GETs (target: p99 < 1 ms)",
        size / 1024,
        ms(discovery_run.percentile(0.5)),
        ms(discovery_run.percentile(0.99)),
        ms(discovery_run.percentile(1.0)),
    );
    // As Go's HTTP client (client-go, the aggregator) asks: Accept-Encoding: gzip, decompressed.
    let gzipped_run = run(1, 2_000, 1, {
        let (client, discovery) = (client.clone(), discovery.clone());
        move |_| {
            let (client, discovery) = (client.clone(), discovery.clone());
            async move {
                let response = client
                    .get(&discovery)
                    .bearer_auth(TEST_TOKEN)
                    .header("Accept-Encoding", "gzip")
                    .send()
                    .await
                    .expect("discovery");
                assert_eq!(response.headers()["content-encoding"], "gzip");
                let body = response.bytes().await.expect("body");
                let mut json = Vec::with_capacity(size);
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut json)
                    .expect("gzip");
                assert_eq!(json.len(), size);
            }
        }
    })
    .await;
    println!(
        "discovery, gzip accepted and decompressed (as Go clients do): p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
        ms(gzipped_run.percentile(0.5)),
        ms(gzipped_run.percentile(0.99)),
        ms(gzipped_run.percentile(1.0)),
    );

    // 3. External metrics: 100 distinct queue selectors.
    let external: Vec<String> = (0..QUEUES)
        .map(|q| format!("{}/apis/external.metrics.k8s.io/v1beta1/namespaces/media/queue_depth?labelSelector=queue_name%3Dqueue-{q:03}", adapter.url()))
        .collect();
    let external_queries: Vec<String> = (0..QUEUES)
        .map(|q| format!("sum(queue_depth{{queue_name=\"queue-{q:03}\"}}) by (queue_name)"))
        .collect();
    let (external, external_queries) = (Arc::new(external), Arc::new(external_queries));
    println!(
        "\nExternal metrics, 100 distinct selectors x {} rounds:",
        rounds * 10
    );
    for concurrency in [1, 8] {
        compare(
            &format!("concurrency {concurrency}"),
            &client,
            &adapter,
            &external,
            &prometheus,
            &external_queries,
            rounds * 10,
            concurrency,
        )
        .await;
    }

    // 4. kubectl top pod -A over 1,000 pods: one request for every namespace's pods; the
    // adapter sends a CPU and a memory query per namespace, concurrently.
    let top = format!("{}/apis/metrics.k8s.io/v1beta1/pods", adapter.url());
    let all_pods: serde_json::Value = client
        .get(&top)
        .bearer_auth(TEST_TOKEN)
        .send()
        .await
        .expect("pods")
        .json()
        .await
        .expect("json");
    let listed = all_pods["items"].as_array().map_or(0, Vec::len);
    let deploy = rules.resource.as_ref().expect("resource rules");
    // The queries the adapter sends for it: a CPU and a memory query for every namespace with
    // running pods, the 10,000 pods without CPU series included (their queries come back empty).
    let mut namespaces: Vec<(String, Vec<String>)> = (0..NAMESPACES)
        .map(|ns| {
            let names = (0..PODS_PER_NAMESPACE).map(|i| pod_name(ns, i)).collect();
            (format!("team-{ns:02}"), names)
        })
        .collect();
    namespaces.extend((0..TOP_NAMESPACES).map(|ns| {
        let names = (0..TOP_PODS_PER_NAMESPACE)
            .map(|i| format!("worker-{i:03}"))
            .collect();
        (format!("top-{ns:02}"), names)
    }));
    let mut top_queries = Vec::new();
    for (namespace, names) in &namespaces {
        for queries in [&deploy.cpu, &deploy.memory] {
            top_queries.push(
                queries
                    .pods_query(&catalog, &pods, namespace, names)
                    .expect("query")
                    .query,
            );
        }
    }
    let top_queries = Arc::new(top_queries);
    let before = Snapshot::take(&client, &adapter).await;
    let adapter_run = run_gets(&client, &Arc::new(vec![top]), rounds * 10, 1).await;
    let after = Snapshot::take(&client, &adapter).await;
    // Prometheus: the same queries, all at once, as one "request".
    let prometheus_run = run(1, rounds * 10, 1, {
        let (client, queries, prometheus) =
            (client.clone(), top_queries.clone(), prometheus.clone());
        move |_| {
            let (client, queries, prometheus) =
                (client.clone(), queries.clone(), prometheus.clone());
            async move {
                let calls = queries.iter().map(|q| query_ok(&client, &prometheus, q));
                futures::future::join_all(calls).await;
            }
        }
    })
    .await;
    let direct_cpu = Usage::of(std::process::id()).cpu - after.client.cpu;
    println!(
        "\nmetrics.k8s.io pods of all namespaces ({listed} pods listed), the request of kubectl top pod -A, x {}:",
        rounds * 10
    );
    print_comparison(
        "all-namespace pods",
        &adapter_run,
        &prometheus_run,
        [&before, &after],
        Some(direct_cpu),
    );
    world.cluster.register_api_service(ApiService::new(
        "metrics.k8s.io",
        "v1beta1",
        &adapter.url(),
    ));
    let started = Instant::now();
    let output = world.cluster.kubectl(&["top", "pod", "-A"]).await;
    let elapsed = started.elapsed();
    let lines = String::from_utf8_lossy(&output.stdout).lines().count();
    println!(
        "kubectl top pod -A through the API double's aggregator: {} in {:.0} ms ({} lines; includes kubectl's start and its own pod list)",
        if output.status.success() {
            "ok"
        } else {
            "FAILED"
        },
        ms(elapsed),
        lines
    );
    println!(
        "\nadapter RSS at the end: {} MiB",
        Usage::of(pid).rss_kib / 1024
    );
}
