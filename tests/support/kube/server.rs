//! The HTTP side of the double: one fallback handler that parses Kubernetes API paths itself
//! (`/api/v1/namespaces/{ns}/pods/{name}`, `/apis/{g}/{v}/...`), because the aggregated-API
//! proxy needs arbitrary subpaths and the namespaced/cluster-scoped shapes overlap
//! (`/api/v1/namespaces/{name}` is a Namespace, `/api/v1/namespaces/{ns}/pods` a pod list).
//!
//! Unlike `axum::serve`, the accept loop keeps its connection tasks in a `JoinSet`, so aborting
//! the server task also ends open watches, and a stop closes the port and every connection
//! before it returns.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderValue, Method, StatusCode, header};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::super::label_match::Selector;
use super::catalog::{self, ResourceType, ScaleSelector};
use super::faults::{GoneAs, OpenWatch, ReviewKind};
use super::store::{Change, FieldSelector, Filter, StoredEvent};
use super::{RecordedRequest, Shared, UserInfo, lock, proxy, reviews};

/// A watch without `timeoutSeconds` ends after this long (kube-apiserver picks 30-60 min).
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);
/// Longer `timeoutSeconds` are cut to this (and cannot overflow the clock).
const MAX_WATCH_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// How often an idle watch that allows bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(5);

/// Serves `shared` on `listener` until the returned future is dropped or a stop is asked for
/// (then the listener and every connection are closed before it returns).
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut shutdown = shared.faults.shutdown();
    let router = Router::new().fallback(handle).with_state(shared);
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let Ok((stream, _)) = accepted else {
            // Out of file descriptors, say: do not spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        while connections.try_join_next().is_some() {}
        let service = TowerToHyperService::new(router.clone());
        connections.spawn(async move {
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    drop(listener);
    connections.shutdown().await;
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    lock(&shared.requests).push(RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: raw_query.clone(),
        accept: accept.clone(),
    });

    let segments: Vec<String> = parts
        .uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let review = match segs.as_slice() {
        ["apis", "authentication.k8s.io", "v1", "tokenreviews"] => Some(ReviewKind::Token),
        ["apis", "authorization.k8s.io", "v1", "subjectaccessreviews"] => {
            Some(ReviewKind::SubjectAccess)
        }
        _ => None,
    }
    .filter(|_| parts.method == Method::POST);
    shared.faults.hold_if_hung(review).await;

    let user = match super::authenticate(&shared, &parts.headers) {
        Ok(user) => user,
        Err(()) => return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized"),
    };

    // The aggregator proxies every method of a registered group-version.
    if let ["apis", group, version, ..] = segs.as_slice()
        && let Some(service) = super::api_service(&shared, group, version)
    {
        let body = axum::body::to_bytes(body, 16 << 20)
            .await
            .unwrap_or_default();
        return proxy::forward(&service, &parts, &segs, &raw_query, body, &user).await;
    }

    if parts.method == Method::POST {
        let body = axum::body::to_bytes(body, 16 << 20)
            .await
            .unwrap_or_default();
        let Some(kind) = review else {
            return method_not_allowed(&parts.method);
        };
        if let Some(failure) = shared.faults.review_fault(kind).await {
            return failure;
        }
        return match kind {
            ReviewKind::Token => reviews::token_review(&shared, &body),
            ReviewKind::SubjectAccess => reviews::subject_access_review(&shared, &body),
        };
    }
    if parts.method != Method::GET {
        return method_not_allowed(&parts.method);
    }

    let query = parse_query(&raw_query);
    match segs.as_slice() {
        ["version"] => ok_json(catalog::version()),
        ["api"] => ok_json(catalog::api_versions(&shared.address)),
        ["apis"] => {
            let resources = lock(&shared.catalog).clone();
            ok_json(catalog::api_group_list(&resources, &proxied(&shared)))
        }
        ["apis", group] => {
            let resources = lock(&shared.catalog).clone();
            match catalog::api_group(&resources, &proxied(&shared), group) {
                Some(doc) => ok_json(doc),
                None => not_found_path(),
            }
        }
        ["api", version, rest @ ..] => {
            resource_request(&shared, &user, "", version, rest, &query, &accept)
        }
        ["apis", group, version, rest @ ..] => {
            resource_request(&shared, &user, group, version, rest, &query, &accept)
        }
        _ => not_found_path(),
    }
}

/// The group-versions served by registered API services.
fn proxied(shared: &Shared) -> Vec<(String, String)> {
    lock(&shared.services)
        .iter()
        .map(|s| (s.group.clone(), s.version.clone()))
        .collect()
}

/// What a resource path asks for, once the group-version prefix is stripped.
enum Target<'a> {
    Collection {
        namespace: Option<&'a str>,
    },
    Object {
        namespace: &'a str,
        name: &'a str,
        subresource: Option<&'a str>,
    },
}

