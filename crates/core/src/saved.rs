//! [`SavedRun`]: one run as the page keeps it across reloads (in the browser's IndexedDB) and lists it — its
//! files, the statistics shown for it, and what the results list says about it (name, description, date,
//! endpoint). Never a credential: the files are the run folder's, which never hold one.
//!
//! Plain data with a JSON form; the browser only stores and loads the text.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::format::archive::{level_path, run_path, write_zip, ArchiveError};
use crate::format::{read_run_config, RunFile};
use crate::input::RawInput;
use crate::search::SloSearch;
use crate::stats::{Scalar, StatKey};

/// A run the page keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedRun {
    /// Unique within the page's storage.
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// When the run started (RFC 3339), or when it was imported if its files do not say.
    pub date: String,
    /// What was measured: the model or endpoint name, and the API class.
    pub endpoint: String,
    /// Concurrent clients (closed loop), which places it on a load-test figure's x axis.
    pub clients: Option<u32>,
    /// The statistics shown (the run's own, or an import recomputed under the rules it names).
    pub stats: Map<String, Value>,
    /// How the statistics were computed, when imported ("LLMeter's rules: …").
    pub rules: Option<String>,
    /// Whether the comparison shows it.
    pub selected: bool,
    /// The run folder's files, `(name, text)`: shared, so renaming or selecting a run (a copy of the rest of it)
    /// never copies its files. Without `responses.jsonl` and `tokenmeter_responses.jsonl` when `records` says
    /// where they are.
    pub files: Arc<Vec<(String, String)>>,
    /// Where the run's per-request lines are, when they live in the browser's record store rather than in
    /// `files` (a run measured in the page keeps them there from the moment each request finishes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<StoredRecords>,
}

/// A run's `responses.jsonl` and `tokenmeter_responses.jsonl` lines, kept in the record store in batches
/// (`core::checkpoint`), never whole in memory: exports stream them, the figures worker reads them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecords {
    /// The run's key in the store (`checkpoint::run_key`): its batches are `batch_key(key, 0..)`.
    pub key: String,
    /// How many lines were stored.
    pub lines: u64,
    /// Why record keeping stopped before the run's end (storage full), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Whether the batches carry `tokenmeter_responses.jsonl` lines (an imported LLMeter folder's do not).
    #[serde(default = "yes")]
    pub extras: bool,
}

fn yes() -> bool {
    true
}

impl StoredRecords {
    /// The files the record store holds for a run: its per-request files.
    pub const FILES: [&'static str; 2] = [
        RunFile::Responses.file_name(),
        RunFile::TokenmeterResponses.file_name(),
    ];

    /// Whether `name` is one of the files the record store holds for a run.
    pub fn holds(name: &str) -> bool {
        StoredRecords::FILES.contains(&name)
    }
}

impl SavedRun {
    /// A run kept from `files` (a finished run's, or an imported folder's) with the `stats` shown for it.
    /// `now` (RFC 3339) dates it when its files do not.
    pub fn new(id: String, files: Vec<(String, String)>, stats: Map<String, Value>, now: &str) -> SavedRun {
        let text = |name: RunFile| {
            files
                .iter()
                .find(|(n, _)| n == name.file_name())
                .map(|(_, t)| t.as_str())
        };
        let config = text(RunFile::RunConfig).and_then(|t| read_run_config(t).ok());
        let string = |key: &str| stats.get(key).and_then(Value::as_str).map(str::to_owned);
        let name = string("run_name")
            .or_else(|| config.as_ref().and_then(|c| c.run_name.clone()))
            .unwrap_or_else(|| "run".into());
        let description =
            string("run_description").or_else(|| config.as_ref().and_then(|c| c.run_description.clone()));
        let endpoint = config
            .as_ref()
            .map(|c| {
                let e = &c.endpoint;
                let what = e
                    .model_id
                    .clone()
                    .or_else(|| e.endpoint_name.clone())
                    .unwrap_or_default();
                match &e.endpoint_type {
                    Some(kind) if !what.is_empty() => format!("{what} ({kind})"),
                    Some(kind) => kind.clone(),
                    None => what,
                }
            })
            .or_else(|| string("model_id"))
            .unwrap_or_default();
        let clients = stats
            .get("clients")
            .and_then(Value::as_u64)
            .or_else(|| config.as_ref().and_then(|c| c.clients))
            .and_then(|c| u32::try_from(c).ok());
        SavedRun {
            id,
            name,
            description,
            date: string("start_time").unwrap_or_else(|| now.to_owned()),
            endpoint,
            clients,
            stats,
            rules: None,
            selected: true,
            files: Arc::new(files),
            records: None,
        }
    }

