use super::*;

struct Pki {
    ca_pem: String,
    client_cert: String,
    client_key: String,
}

fn pki() -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let client_key = rcgen::KeyPair::generate().unwrap();
    let client = rcgen::CertificateParams::new(vec!["client".to_string()])
        .unwrap()
        .signed_by(&client_key, &issuer)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        client_cert: client.pem(),
        client_key: client_key.serialize_pem(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn message(result: Result<Credentials, ConfigError>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn ca_bundles_must_hold_certificates() {
    let pki = pki();
    assert_eq!(
        ca_bundle("--f", "ca.crt", pki.ca_pem.as_bytes())
            .unwrap()
            .len(),
        1
    );
    let err = ca_bundle("--f", "ca.crt", b"").unwrap_err().to_string();
    assert_eq!(err, "--f: no certs found in ca.crt");
    // A key is not a certificate.
    let err = ca_bundle("--f", "ca.crt", pki.client_key.as_bytes())
        .unwrap_err()
        .to_string();
    assert_eq!(err, "--f: no certs found in ca.crt");
    let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let err = ca_bundle("--f", "ca.crt", garbage.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("--f: ca.crt: unusable CA certificate:"),
        "{err}"
    );
}

#[test]
fn key_pairs_must_parse_and_match() {
    let pki = pki();
    let ok = key_pair(
        "--f",
        "pair",
        pki.client_cert.as_bytes(),
        pki.client_key.as_bytes(),
    );
    let identity = ok.unwrap();
    assert_eq!(identity.chain.len(), 1);
    // The pair makes a TLS configuration whatever the trust.
    for trust in [
        ServerTrust::Insecure,
        ServerTrust::Only(identity.chain.clone()),
    ] {
        let config = tls_config(&trust, Some(&identity)).unwrap();
        assert!(config.client_auth_cert_resolver.has_certs());
        assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
    }
    let other = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let err = key_pair("--f", "pair", pki.client_cert.as_bytes(), other.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "--f: failed to read TLS key pair (pair): certificate and key do not match"
        ),
        "{err}"
    );
    let err = key_pair("--f", "pair", b"", pki.client_key.as_bytes())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "--f: failed to read TLS key pair (pair): no certificate found"
    );
    let err = key_pair("--f", "pair", pki.client_cert.as_bytes(), b"nothing")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("--f: failed to read TLS key pair (pair): key:"),
        "{err}"
    );
}

#[test]
fn files_name_their_flag() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let ca = write(dir.path(), "ca.crt", &pki.ca_pem);
    let cert = write(dir.path(), "c.crt", &pki.client_cert);
    let key = write(dir.path(), "c.key", &pki.client_key);
    let both = from_files(Some(&ca), Some(&(cert.clone(), key.clone()))).unwrap();
    assert!(matches!(both.trust, ServerTrust::Only(ref roots) if roots.len() == 1));
    assert!(both.identity.is_some());
    // A client certificate without a CA file keeps the system's roots.
    let identity_only = from_files(None, Some(&(cert.clone(), key))).unwrap();
    assert_eq!(identity_only.trust, ServerTrust::System);
    let missing = dir.path().join("missing.crt");
    let err = message(from_files(Some(&missing), None));
    assert!(
        err.starts_with("--prometheus-ca-file: unable to read"),
        "{err}"
    );
    let err = message(from_files(None, Some(&(cert, missing))));
    assert!(
        err.starts_with("--prometheus-client-tls-key-file: unable to read"),
        "{err}"
    );
}

fn kubeconfig(cluster: &str, user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: p\n  cluster:\n    server: https://ignored\n{cluster}users:\n- name: u\n  user:\n{user}contexts:\n- name: c\n  context:\n    cluster: p\n    user: u\ncurrent-context: c\n"
    )
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn kubeconfigs_give_ca_identity_and_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    write(dir.path(), "ca.crt", &pki.ca_pem);
    write(dir.path(), "c.crt", &pki.client_cert);
    write(dir.path(), "c.key", &pki.client_key);
    let load = |cluster: &str, user: &str| {
        from_kubeconfig(&write(dir.path(), "kubeconfig", &kubeconfig(cluster, user)))
    };

    // Files relative to the kubeconfig, and a token.
    let c = load(
        "    certificate-authority: ca.crt\n",
        "    token: abc\n    client-certificate: c.crt\n    client-key: c.key\n",
    )
    .unwrap();
    assert!(matches!(c.trust, ServerTrust::Only(_)));
    assert!(c.identity.is_some());
    assert_eq!(c.authorization.unwrap(), "Bearer abc");

    // Inline data, and basic credentials.
    let c = load(
        &format!("    certificate-authority-data: {}\n", b64(&pki.ca_pem)),
        &format!(
            "    username: admin\n    password: pw\n    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(&pki.client_cert),
            b64(&pki.client_key)
        ),
    )
    .unwrap();
    assert!(matches!(c.trust, ServerTrust::Only(_)));
    assert!(c.identity.is_some());
    assert_eq!(
        c.authorization.unwrap(),
        format!("Basic {}", b64("admin:pw"))
    );

    // A token file is left to the client, which re-reads it.
    let c = load(
        "    insecure-skip-tls-verify: true\n",
        "    tokenFile: token\n",
    )
    .unwrap();
    assert_eq!(c.trust, ServerTrust::Insecure);
    assert_eq!(c.token_file, Some(dir.path().join("token")));
    assert!(c.authorization.is_none());

    let refusals = [
        (
            "",
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: aws\n",
            "plugins are not supported",
        ),
        (
            "",
            "    client-certificate: c.crt\n",
            "needs both the certificate and the key",
        ),
        (
            "    certificate-authority-data: '%%%'\n",
            "",
            "certificate-authority-data: not base64",
        ),
        (
            "    certificate-authority: nope.crt\n",
            "",
            "unable to read",
        ),
    ];
    for (cluster, user, expected) in refusals {
        let err = message(load(cluster, user));
        assert!(err.starts_with("--prometheus-auth-config:"), "{err}");
        assert!(err.contains(expected), "{expected:?} not in {err}");
    }
    let no_context = write(dir.path(), "bare", "apiVersion: v1\nkind: Config\n");
    let err = message(from_kubeconfig(&no_context));
    assert!(err.ends_with("no current-context"), "{err}");
}
