//! Bedrock Converse (`POST /model/{modelId}/converse`) and ConverseStream (`…/converse-stream`): the payload shape,
//! the interpreter of the stream's events and of the one-body response, and the encoder.
//!
//! Stream events (each an event-stream frame whose `:event-type` names it): `messageStart`, `contentBlockStart`,
//! `contentBlockDelta` (`delta.text` is visible output, `delta.reasoningContent` reasoning), `contentBlockStop`,
//! `messageStop` (`stopReason`) and `metadata` (`usage`, `metrics.latencyMs`). As LLMeter does, an empty text delta
//! is ignored and `metadata.usage` counts are summed over metadata events.
//!
//! Completion: `messageStop` finishes the answer; `metadata`, which follows it, is the terminal event. A stream that
//! ends after `messageStop` without `metadata` is not a failure (as Chat Completions' `[DONE]` may be lost after a
//! finish reason); it only lacks the service's usage and latency.
//!
//! With no event name, a message is read in the wrapped form (`{"contentBlockDelta": {…}}`), which is how Amazon
//! Nova's InvokeModel stream chunks look; its one-body InvokeModel response is Converse's too.

use std::time::Duration;

use serde_json::{json, Value};

use crate::aws::eventstream::{event_frame, exception_frame};
use crate::framing::{count_at, json_object, message_object, text_at};
use crate::wire::{Encoder, Finish, Reply, WireFault};
use crate::{Completion, Interpreter, OutputKind, ProtocolError, ServerLatency, StreamEvent, Usage};

/// The event names of a ConverseStream.
const EVENTS: [&str; 6] = [
    "messageStart",
    "contentBlockStart",
    "contentBlockDelta",
    "contentBlockStop",
    "messageStop",
    "metadata",
];

/// A payload in LLMeter's `create_payload` shape: one user message of one text block and
/// `inferenceConfig.maxTokens`. The model id goes in the URL, not the body.
pub fn create_payload(prompt: &str, max_tokens: u32) -> Value {
    json!({
        "messages": [{"role": "user", "content": [{"text": prompt}]}],
        "inferenceConfig": {"maxTokens": max_tokens},
    })
}

/// The payload as it is sent: LLMeter's `modelId` (which goes in the path) and any `stream` flag removed.
pub fn prepare_payload(payload: &Value) -> Result<Value, ProtocolError> {
    let mut body = payload.clone();
    let obj = body
        .as_object_mut()
        .ok_or_else(|| ProtocolError::Malformed("the payload must be a JSON object".into()))?;
    obj.remove("modelId");
    obj.remove("stream");
    Ok(body)
}

/// Interprets ConverseStream events (streamed) or a Converse response (one body).
#[derive(Debug, Default)]
pub struct ConverseInterpreter {
    completion: Completion,
    /// Usage summed over `metadata` events, as LLMeter does.
    usage: Usage,
    latency: Option<ServerLatency>,
}

impl ConverseInterpreter {
    fn event(&mut self, name: &str, value: &Value, out: &mut Vec<StreamEvent>) {
        match name {
            "contentBlockDelta" => {
                let Some(delta) = value.get("delta") else { return };
                if let Some(text) = delta
                    .get("text")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                {
                    out.push(StreamEvent::Output {
                        kind: OutputKind::Visible,
                        text: text.to_owned(),
                    });
                }
                // Reasoning text, or its signature / redacted content: thinking output all the same.
                if let Some(reasoning) = delta.get("reasoningContent").filter(|r| r.is_object()) {
                    out.push(StreamEvent::Output {
                        kind: OutputKind::Reasoning,
                        text: text_at(reasoning, "/text").unwrap_or_default().to_owned(),
                    });
                }
            }
            "messageStop" => {
                out.push(StreamEvent::Stop {
                    reason: text_at(value, "/stopReason").map(str::to_owned),
                });
                self.completion = self.completion.max(Completion::Finished);
            }
            "metadata" => {
                if let Some(usage) = value.get("usage") {
                    let add = |sum: &mut Option<u64>, key: &str| {
                        if let Some(n) = count_at(usage, key) {
                            *sum = Some(sum.unwrap_or(0) + n);
                        }
                    };
                    add(&mut self.usage.input_tokens, "/inputTokens");
                    add(&mut self.usage.output_tokens, "/outputTokens");
                    add(&mut self.usage.cached_input_tokens, "/cacheReadInputTokens");
                    out.push(StreamEvent::Usage(self.usage));
                }
                self.read_latency(value);
                self.completion = Completion::Complete;
            }
            _ => {} // messageStart, contentBlockStart/Stop, and events added later
        }
    }

