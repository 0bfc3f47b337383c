//! Verified downloads: stream to a `.partial` file while hashing, check the
//! pinned MD5 (and SHA-256 when known) and size, rename atomically, and
//! extract only the expected archive members. Nothing partial is ever left
//! where a complete file is expected, and a rerun after an interruption
//! starts clean. No function here prints; progress goes to a callback.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};
use sha2::Sha256;

use crate::cifar;
use crate::error::{DataError, Result};
use crate::files::temp_path;

/// A file to download with its pinned checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pinned {
    /// Official URL.
    pub url: &'static str,
    /// File name in the data directory.
    pub file_name: &'static str,
    /// Expected MD5, lowercase hex (`None`: not pinned).
    pub md5: Option<&'static str>,
    /// Expected SHA-256, lowercase hex.
    pub sha256: Option<&'static str>,
    /// Expected size in bytes.
    pub size: Option<u64>,
}

/// The CIFAR-10 binary archive (`research/ecosystem.md` §2.1: MD5 from the
/// official page; size and SHA-256 from an independent verification).
pub const CIFAR10_BINARY: Pinned = Pinned {
    url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    file_name: "cifar-10-binary.tar.gz",
    md5: Some("c32a1d4ab5d03f1284b67883e8d87530"),
    sha256: Some("c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),
    size: Some(170_052_171),
};

/// Members of a tar archive to extract: names under a directory, each of
/// an exact size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Members {
    /// Directory inside the archive (and created in the data directory).
    pub dir: String,
    /// File names inside `dir`.
    pub names: Vec<String>,
    /// Exact size of every member.
    pub size: u64,
}

impl Members {
    /// The six CIFAR-10 batch files.
    pub fn cifar10() -> Self {
        let mut names: Vec<String> = cifar::TRAIN_FILES.iter().map(|s| s.to_string()).collect();
        names.push(cifar::TEST_FILE.to_owned());
        Self {
            dir: cifar::ARCHIVE_DIR.to_owned(),
            names,
            size: cifar::FILE_BYTES,
        }
    }
}

/// What a download call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The data were already present and verified; nothing was fetched.
    AlreadyPresent,
    /// An archive placed by hand (or kept from an earlier run) was verified
    /// and extracted.
    ExtractedLocal,
    /// Downloaded, verified and extracted.
    Downloaded {
        /// Bytes received.
        bytes: u64,
    },
}

/// Progress of a download: `(bytes so far, total if known)`.
pub type ProgressFn<'a> = &'a mut dyn FnMut(u64, Option<u64>);

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Digests of a file or stream.
struct Hashes {
    md5: Md5,
    sha256: Sha256,
    len: u64,
}

impl Hashes {
    fn new() -> Self {
        Self {
            md5: Md5::new(),
            sha256: Sha256::new(),
            len: 0,
        }
    }
    fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.sha256.update(data);
        self.len += data.len() as u64;
    }
    fn finish(self) -> (String, String, u64) {
        (
            hex(&self.md5.finalize()),
            hex(&self.sha256.finalize()),
            self.len,
        )
    }
}

/// Checks size and digests against `pin`; on mismatch deletes `path`.
fn verify(path: &Path, pin: &Pinned, md5: &str, sha256: &str, len: u64) -> Result<()> {
    let what = path.display().to_string();
    let fail = |e: DataError| {
        let _ = fs::remove_file(path);
        Err(e)
    };
    if let Some(size) = pin.size
        && size != len
    {
        return fail(DataError::Checksum {
            what,
            algorithm: "size",
            expected: size.to_string(),
            got: len.to_string(),
        });
    }
    if let Some(m) = pin.md5
        && m != md5
    {
        return fail(DataError::Checksum {
            what,
            algorithm: "MD5",
            expected: m.into(),
            got: md5.into(),
        });
    }
    if let Some(s) = pin.sha256
        && s != sha256
    {
        return fail(DataError::Checksum {
            what,
            algorithm: "SHA-256",
            expected: s.into(),
            got: sha256.into(),
        });
    }
    Ok(())
}

