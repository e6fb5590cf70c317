//! Checkpoints: a run's finished records, kept in the browser's storage in batches as the run goes (as LLMeter's
//! low-memory mode writes each response to disk), so a closed or crashed tab loses no finished request. The engine's
//! worker writes a batch (the `responses.jsonl` and `tokenmeter_responses.jsonl` lines of the records finished
//! since the last snapshot) and a heartbeat five times a second; the page deletes a run's checkpoint once the
//! finished run is stored. At start-up, the page recovers every run whose heartbeat stopped: its records become a
//! run marked interrupted, read as LLMeter reads an interrupted run folder.
//!
//! A finished run's batches stay where they are: they are its records (`saved::StoredRecords`), read back batch by
//! batch for exports and figures. Only the heartbeat goes once the run is stored.
//!
//! Pure: storage keys, what start-up does with each run (`triage`), and statistics folded batch by batch
//! (`RecordFold`). `browser::store` does the I/O.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::format::{read_responses, write_stats, FormatError, RunFile};
use crate::record::RequestRecord;
use crate::stats::{RunInfo, RunningStats, StatsConfig};

/// A heartbeat younger than this means the run is going on in some tab: never recover it.
pub const STALE_AFTER_MS: f64 = 5_000.0;

/// The key of a run's checkpoint: unique per Run press (`seed`) and run (a sweep has several).
pub fn run_key(seed: u64, run_name: &str) -> String {
    format!("{seed:020}/{run_name}")
}

/// The most lines a stored batch holds: small enough that an export deflates one in a few milliseconds between two
/// awaits, large enough that a fast run writes few entries.
pub const LINES_PER_BATCH: usize = 512;

/// `responses` and its sidecar `extras` (line for line, when there is one) in parts of at most `lines` lines: the
/// batches a run's records are stored in.
pub fn split_lines(responses: &str, extras: Option<&str>, lines: usize) -> Vec<(String, String)> {
    let lines = lines.max(1);
    let responses: Vec<&str> = responses.split_inclusive('\n').collect();
    let extras: Vec<&str> = extras
        .map(|x| x.split_inclusive('\n').collect())
        .unwrap_or_default();
    responses
        .chunks(lines)
        .enumerate()
        .map(|(i, part)| {
            let from = (i * lines).min(extras.len());
            let to = (from + part.len()).min(extras.len());
            (part.concat(), extras[from..to].concat())
        })
        .collect()
}

/// The storage key of batch `seq` of run `run_key`: ordered as written.
pub fn batch_key(run_key: &str, seq: u64) -> String {
    format!("{run_key}/batch/{seq:010}")
}

/// The first and last possible keys of run `run_key`'s batches (a run named `a/x` is not within `a`'s).
pub fn batch_key_range(run_key: &str) -> (String, String) {
    (
        format!("{run_key}/batch/"),
        format!("{run_key}/batch/{}", char::MAX),
    )
}

/// The storage key of run `run_key`'s heartbeat.
pub fn heartbeat_key(run_key: &str) -> String {
    format!("{run_key}/live")
}

/// The storage key of run `run_key`'s figure data (`figure_data::FigureData` as JSON): kept beside its batches, so
/// its figures never read them back.
pub fn figures_key(run_key: &str) -> String {
    format!("{run_key}/figures")
}

/// One stored entry: its key and, for a batch, its lines; for a heartbeat, its time; for figure data, its JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Batch {
        key: String,
        responses: String,
        extras: String,
    },
    Heartbeat {
        key: String,
        at_ms: f64,
    },
    Figures {
        key: String,
        json: String,
    },
}

impl Entry {
    pub fn key(&self) -> &str {
        match self {
            Entry::Batch { key, .. } | Entry::Heartbeat { key, .. } | Entry::Figures { key, .. } => key,
        }
    }

    /// The run the entry belongs to.
    pub fn run_key(&self) -> &str {
        let key = self.key();
        run_of_batch(key)
            .or_else(|| run_of_heartbeat(key))
            .or_else(|| run_of_figures(key))
            .unwrap_or(key)
    }
}

/// A recovered run's files (`(name, text)`) and its `stats.json` map.
pub type RecoveredRun = (Vec<(String, String)>, Map<String, Value>);

/// Which runs are still going on in some tab.
#[derive(Debug, Clone, PartialEq)]
pub enum Liveness<'a> {
    /// The run keys whose lock a live worker holds (the Web Locks API: a closed or crashed tab's locks are
    /// released at once, so this is exact).
    Locks(&'a [String]),
    /// No locks to ask: a heartbeat younger than [`STALE_AFTER_MS`] at wall time `now_ms` means alive.
    Heartbeats { now_ms: f64 },
}

/// The lock a worker holds while its run goes on.
pub fn lock_name(run_key: &str) -> String {
    format!("tokenmeter-run:{run_key}")
}

/// The run a batch key belongs to.
pub fn run_of_batch(key: &str) -> Option<&str> {
    key.rsplit_once("/batch/").map(|(run, _)| run)
}

/// The run a heartbeat key belongs to.
pub fn run_of_heartbeat(key: &str) -> Option<&str> {
    key.strip_suffix("/live")
}

