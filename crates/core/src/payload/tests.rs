//! Tests of `core::payload`: payload files, the cache buster on every payload shape, and generated prompts.

use super::*;
use proptest::prelude::*;
use serde_json::json;

// ---------------------------------------------------------------------------------------------------------------
// payload.jsonl

#[test]
fn reads_one_object_per_line_skipping_blank_lines() {
    let text = "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}\n\n   \n{\"input\":\"b\"}\r\n\t\n";
    let file = parse_payload_jsonl(text);
    assert_eq!(
        file.payloads,
        vec![
            json!({"messages": [{"role": "user", "content": "a"}]}),
            json!({"input": "b"})
        ]
    );
    assert_eq!(file.lines, vec![1, 4]);
    assert!(file.errors.is_empty());
    assert_eq!(file.clone().require_payloads(), Ok(file));
}

#[test]
fn a_bad_line_is_reported_by_number_and_nothing_else_is_lost() {
    let text = [
        r#"{"prompt": "one"}"#,
        r#"{"prompt": "two""#,
        r#"[{"prompt": "array"}]"#,
        r#""just a string""#,
        "",
        "42",
        "null",
        r#"{"prompt": "three"}"#,
        "not json at all",
        r#"{"prompt": "four"} trailing"#,
    ]
    .join("\n");
    let file = parse_payload_jsonl(&text);
    assert_eq!(
        file.payloads,
        vec![json!({"prompt": "one"}), json!({"prompt": "three"})]
    );
    assert_eq!(file.lines, vec![1, 8]);
    let lines: Vec<usize> = file.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 6, 7, 9, 10]);
    let messages: Vec<String> = file.errors.iter().map(ToString::to_string).collect();
    assert!(
        messages[0].starts_with("line 2: not valid JSON at column 16: EOF while parsing an object"),
        "{}",
        messages[0]
    );
    assert_eq!(
        messages[1],
        "line 3: expected a JSON object (one request body), found an array"
    );
    assert!(messages[2].ends_with("found a string"));
    assert!(messages[3].ends_with("found a number"));
    assert!(messages[4].ends_with("found null"));
    assert!(
        messages[5].starts_with("line 9: not valid JSON at column 2: expected ident"),
        "{}",
        messages[5]
    );
    assert!(
        messages[6].starts_with("line 10: not valid JSON at column 20: trailing characters"),
        "{}",
        messages[6]
    );
    // Columns count characters of the whole line, leading spaces and non-ASCII text included.
    let columns = parse_payload_jsonl("  {\"prompt\": \"héllo\" x}\n\t[");
    assert!(
        columns.errors[0]
            .message
            .starts_with("not valid JSON at column 22: expected `,` or `}`"),
        "{}",
        columns.errors[0].message
    );
    assert!(
        columns.errors[1]
            .message
            .starts_with("not valid JSON at column 2: EOF while parsing a list"),
        "{}",
        columns.errors[1].message
    );
    // No position is left in the middle of the message.
    assert!(messages.iter().all(|m| !m.contains(" at line ")), "{messages:?}");
    // Usable: the good lines are kept, the errors beside them.
    let usable = file.require_payloads().unwrap();
    assert_eq!(usable.payloads.len(), 2);
    assert_eq!(usable.errors.len(), 7);
}

