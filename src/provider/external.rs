//! external.metrics.k8s.io: one query per request, one item per returned sample.

use super::trace::{Fates, record};
use super::{
    ExternalValue, Provider, ProviderError, QueryTrace, SampleFate, Tracer, not_a_vector,
    sample_quantity, unavailable, unix_timestamp,
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
/// value without labels), leaving out what no quantity can hold; with `fates`, also each sample
/// and what became of it. `None` for an answer that is not a vector or a scalar.
fn external_values(
    metric: &str,
    result: &QueryResult,
    fates: bool,
) -> Option<(Vec<ExternalValue>, Fates)> {
    let scalar;
    let samples: &[Sample] = match result {
        QueryResult::Vector(samples) => samples,
        QueryResult::Scalar { value, timestamp } => {
            scalar = [Sample {
                labels: Default::default(),
                value: *value,
                timestamp: *timestamp,
            }];
            &scalar
        }
        QueryResult::Other(_) => return None,
    };
    let mut values = Vec::with_capacity(samples.len());
    let mut traced = Vec::new();
    for sample in samples {
        let fate = match sample_quantity(sample, Format::DecimalSI, metric) {
            Some(value) => {
                values.push(ExternalValue {
                    metric: metric.to_string(),
                    labels: sample.labels.clone(),
                    timestamp: unix_timestamp(sample.timestamp),
                    value,
                });
                SampleFate::Kept
            }
            None => SampleFate::NotANumber,
        };
        if fates {
            traced.push((sample.clone(), fate));
        }
    }
    Some((values, traced))
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
        let Some((values, fates)) = external_values(&req.metric, &result, tracer.is_some()) else {
            tracing::warn!(%query, "encountered an unexpected query result type");
            traced.answer = Err(not_a_vector(&result));
            record(tracer, |t| t.queries.push(traced));
            return Err(ProviderError::FetchFailed);
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
            labels: [("queue".to_string(), queue.to_string())].into(),
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
        let (values, fates) = external_values("depth", &result, true).unwrap();
        assert_eq!(values.len(), 1);
        assert_eq!(values[0].labels["queue"], "a");
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
        let (values, fates) = external_values("depth", &scalar, true).unwrap();
        assert_eq!(
            (values[0].value.as_str(), values[0].labels.len()),
            ("2500m", 0)
        );
        assert_eq!(fates[0].1, SampleFate::Kept);
        assert!(external_values("depth", &QueryResult::Other("matrix".into()), true).is_none());
    }
}
