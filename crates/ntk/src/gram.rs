//! Accumulator files of `ntk gram` (format version 1, documented in
//! docs/FORMATS.md): one shard's exact feature sums
//! (`ntk_pipeline::Shard`) with the problem they belong to, so that merges
//! refuse shards of other problems and `ntk fit --gram` needs no other
//! input.
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `NTKGRAM\n` |
//! | 4 | format version, u32 little-endian (= 1) |
//! | 8 | header length `H`, u64 little-endian |
//! | H | UTF-8 JSON header: the problem, the chunk ranges, the counts |
//! | 16·W | the fixed-point sums, `W` i128 little-endian (panels, then `ΦYᵀ`) |
//! | 8·m | validation samples' indices, u64 |
//! | 8·m | their class labels, u64 (classification only) |
//! | 8·k·m | their targets, f64, sample-major |
//! | s·D·m | their features, f32 or f64 (`dtype`), sample-major |
//! | 8 | FNV-1a-64 of every byte before it, u64 little-endian |

use std::ops::Range;
use std::path::Path;

use crate::error::{Result, usage};
use crate::stream::fingerprint;
use faer::Mat;
use ntk_pipeline::{Block, Layout, Shard, ValFeatures};
use ntk_solve::{FixedGram, FixedScale};
use serde_json::{Map, Value, json};

const MAGIC: &[u8; 8] = b"NTKGRAM\n";
pub(crate) const VERSION: u32 = 1;

/// A shard and the problem it belongs to.
pub(crate) struct GramFile {
    /// What every shard of one job array shares (architecture, input
    /// shape, feature spec, task, λ rule, data fingerprint, layout, dtype,
    /// grid), as a JSON object.
    pub(crate) problem: Map<String, Value>,
    pub(crate) shard: Shard,
}

/// The bits of `x` as 16 hex digits: JSON numbers need not round-trip.
pub(crate) fn f64_bits(x: f64) -> String {
    format!("{:016x}", x.to_bits())
}

pub(crate) fn parse_bits(v: &Value) -> Option<f64> {
    v.as_str()
        .and_then(|s| u64::from_str_radix(s, 16).ok())
        .map(f64::from_bits)
}

fn bad(what: &Path, reason: impl std::fmt::Display) -> crate::error::CliError {
    usage(format!(
        "{}: not a valid ntk accumulator file: {reason}",
        what.display()
    ))
}

