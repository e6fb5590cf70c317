//! The exact merge of shards: a real run's records split N ways into shard folders merge back into exactly the
//! whole run's `stats.json` (to 1e-9), whatever N; shards of different runs, duplicates and missing shards are
//! named in the merged run.

use std::path::Path;

use serde_json::Value;

use tokenmeter::core::format::{
    merge_runs, stats_config_of, write_run, Files, LoadedRun, MergeError, MergePart, MissingShard, RunFolder,
    RunToWrite, ShardStatus,
};
use tokenmeter::core::shard::Shard;
use tokenmeter::core::stats::{RunInfo, RunningStats, StatsConfig};

fn sample() -> LoadedRun {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/llmeter/sample-openai");
    RunFolder::load(&dir, StatsConfig::llmeter()).unwrap()
}

/// Shard `shard`'s folder of `whole`: every N-th record, its share of the clients, the whole run's window (the
/// shards started together at a shared time), read back from the written files as a folder would be.
fn shard_folder(whole: &LoadedRun, shard: Shard) -> LoadedRun {
    let records: Vec<_> = whole
        .records
        .as_ref()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(i, _)| *i as u32 % shard.count == shard.index)
        .map(|(_, r)| r.clone())
        .collect();
    let mut config = whole.config.clone().unwrap();
    config.clients = whole.info.clients.map(|c| shard.share(c));
    config.other.insert(
        "tokenmeter_shard".into(),
        serde_json::json!({"index": shard.index, "count": shard.count, "start_at_ms": null,
                           "start_lag_ms": 0.5, "clock_offset_ms": null}),
    );
    let info = RunInfo {
        total_requests: Some(records.len() as u64),
        clients: config.clients,
        ..whole.info.clone()
    };
    let mut stats = RunningStats::new(stats_config_of(whole)).unwrap();
    records.iter().for_each(|r| stats.observe(r));
    let stats = stats.snapshot(&info);
    let files = write_run(&RunToWrite {
        config: &config,
        info: &info,
        records: &records,
        stats: &stats,
    });
    let named: Vec<(String, String)> = files.into_iter().map(|(n, t)| (n.to_owned(), t)).collect();
    LoadedRun::from_files(&Files::from_named(&named), stats_config_of(whole)).unwrap()
}

fn parts(whole: &LoadedRun, count: u32) -> Vec<MergePart> {
    (0..count)
        .map(|index| {
            let shard = Shard::new(index, count).unwrap();
            MergePart {
                label: format!("shards/{index:02}"),
                run: shard_folder(whole, shard),
            }
        })
        .collect()
}

#[test]
fn merging_n_shards_of_a_real_run_gives_the_whole_runs_statistics() {
    let whole = sample();
    let expected = &whole.stats;
    for count in [1, 2, 3, 4, 7] {
        let merged = merge_runs(parts(&whole, count), &[]).unwrap();
        assert_eq!(merged.records.len(), 20);
        let mut compared = 0;
        for (key, want) in expected {
            let got = merged
                .stats
                .get(key)
                .unwrap_or_else(|| panic!("{count} shards: {key} missing"));
            match (want.as_f64(), got.as_f64()) {
                (Some(w), Some(g)) => {
                    assert!(
                        (w - g).abs() <= 1e-9 * w.abs().max(1.0),
                        "{count} shards: {key}: {g} ≠ {w}"
                    );
                    compared += 1;
                }
                _ if key == "output_path" => {}
                _ => assert_eq!(got, want, "{count} shards: {key}"),
            }
        }
        assert!(compared >= 30, "{compared} numbers compared");
        assert_eq!(merged.shards.len(), count as usize);
        assert!(merged.shards.iter().all(|s| s.status == ShardStatus::Ok));
        let config: Value = serde_json::from_str(
            &merged
                .files()
                .into_iter()
                .find(|(n, _)| *n == "run_config.json")
                .unwrap()
                .1,
        )
        .unwrap();
        assert_eq!(config["clients"], 4, "the shards' clients add up");
        assert_eq!(
            config["tokenmeter_shards"].as_array().unwrap().len(),
            count as usize
        );
    }
}

#[test]
fn a_missing_shard_is_named_and_the_rest_is_kept() {
    let whole = sample();
    let mut shards = parts(&whole, 4);
    shards.remove(2);
    let missing = [MissingShard {
        shard: "2/4".into(),
        reason: "the browser crashed".into(),
    }];
    let merged = merge_runs(shards, &missing).unwrap();
    assert_eq!(merged.records.len(), 15);
    assert_eq!(merged.stats["interrupted"], true);
    let gone = merged
        .shards
        .iter()
        .find(|s| s.status == ShardStatus::Missing)
        .unwrap();
    assert_eq!(
        (gone.shard.as_str(), gone.reason.as_deref()),
        ("2/4", Some("the browser crashed"))
    );
}

#[test]
fn a_shard_given_twice_or_a_folder_of_another_run_is_refused() {
    let whole = sample();
    let mut twice = parts(&whole, 2);
    twice.push(twice[0].clone());
    assert!(matches!(merge_runs(twice, &[]), Err(MergeError::Duplicate(_))));

    let mut other = parts(&whole, 2);
    other[1].run.config.as_mut().unwrap().endpoint.model_id = Some("another-model".into());
    let error = merge_runs(other, &[]).unwrap_err();
    assert!(error.to_string().contains("not shards of one run"), "{error}");
    assert!(matches!(merge_runs(Vec::new(), &[]), Err(MergeError::Empty)));
}
