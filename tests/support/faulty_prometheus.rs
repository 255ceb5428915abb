//! A Prometheus that misbehaves on cue: an HTTP/1.1 server on a free loopback port that passes
//! requests through to a real Prometheus ([`super::prometheus::Prometheus`]) and, per API path
//! or for all of them, stalls, answers late, answers a 5xx, garbage, a truncated or a huge body,
//! or resets the connection. It counts the requests per path and the connections open now, so
//! a test can assert that the adapter neither retried behind its back nor left connections open.
//!
//! Unlike a hyper-based proxy it speaks HTTP/1.1 by hand over the TCP stream: only that way can
//! it send a `Content-Length` it does not honour, cut a chunked body mid-JSON, hold a request
//! while noticing that the client went away, or reset the connection. The adapter talks
//! HTTP/1.1 to Prometheus, so nothing else is needed. Dropping the handle stops the server and
//! closes every connection.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// The longest request head (request line and headers) read.
const MAX_HEAD: usize = 64 * 1024;

/// The Prometheus HTTP API paths a fault can be set for. The stand-in tells them apart by the
/// end of the path, so a base path in front (`/prom/api/v1/query`) does not matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Route {
    /// `/api/v1/query`
    Query,
    /// `/api/v1/series`
    Series,
    /// `/api/v1/labels`
    Labels,
    /// `/api/v1/label/<name>/values`
    LabelValues,
    /// Anything else (`/-/ready`, `/api/v1/query_range`, ...).
    Other,
}

impl Route {
    /// Every route, for [`FaultyPrometheus::set_all`].
    pub const ALL: [Route; 5] = [
        Route::Query,
        Route::Series,
        Route::Labels,
        Route::LabelValues,
        Route::Other,
    ];

    /// The route of a request path.
    pub fn of(path: &str) -> Route {
        let path = path.trim_end_matches('/');
        if path.ends_with("/api/v1/query") {
            Route::Query
        } else if path.ends_with("/api/v1/series") {
            Route::Series
        } else if path.ends_with("/api/v1/labels") {
            Route::Labels
        } else if path.ends_with("/values")
            && path
                .rsplit('/')
                .nth(2)
                .is_some_and(|label| label == "label")
            && path.contains("/api/v1/label/")
        {
            Route::LabelValues
        } else {
            Route::Other
        }
    }
}

/// How the stand-in answers the requests of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forwards to the real Prometheus and relays its answer (502 if it cannot be reached, as
    /// a reverse proxy answers).
    PassThrough,
    /// Reads the request and never answers; the connection stays open until the client closes
    /// it (or the stand-in is dropped). Requests already held stay held when the fault changes.
    Stall,
    /// Holds the request this long, then forwards it and relays a fresh answer (dropped if the
    /// client goes away meanwhile).
    Delay(Duration),
    /// Answers this status (a 5xx, say) with a plain-text body, as a proxy in front of
    /// Prometheus or an overloaded Thanos does; the connection is kept.
    Status(u16),
    /// Answers `status` with `body` as `application/json`: a backend that lies (a wrong
    /// result type, an error JSON, numbers that are not numbers).
    Answer { status: u16, body: String },
    /// Answers 200, `application/json`, with a body that is not JSON (and not UTF-8).
    Garbage,
    /// Forwards, then sends the real answer's headers with its full `Content-Length` but only
    /// the first half of the body, and closes the connection.
    TruncatedLength,
    /// Forwards, then sends the real answer chunked, cut after its first half (mid-JSON,
    /// without the last chunk), and closes the connection.
    TruncatedChunked,
    /// Answers 200 with a valid answer of at least this many MiB, shaped for the route: a
    /// vector of samples for queries, label sets for series, strings for labels and values.
    Huge { mebibytes: usize },
    /// Reads the request, then resets the connection (TCP RST, no answer).
    Reset,
}

/// One request the stand-in received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub route: Route,
    /// `GET`, `POST`.
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    /// The body (a form for POSTs).
    pub body: String,
}

