//! Request paths and query strings into typed requests.
//!
//! Paths are split and percent-decoded segment by segment (the aggregator sends `*` as `%2A`);
//! query strings are form-decoded (`+` is a space). Selectors are parsed here, so a malformed
//! one is a 400 before any work is done.

use std::borrow::Cow;

use super::discovery::{Apis, CUSTOM_GROUP, EXTERNAL_GROUP, RESOURCE_GROUP};
use super::status::ApiError;
use super::types::CustomVersion;
use crate::provider::{
    CustomRequest, ExternalRequest, NODE_FIELDS, NodeMetricsRequest, POD_FIELDS, PodMetricsRequest,
};
use crate::selector::{FieldSelector, Selector};

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A discovery document (`/apis`, `/apis/<g>`, `/apis/<g>/<v>`), by normalized path.
    Discovery(String),
    /// A custom metric.
    Custom(CustomVersion, CustomRequest),
    /// An external metric.
    External(ExternalRequest),
    /// Pod metrics; `true` for one named pod (a bare `PodMetrics` answer).
    Pods(PodMetricsRequest, bool),
    /// Node metrics; `true` for one named node.
    Nodes(NodeMetricsRequest, bool),
}

/// The query parameters the metrics APIs read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params {
    /// `labelSelector`
    pub label_selector: Option<String>,
    /// `metricLabelSelector`
    pub metric_label_selector: Option<String>,
    /// `fieldSelector`
    pub field_selector: Option<String>,
    /// `pretty=true`
    pub pretty: bool,
}

impl Params {
    /// Parse a query string; the first value of a repeated key wins, as Go's `Values.Get`.
    pub fn parse(query: Option<&str>) -> Params {
        let mut params = Params::default();
        for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let slot = match k.as_ref() {
                "labelSelector" => &mut params.label_selector,
                "metricLabelSelector" => &mut params.metric_label_selector,
                "fieldSelector" => &mut params.field_selector,
                "pretty" => {
                    params.pretty = v == "true" || v == "1";
                    continue;
                }
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(v.into_owned());
            }
        }
        params
    }
}

fn selector(text: Option<&str>, what: &str) -> Result<Selector, ApiError> {
    Selector::parse(text.unwrap_or_default())
        .map_err(|e| ApiError::BadRequest(format!("unable to parse {what}: {e}")))
}

/// A selector that becomes PromQL label matchers (`metricLabelSelector`, an external metric's
/// `labelSelector`): its keys must also be Prometheus label names, which Kubernetes keys such as
/// `app.kubernetes.io/name` are not.
fn metric_selector(text: Option<&str>, what: &str) -> Result<Selector, ApiError> {
    let selector = selector(text, what)?;
    if let Some(r) = selector
        .requirements()
        .iter()
        .find(|r| !crate::promql::is_label_name(r.key()))
    {
        return Err(ApiError::BadRequest(format!(
            "unable to use {what}: {:?} is not a Prometheus label name (letters, digits and '_', not starting with a digit)",
            r.key()
        )));
    }
    Ok(selector)
}

/// The object name a custom-metrics `fieldSelector` requires (`metadata.name=x`), if any; the
/// objects of these requests have no other field to select on.
fn field_name(field_selector: Option<&str>) -> Result<Option<String>, ApiError> {
    let selector = FieldSelector::parse(field_selector.unwrap_or_default(), &["metadata.name"])
        .map_err(ApiError::BadRequest)?;
    if selector.terms().iter().any(|t| t.negated) {
        return Err(ApiError::BadRequest(
            "fieldSelector: only metadata.name=<name> is supported here".into(),
        ));
    }
    Ok(selector.required("metadata.name").map(str::to_string))
}

/// A percent-decoded path segment; a segment that is not UTF-8 once decoded is refused rather
/// than guessed at.
fn decode(segment: &str) -> Result<Cow<'_, str>, ApiError> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "invalid request path: the segment {segment:?} is not UTF-8 once percent-decoded"
            ))
        })
}

