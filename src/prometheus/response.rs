//! Typed Prometheus API responses, decoded straight from the body.
//!
//! Series lists are decoded with a visitor that keeps, per series, only its name and label
//! names, deduplicated, so a relist over many series holds little memory.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};
use std::fmt;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::Error;

/// The labels of a sample, sorted by name: every name and value in one string, with the end
/// of each in a second allocation. An answer of a million samples costs about its JSON in
/// memory, where a map per sample costs seven times that.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SampleLabels {
    /// `name1 value1 name2 value2 …`, without separators.
    text: Box<str>,
    /// The end of each name and each value in `text`, in turn.
    ends: Box<[u32]>,
}

impl SampleLabels {
    /// The value of a label.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value)
    }

    /// The labels, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut start = 0;
        self.ends.chunks_exact(2).filter_map(move |pair| {
            let (name_end, value_end) = (*pair.first()? as usize, *pair.get(1)? as usize);
            let name = self.text.get(start..name_end)?;
            let value = self.text.get(name_end..value_end)?;
            start = value_end;
            Some((name, value))
        })
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for SampleLabels {
    /// Labels in any order; a repeated name keeps its last value, as a JSON object does.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> SampleLabels {
        let mut pairs: Vec<(K, V)> = pairs.into_iter().collect();
        pairs.reverse();
        pairs.sort_by(|(a, _), (b, _)| a.as_ref().cmp(b.as_ref()));
        pairs.dedup_by(|(a, _), (b, _)| a.as_ref() == b.as_ref());
        let mut text = String::with_capacity(
            pairs
                .iter()
                .map(|(n, v)| n.as_ref().len() + v.as_ref().len())
                .sum(),
        );
        let mut ends = Vec::with_capacity(pairs.len() * 2);
        for (name, value) in &pairs {
            for part in [name.as_ref(), value.as_ref()] {
                text.push_str(part);
                // Answers are bounded far below 4 GiB (--prometheus-max-response-size).
                ends.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
            }
        }
        SampleLabels {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }
}

impl<'de> Deserialize<'de> for SampleLabels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct LabelsVisitor;
        impl<'de> Visitor<'de> for LabelsVisitor {
            type Value = SampleLabels;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of label names to values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SampleLabels, A::Error> {
                let mut pairs: Vec<(Text<'de>, Text<'de>)> =
                    Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some(pair) = map.next_entry::<Text<'de>, Text<'de>>()? {
                    pairs.push(pair);
                }
                Ok(pairs.into_iter().collect())
            }
        }
        d.deserialize_map(LabelsVisitor)
    }
}

/// A label name or value on its way into [`SampleLabels`]: borrowed from the body when the
/// decoder can lend it (a body in memory, no escapes in the string), copied otherwise.
struct Text<'de>(Cow<'de, str>);

impl AsRef<str> for Text<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text.to_string())))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        d.deserialize_str(TextVisitor)
    }
}

impl serde::Serialize for SampleLabels {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

/// One sample of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// All labels of the series, `__name__` included when the query keeps it.
    pub labels: SampleLabels,
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
    Scalar((f64, SampleValue)),
    Matrix(IgnoredAny),
    String(IgnoredAny),
}

#[derive(Deserialize)]
pub(crate) struct RawSample {
    metric: SampleLabels,
    value: (f64, SampleValue),
}

/// A sample's value, sent as a string (`"1.5"`, `"NaN"`, `"+Inf"`), parsed where it is read.
pub(crate) struct SampleValue(f64);

impl<'de> Deserialize<'de> for SampleValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl Visitor<'_> for ValueVisitor {
            type Value = SampleValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sample value as a string")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<SampleValue, E> {
                text.parse::<f64>()
                    .map(SampleValue)
                    .map_err(|_| E::custom(format_args!("sample value {text:?} is not a number")))
            }
        }
        d.deserialize_str(ValueVisitor)
    }
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
                    .map(|s| Sample {
                        labels: s.metric,
                        value: s.value.1.0,
                        timestamp: s.value.0,
                    })
                    .collect();
                Ok(QueryResult::Vector(samples))
            }
            RawData::Scalar((timestamp, value)) => Ok(QueryResult::Scalar {
                value: value.0,
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
        assert_eq!(v[0].labels.get("pod"), Some("p1"));
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
    fn sample_labels_are_sorted_and_the_last_of_a_repeated_name_wins() {
        let labels: SampleLabels = [
            ("pod", "p1"),
            ("namespace", "a"),
            ("pod", "p2"),
            ("__name__", "up"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            labels.iter().collect::<Vec<_>>(),
            [("__name__", "up"), ("namespace", "a"), ("pod", "p2")]
        );
        assert_eq!(labels.get("namespace"), Some("a"));
        assert_eq!(labels.get("nope"), None);
        assert_eq!(
            serde_json::to_string(&labels).unwrap(),
            r#"{"__name__":"up","namespace":"a","pod":"p2"}"#
        );
        let decoded: SampleLabels =
            serde_json::from_str(r#"{"pod":"p1","a":"x","pod":"p3"}"#).unwrap();
        assert_eq!(
            decoded.iter().collect::<Vec<_>>(),
            [("a", "x"), ("pod", "p3")]
        );
        assert!(SampleLabels::default().is_empty());
    }

    #[test]
    fn labels_borrowed_escaped_or_streamed_decode_alike() {
        // Plain strings are lent by the decoder, escaped ones are copied, and a body read from
        // a stream lends nothing: the labels come out the same.
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"pod":"p1","path":"/a\"b\\c\u00e9","zone":"\u6771"},"value":[1,"2"]}]}}"#;
        let expected = [("path", "/a\"b\\cé"), ("pod", "p1"), ("zone", "東")];
        for decoded in [
            decode_query(body).unwrap(),
            decode_reader::<QueryResult>(&body[..]).unwrap(),
        ] {
            let QueryResult::Vector(v) = decoded else {
                panic!("not a vector")
            };
            assert_eq!(v[0].labels.iter().collect::<Vec<_>>(), expected);
        }
        assert!(matches!(
            decode_query(br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":1},"value":[1,"2"]}]}}"#),
            Err(Error::Decode(_))
        ));
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
            br#"{"status":"success","data":{"resultType":"scalar","result":[1,"1e"]}}"#,
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}}"#,
            br#"{"status":"success","data":{"resultType":"vector","result":{}}}"#,
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"1"]}]}}"#,
        ] {
            assert!(decode_query(garbage).is_err(), "{}", String::from_utf8_lossy(garbage));
        }
        let bad_value = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}"#;
        assert!(
            decode_query(bad_value)
                .unwrap_err()
                .to_string()
                .starts_with(r#"bad_response: sample value "x" is not a number"#)
        );
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