impl Received {
    /// A parameter, from the form body of a POST or the query string of a GET (`query`,
    /// `match[]`, ...).
    pub fn param(&self, key: &str) -> Option<String> {
        let query = self.target.split_once('?').map_or("", |(_, q)| q);
        form_urlencoded::parse(query.as_bytes())
            .chain(form_urlencoded::parse(self.body.as_bytes()))
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }
}

/// What the connections share.
struct State {
    upstream: String,
    client: reqwest::Client,
    faults: Mutex<BTreeMap<Route, Fault>>,
    received: Mutex<Vec<Received>>,
    open: AtomicUsize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running stand-in; stopped, with its connections, when dropped.
pub struct FaultyPrometheus {
    state: Arc<State>,
    url: String,
    server: JoinHandle<()>,
}

impl FaultyPrometheus {
    /// Starts passing everything through to `upstream` (`http://127.0.0.1:PORT`, a real
    /// Prometheus' base URL).
    pub async fn start(upstream: &str) -> FaultyPrometheus {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the faulty Prometheus");
        let address = listener
            .local_addr()
            .expect("local address of the listener");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("HTTP client to the real Prometheus");
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_string(),
            client,
            faults: Mutex::new(BTreeMap::new()),
            received: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
        });
        let server = tokio::spawn(accept_loop(listener, state.clone()));
        FaultyPrometheus {
            state,
            url: format!("http://{address}"),
            server,
        }
    }

    /// `http://127.0.0.1:PORT`, the URL to give the adapter as `--prometheus-url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How requests to `route` are answered from now on (requests in progress keep theirs).
    pub fn set(&self, route: Route, fault: Fault) {
        lock(&self.state.faults).insert(route, fault);
    }

    /// Sets `fault` for every route.
    pub fn set_all(&self, fault: Fault) {
        let mut faults = lock(&self.state.faults);
        for route in Route::ALL {
            faults.insert(route, fault.clone());
        }
    }

    /// How many requests to `route` arrived (whatever they were answered).
    pub fn requests(&self, route: Route) -> usize {
        lock(&self.state.received)
            .iter()
            .filter(|r| r.route == route)
            .count()
    }

    /// Every request received, oldest first.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.state.received).clone()
    }

    /// The client connections open now.
    pub fn open_connections(&self) -> usize {
        self.state.open.load(Ordering::SeqCst)
    }

    /// Waits until at least `count` requests to `route` arrived; panics after `timeout`.
    pub async fn wait_for_requests(&self, route: Route, count: usize, timeout: Duration) {
        self.wait_until(timeout, &format!("{count} requests to {route:?}"), |s| {
            s.requests(route) >= count
        })
        .await;
    }

    /// Waits until at most `count` client connections are open (closed ones are counted as
    /// soon as the stand-in sees the close); panics after `timeout`.
    pub async fn wait_for_open_connections_at_most(&self, count: usize, timeout: Duration) {
        self.wait_until(timeout, &format!("at most {count} open connections"), |s| {
            s.open_connections() <= count
        })
        .await;
    }

    async fn wait_until(&self, timeout: Duration, what: &str, done: impl Fn(&Self) -> bool) {
        let started = Instant::now();
        while !done(self) {
            assert!(
                started.elapsed() < timeout,
                "waited {timeout:?} for {what}; open connections: {}, requests: {:?}",
                self.open_connections(),
                Route::ALL.map(|r| (r, self.requests(r)))
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for FaultyPrometheus {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl State {
    fn fault(&self, route: Route) -> Fault {
        lock(&self.faults)
            .get(&route)
            .cloned()
            .unwrap_or(Fault::PassThrough)
    }
}

/// Accepts connections until aborted; aborting drops the `JoinSet`, which ends every
/// connection task.
async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        connections.spawn(serve_connection(stream, state.clone()));
    }
}

/// Counts an open connection until dropped (also when its task is aborted).
struct OpenConnection(Arc<State>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One parsed request.
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// `Connection: close` was asked for.
    close: bool,
}

/// A client connection with what was read past the last request.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    /// Reads more bytes into the buffer; false at the end of the stream or on an error.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The next request, `None` when the client closed the connection or sent something this
    /// small parser does not take (chunked request bodies, a head over 64 KiB).
    async fn read_request(&mut self) -> Option<Request> {
        let head_end = loop {
            if let Some(at) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at;
            }
            if self.buffer.len() > MAX_HEAD || !self.fill().await {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buffer[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next()?.split(' ');
        let method = request_line.next()?.to_string();
        let target = request_line.next()?.to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if header("transfer-encoding").is_some() {
            return None;
        }
        let length: usize = header("content-length").map_or(Some(0), |v| v.parse().ok())?;
        let close = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let body_start = head_end + 4;
        while self.buffer.len() < body_start + length {
            if !self.fill().await {
                return None;
            }
        }
        let body = self.buffer[body_start..body_start + length].to_vec();
        self.buffer.drain(..body_start + length);
        Some(Request {
            method,
            target,
            headers,
            body,
            close,
        })
    }

    /// Returns when the client closes its side (reading and discarding anything it sends).
    async fn closed(&mut self) {
        while self.fill().await {
            self.buffer.clear();
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok()
    }

    /// Writes a complete response with a `Content-Length`; false if the client is gone.
    async fn respond(&mut self, status: u16, content_type: &str, body: &[u8], close: bool) -> bool {
        let head = response_head(
            status,
            content_type,
            &format!("Content-Length: {}", body.len()),
            close,
        );
        self.write(head.as_bytes()).await && self.write(body).await
    }
}

fn response_head(status: u16, content_type: &str, framing: &str, close: bool) -> String {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    let connection = if close { "close" } else { "keep-alive" };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n{framing}\r\nConnection: {connection}\r\n\r\n"
    )
}

/// Serves one client connection, request after request, each as its route's fault says.
async fn serve_connection(stream: TcpStream, state: Arc<State>) {
    state.open.fetch_add(1, Ordering::SeqCst);
    let _open = OpenConnection(state.clone());
    let mut connection = Connection {
        stream,
        buffer: Vec::new(),
    };
    while let Some(request) = connection.read_request().await {
        let route = Route::of(request.target.split('?').next().unwrap_or(""));
        lock(&state.received).push(Received {
            route,
            method: request.method.clone(),
            target: request.target.clone(),
            body: String::from_utf8_lossy(&request.body).into_owned(),
        });
        match answer(&state, &mut connection, &request, route).await {
            Next::KeepOpen if !request.close => {}
            Next::KeepOpen | Next::Close => {
                let _ = connection.stream.shutdown().await;
                return;
            }
            // Dropping the stream with linger 0 sends the RST.
            Next::Reset => return,
        }
    }
}

/// What becomes of a connection after an answer.
enum Next {
    KeepOpen,
    /// Close with a FIN.
    Close,
    /// Close with a RST.
    Reset,
}

impl From<bool> for Next {
    /// Whether the answer was written (the connection is usable).
    fn from(written: bool) -> Next {
        if written { Next::KeepOpen } else { Next::Close }
    }
}

/// Answers one request as the fault of its route says.
async fn answer(
    state: &State,
    connection: &mut Connection,
    request: &Request,
    route: Route,
) -> Next {
    let json = "application/json";
    let written = match state.fault(route) {
        Fault::PassThrough => pass_through(state, connection, request).await,
        Fault::Stall => {
            connection.closed().await;
            false
        }
        Fault::Delay(delay) => {
            tokio::select! {
                () = tokio::time::sleep(delay) => pass_through(state, connection, request).await,
                () = connection.closed() => false,
            }
        }
        Fault::Status(code) => {
            let body = format!("injected fault: {code}\n");
            connection
                .respond(code, "text/plain; charset=utf-8", body.as_bytes(), false)
                .await
        }
        Fault::Answer { status, body } => {
            connection
                .respond(status, json, body.as_bytes(), false)
                .await
        }
        Fault::Garbage => {
            let body = b"\x89PNG\r\n\x1a\n\xff\xfe not JSON {\"status\": \"succ";
            connection.respond(200, json, body, false).await
        }
        Fault::TruncatedLength => {
            let (status, content_type, body) = forward(state, request).await;
            let head = response_head(
                status,
                &content_type,
                &format!("Content-Length: {}", body.len()),
                false,
            );
            let half = &body[..body.len() / 2];
            let _ = connection.write(head.as_bytes()).await && connection.write(half).await;
            false
        }
        Fault::TruncatedChunked => {
            let (status, content_type, body) = forward(state, request).await;
            let head = response_head(status, &content_type, "Transfer-Encoding: chunked", false);
            let half = &body[..body.len() / 2];
            let chunk = [format!("{:x}\r\n", half.len()).as_bytes(), half, b"\r\n"].concat();
            let _ = connection.write(head.as_bytes()).await && connection.write(&chunk).await;
            false
        }
        Fault::Huge { mebibytes } => {
            let body = huge_body(route, mebibytes << 20);
            connection.respond(200, json, &body, false).await
        }
        Fault::Reset => {
            // Linger 0: closing sends RST instead of FIN.
            let _ = connection.stream.set_zero_linger();
            return Next::Reset;
        }
    };
    Next::from(written)
}

/// Forwards a request to the real Prometheus: its status, content type and body, or a 502
/// from the stand-in when Prometheus cannot be reached.
async fn forward(state: &State, request: &Request) -> (u16, String, Vec<u8>) {
    let url = format!("{}{}", state.upstream, request.target);
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or_default();
    let mut outgoing = state
        .client
        .request(method, &url)
        .body(request.body.clone());
    for (name, value) in &request.headers {
        // The stand-in frames its own answers and never asks for compression.
        let hop = matches!(
            name.as_str(),
            "host"
                | "connection"
                | "keep-alive"
                | "content-length"
                | "transfer-encoding"
                | "accept-encoding"
                | "te"
                | "upgrade"
        );
        if !hop {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = match outgoing.send().await {
        Ok(answer) => answer,
        Err(e) => return bad_gateway(&e),
    };
    let status = answer.status().as_u16();
    let content_type = answer
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    match answer.bytes().await {
        Ok(body) => (status, content_type, body.to_vec()),
        Err(e) => bad_gateway(&e),
    }
}

fn bad_gateway(error: &reqwest::Error) -> (u16, String, Vec<u8>) {
    let body = format!("the faulty Prometheus cannot reach the real one: {error}\n");
    (502, "text/plain; charset=utf-8".into(), body.into_bytes())
}

async fn pass_through(state: &State, connection: &mut Connection, request: &Request) -> bool {
    let (status, content_type, body) = forward(state, request).await;
    connection
        .respond(status, &content_type, &body, false)
        .await
}

/// A valid Prometheus answer of at least `bytes` bytes for `route`.
fn huge_body(route: Route, bytes: usize) -> Vec<u8> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let (open, close) = match route {
        Route::Query | Route::Other => (
            r#"{"status":"success","data":{"resultType":"vector","result":["#,
            "]}}",
        ),
        Route::Series | Route::Labels | Route::LabelValues => {
            (r#"{"status":"success","data":["#, "]}")
        }
    };
    let mut body = Vec::with_capacity(bytes + 256);
    body.extend_from_slice(open.as_bytes());
    let mut i = 0u64;
    while body.len() < bytes {
        if i > 0 {
            body.push(b',');
        }
        let item = match route {
            Route::Query | Route::Other => format!(
                r#"{{"metric":{{"__name__":"huge","namespace":"default","pod":"huge-{i:09}"}},"value":[{now:.3},"{i}"]}}"#
            ),
            Route::Series => {
                format!(r#"{{"__name__":"huge","namespace":"default","pod":"huge-{i:09}"}}"#)
            }
            Route::Labels | Route::LabelValues => format!(r#""huge-{i:09}""#),
        };
        body.extend_from_slice(item.as_bytes());
        i += 1;
    }
    body.extend_from_slice(close.as_bytes());
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::harness::http_client;
    use crate::support::prometheus::Prometheus;
    use serde_json::Value;

    const WAIT: Duration = Duration::from_secs(20);

    async fn query(client: &reqwest::Client, base: &str, promql: &str) -> reqwest::Response {
        client
            .post(format!("{base}/api/v1/query"))
            .form(&[("query", promql)])
            .send()
            .await
            .unwrap_or_else(|e| panic!("query {promql}: {e}"))
    }

    /// The full body of an answer, or the error that cut it short.
    async fn body(response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
        response.bytes().await.map(|b| b.to_vec())
    }

    #[test]
    fn routes_are_told_apart_by_the_end_of_the_path() {
        let cases = [
            ("/api/v1/query", Route::Query),
            ("/prom/sub/api/v1/query", Route::Query),
            ("/api/v1/query_range", Route::Other),
            ("/api/v1/series", Route::Series),
            ("/api/v1/labels", Route::Labels),
            ("/api/v1/label/job/values", Route::LabelValues),
            ("/api/v1/label/__name__/values/", Route::LabelValues),
            ("/-/ready", Route::Other),
            ("/values", Route::Other),
        ];
        for (path, route) in cases {
            assert_eq!(Route::of(path), route, "{path}");
        }
    }

    #[tokio::test]
    async fn passes_every_api_through_and_counts_requests_per_path() {
        let prometheus = Prometheus::builder().start().await;
        let faulty = FaultyPrometheus::start(prometheus.base_url()).await;
        let client = http_client();
        let base = faulty.url();

        let answer: Value = query(&client, base, "vector(42)")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(answer["data"]["result"][0]["value"][1], "42");
        let series = client
            .get(format!("{base}/api/v1/series?match[]=up"))
            .send()
            .await
            .unwrap();
        assert_eq!(series.status(), 200);
        body(series).await.unwrap();
        let labels: Value = client
            .get(format!("{base}/api/v1/labels"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(labels["status"], "success");
        let values: Value = client
            .get(format!("{base}/api/v1/label/job/values"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(values["status"], "success");
        let ready = client.get(format!("{base}/-/ready")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
        body(ready).await.unwrap();
        // A bad query is Prometheus' own 400, relayed.
        let bad = query(&client, base, "rate(").await;
        assert_eq!(bad.status(), 400);
        assert_eq!(bad.json::<Value>().await.unwrap()["errorType"], "bad_data");

        assert_eq!(
            Route::ALL.map(|r| faulty.requests(r)),
            [2, 1, 1, 1, 1],
            "query, series, labels, values, other"
        );
        let received = faulty.received();
        assert_eq!(received[0].method, "POST");
        assert_eq!(received[0].param("query").as_deref(), Some("vector(42)"));
        assert_eq!(received[1].param("match[]").as_deref(), Some("up"));
        // One keep-alive connection carried them all.
        assert_eq!(faulty.open_connections(), 1);
        drop(client);
        faulty.wait_for_open_connections_at_most(0, WAIT).await;
    }

    #[tokio::test]
    async fn error_statuses_lies_and_garbage_keep_the_connection_and_switch_at_runtime() {
        let prometheus = Prometheus::builder().start().await;
        let faulty = FaultyPrometheus::start(prometheus.base_url()).await;
        let client = http_client();
        let base = faulty.url();

        faulty.set(Route::Query, Fault::Status(503));
        let unavailable = query(&client, base, "vector(1)").await;
        assert_eq!(unavailable.status(), 503);
        assert_eq!(
            unavailable.text().await.unwrap(),
            "injected fault: 503\n",
            "a proxy's text, not Prometheus JSON"
        );
        // Only the query route is affected.
        let series = client
            .get(format!("{base}/api/v1/series?match[]=up"))
            .send()
            .await
            .unwrap();
        assert_eq!(series.status(), 200);
        body(series).await.unwrap();

        faulty.set(Route::Query, Fault::Garbage);
        let garbage = query(&client, base, "vector(1)").await;
        assert_eq!(garbage.status(), 200);
        assert_eq!(garbage.headers()["content-type"], "application/json");
        let bytes = body(garbage).await.unwrap();
        assert!(serde_json::from_slice::<Value>(&bytes).is_err());

        let lie = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        faulty.set(
            Route::Query,
            Fault::Answer {
                status: 200,
                body: lie.into(),
            },
        );
        let lying = query(&client, base, "vector(1)").await;
        assert_eq!(lying.text().await.unwrap(), lie);

        faulty.set_all(Fault::Status(500));
        let labels = client.get(format!("{base}/api/v1/labels")).send().await;
        let labels = labels.unwrap();
        assert_eq!(labels.status(), 500);
        body(labels).await.unwrap();
        faulty.set_all(Fault::PassThrough);
        let answer: Value = query(&client, base, "vector(7)")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(answer["data"]["result"][0]["value"][1], "7");
        assert_eq!(faulty.requests(Route::Query), 4);
        assert_eq!(faulty.open_connections(), 1, "every answer kept it open");
    }

    #[tokio::test]
    async fn truncated_bodies_fail_the_read_and_close_the_connection() {
        let prometheus = Prometheus::builder().start().await;
        let faulty = FaultyPrometheus::start(prometheus.base_url()).await;
        let client = http_client();
        let base = faulty.url();
        let full = body(query(&client, base, "vector(1)").await).await.unwrap();

        faulty.set(Route::Query, Fault::TruncatedLength);
        let cut = query(&client, base, "vector(1)").await;
        assert_eq!(cut.status(), 200);
        assert_eq!(cut.content_length(), Some(full.len() as u64));
        assert!(body(cut).await.is_err(), "fewer bytes than declared");

        faulty.set(Route::Query, Fault::TruncatedChunked);
        let cut = query(&client, base, "vector(1)").await;
        assert_eq!(cut.status(), 200);
        assert_eq!(cut.content_length(), None, "chunked");
        assert!(body(cut).await.is_err(), "no last chunk");

        // A raw look at what went over the wire: half the JSON, then the end of the stream.
        let mut raw = TcpStream::connect(base.trim_start_matches("http://"))
            .await
            .unwrap();
        raw.write_all(b"POST /api/v1/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 19\r\n\r\nquery=vector%281%29")
            .await
            .unwrap();
        let mut seen = Vec::new();
        raw.read_to_end(&mut seen).await.unwrap();
        let text = String::from_utf8_lossy(&seen);
        assert!(text.contains("Transfer-Encoding: chunked"), "{text}");
        assert!(text.contains(r#"{"status":"success""#), "{text}");
        assert!(!text.ends_with("0\r\n\r\n"), "{text}");
        faulty.wait_for_open_connections_at_most(0, WAIT).await;
    }

    #[tokio::test]
    async fn a_huge_answer_is_valid_json_of_the_routes_shape() {
        let prometheus = Prometheus::builder().start().await;
        let faulty = FaultyPrometheus::start(prometheus.base_url()).await;
        let client = http_client();
        let base = faulty.url();
        faulty.set_all(Fault::Huge { mebibytes: 2 });

        let bytes = body(query(&client, base, "vector(1)").await).await.unwrap();
        assert!(bytes.len() >= 2 << 20, "{}", bytes.len());
        let answer: Value = serde_json::from_slice(&bytes).unwrap();
        let samples = answer["data"]["result"].as_array().unwrap();
        assert!(samples.len() > 10_000, "{}", samples.len());
        assert_eq!(samples[1]["metric"]["pod"], "huge-000000001");
        assert_eq!(samples[1]["value"][1], "1");

        let series: Value = client
            .get(format!("{base}/api/v1/series?match[]=up"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(series["data"][0]["__name__"], "huge");
        let values: Value = client
            .get(format!("{base}/api/v1/label/pod/values"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(values["data"][0], "huge-000000000");
    }

    #[tokio::test]
    async fn a_reset_connection_gives_the_client_an_error_and_no_answer() {
        let prometheus = Prometheus::builder().start().await;
        let faulty = FaultyPrometheus::start(prometheus.base_url()).await;
        faulty.set(Route::Series, Fault::Reset);
        let base = faulty.url();

        let mut raw = TcpStream::connect(base.trim_start_matches("http://"))
            .await
            .unwrap();
        raw.write_all(b"GET /api/v1/series?match[]=up HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut seen = Vec::new();
        let read = raw.read_to_end(&mut seen).await;
        let error = read.expect_err("a reset, not an end of stream");
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);
        assert!(seen.is_empty());

        let failed = http_client()
            .get(format!("{base}/api/v1/series?match[]=up"))
            .send()
            .await;
        assert!(failed.is_err(), "{failed:?}");
        assert_eq!(faulty.requests(Route::Series), 2);
        faulty.wait_for_open_connections_at_most(0, WAIT).await;
    }

    #[tokio::test]
    async fn a_stalled_request_holds_its_connection_until_the_client_gives_up() {
        let prometheus = Prometheus::builder().start().await;
        let faulty = FaultyPrometheus::start(prometheus.base_url()).await;
        let base = faulty.url().to_string();
        faulty.set(Route::Query, Fault::Stall);

        // Eight callers that will wait for ever, on eight connections.
        let callers: Vec<_> = (0..8)
            .map(|i| {
                let base = base.clone();
                tokio::spawn(async move {
                    let client = http_client();
                    query(&client, &base, &format!("vector({i})")).await
                })
            })
            .collect();
        faulty.wait_for_requests(Route::Query, 8, WAIT).await;
        assert_eq!(faulty.open_connections(), 8);
        // Switching back does not release what is held...
        faulty.set(Route::Query, Fault::PassThrough);
        assert!(callers.iter().all(|c| !c.is_finished()));
        // ...but callers that go away close their connections, and the stand-in sees it.
        for caller in &callers {
            caller.abort();
        }
        faulty.wait_for_open_connections_at_most(0, WAIT).await;

        // A delayed answer comes (asked of Prometheus once the delay is over).
        faulty.set(Route::Query, Fault::Delay(Duration::from_millis(200)));
        let client = http_client();
        let answer: Value = query(&client, &base, "time()").await.json().await.unwrap();
        assert_eq!(answer["data"]["resultType"], "scalar");
        assert_eq!(faulty.requests(Route::Query), 9);

        // A client that times out while its request is delayed leaves no connection behind.
        faulty.set(Route::Query, Fault::Delay(Duration::from_secs(3600)));
        let impatient = reqwest::Client::builder()
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let timed_out = impatient
            .post(format!("{base}/api/v1/query"))
            .form(&[("query", "vector(1)")])
            .send()
            .await;
        assert!(timed_out.is_err_and(|e| e.is_timeout()));
        drop(impatient);
        drop(client);
        faulty.wait_for_open_connections_at_most(0, WAIT).await;
    }

    #[tokio::test]
    async fn prometheus_stopped_and_started_again_keeps_its_port_and_data() {
        let exporter = crate::support::exporter::Exporter::start().await;
        exporter.set_gauge("restart_probe", &[("side", "a")], 3.0);
        let mut prometheus = Prometheus::builder()
            .scrape("exporter", exporter.target())
            .start()
            .await;
        prometheus
            .wait_for_value("restart_probe", 3.0, 0.0, WAIT)
            .await;
        let before = prometheus
            .query("count_over_time(restart_probe[1h])")
            .await
            .single_value()
            .unwrap();
        let faulty = FaultyPrometheus::start(prometheus.base_url()).await;
        let client = http_client();
        let (url, pid) = (prometheus.base_url().to_string(), prometheus.pid());

        prometheus.stop().await;
        assert!(!crate::support::harness::process_is_running(pid));
        assert!(!prometheus.is_running());
        assert!(client.get(format!("{url}/-/ready")).send().await.is_err());
        // Through the stand-in, a stopped Prometheus is a proxy's 502.
        assert_eq!(
            query(&client, faulty.url(), "vector(1)").await.status(),
            502
        );

        prometheus.start_again().await;
        assert_eq!(prometheus.base_url(), url);
        assert_ne!(prometheus.pid(), pid);
        let after = prometheus
            .query("count_over_time(restart_probe[1h])")
            .await
            .single_value()
            .unwrap();
        assert!(
            after >= before,
            "samples from before the stop: {before} then {after}"
        );
        assert_eq!(
            query(&client, faulty.url(), "vector(1)").await.status(),
            200
        );

        // A crash too: the write-ahead log is replayed.
        prometheus.kill();
        prometheus.start_again().await;
        prometheus
            .wait_for(
                "count_over_time(restart_probe[1h])",
                |r| r.single_value() >= Some(after),
                WAIT,
            )
            .await;
    }
}
