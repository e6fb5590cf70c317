//! `POST /v1/chat/completions` over real HTTP: the streaming and non-streaming wire shapes, the timing
//! knobs (lower bounds only: slow CI machines may add delay, never remove it) and knob precedence.

mod common;

use std::time::Duration;

use common::{chat_body, fast, start, Request};
use mock_llm::Config;
use serde_json::json;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test]
async fn stream_has_content_chunks_then_finish_usage_and_done() {
    let addr = start(fast()).await;
    let body = json!({
        "model": "gpt-test",
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [
            {"role": "system", "content": "be  brief"},
            {"role": "user", "content": "hello there\nworld"},
        ],
    });
    let response = Request::chat("", body)
        .header("x-mock-tokens", "5")
        .send(addr)
        .await;

    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert!(response.complete, "body should end with the final chunk");
    assert!(response.ends_with_done());

    let id = response
        .header("x-mock-request-id")
        .expect("request id header")
        .to_owned();
    assert!(id.starts_with("chatcmpl-") && id.len() > "chatcmpl-".len());
    let chunks = response.chunks();
    assert_eq!(
        chunks.len(),
        1 + 5 + 2,
        "role chunk, 5 content chunks, finish, usage: {chunks:#?}"
    );
    for chunk in &chunks {
        assert_eq!(chunk["id"], id.as_str());
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "gpt-test");
        assert!(chunk["created"].as_u64().unwrap() > 1_600_000_000);
    }
    // The role chunk comes first on its own, with empty content, as OpenAI sends it.
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(chunks[1]["choices"][0]["delta"], json!({"content": "tok"}));
    for chunk in &chunks[2..6] {
        assert_eq!(chunk["choices"][0]["delta"], json!({"content": " tok"}));
        assert_eq!(chunk["choices"][0]["finish_reason"], json!(null));
        assert_eq!(chunk["choices"][0]["index"], 0);
    }
    let text: String = response.content_events().into_iter().map(|(_, t)| t).collect();
    assert_eq!(text, "tok tok tok tok tok");

    let finish = &chunks[6];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(finish["choices"][0]["delta"], json!({}));

    let usage = &chunks[7];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["prompt_tokens"], 5, "be brief hello there world");
    assert_eq!(usage["usage"]["completion_tokens"], 5);
    assert_eq!(usage["usage"]["total_tokens"], 10);
}

#[tokio::test]
async fn usage_chunk_only_when_asked_for() {
    let addr = start(fast()).await;
    let cases = [
        (json!(null), None, false),
        (json!({"include_usage": false}), None, false),
        (json!({"include_usage": true}), None, true),
        (json!(null), Some("1"), true),
        (json!({"include_usage": true}), Some("false"), false),
    ];
    for (options, header, expect_usage) in cases {
        let mut body = chat_body(true, "hi");
        if !options.is_null() {
            body["stream_options"] = options.clone();
        }
        let mut request = Request::chat("?tokens=2", body);
        if let Some(value) = header {
            request = request.header("x-mock-include-usage", value);
        }
        let response = request.send(addr).await;
        let chunks = response.chunks();
        let has_usage = chunks.iter().any(|c| c["usage"].is_object());
        assert_eq!(
            has_usage, expect_usage,
            "stream_options={options} header={header:?}"
        );
        assert_eq!(
            chunks.len(),
            1 + 2 + 1 + usize::from(expect_usage),
            "role, 2 tokens, finish"
        );
        assert!(response.ends_with_done());
    }
}

#[tokio::test]
async fn text_parts_count_as_prompt_tokens() {
    let addr = start(fast()).await;
    let body = json!({
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "describe this image"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "text", "text": "briefly"},
        ]}],
    });
    let response = Request::chat("?tokens=1", body).send(addr).await;
    let usage = response.chunks().last().unwrap()["usage"].clone();
    assert_eq!(usage["prompt_tokens"], 4);
    assert_eq!(usage["total_tokens"], 5);
    assert_eq!(
        response.chunks()[0]["model"],
        "mock-model",
        "default model name when none is sent"
    );
}

