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

/// Where a layer's sources live: the pure layers and the command are crates under `crates/`; the page's
/// `browser` and `ui` are modules of the root crate.
fn layer_dir(layer: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    match layer {
        "browser" | "ui" => root.join("src").join(layer),
        _ => root.join("crates").join(layer).join("src"),
    }
}

const LAYERS: [&str; 7] = ["core", "protocol", "engine", "charts", "cli", "browser", "ui"];

fn src(layer: &str) -> Vec<(PathBuf, String)> {
    rust_files(&layer_dir(layer))
        .into_iter()
        .map(|p| (p.clone(), fs::read_to_string(&p).unwrap()))
        .collect()
}

/// Every Rust source of the page and of every layer crate.
fn all_sources() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = rust_files(&root.join("src"));
    for layer in LAYERS {
        if !matches!(layer, "browser" | "ui") {
            files.extend(rust_files(&layer_dir(layer)));
        }
    }
    files
        .into_iter()
        .map(|p| (p.clone(), fs::read_to_string(&p).unwrap()))
        .collect()
}

/// The `tokenmeter-*` crates a manifest's `[dependencies]` tables name (every target's).
fn layer_dependencies(manifest: &Path) -> Vec<String> {
    let text = fs::read_to_string(manifest).unwrap();
    let mut in_deps = false;
    let mut names = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line.ends_with("dependencies]") && !line.contains("dev-dependencies");
            continue;
        }
        if in_deps && line.starts_with("tokenmeter-") {
            let name = line.split(['=', '.', ' ']).next().unwrap();
            names.push(name.to_owned());
        }
    }
    names
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
    for (path, text) in all_sources() {
        assert!(
            text.starts_with("//!"),
            "{} must start with a //! doc saying what it owns",
            path.display()
        );
    }
}

/// Which layer may name which is now the compiler's to enforce (a crate cannot name what its manifest does not
/// list); this checks the manifests say what ARCHITECTURE.md says.
#[test]
fn layer_crates_depend_one_way() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let allowed: [(&str, &[&str]); 5] = [
        ("core", &[]),
        ("protocol", &["tokenmeter-core"]),
        ("engine", &["tokenmeter-core", "tokenmeter-protocol"]),
        ("charts", &["tokenmeter-core"]),
        (
            "cli",
            &[
                "tokenmeter-core",
                "tokenmeter-protocol",
                "tokenmeter-engine",
                "tokenmeter-charts",
            ],
        ),
    ];
    for (layer, may) in allowed {
        let manifest = root.join("crates").join(layer).join("Cargo.toml");
        for name in layer_dependencies(&manifest) {
            assert!(
                may.contains(&name.as_str()),
                "crates/{layer} must not depend on {name} (ARCHITECTURE.md: layers point one way)"
            );
        }
    }
}

/// `browser` and `ui` share the page crate, so this one arrow is still checked on text. (The browser layer may
/// run the charts layer, as it runs the engine: its figures worker draws a stored run's figures.)
#[test]
fn the_browser_layer_names_no_ui() {
    for (path, text) in src("browser") {
        assert!(
            !code(&text).contains("crate::ui"),
            "{} (browser) must not use crate::ui",
            path.display()
        );
    }
}

/// The command's native crates (tokio, hyper, chromiumoxide) stay out of the page's wasm graph: the root names
/// `tokenmeter-cli` only under the native target's table.
#[test]
fn the_command_is_never_in_the_wasm_graph() {
    let text = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let mut table = "";
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            table = line;
        } else if line.starts_with("tokenmeter-cli") && !table.starts_with("[workspace") {
            assert_eq!(
                table, "[target.'cfg(not(target_arch = \"wasm32\"))'.dependencies]",
                "tokenmeter-cli may only be a native dependency of the page crate"
            );
        }
    }
}

/// Pure layers use no web crate and read no clock; `core` is not async.
#[test]
fn pure_layers_name_no_web_crate() {
    const WEB: [&str; 7] = [
        "web_sys",
        "js_sys",
        "wasm_bindgen",
        "leptos",
        "gloo",
        "Instant::now",
        "SystemTime::now",
    ];
    for layer in ["core", "protocol", "engine", "charts"] {
        for (path, text) in src(layer) {
            let code = code(&text);
            for name in WEB {
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

/// In the page crate, `use crate::{ui::…}` would hide a layer's name from the text check above: each `use`
/// names its path. (The layer crates need no such rule: their imports are checked by the compiler.)
#[test]
fn imports_are_not_grouped_across_the_crate() {
    for (path, text) in src("browser").into_iter().chain(src("ui")) {
        assert!(
            !code(&text).contains("use crate::{"),
            "{}: write one `use crate::layer::…` per path, so the layer rules can see it",
            path.display()
        );
    }
}

/// A `super::` chain longer than a file's depth inside its layer climbs out of the page's layer module, around the
/// rules (the other layers are crates: `super::` cannot leave them).
#[test]
fn super_paths_stay_inside_their_layer() {
    for layer in ["browser", "ui"] {
        for (path, text) in src(layer) {
            let inner = path.strip_prefix(layer_dir(layer)).unwrap();
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

/// Wall-clock and monotonic time are read only by the shells' clock adapters (`browser/`, and the command's
/// `native/`); everything else gets time as an argument.
#[test]
fn only_the_clock_adapters_read_a_clock() {
    for layer in ["core", "protocol", "engine", "charts", "ui", "cli"] {
        for (path, text) in src(layer) {
            if layer == "cli" && path.components().any(|c| c.as_os_str() == "native") {
                continue;
            }
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
