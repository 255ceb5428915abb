//! The command line: subcommands and their flags.
//!
//! Flag names follow prometheus-adapter's so that existing manifests work unchanged; without a
//! subcommand the binary serves, as prometheus-adapter's does.

pub mod check;
pub mod explain;
pub mod serve;

use std::ffi::OsString;

use clap::{Parser, Subcommand};

/// A Kubernetes custom, external and resource metrics API server backed by Prometheus.
#[derive(Debug, Parser)]
#[command(name = "metrics-adapter", version, about, args_override_self = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the metrics APIs (the default: without a subcommand, the arguments are serve's).
    Serve(Box<serve::ServeArgs>),
    /// Validate a rules file offline; with --render, show the PromQL a request would produce.
    Check(check::CheckArgs),
    /// Say why a metric has its value, or why an HPA shows <unknown>: for an API path, an HPA
    /// manifest or an HPA of the cluster (exit 1 when a metric would be <unknown>).
    // The text is `--help`'s, where `<unknown>` is what kubectl prints, not an HTML tag.
    #[allow(rustdoc::invalid_html_tags)]
    Explain(Box<explain::ExplainArgs>),
}

/// The subcommands' names, as typed.
const SUBCOMMANDS: &[&str] = &["serve", "check", "explain", "help"];

/// Parse the command line. Anything but a subcommand name (or `--help`, `--version`) in first
/// place means `serve`, so prometheus-adapter's container args work unchanged: the community
/// Helm chart runs the image's entrypoint `/adapter` with args that start with `/adapter` again,
/// a positional argument that upstream's flag parsing ignores, and so does `serve`.
pub fn parse<I, T>(args: I) -> Cli
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    try_parse(args).unwrap_or_else(|e| e.exit())
}

/// [`parse`], returning clap's error instead of exiting.
pub fn try_parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let implicit_serve = args.get(1).is_some_and(|first| {
        let first = first.to_string_lossy();
        !SUBCOMMANDS.contains(&first.as_ref())
            && !matches!(first.as_ref(), "-h" | "--help" | "-V" | "--version")
    });
    if implicit_serve {
        args.insert(1, OsString::from("serve"));
    }
    Cli::try_parse_from(args)
}

#[cfg(test)]
mod tests;
