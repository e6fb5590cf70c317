//! `summary.json`: LLMeter's `Result` fields in its order (llmeter-reference.md §3.5), indented by four.
//!
//! Exactly LLMeter's 14 keys and nothing else: `Result.load` passes the file to `Result(**summary)`, which raises
//! `TypeError` on any other key (checked against LLMeter 0.1.12 and 0.2.0), so this one file carries no
//! `tokenmeter_format_version`. Date-times keep microseconds ([`crate::format::format_datetime`]).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::format::json::{parse_object, to_pretty, Fields};
use crate::format::{format_datetime, FormatError, Location, RunFile};
use crate::stats::RunInfo;

/// The wire shape of `summary.json`.
#[derive(Serialize)]
struct SummaryFile<'a> {
    total_requests: Option<u64>,
    clients: Option<u64>,
    n_requests: Option<u64>,
    total_test_time: Option<f64>,
    model_id: Option<&'a str>,
    output_path: Option<&'a str>,
    endpoint_name: Option<&'a str>,
    provider: Option<&'a str>,
    run_name: Option<&'a str>,
    run_description: Option<&'a str>,
    start_time: Option<String>,
    first_request_time: Option<String>,
    last_request_time: Option<String>,
    end_time: Option<String>,
}

/// `summary.json` for `info`.
pub fn write_summary(info: &RunInfo) -> String {
    let time = |t: Option<DateTime<Utc>>| t.map(format_datetime);
    to_pretty(&SummaryFile {
        total_requests: info.total_requests,
        clients: info.clients,
        n_requests: info.n_requests,
        total_test_time: info.total_test_time,
        model_id: info.model_id.as_deref(),
        output_path: info.output_path.as_deref(),
        endpoint_name: info.endpoint_name.as_deref(),
        provider: info.provider.as_deref(),
        run_name: info.run_name.as_deref(),
        run_description: info.run_description.as_deref(),
        start_time: time(info.start_time),
        first_request_time: time(info.first_request_time),
        last_request_time: time(info.last_request_time),
        end_time: time(info.end_time),
    })
}

/// Reads `summary.json` (LLMeter's, with whole-second date-times, or ours). Other keys are ignored.
pub fn read_summary(text: &str) -> Result<RunInfo, FormatError> {
    let at = Location::file(RunFile::Summary);
    let map = parse_object(text, at)?;
    run_info_from(&Fields::new(&map, at))
}

/// The `Result` fields of a summary, or of the top of a `stats.json` (which echoes them).
pub(crate) fn run_info_from(f: &Fields<'_>) -> Result<RunInfo, FormatError> {
    let text = |key: &str| f.string(key).map(|s| s.map(str::to_owned));
    // Early LLMeter versions wrote `start_time` / `end_time` as `perf_counter` floats, which are not wall-clock
    // times; they read as unknown.
    let time = |key: &str| match f.get(key) {
        Some(serde_json::Value::Number(_)) => Ok(None),
        _ => f.datetime(key),
    };
    Ok(RunInfo {
        total_requests: f.count("total_requests")?,
        clients: f.count("clients")?,
        n_requests: f.count("n_requests")?,
        total_test_time: f.seconds("total_test_time")?,
        model_id: text("model_id")?,
        output_path: text("output_path")?,
        endpoint_name: text("endpoint_name")?,
        provider: text("provider")?,
        run_name: text("run_name")?,
        run_description: text("run_description")?,
        start_time: time("start_time")?,
        first_request_time: time("first_request_time")?,
        last_request_time: time("last_request_time")?,
        end_time: time("end_time")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn llmeter_summary_reads_and_rewrites_in_its_key_order() {
        let text = include_str!("../../../../tests/data/llmeter/sample-openai/summary.json");
        let info = read_summary(text).unwrap();
        assert_eq!(
            (info.total_requests, info.clients, info.n_requests),
            (Some(20), Some(4), Some(5))
        );
        assert_eq!(info.total_test_time, Some(1.287_907_961_999_735_6));
        assert_eq!(
            info.first_request_time,
            Some(Utc.with_ymd_and_hms(2026, 11, 29, 3, 57, 43).unwrap())
        );
        let rewritten = write_summary(&info);
        // Same keys, same order, same values; only the date-times gain their (zero) microseconds.
        let expected = text.replace(":43Z", ":43.000000Z").replace(":44Z", ":44.000000Z");
        assert_eq!(rewritten, expected);
        assert_eq!(read_summary(&rewritten).unwrap(), info);
    }

    #[test]
    fn bad_summary_is_named() {
        let err = read_summary(r#"{"total_test_time": "long"}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "summary.json: field `total_test_time`: expected seconds (a number), found a string \"long\""
        );
        let err = read_summary("").unwrap_err().to_string();
        assert!(
            err.starts_with("summary.json: invalid JSON: EOF while parsing a value"),
            "{err}"
        );
    }
}
