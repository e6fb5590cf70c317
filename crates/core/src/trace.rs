//! Trace replay: a recorded workload (Mooncake's JSONL, as vLLM's and SGLang's benchmarks replay it) sent again
//! at its own times.
//!
//! Each line is `{"timestamp": ms, "input_length": n, "output_length": m, "hash_ids": [...]}`. The prompt of a row
//! is synthesised with exactly `input_length` tokens (words from the generated-prompt vocabulary, which mock-llm,
//! LLMeter's `DummyTokenizer`, `cl100k_base` and `o200k_base` all count one token each): hash id `h` at position
//! `k` stands for tokens `k × 512 .. (k + 1) × 512`, written from `h` alone, so rows sharing leading hash ids share
//! that prefix text exactly, as the trace's requests shared a KV-cache prefix. Tokens past the hash ids are unique
//! to the row. The schedule is each row's timestamp after the first, divided by a speed factor
//! ([`Trace::schedule`]); the scheduler replays it as an open loop ([`crate::plan::Arrival::Trace`]).
//!
//! A line that cannot be used is named by its number and skipped; nothing else is lost.

use std::time::Duration;

use serde_json::Value;

use crate::dataset::DatasetRow;
use crate::payload::generated_prompt;
use crate::plan::Schedule;
use crate::rng::mix;

/// Tokens a hash id stands for (Mooncake's block size).
pub const BLOCK_TOKENS: u32 = 512;
/// The most rows a trace may hold.
pub const MAX_ROWS: usize = 200_000;
/// The most input tokens one row may ask for.
pub const MAX_ROW_TOKENS: u32 = 1_000_000;
/// The most input tokens a whole trace may ask for: its prompts are all held in memory (about 7 bytes a token).
pub const MAX_TOTAL_TOKENS: u64 = 20_000_000;
/// The slowest and fastest replay, as a factor of the trace's own speed.
pub const SPEED_RANGE: (f64, f64) = (0.01, 100.0);

/// One request of a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceRow {
    /// When it was sent, in ms from the trace's own origin.
    pub timestamp_ms: f64,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// The 512-token blocks its prompt starts with; equal ids are equal text.
    pub hash_ids: Vec<u64>,
}

/// A trace: its usable rows in time order, and the lines skipped with why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    pub rows: Vec<TraceRow>,
    pub skipped: Vec<String>,
}

impl Trace {
    /// Reads a Mooncake-style JSONL trace. Rows are put in time order (a stable sort: equal times keep the file's
    /// order).
    pub fn parse(text: &str) -> Result<Trace, String> {
        let mut trace = Trace::default();
        let mut total: u64 = 0;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim().trim_start_matches('\u{feff}');
            if line.is_empty() {
                continue;
            }
            let row = serde_json::from_str::<Value>(line)
                .map_err(|e| format!("not JSON: {e}"))
                .and_then(|v| row_of(&v));
            match row {
                Ok(row) => {
                    total += u64::from(row.input_tokens);
                    trace.rows.push(row);
                }
                Err(why) => trace.skipped.push(format!("line {}: {why}", i + 1)),
            }
        }
        if trace.rows.is_empty() {
            let why = trace.skipped.first().map_or(String::new(), |s| format!(" ({s})"));
            return Err(format!("no usable request in the trace{why}"));
        }
        if trace.rows.len() > MAX_ROWS {
            return Err(format!("{} requests: at most {MAX_ROWS}", trace.rows.len()));
        }
        if total > MAX_TOTAL_TOKENS {
            return Err(format!(
                "{total} input tokens in all: at most {MAX_TOTAL_TOKENS}, since every prompt is held in memory; \
                 replay part of the trace"
            ));
        }
        trace
            .rows
            .sort_by(|a, b| a.timestamp_ms.total_cmp(&b.timestamp_ms));
        Ok(trace)
    }

    /// When each row is sent after the run's start: its timestamp after the first row's, divided by `speed`
    /// (2 replays twice as fast). Payload `i` is row `i`.
    pub fn schedule(&self, speed: f64) -> Schedule {
        let origin = self.rows.first().map_or(0.0, |r| r.timestamp_ms);
        Schedule::new(
            self.rows
                .iter()
                .map(|r| Duration::from_secs_f64((r.timestamp_ms - origin).max(0.0) / 1e3 / speed)),
        )
    }

    /// Each row as a prompt of exactly its input length and its output length as the limit, in row order. `seed`
    /// is the run's: the same seed writes the same text.
    pub fn prompts(&self, seed: u64) -> Vec<DatasetRow> {
        self.rows
            .iter()
            .enumerate()
            .map(|(i, row)| DatasetRow {
                prompt: row.prompt(seed, i as u64),
                output_tokens: Some(row.output_tokens),
            })
            .collect()
    }

    /// The trace's length in time, at its own speed.
    pub fn span(&self) -> Duration {
        self.schedule(1.0).span()
    }

    /// Distinct hash ids over all rows (how much prefix the trace shares).
    pub fn distinct_blocks(&self) -> usize {
        let mut ids: Vec<u64> = self
            .rows
            .iter()
            .flat_map(|r| r.hash_ids.iter().copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }
}

