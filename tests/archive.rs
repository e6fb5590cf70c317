//! Archives and sweeps: zip round trips, corrupt and oversized zips, grouping of directory-picker and zip paths
//! into run folders, LoadTest detection, a three-level sweep through a zip, and `recompute_path` on a LoadTest
//! folder, a zip and a run folder on disk.

use std::io::Write;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use tokenmeter::core::format::archive::{clients_of_name, level_name, path_component};
use tokenmeter::core::format::{
    as_load_test, group_run_folders, load_test_entries, read_zip, read_zip_with, recompute_path, run_entries,
    write_run, write_zip, write_zip_at, ArchiveError, EndpointBlock, FolderFiles, FormatError, LoadedRun,
    Recomputed, RunConfigFile, RunFolder, RunToWrite, ZipLimits,
};
use tokenmeter::core::record::RequestRecord;
use tokenmeter::core::stats::{RunInfo, RunningStats, StatsConfig};

use crate::format::streamed;

fn texts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
        .collect()
}

/// A zip built with the `zip` crate directly, for entries `write_zip` will not make (binary, stored, odd names).
fn raw_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        if name.ends_with('/') {
            zip.add_directory(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
        } else {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(data).unwrap();
        }
    }
    zip.finish().unwrap().into_inner()
}

/// A fresh, empty directory under the system's temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tokenmeter-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn zip_round_trip_keeps_paths_texts_and_order() {
    let entries = [
        ("sweep/00001-clients/stats.json", "{\"clients\": 1}\n"),
        ("sweep/00001-clients/responses.jsonl", "{\"id\": \"é ✓ 🚀\"}\n"),
        ("sweep/empty.txt", ""),
        ("a.json", "[]"),
    ];
    let bytes = write_zip(&entries).unwrap();
    assert!(bytes.starts_with(b"PK\x03\x04"));
    let read = read_zip(&bytes).unwrap();
    let expected: Vec<(String, String)> = texts(&entries);
    assert_eq!(read, expected);
    // The same entries give the same bytes (fixed dates), and deflate does compress.
    assert_eq!(write_zip(&entries).unwrap(), bytes);
    let big = "{\"time_to_first_token\": 0.123456}\n".repeat(10_000);
    let zipped = write_zip(&[("r/responses.jsonl", big.as_str())]).unwrap();
    assert!(zipped.len() < big.len() / 20, "{} bytes", zipped.len());
    assert_eq!(read_zip(&zipped).unwrap()[0].1, big);
    // A dated archive reads back the same.
    let noon = chrono::NaiveDate::from_ymd_opt(2026, 5, 4)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap();
    assert_eq!(
        read_zip(&write_zip_at(&entries, noon).unwrap()).unwrap(),
        expected
    );
}

#[test]
fn write_zip_refuses_unsafe_and_duplicate_paths() {
    for path in [
        "../x.json",
        "/etc/x.json",
        "a/../../x",
        "",
        "a/\u{0}b",
        "C:\\x.json",
    ] {
        let error = write_zip(&[(path, "x")]).unwrap_err();
        assert!(
            matches!(error, ArchiveError::UnsafePath { .. }),
            "{path:?}: {error}"
        );
        assert!(error.to_string().starts_with("unsafe path"), "{error}");
    }
    let error = write_zip(&[("a/b.json", "1"), ("a//b.json", "2")]).unwrap_err();
    assert_eq!(
        error,
        ArchiveError::Duplicate {
            path: "a/b.json".into()
        }
    );
    assert_eq!(error.to_string(), "a/b.json appears twice in the zip archive");
}

#[test]
fn bytes_that_are_not_a_zip_say_so() {
    let error = read_zip(b"").unwrap_err();
    assert_eq!(
        error.to_string(),
        "not a zip archive (the file is empty): choose a .zip file of run folders"
    );
    // Pseudo-random bytes (a fixed LCG, so the test is reproducible).
    let mut state = 0x2545_f491_u32;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect();
    let error = read_zip(&noise).unwrap_err();
    assert!(matches!(error, ArchiveError::NotAZip { .. }), "{error}");
    assert!(error
        .to_string()
        .starts_with("not a zip archive (no zip signature in it)"));
    let error = read_zip(b"{\"total_requests\": 20}").unwrap_err();
    assert!(matches!(error, ArchiveError::NotAZip { .. }), "{error}");
}

