//! Anthropic Messages (`POST {base}/v1/messages`): the payload shape, the interpreter of its SSE events
//! (`message_start`, `content_block_delta`, `message_delta`, `message_stop`, `error`) and of the one-body
//! `message`, and the encoder.
//!
//! Timing and tokens follow LLMeter: input and cache-read tokens come from `message_start`, output tokens from
//! `message_delta` (cumulative); `thinking_delta` and `signature_delta` count toward TTFT, not the visible TTFT.
//! An `error` event is a failure; `overloaded_error` and `rate_limit_error` count as throttled.
//! Events are told apart by their JSON `type`, so the same interpreter reads the bodies that Bedrock's
//! InvokeModel wraps in event-stream frames.

use serde_json::{json, Value};

use crate::framing::{count_at, json_object, message_object, text_at};
use crate::wire::{sse, Encoder, Finish, Reply, WireFault};
use crate::{Completion, Interpreter, OutputKind, ProtocolError, StreamEvent, Usage};

/// The `anthropic-version` header value.
pub const VERSION: &str = "2023-06-01";

/// A payload in LLMeter's `create_payload` shape: one user message and `max_tokens`.
pub fn create_payload(prompt: &str, max_tokens: u32) -> Value {
    json!({ "messages": [{ "role": "user", "content": prompt }], "max_tokens": max_tokens })
}

/// The prompt of a payload: `system` and the text of its messages, joined by newlines.
pub fn prompt_text(payload: &Value) -> Option<String> {
    let mut parts = Vec::new();
    let mut add = |content: Option<&Value>| match content {
        Some(Value::String(s)) => parts.push(s.clone()),
        Some(Value::Array(blocks)) => parts.extend(
            blocks
                .iter()
                .filter_map(|b| b.get("text").and_then(Value::as_str).map(str::to_owned)),
        ),
        _ => {}
    };
    add(payload.get("system"));
    for message in payload
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        add(message.get("content"));
    }
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// Interprets Messages events (streamed) or a whole `message` (one body).
#[derive(Debug, Default)]
pub struct MessagesInterpreter {
    completion: Completion,
}

impl Interpreter for MessagesInterpreter {
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
            "message_start" => {
                if let Some(id) = text_at(&value, "/message/id") {
                    out.push(StreamEvent::ResponseId(id.to_owned()));
                }
                out.push(StreamEvent::Usage(Usage {
                    input_tokens: count_at(&value, "/message/usage/input_tokens"),
                    cached_input_tokens: count_at(&value, "/message/usage/cache_read_input_tokens"),
                    ..Usage::default()
                }));
            }
            "content_block_delta" => match text_at(&value, "/delta/type") {
                Some("text_delta") => {
                    if let Some(text) = text_at(&value, "/delta/text").filter(|t| !t.is_empty()) {
                        out.push(StreamEvent::Output {
                            kind: OutputKind::Visible,
                            text: text.to_owned(),
                        });
                    }
                }
                Some("thinking_delta") | Some("signature_delta") => out.push(StreamEvent::Output {
                    kind: OutputKind::Reasoning,
                    text: text_at(&value, "/delta/thinking").unwrap_or_default().to_owned(),
                }),
                _ => {}
            },
            "message_delta" => {
                // Not the end yet: only `message_stop` completes a message.
                if let Some(reason) = text_at(&value, "/delta/stop_reason") {
                    out.push(StreamEvent::Stop {
                        reason: Some(reason.to_owned()),
                    });
                }
                if let Some(output) = count_at(&value, "/usage/output_tokens") {
                    out.push(StreamEvent::Usage(Usage {
                        output_tokens: Some(output),
                        ..Usage::default()
                    }));
                }
            }
            "message_stop" => self.completion = Completion::Complete,
            "error" => out.push(error_event(&value)),
            _ => {} // ping, content_block_start/stop, and event types added later
        }
        Ok(())
    }

    fn body(&mut self, body: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        let message = json_object(body, "response")?;
        if message.get("type").and_then(Value::as_str) == Some("error") {
            out.push(error_event(&message));
            return Ok(());
        }
        if let Some(id) = text_at(&message, "/id") {
            out.push(StreamEvent::ResponseId(id.to_owned()));
        }
        let blocks = message.get("content").and_then(Value::as_array);
        for block in blocks.into_iter().flatten() {
            if block.get("type").and_then(Value::as_str) == Some("text") {
                if let Some(text) = text_at(block, "/text").filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::Output {
                        kind: OutputKind::Visible,
                        text: text.to_owned(),
                    });
                }
            }
        }
        out.push(StreamEvent::Usage(Usage {
            input_tokens: count_at(&message, "/usage/input_tokens"),
            output_tokens: count_at(&message, "/usage/output_tokens"),
            cached_input_tokens: count_at(&message, "/usage/cache_read_input_tokens"),
            reasoning_output_tokens: None,
        }));
        out.push(StreamEvent::Stop {
            reason: text_at(&message, "/stop_reason").map(str::to_owned),
        });
        Ok(())
    }

    fn completion(&self) -> Completion {
        self.completion
    }

    fn terminal_event(&self) -> &'static str {
        "message_stop"
    }
}

