use super::*;
use crate::rules::template::TemplateKind;

fn namer(matches: &str, as_: &str) -> MetricNamer {
    MetricNamer::new(matches, as_, Vec::new()).unwrap()
}

#[test]
fn default_as_depends_on_capture_groups() {
    assert_eq!(
        namer("_total", "")
            .metric_name("http_requests_total")
            .as_deref(),
        Some("_total")
    );
    assert_eq!(
        namer("^(.*)_total$", "")
            .metric_name("http_requests_total")
            .as_deref(),
        Some("http_requests")
    );
    assert_eq!(
        namer("", "").metric_name("anything_at_all").as_deref(),
        Some("anything_at_all")
    );
    assert_eq!(
        namer("", "cheesy_goodness")
            .metric_name("cheddar")
            .as_deref(),
        Some("cheesy_goodness")
    );
    let err = MetricNamer::new("^(a)_(b)$", "", Vec::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "must specify an 'as' value for name matcher \"^(a)_(b)$\" (it has 2 capture groups)"
    );
    assert!(MetricNamer::new("^(a)_(b)$", "$2_$1", Vec::new()).is_ok());
}

#[test]
fn expansion_follows_go() {
    let n = |as_: &str| namer("^(?P<base>.*)_(total)$", as_).metric_name("http_requests_total");
    assert_eq!(
        n("${1}_per_second").as_deref(),
        Some("http_requests_per_second")
    );
    // `$1_per_second` names the group `1_per_second`, which does not exist.
    assert_eq!(n("$1_per_second").as_deref(), Some(""));
    assert_eq!(n("${base}/s").as_deref(), Some("http_requests/s"));
    assert_eq!(n("$base").as_deref(), Some("http_requests"));
    assert_eq!(n("$2-$1").as_deref(), Some("total-http_requests"));
    // A leading zero makes it a name, not a number.
    assert_eq!(n("x$01").as_deref(), Some("x"));
    assert_eq!(n("$$1").as_deref(), Some("$1"));
    assert_eq!(n("cost$").as_deref(), Some("cost$"));
    assert_eq!(n("a${1").as_deref(), Some("a${1"));
    assert_eq!(n("a${}b").as_deref(), Some("a${}b"));
    assert_eq!(n("$9").as_deref(), Some(""));
    assert_eq!(n("$é").as_deref(), Some(""));
    assert_eq!(n("${1}é").as_deref(), Some("http_requestsé"));
}

#[test]
fn matches_is_unanchored_and_filters() {
    let n = namer("requests", "");
    assert_eq!(
        n.metric_name("http_requests_total").as_deref(),
        Some("requests")
    );
    assert_eq!(n.metric_name("http_errors_total"), None);
    assert!(!n.keeps("other"));
}

#[test]
fn filters_are_unanchored_and_anded() {
    let is = SeriesFilter::is("my_.*").unwrap();
    assert!(is.keeps("my_label") && is.keeps("notmy_label") && !is.keeps("your_label"));
    let is_not = SeriesFilter::is_not("my_.*").unwrap();
    assert!(
        !is_not.keeps("my_label") && !is_not.keeps("notmy_label") && is_not.keeps("your_label")
    );
    let n = MetricNamer::new(
        "^(.*)_total$",
        "",
        vec![SeriesFilter::is_not("_seconds_total$").unwrap()],
    )
    .unwrap();
    assert_eq!(n.metric_name("cpu_seconds_total"), None);
    assert_eq!(n.metric_name("requests_total").as_deref(), Some("requests"));
    assert_eq!(n.filters()[0].describe(), "isNot _seconds_total$");
    assert!(SeriesFilter::is("((").is_err());
}

#[test]
fn describe_for_check() {
    assert_eq!(namer("", "cheesy_goodness").describe(), "cheesy_goodness");
    assert_eq!(
        namer("^(.*)_total", "${1}_per_second").describe(),
        "\"${1}_per_second\" from series matching ^(.*)_total"
    );
}

fn label_template(src: &str) -> Option<Template> {
    Some(Template::parse(src, TemplateKind::Label).unwrap())
}

fn catalog() -> ResourceCatalog {
    let mut c = ResourceCatalog::well_known();
    c.insert(ResourceInfo {
        group: "my-group.example.com".into(),
        version: "v1".into(),
        plural: "widgets".into(),
        singular: "widget".into(),
        kind: "Widget".into(),
        namespaced: true,
    });
    c
}

fn info(name: &str) -> ResourceInfo {
    catalog()
        .resolve(&GroupResource::parse(name))
        .unwrap()
        .clone()
}

