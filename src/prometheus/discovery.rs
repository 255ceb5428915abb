//! The calls discovery makes: `/api/v1/series`, and the label APIs `/api/v1/labels` and
//! `/api/v1/label/__name__/values`, each with `match[]` and `start` (no `end`, as
//! prometheus-adapter sends series calls), a timeout chosen by the caller (a relist may take
//! longer than a query) and the bytes received counted into a [`Transfer`].
//!
//! Label API calls are always GET: Prometheus 2.42 answers `405 Method Not Allowed` to POST on
//! `/api/v1/label/<name>/values`, and their one parameter, a rule's series query, is short.

use std::time::{Duration, SystemTime};

use super::body::Transfer;
use super::client::{PrometheusClient, Verb, format_time};
use super::response::{LabelList, SeriesInfo, SeriesSet};
use super::{Error, response::Decode};

impl PrometheusClient {
    async fn discovery_call<T: Decode>(
        &self,
        path: &str,
        params: &[(&str, &str)],
        verb: Verb,
        timeout: Duration,
        transfer: &Transfer,
    ) -> Result<T, Error> {
        let url = self.api(path);
        let (answer, bytes) = self.fetch::<T>(&url, params, verb, timeout).await?;
        transfer.record(bytes);
        Ok(answer)
    }

    /// The distinct (name, label names) of the series matching `matcher` since `start`.
    pub async fn series(
        &self,
        matcher: &str,
        start: SystemTime,
        timeout: Duration,
        transfer: &Transfer,
    ) -> Result<Vec<SeriesInfo>, Error> {
        let start = format_time(start);
        let params = [("match[]", matcher), ("start", start.as_str())];
        let set: SeriesSet = self
            .discovery_call("api/v1/series", &params, self.verb(), timeout, transfer)
            .await?;
        Ok(set.0)
    }

    /// The label names (`__name__` included) of the series matching `matcher` since `start`.
    pub async fn label_names(
        &self,
        matcher: &str,
        start: SystemTime,
        timeout: Duration,
        transfer: &Transfer,
    ) -> Result<Vec<String>, Error> {
        let start = format_time(start);
        let params = [("match[]", matcher), ("start", start.as_str())];
        let list: LabelList = self
            .discovery_call("api/v1/labels", &params, Verb::Get, timeout, transfer)
            .await?;
        Ok(list.0)
    }

    /// The metric names of the series matching `matcher` since `start`.
    pub async fn metric_names(
        &self,
        matcher: &str,
        start: SystemTime,
        timeout: Duration,
        transfer: &Transfer,
    ) -> Result<Vec<String>, Error> {
        let start = format_time(start);
        let params = [("match[]", matcher), ("start", start.as_str())];
        let list: LabelList = self
            .discovery_call(
                "api/v1/label/__name__/values",
                &params,
                Verb::Get,
                timeout,
                transfer,
            )
            .await?;
        Ok(list.0)
    }
}

impl Error {
    /// Whether the backend does not serve the call at all (no such endpoint or method), as
    /// opposed to failing it: discovery then stops using that API.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Error::Status(404 | 405 | 501))
    }
}
