//! Prompt datasets: the prompts people really send, from a file shared with the run's settings.
//!
//! Three shapes, told apart by content:
//! * ShareGPT-style JSON: an array of `{"conversations": [{"from": "human", "value": …}, {"from": "gpt", …}]}`
//!   (also `"role"`/`"content"`); the prompt is the first human turn, the expected output length the first
//!   answer's length.
//! * JSONL: one object per line with `prompt` (or `text`, `question`, `input`) and optionally `output_tokens` (or
//!   `max_tokens`, `output_len`).
//! * CSV with a header naming a `prompt` column and optionally an `output_tokens` column.
//!
//! A row that cannot be used is named by its number and skipped; nothing else is lost. Lengths are counted in
//! words, which the generated prompts and mock-llm count as tokens (and which `cl100k_base`/`o200k_base` count
//! within a few percent for English prose).

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::rng::SeededRng;

/// The most rows a dataset may hold.
pub const MAX_ROWS: usize = 100_000;

/// One prompt of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetRow {
    pub prompt: String,
    /// The expected output length (the row's own answer, or its column), as the request's output limit.
    pub output_tokens: Option<u32>,
}

impl DatasetRow {
    /// The prompt's length in tokens, counted as words.
    pub fn prompt_tokens(&self) -> usize {
        self.prompt.split_whitespace().count()
    }
}

/// A dataset: its usable rows, and the rows skipped with why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dataset {
    pub rows: Vec<DatasetRow>,
    pub skipped: Vec<String>,
}

/// The order rows are sent in, and which are kept (`dataset_sample`): `order`, `shuffle`, and optionally a
/// prompt-length range in tokens, `shuffle:100-2000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sampling {
    pub shuffle: bool,
    pub tokens: Option<(usize, usize)>,
}

impl FromStr for Sampling {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (how, range) = text.split_once(':').map_or((text, None), |(h, r)| (h, Some(r)));
        let shuffle = match how.trim() {
            "" | "order" => false,
            "shuffle" => true,
            other => {
                return Err(format!(
                    "{other:?}: use order or shuffle, optionally :MIN-MAX tokens"
                ))
            }
        };
        let tokens = range
            .map(|r| {
                let (lo, hi) = r.split_once('-').ok_or_else(|| format!("{r:?} is not MIN-MAX"))?;
                let (lo, hi): (usize, usize) = (
                    lo.trim().parse().map_err(|_| format!("{lo:?} is not a number"))?,
                    hi.trim().parse().map_err(|_| format!("{hi:?} is not a number"))?,
                );
                if lo > hi {
                    return Err(format!("the range {lo}-{hi} is empty"));
                }
                Ok((lo, hi))
            })
            .transpose()?;
        Ok(Sampling { shuffle, tokens })
    }
}

impl fmt::Display for Sampling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.shuffle { "shuffle" } else { "order" })?;
        if let Some((lo, hi)) = self.tokens {
            write!(f, ":{lo}-{hi}")?;
        }
        Ok(())
    }
}

