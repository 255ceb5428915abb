use super::*;
use crate::prometheus::Sample;
use crate::registry::MetricSource;
use crate::resources::{GroupResource, ResourceCatalog};

fn pods() -> crate::resources::ResourceInfo {
    ResourceCatalog::well_known()
        .resolve(&GroupResource::parse("pods"))
        .unwrap()
        .clone()
}

fn asked() -> Asked<'static> {
    Asked {
        metric: "asr_active_requests",
        resource: "pods",
        namespace: Some("speech"),
        selector: Some("app=asr"),
        max_age: Duration::from_secs(600),
        section: "rules",
    }
}

fn sample(labels: &[(&str, &str)], value: f64) -> Sample {
    Sample {
        labels: labels.iter().copied().collect(),
        value,
        timestamp: 0.0,
    }
}

/// A request that got as far as a query whose answer had these samples.
fn queried(samples: Vec<(Sample, SampleFate)>) -> Trace {
    Trace {
        resource: Some(pods()),
        source: Some(MetricSource {
            series: "asr_active_requests".into(),
            rule: 0,
        }),
        objects: Some(vec!["asr-0".into(), "asr-1".into()]),
        queries: vec![QueryTrace {
            resource: "",
            namespace: None,
            query: "sum(asr_active_requests{pod=~\"asr-0|asr-1\"}) by (pod)".into(),
            resource_label: Some("pod".into()),
            answer: Ok(samples),
        }],
        ..Trace::default()
    }
}

fn reason(ended: Ended, trace: &Trace, findings: &Findings) -> String {
    custom(&asked(), ended, trace, findings, false).unwrap_or_default()
}

#[test]
fn served_metrics_have_no_reason() {
    let trace = queried(vec![(sample(&[("pod", "asr-0")], 3.0), SampleFate::Kept)]);
    assert_eq!(custom(&asked(), Ended::Values(1), &trace, &[], false), None);
    assert_eq!(custom(&asked(), Ended::Values(2), &trace, &[], false), None);
    // An HPA's Object metric needs exactly one.
    assert!(
        custom(&asked(), Ended::Values(2), &trace, &[], true)
            .unwrap()
            .contains("exactly one")
    );
}

#[test]
fn what_the_registry_does_not_know_is_explained_by_the_rules() {
    let mut trace = Trace {
        resource: Some(pods()),
        ..Trace::default()
    };
    let none = reason(
        Ended::NotFound,
        &trace,
        &[("rules[0]".into(), Finding::NamesOnly("other".into()))],
    );
    assert!(
        none.starts_with("no rule names the metric asr_active_requests: no rules entry"),
        "{none}"
    );
    let unmapped = reason(
        Ended::NotFound,
        &trace,
        &[
            ("rules[0]".into(), Finding::NoSeries),
            (
                "rules[1]".into(),
                Finding::NoLabel {
                    series: "asr_active_requests".into(),
                    mapped: vec![],
                },
            ),
        ],
    );
    assert!(
        unmapped.starts_with("the series asr_active_requests exists and rules[1] names it asr_active_requests, but no label of it names pods (none of its labels names a resource)"),
        "{unmapped}"
    );
    let later = reason(
        Ended::NotFound,
        &trace,
        &[(
            "rules[0]".into(),
            Finding::NotListedYet {
                series: "asr_active_requests".into(),
            },
        )],
    );
    assert!(
        later.contains("the adapter has not listed it yet: it will on its next relist"),
        "{later}"
    );
    let stale = reason(
        Ended::NotFound,
        &trace,
        &[(
            "rules[0]".into(),
            Finding::Stale {
                series: "asr_active_requests".into(),
            },
        )],
    );
    assert!(
        stale.contains("no sample in the last 10m0s (--metrics-max-age)"),
        "{stale}"
    );
    // A failed listing is never "not found".
    trace.unavailable = true;
    let failed = reason(
        Ended::Failed,
        &trace,
        &[(
            "rules[0]".into(),
            Finding::ListFailed(
                "request to http://p/api/v1/series failed: connection refused".into(),
            ),
        )],
    );
    assert!(
        failed.starts_with("Prometheus failed listing the series of rules[0]: request to"),
        "{failed}"
    );
}

#[test]
fn resources_the_cluster_lacks_and_scopes_that_do_not_fit() {
    let unknown = reason(Ended::NotFound, &Trace::default(), &[]);
    assert!(
        unknown.starts_with("the cluster serves no resource named pods"),
        "{unknown}"
    );
    let mut cluster_scoped = asked();
    cluster_scoped.namespace = None;
    let trace = Trace {
        resource: Some(pods()),
        ..Trace::default()
    };
    let scope = custom(&cluster_scoped, Ended::NotFound, &trace, &[], false).unwrap();
    assert!(scope.starts_with("pods are namespaced"), "{scope}");
}

