//! Faults the double injects on cue, each switchable while a client is connected: the API hung
//! (connections accepted, nothing answered, for every path or only for the reviews, until the
//! hang is lifted), stopped and started again on the same port with the same store, watch
//! resumes answered `410 Gone` after the history is compacted, watch streams cut at once or
//! after N events, slow or failing `TokenReview`/`SubjectAccessReview`, and reads of one
//! resource type refused with RBAC's `403 Forbidden`.
//!
//! Each fault imitates what kube-apiserver (or the network in front of it) really does, in its
//! wire format, so a test observes the adapter's reaction, not the double's invention.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::Response;
use http::StatusCode;
use serde_json::json;
use tokio::net::TcpListener;

use super::catalog::ResourceType;
use super::server::{json_response, status};
use super::{KubeDouble, Shared, UserInfo, lock};

/// Which requests a hang holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hang {
    /// Every request, on every path.
    Everything,
    /// `TokenReview` and `SubjectAccessReview` creations only; reads are answered.
    Reviews,
}

/// Which review calls a delay or a failure applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reviews {
    /// `TokenReview` creations.
    Token,
    /// `SubjectAccessReview` creations.
    SubjectAccess,
    Both,
}

/// The review a request creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewKind {
    Token,
    SubjectAccess,
}

impl Reviews {
    fn covers(self, kind: ReviewKind) -> bool {
        matches!(
            (self, kind),
            (Reviews::Both, _)
                | (Reviews::Token, ReviewKind::Token)
                | (Reviews::SubjectAccess, ReviewKind::SubjectAccess)
        )
    }
}

/// How a watch from a compacted (too old) resourceVersion is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoneAs {
    /// HTTP 200 and one `ERROR` event carrying a `Status` with code 410, reason `Expired`: what
    /// kube-apiserver's watch cache sends.
    ErrorEvent,
    /// The request itself answered `410 Gone` with that `Status`.
    HttpStatus,
}

/// The faults in force; part of the double's shared state.
pub struct Faults {
    /// The hang in force; a change wakes the held requests.
    hang: tokio::sync::watch::Sender<Option<Hang>>,
    review_delay: Mutex<Option<(Reviews, Duration)>>,
    review_failure: Mutex<Option<Reviews>>,
    /// Resources (`pods`, `deployments.apps`) whose reads are refused with 403.
    forbidden: Mutex<BTreeSet<String>>,
    /// Bumped to cut every open watch stream.
    cuts: tokio::sync::watch::Sender<u64>,
    /// Watch streams opened from now on end abruptly after this many lines.
    cut_after: Mutex<Option<usize>>,
    /// How watches from before the compaction point are refused.
    gone_as: Mutex<GoneAs>,
    open_watches: AtomicUsize,
    /// Stops the accept loop and closes its connections.
    shutdown: tokio::sync::watch::Sender<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            hang: tokio::sync::watch::Sender::new(None),
            review_delay: Mutex::new(None),
            review_failure: Mutex::new(None),
            forbidden: Mutex::new(BTreeSet::new()),
            cuts: tokio::sync::watch::Sender::new(0),
            cut_after: Mutex::new(None),
            gone_as: Mutex::new(GoneAs::ErrorEvent),
            open_watches: AtomicUsize::new(0),
            shutdown: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl Faults {
    /// Holds a request while a hang covering it is in force (returns when it is lifted).
    pub async fn hold_if_hung(&self, review: Option<ReviewKind>) {
        let covered = |hang: &Option<Hang>| match hang {
            Some(Hang::Everything) => true,
            Some(Hang::Reviews) => review.is_some(),
            None => false,
        };
        let mut hang = self.hang.subscribe();
        // The sender lives as long as the double, so this ends only when the hang is lifted.
        let _ = hang.wait_for(|h| !covered(h)).await;
    }

    /// The delay and then the failure a review call gets, if any: `None` lets it through.
    pub async fn review_fault(&self, kind: ReviewKind) -> Option<Response> {
        let delay = *lock(&self.review_delay);
        if let Some((which, delay)) = delay
            && which.covers(kind)
        {
            tokio::time::sleep(delay).await;
        }
        let failing = lock(&self.review_failure).is_some_and(|which| which.covers(kind));
        // kube-apiserver's answer when its own call fails: a 500 InternalError Status.
        failing.then(|| {
            status(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "Internal error occurred: the review failed (fault injected by the test)",
            )
        })
    }

    /// RBAC's refusal of `verb` on `rt` (its `subresource`, object `name`, `namespace`) for
    /// `user`, if the test forbade the resource.
    pub fn refusal(
        &self,
        user: &UserInfo,
        verb: &str,
        rt: &ResourceType,
        subresource: Option<&str>,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Option<Response> {
        if !lock(&self.forbidden).contains(&qualified(rt)) {
            return None;
        }
        let mut resource = rt.plural.clone();
        if let Some(sub) = subresource {
            resource = format!("{resource}/{sub}");
        }
        let subject = match name {
            Some(name) => format!("{} \"{name}\"", qualified(rt)),
            None => qualified(rt),
        };
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_string(),
        };
        let message = format!(
            "{subject} is forbidden: User \"{}\" cannot {verb} resource \"{resource}\" in API group \"{}\" {scope}",
            user.username, rt.group
        );
        let mut details = json!({"kind": rt.plural});
        if let Some(name) = name {
            details["name"] = json!(name);
        }
        if !rt.group.is_empty() {
            details["group"] = json!(rt.group);
        }
        Some(json_response(
            StatusCode::FORBIDDEN,
            &json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": message,
                "reason": "Forbidden",
                "details": details,
                "code": 403,
            }),
        ))
    }

    /// A receiver that changes when open watch streams must be cut.
    pub fn cuts(&self) -> tokio::sync::watch::Receiver<u64> {
        self.cuts.subscribe()
    }

    /// After how many lines a watch opened now is cut.
    pub fn cut_after(&self) -> Option<usize> {
        *lock(&self.cut_after)
    }

    pub fn gone_as(&self) -> GoneAs {
        *lock(&self.gone_as)
    }

    /// A receiver that changes when the server must stop.
    pub fn shutdown(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shutdown.subscribe()
    }
}

