//! The download path against a local HTTP server on 127.0.0.1 serving
//! synthetic archives. Never touches the real network.

#![cfg(feature = "download")]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use md5::{Digest, Md5};
use ntk_data::DataError;
use ntk_data::download::{Members, Outcome, Pinned, ensure_archive};

const MEMBER: u64 = 3 * 3073;

fn members() -> Members {
    Members {
        dir: "cifar-10-batches-bin".into(),
        names: vec!["data_batch_1.bin".into(), "test_batch.bin".into()],
        size: MEMBER,
    }
}

/// A gzipped tar with the expected members (optionally damaged), plus a
/// readme, a symlink and a path-traversal entry that must never be written.
fn archive(member_size: u64, drop_test: bool) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, path, data).unwrap();
    };
    let data: Vec<u8> = (0..member_size).map(|k| (k % 10) as u8).collect();
    add("cifar-10-batches-bin/data_batch_1.bin", &data);
    if !drop_test {
        add("cifar-10-batches-bin/test_batch.bin", &data);
    }
    add("cifar-10-batches-bin/readme.html", b"<html/>");
    add("other/evil.bin", &data);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_cksum();
    tar.append_link(&mut h, "cifar-10-batches-bin/link", "/etc/passwd")
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

fn md5_hex(b: &[u8]) -> &'static str {
    let s: String = Md5::digest(b).iter().map(|x| format!("{x:02x}")).collect();
    Box::leak(s.into_boxed_str())
}

fn pin(bytes: &[u8]) -> Pinned {
    Pinned {
        url: "http://127.0.0.1:9/unused",
        file_name: "synthetic.tar.gz",
        md5: Some(md5_hex(bytes)),
        sha256: None,
        size: Some(bytes.len() as u64),
    }
}

/// Serves `body` to every request; with `cut = Some(k)` the first `k`
/// requests get a full Content-Length header but only half the bytes.
fn serve(body: Vec<u8>, cut: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/cifar.tar.gz", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut req = [0u8; 4096];
            let _ = s.read(&mut req);
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/gzip\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let send = if n < cut {
                &body[..body.len() / 2]
            } else {
                &body[..]
            };
            let _ = s.write_all(send);
            let _ = s.flush();
        }
    });
    (url, hits)
}

