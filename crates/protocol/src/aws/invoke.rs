//! Bedrock InvokeModel (`POST /model/{modelId}/invoke`) and InvokeModelWithResponseStream
//! (`…/invoke-with-response-stream`): the model's own request and response bodies, in one of several families.
//!
//! A stream is event-stream `chunk` events whose JSON payload `{"bytes": "<base64>"}` holds one event of the model's
//! own stream. [`InvokeInterpreter`] decodes it and hands it to the family's interpreter: Anthropic Messages
//! (Claude), OpenAI Chat Completions (gpt-oss), Converse-shaped events (Amazon Nova), or, for Llama, Mistral, Titan
//! and others, [`JsonPaths`]. The chunk Bedrock adds `amazon-bedrock-invocationMetrics` to (the last) gives the
//! service's token counts (`inputTokenCount`, `outputTokenCount`, reported after the model's own, so they win) and
//! latency (`firstByteLatency`, `invocationLatency`), and is the terminal event. A one-body response is the model's
//! own body, read by the family's interpreter.
//!
//! Paths are JSON Pointers (RFC 6901, `/outputs/0/text`), not LLMeter's JMESPath: each field takes alternatives
//! (`/outputText | /results/0/outputText`) and the first that resolves wins, so one set reads both streamed chunks
//! and whole bodies. A text that is an array of strings is joined.

use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::anthropic::{MessagesEncoder, MessagesInterpreter};
use crate::aws::converse::{stream_exception, ConverseInterpreter};
use crate::aws::eventstream::event_frame;
use crate::framing::{json_object, message_object};
use crate::openai_chat::{ChatEncoder, ChatInterpreter};
use crate::sse::{SseDecoder, SseEvent};
use crate::wire::{Encoder, Finish, Reply, WireFault};
use crate::{Completion, Interpreter, OutputKind, ProtocolError, ServerLatency, StreamEvent, Usage};

/// The key Bedrock adds to a stream's last chunk.
pub const INVOCATION_METRICS: &str = "amazon-bedrock-invocationMetrics";

/// The `anthropic_version` Bedrock requires in a Claude body.
pub const ANTHROPIC_BEDROCK_VERSION: &str = "bedrock-2023-05-31";

/// Which model family's bodies an InvokeModel endpoint speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeBody {
    /// Anthropic Claude: Messages bodies and events (`message_start` … `message_stop`).
    Anthropic,
    /// OpenAI-style models (gpt-oss): `chat.completion` bodies and `chat.completion.chunk` events.
    OpenAiChat,
    /// Amazon Nova: Converse-shaped bodies and wrapped Converse events (`{"contentBlockDelta": …}`).
    Converse,
    /// Meta Llama: `{"prompt", "max_gen_len"}` → `generation`, token counts, `stop_reason`.
    Llama,
    /// Mistral (7B, Mixtral, Large 1): `{"prompt", "max_tokens"}` → `outputs[0].text`, `outputs[0].stop_reason`.
    Mistral,
    /// Amazon Titan Text: `{"inputText", "textGenerationConfig"}` → `outputText` / `results[0].outputText`.
    Titan,
    /// Any other body: text and token counts at the given paths.
    Custom(JsonPaths),
}

