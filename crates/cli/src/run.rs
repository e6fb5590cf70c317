//! `tokenmeter run`: checks everything first (nothing is sent on a bad configuration), starts the shards on the
//! chosen engine at one shared time, shows the merged run live, stops every shard on Ctrl-C or SIGTERM (keeping
//! partial results, as Stop does in the page), writes each shard's folder and the exact merge, and checks the
//! thresholds.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use tokenmeter_core::format::{merge_runs, MergedRun, MissingShard, ShardStatus};
use tokenmeter_core::input::{RunInput, SearchPlan};
use tokenmeter_core::search::{Outcome, SloSearch};
use tokenmeter_core::server_metrics::{ServerMetrics, SERVER_METRICS_FILE};
use tokenmeter_core::shard::Shard;
use tokenmeter_core::stats::{compare_race, RaceComparison, RunningStats, Scalar, StatKey};
use tokenmeter_core::threshold::Threshold;
use tokenmeter_engine::remote::{Ending, RunRequest};

use crate::args::{Engine, RunArgs};
use crate::browser;
use crate::collect::Collector;
use crate::error::CliError;
use crate::native::clock::{monotonic_now, unix_ms_now, wall_now};
use crate::native::{self, ShardMessage};
use crate::output;
use crate::serve;
use crate::settings::RunSetup;
use crate::view::{table_text, View};

/// How far ahead of now shards are told to start, so every one is ready (a browser takes about a second).
fn lead_time(engine: Engine, shards: usize) -> Duration {
    match engine {
        Engine::Native => Duration::from_millis(200),
        Engine::Browser => Duration::from_millis(3000 + 500 * shards as u64),
    }
}

/// Parses every `--threshold`.
pub fn thresholds(texts: &[String]) -> Result<Vec<Threshold>, CliError> {
    texts
        .iter()
        .map(|t| {
            t.parse::<Threshold>()
                .map_err(|e| CliError::Config(e.to_string()))
        })
        .collect()
}

/// Checks `thresholds` on a run's statistics, printing each; the number that failed.
pub fn check_thresholds(
    name: &str,
    stats: &serde_json::Map<String, serde_json::Value>,
    thresholds: &[Threshold],
) -> usize {
    let mut failed = 0;
    for threshold in thresholds {
        let verdict = threshold.check(stats);
        if !verdict.holds {
            failed += 1;
        }
        eprintln!("threshold {name}: {verdict}");
    }
    failed
}

