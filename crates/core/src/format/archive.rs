//! Zip archives of run folders and LoadTest sweeps, and the grouping of a bag of files (a zip's entries, or the
//! files of a browser directory picker with their `webkitRelativePath`) into run folders.
//!
//! Layouts, as LLMeter writes and reads them (llmeter-reference.md §6.1):
//! * one run: `{run_name}/{file}` ([`run_entries`]);
//! * a LoadTest: `{test_name}/{clients:05}-clients/{file}` ([`load_test_entries`]), one run folder per level,
//!   which LLMeter's `LoadTestResult.load(path/to/{test_name})` reads back (it loads every sub-directory with
//!   `Result.load` and keys the results by each run's `clients`).
//!
//! Reading is bounded ([`ZipLimits`]): an archive that would unpack to more than the page can hold, or a zip bomb,
//! is refused with an [`ArchiveError`] before it is inflated, and again while it is (a header may lie). Every
//! other problem (not a zip, cut short, damaged, encrypted, an unsafe path, a JSON file that is not UTF-8) is an
//! [`ArchiveError`] whose message says what was wrong and what to do.
//!
//! Pure: bytes and texts in, bytes and texts out, for the page and for native tools alike.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::io::{Cursor, Read, Write};
use std::rc::Rc;

use serde_json::{Map, Value};
use zip::result::ZipError;
use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use crate::format::json::{parse_json, to_pretty};
use crate::format::run_folder::{load_labelled, stats_config_for, text_from_bytes, Files, LoadedRun};
use crate::format::stats_file::{read_stats, write_stats};
use crate::format::{FormatError, RunFile, FORMAT_VERSION, FORMAT_VERSION_KEY};
use crate::stats::PercentileMethod;

/// The largest file [`read_zip`] inflates: 512 MiB (a `responses.jsonl` of some 500,000 requests).
pub const MAX_ENTRY_BYTES: u64 = 512 << 20;
/// The most [`read_zip`] inflates in all: 1 GiB. The texts are then parsed into records, and a wasm32 page has
/// 4 GiB of memory at most, so an archive larger than this could not be loaded anyway.
pub const MAX_TOTAL_BYTES: u64 = 1 << 30;
/// The most entries [`read_zip`] accepts: 100,000 (a LoadTest of 10,000 levels with every file).
pub const MAX_ENTRIES: usize = 100_000;

/// The bounds of [`read_zip_with`]; [`read_zip`] uses the defaults ([`MAX_ENTRY_BYTES`], [`MAX_TOTAL_BYTES`],
/// [`MAX_ENTRIES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipLimits {
    /// The most bytes one file may unpack to.
    pub max_entry_bytes: u64,
    /// The most bytes all files may unpack to.
    pub max_total_bytes: u64,
    /// The most entries (files, folders, skipped ones included) the archive may list.
    pub max_entries: usize,
}

impl Default for ZipLimits {
    fn default() -> Self {
        ZipLimits {
            max_entry_bytes: MAX_ENTRY_BYTES,
            max_total_bytes: MAX_TOTAL_BYTES,
            max_entries: MAX_ENTRIES,
        }
    }
}

