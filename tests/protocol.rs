//! Protocol decoders against recorded streams and bodies of every API (`tests/data/`, provenance in its README),
//! split at every byte boundary: the events must not depend on how the network chunked the bytes. Also: cut
//! streams are truncation, and no input of any kind panics a decoder.

use proptest::prelude::*;

use tokenmeter::protocol::framing::SseStream;
use tokenmeter::protocol::openai_chat::ChatInterpreter;
use tokenmeter::protocol::sse::{SseDecoder, SseEvent};
use tokenmeter::protocol::{Api, OutputKind, ProtocolError, ResponseDecoder, StreamEvent, Usage};

use crate::util::{reasoning, stop, visible};

const OPENAI_STREAM: &[u8] = include_bytes!("data/openai_chat_stream.sse");

/// One recorded response and what it must decode to.
struct Fixture {
    name: &'static str,
    api: Api,
    stream: bool,
    bytes: &'static [u8],
    events: fn() -> Vec<StreamEvent>,
}

fn usage(
    input: Option<u64>,
    output: Option<u64>,
    cached: Option<u64>,
    reasoning: Option<u64>,
) -> StreamEvent {
    StreamEvent::Usage(Usage {
        input_tokens: input,
        output_tokens: output,
        cached_input_tokens: cached,
        reasoning_output_tokens: reasoning,
    })
}

fn id(id: &str) -> StreamEvent {
    StreamEvent::ResponseId(id.into())
}

const FIXTURES: [Fixture; 6] = [
    Fixture {
        name: "openai_chat_stream.sse",
        api: Api::OpenAiChat,
        stream: true,
        bytes: OPENAI_STREAM,
        events: || {
            vec![
                id("chatcmpl-7f3a"),
                reasoning("thinking"),
                visible("Hello"),
                visible(" wörld"),
                visible(" 🙂"),
                stop("stop"),
                usage(Some(9), Some(4), Some(2), Some(1)),
            ]
        },
    },
    Fixture {
        name: "openai_chat.json",
        api: Api::OpenAiChat,
        stream: false,
        bytes: include_bytes!("data/openai_chat.json"),
        events: || {
            vec![
                id("chatcmpl-7f3a"),
                reasoning("thinking"),
                visible("Hello wörld 🙂"),
                stop("stop"),
                usage(Some(9), Some(4), Some(2), Some(1)),
            ]
        },
    },
    Fixture {
        name: "openai_responses_stream.sse",
        api: Api::OpenAiResponses,
        stream: true,
        bytes: include_bytes!("data/openai_responses_stream.sse"),
        events: || {
            vec![
                id("resp_67ccd2bed1ec8190"),
                reasoning("Thinking"),
                // LLMeter's rule: the first output_text.delta is the first token, even when empty.
                visible(""),
                visible("Hello"),
                visible(" wörld"),
                visible(" 🙂"),
                usage(Some(9), Some(4), Some(2), Some(1)),
                stop("completed"),
            ]
        },
    },
    Fixture {
        name: "openai_responses.json",
        api: Api::OpenAiResponses,
        stream: false,
        bytes: include_bytes!("data/openai_responses.json"),
        events: || {
            vec![
                id("resp_67ccd2bed1ec8190"),
                visible("Hello wörld 🙂"),
                usage(Some(9), Some(4), Some(2), Some(1)),
                stop("completed"),
            ]
        },
    },
    Fixture {
        name: "anthropic_messages_stream.sse",
        api: Api::AnthropicMessages,
        stream: true,
        bytes: include_bytes!("data/anthropic_messages_stream.sse"),
        events: || {
            vec![
                id("msg_01XFDUDYJgAACzvnptvVoYEL"),
                usage(Some(9), None, Some(2), None),
                reasoning("Thinking"),
                reasoning(""), // the signature_delta: thinking output, no text
                visible("Hello"),
                visible(" wörld"),
                visible(" 🙂"),
                stop("end_turn"),
                usage(None, Some(4), None, None),
            ]
        },
    },
    Fixture {
        name: "anthropic_messages.json",
        api: Api::AnthropicMessages,
        stream: false,
        bytes: include_bytes!("data/anthropic_messages.json"),
        events: || {
            vec![
                id("msg_01XFDUDYJgAACzvnptvVoYEL"),
                visible("Hello wörld 🙂"),
                usage(Some(9), Some(4), Some(2), None),
                stop("end_turn"),
            ]
        },
    },
];

