//! What the client proves and trusts when it talks to Prometheus: the CA bundle, a client
//! certificate, a bearer token or basic credentials, from the `--prometheus-*` flags or from the
//! kubeconfig of `--prometheus-auth-config`.
//!
//! As in prometheus-adapter, `--prometheus-ca-file` replaces the kubeconfig's TLS settings (only
//! that CA is trusted, with the client certificate of `--prometheus-client-tls-*-file`), and
//! `--prometheus-token-file` wins over any token of the kubeconfig. Unlike reqwest's own errors
//! ("builder error"), every failure names the flag and the cause.

use std::path::{Path, PathBuf};

use base64::Engine;
use kube::config::Kubeconfig;
use reqwest::header::HeaderValue;
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

/// The TLS and authentication material, read and checked.
#[derive(Debug, Default)]
pub(super) struct Credentials {
    pub trust: ServerTrust,
    /// Client certificate chain and key, PEM, checked to work together.
    pub identity: Option<Vec<u8>>,
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
) -> Result<Vec<u8>, ConfigError> {
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
    rustls::sign::CertifiedKey::from_der(chain, key, &rustls::crypto::ring::default_provider())
        .map_err(|e| fail(format!("certificate and key do not match: {e}")))?;
    let mut pem = cert_pem.to_vec();
    if !pem.ends_with(b"\n") {
        pem.push(b'\n');
    }
    pem.extend_from_slice(key_pem);
    Ok(pem)
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
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{name}:{}", password.expose_secret()));
        credentials.authorization = Some(header(format!("Basic {basic}"))?);
    }
    Ok(credentials)
}

#[cfg(test)]
mod tests;
