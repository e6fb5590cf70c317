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

/// `text` as a Blob (the browser keeps its bytes, apart from the page's memory).
pub fn text_blob(text: &str) -> Result<Blob, String> {
    Blob::new_with_str_sequence(&js_sys::Array::of1(&JsValue::from_str(text)))
        .map_err(|e| format!("could not hold the text: {e:?}"))
}

/// A file (or any blob) read a slice at a time and handed out a few lines at a time, so a picked
/// `responses.jsonl` of any size is never whole in the page's memory. Slices are cut at a line's end, so a
/// character is never split.
pub struct BlobLines {
    blob: Blob,
    name: String,
    /// Bytes read so far.
    offset: f64,
    /// Bytes read after the last whole line.
    carry: Vec<u8>,
    /// Whole lines read and not yet handed out, from `from`.
    ready: String,
    from: usize,
    ended: bool,
}

/// Bytes one read of a [`BlobLines`] takes.
const SLICE_BYTES: f64 = 4.0 * 1024.0 * 1024.0;

impl BlobLines {
    /// `name` names the file in errors.
    pub fn new(blob: Blob, name: &str) -> BlobLines {
        BlobLines {
            blob,
            name: name.to_owned(),
            offset: 0.0,
            carry: Vec::new(),
            ready: String::new(),
            from: 0,
            ended: false,
        }
    }

    /// The next `objects` lines that are not blank, with any blank lines among them (each line with its newline,
    /// the file's last maybe without); `None` at the end of the file.
    pub async fn next(&mut self, objects: usize) -> Result<Option<String>, String> {
        loop {
            if let Some(end) = end_after(&self.ready[self.from..], objects) {
                let part = self.ready[self.from..self.from + end].to_owned();
                self.from += end;
                return Ok(Some(part));
            }
            if self.ended {
                let rest = &self.ready[self.from..];
                let part = (!rest.is_empty()).then(|| rest.to_owned());
                self.from = self.ready.len();
                return Ok(part);
            }
            self.read_slice().await?;
        }
    }

    /// Reads the next slice into whole lines (and the carry), or marks the end.
    async fn read_slice(&mut self) -> Result<(), String> {
        let describe = |e: JsValue| format!("could not read {}: {e:?}", self.name);
        let size = self.blob.size();
        let bytes = if self.offset >= size {
            Vec::new()
        } else {
            let end = (self.offset + SLICE_BYTES).min(size);
            let slice = self
                .blob
                .slice_with_f64_and_f64(self.offset, end)
                .map_err(describe)?;
            let buffer = JsFuture::from(slice.array_buffer()).await.map_err(describe)?;
            self.offset = end;
            js_sys::Uint8Array::new(&buffer).to_vec()
        };
        // Lines handed out go; what is left moves to the front.
        self.ready.drain(..self.from);
        self.from = 0;
        if bytes.is_empty() {
            self.ended = true;
            let rest = std::mem::take(&mut self.carry);
            self.ready.push_str(&self.text(rest)?);
            return Ok(());
        }
        self.carry.extend_from_slice(&bytes);
        if let Some(last) = self.carry.iter().rposition(|&b| b == b'\n') {
            let rest = self.carry.split_off(last + 1);
            let whole = std::mem::replace(&mut self.carry, rest);
            self.ready.push_str(&self.text(whole)?);
        }
        Ok(())
    }

    fn text(&self, bytes: Vec<u8>) -> Result<String, String> {
        String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", self.name))
    }
}

/// Where the `objects`-th line that is not blank ends in `text` (after its newline), if `text` holds that many
/// whole lines.
fn end_after(text: &str, objects: usize) -> Option<usize> {
    let mut seen = 0;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if !line.ends_with('\n') {
            return None;
        }
        at += line.len();
        if !line.trim().is_empty() {
            seen += 1;
            if seen == objects {
                return Some(at);
            }
        }
    }
    None
}
