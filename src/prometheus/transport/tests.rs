use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// What a scripted server does with the `n`th request (from 0) of a connection.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Act {
    /// Answer `ok` and keep the connection open.
    Answer,
    /// Answer `ok` with `Connection: close`, then close.
    AnswerAndClose,
    /// Read the request, then close without a word (an idle timeout racing the request).
    Close,
    /// Send the head and half the body, then wait.
    Stall,
}

struct Server {
    url: Url,
    /// Connections accepted.
    connections: Arc<AtomicUsize>,
    /// Requests read, over all connections.
    requests: Arc<AtomicUsize>,
    /// The head of each request read, as sent.
    heads: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const BODY: &str = "0123456789";

/// A server doing `script(connection, request)` for each request, counting both from 0.
async fn server(script: fn(usize, usize) -> Act) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let heads = Arc::new(Mutex::new(Vec::new()));
    let (accepted, read, seen) = (connections.clone(), requests.clone(), heads.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let connection = accepted.fetch_add(1, Ordering::SeqCst);
            let (read, seen) = (read.clone(), seen.clone());
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                for request in 0.. {
                    // A request without a body (GET) ends with its blank line.
                    while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
                        let mut chunk = [0u8; 1024];
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = buffer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    let head = buffer.drain(..end).collect::<Vec<u8>>();
                    seen.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).into_owned());
                    read.fetch_add(1, Ordering::SeqCst);
                    let head = |close: bool| {
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n{}\r\n",
                            BODY.len(),
                            if close { "connection: close\r\n" } else { "" }
                        )
                    };
                    match script(connection, request) {
                        Act::Answer => {
                            let answer = head(false) + BODY;
                            if stream.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        Act::AnswerAndClose => {
                            let _ = stream.write_all((head(true) + BODY).as_bytes()).await;
                            return;
                        }
                        Act::Close => return,
                        Act::Stall => {
                            let _ = stream
                                .write_all((head(false) + &BODY[..5]).as_bytes())
                                .await;
                            std::future::pending::<()>().await;
                        }
                    }
                }
            });
        }
    });
    Server {
        url,
        connections,
        requests,
        heads,
        task,
    }
}

async fn get(transport: &Transport) -> Result<String, TransportError> {
    get_with(transport, HeaderMap::new()).await
}

async fn get_with(transport: &Transport, headers: HeaderMap) -> Result<String, TransportError> {
    let mut exchange = transport
        .send(
            &Method::GET,
            &Uri::from_static("/api/v1/query?query=up"),
            &headers,
            &Bytes::new(),
        )
        .await?;
    assert_eq!(exchange.status(), StatusCode::OK);
    let mut body = Vec::new();
    while let Some(chunk) = exchange.chunk().await? {
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8(body).unwrap())
}

#[tokio::test]
async fn calls_in_a_row_share_one_connection() {
    let server = server(|_, _| Act::Answer).await;
    let transport = Transport::new(&server.url, None, 4).unwrap();
    for _ in 0..5 {
        assert_eq!(get(&transport).await.unwrap(), BODY);
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    assert_eq!(transport.idle_count(), 1);
}

#[tokio::test]
async fn a_connection_the_server_closes_is_not_reused() {
    // Closed after each answer, announced: every call gets a fresh connection.
    let server = server(|_, _| Act::AnswerAndClose).await;
    let transport = Transport::new(&server.url, None, 4).unwrap();
    for _ in 0..3 {
        assert_eq!(get(&transport).await.unwrap(), BODY);
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 3);
    assert_eq!(server.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_reused_connection_closing_under_the_request_is_retried_once_on_a_new_one() {
    // The first connection answers once, then closes on the next request without answering.
    let server = server(|connection, request| match (connection, request) {
        (0, 0) => Act::Answer,
        (0, _) => Act::Close,
        _ => Act::Answer,
    })
    .await;
    let transport = Transport::new(&server.url, None, 4).unwrap();
    assert_eq!(get(&transport).await.unwrap(), BODY);
    assert_eq!(get(&transport).await.unwrap(), BODY);
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
    assert_eq!(server.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_new_connection_closing_without_an_answer_is_a_failure_not_a_retry() {
    let server = server(|_, _| Act::Close).await;
    let transport = Transport::new(&server.url, None, 4).unwrap();
    let error = get(&transport).await.unwrap_err();
    assert!(
        error.to_string().contains("closed"),
        "{error}: not a closed connection"
    );
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
    assert_eq!(transport.idle_count(), 0);
}

#[tokio::test]
async fn an_answer_abandoned_midway_closes_its_connection() {
    let server = server(|connection, _| {
        if connection == 0 {
            Act::Stall
        } else {
            Act::Answer
        }
    })
    .await;
    let transport = Transport::new(&server.url, None, 4).unwrap();
    let stalled = tokio::time::timeout(Duration::from_millis(200), get(&transport)).await;
    assert!(stalled.is_err(), "the stalled answer completed");
    assert_eq!(transport.idle_count(), 0);
    // The next call cannot land on the stalled connection.
    assert_eq!(get(&transport).await.unwrap(), BODY);
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn concurrent_calls_use_their_own_connections_and_keep_at_most_max_idle() {
    let server = server(|_, _| Act::Answer).await;
    let transport = Transport::new(&server.url, None, 2).unwrap();
    let calls: Vec<_> = (0..4).map(|_| get(&transport)).collect();
    for answer in futures::future::join_all(calls).await {
        assert_eq!(answer.unwrap(), BODY);
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 4);
    assert_eq!(transport.idle_count(), 2);
}

#[tokio::test]
async fn refused_connections_and_bad_urls_say_what_failed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let url = Url::parse(&format!("http://{address}/")).unwrap();
    let transport = Transport::new(&url, None, 1).unwrap();
    let error = get(&transport).await.unwrap_err().to_string();
    assert!(
        error.starts_with(&format!("connecting to {address}")),
        "{error}"
    );

    let ftp = Url::parse("ftp://prom/").unwrap();
    assert!(Transport::new(&ftp, None, 1).is_err());
    let https = Url::parse("https://prom/").unwrap();
    assert!(Transport::new(&https, None, 1).is_err());
}

#[test]
fn the_host_header_names_the_port_only_when_it_is_not_the_default() {
    let host = |url: &str| {
        Transport::new(&Url::parse(url).unwrap(), None, 1)
            .unwrap()
            .authority
    };
    assert_eq!(host("http://prom:9090/x"), "prom:9090");
    assert_eq!(host("http://prom/"), "prom");
    assert_eq!(host("http://[::1]:9090/"), "[::1]:9090");
}

#[tokio::test]
async fn requests_name_the_host_unless_a_header_already_does() {
    let server = server(|_, _| Act::Answer).await;
    let transport = Transport::new(&server.url, None, 1).unwrap();
    get(&transport).await.unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::HOST,
        HeaderValue::from_static("prometheus.example"),
    );
    get_with(&transport, headers).await.unwrap();
    let heads = server.heads.lock().unwrap().clone();
    let authority = server.url.authority().to_string();
    assert!(
        heads[0].starts_with("GET /api/v1/query?query=up HTTP/1.1\r\n"),
        "{heads:?}"
    );
    assert!(
        heads[0]
            .to_ascii_lowercase()
            .contains(&format!("host: {authority}\r\n")),
        "{heads:?}"
    );
    assert!(
        heads[1]
            .to_ascii_lowercase()
            .contains("host: prometheus.example\r\n"),
        "{heads:?}"
    );
    assert!(!heads[1].contains(&authority), "{heads:?}");
}
