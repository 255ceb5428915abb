//! What kind of request a path is, cheaply and without decoding: for the request metrics (whose
//! labels must have few values: only known groups and versions, a route word) and the request
//! log (which also names the resource and the metric, as sent).

use super::discovery::{CUSTOM_GROUP, EXTERNAL_GROUP, RESOURCE_GROUP};

/// A request's class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestClass<'a> {
    /// A metrics API group, or `""`.
    pub group: &'static str,
    /// `v1beta1`, `v1beta2`, or `""`.
    pub version: &'static str,
    /// `discovery`, `object`, `selector`, `namespace`, `external`, `pods`, `pod`, `nodes`,
    /// `node`, `health`, `metrics`, `explain`, `version`, `other`.
    pub route: &'static str,
    /// The resource asked about (`pods`, `deployments.apps`, `namespaces`), as sent; `""`
    /// when none.
    pub resource: &'a str,
    /// The metric asked for, as sent; `""` when none.
    pub metric: &'a str,
}

impl<'a> RequestClass<'a> {
    fn new(route: &'static str) -> RequestClass<'a> {
        RequestClass {
            group: "",
            version: "",
            route,
            resource: "",
            metric: "",
        }
    }

    fn api(
        group: &'static str,
        version: &'static str,
        route: &'static str,
        resource: &'a str,
        metric: &'a str,
    ) -> RequestClass<'a> {
        RequestClass {
            group,
            version,
            route,
            resource,
            metric,
        }
    }
}

fn known_group(group: &str) -> Option<&'static str> {
    [CUSTOM_GROUP, EXTERNAL_GROUP, RESOURCE_GROUP]
        .into_iter()
        .find(|g| *g == group)
}

fn known_version(version: &str) -> Option<&'static str> {
    ["v1beta1", "v1beta2"].into_iter().find(|v| *v == version)
}

fn custom_route(name: &str) -> &'static str {
    if name == "*" || name == "%2A" || name == "%2a" {
        "selector"
    } else {
        "object"
    }
}

/// The class of a request for `path`.
pub fn classify(path: &str) -> RequestClass<'_> {
    if super::is_health_path(path) {
        return RequestClass::new("health");
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let segments: Vec<&str> = trimmed.split('/').skip(1).collect();
    let (group, version, rest) = match segments.as_slice() {
        ["metrics"] => return RequestClass::new("metrics"),
        ["debug", "explain"] => return RequestClass::new("explain"),
        ["version"] => return RequestClass::new("version"),
        ["apis"] => return RequestClass::new("discovery"),
        ["apis", group] => {
            return match known_group(group) {
                Some(g) => RequestClass::api(g, "", "discovery", "", ""),
                None => RequestClass::new("other"),
            };
        }
        ["apis", group, version, rest @ ..] => match (known_group(group), known_version(version)) {
            (Some(g), Some(v)) => (g, v, rest),
            _ => return RequestClass::new("other"),
        },
        _ => return RequestClass::new("other"),
    };
    let api = |route, resource, metric| RequestClass::api(group, version, route, resource, metric);
    match (group, rest) {
        (_, []) => api("discovery", "", ""),
        (CUSTOM_GROUP, ["namespaces", _, "metrics", metric]) => {
            api("namespace", "namespaces", metric)
        }
        (CUSTOM_GROUP, ["namespaces", _, resource, name, metric])
        | (CUSTOM_GROUP, [resource, name, metric]) => api(custom_route(name), resource, metric),
        (EXTERNAL_GROUP, ["namespaces", _, metric]) => api("external", "", metric),
        (RESOURCE_GROUP, ["pods"] | ["namespaces", _, "pods"]) => api("pods", "pods", ""),
        (RESOURCE_GROUP, ["namespaces", _, "pods", _]) => api("pod", "pods", ""),
        (RESOURCE_GROUP, ["nodes"]) => api("nodes", "nodes", ""),
        (RESOURCE_GROUP, ["nodes", _]) => api("node", "nodes", ""),
        _ => RequestClass::new("other"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_a_class_with_bounded_labels() {
        let class = |p| {
            let c = classify(p);
            (c.group, c.version, c.route, c.resource, c.metric)
        };
        let custom = "custom.metrics.k8s.io";
        assert_eq!(
            class(
                "/apis/custom.metrics.k8s.io/v1beta2/namespaces/speech/pods/%2A/asr_active_requests"
            ),
            (custom, "v1beta2", "selector", "pods", "asr_active_requests")
        );
        assert_eq!(
            class(
                "/apis/custom.metrics.k8s.io/v1beta1/namespaces/seldon/models.mlops.seldon.io/irisa0/infer_rps"
            ),
            (
                custom,
                "v1beta1",
                "object",
                "models.mlops.seldon.io",
                "infer_rps"
            )
        );
        assert_eq!(
            class("/apis/custom.metrics.k8s.io/v1beta1/namespaces/seldon/metrics/infer_rps"),
            (custom, "v1beta1", "namespace", "namespaces", "infer_rps")
        );
        assert_eq!(
            class("/apis/custom.metrics.k8s.io/v1beta1/nodes/n1/load"),
            (custom, "v1beta1", "object", "nodes", "load")
        );
        assert_eq!(
            class("/apis/external.metrics.k8s.io/v1beta1/namespaces/media/redis_queue_depth"),
            (
                "external.metrics.k8s.io",
                "v1beta1",
                "external",
                "",
                "redis_queue_depth"
            )
        );
        assert_eq!(class("/apis/metrics.k8s.io/v1beta1/pods").2, "pods");
        assert_eq!(
            class("/apis/metrics.k8s.io/v1beta1/namespaces/a/pods/p").2,
            "pod"
        );
        assert_eq!(class("/apis/metrics.k8s.io/v1beta1/nodes/").2, "nodes");
        assert_eq!(class("/apis/metrics.k8s.io/v1beta1/nodes/n").2, "node");
        assert_eq!(class("/apis/custom.metrics.k8s.io/v1beta2").2, "discovery");
        assert_eq!(class("/apis/custom.metrics.k8s.io").2, "discovery");
        assert_eq!(class("/apis").2, "discovery");
        for (path, route) in [
            ("/healthz", "health"),
            ("/readyz/ping", "health"),
            ("/metrics", "metrics"),
            ("/debug/explain", "explain"),
            ("/version", "version"),
        ] {
            assert_eq!(class(path), ("", "", route, "", ""), "{path}");
        }
        // Unknown groups and versions never become label values.
        for path in [
            "/apis/evil.example/v1/x",
            "/apis/custom.metrics.k8s.io/v9/namespaces/a/pods/b/c",
            "/apis/custom.metrics.k8s.io/v1beta1/a/b/c/d/e/f/g",
            "/../../etc/passwd",
        ] {
            assert_eq!(class(path), ("", "", "other", "", ""), "{path}");
        }
    }
}
