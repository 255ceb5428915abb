//! Builders for the objects tests put in the double, shaped like what a real cluster stores
//! (the fields the adapter, the HPA controller and kubectl read; nothing more).

use serde_json::{Map, Value, json};

fn labels(pairs: &[(&str, &str)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect::<Map<_, _>>(),
    )
}

/// A Pod with one container, in `phase` (`Running`, `Pending`, ...) with its `Ready` condition.
pub fn pod(
    namespace: &str,
    name: &str,
    pod_labels: &[(&str, &str)],
    phase: &str,
    ready: bool,
) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels(pod_labels)},
        "spec": {"containers": [{"name": "main", "image": "registry.example/app:1"}]},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
        },
    })
}

/// A Namespace, with the `kubernetes.io/metadata.name` label kube-apiserver always adds.
pub fn namespace(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    })
}

/// A Ready Node whose capacity and allocatable are `cpu` and `memory` (Quantity strings).
pub fn node(name: &str, cpu: &str, memory: &str) -> Value {
    let resources = json!({"cpu": cpu, "memory": memory, "pods": "110"});
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"},
        },
        "spec": {},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    })
}

/// A Deployment selecting `match_labels`, fully rolled out at `replicas`.
pub fn deployment(
    namespace: &str,
    name: &str,
    replicas: i64,
    match_labels: &[(&str, &str)],
) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels(match_labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels(match_labels)},
            "template": {
                "metadata": {"labels": labels(match_labels)},
                "spec": {"containers": [{"name": "main", "image": "registry.example/app:1"}]},
            },
        },
        "status": {
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        },
    })
}

/// A Seldon Core 2 `Model` (`mlops.seldon.io/v1alpha1`) loaded with `replicas` replicas.
pub fn seldon_model(namespace: &str, name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "mlops.seldon.io/v1alpha1",
        "kind": "Model",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "storageUri": format!("gs://seldon-models/scv2/samples/{name}"),
            "requirements": ["sklearn"],
            "replicas": replicas,
        },
        "status": {"replicas": replicas, "availableReplicas": replicas},
    })
}

/// `kube-system/extension-apiserver-authentication`, the ConfigMap kube-apiserver publishes
/// for aggregated API servers: the CA for client certificates, and the front-proxy CA, allowed
/// names and header names under which the aggregator's requests carry the user.
pub fn extension_apiserver_authentication(
    client_ca_pem: &str,
    requestheader_ca_pem: &str,
) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "extension-apiserver-authentication", "namespace": "kube-system"},
        "data": {
            "client-ca-file": client_ca_pem,
            "requestheader-client-ca-file": requestheader_ca_pem,
            "requestheader-allowed-names": "[\"front-proxy-client\"]",
            "requestheader-username-headers": "[\"X-Remote-User\"]",
            "requestheader-group-headers": "[\"X-Remote-Group\"]",
            "requestheader-extra-headers-prefix": "[\"X-Remote-Extra-\"]",
        },
    })
}
