//! Writing a run's files out of the page without ever holding them whole: a stored run's `responses.jsonl` goes
//! from the record store into a `Blob` batch by batch (the texts stay JavaScript strings, never copied into the
//! page's memory), and a `.zip` is deflated batch by batch (`core::format::ZipStream`) with its bytes handed to the
//! Blob as they come. Every read from the store is an await, so the page's thread is never held for long.

use wasm_bindgen::prelude::*;
use web_sys::{Blob, BlobPropertyBag};

use crate::browser::store::{RunStore, StoredBatch};
use crate::core::format::{RunFile, ZipStream};
use crate::core::saved::FileSource;

/// Stored batches a plain file's read takes at once (no work per batch but a handover: the read's strings are
/// cloned out of IndexedDB and encoded into the Blob on the page's thread, about 10 ms a batch on a busy 2-core
/// machine, where four at once were seen at 52 ms).
const TEXT_BATCHES_PER_READ: u32 = 2;
/// Stored batches a `.zip`'s read takes at once: each is deflated before the next await.
const ZIP_BATCHES_PER_READ: u32 = 1;

/// A Blob grown part by part: parts are folded into it after every read, so the strings they came from can go.
struct GrowingBlob {
    blob: Option<Blob>,
    mime: String,
}

impl GrowingBlob {
    fn new(mime: &str) -> GrowingBlob {
        GrowingBlob {
            blob: None,
            mime: mime.to_owned(),
        }
    }

    fn append(&mut self, parts: js_sys::Array) -> Result<(), String> {
        if let Some(blob) = self.blob.take() {
            parts.unshift(&blob);
        }
        let options = BlobPropertyBag::new();
        options.set_type(&self.mime);
        self.blob = Some(
            Blob::new_with_blob_sequence_and_options(&parts, &options)
                .map_err(|e| format!("the browser could not make the file: {e:?}"))?,
        );
        Ok(())
    }

    fn finish(mut self) -> Result<Blob, String> {
        match self.blob.take() {
            Some(blob) => Ok(blob),
            None => {
                self.append(js_sys::Array::new())?;
                self.blob.ok_or_else(|| "no file was made".into())
            }
        }
    }
}

fn text_of(batch: &StoredBatch, file: RunFile) -> &js_sys::JsString {
    match file {
        RunFile::TokenmeterResponses => &batch.extras,
        _ => &batch.responses,
    }
}

fn no_store() -> String {
    "the browser's storage is not available, so the run's records cannot be read".into()
}

/// One file of a run as a Blob of type `mime`.
pub async fn file_blob(store: Option<&RunStore>, source: FileSource<'_>, mime: &str) -> Result<Blob, String> {
    let mut blob = GrowingBlob::new(mime);
    match source {
        FileSource::Text(text) => blob.append(js_sys::Array::of1(&JsValue::from_str(text)))?,
        FileSource::Stored { key, file } => {
            let store = store.ok_or_else(no_store)?;
            store
                .each_read(key, TEXT_BATCHES_PER_READ, |batches| {
                    blob.append(batches.iter().map(|b| JsValue::from(text_of(b, file))).collect())
                })
                .await?;
        }
    }
    blob.finish()
}

/// A `.zip` of `plan` (each path and where its text is) as a Blob.
pub async fn zip_blob(store: Option<&RunStore>, plan: Vec<(String, FileSource<'_>)>) -> Result<Blob, String> {
    let mut zip = ZipStream::default();
    let mut blob = GrowingBlob::new("application/zip");
    let bytes_part = |bytes: Vec<u8>| js_sys::Array::of1(&js_sys::Uint8Array::from(bytes.as_slice()));
    for (path, source) in plan {
        zip.start_file(&path).map_err(|e| e.to_string())?;
        match source {
            FileSource::Text(text) => zip.write(text).map_err(|e| e.to_string())?,
            FileSource::Stored { key, file } => {
                let store = store.ok_or_else(no_store)?;
                store
                    .each_read(key, ZIP_BATCHES_PER_READ, |batches| {
                        for batch in batches {
                            zip.write(&String::from(text_of(batch, file)))
                                .map_err(|e| e.to_string())?;
                        }
                        blob.append(bytes_part(zip.take()))
                    })
                    .await?;
            }
        }
        blob.append(bytes_part(zip.take()))?;
    }
    blob.append(bytes_part(zip.finish().map_err(|e| e.to_string())?))?;
    blob.finish()
}