/// Parse a path under `/apis`. `Err` carries the error answer (404 for unknown paths, 400 for
/// malformed requests).
pub fn parse(path: &str, params: &Params, apis: Apis) -> Result<Route, ApiError> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let segments: Vec<Cow<'_, str>> = trimmed
        .split('/')
        .skip(1)
        .map(decode)
        .collect::<Result<_, _>>()?;
    let segs: Vec<&str> = segments.iter().map(|s| s.as_ref()).collect();
    let served = |group: &str| match group {
        CUSTOM_GROUP => apis.custom,
        EXTERNAL_GROUP => apis.external,
        RESOURCE_GROUP => apis.resource,
        _ => false,
    };
    match segs.as_slice() {
        ["apis"] => Ok(Route::Discovery("/apis".into())),
        ["apis", group] if served(group) => Ok(Route::Discovery(format!("/apis/{group}"))),
        ["apis", group, version] if served(group) => {
            Ok(Route::Discovery(format!("/apis/{group}/{version}")))
        }
        ["apis", CUSTOM_GROUP, version, rest @ ..] if apis.custom => {
            let version = match *version {
                "v1beta1" => CustomVersion::V1Beta1,
                "v1beta2" => CustomVersion::V1Beta2,
                _ => return Err(ApiError::NoRoute),
            };
            custom(version, rest, params)
        }
        ["apis", EXTERNAL_GROUP, "v1beta1", "namespaces", ns, metric]
            if apis.external && !ns.is_empty() && !metric.is_empty() =>
        {
            Ok(Route::External(ExternalRequest {
                namespace: ns.to_string(),
                metric: metric.to_string(),
                selector: metric_selector(params.label_selector.as_deref(), "labelSelector")?,
            }))
        }
        ["apis", RESOURCE_GROUP, "v1beta1", rest @ ..] if apis.resource => resource(rest, params),
        _ => Err(ApiError::NoRoute),
    }
}

fn fields(params: &Params, supported: &[&str]) -> Result<FieldSelector, ApiError> {
    FieldSelector::parse(
        params.field_selector.as_deref().unwrap_or_default(),
        supported,
    )
    .map_err(ApiError::BadRequest)
}

fn resource(rest: &[&str], params: &Params) -> Result<Route, ApiError> {
    let label_selector = || selector(params.label_selector.as_deref(), "labelSelector");
    let pods = |namespace: Option<&str>, name: Option<&str>| -> Result<Route, ApiError> {
        Ok(Route::Pods(
            PodMetricsRequest {
                namespace: namespace.map(str::to_string),
                name: name.map(str::to_string),
                label_selector: label_selector()?,
                field_selector: fields(params, POD_FIELDS)?,
            },
            name.is_some(),
        ))
    };
    let nodes = |name: Option<&str>| -> Result<Route, ApiError> {
        Ok(Route::Nodes(
            NodeMetricsRequest {
                name: name.map(str::to_string),
                label_selector: label_selector()?,
                field_selector: fields(params, NODE_FIELDS)?,
            },
            name.is_some(),
        ))
    };
    match rest {
        ["pods"] => pods(None, None),
        ["namespaces", ns, "pods"] if !ns.is_empty() => pods(Some(ns), None),
        ["namespaces", ns, "pods", name] if !ns.is_empty() && !name.is_empty() => {
            pods(Some(ns), Some(name))
        }
        ["nodes"] => nodes(None),
        ["nodes", name] if !name.is_empty() => nodes(Some(name)),
        _ => Err(ApiError::NoRoute),
    }
}

