//! Arbitrary bytes into every decoder and every file reader: none may panic, whatever arrives and however it is
//! cut into chunks; a reader answers `Ok` or a typed error, a decoder events or a typed error. In the test command
//! each property runs `PROPTEST_CASES` cases (256 by default); `scripts/fuzz.sh` runs them for millions.
//!
//! Inputs mix raw bytes with mutated real samples (a valid SSE stream, a valid event-stream frame, a real LLMeter
//! run folder), so the properties reach deep into each parser, not only its first byte check.

use proptest::prelude::*;

use tokenmeter::core::format::{
    group_run_folders, read_responses, read_run_config, read_stats, read_summary, read_zip, Files, LoadedRun,
};
use tokenmeter::core::input::RawInput;
use tokenmeter::core::payload::parse_payload_jsonl;
use tokenmeter::core::stats::StatsConfig;
use tokenmeter::protocol::aws::eventstream::event_frame;
use tokenmeter::protocol::aws::invoke::InvokeBody;
use tokenmeter::protocol::aws::sagemaker::Container;
use tokenmeter::protocol::aws::sigv4::AwsAuth;
use tokenmeter::protocol::aws::{AwsEndpoint, AwsTarget, BedrockApi};
use tokenmeter::protocol::{Api, ResponseDecoder};

const SSE: &[u8] = include_bytes!("data/openai_chat_stream.sse");
const RESPONSES_SSE: &[u8] = include_bytes!("data/openai_responses_stream.sse");
const ANTHROPIC_SSE: &[u8] = include_bytes!("data/anthropic_messages_stream.sse");
const LLMETER_RESPONSES: &str = include_str!("data/llmeter/sample-openai/responses.jsonl");
const LLMETER_STATS: &str = include_str!("data/llmeter/sample-openai/stats.json");
const LLMETER_CONFIG: &str = include_str!("data/llmeter/sample-openai/run_config.json");
const LLMETER_SUMMARY: &str = include_str!("data/llmeter/sample-openai/summary.json");

/// Every decoder the engine can build: each API streamed and not, and every AWS framing and interpreter.
fn decoders() -> Vec<(String, Box<dyn ResponseDecoder>)> {
    let mut all: Vec<(String, Box<dyn ResponseDecoder>)> = Vec::new();
    for api in [Api::OpenAiChat, Api::OpenAiResponses, Api::AnthropicMessages] {
        for stream in [true, false] {
            all.push((format!("{api:?} stream={stream}"), api.decoder(stream)));
        }
    }
    let bedrock = |api| AwsTarget::Bedrock {
        api,
        model_id: "m".into(),
    };
    let mut targets = vec![bedrock(BedrockApi::Converse)];
    for body in [
        InvokeBody::Anthropic,
        InvokeBody::OpenAiChat,
        InvokeBody::Converse,
        InvokeBody::Llama,
        InvokeBody::Mistral,
        InvokeBody::Titan,
    ] {
        targets.push(bedrock(BedrockApi::Invoke(body)));
    }
    for format in [Container::Tgi, Container::JsonLines, Container::OpenAiChat] {
        targets.push(AwsTarget::SageMaker {
            endpoint_name: "e".into(),
            format,
            model: None,
        });
    }
    for target in targets {
        for stream in [true, false] {
            let endpoint = AwsEndpoint {
                target: target.clone(),
                region: "us-east-1".into(),
                base_url: None,
                stream,
                auth: AwsAuth::None,
                extra_headers: vec![],
            };
            all.push((format!("{target:?} stream={stream}"), endpoint.decoder()));
        }
    }
    all
}

