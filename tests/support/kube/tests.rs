//! Tests of the Kubernetes API double against the clients that will use it: kube-rs (typed,
//! dynamic, metadata-only, watchers, discovery), the real kubectl, and an HTTPS upstream behind
//! the aggregator proxy.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::kube::api::{Api, DynamicObject, ListParams, ObjectList, WatchEvent, WatchParams};
use ::kube::core::{GroupVersionKind, PartialObjectMeta};
use ::kube::discovery::{Discovery, Scope};
use ::kube::runtime::watcher::{self, Event};
use ::kube::{Resource, ResourceExt};
use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value, json};

use super::*;

/// The next item of a stream; a hang is a failure, not a stuck test run.
async fn next<S: Stream + Unpin>(stream: &mut S) -> S::Item {
    tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("the stream produced nothing for 20 s")
        .expect("the stream ended")
}

fn names<K: Resource + Clone>(list: &ObjectList<K>) -> Vec<String> {
    list.items.iter().map(|o| o.name_any()).collect()
}

fn api_error(error: ::kube::Error) -> Box<::kube::core::Status> {
    match error {
        ::kube::Error::Api(status) => status,
        other => panic!("expected a Status error, got {other:?}"),
    }
}

#[tokio::test]
async fn kube_rs_lists_pods_with_label_and_field_selectors() {
    let cluster = KubeDouble::start().await;
    cluster.apply(pod("shop", "web-1", &[("app", "web")], "Running", true));
    cluster.apply(pod(
        "shop",
        "web-2",
        &[("app", "web"), ("track", "canary")],
        "Pending",
        false,
    ));
    cluster.apply(pod("shop", "db-1", &[("app", "db")], "Running", true));
    let last = cluster.apply(pod("other", "web-3", &[("app", "web")], "Running", true));
    let client = cluster.client().await;

    let shop: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let web = shop
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(names(&web), ["web-1", "web-2"]);
    assert_eq!(
        web.metadata.resource_version,
        last["metadata"]["resourceVersion"]
            .as_str()
            .map(String::from)
    );
    let ready = web.items[0]
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap();
    assert_eq!(
        (ready[0].type_.as_str(), ready[0].status.as_str()),
        ("Ready", "True")
    );

    let set_based = shop
        .list(&ListParams::default().labels("app in (web,db),track notin (canary)"))
        .await
        .unwrap();
    assert_eq!(names(&set_based), ["db-1", "web-1"]);

    let everywhere: Api<Pod> = Api::all(client.clone());
    let running = everywhere
        .list(
            &ListParams::default()
                .labels("app=web")
                .fields("status.phase=Running"),
        )
        .await
        .unwrap();
    assert_eq!(
        names(&running),
        ["web-3", "web-1"],
        "namespace, then name order"
    );
    let not_web_1 = everywhere
        .list(&ListParams::default().fields("metadata.name!=web-1,metadata.namespace==shop"))
        .await
        .unwrap();
    assert_eq!(names(&not_web_1), ["db-1", "web-2"]);

    let bad = shop
        .list(&ListParams::default().labels("app in (web"))
        .await
        .unwrap_err();
    assert_eq!((api_error(bad).code, "BadRequest"), (400, "BadRequest"));
    let unsupported = shop
        .list(&ListParams::default().fields("spec.hostname=x"))
        .await;
    let status = api_error(unsupported.unwrap_err());
    assert_eq!(
        (status.code, status.message.as_str()),
        (400, "field label not supported: spec.hostname")
    );

    let missing = shop.get("nope").await.unwrap_err();
    let status = api_error(missing);
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    assert_eq!(status.message, "pods \"nope\" not found");
}

#[tokio::test]
async fn kube_rs_reads_metadata_only() {
    let cluster = KubeDouble::start().await;
    cluster.apply(deployment("speech", "asr", 3, &[("app", "asr")]));
    cluster.apply(deployment("speech", "tts", 1, &[("app", "tts")]));
    let client = cluster.client().await;

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "speech");
    let list = deployments
        .list_metadata(&ListParams::default().labels("app=asr"))
        .await
        .unwrap();
    assert_eq!(names(&list), ["asr"]);
    assert_eq!(list.types.kind, "PartialObjectMetadataList");
    let item = &list.items[0];
    assert_eq!(
        item.types.as_ref().map(|t| t.kind.as_str()),
        Some("PartialObjectMetadata")
    );
    assert_eq!(item.labels().get("app").map(String::as_str), Some("asr"));

    let one = deployments.get_metadata("tts").await.unwrap();
    assert_eq!(
        one.types.as_ref().map(|t| t.api_version.as_str()),
        Some("meta.k8s.io/v1")
    );
    assert_eq!(one.namespace().as_deref(), Some("speech"));

    let partial: Api<PartialObjectMeta<Deployment>> = Api::namespaced(client, "speech");
    assert_eq!(
        names(&partial.list(&ListParams::default()).await.unwrap()),
        ["asr", "tts"]
    );

    // The raw documents are stripped to metadata.
    let raw = reqwest::Client::new()
        .get(format!(
            "{}/apis/apps/v1/namespaces/speech/deployments",
            cluster.url()
        ))
        .header(
            "Accept",
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
        )
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let mut keys: Vec<&str> = raw["items"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["apiVersion", "kind", "metadata"]);

    let accepts: Vec<String> = cluster
        .requests()
        .into_iter()
        .filter(|r| {
            r.path
                .starts_with("/apis/apps/v1/namespaces/speech/deployments")
        })
        .map(|r| r.accept)
        .collect();
    assert_eq!(
        accepts[..3],
        [
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
        ]
    );
}

