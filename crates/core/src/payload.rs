//! Request bodies for a run: LLMeter's `payload.jsonl` (read with per-line errors, written back), the cache buster,
//! and length-controlled prompts.
//!
//! - **`payload.jsonl`** ([`parse_payload_jsonl`], [`write_payload_jsonl`]): one JSON object (one request body) per
//!   line, as LLMeter's `prompt_utils.save_payloads` writes and `load_payloads` reads it. Blank lines are skipped;
//!   a bad line (not JSON, not an object, a `__llmeter_bytes__` marker that is not base64) is reported by its
//!   1-based number and every other line is still read (LLMeter prints and skips bad lines). Markers are kept
//!   as-is: the API layer decides how bytes travel. A file with no good line is a [`PayloadFileError`].
//! - **Cache buster** ([`bust_cache`]): LLMeter documents (but does not ship) a `before_invoke` callback that
//!   prepends `"[req-<uuid4>] "` to the first message, so that a provider's prompt cache cannot serve a repeated
//!   prompt and flatter TTFT. Here it works on every payload shape Tokenmeter builds: the first *user* text is
//!   prefixed with `"[{unique}] "`.
//! - **Length-controlled prompts** ([`generated_prompt`], [`source_prompt`], [`PromptSpec`]): LLMeter's
//!   `CreatePromptCollection` takes the first N tokens of a source file, counted by its `DummyTokenizer`
//!   (whitespace-separated words). [`source_prompt`] does exactly that; [`generated_prompt`] makes N words from a
//!   fixed vocabulary with a seeded generator instead, so that prompts of one length differ per seed (LLMeter's
//!   file prefix is the same every time, which implicit prompt caches reward).
//!
//! Pure: no clock and no entropy; uniqueness and randomness come from the seeds and tags the caller passes.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::format::decode_bytes_marker;
use crate::rng::{mix, SeededRng};

/// The file name LLMeter's runner gives the payloads of a run (`save_payloads`' default).
pub const PAYLOAD_FILE: &str = "payload.jsonl";

// ---------------------------------------------------------------------------------------------------------------
// payload.jsonl

/// One line of a payload file that is not a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number in the file.
    pub line: usize,
    /// What is wrong with it, for people.
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// A payload file as read: the good request bodies, in file order, and one error per bad line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PayloadFile {
    /// Every good line's JSON object, in file order, `__llmeter_bytes__` markers kept as-is.
    pub payloads: Vec<Value>,
    /// `lines[i]` is the 1-based line of `payloads[i]`, so a later problem with a payload can name its line.
    pub lines: Vec<usize>,
    /// One entry per bad line, in file order.
    pub errors: Vec<LineError>,
}

impl PayloadFile {
    /// The file, or an error to show when it holds no request body at all (the line errors are kept otherwise, to
    /// be shown beside the good payloads).
    pub fn require_payloads(self) -> Result<PayloadFile, PayloadFileError> {
        match (self.payloads.is_empty(), self.errors.is_empty()) {
            (false, _) => Ok(self),
            (true, true) => Err(PayloadFileError::Empty),
            (true, false) => Err(PayloadFileError::NoGoodLine { errors: self.errors }),
        }
    }
}

/// A payload file that cannot be used: it has no request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadFileError {
    /// Nothing but blank lines.
    Empty,
    /// Every non-blank line is bad; the first error is in the message, all are here.
    NoGoodLine { errors: Vec<LineError> },
}

