//! OpenAI Chat Completions (`POST {base}/chat/completions`): the request builder and the response decoders,
//! streaming (SSE `chat.completion.chunk`s ending in `data: [DONE]`) and non-streaming (one JSON body).
//!
//! Works for OpenAI, vLLM, SGLang, LiteLLM proxies and other OpenAI-compatible servers.

use serde_json::{json, Value};

use crate::protocol::sse::{SseDecoder, SseEvent};
use crate::protocol::{HttpRequest, OutputKind, ProtocolError, ResponseDecoder, StreamEvent, Usage};

/// Where and how to call a Chat Completions endpoint. The API key is only ever placed in a request header.
#[derive(Clone, PartialEq, Eq)]
pub struct ChatCompletions {
    /// The full endpoint URL, e.g. `https://api.openai.com/v1/chat/completions`.
    pub url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub stream: bool,
}

impl std::fmt::Debug for ChatCompletions {
    // Hand-written so that an API key can never reach a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatCompletions")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("stream", &self.stream)
            .finish()
    }
}

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

impl ChatCompletions {
    /// The payload as it will be sent: the model forced, `stream` set, and — as LLMeter does — streaming usage
    /// requested with `stream_options.include_usage` unless the payload already has `stream_options`.
    pub fn prepare_payload(&self, payload: &Value) -> Result<Value, ProtocolError> {
        let mut body = payload.clone();
        let obj = body
            .as_object_mut()
            .ok_or_else(|| ProtocolError::Malformed("payload must be a JSON object".into()))?;
        obj.insert("model".into(), Value::String(self.model.clone()));
        obj.insert("stream".into(), Value::Bool(self.stream));
        if self.stream && !obj.contains_key("stream_options") {
            obj.insert("stream_options".into(), json!({ "include_usage": true }));
        }
        Ok(body)
    }

    /// The HTTP request for `payload` (already prepared or not: preparing is idempotent).
    pub fn build_request(&self, payload: &Value) -> Result<HttpRequest, ProtocolError> {
        let body = self.prepare_payload(payload)?;
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        if let Some(key) = self.api_key.as_deref().filter(|k| !k.is_empty()) {
            headers.push(("authorization".to_owned(), format!("Bearer {key}")));
        }
        Ok(HttpRequest {
            method: "POST".into(),
            url: self.url.clone(),
            headers,
            body: serde_json::to_vec(&body).expect("a JSON value always serialises"),
        })
    }

    /// A fresh decoder for one response of this endpoint.
    pub fn decoder(&self) -> Box<dyn ResponseDecoder> {
        if self.stream {
            Box::new(ChatStreamDecoder::default())
        } else {
            Box::new(ChatJsonDecoder::default())
        }
    }
}

/// Decodes a streamed Chat Completions response.
#[derive(Debug, Default)]
pub struct ChatStreamDecoder {
    sse: SseDecoder,
    events: Vec<SseEvent>,
    saw_id: bool,
    saw_done: bool,
    saw_stop: bool,
}

impl ResponseDecoder for ChatStreamDecoder {
    fn push(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        self.sse.push(bytes, &mut self.events)?;
        self.drain(out)
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        let tail = self.sse.finish(&mut self.events);
        self.drain(out)?;
        match tail {
            // A half-written keep-alive or `[DONE]` after the finish reason does not undo a complete answer.
            _ if self.saw_done || self.saw_stop => Ok(()),
            Err(e) => Err(e),
            Ok(()) => Err(ProtocolError::Truncated(
                "stream ended without finish_reason or [DONE]".into(),
            )),
        }
    }

    fn is_complete(&self) -> bool {
        self.saw_done
    }
}

impl ChatStreamDecoder {
    fn drain(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        for event in std::mem::take(&mut self.events) {
            let data = event.data.trim();
            if data == "[DONE]" {
                self.saw_done = true;
                continue;
            }
            if data.is_empty() {
                continue;
            }
            let chunk: Value = serde_json::from_str(data)
                .map_err(|e| ProtocolError::Malformed(format!("chunk is not JSON ({e}): {}", clip(data))))?;
            self.saw_stop |= decode_chunk(&chunk, &mut self.saw_id, out);
        }
        Ok(())
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
            input_tokens: usage.get("prompt_tokens").and_then(Value::as_u64),
            output_tokens: usage.get("completion_tokens").and_then(Value::as_u64),
            cached_input_tokens: usage
                .pointer("/prompt_tokens_details/cached_tokens")
                .and_then(Value::as_u64),
            reasoning_output_tokens: usage
                .pointer("/completion_tokens_details/reasoning_tokens")
                .and_then(Value::as_u64),
        }));
    }
    stopped
}

fn provider_error(err: &Value) -> StreamEvent {
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

/// Decodes a non-streamed Chat Completions response: the body is buffered and parsed once complete.
#[derive(Debug, Default)]
pub struct ChatJsonDecoder {
    body: Vec<u8>,
}

impl ResponseDecoder for ChatJsonDecoder {
    fn push(&mut self, bytes: &[u8], _out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        self.body.extend_from_slice(bytes);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        let value: Value = serde_json::from_slice(&self.body).map_err(|e| {
            ProtocolError::Malformed(format!(
                "response is not JSON ({e}): {}",
                clip(&String::from_utf8_lossy(&self.body))
            ))
        })?;
        let mut saw_id = false;
        decode_chunk(&value, &mut saw_id, out);
        Ok(())
    }

    fn is_streaming(&self) -> bool {
        false
    }
}

/// At most 200 characters of `s`, for error messages.
fn clip(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(stream: bool) -> ChatCompletions {
        ChatCompletions {
            url: "http://127.0.0.1:8787/v1/chat/completions".into(),
            model: "mock-model".into(),
            api_key: Some("sk-secret".into()),
            stream,
        }
    }

    #[test]
    fn request_forces_model_and_stream_and_adds_usage_option() {
        let req = endpoint(true)
            .build_request(&create_payload("hi there", 20))
            .unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.header("Authorization"), Some("Bearer sk-secret"));
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["model"], "mock-model");
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
        assert_eq!(body["max_tokens"], 20);
    }

    #[test]
    fn user_stream_options_are_kept() {
        let payload = json!({"messages": [], "stream_options": {"include_usage": false}});
        let body = endpoint(true).prepare_payload(&payload).unwrap();
        assert_eq!(body["stream_options"], json!({"include_usage": false}));
        assert!(endpoint(true).prepare_payload(&json!([1])).is_err());
    }

    #[test]
    fn debug_never_shows_the_key() {
        assert!(!format!("{:?}", endpoint(true)).contains("sk-secret"));
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
            let mut d = ChatStreamDecoder::default();
            let mut out = Vec::new();
            d.push(body, &mut out).unwrap();
            d.push(b"\n\ndata: [DONE]\n\n", &mut out).unwrap();
            d.finish(&mut out).unwrap();
            assert!(
                out.iter()
                    .any(|e| matches!(e, StreamEvent::ProviderError { throttled: false, .. })),
                "{out:?}"
            );
        }
    }

    #[test]
    fn a_ragged_tail_after_done_is_not_a_failure() {
        let mut d = ChatStreamDecoder::default();
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
        let mut d = endpoint(false).decoder();
        let mut out = Vec::new();
        let body = br#"{"id":"c1","choices":[{"message":{"content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#;
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