#[tokio::test]
async fn metadata_watcher_sees_added_modified_and_deleted() {
    let cluster = KubeDouble::start().await;
    cluster.apply(pod("shop", "web-1", &[("app", "web")], "Running", true));
    cluster.apply(pod("shop", "db-1", &[("app", "db")], "Running", true));
    // kube 5 deprecates `metadata_watcher` for a plain watcher over `PartialObjectMeta<K>`.
    let pods: Api<PartialObjectMeta<Pod>> = Api::namespaced(cluster.client().await, "shop");
    let stream = watcher::watcher(pods, watcher::Config::default().labels("app=web"));
    let mut stream = std::pin::pin!(stream);

    assert!(matches!(next(&mut stream).await.unwrap(), Event::Init));
    match next(&mut stream).await.unwrap() {
        Event::InitApply(p) => assert_eq!(p.name_any(), "web-1"),
        other => panic!("expected web-1 in the initial list, got {other:?}"),
    }
    assert!(matches!(next(&mut stream).await.unwrap(), Event::InitDone));

    cluster.apply(pod("shop", "web-2", &[("app", "web")], "Pending", false));
    match next(&mut stream).await.unwrap() {
        Event::Apply(p) => assert_eq!(p.name_any(), "web-2"),
        other => panic!("expected web-2 added, got {other:?}"),
    }
    cluster.modify("v1", "Pod", Some("shop"), "web-2", |p| {
        p["metadata"]["labels"]["version"] = json!("2");
    });
    match next(&mut stream).await.unwrap() {
        Event::Apply(p) => assert_eq!(p.labels().get("version").map(String::as_str), Some("2")),
        other => panic!("expected web-2 modified, got {other:?}"),
    }
    // Leaving the selector is a deletion for this watch; db-1 changes are not seen at all.
    cluster.modify("v1", "Pod", Some("shop"), "db-1", |p| {
        p["status"]["phase"] = json!("Failed")
    });
    cluster.modify("v1", "Pod", Some("shop"), "web-1", |p| {
        p["metadata"]["labels"]["app"] = json!("old")
    });
    match next(&mut stream).await.unwrap() {
        Event::Delete(p) => assert_eq!(p.name_any(), "web-1"),
        other => panic!("expected web-1 deleted, got {other:?}"),
    }
    cluster
        .delete("v1", "Pod", Some("shop"), "web-2")
        .expect("web-2 existed");
    match next(&mut stream).await.unwrap() {
        Event::Delete(p) => assert_eq!(p.name_any(), "web-2"),
        other => panic!("expected web-2 deleted, got {other:?}"),
    }

    let watches: Vec<RecordedRequest> = cluster
        .requests()
        .into_iter()
        .filter(|r| r.is_watch())
        .collect();
    assert_eq!(
        watches[0].accept,
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
    );
    assert_eq!(
        watches[0].param("labelSelector").as_deref(),
        Some("app=web")
    );
}

#[tokio::test]
async fn watcher_with_streaming_lists_gets_initial_events_and_bookmark() {
    let cluster = KubeDouble::start().await;
    cluster.apply(node("node-1", "4", "16Gi"));
    let nodes: Api<Node> = Api::all(cluster.client().await);
    let stream = watcher::watcher(nodes, watcher::Config::default().streaming_lists());
    let mut stream = std::pin::pin!(stream);
    assert!(matches!(next(&mut stream).await.unwrap(), Event::Init));
    match next(&mut stream).await.unwrap() {
        Event::InitApply(n) => {
            let allocatable = n.status.and_then(|s| s.allocatable).unwrap();
            assert_eq!(allocatable["cpu"].0, "4");
        }
        other => panic!("expected node-1, got {other:?}"),
    }
    assert!(matches!(next(&mut stream).await.unwrap(), Event::InitDone));
    cluster.apply(node("node-2", "8", "32Gi"));
    match next(&mut stream).await.unwrap() {
        Event::Apply(n) => assert_eq!(n.name_any(), "node-2"),
        other => panic!("expected node-2, got {other:?}"),
    }
    let watch = cluster
        .requests()
        .into_iter()
        .find(|r| r.is_watch())
        .unwrap();
    assert_eq!(watch.param("sendInitialEvents").as_deref(), Some("true"));
}

#[tokio::test]
async fn watch_replays_history_from_a_resource_version_and_honours_timeout() {
    let cluster = KubeDouble::start().await;
    let first = cluster.apply(pod("shop", "web-1", &[("app", "web")], "Pending", false));
    let rv = first["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    cluster.modify("v1", "Pod", Some("shop"), "web-1", |p| {
        p["status"]["phase"] = json!("Running")
    });
    cluster.delete("v1", "Pod", Some("shop"), "web-1");

    let pods: Api<Pod> = Api::namespaced(cluster.client().await, "shop");
    let events: Vec<String> = pods
        .watch(&WatchParams::default().timeout(1), &rv)
        .await
        .unwrap()
        .map(|e| match e.unwrap() {
            WatchEvent::Added(p) => format!("ADDED {}", p.metadata.resource_version.unwrap()),
            WatchEvent::Modified(p) => format!("MODIFIED {}", p.metadata.resource_version.unwrap()),
            WatchEvent::Deleted(p) => format!("DELETED {}", p.metadata.resource_version.unwrap()),
            WatchEvent::Bookmark(b) => format!("BOOKMARK {}", b.metadata.resource_version),
            WatchEvent::Error(s) => format!("ERROR {s:?}"),
        })
        .collect()
        .await;
    // The stream ended by itself after timeoutSeconds.
    assert_eq!(events, ["MODIFIED 2", "DELETED 3"]);

    let bad = pods.watch(&WatchParams::default(), "abc").await;
    assert!(
        bad.is_err(),
        "a watch from a non-numeric resourceVersion is refused"
    );
}

