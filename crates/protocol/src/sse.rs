//! Incremental Server-Sent Events decoder (the WHATWG `text/event-stream` rules), for OpenAI-style streams.
//!
//! Bytes may be split anywhere, even inside a UTF-8 sequence or a CRLF pair: the decoder buffers the unfinished
//! line and scans only new bytes, so each byte is examined once.

use crate::ProtocolError;

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched SSE event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, if any (`message` is the default type and stays `None`).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `id:` field, if any.
    pub id: Option<String>,
}

/// Incremental SSE decoder.
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` starting the next chunk belongs to the same line break.
    after_cr: bool,
    /// Past the optional byte-order mark at the start of the stream.
    started: bool,
    /// The event being assembled.
    event: Option<String>,
    data: String,
    has_data: bool,
    id: Option<String>,
}

impl SseDecoder {
    pub fn new() -> Self {
        SseDecoder::default()
    }

    /// Feeds a chunk and appends the events it completes to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), ProtocolError> {
        let mut rest = bytes;
        if rest.is_empty() {
            return Ok(()); // an empty read must not break a CRLF split around it
        }
        if !self.started {
            // The spec strips one leading UTF-8 byte-order mark; it may arrive split across reads.
            let needed = BOM.len().saturating_sub(self.line.len());
            let prefix = [self.line.as_slice(), &rest[..needed.min(rest.len())]].concat();
            if BOM.starts_with(&prefix) {
                if prefix.len() < BOM.len() {
                    self.line = prefix;
                    return Ok(());
                }
                self.line.clear();
                rest = &rest[needed..];
            }
            self.started = true;
        }
        if self.after_cr {
            self.after_cr = false;
            if let Some(b'\n') = rest.first() {
                rest = &rest[1..];
            }
        }
        while let Some(pos) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&rest[..pos]);
            let terminator = rest[pos];
            rest = &rest[pos + 1..];
            if terminator == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out)?;
        }
        self.line.extend_from_slice(rest);
        Ok(())
    }

    /// Ends the stream. As the SSE spec says, an event not closed by its blank line is incomplete and is not
    /// dispatched: that is reported as truncation, so a cut-off stream is never mistaken for a finished one.
    pub fn finish(&mut self, _out: &mut Vec<SseEvent>) -> Result<(), ProtocolError> {
        // A partial line, or data lines not yet closed by a blank line, mean the stream stopped mid-event.
        let incomplete = !self.line.is_empty() || self.has_data;
        self.line.clear();
        self.has_data = false;
        self.data.clear();
        self.event = None;
        if incomplete {
            Err(ProtocolError::Truncated(
                "the last SSE event was not terminated by a blank line".into(),
            ))
        } else {
            Ok(())
        }
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), ProtocolError> {
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        let line = std::str::from_utf8(line)
            .map_err(|e| ProtocolError::Malformed(format!("SSE line is not UTF-8: {e}")))?;
        if line.starts_with(':') {
            return Ok(()); // comment / keep-alive
        }
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            _ => {} // `retry` and unknown fields are ignored, per the spec
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if self.has_data {
            out.push(SseEvent {
                event,
                data: std::mem::take(&mut self.data),
                id: self.id.clone(),
            });
        }
        self.has_data = false;
        self.data.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_whole(input: &[u8]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        d.push(input, &mut out).unwrap();
        d.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn comments_fields_and_multiline_data() {
        let events = decode_whole(
            b": keep-alive\nevent: delta\nid: 7\ndata: a\ndata:b\nretry: 10\n\ndata: [DONE]\n\n",
        );
        assert_eq!(
            events,
            vec![
                SseEvent {
                    event: Some("delta".into()),
                    data: "a\nb".into(),
                    id: Some("7".into())
                },
                SseEvent {
                    event: None,
                    data: "[DONE]".into(),
                    id: Some("7".into())
                },
            ]
        );
    }

    #[test]
    fn crlf_and_cr_line_endings() {
        let events = decode_whole(b"data: x\r\n\r\ndata: y\r\rdata: z\n\n");
        let data: Vec<_> = events.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data, ["x", "y", "z"]);
    }

    #[test]
    fn event_without_data_is_not_dispatched() {
        assert!(decode_whole(b"event: ping\n\n").is_empty());
    }

    #[test]
    fn an_unterminated_last_event_is_truncation_not_an_event() {
        for input in [&b"data: last"[..], b"data: last\n", b"event: x\ndata: y\n"] {
            let mut d = SseDecoder::new();
            let mut out = Vec::new();
            d.push(input, &mut out).unwrap();
            assert!(
                matches!(d.finish(&mut out), Err(ProtocolError::Truncated(_))),
                "{input:?}"
            );
            assert!(out.is_empty());
        }
        // A comment-only tail is not an event.
        assert!(decode_whole(b"data: a\n\n: bye\n").len() == 1);
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_break() {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        d.push(b"data: a\r", &mut out).unwrap();
        d.push(b"\n\r", &mut out).unwrap();
        d.push(b"\n", &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, "a");
    }

    #[test]
    fn a_leading_bom_is_stripped_even_when_split_and_empty_reads_are_harmless() {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for piece in [&b"\xEF"[..], b"", b"\xBB\xBFdata: a\r", b"", b"\n\r\n"] {
            d.push(piece, &mut out).unwrap();
        }
        d.finish(&mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, "a");
    }

    #[test]
    fn invalid_utf8_is_a_typed_error() {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        assert!(matches!(
            d.push(b"data: \xff\xfe\n\n", &mut out),
            Err(ProtocolError::Malformed(_))
        ));
    }
}
