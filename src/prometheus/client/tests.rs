use super::*;

#[test]
fn times_are_trimmed_unix_seconds() {
    let t = |ms: u64| format_time(UNIX_EPOCH + Duration::from_millis(ms));
    assert_eq!(t(1_700_000_000_000), "1700000000");
    assert_eq!(t(1_700_000_000_123), "1700000000.123");
    assert_eq!(t(1_700_000_000_100), "1700000000.1");
    assert_eq!(t(1_700_000_000_120), "1700000000.12");
}

#[test]
fn api_paths_keep_the_base_path_and_drop_its_query() {
    let base = url::Url::parse("http://prom:9090/sub/path/?x=1").unwrap();
    assert_eq!(
        api_url(&base, "api/v1/series").as_str(),
        "http://prom:9090/sub/path/api/v1/series"
    );
    let bare = url::Url::parse("http://prom:9090").unwrap();
    assert_eq!(
        api_url(&bare, "api/v1/query").as_str(),
        "http://prom:9090/api/v1/query"
    );
}

#[test]
fn credentials_in_the_url_are_basic_authentication_and_never_logged() {
    let client = |url: &str| {
        let url = url::Url::parse(url).unwrap();
        PrometheusClient::new(crate::prometheus::stand_in::config(
            url,
            Duration::from_secs(1),
            1,
        ))
        .unwrap()
    };
    let with = client("http://ad%40min:p%3Ass@prom:9090/base/");
    assert_eq!(with.url().as_str(), "http://prom:9090/base/");
    assert_eq!(
        with.api("api/v1/query").as_str(),
        "http://prom:9090/base/api/v1/query"
    );
    let header = with.token().unwrap().unwrap();
    // base64("ad@min:p:ss")
    assert_eq!(header.to_str().unwrap(), "Basic YWRAbWluOnA6c3M=");
    assert!(header.is_sensitive());
    assert!(client("http://prom:9090/").token().unwrap().is_none());
}

use crate::prometheus::stand_in::{Answer, StandIn, vector};

const QUERY: &str = "/api/v1/query";

/// Every answer is `vector(N)`, N counting the queries received.
fn counting() -> String {
    vector(&[(&[], "{n}")])
}

fn value(outcome: &QueryOutcome) -> f64 {
    match outcome.as_ref().map(|r| &**r) {
        Ok(QueryResult::Vector(samples)) => samples[0].value,
        other => panic!("not a vector: {other:?}"),
    }
}

#[tokio::test]
async fn identical_queries_in_flight_are_sent_once() {
    let prometheus = StandIn::start().await;
    prometheus.set(QUERY, Answer::Stall(counting()));
    let client = prometheus.client(Duration::from_secs(10), 4);
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.query("up").await })
        })
        .collect();
    while prometheus.received(QUERY) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    prometheus.set(QUERY, Answer::Body(counting()));
    prometheus.release();
    for call in calls {
        assert_eq!(value(&call.await.unwrap()), 1.0);
    }
    assert_eq!(prometheus.received(QUERY), 1);
    // Once answered, the same query is asked anew: never an answer older than the call.
    assert_eq!(value(&client.query("up").await), 2.0);
    assert!(client.inner.in_flight.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_query_whose_callers_all_left_does_not_poison_the_next_one() {
    let prometheus = StandIn::start().await;
    prometheus.set(QUERY, Answer::Stall(counting()));
    let client = prometheus.client(Duration::from_millis(500), 4);
    // Callers give up long before Prometheus answers.
    for _ in 0..3 {
        let gave_up = tokio::time::timeout(Duration::from_millis(50), client.query("up")).await;
        assert!(gave_up.is_err());
    }
    // The shared call ends by its own timeout and removes its entry, callers or not.
    let started = Instant::now();
    while !client.inner.in_flight.lock().unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the entry stayed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Prometheus answers again: the next identical query reaches it and gets a fresh answer.
    prometheus.set(QUERY, Answer::Body(counting()));
    prometheus.release();
    assert_eq!(value(&client.query("up").await), 2.0);
    assert_eq!(prometheus.received(QUERY), 2);
}

#[tokio::test]
async fn the_caller_driving_a_shared_call_may_leave_and_the_others_get_its_answer() {
    let prometheus = StandIn::start().await;
    prometheus.set(QUERY, Answer::Stall(counting()));
    let client = prometheus.client(Duration::from_secs(10), 4);
    let first = {
        let client = client.clone();
        tokio::spawn(async move { client.query("up").await })
    };
    while prometheus.received(QUERY) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A second caller joins: its first poll finds the call in flight and waits on it.
    let mut second = Box::pin(client.query("up"));
    assert!(futures::poll!(&mut second).is_pending());
    // The caller that sent the query goes away (its client hung up) before the answer.
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    prometheus.set(QUERY, Answer::Body(counting()));
    prometheus.release();
    assert_eq!(value(&second.await), 1.0);
    assert_eq!(prometheus.received(QUERY), 1);
    assert!(client.inner.in_flight.lock().unwrap().is_empty());
}

#[tokio::test]
async fn calls_beyond_the_concurrency_limit_wait_within_their_timeout() {
    let prometheus = StandIn::start().await;
    prometheus.set(QUERY, Answer::Stall(counting()));
    let client = prometheus.client(Duration::from_millis(300), 4);
    // Four long calls (as a relist makes) take the four slots; a query cannot get one within
    // its own timeout, and never reaches Prometheus.
    let held: Vec<_> = (0..4)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let query = format!("q{i}");
                client
                    .fetch::<QueryResult>(
                        &client.inner.query_url,
                        &[("query", query.as_str())],
                        Verb::Post,
                        Duration::from_secs(30),
                    )
                    .await
                    .map(|(result, _)| result)
            })
        })
        .collect();
    while prometheus.received(QUERY) < 4 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let fifth = client.query("q5").await;
    assert!(
        matches!(fifth.as_ref().map_err(|e| &**e), Err(Error::Saturated(4))),
        "{fifth:?}"
    );
    assert_eq!(prometheus.received(QUERY), 4);
    // Once the slots free up, queries go through again.
    prometheus.set(QUERY, Answer::Body(counting()));
    prometheus.release();
    for call in held {
        assert!(call.await.unwrap().is_ok());
    }
    assert_eq!(value(&client.query("q5").await), 5.0);
}

#[test]
fn discovery_calls_and_long_queries_ask_for_gzip_short_queries_do_not() {
    let long = "x".repeat(LARGE_QUERY_BYTES + 1);
    assert!(wants_compression(
        "/prom/api/v1/series",
        &[("match[]", "up")]
    ));
    assert!(wants_compression("/api/v1/labels", &[]));
    assert!(wants_compression("/api/v1/label/__name__/values", &[]));
    assert!(wants_compression(
        "/api/v1/query",
        &[("query", long.as_str())]
    ));
    assert!(!wants_compression(
        "/api/v1/query",
        &[("query", "sum(up{pod=\"a\"}) by (pod)"), ("time", "1")]
    ));
}
