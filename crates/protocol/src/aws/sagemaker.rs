//! SageMaker real-time endpoints: InvokeEndpoint (`POST /endpoints/{name}/invocations`) and
//! InvokeEndpointWithResponseStream (`…/invocations-response-stream`), for three container formats.
//!
//! A stream is event-stream `PayloadPart` events whose payload is raw container output (the `Bytes` member is the
//! event payload itself), split at arbitrary points, even inside a line or a UTF-8 sequence. [`PayloadParts`] feeds
//! them, in order, to an inner decoder for the container's own stream:
//! - [`Container::Tgi`]: Hugging Face TGI's SSE, `data:{"token":{"text",…},"generated_text","details"}`;
//! - [`Container::JsonLines`]: LMI/DJL's JSON lines, `{"token":{…}}` per line, the same fields;
//! - [`Container::OpenAiChat`]: vLLM's (or LMI's) OpenAI-compatible SSE, read by the Chat interpreter.
//!
//! TGI and LMI lines are read alike ([`TokenLines`], a `data:` prefix optional, as LLMeter's `TokenIterator` does).
//! The line carrying `generated_text` (or `details`) is the last: its `details.finish_reason` is the stop reason
//! (`"error"` is a failure) and `details.generated_tokens` the output tokens. Special tokens (`</s>`) are not
//! output text (LLMeter appends them). An `{"error"}` line is a failure, throttled when TGI calls it `overloaded`.

use serde_json::{json, Map, Value};

use crate::aws::eventstream::{event_frame, exception_frame, EventHandler};
use crate::framing::{count_at, message_object, text_at, SseStream};
use crate::openai_chat::{self, ChatEncoder, ChatInterpreter};
use crate::wire::{Encoder, Finish, Reply, WireFault};
use crate::{Completion, Interpreter, OutputKind, ProtocolError, ResponseDecoder, StreamEvent, Usage};

pub use tokenmeter_core::target::Container;

/// A SageMaker container's wire format: its payloads and its response decoder.
pub trait ContainerWire {
    /// A payload with one prompt and an output limit: TGI/LMI `{"inputs", "parameters"}` (with `details`, as
    /// LLMeter asks), or a Chat Completions payload.
    fn create_payload(self, prompt: &str, max_tokens: u32) -> Value;

    /// The payload as it is sent. TGI/LMI: `stream` set (LLMeter sets it, and drops `decoder_input_details`,
    /// which streaming refuses). Chat: `stream` (with `stream_options.include_usage`), and `model` when given.
    fn prepare_payload(
        self,
        payload: &Value,
        model: Option<&str>,
        stream: bool,
    ) -> Result<Value, ProtocolError>;

    /// The decoder of a streamed response (inside the event-stream framing) or of a one-body response.
    fn inner_decoder(self, stream: bool) -> Box<dyn ResponseDecoder>;
}

impl ContainerWire for Container {
    fn create_payload(self, prompt: &str, max_tokens: u32) -> Value {
        match self {
            Container::Tgi | Container::JsonLines => json!({
                "inputs": prompt,
                "parameters": {"max_new_tokens": max_tokens, "details": true},
            }),
            Container::OpenAiChat => openai_chat::create_payload(prompt, max_tokens),
        }
    }

    fn prepare_payload(
        self,
        payload: &Value,
        model: Option<&str>,
        stream: bool,
    ) -> Result<Value, ProtocolError> {
        let mut body = payload.clone();
        let obj = body
            .as_object_mut()
            .ok_or_else(|| ProtocolError::Malformed("the payload must be a JSON object".into()))?;
        obj.insert("stream".into(), Value::Bool(stream));
        match self {
            Container::Tgi | Container::JsonLines => {
                if stream {
                    if let Some(Value::Object(params)) = obj.get_mut("parameters") {
                        params.remove("decoder_input_details");
                    }
                }
            }
            Container::OpenAiChat => {
                if let Some(model) = model.filter(|m| !m.is_empty()) {
                    obj.insert("model".into(), model.into());
                }
                openai_chat::add_stream_options(obj, stream);
            }
        }
        Ok(body)
    }

    fn inner_decoder(self, stream: bool) -> Box<dyn ResponseDecoder> {
        match (self, stream) {
            (Container::OpenAiChat, true) => Box::new(SseStream::new(ChatInterpreter::default())),
            (Container::OpenAiChat, false) => {
                Box::new(crate::framing::JsonBody::new(ChatInterpreter::default()))
            }
            (_, true) => Box::new(TokenLines::new(TokenInterpreter::default())),
            (_, false) => Box::new(crate::framing::JsonBody::new(TokenInterpreter::default())),
        }
    }
}

/// The [`EventHandler`] of a SageMaker stream: each `PayloadPart`'s bytes go to the container's decoder.
pub struct PayloadParts {
    inner: Box<dyn ResponseDecoder>,
}

