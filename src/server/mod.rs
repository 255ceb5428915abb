//! The HTTPS listener: TLS handshakes, HTTP/1.1 and h2 on one port, and graceful shutdown.
//!
//! Unlike a plain axum server, connections are accepted by our own loop so that the handshake
//! has a deadline (a client that never finishes it cannot hold a task) and so that shutdown can
//! stop accepting, let in-flight requests finish, then return.

pub mod auth;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// A client has this long to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection settings.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// `--http2-max-streams-per-connection` (0: the library default).
    pub http2_max_streams: u32,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
}

/// The headers kube-apiserver puts on its answers: no cache may keep them (they depend on who
/// asks), and no client may guess another type than the one declared.
fn standard_headers(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache, private"),
    );
    if headers.contains_key(http::header::CONTENT_TYPE) {
        headers.insert(
            http::header::X_CONTENT_TYPE_OPTIONS,
            http::HeaderValue::from_static("nosniff"),
        );
    }
    response
}

/// Serve `router` over TLS on `listener` until `shutdown` resolves, then drain.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if options.http2_max_streams > 0 {
        builder
            .http2()
            .max_concurrent_streams(options.http2_max_streams);
    }
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let peer_certificates = auth::PeerCertificates(Arc::new(
                stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .map(|chain| chain.iter().map(|c| c.clone().into_owned()).collect())
                    .unwrap_or_default(),
            ));
            let service = TowerToHyperService::new(
                router
                    .map_request(
                        move |mut request: axum::http::Request<hyper::body::Incoming>| {
                            request.extensions_mut().insert(peer_certificates.clone());
                            request
                        },
                    )
                    .map_response(standard_headers),
            );
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: draining in-flight requests");
    if tokio::time::timeout(options.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?options.drain_timeout, "drain timed out; closing remaining connections");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::response::Response;

    #[test]
    fn every_answer_is_private_and_typed_bodies_are_not_sniffed() {
        let mut typed = Response::new(Body::from("ok"));
        typed.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        let typed = standard_headers(typed);
        assert_eq!(typed.headers()["cache-control"], "no-cache, private");
        assert_eq!(typed.headers()["x-content-type-options"], "nosniff");
        let empty = standard_headers(Response::new(Body::empty()));
        assert_eq!(empty.headers()["cache-control"], "no-cache, private");
        assert!(!empty.headers().contains_key("x-content-type-options"));
    }
}