/// Hashes an existing file.
fn hash_file(path: &Path) -> Result<(String, String, u64)> {
    let mut f = fs::File::open(path).map_err(io_err(path))?;
    let mut h = Hashes::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let k = f.read(&mut buf).map_err(io_err(path))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
    }
    Ok(h.finish())
}

/// Downloads `url` to `dest` (through `dest.partial`), verifying it against
/// `pin`. Returns the number of bytes received.
///
/// # Errors
/// [`DataError::Download`] (network, HTTP status, interrupted stream) with
/// the URL and where to place the file by hand; [`DataError::Checksum`]
/// (the file is deleted); [`DataError::Io`].
pub fn fetch(url: &str, dest: &Path, pin: &Pinned, progress: ProgressFn<'_>) -> Result<u64> {
    let partial = temp_path(dest);
    let _ = fs::remove_file(&partial);
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let fail = |reason: String| DataError::Download {
        url: url.to_owned(),
        reason,
        manual_path: dest.to_path_buf(),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(Duration::from_secs(60)))
        .build()
        .into();
    let response = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    let total = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok());
    let mut body = response
        .into_body()
        .into_with_config()
        .limit(pin.size.map_or(u64::MAX, |s| s.saturating_add(1)))
        .reader();
    let result = (|| -> Result<(String, String, u64)> {
        let mut file = fs::File::create(&partial).map_err(io_err(&partial))?;
        let mut h = Hashes::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let k = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(fail(format!(
                        "transfer interrupted after {} bytes: {e}",
                        h.len
                    )));
                }
            };
            h.update(&buf[..k]);
            file.write_all(&buf[..k]).map_err(io_err(&partial))?;
            progress(h.len, total);
        }
        if let Some(t) = total
            && t != h.len
        {
            return Err(fail(format!("received {} of {t} bytes", h.len)));
        }
        file.sync_all().map_err(io_err(&partial))?;
        Ok(h.finish())
    })();
    let (md5, sha256, len) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_file(&partial);
            return Err(e);
        }
    };
    verify(&partial, pin, &md5, &sha256, len)?;
    fs::rename(&partial, dest).map_err(io_err(dest))?;
    Ok(len)
}

/// Extracts exactly `members` from the gzipped tar at `archive` into
/// `data_dir/members.dir`, through a temporary directory renamed at the end.
/// Entries that are not expected regular files are skipped, never written.
///
/// # Errors
/// [`DataError::Format`] for a damaged archive or a missing member,
/// [`DataError::Length`] for a member of the wrong size, [`DataError::Io`].
pub fn extract_members(archive: &Path, data_dir: &Path, members: &Members) -> Result<PathBuf> {
    let final_dir = data_dir.join(&members.dir);
    let tmp_dir = temp_path(&final_dir);
    let _ = fs::remove_dir_all(&tmp_dir);
    fs::create_dir_all(&tmp_dir).map_err(io_err(&tmp_dir))?;
    let what = archive.display().to_string();
    let result = (|| -> Result<()> {
        let file = fs::File::open(archive).map_err(io_err(archive))?;
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(io::BufReader::new(file)));
        let bad = |e: io::Error| DataError::format(&what, "gzipped tar archive", e.to_string());
        let mut found = vec![false; members.names.len()];
        for entry in tar.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let path = entry.path().map_err(bad)?.into_owned();
            let mut parts = path
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned());
            let (Some(dir), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let Some(k) = members.names.iter().position(|n| *n == name) else {
                continue;
            };
            if dir != members.dir {
                continue;
            }
            let size = entry.header().size().map_err(bad)?;
            if size != members.size {
                return Err(DataError::Length {
                    what: format!("{what}: member {dir}/{name}"),
                    expected: members.size,
                    got: size,
                });
            }
            let out = tmp_dir.join(&members.names[k]);
            let mut f = fs::File::create(&out).map_err(io_err(&out))?;
            let copied = io::copy(&mut entry, &mut f).map_err(bad)?;
            if copied != members.size {
                return Err(DataError::Length {
                    what: format!("{what}: member {dir}/{name}"),
                    expected: members.size,
                    got: copied,
                });
            }
            f.sync_all().map_err(io_err(&out))?;
            found[k] = true;
        }
        if let Some(k) = found.iter().position(|f| !f) {
            return Err(DataError::format(
                &what,
                "CIFAR-10 archive",
                format!("member {}/{} is missing", members.dir, members.names[k]),
            ));
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&tmp_dir);
        return Err(e);
    }
    let _ = fs::remove_dir_all(&final_dir);
    fs::rename(&tmp_dir, &final_dir).map_err(io_err(&final_dir))?;
    Ok(final_dir)
}

