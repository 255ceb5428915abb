//! Discovery documents, computed when the registry changes and served from memory: the
//! discovery path never waits on Prometheus or Kubernetes.
//!
//! An API group is installed only when the rules file has rules for it, as in
//! prometheus-adapter. Unlike prometheus-adapter, `/apis/custom.metrics.k8s.io` lists both
//! served versions (v1beta2 preferred), and entries are sorted so the documents are stable.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;

use super::types::{ApiGroup, ApiGroupList, ApiResource, ApiResourceList, GroupVersion};
use crate::registry::Snapshot;

/// Which metrics APIs are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Apis {
    /// custom.metrics.k8s.io (`rules`).
    pub custom: bool,
    /// external.metrics.k8s.io (`externalRules`).
    pub external: bool,
    /// metrics.k8s.io (`resourceRules`).
    pub resource: bool,
}

/// The custom metrics group.
pub const CUSTOM_GROUP: &str = "custom.metrics.k8s.io";
/// The external metrics group.
pub const EXTERNAL_GROUP: &str = "external.metrics.k8s.io";
/// The resource metrics group.
pub const RESOURCE_GROUP: &str = "metrics.k8s.io";

/// Which APIs are served and their documents, swapped together.
struct Documents {
    apis: Apis,
    by_path: HashMap<String, Document>,
}

/// A discovery document, and a gzipped copy when it is large enough to be worth one (with
/// 10,000 metrics the JSON is over 1 MiB and gzips to about 30 KiB; Go clients, client-go
/// included, ask for gzip by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The JSON.
    pub json: Bytes,
    /// The same, gzipped.
    pub gzip: Option<Bytes>,
}

/// Documents smaller than this are not worth compressing.
const GZIP_FROM: usize = 4096;

impl Document {
    fn new(json: Bytes) -> Document {
        let gzip = (json.len() >= GZIP_FROM)
            .then(|| {
                let mut encoder =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                std::io::Write::write_all(&mut encoder, &json).ok()?;
                encoder.finish().ok().map(Bytes::from)
            })
            .flatten();
        Document { json, gzip }
    }
}

/// Pre-encoded discovery documents by path. Cheap to clone.
#[derive(Clone)]
pub struct Discovery {
    documents: Arc<ArcSwap<Documents>>,
}

fn gv(group: &str, version: &str) -> GroupVersion {
    GroupVersion {
        group_version: format!("{group}/{version}"),
        version: version.to_string(),
    }
}

