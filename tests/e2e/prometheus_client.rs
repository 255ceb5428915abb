//! The Prometheus client flags end to end: a base path, POST and GET, headers (a tenant's
//! `X-Scope-OrgID` on every kind of call: query, series, labels), gzip asked for, a bearer token
//! file, TLS verified with `--prometheus-ca-file`, a client certificate, the relist's
//! all-or-nothing rule, and the fall back to listing series when the label API is missing.
//! Between the adapter and the real Prometheus sits a small TLS front that records what arrives
//! and can fail discovery calls or answer 404 to the label API, as a Thanos, an auth proxy or an
//! older backend would.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::support::adapter::Adapter;
use crate::support::world::{ASR_RULES, World};

/// One request as the front saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: String,
}

struct Front {
    upstream: String,
    seen: Mutex<Vec<Seen>>,
    /// Answer 502 to every discovery call (series and label APIs).
    fail_discovery: AtomicBool,
    /// Answer 404 to the label APIs, as a backend without them.
    no_label_api: AtomicBool,
    http: reqwest::Client,
}

const BASE: &str = "/prom/sub";

async fn forward(
    State(front): State<Arc<Front>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    front.seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        query: uri.query().map(str::to_string),
        headers: headers.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let status = |code: StatusCode| {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = code;
        r
    };
    let Some(api) = path.strip_prefix(BASE) else {
        return status(StatusCode::NOT_FOUND);
    };
    let label_api = api.starts_with("/api/v1/label");
    if (api.ends_with("/series") || label_api) && front.fail_discovery.load(Ordering::SeqCst) {
        return status(StatusCode::BAD_GATEWAY);
    }
    if label_api && front.no_label_api.load(Ordering::SeqCst) {
        return status(StatusCode::NOT_FOUND);
    }
    let mut url = format!("{}{api}", front.upstream);
    if let Some(q) = uri.query() {
        url = format!("{url}?{q}");
    }
    let mut request = front.http.request(method, url).body(body);
    if let Some(ct) = headers.get("content-type") {
        request = request.header("content-type", ct);
    }
    let answer = request.send().await.expect("prometheus answers");
    let code = answer.status();
    let bytes = answer.bytes().await.unwrap();
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = code;
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

struct Pki {
    ca_pem: String,
    server: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
    client_pem: String,
    ca_der: CertificateDer<'static>,
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let server = server_params.signed_by(&server_key, &issuer).unwrap();
    let client_key = rcgen::KeyPair::generate().unwrap();
    let mut client_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    client_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "metrics-adapter");
    client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client = client_params.signed_by(&client_key, &issuer).unwrap();
    Pki {
        ca_pem: ca.pem(),
        ca_der: ca.der().clone(),
        server: (
            vec![server.der().clone()],
            PrivateKeyDer::from_pem_slice(server_key.serialize_pem().as_bytes()).unwrap(),
        ),
        client_pem: format!("{}{}", client.pem(), client_key.serialize_pem()),
    }
}