fn resource_request(
    shared: &Arc<Shared>,
    user: &UserInfo,
    group: &str,
    version: &str,
    rest: &[&str],
    query: &[(String, String)],
    accept: &str,
) -> Response {
    let resources = lock(&shared.catalog).clone();
    let find = |plural: &str| {
        resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
            .cloned()
    };
    // `namespaces/{ns}/{plural}...` when `{plural}` is a namespaced type of this group-version;
    // otherwise the path is about a cluster-scoped `namespaces` object or another type.
    let namespaced = match rest {
        ["namespaces", ns, plural, tail @ ..] => find(plural)
            .filter(|rt| rt.namespaced)
            .map(|rt| (rt, *ns, tail)),
        _ => None,
    };
    let (rt, target) = match (namespaced, rest) {
        (Some((rt, ns, [])), _) => (
            rt,
            Target::Collection {
                namespace: Some(ns),
            },
        ),
        (Some((rt, ns, [name])), _) => (
            rt,
            Target::Object {
                namespace: ns,
                name,
                subresource: None,
            },
        ),
        (Some((rt, ns, [name, sub])), _) => (
            rt,
            Target::Object {
                namespace: ns,
                name,
                subresource: Some(sub),
            },
        ),
        (Some(_), _) => return not_found_path(),
        (None, []) => {
            return match catalog::api_resource_list(&resources, group, version) {
                Some(doc) => ok_json(doc),
                None => not_found_path(),
            };
        }
        (None, [plural, tail @ ..]) => {
            let Some(rt) = find(plural) else {
                return not_found_path();
            };
            match (rt.namespaced, tail) {
                (_, []) => (rt, Target::Collection { namespace: None }),
                (false, [name]) => (
                    rt,
                    Target::Object {
                        namespace: "",
                        name,
                        subresource: None,
                    },
                ),
                (false, [name, sub]) => (
                    rt,
                    Target::Object {
                        namespace: "",
                        name,
                        subresource: Some(sub),
                    },
                ),
                _ => return not_found_path(),
            }
        }
    };

    match target {
        Target::Collection { namespace } => {
            let is_watch = param(query, "watch").is_some_and(|w| w == "true" || w == "1");
            let verb = if is_watch { "watch" } else { "list" };
            if let Some(refusal) = shared
                .faults
                .refusal(user, verb, &rt, None, namespace, None)
            {
                return refusal;
            }
            let filter = match filter(&rt, namespace, query) {
                Ok(filter) => filter,
                Err(message) => return status(StatusCode::BAD_REQUEST, "BadRequest", &message),
            };
            let Some(wanted) = negotiate(accept, !is_watch) else {
                return not_acceptable(accept);
            };
            if is_watch {
                watch(shared, rt, filter, wanted, query)
            } else {
                list(shared, &rt, &filter, wanted)
            }
        }
        Target::Object {
            namespace,
            name,
            subresource,
        } => {
            let scope = rt.namespaced.then_some(namespace);
            if let Some(refusal) =
                shared
                    .faults
                    .refusal(user, "get", &rt, subresource, scope, Some(name))
            {
                return refusal;
            }
            let Some(wanted) = negotiate(accept, false) else {
                return not_acceptable(accept);
            };
            let object = lock(&shared.store).get(&rt, namespace, name).cloned();
            let Some(object) = object else {
                return object_not_found(&rt, name);
            };
            match subresource {
                None => ok_json(render_object(&object, wanted)),
                Some("scale") if rt.scale.is_some() => ok_json(scale(&rt, &object)),
                Some(_) => not_found_path(),
            }
        }
    }
}

fn filter(
    rt: &ResourceType,
    namespace: Option<&str>,
    query: &[(String, String)],
) -> Result<Filter, String> {
    let labels = Selector::parse(param(query, "labelSelector").unwrap_or(""))
        .map_err(|e| format!("unable to parse requirement: {e}"))?;
    let fields = FieldSelector::parse(param(query, "fieldSelector").unwrap_or(""), rt)?;
    Ok(Filter {
        namespace: namespace.map(str::to_string),
        labels,
        fields,
    })
}

