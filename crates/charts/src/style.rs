//! The look shared by every figure: colours, fonts and margins, so the figures read as one set and a change of
//! palette is made once.

use plotters::prelude::*;
use plotters::style::{RGBColor, ShapeStyle, TextStyle};

/// The main series colour (a dark teal, the page's accent).
pub const PRIMARY: RGBColor = RGBColor(15, 118, 110);
/// Lighter steps of [`PRIMARY`], for p90 and p99 beside p50.
pub const PRIMARY_MID: RGBColor = RGBColor(94, 170, 160);
pub const PRIMARY_LIGHT: RGBColor = RGBColor(180, 216, 211);
/// A contrasting series (TTLT beside TTFT, maxima beside means).
pub const SECONDARY: RGBColor = RGBColor(180, 83, 9);
/// A third series.
pub const TERTIARY: RGBColor = RGBColor(79, 70, 229);
/// Failed requests, everywhere.
pub const FAILED: RGBColor = RGBColor(220, 38, 38);
/// Axis text, notes and percentile marks.
pub const INK: RGBColor = RGBColor(55, 65, 81);
/// Grid lines.
pub const GRID: RGBColor = RGBColor(229, 231, 235);

/// p50, p90 and p99 in one colour family, darkest first.
pub const PERCENTILE_COLOURS: [RGBColor; 3] = [PRIMARY, PRIMARY_MID, PRIMARY_LIGHT];
/// Distinct series colours, for figures with several lines.
pub const SERIES: [RGBColor; 3] = [PRIMARY, SECONDARY, TERTIARY];

pub const FONT: &str = "sans-serif";
pub const TITLE_SIZE: u32 = 16;
pub const LABEL_SIZE: u32 = 12;
pub const NOTE_SIZE: u32 = 11;
/// Space around the plot and for the axes' tick labels and descriptions.
pub const MARGIN: u32 = 10;
pub const X_LABEL_AREA: u32 = 40;
pub const Y_LABEL_AREA: u32 = 60;
/// Marker radius of scatter points, in pixels.
pub const POINT_RADIUS: u32 = 2;

pub fn title_style() -> TextStyle<'static> {
    (FONT, TITLE_SIZE).into_font().color(&BLACK)
}

pub fn label_style() -> TextStyle<'static> {
    (FONT, LABEL_SIZE).into_font().color(&INK)
}

pub fn note_style() -> TextStyle<'static> {
    (FONT, NOTE_SIZE).into_font().color(&INK)
}

/// A series line.
pub fn line(colour: RGBColor) -> ShapeStyle {
    colour.stroke_width(2)
}

/// A filled marker.
pub fn filled(colour: RGBColor) -> ShapeStyle {
    colour.filled()
}
