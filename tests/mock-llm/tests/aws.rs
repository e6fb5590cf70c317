//! The AWS routes over real HTTP, as Tokenmeter's page calls them: every request built and signed by
//! `tokenmeter_protocol::aws` (SigV4 with AWS's example key at the current time, or a Bedrock API key), every
//! answer read by the client's own decoder. Each route streamed and not; the server latency the service
//! reports against what the client measured (lower bounds only); SigV4 refusals (wrong key or signature,
//! clock skew, wrong service, a Host that differs from the signed one, no credentials); and every fault in
//! AWS's shape: HTTP errors with `x-amzn-ErrorType`, in-stream exceptions, a dropped connection and a frame
//! with a wrong CRC.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use common::{fast, start, start_app, Decoded, Request, Response};
use mock_llm::aws::AwsKeys;
use mock_llm::Config;
use serde_json::{json, Value};
use tokenmeter_protocol::aws::invoke::InvokeBody;
use tokenmeter_protocol::aws::sagemaker::Container;
use tokenmeter_protocol::aws::sigv4::{AwsAuth, AwsCredentials, SigV4};
use tokenmeter_protocol::aws::{AwsEndpoint, AwsTarget, BedrockApi};
use tokenmeter_protocol::{
    Credential, ErrorClass, HttpRequest, OutputKind, ProtocolError, ServerLatency, StreamEvent, Usage,
};

const PROMPT: &str = "one two three";
const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

fn example_key() -> AwsCredentials {
    AwsCredentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What the page can call: every Bedrock API with the bodies the mock answers, and each SageMaker container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Converse,
    InvokeClaude,
    InvokeOpenAi,
    SageMaker(Container),
}

const KINDS: [Kind; 6] = [
    Kind::Converse,
    Kind::InvokeClaude,
    Kind::InvokeOpenAi,
    Kind::SageMaker(Container::Tgi),
    Kind::SageMaker(Container::JsonLines),
    Kind::SageMaker(Container::OpenAiChat),
];

/// The endpoint of `kind` at the mock, with `query` (knobs; signed as part of the URL).
fn endpoint(addr: SocketAddr, kind: Kind, stream: bool, query: &str) -> AwsEndpoint {
    let bedrock = |api| AwsTarget::Bedrock {
        api,
        model_id: "anthropic.claude-3-haiku-20240307-v1:0".into(),
    };
    let target = match kind {
        Kind::Converse => bedrock(BedrockApi::Converse),
        Kind::InvokeClaude => bedrock(BedrockApi::Invoke(InvokeBody::Anthropic)),
        Kind::InvokeOpenAi => bedrock(BedrockApi::Invoke(InvokeBody::OpenAiChat)),
        Kind::SageMaker(format) => AwsTarget::SageMaker {
            endpoint_name: "my-endpoint".into(),
            format,
            model: None,
        },
    };
    // LMI's bodies look like TGI's: the knob tells the mock which container to imitate.
    let query = match kind {
        Kind::SageMaker(Container::JsonLines) if query.is_empty() => "?container=lmi".to_owned(),
        Kind::SageMaker(Container::JsonLines) => format!("{query}&container=lmi"),
        _ => query.to_owned(),
    };
    AwsEndpoint {
        target,
        region: "us-east-1".into(),
        base_url: Some(format!("http://{addr}/{query}")),
        stream,
        auth: AwsAuth::SigV4(example_key()),
        extra_headers: vec![],
    }
}

/// The endpoint's request for [`PROMPT`], authorized at `time`.
fn signed(endpoint: &AwsEndpoint, time: SystemTime) -> HttpRequest {
    let payload = endpoint.create_payload(PROMPT, 1024);
    let mut request = endpoint.build_request(&payload).unwrap();
    endpoint.authorize(&mut request, time).unwrap();
    request
}

/// Sends `request` as a browser would: its headers, plus the browser's own (`host`, `content-length`,
/// `origin`).
async fn send(addr: SocketAddr, request: &HttpRequest) -> Response {
    to_wire(request).send(addr).await
}

