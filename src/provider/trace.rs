//! What one request did, step by step, for `explain`: the resource it resolved, the rule the
//! registry chose, the objects it asked about, each query it sent and what became of every
//! sample that came back. The provider records into a [`Tracer`] only when it is given one, so
//! the request path does no extra work; `explain` runs the very same code with one.

use std::sync::Mutex;

use crate::prometheus::Sample;
use crate::registry::MetricSource;
use crate::resources::ResourceInfo;

/// What became of one sample of a query's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFate {
    /// Its value is served.
    Kept,
    /// Served as 0: NaN and negative usage count as 0, as metrics-server reports them.
    KeptAsZero,
    /// A later sample of the same object replaced it (the last one wins, as upstream's map).
    Replaced,
    /// An earlier sample of the same object is served instead.
    Duplicate,
    /// It has no label naming the object (the query's resource label).
    NoResourceLabel,
    /// It has no container label (resource metrics of pods).
    NoContainerLabel,
    /// It names an object that was not asked for.
    NotAsked,
    /// NaN, ±Inf or out of range: no Kubernetes quantity can hold it.
    NotANumber,
}

impl SampleFate {
    /// Whether the sample's value is served.
    pub fn kept(self) -> bool {
        matches!(self, SampleFate::Kept | SampleFate::KeptAsZero)
    }
}

/// Samples and what became of each.
pub type Fates = Vec<(Sample, SampleFate)>;

/// One query a request sent, and what came back.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryTrace {
    /// `cpu` or `memory` for resource metrics; empty otherwise.
    pub resource: &'static str,
    /// The namespace of a resource metrics query of pods.
    pub namespace: Option<String>,
    /// The PromQL.
    pub query: String,
    /// The label naming the object in each sample (custom and resource metrics).
    pub resource_label: Option<String>,
    /// The samples (a scalar as one sample without labels) and what became of each; or why
    /// there are none: Prometheus' error, or an answer that is not an instant vector.
    pub answer: Result<Fates, String>,
}

/// Everything a traced request recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    /// The resource the request names, as the cluster resolved it (custom metrics).
    pub resource: Option<ResourceInfo>,
    /// The registry's answer: the rule and series serving the metric.
    pub source: Option<MetricSource>,
    /// The registry could not say whether the metric exists: its listings failed.
    pub unavailable: bool,
    /// The objects asked about, by name (from the path, or chosen by the label selector).
    pub objects: Option<Vec<String>>,
    /// Why the objects could not be listed.
    pub list_error: Option<String>,
    /// Why no query could be built.
    pub query_error: Option<String>,
    /// The queries sent, in the order they were answered.
    pub queries: Vec<QueryTrace>,
    /// Objects with samples that were left out of the answer anyway, and why.
    pub dropped_objects: Vec<(String, String)>,
}

/// Collects a [`Trace`]; shared by the concurrent queries of one request.
#[derive(Debug, Default)]
pub struct Tracer(Mutex<Trace>);

impl Tracer {
    /// An empty tracer.
    pub fn new() -> Tracer {
        Tracer::default()
    }

    /// What was recorded.
    pub fn into_trace(self) -> Trace {
        self.0.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

/// Record into `tracer`, if there is one.
pub(super) fn record(tracer: Option<&Tracer>, change: impl FnOnce(&mut Trace)) {
    if let Some(tracer) = tracer {
        change(&mut tracer.0.lock().unwrap_or_else(|p| p.into_inner()));
    }
}
