//! VictoriaMetrics as the backend: the custom and external metrics scenarios of
//! `custom_metrics.rs` and `external_and_resource.rs`, unchanged, against VictoriaMetrics 1.79
//! scraping the same exporter as the world's Prometheus, in both discovery modes. Its API
//! differences that matter to the adapter are listed in docs/compatibility.md ("Backends").

use crate::custom_metrics::{ASR_WORLD_READY, asr_world, pods_and_namespace_metrics};
use crate::external_and_resource::{
    EXTERNAL_READY, external_metrics, external_rules, external_series,
};
use crate::support::adapter::Adapter;
use crate::support::kube;
use crate::support::world::{ASR_RULES, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_metrics_on_victoria_metrics_in_both_discovery_modes() {
    let world = asr_world().await;
    // VictoriaMetrics leaves NaN samples out of query results (Prometheus returns them): the
    // NaN series of `other/weird-0` is indexed but not counted. The adapter leaves NaN out
    // anyway, so the scenario's answers are the same.
    let victoria = world
        .victoria_metrics(ASR_WORLD_READY.0, ASR_WORLD_READY.1 - 1, &[])
        .await;
    for mode in ["labels", "series"] {
        pods_and_namespace_metrics(&world, victoria.base_url(), mode).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_metrics_on_victoria_metrics_in_both_discovery_modes() {
    let Some(rules) = external_rules() else {
        return;
    };
    let world = World::start(
        |_, exporter| external_series(exporter),
        EXTERNAL_READY.0,
        EXTERNAL_READY.1,
    )
    .await;
    let victoria = world
        .victoria_metrics(EXTERNAL_READY.0, EXTERNAL_READY.1, &[])
        .await;
    for mode in ["labels", "series"] {
        let adapter = world
            .adapter_at(
                Adapter::builder(&rules).arg(format!("--discovery-mode={mode}")),
                victoria.base_url(),
            )
            .await;
        external_metrics(&adapter).await;
        // Discovery ran in the mode asked for: the label API was not refused.
        let log = adapter.log_tail(1000);
        assert!(log.contains(&format!("mode=\"{mode}\"")), "{log}");
    }
}

/// VictoriaMetrics refuses `/api/v1/series` calls matching more than `-search.maxSeries` series
/// (30,000 by default) with 422, so listing series cannot discover anything on a big cluster;
/// its label APIs have the higher `-search.maxUniqueTimeseries` limit (300,000) and narrower
/// questions. Here the limit is 1 and the query matches 2 series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_series_limit_only_label_discovery_finds_metrics() {
    let world = World::start(
        |cluster, exporter| {
            cluster.apply(kube::namespace("speech"));
            for (pod, value) in [("asr-0", 3.0), ("asr-1", 5.0)] {
                cluster.apply(kube::pod("speech", pod, &[("app", "asr")], "Running", true));
                exporter.set_gauge(
                    "asr_active_requests",
                    &[("namespace", "speech"), ("pod", pod)],
                    value,
                );
            }
        },
        "asr_active_requests",
        2,
    )
    .await;
    let victoria = world
        .victoria_metrics("asr_active_requests", 2, &["-search.maxSeries=1"])
        .await;
    let path =
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/speech/pods/asr-1/asr_active_requests";

    let series = world
        .adapter_at(
            Adapter::builder(ASR_RULES).arg("--discovery-mode=series"),
            victoria.base_url(),
        )
        .await;
    let doc = series.get_ok("/apis/custom.metrics.k8s.io/v1beta1").await;
    assert_eq!(doc["resources"], serde_json::json!([]), "{doc}");
    let log = series.log_tail(200);
    assert!(
        log.contains("unable to update list of all metrics"),
        "{log}"
    );
    assert!(
        log.contains("the number of matching timeseries exceeds 1"),
        "{log}"
    );
    // The listing failed: the metric is unavailable (a failure), not unknown.
    let (status, body) = series.get(path).await;
    assert_eq!(status.as_u16(), 500, "{body}");

    let labels = world
        .adapter_at(Adapter::builder(ASR_RULES), victoria.base_url())
        .await;
    let body = labels.get_ok(path).await;
    assert_eq!(body["items"][0]["value"], "5");
}
