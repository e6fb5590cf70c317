//! `POST /v1/responses` and `POST /v1/messages` over real HTTP, and Chat Completions wherever a check spans
//! every API: each wire shape streamed and not, the timing knobs (lower bounds only), every fault in the
//! API's own shape, and a round trip through tokenmeter's own decoders.

mod common;

use std::time::Duration;

use common::{api_body, fast, start, Decoded, Request};
use serde_json::{json, Value};
use tokenmeter_protocol::{Api, ProtocolError, Usage};

/// The APIs this file adds to the Chat-only tests in `chat.rs` and `faults.rs`.
const NEW_APIS: [Api; 2] = [Api::OpenAiResponses, Api::AnthropicMessages];

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The body tokenmeter itself sends: LLMeter's payload, prepared (model, `stream`, Chat's `stream_options`).
fn tokenmeter_body(api: Api, stream: bool, prompt: &str, max_tokens: u32) -> Value {
    api.prepare_payload(&api.create_payload(prompt, max_tokens), "test-model", stream)
        .unwrap()
}

fn id_prefix(api: Api) -> &'static str {
    match api {
        Api::OpenAiChat => "chatcmpl-",
        Api::OpenAiResponses => "resp_",
        Api::AnthropicMessages => "msg_",
    }
}

/// The stop reason tokenmeter's decoder reports for a complete answer (`length` = cut by the limit).
fn stop_reason(api: Api, length: bool) -> &'static str {
    match (api, length) {
        (Api::OpenAiChat, false) => "stop",
        (Api::OpenAiResponses, false) => "completed",
        (Api::AnthropicMessages, false) => "end_turn",
        (Api::AnthropicMessages, true) => "max_tokens",
        (_, true) => "length",
    }
}

/// Every event's `event:` name equals its JSON `type`.
fn assert_names_match_types(response: &common::Response) {
    for event in &response.events {
        assert_eq!(
            event.name.as_deref(),
            event.json()["type"].as_str(),
            "{}",
            event.data
        );
    }
}

#[tokio::test]
async fn responses_stream_has_the_typed_events_in_order() {
    let addr = start(fast()).await;
    let body = json!({"model": "gpt-test", "stream": true, "instructions": "be  brief",
                      "input": [{"role": "user", "content": [{"type": "input_text", "text": "one two\nthree"}]}]});
    let response = Request::api(Api::OpenAiResponses, "?tokens=3", body)
        .send(addr)
        .await;

    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert!(response.complete);
    let id = response.header("x-mock-request-id").unwrap().to_owned();
    assert!(id.starts_with("resp_") && id.len() > 5, "{id}");
    assert_names_match_types(&response);
    let delta = "response.output_text.delta";
    assert_eq!(
        response.event_names(),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            delta,
            delta,
            delta,
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let events: Vec<Value> = response.events.iter().map(|e| e.json()).collect();
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["sequence_number"], i, "{event}");
    }
    assert_eq!(events[0]["response"]["id"], id.as_str());
    assert_eq!(events[0]["response"]["model"], "gpt-test");
    assert_eq!(events[0]["response"]["status"], "in_progress");
    assert_eq!(response.content_text(), "tok tok tok");
    let done = &events[10]["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["content"][0]["text"], "tok tok tok");
    assert_eq!(done["usage"]["input_tokens"], 5, "be brief one two three");
    assert_eq!(done["usage"]["output_tokens"], 3);
    assert_eq!(done["usage"]["total_tokens"], 8);
}