fn fresh(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("download")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = walk(dir)
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect();
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn matching_checksum_extracts_only_the_members_and_reruns_skip() {
    let dir = fresh("ok");
    let bytes = archive(MEMBER, false);
    let (url, hits) = serve(bytes.clone(), 0);
    let mut seen = Vec::new();
    let out = ensure_archive(&dir, &pin(&bytes), &members(), Some(&url), &mut |d, t| {
        seen.push((d, t))
    })
    .unwrap();
    assert_eq!(
        out,
        Outcome::Downloaded {
            bytes: bytes.len() as u64
        }
    );
    assert_eq!(
        seen.last().copied(),
        Some((bytes.len() as u64, Some(bytes.len() as u64)))
    );
    assert_eq!(
        listing(&dir),
        [
            "cifar-10-batches-bin",
            "cifar-10-batches-bin/data_batch_1.bin",
            "cifar-10-batches-bin/test_batch.bin",
            "synthetic.tar.gz"
        ]
    );
    let got = std::fs::read(dir.join("cifar-10-batches-bin/test_batch.bin")).unwrap();
    assert_eq!(got.len() as u64, MEMBER);
    assert_eq!(got[13], 3);
    // Idempotent: verified data are not fetched again.
    let again = ensure_archive(&dir, &pin(&bytes), &members(), Some(&url), &mut |_, _| {}).unwrap();
    assert_eq!(again, Outcome::AlreadyPresent);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Extracted members only: removing one re-extracts from the kept archive, offline.
    std::fs::remove_file(dir.join("cifar-10-batches-bin/test_batch.bin")).unwrap();
    let local = ensure_archive(
        &dir,
        &pin(&bytes),
        &members(),
        Some("http://127.0.0.1:9/x"),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(local, Outcome::ExtractedLocal);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[test]
fn checksum_mismatch_is_refused_and_nothing_is_left() {
    let dir = fresh("mismatch");
    let bytes = archive(MEMBER, false);
    let (url, _) = serve(bytes.clone(), 0);
    let mut wrong = pin(&bytes);
    wrong.md5 = Some("00000000000000000000000000000000");
    match ensure_archive(&dir, &wrong, &members(), Some(&url), &mut |_, _| {}) {
        Err(DataError::Checksum {
            algorithm: "MD5", ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(listing(&dir).is_empty(), "{:?}", listing(&dir));
    // A corrupt archive placed by hand is deleted too.
    std::fs::write(dir.join("synthetic.tar.gz"), b"not the archive").unwrap();
    assert!(matches!(
        ensure_archive(&dir, &pin(&bytes), &members(), Some(&url), &mut |_, _| {}),
        Err(DataError::Checksum { .. })
    ));
    assert!(listing(&dir).is_empty());
}

#[test]
fn a_dropped_connection_leaves_nothing_and_a_rerun_succeeds() {
    let dir = fresh("dropped");
    let bytes = archive(MEMBER, false);
    let (url, hits) = serve(bytes.clone(), 1);
    match ensure_archive(&dir, &pin(&bytes), &members(), Some(&url), &mut |_, _| {}) {
        Err(DataError::Download {
            url: u,
            manual_path,
            ..
        }) => {
            assert_eq!(u, url);
            assert_eq!(manual_path, dir.join("synthetic.tar.gz"));
        }
        other => panic!("{other:?}"),
    }
    assert!(listing(&dir).is_empty(), "{:?}", listing(&dir));
    let out = ensure_archive(&dir, &pin(&bytes), &members(), Some(&url), &mut |_, _| {}).unwrap();
    assert!(matches!(out, Outcome::Downloaded { .. }));
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[test]
fn unreachable_server_names_the_url_and_the_manual_path() {
    let dir = fresh("unreachable");
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/cifar.tar.gz");
    let bytes = archive(MEMBER, false);
    let err =
        ensure_archive(&dir, &pin(&bytes), &members(), Some(&url), &mut |_, _| {}).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&url) && msg.contains("synthetic.tar.gz"),
        "{msg}"
    );
    assert!(listing(&dir).is_empty());
}

#[test]
fn damaged_archives_are_refused() {
    // A member of the wrong size, and a missing member.
    for (bytes, needle) in [
        (archive(MEMBER - 1, false), "expected"),
        (archive(MEMBER, true), "missing"),
    ] {
        let dir = fresh(needle);
        let (url, _) = serve(bytes.clone(), 0);
        let err =
            ensure_archive(&dir, &pin(&bytes), &members(), Some(&url), &mut |_, _| {}).unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
        // The verified archive is kept (it matches its pin); no extracted directory.
        assert_eq!(listing(&dir), ["synthetic.tar.gz"]);
    }
}

#[test]
fn zip_members_stored_and_deflated() {
    use ntk_data::download::zip_member;
    let zip =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sample.zip"))
            .unwrap();
    let csv = zip_member(&zip, "Range-Queries-Aggregates.csv", "sample.zip").unwrap();
    assert_eq!(
        csv,
        format!("id,a,y\n{}", "0,1,2\n1,3,4\n".repeat(50)).into_bytes()
    );
    assert_eq!(
        zip_member(&zip, "notes.txt", "sample.zip").unwrap(),
        b"stored member"
    );
    assert!(matches!(
        zip_member(&zip, "absent.csv", "sample.zip"),
        Err(DataError::Format { reason, .. }) if reason.contains("no member named absent.csv")
    ));
    // A flipped byte inside the compressed data fails the CRC or inflation.
    let mut bad = zip.clone();
    let data_start = 30
        + usize::from(u16::from_le_bytes([zip[26], zip[27]]))
        + usize::from(u16::from_le_bytes([zip[28], zip[29]]));
    bad[data_start + 5] ^= 0x55;
    assert!(matches!(
        zip_member(&bad, "Range-Queries-Aggregates.csv", "z"),
        Err(DataError::Format { reason, .. }) if reason.contains("corrupt deflate stream")
    ));
    assert!(matches!(
        zip_member(&zip[..zip.len() - 30], "notes.txt", "z"),
        Err(DataError::Format { reason, .. }) if reason.contains("end-of-central-directory")
    ));
    assert!(matches!(
        zip_member(b"PK", "notes.txt", "z"),
        Err(DataError::Format { reason, .. }) if reason.contains("end-of-central-directory")
    ));
}
