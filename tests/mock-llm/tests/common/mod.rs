//! Test harness: starts the real server on an ephemeral port and talks raw HTTP/1.1 to it over a
//! `TcpStream`, decoding chunked bodies itself and timestamping each SSE event (or, for binary AWS
//! event-stream bodies, each piece) as it arrives. Knows where each API's tokens sit in its events, and runs
//! a body through tokenmeter's own decoder. [`tls`] does the same over TLS, HTTP/2 or HTTP/1.1.

#![allow(dead_code)] // each test binary uses a different subset

pub mod tls;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mock_llm::Config;
use serde_json::{json, Value};
use tokenmeter_protocol::{Api, OutputKind, ProtocolError, StreamEvent, Usage};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Guards against a hung server; never a timing assertion.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// Starts `app_with(config)` on 127.0.0.1:0 and returns its address.
pub async fn start(config: Config) -> SocketAddr {
    start_app(mock_llm::app_with(config)).await
}

/// Starts `app` on 127.0.0.1:0 and returns its address.
pub async fn start_app(app: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(mock_llm::serve(listener, app));
    addr
}

/// Built-in defaults but no deliberate delay, so tests that do not measure timing run fast.
pub fn fast() -> Config {
    Config {
        ttft_ms: 0,
        itl_ms: 0,
        tokens: None,
        capacity: None,
    }
}

pub struct Request {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Request {
    pub fn new(method: &'static str, path: &str) -> Request {
        Request {
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// `POST /v1/chat/completions{query}` with a JSON body.
    pub fn chat(query: &str, body: Value) -> Request {
        Request::api(Api::OpenAiChat, query, body)
    }

    /// `POST` to `api`'s `/v1/…` route with `query` and a JSON body.
    pub fn api(api: Api, query: &str, body: Value) -> Request {
        Request::new("POST", &format!("{}{query}", route(api)))
            .header("content-type", "application/json")
            .body(body.to_string())
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: String) -> Request {
        self.body = body;
        self
    }

    /// Sends the request on a fresh connection and reads the whole response.
    pub async fn send(&self, addr: SocketAddr) -> Response {
        tokio::time::timeout(HANG_GUARD, self.exchange(addr))
            .await
            .expect("server hung")
    }

    async fn exchange(&self, addr: SocketAddr) -> Response {
        let stream = TcpStream::connect(addr).await.unwrap();
        self.exchange_on(stream, addr).await
    }

    /// Sends the request as HTTP/1.1 on `stream` (a TLS one, say), connected to `addr`, and reads the
    /// whole response.
    pub async fn send_on(
        &self,
        stream: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
        addr: SocketAddr,
    ) -> Response {
        tokio::time::timeout(HANG_GUARD, self.exchange_on(stream, addr))
            .await
            .expect("server hung")
    }

    async fn exchange_on(
        &self,
        mut stream: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
        addr: SocketAddr,
    ) -> Response {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n",
            self.method,
            self.path,
            self.body.len()
        );
        // The address connected to, unless the test names another host (as a proxy or a DNS name would).
        if !self
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("host"))
        {
            head.push_str(&format!("host: {addr}\r\n"));
        }
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head.push_str(&self.body);
        let sent_at = Instant::now();
        stream.write_all(head.as_bytes()).await.unwrap();
        Reader {
            stream: Box::new(stream),
            buf: Vec::new(),
            eof: false,
        }
        .response(sent_at)
        .await
    }
}

/// `api`'s route under `/v1`.
pub fn route(api: Api) -> &'static str {
    match api {
        Api::OpenAiChat => "/v1/chat/completions",
        Api::OpenAiResponses => "/v1/responses",
        Api::AnthropicMessages => "/v1/messages",
    }
}

/// One SSE event: its `event:` name (if any), its `data:` payload and when its closing blank line arrived.
#[derive(Debug)]
pub struct Event {
    pub at: Instant,
    pub name: Option<String>,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("event not JSON ({e}): {}", self.data))
    }

    /// The output token this event carries, if any, in whichever API's shape: a Chat chunk's non-empty
    /// `delta.content`, a Responses `response.output_text.delta`, an Anthropic `text_delta`.
    pub fn token(&self) -> Option<String> {
        if self.data == "[DONE]" {
            return None;
        }
        let event = self.json();
        let text = match event["type"].as_str() {
            Some("response.output_text.delta") => event["delta"].as_str(),
            Some("content_block_delta") if event["delta"]["type"] == "text_delta" => {
                event["delta"]["text"].as_str()
            }
            Some(_) => None,
            None => event["choices"][0]["delta"]["content"]
                .as_str()
                .filter(|t| !t.is_empty()),
        };
        text.map(str::to_owned)
    }
}

#[derive(Debug)]
pub struct Response {
    /// `HTTP/1.1` (from the status line) or `HTTP/2`.
    pub version: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub events: Vec<Event>,
    /// The body as it arrived: each read's bytes with its arrival time.
    pub pieces: Vec<(Instant, Vec<u8>)>,
    /// The body ended properly (final chunk, full content-length, or clean close) rather than being cut.
    pub complete: bool,
    pub sent_at: Instant,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The `data:` payloads parsed as JSON, without the final `[DONE]`.
    pub fn chunks(&self) -> Vec<Value> {
        self.events
            .iter()
            .filter(|e| e.data != "[DONE]")
            .map(|e| serde_json::from_str(&e.data).unwrap())
            .collect()
    }

