//! The request path and query string: `routes::parse` and `Params::parse`, as `api::handle`
//! calls them (the path and the query of the request target, split at the first `?`).
//!
//! Input: one byte choosing which API groups are served, then the request target.
//! Invariants: the query parameters survive a trip through the form encoding a client sends; a
//! route rebuilt as a canonical path (every segment percent-encoded) with re-encoded parameters
//! parses to the same route, so how a client encodes a name cannot change what it gets; the
//! selectors of a route print as text that parses back to them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metrics_adapter::api::discovery::Apis;
use metrics_adapter::api::routes::{self, Params, Route};
use metrics_adapter::api::types::CustomVersion;
use metrics_adapter::selector::Selector;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

fuzz_target!(|data: &[u8]| {
    let Some((&served, target)) = data.split_first() else {
        return;
    };
    let Ok(target) = std::str::from_utf8(target) else {
        return;
    };
    let apis = Apis {
        custom: served & 1 == 0,
        external: served & 2 == 0,
        resource: served & 4 == 0,
    };
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let params = Params::parse(query);
    let route = routes::parse(path, &params, apis);

    let encoded = encode_params(&params);
    let reparsed = Params::parse(Some(&encoded));
    assert_eq!(reparsed, params, "{encoded}");

    let Ok(route) = route else {
        return;
    };
    for selector in selectors(&route) {
        let text = selector.to_string();
        assert_eq!(Selector::parse(&text).as_ref(), Ok(selector), "{text}");
    }
    if let Some(canonical) = canonical_path(&route) {
        assert_eq!(
            routes::parse(&canonical, &reparsed, apis),
            Ok(route),
            "{canonical}?{encoded}"
        );
    }
});

fn encode_params(params: &Params) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in [
        ("labelSelector", &params.label_selector),
        ("metricLabelSelector", &params.metric_label_selector),
        ("fieldSelector", &params.field_selector),
    ] {
        if let Some(value) = value {
            out.append_pair(key, value);
        }
    }
    if params.pretty {
        out.append_pair("pretty", "true");
    }
    out.finish()
}

fn selectors(route: &Route) -> Vec<&Selector> {
    match route {
        Route::Discovery(_) => vec![],
        Route::Custom(_, r) => vec![&r.label_selector, &r.metric_selector],
        Route::External(r) => vec![&r.selector],
        Route::Pods(r, _) => vec![&r.label_selector],
        Route::Nodes(r, _) => vec![&r.label_selector],
    }
}

fn segment(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

/// The path a client would send for this route, every segment fully percent-encoded.
fn canonical_path(route: &Route) -> Option<String> {
    let path = match route {
        Route::Discovery(doc) => {
            assert!(doc.starts_with("/apis"), "{doc}");
            return None;
        }
        Route::Custom(version, r) => {
            let version = match version {
                CustomVersion::V1Beta1 => "v1beta1",
                CustomVersion::V1Beta2 => "v1beta2",
            };
            assert!(!r.resource.is_empty() && !r.metric.is_empty(), "{r:?}");
            let name = match r.name.as_deref() {
                None => "*",
                // `metadata.name=` with `*`: the empty name has no path of its own.
                Some("") => return None,
                Some(name) => name,
            };
            let base = format!("/apis/custom.metrics.k8s.io/{version}");
            match &r.namespace {
                None if r.resource == "namespaces" => format!(
                    "{base}/namespaces/{}/metrics/{}",
                    segment(name),
                    segment(&r.metric)
                ),
                None => format!(
                    "{base}/{}/{}/{}",
                    segment(&r.resource),
                    segment(name),
                    segment(&r.metric)
                ),
                Some(ns) => {
                    assert!(!ns.is_empty(), "{r:?}");
                    format!(
                        "{base}/namespaces/{}/{}/{}/{}",
                        segment(ns),
                        segment(&r.resource),
                        segment(name),
                        segment(&r.metric)
                    )
                }
            }
        }
        Route::External(r) => {
            assert!(!r.namespace.is_empty() && !r.metric.is_empty(), "{r:?}");
            format!(
                "/apis/external.metrics.k8s.io/v1beta1/namespaces/{}/{}",
                segment(&r.namespace),
                segment(&r.metric)
            )
        }
        Route::Pods(r, single) => {
            assert_eq!(*single, r.name.is_some());
            match (&r.namespace, &r.name) {
                (None, None) => "/apis/metrics.k8s.io/v1beta1/pods".to_string(),
                (Some(ns), None) => format!(
                    "/apis/metrics.k8s.io/v1beta1/namespaces/{}/pods",
                    segment(ns)
                ),
                (Some(ns), Some(name)) => format!(
                    "/apis/metrics.k8s.io/v1beta1/namespaces/{}/pods/{}",
                    segment(ns),
                    segment(name)
                ),
                (None, Some(_)) => panic!("a named pod without a namespace: {r:?}"),
            }
        }
        Route::Nodes(r, single) => {
            assert_eq!(*single, r.name.is_some());
            match &r.name {
                None => "/apis/metrics.k8s.io/v1beta1/nodes".to_string(),
                Some(name) => format!("/apis/metrics.k8s.io/v1beta1/nodes/{}", segment(name)),
            }
        }
    };
    Some(path)
}