    /// The names of every file of the run, those in the record store included, in [`RunFile::ALL`] order first.
    pub fn file_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.files.iter().map(|(n, _)| n.clone()).collect();
        if let Some(records) = &self.records {
            let held = if records.extras {
                &[RunFile::Responses, RunFile::TokenmeterResponses][..]
            } else {
                &[RunFile::Responses][..]
            };
            for &file in held {
                if !names.iter().any(|n| n == file.file_name()) {
                    names.push(file.file_name().to_owned());
                }
            }
        }
        let rank = |n: &String| {
            RunFile::ALL
                .iter()
                .position(|f| f.file_name() == n)
                .unwrap_or(RunFile::ALL.len())
        };
        names.sort_by_key(rank);
        names
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a saved run serialises")
    }

    pub fn from_json(text: &str) -> Result<SavedRun, String> {
        serde_json::from_str(text).map_err(|e| format!("a stored run could not be read: {e}"))
    }

    /// Every file of the run, named, with where its text is: in `files`, or in the record store.
    pub fn sources(&self) -> Vec<(String, FileSource<'_>)> {
        self.file_names()
            .into_iter()
            .filter_map(|name| {
                let source = match (&self.records, self.files.iter().find(|(n, _)| *n == name)) {
                    (_, Some((_, text))) => FileSource::Text(text),
                    (Some(records), None) => FileSource::Stored {
                        key: &records.key,
                        file: RunFile::ALL.into_iter().find(|f| f.file_name() == name)?,
                    },
                    (None, None) => return None,
                };
                Some((name, source))
            })
            .collect()
    }

    /// The run's `.zip` layout: every file in a folder named after the run (`{run_name}/{file}`).
    pub fn zip_plan(&self) -> Vec<(String, FileSource<'_>)> {
        self.sources()
            .into_iter()
            .map(|(name, source)| (run_path(&self.name, &name), source))
            .collect()
    }

    /// Every file of the run in one `.zip`, in a folder named after it; only for a run whose files are all in
    /// memory (the page streams the others, [`SavedRun::zip_plan`]).
    pub fn zip(&self) -> Result<Vec<u8>, ArchiveError> {
        write_zip(&texts_of(self.zip_plan())?)
    }
}

/// Where a saved run's file is, to write it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileSource<'a> {
    /// In memory, with the run.
    Text(&'a str),
    /// In the record store, under the run's `key`: `responses.jsonl` or `tokenmeter_responses.jsonl`, batch by
    /// batch.
    Stored { key: &'a str, file: RunFile },
}

/// The texts of a plan whose files are all in memory.
fn texts_of(plan: Vec<(String, FileSource<'_>)>) -> Result<Vec<(String, &str)>, ArchiveError> {
    plan.into_iter()
        .map(|(path, source)| match source {
            FileSource::Text(text) => Ok((path, text)),
            FileSource::Stored { .. } => Err(ArchiveError::Write {
                reason: format!("{path} is in the browser's record store, not in memory"),
            }),
        })
        .collect()
}

/// Runs as a LLMeter LoadTest folder (`{test_name}/{NNNNN-clients}/…`), which LLMeter's `LoadTestResult.load`
/// reads once unpacked: each file's path and where its text is. Runs without a client count are left out; it is an
/// error when fewer than one remains or two share a client count.
pub fn load_test_plan<'a>(
    test_name: &str,
    runs: &[&'a SavedRun],
) -> Result<Vec<(String, FileSource<'a>)>, String> {
    let mut levels: Vec<(u32, &SavedRun)> = runs.iter().filter_map(|r| r.clients.map(|c| (c, *r))).collect();
    levels.sort_by_key(|(c, _)| *c);
    if levels.is_empty() {
        return Err(
            "Select the runs of a sweep (closed-loop runs with a client count) to export them.".into(),
        );
    }
    if let Some(w) = levels.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!(
            "Two selected runs have {} clients: a LoadTest folder has one run per client count.",
            w[0].0
        ));
    }
    Ok(levels
        .into_iter()
        .flat_map(|(clients, run)| {
            run.sources()
                .into_iter()
                .map(move |(name, source)| (level_path(test_name, clients, &name), source))
        })
        .collect())
}

