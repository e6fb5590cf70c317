//! The browser engine: the page's own engine, in N headless Chromium processes. Each has its own profile, so its
//! own connection pools (6 per host, 256 in all), and runs shard i/N of the run. The command hands each page its
//! credentials over the DevTools protocol (an init script sets `window.__tokenmeter_command` before the page
//! loads; nothing goes in a URL, a file or a log) with the run's settings, opens the page, which starts the run,
//! and drains the engine's messages from the hook every 100 ms. Stop clicks the page's `#stop`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chromiumoxide::browser::{Browser, BrowserConfig};
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use tokenmeter_core::input::Field;
use tokenmeter_engine::remote::{Ending, FromEngine, RunRequest};

use crate::error::CliError;
use crate::native::clock::unix_ms_now;
use crate::native::ShardMessage;

/// How often the command drains a page's messages.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// A page that takes longer than this to answer a drain is taken for hung (a busy page answers in milliseconds).
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// Flags for a headless Chromium on a machine with no network but loopback (see the e2e harness).
const CHROMIUM_ARGS: [&str; 6] = [
    "--disable-gpu",
    "--disable-quic",
    "--disable-component-update",
    "--no-default-browser-check",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
    "--mute-audio",
];

/// A running Chromium for one shard.
pub struct BrowserShard {
    browser: Browser,
    handler: tokio::task::JoinHandle<()>,
    _profile: TempDir,
}

