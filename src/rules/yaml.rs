//! A YAML document as a tree of nodes that remember their line and column.
//!
//! The rules file is read through this tree rather than straight into serde types so that every
//! error can name the line, the rule and the field, duplicated keys are caught (YAML parsers
//! usually keep the last one silently), and all errors of a file are reported at once.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Aliases can make a small file expand into a huge tree ("billion laughs"); a rules file never
/// needs more nodes than this.
const MAX_NODES: usize = 1_000_000;

/// Deeper nesting than this is refused before it can exhaust the stack.
const MAX_DEPTH: usize = 256;

/// A node and where it starts in the file (1-based line and column).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The content.
    pub value: Value,
    /// 1-based line of the node's first character.
    pub line: usize,
    /// 1-based column of the node's first character.
    pub column: usize,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar and whether it was written plain (unquoted, not a block scalar), which decides
    /// whether `null`, `true` or `5` are typed values or strings.
    Scalar {
        /// The scalar's text after unescaping and folding.
        text: String,
        /// Written without quotes or block indicators.
        plain: bool,
    },
    /// A sequence.
    Sequence(Vec<Node>),
    /// A mapping, in file order, duplicates kept so the reader can report them.
    Mapping(Vec<(Node, Node)>),
}

impl Node {
    /// Whether this is a null scalar (`~`, `null`, or nothing), as YAML 1.1 and yaml.v2 read it.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// What kind of node this is, for error messages.
    pub fn describe(&self) -> &'static str {
        match &self.value {
            _ if self.is_null() => "null",
            Value::Scalar { .. } => "a scalar",
            Value::Sequence(_) => "a list",
            Value::Mapping(_) => "a mapping",
        }
    }
}

/// A YAML syntax error, with its 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What the parser expected.
    pub message: String,
}

/// Parse a single-document YAML text. `None` for an empty document.
pub fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| SyntaxError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_string(),
        })?;
        builder.event(event, span)?;
    }
    Ok(builder.root)
}

enum Open {
    Sequence(Node, usize),
    Mapping(Node, usize, Option<Node>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    documents: usize,
    nodes: usize,
}

fn position(span: &Span) -> (usize, usize) {
    (span.start.line(), span.start.col() + 1)
}

fn count(node: &Node) -> usize {
    match &node.value {
        Value::Scalar { .. } => 1,
        Value::Sequence(items) => 1 + items.iter().map(count).sum::<usize>(),
        Value::Mapping(pairs) => {
            1 + pairs
                .iter()
                .map(|(k, v)| count(k) + count(v))
                .sum::<usize>()
        }
    }
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), SyntaxError> {
        let (line, column) = position(&span);
        let error = |message: &str| SyntaxError {
            line,
            column,
            message: message.to_string(),
        };
        match &event {
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..) => {
                self.add_nodes(1, line, column)?
            }
            _ => {}
        }
        if matches!(event, Event::SequenceStart(..) | Event::MappingStart(..))
            && self.stack.len() >= MAX_DEPTH
        {
            return Err(error(&format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(error(
                        "a rules file holds one YAML document; found a second one",
                    ));
                }
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let node = Node {
                    value: Value::Scalar {
                        text: text.into_owned(),
                        plain: style == ScalarStyle::Plain,
                    },
                    line,
                    column,
                };
                self.complete(node, anchor)?;
            }
            Event::SequenceStart(anchor, _) => {
                let node = Node {
                    value: Value::Sequence(Vec::new()),
                    line,
                    column,
                };
                self.stack.push(Open::Sequence(node, anchor));
            }
            Event::MappingStart(anchor, _) => {
                let node = Node {
                    value: Value::Mapping(Vec::new()),
                    line,
                    column,
                };
                self.stack.push(Open::Mapping(node, anchor, None));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Open::Sequence(node, anchor)) | Some(Open::Mapping(node, anchor, _)) => {
                        (node, anchor)
                    }
                    None => return Err(error("unbalanced collection end")),
                };
                self.complete(node, anchor)?;
            }
            Event::Alias(id) => {
                let node = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| error("alias to an unknown anchor"))?;
                self.add_nodes(count(&node), line, column)?;
                self.complete(node, 0)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    fn add_nodes(&mut self, n: usize, line: usize, column: usize) -> Result<(), SyntaxError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(SyntaxError {
                line,
                column,
                message: format!("document expands to more than {MAX_NODES} nodes"),
            });
        }
        Ok(())
    }

    fn complete(&mut self, node: Node, anchor: usize) -> Result<(), SyntaxError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Sequence(seq, _)) => {
                if let Value::Sequence(items) = &mut seq.value {
                    items.push(node);
                }
            }
            Some(Open::Mapping(map, _, pending_key)) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => {
                    if let Value::Mapping(pairs) = &mut map.value {
                        pairs.push((key, node));
                    }
                }
            },
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(node: &Node) -> &str {
        match &node.value {
            Value::Scalar { text, .. } => text,
            other => panic!("not a scalar: {other:?}"),
        }
    }

    #[test]
    fn positions_are_one_based() {
        let root = parse("a: 1\nb:\n  - x\n  - 'y'\n").unwrap().unwrap();
        let Value::Mapping(pairs) = &root.value else {
            panic!()
        };
        assert_eq!((pairs[0].0.line, pairs[0].0.column), (1, 1));
        assert_eq!((pairs[0].1.line, pairs[0].1.column), (1, 4));
        let Value::Sequence(items) = &pairs[1].1.value else {
            panic!()
        };
        assert_eq!((items[1].line, items[1].column), (4, 5));
        assert_eq!(scalar(&items[1]), "y");
        assert_eq!(
            items[1].value,
            Value::Scalar {
                text: "y".into(),
                plain: false
            }
        );
    }

    #[test]
    fn duplicates_are_kept_for_the_reader() {
        let root = parse("a: 1\na: 2\n").unwrap().unwrap();
        let Value::Mapping(pairs) = &root.value else {
            panic!()
        };
        assert_eq!(pairs.len(), 2);
    }

    #[test]
    fn anchors_and_aliases_expand() {
        let root = parse("a: &x {k: v}\nb: *x\n").unwrap().unwrap();
        let Value::Mapping(pairs) = &root.value else {
            panic!()
        };
        assert_eq!(pairs[0].1.value, pairs[1].1.value);
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("more than"), "{err:?}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let err = parse(&text).unwrap_err();
        assert!(
            err.message.contains("nesting") || err.message.contains("recursion limit"),
            "{err:?}"
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = parse("a: 1\nb: \"x\"y\"\n").unwrap_err();
        assert_eq!(err.line, 2, "{err:?}");
        let err = parse("a: [1, 2\n").unwrap_err();
        assert!(err.line >= 1, "{err:?}");
    }

    #[test]
    fn empty_documents_and_second_documents() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# only a comment\n").unwrap(), None);
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn nulls() {
        for text in ["a:", "a: ~", "a: null", "a: NULL"] {
            let root = parse(text).unwrap().unwrap();
            let Value::Mapping(pairs) = &root.value else {
                panic!()
            };
            assert!(pairs[0].1.is_null(), "{text}");
        }
        let root = parse("a: 'null'").unwrap().unwrap();
        let Value::Mapping(pairs) = &root.value else {
            panic!()
        };
        assert!(!pairs[0].1.is_null());
    }
}