#[tokio::test]
async fn discovery_finds_builtin_and_custom_resources_and_a_crd_added_later() {
    let cluster = KubeDouble::start().await;
    let client = cluster.client().await;
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (pods, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Pod"))
        .expect("pods are discovered");
    assert_eq!(
        (pods.plural.as_str(), caps.scope.clone()),
        ("pods", Scope::Namespaced)
    );
    let apps = discovery.get("apps").expect("apps group");
    let (deployments, caps) = apps
        .recommended_resources()
        .into_iter()
        .find(|(r, _)| r.kind == "Deployment")
        .expect("deployments.apps");
    assert_eq!(deployments.plural, "deployments");
    assert!(caps.subresources.iter().any(|(r, _)| r.plural == "scale"));
    let seldon = discovery.get("mlops.seldon.io").expect("Seldon's group");
    let (models, caps) = seldon
        .recommended_kind("Model")
        .expect("models.mlops.seldon.io");
    assert_eq!(
        (models.plural.as_str(), models.version.as_str()),
        ("models", "v1alpha1")
    );
    assert_eq!(caps.scope, Scope::Namespaced);
    let (_, node_caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Node"))
        .expect("nodes");
    assert_eq!(node_caps.scope, Scope::Cluster);
    assert!(!discovery.has_group("argoproj.io"));

    // Argo Rollouts' CRD, installed after start; its scale reads a selector string.
    cluster.add_resource(
        ResourceType::custom("argoproj.io", "v1alpha1", "rollouts", "Rollout", true)
            .with_short_names(&["ro"])
            .with_scale(ScalePaths {
                spec_replicas: "/spec/replicas",
                status_replicas: "/status/HPAReplicas",
                selector: ScaleSelector::StringAt("/status/selector"),
            }),
    );
    let again = Discovery::new(client.clone()).run().await.unwrap();
    let (rollouts, caps) = again
        .get("argoproj.io")
        .and_then(|g| g.recommended_kind("Rollout"))
        .expect("the CRD added after start is discovered");
    assert_eq!(rollouts.plural, "rollouts");
    assert!(caps.subresources.iter().any(|(r, _)| r.plural == "scale"));

    cluster.apply(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "checkout"}}},
        "status": {"HPAReplicas": 3, "selector": "app=checkout"},
    }));
    let api: Api<DynamicObject> = Api::namespaced_with(client, "shop", &rollouts);
    let scale = api.get_subresource("scale", "checkout").await.unwrap();
    assert_eq!(scale.data["spec"]["replicas"], 4);
    assert_eq!(
        scale.data["status"],
        json!({"replicas": 3, "selector": "app=checkout"})
    );
}

#[tokio::test]
async fn dynamic_objects_and_scale_of_custom_and_builtin_workloads() {
    let cluster = KubeDouble::start().await;
    cluster.apply(seldon_model("models", "iris", 2));
    cluster.apply(seldon_model("models", "mnist", 1));
    cluster.apply(deployment(
        "speech",
        "asr",
        3,
        &[("app", "asr"), ("tier", "gpu")],
    ));
    let client = cluster.client().await;

    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (resource, _) = discovery
        .get("mlops.seldon.io")
        .and_then(|g| g.recommended_kind("Model"))
        .unwrap();
    let models: Api<DynamicObject> = Api::namespaced_with(client.clone(), "models", &resource);
    let list = models.list(&ListParams::default()).await.unwrap();
    assert_eq!(names(&list), ["iris", "mnist"]);
    assert_eq!(
        list.items[0].types.as_ref().map(|t| t.kind.as_str()),
        Some("Model")
    );
    assert_eq!(list.items[0].data["spec"]["replicas"], 2);

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "speech");
    let scale = deployments.get_scale("asr").await.unwrap();
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(3));
    let status = scale.status.unwrap();
    assert_eq!(
        (status.replicas, status.selector.as_deref()),
        (3, Some("app=asr,tier=gpu"))
    );
    cluster.set_replicas("speech", "asr", 5);
    let scale = deployments.get_scale("asr").await.unwrap();
    assert_eq!(
        (
            scale.spec.and_then(|s| s.replicas),
            scale.status.map(|s| s.replicas)
        ),
        (Some(5), Some(5))
    );

    let model_scale = models.get_subresource("scale", "iris").await.unwrap();
    assert_eq!(model_scale.data["spec"]["replicas"], 2);
    assert_eq!(model_scale.types.map(|t| t.kind), Some("Scale".to_string()));
}

fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The first column of kubectl's human-readable output.
fn first_column(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn kubectl_gets_pods_raw_discovery_and_custom_resources() {
    let cluster = KubeDouble::start().await;
    cluster.apply(namespace("shop"));
    cluster.apply(pod("shop", "web-1", &[("app", "web")], "Running", true));
    cluster.apply(pod("shop", "db-1", &[("app", "db")], "Running", true));
    cluster.apply(pod("edge", "web-2", &[("app", "web")], "Running", true));
    cluster.apply(seldon_model("ml", "iris", 2));

    let pods: Value = serde_json::from_str(&stdout(
        &cluster
            .kubectl(&["get", "pods", "-A", "-l", "app=web", "-o", "json"])
            .await,
    ))
    .unwrap();
    let found: Vec<(&str, &str)> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["metadata"]["namespace"].as_str().unwrap(),
                p["metadata"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(found, [("edge", "web-2"), ("shop", "web-1")]);

    let apis: Value =
        serde_json::from_str(&stdout(&cluster.kubectl(&["get", "--raw", "/apis"]).await)).unwrap();
    let groups: Vec<&str> = apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["apps", "mlops.seldon.io"]);

    let models = stdout(
        &cluster
            .kubectl(&["get", "models.mlops.seldon.io", "-n", "ml"])
            .await,
    );
    assert_eq!(first_column(&models), ["NAME", "iris"]);

    // A CRD installed after kubectl cached discovery: kubectl refreshes on the miss.
    cluster.add_resource(ResourceType::custom(
        "keda.sh",
        "v1alpha1",
        "scaledobjects",
        "ScaledObject",
        true,
    ));
    cluster.apply(json!({
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "asr", "namespace": "ml"},
        "spec": {"scaleTargetRef": {"name": "asr"}},
    }));
    let scaled = stdout(
        &cluster
            .kubectl(&["get", "scaledobjects.keda.sh", "-n", "ml", "-o", "name"])
            .await,
    );
    assert_eq!(scaled.trim(), "scaledobject.keda.sh/asr");

    let missing = cluster.kubectl(&["get", "pod", "nope", "-n", "shop"]).await;
    assert!(!missing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr).trim(),
        "Error from server (NotFound): pods \"nope\" not found"
    );
}

/// What the HTTPS upstream of the aggregator proxy saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path_and_query: String,
    headers: http::HeaderMap,
    client_certificate: bool,
}

/// A tiny HTTPS server standing in for an aggregated API server: a self-signed serving
/// certificate, optional client certificates from its own CA, a fixed metrics.k8s.io
/// discovery document, and a fixed `PodMetricsList` for everything else (`404` under
/// `/missing`).
struct Upstream {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// The client certificate and key (PEM) the upstream's CA signed.
    client_identity: String,
    /// That CA (PEM), as the front-proxy CA of the authentication ConfigMap.
    client_ca: String,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    async fn start() -> Upstream {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
            IsCa, KeyPair,
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "front-proxy-ca");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params
            .distinguished_name
            .push(DnType::CommonName, "front-proxy-client");
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client_params.signed_by(&client_key, &ca).unwrap();
        let client_identity = format!("{}{}", client_cert.pem(), client_key.serialize_pem());

        let serving = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
            .allow_unauthenticated()
            .build()
            .unwrap();
        let key =
            rustls_pki_types::PrivateKeyDer::Pkcs8(serving.signing_key.serialize_der().into());
        let mut config = rustls::ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![serving.cert.der().clone()], key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, log) = (acceptor.clone(), log.clone());
                connections.spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let client_certificate = tls.get_ref().1.peer_certificates().is_some();
                    let service = hyper::service::service_fn(
                        move |request: http::Request<hyper::body::Incoming>| {
                            let log = log.clone();
                            async move {
                                log.lock().unwrap().push(Seen {
                                    method: request.method().to_string(),
                                    path_and_query: request
                                        .uri()
                                        .path_and_query()
                                        .map(|p| p.to_string())
                                        .unwrap_or_default(),
                                    headers: request.headers().clone(),
                                    client_certificate,
                                });
                                Ok::<_, std::convert::Infallible>(upstream_answer(
                                    request.uri().path(),
                                ))
                            }
                        },
                    );
                    let builder = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    );
                    let _ = builder
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        let client_ca = ca.pem();
        Upstream {
            url,
            seen,
            client_identity,
            client_ca,
            task,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn upstream_answer(path: &str) -> http::Response<http_body_util::Full<bytes::Bytes>> {
    let (code, body) = if path == "/apis/metrics.k8s.io/v1beta1" {
        (
            200,
            json!({
                "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "metrics.k8s.io/v1beta1",
                "resources": [
                    {"name": "nodes", "singularName": "", "namespaced": false, "kind": "NodeMetrics", "verbs": ["get", "list"]},
                    {"name": "pods", "singularName": "", "namespaced": true, "kind": "PodMetrics", "verbs": ["get", "list"]},
                ],
            }),
        )
    } else if path.ends_with("/missing") {
        (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                     "message": "podmetrics.metrics.k8s.io \"missing\" not found", "reason": "NotFound", "code": 404}),
        )
    } else {
        (
            200,
            json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": []}),
        )
    };
    http::Response::builder()
        .status(code)
        .header("Content-Type", "application/json")
        .header("X-Upstream", "metrics")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_string(),
        )))
        .unwrap()
}