impl PayloadParts {
    pub fn new(inner: Box<dyn ResponseDecoder>) -> Self {
        PayloadParts { inner }
    }
}

impl EventHandler for PayloadParts {
    fn event(
        &mut self,
        event_type: &str,
        payload: &[u8],
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ProtocolError> {
        if event_type == "PayloadPart" {
            self.inner.push(payload, out)?;
        }
        Ok(())
    }

    fn completion(&self) -> Completion {
        if self.inner.is_complete() {
            Completion::Complete
        } else {
            Completion::Open
        }
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        self.inner.finish(out)
    }
}

/// Splits container output into lines and hands each line's JSON (SSE `data:` prefix removed) to an interpreter;
/// blank lines, SSE comments and other SSE fields are skipped.
pub struct TokenLines<I> {
    line: Vec<u8>,
    interpreter: I,
}

impl<I: Interpreter> TokenLines<I> {
    pub fn new(interpreter: I) -> Self {
        TokenLines {
            line: Vec::new(),
            interpreter,
        }
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        let text = std::str::from_utf8(line)
            .map_err(|e| ProtocolError::Malformed(format!("a container output line is not UTF-8: {e}")))?
            .trim();
        if text.is_empty() || text.starts_with(':') {
            return Ok(());
        }
        if ["event:", "id:", "retry:"].iter().any(|f| text.starts_with(f)) {
            return Ok(());
        }
        let data = text.strip_prefix("data:").unwrap_or(text);
        self.interpreter.message(None, data.trim_start(), out)
    }
}

impl<I: Interpreter> ResponseDecoder for TokenLines<I> {
    fn push(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        let mut rest = bytes;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&rest[..pos]);
            rest = &rest[pos + 1..];
            let line = std::mem::take(&mut self.line);
            self.line(&line, out)?;
        }
        self.line.extend_from_slice(rest);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        let tail = std::mem::take(&mut self.line);
        if self.interpreter.completion() == Completion::Complete {
            return Ok(()); // a ragged tail after the last line
        }
        // A last line without its newline still counts, if it is whole.
        if self.line(&tail, out).is_err() {
            return Err(ProtocolError::Truncated("the stream ended inside a line".into()));
        }
        if self.interpreter.completion() >= Completion::Finished {
            Ok(())
        } else {
            Err(ProtocolError::Truncated(format!(
                "stream ended without {}",
                self.interpreter.terminal_event()
            )))
        }
    }

    fn is_complete(&self) -> bool {
        self.interpreter.completion() == Completion::Complete
    }
}

/// Interprets TGI / LMI token lines (streamed) or their `generated_text` bodies (one body, an object or TGI's
/// one-element array).
#[derive(Debug, Default)]
pub struct TokenInterpreter {
    completion: Completion,
}

impl TokenInterpreter {
    /// One line's or body's object. Returns nothing: everything it says goes to `out`.
    fn read(&mut self, value: &Value, streamed: bool, out: &mut Vec<StreamEvent>) {
        if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
            let kind = text_at(value, "/error_type").unwrap_or("error");
            let message = error.as_str().map_or_else(|| error.to_string(), str::to_owned);
            out.push(StreamEvent::ProviderError {
                throttled: kind == "overloaded",
                message: format!("{kind}: {message}"),
            });
            return;
        }
        if streamed {
            let special = [
                value.pointer("/token/special"),
                value.pointer("/token/special_token"),
            ]
            .into_iter()
            .flatten()
            .any(|v| v.as_bool() == Some(true));
            if let Some(text) = text_at(value, "/token/text").filter(|t| !t.is_empty() && !special) {
                out.push(StreamEvent::Output {
                    kind: OutputKind::Visible,
                    text: text.to_owned(),
                });
            }
            // LMI's dynamic-batch stream: `{"outputs": ["text"]}`.
            if let Some(Value::Array(parts)) = value.get("outputs") {
                let text: String = parts.iter().filter_map(Value::as_str).collect();
                if !text.is_empty() {
                    out.push(StreamEvent::Output {
                        kind: OutputKind::Visible,
                        text,
                    });
                }
            }
        } else if let Some(text) = text_at(value, "/generated_text").filter(|t| !t.is_empty()) {
            out.push(StreamEvent::Output {
                kind: OutputKind::Visible,
                text: text.to_owned(),
            });
        }
        let details = value.get("details").filter(|d| d.is_object());
        if let Some(details) = details {
            match text_at(details, "/finish_reason") {
                Some("error") => out.push(StreamEvent::ProviderError {
                    throttled: false,
                    message: "generation ended with finish_reason \"error\"".into(),
                }),
                reason => out.push(StreamEvent::Stop {
                    reason: reason.map(str::to_owned),
                }),
            }
            let output = count_at(details, "/generated_tokens");
            let input = count_at(details, "/input_length");
            if output.is_some() || input.is_some() {
                out.push(StreamEvent::Usage(Usage {
                    input_tokens: input,
                    output_tokens: output,
                    ..Usage::default()
                }));
            }
        }
        if details.is_some() || value.get("generated_text").is_some_and(|t| !t.is_null()) {
            self.completion = Completion::Complete;
        }
    }
}