    fn read_latency(&mut self, value: &Value) {
        if let Some(ms) = count_at(value, "/metrics/latencyMs") {
            self.latency = Some(ServerLatency {
                first_byte: None,
                total: Some(Duration::from_millis(ms)),
            });
        }
    }
}

impl Interpreter for ConverseInterpreter {
    fn message(
        &mut self,
        event: Option<&str>,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ProtocolError> {
        let Some(value) = message_object(data, "event")? else {
            return Ok(());
        };
        match event {
            Some(name) => self.event(name, &value, out),
            // The wrapped form: `{"contentBlockDelta": {…}}`.
            None => {
                for name in EVENTS {
                    if let Some(inner) = value.get(name) {
                        self.event(name, inner, out);
                    }
                }
            }
        }
        Ok(())
    }

    fn body(&mut self, body: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        let value = json_object(body, "response")?;
        let message = value
            .pointer("/output/message")
            .ok_or_else(|| ProtocolError::Malformed("a Converse response without output.message".into()))?;
        for block in message
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(text) = text_at(block, "/text").filter(|t| !t.is_empty()) {
                out.push(StreamEvent::Output {
                    kind: OutputKind::Visible,
                    text: text.to_owned(),
                });
            }
            if let Some(text) = text_at(block, "/reasoningContent/reasoningText/text") {
                out.push(StreamEvent::Output {
                    kind: OutputKind::Reasoning,
                    text: text.to_owned(),
                });
            }
        }
        out.push(StreamEvent::Stop {
            reason: text_at(&value, "/stopReason").map(str::to_owned),
        });
        out.push(StreamEvent::Usage(Usage {
            input_tokens: count_at(&value, "/usage/inputTokens"),
            output_tokens: count_at(&value, "/usage/outputTokens"),
            cached_input_tokens: count_at(&value, "/usage/cacheReadInputTokens"),
            reasoning_output_tokens: None,
        }));
        self.read_latency(&value);
        self.completion = Completion::Complete;
        Ok(())
    }

    fn completion(&self) -> Completion {
        self.completion
    }

    fn terminal_event(&self) -> &'static str {
        "messageStop"
    }

    fn server_latency(&self) -> Option<ServerLatency> {
        self.latency
    }
}

/// Writes ConverseStream streams (event-stream frames: one text block, one `contentBlockDelta` per token) and
/// Converse bodies.
pub struct ConverseEncoder;

fn stop_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
    }
}

fn event(name: &str, payload: &Value) -> Vec<u8> {
    event_frame(name, "application/json", payload.to_string().as_bytes())
}

fn usage(reply: &Reply, n_tokens: u32) -> Value {
    json!({
        "inputTokens": reply.input_tokens,
        "outputTokens": n_tokens,
        "totalTokens": reply.input_tokens + u64::from(n_tokens),
        "cacheReadInputTokens": reply.cached_input_tokens,
    })
}

