//! The `mock-llm` binary: parses the port, binds 127.0.0.1, announces itself on stdout, and shuts down
//! cleanly on SIGTERM or Ctrl-C. It serves OpenAI Chat Completions, the OpenAI Responses API, Anthropic
//! Messages, Bedrock and SageMaker (see the crate docs for routes and knobs): point an SDK at `URL/v1`
//! (OpenAI), `URL` (Anthropic) or `endpoint_url=URL` (boto3 `bedrock-runtime`, `sagemaker-runtime`, signed
//! with `AKIDEXAMPLE` or the pair in `MOCK_AWS_ACCESS_KEY_ID` / `MOCK_AWS_SECRET_ACCESS_KEY`).
//!
//! Usage: `mock-llm [--port N] [--tls]`; the port also comes from `PORT` (flag wins; default 8787, 0 picks a
//! free one). Scripts wait for the single stdout line `mock-llm listening on http://127.0.0.1:PORT`.
//!
//! `--tls` (or `MOCK_TLS=1`) serves the same routes over HTTPS instead, with ALPN `h2` and `http/1.1` on a
//! self-signed certificate for `localhost` and `127.0.0.1` made at start (clients must accept it: Chromium
//! `--ignore-certificate-errors`, `curl -k`); the line then reads `mock-llm listening on https://127.0.0.1:PORT`.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::Duration;

use mock_llm::aws::AwsKeys;
use mock_llm::{Config, Features, DEFAULT_PORT};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long open streams may run on after a shutdown signal before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

const USAGE: &str =
    "usage: mock-llm [--port N] [--tls]   (env: PORT, MOCK_TLS=1, MOCK_TTFT_MS, MOCK_ITL_MS, \
MOCK_TOKENS, MOCK_CAPACITY, MOCK_METRICS=off, MOCK_AWS_ACCESS_KEY_ID + MOCK_AWS_SECRET_ACCESS_KEY)
  --tls  HTTPS with HTTP/2 (ALPN h2, http/1.1) on a self-signed certificate for localhost and 127.0.0.1";

#[tokio::main]
async fn main() -> ExitCode {
    let options = options(
        std::env::args().skip(1),
        std::env::var("PORT").ok(),
        std::env::var("MOCK_TLS").ok(),
    );
    let Options { port, tls } = match options {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("mock-llm: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("mock-llm: {message}");
            return ExitCode::from(2);
        }
    };
    let keys = match AwsKeys::from_env() {
        Ok(keys) => keys,
        Err(message) => {
            eprintln!("mock-llm: {message}");
            return ExitCode::from(2);
        }
    };
    let features = match Features::from_env() {
        Ok(features) => features,
        Err(message) => {
            eprintln!("mock-llm: {message}");
            return ExitCode::from(2);
        }
    };
    let stop_signal = match shutdown_signal() {
        Ok(signal) => signal,
        Err(e) => {
            eprintln!("mock-llm: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Made before the "listening" line, so a script never sees a URL that will not answer.
    let tls = match tls.then(mock_llm::tls::self_signed).transpose() {
        Ok(tls) => tls,
        Err(message) => {
            eprintln!("mock-llm: {message}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("mock-llm: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let port = listener.local_addr().map_or(port, |addr| addr.port());
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("mock-llm listening on {scheme}://127.0.0.1:{port}");
    let _ = std::io::stdout().flush();
    let tokens = config
        .tokens
        .map_or("20 (capped by max_tokens)".to_owned(), |n| n.to_string());
    eprintln!(
        "mock-llm: defaults ttft={}ms itl={}ms tokens={tokens}; AWS access keys {}; /metrics {}",
        config.ttft_ms,
        config.itl_ms,
        keys.key_ids().join(", "),
        if features.metrics { "on" } else { "off" }
    );
    if tls.is_some() {
        eprintln!(
            "mock-llm: TLS (ALPN h2, http/1.1; up to {} HTTP/2 streams per connection) with a self-signed \
             certificate for {}: clients must accept it",
            mock_llm::tls::MAX_CONCURRENT_STREAMS,
            mock_llm::tls::SUBJECT_ALT_NAMES.join(" and ")
        );
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        stop_signal.await;
        eprintln!("mock-llm: shutting down");
        let _ = stop_tx.send(true);
    });
    let mut graceful_rx = stop_rx.clone();
    let graceful = async move {
        let _ = graceful_rx.changed().await;
    };
    let mut force_rx = stop_rx;
    let force = async move {
        let _ = force_rx.changed().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let app = mock_llm::app_with_features(config, keys, features);
    let serve = async move {
        match tls {
            Some(tls) => mock_llm::tls::serve_with_shutdown(listener, tls, app, graceful).await,
            None => mock_llm::serve_with_shutdown(listener, app, graceful).await,
        }
    };
    tokio::select! {
        result = serve => match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mock-llm: {e}");
                ExitCode::FAILURE
            }
        },
        () = force => {
            eprintln!("mock-llm: open responses still running after {SHUTDOWN_GRACE:?}; exiting anyway");
            ExitCode::SUCCESS
        }
    }
}

/// What the command line and environment ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Options {
    port: u16,
    tls: bool,
}

/// The port from `--port N` / `--port=N` / `-p N`, else `PORT`, else 8787; TLS from `--tls`, else
/// `MOCK_TLS` (`1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`/empty). `Ok(None)` means `--help`.
fn options(
    mut args: impl Iterator<Item = String>,
    port_env: Option<String>,
    tls_env: Option<String>,
) -> Result<Option<Options>, String> {
    let parse = |text: &str, what: &str| {
        text.trim()
            .parse::<u16>()
            .map_err(|_| format!("invalid {what}: {text:?}"))
    };
    let mut flag = None;
    let mut tls = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--tls" => tls = true,
            "--port" | "-p" => {
                let value = args.next().ok_or("--port needs a value")?;
                flag = Some(parse(&value, "--port")?);
            }
            _ => match arg.strip_prefix("--port=") {
                Some(value) => flag = Some(parse(value, "--port")?),
                None => return Err(format!("unknown argument {arg:?}")),
            },
        }
    }
    let port = match (flag, port_env) {
        (Some(port), _) => port,
        (None, Some(env)) if !env.trim().is_empty() => parse(&env, "PORT")?,
        _ => DEFAULT_PORT,
    };
    let tls = tls
        || match tls_env
            .as_deref()
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("" | "0" | "false" | "no" | "off") => false,
            Some("1" | "true" | "yes" | "on") => true,
            Some(_) => {
                return Err(format!(
                    "MOCK_TLS={:?} is not 1 or 0",
                    tls_env.unwrap_or_default()
                ))
            }
        };
    Ok(Some(Options { port, tls }))
}

