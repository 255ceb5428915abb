//! metrics-adapter: a Kubernetes custom, external and resource metrics API server backed by
//! Prometheus, compatible with prometheus-adapter's rules files and flags.
//!
//! Everything lives in this library so that tests and benchmarks use the same code as the
//! binary; `main.rs` only parses the command line. The pure core (`rules`, `selector`, `promql`,
//! `quantity`) does no I/O.

// Tests may panic: that is how they fail. The server's code may not (Cargo.toml's [lints]).
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::string_slice
    )
)]

pub mod api;
pub mod cli;
pub mod explain;
mod in_task;
pub mod kube;
pub mod prometheus;
pub mod promql;
pub mod provider;
pub mod quantity;
pub mod registry;
pub mod reload;
pub mod resources;
pub mod rules;
pub mod selector;
pub mod server;
pub mod supervisor;
pub mod telemetry;

/// The reference files, as the integration tests read them (one file for both; the unit tests
/// use part of it).
#[cfg(test)]
#[allow(dead_code)]
#[path = "../tests/support/reference.rs"]
pub(crate) mod reference_files;
