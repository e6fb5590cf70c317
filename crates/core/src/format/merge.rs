//! Exact merge of run folders: N shards of one run (browser processes, machines, pods) become the run folder of
//! one run that held all their records. Every record is kept, so the merged `stats.json` is recomputed from the
//! union of the records, not averaged from the shards' percentiles: it equals one run's to the last bit of the
//! sum order (tested to 1e-9). The send window is the union of the shards' windows.
//!
//! What the statistics cannot carry is kept in the merged `run_config.json` (`tokenmeter_shards`): each shard's
//! engine, whether its client disturbed it (hidden tab, late timers), its timer resolution, its browser-queue p99,
//! its start lag and clock offset, and which shards are missing. The merged run is client-affected if any shard
//! was.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::format::archive::FolderFiles;
use crate::format::run_config::RunConfigFile;
use crate::format::run_folder::{stats_config_for, write_run, Files, LoadedRun, RunToWrite};
use crate::format::stats_file::read_stats;
use crate::format::FormatError;
use crate::input::RawInput;
use crate::record::RequestRecord;
use crate::shard::Shard;
use crate::stats::{
    Aggregate, Metric, RunInfo, RunningStats, Scalar, StatKey, StatsConfig, StatsConfigError,
};

/// A run's place among shards and when it started, as its `run_config.json` records it (`tokenmeter_shard`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ShardRecord {
    pub index: u32,
    pub count: u32,
    /// The shared wall time the shards were asked to start at (Unix ms), if any.
    pub start_at_ms: Option<i64>,
    /// How late this shard's first run started after `start_at_ms`, by its own clock (ms).
    pub start_lag_ms: Option<f64>,
    /// This shard's wall clock minus the command's that started it (ms), measured over a round trip; `None`
    /// when no command measured it.
    pub clock_offset_ms: Option<f64>,
}

impl ShardRecord {
    pub fn shard(&self) -> Option<Shard> {
        Shard::new(self.index, self.count).ok()
    }
}

/// What the merged `run_config.json` says of one shard (`tokenmeter_shards[i]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardFacts {
    /// `0/4`, or the folder's label when the folder does not say.
    pub shard: String,
    /// `ok`, or `missing`: the shard never delivered its folder (a crashed browser, a failed pod).
    pub status: ShardStatus,
    /// Why a shard is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Records the shard contributed (warm-up and cancelled requests included).
    pub records: u64,
    /// `browser` or `native`, when the shard's files say.
    pub engine: Option<String>,
    /// The shard's page was hidden or its timers ran late: its client, not only the server, shaped its numbers.
    pub client_affected: bool,
    pub timer_resolution_us: Option<f64>,
    /// The 99th percentile of the time requests waited inside the browser before going on the wire (s), where
    /// Resource Timing showed it.
    pub browser_queue_p99: Option<f64>,
    pub start_lag_ms: Option<f64>,
    pub clock_offset_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardStatus {
    Ok,
    Missing,
}

/// A shard that never delivered its folder, named for the merged run's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingShard {
    pub shard: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Error)]
pub enum MergeError {
    #[error("nothing to merge: give at least one run folder")]
    Empty,
    #[error(
        "{0} has no responses.jsonl (a low-memory run keeps statistics only), so it cannot be merged exactly"
    )]
    NoRecords(String),
    #[error("{first} and {other} are not shards of one run: {what} differ")]
    Mismatch {
        first: String,
        other: String,
        what: &'static str,
    },
    #[error("{0} is listed twice")]
    Duplicate(String),
    #[error("statistics settings: {0}")]
    Stats(#[from] StatsConfigError),
}

/// One run folder to merge, read, with the name it is reported under.
#[derive(Debug, Clone)]
pub struct MergePart {
    pub label: String,
    pub run: LoadedRun,
}

/// The merged run: its files are ready to write.
#[derive(Debug, Clone)]
pub struct MergedRun {
    pub config: RunConfigFile,
    pub info: RunInfo,
    pub records: Vec<RequestRecord>,
    pub stats: Map<String, Value>,
    pub shards: Vec<ShardFacts>,
}

impl MergedRun {
    /// Every file of the merged run folder.
    pub fn files(&self) -> Vec<(&'static str, String)> {
        write_run(&RunToWrite {
            config: &self.config,
            info: &self.info,
            records: &self.records,
            stats: &self.stats,
        })
    }

    /// Whether any shard's client shaped its numbers.
    pub fn client_affected(&self) -> bool {
        self.shards.iter().any(|s| s.client_affected)
    }
}

/// Why the shards stopped sending: their common `stop_reason` (with the first shard's detail), or `mixed` with
/// each shard's; `None` when no shard says (older runs). Each shard judges its own stop rules on its own records.
fn merged_stop_reason<'a>(shards: impl Iterator<Item = &'a Map<String, Value>>) -> Option<(String, String)> {
    let text = |stats: &Map<String, Value>, key: Scalar| {
        stats.get(key.as_str()).and_then(Value::as_str).map(str::to_owned)
    };
    let reasons: Vec<(String, String)> = shards
        .filter_map(|s| {
            Some((
                text(s, Scalar::StopReason)?,
                text(s, Scalar::StopDetail).unwrap_or_default(),
            ))
        })
        .collect();
    let (first, detail) = reasons.first()?.clone();
    if reasons.iter().all(|(r, _)| *r == first) {
        return Some((first, detail));
    }
    let each: Vec<String> = reasons
        .iter()
        .enumerate()
        .map(|(i, (r, d))| format!("shard {}: {r} ({d})", i + 1))
        .collect();
    Some(("mixed".into(), each.join("; ")))
}

