//! A whole run folder: loading one (ours or LLMeter's) with recomputed statistics, and producing the files of
//! a finished run.
//!
//! Loading follows LLMeter's `Result.load` (llmeter-reference.md §3.7, §4.2):
//! * the run's facts ([`RunInfo`]) come from `summary.json`; without it (an interrupted run) they are recovered
//!   from `run_config.json` (clients, requests per client, names, the endpoint block) and the responses
//!   (`start_time` = `first_request_time` = earliest `request_time`, `end_time` = `last_request_time` = latest,
//!   `total_requests` = number of responses, `total_test_time` unknown); a folder with only `stats.json` takes
//!   them from the top of that file;
//! * with `responses.jsonl`, statistics are recomputed from the records with [`RunningStats`], then every key of
//!   the saved `stats.json` the recomputation does not produce (`cost_*`, `interrupted`, callback keys…) is
//!   copied after them: fresh values win. Without responses, the saved `stats.json` is used verbatim;
//! * `output_path` is kept as saved (it is informative only: files are always read from the folder given, so a
//!   moved folder still loads, unlike LLMeter's `load_responses`); when unknown it is the folder's path;
//! * a broken `run_config.json`, or a broken `stats.json` next to `responses.jsonl`, is ignored with a warning
//!   (LLMeter does the same); any other broken file is an error. Neither `responses.jsonl` nor `stats.json`:
//!   [`FormatError::MissingFile`].

use serde_json::{Map, Value};

use chrono::{DateTime, Utc};

use crate::format::responses::{read_responses_after, write_extras, write_responses};
use crate::format::run_config::{read_run_config, write_run_config, RunConfigFile};
use crate::format::stats_file::{read_stats, run_info_from_stats, write_stats};
use crate::format::summary::{read_summary, write_summary};
use crate::format::{FormatError, FormatWarning, RunFile};
use crate::record::RequestRecord;
use crate::stats::{
    PercentileMethod, RateWindow, RunInfo, RunningStats, Scalar, StatsConfig, StatsConfigError,
};

/// The text of each file of a run folder that exists.
#[derive(Debug, Clone, Copy, Default)]
pub struct Files<'a> {
    pub run_config: Option<&'a str>,
    pub responses: Option<&'a str>,
    pub tokenmeter_responses: Option<&'a str>,
    pub summary: Option<&'a str>,
    pub stats: Option<&'a str>,
}

impl<'a> Files<'a> {
    /// The files `text_of` has a text for: one place maps [`RunFile`]s to fields, whatever holds the texts
    /// (a folder on disk, files picked in the browser, a run just written).
    pub fn from_fn(mut text_of: impl FnMut(RunFile) -> Option<&'a str>) -> Files<'a> {
        Files {
            run_config: text_of(RunFile::RunConfig),
            responses: text_of(RunFile::Responses),
            tokenmeter_responses: text_of(RunFile::TokenmeterResponses),
            summary: text_of(RunFile::Summary),
            stats: text_of(RunFile::Stats),
        }
    }

    /// The files among `(file name, text)` pairs; names that are not run-folder files are ignored.
    pub fn from_named<S: AsRef<str>>(named: &'a [(S, S)]) -> Files<'a> {
        Files::from_fn(|file| {
            named
                .iter()
                .find(|(name, _)| name.as_ref() == file.file_name())
                .map(|(_, text)| text.as_ref())
        })
    }
}

/// Where a loaded run's [`RunInfo`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InfoSource {
    Summary,
    /// Recovered from `run_config.json` and the responses (no `summary.json`: an interrupted run).
    Recovered,
    /// The top of `stats.json` (the folder has neither a summary nor responses).
    Stats,
}

/// Where a loaded run's statistics came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsSource {
    /// Recomputed from `responses.jsonl`, with the saved file's other keys merged in.
    Recomputed,
    /// The saved `stats.json`, verbatim.
    Saved,
}

/// A run read back from its files.
#[derive(Debug, Clone)]
pub struct LoadedRun {
    /// `None` when the folder has no readable `run_config.json`.
    pub config: Option<RunConfigFile>,
    pub info: RunInfo,
    pub info_source: InfoSource,
    /// `None` when the folder has no `responses.jsonl`.
    pub records: Option<Vec<RequestRecord>>,
    /// The `stats.json` map: recomputed and merged, or as saved.
    pub stats: Map<String, Value>,
    pub stats_source: StatsSource,
    /// What was tolerated while reading.
    pub warnings: Vec<FormatWarning>,
}

