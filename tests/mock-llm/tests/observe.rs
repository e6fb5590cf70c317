//! What a test can watch on the server itself: the request journal (`/mock/journal`: what each request asked
//! for) and the Prometheus metrics in vLLM's names (`/metrics`: the load, exact while requests run, queue and
//! are aborted), and `MOCK_METRICS=off`.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{api_body, chat_body, fast, start, start_app, Request};
use mock_llm::aws::AwsKeys;
use mock_llm::{Config, Features};
use serde_json::{json, Value};
use tokenmeter_protocol::Api;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ORIGIN: &str = "http://localhost:8080";

/// How long a test waits for the server to reach a state; never a timing assertion.
const PATIENCE: Duration = Duration::from_secs(20);

async fn journal(addr: SocketAddr) -> Vec<Value> {
    let response = Request::new("GET", "/mock/journal").send(addr).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    response.json()["requests"].as_array().unwrap().clone()
}

/// One scrape: each sample by its name and labels other than `model_name` (checked on every sample), e.g.
/// `vllm:num_requests_running` or `vllm:request_success_total{finished_reason="stop"}`.
struct Scrape {
    text: String,
    samples: HashMap<String, f64>,
}

impl Scrape {
    fn get(&self, series: &str) -> f64 {
        *self
            .samples
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in\n{}", self.text))
    }
}

async fn scrape(addr: SocketAddr) -> Scrape {
    let response = Request::new("GET", "/metrics").send(addr).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let content_type = response.header("content-type").unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text();
    let mut samples = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = series.split_once('{').unwrap();
        let labels = labels.strip_suffix('}').unwrap();
        let mut labels: Vec<&str> = labels.split(',').collect();
        let model = labels.iter().position(|l| *l == r#"model_name="mock-model""#);
        labels.remove(model.unwrap_or_else(|| panic!("no model_name label: {line}")));
        let key = if labels.is_empty() {
            name.to_owned()
        } else {
            format!("{name}{{{}}}", labels.join(","))
        };
        samples.insert(key, value.parse().unwrap());
    }
    Scrape { text, samples }
}

/// Scrapes until `done` holds; the last scrape.
async fn scrape_until(addr: SocketAddr, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let metrics = scrape(addr).await;
        if done(&metrics) {
            return metrics;
        }
        assert!(Instant::now() < deadline, "never {what}:\n{}", metrics.text);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

const RUNNING: &str = "vllm:num_requests_running";
const WAITING: &str = "vllm:num_requests_waiting";
const KV: &str = "vllm:kv_cache_usage_perc";
const PROMPT: &str = "vllm:prompt_tokens_total";
const GENERATION: &str = "vllm:generation_tokens_total";
const STOP: &str = r#"vllm:request_success_total{finished_reason="stop"}"#;
const LENGTH: &str = r#"vllm:request_success_total{finished_reason="length"}"#;

#[tokio::test]
async fn the_journal_shows_each_turn_carrying_the_earlier_ones() {
    let addr = start(fast()).await;
    let question = "What is two plus two?";
    let first = Request::chat("?tokens=3", chat_body(false, question))
        .send(addr)
        .await;
    let answer = first.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let second_body = json!({
        "model": "test-model",
        "max_tokens": 64,
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
            {"role": "user", "content": [{"type": "text", "text": "And three plus three?"}]},
        ],
    });
    let second = Request::chat("", second_body).send(addr).await;
    assert_eq!(second.status, 200);

    let entries = journal(addr).await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    let (one, two) = (&entries[0], &entries[1]);
    assert_eq!(one["api"], "OpenAiChat");
    assert_eq!(one["messages"], 1);
    assert_eq!(one["input_tokens"], 5);
    assert_eq!(one["max_output_tokens"], Value::Null);
    assert_eq!(one["prompt"], question);
    assert_eq!(two["messages"], 3);
    assert_eq!(
        two["prompt"],
        format!("{question}\ntok tok tok\nAnd three plus three?")
    );
    assert_eq!(two["input_tokens"], 5 + 3 + 4);
    assert_eq!(
        two["input_tokens"],
        second.json()["usage"]["prompt_tokens"],
        "the count the reply reports"
    );
    assert_eq!(two["cached_input_tokens"], 0);
    assert_eq!(two["max_output_tokens"], 64);
    let received = |e: &Value| e["received_ms"].as_f64().unwrap();
    assert!(
        0.0 < received(one) && received(one) <= received(two),
        "{entries:?}"
    );
    assert_eq!(
        one.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "api",
            "received_ms",
            "input_tokens",
            "cached_input_tokens",
            "messages",
            "max_output_tokens",
            "prompt"
        ]
    );
}

