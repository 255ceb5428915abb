use super::*;

fn series(name: &str, labels: &[&str]) -> SeriesInfo {
    SeriesInfo {
        name: name.into(),
        labels: labels.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn admit_maps_series_to_resources_last_rule_winning() {
    let rules = crate::rules::parse(
        r#"rules:
- seriesQuery: 'http_requests_total{kubernetes_namespace!="",kubernetes_pod_name!=""}'
  resources:
    overrides:
      kubernetes_namespace: {resource: "namespace"}
      kubernetes_pod_name: {resource: "pod"}
  name: {matches: "^(.*)_total", as: "${1}_per_second"}
  metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'
- seriesQuery: '{__name__="other"}'
  resources: {template: <<.Resource>>}
  name: {as: http_requests_per_second}
  metricsQuery: x
externalRules:
- seriesQuery: 'queue_depth'
  metricsQuery: x
"#,
        "t",
    )
    .unwrap();
    let catalog = ResourceCatalog::well_known();
    let mut listed = HashMap::new();
    listed.insert(
        rules.custom[0].series_query.clone(),
        vec![
            series(
                "http_requests_total",
                &["kubernetes_namespace", "kubernetes_pod_name", "method"],
            ),
            series("no_suffix", &["kubernetes_pod_name"]),
        ],
    );
    listed.insert(
        rules.custom[1].series_query.clone(),
        vec![series("other", &["pod", "instance"])],
    );
    listed.insert("queue_depth".into(), vec![series("queue_depth", &["name"])]);
    let mut snap = Snapshot::default();
    admit(
        &mut snap,
        Api::Custom,
        &rules.custom,
        &listed,
        &catalog,
        false,
    );
    admit(
        &mut snap,
        Api::External,
        &rules.external,
        &listed,
        &catalog,
        false,
    );
    let keys: Vec<String> = snap
        .custom_sorted()
        .iter()
        .map(|k| format!("{}/{} {}", k.resource, k.metric, k.namespaced))
        .collect();
    assert_eq!(
        keys,
        [
            "namespaces/http_requests_per_second false",
            "pods/http_requests_per_second true"
        ]
    );
    let pods = MetricKey {
        resource: GroupResource::new("", "pods"),
        namespaced: true,
        metric: "http_requests_per_second".into(),
    };
    // The second rule maps `pod` too and comes later: it wins.
    assert_eq!(
        snap.custom[&pods],
        MetricSource {
            series: "other".into(),
            rule: 1
        }
    );
    assert_eq!(snap.external_sorted(), ["queue_depth"]);

    // Merging on a miss never replaces what is there.
    let mut merged = snap.clone();
    let mut again = HashMap::new();
    again.insert(
        rules.custom[0].series_query.clone(),
        vec![series("http_requests_total", &["kubernetes_pod_name"])],
    );
    admit(
        &mut merged,
        Api::Custom,
        &rules.custom,
        &again,
        &catalog,
        true,
    );
    assert_eq!(merged.custom[&pods].rule, 1);
}

use crate::prometheus::stand_in::{Answer, StandIn, series as series_answer};

const SERIES: &str = "/api/v1/series";

const ASR: &str = r#"rules:
- seriesQuery: 'asr_active_requests{namespace!="",pod!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      pod: {resource: pod}
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
"#;

fn registry(prometheus: &StandIn, on_miss_interval: Duration) -> Registry {
    let rules = crate::rules::parse(ASR, "rules.yaml").unwrap();
    Registry::new(
        Arc::new(rules),
        prometheus.client(Duration::from_secs(5), 8),
        RegistryOptions {
            max_age: Duration::from_secs(600),
            on_miss_interval,
            discovery: DiscoveryOptions {
                mode: DiscoveryMode::Series,
                timeout: Duration::from_secs(5),
                refused: LabelApiRefused::default(),
            },
        },
        Box::new(|_| {}),
    )
}

fn pods_key(metric: &str) -> MetricKey {
    MetricKey {
        resource: GroupResource::new("", "pods"),
        namespaced: true,
        metric: metric.into(),
    }
}

#[tokio::test]
async fn a_metric_is_not_found_only_when_the_listings_that_could_name_it_succeeded() {
    let prometheus = StandIn::start().await;
    let catalog = ResourceCatalog::well_known();
    prometheus.set(SERIES, Answer::Status(503));
    let registry = registry(&prometheus, Duration::ZERO);
    // Prometheus failed the relist: the metric is unavailable, not unknown.
    assert!(!registry.relist(&catalog).await);
    assert!(registry.listed_once());
    assert_eq!(
        registry
            .custom(&pods_key("asr_active_requests"), &catalog)
            .await,
        Err(Unavailable)
    );
    // It recovers: listed, found; a metric no rule names is now plainly not found.
    prometheus.set(
        SERIES,
        Answer::Body(series_answer(&[(
            "asr_active_requests",
            &["namespace", "pod"],
        )])),
    );
    assert!(registry.relist(&catalog).await);
    assert!(
        registry
            .custom(&pods_key("asr_active_requests"), &catalog)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        registry.custom(&pods_key("no_such_metric"), &catalog).await,
        Ok(None)
    );
}

#[tokio::test]
async fn on_a_miss_the_series_are_listed_at_once_and_at_most_once_per_interval() {
    let prometheus = StandIn::start().await;
    let catalog = ResourceCatalog::well_known();
    prometheus.set(SERIES, Answer::Body(series_answer(&[])));
    let registry = registry(&prometheus, Duration::from_secs(3600));
    assert!(registry.relist(&catalog).await);
    assert_eq!(prometheus.received(SERIES), 1);
    // The series appears after the relist: the first request finds it... once the interval
    // since that listing has passed. Within it, no second call, and an honest "not found".
    prometheus.set(
        SERIES,
        Answer::Body(series_answer(&[(
            "asr_active_requests",
            &["namespace", "pod"],
        )])),
    );
    let key = pods_key("asr_active_requests");
    assert_eq!(registry.custom(&key, &catalog).await, Ok(None));
    assert_eq!(prometheus.received(SERIES), 1);

    let eager = self::registry(&prometheus, Duration::from_millis(1));
    prometheus.set(SERIES, Answer::Body(series_answer(&[])));
    assert!(eager.relist(&catalog).await);
    prometheus.set(
        SERIES,
        Answer::Body(series_answer(&[(
            "asr_active_requests",
            &["namespace", "pod"],
        )])),
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    let found = eager
        .custom(&key, &catalog)
        .await
        .unwrap()
        .expect("found on the miss");
    assert_eq!(found.series, "asr_active_requests");
    // An on-miss listing that fails is a failure too, not "not found".
    prometheus.set(SERIES, Answer::Status(500));
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(
        eager.custom(&pods_key("asr_other"), &catalog).await,
        Err(Unavailable)
    );
}
