//! What the adapter says about itself: logs (structured `tracing` events to stderr, as text or
//! JSON, with klog's `--v` mapped onto levels) and its own metrics ([`metrics`]).

pub mod metrics;
mod process;

use tracing_subscriber::EnvFilter;

/// The format of log lines (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event, for log collectors.
    Json,
}

/// The filter for a klog verbosity: 0-2 info, 3-5 debug, 6 and more trace (every Prometheus
/// call). `RUST_LOG` overrides it.
pub fn filter_for(verbosity: u8) -> EnvFilter {
    if let Ok(filter) = EnvFilter::try_from_default_env() {
        return filter;
    }
    let ours = match verbosity {
        0..=2 => "info",
        3..=5 => "debug",
        _ => "trace",
    };
    EnvFilter::new(format!("warn,metrics_adapter={ours}"))
}

/// Install the global subscriber (once; later calls do nothing).
pub fn init_logging(verbosity: u8, format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter_for(verbosity))
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        // Colours only on a terminal: a log file or a collector gets plain text.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}
