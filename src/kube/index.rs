//! The objects of one watch cache, indexed by namespace and label, so that a `*` request
//! selecting 50 pods of a namespace of thousands reads about 50 entries instead of checking
//! every pod.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::cache::ObjectMeta;
use crate::selector::{Operator, Selector};

/// (namespace, name); the namespace is empty for cluster-scoped objects.
pub(super) type Key = (String, String);

/// (namespace, label, value).
type LabelKey = (String, String, String);

/// Objects by key.
type Objects = BTreeMap<Key, Arc<ObjectMeta>>;

/// Objects by key, and the objects carrying each `label=value` per namespace (by key too, so a
/// selection reads them from its set without looking each up again).
#[derive(Debug, Default)]
pub(super) struct ObjectIndex {
    objects: Objects,
    by_label: HashMap<LabelKey, Objects>,
}

impl ObjectIndex {
    /// Add or replace an object.
    pub(super) fn insert(&mut self, key: Key, object: Arc<ObjectMeta>) {
        self.remove(&key);
        for (label, value) in &object.labels {
            self.by_label
                .entry((key.0.clone(), label.clone(), value.clone()))
                .or_default()
                .insert(key.clone(), object.clone());
        }
        self.objects.insert(key, object);
    }

    /// Remove an object.
    pub(super) fn remove(&mut self, key: &Key) {
        let Some(old) = self.objects.remove(key) else {
            return;
        };
        for (label, value) in &old.labels {
            let entry = (key.0.clone(), label.clone(), value.clone());
            if let Some(keys) = self.by_label.get_mut(&entry) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_label.remove(&entry);
                }
            }
        }
    }

    /// How many objects the index holds.
    pub(super) fn len(&self) -> usize {
        self.objects.len()
    }

    /// One object.
    pub(super) fn get(&self, key: &Key) -> Option<Arc<ObjectMeta>> {
        self.objects.get(key).cloned()
    }

    /// The objects in `namespace` an `=`, `==` or `in` requirement allows, for the requirement
    /// allowing fewest, sorted by key, and the position of that requirement in the selector
    /// (every candidate meets it); `None` when the selector has no such requirement.
    fn candidates(
        &self,
        namespace: &str,
        selector: &Selector,
    ) -> Option<(Vec<&Arc<ObjectMeta>>, usize)> {
        let (used, sets) = selector
            .requirements()
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                matches!(
                    r.operator(),
                    Operator::Equals | Operator::DoubleEquals | Operator::In
                )
            })
            .map(|(i, r)| {
                let sets = r
                    .values()
                    .iter()
                    .filter_map(|v| {
                        self.by_label
                            .get(&(namespace.to_string(), r.key().to_string(), v.clone()))
                    })
                    .collect::<Vec<_>>();
                (i, sets)
            })
            .min_by_key(|(_, sets)| sets.iter().map(|s| s.len()).sum::<usize>())?;
        let objects = match sets.as_slice() {
            [one] => one.values().collect(),
            _ => sets
                .into_iter()
                .flatten()
                .collect::<BTreeMap<_, _>>()
                .into_values()
                .collect(),
        };
        Some((objects, used))
    }

    /// The objects matching `selector`, in one namespace or all, sorted by namespace and name.
    pub(super) fn list(
        &self,
        namespace: Option<&str>,
        selector: &Selector,
    ) -> Vec<Arc<ObjectMeta>> {
        let matching = |o: &&Arc<ObjectMeta>| selector.matches(&o.labels);
        let Some(ns) = namespace else {
            return self.objects.values().filter(matching).cloned().collect();
        };
        match self.candidates(ns, selector) {
            // The candidates meet the requirement they were found by; the others are checked.
            Some((objects, used)) => objects
                .into_iter()
                .filter(|o| {
                    selector
                        .requirements()
                        .iter()
                        .enumerate()
                        .all(|(i, r)| i == used || r.matches(&o.labels))
                })
                .cloned()
                .collect(),
            None => self
                .objects
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(_, o)| o)
                .filter(matching)
                .cloned()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(ns: &str, name: &str, labels: &[(&str, &str)]) -> (Key, Arc<ObjectMeta>) {
        (
            (ns.to_string(), name.to_string()),
            Arc::new(ObjectMeta {
                namespace: (!ns.is_empty()).then(|| ns.to_string()),
                name: name.to_string(),
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            }),
        )
    }

    fn names(objects: Vec<Arc<ObjectMeta>>) -> Vec<String> {
        objects
            .iter()
            .map(|o| format!("{}/{}", o.namespace.as_deref().unwrap_or(""), o.name))
            .collect()
    }

    fn list(index: &ObjectIndex, ns: Option<&str>, selector: &str) -> Vec<String> {
        names(index.list(ns, &Selector::parse(selector).unwrap()))
    }

    #[test]
    fn the_index_answers_as_a_scan_would() {
        let mut index = ObjectIndex::default();
        for (ns, name, labels) in [
            ("a", "p1", vec![("app", "web"), ("tier", "front")]),
            ("a", "p2", vec![("app", "web"), ("tier", "back")]),
            ("a", "p3", vec![("app", "db")]),
            ("b", "p1", vec![("app", "web")]),
            ("", "n1", vec![("zone", "x")]),
        ] {
            let (k, o) = object(ns, name, &labels);
            index.insert(k, o);
        }
        assert_eq!(list(&index, Some("a"), "app=web"), ["a/p1", "a/p2"]);
        assert_eq!(list(&index, None, "app=web"), ["a/p1", "a/p2", "b/p1"]);
        assert_eq!(
            list(&index, Some("a"), "app in (db,web),tier!=back"),
            ["a/p1", "a/p3"]
        );
        assert_eq!(list(&index, Some("a"), "app=web,tier=front"), ["a/p1"]);
        assert_eq!(list(&index, Some("a"), "tier"), ["a/p1", "a/p2"]);
        assert_eq!(list(&index, Some("a"), ""), ["a/p1", "a/p2", "a/p3"]);
        assert_eq!(list(&index, None, "zone=x"), ["/n1"]);
        assert!(list(&index, Some("a"), "app=nope").is_empty());

        // Relabelling and deleting keep the index in step.
        let (k, o) = object("a", "p2", &[("app", "db")]);
        index.insert(k, o);
        assert_eq!(list(&index, Some("a"), "app=web"), ["a/p1"]);
        assert_eq!(list(&index, Some("a"), "app=db"), ["a/p2", "a/p3"]);
        index.remove(&("a".to_string(), "p3".to_string()));
        assert_eq!(list(&index, Some("a"), "app=db"), ["a/p2"]);
        assert!(index.get(&("a".to_string(), "p3".to_string())).is_none());
        assert!(!index.by_label.contains_key(&(
            "a".to_string(),
            "tier".to_string(),
            "back".to_string()
        )));
    }

    proptest::proptest! {
        /// Any selector over any labelled objects selects what checking every object would.
        #[test]
        fn selections_equal_a_scan(
            objects in proptest::collection::vec(
                (0..2usize, 0..6usize, proptest::collection::vec((0..3usize, 0..3usize), 0..4)),
                0..24,
            ),
            requirements in proptest::collection::vec((0..3usize, 0..5usize, 0..3usize, 0..3usize), 0..4),
        ) {
            const KEYS: [&str; 3] = ["app", "tier", "zone"];
            const VALUES: [&str; 3] = ["a", "b", "c"];
            let mut index = ObjectIndex::default();
            for (ns, name, labels) in &objects {
                let labels: Vec<(&str, &str)> =
                    labels.iter().map(|(k, v)| (KEYS[*k], VALUES[*v])).collect();
                let (k, o) = object(["x", "y"][*ns], &format!("p{name}"), &labels);
                index.insert(k, o);
            }
            let selector = requirements
                .iter()
                .map(|(k, op, v, w)| {
                    let (key, v, w) = (KEYS[*k], VALUES[*v], VALUES[*w]);
                    match op {
                        0 => format!("{key}={v}"),
                        1 => format!("{key} in ({v},{w})"),
                        2 => format!("{key}!={v}"),
                        3 => format!("{key} notin ({v},{w})"),
                        _ => format!("!{key}"),
                    }
                })
                .collect::<Vec<_>>()
                .join(",");
            let parsed = Selector::parse(&selector).unwrap();
            for ns in ["x", "y"] {
                let scanned: Vec<String> = names(
                    index
                        .objects
                        .values()
                        .filter(|o| o.namespace.as_deref() == Some(ns) && parsed.matches(&o.labels))
                        .cloned()
                        .collect(),
                );
                proptest::prop_assert_eq!(list(&index, Some(ns), &selector), scanned, "{}", selector);
            }
        }
    }
}
