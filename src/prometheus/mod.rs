//! The Prometheus HTTP API client: instant queries and series listing, with the authentication,
//! TLS and headers of prometheus-adapter's `--prometheus-*` flags.
//!
//! Unlike prometheus-adapter's client, queries go as POST form bodies by default (no URI length
//! limit on big deployments), identical queries in flight are sent once and their result shared,
//! series responses are read without keeping label values, and response bodies are bounded.

mod client;
mod credentials;
mod response;

pub use client::{ClientConfig, ConfigError, PrometheusClient, Verb};
pub use response::{QueryResult, Sample, SeriesInfo};

/// Why a Prometheus call failed. These go to the log, never into an API response.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request could not be sent or the response not read.
    #[error("request to {url} failed: {source}")]
    Transport {
        /// The URL called.
        url: String,
        /// The underlying error.
        source: reqwest::Error,
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
    #[error("bad_response: response body larger than {0} bytes")]
    TooLarge(usize),
}

/// Decode an `/api/v1/query` answer body. The client is the adapter's only caller; this entry
/// point exists for the fuzz targets (`fuzz/`), which see only the public API.
pub fn decode_query(body: &[u8]) -> Result<QueryResult, Error> {
    response::decode_query(body)
}

/// Decode an `/api/v1/series` answer body into distinct (name, label names) pairs, sorted. Public
/// for the fuzz targets, as [`decode_query`].
pub fn decode_series(body: &[u8]) -> Result<Vec<SeriesInfo>, Error> {
    response::decode_series(body)
}
