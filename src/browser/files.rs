//! Saving text files from the page (a `Blob` behind a temporary object URL) and reading files the user picked.

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag, HtmlAnchorElement, Url};

/// Offers `contents` as a download named `file_name`.
pub fn download(file_name: &str, contents: &str, mime: &str) -> Result<(), String> {
    download_part(file_name, &JsValue::from_str(contents), mime)
}

/// Offers `bytes` (a `.zip`) as a download named `file_name`.
pub fn download_bytes(file_name: &str, bytes: &[u8], mime: &str) -> Result<(), String> {
    download_part(file_name, &js_sys::Uint8Array::from(bytes), mime)
}

/// Offers a blob already made (a PNG drawn in a canvas) as a download named `file_name`.
pub fn download_blob(file_name: &str, blob: &Blob) -> Result<(), String> {
    save_blob(file_name, blob)
}

fn download_part(file_name: &str, part: &JsValue, mime: &str) -> Result<(), String> {
    let describe = |e: JsValue| format!("could not save {file_name}: {e:?}");
    let parts = js_sys::Array::of1(part);
    let options = BlobPropertyBag::new();
    options.set_type(mime);
    let blob = Blob::new_with_buffer_source_sequence_and_options(&parts, &options).map_err(describe)?;
    save_blob(file_name, &blob)
}

fn save_blob(file_name: &str, blob: &Blob) -> Result<(), String> {
    let describe = |e: JsValue| format!("could not save {file_name}: {e:?}");
    let url = Url::create_object_url_with_blob(blob).map_err(describe)?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let anchor: HtmlAnchorElement = document.create_element("a").map_err(describe)?.unchecked_into();
    anchor.set_href(&url);
    anchor.set_download(file_name);
    anchor.click();
    Url::revoke_object_url(&url).map_err(describe)?;
    Ok(())
}

/// The files picked in the file input that fired `event`; the input is cleared, so picking the same file again
/// fires again.
pub fn take_picked(event: &web_sys::Event) -> Vec<web_sys::File> {
    let Some(input) = event
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
    else {
        return Vec::new();
    };
    let picked = input
        .files()
        .map(|list| (0..list.length()).filter_map(|i| list.get(i)).collect())
        .unwrap_or_default();
    input.set_value("");
    picked
}

/// The bytes of a file the user picked, as base64 (for images sent inside a JSON body).
pub async fn read_base64(file: &web_sys::File) -> Result<String, String> {
    use base64::Engine;
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| format!("could not read {}: {e:?}", file.name()))?;
    let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The text of a file the user picked.
pub async fn read_text(file: &web_sys::File) -> Result<String, String> {
    let text = JsFuture::from(file.text())
        .await
        .map_err(|e| format!("could not read {}: {e:?}", file.name()))?;
    text.as_string()
        .ok_or_else(|| format!("{} is not text", file.name()))
}

/// The bytes of a file the user picked (a `.zip`).
pub async fn read_bytes(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| format!("could not read {}: {e:?}", file.name()))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// Where a picked file sits in the folder the user picked (`webkitRelativePath`), or its bare name.
pub fn picked_path(file: &web_sys::File) -> String {
    js_sys::Reflect::get(file, &JsValue::from_str("webkitRelativePath"))
        .ok()
        .and_then(|p| p.as_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| file.name())
}