fn to_wire(request: &HttpRequest) -> Request {
    let path = request
        .url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap();
    let mut wire = Request::new("POST", path)
        .header("origin", "http://localhost:8080")
        .body(String::from_utf8(request.body.clone()).unwrap());
    for (name, value) in &request.headers {
        wire = wire.header(name, value);
    }
    wire
}

/// Builds, signs at the current time, sends.
async fn call(addr: SocketAddr, kind: Kind, stream: bool, query: &str) -> (AwsEndpoint, Response) {
    let endpoint = endpoint(addr, kind, stream, query);
    let response = send(addr, &signed(&endpoint, SystemTime::now())).await;
    (endpoint, response)
}

/// What the client's decoder made of a response, fed piece by piece as it arrived.
struct AwsDecoded {
    decoded: Decoded,
    latency: Option<ServerLatency>,
    class: Option<ErrorClass>,
    /// When the first visible output was decoded, since the request was sent.
    first_output: Option<Duration>,
}

fn decode(endpoint: &AwsEndpoint, response: &Response) -> AwsDecoded {
    let mut decoder = endpoint.decoder();
    let mut events = Vec::new();
    let mut end = Ok(());
    let mut first_output = None;
    for (at, piece) in &response.pieces {
        end = decoder.push(piece, &mut events);
        let output = events.iter().any(
            |e| matches!(e, StreamEvent::Output { kind: OutputKind::Visible, text } if !text.is_empty()),
        );
        if output && first_output.is_none() {
            first_output = Some(response.elapsed(*at));
        }
        if end.is_err() {
            break;
        }
    }
    if end.is_ok() {
        end = decoder.finish(&mut events);
    }
    AwsDecoded {
        latency: decoder.server_latency(),
        class: decoder.error_class(),
        decoded: Decoded {
            events,
            end,
            complete: decoder.is_complete(),
        },
        first_output,
    }
}

fn provider_errors(decoded: &Decoded) -> Vec<(bool, String)> {
    decoded
        .events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ProviderError { throttled, message } => Some((*throttled, message.clone())),
            _ => None,
        })
        .collect()
}

/// AWS's error shape: the status, `x-amzn-ErrorType` and the message (`message` or SageMaker's `Message`).
fn assert_aws_error(response: &Response, status: u16, error_type: &str) -> String {
    assert_eq!(response.status, status, "{}", response.text());
    assert_eq!(
        response.header("x-amzn-errortype"),
        Some(error_type),
        "{}",
        response.text()
    );
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert!(response.header("x-amzn-requestid").is_some());
    let body = response.json();
    body["message"]
        .as_str()
        .or(body["Message"].as_str())
        .unwrap_or_else(|| panic!("no message: {body}"))
        .to_owned()
}

#[tokio::test]
async fn every_route_streamed_and_not_is_read_by_the_clients_decoder() {
    let addr = start(fast()).await;
    for kind in KINDS {
        for stream in [true, false] {
            let (endpoint, response) = call(addr, kind, stream, "?tokens=4").await;
            let what = format!("{kind:?} stream={stream} {}", endpoint.path());
            assert_eq!(response.status, 200, "{what}: {}", response.text());
            assert!(response.complete, "{what}");
            let content_type = if stream { EVENT_STREAM } else { "application/json" };
            assert_eq!(response.header("content-type"), Some(content_type), "{what}");
            let request_id = response.header("x-amzn-requestid").unwrap();
            assert_eq!(request_id.len(), 36, "{what}: {request_id}");
            assert_eq!(response.header("x-mock-tokens"), Some("4"), "{what}");

            let AwsDecoded { decoded, .. } = decode(&endpoint, &response);
            assert_eq!(decoded.end, Ok(()), "{what}");
            assert_eq!(decoded.text(), "tok tok tok tok", "{what}");
            if stream {
                assert!(decoded.complete, "{what}: the terminal event arrived");
                assert_eq!(decoded.outputs(), 4, "{what}: one event per token");
            }
            // vLLM streams report usage because the client asks (`stream_options.include_usage`).
            let usage = decoded.usage();
            assert_eq!(usage.output_tokens, Some(4), "{what}: {usage:?}");
            assert_eq!(usage.input_tokens, Some(3), "{what}: {usage:?}");
            assert!(provider_errors(&decoded).is_empty(), "{what}");
        }
    }
}

