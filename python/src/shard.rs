//! `ntk.distributed`'s half in Rust: one rank's exact sums of a primal
//! feature ridge (`shard_rows`, called by `_FeatureMap.shard`) and
//! `_Shard`, the sums as they travel between ranks (bytes, `merge`,
//! `finish`). The bindings hold no MPI: mpi4py moves the bytes.

use crate::call::{Failure, run, stream, to_numpy, value_error};
use faer::{Mat, Par};
use ntk_pipeline::{
    AnyMap, CHUNK, FeatureRidge, Lambda, Layout, SCALE_SAMPLES, Shard, Targets, ValFeatures,
};
use ntk_solve::{FixedGram, FixedScale};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// The sums of a range of chunks, its samples streamed as the CLI's
/// `featurise_shard` streams them: the first samples outside the range
/// (the grid), then the range.
#[allow(clippy::too_many_arguments)]
pub(crate) fn shard_rows<X: Copy + Into<f64> + Sync>(
    map: &AnyMap,
    first: &[X],
    rows: &[X],
    start: usize,
    targets: Targets<'_>,
    alpha: f64,
    range: std::ops::Range<usize>,
    par: Par,
    stop: &dyn Fn() -> bool,
) -> Result<Shard, Failure> {
    let n = targets.y.ncols();
    let size = map.sample_len();
    let mut fr =
        FeatureRidge::for_chunks(map, targets, Lambda::Given(alpha), CHUNK, range.clone())?;
    let (a, b) = ((range.start * CHUNK).min(n), (range.end * CHUNK).min(n));
    let s = SCALE_SAMPLES.min(n);
    if start != a || rows.len() != (b - a) * size || first.len() != s * size {
        return Err(Failure::Usage(format!(
            "a shard of samples {a}..{b} (and the first {s}) was given {} rows from sample \
             {start} and {} first rows",
            rows.len() / size.max(1),
            first.len() / size.max(1)
        )));
    }
    let mut segments: Vec<(std::ops::Range<usize>, &[X], usize)> = Vec::new();
    if a > 0 {
        segments.push((0..s.min(a), first, 0));
    }
    if b < s {
        segments.push((b..s, first, 0));
    }
    if b > a {
        segments.push((a..b, rows, a));
    }
    for (seg, src, base) in segments {
        let xs = &src[(seg.start - base) * size..(seg.end - base) * size];
        let mut st = stream(par, stop);
        map.stream(xs, &mut st, &mut |i, z| {
            Ok(fr.add(seg.start + i, z, par)?)
        })?;
    }
    Ok(fr.into_shard()?)
}

/// One rank's (or several merged ranks') exact sums of a primal feature
/// ridge with a given λ, as `ntk.distributed` moves them between ranks.
#[pyclass(name = "_Shard", module = "ntk._ntk")]
pub(crate) struct PyShard(pub(crate) Option<Shard>);

const SHARD_MAGIC: &[u8; 8] = b"NTKSHRD1";

impl PyShard {
    fn get(&self) -> PyResult<&Shard> {
        self.0
            .as_ref()
            .ok_or_else(|| PyValueError::new_err("this shard was finished already"))
    }
}

