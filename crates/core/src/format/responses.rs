//! `responses.jsonl` (LLMeter's `InvocationResponse` lines) and `tokenmeter_responses.jsonl` (our extras, line
//! for line) ⇄ [`RequestRecord`].
//!
//! # `responses.jsonl`
//!
//! One JSON object per line with LLMeter's keys in its order (llmeter-reference.md §2.1), written with Python's
//! separators. Values are derived through [`crate::metrics`]:
//! `time_to_first_token` is [`metrics::time_to_first_token`] (first output of any kind, reasoning included),
//! `time_to_last_token` and `time_per_output_token` likewise; `error` is the message (`null` on success);
//! `request_time` is ISO 8601 UTC with **microseconds** and `Z` (LLMeter keeps whole seconds, see
//! [`crate::format::format_datetime`]). `input_payload` is written back exactly as read, so
//! `{"__llmeter_bytes__": base64}` markers survive.
//!
//! # `tokenmeter_responses.jsonl`
//!
//! Line *i* belongs to line *i* of `responses.jsonl` and repeats its `id`:
//!
//! ```json
//! {"tokenmeter_format_version": 1, "id": "chatcmpl-1", "error_kind": null, "http_status": 200,
//!  "time_to_first_visible_token": 0.31, "schedule_lag": 0.0004, "queued_time": null,
//!  "server_latency_first_byte": null, "server_latency_total": null, "warmup": false,
//!  "input_tokens_estimated": false, "output_tokens_estimated": false, "finish_reason": "stop",
//!  "timing_ns": {"dispatched_at": 1250000000, "scheduled": -400000, "first_byte": 250000000,
//!                "first_token": 300000000, "first_visible": 310000000, "last_token": 700000000,
//!                "ended": 705000000, "chunks": [300000000, 310000000, 500000000, 700000000]}}
//! ```
//!
//! Durations are seconds, like LLMeter's. `timing_ns` restores [`RequestTiming`] exactly: `dispatched_at` is
//! nanoseconds since the run's origin, every other instant is signed nanoseconds relative to it (`chunks` are the
//! raw `token_chunk_times`, whose gaps are the inter-token latencies). Integers, because seconds as floats would
//! only round-trip to the nanosecond for runs shorter than a few weeks.
//!
//! # Reading
//!
//! Our lines restore the record exactly (except `request_time`, kept to the microsecond). LLMeter's lines carry
//! only durations, so the record is placed on a clock starting at the request: `dispatched_at` and
//! `scheduled_at` at [`Timestamp::ZERO`], `first_token_at` and `first_visible_at` at TTFT, `last_token_at` at
//! TTLT, `ended_at` at TTLT (else TTFT, else zero); durations are rounded to the nanosecond (≤ 0.5 ns off).
//! The extras are also accepted inline in `responses.jsonl`. Blank lines are skipped; a last line cut off
//! mid-write is skipped with a warning. `time_per_output_token` is recomputed with [`metrics::tpot_from`]'s rule.

use std::borrow::Cow;
use std::time::Duration;

use base64::Engine;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::format::json::{describe, parse_json, to_python_line, type_name, Fields};
use crate::format::{
    format_datetime, FieldProblem, FormatError, FormatWarning, Location, RunFile, FORMAT_VERSION,
};
use crate::metrics;
use crate::record::{
    ErrorKind, EstimatedTokens, RequestError, RequestRecord, RequestTiming, ServerLatency, TokenCounts, Turn,
};
use crate::secret::{has_credentials, scrub_credentials};
use crate::time::Timestamp;
use crate::tokenizer::TokenizerKind;

/// The only key of LLMeter's marker object for bytes inside a payload.
pub const BYTES_MARKER_KEY: &str = "__llmeter_bytes__";

/// Records read from `responses.jsonl` (and `tokenmeter_responses.jsonl`), with what was tolerated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedResponses {
    pub records: Vec<RequestRecord>,
    pub warnings: Vec<FormatWarning>,
    /// How many `tokenmeter_responses.jsonl` objects were read (0 without that file).
    pub extras: usize,
}

/// One `responses.jsonl` line (without the newline): LLMeter's 14 keys in its order.
pub fn write_response_line(record: &RequestRecord) -> String {
    to_python_line(&ResponseLine::new(record))
}

/// One `tokenmeter_responses.jsonl` line (without the newline) for `record`.
pub fn write_extras_line(record: &RequestRecord) -> String {
    to_python_line(&ExtrasLine::new(record))
}

