//! Which metrics exist: prometheus-adapter's relist loop, plus on-miss discovery.
//!
//! Every relist answers each distinct `seriesQuery` once (start = now - max-age), through the
//! label APIs or by listing series (see `discovery.rs`), and rebuilds the registry from scratch;
//! it is all or nothing per API (custom, external): when a call fails the previous registry is
//! kept. Unlike prometheus-adapter, a request for a metric the registry does not know runs the
//! series queries of the rules that can produce it (each at most once per on-miss interval) and
//! admits what they find right away, so a metric whose first series appeared after the last
//! relist works on the first HPA sync.
//!
//! A metric is "not found" only when the listings that could name it succeeded: while the last
//! listing of one of its rules failed, a lookup is [`Unavailable`], which the API answers as a
//! failure. Relists and on-miss admissions publish one at a time, each from the snapshot the
//! other published.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use futures::future::join_all;
use tokio::sync::watch;

use crate::prometheus::{PrometheusClient, SeriesInfo, Transfer};
use crate::resources::{GroupResource, ResourceCatalog};
use crate::rules::{Rule, Rules};
use crate::telemetry::metrics::{ApiLabels, LookupLabels, metrics, unix_now};

mod discovery;

use discovery::QueryNeeds;
pub use discovery::{DiscoveryMode, DiscoveryOptions, LabelApiRefused};

/// A custom metric as the API names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricKey {
    /// The normalized resource.
    pub resource: GroupResource,
    /// Whether objects of the resource are namespaced.
    pub namespaced: bool,
    /// The API metric name.
    pub metric: String,
}

/// Where a metric's values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricSource {
    /// The series name (`.Series`).
    pub series: String,
    /// Index of the rule in its list.
    pub rule: usize,
}

/// An immutable view of the registry.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Custom metrics.
    pub custom: HashMap<MetricKey, MetricSource>,
    /// External metrics by name.
    pub external: HashMap<String, MetricSource>,
}

impl Snapshot {
    /// Custom metrics sorted by resource then name, for discovery documents.
    pub fn custom_sorted(&self) -> Vec<&MetricKey> {
        let mut keys: Vec<&MetricKey> = self.custom.keys().collect();
        keys.sort_by(|a, b| {
            (a.resource.to_string(), &a.metric).cmp(&(b.resource.to_string(), &b.metric))
        });
        keys
    }

    /// External metric names, sorted.
    pub fn external_sorted(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.external.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

/// Called with every new snapshot (to recompute discovery documents).
pub type Listener = Box<dyn Fn(&Snapshot) + Send + Sync>;

/// The registry in use, replaced whole when the rules file is reloaded.
pub type SharedRegistry = Arc<ArcSwap<Registry>>;

/// Relist the registry in use now, then every `interval` measured from the end of the previous
/// run, forever. A reload swaps the registry; the next round lists the new one.
pub async fn relist_forever(
    registry: SharedRegistry,
    interval: Duration,
    catalog: impl Fn() -> Arc<ResourceCatalog>,
) {
    loop {
        registry.load_full().relist(&catalog()).await;
        tokio::time::sleep(interval).await;
    }
}

/// Settings of the registry.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// How far back a series counts as live (`--metrics-max-age`).
    pub max_age: Duration,
    /// Minimum time between two runs of one series query on a miss (zero disables on-miss).
    pub on_miss_interval: Duration,
    /// How series queries are answered.
    pub discovery: DiscoveryOptions,
}

/// The registry.
pub struct Registry {
    rules: Arc<Rules>,
    prometheus: PrometheusClient,
    options: RegistryOptions,
    snapshot: ArcSwap<Snapshot>,
    listener: Listener,
    /// The last listing of each series query: when, and whether it succeeded.
    last_run: Mutex<HashMap<String, Run>>,
    on_miss: tokio::sync::Mutex<()>,
    /// Held while a new snapshot is built from the current one and published.
    publishing: tokio::sync::Mutex<()>,
    listed: watch::Sender<bool>,
}

/// One listing of a series query.
#[derive(Debug, Clone, Copy)]
struct Run {
    at: Instant,
    succeeded: bool,
}

/// A metric the registry cannot say exists or not: the listings that could name it failed
/// (Prometheus down or refusing), or have not run yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the series queries that could name this metric failed or have not run yet")]
pub struct Unavailable;

/// Which API a rule serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Custom,
    External,
}

