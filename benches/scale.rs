//! The scale benchmark: what one relist costs against a big Prometheus, in both discovery modes.
//!
//! `cargo bench --bench scale` writes 300,000 generated series (`-- --series 1000000` for a
//! million) as OpenMetrics text: cAdvisor-like `container_*` series for three containers and the
//! network of every pod (long `id`, `name` and `image` labels, as the kubelet exposes them),
//! application series (request counters and latency histograms per handler, with `service` and
//! `job`), and kube-state-metrics series (`kube_pod_info` with `node`, deployments); 3,000 pods
//! in 50 namespaces at 300,000 (about 100 series per pod). `promtool tsdb create-blocks-from openmetrics` turns it into TSDB
//! blocks (kept under `target/scale-bench/` and reused while less than a day old), and a real
//! Prometheus starts on a copy. Then, for `--discovery-mode=series` and `labels` in turn, the
//! release build of the adapter runs with the Helm chart's default rules
//! (`../shared/reference/helm-chart-default-rules.yaml`) and relists every few seconds, and for
//! each of `--relists` (3) relists the benchmark records, from the adapter's `relisted metrics`
//! log line, the calls made, the bytes received (compressed, on the wire) and the wall time;
//! Prometheus' CPU seconds from its own `process_cpu_seconds_total` and the adapter's from
//! `/proc`, both less what each burns idle over the same time; and at the end the adapter's peak
//! RSS (`VmHWM`). Figures are printed side by side with the ratios the scale targets name;
//! nothing is asserted.

// A benchmark may panic: that is how it fails (Cargo.toml's [lints] are for the server).
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

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::adapter::Adapter;
use support::harness::http_client;
use support::kube::KubeDouble;
use support::process;
use support::prometheus::Prometheus;
use support::reference::reference_text;

const NAMESPACES: usize = 50;
const PODS_PER_NODE: usize = 30;
const PODS_PER_DEPLOYMENT: usize = 3;
/// Samples per series, `SAMPLE_STEP` apart; discovery only needs the series to exist.
const SAMPLES: usize = 2;
const SAMPLE_STEP: u64 = 30;
/// A generated TSDB is reused while younger than this (`--metrics-max-age` covers its age).
const TSDB_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// cAdvisor metrics per container (`container` = app, sidecar, POD).
const CONTAINER_METRICS: [&str; 16] = [
    "container_cpu_usage_seconds_total",
    "container_cpu_user_seconds_total",
    "container_cpu_system_seconds_total",
    "container_cpu_cfs_periods_total",
    "container_cpu_cfs_throttled_periods_total",
    "container_cpu_cfs_throttled_seconds_total",
    "container_memory_working_set_bytes",
    "container_memory_rss",
    "container_memory_usage_bytes",
    "container_memory_cache",
    "container_memory_swap",
    "container_spec_memory_limit_bytes",
    "container_spec_cpu_shares",
    "container_start_time_seconds",
    "container_threads",
    "container_oom_events_total",
];
const CONTAINERS: [&str; 3] = ["app", "sidecar", "POD"];
/// cAdvisor network metrics per pod (`interface="eth0"`).
const NETWORK_METRICS: [&str; 8] = [
    "container_network_receive_bytes_total",
    "container_network_transmit_bytes_total",
    "container_network_receive_packets_total",
    "container_network_transmit_packets_total",
    "container_network_receive_errors_total",
    "container_network_transmit_errors_total",
    "container_network_receive_packets_dropped_total",
    "container_network_transmit_packets_dropped_total",
];
const HANDLERS: [&str; 2] = ["/api/v1/transcribe", "/healthz"];
const METHODS: [&str; 2] = ["GET", "POST"];
const CODES: [&str; 2] = ["200", "500"];
const BUCKETS: [&str; 10] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
];
const PROCESS_METRICS: [&str; 4] = [
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_open_fds",
    "go_goroutines",
];
const PHASES: [&str; 5] = ["Pending", "Running", "Succeeded", "Failed", "Unknown"];

/// Series per pod; deployments add `DEPLOYMENT_SERIES` per `PODS_PER_DEPLOYMENT` pods.
fn series_per_pod() -> usize {
    CONTAINER_METRICS.len() * CONTAINERS.len()
        + NETWORK_METRICS.len()
        + METHODS.len() * CODES.len() * HANDLERS.len()
        + HANDLERS.len() * (BUCKETS.len() + 2)
        + PROCESS_METRICS.len()
        + 1
        + PHASES.len()
        + 2
}
const DEPLOYMENT_SERIES: usize = 4;