impl InvokeBody {
    /// A payload with one user message and an output limit, in this family's shape.
    pub fn create_payload(&self, prompt: &str, max_tokens: u32) -> Value {
        match self {
            InvokeBody::Anthropic => json!({
                "anthropic_version": ANTHROPIC_BEDROCK_VERSION, "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": prompt}],
            }),
            InvokeBody::OpenAiChat => json!({
                "messages": [{"role": "user", "content": prompt}], "max_completion_tokens": max_tokens,
            }),
            InvokeBody::Converse => json!({
                "schemaVersion": "messages-v1",
                "messages": [{"role": "user", "content": [{"text": prompt}]}],
                "inferenceConfig": {"maxTokens": max_tokens},
            }),
            InvokeBody::Llama => json!({"prompt": prompt, "max_gen_len": max_tokens}),
            InvokeBody::Mistral => {
                json!({"prompt": format!("<s>[INST] {prompt} [/INST]"), "max_tokens": max_tokens})
            }
            InvokeBody::Titan => {
                json!({"inputText": prompt, "textGenerationConfig": {"maxTokenCount": max_tokens}})
            }
            // LLMeter's BedrockInvoke.create_payload.
            InvokeBody::Custom(_) => json!({
                "messages": [{"role": "user", "content": [{"text": prompt, "type": "text"}]}],
                "max_tokens": max_tokens,
            }),
        }
    }

    /// The body as it is sent: fields that belong elsewhere on Bedrock (`model`, `modelId`, `stream`: the model is
    /// in the path, streaming is the operation) are removed; a Claude body gets its `anthropic_version`.
    pub fn prepare_payload(&self, payload: &Value) -> Result<Value, ProtocolError> {
        let mut body = payload.clone();
        let obj = body
            .as_object_mut()
            .ok_or_else(|| ProtocolError::Malformed("the payload must be a JSON object".into()))?;
        for key in ["model", "modelId", "stream"] {
            obj.remove(key);
        }
        if *self == InvokeBody::Anthropic && !obj.contains_key("anthropic_version") {
            obj.insert("anthropic_version".into(), ANTHROPIC_BEDROCK_VERSION.into());
        }
        Ok(body)
    }

    /// The interpreter of this family's bodies and stream events.
    pub fn interpreter(&self) -> InvokeInterpreter {
        let inner: Box<dyn Interpreter> = match self {
            InvokeBody::Anthropic => Box::new(MessagesInterpreter::default()),
            InvokeBody::OpenAiChat => Box::new(ChatInterpreter::default()),
            InvokeBody::Converse => Box::new(ConverseInterpreter::default()),
            InvokeBody::Llama => Box::new(PathInterpreter::new(JsonPaths::llama())),
            InvokeBody::Mistral => Box::new(PathInterpreter::new(JsonPaths::mistral())),
            InvokeBody::Titan => Box::new(PathInterpreter::new(JsonPaths::titan())),
            InvokeBody::Custom(paths) => Box::new(PathInterpreter::new(paths.clone())),
        };
        InvokeInterpreter {
            inner,
            metrics: false,
            latency: None,
        }
    }
}

/// Where a model's body keeps its output: each field lists JSON Pointers tried in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JsonPaths {
    pub text: Vec<String>,
    pub input_tokens: Vec<String>,
    pub output_tokens: Vec<String>,
    pub stop_reason: Vec<String>,
}

/// Alternatives written as `/a/b | /c`: each must be a JSON Pointer (empty, or starting with `/`).
pub fn parse_pointers(text: &str) -> Result<Vec<String>, String> {
    text.split('|')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            if p.starts_with('/') {
                Ok(p.to_owned())
            } else {
                Err(format!("{p:?} is not a JSON pointer (write /outputs/0/text)"))
            }
        })
        .collect()
}

