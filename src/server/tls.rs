//! The serving certificate: from `--tls-cert-file`/`--tls-private-key-file`, or self-signed for
//! `localhost`/`127.0.0.1` and written to `--cert-dir` (reused on restart), as the Kubernetes
//! apiserver library does; and the rustls configuration (`--tls-min-version`,
//! `--tls-cipher-suites`, ALPN h2 and http/1.1).
//!
//! Unlike a fixed rustls configuration, the certificate is chosen per handshake from a
//! [`ServingCertificate`] that re-reads the files every `--tls-reload-interval`: a Secret
//! volume's symlink swap or a cert-manager rotation reaches new connections without a restart,
//! while connections already open keep theirs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

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

/// A chain and key that work together, for `provider`.
fn certified(
    provider: &CryptoProvider,
    (certs, key): (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
) -> Result<CertifiedKey, TlsError> {
    CertifiedKey::from_der(certs, key, provider).map_err(|e| TlsError::Invalid {
        flag: "--tls-cert-file",
        message: format!("certificate and key do not work together: {e}"),
    })
}

/// How long reading the certificate files may take (a hung network volume must not stall the
/// reload loop forever).
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The serving certificate in use, chosen for every handshake.
#[derive(Debug)]
pub struct ServingCertificate {
    current: ArcSwap<CertifiedKey>,
    provider: Arc<CryptoProvider>,
    /// `None` for a self-signed certificate, which never changes.
    files: Option<CertificateFiles>,
}

/// `--tls-cert-file` and `--tls-private-key-file`, with the content last loaded.
#[derive(Debug)]
struct CertificateFiles {
    cert: PathBuf,
    key: PathBuf,
    loaded: Mutex<(Vec<u8>, Vec<u8>)>,
}

impl ResolvesServerCert for ServingCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

impl ServingCertificate {
    /// Whether the certificate comes from files that can change.
    pub fn from_files(&self) -> bool {
        self.files.is_some()
    }

    /// Re-read the files; when their content changed and the new pair works, serve it from the
    /// next handshake on. `Ok(true)` when the certificate was replaced; an error leaves the
    /// current one in place.
    pub async fn reload(&self) -> Result<bool, TlsError> {
        let Some(files) = &self.files else {
            return Ok(false);
        };
        let read = |flag: &'static str, path: &Path| {
            let path = path.to_path_buf();
            async move {
                match tokio::time::timeout(READ_TIMEOUT, tokio::fs::read(&path)).await {
                    Ok(result) => result.map_err(|source| TlsError::File { flag, path, source }),
                    Err(_) => Err(TlsError::Invalid {
                        flag,
                        message: format!("{}: not read within {READ_TIMEOUT:?}", path.display()),
                    }),
                }
            }
        };
        let cert_pem = read("--tls-cert-file", &files.cert).await?;
        let key_pem = read("--tls-private-key-file", &files.key).await?;
        {
            let loaded = files.loaded.lock().unwrap_or_else(|p| p.into_inner());
            if loaded.0 == cert_pem && loaded.1 == key_pem {
                return Ok(false);
            }
        }
        let pair = parse_pair(&cert_pem, &key_pem, "--tls-cert-file")?;
        self.current
            .store(Arc::new(certified(&self.provider, pair)?));
        *files.loaded.lock().unwrap_or_else(|p| p.into_inner()) = (cert_pem, key_pem);
        Ok(true)
    }
}

/// Re-read the serving certificate every `interval`, forever. A pair that is unreadable or does
/// not work (a half-written rotation) is logged and retried; the previous one keeps serving.
pub async fn reload_forever(certificate: Arc<ServingCertificate>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        match certificate.reload().await {
            Ok(true) => tracing::info!("serving certificate reloaded"),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "serving certificate not reloaded; the previous one keeps serving")
            }
        }
    }
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

