//! Result files: a run folder in LLMeter's format, written from and read back into in-memory types.
//!
//! A run folder holds LLMeter's four files, which `llmeter.results.Result.load` reads, plus one of ours:
//!
//! | file | written by | content |
//! |---|---|---|
//! | `run_config.json` | [`run_config`] | the run's configuration, LLMeter's keys, then `tokenmeter_format_version` and `tokenmeter_plan` |
//! | `responses.jsonl` | [`responses`] | one `InvocationResponse` per line, LLMeter's 14 keys only |
//! | `tokenmeter_responses.jsonl` | [`responses`] | line *i* holds Tokenmeter's extras for line *i* of `responses.jsonl` (typed error kind, HTTP status, nanosecond timing) |
//! | `summary.json` | [`summary`] | LLMeter's `Result` fields, nothing else |
//! | `stats.json` | [`stats_file`] | the flat stats map of [`crate::stats::RunningStats`] plus `tokenmeter_format_version` |
//!
//! Why the extras live in a separate file: LLMeter 0.1.x (and the `main` that llmeter-reference.md describes)
//! builds each response with `InvocationResponse(**line)` and the result with `Result(**summary)`, so one unknown
//! key makes `Result.load` raise `TypeError`. LLMeter 0.2.0 moves unknown response keys into `annotations`, but
//! still rejects unknown summary keys. With those two files kept to LLMeter's keys, `Result.load` of llmeter
//! 0.1.12 and 0.2.0 (PyPI) both load a folder written here, bytes markers and sub-second times included. The
//! readers here also accept the extras inline in `responses.jsonl`.
//!
//! [`archive`] zips one run (`{run_name}/{file}`) or a LoadTest sweep (`{test_name}/{clients:05}-clients/{file}`,
//! LLMeter's layout), reads zips back within stated size limits, and groups a zip's or a directory picker's files
//! into run folders, recognising a LoadTest.
//!
//! Reading is a pure function of the files' text ([`run_folder::LoadedRun::from_files`]) so the browser can use
//! it on uploaded files; [`run_folder::RunFolder::load`] is the thin native wrapper that reads a directory.
//! Reading never panics: every problem is a [`FormatError`] naming the file, the line (for JSON Lines), the field
//! and what was wrong, or, where LLMeter itself tolerates it, a [`FormatWarning`] next to the result.
//!
//! Only types under `core::format` derive `Serialize`: they are the wire format. Must not import `protocol`,
//! `engine`, `charts`, `browser` or `ui`.

pub mod archive;
pub mod foreign;
pub mod import;
mod json;
pub mod merge;
pub mod plan;
pub mod responses;
pub mod run_config;
pub mod run_folder;
pub mod stats_file;
pub mod summary;

use std::fmt;

use crate::stats::StatsConfigError;

pub use archive::{
    as_load_test, group_run_folders, load_test_entries, read_zip, read_zip_with, recompute_folder,
    recompute_folders, run_entries, write_zip, write_zip_at, ArchiveError, FolderFiles, LoadTestLayout,
    Recomputed, RecomputedRun, ZipLimits, ZipStream,
};
pub use json::{format_datetime, parse_datetime};
pub use merge::{
    load_under_own_rules, merge_folder_files, merge_runs, stats_config_of, MergeError, MergePart, MergedRun,
    MissingShard, ShardFacts, ShardRecord, ShardStatus,
};
pub use responses::{
    bytes_marker, decode_bytes_marker, infer_error_kind, read_responses, read_responses_after, write_extras,
    write_extras_line, write_response_line, write_responses, ParsedResponses, BYTES_MARKER_KEY,
};
pub use run_config::{
    read_run_config, write_run_config, ClientFacts, ClockInfo, EndpointBlock, RunConfigFile,
};
#[cfg(not(target_arch = "wasm32"))]
pub use run_folder::{recompute_path, recompute_stats_json, RunFolder};
pub use run_folder::{
    stats_config_for, write_run, Files, InfoSource, LoadedRun, ResponsesFold, RunToWrite, StatsSource,
};
pub use stats_file::{read_stats, run_info_from_stats, stats_datetime, stats_number, write_stats};
pub use summary::{read_summary, write_summary};

/// The version of Tokenmeter's additions to LLMeter's files; bumped when their meaning changes.
pub const FORMAT_VERSION: u64 = 1;

/// The key that carries [`FORMAT_VERSION`] in `run_config.json`, `stats.json` and `tokenmeter_responses.jsonl`.
pub const FORMAT_VERSION_KEY: &str = "tokenmeter_format_version";

/// One file of a run folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunFile {
    RunConfig,
    Responses,
    TokenmeterResponses,
    Summary,
    Stats,
}

impl RunFile {
    /// Every file, in the order [`write_run`] produces them.
    pub const ALL: [RunFile; 5] = [
        RunFile::RunConfig,
        RunFile::Responses,
        RunFile::TokenmeterResponses,
        RunFile::Summary,
        RunFile::Stats,
    ];

    /// The file's name inside a run folder.
    pub const fn file_name(self) -> &'static str {
        match self {
            RunFile::RunConfig => "run_config.json",
            RunFile::Responses => "responses.jsonl",
            RunFile::TokenmeterResponses => "tokenmeter_responses.jsonl",
            RunFile::Summary => "summary.json",
            RunFile::Stats => "stats.json",
        }
    }
}

impl fmt::Display for RunFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file_name())
    }
}

/// Where a problem is: a file and, for JSON Lines files, the 1-based line number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub file: RunFile,
    pub line: Option<usize>,
}

