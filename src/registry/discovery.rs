//! How a relist learns, per series query, which metric names exist and which labels naming a
//! resource each one carries.
//!
//! prometheus-adapter lists every series (`/api/v1/series`): at 300,000 series that is tens of
//! megabytes and seconds of Prometheus CPU, for an answer of a few hundred names. In `labels` mode
//! (the default) the same answer comes from the label APIs, in a number of calls that depends on
//! the rules, not on the series: the metric names of the query; if some resource a rule can map
//! is not already carried by every series (the query's own `pod!=""` needs no question), the
//! label names of the query; and for each label present that names such a resource, the metric
//! names of the query narrowed with `label!=""`. A metric then carries every label the query
//! requires plus those its narrowed queries found, which gives exactly the metrics, resources and
//! scopes that listing every series gives: the registry maps each label of a series on its own, so
//! it only matters whether some series of a metric carries a label, and labels that name a
//! resource a required label already names add nothing. A backend that does not serve the label
//! API (404, 405, 501) or ignores its `match[]` makes discovery list series from then on, with one
//! warning.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use futures::future::join_all;

use crate::prometheus::{self, PrometheusClient, SeriesInfo, Transfer};
use crate::promql::SeriesSelector;
use crate::resources::GroupResource;
use crate::rules::naming::LabelIndex;

/// How discovery asks Prometheus (`--discovery-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiscoveryMode {
    /// The label APIs with `match[]` (the default).
    #[default]
    Labels,
    /// `/api/v1/series`, as prometheus-adapter: for backends whose label APIs ignore `match[]`.
    Series,
}

impl DiscoveryMode {
    /// The flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            DiscoveryMode::Labels => "labels",
            DiscoveryMode::Series => "series",
        }
    }
}

impl FromStr for DiscoveryMode {
    type Err = String;
    fn from_str(text: &str) -> Result<DiscoveryMode, String> {
        match text {
            "labels" => Ok(DiscoveryMode::Labels),
            "series" => Ok(DiscoveryMode::Series),
            other => Err(format!(
                "unknown discovery mode {other:?}; use \"labels\" or \"series\""
            )),
        }
    }
}

/// Set once the backend has refused the label API; shared by every registry of the process, so
/// the fallback survives a rules reload and is logged once.
#[derive(Debug, Clone, Default)]
pub struct LabelApiRefused(Arc<AtomicBool>);

impl LabelApiRefused {
    /// Whether the label API was refused.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Record a refusal; the first one is logged.
    fn set(&self, reason: &str) {
        if !self.0.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                %reason,
                "the Prometheus backend does not serve the label API with match[]; discovery lists every series from now on, as with --discovery-mode=series"
            );
        }
    }
}

/// Discovery settings.
#[derive(Debug, Clone, Default)]
pub struct DiscoveryOptions {
    /// `--discovery-mode`.
    pub mode: DiscoveryMode,
    /// Timeout of each call a relist makes (`--prometheus-discovery-timeout`).
    pub timeout: Duration,
    /// Whether the backend refused the label API.
    pub refused: LabelApiRefused,
}

impl DiscoveryOptions {
    /// The mode in effect, for the log: `labels`, `series`, or `series (fallback)`.
    pub fn effective(&self) -> &'static str {
        match (self.mode, self.refused.is_set()) {
            (DiscoveryMode::Series, _) => "series",
            (DiscoveryMode::Labels, false) => "labels",
            (DiscoveryMode::Labels, true) => "series (fallback)",
        }
    }
}

/// What one series query must answer: the label indexes of the custom rules using it, and
/// whether an external rule uses it (then every metric name counts, labels or not).
#[derive(Debug, Clone, Default)]
pub struct QueryNeeds {
    /// One per custom rule with this series query.
    pub indexes: Vec<LabelIndex>,
    /// Whether an external rule has this series query.
    pub external: bool,
}

/// The two label API questions discovery asks; a trait so the strategy can be checked against
/// generated series.
pub(crate) trait LabelApi {
    /// The label names of the series matching `selector`.
    async fn label_names(&self, selector: &str) -> Result<Vec<String>, prometheus::Error>;
    /// The metric names of the series matching `selector`.
    async fn metric_names(&self, selector: &str) -> Result<Vec<String>, prometheus::Error>;
}

/// Why the label API gave no answer.
#[derive(Debug)]
pub(crate) enum LabelsError {
    /// The call failed: the relist fails as a series call would.
    Backend(prometheus::Error),
    /// The backend does not serve the label API, or ignores `match[]`.
    Refused(String),
}

impl From<prometheus::Error> for LabelsError {
    fn from(e: prometheus::Error) -> LabelsError {
        if e.is_unsupported() {
            LabelsError::Refused(e.to_string())
        } else {
            LabelsError::Backend(e)
        }
    }
}