/// [`load_test_plan`] written as one `.zip`, for runs whose files are all in memory.
pub fn load_test_zip(test_name: &str, runs: &[&SavedRun]) -> Result<Vec<u8>, String> {
    let plan = load_test_plan(test_name, runs)?;
    texts_of(plan)
        .and_then(|entries| write_zip(&entries))
        .map_err(|e| e.to_string())
}

/// The SLO search that the newest of the given runs with a search step belongs to (runs whose stats carry
/// `slo_search_level` and whose settings, `run_config.json`'s `tokenmeter_input`, are the same), judged again on
/// their stats under the SLO those settings name; `None` without steps.
pub fn slo_search(runs: &[&SavedRun]) -> Option<SloSearch> {
    let level = |run: &SavedRun| StatKey::from(Scalar::SloSearchLevel).get(&run.stats);
    let settings = |run: &SavedRun| {
        let (_, text) = run
            .files
            .iter()
            .find(|(name, _)| name == RunFile::RunConfig.file_name())?;
        read_run_config(text).ok().map(|c| c.tokenmeter_input)
    };
    let steps: Vec<(&SavedRun, f64, Value)> = runs
        .iter()
        .filter_map(|run| Some((*run, level(run)?, settings(run)?)))
        .collect();
    let (_, _, newest) = steps.iter().max_by(|a, b| a.0.date.cmp(&b.0.date))?;
    let plan = RawInput::from_json(newest)?.parse().ok()?.search?;
    let mut search = plan.start();
    for (run, level, _) in steps.iter().filter(|(_, _, s)| s == newest) {
        search.record(*level, &run.stats);
    }
    Some(search)
}