impl LoadedRun {
    /// Reads a run from its files' text; statistics are recomputed under `stats_config`.
    pub fn from_files(files: &Files<'_>, stats_config: StatsConfig) -> Result<LoadedRun, FormatError> {
        load(files, stats_config, "run folder", None)
    }
}

/// What [`write_run`] needs: the finished run's configuration, facts, records and statistics.
#[derive(Debug, Clone, Copy)]
pub struct RunToWrite<'a> {
    pub config: &'a RunConfigFile,
    pub info: &'a RunInfo,
    pub records: &'a [RequestRecord],
    /// The `stats.json` map: [`RunningStats::snapshot`], plus any keys the caller adds (`interrupted`).
    pub stats: &'a Map<String, Value>,
}

/// Every file of a run folder, named, in [`RunFile::ALL`] order, ready to save or download. A missing
/// `first_request_time` / `last_request_time` is filled from the records (warm-up excluded), as the stats
/// snapshot does, so `summary.json` and `stats.json` agree.
pub fn write_run(run: &RunToWrite<'_>) -> Vec<(&'static str, String)> {
    let sends = run
        .records
        .iter()
        .filter(|r| !r.warmup)
        .filter_map(|r| r.request_time);
    let info = RunInfo {
        first_request_time: run.info.first_request_time.or_else(|| sends.clone().min()),
        last_request_time: run.info.last_request_time.or_else(|| sends.max()),
        ..run.info.clone()
    };
    RunFile::ALL
        .into_iter()
        .map(|file| {
            let text = match file {
                RunFile::RunConfig => write_run_config(run.config),
                RunFile::Responses => write_responses(run.records),
                RunFile::TokenmeterResponses => write_extras(run.records),
                RunFile::Summary => write_summary(&info),
                RunFile::Stats => write_stats(run.stats),
            };
            (file.file_name(), text)
        })
        .collect()
}

/// The statistics configuration for recomputing a saved run: the percentile method and rate window the saved
/// `stats.json` names (`percentile_method`, `rate_window`, as Tokenmeter writes them), else LLMeter's own; an
/// explicit `method` overrides the percentile method only.
pub fn stats_config_for(
    saved_stats: Option<&Map<String, Value>>,
    method: Option<PercentileMethod>,
) -> StatsConfig {
    let mut config = StatsConfig::llmeter();
    let named = |key: &str| saved_stats.and_then(|s| s.get(key)).and_then(Value::as_str);
    if let Some(saved) = named("percentile_method").and_then(PercentileMethod::parse) {
        config.method = saved;
    }
    if let Some(saved) = named("rate_window").and_then(RateWindow::parse) {
        config.rate_window = saved;
    }
    if let Some(method) = method {
        config.method = method;
    }
    let level = saved_stats
        .and_then(|s| s.get(Scalar::ConfidenceLevel.as_str()))
        .and_then(Value::as_f64);
    if let Some(level) = level.filter(|l| *l > 0.0 && *l < 1.0) {
        config.confidence = level;
    }
    config
}

/// A multi-byte character cut off at the very end of a file (a write interrupted mid-character) is dropped, so
/// the truncated last line can be recognised; invalid UTF-8 elsewhere is an error.
pub(crate) fn text_from_bytes(mut bytes: Vec<u8>) -> Result<String, std::string::FromUtf8Error> {
    if let Err(e) = std::str::from_utf8(&bytes) {
        if e.error_len().is_none() {
            bytes.truncate(e.valid_up_to());
        }
    }
    String::from_utf8(bytes)
}

/// [`LoadedRun::from_files`] with the folder's name for errors and, when it is a real path, as the fallback
/// `output_path`.
pub(crate) fn load_labelled(
    files: &Files<'_>,
    stats_config: StatsConfig,
    folder: &str,
    folder_path: Option<&str>,
) -> Result<LoadedRun, FormatError> {
    load(files, stats_config, folder, folder_path)
}

