//! The reference files in `../shared/reference/` (prometheus-adapter's own configs, the Helm
//! chart's args): data the tests load, never copied into the project. CI has them; a plain clone
//! of the repository does not, and there the tests (or parts of tests) that read them are
//! skipped and say so. This file is shared by the unit tests (`lib.rs` includes it) and the
//! integration tests.

use std::io::Write as _;
use std::path::PathBuf;

/// The environment variable naming a file where skips are appended, one line each, for
/// `scripts/test` to print after the run (cargo captures a passing test's output).
pub const SKIP_LOG: &str = "METRICS_ADAPTER_SKIPPED_TESTS";

fn directory() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/reference")
}

/// The path of a reference file, whether or not it is there.
pub fn reference_path(name: &str) -> PathBuf {
    directory().join(name)
}

/// `true` when the reference files are absent: the calling test (or the part of it that needs
/// `what`) is skipped, and the skip is reported.
pub fn without_reference(what: &str) -> bool {
    if directory().is_dir() {
        return false;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let line = format!("{test}: {what} skipped (../shared/reference is absent)");
    eprintln!("{line}");
    if let Some(log) = std::env::var_os(SKIP_LOG)
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
    {
        let _ = writeln!(file, "{line}");
    }
    true
}

/// The text of a reference file; `None` (reported as a skip of `what`) when the reference files
/// are absent. A file missing from a present directory fails the test.
pub fn reference_text(name: &str, what: &str) -> Option<String> {
    if without_reference(what) {
        return None;
    }
    let path = reference_path(name);
    Some(
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reference file {}: {e}", path.display())),
    )
}
