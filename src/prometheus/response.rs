//! Typed Prometheus API responses, decoded straight from the body.
//!
//! Series lists are decoded with a visitor that keeps, per series, only its name and label
//! names, deduplicated, so a relist over many series holds little memory.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::Error;

/// One sample of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// All labels of the series, `__name__` included when the query keeps it.
    pub labels: BTreeMap<String, String>,
    /// The value (may be NaN or ±Inf).
    pub value: f64,
    /// The sample timestamp, Unix seconds.
    pub timestamp: f64,
}

/// The result of an instant query.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryResult {
    /// `vector`
    Vector(Vec<Sample>),
    /// `scalar`: value and timestamp.
    Scalar {
        /// The value.
        value: f64,
        /// Unix seconds.
        timestamp: f64,
    },
    /// `matrix` or `string`: never an answer to a metrics request.
    Other(String),
}

/// A series as discovery needs it: its name and the names of its labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesInfo {
    /// `__name__`
    pub name: String,
    /// The other label names, sorted.
    pub labels: BTreeSet<String>,
}

#[derive(Deserialize)]
struct Envelope<T> {
    status: String,
    data: Option<T>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

fn unwrap_envelope<T>(envelope: Envelope<T>) -> Result<T, Error> {
    if envelope.status != "success" {
        return Err(Error::Api {
            error_type: envelope.error_type.unwrap_or_default(),
            error: envelope.error.unwrap_or_default(),
        });
    }
    envelope
        .data
        .ok_or_else(|| Error::Decode("no data in a successful response".into()))
}

/// `data` of a query, decoded in one pass whatever the order of `resultType` and `result`.
#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
pub(crate) enum RawData {
    Vector(Vec<RawSample>),
    Scalar((f64, String)),
    Matrix(IgnoredAny),
    String(IgnoredAny),
}

#[derive(Deserialize)]
pub(crate) struct RawSample {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

fn parse_value(text: &str) -> Result<f64, Error> {
    text.parse::<f64>()
        .map_err(|_| Error::Decode(format!("sample value {text:?} is not a number")))
}

/// A typed answer of the HTTP API: what its `data` holds on the wire (`Raw`) and what callers
/// get. Bodies are decoded from a slice when small and from a reader as they stream when large
/// (see `body.rs`), through the same `Raw` type.
pub(crate) trait Decode: Sized + Send + 'static {
    /// `data` as sent.
    type Raw: DeserializeOwned;
    /// What a successful answer with `"data": null` (or none) means; `None`: an error.
    fn missing() -> Option<Self> {
        None
    }
    /// Turn `data` into the answer.
    fn finish(raw: Self::Raw) -> Result<Self, Error>;
}

fn finish<T: Decode>(envelope: Envelope<T::Raw>) -> Result<T, Error> {
    if envelope.status == "success"
        && envelope.data.is_none()
        && let Some(empty) = T::missing()
    {
        return Ok(empty);
    }
    T::finish(unwrap_envelope(envelope)?)
}

/// Decode a whole body held in memory.
pub(crate) fn decode_slice<T: Decode>(body: &[u8]) -> Result<T, Error> {
    let envelope: Envelope<T::Raw> =
        serde_json::from_slice(body).map_err(|e| Error::Decode(e.to_string()))?;
    finish(envelope)
}

/// Decode a body as it is read.
pub(crate) fn decode_reader<T: Decode>(body: impl std::io::Read) -> Result<T, Error> {
    let envelope: Envelope<T::Raw> =
        serde_json::from_reader(body).map_err(|e| Error::Decode(e.to_string()))?;
    finish(envelope)
}

impl Decode for QueryResult {
    type Raw = RawData;
    fn finish(raw: RawData) -> Result<QueryResult, Error> {
        match raw {
            RawData::Vector(raw) => {
                let samples = raw
                    .into_iter()
                    .map(|s| {
                        Ok(Sample {
                            labels: s.metric,
                            value: parse_value(&s.value.1)?,
                            timestamp: s.value.0,
                        })
                    })
                    .collect::<Result<_, Error>>()?;
                Ok(QueryResult::Vector(samples))
            }
            RawData::Scalar((timestamp, value)) => Ok(QueryResult::Scalar {
                value: parse_value(&value)?,
                timestamp,
            }),
            RawData::Matrix(_) => Ok(QueryResult::Other("matrix".into())),
            RawData::String(_) => Ok(QueryResult::Other("string".into())),
        }
    }
}

/// The distinct (name, label names) pairs of a series list, sorted. A `null` data list is an
/// error, as prometheus-adapter treats it (the relist is abandoned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeriesSet(pub Vec<SeriesInfo>);

impl Decode for SeriesSet {
    type Raw = SeriesList;
    fn finish(raw: SeriesList) -> Result<SeriesSet, Error> {
        let mut out: Vec<SeriesInfo> = raw.0.into_iter().collect();
        out.sort();
        Ok(SeriesSet(out))
    }
}

/// The strings of `/api/v1/labels` and `/api/v1/label/<name>/values`. `null` reads as an empty
/// list: the label APIs have no "unknown" answer, and some backends write nothing as `null`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LabelList(pub Vec<String>);

impl Decode for LabelList {
    type Raw = Vec<String>;
    fn missing() -> Option<LabelList> {
        Some(LabelList(Vec::new()))
    }
    fn finish(raw: Vec<String>) -> Result<LabelList, Error> {
        Ok(LabelList(raw))
    }
}

pub(crate) struct SeriesList(HashSet<SeriesInfo>);

impl<'de> Deserialize<'de> for SeriesList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = SeriesList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of series")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SeriesList, A::Error> {
                let mut set = HashSet::new();
                while let Some(info) = seq.next_element_seed(SeriesSeed)? {
                    set.insert(info);
                }
                Ok(SeriesList(set))
            }
        }
        d.deserialize_seq(ListVisitor)
    }
}

