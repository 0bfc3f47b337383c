//! Training inputs of feature fits: in memory, or read from a `.npy` file
//! by ranges of rows (`ntk_data::files::NpyRows`) so that no process holds
//! all of them — `ntk fit|eval --features`, `ntk gram` and the MPI path
//! stream `.npy` training inputs this way, and one machine fits data larger
//! than its memory.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Mutex;

use crate::arrays::Samples;
use crate::error::{Result, usage};
use ntk_data::files::NpyRows;
use ntk_features::Shape;

/// Rows read from the file at a time when streaming all of them.
pub(crate) const READ_ROWS: usize = 2048;

/// Training inputs read from a `.npy` file on demand.
#[derive(Debug)]
pub(crate) struct FileSamples {
    /// The reader and its two buffers (bytes, values), reused by every read.
    rows: Mutex<(NpyRows, Vec<u8>, Vec<f64>)>,
    /// Samples in the file.
    pub(crate) all: usize,
    /// Samples used (the first `n`).
    pub(crate) n: usize,
    pub(crate) shape: Shape,
    what: String,
}

impl FileSamples {
    /// Opens `path` (a sample-major `(n, d)` or `(n, H, W, C)` array),
    /// keeping its first `n_train` samples if given.
    pub(crate) fn open(path: &Path, n_train: Option<usize>, flag: &str) -> Result<Self> {
        let rows = NpyRows::open(path)?;
        let what = path.display().to_string();
        let shape = match rows.shape() {
            [_, d] if *d > 0 => Shape::Vector { dim: *d },
            [_, h, w, c] if h * w * c > 0 => Shape::Image {
                h: *h,
                w: *w,
                c: *c,
            },
            other => {
                return Err(usage(format!(
                    "{what}: expected shape (n, d) or (n, H, W, C), found {other:?}"
                )));
            }
        };
        let all = rows.shape()[0];
        if all == 0 {
            return Err(ntk_data::DataError::Empty {
                what: format!("{what} (shape {:?})", rows.shape()),
            }
            .into());
        }
        let n = match n_train {
            Some(k) if k > all => {
                return Err(usage(format!("{flag} {k}: {what} has only {all} samples")));
            }
            Some(k) => k,
            None => all,
        };
        Ok(Self {
            rows: Mutex::new((rows, Vec::new(), Vec::new())),
            all,
            n,
            shape,
            what,
        })
    }
}

impl FileSamples {
    /// Samples `a..b` through the reused buffers, checked finite, handed to
    /// `f` (the reader stays locked meanwhile: `f` must not read again).
    fn read_into(
        &self,
        a: usize,
        b: usize,
        size: usize,
        f: &mut dyn FnMut(&[f64]) -> Result<()>,
    ) -> Result<()> {
        let mut guard = self
            .rows
            .lock()
            .map_err(|_| usage("the input file's reader was poisoned"))?;
        let (rows, raw, v) = &mut *guard;
        rows.read_rows_into(a, b, raw, v)?;
        if let Some(k) = v.iter().position(|x| !x.is_finite()) {
            return Err(usage(format!(
                "{}: non-finite value (NaN or inf) in sample {}, element {}",
                self.what,
                a + k / size,
                k % size
            )));
        }
        f(v)
    }
}

/// Training inputs, wherever they are.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Inputs<'a> {
    Memory(&'a Samples),
    File(&'a FileSamples),
}

impl Inputs<'_> {
    pub(crate) fn n(&self) -> usize {
        match self {
            Self::Memory(s) => s.n,
            Self::File(f) => f.n,
        }
    }

    pub(crate) fn shape(&self) -> Shape {
        match self {
            Self::Memory(s) => s.shape,
            Self::File(f) => f.shape,
        }
    }

    /// Values per sample.
    pub(crate) fn sample_len(&self) -> usize {
        match self.shape() {
            Shape::Vector { dim } => dim,
            Shape::Image { h, w, c } => h * w * c,
        }
    }

    /// Samples `a..b`, sample-major; a file's values are checked finite.
    pub(crate) fn rows(&self, a: usize, b: usize) -> Result<Cow<'_, [f64]>> {
        let size = self.sample_len();
        match self {
            Self::Memory(s) => Ok(Cow::Borrowed(&s.data[a * size..b * size])),
            Self::File(f) => {
                let mut v = Vec::new();
                f.read_into(a, b, size, &mut |vals| {
                    v.extend_from_slice(vals);
                    Ok(())
                })?;
                Ok(Cow::Owned(v))
            }
        }
    }

    /// The samples `idx`, in that order.
    pub(crate) fn pick(&self, idx: &[usize]) -> Result<Vec<f64>> {
        let mut out = Vec::with_capacity(idx.len() * self.sample_len());
        for &i in idx {
            out.extend_from_slice(&self.rows(i, i + 1)?);
        }
        Ok(out)
    }

    /// Calls `f(start, values)` on consecutive ranges of at most
    /// [`READ_ROWS`] samples covering `a..b` (a file's through its reused
    /// buffers: streaming allocates nothing per range).
    pub(crate) fn each_range(
        &self,
        a: usize,
        b: usize,
        f: &mut dyn FnMut(usize, &[f64]) -> Result<()>,
    ) -> Result<()> {
        let size = self.sample_len();
        let mut at = a;
        while at < b {
            let end = (at + READ_ROWS).min(b);
            match self {
                Self::Memory(s) => f(at, &s.data[at * size..end * size])?,
                Self::File(file) => file.read_into(at, end, size, &mut |v| f(at, v))?,
            }
            at = end;
        }
        Ok(())
    }
}
