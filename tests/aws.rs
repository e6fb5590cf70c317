//! AWS protocol layer: SigV4 against the published AWS signing test-suite and a request botocore signed; the
//! event-stream framing and the Bedrock / SageMaker interpreters against fixtures built independently and checked
//! with botocore (`tests/data/aws/`, provenance in `tests/data/README.md`), split at every byte boundary; corrupt
//! frames, cut streams and in-stream exceptions typed; encoder → decoder round trips; no input panics a decoder.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use serde_json::Value;

use tokenmeter::protocol::aws::eventstream::{event_frame, exception_frame};
use tokenmeter::protocol::aws::invoke::{chunk_frame, InvokeBody};
use tokenmeter::protocol::aws::sagemaker::{payload_part, Container};
use tokenmeter::protocol::aws::sigv4::{parse_amz_date, verify, AwsAuth, AwsCredentials, SigV4};
use tokenmeter::protocol::aws::{AwsEndpoint, AwsTarget, BedrockApi};
use tokenmeter::protocol::wire::{Finish, Reply, WireFault};
use tokenmeter::protocol::{
    Credential, ErrorClass, HttpRequest, OutputKind, ProtocolError, ResponseDecoder, ServerLatency,
    StreamEvent, Usage,
};

use crate::util::{reasoning, stop, visible};

fn data(path: &str) -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(path),
    )
    .unwrap()
}

// ---------------------------------------------------------------------------------------------- SigV4

/// A test-suite request (`request.txt`): request line, `Name:value` headers, blank line, body.
fn suite_request(text: &str) -> HttpRequest {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));

    let mut lines = head.lines();
    let request_line: Vec<&str> = lines.next().unwrap().split(' ').collect();
    let mut host = String::new();
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        if name.eq_ignore_ascii_case("host") {
            host = value.trim().to_owned();
        } else {
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    HttpRequest {
        method: request_line[0].to_owned(),
        url: format!("https://{host}{}", request_line[1]),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

/// The `Authorization` value of a test-suite signed request.
fn suite_authorization(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("Authorization:"))
        .unwrap()
        .to_owned()
}

#[test]
fn sigv4_test_suite_vectors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigv4");
    let mut count = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_dir() {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let read = |f: &str| fs::read_to_string(path.join(f)).unwrap();
        let context: Value = serde_json::from_str(&read("context.json")).unwrap();
        let creds = &context["credentials"];
        let credentials = AwsCredentials::new(
            creds["access_key_id"].as_str().unwrap(),
            creds["secret_access_key"].as_str().unwrap(),
            creds["token"].as_str().map(str::to_owned),
        );
        let time = parse_amz_date(&context["timestamp"].as_str().unwrap().replace(['-', ':'], "")).unwrap();
        let mut request = suite_request(&read("request.txt"));
        let signer = SigV4 {
            service: context["service"].as_str().unwrap(),
            region: context["region"].as_str().unwrap(),
            credentials: &credentials,
            content_sha256: context["sign_body"].as_bool().unwrap(),
        };
        signer
            .sign(&mut request, time)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            request.header("authorization").unwrap(),
            suite_authorization(&read("header-signed-request.txt")),
            "{name}"
        );
        assert_eq!(request.header("x-amz-date"), Some("20150830T123600Z"), "{name}");
        assert_eq!(
            request.header("x-amz-security-token"),
            creds["token"].as_str(),
            "{name}"
        );
        assert_eq!(request.header("host"), None, "{name}: a page may not set host");
        count += 1;
    }
    assert_eq!(count, 24, "the vectors copied into tests/data/sigv4");
}

fn botocore_example() -> (Value, HttpRequest, AwsCredentials, SystemTime) {
    let example: Value = serde_json::from_slice(&data("sigv4/bedrock-converse-stream.json")).unwrap();
    let s = |k: &str| example[k].as_str().unwrap().to_owned();
    let headers = example["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let request = HttpRequest {
        method: s("method"),
        url: s("url"),
        headers,
        body: s("body").into_bytes(),
    };
    let credentials = AwsCredentials::new(
        s("access_key_id"),
        s("secret_access_key"),
        Some(s("session_token")),
    );
    let time = parse_amz_date(&s("time")).unwrap();
    (example, request, credentials, time)
}

