// Tokenmeter's patch of plotters 0.3.7 (see vendor/README.md): text is measured with an OffscreenCanvas's
// `measureText`, which exists in a window and in a Web Worker alike, instead of a <span> appended to the
// document. So figures can be drawn in a worker, and the page's style policy needs no exception for the span's
// style attribute. Without an OffscreenCanvas, fixed metrics of a sans-serif font are used.
use super::{FontData, FontFamily, FontStyle, LayoutBox};
use wasm_bindgen::JsCast;
use web_sys::{OffscreenCanvas, OffscreenCanvasRenderingContext2d};

#[derive(Debug, Clone)]
pub enum FontError {
    UnknownError,
}

impl std::fmt::Display for FontError {
    fn fmt(&self, fmt: &mut std::fmt::Formatter) -> Result<(), std::fmt::Error> {
        match self {
            _ => write!(fmt, "Unknown error"),
        }
    }
}

impl std::error::Error for FontError {}

#[derive(Clone)]
pub struct FontDataInternal(String, String);

thread_local! {
    /// One 2D context for every measurement (making a canvas per label would be slow).
    static MEASURE: Option<OffscreenCanvasRenderingContext2d> = OffscreenCanvas::new(1, 1)
        .ok()
        .and_then(|canvas| canvas.get_context("2d").ok().flatten())
        .and_then(|context| context.dyn_into::<OffscreenCanvasRenderingContext2d>().ok());
}

impl FontData for FontDataInternal {
    type ErrorType = FontError;
    fn new(family: FontFamily, style: FontStyle) -> Result<Self, FontError> {
        Ok(FontDataInternal(
            family.as_str().into(),
            style.as_str().into(),
        ))
    }
    fn estimate_layout(&self, size: f64, text: &str) -> Result<LayoutBox, Self::ErrorType> {
        let measured = MEASURE.with(|context| {
            let context = context.as_ref()?;
            context.set_font(&format!("{} {}px {}", self.1, size, self.0));
            let metrics = context.measure_text(text).ok()?;
            let height = metrics.font_bounding_box_ascent() + metrics.font_bounding_box_descent();
            Some((metrics.width(), if height > 0.0 { height } else { size * 1.15 }))
        });
        // A sans-serif font's average advance and line height, when nothing can measure.
        let (width, height) = measured.unwrap_or((size * 0.55 * text.chars().count() as f64, size * 1.15));
        Ok(((0, 0), (width.ceil() as i32, height.ceil() as i32)))
    }
}