#[tokio::test]
async fn the_output_limit_cuts_the_answer_by_length() {
    let addr = start(fast()).await;
    for kind in KINDS {
        let endpoint = endpoint(addr, kind, true, "");
        let payload = endpoint.create_payload(PROMPT, 3);
        let mut request = endpoint.build_request(&payload).unwrap();
        endpoint.authorize(&mut request, SystemTime::now()).unwrap();
        let response = send(addr, &request).await;
        assert_eq!(response.status, 200, "{kind:?}");
        let AwsDecoded { decoded, .. } = decode(&endpoint, &response);
        assert_eq!(decoded.text(), "tok tok tok", "{kind:?}");
        let want = match kind {
            Kind::Converse | Kind::InvokeClaude => "max_tokens",
            _ => "length",
        };
        assert_eq!(decoded.stop(), Some(Some(want)), "{kind:?}");
    }
}

#[tokio::test]
async fn server_latency_is_the_time_to_first_and_last_token() {
    let addr = start(fast()).await;
    let (ttft, itl, n) = (60, 20, 3);
    let query = format!("?ttft_ms={ttft}&itl_ms={itl}&tokens={n}");
    let last = ms(ttft + (n - 1) * itl);

    // ConverseStream: `metrics.latencyMs` is the whole invocation.
    let (endpoint, response) = call(addr, Kind::Converse, true, &query).await;
    let done = response.elapsed(response.pieces.last().unwrap().0);
    let result = decode(&endpoint, &response);
    let total = result.latency.unwrap().total.unwrap();
    assert!(
        total >= last && total <= done,
        "latencyMs {total:?}, client saw {done:?}"
    );
    let ttft_seen = result.first_output.unwrap();
    assert!(ttft_seen >= ms(ttft), "client TTFT {ttft_seen:?}");

    // InvokeModelWithResponseStream: first-byte latency is the TTFT, invocation latency the last token.
    let (endpoint, response) = call(addr, Kind::InvokeClaude, true, &query).await;
    let done = response.elapsed(response.pieces.last().unwrap().0);
    let result = decode(&endpoint, &response);
    let latency = result.latency.unwrap();
    let (first, total) = (latency.first_byte.unwrap(), latency.total.unwrap());
    assert!(first >= ms(ttft) && first < total, "{latency:?}");
    assert!(total >= last && total <= done, "{latency:?}, client saw {done:?}");
    assert!(result.first_output.unwrap() >= ms(ttft));
    assert_eq!(result.decoded.usage().output_tokens, Some(n));

    // Converse (one body): latencyMs covers the whole generation.
    let whole = ms(ttft + n * itl);
    let (endpoint, response) = call(addr, Kind::Converse, false, &query).await;
    let total = decode(&endpoint, &response).latency.unwrap().total.unwrap();
    assert!(total >= whole, "{total:?}");

    // InvokeModel (one body): Bedrock's figures come in headers.
    let (_, response) = call(addr, Kind::InvokeClaude, false, &query).await;
    let header = |name: &str| response.header(name).unwrap().parse::<u64>().unwrap();
    assert!(ms(header("x-amzn-bedrock-invocation-latency")) >= whole);
    assert_eq!(header("x-amzn-bedrock-input-token-count"), 3);
    assert_eq!(header("x-amzn-bedrock-output-token-count"), n);
}

#[tokio::test]
async fn bodies_name_the_model_and_ids_are_decoded_from_the_path() {
    let addr = start(fast()).await;
    let mut endpoint = endpoint(addr, Kind::InvokeClaude, false, "?tokens=1");
    let arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku";
    endpoint.target = AwsTarget::Bedrock {
        api: BedrockApi::Invoke(InvokeBody::Anthropic),
        model_id: arn.into(),
    };
    assert!(endpoint.path().contains("%3A") && endpoint.path().contains("%2F"));
    let response = send(addr, &signed(&endpoint, SystemTime::now())).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let message = response.json();
    assert_eq!(message["model"], arn);
    assert!(message["id"].as_str().unwrap().starts_with("msg_bdrk_"));
    assert_eq!(message["content"][0]["text"], "tok");
}