/// The one place these tests drive a decoder: feeds `pieces` in order, then finishes.
fn check(api: Api, stream: bool, pieces: &[&[u8]]) -> Result<Vec<StreamEvent>, ProtocolError> {
    let mut decoder = api.decoder(stream);
    let mut out = Vec::new();
    for piece in pieces {
        decoder.push(piece, &mut out)?;
    }
    decoder.finish(&mut out)?;
    Ok(out)
}

#[test]
fn every_fixture_decodes_to_its_events_however_it_is_split() {
    for f in &FIXTURES {
        let whole = check(f.api, f.stream, &[f.bytes]).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        assert_eq!(whole, (f.events)(), "{}", f.name);
        for i in 0..=f.bytes.len() {
            let (a, b) = f.bytes.split_at(i);
            assert_eq!(
                check(f.api, f.stream, &[a, b]).as_ref(),
                Ok(&whole),
                "{} split at {i}",
                f.name
            );
        }
        let bytes: Vec<&[u8]> = f.bytes.chunks(1).collect();
        assert_eq!(
            check(f.api, f.stream, &bytes).as_ref(),
            Ok(&whole),
            "{} byte by byte",
            f.name
        );
    }
}

#[test]
fn a_stream_cut_before_its_terminal_event_is_truncated() {
    for f in FIXTURES.iter().filter(|f| f.stream && f.api != Api::OpenAiChat) {
        for end in 0..f.bytes.len() {
            let result = check(f.api, f.stream, &[&f.bytes[..end]]);
            assert!(
                matches!(result, Err(ProtocolError::Truncated(_))),
                "{} cut at {end}: {result:?}",
                f.name
            );
        }
    }
    // Chat Completions: complete from its finish reason on ([DONE] may be lost); truncated before it.
    let finish = OPENAI_STREAM
        .windows(b"\"finish_reason\":\"stop\"".len())
        .position(|w| w == b"\"finish_reason\":\"stop\"")
        .unwrap();
    for end in 0..finish {
        let result = check(Api::OpenAiChat, true, &[&OPENAI_STREAM[..end]]);
        assert!(
            matches!(result, Err(ProtocolError::Truncated(_))),
            "cut at {end}: {result:?}"
        );
    }
}

#[test]
fn a_cut_json_body_is_malformed() {
    for f in FIXTURES.iter().filter(|f| !f.stream) {
        let cut = &f.bytes[..f.bytes.len() / 2];
        assert!(
            matches!(check(f.api, false, &[cut]), Err(ProtocolError::Malformed(_))),
            "{}",
            f.name
        );
    }
}

#[test]
fn garbage_in_a_data_line_is_a_decode_error() {
    for api in Api::ALL {
        let err = check(api, true, &[b"data: {not json\n\n"]).unwrap_err();
        assert!(
            matches!(err, ProtocolError::Malformed(ref m) if m.contains("not JSON")),
            "{api:?}: {err}"
        );
    }
}

#[test]
fn in_stream_error_events_are_typed_provider_errors() {
    let cases: [(Api, &[u8], bool); 5] = [
        (
            Api::OpenAiChat,
            b"data: {\"error\":{\"message\":\"slow down\",\"code\":\"rate_limit_exceeded\"}}\n\ndata: [DONE]\n\n",
            true,
        ),
        (
            Api::AnthropicMessages,
            b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
            true,
        ),
        (
            Api::AnthropicMessages,
            b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"boom\"}}\n\n",
            false,
        ),
        (
            Api::OpenAiResponses,
            b"event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"boom\"}}}\n\n",
            false,
        ),
        (
            Api::OpenAiResponses,
            b"event: error\ndata: {\"type\":\"error\",\"code\":\"rate_limit_exceeded\",\"message\":\"slow\"}\n\n",
            true,
        ),
    ];
    for (api, bytes, throttled) in cases {
        let mut decoder = api.decoder(true);
        let mut out = Vec::new();
        decoder.push(bytes, &mut out).unwrap();
        assert!(
            matches!(out.last(), Some(StreamEvent::ProviderError { throttled: t, .. }) if *t == throttled),
            "{api:?}: {out:?}"
        );
    }
}

