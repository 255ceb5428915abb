//! The soak run: the release build of metrics-adapter against a real Prometheus (scraping an
//! exporter) and the Kubernetes API double, driven at 200 requests/s for a while (default
//! 10 minutes) as an aggregator in front of many HPAs would drive it, while its rules file is
//! rewritten every minute and Prometheus is stopped and started again once midway.
//!
//! `scripts/soak [DURATION]` (or `cargo bench --bench soak -- [DURATION]`; `90s`, `10m`, `1h`;
//! `SOAK_RESTART_AT=SECONDS` moves the Prometheus restart) prints, per minute of the run, the
//! latency percentiles, the errors by status (those of requests that overlap the restart
//! window counted apart), and the adapter's RSS and CPU, then the RSS at the start, its
//! maximum, at the end, and its growth. The request mix: half
//! Pods-metric `*` requests with a label selector, a quarter Object metrics of Deployments,
//! 15 % External metrics, 10 % discovery. Figures are printed, never asserted.

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

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::adapter::Adapter;
use support::exporter::Exporter;
use support::kube::{self, KubeDouble, TEST_TOKEN};
use support::process;
use support::prometheus::Prometheus;

const RATE_PER_SECOND: u64 = 200;
const NAMESPACES: usize = 5;
const PODS_PER_NAMESPACE: usize = 20;
const SHARDS: usize = 4;
const QUEUES: usize = 10;
/// Prometheus stays down this long before it is started again.
const DOWNTIME: Duration = Duration::from_secs(10);
/// Requests this long after Prometheus is ready again still count as inside the restart window.
const RESTART_GRACE: Duration = Duration::from_secs(10);
const RSS_SAMPLE_INTERVAL: Duration = Duration::from_secs(5);
/// The aggregator's own deadline for a request is longer; a soak that hits this is failing.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Two rule sets that both serve every driven metric, under the same names, but differ for
/// real (aggregations, windows, an extra rule), so each rewrite is a reload with a relist.
const RULES_A: &str = r#"rules:
- seriesQuery: 'soak_active_requests{namespace!="",pod!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      pod: {resource: pod}
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
- seriesQuery: 'soak_http_requests_total{namespace!="",deployment!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      deployment: {group: apps, resource: deployment}
  name: {matches: "^(.*)_total$", as: "${1}_per_second"}
  metricsQuery: sum(rate(<<.Series>>{<<.LabelMatchers>>}[30s])) by (<<.GroupBy>>)
externalRules:
- seriesQuery: 'soak_queue_depth{queue_name!=""}'
  resources: {namespaced: false}
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (queue_name)
"#;

const RULES_B: &str = r#"rules:
- seriesQuery: 'soak_active_requests{namespace!="",pod!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      pod: {resource: pod}
  metricsQuery: max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
- seriesQuery: 'soak_http_requests_total{namespace!="",deployment!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      deployment: {group: apps, resource: deployment}
  name: {matches: "^(.*)_total$", as: "${1}_per_second"}
  metricsQuery: sum(rate(<<.Series>>{<<.LabelMatchers>>}[1m])) by (<<.GroupBy>>)
- seriesQuery: 'soak_extra_gauge{namespace!="",pod!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      pod: {resource: pod}
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
externalRules:
- seriesQuery: 'soak_queue_depth{queue_name!=""}'
  resources: {namespaced: false}
  metricsQuery: max(<<.Series>>{<<.LabelMatchers>>}) by (queue_name)
"#;

/// What one request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Ok,
    /// 200, but a metric answer without items.
    Empty,
    Status(u16),
    Timeout,
    /// No HTTP answer: refused, reset, cut short.
    Transport,
}

impl Outcome {
    fn label(self) -> String {
        match self {
            Outcome::Ok => "ok".into(),
            Outcome::Empty => "200-empty".into(),
            Outcome::Status(code) => code.to_string(),
            Outcome::Timeout => "timeout".into(),
            Outcome::Transport => "transport".into(),
        }
    }
}

/// One finished request, times relative to the start of the drive.
struct Record {
    started: Duration,
    latency: Duration,
    kind: Kind,
    outcome: Outcome,
}

