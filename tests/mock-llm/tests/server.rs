//! Everything around the API endpoints: health, models, CORS as a browser sees it (for every API's
//! route and headers, AWS's SigV4 headers and exposed `x-amzn-*` headers included), the JSON 404, env
//! parsing, and the real binary's startup line and SIGTERM exit.

mod common;

use common::{api_body, chat_body, fast, start, Request};
use std::time::Duration;

use mock_llm::Config;
use tokenmeter_protocol::Api;

const ORIGIN: &str = "http://localhost:8080";

#[tokio::test]
async fn health_is_ok() {
    let addr = start(fast()).await;
    let response = Request::new("GET", "/health").send(addr).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "ok");
}

#[tokio::test]
async fn models_lists_the_mock_model() {
    let addr = start(fast()).await;
    let response = Request::new("GET", "/v1/models").send(addr).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let list = response.json();
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"][0]["id"], "mock-model");
    assert_eq!(list["data"][0]["object"], "model");
}

#[tokio::test]
async fn cors_preflight_allows_provider_and_knob_headers() {
    let addr = start(fast()).await;
    let requested =
        "authorization, content-type, x-mock-ttft-ms, x-mock-status, anthropic-version, x-amz-date, \
                     x-amz-security-token";
    let response = Request::new("OPTIONS", "/v1/chat/completions")
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", requested)
        .header("access-control-request-private-network", "true")
        .send(addr)
        .await;
    assert!(
        (200..300).contains(&response.status),
        "preflight status {}",
        response.status
    );
    assert_eq!(response.header("access-control-allow-origin"), Some(ORIGIN));
    assert!(response
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    let allowed = response
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for name in requested.split(", ") {
        assert!(allowed.contains(name), "{name} not in allow-headers {allowed:?}");
    }
    assert_eq!(
        response.header("access-control-allow-private-network"),
        Some("true")
    );
    assert!(response.header("access-control-max-age").is_some());
}

#[tokio::test]
async fn cors_headers_on_streams_and_errors() {
    let addr = start(fast()).await;
    let stream = Request::chat("?tokens=1", chat_body(true, "hi"))
        .header("origin", ORIGIN)
        .send(addr)
        .await;
    let error = Request::chat("?status=429", chat_body(true, "hi"))
        .header("origin", ORIGIN)
        .send(addr)
        .await;
    for response in [stream, error] {
        assert_eq!(response.header("access-control-allow-origin"), Some(ORIGIN));
        // Without it the browser zeroes Resource Timing for cross-origin requests and queueing is invisible.
        assert_eq!(response.header("timing-allow-origin"), Some("*"));
        let exposed = response.header("access-control-expose-headers").unwrap();
        for name in ["x-mock-request-id", "retry-after", "x-mock-tokens"] {
            assert!(exposed.contains(name), "{name} not exposed: {exposed}");
        }
    }
}

#[tokio::test]
async fn cors_preflight_and_responses_for_the_responses_and_messages_routes() {
    let addr = start(fast()).await;
    // What `Api::AnthropicMessages` sends from the page (tokenmeter's own request headers), and OpenAI's.
    let cases = [
        (
            Api::AnthropicMessages,
            "content-type, x-api-key, anthropic-version, anthropic-dangerous-direct-browser-access",
        ),
        (
            Api::OpenAiResponses,
            "authorization, content-type, x-mock-error-kind",
        ),
    ];
    for (api, requested) in cases {
        let preflight = Request::new("OPTIONS", common::route(api))
            .header("origin", ORIGIN)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", requested)
            .send(addr)
            .await;
        assert!(
            (200..300).contains(&preflight.status),
            "{api:?}: {}",
            preflight.status
        );
        assert_eq!(preflight.header("access-control-allow-origin"), Some(ORIGIN));
        assert_eq!(preflight.header("access-control-allow-credentials"), Some("true"));
        let allowed = preflight
            .header("access-control-allow-headers")
            .unwrap()
            .to_ascii_lowercase();
        for name in requested.split(", ") {
            assert!(allowed.contains(name), "{api:?}: {name} not in {allowed:?}");
        }
        for query in ["?tokens=1", "?status=429"] {
            let response = Request::api(api, query, api_body(api, true, "hi"))
                .header("origin", ORIGIN)
                .header("x-api-key", "sk-test")
                .header("anthropic-version", "2023-06-01")
                .send(addr)
                .await;
            assert_eq!(response.header("access-control-allow-origin"), Some(ORIGIN));
            assert_eq!(response.header("timing-allow-origin"), Some("*"));
            let exposed = response.header("access-control-expose-headers").unwrap();
            assert!(exposed.contains("x-mock-request-id"), "{exposed}");
        }
    }
}

#[tokio::test]
async fn cors_preflight_allows_the_headers_a_signed_aws_request_carries() {
    let addr = start(fast()).await;
    // What `AwsEndpoint` sends from the page: SigV4 (with a session token) or a Bedrock API key, and
    // InvokeModelWithResponseStream's accept header.
    let requested = "authorization, content-type, x-amz-content-sha256, x-amz-date, x-amz-security-token, \
                     x-amzn-bedrock-accept";
    for path in [
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream",
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream",
        "/endpoints/my-endpoint/invocations-response-stream",
    ] {
        let preflight = Request::new("OPTIONS", path)
            .header("origin", ORIGIN)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", requested)
            .send(addr)
            .await;
        assert!(
            (200..300).contains(&preflight.status),
            "{path}: {}",
            preflight.status
        );
        assert_eq!(preflight.header("access-control-allow-origin"), Some(ORIGIN));
        assert!(preflight
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST"));
        let allowed = preflight
            .header("access-control-allow-headers")
            .unwrap()
            .to_ascii_lowercase();
        for name in requested.split(", ").map(str::trim) {
            assert!(allowed.contains(name), "{path}: {name} not in {allowed:?}");
        }
    }
}

#[tokio::test]
async fn aws_answers_expose_their_headers_to_the_page_even_when_refused() {
    let addr = start(fast()).await;
    // Unsigned, so refused: the page must still read the error type (e.g. for a clock-skew hint).
    let response = Request::new("POST", "/model/m/converse-stream")
        .header("origin", ORIGIN)
        .header("content-type", "application/json")
        .body("{}".into())
        .send(addr)
        .await;
    assert_eq!(response.status, 403);
    assert_eq!(response.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(
        response.header("x-amzn-errortype"),
        Some("MissingAuthenticationTokenException")
    );
    let exposed = response
        .header("access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "x-amzn-requestid",
        "x-amzn-errortype",
        "x-amzn-bedrock-invocation-latency",
        "x-amzn-bedrock-input-token-count",
        "x-amzn-bedrock-output-token-count",
    ] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }
}

#[tokio::test]
async fn unknown_routes_get_a_json_404() {
    let addr = start(fast()).await;
    let response = Request::new("GET", "/v1/nope").send(addr).await;
    assert_eq!(response.status, 404);
    assert!(response.json()["error"]["message"].is_string());
}

#[test]
fn env_defaults_parse_and_reject_garbage() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    };
    assert_eq!(Config::from_lookup(env(&[])), Ok(Config::default()));
    assert_eq!(
        Config::from_lookup(env(&[
            ("MOCK_TTFT_MS", "200"),
            ("MOCK_ITL_MS", " 5 "),
            ("MOCK_TOKENS", "64"),
            ("MOCK_CAPACITY", "8")
        ])),
        Ok(Config {
            ttft_ms: 200,
            itl_ms: 5,
            tokens: Some(64),
            capacity: Some(8)
        })
    );
    assert_eq!(
        Config::from_lookup(env(&[("MOCK_TOKENS", "")])),
        Ok(Config::default())
    );
    assert!(Config::from_lookup(env(&[("MOCK_ITL_MS", "10ms")]))
        .unwrap_err()
        .contains("MOCK_ITL_MS"));
}

