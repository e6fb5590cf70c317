//! Recomputes a run folder's `stats.json` (Tokenmeter's or LLMeter's) and prints it, indented by four, to stdout:
//!
//! ```text
//! cargo run --release --example recompute -- <run folder> [--percentiles linear|llmeter]
//! ```
//!
//! Without `--percentiles`, the method the saved `stats.json` names is used, else LLMeter's. Warnings go to
//! stderr; a bad folder or bad arguments give one line on stderr and a non-zero exit. The work is
//! `RunFolder::recompute`, tested in `tests/format.rs`; this file only parses arguments.

use std::path::PathBuf;
use std::process::ExitCode;

use tokenmeter::core::format::{write_stats, RunFolder};
use tokenmeter::core::stats::PercentileMethod;

const USAGE: &str = "usage: recompute <run folder> [--percentiles linear|llmeter]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (folder, method) = match parse_args(&args) {
        Ok(parsed) => parsed,
        Err(problem) => {
            eprintln!("recompute: {problem}; {USAGE}");
            return ExitCode::from(2);
        }
    };
    match RunFolder::recompute(&folder, method) {
        Ok(run) => {
            for warning in &run.warnings {
                eprintln!("recompute: warning: {warning}");
            }
            println!("{}", write_stats(&run.stats));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("recompute: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The folder and the optional percentile method.
fn parse_args(args: &[String]) -> Result<(PathBuf, Option<PercentileMethod>), String> {
    let mut folder = None;
    let mut method = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let name = if arg == "--percentiles" {
            rest.next().ok_or("--percentiles needs a value")?.as_str()
        } else if let Some(name) = arg.strip_prefix("--percentiles=") {
            name
        } else if arg.starts_with('-') {
            return Err(format!("unknown option {arg:?}"));
        } else if folder.is_none() {
            folder = Some(PathBuf::from(arg));
            continue;
        } else {
            return Err(format!("unexpected argument {arg:?}"));
        };
        let parsed =
            PercentileMethod::parse(name).ok_or_else(|| format!("unknown percentile method {name:?}"))?;
        method = Some(parsed);
    }
    Ok((folder.ok_or("no run folder given")?, method))
}