#[test]
fn bytes_markers_are_kept_as_is_and_checked() {
    let marker = json!({"__llmeter_bytes__": "/9j/4AA="});
    let line = json!({"messages": [{"role": "user", "content": [
        {"text": "What is in this image?"},
        {"image": {"format": "jpeg", "source": {"bytes": marker}}},
    ]}]});
    let file = parse_payload_jsonl(&line.to_string());
    assert_eq!(file.payloads, vec![line.clone()]);
    assert!(file.errors.is_empty());

    let bad =
        r#"{"messages": [{"content": [{"image": {"source": {"bytes": {"__llmeter_bytes__": "%%"}}}}]}]}"#;
    let tricky = r#"{"a/b~c": {"__llmeter_bytes__": 5}}"#;
    // A dict with other keys beside the marker key is not a marker (LLMeter's rule): left alone.
    let not_a_marker = r#"{"x": {"__llmeter_bytes__": "%%", "other": 1}}"#;
    let file = parse_payload_jsonl(&[bad, tricky, not_a_marker].join("\n"));
    assert_eq!(file.lines, vec![3]);
    assert_eq!(file.errors.len(), 2);
    assert_eq!(file.errors[0].line, 1);
    assert!(
        file.errors[0]
            .message
            .starts_with("invalid `__llmeter_bytes__` marker: "),
        "{}",
        file.errors[0].message
    );
    assert!(file.errors[0]
        .message
        .ends_with("(at /messages/0/content/0/image/source/bytes)"));
    assert_eq!(
        file.errors[1].message,
        "invalid `__llmeter_bytes__` marker: expected a base64 string, found a number 5 (at /a~1b~0c)"
    );
    // A marker as the whole line is not an object payload of ours, but it is an object: its pointer is the root.
    let file = parse_payload_jsonl(r#"{"__llmeter_bytes__": "!"}"#);
    assert!(
        file.errors[0].message.ends_with("(at /)"),
        "{}",
        file.errors[0].message
    );
}

#[test]
fn a_byte_order_mark_and_crlf_are_accepted() {
    let file = parse_payload_jsonl("\u{feff}{\"prompt\": \"a\"}\r\n{\"prompt\": \"b\"}\r\n");
    assert_eq!(
        file.payloads,
        vec![json!({"prompt": "a"}), json!({"prompt": "b"})]
    );
    assert!(file.errors.is_empty());
}

#[test]
fn a_file_without_payloads_is_an_error_to_show() {
    for empty in ["", "\n\n  \n", "\u{feff}"] {
        let err = parse_payload_jsonl(empty).require_payloads().unwrap_err();
        assert_eq!(err, PayloadFileError::Empty);
        assert!(err.to_string().starts_with("the payload file is empty"));
    }
    let err = parse_payload_jsonl("[1]\n\nnope\n")
        .require_payloads()
        .unwrap_err();
    let PayloadFileError::NoGoodLine { errors } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![1, 3]);
    assert_eq!(
        err.to_string(),
        "the payload file has no usable request body (2 bad lines); line 1: expected a JSON object (one request \
         body), found an array"
    );
    let one = parse_payload_jsonl("7").require_payloads().unwrap_err();
    assert!(one.to_string().contains("(1 bad line);"), "{one}");
}

#[test]
fn a_pretty_printed_object_is_one_payload() {
    let pretty = "{\n    \"messages\": [\n        {\"role\": \"user\", \"content\": \"hi\"}\n    ],\n    \"max_tokens\": 5\n}\n";
    let file = parse_payload_jsonl(&format!("\n{pretty}"));
    assert_eq!(
        file.payloads,
        vec![json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5})]
    );
    assert_eq!(file.lines, vec![2]);
    assert!(file.errors.is_empty());
    // An array is not read whole: it is read line by line like any JSON Lines text.
    let file = parse_payload_jsonl("[\n{\"a\": 1}\n]");
    assert_eq!(file.payloads, vec![json!({"a": 1})]);
    assert_eq!(file.errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![1, 3]);
}

