use super::*;
use proptest::prelude::*;

/// The value of the single matcher on `name` in `query`, as the PromQL parser reads it back.
fn parsed_matcher_value(query: &str, name: &str) -> String {
    let expr = promql_parser::parser::parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    let promql_parser::parser::Expr::VectorSelector(vs) = expr else {
        panic!("{query}: not a vector selector");
    };
    vs.matchers
        .matchers
        .iter()
        .find(|m| m.name == name)
        .map(|m| m.value.clone())
        .unwrap_or_else(|| panic!("{query}: no matcher {name}"))
}

#[test]
fn quote_matches_go_percent_q() {
    let cases = [
        ("plain", r#""plain""#),
        (r#"we"ird\name"#, r#""we\"ird\\name""#),
        ("a\nb\tc\rd", r#""a\nb\tc\rd""#),
        ("\u{7}\u{8}\u{b}\u{c}", r#""\a\b\v\f""#),
        ("\u{0}\u{1f}\u{7f}", r#""\x00\x1f\x7f""#),
        ("héllo ünïcode 日本 🚀", "\"héllo ünïcode 日本 🚀\""),
        (
            "\u{a0}\u{2028}\u{200b}\u{feff}",
            r#""\u00a0\u2028\u200b\ufeff""#,
        ),
        ("\u{e000}\u{10ffff}", r#""\ue000\U0010ffff""#),
        ("a|b", r#""a|b""#),
        ("", r#""""#),
    ];
    for (raw, quoted) in cases {
        assert_eq!(quote(raw), quoted, "{raw:?}");
    }
}

#[test]
fn alternations_escape_regex_metacharacters() {
    assert_eq!(regex_alternation(["a", "b"]), "a|b");
    assert_eq!(
        regex_alternation(["node.1", "x|y", "(z)"]),
        r"node\.1|x\|y|\(z\)"
    );
    assert_eq!(
        regex_escape(r"\.+*?()|[]{}^$-#"),
        r"\\\.\+\*\?\(\)\|\[\]\{\}\^\$-#"
    );
    assert_eq!(regex_alternation(Vec::<String>::new()), "");
}

#[test]
fn regex_bodies_for_label_values_by_name() {
    assert_eq!(quoted_regex_body(["p1", "p2"]), "p1|p2");
    assert_eq!(
        quoted_regex_body(["ip-10-0-0-1.ec2.internal"]),
        r"ip-10-0-0-1\\.ec2\\.internal"
    );
    assert_eq!(quoted_regex_body([r#"a"b"#]), r#"a\"b"#);
    let query = format!("x{{pod=~\"{}\"}}", quoted_regex_body(["a.b", "c|d"]));
    assert_eq!(parsed_matcher_value(&query, "pod"), r"a\.b|c\|d");
}

#[test]
fn name_matchers() {
    let one = LabelMatcher::any_of("pod", &["p1"]);
    assert_eq!(one.to_string(), r#"pod="p1""#);
    let many = LabelMatcher::any_of("node", &["n.1", "n2"]);
    assert_eq!(many.to_string(), r#"node=~"n\\.1|n2""#);
    let weird = LabelMatcher::any_of("kubernetes_pod_name", &[r#"we"ird\name"#]);
    assert_eq!(weird.to_string(), r#"kubernetes_pod_name="we\"ird\\name""#);
    assert_eq!(join_matchers(&[one, many]), r#"pod="p1",node=~"n\\.1|n2""#);
}

#[test]
fn validate_accepts_promql_and_refuses_garbage() {
    assert!(validate(r#"sum(rate(x{a="b"}[2m])) by (pod)"#).is_ok());
    assert!(validate("sum(x{}) by (name)").is_ok());
    assert!(validate("sum(rate(x[2m]) by (pod)").is_err());
}

proptest! {
    /// Whatever the value (quotes, backslashes, newlines, any Unicode), the quoted matcher parses
    /// as PromQL and reads back as the same value: nothing can escape the string literal.
    #[test]
    fn quoted_values_read_back_unchanged(value in "\\PC*|[\"\\\\\n\t\u{0}-\u{1f}\u{7f}-\u{a0}]*|.*") {
        let query = format!("x{{{}}}", LabelMatcher::new("l", MatchOp::Equal, value.clone()));
        prop_assert_eq!(parsed_matcher_value(&query, "l"), value);
    }

    /// An escaped alternation, read back as a regex, matches each name and nothing that differs
    /// from it in one metacharacter.
    #[test]
    fn alternations_match_exactly_their_names(names in prop::collection::vec("[a-z.|()*+?\\\\]{1,8}", 2..5)) {
        let matcher = LabelMatcher::any_of("n", &names);
        let query = format!("x{{{matcher}}}");
        let value = parsed_matcher_value(&query, "n");
        let re = regex::Regex::new(&format!("^(?:{value})$")).unwrap();
        for name in &names {
            prop_assert!(re.is_match(name));
            let altered = name.replace('.', "X");
            if !names.contains(&altered) {
                prop_assert!(!re.is_match(&altered));
            }
        }
    }
}

#[test]
fn label_names() {
    for ok in ["a", "_", "pod", "queue_name", "A9_b"] {
        assert!(is_label_name(ok), "{ok}");
    }
    for bad in ["", "9a", "a-b", "app.kubernetes.io/name", "é", "a b"] {
        assert!(!is_label_name(bad), "{bad}");
    }
}
