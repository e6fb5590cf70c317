//! The AWS event-stream framing (`application/vnd.amazon.eventstream`) of Bedrock's and SageMaker's streamed
//! responses, read and written with `aws-smithy-eventstream`; it knows frames, not what they mean.
//!
//! A frame is a 12-byte prelude (total length, headers length, prelude CRC-32), headers, a payload and a message
//! CRC-32. [`EventStream`] checks the prelude as soon as its 12 bytes are in (so a corrupt length is
//! [`ProtocolError::Malformed`] at once, not a wait for bytes that never come), then reads each whole frame with
//! `aws_smithy_eventstream::frame::read_message_from` (what its `MessageFrameDecoder` calls), after checking the
//! message CRC (so a corrupt frame reads as corruption, not as a bad header its bytes now seem to hold).
//! Routing by the `:message-type` header:
//! - `event`: the payload and its `:event-type` go to an [`EventHandler`] (an API's meaning);
//! - `exception` (`:exception-type`, JSON `{"message"}`) and `error` (`:error-code`, `:error-message`): a
//!   [`StreamEvent::ProviderError`] classed by [`classify`].
//!
//! A body that ends inside a frame, or before the handler's terminal event, is [`ProtocolError::Truncated`].

use aws_smithy_eventstream::frame::{read_message_from, write_message_to};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use serde_json::Value;

use crate::framing::clip;
use crate::{
    Completion, ErrorClass, Interpreter, ProtocolError, ResponseDecoder, ServerLatency, StreamEvent,
};

/// The prelude: total length, headers length, prelude CRC.
const PRELUDE_LEN: usize = 12;
/// The prelude and the message CRC.
const OVERHEAD: usize = 16;
/// The largest frame accepted: AWS caps an event-stream message at 16 MiB; a larger claimed length is corruption.
const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// What an event-stream framing hands its `event` messages to: one API's meaning.
pub trait EventHandler {
    /// One `:message-type = event` message: its `:event-type` and payload.
    fn event(
        &mut self,
        event_type: &str,
        payload: &[u8],
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ProtocolError>;
    /// How far the response has got.
    fn completion(&self) -> Completion;
    /// The body ended at a frame boundary: flush what is buffered, or report that the stream was cut short.
    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError>;
    /// Latency the service reported, if any.
    fn server_latency(&self) -> Option<ServerLatency> {
        None
    }
}

/// Feeds each event's payload, as text, to an [`Interpreter`], with its `:event-type` as the event name.
pub struct Messages<I>(pub I);

impl<I: Interpreter> EventHandler for Messages<I> {
    fn event(
        &mut self,
        event_type: &str,
        payload: &[u8],
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ProtocolError> {
        let data = std::str::from_utf8(payload).map_err(|e| {
            ProtocolError::Malformed(format!("the {event_type} event's payload is not UTF-8: {e}"))
        })?;
        self.0.message(Some(event_type), data, out)
    }

    fn completion(&self) -> Completion {
        self.0.completion()
    }

    fn finish(&mut self, _out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        if self.0.completion() >= Completion::Finished {
            Ok(())
        } else {
            Err(ProtocolError::Truncated(format!(
                "stream ended without {}",
                self.0.terminal_event()
            )))
        }
    }

    fn server_latency(&self) -> Option<ServerLatency> {
        self.0.server_latency()
    }
}

/// A streamed response framed as AWS event-stream messages.
pub struct EventStream<H> {
    /// Bytes of the frame(s) not yet complete.
    buf: Vec<u8>,
    handler: H,
    error_class: Option<ErrorClass>,
}

impl<H: EventHandler> EventStream<H> {
    pub fn new(handler: H) -> Self {
        EventStream {
            buf: Vec::new(),
            handler,
            error_class: None,
        }
    }

    /// Decodes every whole frame at the front of the buffer; returns how many bytes they took.
    fn frames(&mut self, out: &mut Vec<StreamEvent>) -> Result<usize, ProtocolError> {
        let mut at = 0;
        while let Some(len) = frame_len(&self.buf[at..])? {
            if self.buf.len() - at < len {
                break;
            }
            let frame = &self.buf[at..at + len];
            // The message CRC first: a corrupt frame reads as corruption, not as whatever its bytes now say.
            let (body, crc) = frame.split_at(len - 4);
            let (crc, actual) = (
                u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]),
                crc32fast::hash(body),
            );
            if crc != actual {
                return Err(ProtocolError::Malformed(format!(
                    "event-stream message CRC mismatch (0x{crc:08x} in the frame, 0x{actual:08x} computed)"
                )));
            }
            let message = read_message_from(frame)
                .map_err(|e| ProtocolError::Malformed(format!("bad event-stream frame: {e}")))?;
            at += len;
            self.dispatch(&message, out)?;
        }
        Ok(at)
    }

