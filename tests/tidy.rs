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
    let rules: [(&str, &[&str]); 5] = [
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
        ("browser", &["crate::charts", "crate::ui"]),
        (
            "charts",
            &["crate::protocol", "crate::engine", "crate::browser", "crate::ui"],
        ),
    ];
    for (layer, forbidden) in rules {
        for (path, text) in src(layer) {
            let code = code(&text);
            // `browser` is the one layer that talks to the web platform.
            let web: &[&str] = if layer == "browser" { &[] } else { &WEB };
            for name in forbidden.iter().chain(web.iter()) {
                assert!(
                    !code.contains(name),
                    "{} ({layer}) must not use {name}",
                    path.display()
                );
            }
        }
    }
    for (path, text) in src("core") {
        let code = code(&text);
        for name in ["futures", "async ", ".await", "Future"] {
            assert!(
                !code.contains(name),
                "{}: core is not async ({name})",
                path.display()
            );
        }
    }
}

/// `use crate::{engine::…}` would hide a layer's name from the checks above: each `use` names its path.
#[test]
fn imports_are_not_grouped_across_the_crate() {
    for (path, text) in src("") {
        assert!(
            !code(&text).contains("use crate::{"),
            "{}: write one `use crate::layer::…` per path, so the layer rules can see it",
            path.display()
        );
    }
}

/// A `super::` chain longer than a file's depth inside its layer climbs out of the layer, around the rules.
#[test]
fn super_paths_stay_inside_their_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for layer in ["core", "protocol", "engine", "charts", "browser", "ui"] {
        for (path, text) in src(layer) {
            let inner = path.strip_prefix(root.join(layer)).unwrap();
            let mut depth = inner.components().count();
            if inner.file_name().is_some_and(|n| n == "mod.rs") {
                depth -= 1;
            }
            let escape = "super::".repeat(depth + 1);
            assert!(
                !code(&text).contains(&escape),
                "{} climbs out of {layer} with `{escape}`",
                path.display()
            );
        }
    }
}

/// Wall-clock and monotonic time are read only in `browser/`; everything else gets time as an argument.
#[test]
fn only_the_browser_layer_reads_a_clock() {
    for layer in ["core", "protocol", "engine", "charts", "ui"] {
        for (path, text) in src(layer) {
            let code = code(&text);
            for clock in [
                "Utc::now",
                "Local::now",
                "SystemTime::now",
                "Instant::now",
                "Date::now",
                "performance",
            ] {
                assert!(
                    !code.contains(clock),
                    "{} reads the clock ({clock})",
                    path.display()
                );
            }
        }
    }
}
