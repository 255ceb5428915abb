//! Label-based discovery against an in-memory backend that evaluates selectors over generated
//! series: the registry it builds must be the one listing every series builds.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use promql_parser::parser::Expr;
use proptest::prelude::*;

use super::*;
use crate::reference_files::reference_text;
use crate::registry::{Api, Snapshot, admit};
use crate::resources::ResourceCatalog;
use crate::rules::Rules;

type Series = BTreeMap<String, String>;

/// A backend holding `series`, answering the label API (or refusing it) and `/api/v1/series`.
#[derive(Default)]
struct Memory {
    series: Vec<Series>,
    refuse: bool,
    ignore_match: bool,
    calls: RefCell<Vec<String>>,
}

impl Memory {
    fn new(series: Vec<Series>) -> Memory {
        Memory {
            series,
            ..Memory::default()
        }
    }

    /// The series `selector` matches, evaluated here with the parser's matchers: a label a series
    /// lacks reads as the empty value, as in Prometheus.
    fn matching(&self, selector: &str) -> Vec<&Series> {
        if self.ignore_match {
            return self.series.iter().collect();
        }
        let Ok(Expr::VectorSelector(vs)) = promql_parser::parser::parse(selector) else {
            panic!("not a selector: {selector}");
        };
        self.series
            .iter()
            .filter(|s| {
                vs.name.as_deref().is_none_or(|n| s["__name__"] == n)
                    && vs
                        .matchers
                        .matchers
                        .iter()
                        .all(|m| m.is_match(s.get(&m.name).map_or("", String::as_str)))
            })
            .collect()
    }

    /// What `/api/v1/series` gives, as the client decodes it.
    fn list_series(&self, selector: &str) -> Vec<SeriesInfo> {
        let set: BTreeSet<SeriesInfo> = self
            .matching(selector)
            .into_iter()
            .map(|s| SeriesInfo {
                name: s["__name__"].clone(),
                labels: s.keys().filter(|k| *k != "__name__").cloned().collect(),
            })
            .collect();
        set.into_iter().collect()
    }
}

impl LabelApi for Memory {
    async fn label_names(&self, selector: &str) -> Result<Vec<String>, prometheus::Error> {
        self.calls.borrow_mut().push(format!("labels {selector}"));
        if self.refuse {
            return Err(prometheus::Error::Status(404));
        }
        let names: BTreeSet<&String> = self
            .matching(selector)
            .into_iter()
            .flat_map(|s| s.keys())
            .collect();
        Ok(names.into_iter().cloned().collect())
    }

    async fn metric_names(&self, selector: &str) -> Result<Vec<String>, prometheus::Error> {
        self.calls.borrow_mut().push(format!("names {selector}"));
        let names: BTreeSet<&String> = self
            .matching(selector)
            .into_iter()
            .map(|s| &s["__name__"])
            .collect();
        Ok(names.into_iter().cloned().collect())
    }
}

fn series(name: &str, labels: &[(&str, &str)]) -> Series {
    let mut s: Series = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    s.insert("__name__".into(), name.into());
    s
}

fn distinct_queries(rules: &Rules) -> Vec<String> {
    let set: BTreeSet<&String> = rules
        .custom
        .iter()
        .chain(&rules.external)
        .map(|r| &r.series_query)
        .collect();
    set.into_iter().cloned().collect()
}

fn needs(rules: &Rules, query: &str, catalog: &ResourceCatalog) -> QueryNeeds {
    QueryNeeds {
        indexes: rules
            .custom
            .iter()
            .filter(|r| r.series_query == query)
            .map(|r| r.resources.label_index(catalog))
            .collect(),
        external: rules.external.iter().any(|r| r.series_query == query),
    }
}

fn snapshot(rules: &Rules, listed: &HashMap<String, Vec<SeriesInfo>>) -> Snapshot {
    let catalog = ResourceCatalog::well_known();
    let mut snapshot = Snapshot::default();
    admit(
        &mut snapshot,
        Api::Custom,
        &rules.custom,
        listed,
        &catalog,
        false,
    );
    admit(
        &mut snapshot,
        Api::External,
        &rules.external,
        listed,
        &catalog,
        false,
    );
    snapshot
}

