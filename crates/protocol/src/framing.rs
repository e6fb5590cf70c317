//! Framings: how a response's bytes become messages for an API's [`Interpreter`]. [`SseStream`] for streamed
//! responses (Server-Sent Events), [`JsonBody`] for one-body responses. Neither knows what a message means.

use serde_json::Value;

use crate::sse::{SseDecoder, SseEvent};
use crate::{Completion, Interpreter, ProtocolError, ResponseDecoder, ServerLatency, StreamEvent};

/// A streamed response framed as Server-Sent Events.
pub struct SseStream<I> {
    sse: SseDecoder,
    events: Vec<SseEvent>,
    interpreter: I,
}

impl<I: Interpreter> SseStream<I> {
    pub fn new(interpreter: I) -> Self {
        SseStream {
            sse: SseDecoder::new(),
            events: Vec::new(),
            interpreter,
        }
    }

    fn drain(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        for event in self.events.drain(..) {
            self.interpreter
                .message(event.event.as_deref(), &event.data, out)?;
        }
        Ok(())
    }
}

impl<I: Interpreter> ResponseDecoder for SseStream<I> {
    fn push(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        self.sse.push(bytes, &mut self.events)?;
        self.drain(out)
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        let tail = self.sse.finish(&mut self.events);
        self.drain(out)?;
        match tail {
            // A half-written keep-alive after the model finished does not undo a complete answer.
            _ if self.interpreter.completion() >= Completion::Finished => Ok(()),
            Err(e) => Err(e),
            Ok(()) => Err(ProtocolError::Truncated(format!(
                "stream ended without {}",
                self.interpreter.terminal_event()
            ))),
        }
    }

    fn is_complete(&self) -> bool {
        self.interpreter.completion() == Completion::Complete
    }

    fn server_latency(&self) -> Option<ServerLatency> {
        self.interpreter.server_latency()
    }
}

/// A non-streamed response: the body is buffered and interpreted once it is whole.
pub struct JsonBody<I> {
    body: Vec<u8>,
    interpreter: I,
}

impl<I: Interpreter> JsonBody<I> {
    pub fn new(interpreter: I) -> Self {
        JsonBody {
            body: Vec::new(),
            interpreter,
        }
    }
}

impl<I: Interpreter> ResponseDecoder for JsonBody<I> {
    fn push(&mut self, bytes: &[u8], _out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        self.body.extend_from_slice(bytes);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        self.interpreter.body(&self.body, out)
    }

    fn is_streaming(&self) -> bool {
        false
    }

    fn server_latency(&self) -> Option<ServerLatency> {
        self.interpreter.server_latency()
    }
}

/// Parses a message's data as a JSON object, or says what was wrong with it.
pub(crate) fn json_object(data: &[u8], what: &str) -> Result<Value, ProtocolError> {
    match serde_json::from_slice::<Value>(data) {
        Ok(value) if value.is_object() => Ok(value),
        Ok(_) => Err(ProtocolError::Malformed(format!(
            "{what} is not a JSON object: {}",
            clip(&String::from_utf8_lossy(data))
        ))),
        Err(e) => Err(ProtocolError::Malformed(format!(
            "{what} is not JSON ({e}): {}",
            clip(&String::from_utf8_lossy(data))
        ))),
    }
}

/// A message's data as a JSON object, or `None` for an empty message (a keep-alive): the start of every
/// interpreter's `message`.
pub(crate) fn message_object(data: &str, what: &str) -> Result<Option<Value>, ProtocolError> {
    let data = data.trim();
    if data.is_empty() {
        return Ok(None);
    }
    json_object(data.as_bytes(), what).map(Some)
}

/// At most 200 characters of `s`, for error messages.
pub(crate) fn clip(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// The text at `pointer`, if it is a string.
pub(crate) fn text_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// The count at `pointer`, if it is a non-negative integer.
pub(crate) fn count_at(value: &Value, pointer: &str) -> Option<u64> {
    value.pointer(pointer).and_then(Value::as_u64)
}
