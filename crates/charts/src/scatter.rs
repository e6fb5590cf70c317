//! Scatter figures of one run, a point per successful request: TTFT against input tokens, TTLT against output
//! tokens (how latency grows with prompt and answer length), and TTFT against the time each request was sent,
//! with failed requests marked on the time axis. Points are thinned to one per 2-pixel cell.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::axis::{nice_ticks, ticks_from_zero, TimeUnit};
use crate::canvas::{legend, mark_failures, no_data, plot, render, Axis, Drawn};
use crate::run::Latency;
use crate::style;
use crate::thin::{thin_points, thin_xs};
use crate::Figure;
use tokenmeter_core::figure_data::{FigureData, Points};

/// Thinning cell of scatter points, in pixels (a marker's diameter).
const CELL: u32 = 2 * style::POINT_RADIUS;

/// TTFT of each successful request against its input tokens.
pub fn ttft_vs_input_tokens(run: &FigureData, size: (u32, u32)) -> Figure {
    token_scatter(
        "ttft-vs-input-tokens",
        "TTFT by input tokens",
        "input tokens",
        Latency::Ttft,
        &run.ttft_by_input,
        size,
    )
}

/// TTLT of each successful request against its output tokens.
pub fn ttlt_vs_output_tokens(run: &FigureData, size: (u32, u32)) -> Figure {
    token_scatter(
        "ttlt-vs-output-tokens",
        "TTLT by output tokens",
        "output tokens",
        Latency::Ttlt,
        &run.ttlt_by_output,
        size,
    )
}

/// Multi-turn runs: TTFT of each successful request against its turn in the conversation. Later turns carry
/// longer prompts; a prefix cache keeps their TTFT down.
pub fn ttft_by_turn(run: &FigureData, size: (u32, u32)) -> Figure {
    token_scatter(
        "ttft-by-turn",
        "TTFT by turn",
        "turn of the conversation",
        Latency::Ttft,
        &run.ttft_by_turn,
        size,
    )
}

fn token_scatter(
    id: &'static str,
    title: &str,
    x_desc: &str,
    latency: Latency,
    points: &Points,
    size: (u32, u32),
) -> Figure {
    let svg = render(size, |area| {
        if points.kept.is_empty() {
            return no_data(area, title, "no successful requests with token counts");
        }
        let x_max = points.kept.iter().map(|p| p.0).fold(0.0, f64::max);
        let x = Axis::new(ticks_from_zero(x_max, 6), x_desc);
        draw_scatter(area, title, x, latency, points, &Points::default())
    });
    Figure::new(id, title.to_owned(), svg)
}

/// TTFT of each successful request against when it was sent; failed requests marked on the time axis.
pub fn ttft_over_time(run: &FigureData, size: (u32, u32)) -> Figure {
    let title = "TTFT over time";
    let svg = render(size, |area| {
        if run.ttft_by_send.kept.is_empty() && run.failed_sends.kept.is_empty() {
            return no_data(area, title, "no requests sent after the warm-up");
        }
        let end = run
            .ttft_by_send
            .kept
            .iter()
            .chain(&run.failed_sends.kept)
            .map(|p| p.0)
            .fold(0.0, f64::max);
        let x = Axis::new(
            ticks_from_zero(end, 6),
            "seconds since the run started (request sent)",
        );
        draw_scatter(
            area,
            title,
            x,
            Latency::Ttft,
            &run.ttft_by_send,
            &run.failed_sends,
        )
    });
    Figure::new("ttft-over-time", title.to_owned(), svg)
}

fn draw_scatter<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    x: Axis,
    latency: Latency,
    points: &Points,
    failed: &Points,
) -> Drawn<DB> {
    let y_max = points.kept.iter().map(|p| p.1).fold(0.0, f64::max);
    let unit = TimeUnit::for_max(y_max);
    let s = unit.per_second();
    let y = Axis::new(
        // Headroom keeps the legend (upper right) off the highest points.
        nice_ticks(0.0, y_max * s * 1.2, 5),
        format!("{} ({})", latency.name(), unit.symbol()),
    );
    let mut chart = plot(area, title, &x, &y)?;
    let px = chart.plotting_area().dim_in_pixel();
    let (xr, yr) = ((x.ticks.lo, x.ticks.hi), (y.ticks.lo, y.ticks.hi));
    let kept = thin_points(points.kept.iter().map(|&(a, b)| (a, b * s)), xr, yr, px, CELL);
    // A thinned scatter says so: the figure shows where requests fell, not each one.
    let label = match kept.len() as u64 {
        drawn if drawn < points.count => {
            format!(
                "{} requests ({drawn} dots: one per {CELL}-pixel cell)",
                points.count
            )
        }
        _ => format!("{} requests", points.count),
    };
    let dot = style::PRIMARY.mix(0.6).filled();
    chart
        .draw_series(kept.into_iter().map(|p| Circle::new(p, style::POINT_RADIUS, dot)))?
        .label(label)
        .legend(move |(x, y)| Circle::new((x + 5, y), style::POINT_RADIUS + 1, dot));
    if failed.count > 0 {
        let marks = thin_xs(failed.kept.iter().map(|p| p.0), xr, px.0, 4);
        mark_failures(&mut chart, marks, failed.count)?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}
