//! Naming: which series a rule keeps, what API name each gets, and how resources map to labels.
//!
//! Series filters and `name.matches` are unanchored RE2-style regexes, and `name.as` expands
//! exactly as Go's `Regexp.ExpandString` (`$1_x` names a group `1_x`, `$01` a group named `01`).
//! Unlike prometheus-adapter, a label template is reverse-mapped by rendering it for every
//! resource the cluster serves, so labels of core resources (`kubernetes__pod`) and of groups with
//! dots or dashes are found too, and the template's literal text is matched literally.

use std::collections::HashMap;

use regex::Regex;
use unicode_general_category::{GeneralCategory, get_general_category};

use super::template::{LabelData, Template};
use crate::resources::{GroupResource, ResourceCatalog, ResourceInfo};

/// A compiled `is` or `isNot` series filter.
#[derive(Debug, Clone)]
pub struct SeriesFilter {
    regex: Regex,
    keep_matching: bool,
}

impl SeriesFilter {
    /// `is: pattern`: keep names the pattern finds a match in.
    pub fn is(pattern: &str) -> Result<SeriesFilter, regex::Error> {
        Ok(SeriesFilter {
            regex: Regex::new(pattern)?,
            keep_matching: true,
        })
    }

    /// `isNot: pattern`: keep names the pattern finds no match in.
    pub fn is_not(pattern: &str) -> Result<SeriesFilter, regex::Error> {
        Ok(SeriesFilter {
            regex: Regex::new(pattern)?,
            keep_matching: false,
        })
    }

    /// Whether a series name passes.
    pub fn keeps(&self, series: &str) -> bool {
        self.regex.is_match(series) == self.keep_matching
    }

    /// `is ^x$` or `isNot ^x$`, for `check`.
    pub fn describe(&self) -> String {
        let verb = if self.keep_matching { "is" } else { "isNot" };
        format!("{verb} {}", self.regex.as_str())
    }
}

/// Why a naming rule cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamingError {
    /// `name.matches` does not compile.
    #[error("unable to compile series filter {0:?}: {1}")]
    BadRegex(String, String),
    /// Two or more capture groups and no `as`.
    #[error("must specify an 'as' value for name matcher {0:?} (it has {1} capture groups)")]
    AmbiguousCaptures(String, usize),
}

/// A regex error on one line: the `regex` crate's message without its caret diagram.
pub fn regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    match text.lines().last().and_then(|l| l.strip_prefix("error: ")) {
        Some(message) => message.to_string(),
        _ => text.lines().collect::<Vec<_>>().join(" "),
    }
}

/// `name.matches` + `name.as` and the rule's series filters: series name in, API name out.
#[derive(Debug, Clone)]
pub struct MetricNamer {
    matches: Regex,
    /// Whether `matches` was given (it then also filters).
    explicit: bool,
    as_template: String,
    filters: Vec<SeriesFilter>,
}

impl MetricNamer {
    /// Build a namer. `matches` empty means `.*`; `as` empty means `$0` for a regex without
    /// capture groups and `$1` for one with a single group.
    pub fn new(
        matches: &str,
        as_template: &str,
        filters: Vec<SeriesFilter>,
    ) -> Result<MetricNamer, NamingError> {
        let explicit = !matches.is_empty();
        let pattern = if explicit { matches } else { ".*" };
        let regex = Regex::new(pattern)
            .map_err(|e| NamingError::BadRegex(pattern.to_string(), regex_error(&e)))?;
        let groups = regex.captures_len() - 1;
        let as_template = match (as_template, groups) {
            ("", 0) => "$0".to_string(),
            ("", 1) => "$1".to_string(),
            ("", n) => return Err(NamingError::AmbiguousCaptures(pattern.to_string(), n)),
            (t, _) => t.to_string(),
        };
        Ok(MetricNamer {
            matches: regex,
            explicit,
            as_template,
            filters,
        })
    }

    /// Whether the series passes every filter, the implicit `matches` filter included.
    pub fn keeps(&self, series: &str) -> bool {
        self.filters.iter().all(|f| f.keeps(series))
            && (!self.explicit || self.matches.is_match(series))
    }

    /// The API metric name of a series, or `None` if the rule does not keep it.
    pub fn metric_name(&self, series: &str) -> Option<String> {
        if !self.keeps(series) {
            return None;
        }
        let captures = self.matches.captures(series)?;
        Some(go_expand(&self.as_template, &self.matches, &captures))
    }

    /// The name when it does not depend on the series (`as` without `$`).
    pub fn constant_name(&self) -> Option<&str> {
        (!self.as_template.contains('$')).then_some(self.as_template.as_str())
    }

    /// The name pattern for `check`: `"${1}_per_second" from ^(.*)_total`.
    pub fn describe(&self) -> String {
        if !self.explicit && self.as_template == "$0" {
            return "the series name".to_string();
        }
        match self.constant_name() {
            Some(name) => name.to_string(),
            None => format!(
                "{:?} from series matching {}",
                self.as_template,
                self.matches.as_str()
            ),
        }
    }

    /// The explicit series filters, for `check`.
    pub fn filters(&self) -> &[SeriesFilter] {
        &self.filters
    }
}

/// Go's `Regexp.ExpandString`.
fn go_expand(template: &str, regex: &Regex, captures: &regex::Captures<'_>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some((before, after)) = rest.split_once('$') {
        out.push_str(before);
        rest = after;
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let Some((name, after)) = extract_reference(rest) else {
            // Malformed reference: the `$` is kept as text.
            out.push('$');
            continue;
        };
        rest = after;
        let group = match group_number(name) {
            Some(n) => captures.get(n),
            None => regex
                .capture_names()
                .position(|n| n == Some(name))
                .and_then(|i| captures.get(i)),
        };
        if let Some(m) = group {
            out.push_str(m.as_str());
        }
    }
    out.push_str(rest);
    out
}