    /// Events carrying an output token (any API), with their arrival times.
    pub fn content_events(&self) -> Vec<(&Event, String)> {
        self.events
            .iter()
            .filter_map(|e| e.token().map(|text| (e, text)))
            .collect()
    }

    /// The concatenated text of the output tokens.
    pub fn content_text(&self) -> String {
        self.content_events().into_iter().map(|(_, t)| t).collect()
    }

    /// The `event:` names, in order.
    pub fn event_names(&self) -> Vec<&str> {
        self.events.iter().filter_map(|e| e.name.as_deref()).collect()
    }

    /// Runs the body through tokenmeter's decoder for `api` (streamed or not), fed in two pieces split
    /// mid-event. Returns the events and how the decoder's `finish` judged the end.
    pub fn decode(&self, api: Api, stream: bool) -> Decoded {
        let mut decoder = api.decoder(stream);
        let mut events = Vec::new();
        let (a, b) = self.body.split_at(self.body.len() / 2);
        let mut end = decoder.push(a, &mut events);
        if end.is_ok() {
            end = decoder.push(b, &mut events);
        }
        if end.is_ok() {
            end = decoder.finish(&mut events);
        }
        Decoded {
            events,
            end,
            complete: decoder.is_complete(),
        }
    }

    pub fn ends_with_done(&self) -> bool {
        self.events.last().is_some_and(|e| e.data == "[DONE]")
    }

    /// Since the request was written.
    pub fn elapsed(&self, at: Instant) -> Duration {
        at.duration_since(self.sent_at)
    }
}

struct Reader {
    stream: Box<dyn AsyncRead + Unpin + Send>,
    buf: Vec<u8>,
    eof: bool,
}

impl Reader {
    /// Reads more bytes; false at EOF or on a reset (both mean the server is done with us).
    async fn fill(&mut self) -> bool {
        if self.eof {
            return false;
        }
        let mut block = [0u8; 4096];
        match self.stream.read(&mut block).await {
            Ok(0) | Err(_) => {
                self.eof = true;
                false
            }
            Ok(n) => {
                self.buf.extend_from_slice(&block[..n]);
                true
            }
        }
    }

    /// Takes one CRLF-terminated line, reading as needed; `None` if the connection ends first.
    async fn line(&mut self) -> Option<String> {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8(self.buf[..pos].to_vec()).unwrap();
                self.buf.drain(..pos + 2);
                return Some(line);
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// Takes exactly `n` bytes; `None` if the connection ends first.
    async fn take(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await {
                return None;
            }
        }
        Some(self.buf.drain(..n).collect())
    }

    async fn response(mut self, sent_at: Instant) -> Response {
        let status_line = self.line().await.expect("no status line");
        let version = status_line.split(' ').next().unwrap().to_owned();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("bad status line");
        let mut headers = Vec::new();
        while let Some(line) = self.line().await {
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("bad header line");
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let mut body = Body::new(is_sse(find("content-type").as_deref()));
        let complete = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            self.chunked(&mut body).await
        } else if let Some(length) = find("content-length") {
            match self.take(length.parse().unwrap()).await {
                Some(bytes) => {
                    body.push(&bytes);
                    true
                }
                None => false,
            }
        } else {
            while self.fill().await {}
            let rest = std::mem::take(&mut self.buf);
            body.push(&rest);
            true
        };
        Response {
            version,
            status,
            headers,
            body: body.bytes,
            events: body.events,
            pieces: body.pieces,
            complete,
            sent_at,
        }
    }

    /// Decodes a chunked body; true if the terminating zero-size chunk arrived.
    async fn chunked(&mut self, body: &mut Body) -> bool {
        loop {
            let Some(size_line) = self.line().await else {
                return false;
            };
            let size_hex = size_line.split(';').next().unwrap().trim();
            let size = usize::from_str_radix(size_hex, 16).expect("bad chunk size");
            if size == 0 {
                return true; // trailers, if any, are not needed
            }
            let Some(data) = self.take(size + 2).await else {
                return false;
            };
            assert_eq!(&data[size..], b"\r\n", "chunk not followed by CRLF");
            body.push(&data[..size]);
        }
    }
}

/// Whether a body of this content type is split into SSE events: binary bodies (AWS event-stream) are kept
/// as timed pieces only.
fn is_sse(content_type: Option<&str>) -> bool {
    !content_type.is_some_and(|v| v.starts_with("application/vnd.amazon.eventstream"))
}

/// The decoded body so far, split into SSE events as soon as each one is complete (unless binary), and
/// the pieces it arrived in.
struct Body {
    bytes: Vec<u8>,
    events: Vec<Event>,
    pieces: Vec<(Instant, Vec<u8>)>,
    scanned: usize,
    sse: bool,
}

