//! Hot reload of the rules file: a changed file that loads is applied (API groups included), a
//! refused one is logged with its line and the previous rules keep serving, SIGHUP reloads at once.

use std::time::{Duration, Instant};

use crate::support::adapter::Adapter;
use crate::support::kube::KubeDouble;
use crate::support::reference::reference_text;
use crate::support::world::{ASR_RULES, World};

const EXTERNAL: &str = r#"externalRules:
- seriesQuery: 'queue_depth{queue!=""}'
  resources: {namespaced: false}
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (queue)
"#;

async fn wait_for_status(adapter: &Adapter, path: &str, code: u16) {
    let started = Instant::now();
    loop {
        let (status, body) = adapter.get(path).await;
        if status.as_u16() == code {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{path}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_reload_when_the_file_changes_and_on_sighup() {
    let world = World::asr(2.0, |_, exporter| {
        exporter.set_gauge("queue_depth", &[("queue", "stt")], 7.0);
    })
    .await;
    world
        .prometheus
        .wait_for(
            "count(queue_depth)",
            |r| r.single_value() == Some(1.0),
            Duration::from_secs(30),
        )
        .await;
    let adapter = world
        .adapter(Adapter::builder(ASR_RULES).arg("--config-reload-interval=200ms"))
        .await;
    let external = "/apis/external.metrics.k8s.io/v1beta1/namespaces/speech/queue_depth";
    let custom =
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/speech/pods/asr-0/asr_active_requests";
    let (status, _) = adapter.get(external).await;
    assert_eq!(status.as_u16(), 404);

    // A new file with external rules too: the external group appears, with its metric.
    adapter.write_rules(&format!("{ASR_RULES}{EXTERNAL}"));
    wait_for_status(&adapter, external, 200).await;
    let body = adapter.get_ok(external).await;
    assert_eq!(body["items"][0]["value"], "7");
    let apis = adapter.get_ok("/apis").await;
    assert_eq!(apis["groups"].as_array().unwrap().len(), 2, "{apis}");
    assert_eq!(adapter.get_ok(custom).await["items"][0]["value"], "2");

    // upstream's broken sample config arrives as a reload: refused, naming line 30; the
    // previous rules keep serving.
    if let Some(sample) = reference_text(
        "upstream-docs-sample-config.yaml",
        "the sample config's reload",
    ) {
        adapter.write_rules(&sample);
        let log = adapter
            .wait_for_log("the rules file was refused", Duration::from_secs(20))
            .await;
        assert!(log.contains("config.yaml:30:"), "{log}");
        assert_eq!(adapter.get_ok(external).await["items"][0]["value"], "7");
        assert_eq!(adapter.get_ok(custom).await["items"][0]["value"], "2");
    }

    // A ConfigMap emptied by mistake is refused; the previous rules keep serving.
    adapter.write_rules("# the rules moved to another ConfigMap\n");
    adapter
        .wait_for_log("no rules at all", Duration::from_secs(20))
        .await;
    assert_eq!(adapter.get_ok(external).await["items"][0]["value"], "7");
    assert_eq!(adapter.get_ok(custom).await["items"][0]["value"], "2");

    // Back to custom rules only: the external group goes away.
    adapter.write_rules(ASR_RULES);
    wait_for_status(&adapter, external, 404).await;
    assert_eq!(adapter.get_ok(custom).await["items"][0]["value"], "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_when_polling_is_off() {
    let cluster = KubeDouble::start().await;
    // A Prometheus with no series: the new rules' first relist succeeds, so they are applied.
    let prometheus = crate::support::prometheus::Prometheus::builder()
        .start()
        .await;
    let adapter = Adapter::builder(ASR_RULES)
        .arg("--config-reload-interval=0")
        .start(prometheus.base_url(), &cluster.kubeconfig())
        .await;
    adapter.get_ok("/apis/custom.metrics.k8s.io/v1beta1").await;
    adapter.write_rules(EXTERNAL);
    adapter.signal("HUP");
    wait_for_status(&adapter, "/apis/external.metrics.k8s.io/v1beta1", 200).await;
    wait_for_status(&adapter, "/apis/custom.metrics.k8s.io/v1beta1", 404).await;
    adapter
        .wait_for_log("rules reloaded", Duration::from_secs(5))
        .await;
}
