//! Hot reload of the rules file: the file is re-read every `--config-reload-interval` and on
//! SIGHUP; a changed file that loads replaces the rules (and with them the registry and the
//! discovery documents), a file that is refused is logged with every error and the previous rules
//! keep serving. prometheus-adapter never re-reads its config (its issues #104, #678).
//!
//! The file is compared by content, not by modification time, so a ConfigMap volume's symlink
//! swap is seen whatever times the kubelet sets. It is read off the async runtime with a
//! deadline: a file that blocks on read (a FIFO, a hung network file system) cannot freeze the
//! server, and a read that is still stuck is waited on again at the next poll, never started
//! twice. A reload to a file with no rules at all (empty, or only comments: a ConfigMap emptied by
//! mistake) is refused unless the file says so (`rules: []`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::rules::{self, LoadError, Rules};

/// How long reading the rules file may take.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The rules file and what was last read from it.
#[derive(Debug)]
pub struct ConfigSource {
    path: PathBuf,
    /// The content last read; `None` when the last read failed.
    last: Option<Vec<u8>>,
    /// A read that did not finish in time, waited on again at the next poll.
    stuck: Option<JoinHandle<std::io::Result<Vec<u8>>>>,
    read_timeout: Duration,
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

fn refusal(path: &Path, message: String) -> LoadError {
    LoadError {
        file: path.display().to_string(),
        errors: vec![rules::ConfigError {
            line: 0,
            column: 0,
            rule: None,
            field: String::new(),
            message,
        }],
    }
}

impl ConfigSource {
    /// Load the file for the first time. An empty file starts the server with no rules, as
    /// prometheus-adapter does; only reloads refuse one.
    pub async fn open(path: &Path) -> Result<(ConfigSource, Rules), LoadError> {
        Self::open_with_timeout(path, READ_TIMEOUT).await
    }

    /// [`ConfigSource::open`], with reads bounded by `read_timeout`.
    async fn open_with_timeout(
        path: &Path,
        read_timeout: Duration,
    ) -> Result<(ConfigSource, Rules), LoadError> {
        let mut source = ConfigSource {
            path: path.to_path_buf(),
            last: None,
            stuck: None,
            read_timeout,
        };
        let bytes = source.read().await?;
        let rules = parse(path, &bytes)?;
        source.last = Some(bytes);
        Ok((source, rules))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Forget what was read, so that the next poll applies the file again (its rules could not
    /// be switched to yet).
    pub fn forget(&mut self) {
        self.last = None;
    }

    /// Read the file off the runtime, within [`READ_TIMEOUT`].
    async fn read(&mut self) -> Result<Vec<u8>, LoadError> {
        let mut reading = match self.stuck.take() {
            Some(reading) => reading,
            None => {
                let path = self.path.clone();
                tokio::task::spawn_blocking(move || std::fs::read(path))
            }
        };
        match tokio::time::timeout(self.read_timeout, &mut reading).await {
            Ok(Ok(Ok(bytes))) => Ok(bytes),
            Ok(Ok(Err(e))) => Err(refusal(
                &self.path,
                format!("unable to read the rules file: {e}"),
            )),
            Ok(Err(e)) => Err(refusal(
                &self.path,
                format!("unable to read the rules file: {e}"),
            )),
            Err(_) => {
                self.stuck = Some(reading);
                Err(refusal(
                    &self.path,
                    format!(
                        "the rules file could not be read within {:?} (a FIFO, or a file system that does not answer?)",
                        self.read_timeout
                    ),
                ))
            }
        }
    }

    /// Read the file again; `force` reloads even if the content is the same (SIGHUP).
    pub async fn poll(&mut self, force: bool) -> Poll {
        let still_stuck = self.stuck.is_some();
        let bytes = match self.read().await {
            Ok(b) => b,
            // An unreadable (or still stuck) file is reported once, not at every poll.
            Err(_) if (self.last.is_none() || still_stuck) && !force => return Poll::Unchanged,
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
            Ok(rules) if rules.is_empty() && !rules.names_a_section => Poll::Refused(refusal(
                &self.path,
                "the file has no rules at all (it is empty or holds only comments); write `rules: []` to serve no metrics on purpose".into(),
            )),
            Ok(rules) => Poll::Reloaded(Box::new(rules)),
            Err(e) => Poll::Refused(e),
        }
    }
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Rules, LoadError> {
    let file = path.display().to_string();
    match std::str::from_utf8(bytes) {
        Ok(text) => rules::parse(text, &file),
        Err(e) => Err(refusal(path, format!("the rules file is not UTF-8: {e}"))),
    }
}

#[cfg(test)]
mod tests;
