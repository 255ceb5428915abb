//! Micro benchmarks of the pure core: rendering a query, parsing a selector, formatting
//! quantities.
//! Run with `cargo bench --bench core`.

// A test harness may panic: that is how it fails (Cargo.toml's [lints] are for the server).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use metrics_adapter::quantity::{self, Format};
use metrics_adapter::resources::{GroupResource, ResourceCatalog};
use metrics_adapter::rules::{self, query::ObjectRequest};
use metrics_adapter::selector::Selector;

const RULES: &str = r#"rules:
- seriesQuery: 'asr_active_requests{namespace!="",pod!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      pod: {resource: pod}
  metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
"#;

fn render_star_query(c: &mut Criterion) {
    let rules = rules::parse(RULES, "bench.yaml").expect("bench rules load");
    let catalog = ResourceCatalog::well_known();
    let pods = catalog
        .resolve(&GroupResource::parse("pods"))
        .expect("pods is well known")
        .clone();
    let names: Vec<String> = (0..1000)
        .map(|i| format!("lightning-asr-7d9c5b8f6-{i:05}"))
        .collect();
    let selector = Selector::parse("").expect("empty selector");
    c.bench_function("render * query for 1000 pods", |b| {
        b.iter(|| {
            let request = ObjectRequest {
                series: "asr_active_requests",
                resource: &pods,
                namespace: Some("speech"),
                names: black_box(&names),
                metric_selector: &selector,
                extra_group_by: &[],
            };
            rules.custom[0].object_query(&catalog, &request)
        })
    });
}

fn parse_selector(c: &mut Criterion) {
    let text = "app=lightning-asr,tier!=batch,env in (prod,staging),region notin (eu-west-1,us-east-2),\
                example.com/team=speech,canary,!legacy,version==v2,zone in (a,b,c),shard!=7";
    assert_eq!(
        Selector::parse(text).map(|s| s.requirements().len()).ok(),
        Some(10)
    );
    c.bench_function("parse 10-requirement selector", |b| {
        b.iter(|| Selector::parse(black_box(text)))
    });
}

fn format_quantities(c: &mut Criterion) {
    // A spread of magnitudes and fractions, as sample values come: 1,000,000 per iteration.
    let values: Vec<f64> = (0..1_000_000u32)
        .map(|i| f64::from(i) * 1.37 + f64::from(i % 1000) / 1000.0)
        .collect();
    let mut group = c.benchmark_group("quantities");
    group.sample_size(10);
    group.bench_function("format 1,000,000 quantities (DecimalSI)", |b| {
        b.iter(|| {
            let mut bytes = 0usize;
            for v in &values {
                if let Ok(q) = quantity::from_f64(black_box(*v), Format::DecimalSI) {
                    bytes += q.len();
                }
            }
            bytes
        })
    });
    group.bench_function("format 1,000,000 quantities (BinarySI)", |b| {
        b.iter(|| {
            let mut bytes = 0usize;
            for v in &values {
                if let Ok(q) = quantity::from_f64(black_box(*v * 1024.0), Format::BinarySI) {
                    bytes += q.len();
                }
            }
            bytes
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    render_star_query,
    parse_selector,
    format_quantities
);
criterion_main!(benches);
