//! Tests of the Kubernetes API double against the clients that will use it: kube-rs (typed,
//! dynamic, metadata-only, watchers, discovery), the real kubectl, and an HTTPS upstream behind
//! the aggregator proxy.

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
    assert_eq!(
        raw["items"][0]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["apiVersion", "kind", "metadata"]
    );

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
    assert!(!discovery.has_group("keda.sh"));

    cluster.add_resource(ResourceType::custom(
        "keda.sh",
        "v1alpha1",
        "scaledobjects",
        "ScaledObject",
        true,
    ));
    let again = Discovery::new(client).run().await.unwrap();
    let (scaled, _) = again
        .get("keda.sh")
        .and_then(|g| g.recommended_kind("ScaledObject"))
        .expect("the CRD added after start is discovered");
    assert_eq!(scaled.plural, "scaledobjects");
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