#[test]
fn writes_one_compact_line_per_payload() {
    assert_eq!(write_payload_jsonl(&[]), "");
    let payloads = vec![
        json!({"messages": [{"role": "user", "content": "line one\nline two \u{2028} «ünïcode» \"quoted\""}], "max_tokens": 7}),
        json!({"inputText": "x", "textGenerationConfig": {"maxTokenCount": 3, "temperature": 0.25}}),
        json!({"bytes": {"__llmeter_bytes__": "AAEC"}}),
        json!({}),
    ];
    let text = write_payload_jsonl(&payloads);
    assert_eq!(text.lines().count(), payloads.len());
    assert!(text.ends_with('\n'));
    assert_eq!(
        text.lines().next().unwrap(),
        r#"{"messages":[{"role":"user","content":"line one\nline two "#.to_owned()
            + "\u{2028}"
            + r#" «ünïcode» \"quoted\""}],"max_tokens":7}"#
    );
    let back = parse_payload_jsonl(&text);
    assert_eq!(back.payloads, payloads);
    assert_eq!(back.lines, vec![1, 2, 3, 4]);
    assert!(back.errors.is_empty());
    assert_eq!(PAYLOAD_FILE, "payload.jsonl");
}

#[test]
fn reads_llmeter_style_lines() {
    // `json.dumps` output: spaces after separators, ASCII escapes, Python's key order.
    let text = "{\"modelId\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": [{\"text\": \"caf\\u00e9\"}]}], \
                \"inferenceConfig\": {\"maxTokens\": 256}}\n";
    let file = parse_payload_jsonl(text);
    assert_eq!(file.payloads[0]["messages"][0]["content"][0]["text"], "café");
    let keys: Vec<&String> = file.payloads[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["modelId", "messages", "inferenceConfig"]);
}

// ---------------------------------------------------------------------------------------------------------------
// Cache buster

const TAG: &str = "req-1";

/// Every payload shape Tokenmeter's `create_payload`s build (protocol's and AWS's), with the pointer of the text
/// the cache buster must prefix.
fn shapes(prompt: &str) -> Vec<(&'static str, Value, &'static str)> {
    vec![
        (
            "chat / anthropic / sagemaker openai",
            json!({"messages": [{"role": "user", "content": prompt}], "max_tokens": 5}),
            "/messages/0/content",
        ),
        (
            "responses",
            json!({"input": prompt, "max_output_tokens": 5}),
            "/input",
        ),
        (
            "bedrock converse",
            json!({"messages": [{"role": "user", "content": [{"text": prompt}]}], "inferenceConfig": {"maxTokens": 5}}),
            "/messages/0/content/0/text",
        ),
        (
            "invoke claude",
            json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5, "messages": [{"role": "user", "content": prompt}]}),
            "/messages/0/content",
        ),
        (
            "invoke openai",
            json!({"messages": [{"role": "user", "content": prompt}], "max_completion_tokens": 5}),
            "/messages/0/content",
        ),
        (
            "invoke nova",
            json!({"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": prompt}]}], "inferenceConfig": {"maxTokens": 5}}),
            "/messages/0/content/0/text",
        ),
        (
            "invoke llmeter default",
            json!({"messages": [{"role": "user", "content": [{"text": prompt, "type": "text"}]}], "max_tokens": 5}),
            "/messages/0/content/0/text",
        ),
        (
            "invoke llama",
            json!({"prompt": prompt, "max_gen_len": 5}),
            "/prompt",
        ),
        (
            "invoke titan",
            json!({"inputText": prompt, "textGenerationConfig": {"maxTokenCount": 5}}),
            "/inputText",
        ),
        (
            "sagemaker tgi",
            json!({"inputs": prompt, "parameters": {"max_new_tokens": 5, "details": true}}),
            "/inputs",
        ),
    ]
}

#[test]
fn prefixes_the_prompt_of_every_shape_tokenmeter_builds() {
    for (name, payload, pointer) in shapes("tell me") {
        let busted = bust_cache(&payload, TAG);
        assert_eq!(busted.pointer(pointer), Some(&json!("[req-1] tell me")), "{name}");
        // Nothing else changed.
        let mut restored = busted.clone();
        *restored.pointer_mut(pointer).unwrap() = json!("tell me");
        assert_eq!(restored, payload, "{name}");
        // The original is untouched; in place says it found the text.
        let mut in_place = payload.clone();
        assert!(bust_cache_in_place(&mut in_place, TAG), "{name}");
        assert_eq!(in_place, busted, "{name}");
    }
}

