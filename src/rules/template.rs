//! The `<<…>>` template language of prometheus-adapter rules: the subset of Go's text/template
//! that rules files use, parsed once at load and rendered many times, byte-identical to Go.
//!
//! Supported actions: `<<.Field>>`, `<<.LabelValuesByName.key>>`, `<<index .Field "key">>` (or an
//! integer index into `.GroupBySlice`), comments `<</* … */>>`, and the trim markers `<<- ` and
//! ` ->>`. Anything else Go would accept (`if`, `range`, pipelines, functions) is refused at load
//! with its position, rather than rendered differently from Go at request time.

use std::collections::BTreeMap;
use std::fmt;

/// Which data a template is rendered with, and therefore which fields it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateKind {
    /// `metricsQuery`, `containerQuery`, `nodeQuery`: `.Series`, `.LabelMatchers`,
    /// `.LabelValuesByName`, `.GroupBy`, `.GroupBySlice`.
    Query,
    /// `resources.template`: `.Group`, `.Resource`.
    Label,
}

/// A field of the template data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The series name.
    Series,
    /// The label matchers joined by `,`.
    LabelMatchers,
    /// Map from label name to its values joined by `|`.
    LabelValuesByName,
    /// The group-by labels joined by `,`.
    GroupBy,
    /// The group-by labels as a list.
    GroupBySlice,
    /// The API group with `.` and `-` replaced by `_`.
    Group,
    /// The singular resource name.
    Resource,
}

impl Field {
    fn from_name(name: &str, kind: TemplateKind) -> Option<Field> {
        let field = match name {
            "Series" => Field::Series,
            "LabelMatchers" => Field::LabelMatchers,
            "LabelValuesByName" => Field::LabelValuesByName,
            "GroupBy" => Field::GroupBy,
            "GroupBySlice" => Field::GroupBySlice,
            "Group" => Field::Group,
            "Resource" => Field::Resource,
            _ => return None,
        };
        let allowed = match kind {
            TemplateKind::Query => !matches!(field, Field::Group | Field::Resource),
            TemplateKind::Label => matches!(field, Field::Group | Field::Resource),
        };
        allowed.then_some(field)
    }

    fn names(kind: TemplateKind) -> &'static str {
        match kind {
            TemplateKind::Query => {
                ".Series, .LabelMatchers, .LabelValuesByName, .GroupBy, .GroupBySlice"
            }
            TemplateKind::Label => ".Group, .Resource",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field),
    /// `.LabelValuesByName.key`: `<no value>` when the key is missing, as Go prints it.
    MapField(String),
    /// `index .LabelValuesByName "key"`: empty when the key is missing.
    MapIndex(String),
    /// `index .GroupBySlice n`: a render error when out of range, as in Go.
    SliceIndex(usize),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    pieces: Vec<Piece>,
}

/// Why a template was refused at load: a position in the template text (1-based) and a reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template line {line}, column {column}: {message}")]
pub struct TemplateError {
    /// 1-based line within the template.
    pub line: usize,
    /// 1-based column (in characters) within the line.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Why rendering failed (an index out of range, as Go's `index` fails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("error calling index: index out of range: {0}")]
pub struct RenderError(pub usize);

/// The data of a query template.
#[derive(Debug, Clone, Copy)]
pub struct QueryData<'a> {
    /// `.Series`
    pub series: &'a str,
    /// `.LabelMatchers`
    pub label_matchers: &'a str,
    /// `.LabelValuesByName`
    pub label_values_by_name: &'a BTreeMap<String, String>,
    /// `.GroupBy`
    pub group_by: &'a str,
    /// `.GroupBySlice`
    pub group_by_slice: &'a [String],
}

/// The data of a label template.
#[derive(Debug, Clone, Copy)]
pub struct LabelData<'a> {
    /// `.Group`, already with `.` and `-` turned into `_`.
    pub group: &'a str,
    /// `.Resource`, singular.
    pub resource: &'a str,
}

enum Data<'a> {
    Query(&'a QueryData<'a>),
    Label(&'a LabelData<'a>),
}