/// The representation a client asked for in `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    /// The objects themselves (`application/json`, `*/*`).
    Full,
    /// `as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1`: objects reduced to `metadata`.
    Metadata,
}

/// kube-apiserver's negotiation, reduced to JSON: the first media range the endpoint can
/// produce wins; `as=PartialObjectMetadataList` is only for lists, `as=PartialObjectMetadata`
/// only for single objects and watch events, `as=Table` and non-JSON types are skipped.
fn negotiate(accept: &str, is_list: bool) -> Option<Wanted> {
    if accept.trim().is_empty() {
        return Some(Wanted::Full);
    }
    accept.split(',').find_map(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
        let get = |k: &str| params.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        match media {
            "*/*" | "application/*" => Some(Wanted::Full),
            "application/json" => match (get("as"), get("g"), get("v")) {
                (None, _, _) => Some(Wanted::Full),
                (Some("PartialObjectMetadataList"), Some("meta.k8s.io"), Some("v1")) if is_list => {
                    Some(Wanted::Metadata)
                }
                (Some("PartialObjectMetadata"), Some("meta.k8s.io"), Some("v1")) if !is_list => {
                    Some(Wanted::Metadata)
                }
                _ => None,
            },
            _ => None,
        }
    })
}

/// A single object as GET and watch events show it.
fn render_object(object: &Value, wanted: Wanted) -> Value {
    match wanted {
        Wanted::Full => object.clone(),
        Wanted::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": object["metadata"],
        }),
    }
}

fn list(shared: &Shared, rt: &ResourceType, filter: &Filter, wanted: Wanted) -> Response {
    let (items, rv) = {
        let store = lock(&shared.store);
        (store.list(rt, filter), store.resource_version())
    };
    let metadata = json!({"resourceVersion": rv.to_string()});
    match wanted {
        Wanted::Full => {
            let items: Vec<Value> = items
                .into_iter()
                .map(|mut item| {
                    // Built-in types are listed without per-item type fields; custom resources
                    // (unstructured storage) keep them.
                    if !rt.custom
                        && let Some(fields) = item.as_object_mut()
                    {
                        fields.remove("apiVersion");
                        fields.remove("kind");
                    }
                    item
                })
                .collect();
            ok_json(json!({
                "kind": format!("{}List", rt.kind),
                "apiVersion": rt.api_version(),
                "metadata": metadata,
                "items": items,
            }))
        }
        Wanted::Metadata => {
            let items: Vec<Value> = items
                .iter()
                .map(|item| render_object(item, Wanted::Metadata))
                .collect();
            ok_json(json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": metadata,
                "items": items,
            }))
        }
    }
}

/// The `autoscaling/v1` Scale of a workload, as the HPA controller reads it.
fn scale(rt: &ResourceType, object: &Value) -> Value {
    let Some(paths) = rt.scale else {
        return Value::Null;
    };
    let replicas = |pointer: &str| object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0);
    let selector = match paths.selector {
        ScaleSelector::LabelSelectorAt(pointer) => {
            object.pointer(pointer).and_then(format_label_selector)
        }
        ScaleSelector::StringAt(pointer) => object
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    let meta = &object["metadata"];
    let mut status = json!({"replicas": replicas(paths.status_replicas)});
    if let Some(selector) = selector {
        status["selector"] = json!(selector);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": replicas(paths.spec_replicas)},
        "status": status,
    })
}

/// apimachinery's `FormatLabelSelector`: the selector string of a `metav1.LabelSelector`,
/// requirements sorted by key (done by re-parsing with the doubles' own selector).
fn format_label_selector(selector: &Value) -> Option<String> {
    let mut terms: Vec<String> = Vec::new();
    for (key, value) in selector["matchLabels"].as_object().into_iter().flatten() {
        terms.push(format!("{key}={}", value.as_str()?));
    }
    for expr in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = expr["key"].as_str()?;
        let values: Vec<&str> = expr["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        terms.push(match expr["operator"].as_str()? {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => return None,
        });
    }
    Selector::parse(&terms.join(","))
        .ok()
        .map(|s| s.to_string())
}