#[pymethods]
impl PyShard {
    /// The sums as bytes (sent between the ranks of one job; not a file
    /// format).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let sh = self.get()?;
        if !sh.val_indices().is_empty() {
            return Err(PyValueError::new_err("a shard with validation samples"));
        }
        let l = sh.layout();
        let sums = sh.sums();
        let mut out = Vec::with_capacity(64 + 16 * FixedGram::word_count(l.dim, l.outputs));
        out.extend_from_slice(SHARD_MAGIC);
        let f32s = matches!(sh.val_features(), ntk_pipeline::Block::F32(_));
        for v in [
            l.samples,
            l.chunk,
            l.dim,
            l.outputs,
            sums.samples(),
            usize::from(f32s),
        ] {
            out.extend_from_slice(&(v as u64).to_le_bytes());
        }
        out.extend_from_slice(&sums.scale().gram.to_le_bytes());
        out.extend_from_slice(&sums.scale().cross.to_le_bytes());
        out.extend_from_slice(&(sh.ranges().len() as u64).to_le_bytes());
        for r in sh.ranges() {
            out.extend_from_slice(&(r.start as u64).to_le_bytes());
            out.extend_from_slice(&(r.end as u64).to_le_bytes());
        }
        for w in sums.words() {
            out.extend_from_slice(&w.to_le_bytes());
        }
        Ok(PyBytes::new(py, &out))
    }

    /// The inverse of `to_bytes`.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        let bad = || PyValueError::new_err("not the bytes of a shard");
        if data.len() < 8 + 6 * 8 + 8 + 8 || &data[..8] != SHARD_MAGIC {
            return Err(bad());
        }
        let mut at = 8;
        let u64_at = |at: &mut usize| -> PyResult<u64> {
            let v = data.get(*at..*at + 8).ok_or_else(bad)?;
            *at += 8;
            Ok(u64::from_le_bytes(v.try_into().expect("8 bytes")))
        };
        let mut v = [0usize; 6];
        for x in &mut v {
            *x = u64_at(&mut at)? as usize;
        }
        let [samples, chunk, dim, outputs, fitted, f32s] = v;
        let scale = FixedScale {
            gram: i32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes")),
            cross: i32::from_le_bytes(data[at + 4..at + 8].try_into().expect("4 bytes")),
        };
        at += 8;
        let count = u64_at(&mut at)? as usize;
        let mut ranges = Vec::new();
        for _ in 0..count.min(data.len() / 16) {
            let a = u64_at(&mut at)? as usize;
            let b = u64_at(&mut at)? as usize;
            ranges.push(a..b);
        }
        let words = FixedGram::word_count(dim, outputs);
        if ranges.len() != count || data.len() != at + 16 * words {
            return Err(bad());
        }
        let sums = FixedGram::from_words(
            dim,
            outputs,
            scale,
            fitted,
            data[at..]
                .chunks_exact(16)
                .map(|c| i128::from_le_bytes(c.try_into().expect("16 bytes"))),
        )
        .map_err(value_error)?;
        let layout = Layout {
            samples,
            chunk,
            dim,
            outputs,
        };
        let val = if f32s == 1 {
            ValFeatures::F32(Mat::zeros(dim, 0))
        } else {
            ValFeatures::F64(Mat::zeros(dim, 0))
        };
        let shard = Shard::from_parts(
            layout,
            ranges,
            sums,
            val,
            Mat::zeros(outputs, 0),
            Vec::new(),
            Vec::new(),
        )
        .map_err(value_error)?;
        Ok(Self(Some(shard)))
    }

    /// Adds another shard of the same problem (any order: the same bits).
    fn merge(&mut self, other: &PyShard) -> PyResult<()> {
        let o = other.get()?;
        let s = self
            .0
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("this shard was finished already"))?;
        s.merge(o).map_err(value_error)
    }

    /// The chunks not in this shard yet, as `(start, end)` ranges.
    fn missing(&self) -> PyResult<Vec<(usize, usize)>> {
        Ok(self
            .get()?
            .missing()
            .into_iter()
            .map(|r| (r.start, r.end))
            .collect())
    }

    /// The ridge weights `(D′, k)` once every chunk is in (consumes the
    /// sums).
    #[pyo3(signature = (alpha, threads=None))]
    fn finish<'py>(
        &mut self,
        py: Python<'py>,
        alpha: f64,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let sh = self
            .0
            .take()
            .ok_or_else(|| PyValueError::new_err("this shard was finished already"))?;
        let fitted = run(py, threads, move |par, _| {
            Ok(sh.finish(Lambda::Given(alpha), par)?)
        })?;
        to_numpy(py, fitted.weights.as_ref(), false)
    }
}