/// Answer `selector` through the label API: one entry per metric name, holding the labels
/// naming a resource that some of its series carry. `Ok(None)` when a label that must be asked
/// about cannot be written in a selector (the caller lists series instead).
pub(crate) async fn by_labels<A: LabelApi>(
    api: &A,
    selector: &SeriesSelector,
    needs: &QueryNeeds,
) -> Result<Option<Vec<SeriesInfo>>, LabelsError> {
    let required: Vec<&str> = selector.required_labels().collect();
    // Per rule: the resources every series of the query already names.
    let covered: Vec<HashSet<GroupResource>> = needs
        .indexes
        .iter()
        .map(|index| {
            required
                .iter()
                .filter_map(|l| index.resource_for(l))
                .map(|info| info.group_resource())
                .collect()
        })
        .collect();
    let rules = || needs.indexes.iter().zip(&covered);
    let worth_asking = |label: &str| {
        rules().any(|(index, covered)| {
            index
                .resource_for(label)
                .is_some_and(|info| !covered.contains(&info.group_resource()))
        })
    };
    let anything_uncovered = rules().any(|(index, covered)| {
        index
            .resources()
            .any(|info| !covered.contains(&info.group_resource()))
    });
    let required_mapped: BTreeSet<String> = required
        .iter()
        .filter(|l| needs.indexes.iter().any(|i| i.resource_for(l).is_some()))
        .map(|l| l.to_string())
        .collect();

    let mut questions: Vec<(String, String)> = Vec::new();
    if anything_uncovered {
        let mut labels = api.label_names(selector.text()).await?;
        labels.sort_unstable();
        labels.dedup();
        for label in labels {
            if label == "__name__" || !worth_asking(&label) {
                continue;
            }
            match selector.with_label(&label) {
                Some(narrowed) => questions.push((label, narrowed)),
                None => return Ok(None),
            }
        }
    }
    let every_name = needs.external || !required_mapped.is_empty();
    let all_names = async {
        if every_name {
            api.metric_names(selector.text()).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let per_label = join_all(
        questions
            .iter()
            .map(|(_, narrowed)| api.metric_names(narrowed)),
    );
    let (all_names, per_label) = futures::join!(all_names, per_label);

    let ignores_match = |name: &str| {
        LabelsError::Refused(format!(
            "asked for the metric names of {:?}, the backend answered {name:?}: it ignores match[]",
            selector.text()
        ))
    };
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for name in all_names?.unwrap_or_default() {
        if !selector.admits_name(&name) {
            return Err(ignores_match(&name));
        }
        found
            .entry(name)
            .or_default()
            .extend(required_mapped.iter().cloned());
    }
    for ((label, _), names) in questions.iter().zip(per_label) {
        for name in names? {
            if !selector.admits_name(&name) {
                return Err(ignores_match(&name));
            }
            found.entry(name).or_default().insert(label.clone());
        }
    }
    Ok(Some(
        found
            .into_iter()
            .map(|(name, labels)| SeriesInfo { name, labels })
            .collect(),
    ))
}

/// The label API of a real backend, for one relist's window, timeout and byte count.
struct PrometheusLabels<'a> {
    client: &'a PrometheusClient,
    start: SystemTime,
    timeout: Duration,
    transfer: &'a Transfer,
}

impl LabelApi for PrometheusLabels<'_> {
    async fn label_names(&self, selector: &str) -> Result<Vec<String>, prometheus::Error> {
        self.client
            .label_names(selector, self.start, self.timeout, self.transfer)
            .await
    }

    async fn metric_names(&self, selector: &str) -> Result<Vec<String>, prometheus::Error> {
        self.client
            .metric_names(selector, self.start, self.timeout, self.transfer)
            .await
    }
}

/// What `query` finds since `start`: through the label API in `labels` mode (falling back to
/// listing series for a query that is not a plain selector, and for good once the backend
/// refuses the label API), else by listing series.
pub(crate) async fn discover(
    client: &PrometheusClient,
    options: &DiscoveryOptions,
    query: &str,
    needs: &QueryNeeds,
    start: SystemTime,
    timeout: Duration,
    transfer: &Transfer,
) -> Result<Vec<SeriesInfo>, prometheus::Error> {
    if options.mode == DiscoveryMode::Labels && !options.refused.is_set() {
        match SeriesSelector::parse(query) {
            Ok(selector) => {
                let api = PrometheusLabels {
                    client,
                    start,
                    timeout,
                    transfer,
                };
                match by_labels(&api, &selector, needs).await {
                    Ok(Some(found)) => return Ok(found),
                    Ok(None) => tracing::debug!(
                        series_query = %query,
                        "a label to ask about cannot be written in a selector; listing series"
                    ),
                    Err(LabelsError::Backend(e)) => return Err(e),
                    Err(LabelsError::Refused(reason)) => options.refused.set(&reason),
                }
            }
            Err(e) => tracing::debug!(
                series_query = %query,
                error = %e,
                "not a plain series selector; listing its series"
            ),
        }
    }
    client.series(query, start, timeout, transfer).await
}

#[cfg(test)]
mod tests;