const OPEN: &str = "<<";
const CLOSE: &str = ">>";
/// Go's "no value" for a missing map key reached with field syntax.
const NO_VALUE: &str = "<no value>";

impl Template {
    /// Parse a template of the given kind.
    pub fn parse(source: &str, kind: TemplateKind) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut rest = source;
        let mut trim_next_text = false;
        loop {
            let (text, after) = match rest.split_once(OPEN) {
                Some((text, after)) => (text, Some(after)),
                None => (rest, None),
            };
            let mut text = text;
            if trim_next_text {
                text = text.trim_start_matches(is_space);
            }
            let Some(after) = after else {
                push_text(&mut pieces, text);
                break;
            };
            let offset = source.len() - after.len();
            let (left_trim, body_start) = match after.strip_prefix('-') {
                Some(b) if b.starts_with(is_space) => (true, b),
                _ => (false, after),
            };
            if left_trim {
                text = text.trim_end_matches(is_space);
            }
            push_text(&mut pieces, text);
            let unclosed = || error_at(source, offset - OPEN.len(), "unclosed action: missing >>");
            let close = find_close(body_start).ok_or_else(unclosed)?;
            let (inner, closing) = body_start.split_at_checked(close).ok_or_else(unclosed)?;
            let (inner, right_trim) = match inner.strip_suffix('-') {
                Some(b) if b.ends_with(is_space) => (b, true),
                _ => (inner, false),
            };
            let inner_offset = source.len() - body_start.len();
            if let Some(piece) = parse_action(source, inner, inner_offset, kind)? {
                pieces.push(piece);
            }
            trim_next_text = right_trim;
            rest = closing.strip_prefix(CLOSE).ok_or_else(unclosed)?;
        }
        Ok(Template {
            source: source.to_string(),
            pieces,
        })
    }

    /// The template text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the template uses `field` anywhere.
    pub fn uses(&self, field: Field) -> bool {
        self.pieces.iter().any(|p| match p {
            Piece::Field(f) => *f == field,
            Piece::MapField(_) | Piece::MapIndex(_) => field == Field::LabelValuesByName,
            Piece::SliceIndex(_) => field == Field::GroupBySlice,
            Piece::Text(_) => false,
        })
    }

    /// Whether the template renders to nothing whatever the data (empty or only comments).
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Render a query template. One allocation: the length is measured before writing.
    pub fn render_query(&self, data: &QueryData<'_>) -> Result<String, RenderError> {
        self.render(&Data::Query(data))
    }

    /// Render a label template.
    pub fn render_label(&self, data: &LabelData<'_>) -> String {
        // Label templates have no index pieces, so rendering cannot fail; an empty string is
        // what Go would print for fields a label template cannot have.
        self.render(&Data::Label(data)).unwrap_or_default()
    }

    fn render(&self, data: &Data<'_>) -> Result<String, RenderError> {
        let mut length = Length(0);
        self.write(&mut length, data)?;
        let mut out = String::with_capacity(length.0);
        self.write(&mut out, data)?;
        Ok(out)
    }

    fn write<W: fmt::Write>(&self, out: &mut W, data: &Data<'_>) -> Result<(), RenderError> {
        for piece in &self.pieces {
            if let (Piece::SliceIndex(i), Data::Query(q)) = (piece, data)
                && *i >= q.group_by_slice.len()
            {
                return Err(RenderError(*i));
            }
            // Writing to a String or a Length cannot fail.
            let _ = write_piece(out, piece, data);
        }
        Ok(())
    }
}