impl Dataset {
    /// Reads a dataset file of any of the three shapes.
    pub fn parse(text: &str) -> Result<Dataset, String> {
        let trimmed = text.trim_start();
        let dataset = if trimmed.starts_with('[') {
            let rows: Vec<Value> =
                serde_json::from_str(trimmed).map_err(|e| format!("not a JSON array: {e}"))?;
            from_values(rows.iter().enumerate().map(|(i, v)| (i + 1, Ok(v.clone()))))
        } else if trimmed.starts_with('{') {
            from_values(
                trimmed
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| !l.trim().is_empty())
                    .map(|(i, line)| {
                        (
                            i + 1,
                            serde_json::from_str::<Value>(line).map_err(|e| format!("not JSON: {e}")),
                        )
                    }),
            )
        } else {
            from_csv(text)?
        };
        if dataset.rows.is_empty() {
            let why = dataset
                .skipped
                .first()
                .map_or(String::new(), |s| format!(" ({s})"));
            return Err(format!("no usable prompt in the dataset{why}"));
        }
        if dataset.rows.len() > MAX_ROWS {
            return Err(format!("{} rows: at most {MAX_ROWS}", dataset.rows.len()));
        }
        Ok(dataset)
    }

    /// The rows to send, in the order to send them: filtered by length, shuffled with `seed` if asked.
    pub fn sample(&self, sampling: Sampling, seed: u64) -> Result<Vec<DatasetRow>, String> {
        let mut rows: Vec<DatasetRow> = self
            .rows
            .iter()
            .filter(|r| {
                sampling
                    .tokens
                    .is_none_or(|(lo, hi)| (lo..=hi).contains(&r.prompt_tokens()))
            })
            .cloned()
            .collect();
        if rows.is_empty() {
            return Err(format!("no prompt of the dataset is within {sampling}"));
        }
        if sampling.shuffle {
            let mut rng = SeededRng::for_stream(seed, 0xda7a);
            for i in (1..rows.len()).rev() {
                rows.swap(i, rng.below(i as u64 + 1) as usize);
            }
        }
        Ok(rows)
    }
}

const PROMPT_KEYS: [&str; 4] = ["prompt", "text", "question", "input"];
const OUTPUT_KEYS: [&str; 3] = ["output_tokens", "max_tokens", "output_len"];

fn from_values(values: impl Iterator<Item = (usize, Result<Value, String>)>) -> Dataset {
    let mut dataset = Dataset::default();
    for (n, value) in values {
        match value.and_then(|v| row_of(&v)) {
            Ok(row) => dataset.rows.push(row),
            Err(why) => dataset.skipped.push(format!("row {n}: {why}")),
        }
    }
    dataset
}

