//! The real Prometheus server for tests: the `prometheus` binary on a free loopback port with a
//! temporary data dir and a generated config (1 s scrape and rule intervals, one job per target,
//! optional recording rules). Tests wait on query results with [`Prometheus::wait_for`] and its
//! variants instead of sleeping: scrapes land within a second or two, and a `rate(x[w])` is only
//! right once a full window `w` of samples exists, so waiting is how a test knows.
//!
//! Prometheus is ready in well under a second, but its first scrape lands about 5 s later: the
//! 2.42 discovery manager hands targets to the scrape manager on a fixed 5 s tick (the scrape
//! side's own tick is shortened with `--scrape.discovery-reload-interval`). Budget for that in
//! every test that starts its own Prometheus.
//!
//! A test can stop Prometheus ([`Prometheus::stop`], a graceful SIGTERM, or [`Prometheus::kill`],
//! a crash) and start it again on the same port with the same data dir
//! ([`Prometheus::start_again`]): what was scraped before is still there afterwards.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::harness::{ChildProcess, START_ATTEMPTS, Startup, await_ready, free_port, http_client};

/// How long a graceful stop may take before the process is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Label names to values of one series, `__name__` included.
pub type Labels = BTreeMap<String, String>;

/// One sample of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, if the series has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}

/// The parsed `data` of an instant query.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryResult {
    Vector(Vec<Sample>),
    Scalar(f64),
}

impl QueryResult {
    /// The samples of a vector result; panics on a scalar.
    pub fn samples(&self) -> &[Sample] {
        match self {
            QueryResult::Vector(samples) => samples,
            QueryResult::Scalar(value) => panic!("expected a vector, got scalar {value}"),
        }
    }

    /// The value of a scalar result or of a vector with exactly one sample.
    pub fn single_value(&self) -> Option<f64> {
        match self {
            QueryResult::Scalar(value) => Some(*value),
            QueryResult::Vector(samples) if samples.len() == 1 => Some(samples[0].value),
            QueryResult::Vector(_) => None,
        }
    }
}

/// What to start: scrape jobs and recording rules. Every job has `honor_labels: true`, because
/// the test writes the exporter's labels and wants them in the series exactly as written (an
/// exposed `job` or `instance` label wins over the target's).
#[derive(Default)]
pub struct PrometheusBuilder {
    jobs: Vec<(String, String)>,
    rules: Vec<(String, String)>,
    blocks: Option<std::path::PathBuf>,
}

impl PrometheusBuilder {
    /// Adds scrape job `job` for target `host:port` (its `/metrics`).
    pub fn scrape(mut self, job: &str, target: impl Into<String>) -> Self {
        assert!(
            self.jobs.iter().all(|(existing, _)| existing != job),
            "scrape job {job} given twice"
        );
        self.jobs.push((job.to_string(), target.into()));
        self
    }

    /// Adds recording rule `record: expr`, evaluated every second.
    pub fn recording_rule(mut self, record: &str, expr: &str) -> Self {
        self.rules.push((record.to_string(), expr.to_string()));
        self
    }

    /// Starts on a copy of the TSDB blocks in `dir` (made with `promtool tsdb create-blocks-from`),
    /// kept 30 days instead of an hour. The copy is Prometheus' to compact; `dir` is left as is.
    pub fn blocks_from(mut self, dir: &Path) -> Self {
        self.blocks = Some(dir.to_path_buf());
        self
    }

    /// Writes the config, starts Prometheus and waits until it is ready. Panics, quoting its log,
    /// when it exits (a bad rule, say) or is not ready in time.
    pub async fn start(self) -> Prometheus {
        let dir = tempfile::Builder::new()
            .prefix("metrics-adapter-prometheus-")
            .tempdir()
            .expect("create Prometheus temp dir");
        let config_path = dir.path().join("prometheus.yml");
        let rules_path = dir.path().join("rules.yml");
        let data_path = dir.path().join("data");
        // JSON is YAML, and serde_json quotes PromQL strings correctly.
        let scrape_configs: Vec<Value> = self
            .jobs
            .iter()
            .map(|(job, target)| {
                json!({
                    "job_name": job,
                    "honor_labels": true,
                    "static_configs": [{ "targets": [target] }],
                })
            })
            .collect();
        let config = json!({
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "rule_files": [rules_path],
            "scrape_configs": scrape_configs,
        });
        let rules: Vec<Value> = self
            .rules
            .iter()
            .map(|(record, expr)| json!({ "record": record, "expr": expr }))
            .collect();
        let rule_groups =
            json!({ "groups": [{ "name": "harness", "interval": "1s", "rules": rules }] });
        write_json(&config_path, &config);
        write_json(&rules_path, &rule_groups);
        let retention = match &self.blocks {
            Some(blocks) => {
                copy_dir(blocks, &data_path);
                "30d"
            }
            None => "1h",
        };

        let client = http_client();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let (mut process, base_url) = spawn(dir.path(), port, "prometheus.log", retention);
            let probe = || is_ready(&client, &base_url, &data_path);
            match await_ready(&mut process, probe).await {
                Startup::Ready => {
                    return Prometheus {
                        process: Some(process),
                        runs: 1,
                        retention,
                        port,
                        base_url,
                        client,
                        dir,
                    };
                }
                Startup::PortTaken => continue,
            }
        }
        panic!("prometheus lost the race for a free port {START_ATTEMPTS} times");
    }
}

