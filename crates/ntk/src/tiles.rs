//! Exact kernels in tiles: the tile files of `ntk kernel --tile I/N`
//! (format version 1, docs/FORMATS.md) and the writing of tiles into the
//! output `.npy` files by row segments, shared by `ntk kernel merge` and
//! the MPI ranks of `ntk kernel`.
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `NTKTILE\n` |
//! | 4 | format version, u32 little-endian (= 1) |
//! | 8 | header length `H`, u64 little-endian |
//! | H | UTF-8 JSON header: the problem, the tile's columns |
//! | … | per column `j` of the tile: its NNGP rows, then its NTK rows, f64 |
//! | 8 | FNV-1a-64 of every byte before it, u64 little-endian |
//!
//! A column holds rows `0..n1`, or `0..=j` for the symmetric `K(X, X)`
//! (`"upper": true`).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::Path;

use crate::error::{Result, usage};
use crate::stream::{FNV_OFFSET, fnv_more};
use faer::Mat;
use ntk_data::files::NpyPositioned;
use ntk_features::Tile;
use serde_json::{Map, Value, json};

const MAGIC: &[u8; 8] = b"NTKTILE\n";
pub(crate) const VERSION: u32 = 1;

/// Entries per kernel of a piece a writer or reader holds at once (128 MiB
/// per kernel): memory stays bounded whatever the tile.
pub(crate) const PIECE_ENTRIES: usize = 1 << 24;

fn bad(what: &Path, reason: impl std::fmt::Display) -> crate::error::CliError {
    usage(format!(
        "{}: not a valid ntk kernel tile file: {reason}",
        what.display()
    ))
}

fn io_err(what: &Path) -> impl Fn(std::io::Error) -> crate::error::CliError + '_ {
    move |e| usage(format!("{}: {e}", what.display()))
}

/// Writes `tile`'s entries into the outputs: row segments `(i, j)` and, for
/// the symmetric kernel, the mirrored `(j, i)` (each a contiguous run of
/// the C-order file).
pub(crate) fn write_tile(
    tile: &Tile,
    nngp: Option<&mut NpyPositioned>,
    ntk: Option<&mut NpyPositioned>,
) -> Result<()> {
    let start = tile.columns.start;
    let mut row = Vec::with_capacity(tile.columns.len());
    for (out, m) in [(nngp, &tile.nngp), (ntk, &tile.ntk)] {
        let Some(out) = out else { continue };
        for i in 0..m.nrows() {
            let from = if tile.upper { i.max(start) } else { start };
            if from >= tile.columns.end {
                continue;
            }
            row.clear();
            row.extend((from..tile.columns.end).map(|j| m[(i, j - start)]));
            out.write_row(i, from, &row)?;
        }
        if tile.upper {
            for j in tile.columns.clone() {
                let col = m.col(j - start);
                row.clear();
                row.extend((0..j).map(|i| col[i]));
                if !row.is_empty() {
                    out.write_row(j, 0, &row)?;
                }
            }
        }
    }
    Ok(())
}

/// A tile file being written: its header first, then pieces of columns in
/// order, then the checksum ([`TileWriter::finish`]).
pub(crate) struct TileWriter<'w> {
    out: &'w mut dyn Write,
    hash: u64,
    upper: bool,
    next: usize,
    end: usize,
}

impl<'w> TileWriter<'w> {
    /// Starts a file of the tile `columns` of `problem` (a JSON object of
    /// what every tile of one array shares).
    pub(crate) fn start(
        out: &'w mut dyn Write,
        problem: &Map<String, Value>,
        upper: bool,
        tile: (usize, usize),
        columns: Range<usize>,
    ) -> Result<Self> {
        let mut header = problem.clone();
        header.insert("format".into(), json!("ntk-kernel-tile"));
        header.insert("version".into(), json!(VERSION));
        header.insert("tile".into(), json!([tile.0, tile.1]));
        header.insert("columns".into(), json!([columns.start, columns.end]));
        header.insert(
            "written_by".into(),
            json!(concat!("ntk ", env!("CARGO_PKG_VERSION"))),
        );
        let header = Value::Object(header).to_string();
        let mut w = Self {
            out,
            hash: FNV_OFFSET,
            upper,
            next: columns.start,
            end: columns.end,
        };
        let mut head = Vec::new();
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&VERSION.to_le_bytes());
        head.extend_from_slice(&(header.len() as u64).to_le_bytes());
        head.extend_from_slice(header.as_bytes());
        w.put(&head)?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.hash = fnv_more(self.hash, bytes.iter().copied());
        self.out
            .write_all(bytes)
            .map_err(|e| usage(format!("writing a tile file: {e}")))
    }

    /// The next piece of columns, in order.
    pub(crate) fn piece(&mut self, tile: &Tile) -> Result<()> {
        assert_eq!(tile.columns.start, self.next, "pieces in order");
        assert_eq!(tile.upper, self.upper);
        let mut bytes = Vec::new();
        for j in tile.columns.clone() {
            let c = j - tile.columns.start;
            let rows = tile.rows_of(j);
            bytes.clear();
            for m in [&tile.nngp, &tile.ntk] {
                for i in 0..rows {
                    bytes.extend_from_slice(&m[(i, c)].to_le_bytes());
                }
            }
            self.put(&bytes)?;
        }
        self.next = tile.columns.end;
        Ok(())
    }

    /// Ends the file with its checksum.
    pub(crate) fn finish(self) -> Result<()> {
        assert_eq!(self.next, self.end, "every column written");
        let sum = self.hash.to_le_bytes();
        self.out
            .write_all(&sum)
            .map_err(|e| usage(format!("writing a tile file: {e}")))
    }
}