/// The run a figure data key belongs to.
pub fn run_of_figures(key: &str) -> Option<&str> {
    key.strip_suffix("/figures")
}

/// A run's name, from its key.
pub fn run_name_of(run_key: &str) -> &str {
    run_key.split_once('/').map_or(run_key, |(_, name)| name)
}

/// What the record store holds, listed without reading a batch: every batch's key, every heartbeat (`(run key,
/// wall time in ms)`) and the runs with figure data. A run's heartbeat lives from its start until the page has
/// stored the finished run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    pub batches: Vec<String>,
    pub heartbeats: Vec<(String, f64)>,
    pub figures: Vec<String>,
}

/// What start-up does with the store's runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Triage {
    /// Runs no tab is running and no stored run holds, with records: they come back marked interrupted.
    pub recover: Vec<String>,
    /// Heartbeats to delete: their run is stored (the tab closed between storing it and deleting the heartbeat), or
    /// it has no record to recover.
    pub stale_heartbeats: Vec<String>,
    /// Runs whose batches or figure data no stored run holds and no tab is writing (a deleted run's, if its
    /// deletion was cut short): they go. Only decided with locks, which are exact.
    pub orphaned: Vec<String>,
}

/// Sorts the store's runs into those to recover, heartbeats to drop and orphaned batches; `kept` says whether a
/// stored run holds a run key's records. Live runs are left alone.
pub fn triage(listing: &Listing, liveness: &Liveness<'_>, kept: &dyn Fn(&str) -> bool) -> Triage {
    let mut runs: BTreeMap<&str, (bool, Option<f64>)> = BTreeMap::new();
    for run in listing.batches.iter().filter_map(|k| run_of_batch(k)) {
        runs.entry(run).or_default().0 = true;
    }
    for (run, at_ms) in &listing.heartbeats {
        runs.entry(run).or_default().1 = Some(*at_ms);
    }
    for run in &listing.figures {
        runs.entry(run).or_default();
    }
    let mut triage = Triage::default();
    for (run, (has_batches, heartbeat)) in runs {
        let live = match liveness {
            Liveness::Locks(held) => held.contains(&lock_name(run)),
            Liveness::Heartbeats { now_ms } => heartbeat.is_some_and(|at| now_ms - at <= STALE_AFTER_MS),
        };
        if live {
            continue;
        }
        match (kept(run), heartbeat.is_some(), has_batches) {
            (true, true, _) | (false, true, false) => triage.stale_heartbeats.push(run.to_owned()),
            (false, true, true) => triage.recover.push(run.to_owned()),
            (false, false, _) if matches!(liveness, Liveness::Locks(_)) => {
                triage.orphaned.push(run.to_owned())
            }
            _ => {}
        }
    }
    triage
}

/// The records of one stored batch: its `responses.jsonl` lines with the matching `tokenmeter_responses.jsonl`
/// lines (empty when the batch has none, as an imported LLMeter folder's).
pub fn read_batch(responses: &str, extras: &str) -> Result<Vec<RequestRecord>, FormatError> {
    let extras = (!extras.is_empty()).then_some(extras);
    Ok(read_responses(responses, extras)?.records)
}

/// The statistics of a run's stored records, read batch by batch so they are never all in memory: what a run
/// recovered after a crash shows.
pub struct RecordFold {
    stats: RunningStats,
    lines: u64,
}

impl RecordFold {
    pub fn new(config: StatsConfig) -> Result<RecordFold, crate::stats::StatsConfigError> {
        Ok(RecordFold {
            stats: RunningStats::new(config)?,
            lines: 0,
        })
    }

    /// Adds one batch: its `responses.jsonl` lines and the matching `tokenmeter_responses.jsonl` lines.
    pub fn add(&mut self, responses: &str, extras: &str) -> Result<(), FormatError> {
        let records = read_batch(responses, extras)?;
        for record in &records {
            self.stats.observe(record);
        }
        self.lines += records.len() as u64;
        Ok(())
    }

    /// How many records were added.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The `stats.json` map of the records added, for the run facts `info`.
    pub fn snapshot(&mut self, info: &RunInfo) -> Map<String, Value> {
        self.stats.snapshot(info)
    }

