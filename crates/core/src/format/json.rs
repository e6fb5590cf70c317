//! JSON plumbing shared by the file readers and writers: Python-compatible output, tolerant parsing, field
//! access with typed errors, and date-times.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};
use serde_json::{Map, Value};

use crate::format::{FieldProblem, FormatError, Location};

/// Writes `value` as one line with Python's `json.dumps` separators (`", "` and `": "`), so our
/// `responses.jsonl` lines look like LLMeter's.
pub(crate) fn to_python_line(value: &impl Serialize) -> String {
    write_with(value, PythonCompact)
}

/// Writes `value` indented by four spaces, as Python's `json.dump(..., indent=4)` does.
pub(crate) fn to_pretty(value: &impl Serialize) -> String {
    write_with(value, PrettyFormatter::with_indent(b"    "))
}

fn write_with(value: &impl Serialize, formatter: impl Formatter) -> String {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    // Serialising into a Vec cannot fail for our wire types: every map key is a string and non-finite floats
    // become `null`.
    if value.serialize(&mut serializer).is_err() {
        return "null".to_owned();
    }
    // serde_json only ever writes UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// serde_json's compact output with Python's default separators.
struct PythonCompact;

impl Formatter for PythonCompact {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

/// Parses JSON text. Python's `json.dumps` writes `NaN`, `Infinity` and `-Infinity` for non-finite floats
/// (`allow_nan=True` is its default), which is not JSON; such tokens outside strings are read as `null`,
/// matching LLMeter's statistics, which drop NaN.
pub(crate) fn parse_json(text: &str) -> Result<Value, serde_json::Error> {
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(err) if text.contains("NaN") || text.contains("Infinity") => {
            serde_json::from_str(&replace_non_finite(text)).map_err(|_| err)
        }
        Err(err) => Err(err),
    }
}

/// `text` with Python's non-finite float tokens outside strings replaced by `null`.
fn replace_non_finite(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut in_string = false;
    while let Some(c) = rest.chars().next() {
        if in_string {
            match c {
                '\\' => {
                    // Copy the escape and the escaped character together.
                    let len = rest.chars().take(2).map(char::len_utf8).sum();
                    out.push_str(&rest[..len]);
                    rest = &rest[len..];
                    continue;
                }
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if let Some(token) = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t))
        {
            out.push_str("null");
            rest = &rest[token.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The name of a JSON value's type, for messages.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A short description of `value` for messages: its type and, for scalars, the value (cut to 40 characters).
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Array(_) | Value::Object(_) | Value::Null => type_name(value).to_owned(),
        _ => {
            let text = value.to_string();
            let short: String = text.chars().take(40).collect();
            let ellipsis = if short.len() < text.len() { "…" } else { "" };
            format!("{} {short}{ellipsis}", type_name(value))
        }
    }
}

/// Parses `text` as one JSON object.
pub(crate) fn parse_object(text: &str, at: Location) -> Result<Map<String, Value>, FormatError> {
    match parse_json(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(FormatError::NotAnObject {
            at,
            found: type_name(&other),
        }),
        Err(source) => Err(FormatError::Json { at, source }),
    }
}

/// Typed access to the fields of one JSON object, each error naming the file, line and field.
pub(crate) struct Fields<'a> {
    pub map: &'a Map<String, Value>,
    pub at: Location,
    /// Prefix for nested objects' field names, e.g. `timing_ns.`.
    pub prefix: &'static str,
}

impl<'a> Fields<'a> {
    pub fn new(map: &'a Map<String, Value>, at: Location) -> Fields<'a> {
        Fields { map, at, prefix: "" }
    }

    pub fn error(&self, key: &str, problem: FieldProblem) -> FormatError {
        FormatError::field(self.at, format!("{}{key}", self.prefix), problem)
    }

    fn wrong_type(&self, key: &str, expected: &'static str, value: &Value) -> FormatError {
        self.error(
            key,
            FieldProblem::WrongType {
                expected,
                found: describe(value),
            },
        )
    }

    /// The field's value, or `None` when absent or `null` (LLMeter writes `null` for unknown values).
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn string(&self, key: &str) -> Result<Option<&'a str>, FormatError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong_type(key, "a string", other)),
        }
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>, FormatError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong_type(key, "a boolean", other)),
        }
    }

    pub fn object(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, FormatError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(other) => Err(self.wrong_type(key, "an object", other)),
        }
    }

    /// A duration in seconds: a finite number ≥ 0 that fits the nanosecond clock.
    pub fn seconds(&self, key: &str) -> Result<Option<f64>, FormatError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let Some(secs) = value.as_f64() else {
            return Err(self.wrong_type(key, "seconds (a number)", value));
        };
        if secs < 0.0 {
            return Err(self.error(
                key,
                FieldProblem::Negative {
                    value: value.to_string(),
                },
            ));
        }
        // The nanosecond clock holds about 584 years.
        if secs * 1e9 >= u64::MAX as f64 {
            let problem = FieldProblem::OutOfRange {
                value: value.to_string(),
                expected: "seconds",
            };
            return Err(self.error(key, problem));
        }
        Ok(Some(secs))
    }

    /// A count: an integer ≥ 0 (a whole float such as `6.0` is accepted, as Python sums write them).
    pub fn count(&self, key: &str) -> Result<Option<u64>, FormatError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        self.integer(key, value, "a count", u64::MAX).map(Some)
    }

    /// An integer in `0..=max`.
    pub fn integer(
        &self,
        key: &str,
        value: &Value,
        expected: &'static str,
        max: u64,
    ) -> Result<u64, FormatError> {
        let Value::Number(n) = value else {
            return Err(self.wrong_type(key, expected, value));
        };
        let out_of_range = || {
            self.error(
                key,
                FieldProblem::OutOfRange {
                    value: n.to_string(),
                    expected,
                },
            )
        };
        if let Some(u) = n.as_u64() {
            return if u <= max { Ok(u) } else { Err(out_of_range()) };
        }
        if n.as_i64().is_some_and(|i| i < 0) || n.as_f64().is_some_and(|f| f < 0.0) {
            return Err(self.error(key, FieldProblem::Negative { value: n.to_string() }));
        }
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f <= max as f64 && f < u64::MAX as f64 => Ok(f as u64),
            _ => Err(out_of_range()),
        }
    }

    /// A signed integer (nanosecond offsets).
    pub fn signed(&self, key: &str, value: &Value) -> Result<i64, FormatError> {
        match value {
            Value::Number(n) => n.as_i64().ok_or_else(|| {
                self.error(
                    key,
                    FieldProblem::OutOfRange {
                        value: n.to_string(),
                        expected: "integer nanoseconds",
                    },
                )
            }),
            other => Err(self.wrong_type(key, "integer nanoseconds", other)),
        }
    }

    pub fn datetime(&self, key: &str) -> Result<Option<DateTime<Utc>>, FormatError> {
        match self.string(key)? {
            None => Ok(None),
            Some(text) => parse_datetime(text).map(Some).ok_or_else(|| {
                self.error(
                    key,
                    FieldProblem::BadDateTime {
                        value: text.to_owned(),
                    },
                )
            }),
        }
    }
}