/// `responses.jsonl` for `records`: one line each, every line ending in a newline (as LLMeter appends them).
pub fn write_responses(records: &[RequestRecord]) -> String {
    records.iter().map(|r| write_response_line(r) + "\n").collect()
}

/// `tokenmeter_responses.jsonl` for `records`, line for line with [`write_responses`].
pub fn write_extras(records: &[RequestRecord]) -> String {
    records.iter().map(|r| write_extras_line(r) + "\n").collect()
}

/// Reads `responses.jsonl` and, when present, `tokenmeter_responses.jsonl`.
pub fn read_responses(responses: &str, extras: Option<&str>) -> Result<ParsedResponses, FormatError> {
    read_responses_after(responses, extras, (0, 0))
}

/// [`read_responses`] of a part of the two files that starts after `lines_before` lines of each (`responses.jsonl`,
/// `tokenmeter_responses.jsonl`), so errors and warnings name the files' own line numbers.
pub fn read_responses_after(
    responses: &str,
    extras: Option<&str>,
    lines_before: (usize, usize),
) -> Result<ParsedResponses, FormatError> {
    let mut out = ParsedResponses::default();
    let mut response_lines = JsonLines::new(responses, RunFile::Responses);
    response_lines.line_no = lines_before.0;
    let mut extras_lines = extras.map(|text| {
        let mut lines = JsonLines::new(text, RunFile::TokenmeterResponses);
        lines.line_no = lines_before.1;
        lines
    });
    let mut n_extras = 0;
    while let Some(line) = response_lines.next_object() {
        let (at, map) = line?;
        let extra = match extras_lines.as_mut().map(JsonLines::next_object) {
            Some(Some(extra)) => Some(extra?),
            _ => None,
        };
        n_extras += usize::from(extra.is_some());
        let record = match &extra {
            Some((extra_at, extra_map)) => {
                read_record(&map, at, Some((extra_map, *extra_at)), &mut out.warnings)?
            }
            // Without a separate file, extras (if any) are inline.
            None => read_record(&map, at, Some((&map, at)), &mut out.warnings)?,
        };
        out.records.push(record);
    }
    if let Some(lines) = extras_lines.as_mut() {
        while let Some(line) = lines.next_object() {
            line?;
            n_extras += 1;
        }
    }
    out.warnings.extend(
        response_lines
            .truncated
            .map(|at| FormatWarning::TruncatedLastLine { at }),
    );
    out.extras = n_extras;
    if let Some(lines) = extras_lines {
        out.warnings
            .extend(lines.truncated.map(|at| FormatWarning::TruncatedLastLine { at }));
        if n_extras != out.records.len() {
            out.warnings.push(FormatWarning::ExtrasCount {
                responses: out.records.len(),
                extras: n_extras,
            });
        }
    }
    Ok(out)
}

/// The kind of an error read from a file without Tokenmeter's `error_kind`: LLMeter stores only
/// `str(exception)`. The first matching rule wins; matching ignores case:
///
/// | the message contains | kind |
/// |---|---|
/// | `throttl`, `429`, `too many requests`, `rate limit`, `ratelimit`, `rate_limit` | [`ErrorKind::Throttled`] |
/// | `timeout`, `timed out` | [`ErrorKind::Timeout`] |
/// | `cancelled`, `canceled`, `interrupted` | [`ErrorKind::Cancelled`] |
/// | `connection`, `connect`, `network`, `unreachable`, `name resolution`, `dns` | [`ErrorKind::Network`] |
/// | `error code: `, `status code`, `http `, `an error occurred (` (botocore's `ClientError`) | [`ErrorKind::HttpStatus`] |
/// | `stream`, `incomplete`, `eof` | [`ErrorKind::Stream`] |
/// | `json`, `decode`, `parse` | [`ErrorKind::Decode`] |
/// | anything else, e.g. LLMeter's default `invocation failed` | [`ErrorKind::Provider`] |
pub fn infer_error_kind(message: &str) -> ErrorKind {
    const RULES: [(&[&str], ErrorKind); 7] = [
        (
            &[
                "throttl",
                "429",
                "too many requests",
                "rate limit",
                "ratelimit",
                "rate_limit",
            ],
            ErrorKind::Throttled,
        ),
        (&["timeout", "timed out"], ErrorKind::Timeout),
        (&["cancelled", "canceled", "interrupted"], ErrorKind::Cancelled),
        (
            &[
                "connection",
                "connect",
                "network",
                "unreachable",
                "name resolution",
                "dns",
            ],
            ErrorKind::Network,
        ),
        (
            &["error code: ", "status code", "http ", "an error occurred ("],
            ErrorKind::HttpStatus,
        ),
        (&["stream", "incomplete", "eof"], ErrorKind::Stream),
        (&["json", "decode", "parse"], ErrorKind::Decode),
    ];
    let message = message.to_lowercase();
    RULES
        .iter()
        .find(|(needles, _)| needles.iter().any(|n| message.contains(n)))
        .map_or(ErrorKind::Provider, |&(_, kind)| kind)
}