#[test]
fn a_zip_cut_short_is_incomplete() {
    let bytes = write_zip(&[("run/stats.json", "{\"a\": 1}".repeat(500).as_str())]).unwrap();
    for cut in [bytes.len() / 2, bytes.len() - 10, bytes.len() - 30, 40] {
        let error = read_zip(&bytes[..cut]).unwrap_err();
        assert_eq!(error, ArchiveError::Truncated, "cut at {cut}");
        assert!(error.to_string().contains("was the download or copy cut short?"));
    }
}

#[test]
fn a_damaged_entry_is_named() {
    let text = "{\"time_to_first_token\": 0.5, \"id\": \"x\"}\n".repeat(200);
    let mut bytes = write_zip(&[("run/responses.jsonl", text.as_str())]).unwrap();
    // Inside the compressed data: past the 30-byte local header and the 19-byte name.
    let at = 30 + "run/responses.jsonl".len() + 20;
    bytes[at] ^= 0xff;
    bytes[at + 1] ^= 0x5a;
    let error = read_zip(&bytes).unwrap_err();
    match &error {
        ArchiveError::Corrupt { path, .. } => assert_eq!(path.as_deref(), Some("run/responses.jsonl")),
        other => panic!("expected a damaged entry, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.starts_with("the zip archive is damaged at run/responses.jsonl: ")
            && message.ends_with("; make the zip again from the run folders"),
        "{message}"
    );
    // A damaged central directory: the archive as a whole.
    let mut bytes = write_zip(&[("run/stats.json", "{}")]).unwrap();
    let directory = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    bytes[directory + 28] = 0xff; // the name length, now past the end
    let error = read_zip(&bytes).unwrap_err();
    assert!(
        matches!(error, ArchiveError::Corrupt { path: None, .. }),
        "{error:?}"
    );
}

#[test]
fn json_must_be_utf8_other_binary_files_and_os_litter_are_skipped() {
    let bytes = raw_zip(&[
        ("sweep/", b""),
        ("sweep/00001-clients/stats.json", b"{}"),
        ("sweep/plot.png", b"\x89PNG\r\n\x1a\n\xff\xfe"),
        ("sweep/.DS_Store", b"\x00\x00\x00\x01Bud1\xff"),
        (
            "__MACOSX/sweep/00001-clients/._stats.json",
            b"\x00\x05\x16\x07\xff",
        ),
        ("sweep\\00002-clients\\stats.json", b"{\"clients\": 2}"),
        // Cut inside a 3-byte character at the very end: an interrupted write; the character is dropped.
        (
            "sweep/00002-clients/responses.jsonl",
            b"{\"id\": \"a\"}\n{\"id\": \"\xe2\x9c",
        ),
    ]);
    let read = read_zip(&bytes).unwrap();
    assert_eq!(
        read,
        texts(&[
            ("sweep/00001-clients/stats.json", "{}"),
            ("sweep/00002-clients/stats.json", "{\"clients\": 2}"),
            (
                "sweep/00002-clients/responses.jsonl",
                "{\"id\": \"a\"}\n{\"id\": \""
            ),
        ])
    );
    let bytes = raw_zip(&[("run/responses.jsonl", b"{\"id\": \"caf\xe9\"}\n")]);
    let error = read_zip(&bytes).unwrap_err();
    assert_eq!(
        error,
        ArchiveError::NotText {
            path: "run/responses.jsonl".into(),
            offset: 11
        }
    );
    assert_eq!(
        error.to_string(),
        "run/responses.jsonl: not UTF-8 text (invalid byte at offset 11); JSON files must be UTF-8"
    );
    let bytes = raw_zip(&[("../../etc/stats.json", b"{}")]);
    let error = read_zip(&bytes).unwrap_err();
    assert!(matches!(error, ArchiveError::UnsafePath { .. }), "{error}");
}

#[test]
fn zip_bombs_and_oversized_archives_are_refused() {
    // 8 MiB of zeros deflate to a few KiB.
    let zeros = "\0".repeat(8 << 20);
    let bomb = write_zip(&[("run/responses.jsonl", zeros.as_str())]).unwrap();
    assert!(bomb.len() < 64 << 10, "{} bytes", bomb.len());
    let small = ZipLimits {
        max_entry_bytes: 1 << 20,
        max_total_bytes: 4 << 20,
        max_entries: 10,
    };
    let error = read_zip_with(&bomb, small).unwrap_err();
    assert_eq!(
        error,
        ArchiveError::EntryTooLarge {
            path: "run/responses.jsonl".into(),
            limit: 1 << 20
        }
    );
    assert_eq!(
        error.to_string(),
        "run/responses.jsonl: unpacks to more than 1 MiB (the most Tokenmeter reads for one file); a zip bomb, \
         or a run too large to load in a page"
    );
    // A header that lies about the size: the real count is what is checked.
    let mut lying = bomb.clone();
    let directory = lying.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    lying[directory + 24..directory + 28].copy_from_slice(&100_u32.to_le_bytes());
    lying[18 + 4..18 + 8].copy_from_slice(&100_u32.to_le_bytes()); // and in the local header
                                                                   // (zip itself notices: "File is larger than its declared uncompressed size".)
    match read_zip_with(&lying, small).unwrap_err() {
        ArchiveError::Corrupt { path: Some(path), .. } => assert_eq!(path, "run/responses.jsonl"),
        other => panic!("a lying header must still be refused, got {other:?}"),
    }
    // Three files of 1.5 MiB each: none too large alone, too large together.
    let part = "x".repeat(3 << 19);
    let three = write_zip(&[("a/1.json", &part), ("a/2.json", &part), ("a/3.json", &part)]).unwrap();
    let total = ZipLimits {
        max_entry_bytes: 2 << 20,
        ..small
    };
    let error = read_zip_with(&three, total).unwrap_err();
    assert_eq!(
        error,
        ArchiveError::TotalTooLarge {
            path: "a/3.json".into(),
            limit: 4 << 20
        }
    );
    assert!(error
        .to_string()
        .starts_with("the zip archive unpacks to more than 4 MiB in all"));
    let error = read_zip_with(
        &three,
        ZipLimits {
            max_entries: 2,
            ..total
        },
    )
    .unwrap_err();
    assert_eq!(error, ArchiveError::TooManyEntries { count: 3, limit: 2 });
    // The defaults are the documented ones, and the bomb is fine under them.
    assert_eq!(
        ZipLimits::default(),
        ZipLimits {
            max_entry_bytes: 512 << 20,
            max_total_bytes: 1 << 30,
            max_entries: 100_000
        }
    );
    assert_eq!(read_zip(&bomb).unwrap()[0].1.len(), 8 << 20);
}

#[test]
fn directory_picker_paths_group_into_run_folders() {
    // What `webkitRelativePath` gives for a picked LoadTest folder.
    let files = texts(&[
        ("sweep/00002-clients/stats.json", "{\"clients\": 2}"),
        ("sweep/00001-clients/summary.json", "{\"clients\": 1}"),
        ("sweep/00001-clients/stats.json", "{\"clients\": 1}"),
        ("sweep/00001-clients/payload.jsonl", "{}"),
        ("sweep/00001-clients/.DS_Store", "x"),
        ("sweep/notes.txt", "not a run"),
        ("sweep/plots/ttft.html", "<html>"),
    ]);
    let folders = group_run_folders(files);
    let shape: Vec<(&str, Vec<&str>)> = folders
        .iter()
        .map(|f| {
            (
                f.folder.as_str(),
                f.files.iter().map(|(n, _)| n.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (
                "sweep/00001-clients",
                vec!["payload.jsonl", "stats.json", "summary.json"]
            ),
            ("sweep/00002-clients", vec!["stats.json"]),
        ]
    );
    assert_eq!(folders[0].name(), "00001-clients");
    assert_eq!(folders[0].run_files().summary, Some("{\"clients\": 1}"));
    // A single run folder picked on its own, and files at the top of a zip.
    let one = group_run_folders(texts(&[("my run/stats.json", "{}"), ("my run/x.png", "")]));
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].folder, "my run");
    let top = group_run_folders(texts(&[("stats.json", "{}"), ("responses.jsonl", "")]));
    assert_eq!(top[0].folder, "");
}

#[test]
fn zip_paths_group_with_nested_macosx_and_windows_separators() {
    let files = texts(&[
        ("__MACOSX/out/sweep/00001-clients/._stats.json", "x"),
        ("out/__MACOSX/sweep/00001-clients/stats.json", "{}"),
        ("out/sweep/00001-clients/stats.json", "{}"),
        ("out/sweep/00001-clients/._responses.jsonl", "x"),
        ("out\\sweep\\00002-clients\\stats.json", "{}"),
        ("./out/sweep//00004-clients/run_config.json", "{}"),
        ("out/../escape/stats.json", "{}"),
    ]);
    let folders: Vec<String> = group_run_folders(files).into_iter().map(|f| f.folder).collect();
    assert_eq!(
        folders,
        [
            "out/sweep/00001-clients",
            "out/sweep/00002-clients",
            "out/sweep/00004-clients"
        ]
    );
}

fn folder(path: &str, files: &[(&str, &str)]) -> FolderFiles {
    FolderFiles {
        folder: path.into(),
        files: texts(files),
    }
}

#[test]
fn load_test_detection_follows_loadtestresult_load() {
    assert_eq!(clients_of_name("00010-clients"), Some(10));
    assert_eq!(clients_of_name("100000-clients"), Some(100_000));
    for name in ["-clients", "10 clients", "0x10-clients", "00010-clients-old"] {
        assert_eq!(clients_of_name(name), None, "{name}");
    }
    assert_eq!(level_name(4), "00004-clients");

    let named = [
        folder("sweep/00004-clients", &[("stats.json", "{}")]),
        folder("sweep/00001-clients", &[("stats.json", "{}")]),
    ];
    let layout = as_load_test(&named).unwrap();
    assert_eq!(layout.test_name, "sweep");
    let levels: Vec<(u32, &str)> = layout
        .levels
        .iter()
        .map(|(c, f)| (*c, f.folder.as_str()))
        .collect();
    assert_eq!(levels, [(1, "sweep/00001-clients"), (4, "sweep/00004-clients")]);

    // LLMeter keys results by `Result.clients` (summary.json, else run_config.json), not by the name.
    let keyed = [
        folder("out/sweep/00004-clients", &[("summary.json", "{\"clients\": 8}")]),
        folder(
            "out/sweep/00001-clients",
            &[("run_config.json", "{\"clients\": 2}")],
        ),
    ];
    let layout = as_load_test(&keyed).unwrap();
    assert_eq!(layout.test_name, "sweep");
    assert_eq!(layout.levels.iter().map(|(c, _)| *c).collect::<Vec<_>>(), [2, 8]);

    // Renamed levels inside a named LoadTest folder: their files give the clients.
    let renamed = [
        folder("sweep/low", &[("summary.json", "{\"clients\": 1}")]),
        folder("sweep/high", &[("run_config.json", "{\"clients\": 16}")]),
    ];
    assert_eq!(
        as_load_test(&renamed)
            .unwrap()
            .levels
            .iter()
            .map(|(c, _)| *c)
            .collect::<Vec<_>>(),
        [1, 16]
    );
    // Levels at the top of an archive.
    let top = [folder("00002-clients", &[("stats.json", "{}")])];
    assert_eq!(as_load_test(&top).unwrap().test_name, "");

    // Not a LoadTest: a lone run folder, a renamed level without a clients count, runs in different folders,
    // the same clients twice, no folder, files at the very top.
    let not = [
        vec![folder("my run", &[("summary.json", "{\"clients\": 4}")])],
        vec![folder("sweep/my run", &[("summary.json", "{\"clients\": 4}")])],
        vec![
            folder("sweep/low", &[("stats.json", "{}")]),
            folder("sweep/high", &[("summary.json", "{\"clients\": 4}")]),
        ],
        vec![
            folder("a/00001-clients", &[("stats.json", "{}")]),
            folder("b/00002-clients", &[("stats.json", "{}")]),
        ],
        vec![
            folder("sweep/00001-clients", &[("stats.json", "{}")]),
            folder("sweep/00002-clients", &[("summary.json", "{\"clients\": 1}")]),
        ],
        vec![],
        vec![folder("", &[("stats.json", "{\"clients\": 1}")])],
        vec![
            folder("runA", &[("summary.json", "{\"clients\": 1}")]),
            folder("runB", &[("summary.json", "{\"clients\": 2}")]),
        ],
    ];
    for folders in &not {
        assert_eq!(as_load_test(folders), None, "{folders:?}");
    }
}

#[test]
fn entry_paths_are_made_safe() {
    let files = [
        ("stats.json", "{}".to_owned()),
        ("../../evil.json", "x".to_owned()),
    ];
    let levels = [(3_u32, files.to_vec())];
    let entries = load_test_entries("../sweep/1\u{7}: 2026", &levels);
    let paths: Vec<&str> = entries.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "_._sweep_1__ 2026/00003-clients/stats.json",
            "_._sweep_1__ 2026/00003-clients/_._.._evil.json"
        ]
    );
    for (path, _) in &entries {
        assert_eq!(path.split('/').count(), 3, "{path}");
        assert!(
            path.split('/').all(|c| c != ".." && c != "." && !c.is_empty()),
            "{path}"
        );
    }
    let run = run_entries("run: 1/2", &files);
    assert_eq!(run[0].0, "run_ 1_2/stats.json");
    assert_eq!(run[0].1, "{}");
    assert_eq!(path_component(""), "_");
    assert_eq!(path_component(".."), "_");
    assert_eq!(path_component(" .hidden. "), "_hidden");
    assert_eq!(path_component(&"é".repeat(300)).chars().count(), 120);
    // Every entry list is one write_zip can write.
    assert!(write_zip(&entries).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn path_component_is_always_one_safe_component(name in any::<String>()) {
        let safe = path_component(&name);
        prop_assert!(!safe.is_empty() && safe != "." && safe != "..");
        prop_assert!(!safe.contains(['/', '\\']) && !safe.chars().any(char::is_control));
        prop_assert!(!safe.starts_with('.') && !safe.ends_with('.'));
        let path = format!("{safe}/{safe}");
        prop_assert!(write_zip(&[(path, "")]).is_ok());
    }
}

