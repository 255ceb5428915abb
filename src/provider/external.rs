//! external.metrics.k8s.io: one query per request, one item per returned sample.

use std::sync::Arc;

use super::trace::{Fates, record};
use super::{
    ExternalValue, Provider, ProviderError, QueryTrace, SampleFate, Tracer, sample_quantity,
    unavailable, unix_timestamp,
};
use crate::prometheus::{QueryResult, Sample};
use crate::quantity::Format;
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

/// The values of an external metric's answer: every sample with all its labels (a scalar as one
/// value without labels), leaving out what no quantity can hold; with `trace`, also each sample
/// and what became of it. The answer's labels move into the values (a big answer is not held
/// twice). `Err` with the answer's type when it is not a vector or a scalar.
fn external_values(
    metric: &str,
    result: QueryResult,
    trace: bool,
) -> Result<(Vec<ExternalValue>, Fates), String> {
    let samples = match result {
        QueryResult::Vector(samples) => samples,
        QueryResult::Scalar { value, timestamp } => vec![Sample {
            labels: Default::default(),
            value,
            timestamp,
        }],
        QueryResult::Other(kind) => return Err(kind),
    };
    let mut values = Vec::with_capacity(samples.len());
    let mut traced = Vec::new();
    for sample in samples {
        let value = sample_quantity(&sample, Format::DecimalSI, metric);
        if trace {
            let fate = match value {
                Some(_) => SampleFate::Kept,
                None => SampleFate::NotANumber,
            };
            traced.push((sample.clone(), fate));
        }
        if let Some(value) = value {
            values.push(ExternalValue {
                metric: metric.to_string(),
                labels: sample.labels,
                timestamp: unix_timestamp(sample.timestamp),
                value,
            });
        }
    }
    Ok((values, traced))
}

impl Provider {
    /// Values of an external metric: every sample the rule's query returns, with all its labels
    /// (`{}` for a scalar); an empty result is an empty list.
    pub async fn external(
        &self,
        req: &ExternalRequest,
    ) -> Result<Vec<ExternalValue>, ProviderError> {
        self.external_with(req, None).await
    }

    /// [`Provider::external`], recording every step into `tracer`.
    pub async fn external_traced(
        &self,
        req: &ExternalRequest,
        tracer: &Tracer,
    ) -> Result<Vec<ExternalValue>, ProviderError> {
        self.external_with(req, Some(tracer)).await
    }

    async fn external_with(
        &self,
        req: &ExternalRequest,
        tracer: Option<&Tracer>,
    ) -> Result<Vec<ExternalValue>, ProviderError> {
        let catalog = self.cluster.catalog();
        let registry = self.registry();
        let source = match registry.external(&req.metric, &catalog).await {
            Ok(source) => source.ok_or_else(|| ProviderError::MetricNotFound {
                metric: req.metric.clone(),
                resource: "namespaces".into(),
            })?,
            Err(e) => {
                record(tracer, |t| t.unavailable = true);
                return Err(unavailable(&req.metric, e));
            }
        };
        record(tracer, |t| t.source = Some(source.clone()));
        let rules = registry.rules();
        let rule = rules
            .external
            .get(source.rule)
            .ok_or(ProviderError::FetchFailed)?;
        let query = rule
            .external_query(&catalog, &source.series, &req.namespace, &req.selector)
            .map_err(|e| {
                tracing::warn!(metric = %req.metric, rule = %rule.at, error = %e, "no query for this external metric request");
                record(tracer, |t| t.query_error = Some(e.to_string()));
                ProviderError::FetchFailed
            })?;
        let mut traced = QueryTrace {
            resource: "",
            namespace: None,
            query: query.clone(),
            resource_label: None,
            answer: Ok(Vec::new()),
        };
        let result = match self.vector(&query).await {
            Ok(result) => result,
            Err(e) => {
                traced.answer = Err(e);
                record(tracer, |t| t.queries.push(traced));
                return Err(ProviderError::FetchFailed);
            }
        };
        // The answer is usually this request's alone: its labels move into the values instead
        // of being copied (a big answer would otherwise be held twice).
        let result = Arc::try_unwrap(result).unwrap_or_else(|shared| (*shared).clone());
        let (values, fates) = match external_values(&req.metric, result, tracer.is_some()) {
            Ok(answer) => answer,
            Err(kind) => {
                tracing::warn!(%query, result_type = %kind, "encountered an unexpected query result type");
                traced.answer = Err(format!(
                    "Prometheus answered a {kind}, not an instant vector"
                ));
                record(tracer, |t| t.queries.push(traced));
                return Err(ProviderError::FetchFailed);
            }
        };
        traced.answer = Ok(fates);
        record(tracer, |t| t.queries.push(traced));
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(queue: &str, value: f64) -> Sample {
        Sample {
            labels: [("queue", queue)].into_iter().collect(),
            value,
            timestamp: 1_700_000_000.0,
        }
    }

    #[test]
    fn every_sample_is_a_value_except_what_no_quantity_holds() {
        let result = QueryResult::Vector(vec![
            sample("a", 12.0),
            sample("b", f64::NAN),
            sample("c", f64::NEG_INFINITY),
        ]);
        let (values, fates) = external_values("depth", result, true).unwrap();
        assert_eq!(values.len(), 1);
        assert_eq!(values[0].labels.get("queue"), Some("a"));
        assert_eq!(values[0].value, "12");
        let fates: Vec<SampleFate> = fates.iter().map(|(_, f)| *f).collect();
        assert_eq!(
            fates,
            [
                SampleFate::Kept,
                SampleFate::NotANumber,
                SampleFate::NotANumber
            ]
        );
        let scalar = QueryResult::Scalar {
            value: 2.5,
            timestamp: 1_700_000_000.0,
        };
        let (values, fates) = external_values("depth", scalar, true).unwrap();
        assert_eq!(
            (values[0].value.as_str(), values[0].labels.is_empty()),
            ("2500m", true)
        );
        assert_eq!(fates[0].1, SampleFate::Kept);
        // Without a trace, the same values and no copies.
        let (values, fates) =
            external_values("depth", QueryResult::Vector(vec![sample("a", 1.0)]), false).unwrap();
        assert_eq!((values.len(), fates.len()), (1, 0));
        assert_eq!(
            external_values("depth", QueryResult::Other("matrix".into()), true),
            Err("matrix".to_string())
        );
    }
}