/// The bytes of a `{"__llmeter_bytes__": base64}` marker: `None` when `value` is not a marker (an object with
/// exactly that one key, LLMeter's rule), `Some(Err(..))` when it is one but its value is not base64.
pub fn decode_bytes_marker(value: &Value) -> Option<Result<Vec<u8>, FieldProblem>> {
    let Value::Object(map) = value else { return None };
    if map.len() != 1 {
        return None;
    }
    let encoded = map.get(BYTES_MARKER_KEY)?;
    let Value::String(text) = encoded else {
        let reason = format!("expected a base64 string, found {}", describe(encoded));
        return Some(Err(FieldProblem::BadBytesMarker { reason }));
    };
    // Python's `base64.b64encode`: standard alphabet, padded.
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| FieldProblem::BadBytesMarker {
                reason: e.to_string(),
            }),
    )
}

/// The marker LLMeter writes for `bytes` inside a payload.
pub fn bytes_marker(bytes: &[u8]) -> Value {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    Value::Object(Map::from_iter([(
        BYTES_MARKER_KEY.to_owned(),
        Value::String(encoded),
    )]))
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

#[derive(Serialize)]
struct ResponseLine<'a> {
    response_text: Option<&'a str>,
    input_payload: Option<Cow<'a, Value>>,
    id: Option<&'a str>,
    input_prompt: Option<&'a str>,
    time_to_first_token: Option<f64>,
    time_to_last_token: Option<f64>,
    num_tokens_input: Option<u64>,
    num_tokens_output: Option<u64>,
    num_tokens_input_cached: Option<u64>,
    num_tokens_output_reasoning: Option<u64>,
    time_per_output_token: Option<f64>,
    error: Option<&'a str>,
    retries: Option<u32>,
    request_time: Option<String>,
}

impl<'a> ResponseLine<'a> {
    fn new(r: &'a RequestRecord) -> Self {
        ResponseLine {
            response_text: r.response_text.as_deref(),
            // A payload never carries a credential into a file (a key someone put in the body).
            input_payload: r.input_payload.as_deref().map(|p| match has_credentials(p) {
                false => Cow::Borrowed(p),
                true => {
                    let mut clean = p.clone();
                    scrub_credentials(&mut clean);
                    Cow::Owned(clean)
                }
            }),
            // An empty id was `null` in the file it came from.
            id: Some(r.id.as_str()).filter(|id| !id.is_empty()),
            input_prompt: r.input_prompt.as_deref(),
            time_to_first_token: metrics::time_to_first_token(r),
            time_to_last_token: metrics::time_to_last_token(r),
            num_tokens_input: r.tokens.input,
            num_tokens_output: r.tokens.output,
            num_tokens_input_cached: r.tokens.input_cached,
            num_tokens_output_reasoning: r.tokens.output_reasoning,
            time_per_output_token: metrics::time_per_output_token(r),
            error: r.error.as_ref().map(|e| e.message.as_str()),
            retries: r.retries,
            request_time: r.request_time.map(format_datetime),
        }
    }
}

#[derive(Serialize)]
struct ExtrasLine<'a> {
    tokenmeter_format_version: u64,
    id: Option<&'a str>,
    error_kind: Option<&'static str>,
    http_status: Option<u16>,
    time_to_first_visible_token: Option<f64>,
    schedule_lag: f64,
    queued_time: Option<f64>,
    server_latency_first_byte: Option<f64>,
    server_latency_total: Option<f64>,
    warmup: bool,
    /// Which token counts are word-count estimates, not the provider's.
    input_tokens_estimated: bool,
    output_tokens_estimated: bool,
    finish_reason: Option<&'a str>,
    /// Multi-turn runs: the conversation (its first request's id) and the turn (from 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    turn: Option<u32>,
    /// The tokenizer that counted the tokens marked estimated (absent: whitespace words).
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens_counted_by: Option<&'static str>,
    timing_ns: TimingNs,
}

