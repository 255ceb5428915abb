//! Turning a rule and a request into PromQL: prometheus-adapter's `Build` and `BuildExternal`.
//!
//! `.LabelMatchers` is the metric selector's matchers (sorted by key), then the namespace, then
//! the resource (`="name"` for one object, `=~"a|b"` for several). Every value goes through
//! [`crate::promql`]'s quoting; names in alternations and in `.LabelValuesByName` are regex-escaped.

use std::collections::BTreeMap;

use super::naming::{NoLabelForResource, ResourceMapping};
use super::template::{QueryData, RenderError, Template};
use crate::promql::{self, LabelMatcher, MatchOp};
use crate::resources::{ResourceCatalog, ResourceInfo};
use crate::selector::{Selector, UnsupportedOperator};

/// Why no query could be built for a request. For custom metrics prometheus-adapter answers
/// these with 404, for external metrics with 500.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The rule has no `metricsQuery`.
    #[error("the rule has no metricsQuery")]
    NoTemplate,
    /// A selector operator PromQL cannot express.
    #[error(transparent)]
    Unsupported(#[from] UnsupportedOperator),
    /// The resource (or the namespace) has no label in this rule.
    #[error(transparent)]
    NoLabel(#[from] NoLabelForResource),
    /// The template failed to render.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The template rendered nothing.
    #[error("empty query produced by metrics query template")]
    Empty,
    /// A resource query without object names.
    #[error("no objects to query")]
    NoObjects,
}

/// A query for the values of some objects, and the label whose value names the object in each
/// returned sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectQuery {
    /// The PromQL.
    pub query: String,
    /// The label holding the object name in the result.
    pub resource_label: String,
}

/// What a custom (or resource) metrics request asks for.
#[derive(Debug, Clone, Copy)]
pub struct ObjectRequest<'a> {
    /// The series name (`.Series`).
    pub series: &'a str,
    /// The resource the objects are.
    pub resource: &'a ResourceInfo,
    /// The namespace, for namespaced objects.
    pub namespace: Option<&'a str>,
    /// The object names, in the order the query should list them.
    pub names: &'a [String],
    /// The metric label selector.
    pub metric_selector: &'a Selector,
    /// Labels grouped by after the resource label (the container label of resource rules).
    pub extra_group_by: &'a [String],
}

/// Matchers and `.LabelValuesByName` under construction, in prometheus-adapter's order.
#[derive(Default)]
struct Parts {
    matchers: Vec<LabelMatcher>,
    values: BTreeMap<String, String>,
}

impl Parts {
    fn from_selector(selector: &Selector) -> Result<Parts, QueryError> {
        let mut parts = Parts::default();
        for r in selector.requirements() {
            parts.matchers.push(r.to_matcher()?);
            // Exists and DoesNotExist have no values: the entry is empty, as upstream's.
            parts
                .values
                .insert(r.key().to_string(), promql::quoted_regex_body(r.values()));
        }
        Ok(parts)
    }

    fn namespace(&mut self, label: String, namespace: &str) {
        self.values
            .insert(label.clone(), promql::quoted_regex_body([namespace]));
        self.matchers
            .push(LabelMatcher::new(label, MatchOp::Equal, namespace));
    }

    fn render(
        self,
        template: &Template,
        series: &str,
        group_by: &[String],
    ) -> Result<String, QueryError> {
        let label_matchers = promql::join_matchers(&self.matchers);
        let joined = group_by.join(",");
        let query = template.render_query(&QueryData {
            series,
            label_matchers: &label_matchers,
            label_values_by_name: &self.values,
            group_by: &joined,
            group_by_slice: group_by,
        })?;
        if query.is_empty() {
            return Err(QueryError::Empty);
        }
        Ok(query)
    }
}

/// prometheus-adapter's `Build`: the query for the values of `request.names`.
pub fn object_query(
    template: &Template,
    mapping: &ResourceMapping,
    catalog: &ResourceCatalog,
    request: &ObjectRequest<'_>,
) -> Result<ObjectQuery, QueryError> {
    if request.names.is_empty() {
        return Err(QueryError::NoObjects);
    }
    let mut parts = Parts::from_selector(request.metric_selector)?;
    if let Some(ns) = request.namespace.filter(|ns| !ns.is_empty()) {
        parts.namespace(mapping.label_for(&ResourceInfo::namespaces(), catalog)?, ns);
    }
    let resource_label = mapping.label_for(request.resource, catalog)?;
    parts.values.insert(
        resource_label.clone(),
        promql::quoted_regex_body(request.names),
    );
    parts
        .matchers
        .push(LabelMatcher::any_of(resource_label.clone(), request.names));
    let mut group_by = Vec::with_capacity(1 + request.extra_group_by.len());
    group_by.push(resource_label.clone());
    group_by.extend(request.extra_group_by.iter().cloned());
    let query = parts.render(template, request.series, &group_by)?;
    Ok(ObjectQuery {
        query,
        resource_label,
    })
}

/// prometheus-adapter's `BuildExternal`: the selector's matchers and, when `namespace` is given,
/// the namespace matcher. `.GroupBy` is empty.
pub fn external_query(
    template: &Template,
    mapping: &ResourceMapping,
    catalog: &ResourceCatalog,
    series: &str,
    namespace: Option<&str>,
    selector: &Selector,
) -> Result<String, QueryError> {
    let mut parts = Parts::from_selector(selector)?;
    if let Some(ns) = namespace.filter(|ns| !ns.is_empty()) {
        parts.namespace(mapping.label_for(&ResourceInfo::namespaces(), catalog)?, ns);
    }
    parts.render(template, series, &[])
}

#[cfg(test)]
mod tests;
