//! The test doubles' own label selector: apimachinery's `labels.Parse` grammar (`=`, `==`, `!=`,
//! `in`, `notin`, `key`, `!key`, `>`, `<`), key and value validation, matching against a label
//! map, and `Selector.String()` printing. The Kubernetes API double and the HPA simulator are
//! oracles, so they never use the crate's `metrics_adapter::selector`: a bug there must show up
//! as a disagreement with this module, not hide in both. Written from the Go source's behaviour,
//! not from the crate's parser: the input is cut into tokens first, then parsed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// What a requirement asks of a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One `key op values` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub op: Op,
    /// Sorted and without duplicates, as Go's `sets.String`.
    pub values: BTreeSet<String>,
}

/// A parsed selector: every requirement must hold. The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// Sorted by key (stable for repeated keys).
    pub requirements: Vec<Requirement>,
}

/// A token of the selector language, with the byte offset it starts at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    /// `=`, `==`, `!=`, `!`, `>`, `<`.
    Symbol(&'static str),
    Open,
    Close,
    Comma,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(word) => f.write_str(word),
            Token::Symbol(symbol) => f.write_str(symbol),
            Token::Open => f.write_str("("),
            Token::Close => f.write_str(")"),
            Token::Comma => f.write_str(","),
        }
    }
}

