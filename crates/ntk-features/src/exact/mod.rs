//! Exact NNGP and NTK kernels with neural-tangents' conventions
//! (`docs/NUMERICS.md`), walking the [`Plan`] of the architecture.
//!
//! - [`vectors`]: fully connected inputs take one GEMM for `⟨x, y⟩/d` and
//!   `O(n₁n₂L)` scalar work, in column blocks (parallel, memory bounded by
//!   the outputs).
//! - [`images`]: every pair carries the full position-by-position state
//!   (`(HW) × (HW)` for `q` and `Θ`), propagated pair by pair in parallel;
//!   each image's own state gives the variances its activations need.
//!
//! Pointwise layers (Dense, activations, LayerNorm) have one kernel update,
//! [`crate::plan::pointwise`], used by both paths and by the per-point
//! recursions.

mod images;
mod vectors;

pub(crate) use images::{SelfBufs, image_self};
pub use vectors::{ColumnBlock, kernel_blocks};

use crate::arch::{Architecture, Shape};
use crate::error::{FeatureError, Result};
use crate::plan::{MAX_SAMPLE_SIZE, Plan, shape_size};
use faer::{Mat, MatRef, Par};
use std::ops::ControlFlow;

#[cfg(doc)]
use dual_activations::Activation;

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

/// Exact kernels of `arch` between `x1` and `x2` (`None`: `x2 = x1`, and
/// only the upper triangle is computed, unless a quadrature activation
/// makes the dual depend on the order of its arguments: see
/// [`Activation::exchange_symmetric`]). `progress(done, total)` is called
/// on the calling thread as work completes.
///
/// # Errors
/// [`FeatureError::ShapeMismatch`] when the architecture does not fit the
/// inputs; [`FeatureError::DimMismatch`] for inputs of different shapes;
/// [`FeatureError::Empty`], [`FeatureError::NonFinite`]; activation errors.
pub fn kernels(
    arch: &Architecture,
    x1: Input<'_>,
    x2: Option<Input<'_>>,
    par: Par,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Kernels> {
    kernels_cancellable(arch, x1, x2, par, &mut |done, total| {
        progress(done, total);
        ControlFlow::Continue(())
    })
}

/// [`kernels`] whose `progress(done, total)` may stop the computation by
/// returning [`ControlFlow::Break`] (an interrupt from a user, a deadline):
/// the call then returns [`FeatureError::Cancelled`] within one unit of
/// work (a chunk of image pairs, a block of 256 columns).
///
/// # Errors
/// As [`kernels`], and [`FeatureError::Cancelled`].
pub fn kernels_cancellable(
    arch: &Architecture,
    x1: Input<'_>,
    x2: Option<Input<'_>>,
    par: Par,
    progress: &mut dyn FnMut(usize, usize) -> ControlFlow<()>,
) -> Result<Kernels> {
    x1.validate("x1")?;
    if let Some(x2) = &x2 {
        x2.validate("x2")?;
        if x2.shape() != x1.shape() {
            return Err(FeatureError::DimMismatch {
                what: "x2's sample shape must equal x1's",
                expected: shape_size(x1.shape()).unwrap_or(usize::MAX),
                got: shape_size(x2.shape()).unwrap_or(usize::MAX),
            });
        }
    }
    let plan = Plan::new(arch, x1.shape())?;
    // A dual that depends on the order of its arguments (quadrature rules)
    // makes K(X, X) asymmetric, as neural-tangents computes it: both
    // triangles then, by the general path.
    let x2 = match x2 {
        None if !plan.exchange_symmetric() => Some(x1),
        other => other,
    };
    let k = match (x1, x2) {
        (Input::Vectors(a), None) => vectors::fc(&plan, a, None, par, progress),
        (Input::Vectors(a), Some(Input::Vectors(b))) => {
            vectors::fc(&plan, a, Some(b), par, progress)
        }
        (Input::Images { .. }, _) => images::images(&plan, x1, x2, par, progress),
        (Input::Vectors(_), Some(Input::Images { .. })) => unreachable!("shapes were compared"),
    }?;
    check_finite(&k)?;
    Ok(k)
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