impl Interpreter for TokenInterpreter {
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
        let Some(value) = message_object(data, "token line")? else {
            return Ok(());
        };
        self.read(&value, true, out);
        Ok(())
    }

    fn body(&mut self, body: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ProtocolError::Malformed(format!("response is not JSON ({e})")))?;
        let value = match value {
            Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
            Value::Object(_) => value,
            _ => return Err(ProtocolError::Malformed("response is not a JSON object".into())),
        };
        self.read(&value, false, out);
        Ok(())
    }

    fn completion(&self) -> Completion {
        self.completion
    }

    fn terminal_event(&self) -> &'static str {
        "the last token line (generated_text)"
    }
}

/// The `x-amzn-ErrorType` SageMaker Runtime sends with an HTTP error `status` (its own names, not Bedrock's), for
/// a server that imitates it.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 => "ValidationError",
        403 => "AccessDeniedException",
        424 => "ModelError",
        429 => "ThrottlingException",
        503 => "ServiceUnavailable",
        _ => "InternalFailure",
    }
}

/// Writes SageMaker streams (each container event in one `PayloadPart` frame) and bodies, in a container format.
pub struct SageMakerEncoder(pub Container);

pub static TGI: SageMakerEncoder = SageMakerEncoder(Container::Tgi);
pub static JSON_LINES: SageMakerEncoder = SageMakerEncoder(Container::JsonLines);
pub static OPENAI_CHAT: SageMakerEncoder = SageMakerEncoder(Container::OpenAiChat);

/// One `PayloadPart` frame around raw container bytes.
pub fn payload_part(bytes: &[u8]) -> Vec<u8> {
    event_frame("PayloadPart", "application/octet-stream", bytes)
}

fn finish_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "eos_token",
        Finish::Length => "length",
    }
}

impl SageMakerEncoder {
    /// One container line: TGI's `data:` SSE event, or a bare JSON line.
    fn line(&self, value: &Value) -> Vec<u8> {
        match self.0 {
            Container::Tgi => payload_part(format!("data:{value}\n\n").as_bytes()),
            _ => payload_part(format!("{value}\n").as_bytes()),
        }
    }

    fn token_line(index: u32, text: &str, special: bool) -> Map<String, Value> {
        let token = json!({"id": index, "text": text, "logprob": -0.1, "special": special});
        let mut line = Map::new();
        line.insert("token".into(), token);
        line.insert("generated_text".into(), Value::Null);
        line.insert("details".into(), Value::Null);
        line
    }

    fn details(reply: &Reply, n_tokens: u32, finish: Finish) -> Value {
        json!({
            "finish_reason": finish_reason(finish), "generated_tokens": n_tokens, "seed": null,
            "input_length": reply.input_tokens,
        })
    }
}

impl Encoder for SageMakerEncoder {
    fn head(&self, reply: &Reply) -> Vec<u8> {
        match self.0 {
            Container::OpenAiChat => payload_part(&ChatEncoder.head(reply)),
            _ => Vec::new(), // TGI and LMI send nothing before the first token
        }
    }

    fn token(&self, reply: &Reply, index: u32, text: &str) -> Vec<u8> {
        match self.0 {
            Container::OpenAiChat => payload_part(&ChatEncoder.token(reply, index, text)),
            _ => self.line(&Value::Object(SageMakerEncoder::token_line(index, text, false))),
        }
    }

    /// TGI/LMI: a last line with the end-of-sequence special token, `generated_text` and `details`.
    fn finish(
        &self,
        reply: &Reply,
        text: &str,
        n_tokens: u32,
        finish: Finish,
        include_usage: bool,
    ) -> Vec<u8> {
        match self.0 {
            Container::OpenAiChat => {
                payload_part(&ChatEncoder.finish(reply, text, n_tokens, finish, include_usage))
            }
            _ => {
                let mut line = SageMakerEncoder::token_line(n_tokens, "</s>", true);
                line.insert("generated_text".into(), text.into());
                line.insert(
                    "details".into(),
                    SageMakerEncoder::details(reply, n_tokens, finish),
                );
                self.line(&Value::Object(line))
            }
        }
    }

