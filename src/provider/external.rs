//! external.metrics.k8s.io: one query per request, one item per returned sample.

use super::{ExternalValue, Provider, ProviderError, sample_quantity, unavailable, unix_timestamp};
use std::sync::Arc;

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
        // The answer is usually this request's alone: its labels move into the values instead
        // of being copied (a big answer would otherwise be held twice).
        let result =
            Arc::try_unwrap(self.vector(&query).await?).unwrap_or_else(|shared| (*shared).clone());
        match result {
            QueryResult::Vector(samples) => Ok(samples
                .into_iter()
                .filter_map(|sample| {
                    let value = sample_quantity(&sample, Format::DecimalSI, &req.metric)?;
                    Some(ExternalValue {
                        metric: req.metric.clone(),
                        labels: sample.labels,
                        timestamp: unix_timestamp(sample.timestamp),
                        value,
                    })
                })
                .collect()),
            QueryResult::Scalar { value, timestamp } => {
                match quantity::from_f64(value, Format::DecimalSI) {
                    Ok(value) => Ok(vec![ExternalValue {
                        metric: req.metric.clone(),
                        labels: Default::default(),
                        timestamp: unix_timestamp(timestamp),
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