/// Pods for about `series` series.
fn pods_for(series: usize) -> usize {
    let per_pod = series_per_pod() as f64 + DEPLOYMENT_SERIES as f64 / PODS_PER_DEPLOYMENT as f64;
    (series as f64 / per_pod).round().max(1.0) as usize
}

struct Pod {
    namespace: String,
    name: String,
    uid: String,
    node: String,
    ip: String,
    deployment: String,
}

fn hex(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xd1b5_4a32_d192_ed03;
    let mut out = String::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let _ = write!(out, "{x:016x}");
    }
    out.truncate(len);
    out
}

fn pods(count: usize) -> Vec<Pod> {
    (0..count)
        .map(|i| {
            let namespace = format!("team-{:02}", i % NAMESPACES);
            let deployment = format!("svc-{}", i / NAMESPACES / PODS_PER_DEPLOYMENT);
            Pod {
                name: format!(
                    "{deployment}-{}-{}",
                    hex(i as u64, 10),
                    hex(i as u64 + 7, 5)
                ),
                namespace,
                uid: format!(
                    "{}-{}-{}-{}-{}",
                    hex(i as u64, 8),
                    hex(i as u64 + 1, 4),
                    hex(i as u64 + 2, 4),
                    hex(i as u64 + 3, 4),
                    hex(i as u64 + 4, 12)
                ),
                node: format!(
                    "ip-10-0-{}-{}.ec2.internal",
                    i / PODS_PER_NODE / 250,
                    i / PODS_PER_NODE % 250
                ),
                ip: format!("10.1.{}.{}", i / 250 % 250, i % 250),
                deployment,
            }
        })
        .collect()
}

