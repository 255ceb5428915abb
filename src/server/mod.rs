//! The HTTPS listener: TLS handshakes, HTTP/1.1 and h2 on one port, connection deadlines, and
//! graceful shutdown; and the layers every request passes before the API router (`layers`).
//!
//! Unlike a plain axum server, connections are accepted by our own loop and each one is watched:
//! the handshake has a deadline, HTTP/1 headers must arrive within the header-read timeout, a
//! connection with no request in flight is closed after the idle timeout (on HTTP/1 and h2), and
//! on shutdown the loop stops accepting, lets the requests in flight finish, gives a connection
//! accepted just before the signal a moment to send its first request, and closes every other
//! connection at once, so an idle or slow client never holds the process.

pub mod auth;
mod layers;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::in_task::Executor;

pub use layers::{Limits, stack};

/// A client has this long to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Headers may take this much room, as Go's `http.DefaultMaxHeaderBytes` (1 MiB): a user of the
/// front proxy in hundreds of groups sends hundreds of `X-Remote-Group` lines.
const MAX_HEADER_BYTES: usize = 1 << 20;

/// HTTP/1 header lines per request (hyper's default is 100; the byte limit is what bounds them).
const MAX_HEADER_LINES: usize = 4096;

/// On shutdown, a connection that has not yet sent a request gets this long to send its first.
const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(2);

/// A connection told to close (idle, or shutting down) gets this long to say goodbye (h2
/// GOAWAY) before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// How often a connection's watchdog looks at it.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// Connection settings.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// `--http2-max-streams-per-connection` (0: the library default).
    pub http2_max_streams: u32,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
    /// How long a client may take to send a request's headers (HTTP/1).
    pub header_read_timeout: Duration,
    /// How long a connection without requests in flight stays open.
    pub idle_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            http2_max_streams: 0,
            drain_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(32),
            idle_timeout: Duration::from_secs(90),
        }
    }
}

/// What a connection's watchdog knows of it.
struct Activity {
    started: Instant,
    in_flight: AtomicUsize,
    served: AtomicUsize,
    /// Milliseconds after `started` when the last request began or ended.
    last_change_ms: AtomicU64,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicUsize::new(0),
            last_change_ms: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_change_ms.store(ms, Ordering::Relaxed);
    }

    fn begin(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.touch();
        RequestGuard(self.clone())
    }

    fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let last = Duration::from_millis(self.last_change_ms.load(Ordering::Relaxed));
        Some(self.started.elapsed().saturating_sub(last))
    }
}

/// Counts a request in flight on its connection until dropped (answered or abandoned).
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.served.fetch_add(1, Ordering::SeqCst);
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.touch();
    }
}

/// Whether a watched connection should be closed now: idle past the idle timeout, or shutting
/// down, except that a connection accepted just before shutdown may send its first request.
/// Closing is graceful (requests in flight finish; h2 GOAWAY, HTTP/1 `Connection: close`) and
/// a connection that has not closed itself [`CLOSE_GRACE`] later, with nothing in flight (a
/// client sending headers slowly), is dropped.
fn should_close(activity: &Activity, shutting_down: bool, idle_timeout: Duration) -> bool {
    let idle = activity.idle_for();
    if shutting_down {
        let waiting_for_first_request = idle.is_some()
            && activity.served.load(Ordering::SeqCst) == 0
            && activity.started.elapsed() < FIRST_REQUEST_GRACE;
        return !waiting_for_first_request;
    }
    idle.is_some_and(|idle| idle >= idle_timeout)
}

/// The two protocols' settings. The protocol of a connection is the one ALPN chose, as Go's
/// server does (no h2 over TLS without ALPN).
#[derive(Clone)]
struct Protocols {
    http1: hyper::server::conn::http1::Builder,
    http2: hyper::server::conn::http2::Builder<Executor>,
}

impl Protocols {
    fn new(options: &ServeOptions) -> Protocols {
        let mut http1 = hyper::server::conn::http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(options.header_read_timeout)
            .max_header_size(MAX_HEADER_BYTES)
            .max_headers(MAX_HEADER_LINES);
        let mut http2 = hyper::server::conn::http2::Builder::new(Executor);
        http2
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(MAX_HEADER_BYTES).unwrap_or(u32::MAX));
        if options.http2_max_streams > 0 {
            http2.max_concurrent_streams(options.http2_max_streams);
        }
        Protocols { http1, http2 }
    }
}