#[tokio::test]
async fn invoke_refuses_bodies_it_cannot_answer() {
    let addr = start(fast()).await;
    let mut endpoint = endpoint(addr, Kind::InvokeClaude, true, "");
    endpoint.target = AwsTarget::Bedrock {
        api: BedrockApi::Invoke(InvokeBody::Llama),
        model_id: "meta.llama3-8b-instruct-v1:0".into(),
    };
    let response = send(addr, &signed(&endpoint, SystemTime::now())).await;
    let message = assert_aws_error(&response, 400, "ValidationException");
    assert!(message.contains("Claude"), "{message}");
}

// ------------------------------------------------------------------------------------------ SigV4

#[tokio::test]
async fn a_wrong_signature_is_refused_in_aws_shape() {
    let addr = start(fast()).await;
    for kind in [Kind::Converse, Kind::SageMaker(Container::Tgi)] {
        let mut endpoint = endpoint(addr, kind, true, "");
        endpoint.auth = AwsAuth::SigV4(AwsCredentials::new("AKIDEXAMPLE", "not-the-secret", None));
        let response = send(addr, &signed(&endpoint, SystemTime::now())).await;
        let message = assert_aws_error(&response, 403, "InvalidSignatureException");
        assert!(
            message.starts_with(
                "The request signature we calculated does not match the signature you provided."
            ),
            "{message}"
        );

        // The right key, but the body changed after signing.
        let endpoint = self::endpoint(addr, kind, true, "");
        let mut request = signed(&endpoint, SystemTime::now());
        request.body = br#"{"messages":[]}"#.to_vec();
        let response = send(addr, &request).await;
        assert_aws_error(&response, 403, "InvalidSignatureException");
    }
}

#[tokio::test]
async fn the_signature_is_checked_against_the_host_the_request_names() {
    let addr = start(fast()).await;
    // Signed for `localhost:PORT` and sent with that Host (a page served from localhost): accepted.
    let mut endpoint = endpoint(addr, Kind::Converse, false, "?tokens=1");
    endpoint.base_url = Some(format!("http://localhost:{}", addr.port()));
    let request = signed(&endpoint, SystemTime::now());
    let host = format!("localhost:{}", addr.port());
    let response = to_wire(&request).header("host", &host).send(addr).await;
    assert_eq!(response.status, 200, "{}", response.text());
    // The same signature with another Host: refused.
    let response = send(addr, &request).await;
    assert_aws_error(&response, 403, "InvalidSignatureException");
}

#[tokio::test]
async fn a_signing_time_more_than_five_minutes_off_is_refused() {
    let addr = start(fast()).await;
    let endpoint = endpoint(addr, Kind::Converse, true, "?tokens=1");
    let now = SystemTime::now();
    let late = send(addr, &signed(&endpoint, now - Duration::from_secs(10 * 60))).await;
    let message = assert_aws_error(&late, 403, "InvalidSignatureException");
    assert!(message.starts_with("Signature expired: "), "{message}");
    assert!(message.contains(" - 5 min.)"), "{message}");
    let early = send(addr, &signed(&endpoint, now + Duration::from_secs(10 * 60))).await;
    let message = assert_aws_error(&early, 403, "InvalidSignatureException");
    assert!(message.starts_with("Signature not yet current: "), "{message}");
    // Within AWS's five minutes.
    let skewed = send(addr, &signed(&endpoint, now - Duration::from_secs(4 * 60))).await;
    assert_eq!(skewed.status, 200, "{}", skewed.text());
}

