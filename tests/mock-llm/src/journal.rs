//! The request journal, `GET /mock/journal`: what each model request asked for, so a test can check what a
//! load tester sent (every turn of a conversation carrying the earlier ones, the output limit, the prompt
//! sizes), not only how many requests it sent (`/mock/stats`). `DELETE /mock/journal` empties it.
//!
//! `{"requests": [entry, …]}`, oldest first by arrival, one entry per request a model route read: those
//! answered and those refused by an injected `status`, a chaos draw, a malformed knob or body, or (AWS) bad
//! credentials. Not journaled: a request whose client left while it queued behind a capacity (no route read
//! it), preflights, and the mock's own endpoints. Each entry:
//!
//! ```json
//! {"api": "OpenAiChat", "received_ms": 12.5, "input_tokens": 7, "cached_input_tokens": 0,
//!  "messages": 3, "max_output_tokens": 64, "prompt": "You are terse.\nHello there\nHi!"}
//! ```
//!
//! - `api`: `OpenAiChat`, `OpenAiResponses`, `AnthropicMessages` (the `Api` variants), or the AWS operation:
//!   `Converse`, `ConverseStream`, `InvokeModel`, `InvokeModelWithResponseStream`, `InvokeEndpoint`,
//!   `InvokeEndpointWithResponseStream`.
//! - `received_ms`: when the request arrived (before any wait behind a capacity), in ms since the server
//!   started.
//! - `input_tokens`, `cached_input_tokens`: the counts the answer reports (whitespace-separated words of the
//!   prompt; cached words with `x-mock-prefix-cache`); a refused request reports none, its `cached_input_tokens`
//!   is 0 (it never reached the prefix cache).
//! - `messages`: the length of the body's `messages` array (Chat, Anthropic, Converse, InvokeModel, SageMaker
//!   vLLM) or, on the Responses API, of its `input` array; 1 when there is no such array (a string `input`,
//!   TGI's `inputs`, a body that is not JSON).
//! - `max_output_tokens`: the output limit the body asked for, under the API's name for it, or `null`.
//! - `prompt`: the prompt text as the API reads it (system text and every message's text, joined by newlines);
//!   `""` if there is none.
//!
//! The journal keeps the last [`MAX_ENTRIES`] requests, and fewer if their prompts exceed [`MAX_PROMPT_BYTES`]
//! together, dropping the oldest, so a long run cannot exhaust memory.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

/// Entries kept before the oldest are dropped.
pub const MAX_ENTRIES: usize = 100_000;
/// Prompt text kept (bytes, all entries together) before the oldest entries are dropped.
pub const MAX_PROMPT_BYTES: usize = 256 << 20;

/// One model request, as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub api: &'static str,
    pub received_ms: f64,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub messages: u64,
    pub max_output_tokens: Option<u64>,
    pub prompt: String,
}

impl Entry {
    /// An entry for `request` (`None`: the body is not a JSON object), whose messages are the `messages_key`
    /// array and whose prompt and output limit the API read as `prompt` and `max_output_tokens`; its input
    /// tokens are the prompt's words, its cached tokens 0 until [`Entry::reported`] says otherwise.
    pub fn new(
        api: &'static str,
        received_ms: f64,
        request: Option<&Value>,
        messages_key: &str,
        prompt: Option<String>,
        max_output_tokens: Option<u64>,
    ) -> Entry {
        let prompt = prompt.unwrap_or_default();
        let messages = request
            .and_then(|r| r.get(messages_key))
            .and_then(Value::as_array)
            .map_or(1, |m| m.len() as u64);
        Entry {
            api,
            received_ms,
            input_tokens: prompt.split_whitespace().count() as u64,
            cached_input_tokens: 0,
            messages,
            max_output_tokens,
            prompt,
        }
    }

    /// Takes the token counts the answer reports.
    pub fn reported(&mut self, reply: &tokenmeter_protocol::wire::Reply) {
        self.input_tokens = reply.input_tokens;
        self.cached_input_tokens = reply.cached_input_tokens;
    }

    fn to_json(&self) -> Value {
        json!({
            "api": self.api,
            "received_ms": self.received_ms,
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "messages": self.messages,
            "max_output_tokens": self.max_output_tokens,
            "prompt": self.prompt,
        })
    }
}

/// The entries, shared by every request of the server.
#[derive(Debug, Clone)]
pub struct Journal(Arc<Mutex<Entries>>);

