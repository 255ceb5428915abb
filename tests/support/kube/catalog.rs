//! The resource catalog: which group/version/resources the double serves, and the discovery
//! documents (`/api`, `/api/v1`, `/apis`, `/apis/<g>`, `/apis/<g>/<v>`) computed from it, in
//! the legacy JSON shapes kube-apiserver emits.

use serde_json::{Value, json};

/// How the `scale` subresource of a resource reads its object (the `subresources.scale` stanza of
/// a CRD; built-in workloads behave as if `labelSelectorPath` were `.spec.selector`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalePaths {
    /// JSON pointer to the desired replicas, e.g. `/spec/replicas`.
    pub spec_replicas: &'static str,
    /// JSON pointer to the observed replicas, e.g. `/status/replicas`.
    pub status_replicas: &'static str,
    /// Where `status.selector` of the Scale comes from.
    pub selector: ScaleSelector,
}

/// Source of a Scale's `status.selector`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleSelector {
    /// A `metav1.LabelSelector` object at this pointer, formatted as apimachinery's
    /// `FormatLabelSelector` does (Deployments, StatefulSets).
    LabelSelectorAt(&'static str),
    /// A selector string already formatted by the controller at this pointer (CRDs'
    /// `labelSelectorPath`).
    StringAt(&'static str),
}

impl ScalePaths {
    /// The scale subresource of Deployments, ReplicaSets and StatefulSets.
    pub const WORKLOAD: ScalePaths = ScalePaths {
        spec_replicas: "/spec/replicas",
        status_replicas: "/status/replicas",
        selector: ScaleSelector::LabelSelectorAt("/spec/selector"),
    };
}

/// One resource type the double serves: what a row of an `APIResourceList` says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    /// API group, `""` for the core group.
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// Lower-case plural (`pods`): the path segment and the discovery `name`.
    pub plural: String,
    /// Lower-case singular (`pod`).
    pub singular: String,
    /// Kind of one object (`Pod`); lists are `<Kind>List`.
    pub kind: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names offered to kubectl (`po`).
    pub short_names: Vec<String>,
    /// Whether this is a custom resource: list items then keep `apiVersion` and `kind`, as
    /// the apiserver's unstructured storage does (built-in types have them stripped).
    pub custom: bool,
    /// The `scale` subresource, if the type has one.
    pub scale: Option<ScalePaths>,
}

/// The verbs the double actually serves for a resource (it has no write API over HTTP).
const VERBS: [&str; 3] = ["get", "list", "watch"];

impl ResourceType {
    /// A built-in resource type: singular is the lower-cased kind.
    pub fn builtin(group: &str, version: &str, plural: &str, kind: &str, namespaced: bool) -> Self {
        ResourceType {
            group: group.to_string(),
            version: version.to_string(),
            plural: plural.to_string(),
            singular: kind.to_ascii_lowercase(),
            kind: kind.to_string(),
            namespaced,
            short_names: Vec::new(),
            custom: false,
            scale: None,
        }
    }

    /// A custom resource type (as if a CRD had been installed).
    pub fn custom(group: &str, version: &str, plural: &str, kind: &str, namespaced: bool) -> Self {
        ResourceType {
            custom: true,
            ..ResourceType::builtin(group, version, plural, kind, namespaced)
        }
    }

    /// Adds short names.
    pub fn with_short_names(mut self, names: &[&str]) -> Self {
        self.short_names = names.iter().map(|n| n.to_string()).collect();
        self
    }

    /// Adds a `scale` subresource.
    pub fn with_scale(mut self, scale: ScalePaths) -> Self {
        self.scale = Some(scale);
        self
    }

    /// `apiVersion` of objects of this type (`v1`, `apps/v1`).
    pub fn api_version(&self) -> String {
        group_version(&self.group, &self.version)
    }