#[tokio::test]
async fn messages_stream_has_the_anthropic_events_in_order() {
    let addr = start(fast()).await;
    let body = json!({"model": "claude-test", "stream": true, "max_tokens": 100, "system": "be  brief",
                      "messages": [{"role": "user", "content": [{"type": "text", "text": "one two\nthree"}]}]});
    let response = Request::api(Api::AnthropicMessages, "?tokens=3", body)
        .send(addr)
        .await;

    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    assert!(response.complete);
    let id = response.header("x-mock-request-id").unwrap().to_owned();
    assert!(id.starts_with("msg_") && id.len() > 4, "{id}");
    assert_names_match_types(&response);
    let delta = "content_block_delta";
    assert_eq!(
        response.event_names(),
        [
            "message_start",
            "content_block_start",
            "ping",
            delta,
            delta,
            delta,
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    let events: Vec<Value> = response.events.iter().map(|e| e.json()).collect();
    let message = &events[0]["message"];
    assert_eq!(message["id"], id.as_str());
    assert_eq!(message["model"], "claude-test");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["usage"]["input_tokens"], 5, "be brief one two three");
    assert_eq!(response.content_text(), "tok tok tok");
    assert_eq!(events[7]["delta"]["stop_reason"], "end_turn");
    assert_eq!(events[7]["usage"]["output_tokens"], 3);
}

#[tokio::test]
async fn responses_without_streaming_is_one_response_object_after_the_full_delay() {
    let addr = start(fast()).await;
    let body = json!({"model": "gpt-test", "input": "one two three"});
    let response = Request::api(Api::OpenAiResponses, "?ttft_ms=100&itl_ms=25&tokens=4", body)
        .send(addr)
        .await;
    let elapsed = response.elapsed(std::time::Instant::now());
    assert!(elapsed >= ms(100 + 4 * 25), "answered after {elapsed:?}");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let object = response.json();
    assert_eq!(object["object"], "response");
    assert_eq!(object["id"], response.header("x-mock-request-id").unwrap());
    assert_eq!(object["model"], "gpt-test");
    assert_eq!(object["status"], "completed");
    assert_eq!(object["output"][0]["type"], "message");
    assert_eq!(object["output"][0]["content"][0]["type"], "output_text");
    assert_eq!(object["output"][0]["content"][0]["text"], "tok tok tok tok");
    assert_eq!(object["usage"]["input_tokens"], 3);
    assert_eq!(object["usage"]["output_tokens"], 4);
}

#[tokio::test]
async fn messages_without_streaming_is_one_message_after_the_full_delay() {
    let addr = start(fast()).await;
    let body = json!({"model": "claude-test", "max_tokens": 100,
                      "messages": [{"role": "user", "content": "one two three"}]});
    let response = Request::api(Api::AnthropicMessages, "?ttft_ms=100&itl_ms=25&tokens=4", body)
        .send(addr)
        .await;
    let elapsed = response.elapsed(std::time::Instant::now());
    assert!(elapsed >= ms(100 + 4 * 25), "answered after {elapsed:?}");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let message = response.json();
    assert_eq!(message["type"], "message");
    assert_eq!(message["id"], response.header("x-mock-request-id").unwrap());
    assert_eq!(message["model"], "claude-test");
    assert_eq!(message["role"], "assistant");
    assert_eq!(
        message["content"],
        json!([{"type": "text", "text": "tok tok tok tok"}])
    );
    assert_eq!(message["stop_reason"], "end_turn");
    assert_eq!(message["usage"]["input_tokens"], 3);
    assert_eq!(message["usage"]["output_tokens"], 4);
}

#[tokio::test]
async fn tokenmeter_decodes_every_api_streamed_and_not() {
    let addr = start(fast()).await;
    for api in Api::ALL {
        for stream in [true, false] {
            let body = tokenmeter_body(api, stream, "one two three four", 1024);
            let response = Request::api(api, "?tokens=5", body).send(addr).await;
            let what = format!("{api:?} stream={stream}");
            assert_eq!(response.status, 200, "{what}");
            let decoded = response.decode(api, stream);
            assert_eq!(decoded.end, Ok(()), "{what}: {decoded:?}");
            if stream {
                assert!(decoded.complete, "{what}: the terminal event arrived");
                assert_eq!(decoded.outputs(), 5, "{what}: one output event per token");
            }
            let id = response.header("x-mock-request-id").unwrap();
            assert!(id.starts_with(id_prefix(api)), "{what}: {id}");
            assert_eq!(decoded.response_id(), Some(id), "{what}");
            assert_eq!(decoded.text(), "tok tok tok tok tok", "{what}");
            let usage = decoded.usage();
            assert_eq!(
                (usage.input_tokens, usage.output_tokens),
                (Some(4), Some(5)),
                "{what}: {usage:?}"
            );
            assert_eq!(decoded.stop(), Some(Some(stop_reason(api, false))), "{what}");
            assert_eq!(decoded.provider_error(), None, "{what}");
        }
    }
}

#[tokio::test]
async fn each_apis_output_limit_caps_the_default_and_ends_as_cut_by_length() {
    let addr = start(fast()).await;
    for api in Api::ALL {
        for stream in [true, false] {
            let what = format!("{api:?} stream={stream}");
            let response = Request::api(api, "", tokenmeter_body(api, stream, "hi", 4))
                .send(addr)
                .await;
            assert_eq!(response.header("x-mock-tokens"), Some("4"), "{what}");
            let decoded = response.decode(api, stream);
            assert_eq!(decoded.end, Ok(()), "{what}: {decoded:?}");
            assert_eq!(decoded.text(), "tok tok tok tok", "{what}");
            assert_eq!(decoded.usage().output_tokens, Some(4), "{what}");
            assert_eq!(decoded.stop(), Some(Some(stop_reason(api, true))), "{what}");
        }
    }
    // The wire shape of a length cut, streamed.
    let responses = Request::api(
        Api::OpenAiResponses,
        "",
        tokenmeter_body(Api::OpenAiResponses, true, "hi", 2),
    )
    .send(addr)
    .await;
    let last = responses.events.last().unwrap();
    assert_eq!(last.name.as_deref(), Some("response.incomplete"));
    assert_eq!(
        last.json()["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
    // A limit above the default leaves the answer whole.
    let roomy = Request::api(
        Api::AnthropicMessages,
        "",
        tokenmeter_body(Api::AnthropicMessages, false, "hi", 25),
    )
    .send(addr)
    .await;
    assert_eq!(roomy.json()["stop_reason"], "end_turn");
    assert_eq!(roomy.json()["usage"]["output_tokens"], 20);
}

#[tokio::test]
async fn timing_knobs_pace_every_api_and_the_head_comes_first() {
    let addr = start(fast()).await;
    let (ttft, itl, n) = (300u64, 60u64, 4u32);
    let mut handles = Vec::new();
    for api in NEW_APIS {
        handles.push(tokio::spawn(async move {
            let response = Request::api(api, "?tokens=4", api_body(api, true, "hi"))
                .header("x-mock-ttft-ms", &ttft.to_string())
                .header("x-mock-itl-ms", &itl.to_string())
                .send(addr)
                .await;
            (api, response)
        }));
    }
    for handle in handles {
        let (api, response) = handle.await.unwrap();
        assert_eq!(response.header("x-mock-ttft-ms"), Some("300"), "{api:?}");
        assert_eq!(response.header("x-mock-itl-ms"), Some("60"), "{api:?}");
        let content = response.content_events();
        assert_eq!(content.len(), n as usize, "{api:?}");
        let first = response.elapsed(content[0].0.at);
        assert!(first >= ms(ttft), "{api:?}: first token after {first:?}");
        let last = response.elapsed(content.last().unwrap().0.at);
        let expected = ms(ttft + u64::from(n - 1) * itl);
        assert!(
            last >= expected,
            "{api:?}: last token after {last:?}, expected {expected:?}"
        );
        // The head is sent at once, before the TTFT wait; half of it is a generous margin for a busy machine.
        let head_gap = content[0].0.at.duration_since(response.events[0].at);
        assert!(
            head_gap >= ms(ttft / 2),
            "{api:?}: head only {head_gap:?} before the first token"
        );
        let span = content.last().unwrap().0.at.duration_since(content[0].0.at);
        assert!(
            span >= ms(u64::from(n - 1) * itl) / 2,
            "{api:?}: tokens arrived within {span:?}; not streamed incrementally"
        );
    }
}

#[tokio::test]
async fn zero_tokens_is_head_then_finish() {
    let addr = start(fast()).await;
    for api in NEW_APIS {
        let response = Request::api(api, "?tokens=0", api_body(api, true, "hi"))
            .send(addr)
            .await;
        assert!(response.complete, "{api:?}");
        assert!(response.content_events().is_empty(), "{api:?}");
        let decoded = response.decode(api, true);
        assert_eq!(decoded.end, Ok(()), "{api:?}: {decoded:?}");
        assert_eq!(decoded.usage().output_tokens, Some(0), "{api:?}");
        assert!(decoded.stop().is_some(), "{api:?}");
    }
}

#[tokio::test]
async fn sdk_base_urls_without_v1_reach_the_responses_api() {
    let addr = start(fast()).await;
    let response = Request::new("POST", "/responses?tokens=2")
        .header("content-type", "application/json")
        .body(api_body(Api::OpenAiResponses, false, "hi").to_string())
        .send(addr)
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["object"], "response");
    let wrong_method = Request::new("GET", "/v1/messages").send(addr).await;
    assert_eq!(wrong_method.status, 405);
}

#[tokio::test]
async fn response_ids_are_unique_per_request() {
    let addr = start(fast()).await;
    for api in Api::ALL {
        let mut ids = Vec::new();
        for _ in 0..3 {
            let response = Request::api(api, "?tokens=1", api_body(api, false, "hi"))
                .send(addr)
                .await;
            let id = response.header("x-mock-request-id").unwrap().to_owned();
            assert_eq!(response.json()["id"], id.as_str(), "{api:?}");
            ids.push(id);
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 3, "{api:?}: {ids:?}");
    }
}

// ---- faults, each in the API's own shape ----

/// The error object of an HTTP error body: OpenAI's `error`, or Anthropic's `{"type": "error", "error"}`.
fn error_object(api: Api, body: &Value) -> Value {
    if api == Api::AnthropicMessages {
        assert_eq!(body["type"], "error", "{body}");
    }
    body["error"].clone()
}

#[tokio::test]
async fn status_knob_answers_in_each_apis_error_shape() {
    let addr = start(fast()).await;
    for api in NEW_APIS {
        for stream in [true, false] {
            let what = format!("{api:?} stream={stream}");
            let limited = Request::api(api, "", api_body(api, stream, "hi"))
                .header("x-mock-status", "429")
                .send(addr)
                .await;
            assert_eq!(limited.status, 429, "{what}");
            assert_eq!(limited.header("retry-after"), Some("1"), "{what}");
            assert_eq!(limited.header("content-type"), Some("application/json"), "{what}");
            assert!(limited.header("x-mock-request-id").is_some(), "{what}");
            let error = error_object(api, &limited.json());
            assert!(
                error["message"].as_str().unwrap().contains("429"),
                "{what}: {error}"
            );
            match api {
                Api::AnthropicMessages => assert_eq!(error["type"], "rate_limit_error", "{what}"),
                _ => assert_eq!(error["code"], "rate_limit_exceeded", "{what}"),
            }
            // tokenmeter reads a non-streamed error body as a throttled provider error.
            let decoded = limited.decode(api, false);
            assert_eq!(decoded.provider_error(), Some(true), "{what}: {decoded:?}");

            let failed = Request::api(api, "?status=500", api_body(api, stream, "hi"))
                .send(addr)
                .await;
            assert_eq!(failed.status, 500, "{what}");
            assert_eq!(failed.header("retry-after"), None, "{what}");
            let error = error_object(api, &failed.json());
            let kind = if api == Api::AnthropicMessages {
                "api_error"
            } else {
                "server_error"
            };
            assert_eq!(error["type"], kind, "{what}");
            assert_eq!(failed.decode(api, false).provider_error(), Some(false), "{what}");
        }
    }
    let overloaded = Request::api(
        Api::AnthropicMessages,
        "?status=529",
        api_body(Api::AnthropicMessages, true, "hi"),
    )
    .send(addr)
    .await;
    assert_eq!(overloaded.status, 529);
    assert_eq!(overloaded.json()["error"]["type"], "overloaded_error");
    assert_eq!(
        overloaded.decode(Api::AnthropicMessages, false).provider_error(),
        Some(true)
    );
}

#[tokio::test]
async fn malformed_requests_get_400s_in_each_apis_shape() {
    let addr = start(fast()).await;
    for api in NEW_APIS {
        let bad_knob = Request::api(api, "?ttft_ms=soon", api_body(api, true, "hi"))
            .send(addr)
            .await;
        let bad_kind = Request::api(api, "?error_after=1&error_kind=grumpy", api_body(api, true, "hi"))
            .send(addr)
            .await;
        let bad_json = Request::api(api, "", json!(null))
            .body("{not json".to_owned())
            .send(addr)
            .await;
        for response in [bad_knob, bad_kind, bad_json] {
            assert_eq!(response.status, 400, "{api:?}");
            let error = error_object(api, &response.json());
            assert_eq!(error["type"], "invalid_request_error", "{api:?}");
            assert!(
                error["message"].as_str().unwrap().contains("mock-llm"),
                "{api:?}: {error}"
            );
        }
    }
}

/// The in-stream error event, its kind as the API names it, and the message.
fn check_error_event(api: Api, response: &common::Response, throttled: bool) {
    let last = response.events.last().unwrap();
    let event = last.json();
    match api {
        Api::OpenAiResponses => {
            assert_eq!(last.name.as_deref(), Some("response.failed"));
            assert_eq!(event["response"]["status"], "failed");
            assert_eq!(
                event["response"]["id"],
                response.header("x-mock-request-id").unwrap()
            );
            let code = if throttled {
                "rate_limit_exceeded"
            } else {
                "server_error"
            };
            assert_eq!(event["response"]["error"]["code"], code);
            assert_eq!(event["response"]["error"]["message"], "mock stream error");
        }
        Api::AnthropicMessages => {
            assert_eq!(last.name.as_deref(), Some("error"));
            let kind = if throttled {
                "overloaded_error"
            } else {
                "api_error"
            };
            assert_eq!(event["error"]["type"], kind);
            assert_eq!(event["error"]["message"], "mock stream error");
        }
        Api::OpenAiChat => {
            let code = if throttled {
                "rate_limit_exceeded"
            } else {
                "server_error"
            };
            assert_eq!(event["error"]["code"], code);
            assert_eq!(event["error"]["message"], "mock stream error");
        }
    }
}

#[tokio::test]
async fn error_after_sends_each_apis_error_event_then_ends_cleanly() {
    let addr = start(fast()).await;
    for api in Api::ALL {
        for (kind, throttled) in [(None, false), (Some("server"), false), (Some("throttled"), true)] {
            let what = format!("{api:?} kind={kind:?}");
            let mut request = Request::api(api, "?tokens=5&error_after=2", api_body(api, true, "hi"));
            if let Some(kind) = kind {
                request = request.header("x-mock-error-kind", kind);
            }
            let response = request.send(addr).await;
            assert_eq!(response.status, 200, "{what}");
            assert!(
                response.complete,
                "{what}: the body ends normally after the error event"
            );
            assert_eq!(response.content_events().len(), 2, "{what}");
            check_error_event(api, &response, throttled);
            let decoded = response.decode(api, true);
            assert_eq!(decoded.provider_error(), Some(throttled), "{what}: {decoded:?}");
            assert_eq!(decoded.stop(), None, "{what}");
            assert_eq!(decoded.outputs(), 2, "{what}");
        }
    }
}

#[tokio::test]
async fn the_error_event_comes_when_the_next_token_would_have() {
    let addr = start(fast()).await;
    for api in NEW_APIS {
        let response = Request::api(
            api,
            "?tokens=5&ttft_ms=50&itl_ms=100&error_after=2&error_kind=throttled",
            api_body(api, true, "hi"),
        )
        .send(addr)
        .await;
        let at = response.elapsed(response.events.last().unwrap().at);
        assert!(at >= ms(50 + 2 * 100), "{api:?}: error event after {at:?}");
        check_error_event(api, &response, true);
    }
}

#[tokio::test]
async fn fail_after_truncates_each_apis_stream() {
    let addr = start(fast()).await;
    for api in NEW_APIS {
        let by_header = Request::api(api, "?tokens=5", api_body(api, true, "hi"))
            .header("x-mock-fail-after", "2")
            .send(addr)
            .await;
        let by_query = Request::api(api, "?tokens=5&fail_after=2", api_body(api, true, "hi"))
            .send(addr)
            .await;
        for response in [by_header, by_query] {
            assert_eq!(response.status, 200, "{api:?}: headers were already sent");
            assert!(!response.complete, "{api:?}: chunked body must be cut off");
            assert_eq!(response.content_events().len(), 2, "{api:?}");
            let names = response.event_names();
            for terminal in [
                "response.completed",
                "message_delta",
                "message_stop",
                "error",
                "response.failed",
            ] {
                assert!(!names.contains(&terminal), "{api:?}: {names:?}");
            }
            let decoded = response.decode(api, true);
            assert!(
                matches!(decoded.end, Err(ProtocolError::Truncated(_))),
                "{api:?}: {decoded:?}"
            );
            assert_eq!(decoded.outputs(), 2, "{api:?}");
        }
        // fail_after=0: the head (sent at once), then the connection drops before any token.
        let none = Request::api(api, "?tokens=5&fail_after=0", api_body(api, true, "hi"))
            .send(addr)
            .await;
        assert!(!none.complete, "{api:?}");
        assert!(!none.events.is_empty(), "{api:?}: the head was sent");
        assert!(none.content_events().is_empty(), "{api:?}");
        assert!(matches!(
            none.decode(api, true).end,
            Err(ProtocolError::Truncated(_))
        ));
    }
}

/// Writes `path` with a JSON body on a raw connection and reads until the server closes it.
async fn raw_exchange(addr: std::net::SocketAddr, path: &str, body: &Value) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    // A reset connection is what is being tested, so the read's own error is expected; a hang is not.
    let _reset = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut received))
        .await
        .expect("the server closes the connection");
    String::from_utf8_lossy(&received).into_owned()
}

