//! Distribution figures of one run: a histogram per latency, the CDF of TTFT and TTLT with p50/p90/p99 marked,
//! and box plots of the four latencies (one panel each, since their scales differ by orders of magnitude).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::axis::{format_value, nice_ticks, ticks_from_zero, Ticks, TimeUnit};
use crate::bins::Histogram;
use crate::canvas::{legend, line_series, no_data, plot, plot_framed, render, with_note, Axis, Drawn, Frame};
use crate::run::Latency;
use crate::style;
use crate::summary::{cdf_points, percentile_marks, BoxStats, WHISKER_RULE};
use crate::thin::thin_xs;
use crate::Figure;
use tokenmeter_core::figure_data::{FigureData, Values, RELATIVE_ERROR};

/// Points drawn of a CDF curve, whatever the number of requests.
const CDF_POINTS: usize = 1_000;

/// The histogram of one latency. A long tail beyond p99 is left off the axis and counted in a note.
pub fn histogram(run: &FigureData, latency: Latency, size: (u32, u32)) -> Figure {
    let title = format!("{} histogram", latency.name());
    let values = latency.values(run);
    let svg = render(size, |area| match values.last() {
        None => no_data(area, &title, latency.missing()),
        Some(max) => draw_histogram(area, &title, latency, values, TimeUnit::for_max(max)),
    });
    Figure::new(histogram_id(latency), title, svg)
}

fn histogram_id(latency: Latency) -> &'static str {
    match latency {
        Latency::Ttft => "ttft-histogram",
        Latency::Ttlt => "ttlt-histogram",
        Latency::Tpot => "tpot-histogram",
        Latency::Itl => "itl-histogram",
    }
}

fn draw_histogram<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    latency: Latency,
    values: &Values,
    unit: TimeUnit,
) -> Drawn<DB> {
    let Some(h) = Histogram::of(values, unit.per_second()) else {
        return no_data(area, title, latency.missing());
    };
    let (first, last) = (h.edges[0], h.edges[h.edges.len() - 1]);
    let area = if h.overflow > 0 {
        let note = format!(
            "{} {} above {} {} (beyond p99) are not drawn",
            h.overflow,
            latency.noun(),
            format_value(last),
            unit.symbol()
        );
        with_note(area, &note)?
    } else {
        area.clone()
    };
    let top = h.counts.iter().copied().max().unwrap_or(0) as f64;
    // A single bin (identical values) sits in the middle third of its axis rather than filling it.
    let pad = if h.counts.len() == 1 { last - first } else { 0.0 };
    let x = Axis::new(
        nice_ticks(first - pad, last + pad, 6),
        format!("{} ({})", latency.name(), unit.symbol()),
    );
    // Headroom keeps the legend (upper right) off the bars.
    let y = Axis::new(ticks_from_zero(top * 1.25, 5), latency.noun());
    let mut chart = plot(&area, title, &x, &y)?;
    // A sliver between bars keeps neighbours apart without hiding a bin's edges.
    let gap = (h.edges[1] - h.edges[0]) * 0.03;
    let bars = h
        .counts
        .iter()
        .enumerate()
        .filter(|(_, &c)| c > 0)
        .map(|(i, &c)| {
            Rectangle::new(
                [(h.edges[i] + gap, 0.0), (h.edges[i + 1] - gap, c as f64)],
                style::filled(style::PRIMARY),
            )
        });
    let colour = style::PRIMARY;
    chart
        .draw_series(bars)?
        .label(count_label(values, latency))
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// The CDF of TTFT or TTLT (any latency), with its p50, p90 and p99 marked and labelled.
pub fn cdf(run: &FigureData, latency: Latency, size: (u32, u32)) -> Figure {
    let title = format!("{} CDF", latency.name());
    let values = latency.values(run);
    let svg = render(size, |area| match values.last() {
        None => no_data(area, &title, latency.missing()),
        Some(max) => draw_cdf(area, &title, run, latency, TimeUnit::for_max(max)),
    });
    let id = match latency {
        Latency::Ttft => "ttft-cdf",
        Latency::Ttlt => "ttlt-cdf",
        Latency::Tpot => "tpot-cdf",
        Latency::Itl => "itl-cdf",
    };
    Figure::new(id, title, svg)
}

/// The share axis of a CDF, 0 to 100 %, with headroom for the p99 label above the curve's top.
fn share_ticks() -> Ticks {
    let values = vec![0.0, 0.25, 0.5, 0.75, 1.0];
    Ticks {
        lo: 0.0,
        hi: 1.1,
        labels: values.iter().map(|v| format!("{}%", v * 100.0)).collect(),
        values,
    }
}

fn draw_cdf<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    run: &FigureData,
    latency: Latency,
    unit: TimeUnit,
) -> Drawn<DB> {
    let values = latency.values(run);
    let s = unit.per_second();
    let (min, max) = (
        values.first().unwrap_or(0.0) * s,
        values.last().unwrap_or(0.0) * s,
    );
    let x = Axis::new(
        nice_ticks(min, max, 6),
        format!("{} ({})", latency.name(), unit.symbol()),
    );
    let y = Axis::new(share_ticks(), format!("share of {} at or below", latency.noun()));
    let mut chart = plot(area, title, &x, &y)?;
    let mut points: Vec<(f64, f64)> = cdf_points(values, CDF_POINTS)
        .into_iter()
        .map(|(v, p)| (v * s, p))
        .collect();
    // From the axis at the smallest value, so a single value still draws a (vertical) line.
    points.insert(0, (min, 0.0));
    line_series(&mut chart, points, style::PRIMARY, &count_label(values, latency))?;
    for (mark, colour) in percentile_marks(values, run.method)
        .iter()
        .zip(style::PERCENTILE_COLOURS)
    {
        let at = (mark.value * s, mark.p / 100.0);
        let label = format!("{} {}", mark.name(), unit.format(mark.value));
        let dot = style::filled(colour);
        let text = style::label_style();
        // Labels sit left of their dot: the curve flattens towards the right and top.
        chart.draw_series(std::iter::once(
            EmptyElement::at(at)
                + Circle::new((0, 0), 4, dot)
                + Circle::new((0, 0), 4, style::INK.stroke_width(1))
                + Text::new(label, (-8, -14), text.pos(Pos::new(HPos::Right, VPos::Top))),
        ))?;
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)
}

