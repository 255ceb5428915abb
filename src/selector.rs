//! Kubernetes label selectors: the string grammar of apimachinery's `labels.Parse`, matching
//! against an object's labels, and the two ways a selector leaves this module: as PromQL label
//! matchers (sorted by key, as prometheus-adapter writes them) and as a `metav1.LabelSelector`
//! echoed back in custom-metrics responses.
//!
//! Unlike apimachinery, every parse error names the byte offset where the unexpected token starts,
//! and `!=` is representable as a `LabelSelector` (as `NotIn` with one value).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::promql::{LabelMatcher, MatchOp};

/// The longest selector string we accept. The HPA sends a deployment's pod selector; nothing real
/// comes close, and the bound keeps a hostile query string from costing more than a moment.
pub const MAX_SELECTOR_LEN: usize = 64 * 1024;

/// A selector operator, named as in `k8s.io/apimachinery/pkg/selection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `key=value`
    Equals,
    /// `key==value`
    DoubleEquals,
    /// `key!=value`: also true for objects without the key.
    NotEquals,
    /// `key in (a,b)`
    In,
    /// `key notin (a,b)`: also true for objects without the key.
    NotIn,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key>10` (integer comparison)
    GreaterThan,
    /// `key<10` (integer comparison)
    LessThan,
}

impl Operator {
    fn symbol(self) -> &'static str {
        match self {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

/// One requirement of a selector: `key op values`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    /// Sorted and de-duplicated, as apimachinery's `sets.String`.
    values: BTreeSet<String>,
}

impl Requirement {
    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, sorted.
    pub fn values(&self) -> &BTreeSet<String> {
        &self.values
    }

    /// Whether an object with these labels satisfies the requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In => {
                value.is_some_and(|v| self.values.contains(v))
            }
            Operator::NotEquals | Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(have) = value.and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                // Validated at parse time: exactly one integer value.
                let Some(want) = self
                    .values
                    .iter()
                    .next()
                    .and_then(|v| v.parse::<i64>().ok())
                else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }

    /// The PromQL matcher prometheus-adapter writes for this requirement
    /// (adapter-behavior.md §1.7): `=`/`==` to `=`, `!=` to `!=`, `in` to `=~`, `notin` to `!~`,
    /// exists to `!=""`, does-not-exist to `=""`. Set values become an alternation of escaped
    /// values, so `version in (1.0)` cannot match `1x0`.
    pub fn to_matcher(&self) -> Result<LabelMatcher, UnsupportedOperator> {
        let single = || self.values.iter().next().cloned().unwrap_or_default();
        let (op, value) = match self.operator {
            Operator::Equals | Operator::DoubleEquals => (MatchOp::Equal, single()),
            Operator::NotEquals => (MatchOp::NotEqual, single()),
            Operator::In => (
                MatchOp::RegexMatch,
                crate::promql::regex_alternation(self.values.iter()),
            ),
            Operator::NotIn => (
                MatchOp::RegexNoMatch,
                crate::promql::regex_alternation(self.values.iter()),
            ),
            Operator::Exists => (MatchOp::NotEqual, String::new()),
            Operator::DoesNotExist => (MatchOp::Equal, String::new()),
            Operator::GreaterThan | Operator::LessThan => {
                return Err(UnsupportedOperator {
                    key: self.key.clone(),
                    operator: self.operator,
                });
            }
        };
        Ok(LabelMatcher::new(self.key.clone(), op, value))
    }
}

impl fmt::Display for Requirement {
    /// apimachinery's `Requirement.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>| {
            for (i, v) in self.values.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                f.write_str(v)?;
            }
            Ok(())
        };
        match self.operator {
            Operator::Exists => f.write_str(&self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
            Operator::In | Operator::NotIn => {
                write!(f, "{} {} (", self.key, self.operator.symbol())?;
                join(f)?;
                f.write_str(")")
            }
            Operator::GreaterThan => write!(f, "{}>", self.key).and_then(|_| join(f)),
            Operator::LessThan => write!(f, "{}<", self.key).and_then(|_| join(f)),
            op => write!(f, "{}{}", self.key, op.symbol()).and_then(|_| join(f)),
        }
    }
}