impl Body {
    /// An empty body that splits SSE events unless `sse` is false (binary AWS event-stream bodies).
    fn new(sse: bool) -> Body {
        Body {
            bytes: Vec::new(),
            events: Vec::new(),
            pieces: Vec::new(),
            scanned: 0,
            sse,
        }
    }

    fn push(&mut self, data: &[u8]) {
        let at = Instant::now();
        self.bytes.extend_from_slice(data);
        self.pieces.push((at, data.to_vec()));
        if !self.sse {
            return;
        }
        while let Some(end) = self.bytes[self.scanned..].windows(2).position(|w| w == b"\n\n") {
            let raw = String::from_utf8(self.bytes[self.scanned..self.scanned + end].to_vec()).unwrap();
            self.scanned += end + 2;
            let data: Vec<&str> = raw
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            let name = raw
                .lines()
                .find_map(|line| line.strip_prefix("event:"))
                .map(|n| n.trim().to_owned());
            if !data.is_empty() {
                self.events.push(Event {
                    at,
                    name,
                    data: data.join("\n"),
                });
            }
        }
    }
}

/// A minimal chat request body.
pub fn chat_body(stream: bool, content: &str) -> Value {
    api_body(Api::OpenAiChat, stream, content)
}

/// A minimal request body in `api`'s shape, with no output limit low enough to matter.
pub fn api_body(api: Api, stream: bool, content: &str) -> Value {
    match api {
        Api::OpenAiChat => json!({
            "model": "test-model",
            "stream": stream,
            "messages": [{"role": "user", "content": content}],
        }),
        Api::OpenAiResponses => json!({"model": "test-model", "stream": stream, "input": content}),
        // Anthropic requires `max_tokens`; 1024 is above every default count.
        Api::AnthropicMessages => json!({
            "model": "test-model",
            "stream": stream,
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": content}],
        }),
    }
}

/// What tokenmeter's decoder made of a response.
#[derive(Debug)]
pub struct Decoded {
    pub events: Vec<StreamEvent>,
    /// The first error from `push` or `finish`, else `Ok`.
    pub end: Result<(), ProtocolError>,
    /// The decoder saw the API's terminal event.
    pub complete: bool,
}

impl Decoded {
    /// The visible output, concatenated.
    pub fn text(&self) -> String {
        self.events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Output {
                    kind: OutputKind::Visible,
                    text,
                } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Non-empty visible outputs: the tokens a client counts.
    pub fn outputs(&self) -> usize {
        self.events
            .iter()
            .filter(
                |e| matches!(e, StreamEvent::Output { kind: OutputKind::Visible, text } if !text.is_empty()),
            )
            .count()
    }

    /// Usage merged field by field, later values winning (as the engine folds it).
    pub fn usage(&self) -> Usage {
        let mut usage = Usage::default();
        for event in &self.events {
            if let StreamEvent::Usage(u) = event {
                usage.input_tokens = u.input_tokens.or(usage.input_tokens);
                usage.output_tokens = u.output_tokens.or(usage.output_tokens);
                usage.cached_input_tokens = u.cached_input_tokens.or(usage.cached_input_tokens);
                usage.reasoning_output_tokens = u.reasoning_output_tokens.or(usage.reasoning_output_tokens);
            }
        }
        usage
    }

    pub fn response_id(&self) -> Option<&str> {
        self.events.iter().find_map(|e| match e {
            StreamEvent::ResponseId(id) => Some(id.as_str()),
            _ => None,
        })
    }

    /// The stop reason, if the model stopped.
    pub fn stop(&self) -> Option<Option<&str>> {
        self.events.iter().find_map(|e| match e {
            StreamEvent::Stop { reason } => Some(reason.as_deref()),
            _ => None,
        })
    }

    /// `Some(throttled)` if the provider reported an error.
    pub fn provider_error(&self) -> Option<bool> {
        self.events.iter().find_map(|e| match e {
            StreamEvent::ProviderError { throttled, .. } => Some(*throttled),
            _ => None,
        })
    }
}

/// The `mock-llm` binary started with `args` (and `MOCK_TTFT_MS=0`), its stderr piped, and the one stdout line
/// it announces itself with; the rest of stdout stays readable.
#[cfg(unix)]
pub async fn spawn_binary(
    args: &[&str],
) -> (
    tokio::process::Child,
    String,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) {
    spawn_binary_with_env(args, &[]).await
}

/// Like [`spawn_binary`], with `env` set for the child only (the test process's environment is untouched).
#[cfg(unix)]
pub async fn spawn_binary_with_env(
    args: &[&str],
    env: &[(&str, &str)],
) -> (
    tokio::process::Child,
    String,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) {
    use std::process::Stdio;
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mock-llm"))
        .args(args)
        .env("MOCK_TTFT_MS", "0")
        .env_remove("MOCK_TLS")
        .env_remove("MOCK_METRICS")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    (child, line, lines)
}

/// Sends SIGTERM to `child`.
#[cfg(unix)]
pub fn terminate(child: &tokio::process::Child) {
    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
}