impl TraceRow {
    /// The prompt: the hash ids' blocks, then text unique to row `index`, cut at exactly `input_tokens` words.
    fn prompt(&self, seed: u64, index: u64) -> String {
        let mut words: Vec<String> = Vec::new();
        let mut left = self.input_tokens;
        for &id in &self.hash_ids {
            if left == 0 {
                break;
            }
            let take = left.min(BLOCK_TOKENS);
            words.push(generated_prompt(take, block_seed(seed, id)));
            left -= take;
        }
        if left > 0 {
            words.push(generated_prompt(left, seed ^ mix(index ^ 0x7ace_0000_0000)));
        }
        words.join(" ")
    }
}

/// The seed of block `id`'s text: the first `k` words of a block are the same whatever `k`, so a row ending
/// inside a block still shares its start.
fn block_seed(seed: u64, id: u64) -> u64 {
    seed ^ mix(id.wrapping_add(1) ^ 0xb10c_0000_0000_0000)
}

fn row_of(value: &Value) -> Result<TraceRow, String> {
    let object = value.as_object().ok_or("not an object")?;
    let number = |key: &str| -> Result<f64, String> {
        object
            .get(key)
            .ok_or_else(|| format!("no {key:?}"))?
            .as_f64()
            .ok_or_else(|| format!("{key:?} is not a number"))
    };
    let count = |key: &str, max: u32| -> Result<u32, String> {
        let v = number(key)?;
        if v.fract() != 0.0 || !(1.0..=f64::from(max)).contains(&v) {
            return Err(format!(
                "{key:?} must be a whole number from 1 to {max} (got {v})"
            ));
        }
        Ok(v as u32)
    };
    let timestamp_ms = number("timestamp")?;
    if !(timestamp_ms.is_finite() && timestamp_ms >= 0.0) {
        return Err(format!(
            "\"timestamp\" must be ms at or after 0 (got {timestamp_ms})"
        ));
    }
    let hash_ids = match object.get("hash_ids") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(ids)) => ids
            .iter()
            .map(|id| {
                id.as_u64()
                    .ok_or_else(|| format!("hash id {id} is not a whole number"))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("\"hash_ids\" is not a list (got {other})")),
    };
    Ok(TraceRow {
        timestamp_ms,
        input_tokens: count("input_length", MAX_ROW_TOKENS)?,
        output_tokens: count("output_length", crate::input::MAX_OUTPUT_TOKENS)?,
        hash_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = r#"{"timestamp": 0, "input_length": 600, "output_length": 20, "hash_ids": [1, 2]}
{"timestamp": 250, "input_length": 700, "output_length": 30, "hash_ids": [1, 3]}

{"timestamp": 100, "input_length": 10, "output_length": 5}
not json
{"timestamp": 300, "input_length": 0, "output_length": 5}
{"timestamp": -1, "input_length": 3, "output_length": 5}
{"timestamp": 400, "input_length": 3, "output_length": 5, "hash_ids": "x"}
{"timestamp": 500, "output_length": 5}
"#;

    #[test]
    fn rows_are_read_in_time_order_and_bad_lines_named() {
        let trace = Trace::parse(TRACE).unwrap();
        let times: Vec<f64> = trace.rows.iter().map(|r| r.timestamp_ms).collect();
        assert_eq!(times, [0.0, 100.0, 250.0]);
        assert_eq!(trace.skipped.len(), 5, "{:?}", trace.skipped);
        assert!(
            trace.skipped[0].starts_with("line 5: not JSON"),
            "{:?}",
            trace.skipped
        );
        assert!(trace.skipped[1].contains("\"input_length\" must be a whole number from 1"));
        assert!(trace.skipped[2].contains("\"timestamp\" must be ms at or after 0"));
        assert!(trace.skipped[3].contains("\"hash_ids\" is not a list"));
        assert!(trace.skipped[4].starts_with("line 9: no \"input_length\""));
        assert!(Trace::parse("nothing\n")
            .unwrap_err()
            .contains("line 1: not JSON"));
    }

    #[test]
    fn prompts_have_exact_lengths_and_share_their_hash_blocks() {
        let trace = Trace::parse(TRACE).unwrap();
        let prompts = trace.prompts(7);
        let lengths: Vec<usize> = prompts
            .iter()
            .map(|r| r.prompt.split_whitespace().count())
            .collect();
        assert_eq!(lengths, [600, 10, 700]);
        assert_eq!(prompts[0].output_tokens, Some(20));
        let words = |i: usize| prompts[i].prompt.split(' ').collect::<Vec<_>>();
        let (a, c) = (words(0), words(2));
        // Block 1 is shared; blocks 2 and 3 differ.
        assert_eq!(a[..512], c[..512]);
        assert_ne!(a[512..600], c[512..600]);
        // The same seed writes the same text; another seed other text.
        assert_eq!(trace.prompts(7), prompts);
        assert_ne!(trace.prompts(8)[0].prompt, prompts[0].prompt);
        assert_eq!(trace.distinct_blocks(), 3);
    }

    #[test]
    fn a_block_cut_short_is_the_start_of_the_whole_block() {
        let row = |n| TraceRow {
            timestamp_ms: 0.0,
            input_tokens: n,
            output_tokens: 1,
            hash_ids: vec![9],
        };
        let (short, whole) = (row(100).prompt(1, 0), row(512).prompt(1, 1));
        assert!(
            whole.starts_with(&short),
            "a partial block is a prefix of the full one"
        );
    }

    #[test]
    fn the_schedule_is_relative_to_the_first_row_and_scaled_by_speed() {
        let trace = Trace::parse(
            "{\"timestamp\": 1000, \"input_length\": 1, \"output_length\": 1}\n\
             {\"timestamp\": 1500, \"input_length\": 1, \"output_length\": 1}\n",
        )
        .unwrap();
        let at = |s: &Schedule, i| s.get(i).unwrap();
        assert_eq!(at(&trace.schedule(1.0), 1), (Duration::from_millis(500), 1));
        assert_eq!(at(&trace.schedule(2.0), 1), (Duration::from_millis(250), 1));
        assert_eq!(at(&trace.schedule(0.5), 0), (Duration::ZERO, 0));
        assert_eq!(trace.span(), Duration::from_millis(500));
        let every = trace.schedule(1.0).every(1, 2);
        assert_eq!(every.len(), 1);
        assert_eq!(at(&every, 0), (Duration::from_millis(500), 1));
    }

    #[test]
    fn a_trace_too_big_to_hold_is_refused() {
        let line =
            format!("{{\"timestamp\": 0, \"input_length\": {MAX_ROW_TOKENS}, \"output_length\": 1}}\n");
        let err = Trace::parse(&line.repeat(21)).unwrap_err();
        assert!(err.contains("at most 20000000"), "{err}");
    }
}