/// A `>` or `<` requirement asked to become a PromQL matcher: Prometheus has no numeric label
/// comparison, and widening the query instead would return series the caller excluded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operator {} on label {key:?} is not supported by prometheus", operator.symbol())]
pub struct UnsupportedOperator {
    /// The label key of the requirement.
    pub key: String,
    /// The operator that has no PromQL form.
    pub operator: Operator,
}

/// A parsed selector: requirements ANDed, sorted by key (stable, as apimachinery sorts them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

/// Why a selector string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A token that the grammar does not allow where it stands.
    #[error("found '{found}' at offset {offset}, expected: {expected}")]
    Unexpected {
        /// The token text (`end of string` at the end).
        found: String,
        /// Byte offset of the token in the selector.
        offset: usize,
        /// What the grammar allows there.
        expected: &'static str,
    },
    /// A key or value that is not a valid label key or value.
    #[error("invalid {what} {text:?} at offset {offset}: {reason}")]
    Invalid {
        /// `label key` or `label value`.
        what: &'static str,
        /// The offending text.
        text: String,
        /// Byte offset of the text in the selector.
        offset: usize,
        /// Which rule it breaks.
        reason: String,
    },
    /// The selector is longer than [`MAX_SELECTOR_LEN`].
    #[error("selector is {0} bytes long; the limit is {MAX_SELECTOR_LEN}")]
    TooLong(usize),
}

impl Selector {
    /// The selector that matches everything (the empty string).
    pub fn everything() -> Selector {
        Selector::default()
    }

    /// Parse a selector string with the grammar of apimachinery's `labels.Parse`.
    pub fn parse(input: &str) -> Result<Selector, SelectorError> {
        if input.len() > MAX_SELECTOR_LEN {
            return Err(SelectorError::TooLong(input.len()));
        }
        let mut parser = Parser {
            lexer: Lexer { input, pos: 0 },
        };
        let mut requirements = parser.parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Selector { requirements })
    }

    /// Whether the selector is empty (matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether an object with these labels matches every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// PromQL matchers for every requirement, in key order.
    pub fn to_matchers(&self) -> Result<Vec<LabelMatcher>, UnsupportedOperator> {
        self.requirements
            .iter()
            .map(Requirement::to_matcher)
            .collect()
    }

    /// The `metav1.LabelSelector` a custom-metrics response echoes back: `=`/`==` become
    /// `matchLabels`; everything else `matchExpressions`. `!=` becomes `NotIn` with one value,
    /// which selects the same objects (prometheus-adapter fails the request with a 500 instead).
    /// `None` for the empty selector (serialized as `null`).
    pub fn to_label_selector(&self) -> Option<LabelSelector> {
        if self.is_empty() {
            return None;
        }
        let mut out = LabelSelector::default();
        for r in &self.requirements {
            let values = || r.values.iter().cloned().collect::<Vec<_>>();
            let op = match r.operator {
                Operator::Equals | Operator::DoubleEquals => {
                    let v = r.values.iter().next().cloned().unwrap_or_default();
                    out.match_labels.insert(r.key.clone(), v);
                    continue;
                }
                Operator::In => "In",
                Operator::NotIn | Operator::NotEquals => "NotIn",
                Operator::Exists => "Exists",
                Operator::DoesNotExist => "DoesNotExist",
                Operator::GreaterThan => "Gt",
                Operator::LessThan => "Lt",
            };
            let values = match r.operator {
                Operator::Exists | Operator::DoesNotExist => Vec::new(),
                _ => values(),
            };
            out.match_expressions.push(LabelSelectorRequirement {
                key: r.key.clone(),
                operator: op,
                values,
            });
        }
        Some(out)
    }
}

