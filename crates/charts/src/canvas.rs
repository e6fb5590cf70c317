//! The drawing steps every figure shares: render to an SVG string, a titled plot on the figure's own ticks, the
//! legend, the "no data" figure, a note under the plot, and failed requests marked on the time axis.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::axis::Ticks;
use crate::style;

/// What drawing on a backend returns.
pub(crate) type Drawn<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A plot whose axes tick where [`Ticks`] say.
pub(crate) type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<TickedRange, TickedRange>>;

/// A linear axis that ticks (and draws grid lines) exactly at its [`Ticks`], instead of where plotters would.
#[derive(Debug, Clone)]
pub(crate) struct TickedRange {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl From<&Ticks> for TickedRange {
    fn from(t: &Ticks) -> Self {
        TickedRange {
            lo: t.lo,
            hi: t.hi,
            ticks: t.values.clone(),
        }
    }
}

impl Ranged for TickedRange {
    // Labels come from the figure's formatter; this only satisfies the mesh's bound.
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let span = self.hi - self.lo;
        if span == 0.0 || !span.is_finite() {
            return (limit.0 + limit.1) / 2;
        }
        let share = ((v - self.lo) / span).clamp(-1.0, 2.0);
        // plotters' own rounding, so lines and rectangles meet the grid exactly.
        limit.0 + (f64::from(limit.1 - limit.0) * share + 1e-3).floor() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// One axis: its ticks and its description (with the unit).
pub(crate) struct Axis {
    pub ticks: Ticks,
    pub desc: String,
}

impl Axis {
    pub fn new(ticks: Ticks, desc: impl Into<String>) -> Axis {
        Axis {
            ticks,
            desc: desc.into(),
        }
    }
}

/// Runs `draw` on a white SVG canvas of `size` pixels and returns the document. Drawing into a string cannot fail
/// for I/O reasons; a layout error (labels too big for a tiny figure) leaves a partial figure, not a panic.
pub(crate) fn render(
    size: (u32, u32),
    draw: impl for<'b> FnOnce(&DrawingArea<SVGBackend<'b>, Shift>) -> Drawn<SVGBackend<'b>>,
) -> String {
    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let _ = area.fill(&WHITE);
        let _ = draw(&area);
        let _ = area.present();
    }
    svg
}

/// Margins and label areas of a plot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    pub margin: u32,
    pub x_label_area: u32,
    pub y_label_area: u32,
}

/// A figure's single plot.
pub(crate) const FULL: Frame = Frame {
    margin: style::MARGIN,
    x_label_area: style::X_LABEL_AREA,
    y_label_area: style::Y_LABEL_AREA,
};

/// A titled plot on `area` with `x` and `y` axes, its grid and tick labels drawn.
pub(crate) fn plot<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    x: &Axis,
    y: &Axis,
) -> Result<Chart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    plot_framed(area, title, x, y, FULL)
}

/// [`plot`] with its own margins; an empty `title` draws no caption (a panel of a larger figure).
pub(crate) fn plot_framed<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    x: &Axis,
    y: &Axis,
    frame: Frame,
) -> Result<Chart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let mut builder = ChartBuilder::on(area);
    if !title.is_empty() {
        builder.caption(title, style::title_style());
    }
    let mut chart = builder
        .margin(frame.margin)
        // Room for the last x tick's label, centred on the plot's right edge.
        .margin_right(frame.margin.max(20))
        .x_label_area_size(frame.x_label_area)
        .y_label_area_size(frame.y_label_area)
        .build_cartesian_2d(TickedRange::from(&x.ticks), TickedRange::from(&y.ticks))?;
    let x_label = |v: &f64| x.ticks.label_at(*v);
    let y_label = |v: &f64| y.ticks.label_at(*v);
    chart
        .configure_mesh()
        .x_desc(x.desc.as_str())
        .y_desc(y.desc.as_str())
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .label_style(style::label_style())
        .axis_desc_style(style::label_style())
        .bold_line_style(style::GRID)
        .axis_style(style::INK)
        .draw()?;
    Ok(chart)
}

/// The legend of every labelled series, at `position`.
pub(crate) fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    position: SeriesLabelPosition,
) -> Drawn<DB> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font(style::label_style())
        .border_style(BLACK.mix(0.3))
        .background_style(WHITE.mix(0.9))
        .draw()
}

/// The figure drawn when there is nothing to plot: its title and why (never an empty axis, never a panic).
pub(crate) fn no_data<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    why: &str,
) -> Drawn<DB> {
    let (w, h) = area.dim_in_pixel();
    let centre = |v| Pos::new(HPos::Center, v);
    area.draw(&Text::new(
        title.to_owned(),
        ((w / 2) as i32, style::MARGIN as i32),
        style::title_style().pos(centre(VPos::Top)),
    ))?;
    area.draw(&Text::new(
        format!("No data: {why}"),
        ((w / 2) as i32, (h / 2) as i32),
        style::label_style().pos(centre(VPos::Center)),
    ))
}

/// Writes `text` in a strip at the bottom of `area` and returns the area above it, for the plot.
pub(crate) fn with_note<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    let (_, h) = area.dim_in_pixel();
    let (main, foot) = area.split_vertically(h.saturating_sub(style::NOTE_SIZE + 8));
    foot.draw(&Text::new(
        text.to_owned(),
        (style::MARGIN as i32, 2),
        style::note_style().pos(Pos::new(HPos::Left, VPos::Top)),
    ))?;
    Ok(main)
}

/// Marks failed requests at `xs` on the time axis (a red cross at the bottom of the plot), with a legend entry
/// that says how many failed.
pub(crate) fn mark_failures<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    xs: impl IntoIterator<Item = f64>,
    count: u64,
) -> Drawn<DB> {
    let y = chart.y_range().start;
    let cross = style::FAILED.stroke_width(2);
    chart
        .draw_series(xs.into_iter().map(|x| Cross::new((x, y), 4, cross)))?
        .label(format!("failed ({count})"))
        .legend(move |(x, y)| Cross::new((x + 5, y), 4, cross));
    Ok(())
}

/// A labelled line series.
pub(crate) fn line_series<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    points: Vec<(f64, f64)>,
    colour: RGBColor,
    label: &str,
) -> Drawn<DB> {
    chart
        .draw_series(LineSeries::new(points, style::line(colour)))?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], style::line(colour)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::axis::nice_ticks;

    #[test]
    fn a_plot_has_its_title_axis_descriptions_and_tick_labels() {
        let svg = render((400, 300), |area| {
            let x = Axis::new(nice_ticks(0.0, 10.0, 5), "time (s)");
            let y = Axis::new(nice_ticks(0.0, 1.0, 5), "share");
            let mut chart = plot(area, "A title", &x, &y)?;
            line_series(&mut chart, vec![(0.0, 0.0), (10.0, 1.0)], style::PRIMARY, "line")?;
            mark_failures(&mut chart, [5.0], 1)?;
            legend(&mut chart, SeriesLabelPosition::UpperLeft)
        });
        for text in [
            "A title",
            "time (s)",
            "share",
            "\n10\n",
            "\n0.4\n",
            "failed (1)",
            "<polyline",
        ] {
            assert!(svg.contains(text), "{text} missing from {svg}");
        }
    }

    #[test]
    fn no_data_says_so_under_the_title() {
        let svg = render((300, 200), |area| no_data(area, "TTFT", "no successful requests"));
        assert!(svg.contains("TTFT") && svg.contains("No data: no successful requests"));
    }
}
