//! Hot reload of the rules file: the file is re-read every `--config-reload-interval` and on
//! SIGHUP; a changed file that loads replaces the rules (and with them the registry and the
//! discovery documents), a file that is refused is logged with every error and the previous rules
//! keep serving. prometheus-adapter never re-reads its config (its issues #104, #678).
//!
//! The file is compared by content, not by modification time, so a ConfigMap volume's symlink
//! swap is seen whatever times the kubelet sets.

use std::path::{Path, PathBuf};

use crate::rules::{self, LoadError, Rules};

/// The rules file and what was last read from it.
#[derive(Debug)]
pub struct ConfigSource {
    path: PathBuf,
    /// The content last read; `None` when the last read failed.
    last: Option<Vec<u8>>,
}

/// What a poll found.
#[derive(Debug)]
pub enum Poll {
    /// The file did not change.
    Unchanged,
    /// New rules.
    Reloaded(Box<Rules>),
    /// The new content was refused; the previous rules stay. The same content is not reported
    /// again.
    Refused(LoadError),
}

impl ConfigSource {
    /// Load the file for the first time.
    pub fn open(path: &Path) -> Result<(ConfigSource, Rules), LoadError> {
        let bytes = read(path)?;
        let rules = parse(path, &bytes)?;
        Ok((
            ConfigSource {
                path: path.to_path_buf(),
                last: Some(bytes),
            },
            rules,
        ))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read the file again; `force` reloads even if the content is the same (SIGHUP).
    pub fn poll(&mut self, force: bool) -> Poll {
        let bytes = match read(&self.path) {
            Ok(b) => b,
            // An unreadable file is reported once, not at every poll.
            Err(_) if self.last.is_none() && !force => return Poll::Unchanged,
            Err(e) => {
                self.last = None;
                return Poll::Refused(e);
            }
        };
        if self.last.as_ref() == Some(&bytes) && !force {
            return Poll::Unchanged;
        }
        let parsed = parse(&self.path, &bytes);
        self.last = Some(bytes);
        match parsed {
            Ok(rules) => Poll::Reloaded(Box::new(rules)),
            Err(e) => Poll::Refused(e),
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|e| LoadError {
        file: path.display().to_string(),
        errors: vec![rules::ConfigError {
            line: 0,
            column: 0,
            rule: None,
            field: String::new(),
            message: format!("unable to read the rules file: {e}"),
        }],
    })
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Rules, LoadError> {
    let file = path.display().to_string();
    match std::str::from_utf8(bytes) {
        Ok(text) => rules::parse(text, &file),
        Err(e) => Err(LoadError {
            file,
            errors: vec![rules::ConfigError {
                line: 0,
                column: 0,
                rule: None,
                field: String::new(),
                message: format!("the rules file is not UTF-8: {e}"),
            }],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str =
        "rules:\n- seriesQuery: a\n  resources: {template: <<.Resource>>}\n  metricsQuery: x\n";
    const B: &str =
        "rules:\n- seriesQuery: b\n  resources: {template: <<.Resource>>}\n  metricsQuery: x\n";

    #[test]
    fn changes_reload_refusals_keep_the_previous_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, A).unwrap();
        let (mut source, rules) = ConfigSource::open(&path).unwrap();
        assert_eq!(rules.custom[0].series_query, "a");
        assert!(matches!(source.poll(false), Poll::Unchanged));
        assert!(matches!(source.poll(true), Poll::Reloaded(_)));
        std::fs::write(&path, B).unwrap();
        match source.poll(false) {
            Poll::Reloaded(r) => assert_eq!(r.custom[0].series_query, "b"),
            other => panic!("{other:?}"),
        }
        std::fs::write(&path, "rules: [\n").unwrap();
        match source.poll(false) {
            Poll::Refused(e) => assert!(e.to_string().contains("config.yaml:2:"), "{e}"),
            other => panic!("{other:?}"),
        }
        // The same refused content is not reported again.
        assert!(matches!(source.poll(false), Poll::Unchanged));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(source.poll(false), Poll::Refused(_)));
        assert!(matches!(source.poll(false), Poll::Unchanged));
        assert!(ConfigSource::open(&path).is_err());
        std::fs::write(&path, A).unwrap();
        assert!(matches!(source.poll(false), Poll::Reloaded(_)));
    }
}