impl<'a> ExtrasLine<'a> {
    fn new(r: &'a RequestRecord) -> Self {
        ExtrasLine {
            tokenmeter_format_version: FORMAT_VERSION,
            id: Some(r.id.as_str()).filter(|id| !id.is_empty()),
            error_kind: r.error.as_ref().map(|e| e.kind.as_str()),
            http_status: r.http_status,
            time_to_first_visible_token: metrics::time_to_first_visible_token(r),
            schedule_lag: metrics::schedule_lag(r),
            queued_time: r.queued.map(|d| d.as_secs_f64()),
            server_latency_first_byte: r.server_latency.first_byte.map(|d| d.as_secs_f64()),
            server_latency_total: r.server_latency.total.map(|d| d.as_secs_f64()),
            warmup: r.warmup,
            input_tokens_estimated: r.tokens_estimated.input,
            output_tokens_estimated: r.tokens_estimated.output,
            finish_reason: r.finish_reason.as_deref(),
            conversation: r.turn.map(|t| t.conversation),
            turn: r.turn.map(|t| t.index),
            tokens_counted_by: r.tokens_counted_by.map(TokenizerKind::as_str),
            timing_ns: TimingNs::new(&r.timing),
        }
    }
}

#[derive(Serialize)]
struct TimingNs {
    dispatched_at: u64,
    scheduled: i64,
    first_byte: Option<i64>,
    first_token: Option<i64>,
    first_visible: Option<i64>,
    last_token: Option<i64>,
    ended: i64,
    chunks: Vec<i64>,
}

impl TimingNs {
    fn new(t: &RequestTiming) -> Self {
        let origin = t.dispatched_at.as_nanos();
        let offset = |at: Timestamp| {
            let ns = i128::from(at.as_nanos()) - i128::from(origin);
            ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
        };
        TimingNs {
            dispatched_at: origin,
            scheduled: offset(t.scheduled_at),
            first_byte: t.first_byte_at.map(offset),
            first_token: t.first_token_at.map(offset),
            first_visible: t.first_visible_at.map(offset),
            last_token: t.last_token_at.map(offset),
            ended: offset(t.ended_at),
            chunks: t.token_chunk_times.iter().copied().map(offset).collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

/// One JSON Lines line's object and where it is.
type LocatedObject = (Location, Map<String, Value>);

/// The JSON objects of a JSON Lines text, with 1-based line numbers.
struct JsonLines<'a> {
    rest: &'a str,
    line_no: usize,
    file: RunFile,
    /// Set when the last line was cut off mid-write and skipped.
    truncated: Option<Location>,
}

impl<'a> JsonLines<'a> {
    fn new(text: &'a str, file: RunFile) -> Self {
        JsonLines {
            rest: text,
            line_no: 0,
            file,
            truncated: None,
        }
    }

    fn next_object(&mut self) -> Option<Result<LocatedObject, FormatError>> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let (line, ended) = match self.rest.find('\n') {
                Some(i) => (&self.rest[..i], true),
                None => (self.rest, false),
            };
            self.rest = if ended { &self.rest[line.len() + 1..] } else { "" };
            self.line_no += 1;
            if line.trim().is_empty() {
                continue;
            }
            let at = Location::line(self.file, self.line_no);
            return match parse_json(line) {
                Ok(Value::Object(map)) => Some(Ok((at, map))),
                Ok(other) => Some(Err(FormatError::NotAnObject {
                    at,
                    found: type_name(&other),
                })),
                // A final line without its newline whose JSON stops early was cut off mid-write.
                Err(e) if !ended && e.is_eof() => {
                    self.truncated = Some(at);
                    None
                }
                Err(source) => Some(Err(FormatError::Json { at, source })),
            };
        }
    }
}

