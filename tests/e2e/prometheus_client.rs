//! The Prometheus client flags end to end: a base path, POST and GET, headers, a bearer token file,
//! TLS verified with `--prometheus-ca-file`, a client certificate, and the relist's
//! all-or-nothing rule. Between the adapter and the real Prometheus sits a small TLS front that
//! records what arrives and can refuse series calls, as a Thanos or an auth proxy would.

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
    refuse_series: AtomicBool,
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
    if api.ends_with("/series") && front.refuse_series.load(Ordering::SeqCst) {
        return status(StatusCode::BAD_GATEWAY);
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
        refuse_series: AtomicBool::new(false),
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

    for verb in ["POST", "GET"] {
        front.seen.lock().unwrap().clear();
        front.refuse_series.store(false, Ordering::SeqCst);
        let adapter = Adapter::builder(ASR_RULES)
            .arg(format!("--prometheus-verb={verb}"))
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
        let body = adapter
            .get_ok("/apis/custom.metrics.k8s.io/v1beta1/namespaces/speech/pods/asr-0/asr_active_requests")
            .await;
        assert_eq!(body["items"][0]["value"], "4");

        let seen = front.seen.lock().unwrap().clone();
        let series = seen
            .iter()
            .find(|s| s.path == format!("{BASE}/api/v1/series"))
            .expect("a series call");
        let query = seen
            .iter()
            .find(|s| s.path == format!("{BASE}/api/v1/query"))
            .expect("a query call");
        for call in [series, query] {
            assert_eq!(call.method.as_str(), verb);
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
        let params = |s: &Seen| -> Vec<(String, String)> {
            let text = if verb == "POST" {
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
        let series_params = params(series);
        assert_eq!(
            series_params[0],
            (
                "match[]".into(),
                r#"asr_active_requests{namespace!="",pod!=""}"#.into()
            )
        );
        assert_eq!(series_params[1].0, "start");
        assert!(!series_params.iter().any(|(k, _)| k == "end"));
        let query_params = params(query);
        assert_eq!(
            query_params[0],
            (
                "query".into(),
                r#"sum(asr_active_requests{namespace="speech",pod="asr-0"}) by (pod)"#.into()
            )
        );
        assert_eq!(query_params[1].0, "time");

        // All or nothing: once series calls fail, relists keep the previous registry.
        front.refuse_series.store(true, Ordering::SeqCst);
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
        let doc = adapter.get_ok("/apis/custom.metrics.k8s.io/v1beta1").await;
        assert_eq!(doc["resources"].as_array().unwrap().len(), 2, "{doc}");
    }

    // --prometheus-auth-config: the kubeconfig's CA (inline), client certificate (files,
    // relative to the kubeconfig) and token are used; its server URL is not.
    front.seen.lock().unwrap().clear();
    front.refuse_series.store(false, Ordering::SeqCst);
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
    // The registry is empty (every series call failed), so the metric is unknown.
    assert_eq!(status.as_u16(), 404, "{body}");
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