#[tokio::test]
async fn the_journal_reads_every_api_and_keeps_refused_requests() {
    let addr = start(fast()).await;
    let responses_turns = json!({
        "stream": true,
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Hi"}]},
        ],
        "max_output_tokens": 5,
    });
    let anthropic = json!({
        "stream": true,
        "system": "Be brief.",
        "max_tokens": 9,
        "messages": [{"role": "user", "content": "one two"}],
    });
    let requests = [
        Request::api(
            Api::OpenAiResponses,
            "",
            api_body(Api::OpenAiResponses, false, "a b c"),
        ),
        Request::api(Api::OpenAiResponses, "", responses_turns),
        Request::api(Api::AnthropicMessages, "", anthropic),
        Request::chat("?status=429", chat_body(true, "refused but seen")),
        Request::new("POST", "/v1/chat/completions").body("not json".into()),
        Request::new("POST", "/model/anthropic.claude-v2/converse")
            .header("authorization", "Bearer bedrock-api-key")
            .body(
                json!({
                    "system": [{"text": "Be brief."}],
                    "messages": [
                        {"role": "user", "content": [{"text": "one"}]},
                        {"role": "assistant", "content": [{"text": "two"}]},
                    ],
                    "inferenceConfig": {"maxTokens": 7},
                })
                .to_string(),
            ),
        Request::new("POST", "/model/anthropic.claude-v2/invoke-with-response-stream")
            .header("authorization", "Bearer bedrock-api-key")
            .body(
                json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 3,
                       "messages": [{"role": "user", "content": "x y"}]})
                .to_string(),
            ),
        // Unsigned: refused, still journaled.
        Request::new("POST", "/endpoints/my-endpoint/invocations").body(r#"{"inputs": "p q r"}"#.into()),
    ];
    let mut statuses = Vec::new();
    for request in &requests {
        statuses.push(request.send(addr).await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 400, 200, 200, 403]);
    let entries = journal(addr).await;
    let seen: Vec<(&str, u64, u64, Option<u64>, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["api"].as_str().unwrap(),
                e["messages"].as_u64().unwrap(),
                e["input_tokens"].as_u64().unwrap(),
                e["max_output_tokens"].as_u64(),
                e["prompt"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("OpenAiResponses", 1, 3, None, "a b c"),
            ("OpenAiResponses", 2, 5, Some(5), "Be brief.\nHello there\nHi"),
            ("AnthropicMessages", 1, 4, Some(9), "Be brief.\none two"),
            ("OpenAiChat", 1, 3, None, "refused but seen"),
            ("OpenAiChat", 1, 0, None, ""),
            ("Converse", 2, 4, Some(7), "Be brief.\none\ntwo"),
            ("InvokeModelWithResponseStream", 1, 2, Some(3), "x y"),
            ("InvokeEndpoint", 1, 3, None, "p q r"),
        ]
    );
}

#[tokio::test]
async fn the_journal_reports_cached_tokens_and_empties_on_delete() {
    let addr = start(fast()).await;
    let prefix: String = (0..20).map(|i| format!("w{i} ")).collect();
    for question in ["first question", "second question"] {
        let body = chat_body(false, &format!("{prefix}{question}"));
        assert_eq!(
            Request::chat("?prefix_cache=1", body).send(addr).await.status,
            200
        );
    }
    let cached: Vec<Value> = journal(addr)
        .await
        .iter()
        .map(|e| e["cached_input_tokens"].clone())
        .collect();
    assert_eq!(cached, [0, 16], "one whole 16-word block shared");

    let cleared = Request::new("DELETE", "/mock/journal").send(addr).await;
    assert_eq!(cleared.status, 204);
    assert!(journal(addr).await.is_empty());
    Request::chat("", chat_body(false, "after")).send(addr).await;
    let entries = journal(addr).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["prompt"], "after");
}