/// Start the TLS front requiring a client certificate from `pki`'s CA; its base URL.
async fn start_front(front: Arc<Front>, pki: &Pki) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .unwrap();
    let mut config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(pki.server.0.clone(), pki.server.1.clone_key())
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = axum::Router::new().fallback(forward).with_state(front);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let service = TowerToHyperService::new(router.clone());
            tokio::spawn(async move {
                // A client without a valid certificate fails here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    format!("https://localhost:{}{BASE}/", address.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_path_verbs_headers_token_tls_and_all_or_nothing_relists() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let world = World::asr(4.0, |_, _| {}).await;
    let prometheus = &world.prometheus;

    let pki = pki();
    let front = Arc::new(Front {
        upstream: prometheus.base_url().trim_end_matches('/').to_string(),
        seen: Mutex::new(Vec::new()),
        fail_discovery: AtomicBool::new(false),
        no_label_api: AtomicBool::new(false),
        http: reqwest::Client::new(),
    });
    let url = start_front(front.clone(), &pki).await;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let ca = write("ca.crt", &pki.ca_pem);
    let (client_cert, client_key) = pki
        .client_pem
        .split_at(pki.client_pem.find("-----BEGIN PRIVATE KEY").unwrap());
    let cert = write("client.crt", client_cert);
    let key = write("client.key", client_key);
    let token = write("token", "s3cr3t-token\n");

    // A second rule with a template, so that label discovery also asks for label names.
    let rules = format!(
        r#"{ASR_RULES}- seriesQuery: '{{__name__=~"asr_.*",namespace!=""}}'
  resources: {{template: <<.Resource>>}}
  name: {{matches: ^asr_(.*)$, as: "speech_${{1}}"}}
  metricsQuery: sum(<<.Series>>{{<<.LabelMatchers>>}}) by (<<.GroupBy>>)
"#
    );
    // The discovery document of the first mode; the others must list the same metrics.
    let mut first_doc = None;
    for (verb, mode) in [("POST", "labels"), ("GET", "series")] {
        front.seen.lock().unwrap().clear();
        front.fail_discovery.store(false, Ordering::SeqCst);
        let adapter = Adapter::builder(&rules)
            .arg(format!("--prometheus-verb={verb}"))
            .arg(format!("--discovery-mode={mode}"))
            .arg(format!("--prometheus-ca-file={ca}"))
            .arg(format!("--prometheus-client-tls-cert-file={cert}"))
            .arg(format!("--prometheus-client-tls-key-file={key}"))
            .arg(format!("--prometheus-token-file={token}"))
            .arg("--prometheus-header=X-Scope-OrgID=team-speech")
            .arg("--prometheus-header=X-Extra=a=b")
            .arg("--prometheus-header=X-Scope-OrgID=team-media")
            .arg("--metrics-relist-interval=1s")
            .start(&url, &world.cluster.kubeconfig())
            .await;
        for metric in ["asr_active_requests", "speech_active_requests"] {
            let body = adapter
                .get_ok(&format!(
                    "/apis/custom.metrics.k8s.io/v1beta1/namespaces/speech/pods/asr-0/{metric}"
                ))
                .await;
            assert_eq!(body["items"][0]["value"], "4");
        }

        let seen = front.seen.lock().unwrap().clone();
        let calls_to = |path: &str| -> Vec<&Seen> {
            seen.iter()
                .filter(|s| s.path == format!("{BASE}/api/v1/{path}"))
                .collect()
        };
        let query = *calls_to("query").first().expect("a query call");
        // What each mode asks: the label APIs (always GET: Prometheus 2.42 answers 405 to POST
        // on label values), or the series, with the chosen verb.
        let discovery: Vec<(&Seen, &str)> = if mode == "labels" {
            assert!(calls_to("series").is_empty(), "{seen:#?}");
            let names = calls_to("label/__name__/values");
            let labels = calls_to("labels");
            assert!(!names.is_empty() && !labels.is_empty(), "{seen:#?}");
            names
                .into_iter()
                .chain(labels)
                .map(|s| (s, "GET"))
                .collect()
        } else {
            assert!(calls_to("labels").is_empty(), "{seen:#?}");
            let series = calls_to("series");
            assert!(!series.is_empty(), "{seen:#?}");
            series.into_iter().map(|s| (s, verb)).collect()
        };
        for (call, method) in discovery.iter().copied().chain([(query, verb)]) {
            assert_eq!(call.method.as_str(), method, "{call:?}");
            assert_eq!(call.headers["authorization"], "Bearer s3cr3t-token");
            // A repeated name sends every value, in order (Mimir reads `a|b` or repeats).
            let tenants: Vec<&str> = call
                .headers
                .get_all("x-scope-orgid")
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect();
            assert_eq!(tenants, ["team-speech", "team-media"]);
            assert_eq!(call.headers["x-extra"], "a=b");
        }
        // Discovery answers run to megabytes: gzip. An HPA's query answers a few samples, which
        // compressing costs more than it saves.
        for (call, _) in &discovery {
            assert_eq!(call.headers["accept-encoding"], "gzip", "{call:?}");
        }
        assert!(!query.headers.contains_key("accept-encoding"), "{query:?}");
        let params = |s: &Seen| -> Vec<(String, String)> {
            let text = if s.method == "POST" {
                s.body.clone()
            } else {
                s.query.clone().unwrap_or_default()
            };
            form_urlencoded::parse(text.as_bytes())
                .into_owned()
                .collect()
        };
        if verb == "POST" {
            assert_eq!(
                query.headers["content-type"],
                "application/x-www-form-urlencoded"
            );
            assert_eq!(query.query, None);
        }
        // Every discovery call: one match[] naming a rule's series query (narrowed in labels
        // mode), and a start but no end, as prometheus-adapter's series calls.
        for (call, _) in &discovery {
            let call_params = params(call);
            assert_eq!(call_params[0].0, "match[]", "{call:?}");
            assert!(
                call_params[0]
                    .1
                    .starts_with("asr_active_requests{namespace!=\"\",pod!=\"\"}")
                    || call_params[0]
                        .1
                        .starts_with("{__name__=~\"asr_.*\",namespace!=\"\""),
                "{call_params:?}"
            );
            assert_eq!(call_params[1].0, "start");
            assert_eq!(call_params.len(), 2, "{call_params:?}");
        }
        let query_params = params(query);
        assert_eq!(
            query_params[0],
            (
                "query".into(),
                r#"sum(asr_active_requests{namespace="speech",pod="asr-0"}) by (pod)"#.into()
            )
        );
        assert_eq!(query_params[1].0, "time");

        let doc = adapter.get_ok("/apis/custom.metrics.k8s.io/v1beta1").await;
        assert!(
            doc.to_string().contains("pods/speech_active_requests"),
            "{doc}"
        );
        assert_eq!(first_doc.get_or_insert_with(|| doc.clone()), &doc, "{mode}");

        // All or nothing: once discovery calls fail, relists keep the previous registry.
        front.fail_discovery.store(true, Ordering::SeqCst);
        let started = Instant::now();
        while !adapter
            .log_tail(200)
            .contains("unable to update list of all metrics")
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{}",
                adapter.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let kept = adapter.get_ok("/apis/custom.metrics.k8s.io/v1beta1").await;
        assert_eq!(kept, doc);
        assert!(
            !adapter
                .log_tail(500)
                .contains("does not serve the label API"),
            "a failing backend was taken for one without the label API"
        );
    }

    // A backend without the label API: discovery falls back to listing series, says so once,
    // and finds the same metrics.
    front.fail_discovery.store(false, Ordering::SeqCst);
    front.no_label_api.store(true, Ordering::SeqCst);
    front.seen.lock().unwrap().clear();
    let adapter = Adapter::builder(&rules)
        .arg(format!("--prometheus-ca-file={ca}"))
        .arg(format!("--prometheus-client-tls-cert-file={cert}"))
        .arg(format!("--prometheus-client-tls-key-file={key}"))
        .arg("--metrics-relist-interval=1s")
        .start(&url, &world.cluster.kubeconfig())
        .await;
    let doc = adapter.get_ok("/apis/custom.metrics.k8s.io/v1beta1").await;
    assert_eq!(Some(doc), first_doc);
    let log = adapter
        .wait_for_log("series (fallback)", Duration::from_secs(20))
        .await;
    // Relists every second: wait for a few more, then count the warnings.
    let relists = |log: &str| log.matches("relisted metrics").count();
    let before = relists(&log);
    let started = Instant::now();
    while relists(&adapter.log_tail(10_000)) < before + 2 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{}",
            adapter.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = adapter.log_tail(10_000);
    assert_eq!(
        log.matches("does not serve the label API").count(),
        1,
        "{log}"
    );
    let seen = front.seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|s| s.path == format!("{BASE}/api/v1/series")),
        "{seen:#?}"
    );
    drop(adapter);
    front.no_label_api.store(false, Ordering::SeqCst);

    // --prometheus-auth-config: the kubeconfig's CA (inline), client certificate (files,
    // relative to the kubeconfig) and token are used; its server URL is not.
    front.seen.lock().unwrap().clear();
    front.fail_discovery.store(false, Ordering::SeqCst);
    let kubeconfig = write(
        "prometheus.kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: p\n  cluster:\n    server: https://ignored.invalid\n    certificate-authority-data: {}\nusers:\n- name: u\n  user:\n    token: kube-token\n    client-certificate: client.crt\n    client-key: client.key\ncontexts:\n- name: c\n  context:\n    cluster: p\n    user: u\ncurrent-context: c\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &pki.ca_pem)
        ),
    );
    let adapter = Adapter::builder(ASR_RULES)
        .arg(format!("--prometheus-auth-config={kubeconfig}"))
        .start(&url, &world.cluster.kubeconfig())
        .await;
    let body = adapter
        .get_ok(
            "/apis/custom.metrics.k8s.io/v1beta1/namespaces/speech/pods/asr-0/asr_active_requests",
        )
        .await;
    assert_eq!(body["items"][0]["value"], "4");
    let seen = front.seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    for call in &seen {
        assert_eq!(call.headers["authorization"], "Bearer kube-token");
    }
    drop(adapter);

    // Without the client certificate the TLS front refuses the connection: the query fails as
    // a 500, and nothing leaks into the answer.
    let adapter = Adapter::builder(ASR_RULES)
        .arg(format!("--prometheus-ca-file={ca}"))
        .start(&url, &world.cluster.kubeconfig())
        .await;
    let (status, body) = adapter
        .get("/apis/custom.metrics.k8s.io/v1beta1/namespaces/speech/pods/asr-0/asr_active_requests")
        .await;
    // Every discovery call failed: the metric is not "not found" but unavailable, a 500.
    assert_eq!(status.as_u16(), 500, "{body}");
    assert_eq!(
        body["message"],
        "Internal error occurred: unable to fetch metrics"
    );
    assert!(
        adapter
            .log_tail(100)
            .contains("unable to update list of all metrics")
    );

    // Unusable TLS files stop start-up, naming the flag and the cause.
    let empty = write("empty.crt", "");
    let other_key = write(
        "other.key",
        &rcgen::KeyPair::generate().unwrap().serialize_pem(),
    );
    let refusals = [
        (
            vec![format!("--prometheus-ca-file={empty}")],
            format!("--prometheus-ca-file: no certs found in {empty}"),
        ),
        (
            vec![
                format!("--prometheus-ca-file={ca}"),
                format!("--prometheus-client-tls-cert-file={cert}"),
                format!("--prometheus-client-tls-key-file={other_key}"),
            ],
            "--prometheus-client-tls-cert-file: failed to read TLS key pair".to_string(),
        ),
        (
            vec![format!("--prometheus-auth-config={empty}")],
            format!("--prometheus-auth-config: {empty}"),
        ),
    ];
    for (flags, expected) in refusals {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_metrics-adapter"))
            .args(&flags)
            .arg("--config=/dev/null")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{flags:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&expected), "{flags:?}: {stderr}");
    }
}
