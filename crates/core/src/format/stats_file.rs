//! `stats.json`: the flat statistics map, indented by four.
//!
//! The map itself (keys, order, int-versus-float choices) is [`crate::stats::RunningStats::snapshot`]'s;
//! this file only adds `tokenmeter_format_version` after it and reads files back. LLMeter's `Result.load` keeps
//! unknown `stats.json` keys (it merges them as contributed stats), so the extras are safe here.
//!
//! Reading keeps every value as JSON in file order, since LLMeter callbacks add arbitrary numeric keys
//! (`cost_*` and others). [`stats_number`] and [`stats_datetime`] read single values tolerantly: integers and
//! floats alike, and LLMeter's whole-second date-times.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::format::json::{parse_object, to_pretty, Fields};
use crate::format::{parse_datetime, FormatError, Location, RunFile, FORMAT_VERSION, FORMAT_VERSION_KEY};
use crate::stats::RunInfo;

/// `stats.json` for a stats map (as [`crate::stats::RunningStats::snapshot`] returns it).
pub fn write_stats(stats: &Map<String, Value>) -> String {
    let mut stats = stats.clone();
    stats.insert(FORMAT_VERSION_KEY.to_owned(), FORMAT_VERSION.into());
    to_pretty(&stats)
}

/// Reads `stats.json` into an ordered map. Python's `NaN` and `Infinity` read as `null`.
pub fn read_stats(text: &str) -> Result<Map<String, Value>, FormatError> {
    parse_object(text, Location::file(RunFile::Stats))
}

/// A numeric stat, whether the file wrote it as an integer or a float.
pub fn stats_number(stats: &Map<String, Value>, key: &str) -> Option<f64> {
    stats.get(key).and_then(Value::as_f64)
}

/// A date-time stat, at whatever precision the file has.
pub fn stats_datetime(stats: &Map<String, Value>, key: &str) -> Option<DateTime<Utc>> {
    stats.get(key).and_then(Value::as_str).and_then(parse_datetime)
}

/// The `Result` fields that head every `stats.json`, for a folder that has nothing else.
pub fn run_info_from_stats(stats: &Map<String, Value>) -> Result<RunInfo, FormatError> {
    crate::format::summary::run_info_from(&Fields::new(stats, Location::file(RunFile::Stats)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../../../tests/data/llmeter/sample-openai/stats.json");

    #[test]
    fn llmeter_stats_read_in_order_and_rewrite_with_the_version_added() {
        let stats = read_stats(SAMPLE).unwrap();
        assert_eq!(stats.keys().next().map(String::as_str), Some("total_requests"));
        assert_eq!(stats.keys().next_back().map(String::as_str), Some("output_tps"));
        assert_eq!(stats_number(&stats, "num_tokens_output-average"), Some(20.0));
        assert_eq!(stats["num_tokens_output-average"], 20);
        assert_eq!(stats["total_input_tokens"], 120.0);
        let first = stats_datetime(&stats, "first_request_time").unwrap();
        assert_eq!(first.to_rfc3339(), "2026-11-29T03:57:43+00:00");
        let info = run_info_from_stats(&stats).unwrap();
        assert_eq!(info.run_name.as_deref(), Some("sample-openai"));
        // Writing adds only the version, after LLMeter's keys. The text matches except in the last digit of
        // two floats: serde_json's default float parser may be one ulp off (its `float_roundtrip` feature
        // fixes that), so the values are compared to 1e-15 instead.
        let written = write_stats(&stats);
        assert!(written.ends_with(",\n    \"tokenmeter_format_version\": 1\n}"));
        let again = read_stats(&written).unwrap();
        assert_eq!(again.len(), stats.len() + 1);
        for ((key, a), (key_again, b)) in stats.iter().zip(&again) {
            assert_eq!(key, key_again);
            match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => assert!((x - y).abs() <= 1e-15 * x.abs(), "{key}: {x} vs {y}"),
                _ => assert_eq!(a, b, "{key}"),
            }
            // Integers stay integers and floats floats (`20` against `20.0`).
            assert_eq!(a.is_f64(), b.is_f64(), "{key}");
        }
    }

    #[test]
    fn non_objects_and_nan_are_handled() {
        let err = read_stats("[1]").unwrap_err().to_string();
        assert_eq!(err, "stats.json: expected a JSON object, found an array");
        let stats = read_stats(r#"{"cost_total": NaN}"#).unwrap();
        assert_eq!(stats["cost_total"], Value::Null);
    }
}
