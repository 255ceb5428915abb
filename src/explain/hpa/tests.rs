use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
use serde_json::json;

use super::*;

fn selector(text: &str) -> Selector {
    Selector::parse(text).unwrap()
}

#[test]
fn requests_are_written_as_the_controller_writes_them() {
    let pods = CustomRequest {
        namespace: Some("speech".into()),
        resource: "pods".into(),
        name: None,
        metric: "asr_active_requests".into(),
        label_selector: selector("app=lightning-asr"),
        metric_selector: selector("verb in (GET,POST)"),
    };
    assert_eq!(
        custom_path(&pods),
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/speech/pods/%2A/asr_active_requests?labelSelector=app%3Dlightning-asr&metricLabelSelector=verb+in+%28GET%2CPOST%29"
    );
    let object = CustomRequest {
        name: Some("irisa0".into()),
        resource: "models.mlops.seldon.io".into(),
        metric: "infer_rps".into(),
        label_selector: Selector::everything(),
        metric_selector: Selector::everything(),
        ..pods.clone()
    };
    assert_eq!(
        custom_path(&object),
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/speech/models.mlops.seldon.io/irisa0/infer_rps"
    );
    let namespace = CustomRequest {
        namespace: None,
        resource: "namespaces".into(),
        name: Some("speech".into()),
        ..object.clone()
    };
    assert_eq!(
        custom_path(&namespace),
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/speech/metrics/infer_rps"
    );
    let external = ExternalRequest {
        namespace: "media".into(),
        metric: "redis_queue_depth".into(),
        selector: selector("queue_name=stt-queue"),
    };
    assert_eq!(
        external_path(&external),
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/media/redis_queue_depth?labelSelector=queue_name%3Dstt-queue"
    );
    let resource = PodMetricsRequest {
        namespace: Some("speech".into()),
        name: None,
        label_selector: selector("app=lightning-asr"),
        field_selector: FieldSelector::default(),
    };
    assert_eq!(
        pods_path(&resource),
        "/apis/metrics.k8s.io/v1beta1/namespaces/speech/pods?labelSelector=app%3Dlightning-asr"
    );
}

#[test]
fn label_selectors_of_metrics_become_selector_text() {
    let s = LabelSelector {
        match_labels: Some([("queue_name".to_string(), "stt".to_string())].into()),
        match_expressions: Some(vec![
            LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: Some(vec!["a".into(), "b".into()]),
            },
            LabelSelectorRequirement {
                key: "canary".into(),
                operator: "DoesNotExist".into(),
                values: None,
            },
            LabelSelectorRequirement {
                key: "zone".into(),
                operator: "Exists".into(),
                values: None,
            },
        ]),
    };
    // Sorted by key, as apimachinery prints a selector.
    assert_eq!(
        selector_text(Some(&s)).unwrap(),
        "!canary,queue_name=stt,tier in (a,b),zone"
    );
    assert_eq!(selector_text(None).unwrap(), "");
    let bad = LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: "x".into(),
            operator: "Gt".into(),
            values: None,
        }]),
        ..LabelSelector::default()
    };
    assert_eq!(
        selector_text(Some(&bad)),
        Err(r#""Gt" is not a valid label selector operator"#.to_owned())
    );
}

fn label_selector(labels: &[(&str, &str)], exprs: &[(&str, &str, &[&str])]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
        match_expressions: Some(
            exprs
                .iter()
                .map(|(k, op, values)| LabelSelectorRequirement {
                    key: (*k).to_owned(),
                    operator: (*op).to_owned(),
                    values: Some(values.iter().map(|v| (*v).to_owned()).collect()),
                })
                .collect(),
        ),
    }
}

#[test]
fn label_selectors_print_like_apimachinery() {
    assert_eq!(
        selector_text(Some(&label_selector(&[], &[]))),
        Ok(String::new())
    );
    let s = label_selector(
        &[("verb", "GET"), ("code", "200")],
        &[
            ("zone", "In", &["b", "a"]),
            ("canary", "DoesNotExist", &[]),
            ("app", "Exists", &[]),
            ("env", "NotIn", &["dev"]),
        ],
    );
    assert_eq!(
        selector_text(Some(&s)),
        Ok("app,!canary,code=200,env notin (dev),verb=GET,zone in (a,b)".to_owned())
    );
    assert!(selector_text(Some(&label_selector(&[], &[("a", "In", &[])]))).is_err());
    assert!(selector_text(Some(&label_selector(&[], &[("a", "Exists", &["x"])]))).is_err());
    // Keys and values are checked by parsing the text.
    assert!(parse_selector(Some(&label_selector(&[("bad key!", "x")], &[]))).is_err());
}