/// Whether every member is present with its exact size.
pub fn members_present(data_dir: &Path, members: &Members) -> bool {
    let dir = data_dir.join(&members.dir);
    members
        .names
        .iter()
        .all(|n| fs::metadata(dir.join(n)).is_ok_and(|m| m.is_file() && m.len() == members.size))
}

/// Makes `members` of the archive `pin` available in `data_dir`:
/// nothing to do if they are present; else a verified archive already in
/// `data_dir` (downloaded earlier or placed by hand) is extracted; else the
/// archive is downloaded from `url` (the official one or a mirror; the
/// pinned checksums apply either way), verified and extracted. The archive
/// is kept so that a rerun never downloads twice.
///
/// # Errors
/// As [`fetch`] and [`extract_members`]; a corrupt local archive is deleted
/// and reported as [`DataError::Checksum`].
pub fn ensure_archive(
    data_dir: &Path,
    pin: &Pinned,
    members: &Members,
    url: Option<&str>,
    progress: ProgressFn<'_>,
) -> Result<Outcome> {
    if members_present(data_dir, members) {
        return Ok(Outcome::AlreadyPresent);
    }
    let archive = data_dir.join(pin.file_name);
    let outcome = if archive.is_file() {
        let (md5, sha256, len) = hash_file(&archive)?;
        verify(&archive, pin, &md5, &sha256, len)?;
        Outcome::ExtractedLocal
    } else {
        let bytes = fetch(url.unwrap_or(pin.url), &archive, pin, progress)?;
        Outcome::Downloaded { bytes }
    };
    extract_members(&archive, data_dir, members)?;
    Ok(outcome)
}