impl GramFile {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let s = &self.shard;
        let mut header = self.problem.clone();
        header.insert("format".into(), json!("ntk-gram"));
        header.insert("version".into(), json!(VERSION));
        header.insert(
            "ranges".into(),
            json!(
                s.ranges()
                    .iter()
                    .map(|r| [r.start, r.end])
                    .collect::<Vec<_>>()
            ),
        );
        header.insert("fitted".into(), json!(s.sums().samples()));
        header.insert("validation".into(), json!(s.val_indices().len()));
        header.insert(
            "written_by".into(),
            json!(concat!("ntk ", env!("CARGO_PKG_VERSION"))),
        );
        let header = Value::Object(header).to_string();
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        for w in s.sums().words() {
            out.extend_from_slice(&w.to_le_bytes());
        }
        for &i in s.val_indices() {
            out.extend_from_slice(&(i as u64).to_le_bytes());
        }
        for &l in s.val_labels() {
            out.extend_from_slice(&(l as u64).to_le_bytes());
        }
        let y = s.val_targets();
        for j in 0..y.ncols() {
            for t in 0..y.nrows() {
                out.extend_from_slice(&y[(t, j)].to_le_bytes());
            }
        }
        match s.val_features() {
            Block::F32(z) => {
                for j in 0..z.ncols() {
                    for r in 0..z.nrows() {
                        out.extend_from_slice(&z[(r, j)].to_le_bytes());
                    }
                }
            }
            Block::F64(z) => {
                for j in 0..z.ncols() {
                    for r in 0..z.nrows() {
                        out.extend_from_slice(&z[(r, j)].to_le_bytes());
                    }
                }
            }
        }
        let sum = fingerprint(out.iter().copied());
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Reads a file written by [`to_bytes`](Self::to_bytes); every failure
    /// names `what`.
    pub(crate) fn from_bytes(bytes: &[u8], what: &Path) -> Result<Self> {
        if bytes.len() < 28 || &bytes[..8] != MAGIC {
            return Err(bad(what, "no NTKGRAM magic"));
        }
        let (body, tail) = bytes.split_at(bytes.len() - 8);
        let stored = u64::from_le_bytes(tail.try_into().expect("8 bytes"));
        if fingerprint(body.iter().copied()) != stored {
            return Err(bad(
                what,
                "checksum mismatch: the file is damaged or truncated",
            ));
        }
        let version = u32::from_le_bytes(body[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(bad(
                what,
                format!("format version {version}, this ntk reads {VERSION}"),
            ));
        }
        let hlen = u64::from_le_bytes(body[12..20].try_into().expect("8 bytes"));
        let hlen = usize::try_from(hlen)
            .ok()
            .filter(|h| 20 + h <= body.len())
            .ok_or_else(|| bad(what, "header length beyond the file"))?;
        let header: Value = serde_json::from_slice(&body[20..20 + hlen])
            .map_err(|e| bad(what, format!("header is not JSON: {e}")))?;
        let Value::Object(mut problem) = header else {
            return Err(bad(what, "header is not a JSON object"));
        };
        let uint = |m: &Map<String, Value>, k: &str| -> Result<usize> {
            m.get(k)
                .and_then(Value::as_u64)
                .and_then(|v| usize::try_from(v).ok())
                .ok_or_else(|| bad(what, format!("'{k}' is missing or not an integer")))
        };
        let int = |m: &Map<String, Value>, k: &str| -> Result<i32> {
            m.get("scale")
                .and_then(|s| s.get(k))
                .and_then(Value::as_i64)
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| bad(what, format!("'scale.{k}' is missing or not an integer")))
        };
        let layout = Layout {
            samples: uint(&problem, "samples")?,
            chunk: uint(&problem, "chunk")?,
            dim: uint(&problem, "dim")?,
            outputs: uint(&problem, "outputs")?,
        };
        if layout.samples == 0 || layout.chunk == 0 || layout.dim == 0 || layout.outputs == 0 {
            return Err(bad(what, "zero samples, chunk, dimension or outputs"));
        }
        let scale = FixedScale {
            gram: int(&problem, "gram")?,
            cross: int(&problem, "cross")?,
        };
        let fitted = uint(&problem, "fitted")?;
        let m = uint(&problem, "validation")?;
        let classify = match problem.get("task").and_then(Value::as_str) {
            Some("classify") => true,
            Some("regress") => false,
            _ => return Err(bad(what, "'task' must be classify or regress")),
        };
        let f32s = match problem.get("dtype").and_then(Value::as_str) {
            Some("f32") => true,
            Some("f64") => false,
            _ => return Err(bad(what, "'dtype' must be f32 or f64")),
        };
        let ranges: Vec<Range<usize>> = problem
            .get("ranges")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .map(|r| {
                        let r = r.as_array()?;
                        let (a, b) = (r.first()?.as_u64()?, r.get(1)?.as_u64()?);
                        (r.len() == 2).then_some(a as usize..b as usize)
                    })
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| bad(what, "'ranges' must be a list of [start, end] pairs"))?;
        // The body's exact size, before anything is allocated.
        let words = FixedGram::word_count(layout.dim, layout.outputs);
        let width = if f32s { 4 } else { 8 };
        let need = words
            .checked_mul(16)
            .and_then(|w| {
                let per =
                    8 + if classify { 8 } else { 0 } + 8 * layout.outputs + width * layout.dim;
                per.checked_mul(m).and_then(|v| v.checked_add(w))
            })
            .ok_or_else(|| bad(what, "sizes overflow"))?;
        let mut rest = &body[20 + hlen..];
        if rest.len() != need {
            return Err(bad(
                what,
                format!("body of {} bytes, the header implies {need}", rest.len()),
            ));
        }
        let mut take = |n: usize| {
            let (a, b) = rest.split_at(n);
            rest = b;
            a
        };
        let sum_bytes = take(16 * words);
        let sums = FixedGram::from_words(
            layout.dim,
            layout.outputs,
            scale,
            fitted,
            sum_bytes
                .chunks_exact(16)
                .map(|c| i128::from_le_bytes(c.try_into().expect("16 bytes"))),
        )
        .map_err(|e| bad(what, e))?;
        let u64s = |b: &[u8]| -> Vec<usize> {
            b.chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")) as usize)
                .collect()
        };
        let idx = u64s(take(8 * m));
        let labels = if classify {
            u64s(take(8 * m))
        } else {
            Vec::new()
        };
        let yb = take(8 * layout.outputs * m);
        let y = Mat::<f64>::from_fn(layout.outputs, m, |t, j| {
            let o = 8 * (j * layout.outputs + t);
            f64::from_le_bytes(yb[o..o + 8].try_into().expect("8 bytes"))
        });
        let zb = take(width * layout.dim * m);
        let z = if f32s {
            ValFeatures::F32(Mat::<f32>::from_fn(layout.dim, m, |r, j| {
                let o = 4 * (j * layout.dim + r);
                f32::from_le_bytes(zb[o..o + 4].try_into().expect("4 bytes"))
            }))
        } else {
            ValFeatures::F64(Mat::<f64>::from_fn(layout.dim, m, |r, j| {
                let o = 8 * (j * layout.dim + r);
                f64::from_le_bytes(zb[o..o + 8].try_into().expect("8 bytes"))
            }))
        };
        let shard =
            Shard::from_parts(layout, ranges, sums, z, y, idx, labels).map_err(|e| bad(what, e))?;
        for k in [
            "format",
            "version",
            "ranges",
            "fitted",
            "validation",
            "written_by",
        ] {
            problem.remove(k);
        }
        Ok(Self { problem, shard })
    }
}
