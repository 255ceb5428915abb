//! Logging: structured `tracing` events to stderr, with klog's `--v` mapped onto levels.

use tracing_subscriber::EnvFilter;

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
pub fn init_logging(verbosity: u8) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter_for(verbosity))
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file or a collector gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
