//! What the client proves and trusts when it talks to Prometheus: the CA bundle, a client
//! certificate, a bearer token or basic credentials, from the `--prometheus-*` flags or from the
//! kubeconfig of `--prometheus-auth-config`.
//!
//! As in prometheus-adapter, `--prometheus-ca-file` replaces the kubeconfig's TLS settings (only
//! that CA is trusted, with the client certificate of `--prometheus-client-tls-*-file`), and
//! `--prometheus-token-file` wins over any token of the kubeconfig. Every failure names the flag
//! and the cause.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use http::HeaderValue;
use kube::config::Kubeconfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::ExposeSecret;

use super::ConfigError;

/// How the server's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) enum ServerTrust {
    /// The system's roots.
    #[default]
    System,
    /// Only these certificates (DER).
    Only(Vec<CertificateDer<'static>>),
    /// Not at all (`insecure-skip-tls-verify: true` in the kubeconfig).
    Insecure,
}

/// A client certificate chain and its key.
#[derive(Debug)]
pub(super) struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// The TLS and authentication material, read and checked.
#[derive(Debug, Default)]
pub(super) struct Credentials {
    pub trust: ServerTrust,
    /// Client certificate chain and key, checked to work together.
    pub identity: Option<Identity>,
    /// An `Authorization` header fixed for the life of the process (a kubeconfig's token or
    /// basic credentials); a token file is read by the client itself, as it rotates.
    pub authorization: Option<HeaderValue>,
    /// A kubeconfig's `tokenFile`.
    pub token_file: Option<PathBuf>,
}

pub(super) fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Read {
        flag,
        path: path.to_path_buf(),
        source,
    })
}

fn invalid(flag: &'static str, message: String) -> ConfigError {
    ConfigError::Invalid { flag, message }
}