/// The kinds of request in the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Pods,
    Object,
    External,
    Discovery,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Pods => "pods",
            Kind::Object => "object",
            Kind::External => "external",
            Kind::Discovery => "discovery",
        }
    }
}

/// The first answer of each (kind, outcome) that was not a success, to show what it said.
type Samples = Arc<Mutex<BTreeMap<(Kind, Outcome), String>>>;

/// The `i`-th request of the drive: its kind and path. Twenty requests make one round of the mix.
fn request(i: u64) -> (Kind, String) {
    let slot = i % 20;
    let n = (i / 20) as usize;
    let namespace = format!("soak-{}", n % NAMESPACES);
    match slot {
        0..=9 => {
            let version = if slot.is_multiple_of(2) {
                "v1beta2"
            } else {
                "v1beta1"
            };
            let shard = (n + slot as usize) % SHARDS;
            (
                Kind::Pods,
                format!(
                    "/apis/custom.metrics.k8s.io/{version}/namespaces/{namespace}/pods/%2A/soak_active_requests?labelSelector=app%3Dweb%2Cshard%3Ds{shard}"
                ),
            )
        }
        10..=14 => (
            Kind::Object,
            format!(
                "/apis/custom.metrics.k8s.io/v1beta2/namespaces/{namespace}/deployments.apps/web/soak_http_requests_per_second"
            ),
        ),
        15..=17 => {
            let queue = (n + slot as usize) % QUEUES;
            (
                Kind::External,
                format!(
                    "/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/soak_queue_depth?labelSelector=queue_name%3Dq{queue}"
                ),
            )
        }
        18 => (
            Kind::Discovery,
            "/apis/custom.metrics.k8s.io/v1beta1".into(),
        ),
        _ => (
            Kind::Discovery,
            "/apis/external.metrics.k8s.io/v1beta1".into(),
        ),
    }
}

/// An HTTP/2 client as the aggregator's (Go's flow-control windows), with its deadline.
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .http2_initial_stream_window_size(4 << 20)
        .http2_initial_connection_window_size(1 << 30)
        .pool_max_idle_per_host(64)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("client")
}

/// Sends one request; what came of it, and the body (or error) when it was not a success.
async fn send(client: &reqwest::Client, base: &str, kind: Kind, path: &str) -> (Outcome, String) {
    let failed = |e: reqwest::Error| {
        let outcome = if e.is_timeout() {
            Outcome::Timeout
        } else {
            Outcome::Transport
        };
        (outcome, format!("{path}: {e}"))
    };
    let response = match client
        .get(format!("{base}{path}"))
        .bearer_auth(TEST_TOKEN)
        .send()
        .await
    {
        Ok(response) => response,
        Err(e) => return failed(e),
    };
    let status = response.status().as_u16();
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(e) => return failed(e),
    };
    let text = || format!("{path}: {}", String::from_utf8_lossy(&body));
    if status != 200 {
        return (Outcome::Status(status), text());
    }
    let items = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["items"].as_array().map(Vec::len));
    match (kind, items) {
        (Kind::Discovery, _) => (Outcome::Ok, String::new()),
        (_, Some(n)) if n > 0 => (Outcome::Ok, String::new()),
        _ => (Outcome::Empty, text()),
    }
}

/// Resident memory (KiB) and CPU seconds (user + system) of a process.
fn usage(pid: u32) -> (u64, f64) {
    (process::status(pid, "VmRSS"), process::cpu_seconds(pid))
}

/// `90s`, `10m`, `1h`, or plain seconds.
fn parse_duration(text: &str) -> Option<Duration> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}