/// A profile directory removed when the shard ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `chromium` as found on `PATH`, or the path given; a clear error naming it when it is not there.
pub fn find_chromium(name: &str) -> Result<PathBuf, CliError> {
    let missing = || {
        CliError::Browser(format!(
            "Chromium was not found at {name:?}: install Debian's chromium (apt-get install chromium), give \
             --chromium PATH (or TOKENMETER_CHROMIUM), or use --engine native"
        ))
    };
    let path = Path::new(name);
    if path.components().count() > 1 {
        return path.is_file().then(|| path.to_path_buf()).ok_or_else(missing);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(missing)
}

/// Starts a headless Chromium with a fresh profile.
pub async fn launch(chromium: &Path, index: usize) -> Result<BrowserShard, CliError> {
    let profile = std::env::temp_dir().join(format!(
        "tokenmeter-shard-{}-{index}-{}",
        std::process::id(),
        unix_ms_now()
    ));
    std::fs::create_dir_all(&profile)?;
    let profile = TempDir(profile);
    let config = BrowserConfig::builder()
        .chrome_executable(chromium)
        .new_headless_mode()
        .no_sandbox()
        .user_data_dir(&profile.0)
        .launch_timeout(Duration::from_secs(30))
        .request_timeout(Duration::from_secs(30))
        .args(CHROMIUM_ARGS)
        .build()
        .map_err(|e| CliError::Browser(format!("Chromium cannot be configured: {e}")))?;
    let (browser, mut handler) = Browser::launch(config)
        .await
        .map_err(|e| CliError::Browser(format!("Chromium ({}) did not start: {e}", chromium.display())))?;
    let handler = tokio::spawn(async move { while handler.next().await.is_some() {} });
    Ok(BrowserShard {
        browser,
        handler,
        _profile: profile,
    })
}

/// The script that sets the command's hook before the page's own scripts run.
/// It carries the settings too, so none (an extra header's value) ever sits in a URL.
fn hook_script(request: &RunRequest, clock_offset_ms: Option<f64>) -> String {
    let credentials = serde_json::to_string(&request.credentials).expect("credentials serialise");
    let mut hook = serde_json::json!({
        "settings": request.settings.to_json().to_string(),
        "credentials": credentials,
        "clock_offset_ms": clock_offset_ms,
        "inbox": [],
    });
    // A dataset or a trace is a file beside the configuration, which the page cannot read: the command hands over
    // the payloads it built from it (and the trace's schedule), and the page sends those.
    let from_file = [Field::Dataset, Field::Trace]
        .iter()
        .any(|f| !request.settings.get(*f).trim().is_empty());
    if from_file {
        hook["payloads"] = serde_json::to_string(&request.payloads)
            .expect("payloads serialise")
            .into();
        hook["schedule"] = serde_json::to_string(&request.schedule)
            .expect("schedules serialise")
            .into();
    }
    if let Some(json) = &request.tokenizer_json {
        hook["tokenizer_json"] = json.clone().into();
    }
    format!("window.__tokenmeter_command = {hook};")
}

const DRAIN: &str = "(() => { const h = window.__tokenmeter_command; \
    const status = document.getElementById('status'); \
    return { messages: h ? h.inbox.splice(0) : [], status: status ? status.dataset.status : null, \
             text: status ? status.textContent : null }; })()";

impl BrowserShard {
    /// Runs shard `index`: opens the page on `request`, forwards its engine's messages, stops it when `stop`
    /// turns true, and always ends with one `Ended` message (a crash or a hang included).
    pub async fn run(
        self,
        index: usize,
        base: String,
        request: RunRequest,
        mut stop: watch::Receiver<bool>,
        messages: mpsc::UnboundedSender<ShardMessage>,
    ) {
        let ended = match self.drive(index, &base, &request, &mut stop, &messages).await {
            Ok(()) => None,
            Err(message) => Some(FromEngine::Ended {
                ending: Ending::Failed,
                message,
            }),
        };
        if let Some(ended) = ended {
            let _ = messages.send((index, ended));
        }
        let mut browser = self.browser;
        let _ = tokio::time::timeout(Duration::from_secs(5), browser.close()).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), browser.wait()).await;
        self.handler.abort();
    }

    async fn drive(
        &self,
        index: usize,
        base: &str,
        request: &RunRequest,
        stop: &mut watch::Receiver<bool>,
        messages: &mpsc::UnboundedSender<ShardMessage>,
    ) -> Result<(), String> {
        let crashed = |e: chromiumoxide::error::CdpError| format!("the browser of shard {index} failed: {e}");
        let page = self.browser.new_page("about:blank").await.map_err(crashed)?;
        let offset = clock_offset_ms(&page).await;
        page.evaluate_on_new_document(hook_script(request, offset))
            .await
            .map_err(crashed)?;
        page.goto(base).await.map_err(crashed)?;
        let mut stopped = false;
        loop {
            if *stop.borrow() && !stopped {
                stopped = true;
                page.evaluate("document.getElementById('stop')?.click()")
                    .await
                    .map_err(crashed)?;
            }
            // A dead browser closes the DevTools connection (the handler ends); a hung one stops answering.
            if self.handler.is_finished() {
                return Err(format!("the browser of shard {index} failed: its process ended"));
            }
            let drained: Value = tokio::time::timeout(ANSWER_WITHIN, page.evaluate(DRAIN))
                .await
                .map_err(|_| format!("the browser of shard {index} failed: it stopped answering"))?
                .map_err(crashed)?
                .into_value()
                .map_err(|e| format!("shard {index}: the page answered oddly: {e}"))?;
            let mut ended = false;
            for text in drained["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let message = FromEngine::from_json(text).map_err(|e| format!("shard {index}: {e}"))?;
                ended |= matches!(message, FromEngine::Ended { .. });
                let _ = messages.send((index, message));
            }
            if ended {
                return Ok(());
            }
            if drained["status"] == "invalid" {
                let text = drained["text"]
                    .as_str()
                    .unwrap_or("the page refused the settings");
                return Err(format!("shard {index}: {text}"));
            }
            tokio::select! {
                () = tokio::time::sleep(POLL_EVERY) => {}
                _ = stop.changed(), if !stopped => {}
            }
        }
    }
}

/// The page's wall clock minus this process's (ms), from `Date.now()` read over one round trip (its middle).
async fn clock_offset_ms(page: &chromiumoxide::Page) -> Option<f64> {
    let before = unix_ms_now();
    let page_ms: f64 = page.evaluate("Date.now()").await.ok()?.into_value().ok()?;
    let after = unix_ms_now();
    Some(page_ms - (before + after) / 2.0)
}
