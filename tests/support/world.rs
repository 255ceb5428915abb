//! The world most end-to-end tests start from: the Kubernetes API double, an exporter the test
//! controls, and a real Prometheus scraping it; and the one-pod ASR world with its rules.

use std::time::Duration;

use super::adapter::{Adapter, AdapterBuilder};
use super::exporter::Exporter;
use super::kube::{self, KubeDouble};
use super::prometheus::Prometheus;
use super::victoria_metrics::VictoriaMetrics;

/// A Pods metric served the way prometheus-adapter's docs serve one.
pub const ASR_RULES: &str = r#"rules:
- seriesQuery: 'asr_active_requests{namespace!="",pod!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      pod: {resource: pod}
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
"#;

/// The double, the exporter and Prometheus.
pub struct World {
    pub cluster: KubeDouble,
    pub exporter: Exporter,
    pub prometheus: Prometheus,
}

impl World {
    /// Start the double and the exporter, let `setup` fill them, start Prometheus, and wait
    /// until `count(<ready>)` is `series`: the exporter's series have been scraped.
    pub async fn start(
        setup: impl FnOnce(&KubeDouble, &Exporter),
        ready: &str,
        series: usize,
    ) -> World {
        let cluster = KubeDouble::start().await;
        let exporter = Exporter::start().await;
        setup(&cluster, &exporter);
        let prometheus = Prometheus::builder()
            .scrape("exporter", exporter.target())
            .start()
            .await;
        prometheus
            .wait_for(
                &format!("count({ready})"),
                |r| r.single_value() == Some(series as f64),
                Duration::from_secs(30),
            )
            .await;
        World {
            cluster,
            exporter,
            prometheus,
        }
    }

    /// Namespace `speech` with pod `asr-0` (`app=asr`) whose `asr_active_requests` is `value`.
    pub async fn asr(value: f64, setup: impl FnOnce(&KubeDouble, &Exporter)) -> World {
        World::start(
            |cluster, exporter| {
                cluster.apply(kube::namespace("speech"));
                cluster.apply(kube::pod(
                    "speech",
                    "asr-0",
                    &[("app", "asr")],
                    "Running",
                    true,
                ));
                exporter.set_gauge(
                    "asr_active_requests",
                    &[("namespace", "speech"), ("pod", "asr-0")],
                    value,
                );
                setup(cluster, exporter);
            },
            "asr_active_requests",
            1,
        )
        .await
    }

    /// Start VictoriaMetrics with `flags`, scraping this world's exporter as its Prometheus
    /// does, and wait until `count(<ready>)` is `series` there too.
    pub async fn victoria_metrics(
        &self,
        ready: &str,
        series: usize,
        flags: &[&str],
    ) -> VictoriaMetrics {
        let victoria = VictoriaMetrics::start(&[("exporter", self.exporter.target())], flags).await;
        victoria
            .wait_for(
                &format!("count({ready})"),
                |r| r.single_value() == Some(series as f64),
                Duration::from_secs(30),
            )
            .await;
        victoria
    }

    /// Start an adapter against this world's Prometheus and cluster.
    pub async fn adapter(&self, builder: AdapterBuilder) -> Adapter {
        self.adapter_at(builder, self.prometheus.base_url()).await
    }

    /// Start an adapter against this world's cluster and another Prometheus URL (a proxy).
    pub async fn adapter_at(&self, builder: AdapterBuilder, prometheus_url: &str) -> Adapter {
        builder
            .start(prometheus_url, &self.cluster.kubeconfig())
            .await
    }
}
