//! OpenAI Chat Completions (`POST {base}/chat/completions`): the payload shape, the interpreter of streamed
//! `chat.completion.chunk`s (ending in `data: [DONE]`) and of the one-body `chat.completion`, and the encoder.
//!
//! Works for OpenAI, vLLM, SGLang, Ollama, LiteLLM proxies and other OpenAI-compatible servers.

use serde_json::{json, Map, Value};

use crate::framing::{count_at, json_object, message_object};
use crate::wire::{openai_error_body, sse, Encoder, Finish, Reply, WireFault};
use crate::{Completion, Interpreter, OutputKind, ProtocolError, StreamEvent, Usage};

/// A payload in LLMeter's `create_payload` shape: one user message and `max_tokens`.
pub fn create_payload(prompt: &str, max_tokens: u32) -> Value {
    json!({ "messages": [{ "role": "user", "content": prompt }], "max_tokens": max_tokens })
}

/// The human-readable prompt of a payload: the text of its messages, joined by newlines.
pub fn prompt_text(payload: &Value) -> Option<String> {
    let messages = payload.get("messages")?.as_array()?;
    let mut parts = Vec::new();
    for m in messages {
        match m.get("content") {
            Some(Value::String(s)) => parts.push(s.clone()),
            Some(Value::Array(items)) => parts.extend(
                items
                    .iter()
                    .filter_map(|i| i.get("text").and_then(Value::as_str).map(str::to_owned)),
            ),
            _ => {}
        }
    }
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// As LLMeter does, a streamed request asks for usage with `stream_options.include_usage`, unless the payload
/// already has `stream_options` (kept as given, even `include_usage: false`).
pub(crate) fn add_stream_options(body: &mut Map<String, Value>, stream: bool) {
    if stream && !body.contains_key("stream_options") {
        body.insert("stream_options".into(), json!({ "include_usage": true }));
    }
}

/// Interprets Chat Completions chunks (streamed) or a whole completion (one body).
#[derive(Debug, Default)]
pub struct ChatInterpreter {
    saw_id: bool,
    completion: Completion,
}

impl Interpreter for ChatInterpreter {
    fn message(
        &mut self,
        _event: Option<&str>,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ProtocolError> {
        let data = data.trim();
        if data == "[DONE]" {
            self.completion = Completion::Complete;
            return Ok(());
        }
        let Some(chunk) = message_object(data, "chunk")? else {
            return Ok(());
        };
        if decode_chunk(&chunk, &mut self.saw_id, out) {
            self.completion = self.completion.max(Completion::Finished);
        }
        Ok(())
    }

    fn body(&mut self, body: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        let value = json_object(body, "response")?;
        decode_chunk(&value, &mut self.saw_id, out);
        Ok(())
    }

    fn completion(&self) -> Completion {
        self.completion
    }

    fn terminal_event(&self) -> &'static str {
        "finish_reason or [DONE]"
    }
}

/// Decodes one chunk (or a whole non-streamed completion); returns true if it carried a finish reason.
fn decode_chunk(chunk: &Value, saw_id: &mut bool, out: &mut Vec<StreamEvent>) -> bool {
    if let Some(err) = chunk.get("error").filter(|e| !e.is_null()) {
        out.push(provider_error(err));
        return false;
    }
    // vLLM-style error objects: `{"object": "error", "message": …, "code": …}` at the top level.
    if chunk.get("object").and_then(Value::as_str) == Some("error") {
        out.push(provider_error(chunk));
        return false;
    }
    if !*saw_id {
        if let Some(id) = chunk.get("id").and_then(Value::as_str) {
            *saw_id = true;
            out.push(StreamEvent::ResponseId(id.to_owned()));
        }
    }
    let mut stopped = false;
    if let Some(choice) = chunk.get("choices").and_then(|c| c.get(0)) {
        let delta = choice.get("delta").or_else(|| choice.get("message"));
        if let Some(delta) = delta {
            for key in ["reasoning_content", "reasoning"] {
                if let Some(text) = delta.get(key).and_then(Value::as_str).filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::Output {
                        kind: OutputKind::Reasoning,
                        text: text.to_owned(),
                    });
                }
            }
            if let Some(text) = delta
                .get("content")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                out.push(StreamEvent::Output {
                    kind: OutputKind::Visible,
                    text: text.to_owned(),
                });
            }
        }
        match choice.get("finish_reason").and_then(Value::as_str) {
            // SGLang and vLLM end aborted or failed generations with these reasons: a failure, not a stop.
            Some(reason @ ("abort" | "error")) => out.push(StreamEvent::ProviderError {
                throttled: false,
                message: format!("generation ended with finish_reason {reason:?}"),
            }),
            Some(reason) => {
                out.push(StreamEvent::Stop {
                    reason: Some(reason.to_owned()),
                });
                stopped = true;
            }
            None => {}
        }
    }
    if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
        out.push(StreamEvent::Usage(Usage {
            input_tokens: count_at(usage, "/prompt_tokens"),
            output_tokens: count_at(usage, "/completion_tokens"),
            cached_input_tokens: count_at(usage, "/prompt_tokens_details/cached_tokens"),
            reasoning_output_tokens: count_at(usage, "/completion_tokens_details/reasoning_tokens"),
        }));
    }
    stopped
}

/// A provider error event from an OpenAI-style error object (`message`, `code`, `type`).
pub(crate) fn provider_error(err: &Value) -> StreamEvent {
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| err.to_string());
    let code = [err.get("code"), err.get("type")]
        .into_iter()
        .flatten()
        .map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
        .collect::<Vec<_>>()
        .join(" ");
    let throttled = code.contains("rate_limit") || code.contains("429") || code.contains("throttl");
    StreamEvent::ProviderError { throttled, message }
}

