//! The OpenAI Responses API (`POST {base}/responses`): the payload shape, the interpreter of its typed SSE events
//! (`response.created`, `response.output_text.delta`, …, `response.completed`) and of the one-body `response`
//! object, and the encoder.
//!
//! Timing follows LLMeter: the first `response.output_text.delta` is the first token even when its delta is empty;
//! reasoning deltas count toward TTFT, not toward the visible TTFT. `response.failed` and `error` events are
//! failures. `response.incomplete` is a failure too, except when the output limit cut the answer short: that is
//! Chat Completions' `finish_reason: "length"`, a complete answer of the length that was asked for.

use serde_json::{json, Value};

use crate::framing::{count_at, json_object, message_object, text_at};
use crate::openai_chat::provider_error;
use crate::wire::{openai_error_body, sse, Encoder, Finish, Reply, WireFault};
use crate::{Completion, Interpreter, OutputKind, ProtocolError, StreamEvent, Usage};

/// A payload in LLMeter's `create_payload` shape: the prompt as `input` and `max_output_tokens`.
pub fn create_payload(prompt: &str, max_tokens: u32) -> Value {
    json!({ "input": prompt, "max_output_tokens": max_tokens })
}

/// The prompt of a payload: `instructions` and a string `input`, or the text of its input messages, joined by
/// newlines.
pub fn prompt_text(payload: &Value) -> Option<String> {
    let mut parts: Vec<String> = payload
        .get("instructions")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .into_iter()
        .collect();
    match payload.get("input") {
        Some(Value::String(s)) => parts.push(s.clone()),
        Some(Value::Array(items)) => {
            for item in items {
                match item.get("content") {
                    Some(Value::String(s)) => parts.push(s.clone()),
                    Some(Value::Array(content)) => parts.extend(
                        content
                            .iter()
                            .filter_map(|c| c.get("text").and_then(Value::as_str).map(str::to_owned)),
                    ),
                    _ => {}
                }
            }
        }
        _ => {}
    }
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// Interprets Responses API events (streamed) or a whole `response` object (one body).
#[derive(Debug, Default)]
pub struct ResponsesInterpreter {
    completion: Completion,
}

impl Interpreter for ResponsesInterpreter {
    fn message(
        &mut self,
        event: Option<&str>,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ProtocolError> {
        let Some(value) = message_object(data, "event")? else {
            return Ok(());
        };
        let kind = value.get("type").and_then(Value::as_str).or(event).unwrap_or("");
        match kind {
            "response.created" => {
                if let Some(id) = text_at(&value, "/response/id") {
                    out.push(StreamEvent::ResponseId(id.to_owned()));
                }
            }
            "response.output_text.delta" => out.push(StreamEvent::Output {
                kind: OutputKind::Visible,
                text: text_at(&value, "/delta").unwrap_or_default().to_owned(),
            }),
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                if let Some(text) = text_at(&value, "/delta").filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::Output {
                        kind: OutputKind::Reasoning,
                        text: text.to_owned(),
                    });
                }
            }
            "response.completed" | "response.failed" | "response.incomplete" => {
                if let Some(response) = value.get("response") {
                    self.completion = Completion::Complete;
                    finished_response(response, out);
                }
            }
            "error" => out.push(provider_error(&value)),
            _ => {}
        }
        Ok(())
    }

    fn body(&mut self, body: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        let response = json_object(body, "response")?;
        if let Some(err) = response.get("error").filter(|e| e.is_object()) {
            if response.get("status").is_none() {
                out.push(provider_error(err)); // an HTTP-style `{"error": {…}}` body
                return Ok(());
            }
        }
        if let Some(id) = text_at(&response, "/id") {
            out.push(StreamEvent::ResponseId(id.to_owned()));
        }
        let items = response.get("output").and_then(Value::as_array);
        for item in items.into_iter().flatten() {
            let parts = item.get("content").and_then(Value::as_array);
            for part in parts.into_iter().flatten() {
                if part.get("type").and_then(Value::as_str) == Some("output_text") {
                    if let Some(text) = text_at(part, "/text").filter(|t| !t.is_empty()) {
                        out.push(StreamEvent::Output {
                            kind: OutputKind::Visible,
                            text: text.to_owned(),
                        });
                    }
                }
            }
        }
        finished_response(&response, out);
        Ok(())
    }

    fn completion(&self) -> Completion {
        self.completion
    }

    fn terminal_event(&self) -> &'static str {
        "response.completed"
    }
}