/// One record from LLMeter's keys in `line`, and Tokenmeter's from `extras` (a line of
/// `tokenmeter_responses.jsonl`, or `line` itself).
fn read_record(
    line: &Map<String, Value>,
    at: Location,
    extras: Option<(&Map<String, Value>, Location)>,
    warnings: &mut Vec<FormatWarning>,
) -> Result<RequestRecord, FormatError> {
    let f = Fields::new(line, at);
    // The one argument LLMeter's `InvocationResponse` cannot do without.
    if !line.contains_key("response_text") {
        return Err(f.error("response_text", FieldProblem::Missing));
    }
    let id = f.string("id")?.unwrap_or_default().to_owned();
    let input_payload = f.get("input_payload").cloned();
    if let Some(payload) = &input_payload {
        check_bytes_markers(payload).map_err(|problem| f.error("input_payload", problem))?;
    }
    let input_prompt = match f.get("input_prompt") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        // LLMeter allows a dict here; keep it readable as compact JSON.
        Some(other) => Some(other.to_string()),
    };
    let ttft = f.seconds("time_to_first_token")?;
    let ttlt = f.seconds("time_to_last_token")?;
    let tokens = TokenCounts {
        input: f.count("num_tokens_input")?,
        output: f.count("num_tokens_output")?,
        input_cached: f.count("num_tokens_input_cached")?,
        output_reasoning: f.count("num_tokens_output_reasoning")?,
    };
    let tpot_in_file = match f.get("time_per_output_token") {
        None => None,
        Some(value) => Some(value.as_f64().ok_or_else(|| {
            f.error(
                "time_per_output_token",
                FieldProblem::WrongType {
                    expected: "seconds (a number)",
                    found: describe(value),
                },
            )
        })?),
    };
    let message = f.string("error")?;
    let retries = match f.get("retries") {
        None => None,
        Some(value) => Some(f.integer("retries", value, "a retry count", u64::from(u32::MAX))? as u32),
    };
    let request_time = f.datetime("request_time")?;

    let mut record = RequestRecord {
        id,
        request_time,
        input_payload: input_payload.map(std::sync::Arc::new),
        input_prompt,
        response_text: f.string("response_text")?.map(str::to_owned),
        tokens,
        retries,
        ..Default::default()
    };
    let mut timing_restored = false;
    let mut error_kind = None;
    let mut first_visible = None;
    if let Some((map, extras_at)) = extras {
        let x = Fields::new(map, extras_at);
        if extras_at != at {
            check_same_id(&x, &record.id)?;
        }
        error_kind = x.string("error_kind")?.and_then(ErrorKind::parse);
        record.http_status = match x.get("http_status") {
            None => None,
            Some(value) => {
                Some(x.integer("http_status", value, "an HTTP status", u64::from(u16::MAX))? as u16)
            }
        };
        first_visible = x.seconds("time_to_first_visible_token")?;
        record.queued = x.seconds("queued_time")?.map(duration);
        record.server_latency = ServerLatency {
            first_byte: x.seconds("server_latency_first_byte")?.map(duration),
            total: x.seconds("server_latency_total")?.map(duration),
        };
        record.warmup = x.boolean("warmup")?.unwrap_or(false);
        record.tokens_estimated = EstimatedTokens {
            input: x.boolean("input_tokens_estimated")?.unwrap_or(false),
            output: x.boolean("output_tokens_estimated")?.unwrap_or(false),
        };
        record.finish_reason = x.string("finish_reason")?.map(str::to_owned);
        record.tokens_counted_by = x
            .string("tokens_counted_by")?
            .and_then(|name| name.parse::<TokenizerKind>().ok());
        record.turn = match (x.count("conversation")?, x.count("turn")?) {
            (Some(conversation), Some(index)) => Some(Turn {
                conversation,
                index: index.min(u64::from(u32::MAX)) as u32,
            }),
            _ => None,
        };
        if let Some(timing) = x.object("timing_ns")? {
            let t = Fields {
                map: timing,
                at: extras_at,
                prefix: "timing_ns.",
            };
            record.timing = read_timing(&t)?;
            timing_restored = true;
        }
    }
    if !timing_restored {
        record.timing = llmeter_timing(ttft, ttlt, first_visible);
    }
    record.error = message.map(|m| RequestError::new(error_kind.unwrap_or_else(|| infer_error_kind(m)), m));

    let recomputed = metrics::time_per_output_token(&record);
    let agree = match (tpot_in_file, recomputed) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        (a, b) => a.is_none() && b.is_none(),
    };
    if !agree {
        warnings.push(FormatWarning::TpotMismatch {
            at,
            in_file: tpot_in_file,
            recomputed,
        });
    }
    Ok(record)
}

/// A line of `tokenmeter_responses.jsonl` must describe the same response as its `responses.jsonl` line.
fn check_same_id(x: &Fields<'_>, id: &str) -> Result<(), FormatError> {
    let found = x.string("id")?.unwrap_or_default();
    if found == id {
        Ok(())
    } else {
        Err(x.error(
            "id",
            FieldProblem::Mismatch {
                expected: id.to_owned(),
                found: found.to_owned(),
            },
        ))
    }
}

/// LLMeter's durations placed on a clock that starts when the request was sent.
fn llmeter_timing(ttft: Option<f64>, ttlt: Option<f64>, first_visible: Option<f64>) -> RequestTiming {
    let at = Timestamp::from_secs_f64;
    RequestTiming {
        first_token_at: ttft.map(at),
        first_visible_at: first_visible.or(ttft).map(at),
        last_token_at: ttlt.map(at),
        ended_at: ttlt.or(ttft).map_or(Timestamp::ZERO, at),
        ..Default::default()
    }
}