/// The group references of an `as` template, as Go's `Regexp.Expand` reads them (`$1`, `${1}`,
/// `$name`, `${name}`; `$$` is a literal dollar and a malformed reference is text), for `check`'s
/// lint of unused capture groups.
pub fn as_references(template: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = template;
    while let Some((_, after)) = rest.split_once('$') {
        rest = after;
        if let Some(after) = rest.strip_prefix('$') {
            rest = after;
        } else if let Some((name, after)) = extract_reference(rest) {
            found.push(name);
            rest = after;
        }
    }
    found
}

/// The name after a `$`: `{name}` or the longest run of letters, digits and `_` (Unicode letters
/// and decimal digits, as Go's `unicode.IsLetter`/`IsDigit`), and the text after it.
fn extract_reference(text: &str) -> Option<(&str, &str)> {
    let (braced, body) = match text.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, text),
    };
    let end = body
        .char_indices()
        .find(|&(_, c)| !is_name_char(c))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let (name, after) = body.split_at_checked(end)?;
    if braced {
        return after.strip_prefix('}').map(|a| (name, a));
    }
    Some((name, after))
}

fn is_name_char(c: char) -> bool {
    if c == '_' {
        return true;
    }
    use GeneralCategory as G;
    matches!(
        get_general_category(c),
        G::UppercaseLetter
            | G::LowercaseLetter
            | G::TitlecaseLetter
            | G::ModifierLetter
            | G::OtherLetter
            | G::DecimalNumber
    )
}

/// Go's rule: all ASCII digits, no leading zero, below 1e8; otherwise it is a group name.
pub fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    name.parse::<usize>().ok().filter(|&n| n < 100_000_000)
}

/// A label that no rule can map: no override names the resource and there is no template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unable to convert resource {0} into label: no generic resource label form specified for this metric"
)]
pub struct NoLabelForResource(pub GroupResource);

/// `resources.overrides` and `resources.template` of a rule.
#[derive(Debug, Clone, Default)]
pub struct ResourceMapping {
    /// label -> group-resource as written, sorted by label.
    overrides: Vec<(String, GroupResource)>,
    template: Option<Template>,
}

/// Labels of a rule mapped to resources for one catalog: overrides first, then every label the
/// template renders for a resource of the catalog (singular or plural, any case).
#[derive(Debug, Clone, Default)]
pub struct LabelIndex {
    by_label: HashMap<String, ResourceInfo>,
}

impl LabelIndex {
    /// The resource a label names, if any.
    pub fn resource_for(&self, label: &str) -> Option<&ResourceInfo> {
        self.by_label
            .get(label)
            .or_else(|| self.by_label.get(&label.to_ascii_lowercase()))
    }

    /// Every resource some label maps to.
    pub fn resources(&self) -> impl Iterator<Item = &ResourceInfo> {
        self.by_label.values()
    }
}

impl ResourceMapping {
    /// A mapping from overrides (label, group-resource as written) and an optional template.
    pub fn new(mut overrides: Vec<(String, GroupResource)>, template: Option<Template>) -> Self {
        overrides.sort_by(|a, b| a.0.cmp(&b.0));
        ResourceMapping {
            overrides,
            template,
        }
    }

    /// The overrides, sorted by label.
    pub fn overrides(&self) -> &[(String, GroupResource)] {
        &self.overrides
    }

    /// The label template.
    pub fn template(&self) -> Option<&Template> {
        self.template.as_ref()
    }

    /// The label holding names of `resource`: an override naming it (the first label in sorted
    /// order if several do), else the template rendered with the group (`.` and `-` as `_`) and
    /// the singular name.
    pub fn label_for(
        &self,
        resource: &ResourceInfo,
        catalog: &ResourceCatalog,
    ) -> Result<String, NoLabelForResource> {
        let wanted = resource.group_resource();
        for (label, gr) in &self.overrides {
            if catalog.resolve(gr).map(ResourceInfo::group_resource) == Some(wanted.clone()) {
                return Ok(label.clone());
            }
        }
        match &self.template {
            Some(t) => Ok(render_label(t, resource, &resource.singular)),
            None => Err(NoLabelForResource(wanted)),
        }
    }

    /// The overrides whose resource the catalog does not know (a CRD not installed yet).
    pub fn unresolved_overrides<'a>(
        &'a self,
        catalog: &'a ResourceCatalog,
    ) -> impl Iterator<Item = &'a (String, GroupResource)> {
        self.overrides
            .iter()
            .filter(|(_, gr)| catalog.resolve(gr).is_none())
    }

    /// Index every label this mapping can name for `catalog`.
    pub fn label_index(&self, catalog: &ResourceCatalog) -> LabelIndex {
        let mut by_label = HashMap::new();
        for (label, gr) in &self.overrides {
            if let Some(info) = catalog.resolve(gr) {
                by_label
                    .entry(label.clone())
                    .or_insert_with(|| info.clone());
            }
        }
        if let Some(t) = &self.template {
            for info in catalog.iter() {
                for name in [&info.singular, &info.plural] {
                    let label = render_label(t, info, name).to_ascii_lowercase();
                    by_label.entry(label).or_insert_with(|| info.clone());
                }
            }
        }
        LabelIndex { by_label }
    }
}

fn render_label(template: &Template, resource: &ResourceInfo, name: &str) -> String {
    let group = resource.group.replace(['.', '-'], "_");
    template.render_label(&LabelData {
        group: &group,
        resource: name,
    })
}

#[cfg(test)]
mod tests;
