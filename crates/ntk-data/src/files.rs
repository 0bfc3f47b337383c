//! The file-system side: reading inputs, writing outputs without
//! overwriting unless asked, and loading CIFAR-10 from its directory.
//! Every error names the path.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cifar::{self, Cifar10};
use crate::error::{DataError, Result};
use crate::npy::{self, NpyArray, NpyElement};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a whole file.
///
/// # Errors
/// [`DataError::Io`] naming the path.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(io(path))
}

/// Reads a `.npy` file.
///
/// # Errors
/// As [`read`] and [`npy::read_npy`].
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let file = fs::File::open(path).map_err(io(path))?;
    npy::read_npy(std::io::BufReader::new(file), &path.display().to_string())
}

/// A `.npy` file read by rows on demand (sample-major arrays: a row is one
/// sample), so that data larger than memory can be streamed: only the
/// header is read at [`open`](Self::open), then each
/// [`read_rows`](Self::read_rows) seeks and reads its range.
#[derive(Debug)]
pub struct NpyRows {
    file: fs::File,
    path: PathBuf,
    header: npy::NpyHeader,
    row_bytes: u64,
}

impl NpyRows {
    /// Opens `path` and checks its header and length.
    ///
    /// # Errors
    /// As [`npy::read_header`]; [`DataError::Length`] when the file is not
    /// exactly as long as its header says (truncated or over-long); a
    /// 0-dimensional array.
    pub fn open(path: &Path) -> Result<Self> {
        let what = path.display().to_string();
        let mut file = fs::File::open(path).map_err(io(path))?;
        let header = npy::read_header(std::io::BufReader::new(&mut file), &what)?;
        let len = file.metadata().map_err(io(path))?.len();
        if len != header.data_offset + header.data_len {
            return Err(DataError::Length {
                what: format!("{what} (data after the header)"),
                expected: header.data_len,
                got: len.saturating_sub(header.data_offset),
            });
        }
        let Some(&rows) = header.shape.first() else {
            return Err(DataError::format(
                &what,
                ".npy file",
                "a 0-dimensional array has no rows",
            ));
        };
        let row_bytes = if rows == 0 {
            0
        } else {
            header.data_len / rows as u64
        };
        Ok(Self {
            file,
            path: path.to_path_buf(),
            header,
            row_bytes,
        })
    }

    /// The array's shape (rows first).
    pub fn shape(&self) -> &[usize] {
        &self.header.shape
    }

    /// The element type.
    pub fn dtype(&self) -> npy::DType {
        self.header.dtype
    }

    /// Rows `start..end` as `f64`, C order.
    ///
    /// # Errors
    /// [`DataError::Io`] naming the path; a range beyond the rows.
    pub fn read_rows(&mut self, start: usize, end: usize) -> Result<Vec<f64>> {
        let (mut raw, mut out) = (Vec::new(), Vec::new());
        self.read_rows_into(start, end, &mut raw, &mut out)?;
        Ok(out)
    }

    /// [`read_rows`](Self::read_rows) into `out`, through the byte buffer
    /// `raw`: both keep their allocations between calls.
    ///
    /// # Errors
    /// As [`read_rows`](Self::read_rows).
    pub fn read_rows_into(
        &mut self,
        start: usize,
        end: usize,
        raw: &mut Vec<u8>,
        out: &mut Vec<f64>,
    ) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let rows = self.header.shape[0];
        if start > end || end > rows {
            return Err(DataError::Length {
                what: format!("{} (rows {start}..{end})", self.path.display()),
                expected: rows as u64,
                got: end as u64,
            });
        }
        raw.clear();
        raw.resize(((end - start) as u64 * self.row_bytes) as usize, 0);
        self.file
            .seek(SeekFrom::Start(
                self.header.data_offset + start as u64 * self.row_bytes,
            ))
            .map_err(io(&self.path))?;
        self.file.read_exact(raw).map_err(io(&self.path))?;
        npy::decode_f64_into(raw, self.header.dtype, self.header.big_endian, out);
        Ok(())
    }
}

/// Reads a numeric CSV file.
///
/// # Errors
/// As [`read`] and [`crate::csv::parse`]; [`DataError::Format`] if the file
/// is not UTF-8.
pub fn read_csv(path: &Path, header: bool) -> Result<crate::csv::Table> {
    let bytes = read(path)?;
    let what = path.display().to_string();
    let text = String::from_utf8(bytes)
        .map_err(|_| DataError::format(&what, "CSV file", "not UTF-8 text"))?;
    crate::csv::parse(&text, header, &what)
}

/// Whether an output may be written: refuses an existing file unless
/// `force`.
///
/// # Errors
/// [`DataError::Io`] with kind `AlreadyExists`.
pub fn check_writable(path: &Path, force: bool) -> Result<()> {
    if !force && path.exists() {
        return Err(DataError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists; not overwritten (pass --force to replace it)",
            ),
        });
    }
    Ok(())
}

