//! Why the command stopped, each with its documented exit code (`args::EXIT_CODES`).

use std::process::ExitCode;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CliError {
    /// Bad arguments or configuration: nothing was sent.
    #[error("{0}")]
    Config(String),
    /// The browser could not start (missing, or crashed at launch).
    #[error("{0}")]
    Browser(String),
    /// The run could not complete: the check failed, the engine failed, or every shard failed.
    #[error("{0}")]
    Run(String),
    /// Writing or reading files failed.
    #[error("{0}")]
    Io(String),
    /// At least one threshold failed (each is printed).
    #[error("{0} threshold(s) failed")]
    Thresholds(usize),
    /// An SLO search found no level that meets the SLO.
    #[error("{0}")]
    SloSearch(String),
    /// Ctrl-C or SIGTERM: the shards were stopped and partial results kept.
    #[error("interrupted: partial results were kept")]
    Interrupted,
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Config(_) => 2,
            CliError::Browser(_) => 3,
            CliError::Run(_) | CliError::Io(_) => 4,
            CliError::Thresholds(_) | CliError::SloSearch(_) => 99,
            CliError::Interrupted => 130,
        })
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Io(e.to_string())
    }
}