/// A tile file, checked: its header and where its columns start.
pub(crate) struct TileFile {
    pub(crate) problem: Map<String, Value>,
    pub(crate) columns: Range<usize>,
    pub(crate) upper: bool,
    pub(crate) n1: usize,
    data: u64,
}

impl TileFile {
    /// Reads `path`'s header and checks its length and checksum (the whole
    /// file is read once, in 1 MiB buffers).
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let mut f = File::open(path).map_err(io_err(path))?;
        let len = f.metadata().map_err(io_err(path))?.len();
        if len < 28 {
            return Err(bad(path, "shorter than a header"));
        }
        let mut head = [0u8; 20];
        f.read_exact(&mut head).map_err(io_err(path))?;
        if &head[..8] != MAGIC {
            return Err(bad(path, "no NTKTILE magic"));
        }
        let version = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(bad(
                path,
                format!("format version {version}, this ntk reads {VERSION}"),
            ));
        }
        let hlen = u64::from_le_bytes(head[12..20].try_into().expect("8 bytes"));
        if hlen > len - 28 {
            return Err(bad(path, "header length beyond the file"));
        }
        // The checksum over everything before the last 8 bytes.
        f.seek(SeekFrom::Start(0)).map_err(io_err(path))?;
        let mut r = BufReader::with_capacity(1 << 20, &mut f);
        let mut hash = FNV_OFFSET;
        let mut left = len - 8;
        let mut buf = vec![0u8; 1 << 20];
        while left > 0 {
            let k = (buf.len() as u64).min(left) as usize;
            r.read_exact(&mut buf[..k]).map_err(io_err(path))?;
            hash = fnv_more(hash, buf[..k].iter().copied());
            left -= k as u64;
        }
        let mut tail = [0u8; 8];
        r.read_exact(&mut tail).map_err(io_err(path))?;
        if u64::from_le_bytes(tail) != hash {
            return Err(bad(
                path,
                "checksum mismatch: the file is damaged or truncated",
            ));
        }
        drop(r);
        let mut header = vec![0u8; hlen as usize];
        f.seek(SeekFrom::Start(20)).map_err(io_err(path))?;
        f.read_exact(&mut header).map_err(io_err(path))?;
        let Value::Object(mut problem) = serde_json::from_slice(&header)
            .map_err(|e| bad(path, format!("header is not JSON: {e}")))?
        else {
            return Err(bad(path, "header is not a JSON object"));
        };
        let pair = |v: Option<Value>, k: &str| -> Result<(usize, usize)> {
            v.as_ref()
                .and_then(Value::as_array)
                .filter(|a| a.len() == 2)
                .and_then(|a| Some((a[0].as_u64()? as usize, a[1].as_u64()? as usize)))
                .ok_or_else(|| bad(path, format!("'{k}' is missing or not two integers")))
        };
        let (c0, c1) = pair(problem.remove("columns"), "columns")?;
        // Which tile of how many is bookkeeping, not the problem.
        pair(problem.remove("tile"), "tile")?;
        problem.remove("written_by");
        let (n1, n2) = pair(problem.get("shape").cloned(), "shape")?;
        let upper = problem
            .get("upper")
            .and_then(Value::as_bool)
            .ok_or_else(|| bad(path, "'upper' is missing"))?;
        if c0 > c1 || c1 > n2 || n1 == 0 || n2 == 0 || (upper && n1 != n2) {
            return Err(bad(
                path,
                format!("columns {c0}..{c1} of shape ({n1}, {n2})"),
            ));
        }
        // The data's length follows from the header: a mismatch is damage.
        let (a, b) = (c0 as u128, c1 as u128);
        let values = if upper {
            b.checked_mul(b + 1).map(|bb| (bb - a * (a + 1)) / 2)
        } else {
            (b - a).checked_mul(n1 as u128)
        };
        let bytes = values
            .and_then(|v| v.checked_mul(16))
            .and_then(|v| v.checked_add(28 + u128::from(hlen)));
        if bytes != Some(u128::from(len)) {
            return Err(bad(path, "its length does not match its header"));
        }
        Ok(Self {
            problem,
            columns: c0..c1,
            upper,
            n1,
            data: 20 + hlen,
        })
    }

    /// Streams the file's columns as tiles of at most [`PIECE_ENTRIES`]
    /// entries per kernel (one column at least) into `each`.
    pub(crate) fn pieces(
        &self,
        path: &Path,
        each: &mut dyn FnMut(&Tile) -> Result<()>,
    ) -> Result<()> {
        let mut f = File::open(path).map_err(io_err(path))?;
        f.seek(SeekFrom::Start(self.data)).map_err(io_err(path))?;
        let mut r = BufReader::with_capacity(1 << 20, f);
        let mut at = self.columns.start;
        let mut bytes = Vec::new();
        while at < self.columns.end {
            let rows = if self.upper {
                self.columns.end
            } else {
                self.n1
            };
            let width = (PIECE_ENTRIES / rows).max(1).min(self.columns.end - at);
            let mut tile = Tile {
                columns: at..at + width,
                upper: self.upper,
                nngp: Mat::zeros(rows, width),
                ntk: Mat::zeros(rows, width),
            };
            for j in tile.columns.clone() {
                let c = j - at;
                let n = tile.rows_of(j);
                bytes.resize(16 * n, 0);
                r.read_exact(&mut bytes).map_err(io_err(path))?;
                let mut vals = bytes
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")));
                for m in [&mut tile.nngp, &mut tile.ntk] {
                    for i in 0..n {
                        m[(i, c)] = vals.next().expect("16 n bytes");
                    }
                }
            }
            each(&tile)?;
            at += width;
        }
        Ok(())
    }
}