/// Why an archive could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    /// The bytes are not a zip archive at all (empty, or another kind of file).
    #[error("not a zip archive ({reason}): choose a .zip file of run folders")]
    NotAZip { reason: String },
    /// The bytes begin like a zip archive but its end (the central directory) is missing.
    #[error(
        "the zip archive is incomplete: it begins like a zip but its end (the central directory) is missing; \
         was the download or copy cut short? Download or copy it again"
    )]
    Truncated,
    /// The archive, or one entry of it, is damaged (bad headers, a checksum mismatch, broken compressed data).
    #[error("the zip archive is damaged{}: {reason}; make the zip again from the run folders", in_entry(.path))]
    Corrupt { path: Option<String>, reason: String },
    /// An entry is encrypted or compressed with something other than deflate.
    #[error("{path}: {reason}, which Tokenmeter cannot read; make the zip again with ordinary (deflate) compression and no password")]
    Unsupported { path: String, reason: String },
    /// The archive lists more entries than [`ZipLimits::max_entries`].
    #[error("the zip archive lists {count} entries, more than the {limit} Tokenmeter reads")]
    TooManyEntries { count: usize, limit: usize },
    /// One file would unpack to more than [`ZipLimits::max_entry_bytes`] (a zip bomb, or a run too large).
    #[error(
        "{path}: unpacks to more than {} (the most Tokenmeter reads for one file); a zip bomb, or a run too \
         large to load in a page",
        bytes(*.limit)
    )]
    EntryTooLarge { path: String, limit: u64 },
    /// All files together would unpack to more than [`ZipLimits::max_total_bytes`].
    #[error(
        "the zip archive unpacks to more than {} in all (the most Tokenmeter reads; stopped at {path}); a zip \
         bomb, or runs too large to load in a page",
        bytes(*.limit)
    )]
    TotalTooLarge { path: String, limit: u64 },
    /// A `.json` or `.jsonl` entry is not UTF-8 text (JSON must be).
    #[error("{path}: not UTF-8 text (invalid byte at offset {offset}); JSON files must be UTF-8")]
    NotText { path: String, offset: usize },
    /// A path that is absolute, climbs out with `..`, is empty, or holds a control character.
    #[error("unsafe path {path:?} in a zip archive: {reason}")]
    UnsafePath { path: String, reason: &'static str },
    /// Two entries have the same path.
    #[error("{path} appears twice in the zip archive")]
    Duplicate { path: String },
    /// Writing failed (a file too large for the zip format's sizes, or the zip writer's own error).
    #[error("could not write the zip archive: {reason}")]
    Write { reason: String },
}

fn in_entry(path: &Option<String>) -> String {
    path.as_ref().map(|p| format!(" at {p}")).unwrap_or_default()
}

/// A byte count as people read it: whole MiB or GiB when it is one, else bytes.
fn bytes(count: u64) -> String {
    const MIB: u64 = 1 << 20;
    match count {
        c if c >= 1 << 30 && c % (1 << 30) == 0 => format!("{} GiB", c >> 30),
        c if c >= MIB && c % MIB == 0 => format!("{} MiB", c >> 20),
        c => format!("{c} bytes"),
    }
}

/// A zip archive (deflate) of `(path inside the zip, text)` entries, in the order given, every file dated
/// 1980-01-01 00:00 (the zip format's epoch: the same entries always give the same bytes). Paths use `/`; each
/// must be relative, without `..` or control characters ([`ArchiveError::UnsafePath`]), and appear once.
pub fn write_zip<P: AsRef<str>, T: AsRef<str>>(entries: &[(P, T)]) -> Result<Vec<u8>, ArchiveError> {
    write_zip_dated(entries, DateTime::default())
}

/// [`write_zip`] with every file dated `modified` (local time, as zip stores it); a date outside the zip
/// format's 1980–2107 range gives 1980-01-01 00:00.
pub fn write_zip_at<P: AsRef<str>, T: AsRef<str>>(
    entries: &[(P, T)],
    modified: chrono::NaiveDateTime,
) -> Result<Vec<u8>, ArchiveError> {
    use chrono::{Datelike, Timelike};
    let dated = u16::try_from(modified.year())
        .ok()
        .and_then(|year| {
            DateTime::from_date_and_time(
                year,
                modified.month() as u8,
                modified.day() as u8,
                modified.hour() as u8,
                modified.minute() as u8,
                modified.second() as u8,
            )
            .ok()
        })
        .unwrap_or_default();
    write_zip_dated(entries, dated)
}

fn write_zip_dated<P: AsRef<str>, T: AsRef<str>>(
    entries: &[(P, T)],
    modified: DateTime,
) -> Result<Vec<u8>, ArchiveError> {
    let mut zip = ZipStream::dated(modified);
    for (path, text) in entries {
        zip.start_file(path.as_ref())?;
        zip.write(text.as_ref())?;
    }
    zip.finish()
}

/// Where a [`ZipStream`] writes: bytes wait here until the caller takes them.
#[derive(Clone, Default)]
struct Drain(Rc<RefCell<Vec<u8>>>);