#[test]
fn go_escaping() {
    // url.QueryEscape
    assert_eq!(query_escape("app=web"), "app%3Dweb");
    assert_eq!(
        query_escape("env in (prod,staging),tier"),
        "env+in+%28prod%2Cstaging%29%2Ctier"
    );
    assert_eq!(query_escape("!canary,a!=b"), "%21canary%2Ca%21%3Db");
    assert_eq!(
        query_escape("example.com/x_y-z~*"),
        "example.com%2Fx_y-z~%2A"
    );
    // EscapedPath: `*` becomes %2A, `:` and `@` stay.
    assert_eq!(
        path_escape("/apis/custom.metrics.k8s.io/v1beta2/namespaces/ns/pods/*/job:rate:sum"),
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/ns/pods/%2A/job:rate:sum"
    );
    assert_eq!(path_escape("/a b?c#é"), "/a%20b%3Fc%23%C3%A9");
    // url.Values.Encode: sorted keys, empty values left out.
    assert_eq!(
        encode_query(&[
            ("metricLabelSelector", "verb=GET"),
            ("labelSelector", "app=web")
        ]),
        "labelSelector=app%3Dweb&metricLabelSelector=verb%3DGET"
    );
    assert_eq!(encode_query(&[("labelSelector", "")]), "");
}

#[test]
fn request_paths_are_the_controllers() {
    assert_eq!(
        custom_metric_path(
            "v1beta2",
            Some("prod"),
            "pods",
            None,
            "http_requests",
            "app=web",
            ""
        ),
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/%2A/http_requests?labelSelector=app%3Dweb"
    );
    assert_eq!(
        custom_metric_path(
            "v1beta1",
            Some("prod"),
            "pods",
            None,
            "http_requests",
            "app=web,tier in (a,b)",
            "verb=GET"
        ),
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/pods/%2A/http_requests?labelSelector=app%3Dweb%2Ctier+in+%28a%2Cb%29&metricLabelSelector=verb%3DGET"
    );
    assert_eq!(
        custom_metric_path(
            "v1beta2",
            Some("prod"),
            "deployments.apps",
            Some("api"),
            "qps",
            "",
            ""
        ),
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/deployments.apps/api/qps"
    );
    assert_eq!(
        custom_metric_path(
            "v1beta1",
            Some("ml"),
            "models.mlops.seldon.io",
            Some("iris"),
            "infer_rps",
            "",
            "a!=b"
        ),
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/ml/models.mlops.seldon.io/iris/infer_rps?metricLabelSelector=a%21%3Db"
    );
    assert_eq!(
        custom_metric_path(
            "v1beta2",
            None,
            "namespaces",
            Some("prod"),
            "queue_length",
            "",
            ""
        ),
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/metrics/queue_length"
    );
    // Cluster-scoped objects, and the resource lowercased as client-go does.
    assert_eq!(
        custom_metric_path("v1beta2", None, "Nodes", Some("n-1"), "load", "", ""),
        "/apis/custom.metrics.k8s.io/v1beta2/nodes/n-1/load"
    );
    assert_eq!(
        external_metric_path("prod", "redis_queue_depth", "queue_name=stt-queue"),
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/prod/redis_queue_depth?labelSelector=queue_name%3Dstt-queue"
    );
    // client-go lowercases the resource segment, which carries the external metric's name.
    assert_eq!(
        external_metric_path("prod", "queueDepth", ""),
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/prod/queuedepth"
    );
    assert_eq!(
        pod_metrics_path("prod", "app=web"),
        "/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods?labelSelector=app%3Dweb"
    );
}