/// Write the OpenMetrics text of `pods` with samples from `t0`; the number of series written.
fn write_openmetrics(path: &Path, pods: &[Pod], t0: u64) -> usize {
    let file = std::fs::File::create(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut series = 0;
    let mut line = String::new();
    let mut emit = |out: &mut BufWriter<std::fs::File>, name: &str, labels: &str| {
        for s in 0..SAMPLES {
            line.clear();
            let _ = writeln!(
                line,
                "{name}{{{labels}}} {} {}",
                s + 1,
                t0 + s as u64 * SAMPLE_STEP
            );
            out.write_all(line.as_bytes()).expect("write openmetrics");
        }
        series += 1;
    };
    let kubelet = |p: &Pod| {
        format!(
            r#"instance="{}:10250",job="kubelet",metrics_path="/metrics/cadvisor",namespace="{}",node="{}",pod="{}""#,
            p.ip, p.namespace, p.node, p.name
        )
    };
    for metric in CONTAINER_METRICS {
        for p in pods {
            let base = kubelet(p);
            for (c, container) in CONTAINERS.iter().enumerate() {
                let (image, id) = if *container == "POD" {
                    (
                        "registry.k8s.io/pause:3.9".to_string(),
                        hex(c as u64 + 99, 64),
                    )
                } else {
                    (
                        format!("registry.example.com/{}/{container}:1.{c}.7", p.namespace),
                        hex(c as u64 + 5, 64),
                    )
                };
                let labels = format!(
                    r#"{base},container="{container}",id="/kubepods/burstable/pod{}/{id}",image="{image}",name="k8s_{container}_{}_{}_{}_0""#,
                    p.uid, p.name, p.namespace, p.uid
                );
                emit(&mut out, metric, &labels);
            }
        }
    }
    for metric in NETWORK_METRICS {
        for p in pods {
            let labels = format!(
                r#"{},id="/kubepods/burstable/pod{}",image="registry.k8s.io/pause:3.9",interface="eth0",name="k8s_POD_{}_{}_{}_0""#,
                kubelet(p),
                p.uid,
                p.name,
                p.namespace,
                p.uid
            );
            emit(&mut out, metric, &labels);
        }
    }
    let app = |p: &Pod| {
        format!(
            r#"container="app",endpoint="http",instance="{}:8080",job="{}",namespace="{}",pod="{}",service="{}""#,
            p.ip, p.deployment, p.namespace, p.name, p.deployment
        )
    };
    for p in pods {
        let base = app(p);
        for method in METHODS {
            for code in CODES {
                for handler in HANDLERS {
                    emit(
                        &mut out,
                        "http_requests_total",
                        &format!(r#"{base},code="{code}",handler="{handler}",method="{method}""#),
                    );
                }
            }
        }
    }
    for p in pods {
        let base = app(p);
        for handler in HANDLERS {
            for le in BUCKETS {
                emit(
                    &mut out,
                    "http_request_duration_seconds_bucket",
                    &format!(r#"{base},handler="{handler}",le="{le}""#),
                );
            }
        }
    }
    for suffix in ["sum", "count"] {
        for p in pods {
            for handler in HANDLERS {
                emit(
                    &mut out,
                    &format!("http_request_duration_seconds_{suffix}"),
                    &format!(r#"{},handler="{handler}""#, app(p)),
                );
            }
        }
    }
    for metric in PROCESS_METRICS {
        for p in pods {
            emit(&mut out, metric, &app(p));
        }
    }
    let ksm = r#"instance="10.0.0.9:8080",job="kube-state-metrics""#;
    for p in pods {
        emit(
            &mut out,
            "kube_pod_info",
            &format!(
                r#"{ksm},created_by_kind="ReplicaSet",created_by_name="{}-{}",host_ip="10.0.0.1",namespace="{}",node="{}",pod="{}",pod_ip="{}",uid="{}""#,
                p.deployment,
                hex(7, 10),
                p.namespace,
                p.node,
                p.name,
                p.ip,
                p.uid
            ),
        );
    }
    for phase in PHASES {
        for p in pods {
            emit(
                &mut out,
                "kube_pod_status_phase",
                &format!(
                    r#"{ksm},namespace="{}",phase="{phase}",pod="{}",uid="{}""#,
                    p.namespace, p.name, p.uid
                ),
            );
        }
    }
    for metric in [
        "kube_pod_container_status_restarts_total",
        "kube_pod_container_status_ready",
    ] {
        for p in pods {
            emit(
                &mut out,
                metric,
                &format!(
                    r#"{ksm},container="app",namespace="{}",pod="{}",uid="{}""#,
                    p.namespace, p.name, p.uid
                ),
            );
        }
    }
    let mut deployments: Vec<(&str, &str)> = pods
        .iter()
        .map(|p| (p.namespace.as_str(), p.deployment.as_str()))
        .collect();
    deployments.sort_unstable();
    deployments.dedup();
    for metric in [
        "kube_deployment_status_replicas",
        "kube_deployment_status_replicas_available",
        "kube_deployment_spec_replicas",
        "kube_deployment_metadata_generation",
    ] {
        for (namespace, deployment) in &deployments {
            emit(
                &mut out,
                metric,
                &format!(r#"{ksm},deployment="{deployment}",namespace="{namespace}""#),
            );
        }
    }
    out.write_all(b"# EOF\n").expect("write openmetrics");
    out.flush().expect("flush openmetrics");
    series
}

/// TSDB blocks of about `series` series, under `target/scale-bench/`: reused when younger than
/// a day. Returns (blocks dir, exact series, time of the first sample).
fn tsdb(series: usize) -> (PathBuf, usize, u64) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/scale-bench")
        .join(series.to_string());
    let blocks = root.join("blocks");
    let marker = root.join("made");
    let now = unix_now();
    if let Ok(text) = std::fs::read_to_string(&marker)
        && let Some((t0, count)) = text.trim().split_once(' ')
        && let (Ok(t0), Ok(count)) = (t0.parse::<u64>(), count.parse::<usize>())
        && now.saturating_sub(t0) < TSDB_MAX_AGE.as_secs()
    {
        println!("reusing {} ({count} series)", blocks.display());
        return (blocks, count, t0);
    }
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("create bench dir");
    let t0 = now - 20 * 60;
    let pods = pods(pods_for(series));
    let text = root.join("series.om");
    let started = Instant::now();
    let count = write_openmetrics(&text, &pods, t0);
    println!(
        "wrote {count} series ({} pods, {NAMESPACES} namespaces, {:.0} MiB of OpenMetrics) in {:.1} s",
        pods.len(),
        std::fs::metadata(&text).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let output = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&text)
        .arg(&blocks)
        .output()
        .expect("run promtool (Debian package prometheus)");
    assert!(
        output.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    println!(
        "promtool tsdb create-blocks-from openmetrics: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_file(&text);
    std::fs::write(&marker, format!("{t0} {count}")).expect("write marker");
    (blocks, count, t0)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Prometheus' own `process_cpu_seconds_total`.
async fn prometheus_cpu(client: &reqwest::Client, base: &str) -> f64 {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("read /metrics");
    text.lines()
        .find_map(|l| l.strip_prefix("process_cpu_seconds_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("process_cpu_seconds_total in Prometheus' /metrics")
}

/// One `relisted metrics` log line.
#[derive(Debug, Clone)]
struct Relist {
    custom: u64,
    external: u64,
    mode: String,
    calls: u64,
    bytes: u64,
    seconds: f64,
}

fn relists(log: &str) -> Vec<Relist> {
    log.lines()
        .filter(|l| l.contains("relisted metrics"))
        .map(|l| {
            let field = |name: &str| {
                l.split_whitespace()
                    .find_map(|t| t.strip_prefix(&format!("{name}=")))
                    .unwrap_or("")
                    .trim_matches('"')
                    .to_string()
            };
            Relist {
                custom: field("custom").parse().unwrap_or(0),
                external: field("external").parse().unwrap_or(0),
                mode: field("mode"),
                calls: field("calls").parse().unwrap_or(0),
                bytes: field("bytes").parse().unwrap_or(0),
                seconds: field("seconds").parse().unwrap_or(f64::NAN),
            }
        })
        .collect()
}

/// The figures of one mode.
struct Figures {
    mode: &'static str,
    relists: Vec<Relist>,
    prometheus_cpu: Vec<f64>,
    adapter_cpu: Vec<f64>,
    peak_rss_kib: u64,
    failures: usize,
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

struct Setup<'a> {
    rules: &'a str,
    prometheus: &'a Prometheus,
    cluster: &'a KubeDouble,
    max_age: Duration,
    interval: Duration,
    rounds: usize,
    idle_rate: f64,
}

async fn measure(setup: &Setup<'_>, mode: &'static str) -> Figures {
    let client = http_client();
    let base = setup.prometheus.base_url();
    let adapter = Adapter::builder(setup.rules)
        .arg(format!("--discovery-mode={mode}"))
        .arg(format!(
            "--metrics-relist-interval={}s",
            setup.interval.as_secs()
        ))
        .arg(format!("--metrics-max-age={}s", setup.max_age.as_secs()))
        .arg("--metrics-on-miss-interval=0")
        .ready_within(Duration::from_secs(600))
        .start(base, &setup.cluster.kubeconfig())
        .await;
    let pid = adapter.pid();
    let mut prometheus_cpu_per_relist = Vec::new();
    let mut adapter_cpu_per_relist = Vec::new();
    // The first relist ran before the adapter was ready; measure the ones after it.
    let mut seen = relists(&adapter.log_tail(usize::MAX)).len();
    let mut before = (
        Instant::now(),
        prometheus_cpu(&client, base).await,
        process::cpu_seconds(pid),
    );
    while prometheus_cpu_per_relist.len() < setup.rounds {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = relists(&adapter.log_tail(usize::MAX)).len();
        if now == seen {
            assert!(
                before.0.elapsed() < setup.interval + Duration::from_secs(600),
                "no relist in 10 minutes:\n{}",
                adapter.log_tail(20)
            );
            continue;
        }
        let after = (
            Instant::now(),
            prometheus_cpu(&client, base).await,
            process::cpu_seconds(pid),
        );
        let idle = setup.idle_rate * after.0.duration_since(before.0).as_secs_f64();
        prometheus_cpu_per_relist.push((after.1 - before.1 - idle).max(0.0));
        adapter_cpu_per_relist.push(after.2 - before.2);
        seen = now;
        before = after;
    }
    let log = adapter.log_tail(usize::MAX);
    let all = relists(&log);
    let measured = all[all.len() - setup.rounds..].to_vec();
    Figures {
        mode,
        relists: measured,
        prometheus_cpu: prometheus_cpu_per_relist,
        adapter_cpu: adapter_cpu_per_relist,
        peak_rss_kib: process::status(pid, "VmHWM"),
        failures: log.matches("unable to update list of all metrics").count(),
    }
}

fn arg_value(args: &[String], name: &str) -> Option<String> {
    args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix(&format!("{name}="))
            .map(str::to_string)
            .or_else(|| (a == name).then(|| args.get(i + 1).cloned()).flatten())
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let series: usize = arg_value(&args, "--series")
        .or_else(|| std::env::var("SCALE_SERIES").ok())
        .map_or(300_000, |v| v.replace('_', "").parse().expect("--series N"));
    let rounds: usize =
        arg_value(&args, "--relists").map_or(3, |v| v.parse().expect("--relists N"));
    let Some(rules) = reference_text("helm-chart-default-rules.yaml", "the scale benchmark") else {
        return;
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(bench(series, rounds, &rules));
}

async fn bench(series: usize, rounds: usize, rules: &str) {
    let (blocks, count, t0) = tsdb(series);
    let prometheus = Prometheus::builder().blocks_from(&blocks).start().await;
    let cluster = KubeDouble::start().await;
    let client = http_client();
    // What Prometheus burns with nobody asking (its own housekeeping), to subtract.
    let idle_started = Instant::now();
    let idle_before = prometheus_cpu(&client, prometheus.base_url()).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let idle_rate = (prometheus_cpu(&client, prometheus.base_url()).await - idle_before)
        / idle_started.elapsed().as_secs_f64();
    let setup = Setup {
        rules,
        prometheus: &prometheus,
        cluster: &cluster,
        max_age: Duration::from_secs(unix_now() - t0 + 3600),
        interval: Duration::from_secs(5),
        rounds,
        idle_rate,
    };
    println!(
        "Prometheus {} on {count} series; idle CPU {:.3} s/s; {rounds} relists per mode, 5 s apart\n",
        prometheus_version(),
        idle_rate
    );
    let mut all = Vec::new();
    for mode in ["series", "labels"] {
        all.push(measure(&setup, mode).await);
    }
    print_figures(count, &all);
}

fn prometheus_version() -> String {
    Command::new("prometheus")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(2))
                .map(str::to_string)
        })
        .unwrap_or_default()
}

fn print_figures(count: usize, all: &[Figures]) {
    let mib = |b: f64| b / 1048576.0;
    println!("per relist, median of the measured relists ({count} series):");
    println!(
        "{:<8} {:>9} {:>7} {:>14} {:>12} {:>11} {:>11} {:>10} {:>9}",
        "mode",
        "metrics",
        "calls",
        "bytes",
        "wall s",
        "prom CPU s",
        "adapter s",
        "peak RSS",
        "failures"
    );
    for f in all {
        let last = f.relists.last();
        println!(
            "{:<8} {:>9} {:>7} {:>14} {:>12.3} {:>11.3} {:>11.3} {:>6.1} MiB {:>9}",
            f.mode,
            last.map_or(0, |r| r.custom + r.external),
            last.map_or(0, |r| r.calls),
            median(&f.relists.iter().map(|r| r.bytes as f64).collect::<Vec<_>>()) as u64,
            median(&f.relists.iter().map(|r| r.seconds).collect::<Vec<_>>()),
            median(&f.prometheus_cpu),
            median(&f.adapter_cpu),
            f.peak_rss_kib as f64 / 1024.0,
            f.failures,
        );
        if let Some(r) = last
            && r.mode != f.mode
        {
            println!("         (the adapter ran in mode {:?})", r.mode);
        }
    }
    if let [series, labels] = all {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        let bytes =
            |f: &Figures| median(&f.relists.iter().map(|r| r.bytes as f64).collect::<Vec<_>>());
        println!(
            "\nlabels / series: Prometheus CPU {:.3} (target <= 0.25), bytes {:.4} (target <= 0.01), \
             wall {:.3}; labels peak RSS {:.1} MiB (target <= 64), series {:.1} MiB of bytes on the wire",
            ratio(
                median(&labels.prometheus_cpu),
                median(&series.prometheus_cpu)
            ),
            ratio(bytes(labels), bytes(series)),
            ratio(
                median(&labels.relists.iter().map(|r| r.seconds).collect::<Vec<_>>()),
                median(&series.relists.iter().map(|r| r.seconds).collect::<Vec<_>>())
            ),
            labels.peak_rss_kib as f64 / 1024.0,
            mib(bytes(series)),
        );
    }
}