    /// Throttling as the container says it (TGI's `overloaded` error line, or the Chat error event); a server
    /// fault as SageMaker's `ModelStreamError` exception.
    fn error_event(&self, reply: &Reply, fault: WireFault, message: &str) -> Vec<u8> {
        match (self.0, fault) {
            (_, WireFault::Server) => exception_frame(
                "ModelStreamError",
                &json!({"Message": message, "ErrorCode": "ModelStreamError"}),
            ),
            (Container::OpenAiChat, WireFault::Throttled) => {
                payload_part(&ChatEncoder.error_event(reply, fault, message))
            }
            (_, WireFault::Throttled) => self.line(&json!({"error": message, "error_type": "overloaded"})),
        }
    }

    fn body(&self, reply: &Reply, text: &str, n_tokens: u32, finish: Finish) -> Vec<u8> {
        match self.0 {
            Container::OpenAiChat => ChatEncoder.body(reply, text, n_tokens, finish),
            _ => {
                json!({"generated_text": text, "details": SageMakerEncoder::details(reply, n_tokens, finish)})
                    .to_string()
                    .into_bytes()
            }
        }
    }

    fn error_body(&self, _status: u16, message: &str) -> Value {
        json!({ "Message": message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(pieces: &[&[u8]]) -> Result<Vec<StreamEvent>, ProtocolError> {
        let mut d = TokenLines::new(TokenInterpreter::default());
        let mut out = Vec::new();
        for p in pieces {
            d.push(p, &mut out)?;
        }
        d.finish(&mut out)?;
        Ok(out)
    }

    #[test]
    fn tgi_and_lmi_lines_read_alike() {
        let tgi = b"data:{\"token\":{\"id\":1,\"text\":\"Hi\",\"special\":false},\"generated_text\":null,\"details\":null}\n\n\
data:{\"token\":{\"id\":2,\"text\":\"</s>\",\"special\":true},\"generated_text\":\"Hi\",\"details\":{\"finish_reason\":\"eos_token\",\"generated_tokens\":2}}\n\n";
        let lmi = b"{\"token\": {\"id\": 1, \"text\": \"Hi\", \"log_prob\": -0.1}}\n\
{\"token\": {\"id\": 2, \"text\": \"</s>\", \"special_token\": true}, \"generated_text\": \"Hi\", \"details\": {\"finish_reason\": \"eos_token\", \"generated_tokens\": 2}}";
        let want = vec![
            StreamEvent::Output {
                kind: OutputKind::Visible,
                text: "Hi".into(),
            },
            StreamEvent::Stop {
                reason: Some("eos_token".into()),
            },
            StreamEvent::Usage(Usage {
                output_tokens: Some(2),
                ..Usage::default()
            }),
        ];
        assert_eq!(lines(&[tgi]).unwrap(), want);
        assert_eq!(lines(&[lmi]).unwrap(), want, "a last line without its newline");
    }

    #[test]
    fn errors_and_cut_streams() {
        let out = lines(&[b"data: {\"error\":\"busy\",\"error_type\":\"overloaded\"}\n\n"]);
        assert!(matches!(out, Err(ProtocolError::Truncated(_))));
        let mut d = TokenLines::new(TokenInterpreter::default());
        let mut out = Vec::new();
        d.push(
            b"data: {\"error\":\"busy\",\"error_type\":\"overloaded\"}\n",
            &mut out,
        )
        .unwrap();
        assert!(matches!(
            &out[..],
            [StreamEvent::ProviderError { throttled: true, .. }]
        ));
        assert!(matches!(
            lines(&[b"{\"token\": {\"text\": \"a\"}}\n{\"tok"]),
            Err(ProtocolError::Truncated(_))
        ));
        let failed = lines(&[b"{\"token\":{\"id\":-1,\"text\":\"\",\"special_token\":true},\"generated_text\":\"\",\"details\":{\"finish_reason\":\"error\"}}\n"]).unwrap();
        assert!(matches!(
            &failed[..],
            [StreamEvent::ProviderError { throttled: false, .. }]
        ));
    }

    #[test]
    fn bodies_may_be_tgi_arrays() {
        let mut i = TokenInterpreter::default();
        let mut out = Vec::new();
        i.body(br#"[{"generated_text":"Hello"}]"#, &mut out).unwrap();
        assert_eq!(
            out,
            [StreamEvent::Output {
                kind: OutputKind::Visible,
                text: "Hello".into()
            }]
        );
    }

    #[test]
    fn payloads_per_format() {
        let p = Container::Tgi.create_payload("hi", 4);
        let mut with_details = p.clone();
        with_details["parameters"]["decoder_input_details"] = json!(true);
        let sent = Container::Tgi.prepare_payload(&with_details, None, true).unwrap();
        assert_eq!(sent["stream"], true);
        assert!(sent["parameters"].get("decoder_input_details").is_none());
        let chat = Container::OpenAiChat
            .prepare_payload(&Container::OpenAiChat.create_payload("hi", 4), Some("m"), true)
            .unwrap();
        assert_eq!(chat["model"], "m");
        assert_eq!(chat["stream_options"]["include_usage"], true);
    }
}
