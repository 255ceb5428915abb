//! Harnesses shared by the integration tests: real servers started on free loopback ports and
//! stopped when the test drops them, and the small doubles that stand in for what cannot run here.

pub mod adapter;
pub mod double_cluster;
pub mod exporter;
pub mod faulty_prometheus;
pub mod harness;
pub mod hpa;
pub mod kube;
pub mod label_match;
// What the benches measure a process by; the tests use only `stat_fields`.
#[allow(dead_code)]
pub mod process;
pub mod prometheus;
pub mod redis;
pub mod reference;
pub mod victoria_metrics;
pub mod world;
