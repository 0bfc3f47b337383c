//! Reading inputs and targets from `.npy` or `.csv`, with the checks a
//! user needs to see before any kernel is computed.

use std::path::Path;

use crate::error::{CliError, Result, usage};
use faer::MatRef;
use ntk_data::npy::{NpyArray, NpyData};
use ntk_data::{DataError, files};
use ntk_features::{Input, Shape};

/// Samples in f64: `(n, d)` vectors or `(n, H, W, C)` images, C order.
#[derive(Debug, Clone)]
pub(crate) struct Samples {
    pub(crate) data: Vec<f64>,
    pub(crate) n: usize,
    pub(crate) shape: Shape,
}

impl Samples {
    pub(crate) fn input(&self) -> Input<'_> {
        match self.shape {
            Shape::Vector { dim } => Input::Vectors(faer::MatRef::from_column_major_slice(
                &self.data, dim, self.n,
            )),
            Shape::Image { h, w, c } => Input::Images {
                data: &self.data,
                n: self.n,
                h,
                w,
                c,
            },
        }
    }

    /// The array shape, sample axis first.
    pub(crate) fn dims(&self) -> Vec<usize> {
        match self.shape {
            Shape::Vector { dim } => vec![self.n, dim],
            Shape::Image { h, w, c } => vec![self.n, h, w, c],
        }
    }

    pub(crate) fn from_array(a: &NpyArray, what: &str) -> Result<Self> {
        let shape = match a.shape.as_slice() {
            [_, d] => Shape::Vector { dim: *d },
            [_, h, w, c] => Shape::Image {
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
        let n = a.shape[0];
        if a.is_empty() {
            return Err(DataError::Empty {
                what: format!("{what} (shape {:?})", a.shape),
            }
            .into());
        }
        let data = a.to_f64();
        if let Some(k) = data.iter().position(|v| !v.is_finite()) {
            let per = data.len() / n;
            return Err(usage(format!(
                "{what}: non-finite value (NaN or inf) in sample {}, element {}",
                k / per,
                k % per
            )));
        }
        Ok(Self { data, n, shape })
    }
}

/// Reads an array from `.npy`, or from `.csv` (a header line is detected
/// and skipped). Any other extension is refused.
pub(crate) fn read_array(path: &Path) -> Result<NpyArray> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("npy") => Ok(files::read_npy(path)?),
        Some("csv") => {
            let table = match files::read_csv(path, false) {
                Err(DataError::Csv { line: 1, .. }) => files::read_csv(path, true)?,
                other => other?,
            };
            let shape = if table.ncols == 1 {
                vec![table.nrows]
            } else {
                vec![table.nrows, table.ncols]
            };
            Ok(NpyArray {
                shape,
                data: NpyData::F64(table.data),
            })
        }
        _ => Err(usage(format!(
            "{}: not a .npy or .csv file (by its extension)",
            path.display()
        ))),
    }
}

pub(crate) fn read_samples(path: &Path) -> Result<Samples> {
    Samples::from_array(&read_array(path)?, &path.display().to_string())
}

/// Class labels of shape `(n,)` or `(n, 1)`: whole numbers ≥ 0, from an
/// integer `.npy` (u8, i32, i64), a float `.npy` or a CSV column.
pub(crate) fn read_labels(path: &Path) -> Result<Vec<usize>> {
    let a = read_array(path).map_err(|e| match e {
        // Class names ("cat", "dog") are the usual cause: say what to do.
        CliError::Data(DataError::Csv {
            what, line, cell, ..
        }) => usage(format!(
            "{what}, line {line}: class label '{cell}' is not a number; labels must be \
             whole numbers 0, 1, 2, … (map class names to integers first)"
        )),
        other => other,
    })?;
    let what = path.display().to_string();
    check_vector_shape(&a, &what)?;
    Ok(a.to_labels(&what)?)
}

/// Real targets `(n,)` or `(n, k)`, returned as `(k, n)` row-major values
/// (`k` outputs).
pub(crate) fn read_targets(path: &Path) -> Result<(usize, usize, Vec<f64>)> {
    let a = read_array(path)?;
    let what = path.display().to_string();
    let (n, k) = match a.shape.as_slice() {
        [n] => (*n, 1),
        [n, k] => (*n, *k),
        other => {
            return Err(usage(format!(
                "{what}: targets must have shape (n,) or (n, k), found {other:?}"
            )));
        }
    };
    let v = a.to_f64();
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(usage(format!("{what}: non-finite target at index {i}")));
    }
    if n == 0 || k == 0 {
        return Err(DataError::Empty { what }.into());
    }
    Ok((n, k, v))
}

fn check_vector_shape(a: &NpyArray, what: &str) -> Result<()> {
    match a.shape.as_slice() {
        [n] | [n, 1] if *n > 0 => Ok(()),
        [0] | [0, 1] => Err(DataError::Empty { what: what.into() }.into()),
        other => Err(usage(format!(
            "{what}: labels must have shape (n,), found {other:?}"
        ))),
    }
}

pub(crate) fn same_shape(a: &Samples, b: &Samples, what: &str) -> Result<()> {
    if a.shape != b.shape {
        return Err(usage(format!(
            "{what} has samples of shape {}, the training inputs {}",
            b.shape, a.shape
        )));
    }
    Ok(())
}

/// `(n1, n2)` row-major values of a kernel matrix.
pub(crate) fn row_major(m: MatRef<'_, f64>) -> Vec<f64> {
    let mut v = Vec::with_capacity(m.nrows() * m.ncols());
    for i in 0..m.nrows() {
        v.extend((0..m.ncols()).map(|j| m[(i, j)]));
    }
    v
}
