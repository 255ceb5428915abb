//! The `metrics-adapter` binary: parse the command line and run a subcommand.

use std::process::ExitCode;

// The server allocates many small, short-lived objects per request across threads; mimalloc
// does that measurably cheaper than glibc's allocator (benches/load.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use metrics_adapter::cli::{self, Command, check, explain, serve};

/// A multi-threaded runtime, or the message saying why there is none.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

fn main() -> ExitCode {
    let cli = cli::parse(std::env::args_os());
    match cli.command {
        Command::Check(args) => {
            let report = check::run(&args);
            print!("{}", report.stdout);
            eprint!("{}", report.stderr);
            if report.success {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Explain(args) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let runtime = match runtime() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let report = runtime.block_on(explain::run(&args));
            print!("{}", report.stdout);
            eprint!("{}", report.stderr);
            ExitCode::from(report.code)
        }
        Command::Serve(args) => {
            // One TLS provider for kube and the server; an error means one is
            // already installed, which is what we want.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let runtime = match runtime() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve::run(*args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("metrics-adapter: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