/// The oldest run, to make room for a newer one.
pub fn oldest<'a>(runs: impl IntoIterator<Item = &'a SavedRun>) -> Option<&'a SavedRun> {
    runs.into_iter().min_by(|a, b| a.date.cmp(&b.date))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::archive::{as_load_test, group_run_folders, read_zip};

    fn run(id: &str, clients: u32, date: &str) -> SavedRun {
        let config = format!(
            r#"{{"endpoint": {{"model_id": "mock-model", "endpoint_type": "OpenAICompletionStreamEndpoint"}}, "clients": {clients}, "run_description": "d"}}"#
        );
        let stats: Map<String, Value> = serde_json::from_str(&format!(
            r#"{{"run_name": "{id}", "start_time": "{date}", "clients": {clients}, "total_requests": 4}}"#
        ))
        .unwrap();
        let files = vec![
            ("run_config.json".to_owned(), config),
            ("stats.json".to_owned(), serde_json::to_string(&stats).unwrap()),
        ];
        SavedRun::new(id.into(), files, stats, "2026-12-01T00:00:00Z")
    }

    #[test]
    fn a_run_is_described_by_its_own_files() {
        let r = run("run-1", 4, "2026-11-30T10:00:00Z");
        assert_eq!(r.name, "run-1");
        assert_eq!(r.description.as_deref(), Some("d"));
        assert_eq!(r.date, "2026-11-30T10:00:00Z");
        assert_eq!(r.endpoint, "mock-model (OpenAICompletionStreamEndpoint)");
        assert_eq!(r.clients, Some(4));
        assert_eq!(SavedRun::from_json(&r.to_json()).unwrap(), r);
        assert!(SavedRun::from_json("{").is_err());
    }

    /// r18-8: a rename or a checkbox copies the run's name and flags, never its files.
    #[test]
    fn r18_8_a_changed_copy_shares_the_files() {
        let original = std::sync::Arc::new(run("run-1", 4, "2026-11-30T10:00:00Z"));
        let mut shown = original.clone();
        let renamed = std::sync::Arc::make_mut(&mut shown);
        renamed.name = "baseline".into();
        renamed.selected = true;
        assert!(
            std::sync::Arc::ptr_eq(&original.files, &renamed.files),
            "the files were copied"
        );
        let stored = SavedRun::from_json(&renamed.to_json()).unwrap();
        assert_eq!(
            *stored.files, *original.files,
            "and they store and load as before"
        );
    }

    #[test]
    fn the_oldest_run_makes_room_first() {
        let runs = [
            run("a", 1, "2026-01-01"),
            run("c", 1, "2026-03-01"),
            run("b", 1, "2026-02-01"),
        ];
        assert_eq!(oldest(&runs).unwrap().id, "a");
        assert_eq!(oldest(&runs[1..]).unwrap().id, "b");
        assert!(oldest(&[]).is_none());
    }

    #[test]
    fn selected_sweep_levels_export_as_a_load_test_folder() {
        let runs = [run("00004-clients", 4, "x"), run("00001-clients", 1, "y")];
        let zip = load_test_zip("sweep", &runs.iter().collect::<Vec<_>>()).unwrap();
        let folders = group_run_folders(read_zip(&zip).unwrap());
        let layout = as_load_test(&folders).expect("a LoadTest layout");
        assert_eq!(layout.test_name, "sweep");
        assert_eq!(layout.levels.iter().map(|(c, _)| *c).collect::<Vec<_>>(), [1, 4]);
        let twins = [run("a", 2, "x"), run("b", 2, "y")];
        assert!(load_test_zip("s", &twins.iter().collect::<Vec<_>>())
            .unwrap_err()
            .contains("2 clients"));
        assert!(load_test_zip("s", &[]).is_err());
    }

    /// A search's steps, read back from the page's library: the newest search's settings decide the SLO, and
    /// steps of another search among the selected runs are left out.
    #[test]
    fn an_slo_search_is_rebuilt_from_its_step_runs() {
        let step = |level: f64, ttft: f64, slo: &str, date: &str| {
            let input =
                RawInput::from_pairs([("search", "clients:1-16"), ("search_slo", slo), ("requests", "2")]);
            let config =
                serde_json::json!({ "endpoint": {}, "tokenmeter_input": input.to_json() }).to_string();
            let stats: Map<String, Value> = serde_json::from_value(serde_json::json!({
                "slo_search_level": level, "time_to_first_token-p95": ttft
            }))
            .unwrap();
            let files = vec![("run_config.json".to_owned(), config)];
            SavedRun::new(format!("{level}"), files, stats, date)
        };
        let slo = "time_to_first_token-p95<0.2";
        let runs = [
            step(1.0, 0.1, slo, "2026-12-01T00:00:01Z"),
            step(16.0, 0.5, slo, "2026-12-01T00:00:02Z"),
            step(8.0, 0.15, slo, "2026-12-01T00:00:03Z"),
            step(4.0, 0.3, "time_to_first_token-p95<0.01", "2026-11-01T00:00:00Z"),
            run("plain", 4, "x"),
        ];
        let search = slo_search(&runs.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(search.steps.len(), 3);
        assert_eq!(
            search.outcome(),
            Some(crate::search::Outcome::Found {
                held: 8.0,
                failed: Some(16.0)
            })
        );
        assert!(slo_search(&[&runs[4]]).is_none());
    }

    /// r22: a run measured in the page has its per-request files in the record store: listed with the others,
    /// written from the store, never claimed to be in memory.
    #[test]
    fn r22_a_runs_stored_records_are_among_its_files() {
        let mut r = run("run-1", 4, "x");
        r.records = Some(StoredRecords {
            key: "7/run-1".into(),
            lines: 3,
            stopped: None,
            extras: true,
        });
        let plan = r.zip_plan();
        let paths: Vec<_> = plan.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "run-1/run_config.json",
                "run-1/responses.jsonl",
                "run-1/tokenmeter_responses.jsonl",
                "run-1/stats.json"
            ]
        );
        assert_eq!(
            plan[1].1,
            FileSource::Stored {
                key: "7/run-1",
                file: RunFile::Responses
            }
        );
        assert!(r.zip().is_err(), "the page streams it instead");
        let sweep = load_test_plan("s", &[&r]).unwrap();
        assert_eq!(sweep[1].0, "s/00004-clients/responses.jsonl");
        assert_eq!(SavedRun::from_json(&r.to_json()).unwrap(), r);
    }

    #[test]
    fn a_run_zips_into_its_own_folder() {
        let r = run("run-1", 4, "x");
        let entries = read_zip(&r.zip().unwrap()).unwrap();
        let names: Vec<_> = entries.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, ["run-1/run_config.json", "run-1/stats.json"]);
    }
}
