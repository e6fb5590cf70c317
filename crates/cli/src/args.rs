//! The command line, as clap reads it. Every check beyond clap's own happens in [`crate::settings`].

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Measure the latency and throughput of LLM endpoints: headless runs with thresholds, browser shards or the
/// native engine, exact merges of run folders, and the page itself.
#[derive(Debug, Parser)]
#[command(name = "tokenmeter", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The exit codes, as `--help` shows them (README: "The tokenmeter command").
pub const EXIT_CODES: &str =
    "Exit codes: 0 every threshold held; 2 bad arguments or configuration (nothing was \
sent); 3 the browser could not start; 4 the run could not complete (the check failed, every shard failed); \
99 a threshold failed; 130 interrupted (Ctrl-C): partial results were kept.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a configuration (the page's Save configuration, a run's run_config.json, or LLMeter's).
    Run(RunArgs),
    /// Merge run folders (shards of one run) into one, exactly.
    Merge(MergeArgs),
    /// Import another tool's results (GuideLLM benchmarks.json, AIPerf profile_export.jsonl and
    /// profile_export_aiperf.json) as run folders: the tool's own numbers, and Tokenmeter's recomputed.
    Import(ImportArgs),
    /// Serve the page (dist/) with its hosting headers, for people without Trunk.
    Serve(ServeArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// The page's own engine in headless Chromium: what a web client sees.
    Browser,
    /// The same engine over a native HTTP client in this process: raw server capacity, no browser caps.
    Native,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The tool's files (its format is told by content).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Where each run's folders go: DIR/<run>/own (the tool's numbers) and DIR/<run>/tokenmeter (recomputed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The configuration file (JSON).
    pub config: PathBuf,
    /// Override a setting by its query-parameter name, e.g. --set clients=64 (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    #[arg(long, value_enum, default_value_t = Engine::Browser)]
    pub engine: Engine,
    /// Split the run over N engines (browser processes, or native threads) that start together.
    #[arg(long, default_value_t = 1)]
    pub shards: u32,
    /// Run only shard I of N (I/N, 0-based), e.g. one pod of a Kubernetes Indexed Job.
    #[arg(long, value_name = "I/N", conflicts_with = "shards")]
    pub shard: Option<String>,
    /// Start at this wall time (Unix ms), shared by every shard; default: as soon as all are ready.
    #[arg(long, value_name = "UNIX_MS")]
    pub start_at: Option<i64>,
    /// Where the result folder goes (the merged run, and each shard's in shards/NN/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The built page to serve on loopback for the browser engine.
    #[arg(long, value_name = "DIR", default_value = "dist", conflicts_with = "page")]
    pub dist: PathBuf,
    /// A hosted page to drive instead of serving dist/.
    #[arg(long, value_name = "URL")]
    pub page: Option<String>,
    /// The Chromium to start.
    #[arg(
        long,
        value_name = "PATH",
        env = "TOKENMETER_CHROMIUM",
        default_value = "chromium"
    )]
    pub chromium: String,
    /// A k6-style threshold on any stats.json key, e.g. 'time_to_first_token-p99<0.5' (repeatable).
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// Print one JSON snapshot per line instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write a one-file report (self-contained .html: tables, figures, settings, data) to this path.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Give up on a shard that reports nothing for this long (s).
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub stall_timeout: f64,
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The run folders to merge.
    #[arg(required = true)]
    pub folders: Vec<PathBuf>,
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Thresholds to check on the merged run (as for run).
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[arg(long, value_name = "DIR", default_value = "dist")]
    pub dist: PathBuf,
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
}