#[tokio::test]
async fn missing_unknown_and_misscoped_credentials_are_refused() {
    let addr = start(fast()).await;
    let mut endpoint = endpoint(addr, Kind::Converse, true, "");
    endpoint.auth = AwsAuth::None;
    let response = send(addr, &signed(&endpoint, SystemTime::now())).await;
    let message = assert_aws_error(&response, 403, "MissingAuthenticationTokenException");
    assert_eq!(message, "Missing Authentication Token");

    endpoint.auth = AwsAuth::SigV4(AwsCredentials::new("AKIAUNKNOWN", "secret", None));
    let response = send(addr, &signed(&endpoint, SystemTime::now())).await;
    assert_aws_error(&response, 403, "UnrecognizedClientException");

    // A valid signature for the wrong service (SageMaker's signing name on a Bedrock route).
    let endpoint = self::endpoint(addr, Kind::Converse, true, "");
    let mut request = endpoint
        .build_request(&endpoint.create_payload(PROMPT, 5))
        .unwrap();
    let key = example_key();
    SigV4 {
        service: "sagemaker",
        region: "us-east-1",
        credentials: &key,
        content_sha256: true,
    }
    .sign(&mut request, SystemTime::now())
    .unwrap();
    let response = send(addr, &request).await;
    let message = assert_aws_error(&response, 403, "InvalidSignatureException");
    assert!(message.contains("'bedrock'"), "{message}");
}

#[tokio::test]
async fn temporary_credentials_sign_with_their_session_token() {
    let addr = start(fast()).await;
    let mut endpoint = endpoint(addr, Kind::SageMaker(Container::Tgi), true, "?tokens=2");
    endpoint.auth = AwsAuth::SigV4(AwsCredentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("session-token".into()),
    ));
    let request = signed(&endpoint, SystemTime::now());
    assert_eq!(request.header("x-amz-security-token"), Some("session-token"));
    let response = send(addr, &request).await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(decode(&endpoint, &response).decoded.text(), "tok tok");
}

#[tokio::test]
async fn bedrock_api_keys_work_on_bedrock_only() {
    let addr = start(fast()).await;
    for kind in [Kind::Converse, Kind::InvokeClaude, Kind::InvokeOpenAi] {
        let mut endpoint = endpoint(addr, kind, true, "?tokens=2");
        endpoint.auth = AwsAuth::BedrockApiKey(Credential::new("bedrock-api-key-abc"));
        let request = signed(&endpoint, SystemTime::now());
        assert_eq!(
            request.header("authorization"),
            Some("Bearer bedrock-api-key-abc")
        );
        let response = send(addr, &request).await;
        assert_eq!(response.status, 200, "{kind:?}: {}", response.text());
        assert_eq!(decode(&endpoint, &response).decoded.text(), "tok tok");
    }
    let endpoint = endpoint(addr, Kind::SageMaker(Container::Tgi), true, "");
    let mut request = signed(&endpoint, SystemTime::now());
    request.headers.retain(|(k, _)| !k.starts_with("x-amz"));
    tokenmeter_protocol::aws::sigv4::bearer(&mut request, &Credential::new("key"));
    let response = send(addr, &request).await;
    assert_aws_error(&response, 403, "IncompleteSignatureException");
    // An empty key is no key.
    let endpoint = self::endpoint(addr, Kind::Converse, true, "");
    let mut request = signed(&endpoint, SystemTime::now());
    tokenmeter_protocol::aws::sigv4::bearer(&mut request, &Credential::new(""));
    let response = send(addr, &request).await;
    assert_eq!(response.status, 403);
}

#[tokio::test]
async fn a_configured_key_pair_is_accepted_beside_the_example_key() {
    let mine = AwsCredentials::new("AKIAMOCKTESTKEY", "mock-secret/with+chars", None);
    let addr = start_app(mock_llm::app_with_keys(
        fast(),
        AwsKeys::default().with(mine.clone()),
    ))
    .await;
    let plain = start(fast()).await;
    for key in [mine.clone(), example_key()] {
        let mut endpoint = endpoint(addr, Kind::Converse, false, "?tokens=1");
        endpoint.auth = AwsAuth::SigV4(key.clone());
        let response = send(addr, &signed(&endpoint, SystemTime::now())).await;
        assert_eq!(response.status, 200, "{key:?}: {}", response.text());
    }
    let mut endpoint = endpoint(plain, Kind::Converse, false, "?tokens=1");
    endpoint.auth = AwsAuth::SigV4(mine);
    let response = send(plain, &signed(&endpoint, SystemTime::now())).await;
    assert_aws_error(&response, 403, "UnrecognizedClientException");
}