/// Installs the Ctrl-C and SIGTERM handlers now (before the "listening" line, so a script that signals
/// right after it still gets a clean exit) and returns a future that resolves on either signal.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: Option<&str>) -> Result<Option<u16>, String> {
        run_tls(args, env, None).map(|o| o.map(|o| o.port))
    }

    fn run_tls(
        args: &[&str],
        port_env: Option<&str>,
        tls_env: Option<&str>,
    ) -> Result<Option<Options>, String> {
        options(
            args.iter().map(|s| s.to_string()),
            port_env.map(str::to_owned),
            tls_env.map(str::to_owned),
        )
    }

    #[test]
    fn flag_beats_env_beats_default() {
        assert_eq!(run(&[], None), Ok(Some(DEFAULT_PORT)));
        assert_eq!(run(&[], Some("9000")), Ok(Some(9000)));
        assert_eq!(run(&["--port", "9001"], Some("9000")), Ok(Some(9001)));
        assert_eq!(run(&["--port=0"], None), Ok(Some(0)));
        assert_eq!(run(&["-p", "9002"], None), Ok(Some(9002)));
        assert_eq!(run(&["--help"], None), Ok(None));
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(run(&["--port"], None).is_err());
        assert!(run(&["--port", "http"], None).is_err());
        assert!(run(&["--verbose"], None).is_err());
        assert!(run(&[], Some("99999")).is_err());
    }

    #[test]
    fn tls_comes_from_the_flag_or_mock_tls() {
        let tls = |args: &[&str], env: Option<&str>| run_tls(args, None, env).map(|o| o.unwrap().tls);
        assert_eq!(tls(&[], None), Ok(false));
        assert_eq!(tls(&["--tls"], None), Ok(true));
        assert_eq!(tls(&["--port", "0", "--tls"], Some("0")), Ok(true));
        for on in ["1", "true", " YES ", "on"] {
            assert_eq!(tls(&[], Some(on)), Ok(true), "{on:?}");
        }
        for off in ["", "0", "false", "no", "off"] {
            assert_eq!(tls(&[], Some(off)), Ok(false), "{off:?}");
        }
        assert!(tls(&[], Some("https")).unwrap_err().contains("MOCK_TLS"));
        assert!(tls(&["--tls=1"], None).is_err());
        assert_eq!(
            run_tls(&["--tls", "-p", "9003"], Some("9000"), None),
            Ok(Some(Options {
                port: 9003,
                tls: true
            }))
        );
    }
}