#[test]
fn encoders_write_what_decoders_read() {
    use tokenmeter::protocol::wire::{Finish, Reply, WireFault};
    let reply = Reply {
        id: "x1".into(),
        model: "m".into(),
        created: 1,
        input_tokens: 7,
        cached_input_tokens: 0,
    };
    for api in Api::ALL {
        let e = api.encoder();
        let mut stream = e.head(&reply);
        for (i, t) in ["a", " b", " c"].iter().enumerate() {
            stream.extend(e.token(&reply, i as u32, t));
        }
        stream.extend(e.finish(&reply, "a b c", 3, Finish::Stop, true));
        let body = e.body(&reply, "a b c", 3, Finish::Stop);
        for (stream_mode, bytes) in [(true, &stream), (false, &body)] {
            let events = check(api, stream_mode, &[bytes]).unwrap_or_else(|err| panic!("{api:?}: {err}"));
            let text: String = events
                .iter()
                .filter_map(|e| match e {
                    StreamEvent::Output {
                        kind: OutputKind::Visible,
                        text,
                    } => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(text, "a b c", "{api:?} stream={stream_mode}");
            let mut tokens = Usage::default();
            for event in &events {
                if let StreamEvent::Usage(u) = event {
                    tokens.input_tokens = u.input_tokens.or(tokens.input_tokens);
                    tokens.output_tokens = u.output_tokens.or(tokens.output_tokens);
                }
            }
            assert_eq!(
                (tokens.input_tokens, tokens.output_tokens),
                (Some(7), Some(3)),
                "{api:?}"
            );
        }
        let mut broken = e.head(&reply);
        broken.extend(e.error_event(&reply, WireFault::Throttled, "later"));
        // The engine ends the request at the error event; the stream's end after it is never read.
        let mut decoder = api.decoder(true);
        let mut events = Vec::new();
        decoder.push(&broken, &mut events).unwrap();
        assert!(
            matches!(
                events.last(),
                Some(StreamEvent::ProviderError { throttled: true, .. })
            ),
            "{api:?}: {events:?}"
        );
    }
}

/// Decodes SSE fed as the given pieces.
fn sse_events(pieces: &[&[u8]]) -> Vec<SseEvent> {
    let mut decoder = SseDecoder::new();
    let mut out = Vec::new();
    for piece in pieces {
        decoder.push(piece, &mut out).unwrap();
    }
    decoder.finish(&mut out).unwrap();
    out
}

#[test]
fn sse_events_do_not_depend_on_where_chunks_split_twice() {
    let whole = sse_events(&[OPENAI_STREAM]);
    assert_eq!(whole.len(), 7);
    for j in (0..OPENAI_STREAM.len()).step_by(7) {
        for i in 0..j {
            let (a, rest) = OPENAI_STREAM.split_at(i);
            let (b, c) = rest.split_at(j - i);
            assert_eq!(sse_events(&[a, b, c]), whole, "split at {i} and {j}");
        }
    }
}

#[test]
fn a_chat_stream_is_complete_at_done_not_before() {
    let mut decoder = SseStream::new(ChatInterpreter::default());
    let mut out = Vec::new();
    let done = OPENAI_STREAM.len() - b"data: [DONE]\n\n".len();
    decoder.push(&OPENAI_STREAM[..done], &mut out).unwrap();
    assert!(!decoder.is_complete());
    decoder.push(&OPENAI_STREAM[done..], &mut out).unwrap();
    assert!(decoder.is_complete());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever bytes arrive, in whatever pieces, no decoder panics: it yields events or a typed error.
    #[test]
    fn no_input_panics_a_decoder(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        cuts in proptest::collection::vec(0usize..512, 0..6),
    ) {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        cuts.sort_unstable();
        for api in Api::ALL {
            for stream in [true, false] {
                let mut decoder = api.decoder(stream);
                let mut out = Vec::new();
                let mut at = 0;
                for &cut in cuts.iter().chain([bytes.len()].iter()) {
                    if decoder.push(&bytes[at..cut], &mut out).is_err() {
                        break;
                    }
                    at = cut;
                }
                let _ = decoder.finish(&mut out);
            }
        }
    }

    /// SSE-shaped noise (fields, JSON fragments, line breaks) gets past the framing and tests the interpreters.
    #[test]
    fn no_event_shaped_input_panics_an_interpreter(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("data: ".to_owned()), Just("event: error\n".to_owned()), Just("\n".to_owned()),
                Just("{\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":-1}}}".to_owned()),
                Just("{\"type\":\"response.completed\",\"response\":{\"status\":\"failed\",\"error\":7}}".to_owned()),
                Just("{\"choices\":[{\"delta\":{\"content\":5},\"finish_reason\":[]}],\"usage\":\"x\"}".to_owned()),
                Just("[DONE]".to_owned()),
                "\\PC{0,12}",
            ],
            0..24,
        ),
    ) {
        let text = lines.concat();
        for api in Api::ALL {
            let _ = check(api, true, &[text.as_bytes()]);
            let _ = check(api, false, &[text.as_bytes()]);
        }
    }
}
