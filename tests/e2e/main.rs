//! Integration tests: the adapter binary against a real Prometheus and the Kubernetes API double.

#[path = "../support/mod.rs"]
mod support;

mod auth;
mod chart;
mod connections;
mod custom_metrics;
mod demo;
mod deploy;
mod discovery;
mod docs;
mod external_and_resource;
mod lifecycle;
mod prometheus_client;
mod reload;
mod tls;
mod victoria_metrics;
mod workloads;