#[test]
fn mistral_and_other_template_openings_keep_their_place() {
    let cases = [
        ("<s>[INST] hello [/INST]", "<s>[INST] [t] hello [/INST]"),
        ("<s> [INST]hello", "<s> [INST][t] hello"),
        (
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhello<|eot_id|>",
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n[t] hello<|eot_id|>",
        ),
        ("<|im_start|>user\nhello", "<|im_start|>user\n[t] hello"),
        ("  plain", "[t]   plain"),
        ("", "[t] "),
        ("[INST]", "[INST][t] "),
    ];
    for (prompt, want) in cases {
        let busted = bust_cache(&json!({"prompt": prompt}), "t");
        assert_eq!(busted["prompt"], want, "{prompt:?}");
    }
}

#[test]
fn the_first_user_text_is_found_past_system_messages_and_images() {
    let chat = json!({"messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
            {"type": "text", "text": "what is this?"},
        ]},
        {"role": "assistant", "content": "a cat"},
        {"role": "user", "content": "and this?"},
    ]});
    let busted = bust_cache(&chat, TAG);
    assert_eq!(busted["messages"][0]["content"], "be brief");
    assert_eq!(
        busted["messages"][1]["content"][1]["text"],
        "[req-1] what is this?"
    );
    assert_eq!(busted["messages"][3]["content"], "and this?");

    // Anthropic: image block first, system prompt apart.
    let anthropic = json!({"system": "sys", "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}},
        {"type": "text", "text": "describe"},
    ]}]});
    let busted = bust_cache(&anthropic, TAG);
    assert_eq!(busted["system"], "sys");
    assert_eq!(busted["messages"][0]["content"][1]["text"], "[req-1] describe");

    // An image-only user message is passed over for the next user text; a bytes marker is never touched.
    let converse = json!({"system": [{"text": "sys"}], "messages": [
        {"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": {"__llmeter_bytes__": "AA=="}}}}]},
        {"role": "assistant", "content": [{"text": "ok"}]},
        {"role": "user", "content": [{"text": "now this"}]},
    ]});
    let busted = bust_cache(&converse, TAG);
    assert_eq!(busted["messages"][0], converse["messages"][0]);
    assert_eq!(busted["messages"][1]["content"][0]["text"], "ok");
    assert_eq!(busted["messages"][2]["content"][0]["text"], "[req-1] now this");
    assert_eq!(busted["system"], converse["system"]);

    // Responses: instructions kept, first user item's input_text prefixed.
    let responses = json!({"instructions": "sys", "input": [
        {"role": "developer", "content": "dev"},
        {"type": "message", "role": "user", "content": [
            {"type": "input_image", "image_url": "data:image/png;base64,AA=="},
            {"type": "input_text", "text": "hello"},
        ]},
    ]});
    let busted = bust_cache(&responses, TAG);
    assert_eq!(busted["instructions"], "sys");
    assert_eq!(busted["input"][0]["content"], "dev");
    assert_eq!(busted["input"][1]["content"][1]["text"], "[req-1] hello");
    let responses = json!({"input": [{"role": "user", "content": "plain"}]});
    assert_eq!(
        bust_cache(&responses, TAG)["input"][0]["content"],
        "[req-1] plain"
    );
}

#[test]
fn payloads_without_user_text_are_unchanged() {
    let cases = [
        json!({}),
        json!([{"role": "user", "content": "an array payload"}]),
        json!("a string"),
        json!({"messages": []}),
        json!({"messages": [{"role": "assistant", "content": "no user"}]}),
        json!({"messages": [{"role": "system", "content": "only system"}]}),
        json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}),
        json!({"messages": [{"role": "user", "content": [{"type": "tool_result", "text": "not prompt"}]}]}),
        json!({"messages": [{"role": "user", "content": [{"type": 3, "text": "odd type"}]}]}),
        json!({"messages": [{"role": "user", "content": 5}]}),
        json!({"messages": [{"content": "no role"}]}),
        json!({"input": 5, "prompt": ["not", "a", "string"], "inputs": null}),
        json!({"system": "only a system prompt"}),
    ];
    for payload in cases {
        assert_eq!(bust_cache(&payload, TAG), payload);
        let mut copy = payload.clone();
        assert!(!bust_cache_in_place(&mut copy, TAG), "{payload}");
        assert_eq!(copy, payload);
    }
}

