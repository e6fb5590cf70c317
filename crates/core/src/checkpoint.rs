//! Checkpoints: a run's finished records, kept in the browser's storage in batches as the run goes (as LLMeter's
//! low-memory mode writes each response to disk), so a closed or crashed tab loses no finished request. The engine's
//! worker writes a batch (the `responses.jsonl` and `tokenmeter_responses.jsonl` lines of the records finished
//! since the last snapshot) and a heartbeat five times a second; the page deletes a run's checkpoint once the
//! finished run is stored. At start-up, the page recovers every run whose heartbeat stopped: its records become a
//! run marked interrupted, read as LLMeter reads an interrupted run folder.
//!
//! Pure: storage keys, grouping, ordering and the staleness rule. `browser::store` does the I/O.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::format::{write_stats, Files, FormatError, LoadedRun, RunFile};
use crate::stats::StatsConfig;

/// A heartbeat younger than this means the run is going on in some tab: never recover it.
pub const STALE_AFTER_MS: f64 = 5_000.0;

/// The key of a run's checkpoint: unique per Run press (`seed`) and run (a sweep has several).
pub fn run_key(seed: u64, run_name: &str) -> String {
    format!("{seed:020}/{run_name}")
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

/// One stored entry: its key and, for a batch, its lines; for a heartbeat, its time.
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
}

impl Entry {
    pub fn key(&self) -> &str {
        match self {
            Entry::Batch { key, .. } | Entry::Heartbeat { key, .. } => key,
        }
    }

    /// The run the entry belongs to.
    pub fn run_key(&self) -> &str {
        let key = self.key();
        key.rsplit_once("/batch/")
            .map(|(run, _)| run)
            .or_else(|| key.strip_suffix("/live"))
            .unwrap_or(key)
    }
}

/// A recovered run's files (`(name, text)`) and its `stats.json` map.
pub type RecoveredRun = (Vec<(String, String)>, Map<String, Value>);

/// A run recovered from its checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovered {
    pub run_key: String,
    /// The run's name, from its key.
    pub run_name: String,
    /// Every batch's lines, in the order they were written.
    pub responses: String,
    pub extras: String,
    /// Every key it was stored under, to delete once the run is kept.
    pub keys: Vec<String>,
}

impl Recovered {
    /// The recovered run's files and statistics: its records as `responses.jsonl` (with Tokenmeter's extras),
    /// statistics recomputed from them (facts recovered as LLMeter recovers an interrupted run), marked
    /// `"interrupted": true`.
    pub fn run(&self) -> Result<RecoveredRun, FormatError> {
        let files = vec![
            (RunFile::Responses.file_name().to_owned(), self.responses.clone()),
            (
                RunFile::TokenmeterResponses.file_name().to_owned(),
                self.extras.clone(),
            ),
        ];
        let loaded = LoadedRun::from_files(&Files::from_named(&files), StatsConfig::default())?;
        let mut stats = loaded.stats;
        stats.insert(
            "run_name".into(),
            Value::from(format!("{} (interrupted)", self.run_name)),
        );
        stats.insert("interrupted".into(), Value::Bool(true));
        let mut files = files;
        files.push((RunFile::Stats.file_name().to_owned(), write_stats(&stats)));
        Ok((files, stats))
    }
}

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

