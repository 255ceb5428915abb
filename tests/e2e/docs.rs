//! The documents keep their promises: every test `docs/compatibility.md` cites exists, so a
//! difference from upstream is never claimed tested by a test that was renamed or removed.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// Whether `citation` (`module::path::test`, `module::tests`, or `e2e file::test`) names a test
/// function or a test module that exists.
fn cited_test_exists(citation: &str) -> bool {
    let (files, path) = match citation.strip_prefix("e2e ") {
        Some(path) => {
            let file = path.split("::").next().unwrap_or_default();
            (vec![root().join(format!("tests/e2e/{file}.rs"))], path)
        }
        None => {
            let mut files = Vec::new();
            rust_files(&root().join("src"), &mut files);
            (files, citation)
        }
    };
    let segments: Vec<&str> = path.split("::").collect();
    let Some((last, modules)) = segments.split_last() else {
        return false;
    };
    // The file must sit where the module path says: src/a/b.rs, src/a/b/mod.rs,
    // src/a/b/tests.rs … or tests/e2e/a.rs.
    let module_dirs: Vec<&str> = modules.iter().copied().filter(|m| *m != "tests").collect();
    files.iter().any(|file| {
        let relative = file.to_string_lossy();
        let in_place = module_dirs.iter().all(|m| {
            relative.contains(&format!("/{m}/")) || relative.contains(&format!("/{m}.rs"))
        });
        let Ok(text) = std::fs::read_to_string(file) else {
            return false;
        };
        in_place
            && if *last == "tests" {
                text.contains("#[test]") || text.contains("mod tests")
            } else {
                text.contains(&format!("fn {last}("))
            }
    })
}

#[test]
fn every_test_the_compatibility_page_cites_exists() {
    let page = std::fs::read_to_string(root().join("docs/compatibility.md")).unwrap();
    let citations: Vec<&str> = page
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|code| {
            let path = code.strip_prefix("e2e ").unwrap_or(code);
            path.contains("::")
                && path
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == ':')
        })
        .collect();
    assert!(citations.len() > 20, "{citations:?}");
    let missing: Vec<&&str> = citations.iter().filter(|c| !cited_test_exists(c)).collect();
    assert!(
        missing.is_empty(),
        "cited tests that do not exist: {missing:?}"
    );
}

/// The Grafana dashboard loads, every panel's query parses as PromQL (Grafana's variables given
/// values), and every `metrics_adapter_…` and `process_…` name it reads is one the adapter
/// exports.
#[test]
fn the_dashboard_queries_parse_and_read_metrics_the_adapter_exports() {
    let text =
        std::fs::read_to_string(root().join("deploy/dashboards/metrics-adapter.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(dashboard["uid"], "metrics-adapter");
    let exported = metrics_adapter::telemetry::metrics::metrics().names();
    let name = regex::Regex::new(r"\b(metrics_adapter_[a-z_]+|process_[a-z_]+)").unwrap();
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            let concrete = expr
                .replace("$__rate_interval", "5m")
                .replace("$__range", "1h")
                .replace("$job", ".+")
                .replace("$hpa_namespace", ".+");
            promql_parser::parser::parse(&concrete)
                .unwrap_or_else(|e| panic!("{}: {expr}: {e}", panel["title"]));
            for used in name.find_iter(&concrete) {
                let used = used.as_str();
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| used.strip_suffix(s))
                    .unwrap_or(used);
                assert!(
                    exported.iter().any(|n| n == base),
                    "{}: {used} is not exported (exported: {exported:?})",
                    panel["title"]
                );
            }
            queries += 1;
        }
    }
    assert!(queries >= 20, "{queries} queries");
}
