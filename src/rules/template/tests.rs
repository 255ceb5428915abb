use super::*;
use proptest::prelude::*;

fn query(src: &str) -> Template {
    Template::parse(src, TemplateKind::Query).unwrap_or_else(|e| panic!("{src:?}: {e}"))
}

fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn render(src: &str) -> String {
    let map = values(&[("app", "a|b"), ("namespace", "n"), ("pod", "p|q")]);
    let slice = vec!["resource".to_string(), "extra".into(), "groups".into()];
    query(src)
        .render_query(&QueryData {
            series: "http_requests_total",
            label_matchers: r#"namespace="n",pod=~"p|q""#,
            label_values_by_name: &map,
            group_by: "resource,extra,groups",
            group_by_slice: &slice,
        })
        .unwrap()
}

#[test]
fn fields_render_as_go_prints_them() {
    assert_eq!(
        render("sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)"),
        r#"sum(rate(http_requests_total{namespace="n",pod=~"p|q"}[2m])) by (resource,extra,groups)"#
    );
    assert_eq!(render("<<.GroupBySlice>>"), "[resource extra groups]");
    assert_eq!(
        render("<<.LabelValuesByName>>"),
        "map[app:a|b namespace:n pod:p|q]"
    );
    assert_eq!(render("<<.LabelValuesByName.namespace>>"), "n");
    assert_eq!(render("<<.LabelValuesByName.nope>>"), "<no value>");
    assert_eq!(render(r#"<<index .LabelValuesByName "pod">>"#), "p|q");
    assert_eq!(render(r#"<<index .LabelValuesByName "nope">>"#), "");
    assert_eq!(render("<<index .LabelValuesByName `app`>>"), "a|b");
    assert_eq!(render("<<index .GroupBySlice 1>>"), "extra");
    assert_eq!(render("<< .Series >>"), "http_requests_total");
    assert_eq!(render("<<\n.Series\n>>"), "http_requests_total");
}

#[test]
fn empty_collections_print_like_go() {
    let map = BTreeMap::new();
    let t = query("<<.GroupBySlice>> <<.LabelValuesByName>> <<.GroupBy>>|");
    let out = t
        .render_query(&QueryData {
            series: "",
            label_matchers: "",
            label_values_by_name: &map,
            group_by: "",
            group_by_slice: &[],
        })
        .unwrap();
    assert_eq!(out, "[] map[] |");
}

#[test]
fn trim_markers_and_comments() {
    assert_eq!(
        render("a  \n <<- .Series ->>  \n b"),
        "ahttp_requests_totalb"
    );
    // `-` without a following space is not a trim marker (Go reads a bad number there).
    assert!(Template::parse("a <<-.Series>>", TemplateKind::Query).is_err());
    assert_eq!(render("x <</* a comment >> */>> y"), "x  y");
    assert_eq!(render("x <<- /* c */ ->> y"), "xy");
    assert!(query("<</* c */>>").is_empty());
}

#[test]
fn index_out_of_range_is_a_render_error() {
    let t = query("<<index .GroupBySlice 7>>");
    let err = t
        .render_query(&QueryData {
            series: "",
            label_matchers: "",
            label_values_by_name: &BTreeMap::new(),
            group_by: "",
            group_by_slice: &[],
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "error calling index: index out of range: 7"
    );
}

#[test]
fn label_templates() {
    let t = Template::parse("kubernetes_<<.Group>>_<<.Resource>>", TemplateKind::Label).unwrap();
    assert!(t.uses(Field::Resource) && t.uses(Field::Group));
    let out = t.render_label(&LabelData {
        group: "apps",
        resource: "deployment",
    });
    assert_eq!(out, "kubernetes_apps_deployment");
    let err = Template::parse("<<.Series>>", TemplateKind::Label).unwrap_err();
    assert!(err.message.contains(".Group, .Resource"), "{err}");
    let err = Template::parse("<<.Resource>>", TemplateKind::Query).unwrap_err();
    assert!(err.message.contains("can't evaluate field"), "{err}");
}

#[test]
fn unsupported_and_malformed_templates_are_refused_with_a_position() {
    let cases: &[(&str, usize, usize, &str)] = &[
        ("sum(<<.Series>", 1, 5, "unclosed action"),
        ("sum(<<.Series", 1, 5, "unclosed action"),
        ("a\nb <<.Nope>>", 2, 5, "can't evaluate field \"Nope\""),
        (
            "<<if .Series>>x<<end>>",
            1,
            3,
            "unsupported template action",
        ),
        (
            "<<range .GroupBySlice>><<.>><<end>>",
            1,
            3,
            "unsupported template action",
        ),
        (
            "<<.Series | printf \"%s\">>",
            1,
            3,
            "unsupported template action",
        ),
        (
            "<<printf \"%s\" .Series>>",
            1,
            3,
            "unsupported template action",
        ),
        ("<<.>>", 1, 3, "can't evaluate field"),
        ("<<>>", 1, 3, "missing value"),
        ("<<.Series.x>>", 1, 3, "only .LabelValuesByName has fields"),
        ("<<.LabelValuesByName.a.b>>", 1, 3, "has no fields"),
        ("<<index .Series 0>>", 1, 3, "can be indexed"),
        ("<<index .GroupBySlice \"a\">>", 1, 3, "takes a number"),
        ("<<index .LabelValuesByName 1>>", 1, 3, "quoted label name"),
        ("<<index .LabelValuesByName \"a\" \"b\">>", 1, 3, "one key"),
        ("<<index .LabelValuesByName \"a>>", 1, 1, "unclosed action"),
        ("<<$x := .Series>>", 1, 3, "unsupported"),
        ("<</* open", 1, 1, "unclosed action"),
    ];
    for (src, line, column, message) in cases {
        let err = Template::parse(src, TemplateKind::Query).unwrap_err();
        assert!(err.message.contains(message), "{src:?}: {err}");
        assert_eq!((err.line, err.column), (*line, *column), "{src:?}: {err}");
    }
}

#[test]
fn deeply_nested_or_huge_input_is_handled() {
    let nested = "<<".repeat(100_000) + &">>".repeat(100_000);
    assert!(Template::parse(&nested, TemplateKind::Query).is_err());
    let long = "<<.Series>>".repeat(100_000);
    assert_eq!(render(&long).len(), "http_requests_total".len() * 100_000);
    assert!(Template::parse(&"<<".repeat(50_000), TemplateKind::Query).is_err());
}

#[test]
fn uses_reports_fields() {
    let t = query(r#"<<.Series>><<index .LabelValuesByName "a">>"#);
    assert!(t.uses(Field::Series));
    assert!(t.uses(Field::LabelValuesByName));
    assert!(!t.uses(Field::GroupBy));
    assert_eq!(t.source(), r#"<<.Series>><<index .LabelValuesByName "a">>"#);
}

proptest! {
    #[test]
    fn parsing_arbitrary_text_never_panics(src in "(\\PC|<<|>>|-| |\\.Series|index|\")*") {
        if let Ok(t) = Template::parse(&src, TemplateKind::Query) {
            let _ = t.render_query(&QueryData {
                series: "s",
                label_matchers: "",
                label_values_by_name: &BTreeMap::new(),
                group_by: "",
                group_by_slice: &[],
            });
        }
    }

    #[test]
    fn text_without_delimiters_renders_unchanged(src in "[^<]*") {
        prop_assert_eq!(render(&src), src);
    }
}