fn custom(version: CustomVersion, rest: &[&str], params: &Params) -> Result<Route, ApiError> {
    let (namespace, resource, name, metric) = match rest {
        ["namespaces", ns, "metrics", metric] => (None, "namespaces", *ns, *metric),
        ["namespaces", ns, resource, name, metric] => (Some(*ns), *resource, *name, *metric),
        ["namespaces", _, _] => {
            return Err(ApiError::BadRequest("invalid request path".into()));
        }
        [resource, name, metric] => (None, *resource, *name, *metric),
        _ => return Err(ApiError::NoRoute),
    };
    if [resource, name, metric].iter().any(|s| s.is_empty()) || namespace.is_some_and(str::is_empty)
    {
        return Err(ApiError::NoRoute);
    }
    let by_field = field_name(params.field_selector.as_deref())?;
    let name = match (name, by_field) {
        ("*", Some(field)) => Some(field),
        ("*", None) => None,
        (name, Some(field)) if field != name => {
            return Err(ApiError::BadRequest(
                "fieldSelector metadata.name doesn't match requested name".into(),
            ));
        }
        (name, _) => Some(name.to_string()),
    };
    Ok(Route::Custom(
        version,
        CustomRequest {
            namespace: namespace.map(str::to_string),
            resource: resource.to_string(),
            name,
            metric: metric.to_string(),
            label_selector: selector(params.label_selector.as_deref(), "labelSelector")?,
            metric_selector: metric_selector(
                params.metric_label_selector.as_deref(),
                "metricLabelSelector",
            )?,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Apis = Apis {
        custom: true,
        external: true,
        resource: true,
    };

    fn route(path_and_query: &str) -> Result<Route, ApiError> {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        parse(path, &Params::parse(query), ALL)
    }

    fn custom(path_and_query: &str) -> (CustomVersion, CustomRequest) {
        match route(path_and_query) {
            Ok(Route::Custom(v, r)) => (v, r),
            other => panic!("{path_and_query}: {other:?}"),
        }
    }

    #[test]
    fn discovery_paths() {
        assert_eq!(route("/apis"), Ok(Route::Discovery("/apis".into())));
        assert_eq!(route("/apis/"), Ok(Route::Discovery("/apis".into())));
        assert_eq!(
            route("/apis/custom.metrics.k8s.io/v1beta2"),
            Ok(Route::Discovery(
                "/apis/custom.metrics.k8s.io/v1beta2".into()
            ))
        );
        let none = Apis::default();
        assert_eq!(
            parse(
                "/apis/custom.metrics.k8s.io/v1beta1",
                &Params::default(),
                none
            ),
            Err(ApiError::NoRoute)
        );
        assert_eq!(route("/apis/apps/v1"), Err(ApiError::NoRoute));
    }

    #[test]
    fn every_custom_route() {
        let (v, r) = custom(
            "/apis/custom.metrics.k8s.io/v1beta1/namespaces/default/pods/%2A/http_requests?labelSelector=app%3Dweb%2Ctier+in+%28a%2Cb%29",
        );
        assert_eq!(v, CustomVersion::V1Beta1);
        assert_eq!(r.namespace.as_deref(), Some("default"));
        assert_eq!(r.resource, "pods");
        assert_eq!(r.name, None);
        assert_eq!(r.metric, "http_requests");
        assert_eq!(r.label_selector.to_string(), "app=web,tier in (a,b)");

        let (v, r) = custom(
            "/apis/custom.metrics.k8s.io/v1beta2/namespaces/ns/deployments.apps/web/m?metricLabelSelector=verb%3DGET",
        );
        assert_eq!(v, CustomVersion::V1Beta2);
        assert_eq!(
            (r.resource.as_str(), r.name.as_deref()),
            ("deployments.apps", Some("web"))
        );
        assert_eq!(r.metric_selector.to_string(), "verb=GET");

        let (_, r) = custom("/apis/custom.metrics.k8s.io/v1beta1/nodes/node-1/m");
        assert_eq!(
            (r.namespace, r.resource.as_str(), r.name.as_deref()),
            (None, "nodes", Some("node-1"))
        );

        let (_, r) = custom("/apis/custom.metrics.k8s.io/v1beta1/nodes/*/m");
        assert_eq!(r.name, None);

        let (_, r) = custom("/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/metrics/m");
        assert_eq!(
            (r.namespace, r.resource.as_str(), r.name.as_deref()),
            (None, "namespaces", Some("prod"))
        );

        let (_, r) = custom(
            "/apis/custom.metrics.k8s.io/v1beta1/namespaces/*/metrics/m?labelSelector=team%3Dx",
        );
        assert_eq!(r.name, None);
        assert_eq!(r.label_selector.to_string(), "team=x");
    }

    #[test]
    fn field_selectors_agree_with_names() {
        let (_, r) = custom(
            "/apis/custom.metrics.k8s.io/v1beta1/namespaces/d/pods/%2A/m?fieldSelector=metadata.name%3Dp1",
        );
        assert_eq!(r.name.as_deref(), Some("p1"));
        let (_, r) = custom(
            "/apis/custom.metrics.k8s.io/v1beta1/namespaces/d/pods/p1/m?fieldSelector=metadata.name%3D%3Dp1",
        );
        assert_eq!(r.name.as_deref(), Some("p1"));
        assert_eq!(
            route(
                "/apis/custom.metrics.k8s.io/v1beta1/namespaces/d/pods/p1/m?fieldSelector=metadata.name%3Dp2"
            ),
            Err(ApiError::BadRequest(
                "fieldSelector metadata.name doesn't match requested name".into()
            ))
        );
        assert_eq!(
            route(
                "/apis/custom.metrics.k8s.io/v1beta1/namespaces/d/pods/p1/m?fieldSelector=spec.nodeName%3Dx"
            ),
            Err(ApiError::BadRequest(
                "field label not supported: spec.nodeName".into()
            ))
        );
        assert!(matches!(
            route(
                "/apis/custom.metrics.k8s.io/v1beta1/namespaces/d/pods/p1/m?fieldSelector=metadata.name!%3Dx"
            ),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn malformed_paths_and_selectors() {
        assert_eq!(
            route("/apis/custom.metrics.k8s.io/v1beta1/namespaces/default/http_requests"),
            Err(ApiError::BadRequest("invalid request path".into()))
        );
        for path in [
            "/apis/custom.metrics.k8s.io/v1beta1/namespaces/ns/pods/bar",
            "/apis/custom.metrics.k8s.io/v1beta1/nodes/foo",
            "/apis/custom.metrics.k8s.io/v1/pods/a/m",
            "/apis/custom.metrics.k8s.io/v1beta1/namespaces/ns/pods/a/m/extra",
            "/apis/custom.metrics.k8s.io/v1beta1/namespaces//pods/a/m",
            "/apis/custom.metrics.k8s.io/v1beta1/pods//m",
        ] {
            assert_eq!(route(path), Err(ApiError::NoRoute), "{path}");
        }
        let err =
            route("/apis/custom.metrics.k8s.io/v1beta1/namespaces/d/pods/*/m?labelSelector=%3D%3D")
                .unwrap_err();
        assert_eq!(
            err,
            ApiError::BadRequest("unable to parse labelSelector: found '==' at offset 0, expected: !, identifier, or 'end of string'".into())
        );
        assert!(matches!(
            route(
                "/apis/custom.metrics.k8s.io/v1beta1/namespaces/d/pods/*/m?metricLabelSelector=a%3E"
            ),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn paths_that_are_not_utf8_and_keys_prometheus_cannot_match_are_bad_requests() {
        let err =
            route("/apis/custom.metrics.k8s.io/v1beta1/namespaces/d/pods/a%FF%FE/m").unwrap_err();
        assert_eq!(
            err,
            ApiError::BadRequest(
                "invalid request path: the segment \"a%FF%FE\" is not UTF-8 once percent-decoded"
                    .into()
            )
        );
        for (path, key) in [
            (
                "/apis/custom.metrics.k8s.io/v1beta1/namespaces/d/pods/*/m?metricLabelSelector=app.kubernetes.io%2Fname%3Dweb",
                "app.kubernetes.io/name",
            ),
            (
                "/apis/external.metrics.k8s.io/v1beta1/namespaces/d/q?labelSelector=a-b%3Dc",
                "a-b",
            ),
        ] {
            match route(path) {
                Err(ApiError::BadRequest(message)) => {
                    assert!(
                        message.contains(&format!("{key:?} is not a Prometheus label name")),
                        "{message}"
                    )
                }
                other => panic!("{path}: {other:?}"),
            }
        }
        // Object selectors keep Kubernetes keys: they never reach Prometheus.
        let (_, request) = custom(
            "/apis/custom.metrics.k8s.io/v1beta1/namespaces/d/pods/*/m?labelSelector=app.kubernetes.io%2Fname%3Dweb",
        );
        assert_eq!(
            request.label_selector.to_string(),
            "app.kubernetes.io/name=web"
        );
    }

    #[test]
    fn external_and_resource_routes() {
        match route(
            "/apis/external.metrics.k8s.io/v1beta1/namespaces/work/redis_queue_depth?labelSelector=queue_name%3Dstt-queue",
        ) {
            Ok(Route::External(r)) => {
                assert_eq!(
                    (r.namespace.as_str(), r.metric.as_str()),
                    ("work", "redis_queue_depth")
                );
                assert_eq!(r.selector.to_string(), "queue_name=stt-queue");
            }
            other => panic!("{other:?}"),
        }
        for path in [
            "/apis/external.metrics.k8s.io/v1beta1/redis_queue_depth",
            "/apis/external.metrics.k8s.io/v1beta1/namespaces/work/redis_queue_depth/extra",
            "/apis/metrics.k8s.io/v1beta1/namespaces/d",
            "/apis/metrics.k8s.io/v1beta1/nodes/a/b",
        ] {
            assert_eq!(route(path), Err(ApiError::NoRoute), "{path}");
        }
        match route("/apis/metrics.k8s.io/v1beta1/namespaces/d/pods/p1") {
            Ok(Route::Pods(r, true)) => {
                assert_eq!(
                    (r.namespace.as_deref(), r.name.as_deref()),
                    (Some("d"), Some("p1"))
                )
            }
            other => panic!("{other:?}"),
        }
        match route(
            "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Dweb&fieldSelector=metadata.namespace%21%3Dkube-system",
        ) {
            Ok(Route::Pods(r, false)) => {
                assert_eq!(r.namespace, None);
                assert_eq!(r.field_selector.terms().len(), 1);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            route("/apis/metrics.k8s.io/v1beta1/nodes"),
            Ok(Route::Nodes(_, false))
        ));
        assert!(matches!(
            route("/apis/metrics.k8s.io/v1beta1/nodes/n1"),
            Ok(Route::Nodes(_, true))
        ));
        assert_eq!(
            route("/apis/metrics.k8s.io/v1beta1/nodes?fieldSelector=spec.unschedulable%3Dfalse"),
            Err(ApiError::BadRequest(
                "field label not supported: spec.unschedulable".into()
            ))
        );
    }

    #[test]
    fn params_take_the_first_value_and_pretty() {
        let p = Params::parse(Some(
            "labelSelector=a%3D1&labelSelector=b%3D2&pretty=true&x=y",
        ));
        assert_eq!(p.label_selector.as_deref(), Some("a=1"));
        assert!(p.pretty);
        assert_eq!(Params::parse(None), Params::default());
    }
}