    /// The resources registered at start: the core and apps types the adapter and kubectl touch
    /// (ConfigMaps for `extension-apiserver-authentication`), and Seldon's
    /// `models.mlops.seldon.io`.
    pub fn defaults() -> Vec<ResourceType> {
        vec![
            ResourceType::builtin("", "v1", "pods", "Pod", true).with_short_names(&["po"]),
            ResourceType::builtin("", "v1", "namespaces", "Namespace", false)
                .with_short_names(&["ns"]),
            ResourceType::builtin("", "v1", "nodes", "Node", false).with_short_names(&["no"]),
            ResourceType::builtin("", "v1", "services", "Service", true).with_short_names(&["svc"]),
            ResourceType::builtin("", "v1", "configmaps", "ConfigMap", true)
                .with_short_names(&["cm"]),
            ResourceType::builtin("apps", "v1", "deployments", "Deployment", true)
                .with_short_names(&["deploy"])
                .with_scale(ScalePaths::WORKLOAD),
            ResourceType::builtin("apps", "v1", "statefulsets", "StatefulSet", true)
                .with_short_names(&["sts"])
                .with_scale(ScalePaths::WORKLOAD),
            // Seldon Core 2's Model CRD; its scale subresource reads `.spec.replicas`,
            // `.status.replicas` and a selector string at `.status.selector`.
            ResourceType::custom("mlops.seldon.io", "v1alpha1", "models", "Model", true)
                .with_scale(ScalePaths {
                    spec_replicas: "/spec/replicas",
                    status_replicas: "/status/replicas",
                    selector: ScaleSelector::StringAt("/status/selector"),
                }),
        ]
    }

    /// The `APIResource` rows for this type: itself and its subresources.
    fn discovery_rows(&self) -> Vec<Value> {
        let mut main = json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": VERBS,
        });
        if !self.short_names.is_empty() {
            main["shortNames"] = json!(self.short_names);
        }
        let mut rows = vec![main];
        if self.scale.is_some() {
            rows.push(json!({
                "name": format!("{}/scale", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get"],
            }));
        }
        rows
    }
}

/// `v1` for the core group, `<group>/<version>` otherwise.
pub fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// Groups in registration order, each with its versions in registration order (the first is
/// preferred), from the catalog and the proxied API services.
fn groups(resources: &[ResourceType], proxied: &[(String, String)]) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    let pairs = resources
        .iter()
        .map(|r| (r.group.as_str(), r.version.as_str()))
        .chain(proxied.iter().map(|(g, v)| (g.as_str(), v.as_str())));
    for (group, version) in pairs {
        if group.is_empty() {
            continue;
        }
        match groups.iter_mut().find(|(g, _)| g == group) {
            Some((_, versions)) => {
                if !versions.iter().any(|v| v == version) {
                    versions.push(version.to_string());
                }
            }
            None => groups.push((group.to_string(), vec![version.to_string()])),
        }
    }
    groups
}

fn group_json(name: &str, versions: &[String]) -> Value {
    let entries: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": group_version(name, v), "version": v}))
        .collect();
    json!({
        "name": name,
        "versions": entries,
        "preferredVersion": entries.first().cloned().unwrap_or(Value::Null),
    })
}

/// `GET /api`: the core versions, with the address clients may use.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// `GET /apis`: the legacy `APIGroupList`.
pub fn api_group_list(resources: &[ResourceType], proxied: &[(String, String)]) -> Value {
    let groups: Vec<Value> = groups(resources, proxied)
        .iter()
        .map(|(name, versions)| group_json(name, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/<group>`: the `APIGroup`, if the group is served.
pub fn api_group(
    resources: &[ResourceType],
    proxied: &[(String, String)],
    group: &str,
) -> Option<Value> {
    let (name, versions) = groups(resources, proxied)
        .into_iter()
        .find(|(g, _)| g == group)?;
    let mut doc = group_json(&name, &versions);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

/// `GET /api/v1` or `/apis/<group>/<version>`: the `APIResourceList`, if the group-version is
/// served from the catalog.
pub fn api_resource_list(resources: &[ResourceType], group: &str, version: &str) -> Option<Value> {
    let rows: Vec<Value> = resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .flat_map(ResourceType::discovery_rows)
        .collect();
    if rows.is_empty() {
        return None;
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version(group, version),
        "resources": rows,
    }))
}

/// `GET /version`: a 1.32 server, matching the kubectl on the machine image (the gcloud
/// kubectl dispatcher picks its client version from the server's).
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.4",
        "gitCommit": "59526cd4867447956156ae3a602fcbac5b2d1e69",
        "gitTreeState": "clean",
        "buildDate": "2025-04-22T16:02:27Z",
        "goVersion": "go1.23.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}