/// A sibling temporary name for `path`.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Writes `bytes` to `path` atomically (temporary sibling, then rename),
/// refusing to replace an existing file unless `force`. Parent directories
/// are created.
///
/// # Errors
/// [`DataError::Io`] naming the path.
pub fn write_new(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    write_new_with(path, force, &mut |w| {
        w.write_all(bytes).map_err(|source| DataError::Read {
            what: "output".into(),
            source,
        })
    })
}

/// [`write_new`] of whatever `write` streams into the temporary file
/// (buffered): nothing is held in memory, and an error from `write` leaves
/// no file under either name.
///
/// # Errors
/// [`DataError::Io`] naming the path; whatever `write` returns.
pub fn write_new_with(
    path: &Path,
    force: bool,
    write: &mut dyn FnMut(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    check_writable(path, force)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let tmp = temp_path(path);
    let fail = |e: DataError| {
        let _ = fs::remove_file(&tmp);
        e
    };
    let f = fs::File::create(&tmp).map_err(io(&tmp)).map_err(fail)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 16, f);
    write(&mut w).map_err(fail)?;
    let result = (|| {
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(source) = result {
        let _ = fs::remove_file(&tmp);
        return Err(DataError::Io {
            path: path.to_path_buf(),
            source,
        });
    }
    Ok(())
}

/// Writes an array as `.npy` (see [`write_new`] for the overwrite rule).
///
/// # Errors
/// As [`write_new`] and [`npy::write_npy`].
pub fn write_npy<T: NpyElement>(
    path: &Path,
    shape: &[usize],
    data: &[T],
    force: bool,
) -> Result<()> {
    write_new_with(path, force, &mut |w| npy::write_npy(w, shape, data))
}

/// Writes an array as `.npy` from consecutive blocks of its elements in C
/// order, each written as it arrives (see [`write_new`] for the overwrite
/// rule, [`npy::write_npy_blocks`] for the count check).
///
/// # Errors
/// As [`write_new`] and [`npy::write_npy_blocks`].
pub fn write_npy_blocks<T: NpyElement, B: AsRef<[T]>, I: Iterator<Item = B>>(
    path: &Path,
    shape: &[usize],
    blocks: I,
    force: bool,
) -> Result<()> {
    let mut blocks = Some(blocks);
    write_new_with(path, force, &mut |w| match blocks.take() {
        Some(b) => npy::write_npy_blocks(w, shape, b),
        None => unreachable!("write_new_with calls its writer once"),
    })
}

/// Writes an array as `.npy` from its elements in C order, streamed to the
/// file (see [`write_new`] for the overwrite rule, [`npy::write_npy_iter`]
/// for the count check).
///
/// # Errors
/// As [`write_new`] and [`npy::write_npy_iter`].
pub fn write_npy_iter<T: NpyElement, I: Iterator<Item = T>>(
    path: &Path,
    shape: &[usize],
    values: I,
    force: bool,
) -> Result<()> {
    let mut values = Some(values);
    write_new_with(path, force, &mut |w| match values.take() {
        Some(v) => npy::write_npy_iter(w, shape, v),
        None => unreachable!("write_new_with calls its writer once"),
    })
}

/// A 2-D `f64` `.npy` filled by positions, one row segment at a time,
/// rather than in order: how an exact kernel is assembled from tiles that
/// were computed elsewhere (job arrays, MPI ranks).
///
/// [`create`](Self::create) writes the header at the temporary sibling
/// name ([`temp_path`]) and sizes the file; [`open`](Self::open) opens
/// that temporary from another process; [`finish`](Self::finish) syncs it
/// and renames it to its name. A creator dropped unfinished removes the
/// temporary, so a failed assembly leaves no file under either name.
#[derive(Debug)]
pub struct NpyPositioned {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<fs::File>,
    shape: [usize; 2],
    offset: u64,
    owner: bool,
    buf: Vec<u8>,
}

impl NpyPositioned {
    fn with(
        path: &Path,
        tmp: PathBuf,
        file: fs::File,
        shape: [usize; 2],
        header: usize,
        owner: bool,
    ) -> Self {
        Self {
            path: path.to_path_buf(),
            tmp,
            file: Some(file),
            shape,
            offset: header as u64,
            owner,
            buf: Vec::new(),
        }
    }

    fn layout(shape: [usize; 2]) -> Result<(Vec<u8>, u64)> {
        let header = npy::header_bytes::<f64>(&shape)?;
        let bytes = (shape[0] as u128) * (shape[1] as u128) * 8 + header.len() as u128;
        let total = u64::try_from(bytes).map_err(|_| DataError::Shape {
            what: "array to write".into(),
            expected: "fewer than 2^64 bytes".into(),
            got: format!("{shape:?}"),
        })?;
        Ok((header, total))
    }

    /// Creates the temporary file of an `(rows, cols)` array at `path`'s
    /// sibling (refusing an existing `path` unless `force`), with its
    /// header; every value reads 0 until written.
    ///
    /// # Errors
    /// [`DataError::Io`] naming the path.
    pub fn create(path: &Path, shape: [usize; 2], force: bool) -> Result<Self> {
        check_writable(path, force)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let (header, total) = Self::layout(shape)?;
        let tmp = temp_path(path);
        let mut file = fs::File::create(&tmp).map_err(io(&tmp))?;
        // The length first, then the header: no page of the file is ever
        // written whole by this handle before the ranks write their rows
        // (an NFS client may write back a page it holds as up to date).
        let result = (|| {
            file.set_len(total)?;
            file.write_all(&header)
        })();
        if let Err(source) = result {
            let _ = fs::remove_file(&tmp);
            return Err(DataError::Io { path: tmp, source });
        }
        Ok(Self::with(path, tmp, file, shape, header.len(), true))
    }

    /// Opens the temporary file another process [`create`](Self::create)d
    /// for `path`, checking its length against `shape`.
    ///
    /// # Errors
    /// [`DataError::Io`] naming the temporary; [`DataError::Shape`] for a
    /// file of another length.
    pub fn open(path: &Path, shape: [usize; 2]) -> Result<Self> {
        let (header, total) = Self::layout(shape)?;
        let tmp = temp_path(path);
        let file = fs::OpenOptions::new()
            .write(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        let len = file.metadata().map_err(io(&tmp))?.len();
        if len != total {
            return Err(DataError::Shape {
                what: tmp.display().to_string(),
                expected: format!("{total} bytes"),
                got: format!("{len} bytes"),
            });
        }
        Ok(Self::with(path, tmp, file, shape, header.len(), false))
    }

    /// Writes `values` at row `row`, columns `col..col + values.len()`.
    ///
    /// # Errors
    /// [`DataError::Shape`] for a segment outside the array;
    /// [`DataError::Io`] naming the temporary.
    pub fn write_row(&mut self, row: usize, col: usize, values: &[f64]) -> Result<()> {
        use std::io::{Seek, SeekFrom};
        let [rows, cols] = self.shape;
        if row >= rows || col > cols || values.len() > cols - col {
            return Err(DataError::Shape {
                what: format!("segment of {}", self.path.display()),
                expected: format!("within ({rows}, {cols})"),
                got: format!("row {row}, columns {col}..{}", col + values.len()),
            });
        }
        self.buf.clear();
        for v in values {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        let at = self.offset + 8 * (row as u64 * cols as u64 + col as u64);
        let file = self.file.as_mut().expect("open until finished");
        file.seek(SeekFrom::Start(at))
            .and_then(|_| file.write_all(&self.buf))
            .map_err(io(&self.tmp))
    }

    /// Syncs this process's writes; the creator then renames the file to
    /// its name (call it there after every process has synced).
    ///
    /// # Errors
    /// [`DataError::Io`] naming the path.
    pub fn finish(mut self) -> Result<()> {
        let file = self.file.take().expect("open until finished");
        file.sync_all().map_err(io(&self.tmp))?;
        drop(file);
        if self.owner {
            fs::rename(&self.tmp, &self.path).map_err(io(&self.path))?;
            self.owner = false;
        }
        Ok(())
    }
}

impl Drop for NpyPositioned {
    fn drop(&mut self) {
        if self.owner {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Loads CIFAR-10 from a directory holding the six official batch files
/// (either directly or in `cifar-10-batches-bin/`), each exactly
/// [`cifar::FILE_BYTES`] long.
///
/// # Errors
/// [`DataError::Io`] for a missing file, [`DataError::Length`] for a file of
/// the wrong size, parse errors.
pub fn load_cifar10(dir: &Path) -> Result<Cifar10> {
    let nested = dir.join(cifar::ARCHIVE_DIR);
    let base = if nested.is_dir() {
        nested
    } else {
        dir.to_path_buf()
    };
    let load = |name: &str| -> Result<cifar::ImageSet> {
        let path = base.join(name);
        let len = fs::metadata(&path).map_err(io(&path))?.len();
        if len != cifar::FILE_BYTES {
            return Err(DataError::Length {
                what: path.display().to_string(),
                expected: cifar::FILE_BYTES,
                got: len,
            });
        }
        cifar::parse_batch(&read(&path)?, &path.display().to_string())
    };
    let mut train = load(cifar::TRAIN_FILES[0])?;
    for name in &cifar::TRAIN_FILES[1..] {
        train.extend(&load(name)?)?;
    }
    let test = load(cifar::TEST_FILE)?;
    Ok(Cifar10 { train, test })
}