/// The exact timing from a `timing_ns` object.
fn read_timing(t: &Fields<'_>) -> Result<RequestTiming, FormatError> {
    let Some(origin) = t.get("dispatched_at") else {
        return Err(t.error("dispatched_at", FieldProblem::Missing));
    };
    let origin = t.integer("dispatched_at", origin, "nanoseconds", u64::MAX)?;
    let instant = |key: &str, value: &Value| -> Result<Timestamp, FormatError> {
        let ns = i128::from(origin) + i128::from(t.signed(key, value)?);
        u64::try_from(ns).map(Timestamp::from_nanos).map_err(|_| {
            t.error(
                key,
                FieldProblem::OutOfRange {
                    value: value.to_string(),
                    expected: "an instant of the run",
                },
            )
        })
    };
    let optional = |key: &str| t.get(key).map(|v| instant(key, v)).transpose();
    let chunks = match t.get("chunks") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| instant("chunks", v))
            .collect::<Result<_, _>>()?,
        Some(other) => {
            let found = describe(other);
            return Err(t.error(
                "chunks",
                FieldProblem::WrongType {
                    expected: "an array of nanoseconds",
                    found,
                },
            ));
        }
    };
    Ok(RequestTiming {
        scheduled_at: optional("scheduled")?.unwrap_or(Timestamp::from_nanos(origin)),
        dispatched_at: Timestamp::from_nanos(origin),
        first_byte_at: optional("first_byte")?,
        first_token_at: optional("first_token")?,
        first_visible_at: optional("first_visible")?,
        last_token_at: optional("last_token")?,
        ended_at: optional("ended")?.unwrap_or(Timestamp::from_nanos(origin)),
        token_chunk_times: chunks,
    })
}

/// Seconds already checked to be finite, ≥ 0 and in range, rounded to the nanosecond.
fn duration(secs: f64) -> Duration {
    Duration::from_nanos((secs * 1e9).round() as u64)
}