impl Location {
    /// A whole JSON file.
    pub const fn file(file: RunFile) -> Location {
        Location { file, line: None }
    }

    /// One line of a JSON Lines file.
    pub const fn line(file: RunFile, line: usize) -> Location {
        Location {
            file,
            line: Some(line),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}, line {line}", self.file),
            None => write!(f, "{}", self.file),
        }
    }
}

/// Why a run folder or one of its files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The text is not JSON (or a JSON Lines line is not), e.g. a malformed or truncated line.
    #[error("{at}: invalid JSON: {}", json_detail(.source, .at))]
    Json {
        at: Location,
        #[source]
        source: serde_json::Error,
    },
    /// A file or line holds JSON of the wrong shape: a JSON object was expected.
    #[error("{at}: expected a JSON object, found {found}")]
    NotAnObject { at: Location, found: &'static str },
    /// One field holds a value that cannot be what LLMeter or Tokenmeter writes there.
    #[error("{at}: field `{field}`: {problem}")]
    Field {
        at: Location,
        field: String,
        problem: FieldProblem,
    },
    /// A file or folder could not be read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The path does not name a folder.
    #[error("{path}: not a run folder (no such directory)")]
    NotAFolder { path: String },
    /// Neither `responses.jsonl` nor `stats.json` exists (LLMeter's `Result.load` raises the same).
    #[error("{folder}: no data to recover: neither responses.jsonl nor stats.json exists")]
    MissingFile { folder: String },
    /// A problem inside one of several run folders (a LoadTest level, a folder of an archive).
    #[error("{folder}: {source}")]
    InFolder {
        folder: String,
        #[source]
        source: Box<FormatError>,
    },
    /// A zip archive could not be read.
    #[error("{path}: {source}")]
    Archive {
        path: String,
        #[source]
        source: archive::ArchiveError,
    },
    /// An archive or a folder holds no run folder (a folder with `stats.json` or `responses.jsonl`…).
    #[error(
        "{path}: no run folder inside (a run folder holds stats.json, responses.jsonl, summary.json or \
         run_config.json)"
    )]
    NoRunFolder { path: String },
    /// The statistics configuration for recomputing `stats.json` was refused.
    #[error("cannot recompute stats.json: {0}")]
    StatsConfig(#[from] StatsConfigError),
}

/// serde_json's message, with its position given as a column when the text was one line of a JSON Lines file
/// (serde_json counts lines within that one line, so its "line 1" would mislead).
fn json_detail(source: &serde_json::Error, at: &Location) -> String {
    let full = source.to_string();
    if at.line.is_none() {
        return full;
    }
    let position = format!(" at line {} column {}", source.line(), source.column());
    match full.strip_suffix(&position) {
        Some(message) => format!("{message} at column {}", source.column()),
        None => full,
    }
}

impl FormatError {
    /// A problem with `field` at `at`.
    pub(crate) fn field(at: Location, field: impl Into<String>, problem: FieldProblem) -> FormatError {
        FormatError::Field {
            at,
            field: field.into(),
            problem,
        }
    }
}

/// What is wrong with one field's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    /// A required field is absent.
    #[error("missing")]
    Missing,
    /// The JSON type is wrong, e.g. a string where seconds are expected.
    #[error("expected {expected}, found {found}")]
    WrongType { expected: &'static str, found: String },
    /// A count or duration below zero.
    #[error("must not be negative, found {value}")]
    Negative { value: String },
    /// A number too large (or fractional) for what it counts.
    #[error("{value} is out of range for {expected}")]
    OutOfRange { value: String, expected: &'static str },
    /// A date-time that is not ISO 8601.
    #[error("not an ISO 8601 date-time: {value:?}")]
    BadDateTime { value: String },
    /// A `{"__llmeter_bytes__": …}` marker whose value is not base64.
    #[error("invalid `__llmeter_bytes__` marker: {reason}")]
    BadBytesMarker { reason: String },
    /// A line of `tokenmeter_responses.jsonl` names a different response than its `responses.jsonl` line.
    #[error("does not match responses.jsonl: expected {expected:?}, found {found:?}")]
    Mismatch { expected: String, found: String },
    /// A value rejected for another reason, with the decoder's message.
    #[error("{0}")]
    Invalid(String),
}

/// A problem that LLMeter tolerates, so reading goes on; reported next to the result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormatWarning {
    /// The last line of a JSON Lines file was cut off mid-write (no final newline, JSON ends early) and was
    /// skipped, as a crash or an interrupted run leaves it.
    #[error("{at}: skipped the truncated last line")]
    TruncatedLastLine { at: Location },
    /// The file's `time_per_output_token` differs from `(TTLT − TTFT) / (output tokens − 1)` by more than 1e-9;
    /// the recomputed value is used.
    #[error(
        "{at}: time_per_output_token {in_file:?} in the file, {recomputed:?} recomputed; using the latter"
    )]
    TpotMismatch {
        at: Location,
        in_file: Option<f64>,
        recomputed: Option<f64>,
    },
    /// `tokenmeter_responses.jsonl` has a different number of lines than `responses.jsonl`; records without a
    /// line of extras keep only LLMeter's durations.
    #[error("tokenmeter_responses.jsonl has {extras} records for {responses} responses")]
    ExtrasCount { responses: usize, extras: usize },
    /// A file that LLMeter's loader also ignores when broken (`run_config.json`; `stats.json` next to
    /// `responses.jsonl`) could not be read and was ignored.
    #[error("ignored {file}: {reason}")]
    IgnoredFile { file: RunFile, reason: String },
}