impl fmt::Display for Selector {
    /// apimachinery's `Selector.String()`: requirements joined by `,`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// `metav1.LabelSelector` as it appears on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// `key: value` pairs from `=` and `==` requirements.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Every other requirement.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// `metav1.LabelSelectorRequirement`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LabelSelectorRequirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt` or `Lt`.
    pub operator: &'static str,
    /// The values; omitted for `Exists` and `DoesNotExist`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// A field selector (`metadata.name=x,metadata.namespace!=y`): the grammar of apimachinery's
/// `fields.ParseSelector` (`=`, `==`, `!=`, terms separated by `,`, `\` escaping `,` `=` `!`
/// and `\` in values), over the fields a caller declares it supports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

/// One term of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTerm {
    /// The field (`metadata.name`).
    pub field: String,
    /// Whether the field must differ from the value (`!=`).
    pub negated: bool,
    /// The value.
    pub value: String,
}

impl FieldSelector {
    /// Parse a field selector, refusing fields not in `supported` with apimachinery's message.
    pub fn parse(input: &str, supported: &[&str]) -> Result<FieldSelector, String> {
        if input.len() > MAX_SELECTOR_LEN {
            return Err(format!(
                "field selector is longer than {MAX_SELECTOR_LEN} bytes"
            ));
        }
        let mut terms = Vec::new();
        for raw in split_unescaped(input, ',') {
            if raw.trim().is_empty() {
                continue;
            }
            let (field, negated, value) = if let Some((f, v)) = split_operator(&raw, "!=") {
                (f, true, v)
            } else if let Some((f, v)) = split_operator(&raw, "==") {
                (f, false, v)
            } else if let Some((f, v)) = split_operator(&raw, "=") {
                (f, false, v)
            } else {
                return Err(format!(
                    "invalid selector: '{raw}'; can't understand '{raw}'"
                ));
            };
            let field = field.trim().to_string();
            if !supported.contains(&field.as_str()) {
                return Err(format!("field label not supported: {field}"));
            }
            terms.push(FieldTerm {
                field,
                negated,
                value: unescape_field_value(value.trim()),
            });
        }
        Ok(FieldSelector { terms })
    }

    /// The terms.
    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    /// The value `field` must equal, if a term requires it.
    pub fn required(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && !t.negated)
            .map(|t| t.value.as_str())
    }

    /// Whether an object with these field values matches every term.
    pub fn matches(&self, value_of: impl Fn(&str) -> String) -> bool {
        self.terms
            .iter()
            .all(|t| (value_of(&t.field) == t.value) != t.negated)
    }
}

/// Split at `sep` where it is not escaped by a backslash (escapes are kept for later).
fn split_unescaped(input: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in input.chars() {
        if escaped {
            current.push('\\');
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    if escaped {
        current.push('\\');
    }
    parts.push(current);
    parts
}

/// Split a term at the first unescaped occurrence of `op`.
fn split_operator<'a>(term: &'a str, op: &str) -> Option<(&'a str, &'a str)> {
    let mut escaped = false;
    for (i, c) in term.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        if let Some((before, after)) = term.split_at_checked(i)
            && let Some(value) = after.strip_prefix(op)
        {
            return Some((before, value));
        }
    }
    None
}

fn unescape_field_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    End,
    Identifier,
    Comma,
    OpenParen,
    CloseParen,
    Equals,
    DoubleEquals,
    NotEquals,
    Bang,
    Greater,
    Less,
    In,
    NotIn,
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

