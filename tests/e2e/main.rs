//! Integration tests: the adapter binary against a real Prometheus and the Kubernetes API double.

// A test harness may panic: that is how it fails (Cargo.toml's [lints] are for the server).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

#[path = "../support/mod.rs"]
mod support;

mod auth;
mod chart;
mod check;
mod connections;
mod custom_metrics;
mod demo;
mod deploy;
mod discovery;
mod docs;
mod external_and_resource;
mod faults;
mod lifecycle;
mod operating;
mod prometheus_client;
mod reload;
mod tls;
mod victoria_metrics;
mod workloads;
