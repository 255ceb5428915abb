//! The Prometheus HTTP API client: instant queries, series listing and the label APIs, with the
//! authentication, TLS and headers of prometheus-adapter's `--prometheus-*` flags.
//!
//! Unlike prometheus-adapter's client, queries go as POST form bodies by default (no URI length
//! limit on big deployments), identical queries in flight are sent once and their result shared,
//! discovery calls and long queries ask for gzip, large answers are decoded as they stream (series lists keep no label
//! values), and response bodies are bounded. Each call drives its own HTTP/1.1 connection in the
//! calling task (`transport.rs`), so an answer reaches the handler without a hand-over between
//! tasks. The environment's proxy variables (`HTTPS_PROXY` …) are not used: Prometheus is
//! reached directly, as the URL says.

mod body;
mod client;
mod credentials;
mod discovery;
mod response;
#[cfg(test)]
pub(crate) mod stand_in;
mod transport;

pub use body::Transfer;
pub use client::{ClientConfig, ConfigError, PrometheusClient, Verb};
pub use response::{QueryResult, Sample, SampleLabels, SeriesInfo};

/// Why a Prometheus call failed. These go to the log, never into an API response.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request could not be sent or the response not read.
    #[error("request to {url} failed: {source}")]
    Transport {
        /// The URL called.
        url: String,
        /// The underlying error.
        source: transport::TransportError,
    },
    /// The request took longer than the configured timeout.
    #[error("request to {url} timed out after {timeout:?}")]
    Timeout {
        /// The URL called.
        url: String,
        /// The timeout.
        timeout: std::time::Duration,
    },
    /// A status code the API does not use for answers.
    #[error("bad_response: unknown response code {0}")]
    Status(u16),
    /// `status: error` in the body.
    #[error("{error_type}: {error}")]
    Api {
        /// `errorType`
        error_type: String,
        /// `error`
        error: String,
    },
    /// The body is not what the API documents.
    #[error("bad_response: {0}")]
    Decode(String),
    /// The body is larger than we accept.
    #[error("bad_response: response body larger than {0} bytes (--prometheus-max-response-size)")]
    TooLarge(usize),
    /// Every slot of `--prometheus-max-concurrency` stayed busy for the call's whole timeout.
    #[error(
        "no free connection to Prometheus within the timeout: all {0} (--prometheus-max-concurrency) stayed busy"
    )]
    Saturated(usize),
    /// The task running a shared query ended without an answer.
    #[error("the query ended without an answer")]
    Abandoned,
}

/// The decoders of the HTTP API's answers, public for the fuzz targets (`fuzz/`), which see only
/// the public API; the client is their only caller in the adapter. `*_slice` decodes a body held
/// in memory and `*_reader` one read as it streams, as the client does for small and large
/// answers.
pub mod decode {
    use std::io::Read;

    use super::{Error, QueryResult, SeriesInfo, response};

    /// An `/api/v1/query` answer held in memory.
    pub fn query_slice(body: &[u8]) -> Result<QueryResult, Error> {
        response::decode_slice(body)
    }

    /// An `/api/v1/query` answer read as it streams.
    pub fn query_reader(body: impl Read) -> Result<QueryResult, Error> {
        response::decode_reader(body)
    }

    /// An `/api/v1/series` answer held in memory: distinct (name, label names) pairs, sorted.
    pub fn series_slice(body: &[u8]) -> Result<Vec<SeriesInfo>, Error> {
        response::decode_slice::<response::SeriesSet>(body).map(|s| s.0)
    }

    /// An `/api/v1/series` answer read as it streams.
    pub fn series_reader(body: impl Read) -> Result<Vec<SeriesInfo>, Error> {
        response::decode_reader::<response::SeriesSet>(body).map(|s| s.0)
    }

    /// An `/api/v1/labels` or `/api/v1/label/<name>/values` answer held in memory.
    pub fn labels_slice(body: &[u8]) -> Result<Vec<String>, Error> {
        response::decode_slice::<response::LabelList>(body).map(|l| l.0)
    }

    /// A label API answer read as it streams.
    pub fn labels_reader(body: impl Read) -> Result<Vec<String>, Error> {
        response::decode_reader::<response::LabelList>(body).map(|l| l.0)
    }
}
