//! The object store: every object of every type, a global `resourceVersion` bumped by each
//! change, and the full history of changes so a watch from any past version can be replayed
//! (the double answers `410 Gone` only for versions a test compacted away with
//! [`Store::compact`]). Also the filters a LIST or WATCH applies: namespace, label selector
//! (the doubles' own matcher, `support::label_match`, never the crate's parser) and field
//! selector.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Value, json};

use super::super::label_match::Selector;
use super::catalog::ResourceType;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Modified,
    Deleted,
}

/// One entry of the history (entry `i` is the change that made version `i + 1`).
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// `(group, plural)` of the object.
    pub resource: (String, String),
    pub change: Change,
    /// The object after the change (for a deletion: its last state, at the deletion's version).
    pub object: Value,
    /// The object before a modification, so a filtered watch can tell an object that left its
    /// selector (sent as DELETED) from one that entered it (ADDED).
    pub previous: Option<Value>,
}

/// `(group, plural)` -> `(namespace, name)` -> object. Namespace is `""` for cluster-scoped
/// objects; the inner order is the order of etcd keys, hence of LIST results.
type Objects = BTreeMap<(String, String), BTreeMap<(String, String), Value>>;

#[derive(Debug, Default)]
pub struct Store {
    rv: u64,
    next_uid: u64,
    objects: Objects,
    history: Vec<StoredEvent>,
    /// Versions before this one are compacted away: a watch from them is refused (410).
    oldest_watchable: u64,
}

impl Store {
    /// The current (latest) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// The oldest resourceVersion a watch may resume from.
    pub fn oldest_watchable(&self) -> u64 {
        self.oldest_watchable
    }

    /// Forgets the history up to now, as etcd's compaction does, and moves to a new version (a
    /// change to no object, as a busy cluster always has one between a compaction and the next
    /// request): watches from older versions are refused, the new version is watchable.
    pub fn compact(&mut self) {
        self.rv += 1;
        self.history.push(StoredEvent {
            resource: (String::new(), String::new()),
            change: Change::Modified,
            object: Value::Null,
            previous: None,
        });
        self.oldest_watchable = self.rv;
    }

    /// Creates or replaces an object of type `rt`, stamping `apiVersion`, `kind`,
    /// `resourceVersion` and, on creation, `uid` and `creationTimestamp`.
    pub fn put(&mut self, rt: &ResourceType, mut object: Value) -> Result<Value, String> {
        let (namespace, name) = identity(rt, &object)?;
        let key = (rt.group.clone(), rt.plural.clone());
        let previous = self
            .objects
            .get(&key)
            .and_then(|objects| objects.get(&(namespace.clone(), name.clone())))
            .cloned();
        self.rv += 1;
        object["apiVersion"] = json!(rt.api_version());
        object["kind"] = json!(rt.kind);
        let metadata = &mut object["metadata"];
        metadata["resourceVersion"] = json!(self.rv.to_string());
        match &previous {
            Some(previous) => {
                // Identity fields are the server's, whatever the caller sent.
                metadata["uid"] = previous["metadata"]["uid"].clone();
                metadata["creationTimestamp"] = previous["metadata"]["creationTimestamp"].clone();
            }
            None => {
                self.next_uid += 1;
                metadata["uid"] = json!(format!("00000000-0000-4000-8000-{:012x}", self.next_uid));
                metadata["creationTimestamp"] = json!(now());
            }
        }
        self.objects
            .entry(key.clone())
            .or_default()
            .insert((namespace, name), object.clone());
        let change = if previous.is_some() {
            Change::Modified
        } else {
            Change::Added
        };
        self.history.push(StoredEvent {
            resource: key,
            change,
            object: object.clone(),
            previous,
        });
        Ok(object)
    }

    /// Removes an object; returns its last state, or `None` if there was none.
    pub fn delete(&mut self, rt: &ResourceType, namespace: &str, name: &str) -> Option<Value> {
        let key = (rt.group.clone(), rt.plural.clone());
        let mut object = self
            .objects
            .get_mut(&key)?
            .remove(&(namespace.to_string(), name.to_string()))?;
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.history.push(StoredEvent {
            resource: key,
            change: Change::Deleted,
            object: object.clone(),
            previous: None,
        });
        Some(object)
    }

    /// One object.
    pub fn get(&self, rt: &ResourceType, namespace: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&(rt.group.clone(), rt.plural.clone()))?
            .get(&(namespace.to_string(), name.to_string()))
    }

    /// All objects of a type that pass `filter`, in namespace/name order.
    pub fn list(&self, rt: &ResourceType, filter: &Filter) -> Vec<Value> {
        self.objects
            .get(&(rt.group.clone(), rt.plural.clone()))
            .into_iter()
            .flat_map(|objects| objects.values())
            .filter(|object| filter.matches(object))
            .cloned()
            .collect()
    }

    /// Changes to objects of type `rt` after version `rv`, oldest first.
    pub fn events_after(&self, rt: &ResourceType, rv: u64) -> VecDeque<StoredEvent> {
        // Versions are dense and the history is complete: entry i has version i + 1.
        let start = usize::try_from(rv).unwrap_or(usize::MAX);
        self.history
            .get(start..)
            .unwrap_or_default()
            .iter()
            .filter(|e| e.resource.0 == rt.group && e.resource.1 == rt.plural)
            .cloned()
            .collect()
    }
}

