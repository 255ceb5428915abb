//! The serving certificate is reloaded from disk: a Secret volume's symlink swap reaches new
//! connections without a restart, and requests on connections already open keep being answered.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::adapter::Adapter;
use crate::support::world::{ASR_RULES, World};

/// A CA and a serving certificate for 127.0.0.1 it issued: (CA PEM, cert PEM, key PEM).
fn issued(name: &str) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// Write a Secret volume's layout: `tls.crt -> ..data/tls.crt`, `..data -> <version>`, the
/// link swapped atomically as the kubelet does.
fn secret_volume(dir: &Path, version: &str, cert: &str, key: &str) {
    let data = dir.join(version);
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("tls.crt"), cert).unwrap();
    std::fs::write(data.join("tls.key"), key).unwrap();
    let link = dir.join("..data_tmp");
    std::os::unix::fs::symlink(version, &link).unwrap();
    std::fs::rename(&link, dir.join("..data")).unwrap();
    for file in ["tls.crt", "tls.key"] {
        let _ = std::os::unix::fs::symlink(format!("..data/{file}"), dir.join(file));
    }
}

/// A client that trusts only `ca`.
fn trusting(ca: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()])
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_serving_certificate_is_served_without_a_restart() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let world = World::asr(1.0, |_, _| {}).await;
    let volume = tempfile::tempdir().unwrap();
    let (old_ca, old_cert, old_key) = issued("old CA");
    let (new_ca, new_cert, new_key) = issued("new CA");
    secret_volume(volume.path(), "..2026_11_30_01", &old_cert, &old_key);
    let adapter = world
        .adapter(
            Adapter::builder(ASR_RULES)
                .arg(format!(
                    "--tls-cert-file={}",
                    volume.path().join("tls.crt").display()
                ))
                .arg(format!(
                    "--tls-private-key-file={}",
                    volume.path().join("tls.key").display()
                ))
                .arg("--tls-reload-interval=1s"),
        )
        .await;
    let url = format!("{}/apis/custom.metrics.k8s.io/v1beta2", adapter.url());
    let old_client = trusting(&old_ca);
    let new_client = trusting(&new_ca);
    let status = |client: &reqwest::Client| {
        let request = client.get(&url).send();
        async move { request.await.map(|r| r.status().as_u16()) }
    };
    assert_eq!(status(&old_client).await.unwrap(), 200);
    assert!(
        status(&new_client).await.is_err(),
        "the new CA is not served yet"
    );

    // Requests keep flowing on the connection opened with the old certificate.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let steady = {
        let (client, url, stop, answered) = (
            old_client.clone(),
            url.clone(),
            stop.clone(),
            answered.clone(),
        );
        tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                match client.get(&url).send().await {
                    Ok(r) if r.status().is_success() => {
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => failures.push(r.status().to_string()),
                    Err(e) => failures.push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            failures
        })
    };

    secret_volume(volume.path(), "..2026_11_30_02", &new_cert, &new_key);
    let started = Instant::now();
    while status(&new_client).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the rotated certificate was not served within a minute:\n{}",
            adapter.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status(&new_client).await.unwrap(), 200);
    adapter
        .wait_for_log("serving certificate reloaded", Duration::from_secs(5))
        .await;

    stop.store(true, Ordering::SeqCst);
    let failures = steady.await.unwrap();
    assert!(failures.is_empty(), "dropped requests: {failures:?}");
    assert!(answered.load(Ordering::SeqCst) > 0);
    // A new connection trusting only the old CA is refused now.
    assert!(status(&trusting(&old_ca)).await.is_err());
}
