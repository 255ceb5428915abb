//! The serving certificate: from `--tls-cert-file`/`--tls-private-key-file`, or self-signed for
//! `localhost`/`127.0.0.1` and written to `--cert-dir` (reused on restart), as the Kubernetes
//! apiserver library does; and the rustls configuration (`--tls-min-version`,
//! `--tls-cipher-suites`, ALPN h2 and http/1.1).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why the serving certificate or TLS settings are unusable; each message names its flag.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{flag}: {path}: {source}")]
    File {
        /// The flag.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A value is wrong.
    #[error("{flag}: {message}")]
    Invalid {
        /// The flag.
        flag: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// TLS settings from the command line.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// `--tls-cert-file`
    pub cert_file: Option<PathBuf>,
    /// `--tls-private-key-file`
    pub key_file: Option<PathBuf>,
    /// `--cert-dir`
    pub cert_dir: PathBuf,
    /// `--tls-min-version` (`VersionTLS12`, `VersionTLS13`).
    pub min_version: Option<String>,
    /// `--tls-cipher-suites` (Go names).
    pub cipher_suites: Vec<String>,
    /// `--disable-http2`
    pub disable_http2: bool,
}

fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::File {
        flag,
        path: path.to_path_buf(),
        source,
    })
}

fn parse_pair(
    cert_pem: &[u8],
    key_pem: &[u8],
    flag: &'static str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Invalid {
            flag,
            message: format!("not a PEM certificate chain: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Invalid {
            flag,
            message: "no certificate found".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Invalid {
        flag: "--tls-private-key-file",
        message: format!("no usable private key: {e}"),
    })?;
    Ok((certs, key))
}

/// The certificate chain and key to serve with.
pub fn serving_certificate(
    options: &TlsOptions,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    match (&options.cert_file, &options.key_file) {
        (Some(cert), Some(key)) => parse_pair(
            &read("--tls-cert-file", cert)?,
            &read("--tls-private-key-file", key)?,
            "--tls-cert-file",
        ),
        (Some(_), None) | (None, Some(_)) => Err(TlsError::Invalid {
            flag: "--tls-cert-file",
            message: "--tls-cert-file and --tls-private-key-file go together".into(),
        }),
        (None, None) => self_signed(&options.cert_dir),
    }
}

/// A self-signed certificate for localhost in `dir` (`apiserver.crt`, `apiserver.key`), made
/// once and reused.
fn self_signed(
    dir: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let cert_path = dir.join("apiserver.crt");
    let key_path = dir.join("apiserver.key");
    if cert_path.exists() && key_path.exists() {
        return parse_pair(
            &read("--cert-dir", &cert_path)?,
            &read("--cert-dir", &key_path)?,
            "--cert-dir",
        );
    }
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let generated = rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Invalid {
        flag: "--cert-dir",
        message: format!("generating a self-signed certificate: {e}"),
    })?;
    let cert_pem = generated.cert.pem();
    let key_pem = generated.signing_key.serialize_pem();
    let write = |path: &Path, data: &str| {
        std::fs::create_dir_all(dir)
            .and_then(|_| std::fs::write(path, data))
            .map_err(|source| TlsError::File {
                flag: "--cert-dir",
                path: path.to_path_buf(),
                source,
            })
    };
    write(&cert_path, &cert_pem)?;
    write(&key_path, &key_pem)?;
    tracing::info!(cert = %cert_path.display(), "generated a self-signed serving certificate");
    parse_pair(cert_pem.as_bytes(), key_pem.as_bytes(), "--cert-dir")
}

/// Go's names of the TLS 1.2 suites rustls implements. Go's flag only restricts TLS 1.2; TLS 1.3
/// suites are always enabled, as in Go.
const SUITES: &[(&str, &str)] = &[
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// Go's names of suites rustls does not implement (CBC, RSA key exchange, 3DES, RC4): accepted
/// so existing manifests start, and skipped.
const UNSUPPORTED_SUITES: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

fn crypto_provider(options: &TlsOptions) -> Result<CryptoProvider, TlsError> {
    let mut provider = rustls::crypto::ring::default_provider();
    if options.cipher_suites.is_empty() {
        return Ok(provider);
    }
    let mut tls12 = Vec::new();
    for name in &options.cipher_suites {
        if let Some((_, rustls_name)) = SUITES.iter().find(|(go, _)| go == name) {
            tls12.extend(
                provider
                    .cipher_suites
                    .iter()
                    .filter(|s| format!("{:?}", s.suite()) == *rustls_name)
                    .copied(),
            );
        } else if UNSUPPORTED_SUITES.contains(&name.as_str()) {
            tracing::warn!(suite = %name, "--tls-cipher-suites: not implemented by rustls; skipped");
        } else {
            return Err(TlsError::Invalid {
                flag: "--tls-cipher-suites",
                message: format!("unknown cipher suite {name:?}"),
            });
        }
    }
    provider
        .cipher_suites
        .retain(|s| s.version() == &rustls::version::TLS13 || tls12.contains(s));
    Ok(provider)
}

/// The rustls server configuration.
pub fn server_config(options: &TlsOptions) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match options
        .min_version
        .as_deref()
    {
        None | Some("") | Some("VersionTLS12") => {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        }
        Some("VersionTLS13") => &[&rustls::version::TLS13],
        Some(v @ ("VersionTLS10" | "VersionTLS11")) => {
            tracing::warn!(version = %v, "--tls-min-version: TLS below 1.2 is not offered; using VersionTLS12");
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        }
        Some(other) => {
            return Err(TlsError::Invalid {
                flag: "--tls-min-version",
                message: format!("unknown version {other:?} (VersionTLS12 or VersionTLS13)"),
            });
        }
    };
    let (certs, key) = serving_certificate(options)?;
    let provider = crypto_provider(options)?;
    // Ask for a client certificate (the front proxy's), never require one: authentication
    // verifies it per request.
    let client_certs = super::auth::RequestClientCertificate::new(&provider);
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Invalid {
            flag: "--tls-cipher-suites",
            message: e.to_string(),
        })?
        .with_client_cert_verifier(client_certs)
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Invalid {
            flag: "--tls-cert-file",
            message: format!("certificate and key do not work together: {e}"),
        })?;
    config.alpn_protocols = if options.disable_http2 {
        vec![b"http/1.1".to_vec()]
    } else {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificates_are_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let options = TlsOptions {
            cert_dir: dir.path().join("certs"),
            ..TlsOptions::default()
        };
        let (first, _) = serving_certificate(&options).unwrap();
        let (second, _) = serving_certificate(&options).unwrap();
        assert_eq!(first, second);
        assert!(server_config(&options).is_ok());
    }

    #[test]
    fn flags_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let base = TlsOptions {
            cert_dir: dir.path().to_path_buf(),
            ..TlsOptions::default()
        };
        let err = server_config(&TlsOptions {
            min_version: Some("VersionTLS99".into()),
            ..base.clone()
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("--tls-min-version:"), "{err}");
        let err = server_config(&TlsOptions {
            cipher_suites: vec!["TLS_NOPE".into()],
            ..base.clone()
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("--tls-cipher-suites:"), "{err}");
        let ok = server_config(&TlsOptions {
            cipher_suites: vec![
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
                "TLS_RSA_WITH_AES_128_CBC_SHA".into(),
            ],
            ..base.clone()
        });
        assert!(ok.is_ok());
        let err = server_config(&TlsOptions {
            cert_file: Some(dir.path().join("missing.crt")),
            key_file: Some(dir.path().join("missing.key")),
            ..base
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("--tls-cert-file:"), "{err}");
    }
}