impl Write for Drain {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A zip archive written piece by piece, never whole in memory: the caller writes a file's text in parts (a
/// `responses.jsonl` batch by batch from the browser's record store) and takes the compressed bytes as they come
/// (into a Blob). Entries end with data descriptors, as any streamed zip does (LLMeter's `zipfile` and every
/// unzip read them); a file must stay under 4 GiB.
pub struct ZipStream {
    zip: ZipWriter<StreamWriter<Drain>>,
    out: Drain,
    seen: HashSet<String>,
    modified: DateTime,
}

impl Default for ZipStream {
    fn default() -> Self {
        ZipStream::dated(DateTime::default())
    }
}

impl ZipStream {
    /// An empty archive whose files are dated `modified`.
    fn dated(modified: DateTime) -> ZipStream {
        let out = Drain::default();
        ZipStream {
            zip: ZipWriter::new_stream(out.clone()),
            out,
            seen: HashSet::new(),
            modified,
        }
    }

    /// Starts the file at `path` (checked as [`write_zip`] checks it: safe, and not twice).
    pub fn start_file(&mut self, path: &str) -> Result<(), ArchiveError> {
        let normal = normalize_path(path).map_err(|reason| ArchiveError::UnsafePath {
            path: path.to_owned(),
            reason,
        })?;
        if !self.seen.insert(normal.clone()) {
            return Err(ArchiveError::Duplicate { path: normal });
        }
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .last_modified_time(self.modified)
            .unix_permissions(0o644);
        self.zip.start_file(normal.as_str(), options).map_err(write_error)
    }

    /// Appends `text` to the file started last.
    pub fn write(&mut self, text: &str) -> Result<(), ArchiveError> {
        self.zip
            .write_all(text.as_bytes())
            .map_err(|e| write_error(ZipError::Io(e)))
    }

    /// The archive's bytes written since the last take.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut *self.out.0.borrow_mut())
    }

    /// Ends the archive: the bytes not taken yet, its central directory last.
    pub fn finish(self) -> Result<Vec<u8>, ArchiveError> {
        self.zip.finish().map_err(write_error)?;
        Ok(std::mem::take(&mut *self.out.0.borrow_mut()))
    }
}

fn write_error(e: ZipError) -> ArchiveError {
    ArchiveError::Write {
        reason: e.to_string(),
    }
}

/// The text files of a zip archive as `(path, text)`, in the archive's order, under the default [`ZipLimits`].
/// See [`read_zip_with`].
pub fn read_zip(bytes: &[u8]) -> Result<Vec<(String, String)>, ArchiveError> {
    read_zip_with(bytes, ZipLimits::default())
}