/// Both strategies over the same backend; (by series, by labels, calls made by labels).
fn both(rules: &Rules, backend: &Memory) -> (Snapshot, Snapshot, Vec<String>) {
    let catalog = ResourceCatalog::well_known();
    let mut by_series = HashMap::new();
    let mut by_label_api = HashMap::new();
    for q in distinct_queries(rules) {
        by_series.insert(q.clone(), backend.list_series(&q));
        let selector = SeriesSelector::parse(&q).unwrap();
        let found =
            futures::executor::block_on(by_labels(backend, &selector, &needs(rules, &q, &catalog)))
                .unwrap_or_else(|e| panic!("{q}: {e:?}"))
                .unwrap_or_else(|| panic!("{q}: no answer by labels"));
        by_label_api.insert(q, found);
    }
    (
        snapshot(rules, &by_series),
        snapshot(rules, &by_label_api),
        backend.calls.take(),
    )
}

fn rules(text: &str) -> Rules {
    crate::rules::parse(text, "t").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn keys(snapshot: &Snapshot) -> Vec<String> {
    let mut out: Vec<String> = snapshot
        .custom
        .iter()
        .map(|(k, s)| {
            format!(
                "{}/{} {} <- {}#{}",
                k.resource, k.metric, k.namespaced, s.series, s.rule
            )
        })
        .collect();
    out.sort();
    out.extend(
        snapshot
            .external_sorted()
            .iter()
            .map(|m| format!("external {m} <- {}", snapshot.external[*m].series)),
    );
    out
}

/// The Helm chart's default rules, when `../shared/reference` is there.
fn helm_rules() -> Option<Rules> {
    reference_text("helm-chart-default-rules.yaml", "this test").map(|text| rules(&text))
}

/// cAdvisor series and application series with the labels a Kubernetes scrape gives them.
fn cluster_series() -> Vec<Series> {
    let mut out = Vec::new();
    for pod in ["web-0", "web-1"] {
        for (name, container) in [
            ("container_cpu_usage_seconds_total", "app"),
            ("container_cpu_usage_seconds_total", "POD"),
            ("container_memory_working_set_bytes", "app"),
            ("container_network_receive_bytes_total", ""),
        ] {
            let mut labels = vec![
                ("namespace", "web"),
                ("pod", pod),
                ("node", "n1"),
                ("job", "kubelet"),
            ];
            if !container.is_empty() {
                labels.push(("container", container));
            }
            out.push(series(name, &labels));
        }
        out.push(series(
            "http_requests_total",
            &[
                ("namespace", "web"),
                ("pod", pod),
                ("service", "web"),
                ("job", "web"),
            ],
        ));
        out.push(series(
            "http_request_duration_seconds_total",
            &[("namespace", "web"), ("pod", pod), ("job", "web")],
        ));
    }
    out.push(series(
        "kube_deployment_status_replicas",
        &[
            ("namespace", "web"),
            ("deployment", "frontend"),
            ("job", "ksm"),
        ],
    ));
    out.push(series("kube_node_info", &[("node", "n1"), ("job", "ksm")]));
    out.push(series("up", &[("job", "web"), ("namespace", "web")]));
    out
}

#[test]
fn the_helm_chart_rules_find_what_listing_series_finds_in_few_calls() {
    let Some(rules) = helm_rules() else {
        return;
    };
    let backend = Memory::new(cluster_series());
    let (by_series, by_labels, calls) = both(&rules, &backend);
    assert_eq!(keys(&by_series), keys(&by_labels));
    let found = keys(&by_labels);
    for expected in [
        "pods/cpu_usage true <- container_cpu_usage_seconds_total#0",
        "namespaces/memory_working_set_bytes false <- container_memory_working_set_bytes#2",
        "pods/http_requests true <- http_requests_total#4",
        "services/http_requests true <- http_requests_total#4",
        "deployments.apps/kube_deployment_status_replicas true <- kube_deployment_status_replicas#3",
        "jobs.batch/up true <- up#3",
    ] {
        assert!(
            found.iter().any(|k| k == expected),
            "{expected} not in {found:#?}"
        );
    }
    // The cAdvisor query requires namespace and pod, the only labels its rules map: one call.
    // The application query requires namespace only: its names, its labels, and one narrowed
    // question per other label naming a resource (deployment, job, pod, service; not node: no
    // series of that query carries it, nor container, which names nothing).
    let mut calls = calls;
    calls.sort();
    assert_eq!(
        calls,
        [
            r#"labels {namespace!="",__name__!~"^container_.*"}"#,
            r#"names {__name__=~"^container_.*",container!="POD",namespace!="",pod!=""}"#,
            r#"names {namespace!="",__name__!~"^container_.*",deployment!=""}"#,
            r#"names {namespace!="",__name__!~"^container_.*",job!=""}"#,
            r#"names {namespace!="",__name__!~"^container_.*",pod!=""}"#,
            r#"names {namespace!="",__name__!~"^container_.*",service!=""}"#,
            r#"names {namespace!="",__name__!~"^container_.*"}"#,
        ]
    );
}

#[test]
fn series_of_one_metric_with_different_resource_labels() {
    let rules = rules(
        r#"rules:
- seriesQuery: '{__name__=~"m_.*"}'
  resources: {template: <<.Resource>>}
  metricsQuery: x
- seriesQuery: '{__name__=~"m_.*"}'
  resources:
    overrides:
      kubernetes_pod_name: {resource: pod}
  name: {as: renamed}
  metricsQuery: x
"#,
    );
    let backend = Memory::new(vec![
        series("m_a", &[("namespace", "n"), ("pod", "p")]),
        series("m_a", &[("node", "x")]),
        series("m_a", &[("Deployment", "d"), ("zone", "a")]),
        series("m_b", &[("kubernetes_pod_name", "p")]),
        series("m_c", &[("zone", "a")]),
    ]);
    let (by_series, by_labels, _) = both(&rules, &backend);
    assert_eq!(keys(&by_labels), keys(&by_series));
    assert_eq!(
        keys(&by_labels),
        [
            "deployments.apps/m_a true <- m_a#0",
            "namespaces/m_a false <- m_a#0",
            "nodes/m_a false <- m_a#0",
            "pods/m_a true <- m_a#0",
            "pods/renamed true <- m_b#1",
        ]
    );
}

#[test]
fn a_refused_or_ignored_match_is_a_refusal_and_an_unwritable_label_no_answer() {
    let rules = rules(
        r#"rules:
- seriesQuery: '{namespace!=""}'
  resources: {template: <<.Resource>>}
  metricsQuery: x
externalRules:
- seriesQuery: 'queue_depth'
  metricsQuery: x
"#,
    );
    let catalog = ResourceCatalog::well_known();
    let run = |backend: &Memory, query: &str| {
        let selector = SeriesSelector::parse(query).unwrap();
        futures::executor::block_on(by_labels(
            backend,
            &selector,
            &needs(&rules, query, &catalog),
        ))
    };
    let data = vec![
        series("queue_depth", &[("queue", "a")]),
        series("other", &[("namespace", "n"), ("pod", "p")]),
    ];
    let mut refusing = Memory::new(data.clone());
    refusing.refuse = true;
    assert!(matches!(
        run(&refusing, r#"{namespace!=""}"#),
        Err(LabelsError::Refused(_))
    ));
    let mut ignoring = Memory::new(data.clone());
    ignoring.ignore_match = true;
    let Err(LabelsError::Refused(reason)) = run(&ignoring, "queue_depth") else {
        panic!("a backend ignoring match[] was believed");
    };
    assert!(reason.contains("ignores match[]"), "{reason}");
    // A label the template maps that no selector can name bare.
    let dotted = crate::rules::parse(
        r#"rules:
- seriesQuery: '{namespace!=""}'
  resources: {template: k8s.<<.Resource>>}
  metricsQuery: x
"#,
        "t",
    )
    .unwrap();
    let backend = Memory::new(vec![series("m", &[("namespace", "n"), ("k8s.pod", "p")])]);
    let selector = SeriesSelector::parse(r#"{namespace!=""}"#).unwrap();
    let answer = futures::executor::block_on(by_labels(
        &backend,
        &selector,
        &needs(&dotted, r#"{namespace!=""}"#, &catalog),
    ));
    assert!(matches!(answer, Ok(None)), "{answer:?}");
    // A backend failure is a failure, not a refusal.
    assert!(matches!(
        LabelsError::from(prometheus::Error::Status(502)),
        LabelsError::Backend(_)
    ));
    assert!(matches!(
        LabelsError::from(prometheus::Error::Status(405)),
        LabelsError::Refused(_)
    ));
}

const NAMES: [&str; 6] = [
    "m_a",
    "m_b",
    "m_total",
    "container_x",
    "container_y_total",
    "up",
];
const LABELS: [&str; 10] = [
    "namespace",
    "pod",
    "node",
    "Pod",
    "kubernetes_pod_name",
    "deployment",
    "service",
    "zone",
    "job",
    "kube_pod",
];
const QUERIES: [&str; 10] = [
    r#"{namespace!=""}"#,
    r#"{__name__=~"m_.*",pod!=""}"#,
    r#"{zone="a"}"#,
    "m_a",
    r#"{__name__=~"m_.*|container_.*",node=~".+"}"#,
    r#"{pod!="",namespace!=""}"#,
    r#"{job=~".*",__name__=~".+"}"#,
    r#"{__name__=~"container_.*",namespace!="",pod!=""}"#,
    r#"{deployment!="",zone!~"b"}"#,
    r#"up{job!=""}"#,
];
const MAPPINGS: [&str; 6] = [
    "{overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}",
    "{overrides: {kubernetes_pod_name: {resource: pod}, node: {resource: node}}}",
    "{template: <<.Resource>>}",
    "{template: kube_<<.Resource>>}",
    "{overrides: {pod: {resource: pod}}, template: <<.Resource>>}",
    "{overrides: {zone: {resource: namespace}}}",
];
const NAMINGS: [&str; 3] = [
    "",
    r#"  name: {matches: "^(.*)_total$", as: "${1}"}
"#,
    "  name: {as: constant}\n",
];

fn series_strategy() -> impl Strategy<Value = Vec<Series>> {
    let one = (
        0..NAMES.len(),
        prop::collection::vec(any::<bool>(), LABELS.len()),
        any::<bool>(),
    );
    prop::collection::vec(one, 0..30).prop_map(|generated| {
        generated
            .into_iter()
            .map(|(name, present, b)| {
                let labels: Vec<(&str, &str)> = LABELS
                    .iter()
                    .zip(present)
                    .filter(|(_, p)| *p)
                    .map(|(l, _)| (*l, if b { "b" } else { "a" }))
                    .collect();
                series(NAMES[name], &labels)
            })
            .collect()
    })
}

fn rules_strategy() -> impl Strategy<Value = String> {
    let rule = (0..QUERIES.len(), 0..MAPPINGS.len(), 0..NAMINGS.len());
    (
        prop::collection::vec(rule, 1..5),
        prop::collection::vec((0..QUERIES.len(), 0..NAMINGS.len()), 0..3),
    )
        .prop_map(|(custom, external)| {
            let mut text = String::from("rules:\n");
            for (q, m, n) in custom {
                text += &format!(
                    "- seriesQuery: '{}'\n  resources: {}\n{}  metricsQuery: x\n",
                    QUERIES[q], MAPPINGS[m], NAMINGS[n]
                );
            }
            text += "externalRules:\n";
            for (q, n) in external {
                text += &format!(
                    "- seriesQuery: '{}'\n{}  metricsQuery: x\n",
                    QUERIES[q], NAMINGS[n]
                );
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever the series and rules, asking the label API builds the registry that listing
    /// every series builds: the same metrics, resources, scopes and sources.
    #[test]
    fn label_discovery_finds_what_listing_series_finds(
        data in series_strategy(),
        text in rules_strategy(),
    ) {
        let rules = rules(&text);
        let backend = Memory::new(data);
        let (by_series, by_labels, _) = both(&rules, &backend);
        prop_assert_eq!(keys(&by_labels), keys(&by_series), "rules:\n{}", text);
    }
}
