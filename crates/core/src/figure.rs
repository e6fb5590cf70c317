//! [`Figure`]: one drawn figure as plain data. The charts crate draws it; the figures worker sends it to the page,
//! which shows and downloads it. Here, not in the charts crate, so the worker's messages can carry figures without
//! the engine's layer knowing how they are drawn.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// One drawn figure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figure {
    /// Stable name, used as the element id in the page and the file stem of a download (`ttft-histogram`).
    pub id: Cow<'static, str>,
    pub title: String,
    /// A complete SVG document.
    pub svg: String,
}

impl Figure {
    pub fn new(id: &'static str, title: String, svg: String) -> Figure {
        Figure {
            id: Cow::Borrowed(id),
            title,
            svg,
        }
    }
}
