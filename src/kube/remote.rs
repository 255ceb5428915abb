//! Calls to a running adapter's own endpoints (`/debug/explain`) as a user: the credentials and
//! TLS settings of a kubeconfig's current context (or a bearer token), at the adapter's URL.
//! The adapter authorizes such a call as any other, with a SubjectAccessReview of the user.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::Error;

/// Where a running adapter is, and who asks it.
#[derive(Debug, Clone, Default)]
pub struct Remote {
    /// The adapter's URL (`https://metrics-adapter.monitoring:443`).
    pub server: String,
    /// The kubeconfig whose current user (and TLS settings) to use; `$KUBECONFIG` or
    /// `~/.kube/config` when `None`.
    pub kubeconfig: Option<PathBuf>,
    /// A bearer token to send instead of the kubeconfig's credentials.
    pub token: Option<String>,
    /// CA bundle for the adapter's serving certificate.
    pub certificate_authority: Option<PathBuf>,
    /// Do not verify the adapter's serving certificate.
    pub insecure_skip_tls_verify: bool,
}

/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

async fn config(remote: &Remote) -> Result<kube::Config, Error> {
    let url: http::Uri = remote
        .server
        .parse()
        .map_err(|e| Error::Config(format!("--server {:?}: {e}", remote.server)))?;
    let read = match &remote.kubeconfig {
        Some(path) => {
            Kubeconfig::read_from(path).map_err(|e| format!("--kubeconfig {}: {e}", path.display()))
        }
        None => Kubeconfig::read().map_err(|e| e.to_string()),
    };
    let mut config = match (read, &remote.token) {
        (Ok(kubeconfig), _) => {
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| Error::Config(format!("the kubeconfig: {e}")))?
        }
        (Err(_), Some(_)) if remote.kubeconfig.is_none() => kube::Config::new(url.clone()),
        (Err(e), _) => return Err(Error::Config(e)),
    };
    config.cluster_url = url;
    config.default_retry = false;
    config.read_timeout = Some(CALL_TIMEOUT);
    if let Some(token) = &remote.token {
        config.auth_info = AuthInfo {
            token: Some(token.clone().into()),
            ..AuthInfo::default()
        };
    }
    if let Some(path) = &remote.certificate_authority {
        let pem = std::fs::read(path).map_err(|e| {
            Error::Config(format!("--certificate-authority {}: {e}", path.display()))
        })?;
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .map(|c| c.map(|c| c.to_vec()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                Error::Config(format!("--certificate-authority {}: {e}", path.display()))
            })?;
        config.root_cert = Some(certificates);
        config.root_cert_file = None;
    }
    if remote.insecure_skip_tls_verify {
        config.accept_invalid_certs = true;
    }
    Ok(config)
}

/// GET `path_and_query` from the adapter: the body of a 2xx answer, else the error it answered.
pub async fn get(remote: &Remote, path_and_query: &str) -> Result<String, Error> {
    let client = kube::Client::try_from(config(remote).await?).map_err(Error::Api)?;
    let request = http::Request::get(path_and_query)
        .body(Vec::new())
        .map_err(|e| Error::Config(format!("{path_and_query:?}: {e}")))?;
    match tokio::time::timeout(CALL_TIMEOUT, client.request_text(request)).await {
        Ok(answer) => answer.map_err(Error::Api),
        Err(_) => Err(Error::Timeout {
            what: "the call to the adapter",
            timeout: CALL_TIMEOUT,
        }),
    }
}
