//! custom.metrics.k8s.io: prometheus-adapter's `GetMetricByName` and `GetMetricBySelector`.

use std::collections::HashMap;

use super::{
    MetricValue, ObjectReference, Provider, ProviderError, list_failed, sample_quantity,
    unavailable,
};
use crate::prometheus::{QueryResult, Sample};
use crate::quantity::Format;
use crate::registry::MetricKey;
use crate::resources::GroupResource;
use crate::rules::query::ObjectRequest;
use crate::selector::Selector;

/// A custom metrics request, version-independent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomRequest {
    /// The namespace of the objects; `None` for cluster-scoped requests.
    pub namespace: Option<String>,
    /// The resource as requested (`pods`, `pod`, `deployments.apps`); messages use it verbatim.
    pub resource: String,
    /// One object, or `None` for `*`.
    pub name: Option<String>,
    /// The metric.
    pub metric: String,
    /// `labelSelector`: which objects, for `*`.
    pub label_selector: Selector,
    /// `metricLabelSelector`: which series.
    pub metric_selector: Selector,
}

/// The value of each of `names` (in that order) that some sample carries in `resource_label`,
/// as prometheus-adapter maps them: the last sample of a name wins, names without a sample are
/// left out, and samples no quantity can hold (NaN, ±Inf) are left out.
fn values_in_order(
    names: &[String],
    samples: &[Sample],
    resource_label: &str,
    metric: &str,
) -> Vec<(String, String)> {
    let mut by_name: HashMap<&str, String> = HashMap::with_capacity(samples.len());
    for sample in samples {
        let Some(name) = sample.labels.get(resource_label) else {
            continue;
        };
        if let Some(value) = sample_quantity(sample, Format::DecimalSI, metric) {
            by_name.insert(name, value);
        }
    }
    names
        .iter()
        .filter_map(|name| Some((name.clone(), by_name.remove(name.as_str())?)))
        .collect()
}

impl Provider {
    /// Values of a custom metric: one item for a named object (404 when it has none), one per
    /// object with a value, in name order, for `*`.
    pub async fn custom(&self, req: &CustomRequest) -> Result<Vec<MetricValue>, ProviderError> {
        let not_found = || ProviderError::MetricNotFound {
            metric: req.metric.clone(),
            resource: req.resource.clone(),
        };
        let requested = GroupResource::parse(&req.resource);
        let info = self
            .cluster
            .resolve(&requested)
            .await
            .ok_or_else(not_found)?;
        let catalog = self.cluster.catalog();
        let key = MetricKey {
            resource: info.group_resource(),
            namespaced: req.namespace.is_some(),
            metric: req.metric.clone(),
        };
        let registry = self.registry();
        let source = registry
            .custom(&key, &catalog)
            .await
            .map_err(|e| unavailable(&req.metric, e))?
            .ok_or_else(not_found)?;
        let names: Vec<String> = match &req.name {
            Some(name) => vec![name.clone()],
            None => {
                let objects = self
                    .cluster
                    .list(&info, req.namespace.as_deref(), &req.label_selector, None)
                    .await
                    .map_err(|e| list_failed(&key.resource.to_string(), e))?;
                objects.iter().map(|o| o.name.clone()).collect()
            }
        };
        if names.is_empty() {
            return Err(not_found());
        }
        let rules = registry.rules();
        let Some(rule) = rules.custom.get(source.rule) else {
            return Err(not_found());
        };
        let request = ObjectRequest {
            series: &source.series,
            resource: &info,
            namespace: req.namespace.as_deref(),
            names: &names,
            metric_selector: &req.metric_selector,
            extra_group_by: &[],
        };
        let query = rule.object_query(&catalog, &request).map_err(|e| {
            tracing::info!(metric = %req.metric, rule = %rule.at, error = %e, "no query for this request");
            not_found()
        })?;
        let result = self.vector(&query.query).await?;
        let QueryResult::Vector(samples) = &*result else {
            tracing::warn!(query = %query.query, "prometheus answered a non-vector result");
            return Err(ProviderError::FetchFailed);
        };
        let timestamp = jiff::Timestamp::now();
        let selector = req.metric_selector.to_label_selector();
        let namespace = if info.namespaced {
            req.namespace.clone()
        } else {
            None
        };
        let values: Vec<MetricValue> =
            values_in_order(&names, samples, &query.resource_label, &req.metric)
                .into_iter()
                .map(|(name, value)| MetricValue {
                    described_object: ObjectReference {
                        kind: info.kind.clone(),
                        namespace: namespace.clone(),
                        name,
                        api_version: info.api_version(),
                    },
                    metric: req.metric.clone(),
                    timestamp,
                    value,
                    selector: selector.clone(),
                })
                .collect();
        if let (Some(name), true) = (&req.name, values.is_empty()) {
            return Err(ProviderError::NoValueFor {
                metric: req.metric.clone(),
                resource: req.resource.clone(),
                name: name.clone(),
            });
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests;
