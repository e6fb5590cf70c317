//! An SLO search's figure: the SLO's first statistic against load, one point per step (held or broke), the
//! SLO's bound as a line, and the knee (the highest level that held) marked.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::canvas::render;
use crate::style;
use tokenmeter_core::search::{Outcome, SloSearch};

/// Draws the search's steps.
pub fn draw_slo_search<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    search: &SloSearch,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    area.fill(&WHITE)?;
    let Some(threshold) = search.slo.first() else {
        return area.present();
    };
    let points: Vec<(f64, f64, bool)> = search
        .steps
        .iter()
        .filter_map(|s| Some((s.level, s.verdicts.first()?.value?, s.holds())))
        .collect();
    let range = search.range;
    let top = points
        .iter()
        .map(|p| p.1)
        .chain([threshold.bound])
        .fold(0.0_f64, f64::max);
    let y_max = if top > 0.0 { top * 1.25 } else { 1.0 };
    let pad = (range.high - range.low) * 0.04;
    let title = format!("{} against {}", threshold.key, range.axis.as_str());
    let mut chart = ChartBuilder::on(area)
        .caption(title, style::title_style())
        .margin(style::MARGIN)
        .x_label_area_size(style::X_LABEL_AREA)
        .y_label_area_size(style::Y_LABEL_AREA)
        .build_cartesian_2d(range.low - pad..range.high + pad, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc(range.axis.as_str())
        .y_desc(threshold.key.as_str())
        .label_style(style::label_style())
        .axis_desc_style(style::label_style())
        .bold_line_style(style::GRID)
        .draw()?;
    let bound = threshold.bound;
    chart
        .draw_series(LineSeries::new(
            [(range.low - pad, bound), (range.high + pad, bound)],
            style::SECONDARY.stroke_width(1),
        ))?
        .label(format!("SLO: {threshold}"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], style::SECONDARY));
    let mut sorted = points.clone();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    chart.draw_series(LineSeries::new(
        sorted.iter().map(|p| (p.0, p.1)),
        style::GRID.stroke_width(1),
    ))?;
    for (held, label, colour) in [(true, "held", style::PRIMARY), (false, "broke", style::FAILED)] {
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| p.2 == held)
                    .map(|p| Circle::new((p.0, p.1), 4, colour.filled())),
            )?
            .label(label)
            .legend(move |(x, y)| Circle::new((x + 6, y), 4, colour.filled()));
    }
    if let Some(Outcome::Found { held, .. }) = search.outcome() {
        chart
            .draw_series(LineSeries::new(
                [(held, 0.0), (held, y_max)],
                style::PRIMARY.stroke_width(2),
            ))?
            .label(format!("knee: {}", range.axis.describe(held)))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], style::PRIMARY.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(style::label_style())
        .border_style(BLACK.mix(0.3))
        .background_style(WHITE.mix(0.9))
        .draw()?;
    area.present()
}

/// The figure as an SVG document.
pub fn slo_search_svg(search: &SloSearch, size: (u32, u32)) -> String {
    render(size, |area| draw_slo_search(area, search))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokenmeter_core::search::parse_slo;

    #[test]
    fn every_step_is_a_point_and_the_knee_is_named() {
        let mut search = SloSearch::new(
            "clients:1-16".parse().unwrap(),
            parse_slo("time_to_first_token-p95<0.2").unwrap(),
        );
        for (level, ttft) in [
            (1.0, 0.1),
            (16.0, 0.4),
            (8.0, 0.15),
            (12.0, 0.25),
            (10.0, 0.19),
            (11.0, 0.21),
        ] {
            search.record(
                level,
                json!({ "time_to_first_token-p95": ttft }).as_object().unwrap(),
            );
        }
        let svg = slo_search_svg(&search, (640, 360));
        assert!(svg.contains("knee: 10 clients"), "{svg}");
        assert!(
            svg.contains("SLO: time_to_first_token-p95&lt;0.2")
                || svg.contains("SLO: time_to_first_token-p95<0.2")
        );
        assert!(svg.contains("time_to_first_token-p95 against clients"));
        // Three held and three broke, plus one legend swatch each.
        assert_eq!(
            svg.matches("#0F766E").count() - 2,
            3 + 1,
            "held points (and the knee line, legend)"
        );
        assert_eq!(svg.matches("#DC2626").count(), 3 + 1, "broke points and legend");
    }
}