/// Starts `prometheus` on `port` with the config and data dir in `dir`, logging to `log` in
/// `dir`; the process and its base URL.
fn spawn(dir: &Path, port: u16, log: &str, retention: &str) -> (ChildProcess, String) {
    let mut command = Command::new("prometheus");
    command
        .current_dir(dir)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        // The smallest WAL segment Prometheus accepts; tests keep minutes of data.
        .arg("--storage.tsdb.wal-segment-size=10MB")
        .arg(format!("--storage.tsdb.retention.time={retention}"))
        // Hidden flag: the scrape manager otherwise applies new targets on its own 5 s
        // tick too, which can add up to another 5 s before the first scrape.
        .arg("--scrape.discovery-reload-interval=100ms");
    let process = ChildProcess::spawn("prometheus", command, &dir.join(log));
    (process, format!("http://127.0.0.1:{port}"))
}

/// Copy the directory tree `from` to `to` (created).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    let entries =
        std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

fn write_json(path: &Path, value: &Value) {
    let text = serde_json::to_string_pretty(value).expect("serialize config");
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Ready, and really ours: the server on the port runs on our data dir.
async fn is_ready(client: &reqwest::Client, base_url: &str, data_path: &Path) -> bool {
    let ready = client.get(format!("{base_url}/-/ready")).send().await;
    if !ready.is_ok_and(|response| response.status().is_success()) {
        return false;
    }
    let Ok(response) = client
        .get(format!("{base_url}/api/v1/status/flags"))
        .send()
        .await
    else {
        return false;
    };
    let Ok(flags) = response.json::<Value>().await else {
        return false;
    };
    flags["data"]["storage.tsdb.path"].as_str() == data_path.to_str()
}

/// A running Prometheus. Dropping it kills the process and removes its data dir.
pub struct Prometheus {
    // Declared before the dir so the process is gone before its files are removed. `None`
    // while stopped.
    process: Option<ChildProcess>,
    /// How many times it was started; each run logs to its own file.
    runs: usize,
    /// `--storage.tsdb.retention.time`, kept across restarts.
    retention: &'static str,
    port: u16,
    base_url: String,
    client: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts describing a Prometheus to run.
    pub fn builder() -> PrometheusBuilder {
        PrometheusBuilder::default()
    }

    /// `http://127.0.0.1:PORT`, the base URL its HTTP API lives under.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The process id of the server; panics while it is stopped.
    pub fn pid(&self) -> u32 {
        self.running().pid()
    }

    fn running(&self) -> &ChildProcess {
        self.process
            .as_ref()
            .expect("prometheus is stopped; start_again() first")
    }

    /// The name of the log file of run `run` (1 for the first start).
    fn log_name(run: usize) -> String {
        match run {
            1 => "prometheus.log".to_string(),
            n => format!("prometheus.{n}.log"),
        }
    }

    /// The last `lines` lines of the log of the latest run.
    pub fn log_tail(&self, lines: usize) -> String {
        let path = self.dir.path().join(Self::log_name(self.runs));
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Stops Prometheus as a rolling restart does: SIGTERM, then waits for it to exit (it
    /// flushes its head block; a kill follows after 30 s). The port is closed and the data dir
    /// kept when this returns.
    pub async fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate(STOP_TIMEOUT).await;
        }
    }

    /// Kills Prometheus (SIGKILL), as a crash or the OOM killer would; the data dir is kept and
    /// the write-ahead log replayed by [`Prometheus::start_again`].
    pub fn kill(&mut self) {
        // Dropping the handle kills and reaps the process.
        self.process = None;
    }

    /// Whether the server is running (not stopped or killed).
    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// Starts Prometheus again after [`Prometheus::stop`] or [`Prometheus::kill`], on the same
    /// port with the same config and data, and waits until it is ready. Panics if the port
    /// was taken meanwhile.
    pub async fn start_again(&mut self) {
        if self.process.is_some() {
            return;
        }
        self.runs += 1;
        let log = Self::log_name(self.runs);
        let (mut process, _) = spawn(self.dir.path(), self.port, &log, self.retention);
        let data_path = self.dir.path().join("data");
        let probe = || is_ready(&self.client, &self.base_url, &data_path);
        match await_ready(&mut process, probe).await {
            Startup::Ready => self.process = Some(process),
            Startup::PortTaken => panic!(
                "port {} was taken while prometheus was stopped; log:\n{}",
                self.port,
                process.log_tail(10)
            ),
        }
    }

    /// Runs an instant query at the current time. Panics if Prometheus rejects it.
    pub async fn query(&self, promql: &str) -> QueryResult {
        let data = self.api("query", &[("query", promql)]).await;
        parse_query_data(&data).unwrap_or_else(|e| panic!("query {promql}: {e} in {data}"))
    }

    /// The label sets of the series matching any of `matchers` (`/api/v1/series`).
    pub async fn series(&self, matchers: &[&str]) -> Vec<Labels> {
        let form: Vec<(&str, &str)> = matchers.iter().map(|m| ("match[]", *m)).collect();
        let data = self.api("series", &form).await;
        serde_json::from_value(data.clone())
            .unwrap_or_else(|e| panic!("series {matchers:?}: {e} in {data}"))
    }

    /// Polls `promql` until `predicate` holds for its result, and returns that result. Panics with
    /// the last result after `timeout`.
    pub async fn wait_for(
        &self,
        promql: &str,
        predicate: impl Fn(&QueryResult) -> bool,
        timeout: Duration,
    ) -> QueryResult {
        let started = Instant::now();
        loop {
            let result = self.query(promql).await;
            if predicate(&result) {
                return result;
            }
            if started.elapsed() > timeout {
                panic!(
                    "waited {timeout:?} for `{promql}` to satisfy the predicate; last result: {result:?}\n\
                     last lines of the prometheus log:\n{}",
                    self.log_tail(10)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `promql` returns exactly one value within `tolerance` of `expected`.
    pub async fn wait_for_value(
        &self,
        promql: &str,
        expected: f64,
        tolerance: f64,
        timeout: Duration,
    ) -> f64 {
        let within = |r: &QueryResult| {
            r.single_value()
                .is_some_and(|v| (v - expected).abs() <= tolerance)
        };
        let result = self.wait_for(promql, within, timeout).await;
        result.single_value().expect("checked by the predicate")
    }

    /// Waits until `rate(selector[window])` is within 2 % of `per_second`: long enough for a full
    /// window of 1 s scrapes, after which the rate of an [`super::exporter::Exporter`] counter
    /// stays at its configured value. Use short windows (`5s`) to keep tests fast.
    pub async fn wait_for_rate(
        &self,
        selector: &str,
        window: &str,
        per_second: f64,
        timeout: Duration,
    ) -> f64 {
        let promql = format!("rate({selector}[{window}])");
        self.wait_for_value(&promql, per_second, per_second.abs() * 0.02, timeout)
            .await
    }

    /// Waits until `promql` returns no samples (a removed series has gone stale, say).
    pub async fn wait_for_empty(&self, promql: &str, timeout: Duration) {
        let empty = |r: &QueryResult| matches!(r, QueryResult::Vector(s) if s.is_empty());
        self.wait_for(promql, empty, timeout).await;
    }

    /// POSTs a form to `/api/v1/{endpoint}` and returns `data`, panicking on any error.
    async fn api(&self, endpoint: &str, form: &[(&str, &str)]) -> Value {
        let url = format!("{}/api/v1/{endpoint}", self.base_url);
        let response = self
            .client
            .post(&url)
            .form(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("POST {url} {form:?}: {status}, body is not JSON: {e}"));
        if body["status"] != "success" {
            panic!(
                "POST {url} {form:?}: {status} {}: {}",
                body["errorType"], body["error"]
            );
        }
        body["data"].clone()
    }
}

pub(super) fn parse_query_data(data: &Value) -> Result<QueryResult, String> {
    match data["resultType"].as_str() {
        Some("scalar") => parse_point(&data["result"]).map(QueryResult::Scalar),
        Some("vector") => {
            let items = data["result"]
                .as_array()
                .ok_or("vector result is not an array")?;
            items
                .iter()
                .map(|item| {
                    let labels = serde_json::from_value(item["metric"].clone())
                        .map_err(|e| format!("metric labels: {e}"))?;
                    let value = parse_point(&item["value"])?;
                    Ok(Sample { labels, value })
                })
                .collect::<Result<_, String>>()
                .map(QueryResult::Vector)
        }
        other => Err(format!("unsupported result type {other:?}")),
    }
}

/// `[<unix seconds>, "<value>"]`; the value may be `NaN`, `+Inf` or `-Inf`.
fn parse_point(point: &Value) -> Result<f64, String> {
    let text = point[1]
        .as_str()
        .ok_or_else(|| format!("bad sample {point}"))?;
    text.parse::<f64>()
        .map_err(|e| format!("bad sample value {text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::exporter::Exporter;
    use crate::support::harness::process_is_running;

    const WAIT: Duration = Duration::from_secs(20);

    #[tokio::test]
    async fn instant_queries_return_scalars_and_vectors_with_special_values() {
        let prometheus = Prometheus::builder().start().await;
        assert!(prometheus.base_url().starts_with("http://127.0.0.1:"));
        assert_eq!(prometheus.query("1 + 1").await, QueryResult::Scalar(2.0));

        let result = prometheus
            .query(r#"label_replace(vector(+Inf), "kind", "inf", "", "") or label_replace(vector(NaN), "kind", "nan", "", "")"#)
            .await;
        let samples = result.samples();
        assert_eq!(samples.len(), 2, "{result:?}");
        let value_of = |kind: &str| {
            samples
                .iter()
                .find(|s| s.label("kind") == Some(kind))
                .unwrap_or_else(|| panic!("no kind={kind} in {result:?}"))
                .value
        };
        assert_eq!(value_of("inf"), f64::INFINITY);
        assert!(value_of("nan").is_nan());

        let pid = prometheus.pid();
        assert!(process_is_running(pid));
        drop(prometheus);
        assert!(
            !process_is_running(pid),
            "prometheus pid {pid} survived its handle"
        );
    }

    #[tokio::test]
    async fn scrapes_gauges_as_exposed_and_forgets_removed_ones() {
        let exporter = Exporter::start().await;
        exporter.set_gauge("queue_length", &[("queue", "a"), ("namespace", "ns1")], 7.0);
        // honor_labels: the exposed job label wins over the scrape job's name.
        exporter.set_gauge("labelled", &[("job", "from-exporter")], 1.0);
        let prometheus = Prometheus::builder()
            .scrape("exporter", exporter.target())
            .start()
            .await;

        let query = r#"queue_length{queue="a"}"#;
        prometheus.wait_for_value(query, 7.0, 0.0, WAIT).await;
        let series = prometheus.series(&[query, "labelled"]).await;
        let expected_queue: Labels = [
            ("__name__", "queue_length"),
            ("instance", exporter.target().as_str()),
            ("job", "exporter"),
            ("namespace", "ns1"),
            ("queue", "a"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert!(series.contains(&expected_queue), "{series:?}");
        assert!(
            series
                .iter()
                .any(|s| s["__name__"] == "labelled" && s["job"] == "from-exporter"),
            "{series:?}"
        );

        exporter.set_gauge("queue_length", &[("queue", "a"), ("namespace", "ns1")], 3.5);
        prometheus.wait_for_value(query, 3.5, 0.0, WAIT).await;
        exporter.remove("queue_length", &[("queue", "a"), ("namespace", "ns1")]);
        prometheus.wait_for_empty(query, WAIT).await;
    }

    #[tokio::test]
    async fn rate_of_an_exporter_counter_reaches_its_configured_rate() {
        let exporter = Exporter::start().await;
        exporter.set_counter_rate("jobs_processed_total", &[("queue", "q")], 5.0);
        let prometheus = Prometheus::builder()
            .scrape("exporter", exporter.target())
            .start()
            .await;
        let rate = prometheus
            .wait_for_rate(r#"jobs_processed_total{queue="q"}"#, "5s", 5.0, WAIT)
            .await;
        assert!((rate - 5.0).abs() <= 0.1, "{rate}");

        exporter.set_counter_rate("jobs_processed_total", &[("queue", "q")], 2.0);
        prometheus
            .wait_for_rate(r#"jobs_processed_total{queue="q"}"#, "5s", 2.0, WAIT)
            .await;
    }

    #[tokio::test]
    async fn a_bad_recording_rule_fails_the_start_with_prometheus_own_message() {
        let start = Prometheus::builder()
            .recording_rule("broken", "rate(")
            .start();
        let Err(failure) = tokio::spawn(start).await else {
            panic!("prometheus started with a broken rule");
        };
        let payload = failure.into_panic();
        let message = payload
            .downcast_ref::<String>()
            .expect("panic message is a String");
        assert!(
            message.contains("prometheus exited during start-up"),
            "{message}"
        );
        assert!(message.contains("parse error"), "{message}");
    }
}