/// `(namespace, name)` of an object about to be stored, checked against its type's scope.
fn identity(rt: &ResourceType, object: &Value) -> Result<(String, String), String> {
    let name = object["metadata"]["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("{} object has no metadata.name: {object}", rt.kind))?;
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or("");
    match (rt.namespaced, namespace.is_empty()) {
        (true, true) => Err(format!("{} {name} needs metadata.namespace", rt.kind)),
        (false, false) => Err(format!("{} {name} is cluster-scoped", rt.kind)),
        _ => Ok((namespace.to_string(), name.to_string())),
    }
}

/// The current time as a `metav1.Time`: RFC 3339, UTC, whole seconds.
fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// The labels of an object as the selector matcher wants them.
fn labels(object: &Value) -> BTreeMap<String, String> {
    object["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

/// One `field=value` / `field!=value` term of a field selector.
#[derive(Debug, Clone)]
struct FieldTerm {
    pointer: &'static str,
    equal: bool,
    value: String,
}

/// A parsed `fieldSelector`: terms ANDed.
#[derive(Debug, Clone, Default)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    /// Parses the apimachinery field-selector grammar (`a=b,c!=d`, `==` as `=`, `\` escapes)
    /// for the fields kube-apiserver supports on `rt`: `metadata.name` and
    /// `metadata.namespace` everywhere, `status.phase` and `spec.nodeName` on pods.
    pub fn parse(input: &str, rt: &ResourceType) -> Result<FieldSelector, String> {
        let mut terms = Vec::new();
        for term in split_unescaped(input, ',') {
            if term.is_empty() {
                continue;
            }
            let (field, equal, value) = if let Some((f, v)) = split_once_unescaped(&term, "!=") {
                (f, false, v)
            } else if let Some((f, v)) = split_once_unescaped(&term, "==") {
                (f, true, v)
            } else if let Some((f, v)) = split_once_unescaped(&term, "=") {
                (f, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{input}'; can't understand '{term}'"
                ));
            };
            let pointer = match (field.trim(), rt.group.as_str(), rt.plural.as_str()) {
                ("metadata.name", _, _) => "/metadata/name",
                ("metadata.namespace", _, _) => "/metadata/namespace",
                ("status.phase", "", "pods") => "/status/phase",
                ("spec.nodeName", "", "pods") => "/spec/nodeName",
                (other, _, _) => {
                    return Err(format!(
                        "field label not supported: {other}",
                        other = other.trim()
                    ));
                }
            };
            terms.push(FieldTerm {
                pointer,
                equal,
                value: unescape(&value),
            });
        }
        Ok(FieldSelector { terms })
    }

    fn matches(&self, object: &Value) -> bool {
        self.terms.iter().all(|term| {
            let actual = object
                .pointer(term.pointer)
                .and_then(Value::as_str)
                .unwrap_or("");
            (actual == term.value) == term.equal
        })
    }
}

/// Splits on `sep` where it is not escaped with `\` (escapes are kept for `unescape`).
fn split_unescaped(input: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in input.chars() {
        let current = parts.last_mut().expect("parts is never empty");
        if escaped {
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            current.push(c);
            escaped = true;
        } else if c == sep {
            parts.push(String::new());
        } else {
            current.push(c);
        }
    }
    parts
}

/// Splits at the first unescaped occurrence of `op`.
fn split_once_unescaped(term: &str, op: &str) -> Option<(String, String)> {
    let mut escaped = false;
    for (i, c) in term.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if term[i..].starts_with(op) {
            return Some((term[..i].to_string(), term[i + op.len()..].to_string()));
        }
    }
    None
}

fn unescape(value: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in value.chars() {
        if !escaped && c == '\\' {
            escaped = true;
        } else {
            out.push(c);
            escaped = false;
        }
    }
    out
}

/// What a LIST or WATCH selects: a namespace (for namespaced paths) and the two selectors.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub namespace: Option<String>,
    pub labels: Selector,
    pub fields: FieldSelector,
}

impl Filter {
    pub fn matches(&self, object: &Value) -> bool {
        let namespace_ok = match &self.namespace {
            Some(ns) => object["metadata"]["namespace"].as_str() == Some(ns.as_str()),
            None => true,
        };
        namespace_ok && self.labels.matches(&labels(object)) && self.fields.matches(object)
    }
}