/// State of one watch response stream.
struct WatchStream {
    shared: Arc<Shared>,
    /// Changes when the test cuts open watches.
    cuts: tokio::sync::watch::Receiver<u64>,
    /// Cut after this many lines.
    cut_after: Option<usize>,
    /// Lines sent so far.
    sent: usize,
    /// Set once the stream was cut: nothing more comes.
    cut: bool,
    _open: OpenWatch,
    rt: ResourceType,
    filter: Filter,
    wanted: Wanted,
    /// Version up to which the history has been read.
    rv: u64,
    pending: VecDeque<Bytes>,
    changes: tokio::sync::watch::Receiver<u64>,
    deadline: Instant,
    next_bookmark: Option<Instant>,
}

fn watch(
    shared: &Arc<Shared>,
    rt: ResourceType,
    filter: Filter,
    wanted: Wanted,
    query: &[(String, String)],
) -> Response {
    let bookmarks = param(query, "allowWatchBookmarks") == Some("true");
    let send_initial = param(query, "sendInitialEvents") == Some("true");
    let timeout = param(query, "timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_WATCH_TIMEOUT);
    let start = match param(query, "resourceVersion").unwrap_or("") {
        "" | "0" => None,
        rv => match rv.parse::<u64>() {
            Ok(rv) => Some(rv),
            Err(_) => {
                let message = format!("invalid resource version: {rv:?}");
                return status(StatusCode::BAD_REQUEST, "BadRequest", &message);
            }
        },
    };

    if let Some(rv) = start.filter(|_| !send_initial) {
        let oldest = lock(&shared.store).oldest_watchable();
        if rv < oldest {
            return gone(rv, oldest, shared.faults.gone_as());
        }
    }

    let mut changes = shared.changes.subscribe();
    changes.borrow_and_update();
    let mut stream = WatchStream {
        shared: shared.clone(),
        cuts: shared.faults.cuts(),
        cut_after: shared.faults.cut_after(),
        sent: 0,
        cut: false,
        _open: OpenWatch::new(shared),
        rt,
        filter,
        wanted,
        rv: 0,
        pending: VecDeque::new(),
        changes,
        deadline: Instant::now() + timeout.min(MAX_WATCH_TIMEOUT),
        next_bookmark: bookmarks.then(|| Instant::now() + BOOKMARK_INTERVAL),
    };
    match start {
        Some(rv) if !send_initial => stream.rv = rv,
        // No version (or 0): "get state and start at most recent": synthetic ADDED events for
        // what exists now. The same for `sendInitialEvents`, which then ends the initial
        // state with a bookmark annotated `k8s.io/initial-events-end`.
        _ => {
            let (objects, rv) = {
                let store = lock(&shared.store);
                (
                    store.list(&stream.rt, &stream.filter),
                    store.resource_version(),
                )
            };
            stream.rv = rv;
            for object in &objects {
                stream.push("ADDED", render_object(object, wanted));
            }
            if send_initial && bookmarks {
                let mut mark = stream.bookmark();
                mark["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
                stream.push("BOOKMARK", mark);
            }
        }
    }

    let body = futures::stream::unfold(stream, |mut stream| async move {
        let line = stream.next_line().await?;
        Some((line, stream))
    });
    let mut response = Response::new(Body::from_stream(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

impl WatchStream {
    fn push(&mut self, kind: &str, object: Value) {
        let mut line =
            serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
        line.push(b'\n');
        self.pending.push_back(Bytes::from(line));
    }

    /// A bookmark at the version read so far: only type fields and `resourceVersion`.
    fn bookmark(&self) -> Value {
        let (api_version, kind) = match self.wanted {
            Wanted::Full => (self.rt.api_version(), self.rt.kind.clone()),
            Wanted::Metadata => ("meta.k8s.io/v1".into(), "PartialObjectMetadata".into()),
        };
        json!({
            "kind": kind,
            "apiVersion": api_version,
            "metadata": {"resourceVersion": self.rv.to_string(), "creationTimestamp": null},
        })
    }

    /// What this watch shows of a stored change: an object that leaves the filter on update
    /// is DELETED for it, one that enters is ADDED.
    fn translate(&self, event: &StoredEvent) -> Option<&'static str> {
        let now = self.filter.matches(&event.object);
        match event.change {
            Change::Added => now.then_some("ADDED"),
            Change::Deleted => now.then_some("DELETED"),
            Change::Modified => {
                let before = event
                    .previous
                    .as_ref()
                    .is_some_and(|p| self.filter.matches(p));
                match (before, now) {
                    (true, true) => Some("MODIFIED"),
                    (false, true) => Some("ADDED"),
                    (true, false) => Some("DELETED"),
                    (false, false) => None,
                }
            }
        }
    }

    /// Ends the stream with an error: hyper drops the connection without the last chunk.
    /// Yields first, so hyper flushes what was sent before (it discards its unsent buffer on
    /// a body error) and the client gets every event up to the cut.
    async fn cut_here(&mut self) -> Result<Bytes, std::io::Error> {
        self.cut = true;
        tokio::task::yield_now().await;
        Err(std::io::Error::other("watch stream cut by the test"))
    }

    /// The next line of the stream, waiting for a change, a bookmark or the deadline; an error
    /// (which makes hyper drop the connection mid-response) when the test cuts the stream.
    async fn next_line(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        loop {
            if self.cut {
                return None;
            }
            let cut_now = self.cuts.has_changed().unwrap_or(false)
                || self.cut_after.is_some_and(|n| self.sent >= n);
            if cut_now {
                return Some(self.cut_here().await);
            }
            if let Some(line) = self.pending.pop_front() {
                self.sent += 1;
                return Some(Ok(line));
            }
            if Instant::now() >= self.deadline {
                return None;
            }
            self.changes.borrow_and_update();
            let (events, rv) = {
                let store = lock(&self.shared.store);
                (
                    store.events_after(&self.rt, self.rv),
                    store.resource_version(),
                )
            };
            self.rv = self.rv.max(rv);
            for event in &events {
                if let Some(kind) = self.translate(event) {
                    self.push(kind, render_object(&event.object, self.wanted));
                }
            }
            if !self.pending.is_empty() {
                continue;
            }
            let bookmark_at = self.next_bookmark.unwrap_or(self.deadline);
            tokio::select! {
                changed = self.changes.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                _ = self.cuts.changed() => return Some(self.cut_here().await),
                _ = tokio::time::sleep_until(self.deadline) => {}
                _ = tokio::time::sleep_until(bookmark_at), if self.next_bookmark.is_some() => {
                    self.next_bookmark = Some(Instant::now() + BOOKMARK_INTERVAL);
                    let mark = self.bookmark();
                    self.push("BOOKMARK", mark);
                }
            }
        }
    }
}

/// The refusal of a watch from a compacted version `rv`, as kube-apiserver words it.
fn gone(rv: u64, oldest: u64, answer: GoneAs) -> Response {
    let message = format!("too old resource version: {rv} ({oldest})");
    match answer {
        GoneAs::HttpStatus => status(StatusCode::GONE, "Expired", &message),
        GoneAs::ErrorEvent => {
            let event = json!({
                "type": "ERROR",
                "object": {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": message,
                    "reason": "Expired",
                    "code": 410,
                },
            });
            let mut line = serde_json::to_vec(&event).unwrap_or_default();
            line.push(b'\n');
            let mut response = Response::new(Body::from(line));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
    }
}

/// Query pairs, `+` and `%XX` decoded; empty pairs (kube-rs sends `?&watch=true`) skipped.
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s)
            .decode_utf8_lossy()
            .into_owned()
    };
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

fn param<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn ok_json(value: Value) -> Response {
    json_response(StatusCode::OK, &value)
}

pub fn json_response(code: StatusCode, value: &Value) -> Response {
    let mut response = Response::new(Body::from(serde_json::to_vec(value).unwrap_or_default()));
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A `Status` failure, the shape of every error kube-apiserver returns.
pub fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    status_with_details(code, reason, message, None)
}

fn status_with_details(
    code: StatusCode,
    reason: &str,
    message: &str,
    details: Option<Value>,
) -> Response {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    if let Some(details) = details {
        body["details"] = details;
    }
    json_response(code, &body)
}

fn not_found_path() -> Response {
    status_with_details(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource",
        Some(json!({})),
    )
}

fn object_not_found(rt: &ResourceType, name: &str) -> Response {
    let resource = if rt.group.is_empty() {
        rt.plural.clone()
    } else {
        format!("{}.{}", rt.plural, rt.group)
    };
    let mut details = json!({"name": name, "kind": rt.plural});
    if !rt.group.is_empty() {
        details["group"] = json!(rt.group);
    }
    status_with_details(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{resource} \"{name}\" not found"),
        Some(details),
    )
}

fn method_not_allowed(method: &Method) -> Response {
    status(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        &format!("the server does not allow this method on the requested resource ({method})"),
    )
}

fn not_acceptable(accept: &str) -> Response {
    status(
        StatusCode::NOT_ACCEPTABLE,
        "NotAcceptable",
        &format!(
            "only the following media types are accepted: application/json (asked for {accept:?})"
        ),
    )
}