/// Cuts the input into tokens: whitespace separates, the symbols stand alone, everything
/// else runs into words (`in` and `notin` are words here; the parser decides what they are).
fn tokenize(input: &str) -> Vec<Token> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let (token, width) = match (c, next) {
            (' ' | '\t' | '\n' | '\r', _) => {
                i += 1;
                continue;
            }
            ('=', Some('=')) => (Token::Symbol("=="), 2),
            ('!', Some('=')) => (Token::Symbol("!="), 2),
            ('=', _) => (Token::Symbol("="), 1),
            ('!', _) => (Token::Symbol("!"), 1),
            ('>', _) => (Token::Symbol(">"), 1),
            ('<', _) => (Token::Symbol("<"), 1),
            ('(', _) => (Token::Open, 1),
            (')', _) => (Token::Close, 1),
            (',', _) => (Token::Comma, 1),
            _ => {
                let start = i;
                while i < chars.len() && !" \t\n\r=!><(),".contains(chars[i]) {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
                continue;
            }
        };
        tokens.push(token);
        i += width;
    }
    tokens
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn take(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn describe(token: Option<&Token>) -> String {
        token.map_or_else(|| "end of string".to_string(), |t| format!("'{t}'"))
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let negated = self.peek() == Some(&Token::Symbol("!"));
        if negated {
            self.at += 1;
        }
        let key = match self.take() {
            Some(Token::Word(word)) => word,
            other => {
                return Err(format!(
                    "found {}, expected: identifier",
                    Self::describe(other.as_ref())
                ));
            }
        };
        check_key(&key)?;
        let single = |key: String, op: Op| Requirement {
            key,
            op,
            values: BTreeSet::new(),
        };
        if negated {
            return Ok(single(key, Op::DoesNotExist));
        }
        let op = match self.peek() {
            None | Some(Token::Comma) => return Ok(single(key, Op::Exists)),
            Some(Token::Symbol("=")) => Op::Equals,
            Some(Token::Symbol("==")) => Op::DoubleEquals,
            Some(Token::Symbol("!=")) => Op::NotEquals,
            Some(Token::Symbol(">")) => Op::GreaterThan,
            Some(Token::Symbol("<")) => Op::LessThan,
            Some(Token::Word(w)) if w == "in" => Op::In,
            Some(Token::Word(w)) if w == "notin" => Op::NotIn,
            other => {
                return Err(format!(
                    "found {}, expected: in, notin, =, ==, !=, gt, lt",
                    Self::describe(other)
                ));
            }
        };
        self.at += 1;
        let values = if matches!(op, Op::In | Op::NotIn) {
            self.value_set()?
        } else {
            // `key=` (nothing before `,` or the end) is the empty value.
            let value = match self.peek() {
                None | Some(Token::Comma) => String::new(),
                Some(Token::Word(word)) => {
                    let word = word.clone();
                    self.at += 1;
                    word
                }
                other => {
                    return Err(format!(
                        "found {}, expected: identifier",
                        Self::describe(other)
                    ));
                }
            };
            if matches!(op, Op::GreaterThan | Op::LessThan) && value.parse::<i64>().is_err() {
                return Err(format!(
                    "for 'Gt', 'Lt' operators, the value must be an integer: {value:?}"
                ));
            }
            BTreeSet::from([value])
        };
        for value in &values {
            check_value(value)?;
        }
        Ok(Requirement { key, op, values })
    }

    /// `( a, b )`, read as apimachinery's `parseValues` reads it: `()` is the empty value, and
    /// so is a comma next to a parenthesis or another comma (`(,a)`, `(a,)`, `(a,,b)`), but
    /// `(,,)` and `(a,,)` are refused.
    fn value_set(&mut self) -> Result<BTreeSet<String>, String> {
        if self.take() != Some(Token::Open) {
            return Err(format!(
                "found {}, expected: '('",
                Self::describe(self.tokens.get(self.at - 1))
            ));
        }
        match self.peek() {
            Some(Token::Close) => {
                self.at += 1;
                return Ok(BTreeSet::from([String::new()]));
            }
            Some(Token::Word(_) | Token::Comma) => {}
            other => {
                return Err(format!(
                    "found {}, expected: ',', ')' or identifier",
                    Self::describe(other)
                ));
            }
        }
        let mut values = BTreeSet::new();
        loop {
            match self.take() {
                Some(Token::Word(word)) => {
                    values.insert(word);
                    match self.peek() {
                        Some(Token::Comma) => {}
                        Some(Token::Close) => break,
                        other => {
                            return Err(format!(
                                "found {}, expected: ',' or ')'",
                                Self::describe(other)
                            ));
                        }
                    }
                }
                Some(Token::Comma) => {
                    if values.is_empty() {
                        values.insert(String::new());
                    }
                    match self.peek() {
                        Some(Token::Close) => {
                            values.insert(String::new());
                            break;
                        }
                        Some(Token::Comma) => {
                            self.at += 1;
                            values.insert(String::new());
                        }
                        _ => {}
                    }
                }
                other => {
                    return Err(format!(
                        "found {}, expected: ',', or identifier",
                        Self::describe(other.as_ref())
                    ));
                }
            }
        }
        // The loop stops before the closing parenthesis.
        self.at += 1;
        Ok(values)
    }
}

/// Why `name` is not a qualified name's name part (63 characters at most, alphanumerics at
/// both ends, `-`, `_` and `.` inside), if it is not.
fn name_problem(name: &str) -> Option<String> {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty() {
        Some("must not be empty".into())
    } else if name.len() > 63 {
        Some("must be no more than 63 characters".into())
    } else if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) {
        Some("must start and end with an alphanumeric character".into())
    } else if name
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        Some("may contain only alphanumerics, '-', '_' and '.'".into())
    } else {
        None
    }
}

/// A label key: `[dns-subdomain/]name`.
fn check_key(key: &str) -> Result<(), String> {
    let problem = match key.split_once('/') {
        Some((prefix, name)) => {
            // apimachinery's `IsDNS1123Subdomain`: 253 characters in all, no limit per label.
            let label_ok = |label: &str| {
                !label.is_empty()
                    && label
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            };
            if prefix.len() > 253 || !prefix.split('.').all(label_ok) {
                Some(format!("prefix {prefix:?} is not a DNS-1123 subdomain"))
            } else {
                name_problem(name)
            }
        }
        None => name_problem(key),
    };
    match problem {
        Some(why) => Err(format!("invalid label key {key:?}: {why}")),
        None => Ok(()),
    }
}