/// Counts one open watch stream while alive.
pub struct OpenWatch(Arc<Shared>);

impl OpenWatch {
    pub fn new(shared: &Arc<Shared>) -> OpenWatch {
        shared.faults.open_watches.fetch_add(1, Ordering::SeqCst);
        OpenWatch(shared.clone())
    }
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0.faults.open_watches.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `pods`, `deployments.apps`, `models.mlops.seldon.io`: how RBAC messages name a resource.
fn qualified(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        rt.plural.clone()
    } else {
        format!("{}.{}", rt.plural, rt.group)
    }
}

/// The faults, as a test sets them.
impl KubeDouble {
    fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Hangs the API: connections are accepted and requests read (and recorded), but those
    /// `which` covers get no answer until [`KubeDouble::resume`], when they are answered as
    /// usual, the way a wedged apiserver answers once it recovers.
    pub fn hang(&self, which: Hang) {
        self.faults().hang.send_replace(Some(which));
    }

    /// Lifts a hang; the held requests are answered now.
    pub fn resume(&self) {
        self.faults().hang.send_replace(None);
    }

    /// Delays `which` review calls by `delay` before they are answered (or failed);
    /// `Duration::ZERO` clears the delay.
    pub fn slow_reviews(&self, which: Reviews, delay: Duration) {
        *lock(&self.faults().review_delay) = (!delay.is_zero()).then_some((which, delay));
    }

    /// Fails `which` review calls with kube-apiserver's `500 InternalError` Status; `None`
    /// answers them again.
    pub fn fail_reviews(&self, which: Option<Reviews>) {
        *lock(&self.faults().review_failure) = which;
    }

    /// Refuses every read (get, list, watch) of `resource` (`pods`, `deployments.apps`,
    /// `models.mlops.seldon.io`) with `403 Forbidden`, as RBAC does for a missing role: a
    /// Status with reason `Forbidden` whose message names the verb, the resource and the user.
    pub fn forbid(&self, resource: &str) {
        lock(&self.faults().forbidden).insert(resource.to_string());
    }

    /// Serves `resource` again after [`KubeDouble::forbid`].
    pub fn permit(&self, resource: &str) {
        lock(&self.faults().forbidden).remove(resource);
    }

    /// Cuts every open watch stream at once: the connection closes mid-response, without the
    /// chunked encoding's last chunk, as when an apiserver or a load balancer in front of it
    /// goes away.
    pub fn cut_watches(&self) {
        self.faults()
            .cuts
            .send_modify(|generation| *generation += 1);
    }

    /// Cuts every watch stream opened from now on after `events` lines (events and
    /// bookmarks, the initial ADDED events included); `None` lets them run.
    pub fn cut_watches_after(&self, events: Option<usize>) {
        *lock(&self.faults().cut_after) = events;
    }

    /// Compacts the history as etcd does: a watch that resumes from any resourceVersion up to
    /// now is refused with `410 Gone` (reason `Expired`, "too old resource version"), in the
    /// way `answer` says. The store moves to a new version, so a client that lists again and
    /// watches from the list's version is served.
    pub fn expire_history(&self, answer: GoneAs) {
        *lock(&self.faults().gone_as) = answer;
        lock(&self.shared.store).compact();
        self.notify();
    }

    /// The watch streams open now.
    pub fn open_watches(&self) -> usize {
        self.faults().open_watches.load(Ordering::SeqCst)
    }

    /// Stops serving: the listening port is closed and every connection, open watches included,
    /// is dropped before this returns. The store is kept for [`KubeDouble::start_again`].
    pub async fn stop(&self) {
        let server = lock(&self.server).take();
        let Some(server) = server else {
            return;
        };
        self.faults()
            .shutdown
            .send_modify(|generation| *generation += 1);
        let _ = server.await;
    }

    /// Serves again on the same port with the same store (and faults) after
    /// [`KubeDouble::stop`]. Panics if the port was taken in the meantime.
    pub async fn start_again(&self) {
        if lock(&self.server).is_some() {
            return;
        }
        let listener = TcpListener::bind(&self.shared.address)
            .await
            .unwrap_or_else(|e| panic!("bind {} again: {e}", self.shared.address));
        let server = tokio::spawn(super::server::serve(listener, self.shared.clone()));
        *lock(&self.server) = Some(server);
    }

    /// Whether the double is serving (not stopped).
    pub fn is_serving(&self) -> bool {
        lock(&self.server).is_some()
    }
}
