//! The connection side under clients that misbehave: many headers (a front-proxied user in
//! hundreds of groups), too many headers, connections that never send a request or send their
//! headers slowly, and SIGTERM while such connections are open.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::support::adapter::{Adapter, AdapterBuilder};
use crate::support::harness::free_port;
use crate::support::kube::KubeDouble;
use crate::support::world::ASR_RULES;

/// Accepts the adapter's self-signed certificate; still checks handshake signatures.
#[derive(Debug)]
struct AnyCertificate(rustls::crypto::WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// A raw TLS connection to the adapter (HTTP/1.1, no ALPN).
async fn connect(adapter: &Adapter) -> TlsStream<TcpStream> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let provider = rustls::crypto::ring::default_provider();
    let config = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(
            provider.signature_verification_algorithms,
        )))
        .with_no_client_auth();
    let address = adapter.url().trim_start_matches("https://").to_string();
    let tcp = TcpStream::connect(&address).await.expect("connect");
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS handshake")
}

/// Read until the server closes the connection; what it sent, or `None` if it stays open
/// past `within`.
async fn closed_within(stream: &mut TlsStream<TcpStream>, within: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

async fn adapter(builder: AdapterBuilder) -> (KubeDouble, Adapter) {
    let cluster = KubeDouble::start().await;
    let dead = format!("http://127.0.0.1:{}", free_port());
    let adapter = builder.start(&dead, &cluster.kubeconfig()).await;
    (cluster, adapter)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_header_lines_pass_and_more_than_a_megabyte_does_not() {
    let (_cluster, adapter) = adapter(Adapter::builder(ASR_RULES)).await;
    let url = format!("{}/healthz", adapter.url());
    let many = |count: usize, size: usize| {
        let mut headers = reqwest::header::HeaderMap::new();
        for i in 0..count {
            headers.append(
                reqwest::header::HeaderName::from_bytes(format!("x-remote-group-{i}").as_bytes())
                    .expect("name"),
                reqwest::header::HeaderValue::from_str(&"g".repeat(size)).expect("value"),
            );
        }
        headers
    };
    let h1 = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .http1_only()
        .build()
        .expect("client");
    let h2 = adapter.client().clone();
    for (protocol, client) in [("HTTP/1.1", &h1), ("h2", &h2)] {
        let response = client
            .get(&url)
            .headers(many(600, 40))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{protocol}: {e}"));
        assert_eq!(response.status(), StatusCode::OK, "{protocol}");
    }
    let response = h1
        .get(&url)
        .headers(many(300, 4000))
        .send()
        .await
        .expect("HTTP/1.1 answer");
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_and_slow_headers_are_closed() {
    let (_cluster, adapter) = adapter(
        Adapter::builder(ASR_RULES)
            .arg("--idle-timeout=2s")
            .arg("--header-read-timeout=2s"),
    )
    .await;
    // A connection that never sends a request.
    let mut idle = connect(&adapter).await;
    assert!(
        closed_within(&mut idle, Duration::from_secs(20))
            .await
            .is_some(),
        "an idle connection stayed open"
    );
    // A connection whose headers never end.
    let mut slow = connect(&adapter).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: adapter\r\nX-Slow: 1\r\n")
        .await
        .expect("write");
    assert!(
        closed_within(&mut slow, Duration::from_secs(20))
            .await
            .is_some(),
        "a connection with unfinished headers stayed open"
    );
    // A keep-alive connection that served a request, then went quiet.
    let mut quiet = connect(&adapter).await;
    quiet
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: adapter\r\n\r\n")
        .await
        .expect("write");
    let answer = closed_within(&mut quiet, Duration::from_secs(20))
        .await
        .expect("the quiet connection is closed");
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_does_not_wait_for_idle_or_slow_connections() {
    let (_cluster, adapter) =
        adapter(Adapter::builder(ASR_RULES).arg("--shutdown-drain-timeout=60s")).await;
    let mut held = Vec::new();
    for i in 0..10 {
        let mut stream = connect(&adapter).await;
        if i % 2 == 0 {
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: adapter\r\n")
                .await
                .expect("write");
        }
        held.push(stream);
    }
    // Let the connections age past the first-request grace.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let started = Instant::now();
    let status = adapter.terminate(Duration::from_secs(30)).await;
    assert!(status.success(), "{status}");
    // Well under the header-read (32 s), idle (90 s) and drain (60 s) timeouts.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "shutdown waited {:?} on idle connections",
        started.elapsed()
    );
    for stream in &mut held {
        assert!(
            closed_within(stream, Duration::from_secs(5))
                .await
                .is_some()
        );
    }
}