fn write_piece<W: fmt::Write>(out: &mut W, piece: &Piece, data: &Data<'_>) -> fmt::Result {
    match (piece, data) {
        (Piece::Text(t), _) => out.write_str(t),
        (Piece::Field(f), Data::Query(q)) => match f {
            Field::Series => out.write_str(q.series),
            Field::LabelMatchers => out.write_str(q.label_matchers),
            Field::GroupBy => out.write_str(q.group_by),
            Field::GroupBySlice => write_go_list(out, q.group_by_slice),
            Field::LabelValuesByName => write_go_map(out, q.label_values_by_name),
            Field::Group | Field::Resource => Ok(()),
        },
        (Piece::Field(f), Data::Label(l)) => match f {
            Field::Group => out.write_str(l.group),
            Field::Resource => out.write_str(l.resource),
            _ => Ok(()),
        },
        (Piece::MapField(k), Data::Query(q)) => out.write_str(
            q.label_values_by_name
                .get(k)
                .map_or(NO_VALUE, String::as_str),
        ),
        (Piece::MapIndex(k), Data::Query(q)) => {
            out.write_str(q.label_values_by_name.get(k).map_or("", String::as_str))
        }
        (Piece::SliceIndex(i), Data::Query(q)) => {
            out.write_str(q.group_by_slice.get(*i).map_or("", String::as_str))
        }
        (_, Data::Label(_)) => Ok(()),
    }
}

/// Go's `%v` of a `[]string`: `[a b c]`.
fn write_go_list<W: fmt::Write>(out: &mut W, items: &[String]) -> fmt::Result {
    out.write_char('[')?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.write_char(' ')?;
        }
        out.write_str(item)?;
    }
    out.write_char(']')
}

/// Go's `%v` of a `map[string]string`: `map[k1:v1 k2:v2]`, keys sorted.
fn write_go_map<W: fmt::Write>(out: &mut W, map: &BTreeMap<String, String>) -> fmt::Result {
    out.write_str("map[")?;
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.write_char(' ')?;
        }
        write!(out, "{k}:{v}")?;
    }
    out.write_char(']')
}

/// A `fmt::Write` that only counts bytes.
struct Length(usize);

