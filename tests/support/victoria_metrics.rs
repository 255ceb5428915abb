//! VictoriaMetrics, the second real backend: the single-node server of Debian's
//! `victoria-metrics` package (1.79) on a free loopback port with a temporary data dir, scraping
//! the targets it is given every second with its built-in Prometheus-compatible scraper.
//!
//! Two flags make it answer like the test's Prometheus: `-search.latencyOffset=1s` (by default
//! an instant query at "now" is evaluated 30 s in the past, so a fresh series is invisible for
//! 30 s) and `-search.disableCache` (no cached results from before a scrape).

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::harness::{ChildProcess, START_ATTEMPTS, Startup, await_ready, free_port, http_client};
use super::prometheus::{QueryResult, parse_query_data};

/// A running VictoriaMetrics. Dropping it kills the process and removes its data dir.
pub struct VictoriaMetrics {
    // Declared before the dir so the process is gone before its files are removed.
    process: ChildProcess,
    base_url: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl VictoriaMetrics {
    /// Start scraping `targets` (`(job, host:port)`, `honor_labels` as the Prometheus harness),
    /// with `flags` added to the harness's, and wait until ready.
    pub async fn start(targets: &[(&str, String)], flags: &[&str]) -> VictoriaMetrics {
        let dir = tempfile::Builder::new()
            .prefix("metrics-adapter-victoria-")
            .tempdir()
            .expect("create VictoriaMetrics temp dir");
        let config_path = dir.path().join("scrape.yml");
        let data_path = dir.path().join("data");
        let scrape_configs: Vec<Value> = targets
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
            "global": { "scrape_interval": "1s", "scrape_timeout": "1s" },
            "scrape_configs": scrape_configs,
        });
        std::fs::write(&config_path, config.to_string()).expect("write scrape config");
        let client = http_client();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let mut command = Command::new("victoria-metrics");
            command
                .current_dir(dir.path())
                .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
                .arg(format!("-storageDataPath={}", data_path.display()))
                .arg(format!("-promscrape.config={}", config_path.display()))
                .arg("-search.latencyOffset=1s")
                .arg("-search.disableCache")
                .arg("-loggerLevel=WARN")
                .args(flags);
            let mut process = ChildProcess::spawn(
                "victoria-metrics",
                command,
                &dir.path().join("victoria-metrics.log"),
            );
            let base_url = format!("http://127.0.0.1:{port}");
            let data = data_path.display().to_string();
            let probe = || is_ready(&client, &base_url, &data);
            match await_ready(&mut process, probe).await {
                Startup::Ready => {
                    return VictoriaMetrics {
                        process,
                        base_url,
                        client,
                        _dir: dir,
                    };
                }
                Startup::PortTaken => continue,
            }
        }
        panic!("victoria-metrics lost the race for a free port {START_ATTEMPTS} times");
    }

    /// `http://127.0.0.1:PORT`, the base URL of its Prometheus-compatible API.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Runs an instant query at the current time. Panics if it is refused.
    pub async fn query(&self, promql: &str) -> QueryResult {
        let url = format!("{}/api/v1/query", self.base_url);
        let response = self
            .client
            .post(&url)
            .form(&[("query", promql)])
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("POST {url} {promql}: body is not JSON: {e}"));
        assert_eq!(body["status"], "success", "{promql}: {body}");
        parse_query_data(&body["data"]).unwrap_or_else(|e| panic!("query {promql}: {e} in {body}"))
    }

    /// Polls `promql` until `predicate` holds for its result; panics with the last result and
    /// the server's log after `timeout`.
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
                    "waited {timeout:?} for `{promql}` on victoria-metrics; last result: {result:?}\n{}",
                    self.process.log_tail(10)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Healthy, and really ours: the server on the port runs on our data dir.
async fn is_ready(client: &reqwest::Client, base_url: &str, data_path: &str) -> bool {
    let Ok(health) = client.get(format!("{base_url}/health")).send().await else {
        return false;
    };
    if !health.status().is_success() {
        return false;
    }
    let Ok(flags) = client.get(format!("{base_url}/flags")).send().await else {
        return false;
    };
    flags
        .text()
        .await
        .is_ok_and(|text| text.contains(&format!("-storageDataPath=\"{data_path}\"")))
}