#[test]
fn labels_from_templates() {
    let c = catalog();
    let kube = ResourceMapping::new(Vec::new(), label_template("kube_<<.Resource>>"));
    assert_eq!(kube.label_for(&info("pods"), &c).unwrap(), "kube_pod");
    assert_eq!(
        kube.label_for(&info("namespaces"), &c).unwrap(),
        "kube_namespace"
    );
    assert_eq!(
        kube.label_for(&info("deployments.apps"), &c).unwrap(),
        "kube_deployment"
    );
    let grouped = ResourceMapping::new(
        Vec::new(),
        label_template("kubernetes_<<.Group>>_<<.Resource>>"),
    );
    let l = |r: &str| grouped.label_for(&info(r), &c).unwrap();
    assert_eq!(l("pods"), "kubernetes__pod");
    assert_eq!(l("deployments.apps"), "kubernetes_apps_deployment");
    assert_eq!(
        l("ingresses.networking.k8s.io"),
        "kubernetes_networking_k8s_io_ingress"
    );
    assert_eq!(
        l("widgets.my-group.example.com"),
        "kubernetes_my_group_example_com_widget"
    );
    let none = ResourceMapping::new(Vec::new(), None);
    assert_eq!(
        none.label_for(&info("namespaces"), &c)
            .unwrap_err()
            .to_string(),
        "unable to convert resource namespaces into label: no generic resource label form specified for this metric"
    );
}

#[test]
fn overrides_win_and_resolve_singular_or_plural() {
    let c = catalog();
    let m = ResourceMapping::new(
        vec![
            (
                "kubernetes_namespace".into(),
                GroupResource::new("", "namespace"),
            ),
            ("kubernetes_pod_name".into(), GroupResource::new("", "pods")),
            ("brand".into(), GroupResource::new("cheese.io", "brand")),
        ],
        label_template("<<.Resource>>"),
    );
    assert_eq!(
        m.label_for(&info("pods"), &c).unwrap(),
        "kubernetes_pod_name"
    );
    assert_eq!(
        m.label_for(&info("namespaces"), &c).unwrap(),
        "kubernetes_namespace"
    );
    assert_eq!(m.label_for(&info("nodes"), &c).unwrap(), "node");
    let unresolved: Vec<_> = m
        .unresolved_overrides(&c)
        .map(|(l, _)| l.as_str())
        .collect();
    assert_eq!(unresolved, ["brand"]);
    // Two labels for one resource: the first in sorted order, every time.
    let two = ResourceMapping::new(
        vec![
            ("z_pod".into(), GroupResource::new("", "pod")),
            ("a_pod".into(), GroupResource::new("", "pod")),
        ],
        None,
    );
    assert_eq!(two.label_for(&info("pods"), &c).unwrap(), "a_pod");
}

#[test]
fn reverse_mapping_covers_what_upstream_cannot() {
    let c = catalog();
    let grouped = ResourceMapping::new(
        Vec::new(),
        label_template("kubernetes_<<.Group>>_<<.Resource>>"),
    );
    let index = grouped.label_index(&c);
    let r = |l: &str| {
        index
            .resource_for(l)
            .map(|i| i.group_resource().to_string())
    };
    assert_eq!(
        r("kubernetes_apps_deployment").as_deref(),
        Some("deployments.apps")
    );
    assert_eq!(
        r("kubernetes_apps_deployments").as_deref(),
        Some("deployments.apps")
    );
    // Upstream cannot reverse-map these two (adapter-behavior.md §1.4).
    assert_eq!(r("kubernetes__pod").as_deref(), Some("pods"));
    assert_eq!(
        r("kubernetes_my_group_example_com_widget").as_deref(),
        Some("widgets.my-group.example.com")
    );
    assert_eq!(r("kubernetes_cheese_brand"), None);

    let plain = ResourceMapping::new(Vec::new(), label_template("<<.Resource>>"));
    let index = plain.label_index(&c);
    let r = |l: &str| {
        index
            .resource_for(l)
            .map(|i| i.group_resource().to_string())
    };
    assert_eq!(r("pod").as_deref(), Some("pods"));
    assert_eq!(r("Pod").as_deref(), Some("pods"));
    assert_eq!(r("namespace").as_deref(), Some("namespaces"));
    assert_eq!(r("deployment").as_deref(), Some("deployments.apps"));
    assert_eq!(r("instance"), None);
    assert_eq!(r("__name__"), None);

    // Literal template text is matched literally (upstream's regex would take `.` as any char).
    let dotted = ResourceMapping::new(Vec::new(), label_template("k8s.<<.Resource>>"));
    let index = dotted.label_index(&c);
    assert!(index.resource_for("k8s.pod").is_some());
    assert!(index.resource_for("k8sXpod").is_none());
}

#[test]
fn overrides_in_the_index_come_first() {
    let c = catalog();
    let m = ResourceMapping::new(
        vec![("pod".into(), GroupResource::new("", "nodes"))],
        label_template("<<.Resource>>"),
    );
    let index = m.label_index(&c);
    assert_eq!(index.resource_for("pod").unwrap().plural, "nodes");
    assert_eq!(index.resource_for("service").unwrap().plural, "services");
}