#[test]
fn messages_win_over_other_keys_and_fall_back_to_them() {
    let both = json!({"messages": [{"role": "user", "content": "m"}], "prompt": "p"});
    let busted = bust_cache(&both, TAG);
    assert_eq!(
        (
            busted["messages"][0]["content"].as_str(),
            busted["prompt"].as_str()
        ),
        (Some("[req-1] m"), Some("p"))
    );
    let fallback = json!({"messages": [{"role": "assistant", "content": "m"}], "inputs": "p"});
    assert_eq!(bust_cache(&fallback, TAG)["inputs"], "[req-1] p");
}

#[test]
fn cache_buster_tags_are_unique_per_request_and_seed() {
    assert_eq!(cache_buster_tag(1, 2), cache_buster_tag(1, 2));
    let tag = cache_buster_tag(0, 0);
    assert_eq!(tag.len(), 4 + 16);
    assert!(tag.starts_with("req-") && tag[4..].chars().all(|c| c.is_ascii_hexdigit()));
    let tags: std::collections::HashSet<String> = (0..10_000).map(|i| cache_buster_tag(42, i)).collect();
    assert_eq!(tags.len(), 10_000);
    assert!((0..100).all(|i| cache_buster_tag(42, i) != cache_buster_tag(43, i)));
    assert_eq!(cache_buster_prefix("abc"), "[abc] ");
}

// ---------------------------------------------------------------------------------------------------------------
// Prompts

#[test]
fn generated_prompts_have_exactly_n_words_and_are_deterministic() {
    assert_eq!(generated_prompt(0, 1), "");
    for n in [1, 2, 10, 500, 4096] {
        let text = generated_prompt(n, 9);
        assert_eq!(text.split_whitespace().count(), n as usize);
        assert_eq!(
            text.split(' ').count(),
            n as usize,
            "single spaces, none leading or trailing"
        );
        assert!(text.split(' ').all(|w| VOCABULARY.contains(&w)));
        assert_eq!(generated_prompt(n, 9), text);
    }
    assert_ne!(generated_prompt(50, 1), generated_prompt(50, 2));
    // A longer prompt of the same seed extends the shorter one.
    assert!(generated_prompt(100, 3).starts_with(&generated_prompt(40, 3)));
}

#[test]
fn the_vocabulary_is_plain_distinct_words() {
    let distinct: std::collections::HashSet<&str> = VOCABULARY.iter().copied().collect();
    assert_eq!(distinct.len(), VOCABULARY.len());
    assert!(VOCABULARY
        .iter()
        .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase())));
}

#[test]
fn source_prompts_take_the_first_words_like_llmeters_dummy_tokenizer() {
    let source = "\u{feff}Call me  Ishmael.\nSome years ago\u{1c}never\tmind\r\nhow long";
    assert_eq!(source_prompt(source, 0), "");
    assert_eq!(source_prompt(source, 3), "Call me Ishmael.");
    assert_eq!(source_prompt(source, 6), "Call me Ishmael. Some years ago");
    assert_eq!(
        source_prompt(source, 8),
        "Call me Ishmael. Some years ago never mind"
    );
    assert_eq!(source_prompt(source, 1000).split(' ').count(), 10);
    assert_eq!(source_prompt("   ", 5), "");
    // U+00A0 and U+3000 are white space to Python too.
    assert_eq!(source_prompt("a\u{a0}b\u{3000}c", 5), "a b c");
}

