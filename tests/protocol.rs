//! Protocol decoders against recorded streams, split at every byte boundary: the events must not depend on
//! how the network chunked the bytes.

use tokenmeter::protocol::framing::SseStream;
use tokenmeter::protocol::openai_chat::ChatInterpreter;
use tokenmeter::protocol::sse::{SseDecoder, SseEvent};
use tokenmeter::protocol::{OutputKind, ProtocolError, ResponseDecoder, StreamEvent, Usage};

const OPENAI_STREAM: &[u8] = include_bytes!("data/openai_chat_stream.sse");

/// Decodes `input` fed as the given pieces.
fn sse_events(pieces: &[&[u8]]) -> Vec<SseEvent> {
    let mut decoder = SseDecoder::new();
    let mut out = Vec::new();
    for piece in pieces {
        decoder.push(piece, &mut out).unwrap();
    }
    decoder.finish(&mut out).unwrap();
    out
}

fn chat_events(pieces: &[&[u8]]) -> Result<Vec<StreamEvent>, ProtocolError> {
    let mut decoder = SseStream::new(ChatInterpreter::default());
    let mut out = Vec::new();
    for piece in pieces {
        decoder.push(piece, &mut out)?;
    }
    decoder.finish(&mut out)?;
    Ok(out)
}

#[test]
fn sse_events_do_not_depend_on_where_chunks_split() {
    let whole = sse_events(&[OPENAI_STREAM]);
    assert_eq!(whole.len(), 7);
    for i in 0..=OPENAI_STREAM.len() {
        let (a, b) = OPENAI_STREAM.split_at(i);
        assert_eq!(sse_events(&[a, b]), whole, "split at {i}");
    }
    for j in (0..OPENAI_STREAM.len()).step_by(7) {
        for i in 0..j {
            let (a, rest) = OPENAI_STREAM.split_at(i);
            let (b, c) = rest.split_at(j - i);
            assert_eq!(sse_events(&[a, b, c]), whole, "split at {i} and {j}");
        }
    }
    let bytes: Vec<&[u8]> = OPENAI_STREAM.chunks(1).collect();
    assert_eq!(sse_events(&bytes), whole, "one byte at a time");
}

#[test]
fn openai_stream_decodes_to_events() {
    let events = chat_events(&[OPENAI_STREAM]).unwrap();
    let visible = |t: &str| StreamEvent::Output {
        kind: OutputKind::Visible,
        text: t.into(),
    };
    assert_eq!(
        events,
        vec![
            StreamEvent::ResponseId("chatcmpl-7f3a".into()),
            StreamEvent::Output {
                kind: OutputKind::Reasoning,
                text: "thinking".into()
            },
            visible("Hello"),
            visible(" wörld"),
            visible(" 🙂"),
            StreamEvent::Stop {
                reason: Some("stop".into())
            },
            StreamEvent::Usage(Usage {
                input_tokens: Some(9),
                output_tokens: Some(4),
                cached_input_tokens: Some(2),
                reasoning_output_tokens: Some(1),
            }),
        ]
    );
    for i in 0..=OPENAI_STREAM.len() {
        let (a, b) = OPENAI_STREAM.split_at(i);
        assert_eq!(chat_events(&[a, b]).unwrap(), events, "split at {i}");
    }
}

#[test]
fn a_stream_cut_before_the_end_is_truncated() {
    let cut = &OPENAI_STREAM[..OPENAI_STREAM.len() / 2];
    assert!(matches!(chat_events(&[cut]), Err(ProtocolError::Truncated(_))));
}

#[test]
fn garbage_in_a_data_line_is_a_decode_error() {
    let err = chat_events(&[b"data: {not json\n\n"]).unwrap_err();
    assert!(matches!(err, ProtocolError::Malformed(m) if m.contains("not JSON")));
}

#[test]
fn in_stream_error_events_are_provider_errors() {
    let events = chat_events(&[
        b"data: {\"id\":\"x\",\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
        b"data: {\"error\":{\"message\":\"slow down\",\"code\":\"rate_limit_exceeded\"}}\n\ndata: [DONE]\n\n",
    ])
    .unwrap();
    assert_eq!(
        events.last(),
        Some(&StreamEvent::ProviderError {
            throttled: true,
            message: "slow down".into()
        })
    );
}
