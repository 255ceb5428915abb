//! Field selectors (`fieldSelector` of metrics.k8s.io and custom metrics): `FieldSelector::parse`
//! over the fields pods support, `required` and `matches`.
//!
//! Input: the selector text. Invariants: every term names a supported field; the terms written
//! back with every special character escaped parse to the same terms (values that end in
//! whitespace excepted: the parser trims them, as the term text is trimmed); `required` is the
//! first non-negated term's value; with distinct fields, an object whose fields hold the terms'
//! values matches exactly when no term is negated, and one whose fields hold other values
//! matches exactly when every term is negated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metrics_adapter::provider::POD_FIELDS;
use metrics_adapter::selector::{FieldSelector, FieldTerm};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(selector) = FieldSelector::parse(text, POD_FIELDS) else {
        return;
    };
    let terms = selector.terms();
    for t in terms {
        assert!(POD_FIELDS.contains(&t.field.as_str()), "{text:?}: {t:?}");
    }

    if !terms.iter().any(|t| t.value.ends_with(char::is_whitespace)) {
        let written = write(terms);
        let again = FieldSelector::parse(&written, POD_FIELDS)
            .unwrap_or_else(|e| panic!("{text:?} written as {written:?}: {e}"));
        assert_eq!(again.terms(), terms, "{text:?} written as {written:?}");
    }

    for field in POD_FIELDS {
        let first = terms.iter().find(|t| t.field == *field && !t.negated);
        assert_eq!(
            selector.required(field),
            first.map(|t| t.value.as_str()),
            "{text:?}"
        );
    }

    let distinct = terms
        .iter()
        .enumerate()
        .all(|(i, t)| terms.iter().skip(i + 1).all(|u| u.field != t.field));
    if distinct {
        let value_of = |field: &str| {
            terms
                .iter()
                .find(|t| t.field == field)
                .map(|t| t.value.clone())
                .unwrap_or_default()
        };
        assert_eq!(
            selector.matches(value_of),
            terms.iter().all(|t| !t.negated),
            "{text:?}"
        );
        let other_of = |field: &str| format!("{}\u{1}", value_of(field));
        assert_eq!(
            selector.matches(other_of),
            terms.iter().all(|t| t.negated),
            "{text:?}"
        );
    }
});

/// The terms as text, escaping what the grammar gives a meaning (and a leading space, which the
/// parser would otherwise trim).
fn write(terms: &[FieldTerm]) -> String {
    let mut out = String::new();
    for (i, t) in terms.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&t.field);
        out.push_str(if t.negated { "!=" } else { "=" });
        for (j, c) in t.value.chars().enumerate() {
            if matches!(c, '\\' | ',' | '=' | '!') || (j == 0 && c.is_whitespace()) {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}
