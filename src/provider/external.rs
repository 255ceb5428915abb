//! external.metrics.k8s.io: one query per request, one item per returned sample.

use super::{ExternalValue, Provider, ProviderError, sample_quantity, unavailable, unix_timestamp};
use crate::prometheus::QueryResult;
use crate::quantity::{self, Format};
use crate::selector::Selector;

/// An external metrics request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalRequest {
    /// The HPA's namespace (matched only by namespaced rules).
    pub namespace: String,
    /// The metric.
    pub metric: String,
    /// `labelSelector`: the metric's labels.
    pub selector: Selector,
}

impl Provider {
    /// Values of an external metric: every sample the rule's query returns, with all its labels
    /// (`{}` for a scalar); an empty result is an empty list.
    pub async fn external(
        &self,
        req: &ExternalRequest,
    ) -> Result<Vec<ExternalValue>, ProviderError> {
        let catalog = self.cluster.catalog();
        let registry = self.registry();
        let source = registry
            .external(&req.metric, &catalog)
            .await
            .map_err(|e| unavailable(&req.metric, e))?
            .ok_or_else(|| ProviderError::MetricNotFound {
                metric: req.metric.clone(),
                resource: "namespaces".into(),
            })?;
        let rules = registry.rules();
        let rule = rules
            .external
            .get(source.rule)
            .ok_or(ProviderError::FetchFailed)?;
        let query = rule
            .external_query(&catalog, &source.series, &req.namespace, &req.selector)
            .map_err(|e| {
                tracing::warn!(metric = %req.metric, rule = %rule.at, error = %e, "no query for this external metric request");
                ProviderError::FetchFailed
            })?;
        let result = self.vector(&query).await?;
        match &*result {
            QueryResult::Vector(samples) => Ok(samples
                .iter()
                .filter_map(|sample| {
                    Some(ExternalValue {
                        metric: req.metric.clone(),
                        labels: sample.labels.clone(),
                        timestamp: unix_timestamp(sample.timestamp),
                        value: sample_quantity(sample, Format::DecimalSI, &req.metric)?,
                    })
                })
                .collect()),
            QueryResult::Scalar { value, timestamp } => {
                match quantity::from_f64(*value, Format::DecimalSI) {
                    Ok(value) => Ok(vec![ExternalValue {
                        metric: req.metric.clone(),
                        labels: Default::default(),
                        timestamp: unix_timestamp(*timestamp),
                        value,
                    }]),
                    Err(e) => {
                        tracing::debug!(metric = %req.metric, error = %e, "scalar left out");
                        Ok(Vec::new())
                    }
                }
            }
            QueryResult::Other(kind) => {
                tracing::warn!(%query, result_type = %kind, "encountered an unexpected query result type");
                Err(ProviderError::FetchFailed)
            }
        }
    }
}
