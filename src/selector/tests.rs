use super::*;
use proptest::prelude::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse(s: &str) -> Selector {
    Selector::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn promql(s: &str) -> String {
    crate::promql::join_matchers(&parse(s).to_matchers().unwrap())
}

#[test]
fn every_operator_parses_and_prints_like_apimachinery() {
    let cases = [
        ("", ""),
        ("a=b", "a=b"),
        ("a==b", "a==b"),
        ("a!=b", "a!=b"),
        ("a in (c,b)", "a in (b,c)"),
        ("a notin (b)", "a notin (b)"),
        ("a", "a"),
        ("!a", "!a"),
        ("a>1", "a>1"),
        ("a<0", "a<0"),
        ("  z = 1 ,  a in ( x , y ) ", "a in (x,y),z=1"),
        ("example.com/app=web", "example.com/app=web"),
        ("a=", "a="),
        ("a=,b", "a=,b"),
        ("a in ()", "a in ()"),
        ("a in (,)", "a in ()"),
        ("a in (x,)", "a in (,x)"),
        ("a in (x,,y)", "a in (,x,y)"),
        ("a=in", "a=in"),
        ("a in (in,notin)", "a in (in,notin)"),
    ];
    for (input, printed) in cases {
        assert_eq!(parse(input).to_string(), printed, "{input:?}");
    }
}

#[test]
fn requirements_are_sorted_by_key_stably() {
    let s = parse("b=1,a=2,b!=3");
    let keys: Vec<_> = s.requirements().iter().map(|r| r.to_string()).collect();
    assert_eq!(keys, ["a=2", "b=1", "b!=3"]);
}

#[test]
fn errors_say_what_was_expected_where() {
    let cases = [
        (
            "==",
            "found '==' at offset 0, expected: !, identifier, or 'end of string'",
        ),
        (
            "a=b c",
            "found 'c' at offset 4, expected: ',' or 'end of string'",
        ),
        (
            "a=b,",
            "found 'end of string' at offset 4, expected: identifier after ','",
        ),
        ("a in b", "found 'b' at offset 5, expected: '('"),
        (
            "a in (b",
            "found 'end of string' at offset 7, expected: ',', ')' or identifier",
        ),
        (
            "a in (b c)",
            "found 'c' at offset 8, expected: ',', ')' or identifier",
        ),
        (
            "a b",
            "found 'b' at offset 2, expected: in, notin, =, ==, !=, gt, lt",
        ),
        (
            "!=a",
            "found '!=' at offset 0, expected: !, identifier, or 'end of string'",
        ),
        (
            "!a=b",
            "found '=' at offset 2, expected: ',' or 'end of string'",
        ),
        ("a=(", "found '(' at offset 2, expected: identifier"),
    ];
    for (input, message) in cases {
        let err = Selector::parse(input).unwrap_err();
        assert_eq!(err.to_string(), message, "{input:?}");
    }
}

#[test]
fn keys_and_values_are_validated() {
    for bad in [
        "-a=b",
        "a-=b",
        "Example.com/a=b",
        "/a=b",
        "a/=b",
        "a=-b",
        "a=b\"c",
        "a=\\",
        "a>x",
        "a>+1",
        "a=é",
        &format!("a={}", "x".repeat(64)),
        &format!("{}=b", "k".repeat(64)),
    ] {
        let err = Selector::parse(bad);
        assert!(
            matches!(err, Err(SelectorError::Invalid { .. })),
            "{bad:?}: {err:?}"
        );
    }
    assert!(Selector::parse(&format!("{}/{}=b", "p".repeat(253), "k".repeat(63))).is_ok());
    let err = Selector::parse("a>x").unwrap_err().to_string();
    assert!(err.contains("must be an integer"), "{err}");
}

#[test]
fn matching_follows_apimachinery() {
    let obj = labels(&[("app", "web"), ("tier", "front"), ("n", "7")]);
    let cases = [
        ("", true),
        ("app=web", true),
        ("app==db", false),
        ("app!=db", true),
        ("missing!=x", true),
        ("app in (db,web)", true),
        ("app notin (db,web)", false),
        ("missing notin (x)", true),
        ("missing in (x)", false),
        ("app", true),
        ("missing", false),
        ("!missing", true),
        ("!app", false),
        ("n>6", true),
        ("n>7", false),
        ("n<8", true),
        ("app>1", false),
        ("missing<1", false),
        ("app=web,tier=back", false),
        ("app=web,tier=front", true),
        ("missing=", false),
    ];
    for (sel, want) in cases {
        assert_eq!(parse(sel).matches(&obj), want, "{sel:?}");
    }
    assert!(parse("x=").matches(&labels(&[("x", "")])));
}

#[test]
fn promql_matchers_follow_the_adapter_table() {
    assert_eq!(promql("k=v"), r#"k="v""#);
    assert_eq!(promql("k==v"), r#"k="v""#);
    assert_eq!(promql("k!=v"), r#"k!="v""#);
    assert_eq!(promql("k in (b,a)"), r#"k=~"a|b""#);
    assert_eq!(promql("k in (a)"), r#"k=~"a""#);
    assert_eq!(promql("k notin (a,b)"), r#"k!~"a|b""#);
    assert_eq!(promql("k"), r#"k!="""#);
    assert_eq!(promql("!k"), r#"k="""#);
    assert_eq!(promql("z=1,a=2"), r#"a="2",z="1""#);
    // Values in a set are regex-escaped: `1.0` must not match `1x0`.
    assert_eq!(promql("v in (1.0,2.0)"), r#"v=~"1\\.0|2\\.0""#);
    assert_eq!(promql("v=1.0"), r#"v="1.0""#);
    let err = parse("k>1").to_matchers().unwrap_err();
    assert_eq!(
        err.to_string(),
        "operator gt on label \"k\" is not supported by prometheus"
    );
}

#[test]
fn label_selector_echo() {
    assert_eq!(parse("").to_label_selector(), None);
    let json = |s: &str| serde_json::to_string(&parse(s).to_label_selector()).unwrap();
    assert_eq!(json("job=x"), r#"{"matchLabels":{"job":"x"}}"#);
    assert_eq!(json("job=="), r#"{"matchLabels":{"job":""}}"#);
    assert_eq!(
        json("job in (y,x)"),
        r#"{"matchExpressions":[{"key":"job","operator":"In","values":["x","y"]}]}"#
    );
    assert_eq!(
        json("a=1,job!=x,!gone,here"),
        r#"{"matchLabels":{"a":"1"},"matchExpressions":[{"key":"gone","operator":"DoesNotExist"},{"key":"here","operator":"Exists"},{"key":"job","operator":"NotIn","values":["x"]}]}"#
    );
}

#[test]
fn huge_selectors_are_bounded() {
    let many: Vec<String> = (0..2000).map(|i| format!("k{i}=v{i}")).collect();
    let s = parse(&many.join(","));
    assert_eq!(s.requirements().len(), 2000);
    let huge = format!("a in ({})", vec!["v"; MAX_SELECTOR_LEN].join(","));
    assert!(matches!(
        Selector::parse(&huge),
        Err(SelectorError::TooLong(_))
    ));
}

fn key() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9_.-]{0,6}[a-z0-9])?"
}

fn value() -> impl Strategy<Value = String> {
    "([A-Za-z0-9]([A-Za-z0-9_.-]{0,6}[A-Za-z0-9])?)?"
}

fn requirement() -> impl Strategy<Value = String> {
    prop_oneof![
        (key(), value()).prop_map(|(k, v)| format!("{k}={v}")),
        (key(), value()).prop_map(|(k, v)| format!("{k}!={v}")),
        (key(), prop::collection::vec(value(), 1..4))
            .prop_map(|(k, vs)| format!("{k} in ({})", vs.join(","))),
        (key(), prop::collection::vec(value(), 1..4))
            .prop_map(|(k, vs)| format!("{k} notin ({})", vs.join(","))),
        key(),
        key().prop_map(|k| format!("!{k}")),
        (key(), any::<i32>()).prop_map(|(k, n)| format!("{k}>{}", n.unsigned_abs())),
    ]
}

proptest! {
    #[test]
    fn printing_then_parsing_is_the_identity(reqs in prop::collection::vec(requirement(), 0..6)) {
        let s = parse(&reqs.join(","));
        let again = parse(&s.to_string());
        prop_assert_eq!(&again, &s);
        prop_assert_eq!(again.to_string(), s.to_string());
    }

    #[test]
    fn arbitrary_input_never_panics(input in "\\PC{0,40}") {
        let _ = Selector::parse(&input);
    }

    #[test]
    fn hostile_characters_are_refused_not_passed(v in "[\"\\\\|(){}\u{80}-\u{10ffff}]{1,5}") {
        let input = format!("k={v}");
        prop_assert!(Selector::parse(&input).is_err());
    }
}

#[test]
fn field_selectors() {
    let fields = ["metadata.name", "metadata.namespace"];
    let s =
        FieldSelector::parse("metadata.name=p1,metadata.namespace!=kube-system", &fields).unwrap();
    assert_eq!(s.required("metadata.name"), Some("p1"));
    assert_eq!(s.required("metadata.namespace"), None);
    let value = |ns: &'static str| {
        move |f: &str| {
            if f == "metadata.name" {
                "p1".to_string()
            } else {
                ns.to_string()
            }
        }
    };
    assert!(s.matches(value("default")));
    assert!(!s.matches(value("kube-system")));
    assert!(
        FieldSelector::parse("", &fields)
            .unwrap()
            .terms()
            .is_empty()
    );
    assert_eq!(
        FieldSelector::parse("spec.nodeName=n1", &fields).unwrap_err(),
        "field label not supported: spec.nodeName"
    );
    assert!(FieldSelector::parse("metadata.name", &fields).is_err());
    let escaped = FieldSelector::parse(r"metadata.name==a\,b", &fields).unwrap();
    assert_eq!(escaped.required("metadata.name"), Some("a,b"));
}

#[test]
fn field_selectors_with_non_ascii_text_parse_or_fail_without_panicking() {
    let supported = ["metadata.name", "metadata.namespace"];
    let parsed = FieldSelector::parse("metadata.name=café", &supported).unwrap();
    assert_eq!(parsed.required("metadata.name"), Some("café"));
    // An escape before a multi-byte character once sliced inside it.
    let parsed = FieldSelector::parse("metadata.name=\\é=x", &supported).unwrap();
    assert_eq!(parsed.required("metadata.name"), Some("é=x"));
    for bad in ["é=x", "metadata.name", "ü", "metadata.name\\é"] {
        assert!(FieldSelector::parse(bad, &supported).is_err(), "{bad}");
    }
}