/// An ISO 8601 UTC date-time with microseconds and `Z`, e.g. `2026-11-29T03:57:43.123456Z`.
///
/// LLMeter writes whole seconds (`isoformat(timespec="seconds")`), which makes the send-window rates of a saved
/// run unrecomputable; we keep the sub-second part. Microseconds, not nanoseconds: Python's `datetime` holds
/// microseconds, and Python 3.10's `fromisoformat` (LLMeter supports 3.10) accepts only 3 or 6 fraction digits.
pub fn format_datetime(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Reads the date-times LLMeter and Python write: `Z` or a `±hh:mm` offset, with or without fractional
/// seconds, `T` or a space between date and time (`str(datetime)`), or no offset at all (a naive datetime, read
/// as UTC).
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .into_iter()
        .find_map(|layout| NaiveDateTime::parse_from_str(text, layout).ok())
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn python_separators_and_indent() {
        let value = serde_json::json!({"a": [1, 2.5], "b": {"c": null}, "d": []});
        assert_eq!(
            to_python_line(&value),
            r#"{"a": [1, 2.5], "b": {"c": null}, "d": []}"#
        );
        assert_eq!(
            to_pretty(&value),
            "{\n    \"a\": [\n        1,\n        2.5\n    ],\n    \"b\": {\n        \"c\": null\n    },\n    \"d\": []\n}"
        );
    }

    #[test]
    fn python_non_finite_tokens_read_as_null_outside_strings() {
        let text = r#"{"a": NaN, "b": -Infinity, "c": "NaN \" Infinity", "d": [Infinity]}"#;
        let value = parse_json(text).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"a": null, "b": null, "c": "NaN \" Infinity", "d": [null]})
        );
        assert!(parse_json(r#"{"a": NaNa}"#).is_err());
    }

    #[test]
    fn datetimes_in_every_shape_python_writes() {
        let whole = Utc.with_ymd_and_hms(2026, 11, 29, 3, 57, 43).unwrap();
        for text in [
            "2026-11-29T03:57:43Z",
            "2026-11-29T03:57:43+00:00",
            "2026-11-29T03:57:43",
            "2026-11-29 03:57:43",
        ] {
            assert_eq!(parse_datetime(text), Some(whole), "{text}");
        }
        let fine = whole + chrono::Duration::microseconds(123_456);
        assert_eq!(parse_datetime("2026-11-29T03:57:43.123456Z"), Some(fine));
        assert_eq!(parse_datetime("2026-11-29 03:57:43.123456+00:00"), Some(fine));
        assert_eq!(parse_datetime("2026-11-29T04:57:43.123456+01:00"), Some(fine));
        assert_eq!(format_datetime(fine), "2026-11-29T03:57:43.123456Z");
        assert_eq!(format_datetime(whole), "2026-11-29T03:57:43.000000Z");
        assert_eq!(parse_datetime("yesterday"), None);
    }
}
