//! Tidy: the layer rules of ARCHITECTURE.md, checked on the source text. Every source file opens with a `//!`
//! doc; pure layers name no other layer above them, no web or UI crate, and read no clock.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

fn src(layer: &str) -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(layer);
    rust_files(&dir)
        .into_iter()
        .map(|p| (p.clone(), fs::read_to_string(&p).unwrap()))
        .collect()
}

/// The code of a file without its comments (so docs may name what a layer must not use).
fn code(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    for (path, text) in src("") {
        assert!(
            text.starts_with("//!"),
            "{} must start with a //! doc saying what it owns",
            path.display()
        );
    }
}

#[test]
fn layers_point_one_way() {
    const WEB: [&str; 7] = [
        "web_sys",
        "js_sys",
        "wasm_bindgen",
        "leptos",
        "gloo",
        "Instant::now",
        "SystemTime::now",
    ];
    let rules: [(&str, &[&str]); 4] = [
        (
            "core",
            &[
                "crate::protocol",
                "crate::engine",
                "crate::charts",
                "crate::browser",
                "crate::ui",
            ],
        ),
        (
            "protocol",
            &[
                "crate::core",
                "crate::engine",
                "crate::charts",
                "crate::browser",
                "crate::ui",
            ],
        ),
        ("engine", &["crate::charts", "crate::browser", "crate::ui"]),
        (
            "charts",
            &["crate::protocol", "crate::engine", "crate::browser", "crate::ui"],
        ),
    ];
    for (layer, forbidden) in rules {
        for (path, text) in src(layer) {
            let code = code(&text);
            for name in forbidden.iter().chain(WEB.iter()) {
                assert!(
                    !code.contains(name),
                    "{} ({layer}) must not use {name}",
                    path.display()
                );
            }
        }
    }
    for (path, text) in src("core") {
        assert!(
            !code(&text).contains("futures"),
            "{}: core is not async",
            path.display()
        );
    }
}