/// The text files of a zip archive as `(path, text)`, in the archive's order. Paths use `/`, without empty or
/// `.` components (`a\b` and `./a//b` read as `a/b`).
///
/// Skipped: folders, macOS's `__MACOSX/` copies and `._*` / `.DS_Store` files, and files that are not UTF-8 text
/// unless they are `.json` or `.jsonl` ([`ArchiveError::NotText`]: run data must be text). A multi-byte
/// character cut off at the very end of a file is dropped, as for a run folder on disk (an interrupted write).
/// Sizes are checked against `limits` from the headers before anything is inflated, then while inflating.
pub fn read_zip_with(bytes: &[u8], limits: ZipLimits) -> Result<Vec<(String, String)>, ArchiveError> {
    let mut archive = open_archive(bytes)?;
    if archive.len() > limits.max_entries {
        return Err(ArchiveError::TooManyEntries {
            count: archive.len(),
            limit: limits.max_entries,
        });
    }
    let mut total = 0_u64;
    let mut texts = Vec::new();
    let mut seen = HashSet::new();
    for index in 0..archive.len() {
        let (path, declared) = {
            let entry = archive.by_index_data(index).map_err(|e| corrupt(None, e))?;
            let raw = entry.name().map_err(|e| corrupt(None, e))?.into_owned();
            if entry.is_dir() {
                continue;
            }
            let path = normalize_path(&raw).map_err(|reason| ArchiveError::UnsafePath {
                path: raw.clone(),
                reason,
            })?;
            if is_os_litter(&path) {
                continue;
            }
            if entry.encrypted() {
                return Err(ArchiveError::Unsupported {
                    path,
                    reason: "encrypted (password-protected)".into(),
                });
            }
            let method = entry.compression();
            if !matches!(method, CompressionMethod::Stored | CompressionMethod::Deflated) {
                return Err(ArchiveError::Unsupported {
                    path,
                    reason: format!("compressed with {method}"),
                });
            }
            (path, entry.size())
        };
        if !seen.insert(path.clone()) {
            return Err(ArchiveError::Duplicate { path });
        }
        // The headers' sizes first (no inflating at all), then the real count (a header may lie).
        let entry_limit = limits.max_entry_bytes;
        let total_left = limits.max_total_bytes.saturating_sub(total);
        if declared > entry_limit {
            return Err(ArchiveError::EntryTooLarge {
                path,
                limit: entry_limit,
            });
        }
        if declared > total_left {
            return Err(ArchiveError::TotalTooLarge {
                path,
                limit: limits.max_total_bytes,
            });
        }
        let mut file = archive.by_index(index).map_err(|e| open_error(&path, e))?;
        let cap = entry_limit.min(total_left);
        let mut data = Vec::with_capacity(declared.min(1 << 20) as usize);
        (&mut file)
            .take(cap.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| corrupt(Some(&path), ZipError::Io(e)))?;
        let size = data.len() as u64;
        if size > entry_limit {
            return Err(ArchiveError::EntryTooLarge {
                path,
                limit: entry_limit,
            });
        }
        if size > total_left {
            return Err(ArchiveError::TotalTooLarge {
                path,
                limit: limits.max_total_bytes,
            });
        }
        total += size;
        match text_from_bytes(data) {
            Ok(text) => texts.push((path, text)),
            Err(e) if is_json_name(&path) => {
                let offset = e.utf8_error().valid_up_to();
                return Err(ArchiveError::NotText { path, offset });
            }
            Err(_) => {} // An image or another binary file beside the runs: not ours to read.
        }
    }
    Ok(texts)
}

fn open_archive(bytes: &[u8]) -> Result<ZipArchive<Cursor<&[u8]>>, ArchiveError> {
    const LOCAL_HEADER: &[u8] = b"PK\x03\x04";
    const END_OF_DIRECTORY: &[u8] = b"PK\x05\x06";
    if bytes.is_empty() {
        return Err(ArchiveError::NotAZip {
            reason: "the file is empty".into(),
        });
    }
    ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        // The end-of-central-directory record is 22 bytes at least; one cut inside it is no end.
        let has_end = bytes
            .windows(END_OF_DIRECTORY.len())
            .rposition(|w| w == END_OF_DIRECTORY)
            .is_some_and(|at| bytes.len() - at >= 22);
        if bytes.starts_with(LOCAL_HEADER) && !has_end {
            ArchiveError::Truncated
        } else if has_end || bytes.starts_with(LOCAL_HEADER) {
            corrupt(None, e)
        } else {
            ArchiveError::NotAZip {
                reason: "no zip signature in it".into(),
            }
        }
    })
}

fn corrupt(path: Option<&str>, e: ZipError) -> ArchiveError {
    let reason = match e {
        ZipError::InvalidArchive(reason) => reason.into_owned(),
        ZipError::Io(e) => e.to_string(),
        other => other.to_string(),
    };
    ArchiveError::Corrupt {
        path: path.map(str::to_owned),
        reason,
    }
}

fn open_error(path: &str, e: ZipError) -> ArchiveError {
    match e {
        ZipError::UnsupportedArchive(reason) => ArchiveError::Unsupported {
            path: path.to_owned(),
            reason: reason.to_lowercase(),
        },
        ZipError::CompressionMethodNotSupported(method) => ArchiveError::Unsupported {
            path: path.to_owned(),
            reason: format!("compressed with method {method}"),
        },
        other => corrupt(Some(path), other),
    }
}