fn load(
    files: &Files<'_>,
    stats_config: StatsConfig,
    folder: &str,
    folder_path: Option<&str>,
) -> Result<LoadedRun, FormatError> {
    let mut fold = ResponsesFold::new(vec![stats_config], true)?;
    if let Some(text) = files.responses {
        fold.add(text, files.tokenmeter_responses)?;
    }
    let mut runs = fold.finish(files, folder, folder_path)?;
    Ok(runs.remove(0))
}

/// A run folder's `responses.jsonl` (with `tokenmeter_responses.jsonl`) folded part by part into its statistics,
/// under one or more rules at once, and the facts LLMeter recovers from it: so a page imports a folder of any size
/// without its records in memory. [`LoadedRun::from_files`] folds the whole file as one part, so both read a
/// folder the same way.
pub struct ResponsesFold {
    stats: Vec<RunningStats>,
    /// Every record, when the caller keeps them.
    kept: Option<Vec<RequestRecord>>,
    /// Lines of each file read so far (`responses.jsonl`, `tokenmeter_responses.jsonl`).
    lines: (usize, usize),
    records: u64,
    extras: u64,
    has_extras: bool,
    /// The earliest and latest `request_time` (LLMeter's recovered start and end).
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    read_any: bool,
    warnings: Vec<FormatWarning>,
}

impl ResponsesFold {
    /// A fold recomputing statistics under each of `configs`; `keep_records` keeps every record too.
    pub fn new(configs: Vec<StatsConfig>, keep_records: bool) -> Result<ResponsesFold, StatsConfigError> {
        Ok(ResponsesFold {
            stats: configs
                .into_iter()
                .map(RunningStats::new)
                .collect::<Result<_, _>>()?,
            kept: keep_records.then(Vec::new),
            lines: (0, 0),
            records: 0,
            extras: 0,
            has_extras: false,
            first: None,
            last: None,
            read_any: false,
            warnings: Vec::new(),
        })
    }

    /// Adds the next part of the files: whole lines of `responses.jsonl` and the same lines of
    /// `tokenmeter_responses.jsonl`, when the folder has it. Errors name the files' own line numbers.
    pub fn add(&mut self, responses: &str, extras: Option<&str>) -> Result<(), FormatError> {
        let parsed = read_responses_after(responses, extras, self.lines)?;
        self.read_any = true;
        self.lines.0 += responses.split_inclusive('\n').count();
        if let Some(extras) = extras {
            self.has_extras = true;
            self.lines.1 += extras.split_inclusive('\n').count();
        }
        self.extras += parsed.extras as u64;
        // The files' counts are compared once, over the whole files.
        self.warnings.extend(
            parsed
                .warnings
                .into_iter()
                .filter(|w| !matches!(w, FormatWarning::ExtrasCount { .. })),
        );
        for record in parsed.records {
            self.records += 1;
            if let Some(at) = record.request_time {
                self.first = Some(self.first.map_or(at, |f| f.min(at)));
                self.last = Some(self.last.map_or(at, |l| l.max(at)));
            }
            self.stats.iter_mut().for_each(|s| s.observe(&record));
            if let Some(kept) = &mut self.kept {
                kept.push(record);
            }
        }
        Ok(())
    }

