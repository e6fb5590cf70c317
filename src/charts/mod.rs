//! Charts drawn with plotters on any `DrawingBackend` (SVG string natively, canvas in the browser).
//!
//! Must not import `protocol`, `engine`, `browser` or `ui`, nor touch the DOM.