/// `raw` as a relative `/`-separated path without empty or `.` components, or why it is unsafe.
fn normalize_path(raw: &str) -> Result<String, &'static str> {
    if raw.chars().any(char::is_control) {
        return Err("it holds a control character");
    }
    let raw = raw.replace('\\', "/");
    if raw.starts_with('/') || raw.get(1..3) == Some(":/") {
        return Err("it is absolute");
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("it climbs out with `..`"),
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err("it is empty");
    }
    Ok(parts.join("/"))
}

/// What macOS (and Finder's zips) leave beside files: never run data.
fn is_os_litter(path: &str) -> bool {
    let mut parts = path.split('/');
    let name = path.rsplit('/').next().unwrap_or(path);
    parts.any(|p| p == "__MACOSX") || name.starts_with("._") || name == ".DS_Store"
}

fn is_json_name(path: &str) -> bool {
    path.ends_with(".json") || path.ends_with(".jsonl")
}

/// One run folder: a directory that holds at least one [`RunFile`], with every file directly inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderFiles {
    /// The folder's path, `/`-separated (`""` for files at the top of an archive).
    pub folder: String,
    /// `(file name, text)`, sorted by name; other files than run files (`payload.jsonl`…) are kept.
    pub files: Vec<(String, String)>,
}

impl FolderFiles {
    /// The folder's own name: the last component of its path.
    pub fn name(&self) -> &str {
        self.folder.rsplit('/').next().unwrap_or_default()
    }

    /// The run files among [`FolderFiles::files`], for [`LoadedRun::from_files`].
    pub fn run_files(&self) -> Files<'_> {
        Files::from_named(&self.files)
    }

    /// The text of one file, by name.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, text)| text.as_str())
    }

    /// The run's number of clients as LLMeter's `Result.load` finds it: `clients` of `summary.json`, else of
    /// `run_config.json` (LLMeter's recovery of an interrupted run); then, where LLMeter falls back to its default
    /// of 1, `clients` of `stats.json`, else the folder's `{clients:05}-clients` name.
    pub fn clients(&self) -> Option<u32> {
        [RunFile::Summary, RunFile::RunConfig, RunFile::Stats]
            .into_iter()
            .find_map(|file| {
                let text = self.text(file.file_name())?;
                let value = parse_json(text).ok()?;
                u32::try_from(value.get("clients")?.as_u64()?).ok()
            })
            .or_else(|| clients_of_name(self.name()))
    }
}

/// The client count in a LoadTest level's name, `{clients:05}-clients` (`00010-clients` → 10).
pub fn clients_of_name(name: &str) -> Option<u32> {
    let digits = name.strip_suffix("-clients")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// LLMeter's name of a LoadTest level's run folder: `{clients:05}-clients` (`experiments.py`).
pub fn level_name(clients: u32) -> String {
    format!("{clients:05}-clients")
}

/// Groups `(path, text)` files (a zip's entries, or files picked with a directory picker, by their
/// `webkitRelativePath`) into run folders: the directories that directly hold at least one [`RunFile`]. Each
/// folder keeps all its files; files outside run folders, `__MACOSX/` copies, `._*` and `.DS_Store` files and
/// paths with `..` are dropped. Sorted by folder path, files by name.
pub fn group_run_folders(files: Vec<(String, String)>) -> Vec<FolderFiles> {
    let mut folders: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (path, text) in files {
        let Ok(path) = normalize_path(&path) else {
            continue;
        };
        if is_os_litter(&path) {
            continue;
        }
        let (folder, name) = match path.rsplit_once('/') {
            Some((folder, name)) => (folder.to_owned(), name.to_owned()),
            None => (String::new(), path),
        };
        folders.entry(folder).or_default().push((name, text));
    }
    folders
        .into_iter()
        .filter(|(_, files)| {
            files
                .iter()
                .any(|(name, _)| RunFile::ALL.iter().any(|f| f.file_name() == name))
        })
        .map(|(folder, mut files)| {
            files.sort_by(|a, b| a.0.cmp(&b.0));
            FolderFiles { folder, files }
        })
        .collect()
}

/// Run folders recognised as one LLMeter LoadTest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadTestLayout<'a> {
    /// The LoadTest folder's name (`""` when the levels sit at the top of an archive).
    pub test_name: String,
    /// `(clients, run folder)`, by clients.
    pub levels: Vec<(u32, &'a FolderFiles)>,
}

/// The run folders as one LoadTest, as `LoadTestResult.load` reads its folder: every folder is a child of the
/// same parent, and each has a distinct client count ([`FolderFiles::clients`]: its files first, as LLMeter
/// keys results by `Result.clients`, else its name). So that a lone run is not taken for a sweep, either every
/// folder is named `{clients:05}-clients`, or there are at least two inside a named LoadTest folder. `None`
/// otherwise (two levels with the same client count included: LLMeter would silently keep one).
pub fn as_load_test(folders: &[FolderFiles]) -> Option<LoadTestLayout<'_>> {
    fn parent_of(f: &FolderFiles) -> &str {
        f.folder.rsplit_once('/').map_or("", |(parent, _)| parent)
    }
    let first = folders.first()?;
    let parent = parent_of(first);
    if first.folder.is_empty() || folders.iter().any(|f| parent_of(f) != parent) {
        return None;
    }
    let all_named = folders.iter().all(|f| clients_of_name(f.name()).is_some());
    if !all_named && (folders.len() < 2 || parent.is_empty()) {
        return None;
    }
    let mut levels = folders
        .iter()
        .map(|f| f.clients().map(|clients| (clients, f)))
        .collect::<Option<Vec<_>>>()?;
    levels.sort_by_key(|(clients, _)| *clients);
    if levels.windows(2).any(|w| w[0].0 == w[1].0) {
        return None;
    }
    Some(LoadTestLayout {
        test_name: parent.rsplit('/').next().unwrap_or_default().to_owned(),
        levels,
    })
}