    /// How many records were read.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The loaded run under each rule, in the order given: `files` are the folder's other files (its responses,
    /// if given, are not read again), `folder` names it in errors, `folder_path` is its `output_path` when unknown.
    pub fn finish(
        mut self,
        files: &Files<'_>,
        folder: &str,
        folder_path: Option<&str>,
    ) -> Result<Vec<LoadedRun>, FormatError> {
        let has_records = self.read_any;
        if !has_records && files.stats.is_none() {
            return Err(FormatError::MissingFile {
                folder: folder.to_owned(),
            });
        }
        if self.has_extras && self.extras != self.records {
            self.warnings.push(FormatWarning::ExtrasCount {
                responses: self.records as usize,
                extras: self.extras as usize,
            });
        }
        let mut warnings = Vec::new();
        let config = match files.run_config.map(read_run_config).transpose() {
            Ok(config) => config,
            Err(e) => {
                warnings.push(FormatWarning::IgnoredFile {
                    file: RunFile::RunConfig,
                    reason: e.to_string(),
                });
                None
            }
        };
        warnings.append(&mut self.warnings);
        let summary = files.summary.map(read_summary).transpose()?;
        let saved = match files.stats.map(read_stats).transpose() {
            Ok(saved) => saved,
            Err(e) if has_records => {
                warnings.push(FormatWarning::IgnoredFile {
                    file: RunFile::Stats,
                    reason: e.to_string(),
                });
                None
            }
            Err(e) => return Err(e),
        };
        let (mut info, info_source) = match (summary, &saved) {
            (Some(info), _) => (info, InfoSource::Summary),
            (None, _) if has_records => (self.recovered_info(config.as_ref()), InfoSource::Recovered),
            (None, Some(saved)) => (run_info_from_stats(saved)?, InfoSource::Stats),
            // Unreachable: without responses, the saved stats were read or an error returned.
            (None, None) => {
                return Err(FormatError::MissingFile {
                    folder: folder.to_owned(),
                })
            }
        };
        if info.output_path.is_none() {
            info.output_path = folder_path.map(str::to_owned);
        }
        // `None` when the folder has no responses, as LoadedRun says.
        let mut records = self.kept.take().filter(|_| has_records);
        let last = self.stats.len().saturating_sub(1);
        self.stats
            .into_iter()
            .enumerate()
            .map(|(i, mut stats)| {
                let (stats, stats_source) = match (has_records, saved.clone()) {
                    (true, saved) => {
                        let mut fresh = stats.snapshot(&info);
                        // LLMeter's merge on load: fresh values win, the saved file's other keys follow.
                        for (key, value) in saved.into_iter().flatten() {
                            fresh.entry(key).or_insert(value);
                        }
                        (fresh, StatsSource::Recomputed)
                    }
                    (false, Some(saved)) => (saved, StatsSource::Saved),
                    (false, None) => {
                        return Err(FormatError::MissingFile {
                            folder: folder.to_owned(),
                        })
                    }
                };
                Ok(LoadedRun {
                    config: config.clone(),
                    info: info.clone(),
                    info_source,
                    // Kept records are copied only for a second rule: the last run takes them.
                    records: if i == last {
                        records.take()
                    } else {
                        records.clone()
                    },
                    stats,
                    stats_source,
                    warnings: warnings.clone(),
                })
            })
            .collect()
    }