#[test]
fn objects_that_cannot_be_listed_or_that_the_selector_does_not_find() {
    let mut trace = queried(vec![]);
    trace.queries.clear();
    trace.objects = None;
    trace.list_error = Some(
        "the adapter may not list and watch pods (pods is forbidden); grant its service account get, list and watch on pods"
            .into(),
    );
    assert_eq!(
        reason(Ended::Failed, &trace, &[]),
        "the adapter cannot list pods: the adapter may not list and watch pods (pods is forbidden); grant its service account get, list and watch on pods"
    );
    trace.list_error = None;
    trace.objects = Some(vec![]);
    assert_eq!(
        reason(Ended::NotFound, &trace, &[]),
        "the selector app=asr matched no pods in namespace speech: compare it with the labels of the objects (for an HPA, the selector of its scale target)"
    );
}

#[test]
fn prometheus_errors_and_answers_without_a_usable_sample() {
    let mut trace = queried(vec![]);
    assert!(
        reason(Ended::NotFound, &trace, &[])
            .starts_with("Prometheus returned nothing for these pods (asr-0, asr-1)")
    );
    if let Some(q) = trace.queries.first_mut() {
        q.answer = Err("bad_data: 1:5: parse error: unexpected end of input".into());
    }
    assert_eq!(
        reason(Ended::Failed, &trace, &[]),
        "Prometheus answered an error to the query: bad_data: 1:5: parse error: unexpected end of input"
    );
    let trace = queried(vec![
        (
            sample(&[("instance", "a")], 1.0),
            SampleFate::NoResourceLabel,
        ),
        (
            sample(&[("instance", "b")], 2.0),
            SampleFate::NoResourceLabel,
        ),
    ]);
    assert!(
        reason(Ended::NotFound, &trace, &[]).starts_with("Prometheus' samples have no pod label")
    );
    let trace = queried(vec![(
        sample(&[("pod", "web-9")], 1.0),
        SampleFate::NotAsked,
    )]);
    assert_eq!(
        reason(Ended::NotFound, &trace, &[]),
        "Prometheus returned samples only for other pods (web-9), none for the ones asked about (asr-0, asr-1)"
    );
    let trace = queried(vec![(
        sample(&[("pod", "asr-0")], f64::NAN),
        SampleFate::NotANumber,
    )]);
    assert!(reason(Ended::NotFound, &trace, &[]).starts_with("Prometheus returned only NaN"));
    let mut trace = queried(vec![]);
    trace.queries.clear();
    trace.query_error = Some(
        "unable to convert resource namespaces into label: no generic resource label form specified for this metric".into(),
    );
    assert!(
        reason(Ended::NotFound, &trace, &[]).starts_with("no query can be built for this request")
    );
}

#[test]
fn external_metrics_need_a_value() {
    let mut asked = asked();
    asked.section = "externalRules";
    asked.selector = Some("queue=stt");
    let trace = Trace {
        source: Some(MetricSource {
            series: "queue_depth".into(),
            rule: 0,
        }),
        queries: vec![QueryTrace {
            resource: "",
            namespace: None,
            query: "sum(queue_depth{queue=\"stt\"})".into(),
            resource_label: None,
            answer: Ok(vec![]),
        }],
        ..Trace::default()
    };
    assert_eq!(
        external(&asked, Ended::Values(0), &trace, &[]).unwrap(),
        "Prometheus returned nothing: the query matches no series now (the HPA's selector queue=stt becomes label matchers)"
    );
    assert_eq!(external(&asked, Ended::Values(1), &trace, &[]), None);
    let trace = Trace {
        source: trace.source.clone(),
        query_error: Some(
            "unable to convert resource namespaces into label: no generic resource label form specified for this metric".into(),
        ),
        ..Trace::default()
    };
    assert!(
        external(&asked, Ended::Failed, &trace, &[])
            .unwrap()
            .contains("set resources.namespaced: false")
    );
    assert!(
        external(&asked, Ended::NotFound, &Trace::default(), &[])
            .unwrap()
            .starts_with("no rule names the metric asr_active_requests: no externalRules entry")
    );
}

#[test]
fn resource_metrics_need_resource_rules_and_running_pods() {
    let mut asked = asked();
    asked.metric = "cpu";
    let trace = Trace::default();
    assert!(
        resource(&asked, false, false, Ended::Failed, &trace, None)
            .unwrap()
            .starts_with("the rules file has no resourceRules")
    );
    assert_eq!(
        resource(&asked, true, true, Ended::Values(1), &trace, None),
        None
    );
    let trace = Trace {
        objects: Some(vec![]),
        ..Trace::default()
    };
    assert_eq!(
        resource(&asked, false, true, Ended::Values(0), &trace, None).unwrap(),
        "the selector app=asr matched no running pods in namespace speech"
    );
}