#[test]
fn a_request_botocore_signed_verifies_and_is_signed_alike() {
    let (example, received, credentials, time) = botocore_example();
    let verified = verify(&received, &credentials).unwrap();
    assert_eq!((verified.time, verified.service.as_str()), (time, "bedrock"));

    // The same request signed here, with what a page sends (no user-agent, no content-length).
    let mut ours = HttpRequest {
        headers: vec![("Content-Type".into(), "application/json".into())],
        ..received.clone()
    };
    let signer = SigV4 {
        service: "bedrock",
        region: "us-east-1",
        credentials: &credentials,
        content_sha256: false,
    };
    signer.sign(&mut ours, time).unwrap();
    assert_eq!(ours.header("authorization"), received.header("authorization"));
    assert_eq!(
        ours.header("x-amz-security-token"),
        received.header("x-amz-security-token")
    );

    // A wrong key, or one changed byte of the body, is refused.
    let wrong = AwsCredentials::new("AKIDEXAMPLE", "not-the-secret", None);
    assert!(verify(&received, &wrong).is_err());
    let mut changed = received.clone();
    changed.body[20] ^= 1;
    changed.headers.push(("x-unsigned".into(), "ignored".into()));
    assert!(verify(&changed, &credentials).is_err());
    assert!(example["provenance"].as_str().unwrap().contains("botocore"));
}

#[test]
fn a_converse_stream_endpoint_builds_what_botocore_sends_and_signs_it_for_the_page() {
    let (_, received, credentials, time) = botocore_example();
    let endpoint = AwsEndpoint {
        target: AwsTarget::Bedrock {
            api: BedrockApi::Converse,
            model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
        },
        region: "us-east-1".into(),
        base_url: None,
        stream: true,
        auth: AwsAuth::SigV4(credentials.clone()),
        extra_headers: vec![],
    };
    let payload = endpoint.create_payload("Hello wörld", 16);
    let mut request = endpoint.build_request(&payload).unwrap();
    assert_eq!(request.url, received.url);
    let ours: Value = serde_json::from_slice(&request.body).unwrap();
    let theirs: Value = serde_json::from_slice(&received.body).unwrap();
    assert_eq!(ours, theirs);
    endpoint.authorize(&mut request, time).unwrap();
    let auth = request.header("authorization").unwrap().to_owned();
    assert!(
        auth.contains(
            "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"
        ),
        "{auth}"
    );
    let names: Vec<String> = request
        .headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect();
    assert!(
        !names.iter().any(|n| n == "host" || n == "content-length"),
        "{names:?}"
    );
    // What the service receives: the page's headers plus the browser's own.
    request
        .headers
        .push(("Host".into(), "bedrock-runtime.us-east-1.amazonaws.com".into()));
    request
        .headers
        .push(("Content-Length".into(), request.body.len().to_string()));
    request
        .headers
        .push(("Origin".into(), "http://localhost:8080".into()));
    verify(&request, &credentials).unwrap();
    // Signing is deterministic.
    let mut again = endpoint.build_request(&payload).unwrap();
    endpoint.authorize(&mut again, time).unwrap();
    assert_eq!(again.header("authorization"), Some(auth.as_str()));
}

// ------------------------------------------------------------------------------------------- fixtures

fn usage(input: Option<u64>, output: Option<u64>, cached: Option<u64>) -> StreamEvent {
    StreamEvent::Usage(Usage {
        input_tokens: input,
        output_tokens: output,
        cached_input_tokens: cached,
        reasoning_output_tokens: None,
    })
}

