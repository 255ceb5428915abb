//! metrics-adapter: a Kubernetes custom, external and resource metrics API server backed by
//! Prometheus, compatible with prometheus-adapter's rules files and flags.
//!
//! Everything lives in this library so that tests and benchmarks use the same code as the
//! binary; `main.rs` only parses the command line. The pure core (`rules`, `selector`, `promql`,
//! `quantity`) does no I/O.

pub mod promql;
pub mod quantity;
pub mod selector;