/// An `{"type": "error", "error": {"type", "message"}}` event or body as a provider error.
fn error_event(value: &Value) -> StreamEvent {
    let kind = text_at(value, "/error/type").unwrap_or("error");
    let message = text_at(value, "/error/message").unwrap_or("no message");
    StreamEvent::ProviderError {
        throttled: matches!(kind, "overloaded_error" | "rate_limit_error"),
        message: format!("{kind}: {message}"),
    }
}

/// Writes Messages streams: one text block, one `text_delta` per token.
pub struct MessagesEncoder;

fn stop_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
    }
}

impl MessagesEncoder {
    fn usage(reply: &Reply, output_tokens: u32) -> Value {
        json!({
            "input_tokens": reply.input_tokens, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": reply.cached_input_tokens,
            "output_tokens": output_tokens,
        })
    }
}

impl Encoder for MessagesEncoder {
    fn head(&self, reply: &Reply) -> Vec<u8> {
        let start = json!({"type": "message_start", "message": {
            "id": reply.id, "type": "message", "role": "assistant", "content": [], "model": reply.model,
            "stop_reason": null, "stop_sequence": null, "usage": MessagesEncoder::usage(reply, 1),
        }});
        let block =
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}});
        let mut text = sse(Some("message_start"), &start);
        text.push_str(&sse(Some("content_block_start"), &block));
        text.push_str(&sse(Some("ping"), &json!({"type": "ping"})));
        text.into_bytes()
    }

    fn token(&self, _reply: &Reply, _index: u32, text: &str) -> Vec<u8> {
        let delta =
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}});
        sse(Some("content_block_delta"), &delta).into_bytes()
    }

    fn finish(
        &self,
        _reply: &Reply,
        _text: &str,
        n_tokens: u32,
        finish: Finish,
        _include_usage: bool,
    ) -> Vec<u8> {
        let delta = json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason(finish), "stop_sequence": null},
            "usage": {"output_tokens": n_tokens}});
        let mut text = sse(
            Some("content_block_stop"),
            &json!({"type": "content_block_stop", "index": 0}),
        );
        text.push_str(&sse(Some("message_delta"), &delta));
        text.push_str(&sse(Some("message_stop"), &json!({"type": "message_stop"})));
        text.into_bytes()
    }

    fn error_event(&self, _reply: &Reply, fault: WireFault, message: &str) -> Vec<u8> {
        let kind = match fault {
            WireFault::Throttled => "overloaded_error",
            WireFault::Server => "api_error",
        };
        let event = json!({"type": "error", "error": {"type": kind, "message": message}});
        sse(Some("error"), &event).into_bytes()
    }

    fn body(&self, reply: &Reply, text: &str, n_tokens: u32, finish: Finish) -> Vec<u8> {
        json!({
            "id": reply.id, "type": "message", "role": "assistant", "model": reply.model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": stop_reason(finish), "stop_sequence": null,
            "usage": MessagesEncoder::usage(reply, n_tokens),
        })
        .to_string()
        .into_bytes()
    }

    fn error_body(&self, status: u16, message: &str) -> Value {
        let kind = match status {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            529 => "overloaded_error",
            400..=499 => "invalid_request_error",
            _ => "api_error",
        };
        json!({"type": "error", "error": {"type": kind, "message": message}})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(data: &[Value]) -> (Vec<StreamEvent>, Completion) {
        let mut interpreter = MessagesInterpreter::default();
        let mut out = Vec::new();
        for d in data {
            interpreter.message(None, &d.to_string(), &mut out).unwrap();
        }
        (out, interpreter.completion())
    }

    #[test]
    fn tokens_come_from_message_start_and_message_delta() {
        let (out, completion) = events(&[
            json!({"type": "message_start", "message": {"id": "msg_1",
                   "usage": {"input_tokens": 12, "cache_read_input_tokens": 4, "output_tokens": 1}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi"}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}),
        ]);
        assert_eq!(
            completion,
            Completion::Open,
            "only message_stop completes a message"
        );
        assert_eq!(out[0], StreamEvent::ResponseId("msg_1".into()));
        assert_eq!(
            out[1],
            StreamEvent::Usage(Usage {
                input_tokens: Some(12),
                cached_input_tokens: Some(4),
                ..Usage::default()
            })
        );
        assert!(matches!(&out[2], StreamEvent::Output { kind: OutputKind::Reasoning, text } if text == "hm"));
        assert!(matches!(&out[3], StreamEvent::Output { kind: OutputKind::Visible, text } if text == "Hi"));
        assert_eq!(
            out[5],
            StreamEvent::Usage(Usage {
                output_tokens: Some(9),
                ..Usage::default()
            })
        );
    }

    #[test]
    fn overloaded_is_throttled_and_other_errors_are_not() {
        let error = |kind: &str| json!({"type": "error", "error": {"type": kind, "message": "m"}});
        assert!(matches!(
            events(&[error("overloaded_error")]).0[..],
            [StreamEvent::ProviderError { throttled: true, .. }]
        ));
        assert!(matches!(
            events(&[error("api_error")]).0[..],
            [StreamEvent::ProviderError { throttled: false, .. }]
        ));
    }
}