/// Writes Chat Completions responses: one `chat.completion.chunk` per token.
pub struct ChatEncoder;

impl ChatEncoder {
    fn chunk(reply: &Reply, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": reply.id, "object": "chat.completion.chunk", "created": reply.created, "model": reply.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        })
    }

    fn usage(reply: &Reply, n_tokens: u32) -> Value {
        json!({
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": n_tokens,
            "total_tokens": reply.input_tokens + u64::from(n_tokens),
            "prompt_tokens_details": {"cached_tokens": reply.cached_input_tokens},
            "completion_tokens_details": {"reasoning_tokens": 0},
        })
    }
}

fn finish_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "stop",
        Finish::Length => "length",
    }
}

impl Encoder for ChatEncoder {
    fn head(&self, reply: &Reply) -> Vec<u8> {
        let role = ChatEncoder::chunk(reply, json!({"role": "assistant", "content": ""}), None);
        sse(None, &role).into_bytes()
    }

    fn token(&self, reply: &Reply, _index: u32, text: &str) -> Vec<u8> {
        sse(None, &ChatEncoder::chunk(reply, json!({"content": text}), None)).into_bytes()
    }

    fn finish(
        &self,
        reply: &Reply,
        _text: &str,
        n_tokens: u32,
        finish: Finish,
        include_usage: bool,
    ) -> Vec<u8> {
        let mut text = sse(
            None,
            &ChatEncoder::chunk(reply, json!({}), Some(finish_reason(finish))),
        );
        if include_usage {
            let usage = json!({
                "id": reply.id, "object": "chat.completion.chunk", "created": reply.created, "model": reply.model,
                "choices": [], "usage": ChatEncoder::usage(reply, n_tokens),
            });
            text.push_str(&sse(None, &usage));
        }
        text.push_str("data: [DONE]\n\n");
        text.into_bytes()
    }

    fn error_event(&self, _reply: &Reply, fault: WireFault, message: &str) -> Vec<u8> {
        let status = match fault {
            WireFault::Throttled => 429,
            WireFault::Server => 500,
        };
        sse(None, &openai_error_body(status, message)).into_bytes()
    }

    fn body(&self, reply: &Reply, text: &str, n_tokens: u32, finish: Finish) -> Vec<u8> {
        json!({
            "id": reply.id, "object": "chat.completion", "created": reply.created, "model": reply.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": null},
                "logprobs": null,
                "finish_reason": finish_reason(finish),
            }],
            "usage": ChatEncoder::usage(reply, n_tokens),
        })
        .to_string()
        .into_bytes()
    }

    fn error_body(&self, status: u16, message: &str) -> Value {
        openai_error_body(status, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::{JsonBody, SseStream};
    use crate::ResponseDecoder;

    fn decode(
        decoder: &mut dyn ResponseDecoder,
        pieces: &[&[u8]],
    ) -> Result<Vec<StreamEvent>, ProtocolError> {
        let mut out = Vec::new();
        for piece in pieces {
            decoder.push(piece, &mut out)?;
        }
        decoder.finish(&mut out)?;
        Ok(out)
    }

    #[test]
    fn user_stream_options_are_kept() {
        let mut body = Map::new();
        body.insert("stream_options".into(), json!({"include_usage": false}));
        add_stream_options(&mut body, true);
        assert_eq!(body["stream_options"], json!({"include_usage": false}));
    }

    #[test]
    fn prompt_text_joins_string_and_part_contents() {
        let payload = json!({"messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hello"}, {"type": "image_url"}]}
        ]});
        assert_eq!(prompt_text(&payload).as_deref(), Some("be brief\nhello"));
        assert_eq!(prompt_text(&json!({})), None);
    }

    #[test]
    fn aborted_generations_and_error_objects_are_provider_errors() {
        for body in [
            &br#"data: {"id":"a","choices":[{"delta":{"content":"x"},"finish_reason":"abort"}]}"#[..],
            br#"data: {"object":"error","message":"model overloaded","code":503}"#,
        ] {
            let mut d = SseStream::new(ChatInterpreter::default());
            let out = decode(&mut d, &[body, b"\n\ndata: [DONE]\n\n"]).unwrap();
            assert!(
                out.iter()
                    .any(|e| matches!(e, StreamEvent::ProviderError { throttled: false, .. })),
                "{out:?}"
            );
        }
    }

    #[test]
    fn a_ragged_tail_after_done_is_not_a_failure() {
        let mut d = SseStream::new(ChatInterpreter::default());
        let mut out = Vec::new();
        d.push(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}]}\n\n",
            &mut out,
        )
        .unwrap();
        assert!(!d.is_complete());
        d.push(b"data: [DONE]\n\n: ping", &mut out).unwrap();
        assert!(d.is_complete());
        assert_eq!(d.finish(&mut out), Ok(()));
    }

    #[test]
    fn non_streamed_completion() {
        let mut d = JsonBody::new(ChatInterpreter::default());
        let body = br#"{"id":"c1","choices":[{"message":{"content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#;
        let mut out = Vec::new();
        d.push(&body[..10], &mut out).unwrap();
        d.push(&body[10..], &mut out).unwrap();
        assert!(out.is_empty());
        d.finish(&mut out).unwrap();
        assert_eq!(out[0], StreamEvent::ResponseId("c1".into()));
        assert_eq!(
            out[1],
            StreamEvent::Output {
                kind: OutputKind::Visible,
                text: "hello".into()
            }
        );
        assert!(matches!(
            out[3],
            StreamEvent::Usage(Usage {
                input_tokens: Some(3),
                output_tokens: Some(1),
                ..
            })
        ));
    }
}