fn endpoint(target: AwsTarget, stream: bool) -> AwsEndpoint {
    AwsEndpoint {
        target,
        region: "us-east-1".into(),
        base_url: Some("http://127.0.0.1:8787".into()),
        stream,
        auth: AwsAuth::None,
        extra_headers: vec![],
    }
}

fn converse() -> AwsTarget {
    AwsTarget::Bedrock {
        api: BedrockApi::Converse,
        model_id: "m".into(),
    }
}

fn invoke(body: InvokeBody) -> AwsTarget {
    AwsTarget::Bedrock {
        api: BedrockApi::Invoke(body),
        model_id: "m".into(),
    }
}

fn sagemaker(format: Container) -> AwsTarget {
    AwsTarget::SageMaker {
        endpoint_name: "e".into(),
        format,
        model: None,
    }
}

/// Every target an endpoint can have.
fn targets() -> Vec<AwsTarget> {
    let mut all = vec![converse()];
    for body in [
        InvokeBody::Anthropic,
        InvokeBody::OpenAiChat,
        InvokeBody::Converse,
        InvokeBody::Llama,
        InvokeBody::Mistral,
        InvokeBody::Titan,
    ] {
        all.push(invoke(body));
    }
    all.extend(Container::ALL.map(sagemaker));
    all
}

/// What one response decoded to.
#[derive(Debug, PartialEq)]
struct Decoded {
    events: Vec<StreamEvent>,
    latency: Option<ServerLatency>,
    class: Option<ErrorClass>,
    complete: bool,
}

/// Feeds `pieces` in order, then finishes.
fn decode(target: &AwsTarget, stream: bool, pieces: &[&[u8]]) -> Result<Decoded, ProtocolError> {
    let mut decoder = endpoint(target.clone(), stream).decoder();
    let mut events = Vec::new();
    for piece in pieces {
        decoder.push(piece, &mut events)?;
    }
    decoder.finish(&mut events)?;
    Ok(Decoded {
        events,
        latency: decoder.server_latency(),
        class: decoder.error_class(),
        complete: decoder.is_complete(),
    })
}

/// Feeds `bytes` without finishing: what a request sees before the engine ends it at an error event.
fn pushed(target: &AwsTarget, bytes: &[u8]) -> (Vec<StreamEvent>, Box<dyn ResponseDecoder>) {
    let mut decoder = endpoint(target.clone(), true).decoder();
    let mut events = Vec::new();
    decoder.push(bytes, &mut events).unwrap();
    (events, decoder)
}

struct Fixture {
    name: &'static str,
    target: fn() -> AwsTarget,
    events: fn() -> Vec<StreamEvent>,
    latency: Option<ServerLatency>,
}

fn ms(v: u64) -> Option<Duration> {
    Some(Duration::from_millis(v))
}

const FIXTURES: [Fixture; 3] = [
    Fixture {
        name: "aws/converse_stream.bin",
        target: converse,
        events: || {
            vec![
                reasoning("Thinking"),
                reasoning(""), // the reasoning signature: thinking output, no text
                visible("Hello"),
                visible(" wörld"),
                visible(" 🙂"),
                stop("end_turn"),
                usage(Some(9), Some(4), Some(2)),
            ]
        },
        latency: Some(ServerLatency {
            first_byte: None,
            total: Some(Duration::from_millis(321)),
        }),
    },
    Fixture {
        name: "aws/invoke_anthropic_stream.bin",
        target: || invoke(InvokeBody::Anthropic),
        events: || {
            vec![
                StreamEvent::ResponseId("msg_bdrk_01XFDUDYJgAACzvnptvVoYEL".into()),
                usage(Some(9), None, Some(2)),
                visible("Hello"),
                visible(" wörld"),
                visible(" 🙂"),
                stop("end_turn"),
                usage(None, Some(4), None),
                usage(Some(9), Some(4), None), // amazon-bedrock-invocationMetrics
            ]
        },
        latency: Some(ServerLatency {
            first_byte: Some(Duration::from_millis(123)),
            total: Some(Duration::from_millis(456)),
        }),
    },
    Fixture {
        name: "aws/sagemaker_tgi_stream.bin",
        target: || sagemaker(Container::Tgi),
        events: || {
            vec![
                visible("Hello"),
                visible(" wörld"),
                visible(" 🙂"),
                stop("eos_token"),
                usage(None, Some(4), None),
            ]
        },
        latency: None,
    },
];