#[tokio::test]
async fn aggregated_api_is_proxied_like_kube_aggregator() {
    let upstream = Upstream::start().await;
    let cluster = KubeDouble::start().await;
    cluster.register_api_service(
        ApiService::new("metrics.k8s.io", "v1beta1", &upstream.url)
            .with_client_identity(upstream.client_identity.as_bytes()),
    );
    // What an aggregated server reads to trust the proxy's certificate and headers.
    cluster.apply(extension_apiserver_authentication(
        &upstream.client_ca,
        &upstream.client_ca,
    ));
    let client = cluster.client().await;
    let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(client.clone(), "kube-system");
    let authentication = config_maps
        .get("extension-apiserver-authentication")
        .await
        .unwrap();
    let data = authentication.data.unwrap();
    assert!(data["requestheader-client-ca-file"].starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(
        data["requestheader-allowed-names"],
        r#"["front-proxy-client"]"#
    );

    // Discovery lists the group and reads its resources from the upstream.
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (pod_metrics, caps) = discovery
        .get("metrics.k8s.io")
        .and_then(|g| g.recommended_kind("PodMetrics"))
        .expect("PodMetrics discovered through the proxy");
    assert_eq!(
        (pod_metrics.plural.as_str(), caps.scope),
        ("pods", Scope::Namespaced)
    );

    // Path re-escaped (`*` as %2A), query keys sorted and form-encoded, credentials replaced.
    let http = reqwest::Client::new();
    let response = http
        .get(format!(
            "{}/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/*?metricLabelSelector=x&labelSelector=app%20in%20(web,api)",
            cluster.url()
        ))
        .bearer_auth(TEST_TOKEN)
        .header("X-Remote-User", "system:masters-impostor")
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-upstream"], "metrics");
    assert_eq!(
        response.json::<Value>().await.unwrap()["kind"],
        "PodMetricsList"
    );
    let seen = upstream.seen().pop().unwrap();
    assert_eq!(seen.method, "GET");
    assert_eq!(
        seen.path_and_query,
        "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/%2A?labelSelector=app+in+%28web%2Capi%29&metricLabelSelector=x"
    );
    assert!(
        seen.client_certificate,
        "the proxy presents its client certificate"
    );
    assert!(seen.headers.get("authorization").is_none());
    assert_eq!(seen.headers["x-remote-user"], "test-admin");
    let groups: Vec<&str> = seen
        .headers
        .get_all("x-remote-group")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(groups, ["system:masters", "system:authenticated"]);
    assert_eq!(seen.headers["accept"], "application/json");

    // Upstream errors come back as they are.
    let missing = http
        .get(format!(
            "{}/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/missing",
            cluster.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<Value>().await.unwrap()["reason"], "NotFound");
    assert_eq!(
        upstream.seen().pop().unwrap().headers["x-remote-user"],
        "system:anonymous"
    );

    // kubectl reaches it too.
    let raw = stdout(
        &cluster
            .kubectl(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes"])
            .await,
    );
    assert_eq!(
        serde_json::from_str::<Value>(&raw).unwrap()["kind"],
        "PodMetricsList"
    );

    // An unreachable upstream: plain-text 503, and kube-rs' full discovery fails with it.
    drop(upstream);
    let down = http
        .get(format!(
            "{}/apis/metrics.k8s.io/v1beta1/nodes",
            cluster.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), 503);
    assert_eq!(down.text().await.unwrap(), "service unavailable\n");
    // Without `default_retry = false` kube-rs would retry the 503 for minutes before failing.
    let mut config = cluster.config().await;
    config.default_retry = false;
    let client = ::kube::Client::try_from(config).unwrap();
    assert!(Discovery::new(client.clone()).run().await.is_err());
    let partial = Discovery::new(client)
        .exclude(&["metrics.k8s.io"])
        .run()
        .await
        .unwrap();
    assert!(partial.has_group("apps"));
}

#[tokio::test]
async fn token_and_subject_access_reviews() {
    use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
    };
    let cluster = KubeDouble::start().await;
    let hpa = "system:serviceaccount:kube-system:horizontal-pod-autoscaler";
    cluster.add_token(
        "hpa-token",
        UserInfo {
            username: hpa.into(),
            uid: "6c2a".into(),
            groups: vec![
                "system:serviceaccounts".into(),
                "system:authenticated".into(),
            ],
        },
    );
    cluster.set_authorizer(move |spec| {
        spec["user"] == hpa && spec["resourceAttributes"]["group"] == "custom.metrics.k8s.io"
    });
    let client = cluster.client().await;

    let reviews: Api<TokenReview> = Api::all(client.clone());
    let review = |token: &str| TokenReview {
        spec: TokenReviewSpec {
            token: token.into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let known = reviews
        .create(&Default::default(), &review("hpa-token"))
        .await
        .unwrap();
    let status = known.status.unwrap();
    assert_eq!(status.authenticated, Some(true));
    let user = status.user.unwrap();
    assert_eq!(
        (user.username.as_deref(), user.uid.as_deref()),
        (Some(hpa), Some("6c2a"))
    );
    let unknown = reviews
        .create(&Default::default(), &review("forged"))
        .await
        .unwrap();
    assert_eq!(unknown.status.unwrap().authenticated, Some(false));

    let sars: Api<SubjectAccessReview> = Api::all(client);
    let sar = |group: &str| SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(hpa.into()),
            resource_attributes: Some(ResourceAttributes {
                namespace: Some("prod".into()),
                verb: Some("get".into()),
                group: Some(group.into()),
                version: Some("v1beta2".into()),
                resource: Some("pods".into()),
                subresource: Some("http_requests".into()),
                name: Some("*".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let allowed = sars
        .create(&Default::default(), &sar("custom.metrics.k8s.io"))
        .await
        .unwrap();
    assert!(allowed.status.unwrap().allowed);
    let refused = sars
        .create(&Default::default(), &sar("external.metrics.k8s.io"))
        .await
        .unwrap();
    let status = refused.status.unwrap();
    assert_eq!((status.allowed, status.denied), (false, None));

    // The double itself refuses an unknown bearer token.
    let denied = reqwest::Client::new()
        .get(format!("{}/api", cluster.url()))
        .bearer_auth("forged")
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
}

#[tokio::test]
async fn bad_requests_get_status_errors_not_panics() {
    let cluster = KubeDouble::start().await;
    cluster.apply(namespace("shop"));
    let http = reqwest::Client::new();
    let get = |path: &str, accept: &str| {
        http.get(format!("{}{path}", cluster.url()))
            .header("Accept", accept.to_string())
            .send()
    };
    let expect = [
        ("/nope", "application/json", 404, "NotFound"),
        ("/api/v1/pods/web-1", "application/json", 404, "NotFound"),
        (
            "/api/v1/namespaces/shop/pods/web-1/log",
            "application/json",
            404,
            "NotFound",
        ),
        (
            "/apis/apps/v2/deployments",
            "application/json",
            404,
            "NotFound",
        ),
        (
            "/api/v1/namespaces/%ff%fe/pods",
            "application/json",
            200,
            "",
        ),
        (
            "/api/v1/pods?watch=1&resourceVersion=abc",
            "application/json",
            400,
            "BadRequest",
        ),
        (
            "/api/v1/pods?labelSelector=a%20in%20",
            "application/json",
            400,
            "BadRequest",
        ),
        (
            "/api/v1/pods",
            "application/vnd.kubernetes.protobuf",
            406,
            "NotAcceptable",
        ),
        (
            "/api/v1/namespaces/shop",
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
            406,
            "NotAcceptable",
        ),
    ];
    for (path, accept, code, reason) in expect {
        let response = get(path, accept).await.unwrap();
        assert_eq!(response.status().as_u16(), code, "{path}");
        let body: Value = response.json().await.unwrap();
        if code != 200 {
            assert_eq!(
                (body["kind"].as_str(), body["reason"].as_str()),
                (Some("Status"), Some(reason)),
                "{path}"
            );
            assert_eq!(body["code"], code, "{path}");
        }
    }
    let endless = get(
        "/api/v1/pods?watch=true&timeoutSeconds=18446744073709551615",
        "application/json",
    );
    assert_eq!(endless.await.unwrap().status(), 200);
    let delete = http
        .delete(format!("{}/api/v1/namespaces/shop", cluster.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 405);

    // A Namespace is GET-able by its cluster-scoped path, and `/apis` stays legacy JSON even when
    // aggregated discovery is asked for first.
    let shop: Value = get("/api/v1/namespaces/shop", "application/json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        shop["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "shop"
    );
    let apis = get(
        "/apis",
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
    )
    .await
    .unwrap();
    assert_eq!(apis.headers()["content-type"], "application/json");
    assert_eq!(apis.json::<Value>().await.unwrap()["kind"], "APIGroupList");
}

// Faults injected on cue.

/// Waits until the double has recorded `count` requests (a held request is recorded first).
async fn wait_for_requests(cluster: &KubeDouble, count: usize) {
    let started = std::time::Instant::now();
    while cluster.requests().len() < count {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{count} requests expected, got {:?}",
            cluster.requests()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn token_review_body(token: &str) -> Value {
    json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token},
    })
}

fn access_review_body() -> Value {
    json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": "someone",
            "nonResourceAttributes": {"path": "/healthz", "verb": "get"},
        },
    })
}

const TOKEN_REVIEWS: &str = "/apis/authentication.k8s.io/v1/tokenreviews";
const ACCESS_REVIEWS: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

#[tokio::test]
async fn a_hung_api_holds_requests_until_it_resumes() {
    let cluster = Arc::new(KubeDouble::start().await);
    cluster.apply(namespace("shop"));
    cluster.hang(Hang::Everything);
    let held = tokio::spawn({
        let cluster = cluster.clone();
        async move {
            let client = cluster.client().await;
            let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
            namespaces.list(&ListParams::default()).await
        }
    });
    wait_for_requests(&cluster, 1).await;
    // Connected and read, never answered while hung.
    assert!(!held.is_finished());

    cluster.resume();
    let namespaces = held.await.unwrap().unwrap();
    assert_eq!(names(&namespaces), ["shop"]);
}

#[tokio::test]
async fn a_hang_of_the_reviews_leaves_reads_answered() {
    let cluster = Arc::new(KubeDouble::start().await);
    cluster.hang(Hang::Reviews);
    let http = reqwest::Client::new();
    let review = tokio::spawn({
        let (http, url) = (http.clone(), format!("{}{TOKEN_REVIEWS}", cluster.url()));
        async move {
            http.post(url)
                .json(&token_review_body(TEST_TOKEN))
                .send()
                .await
        }
    });
    wait_for_requests(&cluster, 1).await;
    let api = http
        .get(format!("{}/api", cluster.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200, "reads are answered");
    assert!(!review.is_finished(), "the review is held");

    cluster.resume();
    let review: Value = review.await.unwrap().unwrap().json().await.unwrap();
    assert_eq!(review["status"]["authenticated"], true);
}

#[tokio::test]
async fn a_stopped_api_closes_its_port_and_serves_the_same_store_when_started_again() {
    let cluster = KubeDouble::start().await;
    cluster.apply(pod("shop", "web-1", &[("app", "web")], "Running", true));
    let client = cluster.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let mut watch = pods
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    assert!(matches!(
        next(&mut watch).await.unwrap(),
        WatchEvent::Added(_)
    ));
    assert_eq!(cluster.open_watches(), 1);

    cluster.stop().await;
    assert!(!cluster.is_serving());
    // The open watch is gone with its connection...
    let ended = tokio::time::timeout(Duration::from_secs(20), watch.next())
        .await
        .expect("the watch ends when the API stops");
    assert!(
        !matches!(ended, Some(Ok(WatchEvent::Added(_)))),
        "{ended:?}"
    );
    // ...and the port refuses connections.
    let refused = reqwest::Client::new()
        .get(format!("{}/api", cluster.url()))
        .send()
        .await;
    assert!(refused.is_err_and(|e| e.is_connect()));
    // Changes while stopped are kept, as etcd keeps them.
    cluster.apply(pod("shop", "web-2", &[("app", "web")], "Running", true));

    cluster.start_again().await;
    let listed = pods.list(&ListParams::default()).await.unwrap();
    assert_eq!(names(&listed), ["web-1", "web-2"]);
}

#[tokio::test]
async fn a_watch_resumed_from_a_compacted_version_is_gone() {
    let cluster = KubeDouble::start().await;
    let first = cluster.apply(pod("shop", "web-1", &[("app", "web")], "Running", true));
    let old = first["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let pods: Api<Pod> = Api::namespaced(cluster.client().await, "shop");

    cluster.expire_history(GoneAs::ErrorEvent);
    // As kube-apiserver's watch cache answers: 200, then an ERROR event with a 410 Status.
    let mut resumed = pods
        .watch(&WatchParams::default(), &old)
        .await
        .unwrap()
        .boxed();
    match next(&mut resumed).await.unwrap() {
        WatchEvent::Error(status) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
            assert!(
                status.message.starts_with("too old resource version: 1 ("),
                "{}",
                status.message
            );
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    assert!(resumed.next().await.is_none(), "the stream ends after it");

    // A client that lists again can watch from the list's version.
    let listed = pods.list(&ListParams::default()).await.unwrap();
    let fresh = listed.metadata.resource_version.unwrap();
    assert!(fresh.parse::<u64>().unwrap() > old.parse::<u64>().unwrap());
    let mut watch = pods
        .watch(&WatchParams::default().timeout(5), &fresh)
        .await
        .unwrap()
        .boxed();
    cluster.apply(pod("shop", "web-2", &[("app", "web")], "Running", true));
    match next(&mut watch).await.unwrap() {
        WatchEvent::Added(p) => assert_eq!(p.name_any(), "web-2"),
        other => panic!("expected web-2 added, got {other:?}"),
    }

    // The other way kube-apiserver refuses: the watch request itself answered 410.
    cluster.expire_history(GoneAs::HttpStatus);
    let Err(refused) = pods.watch(&WatchParams::default(), &fresh).await else {
        panic!("a watch from a compacted version was served");
    };
    let refused = api_error(refused);
    assert_eq!((refused.code, refused.reason.as_str()), (410, "Expired"));

    // kube-rs' watcher, its stream cut and its resume refused, lists again and carries on.
    let stream = watcher::watcher(pods, watcher::Config::default());
    let mut stream = std::pin::pin!(stream);
    assert!(matches!(next(&mut stream).await.unwrap(), Event::Init));
    while !matches!(next(&mut stream).await.unwrap(), Event::InitDone) {}
    cluster.expire_history(GoneAs::ErrorEvent);
    cluster.cut_watches();
    let mut errors = Vec::new();
    loop {
        match next(&mut stream).await {
            Ok(Event::Init) => break,
            Ok(other) => panic!("expected a relist, got {other:?}"),
            Err(error) => errors.push(error.to_string()),
        }
        assert!(errors.len() < 10, "no relist after {errors:?}");
    }
    assert!(
        errors
            .iter()
            .any(|e| e.contains("too old resource version")),
        "{errors:?}"
    );
}

#[tokio::test]
async fn watch_streams_are_cut_at_once_or_after_some_events() {
    let cluster = KubeDouble::start().await;
    for name in ["web-1", "web-2", "web-3"] {
        cluster.apply(pod("shop", name, &[("app", "web")], "Running", true));
    }
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/namespaces/shop/pods?watch=true", cluster.url());

    // At once: the stream breaks mid-response (no last chunk), which a client sees as an error.
    let mut open = http.get(&url).send().await.unwrap();
    let mut received = Vec::new();
    while !String::from_utf8_lossy(&received).contains("web-3") {
        received.extend_from_slice(&open.chunk().await.unwrap().expect("more events"));
    }
    assert_eq!(cluster.open_watches(), 1);
    cluster.cut_watches();
    let mut cut = open.chunk().await;
    while let Ok(Some(_)) = cut {
        cut = open.chunk().await;
    }
    assert!(cut.is_err(), "a cut, not a clean end: {cut:?}");

    // After two events: a new watch gets two of the three initial ADDED events, then the cut.
    cluster.cut_watches_after(Some(2));
    let response = http.get(&url).send().await.unwrap();
    let mut lines = Vec::new();
    let mut body = response;
    let outcome = loop {
        match body.chunk().await {
            Ok(Some(bytes)) => lines.extend_from_slice(&bytes),
            other => break other,
        }
    };
    assert!(outcome.is_err(), "{outcome:?}");
    let events: Vec<Value> = String::from_utf8_lossy(&lines)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["object"]["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web-1", "web-2"]);

    cluster.cut_watches_after(None);
    let whole = http
        .get(format!("{url}&timeoutSeconds=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(whole.lines().count(), 3, "{whole}");
}

#[tokio::test]
async fn reviews_can_be_slow_or_fail_one_kind_at_a_time() {
    let cluster = KubeDouble::start().await;
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value, timeout: Duration| {
        http.post(format!("{}{path}", cluster.url()))
            .json(&body)
            .timeout(timeout)
            .send()
    };
    let long = Duration::from_secs(20);

    // Slow token reviews: a caller with a short deadline gives up; the other kind is not slowed.
    cluster.slow_reviews(Reviews::Token, Duration::from_secs(3600));
    let late = post(
        TOKEN_REVIEWS,
        token_review_body(TEST_TOKEN),
        Duration::from_millis(300),
    )
    .await;
    assert!(late.is_err_and(|e| e.is_timeout()));
    let access = post(ACCESS_REVIEWS, access_review_body(), long)
        .await
        .unwrap();
    assert_eq!(access.status(), 201);
    // A bearable delay: answered, late.
    cluster.slow_reviews(Reviews::Both, Duration::from_millis(100));
    let token = post(TOKEN_REVIEWS, token_review_body(TEST_TOKEN), long)
        .await
        .unwrap();
    assert_eq!(token.status(), 201);
    cluster.slow_reviews(Reviews::Both, Duration::ZERO);

    // Failing access reviews: kube-apiserver's 500 Status; token reviews still answered.
    cluster.fail_reviews(Some(Reviews::SubjectAccess));
    let failed = post(ACCESS_REVIEWS, access_review_body(), long)
        .await
        .unwrap();
    assert_eq!(failed.status(), 500);
    let status: Value = failed.json().await.unwrap();
    assert_eq!(
        (status["kind"].as_str(), status["reason"].as_str()),
        (Some("Status"), Some("InternalError"))
    );
    assert_eq!(status["code"], 500);
    let token = post(TOKEN_REVIEWS, token_review_body(TEST_TOKEN), long)
        .await
        .unwrap();
    assert_eq!(token.status(), 201);
    cluster.fail_reviews(Some(Reviews::Both));
    let token = post(TOKEN_REVIEWS, token_review_body(TEST_TOKEN), long)
        .await
        .unwrap();
    assert_eq!(token.status(), 500);
    cluster.fail_reviews(None);
    let access = post(ACCESS_REVIEWS, access_review_body(), long)
        .await
        .unwrap();
    assert_eq!(access.status(), 201);
}

#[tokio::test]
async fn a_forbidden_resource_is_refused_as_rbac_refuses_it() {
    let cluster = KubeDouble::start().await;
    cluster.apply(pod("shop", "web-1", &[("app", "web")], "Running", true));
    cluster.apply(deployment("shop", "web", 1, &[("app", "web")]));
    let client = cluster.client().await;
    let all_pods: Api<Pod> = Api::all(client.clone());
    let shop_pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "shop");

    cluster.forbid("pods");
    let cases = [
        (
            all_pods.list(&ListParams::default()).await.unwrap_err(),
            r#"pods is forbidden: User "test-admin" cannot list resource "pods" in API group "" at the cluster scope"#,
        ),
        (
            shop_pods.list(&ListParams::default()).await.unwrap_err(),
            r#"pods is forbidden: User "test-admin" cannot list resource "pods" in API group "" in the namespace "shop""#,
        ),
        (
            shop_pods
                .watch(&WatchParams::default(), "0")
                .await
                .map(|_| ())
                .unwrap_err(),
            r#"pods is forbidden: User "test-admin" cannot watch resource "pods" in API group "" in the namespace "shop""#,
        ),
        (
            shop_pods.get("web-1").await.unwrap_err(),
            r#"pods "web-1" is forbidden: User "test-admin" cannot get resource "pods" in API group "" in the namespace "shop""#,
        ),
    ];
    for (error, message) in cases {
        let status = api_error(error);
        assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
        assert_eq!(status.message, message);
    }
    // Other resources are served.
    assert_eq!(
        names(&deployments.list(&ListParams::default()).await.unwrap()),
        ["web"]
    );

    cluster.forbid("deployments.apps");
    let status = api_error(deployments.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(
        status.message,
        r#"deployments.apps is forbidden: User "test-admin" cannot list resource "deployments" in API group "apps" in the namespace "shop""#
    );
    let details = status.details.unwrap();
    assert_eq!(
        (details.group.as_str(), details.kind.as_str()),
        ("apps", "deployments")
    );

    cluster.permit("pods");
    assert_eq!(
        names(&shop_pods.list(&ListParams::default()).await.unwrap()),
        ["web-1"]
    );
}