// ------------------------------------------------------------------------------------------ faults

#[tokio::test]
async fn injected_statuses_carry_aws_error_types() {
    let addr = start(fast()).await;
    let bedrock = [
        (429, "ThrottlingException"),
        (500, "InternalServerException"),
        (400, "ValidationException"),
        (503, "ServiceUnavailableException"),
    ];
    for (status, error_type) in bedrock {
        for stream in [true, false] {
            let (_, response) = call(addr, Kind::Converse, stream, &format!("?status={status}")).await;
            let message = assert_aws_error(&response, status, error_type);
            assert!(message.contains("injected"), "{message}");
            assert!(response.json()["message"].is_string());
        }
    }
    let sagemaker = [
        (429, "ThrottlingException"),
        (500, "InternalFailure"),
        (400, "ValidationError"),
        (503, "ServiceUnavailable"),
    ];
    for (status, error_type) in sagemaker {
        let kind = Kind::SageMaker(Container::Tgi);
        let (_, response) = call(addr, kind, true, &format!("?status={status}")).await;
        assert_aws_error(&response, status, error_type);
        assert!(response.json()["Message"].is_string(), "SageMaker's shape");
    }
}

#[tokio::test]
async fn in_stream_exceptions_are_typed_by_the_clients_decoder() {
    let addr = start(fast()).await;
    let cases = [
        ("throttled", ErrorClass::Throttled),
        ("server", ErrorClass::Provider),
        ("validation", ErrorClass::Request),
    ];
    for kind in KINDS {
        for (error_kind, class) in cases {
            let query = format!("?tokens=5&error_after=2&error_kind={error_kind}");
            let (endpoint, response) = call(addr, kind, true, &query).await;
            let what = format!("{kind:?} {error_kind}");
            assert_eq!(response.status, 200, "{what}");
            assert!(
                response.complete,
                "{what}: the body ends cleanly after the exception"
            );
            let result = decode(&endpoint, &response);
            assert_eq!(result.decoded.outputs(), 2, "{what}");
            let errors = provider_errors(&result.decoded);
            assert_eq!(errors.len(), 1, "{what}: {errors:?}");
            assert_eq!(errors[0].0, class == ErrorClass::Throttled, "{what}: {errors:?}");
            // SageMaker's throttling is the container's own error line, which carries no class.
            let expected_class = match (kind, class) {
                (Kind::SageMaker(Container::OpenAiChat), ErrorClass::Throttled) => None,
                (Kind::SageMaker(_), ErrorClass::Throttled) => None,
                _ => Some(class),
            };
            assert_eq!(result.class, expected_class, "{what}: {errors:?}");
            let exception = match (kind, error_kind) {
                (Kind::SageMaker(_), "server") => "ModelStreamError",
                (Kind::SageMaker(_), "validation") => "ValidationError",
                (Kind::SageMaker(_), _) => "",
                (_, "throttled") => "throttlingException",
                (_, "server") => "modelStreamErrorException",
                _ => "validationException",
            };
            assert!(errors[0].1.starts_with(exception), "{what}: {errors:?}");
            assert!(errors[0].1.contains("mock stream error"), "{what}: {errors:?}");
        }
    }
}

#[tokio::test]
async fn error_after_without_streaming_is_an_aws_http_error() {
    let addr = start(fast()).await;
    let cases = [
        ("throttled", 429, "ThrottlingException"),
        ("server", 500, "InternalServerException"),
        ("validation", 400, "ValidationException"),
    ];
    for (error_kind, status, error_type) in cases {
        let query = format!("?error_after=1&error_kind={error_kind}");
        let (_, response) = call(addr, Kind::InvokeClaude, false, &query).await;
        let message = assert_aws_error(&response, status, error_type);
        assert_eq!(message, "mock stream error");
    }
}