/// The statistics settings a run was measured under: the percentile method and rate window its `stats.json`
/// names, and the SLO and prices of its settings (`tokenmeter_input`), so a recompute writes the same keys.
pub fn stats_config_of(run: &LoadedRun) -> StatsConfig {
    let mut config = stats_config_for(Some(&run.stats), None);
    let input = run
        .config
        .as_ref()
        .and_then(|c| RawInput::from_json(&c.tokenmeter_input))
        .and_then(|raw| raw.parse().ok());
    if let Some(input) = input {
        let asked = input.stats_config();
        config.slo = asked.slo;
        config.cost = asked.cost;
        config.confidence = asked.confidence;
    }
    config
}

/// Reads a run from its files under the rules its own `stats.json` names (percentile method, rate window), as a
/// shard's folder is read before a merge.
pub fn load_under_own_rules(files: &Files<'_>) -> Result<LoadedRun, FormatError> {
    let saved = files.stats.and_then(|text| read_stats(text).ok());
    LoadedRun::from_files(files, stats_config_for(saved.as_ref(), None))
}

/// Merges picked or unzipped run folders (shards of one run) into one, each read under its own rules; an error
/// names the folder it comes from.
pub fn merge_folder_files(folders: &[FolderFiles]) -> Result<MergedRun, String> {
    let parts = folders
        .iter()
        .map(|folder| {
            let label = if folder.folder.is_empty() {
                "the files".to_owned()
            } else {
                folder.folder.clone()
            };
            load_under_own_rules(&folder.run_files())
                .map(|run| MergePart {
                    label: label.clone(),
                    run,
                })
                .map_err(|e| format!("{label}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    merge_runs(parts, &[]).map_err(|e| e.to_string())
}

/// Merges shards into one run: records in send order, statistics recomputed over all of them under the first
/// shard's settings, facts from the union (earliest start, latest end, summed clients).
pub fn merge_runs(parts: Vec<MergePart>, missing: &[MissingShard]) -> Result<MergedRun, MergeError> {
    let first = parts.first().ok_or(MergeError::Empty)?;
    let stats_config = stats_config_of(&first.run);
    check_compatible(&parts)?;
    let first_label = first.label.clone();
    let mut shards: Vec<ShardFacts> = parts.iter().map(shard_facts).collect();
    shards.extend(missing.iter().map(|m| ShardFacts {
        shard: m.shard.clone(),
        status: ShardStatus::Missing,
        reason: Some(m.reason.clone()),
        records: 0,
        engine: None,
        client_affected: false,
        timer_resolution_us: None,
        browser_queue_p99: None,
        start_lag_ms: None,
        clock_offset_ms: None,
    }));

    let mut config = parts[0]
        .run
        .config
        .clone()
        .unwrap_or_else(|| RunConfigFile::new(Default::default(), Value::Null));
    let infos: Vec<RunInfo> = parts.iter().map(|p| p.run.info.clone()).collect();
    let any_stopped = parts
        .iter()
        .any(|p| p.run.stats.get("interrupted").and_then(Value::as_bool) == Some(true));
    let stop = merged_stop_reason(parts.iter().map(|p| &p.run.stats));
    // An SLO search step runs in one engine: its level and verdict are the (only) shard's.
    let search_step: Vec<(String, Value)> = [Scalar::SloSearchLevel, Scalar::SloSearchHolds]
        .iter()
        .filter_map(|key| {
            let value = parts.first()?.run.stats.get(key.as_str())?;
            Some((key.as_str().to_owned(), value.clone()))
        })
        .collect();
    let mut records = Vec::new();
    for part in parts {
        let label = part.label;
        records.extend(part.run.records.ok_or(MergeError::NoRecords(label))?);
    }
    // One run's records are in the order they finished; shards interleave by send time.
    records.sort_by_key(|r| r.request_time);

    let mut stats = RunningStats::new(stats_config)?;
    records.iter().for_each(|r| stats.observe(r));
    let info = merged_info(&infos, stats.requests(), &first_label);
    let mut stats_map = stats.snapshot(&info);
    // A stopped shard, or a missing one, makes the whole run partial.
    let interrupted = any_stopped || shards.iter().any(|s| s.status == ShardStatus::Missing);
    if interrupted {
        stats_map.insert("interrupted".into(), Value::Bool(true));
    }
    if let Some((reason, detail)) = stop {
        stats_map.insert(Scalar::StopReason.as_str().into(), reason.into());
        stats_map.insert(Scalar::StopDetail.as_str().into(), detail.into());
    }
    stats_map.extend(search_step);

    config.clients = info.clients;
    config.n_requests = info.n_requests;
    config.output_path = None;
    config.other.remove("tokenmeter_shard");
    config.other.remove("tokenmeter_page");
    config.other.insert(
        "tokenmeter_shards".into(),
        serde_json::to_value(&shards).unwrap_or(Value::Null),
    );
    config.other.insert(
        "tokenmeter_client_affected".into(),
        Value::Bool(shards.iter().any(|s| s.client_affected)),
    );
    Ok(MergedRun {
        config,
        info,
        records,
        stats: stats_map,
        shards,
    })
}

/// Shards of one run measure one endpoint with one plan shape: a folder of another run is refused by name.
fn check_compatible(parts: &[MergePart]) -> Result<(), MergeError> {
    let first = &parts[0];
    let mut seen = Vec::new();
    for part in parts {
        let shard = shard_record(&part.run).and_then(|s| s.shard());
        if let Some(shard) = shard {
            if seen.contains(&shard) {
                return Err(MergeError::Duplicate(format!("shard {shard} ({})", part.label)));
            }
            seen.push(shard);
        }
        let mismatch = |what| MergeError::Mismatch {
            first: first.label.clone(),
            other: part.label.clone(),
            what,
        };
        let endpoint = |run: &LoadedRun| {
            run.config
                .as_ref()
                .map(|c| (c.endpoint.model_id.clone(), c.endpoint.endpoint_type.clone()))
        };
        if endpoint(&part.run) != endpoint(&first.run) {
            return Err(mismatch("their endpoints"));
        }
        let method = |run: &LoadedRun| run.stats.get("percentile_method").cloned();
        if method(&part.run) != method(&first.run) {
            return Err(mismatch("their percentile methods"));
        }
    }
    Ok(())
}

fn shard_record(run: &LoadedRun) -> Option<ShardRecord> {
    let value = run.config.as_ref()?.other.get("tokenmeter_shard")?;
    serde_json::from_value(value.clone()).ok()
}

/// What a shard's own files say about how it was measured.
fn shard_facts(part: &MergePart) -> ShardFacts {
    let run = &part.run;
    let other = run.config.as_ref().map(|c| &c.other);
    let block = |key: &str| other.and_then(|o| o.get(key)).and_then(Value::as_object);
    let record = shard_record(run);
    let page = block("tokenmeter_page");
    let client_affected = page
        .and_then(|p| p.get("client_affected"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || other
            .and_then(|o| o.get("tokenmeter_client_affected"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
    ShardFacts {
        shard: record
            .and_then(|r| r.shard())
            .map_or_else(|| part.label.clone(), |s| s.to_string()),
        status: ShardStatus::Ok,
        reason: None,
        records: run.records.as_ref().map_or(0, |r| r.len() as u64),
        engine: block("tokenmeter_client")
            .and_then(|c| c.get("engine"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        client_affected,
        timer_resolution_us: block("tokenmeter_clock")
            .and_then(|c| c.get("timer_resolution_us"))
            .and_then(Value::as_f64),
        // The shard's own statistics already hold it, computed under its rules.
        browser_queue_p99: StatKey::Dist(Metric::BrowserQueueTime, Aggregate::P99).get(&run.stats),
        start_lag_ms: record.and_then(|r| r.start_lag_ms),
        clock_offset_ms: record.and_then(|r| r.clock_offset_ms),
    }
}

/// The facts of one run made of shards: earliest start, latest end, clients summed; processed requests counted
/// by the merged statistics.
fn merged_info(infos: &[RunInfo], total_requests: u64, run_name: &str) -> RunInfo {
    let earliest = |f: fn(&RunInfo) -> Option<DateTime<Utc>>| infos.iter().filter_map(f).min();
    let latest = |f: fn(&RunInfo) -> Option<DateTime<Utc>>| infos.iter().filter_map(f).max();
    let start_time = earliest(|i| i.start_time);
    let end_time = latest(|i| i.end_time);
    let clients = infos.iter().map(|i| i.clients).sum::<Option<u64>>();
    let first = &infos[0];
    let n_requests = infos
        .iter()
        .all(|i| i.n_requests == first.n_requests)
        .then_some(first.n_requests)
        .flatten();
    // An interrupted shard (no total_test_time) leaves the whole run's null, as LLMeter does.
    let total_test_time = match (
        start_time,
        end_time,
        infos.iter().all(|i| i.total_test_time.is_some()),
    ) {
        (Some(start), Some(end), true) => {
            let wall = (end - start).num_microseconds().map(|us| us as f64 / 1e6);
            let longest = infos.iter().filter_map(|i| i.total_test_time).fold(0.0, f64::max);
            wall.map(|w| w.max(longest))
        }
        _ => None,
    };
    RunInfo {
        total_requests: Some(total_requests),
        clients,
        n_requests,
        total_test_time,
        start_time,
        end_time,
        first_request_time: None,
        last_request_time: None,
        output_path: None,
        run_name: first.run_name.clone().or_else(|| Some(run_name.to_owned())),
        ..first.clone()
    }
}
