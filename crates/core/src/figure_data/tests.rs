//! `FigureData`: exact for small runs, bounded and within its stated error for long ones, read back as written.

use super::*;
use crate::record::{ErrorKind, RequestError, RequestTiming, TokenCounts};
use crate::stats::percentile;

fn us(v: u64) -> Timestamp {
    Timestamp::from_micros(v)
}

/// A successful streamed request `i`: sent at `i` ms, first token after a TTFT that varies with `i`, 4 chunks.
fn ok(i: u64) -> RequestRecord {
    let sent = i * 1_000;
    let ttft = 20_000 + (i * 7_919) % 180_000;
    let chunks: Vec<Timestamp> = (0..4).map(|k| us(sent + ttft + k * (1_000 + i % 97))).collect();
    RequestRecord {
        timing: RequestTiming {
            dispatched_at: us(sent),
            first_token_at: Some(chunks[0]),
            last_token_at: Some(chunks[3]),
            ended_at: chunks[3],
            token_chunk_times: chunks,
            ..Default::default()
        },
        tokens: TokenCounts {
            input: Some(100 + i % 1_000),
            output: Some(4 + i % 300),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn failed(i: u64) -> RequestRecord {
    RequestRecord {
        error: Some(RequestError::new(ErrorKind::Throttled, "")),
        ..ok(i)
    }
}

fn build(records: impl Iterator<Item = RequestRecord>) -> FigureData {
    let mut builder = FigureDataBuilder::new(RunClock::Monotonic(Timestamp::ZERO));
    records.for_each(|r| builder.add(&r));
    builder.finish(PercentileMethod::Linear)
}

#[test]
fn a_small_run_keeps_every_value_and_point() {
    let records: Vec<RequestRecord> = (0..1_000).map(ok).chain((1_000..1_010).map(failed)).collect();
    let data = build(records.iter().cloned());
    let mut ttft: Vec<f64> = records[..1_000]
        .iter()
        .filter_map(metrics::time_to_first_token)
        .collect();
    ttft.sort_unstable_by(f64::total_cmp);
    assert_eq!(data.ttft, Values::Exact { sorted: ttft.clone() });
    assert_eq!(data.itl.len(), 3_000);
    assert_eq!(
        (data.ttft_by_send.count, data.ttft_by_send.kept.len()),
        (1_000, 1_000)
    );
    assert_eq!(data.failed(), 10);
    // Cells add up to the requests, and their sums to the values.
    let cells: u64 = data.tokens.iter().map(|c| c.ttft_count).sum();
    assert_eq!(cells, 1_000);
    let sum: f64 = data.tokens.iter().map(|c| c.ttft_sum).sum();
    assert!((sum - ttft.iter().sum::<f64>()).abs() < 1e-9);
    for p in [25.0, 50.0, 99.0] {
        assert_eq!(
            data.ttft.percentile(p, PercentileMethod::Linear),
            percentile(&ttft, p, PercentileMethod::Linear)
        );
    }
}

#[test]
fn a_long_run_stays_bounded_and_its_order_statistics_within_the_stated_error() {
    const N: u64 = 200_000;
    let data = build((0..N).map(ok).chain((0..N / 10).map(|i| failed(N + i))));
    let mut ttft: Vec<f64> = (0..N)
        .filter_map(|i| metrics::time_to_first_token(&ok(i)))
        .collect();
    ttft.sort_unstable_by(f64::total_cmp);
    assert!(data.ttft.is_binned() && data.itl.is_binned());
    assert_eq!(data.ttft.len(), N as usize);
    assert_eq!(data.itl.len(), 3 * N as usize);
    assert_eq!(
        (data.ttft.first(), data.ttft.last()),
        (ttft.first().copied(), ttft.last().copied())
    );
    for p in [1.0, 25.0, 50.0, 90.0, 99.0, 99.9] {
        let want = percentile(&ttft, p, PercentileMethod::Linear).unwrap();
        let got = data.ttft.percentile(p, PercentileMethod::Linear).unwrap();
        assert!(
            (got - want).abs() <= want * RELATIVE_ERROR,
            "p{p}: {got} vs {want}"
        );
    }
    let below = data.ttft.count_below(0.1, false);
    let want = ttft.partition_point(|&v| v < 0.1);
    assert!(
        below.abs_diff(want) as f64 <= N as f64 * 0.01,
        "{below} vs {want}"
    );
    for points in [
        &data.ttft_by_send,
        &data.ttft_by_input,
        &data.ttlt_by_output,
        &data.failed_sends,
    ] {
        assert!(points.kept.len() <= EXACT_POINTS, "{}", points.kept.len());
    }
    assert_eq!(data.ttft_by_send.count, N);
    assert_eq!(data.failed(), N / 10);
    // The grid keeps the scatter's extent: its last request and its slowest.
    let max_x = data.ttft_by_send.kept.iter().map(|p| p.0).fold(0.0, f64::max);
    assert!(max_x >= (N - 1) as f64 / 1e3 * 0.99, "{max_x}");
    let cells: u64 = data.tokens.iter().map(|c| c.ttlt_count).sum();
    assert_eq!(cells, N);
    assert!(data.tokens.len() <= EXACT_CELLS);
    // Bounded when written down too: what the record store keeps beside a run.
    assert!(data.to_json().len() < 4_000_000, "{}", data.to_json().len());
}

#[test]
fn it_reads_back_as_it_was_written_under_either_rule() {
    let data = build((0..20_000).map(ok));
    let back = FigureData::from_json(&data.to_json(), PercentileMethod::Linear).unwrap();
    assert_eq!(back, data);
    let llmeter = FigureData::from_json(&data.to_json(), PercentileMethod::Llmeter).unwrap();
    assert_eq!(llmeter.method, PercentileMethod::Llmeter);
    assert!(FigureData::from_json("{", PercentileMethod::Linear).is_err());
}