fn pointers(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

impl JsonPaths {
    /// Meta Llama (Bedrock's Llama 2/3 bodies).
    pub fn llama() -> Self {
        JsonPaths {
            text: pointers(&["/generation"]),
            input_tokens: pointers(&["/prompt_token_count"]),
            output_tokens: pointers(&["/generation_token_count"]),
            stop_reason: pointers(&["/stop_reason"]),
        }
    }

    /// Mistral's text-completion bodies (token counts come from the invocation metrics).
    pub fn mistral() -> Self {
        JsonPaths {
            text: pointers(&["/outputs/0/text"]),
            stop_reason: pointers(&["/outputs/0/stop_reason"]),
            ..JsonPaths::default()
        }
    }

    /// Amazon Titan Text: stream chunks (`outputText`) and whole bodies (`results[0]`).
    pub fn titan() -> Self {
        JsonPaths {
            text: pointers(&["/outputText", "/results/0/outputText"]),
            input_tokens: pointers(&["/inputTextTokenCount"]),
            output_tokens: pointers(&["/totalOutputTextTokenCount", "/results/0/tokenCount"]),
            stop_reason: pointers(&["/completionReason", "/results/0/completionReason"]),
        }
    }
}

/// `text | input | output | stop`, each a `|`-separated list of pointers (a field may be empty).
impl FromStr for JsonPaths {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let fields: Vec<&str> = s.split(';').collect();
        let field = |i: usize| fields.get(i).map_or(Ok(Vec::new()), |f| parse_pointers(f));
        let paths = JsonPaths {
            text: field(0)?,
            input_tokens: field(1)?,
            output_tokens: field(2)?,
            stop_reason: field(3)?,
        };
        if fields.len() > 4 || paths.text.is_empty() {
            return Err(
                "write text; input tokens; output tokens; stop reason (pointers, text required)".into(),
            );
        }
        Ok(paths)
    }
}

/// Reads text, token counts and stop reasons at configured [`JsonPaths`].
#[derive(Debug)]
pub struct PathInterpreter {
    paths: JsonPaths,
    completion: Completion,
}

impl PathInterpreter {
    pub fn new(paths: JsonPaths) -> Self {
        PathInterpreter {
            paths,
            completion: Completion::Open,
        }
    }

    fn read(&mut self, value: &Value, out: &mut Vec<StreamEvent>) {
        let first = |list: &[String]| {
            list.iter()
                .find_map(|p| value.pointer(p).filter(|v| !v.is_null()))
        };
        let text = match first(&self.paths.text) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => String::new(),
        };
        if !text.is_empty() {
            out.push(StreamEvent::Output {
                kind: OutputKind::Visible,
                text,
            });
        }
        let input = first(&self.paths.input_tokens).and_then(Value::as_u64);
        let output = first(&self.paths.output_tokens).and_then(Value::as_u64);
        if input.is_some() || output.is_some() {
            out.push(StreamEvent::Usage(Usage {
                input_tokens: input,
                output_tokens: output,
                ..Usage::default()
            }));
        }
        if let Some(reason) = first(&self.paths.stop_reason).and_then(Value::as_str) {
            out.push(StreamEvent::Stop {
                reason: Some(reason.to_owned()),
            });
            self.completion = self.completion.max(Completion::Finished);
        }
    }
}

impl Interpreter for PathInterpreter {
    fn message(
        &mut self,
        _event: Option<&str>,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ProtocolError> {
        let Some(value) = message_object(data, "chunk")? else {
            return Ok(());
        };
        self.read(&value, out);
        Ok(())
    }

    fn body(&mut self, body: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        let value = json_object(body, "response")?;
        self.read(&value, out);
        Ok(())
    }

    fn completion(&self) -> Completion {
        self.completion
    }

    fn terminal_event(&self) -> &'static str {
        "a stop reason"
    }
}

/// Interprets InvokeModel bodies and InvokeModelWithResponseStream `chunk` events through a family's interpreter.
pub struct InvokeInterpreter {
    inner: Box<dyn Interpreter>,
    /// The invocation metrics arrived: the stream is complete.
    metrics: bool,
    latency: Option<ServerLatency>,
}

impl InvokeInterpreter {
    /// Wraps any interpreter that reads the model's own events.
    pub fn new(inner: Box<dyn Interpreter>) -> Self {
        InvokeInterpreter {
            inner,
            metrics: false,
            latency: None,
        }
    }

    fn read_metrics(&mut self, chunk: &Value, out: &mut Vec<StreamEvent>) {
        let Some(metrics) = chunk.get(INVOCATION_METRICS).filter(|m| m.is_object()) else {
            return;
        };
        let count = |key: &str| metrics.get(key).and_then(Value::as_u64);
        out.push(StreamEvent::Usage(Usage {
            input_tokens: count("inputTokenCount"),
            output_tokens: count("outputTokenCount"),
            ..Usage::default()
        }));
        let ms = |key: &str| count(key).map(Duration::from_millis);
        self.latency = Some(ServerLatency {
            first_byte: ms("firstByteLatency"),
            total: ms("invocationLatency"),
        });
        self.metrics = true;
    }
}