    /// The interrupted run `run_name`: its `stats.json` (facts recovered as LLMeter recovers an interrupted run:
    /// from the records' send times), marked `"interrupted": true`.
    pub fn interrupted(mut self, run_name: &str) -> RecoveredRun {
        let range = self.stats.request_time_range();
        let info = RunInfo {
            total_requests: Some(self.stats.requests()),
            run_name: Some(format!("{run_name} (interrupted)")),
            start_time: range.map(|r| r.0),
            first_request_time: range.map(|r| r.0),
            last_request_time: range.map(|r| r.1),
            end_time: range.map(|r| r.1),
            ..Default::default()
        };
        let mut stats = self.stats.snapshot(&info);
        stats.insert("interrupted".into(), Value::Bool(true));
        let files = vec![(RunFile::Stats.file_name().to_owned(), write_stats(&stats))];
        (files, stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(batches: &[(&str, u64)], heartbeats: &[(&str, f64)]) -> Listing {
        Listing {
            batches: batches.iter().map(|(run, seq)| batch_key(run, *seq)).collect(),
            heartbeats: heartbeats
                .iter()
                .map(|(run, at)| ((*run).to_owned(), *at))
                .collect(),
            figures: Vec::new(),
        }
    }

    #[test]
    fn a_stale_run_is_recovered_a_live_one_left_alone_and_a_stored_one_only_loses_its_heartbeat() {
        let dead = run_key(7, "run-3");
        let live = run_key(8, "run-4");
        let stored = run_key(9, "run-5");
        let store = listing(
            &[(&dead, 1), (&dead, 2), (&live, 1), (&stored, 1)],
            &[(&dead, 1_000.0), (&live, 9_000.0), (&stored, 2_000.0)],
        );
        let kept = |run: &str| run == stored;
        let by_heartbeats = triage(&store, &Liveness::Heartbeats { now_ms: 10_000.0 }, &kept);
        assert_eq!(by_heartbeats.recover, [dead.as_str()]);
        assert_eq!(by_heartbeats.stale_heartbeats, [stored.as_str()]);
        assert!(
            by_heartbeats.orphaned.is_empty(),
            "orphans are only decided with locks"
        );
        // With locks, only a held lock means alive, however fresh a heartbeat.
        let held = [lock_name(&dead)];
        let by_locks = triage(&store, &Liveness::Locks(&held), &kept);
        assert_eq!(by_locks.recover, [live.as_str()]);
    }

    #[test]
    fn a_run_with_no_record_loses_its_heartbeat_and_batches_no_run_holds_are_orphans() {
        let empty = run_key(1, "run-1");
        let deleted = run_key(2, "sweep/00004-clients");
        let store = listing(&[(&deleted, 1)], &[(&empty, 0.0)]);
        let t = triage(&store, &Liveness::Locks(&[]), &|_| false);
        assert_eq!(t.stale_heartbeats, [empty]);
        assert_eq!(t.orphaned, [deleted.as_str()]);
        assert!(t.recover.is_empty());
        assert_eq!(
            run_name_of(&deleted),
            "sweep/00004-clients",
            "names keep their slashes"
        );
        assert_eq!(run_of_batch(&batch_key(&deleted, 3)), Some(deleted.as_str()));
    }

    #[test]
    fn r22_figure_data_goes_with_its_run() {
        let (kept, deleted) = (run_key(1, "run-1"), run_key(2, "run-2"));
        let store = Listing {
            figures: vec![kept.clone(), deleted.clone()],
            ..Listing::default()
        };
        let t = triage(&store, &Liveness::Locks(&[]), &|run| run == kept);
        assert_eq!(t.orphaned, [deleted.as_str()]);
        assert!(t.recover.is_empty(), "figure data alone is no run to recover");
        let entry = Entry::Figures {
            key: figures_key(&kept),
            json: "{}".into(),
        };
        assert_eq!(entry.run_key(), kept);
        assert_eq!(run_of_batch(&figures_key(&kept)), None, "never read as a batch");
    }

    #[test]
    fn a_recovered_run_has_its_records_statistics_and_says_it_was_interrupted() {
        let lines = include_str!("../../../tests/data/llmeter/sample-openai/responses.jsonl");
        let mut fold = RecordFold::new(StatsConfig::default()).unwrap();
        for line in lines.lines() {
            fold.add(&format!("{line}\n"), "").unwrap();
        }
        assert_eq!(fold.lines(), 20);
        let (files, stats) = fold.interrupted("run-9");
        assert_eq!(stats["total_requests"], 20);
        assert_eq!(stats["interrupted"], true);
        assert_eq!(stats["run_name"], "run-9 (interrupted)");
        assert!(stats["first_request_time"].is_string());
        assert_eq!(files.len(), 1);
        let mut broken = RecordFold::new(StatsConfig::default()).unwrap();
        assert!(
            broken.add("{not json\n", "").is_err(),
            "a damaged batch is an error, not a panic"
        );
    }

    #[test]
    fn records_split_into_batches_line_for_line() {
        let parts = split_lines("a\nb\nc\n", Some("1\n2\n3\n"), 2);
        assert_eq!(
            parts,
            [
                ("a\nb\n".to_owned(), "1\n2\n".to_owned()),
                ("c\n".to_owned(), "3\n".to_owned())
            ]
        );
        let no_sidecar = split_lines("a\nb", None, 1);
        assert_eq!(
            no_sidecar,
            [("a\n".to_owned(), String::new()), ("b".to_owned(), String::new())]
        );
        assert!(split_lines("", None, 5).is_empty());
    }

    #[test]
    fn a_runs_batch_range_holds_its_batches_and_no_other_runs() {
        let (first, last) = batch_key_range("7/run");
        let within = |key: &str| first.as_str() <= key && key <= last.as_str();
        assert!(within(&batch_key("7/run", 0)) && within(&batch_key("7/run", 9_999_999_999)));
        assert!(!within(&batch_key("7/run/x", 0)) && !within(&heartbeat_key("7/run")));
    }
}