/// Bytes to feed: raw, or a real stream with some bytes overwritten, cut short or doubled.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let real = prop_oneof![
        Just(SSE.to_vec()),
        Just(RESPONSES_SSE.to_vec()),
        Just(ANTHROPIC_SSE.to_vec()),
        Just(frame())
    ];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..600),
        (
            real,
            proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
            any::<prop::sample::Index>()
        )
            .prop_map(|(mut bytes, edits, cut)| {
                for (at, byte) in edits {
                    if !bytes.is_empty() {
                        let i = at.index(bytes.len());
                        bytes[i] = byte;
                    }
                }
                let keep = cut.index(bytes.len() + 1);
                bytes.truncate(keep);
                bytes
            }),
    ]
}

/// One valid AWS event-stream frame (a `chunk` event with a JSON payload), built with the protocol's own writer.
fn frame() -> Vec<u8> {
    event_frame(
        "chunk",
        "application/json",
        br#"{"bytes":"eyJ0eXBlIjoibWVzc2FnZV9zdG9wIn0="}"#,
    )
}

/// Text to read: raw bytes as text, or a real file with some characters overwritten or cut.
fn text(real: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..400).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        (
            proptest::collection::vec((any::<prop::sample::Index>(), any::<char>()), 0..6),
            any::<prop::sample::Index>()
        )
            .prop_map(move |(edits, cut)| {
                let mut chars: Vec<char> = real.chars().collect();
                for (at, c) in edits {
                    let i = at.index(chars.len());
                    chars[i] = c;
                }
                let keep = cut.index(chars.len() + 1);
                chars.truncate(keep);
                chars.into_iter().collect()
            }),
    ]
}

proptest! {
    #[test]
    fn no_decoder_panics_on_any_bytes_in_any_chunks(bytes in body(), cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        at.sort_unstable();
        for (_, mut decoder) in decoders() {
            let mut out = Vec::new();
            let mut start = 0;
            for &end in &at {
                let _ = decoder.push(&bytes[start..end], &mut out);
                start = end;
            }
            let _ = decoder.push(&bytes[start..], &mut out);
            let _ = decoder.finish(&mut out);
            let _ = (decoder.server_latency(), decoder.error_class(), decoder.is_complete());
        }
    }

    #[test]
    fn no_run_file_reader_panics(
        responses in text(LLMETER_RESPONSES),
        stats in text(LLMETER_STATS),
        config in text(LLMETER_CONFIG),
        summary in text(LLMETER_SUMMARY),
    ) {
        let _ = read_responses(&responses, None);
        let _ = read_responses(&responses, Some(&stats));
        let _ = read_stats(&stats);
        let _ = read_summary(&summary);
        if let Ok(config) = read_run_config(&config) {
            let (raw, _) = RawInput::from_run_config(&config);
            let _ = raw.parse();
        }
        let files = Files {
            run_config: Some(&config),
            responses: Some(&responses),
            summary: Some(&summary),
            stats: Some(&stats),
            tokenmeter_responses: None,
        };
        let _ = LoadedRun::from_files(&files, StatsConfig::llmeter());
    }

    #[test]
    fn no_payload_file_or_folder_grouping_panics(text in text(r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":8}
{"messages":[]}"#), paths in proptest::collection::vec("[a-z/]{0,12}(stats\\.json|responses\\.jsonl)?", 0..6)) {
        let _ = parse_payload_jsonl(&text);
        let entries: Vec<(String, String)> = paths.into_iter().map(|p| (p, text.clone())).collect();
        for folder in group_run_folders(entries) {
            let _ = LoadedRun::from_files(&folder.run_files(), StatsConfig::default());
        }
    }

    #[test]
    fn no_zip_reader_panics(bytes in proptest::collection::vec(any::<u8>(), 0..800), zipped in any::<prop::sample::Index>(), edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6)) {
        let _ = read_zip(&bytes);
        // A real archive with bytes overwritten.
        let mut real = tokenmeter::core::format::write_zip(&[("run/stats.json".to_owned(), LLMETER_STATS.to_owned())]).unwrap();
        for (at, byte) in edits {
            let i = at.index(real.len());
            real[i] = byte;
        }
        real.truncate(zipped.index(real.len() + 1));
        let _ = read_zip(&real);
    }
}
