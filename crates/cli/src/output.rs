//! Result folders on disk: each shard's own folder (`DIR/shards/NN/`), the merged run's (`DIR/`), and, for a
//! configuration of several runs (a sweep, a heatmap), one folder per run under `DIR` (LLMeter's LoadTest
//! layout: `LoadTestResult.load(DIR)` reads it).

use std::path::{Path, PathBuf};

use tokenmeter_core::format::archive::path_component;
use tokenmeter_core::format::foreign::read_foreign;
use tokenmeter_core::format::{
    load_under_own_rules, merge_runs, Files, MergePart, MergedRun, MissingShard, RunFile, RunFolder,
};

use serde_json::json;
use tokenmeter_charts::run::run_figures;
use tokenmeter_charts::slo_search::slo_search_svg;
use tokenmeter_core::figure::Figure;
use tokenmeter_core::figure_data::FigureData;
use tokenmeter_core::format::stats_config_for;
use tokenmeter_core::report::{Report, ReportRun, ReportSection};
use tokenmeter_core::search::{Outcome, SloSearch};
use tokenmeter_core::stats::{race_json, RaceComparison, RACE_FILE};

use crate::error::CliError;

/// Writes `files` into `dir`, creating it.
pub fn write_folder<S: AsRef<str>>(dir: &Path, files: &[(S, String)]) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|e| CliError::Io(format!("{}: {e}", dir.display())))?;
    for (name, text) in files {
        let path = dir.join(name.as_ref());
        std::fs::write(&path, text).map_err(|e| CliError::Io(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// A shard's folder: `shards/00`, `shards/01`, …
pub fn shard_dir(dir: &Path, index: usize) -> PathBuf {
    dir.join("shards").join(format!("{index:02}"))
}

/// One shard's files, read back as a folder would be, to merge.
pub fn part(label: String, files: &[(String, String)]) -> Result<MergePart, CliError> {
    let run = load_under_own_rules(&Files::from_named(files))
        .map_err(|e| CliError::Run(format!("{label}: its files cannot be read back: {e}")))?;
    Ok(MergePart { label, run })
}

/// Merges the shards that delivered (naming the ones that did not) and writes the merged folder to `dir`.
pub fn merge_into(
    dir: &Path,
    parts: Vec<MergePart>,
    missing: &[MissingShard],
) -> Result<MergedRun, CliError> {
    let merged = merge_runs(parts, missing).map_err(|e| CliError::Run(format!("the merge failed: {e}")))?;
    write_folder(dir, &merged.files())?;
    Ok(merged)
}

/// `tokenmeter merge DIR... --out DIR`: run folders (shards of one run, from this command or from N machines).
pub fn merge_folders(folders: &[PathBuf], out: &Path) -> Result<MergedRun, CliError> {
    let mut parts = Vec::new();
    for folder in folders {
        let run = RunFolder::recompute(folder, None)
            .map_err(|e| CliError::Config(format!("{}: {e}", folder.display())))?;
        parts.push(MergePart {
            label: folder.display().to_string(),
            run,
        });
    }
    let merged = merge_runs(parts, &[]).map_err(|e| CliError::Config(e.to_string()))?;
    write_folder(out, &merged.files())?;
    Ok(merged)
}

/// An SLO search's result beside its steps' folders: `slo_search.json` (each step's level and verdicts, the
/// outcome) and `slo_search.svg` (the SLO's statistic against load, the knee marked).
pub fn write_search(dir: &Path, search: &SloSearch) -> Result<(), CliError> {
    let steps: Vec<_> = search
        .steps
        .iter()
        .map(|s| {
            let verdicts: Vec<_> = s
                .verdicts
                .iter()
                .map(|v| json!({ "threshold": v.threshold.to_string(), "value": v.value, "holds": v.holds }))
                .collect();
            json!({ "level": s.level, "holds": s.holds(), "verdicts": verdicts })
        })
        .collect();
    let outcome = match search.outcome() {
        Some(Outcome::Found { held, failed }) => {
            json!({ "highest_level_that_holds": held, "lowest_level_that_breaks": failed })
        }
        Some(Outcome::FailsAtLowest { level }) => {
            json!({ "highest_level_that_holds": null, "lowest_level_that_breaks": level })
        }
        None => json!(null),
    };
    let slo: Vec<String> = search.slo.iter().map(ToString::to_string).collect();
    let file = json!({
        "range": search.range.to_string(),
        "slo": slo,
        "steps": steps,
        "outcome": outcome,
        "summary": search.summary(),
    });
    let text = serde_json::to_string_pretty(&file).unwrap_or_default();
    write_folder(
        dir,
        &[
            ("slo_search.json", text),
            ("slo_search.svg", slo_search_svg(search, (720, 400))),
        ],
    )
}

/// Each figure's size in a report (the page's).
const REPORT_FIGURE: (u32, u32) = (560, 320);

/// The one-file report of a `run`: each merged run's table, settings, figures and data, and the SLO search's
/// outcome and figure when there was one.
pub fn report(
    merged: &[(String, MergedRun)],
    search: Option<&SloSearch>,
    race: &[RaceComparison],
    written: &str,
) -> String {
    let runs = merged
        .iter()
        .map(|(name, run)| {
            let method = stats_config_for(Some(&run.stats), None).method;
            let files = run.files();
            let run_config = files
                .iter()
                .find(|(file, _)| *file == RunFile::RunConfig.file_name())
                .map(|(_, text)| text.clone());
            ReportRun {
                name: name.clone(),
                stats: run.stats.clone(),
                run_config,
                figures: run_figures(&FigureData::from_records(&run.records, method), REPORT_FIGURE),
            }
        })
        .collect();
    let mut sections: Vec<ReportSection> = search
        .map(|search| ReportSection {
            title: "SLO search".into(),
            paragraphs: vec![search.summary()],
            figures: vec![Figure::new(
                "slo-search",
                "SLO search".into(),
                slo_search_svg(search, (720, 400)),
            )],
        })
        .into_iter()
        .collect();
    if !race.is_empty() {
        sections.push(ReportSection {
            title: "Race".into(),
            paragraphs: race.iter().map(|c| c.sentence.clone()).collect(),
            figures: Vec::new(),
        });
    }
    Report {
        title: "Tokenmeter report".into(),
        generated: format!("Written {written} by the tokenmeter command."),
        sections,
        runs,
    }
    .to_html()
}

/// A race's comparisons beside its targets' folders: `race.json` (each difference, its interval and sentence).
pub fn write_race(dir: &Path, race: &[RaceComparison]) -> Result<(), CliError> {
    write_folder(dir, &[(RACE_FILE, race_json(race))])
}

/// `tokenmeter import FILE... --out DIR`: another tool's results as run folders, each run twice — under the tool's
/// own numbers (`own/`) and recomputed under Tokenmeter's rules (`tokenmeter/`) — with the records it could not
/// read named, and the tool's definitions printed.
pub fn import(paths: &[PathBuf], out: &Path) -> Result<(), CliError> {
    let texts = paths
        .iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(p).map_err(|e| CliError::Io(format!("{}: {e}", p.display())))?;
            Ok((p.display().to_string(), text))
        })
        .collect::<Result<Vec<_>, CliError>>()?;
    let named: Vec<(&str, &str)> = texts.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let runs = read_foreign(&named).map_err(CliError::Config)?;
    for run in &runs {
        let dir = out.join(path_component(&run.name));
        let own = run.own_stats();
        let ours = run.recomputed();
        write_folder(&dir.join("own"), &run.files(&own))?;
        write_folder(&dir.join("tokenmeter"), &run.files(&ours))?;
        let ttft = |stats: &serde_json::Map<String, serde_json::Value>, p: &str| {
            stats
                .get(&format!("time_to_first_token-{p}"))
                .and_then(serde_json::Value::as_f64)
                .map_or("—".to_owned(), |v| format!("{:.1} ms", v * 1e3))
        };
        println!(
            "{} ({} {}): {} requests; TTFT p50 {} (its own) / {} (Tokenmeter), p99 {} / {} -> {}",
            run.name,
            run.tool.name(),
            run.version.as_deref().unwrap_or("?"),
            run.records.len(),
            ttft(&own, "p50"),
            ttft(&ours, "p50"),
            ttft(&own, "p99"),
            ttft(&ours, "p99"),
            dir.display()
        );
        println!("  {}", run.tool.definitions());
        for bad in &run.bad {
            eprintln!("tokenmeter: left out: {bad}");
        }
    }
    Ok(())
}