#[test]
fn prompt_specs_parse_and_print_losslessly() {
    assert_eq!("generated:500".parse(), Ok(PromptSpec::Generated { tokens: 500 }));
    assert_eq!("generated: 12 ".parse(), Ok(PromptSpec::Generated { tokens: 12 }));
    assert_eq!(
        "Tell me a story".parse(),
        Ok(PromptSpec::Fixed("Tell me a story".into()))
    );
    assert_eq!(
        "text:generated:5".parse(),
        Ok(PromptSpec::Fixed("generated:5".into()))
    );
    assert_eq!("".parse(), Ok(PromptSpec::Fixed(String::new())));
    assert_eq!(
        "generated:x".parse::<PromptSpec>(),
        Err(PromptSpecError::NotANumber("x".into()))
    );
    assert_eq!(
        "generated:-3".parse::<PromptSpec>(),
        Err(PromptSpecError::NotANumber("-3".into()))
    );
    assert_eq!(
        "generated:0".parse::<PromptSpec>(),
        Err(PromptSpecError::OutOfRange(0))
    );
    let too_big = PromptSpec::generated("1000001").unwrap_err();
    assert_eq!(too_big, PromptSpecError::OutOfRange(1_000_001));
    assert_eq!(
        too_big.to_string(),
        "the generated prompt length must be between 1 and 1000000 tokens, found 1000001"
    );
    assert_eq!(
        PromptSpec::generated("lots").unwrap_err().to_string(),
        "the generated prompt length must be a whole number of tokens, found \"lots\""
    );
    assert_eq!(
        PromptSpec::generated("1000000"),
        Ok(PromptSpec::Generated {
            tokens: MAX_GENERATED_TOKENS
        })
    );
    for spec in [
        PromptSpec::Generated { tokens: 7 },
        PromptSpec::Fixed("hello".into()),
        PromptSpec::Fixed("generated:7".into()),
        PromptSpec::Fixed("text:x".into()),
        PromptSpec::Fixed(String::new()),
    ] {
        assert_eq!(spec.to_string().parse(), Ok(spec.clone()), "{spec:?}");
    }
    assert_eq!(PromptSpec::Generated { tokens: 7 }.to_string(), "generated:7");
}

#[test]
fn prompt_specs_make_the_run_prompts() {
    let fixed = PromptSpec::Fixed("hi".into());
    assert_eq!(fixed.text(3), "hi");
    assert_eq!(fixed.prompts(10, 3), vec!["hi".to_owned()]);
    let generated = PromptSpec::Generated { tokens: 20 };
    assert_eq!(generated.text(3), generated_prompt(20, 3));
    let prompts = generated.prompts(8, 3);
    assert_eq!(prompts.len(), 8);
    let distinct: std::collections::HashSet<&String> = prompts.iter().collect();
    assert_eq!(distinct.len(), 8);
    assert!(prompts.iter().all(|p| p.split_whitespace().count() == 20));
    assert_eq!(generated.prompts(8, 3), prompts);
    assert_eq!(generated.prompts(0, 3).len(), 1);
    assert_eq!(generated.prompts(1, 3)[0], prompts[0]);
}

// ---------------------------------------------------------------------------------------------------------------
// Properties

/// Any JSON value (finite numbers, any Unicode strings), a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            json_object(inner),
        ]
    })
}

fn json_object(inner: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    prop::collection::vec((".{0,8}", inner), 0..6)
        .prop_map(|entries| Value::Object(entries.into_iter().collect()))
}

