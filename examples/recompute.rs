//! Recomputes the `stats.json` of a run folder (Tokenmeter's or LLMeter's), of every level of a LoadTest
//! folder, or of the run folders in a `.zip` file, and prints it, indented by four, to stdout:
//!
//! ```text
//! cargo run --release --example recompute -- <run folder | LoadTest folder | .zip> [--percentiles linear|llmeter]
//! ```
//!
//! A run folder prints its recomputed `stats.json`. A folder of run folders (a LoadTest's `{test_name}/` with its
//! `{clients:05}-clients/` levels) or a zip with several run folders prints one JSON object: each run folder's
//! path, then its recomputed `stats.json`, LoadTest levels by clients. A zip with one run folder prints as that
//! folder does. Without `--percentiles`, each run uses the method its saved `stats.json` names, else LLMeter's.
//! Warnings go to stderr; a bad folder or bad arguments give one line on stderr and a non-zero exit. The work is
//! `recompute_path`, tested in `tests/format.rs` and `tests/archive.rs`; this file only parses arguments.

use std::path::PathBuf;
use std::process::ExitCode;

use tokenmeter::core::format::recompute_path;
use tokenmeter::core::stats::PercentileMethod;

const USAGE: &str = "usage: recompute <run folder | LoadTest folder | .zip> [--percentiles linear|llmeter]";

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
    match recompute_path(&folder, method) {
        Ok(recomputed) => {
            for warning in recomputed.warnings() {
                eprintln!("recompute: warning: {warning}");
            }
            println!("{}", recomputed.stats_text());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("recompute: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The folder (or zip) and the optional percentile method.
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
