//! The `tokenmeter` command: the native shell beside the page (design.md §4.8). It drives the same engine as the
//! page, either in headless Chromium (the page itself, over the DevTools protocol: what a web client sees) or
//! natively over hyper (raw server capacity, no browser caps), in N shards that start together; it merges their
//! records exactly, shows the merged run live, writes LLMeter-layout folders and checks k6-style thresholds.
//!
//! Modules: [`args`] (the command line), [`settings`] (configuration, overrides and credentials, checked before
//! anything is sent), [`native`] (the native clock and transport; the only clock reader here), [`browser`]
//! (Chromium shards), [`collect`] (every shard's messages into one exact view), [`view`] (the terminal),
//! [`output`] (folders and merges), [`serve`] (the page with its hosting headers), [`run`] (the whole `run`).

pub mod args;
pub mod browser;
pub mod collect;
pub mod error;
pub mod native;
pub mod output;
pub mod run;
pub mod serve;
pub mod settings;
pub mod view;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::error::CliError;

/// The command's entry point (`src/main.rs` natively).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tokenmeter: cannot start: {e}");
            return ExitCode::from(4);
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tokenmeter: {error}");
            error.exit_code()
        }
    }
}

async fn dispatch(command: Command) -> Result<(), CliError> {
    match command {
        Command::Run(args) => run::run(args).await,
        Command::Import(args) => output::import(&args.files, &args.out),
        Command::Merge(args) => {
            let thresholds = run::thresholds(&args.thresholds)?;
            let merged = output::merge_folders(&args.folders, &args.out)?;
            println!(
                "merged {} folders ({} requests) into {}",
                args.folders.len(),
                merged.records.len(),
                args.out.display()
            );
            match run::check_thresholds("merged", &merged.stats, &thresholds) {
                0 => Ok(()),
                failed => Err(CliError::Thresholds(failed)),
            }
        }
        Command::Serve(args) => {
            let served = serve::serve(&args.dist, &format!("{}:{}", args.host, args.port)).await?;
            println!(
                "serving {} on http://{}/ (Ctrl-C to stop)",
                args.dist.display(),
                served.addr
            );
            let _ = tokio::signal::ctrl_c().await;
            Ok(())
        }
    }
}