/// The contract scripts rely on: one stdout line with the URL, a working server, a clean SIGTERM exit.
#[cfg(unix)]
#[tokio::test]
async fn binary_announces_its_url_and_exits_cleanly_on_sigterm() {
    use std::time::Duration;

    let (mut child, line, mut lines) = common::spawn_binary(&["--port", "0"]).await;
    let url = line
        .strip_prefix("mock-llm listening on http://")
        .unwrap_or_else(|| panic!("got {line:?}"));
    let (host, port) = url.split_once(':').unwrap();
    assert_eq!(host, "127.0.0.1");
    let addr = format!("127.0.0.1:{port}").parse().unwrap();

    let response = Request::new("GET", "/health").send(addr).await;
    assert_eq!(response.status, 200);

    common::terminate(&child);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(lines.next_line().await.unwrap(), None, "exactly one stdout line");
}

/// With a capacity of 2, six simultaneous requests are served two at a time (first come, first served): the
/// last pair's first token comes about two whole generations after the first pair's, so TTFT grows past the
/// capacity as a real server's does past its batch size. Without a capacity all six are answered at once.
#[tokio::test]
async fn a_capacity_queues_the_requests_beyond_it() {
    let config = Config {
        ttft_ms: 100,
        itl_ms: 0,
        tokens: Some(2),
        capacity: None,
    };
    let addr = start(config).await;
    let ttfts = |query: &'static str| async move {
        let requests = (0..6).map(|_| async move {
            let response = Request::chat(query, chat_body(true, "hi")).send(addr).await;
            let first = response.content_events()[0].0.at;
            response.elapsed(first)
        });
        let mut ttfts = futures_util::future::join_all(requests).await;
        ttfts.sort();
        ttfts
    };
    let queued = ttfts("?capacity=2").await;
    assert!(queued[0] < Duration::from_millis(190), "{queued:?}");
    assert!(
        queued[5] >= Duration::from_millis(290),
        "the last pair waited two generations: {queued:?}"
    );
    let open = ttfts("").await;
    assert!(
        open[5] < Duration::from_millis(190),
        "no capacity, no queue: {open:?}"
    );
}