#[test]
fn every_fixture_decodes_to_its_events_however_it_is_split() {
    for f in &FIXTURES {
        let bytes = data(f.name);
        let target = (f.target)();
        let whole = decode(&target, true, &[&bytes]).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        assert_eq!(whole.events, (f.events)(), "{}", f.name);
        assert_eq!(whole.latency, f.latency, "{}", f.name);
        assert!(whole.complete && whole.class.is_none(), "{}: {whole:?}", f.name);
        for i in 0..=bytes.len() {
            let (a, b) = bytes.split_at(i);
            assert_eq!(
                decode(&target, true, &[a, b]).as_ref(),
                Ok(&whole),
                "{} split at {i}",
                f.name
            );
        }
        let pieces: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(
            decode(&target, true, &pieces).as_ref(),
            Ok(&whole),
            "{} byte by byte",
            f.name
        );
    }
}

/// The byte offsets where each frame of an event stream ends.
fn frame_ends(bytes: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        at += u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        ends.push(at);
    }
    ends
}

#[test]
fn a_corrupt_frame_is_malformed() {
    for f in &FIXTURES {
        let bytes = data(f.name);
        let target = (f.target)();
        let mut start = 0;
        for end in frame_ends(&bytes) {
            // One flipped bit in the prelude (length, headers length or its CRC), or anywhere after it.
            for at in [start + 1, start + 6, start + 10, start + 14, end - 8, end - 1] {
                let mut corrupt = bytes.clone();
                corrupt[at] ^= 0x10;
                let result = decode(&target, true, &[&corrupt]);
                assert!(
                    matches!(result, Err(ProtocolError::Malformed(ref m)) if m.contains("CRC") || m.contains("checksum")),
                    "{} flipped at {at}: {result:?}",
                    f.name
                );
            }
            start = end;
        }
    }
}

#[test]
fn a_stream_cut_before_its_answer_finished_is_truncated() {
    for f in &FIXTURES {
        let bytes = data(f.name);
        let target = (f.target)();
        let ends = frame_ends(&bytes);
        // Converse: complete from messageStop on (the metadata frame may be lost); the others at their last frame.
        let finished = if f.name.contains("converse") {
            ends[ends.len() - 2]
        } else {
            *ends.last().unwrap()
        };
        for end in 0..finished {
            let result = decode(&target, true, &[&bytes[..end]]);
            assert!(
                matches!(result, Err(ProtocolError::Truncated(_))),
                "{} cut at {end}: {result:?}",
                f.name
            );
        }
        for end in finished..bytes.len() {
            assert!(
                decode(&target, true, &[&bytes[..end]]).is_ok(),
                "{} cut at {end}",
                f.name
            );
        }
    }
}