#[tokio::test]
async fn a_page_can_read_and_clear_the_journal_cross_origin() {
    let addr = start(fast()).await;
    let read = Request::new("GET", "/mock/journal")
        .header("origin", ORIGIN)
        .send(addr)
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(read.header("access-control-allow-credentials"), Some("true"));
    let preflight = Request::new("OPTIONS", "/mock/journal")
        .header("origin", ORIGIN)
        .header("access-control-request-method", "DELETE")
        .send(addr)
        .await;
    assert!((200..300).contains(&preflight.status), "{}", preflight.status);
    assert_eq!(preflight.header("access-control-allow-origin"), Some(ORIGIN));
    assert!(preflight
        .header("access-control-allow-methods")
        .unwrap()
        .contains("DELETE"));
    let metrics = Request::new("GET", "/metrics")
        .header("origin", ORIGIN)
        .send(addr)
        .await;
    assert_eq!(metrics.header("access-control-allow-origin"), Some(ORIGIN));
}

/// Three slow streams through a capacity of 2: two run, one waits; afterwards nothing runs or waits and the
/// counters add up to what the clients received.
#[tokio::test]
async fn metrics_follow_the_load_through_a_capacity() {
    let addr = start(Config {
        ttft_ms: 1000,
        itl_ms: 10,
        tokens: Some(4),
        capacity: Some(2),
    })
    .await;
    let idle = scrape(addr).await;
    for series in [RUNNING, WAITING, KV, PROMPT, GENERATION, STOP, LENGTH] {
        assert_eq!(idle.get(series), 0.0, "{series}");
    }
    for name in [
        RUNNING,
        WAITING,
        KV,
        PROMPT,
        GENERATION,
        "vllm:request_success_total",
    ] {
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        assert!(idle.text.contains(&format!("# HELP {name} ")), "{name}");
        assert!(idle.text.contains(&format!("# TYPE {name} {kind}\n")), "{name}");
    }

    let prompts = ["one two", "one two three", "one two three four"];
    let clients: Vec<_> = prompts
        .iter()
        .map(|prompt| {
            let request = Request::chat("", chat_body(true, prompt));
            tokio::spawn(async move { request.send(addr).await })
        })
        .collect();
    let busy = scrape_until(addr, "2 running and 1 waiting", |m| {
        m.get(RUNNING) == 2.0 && m.get(WAITING) == 1.0
    })
    .await;
    assert!(busy.get(KV) > 0.0 && busy.get(KV) < 1.0, "{}", busy.text);

    let mut output_tokens = 0;
    for client in clients {
        let response = client.await.unwrap();
        assert!(response.complete && response.ends_with_done());
        output_tokens += response.content_events().len();
    }
    assert_eq!(output_tokens, 12);
    // The counts are let go before the body's last byte is written, so the first scrape after is exact.
    let done = scrape(addr).await;
    assert_eq!(done.get(RUNNING), 0.0, "{}", done.text);
    assert_eq!(done.get(WAITING), 0.0);
    assert_eq!(done.get(KV), 0.0);
    assert_eq!(done.get(PROMPT), (2 + 3 + 4) as f64);
    assert_eq!(done.get(GENERATION), output_tokens as f64);
    assert_eq!(done.get(STOP), 3.0);
    assert_eq!(done.get(LENGTH), 0.0);

    // A body cut by its output limit, not streamed: counted by length, its tokens at once.
    let mut body = chat_body(false, "five");
    body["max_tokens"] = json!(2);
    let response = Request::chat("?ttft_ms=0&itl_ms=0", body).send(addr).await;
    assert_eq!(response.json()["choices"][0]["finish_reason"], "length");
    let done = scrape(addr).await;
    assert_eq!(done.get(RUNNING), 0.0);
    assert_eq!(done.get(PROMPT), (2 + 3 + 4 + 1) as f64);
    assert_eq!(done.get(GENERATION), (output_tokens + 2) as f64);
    assert_eq!(done.get(LENGTH), 1.0);
    assert_eq!(done.get(STOP), 3.0);
}