#[derive(Debug)]
struct Entries {
    entries: VecDeque<Entry>,
    prompt_bytes: usize,
    max_entries: usize,
    max_prompt_bytes: usize,
}

impl Default for Journal {
    fn default() -> Self {
        Journal::with_limits(MAX_ENTRIES, MAX_PROMPT_BYTES)
    }
}

impl Journal {
    fn with_limits(max_entries: usize, max_prompt_bytes: usize) -> Journal {
        Journal(Arc::new(Mutex::new(Entries {
            entries: VecDeque::new(),
            prompt_bytes: 0,
            max_entries,
            max_prompt_bytes,
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `entry` in arrival order (a request read later may have arrived earlier, e.g. on another
    /// thread), dropping the oldest entries past the limits.
    pub fn record(&self, entry: Entry) {
        let mut journal = self.lock();
        let at = journal
            .entries
            .iter()
            .rposition(|e| e.received_ms <= entry.received_ms)
            .map_or(0, |i| i + 1);
        journal.prompt_bytes += entry.prompt.len();
        journal.entries.insert(at, entry);
        while journal.entries.len() > journal.max_entries
            || (journal.prompt_bytes > journal.max_prompt_bytes && journal.entries.len() > 1)
        {
            if let Some(oldest) = journal.entries.pop_front() {
                journal.prompt_bytes -= oldest.prompt.len();
            }
        }
    }

    /// Empties the journal.
    pub fn clear(&self) {
        let mut journal = self.lock();
        journal.entries.clear();
        journal.prompt_bytes = 0;
    }

    /// `{"requests": [entry, …]}`, oldest first.
    pub fn to_json(&self) -> Value {
        let journal = self.lock();
        let requests: Vec<Value> = journal.entries.iter().map(Entry::to_json).collect();
        json!({ "requests": requests })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(received_ms: f64, prompt: &str) -> Entry {
        Entry::new(
            "OpenAiChat",
            received_ms,
            None,
            "messages",
            Some(prompt.into()),
            None,
        )
    }

    fn prompts(journal: &Journal) -> Vec<String> {
        journal.to_json()["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["prompt"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn entries_read_the_body_as_the_api_does() {
        let body = json!({"messages": [{}, {}, {}], "input": "x"});
        let chat = Entry::new(
            "OpenAiChat",
            1.0,
            Some(&body),
            "messages",
            Some("a b  c".into()),
            Some(9),
        );
        assert_eq!(
            (chat.messages, chat.input_tokens, chat.max_output_tokens),
            (3, 3, Some(9))
        );
        assert_eq!(
            Entry::new("OpenAiResponses", 1.0, Some(&body), "input", None, None).messages,
            1,
            "a string input is one message"
        );
        let refused = Entry::new("Converse", 1.0, None, "messages", None, None);
        assert_eq!(
            (refused.messages, refused.input_tokens, refused.prompt.as_str()),
            (1, 0, "")
        );
        assert_eq!(
            chat.to_json(),
            json!({"api": "OpenAiChat", "received_ms": 1.0, "input_tokens": 3, "cached_input_tokens": 0,
                   "messages": 3, "max_output_tokens": 9, "prompt": "a b  c"})
        );
    }

    #[test]
    fn entries_are_kept_in_arrival_order() {
        let journal = Journal::default();
        for (at, prompt) in [(1.0, "a"), (3.0, "c"), (2.0, "b"), (3.0, "d"), (0.5, "z")] {
            journal.record(entry(at, prompt));
        }
        assert_eq!(prompts(&journal), ["z", "a", "b", "c", "d"]);
        journal.clear();
        assert_eq!(journal.to_json(), json!({"requests": []}));
    }

    #[test]
    fn the_oldest_entries_go_past_the_limits() {
        let journal = Journal::with_limits(3, 10);
        for (i, prompt) in ["a", "b", "c", "d"].into_iter().enumerate() {
            journal.record(entry(i as f64, prompt));
        }
        assert_eq!(prompts(&journal), ["b", "c", "d"], "at most 3 entries");
        journal.record(entry(9.0, "eeeeeeeee"));
        assert_eq!(
            prompts(&journal),
            ["d", "eeeeeeeee"],
            "at most 10 bytes of prompt"
        );
        journal.record(entry(10.0, "a prompt longer than the whole budget"));
        assert_eq!(
            prompts(&journal),
            ["a prompt longer than the whole budget"],
            "the newest stays"
        );
    }
}
