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
    assert_eq!(
        selector_text(Some(&s)).unwrap(),
        "queue_name=stt,tier in (a,b),!canary,zone"
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
    assert!(selector_text(Some(&bad)).is_err());
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
}