/// Writes a streamed chat request on a raw connection and reads until its first token has arrived.
async fn open_stream(addr: SocketAddr, query: &str) -> TcpStream {
    let body = chat_body(true, "a b c").to_string();
    let head = format!(
        "POST /v1/chat/completions{query} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut block = [0u8; 4096];
    tokio::time::timeout(PATIENCE, async {
        while !String::from_utf8_lossy(&seen).contains("\"content\":\"tok\"") {
            let n = stream.read(&mut block).await.unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&block[..n]);
        }
    })
    .await
    .expect("no first token");
    stream
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_is_counted_out() {
    let addr = start(fast()).await;
    let stream = open_stream(addr, "?tokens=100000&itl_ms=50").await;
    let running = scrape(addr).await;
    assert_eq!(running.get(RUNNING), 1.0);
    assert!(running.get(KV) > 0.0);
    drop(stream);
    let gone = scrape_until(addr, "0 running", |m| m.get(RUNNING) == 0.0).await;
    assert_eq!(gone.get(KV), 0.0, "{}", gone.text);
    assert_eq!(gone.get(PROMPT), 3.0);
    let sent = gone.get(GENERATION);
    assert!((1.0..100_000.0).contains(&sent), "{sent}");
    assert_eq!(
        gone.get(STOP) + gone.get(LENGTH),
        0.0,
        "an aborted answer is no success"
    );
}

#[tokio::test]
async fn a_client_that_leaves_while_queued_is_counted_out() {
    let addr = start(fast()).await;
    let holder = open_stream(addr, "?tokens=100000&itl_ms=50&capacity=1").await;
    let body = chat_body(true, "queued").to_string();
    let head = format!(
        "POST /v1/chat/completions?capacity=1 HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut queued = TcpStream::connect(addr).await.unwrap();
    queued.write_all(head.as_bytes()).await.unwrap();
    scrape_until(addr, "1 waiting", |m| {
        m.get(WAITING) == 1.0 && m.get(RUNNING) == 1.0
    })
    .await;
    drop(queued);
    scrape_until(addr, "0 waiting", |m| m.get(WAITING) == 0.0).await;
    drop(holder);
    let idle = scrape_until(addr, "0 running", |m| m.get(RUNNING) == 0.0).await;
    assert_eq!(idle.get(WAITING), 0.0);
    assert_eq!(idle.get(PROMPT), 3.0, "the queued request never started");
}

#[tokio::test]
async fn metrics_off_is_a_404() {
    let app = mock_llm::app_with_features(fast(), AwsKeys::default(), Features { metrics: false });
    let addr = start_app(app).await;
    let response = Request::new("GET", "/metrics").send(addr).await;
    assert_eq!(response.status, 404);
    assert!(response.json()["error"]["message"].is_string());
    assert_eq!(Request::new("GET", "/mock/journal").send(addr).await.status, 200);
}

#[test]
fn mock_metrics_reads_on_and_off() {
    let env = |value: Option<&'static str>| move |_: &str| value.map(str::to_owned);
    for (value, metrics) in [
        (None, true),
        (Some(""), true),
        (Some("on"), true),
        (Some("1"), true),
        (Some("off"), false),
        (Some(" OFF "), false),
        (Some("0"), false),
        (Some("false"), false),
    ] {
        assert_eq!(
            Features::from_lookup(env(value)),
            Ok(Features { metrics }),
            "{value:?}"
        );
    }
    assert!(Features::from_lookup(env(Some("prometheus")))
        .unwrap_err()
        .contains("MOCK_METRICS"));
}

/// The binary reads `MOCK_METRICS` (set for the child only, so no other test sees it).
#[cfg(unix)]
#[tokio::test]
async fn the_binary_turns_metrics_off_with_mock_metrics() {
    for (env, status) in [(&[][..], 200), (&[("MOCK_METRICS", "off")][..], 404)] {
        let (child, line, _lines) = common::spawn_binary_with_env(&["--port", "0"], env).await;
        let port = line.rsplit(':').next().unwrap();
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        let response = Request::new("GET", "/metrics").send(addr).await;
        assert_eq!(response.status, status, "{env:?}");
        drop(child); // killed on drop
    }
}
