//! What goes into an exact kernel computation and what comes out: the
//! inputs ([`Input`], with their checks), the result ([`Kernels`]) and its
//! assembly, shared by the vector and image paths.

use crate::error::{FeatureError, Result};
use crate::plan::{MAX_SAMPLE_SIZE, shape_size};
use crate::shape::Shape;
use faer::{Mat, MatRef};

/// Inputs of a kernel computation.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// Vectors `(d, n)`, one sample per column (the memory layout of a
    /// C-order `(n, d)` NumPy array).
    Vectors(MatRef<'a, f64>),
    /// Images in NHWC order: `n·h·w·c` values, sample-major.
    Images {
        /// The values.
        data: &'a [f64],
        /// Samples.
        n: usize,
        /// Height.
        h: usize,
        /// Width.
        w: usize,
        /// Channels.
        c: usize,
    },
}

impl Input<'_> {
    pub(crate) fn shape(&self) -> Shape {
        match *self {
            Self::Vectors(x) => Shape::Vector { dim: x.nrows() },
            Self::Images { h, w, c, .. } => Shape::Image { h, w, c },
        }
    }
    pub(crate) fn len(&self) -> usize {
        match *self {
            Self::Vectors(x) => x.ncols(),
            Self::Images { n, .. } => n,
        }
    }
    pub(crate) fn validate(&self, what: &'static str) -> Result<()> {
        match *self {
            Self::Vectors(x) => {
                if x.nrows() == 0 {
                    return Err(FeatureError::Empty {
                        what: "feature dimension",
                    });
                }
                for j in 0..x.ncols() {
                    for i in 0..x.nrows() {
                        if !x[(i, j)].is_finite() {
                            return Err(FeatureError::NonFinite {
                                what,
                                sample: j,
                                index: i,
                            });
                        }
                    }
                }
            }
            Self::Images { data, n, .. } => {
                let size = shape_size(self.shape())
                    .filter(|&s| s <= MAX_SAMPLE_SIZE)
                    .ok_or(FeatureError::TooLarge {
                        what: "values per image (h·w·c)",
                        limit: MAX_SAMPLE_SIZE,
                    })?;
                if size == 0 {
                    return Err(FeatureError::Empty {
                        what: "image dimensions",
                    });
                }
                let total = n.checked_mul(size).ok_or(FeatureError::TooLarge {
                    what: "values in the batch (n·h·w·c)",
                    limit: usize::MAX,
                })?;
                if data.len() != total {
                    return Err(FeatureError::DimMismatch {
                        what: "image buffer length (n·h·w·c)",
                        expected: total,
                        got: data.len(),
                    });
                }
                if let Some(k) = data.iter().position(|v| !v.is_finite()) {
                    return Err(FeatureError::NonFinite {
                        what,
                        sample: k / size,
                        index: k % size,
                    });
                }
            }
        }
        if self.len() == 0 {
            return Err(FeatureError::Empty { what });
        }
        Ok(())
    }
}

/// Every point's own `(K, Θ)`, by point.
pub(crate) type Diagonal = Vec<(f64, f64)>;

/// Kernel matrices and diagonals.
#[derive(Debug, Clone, PartialEq)]
pub struct Kernels {
    /// NNGP `K(x1_i, x2_j)`, `n1 × n2`.
    pub nngp: Mat<f64>,
    /// NTK `Θ(x1_i, x2_j)`, `n1 × n2`.
    pub ntk: Mat<f64>,
    /// `K(x1_i, x1_i)`.
    pub nngp_diag1: Vec<f64>,
    /// `Θ(x1_i, x1_i)`.
    pub ntk_diag1: Vec<f64>,
    /// `K(x2_j, x2_j)` (equal to the first for the symmetric call).
    pub nngp_diag2: Vec<f64>,
    /// `Θ(x2_j, x2_j)`.
    pub ntk_diag2: Vec<f64>,
}

/// Refuses a result with an infinite or NaN entry (inputs or weights whose
/// products overflow `f64`): an error, never a NaN inside an `Ok`.
pub(crate) fn check_finite(k: &Kernels) -> Result<()> {
    let finite = |m: &Mat<f64>| m.col_iter().all(|c| c.iter().all(|v| v.is_finite()));
    let diags = [&k.nngp_diag1, &k.ntk_diag1, &k.nngp_diag2, &k.ntk_diag2];
    if finite(&k.nngp) && finite(&k.ntk) && diags.iter().all(|d| d.iter().all(|v| v.is_finite())) {
        Ok(())
    } else {
        Err(FeatureError::NonFiniteOutput {
            what: "kernel",
            reason: "an entry overflowed f64 (inputs or W_std too large); rescale the inputs",
        })
    }
}

/// Assembles the result: in the symmetric case the diagonal comes from each
/// point's own recursion (`c = q` exactly; through a GEMM it would differ by
/// an ulp and the angle `atan2(sqrt(q² − c²), c)` would carry sqrt(ε) noise).
pub(crate) fn finish(
    mut nngp: Mat<f64>,
    mut ntk: Mat<f64>,
    sym: bool,
    d1: impl Iterator<Item = (f64, f64)>,
    d2: impl Iterator<Item = (f64, f64)>,
) -> Kernels {
    let (nngp_diag1, ntk_diag1): (Vec<f64>, Vec<f64>) = d1.unzip();
    let (nngp_diag2, ntk_diag2): (Vec<f64>, Vec<f64>) = d2.unzip();
    if sym {
        for (i, (k, t)) in nngp_diag1.iter().zip(&ntk_diag1).enumerate() {
            nngp[(i, i)] = *k;
            ntk[(i, i)] = *t;
        }
    }
    Kernels {
        nngp,
        ntk,
        nngp_diag1,
        ntk_diag1,
        nngp_diag2,
        ntk_diag2,
    }
}