    /// LLMeter's recovery of an interrupted run's facts (`Result._recover_metadata`): the run's configuration,
    /// and its responses' count and earliest and latest `request_time`.
    fn recovered_info(&self, config: Option<&RunConfigFile>) -> RunInfo {
        let mut info = RunInfo {
            total_requests: Some(self.records),
            start_time: self.first,
            first_request_time: self.first,
            last_request_time: self.last,
            end_time: self.last,
            ..Default::default()
        };
        if let Some(config) = config {
            info.clients = config.clients;
            info.n_requests = config.n_requests;
            info.run_name = config.run_name.clone();
            info.run_description = config.run_description.clone();
            info.model_id = config.endpoint.model_id.clone();
            info.endpoint_name = config.endpoint.endpoint_name.clone();
            info.provider = config.endpoint.provider.clone();
        }
        info
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use native::*;

/// Reading a folder from disk: the only file I/O of the core, kept out of wasm builds.
#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::path::Path;

    use super::*;
    use crate::format::archive::{group_run_folders, read_zip, recompute_folders, FolderFiles, Recomputed};
    use crate::format::stats_file::read_stats;

    /// A run folder on disk.
    #[derive(Debug, Clone, Copy)]
    pub struct RunFolder;

    impl RunFolder {
        /// Loads the run in `path` (see the module documentation); statistics are recomputed under
        /// `stats_config`.
        pub fn load(path: &Path, stats_config: StatsConfig) -> Result<LoadedRun, FormatError> {
            let texts = read_folder(path)?;
            let files = texts.files();
            let label = path.display().to_string();
            load(&files, stats_config, &label, Some(&label))
        }

        /// Loads the run in `path` and recomputes its statistics under [`stats_config_for`] the saved
        /// `stats.json` and `method`: what `examples/recompute.rs` prints.
        pub fn recompute(path: &Path, method: Option<PercentileMethod>) -> Result<LoadedRun, FormatError> {
            let texts = read_folder(path)?;
            let files = texts.files();
            let saved = files.stats.and_then(|text| read_stats(text).ok());
            let label = path.display().to_string();
            load(
                &files,
                stats_config_for(saved.as_ref(), method),
                &label,
                Some(&label),
            )
        }
    }

    /// The recomputed `stats.json` text of the run in `path`.
    pub fn recompute_stats_json(
        path: &Path,
        method: Option<PercentileMethod>,
    ) -> Result<String, FormatError> {
        RunFolder::recompute(path, method).map(|run| write_stats(&run.stats))
    }

    /// Recomputes what `path` holds, as `examples/recompute.rs` does: a run folder ([`RunFolder::recompute`]);
    /// a folder of run folders, such as a LoadTest's `{test_name}/` with its `{clients:05}-clients/` levels
    /// (each sub-directory that holds a run file, as `LoadTestResult.load` iterates them); or a `.zip` file
    /// ([`read_zip`], then [`group_run_folders`]). Folders of runs and archives go through
    /// [`recompute_folders`]; paths are named from the folder or archive given (`sweep/00004-clients`).
    pub fn recompute_path(path: &Path, method: Option<PercentileMethod>) -> Result<Recomputed, FormatError> {
        let label = path.display().to_string();
        let is_zip = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"));
        if path.is_file() && is_zip {
            let bytes = std::fs::read(path).map_err(|source| FormatError::Io {
                path: label.clone(),
                source,
            })?;
            let entries = read_zip(&bytes).map_err(|source| FormatError::Archive {
                path: label.clone(),
                source,
            })?;
            return recompute_folders(&label, &group_run_folders(entries), method);
        }
        if path.is_dir() && !RunFile::ALL.iter().any(|f| path.join(f.file_name()).is_file()) {
            let folders = read_run_subfolders(path)?;
            if !folders.is_empty() {
                return recompute_folders(&label, &folders, method);
            }
        }
        RunFolder::recompute(path, method).map(|run| Recomputed::Run(Box::new(run)))
    }

    /// The sub-directories of `path` that hold a run file, as [`FolderFiles`] named `{name of path}/{sub}`.
    fn read_run_subfolders(path: &Path) -> Result<Vec<FolderFiles>, FormatError> {
        let io = |source| FormatError::Io {
            path: path.display().to_string(),
            source,
        };
        let absolute = std::fs::canonicalize(path).map_err(io)?;
        let parent = absolute
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut subs = std::fs::read_dir(path)
            .map_err(io)?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(io)?;
        subs.retain(|p| p.is_dir());
        subs.sort();
        let mut folders = Vec::new();
        for sub in subs {
            let texts = read_folder(&sub)?;
            let files: Vec<(String, String)> = RunFile::ALL
                .iter()
                .zip(texts.0)
                .filter_map(|(file, text)| Some((file.file_name().to_owned(), text?)))
                .collect();
            if files.is_empty() {
                continue;
            }
            let name = sub
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let folder = if parent.is_empty() {
                name
            } else {
                format!("{parent}/{name}")
            };
            folders.push(FolderFiles { folder, files });
        }
        folders.sort_by(|a, b| a.folder.cmp(&b.folder));
        Ok(folders)
    }

    /// The texts of a folder's files, indexed like [`RunFile::ALL`].
    struct Texts([Option<String>; 5]);

    impl Texts {
        fn files(&self) -> Files<'_> {
            Files::from_fn(|file| {
                let index = RunFile::ALL
                    .iter()
                    .position(|f| *f == file)
                    .expect("every file is in ALL");
                self.0[index].as_deref()
            })
        }
    }

    fn read_folder(path: &Path) -> Result<Texts, FormatError> {
        if !path.is_dir() {
            return Err(FormatError::NotAFolder {
                path: path.display().to_string(),
            });
        }
        let mut texts = Texts(Default::default());
        for (slot, file) in texts.0.iter_mut().zip(RunFile::ALL) {
            let file_path = path.join(file.file_name());
            if file_path.exists() {
                *slot = Some(read_text(&file_path)?);
            }
        }
        Ok(texts)
    }

    /// A file's text ([`text_from_bytes`]).
    fn read_text(path: &Path) -> Result<String, FormatError> {
        let io = |source| FormatError::Io {
            path: path.display().to_string(),
            source,
        };
        let bytes = std::fs::read(path).map_err(io)?;
        text_from_bytes(bytes).map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
    }
}