/// `name` made safe as one path component on every system: `/`, `\`, control characters and `:*?"<>|` become
/// `_`, as does a leading `.`; surrounding spaces and trailing dots go; at most 120 characters; never empty.
pub fn path_component(name: &str) -> String {
    let cleaned: String = name
        .trim()
        .chars()
        .map(|c| match c {
            c if c.is_control() => '_',
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c => c,
        })
        .take(120)
        .collect();
    let cleaned = cleaned.trim_end_matches(['.', ' ']);
    let cleaned = match cleaned.strip_prefix('.') {
        Some(rest) => format!("_{rest}"),
        None => cleaned.to_owned(),
    };
    if cleaned.is_empty() {
        "_".to_owned()
    } else {
        cleaned
    }
}

/// Where a run's `file` goes in an archive: `{run_name}/{file}`, names made safe with [`path_component`].
pub fn run_path(run_name: &str, file: &str) -> String {
    format!("{}/{}", path_component(run_name), path_component(file))
}

/// Where a LoadTest level's `file` goes in an archive: `{test_name}/{clients:05}-clients/{file}` (LLMeter's
/// layout, which `LoadTestResult.load` reads), names made safe with [`path_component`].
pub fn level_path(test_name: &str, clients: u32, file: &str) -> String {
    format!(
        "{}/{}/{}",
        path_component(test_name),
        level_name(clients),
        path_component(file)
    )
}

/// The zip entries of one run: each file at its [`run_path`].
pub fn run_entries<'a, F: AsRef<str>, T: AsRef<str>>(
    run_name: &str,
    files: &'a [(F, T)],
) -> Vec<(String, &'a str)> {
    files
        .iter()
        .map(|(name, text)| (run_path(run_name, name.as_ref()), text.as_ref()))
        .collect()
}

/// The zip entries of a LoadTest: each level's files at their [`level_path`]. `levels` are `(clients, files)`,
/// the files as [`crate::format::write_run`] returns them.
pub fn load_test_entries<'a, F: AsRef<str>, T: AsRef<str>>(
    test_name: &str,
    levels: &'a [(u32, Vec<(F, T)>)],
) -> Vec<(String, &'a str)> {
    levels
        .iter()
        .flat_map(|(clients, files)| {
            files
                .iter()
                .map(move |(name, text)| (level_path(test_name, *clients, name.as_ref()), text.as_ref()))
        })
        .collect()
}