/// A row from a ShareGPT conversation or a prompt object.
fn row_of(value: &Value) -> Result<DatasetRow, String> {
    if let Some(turns) = value
        .get("conversations")
        .or_else(|| value.get("messages"))
        .and_then(Value::as_array)
    {
        let speaker = |t: &Value| {
            t.get("from")
                .or_else(|| t.get("role"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let text = |t: &Value| {
            t.get("value")
                .or_else(|| t.get("content"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let first = turns
            .iter()
            .position(|t| matches!(speaker(t).as_str(), "human" | "user"))
            .ok_or("a conversation without a human turn")?;
        let prompt = text(&turns[first])
            .filter(|p| !p.trim().is_empty())
            .ok_or("an empty human turn")?;
        let answer = turns[first + 1..]
            .iter()
            .find(|t| matches!(speaker(t).as_str(), "gpt" | "assistant"))
            .and_then(text);
        return Ok(DatasetRow {
            prompt,
            output_tokens: answer.map(|a| a.split_whitespace().count().max(1) as u32),
        });
    }
    let prompt = PROMPT_KEYS
        .iter()
        .find_map(|k| value.get(*k).and_then(Value::as_str))
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| format!("no prompt (a {} field, or conversations)", PROMPT_KEYS.join("/")))?;
    let output_tokens = OUTPUT_KEYS
        .iter()
        .find_map(|k| value.get(*k))
        .map(|v| {
            v.as_u64()
                .filter(|n| (1..=u64::from(u32::MAX)).contains(n))
                .map(|n| n as u32)
                .ok_or("output_tokens is not a whole number above 0")
        })
        .transpose()?;
    Ok(DatasetRow {
        prompt: prompt.to_owned(),
        output_tokens,
    })
}

fn from_csv(text: &str) -> Result<Dataset, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| format!("not CSV: {e}"))?.clone();
    let column = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.contains(&h.trim().to_ascii_lowercase().as_str()))
    };
    let prompt = column(&PROMPT_KEYS).ok_or_else(|| {
        format!(
            "not a dataset: a CSV needs a prompt column (its header has {})",
            headers.iter().collect::<Vec<_>>().join(", ")
        )
    })?;
    let output = column(&OUTPUT_KEYS);
    let mut dataset = Dataset::default();
    for (i, record) in reader.records().enumerate() {
        let n = i + 2; // the header is line 1
        let row = record.map_err(|e| format!("not CSV: {e}")).and_then(|r| {
            let text = r
                .get(prompt)
                .filter(|p| !p.trim().is_empty())
                .ok_or("an empty prompt")?;
            let output_tokens = match output
                .and_then(|c| r.get(c))
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                None => None,
                Some(s) => Some(
                    s.parse::<u32>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or(format!("output_tokens {s:?} is not a whole number above 0"))?,
                ),
            };
            Ok(DatasetRow {
                prompt: text.to_owned(),
                output_tokens,
            })
        });
        match row {
            Ok(row) => dataset.rows.push(row),
            Err(why) => dataset.skipped.push(format!("row {n}: {why}")),
        }
    }
    Ok(dataset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharegpt_jsonl_and_csv_read_the_same_prompts() {
        let sharegpt = r#"[{"id": "a", "conversations": [{"from": "human", "value": "What is a load test?"}, {"from": "gpt", "value": "It sends many requests at once."}]},
            {"id": "b", "conversations": [{"from": "gpt", "value": "hello"}]},
            {"id": "c", "conversations": [{"from": "system", "value": "be brief"}, {"from": "human", "value": "Why?"}]}]"#;
        let d = Dataset::parse(sharegpt).unwrap();
        assert_eq!(d.rows.len(), 2);
        assert_eq!(
            d.rows[0],
            DatasetRow {
                prompt: "What is a load test?".into(),
                output_tokens: Some(6)
            }
        );
        assert_eq!(d.rows[1].output_tokens, None);
        assert_eq!(d.skipped, ["row 2: a conversation without a human turn"]);

        let jsonl = "{\"prompt\": \"one two\", \"output_tokens\": 5}\n{\"text\": \"three\"}\n{broken\n{\"prompt\": \"x\", \"output_tokens\": -1}\n";
        let d = Dataset::parse(jsonl).unwrap();
        assert_eq!(d.rows.len(), 2);
        assert_eq!(d.skipped.len(), 2);
        assert!(d.skipped[0].starts_with("row 3: not JSON"), "{:?}", d.skipped);

        let csv =
            "id,prompt,output_tokens\n1,\"Hello, world\",12\n2,\"a\nmultiline prompt\",\n3,,4\n4,fine,zero\n";
        let d = Dataset::parse(csv).unwrap();
        assert_eq!(
            d.rows,
            [
                DatasetRow {
                    prompt: "Hello, world".into(),
                    output_tokens: Some(12)
                },
                DatasetRow {
                    prompt: "a\nmultiline prompt".into(),
                    output_tokens: None
                },
            ]
        );
        assert_eq!(
            d.skipped,
            [
                "row 4: an empty prompt",
                "row 5: output_tokens \"zero\" is not a whole number above 0"
            ]
        );
        assert!(Dataset::parse("a,b\n1,2\n")
            .unwrap_err()
            .contains("prompt column"));
    }

    #[test]
    fn sampling_filters_by_length_and_shuffles_repeatably() {
        let text: String = (1..=20)
            .map(|n| format!("{{\"prompt\": \"{}\"}}\n", vec!["w"; n].join(" ")))
            .collect();
        let d = Dataset::parse(&text).unwrap();
        let kept = d.sample("order:5-9".parse().unwrap(), 1).unwrap();
        assert_eq!(
            kept.iter().map(DatasetRow::prompt_tokens).collect::<Vec<_>>(),
            [5, 6, 7, 8, 9]
        );
        let a = d.sample("shuffle".parse().unwrap(), 7).unwrap();
        assert_eq!(a, d.sample("shuffle".parse().unwrap(), 7).unwrap());
        assert_ne!(a, d.rows);
        assert!(d.sample("order:100-200".parse().unwrap(), 1).is_err());
        assert!("random".parse::<Sampling>().is_err());
        assert_eq!(
            "shuffle:1-5".parse::<Sampling>().unwrap().to_string(),
            "shuffle:1-5"
        );
    }
}
