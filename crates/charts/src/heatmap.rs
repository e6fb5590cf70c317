//! The latency heatmap (LLMeter's `LatencyHeatmap.plot_heatmaps`): the average TTFT or TTLT of the successful
//! requests in each input-tokens × output-tokens cell, on LLMeter's integer-width bins ([`IntBins`]). Cells
//! without requests stay blank. Bins are drawn as equal columns and rows labelled with their boundaries, as
//! LLMeter's (seaborn) heatmap does.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::axis::{format_value, Ticks, TimeUnit};
use crate::bins::IntBins;
use crate::canvas::{no_data, plot, render, with_note, Axis, Drawn};
use crate::run::Latency;
use crate::style;
use crate::Figure;
use tokenmeter_core::figure_data::{FigureData, TokenCell};

/// LLMeter's default bins: (input tokens, output tokens).
pub const HEATMAP_BINS: (usize, usize) = (10, 10);

/// Cells narrower than this many pixels get no value written in them.
const MIN_LABELLED_CELL: u32 = 36;

/// The latencies a heatmap shows (LLMeter's two): one value per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeatmapLatency {
    Ttft,
    Ttlt,
}

impl HeatmapLatency {
    fn latency(self) -> Latency {
        match self {
            HeatmapLatency::Ttft => Latency::Ttft,
            HeatmapLatency::Ttlt => Latency::Ttlt,
        }
    }

    /// A cell's sum of this latency and how many requests it sums.
    fn of(self, c: &TokenCell) -> (f64, u64) {
        match self {
            HeatmapLatency::Ttft => (c.ttft_sum, c.ttft_count),
            HeatmapLatency::Ttlt => (c.ttlt_sum, c.ttlt_count),
        }
    }
}

/// The heatmap of `which` latency over `bins` = (input, output) token bins.
pub fn heatmap(run: &FigureData, which: HeatmapLatency, bins: (usize, usize), size: (u32, u32)) -> Figure {
    let latency = which.latency();
    let title = format!("Average {} by input and output tokens", latency.name());
    let id = match which {
        HeatmapLatency::Ttft => "ttft-heatmap",
        HeatmapLatency::Ttlt => "ttlt-heatmap",
    };
    let points: Vec<(u64, u64, f64, u64)> = run
        .tokens
        .iter()
        .filter_map(|c| {
            let (sum, n) = which.of(c);
            (n > 0).then_some((c.input, c.output, sum, n))
        })
        .collect();
    let grid = Grid::of(&points, bins);
    let svg = render(size, |area| match &grid {
        None => no_data(area, &title, "no successful requests with token counts"),
        Some(grid) => draw_heatmap(area, &title, latency, grid),
    });
    Figure::new(id, title, svg)
}

/// The binned cells: `mean[row][col]`, row = output bin, col = input bin.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Grid {
    pub input: IntBins,
    pub output: IntBins,
    pub mean: Vec<Vec<Option<f64>>>,
}

impl Grid {
    /// The average of each cell's values, from `(input, output, sum, count)` token pairs; `None` for a cell without
    /// requests or without points at all.
    pub fn of(points: &[(u64, u64, f64, u64)], (input_bins, output_bins): (usize, usize)) -> Option<Grid> {
        let input = IntBins::of(points.iter().map(|p| p.0), input_bins)?;
        let output = IntBins::of(points.iter().map(|p| p.1), output_bins)?;
        let mut sums = vec![vec![(0.0, 0u64); input.len()]; output.len()];
        for &(i, o, sum, n) in points {
            let cell = &mut sums[output.index(o)][input.index(i)];
            cell.0 += sum;
            cell.1 += n;
        }
        let mean = sums
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|(s, n)| (n > 0).then(|| s / n as f64))
                    .collect()
            })
            .collect();
        Some(Grid { input, output, mean })
    }
}

