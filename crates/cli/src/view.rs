//! The live view in the terminal: the page's grouped table (its groups and keys, from `core::table`) of the
//! merged run, with a progress bar and the time left, redrawn once a second. Plain lines when stdout is not a
//! terminal; one JSON snapshot per line with `--json`.

use std::io::{IsTerminal, Write};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Map, Value};

use tokenmeter_core::progress::ProgressView;
use tokenmeter_core::table::{live_table_of, Group, TableGroup};
use tokenmeter_engine::live::Progress;

/// How the command shows a run.
pub enum View {
    /// A bar and the table, redrawn in place.
    Terminal {
        lines: MultiProgress,
        bar: ProgressBar,
        rows: Vec<ProgressBar>,
    },
    /// One line a second.
    Plain,
    /// One JSON object a second.
    Json,
}

impl View {
    pub fn new(json: bool) -> View {
        if json {
            return View::Json;
        }
        if !std::io::stdout().is_terminal() {
            return View::Plain;
        }
        let lines = MultiProgress::with_draw_target(ProgressDrawTarget::stdout_with_hz(4));
        let bar = lines.add(ProgressBar::new(1000));
        bar.set_style(
            ProgressStyle::with_template("{prefix:.bold} [{bar:40.cyan/blue}] {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        View::Terminal {
            lines,
            bar,
            rows: Vec::new(),
        }
    }

    /// Shows the merged run `name` as it stands.
    pub fn show(
        &mut self,
        name: &str,
        progress: &Progress,
        bar: &ProgressView,
        stats: &Map<String, Value>,
        groups: &[TableGroup],
    ) {
        let counts = format!(
            "{} sent · {} done · {} failed · {} in flight",
            progress.sent, progress.finished, progress.failed, progress.in_flight
        );
        match self {
            View::Terminal {
                lines,
                bar: line,
                rows,
            } => {
                line.set_prefix(name.to_owned());
                line.set_position((bar.fraction * 1000.0) as u64);
                line.set_message(format!("{} · {counts}", bar.text()));
                let table = live_table_of(stats, groups);
                while rows.len() < table.len() {
                    let row = lines.add(ProgressBar::new(1));
                    row.set_style(ProgressStyle::with_template("  {msg}").expect("a valid template"));
                    rows.push(row);
                }
                for (row, group) in rows.iter().zip(&table) {
                    row.set_message(group_line(group));
                }
            }
            View::Plain => {
                println!("{name}: {} · {counts}", bar.text());
                let _ = std::io::stdout().flush();
            }
            View::Json => {
                let line = json!({
                    "run_name": name,
                    "progress": progress,
                    "fraction": bar.fraction,
                    "elapsed_secs": bar.elapsed_secs,
                    "remaining_secs": bar.remaining_secs,
                    "stats": stats,
                });
                println!("{line}");
                let _ = std::io::stdout().flush();
            }
        }
    }

    /// Clears the live lines (before the final table is printed).
    pub fn finish(&mut self) {
        if let View::Terminal { lines, bar, rows } = self {
            bar.finish_and_clear();
            rows.iter().for_each(ProgressBar::finish_and_clear);
            let _ = lines.clear();
        }
    }

    /// Prints a message without breaking the live lines.
    pub fn note(&self, text: &str) {
        match self {
            View::Terminal { lines, .. } => {
                let _ = lines.println(text);
            }
            _ => eprintln!("{text}"),
        }
    }
}

/// `TTFT (ms)  p50 212.1  p90 240.3  p99 301.0  avg 215.2  max 320.8`.
pub fn group_line(group: &Group) -> String {
    let cells: Vec<String> = group
        .rows
        .iter()
        .map(|r| format!("{} {}", r.label, r.value))
        .collect();
    format!("{:<18}{}", group.title, cells.join("  "))
}

/// The whole table as text, for the end of a run.
pub fn table_text(stats: &Map<String, Value>, groups: &[TableGroup]) -> String {
    live_table_of(stats, groups)
        .iter()
        .map(group_line)
        .collect::<Vec<_>>()
        .join("\n")
}