/// The events of a finished `response` object: usage, then a stop or a failure according to its `status`.
fn finished_response(response: &Value, out: &mut Vec<StreamEvent>) {
    if let Some(usage) = response.get("usage").filter(|u| u.is_object()) {
        out.push(StreamEvent::Usage(Usage {
            input_tokens: count_at(usage, "/input_tokens"),
            output_tokens: count_at(usage, "/output_tokens"),
            cached_input_tokens: count_at(usage, "/input_tokens_details/cached_tokens"),
            reasoning_output_tokens: count_at(usage, "/output_tokens_details/reasoning_tokens"),
        }));
    }
    let reason = text_at(response, "/incomplete_details/reason");
    match text_at(response, "/status") {
        Some("failed") => {
            let error = response.get("error").cloned().unwrap_or(Value::Null);
            let mut event = provider_error(&error);
            if let StreamEvent::ProviderError { message, .. } = &mut event {
                if error.is_null() {
                    *message = "the response failed (no error details)".into();
                }
            }
            out.push(event);
        }
        Some("incomplete") if reason == Some("max_output_tokens") => out.push(StreamEvent::Stop {
            reason: Some("length".into()),
        }),
        Some("incomplete") => out.push(StreamEvent::ProviderError {
            throttled: false,
            message: format!(
                "the response is incomplete: {}",
                reason.unwrap_or("no reason given")
            ),
        }),
        status => out.push(StreamEvent::Stop {
            reason: status.map(str::to_owned),
        }),
    }
}

/// Writes Responses API streams: the typed events, with sequence numbers, one `output_text.delta` per token.
pub struct ResponsesEncoder;

/// Events written before the first token (created, in_progress, output_item.added, content_part.added).
const HEAD_EVENTS: u32 = 4;

impl ResponsesEncoder {
    fn item_id(reply: &Reply) -> String {
        format!("msg_{}", reply.id.trim_start_matches("resp_"))
    }

