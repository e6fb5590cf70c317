#!/usr/bin/env python3
"""Trunk post-build hook: copies the BPE ranks files the engine's worker counts tokens with (o200k_base,
cl100k_base) from the tiktoken-rs crate in Cargo's registry into the build's tokenizers/ folder, so the page serves
them beside itself and the worker fetches one only when a run names that tokenizer (no module carries them).
The crate is the one Cargo.lock pins, found with `cargo metadata`; nothing is downloaded."""
import json
import os
import shutil
import subprocess
import sys

staging = os.environ.get("TRUNK_STAGING_DIR")
if not staging:
    sys.exit("tokenizer_ranks.py runs as a Trunk hook (TRUNK_STAGING_DIR is not set)")
meta = json.loads(subprocess.run(
    ["cargo", "metadata", "--format-version", "1", "--locked", "--offline"],
    check=True, capture_output=True, text=True).stdout)
crate = next((p for p in meta["packages"] if p["name"] == "tiktoken-rs"), None)
if crate is None:
    sys.exit("tiktoken-rs is not in the dependency graph")
assets = os.path.join(os.path.dirname(crate["manifest_path"]), "assets")
target = os.path.join(staging, "tokenizers")
os.makedirs(target, exist_ok=True)
for name in ("o200k_base", "cl100k_base"):
    shutil.copyfile(os.path.join(assets, f"{name}.tiktoken"), os.path.join(target, f"{name}.tiktoken"))