/// Box plots of TTFT, TTLT, TPOT and inter-token latency, one panel each on its own axis and unit. Whiskers
/// reach 1.5 × IQR (Tukey), said in the caption; outliers are dots, drawn once per pixel column.
pub fn boxplots(run: &FigureData, size: (u32, u32)) -> Figure {
    let title = "Latency box plots".to_owned();
    let svg = render(size, |area| {
        if Latency::ALL.iter().all(|&l| l.values(run).is_empty()) {
            return no_data(area, &title, "no successful requests");
        }
        draw_boxplots(area, &title, run)
    });
    Figure::new("latency-boxplots", title, svg)
}

fn draw_boxplots<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    run: &FigureData,
) -> Drawn<DB> {
    let area = with_note(area, &format!("Box: quartiles, line: median; {WHISKER_RULE}"))?;
    let area = area.titled(title, style::title_style())?;
    let rows = area.split_evenly((Latency::ALL.len(), 1));
    for (panel, latency) in rows.iter().zip(Latency::ALL) {
        draw_box_panel(panel, run, latency)?;
    }
    Ok(())
}

/// Space of a box plot panel: tight, since four share one figure.
const PANEL: Frame = Frame {
    margin: 4,
    x_label_area: 32,
    y_label_area: 110,
};

fn draw_box_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    run: &FigureData,
    latency: Latency,
) -> Drawn<DB> {
    let values = latency.values(run);
    let Some(b) = BoxStats::of(values, run.method) else {
        let (_, h) = area.dim_in_pixel();
        return area.draw(&Text::new(
            format!("{}: no data ({})", latency.name(), latency.missing()),
            (PANEL.y_label_area as i32, (h / 2) as i32),
            style::label_style(),
        ));
    };
    let (min, max) = (values.first().unwrap_or(0.0), values.last().unwrap_or(0.0));
    let unit = TimeUnit::for_max(max);
    let s = unit.per_second();
    let x = Axis::new(nice_ticks(min * s, max * s, 6), unit.symbol());
    let y = Axis::new(
        Ticks {
            lo: -1.0,
            hi: 1.0,
            values: vec![0.0],
            labels: vec![latency.name().to_owned()],
        },
        "",
    );
    let mut chart = plot_framed(area, "", &x, &y, PANEL)?;
    let stroke = style::PRIMARY.stroke_width(2);
    let (q1, q3, med) = (b.q1 * s, b.q3 * s, b.median * s);
    let (lo, hi) = (b.low_whisker * s, b.high_whisker * s);
    chart.draw_series([
        Rectangle::new([(q1, -0.5), (q3, 0.5)], style::filled(style::PRIMARY_LIGHT)),
        Rectangle::new([(q1, -0.5), (q3, 0.5)], stroke),
    ])?;
    chart.draw_series([
        PathElement::new(vec![(med, -0.5), (med, 0.5)], stroke),
        PathElement::new(vec![(lo, 0.0), (q1, 0.0)], stroke),
        PathElement::new(vec![(q3, 0.0), (hi, 0.0)], stroke),
        PathElement::new(vec![(lo, -0.25), (lo, 0.25)], stroke),
        PathElement::new(vec![(hi, -0.25), (hi, 0.25)], stroke),
    ])?;
    let (width, _) = chart.plotting_area().dim_in_pixel();
    let outliers = values
        .runs()
        .filter(|&(v, _)| v < b.low_whisker || v > b.high_whisker)
        .map(|(v, _)| v * s);
    let dots = thin_xs(outliers, (x.ticks.lo, x.ticks.hi), width, 2);
    chart.draw_series(
        dots.into_iter()
            .map(|v| Circle::new((v, 0.0), style::POINT_RADIUS, style::INK.stroke_width(1))),
    )?;
    Ok(())
}

/// The legend of a distribution: how many values, and, once they are a histogram's, to what precision.
fn count_label(values: &Values, latency: Latency) -> String {
    let count = format!("{} {}", values.len(), latency.noun());
    if values.is_binned() {
        format!("{count} (binned, within {}%)", RELATIVE_ERROR * 100.0)
    } else {
        count
    }
}
