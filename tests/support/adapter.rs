//! The adapter binary under test: started with a rules file against a Prometheus and the
//! Kubernetes API double, on a free port with a self-signed certificate, and ready once
//! `/readyz` answers 200. Requests go over real HTTPS; `kubectl` gets a kubeconfig that points
//! at the adapter itself.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use super::harness::{self, ChildProcess, START_ATTEMPTS, Startup};

/// Builds an [`Adapter`].
pub struct AdapterBuilder {
    rules: String,
    args: Vec<String>,
    arg0: Option<String>,
    leading: Vec<String>,
    ready_within: Duration,
    /// `RUST_LOG` for the process: debug logs of our crate for tests, `None` in benchmarks.
    log_filter: Option<&'static str>,
}

/// A running adapter.
pub struct Adapter {
    process: ChildProcess,
    port: u16,
    dir: tempfile::TempDir,
    client: reqwest::Client,
}

/// An HTTPS client that accepts the adapter's self-signed certificate.
pub fn https_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("build https client")
}

impl AdapterBuilder {
    /// Wait this long for `/readyz` (the first relist) instead of the harness's default.
    #[allow(dead_code)] // benches/scale.rs: a first relist of a million series takes a while
    pub fn ready_within(mut self, timeout: Duration) -> Self {
        self.ready_within = timeout;
        self
    }

    /// Log as deployed: at the verbosity the flags give (`--v`), not at debug. What a benchmark
    /// measures: a debug line per Prometheus call is not what users run.
    #[allow(dead_code)] // benches/load.rs
    pub fn log_as_deployed(mut self) -> Self {
        self.log_filter = None;
        self
    }

    /// Pass a flag (`--name=value`).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Run the binary as a container runtime runs an image's entrypoint: `argv[0]` is `arg0`
    /// and `leading` come before every flag (the community Helm chart's `/adapter /adapter …`).
    pub fn invoked_as(mut self, arg0: &str, leading: &[&str]) -> Self {
        self.arg0 = Some(arg0.to_string());
        self.leading = leading.iter().map(|a| a.to_string()).collect();
        self
    }

    /// Start and wait until ready.
    pub async fn start(self, prometheus_url: &str, kubeconfig: &Path) -> Adapter {
        let dir = tempfile::tempdir().expect("adapter temp dir");
        let rules = dir.path().join("config.yaml");
        std::fs::write(&rules, &self.rules).expect("write rules");
        let client = https_client();
        for _ in 0..START_ATTEMPTS {
            let port = harness::free_port();
            let mut command = Command::new(env!("CARGO_BIN_EXE_metrics-adapter"));
            if let Some(arg0) = &self.arg0 {
                std::os::unix::process::CommandExt::arg0(&mut command, arg0);
            }
            command
                .args(&self.leading)
                .arg(format!("--secure-port={port}"))
                .arg("--bind-address=127.0.0.1")
                .arg(format!("--cert-dir={}", dir.path().join("certs").display()))
                .arg(format!("--config={}", rules.display()))
                .arg(format!("--prometheus-url={prometheus_url}"))
                .arg(format!("--lister-kubeconfig={}", kubeconfig.display()))
                .args(&self.args);
            match self.log_filter {
                Some(filter) => command.env("RUST_LOG", filter),
                None => command.env_remove("RUST_LOG"),
            };
            let mut process =
                ChildProcess::spawn("metrics-adapter", command, &dir.path().join("adapter.log"));
            let url = format!("https://127.0.0.1:{port}/readyz");
            let probe_client = client.clone();
            let startup = harness::await_ready_within(&mut process, self.ready_within, || {
                let c = probe_client.clone();
                let u = url.clone();
                async move {
                    c.get(&u)
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == StatusCode::OK)
                }
            })
            .await;
            if let Startup::Ready = startup {
                return Adapter {
                    process,
                    port,
                    dir,
                    client,
                };
            }
        }
        panic!("the adapter could not bind a port in {START_ATTEMPTS} attempts");
    }
}

impl Adapter {
    /// An adapter with this rules file's text.
    pub fn builder(rules: &str) -> AdapterBuilder {
        AdapterBuilder {
            rules: rules.to_string(),
            args: Vec::new(),
            arg0: None,
            leading: Vec::new(),
            ready_within: harness::START_TIMEOUT,
            log_filter: Some("metrics_adapter=debug"),
        }
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Replace the rules file the adapter was started with.
    pub fn write_rules(&self, text: &str) {
        let path = self.dir.path().join("config.yaml");
        // Write then rename, as a ConfigMap volume swaps its files.
        let tmp = self.dir.path().join("config.yaml.new");
        std::fs::write(&tmp, text).expect("write rules");
        std::fs::rename(&tmp, &path).expect("swap rules");
    }

    /// Send a signal (`HUP`, `TERM` …) to the adapter.
    pub fn signal(&self, name: &str) {
        let pid = self.process.pid().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{name} {pid} failed");
    }

    /// Wait until the log contains `needle`.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        let started = Instant::now();
        loop {
            let log = self.process.log_tail(10_000);
            if log.contains(needle) {
                return log;
            }
            assert!(
                started.elapsed() < timeout,
                "{needle:?} not logged within {timeout:?}:\n{}",
                self.process.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines of the adapter's log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }

    /// GET a path; the status and the body as JSON (panics if the body is not JSON).
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.url()))
            .header("Accept", "application/vnd.kubernetes.protobuf, */*")
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.log_tail(20)));
        let status = response.status();
        let body = response.bytes().await.expect("read body");
        let json = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "GET {path}: {status}: body is not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        });
        (status, json)
    }

    /// GET a path that must answer 200; the body as JSON.
    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "GET {path}: {body}\n{}",
            self.log_tail(30)
        );
        body
    }

    /// The HTTPS client used by [`Adapter::get`].
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// A kubeconfig pointing at the adapter (any token, certificate not verified).
    pub fn kubeconfig(&self) -> PathBuf {
        let path = self.dir.path().join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: adapter\n  cluster:\n    server: {}\n    insecure-skip-tls-verify: true\nusers:\n- name: test\n  user:\n    token: test\ncontexts:\n- name: adapter\n  context:\n    cluster: adapter\n    user: test\ncurrent-context: adapter\n",
            self.url()
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }

    /// Run kubectl against the adapter.
    pub async fn kubectl(&self, args: &[&str]) -> Output {
        let kubeconfig = self.kubeconfig();
        let cache = self.dir.path().join("kubectl-cache");
        let mut command = tokio::process::Command::new("kubectl");
        command
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!("--cache-dir={}", cache.display()))
            .args(args);
        command.output().await.expect("run kubectl")
    }

    /// Send SIGTERM and wait for the exit status.
    pub async fn terminate(mut self, timeout: Duration) -> ExitStatus {
        self.signal("TERM");
        let started = Instant::now();
        loop {
            if let Some(status) = self.process.try_exit_status() {
                return status;
            }
            assert!(
                started.elapsed() < timeout,
                "the adapter did not exit within {timeout:?} of SIGTERM:\n{}",
                self.process.log_tail(20)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
