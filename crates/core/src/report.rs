//! The one-file report: a self-contained `.html` of one or more runs (a run, a comparison, a search's steps) for
//! sharing. It holds each run's settings (from its `run_config.json`, which never holds a credential), its
//! grouped table with the percentiles' intervals, its figures as inline SVG, and its data (`stats.json` and
//! `run_config.json` as JSON data blocks, which a reader extracts and the browser never runs).
//!
//! It opens offline in any browser and carries the page's own Content-Security-Policy, which it passes: no
//! script runs, no style sheet or `style` attribute is used (tables and figures are laid out by HTML attributes),
//! and nothing is fetched. The page and `tokenmeter run --report` both write it from this module.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::figure::Figure;
use crate::format::{read_run_config, RunFile};
use crate::saved::SavedRun;
use crate::table::live_table;

/// The page's Content-Security-Policy (`index.html`), which the report declares for itself.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
    img-src 'self' data: blob:; connect-src 'self' https: http:; worker-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'none'";

/// One run of a report.
#[derive(Debug, Clone, Default)]
pub struct ReportRun {
    pub name: String,
    pub stats: Map<String, Value>,
    /// The run's `run_config.json` text, if kept: its settings are shown and it is embedded as data.
    pub run_config: Option<String>,
    pub figures: Vec<Figure>,
}

impl ReportRun {
    /// A run as the page keeps it, with the figures drawn for it.
    pub fn of_saved(run: &SavedRun, figures: Vec<Figure>) -> ReportRun {
        ReportRun {
            name: run.name.clone(),
            stats: run.stats.clone(),
            run_config: run
                .files
                .iter()
                .find(|(name, _)| name == RunFile::RunConfig.file_name())
                .map(|(_, text)| text.clone()),
            figures,
        }
    }
}

/// A section of text and figures about the runs together (an SLO search's outcome, a comparison).
#[derive(Debug, Clone, Default)]
pub struct ReportSection {
    pub title: String,
    pub paragraphs: Vec<String>,
    pub figures: Vec<Figure>,
}

/// What a report shows.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub title: String,
    /// When it was written (ISO 8601), and by what.
    pub generated: String,
    pub sections: Vec<ReportSection>,
    pub runs: Vec<ReportRun>,
}

impl Report {
    /// The report as one HTML document.
    pub fn to_html(&self) -> String {
        let mut html = String::with_capacity(64 * 1024);
        let title = escape(&self.title);
        let _ = write!(
            html,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"generator\" content=\"Tokenmeter\">\n<title>{title}</title>\n</head>\n<body>\n\
             <h1>{title}</h1>\n<p>{}</p>\n",
            escape(PAGE_CSP),
            escape(&self.generated)
        );
        if self.runs.len() > 1 {
            html.push_str("<nav><p>Runs:</p><ol>");
            for (i, run) in self.runs.iter().enumerate() {
                let _ = write!(html, "<li><a href=\"#run-{i}\">{}</a></li>", escape(&run.name));
            }
            html.push_str("</ol></nav>\n");
        }
        for section in &self.sections {
            let _ = write!(html, "<section>\n<h2>{}</h2>\n", escape(&section.title));
            for p in &section.paragraphs {
                let _ = writeln!(html, "<p>{}</p>", escape(p));
            }
            figures_html(&mut html, &section.figures);
            html.push_str("</section>\n");
        }
        for (i, run) in self.runs.iter().enumerate() {
            run_html(&mut html, i, run);
        }
        html.push_str("</body>\n</html>\n");
        html
    }
}