#[tokio::test]
async fn zero_tokens_still_sends_role_chunk_and_finish() {
    // The role chunk is the encoder's head: sent at once, whatever the token count.
    let addr = start(fast()).await;
    let response = Request::chat("?tokens=0", chat_body(true, "hi")).send(addr).await;
    let chunks = response.chunks();
    assert_eq!(chunks.len(), 2);
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(chunks[1]["choices"][0]["finish_reason"], "stop");
    assert!(response.ends_with_done());
}

#[tokio::test]
async fn ttft_delays_the_first_content_chunk_but_not_the_role_chunk() {
    let addr = start(fast()).await;
    let response = Request::chat("", chat_body(true, "hi"))
        .header("x-mock-ttft-ms", "300")
        .header("x-mock-tokens", "2")
        .send(addr)
        .await;
    let content = response.content_events();
    assert_eq!(content.len(), 2);
    let first = response.elapsed(content[0].0.at);
    assert!(
        first >= ms(300),
        "first token after {first:?}, expected at least 300ms"
    );
    // The head is sent before the wait: half the TTFT is a generous margin for a busy machine.
    let head_gap = content[0].0.at.duration_since(response.events[0].at);
    assert!(
        head_gap >= ms(150),
        "role chunk only {head_gap:?} before the first token"
    );
}

#[tokio::test]
async fn itl_spaces_tokens_and_each_event_is_flushed_on_its_own() {
    let addr = start(fast()).await;
    let (ttft, itl, n) = (100u64, 120u64, 5u32);
    let response = Request::chat(
        &format!("?ttft_ms={ttft}&itl_ms={itl}&tokens={n}"),
        chat_body(true, "hi"),
    )
    .send(addr)
    .await;
    let content = response.content_events();
    assert_eq!(content.len(), n as usize);
    let last = response.elapsed(content.last().unwrap().0.at);
    let expected = ms(ttft + u64::from(n - 1) * itl);
    assert!(
        last >= expected,
        "last token after {last:?}, expected at least {expected:?}"
    );
    // Had the server buffered the stream, every event would arrive together at the end. Half the
    // nominal span is a generous margin for a busy machine.
    let span = content.last().unwrap().0.at.duration_since(content[0].0.at);
    let nominal = ms(u64::from(n - 1) * itl);
    assert!(
        span >= nominal / 2,
        "events arrived within {span:?}; not streamed incrementally"
    );
    assert!(response.ends_with_done());
}

#[tokio::test]
async fn non_streaming_returns_one_completion_after_the_full_delay() {
    let addr = start(fast()).await;
    let body =
        json!({"model": "m1", "max_tokens": 4, "messages": [{"role": "user", "content": "one two three"}]});
    let response = Request::chat("", body)
        .header("x-mock-ttft-ms", "100")
        .header("x-mock-itl-ms", "25")
        .send(addr)
        .await;
    let elapsed = response.elapsed(std::time::Instant::now());
    assert!(elapsed >= ms(100 + 4 * 25), "answered after {elapsed:?}");

    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let completion = response.json();
    assert_eq!(completion["object"], "chat.completion");
    assert_eq!(completion["id"], response.header("x-mock-request-id").unwrap());
    assert_eq!(completion["model"], "m1");
    assert_eq!(completion["choices"][0]["message"]["role"], "assistant");
    assert_eq!(completion["choices"][0]["message"]["content"], "tok tok tok tok");
    assert_eq!(
        completion["choices"][0]["finish_reason"], "length",
        "max_tokens cut the default 20 tokens short"
    );
    assert_eq!(completion["usage"]["prompt_tokens"], 3);
    assert_eq!(completion["usage"]["completion_tokens"], 4);
    assert_eq!(completion["usage"]["total_tokens"], 7);
}