impl fmt::Display for PayloadFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadFileError::Empty => {
                f.write_str("the payload file is empty: it needs one JSON object (one request body) per line")
            }
            PayloadFileError::NoGoodLine { errors } => {
                let n = errors.len();
                write!(
                    f,
                    "the payload file has no usable request body ({n} bad line{})",
                    if n == 1 { "" } else { "s" }
                )?;
                if let Some(first) = errors.first() {
                    write!(f, "; {first}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for PayloadFileError {}

/// Reads a payload file: one JSON object per line (LLMeter's `payload.jsonl`).
///
/// Blank lines (whitespace only) are skipped; `\r\n` line ends and a leading UTF-8 byte-order mark are accepted.
/// A line that is not JSON, not an object, or holds a `{"__llmeter_bytes__": …}` marker whose value is not base64
/// becomes a [`LineError`] with its 1-based number; no other line is affected. Markers are kept as-is.
///
/// One leniency: when the whole text is one JSON object spread over several lines (a pretty-printed `.json`
/// payload, which LLMeter's `load_payloads` also reads), that object is the one payload.
///
/// Never panics. Use [`PayloadFile::require_payloads`] to refuse a file with no payload.
pub fn parse_payload_jsonl(text: &str) -> PayloadFile {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut file = PayloadFile::default();
    let mut first_line = None;
    let mut non_blank = 0usize;
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        non_blank += 1;
        first_line.get_or_insert(line_number);
        match parse_payload(trimmed) {
            Ok(payload) => {
                file.payloads.push(payload);
                file.lines.push(line_number);
            }
            Err(problem) => file.errors.push(LineError {
                line: line_number,
                message: problem.message(line, line.len() - line.trim_start().len()),
            }),
        }
    }
    // Lines of JSON Lines are never one JSON document together, so a whole-text object can only be a
    // pretty-printed one (whose first line, `{`, is always an error).
    if !file.errors.is_empty() && non_blank > 1 {
        if let Ok(payload) = parse_payload(text) {
            return PayloadFile {
                payloads: vec![payload],
                lines: first_line.into_iter().collect(),
                errors: Vec::new(),
            };
        }
    }
    file
}

/// Why a line is not a request body.
enum Problem {
    /// Not JSON.
    Syntax(serde_json::Error),
    /// JSON, but not an object, or with a bad bytes marker.
    Shape(String),
}

impl Problem {
    /// The message for `line`, whose JSON text starts `offset` bytes in: serde_json's reason without its
    /// " at line 1 column N" suffix, and the column counted in characters of the whole line.
    fn message(self, line: &str, offset: usize) -> String {
        let err = match self {
            Problem::Shape(message) => return message,
            Problem::Syntax(err) => err,
        };
        let full = err.to_string();
        let suffix = format!(" at line {} column {}", err.line(), err.column());
        let reason = full.strip_suffix(&suffix).unwrap_or(&full);
        // serde_json counts bytes from 1.
        let mut at = (offset + err.column().saturating_sub(1)).min(line.len());
        while !line.is_char_boundary(at) {
            at -= 1;
        }
        let column = line[..at].chars().count() + 1;
        format!("not valid JSON at column {column}: {reason}")
    }
}

/// One request body: a JSON object whose bytes markers hold base64.
fn parse_payload(text: &str) -> Result<Value, Problem> {
    let value: Value = serde_json::from_str(text).map_err(Problem::Syntax)?;
    if !value.is_object() {
        return Err(Problem::Shape(format!(
            "expected a JSON object (one request body), found {}",
            type_name(&value)
        )));
    }
    check_bytes_markers(&value, &mut String::new()).map_err(Problem::Shape)?;
    Ok(value)
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Every `__llmeter_bytes__` marker inside `value` must hold base64; the error names the marker's JSON pointer.
fn check_bytes_markers(value: &Value, pointer: &mut String) -> Result<(), String> {
    if let Some(decoded) = decode_bytes_marker(value) {
        let at = if pointer.is_empty() { "/" } else { pointer.as_str() };
        return decoded
            .map(drop)
            .map_err(|problem| format!("{problem} (at {at})"));
    }
    let len = pointer.len();
    let descend = |pointer: &mut String, token: &str, child: &Value| {
        pointer.push('/');
        pointer.push_str(&token.replace('~', "~0").replace('/', "~1"));
        let result = check_bytes_markers(child, pointer);
        pointer.truncate(len);
        result
    };
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, child)| descend(pointer, &i.to_string(), child)),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(key, child)| descend(pointer, key, child)),
        _ => Ok(()),
    }
}