/// When Prometheus is stopped: `SOAK_RESTART_AT` seconds into the run (`60` makes the stop
/// coincide with a rules rewrite), by default midway but 20 s after a rewrite, so the effects
/// of the two are told apart.
fn restart_at(duration: Duration) -> Duration {
    let midway = (duration.as_secs() / 2) / 60 * 60 + 20;
    let at = std::env::var("SOAK_RESTART_AT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(midway);
    Duration::from_secs(at.min(duration.as_secs().saturating_sub(30)))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    // `cargo bench` passes `--bench`; the first argument that is not a flag is the duration.
    let argument = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let duration = match argument.as_deref().map(parse_duration) {
        None => Duration::from_secs(600),
        Some(Some(d)) if d >= Duration::from_secs(60) => d,
        Some(_) => {
            eprintln!("usage: soak [DURATION]  (at least 60s; e.g. 90s, 10m, 1h; default 10m)");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(soak(duration));
}

/// The cluster, the exporter and Prometheus, ready: every series scraped.
async fn world() -> (KubeDouble, Exporter, Prometheus) {
    let cluster = KubeDouble::start().await;
    let exporter = Exporter::start().await;
    for ns in 0..NAMESPACES {
        let namespace = format!("soak-{ns}");
        cluster.apply(kube::namespace(&namespace));
        cluster.apply(kube::deployment(
            &namespace,
            "web",
            PODS_PER_NAMESPACE as i64,
            &[("app", "web")],
        ));
        exporter.set_counter_rate(
            "soak_http_requests_total",
            &[("namespace", &namespace), ("deployment", "web")],
            10.0 + ns as f64,
        );
        for i in 0..PODS_PER_NAMESPACE {
            let pod = format!("web-{i:02}");
            let shard = format!("s{}", i % SHARDS);
            cluster.apply(kube::pod(
                &namespace,
                &pod,
                &[("app", "web"), ("shard", &shard)],
                "Running",
                true,
            ));
            let labels = [("namespace", namespace.as_str()), ("pod", pod.as_str())];
            exporter.set_gauge("soak_active_requests", &labels, (i % 7) as f64);
            exporter.set_gauge("soak_extra_gauge", &labels, 1.0);
        }
    }
    for q in 0..QUEUES {
        exporter.set_gauge(
            "soak_queue_depth",
            &[("queue_name", &format!("q{q}"))],
            q as f64,
        );
    }
    let prometheus = Prometheus::builder()
        .scrape("exporter", exporter.target())
        .start()
        .await;
    prometheus
        .wait_for(
            "count(rate(soak_http_requests_total[30s]))",
            |r| r.single_value() == Some(NAMESPACES as f64),
            Duration::from_secs(60),
        )
        .await;
    (cluster, exporter, prometheus)
}

/// Until every kind of request answers 200 with items.
async fn warm_up(client: &reqwest::Client, base: &str) {
    let started = Instant::now();
    for i in 0..20 {
        let (kind, path) = request(i);
        loop {
            if send(client, base, kind, &path).await.0 == Outcome::Ok {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{path} does not answer"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn soak(duration: Duration) {
    println!(
        "soak: {} s at {RATE_PER_SECOND} requests/s; rules rewritten every minute; Prometheus stopped for {} s at {} s",
        duration.as_secs(),
        DOWNTIME.as_secs(),
        restart_at(duration).as_secs()
    );
    let (cluster, _exporter, mut prometheus) = world().await;
    let adapter = Adapter::builder(RULES_A)
        .arg("--v=0")
        .start(prometheus.base_url(), &cluster.kubeconfig())
        .await;
    let pid = adapter.pid();
    let base = adapter.url();
    let client = client();
    warm_up(&client, &base).await;
    println!("adapter pid {pid} ready and warm; driving");

    let records: Arc<Mutex<Vec<Record>>> = Arc::new(Mutex::new(Vec::new()));
    let samples: Samples = Arc::default();
    let rss_samples: Arc<Mutex<Vec<(Duration, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();

    // The driver: open loop, one request every 5 ms whatever the answers do.
    let driver = tokio::spawn({
        let (client, base, records) = (client.clone(), base.clone(), records.clone());
        let samples = samples.clone();
        async move {
            let mut tick =
                tokio::time::interval(Duration::from_micros(1_000_000 / RATE_PER_SECOND));
            let mut in_flight = tokio::task::JoinSet::new();
            let total = duration.as_secs() * RATE_PER_SECOND;
            for i in 0..total {
                tick.tick().await;
                let (kind, path) = request(i);
                let (client, base, records) = (client.clone(), base.clone(), records.clone());
                let samples = samples.clone();
                in_flight.spawn(async move {
                    let sent = Instant::now();
                    let (outcome, said) = send(&client, &base, kind, &path).await;
                    let record = Record {
                        started: sent - start,
                        latency: sent.elapsed(),
                        kind,
                        outcome,
                    };
                    records.lock().expect("records").push(record);
                    if outcome != Outcome::Ok {
                        let mut samples = samples.lock().expect("samples");
                        samples.entry((kind, outcome)).or_insert(said);
                    }
                });
                while in_flight.try_join_next().is_some() {}
            }
            while in_flight.join_next().await.is_some() {}
        }
    });

    // RSS and CPU every few seconds.
    let sampler = tokio::spawn({
        let samples = rss_samples.clone();
        async move {
            let mut tick = tokio::time::interval(RSS_SAMPLE_INTERVAL);
            loop {
                tick.tick().await;
                let (rss, _) = usage(pid);
                samples
                    .lock()
                    .expect("samples")
                    .push((start.elapsed(), rss));
            }
        }
    });

    // The conductor: a rules rewrite every minute, Prometheus stopped and started once midway,
    // and a progress line every minute.
    let minutes = duration.as_secs().div_ceil(60);
    let restart_at = restart_at(duration);
    let mut restart_window: Option<(Duration, Duration)> = None;
    let mut cpu_at_minute = vec![usage(pid).1];
    let mut rss_at_minute = Vec::new();
    let mut rewrites = 0;
    for minute in 1..=minutes {
        let boundary = Duration::from_secs(minute * 60).min(duration);
        if restart_window.is_none() && restart_at < boundary {
            tokio::time::sleep_until((start + restart_at).into()).await;
            let stopped = start.elapsed();
            prometheus.stop().await;
            println!(
                "  {:>6.1} s  Prometheus stopped",
                start.elapsed().as_secs_f64()
            );
            tokio::time::sleep(DOWNTIME).await;
            prometheus.start_again().await;
            let ready = start.elapsed();
            println!("  {:>6.1} s  Prometheus ready again", ready.as_secs_f64());
            restart_window = Some((stopped, ready + RESTART_GRACE));
        }
        tokio::time::sleep_until((start + boundary).into()).await;
        let (rss, cpu) = usage(pid);
        cpu_at_minute.push(cpu);
        rss_at_minute.push(rss);
        if minute < minutes {
            let rules = if minute % 2 == 1 { RULES_B } else { RULES_A };
            adapter.write_rules(rules);
            rewrites += 1;
        }
        let done = records.lock().expect("records").len();
        println!(
            "  {:>6.1} s  minute {minute}: {done} requests answered so far; RSS {} MiB{}",
            start.elapsed().as_secs_f64(),
            rss / 1024,
            if minute < minutes {
                "; rules rewritten"
            } else {
                ""
            }
        );
    }
    driver.await.expect("driver");
    sampler.abort();
    let wall = start.elapsed();

    let records = std::mem::take(&mut *records.lock().expect("records"));
    let window = restart_window.unwrap_or_default();
    let overlaps_window = |r: &Record| r.started < window.1 && r.started + r.latency > window.0;
    println!(
        "\nrestart window (stop until ready + {} s): {:.1} s to {:.1} s\n",
        RESTART_GRACE.as_secs(),
        window.0.as_secs_f64(),
        window.1.as_secs_f64()
    );
    println!(
        "{:>6} {:>8} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9}  errors (by status; [in restart window])",
        "minute", "requests", "p50 ms", "p90 ms", "p99 ms", "max ms", "RSS MiB", "CPU s"
    );
    let mut errors_outside = 0;
    let mut errors_inside = 0;
    for minute in 0..minutes as usize {
        let from = Duration::from_secs(minute as u64 * 60);
        let to = from + Duration::from_secs(60);
        let in_minute: Vec<&Record> = records
            .iter()
            .filter(|r| r.started >= from && r.started < to)
            .collect();
        let mut latencies: Vec<Duration> = in_minute.iter().map(|r| r.latency).collect();
        latencies.sort_unstable();
        let mut errors: BTreeMap<(Kind, Outcome, bool), usize> = BTreeMap::new();
        for r in in_minute.iter().filter(|r| r.outcome != Outcome::Ok) {
            let inside = overlaps_window(r);
            *errors.entry((r.kind, r.outcome, inside)).or_default() += 1;
            if inside {
                errors_inside += 1;
            } else {
                errors_outside += 1;
            }
        }
        let errors: Vec<String> = errors
            .iter()
            .map(|((kind, outcome, inside), n)| {
                let error = format!("{} {} x{n}", kind.label(), outcome.label());
                if *inside { format!("[{error}]") } else { error }
            })
            .collect();
        println!(
            "{:>6} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>8} {:>9.2}  {}",
            minute + 1,
            in_minute.len(),
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.9)),
            ms(percentile(&latencies, 0.99)),
            ms(percentile(&latencies, 1.0)),
            rss_at_minute.get(minute).map_or(0, |kib| kib / 1024),
            cpu_at_minute.get(minute + 1).unwrap_or(&0.0) - cpu_at_minute[minute],
            if errors.is_empty() {
                "none".to_string()
            } else {
                errors.join(", ")
            }
        );
    }
    let mut all: Vec<Duration> = records.iter().map(|r| r.latency).collect();
    all.sort_unstable();
    println!(
        "{:>6} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        "all",
        records.len(),
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.9)),
        ms(percentile(&all, 0.99)),
        ms(percentile(&all, 1.0)),
    );
    println!(
        "\n{} requests in {:.1} s ({:.1}/s); errors outside the restart window: {errors_outside}; inside it: {errors_inside}",
        records.len(),
        wall.as_secs_f64(),
        records.len() as f64 / wall.as_secs_f64()
    );

    let said = std::mem::take(&mut *samples.lock().expect("samples"));
    if !said.is_empty() {
        println!("\nwhat the first failure of each kind said:");
    }
    for ((kind, outcome), text) in said {
        let text: String = text.chars().take(400).collect();
        println!("  {} {}: {text}", kind.label(), outcome.label());
    }

    let samples = rss_samples.lock().expect("samples").clone();
    let rss_start = samples.first().map_or(0, |s| s.1);
    let rss_end = samples.last().map_or(0, |s| s.1);
    let (max_at, rss_max) = samples
        .iter()
        .map(|s| (s.0, s.1))
        .max_by_key(|s| s.1)
        .unwrap_or_default();
    let growth = |from: u64| (rss_end as f64 - from as f64) / from.max(1) as f64 * 100.0;
    let after_first_minute = samples
        .iter()
        .find(|s| s.0 >= Duration::from_secs(60))
        .map_or(rss_start, |s| s.1);
    println!(
        "adapter RSS ({} samples, every {} s): start {:.1} MiB, max {:.1} MiB (at {:.0} s), end {:.1} MiB; growth {:+.1} % from the start, {:+.1} % from the end of minute 1 ({:.1} MiB)",
        samples.len(),
        RSS_SAMPLE_INTERVAL.as_secs(),
        rss_start as f64 / 1024.0,
        rss_max as f64 / 1024.0,
        max_at.as_secs_f64(),
        rss_end as f64 / 1024.0,
        growth(rss_start),
        growth(after_first_minute),
        after_first_minute as f64 / 1024.0,
    );
    let log = adapter.log_tail(1_000_000);
    let reloads = log.matches("rules reloaded").count();
    let refused = log.matches("the rules file was refused").count();
    println!(
        "rules rewrites: {rewrites}; reloads the adapter logged: {reloads}; refused: {refused}"
    );
    // Warnings and errors, counted by message: the line without its timestamp and with the
    // PromQL of a failed query left out.
    let query = regex::Regex::new(r"query=.*? error=").expect("regex");
    let mut messages: BTreeMap<String, usize> = BTreeMap::new();
    for line in log.lines() {
        let Some(at) = line.find(" WARN ").or_else(|| line.find(" ERROR ")) else {
            continue;
        };
        let message = query.replace(&line[at..], "query=... error=");
        let message: String = message.chars().take(300).collect();
        *messages.entry(message).or_default() += 1;
    }
    let mut messages: Vec<(String, usize)> = messages.into_iter().collect();
    messages.sort_by_key(|m| std::cmp::Reverse(m.1));
    println!(
        "adapter log: {} lines, {} warnings and errors in {} distinct messages:",
        log.lines().count(),
        messages.iter().map(|m| m.1).sum::<usize>(),
        messages.len()
    );
    for (message, n) in messages.iter().take(12) {
        println!("  {n:>6} x{message}");
    }
}
