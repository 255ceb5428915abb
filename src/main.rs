//! The `metrics-adapter` binary: parse the command line and run a subcommand.

use std::process::ExitCode;

use clap::Parser;
use metrics_adapter::cli::{Cli, Command, check};

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    }
}
