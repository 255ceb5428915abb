//! The `<<…>>` template engine: `Template::parse` of any text, as a query or a label template,
//! and rendering with any field values.
//!
//! Input: a kind byte (`l` for a label template, anything else for a query template), then
//! NUL-separated parts: the template, `.Series`, `.LabelMatchers`, `.GroupBy` (also split at `,`
//! for `.GroupBySlice`), and `.LabelValuesByName` as `key=value` lines.
//! Invariants: a parsed template keeps its source and re-parses to itself; text without `<<`
//! renders as itself; `uses` tells the truth: changing a field the template does not use never
//! changes the output; rendering fails only for an index past the end of `.GroupBySlice`, and
//! not once the slice is long enough.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use metrics_adapter::rules::template::{
    Field, LabelData, QueryData, RenderError, Template, TemplateKind,
};

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let kind = if kind == b'l' {
        TemplateKind::Label
    } else {
        TemplateKind::Query
    };
    let mut parts = text.split('\0');
    let source = parts.next().unwrap_or_default();
    let series = parts.next().unwrap_or_default();
    let label_matchers = parts.next().unwrap_or_default();
    let group_by = parts.next().unwrap_or_default();
    let values: BTreeMap<String, String> = parts
        .next()
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let slice: Vec<String> = group_by.split(',').map(str::to_string).collect();

    let Ok(template) = Template::parse(source, kind) else {
        return;
    };
    assert_eq!(template.source(), source);
    assert_eq!(Template::parse(source, kind).as_ref(), Ok(&template));

    match kind {
        TemplateKind::Label => {
            let data = LabelData {
                group: series,
                resource: label_matchers,
            };
            let out = template.render_label(&data);
            if !source.contains("<<") {
                assert_eq!(out, source);
            }
            for (field, changed) in [
                (
                    Field::Group,
                    LabelData {
                        group: "other",
                        ..data
                    },
                ),
                (
                    Field::Resource,
                    LabelData {
                        resource: "other",
                        ..data
                    },
                ),
            ] {
                if !template.uses(field) {
                    assert_eq!(template.render_label(&changed), out, "{field:?} unused");
                }
            }
        }
        TemplateKind::Query => {
            let data = QueryData {
                series,
                label_matchers,
                label_values_by_name: &values,
                group_by,
                group_by_slice: &slice,
            };
            let out = render(&template, &data);
            if !source.contains("<<") {
                assert_eq!(out.as_deref(), Ok(source));
            }
            let other_values = BTreeMap::from([("pod".to_string(), "other".to_string())]);
            let other_slice = vec!["other".to_string(); slice.len()];
            for (field, changed) in [
                (
                    Field::Series,
                    QueryData {
                        series: "other",
                        ..data
                    },
                ),
                (
                    Field::LabelMatchers,
                    QueryData {
                        label_matchers: "other",
                        ..data
                    },
                ),
                (
                    Field::GroupBy,
                    QueryData {
                        group_by: "other",
                        ..data
                    },
                ),
                (
                    Field::GroupBySlice,
                    QueryData {
                        group_by_slice: &other_slice,
                        ..data
                    },
                ),
                (
                    Field::LabelValuesByName,
                    QueryData {
                        label_values_by_name: &other_values,
                        ..data
                    },
                ),
            ] {
                if !template.uses(field) {
                    assert_eq!(render(&template, &changed), out, "{field:?} unused");
                }
            }
            if let Err(RenderError(index)) = out {
                assert!(template.uses(Field::GroupBySlice));
                assert!(index >= slice.len());
                if index < 4096 {
                    let longer = vec!["x".to_string(); index + 1];
                    let again = render(
                        &template,
                        &QueryData {
                            group_by_slice: &longer,
                            ..data
                        },
                    );
                    assert_ne!(again, Err(RenderError(index)));
                }
            }
        }
    }
});

fn render(template: &Template, data: &QueryData<'_>) -> Result<String, RenderError> {
    let out = template.render_query(data)?;
    // Rendering must not depend on anything but the template and the data.
    assert_eq!(template.render_query(data).as_ref(), Ok(&out));
    Ok(out)
}