fn run_html(html: &mut String, index: usize, run: &ReportRun) {
    let _ = write!(
        html,
        "<section id=\"run-{index}\">\n<h2>{}</h2>\n",
        escape(&run.name)
    );
    let settings = run
        .run_config
        .as_deref()
        .and_then(|text| read_run_config(text).ok())
        .and_then(|config| config.tokenmeter_input.as_object().cloned());
    if let Some(settings) = settings {
        html.push_str("<details open><summary>Settings</summary>\n<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\">\n");
        for (name, value) in &settings {
            let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
            if !text.is_empty() {
                let _ = writeln!(
                    html,
                    "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
                    escape(name),
                    escape(&text)
                );
            }
        }
        html.push_str("</table>\n</details>\n");
    }
    html.push_str("<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\" class=\"stats\">\n");
    for group in live_table(&run.stats) {
        let _ = writeln!(
            html,
            "<tr><th colspan=\"3\" align=\"left\">{}</th></tr>",
            escape(group.title)
        );
        for row in group.rows {
            let interval = row.interval.map(|i| i.text).unwrap_or_default();
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td align=\"right\" data-stat=\"{}\">{}</td><td>{}</td></tr>",
                escape(row.label),
                escape(&row.key),
                escape(&row.value),
                escape(&interval)
            );
        }
    }
    html.push_str("</table>\n");
    figures_html(html, &run.figures);
    data_block(
        html,
        &format!("run-{index}-stats"),
        &Value::Object(run.stats.clone()).to_string(),
    );
    if let Some(config) = &run.run_config {
        data_block(html, &format!("run-{index}-run-config"), config);
    }
    html.push_str("</section>\n");
}

fn figures_html(html: &mut String, figures: &[Figure]) {
    for figure in figures {
        let svg = figure.svg.trim_start();
        let svg = match svg.strip_prefix("<?xml") {
            Some(rest) => rest.split_once("?>").map_or(svg, |(_, after)| after.trim_start()),
            None => svg,
        };
        let _ = write!(
            html,
            "<figure id=\"figure-{}\">\n{svg}\n<figcaption>{}</figcaption>\n</figure>\n",
            escape(&figure.id),
            escape(&figure.title)
        );
    }
}

/// A JSON data block: never run (its type is not a script's), so the CSP allows it; `<` is escaped so no text
/// can close it.
fn data_block(html: &mut String, id: &str, json: &str) {
    let safe = json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    let _ = writeln!(
        html,
        "<script type=\"application/json\" id=\"{}\">{safe}</script>",
        escape(id)
    );
}

/// Text as HTML text or attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::RawInput;
    use serde_json::json;

    fn run() -> ReportRun {
        let stats = json!({
            "total_requests": 20, "time_to_first_token-p50": 0.25, "time_to_first_token-p50-ci_low": 0.2,
            "time_to_first_token-p50-ci_high": 0.3, "confidence_level": 0.95, "run_name": "a </script> run",
        });
        let input = RawInput::from_pairs([("clients", "4"), ("name", "<b>bold</b>")]);
        let config = json!({ "endpoint": {}, "tokenmeter_input": input.to_json() }).to_string();
        ReportRun {
            name: "run-1 <x>".into(),
            stats: stats.as_object().unwrap().clone(),
            run_config: Some(config),
            figures: vec![Figure::new(
                "ttft-histogram",
                "TTFT histogram".into(),
                "<?xml version=\"1.0\"?>\n<svg width=\"10\" height=\"10\"></svg>".into(),
            )],
        }
    }

    #[test]
    fn a_report_holds_the_table_settings_figures_and_data_and_escapes_everything() {
        let report = Report {
            title: "Tokenmeter report".into(),
            generated: "Written 2026-12-08T00:00:00Z by Tokenmeter".into(),
            sections: vec![ReportSection {
                title: "SLO search".into(),
                paragraphs: vec!["knee at 8 clients".into()],
                figures: Vec::new(),
            }],
            runs: vec![run(), run()],
        };
        let html = report.to_html();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains(&escape(PAGE_CSP)));
        assert!(html.contains("<h2>run-1 &lt;x&gt;</h2>"));
        assert!(
            html.contains("<a href=\"#run-1\">"),
            "a contents list for several runs"
        );
        assert!(html.contains("data-stat=\"time_to_first_token-p50\">250.0</td><td>95% CI 200.0–300.0</td>"));
        assert!(html.contains("<th align=\"left\">name</th><td>&lt;b&gt;bold&lt;/b&gt;</td>"));
        assert!(
            html.contains("<figure id=\"figure-ttft-histogram\">\n<svg width=\"10\""),
            "no XML prolog inline"
        );
        assert!(!html.contains("<?xml"));
        // The data blocks cannot be closed early by the data, and no script or style is used.
        assert!(html.contains("a \\u003c/script\\u003e run"));
        assert_eq!(html.matches("<script").count(), 4, "two data blocks per run");
        assert_eq!(html.matches("<script type=\"application/json\"").count(), 4);
        assert!(!html.contains("<style") && !html.contains("style=\""));
        assert!(html.contains("knee at 8 clients"));
    }
}