/// A connection that can be asked to finish what is in flight and close.
trait Graceful: Future {
    fn close_gracefully(self: std::pin::Pin<&mut Self>);
}

impl<I, S> Graceful for hyper::server::conn::http1::Connection<I, S>
where
    Self: Future,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::ResBody: hyper::body::Body + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn close_gracefully(self: std::pin::Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, E> Graceful for hyper::server::conn::http2::Connection<I, S, E>
where
    Self: Future,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::ResBody: hyper::body::Body + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, S::ResBody>,
{
    fn close_gracefully(self: std::pin::Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Drive a connection until it ends, is idle too long, or shutdown closes it.
async fn watch_connection<C, E>(
    connection: C,
    peer: std::net::SocketAddr,
    activity: &Activity,
    idle_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) where
    C: Graceful<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    tokio::pin!(connection);
    let mut closing_since: Option<Instant> = None;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = shutdown.changed() => {}
            () = tokio::time::sleep(WATCH_INTERVAL) => {}
        }
        if !should_close(activity, *shutdown.borrow(), idle_timeout) {
            continue;
        }
        match closing_since {
            None => {
                connection.as_mut().close_gracefully();
                closing_since = Some(Instant::now());
            }
            Some(since) if since.elapsed() >= CLOSE_GRACE && activity.idle_for().is_some() => {
                tracing::debug!(%peer, "connection did not close in time; dropped");
                return;
            }
            Some(_) => {}
        }
    }
}

/// Serve one accepted TCP connection until it ends, is idle too long, or shutdown closes it.
async fn serve_connection(
    tcp: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    acceptor: TlsAcceptor,
    app: Router,
    protocols: Protocols,
    idle_timeout: Duration,
    shutdown: watch::Receiver<bool>,
) {
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
    let tls = stream.get_ref().1;
    let h2 = tls.alpn_protocol() == Some(b"h2");
    let peer_certificates = auth::PeerCertificates(Arc::new(
        tls.peer_certificates()
            .map(|chain| chain.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default(),
    ));
    let activity = Activity::new();
    let tracked = activity.clone();
    let service = hyper::service::service_fn(
        move |mut request: axum::http::Request<hyper::body::Incoming>| {
            let guard = tracked.begin();
            request.extensions_mut().insert(peer_certificates.clone());
            let answer = app.clone().oneshot(request);
            async move {
                // The request counts as in flight until its body is sent (or the client goes
                // away and the body is dropped).
                answer.await.map(|response| {
                    response.map(|body| {
                        axum::body::Body::new(http_body_util::BodyExt::map_frame(
                            body,
                            move |frame| {
                                let _in_flight = &guard;
                                frame
                            },
                        ))
                    })
                })
            }
        },
    );
    let io = TokioIo::new(stream);
    if h2 {
        let connection = protocols.http2.serve_connection(io, service);
        watch_connection(connection, peer, &activity, idle_timeout, shutdown).await;
    } else {
        let connection = protocols.http1.serve_connection(io, service);
        watch_connection(connection, peer, &activity, idle_timeout, shutdown).await;
    }
}

/// Serve `app` over TLS on `listener` until `shutdown` resolves, then drain: requests in
/// flight are answered (for at most the drain timeout), idle connections are closed at once.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let protocols = Protocols::new(&options);
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
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
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        connections.spawn(serve_connection(
            tcp,
            peer,
            acceptor.clone(),
            app.clone(),
            protocols.clone(),
            options.idle_timeout,
            stopping.clone(),
        ));
    }
    drop(listener);
    tracing::info!(
        connections = connections.len(),
        "shutting down: answering the requests in flight"
    );
    let _ = stop.send(true);
    let drained = tokio::time::timeout(options.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(timeout = ?options.drain_timeout, remaining = connections.len(), "drain timed out; closing the remaining connections");
        connections.shutdown().await;
    }
}

#[cfg(test)]
mod tests;