/// The runs to recover from `entries`: those no live tab is running, with at least one record.
pub fn recover(entries: Vec<Entry>, liveness: Liveness<'_>) -> Vec<Recovered> {
    let mut runs: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for entry in entries {
        runs.entry(entry.run_key().to_owned()).or_default().push(entry);
    }
    runs.into_iter()
        .filter(|(run_key, entries)| match &liveness {
            Liveness::Locks(held) => !held.contains(&lock_name(run_key)),
            Liveness::Heartbeats { now_ms } => entries.iter().all(|e| match e {
                Entry::Heartbeat { at_ms, .. } => now_ms - at_ms > STALE_AFTER_MS,
                Entry::Batch { .. } => true,
            }),
        })
        .filter_map(|(run_key, mut entries)| {
            entries.sort_by(|a, b| a.key().cmp(b.key()));
            let keys = entries.iter().map(|e| e.key().to_owned()).collect();
            let (mut responses, mut extras) = (String::new(), String::new());
            for entry in entries {
                if let Entry::Batch {
                    responses: r,
                    extras: x,
                    ..
                } = entry
                {
                    responses.push_str(&r);
                    extras.push_str(&x);
                }
            }
            if responses.trim().is_empty() {
                return None;
            }
            let run_name = run_key
                .split_once('/')
                .map_or(run_key.as_str(), |(_, n)| n)
                .to_owned();
            Some(Recovered {
                run_key,
                run_name,
                responses,
                extras,
                keys,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(run: &str, seq: u64, line: &str) -> Entry {
        Entry::Batch {
            key: batch_key(run, seq),
            responses: format!("{line}\n"),
            extras: format!("x{line}\n"),
        }
    }

    #[test]
    fn a_stale_run_comes_back_whole_in_write_order_and_a_live_one_is_left_alone() {
        let dead = run_key(7, "run-3");
        let live = run_key(8, "run-4");
        let entries = vec![
            batch(&dead, 10, "c"),
            batch(&dead, 2, "b"),
            batch(&dead, 1, "a"),
            Entry::Heartbeat {
                key: heartbeat_key(&dead),
                at_ms: 1_000.0,
            },
            batch(&live, 1, "z"),
            Entry::Heartbeat {
                key: heartbeat_key(&live),
                at_ms: 9_000.0,
            },
        ];
        let recovered = recover(entries.clone(), Liveness::Heartbeats { now_ms: 10_000.0 });
        assert_eq!(recovered.len(), 1, "{recovered:?}");
        // With locks, only a held lock means alive, however fresh a heartbeat.
        let held = [lock_name(&dead)];
        let by_locks = recover(entries, Liveness::Locks(&held));
        assert_eq!(
            by_locks.iter().map(|r| r.run_name.as_str()).collect::<Vec<_>>(),
            ["run-4"]
        );
        let run = &recovered[0];
        assert_eq!(
            (run.run_name.as_str(), run.responses.as_str(), run.extras.as_str()),
            ("run-3", "a\nb\nc\n", "xa\nxb\nxc\n")
        );
        assert_eq!(run.keys.len(), 4, "every key of the run, its heartbeat too");
    }

    #[test]
    fn a_recovered_run_has_its_records_statistics_and_says_it_was_interrupted() {
        let lines = include_str!("../../../tests/data/llmeter/sample-openai/responses.jsonl");
        let run = run_key(3, "run-9");
        let mut entries: Vec<Entry> = lines
            .lines()
            .enumerate()
            .map(|(i, line)| Entry::Batch {
                key: batch_key(&run, i as u64),
                responses: format!("{line}\n"),
                extras: String::new(),
            })
            .collect();
        entries.reverse();
        let recovered = recover(entries, Liveness::Locks(&[])).remove(0);
        let (files, stats) = recovered.run().unwrap();
        assert_eq!(stats["total_requests"], 20);
        assert_eq!(stats["interrupted"], true);
        assert_eq!(stats["run_name"], "run-9 (interrupted)");
        assert_eq!(files.len(), 3);
    }

    #[test]
    fn a_run_with_no_record_is_not_recovered_and_names_keep_their_slashes() {
        let empty = run_key(1, "run-1");
        let named = run_key(2, "sweep/00004-clients");
        let entries = vec![
            Entry::Heartbeat {
                key: heartbeat_key(&empty),
                at_ms: 0.0,
            },
            batch(&named, 1, "a"),
        ];
        let recovered = recover(entries, Liveness::Heartbeats { now_ms: 60_000.0 });
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].run_name, "sweep/00004-clients");
    }

    #[test]
    fn a_runs_batch_range_holds_its_batches_and_no_other_runs() {
        let (first, last) = batch_key_range("7/run");
        let within = |key: &str| first.as_str() <= key && key <= last.as_str();
        assert!(within(&batch_key("7/run", 0)) && within(&batch_key("7/run", 9_999_999_999)));
        assert!(!within(&batch_key("7/run/x", 0)) && !within(&heartbeat_key("7/run")));
    }
}