/// Writes payloads as LLMeter's `payload.jsonl`: one compact JSON object per line, each line ending in `\n`
/// (LLMeter's `json.dumps` puts a space after `,` and `:`; both read the same). Strings escape their newlines, so
/// a payload is always exactly one line. [`parse_payload_jsonl`] reads the text back to the same values.
pub fn write_payload_jsonl(payloads: &[Value]) -> String {
    let mut out = String::new();
    for payload in payloads {
        out.push_str(&payload.to_string());
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// Cache buster

/// A tag unique to request `index` of the run seeded with `seed` (`req-` and 16 hex digits, after LLMeter's
/// `req-<uuid4>`): distinct for every index of one seed, and unrelated across seeds, so a later run with another
/// seed cannot hit the prompt cache filled by an earlier one.
pub fn cache_buster_tag(seed: u64, index: u64) -> String {
    format!("req-{:016x}", mix(seed ^ mix(index)))
}

/// The text [`bust_cache`] puts before the prompt: `"[{unique}] "`.
pub fn cache_buster_prefix(unique: &str) -> String {
    format!("[{unique}] ")
}

/// `payload` with `"[{unique}] "` in front of its first user text, so that no two requests share a prompt prefix
/// and a provider's prompt cache cannot flatter TTFT (LLMeter's documented cache-buster callback, which prefixes
/// the first message). Payloads with no user text are returned unchanged; see [`bust_cache_in_place`].
pub fn bust_cache(payload: &Value, unique: &str) -> Value {
    let mut busted = payload.clone();
    bust_cache_in_place(&mut busted, unique);
    busted
}

/// [`bust_cache`] in place; false (and `payload` untouched) when it has no user text to prefix.
///
/// The first user text is, in this order:
/// - `messages`: the first message whose `role` is `"user"` with a string `content` or a text block in its
///   `content` list (Chat Completions, Anthropic Messages, Bedrock Converse `{"text"}` blocks, InvokeModel Claude,
///   OpenAI, Nova and LLMeter's default bodies, SageMaker OpenAI containers); a block is text when it has a string
///   `text` and no `type` or type `text` / `input_text`. Image-only messages are passed over.
/// - `input`: a string, or the first user item as above (Responses);
/// - `prompt` (Llama, Mistral), `inputText` (Titan), `inputs` (SageMaker TGI / LMI): a string.
///
/// `system` prompts and instructions are left alone: they are usually shared on purpose. In a raw prompt that
/// opens with a chat template (`<s>[INST] `, Llama 3's or ChatML's user header), the prefix goes after that
/// opening, so the template stays valid.
pub fn bust_cache_in_place(payload: &mut Value, unique: &str) -> bool {
    let Some(pointer) = first_user_text(payload) else {
        return false;
    };
    let Some(Value::String(text)) = payload.pointer_mut(&pointer) else {
        return false;
    };
    let at = template_opening_len(text);
    text.insert_str(at, &cache_buster_prefix(unique));
    true
}

/// The JSON pointer of a payload's first user text (see [`bust_cache_in_place`]).
fn first_user_text(payload: &Value) -> Option<String> {
    let object = payload.as_object()?;
    if let Some(Value::Array(messages)) = object.get("messages") {
        if let Some(pointer) = first_user_item_text(messages, "/messages") {
            return Some(pointer);
        }
    }
    match object.get("input") {
        Some(Value::String(_)) => return Some("/input".to_owned()),
        Some(Value::Array(items)) => {
            if let Some(pointer) = first_user_item_text(items, "/input") {
                return Some(pointer);
            }
        }
        _ => {}
    }
    ["prompt", "inputText", "inputs"]
        .into_iter()
        .find(|key| matches!(object.get(*key), Some(Value::String(_))))
        .map(|key| format!("/{key}"))
}

/// The pointer of the first text of a `role: "user"` item of `items` (messages or Responses input items).
fn first_user_item_text(items: &[Value], base: &str) -> Option<String> {
    items.iter().enumerate().find_map(|(i, item)| {
        if item.get("role").and_then(Value::as_str) != Some("user") {
            return None;
        }
        match item.get("content")? {
            Value::String(_) => Some(format!("{base}/{i}/content")),
            Value::Array(blocks) => blocks
                .iter()
                .position(is_text_block)
                .map(|j| format!("{base}/{i}/content/{j}/text")),
            _ => None,
        }
    })
}

/// A content block that carries prompt text: a string `text`, and no `type` or a text type.
fn is_text_block(block: &Value) -> bool {
    let text = matches!(block.get("text"), Some(Value::String(_)));
    let kind = match block.get("type") {
        None => true,
        Some(Value::String(t)) => t == "text" || t == "input_text",
        Some(_) => false,
    };
    text && kind
}

/// Chat-template openings a raw prompt may start with; the cache-buster prefix goes after them.
const TEMPLATE_OPENINGS: [&str; 5] = [
    "<s>",
    "[INST]",
    "<|begin_of_text|>",
    "<|start_header_id|>user<|end_header_id|>",
    "<|im_start|>user",
];

/// The byte length of the chat-template opening of `text` (and the whitespace after it); 0 when it has none.
fn template_opening_len(text: &str) -> usize {
    let mut at = 0;
    loop {
        let rest = &text[at..];
        let after_space = rest.trim_start();
        let space = rest.len() - after_space.len();
        match TEMPLATE_OPENINGS.iter().find(|o| after_space.starts_with(**o)) {
            Some(opening) => at += space + opening.len(),
            None if at == 0 => return 0,
            None => return at + space,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Length-controlled prompts

/// The most tokens a generated prompt may ask for (a million-token context fits; a typo cannot exhaust memory).
pub const MAX_GENERATED_TOKENS: u32 = 1_000_000;

/// Words of [`generated_prompt`]: common lowercase English words, each one token, with or without a leading space,
/// in OpenAI's `cl100k_base` and `o200k_base` encodings (checked with tiktoken: 20,000 random words of this list
/// are exactly 20,000 tokens in both). Other models' tokenizers count about as many.
#[rustfmt::skip]
const VOCABULARY: [&str; 256] = [
    "the", "of", "and", "to", "in", "is", "was", "for", "on", "are", "with", "as", "be", "at", "by", "this",
    "from", "have", "not", "but", "all", "were", "when", "we", "there", "can", "an", "your", "which", "their",
    "said", "if", "do", "will", "each", "about", "how", "up", "out", "them", "then", "she", "many", "some",
    "so", "these", "would", "other", "into", "has", "more", "her", "two", "like", "him", "see", "time",
    "could", "no", "make", "than", "first", "been", "its", "who", "now", "people", "my", "made", "over",
    "did", "down", "only", "way", "find", "use", "may", "water", "long", "little", "very", "after", "words",
    "called", "just", "where", "most", "know", "get", "through", "back", "much", "go", "good", "new", "write",
    "our", "me", "man", "too", "any", "day", "same", "right", "look", "think", "also", "around", "another",
    "came", "come", "work", "three", "word", "must", "because", "does", "part", "even", "place", "well",
    "such", "here", "take", "why", "things", "help", "put", "years", "different", "away", "again", "off",
    "went", "old", "number", "great", "tell", "men", "say", "small", "every", "found", "still", "between",
    "name", "should", "home", "big", "give", "air", "line", "set", "own", "under", "read", "last", "never",
    "us", "left", "end", "along", "while", "might", "next", "sound", "below", "something", "thought", "both",
    "few", "those", "always", "show", "large", "often", "house", "world", "going", "want", "school",
    "important", "until", "form", "food", "keep", "children", "land", "side", "without", "boy", "once",
    "animals", "life", "sometimes", "four", "head", "above", "kind", "almost", "live", "page", "got", "earth",
    "need", "far", "hand", "high", "year", "mother", "light", "parts", "country", "father", "let", "night",
    "following", "picture", "being", "study", "second", "eyes", "soon", "times", "story", "boys", "since",
    "white", "days", "paper", "hard", "near", "sentence", "better", "best", "during", "today", "others",
    "however", "sure", "means", "try", "young", "sun", "ways", "thing", "whole", "hear", "example", "heard",
    "change", "answer", "room", "sea", "against", "top",
];

/// A prompt of exactly `n_tokens` whitespace-separated words (LLMeter's `DummyTokenizer` counts it as
/// `n_tokens`, and so do `cl100k_base` and `o200k_base`; other tokenizers about as many), drawn from a fixed vocabulary by a generator seeded
/// with `seed`: the same seed always gives the same text, and different seeds share no long prefix.
pub fn generated_prompt(n_tokens: u32, seed: u64) -> String {
    words_from(&mut SeededRng::new(seed), n_tokens)
}

fn words_from(rng: &mut SeededRng, n_words: u32) -> String {
    let mut text = String::with_capacity(n_words as usize * 7);
    for i in 0..n_words {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(VOCABULARY[rng.below(VOCABULARY.len() as u64) as usize]);
    }
    text
}

/// The first `n_tokens` tokens of `source` as LLMeter's `CreatePromptCollection` samples them with its
/// `DummyTokenizer`: Python's `str.split()` words (a leading byte-order mark dropped, as its `utf-8-sig` reading
/// does), joined by single spaces. A shorter source gives all its words.
pub fn source_prompt(source: &str, n_tokens: u32) -> String {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    source
        .split(is_python_space)
        .filter(|w| !w.is_empty())
        .take(n_tokens as usize)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Python's `str.isspace`: Unicode white space plus the information separators U+001C..U+001F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Where a run's prompt comes from: text as given, or generated to a length.
///
/// As text ([`FromStr`] / [`fmt::Display`], lossless): `generated:N` is a generated prompt of N tokens; any other
/// text is a fixed prompt, and `text:` in front marks a fixed prompt that would otherwise read as one of these
/// forms (`text:generated:5` is the fixed prompt "generated:5").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptSpec {
    /// This exact prompt.
    Fixed(String),
    /// [`generated_prompt`]s of `tokens` words.
    Generated { tokens: u32 },
}

/// The text form of [`PromptSpec::Generated`]: `generated:N`.
pub const GENERATED_PREFIX: &str = "generated:";

/// The text form that marks a [`PromptSpec::Fixed`] prompt explicitly.
pub const TEXT_PREFIX: &str = "text:";

/// Why a generated-prompt length was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptSpecError {
    /// Not a whole number.
    NotANumber(String),
    /// Zero, or more than [`MAX_GENERATED_TOKENS`].
    OutOfRange(u64),
}

impl fmt::Display for PromptSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromptSpecError::NotANumber(text) => write!(
                f,
                "the generated prompt length must be a whole number of tokens, found {text:?}"
            ),
            PromptSpecError::OutOfRange(n) => write!(
                f,
                "the generated prompt length must be between 1 and {MAX_GENERATED_TOKENS} tokens, found {n}"
            ),
        }
    }
}

impl std::error::Error for PromptSpecError {}

impl PromptSpec {
    /// A generated prompt whose length is given as text (a form field): a whole number in
    /// `1..=`[`MAX_GENERATED_TOKENS`], surrounding spaces allowed.
    pub fn generated(tokens: &str) -> Result<PromptSpec, PromptSpecError> {
        let trimmed = tokens.trim();
        let n: u64 = trimmed
            .parse()
            .map_err(|_| PromptSpecError::NotANumber(trimmed.to_owned()))?;
        if n == 0 || n > u64::from(MAX_GENERATED_TOKENS) {
            return Err(PromptSpecError::OutOfRange(n));
        }
        Ok(PromptSpec::Generated { tokens: n as u32 })
    }

    /// The prompt for `seed`: the fixed text, or [`generated_prompt`]`(tokens, seed)`.
    pub fn text(&self, seed: u64) -> String {
        match self {
            PromptSpec::Fixed(text) => text.clone(),
            PromptSpec::Generated { tokens } => generated_prompt(*tokens, seed),
        }
    }

    /// The prompts to build a run's payloads from: the one fixed prompt, or `variants` (at least one) different
    /// generated prompts, variant `i` drawn from stream `i` of `seed`. Each costs about 6 bytes per token.
    pub fn prompts(&self, variants: usize, seed: u64) -> Vec<String> {
        match self {
            PromptSpec::Fixed(text) => vec![text.clone()],
            PromptSpec::Generated { tokens } => (0..variants.max(1) as u64)
                .map(|i| words_from(&mut SeededRng::for_stream(seed, i), *tokens))
                .collect(),
        }
    }
}

impl FromStr for PromptSpec {
    type Err = PromptSpecError;

    fn from_str(s: &str) -> Result<PromptSpec, PromptSpecError> {
        if let Some(text) = s.strip_prefix(TEXT_PREFIX) {
            Ok(PromptSpec::Fixed(text.to_owned()))
        } else if let Some(tokens) = s.strip_prefix(GENERATED_PREFIX) {
            PromptSpec::generated(tokens)
        } else {
            Ok(PromptSpec::Fixed(s.to_owned()))
        }
    }
}

impl fmt::Display for PromptSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromptSpec::Generated { tokens } => write!(f, "{GENERATED_PREFIX}{tokens}"),
            PromptSpec::Fixed(text)
                if text.starts_with(TEXT_PREFIX) || text.starts_with(GENERATED_PREFIX) =>
            {
                write!(f, "{TEXT_PREFIX}{text}")
            }
            PromptSpec::Fixed(text) => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests;