    fn dispatch(&mut self, message: &Message, out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        let payload = &message.payload()[..];
        match header(message, ":message-type") {
            Some("event") => {
                let event_type = header(message, ":event-type")
                    .ok_or_else(|| ProtocolError::Malformed("an event frame without :event-type".into()))?;
                self.handler.event(event_type, payload, out)
            }
            Some("exception") => {
                let kind = header(message, ":exception-type").unwrap_or("exception");
                self.fail(kind, &exception_message(payload), out);
                Ok(())
            }
            Some("error") => {
                let code = header(message, ":error-code").unwrap_or("error");
                let text = header(message, ":error-message").unwrap_or("no message");
                self.fail(code, text, out);
                Ok(())
            }
            Some(_) => Ok(()), // a message type added later
            None => Err(ProtocolError::Malformed(
                "an event-stream frame without :message-type".into(),
            )),
        }
    }

    fn fail(&mut self, kind: &str, message: &str, out: &mut Vec<StreamEvent>) {
        let class = classify(kind);
        self.error_class.get_or_insert(class);
        out.push(StreamEvent::ProviderError {
            throttled: class == ErrorClass::Throttled,
            message: format!("{kind}: {message}"),
        });
    }
}

impl<H: EventHandler> ResponseDecoder for EventStream<H> {
    fn push(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        self.buf.extend_from_slice(bytes);
        let used = self.frames(out)?;
        self.buf.drain(..used);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
        // A half-written frame after the model finished does not undo a complete answer.
        if !self.buf.is_empty() && self.handler.completion() < Completion::Finished {
            let expected = frame_len(&self.buf).ok().flatten();
            return Err(ProtocolError::Truncated(match expected {
                Some(len) => format!(
                    "the stream ended inside an event-stream frame ({} of {len} bytes)",
                    self.buf.len()
                ),
                None => format!(
                    "the stream ended inside an event-stream prelude ({} of {PRELUDE_LEN} bytes)",
                    self.buf.len()
                ),
            }));
        }
        self.buf.clear();
        self.handler.finish(out)
    }

    fn is_complete(&self) -> bool {
        self.handler.completion() == Completion::Complete
    }

    fn server_latency(&self) -> Option<ServerLatency> {
        self.handler.server_latency()
    }

    fn error_class(&self) -> Option<ErrorClass> {
        self.error_class
    }
}

/// The length of the frame at the start of `bytes`, once its prelude is in and checked; `None` before.
fn frame_len(bytes: &[u8]) -> Result<Option<usize>, ProtocolError> {
    let Some(prelude) = bytes.get(..PRELUDE_LEN) else {
        return Ok(None);
    };
    let word = |i: usize| u32::from_be_bytes([prelude[i], prelude[i + 1], prelude[i + 2], prelude[i + 3]]);
    let (total, headers, crc) = (word(0) as usize, word(4) as usize, word(8));
    let actual = crc32fast::hash(&prelude[..8]);
    if actual != crc {
        return Err(ProtocolError::Malformed(format!(
            "event-stream prelude CRC mismatch (0x{crc:08x} in the frame, 0x{actual:08x} computed)"
        )));
    }
    if !(OVERHEAD..=MAX_FRAME_LEN).contains(&total) || headers > total - OVERHEAD {
        return Err(ProtocolError::Malformed(format!(
            "event-stream frame of impossible size (total {total}, headers {headers} bytes)"
        )));
    }
    Ok(Some(total))
}

/// A string header's value.
fn header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| h.value().as_string().ok())
        .map(|s| s.as_str())
}

/// The message of an exception payload: Bedrock's `{"message"}`, SageMaker's `{"Message", "ErrorCode"}`.
fn exception_message(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(payload);
    let Ok(value) = serde_json::from_slice::<Value>(payload) else {
        return clip(&text);
    };
    let field = |k: &str| value.get(k).and_then(Value::as_str);
    match (field("message").or(field("Message")), field("ErrorCode")) {
        (Some(m), Some(code)) => format!("{m} ({code})"),
        (Some(m), None) => m.to_owned(),
        (None, _) => clip(&text),
    }
}

/// Whose fault an AWS exception or error code is: throttling is throttled; `validationException` (and any
/// `Validation…` code) is the request's; everything else (`modelStreamErrorException`, `internalServerException`,
/// `serviceUnavailableException`, `modelTimeoutException`, SageMaker's `ModelStreamError` and
/// `InternalStreamFailure`, unknown names) is the provider's.
pub fn classify(exception_type: &str) -> ErrorClass {
    let name = exception_type.to_ascii_lowercase();
    if name.starts_with("throttling") || name.starts_with("toomanyrequests") {
        ErrorClass::Throttled
    } else if name.starts_with("validation") {
        ErrorClass::Request
    } else {
        ErrorClass::Provider
    }
}

/// One frame with string headers and a payload.
pub fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut message = Message::new(payload.to_vec());
    for (name, value) in headers {
        message = message.add_header(Header::new(
            (*name).to_owned(),
            HeaderValue::String((*value).to_owned().into()),
        ));
    }
    let mut bytes = Vec::with_capacity(payload.len() + 96);
    write_message_to(&message, &mut bytes).expect("header names and values are short");
    bytes
}