/// The member `name` of a zip archive held in memory (stored or deflated
/// entries; CRC-32 checked). Any directory prefix inside the archive is
/// ignored when matching `name`.
///
/// # Errors
/// [`DataError::Format`] for a damaged archive, a missing member, an
/// unsupported compression method or a CRC mismatch.
pub fn zip_member(zip: &[u8], name: &str, what: &str) -> Result<Vec<u8>> {
    let bad = |reason: String| DataError::format(what, "zip archive", reason);
    let u16_at = |b: &[u8], i: usize| -> Result<u16> {
        b.get(i..i + 2)
            .map(|s| u16::from_le_bytes([s[0], s[1]]))
            .ok_or_else(|| bad("truncated".into()))
    };
    let u32_at = |b: &[u8], i: usize| -> Result<u32> {
        b.get(i..i + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
            .ok_or_else(|| bad("truncated".into()))
    };
    // End of central directory: the last "PK\x05\x06" within 64 KiB of the end.
    let lo = zip.len().saturating_sub(65_557);
    let eocd = (lo..zip.len().saturating_sub(21))
        .rev()
        .find(|&i| zip[i..i + 4] == *b"PK\x05\x06")
        .ok_or_else(|| bad("no end-of-central-directory record".into()))?;
    let count = usize::from(u16_at(zip, eocd + 10)?);
    let mut at = u32_at(zip, eocd + 16)? as usize;
    for _ in 0..count {
        if u32_at(zip, at)? != 0x0201_4b50 {
            return Err(bad("damaged central directory".into()));
        }
        let method = u16_at(zip, at + 10)?;
        let crc = u32_at(zip, at + 16)?;
        let csize = u32_at(zip, at + 20)? as usize;
        let usize_ = u32_at(zip, at + 24)? as usize;
        let nlen = usize::from(u16_at(zip, at + 28)?);
        let elen = usize::from(u16_at(zip, at + 30)?);
        let clen = usize::from(u16_at(zip, at + 32)?);
        let local = u32_at(zip, at + 42)? as usize;
        let entry = zip
            .get(at + 46..at + 46 + nlen)
            .ok_or_else(|| bad("truncated".into()))?;
        let entry = String::from_utf8_lossy(entry);
        at += 46 + nlen + elen + clen;
        if entry.rsplit('/').next() != Some(name) {
            continue;
        }
        if u32_at(zip, local)? != 0x0403_4b50 {
            return Err(bad("damaged local header".into()));
        }
        let start = local
            + 30
            + usize::from(u16_at(zip, local + 26)?)
            + usize::from(u16_at(zip, local + 28)?);
        let data = zip
            .get(start..start + csize)
            .ok_or_else(|| bad(format!("member {entry} is truncated")))?;
        let out = match method {
            0 => data.to_vec(),
            8 => {
                let mut out = Vec::with_capacity(usize_);
                flate2::read::DeflateDecoder::new(data)
                    .read_to_end(&mut out)
                    .map_err(|e| bad(format!("member {entry}: {e}")))?;
                out
            }
            m => return Err(bad(format!("member {entry} uses compression method {m}"))),
        };
        let mut c = flate2::Crc::new();
        c.update(&out);
        if out.len() != usize_ || c.sum() != crc {
            return Err(bad(format!("member {entry} fails its CRC-32 check")));
        }
        return Ok(out);
    }
    Err(bad(format!("no member named {name}")))
}

/// Downloads a UCI dataset into `data_dir/uci/NAME/` and returns the path
/// of its data file. UCI publishes no checksums: the SHA-256 of the first
/// verified download is recorded beside it (`NAME.sha256`) and later
/// downloads must match it.
///
/// # Errors
/// As [`fetch`] and [`zip_member`]; [`DataError::Checksum`] when a new
/// download differs from the recorded digest.
pub fn ensure_uci(
    data_dir: &Path,
    dataset: crate::uci::UciDataset,
    url: Option<&str>,
    progress: ProgressFn<'_>,
) -> Result<PathBuf> {
    let dir = data_dir.join("uci").join(dataset.name());
    let data_file = dir.join(dataset.data_file());
    if data_file.is_file() {
        return Ok(data_file);
    }
    let url = url.unwrap_or(dataset.url());
    let download_name = url.rsplit('/').next().unwrap_or("download");
    let download = dir.join(download_name);
    let record = dir.join(format!("{}.sha256", dataset.name()));
    let pinned_sha: Option<String> = fs::read_to_string(&record)
        .ok()
        .map(|s| s.trim().to_owned());
    // Checked below against the recorded digest, not in `fetch`.
    let pin = Pinned {
        url: dataset.url(),
        file_name: dataset.data_file(),
        md5: None,
        sha256: None,
        size: None,
    };
    if !download.is_file() {
        fetch(url, &download, &pin, progress)?;
    }
    let (_, sha, _) = hash_file(&download)?;
    if let Some(p) = pinned_sha
        && p != sha
    {
        let _ = fs::remove_file(&download);
        return Err(DataError::Checksum {
            what: download.display().to_string(),
            algorithm: "SHA-256",
            expected: p,
            got: sha,
        });
    }
    crate::files::write_new(&record, format!("{sha}\n").as_bytes(), true)?;
    if download_name.ends_with(".zip") {
        let bytes = fs::read(&download).map_err(io_err(&download))?;
        let member = zip_member(&bytes, dataset.data_file(), &download.display().to_string())?;
        crate::files::write_new(&data_file, &member, true)?;
    } else if download != data_file {
        fs::rename(&download, &data_file).map_err(io_err(&data_file))?;
    }
    Ok(data_file)
}