/// Every `__llmeter_bytes__` marker inside `value` must hold base64.
fn check_bytes_markers(value: &Value) -> Result<(), FieldProblem> {
    if let Some(decoded) = decode_bytes_marker(value) {
        return decoded.map(drop);
    }
    match value {
        Value::Array(items) => items.iter().try_for_each(check_bytes_markers),
        Value::Object(map) => map.values().try_for_each(check_bytes_markers),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn ns(v: u64) -> Timestamp {
        Timestamp::from_nanos(v)
    }

    /// A streamed record with odd nanosecond instants, unicode text and a bytes marker.
    fn rich() -> RequestRecord {
        RequestRecord {
            id: "chatcmpl-ü1".into(),
            request_time: Some(
                Utc.with_ymd_and_hms(2026, 11, 29, 3, 57, 43).unwrap()
                    + chrono::Duration::microseconds(123_457),
            ),
            input_payload: Some(std::sync::Arc::new(
                json!({"messages": [{"role": "user", "content": "héllo 🌍"}], "image": bytes_marker(b"\xff\xd8\xff")}),
            )),
            input_prompt: Some("héllo 🌍".into()),
            response_text: Some("привет\n\"quoted\"".into()),
            timing: RequestTiming {
                scheduled_at: ns(1_000_000_001),
                dispatched_at: ns(1_000_400_003),
                first_byte_at: Some(ns(1_250_000_007)),
                first_token_at: Some(ns(1_300_000_011)),
                first_visible_at: Some(ns(1_340_000_013)),
                last_token_at: Some(ns(1_700_000_017)),
                ended_at: ns(1_705_000_019),
                token_chunk_times: vec![
                    ns(1_300_000_011),
                    ns(1_340_000_013),
                    ns(1_500_000_001),
                    ns(1_700_000_017),
                ],
            },
            tokens: TokenCounts {
                input: Some(6),
                output: Some(20),
                input_cached: Some(2),
                output_reasoning: Some(3),
            },
            tokens_estimated: EstimatedTokens {
                input: true,
                output: false,
            },
            finish_reason: Some("length".into()),
            retries: Some(1),
            http_status: Some(200),
            error: None,
            server_latency: ServerLatency {
                first_byte: Some(Duration::from_nanos(123_456_789)),
                total: None,
            },
            queued: Some(Duration::from_micros(1500)),
            warmup: true,
            turn: Some(Turn {
                conversation: 40,
                index: 3,
            }),
            tokens_counted_by: Some(TokenizerKind::O200kBase),
        }
    }

    fn round_trip(records: &[RequestRecord]) -> ParsedResponses {
        read_responses(&write_responses(records), Some(&write_extras(records))).unwrap()
    }

    #[test]
    fn our_lines_round_trip_exactly() {
        let mut failed = rich();
        failed.id = "x".into();
        failed.error = Some(RequestError::new(ErrorKind::Timeout, "gave up"));
        failed.timing.last_token_at = None;
        let records = vec![rich(), failed, RequestRecord::default()];
        let parsed = round_trip(&records);
        assert_eq!(parsed.records, records);
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    }

    #[test]
    fn response_line_has_llmeter_keys_in_order_and_python_separators() {
        let line = write_response_line(&rich());
        let map: Map<String, Value> = serde_json::from_str(&line).unwrap();
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "response_text",
                "input_payload",
                "id",
                "input_prompt",
                "time_to_first_token",
                "time_to_last_token",
                "num_tokens_input",
                "num_tokens_output",
                "num_tokens_input_cached",
                "num_tokens_output_reasoning",
                "time_per_output_token",
                "error",
                "retries",
                "request_time"
            ]
        );
        assert!(line.starts_with(r#"{"response_text": "привет\n\"quoted\"", "input_payload": {"#));
        assert_eq!(map["request_time"], "2026-11-29T03:57:43.123457Z");
        // TTFT counts the first token of any kind (reasoning included), from dispatch.
        assert_eq!(map["time_to_first_token"], 0.299_600_008);
        assert_eq!(map["error"], Value::Null);
        assert!(!line.contains('\n'));
    }

    #[test]
    fn inline_extras_are_read_too() {
        let record = rich();
        let mut map: Map<String, Value> = serde_json::from_str(&write_response_line(&record)).unwrap();
        let extras: Map<String, Value> = serde_json::from_str(&write_extras_line(&record)).unwrap();
        map.extend(extras);
        let parsed = read_responses(&Value::Object(map).to_string(), None).unwrap();
        assert_eq!(parsed.records, [record]);
    }

    #[test]
    fn error_kinds_are_inferred_from_llmeter_messages() {
        let cases = [
            (
                "An error occurred (ThrottlingException) when calling the ConverseStream operation",
                ErrorKind::Throttled,
            ),
            (
                "Error code: 429 - {'error': 'rate limited'}",
                ErrorKind::Throttled,
            ),
            ("Request timed out.", ErrorKind::Timeout),
            ("Connection error.", ErrorKind::Network),
            ("Error code: 500 - internal", ErrorKind::HttpStatus),
            (
                "An error occurred (ValidationException) when calling the Converse operation",
                ErrorKind::HttpStatus,
            ),
            ("Response stream ended early", ErrorKind::Stream),
            (
                "Expecting value: line 1 column 1 (char 0) while parsing JSON",
                ErrorKind::Decode,
            ),
            ("invocation failed", ErrorKind::Provider),
        ];
        for (message, kind) in cases {
            assert_eq!(infer_error_kind(message), kind, "{message}");
        }
    }

    #[test]
    fn bytes_markers_are_recognised_validated_and_kept() {
        assert_eq!(
            decode_bytes_marker(&bytes_marker(b"\x00\xff")),
            Some(Ok(vec![0, 255]))
        );
        assert_eq!(
            decode_bytes_marker(&json!({"__llmeter_bytes__": "AA==", "other": 1})),
            None
        );
        assert!(matches!(
            decode_bytes_marker(&json!({"__llmeter_bytes__": "!!"})),
            Some(Err(_))
        ));
        assert!(matches!(
            decode_bytes_marker(&json!({"__llmeter_bytes__": 5})),
            Some(Err(_))
        ));
        let bad = r#"{"response_text": null, "input_payload": {"a": [{"__llmeter_bytes__": "%%"}]}}"#;
        let err = read_responses(bad, None).unwrap_err().to_string();
        assert!(
            err.starts_with("responses.jsonl, line 1: field `input_payload`: invalid `__llmeter_bytes__`"),
            "{err}"
        );
    }

    #[test]
    fn blank_lines_are_skipped_and_a_cut_off_last_line_is_dropped() {
        let line = write_response_line(&rich());
        let text = format!("\n{line}\n\n{line}\n{}", &line[..line.len() / 2]);
        let parsed = read_responses(&text, None).unwrap();
        assert_eq!(parsed.records.len(), 2);
        let at = Location::line(RunFile::Responses, 5);
        assert_eq!(parsed.warnings, [FormatWarning::TruncatedLastLine { at }]);
        // Cut off but followed by a newline: it is not the last write, so it is an error.
        let err = read_responses(&format!("{}\n", &line[..line.len() / 2]), None).unwrap_err();
        assert!(
            matches!(
                err,
                FormatError::Json {
                    at: Location { line: Some(1), .. },
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn extras_must_name_the_same_response() {
        let a = rich();
        let mut b = rich();
        b.id = "other".into();
        let err = read_responses(&write_responses(&[a]), Some(&write_extras(&[b]))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tokenmeter_responses.jsonl, line 1: field `id`: does not match responses.jsonl: expected \"chatcmpl-ü1\", found \"other\""
        );
    }

    #[test]
    fn a_short_extras_file_leaves_llmeter_durations() {
        let records = vec![rich(), rich()];
        let parsed = read_responses(&write_responses(&records), Some(&write_extras(&records[..1]))).unwrap();
        assert_eq!(parsed.records[0], records[0]);
        // The second record keeps only what responses.jsonl says: durations from its own dispatch.
        let second = &parsed.records[1];
        assert_eq!(second.timing.dispatched_at, Timestamp::ZERO);
        assert_eq!(
            metrics::time_to_last_token(second),
            metrics::time_to_last_token(&records[1])
        );
        assert_eq!(
            parsed.warnings,
            [FormatWarning::ExtrasCount {
                responses: 2,
                extras: 1
            }]
        );
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            (
                r#"{"response_text": null, "time_to_first_token": "fast"}"#,
                "field `time_to_first_token`: expected seconds (a number), found a string \"fast\"",
            ),
            (
                r#"{"response_text": null, "time_to_last_token": -1.5}"#,
                "field `time_to_last_token`: must not be negative, found -1.5",
            ),
            (
                r#"{"response_text": null, "time_to_last_token": 1e300}"#,
                "field `time_to_last_token`: 1e+300 is out of range for seconds",
            ),
            (
                r#"{"response_text": null, "num_tokens_output": 2.5}"#,
                "field `num_tokens_output`: 2.5 is out of range for a count",
            ),
            (
                r#"{"response_text": null, "num_tokens_input": -3}"#,
                "field `num_tokens_input`: must not be negative, found -3",
            ),
            (
                r#"{"response_text": null, "num_tokens_input": 1000000000000000000000}"#,
                "field `num_tokens_input`: 1e+21 is out of range for a count",
            ),
            (
                r#"{"response_text": null, "retries": 4294967296}"#,
                "field `retries`: 4294967296 is out of range for a retry count",
            ),
            (
                r#"{"response_text": null, "request_time": "noon"}"#,
                "field `request_time`: not an ISO 8601 date-time: \"noon\"",
            ),
            (
                r#"{"response_text": 5}"#,
                "field `response_text`: expected a string, found a number 5",
            ),
            (r#"{"id": "a"}"#, "field `response_text`: missing"),
            (r#"[1, 2]"#, "expected a JSON object, found an array"),
            (
                r#"{"response_text": null, "timing_ns": {"dispatched_at": 5, "first_token": -6}}"#,
                "field `timing_ns.first_token`: -6 is out of range for an instant of the run",
            ),
            (
                r#"{"response_text": null, "timing_ns": {}}"#,
                "field `timing_ns.dispatched_at`: missing",
            ),
        ];
        for (line, expected) in cases {
            let err = read_responses(line, None).unwrap_err().to_string();
            assert_eq!(err, format!("responses.jsonl, line 1: {expected}"), "{line}");
        }
    }

    #[test]
    fn nan_and_ints_as_floats_are_tolerated() {
        let line = r#"{"response_text": "a", "time_to_first_token": NaN, "time_to_last_token": 0.5, "num_tokens_output": 20.0}"#;
        let parsed = read_responses(line, None).unwrap();
        let r = &parsed.records[0];
        assert_eq!(r.timing.first_token_at, None);
        assert_eq!(r.tokens.output, Some(20));
        assert_eq!(metrics::time_to_last_token(r), Some(0.5));
    }

    #[test]
    fn tpot_disagreement_warns_and_keeps_ours() {
        let line = r#"{"response_text": "a", "time_to_first_token": 0.1, "time_to_last_token": 0.5, "num_tokens_output": 5, "time_per_output_token": 0.2}"#;
        let parsed = read_responses(line, None).unwrap();
        let [FormatWarning::TpotMismatch {
            in_file, recomputed, ..
        }] = parsed.warnings.as_slice()
        else {
            panic!("{:?}", parsed.warnings)
        };
        assert_eq!(*in_file, Some(0.2));
        assert!((recomputed.unwrap() - 0.1).abs() < 1e-12);
    }
}