#[test]
fn pods_are_read_as_the_controller_reads_them() {
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "asr-0", "namespace": "speech"},
        "spec": {
            "containers": [
                {"name": "asr", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
                {"name": "log"}
            ],
            "initContainers": [
                {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
                {"name": "setup", "resources": {"requests": {"cpu": "2"}}}
            ]
        },
        "status": {
            "phase": "Running",
            "startTime": "2026-01-01T00:00:00Z",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:30Z"}]
        }
    }))
    .unwrap();
    let info = pod_info(&pod);
    assert_eq!(info.name, "asr-0");
    assert_eq!(info.phase, PodPhase::Running);
    assert_eq!(
        info.ready,
        Some((
            Readiness::Ready,
            Some("2026-01-01T00:00:30Z".parse().unwrap())
        ))
    );
    assert_eq!(info.started, Some("2026-01-01T00:00:00Z".parse().unwrap()));
    assert!(!info.deleting);
    let names: Vec<&str> = info.containers.iter().map(|(n, _)| n.as_str()).collect();
    // Regular containers and the sidecar; the init container that runs to completion is not.
    assert_eq!(names, ["asr", "log", "proxy"]);
    assert_eq!(info.containers[0].1["cpu"], 500);
    assert_eq!(info.containers[0].1["memory"], 1_073_741_824_000);
    assert!(info.containers[1].1.is_empty());
    assert!(info.pod_requests.is_empty());
}

#[test]
fn pods_being_deleted_pending_or_unready_with_pod_level_requests() {
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-0", "deletionTimestamp": "2026-05-01T09:59:00Z"},
        "spec": {
            "resources": {"requests": {"memory": "1Gi"}},
            "initContainers": [
                {"name": "init", "resources": {"requests": {"cpu": "5"}}},
                {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}}
            ],
            "containers": [
                {"name": "app", "resources": {"requests": {"cpu": "1500m", "memory": "256Mi"}}}
            ]
        },
        "status": {
            "phase": "Pending",
            "startTime": "2026-05-01T09:00:00Z",
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "False", "lastTransitionTime": "2026-05-01T09:00:30Z"}
            ]
        }
    }))
    .unwrap();
    let info = pod_info(&pod);
    assert_eq!(info.name, "web-0");
    assert_eq!(info.phase, PodPhase::Pending);
    assert!(info.deleting);
    assert_eq!(info.started, Some("2026-05-01T09:00:00Z".parse().unwrap()));
    assert_eq!(
        info.ready,
        Some((
            Readiness::NotReady,
            Some("2026-05-01T09:00:30Z".parse().unwrap())
        ))
    );
    let containers: Vec<_> = info
        .containers
        .iter()
        .map(|(name, requests)| (name.as_str(), requests.get("cpu").copied()))
        .collect();
    assert_eq!(containers, vec![("app", Some(1500)), ("proxy", Some(100))]);
    assert_eq!(
        info.pod_requests.get("memory").copied(),
        Some((1_i64 << 30) * 1000)
    );
}

#[test]
fn targets_are_read_as_the_controller_reads_them_per_metric_type() {
    let target: MetricTarget = serde_json::from_value(json!({
        "type": "AverageValue", "value": "10", "averageValue": "2", "averageUtilization": 50
    }))
    .unwrap();
    // Object metrics go by the type; External and Resource metrics take averageValue first.
    let object = object_goal(&target).unwrap();
    assert_eq!(
        (object.per_pod, object.to_string()),
        (true, "AverageValue 2".into())
    );
    let value = MetricTarget {
        type_: "Value".into(),
        ..target.clone()
    };
    assert_eq!(object_goal(&value).unwrap().to_string(), "Value 10");
    assert_eq!(external_goal(&value).unwrap().to_string(), "AverageValue 2");
    assert_eq!(resource_goal(&value).unwrap().to_string(), "AverageValue 2");
    let utilization = MetricTarget {
        type_: "Utilization".into(),
        average_value: None,
        ..target.clone()
    };
    assert_eq!(
        resource_goal(&utilization),
        Ok(ResourceGoal::Utilization(50))
    );
    assert_eq!(external_goal(&utilization).unwrap().to_string(), "Value 10");
    // A type without its field is no target.
    let none = MetricTarget {
        type_: "Value".into(),
        ..MetricTarget::default()
    };
    assert!(
        object_goal(&none)
            .unwrap_err()
            .starts_with("invalid object metric source")
    );
    assert!(
        external_goal(&none)
            .unwrap_err()
            .starts_with("invalid external metric source")
    );
    assert!(
        resource_goal(&none)
            .unwrap_err()
            .starts_with("invalid resource metric source")
    );
}
