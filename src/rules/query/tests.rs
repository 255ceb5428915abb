use super::*;
use crate::resources::GroupResource;
use crate::rules::template::TemplateKind;

fn catalog() -> ResourceCatalog {
    ResourceCatalog::well_known()
}

fn info(name: &str) -> ResourceInfo {
    catalog()
        .resolve(&GroupResource::parse(name))
        .unwrap()
        .clone()
}

fn walkthrough_mapping() -> ResourceMapping {
    ResourceMapping::new(
        vec![
            (
                "kubernetes_namespace".into(),
                GroupResource::new("", "namespace"),
            ),
            ("kubernetes_pod_name".into(), GroupResource::new("", "pod")),
        ],
        None,
    )
}

fn t(src: &str) -> Template {
    Template::parse(src, TemplateKind::Query).unwrap()
}

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

fn build(
    template: &str,
    mapping: &ResourceMapping,
    ns: Option<&str>,
    objs: &[&str],
    sel: &str,
) -> Result<ObjectQuery, QueryError> {
    let pods = info("pods");
    let names = names(objs);
    let selector = Selector::parse(sel).unwrap();
    object_query(
        &t(template),
        mapping,
        &catalog(),
        &ObjectRequest {
            series: "http_requests_total",
            resource: &pods,
            namespace: ns,
            names: &names,
            metric_selector: &selector,
            extra_group_by: &[],
        },
    )
}

const WALKTHROUGH: &str = "sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)";

#[test]
fn matcher_order_is_selector_namespace_resource() {
    let m = walkthrough_mapping();
    let q = build(WALKTHROUGH, &m, Some("default"), &["p1", "p2"], "").unwrap();
    assert_eq!(
        q.query,
        r#"sum(rate(http_requests_total{kubernetes_namespace="default",kubernetes_pod_name=~"p1|p2"}[2m])) by (kubernetes_pod_name)"#
    );
    assert_eq!(q.resource_label, "kubernetes_pod_name");
    let q = build(
        WALKTHROUGH,
        &m,
        Some("default"),
        &["p1"],
        "verb=GET,code in (500,503)",
    )
    .unwrap();
    assert_eq!(
        q.query,
        r#"sum(rate(http_requests_total{code=~"500|503",verb="GET",kubernetes_namespace="default",kubernetes_pod_name="p1"}[2m])) by (kubernetes_pod_name)"#
    );
    crate::promql::validate(&q.query).unwrap();
}

#[test]
fn hostile_names_stay_inside_their_strings() {
    let m = walkthrough_mapping();
    let q = build(WALKTHROUGH, &m, Some("default"), &[r#"we"ird\name"#], "").unwrap();
    assert!(
        q.query.contains(r#"kubernetes_pod_name="we\"ird\\name""#),
        "{}",
        q.query
    );
    for evil in [
        r#"x"} or vector(1) or {a=""#,
        "line\nbreak",
        "pipe|name",
        "ünïcode🚀",
        r"back\slash",
        "(paren",
    ] {
        for objs in [vec![evil], vec![evil, "other"]] {
            let q = build(WALKTHROUGH, &m, Some(evil), &objs, "").unwrap();
            // Still one aggregation over one selector: nothing escaped its string literal.
            let expr = promql_parser::parser::parse(&q.query)
                .unwrap_or_else(|e| panic!("{evil:?}: {e}: {}", q.query));
            assert!(
                matches!(expr, promql_parser::parser::Expr::Aggregate(_)),
                "{}",
                q.query
            );
        }
    }
}

#[test]
fn label_values_by_name_holds_escaped_alternations() {
    let m = walkthrough_mapping();
    let q = build(
        "<<.LabelValuesByName>> <<index .LabelValuesByName \"kubernetes_pod_name\">>",
        &m,
        Some("default"),
        &["a.b", "c"],
        "app in (x,y),tier",
    )
    .unwrap();
    assert_eq!(
        q.query,
        r"map[app:x|y kubernetes_namespace:default kubernetes_pod_name:a\\.b|c tier:] a\\.b|c"
    );
}

#[test]
fn errors() {
    let m = walkthrough_mapping();
    assert_eq!(
        build(WALKTHROUGH, &m, Some("d"), &["p"], "a>1")
            .unwrap_err()
            .to_string(),
        "operator gt on label \"a\" is not supported by prometheus"
    );
    assert_eq!(
        build(WALKTHROUGH, &m, Some("d"), &[], ""),
        Err(QueryError::NoObjects)
    );
    assert_eq!(
        build("<</* nothing */>>", &m, Some("d"), &["p"], ""),
        Err(QueryError::Empty)
    );
    let no_ns = ResourceMapping::new(vec![("pod".into(), GroupResource::new("", "pods"))], None);
    assert_eq!(
        build(WALKTHROUGH, &no_ns, Some("d"), &["p"], "")
            .unwrap_err()
            .to_string(),
        "unable to convert resource namespaces into label: no generic resource label form specified for this metric"
    );
    let q = build(WALKTHROUGH, &no_ns, None, &["p"], "").unwrap();
    assert_eq!(
        q.query,
        r#"sum(rate(http_requests_total{pod="p"}[2m])) by (pod)"#
    );
}

#[test]
fn external_queries() {
    let ns = ResourceMapping::new(
        vec![("namespace".into(), GroupResource::new("", "namespace"))],
        None,
    );
    let tmpl = t("sum(<<.Series>>{<<.LabelMatchers>>}) by (name)");
    let sel = Selector::parse("name=q1").unwrap();
    let q = external_query(&tmpl, &ns, &catalog(), "queue_depth", Some("default"), &sel).unwrap();
    assert_eq!(
        q,
        r#"sum(queue_depth{name="q1",namespace="default"}) by (name)"#
    );
    let q = external_query(
        &tmpl,
        &ns,
        &catalog(),
        "queue_depth",
        None,
        &Selector::everything(),
    )
    .unwrap();
    assert_eq!(q, "sum(queue_depth{}) by (name)");
    crate::promql::validate(&q).unwrap();
    let gb = t("<<.GroupBy>>|<<.GroupBySlice>>|<<.LabelValuesByName>>");
    let q = external_query(&gb, &ns, &catalog(), "x", Some("default"), &sel).unwrap();
    assert_eq!(q, "|[]|map[name:q1 namespace:default]");
    let none = ResourceMapping::new(Vec::new(), None);
    let err = external_query(&tmpl, &none, &catalog(), "x", Some("default"), &sel).unwrap_err();
    assert!(matches!(err, QueryError::NoLabel(_)));
}