fn millis(d: Option<Duration>) -> u64 {
    d.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl ConverseEncoder {
    /// The closing events with the service latency to report (`metrics.latencyMs` = `latency.total`).
    pub fn finish_timed(
        &self,
        reply: &Reply,
        n_tokens: u32,
        finish: Finish,
        latency: ServerLatency,
    ) -> Vec<u8> {
        let mut bytes = event("contentBlockStop", &json!({"contentBlockIndex": 0}));
        bytes.extend(event("messageStop", &json!({"stopReason": stop_reason(finish)})));
        bytes.extend(event(
            "metadata",
            &json!({"usage": usage(reply, n_tokens), "metrics": {"latencyMs": millis(latency.total)}}),
        ));
        bytes
    }

    /// A Converse body with the service latency to report.
    pub fn body_timed(
        &self,
        reply: &Reply,
        text: &str,
        n_tokens: u32,
        finish: Finish,
        latency: ServerLatency,
    ) -> Vec<u8> {
        json!({
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": stop_reason(finish),
            "usage": usage(reply, n_tokens),
            "metrics": {"latencyMs": millis(latency.total)},
        })
        .to_string()
        .into_bytes()
    }
}

impl Encoder for ConverseEncoder {
    fn head(&self, _reply: &Reply) -> Vec<u8> {
        event("messageStart", &json!({"role": "assistant"}))
    }

    fn token(&self, _reply: &Reply, _index: u32, text: &str) -> Vec<u8> {
        event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"text": text}}),
        )
    }

    /// Reports `latencyMs: 0`: the encoder knows no time; a server that does calls
    /// [`ConverseEncoder::finish_timed`].
    fn finish(
        &self,
        reply: &Reply,
        _text: &str,
        n_tokens: u32,
        finish: Finish,
        _include_usage: bool,
    ) -> Vec<u8> {
        self.finish_timed(reply, n_tokens, finish, ServerLatency::default())
    }

    fn error_event(&self, _reply: &Reply, fault: WireFault, message: &str) -> Vec<u8> {
        stream_exception(fault, message)
    }

    fn body(&self, reply: &Reply, text: &str, n_tokens: u32, finish: Finish) -> Vec<u8> {
        self.body_timed(reply, text, n_tokens, finish, ServerLatency::default())
    }

    fn error_body(&self, _status: u16, message: &str) -> Value {
        json!({ "message": message })
    }
}

/// Bedrock's in-stream exception for a fault: `throttlingException`, or `modelStreamErrorException`.
pub(crate) fn stream_exception(fault: WireFault, message: &str) -> Vec<u8> {
    let kind = match fault {
        WireFault::Throttled => "throttlingException",
        WireFault::Server => "modelStreamErrorException",
    };
    exception_frame(kind, &json!({ "message": message }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_usage_is_summed_and_latency_kept() {
        let mut i = ConverseInterpreter::default();
        let mut out = Vec::new();
        let meta = r#"{"usage":{"inputTokens":3,"outputTokens":2,"cacheReadInputTokens":0},"metrics":{"latencyMs":120}}"#;
        i.message(Some("metadata"), meta, &mut out).unwrap();
        i.message(
            Some("metadata"),
            r#"{"usage":{"inputTokens":1,"outputTokens":4}}"#,
            &mut out,
        )
        .unwrap();
        let want = Usage {
            input_tokens: Some(4),
            output_tokens: Some(6),
            cached_input_tokens: Some(0),
            reasoning_output_tokens: None,
        };
        assert_eq!(out.last(), Some(&StreamEvent::Usage(want)));
        assert_eq!(
            i.server_latency().unwrap().total,
            Some(Duration::from_millis(120))
        );
        assert_eq!(i.completion(), Completion::Complete);
    }

    #[test]
    fn the_wrapped_form_reads_like_named_events() {
        let mut i = ConverseInterpreter::default();
        let mut out = Vec::new();
        for data in [
            r#"{"contentBlockDelta":{"delta":{"text":""},"contentBlockIndex":0}}"#,
            r#"{"contentBlockDelta":{"delta":{"reasoningContent":{"signature":"x"}},"contentBlockIndex":0}}"#,
            r#"{"contentBlockDelta":{"delta":{"text":"Hi"},"contentBlockIndex":0}}"#,
            r#"{"messageStop":{"stopReason":"end_turn"}}"#,
        ] {
            i.message(None, data, &mut out).unwrap();
        }
        assert_eq!(
            out,
            [
                StreamEvent::Output {
                    kind: OutputKind::Reasoning,
                    text: String::new()
                },
                StreamEvent::Output {
                    kind: OutputKind::Visible,
                    text: "Hi".into()
                },
                StreamEvent::Stop {
                    reason: Some("end_turn".into())
                },
            ]
        );
        assert_eq!(i.completion(), Completion::Finished);
    }

    #[test]
    fn payloads_lose_the_model_id() {
        let mut payload = create_payload("hi", 9);
        payload["modelId"] = json!("m");
        let sent = prepare_payload(&payload).unwrap();
        assert_eq!(sent, create_payload("hi", 9));
        assert!(prepare_payload(&json!("x")).is_err());
    }
}