/// An `event` frame, as AWS writes them: `:event-type`, `:content-type`, `:message-type`.
pub fn event_frame(event_type: &str, content_type: &str, payload: &[u8]) -> Vec<u8> {
    frame(
        &[
            (":event-type", event_type),
            (":content-type", content_type),
            (":message-type", "event"),
        ],
        payload,
    )
}

/// An `exception` frame with a JSON payload (`{"message": …}` for Bedrock, `{"Message": …}` for SageMaker).
pub fn exception_frame(exception_type: &str, payload: &Value) -> Vec<u8> {
    frame(
        &[
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        payload.to_string().as_bytes(),
    )
}

/// An `error` frame: an unmodelled failure, told in headers only.
pub fn error_frame(code: &str, message: &str) -> Vec<u8> {
    frame(
        &[
            (":error-code", code),
            (":error-message", message),
            (":message-type", "error"),
        ],
        b"",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Records each event as a `Stop` with `"{event_type}={payload}"`; complete after an event named `end`.
    #[derive(Default)]
    struct Echo {
        done: bool,
    }

    impl EventHandler for Echo {
        fn event(&mut self, t: &str, p: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
            self.done |= t == "end";
            out.push(StreamEvent::Stop {
                reason: Some(format!("{t}={}", String::from_utf8_lossy(p))),
            });
            Ok(())
        }
        fn completion(&self) -> Completion {
            if self.done {
                Completion::Complete
            } else {
                Completion::Open
            }
        }
        fn finish(&mut self, _out: &mut Vec<StreamEvent>) -> Result<(), ProtocolError> {
            if self.done {
                Ok(())
            } else {
                Err(ProtocolError::Truncated("no end".into()))
            }
        }
    }

    fn decode(pieces: &[&[u8]]) -> (Result<(), ProtocolError>, Vec<StreamEvent>, Option<ErrorClass>) {
        let mut d = EventStream::new(Echo::default());
        let mut out = Vec::new();
        for p in pieces {
            if let Err(e) = d.push(p, &mut out) {
                return (Err(e), out, d.error_class());
            }
        }
        let r = d.finish(&mut out);
        (r, out, d.error_class())
    }

    #[test]
    fn frames_route_by_message_type() {
        let mut bytes = event_frame("a", "application/json", b"1");
        bytes.extend(frame(&[(":message-type", "later")], b"ignored"));
        bytes.extend(event_frame("end", "application/json", b""));
        let (r, out, class) = decode(&[&bytes]);
        assert_eq!(r, Ok(()));
        assert_eq!(
            out,
            [
                StreamEvent::Stop {
                    reason: Some("a=1".into())
                },
                StreamEvent::Stop {
                    reason: Some("end=".into())
                }
            ]
        );
        assert_eq!(class, None);
    }

    #[test]
    fn exceptions_and_errors_are_classed() {
        let cases = [
            (
                exception_frame("throttlingException", &json!({"message": "slow down"})),
                ErrorClass::Throttled,
                "throttlingException: slow down",
            ),
            (
                exception_frame("validationException", &json!({"message": "bad"})),
                ErrorClass::Request,
                "validationException: bad",
            ),
            (
                exception_frame(
                    "ModelStreamError",
                    &json!({"Message": "boom", "ErrorCode": "500"}),
                ),
                ErrorClass::Provider,
                "ModelStreamError: boom (500)",
            ),
            (
                error_frame("InternalFailure", "oops"),
                ErrorClass::Provider,
                "InternalFailure: oops",
            ),
        ];
        for (bytes, want, text) in cases {
            let (_, out, class) = decode(&[&bytes]);
            assert_eq!(class, Some(want), "{text}");
            assert_eq!(
                out,
                [StreamEvent::ProviderError {
                    throttled: want == ErrorClass::Throttled,
                    message: text.into()
                }]
            );
        }
    }

    #[test]
    fn corrupt_crcs_and_sizes_are_malformed_at_once() {
        let good = event_frame("a", "application/json", b"{}");
        let mut bad_prelude = good.clone();
        bad_prelude[2] ^= 0x40; // the length: a corrupt prelude must not make the decoder wait
        let mut bad_message = good.clone();
        let n = bad_message.len();
        bad_message[n - 6] ^= 1;
        let mut tiny = vec![0, 0, 0, 4, 0, 0, 0, 0];
        tiny.extend(crc32fast::hash(&tiny).to_be_bytes());
        for bytes in [&bad_prelude[..12], &bad_message, &tiny] {
            let (r, _, _) = decode(&[bytes]);
            assert!(matches!(r, Err(ProtocolError::Malformed(_))), "{r:?}");
        }
    }

    #[test]
    fn a_cut_frame_is_truncation() {
        let bytes = event_frame("a", "application/json", b"{}");
        for end in 1..bytes.len() {
            let (r, _, _) = decode(&[&bytes[..end]]);
            assert!(matches!(r, Err(ProtocolError::Truncated(_))), "{end}: {r:?}");
        }
        let (r, _, _) = decode(&[]);
        assert_eq!(r, Err(ProtocolError::Truncated("no end".into())));
    }
}
