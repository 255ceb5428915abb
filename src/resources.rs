//! Kubernetes resource types as the rules see them: a group-resource name, what discovery says
//! about it (version, kind, singular, scope), and a catalog that resolves the names users write
//! (`pod`, `pods`, `deployments.apps`, `Model`) the way a RESTMapper does.
//!
//! The catalog is plain data. `kube/` fills it from the cluster's discovery; without a cluster
//! (`metrics-adapter check`) it holds the well-known built-in resources.

use std::collections::HashMap;
use std::fmt;

/// A resource name with its API group: `pods` (core), `deployments.apps`. `resource` is the
/// plural once normalized through a [`ResourceCatalog`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    /// The API group; empty for the core group.
    pub group: String,
    /// The resource name.
    pub resource: String,
}

impl GroupResource {
    /// A group-resource from its parts.
    pub fn new(group: impl Into<String>, resource: impl Into<String>) -> GroupResource {
        GroupResource {
            group: group.into(),
            resource: resource.into(),
        }
    }

    /// Parse `resource[.group]` as apimachinery's `ParseGroupResource` does: the resource is
    /// everything before the first `.`, the group everything after it.
    pub fn parse(text: &str) -> GroupResource {
        match text.split_once('.') {
            Some((resource, group)) => GroupResource::new(group, resource),
            None => GroupResource::new("", text),
        }
    }
}

impl fmt::Display for GroupResource {
    /// `resource` for the core group, `resource.group` otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// What discovery says about one resource type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceInfo {
    /// API group, empty for core.
    pub group: String,
    /// Preferred version of the group (`v1`, `v1alpha1`).
    pub version: String,
    /// Plural name (`pods`).
    pub plural: String,
    /// Singular name (`pod`); discovery's `singularName`, or the lower-cased kind when empty.
    pub singular: String,
    /// Kind (`Pod`).
    pub kind: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
}

impl ResourceInfo {
    /// The core Namespace resource, whose label every namespace matcher uses.
    pub fn namespaces() -> ResourceInfo {
        ResourceInfo {
            group: String::new(),
            version: "v1".into(),
            plural: "namespaces".into(),
            singular: "namespace".into(),
            kind: "Namespace".into(),
            namespaced: false,
        }
    }

    /// The normalized group-resource (plural).
    pub fn group_resource(&self) -> GroupResource {
        GroupResource::new(self.group.clone(), self.plural.clone())
    }

    /// `v1` for core, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn answers_to(&self, name: &str) -> bool {
        self.plural.eq_ignore_ascii_case(name)
            || self.singular.eq_ignore_ascii_case(name)
            || self.kind.eq_ignore_ascii_case(name)
    }
}

/// The resource types a cluster serves, in priority order (core first, as a RESTMapper orders
/// groups), with lookups by any of the names users write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceCatalog {
    resources: Vec<ResourceInfo>,
    /// Lower-cased plural, singular and kind -> positions in `resources`, in priority order:
    /// every request resolves its resource, so this is a hash lookup, not a scan.
    by_name: HashMap<String, Vec<usize>>,
}

/// (group, version, plural, singular, kind, namespaced) of the built-in resources that rules and
/// HPAs name; enough to map labels and describe objects without a cluster.
const WELL_KNOWN: &[(&str, &str, &str, &str, &str, bool)] = &[
    ("", "v1", "pods", "pod", "Pod", true),
    ("", "v1", "namespaces", "namespace", "Namespace", false),
    ("", "v1", "nodes", "node", "Node", false),
    ("", "v1", "services", "service", "Service", true),
    ("", "v1", "endpoints", "endpoints", "Endpoints", true),
    (
        "",
        "v1",
        "persistentvolumes",
        "persistentvolume",
        "PersistentVolume",
        false,
    ),
    (
        "",
        "v1",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        "PersistentVolumeClaim",
        true,
    ),
    (
        "",
        "v1",
        "replicationcontrollers",
        "replicationcontroller",
        "ReplicationController",
        true,
    ),
    ("", "v1", "configmaps", "configmap", "ConfigMap", true),
    ("", "v1", "secrets", "secret", "Secret", true),
    (
        "",
        "v1",
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        true,
    ),
    (
        "apps",
        "v1",
        "deployments",
        "deployment",
        "Deployment",
        true,
    ),
    (
        "apps",
        "v1",
        "statefulsets",
        "statefulset",
        "StatefulSet",
        true,
    ),
    ("apps", "v1", "daemonsets", "daemonset", "DaemonSet", true),
    (
        "apps",
        "v1",
        "replicasets",
        "replicaset",
        "ReplicaSet",
        true,
    ),
    ("batch", "v1", "jobs", "job", "Job", true),
    ("batch", "v1", "cronjobs", "cronjob", "CronJob", true),
    (
        "networking.k8s.io",
        "v1",
        "ingresses",
        "ingress",
        "Ingress",
        true,
    ),
    (
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        "HorizontalPodAutoscaler",
        true,
    ),
    (
        "policy",
        "v1",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        true,
    ),
];