pub async fn run(args: RunArgs) -> Result<(), CliError> {
    let thresholds = thresholds(&args.thresholds)?;
    let seed = wall_now().timestamp_micros() as u64;
    let setup = RunSetup::load(&args.config, &args.sets, &|name| std::env::var(name).ok(), seed)?;
    for key in &setup.unmapped {
        eprintln!("tokenmeter: not mapped from the configuration: {key}");
    }
    let shards: Vec<Shard> = match &args.shard {
        Some(text) => vec![text
            .parse()
            .map_err(|e| CliError::Config(format!("--shard: {e}")))?],
        None => {
            let count = args.shards;
            (0..count)
                .map(|i| Shard::new(i, count))
                .collect::<Result<_, _>>()
                .map_err(|e| CliError::Config(format!("--shards: {e}")))?
        }
    };
    let start_at = args.start_at.or_else(|| {
        (shards.len() > 1)
            .then(|| unix_ms_now() as i64 + lead_time(args.engine, shards.len()).as_millis() as i64)
    });
    // Every shard's request is checked before anything starts.
    let requests: Vec<RunRequest> = shards
        .iter()
        .map(|shard| setup.request(*shard, start_at, None))
        .collect::<Result<_, _>>()?;
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).map_err(|e| CliError::Io(format!("--out {}: {e}", out.display())))?;
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let (tx, rx) = mpsc::unbounded_channel::<ShardMessage>();
    let mut tasks = Vec::new();
    let mut threads = Vec::new();
    let _served;
    match args.engine {
        Engine::Native => {
            for (index, request) in requests.into_iter().enumerate() {
                threads.push(native::spawn_shard(index, request, stop_rx.clone(), tx.clone())?);
            }
        }
        Engine::Browser => {
            let chromium = browser::find_chromium(&args.chromium)?;
            let base = match &args.page {
                Some(url) => url.clone(),
                None => {
                    let served = serve::serve(&args.dist, "127.0.0.1:0").await?;
                    let base = format!("http://127.0.0.1:{}/", served.addr.port());
                    _served = served;
                    base
                }
            };
            // Every browser is up before any page opens, so the shared start time holds for all of them.
            let mut launched = Vec::new();
            for index in 0..requests.len() {
                launched.push(browser::launch(&chromium, index).await?);
            }
            for (index, (shard, request)) in launched.into_iter().zip(requests).enumerate() {
                let (base, stop, tx) = (base.clone(), stop_rx.clone(), tx.clone());
                tasks.push(tokio::spawn(shard.run(index, base, request, stop, tx)));
            }
        }
    }
    drop(tx);

    let mut collector = Collector::new(&setup.input, shards.len());
    let mut view = View::new(args.json);
    let interrupted = coordinate(
        &mut collector,
        rx,
        &stop_tx,
        &mut view,
        &setup,
        args.stall_timeout,
    )
    .await;
    view.finish();
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
    }
    for thread in threads {
        let _ = thread.join();
    }

    let merged = finish(&args, &shards, &collector)?;
    for message in &collector.unreadable {
        eprintln!("tokenmeter: warning: {message}");
    }
    let groups = &setup.input.table_groups;
    let mut failed = 0;
    for (name, run) in &merged {
        println!("\n{name}: {} requests", run.records.len());
        println!("{}", table_text(&run.stats, groups));
        if run.client_affected() {
            println!("note: a shard's client was disturbed (hidden page or late timers): see run_config.json tokenmeter_shards");
        }
        failed += check_thresholds(name, &run.stats, &thresholds);
    }
    let search = setup
        .input
        .search
        .as_ref()
        .map(|plan| replay_search(plan, &merged));
    let race = race_comparisons(&setup.input, &merged, seed);
    if !race.is_empty() {
        println!();
        for comparison in &race {
            println!("{}", comparison.sentence);
        }
        if let Some(out) = &args.out {
            output::write_race(out, &race)?;
        }
    }
    if let Some(search) = &search {
        println!("\n{}", search.summary());
        if let Some(out) = &args.out {
            output::write_search(out, search)?;
        }
    }
    if let Some(path) = &args.report {
        let html = output::report(&merged, search.as_ref(), &race, &wall_now().to_rfc3339());
        std::fs::write(path, html).map_err(|e| CliError::Io(format!("--report {}: {e}", path.display())))?;
        println!("report: {}", path.display());
    }
    if interrupted {
        return Err(CliError::Interrupted);
    }
    // A shard that crashed or hung: the others were merged (the merged run names it), but the run is incomplete.
    let missing: Vec<String> = merged
        .iter()
        .flat_map(|(_, run)| run.shards.iter())
        .filter(|s| s.status == ShardStatus::Missing)
        .map(|s| {
            format!(
                "shard {}: {}",
                s.shard,
                s.reason.as_deref().unwrap_or("no results")
            )
        })
        .collect();
    if !missing.is_empty() {
        return Err(CliError::Run(format!(
            "{} (the other shards' results were kept and merged)",
            missing.join("; ")
        )));
    }
    if merged.is_empty() {
        let reasons: Vec<String> = collector
            .shards
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.ended.as_ref().map(|(_, m)| format!("shard {i}: {m}")))
            .collect();
        return Err(CliError::Run(format!("no run completed: {}", reasons.join("; "))));
    }
    if failed > 0 {
        return Err(CliError::Thresholds(failed));
    }
    if let Some(search) = search.filter(|s| !matches!(s.outcome(), Some(Outcome::Found { .. }))) {
        return Err(CliError::SloSearch(search.summary()));
    }
    Ok(())
}

/// A race's comparisons, on the merged runs of its targets (every shard's records), each against the first.
fn race_comparisons(input: &RunInput, merged: &[(String, MergedRun)], seed: u64) -> Vec<RaceComparison> {
    let mut runs: Vec<(String, RunningStats)> = input
        .race
        .iter()
        .filter_map(|target| {
            let name = target.run_name();
            let (_, run) = merged.iter().find(|(n, _)| *n == name)?;
            let mut stats = RunningStats::new(input.stats_config()).ok()?;
            run.records.iter().for_each(|r| stats.observe(r));
            Some((name, stats))
        })
        .collect();
    compare_race(&mut runs, seed)
}

/// The SLO search as the engine ran it, judged again on each step's merged statistics (which hold the level).
fn replay_search(plan: &SearchPlan, merged: &[(String, MergedRun)]) -> SloSearch {
    let mut search = plan.start();
    for (_, run) in merged {
        if let Some(level) = StatKey::from(Scalar::SloSearchLevel).get(&run.stats) {
            search.record(level, &run.stats);
        }
    }
    search
}