/// True when `text` is nothing, or a 200 whose chunked body never got its closing chunk: a cut-off answer.
fn cut_off(text: &str) -> bool {
    text.is_empty() || (text.starts_with("HTTP/1.1 200") && !text.ends_with("\r\n0\r\n\r\n"))
}

#[tokio::test]
async fn faults_without_streaming_in_each_apis_shape() {
    let addr = start(fast()).await;
    for api in Api::ALL {
        // A disconnect never delivers a complete answer.
        let path = format!("{}?fail_after=1", common::route(api));
        let text = raw_exchange(addr, &path, &api_body(api, false, "hi")).await;
        assert!(!text.contains("tok"), "{api:?}: got an answer: {text}");
        assert!(cut_off(&text), "{api:?}: not a cut-off answer: {text:?}");

        // An error event becomes an HTTP error in the API's shape: 500, or 429 when throttled.
        for (query, status, throttled) in [
            ("?error_after=2", 500, false),
            ("?error_after=2&error_kind=throttled", 429, true),
        ] {
            let response = Request::api(api, query, api_body(api, false, "hi"))
                .send(addr)
                .await;
            assert_eq!(response.status, status, "{api:?} {query}");
            assert_eq!(
                response.header("retry-after"),
                throttled.then_some("1"),
                "{api:?} {query}"
            );
            let error = error_object(api, &response.json());
            assert_eq!(error["message"], "mock stream error", "{api:?}");
            let decoded: Decoded = response.decode(api, false);
            assert_eq!(
                decoded.provider_error(),
                Some(throttled),
                "{api:?} {query}: {decoded:?}"
            );
        }
    }
}

#[tokio::test]
async fn usage_is_always_reported_outside_chat() {
    // `x-mock-include-usage` and `stream_options` are Chat Completions' business only.
    let addr = start(fast()).await;
    for api in NEW_APIS {
        let response = Request::api(api, "?tokens=2", api_body(api, true, "a b c"))
            .header("x-mock-include-usage", "0")
            .send(addr)
            .await;
        let usage = response.decode(api, true).usage();
        assert_eq!(
            usage,
            Usage {
                input_tokens: Some(3),
                output_tokens: Some(2),
                cached_input_tokens: Some(0),
                reasoning_output_tokens: if api == Api::OpenAiResponses {
                    Some(0)
                } else {
                    None
                },
            },
            "{api:?}"
        );
    }
}