impl ResourceCatalog {
    /// A catalog of the given resources, in priority order.
    pub fn new(resources: Vec<ResourceInfo>) -> ResourceCatalog {
        let mut catalog = ResourceCatalog::default();
        for info in resources {
            catalog.insert(info);
        }
        catalog
    }

    /// The built-in resources every cluster has.
    pub fn well_known() -> ResourceCatalog {
        let resources = WELL_KNOWN
            .iter()
            .map(
                |&(group, version, plural, singular, kind, namespaced)| ResourceInfo {
                    group: group.into(),
                    version: version.into(),
                    plural: plural.into(),
                    singular: singular.into(),
                    kind: kind.into(),
                    namespaced,
                },
            )
            .collect();
        ResourceCatalog::new(resources)
    }

    /// Every resource, in priority order.
    pub fn iter(&self) -> impl Iterator<Item = &ResourceInfo> {
        self.resources.iter()
    }

    /// Add a resource unless one with the same group and plural is already known.
    pub fn insert(&mut self, info: ResourceInfo) {
        if self.get(&info.group_resource()).is_some() {
            return;
        }
        let position = self.resources.len();
        for name in [&info.plural, &info.singular, &info.kind] {
            let entry = self.by_name.entry(name.to_ascii_lowercase()).or_default();
            if !entry.contains(&position) {
                entry.push(position);
            }
        }
        self.resources.push(info);
    }

    fn named(&self, name: &str) -> impl Iterator<Item = &ResourceInfo> {
        let positions = match self.by_name.get(name) {
            Some(p) => p.as_slice(),
            None => self
                .by_name
                .get(&name.to_ascii_lowercase())
                .map_or(&[][..], Vec::as_slice),
        };
        positions.iter().filter_map(|&i| self.resources.get(i))
    }

    /// The resource with exactly this group and plural.
    pub fn get(&self, gr: &GroupResource) -> Option<&ResourceInfo> {
        self.named(&gr.resource)
            .find(|r| r.group == gr.group && r.plural == gr.resource)
    }

    /// Resolve a name as a RESTMapper's `ResourceFor` does: plural, singular or kind, in any
    /// case; an empty group matches every group, the first in priority order winning.
    pub fn resolve(&self, gr: &GroupResource) -> Option<&ResourceInfo> {
        self.named(&gr.resource).find(|r| {
            (gr.group.is_empty() || r.group.eq_ignore_ascii_case(&gr.group))
                && r.answers_to(&gr.resource)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print_group_resources() {
        assert_eq!(GroupResource::parse("pods"), GroupResource::new("", "pods"));
        let gr = GroupResource::parse("models.mlops.seldon.io");
        assert_eq!(gr, GroupResource::new("mlops.seldon.io", "models"));
        assert_eq!(gr.to_string(), "models.mlops.seldon.io");
        assert_eq!(GroupResource::parse("").to_string(), "");
    }

    #[test]
    fn resolve_like_a_rest_mapper() {
        let catalog = ResourceCatalog::well_known();
        let name = |s: &str| {
            catalog
                .resolve(&GroupResource::parse(s))
                .map(|r| r.group_resource().to_string())
        };
        assert_eq!(name("pod").as_deref(), Some("pods"));
        assert_eq!(name("Pods").as_deref(), Some("pods"));
        assert_eq!(name("deployment").as_deref(), Some("deployments.apps"));
        assert_eq!(
            name("deployments.apps").as_deref(),
            Some("deployments.apps")
        );
        assert_eq!(name("deployments.batch"), None);
        assert_eq!(name("cheese"), None);
        let ns = catalog
            .resolve(&GroupResource::parse("namespaces"))
            .unwrap();
        assert!(!ns.namespaced);
        assert_eq!(ns.api_version(), "v1");
        let d = catalog
            .resolve(&GroupResource::parse("deployments"))
            .unwrap();
        assert_eq!(d.api_version(), "apps/v1");
    }

    #[test]
    fn insert_keeps_the_first_definition() {
        let mut catalog = ResourceCatalog::well_known();
        let before = catalog.iter().count();
        let mut pods = catalog.get(&GroupResource::parse("pods")).unwrap().clone();
        pods.kind = "Other".into();
        catalog.insert(pods);
        assert_eq!(catalog.iter().count(), before);
        catalog.insert(ResourceInfo {
            group: "mlops.seldon.io".into(),
            version: "v1alpha1".into(),
            plural: "models".into(),
            singular: "model".into(),
            kind: "Model".into(),
            namespaced: true,
        });
        let m = catalog.resolve(&GroupResource::parse("model")).unwrap();
        assert_eq!(m.api_version(), "mlops.seldon.io/v1alpha1");
    }
}