#[tokio::test]
async fn fail_after_drops_the_connection_mid_stream() {
    let addr = start(fast()).await;
    for kind in KINDS {
        let (endpoint, response) = call(addr, kind, true, "?tokens=5&fail_after=3").await;
        assert_eq!(response.status, 200, "{kind:?}");
        assert!(!response.complete, "{kind:?}");
        let result = decode(&endpoint, &response);
        assert_eq!(result.decoded.outputs(), 3, "{kind:?}");
        assert!(
            matches!(result.decoded.end, Err(ProtocolError::Truncated(_))),
            "{kind:?}: {:?}",
            result.decoded.end
        );
    }
}

#[tokio::test]
async fn a_corrupt_frame_is_malformed_to_the_client() {
    let addr = start(fast()).await;
    for kind in KINDS {
        let (endpoint, response) = call(addr, kind, true, "?tokens=5&corrupt_after=2").await;
        assert_eq!(response.status, 200, "{kind:?}");
        assert!(
            response.complete,
            "{kind:?}: the body ends cleanly after the bad frame"
        );
        let result = decode(&endpoint, &response);
        assert_eq!(result.decoded.outputs(), 2, "{kind:?}");
        match &result.decoded.end {
            Err(ProtocolError::Malformed(why)) => assert!(why.contains("CRC"), "{kind:?}: {why}"),
            other => panic!("{kind:?}: {other:?}"),
        }
    }
    // A body has no frame to break.
    let (_, response) = call(addr, Kind::Converse, false, "?corrupt_after=1").await;
    assert_aws_error(&response, 400, "ValidationException");
}

#[tokio::test]
async fn aws_only_knobs_are_refused_on_the_sse_routes() {
    let addr = start(fast()).await;
    for query in ["?error_after=1&error_kind=validation", "?corrupt_after=1"] {
        let response = Request::chat(query, common::chat_body(true, "hi"))
            .send(addr)
            .await;
        assert_eq!(response.status, 400, "{query}");
        assert!(response.json()["error"]["message"].is_string(), "{query}");
    }
}

#[tokio::test]
async fn knob_and_body_errors_are_validation_exceptions() {
    let addr = start(fast()).await;
    let (_, response) = call(addr, Kind::Converse, true, "?ttft_ms=soon").await;
    assert_aws_error(&response, 400, "ValidationException");
    let (_, response) = call(addr, Kind::SageMaker(Container::Tgi), true, "?container=triton").await;
    let message = assert_aws_error(&response, 400, "ValidationError");
    assert!(message.contains("tgi, lmi or vllm"), "{message}");
    let endpoint = endpoint(addr, Kind::Converse, false, "");
    let mut request = signed(&endpoint, SystemTime::now());
    request.body = b"[1]".to_vec();
    let key = example_key();
    SigV4 {
        service: "bedrock",
        region: "us-east-1",
        credentials: &key,
        content_sha256: true,
    }
    .sign(&mut request, SystemTime::now())
    .unwrap();
    let response = send(addr, &request).await;
    assert_aws_error(&response, 400, "ValidationException");
}

#[tokio::test]
async fn defaults_come_from_the_server_config() {
    let addr = start(Config {
        ttft_ms: 30,
        itl_ms: 0,
        tokens: Some(2),
        capacity: None,
    })
    .await;
    let sent = Instant::now();
    let (endpoint, response) = call(addr, Kind::InvokeOpenAi, true, "").await;
    assert!(sent.elapsed() >= ms(30));
    let result = decode(&endpoint, &response);
    assert_eq!(result.decoded.text(), "tok tok");
    assert_eq!(
        result.decoded.usage(),
        Usage {
            input_tokens: Some(3),
            output_tokens: Some(2),
            ..result.decoded.usage()
        }
    );
    let value: Value = json!(response.header("x-mock-ttft-ms"));
    assert_eq!(value, "30");
}
