//! PromQL text: the one place label values and object names are turned into PromQL.
//!
//! [`quote`] writes a label value exactly as Go's `%q` does (prometheus-adapter's quoting), and
//! [`regex_alternation`] builds the `a|b|c` alternation of `=~` matchers with every regex
//! metacharacter escaped, so a name is only ever matched as itself (prometheus-adapter leaves
//! names unescaped: a dot in a node name matches any character there).

use std::fmt::{self, Write as _};

use unicode_general_category::{GeneralCategory, get_general_category};

/// Whether `name` is a Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Quote `value` as a PromQL (and Go) double-quoted string literal, byte-identical to Go's
/// `fmt.Sprintf("%q", value)`: `"` and `\` are escaped, `\a \b \f \n \r \t \v` use their short
/// forms, other non-printable characters use `\xNN`, `\uNNNN` or `\UNNNNNNNN`, and printable
/// Unicode is kept as it is.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    quote_into(&mut out, value);
    out
}

/// [`quote`], appending to `out`.
pub fn quote_into(out: &mut String, value: &str) {
    out.push('"');
    escape_into(out, value);
    out.push('"');
}

/// The values as the inside of a quoted `=~` regex: each value regex-escaped, joined by `|`, then
/// escaped as [`quote`] escapes (without the surrounding quotes). This is what
/// `.LabelValuesByName` holds, documented upstream as "pre-joined by `|` for use with `=~`", so
/// `pod=~"<<index .LabelValuesByName "pod">>"` matches exactly the requested objects.
pub fn quoted_regex_body<I, S>(values: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = String::new();
    escape_into(&mut out, &regex_alternation(values));
    out
}

fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_go_printable(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
}

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space.
fn is_go_printable(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    use GeneralCategory as G;
    !matches!(
        get_general_category(c),
        G::Control
            | G::Format
            | G::Surrogate
            | G::PrivateUse
            | G::Unassigned
            | G::SpaceSeparator
            | G::LineSeparator
            | G::ParagraphSeparator
    )
}

/// Escape every RE2 metacharacter (`\.+*?()|[]{}^$`), as Go's `regexp.QuoteMeta` does, so the
/// text matches only itself.
pub fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The regex `v1|v2|…` matching exactly the given values, each escaped with [`regex_escape`],
/// in the order given.
pub fn regex_alternation<I, S>(values: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = String::new();
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push('|');
        }
        out.push_str(&regex_escape(v.as_ref()));
    }
    out
}

/// A label matching operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    RegexMatch,
    /// `!~`
    RegexNoMatch,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

/// One label matcher, `name op "value"`. The value is quoted when the matcher is written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LabelMatcher {
    name: String,
    op: MatchOp,
    value: String,
}

impl LabelMatcher {
    /// A matcher; `value` is the raw (unquoted) value or regex.
    pub fn new(name: impl Into<String>, op: MatchOp, value: impl Into<String>) -> LabelMatcher {
        LabelMatcher {
            name: name.into(),
            op,
            value: value.into(),
        }
    }

    /// `label="name"` for one name, `label=~"n1|n2|…"` (escaped, in the order given) for several:
    /// the resource matcher of a custom or resource metrics query.
    pub fn any_of<S: AsRef<str>>(label: impl Into<String>, names: &[S]) -> LabelMatcher {
        match names {
            [one] => LabelMatcher::new(label, MatchOp::Equal, one.as_ref()),
            _ => LabelMatcher::new(
                label,
                MatchOp::RegexMatch,
                regex_alternation(names.iter().map(AsRef::as_ref)),
            ),
        }
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for LabelMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        f.write_str(self.op.as_str())?;
        f.write_str(&quote(&self.value))
    }
}

/// Matchers joined by `,` with no spaces, as prometheus-adapter's `.LabelMatchers`.
pub fn join_matchers(matchers: &[LabelMatcher]) -> String {
    let mut out = String::new();
    for (i, m) in matchers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{m}");
    }
    out
}

/// A query that the PromQL parser refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not valid PromQL: {0}")]
pub struct InvalidQuery(pub String);

/// Check that `query` parses as PromQL. The parser may lag behind the newest PromQL functions, so
/// callers treat a failure as a warning where the query came from a user's template.
pub fn validate(query: &str) -> Result<(), InvalidQuery> {
    promql_parser::parser::parse(query)
        .map(|_| ())
        .map_err(|e| InvalidQuery(e.trim().to_string()))
}

mod series;

pub use series::{SeriesSelector, is_plain_label_name};

#[cfg(test)]
mod tests;