/// Feeds the collector until every shard ended, showing the run once a second; on Ctrl-C or SIGTERM, stops
/// every shard and waits for their partial results. Returns whether the run was interrupted.
async fn coordinate(
    collector: &mut Collector,
    mut rx: mpsc::UnboundedReceiver<ShardMessage>,
    stop: &watch::Sender<bool>,
    view: &mut View,
    setup: &RunSetup,
    stall_timeout: f64,
) -> bool {
    let mut interrupted = false;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut terminate = termination();
    let stall = Duration::from_secs_f64(stall_timeout.max(1.0));
    loop {
        tokio::select! {
            message = rx.recv() => match message {
                Some((index, message)) => collector.take(index, message, wall_now()),
                None => break,
            },
            _ = tick.tick() => {
                show(collector, view, setup);
                // A shard that says nothing for too long (a hung browser) is given up on; the others go on.
                let now = monotonic_now();
                for (index, shard) in collector.shards.iter_mut().enumerate() {
                    if shard.ended.is_none() && now.duration_since(shard.last_heard) > stall {
                        view.note(&format!("tokenmeter: shard {index} said nothing for {stall:?}: given up"));
                        shard.ended = Some((Ending::Failed, format!("shard {index} hung: nothing heard for {stall:?}")));
                    }
                }
            }
            _ = &mut terminate, if !interrupted => {
                interrupted = true;
                view.note("tokenmeter: stopping every shard (requests in flight end as cancelled)…");
                let _ = stop.send(true);
            }
        }
        if collector.all_ended() {
            break;
        }
    }
    // Messages sent just before the end, then the final state (a --json consumer always gets one line).
    while let Ok((index, message)) = rx.try_recv() {
        collector.take(index, message, wall_now());
    }
    show(collector, view, setup);
    interrupted
}

fn show(collector: &mut Collector, view: &mut View, setup: &RunSetup) {
    let progress = collector.progress();
    let Some(run) = collector.current() else {
        return;
    };
    let name = run.name.clone();
    let bar = run.progress_view();
    let stats = run.live_stats(wall_now());
    view.show(&name, &progress, &bar, &stats, &setup.input.table_groups);
}

/// Resolves on Ctrl-C or SIGTERM.
fn termination() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async {
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return std::future::pending().await,
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    })
}

/// Writes every shard's folder and each run's merged folder; returns the merged runs by name.
fn finish(
    args: &RunArgs,
    shards: &[Shard],
    collector: &Collector,
) -> Result<Vec<(String, MergedRun)>, CliError> {
    let several = collector.runs.len() > 1;
    let mut merged = Vec::new();
    for run in &collector.runs {
        let dir: Option<PathBuf> =
            args.out
                .as_ref()
                .map(|out| if several { out.join(&run.name) } else { out.clone() });
        let mut parts = Vec::new();
        let mut missing = Vec::new();
        for (index, files) in run.files.iter().enumerate() {
            let shard = shards[index];
            match files {
                Some(files) => {
                    if let (Some(dir), true) = (&dir, shards.len() > 1) {
                        output::write_folder(&output::shard_dir(dir, index), files)?;
                    }
                    parts.push(output::part(format!("shard {shard}"), files)?);
                }
                None => missing.push(MissingShard {
                    shard: shard.to_string(),
                    reason: collector.shards[index]
                        .ended
                        .as_ref()
                        .map_or_else(|| "it sent no results".into(), |(_, m)| m.clone()),
                }),
            }
        }
        if parts.is_empty() {
            continue;
        }
        // Shard 0 alone scrapes the server's metrics: its series are the run's, and its note is said here.
        let scraped = run
            .files
            .iter()
            .flatten()
            .flatten()
            .find(|(n, _)| n == SERVER_METRICS_FILE);
        if let Some(note) = scraped.and_then(|(_, text)| ServerMetrics::from_json(text).ok()?.note()) {
            eprintln!("tokenmeter: {}: {note}", run.name);
        }
        let result = match (&dir, &run.files[..]) {
            // One shard (a whole run, or one pod's shard i/N): its own folder, shard record and all, for
            // `tokenmeter merge` to combine later.
            (Some(dir), [Some(files)]) => {
                output::write_folder(dir, files)?;
                merge_runs(parts, &missing)
                    .map_err(|e| CliError::Run(format!("the run cannot be read back: {e}")))?
            }
            (Some(dir), _) => {
                let merged = output::merge_into(dir, parts, &missing)?;
                if let Some(file) = scraped {
                    output::write_folder(dir, std::slice::from_ref(file))?;
                }
                merged
            }
            (None, _) => {
                merge_runs(parts, &missing).map_err(|e| CliError::Run(format!("the merge failed: {e}")))?
            }
        };
        merged.push((run.name.clone(), result));
    }
    Ok(merged)
}