proptest! {
    #[test]
    fn parsing_never_panics_and_accounts_for_every_line(text in "(?s).{0,400}") {
        let file = parse_payload_jsonl(&text);
        prop_assert_eq!(file.payloads.len(), file.lines.len());
        prop_assert!(file.payloads.iter().all(Value::is_object));
        let non_blank = text
            .strip_prefix('\u{feff}')
            .unwrap_or(&text)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count();
        // Every non-blank line is a payload or an error, except for the one pretty-printed object.
        let pretty = file.payloads.len() == 1 && file.errors.is_empty() && non_blank > 1;
        prop_assert!(pretty || file.payloads.len() + file.errors.len() == non_blank);
        let mut all: Vec<usize> = file.lines.iter().copied().chain(file.errors.iter().map(|e| e.line)).collect();
        let sorted = { let mut s = all.clone(); s.sort_unstable(); s };
        all.sort_unstable();
        all.dedup();
        prop_assert_eq!(all, sorted);
    }

    #[test]
    fn json_lines_of_junk_never_panic(lines in prop::collection::vec(
        prop_oneof![json_value().prop_map(|v| v.to_string()), "[{}\\[\\]\":, a-z0-9]{0,30}"], 0..12)) {
        let file = parse_payload_jsonl(&lines.join("\n"));
        prop_assert_eq!(file.payloads.len() + file.errors.len(), lines.iter().filter(|l| !l.trim().is_empty()).count());
    }

    #[test]
    fn write_then_parse_round_trips(payloads in prop::collection::vec(json_object(json_value()), 0..8)) {
        let text = write_payload_jsonl(&payloads);
        prop_assert_eq!(text.lines().count(), payloads.len());
        let file = parse_payload_jsonl(&text);
        prop_assert!(file.errors.is_empty(), "{:?}", file.errors);
        prop_assert_eq!(file.lines, (1..=payloads.len()).collect::<Vec<_>>());
        prop_assert_eq!(file.payloads, payloads);
    }

    #[test]
    fn bad_lines_lose_nothing_else(
        rows in prop::collection::vec(
            prop_oneof![
                json_object(json_value()).prop_map(Ok),
                // Never JSON: an identifier that is not true/false/null.
                "x[^\n\r]{0,20}".prop_map(Err),
                json_value().prop_filter("not an object", |v| !v.is_object()).prop_map(|v| Err(v.to_string())),
            ],
            1..12,
        ),
    ) {
        let text = rows
            .iter()
            .map(|row| match row { Ok(v) => v.to_string(), Err(line) => line.clone() })
            .collect::<Vec<_>>()
            .join("\n");
        let file = parse_payload_jsonl(&text);
        let good: Vec<Value> = rows.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
        let good_lines: Vec<usize> = rows.iter().enumerate().filter(|(_, r)| r.is_ok()).map(|(i, _)| i + 1).collect();
        let bad_lines: Vec<usize> = rows.iter().enumerate().filter(|(_, r)| r.is_err()).map(|(i, _)| i + 1).collect();
        prop_assert_eq!(file.payloads, good);
        prop_assert_eq!(file.lines, good_lines);
        prop_assert_eq!(file.errors.iter().map(|e| e.line).collect::<Vec<_>>(), bad_lines);
    }

    #[test]
    fn the_cache_buster_prefixes_any_prompt_of_any_shape(prompt in "[^<\\[]{0,40}", unique in "[a-z0-9-]{1,20}") {
        for (name, payload, pointer) in shapes(&prompt) {
            let busted = bust_cache(&payload, &unique);
            let want = format!("[{unique}] {prompt}");
            prop_assert_eq!(busted.pointer(pointer).and_then(Value::as_str), Some(want.as_str()), "{}", name);
        }
    }

    #[test]
    fn the_cache_buster_never_panics(payload in json_value(), unique in ".{0,10}") {
        let mut busted = payload.clone();
        let changed = bust_cache_in_place(&mut busted, &unique);
        // A change always adds the (non-empty) prefix; no change leaves the payload as it was.
        prop_assert_eq!(changed, busted != payload);
    }

    #[test]
    fn generated_prompts_have_the_asked_length(n in 0u32..3000, seed in any::<u64>()) {
        let text = generated_prompt(n, seed);
        prop_assert_eq!(text.split_whitespace().count(), n as usize);
        prop_assert_eq!(source_prompt(&text, n), text.clone());
        prop_assert_eq!(generated_prompt(n, seed), text);
    }
}
