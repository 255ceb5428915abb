//! The command line: subcommands and their flags.
//!
//! Flag names follow prometheus-adapter's so that existing manifests work unchanged.

pub mod check;

use clap::{Parser, Subcommand};

/// A Kubernetes custom, external and resource metrics API server backed by Prometheus.
#[derive(Debug, Parser)]
#[command(name = "metrics-adapter", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a rules file offline; with --render, show the PromQL a request would produce.
    Check(check::CheckArgs),
}