    fn message(reply: &Reply, text: &str, status: &str) -> Value {
        json!({
            "id": ResponsesEncoder::item_id(reply), "type": "message", "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        })
    }

    /// The `response` object; `output` and `usage` only once it has finished.
    fn response(reply: &Reply, status: &str, finished: Option<(&str, u32)>) -> Value {
        let (output, usage) = match finished {
            Some((text, n_tokens)) => (
                json!([ResponsesEncoder::message(reply, text, "completed")]),
                json!({
                    "input_tokens": reply.input_tokens,
                    "input_tokens_details": {"cached_tokens": reply.cached_input_tokens, "cache_write_tokens": 0},
                    "output_tokens": n_tokens,
                    "output_tokens_details": {"reasoning_tokens": 0},
                    "total_tokens": reply.input_tokens + u64::from(n_tokens),
                }),
            ),
            None => (json!([]), Value::Null),
        };
        json!({
            "id": reply.id, "object": "response", "created_at": reply.created, "status": status,
            "error": null, "incomplete_details": null, "model": reply.model, "output": output,
            "parallel_tool_calls": true, "tool_choice": "auto", "tools": [], "usage": usage,
        })
    }
}

impl Encoder for ResponsesEncoder {
    fn head(&self, reply: &Reply) -> Vec<u8> {
        let response = ResponsesEncoder::response(reply, "in_progress", None);
        let mut item = ResponsesEncoder::message(reply, "", "in_progress");
        item["content"] = json!([]);
        let events = [
            json!({"type": "response.created", "sequence_number": 0, "response": response}),
            json!({"type": "response.in_progress", "sequence_number": 1, "response": response}),
            json!({"type": "response.output_item.added", "sequence_number": 2, "output_index": 0, "item": item}),
            json!({"type": "response.content_part.added", "sequence_number": 3,
                   "item_id": ResponsesEncoder::item_id(reply), "output_index": 0, "content_index": 0,
                   "part": {"type": "output_text", "text": "", "annotations": []}}),
        ];
        events
            .iter()
            .map(|e| sse(e["type"].as_str(), e))
            .collect::<String>()
            .into_bytes()
    }

    fn token(&self, reply: &Reply, index: u32, text: &str) -> Vec<u8> {
        let event = json!({
            "type": "response.output_text.delta", "sequence_number": HEAD_EVENTS + index,
            "item_id": ResponsesEncoder::item_id(reply), "output_index": 0, "content_index": 0,
            "delta": text, "logprobs": [],
        });
        sse(Some("response.output_text.delta"), &event).into_bytes()
    }

    fn finish(
        &self,
        reply: &Reply,
        text: &str,
        n_tokens: u32,
        finish: Finish,
        _include_usage: bool,
    ) -> Vec<u8> {
        let seq = HEAD_EVENTS + n_tokens;
        let item_id = ResponsesEncoder::item_id(reply);
        let (kind, status) = match finish {
            Finish::Stop => ("response.completed", "completed"),
            Finish::Length => ("response.incomplete", "incomplete"),
        };
        let mut response = ResponsesEncoder::response(reply, status, Some((text, n_tokens)));
        if finish == Finish::Length {
            response["incomplete_details"] = json!({"reason": "max_output_tokens"});
        }
        let events = [
            json!({"type": "response.output_text.done", "sequence_number": seq, "item_id": item_id,
                   "output_index": 0, "content_index": 0, "text": text, "logprobs": []}),
            json!({"type": "response.content_part.done", "sequence_number": seq + 1, "item_id": item_id,
                   "output_index": 0, "content_index": 0,
                   "part": {"type": "output_text", "text": text, "annotations": []}}),
            json!({"type": "response.output_item.done", "sequence_number": seq + 2, "output_index": 0,
                   "item": ResponsesEncoder::message(reply, text, "completed")}),
            json!({"type": kind, "sequence_number": seq + 3, "response": response}),
        ];
        events
            .iter()
            .map(|e| sse(e["type"].as_str(), e))
            .collect::<String>()
            .into_bytes()
    }

    fn error_event(&self, reply: &Reply, fault: WireFault, message: &str) -> Vec<u8> {
        let code = match fault {
            WireFault::Throttled => "rate_limit_exceeded",
            WireFault::Server => "server_error",
        };
        let mut response = ResponsesEncoder::response(reply, "failed", None);
        response["error"] = json!({"code": code, "message": message});
        let event = json!({"type": "response.failed", "sequence_number": 0, "response": response});
        sse(Some("response.failed"), &event).into_bytes()
    }

    fn body(&self, reply: &Reply, text: &str, n_tokens: u32, finish: Finish) -> Vec<u8> {
        let status = match finish {
            Finish::Stop => "completed",
            Finish::Length => "incomplete",
        };
        let mut response = ResponsesEncoder::response(reply, status, Some((text, n_tokens)));
        if finish == Finish::Length {
            response["incomplete_details"] = json!({"reason": "max_output_tokens"});
        }
        response.to_string().into_bytes()
    }

    fn error_body(&self, status: u16, message: &str) -> Value {
        openai_error_body(status, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(data: &[Value]) -> Vec<StreamEvent> {
        let mut interpreter = ResponsesInterpreter::default();
        let mut out = Vec::new();
        for d in data {
            interpreter.message(None, &d.to_string(), &mut out).unwrap();
        }
        out
    }

    #[test]
    fn an_empty_first_text_delta_still_counts_as_the_first_token() {
        let out = events(&[json!({"type": "response.output_text.delta", "delta": ""})]);
        assert_eq!(
            out,
            [StreamEvent::Output {
                kind: OutputKind::Visible,
                text: String::new()
            }]
        );
    }

    #[test]
    fn a_length_cut_is_a_stop_and_other_incomplete_reasons_fail() {
        let incomplete = |reason: &str| {
            json!({"type": "response.incomplete", "response": {"status": "incomplete",
                   "incomplete_details": {"reason": reason}}})
        };
        assert_eq!(
            events(&[incomplete("max_output_tokens")]),
            [StreamEvent::Stop {
                reason: Some("length".into())
            }]
        );
        assert!(matches!(
            events(&[incomplete("content_filter")])[..],
            [StreamEvent::ProviderError { throttled: false, ref message }] if message.contains("content_filter")
        ));
    }

    #[test]
    fn failed_responses_and_error_events_are_typed() {
        let failed = json!({"type": "response.failed", "response": {"status": "failed",
            "error": {"code": "rate_limit_exceeded", "message": "slow down"}}});
        assert_eq!(
            events(&[failed]),
            [StreamEvent::ProviderError {
                throttled: true,
                message: "slow down".into()
            }]
        );
        let error = json!({"type": "error", "code": "server_error", "message": "boom"});
        assert!(matches!(
            events(&[error])[..],
            [StreamEvent::ProviderError { throttled: false, .. }]
        ));
    }

    #[test]
    fn prompt_text_reads_instructions_and_inputs() {
        let payload = json!({"instructions": "be brief", "input": [
            {"role": "user", "content": "a"}, {"role": "user", "content": [{"type": "input_text", "text": "b"}]}]});
        assert_eq!(prompt_text(&payload).as_deref(), Some("be brief\na\nb"));
    }
}