/// Count an on-miss lookup and what it found.
fn count_lookup(api: Api, outcome: &'static str) {
    let api = match api {
        Api::Custom => "custom",
        Api::External => "external",
    };
    metrics()
        .on_miss_lookups
        .get_or_create(&LookupLabels { api, outcome })
        .inc();
}

fn distinct_queries<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> Vec<String> {
    let set: BTreeSet<&str> = rules.into_iter().map(|r| r.series_query.as_str()).collect();
    set.into_iter().map(str::to_string).collect()
}

/// Add what `rules` make of the listed series to `snapshot`, later rules (and later series)
/// overwriting earlier ones unless `keep_existing`.
fn admit(
    snapshot: &mut Snapshot,
    api: Api,
    rules: &[Rule],
    listed: &HashMap<String, Vec<SeriesInfo>>,
    catalog: &ResourceCatalog,
    keep_existing: bool,
) {
    for (index, rule) in rules.iter().enumerate() {
        let Some(series) = listed.get(&rule.series_query) else {
            continue;
        };
        let labels = (api == Api::Custom).then(|| rule.resources.label_index(catalog));
        for s in series {
            let Some(metric) = rule.namer.metric_name(&s.name) else {
                continue;
            };
            if metric.is_empty() {
                tracing::warn!(series = %s.name, rule = %rule.at, "the rule names this series with an empty name; skipped");
                continue;
            }
            let source = MetricSource {
                series: s.name.clone(),
                rule: index,
            };
            match &labels {
                None => {
                    if keep_existing && snapshot.external.contains_key(&metric) {
                        continue;
                    }
                    snapshot.external.insert(metric, source);
                }
                Some(index) => {
                    for label in &s.labels {
                        let Some(info) = index.resource_for(label) else {
                            continue;
                        };
                        let key = MetricKey {
                            resource: info.group_resource(),
                            namespaced: info.namespaced,
                            metric: metric.clone(),
                        };
                        if keep_existing && snapshot.custom.contains_key(&key) {
                            continue;
                        }
                        snapshot.custom.insert(key, source.clone());
                    }
                }
            }
        }
    }
}

impl Registry {
    /// A registry for these rules; empty until the first relist.
    pub fn new(
        rules: Arc<Rules>,
        prometheus: PrometheusClient,
        options: RegistryOptions,
        listener: Listener,
    ) -> Registry {
        Registry {
            rules,
            prometheus,
            options,
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            listener,
            last_run: Mutex::new(HashMap::new()),
            on_miss: tokio::sync::Mutex::new(()),
            publishing: tokio::sync::Mutex::new(()),
            listed: watch::channel(false).0,
        }
    }

