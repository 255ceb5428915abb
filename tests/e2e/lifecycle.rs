//! The process: flags as the Helm chart passes them, refusals at start-up, health that never
//! waits on Prometheus, HTTP/1.1 and h2, and SIGTERM draining in-flight requests.

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::support::adapter::{Adapter, https_client};
use crate::support::harness::free_port;
use crate::support::kube::KubeDouble;
use crate::support::reference::{reference_path, reference_text, without_reference};
use crate::support::world::{ASR_RULES, World};

/// Run the binary with these args until it exits; (exit code, stderr).
fn run(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_metrics-adapter"))
        .args(args)
        .output()
        .expect("run metrics-adapter");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_flags_and_rules_stop_start_up_naming_what_to_fix() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--metrics-relist-interval=5"],
            "--metrics-relist-interval",
        ),
        (
            &["--prometheus-verb=PUT"],
            "unsupported Prometheus HTTP verb \"PUT\"",
        ),
        (&["--secure-port=99999"], "--secure-port"),
        (&["--discovery-mode=everything"], "--discovery-mode"),
        (
            &["--prometheus-discovery-timeout=1"],
            "--prometheus-discovery-timeout",
        ),
        (&["--prometheus-url=not a url"], "--prometheus-url"),
        (&["--no-such-flag"], "--no-such-flag"),
        (
            &["--secure-port=6443"],
            "no metrics discovery configuration file specified",
        ),
    ];
    for (args, needle) in cases {
        let (code, stderr) = run(args);
        assert_ne!(code, 0, "{args:?}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    if without_reference("the reference rules files' part") {
        return;
    }
    let sample = reference_path("upstream-docs-sample-config.yaml")
        .display()
        .to_string();
    let (code, stderr) = run(&[
        &format!("--config={sample}"),
        "--prometheus-url=http://127.0.0.1:1",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("upstream-docs-sample-config.yaml:30:"),
        "{stderr}"
    );
    let walkthrough = reference_path("upstream-config-walkthrough.yaml")
        .display()
        .to_string();
    let (code, stderr) = run(&[
        &format!("--config={walkthrough}"),
        "--metrics-relist-interval=10m",
        "--metrics-max-age=1m",
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("--metrics-max-age: max age must not be less than relist interval"),
        "{stderr}"
    );
}

/// A TCP proxy that holds every response for `delay`, to have a request in flight.
async fn slow_proxy(target: String, delay: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(&target).await else {
                    return;
                };
                let (mut ri, mut wi) = inbound.split();
                let (mut ro, mut wo) = outbound.split();
                let upstream = async {
                    let _ = tokio::io::copy(&mut ri, &mut wo).await;
                    let _ = wo.shutdown().await;
                };
                let downstream = async {
                    tokio::time::sleep(delay).await;
                    let _ = tokio::io::copy(&mut ro, &mut wi).await;
                    let _ = wi.shutdown().await;
                };
                tokio::join!(upstream, downstream);
            });
        }
    });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_chart_args_health_protocols_and_a_graceful_stop() {
    let Some(chart_args) = reference_text("helm-chart-args.txt", "this test") else {
        return;
    };
    let world = World::asr(2.0, |_, _| {}).await;
    let prometheus = &world.prometheus;

    // The Helm chart's args, unchanged but for paths and ports (the chart's TLS files are
    // generated here, its Prometheus URL points at ours through a proxy that delays answers).
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(dir.path().join("tls.crt"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), cert.signing_key.serialize_pem()).unwrap();
    let proxy = slow_proxy(
        prometheus
            .base_url()
            .trim_start_matches("http://")
            .to_string(),
        Duration::from_secs(3),
    )
    .await;

    // argv[0] and argv[1] are both `/adapter`: the image's entrypoint, then the chart's first arg.
    let positional: Vec<&str> = chart_args
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("--"))
        .collect();
    assert_eq!(positional, ["/adapter"]);
    let mut builder = Adapter::builder(ASR_RULES).invoked_as("/adapter", &positional);
    for line in chart_args.lines().filter(|l| l.starts_with("--")) {
        let (flag, _) = line.split_once('=').unwrap_or((line, ""));
        let arg = match flag {
            // Set by the harness to a free port, a temp dir, the rules and our Prometheus.
            "--secure-port" | "--config" | "--prometheus-url" => continue,
            "--tls-cert-file" => format!("{flag}={}", dir.path().join("tls.crt").display()),
            "--tls-private-key-file" => format!("{flag}={}", dir.path().join("tls.key").display()),
            "--cert-dir" => format!("{flag}={}", dir.path().join("cert").display()),
            _ => line.to_string(),
        };
        builder = builder.arg(arg);
    }
    let adapter = world
        .adapter_at(builder.arg("--metrics-on-miss-interval=0"), &proxy)
        .await;
    let log = adapter.log_tail(100);
    assert!(!log.contains("ERROR"), "{log}");

    // Health endpoints answer at once, though every Prometheus answer takes 3 s.
    for path in ["/healthz", "/livez", "/readyz", "/livez/ping"] {
        let started = Instant::now();
        let response = adapter
            .client()
            .get(format!("{}{path}", adapter.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-cache, private");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.text().await.unwrap(), "ok");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{path} waited on Prometheus"
        );
    }

    // HTTP/2 when the client offers it, HTTP/1.1 otherwise.
    let h2 = adapter
        .client()
        .get(format!("{}/apis", adapter.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(h2.version(), reqwest::Version::HTTP_2);
    let h1_client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .http1_only()
        .build()
        .unwrap();
    let h1 = h1_client
        .get(format!("{}/apis", adapter.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(h1.version(), reqwest::Version::HTTP_11);
    assert_eq!(h1.status(), StatusCode::OK);
    // API answers and errors carry kube-apiserver's headers too.
    for response in [&h1, &h2] {
        assert_eq!(response.headers()["cache-control"], "no-cache, private");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
    let missing = h1_client
        .get(format!("{}/apis/nothing.example/v1", adapter.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.headers()["cache-control"], "no-cache, private");

    // SIGTERM while a request waits on Prometheus: the request is answered, then the process
    // exits 0 and stops listening.
    let in_flight = {
        let client = https_client();
        let url = format!(
            "{}/apis/custom.metrics.k8s.io/v1beta1/namespaces/speech/pods/asr-0/asr_active_requests",
            adapter.url()
        );
        tokio::spawn(async move { client.get(url).send().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let url = adapter.url();
    let pid = adapter.pid();
    let status = adapter.terminate(Duration::from_secs(20)).await;
    assert!(status.success(), "{status}");
    assert!(!crate::support::harness::process_is_running(pid));
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request was answered");
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["items"][0]["value"], "2");
    assert!(
        https_client()
            .get(format!("{url}/healthz"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_without_prometheus_and_discovery_still_answers() {
    let cluster = KubeDouble::start().await;
    let dead = format!("http://127.0.0.1:{}", free_port());
    let adapter = Adapter::builder(ASR_RULES)
        .start(&dead, &cluster.kubeconfig())
        .await;
    // Ready once the first relist has run, even though it failed: discovery must answer, or the
    // aggregator marks the whole group unavailable.
    let doc = adapter.get_ok("/apis/custom.metrics.k8s.io/v1beta1").await;
    assert_eq!(doc["resources"], serde_json::json!([]));
    let version = adapter.get_ok("/version").await;
    assert_eq!(version["major"], "1");
    assert!(
        adapter
            .log_tail(100)
            .contains("unable to update list of all metrics")
    );
}
