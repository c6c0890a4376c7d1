//! Corruption: bytes flipped or cut in log, segment and manifest files are detected and
//! reported with the file's name; no wrong data is ever served.

use std::fs;
use std::path::{Path, PathBuf};

use cairn_gen::GenConfig;
use cairn_model::{Dim, Event, Record};
use cairn_store::{Options, Store, StoreError};
use rand::{Rng, SeedableRng};

use crate::model::{Expected, Model, NOW, event_key, full_request};

fn options() -> Options {
    Options {
        background: false,
        flush_rows: usize::MAX,
        ..Options::default()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for ent in fs::read_dir(from).unwrap() {
        let ent = ent.unwrap();
        let dst = to.join(ent.file_name());
        if ent.file_type().unwrap().is_dir() {
            copy_dir(&ent.path(), &dst);
        } else {
            fs::copy(ent.path(), dst).unwrap();
        }
    }
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

fn flip(path: &Path, at: usize, mask: u8) {
    let mut b = fs::read(path).unwrap();
    b[at] ^= mask;
    fs::write(path, b).unwrap();
}

fn is_corrupt_at(e: &StoreError, path: &Path) -> bool {
    match e {
        StoreError::Damaged(problems) => problems
            .iter()
            .any(|p| p.path.file_name() == path.file_name()),
        StoreError::Corrupted { path: p, .. } => p.file_name() == path.file_name(),
        StoreError::Incompatible { path: p, .. } => p.file_name() == path.file_name(),
        _ => false,
    }
}

/// Small generated data set for one site.
fn generated(n: u64) -> Vec<Record> {
    let cfg = GenConfig {
        seed: 11,
        events: n,
        start_ms: NOW - 5 * 86_400_000,
        days: 4,
    };
    cairn_gen::generate(&cfg).collect()
}

fn expected_of(recs: &[Record], site: &str) -> Expected {
    let mut m = Model::new();
    m.add(recs);
    m.expected(site, i64::MIN, i64::MAX, None)
}

#[test]
fn flipped_segment_bytes_are_detected_and_named() {
    let recs = generated(6_000);
    let site = recs[0].site().to_string();
    let want = expected_of(&recs, &site);
    let root = tempfile::tempdir().unwrap();
    let pristine = root.path().join("pristine");
    {
        // Half merged (compressed segments), half as import batches (stored raw): the
        // flips hit both kinds of chunk.
        let s = Store::open(&pristine, options()).unwrap();
        let (merged, batch) = recs.split_at(recs.len() / 2);
        s.import(merged.to_vec()).unwrap();
        s.compact(&cairn_store::CompactionPolicy::eager()).unwrap();
        let before = files(&pristine.join("segments"), "seg").len();
        s.import(batch.to_vec()).unwrap();
        assert!(files(&pristine.join("segments"), "seg").len() > before);
        s.close().unwrap();
    }
    let segs = files(&pristine.join("segments"), "seg");
    assert!(segs.len() >= 2);
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut detected_at_open = 0;
    for trial in 0..60 {
        let dir = root.path().join(format!("t{trial}"));
        copy_dir(&pristine, &dir);
        let seg = dir
            .join("segments")
            .join(segs[trial % segs.len()].file_name().unwrap());
        let len = fs::metadata(&seg).unwrap().len() as usize;
        // The first trials hit the header, the trailer and the footer; the rest anywhere.
        let at = match trial {
            0 => 0,
            1 => len - 1,
            2 => len - 9,
            3 => len - 40,
            _ => rng.gen_range(0..len),
        };
        flip(&seg, at, 1 << rng.gen_range(0..8));
        let store = match Store::open(&dir, options()) {
            Err(e) => {
                assert!(is_corrupt_at(&e, &seg), "trial {trial} (byte {at}): {e}");
                detected_at_open += 1;
                continue;
            }
            Ok(s) => s,
        };
        // Scans either fail naming the file or return exactly the right data.
        match store.scan(full_request(&site)) {
            Err(e) => assert!(is_corrupt_at(&e, &seg), "trial {trial}: {e}"),
            Ok(scan) => {
                let mut got = Expected::new();
                let r = scan.for_each(|t| {
                    let mut evs: Vec<_> = (0..t.len())
                        .map(|i| crate::model::timeline_key(&scan, t, i))
                        .collect();
                    evs.sort();
                    got.insert(t.visitor, evs);
                });
                match r {
                    Err(e) => assert!(is_corrupt_at(&e, &seg), "trial {trial}: {e}"),
                    Ok(()) => assert!(got == want, "trial {trial} (byte {at}): wrong data served"),
                }
            }
        }
        // Verification reads every byte: it must name the damaged file.
        let Err(err) = store.verify() else {
            panic!("trial {trial}: verify missed the flipped byte {at} of {len}");
        };
        assert!(
            is_corrupt_at(&err, &seg),
            "trial {trial} (byte {at}): {err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(".seg"), "the message names the file: {msg}");
    }
    eprintln!("segment flips: {detected_at_open}/60 detected at open, the rest at read");
}

/// A merge reads its inputs row by row as dictionary ids; a flipped byte in one fails the
/// merge with the file's name, and the merge leaves no file behind: the directory holds
/// exactly the segments the manifest lists, the damaged one among them.
#[test]
fn a_merge_over_a_damaged_segment_fails_and_names_it() {
    let recs = generated(6_000);
    let root = tempfile::tempdir().unwrap();
    let pristine = root.path().join("pristine");
    {
        let opts = Options {
            import_batch: 1_000,
            ..options()
        };
        let s = Store::open(&pristine, opts).unwrap();
        s.import(recs).unwrap();
        s.close().unwrap();
    }
    let segs = files(&pristine.join("segments"), "seg");
    assert!(segs.len() >= 6, "several segments a week: {}", segs.len());
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut failed_merges = 0;
    for trial in 0..24 {
        let dir = root.path().join(format!("m{trial}"));
        copy_dir(&pristine, &dir);
        let seg = dir
            .join("segments")
            .join(segs[trial % segs.len()].file_name().unwrap());
        let len = fs::metadata(&seg).unwrap().len() as usize;
        // Anywhere in the chunks (after the magic number, before the footer's end).
        let at = rng.gen_range(8..len - 24);
        flip(&seg, at, 1 << rng.gen_range(0..8));
        let store = match Store::open(&dir, options()) {
            Err(e) => {
                assert!(is_corrupt_at(&e, &seg), "trial {trial} (byte {at}): {e}");
                continue;
            }
            Ok(s) => s,
        };
        let err = store
            .compact(&cairn_store::CompactionPolicy::eager())
            .expect_err("a merge over a damaged segment fails");
        assert!(
            is_corrupt_at(&err, &seg),
            "trial {trial} (byte {at}): {err}"
        );
        failed_merges += 1;
        let listed: std::collections::BTreeSet<u64> =
            store.segments().iter().map(|m| m.id).collect();
        let on_disk: Vec<PathBuf> = fs::read_dir(dir.join("segments"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(
            on_disk
                .iter()
                .all(|p| p.extension().is_some_and(|x| x == "seg")),
            "trial {trial}: a temporary file is left: {on_disk:?}"
        );
        assert_eq!(
            on_disk.len(),
            listed.len(),
            "trial {trial}: files not listed"
        );
        assert!(seg.exists(), "trial {trial}: the damaged segment is kept");
    }
    assert!(failed_merges >= 12, "{failed_merges} merges met the damage");
}

#[test]
fn truncated_segment_is_detected() {
    let recs = generated(3_000);
    let (_root, dir) = imported(recs);
    let seg = files(&dir.join("segments"), "seg").remove(0);
    let len = fs::metadata(&seg).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let err = Store::open(&dir, options())
        .and_then(|s| s.verify())
        .expect_err("a truncated segment is detected");
    assert!(is_corrupt_at(&err, &seg), "{err}");
}

/// A store in a fresh temporary directory holding `recs`, bulk-imported and closed.
fn imported(recs: Vec<Record>) -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("s");
    let s = Store::open(&dir, options()).unwrap();
    s.import(recs).unwrap();
    s.close().unwrap();
    (root, dir)
}

fn wal_store(batches: usize) -> (tempfile::TempDir, PathBuf, Vec<Vec<Record>>) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("s");
    let mut recs = generated(batches as u64 * 50);
    recs.truncate(batches * 50);
    let chunks: Vec<Vec<Record>> = recs
        .chunks(recs.len() / batches)
        .map(|c| c.to_vec())
        .collect();
    let s = Store::open(&dir, options()).unwrap();
    for c in &chunks {
        s.append(c, NOW).unwrap();
    }
    drop(s); // no flush: everything is in the log only
    (root, dir, chunks)
}

fn all_events(store: &Store) -> Vec<(String, u64, (i64, String))> {
    let mut v = Vec::new();
    store
        .for_each_event(|e: &Event| {
            v.push((e.site.clone(), e.visitor, event_key(e)));
            Ok(())
        })
        .unwrap();
    v.sort();
    v
}

fn events_of(recs: &[Vec<Record>]) -> Vec<(String, u64, (i64, String))> {
    let mut v: Vec<_> = recs
        .iter()
        .flatten()
        .filter_map(|r| match r {
            Record::Event(e) => Some((e.site.clone(), e.visitor, event_key(e))),
            Record::Identify(_) => None,
        })
        .collect();
    v.sort();
    v
}

/// Where the data of a log file ends (the rest is zeros).
fn data_end(wal: &Path) -> usize {
    let b = fs::read(wal).unwrap();
    b.iter().rposition(|&x| x != 0).unwrap() + 1
}

#[test]
fn torn_log_tail_is_cut_and_reported() {
    let (_root, dir, chunks) = wal_store(8);
    let wal = files(&dir.join("wal"), "wal").pop().unwrap();
    let len = fs::metadata(&wal).unwrap().len();
    // The last sector of the last write never reached the disk, as in a crash during it.
    let end = data_end(&wal);
    let mut b = fs::read(&wal).unwrap();
    // Only the last frame's bytes: the sector's part before it was written (and synced)
    // by an earlier write.
    let frame = b.windows(4).rposition(|w| w == b"CFRM").unwrap();
    b[((end - 1) / 512 * 512).max(frame)..end].fill(0);
    fs::write(&wal, &b).unwrap();
    let s = Store::open(&dir, options()).unwrap();
    let torn = s.recovery().torn_tail.clone().expect("torn tail reported");
    assert_eq!(torn.path.file_name(), wal.file_name());
    assert!(torn.bytes > 0);
    // Every batch but the torn last one is there.
    assert_eq!(all_events(&s), events_of(&chunks[..chunks.len() - 1]));
    drop(s);
    // The cut is durable: the next open finds a clean log; the file keeps its length.
    let s = Store::open(&dir, options()).unwrap();
    assert_eq!(s.recovery().torn_tail, None);
    assert_eq!(all_events(&s), events_of(&chunks[..chunks.len() - 1]));
    assert_eq!(fs::metadata(&wal).unwrap().len(), len);
}

#[test]
fn flipped_byte_in_the_middle_of_the_log_is_corruption() {
    let (_root, dir, _chunks) = wal_store(8);
    let wal = files(&dir.join("wal"), "wal").pop().unwrap();
    let end = data_end(&wal);
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let pristine = fs::read(&wal).unwrap();
    // Anywhere in the written part, the newest frame included: every frame there was
    // acknowledged, so none of it is a torn tail.
    for trial in 0..60 {
        fs::write(&wal, &pristine).unwrap();
        let at = match trial {
            0 => 0,       // the magic
            1 => 48 + 4,  // the first frame's length
            2 => 48 + 28, // the first frame's checksum
            3 => end - 1, // the newest frame's last byte
            4 => end - 40,
            _ => rng.gen_range(0..end),
        };
        flip(&wal, at, 1 << rng.gen_range(0..8));
        let err = match Store::open(&dir, options()) {
            Err(e) => e,
            Ok(_) => panic!("trial {trial}: flipped byte {at} of the log was not detected"),
        };
        assert!(is_corrupt_at(&err, &wal), "trial {trial}: {err}");
        // Nothing was cut: restoring the byte restores the store.
        assert_eq!(fs::read(&wal).unwrap(), {
            let mut b = pristine.clone();
            b[at] = fs::read(&wal).unwrap()[at];
            b
        });
    }
}

#[test]
fn damaged_manifest_is_reported() {
    let recs = generated(500);
    let (_root, dir) = imported(recs);
    let manifest = dir.join("MANIFEST");
    let text = fs::read_to_string(&manifest).unwrap();
    fs::write(&manifest, text.replacen("\"rows\":", "\"rows\":1", 1)).unwrap();
    let err = Store::open(&dir, options())
        .err()
        .expect("damaged manifest detected");
    assert!(is_corrupt_at(&err, &manifest), "{err}");
}

#[test]
fn missing_segment_is_reported() {
    let recs = generated(500);
    let (_root, dir) = imported(recs);
    let seg = files(&dir.join("segments"), "seg").remove(0);
    fs::remove_file(&seg).unwrap();
    let err = Store::open(&dir, options())
        .err()
        .expect("missing segment detected");
    assert!(
        err.to_string()
            .contains(seg.file_name().unwrap().to_str().unwrap()),
        "{err}"
    );
    let _ = Dim::Name;
}