fn check_value(value: &str) -> Result<(), String> {
    match (value.is_empty(), name_problem(value)) {
        (false, Some(why)) => Err(format!("invalid label value {value:?}: {why}")),
        _ => Ok(()),
    }
}

impl Selector {
    /// Parses a selector string (`""` selects everything).
    pub fn parse(input: &str) -> Result<Selector, String> {
        let mut parser = Parser {
            tokens: tokenize(input),
            at: 0,
        };
        let mut requirements = Vec::new();
        while parser.peek().is_some() {
            requirements.push(parser.requirement()?);
            match parser.take() {
                None => break,
                Some(Token::Comma) if parser.peek().is_some() => {}
                Some(Token::Comma) => return Err("found end of string after ','".into()),
                Some(other) => {
                    return Err(format!("found '{other}', expected: ',' or 'end of string'"));
                }
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Selector { requirements })
    }

    /// Whether labels `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

impl Requirement {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let have = labels.get(&self.key);
        let listed = have.is_some_and(|v| self.values.contains(v));
        match self.op {
            Op::Equals | Op::DoubleEquals | Op::In => listed,
            Op::NotEquals | Op::NotIn => !listed,
            Op::Exists => have.is_some(),
            Op::DoesNotExist => have.is_none(),
            Op::GreaterThan | Op::LessThan => {
                let number = |v: Option<&String>| v.and_then(|v| v.parse::<i64>().ok());
                match (number(have), number(self.values.iter().next())) {
                    (Some(have), Some(bound)) if self.op == Op::GreaterThan => have > bound,
                    (Some(have), Some(bound)) => have < bound,
                    _ => false,
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    /// apimachinery's `Requirement.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = self.values.iter().cloned().collect::<Vec<_>>().join(",");
        let key = &self.key;
        match self.op {
            Op::Exists => write!(f, "{key}"),
            Op::DoesNotExist => write!(f, "!{key}"),
            Op::Equals => write!(f, "{key}={values}"),
            Op::DoubleEquals => write!(f, "{key}=={values}"),
            Op::NotEquals => write!(f, "{key}!={values}"),
            Op::GreaterThan => write!(f, "{key}>{values}"),
            Op::LessThan => write!(f, "{key}<{values}"),
            Op::In => write!(f, "{key} in ({values})"),
            Op::NotIn => write!(f, "{key} notin ({values})"),
        }
    }
}

impl fmt::Display for Selector {
    /// apimachinery's `Selector.String()`: the requirements in key order, joined by `,`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(|r| r.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selectors_match_label_maps_as_apimachinery_does() {
        let web = labels(&[("app", "web"), ("tier", "front"), ("replicas", "3")]);
        let bare = labels(&[]);
        let empty_value = labels(&[("app", "")]);
        // (selector, matches web, matches bare, matches app="")
        let cases: &[(&str, bool, bool, bool)] = &[
            ("", true, true, true),
            ("app=web", true, false, false),
            ("app==web", true, false, false),
            ("app = web", true, false, false),
            ("app=db", false, false, false),
            ("app!=db", true, true, true),
            ("app!=web", false, true, true),
            ("app=", false, false, true),
            ("app!=", true, true, false),
            ("app in (web,db)", true, false, false),
            ("app in (db)", false, false, false),
            ("app in (,db)", false, false, true),
            ("app in ()", false, false, true),
            ("app notin ()", true, true, false),
            ("app in (web,,db)", true, false, true),
            ("app in (db,)", false, false, true),
            ("app notin (web,db)", false, true, true),
            ("app notin (db)", true, true, true),
            ("app", true, false, true),
            ("!app", false, true, false),
            ("! app", false, true, false),
            ("app,tier=front", true, false, false),
            ("app=web,tier!=front", false, false, false),
            ("app=web,!tier", false, false, false),
            ("replicas>2", true, false, false),
            ("replicas>3", false, false, false),
            ("replicas<4", true, false, false),
            ("tier>2", false, false, false),
            // `in` and `notin` are values and keys where they stand as such.
            ("app in (in,notin)", false, false, false),
            ("in=web", false, false, false),
            ("example.com/team in (a)", false, false, false),
            ("  app  in(web)  ,tier  ", true, false, false),
        ];
        for (text, on_web, on_bare, on_empty) in cases {
            let selector =
                Selector::parse(text).unwrap_or_else(|e| panic!("{text:?} refused: {e}"));
            assert_eq!(
                (
                    selector.matches(&web),
                    selector.matches(&bare),
                    selector.matches(&empty_value)
                ),
                (*on_web, *on_bare, *on_empty),
                "{text:?}"
            );
        }
    }

    #[test]
    fn selectors_print_as_apimachinery_prints_them() {
        let cases = [
            ("", ""),
            ("tier=front,app=web", "app=web,tier=front"),
            (" app == web ", "app==web"),
            ("app!=web", "app!=web"),
            ("app in ( web , other, web )", "app in (other,web)"),
            ("app notin (b,a)", "app notin (a,b)"),
            ("!b,a", "a,!b"),
            ("x>1,y<2", "x>1,y<2"),
            ("app=", "app="),
            ("app in (a,)", "app in (,a)"),
            ("z=1,a=2,z=0", "a=2,z=1,z=0"),
        ];
        for (text, printed) in cases {
            let selector = Selector::parse(text).unwrap();
            assert_eq!(selector.to_string(), printed, "{text:?}");
            assert_eq!(
                Selector::parse(printed).unwrap(),
                selector,
                "{printed:?} reparses"
            );
        }
    }

    #[test]
    fn malformed_selectors_are_refused() {
        let cases = [
            ("app in", "'('"),
            ("app in (,,)", "expected: ',', or identifier"),
            ("app in (a,,)", "expected: ',', or identifier"),
            ("app in (a b)", "expected: ',' or ')'"),
            ("app in (a", "end of string"),
            ("app notin a", "'('"),
            ("app=web,", "after ','"),
            (",app", "identifier"),
            ("app=web tier=x", "expected: ',' or 'end of string'"),
            ("app web", "expected: in, notin"),
            ("=web", "identifier"),
            ("!", "identifier"),
            ("!app=web", "expected: ',' or 'end of string'"),
            ("app=(web)", "identifier"),
            ("app>x", "integer"),
            ("app<", "integer"),
            ("replicas<-1", "alphanumeric"),
            ("app=a b", "expected: ',' or 'end of string'"),
            ("app=-web", "alphanumeric"),
            ("app=w@b", "may contain only"),
            ("-app=web", "alphanumeric"),
            ("Example.com/app=web", "DNS-1123"),
            ("example.com/=web", "must not be empty"),
            ("a/b/c=web", "may contain only"),
            ("app.kubernetes.io/name=web", ""),
        ];
        for (text, message) in cases {
            let parsed = Selector::parse(text);
            if text == "app.kubernetes.io/name=web" {
                assert!(parsed.is_ok(), "{text:?}: {parsed:?}");
                continue;
            }
            let error = parsed.expect_err(text);
            assert!(error.contains(message), "{text:?}: {error}");
        }
        let long = "a".repeat(64);
        assert!(Selector::parse(&format!("{long}=x")).is_err());
        assert!(Selector::parse(&format!("x={long}")).is_err());
        assert!(Selector::parse(&format!("x={}", &long[1..])).is_ok());
        // A prefix is a DNS-1123 subdomain: 253 characters, its labels not limited to 63.
        assert!(Selector::parse(&format!("{long}{long}.example/x")).is_ok());
        assert!(Selector::parse(&format!("{}/x", "a".repeat(254))).is_err());
    }
}
