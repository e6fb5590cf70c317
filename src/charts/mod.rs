//! Charts drawn with plotters on any `DrawingBackend`: natively to an SVG string (tested), in the page as inline
//! SVG. Inputs are `stats.json` maps, so finished, imported and LLMeter runs chart alike.
//!
//! Must not import `protocol`, `engine`, `browser` or `ui`, nor touch the DOM.

pub mod comparison;