/// The certificates of a PEM bundle; each must parse as X.509, and there must be one.
pub(super) fn ca_bundle(
    flag: &'static str,
    origin: &str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(flag, format!("{origin}: not a PEM bundle: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(flag, format!("no certs found in {origin}")));
    }
    let mut store = rustls::RootCertStore::empty();
    for cert in &certs {
        store
            .add(cert.clone())
            .map_err(|e| invalid(flag, format!("{origin}: unusable CA certificate: {e}")))?;
    }
    Ok(certs)
}

/// A client certificate chain and its key, checked to parse and to belong together.
pub(super) fn key_pair(
    flag: &'static str,
    origin: &str,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Identity, ConfigError> {
    let fail = |cause: String| {
        invalid(
            flag,
            format!("failed to read TLS key pair ({origin}): {cause}"),
        )
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| fail(format!("certificate: {e}")))?;
    if chain.is_empty() {
        return Err(fail("no certificate found".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| fail(format!("key: {e}")))?;
    rustls::sign::CertifiedKey::from_der(
        chain.clone(),
        key.clone_key(),
        &rustls::crypto::ring::default_provider(),
    )
    .map_err(|e| fail(format!("certificate and key do not match: {e}")))?;
    Ok(Identity { chain, key })
}

/// The TLS client configuration for `https` URLs: the server checked against `trust`, the
/// client certificate if any, HTTP/1.1 announced.
pub(super) fn tls_config(
    trust: &ServerTrust,
    identity: Option<&Identity>,
) -> Result<rustls::ClientConfig, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("--prometheus-url", format!("TLS: {e}")))?;
    let roots = |certs: &[CertificateDer<'static>]| {
        let mut store = rustls::RootCertStore::empty();
        store.add_parsable_certificates(certs.iter().cloned());
        store
    };
    let builder = match trust {
        ServerTrust::Only(certs) => builder.with_root_certificates(roots(certs)),
        ServerTrust::System => {
            let found = rustls_native_certs::load_native_certs();
            let store = roots(&found.certs);
            if store.is_empty() {
                return Err(invalid(
                    "--prometheus-ca-file",
                    format!(
                        "no system CA certificates found to verify Prometheus ({}); name a CA bundle",
                        found
                            .errors
                            .first()
                            .map_or("none installed".to_string(), ToString::to_string)
                    ),
                ));
            }
            builder.with_root_certificates(store)
        }
        ServerTrust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider))),
    };
    let mut config = match identity {
        Some(identity) => builder
            .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
            .map_err(|e| {
                invalid(
                    "--prometheus-client-tls-cert-file",
                    format!("unusable client certificate: {e}"),
                )
            })?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// `insecure-skip-tls-verify: true`: any certificate is accepted; signatures are still checked,
/// so the handshake itself is sound.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `Basic <base64 of name:password>`.
fn basic(name: &str, password: &str) -> String {
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"));
    format!("Basic {pair}")
}

/// `Basic` credentials from a URL's user and password (percent-decoded).
pub(super) fn basic_from_url(url: &url::Url) -> Result<HeaderValue, ConfigError> {
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    let credentials = basic(
        &decode(url.username()),
        &decode(url.password().unwrap_or_default()),
    );
    let mut value = HeaderValue::from_str(&credentials)
        .map_err(|e| invalid("--prometheus-url", format!("credentials: {e}")))?;
    value.set_sensitive(true);
    Ok(value)
}

/// `--prometheus-ca-file` (only that CA is trusted) and the client certificate files.
pub(super) fn from_files(
    ca_file: Option<&Path>,
    client_cert: Option<&(PathBuf, PathBuf)>,
) -> Result<Credentials, ConfigError> {
    const CA: &str = "--prometheus-ca-file";
    let trust = match ca_file {
        Some(ca) => ServerTrust::Only(ca_bundle(CA, &ca.display().to_string(), &read(CA, ca)?)?),
        None => ServerTrust::System,
    };
    let identity = match client_cert {
        Some((cert, key)) => Some(key_pair(
            "--prometheus-client-tls-cert-file",
            &format!("{} and {}", cert.display(), key.display()),
            &read("--prometheus-client-tls-cert-file", cert)?,
            &read("--prometheus-client-tls-key-file", key)?,
        )?),
        None => None,
    };
    Ok(Credentials {
        trust,
        identity,
        ..Credentials::default()
    })
}

/// The current context's cluster CA, client certificate and credentials of a kubeconfig
/// (`--prometheus-auth-config`); its server URL is not used.
pub(super) fn from_kubeconfig(path: &Path) -> Result<Credentials, ConfigError> {
    const FLAG: &str = "--prometheus-auth-config";
    let config = Kubeconfig::read_from(path)
        .map_err(|e| invalid(FLAG, format!("{}: {e}", path.display())))?;
    let at = |what: &str| format!("{}: {what}", path.display());
    let context_name = config
        .current_context
        .as_deref()
        .ok_or_else(|| invalid(FLAG, at("no current-context")))?;
    let context = config
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.as_ref())
        .ok_or_else(|| invalid(FLAG, at(&format!("context {context_name:?} not found"))))?;
    let cluster = config
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .and_then(|c| c.cluster.as_ref())
        .ok_or_else(|| {
            invalid(
                FLAG,
                at(&format!("cluster {:?} not found", context.cluster)),
            )
        })?;
    // A user entry without fields carries no credentials.
    let user = match &context.user {
        Some(name) => config
            .auth_infos
            .iter()
            .find(|u| &u.name == name)
            .ok_or_else(|| invalid(FLAG, at(&format!("user {name:?} not found"))))?
            .auth_info
            .as_ref(),
        None => None,
    };
    let decode = |what: &str, data: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| invalid(FLAG, at(&format!("{what}: not base64: {e}"))))
    };
    let data_or_file = |what: &str, data: Option<&str>, file: Option<&String>| match (data, file) {
        (Some(data), _) => decode(what, data).map(Some),
        (None, Some(file)) => read(FLAG, Path::new(file)).map(Some),
        (None, None) => Ok(None),
    };
    let mut credentials = Credentials::default();
    if cluster.insecure_skip_tls_verify == Some(true) {
        credentials.trust = ServerTrust::Insecure;
    } else if let Some(pem) = data_or_file(
        "certificate-authority-data",
        cluster.certificate_authority_data.as_deref(),
        cluster.certificate_authority.as_ref(),
    )? {
        credentials.trust = ServerTrust::Only(ca_bundle(FLAG, &at("certificate-authority"), &pem)?);
    }
    let Some(user) = user else {
        return Ok(credentials);
    };
    if user.exec.is_some() || user.auth_provider.is_some() {
        return Err(invalid(
            FLAG,
            at(
                "exec and auth-provider credential plugins are not supported; use a token, a token file or a client certificate",
            ),
        ));
    }
    let cert = data_or_file(
        "client-certificate-data",
        user.client_certificate_data.as_deref(),
        user.client_certificate.as_ref(),
    )?;
    let key = data_or_file(
        "client-key-data",
        user.client_key_data.as_ref().map(|k| k.expose_secret()),
        user.client_key.as_ref(),
    )?;
    credentials.identity = match (cert, key) {
        (Some(cert), Some(key)) => Some(key_pair(FLAG, &at("client certificate"), &cert, &key)?),
        (None, None) => None,
        _ => {
            return Err(invalid(
                FLAG,
                at("a client certificate needs both the certificate and the key"),
            ));
        }
    };
    let header = |value: String| {
        let mut value = HeaderValue::from_str(&value).map_err(|e| {
            invalid(
                FLAG,
                at(&format!("credentials are not a header value: {e}")),
            )
        })?;
        value.set_sensitive(true);
        Ok::<_, ConfigError>(value)
    };
    if let Some(token) = &user.token {
        credentials.authorization = Some(header(format!("Bearer {}", token.expose_secret()))?);
    } else if let Some(file) = &user.token_file {
        credentials.token_file = Some(PathBuf::from(file));
    } else if let (Some(name), Some(password)) = (&user.username, &user.password) {
        credentials.authorization = Some(header(basic(name, password.expose_secret()))?);
    }
    Ok(credentials)
}

#[cfg(test)]
mod tests;
