//! custom.metrics.k8s.io: prometheus-adapter's `GetMetricByName` and `GetMetricBySelector`.

use std::collections::HashMap;

use super::trace::record;
use super::{
    MetricValue, ObjectReference, Provider, ProviderError, QueryTrace, SampleFate, Tracer,
    list_failed, not_a_vector, sample_quantity, unavailable,
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
/// left out, and samples no quantity can hold (NaN, ±Inf) are left out. With `fates`, what
/// became of each sample, in the samples' order.
fn values_in_order(
    names: &[String],
    samples: &[Sample],
    resource_label: &str,
    metric: &str,
    mut fates: Option<&mut Vec<SampleFate>>,
) -> Vec<(String, String)> {
    if let Some(f) = fates.as_deref_mut() {
        // Whatever no asked-for name claims below names an object that was not asked for.
        *f = vec![SampleFate::NotAsked; samples.len()];
    }
    let mut set = |i: usize, fate: SampleFate| {
        if let Some(slot) = fates.as_deref_mut().and_then(|f| f.get_mut(i)) {
            *slot = fate;
        }
    };
    let mut by_name: HashMap<&str, (usize, String)> = HashMap::with_capacity(samples.len());
    for (i, sample) in samples.iter().enumerate() {
        let Some(name) = sample.labels.get(resource_label) else {
            set(i, SampleFate::NoResourceLabel);
            continue;
        };
        match sample_quantity(sample, Format::DecimalSI, metric) {
            Some(value) => {
                if let Some((earlier, _)) = by_name.insert(name, (i, value)) {
                    set(earlier, SampleFate::Replaced);
                }
            }
            None => set(i, SampleFate::NotANumber),
        }
    }
    names
        .iter()
        .filter_map(|name| {
            let (i, value) = by_name.remove(name.as_str())?;
            set(i, SampleFate::Kept);
            Some((name.clone(), value))
        })
        .collect()
}

impl Provider {
    /// Values of a custom metric: one item for a named object (404 when it has none), one per
    /// object with a value, in name order, for `*`.
    pub async fn custom(&self, req: &CustomRequest) -> Result<Vec<MetricValue>, ProviderError> {
        self.custom_with(req, None).await
    }

    /// [`Provider::custom`], recording every step into `tracer`.
    pub async fn custom_traced(
        &self,
        req: &CustomRequest,
        tracer: &Tracer,
    ) -> Result<Vec<MetricValue>, ProviderError> {
        self.custom_with(req, Some(tracer)).await
    }

    async fn custom_with(
        &self,
        req: &CustomRequest,
        tracer: Option<&Tracer>,
    ) -> Result<Vec<MetricValue>, ProviderError> {
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
        record(tracer, |t| t.resource = Some(info.clone()));
        let catalog = self.cluster.catalog();
        let key = MetricKey {
            resource: info.group_resource(),
            namespaced: req.namespace.is_some(),
            metric: req.metric.clone(),
        };
        let registry = self.registry();
        let source = match registry.custom(&key, &catalog).await {
            Ok(source) => source.ok_or_else(not_found)?,
            Err(e) => {
                record(tracer, |t| t.unavailable = true);
                return Err(unavailable(&req.metric, e));
            }
        };
        record(tracer, |t| t.source = Some(source.clone()));
        let names: Vec<String> = match &req.name {
            Some(name) => vec![name.clone()],
            None => {
                let listed = self
                    .cluster
                    .list(&info, req.namespace.as_deref(), &req.label_selector, None)
                    .await;
                let objects = listed.map_err(|e| {
                    record(tracer, |t| t.list_error = Some(e.to_string()));
                    list_failed(&key.resource.to_string(), e)
                })?;
                objects.iter().map(|o| o.name.clone()).collect()
            }
        };
        record(tracer, |t| t.objects = Some(names.clone()));
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
            record(tracer, |t| t.query_error = Some(e.to_string()));
            not_found()
        })?;
        // What the trace records of the query; built only when tracing.
        let traced = |answer| QueryTrace {
            resource: "",
            namespace: None,
            query: query.query.clone(),
            resource_label: Some(query.resource_label.clone()),
            answer,
        };
        let result = match self.vector(&query.query).await {
            Ok(result) => result,
            Err(e) => {
                record(tracer, |t| t.queries.push(traced(Err(e))));
                return Err(ProviderError::FetchFailed);
            }
        };
        let QueryResult::Vector(samples) = &*result else {
            tracing::warn!(query = %query.query, "prometheus answered a non-vector result");
            record(tracer, |t| {
                t.queries.push(traced(Err(not_a_vector(&result))))
            });
            return Err(ProviderError::FetchFailed);
        };
        let mut fates = tracer.map(|_| Vec::new());
        let in_order = values_in_order(
            &names,
            samples,
            &query.resource_label,
            &req.metric,
            fates.as_mut(),
        );
        if let Some(fates) = fates {
            let answer = Ok(samples.iter().cloned().zip(fates).collect());
            record(tracer, |t| t.queries.push(traced(answer)));
        }
        let timestamp = jiff::Timestamp::now();
        let selector = req.metric_selector.to_label_selector();
        let namespace = if info.namespaced {
            req.namespace.clone()
        } else {
            None
        };
        let api_version = info.api_version();
        let values: Vec<MetricValue> = in_order
            .into_iter()
            .map(|(name, value)| MetricValue {
                described_object: ObjectReference {
                    kind: info.kind.clone(),
                    namespace: namespace.clone(),
                    name,
                    api_version: api_version.clone(),
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