fn group(name: &str, versions: &[&str]) -> ApiGroup {
    ApiGroup {
        kind: None,
        api_version: None,
        name: name.to_string(),
        versions: versions.iter().map(|v| gv(name, v)).collect(),
        preferred_version: gv(name, versions.first().copied().unwrap_or_default()),
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

fn resource_list(group_version: String, resources: Vec<ApiResource>) -> Bytes {
    encode(&ApiResourceList {
        kind: "APIResourceList",
        api_version: "v1",
        group_version,
        resources,
    })
}

impl Discovery {
    /// Documents for these APIs, with no metrics yet.
    pub fn new(apis: Apis) -> Discovery {
        let discovery = Discovery {
            documents: Arc::new(ArcSwap::from_pointee(Documents {
                apis,
                by_path: HashMap::new(),
            })),
        };
        discovery.update(apis, &Snapshot::default());
        discovery
    }

    /// Which APIs are served.
    pub fn apis(&self) -> Apis {
        self.documents.load().apis
    }

    /// The document at `path` (`/apis`, `/apis/<group>`, `/apis/<group>/<version>`).
    pub fn get(&self, path: &str) -> Option<Document> {
        self.documents.load().by_path.get(path).cloned()
    }

    /// Recompute every document from a registry snapshot, for these APIs (which change when
    /// the rules file is reloaded).
    pub fn update(&self, apis: Apis, snapshot: &Snapshot) {
        let mut docs = HashMap::new();
        let mut groups = Vec::new();
        if apis.custom {
            let g = group(CUSTOM_GROUP, &["v1beta2", "v1beta1"]);
            let resources: Vec<ApiResource> = snapshot
                .custom_sorted()
                .into_iter()
                .map(|k| ApiResource {
                    name: format!("{}/{}", k.resource, k.metric),
                    singular_name: "",
                    namespaced: k.namespaced,
                    kind: "MetricValueList",
                    verbs: &["get"],
                })
                .collect();
            for version in ["v1beta1", "v1beta2"] {
                docs.insert(
                    format!("/apis/{CUSTOM_GROUP}/{version}"),
                    resource_list(format!("{CUSTOM_GROUP}/{version}"), resources.clone()),
                );
            }
            groups.push(g);
        }
        if apis.external {
            let resources = snapshot
                .external_sorted()
                .into_iter()
                .map(|m| ApiResource {
                    name: m.to_string(),
                    singular_name: "",
                    namespaced: true,
                    kind: "ExternalMetricValueList",
                    verbs: &["get"],
                })
                .collect();
            docs.insert(
                format!("/apis/{EXTERNAL_GROUP}/v1beta1"),
                resource_list(format!("{EXTERNAL_GROUP}/v1beta1"), resources),
            );
            groups.push(group(EXTERNAL_GROUP, &["v1beta1"]));
        }
        if apis.resource {
            let resources = vec![
                ApiResource {
                    name: "nodes".into(),
                    singular_name: "",
                    namespaced: false,
                    kind: "NodeMetrics",
                    verbs: &["get", "list"],
                },
                ApiResource {
                    name: "pods".into(),
                    singular_name: "",
                    namespaced: true,
                    kind: "PodMetrics",
                    verbs: &["get", "list"],
                },
            ];
            docs.insert(
                format!("/apis/{RESOURCE_GROUP}/v1beta1"),
                resource_list(format!("{RESOURCE_GROUP}/v1beta1"), resources),
            );
            groups.push(group(RESOURCE_GROUP, &["v1beta1"]));
        }
        for g in &groups {
            let mut standalone = g.clone();
            standalone.kind = Some("APIGroup");
            standalone.api_version = Some("v1");
            docs.insert(format!("/apis/{}", g.name), encode(&standalone));
        }
        docs.insert(
            "/apis".to_string(),
            encode(&ApiGroupList {
                kind: "APIGroupList",
                api_version: "v1",
                groups,
            }),
        );
        self.documents.store(Arc::new(Documents {
            apis,
            by_path: docs
                .into_iter()
                .map(|(path, json)| (path, Document::new(json)))
                .collect(),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{MetricKey, MetricSource};
    use crate::resources::GroupResource;

    fn text(d: &Discovery, path: &str) -> String {
        String::from_utf8(d.get(path).unwrap().json.to_vec()).unwrap()
    }

    #[test]
    fn large_documents_have_a_gzipped_copy() {
        let d = Discovery::new(Apis {
            custom: true,
            external: false,
            resource: false,
        });
        assert_eq!(
            d.get("/apis/custom.metrics.k8s.io/v1beta1").unwrap().gzip,
            None
        );
        let mut snap = Snapshot::default();
        for i in 0..1000 {
            snap.custom.insert(
                MetricKey {
                    resource: GroupResource::parse("pods"),
                    namespaced: true,
                    metric: format!("metric_{i}"),
                },
                MetricSource {
                    series: "s".into(),
                    rule: 0,
                },
            );
        }
        d.update(d.apis(), &snap);
        let doc = d.get("/apis/custom.metrics.k8s.io/v1beta1").unwrap();
        let gzip = doc.gzip.expect("a gzipped copy");
        assert!(gzip.len() * 10 < doc.json.len());
        let mut decoded = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut decoded)
            .unwrap();
        assert_eq!(decoded, doc.json);
    }

    #[test]
    fn only_configured_groups_are_installed() {
        let none = Discovery::new(Apis::default());
        assert_eq!(
            text(&none, "/apis"),
            r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[]}"#
        );
        assert!(none.get("/apis/custom.metrics.k8s.io/v1beta1").is_none());

        let all = Discovery::new(Apis {
            custom: true,
            external: true,
            resource: true,
        });
        assert_eq!(
            text(&all, "/apis"),
            r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"custom.metrics.k8s.io","versions":[{"groupVersion":"custom.metrics.k8s.io/v1beta2","version":"v1beta2"},{"groupVersion":"custom.metrics.k8s.io/v1beta1","version":"v1beta1"}],"preferredVersion":{"groupVersion":"custom.metrics.k8s.io/v1beta2","version":"v1beta2"}},{"name":"external.metrics.k8s.io","versions":[{"groupVersion":"external.metrics.k8s.io/v1beta1","version":"v1beta1"}],"preferredVersion":{"groupVersion":"external.metrics.k8s.io/v1beta1","version":"v1beta1"}},{"name":"metrics.k8s.io","versions":[{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}],"preferredVersion":{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}}]}"#
        );
        assert_eq!(
            text(&all, "/apis/custom.metrics.k8s.io/v1beta1"),
            r#"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"custom.metrics.k8s.io/v1beta1","resources":[]}"#
        );
        assert_eq!(
            text(&all, "/apis/metrics.k8s.io/v1beta1"),
            r#"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"metrics.k8s.io/v1beta1","resources":[{"name":"nodes","singularName":"","namespaced":false,"kind":"NodeMetrics","verbs":["get","list"]},{"name":"pods","singularName":"","namespaced":true,"kind":"PodMetrics","verbs":["get","list"]}]}"#
        );
        assert!(text(&all, "/apis/custom.metrics.k8s.io").starts_with(
            r#"{"kind":"APIGroup","apiVersion":"v1","name":"custom.metrics.k8s.io","versions":[{"#
        ));
    }

    #[test]
    fn metrics_appear_sorted_with_their_scope() {
        let d = Discovery::new(Apis {
            custom: true,
            external: true,
            resource: false,
        });
        let mut snap = Snapshot::default();
        let source = MetricSource {
            series: "s".into(),
            rule: 0,
        };
        for (gr, namespaced, m) in [
            ("pods", true, "b"),
            ("namespaces", false, "b"),
            ("deployments.apps", true, "a"),
            ("pods", true, "a"),
        ] {
            snap.custom.insert(
                MetricKey {
                    resource: GroupResource::parse(gr),
                    namespaced,
                    metric: m.into(),
                },
                source.clone(),
            );
        }
        snap.external.insert("queue_depth".into(), source);
        d.update(d.apis(), &snap);
        assert_eq!(
            text(&d, "/apis/custom.metrics.k8s.io/v1beta2"),
            r#"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"custom.metrics.k8s.io/v1beta2","resources":[{"name":"deployments.apps/a","singularName":"","namespaced":true,"kind":"MetricValueList","verbs":["get"]},{"name":"namespaces/b","singularName":"","namespaced":false,"kind":"MetricValueList","verbs":["get"]},{"name":"pods/a","singularName":"","namespaced":true,"kind":"MetricValueList","verbs":["get"]},{"name":"pods/b","singularName":"","namespaced":true,"kind":"MetricValueList","verbs":["get"]}]}"#
        );
        assert_eq!(
            text(&d, "/apis/external.metrics.k8s.io/v1beta1"),
            r#"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"external.metrics.k8s.io/v1beta1","resources":[{"name":"queue_depth","singularName":"","namespaced":true,"kind":"ExternalMetricValueList","verbs":["get"]}]}"#
        );
    }
}