struct SeriesSeed;

impl<'de> DeserializeSeed<'de> for SeriesSeed {
    type Value = SeriesInfo;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<SeriesInfo, D::Error> {
        struct SeriesVisitor;
        impl<'de> Visitor<'de> for SeriesVisitor {
            type Value = SeriesInfo;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a label set")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SeriesInfo, A::Error> {
                let mut name = None;
                let mut labels = BTreeSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "__name__" {
                        name = Some(map.next_value::<String>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                        labels.insert(key);
                    }
                }
                let name = name.ok_or_else(|| de::Error::missing_field("__name__"))?;
                Ok(SeriesInfo { name, labels })
            }
        }
        d.deserialize_map(SeriesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_query(body: &[u8]) -> Result<QueryResult, Error> {
        decode_slice(body)
    }

    fn decode_series(body: &[u8]) -> Result<Vec<SeriesInfo>, Error> {
        decode_slice::<SeriesSet>(body).map(|s| s.0)
    }

    #[test]
    fn vectors_scalars_and_others() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"pod":"p1"},"value":[1700000000.5,"1.5"]},
            {"metric":{},"value":[1700000000,"NaN"]},
            {"metric":{"pod":"p3"},"value":[1700000000,"+Inf"]}]}}"#;
        let QueryResult::Vector(v) = decode_query(body).unwrap() else {
            panic!()
        };
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].labels["pod"], "p1");
        assert_eq!(v[0].value, 1.5);
        assert_eq!(v[0].timestamp, 1700000000.5);
        assert!(v[1].value.is_nan());
        assert_eq!(v[2].value, f64::INFINITY);
        let scalar =
            br#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"3"]}}"#;
        assert_eq!(
            decode_query(scalar).unwrap(),
            QueryResult::Scalar {
                value: 3.0,
                timestamp: 1700000000.0
            }
        );
        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert_eq!(
            decode_query(matrix).unwrap(),
            QueryResult::Other("matrix".into())
        );
    }

    #[test]
    fn errors_and_garbage() {
        let err = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#;
        assert_eq!(
            decode_query(err).unwrap_err().to_string(),
            "bad_data: parse error at char 5"
        );
        for garbage in [
            &b"not json"[..],
            br#"{"status":"success"}"#,
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}"#,
            br#"{"status":"success","data":{"resultType":"vector","result":{}}}"#,
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"1"]}]}}"#,
        ] {
            assert!(decode_query(garbage).is_err(), "{}", String::from_utf8_lossy(garbage));
        }
    }

    #[test]
    fn series_keep_names_and_label_names_only() {
        let body = br#"{"status":"success","data":[
            {"__name__":"http_requests_total","pod":"a","namespace":"n"},
            {"__name__":"http_requests_total","pod":"b","namespace":"n"},
            {"__name__":"http_requests_total","pod":"c","namespace":"n","code":"500"}]}"#;
        let series = decode_series(body).unwrap();
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].name, "http_requests_total");
        let labels: Vec<&str> = series[1].labels.iter().map(String::as_str).collect();
        assert_eq!(labels, ["namespace", "pod"]);
        assert!(decode_series(br#"{"status":"success","data":null}"#).is_err());
        assert!(decode_series(br#"{"status":"success","data":[{"pod":"a"}]}"#).is_err());
        assert!(
            decode_series(br#"{"status":"success","data":[]}"#)
                .unwrap()
                .is_empty()
        );
    }
}