    /// The rules the registry was built from.
    pub fn rules(&self) -> &Arc<Rules> {
        &self.rules
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Whether the first relist has completed (successfully or not).
    pub fn listed_once(&self) -> bool {
        *self.listed.borrow()
    }

    /// What each of `queries` must answer for the rules.
    fn needs(&self, queries: &[String], catalog: &ResourceCatalog) -> Vec<QueryNeeds> {
        queries
            .iter()
            .map(|q| QueryNeeds {
                indexes: self
                    .rules
                    .custom
                    .iter()
                    .filter(|r| &r.series_query == q)
                    .map(|r| r.resources.label_index(catalog))
                    .collect(),
                external: self.rules.external.iter().any(|r| &r.series_query == q),
            })
            .collect()
    }

    /// Answer the series queries, each call bounded by `timeout`; the successful results.
    async fn list(
        &self,
        queries: &[String],
        catalog: &ResourceCatalog,
        timeout: Duration,
        transfer: &Transfer,
    ) -> HashMap<String, Vec<SeriesInfo>> {
        let start = SystemTime::now()
            .checked_sub(self.options.max_age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let needs = self.needs(queries, catalog);
        let calls = queries.iter().zip(&needs).map(|(q, needs)| {
            discovery::discover(
                &self.prometheus,
                &self.options.discovery,
                q,
                needs,
                start,
                timeout,
                transfer,
            )
        });
        let results = join_all(calls).await;
        {
            let at = Instant::now();
            let mut last = self.last_run.lock().unwrap_or_else(|p| p.into_inner());
            for (q, result) in queries.iter().zip(&results) {
                let succeeded = result.is_ok();
                last.insert(q.clone(), Run { at, succeeded });
            }
        }
        let mut listed = HashMap::new();
        for (q, result) in queries.iter().zip(results) {
            match result {
                Ok(series) => {
                    listed.insert(q.clone(), series);
                }
                Err(e) => {
                    tracing::warn!(series_query = %q, error = %e, "unable to update list of all metrics");
                }
            }
        }
        listed
    }

    fn publish(&self, snapshot: Snapshot) {
        let metrics = metrics();
        for (api, count) in [
            ("custom", snapshot.custom.len()),
            ("external", snapshot.external.len()),
        ] {
            metrics
                .registered_metrics
                .get_or_create(&ApiLabels { api })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        (self.listener)(&snapshot);
        self.snapshot.store(Arc::new(snapshot));
    }

    /// One relist: rebuild each API's metrics from scratch, keeping the previous ones of an API
    /// when any of its series calls failed. Whether every call succeeded.
    pub async fn relist(&self, catalog: &ResourceCatalog) -> bool {
        let rules = &self.rules;
        let custom_queries = distinct_queries(&rules.custom);
        let external_queries = distinct_queries(&rules.external);
        let mut all: Vec<String> = custom_queries
            .iter()
            .chain(&external_queries)
            .cloned()
            .collect();
        all.sort();
        all.dedup();
        let started = Instant::now();
        let transfer = Transfer::new();
        let listed = self
            .list(&all, catalog, self.options.discovery.timeout, &transfer)
            .await;
        let complete = |qs: &[String]| qs.iter().all(|q| listed.contains_key(q));
        let metrics = metrics();
        metrics
            .relist_duration
            .observe(started.elapsed().as_secs_f64());
        for (api, queries) in [("custom", &custom_queries), ("external", &external_queries)] {
            let labels = ApiLabels { api };
            if complete(queries) {
                let seen: usize = queries
                    .iter()
                    .filter_map(|q| listed.get(q))
                    .map(Vec::len)
                    .sum();
                metrics
                    .relist_series
                    .get_or_create(&labels)
                    .set(i64::try_from(seen).unwrap_or(i64::MAX));
                metrics
                    .relist_last_success
                    .get_or_create(&labels)
                    .set(unix_now());
            } else {
                metrics.relist_failures.get_or_create(&labels).inc();
            }
        }
        let _publishing = self.publishing.lock().await;
        let previous = self.snapshot();
        let mut next = Snapshot::default();
        if complete(&custom_queries) {
            admit(
                &mut next,
                Api::Custom,
                &rules.custom,
                &listed,
                catalog,
                false,
            );
        } else {
            next.custom = previous.custom.clone();
        }
        if complete(&external_queries) {
            admit(
                &mut next,
                Api::External,
                &rules.external,
                &listed,
                catalog,
                false,
            );
        } else {
            next.external = previous.external.clone();
        }
        tracing::debug!(
            custom = next.custom.len(),
            external = next.external.len(),
            mode = self.options.discovery.effective(),
            calls = transfer.calls(),
            bytes = transfer.bytes(),
            seconds = started.elapsed().as_secs_f64(),
            "relisted metrics"
        );
        self.publish(next);
        self.listed.send_replace(true);
        complete(&all)
    }

    fn could_name(rule: &Rule, metric: &str) -> bool {
        rule.namer.constant_name().is_none_or(|n| n == metric)
    }

    /// The series queries of the rules of `api` that could name `metric`.
    fn candidates(&self, api: Api, metric: &str) -> Vec<String> {
        let rules = match api {
            Api::Custom => &self.rules.custom,
            Api::External => &self.rules.external,
        };
        distinct_queries(rules.iter().filter(|r| Self::could_name(r, metric)))
    }

    /// List the candidate queries of an unknown metric that are due (rate-limited), and admit
    /// what they find.
    async fn on_miss(&self, api: Api, metric: &str, catalog: &ResourceCatalog) {
        if self.options.on_miss_interval.is_zero() {
            return;
        }
        let _one_at_a_time = self.on_miss.lock().await;
        let queries: Vec<String> = {
            let last = self.last_run.lock().unwrap_or_else(|p| p.into_inner());
            let due = |q: &String| {
                last.get(q)
                    .is_none_or(|run| run.at.elapsed() >= self.options.on_miss_interval)
            };
            self.candidates(api, metric)
                .into_iter()
                .filter(due)
                .collect()
        };
        if queries.is_empty() {
            return;
        }
        tracing::debug!(%metric, ?queries, "unknown metric: listing its series now");
        // A client is waiting: the query timeout, not the relist's.
        let listed = self
            .list(
                &queries,
                catalog,
                self.prometheus.timeout(),
                &Transfer::new(),
            )
            .await;
        let rules = match api {
            Api::Custom => &self.rules.custom,
            Api::External => &self.rules.external,
        };
        let _publishing = self.publishing.lock().await;
        let mut next = (*self.snapshot()).clone();
        admit(&mut next, api, rules, &listed, catalog, true);
        self.publish(next);
    }

    /// After a miss: `Unavailable` when a listing that could name the metric failed last (or
    /// never ran), so that a backend failure is not reported as "not found".
    fn missing(&self, api: Api, metric: &str) -> Result<Option<MetricSource>, Unavailable> {
        let last = self.last_run.lock().unwrap_or_else(|p| p.into_inner());
        let unknown = self
            .candidates(api, metric)
            .iter()
            .any(|q| last.get(q).is_none_or(|run| !run.succeeded));
        let outcome = if unknown { "unavailable" } else { "not_found" };
        count_lookup(api, outcome);
        if unknown { Err(Unavailable) } else { Ok(None) }
    }

    /// The source of a custom metric; on a miss, list the series of the rules that could
    /// produce it (rate-limited) and look again.
    pub async fn custom(
        &self,
        key: &MetricKey,
        catalog: &ResourceCatalog,
    ) -> Result<Option<MetricSource>, Unavailable> {
        if let Some(s) = self.snapshot.load().custom.get(key) {
            return Ok(Some(s.clone()));
        }
        self.on_miss(Api::Custom, &key.metric, catalog).await;
        match self.snapshot.load().custom.get(key) {
            Some(s) => {
                count_lookup(Api::Custom, "found");
                Ok(Some(s.clone()))
            }
            None => self.missing(Api::Custom, &key.metric),
        }
    }

    /// The source of an external metric, with the same on-miss behaviour.
    pub async fn external(
        &self,
        metric: &str,
        catalog: &ResourceCatalog,
    ) -> Result<Option<MetricSource>, Unavailable> {
        if let Some(s) = self.snapshot.load().external.get(metric) {
            return Ok(Some(s.clone()));
        }
        self.on_miss(Api::External, metric, catalog).await;
        match self.snapshot.load().external.get(metric) {
            Some(s) => {
                count_lookup(Api::External, "found");
                Ok(Some(s.clone()))
            }
            None => self.missing(Api::External, metric),
        }
    }
}

#[cfg(test)]
mod tests;
