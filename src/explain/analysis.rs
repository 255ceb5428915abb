//! Why each rule does or does not serve a metric: its name pattern, the series its
//! `seriesQuery` finds within the relist window (and, when none, within the last day), the
//! names it gives them and whether their labels name the resource asked about.
//!
//! [`judge`] is pure: the series listings are made by the caller, once per distinct query.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::prometheus::SeriesInfo;
use crate::resources::{ResourceCatalog, ResourceInfo};
use crate::rules::Rule;

/// How far back the listing that tells a stale series from a missing one looks.
pub const STALE_LOOKBACK: Duration = Duration::from_secs(24 * 3600);

/// What one rule makes of the metric asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// It is the rule the registry chose.
    Serves {
        /// The series.
        series: String,
    },
    /// It names the metric (for the resource), but another rule is the one used.
    ServesElsewhere {
        /// Its series.
        series: String,
        /// The rule used.
        by: String,
    },
    /// It names the metric for the resource, but the registry has not listed it yet.
    NotListedYet {
        /// The series.
        series: String,
    },
    /// Its name does not depend on the series and is another one.
    NamesOnly(String),
    /// Listing its series failed.
    ListFailed(String),
    /// Its series query finds no series in the relist window.
    NoSeries,
    /// Its series have other names (the API names it gives them, a few).
    NoSeriesNamed {
        /// Some of the names it gives.
        names: Vec<String>,
    },
    /// It names the metric from a series with no sample in the relist window.
    Stale {
        /// The series.
        series: String,
    },
    /// It names the metric, but no label of the series names the resource.
    NoLabel {
        /// The series.
        series: String,
        /// Its labels that name some resource: label, resource.
        mapped: Vec<(String, String)>,
    },
}

impl Finding {
    /// Whether this rule serves the metric.
    pub fn serves(&self) -> bool {
        matches!(self, Finding::Serves { .. })
    }

    /// Whether looking further back may show a series that stopped.
    pub fn may_be_stale(&self) -> bool {
        matches!(self, Finding::NoSeries | Finding::NoSeriesNamed { .. })
    }

    /// The finding in words; `resource` is the resource asked about (custom metrics).
    pub fn why(&self, metric: &str, resource: Option<&str>, max_age: Duration) -> String {
        let window = crate::rules::format_go_duration(max_age);
        match self {
            Finding::Serves { series } => format!("serves it from series {series}"),
            Finding::ServesElsewhere { series, by } => {
                format!("also names it from series {series}, but {by} is the rule used")
            }
            Finding::NotListedYet { series } => format!(
                "names it from series {series}, but the adapter has not listed that series yet"
            ),
            Finding::NamesOnly(name) => format!("names only {name}"),
            Finding::ListFailed(e) => format!("listing its series failed: {e}"),
            Finding::NoSeries => {
                format!("its seriesQuery matches no series in the last {window}")
            }
            Finding::NoSeriesNamed { names } => {
                format!("names its series {}, not {metric}", names.join(", "))
            }
            Finding::Stale { series } => format!(
                "names it from series {series}, which has no sample in the last {window} (--metrics-max-age)"
            ),
            Finding::NoLabel { series, mapped } => {
                let resource = resource.unwrap_or("the resource");
                if mapped.is_empty() {
                    format!(
                        "names it from series {series}, but none of its labels names a resource"
                    )
                } else {
                    let pairs: Vec<String> =
                        mapped.iter().map(|(l, r)| format!("{l} -> {r}")).collect();
                    format!(
                        "names it from series {series}, but no label of it names {resource} (its labels name: {})",
                        pairs.join(", ")
                    )
                }
            }
        }
    }
}

/// Whether a rule can name `metric` at all, without asking Prometheus: its name is a constant
/// that is another one.
pub fn names_only_another(rule: &Rule, metric: &str) -> Option<Finding> {
    rule.namer
        .constant_name()
        .filter(|name| *name != metric)
        .map(|name| Finding::NamesOnly(name.to_string()))
}

/// The series of `listed` that the rule names `metric`.
fn named<'a>(rule: &Rule, metric: &str, listed: &'a [SeriesInfo]) -> Vec<&'a SeriesInfo> {
    listed
        .iter()
        .filter(|s| rule.namer.metric_name(&s.name).as_deref() == Some(metric))
        .collect()
}

/// What rule `index` (of its section) makes of `metric` for `wanted` (custom metrics; `None`
/// for external metrics), given the series its query found in the relist window and the rule
/// the registry chose (`chosen`: its index and how it is written).
pub fn judge(
    rule: &Rule,
    index: usize,
    metric: &str,
    wanted: Option<&ResourceInfo>,
    catalog: &ResourceCatalog,
    recent: &Result<Vec<SeriesInfo>, String>,
    chosen: Option<(usize, &str)>,
) -> Finding {
    if let Some(other) = names_only_another(rule, metric) {
        return other;
    }
    let listed = match recent {
        Ok(listed) => listed,
        Err(e) => return Finding::ListFailed(e.clone()),
    };
    let candidates = named(rule, metric, listed);
    let Some(first) = candidates.first() else {
        if listed.is_empty() {
            return Finding::NoSeries;
        }
        let names: BTreeSet<String> = listed
            .iter()
            .filter_map(|s| rule.namer.metric_name(&s.name))
            .collect();
        if names.is_empty() {
            // The filters keep none of the series.
            let series: BTreeSet<&str> = listed.iter().map(|s| s.name.as_str()).collect();
            return Finding::NoSeriesNamed {
                names: series
                    .into_iter()
                    .take(5)
                    .map(|s| format!("(none: its filters drop {s})"))
                    .collect(),
            };
        }
        return Finding::NoSeriesNamed {
            names: names.into_iter().take(5).collect(),
        };
    };
    let serving = match wanted {
        None => Some(*first),
        Some(info) => {
            let index_of = rule.resources.label_index(catalog);
            let wanted = info.group_resource();
            let found = candidates.iter().find(|s| {
                s.labels.iter().any(|l| {
                    index_of
                        .resource_for(l)
                        .is_some_and(|r| r.group_resource() == wanted)
                })
            });
            match found {
                Some(s) => Some(*s),
                None => {
                    let mapped = first
                        .labels
                        .iter()
                        .filter_map(|l| {
                            index_of
                                .resource_for(l)
                                .map(|r| (l.clone(), r.group_resource().to_string()))
                        })
                        .collect();
                    return Finding::NoLabel {
                        series: first.name.clone(),
                        mapped,
                    };
                }
            }
        }
    };
    let series = serving.map_or_else(|| first.name.clone(), |s| s.name.clone());
    match chosen {
        Some((i, _)) if i == index => Finding::Serves { series },
        Some((_, by)) => Finding::ServesElsewhere {
            series,
            by: by.to_string(),
        },
        None => Finding::NotListedYet { series },
    }
}