#[test]
fn in_stream_exceptions_are_typed() {
    let (events, decoder) = pushed(&converse(), &data("aws/converse_stream_throttled.bin"));
    assert_eq!(
        events,
        [
            visible("Hel"),
            StreamEvent::ProviderError {
                throttled: true,
                message: "throttlingException: Too many tokens, please wait before trying again.".into()
            }
        ]
    );
    assert_eq!(decoder.error_class(), Some(ErrorClass::Throttled));

    let (events, decoder) = pushed(
        &sagemaker(Container::Tgi),
        &data("aws/sagemaker_model_stream_error.bin"),
    );
    assert_eq!(
        events,
        [
            visible("Hello"),
            StreamEvent::ProviderError {
                throttled: false,
                message: "ModelStreamError: Your model stream failed. (ModelStreamError)".into()
            }
        ]
    );
    assert_eq!(decoder.error_class(), Some(ErrorClass::Provider));

    let cases = [
        ("throttlingException", ErrorClass::Throttled),
        ("validationException", ErrorClass::Request),
        ("modelStreamErrorException", ErrorClass::Provider),
        ("internalServerException", ErrorClass::Provider),
        ("serviceUnavailableException", ErrorClass::Provider),
        ("modelTimeoutException", ErrorClass::Provider),
        ("InternalStreamFailure", ErrorClass::Provider),
    ];
    for target in [
        converse(),
        invoke(InvokeBody::Anthropic),
        sagemaker(Container::JsonLines),
    ] {
        for (kind, class) in cases {
            let frame = exception_frame(kind, &serde_json::json!({"message": "m"}));
            let (events, decoder) = pushed(&target, &frame);
            assert_eq!(
                events,
                [StreamEvent::ProviderError {
                    throttled: class == ErrorClass::Throttled,
                    message: format!("{kind}: m")
                }],
                "{target:?}"
            );
            assert_eq!(decoder.error_class(), Some(class), "{kind}");
        }
    }
}