/// Loads one run folder as `examples/recompute.rs` does a folder on disk: statistics recomputed under
/// [`stats_config_for`] its saved `stats.json` and `method`. Errors name the folder.
pub fn recompute_folder(
    folder: &FolderFiles,
    method: Option<PercentileMethod>,
) -> Result<LoadedRun, FormatError> {
    let files = folder.run_files();
    let saved = files.stats.and_then(|text| read_stats(text).ok());
    let label = if folder.folder.is_empty() {
        "(top of the archive)"
    } else {
        folder.folder.as_str()
    };
    load_labelled(&files, stats_config_for(saved.as_ref(), method), label, None).map_err(|e| match e {
        e @ FormatError::MissingFile { .. } => e,
        e => FormatError::InFolder {
            folder: label.to_owned(),
            source: Box::new(e),
        },
    })
}

/// Run folders recomputed together ([`recompute_folders`]).
#[derive(Debug, Clone)]
pub enum Recomputed {
    /// One run folder.
    Run(Box<LoadedRun>),
    /// Several run folders: the levels of a LoadTest (`test_name` set, by clients), or the run folders of an
    /// archive or a folder of runs (by path).
    Runs {
        test_name: Option<String>,
        runs: Vec<RecomputedRun>,
    },
}

/// One of several recomputed run folders.
#[derive(Debug, Clone)]
pub struct RecomputedRun {
    /// The folder's path, as grouped by [`group_run_folders`].
    pub folder: String,
    /// [`FolderFiles::clients`].
    pub clients: Option<u32>,
    pub run: LoadedRun,
}

impl Recomputed {
    /// What `examples/recompute.rs` prints: one run's recomputed `stats.json`, or for several one JSON object
    /// keyed by folder path (levels by clients), each value a recomputed `stats.json`; indented by four.
    pub fn stats_text(&self) -> String {
        match self {
            Recomputed::Run(run) => write_stats(&run.stats),
            Recomputed::Runs { runs, .. } => {
                let all: Map<String, Value> = runs
                    .iter()
                    .map(|r| {
                        let mut stats = r.run.stats.clone();
                        stats.insert(FORMAT_VERSION_KEY.to_owned(), FORMAT_VERSION.into());
                        (r.folder.clone(), Value::Object(stats))
                    })
                    .collect();
                to_pretty(&all)
            }
        }
    }

    /// Every warning, prefixed with its folder when there are several.
    pub fn warnings(&self) -> Vec<String> {
        match self {
            Recomputed::Run(run) => run.warnings.iter().map(ToString::to_string).collect(),
            Recomputed::Runs { runs, .. } => runs
                .iter()
                .flat_map(|r| r.run.warnings.iter().map(|w| format!("{}: {w}", r.folder)))
                .collect(),
        }
    }
}

/// Recomputes every run folder ([`recompute_folder`]) of `source` (an archive's or a folder's name, for the
/// error when there is none): a LoadTest ([`as_load_test`]) level by level, a lone run folder as
/// [`Recomputed::Run`], other run folders by path. The first folder that fails to load is the error.
pub fn recompute_folders(
    source: &str,
    folders: &[FolderFiles],
    method: Option<PercentileMethod>,
) -> Result<Recomputed, FormatError> {
    let recompute = |clients, folder: &FolderFiles| {
        recompute_folder(folder, method).map(|run| RecomputedRun {
            folder: folder.folder.clone(),
            clients,
            run,
        })
    };
    if let Some(layout) = as_load_test(folders) {
        let runs = layout
            .levels
            .iter()
            .map(|(clients, folder)| recompute(Some(*clients), folder))
            .collect::<Result<_, _>>()?;
        return Ok(Recomputed::Runs {
            test_name: Some(layout.test_name),
            runs,
        });
    }
    match folders {
        [] => Err(FormatError::NoRunFolder {
            path: source.to_owned(),
        }),
        [only] => recompute_folder(only, method).map(|run| Recomputed::Run(Box::new(run))),
        several => Ok(Recomputed::Runs {
            test_name: None,
            runs: several
                .iter()
                .map(|f| recompute(f.clients(), f))
                .collect::<Result<_, _>>()?,
        }),
    }
}
