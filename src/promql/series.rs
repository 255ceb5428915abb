//! A rule's `seriesQuery` read as a series selector, so that discovery can ask Prometheus' label
//! APIs narrower questions about it: which labels every matching series must carry, whether a
//! metric name can match at all, and the same selector narrowed to series carrying one more
//! label. Unlike re-printing a parsed selector, narrowing keeps the user's text as written and
//! only appends one matcher, so what Prometheus parses is exactly the query plus that matcher.

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::Expr;

use super::{InvalidQuery, LabelMatcher};

/// A parsed series selector (`name{matchers}`, `name` or `{matchers}`).
#[derive(Debug, Clone)]
pub struct SeriesSelector {
    text: String,
    name: Option<String>,
    matchers: Vec<Matcher>,
}

/// Whether `label` can be written bare in a selector (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn is_plain_label_name(label: &str) -> bool {
    let mut chars = label.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl SeriesSelector {
    /// Parse `text`; anything but a plain vector selector (an expression, an `offset` or `@`
    /// modifier, `or` between matcher groups) is refused, as are regexes the parser reads
    /// differently from Prometheus.
    pub fn parse(text: &str) -> Result<SeriesSelector, InvalidQuery> {
        let text = text.trim();
        let expr = promql_parser::parser::parse(text).map_err(|e| InvalidQuery(e.trim().into()))?;
        let Expr::VectorSelector(selector) = expr else {
            return Err(InvalidQuery(format!("{text:?} is not a series selector")));
        };
        if selector.offset.is_some() || selector.at.is_some() {
            return Err(InvalidQuery(format!(
                "{text:?} has a modifier; a series selector has none"
            )));
        }
        if !selector.matchers.or_matchers.is_empty() {
            return Err(InvalidQuery(format!("{text:?} has `or` between matchers")));
        }
        Ok(SeriesSelector {
            text: text.to_string(),
            name: selector.name,
            matchers: selector.matchers.matchers,
        })
    }

    /// The selector as written (surrounding whitespace removed).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether every series this selector matches carries `label`: some matcher on it refuses
    /// the empty value (`pod!=""`, `pod=~".+"`, `pod="x"`), and a missing label reads as empty.
    pub fn requires(&self, label: &str) -> bool {
        if label == "__name__" {
            return true;
        }
        self.matchers
            .iter()
            .any(|m| m.name == label && !m.is_match(""))
    }

    /// The labels [`requires`](Self::requires) holds for, in matcher order (`__name__` left out).
    pub fn required_labels(&self) -> impl Iterator<Item = &str> {
        self.matchers
            .iter()
            .filter(|m| m.name != "__name__" && !m.is_match(""))
            .map(|m| m.name.as_str())
    }

    /// Whether a series named `name` can match: the metric name and every `__name__` matcher
    /// accept it.
    pub fn admits_name(&self, name: &str) -> bool {
        self.name.as_deref().is_none_or(|n| n == name)
            && self
                .matchers
                .iter()
                .filter(|m| m.name == "__name__")
                .all(|m| m.is_match(name))
    }

    /// The selector narrowed to series that carry `label`: the text with `label!=""` appended
    /// to its matchers. `None` for a label that cannot be written bare.
    pub fn with_label(&self, label: &str) -> Option<String> {
        if !is_plain_label_name(label) {
            return None;
        }
        let matcher = LabelMatcher::new(label, super::MatchOp::NotEqual, "").to_string();
        let narrowed = match self.text.strip_suffix('}') {
            Some(inside) => {
                let inside = inside.trim_end();
                let separator = if inside.ends_with('{') || inside.ends_with(',') {
                    ""
                } else {
                    ","
                };
                format!("{inside}{separator}{matcher}}}")
            }
            None => format!("{}{{{matcher}}}", self.text),
        };
        // The text came from a user; check that the result is this selector plus the matcher.
        let parsed = SeriesSelector::parse(&narrowed).ok()?;
        let expected = Matcher::new(MatchOp::NotEqual, label, "");
        let same = parsed.name == self.name
            && parsed.matchers.len() == self.matchers.len() + 1
            && parsed.matchers.last() == Some(&expected)
            && parsed.matchers.get(..self.matchers.len()) == Some(self.matchers.as_slice());
        same.then_some(narrowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_labels_are_those_whose_matcher_refuses_empty() {
        let s = SeriesSelector::parse(
            r#"{__name__=~"^container_.*",container!="POD",namespace!="",pod=~".+",node=~".*",zone="a",x!~"",y=~"|b"}"#,
        )
        .unwrap();
        for required in ["namespace", "pod", "zone", "x", "__name__"] {
            assert!(s.requires(required), "{required}");
        }
        for optional in ["container", "node", "y", "service"] {
            assert!(!s.requires(optional), "{optional}");
        }
    }

    #[test]
    fn names_are_checked_against_the_name_and_its_matchers() {
        let s = SeriesSelector::parse(r#"{__name__=~"^container_.*",__name__!="container_x"}"#)
            .unwrap();
        assert!(s.admits_name("container_cpu_usage_seconds_total"));
        assert!(!s.admits_name("container_x"));
        assert!(!s.admits_name("http_requests_total"));
        let bare = SeriesSelector::parse("queue_depth\n").unwrap();
        assert!(bare.admits_name("queue_depth"));
        assert!(!bare.admits_name("queue_depth_total"));
    }

    #[test]
    fn narrowing_appends_one_matcher_to_the_text_as_written() {
        let cases = [
            (
                r#"{namespace!="",__name__!~"^container_.*"}"#,
                r#"{namespace!="",__name__!~"^container_.*",pod!=""}"#,
            ),
            ("queue_depth", r#"queue_depth{pod!=""}"#),
            (" queue_depth{} \n", r#"queue_depth{pod!=""}"#),
            (r#"up{job="a", }"#, r#"up{job="a",pod!=""}"#),
            (r#"up{job="}"  }"#, r#"up{job="}",pod!=""}"#),
        ];
        for (text, narrowed) in cases {
            let s = SeriesSelector::parse(text).unwrap();
            assert_eq!(s.with_label("pod").as_deref(), Some(narrowed), "{text}");
        }
        let s = SeriesSelector::parse("up").unwrap();
        assert_eq!(s.with_label("kubernetes.io/pod"), None);
        assert_eq!(s.with_label("1pod"), None);
        assert_eq!(s.with_label(""), None);
    }

    #[test]
    fn only_plain_selectors_are_accepted() {
        for bad in [
            "rate(x[5m])",
            "x offset 5m",
            "x @ 100",
            "x[5m]",
            "sum(x)",
            r#"{a="1" or b="2"}"#,
            "{",
            "",
        ] {
            assert!(SeriesSelector::parse(bad).is_err(), "{bad}");
        }
    }
}