#[test]
fn converse_bodies_carry_usage_and_latency() {
    let body = r#"{"output":{"message":{"role":"assistant","content":[{"reasoningContent":{"reasoningText":{"text":"hm","signature":"s"}}},{"text":"Hello wörld 🙂"}]}},"stopReason":"end_turn","usage":{"inputTokens":9,"outputTokens":4,"totalTokens":13,"cacheReadInputTokens":2},"metrics":{"latencyMs":250}}"#.as_bytes();
    let decoded = decode(&converse(), false, &[&body[..40], &body[40..]]).unwrap();
    assert_eq!(
        decoded.events,
        [
            reasoning("hm"),
            visible("Hello wörld 🙂"),
            stop("end_turn"),
            usage(Some(9), Some(4), Some(2))
        ]
    );
    assert_eq!(decoded.latency.unwrap().total, ms(250));
    assert!(matches!(
        decode(&converse(), false, &[br#"{"message":"bad"}"#]),
        Err(ProtocolError::Malformed(_))
    ));
}

#[test]
fn invoke_chunks_of_every_family() {
    let metrics = serde_json::json!({"inputTokenCount": 5, "outputTokenCount": 2, "invocationLatency": 90, "firstByteLatency": 30});
    let cases: Vec<(InvokeBody, Vec<Value>, Vec<StreamEvent>)> = vec![
        (
            InvokeBody::OpenAiChat,
            vec![
                serde_json::json!({"id": "c1", "choices": [{"delta": {"content": "Hi"}, "finish_reason": null}]}),
                serde_json::json!({"id": "c1", "choices": [{"delta": {}, "finish_reason": "stop"}], "amazon-bedrock-invocationMetrics": metrics}),
            ],
            vec![
                StreamEvent::ResponseId("c1".into()),
                visible("Hi"),
                stop("stop"),
                usage(Some(5), Some(2), None),
            ],
        ),
        (
            InvokeBody::Converse,
            vec![
                serde_json::json!({"messageStart": {"role": "assistant"}}),
                serde_json::json!({"contentBlockDelta": {"delta": {"text": "Hi"}, "contentBlockIndex": 0}}),
                serde_json::json!({"messageStop": {"stopReason": "end_turn"}}),
                serde_json::json!({"metadata": {"usage": {"inputTokens": 5, "outputTokens": 2}}, "amazon-bedrock-invocationMetrics": metrics}),
            ],
            vec![
                visible("Hi"),
                stop("end_turn"),
                usage(Some(5), Some(2), None),
                usage(Some(5), Some(2), None),
            ],
        ),
        (
            InvokeBody::Llama,
            vec![
                serde_json::json!({"generation": "Hi", "prompt_token_count": 5, "generation_token_count": 1, "stop_reason": null}),
                serde_json::json!({"generation": "", "prompt_token_count": null, "generation_token_count": 2, "stop_reason": "stop", "amazon-bedrock-invocationMetrics": metrics}),
            ],
            vec![
                visible("Hi"),
                usage(Some(5), Some(1), None),
                usage(None, Some(2), None),
                stop("stop"),
                usage(Some(5), Some(2), None),
            ],
        ),
        (
            InvokeBody::Mistral,
            vec![
                serde_json::json!({"outputs": [{"text": "Hi", "stop_reason": null}]}),
                serde_json::json!({"outputs": [{"text": "", "stop_reason": "stop"}], "amazon-bedrock-invocationMetrics": metrics}),
            ],
            vec![visible("Hi"), stop("stop"), usage(Some(5), Some(2), None)],
        ),
    ];
    for (body, chunks, want) in cases {
        let bytes: Vec<u8> = chunks.iter().flat_map(chunk_frame).collect();
        let decoded =
            decode(&invoke(body.clone()), true, &[&bytes]).unwrap_or_else(|e| panic!("{body:?}: {e}"));
        assert_eq!(decoded.events, want, "{body:?}");
        assert_eq!(
            decoded.latency,
            Some(ServerLatency {
                first_byte: ms(30),
                total: ms(90)
            })
        );
        assert!(decoded.complete, "{body:?}");
    }
    // Without the metrics chunk, a finished answer is not a failure; an unfinished one is.
    let head = chunk_frame(&serde_json::json!({"outputs": [{"text": "Hi", "stop_reason": null}]}));
    assert!(matches!(
        decode(&invoke(InvokeBody::Mistral), true, &[&head]),
        Err(ProtocolError::Truncated(_))
    ));
    for bad in [
        &b"{\"bytes\": 5}"[..],
        b"{\"bytes\": \"@@@\"}",
        b"{\"bytes\": \"/w==\"}",
        b"[]",
    ] {
        let frame = event_frame("chunk", "application/json", bad);
        assert!(matches!(
            decode(&invoke(InvokeBody::Anthropic), true, &[&frame]),
            Err(ProtocolError::Malformed(_))
        ));
    }
}

#[test]
fn sagemaker_payload_parts_of_every_container() {
    let jsonl = b"{\"token\": {\"id\": 1, \"text\": \"Hi\", \"log_prob\": -0.1}}\n{\"token\": {\"id\": 2, \"text\": \" you\"}, \"generated_text\": \"Hi you\", \"details\": {\"finish_reason\": \"length\", \"generated_tokens\": 2}}\n";
    let chat = b"data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\ndata: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\" you\"},\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n";
    for (format, raw) in [
        (Container::JsonLines, &jsonl[..]),
        (Container::OpenAiChat, &chat[..]),
    ] {
        // One PayloadPart per 7 bytes: lines and JSON cut everywhere.
        let bytes: Vec<u8> = raw.chunks(7).flat_map(payload_part).collect();
        let decoded =
            decode(&sagemaker(format), true, &[&bytes]).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        let text: String = decoded
            .events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Output { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "Hi you", "{format:?}");
        assert!(
            decoded.events.contains(&stop("length")),
            "{format:?}: {:?}",
            decoded.events
        );
        assert!(decoded.complete);
    }
}

// ---------------------------------------------------------------------------------------- encoders

#[test]
fn encoders_write_what_decoders_read() {
    let reply = Reply {
        id: "msg_x1".into(),
        model: "m".into(),
        created: 1,
        input_tokens: 7,
        cached_input_tokens: 0,
    };
    let mut checked = 0;
    for target in targets() {
        let Some(e) = endpoint(target.clone(), true).encoder() else {
            continue;
        };
        checked += 1;
        let mut stream = e.head(&reply);
        for (i, t) in ["a", " b", " c"].iter().enumerate() {
            stream.extend(e.token(&reply, i as u32, t));
        }
        stream.extend(e.finish(&reply, "a b c", 3, Finish::Stop, true));
        let body = e.body(&reply, "a b c", 3, Finish::Stop);
        for (stream_mode, bytes) in [(true, &stream), (false, &body)] {
            let decoded =
                decode(&target, stream_mode, &[bytes]).unwrap_or_else(|err| panic!("{target:?}: {err}"));
            let text: String = decoded
                .events
                .iter()
                .filter_map(|e| match e {
                    StreamEvent::Output {
                        kind: OutputKind::Visible,
                        text,
                    } => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(text, "a b c", "{target:?} stream={stream_mode}");
            let mut tokens = Usage::default();
            for event in &decoded.events {
                if let StreamEvent::Usage(u) = event {
                    tokens.input_tokens = u.input_tokens.or(tokens.input_tokens);
                    tokens.output_tokens = u.output_tokens.or(tokens.output_tokens);
                }
            }
            assert_eq!(tokens.output_tokens, Some(3), "{target:?} stream={stream_mode}");
            if stream_mode {
                assert!(decoded.complete, "{target:?}");
                // Encoded streams, like the fixtures, decode alike however they are split.
                for i in (0..=bytes.len()).step_by(5) {
                    let (a, b) = bytes.split_at(i);
                    assert_eq!(
                        decode(&target, true, &[a, b]).as_ref(),
                        Ok(&decoded),
                        "{target:?} split at {i}"
                    );
                }
            }
        }
        for (fault, throttled) in [(WireFault::Throttled, true), (WireFault::Server, false)] {
            let mut broken = e.head(&reply);
            broken.extend(e.token(&reply, 0, "a"));
            broken.extend(e.error_event(&reply, fault, "later"));
            let (events, _) = pushed(&target, &broken);
            assert!(
                matches!(events.last(), Some(StreamEvent::ProviderError { throttled: t, .. }) if *t == throttled),
                "{target:?} {fault:?}: {events:?}"
            );
        }
        let error = e.error_body(429, "slow down");
        assert!(error.to_string().contains("slow down"));
    }
    assert_eq!(
        checked, 6,
        "Converse, Invoke (Anthropic, Chat), SageMaker (three formats)"
    );
}

#[test]
fn timed_encoders_report_the_latency_they_are_given() {
    use tokenmeter::protocol::aws::converse::ConverseEncoder;
    use tokenmeter::protocol::aws::invoke::ANTHROPIC_INVOKE;
    use tokenmeter::protocol::wire::Encoder;
    let reply = Reply {
        id: "msg_1".into(),
        model: "m".into(),
        created: 1,
        input_tokens: 2,
        cached_input_tokens: 0,
    };
    let latency = ServerLatency {
        first_byte: ms(40),
        total: ms(700),
    };
    let mut converse_stream = ConverseEncoder.head(&reply);
    converse_stream.extend(ConverseEncoder.finish_timed(&reply, 0, Finish::Length, latency));
    let decoded = decode(&converse(), true, &[&converse_stream]).unwrap();
    assert_eq!(decoded.latency.unwrap().total, ms(700));
    assert!(decoded.events.contains(&stop("max_tokens")));

    let mut invoke_stream = ANTHROPIC_INVOKE.head(&reply);
    invoke_stream.extend(ANTHROPIC_INVOKE.finish_timed(&reply, "", 0, Finish::Stop, latency));
    let decoded = decode(&invoke(InvokeBody::Anthropic), true, &[&invoke_stream]).unwrap();
    assert_eq!(decoded.latency, Some(latency));
}

#[test]
fn credentials_never_show_in_debug() {
    let endpoint = AwsEndpoint {
        auth: AwsAuth::SigV4(AwsCredentials::new(
            "AKIAEXAMPLE123",
            "s3cr3t-key",
            Some("t0ken".into()),
        )),
        ..endpoint(converse(), true)
    };
    let text = format!("{endpoint:?}");
    assert!(
        !text.contains("s3cr3t") && !text.contains("t0ken") && !text.contains("EXAMPLE123"),
        "{text}"
    );
    let key = AwsAuth::BedrockApiKey(Credential::new("ABSKkey"));
    assert!(!format!("{key:?}").contains("ABSKkey"));
}

// ------------------------------------------------------------------------------------------ no panic

/// Every decoder an endpoint can have, streamed and not.
fn all_decoders() -> Vec<(AwsTarget, bool)> {
    targets()
        .into_iter()
        .flat_map(|t| [(t.clone(), true), (t, false)])
        .collect()
}

fn feed(target: &AwsTarget, stream: bool, bytes: &[u8], cuts: &[usize]) {
    let mut decoder = endpoint(target.clone(), stream).decoder();
    let mut out = Vec::new();
    let mut at = 0;
    for &cut in cuts.iter().chain([bytes.len()].iter()) {
        if decoder.push(&bytes[at..cut], &mut out).is_err() {
            return;
        }
        at = cut;
    }
    let _ = decoder.finish(&mut out);
    let _ = (
        decoder.server_latency(),
        decoder.error_class(),
        decoder.is_complete(),
    );
}

fn sorted_cuts(cuts: Vec<usize>, len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(len)).collect();
    cuts.sort_unstable();
    cuts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever bytes arrive, in whatever pieces, no AWS decoder panics.
    #[test]
    fn no_input_panics_an_aws_decoder(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        cuts in proptest::collection::vec(0usize..512, 0..6),
    ) {
        let cuts = sorted_cuts(cuts, bytes.len());
        for (target, stream) in all_decoders() {
            feed(&target, stream, &bytes, &cuts);
        }
    }

    /// Valid frames (good CRCs) with any event type and JSON-ish or random payload get past the framing and test
    /// the interpreters.
    #[test]
    fn no_framed_payload_panics_an_interpreter(
        frames in proptest::collection::vec(
            (
                prop_oneof![
                    Just("chunk".to_owned()), Just("PayloadPart".to_owned()), Just("metadata".to_owned()),
                    Just("contentBlockDelta".to_owned()), Just("messageStop".to_owned()),
                    Just("exception".to_owned()), "[a-zA-Z]{0,12}",
                ],
                prop_oneof![
                    Just(r#"{"bytes":"eyJ0eXBlIjoibWVzc2FnZV9zdG9wIn0="}"#.to_owned()),
                    Just(r#"{"usage":{"inputTokens":-1,"outputTokens":1e99},"metrics":{"latencyMs":"x"}}"#.to_owned()),
                    Just(r#"{"delta":{"text":7,"reasoningContent":[]}}"#.to_owned()),
                    Just("data:{\"token\":{\"text\":null},\"details\":{\"generated_tokens\":-3}}\n".to_owned()),
                    Just(r#"{"amazon-bedrock-invocationMetrics":{"invocationLatency":18446744073709551615}}"#.to_owned()),
                    "\\PC{0,24}",
                ],
            ),
            0..8,
        ),
        cuts in proptest::collection::vec(0usize..2048, 0..4),
    ) {
        let mut bytes = Vec::new();
        for (kind, payload) in &frames {
            if kind == "exception" {
                bytes.extend(exception_frame("validationException", &Value::String(payload.clone())));
            } else {
                bytes.extend(event_frame(kind, "application/json", payload.as_bytes()));
                bytes.extend(chunk_frame(&serde_json::from_str(payload).unwrap_or(Value::Null)));
            }
        }
        let cuts = sorted_cuts(cuts, bytes.len());
        for (target, stream) in all_decoders() {
            feed(&target, stream, &bytes, &cuts);
        }
    }

    /// A valid recorded stream with a few bytes changed never panics a decoder either.
    #[test]
    fn no_mutated_fixture_panics_a_decoder(
        which in 0usize..3,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let f = &FIXTURES[which];
        let mut bytes = data(f.name);
        for (index, value) in flips {
            let i = index.index(bytes.len());
            bytes[i] = value;
        }
        feed(&(f.target)(), true, &bytes, &[]);
    }
}