impl fmt::Write for Length {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn push_text(pieces: &mut Vec<Piece>, text: &str) {
    if !text.is_empty() {
        pieces.push(Piece::Text(text.to_string()));
    }
}

/// The offset of the `>>` closing an action, skipping over quoted strings and comments.
fn find_close(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let at = |i: usize| bytes.get(i).copied();
    let mut i = 0;
    while let Some(byte) = at(i) {
        match byte {
            b'"' => {
                i += 1;
                while at(i).is_some_and(|b| b != b'"') {
                    if at(i) == Some(b'\\') {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while at(i).is_some_and(|b| b != b'`') {
                    i += 1;
                }
            }
            b'/' if at(i + 1) == Some(b'*') => {
                let end = body.get(i + 2..)?.find("*/")?;
                i += 2 + end + 1;
            }
            b'>' if bytes.get(i + 1) == Some(&b'>') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn error_at(source: &str, offset: usize, message: impl Into<String>) -> TemplateError {
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    TemplateError {
        line,
        column,
        message: message.into(),
    }
}

/// Parse the inside of one action. `None` for a comment.
fn parse_action(
    source: &str,
    inner: &str,
    offset: usize,
    kind: TemplateKind,
) -> Result<Option<Piece>, TemplateError> {
    let lead = inner.len() - inner.trim_start_matches(is_space).len();
    let body = inner.trim_matches(is_space);
    let at = |message: String| error_at(source, offset + lead, message);
    if let Some(comment) = body.strip_prefix("/*") {
        return if comment.ends_with("*/") {
            Ok(None)
        } else {
            Err(at("comment ends before the action closes".into()))
        };
    }
    if body.is_empty() {
        return Err(at("missing value for command".into()));
    }
    let words = split_words(body).map_err(&at)?;
    match words.as_slice() {
        [single] => {
            let (field, key) = parse_field_ref(single, kind).map_err(&at)?;
            match key {
                None => Ok(Some(Piece::Field(field))),
                Some(key) if field == Field::LabelValuesByName => Ok(Some(Piece::MapField(key))),
                Some(_) => Err(at(format!(
                    "{single}: only .LabelValuesByName has fields (it is a map of label values)"
                ))),
            }
        }
        ["index", target, key] => {
            let (field, sub) = parse_field_ref(target, kind).map_err(&at)?;
            if sub.is_some() {
                return Err(at(format!(
                    "index of {target}: index a field, not a map value"
                )));
            }
            match field {
                Field::LabelValuesByName => parse_string_literal(key)
                    .map(|k| Some(Piece::MapIndex(k)))
                    .ok_or_else(|| {
                        at(format!(
                            "index .LabelValuesByName takes a quoted label name, not {key}"
                        ))
                    }),
                Field::GroupBySlice => key
                    .parse::<usize>()
                    .map(|i| Some(Piece::SliceIndex(i)))
                    .map_err(|_| at(format!("index .GroupBySlice takes a number, not {key}"))),
                _ => Err(at(format!(
                    "index {target}: only .LabelValuesByName and .GroupBySlice can be indexed"
                ))),
            }
        }
        ["index", ..] => Err(at(
            "index takes a field and one key: <<index .LabelValuesByName \"label\">>".into(),
        )),
        [first, ..] => Err(at(format!(
            "unsupported template action {body:?}: rules templates support <<.Field>>, \
             <<.LabelValuesByName.label>> and <<index .Field key>> ({first} is not one of them)"
        ))),
        [] => Err(at("missing value for command".into())),
    }
}

/// Split an action into words, keeping quoted strings whole.
fn split_words(body: &str) -> Result<Vec<&str>, String> {
    let mut words = Vec::new();
    let mut rest = body.trim_start_matches(is_space);
    while !rest.is_empty() {
        let end = match rest.as_bytes().first() {
            Some(b'"') => closing_quote(rest).ok_or("unterminated quoted string")?,
            Some(b'`') => rest
                .get(1..)
                .and_then(|r| r.find('`'))
                .map(|i| i + 2)
                .ok_or("unterminated raw string")?,
            _ => rest.find(is_space).unwrap_or(rest.len()),
        };
        let (word, after) = rest.split_at_checked(end).ok_or("malformed action")?;
        words.push(word);
        rest = after.trim_start_matches(is_space);
    }
    Ok(words)
}

fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i + 1),
            '\n' => return None,
            _ => {}
        }
    }
    None
}

/// `.Field` or `.Field.key`.
fn parse_field_ref(word: &str, kind: TemplateKind) -> Result<(Field, Option<String>), String> {
    let Some(path) = word.strip_prefix('.') else {
        return Err(format!(
            "unsupported template action {word:?}: expected a field ({})",
            Field::names(kind)
        ));
    };
    let mut parts = path.split('.');
    let name = parts.next().unwrap_or_default();
    let field = Field::from_name(name, kind).ok_or_else(|| {
        format!(
            "can't evaluate field {name:?}: this template has {}",
            Field::names(kind)
        )
    })?;
    let key = parts.next().map(str::to_string);
    if parts.next().is_some() {
        return Err(format!("{word}: a label value has no fields"));
    }
    if let Some(k) = &key
        && (k.is_empty() || !k.chars().all(|c| c.is_alphanumeric() || c == '_'))
    {
        return Err(format!("{word}: bad field name {k:?}"));
    }
    Ok((field, key))
}

/// A Go string literal, `"…"` with escapes or `` `…` `` raw.
fn parse_string_literal(word: &str) -> Option<String> {
    if let Some(raw) = word.strip_prefix('`').and_then(|w| w.strip_suffix('`')) {
        return Some(raw.to_string());
    }
    let inner = word.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let decoded = match chars.next()? {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'v' => '\u{b}',
            c @ ('\\' | '"' | '\'') => c,
            'x' => hex_char(&mut chars, 2)?,
            'u' => hex_char(&mut chars, 4)?,
            'U' => hex_char(&mut chars, 8)?,
            _ => return None,
        };
        out.push(decoded);
    }
    Some(out)
}

fn hex_char(chars: &mut std::str::Chars<'_>, digits: usize) -> Option<char> {
    let hex: String = chars.by_ref().take(digits).collect();
    if hex.len() != digits {
        return None;
    }
    char::from_u32(u32::from_str_radix(&hex, 16).ok()?)
}

#[cfg(test)]
mod tests;