/// The rustls server configuration, and the certificate it serves (to reload).
pub fn server_config(
    options: &TlsOptions,
) -> Result<(Arc<rustls::ServerConfig>, Arc<ServingCertificate>), TlsError> {
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
    let provider = Arc::new(crypto_provider(options)?);
    let files = match (&options.cert_file, &options.key_file) {
        (Some(cert), Some(key)) => {
            let cert_pem = read("--tls-cert-file", cert)?;
            let key_pem = read("--tls-private-key-file", key)?;
            let pair = parse_pair(&cert_pem, &key_pem, "--tls-cert-file")?;
            let files = CertificateFiles {
                cert: cert.clone(),
                key: key.clone(),
                loaded: Mutex::new((cert_pem, key_pem)),
            };
            Some((pair, files))
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(TlsError::Invalid {
                flag: "--tls-cert-file",
                message: "--tls-cert-file and --tls-private-key-file go together".into(),
            });
        }
        (None, None) => None,
    };
    let (pair, files) = match files {
        Some((pair, files)) => (pair, Some(files)),
        None => (self_signed(&options.cert_dir)?, None),
    };
    let certificate = Arc::new(ServingCertificate {
        current: ArcSwap::from_pointee(certified(&provider, pair)?),
        provider: provider.clone(),
        files,
    });
    // Ask for a client certificate (the front proxy's), never require one: authentication
    // verifies it per request.
    let client_certs = super::auth::RequestClientCertificate::new(&provider);
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Invalid {
            flag: "--tls-cipher-suites",
            message: e.to_string(),
        })?
        .with_client_cert_verifier(client_certs)
        .with_cert_resolver(certificate.clone());
    config.alpn_protocols = if options.disable_http2 {
        vec![b"http/1.1".to_vec()]
    } else {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    };
    Ok((Arc::new(config), certificate))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(certificate: &ServingCertificate) -> CertificateDer<'static> {
        certificate.current.load().cert[0].clone()
    }

    #[test]
    fn self_signed_certificates_are_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let options = TlsOptions {
            cert_dir: dir.path().join("certs"),
            ..TlsOptions::default()
        };
        let (_, first) = server_config(&options).unwrap();
        let (_, second) = server_config(&options).unwrap();
        assert_eq!(served(&first), served(&second));
        assert!(!first.from_files());
    }

    fn pair(name: &str) -> (String, String) {
        let generated = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        (generated.cert.pem(), generated.signing_key.serialize_pem())
    }

    /// A Secret volume: `tls.crt -> ..data/tls.crt`, `..data -> ..<timestamp>`; an update
    /// writes a new timestamped directory and swaps the `..data` link.
    fn secret_volume(dir: &Path, version: &str, (cert, key): &(String, String)) {
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

    #[tokio::test]
    async fn certificates_from_files_are_reloaded_when_they_change() {
        let dir = tempfile::tempdir().unwrap();
        let first = pair("first.example");
        secret_volume(dir.path(), "..v1", &first);
        let options = TlsOptions {
            cert_file: Some(dir.path().join("tls.crt")),
            key_file: Some(dir.path().join("tls.key")),
            cert_dir: dir.path().join("unused"),
            ..TlsOptions::default()
        };
        let (_, certificate) = server_config(&options).unwrap();
        let initial = served(&certificate);
        assert!(certificate.from_files());
        assert!(!certificate.reload().await.unwrap(), "nothing changed");

        // A rotation through the symlink swap is picked up.
        let second = pair("second.example");
        secret_volume(dir.path(), "..v2", &second);
        assert!(certificate.reload().await.unwrap());
        let rotated = served(&certificate);
        assert_ne!(rotated, initial);
        assert_eq!(
            rotated,
            CertificateDer::from_pem_slice(second.0.as_bytes()).unwrap()
        );

        // A half-written rotation (new certificate, old key) is refused; the last good pair
        // keeps serving, and the next complete one is taken.
        let third = pair("third.example");
        secret_volume(dir.path(), "..v3", &(third.0.clone(), second.1.clone()));
        let err = certificate.reload().await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--tls-cert-file: certificate and key do not work together"),
            "{err}"
        );
        assert_eq!(served(&certificate), rotated);
        secret_volume(dir.path(), "..v4", &third);
        assert!(certificate.reload().await.unwrap());
        assert_eq!(
            served(&certificate),
            CertificateDer::from_pem_slice(third.0.as_bytes()).unwrap()
        );

        // Files that disappear leave the current pair in place.
        std::fs::remove_file(dir.path().join("..data")).unwrap();
        let err = certificate.reload().await.unwrap_err();
        assert!(err.to_string().starts_with("--tls-cert-file:"), "{err}");
        assert_eq!(
            served(&certificate),
            CertificateDer::from_pem_slice(third.0.as_bytes()).unwrap()
        );
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
