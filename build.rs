//! Build identity: a hash of every source file of the page, its worker and the layers they link (and of
//! `Cargo.lock`), as `TOKENMETER_BUILD_ID`. The page and its engine worker each carry it and compare at start, so a
//! page served beside a worker cached from another deploy says "reload" instead of misbehaving.

use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs" || e == "toml") {
            out.push(path);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let mut files = vec![root.join("Cargo.lock"), root.join("Cargo.toml")];
    for dir in [
        "src",
        "crates/core",
        "crates/protocol",
        "crates/engine",
        "crates/charts",
    ] {
        println!("cargo:rerun-if-changed={dir}");
        sources(&root.join(dir), &mut files);
    }
    println!("cargo:rerun-if-changed=Cargo.lock");
    files.sort();
    // SipHash with fixed keys: the same sources give the same identity on every machine.
    let mut hasher = DefaultHasher::new();
    for file in &files {
        hasher.write(
            file.strip_prefix(&root)
                .unwrap_or(file)
                .to_string_lossy()
                .as_bytes(),
        );
        hasher.write(&std::fs::read(file).unwrap_or_default());
    }
    println!("cargo:rustc-env=TOKENMETER_BUILD_ID={:016x}", hasher.finish());
}