impl<'a> Lexer<'a> {
    /// The next token, its text and its offset. `in` and `notin` are keywords only where an
    /// operator can stand (`keywords`), as apimachinery distinguishes its `KeyAndOperator` and
    /// `Values` contexts.
    fn next(&mut self, keywords: bool) -> (Token, &'a str, usize) {
        let rest = self.input.get(self.pos..).unwrap_or_default();
        let trimmed = rest.trim_start_matches(is_space);
        self.pos += rest.len() - trimmed.len();
        let start = self.pos;
        let Some(c) = trimmed.chars().next() else {
            return (Token::End, "end of string", start);
        };
        if is_special(c) {
            let two = trimmed.get(..2);
            let (tok, len) = match (c, two) {
                ('=', Some("==")) => (Token::DoubleEquals, 2),
                ('!', Some("!=")) => (Token::NotEquals, 2),
                ('=', _) => (Token::Equals, 1),
                ('!', _) => (Token::Bang, 1),
                ('(', _) => (Token::OpenParen, 1),
                (')', _) => (Token::CloseParen, 1),
                (',', _) => (Token::Comma, 1),
                ('>', _) => (Token::Greater, 1),
                _ => (Token::Less, 1),
            };
            self.pos += len;
            return (tok, trimmed.get(..len).unwrap_or_default(), start);
        }
        let len = trimmed
            .find(|c: char| is_space(c) || is_special(c))
            .unwrap_or(trimmed.len());
        self.pos += len;
        let text = trimmed.get(..len).unwrap_or_default();
        let tok = match text {
            "in" if keywords => Token::In,
            "notin" if keywords => Token::NotIn,
            _ => Token::Identifier,
        };
        (tok, text, start)
    }

    fn peek(&mut self, keywords: bool) -> (Token, &'a str, usize) {
        let saved = self.pos;
        let t = self.next(keywords);
        self.pos = saved;
        t
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
}

fn unexpected(found: &str, offset: usize, expected: &'static str) -> SelectorError {
    SelectorError::Unexpected {
        found: found.to_string(),
        offset,
        expected,
    }
}

impl<'a> Parser<'a> {
    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            let (tok, text, offset) = self.lexer.peek(false);
            match tok {
                Token::Identifier | Token::Bang => {}
                Token::End => return Ok(requirements),
                _ => {
                    return Err(unexpected(
                        text,
                        offset,
                        "!, identifier, or 'end of string'",
                    ));
                }
            }
            requirements.push(self.requirement()?);
            let (tok, text, offset) = self.lexer.next(false);
            match tok {
                Token::End => return Ok(requirements),
                Token::Comma => {
                    let (tok, text, offset) = self.lexer.peek(false);
                    if !matches!(tok, Token::Identifier | Token::Bang) {
                        return Err(unexpected(text, offset, "identifier after ','"));
                    }
                }
                _ => return Err(unexpected(text, offset, "',' or 'end of string'")),
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let (mut tok, mut text, mut offset) = self.lexer.next(false);
        let negated = tok == Token::Bang;
        if negated {
            (tok, text, offset) = self.lexer.next(false);
        }
        if tok != Token::Identifier {
            return Err(unexpected(text, offset, "identifier"));
        }
        validate_key(text, offset)?;
        let key = text.to_string();
        let (next, _, _) = self.lexer.peek(true);
        if negated || matches!(next, Token::End | Token::Comma) {
            let operator = if negated {
                Operator::DoesNotExist
            } else {
                Operator::Exists
            };
            return Ok(Requirement {
                key,
                operator,
                values: BTreeSet::new(),
            });
        }
        let (tok, text, offset) = self.lexer.next(true);
        let operator = match tok {
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::Greater => Operator::GreaterThan,
            Token::Less => Operator::LessThan,
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            _ => return Err(unexpected(text, offset, "in, notin, =, ==, !=, gt, lt")),
        };
        let values = match operator {
            Operator::In | Operator::NotIn => self.set_values()?,
            _ => self.single_value(operator)?,
        };
        Ok(Requirement {
            key,
            operator,
            values,
        })
    }

