//! `ntk`: exact neural-network kernels and kernel ridge from the command
//! line. Reads `.npy` / `.csv`, writes `.npy` and JSON. Run `ntk --help`.

// A binary's output is its job: tables on stdout, errors on stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod arrays;
mod cli;
mod cluster;
mod cmd;
mod ctx;
mod distributed;
mod error;
mod gram;
mod inputs;
mod model;
mod prep;
mod report;
mod repro;
mod stream;
mod tiles;
mod train;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout and usage errors to stderr.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ntk: error: {e}");
            ExitCode::FAILURE
        }
    }
}