/// One level of a sweep: `3 × clients` streamed records, facts and configuration naming the level.
fn level(clients: u32) -> (RunConfigFile, RunInfo, Vec<RequestRecord>) {
    let records: Vec<RequestRecord> = (0..u64::from(clients) * 3)
        .map(|i| streamed(i + u64::from(clients)))
        .collect();
    let info = RunInfo {
        total_requests: Some(records.len() as u64),
        clients: Some(u64::from(clients)),
        n_requests: Some(3),
        total_test_time: Some(2.5),
        model_id: Some("mock-model".into()),
        endpoint_name: Some("local-mock".into()),
        provider: Some("openai".into()),
        run_name: Some(level_name(clients)),
        start_time: records[0].request_time,
        end_time: records.last().and_then(|r| r.request_time),
        ..Default::default()
    };
    let mut config = RunConfigFile::new(EndpointBlock::default(), json!({"clients": clients}));
    config.clients = Some(u64::from(clients));
    config.n_requests = Some(3);
    config.run_name = Some(level_name(clients));
    (config, info, records)
}

/// One level of a written sweep: clients, the files `write_run` made, the stats snapshot they were made from.
type WrittenLevel = (u32, Vec<(&'static str, String)>, Map<String, Value>);

/// The files of a three-level sweep (1, 2, 4 clients) as `write_run` makes them, with each level's snapshot.
fn sweep() -> Vec<WrittenLevel> {
    [1, 2, 4]
        .into_iter()
        .map(|clients| {
            let (config, info, records) = level(clients);
            let mut stats = RunningStats::new(StatsConfig::default()).unwrap();
            records.iter().for_each(|r| stats.observe(r));
            let snapshot = stats.snapshot(&info);
            let files = write_run(&RunToWrite {
                config: &config,
                info: &info,
                records: &records,
                stats: &snapshot,
            });
            (clients, files, snapshot)
        })
        .collect()
}

fn with_version(mut stats: Map<String, Value>) -> Map<String, Value> {
    stats.insert("tokenmeter_format_version".into(), 1.into());
    stats
}

#[test]
fn a_sweep_round_trips_through_a_zip_as_a_load_test() {
    let sweep = sweep();
    let levels: Vec<(u32, Vec<(&str, String)>)> = sweep.iter().map(|(c, f, _)| (*c, f.clone())).collect();
    let entries = load_test_entries("sweep 2026-11-29", &levels);
    assert_eq!(entries.len(), 15);
    assert_eq!(entries[0].0, "sweep 2026-11-29/00001-clients/run_config.json");
    let bytes = write_zip(&entries).unwrap();

    let folders = group_run_folders(read_zip(&bytes).unwrap());
    assert_eq!(folders.len(), 3);
    let layout = as_load_test(&folders).expect("a LoadTest");
    assert_eq!(layout.test_name, "sweep 2026-11-29");
    for ((clients, folder), (expected_clients, _, snapshot)) in layout.levels.iter().zip(&sweep) {
        assert_eq!(clients, expected_clients);
        assert_eq!(folder.files.len(), 5);
        let run = LoadedRun::from_files(&folder.run_files(), StatsConfig::default()).unwrap();
        assert!(run.warnings.is_empty(), "{:?}", run.warnings);
        assert_eq!(run.info.clients, Some(u64::from(*clients)));
        assert_eq!(run.stats, with_version(snapshot.clone()), "{}", folder.folder);
    }
}

/// Writes `entries` under `root` as files.
fn write_tree(root: &Path, entries: &[(String, &str)]) {
    for (path, text) in entries {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
}

/// A LoadTest folder, the same as a zip, and one of its run folders, recomputed from disk as
/// `examples/recompute.rs` does. With `TOKENMETER_SWEEP_OUT=<dir>`, the sweep is also left in `<dir>` (for the
/// manual `LoadTestResult.load` check in LLMeter).
#[test]
fn recompute_path_reads_a_load_test_folder_a_zip_and_a_run_folder() {
    let sweep = sweep();
    let levels: Vec<(u32, Vec<(&str, String)>)> = sweep.iter().map(|(c, f, _)| (*c, f.clone())).collect();
    let entries = load_test_entries("sweep", &levels);
    let root = temp_dir("recompute");
    write_tree(&root, &entries);
    if let Some(out) = std::env::var_os("TOKENMETER_SWEEP_OUT") {
        write_tree(Path::new(&out), &entries);
    }
    let zip_path = root.join("sweep.zip");
    std::fs::write(&zip_path, write_zip(&entries).unwrap()).unwrap();

    let check = |recomputed: Recomputed, prefix: &str| {
        let Recomputed::Runs { test_name, runs } = recomputed else {
            panic!("a LoadTest is several runs");
        };
        assert_eq!(test_name.as_deref(), Some("sweep"));
        assert_eq!(runs.len(), 3);
        for (run, (clients, _, snapshot)) in runs.iter().zip(&sweep) {
            assert_eq!(run.folder, format!("{prefix}sweep/{}", level_name(*clients)));
            assert_eq!(run.clients, Some(*clients));
            // The saved stats.json names its percentile method, so recompute uses it: the same numbers.
            assert_eq!(run.run.stats, with_version(snapshot.clone()));
        }
    };
    let from_folder = recompute_path(&root.join("sweep"), None).unwrap();
    let printed: Map<String, Value> = serde_json::from_str(&from_folder.stats_text()).unwrap();
    assert_eq!(
        printed.keys().collect::<Vec<_>>(),
        [
            "sweep/00001-clients",
            "sweep/00002-clients",
            "sweep/00004-clients"
        ]
    );
    assert_eq!(printed["sweep/00002-clients"]["clients"], 2);
    assert!(from_folder.warnings().is_empty());
    check(from_folder, "");
    check(recompute_path(&zip_path, None).unwrap(), "");

    // A run folder prints exactly as before.
    let level = root.join("sweep/00002-clients");
    let Recomputed::Run(run) = recompute_path(&level, None).unwrap() else {
        panic!("a run folder is one run");
    };
    let before = RunFolder::recompute(&level, None).unwrap();
    assert_eq!(run.stats, before.stats);
    assert_eq!(
        Recomputed::Run(run).stats_text(),
        tokenmeter::core::format::recompute_stats_json(&level, None).unwrap()
    );
    std::fs::remove_dir_all(&root).unwrap();
}

/// LLMeter's own run folder, as the level of a LoadTest folder and inside a zip, recomputes as it does alone.
#[test]
fn llmeter_sample_recomputes_as_a_level_and_from_a_zip() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/llmeter/sample-openai");
    let alone = RunFolder::recompute(&sample, None).unwrap();
    let names = [
        "payload.jsonl",
        "responses.jsonl",
        "run_config.json",
        "stats.json",
        "summary.json",
    ];
    let files: Vec<(&str, String)> = names
        .iter()
        .map(|n| (*n, std::fs::read_to_string(sample.join(n)).unwrap()))
        .collect();
    let levels = [(4_u32, files.clone())];
    let entries = load_test_entries("llmeter-sweep", &levels);
    let root = temp_dir("llmeter-level");
    write_tree(&root, &entries);
    let Recomputed::Runs { runs, .. } = recompute_path(&root.join("llmeter-sweep"), None).unwrap() else {
        panic!("a LoadTest folder");
    };
    assert_eq!(runs[0].clients, Some(4));
    assert_eq!(runs[0].run.stats, alone.stats);
    std::fs::remove_dir_all(&root).unwrap();

    // The run folder alone in a zip reads as that run.
    let zipped = write_zip(&run_entries("sample-openai", &files)).unwrap();
    let root = temp_dir("llmeter-zip");
    let zip_path = root.join("sample.zip");
    std::fs::write(&zip_path, zipped).unwrap();
    let Recomputed::Run(run) = recompute_path(&zip_path, None).unwrap() else {
        panic!("one run folder");
    };
    // Only output_path differs: a folder on disk is its fallback, a folder inside a zip has none (LLMeter's
    // summary.json names one, so both keep it).
    assert_eq!(run.stats, alone.stats);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn recompute_path_errors_name_the_archive_and_the_folder() {
    let root = temp_dir("recompute-errors");
    let empty = root.join("empty.zip");
    std::fs::write(&empty, write_zip(&[("notes/readme.txt", "hi")]).unwrap()).unwrap();
    let error = recompute_path(&empty, None).unwrap_err();
    assert!(matches!(error, FormatError::NoRunFolder { .. }), "{error}");
    assert!(error.to_string().ends_with("empty.zip: no run folder inside (a run folder holds stats.json, responses.jsonl, summary.json or run_config.json)"), "{error}");

    let junk = root.join("junk.zip");
    std::fs::write(&junk, b"PK\x03\x04 cut").unwrap();
    let error = recompute_path(&junk, None).unwrap_err();
    assert!(
        matches!(
            error,
            FormatError::Archive {
                source: ArchiveError::Truncated,
                ..
            }
        ),
        "{error}"
    );

    // A broken level is named.
    let levels = [
        (1_u32, vec![("stats.json", "{}".to_owned())]),
        (2, vec![("responses.jsonl", "{\"id\": 1,\n".to_owned())]),
    ];
    write_tree(&root, &load_test_entries("sweep", &levels));
    let error = recompute_path(&root.join("sweep"), None).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("sweep/00002-clients: responses.jsonl, line 1: invalid JSON"),
        "{error}"
    );
    // An empty folder is still the run-folder error it always was.
    std::fs::create_dir_all(root.join("nothing")).unwrap();
    let error = recompute_path(&root.join("nothing"), None).unwrap_err();
    assert!(matches!(error, FormatError::MissingFile { .. }), "{error}");
    std::fs::remove_dir_all(&root).unwrap();
}

/// r22: a zip written piece by piece (a `responses.jsonl` batch by batch, its bytes taken as they come, as the
/// page streams one from the record store into a Blob) is the same archive as one written whole.
#[test]
fn r22_a_streamed_zip_reads_back_as_the_whole_one() {
    use tokenmeter::core::format::ZipStream;
    let batches: Vec<String> = (0..50)
        .map(|b| {
            (0..200)
                .map(|i| format!("{{\"id\": \"{b}-{i}\", \"ttft\": 0.{i:04}}}\n"))
                .collect()
        })
        .collect();
    let mut zip = ZipStream::default();
    let mut bytes = Vec::new();
    zip.start_file("run/stats.json").unwrap();
    zip.write("{}").unwrap();
    zip.start_file("run/responses.jsonl").unwrap();
    for batch in &batches {
        zip.write(batch).unwrap();
        bytes.extend(zip.take());
    }
    assert!(
        zip.start_file("run/stats.json").is_err(),
        "a path twice is refused"
    );
    assert!(zip.start_file("../x").is_err(), "an unsafe path too");
    bytes.extend(zip.finish().unwrap());
    let whole = batches.concat();
    assert_eq!(
        read_zip(&bytes).unwrap(),
        texts(&[("run/stats.json", "{}"), ("run/responses.jsonl", &whole)])
    );
    assert!(bytes.len() < whole.len() / 5, "deflated: {} bytes", bytes.len());
}