    fn single_value(&mut self, operator: Operator) -> Result<BTreeSet<String>, SelectorError> {
        let (tok, text, offset) = self.lexer.peek(false);
        let value = match tok {
            Token::Identifier => {
                self.lexer.next(false);
                text
            }
            // `key=` selects the empty value.
            Token::End | Token::Comma => "",
            _ => return Err(unexpected(text, offset, "identifier")),
        };
        if matches!(operator, Operator::GreaterThan | Operator::LessThan)
            && value.parse::<i64>().is_err()
        {
            return Err(SelectorError::Invalid {
                what: "label value",
                text: value.to_string(),
                offset,
                reason: "for 'Gt', 'Lt' operators, the value must be an integer".into(),
            });
        }
        validate_value(value, offset)?;
        Ok(BTreeSet::from([value.to_string()]))
    }

    fn set_values(&mut self) -> Result<BTreeSet<String>, SelectorError> {
        let (tok, text, offset) = self.lexer.next(false);
        if tok != Token::OpenParen {
            return Err(unexpected(text, offset, "'('"));
        }
        let mut values = BTreeSet::new();
        let mut expect_value = true;
        loop {
            let (tok, text, offset) = self.lexer.next(false);
            match tok {
                Token::Identifier if expect_value => {
                    validate_value(text, offset)?;
                    values.insert(text.to_string());
                    expect_value = false;
                }
                Token::Comma => {
                    if expect_value {
                        // `(a,,b)` and `(,a)` hold the empty value, as in apimachinery.
                        values.insert(String::new());
                    }
                    expect_value = true;
                }
                Token::CloseParen => {
                    // `()` and `(a,)` hold the empty value, as in apimachinery.
                    if expect_value {
                        values.insert(String::new());
                    }
                    return Ok(values);
                }
                _ => return Err(unexpected(text, offset, "',', ')' or identifier")),
            }
        }
    }
}

fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// apimachinery's qualified-name rule: `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63.
fn qualified_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("name part must be non-empty".into());
    }
    if name.len() > 63 {
        return Some("name part must be no more than 63 characters".into());
    }
    let first_last_ok =
        name.chars().next().is_some_and(is_alnum) && name.chars().next_back().is_some_and(is_alnum);
    let body_ok = name
        .chars()
        .all(|c| is_alnum(c) || matches!(c, '-' | '_' | '.'));
    if !(first_last_ok && body_ok) {
        return Some(
            "must consist of alphanumeric characters, '-', '_' or '.', and must start and end \
             with an alphanumeric character"
                .into(),
        );
    }
    None
}

/// DNS-1123 subdomain: lowercase alphanumerics, `-` and `.`, at most 253.
fn dns_subdomain_problem(prefix: &str) -> Option<String> {
    if prefix.is_empty() || prefix.len() > 253 {
        return Some("prefix part must be a DNS-1123 subdomain of 1 to 253 characters".into());
    }
    let ok = prefix.split('.').all(|label| {
        !label.is_empty()
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    (!ok).then(|| "prefix part must be a lowercase RFC 1123 subdomain".into())
}

fn validate_key(key: &str, offset: usize) -> Result<(), SelectorError> {
    let problem = match key.split_once('/') {
        Some((prefix, name)) => {
            dns_subdomain_problem(prefix).or_else(|| qualified_name_problem(name))
        }
        None => qualified_name_problem(key),
    };
    match problem {
        None => Ok(()),
        Some(reason) => Err(SelectorError::Invalid {
            what: "label key",
            text: key.to_string(),
            offset,
            reason,
        }),
    }
}

fn validate_value(value: &str, offset: usize) -> Result<(), SelectorError> {
    if value.is_empty() {
        return Ok(());
    }
    match qualified_name_problem(value) {
        None => Ok(()),
        Some(reason) => Err(SelectorError::Invalid {
            what: "label value",
            text: value.to_string(),
            offset,
            reason: reason.replace("name part ", ""),
        }),
    }
}

#[cfg(test)]
mod tests;
