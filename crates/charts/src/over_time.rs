//! Over-time figures drawn from a [`Timeline`] alone, so a live run redraws them from a few hundred buckets, not
//! every record: completed requests per second, output tokens per second, and mean/max TTFT and mean TTLT per
//! bucket. Failed requests are marked on the time axis. A point sits at the middle of its bucket.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::axis::{ticks_from_zero, TimeUnit};
use crate::canvas::{legend, line_series, mark_failures, no_data, plot, render, Axis, Chart, Drawn};
use crate::style;
use crate::Figure;
use tokenmeter_core::timeline::{Bucket, Timeline};

/// Buckets up to which each point also gets a marker (a short run's line alone may be a single point).
const MARKED_BUCKETS: usize = 60;

/// Successful requests completed per second, failures marked.
pub fn requests_over_time(timeline: &Timeline, size: (u32, u32)) -> Figure {
    let title = "Completed requests over time";
    let w = f64::from(timeline.width_secs());
    let series = [Series {
        label: "completed (ok)",
        colour: style::PRIMARY,
        value: &|b: &Bucket| Some(f64::from(b.ok) / w),
    }];
    let svg = render(size, |area| {
        draw_over_time(area, title, timeline, "requests per second", &series, None)
    });
    Figure::new("requests-over-time", title.to_owned(), svg)
}

/// Output tokens per second (of every counted request, as `total_output_tokens`), failures marked.
pub fn output_tokens_over_time(timeline: &Timeline, size: (u32, u32)) -> Figure {
    let title = "Output tokens over time";
    let w = f64::from(timeline.width_secs());
    let series = [Series {
        label: "output tokens/s",
        colour: style::PRIMARY,
        value: &|b: &Bucket| Some(b.output_tokens as f64 / w),
    }];
    let svg = render(size, |area| {
        draw_over_time(area, title, timeline, "output tokens per second", &series, None)
    });
    Figure::new("output-tokens-over-time", title.to_owned(), svg)
}

/// Mean and largest TTFT and mean TTLT of the requests completed in each bucket, failures marked.
pub fn latency_over_time(timeline: &Timeline, size: (u32, u32)) -> Figure {
    let title = "Latency over time";
    let series = [
        Series {
            label: "mean TTFT",
            colour: style::PRIMARY,
            value: &Bucket::mean_ttft,
        },
        Series {
            label: "max TTFT",
            colour: style::PRIMARY_MID,
            value: &Bucket::max_ttft,
        },
        Series {
            label: "mean TTLT",
            colour: style::SECONDARY,
            value: &Bucket::mean_ttlt,
        },
    ];
    let max = timeline
        .buckets()
        .iter()
        .flat_map(|b| series.iter().filter_map(|s| (s.value)(b)))
        .fold(0.0, f64::max);
    let unit = TimeUnit::for_max(max);
    let svg = render(size, |area| {
        draw_over_time(
            area,
            title,
            timeline,
            &format!("latency ({})", unit.symbol()),
            &series,
            Some(unit),
        )
    });
    Figure::new("latency-over-time", title.to_owned(), svg)
}

/// One line of an over-time figure: its value per bucket (`None`: no point there).
struct Series<'a> {
    label: &'a str,
    colour: RGBColor,
    value: &'a dyn Fn(&Bucket) -> Option<f64>,
}

/// The lines of `series` over `timeline`; values in seconds are shown in `unit` when one is given.
fn draw_over_time<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    timeline: &Timeline,
    y_desc: &str,
    series: &[Series<'_>],
    unit: Option<TimeUnit>,
) -> Drawn<DB> {
    if timeline.is_empty() {
        return no_data(area, title, "no request has finished yet");
    }
    let scale = unit.map_or(1.0, TimeUnit::per_second);
    let half = f64::from(timeline.width_secs()) / 2.0;
    let lines: Vec<Vec<Vec<(f64, f64)>>> = series
        .iter()
        .map(|s| {
            segments(
                timeline
                    .iter()
                    .map(|(t, b)| (t + half, (s.value)(b).map(|v| v * scale))),
            )
        })
        .collect();
    let y_max = lines.iter().flatten().flatten().map(|p| p.1).fold(0.0, f64::max);
    let end = timeline.buckets().len() as f64 * 2.0 * half;
    let x = Axis::new(
        ticks_from_zero(end, 6),
        "seconds since the run started (request end)",
    );
    // Headroom keeps the legend (upper right) off the lines.
    let y = ticks_from_zero(y_max * 1.3, 5);
    let mut chart = plot(area, title, &x, &Axis::new(y, y_desc))?;
    let marked = timeline.buckets().len() <= MARKED_BUCKETS;
    for (s, parts) in series.iter().zip(lines) {
        draw_line(&mut chart, s, parts, marked)?;
    }
    let failed = timeline.total().failed;
    if failed > 0 {
        let at = timeline
            .iter()
            .filter(|(_, b)| b.failed > 0)
            .map(|(t, _)| t + half);
        mark_failures(&mut chart, at, u64::from(failed))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// One series, drawn in its unbroken parts, labelled once.
fn draw_line<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    s: &Series<'_>,
    parts: Vec<Vec<(f64, f64)>>,
    marked: bool,
) -> Drawn<DB> {
    let colour = s.colour;
    if marked {
        let dots = parts
            .iter()
            .flatten()
            .map(|&p| Circle::new(p, 3, style::filled(colour)));
        chart.draw_series(dots)?;
    }
    let mut parts = parts.into_iter();
    line_series(chart, parts.next().unwrap_or_default(), colour, s.label)?;
    for part in parts {
        chart.draw_series(LineSeries::new(part, style::line(colour)))?;
    }
    Ok(())
}

/// Splits a series at its missing values, so a line does not bridge a bucket without data.
fn segments(points: impl Iterator<Item = (f64, Option<f64>)>) -> Vec<Vec<(f64, f64)>> {
    let mut parts: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (x, y) in points {
        match y {
            Some(y) => parts.last_mut().expect("never empty").push((x, y)),
            None if parts.last().is_some_and(|p| !p.is_empty()) => parts.push(Vec::new()),
            None => {}
        }
    }
    parts.retain(|p| !p.is_empty());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_breaks_where_a_bucket_has_no_value() {
        let points = [
            (0.5, Some(1.0)),
            (1.5, None),
            (2.5, None),
            (3.5, Some(2.0)),
            (4.5, Some(3.0)),
        ];
        assert_eq!(
            segments(points.into_iter()),
            vec![vec![(0.5, 1.0)], vec![(3.5, 2.0), (4.5, 3.0)]]
        );
        assert!(segments([(0.5, None)].into_iter()).is_empty());
    }
}