/// A finding that looked only at the relist window, looked at again with the series of the
/// last day: a rule that names the metric from one of them has a stale series.
pub fn with_older(
    finding: Finding,
    rule: &Rule,
    metric: &str,
    older: &Result<Vec<SeriesInfo>, String>,
) -> Finding {
    match older {
        Ok(older) if finding.may_be_stale() => match named(rule, metric, older).first() {
            Some(s) => Finding::Stale {
                series: s.name.clone(),
            },
            None => finding,
        },
        _ => finding,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, labels: &[&str]) -> SeriesInfo {
        SeriesInfo {
            name: name.into(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn rules() -> crate::rules::Rules {
        crate::rules::parse(
            r#"rules:
- seriesQuery: 'http_requests_total{namespace!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
      pod: {resource: pod}
  name: {matches: "^(.*)_total$", as: "${1}_per_second"}
  metricsQuery: sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)
- seriesQuery: 'queue_depth'
  resources: {template: <<.Resource>>}
  name: {as: depth}
  metricsQuery: x
"#,
            "t",
        )
        .unwrap()
    }

    #[test]
    fn a_rule_names_the_metric_for_the_resource_or_says_why_not() {
        let rules = rules();
        let rule = &rules.custom[0];
        let catalog = ResourceCatalog::well_known();
        let pods = catalog
            .resolve(&crate::resources::GroupResource::parse("pods"))
            .unwrap()
            .clone();
        let metric = "http_requests_per_second";
        let judged = |listed: Result<Vec<SeriesInfo>, String>, chosen| {
            judge(rule, 0, metric, Some(&pods), &catalog, &listed, chosen)
        };
        let good = Ok(vec![series("http_requests_total", &["namespace", "pod"])]);
        assert_eq!(
            judged(good.clone(), Some((0, "rules[0]"))),
            Finding::Serves {
                series: "http_requests_total".into()
            }
        );
        assert_eq!(
            judged(good.clone(), Some((3, "rules[3]"))),
            Finding::ServesElsewhere {
                series: "http_requests_total".into(),
                by: "rules[3]".into()
            }
        );
        assert!(matches!(judged(good, None), Finding::NotListedYet { .. }));
        let unmapped = judged(
            Ok(vec![series(
                "http_requests_total",
                &["namespace", "instance"],
            )]),
            None,
        );
        assert_eq!(
            unmapped,
            Finding::NoLabel {
                series: "http_requests_total".into(),
                mapped: vec![("namespace".into(), "namespaces".into())]
            }
        );
        assert_eq!(
            unmapped.why(metric, Some("pods"), Duration::from_secs(600)),
            "names it from series http_requests_total, but no label of it names pods (its labels name: namespace -> namespaces)"
        );
        let other = judged(Ok(vec![series("errors_total", &["pod"])]), None);
        assert_eq!(
            other,
            Finding::NoSeriesNamed {
                names: vec!["errors_per_second".into()]
            }
        );
        assert!(other.may_be_stale());
        assert_eq!(judged(Ok(vec![]), None), Finding::NoSeries);
        assert_eq!(
            judged(Err("connection refused".into()), None),
            Finding::ListFailed("connection refused".into())
        );
        // The same rule, with a series that stopped before the relist window.
        let stale = with_older(
            Finding::NoSeries,
            rule,
            metric,
            &Ok(vec![series("http_requests_total", &["pod"])]),
        );
        assert_eq!(
            stale.why(metric, Some("pods"), Duration::from_secs(600)),
            "names it from series http_requests_total, which has no sample in the last 10m0s (--metrics-max-age)"
        );
        assert_eq!(
            with_older(Finding::NoSeries, rule, metric, &Ok(vec![])),
            Finding::NoSeries
        );
    }

    #[test]
    fn a_constant_name_needs_no_listing() {
        let rules = rules();
        let rule = &rules.custom[1];
        let catalog = ResourceCatalog::well_known();
        assert_eq!(
            names_only_another(rule, "http_requests_per_second"),
            Some(Finding::NamesOnly("depth".into()))
        );
        assert_eq!(names_only_another(rule, "depth"), None);
        // External metrics need no resource label.
        assert_eq!(
            judge(
                rule,
                1,
                "depth",
                None,
                &catalog,
                &Ok(vec![series("queue_depth", &["queue"])]),
                Some((1, "externalRules[1]"))
            ),
            Finding::Serves {
                series: "queue_depth".into()
            }
        );
    }
}