impl std::fmt::Debug for InvokeInterpreter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvokeInterpreter")
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

impl Interpreter for InvokeInterpreter {
    fn message(
        &mut self,
        event: Option<&str>,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ProtocolError> {
        if !matches!(event, None | Some("chunk")) || data.trim().is_empty() {
            return Ok(()); // an event type added later
        }
        let envelope = json_object(data.as_bytes(), "chunk")?;
        let encoded = envelope
            .get("bytes")
            .and_then(Value::as_str)
            .ok_or_else(|| ProtocolError::Malformed("a chunk without bytes".into()))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| ProtocolError::Malformed(format!("a chunk's bytes are not base64: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|e| ProtocolError::Malformed(format!("a chunk's bytes are not UTF-8: {e}")))?;
        self.inner.message(None, &text, out)?;
        if text.contains(INVOCATION_METRICS) {
            let chunk = json_object(text.as_bytes(), "chunk")?;
            self.read_metrics(&chunk, out);
        }
        Ok(())
    }

    fn body(&mut self, body: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        self.inner.body(body, out)
    }

    fn completion(&self) -> Completion {
        if self.metrics {
            Completion::Complete
        } else {
            self.inner.completion()
        }
    }

    fn terminal_event(&self) -> &'static str {
        self.inner.terminal_event()
    }

    fn server_latency(&self) -> Option<ServerLatency> {
        self.latency.or_else(|| self.inner.server_latency())
    }
}

/// Writes InvokeModelWithResponseStream streams by wrapping another API's events in `chunk` frames (each event's
/// JSON base64-encoded in `{"bytes"}`; the last gets `amazon-bedrock-invocationMetrics`), and InvokeModel bodies
/// (the API's own body).
pub struct InvokeEncoder {
    inner: &'static dyn Encoder,
}

/// Claude on Bedrock: Anthropic Messages events in chunks.
pub static ANTHROPIC_INVOKE: InvokeEncoder = InvokeEncoder {
    inner: &MessagesEncoder,
};

/// OpenAI-style models on Bedrock: `chat.completion.chunk`s in chunks.
pub static OPENAI_CHAT_INVOKE: InvokeEncoder = InvokeEncoder { inner: &ChatEncoder };

/// One `chunk` frame around a model event.
pub fn chunk_frame(model_event: &Value) -> Vec<u8> {
    let bytes = base64::engine::general_purpose::STANDARD.encode(model_event.to_string());
    event_frame(
        "chunk",
        "application/json",
        json!({ "bytes": bytes }).to_string().as_bytes(),
    )
}

impl InvokeEncoder {
    /// The inner encoder's SSE events as JSON values (pings and `[DONE]` dropped: Bedrock sends neither).
    fn events(sse: &[u8]) -> Vec<Value> {
        let mut decoder = SseDecoder::new();
        let mut events: Vec<SseEvent> = Vec::new();
        decoder
            .push(sse, &mut events)
            .expect("an encoder writes valid SSE");
        events
            .iter()
            .filter(|e| e.event.as_deref() != Some("ping"))
            .filter_map(|e| serde_json::from_str(&e.data).ok())
            .collect()
    }

    fn frames(events: Vec<Value>) -> Vec<u8> {
        events.iter().flat_map(chunk_frame).collect()
    }

    /// The closing chunks, the last carrying the invocation metrics for `latency` (0 where `None`).
    pub fn finish_timed(
        &self,
        reply: &Reply,
        text: &str,
        n_tokens: u32,
        finish: Finish,
        latency: ServerLatency,
    ) -> Vec<u8> {
        let mut events = InvokeEncoder::events(&self.inner.finish(reply, text, n_tokens, finish, true));
        let ms = |d: Option<Duration>| d.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let metrics = json!({
            "inputTokenCount": reply.input_tokens, "outputTokenCount": n_tokens,
            "invocationLatency": ms(latency.total), "firstByteLatency": ms(latency.first_byte),
        });
        if let Some(Value::Object(last)) = events.last_mut() {
            last.insert(INVOCATION_METRICS.into(), metrics);
        }
        InvokeEncoder::frames(events)
    }
}

impl Encoder for InvokeEncoder {
    fn head(&self, reply: &Reply) -> Vec<u8> {
        InvokeEncoder::frames(InvokeEncoder::events(&self.inner.head(reply)))
    }

    fn token(&self, reply: &Reply, index: u32, text: &str) -> Vec<u8> {
        InvokeEncoder::frames(InvokeEncoder::events(&self.inner.token(reply, index, text)))
    }

    /// Reports latencies of 0: the encoder knows no time; a server that does calls [`InvokeEncoder::finish_timed`].
    fn finish(
        &self,
        reply: &Reply,
        text: &str,
        n_tokens: u32,
        finish: Finish,
        _include_usage: bool,
    ) -> Vec<u8> {
        self.finish_timed(reply, text, n_tokens, finish, ServerLatency::default())
    }

    fn error_event(&self, _reply: &Reply, fault: WireFault, message: &str) -> Vec<u8> {
        stream_exception(fault, message)
    }

    fn body(&self, reply: &Reply, text: &str, n_tokens: u32, finish: Finish) -> Vec<u8> {
        self.inner.body(reply, text, n_tokens, finish)
    }

    fn error_body(&self, _status: u16, message: &str) -> Value {
        json!({ "message": message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_lists_parse_and_refuse_jmespath() {
        assert_eq!(parse_pointers(" /a/0 | /b ").unwrap(), ["/a/0", "/b"]);
        assert!(parse_pointers("outputs[0].text").is_err());
        let paths: JsonPaths = "/generation; /prompt_token_count; ; /stop_reason"
            .parse()
            .unwrap();
        assert_eq!(paths.text, ["/generation"]);
        assert!(paths.output_tokens.is_empty());
        assert!("; /x".parse::<JsonPaths>().is_err(), "text is required");
    }

    #[test]
    fn titan_paths_read_chunks_and_bodies() {
        let mut i = PathInterpreter::new(JsonPaths::titan());
        let mut out = Vec::new();
        i.message(None, r#"{"outputText":"Hi","index":0,"totalOutputTextTokenCount":1,"completionReason":null,"inputTextTokenCount":5}"#, &mut out).unwrap();
        assert_eq!(i.completion(), Completion::Open);
        i.body(br#"{"inputTextTokenCount":5,"results":[{"tokenCount":2,"outputText":"Hi you","completionReason":"FINISH"}]}"#, &mut out).unwrap();
        assert_eq!(
            out,
            [
                StreamEvent::Output {
                    kind: OutputKind::Visible,
                    text: "Hi".into()
                },
                StreamEvent::Usage(Usage {
                    input_tokens: Some(5),
                    output_tokens: Some(1),
                    ..Usage::default()
                }),
                StreamEvent::Output {
                    kind: OutputKind::Visible,
                    text: "Hi you".into()
                },
                StreamEvent::Usage(Usage {
                    input_tokens: Some(5),
                    output_tokens: Some(2),
                    ..Usage::default()
                }),
                StreamEvent::Stop {
                    reason: Some("FINISH".into())
                },
            ]
        );
    }

    #[test]
    fn bodies_drop_what_bedrock_refuses() {
        let sent = InvokeBody::Anthropic
            .prepare_payload(&json!({"model": "m", "stream": true, "max_tokens": 5, "messages": []}))
            .unwrap();
        assert_eq!(
            sent,
            json!({"max_tokens": 5, "messages": [], "anthropic_version": ANTHROPIC_BEDROCK_VERSION})
        );
    }
}
