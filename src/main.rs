//! The `nrf` binary: parses the command line, runs it, and reports any error in one line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the outermost context first, then each cause.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
