//! Fault injection over real HTTP: error statuses, a connection dropped mid-stream, and an in-stream
//! error event.

mod common;

use common::{chat_body, fast, start, Request};

#[tokio::test]
async fn status_429_has_retry_after_and_an_openai_error_body() {
    let addr = start(fast()).await;
    let response = Request::chat("", chat_body(true, "hi"))
        .header("x-mock-status", "429")
        .send(addr)
        .await;
    assert_eq!(response.status, 429);
    assert_eq!(response.header("retry-after"), Some("1"));
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert!(response.header("x-mock-request-id").is_some());
    let error = &response.json()["error"];
    assert_eq!(error["code"], "rate_limit_exceeded");
    assert!(error["type"].is_string());
    assert!(error["message"].as_str().unwrap().contains("429"));
}

#[tokio::test]
async fn server_errors_by_header_or_query() {
    let addr = start(fast()).await;
    let by_header = Request::chat("", chat_body(false, "hi"))
        .header("x-mock-status", "500")
        .send(addr)
        .await;
    let by_query = Request::chat("?status=503", chat_body(true, "hi"))
        .send(addr)
        .await;
    for (response, status) in [(by_header, 500), (by_query, 503)] {
        assert_eq!(response.status, status);
        assert_eq!(response.header("retry-after"), None);
        assert_eq!(response.json()["error"]["type"], "server_error");
    }
    // The status knob answers before the body is even looked at.
    let invalid_body = Request::chat("?status=500", serde_json::json!(null))
        .body("{".to_owned())
        .send(addr)
        .await;
    assert_eq!(invalid_body.status, 500);
}

#[tokio::test]
async fn status_knob_rejects_non_error_codes() {
    let addr = start(fast()).await;
    let response = Request::chat("", chat_body(true, "hi"))
        .header("x-mock-status", "302")
        .send(addr)
        .await;
    assert_eq!(response.status, 400);
    let ok = Request::chat("?tokens=1", chat_body(true, "hi"))
        .header("x-mock-status", "200")
        .send(addr)
        .await;
    assert_eq!(ok.status, 200, "200 means no fault");
    assert!(ok.ends_with_done());
}

#[tokio::test]
async fn fail_after_drops_the_connection_mid_stream() {
    let addr = start(fast()).await;
    let by_header = Request::chat("?tokens=5", chat_body(true, "hi"))
        .header("x-mock-fail-after", "2")
        .send(addr)
        .await;
    let by_query = Request::chat("?tokens=5&fail_after=2", chat_body(true, "hi"))
        .send(addr)
        .await;
    for response in [by_header, by_query] {
        assert_eq!(response.status, 200, "headers were already sent");
        assert!(!response.complete, "chunked body must be cut off, not terminated");
        assert_eq!(response.content_events().len(), 2);
        assert!(!response.ends_with_done());
        assert!(response
            .chunks()
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].is_null()));
    }
}

#[tokio::test]
async fn fail_after_zero_sends_only_the_head_and_beyond_the_end_still_drops() {
    let addr = start(fast()).await;
    let none = Request::chat("?tokens=5&fail_after=0", chat_body(true, "hi"))
        .send(addr)
        .await;
    assert!(!none.complete);
    assert!(none.content_events().is_empty());
    assert_eq!(none.events.len(), 1, "only the role chunk, sent before any token");
    let late = Request::chat("?tokens=3&fail_after=10", chat_body(true, "hi"))
        .send(addr)
        .await;
    assert!(!late.complete);
    assert_eq!(late.content_events().len(), 3);
    assert!(!late.ends_with_done());
}

#[tokio::test]
async fn fail_after_without_streaming_closes_without_a_complete_response() {
    let addr = start(fast()).await;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = "POST /v1/chat/completions?fail_after=1 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
                   content-length: 2\r\n\r\n{}";
    let mut stream = stream;
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
        .await
        .unwrap();
    let mut received = Vec::new();
    // The connection is reset on purpose, so the read's own error is expected; a hang is not.
    let _reset = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut received),
    )
    .await
    .expect("the server closes the connection");
    let text = String::from_utf8_lossy(&received);
    assert!(!text.contains("chat.completion"), "got a completion: {text}");
    let cut = text.is_empty() || (text.starts_with("HTTP/1.1 200") && !text.ends_with("\r\n0\r\n\r\n"));
    assert!(cut, "not a cut-off answer: {text:?}");
}

#[tokio::test]
async fn error_event_after_k_tokens_then_a_clean_end() {
    let addr = start(fast()).await;
    let by_header = Request::chat("?tokens=5", chat_body(true, "hi"))
        .header("x-mock-error-event-after", "3")
        .send(addr)
        .await;
    let by_query = Request::chat("?tokens=5&error_after=3", chat_body(true, "hi"))
        .send(addr)
        .await;
    for response in [by_header, by_query] {
        assert_eq!(response.status, 200);
        assert!(response.complete, "the body ends normally after the error event");
        assert_eq!(response.content_events().len(), 3);
        assert!(!response.ends_with_done());
        let last = response.chunks().pop().unwrap();
        assert_eq!(last["error"]["message"], "mock stream error");
        assert_eq!(last["error"]["type"], "server_error");
    }
}

#[tokio::test]
async fn error_after_without_streaming_is_a_500() {
    let addr = start(fast()).await;
    let response = Request::chat("?error_after=2", chat_body(false, "hi"))
        .send(addr)
        .await;
    assert_eq!(response.status, 500);
    assert_eq!(response.json()["error"]["message"], "mock stream error");
}

#[tokio::test]
async fn the_earlier_fault_wins_when_both_are_set() {
    let addr = start(fast()).await;
    let response = Request::chat("?tokens=5&fail_after=4&error_after=1", chat_body(true, "hi"))
        .send(addr)
        .await;
    assert!(response.complete);
    assert_eq!(response.content_events().len(), 1);
    assert!(response.chunks().last().unwrap()["error"].is_object());
    // The other way round, and a tie, which goes to the disconnect.
    for query in [
        "?tokens=5&fail_after=1&error_after=4",
        "?tokens=5&fail_after=2&error_after=2",
    ] {
        let response = Request::chat(query, chat_body(true, "hi")).send(addr).await;
        assert!(!response.complete, "{query}: the connection drops");
        assert!(
            response.chunks().iter().all(|c| c["error"].is_null()),
            "{query}: no error event"
        );
    }
}