/// The colour of a cell at `t` ∈ [0, 1] of the value range: light yellow through orange to dark red (after
/// plotly's "oryel", LLMeter's scale).
pub(crate) fn heat_colour(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 3] = [(254.0, 237.0, 160.0), (242.0, 120.0, 50.0), (140.0, 20.0, 50.0)];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let (a, b, f) = if t <= 0.5 {
        (STOPS[0], STOPS[1], t * 2.0)
    } else {
        (STOPS[1], STOPS[2], (t - 0.5) * 2.0)
    };
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Ticks at every bin boundary, labelled with its token count.
fn boundary_ticks(bins: &IntBins) -> Ticks {
    Ticks {
        lo: 0.0,
        hi: bins.len() as f64,
        values: (0..bins.boundaries.len()).map(|i| i as f64).collect(),
        labels: bins.boundaries.iter().map(u64::to_string).collect(),
    }
}

fn draw_heatmap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    latency: Latency,
    grid: &Grid,
) -> Drawn<DB> {
    let cells = grid.mean.iter().flatten().flatten();
    let (min, max) = cells.fold((f64::INFINITY, 0.0_f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let unit = TimeUnit::for_max(max);
    let note = format!(
        "Colour: average {} per cell, {} (light) to {} (dark); blank: no requests",
        latency.name(),
        unit.format(min),
        unit.format(max)
    );
    let area = with_note(area, &note)?;
    let x = Axis::new(boundary_ticks(&grid.input), "input tokens (bin boundaries)");
    let y = Axis::new(boundary_ticks(&grid.output), "output tokens (bin boundaries)");
    let mut chart = plot(&area, title, &x, &y)?;
    let span = max - min;
    let share = |v: f64| if span > 0.0 { (v - min) / span } else { 0.5 };
    let filled = grid.mean.iter().enumerate().flat_map(|(row, values)| {
        values
            .iter()
            .enumerate()
            .filter_map(move |(col, v)| v.map(|v| (col as f64, row as f64, v)))
    });
    chart.draw_series(filled.clone().map(|(c, r, v)| {
        Rectangle::new([(c, r), (c + 1.0, r + 1.0)], style::filled(heat_colour(share(v))))
    }))?;
    let (w, _) = chart.plotting_area().dim_in_pixel();
    if w / grid.input.len().max(1) as u32 >= MIN_LABELLED_CELL {
        let centred = style::note_style().pos(Pos::new(HPos::Center, VPos::Center));
        chart.draw_series(filled.map(|(c, r, v)| {
            // Dark cells get white text.
            let text = if share(v) > 0.6 {
                centred.color(&WHITE)
            } else {
                centred.clone()
            };
            Text::new(format_value(v * unit.per_second()), (c + 0.5, r + 0.5), text)
        }))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_average_their_requests_and_empty_cells_stay_blank() {
        // Input bins [0, 50, 101], output bins [10, 11, 13] (width 1 over range 2 in 2 bins: [10, 11, 12]).
        let points = [(0, 10, 1.0, 1), (10, 10, 3.0, 1), (100, 12, 5.0, 1)];
        let g = Grid::of(&points, (2, 2)).unwrap();
        assert_eq!(g.input.boundaries, [0, 50, 101]);
        assert_eq!(g.output.boundaries, [10, 11, 13]);
        assert_eq!(g.mean, vec![vec![Some(2.0), None], vec![None, Some(5.0)]]);
        assert_eq!(Grid::of(&[], (10, 10)), None);
    }

    #[test]
    fn identical_token_counts_make_one_cell() {
        let g = Grid::of(&[(128, 256, 0.5, 1), (128, 256, 1.5, 1)], (10, 10)).unwrap();
        assert_eq!(g.mean, vec![vec![Some(1.0)]]);
        assert_eq!(boundary_ticks(&g.input).labels, ["128", "129"]);
    }

    #[test]
    fn colours_run_from_light_to_dark() {
        assert_eq!(heat_colour(0.0), RGBColor(254, 237, 160));
        assert_eq!(heat_colour(1.0), RGBColor(140, 20, 50));
        assert_eq!(heat_colour(2.0), heat_colour(1.0));
        assert_eq!(heat_colour(f64::NAN), heat_colour(0.0));
    }
}