#[tokio::test]
async fn token_count_precedence_header_query_env_max_tokens_default() {
    let env = start(Config {
        tokens: Some(7),
        capacity: None,
        ..fast()
    })
    .await;
    let builtin = start(fast()).await;
    let count = |addr, query: &'static str, header: Option<&'static str>, max_tokens: Option<u64>| async move {
        let mut body = chat_body(true, "hi");
        if let Some(max) = max_tokens {
            body["max_tokens"] = json!(max);
        }
        let mut request = Request::chat(query, body);
        if let Some(value) = header {
            request = request.header("x-mock-tokens", value);
        }
        let response = request.send(addr).await;
        let n = response.content_events().len();
        assert_eq!(response.header("x-mock-tokens"), Some(n.to_string().as_str()));
        n
    };
    assert_eq!(
        count(env, "?tokens=5", Some("3"), None).await,
        3,
        "header beats query"
    );
    assert_eq!(count(env, "?tokens=5", None, None).await, 5, "query beats env");
    assert_eq!(count(env, "", None, None).await, 7, "env default");
    assert_eq!(
        count(env, "", None, Some(4)).await,
        4,
        "max_tokens caps the env default"
    );
    assert_eq!(
        count(env, "", Some("9"), Some(4)).await,
        9,
        "an explicit header wins over max_tokens"
    );
    assert_eq!(count(builtin, "", None, None).await, 20, "built-in default");
    assert_eq!(
        count(builtin, "", None, Some(6)).await,
        6,
        "max_tokens caps the built-in default"
    );

    let mut body = chat_body(true, "hi");
    body["max_completion_tokens"] = json!(8);
    let response = Request::chat("", body).send(builtin).await;
    assert_eq!(
        response.content_events().len(),
        8,
        "max_completion_tokens is honoured too"
    );
}

#[tokio::test]
async fn timing_precedence_is_echoed_in_response_headers() {
    let env = start(Config {
        ttft_ms: 4,
        itl_ms: 3,
        tokens: Some(1),
        capacity: None,
    })
    .await;
    let builtin = start(Config::default()).await;
    let echoed = |addr, query: &'static str, headers: &'static [(&'static str, &'static str)]| async move {
        let mut request = Request::chat(query, chat_body(false, "hi"));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send(addr).await;
        assert_eq!(response.status, 200);
        (
            response.header("x-mock-ttft-ms").unwrap().parse::<u64>().unwrap(),
            response.header("x-mock-itl-ms").unwrap().parse::<u64>().unwrap(),
        )
    };
    let both = &[("x-mock-ttft-ms", "1"), ("x-mock-itl-ms", "2")];
    assert_eq!(
        echoed(env, "?ttft_ms=5&itl_ms=6", both).await,
        (1, 2),
        "headers beat query"
    );
    assert_eq!(
        echoed(env, "?ttft_ms=5&itl_ms=6", &[]).await,
        (5, 6),
        "query beats env"
    );
    assert_eq!(
        echoed(env, "?itl_ms=6", &[("x-mock-ttft-ms", "0")]).await,
        (0, 6),
        "mixed sources"
    );
    assert_eq!(echoed(env, "", &[]).await, (4, 3), "env defaults");
    assert_eq!(
        echoed(builtin, "?tokens=1", &[]).await,
        (50, 10),
        "built-in defaults"
    );
}

#[tokio::test]
async fn malformed_requests_get_openai_style_400s() {
    let addr = start(fast()).await;
    let bad_knob = Request::chat("", chat_body(true, "hi"))
        .header("x-mock-ttft-ms", "soon")
        .send(addr)
        .await;
    let bad_query = Request::chat("?tokens=many", chat_body(true, "hi"))
        .send(addr)
        .await;
    let bad_json = Request::chat("", json!(null))
        .body("{not json".to_owned())
        .send(addr)
        .await;
    for response in [bad_knob, bad_query, bad_json] {
        assert_eq!(response.status, 400);
        let error = &response.json()["error"];
        assert_eq!(error["type"], "invalid_request_error");
        assert!(error["message"].as_str().unwrap().contains("mock-llm"), "{error}");
        assert!(response.header("x-mock-request-id").is_some());
    }
    // An empty body is accepted as `{}`: handy for `curl -X POST` with only knobs.
    let empty = Request::new("POST", "/v1/chat/completions?tokens=2")
        .send(addr)
        .await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json()["choices"][0]["message"]["content"], "tok tok");
}
