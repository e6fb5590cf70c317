//! Every figure drawn from small synthetic runs: each has its title, axis labels and a data element; a run without
//! successful requests draws "no data" figures; a run of identical values still draws.

use crate::heatmap::{heatmap, HeatmapLatency};
use crate::over_time::{latency_over_time, requests_over_time};
use crate::{run_figures, Figure, FigureData, Latency};
use tokenmeter_core::record::{ErrorKind, RequestError, RequestRecord, RequestTiming, TokenCounts};
use tokenmeter_core::stats::PercentileMethod;
use tokenmeter_core::time::Timestamp;
use tokenmeter_core::timeline::Timeline;

const SIZE: (u32, u32) = (640, 400);

fn ms(v: u64) -> Timestamp {
    Timestamp::from_micros(v * 1000)
}

/// Request `i`, sent at `i × 100 ms` with TTFT `ttft_ms`, 4 chunks `gap_ms` apart and `output` tokens.
fn request(i: u64, ttft_ms: u64, gap_ms: u64, input: u64, output: u64) -> RequestRecord {
    let sent = 1_000 + i * 100;
    let chunks: Vec<Timestamp> = (0..4).map(|k| ms(sent + ttft_ms + k * gap_ms)).collect();
    RequestRecord {
        timing: RequestTiming {
            scheduled_at: ms(sent),
            dispatched_at: ms(sent),
            first_token_at: chunks.first().copied(),
            first_visible_at: chunks.first().copied(),
            last_token_at: chunks.last().copied(),
            ended_at: ms(sent + ttft_ms + 3 * gap_ms + 1),
            token_chunk_times: chunks,
            ..Default::default()
        },
        tokens: TokenCounts {
            input: Some(input),
            output: Some(output),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn fail(mut r: RequestRecord, kind: ErrorKind) -> RequestRecord {
    r.error = Some(RequestError::new(kind, "boom"));
    r
}

/// 60 requests over 6 s: varied latencies and token counts, 3 failures, a warm-up and a cancelled request.
fn synthetic_run() -> Vec<RequestRecord> {
    let mut records: Vec<RequestRecord> = (0..60)
        .map(|i| {
            request(
                i,
                150 + (i * 37) % 400,
                10 + i % 15,
                100 + (i * 53) % 900,
                20 + (i * 29) % 300,
            )
        })
        .collect();
    for i in [7, 21, 44] {
        records[i] = fail(records[i].clone(), ErrorKind::Throttled);
    }
    records[0].warmup = true;
    records[59] = fail(records[59].clone(), ErrorKind::Cancelled);
    records
}

fn figure<'a>(figures: &'a [Figure], id: &str) -> &'a Figure {
    figures
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no figure {id}"))
}

fn assert_has(f: &Figure, texts: &[&str]) {
    assert!(f.svg.starts_with("<svg"), "{}", f.id);
    for text in texts {
        assert!(f.svg.contains(text), "{}: `{text}` missing", f.id);
    }
}

const IDS: [&str; 15] = [
    "ttft-histogram",
    "ttlt-histogram",
    "tpot-histogram",
    "itl-histogram",
    "ttft-cdf",
    "ttlt-cdf",
    "latency-boxplots",
    "ttft-vs-input-tokens",
    "ttlt-vs-output-tokens",
    "ttft-over-time",
    "requests-over-time",
    "output-tokens-over-time",
    "latency-over-time",
    "ttft-heatmap",
    "ttlt-heatmap",
];

#[test]
fn every_per_run_figure_has_its_title_axes_and_data() {
    let run = FigureData::from_records(&synthetic_run(), PercentileMethod::Linear);
    let figures = run_figures(&run, SIZE);
    assert_eq!(figures.iter().map(|f| f.id.as_ref()).collect::<Vec<_>>(), IDS);
    for f in &figures {
        assert!(f.svg.contains(&f.title), "{}: title missing", f.id);
        assert!(!f.svg.contains("No data"), "{}: unexpectedly empty", f.id);
    }
    // 55 successful requests (60 less a warm-up, a cancelled and 3 failed).
    let teal = "#0F766E";
    assert_has(
        figure(&figures, "ttft-histogram"),
        &["TTFT (ms)", "requests", "55 requests", "<rect", teal],
    );
    assert_has(figure(&figures, "ttlt-histogram"), &["TTLT (ms)", "55 requests"]);
    assert_has(figure(&figures, "tpot-histogram"), &["TPOT (ms)"]);
    // Three gaps per request.
    assert_has(
        figure(&figures, "itl-histogram"),
        &["Inter-token latency (ms)", "165 gaps"],
    );
    assert_has(
        figure(&figures, "ttft-cdf"),
        &[
            "TTFT (ms)",
            "share of requests at or below",
            "<polyline",
            "p50 ",
            "p90 ",
            "p99 ",
            "100%",
        ],
    );
    assert_has(figure(&figures, "ttlt-cdf"), &["TTLT (ms)", "p99 "]);
    assert_has(
        figure(&figures, "latency-boxplots"),
        &[
            "1.5 × IQR",
            "TTFT",
            "TTLT",
            "TPOT",
            "Inter-token latency",
            "<rect",
        ],
    );
    assert_has(
        figure(&figures, "ttft-vs-input-tokens"),
        &["input tokens", "TTFT (ms)", "<circle", "55 requests"],
    );
    assert_has(
        figure(&figures, "ttlt-vs-output-tokens"),
        &["output tokens", "TTLT (ms)", "<circle"],
    );
    // Failures marked in red with a legend entry that counts them.
    let red = "#DC2626";
    assert_has(
        figure(&figures, "ttft-over-time"),
        &[
            "seconds since the run started (request sent)",
            "TTFT (ms)",
            "<circle",
            "failed (3)",
            red,
        ],
    );
    assert_has(
        figure(&figures, "requests-over-time"),
        &[
            "seconds since the run started (request end)",
            "requests per second",
            "completed (ok)",
            "<polyline",
            "failed (3)",
            red,
        ],
    );
    assert_has(
        figure(&figures, "output-tokens-over-time"),
        &["output tokens per second", "<polyline"],
    );
    assert_has(
        figure(&figures, "latency-over-time"),
        &["latency (ms)", "mean TTFT", "max TTFT", "mean TTLT", "failed (3)"],
    );
    assert_has(
        figure(&figures, "ttft-heatmap"),
        &[
            "input tokens (bin boundaries)",
            "output tokens (bin boundaries)",
            "<rect",
            "blank: no requests",
        ],
    );
    assert_has(
        figure(&figures, "ttlt-heatmap"),
        &["Average TTLT by input and output tokens"],
    );
}

#[test]
fn a_run_without_successful_requests_draws_no_data_figures() {
    let records: Vec<RequestRecord> = (0..5)
        .map(|i| fail(request(i, 100, 10, 10, 10), ErrorKind::Timeout))
        .collect();
    let run = FigureData::from_records(&records, PercentileMethod::Linear);
    assert_eq!(run.failed(), 5);
    let figures = run_figures(&run, SIZE);
    assert_eq!(figures.len(), IDS.len());
    for f in &figures {
        assert!(f.svg.contains(&f.title), "{}", f.id);
    }
    for id in [
        "ttft-histogram",
        "itl-histogram",
        "ttft-cdf",
        "latency-boxplots",
        "ttft-vs-input-tokens",
        "ttft-heatmap",
    ] {
        assert_has(figure(&figures, id), &["No data"]);
    }
    // The failures themselves are data on the time axis.
    assert_has(figure(&figures, "ttft-over-time"), &["failed (5)"]);
    assert_has(figure(&figures, "requests-over-time"), &["failed (5)"]);
    // Nothing at all: every figure says so.
    let empty = FigureData::from_records(&[], PercentileMethod::Linear);
    assert!(run_figures(&empty, SIZE)
        .iter()
        .all(|f| f.svg.contains("No data")));
}

#[test]
fn identical_values_still_draw() {
    let records: Vec<RequestRecord> = (0..20).map(|i| request(i, 200, 20, 128, 256)).collect();
    let run = FigureData::from_records(&records, PercentileMethod::Llmeter);
    assert!(Latency::Ttft.values(&run).runs().all(|(v, _)| v == 0.2));
    for f in run_figures(&run, SIZE) {
        assert!(!f.svg.contains("No data"), "{}", f.id);
        assert!(f.svg.contains(&f.title), "{}", f.id);
    }
    let h = heatmap(&run, HeatmapLatency::Ttft, (10, 10), SIZE);
    // One cell, [128, 129] × [256, 257], its average written in it.
    assert_has(&h, &["\n128\n", "\n129\n", "\n256\n", "\n257\n", "\n200\n"]);
}

#[test]
fn over_time_figures_draw_from_a_timeline_alone() {
    let mut timeline = Timeline::new(ms(1_000));
    assert_has(&requests_over_time(&timeline, SIZE), &["No data"]);
    for r in synthetic_run() {
        timeline.observe(&r);
    }
    assert_has(
        &requests_over_time(&timeline, SIZE),
        &["completed (ok)", "failed (3)"],
    );
    // What a worker would post, and the page would draw.
    let posted: Timeline = serde_json::from_str(&serde_json::to_string(&timeline).unwrap()).unwrap();
    assert_eq!(
        latency_over_time(&posted, SIZE),
        latency_over_time(&timeline, SIZE)
    );
    // The same run read from its records gives the same timeline.
    assert_eq!(Timeline::from_records(&synthetic_run()), timeline);
}

#[test]
fn a_long_tail_is_stated_not_drawn() {
    let mut records: Vec<RequestRecord> = (0..200).map(|i| request(i, 200 + i % 50, 10, 10, 10)).collect();
    records.push(request(200, 30_000, 10, 10, 10));
    records.push(request(201, 31_000, 10, 10, 10));
    records.push(request(202, 32_000, 10, 10, 10));
    let run = FigureData::from_records(&records, PercentileMethod::Linear);
    let f = crate::distributions::histogram(&run, Latency::Ttft, SIZE);
    assert_has(
        &f,
        &["3 requests above", "(beyond p99) are not drawn", "TTFT (s)"],
    );
}

/// r22: a stored run's figures, read batch by batch (as the figures worker reads the record store), are the
/// figures of the whole run: the same set, and the same distributions drawn to the byte.
#[test]
fn r22_figures_from_batches_are_the_figures_of_the_whole_run() {
    use crate::{figures_of_files, BatchFigures};
    use tokenmeter_core::format::{write_extras, write_responses};
    let mut records = synthetic_run();
    // Tokenmeter's own runs start at their origin: place the first request there.
    for r in &mut records {
        r.timing.scheduled_at = Timestamp::from_nanos(r.timing.scheduled_at.as_nanos() - 1_000_000_000);
        r.timing.dispatched_at = Timestamp::from_nanos(r.timing.dispatched_at.as_nanos() - 1_000_000_000);
    }
    let stats = serde_json::Map::new();
    let mut batched = BatchFigures::new(&stats);
    for chunk in records.chunks(7) {
        batched
            .add(&write_responses(chunk), &write_extras(chunk))
            .unwrap();
    }
    let batched = run_figures(&batched.finish(), SIZE);
    let files = vec![
        ("responses.jsonl".to_owned(), write_responses(&records)),
        ("tokenmeter_responses.jsonl".to_owned(), write_extras(&records)),
    ];
    let whole = figures_of_files(&files, &stats, SIZE).unwrap();
    assert_eq!(
        batched.iter().map(|f| &f.id).collect::<Vec<_>>(),
        whole.iter().map(|f| &f.id).collect::<Vec<_>>()
    );
    for id in [
        "ttft-histogram",
        "ttlt-cdf",
        "latency-boxplots",
        "ttft-vs-input-tokens",
    ] {
        assert_eq!(figure(&batched, id), figure(&whole, id), "{id}");
    }
    let mut broken = BatchFigures::new(&stats);
    assert!(broken.add("{oops\n", "").is_err());
    assert!(figures_of_files(&[], &stats, SIZE).is_err());
}

/// r22: a scatter of more requests than its pixels can show thins them, and says so in its legend; a small one
/// draws every request and says nothing.
#[test]
fn r22_a_thinned_scatter_says_so() {
    let small = FigureData::from_records(&synthetic_run(), PercentileMethod::Linear);
    let svg = figure(&run_figures(&small, SIZE), "ttft-vs-input-tokens")
        .svg
        .clone();
    assert!(
        !svg.contains("dots: one per"),
        "nothing thinned among 56 requests"
    );
    let many: Vec<RequestRecord> = (0..20_000)
        .map(|i| request(i, 100 + (i * 7919) % 900, 10, 100 + (i * 104_729) % 900, 50))
        .collect();
    let big = FigureData::from_records(&many, PercentileMethod::Linear);
    let svg = figure(&run_figures(&big, SIZE), "ttft-vs-input-tokens")
        .svg
        .clone();
    assert!(
        svg.contains("20000 requests ("),
        "the legend counts every request"
    );
    assert!(svg.contains("dots: one per"), "and says the dots are thinned");
}

/// r22: a long run's distributions are a histogram's (bounded memory); its figures say so, and still count
/// every request.
#[test]
fn r22_a_long_run_draws_from_bounded_figure_data_and_says_so() {
    use tokenmeter_core::figure_data::EXACT_VALUES;
    let n = EXACT_VALUES as u64 + 1_000;
    let many: Vec<RequestRecord> = (0..n)
        .map(|i| request(i, 100 + (i * 7919) % 900, 10 + i % 7, 100, 50))
        .collect();
    let big = FigureData::from_records(&many, PercentileMethod::Linear);
    assert!(big.ttft.is_binned());
    let figures = run_figures(&big, SIZE);
    assert_has(
        figure(&figures, "ttft-histogram"),
        &[&format!("{n} requests (binned, within 0.1%)")],
    );
    assert_has(figure(&figures, "ttft-cdf"), &["p50", "p99", "(binned"]);
    assert_has(
        figure(&figures, "latency-boxplots"),
        &["TTFT", "Inter-token latency"],
    );
}
